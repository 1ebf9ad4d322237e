"""A small generic async repository. Repositories query and stage changes; they never commit:
the service that owns the use case decides when the transaction ends."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.db.base import Base
from app.errors import NotFound

ModelT = TypeVar("ModelT", bound=Base)


@dataclass(frozen=True)
class Page(Generic[ModelT]):
    items: Sequence[ModelT]
    next_cursor: int | None  # the last id of this page, or None when there is no next page


async def fetch_page(
    session: AsyncSession,
    stmt: Select[ModelT],
    key: InstrumentedAttribute[int],
    *,
    after: int | None,
    limit: int,
    descending: bool = False,
) -> Page[ModelT]:
    """Keyset pagination: WHERE key > :after ORDER BY key LIMIT n. Unlike OFFSET, every page
    costs the same (an index range scan) and rows inserted meanwhile don't shift the pages."""
    if after is not None:
        stmt = stmt.where(key < after if descending else key > after)
    stmt = stmt.order_by(key.desc() if descending else key.asc()).limit(limit + 1)
    rows = (await session.scalars(stmt)).all()
    # One extra row tells us whether another page exists, without a COUNT query.
    items = rows[:limit]
    next_cursor = getattr(items[-1], key.key) if len(rows) > limit else None
    return Page(items=items, next_cursor=next_cursor)


class Repository(Generic[ModelT]):
    model: type[ModelT]

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_or_none(self, id: int) -> ModelT | None:
        return await self.session.get(self.model, id)  # served from the identity map when already loaded

    async def get(self, id: int) -> ModelT:
        obj = await self.get_or_none(id)
        if obj is None:
            raise NotFound(self.model.__name__, id)
        return obj

    async def list_page(
        self, *where: ColumnElement[bool], after: int | None = None, limit: int = 50
    ) -> Page[ModelT]:
        stmt = select(self.model).where(*where)
        return await fetch_page(self.session, stmt, self.model.id, after=after, limit=limit)

    def add(self, obj: ModelT) -> ModelT:
        self.session.add(obj)  # INSERTed at the next flush or commit
        return obj

    async def delete(self, obj: ModelT) -> None:
        await self.session.delete(obj)
