"""The KB/session window of docs/reliability.md: a learn stored, the session save lost.

The session store below fails the save that would record a request's outcome (as if the
worker died or the store dropped the write after the knowledge base had committed the
learn). The client then retries with the same Idempotency-Key: the session replay log
knows nothing, the request runs again, and only the learn tokens keep the knowledge base
from counting the learn twice. Memory and embedded backends, in process.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kato.service.app import create_app
from kato.service.settings import load_settings
from kato.storage.embedded import EmbeddedBackend
from kato.storage.memory import MemoryBackend
from kato.storage.ports import Backend, SessionRecord, SessionStore, StorageUnavailableError

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

NODE = "retry-node"


class LosesOneSave:
    """A session store that drops the save recording the armed idempotency key, once."""

    def __init__(self, inner: SessionStore) -> None:
        self._inner = inner
        self.armed: str | None = None  # an idempotency key ("key:<header>")
        self.armed_session: str | None = None  # a session whose next save after a learn
        self.lost = 0

    def save(self, record: SessionRecord) -> None:
        keyed = self.armed is not None and any(
            entry[0] == self.armed for entry in record.state.idempotency
        )
        learned = record.session_id == self.armed_session and not record.state.stm
        if keyed or learned:
            self.armed = self.armed_session = None
            self.lost += 1
            raise StorageUnavailableError("sessions", "save lost after the learn (test)")
        self._inner.save(record)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@pytest.fixture(params=["memory", "embedded"])
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[TestClient, Any]]:
    backend: Backend = (
        MemoryBackend() if request.param == "memory" else EmbeddedBackend(tmp_path / "data")
    )
    store = LosesOneSave(backend.sessions)
    backend.sessions = store  # type: ignore[misc]
    app = create_app(load_settings(), backend)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            yield client, store
    finally:
        backend.close()


def session(api: TestClient, **config: object) -> str:
    response = api.post("/sessions", json={"node_id": NODE, "config": config})
    assert response.status_code == 200
    return str(response.json()["session_id"])


def frequency(api: TestClient, name: str) -> int:
    body = api.get(f"/pattern/{name}", params={"node_id": NODE}).json()
    return int(body["pattern"]["pattern"]["frequency"])


def symbol_frequency(api: TestClient, symbol: str) -> int:
    body = api.get("/symbols/stats", params={"node_id": NODE}).json()
    return int(body["symbols"][symbol]["frequency"])


def lose_then_retry(api: TestClient, store: LosesOneSave, key: str, *call: Any) -> Any:
    """Send the request twice with ``key``; the first answer is lost with its session save."""
    method, path, body = call
    store.armed = "key:" + key
    headers = {"Idempotency-Key": key}
    first = api.request(method, path, json=body, headers=headers)
    assert first.status_code == 503 and store.lost == 1
    second = api.request(method, path, json=body, headers=headers)
    assert second.status_code == 200 and "idempotent-replayed" not in second.headers
    third = api.request(method, path, json=body, headers=headers)
    assert third.headers["idempotent-replayed"] == "true" and third.content == second.content
    return second.json()


def test_manual_learn_counts_once(setup: tuple[TestClient, LosesOneSave]) -> None:
    api, store = setup
    sid = session(api)
    for strings in (["a"], ["b"]):
        api.post(f"/sessions/{sid}/observe", json={"strings": strings})
    body = lose_then_retry(api, store, "learn-1", "POST", f"/sessions/{sid}/learn", None)
    name = body["pattern_name"]
    assert name.startswith("PTRN|")
    assert frequency(api, name) == 1
    assert symbol_frequency(api, "a") == 1


def test_auto_learn_in_observe_counts_once(setup: tuple[TestClient, LosesOneSave]) -> None:
    api, store = setup
    sid = session(api, max_pattern_length=2)
    api.post(f"/sessions/{sid}/observe", json={"strings": ["x"]})
    body = lose_then_retry(
        api, store, "obs-2", "POST", f"/sessions/{sid}/observe", {"strings": ["y"]}
    )
    name = body["auto_learned_pattern"]
    assert name is not None
    assert frequency(api, name) == 1
    assert symbol_frequency(api, "y") == 1


BATCHES = {
    "learn_after_each": (
        {},
        {
            "observations": [{"strings": ["p", "q"]}, {"strings": ["p", "r"]}],
            "learn_after_each": True,
        },
    ),
    "learn_at_end": (
        {},
        {"observations": [{"strings": ["p"]}, {"strings": ["q", "r"]}], "learn_at_end": True},
    ),
    "auto_learn": (
        {"max_pattern_length": 2},
        {"observations": [{"strings": ["p"]}, {"strings": ["q"]}, {"strings": ["p", "r"]}]},
    ),
}


@pytest.mark.parametrize("kind", sorted(BATCHES))
def test_observe_sequence_learns_count_once(
    setup: tuple[TestClient, LosesOneSave], kind: str
) -> None:
    api, store = setup
    config, batch = BATCHES[kind]
    sid = session(api, **config)
    body = lose_then_retry(
        api, store, f"batch-{kind}", "POST", f"/sessions/{sid}/observe-sequence", batch
    )
    learned = [name for name in body["auto_learned_patterns"] if name]
    assert learned
    for name in learned:
        assert frequency(api, name) == 1
    # Every symbol was observed once per learned pattern that holds it.
    assert symbol_frequency(api, "p") == sum(
        1
        for name in learned
        if "p" in str(api.get(f"/pattern/{name}", params={"node_id": NODE}).json())
    )


def test_without_a_key_the_hole_is_still_there(setup: tuple[TestClient, LosesOneSave]) -> None:
    """The control: a plain retry after a lost save learns again (why clients send keys)."""
    api, store = setup
    sid = session(api)
    api.post(f"/sessions/{sid}/observe", json={"strings": ["m"]})
    api.post(f"/sessions/{sid}/observe", json={"strings": ["n"]})
    store.armed_session = sid
    assert api.post(f"/sessions/{sid}/learn").status_code == 503
    retry = api.post(f"/sessions/{sid}/learn")
    assert retry.status_code == 200
    assert frequency(api, retry.json()["pattern_name"]) == 2
