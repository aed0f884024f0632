"""Lifecycles over time, as a real feed delivers them, against a plain-Python oracle.

Onsets in the future across Stockholm's daylight-saving changes (``next_change`` names the
exact instant to call again), Updates that shorten or extend ``expires`` after the fact,
and CAP documents whose ``<references>`` write the same instants at other offsets and with
extra whitespace, in every arrival order.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from pyproj import Geod
from targeting_helpers import SENDER, T0, exact_rules, make_regions, message

from geotarget import Circle, PositionIndex, Positions, cap, pilot
from geotarget.alerts import Alert, MessageType, Reference
from geotarget.ledger import MemoryLedger, SQLiteLedger
from geotarget.rollout import nationwide
from geotarget.targeting import Targeter, TargetingResult, Verdict

UTC = dt.timezone.utc
STOCKHOLM = ZoneInfo("Europe/Stockholm")
H, M = dt.timedelta(hours=1), dt.timedelta(minutes=1)
LON0, LAT0 = 17.5, 59.5
LONS = [LON0 + i * 0.0026 for i in range(40)]
_GEOD = Geod(ellps="WGS84")


def _alert(
    ident: str,
    radius: float,
    onset: dt.datetime,
    expires: dt.datetime,
    sent: dt.datetime,
    msg_type: MessageType = MessageType.ALERT,
    refs: tuple[Reference, ...] = (),
) -> Alert:
    return pilot.tip_request(
        identifier=ident,
        sender=SENDER,
        sent=sent,
        area=Circle(LON0, LAT0, radius),
        sv=message("sv"),
        en=message("en"),
        onset=onset,
        expires=expires,
        msg_type=msg_type,
        references=refs,
    )


def _ref(alert: Alert) -> Reference:
    return Reference(sender=alert.sender, identifier=alert.identifier, sent=alert.sent)


def _index(lons: list[float], at: dt.datetime) -> PositionIndex:
    n = len(lons)
    ids = [f"d{i}" for i in range(n)]
    return PositionIndex(Positions(ids, np.array(lons), np.full(n, LAT0), observed_at=[at] * n))


def _inside(lons: list[float], radius: float) -> set[str]:
    """The oracle: geodesic distance to the centre at most the radius (pyproj directly)."""
    return {f"d{i}" for i, lon in enumerate(lons) if _GEOD.inv(LON0, LAT0, lon, LAT0)[2] <= radius}


def _targeter() -> Targeter:
    return Targeter(
        make_regions(), nationwide("XX"), location_rules=exact_rules(), ledger=MemoryLedger()
    )


def _told(result: TargetingResult) -> set[str]:
    return {str(d) for d in result.recipients}


@pytest.mark.parametrize(
    ("onset", "expires"),
    [
        # spring forward: 03:00 CEST is 01:00Z, an hour after 02:00 CET would have been
        (
            dt.datetime(2026, 3, 29, 3, 0, tzinfo=STOCKHOLM),
            dt.datetime(2026, 3, 29, 3, 30, tzinfo=STOCKHOLM),
        ),
        # fall back: the second 02:30 (fold=1) is 01:30Z, not the first one at 00:30Z
        (
            dt.datetime(2026, 10, 25, 2, 30, tzinfo=STOCKHOLM, fold=1),
            dt.datetime(2026, 10, 25, 3, 0, tzinfo=STOCKHOLM),
        ),
    ],
)
def test_a_future_onset_across_a_clock_change_is_delivered_exactly_at_next_change(
    onset: dt.datetime, expires: dt.datetime
) -> None:
    """next_change is the onset instant; retarget a microsecond before tells nobody."""
    sent = onset.astimezone(UTC) - 2 * H
    t = _targeter()
    first = t.target(_alert("A0", 1500, onset, expires, sent), _index(LONS, sent), sent)
    assert first.verdict is Verdict.NOT_YET_ACTIVE
    assert first.next_change is not None
    assert first.next_change.timestamp() == onset.timestamp()
    nc = first.next_change
    assert t.retarget(_index(LONS, nc), nc - dt.timedelta(microseconds=1)) == []
    (got,) = t.retarget(_index(LONS, nc), nc)
    assert _told(got) == _inside(LONS, 1500)
    assert got.claims is not None
    t.confirm(got.claims.keys(), nc)
    moved = list(LONS)
    moved[39] = LON0 + 0.001
    end = expires.astimezone(UTC)
    before = t.on_positions(_index(moved, end).positions, end - dt.timedelta(microseconds=1))
    assert len(before) == 1  # the device that moved in, once
    moved[38] = LON0 + 0.0011
    assert t.on_positions(_index(moved, end).positions, end) == []  # expired: nobody


def test_an_update_shortening_expires_then_one_extending_it_tells_each_device_once() -> None:
    """Oracle: told = union of the areas of the versions delivered while active."""
    t = _targeter()
    v0 = _alert("B0", 1500, T0, T0 + 2 * H, T0)
    r0 = t.target(v0, _index(LONS, T0), T0)
    assert r0.claims is not None
    t.confirm(r0.claims.keys(), T0)
    told = _told(r0)
    assert told == _inside(LONS, 1500)
    # an Update arriving after its own (earlier) expiry: the incident stops, nobody is told
    v1 = _alert("B1", 3000, T0, T0 + H, T0 + 80 * M, MessageType.UPDATE, (_ref(v0),))
    r1 = t.target(v1, _index(LONS, T0 + 90 * M), T0 + 90 * M)
    assert r1.verdict is Verdict.EXPIRED and len(r1.recipients) == 0
    assert t.on_positions(_index(LONS, T0 + 91 * M).positions, T0 + 91 * M) == []
    assert t.redeliver(T0 + 95 * M) == []
    # an Update extending it again tells only the devices never told
    v2 = _alert("B2", 4000, T0, T0 + 3 * H, T0 + 95 * M, MessageType.UPDATE, (_ref(v1), _ref(v0)))
    r2 = t.target(v2, _index(LONS, T0 + 100 * M), T0 + 100 * M)
    assert r2.verdict is Verdict.DELIVER
    assert _told(r2) == _inside(LONS, 4000) - told


def _documents() -> dict[str, bytes]:
    """W0 → W1 → W2 → Cancel W3, their references rewritten as another feed writes them."""
    v0 = _alert("W0", 1000, T0, T0 + 2 * H, T0)
    v1 = _alert("W1", 2500, T0, T0 + 2 * H, T0 + M, MessageType.UPDATE, (_ref(v0),))
    v2 = _alert("W2", 3500, T0, T0 + 2 * H, T0 + 2 * M, MessageType.UPDATE, (_ref(v1), _ref(v0)))
    c3 = _alert("W3", 3500, T0, T0 + 2 * H, T0 + 3 * M, MessageType.CANCEL, (_ref(v2),))
    refs = {
        "W1": "\n   polisen@example.se,W0,2024-05-20T13:00:00+01:00   \n",
        "W2": "polisen@example.se,W1,2024-05-20T14:01:00+02:00\t\t"
        "polisen@example.se,W0,2024-05-20T12:00:00-00:00 ",
        "W3": " polisen@example.se,W2,2024-05-20T07:02:00-05:00",
    }
    out = {}
    for a in (v0, v1, v2, c3):
        doc = cap.dumps(a)
        if a.identifier in refs:
            new = f"<references>{refs[a.identifier]}</references>"
            doc = re.sub(r"<references>.*?</references>", new, doc, flags=re.S)
        out[a.identifier] = doc.encode()
    return out


AREAS = {"W0": 1000.0, "W1": 2500.0, "W2": 3500.0}


@pytest.mark.parametrize("order", list(itertools.permutations(["W0", "W1", "W2", "W3"])))
def test_references_at_other_offsets_and_spacing_chain_as_the_rules_say(
    order: tuple[str, ...],
) -> None:
    """A dict model of the written rules against receive(), in every arrival order.

    The model: one incident; a version is current when no arrived version names it (the
    chain is linear, so the newest arrived); one named by an arrived version tells nobody;
    a Cancel ends the incident once it (or any version it names) is known, retracting every
    device told; each device told once.
    """
    docs = _documents()
    at = T0 + 5 * M
    t = _targeter()
    told: set[str] = set()
    seen: list[str] = []
    cancelled = False
    for ident in order:
        result = t.receive(docs[ident], _index(LONS, at), at)
        seen.append(ident)
        got = _told(result)
        assert not got & told, "a device told twice"
        if result.claims is not None and len(result.claims):
            t.confirm(result.claims.keys(), at)
        told |= got
        versions = [v for v in seen if v != "W3"]
        if "W3" in seen and ("W2" in seen):
            expected_retract = set() if cancelled else told - got
            if not cancelled and versions:
                assert result.verdict is Verdict.CANCELLED
                assert {str(d) for d in result.retract} == expected_retract
                cancelled = True
            else:
                assert len(got) == 0
            continue
        if ident == "W3":
            assert len(got) == 0
            continue
        newest = max(versions)
        if ident != newest:
            assert result.verdict is Verdict.SUPERSEDED and len(got) == 0
        else:
            assert result.verdict is Verdict.DELIVER
            assert told == _inside(LONS, AREAS[newest]) | (told - got)
            assert got == _inside(LONS, AREAS[newest]) - (told - got)
    assert t.active_incidents == ()


@pytest.mark.parametrize("store", ["memory", "sqlite"])
@pytest.mark.parametrize("order", [(0, 3, 2, 1), (3, 0, 2, 1), (3, 2, 0, 1)])
def test_an_update_linking_a_told_part_to_a_cancelled_chain_says_its_retractions_are_due(
    store: str, order: tuple[int, ...], tmp_path: Path
) -> None:
    """M0 ← M1 ← M2 ← Cancel, each naming only its predecessor; M0 told, M1 arrives last.

    M1 links M0's incident to the one the Cancel (arrived before M2) ended: the devices M0
    told get retractions, due now from redeliver(). The answer said "nobody is told" and no
    more, so a caller acting on it pushed nothing and those devices kept a cancelled alert
    until a redeliver() it had no reason to expect.
    """
    ledger: Any = MemoryLedger() if store == "memory" else SQLiteLedger(tmp_path / "l.db")
    t = Targeter(make_regions(), nationwide("XX"), location_rules=exact_rules(), ledger=ledger)
    v0 = _alert("M0", 1000, T0, T0 + 2 * H, T0)
    v1 = _alert("M1", 2000, T0, T0 + 2 * H, T0 + M, MessageType.UPDATE, (_ref(v0),))
    v2 = _alert("M2", 3000, T0, T0 + 2 * H, T0 + 2 * M, MessageType.UPDATE, (_ref(v1),))
    c3 = _alert("M3", 3000, T0, T0 + 2 * H, T0 + 3 * M, MessageType.CANCEL, (_ref(v2),))
    msgs = [v0, v1, v2, c3]
    at = T0 + 5 * M
    told: set[str] = set()
    result = None
    for i in order:
        result = t.target(msgs[i], _index(LONS, at), at)
        if result.claims is not None and len(result.claims):
            t.confirm(result.claims.keys(), at)
        told |= _told(result)
    assert told == _inside(LONS, 1000)  # M0's devices, from M0 alone
    assert result is not None and result.verdict is Verdict.CANCELLED
    assert len(result.recipients) == 0
    n = len(told)
    assert f"{n} retractions not confirmed yet" in result.reason, result.reason
    assert "due now from redeliver()" in result.reason
    (due,) = t.redeliver(at)
    assert {str(d) for d in due.devices} == told
    assert t.active_incidents == ()
    ledger.close()


def test_an_update_postponing_the_onset_says_the_delivered_area_no_longer_streams() -> None:
    """V0 delivered; V1 (an Update) moves the onset an hour on: NOT_YET_ACTIVE, current.

    From then on a device walking into V0's area is not told until V1 is delivered at its
    onset (the documented rule, "Time" in who_is_told). Only the blast-radius guard's answer
    said so; this one said only "not active before its onset". Preview answers the same.
    """
    t = _targeter()
    v0 = _alert("P0", 1000, T0, T0 + 3 * H, T0)
    first = t.target(v0, _index(LONS, T0), T0)
    assert first.claims is not None
    t.confirm(first.claims.keys(), T0)
    v1 = _alert("P1", 3000, T0 + H, T0 + 3 * H, T0 + M, MessageType.UPDATE, (_ref(v0),))
    at = T0 + 2 * M
    seen = t.preview(v1, _index(LONS, at), at)
    got = t.target(v1, _index(LONS, at), at)
    assert got.verdict is Verdict.NOT_YET_ACTIVE
    assert got.next_change == T0 + H
    assert "until it is delivered nobody new is told of incident" in got.reason, got.reason
    assert "version polisen@example.se/P0, the one delivered, no longer streams" in got.reason
    assert (seen.verdict, seen.reason) == (got.verdict, got.reason)
    walker = list(LONS)
    walker[39] = LON0 + 0.0005  # into V0's area
    assert t.on_positions(_index(walker, at + M).positions, at + M) == []  # as the reason says
    (later,) = t.retarget(_index(walker, T0 + H), T0 + H)
    assert _told(later) == _inside(walker, 3000) - _told(first)
    # resent while it still waits: the same note; a fresh incident's has none
    again = t.target(v1, _index(LONS, at + M), at + M)
    assert "no longer streams" not in again.reason  # delivered now: nothing waits
    fresh = _targeter().target(v1, _index(LONS, at), at)
    assert fresh.verdict is Verdict.NOT_YET_ACTIVE
    assert "no longer streams" not in fresh.reason
