"""Export and import of one node's knowledge base: the ``kato-kb`` JSON-lines format, version 1.

The file is ASCII JSON lines (non-ASCII and lone surrogates as ``\\u`` escapes,
floats in shortest round-trip form, no insignificant whitespace), written in a
fixed order so that two exports of equal knowledge bases are byte-identical:

1. header: ``{"format":"kato-kb","version":1,"service_name":…,"node_id":…,
   "vector_dimension":…,"stats":{…},"counts":{…}}`` (no timestamp, no backend name)
2. ``{"type":"pattern","name":…,"pattern_data":…,"frequency":…,"emotives":…,"metadata":…}``
   per pattern, in name order
3. ``{"type":"symbol","name":…,"frequency":…,"pattern_member_frequency":…}`` per
   symbol, in code-point order
4. ``{"type":"affinity","symbol":…,"values":{…}}`` per symbol with affinity, in
   code-point order (``values`` keeps the stored key order)
5. ``{"type":"vector","name":…,"values":[…]}`` per stored vector, in name order
6. ``{"type":"pending","name":…,"values":[…]}`` per pending vector, in list order
7. trailer: ``{"type":"end","records":<number of lines 2-6>}`` (detects truncation)

Not exported: finalize-training metrics (derived; run finalize-training again)
and the creation order of patterns (predictions break ties by name, not by age).

Everything goes through the storage ports only, so any backend can export to
and import from any other. :func:`import_by_replay` writes through
``KnowledgeBase.learn`` with crafted updates (one per pattern, one per affinity
symbol) that reproduce every counter exactly; a dedicated bulk-restore port
method would make it atomic and faster (see docs/storage.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from kato.engine.ports import KnowledgeBase, PatternMerge, VectorStore
from kato.engine.types import GlobalStats, LearnUpdate, PatternRecord, SymbolStats
from kato.storage.ports import NodeHandle

FORMAT = "kato-kb"
VERSION = 1


class TransferError(ValueError):
    """The file is not a valid kato-kb export, or the target cannot take it."""


def _line(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"), allow_nan=False) + "\n"


def _stats_dict(stats: GlobalStats) -> dict[str, int]:
    return {
        "total_unique_patterns": stats.total_unique_patterns,
        "total_pattern_frequencies": stats.total_pattern_frequencies,
        "total_symbols_in_patterns_frequencies": stats.total_symbols_in_patterns_frequencies,
        "distinct_symbols": stats.distinct_symbols,
    }


@dataclass
class KnowledgeDump:
    """One node's knowledge base as read from (or written to) an export."""

    header: dict[str, Any]
    patterns: list[PatternRecord] = field(default_factory=list)
    symbols: list[SymbolStats] = field(default_factory=list)
    affinities: dict[str, dict[str, float]] = field(default_factory=dict)
    vectors: list[tuple[str, list[float]]] = field(default_factory=list)
    pending: list[tuple[str, list[float]]] = field(default_factory=list)


def export_lines(
    kb: KnowledgeBase,
    vectors: VectorStore,
    *,
    service_name: str | None = None,
    node_id: str | None = None,
) -> Iterator[str]:
    """The export of one node, line by line."""
    patterns = list(kb.iter_patterns())
    symbols = kb.all_symbol_stats()
    affinities = kb.all_affinities()
    stored = vectors.all_vectors()
    pending = vectors.pending()
    yield _line(
        {
            "format": FORMAT,
            "version": VERSION,
            "service_name": service_name,
            "node_id": node_id,
            "vector_dimension": vectors.dimension(),
            "stats": _stats_dict(kb.global_stats()),
            "counts": {
                "patterns": len(patterns),
                "symbols": len(symbols),
                "affinities": len(affinities),
                "vectors": len(stored),
                "pending": len(pending),
            },
        }
    )
    for record in sorted(patterns, key=lambda r: r.name):
        yield _line(
            {
                "type": "pattern",
                "name": record.name,
                "pattern_data": record.pattern_data,
                "frequency": record.frequency,
                "emotives": record.emotives,
                "metadata": record.metadata,
            }
        )
    for stat in sorted(symbols, key=lambda s: s.name):
        yield _line(
            {
                "type": "symbol",
                "name": stat.name,
                "frequency": stat.frequency,
                "pattern_member_frequency": stat.pattern_member_frequency,
            }
        )
    for symbol in sorted(affinities):
        yield _line({"type": "affinity", "symbol": symbol, "values": affinities[symbol]})
    for name, values in sorted(stored):
        yield _line({"type": "vector", "name": name, "values": values})
    for name, values in pending:
        yield _line({"type": "pending", "name": name, "values": values})
    records = len(patterns) + len(symbols) + len(affinities) + len(stored) + len(pending)
    yield _line({"type": "end", "records": records})


def export_node(
    handle: NodeHandle,
    out: IO[str],
    *,
    service_name: str | None = None,
    node_id: str | None = None,
) -> int:
    """Write the export of ``handle`` to ``out``; returns the number of lines written."""
    count = 0
    for line in export_lines(handle.kb, handle.vectors, service_name=service_name, node_id=node_id):
        out.write(line)
        count += 1
    return count


def read_export(lines: Iterable[str]) -> KnowledgeDump:
    """Parse and validate an export (format, version, record types, trailer, counts)."""
    dump: KnowledgeDump | None = None
    records = 0
    ended = False
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        if ended:
            raise TransferError(f"line {number}: data after the end record")
        try:
            item = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise TransferError(f"line {number}: not JSON ({exc})") from exc
        if dump is None:
            if item.get("format") != FORMAT:
                raise TransferError(f"not a {FORMAT} file (format={item.get('format')!r})")
            if item.get("version") != VERSION:
                raise TransferError(f"unsupported {FORMAT} version {item.get('version')!r}")
            dump = KnowledgeDump(header=item)
            continue
        kind = item.get("type")
        try:
            if kind == "pattern":
                dump.patterns.append(
                    PatternRecord(
                        name=item["name"],
                        pattern_data=item["pattern_data"],
                        frequency=int(item["frequency"]),
                        emotives=item["emotives"],
                        metadata=item["metadata"],
                    )
                )
            elif kind == "symbol":
                dump.symbols.append(
                    SymbolStats(
                        item["name"], int(item["frequency"]), int(item["pattern_member_frequency"])
                    )
                )
            elif kind == "affinity":
                dump.affinities[item["symbol"]] = {k: float(v) for k, v in item["values"].items()}
            elif kind in ("vector", "pending"):
                target = dump.vectors if kind == "vector" else dump.pending
                target.append((item["name"], [float(x) for x in item["values"]]))
            elif kind == "end":
                if int(item["records"]) != records:
                    raise TransferError(
                        f"end record says {item['records']} records, file has {records}"
                    )
                ended = True
                continue
            else:
                raise TransferError(f"line {number}: unknown record type {kind!r}")
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            if isinstance(exc, TransferError):
                raise
            raise TransferError(f"line {number}: malformed {kind} record ({exc})") from exc
        records += 1
    if dump is None:
        raise TransferError("empty file")
    if not ended:
        raise TransferError("truncated file: no end record")
    counts = dump.header.get("counts", {})
    actual = {
        "patterns": len(dump.patterns),
        "symbols": len(dump.symbols),
        "affinities": len(dump.affinities),
        "vectors": len(dump.vectors),
        "pending": len(dump.pending),
    }
    if counts != actual:
        raise TransferError(f"header counts {counts} differ from the records {actual}")
    return dump


def _pattern_update(record: PatternRecord) -> LearnUpdate:
    """One learn that creates ``record`` with all the counters of its ``frequency`` learns."""
    counts: dict[str, int] = {}
    for event in record.pattern_data:
        for symbol in event:
            counts[symbol] = counts.get(symbol, 0) + 1
    return LearnUpdate(
        name=record.name,
        pattern_data=record.pattern_data,
        emotives=[],
        metadata={},
        persistence=max(len(record.emotives), 1),
        symbol_counts=tuple((s, c * record.frequency) for s, c in counts.items()),
        affinity_delta={},
    )


def _affinity_update(carrier: PatternRecord, symbol: str, values: dict[str, float]) -> LearnUpdate:
    """A re-learn of ``carrier`` that only adds ``values`` to ``symbol``'s affinity."""
    return LearnUpdate(
        name=carrier.name,
        pattern_data=carrier.pattern_data,
        emotives=[],
        metadata={},
        persistence=1,
        symbol_counts=((symbol, 0),),
        affinity_delta=dict(values),
    )


def _is_empty(kb: KnowledgeBase, vectors: VectorStore) -> bool:
    return (
        kb.global_stats() == GlobalStats()
        and not kb.all_symbol_stats()
        and not vectors.all_vectors()
        and not vectors.pending()
    )


def import_by_replay(handle: NodeHandle, dump: KnowledgeDump, *, replace: bool = False) -> None:
    """Write ``dump`` into the node through the ports only, reproducing every counter.

    The node must be empty unless ``replace`` (then it is cleared first). Each
    pattern is created by one learn whose symbol counts are multiplied by the
    pattern's frequency and whose merge yields the exported record; each
    affinity is then set by a re-learn that adds nothing but that affinity.
    The result is verified against the file's statistics.
    """
    kb, vectors = handle.kb, handle.vectors
    if not _is_empty(kb, vectors):
        if not replace:
            raise TransferError("the target node is not empty (use replace to clear it)")
        kb.clear()
        vectors.clear()
    if dump.affinities and not dump.patterns:
        raise TransferError("affinities without patterns cannot be imported")
    for record in dump.patterns:
        exported = PatternRecord(
            record.name,
            [list(e) for e in record.pattern_data],
            record.frequency,
            [dict(e) for e in record.emotives],
            {k: list(v) for k, v in record.metadata.items()},
        )
        kb.learn(_pattern_update(record), _replace_with(exported))
    if dump.patterns:
        carrier = dump.patterns[0]
        for symbol, values in dump.affinities.items():
            kb.learn(_affinity_update(carrier, symbol, values), _unchanged)
    for name, vector in dump.vectors:
        vectors.add_pending(name, vector)
    if dump.vectors:
        vectors.flush_pending(None)
    for name, vector in dump.pending:
        vectors.add_pending(name, vector)
    _verify(kb, vectors, dump)


def _replace_with(exported: PatternRecord) -> PatternMerge:
    def merge(_stored: PatternRecord | None) -> PatternRecord:
        return exported

    return merge


def _unchanged(stored: PatternRecord | None) -> PatternRecord:
    if stored is None:
        raise TransferError("affinity carrier pattern vanished during import")
    return stored


def _verify(kb: KnowledgeBase, vectors: VectorStore, dump: KnowledgeDump) -> None:
    expected = dump.header.get("stats")
    actual = _stats_dict(kb.global_stats())
    if expected != actual:
        raise TransferError(f"imported statistics {actual} differ from the file's {expected}")
    if kb.all_symbol_stats() != dump.symbols:
        raise TransferError("imported symbol statistics differ from the file's")
    if vectors.dimension() != dump.header.get("vector_dimension"):
        raise TransferError("imported vector dimension differs from the file's")


def import_node(
    handle: NodeHandle, lines: Iterable[str], *, replace: bool = False
) -> KnowledgeDump:
    """Read an export and import it into ``handle``; returns what was imported."""
    dump = read_export(lines)
    import_by_replay(handle, dump, replace=replace)
    return dump
