"""Engine worked examples (engine.md §8) driven end to end through the HTTP API."""

from __future__ import annotations

import uuid

import httpx


def fresh_session(http: httpx.Client, **config: object) -> str:
    node = f"example-{uuid.uuid4().hex}"
    body: dict[str, object] = {"node_id": node}
    if config:
        body["config"] = config
    return str(http.post("/sessions", json=body).json()["session_id"])


def observe(http: httpx.Client, sid: str, *words: str) -> None:
    for word in words:
        assert http.post(f"/sessions/{sid}/observe", json={"strings": [word]}).status_code == 200


def learn(http: httpx.Client, sid: str, *words: str) -> str:
    observe(http, sid, *words)
    return str(http.post(f"/sessions/{sid}/learn").json()["pattern_name"])


def predictions(http: httpx.Client, sid: str) -> dict:
    response = http.get(f"/sessions/{sid}/predictions")
    assert response.status_code == 200
    return response.json()


def test_e1_basic_sequence(http: httpx.Client) -> None:
    sid = fresh_session(http)
    assert learn(http, sid, "alpha", "beta", "gamma") == (
        "PTRN|24e0f524f26eecfb14849cf3b3b57c44f3e705c2"
    )
    assert http.get(f"/sessions/{sid}/stm").json()["stm"] == []
    observe(http, sid, "alpha", "beta")
    body = predictions(http, sid)
    assert body["count"] == 1
    p = body["predictions"][0]
    expected = {
        "name": "24e0f524f26eecfb14849cf3b3b57c44f3e705c2",
        "frequency": 1,
        "similarity": 0.8,
        "matches": ["alpha", "beta"],
        "past": [],
        "present": [["alpha"], ["beta"]],
        "future": [["gamma"]],
        "missing": [[], []],
        "extras": [[], []],
        "evidence": 0.6666666666666666,
        "confidence": 1.0,
        "snr": 1.0,
        "fragmentation": 0.0,
        "itfdf_similarity": 0.9999999999999998,
        "confluence": 0.0,
        "entropy": 1.0,
        "normalized_entropy": 0.6309297535714574,
        "global_normalized_entropy": 0.0,
        "tfidf_score": 0.5,
        "pattern_probability": 1.0,
        "weighted_strength": 0.8,
        "predictive_information": 0.8,
        "bayesian_prior": 1.0,
        "bayesian_likelihood": 0.8,
        "bayesian_posterior": 1.0,
        "potential": 3.666666666666666,
        "sequence": [["alpha"], ["beta"], ["gamma"]],
        "emotives": {},
        "anomalies": [],
        "weighted_similarity": None,
    }
    assert {key: p[key] for key in expected} == expected
    assert body["future_potentials"] == [
        {
            "future": [["gamma"]],
            "aggregate_potential": 1.0,
            "supporting_patterns": 1,
            "total_weighted_frequency": 0.8,
        }
    ]


def test_e6_three_patterns_sharing_a_prefix(http: httpx.Client) -> None:
    sid = fresh_session(http, recall_threshold=0.2)
    assert learn(http, sid, "a", "b", "c") == "PTRN|b98534b32c1d7489d4ce1a48724aa65aeecbdba9"
    assert learn(http, sid, "a", "b", "d") == "PTRN|71c480f96c9bdedff8c44612fae4bb9d6e76ecd8"
    assert learn(http, sid, "a", "b", "e") == "PTRN|c8fce2549bad7f8bdfc8042c8f120a47955dafeb"
    observe(http, sid, "a", "b")
    body = predictions(http, sid)
    assert [(p["name"][:8], p["future"]) for p in body["predictions"]] == [
        ("71c480f9", [["d"]]),
        ("b98534b3", [["c"]]),
        ("c8fce254", [["e"]]),
    ]
    for p in body["predictions"]:
        assert p["similarity"] == 0.8
        assert p["evidence"] == 0.6666666666666666
        assert p["itfdf_similarity"] == 0.9999999999999999
        assert p["normalized_entropy"] == 0.43067655807339306
        assert p["pattern_probability"] == 0.3333333333333333
        assert p["weighted_strength"] == 0.26666666666666666
        assert p["predictive_information"] == 0.8
        assert p["bayesian_posterior"] == 0.3333333333333333
        assert p["potential"] == 3.6666666666666665
    assert body["future_potentials"] == [
        {
            "future": [[symbol]],
            "aggregate_potential": 0.3333333333333333,
            "supporting_patterns": 1,
            "total_weighted_frequency": 0.8,
        }
        for symbol in ("c", "d", "e")
    ]


def test_e8a_single_symbol_fast_path(http: httpx.Client) -> None:
    sid = fresh_session(http)
    learn(http, sid, "alpha", "beta", "gamma")
    http.post(f"/sessions/{sid}/clear-stm")
    observe(http, sid, "alpha")
    response = http.get(f"/sessions/{sid}/predictions")
    assert response.text.startswith(
        '{"predictions":[{"name":"24e0f524f26eecfb14849cf3b3b57c44f3e705c2",'
        '"pattern_data":[["alpha"],["beta"],["gamma"]],"length":3,"frequency":1,"emotives":{},'
        '"matches":["alpha"],"missing":[],"present":["alpha"],"past":[],"future":["beta","gamma"],'
        '"extras":[],"similarity":0.5,"evidence":0.3333333333333333,"confidence":1.0,"snr":1.0,'
        '"fragmentation":0,"anomalies":[],"weighted_similarity":null,"weighted_evidence":null,'
        '"weighted_confidence":null,"weighted_snr":null,"potential":2.333333333333333}],'
        '"future_potentials":[],'
    )


def test_e13a_rich_ensemble(http: httpx.Client) -> None:
    sid = fresh_session(http, recall_threshold=0.2)
    klm = learn(http, sid, "k", "l", "m")
    assert learn(http, sid, "k", "l", "m") == klm == "PTRN|40413e789c5dd8af3a2c9ec620ca369425dab252"
    assert learn(http, sid, "k", "l", "n") == "PTRN|5e947c2ffb8326bb30bd615fa609b9c68b445e31"
    assert learn(http, sid, "k", "l", "o", "p") == "PTRN|d67929f43a3d98ae527da7e30c8c3fab9c5b5dac"
    assert learn(http, sid, "k", "q") == "PTRN|0be7f8799ea720b24d9c6fbefda1198d65b04f13"
    observe(http, sid, "k", "l")
    rows = [
        (
            p["frequency"],
            p["similarity"],
            p["evidence"],
            p["snr"],
            p["itfdf_similarity"],
            p["confluence"],
            p["global_normalized_entropy"],
            p["tfidf_score"],
            p["predictive_information"],
            p["bayesian_prior"],
            p["bayesian_posterior"],
            p["potential"],
        )
        for p in predictions(http, sid)["predictions"]
    ]
    assert rows == [
        (2, 0.8, 0.6666666666666666, 1.0, 1.0, 0.125, 0.11087950512184855, 0.603759374819711,
         0.7133333333333335, 0.4, 0.44859813084112155, 3.6666666666666665),
        (1, 0.8, 0.6666666666666666, 1.0, 1.0, 0.0625, 0.11087950512184855, 0.603759374819711,
         0.7133333333333335, 0.2, 0.22429906542056077, 3.6666666666666665),
        (1, 0.6666666666666665, 0.5, 1.0, 1.0, 0.0625, 0.11087950512184855, 0.603759374819711,
         0.7133333333333334, 0.2, 0.18691588785046723, 3.5),
        (1, 0.5, 0.5, 0.3333333333333333, 0.96, 0.0, 0.0, 1.0,
         0.7133333333333335, 0.2, 0.14018691588785046, 2.46),
    ]  # fmt: skip
    potentials = [
        (
            fp["future"],
            fp["aggregate_potential"],
            fp["supporting_patterns"],
            fp["total_weighted_frequency"],
        )
        for fp in predictions(http, sid)["future_potentials"]
    ]
    assert potentials == [
        ([["m"]], 0.4485981308411215, 1, 1.6),
        ([["n"]], 0.22429906542056074, 1, 0.8),
        ([["o"], ["p"]], 0.18691588785046723, 1, 0.6666666666666665),
        ([["q"]], 0.14018691588785046, 1, 0.5),
    ]
    stats = http.get(
        "/symbols/stats", params={"node_id": http.get(f"/sessions/{sid}").json()["node_id"]}
    )
    symbols = stats.json()["symbols"]
    assert (symbols["k"]["frequency"], symbols["k"]["pattern_member_frequency"]) == (5, 4)
    assert (symbols["l"]["frequency"], symbols["m"]["frequency"]) == (4, 2)
