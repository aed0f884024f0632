"""Position and region files, sixteenth probe: as spreadsheets, scripts and GIS tools write them.

Positions: Excel in a Swedish locale, Excel's "Unicode text", LibreOffice's quoted cells, old
Mac line ends and a script that wrote decimal commas into a comma-separated file. Regions:
GeoJSON with a key given twice and a ring whose closing vertex is NaN. Oracles are the values
written and distances from :class:`pyproj.Geod`, never geotarget's readers.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geotarget._position_files import read
from geotarget.areas import Area
from geotarget.cli import main
from geotarget.errors import InvalidGeoJSON, InvalidRegions
from geotarget.regions import RegionSet

ROOT = Path(__file__).resolve().parents[1]
ALERT = ROOT / "docs" / "examples" / "sos_explosion.xml"
AT = "2024-05-20T16:05+02:00"
CENTRE = (18.06528, 59.3325)  # the example alert's 500 m circle (Sergels torg)
RADIUS_M = 500.0

needs_examples = pytest.mark.skipif(
    not ALERT.is_file(), reason="docs/examples is not beside the tests (installed-wheel run)"
)

#: (id, lon, lat, accuracy_m, Stockholm wall time): one inside, one 7.7 km east, one near.
DEVICES = [
    ("0701234567", 18.06528, 59.3325, 8.0, "2024-05-20 16:00"),
    ("0709876543", 18.2, 59.3325, 12.5, "2024-05-20 15:59"),
    ("0705555555", 18.0661, 59.3331, 20.0, "2024-05-20 15:58"),
]
#: The same wall times in UTC (Stockholm is UTC+2 in May): what the reader must make of them.
UTC = ["2024-05-20T14:00", "2024-05-20T13:59", "2024-05-20T13:58"]


def _comma(x: float) -> str:
    return repr(x).replace(".", ",")


def _excel_swedish(path: Path) -> list[str]:
    """Excel, Swedish locale, "CSV (semicolon separated)": cp1252, CRLF, decimal comma."""
    with path.open("w", encoding="cp1252", newline="") as f:
        w = csv.writer(f, delimiter=";", lineterminator="\r\n")
        w.writerow(["id", "Longitud", "Latitud", "accuracy_m", "observed_at", "Län"])
        for i, lon, lat, acc, t in DEVICES:
            w.writerow([i, _comma(lon), _comma(lat), _comma(acc), t, "Stockholms län"])
    return ["--timezone", "Europe/Stockholm"]


def _excel_unicode_text(path: Path) -> list[str]:
    """Excel's "Unicode text": UTF-16 LE with a BOM, tab-separated, CRLF, decimal comma."""
    buf = io.StringIO(newline="")
    w = csv.writer(buf, delimiter="\t", lineterminator="\r\n")
    w.writerow(["id", "lon", "lat", "accuracy_m", "observed_at"])
    for i, lon, lat, acc, t in DEVICES:
        w.writerow([i, _comma(lon), _comma(lat), _comma(acc), t.replace(" ", "T") + "+02:00"])
    path.write_bytes(b"\xff\xfe" + buf.getvalue().encode("utf-16-le"))
    return []


def _libreoffice_quoted(path: Path) -> list[str]:
    """LibreOffice with "Quote all text cells" and numbers as text: every cell quoted."""
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, quoting=csv.QUOTE_ALL, lineterminator="\n")
        w.writerow(["ID", "LON", "Lat ", "Accuracy_M", "Observed_At"])
        for i, lon, lat, acc, t in DEVICES:
            w.writerow([i, repr(lon), repr(lat), repr(acc), t.replace(" ", "T") + ":00+0200"])
    return []


def _old_mac(path: Path) -> list[str]:
    """Lines ended by CR alone, a separator ending every line, blank lines, a BOM."""
    lines = ["id,lng,latitude,accuracy,observed_at,"]
    for i, lon, lat, acc, t in DEVICES:
        lines += [f"{i},{lon!r},{lat!r},{acc!r},{t.replace(' ', 'T')}+02:00,", ""]
    path.write_bytes(b"\xef\xbb\xbf" + "\r".join(lines).encode("utf-8") + b"\r")
    return []


@needs_examples
@pytest.mark.parametrize(
    "write", [_excel_swedish, _excel_unicode_text, _libreoffice_quoted, _old_mac]
)
def test_tools_files_read_as_written(
    write: Callable[[Path], list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each tool's file reads to the values written, and the command tells who pyproj puts inside."""
    path = tmp_path / "devices.csv"
    extra = write(path)
    zone = "Europe/Stockholm" if extra else None
    positions, _ = read(path, timezone=zone)
    assert [str(i) for i in positions.ids] == [d[0] for d in DEVICES]
    assert np.asarray(positions.lon).tolist() == [d[1] for d in DEVICES]
    assert np.asarray(positions.lat).tolist() == [d[2] for d in DEVICES]
    assert np.asarray(positions.accuracy_m).tolist() == [d[3] for d in DEVICES]
    assert np.asarray(positions.observed_at).astype("datetime64[m]").tolist() == [
        np.datetime64(t, "m").tolist() for t in UTC
    ]

    out = io.StringIO()
    argv = ["target", "--alert", str(ALERT), "--positions", str(path), "--at", AT, *extra]
    assert main(argv, out=out) == 0, capsys.readouterr().err
    geod = pyproj.Geod(ellps="WGS84")
    # An Explosion fails open: a device whose accuracy disk reaches the circle is told.
    inside = [
        d[0] for d in DEVICES if geod.inv(CENTRE[0], CENTRE[1], d[1], d[2])[2] <= RADIUS_M + d[3]
    ]
    assert sorted(json.loads(out.getvalue())["recipients"]) == sorted(inside)
    assert "Traceback" not in capsys.readouterr().err


@needs_examples
def test_decimal_commas_in_a_comma_separated_file_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A comma file of decimal-comma numbers is refused saying so, without quoting the cells."""
    path = tmp_path / "devices.csv"
    body = "".join(
        f"{i},{_comma(lon)},{_comma(lat)},8,2024-05-20T16:00:00+02:00\n"
        for i, lon, lat, _, _ in DEVICES
    )
    path.write_text("id,lon,lat,accuracy_m,observed_at\n" + body, encoding="utf-8")
    argv = ["target", "--alert", str(ALERT), "--positions", str(path), "--at", AT]
    assert main(argv, out=io.StringIO()) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "devices.csv: row 1 (line 2): has 7 fields, the header has 5" in err
    assert "decimal comma" in err
    assert "06528" not in err and "3325" not in err  # a position is personal data


@needs_examples
def test_extra_text_fields_get_no_decimal_comma_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A row with an unquoted comma in a text cell is not said to hold decimal commas."""
    path = tmp_path / "devices.csv"
    path.write_text(
        "id,lon,lat,accuracy_m,observed_at\n"
        "a,18.06528,59.3325,8,2024-05-20T16:00:00+02:00,Sergels torg, Stockholm\n",
        encoding="utf-8",
    )
    argv = ["target", "--alert", str(ALERT), "--positions", str(path), "--at", AT]
    assert main(argv, out=io.StringIO()) == 2
    err = capsys.readouterr().err
    assert "has 7 fields, the header has 5" in err
    assert "decimal comma" not in err


#: Id letters a spreadsheet keeps: Swedish letters, spaces and the dialects' own delimiters and
#: quote (the writer quotes them). Letters that are punctuation in Mac Roman or code page 850
#: read as cp1252 are left out: a file of them is refused (documented), not misread.
_ID_LETTERS = "abcXYZ019åäöÅÄÖé -_,;\"'#/"
_ROWS = st.lists(
    st.tuples(
        st.text(_ID_LETTERS, min_size=1, max_size=10).map(lambda s: f"d{s}x"),
        st.floats(11.0, 24.0),
        st.floats(55.5, 69.0),
        st.integers(1, 99_999).map(lambda n: n / 100),
        st.integers(1_700_000_000, 1_800_000_000),
    ),
    min_size=1,
    max_size=6,
    unique_by=lambda r: r[0],
)
_DIALECTS = st.tuples(
    st.sampled_from([",", ";", "\t"]),
    st.booleans(),  # every cell quoted (else only those that need it)
    st.booleans(),  # decimal comma (quoted when the delimiter is a comma)
    st.sampled_from(["\n", "\r\n", "\r"]),
    st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]),
    st.sampled_from(["epoch", "Z", "+02:00", " +02:00"]),
    st.booleans(),  # a delimiter ending every line and a blank line after every row
)


def _time_text(epoch: int, form: str) -> str:
    utc = dt.datetime.fromtimestamp(epoch, dt.timezone.utc)
    if form == "epoch":
        return str(epoch)
    if form == "Z":
        return utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    local = utc.astimezone(dt.timezone(dt.timedelta(hours=2)))
    return local.isoformat(sep=form[0] if form[0] == " " else "T")


@settings(max_examples=40)
@given(rows=_ROWS, dialect=_DIALECTS)
def test_any_dialect_reads_as_written(
    rows: list[tuple[str, float, float, float, int]],
    dialect: tuple[str, bool, bool, str, str, str, bool],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Files the csv module writes in the dialects spreadsheets use read to the values written."""
    delim, quote_all, comma, end, encoding, form, padded = dialect
    buf = io.StringIO(newline="")
    if quote_all or (comma and delim == ","):
        w = csv.writer(buf, delimiter=delim, quoting=csv.QUOTE_ALL, lineterminator=end)
    else:
        w = csv.writer(buf, delimiter=delim, lineterminator=end)
    pad = [""] if padded else []
    w.writerow(["id", "lon", "lat", "accuracy_m", "observed_at", *pad])
    for i, lon, lat, acc, epoch in rows:
        numbers = [repr(x).replace(".", ",") if comma else repr(x) for x in (lon, lat, acc)]
        w.writerow([i, *numbers, _time_text(epoch, form), *pad])
        if padded:
            buf.write(end)
    path = tmp_path_factory.mktemp("dialect") / "devices.csv"
    path.write_bytes(buf.getvalue().encode(encoding))
    # cp1252 with lines ending in CR alone is Excel for Mac's Mac Roman until told otherwise.
    told = "cp1252" if encoding == "cp1252" and end == "\r" else None
    positions, _ = read(path, encoding=told)
    assert [str(i) for i in positions.ids] == [r[0] for r in rows]
    assert np.asarray(positions.lon).tolist() == [r[1] for r in rows]
    assert np.asarray(positions.lat).tolist() == [r[2] for r in rows]
    assert np.asarray(positions.accuracy_m).tolist() == [r[3] for r in rows]
    seconds = np.asarray(positions.observed_at).astype("datetime64[s]").astype(np.int64)
    assert seconds.tolist() == [r[4] for r in rows]


def _square(lon: float, lat: float) -> list[list[float]]:
    return [[lon, lat], [lon + 0.1, lat], [lon + 0.1, lat + 0.1], [lon, lat + 0.1], [lon, lat]]


def _feature(code: str, ring: list[list[float]]) -> str:
    geometry = json.dumps({"type": "Polygon", "coordinates": [ring]})
    return f'{{"type": "Feature", "properties": {{"kod": "{code}"}}, "geometry": {geometry}}}'


@pytest.mark.parametrize(
    ("text", "key", "where"),
    [
        (  # a code given twice: which region is it?
            '{"type": "FeatureCollection", "features": ['
            + _feature("0180", _square(18.0, 59.3)).replace(
                '"kod": "0180"', '"kod": "0180", "kod": "0181"'
            )
            + "]}",
            "kod",
            "features[0].properties",
        ),
        (  # two geometries, 400 km apart: a hand-merged file
            '{"type": "FeatureCollection", "features": ['
            + _feature("0180", _square(18.0, 59.3))[:-1]
            + ', "geometry": '
            + json.dumps({"type": "Polygon", "coordinates": [_square(13.0, 55.6)]})
            + "}]}",
            "geometry",
            "features[0]",
        ),
        (  # two feature lists: concatenated exports
            '{"type": "FeatureCollection", "features": ['
            + _feature("0180", _square(18.0, 59.3))
            + '], "features": ['
            + _feature("0181", _square(18.1, 59.3))
            + "]}",
            "features",
            "the document itself",
        ),
    ],
)
def test_region_geojson_with_a_key_twice_is_refused(
    text: str, key: str, where: str, tmp_path: Path
) -> None:
    """A GeoJSON object giving a key twice is refused naming key and place, not read as the last."""
    seen: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        names = [k for k, _ in items]
        seen.extend(k for k in names if names.count(k) > 1)
        return dict(items)

    json.loads(text, object_pairs_hook=pairs)
    assert seen and seen[0] == key  # the oracle: the document does give the key twice
    path = tmp_path / "kommuner.geojson"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidRegions) as info:
        RegionSet.from_geojson(path, code_property="kod", level="municipality")
    message = str(info.value)
    assert message.startswith("region file '") and "kommuner.geojson': " in message
    assert f"gives the key {key!r} twice" in message
    assert where in message


def test_region_geojson_with_unique_keys_still_reads() -> None:
    """The same regions without a repeated key read as written (the check refuses no more)."""
    text = (
        '{"type": "FeatureCollection", "features": ['
        + _feature("0180", _square(18.0, 59.3))
        + ", "
        + _feature("0181", _square(18.1, 59.3))
        + "]}"
    )
    regions = RegionSet.from_geojson(text, code_property="kod", level="municipality")
    assert regions.codes == ("0180", "0181")
    assert regions.locate(np.array([18.05, 18.15]), np.array([59.35, 59.35])).tolist() == [
        "0180",
        "0181",
    ]


@pytest.mark.parametrize("bad", [math.nan, math.inf])
@pytest.mark.parametrize("axis", [0, 1])
def test_region_ring_closed_by_a_non_finite_vertex_names_it(bad: float, axis: int) -> None:
    """A ring whose first and last vertex hold NaN or infinity is refused naming that vertex."""
    ring = _square(18.1, 59.3)
    ring[0][axis] = ring[-1][axis] = bad
    text = (
        '{"type": "FeatureCollection", "features": ['
        + _feature("0180", _square(18.0, 59.3))
        + ", "
        + _feature("0181", ring)
        + "]}"
    )
    with pytest.raises(InvalidRegions) as info:
        RegionSet.from_geojson(text, code_property="kod", level="municipality")
    message = str(info.value)
    assert message.startswith("features[1] (code '0181') exterior ring, vertex 0: ")
    assert "coordinates must be finite numbers" in message
    assert "LinearRing" not in message  # GEOS's words hid the NaN


@pytest.mark.parametrize(
    ("names", "key"),
    [(["kod", "kod", "geometry"], "kod"), (["kod", "geometry", "geometry"], "geometry")],
)
def test_geoparquet_with_a_column_twice_names_it(
    names: list[str], key: str, tmp_path: Path
) -> None:
    """A GeoParquet file holding a column twice is refused naming it, not in pyarrow's words."""
    pa = pytest.importorskip("pyarrow", reason="GeoParquet needs the geoparquet extra")
    import pyarrow.parquet as pq
    import shapely
    import shapely.geometry as sg

    blobs = [shapely.to_wkb(sg.Polygon(_square(lon, 59.3))) for lon in (18.0, 18.1)]
    columns = {
        "kod": [pa.array(["0180", "0181"]), pa.array(["0999", "0998"])],
        "geometry": [pa.array(blobs), pa.array(blobs[::-1])],
    }
    arrays = [columns[n].pop(0) for n in names]
    geo = {
        "version": "1.0.0",
        "primary_column": "geometry",
        "columns": {"geometry": {"encoding": "WKB", "geometry_types": ["Polygon"]}},
    }
    table = pa.Table.from_arrays(arrays, names=names)
    pq.write_table(
        table.replace_schema_metadata({b"geo": json.dumps(geo).encode()}), tmp_path / "r.parquet"
    )
    with pytest.raises(InvalidRegions) as info:
        RegionSet.from_geoparquet(tmp_path / "r.parquet", code_property="kod", level="m")
    message = str(info.value)
    first, second = [j + 1 for j, n in enumerate(names) if n == key]
    assert f"column {key!r} appears twice (columns {first} and {second})" in message
    assert "FieldRef" not in message


def test_area_geojson_with_coordinates_twice_is_refused() -> None:
    """An alert area whose GeoJSON gives ``coordinates`` twice is refused, not read as the last.

    Also nested in a feature (its path named), and as bytes; one given once still reads.
    """
    first = json.dumps(_square(18.0, 59.3))
    far = json.dumps(_square(13.0, 55.6))  # 400 km away: Malmö, not Stockholm
    text = f'{{"type": "Polygon", "coordinates": [{first}], "coordinates": [{far}]}}'
    with pytest.raises(InvalidGeoJSON, match="'coordinates' twice in one object"):
        Area.from_geojson(text)
    with pytest.raises(InvalidGeoJSON, match="'coordinates' twice"):
        Area.from_geojson(text.encode())
    feature = (
        '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, '
        f'"geometry": {text}}}]}}'
    )
    with pytest.raises(InvalidGeoJSON, match=r"\(at \$\.features\[0\]\.geometry\)"):
        Area.from_geojson(feature)
    once = f'{{"type": "Polygon", "coordinates": [{first}]}}'
    assert Area.from_geojson(once).contains(18.0005, 59.3005)
