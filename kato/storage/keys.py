"""Identifiers derived from (SERVICE_NAME, node id): the storage key and the display kb id."""

from __future__ import annotations

import hashlib
import json

_UNSAFE = set('/\\."$*<>:|?- ')


def node_key(service_name: str, node_id: str) -> str:
    """Injective storage key of a knowledge base (api.md §3.2).

    Two different (service, node) pairs never share a key: the key is a hash of
    the JSON array of both, which is itself injective.
    """
    raw = json.dumps([service_name, node_id], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:40]


def display_kb_id(service_name: str, node_id: str) -> str:
    """The reference's kb key, echoed by node-scoped routes (api.md §3.2); not an identifier."""
    safe_node = "".join("_" if ch in _UNSAFE else ch for ch in node_id)
    safe_base = service_name.replace("-", "_")
    display = f"{safe_node}_{safe_base}"
    if len(display) > 60:
        digest = hashlib.md5(safe_node.encode("utf-8")).hexdigest()[:8]
        display = f"{safe_node[: 60 - len(safe_base) - 10]}_{digest}_{safe_base}"
    return display
