"""The declarative base every model inherits from, and the columns every table shares."""

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Identity, MetaData, func
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Deterministic constraint and index names: Alembic can then drop or alter them by name,
# and an IntegrityError names a constraint the code can recognise (e.g. "uq_customers_email").
NAMING_CONVENTION = {
    "pk": "pk_%(table_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
}


class Base(AsyncAttrs, DeclarativeBase):
    """AsyncAttrs adds `await obj.awaitable_attrs.<name>`, an explicit load for relationships that allow
    lazy loading; on lazy="raise" ones use selectinload() or `await session.refresh(obj, ["name"])`."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    # Every datetime column is TIMESTAMPTZ: asyncpg rejects aware datetimes for a naive TIMESTAMP column.
    type_annotation_map = {datetime: DateTime(timezone=True)}


class IdMixin:
    # GENERATED ALWAYS AS IDENTITY: the database assigns ids, and an explicit id is rejected
    # instead of silently putting the sequence out of step with the table.
    # sort_order=-1: the id comes first in CREATE TABLE (mixin columns otherwise come last).
    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True, sort_order=-1)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    # onupdate only fires for UPDATEs the ORM emits; raw SQL and ON CONFLICT must set it themselves.
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())

    # Fetch server-generated values with RETURNING on UPDATE too (the default does it only on INSERT).
    # Without this, updated_at is expired after a flush and reading it under asyncio raises MissingGreenlet.
    __mapper_args__ = {"eager_defaults": True}
