"""When GET /predictions may answer from the predictions an observe kept.

With ``process_predictions`` on (the default) every observe computes the predictions of the
new STM and keeps them in the session (engine §3.6); GET /predictions then computes them
again from the same STM (api.md §5.6). In the usual observe-then-predict loop that is the
same work twice. So the observe also keeps a *basis*: a digest of everything its answer
depends on —

* the node's position in its change log (:meth:`KnowledgeBase.summary_changes`), read
  before anything else; it moves with every learn, clear, restore and stored
  finalize-training metrics, in any worker, so it names the knowledge base the answer was
  computed from;
* the session's effective configuration and the process's engine settings;
* the STM the predictions were computed for;
* the KATO version, as formulas may change between releases.

A GET computes the same digest from the session and the node as they are; when the two are
equal, the kept predictions are exactly what it would compute, and it answers from them,
with the future_potentials rebuilt from the kept future groups. Otherwise it computes.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import orjson

import kato
from kato.engine.config import EngineConfig
from kato.engine.prediction import FutureRow

if TYPE_CHECKING:
    from kato.engine.node import NodeEngine


def prediction_basis(engine: NodeEngine, stm: list[list[str]], config: EngineConfig) -> str:
    """The digest of what the predictions of ``stm`` depend on, as the node stands now."""
    position, _ = engine.kb.summary_changes(None)
    text = repr((kato.__version__, position, config, engine.settings, stm))
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()


def encode_rows(rows: list[FutureRow]) -> str:
    """The future groups as JSON text (floats round-trip exactly)."""
    return orjson.dumps(rows).decode()


def decode_rows(text: str) -> list[FutureRow]:
    rows: Any = orjson.loads(text)
    return list(rows)
