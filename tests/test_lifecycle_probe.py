"""Lifecycles of messages as other issuers send them, through the public API, against oracles.

Chains whose Updates name only their predecessor (as many feeds write them), with ``sent``
values that tie or disagree with the chain (an issuer's clocks), in every arrival order,
over each store.
"""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from typing import Any

import attrs
import pytest
from targeting_helpers import (
    T0,
    exact_rules,
    make_alert,
    make_regions,
    positions,
    ref,
    without_area,
)

from geotarget import Circle, PositionIndex, cap
from geotarget.alerts import Alert, Category, MessageType, Reference, ResponseType
from geotarget.errors import DuplicateIdentifier, GeotargetError
from geotarget.issuers import Issuer
from geotarget.kinds import RecognitionRule, normalise_event
from geotarget.ledger import MemoryLedger, SQLiteLedger
from geotarget.rollout import nationwide
from geotarget.targeting import Targeter, Verdict

LON0, LAT0 = 17.5, 59.5
#: Devices every 150 m east of the centre, out to 6 km.
LONS = [LON0 + i * 0.0026 for i in range(40)]
AT = T0 + dt.timedelta(minutes=10)


def _targeter(store: str, path: Path) -> tuple[Targeter, Any]:
    """A Targeter over exact rules, nationwide, with a memory or a SQLite (at ``path``) ledger."""
    ledger: Any = MemoryLedger() if store == "memory" else SQLiteLedger(path)
    targeter = Targeter(
        make_regions(), nationwide("XX"), location_rules=exact_rules(), ledger=ledger
    )
    return targeter, ledger


def _chain() -> list[Alert]:
    """V0 → V1 (wider) → V2 (narrower) → V3 (moved east), each naming only its predecessor.

    V3's clock runs behind: its ``sent`` is earlier than V1's and V2's, though it replaces
    them (it names V2, which names V1).
    """
    areas = [
        Circle(LON0, LAT0, 1500.0),
        Circle(LON0, LAT0, 4000.0),
        Circle(LON0, LAT0, 800.0),
        Circle(LON0 + 0.03, LAT0, 1200.0),
    ]
    sents = [T0, T0 + dt.timedelta(minutes=2), T0 + dt.timedelta(minutes=3)]
    sents.append(T0 + dt.timedelta(seconds=30))
    out: list[Alert] = []
    for i, (area, sent) in enumerate(zip(areas, sents, strict=True)):
        out.append(
            make_alert(
                "tip_request",
                area,
                ident=f"V{i}",
                sent=sent,
                msg_type=MessageType.ALERT if i == 0 else MessageType.UPDATE,
                refs=() if i == 0 else (ref(out[-1]),),
            )
        )
    return out


def _named_through(later: int, earlier: int, known: set[int]) -> bool:
    """Whether version ``later`` names ``earlier`` through versions all in ``known``."""
    return later > earlier and all(i in known for i in range(earlier + 1, later + 1))


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_a_version_named_through_its_successors_tells_nobody_in_any_arrival_order(
    store: str, tmp_path: Path
) -> None:
    """A version an arrived Update names through arrived versions is superseded, telling nobody."""
    chain = _chain()
    index = PositionIndex(positions(LONS, [LAT0] * len(LONS), observed_at=[AT] * len(LONS)))
    for n, order in enumerate(itertools.permutations(range(len(chain)))):
        targeter, ledger = _targeter(store, tmp_path / f"{n}.db")
        known: set[int] = set()
        for i in order:
            result = targeter.target(chain[i], index, AT)
            if any(_named_through(j, i, known) for j in known):
                assert result.verdict is Verdict.SUPERSEDED, (order, i, result.reason)
                assert result.recipients.tolist() == [], (order, i)
            if result.claims is not None and len(result.claims):
                targeter.confirm(result.claims.keys(), AT)
            known.add(i)
        incident = targeter.ledger.incident(targeter.incident_of(chain[0]) or "")
        assert incident is not None and incident.version == "polisen@example.se/V3", order
        ledger.close()


def _gapped_chain() -> tuple[list[Alert], list[list[int]]]:
    """Five versions whose references skip, and whose clocks disagree with the chain.

    V4 names V3 and V0, V3 names only V2, V2 names V1 and V0: V4 is the newest, but its
    ``sent`` ties V3's and is earlier than V2's, so until V3 arrives nothing shows it is newer.
    """
    names = [[], [0], [0, 1], [2], [0, 3]]
    seconds = [0, 30, 30, 0, 0]
    radii = [1500.0, 4000.0, 800.0, 2500.0, 3000.0]
    out: list[Alert] = []
    for i, named in enumerate(names):
        out.append(
            make_alert(
                "tip_request",
                Circle(LON0 + 0.01 * (i % 2), LAT0, radii[i]),
                ident=f"V{i}",
                sent=T0 + dt.timedelta(seconds=seconds[i]),
                msg_type=MessageType.ALERT if i == 0 else MessageType.UPDATE,
                refs=tuple(ref(out[j]) for j in named),
            )
        )
    return out, names


def _reaches(names: list[list[int]], later: int, earlier: int, known: set[int]) -> bool:
    """Whether version ``later`` names ``earlier``, directly or through versions in ``known``."""
    todo, seen = [later], {later}
    while todo:
        for j in names[todo.pop()]:
            if j == earlier:
                return True
            if j in known and j not in seen:
                seen.add(j)
                todo.append(j)
    return False


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_a_version_seen_before_that_names_a_late_one_becomes_current_in_any_order(
    store: str, tmp_path: Path
) -> None:
    """The newest version, judged older on arrival for want of a link, is current once linked.

    Whatever the order, a version some arrived version names is superseded and tells
    nobody; with :meth:`Targeter.retarget` beside each message, in the end V4 is current
    and every device in its area was told.
    """
    chain, names = _gapped_chain()
    index = PositionIndex(positions(LONS, [LAT0] * len(LONS), observed_at=[AT] * len(LONS)))
    head = chain[-1].area
    assert head is not None
    inside = {
        f"d{k}" for k, covered in enumerate(head.contains(LONS, [LAT0] * len(LONS))) if covered
    }
    orders = list(itertools.permutations(range(len(chain))))
    for n, order in enumerate(orders if store == "memory" else orders[::5]):
        targeter, ledger = _targeter(store, tmp_path / f"{n}.db")
        known: set[int] = set()
        told: set[str] = set()
        for i in order:
            result = targeter.target(chain[i], index, AT)
            if any(_reaches(names, j, i, known) for j in known):
                assert result.verdict is Verdict.SUPERSEDED, (order, i, result.reason)
                assert result.recipients.tolist() == [], (order, i)
            for got in [result, *targeter.retarget(index, AT)]:
                if got.claims is not None and len(got.claims):
                    targeter.confirm(got.claims.keys(), AT)
                told.update(str(d) for d in got.recipients.tolist())
            known.add(i)
        incident = targeter.ledger.incident(targeter.incident_of(chain[0]) or "")
        assert incident is not None and incident.version == "polisen@example.se/V4", order
        assert inside <= told, (order, sorted(inside - told))
        ledger.close()


HUGE_INT = 10**5000  # more digits than Python turns into text (4,300 by default)
HUGE_TEXT = "x" * 1_000_000


def _hostile_calls(ledger: Any) -> list[tuple[str, Any]]:
    """Store calls an integrator may pass a client's values to, each with one hostile value."""
    at = AT
    inc = "polisen@example.se/V0"
    key = f"{inc} {inc} d0"
    return [
        ("device_ids[0]", lambda: ledger.claim(inc, [HUGE_INT], version=inc, at=at)),
        ("device_ids[1]", lambda: ledger.claim(inc, ["d0", [HUGE_TEXT]], version=inc, at=at)),
        ("device_ids[0]", lambda: ledger.confirm_devices(inc, [HUGE_INT], at=at)),
        ("keys[1]", lambda: ledger.confirm([key, HUGE_TEXT], at=at)),
        ("keys[0]", lambda: ledger.confirm([HUGE_INT], at=at)),
        ("keys[0]", lambda: ledger.confirm([f"{inc} {HUGE_TEXT}"[:-1] + " "], at=at)),
        ("incident", lambda: ledger.claim(HUGE_TEXT + " ", ["d0"], version=inc, at=at)),
        ("incident", lambda: ledger.incident(HUGE_INT)),
        ("limit", lambda: ledger.redeliver(at, limit=HUGE_INT)),
        ("at", lambda: ledger.redeliver(HUGE_INT)),
        ("lease", lambda: ledger.claim(inc, ["d0"], version=inc, at=at, lease=HUGE_INT)),
    ]


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_a_stores_errors_name_a_hostile_value_briefly_and_never_fail_to_show_it(
    store: str, tmp_path: Path
) -> None:
    """A huge key, id or number is refused by a short GeotargetError naming its field."""
    ledger: Any = MemoryLedger() if store == "memory" else SQLiteLedger(tmp_path / "d.db")
    for field, call in _hostile_calls(ledger):
        with pytest.raises(GeotargetError) as err:
            call()
        message = str(err.value)
        assert message.startswith(field), (field, message[:200])
        assert len(message) < 400, (field, len(message))
    ledger.close()


def _evolved_with_huge_int(value: Any) -> list[tuple[str, Any]]:
    """(field, a call) for every init field of attrs instance ``value``, given HUGE_INT."""
    return [
        (f.alias, lambda f=f: attrs.evolve(value, **{f.alias: HUGE_INT}))
        for f in attrs.fields(type(value))
        if f.init
    ]


def test_alert_kind_and_issuer_values_refuse_a_huge_int_with_their_own_error() -> None:
    """An int Python cannot show as text, given for any field, is refused by a GeotargetError."""
    alert = make_alert("tip_request", Circle(LON0, LAT0, 500.0))
    info = alert.infos[0]
    calls = _evolved_with_huge_int(alert) + _evolved_with_huge_int(info)
    calls += _evolved_with_huge_int(info.areas[0])
    rule = RecognitionRule(name="r", kind="explosion", events=["Explosion"])
    issuer = Issuer(name="n", senders=["a@example.se"], kinds=["explosion"], regions=["XX"])
    calls += _evolved_with_huge_int(rule) + _evolved_with_huge_int(issuer)
    calls.append(("event", lambda: normalise_event(HUGE_INT)))  # type: ignore[arg-type]
    calls.append(("at", lambda: alert.is_active(HUGE_INT)))  # type: ignore[arg-type]
    for field, call in calls:
        with pytest.raises(GeotargetError) as err:
            call()
        assert len(str(err.value)) < 2_000, field


@pytest.mark.parametrize("sender", ["ops>112@example.se", "https://example.se/cap%20feed"])
def test_a_chain_of_a_sender_written_with_escapes_is_followed_through_its_versions(
    sender: str,
) -> None:
    """A sender XML escapes (``>``) or the version id escapes (``/``, ``%``) links its chain."""
    chain: list[Alert] = []
    for i, seconds in enumerate([0, 60, 90, 30]):
        alert = make_alert(
            "tip_request",
            Circle(LON0, LAT0, 1000.0 + 500.0 * i),
            ident=f"V{i}",
            sent=T0 + dt.timedelta(seconds=seconds),
            msg_type=MessageType.ALERT if i == 0 else MessageType.UPDATE,
            refs=() if i == 0 else (ref(chain[-1]),),
        )
        refs = (
            ()
            if i == 0
            else (Reference(sender=sender, identifier=chain[-1].identifier, sent=chain[-1].sent),)
        )
        chain.append(attrs.evolve(alert, sender=sender, references=refs))
    index = PositionIndex(positions(LONS, [LAT0] * len(LONS), observed_at=[AT] * len(LONS)))
    targeter = Targeter(make_regions(), nationwide("XX"), location_rules=exact_rules())
    verdicts = [targeter.target(chain[i], index, AT).verdict for i in (3, 2, 1, 0)]
    assert verdicts == [Verdict.DELIVER] + [Verdict.SUPERSEDED] * 3


def test_the_late_link_is_superseded_naming_the_newest_which_retarget_delivers() -> None:
    """V3 arriving after V4 (which names it) is superseded; retarget() then delivers V4."""
    chain, _ = _gapped_chain()
    index = PositionIndex(positions(LONS, [LAT0] * len(LONS), observed_at=[AT] * len(LONS)))
    targeter = Targeter(make_regions(), nationwide("XX"), location_rules=exact_rules())
    for i in (0, 1, 2, 4):
        targeter.target(chain[i], index, AT)
    late = targeter.target(chain[3], index, AT)
    assert late.verdict is Verdict.SUPERSEDED
    assert "older than version V4, seen before, whose references name it" in late.reason
    again = targeter.retarget(index, AT)
    assert [(r.alert_id, r.verdict) for r in again] == [("V4", Verdict.DELIVER)]


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_an_update_resent_with_its_references_reordered_is_the_same_message(
    store: str, tmp_path: Path
) -> None:
    """References in another order, or one twice, re-send the version; other ones re-use its id."""
    targeter, ledger = _targeter(store, tmp_path / "d.db")
    index = PositionIndex(positions(LONS, [LAT0] * len(LONS), observed_at=[AT] * len(LONS)))
    first = make_alert("tip_request", Circle(LON0, LAT0, 1000.0), ident="R0")
    second = make_alert("tip_request", Circle(LON0, LAT0, 1200.0), ident="R1")
    refs = (ref(first), ref(second))
    update = make_alert(
        "tip_request",
        Circle(LON0, LAT0, 3000.0),
        ident="R2",
        sent=T0 + dt.timedelta(minutes=1),
        msg_type=MessageType.UPDATE,
        refs=refs,
    )
    for alert in (first, second, update):
        told = targeter.receive(cap.dumps(alert).encode(), index, AT)
        targeter.confirm(told.claims.keys() if told.claims is not None else [], AT)
    for again in ((refs[1], refs[0]), (refs[0], refs[1], refs[0])):
        text = cap.dumps(attrs.evolve(update, references=again))
        resent = targeter.receive(text.encode(), index, AT)
        assert (resent.verdict, resent.recipients.tolist()) == (Verdict.DELIVER, []), again
    other = attrs.evolve(update, references=refs[:1])
    with pytest.raises(DuplicateIdentifier, match="first difference: references"):
        targeter.receive(cap.dumps(other).encode(), index, AT)
    ledger.close()


def _skewed_move() -> list[Alert]:
    """V0 over a west circle; V1, naming V0, moves it east; V2, naming both, has no area.

    V0's clock runs ahead: its ``sent`` is later than V1's and V2's, though V1 replaces it.
    """
    west = Circle(LON0, LAT0, 1_000.0)
    east = Circle(LON0 + 0.05, LAT0, 1_000.0)
    v0 = make_alert("tip_request", west, ident="V0", sent=T0 + dt.timedelta(minutes=5))
    v1 = make_alert(
        "tip_request", east, ident="V1", sent=T0, msg_type=MessageType.UPDATE, refs=(ref(v0),)
    )
    v2 = without_area(
        make_alert(
            "tip_request",
            east,
            ident="V2",
            sent=T0 + dt.timedelta(minutes=1),
            msg_type=MessageType.UPDATE,
            refs=(ref(v0), ref(v1)),
        )
    )
    return [v0, v1, v2]


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_an_update_without_area_keeps_the_newest_area_by_references(
    store: str, tmp_path: Path
) -> None:
    """An Update without geometry keeps its chain's newest area as the store orders versions.

    V1 names V0, so V1's east circle replaced V0's west one, whatever their clocks said; V2 keeps
    the east circle. Devices at the west centre arriving after V1 are never told; by ``sent``
    alone V2 took V0's circle and told them.
    """
    v0, v1, v2 = _skewed_move()
    targeter, ledger = _targeter(store, tmp_path / "l.db")
    east_only = PositionIndex(positions([LON0 + 0.05], [LAT0], observed_at=[AT]))
    both = PositionIndex(
        positions([LON0 + 0.05, LON0, LON0 + 0.001], [LAT0] * 3, observed_at=[AT] * 3)
    )
    assert targeter.target(v0, east_only, AT).recipients.tolist() == []
    moved = targeter.target(v1, east_only, AT)
    assert moved.recipients.tolist() == ["d0"] and moved.claims is not None
    targeter.confirm(moved.claims.keys(), AT)
    got = targeter.target(v2, both, AT)
    assert got.verdict is Verdict.DELIVER and got.recipients.tolist() == []
    assert f"the incident's area stays that of version {v1.sender}/V1" in got.reason
    assert targeter.preview(v2, both, AT).recipients.tolist() == []
    ledger.close()


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_preview_agrees_with_target_in_any_arrival_order(store: str, tmp_path: Path) -> None:
    """``preview`` says what ``target`` then does, for every version of a skewed chain.

    By ``sent`` alone, preview called an Update naming the current version SUPERSEDED when its
    clock ran behind, where target delivered it.
    """
    chain = _chain()
    index = PositionIndex(positions(LONS, [LAT0] * len(LONS), observed_at=[AT] * len(LONS)))
    for n, order in enumerate(itertools.permutations(range(len(chain)))):
        targeter, ledger = _targeter(store, tmp_path / f"{n}.db")
        for i in order:
            said = targeter.preview(chain[i], index, AT).verdict
            assert said is targeter.target(chain[i], index, AT).verdict, (order, i)
        ledger.close()


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_a_relayed_copy_with_unordered_lists_reordered_is_the_same_message(
    store: str, tmp_path: Path
) -> None:
    """Addresses, codes, categories and response types in another order, or one twice: the same.

    CAP gives these lists no order, and a relay may rewrite them; the copy was refused as
    DuplicateIdentifier ("first difference: codes"). Another set of items is another message.
    """
    targeter, ledger = _targeter(store, tmp_path / "d.db")
    index = PositionIndex(positions(LONS, [LAT0] * len(LONS), observed_at=[AT] * len(LONS)))
    base = make_alert("tip_request", Circle(LON0, LAT0, 1000.0), ident="L0")
    cats = (Category.SAFETY, Category.SECURITY, Category.RESCUE)
    resp = (ResponseType.MONITOR, ResponseType.PREPARE)
    alert = attrs.evolve(
        base,
        addresses=("ops-a", "ops-b"),
        codes=("IPAWSv1.0", "profile:CAP-SE:1.0"),
        infos=[attrs.evolve(i, categories=cats, response_types=resp) for i in base.infos],
    )
    told = targeter.receive(cap.dumps(alert).encode(), index, AT)
    assert told.verdict is Verdict.DELIVER and told.claims is not None
    targeter.confirm(told.claims.keys(), AT)
    relayed = attrs.evolve(
        alert,
        addresses=("ops-b", "ops-a", "ops-b"),
        codes=("profile:CAP-SE:1.0", "IPAWSv1.0"),
        infos=[
            attrs.evolve(i, categories=cats[::-1], response_types=resp[::-1]) for i in alert.infos
        ],
    )
    again = targeter.receive(cap.dumps(relayed).encode(), index, AT)
    assert (again.verdict, again.recipients.tolist()) == (Verdict.DELIVER, [])
    other = attrs.evolve(alert, codes=("IPAWSv1.0",))
    with pytest.raises(DuplicateIdentifier, match="first difference: codes"):
        targeter.receive(cap.dumps(other).encode(), index, AT)
    ledger.close()
