"""KnowledgeBase of one node in the embedded SQLite database (engine §2.1, §5)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from kato.engine.ports import PatternMerge, SummaryPosition
from kato.engine.types import (
    GlobalStats,
    LearnUpdate,
    PatternData,
    PatternRecord,
    PatternSummary,
    PrecomputedMetrics,
    SymbolStats,
)
from kato.storage.embedded_codec import dumps, encodable, key_bytes, key_text, loads
from kato.storage.learn_counters import (
    add_affinity,
    in_code_point_order,
    learn_deltas,
    symbol_stats_in_order,
)
from kato.storage.learn_tokens import TOKEN_RETENTION_SECONDS
from kato.storage.restore_rules import check_restorable
from kato.storage.sqlite_db import SqliteDatabase

CHUNK = 500  # bound on bound parameters per IN (...) query
PAGE = 1000  # patterns per page of iter_patterns


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def placeholders(count: int) -> str:
    return ",".join("?" * count)


def _record(
    name: str, data: bytes, frequency: int, emotives: bytes, metadata: bytes
) -> PatternRecord:
    return PatternRecord(
        name=name,
        pattern_data=loads(data),
        frequency=frequency,
        emotives=loads(emotives),
        metadata=loads(metadata),
    )


class SqliteKnowledgeBase:
    """The long-term memory of one node, shared by every process using the data directory."""

    def __init__(self, db: SqliteDatabase, node: str) -> None:
        self._db = db
        self._node = node

    # -- helpers ---------------------------------------------------------------
    def _meta(self, column: str) -> int:
        """A counter of the node's row (0 before its first learn); inside a transaction of
        this thread it reads that transaction's snapshot."""
        rows = self._db.query(f"SELECT {column} FROM nodes WHERE node = ?", (self._node,))
        return int(rows[0][0]) if rows else 0

    def _precomputed_current(self, conn: sqlite3.Connection) -> bool:
        """Whether the stored finalize-training metrics are of the node as it stands."""
        row = conn.execute(
            "SELECT precomputed_version = version FROM nodes WHERE node = ?", (self._node,)
        ).fetchone()
        return bool(row and row[0])

    def _symbol_rows(
        self, conn: sqlite3.Connection, symbols: Iterable[str], columns: str
    ) -> dict[str, tuple[Any, ...]]:
        keys = list(dict.fromkeys(key_bytes(s) for s in symbols))
        rows: dict[str, tuple[Any, ...]] = {}
        for part in chunks(keys):
            query = (
                f"SELECT symbol, {columns} FROM symbols "
                f"WHERE node = ? AND symbol IN ({placeholders(len(part))})"
            )
            for symbol, *values in conn.execute(query, (self._node, *part)):
                rows[key_text(symbol)] = tuple(values)
        return rows

    # -- change tracking -------------------------------------------------------
    def version(self) -> int:
        return self._meta("version")

    def generation(self) -> int:
        return self._meta("generation")

    def patterns_since(self, seq: int) -> list[tuple[int, str, PatternData]]:
        rows = self._db.query(
            "SELECT seq, name, data FROM patterns WHERE node = ? AND seq > ? ORDER BY seq",
            (self._node, seq),
        )
        return [(int(s), name, loads(data)) for s, name, data in rows]

    # -- reads -----------------------------------------------------------------
    def global_stats(self) -> GlobalStats:
        rows = self._db.query(
            "SELECT patterns, total_symbols, distinct_symbols FROM nodes WHERE node = ?",
            (self._node,),
        )
        if not rows:
            return GlobalStats()
        row = rows[0]
        return GlobalStats(int(row[0]), int(row[0]), int(row[1]), int(row[2]))

    def _pattern_rows(self, names: Iterable[str], columns: str) -> list[tuple[Any, ...]]:
        """``(name, *columns)`` rows of the named patterns, in the order of ``names``."""
        wanted = [n for n in dict.fromkeys(names) if encodable(n)]
        found: dict[str, tuple[Any, ...]] = {}
        with self._db.read() as conn:
            for part in chunks(wanted):
                query = (
                    f"SELECT name, {columns} FROM patterns "
                    f"WHERE node = ? AND name IN ({placeholders(len(part))})"
                )
                for row in conn.execute(query, (self._node, *part)):
                    found[row[0]] = tuple(row)
        return [found[n] for n in wanted if n in found]

    def get_patterns(self, names: Iterable[str]) -> dict[str, PatternRecord]:
        rows = self._pattern_rows(names, "data, frequency, emotives, metadata")
        return {row[0]: _record(*row) for row in rows}

    def pattern_summaries(self, names: Iterable[str]) -> dict[str, PatternSummary]:
        rows = self._pattern_rows(names, "frequency, emotives")
        return _summaries(rows)

    def summary_changes(
        self, since: SummaryPosition | None
    ) -> tuple[SummaryPosition, list[str] | None]:
        with self._db.read() as conn:
            row = conn.execute(
                "SELECT generation, last_change FROM nodes WHERE node = ?", (self._node,)
            ).fetchone()
            position = (0, 0) if row is None else (int(row[0]), int(row[1]))
            if since is None or since[0] != position[0]:
                return position, None
            if since[1] == position[1]:
                return position, []
            names = conn.execute(
                "SELECT name FROM patterns WHERE node = ? AND changed > ?",
                (self._node, since[1]),
            ).fetchall()
        return position, [name for (name,) in names]

    def iter_patterns(self) -> Iterator[PatternRecord]:
        last = ""
        while True:
            with self._db.read() as conn:
                rows = conn.execute(
                    "SELECT name, data, frequency, emotives, metadata FROM patterns "
                    "WHERE node = ? AND name > ? ORDER BY name LIMIT ?",
                    (self._node, last, PAGE),
                ).fetchall()
            for row in rows:
                yield _record(*row)
            if len(rows) < PAGE:
                return
            last = rows[-1][0]

    def pattern_member_frequencies(self, symbols: Iterable[str]) -> dict[str, int]:
        with self._db.read() as conn:
            rows = self._symbol_rows(conn, symbols, "pmf")
        return {s: int(v[0]) for s, v in rows.items() if v[0] > 0}

    def symbol_frequencies(self, symbols: Iterable[str]) -> dict[str, int]:
        with self._db.read() as conn:
            rows = self._symbol_rows(conn, symbols, "sym_freq")
        return {s: int(v[0]) for s, v in rows.items()}

    def affinities(self, symbols: Iterable[str]) -> dict[str, dict[str, float]]:
        with self._db.read() as conn:
            rows = self._symbol_rows(conn, symbols, "affinity")
        return {s: loads(v[0]) for s, v in rows.items() if v[0] is not None}

    def all_symbol_stats(self) -> list[SymbolStats]:
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT symbol, sym_freq, pmf FROM symbols WHERE node = ?", (self._node,)
            ).fetchall()
        return symbol_stats_in_order((key_text(s), int(f), int(p)) for s, f, p in rows)

    def all_affinities(self) -> dict[str, dict[str, float]]:
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT symbol, affinity FROM symbols WHERE node = ? AND affinity IS NOT NULL",
                (self._node,),
            ).fetchall()
        return in_code_point_order({key_text(s): loads(a) for s, a in rows})

    def precomputed_metrics(self, names: Iterable[str]) -> dict[str, PrecomputedMetrics]:
        found: dict[str, PrecomputedMetrics] = {}
        with self._db.read() as conn:
            if not self._precomputed_current(conn):
                return {}
            wanted = [n for n in dict.fromkeys(names) if encodable(n)]
            for part in chunks(wanted):
                query = (
                    "SELECT name, entropy, normalized_entropy, global_normalized_entropy, "
                    f"tf_vector FROM precomputed WHERE node = ? AND name IN "
                    f"({placeholders(len(part))})"
                )
                for name, entropy, normalized, global_normalized, tf in conn.execute(
                    query, (self._node, *part)
                ):
                    found[name] = PrecomputedMetrics(
                        entropy=entropy,
                        normalized_entropy=normalized,
                        global_normalized_entropy=global_normalized,
                        tf_vector=tuple((s, float(v)) for s, v in loads(tf)),
                    )
        return {n: found[n] for n in wanted if n in found}

    # -- writes ----------------------------------------------------------------
    def learn(self, update: LearnUpdate, merge: PatternMerge) -> bool:
        with self._db.write() as conn:
            if update.token is not None and not self._claim_token(conn, update.token):
                return False
            conn.execute("INSERT OR IGNORE INTO nodes (node) VALUES (?)", (self._node,))
            row = conn.execute(
                "SELECT name, data, frequency, emotives, metadata FROM patterns "
                "WHERE node = ? AND name = ?",
                (self._node, update.name),
            ).fetchone()
            stored = None if row is None else _record(*row)
            merged = merge(stored)
            is_new = stored is None
            if is_new:
                self._insert_pattern(conn, update.name, merged)
            else:
                conn.execute(
                    "UPDATE patterns SET frequency = ?, emotives = ?, metadata = ? "
                    "WHERE node = ? AND name = ?",
                    (
                        merged.frequency,
                        dumps(merged.emotives),
                        dumps(merged.metadata),
                        self._node,
                        update.name,
                    ),
                )
            self._log_change(conn, update.name)
            self._apply_counters(conn, update, is_new)
            return is_new

    def _log_change(self, conn: sqlite3.Connection, name: str) -> None:
        """Stamp the learned pattern with the next position of the summary change log."""
        conn.execute("UPDATE nodes SET last_change = last_change + 1 WHERE node = ?", (self._node,))
        conn.execute(
            "UPDATE patterns SET changed = (SELECT last_change FROM nodes WHERE node = ?) "
            "WHERE node = ? AND name = ?",
            (self._node, self._node, name),
        )

    def _claim_token(self, conn: sqlite3.Connection, token: str) -> bool:
        """Record ``token`` in this transaction; False if it was already applied.

        Expired tokens of the node go first (an index range scan over what expired).
        """
        now = time.time()
        conn.execute(
            "DELETE FROM learn_tokens WHERE node = ? AND applied_at < ?",
            (self._node, now - TOKEN_RETENTION_SECONDS),
        )
        cursor = conn.execute(
            "INSERT OR IGNORE INTO learn_tokens (node, token, applied_at) VALUES (?, ?, ?)",
            (self._node, key_bytes(token), now),
        )
        return cursor.rowcount == 1

    def _insert_pattern(self, conn: sqlite3.Connection, name: str, record: PatternRecord) -> None:
        seq = self._meta("last_seq") + 1
        conn.execute(
            "INSERT INTO patterns (node, name, seq, data, frequency, emotives, metadata) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                self._node,
                name,
                seq,
                dumps(record.pattern_data),
                record.frequency,
                dumps(record.emotives),
                dumps(record.metadata),
            ),
        )
        if self._meta("precomputed_version") >= 0:
            conn.execute("DELETE FROM precomputed WHERE node = ?", (self._node,))
        conn.execute(
            "UPDATE nodes SET last_seq = ?, version = version + 1, patterns = patterns + 1, "
            "precomputed_version = -1 WHERE node = ?",
            (seq, self._node),
        )

    def _apply_counters(self, conn: sqlite3.Connection, update: LearnUpdate, is_new: bool) -> None:
        deltas = learn_deltas(update, is_new)
        current = self._symbol_rows(
            conn, [d.symbol for d in deltas.symbols], "sym_freq, pmf, affinity"
        )
        new_symbols = 0
        for delta in deltas.symbols:
            sym_freq, pmf, affinity = current.get(delta.symbol, (0, 0, None))
            if deltas.affinity:
                affinity = dumps(
                    add_affinity(None if affinity is None else loads(affinity), deltas.affinity)
                )
            if pmf == 0 and delta.pmf > 0:
                new_symbols += 1
            conn.execute(
                "INSERT OR REPLACE INTO symbols (node, symbol, sym_freq, pmf, affinity) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    self._node,
                    key_bytes(delta.symbol),
                    sym_freq + delta.sym_freq,
                    pmf + delta.pmf,
                    affinity,
                ),
            )
        conn.execute(
            "UPDATE nodes SET total_symbols = total_symbols + ?, "
            "distinct_symbols = distinct_symbols + ? WHERE node = ?",
            (deltas.total_symbols, new_symbols, self._node),
        )

    def store_precomputed(self, metrics: dict[str, PrecomputedMetrics], version: int) -> bool:
        with self._db.write() as conn:
            if self._meta("version") != version:
                return False
            conn.execute("INSERT OR IGNORE INTO nodes (node) VALUES (?)", (self._node,))
            if self._meta("precomputed_version") != version:
                conn.execute("DELETE FROM precomputed WHERE node = ?", (self._node,))
            conn.executemany(
                "INSERT OR REPLACE INTO precomputed (node, name, entropy, normalized_entropy, "
                "global_normalized_entropy, tf_vector) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        self._node,
                        name,
                        m.entropy,
                        m.normalized_entropy,
                        m.global_normalized_entropy,
                        dumps([list(pair) for pair in m.tf_vector]),
                    )
                    for name, m in metrics.items()
                ],
            )
            # last_change + 1: the change log moves with what predictions read (ports.py).
            conn.execute(
                "UPDATE nodes SET precomputed_version = ?, last_change = last_change + 1 "
                "WHERE node = ?",
                (version, self._node),
            )
            return True

    def restore(
        self,
        patterns: Sequence[PatternRecord],
        symbols: Sequence[SymbolStats],
        affinities: Mapping[str, Mapping[str, float]],
        stats: GlobalStats,
        *,
        replace: bool = False,
    ) -> bool:
        check_restorable(patterns, symbols, affinities, stats)
        pattern_rows = [
            (
                self._node,
                r.name,
                seq,
                dumps(r.pattern_data),
                r.frequency,
                dumps(r.emotives),
                dumps(r.metadata),
            )
            for seq, r in enumerate(patterns, start=1)
        ]
        symbol_rows = [
            (
                self._node,
                key_bytes(s.name),
                s.frequency,
                s.pattern_member_frequency,
                dumps(dict(affinities[s.name])) if s.name in affinities else None,
            )
            for s in symbols
        ]
        with self._db.write() as conn:
            occupied = conn.execute(
                "SELECT EXISTS (SELECT 1 FROM patterns WHERE node = ?) "
                "OR EXISTS (SELECT 1 FROM symbols WHERE node = ?)",
                (self._node, self._node),
            ).fetchone()[0]
            if occupied and not replace:
                return False
            conn.execute("INSERT OR IGNORE INTO nodes (node) VALUES (?)", (self._node,))
            for table in ("patterns", "symbols", "precomputed"):
                conn.execute(f"DELETE FROM {table} WHERE node = ?", (self._node,))
            conn.executemany(
                "INSERT INTO patterns (node, name, seq, data, frequency, emotives, metadata) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                pattern_rows,
            )
            conn.executemany(
                "INSERT INTO symbols (node, symbol, sym_freq, pmf, affinity) "
                "VALUES (?, ?, ?, ?, ?)",
                symbol_rows,
            )
            conn.execute(
                "UPDATE nodes SET version = version + 1, generation = generation + 1, "
                "last_seq = ?, patterns = ?, total_symbols = ?, distinct_symbols = ?, "
                "precomputed_version = -1 WHERE node = ?",
                (
                    len(pattern_rows),
                    len(pattern_rows),
                    stats.total_symbols_in_patterns_frequencies,
                    stats.distinct_symbols,
                    self._node,
                ),
            )
            return True

    def clear(self) -> None:
        with self._db.write() as conn:
            conn.execute("INSERT OR IGNORE INTO nodes (node) VALUES (?)", (self._node,))
            for table in ("patterns", "symbols", "precomputed"):
                conn.execute(f"DELETE FROM {table} WHERE node = ?", (self._node,))
            conn.execute(
                "UPDATE nodes SET version = version + 1, generation = generation + 1, "
                "last_seq = 0, patterns = 0, total_symbols = 0, distinct_symbols = 0, "
                "precomputed_version = -1 WHERE node = ?",
                (self._node,),
            )


_NO_EMOTIVES = (b"[]", "[]")


def _summaries(rows: Iterable[tuple[Any, ...]]) -> dict[str, PatternSummary]:
    """Summaries of ``(name, frequency, emotives)`` rows. The patterns without emotives of
    one read share one summary per frequency (summaries are read only), so that a worker's
    cache of a million, filled 10,000 at a time, costs little more than its dict."""
    plain: dict[int, PatternSummary] = {}
    summaries: dict[str, PatternSummary] = {}
    for name, count, emotives in rows:
        if emotives in _NO_EMOTIVES:
            summary = plain.get(count)
            if summary is None:
                summary = plain[count] = PatternSummary(count, [])
        else:
            summary = PatternSummary(count, loads(emotives))
        summaries[name] = summary
    return summaries
