"""Build the configured storage backend (``KATO_STORAGE``)."""

from __future__ import annotations

from kato.storage.ports import Backend
from kato.storage.settings import StorageSettings


def build_backend(settings: StorageSettings) -> Backend:
    """``memory``, ``embedded`` (default, ``KATO_DATA_DIR``) or ``distributed``."""
    family = settings.backend
    if family == "memory":
        from kato.storage.memory import MemoryBackend

        return MemoryBackend()
    if family == "embedded":
        from kato.storage.embedded import EmbeddedBackend

        return EmbeddedBackend(settings.kato_data_dir)
    if family == "distributed":
        from kato.storage.distributed import build_distributed_backend

        return build_distributed_backend(settings)
    raise ValueError(f"unknown storage backend {family!r}")
