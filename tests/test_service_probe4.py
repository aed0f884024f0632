"""The reference service's error answers as an API client reads them, and ``uvicorn --workers``.

Error answers: RFC 9457 problem details when the request's ``Accept`` prefers JSON, the message
as plain text otherwise; unknown paths and methods included. ``uvicorn --workers N`` with a
configuration mistake: the whole service stops (it started its workers again, forever). A form
upload anywhere, and a CAP document sent as a form (``curl -d`` drops its line ends): 415.
In-process through Starlette's test client, but for the uvicorn processes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from service_helpers import SERVICE, service_module
from starlette.testclient import TestClient

from geotarget.cap import MAX_DOCUMENT_BYTES
from geotarget.errors import StoreUnavailable
from geotarget.ledger import SQLiteLedger

ROOT = Path(__file__).resolve().parents[1]
AT = "2026-05-04T21:30:00+00:00"
PROBLEM = {"Accept": "application/problem+json"}


def _service() -> Any:
    return service_module("app.py", "_geotarget_service_probe4")


def _fixes(**change: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "ids": ["a", "b"],
        "lon": [18.06528, 18.07],
        "lat": [59.3325, 59.33],
        "accuracy_m": [8.0, 8.0],
        "observed_at": [AT, AT],
    }
    body.update(change)
    return body


# (method, path, keyword arguments, status, error, field, rule, value): what a client sends and
# the problem it must get back, written out by hand (the oracle), not read from the service.
_CASES: dict[str, tuple[Any, ...]] = {
    "a time without offset": (
        "POST",
        "/redeliver?at=2026-05-04T21:30",
        {},
        400,
        "InvalidInput",
        "at",
        None,
        "'2026-05-04T21:30'",
    ),
    "a latitude out of range": (
        "POST",
        f"/positions?at={AT.replace('+', '%2B')}",
        {"json": _fixes(lat=[59.3325, 95.5])},
        400,
        "InvalidPositions",
        "lat[1]",
        "must be finite and within [-90, 90]",
        "95.5",
    ),
    "a bool among longitudes": (
        "POST",
        "/positions",
        {"json": _fixes(lon=[18.0, True])},
        400,
        "InvalidInput",
        "lon[1]",
        "must be a number or null",
        "true",
    ),
    "a limit of zero": (
        "POST",
        "/redeliver?limit=0",
        {},
        400,
        "InvalidInput",
        "limit",
        "must be a whole number from 1 to 10,000",
        '"0"',
    ),
    "an empty body": (
        "POST",
        "/confirm",
        {"content": b""},
        400,
        "InvalidInput",
        "request body",
        "must be a JSON object",
        "0 bytes, none of them JSON: a body is framed by its Content-Length or Transfer-Encoding:"
        " chunked, and an HTTP/1.0 request without Content-Length has none",
    ),
    "a body not UTF-8": (
        "POST",
        "/positions",
        {"content": b"\xff\xfe\x00{"},
        400,
        "InvalidInput",
        None,
        None,
        None,
    ),
    "a gzip body": (
        "POST",
        "/confirm",
        {"content": b"\x1f\x8b", "headers": {"Content-Encoding": "gzip"}},
        415,
        "Encoded",
        None,
        None,
        None,
    ),
    "a body declared too large": (
        "POST",
        "/alerts",
        {"content": b"<" * (MAX_DOCUMENT_BYTES + 1)},
        413,
        "TooLarge",
        None,
        None,
        None,
    ),
    "an unknown path": ("GET", "/health", {}, 404, "NotFound", None, None, None),
    "an unknown incident": (
        "GET",
        "/explain?incident=SE-NONE&device=a",
        {},
        404,
        "NotFound",
        None,
        None,
        None,
    ),
    "a GET of a POST endpoint": ("GET", "/positions", {}, 405, "MethodNotAllowed", *[None] * 3),
    "a DELETE": ("DELETE", "/alerts", {}, 405, "MethodNotAllowed", None, None, None),
}


@pytest.mark.parametrize("case", sorted(_CASES))
def test_an_error_is_problem_details_when_the_client_accepts_json(
    tmp_path: Path, case: str
) -> None:
    """``Accept: application/problem+json``: RFC 9457 members, the message as ``detail``.

    Before, every error was ``text/plain`` whatever the client asked for, and an unknown path
    or method was Starlette's bare "Not Found" / "Method Not Allowed" naming neither what
    was asked nor what the service takes.
    """
    method, path, sent, status, error, field, rule, value = _CASES[case]
    kw = dict(sent)
    with TestClient(_service().create_app(SQLiteLedger(tmp_path / "d.db"))) as client:
        headers = {**kw.pop("headers", {})}
        r = client.request(method, path, headers={**headers, **PROBLEM}, **kw)
        assert r.status_code == status, (r.status_code, r.text)
        assert r.headers["content-type"] == "application/problem+json", r.headers
        problem = json.loads(r.content.decode("utf-8"))
        assert problem["type"] == "about:blank" and problem["status"] == status, problem
        assert problem["title"] and problem["error"] == error, problem
        assert problem["instance"] == path.split("?")[0], problem
        assert isinstance(problem["detail"], str) and 0 < len(problem["detail"]) < 8_100
        assert problem.get("field") == field, problem
        if rule is not None:
            assert problem["rule"] == rule, problem
        assert problem.get("value") == value, problem
        if status == 405:
            assert r.headers["allow"] == "POST" and "takes only POST" in problem["detail"]
        if status == 404 and "explain" not in path:
            assert "POST /alerts" in problem["detail"] and "GET /explain" in problem["detail"]
        # The same request as plain text: the message itself, as before.
        r2 = client.request(method, path, headers={**headers, "Accept": "*/*"}, **kw)
        assert r2.status_code == status and r2.headers["content-type"].startswith("text/plain")
        assert r2.text == problem["detail"], (r2.text, problem)


@pytest.mark.parametrize(
    ("accept", "problem"),
    [
        ("application/problem+json", True),
        ("application/json", True),
        ("application/*", True),
        ("text/plain;q=0.2, application/json", True),
        ("application/json;q=0.5, text/plain", False),
        ("text/html, application/xhtml+xml;q=0.9, */*;q=0.8", False),
        ("*/*", False),
        ("", False),
        ("application/json;q=0", False),
        ("application/json;q=nan", False),
        ("text/*;q=0.3, application/json;q=0.4", True),
    ],
)
def test_the_accept_header_chooses_the_error_format(
    tmp_path: Path, accept: str, problem: bool
) -> None:
    """JSON where the client prefers it; plain text for ``*/*``, none, or a tie (as before)."""
    with TestClient(_service().create_app(SQLiteLedger(tmp_path / "d.db"))) as client:
        r = client.post("/redeliver?limit=x", headers={"Accept": accept})
        assert r.status_code == 400
        kind = r.headers["content-type"]
        assert kind.startswith("application/problem+json" if problem else "text/plain"), kind


def test_a_store_failure_is_a_problem_naming_the_store_error(tmp_path: Path) -> None:
    """503 problem details naming the :mod:`geotarget.errors` class of the store's failure."""
    service = _service()

    def cannot_open() -> Any:
        raise StoreUnavailable(f"the store {tmp_path / 'gone' / 'd.db'} cannot be opened")

    with TestClient(service.create_app(service._OpenedLater(cannot_open))) as client:
        r = client.post(
            f"/confirm?at={AT.replace('+', '%2B')}", json={"keys": ["a 1 b"]}, headers=PROBLEM
        )
        assert r.status_code == 503 and r.headers["content-type"] == "application/problem+json"
        problem = r.json()
        assert problem["error"] == "StoreUnavailable" and problem["status"] == 503, problem
        assert "cannot be opened" in problem["detail"], problem


class _Faulty(SQLiteLedger):
    """A store whose look-up fails as a bug would: an exception that is no geotarget error."""

    def incident(self, *args: Any, **kw: Any) -> Any:
        raise RuntimeError("lon 18.06528 lat 59.3325 of device a")


def test_a_fault_of_the_service_is_a_500_problem_that_quotes_nothing(tmp_path: Path) -> None:
    """A 500 names the exception's class only: its message may hold a position."""
    service = _service()
    app = service.create_app(_Faulty(tmp_path / "d.db"))
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.get("/explain", params={"incident": "x", "device": "a"}, headers=PROBLEM)
        assert r.status_code == 500 and r.headers["content-type"] == "application/problem+json"
        problem = r.json()
        assert problem["error"] == "InternalError" and "RuntimeError" in problem["detail"]
        assert "18.06" not in r.text and "59.33" not in r.text, r.text


@pytest.mark.slow
def test_a_configuration_mistake_stops_uvicorn_with_workers(tmp_path: Path) -> None:
    """``uvicorn --workers 2`` and a mistake: every process stops, the message said, no socket.

    Before, uvicorn's supervisor started each worker that stopped again, forever (the message
    twice a second, the socket bound, nothing answered): a mistake looked like a running
    service. uvicorn's supervisor exits with status 0 whatever its workers' (documented).
    """
    if not (SERVICE / "app.py").exists():
        pytest.skip("examples/service is not beside the tests (an installed-wheel run)")
    sock = tmp_path / "svc.sock"
    env = {**os.environ, "GEOTARGET_MAX_BODY": "256M", "GEOTARGET_STORE": str(tmp_path / "d.db")}
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "uvicorn", "--factory", "examples.service.app:app"),
            *("--uds", str(sock), "--workers", "2"),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    started = time.monotonic()
    try:
        _, err = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
        raise AssertionError(f"uvicorn --workers 2 did not stop: {err.decode()[-2000:]}") from None
    text = err.decode()
    assert "examples.service: cannot start: GEOTARGET_MAX_BODY must be a whole number" in text
    assert "Traceback" not in text, text
    assert text.count("cannot start") <= 4, text  # each worker once (no restart loop)
    assert not sock.exists() and not (tmp_path / "d.db").exists()
    assert time.monotonic() - started < 90


def _alert() -> bytes:
    import datetime as dt

    from geotarget import Circle, alerts, cap

    at = dt.datetime.fromisoformat(AT)
    msg = alerts.Message(
        headline="Explosionsrisk",
        description="Lämna området.\nGå norrut.",
        area_description="Sergels torg",
    )
    alert = alerts.explosion(
        identifier="SE-POL-4",
        sender="polisen@polisen.se",
        sent=at,
        area=Circle(18.06528, 59.3325, 500.0),
        sv=msg,
        en=msg,
        onset=at,
        expires=at + dt.timedelta(hours=2),
    )
    return cap.dumps(alert).encode()


def test_a_form_upload_or_a_cap_document_sent_as_a_form_is_a_415(tmp_path: Path) -> None:
    """``curl -F`` (form parts) anywhere, ``curl -d`` (line ends dropped) for a CAP document.

    Before, a form upload was read as the document ("the text '--1e42...' comes before the
    root element"; for JSON "Expecting value: line 1 column 1"), and a CAP document sent as
    ``application/x-www-form-urlencoded`` was taken as sent, though ``curl -d`` had run its
    lines together. Nothing of a refused body is applied: the incident stays unknown.
    """
    store = SQLiteLedger(tmp_path / "d.db")
    with TestClient(_service().create_app(store)) as client:
        q = {"at": AT}
        doc = _alert()
        r = client.post("/alerts", params=q, files={"alert": ("alert.xml", doc, "text/xml")})
        assert r.status_code == 415 and "multipart/form-data" in r.text, r.text
        assert "curl --data-binary @FILE" in r.text and "nothing of it was read" in r.text
        batch = json.dumps(_fixes()).encode()
        r = client.post("/positions", params=q, files={"b": ("b.json", batch, "application/json")})
        assert r.status_code == 415 and "send the JSON itself" in r.text, r.text
        r = client.post(
            "/alerts",
            params=q,
            content=doc.replace(b"\n", b""),
            headers={"Content-Type": "application/x-www-form-urlencoded", **PROBLEM},
        )
        assert r.status_code == 415 and r.json()["error"] == "UnsupportedMediaType", r.text
        assert "curl -d drops the file's line ends" in r.json()["detail"]
        assert store.incident("polisen@polisen.se/SE-POL-4") is None  # nothing applied
        # JSON is read whatever its type (curl -d @batch.json drops only white space), and
        # a CAP document as XML, text or no type at all.
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        r = client.post("/positions", params=q, content=batch, headers=form)
        assert r.status_code == 200, r.text
        for kind in ("application/xml", "text/xml", "application/cap+xml", "text/plain"):
            r = client.post("/alerts", params=q, content=doc, headers={"Content-Type": kind})
            assert r.status_code == 200 and r.json()["verdict"] == "DELIVER", (kind, r.text)
        assert store.incident("polisen@polisen.se/SE-POL-4") is not None


def test_an_identifier_reused_for_other_content_is_a_409_conflict(tmp_path: Path) -> None:
    """The same sender and identifier with another area: 409, naming the first difference.

    Before, a 400, which says the request itself is malformed: it is not, it conflicts with
    what the store holds (CAP identifiers are unique per sender). Nothing is applied: the
    first version stays the incident's.
    """
    store = SQLiteLedger(tmp_path / "d.db")
    with TestClient(_service().create_app(store)) as client:
        q = {"at": AT}
        first = _alert()
        assert client.post("/alerts", params=q, content=first).status_code == 200
        wider = first.replace(b"59.3325,18.06528 0.5", b"59.3325,18.06528 2")
        assert wider != first
        r = client.post("/alerts", params=q, content=wider, headers=PROBLEM)
        assert r.status_code == 409 and r.headers["content-type"] == PROBLEM["Accept"], r.text
        problem = r.json()
        assert problem["error"] == "DuplicateIdentifier" and problem["title"] == "Conflict"
        assert problem["field"].startswith("infos[0].areas[0]"), problem
        assert "500" in problem["stored"] and "2000" in problem["received"], problem
        assert "'SE-POL-4'" in problem["detail"] and "must be unique" in problem["detail"]
        r = client.post("/alerts", params=q, content=wider)
        assert r.status_code == 409 and r.text == problem["detail"], r.text
        again = client.post("/alerts", params=q, content=first)
        assert again.status_code == 200 and again.json()["verdict"] == "DELIVER", again.text


def _east(fixes: dict[str, tuple[int, str]]) -> dict[str, Any]:
    """A batch: device -> (metres due east of the alert's centre, observed_at), within 2 m."""
    import math

    per_degree = 111_320 * math.cos(math.radians(59.3325))
    ids = list(fixes)
    return {
        "ids": ids,
        "lon": [18.06528 + fixes[d][0] / per_degree for d in ids],
        "lat": [59.3325] * len(ids),
        "accuracy_m": [2.0] * len(ids),
        "observed_at": [fixes[d][1] for d in ids],
    }


def test_an_alert_reaches_at_once_every_device_whose_latest_fix_the_process_took(
    tmp_path: Path,
) -> None:
    """Not only the devices of the latest batch: each device's latest fix over the batches.

    Before, ``POST /alerts`` targeted the latest batch alone: a device that reported from the
    middle of the area in the batch before was told nothing until its next fix (at the
    pilot's cadence, minutes). The oracle: the latest fix of each device by ``observed_at``,
    whatever order the batches came in, inside the 500 m circle by its distance (2 m fixes,
    none within 50 m of the edge).
    """
    earlier, later = "2026-05-04T21:29:00+00:00", "2026-05-04T21:29:30+00:00"
    batches = [
        {"stays": (100, earlier), "leaves": (50, earlier), "late": (900, later)},
        {"far": (5_000, later), "leaves": (2_000, later), "late": (200, earlier)},
        {"last": (300, later)},
    ]
    inside = {"stays", "last"}  # "leaves": its latest fix is outside; "late": the older one
    with TestClient(_service().create_app(SQLiteLedger(tmp_path / "d.db"))) as client:
        q = {"at": AT}
        for batch in batches:
            assert client.post("/positions", params=q, json=_east(batch)).json()["deliveries"] == []
        r = client.post("/alerts", params=q, content=_alert())
        assert r.status_code == 200 and r.json()["verdict"] == "DELIVER", r.text
        assert {d["device"] for d in r.json()["deliveries"]} == inside, r.text
        again = client.post("/alerts", params=q, content=_alert())
        assert again.json()["deliveries"] == [], again.text  # each once


def test_integer_and_text_ids_of_kept_batches_are_one_device(tmp_path: Path) -> None:
    """``"7"`` in one batch and ``7`` in the next are one device, as the store has it.

    Its newest fix (by ``observed_at``, in the batch posted first) is outside the area: the
    older one inside, posted last, must not tell it.
    """
    service = _service()
    earlier, later = "2026-05-04T21:29:00+00:00", "2026-05-04T21:29:30+00:00"
    with TestClient(service.create_app(SQLiteLedger(tmp_path / "d.db"))) as client:
        q = {"at": AT}
        client.post("/positions", params=q, json=_east({"7": (4_000, later), "z": (150, later)}))
        ints = _east({"x": (100, earlier), "y": (3_000, earlier)})
        ints["ids"] = [7, 8]
        client.post("/positions", params=q, json=ints)
        r = client.post("/alerts", params=q, content=_alert())
        assert sorted(d["device"] for d in r.json()["deliveries"]) == ["z"], r.text


def test_explain_answers_from_each_devices_latest_fix_over_the_kept_batches(
    tmp_path: Path,
) -> None:
    """``GET /explain`` explains the fix ``POST /alerts`` targeted, not only the latest batch's.

    Before, a device absent from the latest batch had "no position in the current snapshot",
    though the alert had just been delivered to it from an earlier batch; and a device whose
    newest fix (by ``observed_at``) came in an earlier batch was explained from the older fix
    of the latest one. The oracle: the deliveries of ``POST /alerts`` itself, and the distance
    of each device's newest fix from the 500 m circle's centre.
    """
    earlier, later = "2026-05-04T21:29:00+00:00", "2026-05-04T21:29:30+00:00"
    batches = [
        {"told": (100, later), "moved": (150, later)},
        {"moved": (3_000, earlier), "other": (4_000, later)},
    ]
    with TestClient(_service().create_app(SQLiteLedger(tmp_path / "d.db"))) as client:
        q = {"at": AT}
        for batch in batches:
            client.post("/positions", params=q, json=_east(batch))
        r = client.post("/alerts", params=q, content=_alert())
        assert sorted(d["device"] for d in r.json()["deliveries"]) == ["moved", "told"], r.text
        incident = "polisen@polisen.se/SE-POL-4"
        for device in ("told", "moved"):
            e = client.get("/explain", params={"incident": incident, "device": device, "at": AT})
            assert e.status_code == 200, (device, e.text)
            assert f"device '{device}' does not receive alert SE-POL-4 again" in e.text, e.text
        e = client.get("/explain", params={"incident": incident, "device": "other", "at": AT})
        assert e.status_code == 200 and "does not receive" in e.text, e.text
        assert "again" not in e.text, e.text
        e = client.get("/explain", params={"incident": incident, "device": "nobody", "at": AT})
        assert e.status_code == 404, e.text


def test_the_fixes_kept_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """At most ``RETAINED_FIXES`` fixes (the oldest batches dropped first), no long ids."""
    service = _service()
    monkeypatch.setattr(service, "RETAINED_FIXES", 3)
    with TestClient(service.create_app(SQLiteLedger(tmp_path / "d.db"))) as client:
        q = {"at": AT}
        client.post("/positions", params=q, json=_east({"old": (10, AT)}))
        client.post("/positions", params=q, json=_east({"a": (20, AT), "b": (30, AT)}))
        client.post("/positions", params=q, json=_east({"long" * 20: (40, AT)}))  # not kept
        client.post("/positions", params=q, json=_east({"c": (5_000, AT)}))
        r = client.post("/alerts", params=q, content=_alert())
        assert sorted(d["device"] for d in r.json()["deliveries"]) == ["a", "b"], r.text


def test_an_alert_whose_onset_comes_reaches_the_kept_fixes_too(tmp_path: Path) -> None:
    """``POST /redeliver`` at an alert's onset: every device whose latest fix was taken.

    Before, the alert was targeted over the latest batch alone: a device that reported from
    inside the area in the batch before waited for its next fix.
    """
    import datetime as dt

    from geotarget import Circle, alerts, cap

    at = dt.datetime.fromisoformat(AT)
    msg = alerts.Message(headline="Explosionsrisk", description="Gå.", area_description="Torget")
    later = alerts.explosion(
        identifier="SE-POL-5",
        sender="polisen@polisen.se",
        sent=at,
        area=Circle(18.06528, 59.3325, 500.0),
        sv=msg,
        en=msg,
        onset=at + dt.timedelta(minutes=10),
        expires=at + dt.timedelta(hours=2),
    )
    with TestClient(_service().create_app(SQLiteLedger(tmp_path / "d.db"))) as client:
        q = {"at": AT}
        client.post("/positions", params=q, json=_east({"near": (100, AT), "edge": (700, AT)}))
        client.post("/positions", params=q, json=_east({"far": (5_000, AT), "also": (250, AT)}))
        r = client.post("/alerts", params=q, content=cap.dumps(later).encode())
        assert r.status_code == 200 and r.json()["deliveries"] == [], r.text
        onset = {"at": (at + dt.timedelta(minutes=11)).isoformat()}
        r = client.post("/redeliver", params=onset)
        assert r.status_code == 200, r.text
        devices = [d["device"] for d in r.json()["deliveries"]]
        assert sorted(devices) == ["also", "near"], r.text  # each once
        again = client.post("/redeliver", params=onset)
        assert again.json()["deliveries"] == [], again.text
