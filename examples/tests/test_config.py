"""Settings: the URL is validated, and its password never shows up in reprs or errors."""

import pytest
from pydantic import ValidationError

from app.config import Settings


def test_password_is_hidden() -> None:
    settings = Settings(database_url="postgresql+asyncpg://shop:s3cret@db/shop")

    assert "s3cret" not in repr(settings)
    assert settings.database_url.get_secret_value().endswith("shop:s3cret@db/shop")


def test_url_must_name_the_asyncpg_driver() -> None:
    with pytest.raises(ValidationError, match="must start with postgresql\\+asyncpg://") as caught:
        Settings(database_url="postgresql://shop:s3cret@db/shop")

    assert "s3cret" not in str(caught.value)  # hide_input_in_errors
