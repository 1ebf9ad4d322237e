from sqlalchemy import select

from app.models import Customer
from app.repositories.base import Repository


class CustomerRepository(Repository[Customer]):
    model = Customer

    async def get_by_email(self, email: str) -> Customer | None:
        return await self.session.scalar(select(Customer).where(Customer.email == email))
