"""The sort-based set helpers (``geotarget._sorted``) against Python's sets."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import numpy.typing as npt
from hypothesis import given
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
