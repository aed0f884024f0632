"""Delivery lifecycles in the durable stores under sequences no other test runs (probe 14).

Each test drives a store the way a service's loop really does — claims, confirmations by key and
by device, a Cancel sent twice, expiry, redelivery by a clock that jumps backwards, handles
closed and reopened, processes killed or limited mid-write — and checks every answer against a
plain-dict model of the guarantee in ``docs/delivery.rst`` written here, never against another
store's answer.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from geotarget.ledger import DeliveryKind, MemoryLedger, PostgresLedger, SQLiteLedger

T0 = dt.datetime(2026, 5, 4, 12, 0, tzinfo=dt.timezone.utc)
MIN = dt.timedelta(minutes=1)
LEASE = 2  # minutes

# -- a model of one incident's deliveries and retractions ------------------------------------

_devices = st.lists(st.integers(0, 6) | st.sampled_from(["x", "06"]), max_size=6)
_op = st.one_of(
    st.tuples(st.just("claim"), _devices),
    st.tuples(st.just("confirm"), st.tuples(_devices, st.sampled_from(["v", "c1", "c2"]))),
    st.tuples(st.just("confirm_devices"), st.tuples(_devices, st.sampled_from(list(DeliveryKind)))),
    st.tuples(st.just("redeliver"), st.integers(-90, 4)),
    st.tuples(st.just("due"), st.integers(-90, 4)),
    st.tuples(st.just("retract"), st.sampled_from(["c1", "c2"])),
    st.tuples(st.just("expire"), st.just(0)),
    st.tuples(st.just("reopen"), st.just(0)),
)


class _Model:
    """Who was claimed, confirmed and retracted, with leases in minutes after T0."""

    def __init__(self) -> None:
        self.alert: dict[str, list[int]] = {}  # device -> [confirmed 0/1, lease]
        self.back: dict[str, list[int]] = {}  # device -> [confirmed 0/1, lease]
        self.state = "active"
        self.cancel: str | None = None
        self.known = False  # an incident the store holds (claimed or retracted)

    def due(self, now: int) -> tuple[set[str], set[str]]:
        alert = (
            {d for d, (c, lz) in self.alert.items() if c == 0 and lz <= now}
            if self.state == "active"
            else set()
        )
        back = {d for d, (c, lz) in self.back.items() if c == 0 and lz <= now}
        return alert, back


def _distinct(devices: list[Any]) -> list[tuple[int, str]]:
    """(first position, canonical text) of each distinct device, in input order."""
    seen: dict[str, int] = {}
    for i, d in enumerate(devices):
        seen.setdefault(str(d), i)
    return [(i, d) for d, i in seen.items()]


def _run(opener: Any, ops: list[tuple[str, Any]], inc: str) -> None:
    """Run ``ops`` on a store from ``opener`` and check each answer against the model."""
    store = opener()
    model = _Model()
    clock = 0  # minutes after T0; redeliver and due may move it back (a clock set back)
    try:
        for op, arg in ops:
            clock += 1
            if op in ("redeliver", "due"):
                clock = max(clock + arg, -1_000)
            at = T0 + clock * MIN
            if op == "claim":
                got = store.claim(inc, arg, version="v", at=at, lease=LEASE * MIN)
                model.known = True
                want = []
                if model.state == "active":
                    want = [d for _, d in _distinct(arg) if d not in model.alert]
                    for d in want:
                        model.alert[d] = [0, clock + LEASE]
                assert got.devices.tolist() == want, (op, arg)
            elif op in ("confirm", "confirm_devices"):
                devices, which = arg
                if op == "confirm":
                    conf = store.confirm([f"{inc} {which} {d}" for d in devices], at=at)
                    table = (
                        model.alert if which == "v" else model.back if which == model.cancel else {}
                    )
                else:
                    conf = store.confirm_devices(inc, devices, at=at, kind=which)
                    table = model.alert if which is DeliveryKind.ALERT else model.back
                for i, d in _distinct(devices):
                    row = table.get(d)
                    bucket = (
                        conf.unknown
                        if row is None
                        else conf.already
                        if row[0] == 1
                        else conf.confirmed
                    )
                    assert i in bucket.tolist(), (op, arg, i, d)
                    if row is not None:
                        row[0] = 1
            elif op == "due":
                got = [c for c in store.due(at) if c.incident == inc]
                seen = (
                    {d for c in got if c.kind is DeliveryKind.ALERT for d in c.devices.tolist()},
                    {
                        d
                        for c in got
                        if c.kind is DeliveryKind.RETRACTION
                        for d in c.devices.tolist()
                    },
                )
                assert seen == model.due(clock), (op, clock)
            elif op == "redeliver":
                got = [c for c in store.redeliver(at, lease=LEASE * MIN) if c.incident == inc]
                alert = [d for c in got if c.kind is DeliveryKind.ALERT for d in c.devices.tolist()]
                back = [
                    d for c in got if c.kind is DeliveryKind.RETRACTION for d in c.devices.tolist()
                ]
                assert len(alert) == len(set(alert)) and len(back) == len(set(back))
                assert (set(alert), set(back)) == model.due(clock), (op, clock)
                for c in got:
                    assert c.lease_until == at + LEASE * MIN
                    if c.kind is DeliveryKind.RETRACTION:
                        assert c.version == model.cancel
                for d in alert:
                    model.alert[d][1] = clock + LEASE
                for d in back:
                    model.back[d][1] = clock + LEASE
            elif op == "retract":
                got = store.retract(inc, version=arg, at=at, lease=LEASE * MIN)
                if model.cancel is None:
                    model.cancel = arg
                    model.back = {d: [0, clock + LEASE] for d in model.alert}
                model.state = "cancelled"
                model.known = True
                assert got.kind is DeliveryKind.RETRACTION
                assert got.version == model.cancel
                want_back = {d for d, (c, _) in model.back.items() if c == 0}
                assert sorted(got.devices.tolist()) == sorted(want_back), (op, arg)
            elif op == "expire":
                was = model.known and model.state == "active"
                assert store.expire(inc, at=at) is was
                if was:
                    model.state = "expired"
            else:
                store.close()
                store = opener()
        assert sorted(store.recipients(inc).tolist()) == sorted(model.alert)
        pending = {
            d for c in store.pending(inc, kind=DeliveryKind.RETRACTION) for d in c.devices.tolist()
        }
        assert pending == {d for d, (c, _) in model.back.items() if c == 0}
    finally:
        store.close()


_EXAMPLES = [
    # A Cancel sent again after some retractions were confirmed, then a clock set back an hour.
    [
        ("claim", [1, 2, 3]),
        ("confirm", ([1], "v")),
        ("retract", "c1"),
        ("confirm", ([2], "c1")),
        ("retract", "c2"),
        ("redeliver", -60),
        ("redeliver", 4),
        ("confirm", ([1, 3], "c2")),
    ],
    # Expired, then cancelled: the retractions still reach everyone told.
    [
        ("claim", [1, "06"]),
        ("expire", 0),
        ("claim", [2]),
        ("redeliver", 4),
        ("retract", "c2"),
        ("confirm_devices", (["06", 6], DeliveryKind.RETRACTION)),
        ("reopen", 0),
        ("due", 4),
    ],
]


@settings(max_examples=80, deadline=None)
@given(ops=st.lists(_op, max_size=14))
@example(ops=_EXAMPLES[0])
@example(ops=_EXAMPLES[1])
def test_memory_lifecycle_with_a_clock_set_back_matches_the_model(
    ops: list[tuple[str, Any]],
) -> None:
    """Claims, both confirmations, two Cancels, expiry and a clock set back: the model's answers."""
    one = MemoryLedger()
    one_close = one.close
    one.close = lambda: None  # type: ignore[method-assign]  # "reopen" keeps the same memory
    try:
        _run(lambda: one, ops, "polisen@polisen.se/SE-POL-1")
    finally:
        one_close()


@settings(max_examples=30, deadline=None)
@given(ops=st.lists(_op, max_size=12))
@example(ops=_EXAMPLES[0])
@example(ops=_EXAMPLES[1])
def test_sqlite_lifecycle_reopened_midway_matches_the_model(
    tmp_path_factory: pytest.TempPathFactory, ops: list[tuple[str, Any]]
) -> None:
    """The same model for SQLite, the handle closed and a new one opened wherever ops say."""
    path = tmp_path_factory.mktemp("life") / "deliveries.db"
    _run(lambda: SQLiteLedger(path), ops, "polisen@polisen.se/SE-POL-1")


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=st.lists(_op, max_size=12))
@example(ops=_EXAMPLES[0])
@example(ops=_EXAMPLES[1])
def test_postgres_lifecycle_reopened_midway_matches_the_model(
    postgres_dsn: str, ops: list[tuple[str, Any]]
) -> None:
    """The same model for PostgreSQL (a fresh incident per example)."""
    _run(lambda: PostgresLedger(postgres_dsn), ops, f"inc-{uuid.uuid4().hex}")


# -- store files this process's user may not write, read or reach ---------------------------

AS_NOBODY = textwrap.dedent(
    """
    import json, os, sys
    from datetime import datetime, timezone
    from geotarget.ledger import SQLiteLedger
    os.setgid(65534)
    os.setuid(65534)  # nobody: permission bits hold, as for any service account
    at = datetime(2026, 5, 4, 12, 0, tzinfo=timezone.utc)
    said = {}
    for path in sys.argv[1:]:
        try:
            store = SQLiteLedger(path)
        except Exception as err:
            said[path] = [type(err).__name__, str(err)]
            continue
        try:
            said[path] = ["claimed", store.claim("inc", ["b"], version="v", at=at).devices.tolist()]
        except Exception as err:
            said[path] = ["opened, then " + type(err).__name__, str(err)]
        store.close()
    print(json.dumps(said))
    """
)


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory under /tmp that every user may search (pytest's tmp_path is root's alone)."""
    made = Path(tempfile.mkdtemp(prefix="gt-lifecycle14-"))
    made.chmod(0o755)
    yield made
    for inner in made.rglob("*"):
        if inner.is_dir():
            inner.chmod(0o755)
    shutil.rmtree(made)


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to become 'nobody'"
)
def test_a_store_file_its_user_may_not_write_read_or_reach_is_refused_at_open(
    shared_dir: Path,
) -> None:
    """A file nobody may write is StoreReadOnly at open; unreadable or unreachable, StoreUnavailable.

    Regressions: a file its user may read but not write, in a directory it may write (where
    SQLite makes the -wal and -shm files), opened and answered reads, and only every claim
    failed: a service's readiness probe said ready while it could deliver nothing
    (``docs/delivery.rst``: "a read-only place is refused with StoreReadOnly at once"). A
    file it may not read was StoreReadOnly, "it cannot be written". A path through a
    directory it may not search raised Python's bare PermissionError, no StoreError at all.
    Each store is left as it was: its owner still reads the one device it holds.
    """
    writable = shared_dir / "writable"
    closed = shared_dir / "closed"
    for place in (writable, closed):
        place.mkdir()
    stores = {
        "read-only file": writable / "read-only.db",
        "unreadable file": writable / "unreadable.db",
        "closed directory": closed / "deliveries.db",
    }
    for path in stores.values():
        with SQLiteLedger(path) as store:
            store.claim("inc", ["a"], version="v", at=T0)
    stores["new file in a closed directory"] = closed / "new.db"
    stores["read-only file"].chmod(0o444)
    stores["unreadable file"].chmod(0o600)
    writable.chmod(0o777)
    closed.chmod(0o700)
    done = subprocess.run(
        [sys.executable, "-c", AS_NOBODY, *map(str, stores.values())],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    assert done.returncode == 0, done.stderr
    said = json.loads(done.stdout)
    want = {
        "read-only file": ("StoreReadOnly", "the file cannot be written"),
        "unreadable file": ("StoreUnavailable", "the file cannot be read by this process's user"),
        "closed directory": ("StoreUnavailable", "a directory on its path cannot be searched"),
        "new file in a closed directory": (
            "StoreUnavailable",
            "a directory on its path cannot be searched",
        ),
    }
    for case, (name, words) in want.items():
        got_name, message = said[str(stores[case])]
        assert got_name == name, (case, message)
        assert message.startswith(f"SQLite store {str(stores[case])!r}: ") and words in message
    closed.chmod(0o755)
    assert not stores["new file in a closed directory"].exists()
    for case in ("read-only file", "unreadable file", "closed directory"):
        stores[case].chmod(0o644)
        with SQLiteLedger(stores[case]) as store:
            assert store.recipients("inc").tolist() == ["a"]


# -- a file size limit reached mid-write ------------------------------------------------------

FILE_SIZE_CHILD = textwrap.dedent(
    """
    import json, os, resource, sys
    from datetime import datetime, timedelta, timezone
    from geotarget.errors import StoreError
    from geotarget.ledger import DeliveryKind, SQLiteLedger
    path, inc = sys.argv[1], "polisen@polisen.se/K1"
    at, minute = datetime(2026, 5, 4, 12, 0, tzinfo=timezone.utc), timedelta(minutes=1)
    store = SQLiteLedger(path)
    claims = store.claim(inc, [f"phone-{i:06d}" for i in range(20_000)], version=inc, at=at,
                         lease=minute)
    keys = claims.keys()[:10_000].tolist()
    hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]

    def state():
        with SQLiteLedger(path) as other:
            row = other.incident(inc)
            alert = sum(c.devices.size for c in other.pending(inc))
            back = sum(c.devices.size for c in other.pending(inc, kind=DeliveryKind.RETRACTION))
            return [row.state.name, alert, back]

    def limited(name, call):
        biggest = max(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))
        resource.setrlimit(resource.RLIMIT_FSIZE, (biggest + 16 * 1024, hard))  # ulimit -f
        try:
            call()
            failed = None
        except StoreError as err:
            failed = [type(err).__name__, str(err)]
        resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
        said[name] = [failed, state()]

    said = {"before": state()}
    limited("confirm", lambda: store.confirm(keys, at=at))
    limited("redeliver", lambda: store.redeliver(at + 5 * minute))
    limited("retract", lambda: store.retract(inc, version="polisen@polisen.se/C", at=at))
    said["confirm again"] = store.confirm(keys, at=at).confirmed.size
    back = store.retract(inc, version="polisen@polisen.se/C", at=at, lease=minute)
    said["retract again"] = back.devices.size
    offered = store.redeliver(at + 5 * minute)
    said["offered"] = [[c.kind.name, c.devices.size, len(set(c.devices.tolist()))] for c in offered]
    said["after"] = state()
    store.close()
    print(json.dumps(said))
    """
)


@pytest.mark.skipif(os.name != "posix", reason="RLIMIT_FSIZE is POSIX")
def test_a_file_size_limit_reached_by_a_fold_a_redelivery_or_a_cancel_applies_none_of_it(
    tmp_path: Path,
) -> None:
    """A confirmation, redelivery or Cancel past ``ulimit -f`` is StoreFull and changes nothing.

    The incident has 20,000 devices, claimed in one batch: one row of the claim log. Each of
    the three writes 20,000 rows first (the confirmation and the redelivery fold them, the
    Cancel adds as many retractions), which the limit stops part-way. Read by another handle after each failure, nothing moved:
    20,000 alert deliveries pending, the incident active, no retraction. Once the limit is
    lifted the same handle confirms the 10,000 keys as new (never ``already``), the Cancel
    makes 20,000 retractions, and a redelivery offers each retraction once and no alert (the
    incident ended).
    """
    done = subprocess.run(
        [sys.executable, "-c", FILE_SIZE_CHILD, str(tmp_path / "deliveries.db")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    said = json.loads(done.stdout)
    untouched = ["ACTIVE", 20_000, 0]
    assert said["before"] == untouched
    for step in ("confirm", "redeliver", "retract"):
        failed, after = said[step]
        assert failed is not None, f"{step} past the file size limit succeeded"
        name, message = failed
        assert name == "StoreFull" and "ulimit -f" in message, (step, message)
        assert "nothing was applied" in message, (step, message)
        assert after == untouched, step
    assert said["confirm again"] == 10_000
    assert said["retract again"] == 20_000
    assert said["offered"] == [["RETRACTION", 20_000, 20_000]]
    assert said["after"] == ["CANCELLED", 10_000, 20_000]


# -- a writer killed mid-write, the store reopened ---------------------------------------------

KILLED_WRITER = textwrap.dedent(
    """
    import sys
    from datetime import datetime, timedelta, timezone
    from geotarget.ledger import SQLiteLedger
    path, inc = sys.argv[1], "polisen@polisen.se/K1"
    at, minute = datetime(2026, 5, 4, 12, 0, tzinfo=timezone.utc), timedelta(minutes=1)
    store = SQLiteLedger(path)
    for r in range(6):
        ids = [f"r{r}-{i:05d}" for i in range(8_000)]
        claims = store.claim(inc, ids, version=inc, at=at, lease=minute)
        print("claimed", r, claims.devices.size, flush=True)
        store.confirm(claims.keys()[::2], at=at)  # (the first one folds the claim log)
        print("confirmed", r, flush=True)
        if r == 3:
            store.retract(inc, version="polisen@polisen.se/C", at=at, lease=minute)
            print("retracted", r, flush=True)
    print("done", flush=True)
    """
)


@pytest.mark.parametrize("after_lines", [1, 2, 3, 6, 7, 8])
def test_a_writer_killed_mid_fold_or_mid_cancel_leaves_each_device_whole(
    tmp_path: Path, after_lines: int
) -> None:
    """SIGKILL of a writer folding a claim log or writing a Cancel's retractions: all or nothing.

    The writer claims batches of 8,000 devices, confirms every other one by key (the first
    confirmation of each batch folds its claim log into rows), and cancels after the fourth.
    It is killed right after its ``after_lines``-th acknowledgement, in whatever write comes
    next. Reopened, the store holds every acknowledged step and each step as a whole: each
    batch claimed wholly or not at all, its confirmations all or none, every device at most
    once, and a Cancel's retractions either absent or one per device ever claimed; claims
    after a Cancel refused; then each pending retraction is offered exactly once.
    """
    path = tmp_path / "deliveries.db"
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    acked: list[list[str]] = []
    try:
        assert child.stdout is not None
        while len(acked) < after_lines:
            line = child.stdout.readline()
            if not line:
                break
            acked.append(line.split())
    finally:
        child.kill()  # SIGKILL
        child.communicate(timeout=60)
    assert len(acked) == after_lines, acked
    inc = "polisen@polisen.se/K1"
    with SQLiteLedger(path) as store:
        told = store.recipients(inc).tolist()
        assert len(told) == len(set(told))
        batches: dict[str, list[str]] = {}
        for device in told:
            batches.setdefault(device.split("-")[0], []).append(device)
        claimed = {f"r{r}" for word, r, *n in acked if word == "claimed" and n != ["0"]}
        assert claimed <= batches.keys()
        assert all(len(ids) == 8_000 for ids in batches.values()), {
            b: len(ids) for b, ids in batches.items()
        }
        pending = {d for c in store.pending(inc) for d in c.devices.tolist()}
        for batch, ids in batches.items():
            confirmed = [d for d in ids if d not in pending]
            assert confirmed == [] or confirmed == ids[::2], batch
            if any(word == "confirmed" and f"r{r}" == batch for word, r, *_ in acked):
                assert confirmed == ids[::2], batch
        back = {
            d for c in store.pending(inc, kind=DeliveryKind.RETRACTION) for d in c.devices.tolist()
        }
        incident = store.incident(inc)
        assert incident is not None
        if any(word == "retracted" for word, *_ in acked):
            assert incident.state.name == "CANCELLED"
        assert back == set() or back == set(told), (len(back), len(told))
        assert (incident.state.name == "CANCELLED") == bool(back)
        if back:
            assert set(batches) == {"r0", "r1", "r2", "r3"}
            late = store.claim(inc, ["late"], version=inc, at=T0)
            assert late.status.name == "CANCELLED" and late.devices.size == 0
            offered = [
                d
                for c in store.redeliver(T0 + 10 * MIN)
                if c.kind is DeliveryKind.RETRACTION
                for d in c.devices.tolist()
            ]
            assert sorted(offered) == sorted(back)
            assert store.redeliver(T0 + 10 * MIN) == []
