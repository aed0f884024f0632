"""Position files and frames, fourteenth probe: columns as operators' tools hand them over.

Oracles are plain Python, pandas' own alignment and pyarrow read directly, never the readers.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geotarget import Positions
from geotarget.errors import InvalidPositions, InvalidType

AT = dt.datetime(2024, 5, 20, 12, tzinfo=dt.timezone.utc)


# ---------------------------------------------------------------------------------------------
# pandas Series pair by index label; Positions pairs by position
# ---------------------------------------------------------------------------------------------


def _frame() -> object:
    pd = pytest.importorskip("pandas")
    return pd.DataFrame(
        {
            "id": ["kiruna", "malmo", "visby"],
            "lon": [20.2253, 13.0038, 18.2948],
            "lat": [67.8558, 55.6050, 57.6348],
            "accuracy_m": [10.0, 20.0, 30.0],
            "observed_at": [AT, AT - dt.timedelta(minutes=5), AT],
        }
    )


@pytest.mark.parametrize("column", ["lon", "lat", "accuracy_m", "observed_at"])
def test_series_of_one_frame_in_another_row_order_are_refused_not_paired_by_position(
    column: str,
) -> None:
    """``df.id`` beside ``df.sort_values("lon").lon`` would give Kiruna Malmö's coordinates."""
    df = _frame()
    by_lon = df.sort_values("lon")  # type: ignore[attr-defined]
    # The oracle: pandas pairs Series by label; by position Kiruna's row would be another's.
    assert list(by_lon[column]) != list(df[column])  # type: ignore[index]
    columns = {c: df[c] for c in ("lon", "lat", "accuracy_m", "observed_at")}  # type: ignore[index]
    columns[column] = by_lon[column]
    with pytest.raises(InvalidPositions, match=rf"{column} must have the index of ids") as err:
        Positions(
            df["id"],  # type: ignore[index]
            columns["lon"],
            columns["lat"],
            accuracy_m=columns["accuracy_m"],
            observed_at=columns["observed_at"],
        )
    text = str(err.value)
    assert "first at row 0" in text and "67.8" not in text and "20.2" not in text


def test_series_of_one_reordered_frame_and_plain_arrays_still_read() -> None:
    """Columns of one sorted frame, or numpy arrays beside one Series, pair as pandas pairs them."""
    pd = pytest.importorskip("pandas")
    df = _frame().sort_values("lat")  # type: ignore[attr-defined]
    p = Positions(
        df.set_index("id").index,  # an Index is positional: no labels of its own
        df["lon"],
        df["lat"].to_numpy(),
        accuracy_m=df["accuracy_m"],
        observed_at=df["observed_at"],
    )
    # The oracle: pandas' own alignment of the same frame, read row by row.
    expected = pd.DataFrame({"lon": df["lon"], "lat": df["lat"]}).set_index(df["id"])
    for i, device in enumerate(p.ids.tolist()):
        assert p.lon[i] == expected.loc[device, "lon"]
        assert p.lat[i] == expected.loc[device, "lat"]
    assert np.array_equal(p.accuracy_m, df["accuracy_m"].to_numpy())


# ---------------------------------------------------------------------------------------------
# A frame's object column of times: Arrow types it by its first value
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("first_aware", [True, False])
def test_a_naive_time_among_aware_ones_in_a_frame_is_refused_not_read_as_utc(
    first_aware: bool,
) -> None:
    """Times gathered from two sources (one zoned, one not) in an object column of a frame."""
    pd = pytest.importorskip("pandas")
    pa = pytest.importorskip("pyarrow")
    from geotarget.dask import positions_from_arrow

    zoned = pd.Timestamp("2024-05-20 14:00", tz="Europe/Stockholm")
    naive = dt.datetime(2024, 5, 20, 14, 0)  # Stockholm's wall clock, 12:00 UTC
    times = [zoned, naive] if first_aware else [naive, zoned]
    df = pd.DataFrame(
        {
            "id": ["a", "b"],
            "lon": [18.07, 18.08],
            "lat": [59.33, 59.34],
            "accuracy_m": [10.0, 10.0],
            "Observed_At": times,
        }
    )
    assert df["Observed_At"].dtype == object
    if first_aware:  # the hazard: Arrow reads the naive 14:00 as 14:00 UTC, two hours off
        read = pa.array(df["Observed_At"]).to_pylist()
        assert read[1] == dt.datetime(2024, 5, 20, 14, tzinfo=dt.timezone.utc)
    row = 2 if first_aware else 1
    with pytest.raises(
        InvalidPositions, match=rf"table: row {row}, column observed_at: must be a timezone-aware"
    ):
        positions_from_arrow(df)


def test_aware_times_of_several_zones_and_missing_ones_in_an_object_column_still_read() -> None:
    """Aware times in two zones, ``None`` and ``NaT`` are the instants and unknowns they say."""
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    from geotarget.dask import positions_from_arrow

    times = [
        pd.Timestamp("2024-05-20 14:00", tz="Europe/Stockholm"),
        dt.datetime(2024, 5, 20, 11, 30, tzinfo=dt.timezone.utc),
        None,
        pd.NaT,
    ]
    df = pd.DataFrame(
        {
            "id": ["a", "b", "c", "d"],
            "lon": [18.07, 18.08, 18.09, 18.1],
            "lat": [59.33, 59.34, 59.35, 59.36],
            "accuracy_m": [10.0] * 4,
            "observed_at": times,
        }
    )
    p = positions_from_arrow(df)
    expected = ["2024-05-20T12:00:00", "2024-05-20T11:30:00", "NaT", "NaT"]
    assert p.observed_at.astype("datetime64[s]").astype(str).tolist() == expected


# ---------------------------------------------------------------------------------------------
# Arrow extension types: their stored values are their own encoding
# ---------------------------------------------------------------------------------------------


def _period_frame() -> object:
    pd = pytest.importorskip("pandas")
    return pd.DataFrame(
        {
            "id": ["a", "b"],
            "lon": [18.07, 18.08],
            "lat": [59.33, 59.34],
            "accuracy_m": [10.0, 10.0],
            # Stockholm's wall clock, in periods of a second: what .dt.to_period("s") gives
            "observed_at": pd.period_range("2024-05-20 14:00:00", periods=2, freq="s"),
        }
    )


def test_a_frames_period_column_is_refused_not_read_as_utc_epoch_seconds() -> None:
    """A pandas ``Period[s]`` is stored as seconds of wall-clock time: read so, 2 h off."""
    pa = pytest.importorskip("pyarrow")
    from geotarget.dask import positions_from_arrow

    df = _period_frame()
    # The hazard: the storage is the wall time's count of seconds, which is 14:00 *UTC*.
    storage = pa.table(df).column("observed_at").combine_chunks().storage.to_pylist()
    assert storage[0] == dt.datetime(2024, 5, 20, 14, tzinfo=dt.timezone.utc).timestamp()
    with pytest.raises(
        InvalidPositions,
        match=r"table, column observed_at: is of the Arrow extension type 'pandas.period'.*"
        r"tz_localize",
    ):
        positions_from_arrow(df)


def test_a_parquet_column_of_an_unregistered_extension_type_is_refused_by_its_name(
    tmp_path: Path,
) -> None:
    """A type only the field's metadata names (its library not imported) is no plain column."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    from geotarget._position_files import read

    # What a writer's own extension (here wall-clock milliseconds) leaves for a reader
    # without it: an int64 column whose field metadata names the type.
    wall_ms = pa.field(
        "observed_at",
        pa.int64(),
        metadata={b"ARROW:extension:name": b"example.wallclock_ms"},
    )
    table = pa.table(
        {
            "id": ["a", "b"],
            "lon": [18.07, 18.08],
            "lat": [59.33, 59.34],
            "accuracy_m": [10.0, 10.0],
            "observed_at": pa.array([1_716_213_600, 1_716_213_601], pa.int64()),
        }
    )
    table = table.cast(table.schema.set(4, wall_ms))
    path = tmp_path / "wall.parquet"
    pq.write_table(table, path)
    field = pq.read_schema(path).field("observed_at")
    assert field.type == pa.int64()
    assert field.metadata[b"ARROW:extension:name"] == b"example.wallclock_ms"
    with pytest.raises(
        InvalidPositions,
        match=r"wall.parquet, column observed_at: is of the Arrow extension type "
        r"'example.wallclock_ms' \(stored as int64\)",
    ):
        read(path)


def test_a_period_column_pandas_wrote_to_parquet_is_refused(tmp_path: Path) -> None:
    """``df.to_parquet`` of a frame with a Period column, read by the library's Parquet reader."""
    pytest.importorskip("pyarrow")
    from geotarget.dask import read_parquet

    path = tmp_path / "periods.parquet"
    _period_frame().to_parquet(path)  # type: ignore[attr-defined]
    with pytest.raises(InvalidPositions, match=r"extension type 'pandas.period'"):
        read_parquet(path)


def test_uuid_ids_and_bool8_testers_are_still_read_as_their_values() -> None:
    """The extension types whose values are what their columns hold keep being read."""
    pa = pytest.importorskip("pyarrow")
    from geotarget.dask import positions_from_arrow

    raw = [bytes(range(16)), bytes(range(16, 32))]
    table = pa.table(
        {
            "id": pa.array(raw, pa.uuid()),
            "lon": [18.07, 18.08],
            "lat": [59.33, 59.34],
            "accuracy_m": [10.0, 10.0],
            "observed_at": pa.array([1_716_206_400] * 2, pa.timestamp("s", "UTC")),
            "tester": pa.array([1, 0], pa.int8()).cast(pa.bool8()),
        }
    )
    p = positions_from_arrow(table)
    assert p.ids.tolist() == [str(uuid.UUID(bytes=b)) for b in raw]
    assert p.tester.tolist() == [True, False]


# ---------------------------------------------------------------------------------------------
# A pyarrow table's columns handed to Positions one by one
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("chunked", [True, False])
@pytest.mark.parametrize("arrow", ["ids", "observed_at"])
def test_pyarrow_columns_for_ids_or_times_name_the_reader_of_arrow_tables(
    chunked: bool, arrow: str
) -> None:
    """``Positions(t["id"], ...)`` said "ids must all be str or all be int (got StringScalar)"."""
    pa = pytest.importorskip("pyarrow")
    table = pa.table(
        {
            "id": ["a", "b"],
            "lon": [18.07, 18.08],
            "lat": [59.33, 59.34],
            "observed_at": pa.array([1_716_206_400] * 2, pa.timestamp("s", "Europe/Stockholm")),
        }
    )

    def col(name: str) -> object:
        return table[name] if chunked else table[name].combine_chunks()

    ids = col("id") if arrow == "ids" else ["a", "b"]
    times = col("observed_at") if arrow == "observed_at" else AT
    with pytest.raises(
        InvalidType, match=rf"^{arrow} must be .* not a pyarrow .*positions_from_arrow"
    ):
        Positions(ids, col("lon"), col("lat"), observed_at=times)  # type: ignore[arg-type]
    # Numbers convert as numpy reads them: still taken.
    p = Positions(["a", "b"], col("lon"), col("lat"), observed_at=AT)
    assert p.lon.tolist() == [18.07, 18.08]


# ---------------------------------------------------------------------------------------------
# A GeoPandas GeoDataFrame handed over whole
# ---------------------------------------------------------------------------------------------


def test_a_geodataframe_is_read_by_its_columns_and_its_geometry_named_not_called_mixed() -> None:
    """A GeoDataFrame failed as "a column of mixed types" even with lon and lat columns."""
    gpd = pytest.importorskip("geopandas")
    pytest.importorskip("pyarrow")
    from geotarget.dask import positions_from_arrow
    from geotarget.errors import InvalidInput

    points = gpd.points_from_xy([18.07, 13.0038], [59.33, 55.605])
    gdf = gpd.GeoDataFrame(
        {"id": ["a", "b"], "accuracy_m": [10.0, 25.0], "observed_at": [AT, AT]},
        geometry=points,
        crs="EPSG:4326",
    )
    with pytest.raises(InvalidInput, match=r"lacks column\(s\) lon, lat .*geometry column"):
        positions_from_arrow(gdf)
    # The oracle: shapely's own coordinates of each point.
    with_columns = gdf.assign(lon=[p.x for p in points], lat=[p.y for p in points])
    p = positions_from_arrow(with_columns)
    assert p.lon.tolist() == [18.07, 13.0038]
    assert p.lat.tolist() == [59.33, 55.605]
    assert p.accuracy_m.tolist() == [10.0, 25.0]


# ---------------------------------------------------------------------------------------------
# A frame's ignored column that Arrow cannot hold
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "note", [[1, "two"], [object(), object()]], ids=["numbers-and-text", "python-objects"]
)
def test_a_frames_ignored_column_arrow_cannot_hold_is_ignored_as_a_files_is(
    note: list[object],
) -> None:
    """A note column of numbers and texts refused the whole frame as "a column of mixed types"."""
    pd = pytest.importorskip("pandas")
    pa = pytest.importorskip("pyarrow")
    from geotarget.dask import positions_from_arrow
    from geotarget.errors import InvalidInput

    df = pd.DataFrame(
        {
            "id": ["a", "b"],
            "lon": [18.07, 18.08],
            "lat": [59.33, 59.34],
            "accuracy_m": [10.0, 25.0],
            "observed_at": [AT, AT],
            "note": note,
        }
    )
    with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError)):  # the oracle: Arrow refuses it
        pa.table(df)
    p = positions_from_arrow(df)
    assert p.ids.tolist() == ["a", "b"]
    assert p.lon.tolist() == [18.07, 18.08] and p.accuracy_m.tolist() == [10.0, 25.0]
    # A known column of mixed types is still refused, naming it.
    with pytest.raises(InvalidInput, match=r"\(column 'id'\)"):
        positions_from_arrow(df.assign(id=[1, "b"]))


def test_polars_binary_ids_are_told_how_to_read_them_as_text() -> None:
    """Polars' ``Binary`` is Arrow's ``binary_view``: refused without the way out it now names."""
    pl = pytest.importorskip("polars")
    pytest.importorskip("pyarrow")
    from geotarget.dask import positions_from_arrow

    frame = pl.DataFrame(
        {
            "id": [b"dev-1", b"dev-2"],
            "lon": [18.07, 18.08],
            "lat": [59.33, 59.34],
            "accuracy_m": [10.0, 25.0],
            "observed_at": [AT, AT],
        }
    )
    assert frame.schema["id"] == pl.Binary
    with pytest.raises(
        InvalidPositions, match=r"column id: must hold text or integers .*binary.*cast the column"
    ):
        positions_from_arrow(frame)


# ---------------------------------------------------------------------------------------------
# pandas' nullable and Arrow-backed columns handed to Positions
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["string", "Int64", "object-nan"])
def test_a_missing_id_in_a_nullable_column_is_named_missing_not_of_another_type(
    dtype: str,
) -> None:
    """``pd.NA`` in a "string" or "Int64" id column was "ids must all be str or all be int"."""
    pd = pytest.importorskip("pandas")
    if dtype == "object-nan":
        ids = pd.Series(["a", float("nan")])  # how pandas reads an empty id cell
    else:
        ids = pd.Series(["a" if dtype == "string" else 1, pd.NA], dtype=dtype)
    assert ids.isna().tolist() == [False, True]  # the oracle: pandas calls it missing
    with pytest.raises(InvalidType, match=r"^ids must not be missing: .* at row 1"):
        Positions(ids, [18.07, 18.08], [59.33, 59.34], observed_at=AT)


@pytest.mark.parametrize("unit", ["date32[pyarrow]", "date64[pyarrow]"])
def test_an_arrow_backed_column_of_dates_is_refused_as_dates_not_told_to_get_a_zone(
    unit: str,
) -> None:
    """A date column read with ``dtype_backend="pyarrow"`` has no time of day to localize."""
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    days = pd.Series([dt.date(2024, 5, 20)] * 2).astype(unit)
    with pytest.raises(InvalidPositions, match=r"^observed_at must be instants, not dates") as err:
        Positions(["a", "b"], [18.07, 18.08], [59.33, 59.34], observed_at=days)
    assert "tz_localize" not in str(err.value)


# ---------------------------------------------------------------------------------------------
# Any dialect an export tool writes, read back as the devices it holds
# ---------------------------------------------------------------------------------------------

_ID_CHARS = "abcXYZ019åäöÅÄÖé _-\"';,\t\n"
_ALIASES = {
    "id": ["id", "ID", "device_id", "Device_ID"],
    "lon": ["lon", "LON", "lng", "long", "longitude", "Longitud", "längdgrad"],
    "lat": ["lat", "Lat", "latitude", "LATITUDE", "latitud", "breddgrad"],
    "accuracy_m": ["accuracy_m", "Accuracy_M", "accuracy", "horizontalAccuracy"],
    "observed_at": ["observed_at", "Observed_At"],
}


def _id_text(text: str) -> bool:
    """An id as the rules take it verbatim: no outer spaces, not empty, not a number."""
    import unicodedata

    return (
        text == text.strip()
        and bool(text)
        and text == unicodedata.normalize("NFC", text)
        and not text.startswith('="')
        and not any(c.isdigit() for c in text[:1])  # (no numbers: the numeric-id rules)
    )


@st.composite
def _exports(draw: st.DrawFn) -> tuple[bytes, list[tuple[str, str, str, str, str]], str]:
    ids = draw(
        st.lists(
            st.text(_ID_CHARS, min_size=1, max_size=12).filter(_id_text),
            min_size=1,
            max_size=12,
            unique=True,
        )
    )
    comma = draw(st.booleans())
    mark = "," if comma else "."
    rows = []
    for device in ids:
        lon = f"{draw(st.integers(10_500_000, 24_200_000)) / 1e6:.6f}".replace(".", mark)
        lat = f"{draw(st.integers(55_300_000, 69_100_000)) / 1e6:.6f}".replace(".", mark)
        acc = f"{draw(st.integers(0, 50_000)) / 10:.1f}".replace(".", mark)
        second = draw(st.integers(1_700_000_000, 1_800_000_000))
        form = draw(st.sampled_from(["epoch", "fraction", "Z", "+02:00", "-05:30"]))
        if form == "epoch":
            at = str(second)
        elif form == "fraction":
            at = f"{second}{mark}{draw(st.integers(0, 999)):03d}"
        else:
            tz = (
                dt.timezone.utc
                if form == "Z"
                else dt.timezone(dt.timedelta(hours=int(form[:3]), minutes=int(form[0] + form[4:])))
            )
            at = dt.datetime.fromtimestamp(second, tz).isoformat().replace("+00:00", "Z")
        rows.append((device, lon, lat, acc, at))
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    ending = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    keys = list(_ALIASES)
    order = draw(st.permutations([*keys, "note"]))
    names = {k: draw(st.sampled_from(v)) for k, v in _ALIASES.items()} | {"note": "Note"}
    notes = [draw(st.text(_ID_CHARS + "18.07 59,33", max_size=20)) for _ in rows]
    buf = io.StringIO()
    # (The csv module quotes a field holding a character of its line end: with CR alone, a
    # field's LF would go unquoted, which no spreadsheet writes: it quotes every such field.)
    quote_all = ending == "\r" or draw(st.booleans())
    writer = csv.writer(
        buf,
        delimiter=delimiter,
        lineterminator=ending,
        quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL,
    )
    writer.writerow([names[k] for k in order])
    for row, note in zip(rows, notes, strict=True):
        cells = dict(zip(keys, row, strict=True)) | {"note": note}
        writer.writerow([cells[k] for k in order])
    text = buf.getvalue()
    if not draw(st.booleans()):
        text = text[: -len(ending)]  # the last line without its end
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]))
    if encoding == "cp1252" and ending == "\r":
        encoding = "utf-8"  # (CR alone with bytes beyond ASCII is Mac Roman's mark: refused)
    return text.encode(encoding), rows, f"{encoding}, {delimiter!r}, {ending!r}"


def _seconds(text: str) -> float:
    """The oracle's reading of a time: ISO 8601 by datetime, epoch by decimal arithmetic."""
    if text[:4].isdigit() and "-" in text:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    return float(Decimal(text.replace(",", ".")))


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(export=_exports())
def test_any_export_dialect_reads_as_the_devices_written(
    tmp_path: Path, export: tuple[bytes, list[tuple[str, str, str, str, str]], str]
) -> None:
    """Delimiter, decimal mark, line end, encoding, names, order and a noisy column vary."""
    from geotarget._position_files import read

    data, rows, _ = export
    path = tmp_path / "export.csv"
    path.write_bytes(data)
    positions, report = read(path)
    assert report.unknown_columns == ("Note",)
    got = {
        device: (x, y, a, t)
        for device, x, y, a, t in zip(
            positions.ids.tolist(),
            positions.lon.tolist(),
            positions.lat.tolist(),
            positions.accuracy_m.tolist(),
            positions.observed_at.astype("datetime64[us]").astype(np.int64).tolist(),
            strict=True,
        )
    }
    assert set(got) == {r[0] for r in rows}
    for device, lon, lat, acc, at in rows:
        x, y, a, t = got[device]
        assert x == float(lon.replace(",", ".")) and y == float(lat.replace(",", "."))
        assert a == float(acc.replace(",", "."))
        assert t == round(_seconds(at) * 1_000_000)


# ---------------------------------------------------------------------------------------------
# pandas frames whose ids or names are not plain columns
# ---------------------------------------------------------------------------------------------


def test_ids_kept_as_a_frames_unnamed_index_are_told_how_to_name_them(tmp_path: Path) -> None:
    """``__index_level_0__`` in the refusal was pandas' name for the index, left unexplained."""
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    from geotarget._position_files import read
    from geotarget.dask import positions_from_arrow
    from geotarget.errors import InvalidInput

    frame = _frame().set_index("id")  # type: ignore[attr-defined]
    frame.index.name = None  # as after df.index = ids, or an aggregation by id
    frame.to_parquet(tmp_path / "by_device.parquet")
    hint = r"unnamed index is written as '__index_level_0__' .*df.rename_axis\('id'\)"
    with pytest.raises(InvalidInput, match=hint):
        positions_from_arrow(frame)
    with pytest.raises(InvalidInput, match=hint):
        read(tmp_path / "by_device.parquet")
    named = positions_from_arrow(frame.rename_axis("id"))
    assert named.ids.tolist() == list(frame.index)
    assert isinstance(frame, pd.DataFrame)


def test_a_frame_whose_column_labels_have_levels_is_told_to_flatten_them() -> None:
    """``pd.concat({"pos": df}, axis=1)`` labels reach Arrow as the text of their tuples."""
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    from geotarget.dask import positions_from_arrow
    from geotarget.errors import InvalidInput

    df = _frame()
    levelled = pd.concat({"pos": df.set_index("id")}, axis=1)  # type: ignore[attr-defined]
    with pytest.raises(InvalidInput, match=r"several levels \(\('pos', 'lon'\)\).*flatten"):
        positions_from_arrow(levelled)
    levelled.columns = levelled.columns.get_level_values(-1)
    assert positions_from_arrow(levelled).ids.tolist() == list(df["id"])  # type: ignore[index]


def test_a_polars_lazyframe_is_told_to_collect_its_rows() -> None:
    """A LazyFrame is a query: the refusal listed the types taken, not the call that makes one."""
    pl = pytest.importorskip("polars")
    pytest.importorskip("pyarrow")
    from geotarget.dask import positions_from_arrow
    from geotarget.errors import InvalidInput

    lazy = pl.DataFrame({"id": ["a"], "lon": [18.07], "lat": [59.33]}).lazy()
    with pytest.raises(InvalidInput, match=r"\(got LazyFrame; a query of a table: .*\.collect\(\)"):
        positions_from_arrow(lazy, observed_at=AT, accuracy_m=10.0)
    assert positions_from_arrow(lazy.collect(), observed_at=AT, accuracy_m=10.0).ids.tolist() == [
        "a"
    ]


# ---------------------------------------------------------------------------------------------
# Epoch seconds in a float too narrow for them
# ---------------------------------------------------------------------------------------------


def test_epoch_seconds_in_float32_are_refused_not_moved_by_a_minute(tmp_path: Path) -> None:
    """``df["t"].astype("float32")`` (a frame downcast to save memory) held 12:00 as 11:58:56."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    from geotarget._position_files import read
    from geotarget.dask import positions_from_arrow

    seconds = [1_716_206_400, 1_716_206_460]  # 2024-05-20 12:00:00 and 12:01:00 UTC
    # The oracle: numpy's float32 of each, off by 64 and 4 seconds.
    assert [int(np.float32(s)) - s for s in seconds] == [-64, 4]
    table = pa.table(
        {
            "id": ["a", "b"],
            "lon": [18.07, 18.08],
            "lat": [59.33, 59.34],
            "accuracy_m": [10.0, 10.0],
            "observed_at": pa.array(seconds, pa.float64()).cast(pa.float32()),
        }
    )
    pq.write_table(table, tmp_path / "downcast.parquet")
    rule = r"column observed_at: must not be epoch seconds in float"
    with pytest.raises(InvalidPositions, match=rule):
        read(tmp_path / "downcast.parquet")
    with pytest.raises(InvalidPositions, match=rule):
        positions_from_arrow(table)
    # float64 seconds (with a fraction) keep reading as the instants they hold.
    exact = table.set_column(4, "observed_at", pa.array([s + 0.25 for s in seconds]))
    got = positions_from_arrow(exact).observed_at.astype(np.int64).tolist()
    assert got == [s * 1_000_000 + 250_000 for s in seconds]
