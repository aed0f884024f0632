"""The reference service as operators run it (probe 9): rolling restarts, several instances.

Each test runs the service as uvicorn processes (``uvicorn --factory examples.service.app:app``
on a Unix socket), talks plain HTTP/1.1 to them over a socket, and reads the SQLite store
with :mod:`sqlite3` directly.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from service_helpers import SERVICE

from geotarget import Circle, alerts, cap

ROOT = Path(__file__).resolve().parents[1]
AT = dt.datetime(2026, 5, 4, 21, 30, tzinfo=dt.timezone.utc)
CENTRE = (18.06528, 59.3325)


def _at(seconds: float) -> str:
    return (AT + dt.timedelta(seconds=seconds)).isoformat().replace("+", "%2B")


class _Instance:
    """One uvicorn process of the service on its own Unix socket."""

    def __init__(self, tmp: Path, store: Path, *options: str) -> None:
        if not (SERVICE / "app.py").exists():
            pytest.skip("examples/service is not beside the tests (an installed-wheel run)")
        self.sock = tmp / f"svc-{os.urandom(4).hex()}.sock"
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith("GEOTARGET_")}
        self.proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "uvicorn", "--factory", "examples.service.app:app"),
                *("--uds", str(self.sock), "--no-access-log", *options),
            ],
            cwd=ROOT,
            env={**env, "GEOTARGET_STORE": str(store)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for _ in range(2400):  # (a loaded machine: up to two minutes)
            assert self.proc.poll() is None, self.proc.communicate()[1].decode()
            if self.sock.exists():
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                    if probe.connect_ex(str(self.sock)) == 0:
                        return
            time.sleep(0.05)
        self.stop()
        raise AssertionError("the service did not listen")

    def send(self, head: str, body: bytes = b"") -> socket.socket:
        """A connection that has sent ``head`` (a request line and headers) and ``body``."""
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(str(self.sock))
        conn.sendall(head.encode() + b"\r\n" + body)
        return conn

    def post(self, path: str, body: bytes, seconds: float) -> tuple[int, str]:
        conn = self.send(
            f"POST {path}?at={_at(seconds)} HTTP/1.1\r\nHost: s\r\nConnection: close\r\n"
            f"Content-Length: {len(body)}\r\n",
            body,
        )
        return _status(_answer(conn))

    def stop(self) -> str:
        """Stop the process (if it runs) and give its standard error."""
        if self.proc.poll() is None:
            self.proc.kill()
        return self.proc.communicate(timeout=60)[1].decode(errors="replace")


def _answer(conn: socket.socket) -> bytes:
    """Everything the service sends until it closes the connection (at most 60 s)."""
    conn.settimeout(60)
    got = b""
    try:
        while chunk := conn.recv(65536):
            got += chunk
    finally:
        conn.close()
    return got


def _status(answer: bytes) -> tuple[int, str]:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 "), answer[:200]
    return int(head.split()[1]), body.decode()


def _alert(identifier: str = "SE-POL-9") -> bytes:
    msg = alerts.Message(headline="Explosionsrisk", description="Gå.", area_description="Torget")
    alert = alerts.explosion(
        identifier=identifier,
        sender="polisen@polisen.se",
        sent=AT,
        area=Circle(*CENTRE, 500.0),
        sv=msg,
        en=msg,
        onset=AT,
        expires=AT + dt.timedelta(hours=2),
    )
    return cap.dumps(alert).encode()


def _batch(devices: list[str], seconds: float) -> bytes:
    n = len(devices)
    return json.dumps(
        {
            "ids": devices,
            "lon": [CENTRE[0]] * n,
            "lat": [CENTRE[1]] * n,
            "accuracy_m": [5.0] * n,
            "observed_at": [(AT + dt.timedelta(seconds=seconds)).isoformat()] * n,
        }
    ).encode()


def _claimed(store: Path) -> int:
    """The devices claimed in the store, read by sqlite3 (each claim log row's device list)."""
    with sqlite3.connect(store) as db:
        rows = db.execute("SELECT strs FROM gt_claim_log").fetchall()
    return sum(len(json.loads(strs)) for (strs,) in rows)


def _wait_for(condition: object, what: str) -> None:
    for _ in range(1200):
        if callable(condition) and condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} did not happen in 60 s")


# --- A rolling restart: SIGTERM while requests are in flight ---------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("when", ["reading its body", "applying it"])
def test_a_request_cut_off_by_a_stopping_instance_is_a_503_saying_what_was_applied(
    tmp_path: Path, when: str
) -> None:
    """A stopping uvicorn (SIGTERM, ``--timeout-graceful-shutdown 1``) cancels a request.

    The request is cut off while its body still arrives (nothing of it applied), or while its
    claim waits for the store (the SQLite lock held by another connection: whether it is
    applied is not known). Before, uvicorn answered its bare ``500 Internal Server Error``
    (a fault of the service, said the status) and logged the cancellation's traceback; now the
    client reads a 503 saying the instance stopped, whether anything was applied, and to send
    it again to another instance; the log has one line, no traceback. The other instance on
    the same store carries on, and the batch sent to it claims each device once.
    """
    store = tmp_path / "d.db"
    a = _Instance(tmp_path, store, "--timeout-graceful-shutdown", "1")
    b = _Instance(tmp_path, store)
    try:
        assert a.post("/alerts", _alert(), 0)[0] == 200
        batch = _batch([f"p{i}" for i in range(50)], 5)
        holder = None
        if when == "reading its body":
            conn = a.send(
                f"POST /positions?at={_at(5)} HTTP/1.1\r\nHost: s\r\n"
                f"Content-Length: {len(batch)}\r\n",
                batch[:100],
            )
        else:
            holder = sqlite3.connect(store, isolation_level=None)
            holder.execute("BEGIN IMMEDIATE")  # (the claim waits for it: 5 s busy timeout)
            conn = a.send(
                f"POST /positions?at={_at(5)} HTTP/1.1\r\nHost: s\r\n"
                f"Content-Length: {len(batch)}\r\n",
                batch,
            )
        time.sleep(1.0)  # (the request is under way)
        a.proc.send_signal(signal.SIGTERM)
        answer = _answer(conn)
        if holder is not None:
            holder.execute("ROLLBACK")
            holder.close()
        status, text = _status(answer)
        head = answer.partition(b"\r\n\r\n")[0].lower()
        assert status == 503, answer[:500]
        assert b"connection: close" in head, head
        assert "stopped" in text and "send it again" in text, text
        if when == "reading its body":
            assert "nothing of it was applied" in text, text
        else:
            assert "not known" in text and "/redeliver" in text, text
        a.proc.wait(timeout=60)
        log = a.stop()
        assert "Traceback" not in log and "Exception in ASGI" not in log, log
        # The other instance carries on: the batch sent again claims each device once.
        status, text = b.post("/positions", batch, 6)
        assert status == 200, text
        told = [d["device"] for d in json.loads(text)["deliveries"]]
        assert len(told) == len(set(told))
        assert _claimed(store) == 50, "a device claimed twice or not at all"
    finally:
        a.stop()
        b.stop()


# --- A probe for a load balancer or an orchestrator ------------------------------------------


def test_ready_answers_once_the_store_does_and_changes_nothing(tmp_path: Path) -> None:
    """``GET /ready``: 503 naming the store's error while it cannot be opened, then 200.

    Before, the service had no endpoint a load balancer or Kubernetes could probe: ``GET /``
    was a 404, ``GET /explain`` needs an incident and a device, and ``POST /redeliver`` (the
    one endpoint without a body) leases the deliveries due to its caller, each then withheld
    from the push service until its lease ran out. The probe changes nothing: the deliveries
    due are still offered to ``POST /redeliver`` after it.
    """
    from service_helpers import service_module
    from starlette.testclient import TestClient

    from geotarget.ledger import SQLiteLedger

    service = service_module("app.py", "_geotarget_service_probe9")
    path = tmp_path / "not-mounted-yet" / "d.db"
    store = service._OpenedLater(lambda: SQLiteLedger(path))
    with TestClient(service.create_app(store)) as client:
        r = client.get("/ready", headers={"Accept": "application/problem+json"})
        assert r.status_code == 503, r.text
        assert r.json()["error"] == "StoreUnavailable", r.json()
        assert "not-mounted-yet" in r.json()["detail"], r.json()
        path.parent.mkdir()
        r = client.get("/ready")
        assert r.status_code == 200, r.text
        assert r.json() == {"status": "ready", "active_incidents": 0}
        q = {"at": (AT + dt.timedelta(seconds=5)).isoformat()}
        assert client.post("/alerts", params={"at": AT.isoformat()}, content=_alert()).is_success
        told = client.post("/positions", params=q, content=_batch(["p1", "p2"], 5)).json()
        assert sorted(d["device"] for d in told["deliveries"]) == ["p1", "p2"]
        later = {"at": (AT + dt.timedelta(minutes=5)).isoformat()}
        for _ in range(3):  # (each lease ran out: a probe leasing them would take them)
            r = client.get("/ready", params=later)
            assert r.json() == {"status": "ready", "active_incidents": 1}, r.text
        due = client.post("/redeliver", params=later).json()["deliveries"]
        assert sorted(d["device"] for d in due) == ["p1", "p2"]
        assert client.get("/ready", params={"limit": "5"}).status_code == 400
        assert client.post("/ready").status_code == 405
        assert "GET /ready" in client.get("/").text
