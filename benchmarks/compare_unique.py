"""numpy's hashed ``np.unique`` / ``np.union1d`` / ``np.isin`` against ``geotarget._sorted``.

Why the hot paths sort (:mod:`geotarget._sorted`): since numpy 2.3, ``np.unique`` without
indices or counts finds the distinct integers through a hash table. Times, in microseconds (best
of five), both on the same arrays of distinct snapshot rows, at the sizes a Stockholm-wide
classification passes through them. Also why large sorts go by 16-bit digits
(:func:`geotarget._sorted.sort_keys`, :func:`geotarget._sorted.order`): ``np.sort`` and
``np.argsort`` of the same rows' packed int32 keys (row times four plus a rank, as
``classify`` sorts them) and of their int32 id ranks, against the radix passes::

    python benchmarks/compare_unique.py
"""

from __future__ import annotations

import timeit
from collections.abc import Callable
from typing import Any

import numpy as np

from geotarget import _sorted


def _best_us(f: Callable[[], Any]) -> float:
    number = 20
    return min(timeit.repeat(f, number=number, repeat=5)) / number * 1e6


def _compare(n: int, rng: np.random.Generator) -> None:
    """Time the three operations on ``n`` distinct rows of a 1.2 M snapshot."""
    rows = rng.choice(1_200_000, n, replace=False).astype(np.int32)
    other = rng.choice(1_200_000, n // 8, replace=False).astype(np.int32)
    pool = np.sort(rng.choice(1_200_000, n, replace=False).astype(np.int32))
    pairs: list[tuple[str, Callable[[], Any], Callable[[], Any]]] = [
        ("unique", lambda: np.unique(rows), lambda: _sorted.unique(rows)),
        ("union", lambda: np.union1d(rows, other), lambda: _sorted.union(rows, other)),
        ("member", lambda: np.isin(rows, pool), lambda: _sorted.member(rows, pool)),
    ]
    for name, theirs, ours in pairs:
        assert np.array_equal(theirs(), ours())
        print(f"{name:6s} of {n:>6,} int32 rows: numpy {_best_us(theirs):8.1f} µs, "
              f"sorted {_best_us(ours):8.1f} µs")  # fmt: skip
    keys = rows * 4 + rng.integers(1, 3, n, dtype=np.int32)
    below = 4 * 1_200_000
    sorts: list[tuple[str, Callable[[], Any], Callable[[], Any]]] = [
        ("sort", lambda: np.sort(keys), lambda: _sorted.sort_keys(keys, below)),
        (
            "argsort",
            lambda: np.argsort(rows, kind="stable"),
            lambda: _sorted.order(rows, 1_200_000),
        ),
    ]
    for name, theirs, ours in sorts:
        assert np.array_equal(theirs(), ours())
        print(f"{name:7s} of {n:>6,} int32 keys: numpy {_best_us(theirs):8.1f} µs, "
              f"radix {_best_us(ours):8.1f} µs")  # fmt: skip


def main() -> None:
    """Measure and print."""
    rng = np.random.default_rng(0)
    print(f"numpy {np.__version__}")
    for n in (1_851, 4_096, 37_000):
        _compare(n, rng)


if __name__ == "__main__":
    main()
