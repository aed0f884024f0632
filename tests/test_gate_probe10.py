"""Who may be told, whatever the order messages arrive in: the issuer's authority end to end.

An issuer may alert only within its regions, only kinds it names, and change only incidents of
issuers it acts for (docs/who_is_told.rst, section 2). These tests build message sequences an
operator would send — a text-only Update, an Update by another issuer acting for the first, a
table changed between deliveries, a Targeter that snaps devices into regions — deliver them in
several orders through ``target()``, ``on_positions()`` and the ledger, and compare the devices
actually told with a plain-Python model of who may be told: a delivery of a version to a device
is allowed only when the version's issuer (in the table in force then) may issue its kind over
every region the area it is delivered over reaches, and the device lies in that area. The model
measures distances with pyproj and reads regions off the boxes of ``targeting_helpers``
(municipality ``0101`` lon 17 to 17.5, ``0102`` to 18, ``0201`` to 18.5, ``0202`` to 19, all
lat 59 to 60; county ``01`` west of lon 18, ``02`` east of it); it shares nothing with the
library's geometry.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import attrs
import pytest
from pyproj import Geod
from targeting_helpers import MUNIS, T0, exact_rules, make_alert, make_regions, ref, without_area

from geotarget import Area, Circle, PositionIndex, Positions, pilot
from geotarget.alerts import Alert, MessageType
from geotarget.issuers import Issuer, Issuers
from geotarget.ledger import MemoryLedger, SQLiteLedger
from geotarget.rollout import nationwide
from geotarget.targeting import KindRules, Outcome, Targeter, TargetingResult, Verdict

_GEOD = Geod(ellps="WGS84")
REGIONS = make_regions()
WEST = "west@example.se"
NATIONAL = "polisen@example.se"
KINDS = ["tip_request", "explosion", "crime_modus"]
LATER = T0 + dt.timedelta(minutes=10)


def _table(*, national_acts_for_west: bool = True) -> Issuers:
    """'west' may alert municipality 0101 only; 'national' everywhere, acting for 'west'."""
    return Issuers(
        [
            Issuer(name="west", senders=[WEST], kinds=KINDS, regions=["0101"]),
            Issuer(
                name="national",
                senders=[NATIONAL],
                kinds=KINDS,
                regions=["XX"],
                acts_for=["west"] if national_acts_for_west else [],
            ),
        ]
    )


def _rules() -> dict[str, KindRules]:
    """Fixes taken as exact points; the Explosion told beyond the border, as the pilot's."""
    rules = exact_rules()
    return {**rules, "explosion": attrs.evolve(rules["explosion"], beyond_border=True)}


def _targeter(
    issuers: Issuers | None = None, *, ledger: Any = None, snap_m: float = 0.0
) -> Targeter:
    return Targeter(
        REGIONS,
        nationwide("XX"),
        location_rules=_rules(),
        issuers=_table() if issuers is None else issuers,
        ledger=MemoryLedger() if ledger is None else ledger,
        snap_m=snap_m,
    )


def _alert(
    kind: str,
    parts: Sequence[Circle] | None,
    ident: str,
    sender: str,
    *,
    minutes: int = 0,
    refs: Iterable[Alert] = (),
) -> Alert:
    """A pilot alert (an Update when it names ``refs``); ``parts`` None: a text-only Update."""
    refs = tuple(refs)
    area = Area(list(parts)) if parts is not None else Area([Circle(17.25, 59.5, 10.0)])
    alert = make_alert(
        kind,
        area,
        ident=ident,
        sent=T0 + dt.timedelta(minutes=minutes),
        msg_type=MessageType.UPDATE if refs else MessageType.ALERT,
        refs=tuple(ref(r) for r in refs),
    )
    alert = attrs.evolve(alert, sender=sender)
    return without_area(alert) if parts is None else alert


def _index(spots: dict[str, tuple[float, float]]) -> PositionIndex:
    ids = list(spots)
    return PositionIndex(
        Positions(ids, [spots[i][0] for i in ids], [spots[i][1] for i in ids], observed_at=LATER)
    )


# --- the oracle -------------------------------------------------------------------------------


def _muni(lon: float, lat: float) -> str | None:
    """The municipality box holding a point (west and south edges inclusive), or None."""
    for code, (w, s, e, n) in MUNIS.items():
        if w <= lon < e and s <= lat < n:
            return code
    return None


def _inside(parts: Sequence[Circle], lon: float, lat: float) -> bool:
    return any(_GEOD.inv(c.lon, c.lat, lon, lat)[2] <= c.radius_m for c in parts)


def _reached(parts: Sequence[Circle], *, step_m: float = 20.0) -> set[str]:
    """The municipalities a set of circles reaches, sampled on rings every ``step_m``."""
    out: set[str] = set()
    for c in parts:
        r = 0.0
        while r <= c.radius_m:
            n = max(8, int(6.3 * r / step_m))
            for k in range(n):
                lon, lat, _ = _GEOD.fwd(c.lon, c.lat, 360.0 * k / n, r)
                code = _muni(lon, lat)
                if code is not None:
                    out.add(code)
            r += step_m
    return out


def _may_tell(
    issuer_regions: set[str] | None, parts: Sequence[Circle], lon: float, lat: float
) -> bool:
    """Whether a version over ``parts`` of an issuer of ``issuer_regions`` may tell a device.

    ``issuer_regions`` None: everywhere. The area must reach only the issuer's regions, and
    the device must lie in it (the kinds here are enabled nationwide).
    """
    if issuer_regions is not None and not _reached(parts) <= issuer_regions:
        return False
    return _inside(parts, lon, lat)


def _told(results: Iterable[TargetingResult]) -> dict[str, set[str]]:
    """Device -> the alert ids whose delivery told it."""
    out: dict[str, set[str]] = {}
    for r in results:
        for d in r.recipients.tolist():
            out.setdefault(str(d), set()).add(r.alert_id)
    return out


# --- 1. A place abroad kept by a text-only Update -------------------------------------------

HOME = Circle(17.25, 59.5, 1_000.0)
#: A circle wholly abroad (west of lon 17), far from HOME: a place abroad of its own.
AWAY = Circle(16.5, 59.5, 1_000.0)


@pytest.mark.parametrize("written", [False, True])
def test_a_text_only_update_of_a_kind_told_abroad_keeps_no_place_abroad_of_its_own(
    written: bool,
) -> None:
    """A tip request with a second circle abroad (not told there), then an Explosion Update.

    The Explosion is told beyond the border only around an area on the territory: the circle
    abroad is a place of its own, which the Update may not alert, whether it writes the area
    out or keeps it (a text-only Update).
    """
    t = _targeter()
    spots = {"home": (17.25, 59.5), "away": (16.5, 59.5)}
    tip = _alert("tip_request", [HOME, AWAY], "t1", WEST)
    first = t.target(tip, _index(spots), LATER)
    assert first.verdict is Verdict.DELIVER and first.recipients.tolist() == ["home"]
    assert first.claims is not None and first.outcome_of("away") is Outcome.BEYOND_BORDER
    t.confirm(first.claims.keys(), LATER)
    boom = _alert("explosion", [HOME, AWAY] if written else None, "t2", WEST, minutes=1, refs=[tip])
    got = t.target(boom, _index(spots), LATER)
    assert got.verdict is Verdict.NOT_AUTHORISED, got.reason
    assert "place abroad of its own" in got.reason
    assert got.recipients.size == 0
    streamed = t.on_positions(Positions(["away2"], [16.5], [59.5001], observed_at=LATER), LATER)
    assert streamed == []  # the tip request streams on: abroad, nobody is told


# --- 2. A kept area that a version arriving later changes -------------------------------------

A_AREA = [Circle(17.25, 59.5, 1_000.0)]
B_AREA = [Circle(17.25, 59.5, 1_000.0), Circle(18.75, 59.5, 1_000.0)]


def _chain() -> tuple[Alert, Alert, Alert]:
    """A (west's), B (national's, widening into 0202), U (west's text-only, naming A and B)."""
    a = _alert("tip_request", A_AREA, "A", WEST)
    b = _alert("tip_request", B_AREA, "B", NATIONAL, minutes=1, refs=[a])
    u = _alert("tip_request", None, "U", WEST, minutes=2, refs=[a, b])
    return a, b, u


@pytest.mark.parametrize("order", ["AUB", "ABU", "UAB", "UBA", "BUA", "BAU"])
def test_who_is_told_a_chain_with_a_text_only_update_does_not_depend_on_the_order(
    order: str,
) -> None:
    """West's text is never told in 0202, whichever order A, B and U arrive in.

    U keeps the area of the newest version it names with one: B's, which reaches 0202, where
    west may not alert. Each device told U, by ``target()`` or by ``on_positions()``, must lie
    where west may alert; the devices in 0202 may be told only B, national's.
    """
    t = _targeter()
    a, b, u = _chain()
    by = {"A": a, "B": b, "U": u}
    regions_of = {"A": {"0101"}, "B": None, "U": {"0101"}}
    spots = {"home": (17.25, 59.5), "east": (18.75, 59.5)}
    told: list[tuple[str, str, list[Circle]]] = []  # (device, version, area delivered over)
    arrived: set[str] = set()
    for m in order:
        got = t.target(by[m], _index(spots), LATER)
        arrived.add(m)
        kept = B_AREA if "B" in arrived else A_AREA  # U keeps the newest it names with one
        area = {"A": A_AREA, "B": B_AREA, "U": kept}[m]
        told += [(str(d), m, area) for d in got.recipients.tolist()]
    fresh = {"home2": (17.25, 59.5001), "east2": (18.75, 59.5001)}
    batch = Positions(list(fresh), [p[0] for p in fresh.values()], [p[1] for p in fresh.values()],
                      observed_at=LATER)  # fmt: skip
    for d in t.on_positions(batch, LATER):
        area = {"A": A_AREA, "B": B_AREA, "U": B_AREA}[d.alert_id]  # every version has arrived
        told.append((str(d.device_id), d.alert_id, area))
    for device, version, area in told:
        lon, lat = {**spots, **fresh}[device]
        assert _may_tell(regions_of[version], area, lon, lat), (order, device, version)
    assert {v for d, v, _ in told if d.startswith("east")} <= {"B"}


# --- 3. The table in force at each delivery ---------------------------------------------------


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_a_re_sent_update_is_refused_once_the_table_revokes_its_sender_s_acts_for(
    store: str, tmp_path: Any
) -> None:
    """National's Update of west's alert, re-sent after the table drops ``acts_for``.

    Under the new table national may not act for west: its Cancel is refused, and so is its
    Update sent again (re-targeted, it would tell the devices newly in the area), and the
    Update stops streaming. Two processes over one SQLite file see the same.
    """
    path = tmp_path / "ledger.sqlite"
    ledger = MemoryLedger() if store == "memory" else SQLiteLedger(path)
    before = _targeter(ledger=ledger)
    a = _alert("tip_request", A_AREA, "A", WEST)
    b = _alert("tip_request", [Circle(17.25, 59.5, 2_000.0)], "B", NATIONAL, minutes=1, refs=[a])
    assert before.target(a, _index({"home": (17.25, 59.5)}), LATER).verdict is Verdict.DELIVER
    assert before.target(b, _index({"home": (17.25, 59.5)}), LATER).verdict is Verdict.DELIVER
    later_ledger = ledger if store == "memory" else SQLiteLedger(path)
    after = _targeter(_table(national_acts_for_west=False), ledger=later_ledger)
    stop = _alert("tip_request", A_AREA, "C", NATIONAL, minutes=2, refs=[b])
    stop = attrs.evolve(stop, msg_type=MessageType.CANCEL)
    assert after.preview(stop, _index({}), LATER).verdict is Verdict.NOT_AUTHORISED
    newcomer = {"new": (17.25, 59.51)}  # about 1.1 km north: in B's circle, not in A's
    again = after.target(b, _index(newcomer), LATER)
    assert again.verdict is Verdict.NOT_AUTHORISED, again.reason
    assert again.recipients.size == 0
    assert "may not act for" in again.reason
    streamed = after.on_positions(Positions(["new2"], [17.25], [59.5101], observed_at=LATER), LATER)
    assert streamed == []


# --- 4. Snapping ---------------------------------------------------------------------------------

#: A circle on the water just beyond the eastern border (lon 19.0): its nearest rim point is
#: about 380 m from municipality 0202, so a device in it is snapped into 0202 by snap_m=1000.
OFFSHORE = Circle(19.012, 59.5, 300.0)


@pytest.mark.parametrize("snap_m", [0.0, 1_000.0])
def test_an_area_whose_devices_are_snapped_into_a_region_reaches_that_region(
    snap_m: float,
) -> None:
    """West's tip request over the water east of 0202: its boat is counted in county 02.

    With ``snap_m`` the Targeter places the boat in 0202 and tells it; so the area reaches
    0202 for the authority check as well, and west may not send it. Without snapping the
    boat lies beyond the border (a tip request is not told there): nothing of 0202 is reached.
    """
    t = _targeter(snap_m=snap_m)
    boat = {"boat": (19.008, 59.5)}
    d = _GEOD.inv(OFFSHORE.lon, OFFSHORE.lat, 19.008, 59.5)[2]
    assert d < OFFSHORE.radius_m and _GEOD.inv(19.0, 59.5, 19.008, 59.5)[2] < 1_000.0
    got = t.target(_alert("tip_request", [OFFSHORE], "S1", WEST), _index(boat), LATER)
    if snap_m:
        assert got.verdict is Verdict.NOT_AUTHORISED, got.reason
        assert "0202" in got.reason and got.recipients.size == 0
        national = t.target(_alert("tip_request", [OFFSHORE], "S2", NATIONAL), _index(boat), LATER)
        assert national.recipients.tolist() == ["boat"] and national.per_county == {"02": 1}
    else:
        assert got.verdict in (Verdict.DELIVER, Verdict.AREA_OUTSIDE_ROLLOUT), got.reason
        assert got.recipients.size == 0


# --- 5. What the Python API cannot verify, and a table of any sender --------------------------


def test_an_alert_of_an_issuer_that_must_sign_is_refused_where_no_signature_can_be_checked() -> (
    None
):
    """``target()`` takes an Alert already read: it cannot verify a signature, so it refuses.

    The issuer's alerts reach people only through ``receive()``, which verifies the document;
    a version received so is held by the store, and sent again through ``target()`` (or by
    ``retarget()``) it is the same version, not refused. A Cancel passed as an Alert object
    is refused too: it would end the incident for everyone.
    """
    pytest.importorskip("signxml")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID
    from test_intake import make_key, sign

    from geotarget import cap

    key = make_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sos.example.se")])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(T0 - dt.timedelta(days=1)).not_valid_after(T0 + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )  # fmt: skip
    table = Issuers(
        [
            Issuer(
                name="sos",
                senders=[NATIONAL],
                kinds=KINDS,
                regions=["XX"],
                signature_required=True,
                certificates=[cert.decode()],
            )
        ]
    )
    t = Targeter(REGIONS, nationwide("XX"), recognition=pilot.RECOGNITION, issuers=table)
    alert = _alert("explosion", A_AREA, "G1", NATIONAL)
    spots = _index({"home": (17.25, 59.5)})
    for ask in (t.preview, t.target):
        got = ask(alert, spots, LATER)
        assert got.verdict is Verdict.BAD_SIGNATURE, got.reason
        assert "receive()" in got.reason and got.recipients.size == 0 and got.issuer == "sos"
    assert t.active_incidents == ()
    received = t.receive(sign(cap.dumps(alert).encode(), key, cert), spots, LATER)
    assert received.verdict is Verdict.DELIVER, received.reason
    assert received.signature == "verified"
    again = t.target(alert, _index({"home": (17.25, 59.5), "near": (17.25, 59.5001)}), LATER)
    assert again.verdict is Verdict.DELIVER and again.recipients.tolist() == ["near"]
    stop = attrs.evolve(
        _alert("explosion", A_AREA, "G2", NATIONAL, minutes=1, refs=[alert]),
        msg_type=MessageType.CANCEL,
    )
    assert t.target(stop, spots, LATER).verdict is Verdict.BAD_SIGNATURE
    assert f"{NATIONAL}/G1" in t.active_incidents


@pytest.mark.parametrize("change", ["regions", "kinds", "sender"])
def test_an_incident_stops_streaming_once_the_table_no_longer_lets_its_issuer_send_it(
    change: str,
) -> None:
    """West's alert delivered, then a table where west may not send it there (or at all).

    Streaming is a delivery too: a device entering the area is told only if the table in
    force lets the version's issuer send its kind there, as ``target()`` with it again would;
    and a delivery still pending, never pushed, is not offered again.
    """
    ledger = MemoryLedger()
    before = _targeter(ledger=ledger)
    a = _alert("tip_request", A_AREA, "A", WEST)
    assert before.target(a, _index({"home": (17.25, 59.5)}), LATER).verdict is Verdict.DELIVER
    west = {
        "regions": Issuer(name="west", senders=[WEST], kinds=KINDS, regions=["0102"]),
        "kinds": Issuer(name="west", senders=[WEST], kinds=["explosion"], regions=["0101"]),
        "sender": Issuer(name="west", senders=["other@example.se"], kinds=KINDS, regions=["0101"]),
    }[change]
    national = Issuer(name="national", senders=[NATIONAL], kinds=KINDS, regions=["XX"])
    after = _targeter(Issuers([west, national]), ledger=ledger)
    batch = Positions(["new"], [17.25], [59.5001], observed_at=LATER)
    assert after.on_positions(batch, LATER) == []
    again = after.target(a, _index({"new": (17.25, 59.5001)}), LATER)
    assert again.recipients.size == 0
    assert again.verdict in (Verdict.NOT_AUTHORISED, Verdict.UNKNOWN_ISSUER), again.reason
    # Nor is its delivery still pending (never confirmed) offered again.
    due = LATER + after.lease + dt.timedelta(seconds=1)
    assert after.redeliver(due) == []
    # The table the version was admitted under still streams it, and offers it again.
    assert [d.device_id for d in before.on_positions(batch, LATER)] == ["new"]
    again_due = due + before.lease + dt.timedelta(seconds=1)
    assert [c.ids().tolist() for c in before.redeliver(again_due)] == [["home", "new"]]


#: A circle in 0202 6 km west of OFFSHORE: the two do not meet.
INLAND = Circle(18.9, 59.5, 500.0)


@pytest.mark.parametrize("snap_m", [0.0, 1_000.0])
def test_a_part_whose_devices_are_snapped_onto_the_territory_is_no_place_abroad(
    snap_m: float,
) -> None:
    """National's Explosion over 0202 and the water just off it, in two parts that do not meet.

    Without snapping the part on the water lies abroad and meets no part on the territory:
    a place abroad of its own, refused. With ``snap_m=1000`` its boat is counted in 0202: it
    is on the territory, and the alert is told there.
    """
    assert _GEOD.inv(INLAND.lon, INLAND.lat, OFFSHORE.lon, OFFSHORE.lat)[2] > 1_000.0 + 300.0
    t = _targeter(snap_m=snap_m)
    spots = {"boat": (19.008, 59.5), "shore": (18.9, 59.5)}
    got = t.target(_alert("explosion", [INLAND, OFFSHORE], "P1", NATIONAL), _index(spots), LATER)
    if snap_m:
        assert got.verdict is Verdict.DELIVER, got.reason
        assert got.recipients.tolist() == ["boat", "shore"] and got.per_county == {"02": 2}
    else:
        assert got.verdict is Verdict.NOT_AUTHORISED and "place abroad" in got.reason


def test_an_area_snapped_only_into_the_issuer_s_own_region_is_its_own() -> None:
    """West's tip request over the water just west of 0101: its boat is counted in county 01.

    Snapping reaches only the regions near the area's points abroad: here 0101, west's own,
    so the alert is told (the check does not refuse what it should let through).
    """
    t = _targeter(snap_m=1_000.0)
    lake = Circle(16.988, 59.5, 300.0)
    assert _GEOD.inv(17.0, 59.5, 16.992, 59.5)[2] < 1_000.0 and _inside([lake], 16.992, 59.5)
    got = t.target(
        _alert("tip_request", [lake], "S3", WEST), _index({"boat": (16.992, 59.5)}), LATER
    )
    assert got.verdict is Verdict.DELIVER, got.reason
    assert got.recipients.tolist() == ["boat"] and got.per_county == {"01": 1}


@pytest.mark.parametrize("how", ["kind killed", "all killed", "kind removed"])
def test_a_pending_delivery_is_not_offered_again_while_the_policy_stops_its_kind(how: str) -> None:
    """The kill switch stops redelivery as it stops streaming; lifted, the delivery comes back.

    A device claimed but never confirmed (its push failed) is offered again when its lease runs
    out; with the kind's kill switch or the global one on, or the kind gone from the policy,
    ``on_positions`` tells nobody of it, and ``redeliver`` offered it all the same.
    """
    ledger = MemoryLedger()
    on = Targeter(
        REGIONS, nationwide("XX"), location_rules=_rules(), issuers=_table(), ledger=ledger
    )
    a = _alert("tip_request", A_AREA, "A", WEST)
    assert on.target(a, _index({"home": (17.25, 59.5)}), LATER).verdict is Verdict.DELIVER
    stopped = {
        "kind killed": nationwide("XX").with_killed(kind="tip_request"),
        "all killed": nationwide("XX").with_killed(),
        "kind removed": nationwide("XX", kinds=["explosion", "crime_modus"]),
    }[how]
    off = Targeter(REGIONS, stopped, location_rules=_rules(), issuers=_table(), ledger=ledger)
    batch = Positions(["new"], [17.25], [59.5001], observed_at=LATER)
    assert off.on_positions(batch, LATER) == []
    due = LATER + off.lease + dt.timedelta(seconds=1)
    assert off.redeliver(due) == []
    # The switch lifted: the same pending delivery is offered again, with its key.
    again = due + on.lease + dt.timedelta(seconds=1)
    assert [c.ids().tolist() for c in on.redeliver(again)] == [["home"]]
