"""Model behaviours that the API tests rely on, shown directly on a session."""

from decimal import Decimal

import pytest
from pydantic import ValidationError
from sqlalchemy import select, text
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from app.models import Customer, Order, OrderStatus, Product
from app.schemas.order import OrderRead


async def make_order(session: AsyncSession) -> Order:
    customer = Customer(email="model@example.com", name="Model")
    session.add(customer)
    await session.flush()  # assigns customer.id
    order = Order(customer_id=customer.id, total=Decimal("0.00"))
    session.add(order)
    await session.commit()
    return order


async def test_unloaded_relationship_raises_instead_of_lazy_loading(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session:
        order_id = (await make_order(session)).id

    async with sessionmaker() as session:
        order = await session.get(Order, order_id)
        assert order is not None
        # lazy="raise": a loud error naming the attribute, not a MissingGreenlet from hidden IO...
        with pytest.raises(InvalidRequestError, match="'Order.items' is not available due to lazy='raise'"):
            _ = order.items
        # ...which is also what a nested schema hits when it is handed an order loaded too thinly.
        with pytest.raises(ValidationError, match="get_attribute_error"):
            OrderRead.model_validate(order)

        loaded = await session.scalar(
            select(Order).where(Order.id == order_id).options(selectinload(Order.items))
        )
        assert loaded is not None and loaded.items == []


async def test_enum_is_stored_by_value(session: AsyncSession) -> None:
    order = await make_order(session)

    stored = await session.scalar(text("SELECT status::text FROM orders WHERE id = :id"), {"id": order.id})

    assert stored == "pending"  # the value; without values_callable it would be "PENDING"
    assert order.status is OrderStatus.PENDING  # server default, read back with RETURNING


async def test_in_place_jsonb_change_is_saved(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    async with sessionmaker() as session:
        product = Product(sku="JSON-1", name="Json", price=Decimal("1.00"), stock=1, attributes={})
        session.add(product)
        await session.commit()
        product.attributes["color"] = "blue"  # in place: MutableDict marks the attribute changed
        await session.commit()

    async with sessionmaker() as session:
        fresh = await session.scalar(select(Product).where(Product.sku == "JSON-1"))
        assert fresh is not None and fresh.attributes == {"color": "blue"}
