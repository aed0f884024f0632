"""Probe 17: the life-safety pipeline end to end with the built-in Swedish data.

Seeded random sequences of pilot alerts (Explosion, tip request) — Alerts, Updates widening,
narrowing or moving the area, Cancels, statuses Actual/Test/Exercise/Draft/System, a Cancel
arriving first — at places no other test targets (Luleå, Östersund, Visby, Karlskrona,
Trollhättan, Falun, Haparanda, Strömstad, Ystad), over devices with accuracy disks, testers
and stale fixes, driven through ``Targeter.target`` / ``preview`` / ``retarget`` /
``on_positions`` and ``explain``.

The expected answers come from an oracle of this file's own: ``pyproj.Geod`` distances to the
circle's centre for the location rule (INSIDE: the accuracy disk within the circle; OUTSIDE:
disjoint; AMBIGUOUS otherwise), the Lantmäteriet county GeoJSON of the shared data read with
``json`` and shapely ``covers`` for territory, and the pilot policy's phases read from its TOML
file with ``tomllib``. No geotarget geometry, locating or rollout code computes an expected
answer. Devices within a few metres of a threshold, or of a county border (two maps of one
border differ by metres), are left out of comparisons.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import pytest
import shapely
import shapely.geometry as sg

from geotarget import Circle, Polygon, PositionIndex, Positions, pilot, sweden
from geotarget.alerts import Alert, MessageType, Reference, Status
from geotarget.targeting import Outcome, Targeter, Verdict

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib: Any = pytest.importorskip("tomli")

GEOD = pyproj.Geod(ellps="WGS84")
UTC = dt.timezone.utc
SENDER = "polisen@example.se"
SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "sweden"
POLICY_TOML = (
    Path(__file__).resolve().parents[1] / "geotarget" / "data" / "sweden" / "pilot_policy.toml"
)
#: Decisions this close (metres) to a threshold are the oracle's rounding: left out.
TOL_M = 1.0
#: Devices this close (degrees, about 100 m) to a county border are left out of territory.
BORDER_DEG = 0.001

#: (lon, lat) of town centres (rounded to 0.01°, Wikipedia infoboxes) and one across a border.
PLACES = {
    "Luleå": (22.15, 65.58),
    "Östersund": (14.64, 63.18),
    "Visby": (18.29, 57.63),
    "Karlskrona": (15.59, 56.16),
    "Trollhättan": (12.29, 58.28),
    "Falun": (15.64, 60.61),
    "Haparanda": (24.14, 65.835),
    "Strömstad": (11.19, 58.94),
    "Ystad": (13.82, 55.43),
}
MSG = pilot.Message(headline="Larm", description="Risk.", area_description="Här")
BUILDERS = {"explosion": pilot.explosion, "tip_request": pilot.tip_request}
FRESH = dt.timedelta(hours=1)
STALE_AGE = dt.timedelta(hours=24)
STALE_MARGIN_M = 1000.0
#: The pilot's location rules as written in its TOML file's comments and DESIGN.md.
FAIL_OPEN = {"explosion": True, "tip_request": False}


@pytest.fixture(scope="module")
def counties() -> dict[str, Any]:
    """County code -> prepared shapely geometry, from the shared Lantmäteriet GeoJSON."""
    data = json.loads((SHARED / "lan_lantmateriet_wgs84.geojson").read_text(encoding="utf-8"))
    out = {}
    for feat in data["features"]:
        geom = sg.shape(feat["geometry"])
        shapely.prepare(geom)
        out[feat["properties"]["lan_kod"]] = geom
    return out


@pytest.fixture(scope="module")
def phases() -> dict[str, list[tuple[dt.datetime, frozenset[str]]]]:
    """Kind -> [(start, regions)] from the pilot policy's TOML, read with tomllib."""
    doc = tomllib.loads(POLICY_TOML.read_text(encoding="utf-8"))
    zone = zoneinfo.ZoneInfo(doc["timezone"])
    return {
        kind: [
            (p["starts_at"].replace(tzinfo=zone), frozenset(p["regions"])) for p in spec["phases"]
        ]
        for kind, spec in doc["kinds"].items()
    }


@pytest.fixture(scope="module")
def regions() -> Any:
    return sweden.hierarchy()


@dataclass
class Device:
    """One phone: its fix, accuracy, age and tester flag; its county by the oracle."""

    ident: str
    lon: float
    lat: float
    acc: float
    age: dt.timedelta
    tester: bool
    county: str | None = None
    near_border: bool = False


@dataclass
class Incident:
    """The oracle's incident: devices told (confirmed) and the versions seen."""

    told: set[str] = field(default_factory=set)
    versions: list[Alert] = field(default_factory=list)
    cancelled: bool = False


def _locate(devices: list[Device], counties: dict[str, Any]) -> None:
    for d in devices:
        p = sg.Point(d.lon, d.lat)
        hits = [c for c, g in counties.items() if g.covers(p)]
        d.county = min(hits) if hits else None
        d.near_border = any(
            g.boundary.distance(p) < BORDER_DEG
            for g in counties.values()
            if g.distance(p) < BORDER_DEG
        )


def _devices(
    rng: np.random.Generator, place: tuple[float, float], n: int, tag: str
) -> list[Device]:
    az = rng.uniform(-180.0, 180.0, n)
    dist = rng.uniform(0.0, 5000.0, n)
    lon, lat, _ = GEOD.fwd(np.full(n, place[0]), np.full(n, place[1]), az, dist)
    acc = rng.choice([0.0, 10.0, 150.0, 600.0], n)
    # Minutes: fresh fixes are at most 1 h old; the Explosion still uses one up to 24 h old.
    age = rng.choice([0, 10, 30, 50, 0, 10, 90, 300, 1800], n)
    no_fix = rng.random(n) < 0.05
    lon[no_fix] = np.nan
    lat[no_fix] = np.nan
    tester = rng.random(n) < 0.3
    return [
        Device(f"{tag}{i}", float(lon[i]), float(lat[i]), float(acc[i]),
               dt.timedelta(minutes=int(age[i])), bool(tester[i]))
        for i in range(n)
    ]  # fmt: skip


def _index(devices: list[Device], at: dt.datetime) -> PositionIndex:
    return PositionIndex(_positions(devices, at))


def _positions(devices: list[Device], at: dt.datetime) -> Positions:
    return Positions(
        [d.ident for d in devices],
        [d.lon for d in devices],
        [d.lat for d in devices],
        accuracy_m=[d.acc for d in devices],
        observed_at=[at - d.age for d in devices],
        tester=np.array([d.tester for d in devices], dtype=bool),
    )


def _enabled(phases: dict[str, Any], kind: str, at: dt.datetime) -> frozenset[str]:
    now = frozenset[str]()
    for start, codes in phases[kind]:
        if start <= at:
            now = codes
    return now


def _place(d: Device, circle: Circle) -> str | None:
    """'in', 'out' or 'ambiguous' for a device's accuracy disk and a circle; None if unsure."""
    _, _, dist = GEOD.inv(circle.lon, circle.lat, d.lon, d.lat)
    for edge in (dist + d.acc - circle.radius_m, dist - d.acc - circle.radius_m):
        if abs(edge) < TOL_M:
            return None
    if dist + d.acc <= circle.radius_m:
        return "in"
    if dist - d.acc > circle.radius_m:
        return "out"
    return "ambiguous"


def _expected(
    d: Device, kind: str, status: Status, circle: Circle, enabled: frozenset[str]
) -> tuple[bool | None, set[Outcome]]:
    """Whether the device is covered (None: unsure) and the outcomes acceptable for it."""
    if np.isnan(d.lon):
        return False, {Outcome.NO_FIX}  # no fix: UNKNOWN, which no pilot kind counts in
    if d.age > FRESH:
        return _expected_stale(d, kind, status, circle)
    where = _place(d, circle)
    if where is None:
        return None, set()
    if where == "out":
        return False, {Outcome.OUTSIDE_AREA}
    if where == "ambiguous" and not FAIL_OPEN[kind]:
        return False, {Outcome.AMBIGUOUS_EXCLUDED}
    not_covered: set[Outcome] = set()
    if status is not Status.ACTUAL and not d.tester:
        not_covered.add(Outcome.NOT_A_TESTER)
    if kind != "explosion":  # the Explosion is told beyond the border; the others are not
        if d.near_border:
            return None, set()
        if d.county is None:
            not_covered |= {Outcome.BEYOND_BORDER, Outcome.OUTSIDE_ROLLOUT}
        elif "SE" not in enabled and d.county not in enabled:
            not_covered.add(Outcome.OUTSIDE_ROLLOUT)
    if not_covered:
        return False, not_covered
    return True, {Outcome.INSIDE if where == "in" else Outcome.AMBIGUOUS_INCLUDED}


def _expected_stale(
    d: Device, kind: str, status: Status, circle: Circle
) -> tuple[bool | None, set[Outcome]]:
    """An old fix: the Explosion's stale rule, or STALE_LOCATION when its disk meets the area."""
    _, _, dist = GEOD.inv(circle.lon, circle.lat, d.lon, d.lat)
    if kind == "explosion" and d.age <= STALE_AGE:
        if abs(dist - circle.radius_m - STALE_MARGIN_M) < TOL_M:
            return None, set()
        if dist <= circle.radius_m + STALE_MARGIN_M:
            if status is not Status.ACTUAL and not d.tester:
                return False, {Outcome.NOT_A_TESTER}
            return True, {Outcome.STALE_INCLUDED}
    if abs(dist - d.acc - circle.radius_m) < TOL_M:
        return None, set()
    meets = dist - d.acc <= circle.radius_m
    return False, {Outcome.STALE_LOCATION if meets else Outcome.OUTSIDE_AREA}


def _alert(kind: str, ident: str, circle: Circle | Polygon, sent: dt.datetime, **kw: Any) -> Alert:
    return BUILDERS[kind](
        identifier=ident, sender=SENDER, sent=sent, area=circle, sv=MSG, en=MSG, onset=sent,
        expires=sent + dt.timedelta(hours=3), **kw,
    )  # fmt: skip


def _ref(a: Alert) -> Reference:
    return Reference(sender=a.sender, identifier=a.identifier, sent=a.sent)


def _check(
    result: Any,
    devices: list[Device],
    kind: str,
    status: Status,
    circle: Circle,
    enabled: frozenset[str],
    inc: Incident,
    unsure: set[str],
    *,
    commit: Targeter | None,
) -> None:
    """Compare one DELIVER result device by device with the oracle; update ``inc.told``."""
    assert result.verdict is Verdict.DELIVER, result.reason
    got = set(result.recipients.tolist())
    covered: set[str] = set()
    for d in devices:
        ok, outcomes = _expected(d, kind, status, circle, enabled)
        if ok is None:
            unsure.add(d.ident)
            continue
        if d.ident in unsure:
            continue
        if ok:
            covered.add(d.ident)
        outcome = result.outcome_of(d.ident)
        assert outcome in outcomes, (d, outcome, outcomes, result.explain(d.ident))
        if d.ident in got:
            assert d.ident in result.explain(d.ident) or "receives" in result.explain(d.ident)
    sure = {d.ident for d in devices} - unsure
    assert got & sure == covered - inc.told, (
        sorted(got & inc.told),
        sorted(covered - got),
        result.already_delivered,
        len(got),
    )
    assert set(result.no_longer_covered.tolist()) & sure == (inc.told - covered) & sure
    assert sum(result.counts.values()) == len(devices)
    assert sum(result.per_county.values()) == len(got)
    county_of = {d.ident: d.county or "none" for d in devices}
    want_county: dict[str, int] = {}
    for ident in got:
        want_county[county_of[ident]] = want_county.get(county_of[ident], 0) + 1
    near = {d.ident for d in devices if d.near_border}
    if not (got & near):
        assert {k: v for k, v in result.per_county.items() if v} == want_county
    if commit:  # "told" means confirmed: the caller pushed every claim
        inc.told |= got
        if result.claims is not None:
            commit.confirm(result.claims.keys(), result.at)


STATUSES = [Status.ACTUAL, Status.ACTUAL, Status.TEST, Status.EXERCISE]
WHEN = [
    dt.datetime(2024, 6, 3, 10, 0, tzinfo=UTC),  # tip requests: Stockholm County only
    dt.datetime(2024, 10, 7, 10, 0, tzinfo=UTC),  # + Skåne and Västra Götaland
    dt.datetime(2025, 3, 3, 10, 0, tzinfo=UTC),  # the whole country
]


@pytest.mark.parametrize("kind", sorted(BUILDERS))
@pytest.mark.parametrize("name", sorted(PLACES))
def test_random_sequences_match_the_oracle(
    name: str, kind: str, counties: dict[str, Any], phases: dict[str, Any], regions: Any
) -> None:
    """Alert, Updates (widen, narrow, move) and a Cancel at one place, against the oracle."""
    seed = sorted(PLACES).index(name) * 2 + sorted(BUILDERS).index(kind)
    rng = np.random.default_rng(seed)
    place = PLACES[name]
    at = WHEN[int(rng.integers(len(WHEN)))]
    status = STATUSES[int(rng.integers(len(STATUSES)))]
    devices = _devices(rng, place, 100, "d")
    _locate(devices, counties)
    enabled = _enabled(phases, kind, at)
    t = Targeter(regions, sweden.pilot_policy(), recognition=pilot.RECOGNITION)
    inc = Incident()
    unsure: set[str] = set()
    circle = Circle(place[0], place[1], float(rng.uniform(800.0, 2500.0)))
    first = _alert(kind, f"p17-{seed}", circle, at, status=status)
    reaches = (
        kind == "explosion"
        or "SE" in enabled
        or any(d.county in enabled for d in devices if _place(d, circle) in ("in", "ambiguous"))
    )
    index = _index(devices, at)
    shown = t.preview(first, index, at)
    result = t.target(first, index, at)
    if not reaches:
        assert result.verdict is Verdict.AREA_OUTSIDE_ROLLOUT, result.reason
        assert "rollout" in result.reason.lower() or "enabled" in result.reason.lower()
        return
    _check(shown, devices, kind, status, circle, enabled, inc, unsure, commit=None)
    _check(result, devices, kind, status, circle, enabled, inc, unsure, commit=t)
    inc.versions.append(first)
    assert result.incident == f"{SENDER}/{first.identifier}"
    # The same version again tells nobody.
    again = t.target(first, index, at)
    assert again.recipients.size == 0 or set(again.recipients.tolist()) <= unsure
    for step in range(3):
        at = at + dt.timedelta(minutes=5)
        lon, lat, _ = GEOD.fwd(place[0], place[1], float(rng.uniform(-180, 180)),
                               float(rng.uniform(0.0, 800.0)))  # fmt: skip
        circle = Circle(float(lon), float(lat), float(rng.uniform(500.0, 3000.0)))
        named = inc.versions[int(rng.integers(len(inc.versions)))]  # any version identifies it
        update = _alert(kind, f"p17-{seed}-u{step}", circle, at, status=status,
                        msg_type=MessageType.UPDATE, references=(_ref(named),))  # fmt: skip
        index = _index(devices, at)
        seen = t.preview(update, index, at)  # changes nothing: the same answer as target()
        _check(seen, devices, kind, status, circle, enabled, inc, unsure, commit=None)
        res = t.target(update, index, at)
        assert res.incident == f"{SENDER}/{first.identifier}", res.reason
        assert np.array_equal(seen.recipients, res.recipients)
        _check(res, devices, kind, status, circle, enabled, inc, unsure, commit=t)
        inc.versions.append(update)
    at = at + dt.timedelta(minutes=5)
    named = inc.versions[int(rng.integers(len(inc.versions)))]
    cancel = _alert(kind, f"p17-{seed}-c", circle, at, status=status,
                    msg_type=MessageType.CANCEL, references=(_ref(named),))  # fmt: skip
    res = t.target(cancel, _index(devices, at), at)
    assert res.verdict is Verdict.CANCELLED, res.reason
    assert res.recipients.size == 0
    sure = {d.ident for d in devices} - unsure
    assert set(res.retract.tolist()) & sure == inc.told & sure
    # After the Cancel, devices walking into the area are told nothing.
    walker = Device("walker", circle.lon, circle.lat, 0.0, dt.timedelta(0), True, "x")
    assert t.on_positions(_positions([walker], at), at) == []


@pytest.mark.parametrize("status", [Status.DRAFT, Status.SYSTEM])
def test_draft_and_system_reach_nobody(status: Status, regions: Any, counties: Any) -> None:
    at = WHEN[0]
    devices = _devices(np.random.default_rng(7), PLACES["Falun"], 40, "f")
    t = Targeter(regions, sweden.pilot_policy(), recognition=pilot.RECOGNITION)
    alert = _alert("explosion", "p17-draft", Circle(*PLACES["Falun"], 3000.0), at, status=status)
    res = t.target(alert, _index(devices, at), at)
    assert res.verdict is Verdict.NOT_PUBLIC and res.recipients.size == 0
    # Nothing was recorded: the same identifier as Actual then reaches the devices inside.
    real = _alert("explosion", "p17-draft", Circle(*PLACES["Falun"], 3000.0), at)
    assert t.target(real, _index(devices, at), at).verdict is Verdict.DELIVER


def test_cancel_first_is_remembered(regions: Any, counties: Any) -> None:
    """A Cancel naming an alert not seen yet; the alert then arrives and tells nobody."""
    at = WHEN[2]
    place = PLACES["Östersund"]
    devices = _devices(np.random.default_rng(3), place, 40, "o")
    t = Targeter(regions, sweden.pilot_policy(), recognition=pilot.RECOGNITION)
    circle = Circle(place[0], place[1], 4000.0)
    alert = _alert("tip_request", "p17-late", circle, at)
    cancel = _alert("tip_request", "p17-cancel", circle, at + dt.timedelta(minutes=1),
                    msg_type=MessageType.CANCEL, references=(_ref(alert),))  # fmt: skip
    first = t.target(cancel, _index(devices, at), at + dt.timedelta(minutes=1))
    assert first.verdict is Verdict.UNKNOWN_REFERENCE, first.reason
    res = t.target(alert, _index(devices, at), at + dt.timedelta(minutes=2))
    assert res.verdict is Verdict.CANCELLED and res.recipients.size == 0, res.reason


def test_on_positions_tells_newcomers_once(regions: Any, counties: Any) -> None:
    """Devices moving into an Explosion at Karlskrona are told once, over several batches."""
    at = WHEN[0]
    place = PLACES["Karlskrona"]
    circle = Circle(place[0], place[1], 1500.0)
    rng = np.random.default_rng(11)
    devices = _devices(rng, place, 60, "k")
    _locate(devices, counties)
    t = Targeter(regions, sweden.pilot_policy(), recognition=pilot.RECOGNITION)
    res = t.target(_alert("explosion", "p17-k", circle, at), _index(devices, at), at)
    told = set(res.recipients.tolist())
    for batch in range(3):
        at = at + dt.timedelta(minutes=2)
        movers = _devices(rng, place, 30, "k")  # the same ids, new fixes
        for d in movers:
            d.age = dt.timedelta(0)
        got = [x.device_id for x in t.on_positions(_positions(movers, at), at)]
        assert len(got) == len(set(got))
        want = set()
        for d in movers:
            where = None if np.isnan(d.lon) else _place(d, circle)
            if where in ("in", "ambiguous") and d.ident not in told:
                want.add(d.ident)
            if where is None and not np.isnan(d.lon):
                want.discard(d.ident)
                got = [g for g in got if g != d.ident]
        assert set(got) == want, batch
        told |= set(got)


def test_tip_request_waits_for_its_phase_then_retarget_delivers(
    regions: Any, counties: Any, phases: dict[str, Any]
) -> None:
    """A tip request at Ystad in phase 1 reaches nobody; retarget at phase 2 tells Ystad."""
    start2 = next(s for s, codes in phases["tip_request"] if "12" in codes)
    at = start2 - dt.timedelta(hours=1)
    place = PLACES["Ystad"]
    circle = Circle(place[0], place[1], 1200.0)
    devices = _devices(np.random.default_rng(5), place, 50, "y")
    _locate(devices, counties)
    t = Targeter(regions, sweden.pilot_policy(), recognition=pilot.RECOGNITION)
    alert = BUILDERS["tip_request"](
        identifier="p17-ystad", sender=SENDER, sent=at, area=circle, sv=MSG, en=MSG,
        onset=at, expires=at + dt.timedelta(hours=4),
    )  # fmt: skip
    res = t.target(alert, _index(devices, at), at)
    assert res.verdict is Verdict.AREA_OUTSIDE_ROLLOUT, res.reason
    assert res.next_change == start2
    later = start2 + dt.timedelta(minutes=1)
    out = t.retarget(_index(devices, later), later)
    assert len(out) == 1
    inc = Incident()
    _check(out[0], devices, "tip_request", Status.ACTUAL, circle,
           _enabled(phases, "tip_request", later), inc, set(), commit=t)  # fmt: skip
    assert inc.told


def test_explain_names_the_devices_region_and_when_it_is_enabled(
    regions: Any, counties: dict[str, Any], phases: dict[str, Any]
) -> None:
    """A tip request on the Skåne/Halland border in phase 2: Halland's devices are left out.

    explain() must say why (their county is not enabled) and from when (the phase of the TOML
    that enables it), as DESIGN.md asks of every blocked decision: "why not, and from when".
    """
    start2 = next(s for s, codes in phases["tip_request"] if "12" in codes)
    start3 = next(s for s, codes in phases["tip_request"] if "SE" in codes)
    at = start2 + dt.timedelta(days=30)
    border = counties["12"].boundary.intersection(counties["13"].boundary)
    middle = border.interpolate(0.5, normalized=True)  # a point of the 12/13 border
    rng = np.random.default_rng(21)
    devices = _devices(rng, (middle.x, middle.y), 60, "h")
    for d in devices:
        d.age = dt.timedelta(0)
        d.acc = 5.0
        if np.isnan(d.lon):
            d.lon, d.lat = middle.x, middle.y
    _locate(devices, counties)
    t = Targeter(regions, sweden.pilot_policy(), recognition=pilot.RECOGNITION)
    circle = Circle(middle.x, middle.y, 1800.0)
    res = t.target(_alert("tip_request", "p17-hb", circle, at), _index(devices, at), at)
    inc = Incident()
    _check(res, devices, "tip_request", Status.ACTUAL, circle, phases["tip_request"][1][1], inc,
           set(), commit=t)  # fmt: skip
    when = start3.strftime("%Y-%m-%d")
    left_out = [
        d for d in devices if d.county == "13" and not d.near_border and _place(d, circle) == "in"
    ]
    assert left_out
    for d in left_out:
        assert res.outcome_of(d.ident) is Outcome.OUTSIDE_ROLLOUT
        text = res.explain(d.ident)
        assert when in text and "phase 3" in text, text


def test_update_waiting_for_its_phase_is_the_one_retarget_delivers(
    regions: Any, counties: dict[str, Any], phases: dict[str, Any]
) -> None:
    """Trollhättan, phase 1: a tip request and its widening Update wait; phase 2 tells the Update's area."""
    start2 = next(s for s, codes in phases["tip_request"] if "14" in codes)
    at = start2 - dt.timedelta(minutes=30)
    place = PLACES["Trollhättan"]
    devices = _devices(np.random.default_rng(8), place, 80, "t")
    for d in devices:
        d.age = dt.timedelta(0)
    _locate(devices, counties)
    t = Targeter(regions, sweden.pilot_policy(), recognition=pilot.RECOGNITION)
    small, wide = Circle(place[0], place[1], 700.0), Circle(place[0], place[1], 2600.0)
    first = BUILDERS["tip_request"](
        identifier="p17-th", sender=SENDER, sent=at, area=small, sv=MSG, en=MSG, onset=at,
        expires=at + dt.timedelta(hours=4),
    )  # fmt: skip
    update = BUILDERS["tip_request"](
        identifier="p17-th2", sender=SENDER, sent=at + dt.timedelta(minutes=1), area=wide,
        sv=MSG, en=MSG, onset=at, expires=at + dt.timedelta(hours=4),
        msg_type=MessageType.UPDATE, references=(_ref(first),),
    )  # fmt: skip
    for alert, when in ((first, at), (update, at + dt.timedelta(minutes=1))):
        res = t.target(alert, _index(devices, when), when)
        assert res.verdict is Verdict.AREA_OUTSIDE_ROLLOUT, res.reason
        assert res.next_change == start2
    later = start2 + dt.timedelta(minutes=2)
    shown = t.preview(update, _index(devices, later), later)
    out = t.retarget(_index(devices, later), later)
    assert [r.alert_id for r in out] == ["p17-th2"]
    assert out[0].incident == f"{SENDER}/p17-th"
    enabled = _enabled(phases, "tip_request", later)
    inc = Incident()
    _check(shown, devices, "tip_request", Status.ACTUAL, wide, enabled, inc, set(), commit=None)
    _check(out[0], devices, "tip_request", Status.ACTUAL, wide, enabled, inc, set(), commit=t)
    assert t.retarget(_index(devices, later), later + dt.timedelta(minutes=1)) == []


def test_on_positions_streams_only_the_narrowed_area(
    regions: Any, counties: dict[str, Any]
) -> None:
    """Luleå: after an Update narrows an Explosion, phones entering only the old area are not told."""
    at = WHEN[1]
    place = PLACES["Luleå"]
    wide, small = Circle(place[0], place[1], 3000.0), Circle(place[0], place[1], 1000.0)
    t = Targeter(regions, sweden.pilot_policy(), recognition=pilot.RECOGNITION)
    first = _alert("explosion", "p17-lu", wide, at)
    res = t.target(first, _index([], at), at)
    assert res.verdict is Verdict.DELIVER
    at2 = at + dt.timedelta(minutes=3)
    narrowed = _alert("explosion", "p17-lu2", small, at2, msg_type=MessageType.UPDATE,
                      references=(_ref(first),))  # fmt: skip
    assert t.target(narrowed, _index([], at2), at2).verdict is Verdict.DELIVER
    movers = _devices(np.random.default_rng(13), place, 80, "m")
    for d in movers:
        d.age = dt.timedelta(0)
    at3 = at2 + dt.timedelta(minutes=1)
    got = {x.device_id for x in t.on_positions(_positions(movers, at3), at3)}
    assert {x.alert_id for x in t.on_positions(_positions(movers[:1], at3), at3)} <= {"p17-lu2"}
    want = set()
    for d in movers:
        where = None if np.isnan(d.lon) else _place(d, small)
        if where in ("in", "ambiguous"):
            want.add(d.ident)
        elif where is None and not np.isnan(d.lon):
            got.discard(d.ident)
    assert got == want


def test_an_empty_batch_with_an_empty_tester_list_is_accepted() -> None:
    """A service batching phones by the list may send an empty batch; its columns are empty."""
    at = WHEN[0]
    assert len(Positions([], [], [], accuracy_m=[], observed_at=[], tester=[])) == 0
    assert len(Positions(["a"], [15.0], [60.0], observed_at=at, tester=[True])) == 1


@pytest.mark.parametrize("kind", sorted(BUILDERS))
@pytest.mark.parametrize("name", ["Strömstad", "Haparanda", "Visby"])
def test_polygon_areas_with_exact_fixes(
    name: str, kind: str, regions: Any, counties: dict[str, Any], phases: dict[str, Any]
) -> None:
    """A random star-shaped polygon over a border town or an island's coast; shapely covers."""
    rng = np.random.default_rng(len(name) * 7 + len(kind))
    place = PLACES[name]
    az = np.sort(rng.uniform(-180.0, 180.0, 7))
    lon, lat, _ = GEOD.fwd(np.full(7, place[0]), np.full(7, place[1]), az,
                           rng.uniform(1500.0, 4000.0, 7))  # fmt: skip
    ring = list(zip(lon.tolist(), lat.tolist(), strict=True))
    oracle = sg.Polygon(ring)
    at = WHEN[2]  # every kind in the whole country
    devices = _devices(rng, place, 120, "g")
    for d in devices:
        d.acc, d.age = 0.0, dt.timedelta(0)
        if np.isnan(d.lon):
            d.lon, d.lat = place
    _locate(devices, counties)
    t = Targeter(regions, sweden.pilot_policy(), recognition=pilot.RECOGNITION)
    res = t.target(
        _alert(kind, f"p17-poly-{name}-{kind}", Polygon(ring), at), _index(devices, at), at
    )
    assert res.verdict is Verdict.DELIVER, res.reason
    got = set(res.recipients.tolist())
    per_county: dict[str, int] = {}
    for d in devices:
        point = sg.Point(d.lon, d.lat)
        if oracle.boundary.distance(point) < 1e-7 or (kind != "explosion" and d.near_border):
            continue
        inside = oracle.covers(point)
        told = inside and (kind == "explosion" or d.county is not None)
        assert (d.ident in got) == told, (d, res.outcome_of(d.ident), res.explain(d.ident))
        if told:
            per_county[d.county or "none"] = per_county.get(d.county or "none", 0) + 1
        elif inside:
            assert res.outcome_of(d.ident) is Outcome.BEYOND_BORDER
    if not any(d.near_border for d in devices):
        assert {k: v for k, v in res.per_county.items() if v} == per_county


@pytest.mark.parametrize("radius_m", [5500.0, 5800.0])
def test_explosion_area_guard_at_ostersund(radius_m: float, regions: Any) -> None:
    """The Explosion's max_area_km2 (read from the TOML) against pyproj's geodesic area."""
    limit = tomllib.loads(POLICY_TOML.read_text(encoding="utf-8"))["location_rules"]["explosion"][
        "max_area_km2"
    ]
    place = PLACES["Östersund"]
    az = np.linspace(0.0, 360.0, 2048, endpoint=False)
    lon, lat, _ = GEOD.fwd(np.full(az.size, place[0]), np.full(az.size, place[1]), az,
                           np.full(az.size, radius_m))  # fmt: skip
    area_km2 = abs(GEOD.polygon_area_perimeter(lon, lat)[0]) / 1e6
    at = WHEN[0]
    devices = [Device("o", place[0], place[1], 5.0, dt.timedelta(0), False)]
    t = Targeter(regions, sweden.pilot_policy(), recognition=pilot.RECOGNITION)
    alert = _alert("explosion", f"p17-guard-{radius_m:g}", Circle(*place, radius_m), at)
    res = t.target(alert, _index(devices, at), at)
    assert res.area_km2 == pytest.approx(area_km2, rel=1e-3)
    if area_km2 <= limit:
        assert res.verdict is Verdict.DELIVER and res.recipients.tolist() == ["o"]
        return
    assert res.verdict is Verdict.BLAST_RADIUS and res.recipients.size == 0
    assert f"{limit:.1f} km²" in res.reason and "explosion" in res.reason, res.reason
    sent = t.target(alert, _index(devices, at), at, confirm=True)
    assert sent.verdict is Verdict.DELIVER and sent.recipients.tolist() == ["o"]


def test_on_positions_applies_each_incidents_rules(
    regions: Any, counties: dict[str, Any], phases: dict[str, Any]
) -> None:
    """Ystad, four live incidents (Actual and Exercise, Explosion and tip request), one batch.

    Each device is streamed for exactly the incidents the oracle says cover it: status and
    tester, fail-open ambiguity and the stale rule for the Explosion only, territory.
    """
    at = WHEN[2]
    place = PLACES["Ystad"]
    circle = Circle(place[0], place[1], 1500.0)
    nobody = _index([], at)
    t = Targeter(regions, sweden.pilot_policy(), recognition=pilot.RECOGNITION)
    cases = {}
    for status in (Status.ACTUAL, Status.EXERCISE):
        for kind in sorted(BUILDERS):
            ident = f"p17-y-{kind}-{status.value}"
            assert t.target(_alert(kind, ident, circle, at, status=status), nobody, at).verdict is (
                Verdict.DELIVER
            )
            cases[ident] = (kind, status)
    later = at + dt.timedelta(minutes=5)
    devices = _devices(np.random.default_rng(17), place, 120, "s")
    _locate(devices, counties)
    streamed: dict[str, set[str]] = {ident: set() for ident in cases}
    for sent in t.on_positions(_positions(devices, later), later):
        streamed[sent.alert_id].add(str(sent.device_id))
    for ident, (kind, status) in cases.items():
        enabled = _enabled(phases, kind, later)
        for d in devices:
            ok, _ = _expected(d, kind, status, circle, enabled)
            if ok is not None:
                assert (d.ident in streamed[ident]) == ok, (ident, d)
