"""The Python clients: retries and error mapping (mock transport) and a real-server round trip."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kato.client import (
    AsyncKatoClient,
    KatoClient,
    KatoConnectionError,
    KatoRequestError,
    KatoServerError,
    KatoValidationError,
    RetryPolicy,
    SessionNotFoundError,
)
from tests.service.server import KatoServer

FAST = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.002)


def flaky_transport(
    failures: list[httpx.Response | Exception],
) -> tuple[httpx.MockTransport, list[str]]:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        if failures:
            outcome = failures.pop(0)
            if isinstance(outcome, Exception):
                raise outcome
            return outcome
        return httpx.Response(200, json={"status": "ok"})

    return httpx.MockTransport(handler), seen


def test_retries_gateway_errors_then_succeeds() -> None:
    transport, seen = flaky_transport([httpx.Response(503), httpx.Response(502)])
    with KatoClient("http://kato", transport=transport, retry=FAST) as client:
        assert client.health() == {"status": "ok"}
    assert len(seen) == 3


def test_gives_up_after_bounded_attempts() -> None:
    transport, seen = flaky_transport([httpx.Response(503, json={"detail": "x"})] * 5)
    client = KatoClient("http://kato", transport=transport, retry=FAST)
    with client, pytest.raises(KatoServerError) as info:
        client.health()
    assert info.value.status_code == 503
    assert len(seen) == 3


def test_connection_errors_retried_even_for_observe() -> None:
    request = httpx.Request("POST", "http://kato/sessions/s/observe")
    transport, seen = flaky_transport([httpx.ConnectError("refused", request=request)])
    with KatoClient("http://kato", transport=transport, retry=FAST) as client:
        assert client.observe("s", ["a"]) == {"status": "ok"}
    assert seen == ["POST /sessions/s/observe"] * 2


def test_dropped_connection_retried_for_keyed_observe_with_the_same_key() -> None:
    keys: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        keys.append(request.headers.get("idempotency-key"))
        if len(keys) == 1:
            raise httpx.ReadError("reset", request=request)
        if len(keys) == 2:
            return httpx.Response(502)
        return httpx.Response(200, json={"status": "okay"})

    client = KatoClient("http://kato", transport=httpx.MockTransport(handler), retry=FAST)
    with client:
        assert client.observe("s", ["a"]) == {"status": "okay"}
        assert client.learn("s", idempotency_key="mine") == {"status": "okay"}
    assert len(keys) == 4 and keys[0] is not None and len(keys[0]) == 32
    assert keys[:3] == [keys[0]] * 3 and keys[3] == "mine"


def test_dropped_connection_not_retried_for_unkeyed_observe() -> None:
    request = httpx.Request("POST", "http://kato/sessions/s/observe")
    transport, seen = flaky_transport([httpx.ReadError("reset", request=request)])
    client = KatoClient("http://kato", transport=transport, retry=FAST, idempotency_keys=False)
    with client, pytest.raises(KatoConnectionError):
        client.observe("s", ["a"])
    assert len(seen) == 1


def test_gateway_error_after_unkeyed_create_not_retried() -> None:
    transport, seen = flaky_transport([httpx.Response(502, json={"detail": "bad gateway"})])
    client = KatoClient("http://kato", transport=transport, retry=FAST)
    with client, pytest.raises(KatoServerError):
        client.create_session("n")
    assert len(seen) == 1


def test_async_client_shares_the_retry_logic() -> None:
    failures: list[httpx.Response | Exception] = [httpx.Response(504)]

    async def handler(request: httpx.Request) -> httpx.Response:
        if failures:
            outcome = failures.pop(0)
            assert isinstance(outcome, httpx.Response)
            return outcome
        return httpx.Response(200, json={"active_session_count": 2})

    async def run() -> dict[str, object]:
        transport = httpx.MockTransport(handler)
        async with AsyncKatoClient("http://kato", transport=transport, retry=FAST) as client:
            return await client.session_count()

    assert asyncio.run(run()) == {"active_session_count": 2}


def test_error_mapping_by_status() -> None:
    mw404 = {"error": {"code": "SESSION_NOT_FOUND", "message": "m", "session_id": "x"}}
    cases: list[tuple[httpx.Response, type[Exception]]] = [
        (httpx.Response(404, json=mw404), SessionNotFoundError),
        (httpx.Response(400, json={"detail": "Cannot learn from empty STM"}), KatoRequestError),
        (httpx.Response(422, json={"detail": []}), KatoValidationError),
    ]
    for response, error in cases:
        transport, _ = flaky_transport([response])
        client = KatoClient("http://kato", transport=transport, retry=FAST)
        with client, pytest.raises(error):
            client.learn("x")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KatoServer]:
    data_dir: Path = tmp_path_factory.mktemp("client-data")
    with KatoServer(data_dir) as running:
        yield running


def test_clients_share_one_verifying_ssl_context() -> None:
    def context_of(client: KatoClient | AsyncKatoClient) -> object:
        return client._http._transport._pool._ssl_context  # type: ignore[union-attr]

    with KatoClient("http://127.0.0.1:1") as first, KatoClient("https://127.0.0.1:1") as second:
        async_client = AsyncKatoClient("http://127.0.0.1:1")
        shared = context_of(first)
        assert context_of(second) is shared and context_of(async_client) is shared
        asyncio.run(async_client.aclose())
    assert shared.verify_mode is ssl.CERT_REQUIRED and shared.check_hostname  # type: ignore[attr-defined]


def test_round_trip_against_real_server(server: KatoServer) -> None:
    with KatoClient(server.base_url) as kato:
        session = kato.create_session("client-node", config={"recall_threshold": 0.2})
        sid = session["session_id"]
        assert session["session_config"]["recall_threshold"] == 0.2
        for word in ("alpha", "beta", "gamma"):
            kato.observe(sid, [word], emotives={"joy": 1.0})
        learned = kato.learn(sid)
        assert learned["pattern_name"] == "PTRN|24e0f524f26eecfb14849cf3b3b57c44f3e705c2"
        kato.observe_sequence(sid, [{"strings": ["alpha"]}, {"strings": ["beta"]}])
        predictions = kato.predictions(sid)
        assert [p["future"] for p in predictions["predictions"]] == [[["gamma"]]]
        pattern = kato.get_pattern(learned["pattern_name"], "client-node")
        assert pattern["pattern"]["pattern"]["frequency"] == 1
        assert kato.symbol_stats("client-node")["symbols"]["alpha"]["frequency"] == 1
        assert kato.symbol_affinity("alpha", "client-node")["affinity"] == {"joy": 1.0}
        kato.update_config(sid, {"max_predictions": 5})
        assert kato.get_config(sid)["config"]["max_predictions"] == 5
        assert kato.extend_session(sid, 600)["ttl_seconds"] == 600
        assert kato.finalize_training(sid)["patterns_processed"] == 1
        kato.clear_stm(sid)
        assert kato.get_stm(sid)["length"] == 0
        assert kato.delete_session(sid)["status"] == "deleted"
        with pytest.raises(SessionNotFoundError):
            kato.get_stm(sid)


def test_async_round_trip_against_real_server(server: KatoServer) -> None:
    async def run() -> list[str]:
        async with AsyncKatoClient(server.base_url) as kato:
            sid = (await kato.create_session("async-node"))["session_id"]
            await asyncio.gather(*(kato.observe(sid, [f"s{i}"]) for i in range(5)))
            stm = (await kato.get_stm(sid))["stm"]
            return sorted(symbol for event in stm for symbol in event)

    assert asyncio.run(run()) == ["s0", "s1", "s2", "s3", "s4"]
