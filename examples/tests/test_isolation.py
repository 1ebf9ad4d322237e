"""The per-test transaction survives commits made by the code under test."""

from httpx import AsyncClient
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.models import Customer

EMAIL = "isolation@example.com"


def count_customers(email: str) -> Select[int]:
    return select(func.count()).select_from(Customer).where(Customer.email == email)


async def test_committed_row_is_visible_only_inside_the_test(
    client: AsyncClient, connection: AsyncConnection, engine: AsyncEngine
) -> None:
    response = await client.post("/customers", json={"email": EMAIL, "name": "Iso"})
    assert response.status_code == 201  # CustomerService.register called session.commit()

    # Visible on the test's connection...
    assert await connection.scalar(count_customers(EMAIL)) == 1
    # ...but that commit only released a SAVEPOINT: another connection does not see the row.
    async with engine.connect() as other:
        assert await other.scalar(count_customers(EMAIL)) == 0


async def test_the_previous_tests_row_is_gone(connection: AsyncConnection) -> None:
    assert await connection.scalar(count_customers(EMAIL)) == 0
