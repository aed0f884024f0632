"""A Targeter over a SQLite store killed at chosen SQL statements, then restarted (probe 17).

A child process drives one incident through its whole life — Alert, confirmations, a widening
Update, a device walking in, a redelivery, a Cancel, its retractions confirmed and redelivered
— over a real SQLite file. A small harness in the child (a trace callback on each connection
``sqlite3.connect`` hands out, and a profiler hook for "just after") sends the process
``SIGKILL`` before, or just after, the N-th SQL statement it runs, on whichever thread runs it
(the admission's ``COMMIT`` runs on the store's worker thread); geotarget itself is not
patched. For each kill point a fresh process then opens the file and checks it against two
oracles of this file's own:

* the uninterrupted run's observable state after each step (incidents, every device claimed,
  the pending alert and retraction keys, what is due): the state found must be the one before
  the step in flight or the one after it (a ``target()`` admits and claims in two transactions,
  so there it may also be "admitted, nothing claimed"): nothing half-applied;
* plain bookkeeping of what the killed process was answered (its journal, written with
  ``os.write`` before and after each step): every claim and confirmation acknowledged is there,
  no device is claimed twice, what is pending is all due once its lease has run out, a
  Cancel gives every device ever claimed a retraction.

It then replays the steps from the one in flight (a restarted service re-reads its feed and
re-sends what it had not acknowledged) and must reach the uninterrupted run's final state.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from geotarget.errors import StoreFull
from geotarget.ledger import SQLiteLedger

T = dt.datetime(2026, 5, 4, 12, tzinfo=dt.timezone.utc)

CHILD = r"""
import datetime as dt, json, os, signal, sqlite3, sys, threading
import attrs
import shapely.geometry as sg
from geotarget import Circle, PositionIndex, Positions, pilot
from geotarget.alerts import MessageType, Reference
from geotarget.ledger import DeliveryKind, SQLiteLedger
from geotarget.regions import Region, RegionHierarchy, RegionSet
from geotarget.rollout import nationwide
from geotarget.targeting import Targeter

T = dt.datetime(2026, 5, 4, 21, 30, tzinfo=dt.timezone.utc)
LEASE = dt.timedelta(seconds=30)
FAR = T + dt.timedelta(days=1)
box = sg.box(17.7, 59.2, 18.3, 59.45)
REGIONS = RegionHierarchy(
    [RegionSet([Region(code="0180", name="Stockholm", level="municipality", geometry=box)]),
     RegionSet([Region(code="SE", name="Sverige", level="country", geometry=box)])],
    {"0180": "SE"})
MSG = pilot.Message(headline="Explosionsrisk", description="Lamna omradet.",
                    area_description="Sergels torg")
X, Y = 18.06528, 59.3325
ALERT = pilot.explosion(identifier="SE-POL-1", sender="polisen@polisen.se", sent=T,
                        area=Circle(X, Y, 500.0), sv=MSG, en=MSG, onset=T,
                        expires=T + dt.timedelta(hours=2))
REF = (Reference(sender=ALERT.sender, identifier="SE-POL-1", sent=T),)
UPDATE = attrs.evolve(
    pilot.explosion(identifier="SE-POL-2", sender="polisen@polisen.se",
                    sent=T + dt.timedelta(seconds=2), area=Circle(X, Y, 1500.0), sv=MSG,
                    en=MSG, onset=T, expires=T + dt.timedelta(hours=2)),
    msg_type=MessageType.UPDATE, references=REF)
CANCEL = attrs.evolve(ALERT, identifier="SE-POL-3", msg_type=MessageType.CANCEL,
                      sent=T + dt.timedelta(minutes=5),
                      references=REF + (Reference(sender=ALERT.sender, identifier="SE-POL-2",
                                                  sent=T + dt.timedelta(seconds=2)),))
INC = "polisen@polisen.se/SE-POL-1"

# Devices every 100 m east of the centre, from 50 m: d0..d4 within 500 m, d5..d14 within
# 1,500 m, d15..d19 outside both; w0..w2 walk in later.
def at_m(name, metres):
    return name, X + metres / (111_320.0 * 0.5093), Y

NOW = [at_m(f"d{i}", 100.0 * i + 50.0) for i in range(20)]
WALK = [at_m(f"w{i}", 200.0 + 100.0 * i) for i in range(3)] + [NOW[0]]

def positions(rows, at):
    return Positions([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows],
                     observed_at=at)

def pending_keys(led, kind, devices):
    out = []
    for c in led.pending(INC, kind=kind):
        out += [k for d, k in zip(c.devices.tolist(), c.keys().tolist()) if d in devices]
    return sorted(out)

ALERTK, RETRK = DeliveryKind.ALERT, DeliveryKind.RETRACTION

def step(tg, n):
    led = tg.ledger
    t = T + dt.timedelta(seconds=n)
    if n == 0:
        return tg.target(ALERT, PositionIndex(positions(NOW, T)), T).claims.keys().tolist()
    if n == 1:  # the even devices' pushes succeeded
        keys = pending_keys(led, ALERTK, {f"d{i}" for i in range(0, 20, 2)})
        return [keys[i] for i in tg.confirm(keys, t).confirmed.tolist()]
    if n == 2:
        idx = PositionIndex(positions(NOW, t))
        return tg.target(UPDATE, idx, T + dt.timedelta(seconds=2)).claims.keys().tolist()
    if n == 3:
        return [d.key for d in tg.on_positions(positions(WALK, t), t)]
    if n == 4:
        return [k for c in tg.redeliver(t + LEASE * 3) for k in c.keys().tolist()]
    if n == 5:  # a third of what is pending now was pushed
        keys = pending_keys(led, ALERTK, {f"d{i}" for i in range(1, 20, 3)} | {"w1"})
        return [keys[i] for i in tg.confirm(keys, t + LEASE * 3).confirmed.tolist()]
    if n == 6:
        at = T + dt.timedelta(minutes=5)
        return tg.target(CANCEL, PositionIndex(positions(NOW, at)), at).retract.tolist()
    if n == 7:
        keys = pending_keys(led, RETRK, {f"d{i}" for i in range(0, 20, 4)} | {"w0"})
        return [keys[i] for i in tg.confirm(keys, T + dt.timedelta(minutes=6)).confirmed.tolist()]
    if n == 8:
        at = T + dt.timedelta(minutes=10)
        return [k for c in tg.redeliver(at) for k in c.keys().tolist()]
    raise AssertionError(n)

STEPS = 9
TARGETS = (0, 2, 6)

BASE = os.environ.get("GEOTARGET_TEST_POSTGRES_DSN", "")

def ledger(spec):
    # A SQLite file, or "pg:SCHEMA": the test cluster's database with that search_path.
    if spec.startswith("pg:"):
        from geotarget.ledger import PostgresLedger
        return PostgresLedger(f"{BASE} options='-c search_path={spec[3:]}'")
    return SQLiteLedger(spec)

def targeter(path):
    return Targeter(REGIONS, nationwide(), ledger=ledger(path), lease=LEASE)

PAUSED = []  # (the checks' own statements are not counted)

def snapshot(path):
    PAUSED.append(True)
    led = ledger(path)
    try:
        inc = led.incident(INC)
        got = {
            "incident": None if inc is None else [inc.state.name, inc.version, inc.released,
                                                  inc.cancelled_by],
            "versions": sorted(map(list, led.versions(INC))),
            "recipients": led.recipients(INC).tolist(),
            "alert": sorted(k for c in led.pending(INC, kind=ALERTK) for k in c.keys().tolist()),
            "retraction": sorted(
                k for c in led.pending(INC, kind=RETRK) for k in c.keys().tolist()),
            "due": sorted(k for c in led.due(FAR) for k in c.keys().tolist()),
        }
    finally:
        led.close()
        PAUSED.pop()
    return got

def cancel_check(path):
    # Every device ever claimed has a retraction: confirming them all finds each one.
    PAUSED.append(True)
    led = ledger(path)
    try:
        every = led.recipients(INC)
        got = led.confirm_devices(INC, every, at=FAR, kind=RETRK)
        return {"claimed": len(every), "unknown": every[got.unknown].tolist()}
    finally:
        led.close()
        PAUSED.pop()

class Harness:
    # SIGKILL before (or just after) the statement numbered `kill` this process runs.
    def __init__(self, kill, after, log):
        self.n, self.kill, self.after, self.log, self.armed = 0, kill, after, log, False
        self.lock = threading.Lock()
        real = sqlite3.connect
        def connect(*a, **k):
            db = real(*a, **k)
            db.set_trace_callback(self.traced)
            return db
        sqlite3.connect = connect
        self.frame = None
        if after or BASE:
            sys.setprofile(self.profile)
            threading.setprofile(self.profile)

    def traced(self, sql):
        if PAUSED:
            return
        with self.lock:
            self.n += 1
            if self.log is not None:
                self.log.append(sql.split(None, 2)[:2])
            if self.n == self.kill:
                if not self.after:
                    os.kill(os.getpid(), signal.SIGKILL)
                self.armed = True

    def profile(self, frame, event, arg):
        if self.armed and event == "c_return" and self.frame is None:
            os.kill(os.getpid(), signal.SIGKILL)
        if not BASE or PAUSED:
            return
        # PostgreSQL: psycopg's Cursor.execute, Connection.commit and a transaction's end.
        code = frame.f_code
        if code.co_name not in ("execute", "commit", "__exit__") or (
            f"{os.sep}psycopg{os.sep}" not in code.co_filename
        ):
            return
        if event == "return" and self.armed and frame is self.frame:
            os.kill(os.getpid(), signal.SIGKILL)
        if event == "call":
            self.traced(code.co_name.upper())
            if self.armed and self.frame is None:
                self.frame = frame

def journal(fd, **kw):
    os.write(fd, (json.dumps(kw) + "\n").encode())

def run(path, jpath, kill, after, log=None):
    fd = os.open(jpath, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    Harness(kill, after, log)
    tg = targeter(path)
    journal(fd, opened=True)
    for n in range(STEPS):
        journal(fd, begin=n)
        got = step(tg, n)
        journal(fd, done=n, got=got)
    tg.ledger.close()

def replay(path, start):
    tg = targeter(path)
    for n in range(start, STEPS):
        step(tg, n)
    tg.ledger.close()

def forked(fn, *args):
    pid = os.fork()
    if pid == 0:
        try:
            fn(*args)
        except BaseException:
            import traceback; traceback.print_exc(); os._exit(1)
        os._exit(0)
    return os.waitpid(pid, 0)[1]

def store(out, name):
    if not BASE:
        return os.path.join(out, f"{name}.db")
    import psycopg
    schema = f"c17_{os.getpid()}_{name}"
    with psycopg.connect(BASE, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    return f"pg:{schema}"

def main(out, seed, points):
    out = os.path.abspath(out)
    results = {}
    names = ["ref"] + [f"k{i}" for i in range(points + points // 2)]
    stores = {name: store(out, name) for name in names}
    try:
        drive(out, seed, points, stores, results)
    finally:
        if BASE:
            import psycopg
            with psycopg.connect(BASE, autocommit=True) as admin:
                for spec in stores.values():
                    admin.execute(f"DROP SCHEMA IF EXISTS {spec[3:]} CASCADE")
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(results, f)

def drive(out, seed, points, stores, results):
    # The uninterrupted run: its state after each step, and its statements (to choose from).
    ref = stores["ref"]
    states, log = [snapshot(ref)], []
    fd = os.open(os.path.join(out, "ref.journal"), os.O_WRONLY | os.O_CREAT, 0o600)
    Harness(0, False, log)
    tg = targeter(ref)
    for n in range(STEPS):
        step(tg, n)
        states.append(snapshot(ref))
    tg.ledger.close()
    import random
    rng = random.Random(seed)
    commits = [i + 1 for i, s in enumerate(log) if s[0].upper() in ("COMMIT", "__EXIT__")]
    begins = [i + 1 for i, s in enumerate(log) if s[0].upper() in ("BEGIN", "__EXIT__")]
    chosen = sorted(set(rng.sample(commits, min(points, len(commits)))))
    chosen = [(c, rng.random() < 0.5) for c in chosen]
    chosen += [(min(rng.randint(b + 1, b + 4), len(log)), False)
               for b in rng.sample(begins, points // 2)]
    results["reference"] = states
    results["cancel_reference"] = cancel_check(ref)
    results["runs"] = []
    for i, (kill, after) in enumerate(chosen):
        db, jp = stores[f"k{i}"], os.path.join(out, f"k{i}.journal")
        status = forked(run, db, jp, kill, after)
        entry = {"kill": kill, "after": after, "statement": log[kill - 1],
                 "signalled": os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL,
                 "exit": status}
        entry["files"] = sorted(os.path.basename(p) for p in os.listdir(out)
                                if p.startswith(f"k{i}.db"))
        with open(jp) as f:
            entry["journal"] = [json.loads(line) for line in f]
        if BASE or os.path.exists(db):
            res = os.path.join(out, f"k{i}.json")
            def check():
                got = {"recovered": snapshot(db)}
                began = [j["begin"] for j in entry["journal"] if "begin" in j]
                done = [j["done"] for j in entry["journal"] if "done" in j]
                start = began[-1] if began and (not done or done[-1] != began[-1]) else (
                    done[-1] + 1 if done else 0)
                got["start"] = start
                replay(db, start)
                got["final"] = snapshot(db)
                got["cancel"] = cancel_check(db)
                with open(res, "w") as f:
                    json.dump(got, f)
            entry["check_exit"] = forked(check)
            if os.path.exists(res):
                with open(res) as f:
                    entry.update(json.load(f))
        results["runs"].append(entry)

main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
"""


def _drive(tmp_path: Path, seed: int, points: int, dsn: str = "") -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "GEOTARGET_TEST_POSTGRES_DSN"}
    if dsn:
        env["GEOTARGET_TEST_POSTGRES_DSN"] = dsn
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path), str(seed), str(points)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    got: dict[str, Any] = json.loads((tmp_path / "results.json").read_text())
    return got


def _device(key: str) -> str:
    return key.rsplit(" ", 1)[1]


def _check_run(run: dict[str, Any], ref: list[dict[str, Any]], final_cancel: Any) -> None:
    """The invariants of one kill point (see the module's docstring)."""
    where = (
        f"killed {'after' if run['after'] else 'before'} statement {run['kill']} {run['statement']}"
    )
    assert run["signalled"], f"{where}: the child was not killed there (exit {run['exit']})"
    assert run["check_exit"] == 0, f"{where}: the restarted process failed"
    got = run["recovered"]
    began = [j["begin"] for j in run["journal"] if "begin" in j]
    done = {j["done"]: j["got"] for j in run["journal"] if "done" in j}
    flight = began[-1] if began and began[-1] not in done else None
    # Nothing half-applied: the state before the step in flight, or after it.
    allowed = [ref[len(done)]] if flight is None else [ref[flight], ref[flight + 1]]
    if got not in allowed:
        admitted_only = (
            flight in (0, 2, 6)
            and got["incident"][:2] == ref[flight + 1]["incident"][:2]
            and got["versions"] == ref[flight + 1]["versions"]
            and got["recipients"] == ref[flight]["recipients"]
        )
        assert admitted_only, f"{where}: the step in flight ({flight}) was half-applied: {got}"
    # The model: each device claimed once; what the process was answered is all there.
    recipients = got["recipients"]
    assert len(recipients) == len(set(recipients)), f"{where}: a device claimed twice"
    told = {_device(k) for n in (0, 2, 3) if n in done for k in done[n]}
    assert told <= set(recipients), f"{where}: an acknowledged claim was lost"
    confirmed = {k for n in (1, 5, 7) if n in done for k in done[n]}
    pending = set(got["alert"]) | set(got["retraction"])
    assert not confirmed & pending, f"{where}: an acknowledged confirmation was lost"
    # What is pending comes back once its lease has run out (held versions excepted).
    current = got["incident"][1] if got["incident"] else None
    active = got["incident"] is not None and got["incident"][0] == "ACTIVE"
    offered = set(got["retraction"]) | {
        k for k in got["alert"] if active and k.split(" ")[1] == current
    }
    assert set(got["due"]) == offered, f"{where}: due {got['due']} against pending {offered}"
    # A Cancel recorded: every device claimed has a retraction.
    if got["incident"] is not None and got["incident"][0] == "CANCELLED":
        retracted = {_device(k) for k in got["retraction"]}
        confirmed_retractions = {_device(k) for k in confirmed if " SE-POL-3 " in k}
        assert retracted | confirmed_retractions >= set(recipients) - {
            _device(k) for k in done.get(7, [])
        }
    # Restarted and sent again from the step in flight: the uninterrupted run's end.
    assert run["final"] == ref[-1], f"{where}: replayed from step {run['start']}"
    assert run["cancel"] == final_cancel, f"{where}: a claimed device has no retraction"


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL and fork are POSIX")
@pytest.mark.parametrize(("kind", "seed"), [("sqlite", 1717), ("postgres", 17)])
def test_a_targeter_killed_at_chosen_statements_leaves_each_step_whole(
    kind: str, seed: int, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """SIGKILL before or just after chosen SQL statements; a fresh process checks and replays.

    PostgreSQL: before or just after psycopg's ``execute``, ``commit`` or the end of a
    transaction block, each in the test cluster's database under a schema of its own.
    """
    dsn = ""
    if kind == "postgres":
        request.getfixturevalue("postgres_dsn")  # (skips, or fails in CI, without a server)
        dsn = os.environ["GEOTARGET_TEST_POSTGRES_DSN"]
    points = 5 if kind == "sqlite" else 2  # (a PostgreSQL run costs more: its connections)
    got = _drive(tmp_path, seed, points, dsn)
    ref = got["reference"]
    assert ref[-1]["incident"][0] == "CANCELLED" and len(ref[-1]["recipients"]) == 18
    assert got["cancel_reference"] == {"claimed": 18, "unknown": []}
    assert len(got["runs"]) == points + points // 2
    for run in got["runs"]:
        _check_run(run, ref, got["cancel_reference"])


WRITER = r"""
import datetime as dt, os, signal, sys
from geotarget.ledger import SQLiteLedger
T = dt.datetime(2026, 5, 4, 12, tzinfo=dt.timezone.utc)
led = SQLiteLedger(sys.argv[1])
for b in range(4):
    c = led.claim("s/a", [f"{b}:{i}" for i in range(500)], version="s/a", at=T)
    led.confirm(c.keys()[:100], at=T)
if sys.argv[2] == "killed":
    os.kill(os.getpid(), signal.SIGKILL)
led.close()
"""


def _fill(place: Path) -> Path:
    """Take every free byte of the file system at ``place`` (a file, removed to free them)."""
    filler = place / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        st = os.statvfs(place)
        os.posix_fallocate(fd, 0, st.f_bavail * st.f_frsize)
    finally:
        os.close(fd)
    return filler


def _counts(path: Path) -> tuple[int, int]:
    led = SQLiteLedger(path)
    try:
        return len(led.recipients("s/a")), sum(len(c) for c in led.pending("s/a"))
    finally:
        led.close()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL, statvfs and mount are POSIX")
@pytest.mark.parametrize("end", ["closed", "killed"])
def test_a_store_restarted_on_a_full_disk_says_the_disk_is_full(end: str, small_tmpfs: Any) -> None:
    """A service restarting on a full disk: StoreFull naming the free bytes; nothing lost.

    Regression: a store closed cleanly (SQLite then removes its -wal and -shm files) failed to
    open on a full file system with StoreUnavailable, "the file system failed a read or write
    (disk I/O error)": SQLite cannot make room for its WAL index there (SQLITE_IOERR_SHMSIZE),
    which read as a failing disk rather than one to free space on. A store whose writer was
    killed (its -wal and -shm left behind) opens and reads; its writes fail StoreFull.
    """
    place = small_tmpfs("2m")
    path = place / "d.db"
    subprocess.run([sys.executable, "-c", WRITER, str(path), end], check=False, timeout=60)
    left = sorted(p.name for p in place.iterdir())
    assert left == (["d.db"] if end == "closed" else ["d.db", "d.db-shm", "d.db-wal"])
    filler = _fill(place)
    if end == "closed":
        with pytest.raises(StoreFull) as caught:
            SQLiteLedger(path)
        text = str(caught.value)
        assert str(path) in text and "bytes free" in text and "nothing was applied" in text
        assert "failed a read or write" not in text
    else:
        led = SQLiteLedger(path)
        try:
            with pytest.raises(StoreFull, match="bytes free"):
                led.claim("s/a", [f"x{i}" for i in range(5000)], version="s/a", at=T)
            assert len(led.recipients("s/a")) == 2000  # nothing of the refused claim
        finally:
            led.close()
    filler.unlink()
    assert _counts(path) == (2000, 1600)  # (each batch of 500: 100 confirmed)


FREEZER = r"""
import datetime as dt, os, signal, sqlite3, sys
real = sqlite3.connect
def connect(*a, **k):
    db = real(*a, **k)
    def traced(sql):  # (inside the claim's write transaction, after its BEGIN IMMEDIATE)
        if sql.startswith("INSERT INTO gt_claim_log"):
            os.kill(os.getpid(), signal.SIGSTOP)
    db.set_trace_callback(traced)
    return db
sqlite3.connect = connect
from geotarget.ledger import SQLiteLedger
T = dt.datetime(2026, 5, 4, 12, tzinfo=dt.timezone.utc)
SQLiteLedger(sys.argv[1]).claim("s/a", [f"a{i}" for i in range(3000)], version="s/a", at=T)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="SIGSTOP, SIGKILL and /proc")
def test_a_writer_frozen_then_killed_holding_the_lock_another_waits_then_proceeds(
    tmp_path: Path,
) -> None:
    """Another process freezes inside its claim's write transaction, then is SIGKILLed.

    Meanwhile a second process's claim with a short busy_timeout fails StoreBusy naming it
    and applying nothing, reads still answer (WAL), and a claim waiting with a long one goes
    through once the holder dies: its lock goes with it, its half-written batch is not there.
    """
    import threading
    import time

    from geotarget.errors import StoreBusy

    path = tmp_path / "d.db"
    SQLiteLedger(path).close()
    holder = subprocess.Popen([sys.executable, "-c", FREEZER, str(path)])
    try:
        state = ""
        while state != "T":  # (stopped: it holds the write lock)
            assert holder.poll() is None, "the holder ended before freezing"
            time.sleep(0.01)
            state = Path(f"/proc/{holder.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        quick = SQLiteLedger(path, busy_timeout=0.1)
        try:
            with pytest.raises(StoreBusy) as caught:
                quick.claim("s/a", ["b"], version="s/a", at=T)
            text = str(caught.value)
            assert "busy_timeout" in text and "0.1 s" in text and "nothing was applied" in text
            assert quick.recipients("s/a").tolist() == []
        finally:
            quick.close()
        patient = SQLiteLedger(path, busy_timeout=60)
        got: list[Any] = []
        waiter = threading.Thread(
            target=lambda: got.append(patient.claim("s/a", ["b"], version="s/a", at=T))
        )
        waiter.start()
        holder.kill()  # (SIGKILL, stopped or not)
        holder.wait()
        waiter.join(timeout=60)
        assert not waiter.is_alive()
        assert got and got[0].devices.tolist() == ["b"]
        assert patient.recipients("s/a").tolist() == ["b"]  # none of the killed batch
        patient.close()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    assert holder.returncode == -9


@pytest.mark.skipif(sys.platform != "linux", reason="SIGKILL and mount -o remount are Linux")
def test_a_store_killed_then_its_file_system_remounted_read_only_is_store_read_only(
    small_tmpfs: Any,
) -> None:
    """A writer killed (-wal and -shm left), its file system then remounted read-only.

    SQLite cannot replay the WAL there: opening is StoreReadOnly naming the read-only file
    system, no other error; remounted read-write, the store opens with everything it held.
    """
    from geotarget.errors import StoreReadOnly

    place = small_tmpfs("4m")
    path = place / "d.db"
    subprocess.run([sys.executable, "-c", WRITER, str(path), "killed"], check=False, timeout=60)
    assert sorted(p.name for p in place.iterdir()) == ["d.db", "d.db-shm", "d.db-wal"]
    subprocess.run(["mount", "-o", "remount,ro", str(place)], check=True)
    try:
        with pytest.raises(StoreReadOnly) as caught:
            SQLiteLedger(path)
        assert str(path) in str(caught.value) and "read-only" in str(caught.value)
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(place)], check=True)
    assert _counts(path) == (2000, 1600)
