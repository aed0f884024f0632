"""Positions from Arrow tables and Parquet files, and the partitioned layout with its metadata."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

if os.environ.get("CI") != "true":  # in CI (the dask extra installed) a missing pyarrow fails
    pytest.importorskip("pyarrow", reason="pyarrow (extras dask, geoparquet) is not installed")
import pyarrow as pa
import pyarrow.parquet as pq

from geotarget import Positions
from geotarget._position_files import Where
from geotarget._positions_arrow import (
    _column,
    cell_of,
    partition_meta,
    positions_from_arrow,
)
from geotarget.dask import PartitionedPositions, read_parquet, write_partitioned
from geotarget.errors import InvalidInput, InvalidPositions

T0 = dt.datetime(2024, 5, 20, 12, 0, tzinfo=dt.timezone.utc)


def _table(**cols: object) -> object:
    base: dict[str, object] = {
        "id": ["a", "b", "c"],
        "lon": [18.0, 18.1, float("nan")],
        "lat": [59.3, 59.4, float("nan")],
        "accuracy_m": [5.0, 10.0, float("nan")],
        "observed_at": pa.array([T0, T0, None], pa.timestamp("us", tz="UTC")),
    }
    base.update(cols)
    return pa.table({k: v for k, v in base.items() if v is not None})


def test_float64_columns_without_nulls_are_viewed_not_copied() -> None:
    """A float64 column without nulls in one chunk is a view of the Arrow buffer."""
    col = pa.chunked_array([pa.array([18.0, 18.1])])
    view = _column("lon", col, Where("t"))
    assert np.shares_memory(view, np.frombuffer(col.chunk(0).buffers()[1], dtype=np.float64))


def test_a_table_reads_as_the_same_positions() -> None:
    """Columns, no-fix rows and times arrive as Positions holds them."""
    p = positions_from_arrow(_table())
    assert p.ids.tolist() == ["a", "b", "c"]
    assert p.has_fix.tolist() == [True, True, False]
    assert p.observed_at[0] == np.datetime64("2024-05-20T12:00:00", "us")
    assert np.isnat(p.observed_at[2])


def test_aliases_name_their_column_and_one_column_twice_is_refused() -> None:
    """latitude/longitude/device_id read as lat/lon/id; lat under two names is an error."""
    p = positions_from_arrow(
        pa.table(
            {
                "Device_ID": ["a"],
                "Latitude": [59.3],
                "Longitude": [18.0],
                "observed_at": [dt.datetime(2024, 5, 20, 12, tzinfo=dt.timezone.utc)],
            }
        ),
        accuracy_m=0.0,
    )
    assert (p.ids.tolist(), p.lon.tolist(), p.lat.tolist()) == (["a"], [18.0], [59.3])
    for name in ("accuracy", "horizontalAccuracy", "Horizontal_Accuracy"):
        table = pa.table({"id": ["a"], "lon": [18.0], "lat": [59.3], name: [25.0]})
        got = positions_from_arrow(
            table, observed_at=dt.datetime(2024, 5, 20, tzinfo=dt.timezone.utc)
        )
        assert got.accuracy_m.tolist() == [25.0], name
    table = pa.table({"id": [1], "lat": [59.3], "lon": [18.0], "latitude": [59.3]})
    with pytest.raises(
        InvalidInput, match=r"t: column lat appears twice \(columns 2 and 4: 'lat' and 'latitude'\)"
    ):
        positions_from_arrow(table, source="t")


def test_a_missing_column_is_named() -> None:
    """A table without lat names the missing column and what it has."""
    with pytest.raises(InvalidInput, match=r"t\.parquet: lacks column\(s\) lat \(has 'id', 'lon'"):
        positions_from_arrow(pa.table({"id": [1], "lon": [18.0]}), source="t.parquet")


def test_a_bad_value_names_file_row_and_column(tmp_path: Path) -> None:
    """An out-of-range latitude is reported with the file, its row from 1 and the column."""
    path = tmp_path / "p.parquet"
    pq.write_table(_table(lat=[59.3, 91.0, float("nan")]), path)
    with pytest.raises(InvalidPositions, match=r"p\.parquet: row 2, column lat"):
        read_parquet(path)


def test_a_column_of_the_wrong_type_is_named(tmp_path: Path) -> None:
    """Text coordinates that are not numbers are refused with the row and column."""
    with pytest.raises(InvalidPositions, match=r"t: row 1, column lon"):
        positions_from_arrow(_table(lon=["east", "18.1", ""]), source="t")


def test_duplicate_ids_are_refused_with_their_rows() -> None:
    """A duplicate id is reported with the source, its row from 1 and the first one's row."""
    with pytest.raises(InvalidPositions, match=r"t: row 2, column id: .*already at row 1"):
        positions_from_arrow(_table(id=["a", "a", "c"]), source="t")


def test_no_observed_at_needs_one_time() -> None:
    """Without observed_at the table is refused, unless one time is given for every row."""
    table = _table(observed_at=None)
    with pytest.raises(InvalidInput) as err:
        positions_from_arrow(table)
    assert str(err.value) == (
        "table: has no observed_at column, so when its fixes were taken is unknown; add the "
        "column, or give observed_at for every row"
    )
    assert positions_from_arrow(table, observed_at=T0).observed_at[1] == np.datetime64(
        "2024-05-20T12:00", "us"
    )


def test_no_accuracy_column_needs_one_radius(tmp_path: Path) -> None:
    """Without accuracy_m a table or file is refused (never exact fixes), unless one radius is given.

    The radius goes to every row with a fix; a table with the column refuses a second source,
    and the radius keeps the column's rule (finite, >= 0).
    """
    table = _table(accuracy_m=None)
    with pytest.raises(InvalidInput) as err:
        positions_from_arrow(table, source="t")
    assert str(err.value) == (
        "t: has no accuracy_m column, so how far each fix may lie from its device is unknown (a "
        "fix is never taken as exact unless told); add the column, or give accuracy_m for "
        "every row"
    )
    got = positions_from_arrow(table, accuracy_m=50.0)
    assert got.accuracy_m[:2].tolist() == [50.0, 50.0] and np.isnan(got.accuracy_m[2])
    path = tmp_path / "p.parquet"
    pq.write_table(table, path)
    with pytest.raises(InvalidInput, match=r"p\.parquet: has no accuracy_m column"):
        read_parquet(path)
    assert read_parquet(path, accuracy_m=0).accuracy_m[:2].tolist() == [0.0, 0.0]
    with pytest.raises(
        InvalidInput, match="t: has an accuracy_m column, so accuracy_m is not used"
    ):
        positions_from_arrow(_table(), source="t", accuracy_m=5.0)
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(InvalidInput, match="accuracy_m must be a finite number >= 0"):
            positions_from_arrow(table, accuracy_m=bad)


def test_text_ids_that_are_all_integers_written_as_floats_are_refused_as_by_the_command(
    tmp_path: Path,
) -> None:
    """Ids "7.0", "8.0" (pandas' ints turned float, then text) name no device: the command's error.

    The command refused them and positions_from_arrow took them, though docs/dask.rst says
    its errors are the command's. One "7.0" among other ids is an id like any other.
    """
    from geotarget._position_files import read

    table = _table(id=["7.0", "8.0", "9.0"])
    path = tmp_path / "ids.parquet"
    pq.write_table(table, path)
    rule = (
        r"row 1, column id: every id is an integer written as a float \(pandas writes 7 as 7\.0, "
        r"or 7,0 with decimal=',', once an id column has a missing value\), so no id names its "
        r"device; write them as "
        r"integers \(got '7\.0'\)"
    )
    with pytest.raises(InvalidPositions, match=f"^t: {rule}$"):
        positions_from_arrow(table, source="t")
    with pytest.raises(InvalidPositions, match=f"^ids.parquet: {rule}$"):
        read_parquet(path)
    with pytest.raises(InvalidPositions, match=f"^ids.parquet: {rule}$"):
        read(path)  # the command's reader, word for word
    mixed = positions_from_arrow(_table(id=["7.0", "b", "c"]))
    assert mixed.ids.tolist() == ["7.0", "b", "c"]


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    """A file that is not Parquet is an InvalidInput naming it."""
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"not parquet at all")
    with pytest.raises(InvalidInput, match=r"bad\.parquet: not a readable Parquet file"):
        read_parquet(path)


@pytest.mark.parametrize("columns", [False, True])
def test_a_footer_claiming_billions_of_rows_is_refused_before_reading(
    tmp_path: Path, columns: bool
) -> None:
    """dask.read_parquet checks the footer as the command does (it allocated 8 GB and more)."""
    from _parquet_footer import claim_rows

    path = tmp_path / "claims.parquet"
    pq.write_table(_table(), path)
    path.write_bytes(claim_rows(path.read_bytes(), 2**31, columns=columns))
    rule = "its footer says it holds 2,147,483,648 rows" if columns else "its footer contradicts"
    with pytest.raises(InvalidInput, match=f"^claims.parquet: {rule}"):
        read_parquet(path)


def test_mixed_id_types_across_partitions_are_refused(tmp_path: Path) -> None:
    """A dataset with int ids in one file and text ids in another is refused, not mixed."""
    from geotarget.dask import _concat

    a = Positions([1], [18.0], [59.0], observed_at=T0)
    b = Positions(["x"], [18.0], [59.0], observed_at=T0)
    with pytest.raises(InvalidPositions, match="all str or all int across"):
        _concat([a, b], ["a.parquet", "b.parquet"])


def _interleave(ix: int, iy: int) -> int:
    out = 0
    for bit in range(32):
        out |= ((ix >> bit) & 1) << (2 * bit)
        out |= ((iy >> bit) & 1) << (2 * bit + 1)
    return out


@given(
    st.floats(-180, 179.999),
    st.floats(-90, 89.999),
    st.sampled_from([0.001, 0.01, 0.1, 1.0, 7.5]),
)
def test_the_cell_key_is_the_morton_code_of_the_grid_cell(lon: float, lat: float, c: float) -> None:
    """cell_of interleaves the bits of the cell's column and row (a bit-by-bit oracle)."""
    ix = int(np.floor((lon + 180.0) / c))
    iy = int(np.floor((lat + 90.0) / c))
    assert int(cell_of(np.array([lon]), np.array([lat]), c)[0]) == _interleave(ix, iy)


def test_partitioned_writing_round_trips_and_records_bounds(tmp_path: Path) -> None:
    """Every device lands in its cell's file once; each footer holds the bounds of its fixes."""
    rng = np.random.default_rng(1)
    n = 500
    lon = rng.uniform(17.0, 19.0, n)
    lat = rng.uniform(59.0, 60.0, n)
    lon[:7] = np.nan
    lat[:7] = np.nan
    p = Positions(np.arange(n), lon, lat, accuracy_m=rng.uniform(0, 50, n), observed_at=T0)
    ds = write_partitioned(p, tmp_path / "ds", cell_deg=0.25)
    seen = []
    for part in ds.partitions:
        got = read_parquet(part.path)
        meta = partition_meta(part.path)
        assert meta is not None and meta.rows == len(got)
        cell = part.path.parent.name.removeprefix("cell=")
        if cell == "nofix":
            assert meta.no_fix == len(got) == 7 and meta.bounds is None
        else:
            assert set(cell_of(got.lon, got.lat, 0.25).tolist()) == {int(cell)}
            assert meta.bounds == (got.lon.min(), got.lat.min(), got.lon.max(), got.lat.max())
            assert meta.max_accuracy_m == got.accuracy_m.max()
        seen.extend(got.ids.tolist())
    assert sorted(seen) == list(range(n))
    assert len(PartitionedPositions(tmp_path / "ds")) == len(ds.partitions)


@pytest.mark.parametrize(
    ("spoil", "rule"),
    [
        ((b'"rows": 1', b'"rows": -5'), "rows must be >= 0 and no_fix within [0, rows]"),
        ((b'"max_accuracy_m": 0.0', b'"max_accuracy_m": NaN'), "max_accuracy_m must be"),
        ((b"[18.0653917, 59.3326471, ", b"[18.0653917, 89.3326471, "), "fails south <= north"),
    ],
)
def test_unusable_metadata_is_named_without_quoting_its_bounds(
    tmp_path: Path, spoil: tuple[bytes, bytes], rule: str
) -> None:
    """A file's unusable metadata is named with its rule and counts, never its bounds.

    For a file of one device the bounds are its position: the message quoted the metadata whole.
    """
    one = Positions(["phone-1"], [18.0653917], [59.3326471], observed_at=T0)
    (part,) = write_partitioned(one, tmp_path / "ds", cell_deg=0.1).partitions
    table = pq.read_table(part.path)
    meta = table.schema.metadata[b"geotarget"]
    assert spoil[0] in meta
    spoiled = meta.replace(spoil[0], spoil[1])
    pq.write_table(table.replace_schema_metadata({b"geotarget": spoiled}), part.path)
    with pytest.raises(InvalidInput) as info:
        partition_meta(part.path, "cell=x/part-0.parquet")
    message = str(info.value)
    assert message.startswith(
        "cell=x/part-0.parquet: its geotarget partition metadata is unusable: "
    ), message
    assert rule in message and "(got rows " in message and "bounds not quoted" in message
    assert "18.065" not in message and "59.332" not in message and "89.332" not in message


def test_writing_refuses_a_directory_with_files(tmp_path: Path) -> None:
    """Partitions are never mixed with another snapshot's files."""
    (tmp_path / "old.parquet").write_bytes(b"x")
    p = Positions([1], [18.0], [59.0], observed_at=T0)
    with pytest.raises(InvalidInput, match="must be a new or empty directory"):
        write_partitioned(p, tmp_path)
    with pytest.raises(InvalidInput, match=r"cell_deg must be a number > 0 and <= 90 \(got 0\)"):
        write_partitioned(p, tmp_path / "new", cell_deg=0)


def test_a_cell_size_far_below_the_devices_spacing_is_refused_before_writing(
    tmp_path: Path,
) -> None:
    """A file per device (cell_deg=1e-6 over a city) is refused, naming the count.

    Nothing is left behind; the same devices in 0.1-degree cells are written.
    """
    rng = np.random.default_rng(3)
    n = 100_001
    p = Positions(
        np.arange(n), rng.uniform(17.8, 18.3, n), rng.uniform(59.2, 59.45, n), observed_at=T0
    )
    with pytest.raises(
        InvalidInput,
        match=r"cell_deg=1e-06 would write 100,001 partitions, one per occupied cell "
        r"\(at most 100,000",
    ):
        write_partitioned(p, tmp_path / "ds", cell_deg=1e-6)
    assert list(tmp_path.iterdir()) == []
    assert len(write_partitioned(p, tmp_path / "ds", cell_deg=0.1).partitions) < 100


@pytest.mark.parametrize("cell_deg", [1e-9, 5e-8, 1e-300])
def test_a_cell_size_whose_grid_overflows_the_key_is_refused(
    tmp_path: Path, cell_deg: float
) -> None:
    """Below 1e-7 degrees a cell's column no longer fits the key's 32 bits.

    Two devices half the world apart were written to one cell (the codes wrapped, or the cast
    overflowed with a RuntimeWarning), against the documented key. Refused before writing.
    """
    p = Positions(["a", "b"], [-170.0, 170.0], [-80.0, 80.0], observed_at=T0)
    with pytest.raises(InvalidInput, match=rf"cell_deg must be at least 1e-07 .*\(got {cell_deg}"):
        write_partitioned(p, tmp_path / "ds", cell_deg=cell_deg)
    assert list(tmp_path.iterdir()) == []
    assert len(write_partitioned(p, tmp_path / "ds", cell_deg=1e-7).partitions) == 2


@pytest.mark.parametrize("id_type", [pa.null(), pa.float64()])
def test_an_empty_frame_is_an_empty_snapshot(tmp_path: Path, id_type: object) -> None:
    """A file written from an empty frame (pandas types its columns double, others null) is read.

    Zero rows hold no wrong id: zero devices (an empty partition), not "must hold text or
    integers"; a row whose id is of such a type is still refused.
    """
    empty = pa.table(
        {
            "id": pa.array([], id_type),
            "lon": pa.array([], pa.null()),
            "lat": pa.array([], pa.null()),
        }
    )
    pq.write_table(empty, tmp_path / "empty.parquet")
    assert len(read_parquet(tmp_path / "empty.parquet", observed_at=T0, accuracy_m=0.0)) == 0
    one = pa.table({"id": pa.array([None], id_type), "lon": [18.0], "lat": [59.3]})
    with pytest.raises(InvalidPositions, match="column id: must hold text or integers"):
        positions_from_arrow(one, observed_at=T0)


def test_times_without_a_zone_are_refused_without_the_commands_flag() -> None:
    """Zone-less times from an Arrow table: the error says what to store, not ``--timezone``.

    pandas writes naive ``datetime64[ns]`` by default; the command reads such files with
    ``--timezone``, which the library's readers do not have.
    """
    naive = np.array(["2024-05-20T12:00:00"], dtype="datetime64[ns]")
    for observed, rule in (
        (pa.array(naive), r"timestamps without a time zone; store them with one \(pyarrow"),
        (pa.array(["2024-05-20T12:00:00"]), r"has no UTC offset: write one \(.*\) \(got"),
    ):
        table = pa.table({"id": ["a"], "lon": [18.0], "lat": [59.3], "observed_at": observed})
        with pytest.raises(InvalidPositions, match=rule) as err:
            positions_from_arrow(table)
        assert "--timezone" not in str(err.value)


def test_a_failed_write_leaves_no_dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The disk fills up after the first partition: StoreFull, and no half dataset to list.

    The dataset is written beside ``root`` under a hidden name and renamed onto it; a root that
    is a file, or under one, is an InvalidInput naming it.
    """
    import errno

    from geotarget.errors import StoreFull

    positions = Positions(["a", "b", "c"], [11.0, 18.0, 18.0], [58.0, 59.3, 59.4], observed_at=T0)
    real = pq.write_table
    calls = iter(range(10))

    def disk_full(table: object, where: object, **kw: object) -> None:
        if next(calls):
            raise OSError(errno.ENOSPC, "No space left on device")
        real(table, where, **kw)

    monkeypatch.setattr(pq, "write_table", disk_full)
    with pytest.raises(StoreFull, match="nothing was written"):
        write_partitioned(positions, tmp_path / "ds")
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(pq, "write_table", real)
    (tmp_path / "file").write_text("x")
    for root, rule in (
        (tmp_path / "file", "which is a file"),
        (tmp_path / "file" / "ds", "under a file"),
    ):
        with pytest.raises(InvalidInput, match=rule):
            write_partitioned(positions, root)
    write_partitioned(positions, tmp_path / "ds")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds", "file"]


def test_a_symbolic_link_to_an_empty_directory_is_written_through(tmp_path: Path) -> None:
    """``root`` a link to the data's empty directory (``/data/positions -> /srv/vol1/…``).

    The dataset used to be renamed onto the link itself, which failed with a StoreError
    saying ``Not a directory``: now it is written into the directory the link names, and read
    through the link.
    """
    (tmp_path / "volume").mkdir()
    (tmp_path / "positions").symlink_to("volume")
    p = Positions(["a", "b"], [18.0, 18.5], [59.0, 59.5], accuracy_m=[1.0, 2.0], observed_at=T0)
    ds = write_partitioned(p, tmp_path / "positions", cell_deg=0.25)
    assert (tmp_path / "positions").is_symlink()
    assert sorted(q.parent.name for q in (tmp_path / "volume").glob("*/*.parquet")) == sorted(
        q.path.parent.name for q in ds.partitions
    )
    assert len(ds.partitions) == 2
    got = sorted(i for q in ds.partitions for i in read_parquet(q.path).ids.tolist())
    assert got == ["a", "b"]


def test_an_empty_mount_point_is_refused_before_writing(small_tmpfs: Any) -> None:
    """An empty file system's top directory cannot take the rename onto it: refused, saying so.

    It was a StoreError ``Device or resource busy`` after every file had been written.
    """
    place = small_tmpfs("1m")
    p = Positions(["a"], [18.0], [59.0], accuracy_m=[1.0], observed_at=T0)
    with pytest.raises(InvalidInput, match=r"not a mount point .* give a new directory under it"):
        write_partitioned(p, place)
    assert list(place.iterdir()) == []
    assert [q.name for q in place.parent.iterdir()] == [place.name]  # nothing left beside it
    write_partitioned(p, place / "positions")


@pytest.mark.parametrize("column", ["observed_at", "tester", "lon"])
@pytest.mark.parametrize(
    "values",
    [
        pa.array([0, 2**62], pa.date64()),
        pa.array([0, -(2**31)], pa.date32()),
        pa.array([0, 2**62], pa.duration("s")),
    ],
    ids=["date64", "date32", "duration"],
)
def test_a_date_python_cannot_hold_is_named_with_its_row(column: str, values: object) -> None:
    """A date or duration that Arrow holds and Python cannot is named with its row.

    Converting one raised a bare OverflowError from inside pyarrow (on a worker, a failed task
    logged there).
    """
    table = pa.table(
        {
            "id": ["a", "b"],
            "lon": [18.0, 18.1],
            "lat": [59.3, 59.4],
            "accuracy_m": [5.0, 5.0],
            "observed_at": pa.array([T0, T0], pa.timestamp("us", tz="UTC")),
            "tester": [False, True],
        }
    )
    table = table.set_column(table.column_names.index(column), column, values)
    with pytest.raises(InvalidPositions) as info:
        positions_from_arrow(table, source="f.parquet")
    message = str(info.value)
    assert message.startswith(f"f.parquet: row 2, column {column}: holds a "), message
    assert "beyond what Python's datetime module can hold" in message


def test_a_damaged_page_whose_checksum_belies_it_is_refused_here_too(tmp_path: Path) -> None:
    """Parquet pages carrying CRC checksums (parquet-mr and Spark write them) are verified.

    ``geotarget.dask.read_parquet`` (and the partitioned reader) read a page whose bytes a
    flipped bit had changed, 18.08 read as 19.08, as the command's own reader did before.
    """
    import struct

    if tuple(int(p) for p in pa.__version__.split(".")[:1]) < (15,):  # pragma: no cover
        pytest.skip("page CRCs need pyarrow 15")
    table = pa.table(
        {
            "id": ["a", "b", "c"],
            "lon": [18.07, 18.08, 18.09],
            "lat": [59.33, 59.34, 59.35],
            "accuracy_m": [5.0, 5.0, 5.0],
            "observed_at": pa.array([dt.datetime(2024, 5, 20, 12)] * 3, pa.timestamp("us", "UTC")),
        }
    )
    path = tmp_path / "p.parquet"
    pq.write_table(table, path, write_page_checksum=True, compression="none", use_dictionary=False)
    data = bytearray(path.read_bytes())
    at = data.index(struct.pack("<d", 18.08))
    data[at + 6] ^= 0x01  # one bit: 18.08 becomes 19.08
    path.write_bytes(bytes(data))
    assert pq.read_table(path).column("lon").to_pylist()[1] == 19.08  # what was read before
    with pytest.raises(InvalidInput, match=r"^p\.parquet: not a readable Parquet file: .*CRC"):
        read_parquet(path)
    pq.write_table(table, path)  # without checksums (pyarrow's default): read as before
    assert read_parquet(path).lon.tolist() == [18.07, 18.08, 18.09]
