"""The durable pattern store and the append-only learn log in ClickHouse.

Pattern rows are immutable and content-addressed (the name is the SHA-1 of the
pattern data), so inserting one twice is harmless: the ReplacingMergeTree
collapses duplicates in the background and reads take one row per name. Rows
carry the node's *generation*: clear-all starts a new generation in Redis, rows
of older generations are never read again and are deleted in the background.

The SQL stays within ClickHouse 18.16 (Debian's package): ``ENGINE = ... ORDER
BY`` table syntax, ``LIMIT n BY``, ``ALTER TABLE ... DELETE`` mutations.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from kato.engine.types import PatternData
from kato.storage.clickhouse_client import ClickHousePool
from kato.storage.redis_codec import dumps_text, loads

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
FETCH_BATCH = 5_000
INSERT_BATCH = 10_000  # rows per INSERT of a restore (one part each on 18.16)


def _column_text(value: str) -> str:
    """``value`` if it is valid UTF-8, else its JSON escape (informational columns only)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return dumps_text(value)
    return value


def _schema(db: str) -> list[str]:
    return [
        f"CREATE DATABASE IF NOT EXISTS {db}",
        f"""CREATE TABLE IF NOT EXISTS {db}.patterns (
            node String,
            generation UInt64,
            name String,
            pattern_data String,
            length UInt32,
            first_symbol String,
            created_at DateTime
        ) ENGINE = ReplacingMergeTree() ORDER BY (node, generation, name)""",
        f"""CREATE TABLE IF NOT EXISTS {db}.learn_log (
            node String,
            generation UInt64,
            learn_seq UInt64,
            learned_at DateTime,
            learn_id String,
            name String,
            is_new UInt8,
            frequency UInt64,
            persistence UInt32,
            length UInt32,
            emotives String,
            metadata String,
            affinity_delta String
        ) ENGINE = ReplacingMergeTree() ORDER BY (node, learn_seq)""",
    ]


LOG_COLUMNS = (
    "node",
    "generation",
    "learn_seq",
    "learned_at",
    "learn_id",
    "name",
    "is_new",
    "frequency",
    "persistence",
    "length",
    "emotives",
    "metadata",
    "affinity_delta",
)


class ClickHousePatternStore:
    """Immutable pattern rows and learn-log rows of every node in one database."""

    def __init__(self, pool: ClickHousePool, database: str) -> None:
        if not _IDENTIFIER.match(database):
            raise ValueError(f"CLICKHOUSE_DB must be a plain identifier, got {database!r}")
        self._pool = pool
        self._db = database
        self._ready = False

    def ensure_schema(self) -> None:
        """Create the database and tables once (retried on the next call after a failure)."""
        if self._ready:
            return
        for statement in _schema(self._db):
            self._pool.execute(statement)
        self._ready = True

    def insert_pattern(self, node: str, generation: int, name: str, data: PatternData) -> None:
        self.ensure_schema()
        row = (
            node,
            generation,
            name,
            dumps_text(data),
            sum(len(event) for event in data),
            _column_text(data[0][0]),
            datetime.now(UTC).replace(tzinfo=None, microsecond=0),
        )
        self._pool.execute(
            f"INSERT INTO {self._db}.patterns "
            "(node, generation, name, pattern_data, length, first_symbol, created_at) VALUES",
            [row],
        )

    def insert_patterns(
        self, node: str, generation: int, patterns: Iterable[tuple[str, PatternData]]
    ) -> int:
        """Insert many pattern rows of one generation, :data:`INSERT_BATCH` per INSERT.

        Used by restore: the rows go in before the Redis transaction that makes the
        patterns exist, so a failure midway leaves only unreferenced rows.
        """
        self.ensure_schema()
        created = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
        batch: list[tuple[Any, ...]] = []
        count = 0
        for name, data in patterns:
            batch.append(
                (
                    node,
                    generation,
                    name,
                    dumps_text(data),
                    sum(len(event) for event in data),
                    _column_text(data[0][0]),
                    created,
                )
            )
            if len(batch) >= INSERT_BATCH:
                count += self._insert_rows(batch)
                batch = []
        if batch:
            count += self._insert_rows(batch)
        return count

    def _insert_rows(self, rows: list[tuple[Any, ...]]) -> int:
        self._pool.execute(
            f"INSERT INTO {self._db}.patterns "
            "(node, generation, name, pattern_data, length, first_symbol, created_at) VALUES",
            rows,
        )
        return len(rows)

    def fetch(self, node: str, generation: int, names: Iterable[str]) -> dict[str, PatternData]:
        """Pattern data of the named patterns of one generation (unknown names absent)."""
        wanted = sorted(set(names))
        found: dict[str, PatternData] = {}
        if not wanted:
            return found
        self.ensure_schema()
        for start in range(0, len(wanted), FETCH_BATCH):
            rows = self._pool.execute(
                f"SELECT name, pattern_data FROM {self._db}.patterns "
                "WHERE node = %(node)s AND generation = %(generation)s AND name IN %(names)s "
                "LIMIT 1 BY name",
                {
                    "node": node,
                    "generation": generation,
                    "names": tuple(
                        wanted[start : start + FETCH_BATCH]
                    ),  # IN needs a tuple on 18.16
                },
            )
            for name, data in rows:
                found[name] = loads(data)
        return found

    def fetch_all(self, node: str, generation: int) -> Iterator[tuple[str, PatternData]]:
        """Every pattern row of one generation, in name order."""
        self.ensure_schema()
        rows = self._pool.execute(
            f"SELECT name, pattern_data FROM {self._db}.patterns "
            "WHERE node = %(node)s AND generation = %(generation)s "
            "ORDER BY name LIMIT 1 BY name",
            {"node": node, "generation": generation},
        )
        for name, data in rows:
            yield name, loads(data)

    def purge_before(self, node: str, generation: int) -> None:
        """Delete rows of the node's older generations (a background mutation)."""
        self.ensure_schema()
        self._pool.execute(
            f"ALTER TABLE {self._db}.patterns DELETE "
            "WHERE node = %(node)s AND generation < %(generation)s",
            {"node": node, "generation": generation},
        )

    def insert_log(self, rows: list[dict[str, Any]]) -> None:
        """Append learn-log rows (dicts of LOG_COLUMNS; ``learned_at`` as epoch seconds)."""
        if not rows:
            return
        self.ensure_schema()
        values = [
            tuple(
                datetime.fromtimestamp(row[c], UTC).replace(tzinfo=None)
                if c == "learned_at"
                else row[c]
                for c in LOG_COLUMNS
            )
            for row in rows
        ]
        self._pool.execute(
            f"INSERT INTO {self._db}.learn_log ({', '.join(LOG_COLUMNS)}) VALUES", values
        )

    def learn_log(self, node: str) -> list[dict[str, Any]]:
        """The node's learn log, oldest first (traceability, tests)."""
        self.ensure_schema()
        rows = self._pool.execute(
            f"SELECT {', '.join(LOG_COLUMNS)} FROM {self._db}.learn_log FINAL "
            "WHERE node = %(node)s ORDER BY learn_seq",
            {"node": node},
        )
        return [dict(zip(LOG_COLUMNS, row, strict=True)) for row in rows]
