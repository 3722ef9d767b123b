"""The greedy block matcher of engine §6.4.

It reproduces :class:`difflib.SequenceMatcher` with ``isjunk=None`` and
``autojunk=False`` exactly (same longest-match tie rules, same recursion, same
merging of adjacent blocks), but indexes the second sequence once so that one
state can be matched against many patterns cheaply. A property test checks it
against difflib.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

Block = tuple[int, int, int]  # (i in a, j in b, size)


class BlockMatcher:
    """Matching blocks of any sequence ``a`` against a fixed sequence ``b``."""

    __slots__ = ("b", "positions")

    def __init__(self, b: Sequence[str]) -> None:
        self.b = b
        positions: dict[str, list[int]] = {}
        for j, item in enumerate(b):
            positions.setdefault(item, []).append(j)
        self.positions = positions

    def longest_match(
        self, a: Sequence[str], hits: Sequence[int], alo: int, ahi: int, blo: int, bhi: int
    ) -> Block:
        """Longest ``a[i:i+k] == b[j:j+k]`` in the ranges; smallest i, then smallest j.

        ``hits`` are the ascending positions of ``a`` whose item occurs in ``b``;
        difflib's scan over every ``i`` only ever extends runs at such positions,
        so skipping the others (and resetting the runs across a gap) is the same.
        """
        positions = self.positions
        b = self.b
        best_i, best_j, best_size = alo, blo, 0
        run: dict[int, int] = {}
        previous = alo - 2
        for i in hits[bisect_left(hits, alo) : bisect_left(hits, ahi)]:
            if i != previous + 1:
                run = {}
            previous = i
            new_run: dict[int, int] = {}
            for j in positions[a[i]]:
                if j < blo:
                    continue
                if j >= bhi:
                    break
                k = new_run[j] = run.get(j - 1, 0) + 1
                if k > best_size:
                    best_i, best_j, best_size = i - k + 1, j - k + 1, k
            run = new_run
        while best_i > alo and best_j > blo and a[best_i - 1] == b[best_j - 1]:
            best_i, best_j, best_size = best_i - 1, best_j - 1, best_size + 1
        while (
            best_i + best_size < ahi
            and best_j + best_size < bhi
            and a[best_i + best_size] == b[best_j + best_size]
        ):
            best_size += 1
        return best_i, best_j, best_size

    def blocks(self, a: Sequence[str]) -> list[Block]:
        """The merged matching blocks of ``(a, b)``, without difflib's final sentinel."""
        positions = self.positions
        hits = [i for i, item in enumerate(a) if item in positions]
        if not hits:
            return []
        found: list[Block] = []
        queue = [(0, len(a), 0, len(self.b))]
        while queue:
            alo, ahi, blo, bhi = queue.pop()
            i, j, k = block = self.longest_match(a, hits, alo, ahi, blo, bhi)
            if k:
                found.append(block)
                if alo < i and blo < j:
                    queue.append((alo, i, blo, j))
                if i + k < ahi and j + k < bhi:
                    queue.append((i + k, ahi, j + k, bhi))
        found.sort()
        merged: list[Block] = []
        i1 = j1 = k1 = 0
        for i2, j2, k2 in found:
            if i1 + k1 == i2 and j1 + k1 == j2:
                k1 += k2
            else:
                if k1:
                    merged.append((i1, j1, k1))
                i1, j1, k1 = i2, j2, k2
        if k1:
            merged.append((i1, j1, k1))
        return merged
