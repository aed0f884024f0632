"""An end-to-end oracle for the Swedish pilot, from DESIGN.md "Semantics" and the raw data.

It answers, for one pilot alert at one time and a handful of devices, who must be told and why
not, using only shapely, pyproj and numpy on ``../shared/data/sweden``: Lantmäteriet's detailed
municipalities and counties in SWEREF 99 TM (land, inland water and the territorial sea), the
SCB tables of municipalities' counties and the police regions' counties. Nothing from
``geotarget`` is used but the public ``Circle``/``Polygon`` attributes read by
:func:`oracle_targeter.classify` (itself independent of the implementation).

The rules restated here (DESIGN.md "Semantics", ``docs/who_is_told.rst``, the pilot policy file):

* Territory is the union of the 290 municipalities; a region code enables its municipalities
  (a county's, a police region's counties', all for ``SE``). geotarget ships boundaries
  simplified to within ``BOUNDARY_TOLERANCE_M`` (60 m) of these, so a fix closer than that
  (plus a metre) to the enabled territory's edge or to Sweden's is *unsure* wherever the
  territory decides it; so is an alert area that meets enabled territory by less than that,
  or misses it by less.
* The pilot's rollout: Explosion in all Sweden from 2024-04-15 (Europe/Stockholm); crime modus
  and tip requests in county 01 from 2024-04-15, 01+12+14 from 2024-09-02, all Sweden from
  2025-01-13.
* No kind tells a device without a fix. Fresh fixes are at most one hour old (a fix dated after
  ``at`` counts as fresh, as documented) and classified by their accuracy disk (INSIDE /
  AMBIGUOUS / OUTSIDE). Explosion: AMBIGUOUS told; a fix up to 24 h old is told when its point
  lies within 1 km of the area; told beyond the border too; at most 100 km² unless confirmed.
  Police kinds: only INSIDE, no stale fixes, at most 2,000 km² unless confirmed. A fix too old
  for the kind is STALE_LOCATION when its disk meets the area, else OUTSIDE_AREA.
* A device in the area is told only if its fix lies on enabled territory, or beyond Sweden's
  when the kind has ``beyond_border`` (a kind enabled nationwide with ``beyond_border`` needs no
  lookup); an area meeting no enabled territory is ``AREA_OUTSIDE_ROLLOUT`` (checked before the
  area guard, ``BLAST_RADIUS``).
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import shapely
import shapely.geometry as sg
import shapely.ops
from oracle_targeter import classify, within_grown

from geotarget.areas import Circle, Polygon

GEOD = pyproj.Geod(ellps="WGS84")
TO_TM = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:3006", always_xy=True)
TO_LL = pyproj.Transformer.from_crs("EPSG:3006", "EPSG:4326", always_xy=True)
STOCKHOLM = dt.timezone(dt.timedelta(hours=1))  # the phase dates are winter/CET or CEST below

#: geotarget's stated simplification tolerance (metres) plus a metre of slack.
UNSURE_M = 61.0


def _cest(y: int, m: int, d: int) -> dt.datetime:
    """Midnight Europe/Stockholm (the pilot's phase dates: CEST in April/September, CET in Jan)."""
    offset = 1 if m in (1, 2, 3, 11, 12) else 2
    return dt.datetime(y, m, d, tzinfo=dt.timezone(dt.timedelta(hours=offset)))


#: kind -> [(start, enabled county codes or None for all Sweden)].
PHASES: dict[str, list[tuple[dt.datetime, frozenset[str] | None]]] = {
    "explosion": [(_cest(2024, 4, 15), None)],
    **{
        k: [
            (_cest(2024, 4, 15), frozenset({"01"})),
            (_cest(2024, 9, 2), frozenset({"01", "12", "14"})),
            (_cest(2025, 1, 13), None),
        ]
        for k in ("crime_modus", "tip_request")
    },
}


@dataclass(frozen=True)
class KindRule:
    """The pilot's location rules of one kind, restated."""

    include_ambiguous: bool
    stale: tuple[dt.timedelta, float] | None
    beyond_border: bool
    max_area_km2: float


FRESH = dt.timedelta(hours=1)
RULES = {
    "explosion": KindRule(True, (dt.timedelta(hours=24), 1000.0), True, 100.0),
    "crime_modus": KindRule(False, None, False, 2000.0),
    "tip_request": KindRule(False, None, False, 2000.0),
}


@dataclass(frozen=True)
class Dev:
    """One device: id, fix, accuracy (68 % radius, m) and age of the fix."""

    id: str
    lon: float
    lat: float
    accuracy_m: float
    age: dt.timedelta


@dataclass
class Expected:
    """The oracle's answer: the verdict, who is told, and who it cannot call."""

    verdict: str
    told: set[str]
    unsure: set[str]
    #: The verdict itself is too close to call (the area grazes enabled territory).
    verdict_unsure: bool = False
    #: Each sure device's acceptable outcomes (``Outcome`` names; several when more than one
    #: reason keeps it from being told and the contract does not rank them).
    outcomes: dict[str, frozenset[str]] = field(default_factory=dict)


#: The police regions' codes spell their names without diacritics ("Region Väst": "PR-VAST").
_PLAIN = str.maketrans("ÅÄÖ", "AAO")


def police_counties(shared_data: Path) -> dict[str, set[str]]:
    """The counties of each police region, by code, from ``polisregioner.csv``.

    A police region's code is its name without "Region ", upper case, Å, Ä and Ö as A, A and
    O (``"PR-STOCKHOLM"`` for "Region Stockholm").
    """
    text = (shared_data / "sweden" / "polisregioner.csv").read_text("utf-8")
    return {
        "PR-" + r["polisregion"].removeprefix("Region ").upper().translate(_PLAIN): set(
            r["lan_koder"].split(";")
        )
        for r in csv.DictReader(io.StringIO(text))
    }


class Territory:
    """Sweden's municipalities and counties (detailed, SWEREF 99 TM) and questions about them.

    Region codes resolve from the raw tables: a municipality (``"0180"``), a county (``"01"``,
    its municipalities by ``kommuner_folkmangd_2024.csv``), a police region (``"PR-STOCKHOLM"``
    for "Region Stockholm" in ``polisregioner.csv``: the region's name without "Region ",
    upper case, Å, Ä and Ö as A, A and O) or the country (``"SE"``).
    """

    def __init__(self, shared_data: Path) -> None:
        folder = shared_data / "sweden"

        def shapes(name: str, key: str) -> dict[str, Any]:
            doc = json.loads((folder / name).read_text(encoding="utf-8"))
            return {f["properties"][key]: sg.shape(f["geometry"]) for f in doc["features"]}

        self.counties = shapes("lan_lantmateriet_sweref99tm.geojson", "lan_kod")
        self.munis = shapes("kommuner_lantmateriet_sweref99tm.geojson", "kommun_kod")
        table = list(
            csv.DictReader(io.StringIO((folder / "kommuner_folkmangd_2024.csv").read_text("utf-8")))
        )
        self.county_of = {r["kommun_kod"]: r["lan_kod"] for r in table}
        self.police = police_counties(shared_data)
        for g in self.munis.values():
            shapely.prepare(g)

    def resolve(self, codes: frozenset[str]) -> frozenset[str]:
        """The municipalities a set of region codes enables."""
        out: set[str] = set()
        for code in codes:
            if code == "SE":
                out |= set(self.munis)
            elif code in self.police:
                out |= {m for m, c in self.county_of.items() if c in self.police[code]}
            elif len(code) == 2:
                out |= {m for m, c in self.county_of.items() if c == code}
            else:
                out.add(code)
        return frozenset(out)

    @functools.cached_property
    def country(self) -> Any:
        """The union of the municipalities (the territory)."""
        return self.enabled(frozenset(self.munis))

    @functools.lru_cache(maxsize=16)  # noqa: B019 -- one Territory per test session
    def enabled(self, munis: frozenset[str]) -> Any:
        """The union of some municipalities, prepared, with its boundary prepared too."""
        g = shapely.union_all([self.munis[c] for c in sorted(munis)])
        shapely.prepare(g)
        return g

    @functools.lru_cache(maxsize=16)  # noqa: B019
    def _edge(self, munis: frozenset[str]) -> Any:
        """The boundary of an enabled union as an R-tree of its segments."""
        coords = [
            shapely.get_coordinates(line)
            for line in shapely.get_parts(shapely.boundary(self.enabled(munis)))
        ]
        segs = np.concatenate([np.stack([c[:-1], c[1:]], axis=1) for c in coords])
        segments: Any = shapely.linestrings(segs)
        return shapely.STRtree(segments)

    def _distance(self, munis: frozenset[str], pts: Any) -> np.ndarray:
        _, dist = self._edge(munis).query_nearest(pts, return_distance=True, all_matches=False)
        return np.asarray(dist, dtype=float)

    def locate(
        self, lon: np.ndarray, lat: np.ndarray, munis: frozenset[str]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per fix: in the enabled territory? On Swedish territory? Its distance (m) to either edge."""
        x, y = TO_TM.transform(lon, lat)
        pts = shapely.points(x, y)
        every = frozenset(self.munis)
        enabled = shapely.covers(self.enabled(munis), pts)
        sweden = shapely.covers(self.country, pts)
        dist = np.minimum(self._distance(munis, pts), self._distance(every, pts))
        return np.asarray(enabled), np.asarray(sweden), np.asarray(dist, dtype=float)

    @functools.cached_property
    def _county_tree(self) -> tuple[list[str], Any, Any]:
        """The counties' codes, an R-tree of their polygons and of their boundaries."""
        codes = sorted(self.counties)
        polys = [self.counties[c] for c in codes]
        edges = [shapely.boundary(g) for g in polys]
        return codes, shapely.STRtree(polys), shapely.STRtree(edges)

    def county_counts(self, lon: np.ndarray, lat: np.ndarray) -> tuple[dict[str, int], int]:
        """Fixes per county they lie in (``"none"``: in no county), and the unsure ones.

        A fix within ``UNSURE_M`` of a county's edge is unsure: which county, if any, holds it
        depends on the boundaries' simplification.
        """
        codes, polys, edges = self._county_tree
        pts = shapely.points(*TO_TM.transform(lon, lat))
        near = np.zeros(len(pts), dtype=bool)
        if len(pts):
            hit = edges.query(pts, predicate="dwithin", distance=UNSURE_M)
            near[hit[0]] = True
        sure: dict[str, int] = {}
        if (~near).any():
            which, county = polys.query(pts[~near], predicate="covered_by")
            for i in county.tolist():
                sure[codes[i]] = sure.get(codes[i], 0) + 1
            nowhere = int((~near).sum()) - np.unique(which).size
            if nowhere:
                sure["none"] = nowhere
        return sure, int(near.sum())

    def graze(self, area_tm: Any, munis: frozenset[str]) -> tuple[bool, bool]:
        """Whether an area (SWEREF 99 TM) meets enabled territory, and whether that is unsure."""
        territory = self.enabled(munis)
        if not area_tm.intersects(territory):
            return False, bool(area_tm.distance(territory) <= UNSURE_M)
        # sure iff the area meets the territory farther than UNSURE_M from its boundary
        edge = shapely.boundary(territory).intersection(area_tm.buffer(2 * UNSURE_M))
        core = area_tm.difference(edge.buffer(UNSURE_M))
        return True, not bool(core.intersects(territory))


def phase_counties(kind: str, at: dt.datetime) -> frozenset[str] | bool | None:
    """The enabled counties of ``kind`` at ``at`` (None: all Sweden; False: not yet enabled)."""
    current: frozenset[str] | bool | None = False
    for start, counties in PHASES[kind]:
        if at >= start:
            current = counties
    return current


def circle_ring(lon: float, lat: float, radius_m: float, n: int = 1440) -> np.ndarray:
    """A geodesic circle's rim as lon/lat points (``Geod.fwd``)."""
    az = np.linspace(0.0, 360.0, n, endpoint=False)
    x, y, _ = GEOD.fwd(np.full(n, lon), np.full(n, lat), az, np.full(n, radius_m))
    return np.column_stack([x, y])


def area_in_tm(parts: Sequence[Circle | Polygon]) -> Any:
    """The alert area in SWEREF 99 TM (circles as fine geodesic polygons, lon/lat edges densified)."""
    out = []
    for p in parts:
        if isinstance(p, Circle):
            ring = circle_ring(p.lon, p.lat, p.radius_m)
            out.append(sg.Polygon(np.column_stack(TO_TM.transform(ring[:, 0], ring[:, 1]))))
        else:
            dense = shapely.segmentize(sg.Polygon(p.shape.exterior), 0.0005)
            xy = shapely.get_coordinates(dense)
            out.append(sg.Polygon(np.column_stack(TO_TM.transform(xy[:, 0], xy[:, 1]))))
    return shapely.union_all(out)


def geodesic_area_km2(parts: Sequence[Circle | Polygon]) -> float:
    """Area of the union on the ellipsoid (km²), from fine lon/lat rings."""
    rings = []
    for p in parts:
        if isinstance(p, Circle):
            rings.append(sg.Polygon(circle_ring(p.lon, p.lat, p.radius_m)))
        else:
            rings.append(shapely.segmentize(sg.Polygon(p.shape.exterior), 0.0005))
    union = shapely.union_all(rings)
    return abs(GEOD.geometry_area_perimeter(union)[0]) / 1e6


def expect(
    territory: Territory,
    kind: str,
    parts: Sequence[Circle | Polygon],
    devices: Sequence[Dev],
    at: dt.datetime,
    *,
    confirm: bool = False,
    codes: frozenset[str] | None = None,
) -> Expected:
    """Who must be told about a pilot alert of ``kind`` over ``parts`` at ``at``.

    ``codes``: the region codes enabled for the kind (default: the pilot's phase at ``at``).
    """
    if codes is None:
        counties = phase_counties(kind, at)
        if counties is False:
            return Expected("KIND_NOT_ENABLED", set(), set())
        assert counties is not True
        codes = frozenset({"SE"}) if counties is None else counties
    munis = territory.resolve(codes)
    nationwide = munis == frozenset(territory.munis)
    rule = RULES[kind]
    meets, unsure_v = territory.graze(area_in_tm(parts), munis)
    if not meets:
        return Expected("AREA_OUTSIDE_ROLLOUT", set(), set(), unsure_v)
    km2 = geodesic_area_km2(parts)
    if km2 > rule.max_area_km2 and not confirm:
        close = abs(km2 - rule.max_area_km2) <= 1e-3 * rule.max_area_km2
        return Expected("BLAST_RADIUS", set(), set(), unsure_v or close)
    # the area first (per device: told by the area?, unsure?, why), then the territory
    area_says: list[tuple[bool, bool, str]] = []
    for d in devices:
        if math.isnan(d.lon) or math.isnan(d.lat):
            # no fix: no pilot kind tells it (include_no_fix is False for all three)
            area_says.append((False, False, "NO_FIX"))
        elif d.age <= FRESH:
            state, doubt = classify(parts, d.lon, d.lat, d.accuracy_m)
            inside = state == "INSIDE" or (state == "AMBIGUOUS" and rule.include_ambiguous)
            why = {
                "INSIDE": "INSIDE",
                "AMBIGUOUS": "AMBIGUOUS_INCLUDED"
                if rule.include_ambiguous
                else "AMBIGUOUS_EXCLUDED",
                "OUTSIDE": "OUTSIDE_AREA",
            }[state]
            area_says.append((inside, doubt, why))
        elif rule.stale is not None and d.age <= rule.stale[0]:
            inside, doubt = within_grown(parts, d.lon, d.lat, rule.stale[1])
            area_says.append((inside, doubt, "STALE_INCLUDED" if inside else "OUTSIDE_AREA"))
        else:
            # too old for the kind: STALE_LOCATION if its disk meets the area (issue 13)
            state, doubt = classify(parts, d.lon, d.lat, d.accuracy_m)
            area_says.append(
                (False, doubt, "OUTSIDE_AREA" if state == "OUTSIDE" else "STALE_LOCATION")
            )
    needs = np.array(
        [
            not (nationwide and rule.beyond_border) and why not in ("OUTSIDE_AREA", "NO_FIX")
            for _, _, why in area_says
        ],
        dtype=bool,
    )
    in_enabled = np.zeros(len(devices), dtype=bool)
    in_sweden = np.zeros(len(devices), dtype=bool)
    edge = np.full(len(devices), np.inf)
    if needs.any():
        lon = np.array([d.lon for d in devices])[needs]
        lat = np.array([d.lat for d in devices])[needs]
        in_enabled[needs], in_sweden[needs], edge[needs] = territory.locate(lon, lat, munis)
    told: set[str] = set()
    unsure: set[str] = set()
    outcomes: dict[str, frozenset[str]] = {}
    for k, (d, (inside, doubt, why)) in enumerate(zip(devices, area_says, strict=True)):
        reasons = {why}
        if needs[k]:
            # the territory decides: the fix in enabled territory, or beyond Sweden's when the
            # kind has beyond_border (a fix in Sweden outside the enabled regions never)
            doubt |= bool(edge[k] <= UNSURE_M)
            enabled = bool(in_enabled[k]) or (rule.beyond_border and not in_sweden[k])
            if not enabled:
                territory_why = "OUTSIDE_ROLLOUT" if in_sweden[k] else "BEYOND_BORDER"
                # a device kept out by the area and by the territory: either reason is true
                reasons = {territory_why} if inside else reasons | {territory_why}
            inside &= enabled
        if doubt:
            unsure.add(d.id)
            continue
        outcomes[d.id] = frozenset(reasons)
        if inside:
            told.add(d.id)
    return Expected("DELIVER", told, unsure, unsure_v, outcomes)


def offset(lon: float, lat: float, azimuth: float, metres: float) -> tuple[float, float]:
    """The point ``metres`` from (lon, lat) along ``azimuth`` (geodesic)."""
    x, y, _ = GEOD.fwd(lon, lat, azimuth, metres)
    return float(x), float(y)


def nearest_edge(
    territory: Territory, lon: float, lat: float, between: tuple[str, str] | None
) -> tuple[float, float, float]:
    """The nearest point of a boundary to (lon, lat), and the azimuth of its normal.

    ``between``: the shared border of two counties (``("01", "03")``) or municipalities
    (``("0180", "0182")``), or ``None`` for the edge
    of the territory (the national border or the 12-nautical-mile line). The normal points from
    the first county (or from Sweden) to the other side.
    """
    x, y = TO_TM.transform(lon, lat)
    if between is None:
        line = shapely.boundary(territory.country)
        inside = territory.country
    else:
        a, b = (territory.munis[c] if len(c) == 4 else territory.counties[c] for c in between)
        line = shapely.intersection(shapely.boundary(a), shapely.boundary(b))
        inside = a
    p = shapely.ops.nearest_points(line, sg.Point(x, y))[0]
    # the normal: the direction from p in which the first side lies, reversed
    best = 0.0
    for az in range(0, 360, 5):
        qx = p.x + 30.0 * math.sin(math.radians(az))
        qy = p.y + 30.0 * math.cos(math.radians(az))
        if not inside.covers(sg.Point(qx, qy)):
            qx2 = p.x - 30.0 * math.sin(math.radians(az))
            qy2 = p.y - 30.0 * math.cos(math.radians(az))
            if inside.covers(sg.Point(qx2, qy2)):
                best = float(az)
                break
    plon, plat = TO_LL.transform(p.x, p.y)
    # grid azimuth to true azimuth: close enough for placing devices (meridian convergence)
    conv = math.degrees(
        math.atan(math.tan(math.radians(plon - 15.0)) * math.sin(math.radians(plat)))
    )
    return float(plon), float(plat), (best + conv) % 360.0
