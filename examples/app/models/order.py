from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, CheckConstraint, Enum, ForeignKey, Index, Numeric, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db.base import Base, IdMixin, TimestampMixin

if TYPE_CHECKING:
    from app.models.customer import Customer
    from app.models.product import Product


class OrderStatus(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"


class Order(IdMixin, TimestampMixin, Base):
    __tablename__ = "orders"
    __table_args__ = (
        # One index serves both the FK lookup and "a customer's orders, newest first" (keyset on id).
        Index("ix_orders_customer_id_id", "customer_id", "id"),
        # Small partial index: the worker's queue scan only ever looks at pending orders.
        Index("ix_orders_pending", "id", postgresql_where=text("status = 'pending'")),
    )

    customer_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("customers.id", ondelete="RESTRICT"))
    status: Mapped[OrderStatus] = mapped_column(
        # A named PostgreSQL enum that stores the VALUES ("pending"); without values_callable
        # SQLAlchemy would store the member NAMES ("PENDING").
        Enum(OrderStatus, name="order_status", values_callable=lambda enum: [m.value for m in enum]),
        server_default=OrderStatus.PENDING.value,
    )
    total: Mapped[Decimal] = mapped_column(Numeric(12, 2))

    customer: Mapped[Customer] = relationship(back_populates="orders", lazy="raise")
    # Explicit cascades rather than "all": "all" includes refresh-expire, which leaves related
    # objects expired after AsyncSession.refresh(). The FK's ON DELETE CASCADE removes the rows.
    items: Mapped[list[OrderItem]] = relationship(
        back_populates="order",
        lazy="raise",
        cascade="save-update, merge, delete, delete-orphan",
        passive_deletes=True,
        order_by="OrderItem.id",
    )


class OrderItem(IdMixin, TimestampMixin, Base):
    __tablename__ = "order_items"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        # Also the index for the order_id FK: it is the leading column.
        UniqueConstraint("order_id", "product_id"),
    )

    order_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("orders.id", ondelete="CASCADE"))
    # PostgreSQL does not index FK columns by itself; deleting or locking a product needs this one.
    product_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("products.id", ondelete="RESTRICT"), index=True
    )
    quantity: Mapped[int]
    unit_price: Mapped[Decimal] = mapped_column(Numeric(12, 2))  # the price when the order was placed

    order: Mapped[Order] = relationship(back_populates="items", lazy="raise")
    product: Mapped[Product] = relationship(lazy="raise")
