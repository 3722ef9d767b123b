"""One SQLite database file shared by several worker processes (WAL mode).

Each thread gets its own connection (sqlite3 connections must not be shared
between threads); a process that was forked opens fresh ones. Transactions are
explicit: :meth:`SqliteDatabase.write` takes the database write lock up front
(``BEGIN IMMEDIATE``), so a read-modify-write inside it is atomic across every
process; :meth:`SqliteDatabase.read` gives one consistent snapshot.

Writers first queue on an in-process mutex and an ``flock`` on a lock file beside the
database. SQLite's own busy handler waits for a contended write lock by sleeping in
growing steps (up to 100 ms), which under several workers costs far more than the
writes themselves; the kernel wakes an ``flock`` waiter as soon as the lock is free, and
a crashed writer's lock is released with its process.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kato.storage.ports import StorageUnavailableError

BUSY_TIMEOUT_SECONDS = 30.0
DEPENDENCY = "sqlite"


def unavailable(error: BaseException) -> StorageUnavailableError:
    return StorageUnavailableError(DEPENDENCY, str(error) or type(error).__name__)


def _is_outage(error: BaseException) -> bool:
    """Errors of the database itself (locked, disk, file), not of our SQL or callbacks."""
    return isinstance(error, sqlite3.OperationalError | sqlite3.DatabaseError) and not isinstance(
        error, sqlite3.IntegrityError | sqlite3.ProgrammingError
    )


@contextmanager
def _outage_unavailable() -> Iterator[None]:
    """A database outage inside the block becomes :class:`StorageUnavailableError`."""
    try:
        yield
    except sqlite3.Error as error:
        if _is_outage(error):
            raise unavailable(error) from error
        raise


class SqliteDatabase:
    """Per-thread connections to one database file, created with ``schema`` on first use."""

    def __init__(self, path: Path, schema: str) -> None:
        self.path = path
        self._schema = schema
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._pid = os.getpid()
        self._closed = False
        self._writer_mutex = threading.Lock()
        self._writer_fd: int | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise unavailable(error) from error
        self.connection()  # creates the schema; raises if the directory is unusable

    # -- connections -----------------------------------------------------------
    def connection(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use, reopened after a fork)."""
        if self._pid != os.getpid():
            self._after_fork()
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise StorageUnavailableError(DEPENDENCY, "backend closed")
            conn = self._connect()
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def _after_fork(self) -> None:
        # Connections and the writer lock's file description inherited from the parent must
        # not be used (or closed) here: an flock belongs to the open file description.
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections = []
        self._writer_mutex = threading.Lock()
        self._writer_fd = None
        self._pid = os.getpid()

    def _writer_lock_fd(self) -> int:
        if self._writer_fd is None:
            lock_path = self.path.with_name(self.path.name + ".write-lock")
            try:
                self._writer_fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as error:
                raise unavailable(error) from error
        return self._writer_fd

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=BUSY_TIMEOUT_SECONDS,
                isolation_level=None,  # explicit BEGIN/COMMIT only
                check_same_thread=False,  # used by one thread; closed by close()
            )
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
            self._set_wal(conn)
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = OFF")
            conn.executescript(self._schema)
        except sqlite3.Error as error:
            raise unavailable(error) from error
        return conn

    @staticmethod
    def _set_wal(conn: sqlite3.Connection) -> None:
        # Switching to WAL needs a moment of exclusive access: retry while busy.
        deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
        while True:
            try:
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
                continue
            if str(mode).lower() != "wal":
                raise sqlite3.OperationalError(f"cannot enable WAL (journal_mode={mode})")
            return

    # -- transactions ----------------------------------------------------------
    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction holding the database write lock from its start."""
        conn = self.connection()
        if conn.in_transaction:  # nested use in one thread: join the open transaction
            yield conn
            return
        with self._write_lock(), self._transaction("BEGIN IMMEDIATE") as joined:
            yield joined

    def write_one(self, sql: str, parameters: Sequence[Any] = ()) -> None:
        """One write statement, atomic by itself: under the write lock, without an explicit
        transaction (two round trips fewer than :meth:`write`; every observe saves its
        session this way)."""
        conn = self.connection()
        if conn.in_transaction:  # nested use in one thread: join the open transaction
            conn.execute(sql, parameters)
            return
        with self._write_lock(), _outage_unavailable():
            conn.execute(sql, parameters)

    @contextmanager
    def _write_lock(self) -> Iterator[None]:
        """The database write lock: this process's writers queue on a mutex, processes on
        an ``flock``, so SQLite never has two writers to arbitrate."""
        if not self._writer_mutex.acquire(timeout=BUSY_TIMEOUT_SECONDS):
            raise StorageUnavailableError(DEPENDENCY, "database write lock timed out")
        try:
            fd = self._writer_lock_fd()
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            self._writer_mutex.release()

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every statement inside sees the same snapshot."""
        with self._transaction("BEGIN DEFERRED") as conn:
            yield conn

    def query(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        """The rows of one read statement. A single statement reads one snapshot by itself,
        so no explicit transaction is opened: two round trips fewer than :meth:`read`, on
        reads every request makes (the session, the index's creation feed)."""
        conn = self.connection()
        with _outage_unavailable():
            return conn.execute(sql, parameters).fetchall()

    @contextmanager
    def _transaction(self, begin: str) -> Iterator[sqlite3.Connection]:
        conn = self.connection()
        if conn.in_transaction:  # nested use in one thread: join the open transaction
            yield conn
            return
        try:
            conn.execute(begin)
        except sqlite3.Error as error:
            raise unavailable(error) from error
        try:
            yield conn
        except BaseException as error:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if _is_outage(error):
                raise unavailable(error) from error
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as error:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise unavailable(error) from error

    # -- lifecycle -------------------------------------------------------------
    def ping(self) -> None:
        """Raise :class:`StorageUnavailableError` unless the database answers."""
        try:
            self.connection().execute("SELECT 1").fetchone()
        except sqlite3.Error as error:
            raise unavailable(error) from error

    def close(self) -> None:
        with self._lock:
            self._closed = True
            connections, self._connections = self._connections, []
            if self._writer_fd is not None and self._pid == os.getpid():
                os.close(self._writer_fd)
                self._writer_fd = None
        for conn in connections:
            try:
                conn.close()
            except sqlite3.Error:
                continue
        self._local = threading.local()
