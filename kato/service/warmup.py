"""Work a worker does at start-up, before it serves: set the garbage collector's pace,
compile the engine's kernels and build the pattern index of every stored node, with its
cache of pattern summaries.

Without it the first prediction on a node pays for reading every pattern of that
node into the worker's index (about a minute at a million patterns), and the first
prediction of all pays for compiling the kernels.
"""

from __future__ import annotations

import gc
import logging
import time

from kato.engine import compiled, kernels
from kato.engine.summaries import MAX_CACHED
from kato.storage.ports import Backend, StorageUnavailableError

logger = logging.getLogger("kato.service")


def pace_collector(threshold: int) -> None:
    """Run the cyclic collector's young pass every ``threshold`` net container allocations
    (``KATO_GC_THRESHOLD``; 0 keeps Python's pace).

    A worker's heap only grows while it learns (index entries, cached summaries). At
    Python's 700 the young passes come often, and every hundredth can be a full pass over
    everything allocated since start-up (one whenever that has grown by a quarter); pacing
    it saves 6–17 % of a training worker's CPU (docs/performance.md). The engine's garbage
    is freed by reference counting, so rarer passes keep at most ``threshold`` objects of
    cyclic garbage waiting.
    """
    if threshold > 0:
        _, older, oldest = gc.get_threshold()
        gc.set_threshold(threshold, older, oldest)


def warm_up(backend: Backend | None, *, indexes: bool) -> None:
    """Compile the kernels, then (with ``indexes``) sync the index of every stored node."""
    kernels.warm_up()
    running = compiled.running_compiled()
    if len(running) < len(compiled.COMPILED_MODULES):  # the same answers, more CPU
        logger.warning(
            "engine interpreted: %d of %d modules compiled (pip install rebuilds them)",
            len(running),
            len(compiled.COMPILED_MODULES),
        )
    if backend is None or not indexes:
        return
    started = time.perf_counter()
    count = patterns = summaries = 0
    # The indexes are millions of long-lived objects: collecting cycles while they are
    # built only slows the build, and once built they are frozen out of the collector
    # (a full collection over a million-pattern index took ~3 s of CPU).
    gc.disable()
    try:
        for key in backend.nodes():
            handle = backend.node(key)
            handle.index.sync(handle.kb)
            if summaries + len(handle.index) <= MAX_CACHED:  # one cache's bound for all nodes
                summaries += handle.index.summaries.preload(handle.kb, handle.index.names())
            count += 1
            patterns += len(handle.index)
    except StorageUnavailableError as error:  # serve anyway: requests sync on demand
        logger.warning("index warm-up stopped, storage unavailable: %s", error)
        return
    finally:
        gc.enable()
    if patterns:
        gc.freeze()
    logger.info(
        "warmed %d node index(es), %d patterns (%d summaries cached), in %.1f s",
        count,
        patterns,
        summaries,
        time.perf_counter() - started,
    )
