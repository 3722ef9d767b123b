"""A deterministic training run through the Python client, counting every attempt.

The run trains ``observations`` events drawn from :class:`bench.generate.Generator` (a Zipf
vocabulary, episodes of 2-6 events of 1-3 symbols). Each episode is one
``observe-sequence`` request with ``learn_at_end`` (the episode becomes a pattern; one request,
one session save), and every ``learn_every``-th episode is instead observed with
``observe-sequence`` and learned with a separate ``learn`` call, so both keyed routes are
exercised. ``streams`` sessions of one node train disjoint slices in parallel (threads); the
knowledge base that results does not depend on how they interleave (no emotives or metadata:
pattern frequencies and symbol counts are sums). The client sends an ``Idempotency-Key`` per
call and retries dropped connections and 502/503/504 with backoff (kato.client.RetryPolicy).

Checks made by the run itself: every stream's session clock (``time`` of its last observation)
equals the number of observations it sent, so no observation was lost or applied twice in
session state.

Usage (against any server)::

    python -m bench.training_run --url http://127.0.0.1:8000 --observations 20000
"""

from __future__ import annotations

import argparse
import itertools
import json
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

import httpx

from bench.generate import Generator
from kato.client import KatoClient, KatoError, RetryPolicy

Episode = list[list[str]]

# A policy patient enough for SIGKILLed workers, HUP reloads and a restarting Redis.
CHAOS_RETRY = RetryPolicy(attempts=10, base_delay=0.1, max_delay=2.0)
SESSION_CONFIG = {"process_predictions": False, "max_pattern_length": 0}


def episodes(observations: int, seed: int = 7) -> list[Episode]:
    """Episodes whose event counts sum to exactly ``observations`` (the last one is cut)."""
    out: list[Episode] = []
    total = 0
    size = max(50, observations // 3)
    source = itertools.chain.from_iterable(
        Generator(size, seed=seed + round_).patterns() for round_ in itertools.count()
    )
    for pattern in source:
        if total >= observations:
            break
        episode = pattern[: observations - total]
        out.append(episode)
        total += len(episode)
    return out


class CountingTransport(httpx.BaseTransport):
    """Counts attempts, transport errors, gateway errors and server-side replays."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.lock = threading.Lock()
        self.attempts = 0
        self.transport_errors = 0
        self.gateway_errors = 0
        self.replays = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.attempts += 1
        try:
            response = self.inner.handle_request(request)
        except httpx.TransportError:
            with self.lock:
                self.transport_errors += 1
            raise
        with self.lock:
            if response.status_code in (502, 503, 504):
                self.gateway_errors += 1
            if response.headers.get("idempotent-replayed") == "true":
                self.replays += 1
        return response

    def close(self) -> None:
        self.inner.close()


@dataclass
class RunResult:
    node_id: str
    observations: int
    episodes: int
    calls: int = 0
    failed_calls: int = 0
    attempts: int = 0
    transport_errors: int = 0
    gateway_errors: int = 0
    replays: int = 0
    clock_mismatches: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def retries(self) -> int:
        return self.attempts - self.calls

    def summary(self) -> dict[str, object]:
        data = asdict(self)
        data["retries"] = self.retries
        data["errors"] = self.errors[:5]
        return data


def _stream(
    url: str,
    verify: ssl.SSLContext | bool,
    node_id: str,
    work: list[Episode],
    learn_every: int,
    retry: RetryPolicy,
    result: RunResult,
    lock: threading.Lock,
) -> None:
    transport = CountingTransport(httpx.HTTPTransport(verify=verify, retries=0))
    calls = failed = 0
    try:
        with KatoClient(url, timeout=120.0, retry=retry, transport=transport) as client:
            calls += 1
            session = client.create_session(node_id, config=SESSION_CONFIG, ttl_seconds=7200)
            session_id = session["session_id"]
            sent = 0
            clock = 0
            for number, episode in enumerate(work):
                items = [{"strings": event} for event in episode]
                try:
                    calls += 1
                    separate_learn = learn_every > 0 and number % learn_every == 0
                    body = client.observe_sequence(
                        session_id, items, learn_at_end=not separate_learn
                    )
                    sent += len(items)
                    clock = body["results"][-1]["time"] if body["results"] else clock
                    if separate_learn and body["final_stm_length"] > 0:
                        calls += 1
                        client.learn(session_id)
                except KatoError as error:
                    failed += 1
                    with lock:
                        result.errors.append(f"{type(error).__name__}: {error}")
            if clock != sent:
                with lock:
                    result.clock_mismatches += 1
                    result.errors.append(f"session clock {clock} after {sent} observations")
    except KatoError as error:
        failed += 1
        with lock:
            result.errors.append(f"{type(error).__name__}: {error}")
    finally:
        with lock:
            result.calls += calls
            result.failed_calls += failed
            result.attempts += transport.attempts
            result.transport_errors += transport.transport_errors
            result.gateway_errors += transport.gateway_errors
            result.replays += transport.replays


def train(
    url: str,
    *,
    observations: int,
    node_id: str | None = None,
    streams: int = 4,
    learn_every: int = 5,
    verify: ssl.SSLContext | bool = True,
    retry: RetryPolicy = CHAOS_RETRY,
    seed: int = 7,
    progress: threading.Event | None = None,
) -> RunResult:
    """Train ``observations`` events on ``node_id`` (fresh when None) over ``streams`` sessions."""
    node_id = node_id or f"training-{uuid.uuid4().hex[:12]}"
    work = episodes(observations, seed)
    result = RunResult(node_id=node_id, observations=observations, episodes=len(work))
    slices = [work[i::streams] for i in range(streams)]
    lock = threading.Lock()
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=streams) as pool:
        futures = [
            pool.submit(_stream, url, verify, node_id, part, learn_every, retry, result, lock)
            for part in slices
        ]
        for future in futures:
            future.result()
    result.seconds = round(time.perf_counter() - start, 2)
    if progress is not None:
        progress.set()
    return result


def iter_batches(observations: int, batch_size: int) -> Iterator[int]:
    """Sizes of the seed's batches: ``observations`` split into ``batch_size`` chunks."""
    full, rest = divmod(observations, batch_size)
    yield from [batch_size] * full
    if rest:
        yield rest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--observations", type=int, default=20000)
    parser.add_argument("--streams", type=int, default=4)
    parser.add_argument("--node-id", default=None)
    parser.add_argument("--insecure", action="store_true", help="skip TLS verification")
    args = parser.parse_args()
    result = train(
        args.url,
        observations=args.observations,
        node_id=args.node_id,
        streams=args.streams,
        verify=not args.insecure,
    )
    print(json.dumps(result.summary(), indent=2))
    raise SystemExit(0 if result.failed_calls == 0 and result.clock_mismatches == 0 else 1)


if __name__ == "__main__":
    main()
