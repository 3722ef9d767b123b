"""Session configuration: the keys, their validation, and the effective values.

One validator serves session creation, config updates and the process defaults
read from the environment (api.md §7, §8.1).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from kato.engine.errors import InvalidConfigError

RANK_SORT_ALGOS: tuple[str, ...] = (
    "potential",
    "similarity",
    "evidence",
    "confidence",
    "snr",
    "fragmentation",
    "frequency",
    "normalized_entropy",
    "global_normalized_entropy",
    "itfdf_similarity",
    "confluence",
    "predictive_information",
    "bayesian_posterior",
    "bayesian_prior",
    "bayesian_likelihood",
    "tfidf_score",
    "weighted_similarity",
    "weighted_evidence",
    "weighted_confidence",
    "weighted_snr",
)
FILTER_STAGES: tuple[str, ...] = ("minhash", "length", "jaccard", "bloom", "rapidfuzz")
INDEXER_TYPES: tuple[str, ...] = ("VI", "LSH", "ANNOY", "FAISS")
STM_MODES: tuple[str, ...] = ("CLEAR", "ROLLING")


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """The effective configuration of one session (process default unless overridden)."""

    max_pattern_length: int = 0
    persistence: int = 5
    recall_threshold: float = 0.1
    indexer_type: str = "VI"
    max_predictions: int = 100
    sort_symbols: bool = True
    process_predictions: bool = True
    use_token_matching: bool = True
    fuzzy_token_threshold: float | None = None
    stm_mode: str = "CLEAR"
    rank_sort_algo: str = "potential"
    affinity_emotive: str | None = None
    filter_pipeline: tuple[str, ...] = ()
    length_min_ratio: float = 0.5
    length_max_ratio: float = 2.0
    jaccard_threshold: float = 0.3
    jaccard_min_overlap: int = 2
    minhash_threshold: float = 0.7
    minhash_bands: int = 20
    minhash_rows: int = 5
    minhash_num_hashes: int = 100
    bloom_false_positive_rate: float = 0.01
    max_candidates_per_stage: int = 100000
    enable_filter_metrics: bool = True

    def with_overrides(self, overrides: Mapping[str, Any]) -> EngineConfig:
        """Apply already-validated session overrides (None values are ignored).

        Every session-scoped request builds its configuration, and most sessions override
        nothing: they get this (frozen) configuration back, not a copy made field by field.
        """
        values = {k: v for k, v in overrides.items() if k in _FIELD_NAMES and v is not None}
        if not values:
            return self
        if "filter_pipeline" in values:
            values["filter_pipeline"] = tuple(values["filter_pipeline"])
        return replace(self, **values)

    def to_effective_dict(self) -> dict[str, Any]:
        """The effective configuration in the contract's key order (api.md §7.4)."""
        out: dict[str, Any] = {}
        for key in EFFECTIVE_KEY_ORDER:
            value = getattr(self, key)
            if key in OPTIONAL_KEYS and value is None:
                continue
            out[key] = list(value) if key == "filter_pipeline" else value
        return out


_FIELD_NAMES = frozenset(f.name for f in fields(EngineConfig))

EFFECTIVE_KEY_ORDER: tuple[str, ...] = tuple(f.name for f in fields(EngineConfig))
OPTIONAL_KEYS = frozenset({"fuzzy_token_threshold", "affinity_emotive"})

# Order in which validation errors are reported (api.md §7.2).
VALIDATION_ORDER: tuple[str, ...] = (
    "recall_threshold",
    "persistence",
    "max_pattern_length",
    "max_predictions",
    "indexer_type",
    "stm_mode",
    "sort",
    "process_predictions",
    "use_token_matching",
    "rank_sort_algo",
    "sort_symbols",
    "fuzzy_token_threshold",
    "affinity_emotive",
    "filter_pipeline",
    "length_min_ratio",
    "length_max_ratio",
    "jaccard_threshold",
    "jaccard_min_overlap",
    "minhash_threshold",
    "minhash_bands",
    "minhash_rows",
    "minhash_num_hashes",
    "bloom_false_positive_rate",
    "max_candidates_per_stage",
    "enable_filter_metrics",
)


def _is_int(v: Any) -> bool:
    if isinstance(v, bool):
        return False
    if isinstance(v, int):
        return True
    return isinstance(v, float) and math.isfinite(v) and v.is_integer()


def is_finite_number(v: object) -> bool:
    """An int or a finite float, not a bool (config values and observation numbers)."""
    return not isinstance(v, bool) and isinstance(v, int | float) and math.isfinite(v)


def _int_rule(lo: int | None, hi: int | None, message: str) -> tuple[Callable[[Any], bool], str]:
    def check(v: Any) -> bool:
        return _is_int(v) and (lo is None or v >= lo) and (hi is None or v <= hi)

    return check, message


def _num_rule(
    lo: float | None, hi: float | None, message: str
) -> tuple[Callable[[Any], bool], str]:
    def check(v: Any) -> bool:
        return is_finite_number(v) and (lo is None or v >= lo) and (hi is None or v <= hi)

    return check, message


def _choice_rule(choices: tuple[str, ...]) -> tuple[Callable[[Any], bool], str]:
    return (lambda v: isinstance(v, str) and v in choices), "Must be one of: " + ", ".join(choices)


_BOOL_RULE = (lambda v: isinstance(v, bool)), "Must be a boolean (true/false)"
_UNIT = "Must be a number between 0.0 and 1.0"

RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "recall_threshold": _num_rule(0.0, 1.0, _UNIT),
    "persistence": _int_rule(1, 100, "Must be an integer between 1 and 100"),
    "max_pattern_length": _int_rule(0, None, "Must be a non-negative integer"),
    "max_predictions": _int_rule(1, 10000, "Must be an integer between 1 and 10000"),
    "indexer_type": _choice_rule(INDEXER_TYPES),
    "stm_mode": _choice_rule(STM_MODES),
    "sort": _BOOL_RULE,
    "process_predictions": _BOOL_RULE,
    "use_token_matching": _BOOL_RULE,
    "rank_sort_algo": _choice_rule(RANK_SORT_ALGOS),
    "sort_symbols": _BOOL_RULE,
    "fuzzy_token_threshold": _num_rule(0.0, 1.0, _UNIT),
    "affinity_emotive": ((lambda v: isinstance(v, str) and v != ""), "Must be a non-empty string"),
    "filter_pipeline": (
        (
            lambda v: (
                isinstance(v, list) and all(isinstance(s, str) and s in FILTER_STAGES for s in v)
            )
        ),
        "Must be a list of filter names from: " + ", ".join(FILTER_STAGES),
    ),
    "length_min_ratio": _num_rule(0.0, 1.0, _UNIT),
    "length_max_ratio": _num_rule(1.0, None, "Must be a number greater than or equal to 1.0"),
    "jaccard_threshold": _num_rule(0.0, 1.0, _UNIT),
    "jaccard_min_overlap": _int_rule(1, None, "Must be an integer greater than or equal to 1"),
    "minhash_threshold": _num_rule(0.0, 1.0, _UNIT),
    "minhash_bands": _int_rule(1, 100, "Must be an integer between 1 and 100"),
    "minhash_rows": _int_rule(1, 20, "Must be an integer between 1 and 20"),
    "minhash_num_hashes": _int_rule(10, 256, "Must be an integer between 10 and 256"),
    "bloom_false_positive_rate": _num_rule(0.0001, 0.1, "Must be a number between 0.0001 and 0.1"),
    "max_candidates_per_stage": _int_rule(
        100, None, "Must be an integer greater than or equal to 100"
    ),
    "enable_filter_metrics": _BOOL_RULE,
}

_FLOAT_KEYS = frozenset(f.name for f in fields(EngineConfig) if "float" in str(f.type))
_INT_KEYS = frozenset(f.name for f in fields(EngineConfig) if str(f.type) == "int")


def validate_config_update(update: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a config update; return the normalised overrides to store.

    Unknown keys (and the accepted-but-ignored ``sort``) are dropped. ``None``
    values are kept: they remove the session override. Raises
    :class:`InvalidConfigError` listing every invalid key in contract order.
    """
    errors: dict[str, str] = {}
    for key in VALIDATION_ORDER:
        if key in update and update[key] is not None:
            check, message = RULES[key]
            if not check(update[key]):
                errors[key] = message
    if errors:
        raise InvalidConfigError(errors)
    normalised: dict[str, Any] = {}
    for key, value in update.items():
        if key not in _FIELD_NAMES:
            continue
        if value is not None and key in _FLOAT_KEYS:
            value = float(value)
        elif value is not None and key in _INT_KEYS:
            value = int(value)
        elif key == "filter_pipeline" and value is not None:
            value = list(value)
        normalised[key] = value
    return normalised


def effective_config(defaults: EngineConfig, overrides: Mapping[str, Any]) -> EngineConfig:
    """The effective configuration: the session's overrides over the process defaults."""
    return defaults.with_overrides(overrides)
