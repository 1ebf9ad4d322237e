"""Alembic environment: the async template, reading the database URL from the app's settings."""

import asyncio
from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlalchemy import Connection, pool
from sqlalchemy.ext.asyncio import create_async_engine

from app.config import get_settings
from app.models import Base  # the registry: importing it imports every model

config = context.config
if config.config_file_name is not None:
    # disable_existing_loggers=False: don't silence the loggers of a host process (tests, app).
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        compare_server_default=True,  # also diff server defaults (compare_type is on by default)
        # Opt-in (Alembic 1.19.2+): also diff CHECK constraints by name, which autogenerate skips
        # otherwise. Reliable here because the naming convention names every constraint.
        autogenerate_plugins=["alembic.autogenerate.*", "alembic.ext.checkconstraint_byname"],
        # A transaction per migration file, as the autocommit blocks used for
        # CREATE INDEX CONCURRENTLY expect: a failure keeps the files already applied.
        transaction_per_migration=True,
        **kwargs,
    )


def run_migrations_offline() -> None:
    """`alembic upgrade head --sql`: write the SQL out (for review or a linter) instead of running it."""
    configure(
        url=get_settings().database_url.get_secret_value(),
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    engine = create_async_engine(
        get_settings().database_url.get_secret_value(),
        poolclass=pool.NullPool,  # a one-off connection: nothing to keep pooled
        connect_args={
            "server_settings": {
                "application_name": "shop-migrations",
                # A DDL statement waiting for its lock blocks every query queued behind it on that
                # table: give up after 5 s (and retry the deploy later) rather than stall the app.
                "lock_timeout": "5s",
            }
        },
    )
    async with engine.connect() as connection:
        await connection.run_sync(do_run_migrations)
    await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        asyncio.run(run_async_migrations())
    else:
        # The caller (tests, app code) passed a sync Connection, e.g. from AsyncConnection.run_sync.
        # It must not be inside a transaction already: Alembic manages its own.
        do_run_migrations(connection)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
