"""Names of patterns and vector symbols (engine §3.3.2, §3.3.3, §5.2)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from kato.engine.types import PatternData

PATTERN_PREFIX = "PTRN|"
VECTOR_PREFIX = "VCTR|"
_SUMMARY_LIMIT = 1000  # above this, NumPy's print would summarise with "..."


def pattern_hash(pattern_data: PatternData) -> str:
    """sha1 of the Python repr of the list of events (never a JSON text)."""
    canonical = [list(event) for event in pattern_data]
    return hashlib.sha1(repr(canonical).encode("utf-8")).hexdigest()


def pattern_name(pattern_data: PatternData) -> str:
    return PATTERN_PREFIX + pattern_hash(pattern_data)


def strip_pattern_prefix(name: str) -> str:
    return name[len(PATTERN_PREFIX) :] if name.startswith(PATTERN_PREFIX) else name


def vector_text(vector: Sequence[float]) -> str:
    """The text hashed into a vector name.

    Up to 1000 dimensions: NumPy's default ``str`` of a float64 array (kept for
    compatibility, 8 significant digits). Above: the exact ``repr`` of every
    element, so distinct vectors never collide.
    """
    if len(vector) <= _SUMMARY_LIMIT:
        return str(np.array(vector, dtype=np.float64))
    return "[" + " ".join(repr(float(x)) for x in vector) + "]"


def vector_name(vector: Sequence[float]) -> str:
    return VECTOR_PREFIX + hashlib.sha1(vector_text(vector).encode("utf-8")).hexdigest()
