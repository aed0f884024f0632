"""Territory at places no other test uses, exactly on the shipped boundaries and a metre off them.

The other places tests compare the pipeline with Lantmäteriet's detailed boundaries and leave
out every device within 61 m of a boundary that decides it (the shipped boundaries' stated
60 m tolerance). Here the decisive points are *on* the boundaries geotarget ships, so the
oracle is two-fold, and neither half is geotarget's lookup or targeting code:

* **far from a boundary**: shapely on Lantmäteriet's SWEREF 99 TM municipalities in
  ``../shared/data/sweden`` (land, inland water and the territorial sea), points placed there
  only when more than 61 m from every detailed boundary;
* **on or next to a boundary**: brute force over the shipped municipality polygons (their
  public ``Region.geometry``): every polygon that covers the point, lowest code first, mapped
  up to its county, police region and country (``docs/regions.rst``: "a point's region is the
  ancestor of its finest region"); circles by ``pyproj.Geod.inv``.

The places: Vänern, Vättern, Mälaren, Storsjön and Siljan; the Kattegat, Öresund, the Baltic off
Gotland and Öland and Bottenviken inside and beyond the 12-mile line; small islands; the land
borders at Haparanda/Tornio, Svinesund, Eda and Treriksröset; the county tripoints of the
shipped data (a four-county point among them) and the police regions' tripoints; circles whose
rim reaches enabled territory by 3 cm or stops 3 cm short of it, and a triangle touching it at
one vertex; the Stockholm-first rollout phase by phase over one multi-part area.
"""

from __future__ import annotations

import collections
import datetime as dt
import functools
import itertools
import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pyproj
import pytest
import shapely
import shapely.geometry as sg

from geotarget import Area, Circle, Polygon, PositionIndex, Positions, pilot, sweden
from geotarget.rollout import KindRollout, Phase, RolloutPolicy
from geotarget.targeting import Outcome, Targeter, TargetingResult, Verdict

pytestmark = pytest.mark.shared_data

GEOD = pyproj.Geod(ellps="WGS84")
TO_TM = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:3006", always_xy=True)
UTC = dt.timezone.utc
SE_TZ = ZoneInfo("Europe/Stockholm")
MSG = pilot.Message(headline="Probe", description="Probe.", area_description="Probe")
SENDER = "polisen@polisen.se"
_IDS = itertools.count()

#: Police regions by county (Brå, 2015), restated from ../shared/data/sweden/SOURCES.md.
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

#: The pilot's scenes: kind, instant, counties enabled (None: all of Sweden).
SCENES: dict[str, tuple[str, dt.datetime, frozenset[str] | None]] = {
    "explosion": ("explosion", dt.datetime(2024, 5, 20, 12, 0, tzinfo=UTC), None),
    "tip-phase1": ("tip_request", dt.datetime(2024, 5, 20, 12, 0, tzinfo=UTC), frozenset({"01"})),
    "tip-phase2": (
        "tip_request",
        dt.datetime(2024, 10, 1, 9, 0, tzinfo=UTC),
        frozenset({"01", "12", "14"}),
    ),
    "tip-phase3": ("tip_request", dt.datetime(2025, 3, 3, 15, 0, tzinfo=UTC), None),
}
BEYOND_BORDER = {"explosion": True, "tip_request": False, "crime_modus": False}


def rings(geom: Any) -> list[Any]:
    """Every ring of a Polygon or MultiPolygon (``shapely.get_rings`` skips multi-parts)."""
    return [r for part in getattr(geom, "geoms", [geom]) for r in shapely.get_rings(part)]


def up(code: str, level: str) -> str:
    """A municipality code's ancestor at ``level`` ("" stays "")."""
    if not code or level == "municipality":
        return code
    if level == "county":
        return code[:2]
    if level == "police_region":
        return COUNTY_POLICE[code[:2]]
    return "SE"


# --- the two oracles ----------------------------------------------------------------------------


@functools.cache
def detailed(folder: Path) -> tuple[list[str], Any, shapely.STRtree]:
    """Lantmäteriet's municipalities (SWEREF 99 TM), sorted by code, and an STRtree of edges."""
    doc = json.loads((folder / "sweden" / "kommuner_lantmateriet_sweref99tm.geojson").read_text())
    pairs = sorted(
        (f["properties"]["kommun_kod"], sg.shape(f["geometry"])) for f in doc["features"]
    )
    codes = [c for c, _ in pairs]
    geoms = np.array([g for _, g in pairs], dtype=object)
    shapely.prepare(geoms)
    edges: list[Any] = []
    for g in geoms:
        for ring in rings(g):
            xy = np.asarray(ring.coords)
            edges.append(shapely.linestrings(np.stack([xy[:-1], xy[1:]], axis=1)))
    return codes, geoms, shapely.STRtree(np.concatenate(edges))


def detailed_locate(folder: Path, lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
    """(municipality code or "", metres to the nearest detailed boundary) of each point."""
    codes, geoms, edges = detailed(folder)
    x, y = TO_TM.transform(np.asarray(lon, float), np.asarray(lat, float))
    pts = shapely.points(x, y)
    out = np.full(len(pts), "", dtype=object)
    for i, p in enumerate(pts):
        for code, g in zip(codes, geoms, strict=True):
            if g.covers(p):
                out[i] = code
                break
    _, dist = edges.query_nearest(pts, return_distance=True, all_matches=False)
    return out, dist


@functools.cache
def shipped() -> tuple[list[str], np.ndarray]:
    """The shipped municipality polygons, by code (their public Region.geometry)."""
    regions = sorted(sweden.municipalities().regions, key=lambda r: r.code)
    geoms = np.array([r.geometry for r in regions], dtype=object)
    shapely.prepare(geoms)
    return [r.code for r in regions], geoms


def brute_locate(lon: Any, lat: Any) -> Any:
    """The lowest code among the shipped municipalities covering each point ("" for none)."""
    codes, geoms = shipped()
    tree = shapely.STRtree(geoms)
    pts: Any = shapely.points(np.asarray(lon, float), np.asarray(lat, float))
    out: Any = np.full(len(pts), "", dtype=object)
    pi, gi = tree.query(pts, predicate="covered_by")
    for p, g in sorted(zip(pi.tolist(), gi.tolist(), strict=True), reverse=True):
        out[p] = codes[g]  # the lowest code of each point is written last
    return out


@functools.cache
def shipped_vertices() -> dict[tuple[float, float], frozenset[str]]:
    """Every vertex of the shipped municipalities, with the codes of those having it."""
    found: dict[tuple[float, float], set[str]] = collections.defaultdict(set)
    for code, g in zip(*shipped(), strict=True):
        for ring in rings(g):
            for x, y in np.asarray(ring.coords)[:-1]:
                found[(float(x), float(y))].add(code)
    return {k: frozenset(v) for k, v in found.items()}


def in_area(parts: list[Circle | Polygon], lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Covered by a part: geodesic distance for circles, shapely covers for lon/lat polygons."""
    inside = np.zeros(lon.shape, dtype=bool)
    for part in parts:
        if isinstance(part, Circle):
            n = lon.size
            _, _, d = GEOD.inv(np.full(n, part.lon), np.full(n, part.lat), lon, lat)
            inside |= d <= part.radius_m
        else:
            shape = sg.Polygon(list(part.exterior), [list(h) for h in part.holes])
            inside |= shapely.covers(shape, shapely.points(lon, lat))
    return inside


def expected(
    scene: str, parts: list[Circle | Polygon], lon: np.ndarray, lat: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(told, outcome, municipality) per device with an exact, fresh fix, per DESIGN.md."""
    kind, _, enabled = SCENES[scene]
    code = brute_locate(lon, lat)
    inside = in_area(parts, lon, lat)
    on_enabled = np.array([bool(c) and (enabled is None or c[:2] in enabled) for c in code])
    abroad = code == ""
    told = inside & (on_enabled | (abroad & BEYOND_BORDER[kind]))
    outcome = np.where(
        told,
        Outcome.INSIDE,
        np.where(
            ~inside,
            Outcome.OUTSIDE_AREA,
            np.where(abroad, Outcome.BEYOND_BORDER, Outcome.OUTSIDE_ROLLOUT),
        ),
    )
    return told, outcome, code


# --- running the pipeline -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def targeter() -> Targeter:
    """The shipped pilot on the built-in hierarchy, as an integrator builds it."""
    return Targeter(sweden.hierarchy(), sweden.pilot_policy(), recognition=pilot.RECOGNITION)


def make_alert(kind: str, parts: list[Circle | Polygon], at: dt.datetime) -> Any:
    make = {"explosion": pilot.explosion, "tip_request": pilot.tip_request}[kind]
    return make(
        identifier=f"probe2-{next(_IDS)}", sender=SENDER, sent=at,
        area=parts[0] if len(parts) == 1 else Area(parts), sv=MSG, en=MSG, onset=at,
        expires=at + dt.timedelta(hours=2),
    )  # fmt: skip


def run(
    targeter: Targeter, scene: str, parts: list[Circle | Polygon], lon: Any, lat: Any
) -> tuple[TargetingResult, list[str]]:
    """Target one alert of the scene over devices with exact, fresh fixes."""
    kind, at, _ = SCENES[scene]
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    ids = [f"d{i}" for i in range(lon.size)]
    index = PositionIndex(Positions(ids, lon, lat, accuracy_m=np.zeros(lon.size), observed_at=at))
    return targeter.target(make_alert(kind, parts, at), index, at, confirm=True), ids


def assert_as_oracle(
    targeter: Targeter, scene: str, parts: list[Circle | Polygon], lon: Any, lat: Any
) -> TargetingResult:
    """Recipients, each device's outcome and the per-county counts equal the oracle's."""
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    result, ids = run(targeter, scene, parts, lon, lat)
    told, outcome, code = expected(scene, parts, lon, lat)
    if not told.any():
        assert result.recipients.size == 0
        return result
    assert result.verdict is Verdict.DELIVER, result.reason
    got = np.isin(np.array(ids, dtype=object), np.array(result.recipients.tolist(), dtype=object))
    wrong = np.flatnonzero(got != told)
    assert wrong.size == 0, [(lon[i], lat[i], code[i], bool(told[i])) for i in wrong[:5]]
    outcomes = [result.outcome_of(i) for i in ids]
    odd = [(lon[i], lat[i], code[i]) for i, o in enumerate(outcomes) if o != outcome[i]]
    assert not odd, odd[:5]
    counts = collections.Counter(c[:2] if c else TargetingResult.NO_COUNTY for c in code[told])
    assert dict(result.per_county) == dict(counts)
    return result


# --- 1. places on lakes, at sea, on islands and at the borders ------------------------------------

#: lon, lat: all more than 61 m from every detailed boundary (asserted).
PLACES = {
    "Vänern off Lurö": (13.25, 58.83),
    "Vänern off Kållandsö": (13.10, 58.68),
    "Vänern, Dalbosjön": (12.70, 58.80),
    "Vänern off Värmlandsnäs": (13.15, 59.05),
    "Vättern off Motala": (14.95, 58.55),
    "Vättern, the northern basin": (14.65, 58.70),
    "Vättern off Jönköping": (14.16, 57.80),
    "Mälaren off Västerås": (16.60, 59.58),
    "Mälaren off Strängnäs": (17.03, 59.38),
    "Mälaren, Sigtunafjärden": (17.72, 59.60),
    "Storsjön, mid-lake": (14.35, 63.05),
    "Siljan off Rättvik": (15.05, 60.88),
    "Siljan, mid-lake": (14.90, 60.95),
    "Kattegat 5 km off Varberg": (12.15, 57.10),
    "Kattegat, open sea": (11.50, 57.00),
    "Kattegat towards Læsø": (11.30, 57.20),
    "Öresund off Landskrona": (12.78, 55.87),
    "Öresund west of Ven (Danish)": (12.64, 55.91),
    "Öresund, Drogden (Danish)": (12.72, 55.53),
    "Kalmarsund": (16.50, 56.75),
    "Baltic 10 km east of Gotland": (19.05, 57.45),
    "Baltic 30 km east of Gotland": (19.40, 57.45),
    "Baltic 15 km east of Öland": (17.00, 56.80),
    "Baltic 30 km east of Öland": (17.30, 56.80),
    "Bottenviken 10 km off Luleå": (22.40, 65.45),
    "Bottenviken 40 km out": (22.90, 65.00),
    "Bottenviken, mid-gulf": (23.00, 64.80),
    "Holmöarna": (20.90, 63.80),
    "Hallands Väderö": (12.57, 56.45),
    "Ven": (12.70, 55.91),
    "Stora Karlsö": (17.97, 57.29),
    "Gotska Sandön, south": (19.20, 58.35),
    "Kosteröarna": (11.00, 58.90),
    "Landsort": (17.86, 58.74),
    "Sandskär (Haparanda archipelago)": (23.70, 65.56),
    "Haparanda": (24.13, 65.83),
    "Tornio (Finland)": (24.16, 65.85),
    "Strömstad": (11.17, 58.94),
    "Svinesund, the Norwegian bank": (11.27, 59.10),
    "Charlottenberg": (12.29, 59.88),
    "Eda, the Norwegian side": (12.20, 59.92),
    "Treriksröset, the Swedish side": (20.55, 69.05),
    "Treriksröset, the Norwegian side": (20.50, 69.07),
    "Treriksröset, the Finnish side": (20.60, 69.07),
    "Kilpisjärvi (Finland)": (20.80, 69.05),
    "Riksgränsen, the Norwegian side": (18.00, 68.45),
}


def test_places_locate_as_lantmateriets_boundaries(shared_data: Path) -> None:
    """Every level answers as the detailed data does, at places far from its boundaries."""
    names = sorted(PLACES)
    lon = np.array([PLACES[n][0] for n in names])
    lat = np.array([PLACES[n][1] for n in names])
    code, dist = detailed_locate(shared_data, lon, lat)
    assert dist.min() > sweden.BOUNDARY_TOLERANCE_M + 1.0
    hierarchy = sweden.hierarchy()
    for level in hierarchy.levels:
        got = hierarchy.locate(lon, lat, level).tolist()
        assert got == [up(c, level) for c in code], level
    # the lakes, the islands and the territorial sea are Swedish; the rest is not
    abroad = {n for n, c in zip(names, code, strict=True) if not c}
    assert abroad == {
        "Kattegat, open sea", "Kattegat towards Læsø", "Öresund west of Ven (Danish)",
        "Öresund, Drogden (Danish)", "Baltic 30 km east of Gotland", "Baltic 30 km east of Öland",
        "Bottenviken 40 km out", "Bottenviken, mid-gulf", "Tornio (Finland)",
        "Svinesund, the Norwegian bank", "Eda, the Norwegian side",
        "Treriksröset, the Norwegian side", "Treriksröset, the Finnish side",
        "Kilpisjärvi (Finland)", "Riksgränsen, the Norwegian side",
    }  # fmt: skip


def _tripoints() -> np.ndarray:
    """Shipped vertices shared by three or more counties, or by three or more police regions."""
    out = [
        xy
        for xy, codes in shipped_vertices().items()
        if len({c[:2] for c in codes}) >= 3 or len({COUNTY_POLICE[c[:2]] for c in codes}) >= 3
    ]
    return np.array(sorted(out))


def test_tripoints_and_a_metre_around_them_locate_as_the_brute_force_rule() -> None:
    """On a tripoint and 1 m around it, every level is the ancestor of the finest answer."""
    points = _tripoints()
    assert len(points) >= 20
    four = [xy for xy, c in shipped_vertices().items() if len({x[:2] for x in c}) == 4]
    assert four  # Uppsala, Västmanland, Dalarna and Gävleborg meet at one point
    n = len(points)
    azimuths = np.arange(0.0, 360.0, 15.0)
    ax, ay, _ = GEOD.fwd(
        np.repeat(points[:, 0], azimuths.size), np.repeat(points[:, 1], azimuths.size),
        np.tile(azimuths, n), np.ones(n * azimuths.size),
    )  # fmt: skip
    lon = np.concatenate([points[:, 0], ax])
    lat = np.concatenate([points[:, 1], ay])
    finest = brute_locate(lon, lat)
    assert (finest != "").all()  # tripoints are inland or in the territorial sea
    hierarchy = sweden.hierarchy()
    for level in hierarchy.levels:
        got = hierarchy.locate(lon, lat, level)
        assert got.tolist() == [up(c, level) for c in finest], level
    counties = sweden.counties()
    for x, y in points:
        for code in {c[:2] for c in shipped_vertices()[(float(x), float(y))]}:
            assert counties.contains(code, x, y)  # every neighbour covers its border


# --- 2. targeting at tripoints, county borders, the 12-mile line and the land borders -------------

#: name -> (lon, lat, radius in metres); the scenes are the pilot's phases.
SCENE_PLACES = {
    "Mälaren tripoint 01/03/04": (17.416118, 59.384139, 2500.0),
    "four-county point 03/19/20/21": (16.703822, 60.195721, 3000.0),
    "Hjälmaren tripoint 04/18/19": (15.761587, 59.197949, 3000.0),
    "Vättern tripoint 05/14/18": (14.778931, 58.645993, 3000.0),
    "Kungsbacka, the 13/14 coast": (12.00, 57.55, 4000.0),
    "Laholmsbukten, the 12/13 border at sea": (12.75, 56.45, 5000.0),
    "Norrtälje, the 01/03 border on land": (18.55, 59.95, 4000.0),
    "east of Svenska Högarna, county 01's sea border with Åland": (19.90, 59.45, 6000.0),
    "south of Landsort, the 12-mile line off county 04": (17.7743, 58.4473, 6000.0),
    "Haparanda / Tornio": (24.14, 65.84, 3000.0),
    "Svinesund": (11.255, 59.095, 1500.0),
    "Eda / Morokulien": (12.25, 59.93, 2000.0),
    "Treriksröset": (20.5522, 69.0597, 2000.0),
    "Öresund off Malmö, the Danish sea border": (12.80, 55.58, 5000.0),
    "Bottenviken, the 12-mile line off Luleå": (22.8644, 65.111, 6000.0),
    "Kattegat off Halland, the 12-mile line": (11.95, 57.00, 6000.0),
}


@functools.cache
def _scene_devices(lon: float, lat: float, radius: float, seed: int) -> tuple[Any, Any]:
    """Random fixes up to 1.3 radii away, shipped vertices there, 1 m around them, the rim.

    The same devices for each of a place's scenes: made once (measuring to every shipped
    vertex dominated), read-only.
    """
    rng = np.random.default_rng(seed)
    n = 300
    rx, ry, _ = GEOD.fwd(
        np.full(n, lon), np.full(n, lat), rng.uniform(0, 360, n),
        np.sqrt(rng.uniform(0, 1, n)) * 1.3 * radius,
    )  # fmt: skip
    verts = np.array(list(shipped_vertices()))
    _, _, d = GEOD.inv(np.full(len(verts), lon), np.full(len(verts), lat), verts[:, 0], verts[:, 1])
    near = verts[d < 1.3 * radius][:120]
    xs, ys = [rx, near[:, 0]], [ry, near[:, 1]]
    for azimuth in (0.0, 90.0, 180.0, 270.0):
        m = len(near)
        x, y, _ = GEOD.fwd(near[:, 0], near[:, 1], np.full(m, azimuth), np.ones(m))
        xs.append(x)
        ys.append(y)
    azimuths = np.arange(0.0, 360.0, 10.0)
    x, y, _ = GEOD.fwd(np.full(36, lon), np.full(36, lat), azimuths, np.full(36, radius))
    xs.append(x)
    ys.append(y)
    out = np.concatenate(xs), np.concatenate(ys)
    for a in out:
        a.setflags(write=False)
    return out


def _square(lon: float, lat: float, radius: float) -> Polygon:
    dx = radius / 111_320.0 / np.cos(np.radians(lat))
    dy = radius / 111_320.0
    return Polygon(
        [(lon - dx, lat - dy), (lon + dx, lat - dy), (lon + dx, lat + dy), (lon - dx, lat + dy),
         (lon - dx, lat - dy)]
    )  # fmt: skip


@pytest.mark.parametrize("scene", sorted(SCENES))
@pytest.mark.parametrize("name", sorted(SCENE_PLACES))
def test_a_scene_on_the_boundaries_equals_the_oracle(
    targeter: Targeter, name: str, scene: str
) -> None:
    """A circle and a square there: recipients, outcomes and per-county counts as the oracle."""
    lon, lat, radius = SCENE_PLACES[name]
    x, y = _scene_devices(lon, lat, radius, sorted(SCENE_PLACES).index(name))
    assert_as_oracle(targeter, scene, [Circle(lon, lat, radius)], x, y)
    assert_as_oracle(targeter, scene, [_square(lon, lat, radius)], x, y)


# --- 3. circles that just reach enabled territory, or stop just short of it -----------------------


def _nearest_m(lon: float, lat: float, target: Any, reach: float) -> float:
    """The geodesic distance from a point to a lon/lat polygon (straight lon/lat edges).

    Each edge near enough is sampled every metre, then around its nearest sample every
    millimetre: edges are far shorter than the curvature of the distance along them.
    """
    window = sg.Point(lon, lat).buffer(3.0 * reach / 111_000.0 / np.cos(np.radians(lat)))
    best = np.inf
    for ring in rings(target):
        xy = np.asarray(ring.coords)
        seg = shapely.linestrings(np.stack([xy[:-1], xy[1:]], axis=1))
        for k in np.flatnonzero(shapely.intersects(seg, window)):
            (x0, y0), (x1, y1) = xy[k], xy[k + 1]
            _, _, length = GEOD.inv(x0, y0, x1, y1)
            t = np.linspace(0.0, 1.0, max(2, int(length) + 2))
            _, _, d = GEOD.inv(np.full(t.size, lon), np.full(t.size, lat),
                               x0 + t * (x1 - x0), y0 + t * (y1 - y0))  # fmt: skip
            i = int(np.argmin(d))
            lo, hi = t[max(i - 1, 0)], t[min(i + 1, t.size - 1)]
            f = np.linspace(lo, hi, 4001)
            _, _, d = GEOD.inv(np.full(f.size, lon), np.full(f.size, lat),
                               x0 + f * (x1 - x0), y0 + f * (y1 - y0))  # fmt: skip
            best = min(best, float(d.min()))
    return best


def _convex_corners(territory: Any, near: tuple[float, float], k: int) -> list[tuple[Any, ...]]:
    """The k outward-pointing vertices of the territory's outer rings nearest ``near``."""
    found = []
    for poly in getattr(territory, "geoms", [territory]):
        ring = np.asarray(poly.exterior.coords)[:-1]
        ccw = poly.exterior.is_ccw
        for i in range(len(ring)):
            a, b, c = ring[i - 1], ring[i], ring[(i + 1) % len(ring)]
            cross = (b[0] - a[0]) * (c[1] - b[1]) - (b[1] - a[1]) * (c[0] - b[0])
            if abs(cross) > 1e-9 and (cross > 0) == ccw:
                _, _, d = GEOD.inv(near[0], near[1], b[0], b[1])
                found.append((d, tuple(b), tuple(a), tuple(c)))
    return sorted(found)[:k]


#: Enabled territory of a scene, where to look for a corner of it, how far out the centre lies.
REACHING = {
    "county 01 on land (the 01/03 border)": ("tip-phase1", ("01",), (17.9, 59.75), 1500.0),
    "county 01 at sea (the Åland sea border)": ("tip-phase1", ("01",), (19.4, 59.5), 1500.0),
    "Sweden at Svinesund": ("tip-phase3", None, (11.25, 59.1), 800.0),
    "Sweden at Tornio": ("tip-phase3", None, (24.15, 65.85), 800.0),
    "Sweden's 12-mile line off Gotland": ("tip-phase3", None, (19.3, 57.45), 1500.0),
    "Skåne against Halland (phase 2)": ("tip-phase2", ("01", "12", "14"), (12.9, 56.45), 800.0),
}


@pytest.mark.parametrize("name", sorted(REACHING))
def test_a_circle_reaching_enabled_territory_by_3_cm_tells_the_corner(
    targeter: Targeter, name: str
) -> None:
    """The rim 3 cm past an enabled corner: the device on the corner is told; 3 cm short: nobody.

    A triangle whose apex is the corner, lying outside, touches the territory at one point:
    the device there is on the area's boundary (inside) and on the region's (in it), so told.
    """
    scene, counties, near, out_m = REACHING[name]
    codes, geoms = shipped()
    territory = shapely.union_all(
        [g for c, g in zip(codes, geoms, strict=True) if counties is None or c[:2] in counties]
    )
    tried = 0
    for _, corner, before, after in _convex_corners(territory, near, 4):
        az1, _, _ = GEOD.inv(corner[0], corner[1], before[0], before[1])
        az2, _, _ = GEOD.inv(corner[0], corner[1], after[0], after[1])
        r1, r2 = np.radians(az1), np.radians(az2)
        outward = np.degrees(np.arctan2(np.sin(r1) + np.sin(r2), np.cos(r1) + np.cos(r2))) + 180
        cx, cy, _ = GEOD.fwd(corner[0], corner[1], outward, out_m)
        if territory.covers(sg.Point(cx, cy)):
            continue
        _, _, to_corner = GEOD.inv(cx, cy, corner[0], corner[1])
        if to_corner - _nearest_m(cx, cy, territory, out_m) > 0.002:
            continue  # another part of the territory is nearer than the corner
        tried += 1
        told, _, code = expected(
            scene, [Circle(cx, cy, to_corner + 0.03)], *map(np.array, ([corner[0]], [corner[1]]))
        )
        assert told.all() and code[0]
        reached, ids = run(
            targeter, scene, [Circle(cx, cy, to_corner + 0.03)], [corner[0]], [corner[1]]
        )
        assert reached.verdict is Verdict.DELIVER, reached.reason
        assert reached.recipients.tolist() == ids
        short, _ = run(
            targeter, scene, [Circle(cx, cy, to_corner - 0.03)], [corner[0]], [corner[1]]
        )
        assert short.verdict is Verdict.AREA_OUTSIDE_ROLLOUT, short.reason
        p1 = GEOD.fwd(corner[0], corner[1], outward - 30.0, out_m)[:2]
        p2 = GEOD.fwd(corner[0], corner[1], outward + 30.0, out_m)[:2]
        triangle = Polygon([corner, p1, p2, corner])
        touching, ids = run(targeter, scene, [triangle], [corner[0]], [corner[1]])
        assert touching.verdict is Verdict.DELIVER, touching.reason
        assert touching.recipients.tolist() == ids
    assert tried >= 2


# --- 4. the Stockholm-first rollout, phase by phase, over one multi-part area ----------------------

#: Devices with the county (or "" abroad / beyond the 12-mile line) each lies in, far from borders.
ROLLOUT_DEVICES = {
    "Sergels torg": (18.0686, 59.3326, "01"),
    "Saltsjön": (18.095, 59.3215, "01"),
    "Sandhamn, outer archipelago": (18.91, 59.285, "01"),
    "Knivsta (Uppsala county)": (17.79, 59.725, "03"),
    "Visby (Gotland, police Region Stockholm)": (18.2948, 57.6409, "09"),
    "Malmö C": (12.9990, 55.6094, "12"),
    "Öresund west of Ven (Danish)": (12.64, 55.91, ""),
    "Göteborg C": (11.9746, 57.7089, "14"),
    "Kungsbacka (Halland)": (12.08, 57.49, "13"),
    "Baltic beyond the 12-mile line off Gotland": (19.40, 57.45, ""),
}


def test_the_stockholm_first_rollout_phase_by_phase(shared_data: Path) -> None:
    """One tip request over every device, a second either side of each phase's start.

    Phase 1 tells Stockholm County, phase 2 adds Skåne and Västra Götaland, phase 3 all Sweden;
    never a device abroad or beyond the territorial sea.
    """
    names = list(ROLLOUT_DEVICES)
    lon = np.array([ROLLOUT_DEVICES[n][0] for n in names])
    lat = np.array([ROLLOUT_DEVICES[n][1] for n in names])
    code, dist = detailed_locate(shared_data, lon, lat)
    assert [c[:2] for c in code] == [ROLLOUT_DEVICES[n][2] for n in names]
    assert dist.min() > sweden.BOUNDARY_TOLERANCE_M + 1.0
    parts: list[Circle | Polygon] = [Circle(x, y, 2_000.0) for x, y in zip(lon, lat, strict=True)]
    targeter = Targeter(sweden.hierarchy(), sweden.pilot_policy(), recognition=pilot.RECOGNITION)
    second = dt.timedelta(seconds=1)
    starts = [dt.datetime(*d, tzinfo=SE_TZ) for d in ((2024, 4, 15), (2024, 9, 2), (2025, 1, 13))]
    instants = [
        (starts[0] - second, set()),  # before the pilot
        (starts[0], {"01"}),
        (starts[1] - second, {"01"}),
        (starts[1], {"01", "12", "14"}),
        (starts[2] - second, {"01", "12", "14"}),
        (starts[2], None),  # all Sweden
    ]
    for at, counties in instants:
        alert = make_alert("tip_request", parts, at)
        index = PositionIndex(
            Positions(names, lon, lat, accuracy_m=np.zeros(lon.size), observed_at=at)
        )
        result = targeter.target(alert, index, at)
        want = sorted(n for n, c in zip(names, code, strict=True)
                      if c and (counties is None or c[:2] in counties))  # fmt: skip
        assert sorted(result.recipients.tolist()) == want, at
        if not want:
            assert result.verdict is Verdict.KIND_NOT_ENABLED, result.reason
            continue
        assert result.verdict is Verdict.DELIVER, result.reason
        for n, c in zip(names, code, strict=True):
            if n not in want:
                why = Outcome.BEYOND_BORDER if not c else Outcome.OUTSIDE_ROLLOUT
                assert result.outcome_of(n) is why, (n, at)
    # an Explosion, enabled nationwide from the start, tells everyone in its parts
    at = dt.datetime(2024, 5, 20, 12, 0, tzinfo=UTC)
    boom = targeter.target(
        make_alert("explosion", parts, at),
        PositionIndex(Positions(names, lon, lat, accuracy_m=np.zeros(lon.size), observed_at=at)),
        at, confirm=True,
    )  # fmt: skip
    assert sorted(boom.recipients.tolist()) == sorted(names)


def test_an_alert_active_across_a_phase_change_streams_to_the_newly_enabled(
    targeter: Targeter,
) -> None:
    """A tip request over Stockholm and Malmö sent before Skåne's phase.

    Malmö's fresh fixes are told once the phase has started, not a second before.
    """
    sent = dt.datetime(2024, 9, 1, 23, 30, tzinfo=SE_TZ)
    parts: list[Circle | Polygon] = [Circle(18.07, 59.33, 2_000.0), Circle(13.0, 55.6, 2_000.0)]
    alert = make_alert("tip_request", parts, sent)
    first = targeter.target(
        alert,
        PositionIndex(Positions(["sthlm", "malmo"], [18.07, 13.0], [59.33, 55.6],
                                accuracy_m=[5.0, 5.0], observed_at=sent)),
        sent,
    )  # fmt: skip
    assert first.recipients.tolist() == ["sthlm"]
    assert first.outcome_of("malmo") is Outcome.OUTSIDE_ROLLOUT
    assert first.claims is not None
    targeter.confirm(first.claims.keys(), sent)
    before = dt.datetime(2024, 9, 1, 23, 59, 59, tzinfo=SE_TZ)
    batch = Positions(["malmo-2"], [13.0], [55.6], accuracy_m=[5.0], observed_at=before)
    assert [
        d.device_id for d in targeter.on_positions(batch, before) if d.alert_id == alert.identifier
    ] == []
    after = dt.datetime(2024, 9, 2, 0, 0, 0, tzinfo=SE_TZ)
    batch = Positions(["malmo-2"], [13.0], [55.6], accuracy_m=[5.0], observed_at=after)
    streamed = [
        d.device_id for d in targeter.on_positions(batch, after) if d.alert_id == alert.identifier
    ]
    assert streamed == ["malmo-2"]


# --- 5. a rollout naming Storstockholm, the county or the police region -----------------------------


@pytest.mark.parametrize(
    ("regions", "counties", "municipalities"),
    [
        (["01"], {"01"}, None),
        ([*sweden.stockholm_area().codes], {"01"}, None),
        (["PR-STOCKHOLM"], {"01", "09"}, None),
        (["0180"], set(), {"0180"}),
        (["0180", "03"], {"03"}, {"0180"}),
        (["PR-MITT", "0980"], {"03", "19", "21"}, {"0980"}),
    ],
)
def test_a_rollout_named_at_any_level_tells_as_the_oracle(
    regions: list[str], counties: set[str], municipalities: set[str] | None
) -> None:
    """Devices on every shipped vertex of Stockholm's borders (and Gotland's), by any naming."""
    at = dt.datetime(2024, 5, 20, 12, 0, tzinfo=UTC)
    phase = Phase(starts_at=dt.datetime(2024, 4, 15, tzinfo=UTC), regions=set(regions))
    policy = RolloutPolicy(rollouts=[KindRollout(kind="tip_request", phases=[phase])])
    targeter = Targeter(sweden.hierarchy(), policy, recognition=pilot.RECOGNITION)
    border = np.array(sorted(xy for xy, c in shipped_vertices().items()
                             if "0180" in c or ("01" in {x[:2] for x in c} and len({x[:2] for x in c}) > 1)))  # fmt: skip
    rng = np.random.default_rng(1)
    lon = np.concatenate(
        [border[:, 0], rng.uniform(17.5, 18.6, 1500), rng.uniform(18.1, 18.8, 300)]
    )
    lat = np.concatenate(
        [border[:, 1], rng.uniform(59.1, 59.8, 1500), rng.uniform(57.3, 57.8, 300)]
    )
    area = Polygon([(17.3, 57.2), (19.0, 57.2), (19.0, 60.0), (17.3, 60.0), (17.3, 57.2)])
    ids = [f"d{i}" for i in range(lon.size)]
    result = targeter.target(
        make_alert("tip_request", [area], at),
        PositionIndex(Positions(ids, lon, lat, accuracy_m=np.zeros(lon.size), observed_at=at)),
        at, confirm=True,
    )  # fmt: skip
    code = brute_locate(lon, lat)
    told = np.array([bool(c) and (c[:2] in counties or c in (municipalities or ())) for c in code])
    told &= in_area([area], lon, lat)
    got = np.isin(np.array(ids, dtype=object), np.array(result.recipients.tolist(), dtype=object))
    assert (got == told).all()
    assert told.sum() > 0


# --- 6. locate_box near boundaries ----------------------------------------------------------------


def test_locate_box_near_boundaries_is_every_points_answer() -> None:
    """A box answered at some level lies in that region and meets no lower-coded neighbour."""
    codes, geoms = shipped()
    tree = shapely.STRtree(geoms)
    sets = {
        "municipality": sweden.municipalities(),
        "county": sweden.counties(),
        "police_region": sweden.police_regions(),
        "country": sweden.hierarchy().region_set("country"),
    }
    rng = np.random.default_rng(11)
    verts = np.array(list(shipped_vertices()))
    answered: collections.Counter[str] = collections.Counter()
    for k in range(1500):
        cx, cy = verts[rng.integers(len(verts))]
        size = 10 ** rng.uniform(-7, -1.3)
        cx, cy = cx + rng.uniform(-2, 2) * size, cy + rng.uniform(-2, 2) * size
        w, s, e, n = cx - size, cy - size / 2, cx + size, cy + size / 2
        if k % 5 == 0:
            w = e = cx  # a segment
        box = sg.box(w, s, e, n) if w < e else sg.LineString([(w, s), (e, n)])
        hits = tree.query(box, predicate="intersects")
        for level, regions in sets.items():
            found = regions.locate_box(w, s, e, n)
            if found is None:
                continue
            answered[level] += 1
            if found == -1:
                assert hits.size == 0
                continue
            want = regions.codes[found]
            mine = [h for h in hits if up(codes[h], level) == want]
            assert shapely.union_all([geoms[h] for h in mine]).covers(box), (level, w, s, e, n)
            lowest_mine = min(codes[h] for h in mine)
            assert not any(up(codes[h], level) != want and codes[h] < lowest_mine for h in hits), (
                level,
                w,
                s,
                e,
                n,
            )
    assert min(answered.values()) > 100


# --- 7. an issuer's regions, exactly at their border ---------------------------------------------


def test_an_issuers_area_may_share_its_border_but_not_cross_it() -> None:
    """Region Stockholm's issuer: a municipality's own outline is its area, borders shared.

    Sigtuna's and Norrtälje's outlines (county 01, sharing their borders with county 03) are
    authorised; Knivsta's and Enköping's (county 03) are not; a circle from Arlanda stopping
    2 cm short of county 03 is authorised, and 2 cm past it too (within the border slack), but
    not 40 m past it, nor 2 cm past it with no slack.
    """
    from geotarget.issuers import Issuers

    issuers = Issuers.from_toml(
        """
        [[issuers]]
        name = "stockholm"
        senders = ["polisen@polisen.se"]
        kinds = ["explosion", "tip_request", "crime_modus"]
        regions = ["PR-STOCKHOLM"]
        """
    )
    targeter = Targeter(
        sweden.hierarchy(), sweden.pilot_policy(), recognition=pilot.RECOGNITION, issuers=issuers
    )
    _, at, _ = SCENES["tip-phase3"]
    index = PositionIndex(Positions(["x"], [18.07], [59.33], accuracy_m=[0.0], observed_at=at))
    codes, geoms = shipped()
    for code, allowed in (("0191", True), ("0188", True), ("0330", False), ("0381", False)):
        shape = max(getattr(geoms[codes.index(code)], "geoms", [geoms[codes.index(code)]]),
                    key=lambda p: p.area)  # fmt: skip
        outline = Polygon(list(shape.exterior.coords), [list(h.coords) for h in shape.interiors])
        result = targeter.target(make_alert("tip_request", [outline], at), index, at)
        assert (result.verdict is not Verdict.NOT_AUTHORISED) is allowed, (code, result.reason)
    uppsala = shapely.union_all([g for c, g in zip(codes, geoms, strict=True) if c[:2] == "03"])
    lon, lat = 17.86, 59.67  # Arlanda, Sigtuna (county 01)
    gap = _nearest_m(lon, lat, uppsala, 2_500.0)
    assert 1_500.0 < gap < 2_500.0
    short = targeter.target(
        make_alert("tip_request", [Circle(lon, lat, gap - 0.02)], at), index, at
    )
    assert short.verdict is Verdict.DELIVER, short.reason
    # 2 cm past is within the border slack (25 m by default): sent, nobody past it told; 40 m
    # past is not. With no slack, 2 cm past is refused.
    past = targeter.target(make_alert("tip_request", [Circle(lon, lat, gap + 0.02)], at), index, at)
    assert past.verdict is Verdict.DELIVER, past.reason
    far = targeter.target(make_alert("tip_request", [Circle(lon, lat, gap + 40.0)], at), index, at)
    assert far.verdict is Verdict.NOT_AUTHORISED, far.reason
    strict = Targeter(
        sweden.hierarchy(), sweden.pilot_policy(), recognition=pilot.RECOGNITION,
        issuers=issuers, border_slack_m=0.0,
    )  # fmt: skip
    refused = strict.target(
        make_alert("tip_request", [Circle(lon, lat, gap + 0.02)], at), index, at
    )
    assert refused.verdict is Verdict.NOT_AUTHORISED, refused.reason
