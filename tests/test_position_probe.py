"""Device positions as ordinary tools hand them over: arrays, pandas columns, Parquet files.

Each test here comes from a probe with input as backend code or a tool writes it, compared
with an answer worked out independently (plain Python ``float`` and ``datetime``).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from geotarget import Positions
from geotarget import _position_files as files
from geotarget.errors import InvalidPositions, InvalidType, UnknownCode

UTC = dt.timezone.utc
NOW = dt.datetime(2025, 5, 1, 12, 0, tzinfo=UTC)


def _arrow() -> Any:
    if os.environ.get("CI") != "true":  # in CI (the extras installed) a missing pyarrow fails
        pytest.importorskip("pyarrow", reason="pyarrow (extras dask, geoparquet) is not installed")
    import pyarrow as pa

    return pa


# ---------------------------------------------------------------------------------------------
# In-memory columns
# ---------------------------------------------------------------------------------------------


def test_text_ids_are_the_snapshots_own_copy() -> None:
    """Text ids are copied: the caller's array is neither kept nor frozen.

    A snapshot kept the caller's id array itself (and froze it): a change made afterwards
    through the array it views changed the validated snapshot's ids, duplicates included.
    """
    ids = np.array(["a", "b", "c"])
    p = Positions(ids, [18.0, 18.1, 18.2], [59.0, 59.1, 59.2], observed_at=NOW)
    assert ids.flags.writeable  # the caller's array is left as it was
    ids[0] = "z"
    assert p.ids.tolist() == ["a", "b", "c"]
    base = np.array(["a", "x", "b", "y", "c", "z"])
    p = Positions(base[::2], [18.0, 18.1, 18.2], [59.0, 59.1, 59.2], observed_at=NOW)
    base[2] = "a"  # through the array the ids were a view of
    assert p.ids.tolist() == ["a", "b", "c"]
    assert p.rows_of(["b"]).tolist() == [1]
    swapped = Positions(
        np.array(["b", "a"], dtype=">U1"), [18.0, 18.1], [59.0, 59.1], observed_at=NOW
    )
    assert swapped.ids.dtype.isnative and swapped.ids.tolist() == ["b", "a"]
    order = swapped.id_order([0, 1])
    assert order is not None and order.tolist() == [1, 0]


@pytest.mark.parametrize(
    "column",
    [
        lambda values: np.array(values, dtype=object),
        lambda values: np.array([*values, "x"], dtype=object)[:-1],  # a mixed frame's .values
        lambda values: [np.float32(v) if i else int(v) for i, v in enumerate(values)],
    ],
)
def test_object_arrays_of_numbers_are_read_as_lists_of_them_are(column: Any) -> None:
    """An object array of numbers is read as the list of the same numbers is.

    Such an array (a column of a mixed pandas frame's ``.values``) was refused, "lon must be
    numbers (got dtype object)", while the list of the same numbers was read.
    """
    lon, lat, acc = [18.0, 18.5, 11.25], [59.0, 59.5, 57.75], [5.0, 12.0, 3.0]
    got = Positions(
        ["a", "b", "c"], column(lon), column(lat), accuracy_m=column(acc), observed_at=NOW
    )
    want = [float(v) for v in column(lon)]  # each value as Python reads it
    assert got.lon.tolist() == want
    assert got.lat.dtype == np.float64 and got.accuracy_m.dtype == np.float64
    ids = Positions(np.array([7, 3], dtype=object), [18.0, 18.1], [59.0, 59.1], observed_at=NOW)
    assert ids.ids.dtype == np.int64 and ids.ids.tolist() == [7, 3]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("18.1", "lon must be numbers (got str '18.1' at row 1)"),
        (True, "lon must be numbers (got bool True at row 1)"),
        ((18.06, 59.33), "lon must be numbers (got tuple of 2 values at row 1)"),
        (
            10**400,
            "lon must be finite numbers (got an integer of 401 digits, beyond a double's "
            "range, at row 1)",
        ),
    ],
)
def test_an_object_array_names_its_first_value_that_is_no_number(
    value: object, message: str
) -> None:
    lon = np.empty(2, dtype=object)
    lon[0], lon[1] = 18.0, value
    with pytest.raises((InvalidType, InvalidPositions)) as info:
        Positions(["a", "b"], lon, [59.0, 59.1], observed_at=NOW)
    assert str(info.value) == message
    with pytest.raises(
        InvalidType, match=r"^lon must be degrees in float64 or float32, not float16"
    ):
        Positions(
            ["a", "b"],
            np.array([18.0, np.float16(18)], dtype=object),
            [59.0, 59.1],
            observed_at=NOW,
        )


def test_object_ids_are_read_as_the_list_of_them() -> None:
    with pytest.raises(
        InvalidType, match=r"^ids must all be str or all be int \(got int at row 0 and str at row 1"
    ):
        Positions(np.array([1, "1"], dtype=object), [18.0, 18.1], [59.0, 59.1], observed_at=NOW)


def test_arrow_backed_timezone_aware_series_are_read() -> None:
    """A pandas column of an Arrow-backed timestamp with a zone is read in its zone.

    ``timestamp[us, tz=UTC][pyarrow]`` (as ``dtype_backend="pyarrow"`` reads a file) was refused
    as "a naive Series": its zone is on the Arrow type it wraps.
    """
    pd = pytest.importorskip("pandas")
    _arrow()
    texts = ["2024-05-20T14:00:01Z", None, "9999-12-31T23:59:59Z"]
    aware = pd.Series(pd.to_datetime(texts, utc=True, format="ISO8601"))
    want = [dt.datetime(2024, 5, 20, 14, 0, 1), None, dt.datetime(9999, 12, 31, 23, 59, 59)]
    for dtype in ("timestamp[us, tz=UTC][pyarrow]", "timestamp[s, tz=Europe/Stockholm][pyarrow]"):
        column = aware.astype(dtype)
        got = Positions(["a", "b", "c"], [18.0] * 3, [59.0] * 3, observed_at=column)
        assert got.observed_at.tolist() == want
    naive = pd.Series(pd.to_datetime(["2024-05-20T14:00"])).astype("timestamp[us][pyarrow]")
    with pytest.raises(InvalidPositions, match=r"^observed_at must be timezone-aware"):
        Positions(["a"], [18.0], [59.0], observed_at=naive)


def test_a_series_of_aware_datetimes_across_a_dst_change_is_read() -> None:
    """A pandas Series of aware datetime objects is read as the list of them is.

    Fixes either side of a DST change keep two offsets, so pandas holds them as objects; such a
    Series was refused as "must be ... a timezone-aware pandas Series (got Series)".
    """
    pd = pytest.importorskip("pandas")
    winter, summer = dt.timezone(dt.timedelta(hours=1)), dt.timezone(dt.timedelta(hours=2))
    times = [
        dt.datetime(2024, 3, 31, 1, 30, tzinfo=winter),
        None,
        dt.datetime(2024, 3, 31, 3, 30, tzinfo=summer),
    ]
    series = pd.Series(times, dtype=object)
    assert series.dtype == object
    want = [t.astimezone(UTC).replace(tzinfo=None) if t else None for t in times]
    for column in (series, pd.Index(series)):
        got = Positions(["a", "b", "c"], [18.0] * 3, [59.0] * 3, observed_at=column)
        assert got.observed_at.tolist() == want
    naive = pd.Series([dt.datetime(2024, 3, 31, 1, 30)], dtype=object)
    with pytest.raises(InvalidPositions, match=r"^observed_at must be timezone-aware \(got naive"):
        Positions(["a"], [18.0], [59.0], observed_at=naive)


@pytest.mark.parametrize("unit", ["D", "W", "M", "Y"])
def test_a_column_of_dates_is_no_column_of_instants(unit: str) -> None:
    """A ``datetime64`` array of dates is refused, as a file's date alone is.

    ``datetime64[D]`` was read as midnight UTC: a time of day invented, where a file's date
    alone (and a Parquet ``date32`` column) is refused.
    """
    days = np.array(["2024-05-20", "NaT"], dtype="datetime64[D]").astype(f"datetime64[{unit}]")
    with pytest.raises(InvalidPositions) as info:
        Positions(["a", "b"], [18.0, 18.1], [59.0, 59.1], observed_at=days)
    assert str(info.value).startswith(
        f"observed_at must be instants, not dates (got dtype datetime64[{unit}]"
    )
    hours = np.array(["2024-05-20T14", "NaT"], dtype="datetime64[h]")
    got = Positions(["a", "b"], [18.0, 18.1], [59.0, 59.1], observed_at=hours).observed_at
    assert got.tolist() == [dt.datetime(2024, 5, 20, 14), None]


# ---------------------------------------------------------------------------------------------
# Parquet and Arrow columns of lists, records and bytes
# ---------------------------------------------------------------------------------------------

_DIGITS = re.compile(r"18|59|0653|3326")


def _composites(pa: Any) -> dict[str, Any]:
    return {
        "struct": pa.array([{"x": 18, "y": 59}] * 2),
        "list": pa.array([[18.0653, 59.3326]] * 2),
        "fixed_list": pa.array([[18, 59]] * 2, pa.list_(pa.int64(), 2)),
        "map": pa.array([[("x", 18.0653)]] * 2, pa.map_(pa.string(), pa.float64())),
        "binary": pa.array([b"\x01\x01\x00\x00\x00" + np.array([18.0653, 59.3326]).tobytes()] * 2),
        "large_binary": pa.array([b"18.0653 59.3326"] * 2, pa.large_binary()),
    }


@pytest.mark.parametrize("column", ["lon", "lat", "accuracy_m", "observed_at", "tester"])
@pytest.mark.parametrize("kind", ["struct", "list", "fixed_list", "map", "binary", "large_binary"])
def test_columns_of_lists_records_or_bytes_are_refused_by_type_unquoted(
    column: str, kind: str, tmp_path: Path
) -> None:
    """A column of records, lists or bytes is refused by its type, its values not quoted.

    Such a Parquet column under a known name was read as text and its first value quoted in
    the refusal: ``{'x': 18, 'y': 59}``, ``[18, 59]``, a WKB point's bytes — a device's
    position, in a message that is logged.
    """
    pa = _arrow()
    import pyarrow.parquet as pq

    from geotarget._positions_arrow import positions_from_arrow

    columns: dict[str, Any] = {
        "id": pa.array(["a", "b"]),
        "lon": pa.array([18.0, 18.1]),
        "lat": pa.array([59.0, 59.1]),
        "accuracy_m": pa.array([5.0, 5.0]),
        "observed_at": pa.array([1716213600] * 2, pa.timestamp("s", tz="UTC")),
        "tester": pa.array([False, True]),
    }
    columns[column] = _composites(pa)[kind]
    table = pa.table(columns)
    path = tmp_path / "positions.parquet"
    pq.write_table(table, path)
    for read in (lambda: positions_from_arrow(table), lambda: files.read(path)):
        with pytest.raises(InvalidPositions) as info:
            read()
        message = str(info.value)
        assert f", column {column}: must hold " in message
        assert "; its values are not quoted: " in message
        assert not _DIGITS.search(message)


def test_a_dictionary_of_records_is_refused_as_its_records_are() -> None:
    pa = _arrow()
    from geotarget._positions_arrow import positions_from_arrow

    lon = pa.DictionaryArray.from_arrays(pa.array([0, 0]), pa.array([{"x": 18.0653}]))
    table = pa.table(
        {
            "id": ["a", "b"],
            "lon": lon,
            "lat": [59.0, 59.1],
            "accuracy_m": [5.0] * 2,
            "observed_at": pa.array([1716213600] * 2, pa.timestamp("s", tz="UTC")),
        }
    )
    with pytest.raises(InvalidPositions, match=r"column lon: must hold degrees .*struct<x"):
        positions_from_arrow(table)


# ---------------------------------------------------------------------------------------------
# Identity
# ---------------------------------------------------------------------------------------------


def _canonical(value: object) -> str:
    """An id's identity, as the gotchas state it: its text (``7`` is ``"7"``)."""
    return str(value)


@pytest.mark.parametrize(
    ("snapshot", "asked"),
    [
        ([7, 3, -5, 2**63 - 1], ["-5", "7", "9223372036854775807"]),
        ([7, 3, -5], ["007", "+7", "-0", "a", "9223372036854775808", "\u0667"]),
        (["7", "a", "-5", "007"], [-5, 7]),
        (["7", "a", "-5", "007"], [0, 5]),
    ],
)
def test_rows_of_finds_an_id_by_its_text(snapshot: list[Any], asked: list[Any]) -> None:
    """``rows_of`` answered "unknown id '7'" in a snapshot of int ids holding 7.

    Identity is an id's text (the ledger's, and the text ids ``retract`` gives), so the text
    ids of a result found no row in a snapshot of int ids, nor int ids in one of text ids.
    """
    p = Positions(snapshot, [18.0] * len(snapshot), [59.0] * len(snapshot), observed_at=NOW)
    rows = {_canonical(v): i for i, v in enumerate(snapshot)}
    missing = [v for v in asked if _canonical(v) not in rows]
    if not missing:
        assert p.rows_of(asked).tolist() == [rows[_canonical(v)] for v in asked]
        return
    for value in missing:
        with pytest.raises(UnknownCode) as info:
            p.rows_of([value])
        assert str(info.value) == f"ids must be in the snapshot (got unknown id {value!r})"


def test_a_tester_column_of_objects_names_its_first_value_that_is_no_bool() -> None:
    """A ``tester`` column of objects names the first that is no bool, with its row.

    Such a column (pandas' nullable ``boolean`` with NA, ``[True, None]``) was refused with
    "tester must be booleans (got dtype object)" alone; one of bools alone was refused too.
    """
    with pytest.raises(InvalidType) as info:
        Positions(["a", "b"], [18.0, 18.1], [59.0, 59.1], observed_at=NOW, tester=[True, None])
    assert str(info.value) == "tester must be booleans, one per id (got NoneType None at row 1)"
    flags = np.array([True, np.bool_(False)], dtype=object)
    got = Positions(["a", "b"], [18.0, 18.1], [59.0, 59.1], observed_at=NOW, tester=flags)
    assert got.tester.tolist() == [True, False]
    pd = pytest.importorskip("pandas")
    with pytest.raises(InvalidType, match=r"^tester must be booleans, one per id \(got NAType"):
        Positions(
            ["a", "b"],
            [18.0, 18.1],
            [59.0, 59.1],
            observed_at=NOW,
            tester=pd.Series([True, None], dtype="boolean"),
        )


# ---------------------------------------------------------------------------------------------
# Memory
# ---------------------------------------------------------------------------------------------


def _peak(build: Any) -> tuple[Any, int]:
    """What ``build()`` returns, and the most memory it held at once (tracemalloc, bytes)."""
    import tracemalloc

    tracemalloc.start()
    try:
        got = build()
        return got, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


_ROWS = 20_000


def test_a_snapshot_checks_its_ids_without_a_second_copy_of_them() -> None:
    """The uniqueness check gathered every id in sorted order: a second copy of the ids.

    Text ids are as wide as the longest, so one id of 256 characters among short ones makes
    each copy 1 kB a row: the snapshot's own copy is needed (the caller's array may change),
    another is not.
    """
    ids = np.array(["x" * 256] + [f"d{i}" for i in range(_ROWS - 1)])
    lon, lat = np.full(_ROWS, 18.0), np.full(_ROWS, 59.0)
    p, peak = _peak(lambda: Positions(ids, lon, lat, observed_at=NOW))
    assert p.ids.nbytes == ids.nbytes == _ROWS * 1024
    assert peak < 1.5 * ids.nbytes  # its own copy, and a few numbers a row


def test_the_file_reader_hands_its_ids_over_without_a_copy(tmp_path: Path) -> None:
    """The command's reader builds the id array and Positions keeps it: no second copy.

    For a file of 20,000 short ids and one of 256 characters (0.6 MB), each array of its ids
    is 20 MB: the reader's alone must do, not a copy, nor a sorted one for its uniqueness.
    """
    path = tmp_path / "positions.csv"
    rows = [f"d{i},18.0,59.0,5,1716213600\n" for i in range(_ROWS - 1)]
    path.write_text(
        "id,lon,lat,accuracy_m,observed_at\n" + "x" * 256 + ",18,59,5,1716213600\n" + "".join(rows)
    )
    (p, _), peak = _peak(lambda: files.read(path))
    assert len(p) == _ROWS and p.ids[0] == "x" * 256 and p.ids[-1] == f"d{_ROWS - 2}"
    # The reader's array, and a chunk's cells as Python strings (about half as much here).
    assert peak < 1.8 * p.ids.nbytes


# ---------------------------------------------------------------------------------------------
# Wall times in a zone (--timezone)
# ---------------------------------------------------------------------------------------------

_ZONES = [
    "Europe/Stockholm",
    "America/New_York",
    "Australia/Lord_Howe",  # a 30-minute DST change
    "Africa/Monrovia",  # -00:44:30 until 1972
    "Pacific/Apia",  # skipped 2011-12-30
    "Pacific/Chatham",  # +12:45 / +13:45
    "Asia/Kolkata",
]
_NIGHTS = [
    dt.datetime(2026, 10, 25, 2, 30),
    dt.datetime(2026, 3, 29, 2, 30),
    dt.datetime(2024, 11, 3, 1, 30),
    dt.datetime(1972, 1, 7, 0, 20),
    dt.datetime(2011, 12, 30, 0, 30),
    dt.datetime(2024, 4, 7, 2, 0),
    dt.datetime(1970, 1, 1, 0, 30),
]


def _wall_oracle(text: str, zone: Any) -> np.datetime64 | None:
    """A wall time's instant in ``zone``, or None when the zone skips or repeats it."""
    if not text:
        return np.datetime64("NaT", "us")
    wall = dt.datetime.fromisoformat(text)
    instants = {wall.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1)}
    (instant,) = instants if len(instants) == 1 else (None,)
    if instant is None or instant.astimezone(zone).replace(tzinfo=None) != wall:
        return None
    if not dt.datetime(1970, 1, 1, tzinfo=UTC) <= instant < dt.datetime(9999, 1, 1, tzinfo=UTC):
        return None
    return np.datetime64(instant.replace(tzinfo=None), "us")


@pytest.mark.parametrize("seed", range(8))
def test_wall_times_in_a_zone_are_the_instants_of_each_cell(seed: int) -> None:
    """Wall times read in --timezone, in bulk per hour, are each cell's instant or refused.

    Columns around DST changes, a 30-minute change, a skipped day and an odd offset.
    """
    import random
    import zoneinfo

    rng = random.Random(seed)
    where = files.Where("f.csv")
    for _ in range(150):
        zone = zoneinfo.ZoneInfo(rng.choice(_ZONES))
        base = (
            rng.choice(_NIGHTS)
            if rng.random() < 0.6
            else dt.datetime(
                rng.randint(1970, 2040), rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23)
            )
        )
        layout = rng.choice(["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S.%f"])
        cells = [
            ""
            if rng.random() < 0.1
            else (
                base
                + dt.timedelta(
                    seconds=rng.randint(-5400, 5400), microseconds=rng.randint(0, 999_999)
                )
            ).strftime(layout)
            for _ in range(rng.randint(1, 10))
        ]
        want = [_wall_oracle(c, zone) for c in cells]
        if any(w is None for w in want):
            with pytest.raises(InvalidPositions, match="column observed_at: "):
                files._times(cells, "observed_at", where, zone)
        else:
            got = files._times(cells, "observed_at", where, zone)
            assert got.astype(np.int64).tolist() == np.array(want).astype(np.int64).tolist()


def test_wall_times_far_from_a_dst_change_are_read_without_parsing_each() -> None:
    """Each distinct wall time was parsed in Python (5 s for 300,000 Parquet timestamps)."""
    import zoneinfo
    from unittest import mock

    zone = zoneinfo.ZoneInfo("Europe/Stockholm")
    cells = [
        f"2024-05-20 {h:02d}:{m:02d}:{s:02d}.{s * 7:06d}"
        for h in (13, 14)
        for m in range(60)
        for s in range(0, 60, 7)
    ]
    with mock.patch.object(files, "_parse_time", side_effect=AssertionError):
        got = files._times(cells, "observed_at", files.Where("f.csv"), zone)
    want = [_wall_oracle(c, zone) for c in cells]
    assert got.astype(np.int64).tolist() == np.array(want).astype(np.int64).tolist()
