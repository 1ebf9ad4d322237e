from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict
from app.models import Customer
from app.repositories.customer import CustomerRepository
from app.schemas.customer import CustomerCreate, CustomerUpdate


def violated_constraint(exc: IntegrityError) -> str | None:
    # asyncpg names the violated constraint. SQLAlchemy 2.1 exposes the driver's own exception
    # as exc.driver_exception (on 2.0: exc.orig.__cause__).
    return getattr(exc.driver_exception, "constraint_name", None)


class CustomerService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.customers = CustomerRepository(session)

    async def register(self, data: CustomerCreate) -> Customer:
        customer = self.customers.add(Customer(**data.model_dump()))
        await self._commit(data.email)
        return customer

    async def update(self, customer_id: int, data: CustomerUpdate) -> Customer:
        customer = await self.customers.get(customer_id)
        # Only the fields the client sent: a partial update must not reset the others.
        for field, value in data.model_dump(exclude_unset=True).items():
            setattr(customer, field, value)
        await self._commit(data.email)
        return customer

    async def get(self, customer_id: int) -> Customer:
        return await self.customers.get(customer_id)

    async def _commit(self, email: str | None) -> None:
        # Let the unique constraint decide: a "SELECT first" check races with concurrent requests.
        try:
            await self.session.commit()
        except IntegrityError as exc:
            if violated_constraint(exc) == "uq_customers_email":
                raise Conflict(f"email {email} is already registered") from exc
            raise
