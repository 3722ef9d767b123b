"""The asyncio client (same methods as :class:`~kato.client.KatoClient`, awaitable)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from types import TracebackType

import httpx

from kato.client.api import KatoApi, client_options
from kato.client.calls import Call, JSONObject, decode
from kato.client.errors import KatoConnectionError
from kato.client.retry import RetryPolicy


class AsyncKatoClient(KatoApi[Awaitable[JSONObject]]):
    """``async with AsyncKatoClient(url) as kato: await kato.observe(...)``."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        headers: dict[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        idempotency_keys: bool = True,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self.idempotency_keys = idempotency_keys
        self._http = httpx.AsyncClient(
            base_url=base_url, transport=transport, **client_options(timeout, headers)
        )

    def _send(self, call: Call) -> Awaitable[JSONObject]:
        return self._send_async(call)

    async def _send_async(self, call: Call) -> JSONObject:
        attempt = 0
        while True:
            try:
                response = await self._http.request(
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
            await asyncio.sleep(wait)
            attempt += 1

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncKatoClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
