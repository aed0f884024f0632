"""Private: distinct values and membership by sorting, for the hot paths.

Since numpy 2.3, ``np.unique`` without indices or counts finds integers' distinct values through
a hash table, and so do ``np.union1d`` and ``np.isin``'s sort path, which call it. On integer
rows that costs ten to twenty times a sort (37,000 distinct int32 rows: 4.1 ms against 0.18 ms;
1,851: 134 µs against 11 µs; numpy 2.4.6, ``python benchmarks/compare_unique.py``), and the
rows a classification keeps pass through it per alert. These helpers sort instead, on every
numpy geotarget supports, and give the same answers.
"""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

G = TypeVar("G", bound=np.generic)
K = TypeVar("K", bound=np.integer[Any])


def unique(values: npt.NDArray[G]) -> npt.NDArray[G]:
    """The distinct values of a 1-D array, ascending (``np.unique``'s values, by one sort)."""
    out = np.sort(values)
    if out.size > 1:
        keep = np.empty(out.size, dtype=np.bool_)
        keep[0] = True
        np.not_equal(out[1:], out[:-1], out=keep[1:])
        out = out[keep]
    return out


def ascending(values: npt.NDArray[Any]) -> bool:
    """Whether a 1-D array (numbers or text) is strictly ascending: distinct and sorted."""
    # (The operator, not np.greater: numpy < 2 has no string ufunc. The reduction is the
    # ufunc's own: np.all adds a Python wrapper that costs as much as the test.)
    return bool(np.logical_and.reduce(values[1:] > values[:-1]))


def union(a: npt.NDArray[G], b: npt.NDArray[G]) -> npt.NDArray[G]:
    """The distinct values of two 1-D arrays, ascending (``np.union1d``)."""
    return unique(np.concatenate([a, b]))


def merge_slots(
    a: npt.NDArray[Any], b: npt.NDArray[Any]
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.bool_]]:
    """Where two ascending arrays' values go when merged (no value in both).

    Returns ``(slots, rest)``: ``merged[slots] = b`` and ``merged[rest] = a`` fill an array of
    ``a.size + b.size`` in ascending order, and the same two scatters carry any array aligned
    with ``a`` and ``b`` along (``np.insert`` does this after sorting its indices, and is
    general, so slower).
    """
    slots = np.searchsorted(a, b)
    slots += np.arange(b.size)  # each of b's places in the merged array
    rest = np.ones(a.size + b.size, dtype=np.bool_)
    rest[slots] = False
    return slots, rest


def member(values: npt.NDArray[Any], sorted_values: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    """Which of ``values`` are in the ascending array ``sorted_values`` (one searchsorted)."""
    if sorted_values.size == 0 or values.size == 0:
        return np.zeros(values.shape, dtype=np.bool_)
    at = np.minimum(np.searchsorted(sorted_values, values), sorted_values.size - 1)
    return np.asarray(sorted_values[at] == values, dtype=np.bool_)


#: From this many keys up, :func:`order` and :func:`sort_keys` sort by 16-bit digits. numpy's
#: stable sort of 16-bit integers is a radix sort, linear in the keys, while its sort of
#: 32- and 64-bit ones is a comparison sort: 37,000 keys below 2**32 in two digit passes take
#: about 0.27 ms against 0.66 ms (int32) and 1.15 ms (int64) for ``np.sort``; below a few
#: thousand keys the passes' fixed costs lose (numpy 2.4.6, ``python
#: benchmarks/compare_unique.py``).
RADIX_FROM = 4096


def _digit_passes(below: int) -> int:
    """Passes of 16-bit digits that sort keys in ``[0, below)``: 1, 2, or 0 (none can)."""
    return 1 if below <= 1 << 16 else 2 if below <= 1 << 32 else 0


def order(keys: npt.NDArray[np.integer[Any]], below: int) -> npt.NDArray[np.intp]:
    """``np.argsort(keys, kind="stable")`` of 1-D integer keys in ``[0, below)``.

    From :data:`RADIX_FROM` keys up, and ``below <= 2**32``, by least-significant-digit radix
    passes of 16 bits (each numpy's stable sort of a ``uint16`` digit); otherwise numpy's.
    Keys outside ``[0, below)`` are the caller's error (they would sort by their low bits).
    """
    passes = _digit_passes(below)
    if keys.size < RADIX_FROM or passes == 0:
        return np.argsort(keys, kind="stable")
    perm = np.argsort(keys.astype(np.uint16), kind="stable")  # (the cast keeps the low bits)
    if passes == 2:
        high = (keys.take(perm) >> 16).astype(np.uint16)
        perm = perm.take(np.argsort(high, kind="stable"))
    return perm


def sort_keys(keys: npt.NDArray[K], below: int) -> npt.NDArray[K]:
    """``np.sort(keys)`` of 1-D integer keys in ``[0, below)`` (a new array).

    As :func:`order`: by 16-bit digits from :data:`RADIX_FROM` keys up when ``below <= 2**32``.
    """
    passes = _digit_passes(below)
    if keys.size < RADIX_FROM or passes == 0:
        return np.sort(keys)
    out = keys.take(np.argsort(keys.astype(np.uint16), kind="stable"))
    if passes == 2:
        out = out.take(np.argsort((out >> 16).astype(np.uint16), kind="stable"))
    return out
