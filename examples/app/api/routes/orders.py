from typing import Annotated

from fastapi import APIRouter, Query, status

from app.db.dependencies import SessionDep
from app.schemas.common import PageRead
from app.schemas.order import OrderCreate, OrderRead, OrderSummary
from app.services.orders import OrderService

router = APIRouter(tags=["orders"])


@router.post("/orders", status_code=status.HTTP_201_CREATED)
async def place_order(data: OrderCreate, session: SessionDep) -> OrderRead:
    return OrderRead.model_validate(await OrderService(session).place_order(data))


@router.get("/orders/{order_id}")
async def get_order(order_id: int, session: SessionDep) -> OrderRead:
    # Validate while the session is open, from an order whose items and products were eager-loaded.
    return OrderRead.model_validate(await OrderService(session).get(order_id))


@router.get("/customers/{customer_id}/orders")
async def list_customer_orders(
    customer_id: int,
    session: SessionDep,
    after: int | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> PageRead[OrderSummary]:
    page = await OrderService(session).list_for_customer(customer_id, after=after, limit=limit)
    return PageRead[OrderSummary].model_validate(page)
