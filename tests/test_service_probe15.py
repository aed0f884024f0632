"""The reference service as integrators use it (probe 15): testers, and the documented answers.

The tests run the service as a uvicorn process (``uvicorn --factory examples.service.app:app``
on a Unix socket, probe 9's instance and helpers) and talk plain HTTP/1.1 to it. The oracles:
the flags and CAP documents the test sent, and ``docs``' semantics (Test and Exercise alerts
reach testers only; Draft and System nobody).
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from service_helpers import service_module
from test_service_probe import _uvicorn
from test_service_probe9 import AT, CENTRE, _alert, _Instance

SENDER = "polisen@polisen.se"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Instance]:
    """One uvicorn process of the service over its own SQLite store, for the module."""
    tmp = tmp_path_factory.mktemp("probe15")
    instance = _Instance(tmp, tmp / "d.db")
    try:
        yield instance
    finally:
        log = instance.stop()
        assert "Traceback" not in log, log


#: A place of its own for each Test and Exercise case, 11 and 23 km east of the centre the
#: module's other cases use: the module's one process keeps every case's fixes, and an alert
#: over one place (a 500 m circle) reaches no device of another.
_PLACES = {"Test": (CENTRE[0] + 0.2, CENTRE[1]), "Exercise": (CENTRE[0] + 0.4, CENTRE[1])}


def _fixes(testers: Mapping[str, bool | None], centre: tuple[float, float] = CENTRE) -> bytes:
    """A batch at ``centre`` of the devices in ``testers``; a ``tester`` column if any flag."""
    ids = list(testers)
    batch: dict[str, list[object]] = {
        "ids": list(ids),
        "lon": [centre[0]] * len(ids),
        "lat": [centre[1]] * len(ids),
        "accuracy_m": [5.0] * len(ids),
        "observed_at": [AT.isoformat()] * len(ids),
    }
    if any(flag is not None for flag in testers.values()):
        batch["tester"] = [testers[i] for i in ids]
    return json.dumps(batch).encode()


def _alert_at(identifier: str, centre: tuple[float, float]) -> bytes:
    """The probe's explosion alert ``identifier`` (probe 9's), its 500 m circle at ``centre``."""
    from geotarget import Circle, alerts, cap

    if centre == CENTRE:
        return _alert(identifier)
    msg = alerts.Message(headline="Explosionsrisk", description="Gå.", area_description="Torget")
    alert = alerts.explosion(
        identifier=identifier,
        sender=SENDER,
        sent=AT,
        area=Circle(*centre, 500.0),
        sv=msg,
        en=msg,
        onset=AT,
        expires=AT + dt.timedelta(hours=2),
    )
    return cap.dumps(alert).encode()


def _with_status(identifier: str, status: str, centre: tuple[float, float] = CENTRE) -> bytes:
    """The probe's explosion alert ``identifier`` with CAP ``<status>`` ``status``."""
    document = _alert_at(identifier, centre)
    assert document.count(b"<status>Actual</status>") == 1
    return document.replace(b"<status>Actual</status>", f"<status>{status}</status>".encode())


def _told(answer: str) -> set[str]:
    return {d["device"] for d in json.loads(answer)["deliveries"]}


@pytest.mark.parametrize("status", ["Test", "Exercise"])
def test_a_test_alert_reaches_the_testers_a_batch_named(service: _Instance, status: str) -> None:
    """A batch's ``tester`` column names the devices a Test or Exercise alert reaches.

    Before, a batch could not name testers (``tester``: a 400), so such an alert reached nobody
    through the service, its answer "DELIVER ... 0 new recipients". (The module's process,
    each case at a place of its own: see :data:`_PLACES`.)
    """
    _testers_told(service, status, _PLACES[status])


def _testers_told(service: _Instance, status: str, centre: tuple[float, float]) -> None:
    tag = status[:2].lower()
    flags = {f"{tag}-tester": True, f"{tag}-public": False, f"{tag}-other": False}
    status_code, text = service.post("/positions", _fixes(flags, centre), 1)
    assert status_code == 200, text
    # A later batch without the column (no testers in it) leaves the earlier flags kept.
    status_code, text = service.post("/positions", _fixes({f"{tag}-later": None}, centre), 2)
    assert status_code == 200, text
    status_code, text = service.post("/alerts", _with_status(f"T-{status}", status, centre), 3)
    assert status_code == 200, text
    assert _told(text) == {f"{tag}-tester"}
    # An Actual alert reaches every device in the area, testers or not.
    status_code, text = service.post("/alerts", _alert_at(f"A-{status}", centre), 4)
    assert status_code == 200, text
    assert _told(text) == {*flags, f"{tag}-later"}


@pytest.mark.parametrize("status", ["Draft", "System"])
def test_a_draft_or_system_alert_reaches_no_tester(service: _Instance, status: str) -> None:
    flags = {f"{status}-tester": True}
    assert service.post("/positions", _fixes(flags), 5)[0] == 200
    status_code, text = service.post("/alerts", _with_status(f"N-{status}", status), 6)
    assert status_code == 200, text
    answer = json.loads(text)
    assert answer["verdict"] == "NOT_PUBLIC" and answer["deliveries"] == []


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        ([1, 0], "tester[0] must be true or false (got 1)"),
        (["true", False], 'tester[0] must be true or false (got "true")'),
        ([True], "tester has 1 value, ids 2"),
        ({"a": True}, "tester must be a JSON list"),
    ],
)
def test_a_tester_column_of_other_values_is_a_400_naming_it(
    service: _Instance, column: object, expected: str
) -> None:
    batch = json.loads(_fixes({"bad-1": None, "bad-2": None}))
    batch["tester"] = column
    status_code, text = service.post("/positions", json.dumps(batch).encode(), 7)
    assert (status_code, text[: len(expected)]) == (400, expected)


#: Values naming no step: a number, a step in another case, one with a space, a space, a flag.
_NO_STEP = ["1", "Claimed", "claimed ", " ", "true"]


@pytest.mark.parametrize("value", _NO_STEP)
def test_a_crash_injection_naming_no_step_is_refused_at_the_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """Every such value: the start (module read, then ``app()``) raises ``SystemExit`` naming it.

    ``SystemExit`` with a text is exit status 1 and the text on stderr, with no traceback; one
    value also runs in its own uvicorn process, below (status, stderr, no socket).
    """
    monkeypatch.setenv("GEOTARGET_STORE", str(tmp_path / "d.db"))
    monkeypatch.setenv("GEOTARGET_SERVICE_CRASH", value)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stopped:
        service_module("app.py", "_geotarget_service_probe15").app()
    text = stopped.value.code
    assert isinstance(text, str), text
    assert "GEOTARGET_SERVICE_CRASH must be one of claiming, claimed, confirming" in text, text
    assert repr(value) in text and text.startswith("examples.service: cannot start: "), text
    assert not (tmp_path / "d.db").exists()  # (refused before the store was opened)


@pytest.mark.parametrize("value", ["claimed "])
def test_a_crash_injection_naming_no_step_stops_the_service(tmp_path: Path, value: str) -> None:
    """Exit status 1 naming ``GEOTARGET_SERVICE_CRASH`` and the value; no traceback, no socket.

    Before, any value but the four steps wrapped the store in the crashing one and never fired:
    the service ran, and a crash test run with a misspelt step passed without a crash. (One
    value in a uvicorn process; every one of :data:`_NO_STEP` is refused in-process above.)
    """
    sock = tmp_path / "svc.sock"
    env = {"GEOTARGET_STORE": str(tmp_path / "d.db"), "GEOTARGET_SERVICE_CRASH": value}
    proc = _uvicorn(sock, env)
    try:
        _, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    text = err.decode()
    assert proc.returncode == 1, text
    assert "GEOTARGET_SERVICE_CRASH must be one of claiming, claimed, confirming" in text, text
    assert repr(value) in text and "Traceback" not in text, text
    assert not sock.exists()
