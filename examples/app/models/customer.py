from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db.base import Base, IdMixin, TimestampMixin

if TYPE_CHECKING:
    from app.models.order import Order


class Customer(IdMixin, TimestampMixin, Base):
    __tablename__ = "customers"
    __table_args__ = (
        # Added by migration 0003 after lower-casing existing rows; the API lower-cases input.
        CheckConstraint("email = lower(email)", name="email_lowercase"),
    )

    email: Mapped[str] = mapped_column(String(320), unique=True)  # uq_customers_email
    name: Mapped[str] = mapped_column(String(200))

    # lazy="raise": touching customer.orders without an eager load fails loudly instead of
    # issuing hidden IO (MissingGreenlet under asyncio). passive_deletes: the FK's ON DELETE decides.
    orders: Mapped[list[Order]] = relationship(back_populates="customer", lazy="raise", passive_deletes=True)
