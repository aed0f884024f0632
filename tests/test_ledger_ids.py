"""Device ids as text: which strings are an integer, and distinct ids in store order.

The stores treat ``7`` and ``"7"`` as one device (a string that is the canonical text of an
int64 is that integer). The split is vectorised over code points; these properties check it
against Python's own ``int``/``str`` round trip, one id at a time.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st

from geotarget.ledger import MemoryLedger
from geotarget.ledger._batch import Payload, SortedRuns, split_canonical

AT = dt.datetime(2024, 5, 20, 12, tzinfo=dt.timezone.utc)
I64 = (-(2**63), 2**63 - 1)


def oracle_int(text: str) -> int | None:
    """The int64 ``text`` is the canonical text of, or None: Python's round trip."""
    try:
        value = int(text)
    except ValueError:
        return None
    if str(value) != text or not I64[0] <= value <= I64[1]:
        return None
    return value


#: Texts near every rule: signs, leading zeros, 19 and 20 digits, the int64 limits, other
#: digits (Arabic-Indic, full-width), underscores and spaces Python's int() accepts, NULs.
EDGES = [
    "0", "-0", "00", "007", "+7", "-", "--7", "7-", " 7", "7 ", "1_000", "٣", "７", "1\x002",
    str(2**63 - 1), str(2**63), str(-(2**63)), str(-(2**63) - 1), "9" * 19, "1" + "0" * 19,
    "-" + "9" * 19, "-" + "1" * 18, "1" * 20, "12345678901234567890123", "a7", "7a",
]  # fmt: skip
texts = st.one_of(
    st.sampled_from(EDGES),
    st.integers(*I64).map(str),
    st.integers(-(10**25), 10**25).map(str),
    st.text(alphabet="-+0123456789 _a٣\x00", min_size=1, max_size=24),
    st.text(min_size=1, max_size=30),
)


@given(st.lists(texts, min_size=1, max_size=60))
def test_split_canonical_equals_pythons_round_trip(ids: list[str]) -> None:
    arr = np.array(ids, dtype=np.str_)
    stored = arr.tolist()  # numpy drops trailing NULs: the ids as the store sees them
    ints, int_pos, strs, str_pos = split_canonical(arr)
    want = [oracle_int(t) for t in stored]
    assert int_pos.tolist() == [i for i, v in enumerate(want) if v is not None]
    assert ints.tolist() == [v for v in want if v is not None]
    assert str_pos.tolist() == [i for i, v in enumerate(want) if v is None]
    assert strs.tolist() == [t for t, v in zip(stored, want, strict=True) if v is None]


@given(st.lists(texts | st.integers(*I64), min_size=1, max_size=60))
def test_payload_is_the_distinct_devices_in_store_order(ids: list[str | int]) -> None:
    """Ints ascending, then strings ascending; each with its first position in the batch."""
    arr = np.array([str(i) for i in ids], dtype=np.str_)
    stored = arr.tolist()
    first: dict[int | str, int] = {}
    for i, t in enumerate(stored):
        v = oracle_int(t)
        first.setdefault(t if v is None else v, i)
    want_ints = sorted(k for k in first if isinstance(k, int))
    want_strs = sorted(k for k in first if isinstance(k, str))
    got = Payload.of(arr)
    assert got.ints.tolist() == want_ints
    assert got.int_pos.tolist() == [first[k] for k in want_ints]
    assert got.strs.tolist() == want_strs
    assert got.str_pos.tolist() == [first[k] for k in want_strs]


@given(st.lists(st.integers(*I64), min_size=1, max_size=40, unique=True))
def test_an_integer_and_its_text_are_one_device(values: list[int]) -> None:
    """Claimed as text, every id is already claimed as the int (and the other way round)."""
    store = MemoryLedger()
    got = store.claim("inc", np.array([str(v) for v in values]), version="v", at=AT)
    assert len(got.devices) == len(values)
    again = store.claim("inc", np.array(values, dtype=np.int64), version="v", at=AT)
    assert len(again.devices) == 0
    assert store.delivered("inc", values).all()


# --- the sets of claimed devices: sorted runs --------------------------------------------------

_ID_TEXT = st.text(alphabet="0123456789abcdef-", min_size=1, max_size=40)


@given(
    st.booleans(),
    st.lists(st.lists(st.integers(0, 10**6), max_size=30), max_size=40),
    st.lists(st.integers(0, 10**6), max_size=20),
)
# Claims of shrinking sizes (5, 4, 3, 2, 1 new values) once piled up a run each.
@example(False, [[1, 2, 3, 4, 5], [6, 7, 8, 9], [10, 11, 12], [13, 14], [15]], [])
@example(True, [[3, 4, 5, 6, 7], [2], [0, 2, 3], [0, 1, 2], [0, 1], [1]], [])
def test_sorted_runs_agree_with_a_dict(
    as_text: bool, batches: list[list[int]], probe: list[int]
) -> None:
    """Every value added is found at its row; no other value is; runs stay few and sorted.

    Text values grow longer from batch to batch, so merges must widen (a truncated id would
    be found under another device's name).
    """
    runs, rows = SortedRuns(), dict[object, int]()
    for b, batch in enumerate(batches):
        values = [(f"{v:x}" * (1 + b % 3)) if as_text else v for v in dict.fromkeys(batch)]
        new = [v for v in values if v not in rows]
        at = np.arange(len(rows), len(rows) + len(new), dtype=np.int64)
        arr = np.array(new, dtype=np.str_ if as_text else np.int64)
        runs = runs.added(arr, at)
        rows.update(zip(new, at.tolist(), strict=True))
        sizes = [r.size for r, _ in runs.runs]
        assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) == len(sizes)
        assert len(sizes) <= max(1, int(np.log2(max(len(rows), 1))) + 1)
        assert all(bool(np.all(r[:-1] < r[1:])) for r, _ in runs.runs)
    asked = list(rows) + [(f"{v:x}" * 2) if as_text else v for v in probe]
    arr = np.array(asked, dtype=np.str_ if as_text else np.int64)
    want = [rows.get(v, -1) for v in asked]
    assert runs.find(arr).tolist() == want
    assert runs.contains(arr).tolist() == [w >= 0 for w in want]
    assert runs.size == len(rows)


def test_sorted_runs_copy_each_value_a_logarithmic_number_of_times() -> None:
    """A stream of small batches costs O(n log n) copies in all, not O(n) per batch."""
    rng = np.random.default_rng(7)
    runs, n, copied = SortedRuns(), 0, 0
    for _ in range(3000):
        k = int(rng.integers(1, 9))
        values = np.arange(n, n + k, dtype=np.int64) * 7919 % 1_000_003  # distinct, unordered
        before = {id(r) for r, _ in runs.runs}
        runs = runs.added(values, np.arange(n, n + k, dtype=np.int64))
        copied += sum(r.size for r, _ in runs.runs if id(r) not in before)
        n += k
    assert runs.size == n
    assert copied <= n * (np.log2(n) + 2)  # one sorted array merged per batch: ~n**2 / 10


def test_a_stream_of_claims_into_a_large_incident_grows_its_tables_by_doubling() -> None:
    """One device claimed at a time: each is new once; the row arrays are reallocated rarely."""
    store = MemoryLedger()
    store.claim("big", np.arange(5000, dtype=np.int64), version="v1", at=AT)
    side = store._tables[("big", 0)].ints
    grown, cols = 0, side._cols
    for d in range(5000, 7000):
        assert store.claim("big", [d, d - 1, "7"], version="v1", at=AT).devices.tolist() == [str(d)]
        grown += side._cols is not cols
        cols = side._cols
    assert grown <= 2
    assert len(side._index.runs) <= 13
    assert store.delivered("big", np.arange(-1, 7001)).tolist() == [False] + [True] * 7000 + [False]


_INT_EDGES = [0, -1, 1, 9, 10, -9, -10, 99, 100, 2**63 - 1, -(2**63), -(2**63) + 1, 10**18,
              10**18 - 1, -(10**18), 9 * 10**18, 12, 120, 1200, 103, -12, -120, -5]  # fmt: skip


@given(st.lists(st.integers(*I64) | st.sampled_from(_INT_EDGES), unique=True, max_size=80))
@example(_INT_EDGES)
def test_postgres_orders_integer_ids_by_their_text(values: list[int]) -> None:
    """PostgreSQL's COPY order for integer ids (their text, "C" collation), without the text.

    Oracle: Python's ``sorted`` of ``str(v)`` (code points, which UTF-8 bytes and the "C"
    collation order the same way).
    """
    from geotarget.ledger._postgres import _text_order

    ints = np.array(values, dtype=np.int64)
    got = _text_order(ints).tolist()
    assert got == sorted(range(len(values)), key=lambda i: str(values[i]))
