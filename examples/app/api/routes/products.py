from typing import Annotated

from fastapi import APIRouter, Query

from app.db.dependencies import SessionDep
from app.schemas.common import PageRead
from app.schemas.product import ProductRead, ProductUpsert, Sku
from app.services.products import ProductService

router = APIRouter(prefix="/products", tags=["products"])


@router.put("/{sku}")
async def upsert_product(sku: Sku, data: ProductUpsert, session: SessionDep) -> ProductRead:
    return ProductRead.model_validate(await ProductService(session).upsert(sku, data))


@router.get("")
async def list_products(
    session: SessionDep,
    color: str | None = None,
    after: int | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> PageRead[ProductRead]:
    page = await ProductService(session).list_page(color=color, after=after, limit=limit)
    return PageRead[ProductRead].model_validate(page)
