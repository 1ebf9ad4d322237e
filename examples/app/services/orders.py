from decimal import Decimal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict, NotFound, OutOfStock
from app.models import Order, OrderItem
from app.repositories.base import Page
from app.repositories.customer import CustomerRepository
from app.repositories.order import OrderRepository
from app.repositories.product import ProductRepository
from app.schemas.order import OrderCreate


class OrderService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.customers = CustomerRepository(session)
        self.products = ProductRepository(session)
        self.orders = OrderRepository(session)

    async def place_order(self, data: OrderCreate) -> Order:
        """One transaction: lock the products, check and decrement stock, insert the order.

        Any exception before the commit leaves the database untouched: the session dependency
        rolls back, which also discards the stock we decremented in memory."""
        customer = await self.customers.get(data.customer_id)
        quantities = {item.product_id: item.quantity for item in data.items}
        products = await self.products.lock_many(sorted(quantities))
        missing = quantities.keys() - {product.id for product in products}
        if missing:
            raise NotFound("Product", min(missing))

        order = Order(customer_id=customer.id, total=Decimal(0))
        for product in products:
            quantity = quantities[product.id]
            if product.stock < quantity:
                raise OutOfStock(product.sku, requested=quantity, available=product.stock)
            product.stock -= quantity
            order.items.append(OrderItem(product=product, quantity=quantity, unit_price=product.price))
            order.total += product.price * quantity
        self.session.add(order)
        try:
            await self.session.commit()
        except IntegrityError as exc:  # e.g. the stock >= 0 check, should a writer bypass the lock
            raise Conflict("the order conflicts with the current data") from exc
        # Every attribute OrderRead needs is loaded: items and products were set above, and the
        # server-generated columns came back with RETURNING. No second query needed.
        return order

    async def get(self, order_id: int) -> Order:
        order = await self.orders.get_with_items(order_id)
        if order is None:
            raise NotFound("Order", order_id)
        return order

    async def list_for_customer(self, customer_id: int, *, after: int | None, limit: int) -> Page[Order]:
        await self.customers.get(customer_id)  # 404 for an unknown customer, not an empty page
        return await self.orders.list_for_customer(customer_id, after=after, limit=limit)
