"""Service settings read from the environment (api.md §8).

Names are case-insensitive; booleans accept true/false, 1/0, yes/no, on/off. An
invalid value raises :class:`SettingsError` naming the variable, and the service
refuses to start. The process-default session configuration (§8.1) is checked
with the same validator as session configuration updates (§7.2).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from kato.engine.node import EngineSettings

from kato.engine.config import EngineConfig, validate_config_update
from kato.engine.errors import InvalidConfigError
from kato.storage.settings import StorageSettings

# Environment variables of §8.1 and the session configuration key each one sets.
ENGINE_DEFAULT_VARIABLES: dict[str, str] = {
    "max_pattern_length": "MAX_PATTERN_LENGTH",
    "persistence": "PERSISTENCE",
    "recall_threshold": "RECALL_THRESHOLD",
    "stm_mode": "STM_MODE",
    "max_predictions": "MAX_PREDICTIONS",
    "sort_symbols": "SORT_SYMBOLS",
    "process_predictions": "PROCESS_PREDICTIONS",
    "use_token_matching": "USE_TOKEN_MATCHING",
    "rank_sort_algo": "RANK_SORT_ALGO",
    "indexer_type": "INDEXER_TYPE",
}


class SettingsError(ValueError):
    """The environment holds an invalid value; the message names the variable."""


class Settings(BaseSettings):
    """Every service environment variable of api.md §8 (storage ones via ``storage``)."""

    model_config = SettingsConfigDict(
        case_sensitive=False, extra="ignore", env_ignore_empty=True, validate_default=True
    )

    # §8.1 process defaults for session configuration (validated in _check_engine_defaults)
    max_pattern_length: int = 0
    persistence: int = 5
    recall_threshold: float = 0.1
    stm_mode: str = "CLEAR"
    max_predictions: int = 100
    sort_symbols: bool = True
    process_predictions: bool = True
    use_token_matching: bool = True
    rank_sort_algo: str = "potential"
    indexer_type: str = "VI"

    # §8.2 service and sessions
    service_name: str = "kato"
    session_ttl: int = Field(default=3600, ge=60, le=86400)
    session_auto_extend: bool = True
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["human", "json"] = "human"
    log_output: str = "stdout"
    session_count_cache_ttl_seconds: float = Field(default=5.0, ge=0)
    metrics_cache_ttl_seconds: float = Field(default=5.0, ge=0)
    kato_warm_indexes: bool = True  # build every stored node's index before serving
    # Net allocations between the cyclic collector's young passes; 0 keeps Python's 700.
    kato_gc_threshold: int = Field(default=50_000, ge=0)
    # Threads per worker for the direct session actions (kato/service/direct_routes.py); 0 runs
    # them on the event loop. None: 4 on the distributed backend (its network waits overlap),
    # else 1 (docs/configuration.md).
    kato_session_action_threads: int | None = Field(default=None, ge=0)

    # §8.3 engine-level storage options (the rest lives in StorageSettings)
    kato_vector_dim: int | None = Field(default=None, ge=1)
    minhash_hash_func: Literal["sha1", "xxhash"] = "sha1"

    # §8.4 operational reporting (/concurrency)
    uvicorn_limit_concurrency: int = Field(default=100, ge=1)
    uvicorn_workers: int = Field(default=1, ge=1)
    uvicorn_backlog: int = Field(default=2048, ge=1)
    uvicorn_limit_max_requests: int | Literal["unlimited"] = "unlimited"

    # Largest accepted request body in bytes (larger bodies get 413, never a 500).
    kato_max_body_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)

    # Input and state limits (docs/limits.md): exceeding one answers 422 and changes nothing.
    kato_max_observation_strings: int = Field(default=10_000, ge=1)
    kato_max_string_length: int = Field(default=65_536, ge=1)
    kato_max_observation_vectors: int = Field(default=1_000, ge=1)
    kato_max_vector_dimensions: int = Field(default=65_536, ge=1)
    kato_max_emotives: int = Field(default=1_000, ge=1)
    kato_max_metadata_chars: int = Field(default=1_048_576, ge=2)
    kato_max_sequence_length: int = Field(default=10_000, ge=1)
    kato_max_stm_events: int = Field(default=10_000, ge=1)
    kato_max_sessions_per_node: int = Field(default=0, ge=0)  # 0: unlimited

    # Optional API-key authentication (docs/security.md): on when any key is configured.
    kato_api_keys: str | None = None
    kato_api_keys_file: str | None = None
    kato_auth_public_metrics: bool = False

    storage: StorageSettings = Field(default_factory=StorageSettings)

    @field_validator("log_level", "stm_mode", "indexer_type", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("log_format", "minhash_hash_func", "uvicorn_limit_max_requests", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) and not value.isdigit() else value

    @model_validator(mode="after")
    def _check_engine_defaults(self) -> Settings:
        try:
            validate_config_update(self._engine_default_values())
        except InvalidConfigError as exc:
            key, message = next(iter(exc.errors.items()))
            raise ValueError(f"{ENGINE_DEFAULT_VARIABLES[key]}: {message}") from exc
        return self

    @model_validator(mode="after")
    def _check_api_keys(self) -> Settings:
        from kato.service.auth import (
            ApiKeyConfigError,
            load_keyring,
            parse_env_keys,
            parse_key_file,
        )

        try:
            if self.kato_api_keys is not None:
                parse_env_keys(self.kato_api_keys)
        except ApiKeyConfigError as exc:
            raise ValueError(f"KATO_API_KEYS: {exc}") from None
        try:
            if self.kato_api_keys_file is not None:
                parse_key_file(self.kato_api_keys_file)
        except ApiKeyConfigError as exc:
            raise ValueError(f"KATO_API_KEYS_FILE: {exc}") from None
        try:  # both sources together: no key twice
            load_keyring(self.kato_api_keys, self.kato_api_keys_file)
        except ApiKeyConfigError as exc:
            raise ValueError(f"KATO_API_KEYS: {exc}") from None
        return self

    def _engine_default_values(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in ENGINE_DEFAULT_VARIABLES}

    @property
    def default_config(self) -> EngineConfig:
        """The process-default effective configuration (api.md §7.4)."""
        return EngineConfig().with_overrides(validate_config_update(self._engine_default_values()))

    @property
    def session_action_threads(self) -> int:
        """Threads per worker for the direct session actions; 0: on the event loop."""
        if self.kato_session_action_threads is not None:
            return self.kato_session_action_threads
        return 4 if self.storage.backend == "distributed" else 1

    @property
    def engine_settings(self) -> EngineSettings:
        from kato.engine.node import EngineSettings

        return EngineSettings(
            forced_vector_dimension=self.kato_vector_dim, minhash_hash=self.minhash_hash_func
        )


def load_settings(**overrides: Any) -> Settings:
    """Read the environment; raise :class:`SettingsError` naming the first bad variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(describe_validation_error(exc)) from None


def describe_validation_error(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        variable = "_".join(str(part) for part in error["loc"]).upper()
        message = str(error["msg"]).removeprefix("Value error, ")
        problems.append(f"{variable}: {message}" if variable else message)
    return "Invalid environment: " + "; ".join(problems)
