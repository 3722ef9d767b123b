"""Write a synthetic kato-kb file of N patterns (for timing ``kato import``/``kato export``).

    .venv/bin/python -m bench.kb_file --patterns 100000 --output /tmp/kb-100k.ndjson

Deterministic (fixed seed): patterns of 2-4 events of 1-3 symbols from a 5,000-symbol
vocabulary, frequencies 1-5, emotives and metadata on some, affinities on the symbols of
emotive patterns. The counters are exactly those the patterns imply (engine §2.1).
"""

from __future__ import annotations

import argparse
import random
from collections import Counter
from pathlib import Path

from kato.engine.naming import pattern_hash
from kato.engine.types import GlobalStats, PatternRecord, SymbolStats
from kato.storage.memory import MemoryBackend
from kato.storage.transfer import export_node


def synthetic(patterns: int, seed: int = 1) -> MemoryBackend:
    rng = random.Random(seed)
    vocabulary = [f"s{i}" for i in range(5000)]
    records: dict[str, PatternRecord] = {}
    sym_freq: Counter[str] = Counter()
    pmf: Counter[str] = Counter()
    affinity: dict[str, dict[str, float]] = {}
    while len(records) < patterns:
        data = [sorted(rng.sample(vocabulary, rng.randint(1, 3))) for _ in range(rng.randint(2, 4))]
        name = pattern_hash(data)
        if name in records:
            continue
        frequency = rng.randint(1, 5)
        emotive = {"joy": round(rng.uniform(-1, 1), 3)} if rng.random() < 0.2 else None
        records[name] = PatternRecord(
            name,
            data,
            frequency,
            [emotive] if emotive else [],
            {"source": [f"doc{rng.randint(0, 99)}"]} if rng.random() < 0.3 else {},
        )
        counts = Counter(symbol for event in data for symbol in event)
        for symbol, count in counts.items():
            sym_freq[symbol] += count * frequency
            pmf[symbol] += 1
            if emotive:
                entry = affinity.setdefault(symbol, {})
                entry["joy"] = entry.get("joy", 0.0) + emotive["joy"]
    ordered = [records[name] for name in sorted(records)]
    symbols = [SymbolStats(s, sym_freq[s], pmf[s]) for s in sorted(sym_freq)]
    backend = MemoryBackend()
    backend.node("bench").kb.restore(
        ordered,
        symbols,
        {s: affinity[s] for s in sorted(affinity)},
        GlobalStats(len(ordered), len(ordered), sum(sym_freq.values()), len(pmf)),
    )
    return backend


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patterns", type=int, default=100_000)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    backend = synthetic(args.patterns, args.seed)
    with args.output.open("w", encoding="ascii", newline="\n") as out:
        lines = export_node(backend.node("bench"), out, service_name="kato", node_id="bench")
    print(f"{args.output}: {lines} lines")


if __name__ == "__main__":
    main()
