"""The blocking client."""

from __future__ import annotations

import time
from types import TracebackType

import httpx

from kato.client.api import KatoApi, client_options
from kato.client.calls import Call, JSONObject, decode
from kato.client.errors import KatoConnectionError
from kato.client.retry import RetryPolicy


class KatoClient(KatoApi[JSONObject]):
    """``KatoClient("http://127.0.0.1:8000")``; every method returns the JSON body."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        headers: dict[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        idempotency_keys: bool = True,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self.idempotency_keys = idempotency_keys
        self._http = httpx.Client(
            base_url=base_url, transport=transport, **client_options(timeout, headers)
        )

    def _send(self, call: Call) -> JSONObject:
        attempt = 0
        while True:
            try:
                response = self._http.request(
                    call.method, call.path, params=call.params, json=call.json, headers=call.headers
                )
            except httpx.TransportError as error:
                wait = self.retry.after_error(attempt, call, error)
                if wait is None:
                    raise KatoConnectionError(str(error)) from error
            else:
                wait = self.retry.after_response(attempt, call, response)
                if wait is None:
                    return decode(call, response)
            time.sleep(wait)
            attempt += 1

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> KatoClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
