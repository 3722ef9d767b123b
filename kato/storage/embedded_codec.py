"""Byte encodings of the embedded backend: JSON values, text keys, vectors, session records.

JSON goes through orjson; values orjson refuses (lone surrogates in strings,
integers beyond 64 bits) fall back to the standard library, so anything a client
could send round-trips exactly.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import orjson

from kato.storage.ports import SessionRecord
from kato.storage.session_codec import decode_session, encode_session


def dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def loads(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def key_bytes(text: str) -> bytes:
    """A text key as bytes (lone surrogates allowed); byte order is code-point order."""
    return text.encode("utf-8", "surrogatepass")


def key_text(data: bytes) -> str:
    return bytes(data).decode("utf-8", "surrogatepass")


def encodable(text: str) -> bool:
    """Whether ``text`` can be bound as an SQLite TEXT value (valid UTF-8)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def vector_bytes(vector: list[float]) -> bytes:
    return np.asarray(vector, dtype="<f8").tobytes()


def vector_values(data: bytes) -> list[float]:
    return [float(x) for x in np.frombuffer(data, dtype="<f8")]


def vector_rows(blobs: list[bytes], dimension: int) -> np.ndarray:
    """Stored vectors (:func:`vector_bytes`) as the rows of one array, read straight from
    their bytes: no Python float per component."""
    return np.frombuffer(b"".join(blobs), dtype="<f8").reshape(len(blobs), dimension)


def session_bytes(record: SessionRecord) -> bytes:
    return encode_session(record, dumps)


def session_record(data: bytes) -> SessionRecord:
    return decode_session(data, loads)
