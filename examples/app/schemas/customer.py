from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints, field_validator

# Lower-cased on the way in: the unique constraint then also catches "Ann@x.io" vs "ann@x.io".
Email = Annotated[
    str, StringConstraints(strip_whitespace=True, to_lower=True, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class CustomerCreate(BaseModel):
    email: Email
    name: Name


class CustomerUpdate(BaseModel):
    """PATCH body: every field optional. Apply it with model_dump(exclude_unset=True), so that a
    field the client did not send is left alone rather than overwritten with None."""

    email: Email | None = None
    name: Name | None = None

    @field_validator("email", "name")
    @classmethod
    def reject_null(cls, value: str | None) -> str:
        # Omitting a field is fine; an explicit null would violate NOT NULL, so it is a 422, not a 500.
        if value is None:
            raise ValueError("may be omitted, but not null")
        return value


class CustomerRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # read attributes off ORM objects

    id: int
    email: str
    name: str
    created_at: datetime
    updated_at: datetime
