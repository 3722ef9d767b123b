"""The engine's public entry point: one node's operations on one session's state.

A :class:`NodeEngine` is cheap to build (per request); it holds no state of its
own beyond the stores it was given. Every method mutates the passed
:class:`SessionState` in place; callers that must be able to roll back (for
example observe-sequence) pass a copy.
"""

from __future__ import annotations

import time as _time
from dataclasses import dataclass, field

from kato.engine import learning, observing, prediction
from kato.engine.config import EngineConfig
from kato.engine.errors import EmptySTMError
from kato.engine.finalize import finalize_training
from kato.engine.index import PatternIndex
from kato.engine.ports import KnowledgeBase, VectorStore
from kato.engine.prediction_basis import decode_rows, prediction_basis
from kato.engine.types import JSONObject, Observation, SessionState


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """Process-level engine settings (not per session)."""

    forced_vector_dimension: int | None = None  # KATO_VECTOR_DIM
    minhash_hash: str = "sha1"  # MINHASH_HASH_FUNC: "sha1" or "xxhash"


@dataclass(frozen=True, slots=True)
class ObserveResult:
    stm_length: int
    time: int
    auto_learned_pattern: str | None  # "PTRN|<hash>" or None


@dataclass(slots=True)
class PredictionResult:
    predictions: list[JSONObject] = field(default_factory=list)
    future_potentials: list[JSONObject] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class FinalizeResult:
    patterns_processed: int
    time_ms: float


class NodeEngine:
    """Observe, learn, predict and maintain one node's knowledge base."""

    def __init__(
        self,
        kb: KnowledgeBase,
        vectors: VectorStore,
        index: PatternIndex,
        settings: EngineSettings | None = None,
        request_key: str | None = None,
    ) -> None:
        """``request_key`` names the request this engine serves when a retry of it must not
        learn twice: its learns carry the tokens ``<request_key>/1``, ``/2``, ... in order."""
        self.kb = kb
        self.vectors = vectors
        self.index = index
        self.settings = settings or EngineSettings()
        self.request_key = request_key
        self._learns = 0

    def next_learn_token(self) -> str | None:
        """The token of the next learn of this request (None without a request key)."""
        if self.request_key is None:
            return None
        self._learns += 1
        return f"{self.request_key}/{self._learns}"

    def observe(
        self, state: SessionState, observation: Observation, config: EngineConfig
    ) -> ObserveResult:
        """Process one observation (engine §3.6).

        Raises :class:`~kato.engine.errors.VectorDimensionError` or
        :class:`~kato.engine.errors.InvalidObservationError` before changing anything.
        """
        learned = observing.observe(self, state, observation, config)
        return ObserveResult(
            stm_length=len(state.stm), time=state.time, auto_learned_pattern=learned
        )

    def learn(self, state: SessionState, config: EngineConfig) -> str:
        """Manual learn (engine §5): ``"PTRN|<hash>"``, or ``""`` when nothing was learnable.

        Raises :class:`~kato.engine.errors.EmptySTMError` on an empty STM (nothing changes).
        """
        if not state.stm:
            raise EmptySTMError()
        return learning.learn(self, state, config)

    def predict(self, stm: list[list[str]], config: EngineConfig) -> PredictionResult:
        """Predictions and future_potentials for ``stm`` (engine §6)."""
        predicted = prediction.predict(self, stm, config)
        return PredictionResult(predicted.predictions, predicted.future_potentials())

    def session_predictions(self, state: SessionState, config: EngineConfig) -> PredictionResult:
        """GET /predictions: :meth:`predict` for the session's STM, answered from the
        predictions its last observe kept when they are exactly that."""
        reused = self.reused_predictions(state, config)
        return reused if reused is not None else self.predict(state.stm, config)

    def reused_predictions(
        self, state: SessionState, config: EngineConfig
    ) -> PredictionResult | None:
        """What :meth:`predict` would return for the session's STM, from the predictions its
        last observe kept, when their basis still holds (engine/prediction_basis.py); else
        None."""
        if not state.predictions_basis:
            return None
        if state.predictions_basis != prediction_basis(self, state.stm, config):
            return None
        self.index.sync(self.kb)  # the groups name patterns this worker may not have read yet
        futures = prediction.future_potentials_of_rows(self.index, decode_rows(state.future_rows))
        if futures is None:
            return None
        return PredictionResult(state.prediction_list(), futures)

    def finalize_training(self) -> FinalizeResult:
        """Precompute per-pattern metrics for the whole node (engine §5.12)."""
        start = _time.perf_counter()
        count = finalize_training(self.kb)
        return FinalizeResult(count, round((_time.perf_counter() - start) * 1000.0, 2))

    def clear_all(self, state: SessionState) -> None:
        """Delete the node's whole LTM, then clear the calling session (engine §5.13)."""
        self.kb.clear()
        self.vectors.clear()
        state.clear()
