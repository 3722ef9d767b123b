"""Plain data types shared by the engine, the storage ports and the service."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Event = list[str]
PatternData = list[list[str]]
Emotives = dict[str, float]
JSONObject = dict[str, Any]

# Session state is trimmed to this many entries when it is saved (engine §2.2).
SESSION_TRIM = 1000


@dataclass(frozen=True, slots=True)
class Observation:
    """One validated observation (engine §3.1): floats already coerced, vectors finite."""

    strings: list[str] = field(default_factory=list)
    vectors: list[list[float]] = field(default_factory=list)
    emotives: Emotives = field(default_factory=dict)
    metadata: JSONObject = field(default_factory=dict)


class EncodedJSON:
    """A JSON value kept as its encoded bytes until it is read.

    Session stores hand back the stored observe-time predictions (about 100 KB at
    the default ``max_predictions``) this way: most requests never read them, so
    they skip decoding and re-encoding them on every request.
    """

    __slots__ = ("_decode", "data")

    def __init__(self, data: bytes, decode: Callable[[bytes], Any]) -> None:
        self.data = data
        self._decode = decode

    def value(self) -> Any:
        return self._decode(self.data)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, EncodedJSON):
            other = other.value()
        return bool(self.value() == other)

    __hash__ = None  # type: ignore[assignment]


@dataclass(slots=True)
class SessionState:
    """The engine-visible part of a session (engine §2.2)."""

    stm: list[Event] = field(default_factory=list)
    emotives_accumulator: list[Emotives] = field(default_factory=list)
    metadata_accumulator: list[JSONObject] = field(default_factory=list)
    time: int = 0
    percept_data: JSONObject = field(default_factory=dict)
    predictions: list[JSONObject] | EncodedJSON = field(default_factory=list)
    # When ``predictions`` still answer a GET /predictions (kato/engine/prediction_basis.py):
    # their basis ("" when they do not stand for the STM's predictions), and the future
    # groups of their ensemble as JSON text (parsed only by that GET).
    predictions_basis: str = ""
    future_rows: str = ""
    # Service-level replay log of idempotent requests, opaque to the engine: entries
    # [key, request fingerprint, response body], oldest first (kato/service/idempotency.py).
    # Kept here so it is saved atomically with the session; clear() leaves it alone.
    idempotency: list[list[str]] = field(default_factory=list)

    def clear(self) -> None:
        """Clear-STM (engine §4): STM, accumulators, time, percept data, predictions."""
        self.stm = []
        self.emotives_accumulator = []
        self.metadata_accumulator = []
        self.time = 0
        self.percept_data = {}
        self.predictions = []
        self.predictions_basis = ""
        self.future_rows = ""

    def prediction_list(self) -> list[JSONObject]:
        """The observe-time predictions, decoded if the store handed them over encoded."""
        if isinstance(self.predictions, EncodedJSON):
            return list(self.predictions.value())
        return self.predictions

    def trimmed(self) -> SessionState:
        """The state as saved: STM and accumulators cut to their last 1000 entries."""
        return SessionState(
            stm=self.stm[-SESSION_TRIM:],
            emotives_accumulator=self.emotives_accumulator[-SESSION_TRIM:],
            metadata_accumulator=self.metadata_accumulator[-SESSION_TRIM:],
            time=self.time,
            percept_data=self.percept_data,
            predictions=self.predictions,
            predictions_basis=self.predictions_basis,
            future_rows=self.future_rows,
            idempotency=self.idempotency,
        )

    def to_dict(self) -> JSONObject:
        return {
            "stm": self.stm,
            "emotives_accumulator": self.emotives_accumulator,
            "metadata_accumulator": self.metadata_accumulator,
            "time": self.time,
            "percept_data": self.percept_data,
            "predictions": self.predictions,
            "predictions_basis": self.predictions_basis,
            "future_rows": self.future_rows,
            "idempotency": self.idempotency,
        }

    @classmethod
    def from_dict(cls, data: JSONObject) -> SessionState:
        return cls(
            stm=data.get("stm", []),
            emotives_accumulator=data.get("emotives_accumulator", []),
            metadata_accumulator=data.get("metadata_accumulator", []),
            time=data.get("time", 0),
            percept_data=data.get("percept_data", {}),
            predictions=data.get("predictions", []),
            predictions_basis=data.get("predictions_basis", ""),
            future_rows=data.get("future_rows", ""),
            idempotency=data.get("idempotency", []),
        )


@dataclass(slots=True)
class PatternRecord:
    """A stored pattern with its mutable per-pattern values (engine §2.1)."""

    name: str  # bare 40-hex hash
    pattern_data: PatternData
    frequency: int = 1
    emotives: list[Emotives] = field(default_factory=list)
    metadata: dict[str, list[str]] = field(default_factory=dict)

    @property
    def length(self) -> int:
        return sum(len(event) for event in self.pattern_data)


@dataclass(frozen=True, slots=True)
class PatternSummary:
    """What a prediction reads of a stored pattern besides its (immutable, indexed) data."""

    frequency: int
    emotives: list[Emotives]


@dataclass(frozen=True, slots=True)
class PrecomputedMetrics:
    """Per-pattern values written by finalize-training (engine §5.12)."""

    entropy: float
    normalized_entropy: float
    global_normalized_entropy: float
    tf_vector: tuple[tuple[str, float], ...]


@dataclass(frozen=True, slots=True)
class LearnUpdate:
    """What one learn call adds to a node, computed by the engine, applied atomically by storage.

    ``merge`` of :func:`kato.engine.learning.merge_pattern` turns the stored record
    (or None) into the new one; the counters below are plain additions.
    """

    name: str
    pattern_data: PatternData
    emotives: list[Emotives]  # the session's untrimmed emotives accumulator E
    metadata: dict[str, list[str]]  # accumulate_metadata(metadata accumulator) M
    persistence: int
    symbol_counts: tuple[tuple[str, int], ...]  # distinct symbols, first-occurrence order
    affinity_delta: Emotives  # average_emotives(E), {} when E is empty
    # Names this learn for exactly-once application: a retried request repeats its learns
    # with the same tokens, and the store applies a token at most once (None: always apply).
    token: str | None = None

    @property
    def length(self) -> int:
        return sum(count for _, count in self.symbol_counts)


@dataclass(frozen=True, slots=True)
class GlobalStats:
    """Node-wide totals (engine §2.1), read fresh for every request."""

    total_unique_patterns: int = 0  # N
    total_pattern_frequencies: int = 0  # TPF (equals N)
    total_symbols_in_patterns_frequencies: int = 0
    distinct_symbols: int = 0  # T


@dataclass(frozen=True, slots=True)
class SymbolStats:
    name: str
    frequency: int
    pattern_member_frequency: int
