"""Region files as GIS tools write them, checked against shapely and pyproj on the source."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import pytest
import shapely
import shapely.geometry as sg

from geotarget.errors import InvalidRegions
from geotarget.regions import RegionSet

#: Three SWEREF 99 TM blocks side by side, 200 km each: long edges, so vertices are added.
BLOCKS = {
    "c": sg.box(300_000, 6_500_000, 500_000, 6_700_000),
    "a": sg.box(500_000, 6_500_000, 700_000, 6_700_000),
    "b": sg.box(700_000, 6_500_000, 900_000, 6_700_000),
}


def _oracle(geoms: dict[str, Any], crs: str, lon: Any, lat: Any) -> Any:
    """The lowest code whose source geometry, in its own CRS, covers each point."""
    x, y = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon, lat)
    points = shapely.points(x, y)
    out = np.full(len(points), "", dtype=object)
    for code in sorted(geoms, reverse=True):
        out[shapely.covers(geoms[code], points)] = code
    return out.astype(str)


def _points(seed: int) -> tuple[Any, Any]:
    """Random points around the blocks of both tests."""
    rng = np.random.default_rng(seed)
    return rng.uniform(10.0, 24.0, 4000), rng.uniform(58.0, 61.0, 4000)


def _with_empty_parts() -> dict[str, Any]:
    """The blocks with empty parts (as GeoPandas writes them) and a ring of no positions."""
    return {
        "c": _polygon_with_an_empty_ring(BLOCKS["c"]),
        "a": shapely.from_wkt(f"MULTIPOLYGON (EMPTY, {BLOCKS['a'].wkt[len('POLYGON ') :]})"),
        "b": shapely.from_wkt(f"MULTIPOLYGON ({BLOCKS['b'].wkt[len('POLYGON ') :]}, EMPTY)"),
    }


def _polygon_with_an_empty_ring(polygon: Any) -> Any:
    import struct

    shell = shapely.get_coordinates(polygon.exterior)
    wkb = struct.pack("<BII", 1, 3, 2) + struct.pack("<I", len(shell))
    wkb += b"".join(struct.pack("<dd", float(x), float(y)) for x, y in shell)
    wkb += struct.pack("<I", 0)
    geom = shapely.from_wkb(wkb)
    assert isinstance(geom, sg.Polygon)
    assert len(geom.interiors) == 1 and geom.interiors[0].is_empty
    return geom


def test_empty_parts_and_rings_in_a_projected_file_locate_like_the_source(
    tmp_path: Path,
) -> None:
    """Empty parts and rings in a SWEREF 99 TM file: every point where the source puts it."""
    geoms = _with_empty_parts()
    lon, lat = _points(1)
    expected = _oracle(BLOCKS, "EPSG:3006", lon, lat)
    assert (expected != "").sum() > 1000 and (expected == "").sum() > 1000
    ring = {c: shapely.get_coordinates(g.exterior).tolist() for c, g in BLOCKS.items()}
    shapes = {  # as GeoPandas' to_json writes MULTIPOLYGON (EMPTY, ...)
        "c": {"type": "Polygon", "coordinates": [ring["c"]]},
        "a": {"type": "MultiPolygon", "coordinates": [[[]], [ring["a"]]]},
        "b": {"type": "MultiPolygon", "coordinates": [[ring["b"]], [[]]]},
    }
    doc = {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3006"}},
        "features": [
            {"type": "Feature", "properties": {"code": c}, "geometry": g} for c, g in shapes.items()
        ],
    }
    path = tmp_path / "blocks.geojson"
    path.write_text(json.dumps(doc))
    got = RegionSet.from_geojson(path, code_property="code", level="block").locate(lon, lat)
    np.testing.assert_array_equal(got, expected)

    pa = pytest.importorskip("pyarrow", reason="GeoParquet needs the geoparquet extra")
    import pyarrow.parquet as pq

    geo = {
        "version": "1.0.0",
        "primary_column": "geometry",
        "columns": {
            "geometry": {
                "encoding": "WKB",
                "geometry_types": [],
                "crs": pyproj.CRS("EPSG:3006").to_json_dict(),
            }
        },
    }
    table = pa.table(
        {"code": list(geoms), "geometry": [bytes(shapely.to_wkb(g)) for g in geoms.values()]}
    ).replace_schema_metadata({b"geo": json.dumps(geo).encode()})
    pq.write_table(table, tmp_path / "blocks.parquet")
    regions = RegionSet.from_geoparquet(
        tmp_path / "blocks.parquet", code_property="code", level="b"
    )
    np.testing.assert_array_equal(regions.locate(lon, lat), expected)


def _swapped_doc(crs: str, rings: dict[str, Any]) -> dict[str, Any]:
    """A FeatureCollection of one Polygon per code, in ``crs``."""
    return {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": crs}},
        "features": [
            {
                "type": "Feature",
                "properties": {"code": c},
                "geometry": {"type": "Polygon", "coordinates": [r]},
            }
            for c, r in rings.items()
        ],
    }


@pytest.mark.parametrize(
    ("crs", "order"),
    [("urn:ogc:def:crs:EPSG::4258", "(lat, lon)"), ("EPSG:3006", "(northing, easting)")],
)
def test_coordinates_in_the_crs_axis_order_are_refused_not_moved_away(crs: str, order: str) -> None:
    """ETRS89 written lat first (as WFS servers write it) or SWEREF northing first: named."""
    to_crs = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    blocks = {"a": sg.box(17.0, 59.0, 18.0, 60.0), "b": sg.box(18.0, 59.0, 19.0, 60.0)}
    rings = {
        c: np.column_stack(to_crs.transform(*shapely.get_coordinates(g.exterior).T)).tolist()
        for c, g in blocks.items()
    }
    right = RegionSet.from_geojson(_swapped_doc(crs, rings), code_property="code", level="x")
    lon, lat = _points(2)
    expected = _oracle({c: sg.Polygon(r) for c, r in rings.items()}, crs, lon, lat)
    assert (expected == "a").any() and (expected == "b").any()
    np.testing.assert_array_equal(right.locate(lon, lat), expected)
    swapped = {c: [[y, x] for x, y in r] for c, r in rings.items()}
    with pytest.raises(InvalidRegions) as err:
        RegionSet.from_geojson(_swapped_doc(crs, swapped), code_property="code", level="x")
    text = str(err.value)
    assert text.startswith("features[0] (code 'a')")
    assert order in text and "swap them" in text and "area of use" in text


#: Two SWEREF 99 TM blocks sharing the 200 km border x = 600 km; only the east one has a vertex
#: along it, a third of the way up (a T-junction, as where a third region's corner meets it).
_Y3 = 6_500_000 + 200_000 / 3
WEST: list[list[float]] = [
    [500_000, 6_500_000],
    [600_000, 6_500_000],
    [600_000, 6_700_000],
    [500_000, 6_700_000],
]
EAST: list[list[float]] = [
    [600_000, 6_500_000],
    [700_000, 6_500_000],
    [700_000, 6_700_000],
    [600_000, 6_700_000],
]
EAST_T = [*EAST, [600_000, _Y3]]


@pytest.mark.parametrize("east_code", ["b", "a"])
def test_a_border_with_a_vertex_on_one_side_only_leaves_no_sliver(east_code: str) -> None:
    """Points along a T-junction border are each in one region, none in a gap or hole."""
    doc = _swapped_doc("EPSG:3006", {"a": [*WEST, WEST[0]]})
    doc["features"].append(
        {
            "type": "Feature",
            "properties": {"code": east_code},
            "geometry": {"type": "Polygon", "coordinates": [[*EAST_T, EAST_T[0]]]},
        }
    )
    regions = RegionSet.from_geojson(doc, code_property="code", level="x")
    source: dict[str, Any] = {"a": sg.Polygon(WEST)}
    source[east_code] = shapely.union(source.get(east_code, sg.Polygon()), sg.Polygon(EAST_T))
    ys = np.linspace(6_500_100, 6_699_900, 20_001)
    to_lonlat = pyproj.Transformer.from_crs("EPSG:3006", "EPSG:4326", always_xy=True)
    for dx in (-0.3, -0.02, -0.005, 0.0, 0.005, 0.02, 0.3):
        lon, lat = to_lonlat.transform(np.full(ys.size, 600_000 + dx), ys)
        got = regions.locate(lon, lat)
        assert (got != "").all(), f"{(got == '').sum()} points {dx} m off the border in none"
        if abs(dx) > 0.1:  # beyond the 0.1 m an edge may stray: where the source puts it
            np.testing.assert_array_equal(got, _oracle(source, "EPSG:3006", lon, lat))
    if east_code == "a":
        merged = regions["a"].geometry
        assert isinstance(merged, sg.Polygon) and not merged.interiors


def test_a_narrow_neck_within_a_millimetre_stays_a_valid_region() -> None:
    """A ring's own vertex 0.8 mm from its opposite edge is not put on it (no pinched ring)."""
    neck: list[list[float]] = [
        [500_000, 6_500_000],
        [600_000, 6_500_000],
        [600_000, 6_600_000],
        [550_000.0005, 6_600_000],
        [550_000.0003, 6_575_000],
        [550_000.0005, 6_550_000],
        [549_999.9995, 6_550_000],
        [549_999.9995, 6_600_000],
        [500_000, 6_600_000],
        [500_000, 6_500_000],
    ]
    assert sg.Polygon(neck).is_valid
    regions = RegionSet.from_geojson(
        _swapped_doc("EPSG:3006", {"a": neck}), code_property="code", level="x"
    )
    lon, lat = _points(3)
    expected = _oracle({"a": sg.Polygon(neck)}, "EPSG:3006", lon, lat)
    np.testing.assert_array_equal(regions.locate(lon, lat), expected)


@pytest.mark.parametrize("crs", ["EPSG:3006", "EPSG:4326"])
def test_geoparquet_in_geoarrow_encoding_locates_like_the_source(tmp_path: Path, crs: str) -> None:
    """GeoPandas' geometry_encoding="geoarrow": each point where the source puts it."""
    gpd = pytest.importorskip("geopandas", reason="writes the GeoArrow-encoded file")
    to_crs = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    lonlat = {
        "a": sg.Polygon(
            [(17, 59), (18, 59), (18, 60), (17, 60)], [[(17.4, 59.4), (17.6, 59.4), (17.5, 59.6)]]
        ),
        "b": sg.MultiPolygon([sg.box(18, 59, 19, 60), sg.box(19.5, 59.5, 20, 60)]),
        "c": sg.Polygon([(17.4, 59.4), (17.6, 59.4), (17.5, 59.6)]),  # a's enclave
    }
    source = {
        c: shapely.transform(g, lambda xy: np.column_stack(to_crs.transform(*xy.T)))
        for c, g in lonlat.items()
    }
    frame = gpd.GeoDataFrame({"code": list(source)}, geometry=list(source.values()), crs=crs)
    frame.to_parquet(tmp_path / "arrow.parquet", geometry_encoding="geoarrow")
    frame.to_parquet(tmp_path / "wkb.parquet")
    lon, lat = _points(4)
    expected = _oracle(source, crs, lon, lat)
    assert set(expected) == {"", "a", "b", "c"}
    for name in ("arrow.parquet", "wkb.parquet"):
        regions = RegionSet.from_geoparquet(tmp_path / name, code_property="code", level="x")
        np.testing.assert_array_equal(regions.locate(lon, lat), expected)


def test_geoparquet_in_a_non_polygonal_encoding_names_the_ones_read(tmp_path: Path) -> None:
    """A GeoArrow 'point' column is refused, listing the encodings that are read."""
    pa = pytest.importorskip("pyarrow", reason="GeoParquet needs the geoparquet extra")
    import pyarrow.parquet as pq

    geo = {
        "version": "1.1.0",
        "primary_column": "geometry",
        "columns": {"geometry": {"encoding": "point", "geometry_types": ["Point"]}},
    }
    points = pa.array([{"x": 18.0, "y": 59.0}])
    table = pa.table({"code": ["a"], "geometry": points})
    pq.write_table(
        table.replace_schema_metadata({b"geo": json.dumps(geo).encode()}), tmp_path / "p.parquet"
    )
    with pytest.raises(
        InvalidRegions, match=r"one of WKB, 'polygon', 'multipolygon' \(got encoding 'point'\)"
    ):
        RegionSet.from_geoparquet(tmp_path / "p.parquet", code_property="code", level="x")


def test_a_geometrycollection_of_polygons_is_the_region_they_cover() -> None:
    """Members overlapping, nested or multipart, in SWEREF 99 TM: located like their union."""
    members = [
        sg.box(500_000, 6_500_000, 600_000, 6_600_000),
        sg.box(550_000, 6_550_000, 650_000, 6_650_000),  # overlaps the first
        sg.GeometryCollection([sg.MultiPolygon([sg.box(700_000, 6_500_000, 720_000, 6_520_000)])]),
    ]
    doc = _swapped_doc("EPSG:3006", {})
    doc["features"] = [
        {
            "type": "Feature",
            "properties": {"code": "a"},
            "geometry": sg.mapping(sg.GeometryCollection(members)),
        },
        {"type": "Feature", "properties": {"code": "b"}, "geometry": sg.mapping(BLOCKS["c"])},
    ]
    regions = RegionSet.from_geojson(doc, code_property="code", level="x")
    lon, lat = _points(5)
    expected = _oracle({"a": shapely.union_all(members), "b": BLOCKS["c"]}, "EPSG:3006", lon, lat)
    assert (expected == "a").sum() > 50
    np.testing.assert_array_equal(regions.locate(lon, lat), expected)

    doc["features"][0]["geometry"] = sg.mapping(
        sg.GeometryCollection([members[0], sg.LineString([(0, 0), (1, 1)])])
    )
    with pytest.raises(InvalidRegions, match=r"features\[0\] \(code 'a'\) .* of LineString"):
        RegionSet.from_geojson(doc, code_property="code", level="x")


_FEATURE = {
    "type": "Feature",
    "properties": {"code": "a"},
    "geometry": {"type": "Polygon", "coordinates": [[[18, 59], [19, 59], [19, 60], [18, 59]]]},
}


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (b"PAR1\x15\x04\x15\xa6\x84" + bytes(range(256)), "RegionSet.from_geoparquet"),
        (b"PK\x03\x04\x14\x00\x00\x00\x08\x00\xa6\x84", "ZIP archive"),
        (b"\x00\x00\x27\x0a\x00\x00\x00\x00\xa6\x84", "shapefile"),
        (b"SQLite format 3\x00\x10\x00\xa6\x84", "SQLite"),
        ((json.dumps(_FEATURE) + "\n").encode() * 2, "GeoJSON Text Sequences"),
    ],
)
def test_a_file_of_another_format_is_named_with_what_to_do(
    tmp_path: Path, data: bytes, said: str
) -> None:
    """GeoParquet, a zipped shapefile, GeoJSONSeq given to from_geojson: said what it is."""
    path = tmp_path / "regions.geojson"
    path.write_bytes(data)
    with pytest.raises(InvalidRegions, match=r"^region file .* is not valid JSON") as err:
        RegionSet.from_geojson(path, code_property="code", level="x")
    assert said in str(err.value)


def test_geojson_given_to_from_geoparquet_is_named(tmp_path: Path) -> None:
    """A GeoJSON file read as GeoParquet: told to use from_geojson, not only 'magic bytes'."""
    pytest.importorskip("pyarrow", reason="GeoParquet needs the geoparquet extra")
    path = tmp_path / "regions.parquet"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [_FEATURE]}))
    with pytest.raises(InvalidRegions, match=r"it is JSON: read GeoJSON with .*from_geojson"):
        RegionSet.from_geoparquet(path, code_property="code", level="x")


def _rings(geoms: Any) -> list[Any]:
    """Every ring of every polygon of ``geoms``."""
    return list(shapely.get_rings(shapely.get_parts(list(geoms))))


@pytest.mark.parametrize("crs", ["EPSG:3021", "EPSG:4258", "EPSG:3857", "EPSG:4124"])
def test_lantmateriet_counties_reprojected_by_pyproj_locate_like_the_source(
    shared_data: Path, crs: str
) -> None:
    """The shared SWEREF 99 TM counties moved to another CRS: points where that file puts them."""
    text = (shared_data / "sweden" / "lan_lantmateriet_sweref99tm.geojson").read_bytes()
    doc = json.loads(text)
    move = pyproj.Transformer.from_crs("EPSG:3006", crs, always_xy=True)
    source: dict[str, Any] = {}
    for feature in doc["features"]:
        geom = shapely.transform(
            sg.shape(feature["geometry"]), lambda xy: np.column_stack(move.transform(*xy.T))
        )
        feature["geometry"] = sg.mapping(geom)
        source[feature["properties"]["lan_kod"]] = geom
    doc["crs"] = {"type": "name", "properties": {"name": crs}}
    regions = RegionSet.from_geojson(doc, code_property="lan_kod", level="county")
    back = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    xy = shapely.get_coordinates(list(source.values()))
    rng = np.random.default_rng(7)
    vlon, vlat = back.transform(*xy[rng.choice(len(xy), 3000, replace=False)].T)
    near = rng.normal(0.0, 2e-4, (2, 3000))  # ~20 m: both sides of borders
    # 1 m off the middle of the 500 longest edges, both sides: where an edge moved by its
    # ends alone would bow away from its course by up to tens of metres.
    a = np.concatenate([shapely.get_coordinates(r)[:-1] for r in _rings(source.values())])
    b = np.concatenate([shapely.get_coordinates(r)[1:] for r in _rings(source.values())])
    longest = np.argsort(-np.hypot(*(b - a).T))
    a, b = a[longest[:500]], b[longest[:500]]
    side = (b - a)[:, ::-1] * [1.0, -1.0] / np.hypot(*(b - a).T)[:, None]
    scale = 1.0 if pyproj.CRS(crs).is_projected else 1.0 / 111_000.0
    mids = np.concatenate([(a + b) / 2 + side * scale, (a + b) / 2 - side * scale])
    mlon, mlat = back.transform(*mids.T)
    lon = np.concatenate([vlon, vlon + near[0], rng.uniform(10.5, 24.5, 3000), mlon])
    lat = np.concatenate([vlat, vlat + near[1], rng.uniform(55.0, 69.5, 3000), mlat])
    expected = _oracle(source, crs, lon, lat)
    assert (expected != "").sum() > 5000
    got = regions.locate(lon, lat)
    differ = np.flatnonzero(got != expected)
    # Edges may stray 0.1 m from their course in the file's CRS (and the file's own vertices
    # are exact): only a point that close to a boundary may go the other way.
    x, y = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:3006", always_xy=True).transform(
        lon[differ], lat[differ]
    )
    borders = shapely.union_all(
        [shapely.boundary(sg.shape(f["geometry"])) for f in json.loads(text)["features"]]
    )
    far = shapely.distance(shapely.points(x, y), borders) > 0.15
    assert not far.any(), list(zip(lon[differ][far], lat[differ][far], strict=True))[:3]
