"""Probe 16: Swedish territory at lakes, seas and borders no other test used, and its grid index.

* Places: Vänern's Värmlandssjön and Dalbosjön, northern Vättern and south of Visingsö,
  Västeråsfjärden and Ekoln (Mälaren), Storsjön's Brunflo bay, western Siljan and Orsasjön,
  both ends of Hjälmaren, Kalmarsund; transects across the territorial sea's edge west of
  Gotland (and the high sea between it and Öland's), off Ven towards Zealand, in the Åland Sea
  off Norrtälje, off Falkenberg towards Anholt and off Simrishamn towards Bornholm, and across
  the Torne at Kukkola; Holmön, Utklippan, Vinga, Stora Karlsö, Hallands Väderö, Ulvön; and
  abroad: Bornholm, Christiansø, Anholt, Læsø, Åland (Eckerö, Geta, Signilskär, Lemland),
  Hvaler.
* Points exactly on the shipped borders of two police regions: one answer, the ancestor of the
  lowest municipality code there -- the same rule as for counties -- while ``contains`` says
  yes for both; and devices exactly on county borders in the pilot's phase 2, told or not by
  that rule.
* The pilot end to end over device grids at those borders: a Stockholm-first tip request in
  the Åland Sea, nationwide ones across the Torne and the 12-mile line, Skåne's and Västra
  Götaland's phase at Ven, and Explosions (told beyond the border, by the policy's
  ``beyond_border``) at Treriksröset and off Gotland.
* The grid index's first build tests cell centres against *prepared* regions: a set of one
  region with many vertices (a detailed outline of the country) was built by testing every
  centre against the unprepared polygon, in time growing with cells times vertices.

Oracles: Lantmäteriet's detailed municipalities in WGS84 (``../shared/data/sweden``) read here
with json and shapely, lowest code on a shared border, points placed more than 61 m from every
detailed boundary (the shipped boundaries are within 60 m of them); brute force over the shipped
municipalities' public ``Region.geometry`` on the borders; ``pyproj.Geod`` for circles. Police
regions by county are restated from ``SOURCES.md`` (Brå, 2015).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import pytest
import shapely
import shapely.geometry as sg

from geotarget import Circle, PositionIndex, Positions, pilot, sweden
from geotarget.regions import Region, RegionSet
from geotarget.targeting import Outcome, Targeter, Verdict

GEOD = pyproj.Geod(ellps="WGS84")
TO_TM = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:3006", always_xy=True)
UTC = dt.timezone.utc
MSG = pilot.Message(headline="Probe", description="Probe.", area_description="Probe")
#: The shipped boundaries' stated tolerance (60 m) and a metre.
UNSURE_M = 61.0

#: Police regions by county (Brå, 2015-02-12), restated from ../shared/data/sweden/SOURCES.md.
POLICE = {
    "PR-NORD": ("22", "23", "24", "25"),
    "PR-MITT": ("03", "19", "21"),
    "PR-BERGSLAGEN": ("17", "18", "20"),
    "PR-STOCKHOLM": ("01", "09"),
    "PR-OST": ("04", "05", "06"),
    "PR-VAST": ("13", "14"),
    "PR-SYD": ("07", "08", "10", "12"),
}
COUNTY_POLICE = {c: p for p, cs in POLICE.items() for c in cs}

#: Swedish water and small islands: lon, lat (their municipality is the oracle's).
SWEDISH = {
    "Vänern, Värmlandssjön": (13.45, 59.10),
    "Vänern, Dalbosjön": (12.55, 58.62),
    "Vänern off Hammarö": (13.50, 59.25),
    "Vättern, the north": (14.75, 58.55),
    "Vättern south of Visingsö": (14.30, 57.90),
    "Mälaren, Västeråsfjärden": (16.55, 59.55),
    "Mälaren, Ekoln": (17.60, 59.75),
    "Storsjön, Brunflo bay": (14.75, 63.10),
    "Storsjön, the north-west": (14.25, 63.25),
    "Siljan, the west": (14.70, 60.85),
    "Orsasjön": (14.60, 61.05),
    "Hjälmaren, the east": (16.00, 59.25),
    "Hjälmaren, the west": (15.40, 59.20),
    "Kalmarsund": (16.55, 56.80),
    "Holmön": (20.88, 63.80),
    "Utklippan": (15.703, 55.955),
    "Vinga": (11.605, 57.632),
    "Stora Karlsö": (17.97, 57.29),
    "Hallands Väderö": (12.56, 56.445),
    "Ulvön": (18.65, 63.03),
    # Transects: the oracle's boundary lies between each pair "inside" / "beyond".
    "west of Gotland, 1.8 km inside the 12-mile line": (17.68, 57.40),
    "Öland's territorial sea towards Gotland": (17.46, 57.40),
    "off Ven towards Zealand, 250 m inside": (12.6657, 55.907),
    "Åland Sea off Norrtälje, 1.9 km inside": (19.47, 59.90),
    "off Falkenberg towards Anholt, 2.3 km inside": (12.28, 56.70),
    "off Simrishamn towards Bornholm, 2 km inside": (14.50, 55.46),
    "the Torne at Kukkola, Swedish side": (24.045, 65.98),
}
#: Not Swedish territory: in no region at any level.
FOREIGN = {
    "Bornholm (Denmark)": (14.90, 55.12),
    "Bornholm's north coast": (14.93, 55.29),
    "Christiansø (Denmark)": (15.19, 55.32),
    "Anholt (Denmark)": (11.55, 56.71),
    "Læsø (Denmark)": (11.00, 57.27),
    "Eckerö (Åland, Finland)": (19.60, 60.22),
    "Geta (Åland)": (19.78, 60.38),
    "Signilskär (Åland)": (19.37, 60.20),
    "Lemland (Åland)": (20.10, 60.07),
    "Hvaler (Norway)": (10.95, 59.05),
    "the high sea between Gotland and Öland": (17.57, 57.40),
    "west of Gotland, 1.8 km beyond the 12-mile line": (17.62, 57.40),
    "off Ven towards Zealand, 450 m beyond": (12.655, 55.907),
    "Åland Sea, 2 km into Finnish water": (19.54, 59.90),
    "off Falkenberg towards Anholt, 2.6 km beyond": (12.20, 56.70),
    "off Simrishamn towards Bornholm, 2.5 km beyond": (14.50, 55.42),
    "the Torne at Kukkola, Finnish side": (24.054, 65.98),
}


# --- the oracle: Lantmäteriet's detailed municipalities ------------------------------------------


@functools.cache
def detailed(folder: Path) -> tuple[list[str], Any, Any]:
    """Lantmäteriet's municipalities (WGS84) by code, and their boundaries in SWEREF 99 TM."""
    doc = json.loads((folder / "sweden" / "kommuner_lantmateriet_wgs84.geojson").read_text())
    pairs = sorted(
        (f["properties"]["kommun_kod"], sg.shape(f["geometry"])) for f in doc["features"]
    )
    # (Rounded to 7 decimals, one ring of Skellefteå touches itself: repaired for covers.)
    geoms = np.array([shapely.make_valid(g) for _, g in pairs], dtype=object)
    shapely.prepare(geoms)
    # Every boundary edge in SWEREF 99 TM metres (a transverse Mercator: within 0.1 % of true
    # distances in Sweden), in an STRtree for the nearest edge.
    rings = shapely.get_rings(shapely.get_parts(shapely.get_parts(geoms)))
    xy, ring = shapely.get_coordinates(rings, return_index=True)
    tm = np.column_stack(TO_TM.transform(xy[:, 0], xy[:, 1]))
    same = ring[:-1] == ring[1:]
    edges: Any = shapely.linestrings(np.stack([tm[:-1][same], tm[1:][same]], axis=1))
    return [c for c, _ in pairs], geoms, shapely.STRtree(edges)


def oracle(folder: Path, lon: Any, lat: Any) -> tuple[Any, Any]:
    """(municipality code or "", metres to the nearest detailed boundary) of each point."""
    codes, geoms, edges = detailed(folder)
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    found = np.full(lon.size, "", dtype=object)
    for code, geom in zip(codes, geoms, strict=True):  # ascending: the lowest code wins
        hit = shapely.covers(geom, shapely.points(lon, lat)) & (found == "")
        found[hit] = code
    x, y = TO_TM.transform(lon, lat)
    (point, _), metres = edges.query_nearest(shapely.points(x, y), return_distance=True)
    nearest = np.full(lon.size, np.inf)
    np.minimum.at(nearest, point, metres)
    return found, nearest


def up(code: str, level: str) -> str:
    """A municipality code's ancestor at ``level`` ("" stays "")."""
    if not code or level == "municipality":
        return code
    if level == "county":
        return code[:2]
    return COUNTY_POLICE[code[:2]] if level == "police_region" else "SE"


# --- places --------------------------------------------------------------------------------------


def test_water_islands_and_the_seas_edge_are_in_lantmateriets_region_at_every_level(
    shared_data: Path,
) -> None:
    """Lakes, small islands and the territorial sea locate as the detailed data, at all levels."""
    names = sorted(SWEDISH)
    lon = np.array([SWEDISH[n][0] for n in names])
    lat = np.array([SWEDISH[n][1] for n in names])
    expected, metres = oracle(shared_data, lon, lat)
    assert (metres > UNSURE_M).all(), dict(zip(names, metres.round(), strict=True))
    assert (expected != "").all(), [n for n, e in zip(names, expected, strict=True) if not e]
    hierarchy = sweden.hierarchy()
    for level in sweden.LEVELS:
        want = [up(str(e), level) for e in expected]
        got = hierarchy.region_set(level).locate(lon, lat).tolist()
        assert dict(zip(names, got, strict=True)) == dict(zip(names, want, strict=True)), level
        assert hierarchy.locate(lon, lat, level).tolist() == want, level
    assert sweden.country().contains(lon, lat).all()


def test_foreign_land_and_sea_beyond_the_line_are_in_no_region(shared_data: Path) -> None:
    """Bornholm, Anholt, Åland, Norway and the sea beyond the 12-mile line are not Swedish."""
    names = sorted(FOREIGN)
    lon = np.array([FOREIGN[n][0] for n in names])
    lat = np.array([FOREIGN[n][1] for n in names])
    expected, metres = oracle(shared_data, lon, lat)
    assert (metres > UNSURE_M).all(), dict(zip(names, metres.round(), strict=True))
    assert (expected == "").all(), [n for n, e in zip(names, expected, strict=True) if e]
    hierarchy = sweden.hierarchy()
    for level in sweden.LEVELS:
        assert hierarchy.region_set(level).locate(lon, lat).tolist() == [""] * len(names), level
        assert hierarchy.region_set(level).locate_index(lon, lat).tolist() == [-1] * len(names)
    assert not sweden.country().contains(lon, lat).any()
    # (the Baltic between Bornholm and Åland lies inside the service envelope: it is no check)
    west, south, east, north = sweden.SWEDEN_ENVELOPE
    assert ((lon > west) & (lon < east) & (lat > south) & (lat < north)).all()


# --- exactly on a police-region border -----------------------------------------------------------


@functools.cache
def police_border_points() -> tuple[Any, Any, list[tuple[str, ...]]]:
    """Vertices of the shipped municipalities that lie in municipalities of two police regions.

    With, per point, the codes of every shipped municipality covering it (brute force over the
    public ``Region.geometry``), in ascending order.
    """
    kommuner = list(sweden.municipalities())
    xy = np.unique(np.concatenate([shapely.get_coordinates(r.geometry) for r in kommuner]), axis=0)
    lon, lat = xy[:, 0], xy[:, 1]
    covering = np.array([shapely.intersects_xy(r.geometry, lon, lat) for r in kommuner])
    police = np.array([COUNTY_POLICE[r.code[:2]] for r in kommuner])
    two = np.array([len(set(police[covering[:, i]])) >= 2 for i in range(lon.size)])
    codes = [
        tuple(r.code for r, c in zip(kommuner, covering[:, i], strict=True) if c)
        for i in np.flatnonzero(two)
    ]
    return lon[two], lat[two], codes


def test_a_point_on_a_police_region_border_is_in_the_police_region_of_its_municipality() -> None:
    """On a shared police-region border the answer is the lowest municipality's police region.

    The same rule as for counties, not the lowest police-region code: on the border of Öst and
    Mitt in Mälaren, a point is in Öst where Södermanland's municipality has the lower code.
    """
    lon, lat, covering = police_border_points()
    assert lon.size > 100
    want = np.array([COUNTY_POLICE[codes[0][:2]] for codes in covering])
    lowest_police = np.array([min(COUNTY_POLICE[c[:2]] for c in codes) for codes in covering])
    assert (want != lowest_police).any()  # the two rules differ at some of these points
    got = sweden.police_regions().locate(lon, lat)
    assert got.tolist() == want.tolist()
    assert sweden.counties().locate(lon, lat).tolist() == [c[0][:2] for c in covering]
    assert sweden.hierarchy().locate(lon, lat, "police_region").tolist() == want.tolist()
    # contains() says yes for every police region whose municipality covers the point
    police = sweden.police_regions()
    for code in POLICE:
        mine = np.array([any(COUNTY_POLICE[c[:2]] == code for c in cs) for cs in covering])
        assert police.contains(code, lon, lat).tolist() == mine.tolist(), code


# --- the pilot over device grids at the borders ----------------------------------------------------

PHASE1 = dt.datetime(2024, 5, 20, 12, 0, tzinfo=UTC)  # tip requests: county 01
PHASE2 = dt.datetime(2024, 10, 1, 9, 0, tzinfo=UTC)  # 01, 12, 14
PHASE3 = dt.datetime(2025, 3, 3, 15, 0, tzinfo=UTC)  # the whole country

#: kind, instant, counties enabled (None: all Sweden), centre lon, lat, radius in metres.
SCENES = {
    "tip request, phase 1, the Åland Sea off Norrtälje": ("tip", PHASE1, {"01"}, 19.49, 59.88, 8000.0),
    "tip request, phase 2, Ven and the Danish water": ("tip", PHASE2, {"01", "12", "14"}, 12.66, 55.90, 5000.0),
    "tip request, phase 3, the Torne at Kukkola": ("tip", PHASE3, None, 24.05, 65.98, 2500.0),
    "tip request, phase 3, the 12-mile line west of Gotland": ("tip", PHASE3, None, 17.65, 57.40, 5000.0),
    "Explosion at Treriksröset": ("explosion", PHASE1, None, 20.55, 69.06, 2500.0),
    "Explosion on the 12-mile line west of Gotland": ("explosion", PHASE1, None, 17.65, 57.40, 5000.0),
}  # fmt: skip


@functools.cache
def pilot_targeter() -> Targeter:
    """The pilot on the built-in Swedish hierarchy (one for the module: alert ids differ)."""
    return Targeter(sweden.hierarchy(), pilot.pilot_policy(), recognition=pilot.RECOGNITION)


@pytest.mark.parametrize("scene", sorted(SCENES))
def test_the_pilot_tells_exactly_the_enabled_territory_at_a_border(
    shared_data: Path, scene: str
) -> None:
    """Over a device grid, exactly those in the circle on enabled territory are told.

    Devices abroad are told only by an Explosion (``beyond_border``); a tip request names them
    beyond the country's territory, and devices on Swedish territory where it is not enabled
    outside the rollout.
    """
    kind, at, enabled, lon, lat, radius = SCENES[scene]
    n = 21
    dlat = 1.15 * radius / 111_000.0
    dlon = dlat / np.cos(np.radians(lat))
    gx, gy = np.meshgrid(
        np.linspace(lon - dlon, lon + dlon, n), np.linspace(lat - dlat, lat + dlat, n)
    )
    x, y = gx.ravel(), gy.ravel()
    ids = [f"d{i:03d}" for i in range(x.size)]
    devices = PositionIndex(Positions(ids, x, y, accuracy_m=np.ones(x.size), observed_at=at))
    make = pilot.explosion if kind == "explosion" else pilot.tip_request
    alert = make(
        identifier=f"probe16-{sorted(SCENES).index(scene)}", sender="polisen@polisen.se",
        sent=at, area=Circle(lon, lat, radius), sv=MSG, en=MSG, onset=at,
        expires=at + dt.timedelta(hours=2),
    )  # fmt: skip
    result = pilot_targeter().target(alert, devices, at)
    assert result.verdict is Verdict.DELIVER, result.reason

    _, _, metres = GEOD.inv(np.full(x.size, lon), np.full(x.size, lat), x, y)
    code, to_border = oracle(shared_data, x, y)
    sure = (np.abs(metres - radius) > 3.0) & (to_border > UNSURE_M)
    inside = metres < radius
    county = np.array([str(c)[:2] for c in code])
    sweden_ = code != ""
    on = sweden_ & (True if enabled is None else np.isin(county, sorted(enabled)))
    told = inside & (on | (kind == "explosion"))
    got = np.isin(ids, result.recipients)
    assert (got[sure] == told[sure]).all(), [
        (ids[i], code[i], result.outcome_of(ids[i])) for i in np.flatnonzero(sure & (got != told))
    ]
    abroad = np.flatnonzero(sure & inside & ~sweden_)
    elsewhere = np.flatnonzero(sure & inside & sweden_ & ~on)
    assert abroad.size  # every scene straddles the national border or the 12-mile line
    for i in abroad:
        if kind == "explosion":
            assert result.outcome_of(ids[i]) is Outcome.INSIDE
        else:
            assert result.outcome_of(ids[i]) is Outcome.BEYOND_BORDER
            assert "beyond the country's territory" in result.explain(ids[i])
    for i in elsewhere:
        assert result.outcome_of(ids[i]) is Outcome.OUTSIDE_ROLLOUT
    # Explosion and tip request recipients beyond the border count under "none"
    assert sum(result.per_county.values()) == result.recipients.size


# --- the grid index of a region with many vertices ---------------------------------------------


def comb(teeth: int) -> Any:
    """A polygon with ``teeth`` long, thin teeth: many long edges crossing the same cells."""
    n = 2 * teeth + 1
    yy = np.linspace(0.0, 1.0, n)
    xx = np.where(np.arange(n) % 2 == 0, 0.5, 1.0)
    return sg.Polygon([*zip(xx, yy, strict=True), (0, 1), (0, 0)])


def test_the_index_tests_cell_centres_against_prepared_regions(monkeypatch: Any) -> None:
    """Building a set's index never has an STRtree test points against its regions unprepared.

    A query predicate tests the query's points against the tree's geometries as they are (not
    prepared): for a set of one detailed outline that cost cells times vertices (a country of
    73,000 vertices: 4.4 s instead of 0.06 s). The answers are those of brute force.
    """
    teeth = comb(2000)
    regions = RegionSet(
        [
            Region(code="comb", name="Comb", level="x", geometry=teeth),
            Region(code="east", name="East", level="x", geometry=sg.box(1.0, 0.0, 1.5, 1.0)),
        ]
    )
    asked: list[object] = []
    query = shapely.STRtree.query

    def spy(self: Any, geometry: Any, predicate: Any = None, **kw: Any) -> Any:
        asked.append(predicate)
        return query(self, geometry, predicate=predicate, **kw)

    monkeypatch.setattr(shapely.STRtree, "query", spy)
    rng = np.random.default_rng(16)
    lon, lat = rng.uniform(-0.1, 1.6, 3000), rng.uniform(-0.1, 1.1, 3000)
    got = regions.locate(lon, lat)
    monkeypatch.undo()
    assert asked and all(p is None for p in asked), asked
    brute = np.where(
        shapely.intersects_xy(teeth, lon, lat),
        "comb",
        np.where(shapely.intersects_xy(sg.box(1.0, 0.0, 1.5, 1.0), lon, lat), "east", ""),
    )
    assert got.tolist() == brute.tolist()


def test_indexing_many_long_edges_over_few_cells_needs_bounded_scratch_memory() -> None:
    """Rasterising a comb's long edges keeps scratch arrays bounded, not one per mark.

    Its 10,000 edges each cross hundreds of grid cells, the same ones: every crossing was held
    at once before duplicates were dropped (400 MB by tracemalloc, as here, for these 5,000
    teeth; 700 MB of memory for 100,000 teeth, to find 4,466 distinct marks). Now about 80 MB.
    """
    teeth = comb(5000)
    regions = RegionSet([Region(code="comb", name="Comb", level="x", geometry=teeth)])
    tracemalloc.start()
    try:
        got = regions.locate([0.25, 0.99, 1.2], [0.5, 0.5, 0.5])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert got.tolist() == [
        "comb" if shapely.intersects_xy(teeth, x, 0.5) else "" for x in (0.25, 0.99, 1.2)
    ]
    assert peak < 200 * 2**20, f"{peak / 2**20:.0f} MB"


@pytest.mark.parametrize(("enabled", "other"), [("12", "13"), ("14", "13")])
def test_a_device_exactly_on_an_enabled_countys_border_is_told_by_the_tie_rule(
    enabled: str, other: str
) -> None:
    """Phase 2 (01, 12, 14) at devices exactly on a shipped border vertex of two counties.

    A device there is in the county of the lowest municipality code covering it -- Skåne's
    (12xx) on the Skåne/Halland border, so it is told; Halland's (13xx) on the Halland/Västra
    Götaland border, so it is outside the rollout though on Västra Götaland's boundary too.
    """
    kommuner = list(sweden.municipalities())
    mine = shapely.union_all([r.geometry for r in kommuner if r.code[:2] == enabled])
    theirs = shapely.union_all([r.geometry for r in kommuner if r.code[:2] == other])
    xy = shapely.get_coordinates(mine)
    xy = xy[shapely.intersects_xy(theirs, xy[:, 0], xy[:, 1])]
    centre = xy[len(xy) // 2]
    _, _, metres = GEOD.inv(np.full(len(xy), centre[0]), np.full(len(xy), centre[1]), *xy.T)
    lon, lat = xy[metres < 3000.0].T
    assert lon.size >= 5
    # the oracle: every shipped municipality covering the point, the lowest code's county
    county = [
        next(r.code[:2] for r in kommuner if shapely.intersects_xy(r.geometry, x, y))
        for x, y in zip(lon, lat, strict=True)
    ]
    ids = [f"v{i:02d}" for i in range(lon.size)]
    devices = Positions(ids, lon, lat, accuracy_m=np.zeros(lon.size), observed_at=PHASE2)
    alert = pilot.tip_request(
        identifier=f"probe16-border-{enabled}-{other}", sender="polisen@polisen.se",
        sent=PHASE2, area=Circle(float(centre[0]), float(centre[1]), 4000.0), sv=MSG, en=MSG, onset=PHASE2,
        expires=PHASE2 + dt.timedelta(hours=2),
    )  # fmt: skip
    result = pilot_targeter().target(alert, PositionIndex(devices), PHASE2)
    want = {i: Outcome.INSIDE if c in {"01", "12", "14"} else Outcome.OUTSIDE_ROLLOUT
            for i, c in zip(ids, county, strict=True)}  # fmt: skip
    assert {i: result.outcome_of(i) for i in ids} == want
    assert set(want.values()) == {Outcome.INSIDE if enabled == "12" else Outcome.OUTSIDE_ROLLOUT}
