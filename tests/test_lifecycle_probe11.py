"""Message chains as real issuers send them, through ``Targeter.target``, against a plain model.

MeteoAlarm and NWS Updates name every earlier version; others name only the previous one. The
chains here arrive in shuffled orders, end with one or two Cancels (one naming only the last
Update), name versions with ``sent`` written at another offset or another instant, change
status or the sender's case, or run past 100 versions. After each step the devices told are
checked against a model of the documented semantics (docs/who_is_told.rst): an incident is its
first alert's (sender, identifier), any version names it, a device is told an incident once,
an Update widening the area tells only the newly covered, a Cancel retracts from everyone told.
Coverage is the geodesic distance on WGS84 (pyproj), not the library's area code.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from pyproj import Geod
from targeting_helpers import SENDER, T0, exact_rules, make_alert, make_regions, ref

from geotarget import Circle, PositionIndex, Positions
from geotarget.alerts import Alert, MessageType, Reference, Status
from geotarget.issuers import Issuer, Issuers
from geotarget.ledger import DeliveryLedger, IncidentState, MemoryLedger, SQLiteLedger
from geotarget.rollout import nationwide
from geotarget.targeting import Targeter, TargetingResult, Verdict

M = dt.timedelta(minutes=1)
_GEOD = Geod(ellps="WGS84")
REGIONS = make_regions()
CENTRE = (17.25, 59.5)  # municipality 0101
#: Devices due east of the centre, 150 m apart.
SPOTS = {f"d{i}": _GEOD.fwd(*CENTRE, 90.0, 150.0 * i + 75.0)[:2] for i in range(30)}
AT = T0 + 600 * M


@pytest.fixture(params=["memory", "sqlite"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DeliveryLedger]:
    store: DeliveryLedger = (
        MemoryLedger() if request.param == "memory" else SQLiteLedger(tmp_path / "d.db")
    )
    yield store
    store.close()


def _covered(radius: float) -> set[str]:
    """The model's coverage: geodesic distance from the centre at most the radius."""
    return {d for d, s in SPOTS.items() if _GEOD.inv(CENTRE[0], CENTRE[1], s[0], s[1])[2] <= radius}


def _index(at: dt.datetime) -> PositionIndex:
    ids = list(SPOTS)
    return PositionIndex(
        Positions(ids, [SPOTS[i][0] for i in ids], [SPOTS[i][1] for i in ids], observed_at=at)
    )


def _msg(
    ident: str,
    radius: float,
    sent: dt.datetime,
    msg_type: MessageType = MessageType.ALERT,
    refs: tuple[Reference, ...] = (),
    **changes: Any,
) -> Alert:
    alert = make_alert(
        "tip_request",
        Circle(*CENTRE, radius),
        ident=ident,
        sent=sent,
        msg_type=msg_type,
        refs=refs,
        hours=48,
    )
    return attrs.evolve(alert, **changes) if changes else alert


def _chain(radii: list[float], style: str) -> list[Alert]:
    """An Alert and its Updates, each naming every earlier version ("all") or the last one."""
    chain = [_msg("V0", radii[0], T0)]
    for k, radius in enumerate(radii[1:], start=1):
        refs = tuple(map(ref, chain)) if style == "all" else (ref(chain[-1]),)
        chain.append(_msg(f"V{k}", radius, T0 + k * M, MessageType.UPDATE, refs))
    return chain


class _Run:
    """A Targeter over ``ledger`` whose pushes all succeed: what each device was offered."""

    def __init__(self, ledger: DeliveryLedger) -> None:
        self.t = Targeter(REGIONS, nationwide("XX"), location_rules=exact_rules(), ledger=ledger)
        self.told: Counter[str] = Counter()
        self.retracted: Counter[str] = Counter()

    def send(self, alert: Alert) -> TargetingResult:
        r = self.t.target(alert, _index(AT), AT)
        if r.claims is not None and len(r.claims):
            self._offered(r.claims.kind.value, r.claims.devices.tolist())
            self.t.confirm(r.claims.keys(), AT)
        return r

    def redeliver(self) -> None:
        for later in (AT + dt.timedelta(seconds=1), AT + 10 * M):
            for claims in self.t.redeliver(later):
                self._offered(claims.kind.value, claims.devices.tolist())
                self.t.confirm(claims.keys(), later)

    def _offered(self, kind: str, devices: list[str]) -> None:
        (self.retracted if kind == "retraction" else self.told).update(devices)


@pytest.mark.parametrize("style", ["all", "previous"])
def test_a_chain_in_order_tells_each_device_once_and_only_the_newly_covered(
    ledger: DeliveryLedger, style: str
) -> None:
    radii = [700.0, 300.0, 1500.0, 1500.0, 2500.0, 600.0, 3500.0]
    run = _Run(ledger)
    told: set[str] = set()
    for version in _chain(radii, style):
        r = run.send(version)
        expected = _covered(radii[int(version.identifier[1:])]) - told
        told |= expected
        assert r.incident == f"{SENDER}/V0"
        assert set(r.recipients.tolist()) == expected, r.reason
    assert max(run.told.values()) == 1 and set(run.told) == told


@pytest.mark.parametrize("seed", range(6))
def test_a_meteoalarm_chain_in_any_order_tells_each_device_once(
    ledger: DeliveryLedger, seed: int
) -> None:
    # Every Update names every earlier version: whatever arrives first names the incident,
    # so the chain is one incident in any order; a version is delivered only if it is newer
    # than every one seen before, and then tells only the devices it newly covers.
    rnd = random.Random(seed)
    radii = [rnd.choice([200.0, 700.0, 1500.0, 3000.0]) for _ in range(12)]
    chain = _chain(radii, "all")
    order = list(range(len(chain)))
    rnd.shuffle(order)
    run = _Run(ledger)
    newest, told = -1, set[str]()
    for i in order:
        r = run.send(chain[i])
        assert r.incident == f"{SENDER}/V0"
        if i > newest:
            newest, expected = i, _covered(radii[i]) - told
            told |= expected
        else:
            assert r.verdict is Verdict.SUPERSEDED, r.reason
            expected = set()
        assert set(r.recipients.tolist()) == expected, (i, r.reason)
    assert max(run.told.values()) == 1
    incident = ledger.incident(f"{SENDER}/V0")
    assert incident is not None and incident.version == f"{SENDER}/V{len(chain) - 1}"


@pytest.mark.parametrize("seed", range(10))
def test_a_cancelled_chain_in_any_order_retracts_from_everyone_it_told(
    ledger: DeliveryLedger, seed: int
) -> None:
    # The Cancel names only the last Update (NWS style), or every version; a second Cancel
    # naming all of them and the first Cancel comes too. In any arrival order every version
    # ends in a cancelled incident, every device told (in any piece of the chain before its
    # pieces were linked) is offered a retraction, and nothing later tells anyone.
    rnd = random.Random(seed)
    radii = [rnd.choice([200.0, 700.0, 1500.0, 3000.0]) for _ in range(8)]
    chain = _chain(radii, rnd.choice(["all", "previous"]))
    last = T0 + 20 * M
    first = _msg("C1", 1.0, last, MessageType.CANCEL, (ref(chain[-1]),))
    every = (*map(ref, chain), ref(first))
    messages = [*chain, first, _msg("C2", 1.0, last + M, MessageType.CANCEL, every)]
    rnd.shuffle(messages)
    run = _Run(ledger)
    for message in messages:
        run.send(message)
    run.redeliver()
    for message in messages:
        key = run.t.incident_of(message)
        incident = ledger.incident(key) if key is not None else None
        assert incident is not None and incident.state is IncidentState.CANCELLED, message
    assert set(run.told) <= set(run.retracted)
    assert max(run.retracted.values(), default=1) == 1
    late = _msg("V99", 5000.0, last + 2 * M, MessageType.UPDATE, (ref(chain[-1]),))
    assert run.send(late).recipients.size == 0


def test_references_with_sent_at_another_offset_or_instant_name_the_same_version(
    ledger: DeliveryLedger,
) -> None:
    # A version is (sender, identifier): a reference whose sent is written at +02:00 (the
    # same instant), or is another instant altogether (an issuer's clerical slip), still
    # names it, and the chain stays one incident.
    run = _Run(ledger)
    v0 = _msg("V0", 200.0, T0)
    run.send(v0)
    plus2 = dt.timezone(dt.timedelta(hours=2))
    same = Reference(sender=SENDER, identifier="V0", sent=T0.astimezone(plus2))
    other = Reference(sender=SENDER, identifier="V0", sent=T0 + dt.timedelta(hours=1))
    told = _covered(200.0)
    for k, (reference, radius) in enumerate([(same, 700.0), (other, 1200.0)], start=1):
        r = run.send(_msg(f"V{k}", radius, T0 + k * M, MessageType.UPDATE, (reference,)))
        assert r.incident == f"{SENDER}/V0"
        assert set(r.recipients.tolist()) == _covered(radius) - told
        told |= _covered(radius)
    cancel_ref = Reference(sender=SENDER, identifier="V2", sent=T0 - dt.timedelta(hours=3))
    r = run.send(_msg("C3", 1.0, T0 + 3 * M, MessageType.CANCEL, (cancel_ref,)))
    assert r.verdict is Verdict.CANCELLED and set(r.retract.tolist()) == told


def test_an_update_changing_status_or_the_sender_s_case_tells_nobody(
    ledger: DeliveryLedger,
) -> None:
    # Senders compare exactly (CAP: the sender is an identifier), and an incident keeps its
    # status: neither change may widen an Actual incident, nor cancel it.
    run = _Run(ledger)
    v0 = _msg("V0", 200.0, T0)
    run.send(v0)
    changes: list[dict[str, Any]] = [{"sender": SENDER.upper()}, {"status": Status.TEST}]
    for k, change in enumerate(changes, start=1):
        for kind in (MessageType.UPDATE, MessageType.CANCEL):
            r = run.send(_msg(f"X{k}{kind.value}", 3000.0, T0 + k * M, kind, (ref(v0),), **change))
            assert r.verdict is Verdict.NOT_AUTHORISED and r.recipients.size == 0, r.reason
    r = run.send(_msg("V3", 700.0, T0 + 3 * M, MessageType.UPDATE, (ref(v0),)))
    assert set(r.recipients.tolist()) == _covered(700.0) - _covered(200.0)


def test_ack_and_error_naming_an_incident_change_nothing(ledger: DeliveryLedger) -> None:
    run = _Run(ledger)
    v0 = _msg("V0", 200.0, T0)
    run.send(v0)
    for k, kind in enumerate((MessageType.ACK, MessageType.ERROR), start=1):
        r = run.send(_msg(f"X{k}", 5000.0, T0 + k * M, kind, (ref(v0),)))
        assert r.verdict is Verdict.NOT_AN_ALERT and r.incident is None
    r = run.send(_msg("V3", 700.0, T0 + 3 * M, MessageType.UPDATE, (ref(v0),)))
    assert set(r.recipients.tolist()) == _covered(700.0) - _covered(200.0)
    incident = ledger.incident(f"{SENDER}/V0")
    assert incident is not None and incident.version == f"{SENDER}/V3"


@pytest.mark.parametrize("style", ["all", "previous"])
def test_a_chain_of_more_than_100_versions_newest_first_is_one_chain(
    ledger: DeliveryLedger, style: str
) -> None:
    # A feed lists its newest message first; a long-running warning has had 120 Updates. In
    # reverse the chain's pieces are linked as they arrive: the newest version stays current,
    # and each device is told once.
    radii = [200.0 + 10.0 * k for k in range(120)]
    chain = _chain(radii, style)
    run = _Run(ledger)
    for version in reversed(chain):
        run.send(version)
    keys = {run.t.incident_of(v) for v in chain}
    assert len(keys) == 1
    (key,) = keys
    assert key is not None
    incident = ledger.incident(key)
    assert incident is not None and incident.version == f"{SENDER}/V119"
    assert set(run.told) == _covered(radii[-1]) and max(run.told.values()) == 1


def test_a_cancel_naming_only_an_update_refused_at_the_gate_ends_its_chain(
    ledger: DeliveryLedger,
) -> None:
    # The issuer's last Update reached outside its regions and was refused; it then cancels,
    # naming only that last message (its chain's newest, as the issuer sees it). The Update
    # named V1: it is a version of V0's chain, which the Cancel names through it.
    table = Issuers([Issuer(name="west", senders=[SENDER], kinds=["tip_request"], regions=["01"])])
    t = Targeter(
        REGIONS, nationwide("XX"), location_rules=exact_rules(), ledger=ledger, issuers=table
    )
    v0 = _msg("V0", 200.0, T0)
    v1 = _msg("V1", 700.0, T0 + M, MessageType.UPDATE, (ref(v0),))
    for version in (v0, v1):
        assert t.target(version, _index(AT), AT).verdict is Verdict.DELIVER
    wide = _msg("V2", 80_000.0, T0 + 2 * M, MessageType.UPDATE, (ref(v1),))
    assert t.target(wide, _index(AT), AT).verdict is Verdict.NOT_AUTHORISED
    cancel = _msg("C3", 1.0, T0 + 3 * M, MessageType.CANCEL, (ref(wide),))
    r = t.target(cancel, _index(AT), AT)
    assert r.verdict is Verdict.CANCELLED, r.reason
    assert set(r.retract.tolist()) == _covered(700.0)


OTHER = "smhi@example.se"


@pytest.mark.parametrize("own_seen", [True, False])
@pytest.mark.parametrize("other_seen", [True, False])
def test_an_update_citing_another_sender_s_earlier_message_is_a_version_of_its_own_chain(
    ledger: DeliveryLedger, own_seen: bool, other_seen: bool
) -> None:
    # The police's Update names its own alert and, first (sent earlier), a warning of another
    # agency it may not act for: that warning is another chain. The Update is its own
    # incident's (started by it when its original is unknown), and tells only the devices it
    # newly covers there; the other agency's incident is untouched.
    run = _Run(ledger)
    other = _msg("X0", 3000.0, T0 - 10 * M, sender=OTHER)
    mine = _msg("V0", 200.0, T0)
    told: set[str] = set()
    if other_seen:
        run.send(other)
    if own_seen:
        assert set(run.send(mine).recipients.tolist()) == _covered(200.0)
        told = _covered(200.0)
    update = _msg("V1", 700.0, T0 + M, MessageType.UPDATE, (ref(other), ref(mine)))
    r = run.send(update)
    assert r.verdict is Verdict.DELIVER, r.reason
    assert r.incident == f"{SENDER}/V0"
    if not own_seen:  # (another sender's known message is no version of its chain)
        assert "references name no known version of its sender's" in r.reason, r.reason
    assert set(r.recipients.tolist()) == _covered(700.0) - told
    if other_seen:
        theirs = ledger.incident(f"{OTHER}/X0")
        assert theirs is not None and theirs.version == f"{OTHER}/X0"
        assert theirs.state is IncidentState.ACTIVE
        assert run.t.incident_of(other) == f"{OTHER}/X0"
    if not own_seen:
        # The original arriving late is the same incident's, superseded: nobody told again.
        late = run.send(mine)
        assert late.incident == f"{SENDER}/V0" and late.recipients.size == 0
    cancel = _msg("C2", 1.0, T0 + 2 * M, MessageType.CANCEL, (ref(update),))
    r = run.send(cancel)
    assert r.verdict is Verdict.CANCELLED and set(r.retract.tolist()) == _covered(700.0)
    if other_seen:
        theirs = ledger.incident(f"{OTHER}/X0")
        assert theirs is not None and theirs.state is IncidentState.ACTIVE


def test_a_cancel_citing_another_sender_s_message_is_remembered_for_its_own_alert_not_seen(
    ledger: DeliveryLedger,
) -> None:
    # The police cancel their alert, naming first another agency's warning (which they may
    # not end), before their own alert reached this service. Sent twice by a feed. The
    # police's alert arriving then is cancelled (a Cancel that arrives first is remembered);
    # the other agency's incident goes on.
    run = _Run(ledger)
    other = _msg("X0", 3000.0, T0 - 10 * M, sender=OTHER)
    run.send(other)
    mine = _msg("V0", 200.0, T0)
    cancel = _msg("C1", 1.0, T0 + M, MessageType.CANCEL, (ref(other), ref(mine)))
    for _ in range(2):
        r = run.send(cancel)
        assert r.verdict is Verdict.NOT_AUTHORISED and r.retract.size == 0
        assert f"never seen ({SENDER}/V0)" in r.reason, r.reason
    late = run.send(mine)
    assert late.verdict is Verdict.CANCELLED and late.recipients.size == 0, late.reason
    theirs = ledger.incident(f"{OTHER}/X0")
    assert theirs is not None and theirs.state is IncidentState.ACTIVE
    assert theirs.version == f"{OTHER}/X0"


def test_a_test_update_citing_another_sender_s_message_is_still_refused_by_its_actual_chain(
    ledger: DeliveryLedger,
) -> None:
    # The status rule holds whatever else an Update names: a Test Update of the police's
    # Actual incident, naming also another agency's warning, is refused by the police's
    # incident, and neither incident changes.
    run = _Run(ledger)
    other = _msg("X0", 3000.0, T0 - 10 * M, sender=OTHER)
    mine = _msg("V0", 200.0, T0)
    run.send(other)
    run.send(mine)
    drill = _msg(
        "V1", 700.0, T0 + M, MessageType.UPDATE, (ref(other), ref(mine)), status=Status.TEST
    )
    r = run.send(drill)
    assert r.verdict is Verdict.NOT_AUTHORISED and r.incident == f"{SENDER}/V0", r.reason
    assert "status" in r.reason and r.recipients.size == 0
    for key, version in ((f"{SENDER}/V0", f"{SENDER}/V0"), (f"{OTHER}/X0", f"{OTHER}/X0")):
        incident = ledger.incident(key)
        assert incident is not None and incident.version == version
