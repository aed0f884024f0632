"""Lifecycles across instances sharing one store, against a plain model of the guarantee.

Probe 13. Each test runs the public API as several service instances do — one Targeter (or
store handle) per process over one SQLite file or PostgreSQL schema — with chains whose order
of arrival makes the incident's current version move, and checks what each device is offered
against a model written from ``docs/delivery.rst`` ("The guarantee") alone: each device in the
area is offered the incident's *current* version until it is confirmed; the current version is
the newest by the references first (followed through the versions held), then by ``sent``;
a key (or, by devices, an incident) confirmed late still counts where its delivery went, and
a store restored from a backup under running instances holds only what the backup held.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from targeting_helpers import SENDER, T0, exact_rules, make_alert, make_regions, positions, ref

from geotarget import Circle, PositionIndex
from geotarget.alerts import Alert, MessageType
from geotarget.ledger import (
    DeliveryLedger,
    IncidentState,
    MemoryLedger,
    PostgresLedger,
    SQLiteLedger,
)
from geotarget.rollout import nationwide
from geotarget.targeting import Targeter, Verdict

M = dt.timedelta(minutes=1)
AREA = Circle(17.25, 59.5, 1000.0)
AT = T0 + 10 * M


def vid(alert: Alert) -> str:
    return f"{SENDER}/{alert.identifier}"


def _newest(chain: dict[str, tuple[dt.datetime, set[str]]]) -> str:
    """The model's current version: the one no other names through references, else latest sent.

    ``chain``: identifier -> (sent, identifiers it names).
    """

    def reaches(start: str, target: str) -> bool:
        todo, seen = [start], {start}
        while todo:
            for named in chain[todo.pop()][1]:
                if named == target:
                    return True
                if named in chain and named not in seen:
                    seen.add(named)
                    todo.append(named)
        return False

    tops = [v for v in chain if not any(reaches(w, v) for w in chain if w != v)]
    return max(tops, key=lambda v: chain[v][0])


def _opener(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Callable[[], DeliveryLedger]:
    """How each instance opens the one store (a new handle each call)."""
    if kind == "sqlite":
        path = tmp_path / "deliveries.db"
        return lambda: SQLiteLedger(path)
    dsn = request.getfixturevalue("postgres_dsn")
    return lambda: PostgresLedger(dsn)


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_version_current_again_offers_a_device_another_instance_claimed_meanwhile(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A chain V1 <- V3 <- X <- V2 arriving V1, V2, V3, X (V2's clock behind V3's).

    V2 names X (not seen yet) and V1, so it replaces V1; V3, sent later and linked to V2 by
    nothing seen yet, replaces V2; X, naming V3, links them: V2 names V3 through X and is the
    newest again. Instance A delivered V1 and V2 to d0; instance B delivered V3 to d0, whose
    push failed (not confirmed). d0 is in the area and never confirmed, so the guarantee says
    it is offered V2, the current version, by A's ``retarget`` or a ``redeliver`` of either
    instance. A's handle remembered d0 as claimed under V2 and left it out of its claims, while
    the store held d0's delivery on V3, a version no longer current: d0 was never offered again.
    """
    open_store = _opener(kind, tmp_path, request)
    v1 = make_alert("explosion", AREA, ident="v1", sent=T0)
    v3 = make_alert(
        "explosion", AREA, ident="v3", sent=T0 + 5 * M, msg_type=MessageType.UPDATE, refs=(ref(v1),)
    )
    x = make_alert(
        "explosion", AREA, ident="x", sent=T0 + 6 * M, msg_type=MessageType.UPDATE, refs=(ref(v3),)
    )
    v2 = make_alert(
        "explosion",
        AREA,
        ident="v2",
        sent=T0 + 2 * M,
        msg_type=MessageType.UPDATE,
        refs=(ref(x), ref(v1)),
    )
    chain = {a.identifier: (a.sent, {r.identifier for r in a.references}) for a in (v1, v2, v3, x)}
    assert _newest(chain) == "v2"

    stores: list[DeliveryLedger] = []

    def instance() -> Targeter:
        store = open_store()
        stores.append(store)
        return Targeter(
            make_regions(),
            nationwide("XX"),
            location_rules=exact_rules(),
            ledger=store,
            lease=M,
        )

    index = PositionIndex(positions([17.25], [59.5]))
    try:
        a, b = instance(), instance()
        assert a.target(v1, index, AT).verdict is Verdict.DELIVER
        assert a.target(v2, index, AT).recipients.tolist() == ["d0"]
        assert b.target(v3, index, AT).recipients.tolist() == ["d0"]  # (its push fails)
        assert b.target(x, index, AT).verdict is Verdict.SUPERSEDED
        incident = vid(v1)
        key = f"{incident} {vid(v2)} d0"
        offered: list[str] = []
        for r in a.retarget(index, AT):
            if r.claims is not None:
                offered += r.claims.keys().tolist()
        later = AT + 5 * M
        for t in (a, b):
            for c in t.redeliver(later):
                offered += c.keys().tolist()
        assert key in offered, offered
        assert [(c.version, c.devices.tolist()) for c in stores[0].pending(incident)] == [
            (vid(v2), ["d0"])
        ]
        # Confirmed under the current version's key, it is offered never again, anywhere.
        assert a.confirm([key], later).confirmed.tolist() == [0]
        assert a.redeliver(later + 5 * M) == [] and b.redeliver(later + 5 * M) == []
    finally:
        for store in stores:
            store.close()


def test_a_sqlite_store_restored_in_place_from_a_backup_claims_what_the_backup_lacks(
    tmp_path: Path,
) -> None:
    """The recovery a damaged store's StoreCorrupt message advises, done while instances run.

    The backup is restored into the live file with SQLite's backup API (the CLI's
    ``.restore``), which keeps the file (its inode): the running instance goes on with the
    handle it has. The backup was made after the alert was admitted and before anyone was
    claimed, so the store holds nobody as claimed: the model says each device in the area
    is claimed and offered again by the next batch that places it there. The running
    handle remembered d0 and d1 as claimed and left them out of every claim: never offered.
    """
    path = tmp_path / "deliveries.db"
    backup = tmp_path / "backup.db"
    store = SQLiteLedger(path)
    try:
        t = Targeter(
            make_regions(), nationwide("XX"), location_rules=exact_rules(), ledger=store, lease=M
        )
        alert = make_alert("explosion", AREA, ident="a1", sent=T0)
        fixes = positions([17.25, 17.2501], [59.5, 59.5], observed_at=[AT, AT])
        assert t.target(alert, PositionIndex(positions([], [])), AT).recipients.tolist() == []
        with sqlite3.connect(path) as live, sqlite3.connect(backup) as copy:
            live.backup(copy)
        told = [d.device_id for d in t.on_positions(fixes, AT)]
        assert told == ["d0", "d1"]
        t.confirm([f"{vid(alert)} {vid(alert)} d0"], AT)
        with sqlite3.connect(backup) as copy, sqlite3.connect(path) as live:
            copy.backup(live)  # (the operator's restore)
        with SQLiteLedger(path) as fresh:  # what the file holds now: nobody claimed
            assert fresh.recipients(vid(alert)).tolist() == []
        later = AT + M
        again = positions([17.25, 17.2501], [59.5, 59.5], observed_at=[later, later])
        told = [d.device_id for d in t.on_positions(again, later)]
        assert told == ["d0", "d1"]
        assert sorted(store.recipients(vid(alert)).tolist()) == ["d0", "d1"]
    finally:
        store.close()


def test_a_postgres_schema_restored_with_pg_restore_clean_claims_what_the_backup_lacks(
    postgres_dsn: str, tmp_path: Path
) -> None:
    """``pg_restore --clean`` into the live schema while an instance runs: its session goes on.

    The dump was made after the alert was admitted and before anyone was claimed; restored,
    the store holds nobody as claimed (a new handle says so), so the model says the devices
    in the area are claimed and offered again by the next batch that places them there.
    """
    dump, restore = shutil.which("pg_dump"), shutil.which("pg_restore")
    if dump is None or restore is None:
        pytest.skip("pg_dump and pg_restore are not on PATH")
    found = re.search(r"search_path=(\w+)", postgres_dsn)
    assert found is not None
    schema, server = found.group(1), postgres_dsn.split(" options=")[0]
    store = PostgresLedger(postgres_dsn)
    try:
        t = Targeter(
            make_regions(), nationwide("XX"), location_rules=exact_rules(), ledger=store, lease=M
        )
        alert = make_alert("explosion", AREA, ident="a1", sent=T0)
        fixes = positions([17.25, 17.2501], [59.5, 59.5], observed_at=[AT, AT])
        assert t.target(alert, PositionIndex(positions([], [])), AT).recipients.tolist() == []
        backup = tmp_path / "store.dump"
        subprocess.run(
            [dump, "-d", server, "-n", schema, "-Fc", "-f", str(backup)],
            check=True,
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=60,
        )
        assert [d.device_id for d in t.on_positions(fixes, AT)] == ["d0", "d1"]
        subprocess.run(
            [restore, "-d", server, "--clean", "-n", schema, str(backup)],
            check=True,
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=60,
        )
        with PostgresLedger(postgres_dsn) as fresh:  # what the schema holds now: nobody
            assert fresh.recipients(vid(alert)).tolist() == []
        later = AT + M
        again = positions([17.25, 17.2501], [59.5, 59.5], observed_at=[later, later])
        assert [d.device_id for d in t.on_positions(again, later)] == ["d0", "d1"]
        assert sorted(store.recipients(vid(alert)).tolist()) == ["d0", "d1"]
    finally:
        store.close()


@pytest.mark.parametrize("kind", ["memory", "sqlite", "postgres"])
def test_a_key_of_the_current_version_confirmed_after_its_incident_merged_counts(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A chain split in two by its order of arrival, linked while a push is in flight.

    A1 <- A5 (an Update naming A1, sent last) and A1 <- B <- C. Arriving A1, A5, C, B: C names
    B, not seen yet, so C starts an incident of its own; B links it to A1's. d0, in every
    area, is pushed A5 (A1's incident, key "A1 A5 d0") and C (the other's): the device in both
    keeps the other's delivery, on C. A5 is the chain's newest (the latest sent, named by
    nothing), so the merged incident's current version. The push of A5 succeeds and its
    confirmation comes after B: the model (guarantees 4 and 7: a key confirmed late counts; a
    device told is offered again only under the same key) says it confirms d0's delivery, and
    d0 is never offered again. It was reported unknown, and d0 offered A5 again under another
    key, which the app shows a second time.
    """
    open_store: Callable[[], DeliveryLedger]
    if kind == "memory":
        shared = MemoryLedger()
        open_store = lambda: shared  # noqa: E731
    else:
        open_store = _opener(kind, tmp_path, request)
    a1 = make_alert("explosion", AREA, ident="a1", sent=T0)
    a5 = make_alert(
        "explosion", AREA, ident="a5", sent=T0 + 9 * M, msg_type=MessageType.UPDATE, refs=(ref(a1),)
    )
    b = make_alert(
        "explosion", AREA, ident="b", sent=T0 + 2 * M, msg_type=MessageType.UPDATE, refs=(ref(a1),)
    )
    c = make_alert(
        "explosion", AREA, ident="c", sent=T0 + 3 * M, msg_type=MessageType.UPDATE, refs=(ref(b),)
    )
    chain = {a.identifier: (a.sent, {r.identifier for r in a.references}) for a in (a1, a5, b, c)}
    assert _newest(chain) == "a5"
    store = open_store()
    try:
        t = Targeter(
            make_regions(), nationwide("XX"), location_rules=exact_rules(), ledger=store, lease=M
        )
        index = PositionIndex(positions([17.25], [59.5]))
        keys = []
        for alert in (a1, a5, c):
            r = t.target(alert, index, AT)
            assert r.claims is not None
            keys += r.claims.keys().tolist()
        first, pushed = vid(a1), f"{vid(a1)} {vid(a5)} d0"
        assert keys == [f"{first} {first} d0", pushed, f"{vid(b)} {vid(c)} d0"]
        linked = t.target(b, index, AT)
        assert linked.verdict is Verdict.SUPERSEDED
        incident = store.incident(vid(b))
        assert incident is not None and incident.version == vid(a5)
        done = t.confirm([pushed], AT)
        assert done.confirmed.tolist() == [0], done
        offered = []
        for r in t.retarget(index, AT + M):
            if r.claims is not None:
                offered += r.claims.keys().tolist()
        for later in (AT + 5 * M, AT + 60 * M):
            offered += [k for c in t.redeliver(later) for k in c.keys().tolist()]
        assert offered == []
    finally:
        store.close()


@pytest.mark.parametrize("kind", ["memory", "sqlite", "postgres"])
def test_confirm_devices_of_an_incident_merged_since_confirms_where_they_moved(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """``confirm_devices`` is ``confirm`` by devices: a merged incident's devices are found.

    The same split chain: d0 and d1 are pushed A5 under A1's incident (d0 also C under the
    other), then B links the two and the caller confirms by devices, naming the incident
    ``target()`` answered. The model: both were told, so both deliveries are confirmed (d0's
    where it went: the joined incident kept its delivery of C), and neither is offered again.
    """
    open_store: Callable[[], DeliveryLedger]
    if kind == "memory":
        shared = MemoryLedger()
        open_store = lambda: shared  # noqa: E731
    else:
        open_store = _opener(kind, tmp_path, request)
    a1 = make_alert("explosion", AREA, ident="a1", sent=T0)
    a5 = make_alert(
        "explosion", AREA, ident="a5", sent=T0 + 9 * M, msg_type=MessageType.UPDATE, refs=(ref(a1),)
    )
    b = make_alert(
        "explosion", AREA, ident="b", sent=T0 + 2 * M, msg_type=MessageType.UPDATE, refs=(ref(a1),)
    )
    c = make_alert(
        "explosion", AREA, ident="c", sent=T0 + 3 * M, msg_type=MessageType.UPDATE, refs=(ref(b),)
    )
    store = open_store()
    try:
        t = Targeter(
            make_regions(), nationwide("XX"), location_rules=exact_rules(), ledger=store, lease=M
        )
        both = PositionIndex(positions([17.25, 17.2501], [59.5, 59.5]))
        t.target(a1, both, AT)
        pushed = t.target(a5, both, AT)
        assert pushed.incident == vid(a1) and pushed.recipients.tolist() == ["d0", "d1"]
        t.target(c, PositionIndex(positions([17.25], [59.5])), AT)
        assert t.target(b, both, AT).verdict is Verdict.SUPERSEDED
        merged = store.incident(vid(a1))
        assert merged is not None and merged.state is IncidentState.MERGED
        done = store.confirm_devices(vid(a1), ["d0", "d1"], at=AT)
        assert done.confirmed.tolist() == [0, 1], done
        assert store.pending(vid(b)) == []
        offered = [
            k for r in t.retarget(both, AT + M) if r.claims for k in r.claims.keys().tolist()
        ]
        offered += [k for c in t.redeliver(AT + 60 * M) for k in c.keys().tolist()]
        assert offered == []
    finally:
        store.close()
