"""The event stream ``/ws/events`` (api.md §9).

Events travel through the backend's event bus, so a client connected to any
worker receives every session event, whichever worker caused it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from kato.service.context import ServiceContext
from kato.service.json_response import dumps
from kato.service.timefmt import local_naive_timestamp

router = APIRouter()


async def _snapshot(context: ServiceContext) -> dict[str, Any]:
    try:
        active = await run_in_threadpool(context.session_count)
        status = "healthy"
    except Exception:
        active, status = 0, "unhealthy"
    return {
        "event_type": "state.snapshot",
        "timestamp": local_naive_timestamp(),
        "data": {"active_sessions": active, "system_status": status},
    }


async def _forward(
    events: AsyncIterator[dict[str, Any]], first: asyncio.Future[Any], send: Any
) -> None:
    event = await first
    while True:
        await send(dumps(event))
        event = await anext(events)


@router.websocket("/ws/events")
async def event_stream(websocket: WebSocket, token: str | None = None) -> None:
    context: ServiceContext = websocket.app.state.kato
    await websocket.accept()
    send_lock = asyncio.Lock()

    async def send(text: str) -> None:
        async with send_lock:
            await websocket.send_text(text)

    events = context.backend.events.subscribe()
    first = asyncio.ensure_future(anext(events))  # subscribes before the snapshot goes out
    await asyncio.sleep(0)
    await send(dumps(await _snapshot(context)))
    forwarder = asyncio.create_task(_forward(events, first, send))
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            if message.get("text") == "ping":
                await send("pong")
    except WebSocketDisconnect:
        pass
    finally:
        forwarder.cancel()
        first.cancel()
        with contextlib.suppress(BaseException):
            await forwarder
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(BaseException):
                await aclose()
