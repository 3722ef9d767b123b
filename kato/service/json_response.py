"""Compact, deterministic JSON bodies (api.md §2.2).

The contract's text is the standard library's: floats written with ``repr``
(``1e-05``, ``3.666666666666666``), non-ASCII kept as is, non-finite numbers as
null. orjson writes the same bytes about ten times faster except in two places:
floats below 1e-4 (``0.00001`` for ``1e-05``) and exponent forms (``1e16`` where
the standard library needs ``1e+16``); and it refuses what it cannot write
exactly (lone surrogates, integers beyond 64 bits, non-string keys, subclasses).
:func:`encode` uses orjson and falls back to the standard library whenever the
output could hold one of those floats or orjson refused (tested against the
standard library in tests/service/test_json_response.py).
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
# Where orjson's float text may differ from repr: an exponent, or a float below 1e-4
# written positionally. Also matches inside strings; that only costs the fallback.
_FLOAT_FORMS_THAT_DIFFER = re.compile(rb"\de|0\.0000")
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


def _refuse(value: Any) -> Any:
    raise TypeError(type(value).__name__)


def encode(content: Any) -> bytes:
    """UTF-8 bytes of :func:`dumps`; lone surrogates (valid in JSON input) stay escaped."""
    try:
        fast = orjson.dumps(content, default=_refuse, option=_ORJSON_STRICT)
    except orjson.JSONEncodeError:
        return standard_encode(content)
    if _FLOAT_FORMS_THAT_DIFFER.search(fast) is not None:
        return standard_encode(content)
    return fast


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
