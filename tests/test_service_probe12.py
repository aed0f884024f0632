"""The reference service as operators run it (probe 12): stops, a store back, its log, HTTP.

A rolling restart whose grace period runs out while a request waits for the store, a SQLite
store file removed and restored from a backup, the service's own log lines under uvicorn's
``--log-level``, ``POST /redeliver`` given its parameters in a body, and a request target in
absolute form (``GET http://host/ready``). The tests run the service as uvicorn processes
(``uvicorn --factory examples.service.app:app`` on a Unix socket) and talk plain HTTP/1.1 to
them over a socket (probe 9's instance and helpers), or through Starlette's test client; the
store is read with :mod:`sqlite3` directly. The oracle: RFC 9110 / 9112 and what
``docs/delivery.rst`` and the service's docstring promise.
"""

from __future__ import annotations

import datetime as dt
import json
import signal
import sqlite3
import time
from pathlib import Path

import pytest
from service_helpers import service_module
from starlette.testclient import TestClient
from test_service_probe9 import AT, _alert, _answer, _at, _batch, _claimed, _Instance, _status

from geotarget.ledger import SQLiteLedger

# --- A rolling restart: the grace period runs out while a request waits for the store --------


@pytest.mark.slow
def test_a_stopping_instance_answers_when_its_grace_period_ends_not_when_the_store_does(
    tmp_path: Path,
) -> None:
    """Past ``--timeout-graceful-shutdown`` a request waiting for the store is answered at once.

    uvicorn cancels the request and it answers 503, but its connection (``Connection:
    close``) was closed only once the service had closed its store, on the event loop, which
    waited for the cancelled request's store call still running in its worker thread (a held
    SQLite lock: the busy timeout, 5 s; PostgreSQL: up to its lock, connect and query
    timeouts, 30 s): a client reading the answer to its end waited past the grace period,
    which the docs tell operators to set a few seconds under the supervisor's kill, and got
    nothing if the kill came first. Now the answer ends while the store call still waits;
    that call goes on (the answer says it is not known whether it applies), and here it does
    once the lock is let go: the deliveries it claimed are offered by the other instance's
    ``POST /redeliver`` once their lease runs out. Before, the client read the end of its
    answer only once the call had ended with ``StoreBusy``, nothing claimed.
    """
    store = tmp_path / "d.db"
    a = _Instance(tmp_path, store, "--timeout-graceful-shutdown", "1")
    b = _Instance(tmp_path, store)
    try:
        assert a.post("/alerts", _alert(), 0)[0] == 200
        devices = [f"p{i}" for i in range(50)]
        batch = _batch(devices, 5)
        holder = sqlite3.connect(store, isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")  # (the claim waits for it: 5 s busy timeout)
            conn = a.send(
                f"POST /positions?at={_at(5)} HTTP/1.1\r\nHost: s\r\n"
                f"Content-Length: {len(batch)}\r\n",
                batch,
            )
            time.sleep(0.5)  # (the request is under way: its claim waits for the lock)
            a.proc.send_signal(signal.SIGTERM)
            status, text = _status(_answer(conn))
        finally:
            holder.execute("ROLLBACK")  # (only once the answer came)
            holder.close()
        assert status == 503, text
        assert "not known" in text and "/redeliver" in text, text
        a.proc.wait(timeout=60)
        log = a.stop()
        assert "Traceback" not in log and "Exception in ASGI" not in log, log
        assert _claimed(store) == 50, "the claim was not waiting when the answer went out"
        status, text = b.post("/redeliver", b"", 5 + 31)  # (the lease, 30 s, ran out)
        assert status == 200, text
        assert sorted(d["device"] for d in json.loads(text)["deliveries"]) == sorted(devices)
    finally:
        a.stop()
        b.stop()


# --- The store going away and coming back: a SQLite file removed, then restored --------------


def _get(instance: _Instance, path: str) -> tuple[int, str]:
    return _status(
        _answer(instance.send(f"GET {path} HTTP/1.1\r\nHost: s\r\nConnection: close\r\n"))
    )


@pytest.mark.slow
def test_a_sqlite_store_removed_then_restored_is_opened_again(tmp_path: Path) -> None:
    """A store file removed (a clean-up job, a volume swapped) answers 503; restored, 200 again.

    The running instance's handle is bound to the file it opened: removed, every request
    answers 503 naming it and ``GET /ready`` says so (true). But a file restored from a backup
    (or made by an instance started meanwhile) is another file, and the handle refused it as
    "removed or replaced" for as long as the process ran: the instance stayed down, ``/ready``
    503, until someone restarted it, though the docs promise a service that recovers once its
    store is back. Now the instance opens the file at its path again (one line in its log) and
    the restored store's alert reaches the devices of the next batch.
    """
    store = tmp_path / "d.db"
    backup = tmp_path / "backup.db"
    a = _Instance(tmp_path, store)
    try:
        assert a.post("/alerts", _alert(), 0)[0] == 200
        with sqlite3.connect(store) as db, sqlite3.connect(backup) as copy:
            db.backup(copy)  # (the operator's backup, the alert in it)
        for name in ("d.db", "d.db-wal", "d.db-shm"):
            (tmp_path / name).unlink(missing_ok=True)
        status, text = a.post("/positions", _batch(["p1", "p2"], 5), 5)
        assert status == 503 and "removed or replaced" in text, text
        assert _get(a, "/ready")[0] == 503  # (true: the store is gone)
        store.write_bytes(backup.read_bytes())  # restored: a new file at the same path
        status, text = _get(a, "/ready")
        assert status == 200, text
        assert json.loads(text) == {"status": "ready", "active_incidents": 1}
        status, text = a.post("/positions", _batch(["p1", "p2"], 6), 6)
        assert status == 200, text
        assert sorted(d["device"] for d in json.loads(text)["deliveries"]) == ["p1", "p2"]
        assert _claimed(store) == 2
    finally:
        log = a.stop()
    assert "Traceback" not in log, log
    assert log.count("opened again") == 1, log


# --- The service's own log lines under uvicorn ------------------------------------------------


def _lines(log: str, text: str) -> list[str]:
    return [line for line in log.splitlines() if text in line]


def test_the_services_own_log_lines_reach_uvicorns_log_at_its_level(tmp_path: Path) -> None:
    """The ``examples.service`` logger's lines go where uvicorn's go, at ``--log-level``.

    The docs promise a line at INFO for a client that hung up mid-body and for fixes stamped
    ahead of their arrival; under the run command they give, those lines never appeared (no
    handler for the logger: Python's last resort shows only warnings and errors), whatever
    ``--log-level``, and the warnings and errors it did show came without a level, in several
    lines where a message held a line end (libpq's "connection refused" has a second line):
    a log reader splitting by line read a line of nobody's. Now they come as uvicorn's do
    (``INFO:``, ``ERROR:``), each one line, and ``--log-level warning`` leaves out the INFO.
    """
    late = ["2099-01-01T00:00:00+00:00"] * 2  # (a device clock decades ahead)
    for level in ("info", "warning"):
        a = _Instance(tmp_path, tmp_path / f"{level}.db", "--log-level", level)
        try:
            body = _batch(["p1", "p2"], 5)
            conn = a.send(
                f"POST /positions?at={_at(5)} HTTP/1.1\r\nHost: s\r\n"
                f"Content-Length: {len(body)}\r\n",
                body[:50],
            )
            conn.close()  # (hung up mid-body)
            ahead = json.loads(body)
            ahead["observed_at"] = late
            assert a.post("/positions", json.dumps(ahead).encode(), 6)[0] == 200
        finally:
            log = a.stop()
        hung_up = _lines(log, "hung up after")
        stamped = _lines(log, "stamped more than")
        if level == "info":
            assert len(hung_up) == 1 and hung_up[0].startswith("INFO:"), log
            assert len(stamped) == 1 and stamped[0].startswith("INFO:"), log
        else:
            assert hung_up == [] and stamped == [], log
    down = _Instance(tmp_path, Path("host=127.0.0.1 port=1 user=svc dbname=alerts"))  # (no server)
    log = down.stop()
    line = _lines(log, "cannot be opened yet")
    assert len(line) == 1 and line[0].startswith("ERROR:"), log
    assert "accepting TCP/IP connections" in line[0], log  # (libpq's second line, on this one)


# --- POST /redeliver: its parameters are in the query ------------------------------------------


def test_redeliver_refuses_parameters_sent_in_its_body_and_leases_nothing(tmp_path: Path) -> None:
    """``POST /redeliver`` with ``{"limit": 1}`` as its body is a 400 naming the member.

    Its parameters are in the query (``?limit=``, ``?at=``), and an unknown query parameter is
    refused, not ignored (``?limt=`` would take the default limit without a word). Its body
    was not read at all: ``{"limit": 1}`` (an HTTP client's ``json=``) or ``limit=1`` (a
    form, ``curl -d``) leased the caller up to 10,000 deliveries, the default, where it
    asked for one, each withheld from the push service until its lease ran out. An empty body
    or an empty JSON object (what some clients send with every POST) is taken, as before.
    """
    service = service_module("app.py", "_geotarget_service_probe12")
    devices = ["p1", "p2", "p3"]

    def at(minutes: float) -> dict[str, str]:
        return {"at": (AT + dt.timedelta(minutes=minutes)).isoformat()}

    with TestClient(service.create_app(SQLiteLedger(tmp_path / "d.db"))) as client:
        assert client.post("/alerts", params=at(0), content=_alert()).is_success
        told = client.post("/positions", params=at(0.1), content=_batch(devices, 5)).json()
        assert len(told["deliveries"]) == 3  # (leased for 30 s: due again from 0.6 minutes)
        for body, member in (
            ({"json": {"limit": 1}}, '"limit"'),
            ({"content": b"limit=1"}, "JSON"),
            ({"json": [1]}, "JSON object"),
        ):
            r = client.post("/redeliver", params={**at(5), "limit": "2"}, **body)
            assert r.status_code == 400, r.text
            assert "?limit=" in r.text and member in r.text, r.text
        for empty in (b"", b"{}", b" { }\r\n"):
            r = client.post("/redeliver", params={**at(5), "limit": "1"}, content=empty)
            assert r.status_code == 200, r.text
            assert len(r.json()["deliveries"]) == 1, "the refused requests leased something"


# --- A request target in absolute form ---------------------------------------------------------


def test_a_request_target_in_absolute_form_is_its_path(tmp_path: Path) -> None:
    """``GET http://service/ready HTTP/1.1`` is ``GET /ready`` (RFC 9112 section 3.2.2).

    "A server MUST accept the absolute-form in requests" (what a client sends through a
    forward proxy, and some send to any server). uvicorn hands the whole target on as the
    path: the service answered 404 for ``"/http://service/ready"``, and an alert POSTed to
    ``http://service/alerts?at=...`` reached nobody.
    """
    a = _Instance(tmp_path, tmp_path / "d.db")
    try:
        status, text = _status(
            _answer(a.send("GET http://service/ready HTTP/1.1\r\nHost: s\r\nConnection: close\r\n"))
        )
        assert status == 200, text
        assert json.loads(text) == {"status": "ready", "active_incidents": 0}
        body = _alert()
        status, text = _status(
            _answer(
                a.send(
                    f"POST https://service:8443/alerts?at={_at(0)} HTTP/1.1\r\nHost: s\r\n"
                    f"Connection: close\r\nContent-Length: {len(body)}\r\n",
                    body,
                )
            )
        )
        assert status == 200, text
        assert json.loads(text)["verdict"] == "DELIVER", text
        status, text = _status(
            _answer(
                a.send("GET http://service/nowhere HTTP/1.1\r\nHost: s\r\nConnection: close\r\n")
            )
        )
        assert status == 404 and '"/nowhere"' in text, text
    finally:
        a.stop()
