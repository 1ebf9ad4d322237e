"""The engine (one per process) and the session factory (one session per request or task)."""

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from app.config import Settings


def create_engine(settings: Settings) -> AsyncEngine:
    return create_async_engine(
        settings.database_url.get_secret_value(),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,  # fail fast when the pool is exhausted
        pool_recycle=settings.db_pool_recycle,
        pool_pre_ping=True,  # test each connection on checkout; replaces ones the server has closed
        hide_parameters=True,  # keep bound values (emails, names) out of logs and error messages
        connect_args={
            "timeout": settings.db_connect_timeout,  # asyncpg's connect timeout, in seconds
            # Sent when each connection is opened: server-side limits hold even if the client hangs.
            "server_settings": {
                "application_name": settings.app_name,  # shows up in pg_stat_activity
                "statement_timeout": str(settings.db_statement_timeout_ms),
                "idle_in_transaction_session_timeout": str(settings.db_idle_in_transaction_timeout_ms),
            },
        },
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: objects stay readable after commit. With the default (True), the
    # next attribute read would need a lazy refresh, which under asyncio raises MissingGreenlet.
    return async_sessionmaker(engine, expire_on_commit=False)
