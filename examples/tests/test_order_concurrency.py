"""Two customers race for the last item: the row lock lets exactly one of them have it.

Like test_worker, this needs two real transactions, so it commits and cleans up after itself."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.errors import OutOfStock
from app.models import Customer, Order, Product
from app.schemas.order import OrderCreate, OrderItemCreate
from app.services.orders import OrderService


@pytest.fixture
async def last_item(real_sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[tuple[int, int]]:
    """(customer id, id of a product with stock 1), both committed, removed at teardown."""
    tag = uuid.uuid4().hex[:8]
    async with real_sessionmaker() as session:
        customer = Customer(email=f"race-{tag}@example.com", name="Racer")
        product = Product(sku=f"LAST-{tag}", name="Last one", price=Decimal("5.00"), stock=1)
        session.add_all([customer, product])
        await session.commit()
    try:
        yield customer.id, product.id
    finally:
        async with real_sessionmaker() as session:
            await session.execute(delete(Order).where(Order.customer_id == customer.id))
            await session.execute(delete(Product).where(Product.id == product.id))
            await session.execute(delete(Customer).where(Customer.id == customer.id))
            await session.commit()


async def test_concurrent_orders_cannot_oversell(
    real_sessionmaker: async_sessionmaker[AsyncSession], last_item: tuple[int, int]
) -> None:
    customer_id, product_id = last_item
    data = OrderCreate(customer_id=customer_id, items=[OrderItemCreate(product_id=product_id, quantity=1)])

    async def place() -> str:
        async with real_sessionmaker() as session:  # one session per task, never shared
            try:
                await OrderService(session).place_order(data)
            except OutOfStock:
                return "out of stock"
            return "placed"

    # The second SELECT ... FOR UPDATE waits for the first transaction to commit, then reads the
    # new stock (0). Without the lock both would read 1, and both orders would go through.
    results = await asyncio.gather(place(), place())

    assert sorted(results) == ["out of stock", "placed"]
    async with real_sessionmaker() as session:
        assert await session.scalar(select(Product.stock).where(Product.id == product_id)) == 0
