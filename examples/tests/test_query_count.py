"""N+1 guard: reading an order costs the same number of queries whatever its item count."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from httpx import AsyncClient
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine


@contextmanager
def count_selects(engine: AsyncEngine) -> Iterator[list[str]]:
    """Collect the SELECTs the engine sends. Events are registered on the sync engine that
    the AsyncEngine wraps; SAVEPOINT and RELEASE statements are left out."""
    statements: list[str] = []

    def before_cursor_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", before_cursor_execute)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", before_cursor_execute)


async def place_order_with(client: AsyncClient, customer_id: int, item_count: int) -> int:
    items = []
    for n in range(item_count):
        product = (
            await client.put(
                f"/products/N1-{item_count}-{n}", json={"name": "x", "price": "1.00", "stock": 9}
            )
        ).json()
        items.append({"product_id": product["id"], "quantity": 1})
    response = await client.post("/orders", json={"customer_id": customer_id, "items": items})
    return response.json()["id"]


async def test_order_read_is_two_selects_for_any_item_count(client: AsyncClient, engine: AsyncEngine) -> None:
    customer = (await client.post("/customers", json={"email": "n1@example.com", "name": "N"})).json()
    small = await place_order_with(client, customer["id"], item_count=1)
    large = await place_order_with(client, customer["id"], item_count=8)

    with count_selects(engine) as small_read:
        assert (await client.get(f"/orders/{small}")).status_code == 200
    with count_selects(engine) as large_read:
        assert len((await client.get(f"/orders/{large}")).json()["items"]) == 8

    # The order, then its items JOINed to their products (selectinload + joinedload).
    assert len(small_read) == len(large_read) == 2
