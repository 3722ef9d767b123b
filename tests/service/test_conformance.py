"""The conformance transcript of api.md §10, step by step, over real HTTP."""

from __future__ import annotations

import re

import httpx

DEFAULT_CONFIG = (
    '{"max_pattern_length":0,"persistence":5,"recall_threshold":0.1,"indexer_type":"VI",'
    '"max_predictions":100,"sort_symbols":true,"process_predictions":true,'
    '"use_token_matching":true,"stm_mode":"CLEAR","rank_sort_algo":"potential",'
    '"filter_pipeline":[],"length_min_ratio":0.5,"length_max_ratio":2.0,"jaccard_threshold":0.3,'
    '"jaccard_min_overlap":2,"minhash_threshold":0.7,"minhash_bands":20,"minhash_rows":5,'
    '"minhash_num_hashes":100,"bloom_false_positive_rate":0.01,'
    '"max_candidates_per_stage":100000,"enable_filter_metrics":true}'
)
SESSION_ID = re.compile(r"^session-[0-9a-f]{32}-\d{13}$")
TRACE_ID = re.compile(r"^kato-[0-9a-f]{32}$")
PATTERN = "PTRN|e9e43f2309079f2843665ab773996d99489306d6"

STEP_12 = (
    '{"predictions":[{"type":"prototypical","name":"e9e43f2309079f2843665ab773996d99489306d6",'
    '"frequency":1,"emotives":{"joy":0.5},"matches":["a","b"],"past":[],"present":[["a","b"]],'
    '"missing":[[]],"extras":[[],[]],"anomalies":[],"potential":3.666666666666666,'
    '"evidence":0.6666666666666666,"similarity":0.8,"fragmentation":0.0,"snr":1.0,'
    '"confluence":0.0,"predictive_information":0.8,"sequence":[["a","b"],["c"]],'
    '"future":[["c"]],"confidence":1.0,"weighted_similarity":null,"weighted_evidence":null,'
    '"weighted_confidence":null,"weighted_snr":null,"entropy":1.0,'
    '"normalized_entropy":0.6309297535714574,"global_normalized_entropy":0.0,'
    '"itfdf_similarity":0.9999999999999998,"tfidf_score":0.5,"pattern_probability":1.0,'
    '"weighted_strength":0.8,"bayesian_posterior":1.0,"bayesian_prior":1.0,'
    '"bayesian_likelihood":0.8}],"future_potentials":[{"future":[["c"]],'
    '"aggregate_potential":1.0,"supporting_patterns":1,"total_weighted_frequency":0.8}],'
    '"session_id":"S","processor_id":null,"count":1,"time":null,"unique_id":null}'
)
STEP_13 = (
    '{"predictions":[{"name":"e9e43f2309079f2843665ab773996d99489306d6",'
    '"pattern_data":[["a","b"],["c"]],"length":3,"frequency":1,"emotives":{"joy":0.5},'
    '"matches":["a"],"missing":[],"present":["a"],"past":[],"future":["b","c"],"extras":[],'
    '"similarity":0.5,"evidence":0.3333333333333333,"confidence":1.0,"snr":1.0,'
    '"fragmentation":0,"anomalies":[],"weighted_similarity":null,"weighted_evidence":null,'
    '"weighted_confidence":null,"weighted_snr":null,"potential":2.333333333333333}],'
    '"future_potentials":[],"session_id":"S","processor_id":null,"count":1,"time":null,'
    '"unique_id":null}'
)


def mw404(session_id: str) -> str:
    return (
        '{"error":{"code":"SESSION_NOT_FOUND","message":"Session '
        f'{session_id} not found or expired","session_id":"{session_id}"}}}}'
    )


def test_conformance_transcript(http: httpx.Client) -> None:
    # 1 create
    r = http.post("/sessions", json={"node_id": "conformance-1"})
    assert r.status_code == 200
    body = r.json()
    s = body["session_id"]
    assert SESSION_ID.match(s)
    assert list(body) == [
        "session_id",
        "node_id",
        "created_at",
        "expires_at",
        "ttl_seconds",
        "metadata",
        "session_config",
    ]
    assert body["node_id"] == "conformance-1"
    assert body["created_at"].endswith("Z") and body["expires_at"].endswith("Z")
    assert (body["ttl_seconds"], body["metadata"]) == (3600, {})
    assert r.text.endswith(f'"session_config":{DEFAULT_CONFIG}}}')

    # 2 observe with emotives and metadata
    r = http.post(
        f"/sessions/{s}/observe",
        json={"strings": ["b", "a"], "emotives": {"joy": 0.5}, "metadata": {"source": "doc"}},
    )
    assert r.status_code == 200
    unique_id = r.json()["unique_id"]
    assert re.fullmatch(r"obs-[0-9a-f]{32}", unique_id)
    assert r.text == (
        f'{{"status":"okay","session_id":"{s}","processor_id":"conformance-1","stm_length":1,'
        f'"time":1,"unique_id":"{unique_id}","auto_learned_pattern":null}}'
    )
    assert r.headers["x-session-id"] == s
    assert TRACE_ID.match(r.headers["x-trace-id"])
    assert r.headers["content-type"] == "application/json"

    # 3
    r = http.post(f"/sessions/{s}/observe", json={"strings": ["c"]})
    assert (r.json()["stm_length"], r.json()["time"]) == (2, 2)

    # 4
    r = http.get(f"/sessions/{s}/stm")
    assert r.text == f'{{"stm":[["a","b"],["c"]],"session_id":"{s}","length":2}}'

    # 5
    r = http.get(f"/sessions/{s}/percept-data")
    assert r.text == (
        '{"percept_data":{"strings":["c"],"vectors":[],"emotives":{"joy":0.5},"path":[],'
        f'"metadata":{{}}}},"session_id":"{s}","node_id":"conformance-1"}}'
    )

    # 6 learn
    r = http.post(f"/sessions/{s}/learn")
    assert r.text == (
        f'{{"status":"learned","pattern_name":"{PATTERN}","session_id":"{s}",'
        f'"processor_id":null,"message":"Learned pattern {PATTERN} from 0 events"}}'
    )

    # 7
    assert http.get(f"/sessions/{s}/stm").text == f'{{"stm":[],"session_id":"{s}","length":0}}'
    assert http.get(f"/sessions/{s}/cognition-data").json()["cognition_data"]["emotives"] == {}

    # 8
    r = http.get(f"/pattern/PTRN%7C{PATTERN[5:]}", params={"node_id": "conformance-1"})
    assert r.text == (
        f'{{"pattern":{{"status":"okay","pattern":{{"name":"{PATTERN}",'
        '"pattern_data":[["a","b"],["c"]],"length":3,"frequency":1,"emotives":[{"joy":0.5}],'
        '"metadata":{"source":["doc"]}}},"node_id":"conformance_1_kato"}'
    )

    # 9
    r = http.get("/symbols/stats", params={"node_id": "conformance-1"})
    assert r.text == (
        '{"symbols":{"a":{"name":"a","frequency":1,"pattern_member_frequency":1},'
        '"b":{"name":"b","frequency":1,"pattern_member_frequency":1},'
        '"c":{"name":"c","frequency":1,"pattern_member_frequency":1}},'
        '"node_id":"conformance_1_kato"}'
    )

    # 10
    r = http.get("/symbols/affinity", headers={"x-node-id": "conformance-1"})
    assert r.text == (
        '{"affinities":{"a":{"joy":0.5},"b":{"joy":0.5},"c":{"joy":0.5}},'
        '"node_id":"conformance_1_kato"}'
    )

    # 11, 12 exact bytes
    http.post(f"/sessions/{s}/observe", json={"strings": ["a"]})
    http.post(f"/sessions/{s}/observe", json={"strings": ["b"]})
    assert http.get(f"/sessions/{s}/predictions").text == STEP_12.replace('"S"', f'"{s}"')

    # 13 fast path, exact bytes
    r = http.post(f"/sessions/{s}/clear-stm")
    assert r.text == f'{{"status":"cleared","session_id":"{s}"}}'
    http.post(f"/sessions/{s}/observe", json={"strings": ["a"]})
    assert http.get(f"/sessions/{s}/predictions").text == STEP_13.replace('"S"', f'"{s}"')

    # 14
    http.post(f"/sessions/{s}/clear-stm")
    r = http.post(f"/sessions/{s}/learn")
    assert (r.status_code, r.text) == (400, '{"detail":"Cannot learn from empty STM"}')
    assert r.headers["x-session-id"] == s

    # 15
    r = http.post(f"/sessions/{s}/config", json={"recall_threshold": 1.5, "persistence": 0})
    assert r.status_code == 400
    assert r.text == (
        '{"detail":{"error":"Configuration validation failed","validation_errors":{'
        '"recall_threshold":"Must be a number between 0.0 and 1.0",'
        '"persistence":"Must be an integer between 1 and 100"}}}'
    )

    # 16 auto-toggle
    r = http.post(f"/sessions/{s}/config", json={"config": {"use_token_matching": False}})
    assert r.text == (f'{{"status":"okay","message":"Configuration updated","session_id":"{s}"}}')
    config = http.get(f"/sessions/{s}/config").json()["config"]
    assert (config["sort_symbols"], config["use_token_matching"]) == (False, False)

    # 17 invalid config at creation: 400, no session created
    before = http.get("/sessions/count").json()["active_session_count"]
    r = http.post("/sessions", json={"node_id": "n2", "config": {"stm_mode": "SOMETIMES"}})
    assert (r.status_code, r.text) == (
        400,
        '{"detail":{"error":"Configuration validation failed",'
        '"validation_errors":{"stm_mode":"Must be one of: CLEAR, ROLLING"}}}',
    )
    assert http.get("/sessions/count").json()["active_session_count"] == before

    # 18 a different node id is a different knowledge base
    s2 = http.post("/sessions", json={"node_id": "conformance_1"}).json()["session_id"]
    http.post(f"/sessions/{s2}/observe", json={"strings": ["a"]})
    http.post(f"/sessions/{s2}/observe", json={"strings": ["b"]})
    r = http.get(f"/sessions/{s2}/predictions").json()
    assert (r["predictions"], r["future_potentials"], r["count"]) == ([], [], 0)

    # 19 extend
    r = http.post(f"/sessions/{s}/extend", params={"ttl_seconds": 120})
    assert r.text == f'{{"status":"extended","session_id":"{s}","ttl_seconds":120}}'
    assert http.get(f"/sessions/{s}").json()["ttl_seconds"] == 119

    # 20 unknown sessions
    r = http.get("/sessions/bogus/stm")
    assert (r.status_code, r.text) == (404, mw404("bogus"))
    assert "x-session-id" not in r.headers
    assert TRACE_ID.match(r.headers["x-trace-id"])
    r = http.delete("/sessions/bogus")
    assert (r.status_code, r.text) == (404, mw404("bogus"))
    r = http.get("/sessions/bogus")
    assert (r.status_code, r.text) == (404, '{"detail":"Session bogus not found or expired"}')
    r = http.get("/sessions/bogus/exists")
    assert (r.status_code, r.text) == (
        200,
        '{"exists":false,"expired":false,"session_id":"bogus"}',
    )
    r = http.get("/sessions/test/abc")
    assert (r.status_code, r.text) == (404, mw404("test"))

    # 21
    r = http.get("/pattern/PTRN%7Cdeadbeef", params={"node_id": "conformance-1"})
    assert r.text == (
        '{"pattern":{"status":"error","message":"Pattern PTRN|deadbeef not found"},'
        '"node_id":"conformance_1_kato"}'
    )

    # 22
    r = http.post(f"/sessions/{s}/observe", json={"strings": "a"})
    assert (r.status_code, r.text) == (
        422,
        '{"detail":[{"type":"list_type","loc":["body","strings"],'
        '"msg":"Input should be a valid list","input":"a"}]}',
    )

    # 23
    r = http.delete(f"/sessions/{s}")
    assert r.text == f'{{"status":"deleted","session_id":"{s}"}}'
    assert http.get(f"/sessions/{s}/stm").text == mw404(s)

    # 24 clear-all empties only node "conformance_1"
    r = http.post(f"/sessions/{s2}/clear-all")
    assert r.text == f'{{"status":"cleared","session_id":"{s2}","scope":"all"}}'
    r = http.get(f"/pattern/{PATTERN}", params={"node_id": "conformance-1"})
    assert r.json()["pattern"]["status"] == "okay"
