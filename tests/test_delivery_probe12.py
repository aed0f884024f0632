"""Delivery over time, against a plain model of the documented rules.

The model knows only what the docs state: an alert is active iff ``onset <= t < expires``,
and streams while one of its info blocks is in effect (``start <= t < end``); a claim not
confirmed within its lease comes back at ``claimed + lease`` (the instant itself counts),
leased again to one caller whether it is offered or dropped; a confirmation ends it, however
late. Times are probed to the microsecond, across the autumn change of Europe/Stockholm (the
repeated hour, told apart by ``fold``) and at ``keep_expired``'s edge.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import attrs
import pytest
import shapely.geometry as sg

from geotarget import Circle, PositionIndex, Positions, pilot
from geotarget.alerts import Alert, MessageType, Reference
from geotarget.ledger import DeliveryLedger, IncidentState, MemoryLedger, SQLiteLedger
from geotarget.regions import Region, RegionHierarchy, RegionSet
from geotarget.rollout import nationwide
from geotarget.targeting import Targeter, Verdict

UTC = dt.timezone.utc
SE = ZoneInfo("Europe/Stockholm")
T = dt.datetime(2026, 5, 4, 21, 30, tzinfo=UTC)
US = dt.timedelta(microseconds=1)
S = dt.timedelta(seconds=1)
H = dt.timedelta(hours=1)
LEASE = 30 * S
SENDER = "polisen@polisen.se"
INCIDENT = f"{SENDER}/SE-POL-1"
_BOX = sg.box(17.7, 59.2, 18.3, 59.45)
REGIONS = RegionHierarchy(
    [
        RegionSet([Region(code="0180", name="Stockholm", level="municipality", geometry=_BOX)]),
        RegionSet([Region(code="SE", name="Sverige", level="country", geometry=_BOX)]),
    ],
    {"0180": "SE"},
)
_MSG = pilot.Message(headline="Explosionsrisk", description="Lämna området.", area_description="x")


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DeliveryLedger]:
    led: DeliveryLedger = (
        MemoryLedger() if request.param == "memory" else SQLiteLedger(tmp_path / "d.db")
    )
    yield led
    led.close()


def _targeter(store: DeliveryLedger, keep: dt.timedelta = dt.timedelta(days=1)) -> Targeter:
    return Targeter(REGIONS, nationwide(), ledger=store, lease=LEASE, keep_expired=keep)


def _alert(
    ident: str = "SE-POL-1",
    *,
    sent: dt.datetime = T,
    expires: dt.datetime = T + 2 * H,
    update: bool = False,
    lon: float = 18.06528,
) -> Alert:
    refs = (Reference(sender=SENDER, identifier="SE-POL-1", sent=T),) if update else ()
    return pilot.explosion(
        identifier=ident,
        sender=SENDER,
        sent=sent,
        area=Circle(lon, 59.3325, 500.0),
        sv=_MSG,
        en=_MSG,
        onset=min(sent, T),
        expires=expires,
        references=refs,
        msg_type=MessageType.UPDATE if update else MessageType.ALERT,
    )


def _fixes(ids: list[str], at: dt.datetime) -> Positions:
    n = len(ids)
    return Positions(ids, [18.0653] * n, [59.3325] * n, observed_at=at, accuracy_m=[5.0] * n)


def _offered(targeter: Targeter, at: dt.datetime) -> list[str]:
    return sorted(d for c in targeter.redeliver(at) for d in c.devices.tolist())


def test_redeliver_offers_nothing_between_info_blocks_as_streaming_does(
    store: DeliveryLedger,
) -> None:
    # A CAP alert of two blocks, 21:30-22:30 and 23:30-00:30: between them no block is in
    # effect and on_positions tells nobody; redeliver offered the pending claims all the same.
    first, second = (T, T + H), (T + 2 * H, T + 3 * H)
    base = _alert(expires=T + 3 * H)
    blocks = (
        attrs.evolve(base.infos[0], onset=first[0], expires=first[1]),
        attrs.evolve(base.infos[1], onset=second[0], expires=second[1]),
    )
    alert = attrs.evolve(base, infos=blocks)
    targeter = _targeter(store)
    got = targeter.target(alert, PositionIndex(_fixes(["told", "pending"], T)), T)
    assert got.verdict is Verdict.DELIVER
    assert got.claims is not None
    targeter.confirm([k for k in got.claims.keys().tolist() if k.endswith(" told")], T)

    def in_effect(t: dt.datetime) -> bool:
        return any(a <= t < b for a, b in (first, second))

    lease_until = T + LEASE  # the model: one pending device, leased again whenever due
    probes = [
        T + LEASE,
        T + H - US,
        T + H,
        T + H + LEASE,
        T + 2 * H - US,
        T + 2 * H,
        T + 2 * H - US + LEASE,
        T + 3 * H - US + LEASE,
    ]
    for n, at in enumerate(probes):
        expected: list[str] = []
        if at >= lease_until:
            lease_until = at + LEASE
            expected = ["pending"] if in_effect(at) else []
        assert _offered(targeter, at) == expected, at
        walker = targeter.on_positions(_fixes([f"walker{n}"], at), at)  # told when in effect
        assert [d.device_id for d in walker] == ([f"walker{n}"] if in_effect(at) else []), at
        targeter.confirm([d.key for d in walker], at)


def test_a_lease_runs_out_at_its_instant_and_a_late_confirmation_still_counts(
    store: DeliveryLedger,
) -> None:
    targeter = _targeter(store)
    first = targeter.target(_alert(), PositionIndex(_fixes(["a", "b"], T)), T)
    assert first.claims is not None
    assert _offered(targeter, T + LEASE - US) == []
    again = targeter.redeliver(T + LEASE)  # another caller takes them while the first pushes
    assert sorted(d for c in again for d in c.devices.tolist()) == ["a", "b"]
    assert {c.lease_until for c in again} == {T + 2 * LEASE}
    late = targeter.confirm(first.claims.keys(), T + LEASE + S)  # the first push's answer
    assert late.confirmed.tolist() == [0, 1]
    second = targeter.confirm([k for c in again for k in c.keys().tolist()], T + LEASE + 2 * S)
    assert second.already.tolist() == [0, 1]
    assert _offered(targeter, T + 100 * LEASE) == []


def test_expiry_and_leases_in_the_repeated_autumn_hour_follow_instants_not_wall_clocks(
    store: DeliveryLedger,
) -> None:
    # 2026-10-25: Stockholm's 02:00-03:00 happens twice (CEST, then CET). The alert expires at
    # 02:30 CEST (00:30Z); 02:20 of the second pass (fold=1) is 01:20Z, after it.
    start = dt.datetime(2026, 10, 24, 22, 0, tzinfo=UTC)
    ends = dt.datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    targeter = _targeter(store)
    alert = _alert("SE-POL-1", sent=start, expires=ends)
    alert = attrs.evolve(alert, infos=tuple(attrs.evolve(i, onset=start) for i in alert.infos))
    got = targeter.target(alert, PositionIndex(_fixes(["a"], start)), start)
    assert got.verdict is Verdict.DELIVER

    def stockholm(h: int, m: int, s: int = 0, fold: int = 0) -> dt.datetime:
        return dt.datetime(2026, 10, 25, h, m, s, tzinfo=SE, fold=fold)

    for n, at in enumerate(
        [stockholm(2, 20), stockholm(2, 29, 59), stockholm(2, 30), stockholm(2, 20, fold=1)]
    ):
        ours = at.astimezone(UTC)
        told = targeter.on_positions(_fixes([f"w{n}"], ours), at)
        assert bool(told) == (ours < ends), at.isoformat()
    # a claim at 02:10:00 of the second pass is due 30 s later by the instant, in either form
    claimed = stockholm(2, 10, fold=1)
    assert [d.device_id for d in targeter.on_positions(_fixes(["late"], claimed), claimed)] == []
    later = _targeter(store)
    big = attrs.evolve(
        alert,
        identifier="SE-POL-2",
        sent=ends,
        msg_type=MessageType.UPDATE,
        references=(Reference(sender=SENDER, identifier="SE-POL-1", sent=start),),
        infos=tuple(attrs.evolve(i, expires=ends + 4 * H) for i in alert.infos),
    )
    up = later.target(big, PositionIndex(_fixes(["late"], claimed.astimezone(UTC))), claimed)
    assert up.recipients.tolist() == ["late"]
    # (not ``claimed + LEASE``: Python's addition in a zone drops ``fold``, landing in CEST)
    due = (claimed.astimezone(UTC) + LEASE).astimezone(SE)
    assert (due.hour, due.minute, due.second, due.fold) == (2, 10, 30, 1)
    assert _offered(later, stockholm(2, 10, 29, fold=1)) == []
    assert _offered(later, due) == ["late"]


@pytest.mark.parametrize("delta", [-S, dt.timedelta(0)])
def test_keep_expired_ends_at_its_instant(store: DeliveryLedger, delta: dt.timedelta) -> None:
    keep = 3 * H
    targeter = _targeter(store, keep)
    targeter.target(_alert(), PositionIndex(_fixes(["a"], T)), T)
    at = T + 2 * H + keep + delta  # the alert expires at T + 2 h
    assert targeter.on_positions(_fixes(["z"], at), at) == []
    inc = targeter.ledger.incident(INCIDENT)
    assert inc is not None
    kept = at - (T + 2 * H) < keep
    assert inc.state is (IncidentState.ACTIVE if kept else IncidentState.EXPIRED)
    revive = _alert("SE-POL-2", sent=at, expires=at + H, update=True)
    got = targeter.target(revive, PositionIndex(_fixes(["a", "b"], at)), at)
    assert got.verdict is (Verdict.DELIVER if kept else Verdict.EXPIRED)
    assert got.recipients.tolist() == (["a", "b"] if kept else [])


def test_retarget_tells_devices_a_delivered_alert_reaches_once_its_next_block_begins(
    store: DeliveryLedger,
) -> None:
    # Two blocks of one alert: 500 m around A from 21:30 to 22:30, 500 m around B (about
    # 7.6 km east) from 23:30. Delivered at 21:30 to the device at A; at 23:30 the device
    # standing at B since before (no new fix: on_positions has nothing to tell it from) is in
    # the area in effect, and retarget, the call for "an alert whose time has come", passed
    # the delivered version over.
    west, east = _alert(expires=T + 3 * H), _alert(expires=T + 3 * H, lon=18.2)
    east = attrs.evolve(
        west,
        infos=(
            attrs.evolve(west.infos[0], expires=T + H),
            attrs.evolve(east.infos[1], onset=T + 2 * H),
        ),
    )
    targeter = _targeter(store)
    fixes = Positions(
        ["at_a", "at_b"], [18.0653, 18.2001], [59.3325] * 2, observed_at=T, accuracy_m=[5.0] * 2
    )
    first = targeter.target(east, PositionIndex(fixes), T)
    assert first.recipients.tolist() == ["at_a"]

    def told(at: dt.datetime) -> list[str]:
        return [
            d for r in targeter.retarget(PositionIndex(fixes), at) for d in r.recipients.tolist()
        ]

    assert told(T + H) == []  # block 1 ends: the area in effect narrows
    assert told(T + 2 * H - US) == []  # the gap
    assert told(T + 2 * H) == ["at_b"]  # block 2 begins: B's device, once
    assert told(T + 2 * H + S) == []


def test_retarget_tells_devices_a_delivered_alert_reaches_once_a_phase_enables_them() -> None:
    # An alert over the border of counties 01 and 02 (lon 18), 02 enabled an hour later:
    # delivered at once in 01; at the phase's start the device standing in 02 since before.
    from targeting_helpers import T0, make_alert, make_regions, policy, positions

    pol = policy({"crime_modus": [(T0 - 24 * H, ("01",)), (T0 + H, ("01", "02"))]})
    targeter = Targeter(make_regions(), pol, ledger=MemoryLedger())
    alert = make_alert("crime_modus", Circle(18.0, 59.5, 3000.0), ident="C1", hours=6)
    fixes = PositionIndex(positions([17.99, 18.01], [59.5, 59.5]))  # d0 in 01, d1 in 02
    first = targeter.target(alert, fixes, T0)
    assert (first.recipients.tolist(), first.next_change) == (["d0"], T0 + H)

    def told(at: dt.datetime) -> list[str]:
        return [d for r in targeter.retarget(fixes, at) for d in r.recipients.tolist()]

    assert told(T0 + H - US) == []
    assert told(T0 + H) == ["d1"]
    assert told(T0 + 2 * H) == []
