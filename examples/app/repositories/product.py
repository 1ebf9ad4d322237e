from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert  # the PostgreSQL insert has on_conflict_do_update

from app.models import Product
from app.repositories.base import Page, Repository


class ProductRepository(Repository[Product]):
    model = Product

    async def upsert(self, sku: str, values: dict[str, Any]) -> Product:
        """INSERT ... ON CONFLICT (sku) DO UPDATE ... RETURNING: one atomic statement, no race
        between "does it exist?" and "insert it"."""
        stmt = insert(Product).values(sku=sku, **values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[Product.sku],
            # excluded = the row we tried to insert. onupdate does not fire here: set updated_at.
            set_={**{name: stmt.excluded[name] for name in values}, "updated_at": func.now()},
        ).returning(Product)
        # populate_existing: if this product is already in the session, overwrite it with the new row.
        result = await self.session.scalars(stmt, execution_options={"populate_existing": True})
        return result.one()

    async def search(self, *, color: str | None, after: int | None, limit: int) -> Page[Product]:
        # attributes @> '{"color": "red"}' can be answered from the GIN (jsonb_path_ops) index.
        where = [Product.attributes.contains({"color": color})] if color is not None else []
        return await self.list_page(*where, after=after, limit=limit)

    async def lock_many(self, ids: Sequence[int]) -> Sequence[Product]:
        """SELECT ... FOR UPDATE, ordered by id.

        The rows are locked in the order of ORDER BY, so two transactions that need some of the
        same products wait for each other instead of deadlocking."""
        stmt = (
            select(Product)
            .where(Product.id.in_(ids))
            .order_by(Product.id)
            .with_for_update()
            # A locked row must be read fresh, not served from a possibly stale identity map.
            .execution_options(populate_existing=True)
        )
        return (await self.session.scalars(stmt)).all()
