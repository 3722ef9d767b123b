"""Observation processing and auto-learn (engine §3, §4)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kato.engine import learning, prediction
from kato.engine.config import EngineConfig
from kato.engine.emotives import average_emotives
from kato.engine.errors import VectorDimensionError
from kato.engine.naming import vector_name
from kato.engine.prediction_basis import encode_rows, prediction_basis
from kato.engine.types import Observation, SessionState
from kato.engine.validation import validate

if TYPE_CHECKING:
    from kato.engine.node import NodeEngine

NEAREST_NEIGHBOURS = 3


def percept_vector(vectors: list[list[float]]) -> list[float]:
    """Element-wise sum, left to right, of the observation's vectors (§3.3.1)."""
    expected = len(vectors[0])
    for vector in vectors[1:]:
        if len(vector) != expected:
            raise VectorDimensionError(expected, len(vector), None)
    total = [float(x) for x in vectors[0]]
    for vector in vectors[1:]:
        total = [a + float(b) for a, b in zip(total, vector, strict=True)]
    return total


def observe(
    engine: NodeEngine, state: SessionState, observation: Observation, config: EngineConfig
) -> str | None:
    """Apply one observation to ``state``; return the auto-learned pattern name, if any."""
    validate(observation)
    vector_symbols: list[str] = []
    percept: list[float] | None = None
    own_name = ""
    if observation.vectors:
        percept = percept_vector(observation.vectors)
        own_name = vector_name(percept)
        dimension = engine.settings.forced_vector_dimension or engine.vectors.dimension()
        if dimension is not None and len(percept) != dimension:
            raise VectorDimensionError(dimension, len(percept), own_name)
        neighbours = engine.vectors.nearest(percept, NEAREST_NEIGHBOURS)
        vector_symbols = sorted({*neighbours, own_name})
    strings = list(observation.strings)
    string_symbols = sorted(strings) if config.sort_symbols else strings

    if observation.emotives:
        state.emotives_accumulator.append(dict(observation.emotives))
    if observation.metadata:
        state.metadata_accumulator.append(dict(observation.metadata))
    state.percept_data = {
        "strings": sorted(strings),
        "vectors": [[float(x) for x in v] for v in observation.vectors],
        "emotives": average_emotives(state.emotives_accumulator),
        "path": [],
        "metadata": observation.metadata,
    }

    learned: str | None = None
    predictions: list[dict[str, object]] = []
    basis = rows = ""
    event = vector_symbols + string_symbols
    if event:
        if percept is not None:
            engine.vectors.add_pending(own_name, percept)
        state.stm.append(event)
        if config.process_predictions:
            basis = prediction_basis(engine, state.stm, config)  # before reading the node
            predicted = prediction.predict(engine, state.stm, config)
            predictions = predicted.predictions
            rows = encode_rows(predicted.future_rows())
        learned = _auto_learn(engine, state, config)
    state.time += 1
    state.predictions = predictions
    state.predictions_basis = basis
    state.future_rows = rows
    return learned


def _auto_learn(engine: NodeEngine, state: SessionState, config: EngineConfig) -> str | None:
    """The auto-learn check of §4, with ROLLING's slice semantics kept exactly."""
    limit = config.max_pattern_length
    size = len(state.stm)
    if limit <= 0 or size < limit:
        return None
    if size > 1 and config.stm_mode == "ROLLING":
        keep = state.stm[-(limit - 1) :]  # for limit == 1 this is the whole STM (quirk)
        name = learning.learn(engine, state, config)
        state.stm = keep
    else:
        name = learning.learn(engine, state, config)
    return name or None
