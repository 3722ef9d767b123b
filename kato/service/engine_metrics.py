"""The node engine with its prediction computations measured (engine code unchanged)."""

from __future__ import annotations

import time

from kato.engine import EngineConfig, NodeEngine
from kato.engine.node import PredictionResult
from kato.service.metrics import process_metrics


class MeasuredNodeEngine(NodeEngine):
    """Counts ``predict`` calls, their duration and the candidate patterns they return.

    Predictions refreshed inside an observation (``process_predictions``) are part of the
    observe request and are not counted here.
    """

    def predict(self, stm: list[list[str]], config: EngineConfig) -> PredictionResult:
        start = time.perf_counter()
        result = super().predict(stm, config)
        metrics = process_metrics()
        metrics.predictions.inc()
        metrics.prediction_duration.observe(time.perf_counter() - start)
        metrics.prediction_candidates.observe(len(result.predictions))
        return result
