from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.models import OrderStatus


class OrderItemCreate(BaseModel):
    product_id: int
    quantity: Annotated[int, Field(gt=0)]


class OrderCreate(BaseModel):
    customer_id: int
    items: Annotated[list[OrderItemCreate], Field(min_length=1)]

    @field_validator("items")
    @classmethod
    def one_line_per_product(cls, items: list[OrderItemCreate]) -> list[OrderItemCreate]:
        if len({item.product_id for item in items}) != len(items):
            raise ValueError("each product may appear only once")
        return items


class ProductSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    sku: str
    name: str


class OrderItemRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    quantity: int
    unit_price: Decimal
    product: ProductSummary


class OrderSummary(BaseModel):
    """An order without its items: safe for any Order object, needs no eager loading."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    customer_id: int
    status: OrderStatus
    total: Decimal
    created_at: datetime


class OrderRead(OrderSummary):
    """An order with its items and their products.

    Validate only an Order loaded with selectinload(Order.items).joinedload(OrderItem.product):
    from_attributes reads every field, and reading an unloaded relationship raises (lazy="raise"),
    which fails the validation with a get_attribute_error.
    """

    items: list[OrderItemRead]
