"""A set of device identities for the pipeline: canonical ints and other strings, both sorted.

Identity is the id's canonical text (``7`` is ``"7"``; ``"007"`` is another device); the split
into int64 and str keeps membership vectorized (:func:`geotarget.ledger._batch.split_canonical`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from geotarget._sorted import member
from geotarget.ledger._batch import split_canonical

IdArray = npt.NDArray[Any]


def _insert(done: IdArray, new: IdArray) -> IdArray:
    add = np.sort(new)
    if not done.size:
        return add
    # Widen the string width first: np.insert would truncate longer ids.
    done = done.astype(np.result_type(done, add), copy=False)
    return np.insert(done, np.searchsorted(done, add), add)


class IdSet:
    """A set of device identities: canonical ints (int64, sorted) and other strs (sorted)."""

    __slots__ = ("ints", "strs")

    def __init__(self) -> None:
        self.ints: IdArray = np.empty(0, dtype=np.int64)
        self.strs: IdArray = np.empty(0, dtype=np.str_)

    def member(self, ids: IdArray) -> npt.NDArray[np.bool_]:
        """Which of ``ids`` are in the set."""
        out = np.zeros(ids.shape, dtype=np.bool_)
        if not ids.size:
            return out
        ints, int_pos, strs, str_pos = split_canonical(ids)
        out[int_pos] = member(ints, self.ints)
        out[str_pos] = member(strs, self.strs)
        return out

    def add(self, ids: IdArray) -> None:
        """Add ids not yet in the set (the caller checked with :meth:`member`)."""
        if not ids.size:
            return
        ints, _, strs, _ = split_canonical(ids)
        if ints.size:
            self.ints = _insert(self.ints, ints)
        if strs.size:
            self.strs = _insert(self.strs, strs)
