"""A positions file's numbers use one decimal mark; thousands separators are refused.

The reader (:mod:`geotarget._position_files`) is checked against a plain-Python oracle over
generated files: the oracle reads the file with :mod:`csv` and applies the documented rule.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import tempfile
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st

from geotarget import _position_files
from geotarget._position_files import read
from geotarget.errors import InvalidPositions

AT = dt.datetime(2024, 5, 20, tzinfo=dt.timezone.utc)
_GROUPED = re.compile(r"[+-]?[1-9]\d{0,2}[.,]\d{3}")


def _oracle(text: str, delim: str) -> dict[str, list[float]] | None:
    """The documented rule, in plain Python: the columns' values, or None when refused."""
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delim))
    header, body = rows[0], rows[1:]
    evidence: set[str] = set()
    grouped: set[str] = set()
    out: dict[str, list[float]] = {h: [] for h in header if h != "id"}
    for row in body:
        for name, cell in zip(header, row, strict=True):
            if name == "id":
                continue
            mark = next((m for m in ".," if m in cell), None)
            if mark is not None:
                if name == "accuracy_m" and _GROUPED.fullmatch(cell):
                    grouped.add(mark)
                else:
                    evidence.add(mark)
            out[name].append(float(cell.replace(",", ".")))
    if len(evidence) > 1 or (grouped and (len(evidence) != 1 or not grouped <= evidence)):
        return None
    return out


@st.composite
def _number(draw: st.DrawFn, top: int, mark: str, signed: bool) -> str:
    sign = draw(st.sampled_from(["", "-"])) if signed else ""
    whole = draw(st.integers(0, top))
    frac = draw(st.text("0123456789", min_size=0, max_size=5))
    return f"{sign}{whole}{mark}{frac}" if frac else f"{sign}{whole}"


@st.composite
def _files(draw: st.DrawFn) -> tuple[str, str]:
    """A CSV file (text) with lon, lat, accuracy_m, observed_at numbers, and its delimiter."""
    mark = draw(st.sampled_from([".", ","]))
    other = "," if mark == "." else "."
    delim = draw(st.sampled_from([",", ";", "\t"]))
    header = draw(st.permutations(["id", "lon", "lat", "accuracy_m", "observed_at"]))
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delim, lineterminator="\n")
    writer.writerow(header)
    n = draw(st.integers(1, 6))
    for i in range(n):

        def pick() -> str:
            return draw(st.sampled_from([mark, mark, mark, other]))

        cells = {
            "id": f"d{i}",
            "lon": draw(_number(179, pick(), True)),
            "lat": draw(_number(89, pick(), True)),
            "accuracy_m": draw(
                st.one_of(
                    _number(5000, pick(), False),
                    st.builds(
                        lambda w, f, m: f"{w}{m}{f:03d}",
                        st.integers(1, 999),
                        st.integers(0, 999),
                        st.sampled_from([".", ","]),
                    ),
                )
            ),
            "observed_at": str(1716206400 + i)
            + draw(st.sampled_from(["", f"{pick()}5", f"{pick()}25"])),
        }
        writer.writerow([cells[h] for h in header])
    return out.getvalue(), delim


@given(_files(), st.integers(1, 4))
def test_the_reader_decides_marks_as_the_plain_oracle_does(
    case: tuple[str, str], chunk_rows: int
) -> None:
    """Accepted exactly when the oracle accepts, with its values; refused naming the cell."""
    text, delim = case
    want = _oracle(text, delim)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.csv"
        path.write_text(text, encoding="utf-8")
        with mock.patch.object(_position_files, "CHUNK_ROWS", chunk_rows):
            if want is None:
                with pytest.raises(InvalidPositions) as err:
                    read(path)
                message = str(err.value)
                assert "decimal" in message
                assert re.search(r"p\.csv: row \d+ \(line \d+\), column \w+: ", message)
                got = re.search(r"\(got '([^']*)'\)$", message)
                assert got is not None and ("." in got.group(1) or "," in got.group(1))
                return
            positions, _ = read(path)
    assert positions.lon.tolist() == want["lon"]
    assert positions.lat.tolist() == want["lat"]
    assert positions.accuracy_m.tolist() == want["accuracy_m"]


def _read_text(tmp_path: Path, text: str) -> tuple[object, _position_files.Report]:
    path = tmp_path / "p.csv"
    path.write_text(text, encoding="utf-8")
    return read(path, observed_at=AT)


def test_a_thousands_separated_accuracy_in_a_decimal_point_file_is_refused(
    tmp_path: Path,
) -> None:
    """The probe's file: '"1,500"' among decimal points is not 1.5 m."""
    text = 'id,lon,lat,accuracy_m\nnear,18.0600,59.3300,"12.5"\nfar,18.0600,59.3300,"1,500"\n'
    with pytest.raises(InvalidPositions) as err:
        _read_text(tmp_path, text)
    assert str(err.value) == (
        "p.csv: row 2 (line 3), column accuracy_m: has a decimal comma, but this file's "
        "numbers have a decimal point (row 1 (line 2), column lon: '18.0600'): a thousands "
        "separator? numbers must be written without one, and all with one decimal mark "
        "(got '1,500')"
    )


def test_a_decimal_point_in_a_decimal_comma_file_is_refused(tmp_path: Path) -> None:
    """``1.500`` among decimal commas (German/Swedish grouping) is not 1.5 m."""
    with pytest.raises(InvalidPositions, match=r"row 1 \(line 2\), column accuracy_m: has a dec"):
        _read_text(tmp_path, "id;lon;lat;accuracy_m\na;18,06;59,33;1.500\n")


def test_the_files_mark_reads_a_grouped_looking_accuracy_as_a_decimal(tmp_path: Path) -> None:
    """In a decimal-comma file, ``1,500`` is 1.5 (its thousands separator is never a comma)."""
    positions, report = _read_text(tmp_path, "id;lon;lat;accuracy_m\na;18,06;59,33;1,500\n")
    assert positions.accuracy_m.tolist() == [1.5]  # type: ignore[attr-defined]
    assert report.form.endswith("decimal comma")
    positions, report = _read_text(tmp_path, "id,lon,lat,accuracy_m\na,18.063,59.332,1.500\n")
    assert positions.accuracy_m.tolist() == [1.5]  # type: ignore[attr-defined]
    assert "decimal" not in report.form


def test_a_grouped_looking_accuracy_without_another_mark_is_refused(tmp_path: Path) -> None:
    """No other number says which mark the file uses: 1,500 may be 1500 or 1.5."""
    with pytest.raises(InvalidPositions, match=r"thousands separator \(1500\) or a decimal \(1.5"):
        _read_text(tmp_path, "id;lon;lat;accuracy_m\na;18;59;12\nb;18;59;1,500\n")


def test_epoch_seconds_follow_the_files_mark(tmp_path: Path) -> None:
    """A fraction of epoch seconds with the other mark is refused as well."""
    path = tmp_path / "p.csv"
    path.write_text("id;lon;lat;observed_at\na;18,06;59,33;1716206400.5\n", encoding="utf-8")
    with pytest.raises(InvalidPositions, match=r"column observed_at: has a decimal point"):
        read(path)
    # ISO 8601 times may write either mark: no number of the file's.
    path.write_text(
        "id;lon;lat;observed_at\na;18,06;59,33;2024-05-20T14:00:00.5+02:00\n", encoding="utf-8"
    )
    read(path, accuracy_m=10.0)


def test_parquet_and_arrow_text_numbers_follow_one_mark(tmp_path: Path) -> None:
    """Numbers stored as text in Parquet (or an Arrow table) obey the same rule."""
    pa = pytest.importorskip("pyarrow", reason="Parquet needs the geoparquet extra")
    import pyarrow.parquet as pq

    from geotarget._positions_arrow import positions_from_arrow

    table = pa.table({"id": ["a"], "lon": ["18.06"], "lat": ["59.33"], "accuracy_m": ["1,500"]})
    path = tmp_path / "p.parquet"
    pq.write_table(table, path)
    with pytest.raises(InvalidPositions, match=r"p.parquet: row 1, column accuracy_m: has a dec"):
        read(path, observed_at=AT)
    with pytest.raises(InvalidPositions, match=r"t: row 1, column accuracy_m: has a decimal c"):
        positions_from_arrow(table, source="t", observed_at=AT)


@pytest.mark.parametrize(
    "rows",
    [
        # The lat cells before the first decimal comma hold line breaks (quoted): the mark was
        # placed by the breaks before it in the joined column, a row too late...
        '1;18;"59\n";10\n2;18;59,33;10\n3;18;59;1.5\n',
        # ... or beyond the column's last row (an IndexError).
        '1;18;"59\n\n";10\n2;18;59,33;10\n3;18;59;1.5\n',
    ],
)
def test_the_mark_is_seen_where_it_is_when_cells_hold_line_breaks(
    tmp_path: Path, rows: str
) -> None:
    """The error names the cell that shows the file's mark, not one counted by line breaks."""
    with pytest.raises(InvalidPositions) as err:
        _read_text(tmp_path, "id;lon;lat;accuracy_m\n" + rows)
    assert "this file's numbers have a decimal comma (row 2 (line " in str(err.value)
    assert "column lat: '59,33')" in str(err.value)


def test_the_mark_seen_in_the_same_row_is_named_not_quoted(tmp_path: Path) -> None:
    """A row's lon and lat are never quoted together: they are the device's position.

    The message quoted the cell that showed the file's mark beside the cell with the other
    mark, both of one row (lon ``18.0653917`` and lat ``59,3326471``).
    """
    with pytest.raises(InvalidPositions) as err:
        _read_text(tmp_path, "id;lon;lat\n0701234567;18.0653917;59,3326471\n")
    assert str(err.value) == (
        "p.csv: row 1 (line 2), column lat: has a decimal comma, but this file's numbers have a "
        "decimal point (in column lon of this row): a thousands separator? numbers must be "
        "written without one, and all with one decimal mark (got '59,3326471')"
    )
    assert "18.06" not in str(err.value)
    # A grouped-looking accuracy, decided by a later cell of its own row (named) or of
    # another row (quoted, as before).
    with pytest.raises(InvalidPositions) as err:
        _read_text(tmp_path, "id;lon;lat;accuracy_m;observed_at\na;18;59;1.500;1716206400,5\n")
    assert "decimal comma (in column observed_at of this row): a thousands" in str(err.value)
    with pytest.raises(InvalidPositions) as err:
        _read_text(tmp_path, "id;lon;lat;accuracy_m\na;18;59;1.500\nb;18;59,5;1\n")
    assert "decimal comma (row 2 (line 3), column lat: '59,5'): a thousands" in str(err.value)
