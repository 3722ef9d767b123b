"""The byte form of a session record shared by the embedded and Redis session stores.

A record is stored as two JSON documents separated by a newline (compact JSON never
contains a raw newline): the record without its observe-time predictions, then the
predictions. Reading hands the predictions back still encoded
(:class:`~kato.engine.types.EncodedJSON`), and writing them unchanged copies the
bytes, so the requests that never read them (every observe) do not decode and
re-encode about 100 KB each time. Records written as one document (before this
layout) are still read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kato.engine.types import EncodedJSON
from kato.storage.ports import SessionRecord

_SEPARATOR = b"\n"


def encode_session(record: SessionRecord, dumps: Callable[[Any], bytes]) -> bytes:
    body = record.to_dict()
    predictions = body["state"].pop("predictions")
    tail = predictions.data if isinstance(predictions, EncodedJSON) else dumps(predictions)
    return dumps(body) + _SEPARATOR + tail


def decode_session(data: bytes | str, loads: Callable[[bytes], Any]) -> SessionRecord:
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    head, separator, tail = raw.partition(_SEPARATOR)
    body = loads(head)
    if separator:
        body["state"]["predictions"] = EncodedJSON(tail, loads)
    return SessionRecord.from_dict(body)
