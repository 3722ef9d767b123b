"""The recent summary change log in Redis: names when it can tell, None when it cannot."""

from __future__ import annotations

import redis

from kato.storage import redis_change_log
from kato.storage.redis_client import NodeKeys
from tests.contract.helpers import learn, make_update
from tests.distributed import servers
from tests.distributed.conftest import BackendMaker


def test_a_reader_gets_the_names_another_worker_learned(make_backend: BackendMaker) -> None:
    writer, reader = make_backend().node("log").kb, make_backend().node("log").kb
    start, _ = reader.summary_changes(None)
    patterns = [[["a"], [f"s{k}"]] for k in range(3)]
    for pattern in patterns:
        learn(writer, pattern)
    now, names = reader.summary_changes(start)
    assert names == [make_update(p).name for p in patterns]
    assert now == writer.summary_changes(None)[0]


def test_a_reader_further_behind_than_the_log_keeps_starts_over(
    make_backend: BackendMaker,
) -> None:
    kb = make_backend().node("far").kb
    start, _ = kb.summary_changes(None)
    for k in range(redis_change_log.KEPT + 1):
        learn(kb, [["a"], [f"s{k}"]])
    assert kb.summary_changes(start)[1] is None
    one_behind = (start[0], start[1] + 1)  # exactly KEPT changes behind: still named
    names = kb.summary_changes(one_behind)[1]
    assert names is not None and len(names) == redis_change_log.KEPT


def test_a_change_without_an_entry_makes_the_log_say_none(
    make_backend: BackendMaker, services: servers.Services
) -> None:
    # A worker of an older release learns without writing entries (a rolling upgrade):
    # the numbered entries show the gap instead of naming the wrong patterns.
    kb = make_backend().node("gap").kb
    learn(kb, [["a"], ["b"]])
    start, _ = kb.summary_changes(None)
    with redis.Redis.from_url(services.redis_url) as client:
        client.hincrby(NodeKeys("gap").meta, "learns", 1)  # the older worker's learn
    learn(kb, [["c"], ["d"]])  # logged, but the change before it is not
    assert kb.summary_changes(start)[1] is None


def test_clear_drops_the_entries_of_the_old_generation(
    make_backend: BackendMaker, services: servers.Services
) -> None:
    kb = make_backend().node("cleared").kb
    learn(kb, [["a"], ["b"]])
    changes = NodeKeys("cleared").changes
    with redis.Redis.from_url(services.redis_url) as client:
        assert client.llen(changes) == 1
        kb.clear()
        assert client.llen(changes) == 0
