from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, Index, Numeric, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.mutable import MutableDict
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, IdMixin, TimestampMixin


class Product(IdMixin, TimestampMixin, Base):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("stock >= 0", name="stock_non_negative"),
        CheckConstraint("price >= 0", name="price_non_negative"),
        # For attributes @> '{"color": "red"}' lookups; created CONCURRENTLY by migration 0002.
        Index(
            "ix_products_attributes",
            "attributes",
            postgresql_using="gin",
            postgresql_ops={"attributes": "jsonb_path_ops"},
        ),
    )

    sku: Mapped[str] = mapped_column(String(64), unique=True)  # the upsert's conflict target
    name: Mapped[str] = mapped_column(String(200))
    price: Mapped[Decimal] = mapped_column(Numeric(12, 2))  # money is exact: never a float
    stock: Mapped[int]
    # MutableDict tracks in-place changes (product.attributes["color"] = "red"), at the top level
    # only; without it such a change is silently never saved.
    attributes: Mapped[dict[str, Any]] = mapped_column(
        MutableDict.as_mutable(JSONB), server_default=text("'{}'::jsonb")
    )
