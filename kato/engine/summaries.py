"""Pattern summaries (frequency, emotives) cached in a worker, kept current by the
knowledge base's summary change log (:meth:`KnowledgeBase.summary_changes`).

Every prediction reads the summaries of its few hundred ensemble members. Reading them
from the store each time cost more than the bounded search itself (about 2 ms per
prediction at 7,600 patterns on the embedded backend). Before answering, the cache reads
the change log and drops the summaries of the patterns learned since its last read (all
of them when the log cannot tell), then reads from the store only the names it lacks. A
prediction so sees every learn committed before it started, as with a fresh read.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence

from kato.engine.ports import SummaryPosition, SummarySource
from kato.engine.types import PatternSummary

# Bounds the cache; past it the cache starts again empty. The warm-up fills it for nodes
# of up to this size. An entry's key is the index's own name string, and the embedded
# store shares the summaries of patterns without emotives, so there an entry costs its
# dict slot, 30 to 60 bytes (at most 120 MB here, a tenth of the index of as many).
MAX_CACHED = 2_000_000
# Names per store request when a worker's warm-up fills the cache.
PRELOAD_BATCH = 10_000


class SummaryCache:
    """The summaries of one node's patterns that this worker has read."""

    def __init__(self, max_cached: int = MAX_CACHED) -> None:
        self._lock = threading.Lock()
        self._max_cached = max_cached
        self._position: SummaryPosition | None = None
        self._summaries: dict[str, PatternSummary] = {}

    def get(self, kb: SummarySource, names: Iterable[str]) -> dict[str, PatternSummary]:
        """Current summaries of ``names`` (shared objects: read only); unknown names are absent."""
        wanted = list(dict.fromkeys(names))
        # One holder at a time: a summary read from the store must not land in the cache
        # after another thread has read a newer position of the log.
        with self._lock:
            position, changed = kb.summary_changes(self._position)
            cached = self._summaries
            if changed is None:
                cached.clear()
            else:
                for name in changed:
                    cached.pop(name, None)
            self._position = position
            missing = [name for name in wanted if name not in cached]
            if missing:
                if len(cached) + len(missing) > self._max_cached:
                    cached.clear()
                    missing = wanted
                read = kb.pattern_summaries(missing)
                for name in missing:  # keyed by the caller's strings: the index's own
                    summary = read.get(name)
                    if summary is not None:
                        cached[name] = summary
            return {name: cached[name] for name in wanted if name in cached}

    def preload(self, kb: SummarySource, names: Sequence[str]) -> int:
        """Read the summaries of ``names`` now, when they fit the bound (a worker's
        warm-up, so that its first predictions do not read them one ensemble at a time),
        a bounded batch per store request; the number cached."""
        if len(names) > self._max_cached:
            return 0
        cached = 0
        for start in range(0, len(names), PRELOAD_BATCH):
            cached += len(self.get(kb, names[start : start + PRELOAD_BATCH]))
        return cached
