"""Message chains across instances, restarts and refusals, against a plain model of CAP chains.

Operators meet chains that cross processes: an Update one instance refused at the gate (its
issuer's regions or kinds) and a Cancel another instance receives, naming only that Update
(its issuer's newest message); a Cancel that arrives before the refused Update it names; a
restart on the same SQLite file or PostgreSQL schema between them. The model here knows
nothing of the library's tables: a chain is the set of message ids linked by references (a
refused Update links too: it is a message of its issuer's chain, only its area or kind was
refused), a device is told a chain once, and a Cancel anywhere in it retracts from everyone
told. Coverage is the geodesic distance on WGS84 (pyproj), not the library's area code.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from pyproj import Geod
from targeting_helpers import (
    SENDER,
    T0,
    exact_rules,
    make_alert,
    make_regions,
    ref,
    without_area,
)

from geotarget import Circle, PositionIndex, Positions
from geotarget.alerts import Alert, MessageType, Reference
from geotarget.errors import InvalidAlert, InvalidInput, InvalidType
from geotarget.issuers import Issuer, Issuers
from geotarget.ledger import (
    DeliveryLedger,
    IncidentState,
    MemoryLedger,
    PostgresLedger,
    SQLiteLedger,
)
from geotarget.rollout import nationwide
from geotarget.targeting import Targeter, TargetingResult, Verdict

M = dt.timedelta(minutes=1)
_GEOD = Geod(ellps="WGS84")
REGIONS = make_regions()
CENTRE = (17.25, 59.5)  # municipality 0101, county 01; county 02 begins at lon 18 (~42 km)
#: Devices due east of the centre, 150 m apart.
SPOTS = {f"d{i}": _GEOD.fwd(*CENTRE, 90.0, 150.0 * i + 75.0)[:2] for i in range(30)}
AT = T0 + 600 * M
WIDE = 80_000.0  # reaches county 02: refused for the county-01 issuer
TABLE = Issuers([Issuer(name="west", senders=[SENDER], kinds=["tip_request"], regions=["01"])])


class _Stores:
    """Handles on one store, as instances open them; ``restart`` reopens one."""

    def __init__(self, kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
        self.kind = kind
        self.path = tmp_path / "deliveries.db"
        self.dsn = request.getfixturevalue("postgres_dsn") if kind == "postgres" else ""
        self.shared = MemoryLedger() if kind == "memory" else None
        self.opened: list[DeliveryLedger] = []

    def open(self) -> DeliveryLedger:
        store: DeliveryLedger
        if self.shared is not None:
            return self.shared
        store = SQLiteLedger(self.path) if self.kind == "sqlite" else PostgresLedger(self.dsn)
        self.opened.append(store)
        return store

    def restart(self, store: DeliveryLedger) -> DeliveryLedger:
        """The process holding ``store`` stops; a new one opens the store (memory: the same)."""
        if self.shared is not None:
            return store
        store.close()
        return self.open()

    def close(self) -> None:
        for store in [*self.opened, *([self.shared] if self.shared else [])]:
            store.close()


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[_Stores]:
    made = _Stores(request.param, tmp_path, request)
    yield made
    made.close()


def _covered(radius: float) -> set[str]:
    """The model's coverage: geodesic distance from the centre at most the radius."""
    return {d for d, s in SPOTS.items() if _GEOD.inv(CENTRE[0], CENTRE[1], s[0], s[1])[2] <= radius}


def _index(at: dt.datetime = AT) -> PositionIndex:
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
) -> Alert:
    return make_alert(
        "tip_request",
        Circle(*CENTRE, radius),
        ident=ident,
        sent=sent,
        msg_type=msg_type,
        refs=refs,
        hours=48,
    )


def _targeter(ledger: DeliveryLedger) -> Targeter:
    return Targeter(
        REGIONS, nationwide("XX"), location_rules=exact_rules(), ledger=ledger, issuers=TABLE
    )


class _Model:
    """CAP chains in plain Python: ids linked by references, who was told, who retracted."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}
        self.told: dict[str, set[str]] = {}  # chain root -> devices told
        self.newest: dict[str, int] = {}  # chain root -> the newest version delivered's rank
        self.cancelled: set[str] = set()

    def _root(self, vid: str) -> str:
        self.parent.setdefault(vid, vid)
        while self.parent[vid] != vid:
            vid = self.parent[vid]
        return vid

    def _link(self, a: str, b: str) -> None:
        ra, rb = self._root(a), self._root(b)
        if ra != rb:
            self.parent[rb] = ra
            self.told.setdefault(ra, set()).update(self.told.pop(rb, set()))
            self.newest[ra] = max(self.newest.get(ra, -1), self.newest.pop(rb, -1))
            if rb in self.cancelled:
                self.cancelled.add(ra)

    def chain_cancelled(self, vid: str) -> bool:
        return self._root(vid) in self.cancelled

    def told_in(self, vid: str) -> set[str]:
        return set(self.told.get(self._root(vid), set()))

    def receive(self, alert: Alert, covered: set[str], refused: bool, rank: int = 0) -> set[str]:
        """The devices newly told (refused: none, but the message still links its chain).

        ``rank``: the version's place in its chain (all clocks agree here): it is delivered
        only when newer than every version of its chain, as linked so far, delivered before.
        """
        vid = alert.identifier
        self._root(vid)
        for r in alert.references:
            self._link(vid, r.identifier)
        root = self._root(vid)
        if alert.msg_type is MessageType.CANCEL:
            self.cancelled.add(root)
            return set()
        if refused or root in self.cancelled or rank <= self.newest.get(root, -1):
            return set()
        self.newest[root] = rank
        new = covered - self.told_in(vid)
        self.told.setdefault(root, set()).update(new)
        return new


def _pushed(t: Targeter, r: TargetingResult) -> None:
    if r.claims is not None and len(r.claims):
        t.confirm(r.claims.keys(), AT)


def _retracted_later(t: Targeter) -> set[str]:
    out: set[str] = set()
    for claims in t.redeliver(AT + dt.timedelta(seconds=1)):
        if claims.kind.value == "retraction":
            out.update(claims.devices.tolist())
            t.confirm(claims.keys(), AT + dt.timedelta(seconds=1))
    return out


def _delivered_chain(t: Targeter) -> tuple[Alert, Alert]:
    v0 = _msg("V0", 200.0, T0)
    v1 = _msg("V1", 700.0, T0 + M, MessageType.UPDATE, (ref(v0),))
    for version in (v0, v1):
        r = t.target(version, _index(), AT)
        assert r.verdict is Verdict.DELIVER, r.reason
        _pushed(t, r)
    return v0, v1


def test_a_cancel_naming_only_a_refused_update_ends_the_chain_in_another_instance_and_after_restart(
    stores: _Stores,
) -> None:
    # Instance A delivers V0, V1 and refuses V2 (too wide for the issuer); A restarts, and
    # instance B receives the issuer's Cancel naming only V2: the chain ends everywhere.
    a_store = stores.open()
    a = _targeter(a_store)
    _, v1 = _delivered_chain(a)
    wide = _msg("V2", WIDE, T0 + 2 * M, MessageType.UPDATE, (ref(v1),))
    assert a.target(wide, _index(), AT).verdict is Verdict.NOT_AUTHORISED
    a = _targeter(stores.restart(a_store))
    b = _targeter(stores.open())
    cancel = _msg("C3", 1.0, T0 + 3 * M, MessageType.CANCEL, (ref(wide),))
    assert b.preview(cancel, _index(), AT).verdict is Verdict.CANCELLED
    r = b.target(cancel, _index(), AT)
    assert r.verdict is Verdict.CANCELLED, r.reason
    assert r.incident == f"{SENDER}/V0"
    assert set(r.retract.tolist()) == _covered(700.0)
    assert a.active_incidents == () and b.active_incidents == ()
    # Devices entering the area later are told nothing by either instance.
    assert a.on_positions(_index().positions, AT + M) == []


def test_an_update_naming_only_a_refused_update_continues_the_chain(stores: _Stores) -> None:
    # After V2 is refused, the issuer narrows the area again and names only V2 (its newest
    # message): the same incident, telling only the devices newly covered, not a new incident
    # that tells everyone in its area a second time.
    t = _targeter(stores.open())
    _, v1 = _delivered_chain(t)
    wide = _msg("V2", WIDE, T0 + 2 * M, MessageType.UPDATE, (ref(v1),))
    assert t.target(wide, _index(), AT).verdict is Verdict.NOT_AUTHORISED
    back = _msg("V3", 1500.0, T0 + 3 * M, MessageType.UPDATE, (ref(wide),))
    r = t.target(back, _index(), AT)
    assert r.verdict is Verdict.DELIVER, r.reason
    assert r.incident == f"{SENDER}/V0"
    assert set(r.recipients.tolist()) == _covered(1500.0) - _covered(700.0)
    # The original arriving again is older than the chain's current version.
    assert t.target(_msg("V0", 200.0, T0), _index(), AT).verdict is Verdict.SUPERSEDED


def test_a_cancel_that_arrived_before_the_refused_update_it_names_ends_the_chain(
    stores: _Stores,
) -> None:
    # A feed delivers the Cancel before the wide Update it names (to instance B); the Update
    # then reaches instance A and is refused: through it the Cancel names the chain, which
    # ends, its retractions due from the next redeliver() of any instance.
    a = _targeter(stores.open())
    b = _targeter(stores.open())
    _, v1 = _delivered_chain(a)
    wide = _msg("V2", WIDE, T0 + 2 * M, MessageType.UPDATE, (ref(v1),))
    cancel = _msg("C3", 1.0, T0 + 3 * M, MessageType.CANCEL, (ref(wide),))
    assert b.target(cancel, _index(), AT).verdict is Verdict.UNKNOWN_REFERENCE
    asked = a.preview(wide, _index(), AT)
    r = a.target(wide, _index(), AT)
    assert asked.reason == r.reason
    assert r.verdict is Verdict.NOT_AUTHORISED
    assert f"ended incident {SENDER}/V0" in r.reason, r.reason
    incident = stores.open().incident(f"{SENDER}/V0")
    assert incident is not None and incident.state is IncidentState.CANCELLED
    assert _retracted_later(b) == _covered(700.0)
    assert a.active_incidents == ()


def test_a_text_only_update_naming_only_a_refused_update_keeps_the_delivered_area(
    stores: _Stores,
) -> None:
    # The issuer's wide V2 is refused; it then changes only the texts, naming V2 (its newest
    # message). The area kept is V1's, the one delivered (V2's was never), and it streams on:
    # a device entering it is told, one entering only V2's area is not.
    t = _targeter(stores.open())
    _, v1 = _delivered_chain(t)
    wide = _msg("V2", WIDE, T0 + 2 * M, MessageType.UPDATE, (ref(v1),))
    assert t.target(wide, _index(), AT).verdict is Verdict.NOT_AUTHORISED
    text = without_area(_msg("V3", 700.0, T0 + 3 * M, MessageType.UPDATE, (ref(wide),)))
    r = t.target(text, _index(), AT)
    assert r.verdict is Verdict.DELIVER, r.reason
    assert r.incident == f"{SENDER}/V0" and "that of version" in r.reason
    inside = _GEOD.fwd(*CENTRE, 0.0, 500.0)[:2]
    outside = _GEOD.fwd(*CENTRE, 0.0, 5000.0)[:2]
    later = AT + M
    batch = Positions(
        ["new-in", "new-out"], [inside[0], outside[0]], [inside[1], outside[1]], observed_at=later
    )
    told = {delivery.device_id for delivery in t.on_positions(batch, later)}
    assert told == {"new-in"}


def test_the_refusal_and_the_cancel_that_came_first_are_one_transaction(
    stores: _Stores,
) -> None:
    # The Cancel naming the wide Update came first; the process that records the Update's
    # refusal stops right after that call (killed before anything else): the store, opened
    # again, holds the chain ended, its retractions due, not a refusal whose Cancel waits.
    t = _targeter(stores.open())
    _, v1 = _delivered_chain(t)
    wide = _msg("V2", WIDE, T0 + 2 * M, MessageType.UPDATE, (ref(v1),))
    cancel = _msg("C3", 1.0, T0 + 3 * M, MessageType.CANCEL, (ref(wide),))
    assert t.target(cancel, _index(), AT).verdict is Verdict.UNKNOWN_REFERENCE
    dying: Any = stores.open()
    got = dying.refuse(wide, at=AT, may_act_for=TABLE.may_act_for)
    assert got.also_cancelled == (f"{SENDER}/V0",)
    after = _targeter(stores.restart(dying))
    incident = after.ledger.incident(f"{SENDER}/V0")
    assert incident is not None and incident.state is IncidentState.CANCELLED
    assert _retracted_later(after) == _covered(700.0)


def test_a_cancel_naming_a_refused_update_is_not_refused_for_another_agency_s_alert_it_cited(
    stores: _Stores,
) -> None:
    # The police's refused Update cited only a warning of another agency (which it may not act
    # for): that warning is no version of the police's chain. A Cancel naming only the refused
    # Update names nothing known of its own chain: remembered, not NOT_AUTHORISED for the other
    # agency's incident, which keeps streaming.
    t = Targeter(
        REGIONS,
        nationwide("XX"),
        location_rules=exact_rules(),
        ledger=stores.open(),
        issuers=Issuers(
            [
                Issuer(name="west", senders=[SENDER], kinds=["tip_request"], regions=["01"]),
                Issuer(
                    name="smhi", senders=["smhi@example.se"], kinds=["tip_request"], regions=["XX"]
                ),
            ]
        ),
    )
    theirs = attrs.evolve(_msg("X0", 700.0, T0), sender="smhi@example.se")
    assert t.target(theirs, _index(), AT).verdict is Verdict.DELIVER
    wide = _msg("V2", WIDE, T0 + 2 * M, MessageType.UPDATE, (ref(theirs),))
    assert t.target(wide, _index(), AT).verdict is Verdict.NOT_AUTHORISED
    cancel = _msg("C3", 1.0, T0 + 3 * M, MessageType.CANCEL, (ref(wide),))
    r = t.target(cancel, _index(), AT)
    assert r.verdict is Verdict.UNKNOWN_REFERENCE, r.reason
    assert t.active_incidents == ("smhi@example.se/X0",)


def test_refused_updates_chained_are_looked_through(stores: _Stores) -> None:
    # Two refused Updates in a row, each naming only the one before; the Cancel names only
    # the last of them.
    t = _targeter(stores.open())
    _, v1 = _delivered_chain(t)
    w2 = _msg("V2", WIDE, T0 + 2 * M, MessageType.UPDATE, (ref(v1),))
    w3 = _msg("V3", WIDE + 1000, T0 + 3 * M, MessageType.UPDATE, (ref(w2),))
    for w in (w2, w3):
        assert t.target(w, _index(), AT).verdict is Verdict.NOT_AUTHORISED
    r = t.target(_msg("C4", 1.0, T0 + 4 * M, MessageType.CANCEL, (ref(w3),)), _index(), AT)
    assert r.verdict is Verdict.CANCELLED, r.reason
    assert set(r.retract.tolist()) == _covered(700.0)


def test_an_update_refused_for_its_kind_links_its_chain_too(stores: _Stores) -> None:
    # The issuer may not send crime_modus: its Update in that kind is refused; its Cancel
    # naming only that Update ends the tip request's chain.
    t = _targeter(stores.open())
    _, v1 = _delivered_chain(t)
    other = make_alert(
        "crime_modus",
        Circle(*CENTRE, 700.0),
        ident="V2",
        sent=T0 + 2 * M,
        msg_type=MessageType.UPDATE,
        refs=(ref(v1),),
        hours=48,
    )
    r = t.target(other, _index(), AT)
    assert r.verdict is Verdict.NOT_AUTHORISED and "may not issue" in r.reason
    done = t.target(_msg("C3", 1.0, T0 + 3 * M, MessageType.CANCEL, (ref(other),)), _index(), AT)
    assert done.verdict is Verdict.CANCELLED, done.reason


def test_a_stranger_s_update_is_not_recorded(stores: _Stores) -> None:
    # A sender of no issuer writes nothing to the store, and its Update links nothing.
    ledger: Any = stores.open()
    t = _targeter(ledger)
    _, v1 = _delivered_chain(t)
    stranger = attrs.evolve(
        _msg("V2", 700.0, T0 + 2 * M, MessageType.UPDATE, (ref(v1),)), sender="x@example.se"
    )
    assert t.target(stranger, _index(), AT).verdict is Verdict.UNKNOWN_ISSUER
    assert ledger.refused("x@example.se/V2") is None


def test_a_refused_update_too_large_to_write_as_cap_is_still_just_refused(
    stores: _Stores,
) -> None:
    # Recording the refusal must not turn the answer into an error: an Update whose texts
    # made it larger than a CAP document may be was refused for its area; it was not
    # recorded (never a version, so nothing names it). Since probe 20 such an alert cannot be
    # built at all (Alert refuses it, with dumps's message), so it never reaches target().
    ledger: Any = stores.open()
    t = _targeter(ledger)
    _, v1 = _delivered_chain(t)
    wide = _msg("V2", WIDE, T0 + 2 * M, MessageType.UPDATE, (ref(v1),))
    with pytest.raises(InvalidAlert, match=r"more than MAX_DOCUMENT_BYTES \(4,194,304\)"):
        attrs.evolve(wide, infos=[attrs.evolve(i, description="x" * 2_200_000) for i in wide.infos])
    assert ledger.refused(f"{SENDER}/V2") is None
    assert t.target(wide, _index(), AT).verdict is Verdict.NOT_AUTHORISED  # as CAP carries it
    assert ledger.refused(f"{SENDER}/V2") is not None


@pytest.mark.parametrize("store_kind", ["memory", "sqlite"])
def test_refuse_takes_only_an_update_naming_earlier_messages(
    store_kind: str, tmp_path: Path
) -> None:
    ledger: Any = MemoryLedger() if store_kind == "memory" else SQLiteLedger(tmp_path / "d.db")
    try:
        with pytest.raises(InvalidType, match="alert must be an Alert"):
            ledger.refuse("V2", at=AT)
        with pytest.raises(InvalidInput, match="Update naming earlier messages"):
            ledger.refuse(_msg("V0", 1.0, T0), at=AT)
        update = _msg("V2", 1.0, T0, MessageType.UPDATE, (ref(_msg("V1", 1.0, T0)),))
        ledger.refuse(update, at=AT)
        ledger.refuse(attrs.evolve(update, sent=T0 + M), at=AT)  # the first one is kept
        stored = ledger.refused(f"{SENDER}/V2")
        assert stored is not None and "2024-05-20T12:00:00" in stored
    finally:
        ledger.close()


# --- every arrival order, against the model ------------------------------------------------

_ORDERS = list(itertools.permutations(range(4)))


@pytest.mark.parametrize("order", _ORDERS, ids=["".join(map(str, o)) for o in _ORDERS])
def test_a_chain_with_a_refused_update_in_any_order_matches_the_model(
    stores: _Stores, order: tuple[int, ...]
) -> None:
    # V0 (Alert), V1 naming V0, V2 naming V1 (refused: too wide), V3 naming only V2; then a
    # Cancel naming only V3. Whatever the order, each device is told at most once and the
    # Cancel retracts from everyone told.
    v0 = _msg("V0", 200.0, T0)
    v1 = _msg("V1", 700.0, T0 + M, MessageType.UPDATE, (ref(v0),))
    v2 = _msg("V2", WIDE, T0 + 2 * M, MessageType.UPDATE, (ref(v1),))
    v3 = _msg("V3", 1500.0, T0 + 3 * M, MessageType.UPDATE, (ref(v2),))
    chain = [v0, v1, v2, v3]
    radius = {"V0": 200.0, "V1": 700.0, "V2": WIDE, "V3": 1500.0}
    t = _targeter(stores.open())
    model = _Model()
    for i in order:
        asked = t.preview(chain[i], _index(), AT)
        r = t.target(chain[i], _index(), AT)
        assert (asked.verdict, asked.reason) == (r.verdict, r.reason)  # preview says as target
        _pushed(t, r)
        covered = _covered(radius[chain[i].identifier])
        expected = model.receive(chain[i], covered, refused=i == 2, rank=i)
        assert set(r.recipients.tolist()) == expected, (chain[i].identifier, r.reason)
    # Arrived, the refused V2 links the chain's parts, whatever came first: one incident.
    assert {t.incident_of(v) for v in (v0, v1, v3)} == {t.incident_of(v3)}
    cancel = _msg("C4", 1.0, T0 + 4 * M, MessageType.CANCEL, (ref(v3),))
    r = t.target(cancel, _index(), AT)
    assert r.verdict is Verdict.CANCELLED, r.reason
    model.receive(cancel, set(), refused=False)
    retracted = set(r.retract.tolist()) | _retracted_later(t)
    assert retracted == model.told_in("V0")
    assert t.active_incidents == ()
