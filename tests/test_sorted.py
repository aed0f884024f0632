"""The sort-based set helpers (``geotarget._sorted``) against Python's sets."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import numpy.typing as npt
from hypothesis import given, settings
from hypothesis import strategies as st

from geotarget import _sorted

_DTYPES = st.sampled_from([np.int8, np.int32, np.int64, np.intp, np.float64])
_VALUES = st.lists(st.integers(-50, 50), max_size=60)


@given(_VALUES, _VALUES, _DTYPES)
def test_unique_and_union_are_the_sorted_distinct_values(
    a: list[int], b: list[int], dtype: type
) -> None:
    x: npt.NDArray[Any] = np.array(a, dtype=dtype)
    y: npt.NDArray[Any] = np.array(b, dtype=dtype)
    got = _sorted.unique(x)
    assert got.dtype == x.dtype
    assert got.tolist() == sorted(set(x.tolist()))
    assert _sorted.union(x, y).tolist() == sorted(set(x.tolist()) | set(y.tolist()))


@given(_VALUES, _VALUES, _DTYPES)
def test_member_is_membership_in_the_sorted_values(a: list[int], b: list[int], dtype: type) -> None:
    values: npt.NDArray[Any] = np.array(a, dtype=dtype)
    pool: npt.NDArray[Any] = np.array(sorted(set(b)), dtype=dtype)
    got = _sorted.member(values, pool)
    assert got.dtype == np.bool_ and got.shape == values.shape
    assert got.tolist() == [v in set(pool.tolist()) for v in values.tolist()]


def test_unique_leaves_its_argument_alone() -> None:
    x = np.array([3, 1, 3, 2], dtype=np.int32)
    assert _sorted.unique(x).tolist() == [1, 2, 3]
    assert x.tolist() == [3, 1, 3, 2]


@given(
    st.one_of(
        st.lists(st.integers(-5, 5), max_size=8),
        st.lists(st.text("ab\u4e2d", max_size=3), max_size=8),
    )
)
def test_ascending_is_strictly_increasing(values: list[Any]) -> None:
    """Distinct and sorted, numbers or text (Python's pairwise comparison is the oracle)."""
    arr = np.array(values, dtype=np.str_ if values and isinstance(values[0], str) else np.int64)
    assert _sorted.ascending(arr) == all(a < b for a, b in itertools.pairwise(values))


def _stable_order(keys: list[int]) -> list[int]:
    """The oracle: positions sorted by key, ties in their order (Python's sort is stable)."""
    return sorted(range(len(keys)), key=keys.__getitem__)


@settings(max_examples=30, deadline=None)
@given(
    st.integers(1, 2**33),
    st.integers(0, 3 * _sorted.RADIX_FROM),
    st.sampled_from([np.int32, np.int64]),
    st.randoms(use_true_random=False),
)
def test_radix_order_and_sort_are_numpys_stable_sort(
    below: int, n: int, dtype: type, rnd: Any
) -> None:
    """Keys in ``[0, below)``, below and above the radix threshold, with ties and both digits."""
    if dtype is np.int32:
        below = min(below, 2**31)
    # Few distinct values sometimes (many ties), and the ends of the range always present.
    pool = [0, below - 1] + [rnd.randrange(below) for _ in range(rnd.choice([3, 1000]))]
    keys = [rnd.choice(pool) for _ in range(n)]
    arr: npt.NDArray[Any] = np.array(keys, dtype=dtype)
    perm = _sorted.order(arr, below)
    assert perm.tolist() == _stable_order(keys)
    got = _sorted.sort_keys(arr, below)
    assert got.dtype == arr.dtype and got.tolist() == sorted(keys)
    assert arr.tolist() == keys  # left alone


def test_radix_sort_covers_each_digit_count() -> None:
    """One pass (below 2**16), two (below 2**32) and numpy's sort beyond: the same order."""
    rng = np.random.default_rng(7)
    n = 2 * _sorted.RADIX_FROM
    for below in (2**16, 2**16 + 1, 2**32, 2**32 + 1, 2**40):
        keys = rng.integers(0, below, n, dtype=np.int64)
        keys[:50] = keys[50:100]  # ties
        want = sorted(range(n), key=keys.tolist().__getitem__)
        assert _sorted.order(keys, below).tolist() == want
        assert _sorted.sort_keys(keys, below).tolist() == sorted(keys.tolist())


def test_sorted_ids_and_id_order_past_the_radix_threshold() -> None:
    """``Positions.sorted_ids`` and ``id_order`` sort by 16-bit digits from RADIX_FROM rows up.

    Int and text ids in no order, rows given in no order and some twice: Python's ``sorted``
    is the oracle (stable for ``id_order``: a row given twice keeps its order).
    """
    import datetime as dt

    from geotarget import Positions

    rng = np.random.default_rng(11)
    n = 3 * _sorted.RADIX_FROM
    at = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    ints = rng.choice(2**62, n, replace=False).astype(np.int64) - 2**61
    for ids in (ints, np.array([f"dev-{v:x}" for v in ints.tolist()])):
        p = Positions(ids, np.full(n, 18.0), np.full(n, 59.0), observed_at=at)
        rows = rng.integers(0, n, 2 * _sorted.RADIX_FROM)
        listed = [ids[r] for r in rows.tolist()]
        assert p.sorted_ids(rows).tolist() == sorted(listed)
        perm = p.id_order(rows)
        assert perm is not None
        assert perm.tolist() == sorted(range(rows.size), key=listed.__getitem__)
