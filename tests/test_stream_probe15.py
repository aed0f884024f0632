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

import attrs
import numpy as np
import pytest
import shapely.geometry as sg
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod

from geotarget import Circle, PositionIndex, Positions, pilot
from geotarget.alerts import Alert, Status
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


@st.composite
def _batches(draw: st.DrawFn) -> list[tuple[dt.datetime, list[tuple[str, float, float]]]]:
    out = []
    for _ in range(draw(st.integers(1, 6))):
        at = T + draw(st.integers(0, 45 * 60)) * dt.timedelta(seconds=1)
        ids = draw(st.lists(st.sampled_from(_DEVICES), min_size=1, max_size=4, unique=True))
        fixes = [
            (
                i,
                18.0653 + draw(st.integers(-30, 30)) * 0.0005,
                59.3325 + draw(st.integers(-30, 30)) * 0.00025,
            )
            for i in ids
        ]
        out.append((at, fixes))
    return out


@settings(max_examples=25, deadline=None)
@given(batches=_batches())
def test_streaming_tells_each_device_each_incident_once_as_the_model_says(
    batches: list[tuple[dt.datetime, list[tuple[str, float, float]]]],
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
            observed_at=at,
            tester=[i.startswith("t") for i in ids],
        )
        expected = set()
        for ident, clon, clat, radius, onset, expires, status in ALERTS:
            if not onset <= at < expires:
                continue
            for dev, lon, lat in fixes:
                if status is Status.TEST and not dev.startswith("t"):
                    continue
                key = (dev, f"{SENDER}/{ident}")
                if key not in told and _inside(lon, lat, clon, clat, radius):
                    expected.add(key)
        got = targeter.on_positions(batch, at)
        pairs = [(d.device_id, d.incident) for d in got]
        assert len(pairs) == len(set(pairs)), pairs
        assert set(pairs) == expected, (at, fixes)
        told |= expected
        if got:  # confirm half of them, as numpy str arrays: the rest stay pending
            keys = np.array([d.key for d in got[::2]])
            assert targeter.confirm(keys, at).confirmed.size == keys.size
