from app.models import Customer
from app.repositories.base import Repository


class CustomerRepository(Repository[Customer]):
    """Everything it needs is generic; model-specific queries would go here."""

    model = Customer
