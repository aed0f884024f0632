"""The reference service as operators run it: configuration mistakes, query strings, stalled bodies.

Each test runs the service as ``uvicorn --factory examples.service.app:app`` in its own process
(on a Unix socket), or in-process through Starlette's test client where no process is needed.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from service_helpers import SERVICE, service_module
from starlette.testclient import TestClient

from geotarget.errors import InvalidInput, StoreError
from geotarget.ledger import SQLiteLedger

ROOT = Path(__file__).resolve().parents[1]
AT = dt.datetime(2026, 5, 4, 21, 30, tzinfo=dt.timezone.utc)


def _service() -> Any:
    return service_module("app.py", "_geotarget_service_probe")


def _uvicorn(sock: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    if not (SERVICE / "app.py").exists():
        pytest.skip("examples/service is not beside the tests (an installed-wheel run)")
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "uvicorn", "--factory", "examples.service.app:app"),
            *("--uds", str(sock), "--log-level", "warning"),
        ],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _connect(sock: Path, proc: subprocess.Popen[bytes]) -> socket.socket:
    """A connection to the service's socket once it listens (at most 60 s)."""
    for _ in range(1200):
        assert proc.poll() is None, proc.communicate()[1].decode()
        if sock.exists():
            conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                conn.connect(str(sock))
            except OSError:
                conn.close()
            else:
                return conn
        time.sleep(0.05)
    raise AssertionError("the service did not listen in 60 s")


def _answer(conn: socket.socket) -> bytes:
    """Everything the service sends until it closes the connection (at most 60 s)."""
    conn.settimeout(60)
    got = b""
    while chunk := conn.recv(65536):
        got += chunk
    return got


_MISTAKES = {
    "policy file missing": ({"GEOTARGET_POLICY": "{tmp}/nowhere.toml"}, "nowhere.toml"),
    "policy file not TOML": ({"GEOTARGET_POLICY": "{tmp}/bad.toml"}, "bad.toml"),
    "max body with a unit": ({"GEOTARGET_MAX_BODY": "256M"}, "GEOTARGET_MAX_BODY"),
    "max inflight zero": ({"GEOTARGET_MAX_INFLIGHT": "0"}, "GEOTARGET_MAX_INFLIGHT"),
    "body seconds negative": ({"GEOTARGET_BODY_SECONDS": "-5"}, "GEOTARGET_BODY_SECONDS"),
    "store a directory": ({"GEOTARGET_STORE": "{tmp}"}, "not a directory"),
    "store not a database": ({"GEOTARGET_STORE": "{tmp}/bad.toml"}, "not a SQLite database"),
    "store a sqlite URL": ({"GEOTARGET_STORE": "sqlite:///{tmp}/d.db"}, "sqlite:// URL"),
    "store a DSN libpq cannot parse": ({"GEOTARGET_STORE": "dbnme=alerts"}, "'dbnme'"),
    "store a DSN whose port is no number": (
        {"GEOTARGET_STORE": "postgresql://localhost:notaport/db"},
        "port must be a whole number",
    ),
    "store with a line end": ({"GEOTARGET_STORE": "{tmp}/d.db\n"}, "must not start or end"),
    "a misspelt variable": (
        {"GEOTARGET_STORAGE": "{tmp}/d.db"},
        "sets GEOTARGET_STORAGE, which the service does not read",
    ),
}


#: One mistake of each kind (the policy file, a number, a store path, a DSN, a variable's
#: name), run as uvicorn runs the service: a process of its own each.
_IN_A_PROCESS = [
    "policy file not TOML",
    "max inflight zero",
    "store not a database",
    "store a DSN whose port is no number",
    "a misspelt variable",
]


@pytest.mark.parametrize("case", sorted(_MISTAKES))
def test_a_configuration_mistake_is_refused_at_the_start_with_its_message(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every mistake: the service's start raises ``SystemExit`` with the message naming it.

    The start as uvicorn's ``--factory`` makes it: the module read (with the environment),
    then ``app()``. ``SystemExit`` with a text is exit status 1 and that text on stderr, with
    no traceback; any other exception would be the traceback this was. One case of each kind
    also runs in its own uvicorn process, below (status, stderr, no socket).
    """
    (tmp_path / "bad.toml").write_text("rollout = [\n", encoding="utf-8")
    env, named = _MISTAKES[case]
    env = {k: v.format(tmp=tmp_path) for k, v in env.items()}
    env.setdefault("GEOTARGET_STORE", str(tmp_path / "d.db"))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stopped:
        _service().app()
    message = stopped.value.code
    assert isinstance(message, str), message
    assert message.startswith("examples.service: cannot start: ") and named in message, message


@pytest.mark.slow
@pytest.mark.parametrize("case", _IN_A_PROCESS)
def test_a_configuration_mistake_stops_the_service_with_its_message(
    case: str, tmp_path: Path
) -> None:
    """Exit status 1 and the message naming the mistake on stderr; no traceback, no socket.

    Before, each was a traceback of about fifty lines through click and uvicorn (the env values
    were read by ``int()`` at import: ``ValueError: invalid literal``), or, for a store that
    is not one, a service answering 503 to every request for as long as it ran. (One mistake
    of each kind in a process; every one is refused in-process above.)
    """
    (tmp_path / "bad.toml").write_text("rollout = [\n", encoding="utf-8")
    env, named = _MISTAKES[case]
    env = {k: v.format(tmp=tmp_path) for k, v in env.items()}
    env.setdefault("GEOTARGET_STORE", str(tmp_path / "d.db"))
    sock = tmp_path / "svc.sock"
    proc = _uvicorn(sock, env)
    try:
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    text = err.decode()
    assert proc.returncode == 1, text
    assert "examples.service: cannot start: " in text and named in text, text
    assert "Traceback" not in text, text
    assert not sock.exists()


def test_a_libpq_keyword_dsn_is_postgresql_not_a_new_sqlite_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``GEOTARGET_STORE="host=... dbname=..."`` in any keyword order opens PostgreSQL.

    Before, only a DSN starting with ``host=`` was one: ``dbname=alerts host=db`` made a new
    SQLite file of that name in the working directory, a store no other instance shared, so
    each instance told every device again.
    """
    service = _service()
    monkeypatch.chdir(tmp_path)
    for dsn in ("dbname=alerts host=/nonexistent", "port=1 host=127.0.0.1 connect_timeout=2"):
        monkeypatch.setenv("GEOTARGET_STORE", dsn)
        with pytest.raises(StoreError, match="PostgreSQL store"):
            service.store_from_env()
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setenv("GEOTARGET_STORE", "postgresql+psycopg://svc:secret@db/alerts")
    with pytest.raises(InvalidInput, match=r"postgresql\+psycopg:// URL") as refused:
        service.store_from_env()
    assert "secret" not in str(refused.value)  # a DSN's password is never quoted
    monkeypatch.setenv("GEOTARGET_STORE", "deliveries.db")  # a plain path is still SQLite
    store = service.store_from_env()
    try:
        assert isinstance(store, SQLiteLedger)
    finally:
        store.close()


@pytest.fixture(scope="module")
def queries(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One in-process service for the module's refused queries (each a 400 applying nothing).

    A case's request is refused before anything is read or applied, and the request sent after
    it (``/redeliver`` with no alert in the store) leases nothing: none leaves state another
    case reads, so one app and store serve them all instead of one each.
    """
    service = _service()
    store = SQLiteLedger(tmp_path_factory.mktemp("queries") / "d.db")
    with TestClient(service.create_app(store)) as shared:
        yield shared


@pytest.mark.parametrize(
    ("method", "path", "query", "named"),
    [
        ("POST", "/redeliver", "at=2026-05-04T21:30Z&at=2026-05-04T23:30Z", "'at' is given 2"),
        ("POST", "/redeliver", "limit=5&limit=10000", "'limit' is given 2"),
        ("GET", "/explain", "incident=a&incident=b&device=d", "'incident' is given 2"),
        ("POST", "/redeliver", "time=2026-05-04T21:30Z", 'parameter(s) "time"'),
        ("POST", "/redeliver", "limt=5", 'parameter(s) "limt" (takes only at, limit'),
        ("POST", "/positions", "At=2026-05-04T21:30Z", '"At" (takes only at;'),
        ("POST", "/alerts", "at=2026-05-04T21:30Z&dry_run=1", '"dry_run"'),
        ("POST", "/confirm", "at=2026-05-04T21:30Z&keys=a", '"keys"'),
        ("GET", "/explain", "incident=a&device=d&verbose=1", '"verbose"'),
    ],
)
def test_a_query_parameter_given_twice_or_unknown_is_a_400_naming_it(
    queries: TestClient, method: str, path: str, query: str, named: str
) -> None:
    """Neither value of ``?at=A&at=B`` is taken, and an unknown parameter is not ignored.

    Before, Starlette's reader took the last ``at`` (proxies and other frameworks take the
    first: two readers of one request acted at different instants), and ``?time=`` or
    ``?limt=`` were dropped without a word: the request ran at the present, or with the
    default limit, as a JSON member under another name would have.
    """
    r = queries.request(method, f"{path}?{query}", content=b"")
    assert r.status_code == 400, r.text
    assert named in r.text
    # The same request without the fault is read (and answered, whatever the answer).
    assert queries.post("/redeliver?at=2026-05-04T21:30Z&limit=5").status_code == 200


def test_a_body_that_stops_arriving_is_a_408_and_gives_back_its_bytes(tmp_path: Path) -> None:
    """A client that stops mid-body (its host gone, no FIN) no longer holds the budget forever.

    Before, the request waited for the rest of its body for as long as the process ran,
    holding its bytes of ``GEOTARGET_MAX_INFLIGHT``: every later batch that did not fit
    beside it was a 503 "busy", for good, and each such client held a file descriptor.
    """
    sock = tmp_path / "svc.sock"
    proc = _uvicorn(
        sock,
        {
            "GEOTARGET_STORE": str(tmp_path / "d.db"),
            "GEOTARGET_MAX_INFLIGHT": "100000",
            "GEOTARGET_BODY_SECONDS": "1",
        },
    )
    try:
        stalled = _connect(sock, proc)
        with stalled:
            head = b"POST /positions HTTP/1.1\r\nHost: s\r\nContent-Length: 90000\r\n\r\n"
            stalled.sendall(head + b" " * 80_000)  # ... and nothing more: the client is gone
            answer = _answer(stalled)  # the service closes the connection after answering
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
        assert b"did not arrive within 1 seconds (GEOTARGET_BODY_SECONDS; 80,000 bytes came)" in (
            answer
        )
        # Its bytes were given back: a batch needing most of the budget is read at once.
        body = b"{}" + b" " * 60_000
        with _connect(sock, proc) as conn:
            conn.sendall(
                b"POST /positions?at=2026-05-04T21:30Z HTTP/1.1\r\nHost: s\r\nConnection: close"
                + f"\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            after = _answer(conn)
        assert after.startswith(b"HTTP/1.1 400 "), after[:200]  # read: "lacks 'ids'"
        assert b"request body lacks 'ids'" in after
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def _load() -> Any:
    return service_module("load.py", "_geotarget_service_load_probe")


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--clients", "0"], "--clients: must be a whole number from 1 (got '0')"),
        (["--devices", "300000"], "--devices: must be a whole number from 1 to 200,000"),
        (["--batches", "0"], "--batches: must be a whole number from 1"),
        (["--alerts", "-1"], "--alerts: must be a whole number from 0"),
        (["--rate", "-1"], "--rate: must be a number, 0 or more (got '-1')"),
        (["--rate", "nan"], "--rate: must be a number, 0 or more"),
        (["--max-seconds", "0"], "--max-seconds: must be a number, more than 0"),
    ],
)
def test_the_load_run_refuses_values_it_cannot_use_before_starting_the_service(
    argv: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A usage error naming the option (exit status 2), before any process starts.

    Before, ``--clients 0`` and ``--devices`` past the 200,000 devices the batches draw from
    were tracebacks after the service had started, and ``--rate -1`` an unpaced run unsaid.
    """
    load = _load()
    with pytest.raises(SystemExit) as stopped:
        load.main(argv)
    assert stopped.value.code == 2
    assert named in capsys.readouterr().err


# (While the service starts, each refused connect leaves its socket to the collector, inside
# the HTTP client: ResourceWarnings of the client's, not of the run's files.)
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_the_load_run_leaves_no_directory_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run's socket and temporary store go with it; it left a ``gt-load-*`` directory."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    got = _load().run(rate=0, batches=2, devices=50, n_alerts=1, updates_every=0, clients=1)
    assert got["batches"] == 2 and got["requests"] >= 3
    assert got["store"] == "a temporary SQLite file, removed"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("path", ["/alerts", "/positions", "/confirm"])
def test_a_bad_query_is_refused_before_the_body_is_read(queries: TestClient, path: str) -> None:
    """``?at=`` is read before the body: a batch of many megabytes is not parsed to be refused.

    Before, ``/positions?at=yesterday`` parsed (and for a good body checked) the whole batch,
    then refused it for its ``at``; a bad body hid the bad ``at`` behind its own 400.
    """
    r = queries.post(f"{path}?at=yesterday", content=b"{not JSON, nor CAP")
    assert r.status_code == 400 and r.text.startswith("at must be an ISO 8601"), r.text


class _Instance:
    """One service process on its own Unix socket, over a store shared with the others."""

    def __init__(self, tmp: Path, store: str) -> None:
        import httpx2

        self.sock = tmp / f"svc-{os.urandom(4).hex()}.sock"
        self.proc = _uvicorn(self.sock, {"GEOTARGET_STORE": store})
        _connect(self.sock, self.proc).close()
        self.http = httpx2.Client(
            transport=httpx2.HTTPTransport(uds=str(self.sock)), base_url="http://s", timeout=60
        )

    def post(self, path: str, minutes: float, **kw: Any) -> Any:
        at = (AT + dt.timedelta(minutes=minutes)).isoformat()
        r = self.http.post(path, params={"at": at}, **kw)
        assert r.status_code == 200, r.text
        return r.json()

    def stop(self) -> None:
        self.http.close()
        self.proc.terminate()
        self.proc.communicate(timeout=30)


_CENTRE = (18.06528, 59.3325)


def _cap(identifier: str, radius_m: float, after_s: int = 0, kind: str = "Alert") -> str:
    import attrs

    from geotarget import Circle, alerts, cap

    msg = alerts.Message(
        headline="Explosionsrisk", description="Lämna området.", area_description="Sergels torg"
    )
    alert = alerts.explosion(
        identifier=identifier,
        sender="polisen@polisen.se",
        sent=AT + dt.timedelta(seconds=after_s),
        area=Circle(*_CENTRE, radius_m),
        sv=msg,
        en=msg,
        onset=AT,
        expires=AT + dt.timedelta(hours=2),
    )
    if kind != "Alert":
        first = alerts.Reference(sender="polisen@polisen.se", identifier="M-1", sent=AT)
        alert = attrs.evolve(alert, msg_type=alerts.MessageType(kind), references=(first,))
    return cap.dumps(alert)


def _east(metres: list[int]) -> dict[str, Any]:
    """Devices ``e<m>`` ``m`` metres due east of the centre, each fix within 2 m."""
    import math

    per_degree = 111_320 * math.cos(math.radians(_CENTRE[1]))
    return {
        "ids": [f"e{m}" for m in metres],
        "lon": [_CENTRE[0] + m / per_degree for m in metres],
        "lat": [_CENTRE[1]] * len(metres),
        "accuracy_m": [2.0] * len(metres),
        "observed_at": [AT.isoformat()] * len(metres),
    }


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_three_processes_on_one_store_share_an_incident_from_alert_to_cancel(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The Alert posted to all three at once, the Update to a second, the Cancel to a third.

    Oracle: the distances (500 m, then 1,000 m; devices every 50 m, none within 20 m of a
    border). Every device inside is told once over the three answers, the Update tells only
    the newly covered ones whichever process holds them, the Cancel retracts from exactly
    those told, and no process tells anyone after it.
    """
    store = (
        request.getfixturevalue("postgres_dsn") if kind == "postgres" else str(tmp_path / "d.db")
    )
    metres = [m for m in range(0, 1600, 50) if m % 500]  # (none on a border)
    slices = [metres[0:12], metres[6:20], metres[14:]]  # each process its own batch, overlapping
    procs = [_Instance(tmp_path, store) for _ in range(3)]
    try:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(3) as pool:
            list(
                pool.map(lambda k: procs[k].post("/positions", 0, json=_east(slices[k])), range(3))
            )
            first = list(
                pool.map(lambda k: procs[k].post("/alerts", 0, content=_cap("M-1", 500)), range(3))
            )
        told = [d["device"] for r in first for d in r["deliveries"]]
        assert len(told) == len(set(told)), "a device was told twice"
        assert set(told) == {f"e{m}" for m in metres if m < 500}
        # The push service confirms through another process (a delivery still pending when
        # the Update comes is offered again under the Update's version: guarantee 6).
        keys = [d["key"] for r in first for d in r["deliveries"]]
        assert procs[2].post("/confirm", 0.5, json={"keys": keys})["confirmed"] == len(keys)

        update = procs[1].post("/alerts", 1, content=_cap("M-1-U", 1000, 30, "Update"))
        widened = [d["device"] for d in update["deliveries"]]
        # Process 1 holds metres 300..950: the newly covered ones it holds are told now ...
        assert sorted(widened) == sorted(f"e{m}" for m in slices[1] if 500 < m < 1000)
        # ... and those only process 2 holds are told as their fixes reach any process.
        later = procs[0].post("/positions", 2, json=_east(metres))["deliveries"]
        told += widened + [d["device"] for d in later]
        keys = [d["key"] for d in update["deliveries"] + later]
        assert procs[0].post("/confirm", 2.5, json={"keys": keys})["confirmed"] == len(keys)
        assert len(told) == len(set(told)), "a device was told twice"
        assert set(told) == {f"e{m}" for m in metres if m < 1000}

        cancel = procs[2].post("/alerts", 3, content=_cap("M-1-C", 1000, 60, "Cancel"))
        assert cancel["verdict"] == "CANCELLED"
        retracted = [d["device"] for d in cancel["deliveries"]]
        assert sorted(retracted) == sorted(told)
        for k in range(3):
            assert procs[k].post("/positions", 4, json=_east(metres))["deliveries"] == []
    finally:
        for p in procs:
            p.stop()
