from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.models import Order, OrderItem, OrderStatus
from app.repositories.base import Page, Repository, fetch_page


class OrderRepository(Repository[Order]):
    model = Order

    async def get_with_items(self, order_id: int) -> Order | None:
        """The order, its items and each item's product, in two queries whatever the item count:
        selectinload for the collection (a second SELECT ... WHERE order_id IN (...)), joinedload
        for the many-to-one (a JOIN inside that second query)."""
        stmt = (
            select(Order)
            .where(Order.id == order_id)
            .options(selectinload(Order.items).joinedload(OrderItem.product))
        )
        return await self.session.scalar(stmt)

    async def list_for_customer(self, customer_id: int, *, after: int | None, limit: int) -> Page[Order]:
        # Newest first; served by the (customer_id, id) index.
        stmt = select(Order).where(Order.customer_id == customer_id)
        return await fetch_page(self.session, stmt, Order.id, after=after, limit=limit, descending=True)

    async def claim_pending(self, limit: int) -> Sequence[Order]:
        """Lock up to `limit` pending orders that no other transaction has locked.

        SKIP LOCKED lets several workers poll the same table without waiting on, or processing,
        each other's rows. The locks last until the caller's transaction ends."""
        stmt = (
            select(Order)
            .where(Order.status == OrderStatus.PENDING)
            .order_by(Order.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return (await self.session.scalars(stmt)).all()
