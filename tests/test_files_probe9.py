"""Files as real tools write them, byte for byte, read by the position and region readers.

Oracles are the csv and json modules, shapely and pyproj on the source, never the readers.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import pytest
import shapely
import shapely.geometry as sg

from geotarget.errors import InvalidInput, InvalidPositions, InvalidRegions
from geotarget.regions import RegionSet

# ---------------------------------------------------------------------------------------------
# Region files in one Swedish grid, named as another
# ---------------------------------------------------------------------------------------------


def _features(shared_data: Path, name: str, code: str, codes: set[str] | None) -> list[Any]:
    """(code, name, shapely geometry in SWEREF 99 TM) of a Lantmäteriet file's features."""
    doc = json.loads((shared_data / "sweden" / name).read_text(encoding="utf-8"))
    assert doc["crs"]["properties"]["name"] == "urn:ogc:def:crs:EPSG::3006"
    return [
        (f["properties"][code], f["properties"]["namn"], sg.shape(f["geometry"]))
        for f in doc["features"]
        if codes is None or f["properties"][code] in codes
    ]


def _written_in(features: list[Any], epsg: int, code: str) -> dict[str, Any]:
    """The features as a tool writes them in EPSG ``epsg``, without a ``crs`` member."""
    to = pyproj.Transformer.from_crs("EPSG:3006", f"EPSG:{epsg}", always_xy=True)
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {code: c, "namn": n},
                "geometry": sg.mapping(
                    shapely.transform(g, lambda xy: np.column_stack(to.transform(*xy.T)))
                ),
            }
            for c, n, g in features
        ],
    }


@pytest.mark.parametrize(
    ("written", "named"),
    [
        (3006, 3021),  # SWEREF 99 TM read as RT90 2.5 gon V: the North Sea
        (3021, 3006),  # RT90 read as SWEREF 99 TM: Finland and Russia
        (3021, 3011),  # RT90 read as Stockholm's local SWEREF 99 18 00
        (32633, 3021),  # UTM 33N (as Norway's and EU data come) read as RT90
    ],
)
def test_a_region_file_in_one_swedish_grid_named_as_another_is_refused(
    shared_data: Path, written: int, named: int
) -> None:
    """Every county would cover none of its territory: refused, naming the CRS and its area."""
    features = _features(shared_data, "lan_lantmateriet_sweref99tm.geojson", "lan_kod", None)
    doc = _written_in(features, written, "lan_kod")
    with pytest.raises(InvalidRegions) as info:
        RegionSet.from_geojson(doc, code_property="lan_kod", level="county", crs=f"EPSG:{named}")
    message = str(info.value)
    assert f"crs 'EPSG:{named}' puts at lon" in message
    assert "most features lie far from where the CRS is used" in message
    area = pyproj.CRS(f"EPSG:{named}").area_of_use
    assert area is not None and area.name[:20] in message
    assert "name the CRS the file was written in" in message


@pytest.mark.parametrize(("code", "written", "named"), [("0980", 3006, 3021), ("1280", 3021, 3006)])
def test_one_municipality_in_one_grid_named_as_another_is_refused(
    shared_data: Path, code: str, written: int, named: int
) -> None:
    """Gotland in SWEREF 99 TM read as RT90, Malmö in RT90 read as SWEREF 99 TM: 800 km off."""
    features = _features(
        shared_data, "kommuner_lantmateriet_sweref99tm.geojson", "kommun_kod", {code}
    )
    doc = _written_in(features, written, "kommun_kod")
    with pytest.raises(InvalidRegions, match="most features lie far from where the CRS is used"):
        RegionSet.from_geojson(
            doc, code_property="kommun_kod", level="municipality", crs=f"EPSG:{named}"
        )


@pytest.mark.parametrize(("lon", "lat"), [(31.1, 70.37), (30.0, 69.7), (4.8, 61.0), (5.3, 60.4)])
def test_norway_mapped_in_utm_33n_still_reads(lon: float, lat: float) -> None:
    """Kartverket maps all of Norway in UTM 33N: Vardø and the west coast lie far from 15°E."""
    x, y = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:25833", always_xy=True).transform(
        lon, lat
    )
    square = sg.box(x - 5_000, y - 5_000, x + 5_000, y + 5_000)
    doc = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"code": "n"}, "geometry": sg.mapping(square)}
        ],
    }
    regions = RegionSet.from_geojson(doc, code_property="code", level="x", crs="EPSG:25833")
    assert regions["n"].geometry.covers(sg.Point(lon, lat))


def test_swedish_grids_used_past_their_epsg_area_of_use_still_read(shared_data: Path) -> None:
    """Haparanda, Pajala and Strömstad in RT90 2.5 gon V, UTM 33N and 34N: national use."""
    features = _features(
        shared_data,
        "kommuner_lantmateriet_sweref99tm.geojson",
        "kommun_kod",
        {"2583", "2521", "1486"},
    )
    assert len(features) == 3
    back = pyproj.Transformer.from_crs("EPSG:3006", "EPSG:4326", always_xy=True)
    for epsg in (3021, 32633, 32634, 25833, 3006):
        for feature in features:  # each alone: a file of one municipality
            code, _, geom = feature
            doc = _written_in([feature], epsg, "kommun_kod")
            regions = RegionSet.from_geojson(
                doc, code_property="kommun_kod", level="municipality", crs=f"EPSG:{epsg}"
            )
            inside = shapely.get_coordinates(geom.representative_point())[0]
            lon, lat = back.transform(*inside)
            assert regions[code].geometry.covers(sg.Point(lon, lat)), (epsg, code)


# ---------------------------------------------------------------------------------------------
# Other map formats given as region GeoJSON
# ---------------------------------------------------------------------------------------------

#: The first bytes of files as GDAL (ogr2ogr, QGIS "Save Features As") and ArcGIS write them.
_OTHER_FORMATS = {
    "lan.kml": (
        b'<?xml version="1.0" encoding="utf-8" ?>\n<kml xmlns="http://www.opengis.net/kml/2.2">\n'
        b'<Document id="root_doc">\n<Schema name="lan" id="lan">\n',
        "it is KML, not GeoJSON: convert it, e.g. ogr2ogr -f GeoJSON",
    ),
    "lan.gml": (
        b'<?xml version="1.0" encoding="utf-8" ?>\n<ogr:FeatureCollection\n'
        b'     gml:id="aFeatureCollection"\n'
        b'     xmlns:gml="http://www.opengis.net/gml/3.2">\n',
        "it is GML, not GeoJSON",
    ),
    "lan.fgb": (
        b"fgb\x03fgb\x01\xdc\x02\x00\x00\x10\x00\x00\x00",
        "it is a FlatGeobuf file: convert it",
    ),
    "lan_arcgis.json": (
        b'{"displayFieldName":"","geometryType":"esriGeometryPolygon","spatialReference":'
        b'{"wkid":3006,"latestWkid":3006},"fields":[{"name":"lan_kod","type":'
        b'"esriFieldTypeString"}],"features":[{"attributes":{"lan_kod":"01"},"geometry":'
        b'{"rings":[[[600000,6500000],[600000,6600000],[700000,6600000],[600000,6500000]]]}}]}',
        "it is Esri JSON, an ArcGIS REST answer with f=json: ask for f=geojson",
    ),
    "lan.topojson": (
        b'{"type":"Topology","objects":{"lan":{"type":"GeometryCollection","geometries":[]}},'
        b'"arcs":[]}',
        "it is TopoJSON",
    ),
}


@pytest.mark.parametrize("name", sorted(_OTHER_FORMATS))
def test_kml_gml_flatgeobuf_esri_json_and_topojson_are_named_with_what_to_do(
    tmp_path: Path, name: str
) -> None:
    data, told = _OTHER_FORMATS[name]
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(InvalidRegions) as info:
        RegionSet.from_geojson(path, code_property="lan_kod", level="county")
    message = str(info.value)
    assert message.startswith(f"region file '{path}': ")
    assert told in message


# ---------------------------------------------------------------------------------------------
# Positions: times as Java's ZonedDateTime writes them
# ---------------------------------------------------------------------------------------------


def _read(path: Path, **options: Any) -> Any:
    from geotarget import _position_files

    positions, _ = _position_files.read(path, **options)
    return positions


def _instants(texts: list[str]) -> list[dt.datetime]:
    """The oracle: each text's offset, read with the standard library alone."""
    out = []
    for text in texts:
        head = text.split("[", 1)[0].replace("Z", "+00:00")
        out.append(dt.datetime.fromisoformat(head).astimezone(dt.timezone.utc))
    return out


def test_java_zoned_date_times_read_by_their_offset(tmp_path: Path) -> None:
    """ZonedDateTime.toString(): seconds left out when zero, the zone's name in brackets."""
    texts = [
        "2026-03-01T12:00+01:00[Europe/Stockholm]",
        "2026-03-29T03:00:00.125+02:00[Europe/Stockholm]",
        "2026-10-25T02:30+02:00[Europe/Stockholm]",  # the repeated hour, first time
        "2026-10-25T02:30+01:00[Europe/Stockholm]",  # and second time
        "2026-03-01T11:00Z[UTC]",
        "2026-03-01T11:00Z[Etc/UTC]",
        "2026-06-01T00:00+02:00[!Europe/Stockholm]",
    ]
    rows = [(f"d{i}", 18.0 + i / 100, 59.0, 10, t) for i, t in enumerate(texts)]
    path = tmp_path / "java.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "lon", "lat", "accuracy_m", "observed_at"])
        writer.writerows(rows)
    positions = _read(path)
    want = np.array([t.replace(tzinfo=None) for t in _instants(texts)], dtype="datetime64[us]")
    assert positions.ids.tolist() == [r[0] for r in rows]
    assert positions.observed_at.tolist() == want.tolist()
    assert positions.lon.tolist() == [r[1] for r in rows]


@pytest.mark.parametrize(
    ("text", "told"),
    [
        (
            "2026-07-01T12:00+01:00[Europe/Stockholm]",
            "has the UTC offset +01:00, which Europe/Stockholm does not show at that instant "
            "(it shows +02:00)",
        ),
        ("2026-03-01T12:00+01:00[Europe/Stokholm]", "the time zone database does not know"),
    ],
)
def test_a_java_zoned_date_time_its_zone_belies_is_refused(
    tmp_path: Path, text: str, told: str
) -> None:
    path = tmp_path / "java.csv"
    path.write_text(f"id,lon,lat,accuracy_m,observed_at\na,18.07,59.33,10,{text}\n")
    with pytest.raises(InvalidPositions) as info:
        _read(path)
    message = str(info.value)
    assert message.startswith("java.csv: row 1 (line 2), column observed_at: ")
    assert told in message and repr(text) in message


def test_a_geoparquet_file_whose_projjson_names_another_grid_is_refused_by_name(
    shared_data: Path, tmp_path: Path
) -> None:
    """GeoPandas writes the CRS as PROJJSON: refused naming it, never quoting 2,000 characters."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    features = _features(shared_data, "lan_lantmateriet_sweref99tm.geojson", "lan_kod", None)
    # SWEREF 99 TM coordinates under RT90's PROJJSON, as gdf.set_crs(3021, allow_override=True)
    # followed by to_parquet writes them.
    geo = {
        "version": "1.1.0",
        "primary_column": "geometry",
        "columns": {
            "geometry": {
                "encoding": "WKB",
                "geometry_types": ["MultiPolygon", "Polygon"],
                "crs": pyproj.CRS("EPSG:3021").to_json_dict(),
            }
        },
    }
    table = pa.table(
        {
            "lan_kod": [c for c, _, _ in features],
            "geometry": [shapely.to_wkb(g) for _, _, g in features],
        }
    ).replace_schema_metadata({"geo": json.dumps(geo)})
    path = tmp_path / "lan.parquet"
    pq.write_table(table, path)
    with pytest.raises(InvalidRegions) as info:
        RegionSet.from_geoparquet(path, code_property="lan_kod", level="county")
    message = str(info.value)
    assert "which crs 'RT90 2.5 gon V' (EPSG:3021) puts at lon" in message
    assert "most features lie far from where the CRS is used" in message
    assert "$schema" not in message and len(message) < 1000
    with pytest.raises(InvalidRegions) as info:
        RegionSet.from_geoparquet(path, code_property="lan_kod", level="county", crs="EPSG:3006")
    assert "disagrees with the CRS the data declares ('RT90 2.5 gon V' (EPSG:3021))" in str(
        info.value
    )


def test_parse_time_reads_a_java_zoned_date_time_as_the_file_reader_does() -> None:
    """parse_time is "the way geotarget reads it everywhere": the same forms as the files."""
    from geotarget import parse_time

    got = parse_time("2026-03-29T03:00:00.125+02:00[Europe/Stockholm]", field="at")
    assert got == dt.datetime(2026, 3, 29, 1, 0, 0, 125000, tzinfo=dt.timezone.utc)
    assert got.utcoffset() == dt.timedelta(hours=2)  # the offset as written
    with pytest.raises(InvalidInput) as info:
        parse_time("2026-07-01T12:00+01:00[Europe/Stockholm]", field="at")
    assert str(info.value).startswith("at has the UTC offset +01:00, which Europe/Stockholm")


#: Windows PowerShell 5.1's ``Export-Csv -UseCulture`` in a Swedish locale: its type line, every
#: field quoted, the list separator ';', decimal commas, CRLF.
_POWERSHELL = (
    b"#TYPE Selected.System.Management.Automation.PSCustomObject\r\n"
    b'"id";"lon";"lat";"accuracy_m";"observed_at"\r\n'
    b'"0701234567";"18,0686";"59,3293";"12,5";"2026-03-01T12:00:00+01:00"\r\n'
    b'"dev-3";"13,0038";"55,605";"30";"2026-10-25T02:30:00+01:00"\r\n'
)


def test_powershells_type_line_is_named_with_the_switch_that_leaves_it_out(
    tmp_path: Path,
) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(_POWERSHELL)
    with pytest.raises(InvalidInput) as info:
        _read(path)
    message = str(info.value)
    assert message.startswith("export.csv: line 1: lacks column(s) id, lon, lat")
    assert "line 2 names them: delete the line(s) before it" in message
    assert "Export-Csv and ConvertTo-Csv write unless given -NoTypeInformation" in message
    # Without it (-NoTypeInformation), the file reads as the csv module reads it.
    path.write_bytes(_POWERSHELL.split(b"\r\n", 1)[1])
    positions = _read(path)
    rows = list(csv.reader(io.StringIO(path.read_text()), delimiter=";"))[1:]
    assert positions.ids.tolist() == [r[0] for r in rows]
    assert positions.lon.tolist() == [float(r[1].replace(",", ".")) for r in rows]
    assert positions.lat.tolist() == [float(r[2].replace(",", ".")) for r in rows]
    assert positions.accuracy_m.tolist() == [float(r[3].replace(",", ".")) for r in rows]
    want = [t.replace(tzinfo=None) for t in _instants([r[4] for r in rows])]
    assert positions.observed_at.tolist() == want
