"""Domain errors: raised by repositories and services, mapped to HTTP statuses in app.api.main."""


class DomainError(Exception):
    status_code = 400


class NotFound(DomainError):
    status_code = 404

    def __init__(self, entity: str, key: object) -> None:
        super().__init__(f"{entity} {key} not found")


class Conflict(DomainError):
    """The request is valid but clashes with the current data (a duplicate, too little stock...)."""

    status_code = 409


class OutOfStock(Conflict):
    def __init__(self, sku: str, requested: int, available: int) -> None:
        super().__init__(f"product {sku}: {requested} requested, {available} in stock")
