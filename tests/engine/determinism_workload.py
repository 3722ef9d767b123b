"""A fixed engine workload that prints every observable result as JSON (run as a script)."""

from __future__ import annotations

import json
import random
import sys
from dataclasses import asdict

from tests.engine.harness import Harness


def run() -> str:
    rng = random.Random(7)
    vocabulary = [f"s{i}" for i in range(12)] + ["it's", "ü", ""]
    h = Harness(recall_threshold=0.05, max_predictions=5, affinity_emotive="joy")
    out: list[object] = []
    for step in range(60):
        event = rng.sample(vocabulary, rng.randint(1, 3))
        obs: dict[str, object] = {"strings": event, "emotives": {"joy": rng.random() - 0.5}}
        if step % 7 == 0:
            obs["vectors"] = [[rng.choice([0.0, 1.0, 0.5]) for _ in range(3)]]
        if step % 5 == 0:
            obs["metadata"] = {"k": rng.choice(["a", "b", 3, True])}
        h.observe(obs)
        out.append(h.state.predictions)
        if step % 4 == 3:
            out.append(h.learn())
        if step == 40:
            out.append(h.engine.finalize_training().patterns_processed)
    for stm in ([["s1"]], [["s1", "s2"], ["s3"]], [["s4"], ["s5"], ["it's"]]):
        result = h.engine.predict(stm, h.config)
        out.append([result.predictions, result.future_potentials])
    out.append([asdict(s) for s in h.engine.kb.all_symbol_stats()])
    out.append(h.engine.kb.all_affinities())
    out.append([asdict(r) for r in h.engine.kb.iter_patterns()])
    return json.dumps(out, ensure_ascii=False, separators=(",", ":"))


if __name__ == "__main__":
    sys.stdout.write(run())
