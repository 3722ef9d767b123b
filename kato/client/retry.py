"""Bounded exponential backoff, shared by the sync and async clients."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from kato.client.calls import Call

# Errors raised before the request reached the server: always safe to retry.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# The connection broke after sending: retry only idempotent calls (incl. keyed ones).
_MAYBE_SENT = (httpx.ReadError, httpx.RemoteProtocolError, httpx.WriteError, httpx.ReadTimeout)
# Gateway answers after which any call may be retried: the request was refused before a worker
# ran it (503 from a worker at its concurrency limit). 502 and 504 may follow a worker that died
# or stalled mid-request, so they are retried for idempotent calls only.
_NOT_RUN_STATUSES = frozenset({503})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``attempts`` tries in total; delays ``base · 2^n`` capped at ``max_delay`` seconds.

    The default (5 tries: waits of 0.1, 0.2, 0.4 and 0.8 s) rides out a worker being
    recycled, killed or reloaded behind a proxy; a training run that must survive longer
    outages (a restarting Redis) passes a policy with more attempts.
    """

    attempts: int = 5
    base_delay: float = 0.1
    max_delay: float = 2.0
    retry_statuses: frozenset[int] = frozenset({502, 503, 504})

    def delay(self, attempt: int) -> float:
        return float(min(self.max_delay, self.base_delay * (2**attempt)))

    def after_response(self, attempt: int, call: Call, response: httpx.Response) -> float | None:
        """Seconds to wait before another try, or None to use this response."""
        status = response.status_code
        if status not in self.retry_statuses or attempt + 1 >= self.attempts:
            return None
        if call.idempotent or status in _NOT_RUN_STATUSES:
            return self.delay(attempt)
        return None

    def after_error(self, attempt: int, call: Call, error: httpx.TransportError) -> float | None:
        """Seconds to wait before another try, or None to give up and raise."""
        if attempt + 1 >= self.attempts:
            return None
        if isinstance(error, _NOT_SENT) or (call.idempotent and isinstance(error, _MAYBE_SENT)):
            return self.delay(attempt)
        return None


NO_RETRY = RetryPolicy(attempts=1)
