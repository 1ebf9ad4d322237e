from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict

ItemT = TypeVar("ItemT")


class PageRead(BaseModel, Generic[ItemT]):
    """One page of a keyset-paginated list: pass next_cursor back as ?after= for the next page."""

    model_config = ConfigDict(from_attributes=True)

    items: list[ItemT]
    next_cursor: int | None  # None on the last page
