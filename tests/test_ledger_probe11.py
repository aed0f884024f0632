"""The delivery stores under real faults and foreign files (probe 11).

Each test gives a store what an operator or another program really leaves it — a SQLite file
another program made, or one of an early build — and checks the answer against plain Python:
the file's bytes, the tables ``sqlite3`` itself lists, and a dict of who was told which version.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from geotarget.errors import InvalidInput, StoreCorrupt
from geotarget.ledger import MemoryLedger, PostgresLedger, SQLiteLedger

T0 = dt.datetime(2026, 5, 4, 12, 0, tzinfo=dt.timezone.utc)
INC = "polisen@polisen.se/SE-POL-1"


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """A fresh store of each kind (PostgreSQL: a schema of the test cluster, else skipped)."""
    if request.param == "memory":
        made: Any = MemoryLedger()
    elif request.param == "sqlite":
        made = SQLiteLedger(tmp_path / "deliveries.db")
    else:
        made = PostgresLedger(request.getfixturevalue("postgres_dsn"))
    yield made
    made.close()


# -- the longest ids every store takes --------------------------------------------------------

#: A character of four bytes in UTF-8: the longest ids below are the most bytes they may be.
WIDE = "\U0001f6a8"


@pytest.mark.parametrize("form", ["list", "array"])
def test_a_device_id_or_incident_every_store_cannot_hold_is_refused_alike(
    store: Any, form: str
) -> None:
    """Ids as long as a Positions id (256) and incident keys of a CAP sender/identifier pass.

    Longer ones are refused by every store with InvalidInput naming the field and the rule.
    Regression: the memory and SQLite stores took any length, while PostgreSQL failed a claim
    holding one id past about 2,700 bytes (its index's limit) with StoreUnavailable, "the
    server cannot be reached": the whole batch was refused as if the server were down.
    """
    longest = WIDE * 256
    incident = WIDE * 256 + "/" + WIDE * 256  # (2,049 bytes: a sender and identifier of 256)
    ids: Any = [longest, "short", 7]
    if form == "array":
        ids = np.array([longest, "short", "7"])
    claims = store.claim(incident, ids, version=incident, at=T0)
    assert claims.devices.tolist() == [longest, "short", "7"]
    done = store.confirm(claims.keys(), at=T0)
    assert done.confirmed.tolist() == [0, 1, 2]

    too_long: Any = ["a", "x" * 257]
    if form == "array":
        too_long = np.array(too_long)
    with pytest.raises(InvalidInput, match=r"device_ids\[1\] must be at most 256 characters"):
        store.claim(incident, too_long, version=incident, at=T0)
    for length in (2_000, 3_000, 9_000):
        with pytest.raises(InvalidInput, match=r"device_ids\[0\] must be at most 256"):
            store.claim(INC, ["d" * length], version=INC, at=T0)
    # The longest version id of all: a sender of 256 "/", each written "%2F" (1,025 bytes).
    escaped = "%2F" * 256 + "/" + "i" * 256
    assert store.claim(escaped, ["a"], version=escaped, at=T0).devices.tolist() == ["a"]
    wider = "s/" + "i" * 2_048
    with pytest.raises(InvalidInput, match="incident must be at most 2,049 bytes in UTF-8"):
        store.claim(wider, ["a"], version=wider, at=T0)
    with pytest.raises(InvalidInput, match="version must be at most 2,049 bytes"):
        store.retract(incident, version="s/" + WIDE * 512, at=T0)
    # Nothing of the refused calls was applied; the store still works.
    assert sorted(store.recipients(incident).tolist()) == sorted([longest, "short", "7"])
    assert store.recipients(INC).tolist() == []
    assert store.claim(INC, ["a"], version=INC, at=T0).devices.tolist() == ["a"]


# -- a SQLite file another program made ---------------------------------------------------------

#: Files an operator may point the store at by mistake, or that an early build left: the SQL
#: making each, and what the refusal must name.
FOREIGN = {
    # A GeoPackage (the boundaries' format): SQLite with an application id and its own tables.
    "geopackage": (
        "PRAGMA application_id = 1196444487;"
        "CREATE TABLE gpkg_contents (table_name TEXT PRIMARY KEY, data_type TEXT);"
        "CREATE TABLE kommuner (fid INTEGER PRIMARY KEY, geom BLOB);"
        "INSERT INTO kommuner VALUES (1, x'0001');",
        ["another program", "'gpkg_contents'", "'kommuner'"],
    ),
    # An app's database in UTF-16 (its text columns), one table.
    "app database": (
        "PRAGMA encoding = 'UTF-16le'; CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);",
        ["another program", "'users'"],
    ),
    # An early build's incidents table, before incidents had integer ids and a release mark.
    "early incidents": (
        "CREATE TABLE gt_incidents (incident TEXT PRIMARY KEY, state SMALLINT NOT NULL,"
        " version TEXT, changed_us BIGINT NOT NULL);",
        ["'gt_incidents'", "released", "id"],
    ),
    # The incidents table of a build just before the release mark.
    "no release mark": (
        "CREATE TABLE gt_incidents (id INTEGER PRIMARY KEY, incident TEXT NOT NULL UNIQUE,"
        " state SMALLINT NOT NULL, version TEXT, sent_us BIGINT, sender TEXT, status TEXT,"
        " document TEXT, cancel_version TEXT, changed_us BIGINT NOT NULL);",
        ["'gt_incidents'", "released"],
    ),
    # Another program's table that happens to have a name of the store's.
    "a table of the store's name": (
        "CREATE TABLE gt_claims (id INTEGER PRIMARY KEY, what TEXT);",
        ["'gt_claims'", "incident_id", "lease_us"],
    ),
    # A view where the store keeps a table.
    "a view of the store's name": (
        "CREATE TABLE gt_incidents_src (x); CREATE VIEW gt_tokens AS SELECT 1 AS id, 'x' AS token;",
        ["another program"],
    ),
    # A format SQLite keeps as text: not a format number (never "newer" than this build's).
    "a format as text": (
        "CREATE TABLE gt_meta (name TEXT PRIMARY KEY, value TEXT);"
        "INSERT INTO gt_meta VALUES ('format', '1');",
        ["format", "'1'", "another program"],
    ),
}


def _files(path: Path) -> dict[str, str]:
    """The database file and any journal beside it, by name: a SHA-256 of each one's bytes."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.parent.iterdir())
        if p.name.startswith(path.name)
    }


@pytest.mark.parametrize("case", sorted(FOREIGN))
def test_a_file_another_program_made_is_refused_at_open_and_left_as_it_was(
    case: str, tmp_path: Path
) -> None:
    """A GeoPackage, an app's database, an early build's tables: refused, not written to.

    Regression: the store switched the file to WAL and added its tables to any SQLite file
    (a GeoPackage given by mistake got them), and a table of one of its names without the
    columns it uses opened, then failed every call with "SQLite failed (no such column)".
    """
    sql, named = FOREIGN[case]
    path = tmp_path / "deliveries.db"
    with sqlite3.connect(path) as db:
        db.executescript(sql)
    db.close()
    before = _files(path)
    with pytest.raises(StoreCorrupt) as caught:
        SQLiteLedger(path)
    message = str(caught.value)
    for word in named:
        assert word in message, message
    assert str(path) in message
    assert _files(path) == before  # not a byte written: no WAL switch, no table, no -wal


def test_the_store_s_own_file_with_a_table_added_and_analysed_still_opens(tmp_path: Path) -> None:
    """An operator's own table added beside a store, and ANALYZE's statistics: it opens."""
    path = tmp_path / "deliveries.db"
    store = SQLiteLedger(path)
    keys = store.claim(INC, ["a", "b"], version=INC, at=T0).keys()
    store.close()
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE ops_notes (note TEXT)")
        db.execute("ANALYZE")
    db.close()
    again = SQLiteLedger(path)
    try:
        assert again.confirm(keys[:1], at=T0).confirmed.tolist() == [0]
        due = again.redeliver(T0 + dt.timedelta(hours=1))
        assert [(c.incident, c.devices.tolist()) for c in due] == [(INC, ["b"])]
    finally:
        again.close()


#: Tables an early build or another program left in a PostgreSQL schema, and what is named.
PG_FOREIGN = {
    "early incidents": (
        "CREATE TABLE gt_incidents (incident TEXT PRIMARY KEY, state SMALLINT NOT NULL,"
        " version TEXT, changed_us BIGINT NOT NULL)",
        ["'gt_incidents'", "released"],
    ),
    "a table of the store's name": (
        "CREATE TABLE gt_claims (id BIGSERIAL PRIMARY KEY, what TEXT)",
        ["'gt_claims'", "incident_id", "lease_us"],
    ),
}


def _pg_tables(dsn: str) -> list[tuple[str, list[str]]]:
    """Every table of the DSN's schema and its columns, as the server lists them."""
    import psycopg

    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT table_name::text, column_name::text FROM information_schema.columns"
            " WHERE table_schema = current_schema() ORDER BY 1, ordinal_position"
        ).fetchall()
    out: dict[str, list[str]] = {}
    for table, column in rows:
        out.setdefault(table, []).append(column)
    return sorted(out.items())


@pytest.mark.parametrize("case", sorted(PG_FOREIGN))
def test_a_postgres_table_of_the_store_s_name_of_another_shape_is_refused_at_open(
    case: str, postgres_dsn: str
) -> None:
    """Regression: the store opened over it, then every call failed "column does not exist"."""
    import psycopg

    from geotarget.ledger import PostgresLedger

    sql, named = PG_FOREIGN[case]
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(sql)
    before = _pg_tables(postgres_dsn)
    with pytest.raises(StoreCorrupt) as caught:
        PostgresLedger(postgres_dsn)
    for word in named:
        assert word in str(caught.value), str(caught.value)
    assert _pg_tables(postgres_dsn) == before  # the other tables were not made either


# -- a PostgreSQL limit an administrator set -------------------------------------------------


def test_a_postgres_limit_an_administrator_set_is_named_not_taken_for_a_server_down(
    postgres_dsn: str,
) -> None:
    """``temp_file_limit`` set for the role (here the session) stops a large redelivery.

    Regression: PostgreSQL reports such a refusal in SQLSTATE class 53 (54, 58 alike), which
    psycopg raises as OperationalError, and the store said "the server cannot be reached",
    sending an operator after the network. The message says what the server said, nothing
    was applied, and a handle without the limit finds every delivery still due.
    """
    import numpy as np

    from geotarget.errors import StoreUnavailable

    limited = PostgresLedger(f"{postgres_dsn[:-1]} -c temp_file_limit=1MB'")
    other = PostgresLedger(postgres_dsn)
    try:
        ids = np.array([f"device-{i:08d}" for i in range(300_000)])
        claims = limited.claim(INC, ids, version=INC, at=T0, lease=dt.timedelta(seconds=1))
        assert len(claims) == ids.size
        later = T0 + dt.timedelta(minutes=1)
        with pytest.raises(StoreUnavailable) as caught:
            limited.redeliver(later)
        text = str(caught.value)
        assert "temp_file_limit" in text and "cannot be reached" not in text, text
        assert "nothing was applied" in text
        assert sum(len(c) for c in other.due(later)) == ids.size  # none leased again
        # The same handle's small calls still run.
        assert limited.claim(INC, ["new"], version=INC, at=T0).devices.tolist() == ["new"]
    finally:
        limited.close()
        other.close()


# -- a process killed between claim and confirm -----------------------------------------------

#: A service process's loop on one SQLite store: claim a batch, push and confirm half of what it
#: holds, redeliver; each step announced before it runs ("?") and after it returned ("!"),
#: every line ending in END, so a line the kill cut short is known to be unfinished.
_WORKER = r"""
import datetime as dt, random, sys
from geotarget.ledger import SQLiteLedger
T = dt.datetime(2026, 5, 4, 12, 0, tzinfo=dt.timezone.utc)
store = SQLiteLedger(sys.argv[1])
rng = random.Random(int(sys.argv[2]))
keys = []
for b in range(1, 10_000):
    ids = [f"{b}:{i}" for i in range(rng.choice([10, 2_000, 20_000]))]
    ids += [rng.randint(0, 10**6) for _ in range(len(ids) // 10)]
    print("C?", b, "END", flush=True)
    claims = store.claim("s/a", ids, version="s/a", at=T, lease=dt.timedelta(seconds=1))
    print("C!", " ".join(claims.devices.tolist()), "END", flush=True)
    keys += claims.keys().tolist()
    rng.shuffle(keys)
    now, keys = keys[: len(keys) // 2], keys[len(keys) // 2 :]
    print("F?", " ".join(k.split(" ", 2)[2] for k in now), "END", flush=True)
    store.confirm(now, at=T)
    print("F!", "END", flush=True)
    store.redeliver(T + dt.timedelta(seconds=b), limit=rng.choice([None, 7]))
"""


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_process_killed_between_claim_and_confirm_loses_and_doubles_nothing(
    seed: int, tmp_path: Path
) -> None:
    """SIGKILL at a random point of claims, confirmations and redeliveries; a restart reads.

    The oracle is the worker's own journal: every claim it was answered is in the store, and
    nothing it never asked for; every confirmation it was answered is confirmed, and no device
    it never confirmed is; the one call in flight is applied whole or not at all; what is not
    confirmed is all due once its lease has run out.
    """
    import os
    import random
    import signal
    import subprocess
    import sys
    import time

    path = tmp_path / "deliveries.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", _WORKER, str(path), str(seed)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    lines: list[str] = []
    while not lines or not lines[-1].startswith("C!"):  # (its first claim, however slow)
        line = proc.stdout.readline()
        assert line, "the worker ended before its first claim returned"
        lines.append(line.rstrip("\n"))
    time.sleep(random.Random(seed).uniform(0.1, 2.0))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    lines += proc.stdout.read().splitlines()
    proc.stdout.close()
    claimed: set[str] = set()
    told: set[str] = set()
    in_flight_claim: int | None = None
    in_flight_confirm: set[str] = set()
    for line in lines:
        if not line.endswith("END"):
            break  # (cut short by the kill: its call was never made)
        tag, *words = line.split()[:-1]
        if tag == "C?":
            in_flight_claim = int(words[0])
        elif tag == "C!":
            claimed |= set(words)
            in_flight_claim = None
        elif tag == "F?":
            in_flight_confirm = set(words)
        elif tag == "F!":
            told |= in_flight_confirm
            in_flight_confirm = set()
    store = SQLiteLedger(path)
    try:
        every = set(store.recipients("s/a").tolist())
        pending = {d for c in store.pending("s/a") for d in c.devices.tolist()}
        due = {d for c in store.due(T0 + dt.timedelta(days=1)) for d in c.devices.tolist()}
    finally:
        store.close()
    assert claimed <= every
    unasked = every - claimed
    assert all(
        d.isdigit() or (in_flight_claim is not None and d.startswith(f"{in_flight_claim}:"))
        for d in unasked
    ), sorted(unasked)[:5]
    confirmed = every - pending
    assert told <= confirmed
    assert confirmed - told in (set(), in_flight_confirm), "a confirmation applied in part"
    assert due == pending


# -- a stored document another program changed -------------------------------------------------


def test_a_stored_document_another_program_damaged_is_the_store_s_fault_not_the_caller_s(
    tmp_path: Path,
) -> None:
    """A version's document cut short in the file (a hand edit, a later build, a bad restore).

    Regression: reading it raised InvalidCAP ("CAP document has 1 problem"), which blames a
    document the caller sent: a restarted service answered a batch of positions, or the same
    alert sent again, as a bad request. It is StoreCorrupt, a StoreError, naming the incident
    or version, and nothing is changed.
    """
    import shapely.geometry as sg

    from geotarget import Circle, Positions, pilot
    from geotarget.errors import InvalidCAP
    from geotarget.regions import Region, RegionHierarchy, RegionSet
    from geotarget.rollout import nationwide
    from geotarget.targeting import Targeter

    msg = pilot.Message(headline="Explosionsrisk", description="Lämna.", area_description="X")
    alert = pilot.explosion(
        identifier="SE-POL-1",
        sender="polisen@polisen.se",
        sent=T0,
        area=Circle(18.06528, 59.3325, 500.0),
        sv=msg,
        en=msg,
        onset=T0,
        expires=T0 + dt.timedelta(hours=2),
    )
    path = tmp_path / "deliveries.db"
    store = SQLiteLedger(path)
    store.admit(alert, at=T0)
    store.close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE gt_incidents SET document = substr(document, 1, 200)")
        db.execute("UPDATE gt_versions SET document = substr(document, 1, 200)")
    db.close()
    before = _files(path)

    store = SQLiteLedger(path)
    try:
        (incident,) = store.load_active()
        with pytest.raises(StoreCorrupt, match=f"incident '{INC}'") as caught:
            _ = incident.alert
        assert not isinstance(caught.value, InvalidCAP)
        with pytest.raises(StoreCorrupt, match=f"version '{INC}'"):
            store.admit(alert, at=T0)  # (the feed sends it again)
        box = sg.box(17.7, 59.2, 18.3, 59.45)
        regions = RegionHierarchy(
            [
                RegionSet([Region(code="0180", name="S", level="municipality", geometry=box)]),
                RegionSet([Region(code="SE", name="Sverige", level="country", geometry=box)]),
            ],
            {"0180": "SE"},
        )
        targeter = Targeter(regions, nationwide(), ledger=store)
        fixes = Positions(["p1"], [18.0653], [59.3325], observed_at=T0)
        with pytest.raises(StoreCorrupt):
            targeter.on_positions(fixes, T0)
    finally:
        store.close()
    assert _files(path) == before
