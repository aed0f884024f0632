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
import unicodedata
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyproj
import pytest
import shapely
import shapely.geometry as sg

from geotarget import sweden
from geotarget.errors import InvalidRegions, UnknownCode
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


# --- snapping: each point's own search window ------------------------------------------------


def _geodesic_distance_m(lon: float, lat: float, geom: sg.Polygon) -> float:
    """The oracle: the least ``Geod.inv`` distance from a point to a densified ring (metres)."""
    ring = shapely.segmentize(geom.exterior, 0.0005)
    xy = np.asarray(ring.coords)
    _, _, dist = pyproj.Geod(ellps="WGS84").inv(
        np.full(len(xy), lon), np.full(len(xy), lat), xy[:, 0], xy[:, 1]
    )
    return float(np.min(dist))


def test_snapping_reaches_a_region_across_the_north_pole() -> None:
    """A fix 5.6 km from the pole snaps to a station 11 km away on the far side of the pole.

    Every point's window was widened in longitude for the farthest latitude but capped at
    89.9 degrees, 62 degrees of longitude for 12 km: the region 180 degrees round was never
    looked at, and the fix stayed in no region. Oracle: ``pyproj.Geod.inv`` to the ring.
    """
    station = sg.box(170.0, 89.9, 175.0, 89.95)
    regions = RegionSet([Region(code="N", name="Station", level="station", geometry=station)])
    lon, lat = -10.0, 89.95
    dist = _geodesic_distance_m(lon, lat, station)
    assert 11_000 < dist < 11_500
    assert regions.locate([lon], [lat]).tolist() == [""]
    assert regions.locate([lon], [lat], snap_m=12_000).tolist() == ["N"]
    assert regions.locate([lon], [lat], snap_m=10_000).tolist() == [""]


def test_one_fix_near_a_pole_does_not_widen_every_other_fixs_search(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Fixes at sea off Gotland ask the same regions with or without one fix at 89.95 N.

    One window for all (at the farthest latitude of any fix) made that fix compare every fix at
    sea with every municipality within five degrees; with 20,000 such fixes the process ran out
    of memory. Oracle: the pairs handed to the distance step, counted by a spy, and the answers.
    """
    import geotarget._geodesy as geodesy

    asked: list[int] = []
    real = geodesy.distance_to_geometries

    def spy(lon: object, lat: object, geoms: npt.NDArray[np.object_]) -> object:
        asked.append(len(geoms))
        return real(lon, lat, geoms)  # type: ignore[arg-type]

    monkeypatch.setattr(geodesy, "distance_to_geometries", spy)
    munis = sweden.municipalities()
    rng = np.random.default_rng(14)
    lon, lat = rng.uniform(17.3, 17.7, 2000), rng.uniform(56.9, 57.1, 2000)
    alone = munis.locate(lon, lat, snap_m=1000)
    pairs_alone = sum(asked)
    asked.clear()
    both = munis.locate(np.append(lon, 17.5), np.append(lat, 89.95), snap_m=1000)
    assert both[:-1].tolist() == alone.tolist()
    assert both[-1] == ""
    assert sum(asked) <= pairs_alone + len(munis)


# --- a code typed in other characters ----------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "rule"),
    [
        (
            "\uff10\uff11\uff18\uff10",
            "in plain characters, not fullwidth",
        ),  # "０１８０", an East Asian input method
        ("\uff33\uff25", "in plain characters, not fullwidth"),  # "ＳＥ"
        ("0180\u200b", "without invisible characters"),  # a zero-width space pasted along
        ("PR-V\u00c4ST", "without accents"),
    ],
)
def test_a_code_in_other_characters_is_told_what_they_are(typed: str, rule: str) -> None:
    """Fullwidth digits were told "codes are written without accents", which they have none of.

    Oracle: :mod:`unicodedata` -- the compatibility form without format characters, stripped
    of combining marks, is the code meant; and the characters' names say what they are.
    """
    meant = "".join(
        c
        for c in unicodedata.normalize("NFKD", typed)
        if unicodedata.category(c) != "Cf" and not unicodedata.combining(c)
    )
    odd = [unicodedata.name(c) for c in typed if not c.isascii()]
    h = sweden.hierarchy()
    assert meant in h
    sets = [h.level_of] + [s.__getitem__ for s in [h.region_set(h.level_of(meant))]]
    for ask in sets:
        with pytest.raises(UnknownCode) as err:
            ask(typed)
        text = str(err.value)
        assert f"codes are written {rule}" in text, text
        assert f"did you mean {meant!r}?" in text
        if not any("WITH" in name for name in odd):  # (LATIN CAPITAL LETTER A WITH DIAERESIS)
            assert "accents" not in text
