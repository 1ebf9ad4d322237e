from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Product
from app.repositories.base import Page
from app.repositories.product import ProductRepository
from app.schemas.product import ProductUpsert


class ProductService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.products = ProductRepository(session)

    async def upsert(self, sku: str, data: ProductUpsert) -> Product:
        product = await self.products.upsert(sku, data.model_dump())
        await self.session.commit()
        return product

    async def list_page(self, *, color: str | None, after: int | None, limit: int) -> Page[Product]:
        return await self.products.search(color=color, after=after, limit=limit)
