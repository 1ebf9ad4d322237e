"""Every model, imported in one place: the registry.

alembic/env.py takes Base from here, which guarantees that Base.metadata holds every table. A
model that is not imported here is invisible to autogenerate, which then proposes to drop its table.
"""

from app.db.base import Base
from app.models.customer import Customer
from app.models.order import Order, OrderItem, OrderStatus
from app.models.product import Product

__all__ = ["Base", "Customer", "Order", "OrderItem", "OrderStatus", "Product"]
