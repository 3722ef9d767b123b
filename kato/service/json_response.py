"""Compact, deterministic JSON bodies (api.md §2.2).

The contract's text is the standard library's: floats written with ``repr``
(``1e-05``, ``3.666666666666666``), non-ASCII kept as is, non-finite numbers as
null. orjson writes the same bytes about ten times faster, except for floats
below 1e-4 (``0.00001`` or ``1.5e-7`` where ``repr`` gives ``1e-05`` and
``1.5e-07``), and it refuses what it cannot write exactly (lone surrogates,
integers beyond 64 bits, non-string keys, subclasses). :func:`encode` uses orjson
and falls back to the standard library when the output could hold such a float
or orjson refused; :func:`with_repr_floats` marks the small floats of large
bodies so that they stay on the fast path. tests/service/test_json_response.py
compares both writers.
"""

from __future__ import annotations

import json
import logging
import math
import re
from typing import Any

import orjson
from fastapi.responses import JSONResponse

logger = logging.getLogger("kato.service")

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_DIGITS = frozenset(b"0123456789")
_ORJSON_STRICT = (
    orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
)


def dumps(content: Any) -> str:
    """Compact JSON text; non-finite floats (arithmetic overflow) are written as null."""
    try:
        return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except ValueError:
        logger.warning("non-finite number in a response replaced by null")
        return json.dumps(
            finite_only(content), ensure_ascii=False, allow_nan=False, separators=(",", ":")
        )


class ReprFloat(float):
    """A float orjson must write as ``repr`` text (the standard library always does)."""

    __slots__ = ()


def _repr_float_or_refuse(value: Any) -> Any:
    if type(value) is ReprFloat:
        return orjson.Fragment(float.__repr__(value).encode())
    raise TypeError(type(value).__name__)


def encode(content: Any) -> bytes:
    """UTF-8 bytes of :func:`dumps`; lone surrogates (valid in JSON input) stay escaped."""
    try:
        fast = orjson.dumps(content, default=_repr_float_or_refuse, option=_ORJSON_STRICT)
    except orjson.JSONEncodeError:
        return standard_encode(content)
    if _may_hold_small_float(fast):
        return standard_encode(content)
    return fast


def _may_hold_small_float(data: bytes) -> bool:
    """Whether orjson's output may hold a float below 1e-4, which it writes differently
    from ``repr``: positionally (``0.00001`` for ``1e-05``) or with a one-digit
    exponent (``1.5e-7`` for ``1.5e-07``). Strings can match too (never hex pattern
    names); that only costs the fallback. ``bytes.find`` scans far faster than re.
    """
    at = data.find(b"0.0000")
    while at != -1:
        if at == 0 or data[at - 1] not in _DIGITS:
            return True
        at = data.find(b"0.0000", at + 1)
    at = data.find(b"e-")
    while at != -1:
        if (
            at > 0
            and data[at - 1] in _DIGITS
            and at + 2 < len(data)
            and data[at + 2] in _DIGITS
            and (at + 3 == len(data) or data[at + 3] not in _DIGITS)
        ):
            return True
        at = data.find(b"e-", at + 2)
    return False


def with_repr_floats(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The objects with their small floats (and those of their dict values) marked as
    :class:`ReprFloat`; objects holding none are returned as they are, none is changed.

    Predictions routinely hold values below 1e-4 (confluence, posteriors), which
    orjson writes positionally; marked, they keep :func:`encode` on its fast path.
    Values this misses only cost that path (the output check catches them).
    """
    return [_marked(obj) for obj in objects]


def _marked(obj: dict[str, Any]) -> dict[str, Any]:
    copy: dict[str, Any] | None = None
    for key, value in obj.items():
        if type(value) is float:
            # orjson writes these differently from repr (inline: thousands per body)
            if not (-1e-4 < value < 1e-4 and value != 0.0):
                continue
            marked: Any = ReprFloat(value)
        elif type(value) is dict:
            marked = _marked(value)
            if marked is value:
                continue
        else:
            continue
        if copy is None:
            copy = dict(obj)
        copy[key] = marked
    return obj if copy is None else copy


def standard_encode(content: Any) -> bytes:
    """:func:`encode` through the standard library alone: the reference text."""
    text = dumps(content)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text).encode("utf-8")


def finite_only(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_only(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_only(v) for v in value]
    return value


class KatoJSONResponse(JSONResponse):
    """The response class of every JSON route."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return encode(content)


def json_safe(value: Any) -> Any:
    """A JSON-encodable copy of arbitrary echoed input (validation errors echo client input).

    Non-finite floats become their names, bytes are decoded leniently, and any
    other object becomes its ``str``.
    """
    if isinstance(value, str | bool | int) or value is None:
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return str(value)
