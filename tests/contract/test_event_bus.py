"""EventBus contract (api.md §9): every subscriber gets every later event, in order."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

from kato.engine.types import JSONObject
from kato.storage.ports import Backend, EventBus


async def take(subscription: AsyncIterator[JSONObject], count: int) -> list[JSONObject]:
    received: list[JSONObject] = []
    async with asyncio.timeout(5):
        async for event in subscription:
            received.append(event)
            if len(received) == count:
                break
    return received


def event(number: int) -> JSONObject:
    return {"event_type": "session.created", "data": {"session_id": f"s-{number}", "n": number}}


def test_fan_out_in_publish_order(backend: Backend) -> None:
    bus = backend.events
    assert isinstance(bus, EventBus)

    async def scenario() -> tuple[list[JSONObject], list[JSONObject]]:
        bus.publish(event(0))  # before subscribing: not delivered
        first, second = bus.subscribe(), bus.subscribe()

        def publish_three() -> None:
            for i in (1, 2, 3):
                bus.publish(event(i))

        publisher = threading.Thread(target=publish_three)
        publisher.start()
        results = await asyncio.gather(take(first, 3), take(second, 3))
        publisher.join()
        return results[0], results[1]

    first, second = asyncio.run(scenario())
    assert first == [event(1), event(2), event(3)]
    assert second == first


def test_published_event_is_a_copy(backend: Backend) -> None:
    bus = backend.events

    async def scenario() -> JSONObject:
        subscription = bus.subscribe()
        payload = event(1)
        bus.publish(payload)
        payload["data"]["n"] = 99
        return (await take(subscription, 1))[0]

    assert asyncio.run(scenario()) == event(1)


def test_late_subscriber_sees_only_later_events(backend: Backend) -> None:
    bus = backend.events

    async def scenario() -> list[JSONObject]:
        early = bus.subscribe()
        bus.publish(event(1))
        late = bus.subscribe()
        bus.publish(event(2))
        assert await take(early, 2) == [event(1), event(2)]
        return await take(late, 1)

    assert asyncio.run(scenario()) == [event(2)]
