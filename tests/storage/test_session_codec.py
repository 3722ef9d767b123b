"""The two-document session record layout shared by the embedded and Redis stores."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from kato.engine.types import EncodedJSON, SessionState
from kato.storage import embedded_codec, redis_sessions
from kato.storage.ports import SessionRecord

PREDICTIONS = [{"name": "p1", "matches": ["a", "\ud800"], "potential": 1e-05}]


def _record(predictions: object) -> SessionRecord:
    now = datetime(2026, 11, 26, tzinfo=UTC)
    return SessionRecord(
        session_id="s-1",
        node_id="n",
        created_at=now,
        expires_at=now,
        ttl_seconds=60,
        state=SessionState(stm=[["a"]], predictions=predictions),  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("encode", "decode"),
    [
        (embedded_codec.session_bytes, embedded_codec.session_record),
        (redis_sessions.encode_record, redis_sessions.decode_record),
    ],
)
def test_predictions_round_trip_without_being_decoded(encode, decode) -> None:  # type: ignore[no-untyped-def]
    data = encode(_record(PREDICTIONS))
    loaded = decode(data)
    assert isinstance(loaded.state.predictions, EncodedJSON)
    assert loaded.state.prediction_list() == PREDICTIONS
    assert loaded.state.stm == [["a"]]
    # Saving the record again copies the stored predictions byte for byte.
    again = encode(loaded)
    assert again == data
    assert decode(again).state.prediction_list() == PREDICTIONS


def test_records_written_as_one_document_are_still_read() -> None:
    legacy = orjson.dumps(_record([{"name": "p"}]).to_dict())
    loaded = embedded_codec.session_record(legacy)
    assert loaded.state.prediction_list() == [{"name": "p"}]


def test_new_predictions_replace_the_stored_ones() -> None:
    loaded = embedded_codec.session_record(embedded_codec.session_bytes(_record(PREDICTIONS)))
    loaded.state.predictions = []
    assert (
        embedded_codec.session_record(embedded_codec.session_bytes(loaded)).state.prediction_list()
        == []
    )
