"""Fixtures: a real PostgreSQL, migrated once, and a transaction rolled back after every test.

DATABASE_URL must point at a DISPOSABLE database, e.g.
    DATABASE_URL=postgresql+asyncpg://shop:shop@localhost:5432/shop_test pytest
The suite runs `alembic upgrade head` on it, and test_migrations creates and drops a sibling
database, so the role needs the CREATEDB right.
"""

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from httpx import ASGITransport, AsyncClient
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from app.api.main import create_app
from app.config import Settings
from app.db.dependencies import get_sessionmaker
from app.db.session import create_engine, create_sessionmaker

ALEMBIC_INI = Path(__file__).resolve().parents[1] / "alembic.ini"


async def alembic_command(engine: AsyncEngine, cmd: Callable[..., Any], *args: str) -> None:
    """Run an Alembic command (command.upgrade, command.check...) on a connection of `engine`.

    Alembic is synchronous: run_sync hands it the sync face of an async connection, which env.py
    uses as it is (config.attributes["connection"]). The connection is new and outside any
    transaction, so that Alembic manages its own, as the autocommit blocks of 0002/0003 require."""

    def run(connection: Connection) -> None:
        cmd(Config(ALEMBIC_INI, attributes={"connection": connection}), *args)

    async with engine.connect() as connection:
        await connection.run_sync(run)


@pytest.fixture(scope="session")
def run_alembic() -> Callable[..., Awaitable[None]]:
    return alembic_command


@pytest.fixture(scope="session")
def settings() -> Settings:
    if not os.environ.get("DATABASE_URL"):
        pytest.fail("set DATABASE_URL to a disposable database: postgresql+asyncpg://user:pw@host/db")
    return Settings()


@pytest.fixture(scope="session")
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings)  # the app's own engine settings, timeouts included
    await alembic_command(engine, command.upgrade, "head")  # once per test session
    yield engine
    await engine.dispose()


@pytest.fixture
def real_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """The app's own sessionmaker: its commits are real and visible to other connections.
    Only for tests that need that (locking, SKIP LOCKED); they delete what they create."""
    return create_sessionmaker(engine)


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One connection per test, inside a transaction that is always rolled back."""
    async with engine.connect() as connection:
        transaction = await connection.begin()
        yield connection
        await transaction.rollback()


@pytest.fixture
def sessionmaker(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    # create_savepoint: the sessions run inside the test's transaction, and their commit() and
    # rollback() only release or roll back a SAVEPOINT, so the outer rollback undoes everything.
    return async_sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )


@pytest.fixture
async def session(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with sessionmaker() as session:
        yield session


@pytest.fixture
async def client(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncClient]:
    # Every request still gets its own session (a fresh identity map, as in production),
    # but from the test's sessionmaker. ASGITransport does not run the lifespan, so the app
    # creates no engine of its own.
    app = create_app()
    app.dependency_overrides[get_sessionmaker] = lambda: sessionmaker
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        yield client
