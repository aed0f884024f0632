"""Info blocks with their own times and areas: only the blocks in effect at ``at`` count.

CAP lets each ``<info>`` carry its own ``onset``/``effective``/``expires`` and ``<area>`` (a
warning for one district that ends before another's). A device in the area of a block whose
window has ended, or not begun, is not in the alert's area then. The oracle: each block's
window read from the document's own fields, circles decided by ``pyproj.Geod.inv``.
"""

from __future__ import annotations

import datetime as dt

import attrs
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod

from geotarget import Circle, PositionIndex, Positions, cap, pilot, sweden
from geotarget.alerts import Alert, AlertArea, Info
from geotarget.ledger import MemoryLedger
from geotarget.targeting import Targeter, Verdict

UTC = dt.timezone.utc
T0 = dt.datetime(2024, 5, 20, 10, 0, tzinfo=UTC)
H = dt.timedelta(hours=1)
GEOD = Geod(ellps="WGS84")
#: Two districts of Stockholm, 1 km circles 3 km apart.
WEST = Circle(18.02, 59.33, 1000.0)
EAST = Circle(18.08, 59.33, 1000.0)
MSG = pilot.Message(headline="Explosion", description="x", area_description="x")


def _info(area: Circle, *, onset: dt.datetime | None, expires: dt.datetime | None) -> Info:
    base = pilot.explosion(
        identifier="base", sender="polisen@example.se", sent=T0, area=area, sv=MSG,
        en=MSG, onset=T0, expires=T0 + H,
    ).infos[0]  # fmt: skip
    return attrs.evolve(
        base, onset=onset, expires=expires, areas=[AlertArea.from_area("district", area)]
    )


def _alert(*blocks: Info, identifier: str = "w-1") -> Alert:
    return Alert(
        identifier=identifier, sender="polisen@example.se", sent=T0, status="Actual",
        msg_type="Alert", scope="Public", infos=list(blocks),
    )  # fmt: skip


def _devices(at: dt.datetime, n: int = 4000, seed: int = 3) -> Positions:
    """``n`` devices around both districts, their fixes taken at ``at`` (fresh)."""
    rng = np.random.default_rng(seed)
    lon = rng.uniform(17.99, 18.11, n)
    lat = rng.uniform(59.315, 59.345, n)
    return Positions(np.arange(n), lon, lat, accuracy_m=np.zeros(n), observed_at=[at] * n)


def _inside(circle: Circle, positions: Positions) -> set[int]:
    n = len(positions)
    _, _, d = GEOD.inv(np.full(n, circle.lon), np.full(n, circle.lat), positions.lon, positions.lat)
    return {int(i) for i in positions.ids[d <= circle.radius_m]}


def _oracle(alert: Alert, positions: Positions, at: dt.datetime) -> set[int]:
    """Devices in the area of a block in effect at ``at``, by the blocks' own fields."""
    out: set[int] = set()
    for info in alert.infos:
        start = info.onset or info.effective or alert.sent
        if start <= at and (info.expires is None or at < info.expires):
            for a in info.areas:
                assert a.geometry is not None
                for part in a.geometry.parts:
                    assert isinstance(part, Circle)
                    out |= _inside(part, positions)
    return out


def _targeter() -> Targeter:
    return Targeter(sweden.hierarchy(), sweden.pilot_policy(), ledger=MemoryLedger())


def test_area_at_unites_the_blocks_in_effect() -> None:
    """West ends at 13:00, East at 18:00: at 14:00 only East's area is the alert's."""
    alert = _alert(
        _info(WEST, onset=T0, expires=T0 + 3 * H), _info(EAST, onset=T0, expires=T0 + 8 * H)
    )
    assert alert.windows == ((T0, T0 + 3 * H), (T0, T0 + 8 * H))
    assert alert.area_at(T0) is alert.area  # every block in effect
    at_two = alert.area_at(T0 + 2 * H)
    assert at_two is not None and set(at_two.parts) == {WEST, EAST}
    at_four = alert.area_at(T0 + 4 * H)
    assert at_four is not None and at_four.parts == (EAST,)
    assert alert.area_at(T0 + 9 * H) is None
    assert alert.area_at(T0 - H) is None
    same = _alert(_info(WEST, onset=T0, expires=None), _info(EAST, onset=T0, expires=None))
    assert same.area_at(T0 + 100 * H) is same.area
    with pytest.raises(Exception, match="timezone-aware"):
        alert.area_at(dt.datetime(2024, 5, 20, 12))


def test_a_device_in_an_expired_blocks_area_is_not_told() -> None:
    """target() and receive() at 14:00 tell East's devices only; West's block ended at 13:00."""
    alert = _alert(
        _info(WEST, onset=T0, expires=T0 + 3 * H), _info(EAST, onset=T0, expires=T0 + 8 * H)
    )
    for at in (T0 + 2 * H, T0 + 4 * H):
        positions = _devices(at)
        index = PositionIndex(positions)
        want = _oracle(alert, positions, at)
        got = _targeter().target(alert, index, at)
        assert got.verdict is Verdict.DELIVER, got.reason
        assert {int(i) for i in got.recipients} == want
        # The same document as an issuer sends it, through the strict reader.
        received = _targeter().receive(cap.dumps(alert).encode(), index, at)
        assert {int(i) for i in received.recipients} == want
    west_only = _inside(WEST, positions) - _inside(EAST, positions)
    assert west_only and not west_only & _oracle(alert, positions, T0 + 4 * H)
    preview = _targeter().preview(alert, index, T0 + 4 * H)  # (index: fixes of 14:00)
    assert {int(i) for i in preview.recipients} == _inside(EAST, positions)


def test_between_the_blocks_windows_the_alert_is_not_yet_active_again() -> None:
    """West 10-12, East 14-16: at 13:00 nobody, and the answer says when East begins."""
    positions = _devices(T0 + 4 * H)
    index = PositionIndex(positions)
    alert = _alert(
        _info(WEST, onset=T0, expires=T0 + 2 * H),
        _info(EAST, onset=T0 + 4 * H, expires=T0 + 6 * H),
    )
    targeter = _targeter()
    got = targeter.target(alert, index, T0 + 3 * H)
    assert got.verdict is Verdict.NOT_YET_ACTIVE
    assert got.next_change == T0 + 4 * H
    assert "none of the alert's info blocks is in effect" in got.reason
    assert len(got.recipients) == 0
    again = targeter.retarget(index, T0 + 4 * H)
    assert len(again) == 1
    assert {int(i) for i in again[0].recipients} == _inside(EAST, positions)


def test_streaming_tells_a_device_walking_into_a_block_in_effect_only() -> None:
    """After West ends, a device walking into West is not told; one walking into East is."""
    positions = _devices(T0, 400)
    index = PositionIndex(positions)
    alert = _alert(
        _info(WEST, onset=T0, expires=T0 + 3 * H), _info(EAST, onset=T0, expires=T0 + 8 * H)
    )
    targeter = _targeter()
    assert targeter.target(alert, index, T0).verdict is Verdict.DELIVER
    at = T0 + 4 * H
    walkers = Positions(
        np.array([10_001, 10_002]),
        np.array([WEST.lon, EAST.lon]),
        np.array([WEST.lat, EAST.lat]),
        accuracy_m=np.zeros(2),
        observed_at=[at, at],
    )
    told = {int(d.device_id) for d in targeter.on_positions(walkers, at)}
    assert told == {10_002}


_HOURS = st.integers(min_value=0, max_value=8)


@st.composite
def _blocks(draw: st.DrawFn) -> list[Info]:
    out = []
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        start = draw(st.one_of(st.none(), _HOURS))
        length = draw(st.one_of(st.none(), st.integers(min_value=1, max_value=6)))
        lon = draw(st.floats(min_value=18.0, max_value=18.1))
        radius = draw(st.floats(min_value=200.0, max_value=1500.0))
        onset = None if start is None else T0 + start * H
        expires = None if length is None else T0 + ((start or 0) + length) * H
        out.append(_info(Circle(lon, 59.33, radius), onset=onset, expires=expires))
    return out


@settings(max_examples=40, deadline=None)
@given(blocks=_blocks(), hour=_HOURS)
def test_recipients_are_those_of_the_blocks_in_effect(blocks: list[Info], hour: int) -> None:
    """Random blocks and times: DELIVER reaches exactly the oracle's devices, else nobody."""
    at = T0 + hour * H + dt.timedelta(minutes=30)
    positions = _devices(at, 1500)
    alert = _alert(*blocks)
    got = _targeter().target(alert, PositionIndex(positions), at)
    want = _oracle(alert, positions, at)
    if got.verdict is Verdict.DELIVER:
        assert {int(i) for i in got.recipients} == want
    else:
        assert not want, got.reason
        assert got.verdict in (Verdict.NOT_YET_ACTIVE, Verdict.EXPIRED), got.reason
