"""Request models (validation per api.md §6.1, §5.2) and response models for the OpenAPI document.

Responses are built as plain dicts in contract key order; the response models
below only document them (routes never re-validate their output).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictStr

from kato.service import limits

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
Vector = Annotated[list[FiniteFloat], Field(min_length=1), BeforeValidator(limits.check_vector)]
# Limits (docs/limits.md): counts are checked before the items, sizes from the app's settings.
LimitedString = Annotated[StrictStr, AfterValidator(limits.check_string)]
EmotiveValue = Annotated[
    float,
    Field(
        allow_inf_nan=False,
        json_schema_extra={
            "minimum": -limits.MAX_EMOTIVE_MAGNITUDE,
            "maximum": limits.MAX_EMOTIVE_MAGNITUDE,
        },
    ),
    AfterValidator(limits.check_emotive_value),
]


class ObservationInput(BaseModel):
    """One observation. Strings are never coerced; vector items and emotive values are."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "strings": ["hello", "world"],
                    "vectors": [[0.1, 0.2, 0.3]],
                    "emotives": {"joy": 0.8, "urgency": -0.3},
                    "metadata": {"source": "chat", "page": 3},
                }
            ]
        },
    )

    strings: Annotated[list[LimitedString], BeforeValidator(limits.check_strings)] = Field(
        default_factory=list
    )
    vectors: Annotated[list[Vector], BeforeValidator(limits.check_vectors)] = Field(
        default_factory=list
    )
    emotives: Annotated[
        dict[LimitedString, EmotiveValue], BeforeValidator(limits.check_emotives)
    ] = Field(default_factory=dict)
    metadata: Annotated[dict[str, Any], AfterValidator(limits.check_metadata)] = Field(
        default_factory=dict
    )


class SequenceObservation(ObservationInput):
    unique_id: str | None = None


class ObserveSequenceRequest(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "observations": [{"strings": ["a"]}, {"strings": ["b"], "unique_id": "obs_2"}],
                    "learn_at_end": True,
                }
            ]
        },
    )

    observations: Annotated[list[SequenceObservation], BeforeValidator(limits.check_sequence)]
    learn_after_each: bool = False
    learn_at_end: bool = False
    clear_stm_between: bool = False


class SessionCreateRequest(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "node_id": "user-alice",
                    "metadata": {"a": 1},
                    "ttl_seconds": 3600,
                    "config": {"recall_threshold": 0.2},
                }
            ]
        },
    )

    node_id: StrictStr
    metadata: dict[str, Any] | None = None
    ttl_seconds: Annotated[int | None, Field(ge=0)] = None
    config: dict[str, Any] | None = None


# -- documentation-only response models ---------------------------------------------------------


class SessionResponse(BaseModel):
    session_id: str = Field(examples=["session-7fbc5d5544c34c29a4f55e16a7473bc2-1795689121214"])
    node_id: str = Field(examples=["user-alice"])
    created_at: str = Field(examples=["2026-11-26T10:32:01.214761Z"])
    expires_at: str = Field(examples=["2026-11-26T11:32:01.214761Z"])
    ttl_seconds: int = Field(examples=[3600])
    metadata: dict[str, Any]
    session_config: dict[str, Any]


class SessionCountResponse(BaseModel):
    active_session_count: int = Field(examples=[3])


class SessionDeletedResponse(BaseModel):
    status: str = Field(examples=["deleted"])
    session_id: str


class SessionExistsResponse(BaseModel):
    exists: bool
    expired: bool
    session_id: str


class SessionExtendedResponse(BaseModel):
    status: str = Field(examples=["extended"])
    session_id: str
    ttl_seconds: int = Field(examples=[3600])


class ConfigResponse(BaseModel):
    session_id: str
    config: dict[str, Any]


class StatusMessageResponse(BaseModel):
    status: str = Field(examples=["okay"])
    message: str = Field(examples=["Configuration updated"])
    session_id: str


class ObserveResponse(BaseModel):
    status: str = Field(examples=["okay"])
    session_id: str
    processor_id: str = Field(examples=["user-alice"])
    stm_length: int = Field(examples=[3])
    time: int = Field(examples=[42])
    unique_id: str = Field(examples=["obs-5f2b0c2d9d5e4d4e9b1f8f1f8f1f8f1f"])
    auto_learned_pattern: str | None = Field(examples=[None])


class SequenceItemResult(BaseModel):
    status: str = Field(examples=["okay"])
    sequence_position: int
    stm_length: int
    time: int
    unique_id: str
    auto_learned_pattern: str | None


class ObserveSequenceResponse(BaseModel):
    status: str = Field(examples=["completed"])
    processor_id: str
    observations_processed: int
    initial_stm_length: int
    final_stm_length: int
    results: list[SequenceItemResult]
    auto_learned_patterns: list[str]
    final_learned_pattern: str | None
    isolated: bool


class StmResponse(BaseModel):
    stm: list[list[str]] = Field(examples=[[["a", "b"], ["c"]]])
    session_id: str
    length: int = Field(examples=[2])


class LearnResponse(BaseModel):
    status: str = Field(examples=["learned"])
    pattern_name: str = Field(examples=["PTRN|e9e43f2309079f2843665ab773996d99489306d6"])
    session_id: str
    processor_id: None = None
    message: str = Field(
        examples=["Learned pattern PTRN|e9e43f2309079f2843665ab773996d99489306d6 from 0 events"]
    )


class FinalizeResponse(BaseModel):
    status: str = Field(examples=["completed"])
    patterns_processed: int
    time_ms: float
    session_id: str
    node_id: str
    message: str


class ClearedResponse(BaseModel):
    status: str = Field(examples=["cleared"])
    session_id: str


class ClearedAllResponse(ClearedResponse):
    scope: str = Field(examples=["all"])


class PredictionsResponse(BaseModel):
    predictions: list[dict[str, Any]]
    future_potentials: list[dict[str, Any]]
    session_id: str
    processor_id: None = None
    count: int
    time: None = None
    unique_id: None = None


class PerceptDataResponse(BaseModel):
    percept_data: dict[str, Any]
    session_id: str
    node_id: str


class CognitionDataResponse(BaseModel):
    cognition_data: dict[str, Any]
    session_id: str
    node_id: str


class PatternResponse(BaseModel):
    pattern: dict[str, Any]
    node_id: str = Field(examples=["user_alice_kato"])


class SymbolStatsResponse(BaseModel):
    symbols: dict[str, dict[str, Any]]
    node_id: str


class AffinitiesResponse(BaseModel):
    affinities: dict[str, dict[str, float]]
    node_id: str


class SymbolAffinityResponse(BaseModel):
    symbol: str
    affinity: dict[str, float]
    node_id: str


class HealthResponse(BaseModel):
    status: str = Field(examples=["healthy"])
    processor_status: str
    service_name: str
    uptime_seconds: float
    issues: list[str]
    metrics_collected: int
    last_collection: float
    active_sessions: int
    timestamp: str


class ErrorDetail(BaseModel):
    detail: Any


class ServerError(BaseModel):
    detail: str = Field(examples=["Internal Server Error"])
    trace_id: str = Field(examples=["kato-5f2b0c2d9d5e4d4e9b1f8f1f8f1f8f1f"])


class SessionNotFoundInner(BaseModel):
    code: str = Field(examples=["SESSION_NOT_FOUND"])
    message: str
    session_id: str


class SessionNotFound(BaseModel):
    error: SessionNotFoundInner


SESSION_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"model": SessionNotFound, "description": "Unknown or expired session (MW404)"},
    500: {"model": ServerError, "description": "Server-side failure"},
    503: {"model": ServerError, "description": "A storage dependency is unavailable"},
}


def documented(
    model: type[BaseModel], errors: dict[int | str, dict[str, Any]] | None = None
) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: the 200 model plus error bodies (documentation only)."""
    return {200: {"model": model}, **(errors or {})}


def example(body: Any, description: str = "Successful response") -> dict[int | str, dict[str, Any]]:
    """``responses=`` documenting a free-form 200 body by an example (monitoring routes)."""
    return {200: {"description": description, "content": {"application/json": {"example": body}}}}
