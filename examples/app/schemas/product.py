from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Sku = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class ProductUpsert(BaseModel):
    """PUT /products/{sku} body: the full state of the product (the SKU is in the path)."""

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    price: Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]
    stock: Annotated[int, Field(ge=0)]
    attributes: dict[str, Any] = Field(default_factory=dict)


class ProductRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    sku: str
    name: str
    price: Decimal  # serialized as a JSON string ("9.99"), so no precision is lost
    stock: int
    attributes: dict[str, Any]
    created_at: datetime
    updated_at: datetime
