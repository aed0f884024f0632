"""Probe 14: territory built by an integrator from two files, and places no test used yet.

* A municipality file missing one small municipality (Sundbyberg, Burlöv, Solna), beside a
  county file: the gap is a fraction of a per cent of the county, under ``gap_tolerance``, so
  the hierarchy was built and every point of that municipality was in no county -- a tip
  request enabled in the county told nobody there, silently. A gap holding a 500 m disk is no
  sliver between two files: refused, naming the county and a point of the gap.
* Two real files whose boundaries differ (the shipped, simplified municipalities beside
  Lantmäteriet's detailed counties) are still read.

Oracles: the detailed Lantmäteriet polygons in ``../shared/data/sweden`` read with json and
shapely, ``pyproj`` for metres; never geotarget's internals.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pyproj
import pytest
import shapely
import shapely.geometry as sg

from geotarget import sweden
from geotarget.errors import InvalidRegions
from geotarget.regions import Region, RegionHierarchy, RegionSet


def _copy(regions: RegionSet, keep: str | None = None) -> RegionSet:
    """The regions as a plain set read from another file, without the code ``keep`` names."""
    return RegionSet(
        Region(code=r.code, name=r.name, level=r.level, geometry=r.geometry)
        for r in regions
        if r.code != keep
    )


def _detailed(shared_data: Path, name: str, prop: str) -> dict[str, sg.base.BaseGeometry]:
    """Lantmäteriet's detailed polygons (EPSG:3006), by code, read by hand."""
    with (shared_data / "sweden" / name).open(encoding="utf-8") as f:
        doc = json.load(f)
    return {f["properties"][prop]: sg.shape(f["geometry"]) for f in doc["features"]}


_TO_TM = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:3006", always_xy=True)


@pytest.mark.parametrize(
    ("missing", "county"),
    [("0183", "01"), ("1231", "12"), ("0184", "01")],  # Sundbyberg, Burlöv, Solna
)
def test_a_missing_small_municipality_is_refused_at_its_gap(
    missing: str, county: str, shared_data: Path
) -> None:
    """A county file beside municipalities without a small one: refused, naming the gap.

    The gap is far under 1 % of the county, so it was read; no point of the missing
    municipality was then in its county (nor in the country), and a rollout enabling the county
    told nobody there. Oracle: the named point lies in the detailed polygon of the missing
    municipality, at least 500 m from its boundary (pyproj to SWEREF 99 TM, shapely).
    """
    h = sweden.hierarchy()
    munis = h.region_set("municipality")
    counties = _copy(h.region_set("county"))
    given = _copy(munis, keep=missing)
    detailed = _detailed(shared_data, "kommuner_lantmateriet_sweref99tm.geojson", "kommun_kod")
    county_area = shapely.union_all([g for c, g in detailed.items() if c[:2] == county]).area
    assert detailed[missing].area < 0.01 * county_area  # within the share gap_tolerance allows
    with pytest.raises(InvalidRegions) as err:
        RegionHierarchy([given, counties], {c: c[:2] for c in given.codes})
    text = str(err.value)
    assert text.startswith(f"county '{county}' (")
    assert "is not covered by its municipality regions" in text
    assert "gap_tolerance=0.01" in text
    near = re.search(r"near lon ([\d.]+), lat ([\d.]+)", text)
    assert near is not None, text
    x, y = _TO_TM.transform(float(near[1]), float(near[2]))
    point = sg.Point(x, y)
    assert detailed[missing].contains(point)
    assert detailed[missing].boundary.distance(point) > 500 - 100  # (shipped: 60 m off)
    lon, lat = float(near[1]), float(near[2])
    assert not any(r.geometry.covers(sg.Point(lon, lat)) for r in given)


def test_two_files_whose_borders_differ_by_slivers_are_still_read(shared_data: Path) -> None:
    """The shipped municipalities beside Lantmäteriet's detailed counties: built, and agree.

    Their boundaries differ by up to 60 m (the shipped data's stated tolerance), so some
    counties have slivers no municipality covers; none is a missing region. Oracle: the
    detailed county polygons (shapely, in SWEREF 99 TM) at places 1 km and more from any border.
    """
    doc = (shared_data / "sweden" / "lan_lantmateriet_sweref99tm.geojson").read_text("utf-8")
    counties = RegionSet.from_geojson(doc, code_property="lan_kod", level="county")
    munis = _copy(sweden.municipalities())
    h = RegionHierarchy([munis, counties], {c: c[:2] for c in munis.codes})
    detailed = _detailed(shared_data, "lan_lantmateriet_sweref99tm.geojson", "lan_kod")
    rng = np.random.default_rng(14)
    lon, lat = rng.uniform(11.0, 24.0, 4000), rng.uniform(55.3, 69.0, 4000)
    x, y = _TO_TM.transform(lon, lat)
    points = shapely.points(x, y)
    codes = np.array(sorted(detailed))
    geoms = np.array([detailed[c] for c in codes])
    border = shapely.union_all(shapely.boundary(geoms))
    far = ~shapely.dwithin(border, points, 1000.0)
    want = np.full(len(points), "", dtype=object)
    i, j = shapely.STRtree(geoms).query(points, predicate="intersects")
    want[i] = codes[j]
    got = h.locate(lon, lat, "county")
    assert far.sum() > 3000
    assert (got[far] == want[far]).all()
