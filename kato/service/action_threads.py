"""The threads that run the direct session actions (kato/service/direct_routes.py).

``loop.run_in_executor`` wraps the executor's concurrent future in an asyncio future and chains
the two through callbacks; here the thread settles the request's asyncio future itself, with one
``call_soon_threadsafe``. On an empty node's observe that is about 0.03 of its 0.55 ms of CPU
(docs/performance.md, serving overhead).
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any

_Job = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[[], Any]] | None


def _settle(future: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)


class ActionThreads:
    """``count`` daemon threads taking calls in arrival order."""

    def __init__(self, count: int, name: str) -> None:
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        # Daemon threads: a worker that exits with work queued must not wait for it (a
        # transaction left open is rolled back by the store).
        self._threads = [
            threading.Thread(target=self._serve, name=f"{name}-{number}", daemon=True)
            for number in range(count)
        ]
        for thread in self._threads:
            thread.start()

    async def run(self, call: Callable[[], Any]) -> Any:
        """``call()`` on one of the threads; its result or its exception."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._jobs.put((loop, future, call))
        return await future

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            loop, future, call = job
            try:
                value, error = call(), None
            except BaseException as exc:  # handed to the awaiting request
                value, error = None, exc
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(_settle, future, value, error)

    def close(self) -> None:
        """Stop the threads once the calls queued before have run."""
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            thread.join()
