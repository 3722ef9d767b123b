"""Session configuration validation and effective values (api.md §7)."""

from __future__ import annotations

import pytest

from kato.engine import EngineConfig, InvalidConfigError, validate_config_update
from kato.engine.config import RANK_SORT_ALGOS

DEFAULT_EFFECTIVE = {
    "max_pattern_length": 0, "persistence": 5, "recall_threshold": 0.1, "indexer_type": "VI",
    "max_predictions": 100, "sort_symbols": True, "process_predictions": True,
    "use_token_matching": True, "stm_mode": "CLEAR", "rank_sort_algo": "potential",
    "filter_pipeline": [], "length_min_ratio": 0.5, "length_max_ratio": 2.0,
    "jaccard_threshold": 0.3, "jaccard_min_overlap": 2, "minhash_threshold": 0.7,
    "minhash_bands": 20, "minhash_rows": 5, "minhash_num_hashes": 100,
    "bloom_false_positive_rate": 0.01, "max_candidates_per_stage": 100000,
    "enable_filter_metrics": True,
}  # fmt: skip


def test_default_effective_configuration_in_contract_order() -> None:
    effective = EngineConfig().to_effective_dict()
    assert effective == DEFAULT_EFFECTIVE
    assert list(effective) == list(DEFAULT_EFFECTIVE)


def test_optional_keys_appear_only_when_set() -> None:
    config = EngineConfig().with_overrides(
        {"affinity_emotive": "joy", "fuzzy_token_threshold": 0.5}
    )
    keys = list(config.to_effective_dict())
    assert keys.index("fuzzy_token_threshold") == keys.index("use_token_matching") + 1
    assert keys.index("affinity_emotive") == keys.index("rank_sort_algo") + 1


def test_overrides_that_change_nothing_give_the_same_configuration_back() -> None:
    defaults = EngineConfig()
    assert defaults.with_overrides({}) is defaults
    assert defaults.with_overrides({"affinity_emotive": None, "not_a_key": 3}) is defaults
    changed = defaults.with_overrides({"max_predictions": 7, "filter_pipeline": ["length"]})
    assert (changed.max_predictions, changed.filter_pipeline) == (7, ("length",))
    assert defaults == EngineConfig()  # frozen: the defaults are untouched


def test_every_invalid_key_is_reported_in_contract_order() -> None:
    with pytest.raises(InvalidConfigError) as error:
        validate_config_update(
            {
                "persistence": 0,
                "recall_threshold": 1.5,
                "stm_mode": "SOMETIMES",
                "sort": "yes",
                "rank_sort_algo": "best",
                "max_predictions": True,
                "filter_pipeline": ["length", "nope"],
                "affinity_emotive": "",
                "length_max_ratio": 0.5,
                "minhash_num_hashes": 5,
            }
        )
    assert error.value.errors == {
        "recall_threshold": "Must be a number between 0.0 and 1.0",
        "persistence": "Must be an integer between 1 and 100",
        "max_predictions": "Must be an integer between 1 and 10000",
        "stm_mode": "Must be one of: CLEAR, ROLLING",
        "sort": "Must be a boolean (true/false)",
        "rank_sort_algo": "Must be one of: " + ", ".join(RANK_SORT_ALGOS),
        "affinity_emotive": "Must be a non-empty string",
        "filter_pipeline": "Must be a list of filter names from: minhash, length, jaccard, bloom, rapidfuzz",
        "length_max_ratio": "Must be a number greater than or equal to 1.0",
        "minhash_num_hashes": "Must be an integer between 10 and 256",
    }


@pytest.mark.parametrize(
    ("key", "value"),
    [("recall_threshold", True), ("persistence", 2.5), ("persistence", "5"), ("sort_symbols", 1)],
)
def test_booleans_are_not_numbers_and_numbers_are_not_booleans(key: str, value: object) -> None:
    with pytest.raises(InvalidConfigError):
        validate_config_update({key: value})


def test_normalisation_and_unknown_keys() -> None:
    overrides = validate_config_update(
        {
            "recall_threshold": 1,
            "persistence": 7.0,
            "sort": True,
            "session_id": "x",
            "affinity_emotive": None,
        }
    )
    assert overrides == {"recall_threshold": 1.0, "persistence": 7, "affinity_emotive": None}
    assert type(overrides["recall_threshold"]) is float
    assert type(overrides["persistence"]) is int
    config = EngineConfig().with_overrides(overrides)
    assert config.recall_threshold == 1.0
    assert config.affinity_emotive is None
