"""KnowledgeBase of one node: counters and mutable values in Redis, pattern rows in ClickHouse.

Authority:

* Redis (append-only file, ``appendfsync always``) is authoritative for every
  mutable value and for pattern *existence*: frequency (a pattern exists iff it
  has one), emotives, metadata, sym_freq, pmf, totals, affinities, the creation
  feed (sequence numbers), version/generation and precomputed metrics.
* ClickHouse is authoritative for the immutable pattern data. A new pattern's
  row is inserted *before* the Redis transaction that makes the pattern exist,
  so an acknowledged learn never refers to data that is not stored; a crash in
  between leaves only an unreferenced duplicate-safe row.

One learn is one Redis MULTI/EXEC transaction (all counters or none), run under
the node's Redis lock and guarded by WATCH on the node's counters, so even a
lock whose lease ran out cannot let two learns interleave. A per-learn marker
makes a retried transaction (reply lost on a broken connection) count once.

A learn carrying a token (a retried *request*) is skipped when the node's token set
already holds it; the token is added in the same MULTI/EXEC as the learn, kept for
``TOKEN_RETENTION_SECONDS`` (pruned by score on every tokened learn) and survives clear.
A restore writes ClickHouse rows in batches first, then replaces every Redis value of the
node in one MULTI/EXEC.
"""

from __future__ import annotations

import contextlib
import copy
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import redis

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
from kato.storage import redis_change_log
from kato.storage.clickhouse_patterns import ClickHousePatternStore
from kato.storage.learn_counters import add_affinity, learn_deltas, symbol_stats_in_order
from kato.storage.learn_tokens import TOKEN_RETENTION_SECONDS
from kato.storage.ports import StorageUnavailableError
from kato.storage.redis_client import LEARN_OUTBOX, NODES_SET, PREFIX, NodeKeys, redis_errors
from kato.storage.redis_codec import dumps, dumps_text, field, loads, text
from kato.storage.redis_locks import held
from kato.storage.restore_rules import check_restorable

# A learn's marker only has to outlive the retries of that learn (bounded by the timeout).
MIN_MARKER_SECONDS = 30
RESTORE_BATCH = 10_000  # hash fields / list items per command inside a restore's MULTI


# The meta fields the summary change log's position is made of (see summary_changes).
_POSITION_FIELDS = ["generation", "learns", "metric_batches"]


def _position(raw: Sequence[bytes | str | None]) -> SummaryPosition:
    """The change log's position from the values of :data:`_POSITION_FIELDS`."""
    generation, learns, batches = raw
    return (_int(generation), _int(learns) + _int(batches))


def _metrics_current(version: bytes | None, pre_version: bytes | None) -> bool:
    """Whether the stored precomputed metrics belong to the node's current version."""
    return pre_version is not None and _int(pre_version) == _int(version)


def _int(raw: bytes | str | None) -> int:
    return int(raw) if raw is not None else 0


def encode_metrics(metrics: PrecomputedMetrics) -> bytes:
    return dumps(
        [
            metrics.entropy,
            metrics.normalized_entropy,
            metrics.global_normalized_entropy,
            [list(item) for item in metrics.tf_vector],
        ]
    )


def decode_metrics(raw: bytes) -> PrecomputedMetrics:
    entropy, normalized, global_normalized, tf = loads(raw)
    return PrecomputedMetrics(
        float(entropy),
        float(normalized),
        float(global_normalized),
        tuple((str(s), float(v)) for s, v in tf),
    )


class RedisKnowledgeBase:
    """The distributed KnowledgeBase of one node."""

    def __init__(
        self,
        client: redis.Redis,
        patterns: ClickHousePatternStore,
        node_key: str,
        timeout: float,
        data_cache: dict[str, PatternData],
        cache_lock: threading.Lock,
    ) -> None:
        self._redis = client
        self._patterns = patterns
        self._node = node_key
        self._keys = NodeKeys(node_key)
        # Sorted set token -> applied-at (ms) of tokened learns; never cleared (learn_tokens.py).
        self._tokens = f"{PREFIX}:node:{node_key}:tokens"
        self._timeout = timeout
        # Pattern data is immutable and content-addressed: a process-wide cache by name is exact.
        self._data = data_cache
        self._data_lock = cache_lock

    # -- change tracking -------------------------------------------------------
    def version(self) -> int:
        with redis_errors():
            return _int(self._redis.hget(self._keys.meta, "version"))

    def generation(self) -> int:
        with redis_errors():
            return _int(self._redis.hget(self._keys.meta, "generation"))

    def patterns_since(self, seq: int) -> list[tuple[int, str, PatternData]]:
        start = max(seq, 0)
        with redis_errors():
            pipe = self._redis.pipeline(transaction=True)
            pipe.lrange(self._keys.seq, start, -1)
            pipe.hget(self._keys.meta, "generation")
            raw_names, generation = pipe.execute()
        names = [text(n) for n in raw_names]
        data = self._pattern_data(names, _int(generation))
        return [
            (start + i + 1, name, copy.deepcopy(data[name]))
            for i, name in enumerate(names)
            if name in data
        ]

    def _pattern_data(self, names: list[str], generation: int) -> dict[str, PatternData]:
        with self._data_lock:
            found = {n: self._data[n] for n in names if n in self._data}
        missing = [n for n in names if n not in found]
        if missing:
            fetched = self._patterns.fetch(self._node, generation, missing)
            with self._data_lock:
                self._data.update(fetched)
            found.update(fetched)
            lost = [n for n in missing if n not in fetched]
            if lost:
                # Redis says the pattern exists but ClickHouse has no row (data lost or
                # the node cleared meanwhile): never answer from a partial view.
                raise StorageUnavailableError("clickhouse", f"no pattern row for {lost[0]}")
        return found

    # -- reads -----------------------------------------------------------------
    def global_stats(self) -> GlobalStats:
        with redis_errors():
            pipe = self._redis.pipeline(transaction=True)
            pipe.hmget(self._keys.counters, ["N", "TPF", "total_symbols"])
            pipe.hlen(self._keys.pmf)
            (n, tpf, total), distinct = pipe.execute()
        return GlobalStats(_int(n), _int(tpf), _int(total), int(distinct))

    def get_patterns(self, names: Iterable[str]) -> dict[str, PatternRecord]:
        wanted = list(dict.fromkeys(names))
        if not wanted:
            return {}
        with redis_errors():
            pipe = self._redis.pipeline(transaction=True)
            pipe.hmget(self._keys.frequency, wanted)
            pipe.hmget(self._keys.emotives, wanted)
            pipe.hmget(self._keys.metadata, wanted)
            pipe.hget(self._keys.meta, "generation")
            freqs, emotives, metadata, generation = pipe.execute()
        live = [(n, f, e, m) for n, f, e, m in zip(wanted, freqs, emotives, metadata, strict=True)]
        live = [row for row in live if row[1] is not None]
        data = self._pattern_data([row[0] for row in live], _int(generation))
        return {
            name: PatternRecord(
                name=name,
                pattern_data=copy.deepcopy(data[name]),
                frequency=int(freq),
                emotives=loads(emo) if emo is not None else [],
                metadata=loads(md) if md is not None else {},
            )
            for name, freq, emo, md in live
            if name in data
        }

    def summary_changes(
        self, since: SummaryPosition | None
    ) -> tuple[SummaryPosition, list[str] | None]:
        # The position counts learns and stored batches of metrics; the recent changes'
        # names come in the same transaction (kato/storage/redis_change_log.py).
        keys = self._keys
        with redis_errors():
            if since is None:
                return _position(self._redis.hmget(keys.meta, _POSITION_FIELDS)), None
            pipe = self._redis.pipeline(transaction=True)
            pipe.hmget(keys.meta, _POSITION_FIELDS)
            pipe.lrange(keys.changes, -redis_change_log.RECENT, -1)
            raw, entries = pipe.execute()
            position = _position(raw)
            if since[0] != position[0] or since[1] > position[1]:
                return position, None
            behind = position[1] - since[1]
            if redis_change_log.RECENT < behind <= redis_change_log.KEPT:
                # Entries only ever get appended: a later read still holds these positions
                # unless they were trimmed meanwhile, which names_between then sees.
                entries = self._redis.lrange(keys.changes, -redis_change_log.KEPT, -1)
        return position, redis_change_log.names_between(entries, since[1], position[1])

    def pattern_summaries(self, names: Iterable[str]) -> dict[str, PatternSummary]:
        wanted = list(dict.fromkeys(names))
        if not wanted:
            return {}
        with redis_errors():
            pipe = self._redis.pipeline(transaction=True)
            pipe.hmget(self._keys.frequency, wanted)
            pipe.hmget(self._keys.emotives, wanted)
            freqs, emotives = pipe.execute()
        return {
            name: PatternSummary(int(freq), loads(emo) if emo is not None else [])
            for name, freq, emo in zip(wanted, freqs, emotives, strict=True)
            if freq is not None
        }

    def iter_patterns(self) -> Iterator[PatternRecord]:
        with redis_errors():
            pipe = self._redis.pipeline(transaction=True)
            pipe.hgetall(self._keys.frequency)
            pipe.hgetall(self._keys.emotives)
            pipe.hgetall(self._keys.metadata)
            pipe.hget(self._keys.meta, "generation")
            freqs, emotives, metadata, generation = pipe.execute()
        names = sorted(text(n) for n in freqs)
        with self._data_lock:
            known = {n: self._data[n] for n in names if n in self._data}
        if len(known) < len(names):
            for name, pattern in self._patterns.fetch_all(self._node, _int(generation)):
                known.setdefault(name, pattern)
        records = []
        for name in names:
            key = name.encode()
            if name not in known:
                raise StorageUnavailableError("clickhouse", f"pattern row {name} not found")
            emo, md = emotives.get(key), metadata.get(key)
            records.append(
                PatternRecord(
                    name=name,
                    pattern_data=copy.deepcopy(known[name]),
                    frequency=int(freqs[key]),
                    emotives=loads(emo) if emo is not None else [],
                    metadata=loads(md) if md is not None else {},
                )
            )
        return iter(records)

    def _hmget_ints(self, key: str, symbols: Iterable[str]) -> dict[str, int]:
        wanted = list(dict.fromkeys(symbols))
        if not wanted:
            return {}
        with redis_errors():
            values = self._redis.hmget(key, [field(s) for s in wanted])
        return {s: int(v) for s, v in zip(wanted, values, strict=True) if v is not None}

    def pattern_member_frequencies(self, symbols: Iterable[str]) -> dict[str, int]:
        return self._hmget_ints(self._keys.pmf, symbols)

    def symbol_frequencies(self, symbols: Iterable[str]) -> dict[str, int]:
        return self._hmget_ints(self._keys.sym_freq, symbols)

    def affinities(self, symbols: Iterable[str]) -> dict[str, dict[str, float]]:
        wanted = list(dict.fromkeys(symbols))
        if not wanted:
            return {}
        with redis_errors():
            values = self._redis.hmget(self._keys.affinity, [field(s) for s in wanted])
        return {s: loads(v) for s, v in zip(wanted, values, strict=True) if v is not None}

    def all_symbol_stats(self) -> list[SymbolStats]:
        with redis_errors():
            pipe = self._redis.pipeline(transaction=True)
            pipe.hgetall(self._keys.sym_freq)
            pipe.hgetall(self._keys.pmf)
            sym_freq, pmf = pipe.execute()
        rows = [(text(s), int(f), int(pmf.get(s, 0))) for s, f in sym_freq.items()]
        return symbol_stats_in_order(rows)

    def all_affinities(self) -> dict[str, dict[str, float]]:
        with redis_errors():
            raw = self._redis.hgetall(self._keys.affinity)
        decoded = {text(s): loads(v) for s, v in raw.items()}
        return {s: decoded[s] for s in sorted(decoded)}

    def precomputed_metrics(self, names: Iterable[str]) -> dict[str, PrecomputedMetrics]:
        wanted = list(dict.fromkeys(names))
        if not wanted:
            return {}
        keys = self._keys
        with redis_errors():
            # Most nodes hold no current metrics (finalize-training not run since the last
            # new pattern): a small read says so before asking for a few hundred names. The
            # names are then read with the version again, in one transaction, as before.
            pipe = self._redis.pipeline(transaction=True)
            pipe.hget(keys.meta, "version")
            pipe.get(keys.pre_version)
            if not _metrics_current(*pipe.execute()):
                return {}
            pipe = self._redis.pipeline(transaction=True)
            pipe.hget(keys.meta, "version")
            pipe.get(keys.pre_version)
            pipe.hmget(keys.pre, wanted)
            version, pre_version, values = pipe.execute()
        if not _metrics_current(version, pre_version):
            return {}
        return {n: decode_metrics(v) for n, v in zip(wanted, values, strict=True) if v is not None}

    # -- writes ----------------------------------------------------------------
    def learn(self, update: LearnUpdate, merge: PatternMerge) -> bool:
        marker = f"{PREFIX}:learned:{uuid.uuid4().hex}"
        deadline = time.monotonic() + self._timeout
        with held(self._redis, self._keys.lock, self._timeout):
            while True:
                try:
                    with redis_errors():
                        return self._learn_once(update, merge, marker)
                except redis.exceptions.WatchError:
                    # Someone else changed the node (or our connection broke while
                    # watching): the marker tells whether our transaction went through.
                    with redis_errors():
                        done = self._redis.get(marker)
                    if done is not None:
                        return done == b"1"
                    if time.monotonic() > deadline:
                        raise StorageUnavailableError(
                            "redis", "learn kept conflicting until the request timeout"
                        ) from None

    def _learn_once(self, update: LearnUpdate, merge: PatternMerge, marker: str) -> bool:
        keys = self._keys
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.watch(keys.meta, keys.counters)
            meta = pipe.hmget(keys.meta, _POSITION_FIELDS)
            generation, learns, position = _int(meta[0]), _int(meta[1]), _position(meta)
            token = field(update.token) if update.token is not None else None
            # Every learn changes ``counters``, so the WATCH also orders two attempts of one token.
            if token is not None and pipe.zscore(self._tokens, token) is not None:
                return False
            freq_raw = pipe.hget(keys.frequency, update.name)
            stored: PatternRecord | None = None
            if freq_raw is not None:
                emo_raw = pipe.hget(keys.emotives, update.name)
                md_raw = pipe.hget(keys.metadata, update.name)
                stored = PatternRecord(
                    name=update.name,
                    pattern_data=copy.deepcopy(update.pattern_data),  # content-addressed
                    frequency=int(freq_raw),
                    emotives=loads(emo_raw) if emo_raw is not None else [],
                    metadata=loads(md_raw) if md_raw is not None else {},
                )
            is_new = stored is None
            merged = merge(stored)
            deltas = learn_deltas(update, is_new)
            symbols = [d.symbol for d in deltas.symbols]
            affinity: dict[Any, bytes] = {}
            if deltas.affinity and symbols:
                current = pipe.hmget(keys.affinity, [field(s) for s in symbols])
                for symbol, raw in zip(symbols, current, strict=True):
                    old = loads(raw) if raw is not None else None
                    affinity[field(symbol)] = dumps(add_affinity(old, deltas.affinity))
            if is_new:
                # Durable pattern row first: the Redis commit below makes it exist.
                self._patterns.insert_pattern(
                    self._node, generation, update.name, merged.pattern_data
                )
            log_row = {
                "node": self._node,
                "generation": generation,
                "learn_seq": learns + 1,
                "learned_at": int(time.time()),
                "learn_id": marker.rsplit(":", 1)[1],
                "name": update.name,
                "is_new": int(is_new),
                "frequency": merged.frequency,
                "persistence": update.persistence,
                "length": update.length,
                "emotives": dumps_text(update.emotives),
                "metadata": dumps_text(update.metadata),
                "affinity_delta": dumps_text(update.affinity_delta),
            }
            pipe.multi()
            pipe.hset(keys.frequency, update.name, merged.frequency)
            pipe.hset(keys.emotives, update.name, dumps(merged.emotives))
            pipe.hset(keys.metadata, update.name, dumps(merged.metadata))
            for delta in deltas.symbols:
                pipe.hincrby(keys.sym_freq, field(delta.symbol), delta.sym_freq)
                if delta.pmf:
                    pipe.hincrby(keys.pmf, field(delta.symbol), delta.pmf)
            if affinity:
                pipe.hset(keys.affinity, mapping=affinity)
            pipe.hincrby(keys.counters, "total_symbols", deltas.total_symbols)
            pipe.hincrby(keys.meta, "learns", 1)
            self._log_change(pipe, position, update.name)
            if is_new:
                pipe.hincrby(keys.counters, "N", 1)
                pipe.hincrby(keys.counters, "TPF", 1)
                pipe.rpush(keys.seq, update.name)
                pipe.hincrby(keys.meta, "version", 1)
                pipe.delete(keys.pre, keys.pre_version)
            pipe.sadd(NODES_SET, self._node)
            pipe.rpush(LEARN_OUTBOX, dumps(log_row))
            if token is not None:
                now_ms = int(time.time() * 1000)
                pipe.zremrangebyscore(
                    self._tokens, "-inf", f"({now_ms - TOKEN_RETENTION_SECONDS * 1000}"
                )
                pipe.zadd(self._tokens, {token: now_ms})
                pipe.expire(self._tokens, TOKEN_RETENTION_SECONDS)
            marker_seconds = int(max(2 * self._timeout, MIN_MARKER_SECONDS))
            pipe.set(marker, b"1" if is_new else b"0", ex=marker_seconds)
            pipe.execute()
        if is_new:
            with self._data_lock:
                self._data[update.name] = copy.deepcopy(merged.pattern_data)
        return is_new

    def store_precomputed(self, metrics: dict[str, PrecomputedMetrics], version: int) -> bool:
        keys = self._keys
        encoded: dict[Any, bytes] = {n: encode_metrics(m) for n, m in metrics.items()}
        deadline = time.monotonic() + self._timeout
        while True:
            try:
                with redis_errors(), self._redis.pipeline(transaction=True) as pipe:
                    pipe.watch(keys.meta, keys.pre_version)
                    meta = pipe.hmget(keys.meta, ["version", *_POSITION_FIELDS])
                    if _int(meta[0]) != version:
                        return False
                    pre_version = pipe.get(keys.pre_version)
                    pipe.multi()
                    if pre_version is None or _int(pre_version) != version:
                        pipe.delete(keys.pre)
                    if encoded:
                        pipe.hset(keys.pre, mapping=encoded)
                    pipe.set(keys.pre_version, version)
                    pipe.hincrby(keys.meta, "metric_batches", 1)  # the log moves (ports.py)
                    self._log_change(pipe, _position(meta[1:]), "")
                    pipe.execute()
                    return True
            except redis.exceptions.WatchError:
                if time.monotonic() > deadline:
                    raise StorageUnavailableError(
                        "redis", "storing metrics kept conflicting until the request timeout"
                    ) from None

    def _log_change(self, pipe: redis.client.Pipeline, before: SummaryPosition, name: str) -> None:
        """Inside the MULTI of a change made at position ``before``: its log entry (the
        recent part of the log kept)."""
        pipe.rpush(self._keys.changes, redis_change_log.entry(before[1] + 1, name))
        pipe.ltrim(self._keys.changes, -redis_change_log.KEPT, -1)

    def _knowledge_keys(self) -> tuple[str, ...]:
        """Every key of the node's knowledge (not meta, tokens, locks or vectors)."""
        keys = self._keys
        return (
            keys.counters,
            keys.seq,
            keys.frequency,
            keys.emotives,
            keys.metadata,
            keys.sym_freq,
            keys.pmf,
            keys.affinity,
            keys.pre,
            keys.pre_version,
            keys.changes,  # entries of an older generation
        )

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
        deadline = time.monotonic() + self._timeout
        with held(self._redis, self._keys.lock, self._timeout):
            while True:
                try:
                    with redis_errors():
                        generation = self._restore_once(
                            patterns, symbols, affinities, stats, replace
                        )
                    break
                except redis.exceptions.WatchError:
                    if time.monotonic() > deadline:
                        raise StorageUnavailableError(
                            "redis", "restore kept conflicting until the request timeout"
                        ) from None
        if generation is None:
            return False
        with self._data_lock:
            for record in patterns:
                self._data[record.name] = copy.deepcopy(record.pattern_data)
        with contextlib.suppress(StorageUnavailableError):
            self._patterns.purge_before(self._node, generation)
        return True

    def _restore_once(
        self,
        patterns: Sequence[PatternRecord],
        symbols: Sequence[SymbolStats],
        affinities: Mapping[str, Mapping[str, float]],
        stats: GlobalStats,
        replace: bool,
    ) -> int | None:
        """One attempt; the new generation, or None when the node is not empty."""
        keys = self._keys
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.watch(keys.meta, keys.counters, keys.frequency, keys.sym_freq)
            if not replace and (pipe.exists(keys.frequency) or pipe.exists(keys.sym_freq)):
                return None
            generation = _int(pipe.hget(keys.meta, "generation")) + 1
            # Durable pattern rows first, tagged with the generation the commit below starts.
            self._patterns.insert_patterns(
                self._node, generation, ((r.name, r.pattern_data) for r in patterns)
            )
            pipe.multi()
            pipe.delete(*self._knowledge_keys())
            for start in range(0, len(patterns), RESTORE_BATCH):
                part = patterns[start : start + RESTORE_BATCH]
                pipe.hset(keys.frequency, mapping={r.name: r.frequency for r in part})
                pipe.hset(keys.emotives, mapping={r.name: dumps(r.emotives) for r in part})
                pipe.hset(keys.metadata, mapping={r.name: dumps(r.metadata) for r in part})
                pipe.rpush(keys.seq, *(r.name for r in part))
            for start in range(0, len(symbols), RESTORE_BATCH):
                part_symbols = symbols[start : start + RESTORE_BATCH]
                pipe.hset(keys.sym_freq, mapping={field(s.name): s.frequency for s in part_symbols})
                members: dict[Any, int] = {
                    field(s.name): s.pattern_member_frequency
                    for s in part_symbols
                    if s.pattern_member_frequency > 0
                }
                if members:
                    pipe.hset(keys.pmf, mapping=members)
            affinity_items = list(affinities.items())
            for start in range(0, len(affinity_items), RESTORE_BATCH):
                encoded: dict[Any, bytes] = {
                    field(symbol): dumps(dict(values))
                    for symbol, values in affinity_items[start : start + RESTORE_BATCH]
                }
                pipe.hset(keys.affinity, mapping=encoded)
            pipe.hset(
                keys.counters,
                mapping={
                    "N": stats.total_unique_patterns,
                    "TPF": stats.total_pattern_frequencies,
                    "total_symbols": stats.total_symbols_in_patterns_frequencies,
                },
            )
            pipe.hincrby(keys.meta, "version", 1)
            pipe.hincrby(keys.meta, "generation", 1)
            pipe.sadd(NODES_SET, self._node)
            pipe.execute()
        return generation

    def clear(self) -> None:
        keys = self._keys
        with held(self._redis, keys.lock, self._timeout), redis_errors():
            pipe = self._redis.pipeline(transaction=True)
            pipe.delete(*self._knowledge_keys())
            pipe.hincrby(keys.meta, "version", 1)
            pipe.hincrby(keys.meta, "generation", 1)
            _, _, generation = pipe.execute()
        # Rows of old generations are never read; if ClickHouse is down, a later clear purges them.
        with contextlib.suppress(StorageUnavailableError):
            self._patterns.purge_before(self._node, int(generation))

    def is_empty(self) -> bool:
        with redis_errors():
            return not self._redis.exists(self._keys.frequency)
