"""Exceptions the engine raises for bad input.

Every exception here is a client error: the service layer maps it to a 4xx and
guarantees that nothing was changed when it is raised.
"""

from __future__ import annotations


class EngineError(Exception):
    """Base class of every engine error caused by client input."""


class InvalidObservationError(EngineError, ValueError):
    """An observation has the wrong types or non-finite numbers (HTTP 422)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class VectorDimensionError(EngineError, ValueError):
    """Vectors of one observation, or of one node, have different dimensions (HTTP 400).

    ``vector_name`` is the percept vector's name, or None when the vectors of one
    observation have different lengths and cannot be summed.
    """

    def __init__(self, expected: int, actual: int, vector_name: str | None) -> None:
        super().__init__(f"Vector dimension mismatch: expected {expected}, got {actual}")
        self.expected_dimension = expected
        self.actual_dimension = actual
        self.vector_name = vector_name


class EmptySTMError(EngineError, ValueError):
    """A manual learn was requested on an empty STM (HTTP 400)."""

    def __init__(self) -> None:
        super().__init__("Cannot learn from empty STM")


class InvalidConfigError(EngineError, ValueError):
    """A configuration update has invalid values (HTTP 400).

    ``errors`` maps each invalid key to its message, in the contract's key order.
    """

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("Configuration validation failed")
        self.errors = errors
