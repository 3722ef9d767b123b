"""Exactly-once observations over retries (Idempotency-Key, observe-sequence unique_ids).

In-process tests on the memory backend check the rules; a real 4-worker server on the
embedded backend checks the client's retries end to end, with a transport that drops the
connection after the server has answered (the case a plain retry would double-apply).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kato.client import KatoClient, KatoConnectionError, RetryPolicy
from kato.engine.types import SessionState
from kato.service import idempotency
from kato.service.app import create_app
from kato.service.settings import load_settings
from kato.storage.memory import MemoryBackend
from tests.service.server import KatoServer

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

FAST = RetryPolicy(attempts=4, base_delay=0.001, max_delay=0.002)


@pytest.fixture
def api() -> Iterator[TestClient]:
    app = create_app(load_settings(), MemoryBackend())
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def new_session(api: TestClient, **config: object) -> str:
    body = {"node_id": "once", "config": config} if config else {"node_id": "once"}
    response = api.post("/sessions", json=body)
    assert response.status_code == 200
    return str(response.json()["session_id"])


def test_observe_retry_returns_first_bytes_and_changes_nothing(api: TestClient) -> None:
    sid = new_session(api)
    key = {"Idempotency-Key": "obs-1"}
    first = api.post(f"/sessions/{sid}/observe", json={"strings": ["b", "a"]}, headers=key)
    again = api.post(f"/sessions/{sid}/observe", json={"strings": ["b", "a"]}, headers=key)
    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert api.get(f"/sessions/{sid}/stm").json()["stm"] == [["a", "b"]]
    other = api.post(
        f"/sessions/{sid}/observe", json={"strings": ["c"]}, headers={"Idempotency-Key": "obs-2"}
    )
    assert other.json()["time"] == 2 and other.json()["unique_id"] != first.json()["unique_id"]
    # Without a key the same body is simply observed again.
    plain = api.post(f"/sessions/{sid}/observe", json={"strings": ["c"]})
    assert plain.json()["time"] == 3


def test_key_is_scoped_to_the_session(api: TestClient) -> None:
    one, two = new_session(api), new_session(api)
    key = {"Idempotency-Key": "shared"}
    api.post(f"/sessions/{one}/observe", json={"strings": ["x"]}, headers=key)
    second = api.post(f"/sessions/{two}/observe", json={"strings": ["x"]}, headers=key)
    assert "idempotent-replayed" not in second.headers
    assert api.get(f"/sessions/{two}/stm").json()["stm"] == [["x"]]


def test_key_reused_for_another_request_is_409_and_changes_nothing(api: TestClient) -> None:
    sid = new_session(api)
    key = {"Idempotency-Key": "k"}
    api.post(f"/sessions/{sid}/observe", json={"strings": ["a"]}, headers=key)
    clash = api.post(f"/sessions/{sid}/observe", json={"strings": ["z"]}, headers=key)
    assert clash.status_code == 409
    assert clash.json()["detail"]["error"] == "IdempotencyKeyReused"
    assert "'k'" in clash.json()["detail"]["message"]
    learn_clash = api.post(f"/sessions/{sid}/learn", headers=key)
    assert learn_clash.status_code == 409
    assert api.get(f"/sessions/{sid}/stm").json()["stm"] == [["a"]]


@pytest.mark.parametrize("bad", ["", "has space", "x" * 256, "tab\tkey"])
def test_invalid_keys_are_rejected(api: TestClient, bad: str) -> None:
    sid = new_session(api)
    response = api.post(
        f"/sessions/{sid}/observe", json={"strings": ["a"]}, headers={"Idempotency-Key": bad}
    )
    assert response.status_code == 422
    assert api.get(f"/sessions/{sid}/stm").json()["stm"] == []


def test_observe_sequence_header_and_unique_ids(api: TestClient) -> None:
    sid = new_session(api)
    batch = {
        "observations": [
            {"strings": ["a"], "unique_id": "u1"},
            {"strings": ["b"], "unique_id": "u2"},
        ],
        "learn_at_end": True,
    }
    first = api.post(f"/sessions/{sid}/observe-sequence", json=batch)
    again = api.post(f"/sessions/{sid}/observe-sequence", json=batch)
    assert again.content == first.content and again.headers["idempotent-replayed"] == "true"
    name = first.json()["final_learned_pattern"]
    assert (
        api.get(f"/pattern/{name}", params={"node_id": "once"}).json()["pattern"]["pattern"][
            "frequency"
        ]
        == 1
    )
    # Same unique ids, different contents: a new request (ids are labels for 3.10.1 clients).
    changed = {
        **batch,
        "observations": [
            {"strings": ["c"], "unique_id": "u1"},
            {"strings": ["d"], "unique_id": "u2"},
        ],
    }
    assert (
        "idempotent-replayed"
        not in api.post(f"/sessions/{sid}/observe-sequence", json=changed).headers
    )
    # A header names the whole batch, also when items have no unique_id.
    plain = {"observations": [{"strings": ["e"]}, {"strings": ["f"]}], "learn_at_end": True}
    key = {"Idempotency-Key": "batch-1"}
    one = api.post(f"/sessions/{sid}/observe-sequence", json=plain, headers=key)
    two = api.post(f"/sessions/{sid}/observe-sequence", json=plain, headers=key)
    assert one.content == two.content
    # Without a key or complete unique ids a repeated batch is trained again.
    again_plain = api.post(f"/sessions/{sid}/observe-sequence", json=plain)
    learned = again_plain.json()["final_learned_pattern"]
    assert learned == one.json()["final_learned_pattern"]
    assert (
        api.get(f"/pattern/{learned}", params={"node_id": "once"}).json()["pattern"]["pattern"][
            "frequency"
        ]
        == 2
    )


def test_learn_retry_is_replayed_not_relearned(api: TestClient) -> None:
    sid = new_session(api)
    api.post(f"/sessions/{sid}/observe", json={"strings": ["p", "q"]})
    key = {"Idempotency-Key": "learn-1"}
    first = api.post(f"/sessions/{sid}/learn", headers=key)
    again = api.post(f"/sessions/{sid}/learn", headers=key)
    assert first.status_code == again.status_code == 200 and first.content == again.content
    name = first.json()["pattern_name"]
    assert (
        api.get(f"/pattern/{name}", params={"node_id": "once"}).json()["pattern"]["pattern"][
            "frequency"
        ]
        == 1
    )
    # Without the key the retry would have hit an empty STM.
    assert api.post(f"/sessions/{sid}/learn").status_code == 400


def test_a_failed_request_records_nothing(api: TestClient) -> None:
    sid = new_session(api)
    key = {"Idempotency-Key": "learn-early"}
    assert api.post(f"/sessions/{sid}/learn", headers=key).status_code == 400  # empty STM
    api.post(f"/sessions/{sid}/observe", json={"strings": ["m", "n"]})
    later = api.post(f"/sessions/{sid}/learn", headers=key)
    assert later.status_code == 200 and "idempotent-replayed" not in later.headers
    assert later.json()["pattern_name"].startswith("PTRN|")


def test_log_is_bounded_by_count_and_size_newest_always_kept() -> None:
    state = SessionState()
    for i in range(idempotency.MAX_KEYS + 50):
        idempotency.remember(state, f"key:{i}", "f", "x" * 10)
    assert len(state.idempotency) == idempotency.MAX_KEYS
    assert (
        state.idempotency[0][0] == "key:50"
        and state.idempotency[-1][0] == f"key:{idempotency.MAX_KEYS + 49}"
    )
    huge = "y" * (idempotency.MAX_BYTES + 1)
    idempotency.remember(state, "key:huge", "f", huge)
    assert [entry[0] for entry in state.idempotency] == ["key:huge"]
    idempotency.remember(state, "key:small", "f", "z")
    assert [entry[0] for entry in state.idempotency] == ["key:small"]


def test_log_survives_clear_stm_and_session_round_trip(api: TestClient) -> None:
    sid = new_session(api)
    key = {"Idempotency-Key": "keep"}
    first = api.post(f"/sessions/{sid}/observe", json={"strings": ["a"]}, headers=key)
    api.post(f"/sessions/{sid}/clear-stm")
    again = api.post(f"/sessions/{sid}/observe", json={"strings": ["a"]}, headers=key)
    assert again.content == first.content
    assert api.get(f"/sessions/{sid}/stm").json()["stm"] == []
    assert SessionState.from_dict(
        SessionState(idempotency=[["k", "f", "b"]]).to_dict()
    ).idempotency == [["k", "f", "b"]]


class DropAfterResponse(httpx.BaseTransport):
    """Forwards to the real server, then loses the answer of selected attempts."""

    def __init__(self, drop_every: int) -> None:
        self.inner = httpx.HTTPTransport()
        self.drop_every = drop_every
        self.attempts = 0
        self.dropped = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        response.read()
        self.attempts += 1
        if request.method == "POST" and self.attempts % self.drop_every == 0:
            self.dropped += 1
            raise httpx.ReadError("connection lost after the server answered", request=request)
        return response


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KatoServer]:
    data_dir: Path = tmp_path_factory.mktemp("once-data")
    with KatoServer(data_dir, workers=4) as running:
        yield running


def test_client_retries_lost_answers_without_duplicates(server: KatoServer) -> None:
    """Every third POST's answer is lost after the server applied it: the client retries with
    the same key and the session and knowledge base hold each observation and learn once."""
    transport = DropAfterResponse(drop_every=3)
    with KatoClient(server.base_url, retry=FAST, transport=transport) as client:
        sid = client.create_session("once-real", config={"process_predictions": False})[
            "session_id"
        ]
        names = []
        for i in range(30):
            client.observe(sid, [f"s{i}"])
            client.observe_sequence(sid, [{"strings": [f"t{i}"]}, {"strings": [f"u{i}"]}])
            names.append(client.learn(sid)["pattern_name"])
        stm_after = client.get_stm(sid)["stm"]
    assert transport.dropped >= 25
    assert stm_after == []
    assert len(set(names)) == 30
    frequencies = {
        name: KatoClient(server.base_url).get_pattern(name, "once-real")["pattern"]["pattern"][
            "frequency"
        ]
        for name in names
    }
    assert set(frequencies.values()) == {1}


def test_without_keys_a_lost_answer_is_an_error_not_a_silent_duplicate(server: KatoServer) -> None:
    transport = DropAfterResponse(drop_every=2)
    with KatoClient(
        server.base_url, retry=FAST, transport=transport, idempotency_keys=False
    ) as client:
        sid = client.create_session("once-plain")["session_id"]
        with pytest.raises(KatoConnectionError):
            client.observe(sid, ["a"])
        assert client.get_stm(sid)["stm"] == [["a"]]
