"""Emotive averaging and metadata accumulation (engine §3.5, §5.5, §5.6)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kato.engine.types import Emotives


def average_emotives(dicts: Iterable[Mapping[str, float]]) -> Emotives:
    """Per key (first-seen order): left-to-right sum over the dicts holding it, / count."""
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for d in dicts:
        for key, value in d.items():
            if key in sums:
                sums[key] += value
                counts[key] += 1
            else:
                sums[key] = 0.0 + value
                counts[key] = 1
    return {key: sums[key] / counts[key] for key in sums}


def python_str(value: Any) -> str:
    """Python's ``str()`` of a JSON-decoded value (True, None, 45.67, [1, 'a'], ...)."""
    return str(value)


def accumulate_metadata(dicts: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Per key (first-seen order): the sorted set of ``str(value)`` over the dicts."""
    values: dict[str, set[str]] = {}
    for d in dicts:
        for key, value in d.items():
            values.setdefault(key, set()).add(python_str(value))
    return {key: sorted(texts) for key, texts in values.items()}


def merge_metadata(
    stored: Mapping[str, list[str]], new: Mapping[str, list[str]]
) -> dict[str, list[str]]:
    """Stored keys in stored order, then new keys; each value the sorted union."""
    merged = {key: list(texts) for key, texts in stored.items()}
    for key, texts in new.items():
        merged[key] = sorted(set(merged.get(key, [])) | set(texts))
    return merged


def emotive_window(stored: list[Emotives], new: list[Emotives], persistence: int) -> list[Emotives]:
    """The last ``persistence`` emotive dicts of ``stored + new``."""
    combined = stored + new
    return combined[-persistence:] if combined else []
