"""Snapshots built from what backends hold, answered against brute force of our own.

Inputs no other test hands over: pandas nullable and Arrow-backed columns, Polars Series,
pyarrow arrays with nulls, memoryviews, ids as UUID objects, bytes, unsigned 64-bit ints and
ints at both ends of int64, ``observed_at`` as a DatetimeIndex or a column in other zones,
and snapshots of no row and of one. :meth:`PositionIndex.query`, ``count`` and ``classify``
are checked against pyproj's geodesic distances (never the matcher). Found by this probe: a
``bytearray`` or ``memoryview`` of bytes as ids or ``lon`` was read as its bytes (the devices
97, 98, 99); UUID ids were refused, though the Arrow reader reads them as their text; a pandas
or Polars column of epoch numbers as ``observed_at`` was "got Series" with no word of numbers;
an unsigned 64-bit id of 2**63 or more was named in three different wordings.
"""

from __future__ import annotations

import datetime as dt
import gc
import importlib
import os
import threading
import uuid
import weakref
import zoneinfo
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import pyproj
import pytest

from geotarget import Circle, Location, LocationRule, Polygon, PositionIndex, Positions
from geotarget.errors import GeotargetError, InvalidPositions, InvalidType

NOW = dt.datetime(2025, 5, 1, 12, 0, tzinfo=dt.timezone.utc)
GEOD = pyproj.Geod(ellps="WGS84")
CIRCLE = Circle(18.01, 59.31, 2500.0)


def _need(name: str) -> ModuleType:
    """Import ``name``; skip without it, except in CI (``CI=true``), where it must be there."""
    if os.environ.get("CI") == "true":
        return importlib.import_module(name)
    module: ModuleType = pytest.importorskip(name, reason=f"{name} (extras frames) is missing")
    return module


def _view(values: Any) -> memoryview:
    """A memoryview of a numpy array (numpy's stubs do not declare its buffer)."""
    return memoryview(values)


def _fixes(n: int = 400, seed: int = 17) -> tuple[Any, Any, Any, Any]:
    """Ids at both ends of int64, fixes around Stockholm with some rows without a fix."""
    rng = np.random.default_rng(seed)
    lon = 18.0 + rng.normal(0.0, 0.03, n)
    lat = 59.3 + rng.normal(0.0, 0.02, n)
    lon[::37] = np.nan
    lat[::37] = np.nan
    acc = rng.uniform(0.0, 300.0, n)
    acc[np.isnan(lon)] = np.nan
    ids = np.array([-(2**63) + k if k % 2 else 2**63 - 1 - k for k in range(n)], dtype=np.int64)
    return ids, lon, lat, acc


def _oracle(lon: Any, lat: Any, acc: Any, circle: Circle) -> tuple[Any, Any, Any]:
    """Rows inside ``circle`` by pyproj; rows surely INSIDE and surely OUTSIDE with their disks.

    A disk is surely held when its centre's distance plus its radius stays a metre inside the
    rim, surely disjoint when its distance less its radius stays a metre outside (the triangle
    inequality on geodesic distances); rows in between are not asserted.
    """
    fix = ~np.isnan(lon)
    n = lon.size
    _, _, d = GEOD.inv(
        np.full(n, circle.lon), np.full(n, circle.lat), np.nan_to_num(lon), np.nan_to_num(lat)
    )
    r = circle.radius_m
    radius = np.nan_to_num(acc)
    inside = np.flatnonzero(fix & (d <= r))
    held = fix & (d + radius <= r - 1.0)
    apart = fix & (d - radius > r + 1.0)
    return inside, held, apart


def _check(p: Positions, lon: Any, lat: Any, acc: Any) -> None:
    """query, count and classify over ``p`` agree with the oracle on the raw columns."""
    index = PositionIndex(p)
    inside, held, apart = _oracle(lon, lat, acc, CIRCLE)
    assert index.query(CIRCLE).tolist() == inside.tolist()
    assert index.count(CIRCLE) == inside.size
    rows, states = index.classify(CIRCLE, LocationRule(), NOW)
    state = dict(zip(rows.tolist(), states.tolist(), strict=True))
    assert all(state.get(int(r)) == Location.INSIDE for r in np.flatnonzero(held))
    assert not any(int(r) in state for r in np.flatnonzero(apart))


# ---------------------------------------------------------------------------------------------
# One snapshot, many forms of its columns
# ---------------------------------------------------------------------------------------------


def _numpy(ids: Any, lon: Any, lat: Any, acc: Any) -> tuple[Any, ...]:
    return ids, lon, lat, acc


def _pandas_nullable(ids: Any, lon: Any, lat: Any, acc: Any) -> tuple[Any, ...]:
    pd = _need("pandas")
    gap = np.isnan(lon)  # nullable columns hold a gap as pd.NA, not NaN
    return (
        pd.Series(ids, dtype="Int64"),
        pd.Series(lon, dtype="Float64").mask(gap),
        pd.Series(lat, dtype="Float64").mask(gap),
        pd.Series(acc, dtype="Float64").mask(gap),
    )


def _pandas_arrow(ids: Any, lon: Any, lat: Any, acc: Any) -> tuple[Any, ...]:
    pd = _need("pandas")
    pa = _need("pyarrow")

    def col(v: Any) -> Any:
        return pd.Series(pa.array(v, from_pandas=True), dtype="double[pyarrow]")

    return pd.Series(ids, dtype="int64[pyarrow]"), col(lon), col(lat), col(acc)


def _polars(ids: Any, lon: Any, lat: Any, acc: Any) -> tuple[Any, ...]:
    pl = _need("polars")
    return (
        pl.Series(ids),
        pl.Series(lon, nan_to_null=True),
        pl.Series(lat, nan_to_null=True),
        pl.Series(acc, nan_to_null=True),
    )


def _arrow_chunks(ids: Any, lon: Any, lat: Any, acc: Any) -> tuple[Any, ...]:
    pa = _need("pyarrow")

    def col(v: Any) -> Any:  # two chunks, the gaps as nulls
        return pa.chunked_array(
            [pa.array(v[:50], from_pandas=True), pa.array(v[50:], from_pandas=True)]
        )

    return ids, col(lon), col(lat), col(acc)


def _lists_of_mixed_ints(ids: Any, lon: Any, lat: Any, acc: Any) -> tuple[Any, ...]:
    # Python ints and numpy ints of several widths in one list (rows appended by two paths)
    mixed = [np.int64(v) if k % 3 == 0 else int(v) for k, v in enumerate(ids.tolist())]
    return mixed, lon.tolist(), lat.tolist(), acc.tolist()


def _memoryviews(ids: Any, lon: Any, lat: Any, acc: Any) -> tuple[Any, ...]:
    return memoryview(ids), memoryview(lon), memoryview(lat), memoryview(acc)


FORMS: dict[str, Callable[..., tuple[Any, ...]]] = {
    "numpy": _numpy,
    "pandas nullable": _pandas_nullable,
    "pandas Arrow-backed": _pandas_arrow,
    "polars": _polars,
    "pyarrow chunked with nulls": _arrow_chunks,
    "lists of mixed ints": _lists_of_mixed_ints,
    "memoryviews": _memoryviews,
}


@pytest.mark.parametrize("form", sorted(FORMS))
def test_every_column_form_gives_the_answers_of_brute_force(form: str) -> None:
    """Each form of the same columns is one snapshot; its index answers as pyproj does."""
    ids, lon, lat, acc = _fixes()
    i, x, y, a = FORMS[form](ids, lon, lat, acc)
    p = Positions(i, x, y, accuracy_m=a, observed_at=NOW)
    assert p.ids.tolist() == ids.tolist()
    assert np.array_equal(p.lon, lon, equal_nan=True)
    assert np.array_equal(p.accuracy_m, acc, equal_nan=True)
    _check(p, lon, lat, acc)
    # ids at both ends of int64 sort and are found as Python orders and writes them
    rows = PositionIndex(p).query(CIRCLE)
    assert p.sorted_ids(rows).tolist() == sorted(ids[rows].tolist())
    assert p.rows_of([str(int(ids[1])), str(int(ids[2]))]).tolist() == [1, 2]
    assert p.rows_of([int(ids[2]), int(ids[1])]).tolist() == [2, 1]


# ---------------------------------------------------------------------------------------------
# Ids: UUID objects, bytes, unsigned 64-bit
# ---------------------------------------------------------------------------------------------


def test_uuid_ids_are_their_canonical_text() -> None:
    """UUID objects (a database driver's uuid column) are ids by ``str(u)``, found by either.

    They were refused ("ids must all be str or all be int (got UUID)"), though the Arrow reader
    reads the same frame's UUID column as this text.
    """
    ids = [uuid.UUID(int=(k + 1) * 0x9E3779B97F4A7C15F39CC0605CEDC834 % 2**128) for k in range(5)]
    lon = [18.0, 18.01, 18.3, 18.011, 18.009]
    lat = [59.31, 59.31, 59.31, 59.312, 59.309]
    p = Positions(ids, lon, lat, accuracy_m=[5.0] * 5, observed_at=NOW)
    assert p.ids.tolist() == [str(u) for u in ids]  # the oracle: Python's own text
    assert p.rows_of([ids[3], ids[1]]).tolist() == [3, 1]
    assert p.rows_of([str(ids[3])]).tolist() == [3]
    _check(p, np.array(lon), np.array(lat), np.full(5, 5.0))
    pd = _need("pandas")
    column = pd.Series(ids, dtype=object)  # as a frame of query results holds them
    assert Positions(column, lon, lat, observed_at=NOW).ids.tolist() == [str(u) for u in ids]


@pytest.mark.parametrize(
    "make",
    [bytes, bytearray, lambda b: memoryview(b), lambda b: memoryview(bytearray(b))],
    ids=["bytes", "bytearray", "memoryview", "memoryview of bytearray"],
)
@pytest.mark.parametrize("field", ["ids", "lon"])
def test_bytes_are_refused_as_a_column(make: Callable[[bytes], Any], field: str) -> None:
    """A bytes-like value where a column belongs is refused naming the field.

    A ``bytearray`` or ``memoryview`` of bytes was read as its bytes: ids 97, 98, 99, or
    longitudes 97, 98, 99, without a word.
    """
    columns: dict[str, Any] = {"ids": ["a", "b", "c"], "lon": [18.0] * 3, "lat": [59.0] * 3}
    columns[field] = make(b"abc")
    with pytest.raises(InvalidType, match=rf"^{field} must be a sequence or array.*its bytes"):
        Positions(columns["ids"], columns["lon"], columns["lat"], observed_at=NOW)
    # a memoryview of a numeric array is that array
    view = _view(np.array([5, 6, 7], dtype=np.int64))
    assert Positions(view, [18.0] * 3, [59.0] * 3, observed_at=NOW).ids.tolist() == [5, 6, 7]


def _unsigned_forms() -> dict[str, Callable[[], Any]]:
    values = [1, 2**63 - 1, 2**63, 2**64 - 1]

    def pandas() -> Any:
        return _need("pandas").Series(values, dtype="UInt64")

    def polars() -> Any:
        pl = _need("polars")
        return pl.Series(values, dtype=pl.UInt64)

    return {
        "numpy uint64": lambda: np.array(values, dtype=np.uint64),
        "list of numpy uint64": lambda: [np.uint64(v) for v in values],
        "list of Python ints": lambda: list(values),
        "pandas UInt64": pandas,
        "polars UInt64": polars,
    }


@pytest.mark.parametrize("form", sorted(_unsigned_forms()))
def test_unsigned_ids_beyond_int64_are_named_alike(form: str) -> None:
    """An id of 2**63 or more is refused naming the rule, the first value and its rows."""
    with pytest.raises(InvalidPositions) as info:
        Positions(_unsigned_forms()[form](), [18.0] * 4, [59.0] * 4, observed_at=NOW)
    assert str(info.value) == (
        "ids must fit in a signed 64-bit integer, -2**63 to 2**63 - 1 (got "
        "9223372036854775808 at rows 2, 3): give longer ids as text"
    )


# ---------------------------------------------------------------------------------------------
# observed_at: zones, frames, epoch numbers
# ---------------------------------------------------------------------------------------------


def test_observed_at_in_every_form_is_the_same_instants() -> None:
    """A DatetimeIndex, zoned pandas and Polars columns and mixed-zone datetimes agree.

    The oracle is Python's ``astimezone(utc)`` of each instant; ``query(observed_before=)``
    keeps exactly the rows whose instant is earlier (checked by brute force).
    """
    pd = _need("pandas")
    pl = _need("polars")
    zones = ["Asia/Tokyo", "America/St_Johns", "Europe/Stockholm", "Pacific/Chatham"]
    instants = [NOW + dt.timedelta(minutes=17 * k) for k in range(8)]
    local = [t.astimezone(zoneinfo.ZoneInfo(zones[k % 4])) for k, t in enumerate(instants)]
    want = [t.astimezone(dt.timezone.utc).replace(tzinfo=None) for t in local]
    stamps = pd.DatetimeIndex(instants).tz_convert("America/St_Johns")
    forms = {
        "DatetimeIndex": stamps,
        "Series in another zone": pd.Series(stamps).dt.tz_convert("Asia/Kolkata"),
        "Arrow-backed": pd.Series(stamps).astype("timestamp[ms, tz=Pacific/Chatham][pyarrow]"),
        "polars": pl.Series(instants).dt.convert_time_zone("Asia/Tokyo"),
        "datetimes in mixed zones": local,
        "datetime64[ns]": np.array([np.datetime64(t) for t in want], dtype="datetime64[ns]"),
    }
    lon = 18.0 + 0.001 * np.arange(8)
    lat = np.full(8, 59.31)
    cut = NOW + dt.timedelta(minutes=60)
    for name, observed in forms.items():
        p = Positions(list(range(8)), lon, lat, observed_at=observed)
        assert p.observed_at.tolist() == want, name
        got = PositionIndex(p).query(Circle(18.0, 59.31, 5000.0), observed_before=cut)
        assert got.tolist() == [k for k, t in enumerate(local) if t < cut], name


@pytest.mark.parametrize("library", ["pandas", "polars"])
def test_a_column_of_epoch_numbers_as_observed_at_says_how_to_read_it(library: str) -> None:
    """Epoch milliseconds in a frame column: refused naming its dtype, both units and a way.

    It was "(got Series, not quoted)", with no word of numbers; the way it names reads them.
    """
    ms = [1_746_100_800_000 + 1000 * k for k in range(3)]
    column = _need(library).Series(ms)
    with pytest.raises(InvalidType) as info:
        Positions([1, 2, 3], [18.0] * 3, [59.0] * 3, observed_at=column)
    text = str(info.value)
    assert text.startswith("observed_at must be timezone-aware datetimes or numpy datetime64")
    assert "of dtype Int64" in text or "of dtype int64" in text
    assert "epoch milliseconds with values.to_numpy().astype('datetime64[ms]')" in text
    p = Positions(
        [1, 2, 3], [18.0] * 3, [59.0] * 3, observed_at=column.to_numpy().astype("datetime64[ms]")
    )
    oracle = [dt.datetime.fromtimestamp(v / 1000, dt.timezone.utc).replace(tzinfo=None) for v in ms]
    assert p.observed_at.tolist() == oracle


# ---------------------------------------------------------------------------------------------
# Accuracy, and snapshots of no row and of one
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("accuracy", "shown"), [(np.nan, "nan"), (-1.0, "-1.0"), (np.inf, "inf")])
def test_a_bad_accuracy_names_the_field_value_and_first_row(accuracy: float, shown: str) -> None:
    """NaN, a negative or an infinite accuracy on a fix: named with the rule and its row."""
    with pytest.raises(InvalidPositions) as info:
        Positions(
            [1, 2, 3], [18.0] * 3, [59.0] * 3, accuracy_m=[1.0, 2.0, accuracy], observed_at=NOW
        )
    assert str(info.value).startswith("accuracy_m must be finite, >= 0")
    assert str(info.value).endswith(f"(got {shown} at row 2)")
    assert isinstance(info.value, GeotargetError)


@pytest.mark.parametrize(
    "area",
    [
        CIRCLE,
        Polygon([(17.9, 59.2), (18.1, 59.2), (18.1, 59.4), (17.9, 59.4)]),
    ],
)
@pytest.mark.parametrize("rows", [0, 1])
def test_snapshots_of_no_row_and_of_one_answer_as_brute_force(area: Any, rows: int) -> None:
    """An empty snapshot answers nothing; one fix answers as pyproj (or shapely's box) says."""
    ids, lon, lat = ["only"][:rows], [18.011][:rows], [59.309][:rows]
    p = Positions(ids, lon, lat, accuracy_m=[0.0][:rows], observed_at=NOW)
    index = PositionIndex(p)
    if isinstance(area, Circle):
        inside, _, _ = _oracle(np.array(lon), np.array(lat), np.zeros(rows), area)
        want = inside.tolist()
    else:
        want = [k for k in range(rows) if 17.9 <= lon[k] <= 18.1 and 59.2 <= lat[k] <= 59.4]
    assert index.query(area).tolist() == want
    assert index.count(area) == len(want)
    got, states = index.classify(area, LocationRule(), NOW)
    assert got.tolist() == want and states.tolist() == [Location.INSIDE] * len(want)
    assert got.dtype == np.int32 and states.dtype == np.int8


# ---------------------------------------------------------------------------------------------
# Swapping snapshots under readers; what a snapshot keeps
# ---------------------------------------------------------------------------------------------


def test_readers_during_swaps_see_one_snapshot_never_a_mix() -> None:
    """Readers of a swapped reference see the old or the new snapshot whole.

    Two snapshots of other devices at other places: every answer a reader gets (rows, their
    ids, their count) must belong to one of them, as brute force over that one says.
    """
    lon_a, lat_a = 18.0 + 0.0005 * np.arange(64), np.full(64, 59.31)
    lon_b, lat_b = np.full(40, 18.01), 59.30 + 0.0005 * np.arange(40)
    a = PositionIndex(Positions([f"a{k}" for k in range(64)], lon_a, lat_a, observed_at=NOW))
    b = PositionIndex(Positions([f"b{k}" for k in range(40)], lon_b, lat_b, observed_at=NOW))
    want = {}
    for name, lon, lat in (("a", lon_a, lat_a), ("b", lon_b, lat_b)):
        inside, _, _ = _oracle(lon, lat, np.zeros(lon.size), CIRCLE)
        want[name] = [f"{name}{k}" for k in inside]
    current = {"index": a}
    stop = threading.Event()
    problems: list[str] = []

    def read() -> None:
        while not stop.is_set():
            index = current["index"]  # read the reference once, then use only that snapshot
            rows = index.query(CIRCLE)
            ids = index.positions.ids[rows].tolist()
            if ids not in (want["a"], want["b"]) or index.count(CIRCLE) != len(ids):
                problems.append(f"{len(ids)} ids, first {ids[:1]}")

    readers = [threading.Thread(target=read) for _ in range(3)]
    for t in readers:
        t.start()
    for k in range(300):
        current["index"] = b if k % 2 == 0 else a
    stop.set()
    for t in readers:
        t.join()
    assert not problems, problems[:3]


def test_a_snapshot_keeps_no_reference_to_the_callers_frame_or_arrays() -> None:
    """Built from a frame's columns, a snapshot and its index share no memory with them.

    The frame is freed once the caller drops it, and changing the caller's arrays afterwards
    changes no answer.
    """
    pd = _need("pandas")
    lon, lat = np.full(100, 18.01), 59.30 + 0.001 * np.arange(100)
    frame = pd.DataFrame(
        {
            "id": pd.Series([f"d{k}" for k in range(100)], dtype="string[pyarrow]"),
            "lon": lon,
            "lat": lat,
            "accuracy_m": pd.Series(np.full(100, 5.0), dtype="Float64"),
            "t": pd.date_range("2025-05-01", periods=100, freq="s", tz="Europe/Stockholm"),
        }
    )
    p = Positions(
        frame["id"],
        frame["lon"],
        frame["lat"],
        accuracy_m=frame["accuracy_m"],
        observed_at=frame["t"],
    )
    index = PositionIndex(p)
    before = index.query(CIRCLE).tolist()
    for column in ("lon", "lat"):
        assert not np.shares_memory(getattr(p, column), frame[column].to_numpy())
    ref = weakref.ref(frame)
    del frame
    gc.collect()
    assert ref() is None
    raw = np.array(lon)
    q = Positions(np.arange(100), raw, lat, observed_at=NOW)
    raw[:] = 0.0  # the caller reuses its buffer
    assert PositionIndex(q).query(CIRCLE).tolist() == before


def test_an_index_of_a_frame_names_the_reader_that_makes_a_snapshot() -> None:
    """``PositionIndex(frame)`` is refused naming the type and how to make a snapshot."""
    pd = _need("pandas")
    frame = pd.DataFrame({"id": [1], "lon": [18.0], "lat": [59.0]})
    with pytest.raises(
        InvalidType, match=r"\(got DataFrame\); read a table or frame with geotarget"
    ):
        PositionIndex(frame)
    with pytest.raises(InvalidType, match=r"\(got list\); build one with geotarget.Positions"):
        PositionIndex([(1, 18.0, 59.0)])  # type: ignore[arg-type]


@pytest.mark.parametrize("field", ["ids", "lon"])
def test_a_record_array_or_bytes_array_as_a_column_says_what_to_pass(field: str) -> None:
    """A whole structured array (or an array of bytes) as a column names its fields and a way."""
    records = np.array(
        [(1, 18.0, 59.0), (2, 18.1, 59.1)], dtype=[("id", "i8"), ("lon", "f8"), ("lat", "f8")]
    )
    columns: dict[str, Any] = {"ids": records["id"], "lon": records["lon"], "lat": records["lat"]}
    columns[field] = records
    with pytest.raises(InvalidType) as info:
        Positions(columns["ids"], columns["lon"], columns["lat"], observed_at=NOW)
    assert str(info.value).endswith(
        "(got a structured array of the fields id, lon, lat; pass one field, such as values['id'])"
    )
    assert str(info.value).startswith(field)
    p = Positions(records["id"], records["lon"], records["lat"], observed_at=NOW)
    assert p.ids.tolist() == [1, 2] and p.lat.tolist() == [59.0, 59.1]
    with pytest.raises(InvalidType, match=r"dtype \|S1, bytes; decode them"):
        Positions(np.array([b"a", b"b"]), [18.0] * 2, [59.0] * 2, observed_at=NOW)


@pytest.mark.parametrize(
    "view",
    [_view(np.zeros((3, 1))), _view(np.array([1.7e12] * 3)), memoryview(b"abc")],
    ids=["2-D", "epoch numbers", "bytes"],
)
def test_a_memoryview_as_observed_at_is_refused_as_numbers(view: memoryview) -> None:
    """A memoryview holds numbers or bytes, never times: refused as such.

    A 2-D one raised Python's NotImplementedError ("multi-dimensional sub-views").
    """
    with pytest.raises(InvalidType, match=r"^observed_at must be timezone-aware .*bare numbers"):
        Positions([1, 2, 3], [18.0] * 3, [59.0] * 3, observed_at=view)


@pytest.mark.parametrize(
    "gap",
    [None, "NaT", "NA", float("nan"), np.float64("nan"), np.datetime64("NaT")],
    ids=["None", "pandas NaT", "pandas NA", "nan", "numpy nan", "numpy NaT"],
)
def test_every_missing_marker_in_a_column_of_datetimes_is_an_unknown_time(gap: Any) -> None:
    """A gap written as pandas' NA, NaN or numpy's NaT among datetimes is an unknown time.

    pandas NA, NaN and numpy NaT were refused ("got NAType at row 1"), while the same gap in
    an Arrow-backed or Polars column (a null) was an unknown time.
    """
    pd = _need("pandas")
    marker = {"NaT": pd.NaT, "NA": pd.NA}.get(gap, gap) if isinstance(gap, str) else gap
    times = [NOW - dt.timedelta(minutes=5), marker, NOW - dt.timedelta(hours=3)]
    for observed in (times, pd.Series(times, dtype=object)):
        p = Positions([1, 2, 3], [18.01] * 3, [59.31] * 3, observed_at=observed)
        assert np.isnat(p.observed_at).tolist() == [False, True, False]
        rows, states = PositionIndex(p).classify(
            CIRCLE, LocationRule(max_age=dt.timedelta(hours=1)), NOW
        )
        assert rows.tolist() == [0, 1, 2]
        assert states.tolist() == [Location.INSIDE, Location.UNKNOWN, Location.UNKNOWN]
        cut = NOW - dt.timedelta(hours=1)  # fixes older than this, or of unknown age
        assert PositionIndex(p).query(CIRCLE, observed_before=cut).tolist() == [1, 2]
