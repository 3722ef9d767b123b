"""A session on a fresh in-memory node, driven the way the worked examples are written."""

from __future__ import annotations

from typing import Any

from kato.engine import EngineConfig, NodeEngine, Observation, PatternRecord, SessionState
from kato.engine.node import EngineSettings
from kato.storage.memory import MemoryBackend


class Harness:
    def __init__(self, backend: MemoryBackend | None = None, **config: Any) -> None:
        self.backend = backend or MemoryBackend()
        node = self.backend.node("node")
        self.engine = NodeEngine(node.kb, node.vectors, node.index, EngineSettings())
        self.state = SessionState()
        self.config = EngineConfig().with_overrides(config)

    def configure(self, **config: Any) -> None:
        self.config = self.config.with_overrides(config)

    def observe(self, *items: str | list[str] | dict[str, Any]) -> list[str | None]:
        """Each item is one observation: a symbol, a list of symbols, or an observation dict."""
        learned = []
        for item in items:
            if isinstance(item, str):
                obs = Observation(strings=[item])
            elif isinstance(item, list):
                obs = Observation(strings=item)
            else:
                obs = Observation(
                    strings=item.get("strings", []),
                    vectors=[[float(x) for x in v] for v in item.get("vectors", [])],
                    emotives={k: float(v) for k, v in item.get("emotives", {}).items()},
                    metadata=item.get("metadata", {}),
                )
            learned.append(self.engine.observe(self.state, obs, self.config).auto_learned_pattern)
        return learned

    def learn(self) -> str:
        return self.engine.learn(self.state, self.config)

    def learn_sequence(self, *items: str | list[str] | dict[str, Any]) -> str:
        self.observe(*items)
        return self.learn()

    def clear(self) -> None:
        self.state.clear()

    def predict(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        result = self.engine.predict(self.state.stm, self.config)
        return result.predictions, result.future_potentials

    def by_name(self) -> dict[str, dict[str, Any]]:
        return {p["name"]: p for p in self.predict()[0]}

    def pattern(self, name: str) -> PatternRecord:
        return self.engine.kb.get_patterns([name.removeprefix("PTRN|")])[name.removeprefix("PTRN|")]


def check(prediction: dict[str, Any], **expected: Any) -> None:
    """Assert every listed field, exactly (floats bit-exact)."""
    for key, value in expected.items():
        assert prediction[key] == value, f"{key}: {prediction[key]!r} != {value!r}"
        if isinstance(value, float):
            assert type(prediction[key]) is float, key
