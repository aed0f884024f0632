"""The reference service as several instances over one store, behind a load balancer (probe 17).

Each test runs the service as uvicorn processes (``uvicorn --factory examples.service.app:app``
on Unix sockets) over one store, a SQLite file or PostgreSQL, and plays the load balancer: it
alternates requests between the instances, fails a request over to another instance when the
one taking it is killed, and gives the instances clocks (``?at=``) that disagree. The oracle:
each fix's geodesic distance from the alert's centre by :class:`pyproj.Geod` (fixes of 2 m
accuracy, none within 15 m of an edge), and the exactly-once rule written out here: every
device inside is offered once over all answers while each answer is confirmed at once, a
delivery whose lease ran out is offered to exactly one caller, a Cancel retracts exactly the
devices told, and nobody is told after it.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from pyproj import Geod
from service_helpers import SERVICE, service_module
from starlette.testclient import TestClient

from geotarget import Circle, alerts, cap

ROOT = Path(__file__).resolve().parents[1]
AT = dt.datetime(2026, 5, 4, 21, 30, tzinfo=dt.timezone.utc)
CENTRE = (18.06528, 59.3325)
SENDER = "polisen@polisen.se"
_GEOD = Geod(ellps="WGS84")
#: Devices every 45 m due east of the centre, 30 m to 1,380 m: none within 15 m of 500 m or
#: 1,000 m, the two radii.
METRES = [30 + 45 * i for i in range(31)]


class _Instance:
    """One service process on its own Unix socket; ``skew_s``: its clock behind the others'."""

    def __init__(self, tmp: Path, store: str, skew_s: float = 0.0, crash: str = "") -> None:
        import httpx2

        if not (SERVICE / "app.py").exists():
            pytest.skip("examples/service is not beside the tests (an installed-wheel run)")
        self.skew_s = skew_s
        self.sock = str(tmp / f"svc-{os.urandom(4).hex()}.sock")
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith("GEOTARGET_")}
        env["GEOTARGET_STORE"] = store
        if crash:
            env["GEOTARGET_SERVICE_CRASH"] = crash
        self.proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "uvicorn", "--factory", "examples.service.app:app"),
                *("--uds", self.sock, "--log-level", "warning", "--no-access-log"),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for _ in range(2400):  # (a loaded machine: up to two minutes)
            assert self.proc.poll() is None, self.proc.communicate()[1].decode()
            if os.path.exists(self.sock):
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                    if probe.connect_ex(self.sock) == 0:
                        break
            time.sleep(0.05)
        else:
            self.stop()
            raise AssertionError("the service did not listen in two minutes")
        self.http = httpx2.Client(
            transport=httpx2.HTTPTransport(uds=self.sock), base_url="http://s", timeout=60
        )

    def at(self, seconds: float) -> str:
        """The time ``seconds`` after AT by this instance's clock (its skew behind the others')."""
        return (AT + dt.timedelta(seconds=seconds - self.skew_s)).isoformat()

    def post(self, path: str, seconds: float, **kw: Any) -> Any:
        params = {"at": self.at(seconds), **kw.pop("params", {})}
        r = self.http.post(path, params=params, **kw)
        assert r.status_code == 200, r.text
        return r.json()

    def stop(self) -> str:
        """Stop the process (if it runs) and give its standard error."""
        if hasattr(self, "http"):
            self.http.close()
        if self.proc.poll() is None:
            self.proc.terminate()
        return self.proc.communicate(timeout=60)[1].decode(errors="replace")


def _fix(metres: float) -> tuple[float, float]:
    lon, lat, _ = _GEOD.fwd(CENTRE[0], CENTRE[1], 90.0, metres)
    return lon, lat


def _batch(metres: list[int], seconds: float) -> dict[str, Any]:
    """Devices ``e<m>`` ``m`` metres due east of the centre, observed ``seconds`` after AT."""
    fixes = [_fix(m) for m in metres]
    return {
        "ids": [f"e{m}" for m in metres],
        "lon": [lon for lon, _ in fixes],
        "lat": [lat for _, lat in fixes],
        "accuracy_m": [2.0] * len(metres),
        "observed_at": [(AT + dt.timedelta(seconds=seconds)).isoformat()] * len(metres),
    }


def _within(radius: float, metres: list[int]) -> set[str]:
    """The oracle: the devices whose fix lies within ``radius`` of the centre (pyproj)."""
    inside = set()
    for m in metres:
        _, _, distance = _GEOD.inv(*CENTRE, *_fix(m))
        assert abs(distance - radius) > 15.0, "a test fix too near the edge"
        if distance < radius:
            inside.add(f"e{m}")
    return inside


def _cap(identifier: str, radius: float | None, sent_s: float = 0, replaces: str = "") -> bytes:
    """An Alert, an Update of ``replaces`` (a radius), or its Cancel (``radius`` None)."""
    import attrs

    msg = alerts.Message(headline="Explosionsrisk", description="Gå.", area_description="Torget")
    alert = alerts.explosion(
        identifier=identifier,
        sender=SENDER,
        sent=AT + dt.timedelta(seconds=sent_s),
        area=Circle(*CENTRE, radius or 500.0),
        sv=msg,
        en=msg,
        onset=AT - dt.timedelta(hours=1),
        expires=AT + dt.timedelta(hours=2),
    )
    if replaces:
        old, old_sent = replaces.split("@")
        ref = alerts.Reference(
            sender=SENDER, identifier=old, sent=AT + dt.timedelta(seconds=float(old_sent))
        )
        kind = alerts.MessageType.UPDATE if radius is not None else alerts.MessageType.CANCEL
        alert = attrs.evolve(alert, msg_type=kind, references=(ref,))
    return cap.dumps(alert).encode()


def _devices(answer: dict[str, Any]) -> list[str]:
    return [d["device"] for d in answer["deliveries"]]


def _keys(answer: dict[str, Any]) -> list[str]:
    return [d["key"] for d in answer["deliveries"]]


def _drain(instance: _Instance, seconds: float) -> list[dict[str, str]]:
    """``POST /redeliver?limit=1`` until it offers nothing: what this caller was leased."""
    got: list[dict[str, str]] = []
    while offered := instance.post("/redeliver", seconds, params={"limit": "1"})["deliveries"]:
        assert len(offered) == 1, offered
        got += offered
    return got


@pytest.mark.slow
def test_two_instances_behind_a_load_balancer_with_clocks_apart_tell_each_device_once(
    tmp_path: Path,
) -> None:
    """Alert to A, the widening Update to B, the Cancel to A; B's clock 20 s behind A's.

    The balancer alternates: each instance takes half the devices' fixes; the push service
    confirms each answer through the other instance (at that instance's time, before the
    claim's own on B's clock); B takes a batch stamped before A admitted the alert; both
    drain ``POST /redeliver?limit=1`` at once once B's Update's leases ran out: each of those
    deliveries is leased to exactly one of them. Oracle: pyproj distances (500 m, then
    1,000 m) and the exactly-once rule. (A SQLite store; the next test runs on PostgreSQL.)
    """
    store = str(tmp_path / "d.db")
    evens, odds = METRES[0::2], METRES[1::2]
    a = _Instance(tmp_path, store)
    b = _Instance(tmp_path, store, skew_s=20.0)
    try:
        assert a.post("/positions", 0, json=_batch(evens, 0)) == {"deliveries": []}
        assert b.post("/positions", 0, json=_batch(odds, -20)) == {"deliveries": []}

        first = a.post("/alerts", 30, content=_cap("LB-1", 500.0))
        assert first["verdict"] == "DELIVER", first
        told = _devices(first)
        assert set(told) == _within(500.0, evens)
        done = b.post("/confirm", 31, json={"keys": _keys(first)})  # (B: at T+11, before)
        assert done == {"confirmed": len(told), "already": 0, "unknown": 0}

        # B's batch, at T+20 by its clock: before A admitted the alert (T+30), after its onset.
        mine = b.post("/positions", 40, json=_batch(odds, 20))
        assert set(_devices(mine)) == _within(500.0, odds)
        assert a.post("/confirm", 41, json={"keys": _keys(mine)})["confirmed"] == len(_keys(mine))
        told += _devices(mine)

        # The Update, sent 30 s after the Alert, to B, at T+30 by its clock: not confirmed.
        wider = b.post("/alerts", 50, content=_cap("LB-U", 1000.0, 30, "LB-1@0"))
        assert wider["verdict"] == "DELIVER", wider
        assert set(_devices(wider)) == _within(1000.0, odds) - _within(500.0, odds)
        told += _devices(wider)
        now = a.post("/positions", 55, json=_batch(evens, 55))
        assert set(_devices(now)) == _within(1000.0, evens) - _within(500.0, evens)
        assert b.post("/confirm", 56, json={"keys": _keys(now)})["confirmed"] == len(_keys(now))
        told += _devices(now)

        # B's Update's leases (30 s from T+30) ran out on both clocks: each offered once.
        with ThreadPoolExecutor(2) as pool:
            leased = list(pool.map(lambda p: _drain(p, 100), (a, b)))
        again = [d["key"] for got in leased for d in got]
        assert len(again) == len(set(again)), f"a delivery leased to both: {sorted(again)}"
        assert sorted(again) == sorted(_keys(wider))
        assert a.post("/confirm", 101, json={"keys": again})["confirmed"] == len(again)

        assert len(told) == len(set(told)), f"a device told twice: {sorted(told)}"
        assert set(told) == _within(1000.0, METRES)
        cancel = a.post("/alerts", 110, content=_cap("LB-C", None, 60, "LB-U@30"))
        assert cancel["verdict"] == "CANCELLED", cancel
        assert sorted(_devices(cancel)) == sorted(told)
        assert {d["kind"] for d in cancel["deliveries"]} == {"retraction"}
        # B, at T+91 by its clock (before the Cancel's T+110), and A tell nobody any more.
        assert b.post("/positions", 111, json=_batch(METRES, 91)) == {"deliveries": []}
        assert a.post("/positions", 112, json=_batch(METRES, 112)) == {"deliveries": []}
    finally:
        logs = [b.stop(), a.stop()]
    assert not any("Traceback" in log for log in logs), logs


@pytest.mark.slow
def test_an_instance_killed_in_the_middle_of_an_update_loses_and_repeats_nobody(
    tmp_path: Path, postgres_dsn: str
) -> None:
    """SIGKILL right after A's claim of an Update committed, before it answered.

    The balancer sends the Update again to B (A's client got no answer), A is restarted
    and sent its batch again; the deliveries A claimed are pushed by nobody until their lease
    runs out, then offered once by ``POST /redeliver`` on A and B at once. Oracle: every
    device within 1,000 m of the fixes either instance took is told once over every answer,
    and the Cancel sent to the restarted instance retracts exactly those. (PostgreSQL, as
    ``scripts/pg`` runs it; the test before runs on a SQLite file.)
    """
    import httpx2

    store = postgres_dsn
    evens, odds = METRES[0::2], METRES[1::2]
    b = _Instance(tmp_path, store)
    a = _Instance(tmp_path, store, crash="claimed")  # (the first claim it commits kills it)
    restarted = None
    try:
        assert a.post("/positions", 0, json=_batch(evens, 0)) == {"deliveries": []}
        assert b.post("/positions", 0, json=_batch(odds, 0)) == {"deliveries": []}
        first = b.post("/alerts", 1, content=_cap("K-1", 500.0))
        assert b.post("/confirm", 2, json={"keys": _keys(first)})["confirmed"] == len(_keys(first))
        told = _devices(first)

        update = _cap("K-U", 1000.0, 30, "K-1@0")
        with pytest.raises(httpx2.TransportError):
            a.http.post("/alerts", params={"at": a.at(40)}, content=update)
        assert a.proc.wait(timeout=60) == -9
        a.stop()
        again = b.post("/alerts", 41, content=update)  # (failed over: the same document)
        assert again["verdict"] == "DELIVER", again
        assert set(_devices(again)) == _within(1000.0, odds) - _within(500.0, odds)
        assert b.post("/confirm", 42, json={"keys": _keys(again)})["confirmed"] == len(_keys(again))
        told += _devices(again)

        restarted = _Instance(tmp_path, store)
        # A's claims are pending, leased to the dead process: not offered again yet.
        assert restarted.post("/positions", 43, json=_batch(evens, 43)) == {"deliveries": []}
        with ThreadPoolExecutor(2) as pool:
            leased = list(pool.map(lambda p: _drain(p, 100), (restarted, b)))
        keys = [d["key"] for got in leased for d in got]
        assert len(keys) == len(set(keys)), f"a delivery leased to both: {sorted(keys)}"
        assert b.post("/confirm", 101, json={"keys": keys})["confirmed"] == len(keys)
        told += [d["device"] for got in leased for d in got]

        assert len(told) == len(set(told)), f"a device told twice: {sorted(told)}"
        assert set(told) == _within(1000.0, METRES)
        cancel = restarted.post("/alerts", 120, content=_cap("K-C", None, 60, "K-U@30"))
        assert cancel["verdict"] == "CANCELLED", cancel
        assert sorted(_devices(cancel)) == sorted(told)
    finally:
        logs = [b.stop()] + ([restarted.stop()] if restarted is not None else [])
    assert not any("Traceback" in log for log in logs), logs


@pytest.mark.parametrize(
    ("where", "error", "retry"),
    [
        ("not-mounted/d.db", "StoreUnavailable", "5"),  # (the volume not mounted yet)
        ("garbage.db", "StoreCorrupt", None),  # (a file that is not a database)
    ],
)
def test_a_store_failure_that_may_pass_says_when_to_try_again(
    tmp_path: Path, where: str, error: str, retry: str | None
) -> None:
    """A 503 for a store down, busy, read-only or full has ``Retry-After``; a corrupt one not.

    Before, only the service's own 503s (``Busy``, ``Stopped``) said when to try again: a
    client or proxy honouring ``Retry-After`` behind which every instance's store was down
    (PostgreSQL restarting) had no hint, though sending the request again is safe (nothing
    was applied) and is what the answer asks for. A corrupt store is not mended by a retry.
    """
    from geotarget.ledger import SQLiteLedger

    service = service_module("app.py", "_geotarget_service_probe17")
    (tmp_path / "garbage.db").write_bytes(b"not a SQLite database, " * 100)
    path = tmp_path / where
    store = service._OpenedLater(lambda: SQLiteLedger(path))
    problem = {"Accept": "application/problem+json"}
    with TestClient(service.create_app(store)) as client:
        for r in (
            client.get("/ready", headers=problem),
            client.post(
                "/positions", params={"at": AT.isoformat()}, json=_batch([30], 0), headers=problem
            ),
        ):
            assert r.status_code == 503, r.text
            assert r.json()["error"] == error, r.json()
            assert r.headers.get("Retry-After") == retry, r.headers
            assert str(path.name) in r.json()["detail"], r.json()
