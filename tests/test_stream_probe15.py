"""Streaming through ``Targeter.on_positions`` against a plain model of who is told what.

The model knows only the documented rules (DESIGN.md "Semantics", docs/delivery.rst,
docs/who_is_told.rst): an alert is active iff ``onset <= t < expires``; an Actual alert
tells the public, a Test alert only testers; a device is told an incident once, whatever the
number of batches; a fix is inside a circle iff its geodesic distance (pyproj ``Geod.inv``)
to the centre is at most the radius. Batches arrive in any time order, as a backend's
queues deliver them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import attrs
import numpy as np
import pytest
import shapely.geometry as sg
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod

from geotarget import Circle, PositionIndex, Positions, pilot
from geotarget.alerts import Alert, MessageType, Reference, Status
from geotarget.errors import InvalidType
from geotarget.ledger import DeliveryLedger, MemoryLedger, SQLiteLedger
from geotarget.regions import Region, RegionHierarchy, RegionSet
from geotarget.rollout import nationwide
from geotarget.targeting import Targeter, Verdict

UTC = dt.timezone.utc
T = dt.datetime(2026, 5, 4, 21, 30, tzinfo=UTC)
US = dt.timedelta(microseconds=1)
M = dt.timedelta(minutes=1)
H = dt.timedelta(hours=1)
SENDER = "polisen@polisen.se"
GEOD = Geod(ellps="WGS84")
_BOX = sg.box(17.7, 59.2, 18.3, 59.45)
REGIONS = RegionHierarchy(
    [
        RegionSet([Region(code="0180", name="Stockholm", level="municipality", geometry=_BOX)]),
        RegionSet([Region(code="SE", name="Sverige", level="country", geometry=_BOX)]),
    ],
    {"0180": "SE"},
)
_MSG = pilot.Message(headline="Explosionsrisk", description="Lämna området.", area_description="x")

#: (identifier, lon, lat, radius m, onset, expires, status) of the alerts in play.
ALERTS = (
    ("A", 18.0653, 59.3325, 600.0, T, T + 10 * M, Status.ACTUAL),
    ("B", 18.0700, 59.3340, 800.0, T + 5 * M, T + 40 * M, Status.ACTUAL),
    ("C", 18.0600, 59.3300, 700.0, T, T + 30 * M, Status.TEST),
)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DeliveryLedger]:
    led: DeliveryLedger = (
        MemoryLedger() if request.param == "memory" else SQLiteLedger(tmp_path / "d.db")
    )
    yield led
    led.close()


def _alert(
    ident: str,
    lon: float,
    lat: float,
    radius: float,
    onset: dt.datetime,
    expires: dt.datetime,
    status: Status,
) -> Alert:
    alert = pilot.explosion(
        identifier=ident,
        sender=SENDER,
        sent=T,
        area=Circle(lon, lat, radius),
        sv=_MSG,
        en=_MSG,
        onset=onset,
        expires=expires,
    )
    return attrs.evolve(alert, status=status)


def _inside(lon: float, lat: float, clon: float, clat: float, radius: float) -> bool:
    return float(GEOD.inv(clon, clat, lon, lat)[2]) <= radius


def _targeter(store: DeliveryLedger) -> Targeter:
    return Targeter(REGIONS, nationwide(), ledger=store, lease=dt.timedelta(seconds=30))


def _released(targeter: Targeter) -> None:
    """Every alert of :data:`ALERTS` delivered by ``target()`` (to nobody yet)."""
    nobody = PositionIndex(Positions(["nobody"], [18.29], [59.21], observed_at=T))
    for spec in ALERTS:
        at = max(T, spec[4])
        assert targeter.target(_alert(*spec), nobody, at).verdict is Verdict.DELIVER


def test_a_batch_older_than_one_past_expiry_still_tells_who_was_inside(
    store: DeliveryLedger,
) -> None:
    # A batch of 21:39:59.999999 handled after one of 21:40 (queues deliver out of order):
    # alert A was active then, the device stood at its centre. Before, the later batch made
    # this Targeter drop A for good, while a fresh Targeter over the same store told it.
    targeter = _targeter(store)
    _released(targeter)
    end = T + 10 * M
    first = targeter.on_positions(Positions(["x"], [18.0653], [59.3325], observed_at=end), end)
    assert "polisen@polisen.se/A" not in {d.incident for d in first}
    early = end - US
    late = targeter.on_positions(Positions(["y"], [18.0653], [59.3325], observed_at=early), early)
    fresh = _targeter(store).on_positions(
        Positions(["z"], [18.0653], [59.3325], observed_at=early), early
    )
    assert ("y", "polisen@polisen.se/A") in {(d.device_id, d.incident) for d in late}
    assert ("z", "polisen@polisen.se/A") in {(d.device_id, d.incident) for d in fresh}


_DEVICES = ("d0", "d1", "d2", "d3", "t0", "t1")  # t*: testers
#: How old each fix is at the batch's ``at`` (None: of unknown time; negative: a phone's clock
#: ahead, which counts as current).
_AGES = (
    dt.timedelta(0),
    30 * M,
    H,
    H + dt.timedelta(seconds=1),
    5 * H,
    24 * H,
    25 * H,
    None,
    -5 * M,
)
Fix = tuple[str, float, float, "dt.timedelta | None"]


def _told_by_model(fix: Fix, clon: float, clat: float, radius: float) -> bool:
    """The pilot's Explosion rules as docs/who_is_told.rst states them (exact fixes)."""
    _, lon, lat, age = fix
    if age is None:
        return False  # unknown time: too old for the kind
    if age <= H:  # current (a fix from the future too)
        return _inside(lon, lat, clon, clat, radius)
    if age <= 24 * H:  # stale, under StaleRule(24 h, 1000 m): its point in the area grown 1 km
        return _inside(lon, lat, clon, clat, radius + 1000.0)
    return False


@st.composite
def _batches(draw: st.DrawFn) -> list[tuple[dt.datetime, list[Fix]]]:
    out = []
    for _ in range(draw(st.integers(1, 6))):
        at = T + draw(st.integers(0, 45 * 60)) * dt.timedelta(seconds=1)
        ids = draw(st.lists(st.sampled_from(_DEVICES), min_size=1, max_size=4, unique=True))
        fixes = [
            (
                i,
                18.0653 + draw(st.integers(-40, 40)) * 0.0005,
                59.3325 + draw(st.integers(-40, 40)) * 0.00025,
                draw(st.sampled_from(_AGES)),
            )
            for i in ids
        ]
        out.append((at, fixes))
    return out


@settings(max_examples=80, deadline=None)
@given(batches=_batches())
def test_streaming_tells_each_device_each_incident_once_as_the_model_says(
    batches: list[tuple[dt.datetime, list[Fix]]],
) -> None:
    targeter = _targeter(MemoryLedger())
    _released(targeter)
    told: set[tuple[str, str]] = set()
    for at, fixes in batches:  # in the drawn order: not sorted by time
        ids = [f[0] for f in fixes]
        batch = Positions(
            ids,
            [f[1] for f in fixes],
            [f[2] for f in fixes],
            observed_at=[None if f[3] is None else at - f[3] for f in fixes],
            tester=[i.startswith("t") for i in ids],
        )
        expected = set()
        for ident, clon, clat, radius, onset, expires, status in ALERTS:
            if not onset <= at < expires:
                continue
            for fix in fixes:
                dev = fix[0]
                if status is Status.TEST and not dev.startswith("t"):
                    continue
                key = (dev, f"{SENDER}/{ident}")
                if key not in told and _told_by_model(fix, clon, clat, radius):
                    expected.add(key)
        got = targeter.on_positions(batch, at)
        pairs = [(str(d.device_id), d.incident) for d in got]
        assert len(pairs) == len(set(pairs)), pairs
        assert set(pairs) == expected, (at, fixes)
        told |= expected
        if got:  # confirm half of them, as numpy str arrays: the rest stay pending
            keys = np.array([d.key for d in got[::2]])
            assert targeter.confirm(keys, at).confirmed.size == keys.size


@st.composite
def _steps(draw: st.DrawFn) -> list[tuple[str, object]]:
    """Batches, with Updates (a new circle) and Cancels of the alerts between them."""
    out: list[tuple[str, object]] = []
    for batch in draw(_batches()):
        out.append(("batch", batch))
        if draw(st.booleans()):
            which = draw(st.integers(0, len(ALERTS) - 1))
            if draw(st.integers(0, 3)) == 0:
                out.append(("cancel", which))
            else:
                shift = (draw(st.integers(-8, 8)) * 0.001, draw(st.integers(-8, 8)) * 0.0005)
                out.append(("update", (which, shift, draw(st.sampled_from([300.0, 900.0])))))
    return out


@settings(max_examples=60, deadline=None)
@given(steps=_steps())
def test_updates_and_cancels_between_batches_tell_each_device_once(
    steps: list[tuple[str, object]],
) -> None:
    # The model: an Update's circle replaces its incident's for every later batch (whatever
    # the batch's time); a device whose delivery was confirmed is not told again, one still
    # pending on a replaced version is told the Update when it enters its area (delivery.rst,
    # guarantee 6); a Cancel ends it. Every other delivery is confirmed.
    targeter = _targeter(MemoryLedger())
    _released(targeter)
    nobody = PositionIndex(Positions(["nobody"], [18.29], [59.21], observed_at=T))
    current = {spec[0]: (spec[0], spec[1], spec[2], spec[3]) for spec in ALERTS}
    cancelled: set[str] = set()
    told: set[tuple[str, str]] = set()
    confirmed: set[tuple[str, str]] = set()
    sent = T + dt.timedelta(minutes=5)  # every alert active then; each message a second later
    for n, (what, arg) in enumerate(steps):
        sent += dt.timedelta(seconds=1)
        if what in ("update", "cancel"):
            which = arg if what == "cancel" else arg[0]  # type: ignore[index]
            ident, lon, lat, radius, onset, expires, status = ALERTS[which]  # type: ignore[index]
            if ident in cancelled:
                continue
            latest = current[ident][0]
            if what == "update":
                (dlon, dlat), radius = arg[1], arg[2]  # type: ignore[index]
                lon, lat = lon + dlon, lat + dlat
            msg = _alert(f"{ident}-{n}", lon, lat, radius, onset, expires, status)
            msg = attrs.evolve(
                msg,
                sent=sent,
                msg_type=MessageType.UPDATE if what == "update" else MessageType.CANCEL,
                references=(Reference(sender=SENDER, identifier=latest, sent=T),),
            )
            result = targeter.target(msg, nobody, sent)
            assert result.verdict is (Verdict.DELIVER if what == "update" else Verdict.CANCELLED)
            if what == "cancel":
                cancelled.add(ident)
            else:
                current[ident] = (f"{ident}-{n}", lon, lat, radius)
                incident = f"{SENDER}/{ident}"
                told = {k for k in told if k[1] != incident or k in confirmed}
            continue
        at, fixes = cast("tuple[dt.datetime, list[Fix]]", arg)
        ids = [f[0] for f in fixes]
        batch = Positions(
            ids,
            [f[1] for f in fixes],
            [f[2] for f in fixes],
            observed_at=at,
            tester=[i.startswith("t") for i in ids],
        )
        expected = set()
        for ident, _, _, _, onset, expires, status in ALERTS:
            _, clon, clat, radius = current[ident]
            if ident in cancelled or not onset <= at < expires:
                continue
            for dev, lon, lat, _ in fixes:
                key = (dev, f"{SENDER}/{ident}")
                if status is Status.TEST and not dev.startswith("t"):
                    continue
                if key not in told and _inside(lon, lat, clon, clat, radius):
                    expected.add(key)
        got = targeter.on_positions(batch, at)
        pairs = [(str(d.device_id), d.incident) for d in got]
        assert len(pairs) == len(set(pairs)), pairs
        assert set(pairs) == expected, (at, fixes)
        told |= expected
        done = targeter.confirm([d.key for d in got[::2]], at)
        assert done.confirmed.size == len(got[::2])
        confirmed |= set(pairs[::2])


def test_confirming_a_set_of_keys_is_refused_as_unordered(store: DeliveryLedger) -> None:
    targeter = _targeter(store)
    _released(targeter)
    got = targeter.on_positions(
        Positions(["a", "b", "c"], [18.0653] * 3, [59.3325] * 3, observed_at=T + M), T + M
    )
    with pytest.raises(InvalidType, match="set"):
        targeter.confirm({d.key for d in got}, T + M)
