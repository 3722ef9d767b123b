"""The recent part of a node's summary change log in Redis (``KnowledgeBase.summary_changes``).

Each change that moves the log's position (a learn, a stored batch of precomputed metrics)
appends ``"<position> <name>"`` to a list in the same MULTI/EXEC, the name empty for
metrics; the list keeps the last :data:`KEPT` entries. A reader gets the last
:data:`RECENT` with the position (one round trip; usually all it is behind by), the rest
of the list with a second read when it is further behind. So a reader at most
:data:`KEPT` changes behind gets the names instead of dropping every summary it cached
(and reading a few hundred back) after each learn.

The position is numbered in the entry, not inferred from the list's length, so a gap
(a change written without an entry, as by a worker of an older release during a rolling
upgrade, or one trimmed away) is seen and answered with None: the reader then drops its
cache, as it always did.
"""

from __future__ import annotations

from collections.abc import Sequence

KEPT = 64  # entries kept (readers further behind start over)
RECENT = 8  # entries read with the position


def entry(position: int, name: str) -> str:
    """The entry of the change that moved the log to ``position``."""
    return f"{position} {name}"


def names_between(entries: Sequence[bytes], since: int, now: int) -> list[str] | None:
    """The names changed after position ``since`` up to ``now`` (metrics have none), or
    None unless ``entries`` hold every one of those positions."""
    names: list[str] = []
    seen = 0
    for raw in entries:
        position_text, _, name = raw.decode("utf-8", "surrogatepass").partition(" ")
        position = int(position_text)
        if since < position <= now:
            seen += 1
            if name:
                names.append(name)
    return names if seen == now - since else None
