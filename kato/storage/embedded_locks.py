"""Cross-process per-session locks: ``flock`` on striped lock files plus a thread lock.

A session id maps (by SHA-1, identical in every process) to one of ``STRIPES``
lock files under ``data_dir/locks``; the file count stays bounded and a lock held
by a crashed process is released by the kernel. Threads of one process queue on
a reentrant lock first, so only one of them holds the file lock at a time.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kato.storage.embedded_codec import key_bytes
from kato.storage.ports import StorageUnavailableError

STRIPES = 4096

logger = logging.getLogger("kato.storage")


class _Stripe:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.mutex = threading.RLock()
        self.depth = 0
        self.fd: int | None = None
        self.identity: tuple[int, int] | None = None  # (st_dev, st_ino) of the held fd

    @contextmanager
    def hold(self) -> Iterator[None]:
        with self.mutex:
            if self.depth == 0:
                self.fd, self.identity = self._acquire()
            self.depth += 1
            try:
                yield
            finally:
                self.depth -= 1
                if self.depth == 0 and self.fd is not None:
                    fd, self.fd = self.fd, None
                    self._release(fd)

    def _release(self, fd: int) -> None:
        # Seen once under worker recycling, cause not found (docs/reliability.md): the
        # descriptor was closed while held. The kernel released the lock with it, so the
        # request's completed work stands; the error is logged, not turned into a 500. If
        # the number was reused meanwhile, it is somebody else's file now: leave it alone.
        try:
            status = os.fstat(fd)
        except OSError as error:
            if error.errno != errno.EBADF:
                raise
            logger.error("session lock %s: its descriptor was closed while held", self.path)
            return
        if (status.st_dev, status.st_ino) != self.identity:
            logger.error(
                "session lock %s: its descriptor was closed while held and reused", self.path
            )
            return
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def _acquire(self) -> tuple[int, tuple[int, int]]:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise StorageUnavailableError("sqlite", f"lock file: {error}") from error
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            status = os.fstat(fd)
        except BaseException:
            os.close(fd)
            raise
        return fd, (status.st_dev, status.st_ino)


class SessionLocks:
    """``lock(session_id)``: one holder at a time across every thread and process."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StorageUnavailableError("sqlite", f"lock directory: {error}") from error
        self._lock = threading.Lock()
        self._stripes: dict[int, _Stripe] = {}
        self._pid = os.getpid()

    def _stripe(self, session_id: str) -> _Stripe:
        digest = hashlib.sha1(key_bytes(session_id)).digest()
        number = int.from_bytes(digest[:4], "big") % STRIPES
        with self._lock:
            if self._pid != os.getpid():  # forked: held stripes belong to the parent
                self._stripes, self._pid = {}, os.getpid()
            stripe = self._stripes.get(number)
            if stripe is None:
                stripe = _Stripe(self._directory / f"{number:04d}.lock")
                self._stripes[number] = stripe
            return stripe

    @contextmanager
    def lock(self, session_id: str) -> Iterator[None]:
        with self._stripe(session_id).hold():
            yield
