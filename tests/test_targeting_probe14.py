"""Probe 14 of the life-safety pipeline over the built-in Swedish regions, end to end.

Each test targets alerts over real Swedish territory (areas with holes and several parts
across two police regions, circles reaching the open sea, clusters of phones on county
borders, a kind declared by an operator in a policy file) and compares the devices told with
a brute-force oracle of its own: ``pyproj.Geod`` distances to circle centres and densified
polygon edges, shapely ``covers`` per device in a Python loop, and the documented border rule
(the lowest municipality code among those covering a point). The region geometries are data;
none of the library's geometry or locating code computes an expected answer.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import pytest
import shapely
import shapely.geometry as sg
from shapely.strtree import STRtree

from geotarget import (
    Area,
    Circle,
    LocationRule,
    Polygon,
    PositionIndex,
    Positions,
    pilot,
    sweden,
)
from geotarget.alerts import Alert, AlertArea, Info, Reference
from geotarget.policy import load_policy
from geotarget.regions import RegionHierarchy
from geotarget.targeting import KindRules, Outcome, Targeter, Verdict

GEOD = pyproj.Geod(ellps="WGS84")
UTC = dt.timezone.utc
AT = dt.datetime(2024, 6, 1, 12, 0, tzinfo=UTC)  # pilot phase 1: police kinds in county 01
SENDER = "polisen@example.se"
# Decisions this close (metres) to a threshold are left out: the oracle's own rounding.
TOL_M = 0.01
#: Exact fixes (no accuracy disk), at most an hour old.
EXACT = LocationRule(max_age=dt.timedelta(hours=1), accuracy=0.0)


@pytest.fixture(scope="module")
def sweden_regions() -> RegionHierarchy:
    """The built-in Swedish hierarchy (municipalities, counties, police regions, country)."""
    return sweden.hierarchy()


class _Locator:
    """The documented border rule by brute force: the lowest covering municipality code."""

    def __init__(self, regions: RegionHierarchy) -> None:
        finest = regions.region_set("municipality")
        self.codes = list(finest.codes)
        self.geoms = [finest[c].geometry for c in self.codes]
        self.tree = STRtree(self.geoms)

    def county(self, lon: float, lat: float) -> str | None:
        """The county code (the municipality code's first two digits), None beyond them all."""
        pt = sg.Point(lon, lat)
        hits = [self.codes[i] for i in self.tree.query(pt) if self.geoms[i].covers(pt)]
        return min(hits)[:2] if hits else None


def _message() -> pilot.Message:
    return pilot.Message(headline="h", description="d", area_description="a")


def _pilot_alert(kind: str, ident: str, area: Any, at: dt.datetime = AT) -> Alert:
    build = {"explosion": pilot.explosion, "crime_modus": pilot.crime_modus}[kind]
    return build(
        identifier=ident,
        sender=SENDER,
        sent=at,
        area=area,
        sv=_message(),
        en=_message(),
        onset=at,
        expires=at + dt.timedelta(hours=2),
    )


def _edge_points(ring: Sequence[tuple[float, float]], per_edge: int) -> np.ndarray:
    """Points along each straight lon/lat edge of a closed ring (vertices included)."""
    closed = [*ring, ring[0]]
    t = np.linspace(0.0, 1.0, per_edge + 1)
    out = [
        np.column_stack([x0 + (x1 - x0) * t, y0 + (y1 - y0) * t])
        for (x0, y0), (x1, y1) in itertools.pairwise(closed)
    ]
    return np.concatenate(out)


def _fwd(lon: float, lat: float, az: np.ndarray, dist: np.ndarray) -> tuple[Any, Any]:
    n = az.size
    x, y, _ = GEOD.fwd(np.full(n, lon), np.full(n, lat), az, dist)
    return np.asarray(x), np.asarray(y)


def _dist(lon: float, lat: float, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    _, _, d = GEOD.inv(np.full(x.size, lon), np.full(x.size, lat), x, y)
    return np.asarray(d)


def test_a_multipart_area_with_a_hole_across_two_police_regions_tells_as_brute_force(
    sweden_regions: RegionHierarchy,
) -> None:
    """Exact fixes on rings, hole edges, county-border vertices and a rim at sea: oracle."""
    shell = [(17.3, 59.3), (17.9, 59.3), (17.9, 59.75), (17.3, 59.75)]  # Stockholm + Uppsala
    hole = [(17.5, 59.45), (17.6, 59.45), (17.6, 59.55), (17.5, 59.55)]
    centre, radius = (19.2, 59.6), 20_000.0  # the archipelago and the open sea beyond
    area = Area([Polygon(shell, holes=[hole]), Circle(*centre, radius)])
    rng = np.random.default_rng(14)
    pts = [np.column_stack([rng.uniform(17.25, 17.95, 600), rng.uniform(59.25, 59.8, 600)])]
    pts += [_edge_points(shell, 10), _edge_points(hole, 10)]
    county = sweden_regions.region_set("county")
    border = shapely.get_coordinates(
        county["01"].geometry.boundary.intersection(county["03"].geometry.boundary)
    )
    inside_box = (border[:, 0] > 17.3) & (border[:, 0] < 17.9) & (border[:, 1] < 59.75)
    pts.append(border[inside_box][::3])
    az = np.repeat(np.linspace(0.0, 360.0, 24, endpoint=False), 3)
    rim = np.tile([radius - 0.5, radius, radius + 0.5], 24)
    pts.append(np.column_stack(_fwd(*centre, az, rim)))
    pts.append(np.column_stack([rng.uniform(18.8, 19.6, 400), rng.uniform(59.4, 59.8, 400)]))
    lon, lat = np.concatenate(pts).T
    ids = [f"d{i}" for i in range(lon.size)]
    exact = {"crime_modus": KindRules(location=EXACT, include_ambiguous=False)}
    targeter = Targeter(sweden_regions, sweden.pilot_policy(), location_rules=exact)
    got = targeter.target(
        _pilot_alert("crime_modus", "multi", area),
        PositionIndex(Positions(ids, lon, lat, observed_at=AT)),
        AT,
        confirm=True,
    )
    assert got.verdict is Verdict.DELIVER, got.reason
    loc = _Locator(sweden_regions)
    holed = sg.Polygon(shell, [hole])
    d = _dist(*centre, lon, lat)
    expected: dict[str, Outcome] = {}
    for i, name in enumerate(ids):
        if abs(d[i] - radius) < TOL_M:
            continue  # on the rim, as far as the oracle's rounding can tell
        where = loc.county(lon[i], lat[i])
        if not (holed.covers(sg.Point(lon[i], lat[i])) or d[i] <= radius):
            expected[name] = Outcome.OUTSIDE_AREA
        elif where == "01":
            expected[name] = Outcome.INSIDE
        else:
            expected[name] = Outcome.BEYOND_BORDER if where is None else Outcome.OUTSIDE_ROLLOUT
    told = {n for n, o in expected.items() if o is Outcome.INSIDE}
    assert set(got.recipients.tolist()) & set(expected) == told
    assert {n: got.outcome_of(n) for n in expected} == expected
    assert sum(got.counts.values()) == len(ids)


def test_an_explosion_tells_huge_disks_future_and_stale_fixes_as_brute_force(
    sweden_regions: RegionHierarchy,
) -> None:
    """Fail open: a disk meeting the circle is told, however large; stale fixes by the margin."""
    centre, radius = (18.9, 59.3), 3000.0  # the Stockholm archipelago
    rng = np.random.default_rng(5)
    n = 1500
    dist = np.concatenate([rng.uniform(0.0, 8000.0, n // 2), rng.uniform(2500.0, 5500.0, n // 2)])
    lon, lat = _fwd(*centre, rng.uniform(0.0, 360.0, n), dist)
    acc = rng.choice([0.0, 5.0, 500.0, 3000.0, 1e5, 4e7], n)
    # Ages in minutes: a month ahead (a wrong clock counts as current), the fresh bound,
    # just past it (stale: the point within the area grown by 1 km), the stale bound.
    age = rng.choice([-43_200.0, -1.0, 0.0, 59.99, 60.0, 61.0, 1439.0, 1440.0, 1441.0], n)
    # Far away (Skåne, Finnmark in Norway, Chile), a disk as large as the Earth meets any circle.
    lon = np.concatenate([lon, [13.0, 24.0, -70.0]])
    lat = np.concatenate([lat, [55.6, 69.5, -30.0]])
    acc = np.concatenate([acc, [4e7, 4e7, 4e7]])
    age = np.concatenate([age, [0.0, 0.0, 0.0]])
    ids = [f"d{i}" for i in range(lon.size)]
    observed = [AT - dt.timedelta(minutes=float(m)) for m in age]
    positions = Positions(ids, lon, lat, accuracy_m=acc, observed_at=observed)
    got = Targeter(sweden_regions, sweden.pilot_policy()).target(
        _pilot_alert("explosion", "boom", Circle(*centre, radius)),
        PositionIndex(positions),
        AT,
        confirm=True,
    )
    d = _dist(*centre, lon, lat)
    fresh, stale = age <= 60.0, (age > 60.0) & (age <= 1440.0)
    gap = np.where(fresh, d - acc - radius, np.where(stale, d - radius - 1000.0, np.inf))
    sure = np.abs(gap) > TOL_M
    told = {ids[i] for i in np.flatnonzero(sure & (gap <= 0.0))}
    assert {i for i in got.recipients.tolist() if sure[int(i[1:])]} == told
    assert {"d1500", "d1501", "d1502"} <= told
    assert got.outcome_of("d1502") is Outcome.AMBIGUOUS_INCLUDED
    # Per county by the border rule; Finnmark and Chile beyond the border, told by this kind.
    loc = _Locator(sweden_regions)
    per_county: dict[str, int] = {}
    for name in got.recipients.tolist():
        i = int(name[1:])
        key = loc.county(lon[i], lat[i]) or "none"
        per_county[key] = per_county.get(key, 0) + 1
    assert dict(got.per_county) == per_county
    assert per_county["none"] >= 2


def _cbrne(ident: str, sent: dt.datetime, area: Any, msg: str = "Alert", refs: Any = ()) -> Alert:
    """A rescue service's gas-leak alert, as its feed writes it (no geotarget:kind code)."""
    areas = [] if area is None else [AlertArea.from_area("Gasläcka", area)]
    info = Info(
        language="sv-SE",
        categories=["CBRNE"],
        event=" GASLÄCKA ",
        urgency="Immediate",
        severity="Severe",
        certainty="Observed",
        onset=AT,
        expires=AT + dt.timedelta(hours=3),
        areas=areas,
    )
    return Alert(
        identifier=ident,
        sender="rtj@example.se",
        status="Actual",
        msg_type=msg,
        scope="Public",
        infos=[info],
        sent=sent,
        references=refs,
    )


_CHEMICAL_POLICY = """
format_version = 1
timezone = "Europe/Stockholm"
country = "SE"
salt = "probe14"
killed = false
issuers = "any"

[kinds.chemical]
killed = false
[[kinds.chemical.phases]]
starts_at = 2024-01-01T00:00:00
regions = ["03", "01"]

[[recognition]]
name = "rtj:gas"
kind = "chemical"
events = ["Gasläcka", "Gas leak"]
categories = ["CBRNE"]

[location_rules.chemical]
include_ambiguous = true
include_no_fix = false
beyond_border = false
location = { max_age_s = 600, accuracy = 2.0 }
stale = { max_age_s = 7200, margin_m = 0.0 }
max_recipients = MAX
"""


def _chemical_targeter(regions: RegionHierarchy, tmp_path: Path, limit: int) -> Targeter:
    path = tmp_path / f"chemical{limit}.toml"
    path.write_text(_CHEMICAL_POLICY.replace("MAX", str(limit)), encoding="utf-8")
    parts = load_policy(path, catalog=regions)
    return Targeter(
        regions,
        parts.rollout,
        location_rules=parts.location_rules,
        recognition=parts.recognition,
        issuers=parts.issuers,
    )


def test_an_operators_kind_with_unusual_rules_tells_as_its_policy_file_says(
    sweden_regions: RegionHierarchy, tmp_path: Path
) -> None:
    """Disks of twice the accuracy, a 10 min fresh bound, stale at the edge, 01+03 only."""
    centre, radius = (17.43, 59.39), 3000.0  # where Stockholm, Uppsala and Södermanland meet
    rng = np.random.default_rng(7)
    n = 400
    dist = rng.uniform(0.0, 5000.0, n)
    lon, lat = _fwd(*centre, rng.uniform(0.0, 360.0, n), dist)
    acc = rng.choice([0.0, 10.0, 300.0, 1000.0], n)
    age = rng.choice([-3600.0, 0.0, 599.0, 600.0, 601.0, 7199.0, 7200.0, 7201.0], n)
    ids = [f"d{i}" for i in range(n)]
    observed = [AT - dt.timedelta(seconds=float(s)) for s in age]
    index = PositionIndex(Positions(ids, lon, lat, accuracy_m=acc, observed_at=observed))
    loc = _Locator(sweden_regions)
    fresh, stale = age <= 600.0, (age > 600.0) & (age <= 7200.0)
    gap = np.where(fresh, dist - 2.0 * acc - radius, np.where(stale, dist - radius, np.inf))
    covered = [i for i in range(n) if gap[i] <= 0.0]
    told = {ids[i] for i in covered if loc.county(lon[i], lat[i]) in ("01", "03")}
    assert all(abs(g) > TOL_M for g in gap)
    alert = _cbrne("G-1", AT, Circle(*centre, radius))
    exactly = _chemical_targeter(sweden_regions, tmp_path, len(told))
    got = exactly.target(alert, index, AT)
    assert (got.verdict, got.kind, got.recognised_by) == (Verdict.DELIVER, "chemical", "rtj:gas")
    assert set(got.recipients.tolist()) == told
    for i in covered:
        if ids[i] not in told:
            assert got.outcome_of(ids[i]) is Outcome.OUTSIDE_ROLLOUT  # Södermanland
    held = _chemical_targeter(sweden_regions, tmp_path, len(told) - 1).target(alert, index, AT)
    assert held.verdict is Verdict.BLAST_RADIUS
    assert f"{len(told):,} devices are covered" in held.reason


def test_an_operators_kind_updated_streamed_and_cancelled_retracts_everyone_told(
    sweden_regions: RegionHierarchy, tmp_path: Path
) -> None:
    """Update widening the area tells the newly covered; the Cancel retracts all told."""
    targeter = _chemical_targeter(sweden_regions, tmp_path, 1000)
    first_c, wider_c = (17.64, 59.86, 1000.0), (17.68, 59.86, 2500.0)  # Uppsala
    lon = np.array([17.64, 17.65, 17.66, 17.70, 17.64, 17.80])
    lat = np.array([59.86, 59.86, 59.86, 59.86, 59.87, 59.86])
    ids = [f"d{i}" for i in range(lon.size)]
    index = PositionIndex(Positions(ids, lon, lat, accuracy_m=np.zeros(6), observed_at=AT))
    in_first = {ids[i] for i in np.flatnonzero(_dist(*first_c[:2], lon, lat) <= first_c[2])}
    in_wider = {ids[i] for i in np.flatnonzero(_dist(*wider_c[:2], lon, lat) <= wider_c[2])}
    v1 = _cbrne("G-1", AT, Circle(*first_c))
    one = targeter.target(v1, index, AT)
    assert set(one.recipients.tolist()) == in_first
    assert one.claims is not None
    targeter.confirm(one.claims.keys(), AT)
    refs: tuple[Reference, ...] = (
        Reference(sender=v1.sender, identifier=v1.identifier, sent=v1.sent),
    )
    later = AT + dt.timedelta(minutes=5)
    v2 = _cbrne("G-2", later, Circle(*wider_c), msg="Update", refs=refs)
    two = targeter.target(v2, index, later)
    assert set(two.recipients.tolist()) == in_wider - in_first
    assert set(two.no_longer_covered.tolist()) == in_first - in_wider
    moved = Positions(["d5", "d9"], [17.69, 17.64], [59.86, 59.86], observed_at=later)
    streamed = {d.device_id for d in targeter.on_positions(moved, later)}
    assert streamed == {"d5", "d9"}
    refs += (Reference(sender=v2.sender, identifier=v2.identifier, sent=v2.sent),)
    end = later + dt.timedelta(minutes=4)
    cancel = targeter.target(_cbrne("G-3", end, None, msg="Cancel", refs=refs), index, end)
    assert cancel.verdict is Verdict.CANCELLED
    assert set(cancel.retract.tolist()) == in_first | in_wider | streamed


def test_streamed_positions_are_told_as_brute_force_says(
    sweden_regions: RegionHierarchy,
) -> None:
    """on_positions applies the Explosion's rules (disks, stale margin, future fixes)."""
    targeter = Targeter(sweden_regions, sweden.pilot_policy())
    centre, radius = (18.9, 59.3), 3000.0
    alert = _pilot_alert("explosion", "stream", Circle(*centre, radius))
    nobody = Positions(["z"], [18.0], [59.0], observed_at=AT)  # at sea, far from the area
    assert targeter.target(alert, PositionIndex(nobody), AT).verdict is Verdict.DELIVER
    rng = np.random.default_rng(2)
    n = 1500
    dist = rng.uniform(0.0, 7000.0, n)
    lon, lat = _fwd(*centre, rng.uniform(0.0, 360.0, n), dist)
    acc = rng.choice([0.0, 5.0, 500.0, 3000.0, 1e6], n)
    age = rng.choice([-86_400.0 * 30, -1.0, 0.0, 3600.0, 3601.0, 86_400.0, 86_401.0], n)
    now = AT + dt.timedelta(minutes=10)
    observed = [now - dt.timedelta(seconds=float(s)) for s in age]
    batch = Positions([f"d{i}" for i in range(n)], lon, lat, accuracy_m=acc, observed_at=observed)
    got = {str(d.device_id) for d in targeter.on_positions(batch, now)}
    fresh, stale = age <= 3600.0, (age > 3600.0) & (age <= 86_400.0)
    gap = np.where(fresh, dist - acc - radius, np.where(stale, dist - radius - 1000.0, np.inf))
    sure = np.abs(gap) > TOL_M
    assert {i for i in got if sure[int(i[1:])]} == {
        f"d{i}" for i in np.flatnonzero(sure & (gap <= 0.0))
    }


@pytest.mark.parametrize(("a", "b"), [("13", "14"), ("12", "13"), ("01", "03"), ("07", "12")])
def test_a_crowd_on_a_county_border_is_located_as_one_phone_there_is(
    sweden_regions: RegionHierarchy, a: str, b: str
) -> None:
    """70 phones (decided as a box) and one phone on a border vertex: the lowest code's county."""
    at = dt.datetime(2024, 10, 1, 12, 0, tzinfo=UTC)  # police kinds in 01, 12 and 14
    county = sweden_regions.region_set("county")
    border = shapely.get_coordinates(
        county[a].geometry.boundary.intersection(county[b].geometry.boundary)
    )
    x, y = border[len(border) // 2]
    enabled = _Locator(sweden_regions).county(x, y) in ("01", "12", "14")
    targeter = Targeter(sweden_regions, sweden.pilot_policy())
    for n in (70, 1):
        ids = [f"d{i}" for i in range(n)]
        crowd = Positions(ids, np.full(n, x), np.full(n, y), accuracy_m=np.zeros(n), observed_at=at)
        alert = _pilot_alert("crime_modus", f"b{a}{b}{n}", Circle(x, y, 500.0), at)
        got = targeter.target(alert, PositionIndex(crowd), at)
        assert got.verdict is Verdict.DELIVER, got.reason
        assert len(got.recipients) == (n if enabled else 0)
        assert got.outcome_of("d0") is (Outcome.INSIDE if enabled else Outcome.OUTSIDE_ROLLOUT)


def test_adjacent_parts_hold_a_disk_across_their_shared_edge_as_one_area(
    sweden_regions: RegionHierarchy,
) -> None:
    """Two boxes sharing a meridian: a disk across it is inside; the oracle measures edges."""
    west, south, east, north, mid = 18.0, 59.3, 18.2, 59.4, 18.1
    area = Area(
        [
            Polygon([(west, south), (mid, south), (mid, north), (west, north)]),
            Polygon([(mid, south), (east, south), (east, north), (mid, north)]),
        ]
    )
    rng = np.random.default_rng(9)
    n = 150
    lon = np.concatenate([rng.uniform(west, east, n - 60), mid + rng.uniform(-0.003, 0.003, 60)])
    lat = rng.uniform(south, north, n)
    acc = rng.uniform(0.0, 400.0, n)
    ids = [f"d{i}" for i in range(n)]
    at = dt.datetime(2025, 6, 1, 12, 0, tzinfo=UTC)  # police kinds nationwide
    index = PositionIndex(Positions(ids, lon, lat, accuracy_m=acc, observed_at=at))
    got = Targeter(sweden_regions, sweden.pilot_policy()).target(
        _pilot_alert("crime_modus", "halves", area, at), index, at
    )
    rim = _edge_points([(west, south), (east, south), (east, north), (west, north)], 4000)
    for i, name in enumerate(ids):
        # A fail-closed kind tells a disk inside the whole box; edges sampled every ~3 m.
        clearance = float(_dist(lon[i], lat[i], rim[:, 0], rim[:, 1]).min())
        if abs(clearance - acc[i]) < 3.0:
            continue
        assert (name in set(got.recipients.tolist())) == (clearance > acc[i]), name


def test_an_area_of_many_circles_is_compared_with_each_regions_bounds_once(
    sweden_regions: RegionHierarchy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """400 circles at sea: no region's bounds read per circle, the area's size once."""
    from geotarget.regions import Region

    reads, sized = 0, 0
    area_m2 = Area.area_m2

    def counted_m2(self: Area) -> float:
        nonlocal sized
        sized += 1
        return float(area_m2.__get__(self))

    def counted(self: Region) -> tuple[float, float, float, float]:
        nonlocal reads
        reads += 1
        west, south, east, north = self.geometry.bounds
        return (west, south, east, north)

    rng = np.random.default_rng(400)
    # Beyond the territorial sea between Stockholm's archipelago and Åland: in no region.
    lons, lats = rng.uniform(20.1, 20.5, 400), rng.uniform(59.2, 59.7, 400)
    area = Area([Circle(x, y, 200.0) for x, y in zip(lons, lats, strict=True)])
    alert = _pilot_alert("crime_modus", "scatter", area)
    targeter = Targeter(sweden_regions, sweden.pilot_policy())
    positions = PositionIndex(Positions(["a"], [18.0], [59.3], observed_at=AT))
    monkeypatch.setattr(Region, "bounds", property(counted))
    monkeypatch.setattr(Area, "area_m2", property(counted_m2))
    got = targeter.target(alert, positions, AT)
    assert got.verdict is Verdict.AREA_OUTSIDE_ROLLOUT
    assert "lies in none of the 290 regions" in got.reason
    # (Each of the 290 municipalities' bounds were read for each circle: 400 × 290 × 2; and
    # the union of the circles was measured again for each later phase checked.)
    assert reads < len(sweden_regions.region_set("municipality"))
    assert sized == 1
    assert got.area_km2 is not None
    assert 0.0 < got.area_km2 <= 400 * np.pi * 0.2**2


def _block(
    area: Circle,
    lang: str,
    onset: dt.datetime,
    expires: dt.datetime,
    effective: dt.datetime | None = None,
) -> Info:
    """An Explosion info block as an upstream feed writes it (no geotarget:kind code)."""
    return Info(
        language=lang,
        categories=["Safety"],
        event="Explosion",
        urgency="Immediate",
        severity="Severe",
        certainty="Likely",
        areas=[AlertArea.from_area("x", area)],
        effective=effective,
        onset=onset,
        expires=expires,
    )


@pytest.mark.parametrize(
    ("offset_min", "told"),
    [(0.0, {"west"}), (59.99, {"west"}), (60.0, {"east"}), (119.99, {"east"}), (120.0, set())],
)
def test_two_blocks_handing_over_tell_whom_the_window_in_effect_covers(
    sweden_regions: RegionHierarchy, offset_min: float, told: set[str]
) -> None:
    """Windows are [effective or onset, expires), compared as instants at any UTC offset."""
    hour = dt.timedelta(hours=1)
    west, east = Circle(18.0, 59.3, 500.0), Circle(18.2, 59.3, 500.0)
    alert = Alert(
        identifier="handover",
        sender=SENDER,
        status="Actual",
        msg_type="Alert",
        scope="Public",
        infos=[
            _block(west, "sv-SE", onset=AT, expires=AT + hour),
            _block(east, "en-US", effective=AT + hour, onset=AT, expires=AT + 2 * hour),
        ],
        sent=AT,
    )
    at = (AT + dt.timedelta(minutes=offset_min)).astimezone(dt.timezone(dt.timedelta(hours=2)))
    positions = Positions(["west", "east"], [18.0, 18.2], [59.3, 59.3], observed_at=at)
    targeter = Targeter(sweden_regions, sweden.pilot_policy(), recognition=pilot.RECOGNITION)
    got = targeter.target(alert, PositionIndex(positions), at)
    assert set(got.recipients.tolist()) == told
    assert got.verdict is (Verdict.DELIVER if told else Verdict.EXPIRED)
