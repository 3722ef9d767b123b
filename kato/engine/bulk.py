"""Vectorised scoring of the candidates that share exactly one symbol with the state.

On real vocabularies most patterns that pass a low recall threshold share a single
(frequent) symbol with the state. For them everything the pruning step needs has
a closed form: the LCS is 1, the matcher finds one block at the first occurrence
of that symbol, the present region is the event holding it, and the flat diff
leaves ``S - 1`` extras. Their token scores and pre-potentials come from one compiled
pass over the overlaps (:func:`kato.engine.kernels.split_overlaps`), operation by operation
in the same order as the scalar code, so every value is bit-identical to it (binary64
arithmetic is the same in numba and Python); tests compare them with the scalar
formulas and with the per-candidate path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from kato.engine.kernels import CandidateScores, overlap_bounds


@dataclass(frozen=True, slots=True)
class MultiSymbolCandidates:
    """Candidates sharing two or more symbols that passed both threshold tests, with
    what :func:`kato.engine.kernels.score_candidates` found for each (aligned arrays)."""

    ids: np.ndarray
    name_keys: np.ndarray
    scores: CandidateScores

    def __len__(self) -> int:
        return int(self.ids.size)

    @classmethod
    def passing(
        cls, ids: np.ndarray, name_keys: np.ndarray, scores: CandidateScores
    ) -> MultiSymbolCandidates:
        kept = np.isfinite(scores.pre)
        return cls(ids[kept], name_keys[kept], scores.select(kept))


def upper_pre_potentials(
    overlap: np.ndarray, lengths: np.ndarray, state_length: int
) -> tuple[np.ndarray, np.ndarray]:
    """Upper bounds of each candidate's pre-potential from its symbol overlap ``o``
    (:func:`kato.engine.kernels.pre_potential_bound`): ``(upper, chained)``, the second
    for a candidate sharing no bigram with the state (every block one symbol)."""
    return overlap_bounds(overlap, lengths, state_length)


def top_by_pre_potential(
    pre: np.ndarray, keys: np.ndarray, keep: int, name_of: Callable[[int], str]
) -> np.ndarray:
    """Positions of the ``keep`` best by pre-potential, ties by name (§6.11).

    ``keys`` are the 64-bit name prefixes (their order is the names' order); a tie
    group with equal prefixes falls back to comparing the full names.
    """
    if pre.size <= keep:
        return np.arange(pre.size)
    cut = np.partition(pre, pre.size - keep)[pre.size - keep]
    above = np.flatnonzero(pre > cut)
    tied = np.flatnonzero(pre == cut)
    need = keep - above.size
    tied_keys = keys[tied]
    # Only the need + 1 smallest keys of the tie group decide (it can hold 100k candidates).
    smallest = (
        np.argpartition(tied_keys, need)[: need + 1] if need < tied.size else np.arange(tied.size)
    )
    order = smallest[np.argsort(tied_keys[smallest], kind="stable")]
    ordered = tied_keys[order]
    if np.any(ordered[1:] == ordered[:-1]):  # equal prefixes: compare the full names
        chosen = np.array(sorted(tied.tolist(), key=name_of)[:need], dtype=np.int64)
    else:
        chosen = tied[order[:need]]
    return np.concatenate([above, chosen])
