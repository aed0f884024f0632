"""Regions an integrator brings from another country, checked against shapely and pyproj.

Every expected answer comes from the test's own geometries (in their own CRS, with shapely's
``covers`` and pyproj), never from geotarget's.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import shapely
import shapely.geometry as sg

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
