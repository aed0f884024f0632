"""Positions from the files and frames real backends write, against the CSV of the same data.

The same devices written by pandas, pyarrow, GeoPandas (and Polars and DuckDB where installed)
as Parquet, GeoParquet, Arrow tables and CSV are read by the command's reader and by
:mod:`geotarget.dask`'s, and must name the same devices with the same fixes; the devices
told for an area are checked against pyproj's geodesic distances and shapely, not against the
matcher. Found by this probe: a float ``observed_at`` or ``tester`` column's NaN (pandas' gap
in a float column, written by ``to_csv`` as an empty cell) was refused as the text ``'nan'``;
a UUID id column (DuckDB's and PostgreSQL's ``UUID``, Arrow's ``arrow.uuid``) was refused;
a Parquet file naming a column twice was "not a readable Parquet file" to the dask reader.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import pytest
import shapely

if os.environ.get("CI") != "true":  # in CI (the dask extra installed) a missing pyarrow fails
    pytest.importorskip("pyarrow", reason="pyarrow (extras dask, geoparquet) is not installed")
import pyarrow as pa
import pyarrow.parquet as pq

from geotarget import Circle, Location, LocationRule, Polygon, PositionIndex, Positions
from geotarget import _position_files as files
from geotarget.dask import positions_from_arrow, read_parquet
from geotarget.errors import InvalidInput, InvalidPositions

AT = dt.datetime(2025, 5, 1, 13, 0, tzinfo=dt.timezone.utc)
EPOCH = 1_746_100_800  # 2025-05-01T12:00:00Z
GEOD = pyproj.Geod(ellps="WGS84")


def _cli(path: Path, **options: Any) -> Positions:
    positions, _ = files.read(path, **options)
    assert isinstance(positions, Positions)
    return positions


def _same(a: Positions, b: Positions) -> None:
    """Two snapshots hold the same devices (ids by their text) with the same fixes."""
    assert a.ids.astype(str).tolist() == b.ids.astype(str).tolist()
    for column in ("lon", "lat", "accuracy_m"):
        assert np.array_equal(getattr(a, column), getattr(b, column), equal_nan=True), column
    assert a.observed_at.view(np.int64).tolist() == b.observed_at.view(np.int64).tolist()
    assert a.tester.tolist() == b.tester.tolist()


# ---------------------------------------------------------------------------------------------
# NaN in a float observed_at or tester column: pandas' missing value, an empty cell in its CSV
# ---------------------------------------------------------------------------------------------


def test_nan_in_a_float_epoch_or_tester_column_is_missing_as_in_the_csv_pandas_writes(
    tmp_path: Path,
) -> None:
    """A float column's NaN is unknown (a time) or not a tester, as its empty CSV cell is.

    pandas makes a column of epoch seconds or of 0/1 flags float once a value is missing (a
    left join, a device that never reported); ``to_csv`` writes the NaN as an empty cell, which
    the CSV reader reads as an unknown time and as no tester. The Parquet of the same frame
    was refused (``got 'nan'``).
    """
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(
        {
            "id": ["a", "b", "c", "d"],
            "lon": [18.06, 18.07, 18.08, 18.09],
            "lat": [59.33, 59.34, 59.35, 59.36],
            "accuracy_m": [5.0, 10.0, 20.0, 40.0],
            "observed_at": [EPOCH + 0.5, np.nan, float(EPOCH), EPOCH + 60.0],
            "tester": [1.0, np.nan, 0.0, 1.0],
        }
    )
    frame.to_csv(tmp_path / "p.csv", index=False)
    frame.to_parquet(tmp_path / "p.parquet")
    as_csv = _cli(tmp_path / "p.csv")
    for read in (_cli, read_parquet):
        _same(as_csv, read(tmp_path / "p.parquet"))
    # the oracle: the frame as written
    got = read_parquet(tmp_path / "p.parquet")
    assert np.isnat(got.observed_at).tolist() == [False, True, False, False]
    assert got.observed_at[0] == np.datetime64("2025-05-01T12:00:00.500000")
    assert got.tester.tolist() == [True, False, False, True]
    # a table in memory too, a float32 column too; other texts are still refused
    table = pa.table(
        {
            "id": ["a", "b"],
            "lon": [18.0, 18.1],
            "lat": [59.0, 59.1],
            "accuracy_m": [1.0, 1.0],
            "observed_at": pa.array([np.nan, EPOCH], pa.float64()),
            "tester": pa.array([np.nan, 1.0], pa.float32()),
        }
    )
    got = positions_from_arrow(table)
    assert np.isnat(got.observed_at).tolist() == [True, False]
    assert got.tester.tolist() == [False, True]
    with pytest.raises(InvalidPositions, match=r"row 1, column observed_at: .*\(got 'inf'\)"):
        positions_from_arrow(table.set_column(4, "observed_at", pa.array([np.inf, EPOCH])))
    text_nan = table.set_column(5, "tester", pa.array(["nan", "1"]))
    with pytest.raises(InvalidPositions, match=r"row 1, column tester: .*\(got 'nan'\)"):
        positions_from_arrow(text_nan)


# ---------------------------------------------------------------------------------------------
# UUID ids
# ---------------------------------------------------------------------------------------------

IDS = [uuid.UUID(int=(k + 1) * 0x0123456789ABCDEF0FEDCBA987654321 % 2**128) for k in range(6)]


def _uuid_table(ids: list[uuid.UUID | None]) -> Any:
    if not hasattr(pa, "uuid"):  # pragma: no cover - pyarrow < 18 reads UUIDs as bytes
        pytest.skip("pyarrow < 18 has no UUID type")
    storage = pa.array([None if u is None else u.bytes for u in ids], pa.binary(16))
    n = len(ids)
    return pa.table(
        {
            "id": pa.ExtensionArray.from_storage(pa.uuid(), storage),
            "lon": np.linspace(18.0, 18.1, n),
            "lat": np.linspace(59.3, 59.4, n),
            "accuracy_m": np.full(n, 5.0),
            "observed_at": pa.array([EPOCH] * n, pa.timestamp("s", tz="UTC")),
        }
    )


def test_uuid_ids_are_read_as_the_text_a_csv_of_them_holds(tmp_path: Path) -> None:
    """A UUID id column is its canonical text, as DuckDB, PostgreSQL and Python write it in CSV.

    It was refused ("must hold text or integers (got type extension<arrow.uuid>)"), so a
    DuckDB or PostgreSQL export of devices keyed by UUID could not be read as Parquet.
    """
    table = _uuid_table(list(IDS))
    pq.write_table(table, tmp_path / "u.parquet")
    want = [str(u) for u in IDS]  # the oracle: Python's text of each UUID
    csv = ["id,lon,lat,accuracy_m,observed_at"] + [
        f"{u},{x!r},{y!r},5.0,{EPOCH}"
        for u, x, y in zip(want, table["lon"].to_pylist(), table["lat"].to_pylist(), strict=True)
    ]
    (tmp_path / "u.csv").write_text("\n".join(csv) + "\n")
    as_csv = _cli(tmp_path / "u.csv")
    assert as_csv.ids.tolist() == want
    for got in (
        _cli(tmp_path / "u.parquet"),
        read_parquet(tmp_path / "u.parquet"),
        positions_from_arrow(table),
    ):
        _same(as_csv, got)
    # a slice (an offset into the bytes) and several chunks
    sliced = positions_from_arrow(table.slice(2, 3))
    assert sliced.ids.tolist() == want[2:5]
    chunked = pa.Table.from_batches(table.to_batches(max_chunksize=2))
    assert positions_from_arrow(chunked).ids.tolist() == want
    # a null UUID is an empty id, named at its row
    with pytest.raises(
        InvalidPositions, match=r"table: row 3, column id: must not be missing \(got null"
    ):
        positions_from_arrow(_uuid_table([IDS[0], IDS[1], None]))


def test_a_duckdb_uuid_export_reads_as_its_csv_export(tmp_path: Path) -> None:
    """DuckDB writes a UUID column as Parquet's UUID type, and as text in its CSV."""
    duckdb = pytest.importorskip("duckdb")
    con = duckdb.connect()
    query = (
        "SELECT uuid AS device_id, 18.0 + i / 1000 AS longitude, 59.3 + i / 1000 AS latitude, "
        "5.0 + i AS accuracy, TIMESTAMPTZ '2025-05-01 12:00:00+00' + INTERVAL (i) SECOND AS "
        "observed_at FROM (SELECT i, ('0000000' || i || '-89ab-4def-8123-456789abcdef')::UUID "
        "AS uuid FROM range(1, 8) t(i))"
    )
    con.execute(f"COPY ({query}) TO '{tmp_path / 'd.parquet'}' (FORMAT parquet)")
    con.execute(f"COPY ({query}) TO '{tmp_path / 'd.csv'}' (HEADER, DELIMITER ',')")
    as_csv = _cli(tmp_path / "d.csv")
    assert as_csv.ids[0] == "00000001-89ab-4def-8123-456789abcdef"
    _same(as_csv, _cli(tmp_path / "d.parquet"))
    _same(as_csv, read_parquet(tmp_path / "d.parquet"))


# ---------------------------------------------------------------------------------------------
# A column named twice
# ---------------------------------------------------------------------------------------------


def test_a_parquet_file_naming_a_column_twice_is_refused_so_by_the_dask_reader(
    tmp_path: Path,
) -> None:
    """The dask reader names the repeated column, as the command does.

    pyarrow reads no column whose name a file gives twice: the file was called "not a
    readable Parquet file", quoting pyarrow's "Multiple matches for FieldRef.Name(lat)".
    """
    table = pa.Table.from_arrays(
        [
            pa.array(["a", "b"]),
            pa.array([18.0, 18.1]),
            pa.array([59.3, 59.4]),
            pa.array([59.5, 59.6]),
            pa.array([5.0, 5.0]),
            pa.array([EPOCH, EPOCH]),
        ],
        names=["id", "lon", "lat", "lat", "accuracy_m", "observed_at"],
    )
    pq.write_table(table, tmp_path / "twice.parquet")
    rule = r"^twice\.parquet: column lat appears twice \(columns 3 and 4: 'lat' and 'lat'\)"
    with pytest.raises(InvalidInput, match=rule):
        read_parquet(tmp_path / "twice.parquet")
    with pytest.raises(InvalidInput, match=rule):
        _cli(tmp_path / "twice.parquet")
    # an unknown column named twice is not read, and is no problem
    other = table.set_column(3, "speed", pa.array([1.0, 2.0])).append_column(
        "speed", pa.array([3.0, 4.0])
    )
    pq.write_table(other, tmp_path / "speed.parquet")
    assert read_parquet(tmp_path / "speed.parquet").lat.tolist() == [59.3, 59.4]


# ---------------------------------------------------------------------------------------------
# The same devices through every writer: the same fixes, and the devices told by an oracle
# ---------------------------------------------------------------------------------------------

CENTRE = (18.0686, 59.3293)  # Stockholm
RADIUS_M = 2_000.0
#: A polygon of straight lon/lat edges, with vertices on the 0.01-degree lines the devices on
#: its boundary are written at.
BLOCK = [(18.03, 59.31), (18.09, 59.31), (18.09, 59.34), (18.03, 59.34)]
N = 400


def _devices() -> dict[str, Any]:
    """Devices around Stockholm: no-fix rows, unknown and old times, testers, boundary points."""
    rng = np.random.default_rng(10)
    lon = CENTRE[0] + rng.uniform(-0.08, 0.08, N)
    lat = CENTRE[1] + rng.uniform(-0.04, 0.04, N)
    lon[:12], lat[:12] = 18.09, np.linspace(59.305, 59.345, 12)  # on and past the east edge
    lon[12:20], lat[12:20] = np.linspace(18.025, 18.095, 8), 59.31  # on and past the south edge
    lon[20:26] = lat[20:26] = np.nan  # no fix
    accuracy = np.round(rng.uniform(0.0, 300.0, N), 1)
    accuracy[20:26] = np.nan
    seconds = rng.integers(0, 7_200, N)  # fixes from 12:00 to 14:00; max_age 30 min at 13:00
    observed = (np.datetime64(EPOCH, "s") + seconds).astype("datetime64[us]")
    observed[26:30] = np.datetime64("NaT")
    return {
        "id": [f"dev-{k:04d}" for k in range(N)],
        "lon": lon,
        "lat": lat,
        "accuracy_m": accuracy,
        "observed_at": observed,
        "tester": rng.random(N) < 0.1,
    }


def _told_oracle(data: dict[str, Any]) -> tuple[dict[str, dict[str, int]], set[str]]:
    """Each device's state per area by pyproj's geodesic distances and shapely, from the data.

    A circle: INSIDE when distance + accuracy <= radius, AMBIGUOUS when the disk meets the
    circle only in part, OUTSIDE when distance - accuracy > radius; the polygon as exact points
    (shapely's covers). UNKNOWN: a fix older than 30 minutes or of unknown time whose disk
    meets the area. Rows without a fix are in no area. Devices whose distance lies within 1 m
    of a threshold of the circle are left out, and returned apart.
    """
    lon, lat, acc = data["lon"], data["lat"], data["accuracy_m"]
    fix = ~np.isnan(lon)
    cutoff = np.datetime64(AT.replace(tzinfo=None) - dt.timedelta(minutes=30), "us")
    current = ~np.isnat(data["observed_at"]) & (data["observed_at"] >= cutoff)
    _, _, dist = GEOD.inv(np.full(N, CENTRE[0]), np.full(N, CENTRE[1]), lon, lat)
    circle: dict[str, int] = {}
    polygon: dict[str, int] = {}
    near: set[str] = set()
    block = shapely.Polygon(BLOCK)
    inside_block = shapely.covers(block, shapely.points(lon, lat))
    for k in range(N):
        if not fix[k]:
            continue
        name = data["id"][k]
        d, r = float(dist[k]), float(acc[k])
        if min(abs(d + r - RADIUS_M), abs(d - r - RADIUS_M)) <= 1.0:
            near.add(name)
        elif d - r <= RADIUS_M:
            state = Location.INSIDE if d + r <= RADIUS_M else Location.AMBIGUOUS
            circle[name] = int(state if current[k] else Location.UNKNOWN)
        if inside_block[k]:
            polygon[name] = int(Location.INSIDE if current[k] else Location.UNKNOWN)
    return {"circle": circle, "polygon": polygon}, near


def _told(positions: Positions) -> dict[str, dict[str, int]]:
    index = PositionIndex(positions)
    rule = LocationRule(max_age=dt.timedelta(minutes=30))
    out = {}
    for name, area, accuracy in (
        ("circle", Circle(*CENTRE, RADIUS_M), 1.0),
        ("polygon", Polygon(BLOCK), 0.0),
    ):
        rows, states = index.classify(area, LocationRule(rule.max_age, accuracy), AT)
        out[name] = {str(positions.ids[r]): int(s) for r, s in zip(rows, states, strict=True)}
    return out


def _writers(tmp_path: Path, data: dict[str, Any]) -> dict[str, Any]:
    """Each real writer's file (or table) of ``data``, as a reader of it (None: skipped)."""
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(data)
    frame["observed_at"] = frame["observed_at"].dt.tz_localize("UTC")
    readers: dict[str, Any] = {}

    def both(name: str, path: Path) -> None:
        readers[f"{name} (command)"] = lambda: _cli(path)
        readers[f"{name} (dask)"] = lambda: read_parquet(path)

    frame.to_csv(tmp_path / "pandas.csv", index=False)
    readers["pandas CSV"] = lambda: _cli(tmp_path / "pandas.csv")
    semicolons = frame.copy()
    semicolons["observed_at"] = semicolons["observed_at"].dt.tz_convert("Europe/Stockholm")
    semicolons.to_csv(tmp_path / "excel.csv", index=False, sep=";", decimal=",")
    readers["pandas CSV, Swedish"] = lambda: _cli(tmp_path / "excel.csv")
    for unit, zone in (("ns", "UTC"), ("ms", "Europe/Stockholm"), ("s", "+05:30")):
        other = frame.copy()
        times = other["observed_at"].dt.tz_convert(zone)
        other["observed_at"] = times.astype(f"datetime64[{unit}, {times.dt.tz}]")
        other.to_parquet(tmp_path / f"pandas-{unit}.parquet", row_group_size=64)
        both(f"pandas Parquet, {unit} in {zone}", tmp_path / f"pandas-{unit}.parquet")
    # pandas' own dtypes: categorical and Arrow text ids, nullable floats, an epoch column
    typed = frame.copy()
    typed["id"] = typed["id"].astype("category")
    for column in ("lon", "lat", "accuracy_m"):
        typed[column] = typed[column].astype("Float64")  # NaN becomes NA: a null
    typed["Horizontal_Accuracy"] = typed.pop("accuracy_m")
    typed["observed_at"] = (typed["observed_at"] - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
    typed["tester"] = typed["tester"].astype(float)
    typed["speed_kmh"] = 50.0
    typed.to_parquet(tmp_path / "typed.parquet")
    both("pandas Parquet, typed", tmp_path / "typed.parquet")
    arrow_text = frame.copy()
    arrow_text["id"] = arrow_text["id"].astype(pd.ArrowDtype(pa.large_string()))
    arrow_text = arrow_text.rename(columns={"lon": "Longitude", "lat": "LATITUDE"})
    arrow_text.to_parquet(tmp_path / "arrow-text.parquet")
    both("pandas Parquet, Arrow text", tmp_path / "arrow-text.parquet")
    # pyarrow: many chunks, dictionary ids, the index kept as a column
    table = pa.Table.from_pandas(frame.set_index("id"))
    chunked = pa.Table.from_batches(table.to_batches(max_chunksize=37))
    readers["Arrow, 37-row chunks"] = lambda: positions_from_arrow(chunked)
    encoded = chunked.set_column(
        chunked.schema.get_field_index("id"), "id", chunked.column("id").dictionary_encode()
    )
    readers["Arrow, dictionary ids"] = lambda: positions_from_arrow(encoded)
    pq.write_table(encoded, tmp_path / "dictionary.parquet", row_group_size=100)
    both("pyarrow Parquet, dictionary ids", tmp_path / "dictionary.parquet")
    return readers


def test_every_writer_names_the_same_devices_and_the_oracles_are_told(tmp_path: Path) -> None:
    """pandas, pyarrow (and GeoPandas, Polars, DuckDB where installed) give the same devices.

    Each file or table of the same devices gives the snapshot the CSV gives, and the devices
    told for a circle (with accuracy disks) and a polygon (points on its edges) are those of
    pyproj and shapely, computed from the data as written.
    """
    data = _devices()
    readers = _writers(tmp_path, data)
    _optional_writers(tmp_path, data, readers)
    want, near = _told_oracle(data)
    for name, states in want.items():  # the test tests something
        assert {int(Location.INSIDE), int(Location.UNKNOWN)} <= set(states.values()), name
    assert len(readers) >= 10
    baseline = readers.pop("pandas CSV")()
    told = _told(baseline)
    assert {k: v for k, v in told["circle"].items() if k not in near} == want["circle"]
    assert told["polygon"] == want["polygon"]
    for writer, read in readers.items():
        positions = read()
        try:
            _same(baseline, positions)
        except AssertionError as err:
            raise AssertionError(f"{writer}: {err}") from None
        assert _told(positions) == told, writer


def _optional_writers(tmp_path: Path, data: dict[str, Any], readers: dict[str, Any]) -> None:
    """GeoPandas' GeoParquet, Polars' and DuckDB's files, for those installed."""
    import importlib.util

    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(data)
    frame["observed_at"] = frame["observed_at"].dt.tz_localize("UTC")
    if importlib.util.find_spec("geopandas") is not None:
        import geopandas as gpd

        points = gpd.points_from_xy(frame["lon"], frame["lat"])
        geo = gpd.GeoDataFrame(frame, geometry=points, crs="EPSG:4326").to_crs("EPSG:3006")
        geo_path = tmp_path / "geo.parquet"
        geo.to_parquet(geo_path, write_covering_bbox=True)  # points in SWEREF 99 TM, a bbox
        readers["GeoPandas GeoParquet (command)"] = lambda: _cli(geo_path)
        readers["GeoPandas GeoParquet (dask)"] = lambda: read_parquet(geo_path)
    if importlib.util.find_spec("polars") is not None:
        import polars as pl

        wide = pl.from_pandas(frame).with_columns(
            pl.col("id").cast(pl.Categorical),
            pl.col("observed_at").dt.convert_time_zone("Europe/Stockholm").dt.cast_time_unit("ms"),
        )
        wide.write_parquet(tmp_path / "polars.parquet", row_group_size=50)
        wide.write_csv(tmp_path / "polars.csv")
        readers["Polars Parquet (command)"] = lambda: _cli(tmp_path / "polars.parquet")
        readers["Polars Parquet (dask)"] = lambda: read_parquet(tmp_path / "polars.parquet")
        readers["Polars CSV"] = lambda: _cli(tmp_path / "polars.csv")
        readers["Polars Arrow"] = lambda: positions_from_arrow(wide.to_arrow())
    if importlib.util.find_spec("duckdb") is not None:
        import duckdb

        con = duckdb.connect()
        con.register("frame", frame)
        for suffix, options in (("parquet", "FORMAT parquet"), ("csv", "HEADER")):
            path = tmp_path / f"duckdb.{suffix}"
            con.execute(f"COPY (SELECT * FROM frame) TO '{path}' ({options})")
            readers[f"DuckDB {suffix}"] = lambda path=path: _cli(path)


# ---------------------------------------------------------------------------------------------
# Tables handed over as batches or Arrow streams
# ---------------------------------------------------------------------------------------------


def test_batches_readers_and_arrow_streams_are_read_as_their_table() -> None:
    """What backends hand over for a table: batches, a reader (DuckDB's ``.arrow()``), a frame.

    DuckDB's ``relation.arrow()`` returns a ``RecordBatchReader``, and Polars' and pandas'
    DataFrames and DuckDB's relations export an Arrow stream (``__arrow_c_stream__``): each was
    refused ("must be a pyarrow.Table").
    """
    data = _devices()
    table = pa.table(
        {**data, "observed_at": pa.array(data["observed_at"], pa.timestamp("us", tz="UTC"))}
    )
    want = positions_from_arrow(table)
    batches = table.to_batches(max_chunksize=64)
    assert len(batches) > 1
    _same(want, positions_from_arrow(pa.RecordBatchReader.from_batches(table.schema, batches)))
    one = pa.Table.from_batches(batches[:1])
    _same(positions_from_arrow(one), positions_from_arrow(batches[0]))

    class Stream:  # the Arrow PyCapsule stream interface alone, as any frame library has it
        def __arrow_c_stream__(self, requested_schema: object = None) -> object:
            return table.__arrow_c_stream__(requested_schema)

    if hasattr(pa.RecordBatchReader, "from_stream"):  # pyarrow 15
        _same(want, positions_from_arrow(Stream()))
    with pytest.raises(InvalidInput, match=r"^table: must be a pyarrow\.Table, RecordBatch or"):
        positions_from_arrow(table.to_pydict())


def test_frames_of_polars_pandas_and_duckdb_are_read_through_their_arrow_stream() -> None:
    """A Polars or pandas DataFrame, a DuckDB relation and its reader give the same devices."""
    pd = pytest.importorskip("pandas")
    data = _devices()
    frame = pd.DataFrame(data)
    frame["observed_at"] = frame["observed_at"].dt.tz_localize("UTC")
    want = positions_from_arrow(pa.Table.from_pandas(frame))
    if hasattr(frame, "__arrow_c_stream__"):  # pandas 2.2
        _same(want, positions_from_arrow(frame))
        mixed = frame.astype({"lat": object})
        mixed.loc[3, "lat"] = "59.3326"  # a text among numbers: not quoted
        with pytest.raises(InvalidInput, match=r"column 'lat'\): Arrow") as err:
            positions_from_arrow(mixed)
        assert "59.33" not in str(err.value)
    try:
        import polars as pl
    except ImportError:
        pass
    else:
        _same(want, positions_from_arrow(pl.from_pandas(frame)))
    try:
        import duckdb
    except ImportError:
        pass
    else:
        con = duckdb.connect()
        con.register("frame", frame)
        _same(want, positions_from_arrow(con.sql("SELECT * FROM frame")))
        _same(want, positions_from_arrow(con.sql("SELECT * FROM frame").arrow()))


# ---------------------------------------------------------------------------------------------
# Polars columns given to Positions
# ---------------------------------------------------------------------------------------------


def test_a_polars_column_of_zoned_datetimes_is_read_as_its_instants() -> None:
    """A Polars ``Datetime`` column with a zone is its UTC instants; one without is refused.

    Polars' ids, coordinates and accuracies were read, but its ``observed_at`` was refused
    ("must be one timezone-aware datetime, ... pandas Series"), though it holds instants.
    """
    pl = pytest.importorskip("polars")
    data = _devices()
    times = pl.Series("observed_at", data["observed_at"]).dt.replace_time_zone("UTC")
    for zone, unit in (("UTC", "us"), ("Europe/Stockholm", "ms"), ("America/New_York", "ns")):
        column = times.dt.convert_time_zone(zone).dt.cast_time_unit(unit)
        got = Positions(
            pl.Series(data["id"]),
            pl.Series(data["lon"]),
            pl.Series(data["lat"]),
            accuracy_m=pl.Series(data["accuracy_m"]),
            observed_at=column,
            tester=pl.Series(data["tester"]),
        )
        # the oracle: the times as written, NaT where unknown
        assert (
            got.observed_at.view(np.int64).tolist() == data["observed_at"].view(np.int64).tolist()
        )
        assert got.ids.tolist() == data["id"]
    with pytest.raises(InvalidPositions, match=r"timezone-aware .*replace_time_zone\('UTC'\)"):
        Positions(["a"], [18.0], [59.0], observed_at=pl.Series([dt.datetime(2025, 5, 1, 12)]))


def test_any_column_whose_dtype_has_a_time_zone_is_read_by_its_to_numpy() -> None:
    """The reading needs no Polars: a dtype with ``time_unit`` and ``time_zone``, ``to_numpy``."""

    class Dtype:
        def __init__(self, zone: str | None) -> None:
            self.time_unit, self.time_zone = "ms", zone

    class Column:
        def __init__(self, zone: str | None) -> None:
            self.dtype = Dtype(zone)

        def to_numpy(self) -> Any:
            return np.array(["2025-05-01T12:00:00.250", "NaT"], dtype="datetime64[ms]")

    got = Positions(["a", "b"], [18.0, 18.1], [59.0, 59.1], observed_at=Column("UTC"))
    assert got.observed_at.astype(str).tolist() == ["2025-05-01T12:00:00.250000", "NaT"]
    with pytest.raises(InvalidPositions, match="without a time zone"):
        Positions(["a", "b"], [18.0, 18.1], [59.0, 59.1], observed_at=Column(None))


# ---------------------------------------------------------------------------------------------
# Run-end-encoded Arrow columns
# ---------------------------------------------------------------------------------------------


def test_run_end_encoded_columns_are_their_values() -> None:
    """A run-end-encoded column (Arrow's other encoding, beside dictionaries) is its values.

    It was refused as "a list, record or binary value" ("one value a row"), though it holds
    one value a row: a snapshot's one time, or its testers, in runs.
    """
    if not hasattr(pa, "RunEndEncodedArray"):  # pragma: no cover - pyarrow 13
        pytest.skip("pyarrow without run-end encoding")
    data = _devices()
    plain = pa.table(
        {**data, "observed_at": pa.array(data["observed_at"], pa.timestamp("us", tz="UTC"))}
    )
    want = positions_from_arrow(plain)
    ree = plain
    for column in ("id", "accuracy_m", "observed_at", "tester"):
        values = plain.column(column).combine_chunks()
        runs = pa.array(np.arange(1, N + 1, dtype=np.int32))
        if column == "id":  # runs of dictionary values, sliced out of a longer array
            ahead = pa.concat_arrays([pa.array(["x", "y"]), values]).dictionary_encode()
            longer = pa.RunEndEncodedArray.from_arrays(np.arange(1, N + 3, dtype=np.int32), ahead)
            encoded = longer.slice(2, N)
        else:
            encoded = pa.RunEndEncodedArray.from_arrays(runs, values)
        ree = ree.set_column(ree.schema.get_field_index(column), column, encoded)
    _same(want, positions_from_arrow(ree))
    # one time for a whole snapshot, as one run
    at = pa.array([EPOCH], pa.timestamp("s", tz="UTC"))
    one = plain.set_column(
        plain.schema.get_field_index("observed_at"),
        "observed_at",
        pa.RunEndEncodedArray.from_arrays(pa.array([N], pa.int32()), at),
    )
    assert set(positions_from_arrow(one).observed_at.astype(str)) == {"2025-05-01T12:00:00.000000"}
    # runs Arrow cannot decode are refused by type, not by pyarrow's "no kernel matching"
    if hasattr(pa, "uuid"):
        ids = _uuid_table(list(IDS)).column("id").combine_chunks()
        runs = pa.RunEndEncodedArray.from_arrays(pa.array([1, 2, 3, 4, 5, 6], pa.int32()), ids)
        table = _uuid_table(list(IDS)).set_column(0, "id", runs)
        with pytest.raises(InvalidPositions, match=r"^table, column id: must hold text or int"):
            positions_from_arrow(table)
        # in two chunks, which Arrow cannot join: refused by type too, not by "MakeBuilder"
        halves = table.set_column(0, "id", pa.chunked_array([runs.slice(0, 3), runs.slice(3)]))
        with pytest.raises(InvalidPositions, match=r"^table, column id: holds chunks of type"):
            positions_from_arrow(halves)


# ---------------------------------------------------------------------------------------------
# Integer columns beyond a double's exact integers
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("column", ["lon", "lat", "accuracy_m"])
@pytest.mark.parametrize("arrow_type", [pa.int64(), pa.uint64()])
def test_an_integer_sentinel_beyond_2_to_53_is_refused_naming_its_row(
    tmp_path: Path, column: str, arrow_type: Any
) -> None:
    """Java's ``Long.MAX_VALUE`` for an unknown accuracy is refused by the range rules.

    An integer column holding a value beyond 2**53 (a double's exact integers) made pyarrow's
    cast raise ``ArrowInvalid`` ("Integer value ... not in range") out of the reader.
    """
    sentinel = 2**63 - 1
    table = pa.table(
        {
            "id": ["a", "b", "c"],
            "lon": pa.array([18, 18, 18], arrow_type),
            "lat": pa.array([59, 59, 59], arrow_type),
            "accuracy_m": pa.array([5, 5, 5], arrow_type),
            "observed_at": pa.array([EPOCH] * 3, pa.timestamp("s", tz="UTC")),
        }
    )
    table = table.set_column(
        table.schema.get_field_index(column), column, pa.array([5, 7, sentinel], arrow_type)
    )
    pq.write_table(table, tmp_path / "s.parquet")
    rule = rf"row 3, column {column}: must (lie within|be at most)"
    with pytest.raises(InvalidPositions, match=rule):
        positions_from_arrow(table)
    with pytest.raises(InvalidPositions, match=rule):
        read_parquet(tmp_path / "s.parquet")
    with pytest.raises(InvalidPositions, match=rule):
        _cli(tmp_path / "s.parquet")


# ---------------------------------------------------------------------------------------------
# Whole-number decimal ids: a database's NUMERIC(p, 0), Snowflake's NUMBER(38, 0)
# ---------------------------------------------------------------------------------------------


def test_decimal_ids_of_scale_0_are_the_integers_their_csv_holds(tmp_path: Path) -> None:
    """Ids a database keeps as NUMERIC(20, 0) (Snowflake: NUMBER(38, 0)) are integers.

    pandas reads such a column as ``Decimal`` objects and pyarrow writes it as a decimal, and
    Snowflake unloads it so: it was refused ("must hold text or integers (got type
    decimal128(38, 0)); floats hold integers exactly only up to 2**53").
    """
    import decimal

    ids = [46701234567, 123456789012345678, 7, 2**63 - 1]
    table = pa.table(
        {
            "id": pa.array([decimal.Decimal(v) for v in ids], pa.decimal128(38, 0)),
            "lon": [18.0, 18.1, 18.2, 18.3],
            "lat": [59.0, 59.1, 59.2, 59.3],
            "accuracy_m": [5.0, 5.0, 5.0, 5.0],
            "observed_at": pa.array([EPOCH] * 4, pa.timestamp("s", tz="UTC")),
        }
    )
    pq.write_table(table, tmp_path / "n.parquet")
    rows = [f"{v},{18 + k / 10},{59 + k / 10},5.0,{EPOCH}" for k, v in enumerate(ids)]
    (tmp_path / "n.csv").write_text("id,lon,lat,accuracy_m,observed_at\n" + "\n".join(rows))
    as_csv = _cli(tmp_path / "n.csv")
    assert as_csv.ids.tolist() == [str(v) for v in ids]  # the oracle: the integers' text
    for got in (
        positions_from_arrow(table),
        read_parquet(tmp_path / "n.parquet"),
        _cli(tmp_path / "n.parquet"),
    ):
        assert got.ids.tolist() == ids  # integers, as an integer column's ids are
        _same(as_csv, got)
    # beyond a signed 64-bit integer, empty, or with a fractional part: refused so
    big = table.set_column(0, "id", pa.array([decimal.Decimal(2**63)] * 4, pa.decimal128(38, 0)))
    with pytest.raises(InvalidPositions, match=r"row 1, column id: integer ids must lie within"):
        positions_from_arrow(big)
    gap = table.set_column(0, "id", pa.array([1, 2, None, 4], pa.decimal128(20, 0)))
    with pytest.raises(InvalidPositions, match=r"row 3, column id: must not be missing \(got null"):
        positions_from_arrow(gap)
    hundredths = [decimal.Decimal(f"{k}.00") for k in range(4)]
    cents = table.set_column(0, "id", pa.array(hundredths, pa.decimal128(9, 2)))
    with pytest.raises(InvalidPositions, match=r"a decimal of scale 2 has a fractional part"):
        positions_from_arrow(cents)


# ---------------------------------------------------------------------------------------------
# GeoParquet without lon/lat: the geometry column its metadata names, and its CRS
# ---------------------------------------------------------------------------------------------


def _geoparquet(path: Path, column: str, crs: int | None) -> None:
    """A GeoParquet 1.1 file of WKB points, as GeoPandas and GDAL write one, without lon/lat."""
    import json

    points = shapely.to_wkb(shapely.points([674_032.0, 674_100.0], [6_580_822.0, 6_580_900.0]))
    spec: dict[str, Any] = {"encoding": "WKB", "geometry_types": ["Point"]}
    if crs is not None:
        spec["crs"] = {"id": {"authority": "EPSG", "code": crs}}
    geo = {"version": "1.1.0", "primary_column": column, "columns": {column: spec}}
    table = pa.table(
        {
            "id": ["a", "b"],
            "accuracy_m": [5.0, 5.0],
            "observed_at": pa.array([EPOCH] * 2, pa.timestamp("s", tz="UTC")),
            column: pa.array(points.tolist(), pa.binary()),
        }
    ).replace_schema_metadata({b"geo": json.dumps(geo).encode()})
    pq.write_table(table, path)


@pytest.mark.parametrize("column", ["geometry", "location", "position_wkb"])
@pytest.mark.parametrize("crs", [None, 3006])
def test_a_geoparquet_file_without_lon_lat_names_its_geometry_column_and_crs(
    tmp_path: Path, column: str, crs: int | None
) -> None:
    """The hint names the geometry column the file's GeoParquet metadata names, and its CRS.

    A geometry column named otherwise than geometry, geom or wkb_geometry (DuckDB's and QGIS'
    exports name it as the table's column) got no hint; points in SWEREF 99 TM got the
    advice to take .x and .y without converting them to degrees first.
    """
    path = tmp_path / "points.parquet"
    _geoparquet(path, column, crs)
    where = f"'{column}', in EPSG:{crs}, here" if crs else f"'{column}' here"
    convert = ", after gdf.to_crs(4326)" if crs == 3006 else "in EPSG:4326)"
    for read in (_cli, read_parquet):
        with pytest.raises(InvalidInput, match=r"lacks column\(s\) lon, lat") as err:
            read(path)
        message = str(err.value)
        assert f"a GeoParquet geometry column is not read: {where}; write" in message
        assert convert in message
        assert "674" not in message and "6580" not in message  # no coordinate quoted
    table = pq.read_table(path)
    with pytest.raises(InvalidInput, match=rf"not read: '{column}'"):
        positions_from_arrow(table)


# ---------------------------------------------------------------------------------------------
# One observed_at for a whole table: the rule of the command's --observed-at
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        (dt.datetime(1960, 1, 1, tzinfo=dt.timezone.utc), "lies outside the years 1970 to 9998"),
        (dt.datetime(2025, 5, 1, 12), "must be timezone-aware"),
        ("2025-05-01T12:00Z", "must be one timezone-aware datetime for every row"),
    ],
)
def test_one_time_for_a_table_follows_the_rule_of_its_column_and_the_commands_option(
    tmp_path: Path, value: Any, rule: str
) -> None:
    """``observed_at=`` is held to the years a table's observed_at column may name.

    A 1960 instant was refused in the column ("lies outside the years 1970 to 9998") and by
    the command's ``--observed-at``, but taken for every row as the argument; a naive one
    was refused with "(rows counted from 0)", as if a row were at fault.
    """
    table = pa.table({"id": ["a"], "lon": [18.0], "lat": [59.0], "accuracy_m": [5.0]})
    pq.write_table(table, tmp_path / "t.parquet")
    with pytest.raises(InvalidInput, match=rf"^observed_at {rule}"):
        positions_from_arrow(table, observed_at=value)
    with pytest.raises(InvalidInput, match=rf"^observed_at {rule}"):
        read_parquet(tmp_path / "t.parquet", observed_at=value)
    column = table.append_column(
        "observed_at", pa.array([dt.datetime(1960, 1, 1)], pa.timestamp("us", tz="UTC"))
    )
    with pytest.raises(InvalidPositions, match="lies outside the years 1970 to 9998"):
        positions_from_arrow(column)
    at = dt.datetime(2025, 5, 1, 14, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    got = positions_from_arrow(table, observed_at=at)
    assert got.observed_at.tolist() == [dt.datetime(2025, 5, 1, 12)]


@pytest.mark.parametrize("column", ["id", "observed_at"])
def test_a_string_cell_that_is_no_utf_8_is_refused_naming_its_row(
    tmp_path: Path, column: str
) -> None:
    """Parquet's string type holding Latin-1 bytes: a refusal naming the cell, not a crash.

    A writer handed bytes stores them under the string type unchecked; pyarrow's conversion
    raised UnicodeDecodeError out of the command ("internal error", exit 3), of
    ``read_parquet`` and of ``positions_from_arrow``.
    """
    good = {"id": "ok", "observed_at": "2026-03-01T12:00Z"}[column]
    bad = {"id": b"J\xe4mtland-1", "observed_at": b"2026-03-01T12:00Z\xe4"}[column]
    cells = pa.array([good.encode(), bad], type=pa.binary()).view(pa.string())
    other = {"id": ["a", "b"], "observed_at": ["2026-03-01T12:00Z"] * 2}
    table = pa.table(
        {
            "id": cells if column == "id" else other["id"],
            "lon": [18.0, 18.1],
            "lat": [59.3, 59.3],
            "observed_at": cells if column == "observed_at" else other["observed_at"],
        }
    )
    path = tmp_path / "latin1.parquet"
    pq.write_table(table, path)
    readers: list[Callable[[], object]] = [
        lambda: _cli(path),
        lambda: read_parquet(path),
        lambda: positions_from_arrow(table),
    ]
    for read in readers:
        with pytest.raises(InvalidPositions, match=rf"row 2, column {column}: must be UTF-8 text"):
            read()
