"""Storage settings read from the environment (api.md §8.3, PSMP compose variables).

``KATO_STORAGE`` selects the adapter family: ``embedded`` (default: one data
directory, no server), ``memory`` (single process, tests) or ``distributed``
(Redis + ClickHouse + Qdrant). When ``KATO_STORAGE`` is unset and ``REDIS_URL``
or ``REDIS_HOST`` is set, ``distributed`` is chosen, as the PSMP compose file expects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class StorageSettings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore")

    kato_storage: Literal["embedded", "memory", "distributed"] | None = None
    kato_data_dir: Path = Path("kato-data")

    redis_url: str | None = None
    redis_host: str | None = None
    redis_port: int = Field(default=6379, ge=1, le=65535)

    clickhouse_host: str = "localhost"
    clickhouse_port: int = Field(default=9000, ge=1, le=65535)  # native protocol
    clickhouse_db: str = "kato"
    clickhouse_user: str = "default"
    clickhouse_password: SecretStr | None = None
    clickhouse_secure: bool = False

    qdrant_host: str | None = None  # unset: qdrant-client local mode in the data directory
    qdrant_port: int = Field(default=6333, ge=1, le=65535)
    qdrant_grpc_port: int = Field(default=6334, ge=1, le=65535)
    qdrant_api_key: SecretStr | None = None
    qdrant_https: bool = False
    qdrant_collection_prefix: str = "vectors"

    connection_pool_size: int = Field(default=50, ge=1, le=10000)
    request_timeout: float = Field(default=120.0, gt=0)

    @model_validator(mode="after")
    def _choose_family(self) -> StorageSettings:
        if self.kato_storage is None:
            distributed = self.redis_url is not None or self.redis_host is not None
            self.kato_storage = "distributed" if distributed else "embedded"
        return self

    @property
    def backend(self) -> str:
        assert self.kato_storage is not None
        return self.kato_storage

    def effective_redis_url(self) -> str | None:
        """``REDIS_URL``, else one built from ``REDIS_HOST``/``REDIS_PORT``."""
        if self.redis_url:
            return self.redis_url
        if self.redis_host:
            return f"redis://{self.redis_host}:{self.redis_port}/0"
        return None
