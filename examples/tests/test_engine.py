"""The server-side limits that create_engine() sets on every connection."""

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


async def test_server_settings_are_applied(connection: AsyncConnection) -> None:
    assert await connection.scalar(text("SHOW statement_timeout")) == "5s"
    assert await connection.scalar(text("SHOW idle_in_transaction_session_timeout")) == "10s"
    assert await connection.scalar(text("SHOW application_name")) == "shop"


async def test_statement_timeout_cancels_a_slow_query(engine: AsyncEngine) -> None:
    # Its own connection: the error aborts the transaction it happens in.
    async with engine.connect() as conn:
        # SET LOCAL lasts until the end of this transaction, so the pooled connection comes back clean.
        await conn.execute(text("SET LOCAL statement_timeout = '100ms'"))
        with pytest.raises(DBAPIError, match="canceling statement due to statement timeout"):
            await conn.execute(text("SELECT pg_sleep(2)"))
