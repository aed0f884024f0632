"""Regions an integrator brings from another country, checked against shapely and pyproj.

Every expected answer comes from the test's own geometries (in their own CRS, with shapely's
``covers`` and pyproj), never from geotarget's.
"""

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
from geotarget.regions import Region, RegionHierarchy, RegionSet


def _collection(geoms: dict[str, Any], crs: str | None = None) -> dict[str, Any]:
    """A FeatureCollection as ogr2ogr writes it: code in a property, optional legacy crs."""
    doc: dict[str, Any] = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"nr": c}, "geometry": sg.mapping(g)}
            for c, g in geoms.items()
        ],
    }
    if crs is not None:
        doc["crs"] = {"type": "name", "properties": {"name": crs}}
    parsed: dict[str, Any] = json.loads(json.dumps(doc))
    return parsed


def _lowest_covering(geoms: dict[str, Any], points: Any) -> Any:
    """Per point, the lowest code whose geometry covers it, ``""`` for none (brute force)."""
    out = np.full(len(points), "", dtype=object)
    for code in sorted(geoms, reverse=True):
        out[shapely.covers(geoms[code], points)] = code
    return out.astype(str)


# --- the antimeridian: lon 180 and lon -180 are one meridian ---------------------------------

#: Chukotka split at the antimeridian as RFC 7946 asks, Kamchatka west of it and a region
#: across the strait east of it (Alaska-like), touching Chukotka along lat 64.
SEAM: dict[str, Any] = {
    "CHU": sg.MultiPolygon([sg.box(170, 64, 180, 70), sg.box(-180, 64, -170, 70)]),
    "KAM": sg.box(160, 55, 180, 64),
    "AAA": sg.box(-180, 60, -170, 64),
}


def _seam_oracle(geoms: dict[str, Any], lat: Any) -> Any:
    """The lowest code covering the point at lon 180 or at lon -180 (the same place)."""
    east = _lowest_covering(geoms, shapely.points(np.full(len(lat), 180.0), lat))
    west = _lowest_covering(geoms, shapely.points(np.full(len(lat), -180.0), lat))
    return np.array(
        [min(filter(None, (e, w)), default="") for e, w in zip(east, west, strict=True)]
    )


def test_a_point_on_the_antimeridian_gets_one_answer_whichever_sign_its_longitude_has() -> None:
    """At lon 180 and lon -180 (one meridian), locate gives the lowest code covering it."""
    regions = RegionSet.from_geojson(_collection(SEAM), code_property="nr", level="okrug")
    lat = np.array([54.0, 58.0, 61.0, 62.0, 64.0, 66.0, 70.0, 71.0])
    expected = _seam_oracle(SEAM, lat)
    assert set(expected) >= {"AAA", "CHU", "KAM", ""}
    assert regions.locate(np.full(lat.size, 180.0), lat).tolist() == expected.tolist()
    assert regions.locate(np.full(lat.size, -180.0), lat).tolist() == expected.tolist()
    for code in SEAM:
        covers = [
            bool(sg.Point(lon, la).covered_by(SEAM[code]))
            or bool(sg.Point(-lon, la).covered_by(SEAM[code]))
            for lon, la in zip([180.0] * lat.size, lat, strict=True)
        ]
        assert regions[code].contains(np.full(lat.size, -180.0), lat).tolist() == covers
        assert regions[code].contains(np.full(lat.size, 180.0), lat).tolist() == covers
    for la in lat:
        for lon in (180.0, -180.0):
            box = regions.locate_box(lon, la, lon, la)
            assert box is None or regions.locate_index(lon, la) == box, (lon, la)


def test_coarser_levels_at_the_antimeridian_are_the_ancestor_of_the_finest_answer() -> None:
    """A from_unions set and the hierarchy map the seam's finest answer up, for either sign."""
    finest = RegionSet.from_geojson(_collection(SEAM), code_property="nr", level="okrug")
    parents = {"CHU": "Z", "KAM": "Z", "AAA": "B"}
    coarse = RegionSet.from_unions(finest, parents, level="district")
    z: Any = shapely.union_all([SEAM["CHU"], SEAM["KAM"]])
    plain = RegionSet(
        Region(code=p, name=p, level="district", geometry=g)
        for p, g in (("B", SEAM["AAA"]), ("Z", z))
    )
    hierarchy = RegionHierarchy([finest, plain], parents)
    lat = np.array([58.0, 61.0, 62.0, 64.0, 66.0, 71.0])
    expected = [parents.get(c, "") for c in _seam_oracle(SEAM, lat)]
    assert "B" in expected and "Z" in expected
    for lon in (180.0, -180.0):
        at = np.full(lat.size, lon)
        assert coarse.locate(at, lat).tolist() == expected
        assert hierarchy.locate(at, lat, "district").tolist() == expected


# --- other countries' files in their own CRSs -----------------------------------------------


def _norway() -> dict[str, Any]:
    """Kommuner in UTM 33N (EPSG:25833): islands, a lake as a hole, a lake as its own region."""
    x0, y0 = 250_000.0, 6_600_000.0
    lake = [(x0 + 20e3, y0 + 20e3), (x0 + 30e3, y0 + 20e3), (x0 + 30e3, y0 + 30e3)]
    fjord = sg.Polygon([(x0 + 60e3, y0 + 60e3), (x0 + 80e3, y0 + 62e3), (x0 + 70e3, y0 + 75e3)])
    north = sg.box(x0, y0 + 50_000, x0 + 100_000, y0 + 90_000)
    return {
        "0301": sg.MultiPolygon(
            [
                sg.Polygon(sg.box(x0, y0, x0 + 50e3, y0 + 50e3).exterior.coords, [lake]),
                sg.box(x0 + 110_000, y0 + 10_000, x0 + 115_000, y0 + 15_000),  # an island
            ]
        ),
        "3001": sg.box(x0 + 50_000, y0, x0 + 100_000, y0 + 50_000),
        "3002": north.difference(fjord),
        "3003": fjord,  # the lake its own region, filling 3002's hole
    }


def _finland() -> dict[str, Any]:
    """Kunnat in ETRS-TM35FIN (EPSG:3067): a hole, and a region of two parts."""
    x0, y0 = 380_000.0, 6_670_000.0
    ring = [(x0 - 30e3, y0), (x0, y0), (x0, y0 + 30e3), (x0 - 30e3, y0 + 30e3)]
    hole = [(x0 - 20e3, y0 + 10e3), (x0 - 10e3, y0 + 10e3), (x0 - 10e3, y0 + 20e3)]
    return {
        "091": sg.box(x0, y0, x0 + 30_000, y0 + 30_000),
        "049": sg.Polygon(ring, [hole]),
        "092": sg.MultiPolygon(
            [
                sg.box(x0, y0 + 30_000, x0 + 30_000, y0 + 60_000),
                sg.box(x0 + 40_000, y0 + 40_000, x0 + 41_000, y0 + 41_000),
            ]
        ),
    }


def _laea() -> dict[str, Any]:
    """Two maakunnat in ETRS89-LAEA Europe (EPSG:3035), 200 km blocks: long edges."""
    x, y = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:3035", always_xy=True).transform(25, 65)
    return {"19": sg.box(x, y, x + 200e3, y + 200e3), "17": sg.box(x - 200e3, y, x, y + 200e3)}


def _write_geoparquet(path: Path, geoms: dict[str, Any], crs: str) -> None:
    """GeoParquet 1.0 with WKB geometry and a PROJJSON CRS, written with pyarrow alone."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    column = {"encoding": "WKB", "geometry_types": [], "crs": pyproj.CRS(crs).to_json_dict()}
    geo = {"version": "1.0.0", "primary_column": "geometry", "columns": {"geometry": column}}
    table = pa.table({"nr": list(geoms), "geometry": [shapely.to_wkb(g) for g in geoms.values()]})
    pq.write_table(table.replace_schema_metadata({b"geo": json.dumps(geo).encode()}), path)


def _source_oracle(geoms: dict[str, Any], crs: str, seed: int) -> tuple[Any, Any, Any, Any]:
    """Random points around the source: lon, lat, the expected code, and far-from-border mask."""
    west, south, east, north = shapely.total_bounds(list(geoms.values()))
    rng = np.random.default_rng(seed)
    x = rng.uniform(west - 5_000, east + 5_000, 6_000)
    y = rng.uniform(south - 5_000, north + 5_000, 6_000)
    points = shapely.points(x, y)
    borders = shapely.union_all([shapely.boundary(g) for g in geoms.values()])
    far = shapely.distance(points, borders) > 0.5  # edges in lon/lat follow within 0.1 m
    lon, lat = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(x, y)
    return lon, lat, _lowest_covering(geoms, points), far


@pytest.mark.parametrize(
    ("country", "crs", "form"),
    [
        (_norway, "urn:ogc:def:crs:EPSG::25833", "geojson"),
        (_norway, "EPSG:25833", "geoparquet"),
        (_finland, "EPSG:3067", "geoparquet"),
        (_finland, "EPSG:3067", "geojson-argument"),
        (_laea, "EPSG:3035", "geojson"),
    ],
)
def test_another_countrys_projected_file_locates_like_its_own_geometry(
    tmp_path: Path, country: Any, crs: str, form: str
) -> None:
    """Islands, lake holes, lakes as regions: every point off a border as in the source CRS."""
    geoms = country()
    if form == "geoparquet":
        _write_geoparquet(tmp_path / "r.parquet", geoms, crs)
        regions = RegionSet.from_geoparquet(tmp_path / "r.parquet", code_property="nr", level="k")
    elif form == "geojson":
        regions = RegionSet.from_geojson(_collection(geoms, crs), code_property="nr", level="k")
    else:
        regions = RegionSet.from_geojson(_collection(geoms), code_property="nr", level="k", crs=crs)
    lon, lat, expected, far = _source_oracle(geoms, crs, seed=len(geoms))
    assert far.mean() > 0.99 and {*geoms, ""} <= set(expected[far])
    assert regions.locate(lon[far], lat[far]).tolist() == expected[far].tolist()
    # The file's own vertices, moved by pyproj as a user would: on shared borders the lowest
    # code among the regions whose source geometry covers the vertex.
    xy = np.unique(shapely.get_coordinates(list(geoms.values())), axis=0)
    vlon, vlat = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(
        xy[:, 0], xy[:, 1]
    )
    expected_v = _lowest_covering(geoms, shapely.points(xy))
    assert regions.locate(vlon, vlat).tolist() == expected_v.tolist()


# --- generalised neighbours: gaps and overlaps ----------------------------------------------


def test_a_gap_is_in_no_region_until_snapped_and_a_small_overlap_goes_to_the_lowest_code() -> None:
    """20 m gap: "" (snap_m gives the nearer side); 30 m overlap: both cover, lowest code wins."""
    x0, y0 = 250_000.0, 6_600_000.0
    geoms = {
        "A": sg.box(x0, y0, x0 + 50_000, y0 + 50_000),
        "B": sg.box(x0 + 50_020, y0, x0 + 100_000, y0 + 50_000),  # 20 m gap after A
        "C": sg.box(x0 - 50_000 + 0.0, y0, x0 + 30, y0 + 50_000),  # 30 m into A
    }
    regions = RegionSet.from_geojson(
        _collection(geoms, "EPSG:25833"), code_property="nr", level="k"
    )
    x = np.array([x0 + 50_004, x0 + 50_016, x0 + 15, x0 + 45, x0 - 15])
    y = np.full(x.size, y0 + 25_000)
    lon, lat = pyproj.Transformer.from_crs("EPSG:25833", "EPSG:4326", always_xy=True).transform(
        x, y
    )
    expected = _lowest_covering(geoms, shapely.points(x, y))
    assert expected.tolist() == ["", "", "A", "A", "C"]
    assert regions.locate(lon, lat).tolist() == expected.tolist()
    assert regions.contains("C", lon, lat).tolist() == [False, False, True, False, True]
    assert regions.locate(lon, lat, snap_m=10.0).tolist() == ["A", "B", "A", "A", "C"]


def test_an_overlap_beyond_the_tolerance_is_refused_naming_both_codes_and_the_rule() -> None:
    """Neighbours overlapping by 20 % of the smaller one are refused, not silently tie-broken."""
    x0, y0 = 250_000.0, 6_600_000.0
    geoms = {
        "3001": sg.box(x0, y0, x0 + 50e3, y0 + 50e3),
        "3002": sg.box(x0 + 40e3, y0, x0 + 1e5, y0 + 5e4),
    }
    with pytest.raises(
        InvalidRegions, match=r"'3001' and '3002' overlap by 20\.0%.*overlap_tolerance=0\.01"
    ):
        RegionSet.from_geojson(_collection(geoms, "EPSG:25833"), code_property="nr", level="k")


# --- a hierarchy from another scheme's codes -------------------------------------------------


def test_norwegian_fylke_and_kommune_codes_make_a_hierarchy_that_agrees_with_shapely() -> None:
    """Fylke = first two digits of the kommunenummer, from a file of its own or as unions."""
    kommuner = _norway()
    fylker = {
        "03": kommuner["0301"],
        "30": shapely.union_all([kommuner[c] for c in ("3001", "3002", "3003")]),
    }
    parents = {c: c[:2] for c in kommuner}
    finest = RegionSet.from_geojson(
        _collection(kommuner, "EPSG:25833"), code_property="nr", level="kommune"
    )
    own = RegionSet.from_geojson(
        _collection(fylker, "EPSG:25833"), code_property="nr", level="fylke"
    )
    unions = RegionSet.from_unions(finest, parents, level="fylke")
    lon, lat, expected, far = _source_oracle(kommuner, "EPSG:25833", seed=7)
    expected_fylke = [parents.get(c, "") for c in expected[far]]
    assert set(expected_fylke) == {"03", "30", ""}
    for fylke in (own, unions):
        h = RegionHierarchy([finest, fylke], parents)
        assert h.locate(lon[far], lat[far]).tolist() == expected[far].tolist()
        assert h.locate(lon[far], lat[far], "fylke").tolist() == expected_fylke
        assert sorted(h.expand(["30"], "kommune")) == ["3001", "3002", "3003"]
    with pytest.raises(
        InvalidRegions,
        match=r"kommune '3003' has parent '3', which is not a fylke \(no region with code '3' among "
        r"the fylke codes; a leading zero lost\? did you mean '03'\?\)",
    ):
        RegionHierarchy([finest, own], {**parents, "3003": "3"})


def test_a_set_of_one_region_locates_inside_on_its_boundary_and_outside() -> None:
    """One region: its interior and boundary are it, its hole and the rest of the world nothing."""
    geom = sg.Polygon(
        [(24, 60), (26, 60), (26, 61), (24, 61)], [[(24.5, 60.2), (25, 60.2), (25, 60.6)]]
    )
    one = RegionSet([Region(code="01", name="Uusimaa", level="maakunta", geometry=geom)])
    lon = np.array([25.5, 24.0, 26.0, 25.0, 24.75, 24.8, 23.9, 0.0])
    lat = np.array([60.5, 60.5, 61.0, 60.2, 60.3, 60.32, 60.5, 0.0])
    expected = np.where(shapely.covers(geom, shapely.points(lon, lat)), "01", "")
    assert "" in expected and "01" in expected
    assert one.locate(lon, lat).tolist() == expected.tolist()


def test_nine_hundred_postal_squares_locate_like_brute_force_on_every_grid_line() -> None:
    """Tiny regions sharing every edge: lines and corners go to the lowest code covering them."""
    n, step = 30, 0.004
    edges = 24.9 + step * np.arange(n + 1)
    geoms = {
        f"{i * n + j:05d}": sg.box(edges[i], 60.1 + step * j, edges[i + 1], 60.1 + step * (j + 1))
        for i in range(n)
        for j in range(n)
    }
    regions = RegionSet(
        Region(code=c, name=c, level="postnumero", geometry=g) for c, g in geoms.items()
    )
    rng = np.random.default_rng(3)
    lon = np.concatenate([rng.uniform(24.89, 25.03, 3000), rng.choice(edges, 1000)])
    lat = np.concatenate([rng.uniform(60.09, 60.23, 3000), rng.uniform(60.09, 60.23, 1000)])
    tree = shapely.STRtree(list(geoms.values()))
    codes = np.array(list(geoms))
    point, region = tree.query(shapely.points(lon, lat), predicate="covered_by")
    expected = np.full(lon.size, "", dtype=object)
    for p, r in sorted(
        zip(point.tolist(), region.tolist(), strict=True), key=lambda t: codes[t[1]], reverse=True
    ):
        expected[p] = codes[r]
    assert regions.locate(lon, lat).tolist() == expected.tolist()
