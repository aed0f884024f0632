"""Position files, thirteenth probe: files as ordinary tools write them.

Oracles are plain Python (str, the csv module, decimal arithmetic) and pyarrow read directly,
never the readers.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest

from geotarget._position_files import read
from geotarget.errors import InvalidPositions

EPOCH = "1716206400"


def _csv(tmp_path: Path, name: str, rows: list[list[str]], delimiter: str = ";") -> Path:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(["id", "lon", "lat", "accuracy_m", "observed_at"])
    writer.writerows(rows)
    path = tmp_path / name
    path.write_text(buf.getvalue(), encoding="utf-8", newline="")
    return path


# ---------------------------------------------------------------------------------------------
# Long numeric ids a spreadsheet rounded to 15 significant digits
# ---------------------------------------------------------------------------------------------

#: ICCIDs (SIM card numbers, 19 or 20 digits) and a 64-bit database key (19 digits).
LONG_IDS = [
    "89460123456789012345",
    "89460123456789012399",
    "8946012345678905551",
    "1234567890123456789",
]


def _excel(number: str) -> str:
    """A long integer as Excel writes it from a cell formatted as a number (15 digits kept)."""
    significant = round(int(number), 15 - len(number))
    return str(significant)


@pytest.mark.parametrize("ids", [LONG_IDS[:2], LONG_IDS[2:], LONG_IDS])
def test_long_ids_a_spreadsheet_rounded_to_15_digits_are_refused(
    tmp_path: Path, ids: list[str]
) -> None:
    # Excel keeps 15 significant digits: a column of ICCIDs formatted as a number (so as not
    # to show 8.94601E+19) is saved as 89460123456789000000. Two SIMs became one (a duplicate
    # refused with the advice to keep each device's latest fix: dropping a device), or an id
    # named no device, silently.
    rounded = [_excel(i) for i in ids]
    assert all(r != i and r.endswith("0000") for r, i in zip(rounded, ids, strict=True))
    path = _csv(tmp_path, "sims.csv", [[r, "18,07", "59,33", "5", EPOCH] for r in rounded])
    with pytest.raises(InvalidPositions) as err:
        read(path)
    message = str(err.value)
    assert message.startswith("sims.csv: row 1 (line 2), column id: ends in zeros after its 15th")
    assert "Excel keeps 15 significant digits" in message
    assert message.endswith(f"(got {rounded[0]!r})")


@pytest.mark.parametrize(
    "ids",
    [
        LONG_IDS,  # as their source wrote them
        [_excel(LONG_IDS[0]), LONG_IDS[1]],  # one with another digit past the 15th: not Excel
        [_excel(LONG_IDS[0])],  # one id, 5 zeros: as likely as not chance
        ["1000000000000000", "2000000000000000", "0000000000000000000"],  # 1 zero each; a 0
        ["A8946012345678900000", "X1234567890123450000"],  # not numbers
        ["dev-1", *(_excel(i) for i in LONG_IDS[2:])],  # a column of text: no spreadsheet's number
    ],
)
def test_long_ids_that_a_spreadsheet_did_not_round_are_read_verbatim(
    tmp_path: Path, ids: list[str]
) -> None:
    path = _csv(tmp_path, "sims.csv", [[i, "18,07", "59,33", "5", EPOCH] for i in ids])
    positions, _ = read(path)
    assert positions.ids.tolist() == ids


def test_rounded_long_ids_as_text_in_a_parquet_file_are_refused(tmp_path: Path) -> None:
    # The same CSV read by pandas with dtype=str and written to Parquet: text ids, rounded.
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rounded = [_excel(i) for i in LONG_IDS]
    table = pa.table(
        {
            "id": rounded,
            "lon": [18.07] * 4,
            "lat": [59.33] * 4,
            "accuracy_m": [5.0] * 4,
            "observed_at": [int(EPOCH)] * 4,
        }
    )
    pq.write_table(table, tmp_path / "sims.parquet")
    with pytest.raises(InvalidPositions) as err:
        read(tmp_path / "sims.parquet")
    assert str(err.value).startswith("sims.parquet: row 1, column id: ends in zeros after its")
    assert str(err.value).endswith(f"(got {rounded[0]!r})")
    # as integers (int64), as a database writes them, they are read: no spreadsheet wrote them
    ints = table.set_column(0, "id", pa.array([int(i) for i in LONG_IDS[2:]] * 2, pa.int64()))
    pq.write_table(ints.slice(0, 2), tmp_path / "keys.parquet")
    positions, _ = read(tmp_path / "keys.parquet")
    assert positions.ids.tolist() == [int(i) for i in LONG_IDS[2:]]


# ---------------------------------------------------------------------------------------------
# Polars' Categorical and Enum columns, handed over as dictionaries of string views
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cast", ["Categorical", "Enum"])
def test_polars_categorical_and_enum_columns_read_as_their_text(cast: str) -> None:
    # Polars hands a Categorical (or Enum) over as dictionary<values=string_view>, whose
    # decoding pyarrow's take has no kernel for: ArrowNotImplementedError, from inside pyarrow.
    pl = pytest.importorskip("polars")
    pa = pytest.importorskip("pyarrow")
    from geotarget._positions_arrow import positions_from_arrow

    ids = ["0701234567", "0709876543", "dev-ä"]
    kind = pl.Categorical() if cast == "Categorical" else pl.Enum(sorted(ids, reverse=True))
    frame = pl.DataFrame(
        {
            "id": ids,
            "lon": [18.07, 18.08, 18.09],
            "lat": [59.33, 59.34, 59.35],
            "accuracy_m": [5.0, 6.0, 7.0],
            "observed_at": [dt.datetime(2024, 5, 20, 14, 0)] * 3,
            "tester": ["ja", "nej", "ja"],
        }
    ).with_columns(
        pl.col("id").cast(kind),
        pl.col("tester").cast(pl.Categorical()),
        pl.col("observed_at").dt.replace_time_zone("Europe/Stockholm"),
    )
    assert pa.types.is_dictionary(pa.table(frame).schema.field("id").type)
    positions = positions_from_arrow(frame, source="frame")
    assert positions.ids.tolist() == frame["id"].cast(pl.String).to_list() == ids
    assert positions.tester.tolist() == [True, False, True]
    assert positions.observed_at.astype(str).tolist() == ["2024-05-20T12:00:00.000000"] * 3


def test_a_long_value_in_a_dictionary_of_string_views_is_refused_naming_its_row() -> None:
    pa = pytest.importorskip("pyarrow")
    from geotarget._positions_arrow import positions_from_arrow

    words = pa.array(["a", "x" * 100_000], type=pa.string_view())
    ids = pa.DictionaryArray.from_arrays(pa.array([0, 1, 1], pa.int32()), words)
    table = pa.table(
        {
            "id": ids,
            "lon": [18.07] * 3,
            "lat": [59.33] * 3,
            "accuracy_m": [5.0] * 3,
            "observed_at": pa.array([int(EPOCH) * 10**6] * 3, pa.timestamp("us", tz="UTC")),
        }
    )
    with pytest.raises(InvalidPositions) as err:
        positions_from_arrow(table, source="t")
    assert str(err.value).startswith("t: row 2, column id: must be at most 256 characters long")


@pytest.mark.parametrize("dictionary", [False, True])
def test_runs_of_string_views_are_their_values(dictionary: bool) -> None:
    # Runs of views (or of a dictionary of views) were refused as runs "Arrow cannot decode",
    # or failed inside pyarrow (its take has no kernel for views): they are text, in runs.
    pa = pytest.importorskip("pyarrow")
    if not hasattr(pa, "RunEndEncodedArray"):  # pragma: no cover - pyarrow 13
        pytest.skip("pyarrow without run-end encoding")
    from geotarget._positions_arrow import positions_from_arrow

    ids = pa.array(["x", "0701", "0702", "0703"], pa.string_view())
    if dictionary:
        words = pa.array(["0703", "0702", "0701", "x"], pa.string_view())
        ids = pa.DictionaryArray.from_arrays(pa.array([3, 2, 1, 0], pa.int32()), words)
    runs = pa.RunEndEncodedArray.from_arrays(pa.array([1, 2, 3, 4], pa.int32()), ids).slice(1)
    tester = pa.RunEndEncodedArray.from_arrays(
        pa.array([3], pa.int32()), pa.array(["ja"], pa.string_view())
    )
    table = pa.table(
        {
            "id": runs,
            "lon": [18.07, 18.08, 18.09],
            "lat": [59.33, 59.34, 59.35],
            "accuracy_m": [5.0] * 3,
            "observed_at": pa.array([int(EPOCH)] * 3, pa.timestamp("s", tz="UTC")),
            "tester": tester,
        }
    )
    positions = positions_from_arrow(table, source="t")
    assert positions.ids.tolist() == ["0701", "0702", "0703"]  # the oracle: as built
    assert positions.tester.tolist() == [True] * 3


# ---------------------------------------------------------------------------------------------
# One column handed over for a table
# ---------------------------------------------------------------------------------------------


def test_a_series_or_array_given_for_a_table_is_named_as_one_column() -> None:
    # A pandas or Polars Series and a ChunkedArray speak the Arrow stream interface too, but
    # stream one column's values: the refusal blamed "a column of mixed types".
    pa = pytest.importorskip("pyarrow")
    pd = pytest.importorskip("pandas")
    from geotarget._positions_arrow import positions_from_arrow
    from geotarget.errors import InvalidInput

    frame = pd.DataFrame({"id": ["a"], "lon": [18.07], "lat": [59.33]})
    for value in (frame["lon"], pa.chunked_array([["a"]])):
        if not hasattr(type(value), "__arrow_c_stream__"):  # pragma: no cover - older ones
            continue
        with pytest.raises(InvalidInput) as err:
            positions_from_arrow(value, source="frame")
        message = str(err.value)
        assert message.startswith("frame: must be a table of the columns id, lon, lat, ")
        assert f"(got a {type(value).__name__}: one column's values, not a table" in message
        assert "mixed types" not in message


def test_a_pandas_frame_naming_a_column_twice_is_refused_naming_it() -> None:
    # Two columns renamed alike (latitude and lat_wgs84 both to lat), or pd.concat(axis=1):
    # pyarrow refuses the frame, and the refusal blamed "a column of mixed types".
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    from geotarget._positions_arrow import positions_from_arrow
    from geotarget.errors import InvalidInput

    frame = pd.DataFrame(
        [["a", 18.07, 59.33, 5.0, 59.331]],
        columns=["id", "lon", "lat", "accuracy_m", "lat"],
    )
    with pytest.raises(InvalidInput) as err:
        positions_from_arrow(frame, source="frame")
    assert str(err.value) == (
        "frame: column lat appears twice (columns 3 and 5: 'lat' and 'lat'); keep one"
    )
