"""Every KATO endpoint, written once for both clients.

:class:`KatoApi` is generic in what ``_send`` returns: the sync client returns the
decoded JSON object, the async client an awaitable of it.
"""

from __future__ import annotations

import functools
import ssl
import uuid
from abc import ABC, abstractmethod
from typing import Any, Generic, TypeVar

import httpx

from kato.client.calls import IDEMPOTENCY_HEADER, Call, JSONObject, observation_body, segment

R = TypeVar("R")


class KatoApi(ABC, Generic[R]):
    """The routes of api.md §4 as methods. Each returns the response body as a dict.

    ``observe``, ``observe_sequence`` and ``learn`` send an ``Idempotency-Key`` (a fresh uuid4
    per call unless one is given), the same on every retry of that call, so the server applies
    the call once however many attempts reach it (docs/reliability.md). Such calls are retried
    after dropped connections and 502/503/504 like idempotent ones. With
    ``idempotency_keys=False`` on the client no key is sent and those calls are not retried once
    the request may have been sent.
    """

    idempotency_keys: bool = True

    @abstractmethod
    def _send(self, call: Call) -> R: ...

    def _keyed(self, method: str, path: str, key: str | None, json: Any = None) -> Call:
        """A state-changing call made safe to retry by an idempotency key."""
        if key is None and self.idempotency_keys:
            key = uuid.uuid4().hex
        if key is None:
            return Call(method, path, json=json, idempotent=False)
        return Call(method, path, json=json, headers={IDEMPOTENCY_HEADER: key}, idempotent=True)

    # -- sessions ----------------------------------------------------------------
    def create_session(
        self,
        node_id: str,
        *,
        metadata: JSONObject | None = None,
        ttl_seconds: int | None = None,
        config: JSONObject | None = None,
    ) -> R:
        body: JSONObject = {"node_id": node_id}
        if metadata is not None:
            body["metadata"] = metadata
        if ttl_seconds is not None:
            body["ttl_seconds"] = ttl_seconds
        if config is not None:
            body["config"] = config
        return self._send(Call("POST", "/sessions", json=body, idempotent=False))

    def get_session(self, session_id: str) -> R:
        return self._send(Call("GET", f"/sessions/{segment(session_id)}"))

    def session_exists(self, session_id: str) -> R:
        return self._send(Call("GET", f"/sessions/{segment(session_id)}/exists"))

    def session_count(self) -> R:
        return self._send(Call("GET", "/sessions/count"))

    def delete_session(self, session_id: str) -> R:
        return self._send(Call("DELETE", f"/sessions/{segment(session_id)}"))

    def extend_session(self, session_id: str, ttl_seconds: int = 3600) -> R:
        path = f"/sessions/{segment(session_id)}/extend"
        return self._send(Call("POST", path, params={"ttl_seconds": ttl_seconds}))

    # -- configuration -----------------------------------------------------------
    def get_config(self, session_id: str) -> R:
        return self._send(Call("GET", f"/sessions/{segment(session_id)}/config"))

    def update_config(self, session_id: str, config: JSONObject) -> R:
        path = f"/sessions/{segment(session_id)}/config"
        return self._send(Call("POST", path, json={"config": config}))

    # -- observations and learning -----------------------------------------------
    def observe(
        self,
        session_id: str,
        strings: list[str] | None = None,
        *,
        vectors: list[list[float]] | None = None,
        emotives: dict[str, float] | None = None,
        metadata: JSONObject | None = None,
        idempotency_key: str | None = None,
    ) -> R:
        body = observation_body(strings, vectors, emotives, metadata)
        path = f"/sessions/{segment(session_id)}/observe"
        return self._send(self._keyed("POST", path, idempotency_key, body))

    def observe_sequence(
        self,
        session_id: str,
        observations: list[JSONObject],
        *,
        learn_after_each: bool = False,
        learn_at_end: bool = False,
        clear_stm_between: bool = False,
        idempotency_key: str | None = None,
    ) -> R:
        body = {
            "observations": observations,
            "learn_after_each": learn_after_each,
            "learn_at_end": learn_at_end,
            "clear_stm_between": clear_stm_between,
        }
        path = f"/sessions/{segment(session_id)}/observe-sequence"
        return self._send(self._keyed("POST", path, idempotency_key, body))

    def get_stm(self, session_id: str) -> R:
        return self._send(Call("GET", f"/sessions/{segment(session_id)}/stm"))

    def learn(self, session_id: str, *, idempotency_key: str | None = None) -> R:
        path = f"/sessions/{segment(session_id)}/learn"
        return self._send(self._keyed("POST", path, idempotency_key))

    def finalize_training(self, session_id: str) -> R:
        return self._send(Call("POST", f"/sessions/{segment(session_id)}/finalize-training"))

    def clear_stm(self, session_id: str) -> R:
        return self._send(Call("POST", f"/sessions/{segment(session_id)}/clear-stm"))

    def clear_all(self, session_id: str) -> R:
        return self._send(Call("POST", f"/sessions/{segment(session_id)}/clear-all"))

    # -- session data --------------------------------------------------------------
    def predictions(self, session_id: str) -> R:
        return self._send(Call("GET", f"/sessions/{segment(session_id)}/predictions"))

    def percept_data(self, session_id: str) -> R:
        return self._send(Call("GET", f"/sessions/{segment(session_id)}/percept-data"))

    def cognition_data(self, session_id: str) -> R:
        return self._send(Call("GET", f"/sessions/{segment(session_id)}/cognition-data"))

    # -- node-scoped ---------------------------------------------------------------
    def get_pattern(self, pattern_id: str, node_id: str) -> R:
        path = f"/pattern/{segment(pattern_id)}"
        return self._send(Call("GET", path, params={"node_id": node_id}))

    def symbol_stats(self, node_id: str) -> R:
        return self._send(Call("GET", "/symbols/stats", params={"node_id": node_id}))

    def symbol_affinities(self, node_id: str) -> R:
        return self._send(Call("GET", "/symbols/affinity", params={"node_id": node_id}))

    def symbol_affinity(self, symbol: str, node_id: str) -> R:
        path = f"/symbols/{segment(symbol)}/affinity"
        return self._send(Call("GET", path, params={"node_id": node_id}))

    # -- service -------------------------------------------------------------------
    def health(self) -> R:
        return self._send(Call("GET", "/health"))

    def status(self) -> R:
        return self._send(Call("GET", "/status"))


def client_options(timeout: float, headers: dict[str, str] | None) -> dict[str, Any]:
    return {"timeout": timeout, "headers": headers or {}, "verify": default_ssl_context()}


@functools.cache
def default_ssl_context() -> ssl.SSLContext:
    """httpx's default verifying context, built once per process and shared by every client.

    httpx builds one for each client it creates, even for ``http://`` URLs, and loading the
    certificate bundle takes tens of milliseconds (28 ms here): more than a hundred requests'
    worth of client CPU for code that opens a client per task. ``SSL_CERT_FILE`` and
    ``SSL_CERT_DIR`` are read when the first client is created.
    """
    return httpx.create_ssl_context()
