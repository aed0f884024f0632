"""Places, crowds and senders the other sweeps do not use, end to end against independent oracles.

:mod:`test_places_sweep` targets a few dozen devices per scene, so the pipeline's bulk paths --
leaves of devices accepted or refused whole, a grid cell's one answer for every device in it --
never run there. Here:

* **New places**: the sea border with Åland (Finnish) at Märket and across Ålands hav,
  Mariehamn itself, the Norwegian sea border off Koster, the Finnish one off Haparanda, the
  Danish one off Falsterbo and mid-Öresund, Hoburgs bank (the economic zone beyond the 12-mile
  line), Torneträsk, Gotska Sandön, and county borders in Vättern, Mälaren, Hjälmaren and
  Vänern; each as one circle and as a three-part area (one part reaching up to three radii
  away), with accuracy radii up to 5 km, fixes fresh, stale and too old, and none
  (:func:`places_oracle.expect`).
* **Crowds**: 8,000 devices at once around real borders, in the snapshot (``target``) and
  streamed (``on_positions``), under rollouts naming a municipality, a county or all Sweden,
  against a vectorised restatement of the contract (``pyproj.Geod`` distances, shapely on
  Lantmäteriet's SWEREF 99 TM boundaries).
* **Canary phases** at the Stockholm/Uppsala border: a device is told iff it is in the area,
  on enabled territory and in the canary (:meth:`RolloutPolicy.in_canary` is an input: it has
  its own conformance tests).
* **Issuers at real borders** (the operator's example policy file): a police region's sender at
  the Skåne/Halland border, across Öresund and at sea; an Explosion's parts abroad at
  Haparanda/Tornio, Copenhagen and Åland.

Devices within 61 m of a boundary that decides them (the shipped boundaries' stated 60 m
tolerance and a metre) are left out of the comparisons, and so are areas that meet a decisive
boundary by less than that: the oracle cannot call them.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest
import shapely
import shapely.geometry as sg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from places_oracle import (
    GEOD,
    TO_LL,
    TO_TM,
    UNSURE_M,
    Dev,
    Territory,
    circle_ring,
    expect,
    nearest_edge,
    offset,
)

from geotarget import Area, Circle, Polygon, PositionIndex, Positions, pilot, sweden
from geotarget.rollout import KindRollout, Phase, RolloutPolicy
from geotarget.targeting import Targeter

pytestmark = pytest.mark.shared_data

UTC = dt.timezone.utc
SENDER = "polisen@polisen.se"
MSG = pilot.Message(headline="Probe", description="Probe.", area_description="Probe")
#: The pilot's scenes: (kind, instant) in phase 1 (01), phase 2 (01, 12, 14), phase 3 (all).
SCENES = {
    "explosion": ("explosion", dt.datetime(2024, 5, 20, 12, 0, tzinfo=UTC)),
    "tip-phase1": ("tip_request", dt.datetime(2024, 5, 20, 12, 0, tzinfo=UTC)),
    "crime-phase2": ("crime_modus", dt.datetime(2024, 10, 1, 9, 0, tzinfo=UTC)),
    "tip-phase3": ("tip_request", dt.datetime(2025, 3, 3, 15, 0, tzinfo=UTC)),
}
AGES = tuple(dt.timedelta(minutes=m) for m in (0, 30, 59, 61, 600, 1439, 1441))
ACCURACY = (0.0, 5.0, 50.0, 500.0, 5000.0)
_IDS = itertools.count()

#: name -> (lon, lat, the boundary to centre on: "country", two county codes or None, radius).
PLACES: dict[str, tuple[float, float, Any, float]] = {
    "Märket, the Åland border on a skerry": (19.1311, 60.3011, "country", 3000.0),
    "Ålands hav, the median line": (19.35, 60.05, "country", 5000.0),
    "Mariehamn (Åland, Finland)": (19.94, 60.10, None, 3000.0),
    "Koster, the Norwegian sea border": (10.95, 58.95, "country", 4000.0),
    "Sandskär, the Finnish sea border off Haparanda": (23.9, 65.6, "country", 5000.0),
    "Falsterbo, the Danish sea border": (12.75, 55.38, "country", 4000.0),
    "Öresund between Malmö and Copenhagen": (12.75, 55.62, "country", 6000.0),
    "Hoburgs bank, the economic zone": (18.3, 56.55, None, 6000.0),
    "Torneträsk": (19.5, 68.35, None, 3000.0),
    "Gotska Sandön": (19.2, 58.38, None, 3000.0),
    "Vättern, the 05/18 county border": (14.80, 58.75, ("05", "18"), 3000.0),
    "Mälaren, the 03/19 county border": (16.9, 59.5, ("03", "19"), 3000.0),
    "Hjälmaren, the 04/18 county border": (15.9, 59.25, ("04", "18"), 3000.0),
    "Vänern, the 14/17 county border in the north": (13.6, 59.2, ("14", "17"), 3000.0),
}


@pytest.fixture(scope="module")
def territory(shared_data: Path) -> Territory:
    """The oracle's territory: Lantmäteriet's detailed municipalities and counties."""
    return Territory(shared_data)


@pytest.fixture(scope="module")
def targeter() -> Targeter:
    """The pilot as an integrator builds it."""
    return Targeter(sweden.hierarchy(), pilot.pilot_policy(), recognition=pilot.RECOGNITION)


def _alert(kind: str, parts: list[Circle | Polygon], at: dt.datetime, sender: str = SENDER) -> Any:
    make = {"explosion": pilot.explosion, "tip_request": pilot.tip_request,
            "crime_modus": pilot.crime_modus}[kind]  # fmt: skip
    return make(identifier=f"probe-{next(_IDS)}", sender=sender, sent=at,
                area=parts[0] if len(parts) == 1 else Area(parts), sv=MSG, en=MSG, onset=at,
                expires=at + dt.timedelta(hours=2))  # fmt: skip


def _snapshot(devs: list[Dev], at: dt.datetime) -> PositionIndex:
    return PositionIndex(
        Positions(
            [d.id for d in devs],
            [d.lon for d in devs],
            [d.lat for d in devs],
            accuracy_m=[d.accuracy_m for d in devs],
            observed_at=[at - d.age for d in devs],
        )
    )


def _centre(territory: Territory, name: str) -> tuple[float, float, float | None]:
    lon, lat, edge, _ = PLACES[name]
    if edge is None:
        return lon, lat, None
    return nearest_edge(territory, lon, lat, None if edge == "country" else edge)


def _devices(lon: float, lat: float, reach: float, normal: float | None, seed: int) -> list[Dev]:
    """Random devices up to 1.5 reaches away, a line across the boundary, and one with no fix."""
    rng = np.random.default_rng(seed)
    devs = [Dev("centre", lon, lat, 0.0, dt.timedelta(0))]
    for i in range(50):
        where = offset(lon, lat, float(rng.uniform(0, 360)), float(rng.uniform(0, 1.5 * reach)))
        devs.append(Dev(f"r{i}", *where, float(rng.choice(ACCURACY)),
                        AGES[int(rng.integers(len(AGES)))]))  # fmt: skip
    if normal is not None:
        for k, m in enumerate((0.0, 80.0, -80.0, 300.0, -300.0, 1500.0, -1500.0)):
            for acc in (0.0, 100.0, 3000.0):
                devs.append(Dev(f"n{k}-{acc:g}", *offset(lon, lat, normal, m), acc, AGES[k % 3]))
    devs.append(Dev("no-fix", math.nan, math.nan, 10.0, dt.timedelta(0)))
    return devs


def _shapes(lon: float, lat: float, r: float) -> dict[str, list[Circle | Polygon]]:
    return {
        "circle": [Circle(lon, lat, r)],
        "three parts": [
            Circle(*offset(lon, lat, 90.0, r * 0.5), r * 0.6),
            Polygon([offset(lon, lat, a, r * 0.8) for a in (200.0, 260.0, 320.0, 20.0)]),
            Circle(*offset(lon, lat, 0.0, r * 3.0), r * 0.3),
        ],
    }


def _compare(want: Any, result: Any, devs: list[Dev], label: str) -> None:
    """The verdict, recipients and outcomes equal the oracle's, its unsure devices left out."""
    if want.verdict_unsure:
        return
    assert result.verdict.value == want.verdict, f"{label}: {result.reason}"
    got = {str(i) for i in result.recipients.tolist()}
    wrong = sorted((want.told ^ got) - want.unsure)
    by_id = {d.id: d for d in devs}
    assert not wrong, f"{label}: " + "; ".join(f"{by_id[i]}: {result.explain(i)}" for i in wrong)
    outcomes = [
        f"{i}: {result.outcome_of(i)!r} not in {sorted(ok)}"
        for i, ok in sorted(want.outcomes.items())
        if getattr(result.outcome_of(i), "name", None) not in ok
    ]
    assert not outcomes, f"{label}: " + "; ".join(outcomes)


@pytest.mark.parametrize("name", sorted(PLACES))
def test_a_new_place_equals_the_oracle_in_every_pilot_scene(
    targeter: Targeter, territory: Territory, name: str
) -> None:
    """Who is told at the place, in each of the pilot's four scenes, is who the oracle says.

    Every other place (in name order) sends one circle, the rest three parts.
    """
    seed = sorted(PLACES).index(name)
    shape = "circle" if seed % 2 == 0 else "three parts"
    lon, lat, normal = _centre(territory, name)
    parts = _shapes(lon, lat, PLACES[name][3])[shape]
    devs = _devices(lon, lat, PLACES[name][3], normal, seed)
    for scene, (kind, at) in SCENES.items():
        result = targeter.target(_alert(kind, parts, at), _snapshot(devs, at), at, confirm=True)
        want = expect(territory, kind, parts, devs, at, confirm=True)
        _compare(want, result, devs, f"{name} / {shape} / {scene}")


def test_the_places_reach_both_sides_of_their_borders(territory: Territory) -> None:
    """The scenes can fail: devices are told and kept out at the sea borders, Åland included."""
    kind, at = SCENES["tip-phase3"]
    told = kept = 0
    for name in ("Märket, the Åland border on a skerry", "Koster, the Norwegian sea border",
                 "Falsterbo, the Danish sea border"):  # fmt: skip
        lon, lat, normal = _centre(territory, name)
        devs = _devices(lon, lat, PLACES[name][3], normal, 0)
        want = expect(territory, kind, [Circle(lon, lat, PLACES[name][3])], devs, at)
        told += len(want.told)
        kept += sum(1 for ok in want.outcomes.values() if "BEYOND_BORDER" in ok)
    assert told >= 10 and kept >= 10


# --- crowds: the bulk paths -----------------------------------------------------------------

#: (lon, lat, radius, kind, enabled code or None for the pilot at the scene's instant)
CROWDS = {
    "Luleå/Piteå sea border, tip request in Piteå": (22.3, 65.17, 8000.0, "tip_request", "2581"),
    "Svinesund, Explosion in Västra Götaland only": (11.25, 59.09, 6000.0, "explosion", "14"),
    "Haparanda/Tornio, Explosion nationwide": (24.15, 65.84, 5000.0, "explosion", "SE"),
    "Ålands hav, crime modus nationwide": (19.2, 60.2, 15000.0, "crime_modus", "SE"),
    "Öresund, tip request in Skåne": (12.85, 55.60, 9000.0, "tip_request", "12"),
    "Mälaren 01/03, tip request in Stockholm County": (17.45, 59.50, 4000.0, "tip_request", "01"),
}


def _crowd_oracle(
    territory: Territory,
    kind: str,
    circle: Circle,
    code: str,
    lon: np.ndarray,
    lat: np.ndarray,
    acc: np.ndarray,
    age_min: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, bool | None]:
    """Told and unsure per device, and whether the area meets enabled territory (DESIGN.md).

    That last is None when the area meets or misses it within the boundaries' tolerance.

    Fresh fixes (at most 60 min old) by their accuracy disk against the geodesic circle; an
    Explosion's stale fixes (at most 24 h) by their point within 1 km of it; then the fix's
    point on enabled territory, or beyond Sweden for an Explosion.
    """
    explosion = kind == "explosion"
    _, _, d = GEOD.inv(np.full(lon.size, circle.lon), np.full(lon.size, circle.lat), lon, lat)
    fresh = age_min <= 60
    inside = d + acc <= circle.radius_m
    meets = d <= circle.radius_m + acc
    in_area = fresh & (inside | (meets & explosion))
    unsure = fresh & (
        (np.abs(d + acc - circle.radius_m) < 1e-3) | (np.abs(d - acc - circle.radius_m) < 1e-3)
    )
    if explosion:
        stale = ~fresh & (age_min <= 24 * 60)
        in_area |= stale & (d <= circle.radius_m + 1000.0)
        unsure |= stale & (np.abs(d - circle.radius_m - 1000.0) < 1e-3)
    munis = territory.resolve(frozenset({code}))
    points = shapely.points(*TO_TM.transform(lon, lat))
    enabled = shapely.covers(territory.enabled(munis), points)
    sweden_ = shapely.covers(territory.country, points)
    if code == "SE" and explosion:
        on_territory = np.ones(lon.size, dtype=bool)  # nationwide, beyond the border: no lookup
    else:
        on_territory = enabled | (explosion & ~sweden_)
        edge = np.minimum(
            territory._distance(munis, points),
            territory._distance(frozenset(territory.munis), points),
        )
        unsure |= edge <= UNSURE_M
    ring = circle_ring(circle.lon, circle.lat, circle.radius_m)
    area_tm = sg.Polygon(np.column_stack(TO_TM.transform(ring[:, 0], ring[:, 1])))
    reaches, verdict_unsure = territory.graze(area_tm, munis)
    return in_area & on_territory, unsure, None if verdict_unsure else reaches


@pytest.mark.parametrize("streamed", [False, True], ids=["snapshot", "streamed"])
@pytest.mark.parametrize("name", sorted(CROWDS))
def test_a_crowd_at_a_border_equals_the_oracle(
    territory: Territory, name: str, streamed: bool
) -> None:
    """8,000 devices around a border: every one decided as the oracle decides it.

    In the snapshot, the counts per county are those of the recipients' fixes too.
    """
    lon0, lat0, radius, kind, code = CROWDS[name]
    at = dt.datetime(2024, 5, 20, 12, 0, tzinfo=UTC)
    policy = RolloutPolicy(
        rollouts=[KindRollout(kind=kind, phases=[Phase(starts_at=at - dt.timedelta(days=30),
                                                       regions=[code])])],
        country="SE",
    )  # fmt: skip
    tg = Targeter(sweden.hierarchy(), policy, recognition=pilot.RECOGNITION)
    rng = np.random.default_rng(sorted(CROWDS).index(name))
    n = 8_000
    lon, lat, _ = GEOD.fwd(np.full(n, lon0), np.full(n, lat0), rng.uniform(0.0, 360.0, n),
                           radius * 1.4 * np.sqrt(rng.uniform(0.0, 1.0, n)))  # fmt: skip
    acc = rng.choice([0.0, 0.0, 15.0, 300.0, 3000.0], n)
    age_min = rng.choice([0, 10, 60, 61, 600, 1500], n)
    positions = Positions(np.arange(n), lon, lat, accuracy_m=acc,
                          observed_at=[at - dt.timedelta(minutes=int(m)) for m in age_min])  # fmt: skip
    circle = Circle(lon0, lat0, radius)
    told, unsure, reaches = _crowd_oracle(territory, kind, circle, code, lon, lat, acc, age_min)
    assert reaches is True and told.sum() >= 300 and (~told & ~unsure).sum() >= 1000
    if streamed:
        nobody = PositionIndex(Positions(["far"], [16.0], [62.0], accuracy_m=[0.0], observed_at=at))
        first = tg.target(_alert(kind, [circle], at), nobody, at, confirm=True)
        assert first.verdict.value == "DELIVER", first.reason
        rows = [int(d.device_id) for d in tg.on_positions(positions, at)]
    else:
        result = tg.target(_alert(kind, [circle], at), PositionIndex(positions), at, confirm=True)
        assert result.verdict.value == "DELIVER", result.reason
        rows = np.asarray(result.recipients, dtype=np.int64).tolist()
        # the counts per county (beyond the border: "none") are the recipients' counties
        sure, near = territory.county_counts(lon[rows], lat[rows])
        for county in set(sure) | set(result.per_county):
            counted = result.per_county.get(county, 0)
            assert sure.get(county, 0) <= counted <= sure.get(county, 0) + near, county
    got = np.zeros(n, dtype=bool)
    got[rows] = True
    wrong = np.flatnonzero((got != told) & ~unsure)
    assert wrong.size == 0, (
        f"{name}: {wrong.size} devices differ, e.g. row {wrong[0]}: told {got[wrong[0]]}, "
        f"the oracle {told[wrong[0]]} (accuracy {acc[wrong[0]]:g} m, {age_min[wrong[0]]} min old)"
    )


@st.composite
def _crowd_at_an_edge(draw: st.DrawFn) -> tuple[int, float, str, str, int]:
    return (
        draw(st.integers(0, 2**31 - 1)),  # which boundary vertex
        draw(st.sampled_from([30.0, 400.0, 2500.0, 12_000.0])),
        draw(st.sampled_from(["explosion", "tip_request", "crime_modus"])),
        draw(st.sampled_from(["municipality", "county", "SE"])),
        draw(st.integers(0, 2**16)),
    )


@settings(
    max_examples=max(5, settings().max_examples // 10),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(_crowd_at_an_edge())
def test_a_crowd_anywhere_on_a_border_equals_the_oracle(
    territory: Territory, drawn: tuple[int, float, str, str, int]
) -> None:
    """2,000 devices around any vertex of a municipal border, the coast or the 12-mile line.

    The kind is enabled in the vertex's nearest municipality, its county or all Sweden.
    """
    vertex, radius, kind, level, seed = drawn
    edges = _edge_vertices(territory)
    x, y = edges[vertex % len(edges)]
    lon0, lat0 = (float(v) for v in TO_LL.transform(x, y))
    point = sg.Point(x, y)
    muni = min(territory.munis, key=lambda c: territory.munis[c].distance(point))
    code = {"municipality": muni, "county": territory.county_of[muni], "SE": "SE"}[level]
    at = dt.datetime(2024, 5, 20, 12, 0, tzinfo=UTC)
    phase = Phase(starts_at=at - dt.timedelta(days=30), regions=[code])
    policy = RolloutPolicy(rollouts=[KindRollout(kind=kind, phases=[phase])], country="SE")
    tg = Targeter(sweden.hierarchy(), policy, recognition=pilot.RECOGNITION)
    rng = np.random.default_rng(seed)
    n = 2000
    lon, lat, _ = GEOD.fwd(np.full(n, lon0), np.full(n, lat0), rng.uniform(0.0, 360.0, n),
                           radius * 1.5 * np.sqrt(rng.uniform(0.0, 1.0, n)))  # fmt: skip
    acc = rng.choice([0.0, 0.0, 10.0, 150.0, 2000.0], n)
    age_min = rng.choice([0, 10, 60, 61, 600, 1500], n)
    positions = Positions(np.arange(n), lon, lat, accuracy_m=acc,
                          observed_at=[at - dt.timedelta(minutes=int(m)) for m in age_min])  # fmt: skip
    circle = Circle(lon0, lat0, radius)
    told, unsure, reaches = _crowd_oracle(territory, kind, circle, code, lon, lat, acc, age_min)
    result = tg.target(_alert(kind, [circle], at), PositionIndex(positions), at, confirm=True)
    if reaches is None:
        return  # the area grazes enabled territory within the boundaries' tolerance
    if not reaches:
        assert result.verdict.value == "AREA_OUTSIDE_ROLLOUT", result.reason
        return
    assert result.verdict.value == "DELIVER", result.reason
    got = np.zeros(n, dtype=bool)
    got[np.asarray(result.recipients, dtype=np.int64)] = True
    wrong = np.flatnonzero((got != told) & ~unsure)
    assert wrong.size == 0, (
        f"{wrong.size} devices differ, e.g. row {wrong[0]}: told {got[wrong[0]]}, the oracle "
        f"{told[wrong[0]]} (accuracy {acc[wrong[0]]:g} m, {age_min[wrong[0]]} min old)"
    )


_EDGES: list[np.ndarray] = []


def _edge_vertices(territory: Territory) -> np.ndarray:
    """Every vertex of the detailed municipalities' boundaries (SWEREF 99 TM), made once."""
    if not _EDGES:
        rings = shapely.get_rings(shapely.get_parts(list(territory.munis.values())))
        _EDGES.append(shapely.get_coordinates(rings))
    return _EDGES[0]


# --- canary phases at a county border ---------------------------------------------------------


@pytest.mark.parametrize("percentage", [1.0, 30.0, 99.0])
def test_a_canary_at_the_stockholm_uppsala_border_tells_the_area_territory_and_canary(
    territory: Territory, percentage: float
) -> None:
    """A tip request enabled in 01 for all and in 03 for a percentage (one phase, all of it).

    A device is told iff it is in the area, in 01 or 03, and in the phase's canary.
    """
    start = dt.datetime(2024, 1, 1, tzinfo=UTC)
    at = dt.datetime(2024, 5, 20, 12, 0, tzinfo=UTC)
    policy = RolloutPolicy(rollouts=[KindRollout(kind="tip_request", phases=[
        Phase(starts_at=start, regions=["01"]),
        Phase(starts_at=start + dt.timedelta(days=1), regions=["01", "03"],
              percentage=percentage, rollback=True)])], country="SE")  # fmt: skip
    tg = Targeter(sweden.hierarchy(), policy, recognition=pilot.RECOGNITION)
    cx, cy, _ = nearest_edge(territory, 17.85, 59.69, ("01", "03"))
    n = 10_000
    rng = np.random.default_rng(int(percentage * 100))
    dist = rng.uniform(0.0, 6000.0, n)
    lon, lat, _ = GEOD.fwd(np.full(n, cx), np.full(n, cy), rng.uniform(0.0, 360.0, n), dist)
    ids = np.arange(n)
    index = PositionIndex(Positions(ids, lon, lat, accuracy_m=np.zeros(n), observed_at=at))
    result = tg.target(_alert("tip_request", [Circle(cx, cy, 5000.0)], at), index, at)
    got = np.zeros(n, dtype=bool)
    got[np.asarray(result.recipients, dtype=np.int64)] = True
    munis = territory.resolve(frozenset({"01", "03"}))
    points = shapely.points(*TO_TM.transform(lon, lat))
    reached = (dist <= 5000.0) & shapely.covers(territory.enabled(munis), points)
    want = reached & policy.in_canary("tip_request", ids, at)
    unsure = (territory._distance(munis, points) <= UNSURE_M) | (np.abs(dist - 5000.0) < 1e-3)
    assert not ((got != want) & ~unsure).any()
    assert 0 < want.sum() < reached.sum()


# --- issuers at real borders -----------------------------------------------------------------


@pytest.fixture(scope="module")
def operator() -> Targeter:
    """The Targeter of the operator's example policy file (docs/examples/pilot_policy.toml)."""
    import geotarget

    path = Path(__file__).resolve().parents[1] / "docs" / "examples" / "pilot_policy.toml"
    policy = geotarget.load_policy(path)
    return Targeter(sweden.hierarchy(), policy.rollout, recognition=policy.recognition,
                    issuers=policy.issuers, location_rules=policy.location_rules)  # fmt: skip


#: A police region's sender: (sender, its counties, a boundary to sweep or a place, radius).
SENDERS: dict[str, tuple[str, tuple[str, ...], tuple[float, float, Any], float]] = {
    "polisen-syd at the Skåne/Halland border": ("syd@polisen.se", ("07", "08", "10", "12"),
                                                (12.93, 56.45, ("12", "13")), 800.0),
    "polisen-syd at the Skåne/Blekinge border": ("syd@polisen.se", ("07", "08", "10", "12"),
                                                 (14.55, 56.04, ("12", "10")), 800.0),
    "polisen-syd across Öresund": ("syd@polisen.se", ("07", "08", "10", "12"),
                                   (12.82, 55.585, "country"), 3000.0),
    "polisen-stockholm at the 01/03 border at sea": ("stockholm@polisen.se", ("01", "09"),
                                                     (18.75, 60.10, ("01", "03")), 1500.0),
    "polisen-stockholm at the Åland border": ("stockholm@polisen.se", ("01", "09"),
                                              (19.35, 60.05, "country"), 4000.0),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(SENDERS))
def test_a_police_regions_sender_may_alert_up_to_its_border_and_abroad(
    operator: Targeter, territory: Territory, name: str
) -> None:
    """NOT_AUTHORISED iff the area reaches into a municipality outside the sender's counties.

    Circles stepped across the boundary; the oracle calls only those whose circle reaches
    61 m into such a municipality, or stays 61 m clear of all of them.
    """
    sender, counties, (lon, lat, edge), radius = SENDERS[name]
    cx, cy, normal = nearest_edge(territory, lon, lat, None if edge == "country" else edge)
    assert normal is not None
    outside = shapely.union_all(
        [g for c, g in territory.munis.items() if territory.county_of[c] not in counties]
    )
    kind, at = SCENES["tip-phase3"]
    called = 0
    for metres in (-3.0, -1.6, -1.2, -1.05, -0.5, 0.0, 0.5, 1.05, 1.2, 3.0):
        circle = Circle(*offset(cx, cy, normal, metres * radius), radius)
        ring = circle_ring(circle.lon, circle.lat, radius)
        area = sg.Polygon(np.column_stack(TO_TM.transform(ring[:, 0], ring[:, 1])))
        near = outside.intersection(shapely.box(*area.buffer(2 * UNSURE_M).bounds))
        if area.buffer(-UNSURE_M).intersects(near.buffer(-UNSURE_M)):
            want = True
        elif not area.intersects(near.buffer(UNSURE_M)):
            want = False
        else:
            continue
        called += 1
        alert = attrs.evolve(_alert(kind, [circle], at), sender=sender)
        result = operator.target(alert, _snapshot([], at), at, confirm=True)
        assert (result.verdict.value == "NOT_AUTHORISED") == want, (
            f"{name}, {metres:g} radii across: {result.verdict.value}: {result.reason}"
        )
    assert called >= 6


#: Explosion areas with parts abroad: (parts as (lon, lat, radius)), whether authorised.
ABROAD_PARTS = {
    "Haparanda and Tornio, touching": [(24.15, 65.84, 3000.0), (24.25, 65.85, 2000.0)],
    "Haparanda and Copenhagen": [(24.15, 65.84, 3000.0), (12.57, 55.68, 2000.0)],
    "Mariehamn and the Åland sea, apart": [(19.94, 60.10, 3000.0), (19.3, 60.1, 30_000.0)],
    "Mariehamn and the Åland sea, meeting": [(19.94, 60.10, 3000.0), (19.3, 60.1, 34_000.0)],
    "Tornio, then Haparanda through it": [(24.35, 65.87, 2000.0), (24.25, 65.85, 4000.0),
                                          (24.15, 65.84, 3000.0)],
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(ABROAD_PARTS))
def test_an_explosions_part_abroad_must_meet_one_reaching_sweden(
    operator: Targeter, territory: Territory, name: str
) -> None:
    """SOS Alarm's Explosion: a part wholly abroad is allowed iff meeting parts link it home.

    A chain of meeting parts must link it to a part reaching Swedish territory (two circles meet
    iff the geodesic distance of their centres is at most the sum of their radii).
    """
    specs = ABROAD_PARTS[name]
    parts: list[Circle | Polygon] = [Circle(x, y, r) for x, y, r in specs]
    country = territory.country
    reach = []
    for x, y, r in specs:
        ring = circle_ring(x, y, r)
        tm = sg.Polygon(np.column_stack(TO_TM.transform(ring[:, 0], ring[:, 1])))
        if tm.buffer(-UNSURE_M).intersects(country):
            reach.append(True)
        else:
            assert not tm.intersects(country.buffer(UNSURE_M)), f"{name}: part too close to call"
            reach.append(False)
    linked = set(np.flatnonzero(reach).tolist())
    grew = True
    while grew:
        grew = False
        for i, (x, y, r) in enumerate(specs):
            if i in linked:
                continue
            for j in list(linked):
                d = GEOD.inv(x, y, specs[j][0], specs[j][1])[2]
                assert abs(d - r - specs[j][2]) > 1.0, f"{name}: parts too close to call"
                if d <= r + specs[j][2]:
                    linked.add(i)
                    grew = True
                    break
    kind, at = SCENES["explosion"]
    alert = attrs.evolve(_alert(kind, parts, at), sender="larm@sosalarm.se")
    result = operator.target(alert, _snapshot([], at), at, confirm=True)
    if not linked:
        assert result.verdict.value == "AREA_OUTSIDE_ROLLOUT", result.reason
    elif len(linked) < len(parts):
        assert result.verdict.value == "NOT_AUTHORISED", result.reason
    else:
        assert result.verdict.value == "DELIVER", result.reason
