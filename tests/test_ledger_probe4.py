"""Delivery as an operator and a feed really drive it, against a plain-Python model.

The model is written from ``docs/delivery.rst`` ("The guarantee") and the design's Delivery
semantics, never from the stores: each device claimed for an incident has one alert delivery
and, once the incident is cancelled, one retraction; each is offered until confirmed, confirmed
once, and offered again only when its lease has run out (``redeliver``). A store written by
an early build, opened by this one, keeps what that build decided.

Every store (memory, SQLite, PostgreSQL through ``scripts/pg``) runs the same checks.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from targeting_helpers import SENDER, T0, make_alert, make_regions, ref

from geotarget import Circle, PositionIndex, Positions
from geotarget.alerts import Alert, MessageType
from geotarget.ledger import (
    DeliveryKind,
    IncidentState,
    MemoryLedger,
    PostgresLedger,
    SQLiteLedger,
    Transition,
)
from geotarget.rollout import nationwide
from geotarget.targeting import Targeter, Verdict

STORES = ["memory", "sqlite", "postgres"]
MIN = dt.timedelta(minutes=1)
AREA = Circle(17.5, 59.5, 2_000.0)
#: Six devices well inside AREA (a few hundred metres from its centre), one far outside.
INSIDE = [f"d{i}" for i in range(6)]
LON = np.array([17.5 + 0.001 * i for i in range(6)] + [18.4])
LAT = np.full(7, 59.5)


def open_store(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest, name: str = "d.db"
) -> Any:
    """A store of the named kind, closed after the test (PostgreSQL: the test's own schema)."""
    if kind == "memory":
        return MemoryLedger()
    handle: Any
    if kind == "sqlite":
        handle = SQLiteLedger(tmp_path / name)
    else:
        handle = PostgresLedger(request.getfixturevalue("postgres_dsn"))
    request.addfinalizer(handle.close)
    return handle


def index(at: dt.datetime) -> PositionIndex:
    """Fresh fixes of d0 … d5 (inside AREA) and d6 (far outside)."""
    ids = [*INSIDE, "far"]
    return PositionIndex(Positions(ids, LON, LAT, accuracy_m=np.full(7, 5.0), observed_at=at))


def cancel_of(original: Alert, ident: str, minutes: int) -> Alert:
    """A Cancel of ``original`` with identifier ``ident``, sent ``minutes`` after T0."""
    return make_alert(
        "explosion",
        AREA,
        ident=ident,
        msg_type=MessageType.CANCEL,
        refs=(ref(original),),
        sent=T0 + minutes * MIN,
    )


# -- alerts and retractions against a dict model ---------------------------------------------


def _run_model(ledgers: list[Any], seed: int, steps: int) -> None:
    """Random claims, confirmations, redeliveries and Cancels against a dict model.

    Each call goes to the next of ``ledgers`` (handles of one store, as processes would
    hold them), and the clock may step back between calls (a host's clock corrected):
    a lease ends at the instant it was given, whatever the calls' order.

    The model: ``alert[d]`` is ``[told, lease_until, version]`` (minutes, an index into the
    versions admitted) of device d's alert delivery, ``back[d]`` ``[told, lease_until]`` of its
    retraction. A claim of the current version takes devices never claimed, or pending on a
    version an Update replaced (held), only while the incident is active; a key confirms its
    delivery once (then ``already``), and so does a key of a replaced version (its push told
    the device; docs/delivery.rst, guarantee 7), while a current key of a delivery still held
    is unknown; a redelivery takes the pending deliveries of the current version whose lease
    ran out (alerts only while active) and leases them again; the first Cancel makes a pending
    retraction for every device claimed, keyed by it; any later Cancel (that one re-sent, or
    another) makes none and offers the retractions not confirmed yet (as
    ``DeliveryLedger.retract`` documents): a device told of its retraction is not told again.
    """
    rng = random.Random(seed)
    original = make_alert("explosion", AREA, ident=f"a{seed}")
    version = f"{SENDER}/a{seed}"
    assert ledgers[0].admit(original, at=T0).incident is not None
    versions = [version]
    cancels: dict[str, Alert] = {}
    alert: dict[str, list[int]] = {}
    back: dict[str, list[int]] = {}
    first_cancel: str | None = None
    now = 0
    lease = 3
    for step in range(steps):
        ledger = ledgers[step % len(ledgers)]
        now += rng.randint(-2, 3)
        at = T0 + now * MIN
        op = rng.choice(
            ["claim", "claim", "confirm", "confirm_back", "redeliver", "cancel", "update"]
        )
        cur = len(versions) - 1
        devices = [f"d{rng.randint(0, 9)}" for _ in range(rng.randint(0, 5))]
        if op == "claim":
            got = ledger.claim(version, devices, version=versions[cur], at=at, lease=lease * MIN)
            want: list[str] = []
            if first_cancel is None:
                for d in devices:
                    held = d in alert and not alert[d][0] and alert[d][2] != cur
                    if (d not in alert or held) and d not in want:
                        want.append(d)
                for d in want:
                    alert[d] = [0, now + lease, cur]
            assert got.devices.tolist() == want
            assert got.keys().tolist() == [f"{version} {versions[cur]} {d}" for d in want]
        elif op in ("confirm", "confirm_back"):
            table: dict[str, list[int]] = alert if op == "confirm" else back
            k = rng.randint(0, cur)
            which = versions[k] if op == "confirm" else first_cancel
            if which is None:
                continue
            keys = [f"{version} {which} {d}" for d in devices]
            got = ledger.confirm(keys, at=at)
            seen: set[str] = set()
            for i, d in enumerate(devices):
                if d in seen:
                    continue
                seen.add(d)
                if d not in table or (op == "confirm" and k == cur and table[d][2] != cur):
                    assert i in got.unknown.tolist(), (op, d)
                elif table[d][0]:
                    assert i in got.already.tolist(), (op, d)
                else:
                    assert i in got.confirmed.tolist(), (op, d)
                    table[d][0] = 1
        elif op == "redeliver":
            got = ledger.redeliver(at, lease=lease * MIN)
            offered = {
                (c.kind, d) for c in got for d in c.devices.tolist() if c.incident == version
            }
            want_alert = set()
            if first_cancel is None:
                want_alert = {
                    d
                    for d, (told, until, v) in alert.items()
                    if not told and until <= now and v == cur
                }
            want_back = {d for d, (told, until) in back.items() if not told and until <= now}
            assert offered == {(DeliveryKind.ALERT, d) for d in want_alert} | {
                (DeliveryKind.RETRACTION, d) for d in want_back
            }
            for d in want_alert:
                alert[d][1] = now + lease
            for d in want_back:
                back[d][1] = now + lease
        elif op == "update":
            n = len(versions)
            update = make_alert(
                "explosion",
                AREA,
                ident=f"a{seed}-u{n}",
                msg_type=MessageType.UPDATE,
                refs=(ref(original),),
                sent=T0 + n * dt.timedelta(seconds=1),  # (each later than the one before)
            )
            adm = ledger.admit(update, at=at)
            if first_cancel is None:
                assert adm.transition is Transition.UPDATED
                versions.append(f"{SENDER}/a{seed}-u{n}")
            else:
                assert adm.transition is Transition.CANCELLED
        else:
            ident = f"c{seed}-{rng.choice([1, 1, 2]) if first_cancel else 1}"
            cancel = cancels.setdefault(ident, cancel_of(original, ident, now))  # (re-sent)
            adm = ledger.admit(cancel, at=at, lease=lease * MIN)
            if first_cancel is None:
                first_cancel = f"{SENDER}/{ident}"
                back = {d: [0, now + lease] for d in alert}
                assert adm.retraction is not None
                offered_now = adm.retraction.devices.tolist()
            else:
                offered_now = ledger.retract(
                    version, version=f"{SENDER}/{ident}", at=at, lease=lease * MIN
                ).devices.tolist()
            # A retraction a device was told of (confirmed) is not offered again.
            assert sorted(offered_now) == sorted(d for d, (told, _) in back.items() if not told)


@pytest.mark.parametrize(
    ("store", "handles", "seeds"),
    [("memory", 1, 40), ("sqlite", 1, 12), ("sqlite", 2, 12), ("postgres", 2, 6)],
)
def test_deliveries_and_retractions_equal_a_dict_model(
    store: str, handles: int, seeds: int, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Claims, confirmations (alerts and retractions), redelivery and Cancels sent again."""
    ledgers = [open_store(store, tmp_path, request) for _ in range(handles)]
    for seed in range(seeds):  # an incident of its own each
        _run_model(ledgers, seed, 30)


# -- a store written by an early build ---------------------------------------------------------


@pytest.mark.parametrize("store", STORES)
def test_a_cancel_sent_again_through_target_offers_no_retraction_a_device_was_told(
    store: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A feed re-sends a Cancel (and a second Cancel of the same alert arrives) after the push.

    Regression: ``Targeter.target`` answered each with every retraction of the incident, the
    confirmed ones included, so the push layer told devices of the retraction again. Now
    ``retract`` still names every device told and ``claims`` holds only those whose
    retraction is not confirmed, under the first Cancel's keys; a restarted instance on the
    same store answers the same.
    """
    ledger = open_store(store, tmp_path, request)
    targeter = Targeter(make_regions(), nationwide("XX"), ledger=ledger)
    original = make_alert("explosion", AREA, ident="a1")
    told = targeter.target(original, index(T0), T0)
    assert sorted(told.recipients.tolist()) == INSIDE
    assert told.claims is not None
    targeter.confirm(told.claims.keys(), T0)
    at = T0 + MIN
    first = targeter.target(cancel_of(original, "c1", 1), index(at), at)
    assert first.verdict is Verdict.CANCELLED and first.claims is not None
    assert sorted(first.retract.tolist()) == sorted(first.claims.devices.tolist()) == INSIDE
    keys = dict(zip(first.claims.devices.tolist(), first.claims.keys().tolist(), strict=True))
    pushed = ["d0", "d2", "d3"]  # the push layer told three before a crash
    targeter.confirm([keys[d] for d in pushed], at)
    second = cancel_of(original, "c2", 2)
    for again, when in ((cancel_of(original, "c1", 1), 2), (second, 3), (second, 4)):
        t = T0 + when * MIN
        for who in (targeter, Targeter(make_regions(), nationwide("XX"), ledger=ledger)):
            got = who.target(again, index(t), t)
            assert got.verdict is Verdict.CANCELLED, got.reason
            assert sorted(got.retract.tolist()) == INSIDE  # every device told of the alert
            assert got.claims is not None
            due = got.claims.devices.tolist()
            assert sorted(due) == sorted(set(INSIDE) - set(pushed)), got.reason
            assert got.claims.version == first.claims.version  # the first Cancel's keys
            assert all(keys[d] == k for d, k in zip(due, got.claims.keys().tolist(), strict=True))
    # Once every retraction is confirmed, a Cancel sent again offers none.
    targeter.confirm([keys[d] for d in INSIDE if d not in pushed], T0 + 5 * MIN)
    last = targeter.target(second, index(T0 + 6 * MIN), T0 + 6 * MIN)
    assert sorted(last.retract.tolist()) == INSIDE
    assert last.claims is not None and last.claims.devices.tolist() == []
    assert targeter.redeliver(T0 + 60 * MIN) == []


#: The tables of the first build that kept incidents in the store (commit 3367982): a Cancel
#: that came first was remembered as (version it names, the Cancel's version id) alone.
EARLY_SCHEMA = [
    """CREATE TABLE gt_incidents (id INTEGER PRIMARY KEY, incident TEXT NOT NULL UNIQUE,
        state SMALLINT NOT NULL, version TEXT, sent_us BIGINT, sender TEXT, status TEXT,
        document TEXT, cancel_version TEXT, changed_us BIGINT NOT NULL, released TEXT)""",
    """CREATE TABLE gt_versions (version TEXT PRIMARY KEY, incident TEXT NOT NULL,
        document TEXT, sent_us BIGINT, seen_us BIGINT NOT NULL)""",
    """CREATE TABLE gt_early_cancels (version TEXT PRIMARY KEY,
        cancel_version TEXT NOT NULL, at_us BIGINT NOT NULL)""",
    "CREATE TABLE gt_tokens (id INTEGER PRIMARY KEY, token TEXT NOT NULL UNIQUE)",
    """CREATE TABLE gt_claims (incident_id BIGINT NOT NULL, kind SMALLINT NOT NULL,
        device NOT NULL, version_id BIGINT NOT NULL, state SMALLINT NOT NULL,
        batch BIGINT NOT NULL, pos BIGINT NOT NULL, lease_us BIGINT NOT NULL,
        confirmed_us BIGINT, PRIMARY KEY (incident_id, kind, device)) WITHOUT ROWID""",
    "CREATE TABLE gt_meta (name TEXT PRIMARY KEY, value INTEGER)",
    "INSERT INTO gt_meta VALUES ('batch', 0)",
]


def early_store(store: str, tmp_path: Path, request: pytest.FixtureRequest, rows: Any) -> Any:
    """A store in which an early build remembered the Cancels ``rows`` (version, Cancel id).

    SQLite: the early build's very file, opened by this build. PostgreSQL: the rows written
    into the store's table beside this build's.
    """
    if store == "sqlite":
        import sqlite3

        path = tmp_path / "early.db"
        with sqlite3.connect(path) as db:
            for stmt in EARLY_SCHEMA:
                db.execute(stmt)
            db.executemany("INSERT INTO gt_early_cancels VALUES (?, ?, 0)", rows)
        db.close()
        handle: Any = SQLiteLedger(path)
        request.addfinalizer(handle.close)
        return handle
    import psycopg

    dsn = request.getfixturevalue("postgres_dsn")
    handle = PostgresLedger(dsn)
    request.addfinalizer(handle.close)
    with psycopg.connect(dsn, autocommit=True) as pg:
        for version, cancel in rows:
            pg.execute("INSERT INTO gt_early_cancels VALUES (%s, %s, 0)", (version, cancel))
    return handle


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_a_cancel_an_early_build_remembered_still_keeps_its_alert_from_everyone(
    store: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The store of an early build holds a Cancel that came before its Alert; the Alert comes.

    That build kept no document for such a Cancel, only the ids. Regression: this build looked
    only for the document, so it forgot the Cancel and told everyone in the area about the
    cancelled alert (and two builds on one store disagreed about the incident). Now the
    Cancel ends the incident when its sender (read from its id) may act for the alert's.
    """
    alert = make_alert("explosion", AREA, ident="a1")
    other = make_alert("explosion", AREA, ident="b1")
    update = make_alert(
        "explosion",
        AREA,
        ident="b2",
        msg_type=MessageType.UPDATE,
        refs=(ref(other),),
        sent=T0 + MIN,
    )
    foreign = make_alert("explosion", AREA, ident="z1")
    rows = [
        (f"{SENDER}/a1", f"{SENDER}/c1"),
        (f"{SENDER}/b1", f"{SENDER}/c2"),  # named by an Update that arrives first
        (f"{SENDER}/z1", "someone@else.example/c9"),  # another sender's: may not end it
        (f"{SENDER}/y1", "trusted@else.example/c8"),  # one that may act for the sender
    ]
    ledger = early_store(store, tmp_path, request, rows)
    targeter = Targeter(make_regions(), nationwide("XX"), ledger=ledger)
    at = T0 + 5 * MIN
    got = targeter.target(alert, index(at), at)
    assert got.verdict is Verdict.CANCELLED
    assert got.recipients.tolist() == []
    assert ledger.recipients(f"{SENDER}/a1").tolist() == []
    assert ledger.incident(f"{SENDER}/a1").state is IncidentState.CANCELLED
    assert targeter.target(update, index(at), at).verdict is Verdict.CANCELLED
    assert ledger.recipients(f"{SENDER}/b1").tolist() == []
    told = targeter.target(foreign, index(at), at)
    assert told.verdict is Verdict.DELIVER
    assert sorted(told.recipients.tolist()) == INSIDE
    assert targeter.on_positions(index(at + MIN).positions, at + MIN) == []
    # A sender the issuer table lets act for the alert's ends it, as any Cancel it sends.
    trusted = make_alert("explosion", AREA, ident="y1")
    adm = ledger.admit(
        trusted, at=at, may_act_for=lambda sender, owner: sender == "trusted@else.example"
    )
    assert adm.transition is Transition.CANCELLED
    assert adm.incident is not None and adm.incident.state is IncidentState.CANCELLED
