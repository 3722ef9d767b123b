"""The nodes this worker has served recently (the ``processors`` block of /status)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from kato.service.timefmt import offset_timestamp, utc_now

MAX_PROCESSORS = 100


@dataclass(slots=True)
class _NodeUse:
    node_id: str
    display_id: str
    created_at: str
    last_accessed: str
    last_monotonic: float
    access_count: int


class NodeRegistry:
    """Per-worker bookkeeping of node use; affects no result, only /status reporting."""

    def __init__(self, eviction_ttl_seconds: int) -> None:
        self.eviction_ttl_seconds = eviction_ttl_seconds
        self._lock = threading.Lock()
        self._nodes: dict[str, _NodeUse] = {}

    def touch(self, node_key: str, node_id: str, display_id: str) -> None:
        now = offset_timestamp(utc_now())
        with self._lock:
            use = self._nodes.get(node_key)
            if use is None:
                use = _NodeUse(node_id, display_id, now, now, time.monotonic(), 0)
                self._nodes[node_key] = use
            use.access_count += 1
            use.last_accessed = now
            use.last_monotonic = time.monotonic()
            self._evict()

    def _evict(self) -> None:
        cutoff = time.monotonic() - self.eviction_ttl_seconds
        for key in [k for k, use in self._nodes.items() if use.last_monotonic < cutoff]:
            del self._nodes[key]
        while len(self._nodes) > MAX_PROCESSORS:
            oldest = min(self._nodes, key=lambda k: self._nodes[k].last_monotonic)
            del self._nodes[oldest]

    def describe(self) -> dict[str, Any]:
        now = time.monotonic()
        with self._lock:
            self._evict()
            processors = [
                {
                    "processor_id": use.display_id,
                    "node_id": use.node_id,
                    "created_at": use.created_at,
                    "last_accessed": use.last_accessed,
                    "access_count": use.access_count,
                    "idle_seconds": round(now - use.last_monotonic, 3),
                }
                for use in sorted(self._nodes.values(), key=lambda u: u.display_id)
            ]
        return {
            "total_processors": len(processors),
            "max_processors": MAX_PROCESSORS,
            "eviction_ttl_seconds": self.eviction_ttl_seconds,
            "processors": processors,
        }
