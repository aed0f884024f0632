"""The reference service over HTTP as an integrator's push side meets it (probe 19).

Each test runs the service as a uvicorn process on a Unix socket (probe 9's instance) and talks
plain HTTP/1.1 to it: a CAP document with a UTF-8 byte order mark, a chunked batch, a restart
between an alert and its confirmation, and a Cancel's retractions confirmed. The oracle: each
fix's geodesic distance from the alert's centre by :class:`pyproj.Geod` (none within 15 m of
the edge), and the docs' delivery rules (each device told once, a confirmed key ``already``
the next time, a Cancel retracting exactly the devices told and nobody told after it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from service_helpers import SERVICE
from test_service_probe9 import _answer, _at, _Instance, _status
from test_service_probe17 import METRES, _batch, _cap, _within

if os.environ.get("CI") and not (SERVICE / "app.py").exists():  # (CI fails; never skips)
    raise AssertionError(f"{SERVICE} is missing: CI runs the service's tests from a checkout")


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[Path, list[_Instance]]]:
    """The store's path and the processes started over it (each stopped, no traceback)."""
    started: list[_Instance] = []
    try:
        yield tmp_path / "d.db", started
    finally:
        logs = [instance.stop() for instance in started]
        assert not any("Traceback" in log for log in logs), logs


def _post(instance: _Instance, path: str, body: bytes, seconds: float, head: str = "") -> Any:
    """``POST path`` at ``seconds`` after the probes' time, as JSON; ``head``: more headers."""
    if "Transfer-Encoding" not in head:
        head += f"Content-Length: {len(body)}\r\n"
    conn = instance.send(
        f"POST {path}?at={_at(seconds)} HTTP/1.1\r\nHost: s\r\nConnection: close\r\n"
        f"Accept: application/json\r\n{head}",
        body,
    )
    status, text = _status(_answer(conn))
    assert status == 200, text
    return json.loads(text)


def _fixes(metres: list[int], seconds: float) -> bytes:
    return json.dumps(_batch(metres, seconds)).encode()


def _devices(answer: dict[str, Any]) -> set[str]:
    return {d["device"] for d in answer["deliveries"]}


def test_a_bom_alert_and_a_chunked_batch_reach_exactly_the_devices_inside(
    service: tuple[Path, list[_Instance]],
) -> None:
    """A CAP document with a UTF-8 BOM, and a chunked batch, are read as any other.

    A document saved with a byte order mark (Windows editors) is the same alert; a batch sent
    with ``Transfer-Encoding: chunked`` (no length: a streaming client) is read whole, in
    chunks of any size.
    """
    store, started = service
    svc = _Instance(store.parent, store)
    started.append(svc)
    near, far = METRES[:16], METRES[16:]
    assert _post(svc, "/positions", _fixes(near, 0), 1) == {"deliveries": []}
    told = _post(svc, "/alerts", b"\xef\xbb\xbf" + _cap("P19-BOM", 500.0), 5)
    assert told["verdict"] == "DELIVER", told
    assert _devices(told) == _within(500.0, near)
    body = _fixes(far + near[:1], 10)
    chunked = b"".join(
        f"{len(part):x}\r\n".encode() + part + b"\r\n"
        for part in (body[:7], body[7:100], body[100:])
    )
    got = _post(svc, "/positions", chunked + b"0\r\n\r\n", 11, "Transfer-Encoding: chunked\r\n")
    assert _devices(got) == _within(500.0, far), "near[0] was told already"


def test_a_restart_between_an_alert_and_its_confirmation_and_a_cancel_of_it(
    service: tuple[Path, list[_Instance]],
) -> None:
    """A restart between an alert and its confirmation, then its Cancel, over HTTP.

    The push service confirms an alert's keys to a restarted process: each counts once
    (``already`` when sent again, a key of no delivery ``unknown``), nothing is offered again
    once the lease runs out; the Cancel retracts exactly the devices told, its retractions are
    confirmed, the Cancel sent again offers nothing, and an Update after it tells nobody.
    """
    store, started = service
    first = _Instance(store.parent, store)
    started.append(first)
    assert _post(first, "/positions", _fixes(METRES, 0), 1) == {"deliveries": []}
    alert = _post(first, "/alerts", _cap("P19-1", 500.0), 5)
    keys = [d["key"] for d in alert["deliveries"]]
    assert _devices(alert) == _within(500.0, METRES) and len(keys) == len(set(keys))
    first.stop()

    again = _Instance(store.parent, store)
    started.append(again)
    unknown = keys[0].rsplit(" ", 1)[0] + " nobody-19"
    done = _post(again, "/confirm", json.dumps({"keys": [*keys, unknown]}).encode(), 10)
    assert done == {"confirmed": len(keys), "already": 0, "unknown": 1}
    done = _post(again, "/confirm", json.dumps({"keys": keys}).encode(), 11)
    assert done == {"confirmed": 0, "already": len(keys), "unknown": 0}
    assert _post(again, "/redeliver", b"", 100) == {"deliveries": []}

    cancel = _post(again, "/alerts", _cap("P19-C", None, 60, "P19-1@0"), 120)
    assert cancel["verdict"] == "CANCELLED", cancel
    assert _devices(cancel) == _within(500.0, METRES)
    assert {d["kind"] for d in cancel["deliveries"]} == {"retraction"}
    retractions = json.dumps({"keys": [d["key"] for d in cancel["deliveries"]]}).encode()
    done = _post(again, "/confirm", retractions, 121)
    assert done == {"confirmed": len(cancel["deliveries"]), "already": 0, "unknown": 0}
    assert _post(again, "/alerts", _cap("P19-C", None, 60, "P19-1@0"), 122)["deliveries"] == []
    late = _post(again, "/alerts", _cap("P19-U", 1000.0, 90, "P19-C@60"), 123)
    assert late["deliveries"] == [], late
    assert _post(again, "/positions", _fixes(METRES, 124), 124) == {"deliveries": []}
    assert _post(again, "/redeliver", b"", 300) == {"deliveries": []}


def _problem(svc: _Instance, path: str, body: bytes, accept: str) -> tuple[int, Any, str]:
    """POST ``body`` to ``path`` asking for ``accept``: the status, the JSON answer, its text."""
    conn = svc.send(
        f"POST {path} HTTP/1.1\r\nHost: s\r\nConnection: close\r\n"
        f"Accept: {accept}\r\nContent-Length: {len(body)}\r\n",
        body,
    )
    status, text = _status(_answer(conn))
    return status, json.loads(text), text


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/positions", b"[" * 100_000 + b"]" * 100_000),
        ("/confirm", b'{"keys": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"),
    ],
)
def test_json_nested_past_the_reader_is_a_400_naming_the_rule(
    service: tuple[Path, list[_Instance]], path: str, body: bytes
) -> None:
    """JSON nested deeper than Python's reader goes is a 400 naming the field and the rule.

    A hostile body of 200 kB; the 400 said Python's "maximum recursion depth exceeded" words.
    """
    store, started = service
    svc = _Instance(store.parent, store)
    started.append(svc)
    status, problem, text = _problem(svc, path, body, "application/json")
    assert status == 400 and problem["error"] == "InvalidInput", text
    assert problem["field"] == "request body", problem
    assert problem["rule"].startswith("must be JSON whose arrays and objects nest less deep")
    assert problem["value"].startswith("deeper nesting"), problem
    assert "recursion depth" not in text, text


def test_one_alert_to_two_processes_at_once_amid_batches_tells_each_device_once(
    service: tuple[Path, list[_Instance]],
) -> None:
    """One alert to two processes over one SQLite store at once, amid batches: each told once.

    The same alert posted to both at the same moment (a sender's retry to another instance),
    while four batches of the devices arrive at both: each device inside is told exactly once
    over all six answers, nobody outside.
    """
    store, started = service
    a, b = _Instance(store.parent, store), _Instance(store.parent, store)
    started += [a, b]
    assert _post(a, "/positions", _fixes(METRES[0::2], 0), 1) == {"deliveries": []}
    assert _post(b, "/positions", _fixes(METRES[1::2], 0), 1) == {"deliveries": []}
    document = _cap("P19-2", 1000.0)
    jobs = [(a, "/alerts", document), (b, "/alerts", document)] + [
        (svc, "/positions", _fixes(METRES[k::4], 3)) for k, svc in enumerate((a, b, a, b))
    ]
    with ThreadPoolExecutor(len(jobs)) as pool:
        answers = list(pool.map(lambda job: _post(job[0], job[1], job[2], 5), jobs))
    told = [d["device"] for answer in answers for d in answer["deliveries"]]
    assert len(told) == len(set(told)), f"a device told twice: {sorted(told)}"
    assert set(told) == _within(1000.0, METRES)
    keys = [d["key"] for answer in answers for d in answer["deliveries"]]
    assert _post(b, "/confirm", json.dumps({"keys": keys}).encode(), 6)["confirmed"] == len(keys)
    assert _post(a, "/redeliver", b"", 100) == {"deliveries": []}


def test_a_time_parse_time_refuses_is_a_problem_naming_field_rule_and_value(
    service: tuple[Path, list[_Instance]],
) -> None:
    """A leap second and a +24:00 offset in a batch: problem details name field, rule, value.

    The messages read "is not" and "has", not "must": the problem had no ``field``.
    """
    store, started = service
    svc = _Instance(store.parent, store)
    started.append(svc)
    for text, rule in [
        ("2026-05-04T23:59:60+00:00", "is not a valid date-time"),
        ("2026-05-04T21:30:00+24:00", "has a UTC offset out of range"),
    ]:
        batch = _batch(METRES[:2], 0)
        batch["observed_at"][1] = text
        body = json.dumps(batch).encode()
        status, problem, answer = _problem(
            svc, f"/positions?at={_at(1)}", body, "application/problem+json"
        )
        assert status == 400, answer
        assert problem["field"] == "observed_at[1]", problem
        assert problem["rule"].startswith(rule), problem
        assert problem["value"] == repr(text), problem
    assert _post(svc, "/positions", _fixes(METRES[:2], 0), 2) == {"deliveries": []}
