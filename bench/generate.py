"""Deterministic knowledge bases and queries for the benchmarks.

Distribution (documented in docs/performance.md):
- vocabulary of ``V = max(200, 40 * sqrt(N))`` symbols ``w0 .. w{V-1}`` drawn with a Zipf
  law of exponent 1.1 (rank r has weight ``1 / (r+1)**1.1``), so the vocabulary grows with N;
- each pattern has 2-6 events (uniform), each event 1-3 distinct symbols (uniform);
- a query is a stored pattern's first 60 % of events (at least 2 symbols), where each
  symbol is replaced by a random vocabulary symbol with probability 0.2 ("noisy prefix").

Everything is drawn from ``random.Random(seed)``, so a seed gives the same data everywhere.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator

Pattern = list[list[str]]


class Generator:
    def __init__(self, n_patterns: int, seed: int = 1) -> None:
        self.n_patterns = n_patterns
        self.seed = seed
        size = max(200, int(40 * math.sqrt(n_patterns)))
        self.vocabulary = [f"w{i}" for i in range(size)]
        self._cumulative = list(itertools.accumulate(1.0 / (r + 1) ** 1.1 for r in range(size)))

    def _symbols(self, rng: random.Random, count: int) -> list[str]:
        return rng.choices(self.vocabulary, cum_weights=self._cumulative, k=count)

    def _pattern(self, rng: random.Random) -> Pattern:
        events = []
        for _ in range(rng.randint(2, 6)):
            events.append(sorted(set(self._symbols(rng, rng.randint(1, 3)))))
        return events

    def patterns(self) -> Iterator[Pattern]:
        """N patterns (duplicates possible: they become re-learns)."""
        rng = random.Random(self.seed)
        for _ in range(self.n_patterns):
            yield self._pattern(rng)

    def queries(self, count: int, seed: int = 2) -> list[Pattern]:
        """Noisy prefixes of stored patterns (the i-th stored pattern is regenerated)."""
        stored = list(itertools.islice(self.patterns(), min(self.n_patterns, 5000)))
        rng = random.Random(seed)
        out: list[Pattern] = []
        while len(out) < count:
            pattern = rng.choice(stored)
            prefix = pattern[: max(1, math.ceil(len(pattern) * 0.6))]
            noisy = [
                sorted({s if rng.random() >= 0.2 else rng.choice(self.vocabulary) for s in event})
                for event in prefix
            ]
            if sum(map(len, noisy)) >= 2:
                out.append(noisy)
        return out
