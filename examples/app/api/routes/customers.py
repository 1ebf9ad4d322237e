from fastapi import APIRouter, status

from app.db.dependencies import SessionDep
from app.schemas.customer import CustomerCreate, CustomerRead, CustomerUpdate
from app.services.customers import CustomerService

router = APIRouter(prefix="/customers", tags=["customers"])


@router.post("", status_code=status.HTTP_201_CREATED)
async def register_customer(data: CustomerCreate, session: SessionDep) -> CustomerRead:
    customer = await CustomerService(session).register(data)
    return CustomerRead.model_validate(customer)


@router.get("/{customer_id}")
async def get_customer(customer_id: int, session: SessionDep) -> CustomerRead:
    return CustomerRead.model_validate(await CustomerService(session).get(customer_id))


@router.patch("/{customer_id}")
async def update_customer(customer_id: int, data: CustomerUpdate, session: SessionDep) -> CustomerRead:
    customer = await CustomerService(session).update(customer_id, data)
    return CustomerRead.model_validate(customer)
