"""Device ids as text: which strings are an integer, and distinct ids in store order.

The stores treat ``7`` and ``"7"`` as one device (a string that is the canonical text of an
int64 is that integer). The split is vectorised over code points; these properties check it
against Python's own ``int``/``str`` round trip, one id at a time.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
import tempfile
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from geotarget._validate import nul_rows, surrogate_rows
from geotarget.ledger import MemoryLedger, SQLiteLedger, _batch
from geotarget.ledger._batch import Payload, SortedRuns, json_ints, split_canonical

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


@example([-(2**63), 2**63 - 1, 0, -1, 9999, 10_000, -10_000, 10**18, -(10**18)])
@given(st.lists(st.integers(*I64), max_size=60))
def test_json_ints_is_the_json_of_the_numbers(values: list[int]) -> None:
    """The JSON array reads back (in Python and in SQLite) as the numbers, large or small.

    Each list is also repeated past ``_FORMAT_AT_ONCE`` ids, where the column-wise writer
    takes over from ``json.dumps``.
    """
    repeat = -(-_batch._FORMAT_AT_ONCE // max(len(values), 1)) if values else 0
    for ints in (values, values * repeat):
        text = json_ints(np.array(ints, dtype=np.int64))
        assert json.loads(text) == ints
        assert "".join(text.split()) == json.dumps(ints).replace(" ", "")
        with contextlib.closing(sqlite3.connect(":memory:")) as db:
            got = [r[0] for r in db.execute("SELECT value FROM json_each(?) ORDER BY key", (text,))]
        assert got == ints


@given(st.lists(texts | st.integers(*I64), max_size=30))
def test_payload_json_is_its_devices_in_store_order(ids: list[str | int]) -> None:
    """Ints as JSON numbers, then the other ids as JSON strings, as SQLite's claims read them.

    Also with enough ints added for the column-wise writer of :func:`json_ints`.
    """
    many = [str(-7 * i) for i in range(_batch._FORMAT_AT_ONCE)]
    for batch in (ids, [*ids, *many]):
        got = Payload.of(np.array([str(i) for i in batch], dtype=np.str_))
        want = got.ints.tolist() + got.strs.tolist()
        assert json.loads(got.json()) == want
        if any("\x00" in t for t in got.strs.tolist()):
            continue  # the stores refuse such ids before SQLite (whose text ends at a NUL)
        with contextlib.closing(sqlite3.connect(":memory:")) as db:
            rows = db.execute("SELECT value FROM json_each(?) ORDER BY key", (got.json(),))
            assert [r[0] for r in rows] == want


@given(
    st.lists(st.text(alphabet="ab\x00\ud7ff\ud800\udbff\udc00\udfff\ue000\U0001f600"), max_size=20)
)
@example(["ab", "a\x00b", "\x00", "abc\x00", "\ud800x", "\x00\x00a", "\U0001f600"])
def test_text_checks_equal_pythons_per_id(ids: list[str]) -> None:
    """NULs before the end and lone surrogates, flagged per id as Python sees each id."""
    arr = np.array(ids, dtype=np.str_)
    stored = arr.tolist()  # numpy drops trailing NULs: those are padding, not the id's
    assert nul_rows(arr).tolist() == ["\x00" in t for t in stored]
    assert surrogate_rows(arr).tolist() == [
        any(0xD800 <= ord(c) <= 0xDFFF for c in t) for t in stored
    ]
    if ids:
        block = arr.reshape(1, -1)  # any shape, flagged per element
        assert nul_rows(block).tolist() == [["\x00" in t for t in stored]]


@example(["1", "2", "a", "b"])  # ascending already: taken as it is
@example(["10", "9", "b", "a"])
@given(st.lists(st.sampled_from(["1", "2", "9", "10", "a", "b", "07"]), min_size=1, max_size=8))
def test_a_sorted_payload_needs_no_sort(ids: list[str]) -> None:
    """Distinct ids given in store order come back as given; any other order is sorted."""
    got = Payload.of(np.array(ids, dtype=np.str_))
    want = sorted({int(t) for t in ids if oracle_int(t) is not None})
    assert got.ints.tolist() == want
    assert got.strs.tolist() == sorted({t for t in ids if oracle_int(t) is None})
    assert got.int_pos.tolist() == [ids.index(str(v)) for v in want]


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
    st.booleans(),
    st.lists(st.lists(st.integers(0, 10**6), max_size=30), max_size=40),
    st.lists(st.integers(0, 10**6), max_size=20),
)
# Claims of shrinking sizes (5, 4, 3, 2, 1 new values) once piled up a run each.
@example(False, True, [[1, 2, 3, 4, 5], [6, 7, 8, 9], [10, 11, 12], [13, 14], [15]], [])
@example(False, True, [[9, 8, 7], [1, 2, 3], [6, 5, 4]], [3, 10])
@example(True, True, [[3, 4, 5, 6, 7], [2], [0, 2, 3], [0, 1, 2], [0, 1], [1]], [])
@example(True, False, [[3, 4, 5, 6, 7], [2], [0, 2, 3], [0, 1, 2], [0, 1], [1]], [9])
def test_sorted_runs_agree_with_a_dict(
    as_text: bool, numbered: bool, batches: list[list[int]], probe: list[int]
) -> None:
    """Every value added is found at its row; no other value is; runs stay few and sorted.

    Text values grow longer from batch to batch, so merges must widen (a truncated id would
    be found under another device's name). Every other batch gives its consecutive rows as
    their first one (an int, as a claim's payload does), so runs of both kinds are merged.
    Without row numbers (``numbered`` false: a SQL store's memory), ``contains`` answers the
    same and ``find`` refuses.
    """
    runs, rows = SortedRuns(), dict[object, int]()
    for b, batch in enumerate(batches):
        values = [(f"{v:x}" * (1 + b % 3)) if as_text else v for v in dict.fromkeys(batch)]
        new = [v for v in values if v not in rows]
        at = np.arange(len(rows), len(rows) + len(new), dtype=np.int64)
        arr = np.array(new, dtype=np.str_ if as_text else np.int64)
        runs = runs.added(arr, None if not numbered else len(rows) if b % 2 else at)
        rows.update(zip(new, at.tolist(), strict=True))
        sizes = [r.size for r, _ in runs.runs]
        assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) == len(sizes)
        assert len(sizes) <= max(1, int(np.log2(max(len(rows), 1))) + 1)
        assert all(bool(np.all(r[:-1] < r[1:])) for r, _ in runs.runs)
    asked = list(rows) + [(f"{v:x}" * 2) if as_text else v for v in probe]
    arr = np.array(asked, dtype=np.str_ if as_text else np.int64)
    want = [rows.get(v, -1) for v in asked]
    if numbered:
        assert runs.find(arr).tolist() == want
    elif runs.runs:
        with pytest.raises(TypeError, match="contains"):
            runs.find(arr)
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
    grown, cols = 0, side._ids
    for d in range(5000, 7000):
        assert store.claim("big", [d, d - 1, "7"], version="v1", at=AT).devices.tolist() == [str(d)]
        grown += side._ids is not cols
        cols = side._ids
    assert grown <= 2
    assert len(side._index.runs) <= 13
    assert store.delivered("big", np.arange(-1, 7001)).tolist() == [False] + [True] * 7000 + [False]


_INT_EDGES = [0, -1, 1, 9, 10, -9, -10, 99, 100, 2**63 - 1, -(2**63), -(2**63) + 1, 10**18,
              10**18 - 1, -(10**18), 9 * 10**18, 12, 120, 1200, 103, -12, -120, -5]  # fmt: skip


def test_a_new_incidents_claims_keep_their_ids_alone() -> None:
    """Claiming 200,000 new devices keeps ~8 bytes a device, not a row of five columns.

    State, lease and version are one value for the claim's rows and its order is consecutive
    numbers (~40 bytes a device before: 1.45 MB per 36,675-device tip request); they are written
    out only when a confirmation, a redelivery or another claim makes them differ, and read
    the same either way.
    """
    store = MemoryLedger()
    n = 200_000
    ids = np.arange(n, dtype=np.int64) * 7 + 1
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        got = store.claim("inc", ids, version="v1", at=AT)
        del got  # (the caller's answer: positions and keys, not the store's)
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept < 9 * n + 65536
    side = store._tables[("inc", 0)].ints
    assert side.state.tolist()[:2] == [0, 0] and side.version.tolist()[:2] == [0, 0]
    assert np.all(np.diff(side.seq) == 1)
    # A claim of other ids into the incident leaves the text ids' side as it was (a batch of
    # ints has no text id to add there), and one that shares the rows' values writes nothing.
    store.claim("inc", ["a", "b"], version="v1", at=AT)
    store.claim("inc", [5, 6], version="v1", at=AT)
    texts = store._tables[("inc", 0)].strs
    assert all(c._array is None for c in [*texts._cols.values(), *side._cols.values()])
    assert texts._seq0 is not None and texts.seq.tolist() == sorted(texts.seq.tolist())
    # A confirmation writes the state out: the rest stay pending and come back.
    store.confirm([f"inc v1 {i}" for i in ids[:3].tolist()], at=AT)
    assert side.state[:4].tolist() == [1, 1, 1, 0]
    again = store.redeliver(AT + dt.timedelta(minutes=10))
    assert [c.devices.size for c in again] == [n - 3 + 4]


_ledger_op = st.one_of(
    st.tuples(
        st.just("claim"),
        st.sampled_from(["v1", "v2"]),
        st.lists(st.integers(0, 15) | st.sampled_from(["7", "x", "y"]), max_size=12),
        st.integers(1, 4),
    ),
    st.tuples(
        st.just("confirm"), st.sampled_from(["v1", "v2"]), st.lists(st.integers(0, 15), max_size=8)
    ),
    st.tuples(st.just("confirm_devices"), st.lists(st.integers(0, 15), max_size=8)),
    st.tuples(st.just("redeliver"), st.integers(0, 5), st.sampled_from([None, 1, 4])),
    st.tuples(st.just("retract"), st.sampled_from(["c1", "c2"])),
)


def _answers(store: Any, ops: list[tuple[Any, ...]]) -> list[Any]:
    """Every answer of ``store`` to ``ops`` on two incidents, as plain values."""
    out: list[Any] = []
    now = 0
    for i, (op, *args) in enumerate(ops):
        inc = "b" if i % 4 == 3 else "a"
        now += 1
        at = AT + dt.timedelta(minutes=now)
        if op == "claim":
            version, batch, lease = args
            c = store.claim(inc, batch, version=version, at=at, lease=dt.timedelta(minutes=lease))
            out.append((c.status.value, c.devices.tolist(), c.positions.tolist()))
        elif op == "confirm":
            version, batch = args
            got = store.confirm([f"{inc} {version} {d}" for d in batch], at=at)
            out.append([got.confirmed.tolist(), got.already.tolist(), got.unknown.tolist()])
        elif op == "confirm_devices":
            got = store.confirm_devices(inc, args[0], at=at)
            out.append([got.confirmed.tolist(), got.already.tolist(), got.unknown.tolist()])
        elif op == "redeliver":
            advance, limit = args
            now += advance
            got = store.redeliver(AT + dt.timedelta(minutes=now), limit=limit)
            out.append([(c.incident, c.version, c.kind.value, c.devices.tolist()) for c in got])
        else:
            c = store.retract(inc, version=args[0], at=at)
            out.append((c.status.value, sorted(c.devices.tolist())))
    for inc in ("a", "b"):
        out.append(sorted(store.recipients(inc).tolist()))
    return out


@settings(max_examples=100, deadline=None)
@given(ops=st.lists(_ledger_op, max_size=14))
# Two versions' claims in incident "a" (ops 0-2, 4-6, 8-10; 3 and 7 go to "b"), confirmations
# by key and by device, redeliveries with and without a limit, a retraction.
@example(
    [
        ("claim", "v1", [1, 2], 1),
        ("claim", "v2", [3, 2, "x"], 3),
        ("confirm", "v2", [3, 2]),
        ("redeliver", 4, None),
        ("confirm_devices", [1]),
        ("claim", "v1", [5, 6, 7], 2),
        ("redeliver", 3, 1),
        ("claim", "v2", [1, 9], 1),
        ("confirm", "v1", [5, 3]),
        ("retract", "c1"),
        ("redeliver", 5, None),
    ]
)
# Regression (found by Hypothesis): redeliver(limit=1) with deliveries due in two incidents took
# the first incident by its key ("a"), SQLite the one it knew first ("b", claimed first).
@example(
    [
        ("confirm", "v1", []),
        ("confirm", "v1", []),
        ("confirm", "v1", []),
        ("claim", "v1", [0], 1),
        ("claim", "v1", [0], 1),
        ("redeliver", 0, 1),
    ]
)
def test_the_memory_ledger_answers_as_the_sqlite_ledger(ops: list[tuple[Any, ...]]) -> None:
    """The memory store's compact columns answer exactly as SQLite's rows.

    Claims under two versions and leases, confirmations by key and by device, redelivery with
    limits, retractions, over two incidents: SQLite is another implementation of the store.
    """
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = SQLiteLedger(Path(tmp) / "l.db")
        try:
            assert _answers(MemoryLedger(), ops) == _answers(sqlite, ops)
        finally:
            sqlite.close()


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


_STORABLE = texts.filter(lambda t: "\x00" not in t)


@settings(max_examples=40, deadline=None)
@given(
    first=st.lists(_STORABLE | st.integers(*I64), min_size=1, max_size=30),
    second=st.lists(_STORABLE | st.integers(*I64), max_size=30),
)
def test_sqlite_claim_log_keeps_every_id_as_the_rows_would(
    first: list[str | int], second: list[str | int]
) -> None:
    """Any ids, claimed into a new incident's log by two handles, then folded into rows.

    The oracle is Python's own canonical text of each id (an int's decimal text; a text that
    is an int64's canonical text is that int): the recipients are the distinct ones, each
    batch's new ones once, the same before the fold (read from the log) and after it.
    """
    want_first = list(dict.fromkeys(map(str, first)))  # ("7" and 7 are one device: "7")
    want_second = [d for d in dict.fromkeys(map(str, second)) if d not in want_first]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "l.db"
        with SQLiteLedger(path) as a, SQLiteLedger(path) as b:
            got_a = a.claim("inc", first, version="v", at=AT).devices.tolist()
            got_b = b.claim("inc", second, version="v", at=AT).devices.tolist() if second else []
            assert (got_a, got_b) == (want_first, want_second)
            logged = a.recipients("inc").tolist()
            assert sorted(logged) == sorted(want_first + want_second)
            b.confirm_devices("inc", ["not-claimed"], at=AT)  # folds the log into rows
            assert a.recipients("inc").tolist() == logged
            assert b.claim("inc", first + second, version="v", at=AT).devices.size == 0
