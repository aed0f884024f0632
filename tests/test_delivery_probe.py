"""Delivery stores under processes and faults: a handle carried into a forked process.

A service often opens its store, then forks workers (``multiprocessing``'s ``fork`` start, a
pre-forking web server). Each child must get a connection of its own: two processes speaking
on one PostgreSQL socket wait for ever for answers the other read, and a lock a parent thread
held at the fork is held for ever in the child. Each test bounds its wait on the children and
fails (rather than hangs) when one does not finish.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from geotarget.ledger import PostgresLedger, SQLiteLedger

T0 = datetime(2024, 4, 15, 10, 0, tzinfo=timezone.utc)
#: Seconds a child may take; one that takes longer is stuck (a claim here takes milliseconds).
WAIT = 15.0
#: Python 3.12+ warns that forking a process with threads may deadlock: that is the point here.
pytestmark = pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning")


def _open(kind: str, where: str) -> Any:
    return PostgresLedger(where) if kind == "postgres" else SQLiteLedger(where)


@pytest.fixture(params=["sqlite", "postgres"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """A backend and its DSN or file (PostgreSQL fails in CI without a server, as elsewhere)."""
    if request.param == "postgres":
        return "postgres", request.getfixturevalue("postgres_dsn")
    return "sqlite", str(tmp_path / "ledger.db")


def _child_claims(store: Any, k: int, go: Any, out: Any) -> None:
    """In a forked child: claim overlapping batches, confirm half of each; report the devices."""
    try:
        go.wait(WAIT)
        got: list[str] = []
        for r in range(20):
            claims = store.claim(
                "inc", [f"d{i}" for i in range(r * 10, r * 10 + 30)], version="v", at=T0
            )
            got += claims.devices.tolist()
            store.confirm(claims.keys()[: len(claims) // 2], at=T0)
        out.put((k, got, None))
    except BaseException as err:  # reported to the parent, which fails the test
        out.put((k, [], f"{type(err).__module__}.{type(err).__name__}: {err}"))


def _gather(procs: list[Any], out: Any) -> list[tuple[int, list[str], str | None]]:
    """The children's reports; fails (killing the children) if one is stuck past WAIT."""
    got = []
    try:
        for _ in procs:
            got.append(out.get(timeout=WAIT))
    except Exception:  # queue.Empty: a child is stuck
        pytest.fail(f"a forked child did not finish its claims within {WAIT} s (stuck)")
    finally:
        for p in procs:
            p.join(WAIT)
            if p.is_alive():
                p.kill()
                p.join()
    return got


def test_children_forked_with_an_open_handle_claim_disjoint_sets(where: tuple[str, str]) -> None:
    """Four children forked with the parent's open handle claim at once: disjoint, none stuck.

    Before the fix the PostgreSQL children shared the parent's socket: their messages
    interleaved and each waited for ever for an answer another had read.
    """
    kind, dsn = where
    ctx = mp.get_context("fork")
    store = _open(kind, dsn)
    try:
        store.claim("inc", ["seed"], version="v", at=T0)
        go, out = ctx.Barrier(4), ctx.Queue()
        procs = [ctx.Process(target=_child_claims, args=(store, k, go, out)) for k in range(4)]
        for p in procs:
            p.start()
        reports = _gather(procs, out)
        assert [err for _, _, err in reports if err] == []
        claimed = [d for _, devices, _ in reports for d in devices]
        assert sorted(claimed) == sorted({f"d{i}" for i in range(220)})  # each exactly once
        assert store.claim("inc", ["last"], version="v", at=T0).devices.tolist() == ["last"]
        assert len(store.claim("inc", ["d5", "seed"], version="v", at=T0)) == 0
    finally:
        store.close()


def _child_one_claim(store: Any, out: Any) -> None:
    try:
        out.put((0, store.claim("inc", ["child"], version="v", at=T0).devices.tolist(), None))
    except BaseException as err:
        out.put((0, [], f"{type(err).__module__}.{type(err).__name__}: {err}"))


def test_a_child_forked_while_a_parent_thread_is_inside_a_call_is_not_stuck(
    where: tuple[str, str],
) -> None:
    """A fork while another thread is inside a store call: the child's own call still runs.

    The parent's thread is inside a call (it holds the handle's lock) at the fork; the child
    has no such thread, so before the fix its copy of the lock was held for ever and its first
    call never returned.
    """
    kind, dsn = where
    ctx = mp.get_context("fork")
    store = _open(kind, dsn)
    try:
        store.claim("inc", ["seed"], version="v", at=T0)
        out = ctx.Queue()
        inside, release = threading.Event(), threading.Event()

        def busy_call() -> None:  # a store call paused midway: the handle's lock held
            with store._lock:
                inside.set()
                release.wait(WAIT)

        thread = threading.Thread(target=busy_call)
        thread.start()
        assert inside.wait(WAIT)
        proc = ctx.Process(target=_child_one_claim, args=(store, out))
        try:
            proc.start()
        finally:
            release.set()
            thread.join()
        [(_, devices, err)] = _gather([proc], out)
        assert err is None
        assert devices == ["child"]
    finally:
        store.close()


def test_a_forked_child_opens_its_own_postgres_session(postgres_dsn: str) -> None:
    """A child's call runs on a session of its own: the server counts one more client.

    Before the fix the child used the parent's session (one socket for two processes).
    """
    import uuid

    import psycopg

    ctx = mp.get_context("fork")
    # Only this store's sessions are counted: other tests (another xdist worker) use the same
    # server meanwhile, and counting every client made the difference theirs too.
    name = f"fork-{uuid.uuid4().hex[:12]}"
    store = PostgresLedger(f"{postgres_dsn} application_name={name}")
    query = (
        "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
        f" AND pid <> pg_backend_pid() AND application_name = '{name}'"
    )
    try:
        store.claim("inc", ["seed"], version="v", at=T0)
        with psycopg.connect(postgres_dsn, autocommit=True) as admin:
            before = admin.execute(query).fetchone()
            out, done = ctx.Queue(), ctx.Event()
            proc = ctx.Process(target=_child_holds, args=(store, out, done))
            proc.start()
            try:
                report = out.get(timeout=WAIT)
                during = admin.execute(query).fetchone()
            finally:
                done.set()
                proc.join(WAIT)
                if proc.is_alive():
                    proc.kill()
                    proc.join()
        assert report == (0, ["child"], None)
        assert before is not None and during is not None
        assert during[0] == before[0] + 1
        assert store.claim("inc", ["parent"], version="v", at=T0).devices.tolist() == ["parent"]
    finally:
        store.close()


def _child_holds(store: Any, out: Any, done: Any) -> None:
    """Claim once, report, and keep the handle open until the parent has looked."""
    _child_one_claim(store, out)
    done.wait(WAIT)


def test_a_frozen_postgres_server_fails_a_call_after_query_timeout(own_postgres: Any) -> None:
    """A server that stops answering mid-call: StoreUnavailable after query_timeout, no hang.

    The handle's backend is stopped (SIGSTOP: a frozen host, a network dropping packets).
    Before the fix libpq waited for its answer for ever; now the call fails after
    ``query_timeout`` naming it, and once the server answers again the next call runs on a
    new connection.
    """
    import os
    import signal

    import psycopg

    from geotarget.errors import StoreUnavailable

    store = PostgresLedger(f"{own_postgres.dsn} application_name=gt_frozen", query_timeout=1.0)
    stopped: list[int] = []
    try:
        store.claim("inc", ["seed"], version="v", at=T0)
        with psycopg.connect(own_postgres.dsn, autocommit=True) as admin:
            rows = admin.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = 'gt_frozen'"
            ).fetchall()
        assert len(rows) == 1
        os.kill(rows[0][0], signal.SIGSTOP)
        stopped.append(rows[0][0])
        got: list[BaseException | None] = []

        def call() -> None:
            try:
                store.claim("inc", ["frozen"], version="v", at=T0)
                got.append(None)
            except BaseException as err:
                got.append(err)

        thread = threading.Thread(target=call, daemon=True)
        thread.start()
        thread.join(WAIT)
        assert not thread.is_alive(), f"the call still waits {WAIT} s after the server froze"
        [err] = got
        assert isinstance(err, StoreUnavailable)
        assert "query_timeout, 1 s" in str(err) and "nothing was applied" in str(err)
        os.kill(stopped.pop(), signal.SIGCONT)
        assert store.claim("inc", ["after"], version="v", at=T0).devices.tolist() == ["after"]
        assert len(store.claim("inc", ["frozen"], version="v", at=T0)) == 1  # never applied
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
        store.close()


def test_query_timeout_is_checked() -> None:
    """``query_timeout`` outside (0, 600] s, or not a number, is refused before connecting."""
    from geotarget.errors import InvalidInput

    for bad in (0, -1.0, 601, True, "5"):
        with pytest.raises(InvalidInput, match=r"query_timeout must be a number of seconds"):
            PostgresLedger("host=/nonexistent", query_timeout=bad)  # type: ignore[arg-type]


def test_a_sqlite_lock_held_by_another_process_is_store_busy_saying_what_to_do(
    tmp_path: Path,
) -> None:
    """Another process holds the file's write lock: each write fails with StoreBusy, no hang.

    Claiming, confirming and redelivering each wait ``busy_timeout`` at most, apply nothing,
    and say what to do (try again, or a longer ``busy_timeout``); once the lock is released
    every call runs. Before the fix the message named no setting. Opening the store already
    made only reads: an instance (re)starting meanwhile opens and reads at once (it waited
    ``busy_timeout`` and failed StoreBusy before).
    """
    import subprocess
    import sys

    from geotarget.errors import StoreBusy

    path = tmp_path / "ledger.db"
    store = SQLiteLedger(path, busy_timeout=0.2)
    claims = store.claim("inc", ["a", "b"], version="v", at=T0)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys\n"
            f"db = sqlite3.connect({str(path)!r}, isolation_level=None)\n"
            "db.execute('BEGIN IMMEDIATE')\n"
            "print('held', flush=True)\n"
            "sys.stdin.readline()\n"
            "db.execute('ROLLBACK')\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        calls: dict[str, Callable[[], Any]] = {
            "claim": lambda: store.claim("inc", ["c"], version="v", at=T0),
            "confirm": lambda: store.confirm(claims.keys()[:1], at=T0),
            "redeliver": lambda: store.redeliver(T0 + timedelta(hours=1)),
        }
        for name, call in calls.items():
            with pytest.raises(StoreBusy) as caught:
                call()
            message = str(caught.value)
            assert "busy_timeout, 0.2 s" in message, name
            assert "try again" in message and "nothing was applied" in message, name
        started = SQLiteLedger(path, busy_timeout=0.2)
        assert sorted(started.recipients("inc").tolist()) == ["a", "b"]
        with pytest.raises(StoreBusy):
            started.claim("inc", ["d"], version="v", at=T0)
        started.close()
    finally:
        assert holder.stdin is not None and holder.stdout is not None
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.wait(WAIT)
        holder.stdout.close()
    assert store.claim("inc", ["c"], version="v", at=T0).devices.tolist() == ["c"]
    assert store.confirm(claims.keys()[:1], at=T0).confirmed.tolist() == [0]
    store.close()
