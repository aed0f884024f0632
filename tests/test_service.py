"""The reference service (examples/service): alert in, pending deliveries, confirm, restart, redeliver."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import private_postgres
from service_helpers import service_module
from starlette.testclient import TestClient

from geotarget import Circle, alerts, cap
from geotarget.alerts import MessageType, Reference
from geotarget.ledger import SQLiteLedger

AT = dt.datetime(2026, 5, 4, 21, 30, tzinfo=dt.timezone.utc)
SERGELS_TORG = (18.06528, 59.3325)


#: The service's module, read once: these tests set no ``GEOTARGET_*`` variable in this process
#: (its processes get theirs in their own environment), and each makes its own app of it.
_MODULE: list[Any] = []


def _service() -> Any:
    """The reference service's module, read at the first call (a test changing it: _fresh)."""
    if not _MODULE:
        _MODULE.append(_fresh())
    return _MODULE[0]


def _fresh() -> Any:
    """A module of the service of the test's own, read at this call."""
    return service_module("app.py", "_geotarget_service")


def _alert(identifier: str = "SE-POL-1", **kw: Any) -> str:
    msg = alerts.Message(
        headline="Explosionsrisk", description="Lämna området.", area_description="Sergels torg"
    )
    alert = alerts.explosion(
        identifier=identifier,
        sender="polisen@polisen.se",
        sent=AT,
        area=Circle(*SERGELS_TORG, 500.0),
        sv=msg,
        en=msg,
        onset=AT,
        expires=AT + dt.timedelta(hours=2),
    )
    if kw:
        import attrs

        alert = attrs.evolve(alert, **kw)
    return cap.dumps(alert)


def _positions(ids: list[str], inside: list[bool]) -> dict[str, Any]:
    lon = [SERGELS_TORG[0] if i else 11.97333 for i in inside]
    lat = [SERGELS_TORG[1] if i else 57.70889 for i in inside]
    return {
        "ids": ids,
        "lon": lon,
        "lat": lat,
        "accuracy_m": [8.0] * len(ids),
        "observed_at": [AT.isoformat()] * len(ids),
    }


def _q(minutes: float = 0) -> dict[str, str]:
    return {"at": (AT + dt.timedelta(minutes=minutes)).isoformat()}


@pytest.fixture(scope="module")
def refusing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One in-process service over its own SQLite store, for the module's refused requests.

    Each parametrised case below sends one request that is refused (a 400 applying nothing)
    and checks the service still serves; none leaves state another case reads, so one module,
    app and store serve them all instead of one each.
    """
    service = _service()
    store = SQLiteLedger(tmp_path_factory.mktemp("refusing") / "d.db")
    with TestClient(service.create_app(store)) as client:
        yield client


def test_the_whole_loop_survives_a_restart(tmp_path: Path) -> None:
    """Alert → pending deliveries → confirm → restart → the alert streams on → redeliver → Cancel."""
    service = _service()
    path = tmp_path / "deliveries.db"
    with TestClient(service.create_app(SQLiteLedger(path))) as client:
        r = client.post(
            "/positions", params=_q(), json=_positions(["p1", "p2", "p3"], [True, True, False])
        )
        assert r.json() == {"deliveries": []}
        got = client.post("/alerts", params=_q(), content=_alert()).json()
        assert (got["incident"], got["verdict"]) == ("polisen@polisen.se/SE-POL-1", "DELIVER")
        keys = {d["device"]: d["key"] for d in got["deliveries"]}
        assert sorted(keys) == ["p1", "p2"]
        assert keys["p1"] == "polisen@polisen.se/SE-POL-1 polisen@polisen.se/SE-POL-1 p1"
        done = client.post("/confirm", params=_q(), json={"keys": [keys["p1"]]}).json()
        assert done == {"confirmed": 1, "already": 0, "unknown": 0}
        # The same alert again: nobody new.
        again = client.post("/alerts", params=_q(1), content=_alert()).json()
        assert (again["verdict"], again["deliveries"]) == ("DELIVER", [])

    # A new process over the same store: the alert is active at once; p2 was never confirmed.
    with TestClient(service.create_app(SQLiteLedger(path))) as client:
        batch = client.post("/positions", params=_q(2), json=_positions(["p4", "p1"], [True, True]))
        assert [d["device"] for d in batch.json()["deliveries"]] == ["p4"]
        back = client.post("/redeliver", params=_q(2)).json()["deliveries"]
        assert [(d["device"], d["key"]) for d in back] == [("p2", keys["p2"])]
        why = client.get(
            "/explain", params={"incident": "polisen@polisen.se/SE-POL-1", "device": "p1", **_q(2)}
        )
        assert why.status_code == 200 and "p1" in why.text
        cancel = _alert(
            "SE-POL-2",
            msg_type=MessageType.CANCEL,
            references=(Reference(sender="polisen@polisen.se", identifier="SE-POL-1", sent=AT),),
        )
        gone = client.post("/alerts", params=_q(3), content=cancel).json()
        assert gone["verdict"] == "CANCELLED"
        assert sorted(d["device"] for d in gone["deliveries"]) == ["p1", "p2", "p4"]
        assert {d["kind"] for d in gone["deliveries"]} == {"retraction"}
        after = client.post("/positions", params=_q(4), json=_positions(["p5"], [True])).json()
        assert after == {"deliveries": []}


def test_the_policy_issuers_decide_who_may_alert_through_the_service(tmp_path: Path) -> None:
    """Unknown and unauthorised senders reach nobody, with reasons; acts_for governs Cancels."""
    service = _service()
    with TestClient(service.create_app(SQLiteLedger(tmp_path / "d.db"))) as client:
        client.post("/positions", params=_q(), json=_positions(["p1", "p2"], [True, False]))
        stranger = client.post(
            "/alerts", params=_q(), content=_alert("X-1", sender="okand@example.se")
        ).json()
        assert (stranger["verdict"], stranger["deliveries"], stranger["issuer"]) == (
            "UNKNOWN_ISSUER", [], None
        )  # fmt: skip
        assert stranger["reason"].startswith(
            "sender 'okand@example.se' belongs to no issuer of the policy (issuers: "
        )
        # The Stockholm police region may issue crime-modus and tip requests, not Explosions.
        local = client.post(
            "/alerts", params=_q(), content=_alert("X-2", sender="stockholm@polisen.se")
        ).json()
        assert (local["verdict"], local["deliveries"], local["issuer"], local["kind"]) == (
            "NOT_AUTHORISED", [], "polisen-stockholm", "explosion"
        )  # fmt: skip
        assert "may not issue explosion" in local["reason"]
        # The national police may; the Stockholm region cannot cancel its incident (it does not
        # act for the national issuer), the national issuer can.
        got = client.post("/alerts", params=_q(), content=_alert()).json()
        assert (got["verdict"], got["issuer"], got["recognised_by"]) == (
            "DELIVER", "polisen-nationellt", "geotarget:kind"
        )  # fmt: skip
        assert [d["device"] for d in got["deliveries"]] == ["p1"]
        refs = (Reference(sender="polisen@polisen.se", identifier="SE-POL-1", sent=AT),)
        foreign = _alert("X-3", sender="stockholm@polisen.se", msg_type=MessageType.CANCEL,
                         references=refs)  # fmt: skip
        refused = client.post("/alerts", params=_q(1), content=foreign).json()
        assert (refused["verdict"], refused["deliveries"]) == ("NOT_AUTHORISED", [])
        assert "may not act for sender 'polisen@polisen.se'" in refused["reason"]
        late = client.post("/positions", params=_q(2), json=_positions(["p3"], [True])).json()
        assert [d["device"] for d in late["deliveries"]] == ["p3"]  # still active
        own = _alert("SE-POL-2", msg_type=MessageType.CANCEL, references=refs)
        gone = client.post("/alerts", params=_q(3), content=own).json()
        assert gone["verdict"] == "CANCELLED"
        assert sorted(d["device"] for d in gone["deliveries"]) == ["p1", "p3"]


def test_the_service_refuses_a_policy_file_without_issuers(tmp_path: Path) -> None:
    """A policy file must state its issuers (or issuers = "any"): never assumed."""
    from geotarget import InvalidPolicy

    service = _service()
    doc = tmp_path / "policy.toml"
    doc.write_text(
        '[[kinds.explosion.phases]]\nstarts_at = 2024-04-15T00:00:00+02:00\nregions = ["SE"]\n'
    )
    with pytest.raises(InvalidPolicy, match=r'issuers: missing: .* or issuers = "any"'):
        service.create_app(SQLiteLedger(tmp_path / "d.db"), policy=doc)


def test_a_store_failure_is_a_503_and_the_service_keeps_serving(tmp_path: Path) -> None:
    """A store that fails answers 503 with the cause; the next call works once it is back."""
    import sqlite3

    service = _service()
    path = tmp_path / "deliveries.db"
    store = SQLiteLedger(path, busy_timeout=0.1)
    with TestClient(service.create_app(store)) as client:
        client.post("/positions", params=_q(), json=_positions(["p1"], [True]))
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        r = client.post("/alerts", params=_q(), content=_alert())
        assert r.status_code == 503 and "busy timeout" in r.text
        other.execute("ROLLBACK")
        other.close()
        ok = client.post("/alerts", params=_q(), content=_alert()).json()
        assert [d["device"] for d in ok["deliveries"]] == ["p1"]


def test_fix_times_are_parsed_once_per_text_and_checked(tmp_path: Path) -> None:
    """observed_at: instants with any offset; a naive or malformed one is a 400 naming the row."""
    service = _service()
    got = service._instants(
        ["2026-05-04T23:30:00+02:00", "2026-05-04T21:30:00Z", "2026-05-04T23:30:00+02:00"]
    )
    assert got.tolist() == [AT.replace(tzinfo=None)] * 3
    with TestClient(service.create_app(SQLiteLedger(tmp_path / "d.db"))) as client:
        bad = _positions(["p1", "p2"], [True, True])
        bad["observed_at"] = [AT.isoformat(), "2026-05-04T21:30:00"]
        r = client.post("/positions", params=_q(), json=bad)
        assert r.status_code == 400 and "observed_at[1]" in r.text, r.text
        bad["observed_at"] = ["yesterday", AT.isoformat()]
        r = client.post("/positions", params=_q(), json=bad)
        assert r.status_code == 400 and "observed_at[0]" in r.text, r.text


def test_at_is_read_by_the_public_reader_and_refused_with_a_400(tmp_path: Path) -> None:
    """?at= reads as geotarget.parse_time reads it: any offset form; none or a bad one is a 400."""
    service = _service()
    with TestClient(service.create_app(SQLiteLedger(tmp_path / "d.db"))) as client:
        for at in ["2026-05-04T21:30:00Z", "2026-05-04 23:30+0200", "2026-05-04T23:30:00,5+02"]:
            r = client.post("/redeliver", params={"at": at})
            assert r.status_code == 200 and r.json() == {"deliveries": []}, (at, r.text)
        r = client.post("/redeliver", params={"at": "2026-05-04T21:30"})
        assert r.status_code == 400
        assert (
            r.text
            == "at must carry a UTC offset, e.g. 2024-05-20T14:00+02:00 (got '2026-05-04T21:30')"
        )
        r = client.post("/redeliver", params={"at": "yesterday"})
        assert r.status_code == 400 and r.text.startswith("at must be an ISO 8601 date-time")
        assert r.text.endswith("(got 'yesterday')")


def _listening(path: str) -> bool:
    """Whether a Unix socket accepts connections (the probe's socket closed either way)."""
    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(path)
        except OSError:
            return False
    return True


class _Process:
    """The service in its own uvicorn process on a Unix socket, killable with SIGKILL."""

    def __init__(self, tmp: Path, store: str, crash: str = "") -> None:
        import subprocess
        import sys

        import httpx2

        root = Path(__file__).resolve().parents[1]
        if not (root / "examples" / "service" / "app.py").exists():
            pytest.skip("examples/service is not beside the tests (an installed-wheel run)")
        self.sock = str(tmp / f"svc-{os.urandom(4).hex()}.sock")
        env = {**os.environ, "GEOTARGET_STORE": store, "GEOTARGET_SERVICE_CRASH": crash}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "examples.service.app:app",
                "--uds",
                self.sock,
                "--log-level",
                "warning",
            ],
            cwd=root,
            env=env,
        )
        self.http = httpx2.Client(
            transport=httpx2.HTTPTransport(uds=self.sock), base_url="http://service", timeout=60
        )
        import time

        for _ in range(2400):  # (a loaded CI host: up to two minutes, as the other probes)
            # The socket file exists once bound, maybe before it listens. Probed with a socket
            # closed here: httpx leaves the socket of a refused connection to the garbage
            # collector, whose "unclosed socket" warning then failed a later test at random.
            if Path(self.sock).exists() and _listening(self.sock):
                self.http.get("/ready")  # no such route: a 404 with no side effect
                break
            assert self.proc.poll() is None, "the service did not start"
            time.sleep(0.05)
        else:
            raise AssertionError("the service did not answer on its socket in 120 s")

    def post(self, path: str, minutes: float, **kw: Any) -> Any:
        r = self.http.post(path, params=_q(minutes), **kw)
        assert r.status_code == 200, r.text
        return r.json()

    def stop(self) -> None:
        self.http.close()
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(timeout=30)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_sigkill_after_claiming_and_after_confirming_loses_nothing(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """SIGKILL after a claim, then after a confirm: all confirmed once, alert recovered."""
    import httpx2

    store = (
        request.getfixturevalue("postgres_dsn") if kind == "postgres" else str(tmp_path / "d.db")
    )
    ids = [f"p{i}" for i in range(40)]
    inside = [i % 3 != 0 for i in range(40)]
    oracle = {d for d, ok in zip(ids, inside, strict=True) if ok}

    crashing = _Process(tmp_path, store, crash="claimed")
    crashing.post("/positions", 0, json=_positions(ids, inside))
    with pytest.raises(httpx2.TransportError):
        crashing.http.post("/alerts", params=_q(0), content=_alert())
    assert crashing.proc.wait(timeout=30) == -9
    crashing.http.close()

    second = _Process(tmp_path, store, crash="confirmed")
    offered = second.post("/redeliver", 1)["deliveries"]
    assert {d["device"] for d in offered} == oracle  # nothing claimed was lost
    keys = [d["key"] for d in offered]
    with pytest.raises(httpx2.TransportError):
        second.http.post("/confirm", params=_q(1), json={"keys": keys})
    assert second.proc.wait(timeout=30) == -9
    second.http.close()

    third = _Process(tmp_path, store)
    try:
        again = third.post("/confirm", 2, json={"keys": keys})
        assert again == {"confirmed": 0, "already": len(oracle), "unknown": 0}  # never twice
        assert third.post("/redeliver", 3)["deliveries"] == []
        # The alert was recovered from the store: a device arriving now is told at once.
        late = third.post("/positions", 3, json=_positions(["p99"], [True]))["deliveries"]
        assert [d["device"] for d in late] == ["p99"]
    finally:
        third.stop()


@pytest.mark.slow
def test_several_service_processes_on_one_postgres_deliver_each_device_once(
    tmp_path: Path, postgres_dsn: str
) -> None:
    """Processes given one alert and overlapping batches at once: each device told once, all told.

    Four processes. (Two were a case of their own, the first two of these four with the same
    batches: nothing those two do differs here, where the other two contend with them too.)
    """
    from concurrent.futures import ThreadPoolExecutor

    n = 4

    ids = [f"d{i}" for i in range(240)]
    inside = {d: i % 4 != 0 for i, d in enumerate(ids)}

    def batch(k: int, shift: int) -> dict[str, Any]:
        part = ids[(k * 40 + shift) % 160 : (k * 40 + shift) % 160 + 80]
        return _positions(part, [inside[d] for d in part])

    procs = [_Process(tmp_path, postgres_dsn) for _ in range(n)]
    try:
        with ThreadPoolExecutor(n) as pool:
            list(pool.map(lambda k: procs[k].post("/positions", 0, json=batch(k, 0)), range(n)))
            first = list(
                pool.map(lambda k: procs[k].post("/alerts", 0, content=_alert()), range(n))
            )
            later = list(
                pool.map(lambda k: procs[k].post("/positions", 1, json=batch(k, 60)), range(n))
            )
        told = [d["device"] for r in first + later for d in r["deliveries"]]
        assert [r["verdict"] for r in first] == ["DELIVER"] * n
        assert len(told) == len(set(told)), "a device was told twice"
        posted = {d for k in range(n) for s in (0, 60) for d in batch(k, s)["ids"]}
        assert set(told) == {d for d in posted if inside[d]}
    finally:
        for p in procs:
            p.stop()


@pytest.mark.slow
def test_concurrent_batches_in_one_process_each_use_their_own_positions(tmp_path: Path) -> None:
    """Batches posted at once to one process: each is matched against its own fixes, none lost."""
    from concurrent.futures import ThreadPoolExecutor

    ids = [f"d{i}" for i in range(4001)]
    inside = {d: i % 3 != 0 for i, d in enumerate(ids)}
    proc = _Process(tmp_path, str(tmp_path / "d.db"))
    try:
        proc.post("/positions", 0, json=_positions(ids[:1], [True]))
        proc.post("/alerts", 0, content=_alert())
        batches = [ids[k : k + 250] for k in range(1, 4001, 250)]

        def post(b: list[str]) -> list[str]:
            got = proc.post("/positions", 1, json=_positions(b, [inside[d] for d in b]))
            return [d["device"] for d in got["deliveries"]]

        with ThreadPoolExecutor(8) as pool:
            told = list(pool.map(post, batches))
        for batch, devices in zip(batches, told, strict=True):
            assert set(devices) == {d for d in batch if inside[d]}  # its own devices, all of them
    finally:
        proc.stop()


def _store_of(kind: str, where: str) -> Any:
    from geotarget.ledger import PostgresLedger

    return PostgresLedger(where) if kind == "postgres" else SQLiteLedger(where)


@pytest.mark.slow
@pytest.mark.parametrize("crash", ["claiming", "confirming"])
@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_sigkill_while_claiming_or_confirming_then_restart_confirms_everyone_once(
    kind: str, crash: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """SIGKILL at an arbitrary point inside a claim or a confirmation, then restart.

    The sender re-sends an alert it got no answer for; the new process redelivers what is
    pending; the pusher confirms everything offered. Then: every device in the area is
    confirmed (checked in the store against the oracle), no confirmation was counted twice,
    nobody outside the area was claimed, and the alert streams on.
    """
    import httpx2

    where = (
        request.getfixturevalue("postgres_dsn") if kind == "postgres" else str(tmp_path / "d.db")
    )
    ids = [f"p{i}" for i in range(300)]
    inside = [i % 3 != 0 for i in range(300)]
    oracle = {d for d, ok in zip(ids, inside, strict=True) if ok}

    first = _Process(tmp_path, where, crash=crash)
    first.post("/positions", 0, json=_positions(ids, inside))
    try:
        got = first.http.post("/alerts", params=_q(0), content=_alert())
        keys = [d["key"] for d in got.json()["deliveries"]]
        first.http.post("/confirm", params=_q(0), json={"keys": keys})
    except httpx2.TransportError:
        pass  # killed: the caller never heard back
    assert first.proc.wait(timeout=30) == -9
    first.http.close()

    second = _Process(tmp_path, where)
    try:
        # The sender retries the alert it got no answer for; the devices report again (a new
        # process starts with no positions); leases run out.
        resent = second.post("/alerts", 1, content=_alert())["deliveries"]
        again = second.post("/positions", 1, json=_positions(ids, inside))["deliveries"]
        back = second.post("/redeliver", 1)["deliveries"]
        offered = [d["key"] for d in resent + again + back]
        assert len(offered) == len(set(offered))
        done = second.post("/confirm", 1, json={"keys": offered})
        assert done["unknown"] == 0
        assert second.post("/redeliver", 5)["deliveries"] == []  # nothing left pending
        late = second.post("/positions", 5, json=_positions(["p999"], [True]))["deliveries"]
        assert [d["device"] for d in late] == ["p999"]  # the alert was recovered
        second.post("/confirm", 5, json={"keys": [late[0]["key"]]})
    finally:
        second.stop()
    store = _store_of(kind, where)
    try:
        incident = "polisen@polisen.se/SE-POL-1"
        assert set(store.recipients(incident).tolist()) == oracle | {"p999"}  # nobody outside
        check = store.confirm_devices(incident, sorted(oracle), at=AT + dt.timedelta(minutes=9))
        assert check.already.size == len(oracle)  # every device in the area confirmed, once
        assert check.confirmed.size == 0 and check.unknown.size == 0
    finally:
        store.close()


def test_store_read_only_is_refused_precisely_and_recovers(tmp_path: Path) -> None:
    """The SQLite place turns read-only: a precise StoreReadOnly, then recovery.

    The store refuses to open (WAL needs a writable place) with the cause; once the place is
    writable again a process recovers the active alert and delivers the batch in full. (As
    root, who ignores permission bits, the place is a small tmpfs remounted read-only, which
    needs no writer open: hence the restarts. A failure under a running process, mid-batch, is
    the held lock of the test above and PostgreSQL stopped below.)
    """
    import subprocess

    from geotarget.errors import StoreReadOnly

    service = _service()
    place = tmp_path / "ro"
    place.mkdir()
    root = os.geteuid() == 0
    if root:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(place)])
        if done.returncode != 0:
            pytest.skip("root ignores permission bits and cannot mount a tmpfs here")
    path = place / "d.db"
    batch = _positions(["p2", "p3", "p4"], [True, True, False])
    try:
        with TestClient(service.create_app(SQLiteLedger(path))) as client:
            client.post("/positions", params=_q(), json=_positions(["p1"], [True]))
            assert client.post("/alerts", params=_q(), content=_alert()).status_code == 200
        if root:
            subprocess.run(["mount", "-o", "remount,ro", str(place)], check=True)
        else:
            path.chmod(0o444)
            place.chmod(0o555)
        with pytest.raises(StoreReadOnly, match="cannot be written"):
            SQLiteLedger(path)  # a process cannot start over it: it says why, at once
        if root:
            subprocess.run(["mount", "-o", "remount,rw", str(place)], check=True)
        else:
            place.chmod(0o755)
            path.chmod(0o644)
        with TestClient(service.create_app(SQLiteLedger(path))) as client:
            ok = client.post("/positions", params=_q(2), json=batch).json()
            assert sorted(d["device"] for d in ok["deliveries"]) == ["p2", "p3"]
    finally:
        if root:
            subprocess.run(["umount", "-l", str(place)], check=False)
        else:
            place.chmod(0o755)


@pytest.fixture(scope="module")
def _private_cluster() -> Iterator[Any]:
    """One private throw-away PostgreSQL server (scripts/_pg.py) for the module's tests.

    As conftest's ``own_postgres``, which made (initdb) and started a server for each test
    that stops and starts one; here one server is made for the module and each test gets a
    fresh schema of it (:func:`stoppable_postgres`): none sees another's tables.
    """
    with private_postgres() as db:
        yield db


class _Stoppable:
    """A fresh schema of the private server: its ``dsn``; ``stop()`` and ``start()`` the server."""

    def __init__(self, db: Any, schema: str) -> None:
        self.db = db
        self.dsn = f"{db.dsn} options='-c search_path={schema}'"

    def stop(self) -> None:
        self.db.stop()

    def start(self) -> None:
        self.db.start()


@pytest.fixture
def stoppable_postgres(_private_cluster: Any) -> Iterator[_Stoppable]:
    """The module's private PostgreSQL server, running, with a fresh schema for this test."""
    import uuid

    import psycopg

    if _private_cluster.pid is None:  # (a test before stopped it and failed)
        _private_cluster.start()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_private_cluster.dsn, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    yield _Stoppable(_private_cluster, schema)
    if _private_cluster.pid is None:
        _private_cluster.start()


def test_postgres_stopped_mid_batch_is_503_then_recovers(stoppable_postgres: _Stoppable) -> None:
    """PostgreSQL stopped under a running service: 503 naming the cause, nothing half-applied.

    Started again, the same service delivers the batch in full.
    """
    from geotarget.ledger import PostgresLedger

    service = _service()
    store = PostgresLedger(stoppable_postgres.dsn, connect_timeout=2)
    with TestClient(service.create_app(store)) as client:
        client.post("/positions", params=_q(), json=_positions(["p1"], [True]))
        assert client.post("/alerts", params=_q(), content=_alert()).status_code == 200
        stoppable_postgres.stop()
        batch = _positions(["p2", "p3", "p4"], [True, True, False])
        r = client.post("/positions", params=_q(1), json=batch)
        assert r.status_code == 503 and "cannot be reached" in r.text, r.text
        assert client.post("/redeliver", params=_q(1)).status_code == 503
        stoppable_postgres.start()
        ok = client.post("/positions", params=_q(2), json=batch).json()
        assert sorted(d["device"] for d in ok["deliveries"]) == ["p2", "p3"]
        assert sorted(store.recipients("polisen@polisen.se/SE-POL-1").tolist()) == [
            "p1",
            "p2",
            "p3",
        ]


def test_postgres_restarted_between_requests_fails_none(stoppable_postgres: _Stoppable) -> None:
    """PostgreSQL restarted while the service was idle: the next request is served as usual."""
    from geotarget.ledger import PostgresLedger

    service = _service()
    store = PostgresLedger(stoppable_postgres.dsn, connect_timeout=2)
    with TestClient(service.create_app(store)) as client:
        client.post("/positions", params=_q(), json=_positions(["p1"], [True]))
        assert client.post("/alerts", params=_q(), content=_alert()).status_code == 200
        stoppable_postgres.stop()
        stoppable_postgres.start()
        r = client.post("/positions", params=_q(1), json=_positions(["p2", "p3"], [True, False]))
        assert r.status_code == 200, r.text
        assert [d["device"] for d in r.json()["deliveries"]] == ["p2"]


def test_a_service_started_before_its_store_can_be_opened_answers_503_then_recovers(
    tmp_path: Path,
) -> None:
    """The store's place is missing when the service starts (a volume mounted late).

    The process crashed at start with a traceback. It starts, answers 503 naming the cause
    on what needs the store, and once the place exists it opens the store and delivers.
    """
    place = tmp_path / "volume"
    proc = _Process(tmp_path, str(place / "d.db"))
    try:
        assert proc.proc.poll() is None
        batch = _positions(["p1", "p2"], [True, False])
        r = proc.http.post("/positions", params=_q(), json=batch)
        assert r.status_code == 503 and "does not exist" in r.text, r.text
        r = proc.http.post("/alerts", params=_q(), content=_alert())
        assert r.status_code == 503 and str(place) in r.text, r.text
        place.mkdir()
        assert proc.post("/positions", 1, json=batch) == {"deliveries": []}
        sent = proc.post("/alerts", 1, content=_alert())
        assert sent["verdict"] == "DELIVER" and [d["device"] for d in sent["deliveries"]] == ["p1"]
        assert proc.post("/confirm", 1, json={"keys": [sent["deliveries"][0]["key"]]}) == {
            "confirmed": 1,
            "already": 0,
            "unknown": 0,
        }
    finally:
        proc.stop()


def test_a_service_started_while_postgres_is_down_answers_503_then_recovers(
    tmp_path: Path, stoppable_postgres: _Stoppable
) -> None:
    """PostgreSQL is down when the service starts: 503 naming the cause, then it delivers."""
    stoppable_postgres.stop()
    proc = _Process(tmp_path, stoppable_postgres.dsn)
    try:
        batch = _positions(["p1", "p2"], [True, False])
        r = proc.http.post("/positions", params=_q(), json=batch)
        assert r.status_code == 503 and "cannot be reached" in r.text, r.text
        stoppable_postgres.start()
        proc.post("/positions", 1, json=batch)
        sent = proc.post("/alerts", 1, content=_alert())
        assert [d["device"] for d in sent["deliveries"]] == ["p1"]
    finally:
        proc.stop()


def _fill(place: Path, leave: int) -> Path:
    """Take all but ``leave`` bytes of the file system at ``place`` (one fallocate, no loop)."""
    st = os.statvfs(place)
    free = st.f_bavail * st.f_frsize
    filler = place / "filler"
    with open(filler, "wb") as f:
        os.posix_fallocate(f.fileno(), 0, max(free - leave, 0))
    st = os.statvfs(place)
    assert st.f_bavail * st.f_frsize <= leave, "the file system did not fill"
    return filler


@pytest.mark.slow
def test_disk_full_mid_batch_is_503_applies_nothing_and_recovers(
    tmp_path: Path, small_tmpfs: Any
) -> None:
    """The SQLite store's file system fills up in the middle of a batch under a running service.

    The store lives on a small tmpfs; all but 64 KiB of it is taken, less than the claims of a
    20,000-device batch need, so SQLite runs out of space part-way through writing the batch.
    The service answers 503 naming the cause (``StoreFull``) and keeps nothing of the batch (the
    store, read afterwards, holds only the earlier delivery; the position snapshot is not
    swapped either), /explain keeps answering, and once space is freed the same process
    delivers the whole batch. (A small write may still succeed on the full disk: SQLite reuses
    the write-ahead log's space that the failed batch took.)
    """
    place = small_tmpfs("16m")
    where = place / "d.db"
    proc = _Process(tmp_path, str(where))
    try:
        proc.post("/positions", 0, json=_positions(["p1"], [True]))
        first = proc.post("/alerts", 0, content=_alert())["deliveries"]
        assert [d["device"] for d in first] == ["p1"]
        ids = [f"device-{i:06d}-{'x' * 24}" for i in range(20_000)]
        batch = _positions(ids, [i % 4 != 0 for i in range(20_000)])
        filler = _fill(place, 64 * 1024)

        r = proc.http.post("/positions", params=_q(1), json=batch)
        assert r.status_code == 503, r.text
        assert "the disk or database is full" in r.text and "nothing was applied" in r.text
        assert str(where) in r.text  # names the store
        why = proc.http.get(
            "/explain", params={"incident": "polisen@polisen.se/SE-POL-1", "device": "p1", **_q(1)}
        )
        assert why.status_code == 200 and "p1" in why.text, why.text  # serves what it can

        filler.unlink()  # space is back
        store = SQLiteLedger(where)
        try:
            incident = store.incident("polisen@polisen.se/SE-POL-1")
            assert incident is not None
            assert store.recipients(incident.key).tolist() == ["p1"]  # nothing of the batch
            assert store.due(AT + dt.timedelta(hours=1)) != []  # p1, still pending, intact
        finally:
            store.close()
        ok = proc.post("/positions", 2, json=batch)["deliveries"]
        want = {d for i, d in enumerate(ids) if i % 4 != 0}
        assert {d["device"] for d in ok} == want and len(ok) == len(want)
    finally:
        proc.stop()


def test_a_fourth_kind_from_the_policy_file_reaches_devices_through_the_service(
    tmp_path: Path,
) -> None:
    """The service registers a kind from the file's [location_rules.<kind>] table and uses it."""
    from geotarget import Alert, AlertArea, Info, load_policy, sweden

    service = _service()
    policy = tmp_path / "policy.toml"
    policy.write_text(
        'timezone = "Europe/Stockholm"\nissuers = "any"\n'
        '[[kinds.chemical_release.phases]]\nstarts_at = 2024-04-15T00:00:00\nregions = ["01"]\n'
        '[[recognition]]\nname = "chem"\nkind = "chemical_release"\nevents = ["Gasutsläpp"]\n'
        "[location_rules.chemical_release]\ninclude_ambiguous = false\nmax_area_km2 = 10\n",
        encoding="utf-8",
    )
    loaded = load_policy(policy, catalog=sweden.hierarchy())
    assert loaded.location_rules["chemical_release"].max_area_km2 == 10.0
    info = Info(
        categories=["CBRNE"],
        event="Gasutsläpp",
        urgency="Immediate",
        severity="Severe",
        certainty="Observed",
        onset=AT,
        expires=AT + dt.timedelta(hours=1),
        areas=[AlertArea.from_area("Sergels torg", Circle(*SERGELS_TORG, 500.0))],
    )
    alert = Alert(identifier="G-1", sender="larm@example.se", sent=AT, status="Actual",
                  msg_type="Alert", scope="Public", infos=[info])  # fmt: skip
    app = service.create_app(SQLiteLedger(tmp_path / "d.db"), policy=policy)
    with TestClient(app) as client:
        client.post("/positions", params=_q(), json=_positions(["p1", "p2"], [True, False]))
        got = client.post("/alerts", params=_q(), content=cap.dumps(alert)).json()
    assert (got["verdict"], got["kind"], got["recognised_by"]) == (
        "DELIVER", "chemical_release", "chem"
    )  # fmt: skip
    assert [d["device"] for d in got["deliveries"]] == ["p1"]


def _fixes(**change: Any) -> bytes:
    body = _positions(["p1", "p2"], [True, False])
    body.update(change)
    return json.dumps(body).encode()


#: An integer of more digits than Python's int() converts (4,300 by default): json.loads
#: raised a plain ValueError, which was a 500.
BIG = "1" * 5000
#: Instants written with an offset whose UTC lies in the year 0 or 10000 (converting them
#: overflowed: a 500).
BEYOND_UTC = ["0001-01-01T00:00+14:00", "9999-12-31T23:59-14:00"]


def _raw(**member: str) -> bytes:
    """:func:`_fixes` with members written as raw JSON text."""
    body = {k: json.dumps(v) for k, v in _positions(["p1", "p2"], [True, False]).items()}
    body.update(member)
    return ("{" + ", ".join(f'"{k}": {v}' for k, v in body.items()) + "}").encode()


#: Bodies a client may send by mistake or on purpose: each is a 400 naming what is wrong (the
#: field, the value as JSON, cut when long, or a list's or object's type and size, and the
#: rule).
HOSTILE_POSITIONS = {
    "not JSON": (b"ids=p1&lon=18", "must be a JSON object"),
    "not UTF-8": (b"\xff\xfe{", "must be a JSON object"),
    "a JSON list": (b"[1, 2]", "request body must be a JSON object (got a JSON list of 2 values)"),
    "no lat": (b'{"ids": [], "lon": [], "accuracy_m": [], "observed_at": []}', "lacks 'lat'"),
    "accuracy null": (_fixes(accuracy_m=None), "accuracy_m must be a JSON list (got null)"),
    "lon a string": (_fixes(lon="18.0"), 'lon must be a JSON list (got "18.0")'),
    "a bool among lons": (_fixes(lon=[18.0, True]), "lon[1] must be a number or null (got true)"),
    "a text among lats": (
        _fixes(lat=["59.3", 57.7]),
        'lat[0] must be a number or null (got "59.3")',
    ),
    "nested lons": (
        _fixes(lon=[[18.0], 11.97]),
        "lon[0] must be a number or null (got a JSON list of 1 value)",
    ),
    "ragged times": (
        _fixes(observed_at=[["x"], "y"]),
        "observed_at[0] must be an ISO 8601 text with a UTC offset (got a JSON list of 1 value)",
    ),
    "nested times": (
        _fixes(observed_at=[[AT.isoformat()], [AT.isoformat()]]),
        "observed_at[0] must be an ISO 8601 text with a UTC offset (got a JSON list of 1 value)",
    ),
    "a time of null": (
        _fixes(observed_at=[AT.isoformat(), None]),
        "observed_at[1] must be an ISO 8601 text with a UTC offset (got null)",
    ),
    "a time as a number": (
        _fixes(observed_at=[1777930200, AT.isoformat()]),
        "observed_at[0] must be an ISO 8601 text with a UTC offset (got 1777930200)",
    ),
    "a huge time text": (
        _fixes(observed_at=[AT.isoformat(), "9" * 100_000]),
        "observed_at[1] must be an ISO 8601 date-time such as",
    ),
    "an id of null": (
        _fixes(ids=[None, "p2"]),
        "ids[0] must be a text or an integer id (got null)",
    ),
    "a nested id": (
        _fixes(ids=["p1", ["p2"]]),
        "ids[1] must be a text or an integer id (got a JSON list of 1 value)",
    ),
    "ids of two types": (_fixes(ids=[1, "p2"]), "ids must all be str or all be int"),
    "an id past 64 bits": (
        _fixes(ids=[1, 2**64]),
        "ids[1] must be an integer within a signed 64 bits, or a text (got 18446744073709551616)",
    ),
    "an id of 4,000 digits": (
        _raw(ids=f"[1, {'7' * 4000}]"),
        "ids[1] must be an integer within a signed 64 bits, or a text "
        "(got 77777777777777777777… (4,000 digits))",
    ),
    "columns of two lengths": (_fixes(lat=[59.3]), "lat"),
    "accuracy a bool": (
        _fixes(accuracy_m=[False, 8.0]),
        "accuracy_m[0] must be a number or null (got false)",
    ),
    "accuracy an object": (
        _fixes(accuracy_m={"p1": 8.0}),
        'accuracy_m must be a JSON list (got a JSON object of 1 member: "p1")',
    ),
    "a longitude past a float": (
        _raw(lon=f"[18.0, {'9' * 400}]"),
        "lon[1] must be a number a float holds (got 99999999999999999999… (400 digits))",
    ),
    "deeply nested": (b'{"ids": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "JSON"),
    **{
        f"an integer of 5,000 digits in {name}": (
            _raw(**{name: f"[{BIG}, 1]"}),
            f"{name}[0] must be a JSON number of at most 4,300 digits "
            "(got 11111111111111111111… (5,000 digits))",
        )
        for name in ("ids", "lon", "lat", "accuracy_m", "observed_at")
    },
    "an integer of 5,000 digits in an unknown member": (
        _raw(extra=f'{{"a": [0, -{BIG}]}}'),
        "extra.a[1] must be a JSON number of at most 4,300 digits "
        "(got -1111111111111111111… (5,000 digits))",
    ),
    **{
        f"observed_at {text}": (
            _fixes(observed_at=[AT.isoformat(), text]),
            f"observed_at[1] must lie within the years 1 to 9999 in UTC (got {text!r})",
        )
        for text in BEYOND_UTC
    },
}


@pytest.mark.parametrize("case", sorted(HOSTILE_POSITIONS))
def test_hostile_bodies_are_a_400_naming_the_field(refusing: TestClient, case: str) -> None:
    """Never a 500: the service names the field and the rule, and keeps its snapshot."""
    body, message = HOSTILE_POSITIONS[case]
    client = refusing
    r = client.post("/positions", params=_q(), content=body)
    assert r.status_code == 400, (r.status_code, r.text)
    assert message in r.text, r.text
    assert len(r.text) < 400 and "np." not in r.text, r.text  # bounded and plain
    assert client.post("/alerts", params=_q(), content=_alert()).status_code == 200


#: A fix whose coordinates and id must never come back in an answer: the 400's reader logs it.
_SECRET = {"id": "phone-0701234567", "lon": 18.0653917, "lat": 59.3326471}
_RECORD = {**_SECRET, "accuracy_m": 8.0, "observed_at": AT.isoformat()}

#: Bodies that carry a position pair (or a whole fix) where a scalar or the body belongs: each
#: is a 400 describing what came (its JSON type and size, an object's member names).
POSITION_PAIRS = {
    "records, not columns": (
        json.dumps([_RECORD, _RECORD]).encode(),
        "request body must be a JSON object (got a JSON list of 2 values)",
    ),
    "a record among ids": (
        _fixes(ids=["p1", _RECORD]),
        "ids[1] must be a text or an integer id (got a JSON object of 5 members: "
        '"id", "lon", "lat", "accuracy_m", "observed_at")',
    ),
    "a pair among lons": (
        _fixes(lon=[[_SECRET["lon"], _SECRET["lat"]], 11.97]),
        "lon[0] must be a number or null (got a JSON list of 2 values)",
    ),
    "a pair among times": (
        _fixes(observed_at=[AT.isoformat(), [_SECRET["lon"], _SECRET["lat"]]]),
        "observed_at[1] must be an ISO 8601 text with a UTC offset (got a JSON list of 2 values)",
    ),
    "lon an object": (
        _fixes(lon={"x": _SECRET["lon"], "y": _SECRET["lat"]}),
        'lon must be a JSON list (got a JSON object of 2 members: "x", "y")',
    ),
    # A pair written as one text ("lat,lon" as CAP and map apps write it), where a number, a
    # time or a column belongs: a text of two decimal numbers is described too.
    "a pair as text among lons": (
        _fixes(lon=[f"{_SECRET['lat']},{_SECRET['lon']}", 11.97]),
        "lon[0] must be a number or null (got a text of 21 characters holding two decimal "
        "numbers, not quoted: it may be a position)",
    ),
    "a pair as text among times": (
        _fixes(observed_at=[AT.isoformat(), f"{_SECRET['lat']} {_SECRET['lon']}"]),
        "observed_at[1] must be an ISO 8601 date-time such as 2024-05-20T14:00:00+02:00 (or "
        "...Z) (got a text of 21 characters holding two decimal numbers, not quoted: it may "
        "be a position)",
    ),
    "metres as text among lons": (
        _fixes(lon=["674032 6580822", 11.97]),
        "lon[0] must be a number or null (got a text of 14 characters holding two numbers of "
        "five digits or more, not quoted: it may be a position in metres)",
    ),
    "lon a text": (
        _fixes(lon=f"{_SECRET['lon']}, {_SECRET['lat']}"),
        "lon must be a JSON list (got a text of 22 characters holding two decimal numbers, "
        "not quoted: it may be a position)",
    ),
}


@pytest.mark.parametrize("case", sorted(POSITION_PAIRS))
def test_a_400_never_quotes_a_position_pair_or_a_fix(refusing: TestClient, case: str) -> None:
    """A list or object is described by its type and size, never quoted (it may be a position).

    The answer went back with the pair (or the whole fix, id and all) quoted as JSON; whoever
    reads a 400 logs it, and the service says that nothing of a request's positions is logged.
    """
    body, message = POSITION_PAIRS[case]
    r = refusing.post("/positions", params=_q(), content=body)
    assert (r.status_code, r.text) == (400, message)
    for value in _SECRET.values():
        assert str(value) not in r.text, r.text


def test_null_coordinates_are_a_device_without_a_fix(tmp_path: Path) -> None:
    """JSON has no NaN: null lon/lat is no fix (such a device is nobody's recipient)."""
    service = _service()
    with TestClient(service.create_app(SQLiteLedger(tmp_path / "d.db"))) as client:
        body = _fixes(lon=[SERGELS_TORG[0], None], lat=[SERGELS_TORG[1], None])
        assert client.post("/positions", params=_q(), content=body).status_code == 200
        got = client.post("/alerts", params=_q(), content=_alert()).json()
        assert [d["device"] for d in got["deliveries"]] == ["p1"]


def test_oversized_bodies_are_a_413_before_they_are_read(tmp_path: Path) -> None:
    """A declared or streamed body past the limit is refused; nothing of it is applied."""
    service = _service()
    limit = service.MAX_ALERT_BODY
    with TestClient(service.create_app(SQLiteLedger(tmp_path / "d.db"))) as client:
        r = client.post("/alerts", params=_q(), content=b" " * (limit + 1))
        assert r.status_code == 413 and f"at most {limit:,} are read" in r.text, r.text

        def chunks() -> Any:  # no content-length: the limit counts what arrives
            for _ in range(limit // 2**16 + 2):
                yield b" " * 2**16

        r = client.post("/alerts", params=_q(), content=chunks())
        assert r.status_code == 413, r.text
        assert client.post("/alerts", params=_q(), content=_alert()).status_code == 200


def test_bodies_held_at_once_are_bounded_and_one_past_the_budget_is_a_503(tmp_path: Path) -> None:
    """The bytes of bodies the process holds at once stay within ``max_inflight``.

    Before, every concurrent request buffered and parsed its body whatever the others held
    (six concurrent batches of 18 MB took the service from 66 MB to 797 MB resident). A
    body that would pass the budget is a 503 with ``Retry-After``, nothing of it applied;
    the budget is given back when a request is answered, also with a 400.
    """
    import asyncio

    import httpx2

    service = _service()
    app = service.create_app(SQLiteLedger(tmp_path / "d.db"), max_inflight=90_000)
    first = json.dumps(_positions([f"a{i}" for i in range(1000)], [True] * 1000)).encode()
    second = json.dumps(_positions([f"b{i}" for i in range(600)], [True] * 600)).encode()
    assert len(first) + len(second) > 90_000 > max(len(first), len(second))

    async def run() -> list[httpx2.Response]:
        taken, release = asyncio.Event(), asyncio.Event()

        async def slow() -> Any:  # the first body arrives, then its client waits
            yield first
            taken.set()  # (runs when the service asks for more: it holds the first part)
            await release.wait()

        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://s") as client:
            await client.post("/alerts", params=_q(), content=_alert())
            held = asyncio.create_task(client.post("/positions", params=_q(), content=slow()))
            await taken.wait()
            refused = await client.post("/positions", params=_q(), content=second)
            release.set()
            out = [refused, await held]
            out.append(await client.post("/positions", params=_q(), content=b"{" * 80_000))
            out.append(await client.post("/positions", params=_q(), content=second))
            return out

    refused, held, bad, again = asyncio.run(run())
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1", refused.text
    assert "GEOTARGET_MAX_INFLIGHT" in refused.text and "nothing of it was applied" in refused.text
    assert held.status_code == 200 and len(held.json()["deliveries"]) == 1000
    assert bad.status_code == 400, bad.text
    assert again.status_code == 200, again.text
    assert {d["device"] for d in again.json()["deliveries"]} == {f"b{i}" for i in range(600)}


def test_a_body_larger_than_the_whole_inflight_budget_is_a_413_not_a_503(tmp_path: Path) -> None:
    """A body the budget could never hold, even alone, answers 413, not "busy, retry".

    Before, with ``GEOTARGET_MAX_INFLIGHT`` below ``GEOTARGET_MAX_BODY``, a body between the two
    answered 503 with ``Retry-After`` while no other request held anything: a client sending
    it again, as told, was refused for ever.
    """
    service = _service()
    app = service.create_app(SQLiteLedger(tmp_path / "d.db"), max_inflight=20_000)
    body = json.dumps(_positions([f"a{i}" for i in range(1000)], [True] * 1000)).encode()
    assert len(body) > 20_000
    with TestClient(app) as client:
        r = client.post("/positions", params=_q(), content=body)
        assert r.status_code == 413, (r.status_code, r.text)
        assert "retry-after" not in r.headers
        assert "GEOTARGET_MAX_INFLIGHT" in r.text
        small = json.dumps(_positions(["a0"], [True])).encode()
        assert client.post("/positions", params=_q(), content=small).status_code == 200


def test_redeliver_offers_at_most_its_limit_per_call(tmp_path: Path) -> None:
    """``/redeliver`` offers at most ``?limit=`` (default REDELIVER_LIMIT) deliveries a call.

    Before, one call leased and answered every due delivery: after a push outage over a
    300,000-device alert, one answer of 34 MB (the process grew by 156 MB), all of them
    leased to one caller that had to push them within the lease.
    """
    service = _fresh()
    service.REDELIVER_LIMIT = 12
    ids = [f"p{i}" for i in range(30)]
    with TestClient(service.create_app(SQLiteLedger(tmp_path / "d.db"))) as client:
        client.post("/positions", params=_q(), json=_positions(ids, [True] * 30))
        told = client.post("/alerts", params=_q(), content=_alert()).json()["deliveries"]
        assert len(told) == 30  # pushed, never confirmed
        late = _q(minutes=5)
        first = client.post("/redeliver", params={**late, "limit": "5"}).json()["deliveries"]
        second = client.post("/redeliver", params=late).json()["deliveries"]
        third = client.post("/redeliver", params=late).json()["deliveries"]
        fourth = client.post("/redeliver", params=late).json()["deliveries"]
        assert [len(first), len(second), len(third), len(fourth)] == [5, 12, 12, 1]
        offered = [d["device"] for d in first + second + third + fourth]
        assert sorted(offered) == sorted(ids)  # each once, none lost
        assert client.post("/redeliver", params=late).json()["deliveries"] == []
        for bad in ("0", "13", "-1", "x", "1" * 40):
            r = client.post("/redeliver", params={**late, "limit": bad})
            assert r.status_code == 400 and "'limit' must be a whole number from 1 to 12" in r.text


def test_positions_without_accuracy_are_a_400_saying_a_fix_is_never_exact(tmp_path: Path) -> None:
    """A batch without accuracy_m is refused, naming it and why, and nobody is claimed."""
    service = _service()
    body = _positions(["p1", "p2"], [True, False])
    del body["accuracy_m"]
    with TestClient(service.create_app(SQLiteLedger(tmp_path / "d.db"))) as client:
        assert client.post("/alerts", params=_q(), content=_alert()).status_code == 200
        r = client.post("/positions", params=_q(), json=body)
        assert r.status_code == 400, r.text
        assert r.text == (
            "request body lacks 'accuracy_m' (needs ids, lon, lat, accuracy_m, observed_at): "
            "a fix is never taken as exact; give each fix's horizontal accuracy in metres "
            "(the 68 % radius phones report), 0 only for a fix known to be exact"
        )
        got = client.post("/positions", params=_q(), json=_positions(["p1"], [True])).json()
        assert [d["device"] for d in got["deliveries"]] == ["p1"]


def test_unknown_members_are_a_400_naming_them(tmp_path: Path) -> None:
    """An accuracy under another name (hAcc, horizontalAccuracy) is refused, not ignored."""
    service = _service()
    body: dict[str, Any] = _positions(["p1", "p2"], [True, False])
    del body["accuracy_m"]
    body["hAcc"] = body["horizontalAccuracy"] = [8.0, 8.0]
    many = {**_positions(["p1"], [True]), **{f"x{i:02}": 0 for i in range(12)}}
    with TestClient(service.create_app(SQLiteLedger(tmp_path / "d.db"))) as client:
        r = client.post("/positions", params=_q(), json={**body, "accuracy_m": [8.0, 8.0]})
        assert r.status_code == 400, r.text
        assert r.text == (
            'request body has unknown member(s) "hAcc", "horizontalAccuracy" (takes only ids, '
            "lon, lat, accuracy_m, observed_at, tester; an unknown member is refused, not ignored: "
            "rename it if it is one of these)"
        )
        r = client.post("/positions", params=_q(), json=body)  # lacking comes first
        assert r.status_code == 400 and "lacks 'accuracy_m'" in r.text, r.text
        r = client.post("/positions", params=_q(), json=many)
        assert r.status_code == 400, r.text
        assert '"x00", "x01"' in r.text and '"x09" and 2 more (takes only' in r.text, r.text
        r = client.post("/confirm", params=_q(), json={"keys": [], "key": "a 1 b"})
        assert r.status_code == 400 and 'unknown member(s) "key" (takes only keys;' in r.text


def test_confirm_and_explain_refuse_what_they_cannot_read(tmp_path: Path) -> None:
    """/confirm needs {"keys": [...]}; /explain needs incident and device: 400s, not 500s."""
    service = _service()
    with TestClient(service.create_app(SQLiteLedger(tmp_path / "d.db"))) as client:
        for body, message in [
            (b'{"keys": "k1"}', 'keys must be a JSON list (got "k1")'),
            (b"{}", "lacks 'keys'"),
            (b'{"keys": [1, 2]}', "keys"),
        ]:
            r = client.post("/confirm", params=_q(), content=body)
            assert r.status_code == 400 and message in r.text, (body, r.text)
        r = client.get("/explain", params={"incident": "x"})
        assert r.status_code == 400 and "'device' is required" in r.text, r.text
        r = client.get("/explain", params={"device": "p1"})
        assert r.status_code == 400 and "'incident' is required" in r.text, r.text


_KEY_RULE = "must be a delivery key 'incident version device' (three parts, no NUL)"


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        (f'["a b c", {BIG}]', "keys[1] must be a JSON number of at most 4,300 digits "
                              "(got 11111111111111111111… (5,000 digits))"),
        (json.dumps(["x" * 100_000]),
         f'keys[0] {_KEY_RULE} (got "{"x" * 80}…" (100,000 characters))'),
        (json.dumps(["a b c", ["a b c"]]), f"keys[1] {_KEY_RULE} (got a JSON list of 1 value)"),
        (json.dumps([None]), f"keys[0] {_KEY_RULE} (got null)"),
        (json.dumps(["a b c\x00"]), f'keys[0] {_KEY_RULE} (got "a b c\\u0000")'),
        (json.dumps(["a  c"]), f'keys[0] {_KEY_RULE} (got "a  c")'),
        ('["a b \\ud800"]', f'keys[0] {_KEY_RULE} (got "a b \\ud800")'),
    ],
)  # fmt: skip
def test_confirm_names_a_bad_key_plainly_and_briefly(
    refusing: TestClient, keys: str, message: str
) -> None:
    """A bad key is a 400 quoting it as JSON, cut when long (it was echoed whole, as np.str_)."""
    r = refusing.post("/confirm", params=_q(), content=f'{{"keys": {keys}}}'.encode())
    assert (r.status_code, r.text) == (400, message)
    ok = refusing.post("/confirm", params=_q(), json={"keys": ["a b c"]})
    assert ok.json() == {"confirmed": 0, "already": 0, "unknown": 1}


def test_every_400_is_bounded_and_encodable() -> None:
    """The answer to any refusal is at most MAX_MESSAGE characters (plus a note) of UTF-8."""
    service = _service()
    text = service._plain("x" * 10**6 + "\ud800")
    assert len(text) < service.MAX_MESSAGE + 40 and text.endswith("(cut: 1,000,001 characters)")
    assert service._plain("a\ud800b") == "a\\ud800b"


def test_a_client_that_hangs_up_mid_body_costs_no_traceback(tmp_path: Path) -> None:
    """Every dropped upload cost ~40 lines of uvicorn log (ClientDisconnect); now none.

    The real service on a Unix socket, stopped by its PID; its log is read afterwards.
    """
    import signal
    import socket
    import subprocess
    import sys
    import time

    root = Path(__file__).resolve().parents[1]
    if not (root / "examples" / "service" / "app.py").exists():
        pytest.skip("examples/service is not beside the tests (an installed-wheel run)")
    sock = str(tmp_path / "svc.sock")
    log = tmp_path / "service.log"
    env = {**os.environ, "GEOTARGET_STORE": str(tmp_path / "d.db")}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "examples.service.app:app",
             "--uds", sock, "--log-level", "info"],
            cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (Path(sock).exists() and _listening(sock)):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        for path in ("/alerts", "/positions", "/confirm"):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.connect(sock)
                s.sendall(
                    f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{{".encode()
                )
                time.sleep(0.2)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:  # still answering
            s.connect(sock)
            s.sendall(b"POST /redeliver HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
            assert s.recv(100).startswith(b"HTTP/1.1 200"), log.read_text()
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    text = log.read_text()
    assert "Traceback" not in text and "ClientDisconnect" not in text, text
    assert "Exception in ASGI application" not in text, text


def test_an_alert_not_active_yet_answers_when_to_send_it_again(tmp_path: Path) -> None:
    """NOT_YET_ACTIVE with ``next_change`` (the onset); at it, ``/redeliver`` delivers it."""
    service = _service()
    with TestClient(service.create_app(SQLiteLedger(tmp_path / "d.db"))) as client:
        client.post("/positions", params=_q(), json=_positions(["p1"], [True]))
        msg = alerts.Message(
            headline="Sprängning", description="Håll avstånd.", area_description="C"
        )
        soon = AT + dt.timedelta(minutes=30)
        later = cap.dumps(
            alerts.explosion(
                identifier="SE-POL-9", sender="polisen@polisen.se", sent=AT,
                area=Circle(*SERGELS_TORG, 500.0), sv=msg, en=msg, onset=soon,
                expires=soon + dt.timedelta(hours=1),
            )
        )  # fmt: skip
        early = client.post("/alerts", params=_q(), content=later).json()
        assert early["verdict"] == "NOT_YET_ACTIVE" and early["deliveries"] == []
        assert early["next_change"] is not None
        when = dt.datetime.fromisoformat(early["next_change"])
        assert when == soon
        at = {"at": when.isoformat()}
        client.post("/positions", params=at, json=_positions(["p1"], [True]))
        before = {"at": (when - dt.timedelta(seconds=1)).isoformat()}
        assert client.post("/redeliver", params=before).json() == {"deliveries": []}
        due = client.post("/redeliver", params=at).json()["deliveries"]
        assert [(d["device"], d["kind"]) for d in due] == [("p1", "alert")]
        assert client.post("/redeliver", params=at).json() == {"deliveries": []}  # leased
        got = client.post("/alerts", params=at, content=later).json()  # posted again: no one new
        assert got["verdict"] == "DELIVER" and got["next_change"] is None
        assert got["deliveries"] == []


def test_a_member_given_twice_is_a_400_naming_it(tmp_path: Path) -> None:
    """A JSON object with one member twice is refused, naming it, and nothing is applied.

    Python's reader kept the last value without a word (another reader keeps the first): a
    batch ``{"lon": [11.97], ..., "lon": [18.07]}`` placed the device at the second longitude
    and it was told of an alert there.
    """
    service = _service()
    twice = (
        b'{"ids": ["p9"], "lon": [11.97333], "lat": [57.70889], "accuracy_m": [8.0], '
        b'"observed_at": ["2026-05-04T21:30:00+00:00"], "lon": [18.06528], "lat": [59.3325]}'
    )
    key = "polisen@polisen.se/SE-POL-1 polisen@polisen.se/SE-POL-1 p1"
    with TestClient(service.create_app(SQLiteLedger(tmp_path / "d.db"))) as client:
        client.post("/positions", params=_q(), json=_positions(["p1"], [True]))
        assert client.post("/alerts", params=_q(), content=_alert()).status_code == 200
        r = client.post("/positions", params=_q(), content=twice)
        assert (r.status_code, r.text) == (
            400,
            'request body has the member "lon" more than once (a JSON object\'s member names '
            "must be unique: readers differ on which value counts, so none is taken)",
        )
        r = client.post("/confirm", params=_q(), content=f'{{"keys": [], "keys": ["{key}"]}}')
        assert r.status_code == 400 and 'the member "keys" more than once' in r.text, r.text
        r = client.post("/positions", params=_q(), content=b'{"x": {"a": 1, "a": 2}}')
        assert r.status_code == 400 and 'the member "a" more than once' in r.text, r.text
        # Nothing of them was applied: p9 is nobody's recipient, p1's delivery is unconfirmed.
        assert store_recipients(tmp_path / "d.db") == ["p1"]
        done = client.post("/confirm", params=_q(), json={"keys": [key]}).json()
        assert done == {"confirmed": 1, "already": 0, "unknown": 0}


def store_recipients(path: Path) -> list[str]:
    """The devices the SQLite store at ``path`` claimed for the test alert."""
    store = SQLiteLedger(path)
    try:
        return sorted(store.recipients("polisen@polisen.se/SE-POL-1").tolist())
    finally:
        store.close()


#: One text far longer than the others, among many short ones: as a fixed-width numpy array
#: (4 bytes a character of the longest text, for every row) 200,001 rows of 2,000,000
#: characters ask for 1.6 TB, more than any machine's memory (a MemoryError, not swapping),
#: and 3,000 times the service's budget of bytes; the body is a few MB, cheap to send and read.
#: (It was 2,000,001 rows of 20,000,000 characters, 160 TB: the size is not what is probed.)
_LONG, _ROWS = 2_000_000, 200_000


def test_one_long_time_among_many_short_ones_is_a_400_not_a_500(tmp_path: Path) -> None:
    """observed_at with one very long text among short ones: a 400 naming it, memory bounded.

    The times became one fixed-width text array before they were read: one text of 2 M
    characters among 200,000 short ones asks for 1.6 TB (a 500 with a MemoryError; a smaller one
    took gigabytes).
    """
    service = _service()
    body = _positions(["p1"], [True])
    body["observed_at"] = ["2026-05-04T21:30:00Z" + " " * _LONG] + ["x"] * _ROWS
    with TestClient(service.create_app(SQLiteLedger(tmp_path / "d.db"))) as client:
        r = client.post("/positions", params=_q(), content=json.dumps(body).encode())
        assert r.status_code == 400, (r.status_code, r.text[:300])
        assert r.text.startswith("observed_at[0] must be an ISO 8601 date-time"), r.text
        assert len(r.text) < 400


def test_one_long_key_among_many_short_ones_is_a_413_not_a_500(tmp_path: Path) -> None:
    """/confirm with one very long key among short ones: a 413 saying why, nothing applied.

    The store reads keys as one fixed-width text array (4 bytes a character of the longest key,
    for every key): one key of 2 M characters among 200,000 short ones asks for 1.6 TB (a 500
    with a MemoryError; a smaller one took gigabytes, past every bound of the service). What
    the keys take so is now held in the service's budget of bytes, as a body is.
    """
    service = _service()
    keys = ["a b " + "c" * _LONG] + ["a b c"] * _ROWS
    with TestClient(service.create_app(SQLiteLedger(tmp_path / "d.db"))) as client:
        r = client.post("/confirm", params=_q(), content=json.dumps({"keys": keys}).encode())
        assert r.status_code == 413, (r.status_code, r.text[:300])
        assert r.text == (
            "keys: 200,001 keys, the longest of 2,000,004 characters (keys[0]), take "
            f"{4 * len(keys) * len(keys[0]):,} bytes as the store reads them (4 bytes a "
            "character of the longest key, for every key), more than the "
            f"{service.MAX_INFLIGHT:,} the service holds at once (GEOTARGET_MAX_INFLIGHT): "
            "nothing was applied; send fewer keys at once (a long one in a request of its own)"
        ), r.text
        ok = client.post("/confirm", params=_q(), json={"keys": keys[:1] + keys[1:3]})
        assert ok.json() == {"confirmed": 0, "already": 0, "unknown": 2}


def test_a_confirm_over_too_many_alert_versions_is_a_400(tmp_path: Path) -> None:
    """Keys of more alert versions than MAX_CONFIRM_VERSIONS in one /confirm: a 400.

    Each version costs the store its own queries inside one write transaction (and the
    grouping compared every key with every version): 200,000 keys of made-up versions held
    the store's write lock for minutes, every other process waiting on it.
    """
    service = _service()
    keys = [f"i{i} v{i} d" for i in range(service.MAX_CONFIRM_VERSIONS + 1)]
    with TestClient(service.create_app(SQLiteLedger(tmp_path / "d.db"))) as client:
        r = client.post("/confirm", params=_q(), json={"keys": keys})
        assert (r.status_code, r.text) == (
            400,
            f"keys name {len(keys):,} alert versions ('incident version' pairs): at most "
            f"{service.MAX_CONFIRM_VERSIONS:,} in one request (a push service confirms the keys "
            "of a few alerts; split the keys by alert); nothing was applied",
        )
        ok = client.post("/confirm", params=_q(), json={"keys": [*keys[:-1], "i0 v0 e"]})
        assert ok.json() == {"confirmed": 0, "already": 0, "unknown": len(keys)}


def test_explain_runs_off_the_event_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``/explain`` previews the alert in a worker thread, never on the event loop.

    ``Targeter.preview`` ran on the loop: over a snapshot of a million devices each call
    stopped the process for most of a second, every other request (batches, confirmations)
    waiting behind it.
    """
    import asyncio

    from geotarget import Targeter

    service = _service()
    on_loop: list[bool] = []
    preview = Targeter.preview

    def watched(self: Any, *args: Any, **kw: Any) -> Any:
        try:
            asyncio.get_running_loop()
            on_loop.append(True)
        except RuntimeError:
            on_loop.append(False)
        return preview(self, *args, **kw)

    monkeypatch.setattr(Targeter, "preview", watched)
    with TestClient(service.create_app(SQLiteLedger(tmp_path / "d.db"))) as client:
        client.post("/positions", params=_q(), json=_positions(["p1"], [True]))
        assert client.post("/alerts", params=_q(), content=_alert()).status_code == 200
        why = client.get(
            "/explain", params={"incident": "polisen@polisen.se/SE-POL-1", "device": "p1", **_q()}
        )
        assert why.status_code == 200 and "p1" in why.text, why.text
    assert on_loop == [False]


def test_columns_of_other_lengths_are_refused_before_the_ids_are_read(tmp_path: Path) -> None:
    """Columns of different lengths are a 400 before the ids become a fixed-width array.

    Text ids become one array of 4 bytes a character of the longest id, for every row: a body
    of 400,000 short ids and one of 256 characters, its other columns of one value, took
    400 MB before the lengths were compared (a body of 256 MB of such ids, 30 GB).
    """
    import tracemalloc

    service = _service()
    body = _positions(["p1"], [True])
    body["ids"] = ["x" * 256] + [f"{i:x}" for i in range(400_000)]
    raw = json.dumps(body).encode()
    with TestClient(service.create_app(SQLiteLedger(tmp_path / "d.db"))) as client:
        tracemalloc.start()
        try:
            r = client.post("/positions", params=_q(), content=raw)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 100 * 2**20, f"{peak:,} bytes at the peak"
        assert (r.status_code, r.text) == (
            400,
            "lon has 1 value, ids 400,001: every column holds one value per fix, in the "
            "order of ids",
        )
