"""Region files: every failure a geotarget error naming the feature (or file) and the rule."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from geotarget.errors import InvalidRegions, InvalidType
from geotarget.regions import RegionSet

SQUARE = [[18, 59], [19, 59], [19, 60], [18, 60], [18, 59]]


def _fc(rings: list[Any], code: str = "A", crs: str | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"code": code},
                "geometry": {"type": "Polygon", "coordinates": rings},
            }
        ],
    }
    if crs is not None:
        doc["crs"] = {"type": "name", "properties": {"name": crs}}
    return doc


def _geoparquet(path: Path, columns: dict[str, Any], geo: Any) -> Path:
    pa = pytest.importorskip("pyarrow", reason="GeoParquet needs the geoparquet extra")
    import pyarrow.parquet as pq

    table = pa.table(columns).replace_schema_metadata({b"geo": json.dumps(geo).encode()})
    pq.write_table(table, path)
    return path


def _wkb() -> bytes:
    import shapely
    import shapely.geometry as sg

    return bytes(shapely.to_wkb(sg.box(18, 59, 19, 60)))


GOOD_GEO = {
    "version": "1.0.0",
    "primary_column": "geometry",
    "columns": {"geometry": {"encoding": "WKB", "geometry_types": ["Polygon"]}},
}


def test_geoparquet_naming_a_missing_geometry_column_is_invalid_regions(tmp_path: Path) -> None:
    """A geometry column renamed after writing: not pyarrow's ArrowInvalid."""
    path = _geoparquet(tmp_path / "r.parquet", {"code": ["A"], "geom": [_wkb()]}, GOOD_GEO)
    with pytest.raises(InvalidRegions, match=r"r\.parquet'.*names the geometry column 'geometr"):
        RegionSet.from_geoparquet(path, code_property="code", level="district")


@pytest.mark.parametrize("entry", ["WKB", ["WKB"], 7])
def test_geoparquet_column_metadata_that_is_no_object_is_invalid_regions(
    tmp_path: Path, entry: object
) -> None:
    """Not an AttributeError from ``meta.get``."""
    geo = {"primary_column": "geometry", "columns": {"geometry": entry}}
    path = _geoparquet(tmp_path / "r.parquet", {"code": ["A"], "geometry": [_wkb()]}, geo)
    with pytest.raises(InvalidRegions, match=r"'geo' metadata is malformed"):
        RegionSet.from_geoparquet(path, code_property="code", level="district")


def test_a_damaged_geoparquet_page_is_invalid_regions(tmp_path: Path) -> None:
    """A data page overwritten, the footer intact: not pyarrow's OSError."""
    path = _geoparquet(tmp_path / "r.parquet", {"code": ["A"], "geometry": [_wkb()]}, GOOD_GEO)
    data = bytearray(path.read_bytes())
    data[8:60] = b"\xff" * 52
    path.write_bytes(bytes(data))
    with pytest.raises(InvalidRegions, match=r"cannot read GeoParquet '.*r\.parquet': "):
        RegionSet.from_geoparquet(path, code_property="code", level="district")


@pytest.mark.parametrize("columns", [False, True])
def test_a_geoparquet_footer_claiming_billions_of_rows_is_refused_before_reading(
    tmp_path: Path, columns: bool
) -> None:
    """A 1.5 kB file whose footer says 2**31 rows: refused, not read with 1.2 GB in 8 s."""
    from _parquet_footer import claim_rows

    path = _geoparquet(tmp_path / "r.parquet", {"code": ["A"], "geometry": [_wkb()]}, GOOD_GEO)
    path.write_bytes(claim_rows(path.read_bytes(), 2**31, columns=columns))
    rule = "its footer says it holds 2,147,483,648 rows" if columns else "its footer contradicts"
    with pytest.raises(InvalidRegions, match=rf"^GeoParquet '.*r\.parquet': {rule}"):
        RegionSet.from_geoparquet(path, code_property="code", level="district")


def test_geoparquet_wkb_of_the_wrong_type_is_invalid_regions(tmp_path: Path) -> None:
    """A geometry column of integers: shapely's TypeError becomes InvalidRegions."""
    path = _geoparquet(tmp_path / "r.parquet", {"code": ["A"], "geometry": [7]}, GOOD_GEO)
    with pytest.raises(InvalidRegions, match=r"row 0 \(code 'A'\) has unreadable WKB"):
        RegionSet.from_geoparquet(path, code_property="code", level="district")


HOLE_WITH_NAN = (
    '{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"code":"A"},'
    '"geometry":{"type":"Polygon","coordinates":[[[18,59],[19,59],[19,60],[18,60],[18,59]],'
    "[[18.2,59.2],[18.4,59.2],[NaN,59.4],[18.2,59.2]]]}}]}"
)


@pytest.mark.parametrize("repair", [False, True])
def test_a_nan_vertex_in_a_hole_is_refused_before_any_repair(repair: bool) -> None:
    """make_valid would drop the hole without a word, and the enclave would be in region A."""
    with pytest.raises(InvalidRegions) as err:
        RegionSet.from_geojson(HOLE_WITH_NAN, code_property="code", level="d", repair=repair)
    assert str(err.value) == (
        "features[0] (code 'A') ring 1 (hole 1), vertex 2: coordinates must be finite numbers "
        "(got x=nan, y=59.4); NaN (how Python's json writes a missing float) or infinity is no "
        "position, and is not repaired"
    )


def test_an_infinite_vertex_of_a_multipolygon_names_its_polygon() -> None:
    """Not the 'looks projected, pass crs=' hint."""
    doc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"code": "A"},
                "geometry": {
                    "type": "MultiPolygon",
                    "coordinates": [
                        [SQUARE],
                        [[[20, 59], [21, 59], [float("inf"), 60], [20, 59]]],
                    ],
                },
            }
        ],
    }
    with pytest.raises(InvalidRegions, match=r"polygon 1, exterior ring, vertex 2: .*x=inf"):
        RegionSet.from_geojson(doc, code_property="code", level="d", crs="EPSG:3006")


@pytest.mark.parametrize(
    ("declared", "given"),
    [
        ("urn:ogc:def:crs:OGC:1.3:CRS84", "EPSG:4326"),
        ("urn:ogc:def:crs:EPSG::4326", "OGC:CRS84"),
        ("EPSG:4326", "urn:ogc:def:crs:OGC:1.3:CRS84"),
    ],
)
def test_lon_lat_wgs84_names_agree_whatever_their_axis_order(declared: str, given: str) -> None:
    """GeoJSON's coordinates are lon/lat: CRS84 and EPSG:4326 name the same data here."""
    regions = RegionSet.from_geojson(
        _fc([SQUARE], crs=declared), code_property="code", level="d", crs=given
    )
    assert regions.locate([18.5], [59.5]).tolist() == ["A"]


def test_a_really_different_crs_still_disagrees() -> None:
    """EPSG:3006 and CRS84 differ."""
    with pytest.raises(InvalidRegions, match=r"crs 'EPSG:3006' disagrees with the CRS"):
        RegionSet.from_geojson(
            _fc([SQUARE], crs="urn:ogc:def:crs:OGC:1.3:CRS84"),
            code_property="code",
            level="d",
            crs="EPSG:3006",
        )


@pytest.mark.parametrize("crs", ["EPSG:3006", "EPSG:3857"])
def test_degrees_labelled_with_a_projected_crs_are_refused(crs: str) -> None:
    """Read as metres they would become a speck at the false origin: refused, saying why."""
    with pytest.raises(InvalidRegions) as err:
        RegionSet.from_geojson(_fc([SQUARE], code="0180"), code_property="code", level="m", crs=crs)
    message = str(err.value)
    assert message.startswith("features[0] (code '0180') has coordinates such as x=18, y=59")
    assert f"crs '{crs}' is projected (in metres, area of use " in message
    assert "are the coordinates degrees?" in message


def test_projected_metres_with_their_crs_are_still_read() -> None:
    """SWEREF 99 TM metres around Stockholm, declared: reprojected as before."""
    ring = [[674000, 6580000], [675000, 6580000], [675000, 6581000], [674000, 6581000]]
    regions = RegionSet.from_geojson(
        _fc([[*ring, ring[0]]]), code_property="code", level="d", crs="EPSG:3006"
    )
    west, south, east, north = regions.bounds
    assert 18.0 < west < east < 18.2 and 59.3 < south < north < 59.4


def test_a_padded_code_names_its_feature() -> None:
    """'0114  ' (a fixed-width DBF export) is refused naming features[0]."""
    with pytest.raises(InvalidRegions, match=r"^features\[0\] \(code '0114  '\): code must"):
        RegionSet.from_geojson(_fc([SQUARE], code="0114  "), code_property="code", level="m")


def test_positions_mixing_2_and_3_numbers_get_a_rule_not_numpys_words() -> None:
    ring = [[18, 59, 0], [19, 59], [19, 60, 0], [18, 60], [18, 59, 0]]
    with pytest.raises(InvalidRegions) as err:
        RegionSet.from_geojson(_fc([ring]), code_property="code", level="m")
    assert "inhomogeneous" not in str(err.value)
    assert "mix 2 and 3 numbers" in str(err.value)


def test_geojson_text_with_a_bom_is_read_as_text() -> None:
    """open().read() of a UTF-8-BOM file keeps the BOM: still GeoJSON text, not a path."""
    text = "\ufeff" + json.dumps(_fc([SQUARE]))
    assert RegionSet.from_geojson(text, code_property="code", level="m").codes == ("A",)


def test_an_unreadable_path_is_named_within_bounds() -> None:
    """A long text that is no path is cut in the message."""
    with pytest.raises(InvalidRegions) as err:
        RegionSet.from_geojson("x" * 5000, code_property="code", level="m")
    assert len(str(err.value)) < 400


@pytest.mark.parametrize(
    ("crs", "kind"),
    [("EPSG:5613", "Vertical CRS"), ("EPSG:4978", "Geocentric CRS")],
)
def test_a_crs_without_horizontal_positions_is_refused(crs: str, kind: str) -> None:
    """RH2000 heights (pyproj swapped the axes: the square landed at lat 18) or geocentric."""
    with pytest.raises(InvalidRegions) as err:
        RegionSet.from_geojson(_fc([SQUARE]), code_property="code", level="d", crs=crs)
    assert str(err.value).startswith(f"crs '{crs}' is a {kind}, not a geographic or projected")


@pytest.mark.parametrize(
    ("crs", "ring", "vertex"),
    [
        # Web Mercator x beyond the antimeridian: pyproj wrapped it to lon -16.8, silently
        (
            "EPSG:3857",
            [[0, 0], [1e9, 0], [1e9, 1e7], [0, 1e7], [0, 0]],
            "x=1000000000, y=0",
        ),
        # SWEREF 99 TM y far beyond the pole: folded back to lat 89.9
        (
            "EPSG:3006",
            [[5e5, 6.5e6], [6e5, 6.5e6], [6e5, 5e7], [5e5, 6.5e6]],
            "x=600000, y=50000000",
        ),
    ],
)
def test_coordinates_outside_the_crs_domain_are_refused(
    crs: str, ring: list[list[float]], vertex: str
) -> None:
    with pytest.raises(InvalidRegions) as err:
        RegionSet.from_geojson(_fc([ring]), code_property="code", level="d", crs=crs)
    message = str(err.value)
    assert message.startswith(f"features[0] (code 'A') has a vertex {vertex} outside the domain")
    assert f"of crs '{crs}'" in message


def test_compound_and_datum_shifted_crs_are_still_read() -> None:
    """SWEREF 99 TM + RH2000 and RT90 (its datum shift round-trips within millimetres)."""
    metres = [[6e5, 6.5e6], [7e5, 6.5e6], [7e5, 6.6e6], [6e5, 6.5e6]]
    rt90 = [[1.6e6, 6.6e6], [1.7e6, 6.6e6], [1.7e6, 6.7e6], [1.6e6, 6.6e6]]
    for crs, ring in (("EPSG:5845", metres), ("EPSG:3021", rt90)):
        regions = RegionSet.from_geojson(_fc([ring]), code_property="code", level="d", crs=crs)
        west, south, east, north = regions.bounds
        assert 10 < west < east < 25 and 55 < south < north < 70


@pytest.mark.parametrize(
    ("doc", "after"),
    [
        (
            {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": None}]},
            "features[0] has no property 'code' (code_property)",
        ),
        (
            _fc([SQUARE], code="A")
            | {"crs": {"type": "name", "properties": {"name": "EPSG:5613"}}},
            "crs 'EPSG:5613' is a Vertical CRS",
        ),
        ("{", "region GeoJSON is not valid JSON"),
    ],
)
def test_an_error_in_a_region_file_names_the_file(tmp_path: Path, doc: Any, after: str) -> None:
    """Loading several files, the message must say which one is wrong."""
    path = tmp_path / "kommuner.geojson"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    for source in (path, str(path)):
        with pytest.raises(InvalidRegions) as err:
            RegionSet.from_geojson(source, code_property="code", level="m")
        assert str(err.value).startswith(f"region file {str(path)!r}: {after}")
    with pytest.raises(InvalidRegions) as err:  # text names no file
        RegionSet.from_geojson(
            doc if isinstance(doc, str) else json.dumps(doc), code_property="code", level="m"
        )
    assert str(err.value).startswith(after)


def test_overlapping_regions_of_a_file_name_the_file(tmp_path: Path) -> None:
    doc = _fc([SQUARE], code="A")
    doc["features"].append({**doc["features"][0], "properties": {"code": "B"}})
    path = tmp_path / "lan.geojson"
    path.write_text(json.dumps(doc))
    with pytest.raises(InvalidRegions, match=r"^region file '.*lan\.geojson': regions 'A' and 'B'"):
        RegionSet.from_geojson(path, code_property="code", level="m")


def test_a_geoparquet_row_error_names_the_file_once(tmp_path: Path) -> None:
    path = _geoparquet(tmp_path / "r.parquet", {"code": [""], "geometry": [_wkb()]}, GOOD_GEO)
    with pytest.raises(InvalidRegions) as err:
        RegionSet.from_geoparquet(path, code_property="code", level="district")
    message = str(err.value)
    assert message.startswith(f"GeoParquet {str(path)!r}: row 0 property 'code' must be")
    assert message.count("r.parquet") == 1
    path = _geoparquet(tmp_path / "s.parquet", {"code": ["A"]}, GOOD_GEO)  # already named
    with pytest.raises(InvalidRegions) as err:
        RegionSet.from_geoparquet(path, code_property="code", level="district")
    assert str(err.value).count("s.parquet") == 1


@pytest.mark.parametrize("props", [[], "", 0, False])
def test_properties_that_are_no_object_are_named_as_such(props: object) -> None:
    """Not 'has no property code; its properties are: none' for a list or a string."""
    doc = _fc([SQUARE])
    doc["features"][0]["properties"] = props
    with pytest.raises(InvalidRegions) as err:
        RegionSet.from_geojson(doc, code_property="code", level="m")
    assert str(err.value).startswith(f"features[0].properties must be an object (got {props!r}")


def test_a_bad_name_gets_no_hint_about_codes() -> None:
    doc = _fc([SQUARE])
    doc["features"][0]["properties"]["name"] = 7
    with pytest.raises(InvalidRegions) as err:
        RegionSet.from_geojson(doc, code_property="code", name_property="name", level="m")
    assert str(err.value) == "features[0] property 'name' must be a non-empty string (got int 7)"


def test_a_nan_vertex_in_geoparquet_wkb_is_named_without_a_numpy_warning(tmp_path: Path) -> None:
    """shapely.from_wkb warned 'invalid value' first: an error where warnings are errors."""
    import shapely
    import shapely.geometry as sg

    with np.errstate(invalid="ignore"):
        blob = bytes(shapely.to_wkb(sg.Polygon([(18, 59), (19, float("nan")), (19, 60)])))
    path = _geoparquet(tmp_path / "r.parquet", {"code": ["A"], "geometry": [blob]}, GOOD_GEO)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InvalidRegions, match=r"row 0 \(code 'A'\) exterior ring, vertex 1: "):
            RegionSet.from_geoparquet(path, code_property="code", level="district")


@pytest.mark.parametrize(
    ("geometry", "reason"),
    [
        ({"type": "Polygon"}, "a Polygon needs a 'coordinates' member (it has: type)"),
        ({"coordinates": [SQUARE]}, "'type' must be a geometry type such as 'Polygon' (got None)"),
        (
            {"type": "MultiPolygon", "coordinates": [SQUARE]},
            "coordinates[0][0] must be a linear ring, a list of positions (got [18, 59]) "
            "(a position: one nesting level too few, is the type right?)",
        ),
        (
            {"type": "Polygon", "coordinates": [[SQUARE]]},
            "coordinates[0][0] must be a position of 2 or 3 numbers (got [[18, 59], [19, 59], "
            "[19, 60], [18, 60], [18, 59]]) (a MultiPolygon nesting: is the type right?)",
        ),
        (
            {"type": "MultiPolygon", "coordinates": [[SQUARE], []]},
            "coordinates[1] must be a non-empty list of linear rings (got [])",
        ),
        (
            {"type": "Polygon", "coordinates": [[[18], [19, 59], [19, 60], [18, 59]]]},
            "coordinates[0][0] must be a position of 2 or 3 numbers (got [18])",
        ),
        (
            {"type": "Polygon", "coordinates": [SQUARE, [[18.2, 59.2], [18.4, 59.2]]]},
            "coordinates[1] must be a linear ring of at least 4 positions, the last equal to "
            "the first (got 2)",
        ),
    ],
)
def test_malformed_geometry_names_the_member_and_the_rule(
    geometry: dict[str, Any], reason: str
) -> None:
    """Not shapely's or Python's words ("'coordinates'", "'int' object is not iterable")."""
    doc = _fc([SQUARE])
    doc["features"][0]["geometry"] = geometry
    with pytest.raises(InvalidRegions) as err:
        RegionSet.from_geojson(doc, code_property="code", level="m")
    assert str(err.value) == (
        f"features[0].geometry (code 'A') is not valid GeoJSON geometry: {reason}"
    )


@pytest.mark.parametrize("crs", ["IAU_2015:49900", "+proj=longlat +a=3396190 +b=3376200"])
def test_a_crs_with_no_way_to_wgs84_is_invalid_regions_not_a_proj_error(crs: str) -> None:
    """A CRS of Mars: pyproj.exceptions.ProjError from Transformer.from_crs escaped."""
    with pytest.raises(InvalidRegions) as err:
        RegionSet.from_geojson(_fc([SQUARE]), code_property="code", level="d", crs=crs)
    message = str(err.value)
    assert message.startswith(f"crs '{crs}' cannot be reprojected to WGS84 lon/lat: ")
    assert "celestial body" in message and not message.endswith(")")


def test_an_engineering_crs_is_refused_with_its_article() -> None:
    wkt = (
        'ENGCRS["site",EDATUM["site"],CS[Cartesian,2],AXIS["x",east,LENGTHUNIT["metre",1]],'
        'AXIS["y",north,LENGTHUNIT["metre",1]]]'
    )
    with pytest.raises(InvalidRegions, match=r"is an Engineering CRS, not a geographic or"):
        RegionSet.from_geojson(_fc([SQUARE]), code_property="code", level="d", crs=wkt)


@pytest.mark.parametrize(
    ("kw", "error", "message"),
    [
        ({"crs": 3006}, InvalidType, "crs must be a CRS name such as 'EPSG:3006' or None (got int"),
        (
            {"crs": "pyproj"},
            InvalidType,
            "crs must be a CRS name such as 'EPSG:3006' or None "
            "(got a pyproj CRS; pass its text, crs='EPSG:3006')",
        ),
        ({"level": "Kommun"}, InvalidRegions, "level must be a lowercase identifier"),
        ({"code_property": None}, InvalidType, "code_property must be a property name (got"),
        ({"name_property": 5}, InvalidType, "name_property must be a property name or None"),
        ({"repair": "yes"}, InvalidType, "repair must be True or False (got str 'yes')"),
    ],
)
def test_loader_arguments_are_checked_before_reading_and_named(
    tmp_path: Path, kw: dict[str, Any], error: type[Exception], message: str
) -> None:
    """Not an AttributeError for crs=3006, not 'features[0] (code 'A'): level must be'."""
    if kw.get("crs") == "pyproj":
        import pyproj

        kw = {"crs": pyproj.CRS("EPSG:3006")}
    args: dict[str, Any] = {"code_property": "code", "level": "m", **kw}
    with pytest.raises(error) as err:
        RegionSet.from_geojson(_fc([SQUARE]), **args)
    assert str(err.value).startswith(message.split(" (got")[0])
    assert message in str(err.value)
    path = _geoparquet(tmp_path / "r.parquet", {"code": ["A"], "geometry": [_wkb()]}, GOOD_GEO)
    with pytest.raises(error, match=re.escape(message)):
        RegionSet.from_geoparquet(path, **args)


def test_one_feature_in_degrees_among_projected_ones_is_refused() -> None:
    """Read as SWEREF 99 TM metres it became a speck at lon 10.5, lat 0.

    Its region covered none of its territory: a device there was beyond the border.
    """
    metres = [[6e5, 6.5e6], [7e5, 6.5e6], [7e5, 6.6e6], [6e5, 6.5e6]]
    doc = _fc([metres], code="0114")
    doc["features"].append({**_fc([SQUARE])["features"][0], "properties": {"code": "0115"}})
    with pytest.raises(InvalidRegions) as err:
        RegionSet.from_geojson(doc, code_property="code", level="m", crs="EPSG:3006")
    message = str(err.value)
    assert message.startswith(
        "features[1] (code '0115') has coordinates such as x=18, y=59, all within lon "
        "[-180, 180] and lat [-90, 90], unlike other features; read in crs 'EPSG:3006' (metres)"
    )
    assert "outside the CRS's area of use (Sweden - onshore and offshore)" in message


def test_a_small_projected_feature_near_other_ones_is_still_read() -> None:
    """A tiny feature is refused only at the false origin, outside the area of use."""
    ring = [[674000, 6580000], [674100, 6580000], [674100, 6580100], [674000, 6580000]]
    utm = [[0, 0], [150, 0], [150, 80], [0, 0]]  # at UTM 33N's false origin, lon 10.5, lat 0
    regions = RegionSet.from_geojson(_fc([ring]), code_property="code", level="d", crs="EPSG:3006")
    assert regions.codes == ("A",)
    doc = _fc([[[500000, 6580000], [500100, 6580000], [500100, 6580100], [500000, 6580000]]])
    doc["features"].append({**_fc([utm])["features"][0], "properties": {"code": "B"}})
    with pytest.raises(InvalidRegions, match=r"features\[1\] \(code 'B'\) has coordinates"):
        RegionSet.from_geojson(doc, code_property="code", level="d", crs="EPSG:32633")


def test_metres_labelled_lon_lat_say_so_not_after_reprojection() -> None:
    """Nothing was reprojected: the message said 'after reprojection (bounds (np.float64...'."""
    metres = [[6e5, 6.5e6], [7e5, 6.5e6], [7e5, 6.6e6], [6e5, 6.5e6]]
    with pytest.raises(InvalidRegions) as err:
        RegionSet.from_geojson(
            _fc([metres], crs="urn:ogc:def:crs:OGC:1.3:CRS84"), code_property="code", level="d"
        )
    assert str(err.value) == (
        "features[0] (code 'A') has coordinates such as x=600000, y=6.5e+06, outside the "
        "lon/lat range: the data looks projected but is labelled lon/lat (crs "
        "'urn:ogc:def:crs:OGC:1.3:CRS84'); is that CRS right? name the real one (for example "
        "EPSG:3006 for SWEREF 99 TM)"
    )


def test_a_feature_declaring_another_crs_is_refused() -> None:
    """GeoJSON 2008 let a feature override the collection's CRS; it was silently ignored."""
    metres = [[6e5, 6.5e6], [7e5, 6.5e6], [7e5, 6.6e6], [6e5, 6.5e6]]
    doc = _fc([SQUARE], crs="urn:ogc:def:crs:OGC:1.3:CRS84")
    doc["features"].append(
        {
            **_fc([metres])["features"][0],
            "properties": {"code": "B"},
            "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3006"}},
        }
    )
    with pytest.raises(InvalidRegions) as err:
        RegionSet.from_geojson(doc, code_property="code", level="d")
    assert str(err.value) == (
        "features[1] (code 'B') declares crs 'urn:ogc:def:crs:EPSG::3006', unlike the "
        "collection ('urn:ogc:def:crs:OGC:1.3:CRS84'); a file holds one CRS, named on the "
        "FeatureCollection"
    )
    same = _fc([SQUARE], crs="EPSG:4326")
    same["features"][0]["geometry"]["crs"] = {"type": "name", "properties": {"name": "CRS84"}}
    assert RegionSet.from_geojson(same, code_property="code", level="d").codes == ("A",)
