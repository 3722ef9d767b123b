"""Exact nearest neighbours through the Qdrant index, and events across workers."""

from __future__ import annotations

import asyncio
import random

from kato.engine.types import JSONObject
from kato.storage.memory import MemoryVectorStore
from tests.distributed.conftest import BackendMaker


def test_nearest_matches_brute_force_with_ties(make_backend: BackendMaker) -> None:
    first, second = make_backend(), make_backend()
    store, other_worker = first.node("v").vectors, second.node("v").vectors
    reference = MemoryVectorStore()
    rng = random.Random(3)
    grid = [0.0, 0.5, 1.0, 1.5]  # a coarse grid: many vectors at equal distances
    for number in range(300):
        vector = [rng.choice(grid), rng.choice(grid), rng.choice(grid)]
        name = f"VCTR|{rng.getrandbits(40):010x}"
        store.add_pending(name, vector)
        reference.add_pending(name, vector)
        if number % 50 == 49:  # several flushes: the mirror of other workers catches up
            store.flush_pending(None)
            reference.flush_pending(None)
    store.flush_pending(None)
    reference.flush_pending(None)
    assert store.all_vectors() == reference.all_vectors()
    for _ in range(60):
        query = [rng.choice(grid) + rng.choice([0.0, 0.25]) for _ in range(3)]
        k = rng.choice([1, 3, 7])
        expected = reference.nearest(query, k)
        assert store.nearest(query, k) == expected
        assert other_worker.nearest(query, k) == expected
    store.clear()
    assert other_worker.nearest([0.0, 0.0, 0.0], 3) == []
    assert other_worker.dimension() is None


def test_events_reach_subscribers_of_every_worker(make_backend: BackendMaker) -> None:
    publisher, listener = make_backend(), make_backend()

    async def scenario() -> list[JSONObject]:
        subscription = listener.events.subscribe()
        for number in range(3):
            publisher.events.publish({"event_type": "session.created", "data": {"n": number}})
        received: list[JSONObject] = []
        async with asyncio.timeout(5):
            async for event in subscription:
                received.append(event)
                if len(received) == 3:
                    break
        await subscription.aclose()
        return received

    events = asyncio.run(scenario())
    assert [event["data"]["n"] for event in events] == [0, 1, 2]
