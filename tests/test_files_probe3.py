"""A newcomer's files, third probe: tables, exports and answers as other tools hand them over.

Each test states the input a real system produced, what geotarget did with it and what it
should do; oracles read the files with the csv and json modules, pandas, pyproj and shapely.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import pyproj
import pytest

from geotarget import Positions
from geotarget.errors import InvalidPositions

NOW = dt.datetime(2024, 5, 20, 14, 0, tzinfo=dt.timezone.utc)
ROOT = Path(__file__).resolve().parents[1]
#: The integrator's guide's Explosion: 500 m around Sergels torg (18.06528, 59.3325).
EXPLOSION = ROOT / "docs" / "examples" / "sos_explosion.xml"
AT = "2024-05-20T16:05+02:00"


def test_a_one_column_table_is_no_column_of_ids() -> None:
    """``df[["device"]]`` (a DataFrame, the double-bracket slip) is refused as ids.

    A DataFrame iterates over its column labels: a one-row table gave a snapshot whose one
    device's id was the column's name, ``"device"``, without a word.
    """
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"device": ["0701234567"], "lon": [18.06], "lat": [59.33]})
    with pytest.raises(InvalidPositions, match=r"ids must be one-dimensional.*DataFrame.*\(1, 1\)"):
        Positions(frame[["device"]], frame["lon"], frame["lat"], observed_at=NOW)
    wide = pd.DataFrame({"id": ["a", "b"], "x": [1, 2]})
    with pytest.raises(InvalidPositions, match=r"DataFrame of shape \(2, 2\)"):
        Positions(wide, [18.0, 18.1], [59.0, 59.1], observed_at=NOW)
    # One column of it is read as its values.
    assert Positions(frame["device"], frame["lon"], frame["lat"], observed_at=NOW).ids.tolist() == [
        "0701234567"
    ]


def _target(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from geotarget.cli import main

    code = main(["target", "--alert", str(EXPLOSION), "--at", AT, *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(
    ("text", "form"),
    [
        pytest.param(
            json.dumps(
                {
                    "type": "FeatureCollection",
                    "features": [
                        {
                            "type": "Feature",
                            "geometry": {"type": "Point", "coordinates": [18.0653917, 59.3326]},
                            "properties": {"id": "0701234567", "accuracy_m": 8},
                        }
                    ],
                },
                indent=2,
            ),
            "JSON",
            id="geojson",
        ),
        pytest.param(
            '{"id":"0701234567","lon":18.0653917,"lat":59.3326,"accuracy_m":8}\n'
            '{"id":"0709876543","lon":18.2,"lat":59.3325,"accuracy_m":8}\n',
            "JSON",
            id="json-lines",
        ),
        pytest.param(
            '[{"id": "0701234567", "lon": 18.0653917, "lat": 59.3326}]', "JSON", id="json-array"
        ),
        pytest.param(
            "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head></html>\n",
            "an HTML page",
            id="html-error-page",
        ),
        pytest.param(
            '<?xml version="1.0" encoding="UTF-8"?>\n<rows><row lon="18.0653917"/></rows>\n',
            "XML",
            id="xml",
        ),
    ],
)
@pytest.mark.parametrize("where", ["file", "stdin"])
def test_json_html_or_xml_given_as_csv_is_named_for_what_it_is(
    text: str,
    form: str,
    where: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A GeoJSON or JSON Lines export, or a web server's error page, given as the positions.

    Each failed as CSV with a message about quotes or missing columns, and the JSON Lines
    one quoted its first device's ``"lon":18.0653917``: a position in a message. The message
    now says what the file is, and quotes none of it.
    """
    if where == "file":
        path = tmp_path / "devices.csv"
        path.write_text(text, encoding="utf-8")
        args = ["--positions", str(path)]
    else:
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(text.encode())))
        args = ["--positions", "-"]
    code, out, err = _target(args, capsys)
    assert code == 2 and out == ""
    assert f": is {form}" in err and "not CSV" in err
    assert "18.065" not in err and "0701234567" not in err
    assert "quote" not in err and "lacks column" not in err


def test_a_header_separated_by_another_character_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A pipe-separated export (``id|lon|lat|...``, as many databases' clients write).

    Refused as a header lacking id, lon and lat without saying why; it now names the '|'
    and the way to read it, an Excel ``sep=|`` first line, which then reads every row.
    """
    rows = [("0701234567", "18.0653917", "59.3326"), ("0709876543", "18.2", "59.3325")]
    body = "".join(f"{i}|{x}|{y}|8|2024-05-20T16:00:00+02:00\n" for i, x, y in rows)
    path = tmp_path / "devices.txt"
    path.write_text("id|lon|lat|accuracy_m|observed_at\n" + body, encoding="utf-8")
    code, _, err = _target(["--positions", str(path)], capsys)
    assert code == 2
    assert "separated by '|'" in err and "sep=|" in err
    path.write_text("sep=|\nid|lon|lat|accuracy_m|observed_at\n" + body, encoding="utf-8")
    code, out, err = _target(["--positions", str(path)], capsys)
    assert code == 0, err
    geod = pyproj.Geod(ellps="WGS84")
    expected = [i for i, x, y in rows if geod.inv(18.06528, 59.3325, float(x), float(y))[2] <= 508]
    assert json.loads(out)["recipients"] == expected == ["0701234567"]


def test_a_dataset_directory_given_as_the_positions_says_how_to_make_it_one_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Parquet dataset (pandas' ``partition_cols``, Spark's parts) or a folder of CSV files.

    Refused as "must be a file (got the directory ...)", with no word on what to do; the
    Parquet refusal now gives the pyarrow call that writes the dataset as one file, which is
    then read whole: every part's devices, compared with a Geod oracle.
    """
    pd = pytest.importorskip("pandas")
    pa_parquet = pytest.importorskip("pyarrow.parquet")
    pa_dataset = pytest.importorskip("pyarrow.dataset")
    frame = pd.DataFrame(
        {
            "id": ["0701234567", "0709876543", "0702222222"],
            "lon": [18.0653917, 18.2, 18.0661],
            "lat": [59.3326, 59.3325, 59.3331],
            "accuracy_m": [8.0, 8.0, 5.0],
            "observed_at": [1716213600] * 3,
            "county": ["01", "01", "03"],
        }
    )
    hive = tmp_path / "devices"
    frame.to_parquet(hive, partition_cols=["county"])
    code, out, err = _target(["--positions", str(hive)], capsys)
    assert code == 2 and out == ""
    assert "dataset of Parquet parts" in err and "pyarrow.dataset.dataset(DIR" in err
    whole = tmp_path / "devices.parquet"
    pa_parquet.write_table(pa_dataset.dataset(hive, partitioning="hive").to_table(), whole)
    code, out, err = _target(["--positions", str(whole)], capsys)
    assert code == 0, err
    geod = pyproj.Geod(ellps="WGS84")
    expected = sorted(
        str(r.id)
        for r in frame.itertuples()
        if geod.inv(18.06528, 59.3325, r.lon, r.lat)[2] <= 500 + r.accuracy_m
    )
    assert sorted(json.loads(out)["recipients"]) == expected == ["0701234567", "0702222222"]

    spark = tmp_path / "spark_out"
    spark.mkdir()
    (spark / "_SUCCESS").write_bytes(b"")
    frame.drop(columns="county").to_parquet(spark / "part-00000-1f2e.snappy.parquet")
    code, _, err = _target(["--positions", str(spark)], capsys)
    assert code == 2 and "dataset of Parquet parts" in err

    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "a.csv").write_text("id,lon,lat,accuracy_m,observed_at\n", encoding="utf-8")
    code, _, err = _target(["--positions", str(folder)], capsys)
    assert code == 2 and "join its files into one" in err


@pytest.mark.parametrize(
    ("names", "named"),
    [
        (("id", "Lat (deg)", "Lon (deg)"), {"lat": "Lat (deg)", "lon": "Lon (deg)"}),
        (("id", "latitude_deg", "longitude_deg"), {"lat": "latitude_deg", "lon": "longitude_deg"}),
        (
            ("Device ID", "GPS Latitude", "GPS Longitude"),
            {"id": "Device ID", "lat": "GPS Latitude", "lon": "GPS Longitude"},
        ),
        (("id", "Breite", "Länge"), {"lat": "Breite", "lon": "Länge"}),
        (("id", "Latitude [°]", "lon"), {"lat": "Latitude [°]"}),
        (("id", "lat_wgs84", "lng"), {"lat": "lat_wgs84"}),
    ],
)
@pytest.mark.parametrize("form", ["csv", "parquet"])
def test_a_column_named_with_its_unit_or_in_another_language_is_pointed_out(
    names: tuple[str, str, str],
    named: dict[str, str],
    form: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """GIS and spreadsheet exports name columns ``Lat (deg)``, ``GPS Latitude``, ``Breite``.

    The refusal listed the header and every accepted name, but not which of the file's
    columns was meant; it now names each look-alike (never reading it as the column: a unit
    such as radians may follow the name), and nothing else.
    """
    values = ["0701234567", "59.3326", "18.0653917"]
    if form == "csv":
        path = tmp_path / "devices.csv"
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow([*names, "accuracy_m", "observed_at"])
            writer.writerow([*values, "8", "1716213600"])
    else:
        pd = pytest.importorskip("pandas")
        pytest.importorskip("pyarrow")
        path = tmp_path / "devices.parquet"
        row = dict(zip(names, [values[0], float(values[1]), float(values[2])], strict=True))
        pd.DataFrame([{**row, "accuracy_m": 8.0, "observed_at": 1716213600}]).to_parquet(path)
    code, out, err = _target(["--positions", str(path)], capsys)
    assert code == 2 and out == ""
    for key, name in named.items():
        assert f"{name!r} may be {key}" in err
    assert err.count(" may be ") == len(named)
    assert "59.3326" not in err and "0701234567" not in err


def test_a_column_in_radians_is_not_pointed_out_as_degrees(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``Lat (rad)`` is not offered as lat: the hint speaks of degrees."""
    path = tmp_path / "devices.csv"
    path.write_text("id,Lat (rad),Lon (rad),accuracy_m\n1,1.0356,0.3153,8\n", encoding="utf-8")
    code, _, err = _target(["--positions", str(path)], capsys)
    assert code == 2 and "lacks column(s) lon, lat" in err and "may be" not in err


@pytest.mark.parametrize("cell", ["45432.583333", "45432,583333", "45432"])
def test_a_spreadsheets_date_serial_is_named_as_one(
    cell: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Excel writes an unformatted date-time cell as its serial: 45432.583333 is 2024-05-20 14:00.

    The refusal asked "a date?" and for ISO 8601, as for 20240520; it now says what the
    number is (days since 1899-12-30, by the oracle below) and how to export it.
    """
    assert dt.datetime(1899, 12, 30) + dt.timedelta(days=45432.583333) == dt.datetime(
        2024, 5, 20, 13, 59, 59, 971200
    )
    path = tmp_path / "devices.csv"
    path.write_text(
        f"id;lon;lat;accuracy_m;observed_at\n1;18,06528;59,3325;8;{cell}\n", encoding="utf-8"
    )
    code, _, err = _target(["--positions", str(path)], capsys)
    assert code == 2 and "row 1 (line 2), column observed_at" in err
    assert "date serial number (days since 1899-12-30)" in err
    path.write_text(
        "id;lon;lat;accuracy_m;observed_at\n1;18,06528;59,3325;8;20240520\n", encoding="utf-8"
    )
    code, _, err = _target(["--positions", str(path)], capsys)
    assert code == 2 and "a date?" in err and "serial" not in err


@pytest.mark.parametrize("bom", ["", "\ufeff"])
def test_files_joined_with_their_headers_name_the_repeated_header(
    bom: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``cat monday.csv tuesday.csv > week.csv``: the second header is a row of the result.

    Its ``lon`` cell was refused as a number ("got 'lon'"); the refusal now names the row as
    the header again (with the second file's byte-order mark too), and where it is, by the
    csv module's count.
    """
    header = "id;lon;lat;accuracy_m;observed_at\r\n"
    monday = bom + header + "1;18,06528;59,3325;8;1716213600\r\n"
    tuesday = bom + header + "2;18,0661;59,3331;8;1716213700\r\n"
    path = tmp_path / "week.csv"
    path.write_bytes((monday + tuesday).encode("utf-8"))
    rows = list(csv.reader(io.StringIO((monday + tuesday).replace("\ufeff", "")), delimiter=";"))
    again = next(i for i, r in enumerate(rows) if i and r == rows[0])
    code, _, err = _target(["--positions", str(path)], capsys)
    assert code == 2
    assert f"row {again} (line {again + 1}): repeats the header line" in err


def test_the_json_answer_carries_the_positions_files_warnings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A second source's rows appended with lon and lat the other way round, read by a program.

    ``geotarget target ... > result.json`` is how a program runs it; the warning that 20
    devices are never told (their rows look swapped) went to stderr only, and the JSON said
    ``"warnings": []`` beside its recipients. Recipients are checked against a Geod oracle
    over the rows as written; the swapped rows are not told, and the JSON now says so.
    """
    geod = pyproj.Geod(ellps="WGS84")
    rows = []
    for k in range(60):
        lon, lat = 18.06528 + (k % 10 - 4.5) * 0.0004, 59.3325 + (k // 10 - 2.5) * 0.0002
        rows.append((f"a{k}", lon, lat))
    swapped = [(f"b{k}", 59.3325 + k * 1e-4, 18.06528 + k * 1e-4) for k in range(20)]
    path = tmp_path / "devices.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "lon", "lat", "accuracy_m", "observed_at", "source"])
        for i, x, y in rows + swapped:
            writer.writerow([i, f"{x:.7f}", f"{y:.7f}", "0", "1716213600", "x"])
    code, out, err = _target(["--positions", str(path)], capsys)
    assert code == 0, err
    answer = json.loads(out)
    expected = sorted(i for i, x, y in rows if geod.inv(18.06528, 59.3325, x, y)[2] <= 500)
    assert sorted(answer["recipients"]) == expected and len(expected) == 60
    warnings = answer["warnings"]
    assert any(
        w.startswith("devices.csv: 20 of 80 fixes") and "lon and lat swapped" in w for w in warnings
    ), warnings
    assert any(w.startswith("devices.csv: ignored unknown column(s) 'source'") for w in warnings)
    for w in warnings:  # as stderr shows them
        assert f"geotarget target: warning: {w}" in err


@pytest.mark.parametrize("word", ["NaN", "null", "N/A", "#N/A"])
def test_an_accuracy_written_as_missing_is_told_what_a_fix_needs(
    word: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``accuracy_m`` written ``NaN`` in a row with a fix (pandas' and Excel's missing value).

    The refusal said "must be a number, or empty for an unknown value"; emptied as told, the
    cell was refused again, as a fix's accuracy must be given. It now says that at once; the
    row without a fix that leaves the cell empty is read (an oracle count from the csv module).
    """
    text = (
        "id\tlon\tlat\taccuracy_m\tobserved_at\n"
        "1\t18.06528\t59.3325\t8\t1716213600\n"
        "2\t\t\t\t\n"
        f"3\t18.0661\t59.3331\t{word}\t1716213600\n"
    )
    path = tmp_path / "devices.tsv"
    path.write_text(text, encoding="utf-8")
    code, _, err = _target(["--positions", str(path)], capsys)
    assert code == 2 and "row 3 (line 4), column accuracy_m" in err
    assert "only in a row without a fix" in err and "a fix needs its accuracy" in err
    path.write_text(text.replace(word, "5"), encoding="utf-8")
    code, out, err = _target(["--positions", str(path)], capsys)
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(text), delimiter="\t"))
    no_fix = sum(1 for r in rows if not r["lon"] and not r["lat"])
    assert json.loads(out)["counts"]["no_fix"] == no_fix == 1


@pytest.mark.parametrize("command", ["target", "preview"])
@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
def test_a_positions_file_given_as_the_alert_is_not_quoted(
    command: str, bom: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--alert devices.csv --positions alert.xml``: the two files the other way round.

    The CAP reader refused the CSV as text before the root element and quoted its first 40
    characters: the header and the first device's id and longitude (``1;0701234567;18,0``).
    The command now says the alert is a table, quoting nothing of it.
    """
    from geotarget.cli import main

    devices = tmp_path / "devices.csv"
    devices.write_bytes(
        bom + b"id;lon;lat;accuracy_m;observed_at\r\n0701234567;18,06528;59,3325;8;1716213600\r\n"
    )
    if command == "target":
        argv = ["target", "--alert", str(devices), "--positions", str(EXPLOSION), "--at", AT]
    else:
        argv = ["preview", str(devices)]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2
    assert "CAP document has 1 problem: it is not XML but delimited text" in err
    assert "--positions" in err
    assert "0701234567" not in err and "18,0" not in err
    # A CAP document still reaches the CAP reader, whatever it holds.
    assert main(["preview", str(EXPLOSION)]) == 0


def test_an_encoding_for_a_parquet_file_is_refused_as_unused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--encoding cp1252`` with a Parquet file was silently ignored (Parquet text is UTF-8).

    Refused as ``--observed-at`` and ``--accuracy-m`` are when the file has the column: an
    option the run does not use is named, so that nobody believes it applied.
    """
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    path = tmp_path / "devices.parquet"
    pd.DataFrame(
        {"id": ["Pär"], "lon": [18.06528], "lat": [59.3325], "accuracy_m": [8.0]}
        | {"observed_at": [1716213600]}
    ).to_parquet(path)
    code, out, err = _target(["--positions", str(path), "--encoding", "cp1252"], capsys)
    assert code == 2 and out == ""
    assert "devices.parquet: is a Parquet file" in err and "--encoding is not used" in err
    code, out, err = _target(["--positions", str(path)], capsys)
    assert code == 0 and json.loads(out)["recipients"] == ["Pär"]


@pytest.mark.parametrize(
    ("name", "order"),
    [("latlng", ", latitude first"), ("Coordinates", ""), ("lon/lat", ", longitude first")],
)
def test_a_column_of_points_as_one_text_is_named_with_its_order(
    name: str, order: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Map apps and web forms export a point as one cell, ``"59.3325,18.06528"``.

    The refusal said only that lon and lat are lacking; it now names the column as holding
    both, and which comes first where its name says so. The cell itself is not quoted.
    """
    path = tmp_path / "devices.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", name, "accuracy_m", "observed_at"])
        writer.writerow(["0701234567", "59.3325,18.06528", "8", "1716213600"])
    code, _, err = _target(["--positions", str(path)], capsys)
    assert code == 2 and "lacks column(s) lon, lat" in err
    assert f"column {name.lower()!r} looks like both coordinates in one cell{order}: split" in err
    assert "59.3325" not in err and "0701234567" not in err
