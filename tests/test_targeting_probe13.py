"""Probe 13 of the life-safety pipeline, end to end: from an alert to the devices told.

Each test builds what an issuer sends (several info blocks with windows of their own, areas
of several parts) and compares what ``Targeter`` does with an oracle of its own: areas in km²
from ``pyproj.Geod`` (a circle's geodesic rim, a polygon's edges), membership from geodesic
distances and shapely, and the rules of docs/who_is_told.rst read as plain Python. Nothing of
the library's geometry is reused.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pyproj
import pytest
from targeting_helpers import SENDER, T0, make_regions, message

from geotarget import Circle, LocationRule, PositionIndex, Positions, pilot
from geotarget.alerts import Alert, AlertArea
from geotarget.rollout import nationwide
from geotarget.targeting import KindRules, Outcome, Targeter, TargetingResult, Verdict

GEOD = pyproj.Geod(ellps="WGS84")
MIN = dt.timedelta(minutes=1)


def _circle_km2(circle: Circle) -> float:
    """A circle's area from its geodesic rim (pyproj), in km²."""
    az = np.linspace(0.0, 360.0, 3600, endpoint=False)
    n = az.size
    lon, lat, _ = GEOD.fwd(
        np.full(n, circle.lon), np.full(n, circle.lat), az, np.full(n, circle.radius_m)
    )
    area, _ = GEOD.polygon_area_perimeter(lon, lat)
    return abs(area) / 1e6


def _told(circle: Circle, lon: float, lat: float) -> bool:
    """Whether an exact fix lies in a circle: its geodesic distance to the centre (pyproj)."""
    _, _, d = GEOD.inv(circle.lon, circle.lat, lon, lat)
    return bool(d <= circle.radius_m)


def _later_block(kind: str, now: Circle, later: Circle, begins: dt.timedelta) -> Alert:
    """A pilot alert over ``now`` whose blocks over ``later`` (sv and en) begin ``begins`` on."""
    build = {"explosion": pilot.explosion, "crime_modus": pilot.crime_modus}[kind]
    first = build(
        identifier="W1",
        sender=SENDER,
        sent=T0,
        area=now,
        sv=message("sv"),
        en=message("en"),
        onset=T0,
        expires=T0 + dt.timedelta(hours=2),
    )
    wider = [
        attrs.evolve(i, onset=T0 + begins, areas=[AlertArea.from_area("wider", later)])
        for i in first.infos
    ]
    return attrs.evolve(first, infos=(*first.infos, *wider))


# --- the blast-radius guard and info blocks that begin later ---------------------------------


def test_an_area_a_block_beginning_later_widens_past_the_limit_is_held_until_confirmed() -> None:
    """The guard weighs the area the version reaches when its later blocks begin.

    An Explosion (limit 100 km²) over a 500 m circle now and, from 30 minutes on, an 8 km
    circle (201 km² by pyproj): once targeted, the version streams the later block to devices
    entering it and is never held again. So its first targeting must hold it: it was delivered
    over the 500 m circle, and a device 5.6 km away was streamed half an hour later, unheld.
    """
    small, big = Circle(17.5, 59.5, 500.0), Circle(17.5, 59.5, 8000.0)
    assert _circle_km2(small) < 100.0 < _circle_km2(big)
    alert = _later_block("explosion", small, big, 30 * MIN)
    ids, lon, lat = ["near", "far"], [17.5, 17.6], [59.5, 59.5]
    assert _told(small, lon[0], lat[0]) and not _told(small, lon[1], lat[1])
    assert _told(big, lon[1], lat[1])
    t = Targeter(make_regions(), nationwide("XX"))
    held = t.target(alert, PositionIndex(Positions(ids, lon, lat, observed_at=T0)), T0)
    assert held.verdict is Verdict.BLAST_RADIUS
    assert held.area_km2 == pytest.approx(_circle_km2(big), rel=1e-6)
    assert "begin later" in held.reason
    later = T0 + 31 * MIN
    fixes = Positions(ids, lon, lat, observed_at=later)
    assert t.on_positions(fixes, later) == []  # nothing streams while it is held
    # Confirmed, it is told over the area in effect now, and the later block streams.
    sent = t.target(
        alert, PositionIndex(Positions(ids, lon, lat, observed_at=T0)), T0, confirm=True
    )
    assert sent.verdict is Verdict.DELIVER
    assert sent.recipients.tolist() == ["near"]
    assert [d.device_id for d in t.on_positions(fixes, later)] == ["far"]


def test_recipients_a_block_beginning_later_covers_count_for_the_guard() -> None:
    """``max_recipients`` counts the devices the version covers once its later blocks begin.

    A kind limited to 3 recipients, whose alert covers 1 device now and 6 with the block
    beginning in 10 minutes (exact fixes: pyproj distances decide), is held; without that
    block it is delivered.
    """
    rules = {
        "crime_modus": KindRules(
            location=LocationRule(accuracy=0.0), include_ambiguous=False, max_recipients=3
        )
    }
    now, wider = Circle(17.5, 59.5, 300.0), Circle(17.52, 59.5, 3000.0)
    lon = [17.5, 17.51, 17.52, 17.53, 17.54, 17.55]
    lat = [59.5] * len(lon)
    ids = [f"d{i}" for i in range(len(lon))]
    assert sum(_told(now, x, y) for x, y in zip(lon, lat, strict=True)) == 1
    assert sum(_told(wider, x, y) for x, y in zip(lon, lat, strict=True)) == 6
    index = PositionIndex(Positions(ids, lon, lat, observed_at=T0))
    t = Targeter(make_regions(), nationwide("XX"), location_rules=rules)
    held = t.target(_later_block("crime_modus", now, wider, 10 * MIN), index, T0)
    assert held.verdict is Verdict.BLAST_RADIUS
    assert "6 devices are covered with the info blocks that begin later" in held.reason
    alone = attrs.evolve(_later_block("crime_modus", now, wider, 10 * MIN), identifier="W2")
    alone = attrs.evolve(alone, infos=alone.infos[:2])
    told = t.target(alone, index, T0)
    assert told.verdict is Verdict.DELIVER and told.recipients.tolist() == ["d0"]


def test_a_block_that_has_ended_is_not_weighed_by_the_guard() -> None:
    """Only blocks in effect now or later count: one that ended holds nothing back.

    The 8 km block ran for the first 30 minutes; targeted after it, the alert is told over
    its 500 m circle (under the limit) without a confirm.
    """
    small, big = Circle(17.5, 59.5, 500.0), Circle(17.5, 59.5, 8000.0)
    alert = _later_block("explosion", small, big, 0 * MIN)
    ended = [attrs.evolve(i, expires=T0 + 30 * MIN) for i in alert.infos[2:]]
    alert = attrs.evolve(alert, infos=(*alert.infos[:2], *ended))
    at = T0 + 40 * MIN
    index = PositionIndex(Positions(["near", "far"], [17.5, 17.6], [59.5, 59.5], observed_at=at))
    got = Targeter(make_regions(), nationwide("XX")).target(alert, index, at)
    assert got.verdict is Verdict.DELIVER
    assert got.recipients.tolist() == ["near"]


def test_the_cluster_counts_the_later_blocks_and_tells_the_devices_in_effect(
    client: Any, tmp_path: Path
) -> None:
    """``DaskTargeter`` weighs the later blocks too, and still tells the devices in effect now.

    The count of the later blocks' devices is a second evaluation over the same stand-in
    index the workers fill: its devices must not take the place of those of the area in
    effect. Oracle: pyproj distances of exact fixes (who is in the 1 km circle now; who is
    in the 3 km one), the limit set just above and just below the latter.
    """
    pytest.importorskip("distributed", reason="the dask extra is not installed")
    from geotarget.dask import DaskTargeter, PartitionedPositions, write_partitioned
    from geotarget.ledger import MemoryLedger, SQLiteLedger

    now, wider = Circle(17.5, 59.5, 1000.0), Circle(17.5, 59.5, 3000.0)
    rng = np.random.default_rng(13)
    n = 600
    lon, lat = rng.uniform(17.44, 17.56, n), rng.uniform(59.47, 59.53, n)
    ids = [f"dev-{i:03d}" for i in range(n)]
    devices = Positions(ids, lon, lat, observed_at=T0)
    in_now = {i for i, x, y in zip(ids, lon, lat, strict=True) if _told(now, x, y)}
    in_wider = sum(_told(wider, x, y) for x, y in zip(lon, lat, strict=True))
    assert 0 < len(in_now) < in_wider
    write_partitioned(devices, tmp_path / "ds", cell_deg=0.01)
    alert = _later_block("crime_modus", now, wider, 10 * MIN)
    for limit, verdict in ((in_wider, Verdict.DELIVER), (in_wider - 1, Verdict.BLAST_RADIUS)):
        rules = {
            "crime_modus": KindRules(
                location=LocationRule(accuracy=0.0), include_ambiguous=False, max_recipients=limit
            )
        }

        def targeter(ledger: Any, rules: dict[str, KindRules] = rules) -> Targeter:
            return Targeter(make_regions(), nationwide("XX"), location_rules=rules, ledger=ledger)

        ds = PartitionedPositions(tmp_path / "ds", recheck_s=0)
        sqlite = SQLiteLedger(tmp_path / f"ledger-{limit}.sqlite")
        got = DaskTargeter(targeter(sqlite), ds, client).target(alert, T0)
        want = targeter(MemoryLedger()).target(alert, PositionIndex(devices), T0)
        assert got.verdict is want.verdict is verdict
        assert sorted(got.recipients.tolist()) == want.recipients.tolist()
        if verdict is Verdict.DELIVER:
            assert set(want.recipients.tolist()) == in_now


# --- the explanation of a device outside the area in effect ----------------------------------


def test_a_device_in_a_block_beginning_later_is_not_said_to_be_outside_the_alert_area() -> None:
    """``explain`` names the area in effect, which a later block's device lies outside of.

    ``Alert.area`` is every block's area: a device 5.6 km from the centre lies in it (pyproj:
    within the 8 km circle of the block beginning in 30 minutes), so "it is outside the alert
    area" told an operator something untrue. A device outside every block still is outside
    the area in effect then; an alert of one window keeps its words.
    """
    small, big = Circle(17.5, 59.5, 500.0), Circle(17.5, 59.5, 8000.0)
    alert = _later_block("explosion", small, big, 30 * MIN)
    ids, lon, lat = ["near", "later", "away"], [17.5, 17.6, 17.9], [59.5, 59.5, 59.5]
    assert [_told(big, x, y) for x, y in zip(lon, lat, strict=True)] == [True, True, False]
    assert [_told(small, x, y) for x, y in zip(lon, lat, strict=True)] == [True, False, False]
    index = PositionIndex(Positions(ids, lon, lat, observed_at=T0))
    got = Targeter(make_regions(), nationwide("XX")).target(alert, index, T0, confirm=True)
    assert got.recipients.tolist() == ["near"]
    for device in ("later", "away"):
        said = got.explain(device)
        assert f"is outside the area in effect at {T0.isoformat()}" in said
        assert "outside the alert area" not in said
    single = Targeter(make_regions(), nationwide("XX")).target(
        attrs.evolve(alert, identifier="W3", infos=alert.infos[:2]), index, T0
    )
    assert single.explain("away").endswith("it is outside the alert area")


# --- an area of geocodes only beside areas with geometry -------------------------------------


def test_an_area_of_geocodes_only_beside_a_circle_is_named_as_reaching_nobody() -> None:
    """An Alert built in code with a municipality's geocode beside a circle says what it drops.

    geotarget targets by geometry only: the circle's devices are told, the municipality's
    (named by a geocode) are not. ``receive`` warned of such an area (the CAP reader's
    warning); ``target`` of the same Alert said nothing, a silent nobody for that area. Now
    its warnings name each such area at the CAP reader's path.
    """
    from geotarget.alerts import NamedValue

    circle = Circle(17.25, 59.5, 1000.0)
    base = _later_block("explosion", circle, circle, 0 * MIN)
    kommun = AlertArea(description="Kommun 0202", geocodes=[NamedValue("SE-kommun", "0202")])
    infos = tuple(attrs.evolve(i, areas=(*i.areas, kommun)) for i in base.infos[:2])
    alert = attrs.evolve(base, infos=infos)
    ids, lon, lat = ["circle", "kommun"], [17.25, 18.75], [59.5, 59.5]
    assert _told(circle, lon[0], lat[0]) and not _told(circle, lon[1], lat[1])
    index = PositionIndex(Positions(ids, lon, lat, observed_at=T0))
    got = Targeter(make_regions(), nationwide("XX")).target(alert, index, T0)
    assert got.verdict is Verdict.DELIVER and got.recipients.tolist() == ["circle"]
    paths = [w.path for w in got.warnings]
    assert paths == ["info[0]/area[1]", "info[1]/area[1]"]
    assert all("reaches nobody" in w.message and "geocodes" in w.message for w in got.warnings)
    from geotarget import cap

    read = cap.read(cap.dumps(alert)).warnings
    assert set(paths) <= {w.path for w in read}
    plain = attrs.evolve(base, identifier="W4", infos=base.infos[:2])
    assert Targeter(make_regions(), nationwide("XX")).target(plain, index, T0).warnings == ()


# --- an Update of the texts after a block of the version it updates has ended ----------------


def _text_update(ident: str, of: Alert, sent: dt.datetime, expires: dt.datetime) -> Alert:
    """A text-only Update of ``of`` (no area geometry), told from ``sent`` to ``expires``."""
    from targeting_helpers import ref, without_area

    from geotarget.alerts import MessageType

    update = pilot.explosion(
        identifier=ident,
        sender=SENDER,
        sent=sent,
        area=Circle(17.5, 59.5, 500.0),
        sv=message("sv, again"),
        en=message("en, again"),
        onset=sent,
        expires=expires,
        msg_type=MessageType.UPDATE,
        references=(ref(of),),
    )
    return without_area(update)


def test_an_update_of_the_texts_does_not_bring_back_a_block_that_had_ended() -> None:
    """The area kept by a text-only Update is that of the blocks not ended when it was sent.

    Version 1: a 500 m circle for two hours and a 5 km evacuation zone for its first 30
    minutes. An Update of the texts sent 40 minutes in told a device 2.8 km out (inside the
    lifted zone only, pyproj says) as if the zone were in force again.
    """
    small, zone = Circle(17.5, 59.5, 500.0), Circle(17.5, 59.5, 5000.0)
    v1 = _later_block("explosion", small, zone, 0 * MIN)
    lifted = [attrs.evolve(i, expires=T0 + 30 * MIN) for i in v1.infos[2:]]
    v1 = attrs.evolve(v1, infos=(*v1.infos[:2], *lifted))
    t = Targeter(make_regions(), nationwide("XX"))
    first = t.target(v1, PositionIndex(Positions(["a"], [17.5], [59.5], observed_at=T0)), T0)
    assert first.recipients.tolist() == ["a"]
    assert first.claims is not None
    t.confirm(first.claims.keys(), T0)
    at = T0 + 40 * MIN
    ids, lon, lat = ["a", "zone", "centre"], [17.5, 17.55, 17.5005], [59.5, 59.5, 59.5]
    assert [_told(small, x, y) for x, y in zip(lon, lat, strict=True)] == [True, False, True]
    assert _told(zone, lon[1], lat[1])
    index = PositionIndex(Positions(ids, lon, lat, observed_at=at))
    got = t.target(_text_update("V2", v1, at, T0 + 2 * 60 * MIN), index, at)
    assert got.verdict is Verdict.DELIVER
    assert got.recipients.tolist() == ["centre"]
    assert got.outcome_of("zone") is Outcome.OUTSIDE_AREA


def test_an_update_of_the_texts_that_extends_the_alert_keeps_its_area() -> None:
    """An Update that only moves ``expires`` keeps the area for its whole window.

    Version 1 ends at T0 + 1 h; the Update, sent at T0 + 30 min, runs to T0 + 3 h: at
    T0 + 2 h a device in the 500 m circle (pyproj) is told, one outside it is not.
    """
    small = Circle(17.5, 59.5, 500.0)
    v1 = attrs.evolve(
        _later_block("explosion", small, small, 0 * MIN),
        infos=tuple(
            attrs.evolve(i, expires=T0 + 60 * MIN)
            for i in _later_block("explosion", small, small, 0 * MIN).infos[:2]
        ),
    )
    t = Targeter(make_regions(), nationwide("XX"))
    t.target(v1, PositionIndex(Positions(["a"], [17.5], [59.5], observed_at=T0)), T0)
    update = _text_update("V3", v1, T0 + 30 * MIN, T0 + 3 * 60 * MIN)
    assert (
        t.target(
            update, PositionIndex(Positions(["a"], [17.5], [59.5], observed_at=T0)), T0 + 30 * MIN
        ).verdict
        is Verdict.DELIVER
    )
    at = T0 + 2 * 60 * MIN
    ids, lon, lat = ["in", "out"], [17.503, 17.52], [59.5, 59.5]
    assert [_told(small, x, y) for x, y in zip(lon, lat, strict=True)] == [True, False]
    got = t.on_positions(Positions(ids, lon, lat, observed_at=at), at)
    assert [d.device_id for d in got] == ["in"]


# --- the blast-radius guard and a phase that begins before the alert expires -----------------


@pytest.mark.parametrize("share", [100.0, 40.0])
def test_recipients_a_phase_beginning_before_expiry_enables_count_for_the_guard(
    share: float,
) -> None:
    """``max_recipients`` counts the devices a later phase lets a version reach before it expires.

    A crime_modus alert over a 3 km circle across the county border at lon 18 (county 01 west,
    02 east; pyproj: 2 exact fixes in 01, 20 in 02, all inside it). Phase 1 enables 01; phase
    2, ten minutes later, adds 02 (both for ``share`` % of devices). Delivered to those of 01
    under a limit of 3, ``retarget`` at phase 2 told those of 02 unconfirmed. The guard now
    counts them: at a limit of all the devices told (at once and by ``retarget`` at phase 2)
    the alert is delivered, one below it is held.
    """
    from targeting_helpers import make_alert

    from geotarget.rollout import KindRollout, Phase, RolloutPolicy

    circle = Circle(18.0, 59.5, 3000.0)
    lon = [17.99, 17.98] + [18.001 + 0.0015 * k for k in range(20)]
    lat = [59.5] * len(lon)
    ids = [f"d{i:02d}" for i in range(len(lon))]
    assert all(_told(circle, x, y) for x, y in zip(lon, lat, strict=True))
    phases = [
        Phase(starts_at=T0 - dt.timedelta(days=1), regions=("01",), percentage=share),
        Phase(starts_at=T0 + 10 * MIN, regions=("01", "02"), percentage=share),
    ]
    rollout = RolloutPolicy(rollouts=[KindRollout(kind="crime_modus", phases=phases)], country="XX")
    alert = make_alert("crime_modus", circle)

    def run(limit: int) -> tuple[TargetingResult, list[str]]:
        rules = {
            "crime_modus": KindRules(
                location=LocationRule(accuracy=0.0), include_ambiguous=False, max_recipients=limit
            )
        }
        t = Targeter(make_regions(), rollout, location_rules=rules)
        got = t.target(alert, PositionIndex(Positions(ids, lon, lat, observed_at=T0)), T0)
        later = T0 + 11 * MIN
        again = t.retarget(PositionIndex(Positions(ids, lon, lat, observed_at=later)), later)
        return got, [d for r in again for d in r.recipients.tolist()]

    first, then = run(10**6)
    assert set(first.recipients.tolist()) <= {"d00", "d01"}
    assert then and {"d00", "d01"}.isdisjoint(then)
    told = len(first.recipients) + len(then)
    if share == 100.0:
        assert told == len(ids)
    held, _ = run(told - 1)
    assert held.verdict is Verdict.BLAST_RADIUS
    assert f"{told} devices are covered once phase 2 begins" in held.reason
    sent, later = run(told)
    assert sent.verdict is Verdict.DELIVER
    assert sent.recipients.tolist() == first.recipients.tolist() and later == then
