"""Probes of the rollout's reasons and "from when" over a whole phased schedule (round 12).

Oracle of its own: the phases read from the docs (the active phase is the last with
``starts_at <= t``; a code enables every place within it; a 0 % canary enables nobody), a
device's municipality from the reference boundaries with shapely, distances with pyproj, and
``next_change`` as the first later instant at which the answer (verdict and who is told)
differs, found by stepping through the schedule -- not the library's internals.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from geotarget.rollout import KindRollout, Phase, RolloutPolicy

UTC = dt.timezone.utc
T0 = dt.datetime(2025, 1, 10, 12, 0, tzinfo=UTC)
H = dt.timedelta(hours=1)

#: (start, codes, percentage, rollback): Stockholm first, elsewhere, the county, a rollback,
#: the police region, a 0 % canary adding Östhammar, then all of it, then the whole country.
SCHEDULE: list[tuple[dt.datetime, tuple[str, ...], float, bool]] = [
    (T0, ("0180",), 100.0, False),
    (T0 + 2 * H, ("0180", "04"), 100.0, False),
    (T0 + 4 * H, ("01", "0180", "04"), 100.0, False),
    (T0 + 6 * H, ("0180",), 100.0, True),
    (T0 + 8 * H, ("0180", "PR-STOCKHOLM"), 100.0, False),
    (T0 + 10 * H, ("0180", "PR-STOCKHOLM", "0382"), 0.0, True),
    (T0 + 12 * H, ("0180", "PR-STOCKHOLM", "0382"), 100.0, False),
    (T0 + 14 * H, ("SE", "0180", "PR-STOCKHOLM", "0382"), 100.0, False),
]
POLICE = {"PR-STOCKHOLM": ("01", "09")}


def _policy() -> RolloutPolicy:
    phases = [
        Phase(starts_at=s, regions=codes, percentage=pct, rollback=back)
        for s, codes, pct, back in SCHEDULE
    ]
    return RolloutPolicy(rollouts=[KindRollout(kind="explosion", phases=phases)])


def _enabled_munis(t: dt.datetime, munis: list[str]) -> set[str]:
    """The municipalities enabled at ``t``, from the schedule as the docs read it."""
    active = [row for row in SCHEDULE if row[0] <= t]
    if not active or active[-1][2] <= 0:
        return set()
    out: set[str] = set()
    for code in active[-1][1]:
        if code == "SE":
            out.update(munis)
        elif code in POLICE:
            out.update(m for m in munis if m[:2] in POLICE[code])
        else:
            out.update(m for m in munis if m.startswith(code))
    return out


@pytest.fixture(scope="module")
def world(shared_data: Path) -> dict[str, Any]:
    import shapely
    from shapely.geometry import shape

    doc = json.loads((shared_data / "sweden" / "kommuner_lantmateriet_wgs84.geojson").read_text())
    codes = [f["properties"]["kommun_kod"] for f in doc["features"]]
    shapes = [shape(f["geometry"]) for f in doc["features"]]
    return {"codes": codes, "shapes": shapes, "tree": shapely.STRtree(shapes)}


def _circle_polygon(lon: float, lat: float, radius: float) -> Any:
    import pyproj
    import shapely

    geod = pyproj.Geod(ellps="WGS84")
    az = np.linspace(0.0, 360.0, 721)[:-1]
    x, y, _ = geod.fwd(np.full(az.size, lon), np.full(az.size, lat), az, np.full(az.size, radius))
    return shapely.Polygon(np.column_stack([x, y]))


# Circles: wholly in Nacka (0182, county 01 but not 0180); wholly in Uppsala (0380, another
# police region); astride the Norrtälje (0188) / Östhammar (0382) border out at sea.
CIRCLES = {
    "nacka": (18.225, 59.300, 2_000.0),
    "uppsala": (17.777, 59.961, 2_000.0),
    "sea_border": (19.03, 60.29, 3_000.0),
    "territorial_rim": (19.15, 60.15, 6_000.0),  # astride the 12-mile line off Norrtälje
}


@pytest.mark.parametrize("where", sorted(CIRCLES))
@pytest.mark.parametrize("expires_after", [15, 9])
def test_next_change_is_the_next_instant_the_answer_changes(
    world: dict[str, Any], where: str, expires_after: int
) -> None:
    """Minute by minute around every phase edge: verdict, who is told, per county, from when."""
    import pyproj
    import shapely

    from geotarget import Area, Circle, PositionIndex, Positions, Targeter, pilot, sweden
    from geotarget.ledger import MemoryLedger
    from geotarget.targeting import Outcome, Verdict

    lon0, lat0, radius = CIRCLES[where]
    rng = np.random.default_rng(12)
    span = radius * 1.6 / 111_000.0
    lon = lon0 + rng.uniform(-span * 2, span * 2, 700)
    lat = lat0 + rng.uniform(-span, span, 700)
    points = shapely.points(lon, lat)
    muni = np.full(lon.size, "", dtype=object)
    near = np.zeros(lon.size, dtype=bool)
    for code, geom in zip(world["codes"], world["shapes"], strict=True):
        if not shapely.intersects(geom, shapely.box(lon.min(), lat.min(), lon.max(), lat.max())):
            continue
        muni[shapely.covers(geom, points)] = code
        near |= shapely.distance(geom.boundary, points) < 0.003
    geod = pyproj.Geod(ellps="WGS84")
    dist = geod.inv(np.full(lon.size, lon0), np.full(lon.size, lat0), lon, lat)[2]
    near |= np.abs(dist - radius) < 60.0
    keep = ~near
    lon, lat, muni, dist = lon[keep], lat[keep], muni[keep], dist[keep]
    in_area = dist <= radius
    ids = [f"d{k}" for k in range(lon.size)]
    disk = _circle_polygon(lon0, lat0, radius)
    # The municipalities the area reaches (by the reference polygons), for the verdict.
    reached = {
        c for c, g in zip(world["codes"], world["shapes"], strict=True) if g.intersects(disk)
    }
    munis = list(world["codes"])
    if where == "sea_border":  # devices on both sides of the border, at sea
        assert (in_area & (muni == "0188")).sum() > 10 and (in_area & (muni == "0382")).sum() > 10
    if where == "territorial_rim":  # devices on the territorial sea and beyond it
        assert (in_area & (muni == "0188")).sum() > 10 and (in_area & (muni == "")).sum() > 10

    onset = T0 - dt.timedelta(minutes=30)
    expires = T0 + expires_after * H
    msg = pilot.Message(headline="Explosion", description="Explosion.", area_description=where)
    alert = pilot.explosion(
        identifier=f"probe12-{where}", sender="polisen@polisen.se", sent=onset,
        area=Area([Circle(lon0, lat0, radius)]), sv=msg, en=msg, onset=onset, expires=expires,
    )  # fmt: skip
    targeter = Targeter(sweden.hierarchy(), _policy(), ledger=MemoryLedger())
    index = PositionIndex(
        Positions(ids, lon, lat, accuracy_m=np.full(lon.size, 5.0), observed_at=T0 + 20 * H)
    )

    def oracle(t: dt.datetime) -> tuple[str, tuple[str, ...], dict[str, int]]:
        if t < onset:
            return "NOT_YET_ACTIVE", (), {}
        if t >= expires:
            return "EXPIRED", (), {}
        active = [row for row in SCHEDULE if row[0] <= t]
        if not active or active[-1][2] <= 0:
            return "KIND_NOT_ENABLED", (), {}
        enabled = _enabled_munis(t, munis)
        if not reached & enabled:
            return "AREA_OUTSIDE_ROLLOUT", (), {}
        # Explosion is told beyond the border (pilot.KIND_RULES: beyond_border) once the
        # area reaches enabled territory: devices in no region then count under "none".
        told = in_area & np.isin(muni, [*sorted(enabled), ""])
        got = tuple(sorted(i for i, y in zip(ids, told, strict=True) if y))
        return "DELIVER", got, dict(Counter(m[:2] or "none" for m in muni[told]))

    edges = [onset] + [s for s, *_ in SCHEDULE] + [expires]
    candidates = sorted(set(edges))

    def oracle_next(t: dt.datetime) -> dt.datetime | None:
        """The next instant who is told changes; for an alert not delivered, it is delivered."""
        now = oracle(t)
        for c in candidates:
            if c <= t or c >= expires:
                continue
            then = oracle(c)
            if then[1:] != now[1:] if now[0] == "DELIVER" else then[0] == "DELIVER":
                return c
        return None

    times = sorted(
        {s + k * dt.timedelta(minutes=1) for s in edges for k in range(-2, 3)}
        | {s - dt.timedelta(microseconds=1) for s in edges}
    )
    for t in times:
        verdict, told, per_county = oracle(t)
        result = targeter.preview(alert, index, t)
        assert result.verdict is Verdict[verdict], (t, result.reason)
        assert tuple(sorted(result.recipients.tolist())) == told, t
        if verdict == "DELIVER":
            assert dict(result.per_county) == per_county, t
            assert sum(result.per_county.values()) == len(result.recipients), t
            assert sum(result.counts.values()) == len(ids), t
            enabled = np.isin(muni, [*sorted(_enabled_munis(t, munis)), ""])
            want = np.where(in_area, np.where(enabled, Outcome.INSIDE, Outcome.OUTSIDE_ROLLOUT), 0)
            got = [result.outcome_of(i) for i in ids]
            for i, w, g in zip(ids, want.tolist(), got, strict=True):
                assert (g or Outcome.OUTSIDE_AREA) is Outcome(w or Outcome.OUTSIDE_AREA), (t, i)
            assert result.counts[Outcome.OUTSIDE_ROLLOUT] == int((in_area & ~enabled).sum()), t
        expected = oracle_next(t)
        if verdict == "DELIVER":
            # Documented: the next phase start (the answer *may* change), never after the
            # instant it does change.
            nxt = next((s for s, *_ in SCHEDULE if s > t and s < expires), None)
            assert result.next_change == nxt, (t, result.reason)
            assert expected is None or (nxt is not None and nxt <= expected), t
        elif verdict == "NOT_YET_ACTIVE":
            assert result.next_change == onset, t
        elif verdict in ("KIND_NOT_ENABLED", "AREA_OUTSIDE_ROLLOUT"):
            assert result.next_change == expected, (t, verdict, result.reason)


REGIONS = ["0180", "0182", "0188", "0380", "0382", "0980", "01", "03", "04", "09", "PR-STOCKHOLM"]


def _munis_of(code: str, munis: list[str]) -> set[str]:
    if code in POLICE:
        return {m for m in munis if m[:2] in POLICE[code]}
    return {m for m in munis if m.startswith(code)}


@pytest.mark.parametrize("region", REGIONS)
def test_explain_tells_each_nested_region_when_it_next_flips(
    world: dict[str, Any], region: str
) -> None:
    """Municipality, county, police region: enabled, since when, and the next flip, exactly."""
    from geotarget import sweden

    policy = _policy()
    catalog = sweden.hierarchy()
    munis = list(world["codes"])
    mine = _munis_of(region, munis)
    assert mine

    def on(t: dt.datetime) -> bool:
        return mine <= _enabled_munis(t, munis)

    starts = [s for s, *_ in SCHEDULE]
    times = sorted(
        {s + k * dt.timedelta(minutes=1) for s in starts for k in range(-2, 3)}
        | {s - dt.timedelta(microseconds=1) for s in starts}
    )
    for t in times:
        e = policy.explain("explosion", region, t, catalog=catalog)
        assert e.enabled is on(t), (t, str(e))
        flip = next((s for s in starts if s > t and on(s) is not on(t)), None)
        assert e.change_at == flip, (t, str(e))
        began = [s for s in starts if s <= t]
        since = None
        for s in reversed(began):  # the start of the run of phases in today's state
            if on(s) is not on(t):
                break
            since = s
        was_on = any(on(s) for s in began)
        if not on(t) and not was_on:
            since = None  # never enabled: no phase began this state
        assert e.since == since, (t, str(e))
        d = policy.decide("explosion", t)
        # A device in each municipality of the region is covered iff the decision covers it.
        for m in sorted(mine)[:3]:
            assert d.covers(m, catalog) is (m in _enabled_munis(t, munis)), (t, m)


def test_timeline_spans_of_listed_codes_are_when_each_is_enabled_in_all_of_it(
    world: dict[str, Any],
) -> None:
    """With a catalog: each listed code's spans are the runs of time it is enabled in all of it."""
    from geotarget import sweden

    munis = list(world["codes"])
    timeline = _policy().timeline("explosion", sweden.hierarchy())
    starts = [s for s, *_ in SCHEDULE]
    listed = {c for _, codes, *_ in SCHEDULE for c in codes}
    for code in sorted(listed | set(REGIONS)):
        mine = _munis_of(code, munis) if code != "SE" else set(munis)
        runs: list[tuple[dt.datetime, dt.datetime | None]] = []
        for k, s in enumerate(starts):
            on = mine <= _enabled_munis(s, munis)
            if on and (not runs or runs[-1][1] is not None):
                runs.append((s, None))
            elif not on and runs and runs[-1][1] is None:
                runs[-1] = (runs[-1][0], s)
            del k
        first = runs[0][0] if runs else None
        assert timeline.enabled_from(code) == first, code
        if code in listed:
            spans = [(s.start, s.end) for s in timeline.spans if s.region == code]
            assert spans == runs, code


CANARY: list[tuple[dt.datetime, tuple[str, ...], float]] = [
    (T0, ("0180",), 10.0),
    (T0 + H, ("0180", "01"), 10.0),
    (T0 + 2 * H, ("0180", "01"), 35.0),
    (T0 + 3 * H, ("0180", "01", "SE"), 100.0),
]


@pytest.mark.parametrize("switch", ["none", "kind", "global"])
def test_canary_phases_and_kill_switches_tell_whom_and_from_when(
    world: dict[str, Any], switch: str
) -> None:
    """Canary shares at a municipality border, raised phase by phase; kill switches stop all."""
    import pyproj
    import shapely
    from rollout_helpers import oracle_bucket

    from geotarget import Area, Circle, PositionIndex, Positions, Targeter, pilot, sweden
    from geotarget.ledger import MemoryLedger
    from geotarget.targeting import Verdict

    lon0, lat0, radius = 18.00, 59.36, 3_000.0  # Stockholm, Solna, Sundbyberg
    rng = np.random.default_rng(1212)
    lon = lon0 + rng.uniform(-0.06, 0.06, 1500)
    lat = lat0 + rng.uniform(-0.03, 0.03, 1500)
    points = shapely.points(lon, lat)
    muni = np.full(lon.size, "", dtype=object)
    near = np.zeros(lon.size, dtype=bool)
    for code, geom in zip(world["codes"], world["shapes"], strict=True):
        if not shapely.intersects(geom, shapely.box(lon.min(), lat.min(), lon.max(), lat.max())):
            continue
        muni[shapely.covers(geom, points)] = code
        near |= shapely.distance(geom.boundary, points) < 0.003
    dist = pyproj.Geod(ellps="WGS84").inv(
        np.full(lon.size, lon0), np.full(lon.size, lat0), lon, lat
    )[2]
    keep = ~near & (np.abs(dist - radius) > 60.0)
    lon, lat, muni, in_area = lon[keep], lat[keep], muni[keep], dist[keep] <= radius
    ids = [f"dev-{k}" for k in range(lon.size)]
    assert len(set(muni[in_area])) >= 2
    policy = RolloutPolicy(
        rollouts=[
            KindRollout(
                kind="explosion",
                phases=[Phase(starts_at=s, regions=c, percentage=p) for s, c, p in CANARY],
            )
        ]
    )
    if switch == "kind":
        policy = policy.with_killed(kind="explosion")
    elif switch == "global":
        policy = policy.with_killed()
    bucket = np.array([oracle_bucket(i, policy.salt, "explosion") for i in ids])
    onset, expires = T0 - 10 * dt.timedelta(minutes=1), T0 + 5 * H
    msg = pilot.Message(headline="Explosion", description="Explosion.", area_description="Solna")
    alert = pilot.explosion(
        identifier="probe12-canary", sender="polisen@polisen.se", sent=onset,
        area=Area([Circle(lon0, lat0, radius)]), sv=msg, en=msg, onset=onset, expires=expires,
    )  # fmt: skip
    targeter = Targeter(sweden.hierarchy(), policy, ledger=MemoryLedger())
    index = PositionIndex(
        Positions(ids, lon, lat, accuracy_m=np.full(lon.size, 5.0), observed_at=T0 + 4 * H)
    )
    starts = [s for s, *_ in CANARY]
    told_before: set[str] = set()
    for t in sorted({s + k * dt.timedelta(minutes=1) for s in starts for k in range(-1, 2)}):
        result = targeter.preview(alert, index, t)
        active = [row for row in CANARY if row[0] <= t]
        if switch != "none" or not active:
            assert result.verdict is Verdict.KIND_NOT_ENABLED, (t, result.reason)
            assert result.recipients.size == 0
            want = None if switch != "none" else starts[0]
            assert result.next_change == want, (t, result.reason)
            continue
        _, codes, pct = active[-1]
        enabled = np.array(
            ["SE" in codes or m in codes or m[:2] in codes for m in muni], dtype=bool
        )
        told = in_area & enabled & (bucket < round(pct * 100))
        want_ids = sorted(i for i, y in zip(ids, told, strict=True) if y)
        assert result.verdict is Verdict.DELIVER, (t, result.reason)
        assert sorted(result.recipients.tolist()) == want_ids, t
        assert told_before <= set(want_ids), t  # raising the share never drops a device
        told_before = set(want_ids)
        assert dict(result.per_county) == dict(Counter(m[:2] for m in muni[told])), t
        assert result.next_change == next((s for s in starts if s > t), None), t


def test_a_municipality_listed_beside_its_county_is_not_named_as_a_second_place() -> None:
    """Saying "only in Stockholms län, Stockholm" reads as two places: the county says all."""
    from geotarget import sweden

    catalog = sweden.hierarchy()
    policy = RolloutPolicy(
        rollouts=[
            KindRollout(
                kind="explosion",
                phases=[
                    Phase(starts_at=T0, regions=["0180"]),
                    Phase(starts_at=T0 + H, regions=["0180", "01", "0382", "03"]),
                    Phase(starts_at=T0 + 2 * H, regions=["SE", "0180", "01", "0382", "03"]),
                ],
            )
        ]
    )
    now = policy.explain("explosion", "SE", T0 + H, catalog=catalog)
    assert now.enabled_within == ("01", "03")
    assert now.enabled_within_names == ("Stockholms län", "Uppsala län")
    assert "only in Stockholms län, Uppsala län:" in str(now)
    # What the next phase newly enables: Uppsala län, not also Östhammar within it.
    before = policy.explain("explosion", "SE", T0, catalog=catalog)
    assert before.partial_within == ("01", "03")
    assert "phase 2 enables it in Stockholms län, Uppsala län from" in str(before)
    # Police region Stockholm during the county phase of the main schedule.
    county = _policy().explain("explosion", "PR-STOCKHOLM", T0 + 4 * H, catalog=catalog)
    assert county.enabled_within == ("01",)


def test_a_region_rolled_back_to_a_part_of_it_is_told_the_rollback() -> None:
    """Stockholms län whole in phase 3, only Stockholm from phase 4: why not, and from when."""
    from geotarget import sweden

    catalog = sweden.hierarchy()
    e = _policy().explain(
        "explosion", "01", T0 + 6 * H + 5 * dt.timedelta(minutes=1), catalog=catalog
    )
    assert e.enabled_within == ("0180",) and e.since == T0 + 6 * H
    assert str(e) == (
        "Explosion alerts are not enabled in all of Stockholms län, only in Stockholm: phase 4 "
        "rolled back the rest of it on 2025-01-10 19:00 Europe/Stockholm; phase 5, which adds "
        "all of it again as part of Region Stockholm, starts 2025-01-10 21:00 Europe/Stockholm."
    )
    # Never enabled in all of it before: nothing was rolled back, and nothing is said so.
    first = _policy().explain("explosion", "01", T0 + H, catalog=catalog)
    assert first.since is None and "rolled" not in str(first)
