"""The worked examples E1-E26 of spec/engine.md §8, every listed value checked exactly."""

from __future__ import annotations

import pytest

from tests.engine.harness import Harness, check

MULTI_KEYS = [
    "type", "name", "frequency", "emotives", "matches", "past", "present", "missing", "extras",
    "anomalies", "potential", "evidence", "similarity", "fragmentation", "snr", "confluence",
    "predictive_information", "sequence", "future", "confidence", "weighted_similarity",
    "weighted_evidence", "weighted_confidence", "weighted_snr", "entropy", "normalized_entropy",
    "global_normalized_entropy", "itfdf_similarity", "tfidf_score", "pattern_probability",
    "weighted_strength", "bayesian_posterior", "bayesian_prior", "bayesian_likelihood",
]  # fmt: skip
FAST_KEYS = [
    "name", "pattern_data", "length", "frequency", "emotives", "matches", "missing", "present",
    "past", "future", "extras", "similarity", "evidence", "confidence", "snr", "fragmentation",
    "anomalies", "weighted_similarity", "weighted_evidence", "weighted_confidence",
    "weighted_snr", "potential",
]  # fmt: skip
NO_WEIGHTS = {
    "weighted_similarity": None,
    "weighted_evidence": None,
    "weighted_confidence": None,
    "weighted_snr": None,
}


def test_e1_basic_three_event_sequence() -> None:
    h = Harness()
    assert (
        h.learn_sequence("alpha", "beta", "gamma")
        == "PTRN|24e0f524f26eecfb14849cf3b3b57c44f3e705c2"
    )
    assert h.state.stm == []
    h.observe("alpha", "beta")
    predictions, potentials = h.predict()
    assert len(predictions) == 1
    p = predictions[0]
    assert list(p) == MULTI_KEYS
    check(
        p,
        type="prototypical",
        name="24e0f524f26eecfb14849cf3b3b57c44f3e705c2",
        frequency=1,
        similarity=0.8,
        matches=["alpha", "beta"],
        past=[],
        present=[["alpha"], ["beta"]],
        future=[["gamma"]],
        missing=[[], []],
        extras=[[], []],
        evidence=0.6666666666666666,
        confidence=1.0,
        snr=1.0,
        fragmentation=0.0,
        itfdf_similarity=0.9999999999999998,
        confluence=0.0,
        entropy=1.0,
        normalized_entropy=0.6309297535714574,
        global_normalized_entropy=0.0,
        tfidf_score=0.5,
        pattern_probability=1.0,
        weighted_strength=0.8,
        predictive_information=0.8,
        bayesian_prior=1.0,
        bayesian_likelihood=0.8,
        bayesian_posterior=1.0,
        potential=3.666666666666666,
        sequence=[["alpha"], ["beta"], ["gamma"]],
        emotives={},
        anomalies=[],
        **NO_WEIGHTS,
    )
    assert potentials == [
        {
            "future": [["gamma"]],
            "aggregate_potential": 1.0,
            "supporting_patterns": 1,
            "total_weighted_frequency": 0.8,
        }
    ]


def test_e2_past_field() -> None:
    h = Harness(recall_threshold=0.3)
    assert (
        h.learn_sequence("beginning", "middle", "end")
        == "PTRN|63b6f94454dab80c6ace4a849bd99c0979c21b8b"
    )
    h.observe("middle", "end")
    predictions, potentials = h.predict()
    (p,) = predictions
    check(
        p,
        similarity=0.8,
        past=[["beginning"]],
        present=[["middle"], ["end"]],
        future=[],
        missing=[[], []],
        extras=[[], []],
        evidence=0.6666666666666666,
        confidence=1.0,
        snr=1.0,
        itfdf_similarity=0.9999999999999998,
        entropy=1.0,
        normalized_entropy=0.6309297535714574,
        tfidf_score=0.5,
        predictive_information=0.0,
        bayesian_posterior=1.0,
        potential=3.666666666666666,
    )
    assert potentials == []


def test_e3_missing_event_aligned() -> None:
    h = Harness()
    assert (
        h.learn_sequence(["hello", "world"], ["foo", "bar"])
        == "PTRN|0405596c4d7172818bfeb508925e83226d4c4971"
    )
    h.observe("hello", "foo")
    (p,) = h.predict()[0]
    check(
        p,
        similarity=0.6666666666666665,
        matches=["hello", "foo"],
        past=[],
        present=[["hello", "world"], ["bar", "foo"]],
        future=[],
        missing=[["world"], ["bar"]],
        extras=[[], []],
        evidence=0.5,
        confidence=0.5,
        snr=1.0,
        fragmentation=1.0,
        itfdf_similarity=0.7071067811865475,
        entropy=2.0,
        normalized_entropy=1.0,
        global_normalized_entropy=0.0,
        confluence=0.0,
        tfidf_score=0.25,
        predictive_information=0.0,
        potential=2.2071067811865475,
    )


def test_e4_missing_and_extras_together() -> None:
    h = Harness()
    assert (
        h.learn_sequence(["a", "b"], ["c", "d"]) == "PTRN|0979c1024e7a5c6bf7c542ef1a2b8226d8fd50a3"
    )
    h.observe(["a", "x"], ["c", "y"])
    (p,) = h.predict()[0]
    check(
        p,
        similarity=0.5,
        matches=["a", "c"],
        present=[["a", "b"], ["c", "d"]],
        missing=[["b"], ["d"]],
        extras=[["x"], ["y"]],
        evidence=0.5,
        confidence=0.5,
        snr=0.3333333333333333,
        fragmentation=1.0,
        itfdf_similarity=0.7071067811865475,
        potential=1.5404401145198807,
    )


def test_e5_multi_event_present_and_future() -> None:
    h = Harness()
    assert (
        h.learn_sequence(["a", "b"], ["c", "d"], ["e", "f"])
        == "PTRN|8d2d1f286a562a988be2004170a3bb7062aece9e"
    )
    h.observe("a", "c")
    (p,) = h.predict()[0]
    check(
        p,
        similarity=0.5,
        present=[["a", "b"], ["c", "d"]],
        missing=[["b"], ["d"]],
        future=[["e", "f"]],
        extras=[[], []],
        evidence=0.3333333333333333,
        confidence=0.5,
        snr=1.0,
        fragmentation=1.0,
        itfdf_similarity=0.7071067811865475,
        entropy=2.0,
        normalized_entropy=0.7737056144690831,
        tfidf_score=0.25,
        predictive_information=0.5,
        potential=2.040440114519881,
    )


def test_e6_three_patterns_sharing_a_prefix() -> None:
    h = Harness(recall_threshold=0.2)
    assert h.learn_sequence("a", "b", "c") == "PTRN|b98534b32c1d7489d4ce1a48724aa65aeecbdba9"
    assert h.learn_sequence("a", "b", "d") == "PTRN|71c480f96c9bdedff8c44612fae4bb9d6e76ecd8"
    assert h.learn_sequence("a", "b", "e") == "PTRN|c8fce2549bad7f8bdfc8042c8f120a47955dafeb"
    h.observe("a", "b")
    predictions, potentials = h.predict()
    assert [(p["name"][:8], p["future"]) for p in predictions] == [
        ("71c480f9", [["d"]]),
        ("b98534b3", [["c"]]),
        ("c8fce254", [["e"]]),
    ]
    for p in predictions:
        check(
            p,
            similarity=0.8,
            evidence=0.6666666666666666,
            confidence=1.0,
            snr=1.0,
            itfdf_similarity=0.9999999999999999,
            normalized_entropy=0.43067655807339306,
            pattern_probability=0.3333333333333333,
            weighted_strength=0.26666666666666666,
            predictive_information=0.8,
            bayesian_prior=0.3333333333333333,
            bayesian_posterior=0.3333333333333333,
            potential=3.6666666666666665,
        )
    assert [fp["future"] for fp in potentials] == [[["c"]], [["d"]], [["e"]]]
    for fp in potentials:
        assert fp["aggregate_potential"] == 0.3333333333333333
        assert fp["supporting_patterns"] == 1
        assert fp["total_weighted_frequency"] == 0.8


def test_e7_frequency_prior_posterior() -> None:
    h = Harness(recall_threshold=0.2)
    assert h.learn_sequence("x", "y", "z") == "PTRN|f8903d387eddaf0d6b73c6bc1fd9986dc3ff4d5a"
    assert h.learn_sequence("x", "y", "z") == "PTRN|f8903d387eddaf0d6b73c6bc1fd9986dc3ff4d5a"
    assert h.learn_sequence("x", "y", "w") == "PTRN|0ea6da0f96418cdddd9b1d5884f401533c7d124d"
    h.observe("x", "y")
    predictions, potentials = h.predict()
    first, second = predictions
    check(
        first,
        name="0ea6da0f96418cdddd9b1d5884f401533c7d124d",
        frequency=1,
        bayesian_prior=0.3333333333333333,
        bayesian_posterior=0.3333333333333333,
        pattern_probability=0.3333333333333333,
        weighted_strength=0.26666666666666666,
        predictive_information=0.8,
        normalized_entropy=0.5,
        itfdf_similarity=0.9999999999999999,
        potential=3.6666666666666665,
    )
    check(
        second,
        name="f8903d387eddaf0d6b73c6bc1fd9986dc3ff4d5a",
        frequency=2,
        bayesian_prior=0.6666666666666666,
        bayesian_posterior=0.6666666666666666,
        pattern_probability=0.6666666666666666,
        weighted_strength=0.5333333333333333,
        predictive_information=0.8,
        normalized_entropy=0.5,
        itfdf_similarity=0.9999999999999999,
        potential=3.6666666666666665,
    )
    assert [
        (fp["future"], fp["aggregate_potential"], fp["total_weighted_frequency"])
        for fp in potentials
    ] == [
        ([["z"]], 0.6666666666666666, 1.6),
        ([["w"]], 0.3333333333333333, 0.8),
    ]


def test_e8a_single_symbol_fast_path() -> None:
    h = Harness()
    h.learn_sequence("alpha", "beta", "gamma")
    h.clear()
    h.observe("alpha")
    predictions, potentials = h.predict()
    assert predictions == [
        {
            "name": "24e0f524f26eecfb14849cf3b3b57c44f3e705c2",
            "pattern_data": [["alpha"], ["beta"], ["gamma"]],
            "length": 3,
            "frequency": 1,
            "emotives": {},
            "matches": ["alpha"],
            "missing": [],
            "present": ["alpha"],
            "past": [],
            "future": ["beta", "gamma"],
            "extras": [],
            "similarity": 0.5,
            "evidence": 0.3333333333333333,
            "confidence": 1.0,
            "snr": 1.0,
            "fragmentation": 0,
            "anomalies": [],
            "weighted_similarity": None,
            "weighted_evidence": None,
            "weighted_confidence": None,
            "weighted_snr": None,
            "potential": 2.333333333333333,
        }
    ]
    assert list(predictions[0]) == FAST_KEYS
    assert type(predictions[0]["fragmentation"]) is int
    assert potentials == []


def test_e8b_fast_path_ignores_threshold() -> None:
    h = Harness(recall_threshold=0.9)
    assert h.learn_sequence("s", "t", "u", "v") == "PTRN|3d901dda357ae1e05193d02c93a266a540161f1d"
    assert h.learn_sequence("s", "x") == "PTRN|5b0795abb50494f31a45008e242d7e384d06e831"
    assert h.learn_sequence("t", "s") == "PTRN|24531100a410ae79c12ff70a4bec3c9bca89778c"
    h.observe("s")
    first, second = h.predict()[0]
    check(
        first,
        name="5b0795abb50494f31a45008e242d7e384d06e831",
        similarity=0.6666666666666666,
        potential=2.5,
        future=["x"],
    )
    check(
        second,
        name="3d901dda357ae1e05193d02c93a266a540161f1d",
        similarity=0.4,
        potential=2.25,
        future=["t", "u", "v"],
    )


def test_e8c_fast_path_first_symbol_only() -> None:
    h = Harness()
    assert h.learn_sequence(["w", "x"], "y", "z") == "PTRN|59a605868560f708fc7e25b417331f7ef02f607a"
    h.observe("x")
    assert h.predict() == ([], [])


def test_e9_threshold_zero_unrelated_input() -> None:
    h = Harness(recall_threshold=0.0)
    assert (
        h.learn_sequence("known", "pattern", "here")
        == "PTRN|7f3039d53d0b7511058b3af520ef4b9786e06c53"
    )
    h.observe("unknown1", "unknown2")
    (p,) = h.predict()[0]
    check(
        p,
        similarity=0.0,
        matches=[],
        past=[],
        present=[["known"], ["pattern"], ["here"]],
        missing=[["known"], ["pattern"], ["here"]],
        future=[],
        extras=[["unknown1"], ["unknown2"]],
        evidence=0.0,
        confidence=0.0,
        snr=-1.0,
        fragmentation=-1.0,
        itfdf_similarity=0.0,
        confluence=0.0,
        entropy=1.584962500721156,
        normalized_entropy=1.0,
        global_normalized_entropy=0.0,
        tfidf_score=0.3333333333333333,
        predictive_information=0.0,
        bayesian_prior=1.0,
        bayesian_likelihood=0.0,
        bayesian_posterior=0.0,
        potential=0.0,
    )
    h.configure(recall_threshold=0.1)
    assert h.predict()[0] == []


def test_e10_emotives_and_accumulator_after_learn() -> None:
    h = Harness(recall_threshold=0.2)
    h.observe(
        {"strings": ["start"], "emotives": {"joy": 1.0, "confidence": 0.8}},
        {"strings": ["middle"], "emotives": {"joy": 0.5, "confidence": 0.6}},
        {"strings": ["end"], "emotives": {"joy": 0.3, "confidence": 0.4}},
    )
    name = h.learn()
    assert name == "PTRN|cd1d8db121a845d4688da88b0d4cf6e18794995b"
    assert h.pattern(name).emotives == [
        {"joy": 1.0, "confidence": 0.8},
        {"joy": 0.5, "confidence": 0.6},
        {"joy": 0.3, "confidence": 0.4},
    ]
    assert h.state.emotives_accumulator == []
    h.clear()
    h.observe("start", "middle")
    (p,) = h.predict()[0]
    check(
        p,
        emotives={"joy": 0.6, "confidence": 0.6},
        similarity=0.8,
        predictive_information=0.8,
        potential=3.666666666666666,
        future=[["end"]],
    )


def test_e10b_relearn_emotive_window() -> None:
    h = Harness()
    h.observe(
        {"strings": ["A"], "emotives": {"value": 1.0}},
        {"strings": ["B"], "emotives": {"value": 0.8}},
        {"strings": ["C"], "emotives": {"value": 0.6}},
    )
    name = h.learn()
    h.clear()
    h.observe(
        {"strings": ["A"], "emotives": {"value": 0.4}},
        {"strings": ["B"], "emotives": {"value": 0.2}},
        {"strings": ["C"], "emotives": {"value": 0.1}},
    )
    assert h.learn() == name
    record = h.pattern(name)
    assert record.frequency == 2
    assert record.emotives == [{"value": v} for v in (0.8, 0.6, 0.4, 0.2, 0.1)]
    h.clear()
    h.observe("A", "B")
    (p,) = h.predict()[0]
    assert p["emotives"] == {"value": 0.41999999999999993}


def test_e11a_auto_learn_rolling() -> None:
    h = Harness(max_pattern_length=3, stm_mode="ROLLING")
    expected = [
        (None, [["A"]], []),
        (None, [["A"], ["B"]], []),
        ("PTRN|5b93697e1e591a765dd0b3c91ae7b57fa44589d9", [["B"], ["C"]], []),
        (
            "PTRN|c47f928fc5bc01bb5ff056f238105c8920fde7bf",
            [["C"], ["D"]],
            [("5b93697e", 0.6666666666666665)],
        ),
        (
            "PTRN|500395bcec5d10db5cdcfd0c86e887d956be1f09",
            [["D"], ["E"]],
            [("c47f928f", 0.6666666666666665), ("5b93697e", 0.33333333333333326)],
        ),
    ]
    for symbol, (learned, stm, predictions) in zip("ABCDE", expected, strict=True):
        assert h.observe(symbol) == [learned]
        assert h.state.stm == stm
        assert [(p["name"][:8], p["similarity"]) for p in h.state.prediction_list()] == predictions


def test_e11b_auto_learn_clear() -> None:
    h = Harness(max_pattern_length=3, stm_mode="CLEAR")
    assert h.observe("A", "B", "C") == [None, None, "PTRN|5b93697e1e591a765dd0b3c91ae7b57fa44589d9"]
    assert h.state.stm == []
    assert h.observe("D") == [None]
    assert h.state.stm == [["D"]]
    assert h.observe("E") == [None]
    assert h.state.stm == [["D"], ["E"]]


def test_e11c_auto_learn_with_emotives() -> None:
    h = Harness(max_pattern_length=3, stm_mode="ROLLING")
    percepts = []
    names = []
    for value, symbol in enumerate("ABCDE", start=1):
        names.extend(h.observe({"strings": [symbol], "emotives": {"v": float(value)}}))
        percepts.append(h.state.percept_data["emotives"])
        if names[-1]:
            assert h.state.emotives_accumulator == []
    assert percepts == [{"v": 1.0}, {"v": 1.5}, {"v": 2.0}, {"v": 4.0}, {"v": 5.0}]
    abc, bcd, cde = names[2:]
    assert abc is not None and bcd is not None and cde is not None
    assert h.pattern(abc).emotives == [{"v": 1.0}, {"v": 2.0}, {"v": 3.0}]
    assert h.pattern(bcd).emotives == [{"v": 4.0}]
    assert h.pattern(cde).emotives == [{"v": 5.0}]
    affinity = h.engine.kb.all_affinities()
    assert {s: a["v"] for s, a in affinity.items()} == {
        "A": 2.0,
        "B": 6.0,
        "C": 11.0,
        "D": 9.0,
        "E": 5.0,
    }


def test_e11d_auto_learn_stores_emotives_and_metadata() -> None:
    h = Harness(max_pattern_length=2)
    names = h.observe(
        {"strings": ["a"], "emotives": {"joy": 0.5}, "metadata": {"src": "x"}},
        {"strings": ["b"], "emotives": {"joy": 1.0}},
    )
    assert names == [None, "PTRN|76d7efca2e96cb5eeddf4e06ac96a0f424630135"]
    record = h.pattern("PTRN|76d7efca2e96cb5eeddf4e06ac96a0f424630135")
    assert record.emotives == [{"joy": 0.5}, {"joy": 1.0}]
    assert record.metadata == {"src": ["x"]}
    assert h.engine.kb.all_affinities() == {"a": {"joy": 0.75}, "b": {"joy": 0.75}}
    assert h.state.emotives_accumulator == []
    assert h.state.metadata_accumulator == []
    assert h.state.stm == []


V1 = "VCTR|9d58821e286eae6a77923d694a12ede7cbeabfbd"
V2 = "VCTR|a1ebc66f217009680e3d11cb721cbb480572e90f"


def test_e12_vectors_nearest_neighbours() -> None:
    h = Harness()
    h.observe(
        {"strings": ["multi1", "modal1"], "vectors": [[1, 0, 0]]},
        {"strings": ["multi2", "modal2"], "vectors": [[0, 1, 0]]},
    )
    assert h.state.stm == [[V1, "modal1", "multi1"], [V2, "modal2", "multi2"]]
    assert h.engine.vectors.dimension() is None
    assert h.learn() == "PTRN|70c3f1c985dd3d49076749631711c6a4e0540ecd"
    assert h.engine.vectors.dimension() == 3
    h.clear()
    h.observe(
        {"strings": ["multi1"], "vectors": [[1, 0, 0]]},
        {"strings": ["multi2"], "vectors": [[0, 1, 0]]},
    )
    assert h.state.stm == [[V1, V2, "multi1"], [V1, V2, "multi2"]]
    h.configure(recall_threshold=0.65)
    (p,) = h.predict()[0]
    check(
        p,
        similarity=0.6666666666666665,
        matches=[V1, "multi1", V2, "multi2"],
        present=[[V1, "modal1", "multi1"], [V2, "modal2", "multi2"]],
        missing=[["modal1"], ["modal2"]],
        extras=[[], []],
        snr=0.6,
        itfdf_similarity=0.7745966692414834,
        potential=1.8245966692414832,
    )
    h.configure(recall_threshold=0.7)
    assert h.predict()[0] == []


def _e13_patterns(h: Harness, klm_twice: bool = True) -> None:
    assert h.learn_sequence("k", "l", "m") == "PTRN|40413e789c5dd8af3a2c9ec620ca369425dab252"
    if klm_twice:
        h.learn_sequence("k", "l", "m")
    assert h.learn_sequence("k", "l", "n") == "PTRN|5e947c2ffb8326bb30bd615fa609b9c68b445e31"
    assert h.learn_sequence("k", "l", "o", "p") == "PTRN|d67929f43a3d98ae527da7e30c8c3fab9c5b5dac"
    assert h.learn_sequence("k", "q") == "PTRN|0be7f8799ea720b24d9c6fbefda1198d65b04f13"


KLM, KLN, KLOP, KQ = "40413e78", "5e947c2f", "d67929f4", "0be7f879"


def test_e13_store_statistics() -> None:
    h = Harness(recall_threshold=0.2)
    _e13_patterns(h)
    stats = h.engine.kb.global_stats()
    assert (stats.total_unique_patterns, stats.total_pattern_frequencies) == (4, 4)
    assert stats.total_symbols_in_patterns_frequencies == 15
    assert stats.distinct_symbols == 7
    symbols = {
        s.name: (s.frequency, s.pattern_member_frequency) for s in h.engine.kb.all_symbol_stats()
    }
    assert symbols == {
        "k": (5, 4), "l": (4, 3), "m": (2, 1), "n": (1, 1), "o": (1, 1), "p": (1, 1), "q": (1, 1),
    }  # fmt: skip


def test_e13a_rich_ensemble() -> None:
    h = Harness(recall_threshold=0.2)
    _e13_patterns(h)
    h.observe("k", "l")
    predictions, potentials = h.predict()
    assert [p["name"][:8] for p in predictions] == [KLM, KLN, KLOP, KQ]
    rows = {
        KLM: (2, 0.8, 0.6666666666666666, 1.0, 1.0, 0.125, 0.11087950512184855, 0.603759374819711, 0.7133333333333335, 0.4, 0.44859813084112155, 3.6666666666666665),
        KLN: (1, 0.8, 0.6666666666666666, 1.0, 1.0, 0.0625, 0.11087950512184855, 0.603759374819711, 0.7133333333333335, 0.2, 0.22429906542056077, 3.6666666666666665),
        KLOP: (1, 0.6666666666666665, 0.5, 1.0, 1.0, 0.0625, 0.11087950512184855, 0.603759374819711, 0.7133333333333334, 0.2, 0.18691588785046723, 3.5),
        KQ: (1, 0.5, 0.5, 0.3333333333333333, 0.96, 0.0, 0.0, 1.0, 0.7133333333333335, 0.2, 0.14018691588785046, 2.46),
    }  # fmt: skip
    strengths = {
        KLM: 0.32000000000000006,
        KLN: 0.16000000000000003,
        KLOP: 0.1333333333333333,
        KQ: 0.1,
    }
    for p in predictions:
        key = p["name"][:8]
        f, sim, ev, snr, itfdf, conf, gne, tfidf, pi, prior, post, pot = rows[key]
        check(
            p,
            frequency=f,
            similarity=sim,
            evidence=ev,
            snr=snr,
            itfdf_similarity=itfdf,
            confluence=conf,
            global_normalized_entropy=gne,
            tfidf_score=tfidf,
            predictive_information=pi,
            bayesian_prior=prior,
            pattern_probability=prior,
            bayesian_posterior=post,
            potential=pot,
            weighted_strength=strengths[key],
            confidence=1.0,
        )
        if key == KQ:
            check(
                p,
                present=[["k"]],
                missing=[[]],
                extras=[[], ["l"]],
                entropy=0.0,
                normalized_entropy=0.0,
            )
        else:
            check(p, present=[["k"], ["l"]], entropy=1.0, normalized_entropy=0.3562071871080222)
    assert [
        (
            fp["future"],
            fp["aggregate_potential"],
            fp["supporting_patterns"],
            fp["total_weighted_frequency"],
        )
        for fp in potentials
    ] == [
        ([["m"]], 0.4485981308411215, 1, 1.6),
        ([["n"]], 0.22429906542056074, 1, 0.8),
        ([["o"], ["p"]], 0.18691588785046723, 1, 0.6666666666666665),
        ([["q"]], 0.14018691588785046, 1, 0.5),
    ]


def test_e13b_and_e13c_finalize_training_and_invalidation() -> None:
    h = Harness(recall_threshold=0.2)
    _e13_patterns(h)
    h.observe("k", "l")
    before = h.by_name()
    assert h.engine.finalize_training().patterns_processed == 4
    after = h.by_name()
    finalized = {
        KLM: (1.584962500721156, 0.5645750340535797, 0.28898309867585964, 0.6016708332532049),
        KLN: (1.584962500721156, 0.5645750340535797, 0.28898309867585964, 0.6016708332532049),
        KLOP: (2.0, 0.7124143742160444, 0.46708669222987076, 0.5259398437049277),
        KQ: (1.0, 0.3562071871080222, 0.1781035935540111, 1.0),
    }
    for name, p in after.items():
        entropy, norm, gne, tfidf = finalized[name[:8]]
        check(
            p,
            entropy=entropy,
            normalized_entropy=norm,
            global_normalized_entropy=gne,
            tfidf_score=tfidf,
        )
        assert p["potential"] == before[name]["potential"]
    # E13c: a new pattern discards them.
    h.clear()
    assert h.learn_sequence("r", "s") == "PTRN|2f0e5460bf11b626e89669669d99872863b73290"
    h.observe("k", "l")
    invalidated = {
        KLM: (1.0, 0.3154648767857287, 0.22073766164538305, 0.7647234222633921, 0.20800000000000002, 3.6666666666666665),
        KLN: (1.0, 0.3154648767857287, 0.22073766164538305, 0.7647234222633921, 0.10400000000000001, 3.6666666666666665),
        KLOP: (1.0, 0.3154648767857287, 0.22073766164538305, 0.7647234222633921, 0.10400000000000001, 3.5),
        KQ: (0.0, 0.0, 0.0812456054300049, 1.3219280948873624, 0.039999999999999994, 2.46),
    }  # fmt: skip
    predictions = h.by_name()
    for name, values in invalidated.items():
        p = next(v for k, v in predictions.items() if k.startswith(name))
        entropy, norm, gne, tfidf, confluence, potential = values
        check(
            p,
            entropy=entropy,
            normalized_entropy=norm,
            global_normalized_entropy=gne,
            tfidf_score=tfidf,
            confluence=confluence,
            potential=potential,
        )


def test_relearn_after_finalize_keeps_precomputed_metrics() -> None:
    h = Harness(recall_threshold=0.2)
    _e13_patterns(h)
    h.engine.finalize_training()
    h.learn_sequence("k", "q")
    h.observe("k", "l")
    klop = next(p for n, p in h.by_name().items() if n.startswith(KLOP))
    check(klop, entropy=2.0, normalized_entropy=0.7124143742160444)


def test_e14_truncation_and_pruning() -> None:
    h = Harness(recall_threshold=0.2, max_predictions=2)
    _e13_patterns(h, klm_twice=False)
    h.observe("k", "l")
    predictions, potentials = h.predict()
    assert [p["name"][:8] for p in predictions] == [KLM, KLN]
    for p in predictions:
        check(
            p,
            bayesian_prior=0.25,
            bayesian_posterior=0.28915662650602414,
            potential=3.6666666666666665,
        )
        assert "_pre_potential" not in p
    assert [(fp["future"], fp["aggregate_potential"]) for fp in potentials] == [
        ([["m"]], 0.28915662650602414),
        ([["n"]], 0.28915662650602414),
        ([["o"], ["p"]], 0.2409638554216867),
        ([["q"]], 0.18072289156626506),
    ]
    h.configure(max_predictions=1)
    predictions, potentials = h.predict()
    (p,) = predictions
    check(p, bayesian_prior=0.3333333333333333, bayesian_posterior=0.35294117647058826)
    assert p["name"].startswith(KLM)
    assert "_pre_potential" not in p
    assert [(fp["future"], fp["aggregate_potential"]) for fp in potentials] == [
        ([["m"]], 0.35294117647058826),
        ([["n"]], 0.35294117647058826),
        ([["o"], ["p"]], 0.2941176470588235),
    ]


def test_e15_repeated_symbols() -> None:
    h = Harness()
    h.observe(["a", "b", "a", "c", "b"])
    assert h.state.stm == [["a", "a", "b", "b", "c"]]
    assert h.learn() == "PTRN|e44785238903d9f1584ee93fe2d62c89c06ac164"
    h.observe(["a", "b"])
    (p,) = h.predict()[0]
    check(
        p,
        similarity=0.5714285714285714,
        matches=["a", "b"],
        past=[],
        present=[["a", "a", "b", "b", "c"]],
        missing=[["c"]],
        extras=[[]],
        evidence=0.4,
        confidence=0.4,
        snr=1.0,
        fragmentation=0.0,
        itfdf_similarity=0.9428090415820632,
        entropy=1.5219280948873621,
        normalized_entropy=0.9602297178607611,
        tfidf_score=0.3333333333333333,
        potential=2.7428090415820634,
    )


def test_e16_observation_longer_than_pattern() -> None:
    h = Harness()
    assert h.learn_sequence("a", "b") == "PTRN|76d7efca2e96cb5eeddf4e06ac96a0f424630135"
    h.observe("a", "b", "c", "d", "e")
    (p,) = h.predict()[0]
    check(
        p,
        similarity=0.5714285714285714,
        present=[["a"], ["b"]],
        extras=[[], [], ["c"], ["d"], ["e"]],
        evidence=1.0,
        confidence=1.0,
        snr=0.14285714285714285,
        itfdf_similarity=0.9999999999999998,
        potential=2.2857142857142856,
    )


def test_e17_metadata_and_accumulator_consumption() -> None:
    h = Harness()
    h.observe(
        {
            "strings": ["A"],
            "metadata": {"count": 123, "price": 45.67, "flag": True, "name": "test"},
        },
        "B",
    )
    first = h.learn()
    assert first == "PTRN|3651a86de198b54b13e1d7a02407dc4faaa622ff"
    assert h.pattern(first).metadata == {
        "count": ["123"],
        "price": ["45.67"],
        "flag": ["True"],
        "name": ["test"],
    }
    assert list(h.pattern(first).metadata) == ["count", "price", "flag", "name"]
    assert h.state.metadata_accumulator == []
    h.observe({"strings": ["A"], "metadata": {"count": 7}}, "B")
    assert h.learn() == first
    record = h.pattern(first)
    assert record.frequency == 2
    assert record.metadata == {
        "count": ["123", "7"],
        "price": ["45.67"],
        "flag": ["True"],
        "name": ["test"],
    }
    h.observe({"strings": ["C"], "metadata": {"count": 9}}, "D")
    third = h.learn()
    assert third == "PTRN|478c806e238e15d0c44b1c0d2058ba4290c68607"
    assert h.pattern(third).metadata == {"count": ["9"]}
    h.observe({"strings": ["A"], "emotives": {"e": 1}}, {"emotives": {"e": 3}})
    assert h.state.time == 8
    assert h.state.emotives_accumulator == [{"e": 1.0}, {"e": 3.0}]
    assert h.state.stm == [["A"]]
    assert h.state.percept_data["emotives"] == {"e": 2.0}


def test_e18_lcs_and_greedy_matcher_disagree() -> None:
    h = Harness()
    assert h.learn_sequence("c", "a", "b", "c") == "PTRN|36e900191f213f80a2be1254bf3bd6ad0b6faed6"
    h.observe("a", "c")
    (p,) = h.predict()[0]
    check(
        p,
        similarity=0.6666666666666665,
        matches=["c"],
        past=[],
        present=[["c"]],
        future=[["a"], ["b"], ["c"]],
        missing=[[]],
        extras=[["a"], []],
        evidence=0.25,
        confidence=1.0,
        snr=0.3333333333333333,
        itfdf_similarity=1.0,
        normalized_entropy=0.0,
        tfidf_score=1.0,
        predictive_information=0.6666666666666665,
        potential=2.4166666666666665,
    )


def test_e19_by_value_fix_up() -> None:
    h = Harness()
    assert (
        h.learn_sequence(["a", "b"], ["b", "c"], ["d"])
        == "PTRN|2e1c0c09a1cdc1a187caecc5b11de4535e5a6e4d"
    )
    h.observe("b", "c")
    (p,) = h.predict()[0]
    check(
        p,
        present=[["a", "b"], ["b", "c"]],
        past=[],
        future=[["d"]],
        missing=[["a"], []],
        similarity=0.5714285714285714,
        evidence=0.4,
        confidence=0.5,
        itfdf_similarity=0.8660254037844387,
        predictive_information=0.5714285714285714,
        potential=2.7660254037844387,
    )


def test_e20_fuzzy_tokens() -> None:
    h = Harness(fuzzy_token_threshold=0.85)
    h.observe(["apple", "banana", "cherry", "date", "elderberry"])
    assert h.learn() == "PTRN|fd63b38876c4ebf66cc9b10b5943e507ccae15ce"
    h.clear()
    h.observe(["apple", "bannana", "chery"])
    (p,) = h.predict()[0]
    check(
        p,
        similarity=0.25,
        matches=["apple", "bannana", "chery"],
        anomalies=[
            {"observed": "bannana", "expected": "banana", "similarity": 0.923076923076923},
            {"observed": "chery", "expected": "cherry", "similarity": 0.9090909090909091},
        ],
        present=[["apple", "banana", "cherry", "date", "elderberry"]],
        missing=[["banana", "cherry", "date", "elderberry"]],
        extras=[["bannana", "chery"]],
        evidence=0.6,
        confidence=0.6,
        snr=1.0,
        itfdf_similarity=0.44721359549995787,
        potential=2.6472135954999576,
    )


def _e21_setup() -> Harness:
    h = Harness(affinity_emotive="joy")
    h.observe(
        {"strings": ["A"], "emotives": {"joy": 0.8}},
        "N1",
        {"strings": ["B"], "emotives": {"joy": 0.4}},
    )
    assert h.learn() == "PTRN|2d7dd2ff03ddb60d0b2685654f61c00a16ce7e95"
    h.clear()
    h.observe({"strings": ["A"], "emotives": {"joy": -1.0}}, "C")
    assert h.learn() == "PTRN|0a0384fa448311f2a5a8193368323c62f94187cc"
    h.clear()
    affinity = {s: a["joy"] for s, a in h.engine.kb.all_affinities().items()}
    assert affinity == {
        "A": -0.3999999999999999,
        "B": 0.6000000000000001,
        "C": -1.0,
        "N1": 0.6000000000000001,
    }
    return h


def test_e21a_affinity_weighting_multi_symbol() -> None:
    h = _e21_setup()
    h.observe("A", "N2", "B")
    first, second = h.predict()[0]
    check(
        first,
        name="2d7dd2ff03ddb60d0b2685654f61c00a16ce7e95",
        similarity=0.6666666666666665,
        weighted_similarity=0.9939393939393939,
        evidence=0.6666666666666666,
        weighted_evidence=1.0,
        confidence=0.6666666666666666,
        weighted_confidence=1.0,
        snr=0.6,
        weighted_snr=0.9879518072289156,
        itfdf_similarity=0.9564354645876385,
        fragmentation=1.0,
        potential=3.4323390790454695,
        matches=["A", "B"],
        extras=[[], ["N2"], []],
    )
    check(
        second,
        name="0a0384fa448311f2a5a8193368323c62f94187cc",
        similarity=0.4,
        weighted_similarity=0.40384615384615374,
        evidence=0.5,
        weighted_evidence=1.0,
        confidence=1.0,
        weighted_confidence=1.0,
        snr=0.0,
        weighted_snr=0.253012048192771,
        itfdf_similarity=0.9472135954999579,
        fragmentation=0.0,
        potential=2.4532376918854997,
        matches=["A"],
        extras=[[], ["N2"], ["B"]],
    )


def test_e21b_affinity_weighting_fast_path() -> None:
    h = _e21_setup()
    h.observe("A")
    first, second = h.predict()[0]
    check(
        first,
        name="0a0384fa448311f2a5a8193368323c62f94187cc",
        similarity=0.6666666666666666,
        weighted_similarity=0.29370629370629364,
        evidence=0.5,
        weighted_evidence=0.17213114754098358,
        confidence=1.0,
        weighted_confidence=1.0,
        snr=1.0,
        weighted_snr=1.0,
        fragmentation=0,
        potential=2.1721311475409837,
    )
    check(
        second,
        name="2d7dd2ff03ddb60d0b2685654f61c00a16ce7e95",
        similarity=0.5,
        weighted_similarity=0.2560975609756097,
        evidence=0.3333333333333333,
        weighted_evidence=0.14685314685314682,
        confidence=1.0,
        weighted_confidence=1.0,
        snr=1.0,
        weighted_snr=1.0,
        fragmentation=0,
        potential=2.1468531468531467,
    )


def test_e22a_character_mode() -> None:
    h = Harness(use_token_matching=False, sort_symbols=True)
    h.observe(["apple", "banana", "cherry"])
    assert h.learn() == "PTRN|95c7e160339449ceee8fba0cd67384b1b1a9ba16"
    h.clear()
    h.observe(["apple", "banana"])
    (p,) = h.predict()[0]
    check(
        p,
        similarity=0.7741935483870968,
        missing=[["cherry"]],
        fragmentation=0.0,
        potential=3.1498299142610593,
    )
    h.clear()
    h.observe(["cherry", "apple"])
    assert h.state.stm == [["apple", "cherry"]]
    (p,) = h.predict()[0]
    check(
        p,
        similarity=0.7741935483870968,
        missing=[["banana"]],
        fragmentation=1.0,
        potential=2.6498299142610593,
    )


def test_e22b_token_versus_character_similarity() -> None:
    h = Harness()
    h.observe(["token1", "token2", "token3", "token4"])
    h.learn()
    h.observe(["token1", "token2", "token3"])
    (p,) = h.predict()[0]
    check(p, similarity=0.8571428571428571, potential=3.366025403784439)
    h.configure(use_token_matching=False)
    (p,) = h.predict()[0]
    check(p, similarity=0.851063829787234, potential=3.366025403784439)


def test_e22c_character_mode_keeps_input_order() -> None:
    h = Harness(use_token_matching=False, sort_symbols=False)
    h.observe(["apple", "banana", "cherry"])
    assert h.learn() == "PTRN|95c7e160339449ceee8fba0cd67384b1b1a9ba16"
    h.observe(["apple", "banana"])
    (p,) = h.predict()[0]
    check(
        p,
        similarity=0.7741935483870968,
        missing=[["cherry"]],
        fragmentation=0.0,
        potential=3.1498299142610593,
    )
    h.clear()
    h.observe(["cherry", "apple"])
    assert h.state.stm == [["cherry", "apple"]]
    (p,) = h.predict()[0]
    check(
        p,
        similarity=0.3870967741935484,
        matches=["apple"],
        present=[["apple", "banana", "cherry"]],
        missing=[["banana", "cherry"]],
        extras=[[]],
        snr=0.3333333333333333,
        fragmentation=0.0,
        potential=2.038718803149948,
    )


def test_e22d_fast_path_character_mode() -> None:
    h = Harness(use_token_matching=False)
    h.observe(["apple", "banana", "cherry"])
    h.learn()
    h.clear()
    h.observe("apple")
    (p,) = h.predict()[0]
    check(
        p,
        similarity=0.41666666666666663,
        evidence=0.3333333333333333,
        confidence=1.0,
        snr=1.0,
        present=["apple"],
        future=["banana", "cherry"],
        potential=2.333333333333333,
    )
    h.configure(use_token_matching=True)
    assert h.predict()[0][0]["similarity"] == 0.5


def test_e23_misaligned_stm_and_pattern() -> None:
    h = Harness()
    h.observe("shared")
    assert h.learn() == ""
    assert h.state.stm == []
    assert (
        h.learn_sequence("before1", "before2", "shared", "after1")
        == "PTRN|23eead5bb8ce340e9f8ee50b0d676ae94a66313f"
    )
    h.observe("event1", "event2", "shared", "event4")
    (p,) = h.predict()[0]
    check(
        p,
        similarity=0.25,
        past=[["before1"], ["before2"]],
        present=[["shared"]],
        future=[["after1"]],
        missing=[[]],
        extras=[["event1"], ["event2"], [], ["event4"]],
        evidence=0.25,
        confidence=1.0,
        snr=-0.2,
        itfdf_similarity=1.0,
        predictive_information=0.25,
        potential=1.75,
    )


def test_e25_fast_path_honours_rank_sort_algo() -> None:
    h = Harness(rank_sort_algo="frequency")
    h.learn_sequence("s", "t", "u", "v")
    assert h.learn_sequence("s", "t", "u", "v") == "PTRN|3d901dda357ae1e05193d02c93a266a540161f1d"
    assert h.learn_sequence("s", "x") == "PTRN|5b0795abb50494f31a45008e242d7e384d06e831"
    h.observe("s")
    order = [(p["name"][:8], p["frequency"], p["potential"]) for p in h.predict()[0]]
    assert order == [("3d901dda", 2, 2.25), ("5b0795ab", 1, 2.5)]
    for algo in ("potential", "confluence"):
        h.configure(rank_sort_algo=algo)
        assert [p["name"][:8] for p in h.predict()[0]] == ["5b0795ab", "3d901dda"]


def test_e26_multi_symbol_honours_rank_sort_algo() -> None:
    h = Harness(recall_threshold=0.2, rank_sort_algo="confluence")
    _e13_patterns(h)
    h.observe("k", "l")
    assert [(p["name"][:8], p["confluence"]) for p in h.predict()[0]] == [
        (KLM, 0.125),
        (KLN, 0.0625),
        (KLOP, 0.0625),
        (KQ, 0.0),
    ]
    h.configure(rank_sort_algo="weighted_similarity")
    assert [p["name"][:8] for p in h.predict()[0]] == [KQ, KLM, KLN, KLOP]


@pytest.mark.parametrize(
    "algo", ["fragmentation", "bayesian_posterior", "tfidf_score", "weighted_snr"]
)
def test_every_rank_field_sorts_descending_with_name_ties(algo: str) -> None:
    h = Harness(recall_threshold=0.2, rank_sort_algo=algo)
    _e13_patterns(h)
    h.observe("k", "l")
    predictions = h.predict()[0]
    keys = [(p[algo] is None, -(p[algo] or 0.0), p["name"]) for p in predictions]
    assert keys == sorted(keys)
