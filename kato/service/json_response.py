"""Compact, deterministic JSON bodies (api.md §2.2).

Python's ``json`` writes floats with ``repr`` (``1e-05``, ``3.666666666666666``)
exactly as the contract requires; orjson would print ``1e-5``. Non-ASCII is kept
as is, NaN and infinities are refused.
"""

from __future__ import annotations

import json
import logging
import math
import re
from typing import Any

from fastapi.responses import JSONResponse

logger = logging.getLogger("kato.service")

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def dumps(content: Any) -> str:
    """Compact JSON text; non-finite floats (arithmetic overflow) are written as null."""
    try:
        return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except ValueError:
        logger.warning("non-finite number in a response replaced by null")
        return json.dumps(
            finite_only(content), ensure_ascii=False, allow_nan=False, separators=(",", ":")
        )


def encode(content: Any) -> bytes:
    """UTF-8 bytes of :func:`dumps`; lone surrogates (valid in JSON input) stay escaped."""
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
