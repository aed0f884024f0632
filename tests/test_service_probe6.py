"""The reference service as an operator runs it and the police's integration calls it (probe 6).

``GET /explain`` against what ``POST /alerts``, ``/positions`` and ``/redeliver`` delivered:
every device, its newest fix over the batches the process keeps and the latest one (kept or
not), out-of-order ``observed_at``, integer and text ids. The oracle: the service's own
deliveries, and each newest fix's distance from the alert's centre by pyproj's geodesic
(fixes of 2 m accuracy, none within 50 m of the 500 m circle's edge).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from pyproj import Geod
from service_helpers import service_module
from starlette.testclient import TestClient

from geotarget import Circle, alerts, cap
from geotarget.ledger import SQLiteLedger

AT = dt.datetime(2026, 5, 4, 21, 30, tzinfo=dt.timezone.utc)
CENTRE = (18.06528, 59.3325)
RADIUS = 500.0
SENDER = "polisen@polisen.se"
_GEOD = Geod(ellps="WGS84")


def _service() -> Any:
    return service_module("app.py", "_geotarget_service_probe6")


def _t(seconds: float) -> str:
    return (AT + dt.timedelta(seconds=seconds)).isoformat()


def _batch(fixes: dict[Any, tuple[float, float]]) -> dict[str, Any]:
    """A batch: device -> (metres due east of the centre, seconds after AT it was observed)."""
    ids = list(fixes)
    lon, lat = [], []
    for d in ids:
        x, y, _ = _GEOD.fwd(CENTRE[0], CENTRE[1], 90.0, fixes[d][0])
        lon.append(x)
        lat.append(y)
    return {
        "ids": ids,
        "lon": lon,
        "lat": lat,
        "accuracy_m": [2.0] * len(ids),
        "observed_at": [_t(fixes[d][1]) for d in ids],
    }


def _inside(body: dict[str, Any], row: int) -> bool:
    _, _, metres = _GEOD.inv(CENTRE[0], CENTRE[1], body["lon"][row], body["lat"][row])
    assert abs(metres - RADIUS) > 50.0, "a test fix too near the edge"
    return bool(metres < RADIUS)


def _newest(batches: list[dict[str, Any]]) -> dict[str, bool]:
    """Each device's newest fix (a tie: the later batch) inside or not, ids as their text."""
    best: dict[str, tuple[dt.datetime, bool]] = {}
    for body in batches:
        for row, device in enumerate(body["ids"]):
            seen = dt.datetime.fromisoformat(body["observed_at"][row])
            key = str(device)
            if key not in best or seen >= best[key][0]:
                best[key] = (seen, _inside(body, row))
    return {d: inside for d, (_, inside) in best.items()}


def _alert(identifier: str = "SE-POL-6", onset_minutes: float = 0) -> bytes:
    msg = alerts.Message(headline="Explosionsrisk", description="Gå.", area_description="Torget")
    alert = alerts.explosion(
        identifier=identifier,
        sender=SENDER,
        sent=AT,
        area=Circle(*CENTRE, RADIUS),
        sv=msg,
        en=msg,
        onset=AT + dt.timedelta(minutes=onset_minutes),
        expires=AT + dt.timedelta(hours=2),
    )
    return cap.dumps(alert).encode()


def _explained(client: TestClient, identifier: str, device: str, at: str) -> str:
    r = client.get(
        "/explain", params={"incident": f"{SENDER}/{identifier}", "device": device, "at": at}
    )
    assert r.status_code == 200, (device, r.text)
    return r.text


def _agree(
    client: TestClient, identifier: str, told: list[str], oracle: dict[str, bool], at: str
) -> None:
    """Told exactly the devices whose newest fix is inside, once; /explain at ``at`` agrees."""
    assert len(told) == len(set(told)), f"a device told twice: {told}"
    assert set(told) == {d for d, inside in oracle.items() if inside}, (told, oracle)
    for device, inside in oracle.items():
        text = _explained(client, identifier, device, at)
        if inside:
            assert "does not receive" in text and " again:" in text, (device, text)
            assert "inside the alert area" in text, (device, text)
        else:
            assert "does not receive" in text and "again" not in text, (device, text)


@pytest.mark.parametrize("why", ["ids too long to keep", "more fixes than kept"])
def test_an_alert_reaches_the_devices_of_a_latest_batch_not_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, why: str
) -> None:
    """The latest batch counts for ``POST /alerts`` also when the process does not keep it.

    Before, a batch not kept (an id over 64 characters, or more fixes than the process keeps:
    one operator batch of the whole country) was left out of the merge ``POST /alerts``
    targets: none of its devices was told at once, while ``/explain`` answered from its
    fixes that they receive the alert. Those of its devices whose newer fix is in a kept
    batch are still judged by that newer fix.
    """
    service = _service()
    if why == "more fixes than kept":
        monkeypatch.setattr(service, "RETAINED_FIXES", 4)
        extra = {f"m{i}": (3_000.0 + 10 * i, 0.0) for i in range(3)}
    else:
        extra = {"L" * 70: (150.0, 0.0), "M" * 90: (4_000.0, 0.0)}
    kept = _batch({"old": (100.0, -60.0), "moved": (2_000.0, 30.0), 7: (120.0, -30.0)})
    kept["ids"] = ["old", "moved", "7"]
    latest = _batch({"new": (200.0, 0.0), "moved": (50.0, 0.0), "far": (9_000.0, 0.0), **extra})
    with TestClient(service.create_app(SQLiteLedger(tmp_path / "d.db"))) as client:
        for body in (kept, latest):
            r = client.post("/positions", params={"at": _t(0)}, json=body)
            assert r.status_code == 200 and r.json()["deliveries"] == [], r.text
        r = client.post("/alerts", params={"at": _t(0)}, content=_alert())
        assert r.status_code == 200 and r.json()["verdict"] == "DELIVER", r.text
        told = [d["device"] for d in r.json()["deliveries"]]
        oracle = _newest([kept, latest])
        assert oracle["new"] and oracle["old"] and not oracle["moved"]
        _agree(client, "SE-POL-6", told, oracle, _t(1))
        again = client.post("/alerts", params={"at": _t(1)}, content=_alert())
        assert again.json()["deliveries"] == [], again.text


def test_an_alert_whose_onset_comes_reaches_each_device_by_its_newest_fix(tmp_path: Path) -> None:
    """``POST /redeliver`` at the onset targets each device's newest fix, not the latest batch's.

    Before, the alert was targeted again over the latest batch, then the kept fixes: a device
    whose newer fix (posted first, out of order) was 3 km away was told from the older fix
    of the latest batch, while ``/explain`` said it is outside the area.
    """
    batches = [
        _batch({"moved": (3_000.0, 30.0), "stays": (100.0, 30.0)}),
        _batch({11: (4_000.0, 20.0), 12: (180.0, -20.0)}),
        _batch({"moved": (100.0, 0.0), "back": (5_000.0, 0.0), "new": (300.0, 0.0)}),
        _batch({"back": (250.0, 10.0), "11": (200.0, 10.0), "gone": (6_000.0, 10.0)}),
    ]
    onset = (AT + dt.timedelta(minutes=10)).isoformat()
    with TestClient(_service().create_app(SQLiteLedger(tmp_path / "d.db"))) as client:
        for body in batches:
            assert client.post("/positions", params={"at": _t(0)}, json=body).status_code == 200
        r = client.post("/alerts", params={"at": _t(0)}, content=_alert("SE-POL-7", 5))
        assert r.status_code == 200 and r.json()["deliveries"] == [], r.text
        assert r.json()["verdict"] == "NOT_YET_ACTIVE", r.text
        r = client.post("/redeliver", params={"at": onset})
        assert r.status_code == 200, r.text
        told = [d["device"] for d in r.json()["deliveries"]]
        oracle = _newest(batches)
        assert not oracle["moved"] and oracle["back"] and not oracle["11"]
        _agree(client, "SE-POL-7", told, oracle, onset)
        assert client.post("/redeliver", params={"at": onset}).json()["deliveries"] == []


def test_a_batch_held_up_on_its_way_tells_nobody_from_a_fix_older_than_one_taken(
    tmp_path: Path,
) -> None:
    """``POST /positions`` streams a device's fix only when the process has no newer one of it.

    A batch an operator's queue held up arrives after a later one: before, a device whose
    newer fix (3 km away) was already taken was told from the batch's older fix inside the
    area, while ``/explain`` said it is outside. Devices of the late batch with no newer fix
    (or a newer one in it, or the same instant) are told as before; an integer id is its
    text.
    """
    kept_text = _batch({"x": (3_000.0, 30.0), "y": (100.0, 30.0), "tie": (4_000.0, 0.0)})
    kept_int = _batch({7: (5_000.0, 30.0), 8: (200.0, -60.0)})
    late = _batch(
        {
            "x": (100.0, 0.0),  # older than its fix 3 km away: not told
            "7": (150.0, 0.0),  # older than the integer id 7's, 5 km away: not told
            "8": (250.0, 0.0),  # newer than 8's (also inside): told by the alert already
            "tie": (300.0, 0.0),  # the same instant as its fix outside: the later batch wins
            "new": (350.0, 0.0),
            "far": (6_000.0, 0.0),
        }
    )
    with TestClient(_service().create_app(SQLiteLedger(tmp_path / "d.db"))) as client:
        for body in (kept_text, kept_int):
            assert client.post("/positions", params={"at": _t(40)}, json=body).status_code == 200
        r = client.post("/alerts", params={"at": _t(40)}, content=_alert())
        assert r.status_code == 200 and r.json()["verdict"] == "DELIVER", r.text
        told = [d["device"] for d in r.json()["deliveries"]]
        r = client.post("/positions", params={"at": _t(50)}, json=late)
        assert r.status_code == 200, r.text
        told += [d["device"] for d in r.json()["deliveries"]]
        oracle = _newest([kept_text, kept_int, late])
        assert not oracle["x"] and not oracle["7"] and oracle["tie"] and oracle["new"]
        _agree(client, "SE-POL-6", told, oracle, _t(51))


def test_redeliver_merges_the_kept_fixes_only_once_a_waiting_alert_may_come(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``POST /redeliver`` every few seconds while an alert waits for its onset merges nothing.

    The merge of the kept fixes (a second or two over a million) is made for an alert whose
    onset has come, not at each call before it: the alert waited hours at most, every call
    paying for it. Counted by a spy on the merge; the deliveries are the oracle's.
    """
    service = _service()
    merges: list[int] = []
    merge = service._Retained.latest

    def counted(self: Any, current: Any) -> Any:
        merges.append(1)
        return merge(self, current)

    monkeypatch.setattr(service._Retained, "latest", counted)
    batches = [_batch({"a": (100.0, 0.0), "b": (3_000.0, 0.0)}), _batch({"c": (200.0, 0.0)})]
    with TestClient(service.create_app(SQLiteLedger(tmp_path / "d.db"))) as client:
        for body in batches:
            assert client.post("/positions", params={"at": _t(0)}, json=body).status_code == 200
        r = client.post("/alerts", params={"at": _t(0)}, content=_alert("SE-POL-8", 60))
        assert r.json()["verdict"] == "NOT_YET_ACTIVE", r.text
        merges.clear()
        for minute in (1, 2, 3):
            r = client.post("/redeliver", params={"at": _t(60 * minute)})
            assert r.status_code == 200 and r.json()["deliveries"] == [], r.text
        assert merges == [], "merged while the alert could not come"
        r = client.post("/redeliver", params={"at": _t(3_660)})
        assert sorted(d["device"] for d in r.json()["deliveries"]) == ["a", "c"], r.text
        assert merges == [1]


# --- Several uvicorn processes over one store ---------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
#: The child resets SIGINT and SIGTERM to their defaults before uvicorn starts: a test run in
#: the background (SIGINT ignored by the shell) passes the ignored SIGINT on to its children.
_START = (
    "import runpy, signal, sys\n"
    "signal.signal(signal.SIGINT, signal.SIG_DFL)\n"
    "signal.signal(signal.SIGTERM, signal.SIG_DFL)\n"
    "sys.argv = ['uvicorn', *sys.argv[1:]]\n"
    "runpy.run_module('uvicorn', run_name='__main__')\n"
)


class _Instance:
    """One service process (uvicorn) on its own Unix socket, over a store shared with others."""

    def __init__(self, tmp: Path, store: str, crash: str = "") -> None:
        import os
        import socket
        import subprocess
        import sys
        import time

        import httpx2

        if not (ROOT / "examples" / "service" / "app.py").exists():
            pytest.skip("examples/service is not beside the tests (an installed-wheel run)")
        self.sock = tmp / f"svc-{os.urandom(4).hex()}.sock"
        env = {**os.environ, "GEOTARGET_STORE": store, "GEOTARGET_SERVICE_CRASH": crash}
        self.proc = subprocess.Popen(
            [
                *(sys.executable, "-c", _START, "--factory", "examples.service.app:app"),
                *("--uds", str(self.sock), "--log-level", "warning", "--no-access-log"),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for _ in range(2400):  # (a loaded machine: up to two minutes, no assert on the time)
            assert self.proc.poll() is None, self.proc.communicate()[1].decode()
            if self.sock.exists():
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                    if probe.connect_ex(str(self.sock)) == 0:
                        break
            time.sleep(0.05)
        else:
            raise AssertionError("the service did not listen")
        self.http = httpx2.Client(
            transport=httpx2.HTTPTransport(uds=str(self.sock)), base_url="http://s", timeout=120
        )

    def post(self, path: str, seconds: float, **kw: Any) -> Any:
        r = self.http.post(path, params={"at": _t(seconds)}, **kw)
        assert r.status_code == 200, r.text
        return r.json()

    def stop(self) -> None:
        self.http.close()
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.communicate(timeout=120)


def _devices(answer: dict[str, Any]) -> list[str]:
    return [d["device"] for d in answer["deliveries"]]


@pytest.mark.slow
@pytest.mark.parametrize("crash", ["claimed", "claiming"])
@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_two_instances_one_killed_mid_batch_tell_each_device_once_to_the_cancel(
    kind: str, crash: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Two processes over one store; one is killed (SIGKILL) mid-``POST /positions``.

    The instance taking the batch dies right after its claim committed, before it answered
    (``claimed``), or while it claims, before or after the commit, maybe after it answered
    (``claiming``); the other takes an overlapping batch at the same moment. Restarted, it is sent the batch
    again (its sender got no answer): the claims made before the kill are not told again,
    and ``POST /redeliver`` on both at once, after the lease ran out, offers them once. The
    same Update is then sent to both at once (each holds other devices' fixes), the Cancel to
    one. Oracle: each device's newest fix's distance by pyproj (500 m, then 1,000 m).
    """
    from concurrent.futures import ThreadPoolExecutor

    store = (
        request.getfixturevalue("postgres_dsn") if kind == "postgres" else str(tmp_path / "d.db")
    )
    metres = {f"d{i}": 30.0 + 45.0 * i for i in range(40)}  # 30 m to 1,785 m
    assert all(abs(m - 500) > 15 and abs(m - 1000) > 15 for m in metres.values())
    names = list(metres)
    # (Within 500 m: d0 to d10; within 1,000 m: d0 to d21.) Each batch holds devices no
    # other told yet, inside; the two sent at once overlap.
    first = _batch({d: (metres[d], 0.0) for d in names[0:4] + names[12:16]})
    to_a = _batch({d: (metres[d], 5.0) for d in names[2:9] + names[18:26]})
    to_b = _batch({d: (metres[d], 5.0) for d in names[6:11] + names[24:40]})

    def within(radius: float, batches: list[dict[str, Any]]) -> set[str]:
        return {
            d
            for body in batches
            for row, d in enumerate(body["ids"])
            if _GEOD.inv(*CENTRE, body["lon"][row], body["lat"][row])[2] < radius
        }

    a, b = _Instance(tmp_path, store, crash=crash), _Instance(tmp_path, store)
    restarted = None
    try:
        import httpx2

        assert b.post("/positions", 0, json=first) == {"deliveries": []}
        alert = b.post("/alerts", 1, content=_alert("M-1"))
        with ThreadPoolExecutor(2) as pool:
            dying = pool.submit(a.http.post, "/positions", params={"at": _t(6)}, json=to_a)
            other = pool.submit(b.post, "/positions", 6, json=to_b)
            answers = [alert, other.result()]
            try:
                answered = dying.result()
            except httpx2.TransportError:
                pass  # (no answer: the sender sends the batch again, below)
            else:  # (a loaded machine: the kill came after the answer went out)
                assert crash == "claiming" and answered.status_code == 200, answered.text
                answers.append(answered.json())
        assert a.proc.wait(timeout=120) == -9
        a.stop()
        restarted = _Instance(tmp_path, store)
        answers.append(restarted.post("/positions", 7, json=to_a))  # sent again
        # The push service confirms what it was given (through either process) ...
        keys = [d["key"] for answer in answers for d in answer["deliveries"]]
        assert b.post("/confirm", 8, json={"keys": keys})["confirmed"] == len(keys)
        # ... and the lease (30 s) of what the killed process claimed runs out: offered once.
        with ThreadPoolExecutor(2) as pool:
            due = list(pool.map(lambda p: p.post("/redeliver", 60), (restarted, b)))
        keys = [d["key"] for answer in due for d in answer["deliveries"]]
        assert keys or crash == "claiming", "the killed process claimed nobody: nothing probed"
        assert restarted.post("/confirm", 61, json={"keys": keys})["confirmed"] == len(keys)
        told = [d for answer in answers + due for d in _devices(answer)]
        assert len(told) == len(set(told)), f"a device told twice: {sorted(told)}"
        assert set(told) == within(RADIUS, [first, to_a, to_b])

        update = _cap_update("M-1-U", "M-1", 1_000.0)
        with ThreadPoolExecutor(2) as pool:
            wider = list(pool.map(lambda p: p.post("/alerts", 90, content=update), (restarted, b)))
        assert [w["verdict"] for w in wider] == ["DELIVER", "DELIVER"], wider
        now = [d for w in wider for d in _devices(w)]
        assert len(now) == len(set(now)) and not set(now) & set(told), (now, told)
        covered = within(1_000.0, [first, to_a, to_b])
        # Every device whose fix either process keeps (the restarted one only its batch sent
        # again, the other the first batch and its own) was told now or before, once.
        assert set(now) | set(told) == covered, (now, told)

        cancel = _cap_update("M-1-C", "M-1-U", None)
        gone = restarted.post("/alerts", 120, content=cancel)
        assert gone["verdict"] == "CANCELLED", gone
        assert sorted(_devices(gone)) == sorted(covered)
        for p in (restarted, b):
            assert p.post("/positions", 130, json=to_b) == {"deliveries": []}
    finally:
        for each in (a, b, restarted):
            if each is not None:
                each.stop()


def _cap_update(identifier: str, replaces: str, radius: float | None) -> bytes:
    """An Update (a radius) or a Cancel (``None``) of the version ``replaces``, sent later."""
    import attrs

    from geotarget.alerts import MessageType, Reference

    sent = AT + dt.timedelta(seconds=30 if radius is not None else 60)
    msg = alerts.Message(headline="Explosionsrisk", description="Gå.", area_description="Torget")
    alert = alerts.explosion(
        identifier=identifier,
        sender=SENDER,
        sent=sent,
        area=Circle(*CENTRE, radius or RADIUS),
        sv=msg,
        en=msg,
        onset=AT,
        expires=AT + dt.timedelta(hours=2),
    )
    ref = Reference(sender=SENDER, identifier=replaces, sent=AT if replaces == "M-1" else sent)
    kind = MessageType.UPDATE if radius is not None else MessageType.CANCEL
    return cap.dumps(attrs.evolve(alert, msg_type=kind, references=(ref,))).encode()


# --- An operator's mistakes in the environment ---------------------------------------------------


@pytest.mark.parametrize(
    ("variables", "said"),
    [
        ({"GEOTARGET_POLICY": ""}, "GEOTARGET_POLICY is set but empty"),
        ({"GEOTARGET_POLICY": " \n"}, "GEOTARGET_POLICY is set but empty"),
        ({"GEOTARGET_STORE": ""}, "GEOTARGET_STORE is set but empty"),
        ({"GEOTARGET_STORE": "{tmp}"}, "GEOTARGET_STORE: path must name the store's file"),
        ({"GEOTARGET_STORE": ":memory:"}, "GEOTARGET_STORE: path must be a file"),
        ({"GEOTARGET_STORE": "host=db port=x"}, "GEOTARGET_STORE: dsn"),
    ],
)
def test_an_empty_or_wrong_store_or_policy_variable_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], said: str
) -> None:
    """A variable set to no text (``GEOTARGET_POLICY=$POLICY`` with ``POLICY`` unset) is named.

    Before, an empty policy was read as the directory ``.`` ("policy file '.' has 1 problem:
    ... it is a directory") and an empty store as "path must name the store's file (got
    '')": neither said which variable was wrong; nor did the store's other refusals
    ("path", "dsn"). The start is refused before any store is opened: no file is left.
    """
    monkeypatch.chdir(tmp_path)
    for name, value in variables.items():
        monkeypatch.setenv(name, value.replace("{tmp}", str(tmp_path)))
    service = _service()
    with pytest.raises(SystemExit) as stopped:
        service.app()
    message = str(stopped.value.code)
    assert message.startswith("examples.service: cannot start: "), message
    assert said in message, message
    assert list(tmp_path.iterdir()) == [], list(tmp_path.iterdir())


@pytest.mark.slow
def test_a_reload_after_a_mistaken_policy_edit_keeps_the_running_workers(tmp_path: Path) -> None:
    """``uvicorn --workers 2``, the policy file edited into a mistake, then ``SIGHUP`` (reload).

    uvicorn replaces each worker, keeping the old one where its replacement fails to start.
    Before, the failing replacement sent its supervisor SIGTERM: the whole running service
    stopped, every healthy worker with it, for an edit of the policy file. Now it keeps
    answering with the policy it started with; the mistake is on standard error.
    """
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time

    import httpx2

    if not (ROOT / "examples" / "service" / "app.py").exists():
        pytest.skip("examples/service is not beside the tests (an installed-wheel run)")
    policy = tmp_path / "policy.toml"
    policy.write_bytes((ROOT / "docs" / "examples" / "pilot_policy.toml").read_bytes())
    sock, errors = tmp_path / "s.sock", tmp_path / "stderr.txt"
    env = {**os.environ, "GEOTARGET_STORE": str(tmp_path / "d.db")}
    env["GEOTARGET_POLICY"] = str(policy)
    with errors.open("wb") as err:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-c", _START, "--factory", "examples.service.app:app"),
                *("--uds", str(sock), "--workers", "2", "--log-level", "info"),
                "--no-access-log",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    http = httpx2.Client(transport=httpx2.HTTPTransport(uds=str(sock)), base_url="http://s")
    try:
        for _ in range(2400):  # both workers started (they read the policy file as they do)
            assert proc.poll() is None, errors.read_text()
            if errors.read_text().count("Application startup complete") == 2:
                break
            time.sleep(0.05)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            assert probe.connect_ex(str(sock)) == 0, errors.read_text()
        body = _batch({"p": (100.0, 0.0)})
        assert http.post("/positions", params={"at": _t(0)}, json=body).status_code == 200
        with policy.open("a", encoding="utf-8") as edited:
            edited.write("\nthis line = is [ not TOML\n")
        # Two reloads, the second sent once uvicorn gave up the first: its supervisor takes
        # the signals queued meanwhile (a SIGTERM from the failed worker, before) first, so a
        # second give-up means none stopped it. No wait on the clock.
        for reload in (1, 2):
            os.kill(proc.pid, signal.SIGHUP)
            for _ in range(2400):
                if proc.poll() is not None or errors.read_text().count("keeping worker") >= reload:
                    break
                time.sleep(0.05)
        said = errors.read_text()
        assert "cannot start: policy file" in said and "not valid TOML" in said, said
        assert proc.poll() is None, f"the running service stopped: {said}"
        # Each worker holds the positions posted to it: the batch again, then the alert, back
        # to back on one kept-alive connection, so both reach the same worker (the reloads'
        # wait may have outlasted the first connection, and the next one may reach the other).
        assert http.post("/positions", params={"at": _t(1)}, json=body).status_code == 200
        r = http.post("/alerts", params={"at": _t(1)}, content=_alert())
        assert r.status_code == 200 and [d["device"] for d in r.json()["deliveries"]] == ["p"]
    finally:
        http.close()
        if proc.poll() is None:
            proc.terminate()
        proc.wait(timeout=120)
