"""The check of an observation before it changes anything (engine §3.1).

Callers may hand over values of any type whatever the annotations say, so the fields are
read as ``object``. This module stays interpreted (kato/engine/compiled.py): compiled code
checks a value against its declared type when it reads it, which would raise TypeError
before the check could answer with an :class:`InvalidObservationError`.
"""

from __future__ import annotations

from kato.engine.config import is_finite_number
from kato.engine.errors import InvalidObservationError
from kato.engine.types import Observation


def validate(observation: Observation) -> None:
    """Reject wrong types and non-finite numbers before anything changes."""
    strings: object = observation.strings
    if not isinstance(strings, list) or not all(isinstance(s, str) for s in strings):
        raise InvalidObservationError("strings", "must be a list of strings")
    vectors: object = observation.vectors
    if not isinstance(vectors, list):
        raise InvalidObservationError("vectors", "must be a list of vectors")
    for vector in vectors:
        if not isinstance(vector, list) or not vector:
            raise InvalidObservationError("vectors", "each vector must be a non-empty list")
        for x in vector:
            if not is_finite_number(x):
                raise InvalidObservationError("vectors", "components must be finite numbers")
    emotives: object = observation.emotives
    if not isinstance(emotives, dict):
        raise InvalidObservationError("emotives", "must be an object")
    for key, value in emotives.items():
        if not isinstance(key, str):
            raise InvalidObservationError("emotives", "keys must be strings")
        if not is_finite_number(value):
            raise InvalidObservationError("emotives", f"value of {key!r} must be a finite number")
    metadata: object = observation.metadata
    if not isinstance(metadata, dict):
        raise InvalidObservationError("metadata", "must be an object")
