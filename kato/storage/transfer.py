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
and import from any other. :func:`import_dump` writes the whole knowledge base with
one ``KnowledgeBase.restore`` (atomic in every adapter, counters stored exactly as
exported, ``-0.0`` included); vectors go through the vector store's pending list.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from kato.engine.ports import KnowledgeBase, VectorStore
from kato.engine.types import GlobalStats, PatternRecord, SymbolStats
from kato.storage.ports import NodeHandle

FORMAT = "kato-kb"
VERSION = 1


class TransferError(ValueError):
    """The file is not a valid kato-kb export, or the target cannot take it."""


class NodeNotEmptyError(TransferError):
    """The target node already has knowledge and ``replace`` was not given."""


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


_HEX = frozenset("0123456789abcdef")


def _is_strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(x, str) for x in value)


def _is_emotives(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in value.values()
    )


def _pattern(item: dict[str, Any]) -> PatternRecord:
    """A pattern record with every field's type checked (ValueError names the field)."""
    name, data, frequency = item["name"], item["pattern_data"], item["frequency"]
    emotives, metadata = item["emotives"], item["metadata"]
    if not isinstance(name, str) or len(name) != 40 or not set(name) <= _HEX:
        raise ValueError("name must be 40 lowercase hex digits")
    if not isinstance(data, list) or not data or not all(_is_strings(e) and e for e in data):
        raise ValueError("pattern_data must be a non-empty list of non-empty string lists")
    if type(frequency) is not int or frequency < 1:
        raise ValueError("frequency must be a positive integer")
    if not isinstance(emotives, list) or not all(_is_emotives(e) for e in emotives):
        raise ValueError("emotives must be a list of objects of numbers")
    if not isinstance(metadata, dict) or not all(_is_strings(v) for v in metadata.values()):
        raise ValueError("metadata must be an object of string lists")
    return PatternRecord(
        name=name,
        pattern_data=data,
        frequency=frequency,
        emotives=[{k: float(v) for k, v in e.items()} for e in emotives],
        metadata=metadata,
    )


def _symbol(item: dict[str, Any]) -> SymbolStats:
    name, frequency, members = item["name"], item["frequency"], item["pattern_member_frequency"]
    if not isinstance(name, str) or type(frequency) is not int or type(members) is not int:
        raise ValueError("name must be a string, the frequencies integers")
    return SymbolStats(name, frequency, members)


def _vector(item: dict[str, Any]) -> tuple[str, list[float]]:
    name, values = item["name"], item["values"]
    if not isinstance(name, str) or not isinstance(values, list) or not values:
        raise ValueError("name must be a string and values a non-empty list")
    if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in values):
        raise ValueError("vector values must be numbers")
    return name, [float(x) for x in values]


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number in a kato-kb file")


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
            item = json.loads(raw, parse_constant=_no_constant)
        except (ValueError, RecursionError) as exc:
            raise TransferError(f"line {number}: not JSON ({exc})") from exc
        if not isinstance(item, dict):
            raise TransferError(f"line {number}: not a JSON object")
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
                dump.patterns.append(_pattern(item))
            elif kind == "symbol":
                dump.symbols.append(_symbol(item))
            elif kind == "affinity":
                if not isinstance(item["symbol"], str) or not _is_emotives(item["values"]):
                    raise ValueError("symbol must be a string and values an object of numbers")
                dump.affinities[item["symbol"]] = {k: float(v) for k, v in item["values"].items()}
            elif kind in ("vector", "pending"):
                target = dump.vectors if kind == "vector" else dump.pending
                target.append(_vector(item))
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


def _is_empty(vectors: VectorStore) -> bool:
    return not vectors.all_vectors() and not vectors.pending()


def header_stats(dump: KnowledgeDump) -> GlobalStats:
    """The header's statistics as :class:`GlobalStats` (TransferError if malformed)."""
    stats = dump.header.get("stats")
    fields = (
        "total_unique_patterns",
        "total_pattern_frequencies",
        "total_symbols_in_patterns_frequencies",
        "distinct_symbols",
    )
    if not isinstance(stats, dict) or sorted(stats) != sorted(fields):
        raise TransferError(f"header stats must have exactly the fields {', '.join(fields)}")
    if not all(type(stats[name]) is int and stats[name] >= 0 for name in fields):
        raise TransferError("header stats must be non-negative integers")
    return GlobalStats(*(stats[name] for name in fields))


def import_dump(handle: NodeHandle, dump: KnowledgeDump, *, replace: bool = False) -> None:
    """Write ``dump`` into the node: knowledge in one atomic ``KnowledgeBase.restore``.

    The node must be empty unless ``replace``: the knowledge base checks that in the same
    atomic step as the restore; stored or pending vectors are checked before it. Vectors
    then go in through the pending list and one flush (stored ones), then the pending
    list. The result is verified against the file's statistics.
    """
    kb, vectors = handle.kb, handle.vectors
    stats = header_stats(dump)
    dimension = dump.header.get("vector_dimension")
    if {len(values) for _, values in dump.vectors} != ({dimension} if dump.vectors else set()):
        raise TransferError(f"stored vectors do not all have the header's dimension {dimension}")
    if not replace and not _is_empty(vectors):
        raise NodeNotEmptyError("the target node is not empty (use replace to overwrite it)")
    try:
        restored = kb.restore(dump.patterns, dump.symbols, dump.affinities, stats, replace=replace)
    except ValueError as exc:
        raise TransferError(f"inconsistent knowledge base: {exc}") from exc
    if not restored:
        raise NodeNotEmptyError("the target node is not empty (use replace to overwrite it)")
    if replace:
        vectors.clear()
    for name, vector in dump.vectors:
        vectors.add_pending(name, vector)
    if dump.vectors:
        vectors.flush_pending(None)
    for name, vector in dump.pending:
        vectors.add_pending(name, vector)
    _verify(kb, vectors, dump)


def _verify(kb: KnowledgeBase, vectors: VectorStore, dump: KnowledgeDump) -> None:
    expected = dump.header.get("stats")
    actual = _stats_dict(kb.global_stats())
    if expected != actual:
        raise TransferError(f"imported statistics {actual} differ from the file's {expected}")
    if kb.all_symbol_stats() != sorted(dump.symbols, key=lambda stat: stat.name):
        raise TransferError("imported symbol statistics differ from the file's")
    if vectors.dimension() != dump.header.get("vector_dimension"):
        raise TransferError("imported vector dimension differs from the file's")


def import_node(
    handle: NodeHandle, lines: Iterable[str], *, replace: bool = False
) -> KnowledgeDump:
    """Read an export and import it into ``handle``; returns what was imported."""
    dump = read_export(lines)
    import_dump(handle, dump, replace=replace)
    return dump
