"""SKIP LOCKED: concurrent workers never claim the same order.

The workers need rows that other connections can see, so this module commits for real
(real_sessionmaker) and deletes what it created afterwards."""

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import Customer, Order, OrderStatus
from app.repositories.order import OrderRepository
from app.worker import confirm_pending_orders


@pytest.fixture
async def customer_id(real_sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[int]:
    """A committed customer with five pending orders, removed again at teardown."""
    async with real_sessionmaker() as session:
        customer = Customer(email=f"worker-{uuid.uuid4().hex[:8]}@example.com", name="Worker")
        session.add(customer)
        await session.flush()
        session.add_all(Order(customer_id=customer.id, total=Decimal("1.00")) for _ in range(5))
        await session.commit()
    try:
        yield customer.id
    finally:
        async with real_sessionmaker() as session:
            await session.execute(delete(Order).where(Order.customer_id == customer.id))
            await session.execute(delete(Customer).where(Customer.id == customer.id))
            await session.commit()


async def test_two_workers_claim_disjoint_batches(
    real_sessionmaker: async_sessionmaker[AsyncSession], customer_id: int
) -> None:
    # Two sessions = two connections = two transactions, open at the same time.
    async with real_sessionmaker() as first, real_sessionmaker() as second:
        first_ids = {order.id for order in await OrderRepository(first).claim_pending(limit=3)}
        second_ids = {order.id for order in await OrderRepository(second).claim_pending(limit=3)}

    assert len(first_ids) == 3
    assert len(second_ids) == 2  # the first three are locked: skipped, not waited for
    assert first_ids.isdisjoint(second_ids)


async def test_worker_confirms_every_pending_order(
    real_sessionmaker: async_sessionmaker[AsyncSession], customer_id: int
) -> None:
    assert await confirm_pending_orders(real_sessionmaker, batch_size=3) == 3
    assert await confirm_pending_orders(real_sessionmaker, batch_size=3) == 2
    assert await confirm_pending_orders(real_sessionmaker, batch_size=3) == 0

    async with real_sessionmaker() as session:
        statuses = await session.scalars(select(Order.status).where(Order.customer_id == customer_id))
        assert set(statuses) == {OrderStatus.CONFIRMED}
