"""ClickHouse connections (native protocol, clickhouse-driver) with error translation.

A ``clickhouse_driver.Client`` is not thread-safe, so the pool hands each call
its own client (at most ``CONNECTION_POOL_SIZE`` are created). A client whose
connection broke reconnects on its next call, so the backend recovers by itself.
"""

from __future__ import annotations

import queue
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from clickhouse_driver import Client  # type: ignore[import-untyped]
from clickhouse_driver import errors as ch_errors  # type: ignore[import-untyped]

from kato.storage.ports import StorageUnavailableError

_NETWORK_ERRORS: tuple[type[BaseException], ...] = (
    ch_errors.NetworkError,
    ch_errors.SocketTimeoutError,
    EOFError,
    socket.timeout,
    OSError,
)


class ClickHousePool:
    def __init__(
        self,
        host: str,
        port: int,
        user: str,
        password: str,
        secure: bool,
        size: int,
        timeout: float,
    ) -> None:
        self._params: dict[str, Any] = {
            "host": host,
            "port": port,
            "user": user,
            "password": password,
            "secure": secure,
            # A call may ping a pooled connection and then reconnect: each step gets
            # half of the budget so the whole call stays within REQUEST_TIMEOUT.
            "connect_timeout": timeout / 2,
            "send_receive_timeout": timeout / 2,
            "sync_request_timeout": timeout / 2,
            "settings": {"max_execution_time": int(max(timeout, 1))},
        }
        self._timeout = timeout
        self._idle: queue.LifoQueue[Client] = queue.LifoQueue()
        self._created = 0
        self._size = size
        self._lock = threading.Lock()

    @contextmanager
    def client(self) -> Iterator[Client]:
        client = self._take()
        try:
            yield client
        except BaseException:
            client.disconnect()  # its connection may be half-used: start fresh next time
            raise
        finally:
            self._idle.put(client)

    def _take(self) -> Client:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            if self._created < self._size:
                self._created += 1
                return Client(**self._params)
        try:
            return self._idle.get(timeout=self._timeout)
        except queue.Empty:
            raise StorageUnavailableError("clickhouse", "no free connection") from None

    def execute(self, query: str, params: Any = None, **kwargs: Any) -> Any:
        """Run one statement; network failures raise StorageUnavailableError("clickhouse")."""
        with clickhouse_errors(), self.client() as client:
            return client.execute(query, params, **kwargs)

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().disconnect()
            except queue.Empty:
                return


@contextmanager
def clickhouse_errors() -> Iterator[None]:
    try:
        yield
    except _NETWORK_ERRORS as exc:
        raise StorageUnavailableError("clickhouse", f"{type(exc).__name__}: {exc}") from exc
    except ch_errors.ServerException as exc:
        # 209 SOCKET_TIMEOUT, 210 NETWORK_ERROR, 159 TIMEOUT_EXCEEDED
        if getattr(exc, "code", None) in (159, 209, 210):
            raise StorageUnavailableError("clickhouse", str(exc).splitlines()[0]) from exc
        raise


def health(pool: ClickHousePool) -> str:
    try:
        pool.execute("SELECT 1")
        return "ok"
    except StorageUnavailableError as exc:
        return f"down: {exc.reason}"
    except ch_errors.Error as exc:
        return f"down: {type(exc).__name__}: {exc}"
