"""What is known about the request being served, for its access log line.

The trace middleware starts a :class:`RequestInfo` per request; code deeper down (the storage
proxy, which sees the session record) fills in the node and session ids. Route handlers run in a
thread pool with a *copy* of the context, so the variable holds a mutable object: changes made in
the thread are visible to the middleware afterwards.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from dataclasses import dataclass


@dataclass(slots=True)
class RequestInfo:
    trace_id: str
    node_id: str | None = None
    session_id: str | None = None


_current: ContextVar[RequestInfo | None] = ContextVar("kato_request_info", default=None)


def begin(trace_id: str) -> tuple[RequestInfo, Token[RequestInfo | None]]:
    info = RequestInfo(trace_id)
    return info, _current.set(info)


def end(token: Token[RequestInfo | None]) -> None:
    _current.reset(token)


def current() -> RequestInfo | None:
    return _current.get()


def note_session(session_id: str, node_id: str | None) -> None:
    """The request works on this session (of this node); the first one noted wins."""
    info = _current.get()
    if info is None:
        return
    if info.session_id is None:
        info.session_id = session_id
    if info.node_id is None and node_id is not None:
        info.node_id = node_id
