"""Exactly-once learns: how long a store remembers the tokens of applied learns.

A learn that carries a token (``LearnUpdate.token``, ``<session>:<request key>:<digest>/<n>``)
is applied at most once per node: every adapter records the token in the same atomic step as
the learn and skips a learn whose token it has already recorded. The record only has to
outlive the retries of a request, so it is kept for :data:`TOKEN_RETENTION_SECONDS` and
pruned while learning (cost proportional to what expired). Tokens survive ``clear()`` and
``restore()``: a request retried after a clear-all still counts its learns once, in the
history where it ran before the clear (docs/reliability.md).
"""

from __future__ import annotations

import time

# Longer than any sane client retry schedule and than the default session TTL.
TOKEN_RETENTION_SECONDS = 24 * 3600


class TokenLedger:
    """The in-process record of applied learn tokens of one node (the memory backend).

    Not thread-safe: the caller holds the node's lock.
    """

    def __init__(self, retention: float = TOKEN_RETENTION_SECONDS) -> None:
        self._retention = retention
        self._applied: dict[str, float] = {}  # token -> monotonic time, oldest first

    def seen(self, token: str) -> bool:
        self._prune(time.monotonic())
        return token in self._applied

    def record(self, token: str) -> None:
        self._applied[token] = time.monotonic()

    def forget(self, token: str) -> None:
        """Undo :meth:`record` (the learn it belonged to failed)."""
        self._applied.pop(token, None)

    def _prune(self, now: float) -> None:
        cutoff = now - self._retention
        while self._applied:
            oldest = next(iter(self._applied))
            if self._applied[oldest] > cutoff:
                return
            del self._applied[oldest]

    def __len__(self) -> int:
        return len(self._applied)
