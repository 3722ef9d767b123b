"""Byte encodings shared by the Redis and ClickHouse adapters.

JSON goes through orjson; values orjson refuses (lone surrogates in strings,
integers beyond 64 bits) fall back to the standard library with ASCII escapes,
so anything a client can send round-trips exactly. Symbols used as Redis hash
fields are encoded with ``surrogatepass`` for the same reason.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def dumps_text(value: Any) -> str:
    """JSON as str that is always valid UTF-8 (for ClickHouse String columns)."""
    return dumps(value).decode("utf-8")


def loads(data: bytes | str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def field(text: str) -> bytes:
    """A symbol as a Redis hash field (lone surrogates allowed)."""
    return text.encode("utf-8", "surrogatepass")


def text(data: bytes | str) -> str:
    return data.decode("utf-8", "surrogatepass") if isinstance(data, bytes) else data
