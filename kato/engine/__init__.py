"""The deterministic KATO core: observations, learning and predictions (spec/engine.md).

Public surface: :class:`NodeEngine` and the types, config and errors re-exported here.
The engine does no I/O; it reaches state only through the ports of
:mod:`kato.engine.ports`.
"""

from kato.engine import compiled

compiled.ensure_current()  # before a stale extension of an edited module can load

from kato.engine.config import EngineConfig, effective_config, validate_config_update
from kato.engine.errors import (
    EmptySTMError,
    EngineError,
    InvalidConfigError,
    InvalidObservationError,
    VectorDimensionError,
)
from kato.engine.index import PatternIndex
from kato.engine.node import (
    EngineSettings,
    FinalizeResult,
    NodeEngine,
    ObserveResult,
    PredictionResult,
)
from kato.engine.types import Observation, PatternRecord, SessionState

__all__ = [
    "EmptySTMError",
    "EngineConfig",
    "EngineError",
    "EngineSettings",
    "FinalizeResult",
    "InvalidConfigError",
    "InvalidObservationError",
    "NodeEngine",
    "Observation",
    "ObserveResult",
    "PatternIndex",
    "PatternRecord",
    "PredictionResult",
    "SessionState",
    "VectorDimensionError",
    "effective_config",
    "validate_config_update",
]
