"""Exactly-once requests over retries: idempotency keys and the per-session replay log.

A client that may retry a request (dropped connection, 502/503/504 from a proxy while a worker
is recycled or killed) sends the same ``Idempotency-Key`` header on every attempt. The first
attempt that completes records ``[key, request fingerprint, response body]`` in the session's
state (``SessionState.idempotency``), which is written in the same save, under the same
per-session lock, as the state change the request made. A later request with the same key on
the same session therefore either sees the record (and gets the recorded body back byte for
byte, with ``Idempotent-Replayed: true``, changing nothing) or finds no record because the first
attempt's changes were never saved (and is applied as the first attempt).

Which requests carry a key:

* ``/observe``, ``/observe-sequence`` and ``/learn``: the ``Idempotency-Key`` header (1-255
  visible ASCII characters; anything else is a 422 validation error). On ``/observe-sequence``
  the header names the whole batch.
* ``/observe-sequence`` without the header, when every item has a ``unique_id``: the batch key is
  derived from the items' ``unique_id`` values in order (``items:<sha256>``). A KATO 3.10.1
  client that resends a batch with the same unique ids after a dropped connection gets the
  first result. Because unique ids are client labels that such clients may reuse, a derived key
  whose request differs (other contents or flags) is simply a new request, never an error.

A header key reused for a *different* request (another route, body or flags) is a client bug:
409 ``{"detail": {"error": "IdempotencyKeyReused", ...}}`` and nothing changes (409, not 422:
the 422 body family is reserved for FastAPI's validation list).

The log is bounded: the newest :data:`MAX_KEYS` records whose bodies total at most
:data:`MAX_BYTES` characters; the newest record is always kept, whatever its size, so the
request a client is most likely to retry (its last one) can always be replayed.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

from fastapi import Header
from fastapi.responses import Response

from kato.engine.types import SessionState
from kato.service.errors import ApiError
from kato.service.json_response import encode
from kato.service.models import ErrorDetail

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# The log is read and written with the session on every request, so it is kept
# small: 64 records cover 64 keyed requests of one session in flight at once,
# and a client only ever retries requests that are still in flight.
MAX_KEYS = 64
MAX_BYTES = 64 * 1024
MAX_KEY_LENGTH = 255
DERIVED_PREFIX = "items:"

HEADER_PREFIX = "key:"

# The answer to a key reused for another request, for the routes' OpenAPI ``responses``.
KEY_REUSED_RESPONSE: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorDetail, "description": f"{HEADER} reused for a different request"}
}

# The header as a route parameter: validated by FastAPI (422 with the usual body when invalid)
# and documented in the OpenAPI schema of every route that honours it.
IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias=HEADER,
        min_length=1,
        max_length=MAX_KEY_LENGTH,
        pattern=r"^[\x21-\x7e]+$",
        description="Client-chosen key (1-255 visible ASCII characters) naming this request: "
        "a retry with the same key on the same session returns the first response and "
        "changes nothing (docs/reliability.md).",
    ),
]


def header_key(value: str | None) -> str | None:
    """The log key of a validated ``Idempotency-Key`` header value (None when absent)."""
    return None if value is None else HEADER_PREFIX + value


def derived_key(unique_ids: list[str | None]) -> str | None:
    """The batch key of an observe-sequence whose items all carry a ``unique_id``."""
    if not unique_ids or any(uid is None for uid in unique_ids):
        return None
    digest = hashlib.sha256(json.dumps(unique_ids, ensure_ascii=False).encode()).hexdigest()
    return DERIVED_PREFIX + digest


def fingerprint(route: str, payload: Any) -> str:
    """A digest of the route and the validated request (what a true retry repeats exactly)."""
    canonical = json.dumps([route, payload], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class Ledger:
    """The idempotency view of one session's state, used inside ``SessionService.open``."""

    def __init__(self, state: SessionState, key: str | None, request_fingerprint: str) -> None:
        self.state = state
        self.key = key
        self.fingerprint = request_fingerprint

    def replay(self) -> Response | None:
        """The recorded response of this request, if it was already applied."""
        if self.key is None:
            return None
        for key, recorded_fingerprint, body in reversed(self.state.idempotency):
            if key != self.key:
                continue
            if recorded_fingerprint == self.fingerprint:
                return replayed(body)
            if self.key.startswith(DERIVED_PREFIX):
                return None  # same unique ids, other contents: a new request
            raise ApiError(
                409,
                {
                    "error": "IdempotencyKeyReused",
                    "message": f"{HEADER} {self.key.removeprefix(HEADER_PREFIX)!r} was already "
                    "used on this session "
                    "for a different request",
                },
            )
        return None

    def respond(self, state: SessionState, content: Any) -> Any:
        """Record ``content`` as this request's response in ``state``; return what to send."""
        if self.key is None:
            return content
        body = encode(content)
        remember(state, self.key, self.fingerprint, body.decode("utf-8"))
        return Response(content=body, media_type="application/json")


def replayed(body: str) -> Response:
    return Response(
        content=body.encode("utf-8"),
        media_type="application/json",
        headers={REPLAYED_HEADER: "true"},
    )


def remember(state: SessionState, key: str, request_fingerprint: str, body: str) -> None:
    """Append a record (replacing one with the same key) and trim the log to its bounds."""
    entries = [entry for entry in state.idempotency if entry[0] != key]
    entries.append([key, request_fingerprint, body])
    kept: list[list[str]] = []
    size = 0
    for entry in reversed(entries):
        size += len(entry[2])
        if kept and (len(kept) >= MAX_KEYS or size > MAX_BYTES):
            break
        kept.append(entry)
    kept.reverse()
    state.idempotency = kept
