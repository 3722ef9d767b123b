"""Predictions on a generated 1,500-pattern node, as JSON (run as a script).

Large enough for every path of the indexed search — closed-form single-symbol candidates,
the compiled kernel, the bounded search, a full 3K ensemble — and, with the second half of
the configurations, the paths outside it.
"""

from __future__ import annotations

import json
import sys

from bench.generate import Generator
from kato.engine.prediction import predict
from tests.engine.harness import Harness

CONFIGS: list[dict[str, object]] = [
    {},
    {"max_predictions": 7, "rank_sort_algo": "confluence"},
    {"recall_threshold": 0.3, "rank_sort_algo": "normalized_entropy"},
    {"fuzzy_token_threshold": 0.6, "max_predictions": 10},
    {"use_token_matching": False, "max_predictions": 10},
    {"recall_threshold": 0.0, "max_predictions": 5},
]


def run() -> str:
    h = Harness(process_predictions=False)
    generator = Generator(1500, seed=5)
    for number, pattern in enumerate(generator.patterns()):
        h.observe({"strings": pattern[0], "emotives": {"joy": number % 5 - 2.0}}, *pattern[1:])
        h.learn()
    out: list[object] = []
    for config in CONFIGS:
        h.configure(process_predictions=True, **config)
        for query in generator.queries(4, seed=len(out)):
            result = h.engine.predict(query, h.config)
            out.append([result.predictions, result.future_potentials])
        brute = predict(h.engine, query, h.config, brute_force=True)
        out.append([brute.predictions, brute.future_potentials()])
        h.clear()
        h.observe(*query)  # the observe path, and what it keeps for GET /predictions
        out.append([h.state.predictions, h.state.future_rows])
    out.append(h.engine.finalize_training().patterns_processed)
    result = h.engine.predict(query, h.config)
    out.append([result.predictions, result.future_potentials])
    return json.dumps(out, ensure_ascii=False, separators=(",", ":"))


if __name__ == "__main__":
    sys.stdout.write(run())
