"""The node engine with its prediction computations measured (engine code unchanged)."""

from __future__ import annotations

import time

from kato.engine import EngineConfig, NodeEngine
from kato.engine.node import PredictionResult
from kato.engine.types import SessionState
from kato.service.metrics import process_metrics


class MeasuredNodeEngine(NodeEngine):
    """Counts the predictions answered for sessions (GET /predictions), their duration, the
    candidate patterns they return, and how many reused an observe's predictions.

    Predictions refreshed inside an observation (``process_predictions``) are part of the
    observe request and are not counted here.
    """

    def session_predictions(self, state: SessionState, config: EngineConfig) -> PredictionResult:
        start = time.perf_counter()
        result = super().session_predictions(state, config)
        metrics = process_metrics()
        metrics.predictions.inc()
        metrics.prediction_duration.observe(time.perf_counter() - start)
        metrics.prediction_candidates.observe(len(result.predictions))
        return result

    def reused_predictions(
        self, state: SessionState, config: EngineConfig
    ) -> PredictionResult | None:
        result = super().reused_predictions(state, config)
        if result is not None:
            process_metrics().predictions_reused.inc()
        return result
