"""Probe 7 of the stores: ``Targeter.preview`` over generated lifecycles, and operators' faults.

Preview: Hypothesis writes lifecycles (Alerts, Updates and Cancels, Test and Actual, Updates
whose onset is still ahead when they are admitted, deliveries confirmed in part, time going
on) and replays each into a Targeter over each store. The oracle is ``target()`` itself, run
on a second Targeter over a fresh store of the same kind that was given the same history: the
same verdict, reason, incident, counts, recipients, retractions and ``next_change``. The
previewed store must be unchanged afterwards: the same bytes (SQLite), the same rows
(PostgreSQL), the same answers to every read (memory).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import os
import sqlite3
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geotarget import Circle, PositionIndex, Positions, pilot, sweden
from geotarget.alerts import Alert, Reference
from geotarget.errors import InvalidInput, InvalidType
from geotarget.ledger import (
    DeliveryKind,
    IncidentState,
    MemoryLedger,
    PostgresLedger,
    SQLiteLedger,
)
from geotarget.targeting import Targeter, TargetingResult

T0 = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
M = dt.timedelta(minutes=1)
H = dt.timedelta(hours=1)
SENDER = "polisen@polisen.se"
OTHER = "lansstyrelsen@lansstyrelsen.se"
TEXT = pilot.Message(headline="Explosion", description="Risk för explosion.", area_description="X")
LATER = dt.datetime(9999, 1, 1, tzinfo=dt.timezone.utc)
PG_DSN = os.environ.get("GEOTARGET_TEST_POSTGRES_DSN", "")


@functools.cache
def _index() -> PositionIndex:
    """3,000 devices over central Stockholm (the circles below cover a varying share)."""
    rng = np.random.default_rng(7)
    lon = rng.uniform(17.90, 18.22, 3000)
    lat = rng.uniform(59.26, 59.40, 3000)
    ids = [f"d{i}" for i in range(lon.size)]
    return PositionIndex(
        Positions(ids, lon, lat, observed_at=T0 - M, accuracy_m=np.full(lon.size, 20.0))
    )


def _targeter(ledger: Any) -> Targeter:
    return Targeter(
        sweden.hierarchy(), sweden.pilot_policy(), recognition=pilot.RECOGNITION, ledger=ledger
    )


def _ref(alert: Alert) -> Reference:
    return Reference(sender=alert.sender, identifier=alert.identifier, sent=alert.sent)


def _message(step: tuple[Any, ...], n: int, earlier: Sequence[Alert]) -> Alert:
    """The message a generated step describes (the ``n``-th message of the history)."""
    what, refs, radius_km, dx, status, onset_min, sent_shift, sender = step
    sent = T0 + (2 * n + sent_shift) * M
    # Index 0 names the latest message, 1 the one before...; one past 25 (or with no message
    # before) names a message never sent (yet).
    named = [
        _ref(earlier[-1 - i % len(earlier)])
        if earlier and i < 25
        else Reference(sender=SENDER, identifier=f"u{i}", sent=T0)
        for i in refs
    ]
    if what == "Cancel":
        return Alert(
            identifier=f"m{n}",
            sender=sender,
            sent=sent,
            status=status,
            msg_type="Cancel",
            scope="Public",
            references=named,
        )
    onset = sent + onset_min * M
    return pilot.explosion(
        identifier=f"m{n}",
        sender=sender,
        sent=sent,
        area=Circle(18.06 + dx * 0.02, 59.33, radius_km * 1000.0),
        sv=TEXT,
        en=TEXT,
        onset=onset,
        expires=sent + 6 * H,
        status=status,
        msg_type=what,
        references=named,
    )


_MESSAGE = st.tuples(
    st.sampled_from(["Alert", "Update", "Update", "Cancel"]),
    st.lists(st.one_of(st.integers(0, 3), st.integers(25, 27)), min_size=1, max_size=3),
    st.sampled_from([2, 4, 7]),
    st.integers(-2, 2),
    st.sampled_from(["Actual", "Actual", "Test"]),
    st.sampled_from([0, 0, 30]),
    st.integers(-3, 0),
    st.sampled_from([SENDER, SENDER, SENDER, OTHER]),
)
_STEP = st.one_of(
    st.tuples(st.just("message"), _MESSAGE),
    st.tuples(st.just("confirm"), st.integers(1, 3)),
    st.tuples(st.just("wait"), st.sampled_from([1, 20, 45, 400])),
    st.tuples(st.just("positions"), st.just(0)),
)
#: A history, then what is previewed: a new message, or one of the history's sent again.
_LIFECYCLE = st.tuples(
    st.lists(_STEP, min_size=1, max_size=8),
    st.one_of(st.tuples(st.just("new"), _MESSAGE), st.tuples(st.just("again"), st.integers(0, 9))),
    st.sampled_from([0, 1, 40]),
)


def _replay(targeter: Targeter, steps: Sequence[Any]) -> tuple[list[Alert], dt.datetime]:
    """Send the history's messages, confirm and wait as it says: the messages and the time."""
    sent: list[Alert] = []
    now = T0 + M
    for step in steps:
        if step[0] == "message":
            message = _message(step[1], len(sent), sent)
            sent.append(message)
            now = max(now, message.sent)
            targeter.target(message, _index(), now, confirm=True)
        elif step[0] == "positions":  # streams live incidents, retires expired ones
            targeter.on_positions(_index().positions, now)
        elif step[0] == "confirm":
            keys = sorted(k for c in targeter.ledger.due(LATER) for k in c.keys().tolist())
            targeter.confirm(keys[:: step[1]], now)
        else:
            now += step[1] * M
    return sent, now


def _previewed(sent: list[Alert], last: tuple[Any, ...]) -> Alert:
    if last[0] == "again" and sent:
        again: Alert = sent[-1 - last[1] % len(sent)]
        return again
    spec = last[1] if last[0] == "new" else ("Alert", [0], 4, 0, "Actual", 0, 0, SENDER)
    return _message(spec, len(sent), sent)


def _reads(ledger: Any, messages: Sequence[Alert]) -> Any:
    """Every public read of the store about the incidents of ``messages``."""
    from geotarget.ledger._lifecycle import version_id

    vids = {version_id(m.sender, m.identifier) for m in messages}
    vids |= {version_id(r.sender, r.identifier) for m in messages for r in m.references}
    found = {v: ledger.lookup_version(v) for v in sorted(vids)}
    keys = sorted(vids | {f[0] for f in found.values() if f is not None})
    return (
        found,
        {v: (ledger.remembered_cancel(v), sorted(ledger.cancels_naming(v))) for v in sorted(vids)},
        {
            k: (
                ledger.incident(k),
                ledger.versions(k),
                ledger.recipients(k).tolist(),
                [(c.version, c.ids().tolist()) for c in ledger.pending(k)],
                [
                    (c.version, c.ids().tolist())
                    for c in ledger.pending(k, kind=DeliveryKind.RETRACTION)
                ],
            )
            for k in keys
        },
        [(c.incident, c.version, c.kind, c.ids().tolist()) for c in ledger.due(LATER)],
        [(i.key, i.state, i.version) for i in ledger.load_active()],
    )


@contextlib.contextmanager
def _pg_schema() -> Iterator[str]:
    """A DSN whose search_path is a fresh schema, dropped afterwards (skips without a server)."""
    if not PG_DSN:
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL is required in CI: run under scripts/pg")
        pytest.skip("GEOTARGET_TEST_POSTGRES_DSN is not set: run under `python3 scripts/pg`")
    import psycopg

    schema = f"p7_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_DSN, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{PG_DSN} options='-c search_path={schema}'"
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


def _pg_rows(dsn: str) -> dict[str, list[Any]]:
    """Every row of every table of the DSN's schema, sorted."""
    import psycopg

    with psycopg.connect(dsn) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = current_schema() ORDER BY table_name"
            ).fetchall()
        ]
        return {t: sorted(map(repr, conn.execute(f"SELECT * FROM {t}").fetchall())) for t in tables}


def _sqlite_bytes(path: Path) -> tuple[bytes, ...]:
    """The database file and its journal files, byte for byte, and a row-for-row dump."""
    files = tuple(
        p.read_bytes() if p.exists() else b""
        for p in (path, Path(f"{path}-wal"), Path(f"{path}-journal"))
    )
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        dump = "\n".join(conn.iterdump()).encode()
    return (*files, dump)


@contextlib.contextmanager
def _store(kind: str, where: Path) -> Iterator[tuple[Any, Any]]:
    """A fresh store of ``kind`` and a function giving its raw state (None: reads only)."""
    if kind == "memory":
        yield MemoryLedger(), None
    elif kind == "sqlite":
        path = where / f"{uuid.uuid4().hex}.db"
        with SQLiteLedger(path) as ledger:
            yield ledger, lambda: _sqlite_bytes(path)
    else:
        with _pg_schema() as dsn, PostgresLedger(dsn) as ledger:
            yield ledger, lambda: _pg_rows(dsn)


def _same(seen: TargetingResult, want: TargetingResult) -> None:
    for name in (
        "verdict",
        "incident",
        "reason",
        "next_change",
        "counts",
        "already_delivered",
        "per_county",
        "kind",
    ):
        assert getattr(seen, name) == getattr(want, name), name
    for name in ("recipients", "retract", "no_longer_covered"):
        got, exp = getattr(seen, name).tolist(), getattr(want, name).tolist()
        assert sorted(map(str, got)) == sorted(map(str, exp)), name
    assert seen.claims is None


def _check(kind: str, where: Path, steps: Sequence[Any], last: Any, wait: int) -> None:
    with _store(kind, where) as (ledger, raw), _store(kind, where) as (fresh, _):
        previewer = _targeter(ledger)
        sent, now = _replay(previewer, steps)
        message = _previewed(sent, last)
        at = max(now, message.sent) + wait * M
        before = (_reads(ledger, [*sent, message]), previewer.active_incidents)
        raw_before = None if raw is None else raw()
        seen = previewer.preview(message, _index(), at)
        assert (_reads(ledger, [*sent, message]), previewer.active_incidents) == before
        if raw is not None:
            assert raw() == raw_before, "the preview changed the store"
        oracle = _targeter(fresh)
        _replay(oracle, steps)
        want = oracle.target(message, _index(), at, confirm=True)
        _same(seen, want)


_SETTINGS = {
    "memory": settings(max_examples=150, suppress_health_check=list(HealthCheck)),
    "sqlite": settings(max_examples=40, suppress_health_check=list(HealthCheck)),
    "postgres": settings(max_examples=25, suppress_health_check=list(HealthCheck)),
}


@pytest.mark.parametrize("kind", ["memory", "sqlite", "postgres"])
def test_preview_of_generated_lifecycles_answers_as_target(kind: str, tmp_path: Path) -> None:
    """Any lifecycle, any store: preview() is target()'s answer, and the store is unchanged."""

    @_SETTINGS[kind]
    @given(_LIFECYCLE)
    def run(case: Any) -> None:
        steps, last, wait = case
        _check(kind, tmp_path, steps, last, wait)

    run()


def _msg(what: str, refs: list[int], radius_km: int, status: str = "Actual", onset: int = 0) -> Any:
    return ("message", (what, refs, radius_km, 0, status, onset, 0, SENDER))


#: (history, previewed, minutes waited) where the preview answered otherwise than target().
CASES: dict[str, tuple[list[Any], Any, int]] = {
    # The original's deliveries, pending, are held once the Update (not active yet) is
    # current; previewed once active, the Update takes them back: new recipients (the preview
    # counted them already delivered).
    "an Update admitted before its onset, previewed once active": (
        [_msg("Alert", [0], 4), _msg("Update", [0], 7, onset=30)],
        ("again", 0),
        40,
    ),
    # Deliveries held on the original, two Updates back: the second replaces the first (never
    # delivered) and takes them back too (the preview read only the current version's).
    "an Update of an Update never delivered": (
        [_msg("Alert", [0], 4), _msg("Update", [0], 7, onset=30)],
        ("new", ("Update", [0], 7, 0, "Actual", 0, 0, SENDER)),
        0,
    ),
    # A Test Cancel naming a message never seen; a Test Update naming that Cancel starts a
    # Test incident, which the Cancel ends at once. An Actual Update naming the Cancel is
    # refused by it (NOT_AUTHORISED: status Test); the preview, with no version of the
    # incident to read its status from, took it for Actual and answered CANCELLED.
    "an Actual Update naming a Test Cancel a Test Update named": (
        [_msg("Cancel", [0], 2, "Test"), _msg("Alert", [0], 2), _msg("Update", [1], 2, "Test")],
        ("new", ("Update", [2], 2, 0, "Actual", 0, 0, SENDER)),
        0,
    ),
    # Checked beside them: an Update linking two incidents (one chain: merged), the devices
    # of both pending or confirmed in part, and one of them held on an older version.
    "an Update linking two incidents told in part": (
        [_msg("Alert", [0], 4), _msg("Alert", [0], 4), ("confirm", 2)],
        ("new", ("Update", [0, 1], 7, 0, "Actual", 0, 0, SENDER)),
        0,
    ),
    "an Update linking an incident with deliveries held": (
        [_msg("Alert", [0], 4), _msg("Update", [0], 2, onset=30), _msg("Alert", [0], 7)],
        ("new", ("Update", [0, 1], 7, 0, "Actual", 0, 0, SENDER)),
        40,
    ),
}


@pytest.mark.parametrize("kind", ["memory", "sqlite", "postgres"])
@pytest.mark.parametrize("case", list(CASES))
def test_preview_answers_as_target_where_it_inferred(kind: str, case: str, tmp_path: Path) -> None:
    """Regression: the preview inferred what the store's reads did not give, and differed.

    The devices held on an older version counted as already delivered (``recipients`` and
    the reason's count short of target()'s), and an incident's status was read from the
    Cancels naming it.
    """
    steps, last, wait = CASES[case]
    _check(kind, tmp_path, steps, last, wait)


@pytest.mark.parametrize("kind", ["memory", "sqlite", "postgres"])
def test_reads_of_held_deliveries_owner_status_and_versions(kind: str, tmp_path: Path) -> None:
    """``pending``, ``versions`` and an incident's owner, status and Cancel: every store alike.

    Deliveries of the original held once an Update is current are listed by ``pending``
    (never by ``due``); the claim of the Update takes them back.
    """
    a = _message(("Alert", [0], 4, 0, "Actual", 0, 0, SENDER), 0, [])
    u = _message(("Update", [0], 7, 0, "Actual", 30, 0, SENDER), 1, [a])
    c = _message(("Cancel", [0], 2, 0, "Actual", 0, 0, SENDER), 2, [a, u])
    key = f"{SENDER}/m0"
    with _store(kind, tmp_path) as (ledger, _):
        ledger.admit(a, at=T0)
        first = ledger.claim(key, ["x", 7, "y"], version=key, at=T0)
        assert first.devices.tolist() == ["x", "7", "y"]
        ledger.confirm_devices(key, ["y"], at=T0)
        ledger.admit(u, at=T0 + M)
        inc = ledger.incident(key)
        assert (inc.owner, inc.status, inc.cancelled_by) == (SENDER, "Actual", None)
        assert [(p.version, p.ids().tolist()) for p in ledger.pending(key)] == [(key, ["7", "x"])]
        assert ledger.due(LATER) == []  # held: never due
        assert ledger.pending(key, kind=DeliveryKind.RETRACTION) == []
        assert ledger.versions(key) == [
            (key, ledger.lookup_version(key)[1]),
            (f"{SENDER}/m1", ledger.lookup_version(f"{SENDER}/m1")[1]),
        ]
        taken = ledger.claim(key, ["x", "z"], version=f"{SENDER}/m1", at=T0 + 2 * M)
        assert sorted(taken.devices.tolist()) == ["x", "z"]
        assert sorted((p.version, *p.ids().tolist()) for p in ledger.pending(key)) == [
            (key, "7"),
            (f"{SENDER}/m1", "x", "z"),
        ]
        ledger.admit(c, at=T0 + 3 * M)
        inc = ledger.incident(key)
        assert inc.state is IncidentState.CANCELLED
        assert inc.cancelled_by == f"{SENDER}/m2"
        retractions = ledger.pending(key, kind=DeliveryKind.RETRACTION)
        assert [(p.version, sorted(p.ids().tolist())) for p in retractions] == [
            (f"{SENDER}/m2", ["7", "x", "y", "z"])
        ]
        assert ledger.pending("nobody/none") == [] and ledger.versions("nobody/none") == []
        with pytest.raises(InvalidType, match=r"^kind must be a DeliveryKind"):
            ledger.pending(key, kind=1)
        with pytest.raises(InvalidInput, match=r"^incident must be a non-empty str"):
            ledger.versions("a b")


@pytest.mark.parametrize("kind", ["memory", "sqlite", "postgres"])
def test_new_reads_of_a_closed_store_are_store_unavailable(kind: str, tmp_path: Path) -> None:
    """``pending`` and ``versions`` after close(): StoreUnavailable, as every other call."""
    from geotarget.errors import StoreUnavailable

    with _store(kind, tmp_path) as (ledger, _):
        ledger.close()
        calls: list[Callable[[], object]] = [
            lambda: ledger.pending("a/b"),
            lambda: ledger.pending("a/b", kind=DeliveryKind.RETRACTION),
            lambda: ledger.versions("a/b"),
        ]
        for call in calls:
            with pytest.raises(StoreUnavailable, match=r"store.*closed.*nothing was applied"):
                call()


# --- PostgreSQL roles an operator runs a service with ----------------------------------------


@contextlib.contextmanager
def _role(dsn: str, grants: Sequence[str], *settings_: str) -> Iterator[str]:
    """A login role with ``grants`` on the DSN's schema (and ``ALTER ROLE ... SET``s): its DSN."""
    import psycopg

    name = f"p7_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        (schema,) = admin.execute("SELECT current_schema()").fetchone()  # type: ignore[misc]
        admin.execute(f"CREATE ROLE {name} LOGIN")
        admin.execute(f"GRANT USAGE ON SCHEMA {schema} TO {name}")
        for grant in grants:
            admin.execute(grant.format(schema=schema, role=name))
        for setting in settings_:
            admin.execute(f"ALTER ROLE {name} SET {setting}")
    try:
        yield f"{dsn} user={name}"
    finally:
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f"DROP OWNED BY {name}")
            admin.execute(f"DROP ROLE {name}")


_READ_WRITE = [
    "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}",
    "GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {schema} TO {role}",
]
A0 = ("Alert", [0], 4, 0, "Actual", 0, 0, SENDER)
U1 = ("Update", [0], 7, 0, "Actual", 0, 0, SENDER)


def _made_by_owner(dsn: str) -> tuple[Alert, Alert, TargetingResult]:
    """The store made by its owner, with an Alert delivered.

    Returns the Alert, an Update, and the Update's result from a Targeter over a fresh memory
    store given the same history (the oracle).
    """
    a = _message(A0, 0, [])
    u = _message(U1, 1, [a])
    with PostgresLedger(dsn) as owner:
        _targeter(owner).target(a, _index(), T0 + M, confirm=True)
    oracle = _targeter(MemoryLedger())
    oracle.target(a, _index(), T0 + M, confirm=True)
    return a, u, oracle.target(u, _index(), T0 + 3 * M, confirm=True)


def test_a_role_that_may_only_read_and_write_the_tables_runs_the_service() -> None:
    """Least privilege: the tables made once by their owner; the service's role only uses them.

    Regression: every open ran the schema's ``CREATE TABLE IF NOT EXISTS``, which needs CREATE
    on the schema even when the tables exist: such a role could not open the store at all
    (StoreError "permission denied for schema").
    """
    with _pg_schema() as dsn:
        _, u, want = _made_by_owner(dsn)
        with _role(dsn, _READ_WRITE) as service, PostgresLedger(service) as ledger:
            got = _targeter(ledger).target(u, _index(), T0 + 3 * M, confirm=True)
        assert got.verdict is want.verdict
        assert sorted(got.recipients.tolist()) == sorted(want.recipients.tolist())
        assert got.recipients.size > 0


@pytest.mark.parametrize(
    ("grants", "setting"),
    [
        (["GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role}"], None),
        (_READ_WRITE, "default_transaction_read_only = on"),
    ],
    ids=["select only", "read-only transactions"],
)
def test_a_read_only_role_previews_and_is_refused_writes_precisely(
    grants: list[str], setting: str | None
) -> None:
    """A role that may only read (a reporting role, a database set read-only): reads work.

    ``preview()`` answers as target() would; ``target()`` raises StoreReadOnly naming why,
    and nothing of it is applied (the owner's rows are unchanged). Regression: opening failed
    (the schema's DDL), as a bare StoreError for the role without privileges.
    """
    from geotarget.errors import StoreReadOnly

    with _pg_schema() as dsn:
        _, u, want = _made_by_owner(dsn)
        before = _pg_rows(dsn)
        extra = () if setting is None else (setting,)
        with _role(dsn, grants, *extra) as reader, PostgresLedger(reader) as ledger:
            targeter = _targeter(ledger)
            seen = targeter.preview(u, _index(), T0 + 3 * M)
            _same(seen, attrs.evolve(want, claims=None))
            with pytest.raises(StoreReadOnly, match=r"^PostgreSQL store: .*nothing was applied"):
                targeter.target(u, _index(), T0 + 3 * M, confirm=True)
        assert _pg_rows(dsn) == before
