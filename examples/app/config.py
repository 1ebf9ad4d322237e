"""Settings read from the environment, validated once at startup."""

from functools import lru_cache

from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    # hide_input_in_errors: a validation error must not echo the URL, which holds the password.
    model_config = SettingsConfigDict(extra="ignore", hide_input_in_errors=True)

    # SecretStr keeps the password out of repr(), logs and tracebacks; read it with get_secret_value().
    database_url: SecretStr

    app_name: str = "shop"
    # Per process: workers x (pool_size + max_overflow) must stay below the server's max_connections.
    db_pool_size: int = 5
    db_max_overflow: int = 5
    db_pool_timeout: float = 10.0  # seconds to wait for a free connection before failing the request
    db_pool_recycle: int = 1800  # seconds; replace connections before proxies or firewalls drop them
    db_connect_timeout: float = 5.0
    db_statement_timeout_ms: int = 5_000  # the server cancels any single statement that runs longer
    db_idle_in_transaction_timeout_ms: int = 10_000  # and ends sessions that sit idle inside a transaction

    @field_validator("database_url")
    @classmethod
    def require_asyncpg(cls, value: SecretStr) -> SecretStr:
        # Name the driver explicitly: in SQLAlchemy 2.1 a bare postgresql:// means psycopg (v3), not asyncpg.
        if not value.get_secret_value().startswith("postgresql+asyncpg://"):
            raise ValueError("DATABASE_URL must start with postgresql+asyncpg://")
        return value


@lru_cache
def get_settings() -> Settings:
    return Settings()  # database_url comes from the environment
