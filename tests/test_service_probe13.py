"""The reference service as operators run it (probe 13): requests that overlap in one process.

A batch of positions that arrives while an alert is being targeted (read, checked, its
snapshot merged: a second or more over the fixes a process keeps), and one that streams while
an alert whose onset came is retargeted by ``POST /redeliver``. The interleavings are made
exact by a store that runs the other request at the step where it matters (in-process, through
Starlette's test client: the handlers' work runs in worker threads, so both requests are in
flight at once). The oracle: ``docs/delivery.rst``'s promise that an alert reaches at once every
device whose latest fix the process took, and the store read with :mod:`sqlite3` directly.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from service_helpers import service_module
from starlette.testclient import TestClient

from geotarget import Circle, alerts, cap
from geotarget.ledger import SQLiteLedger

AT = dt.datetime(2026, 5, 4, 21, 30, tzinfo=dt.timezone.utc)
CENTRE = (18.06528, 59.3325)
Q = {"at": AT.isoformat()}


def _service() -> Any:
    return service_module("app.py", "_geotarget_service_probe13")


def _alert(identifier: str, onset: dt.datetime = AT) -> bytes:
    msg = alerts.Message(headline="Explosionsrisk", description="Gå.", area_description="Torget")
    alert = alerts.explosion(
        identifier=identifier,
        sender="polisen@polisen.se",
        sent=AT,
        area=Circle(*CENTRE, 500.0),
        sv=msg,
        en=msg,
        onset=onset,
        expires=AT + dt.timedelta(hours=2),
    )
    return cap.dumps(alert).encode()


def _batch(devices: list[str], observed: dt.datetime = AT) -> bytes:
    """A batch of fixes at the alert's centre (5 m accuracy): every device inside its area."""
    n = len(devices)
    return json.dumps(
        {
            "ids": devices,
            "lon": [CENTRE[0]] * n,
            "lat": [CENTRE[1]] * n,
            "accuracy_m": [5.0] * n,
            "observed_at": [observed.isoformat()] * n,
        }
    ).encode()


def _claimed(store: Path) -> set[str]:
    """The devices claimed in the store, read by sqlite3 (each claim log row's device list)."""
    with sqlite3.connect(store) as db:
        rows = db.execute("SELECT strs FROM gt_claim_log").fetchall()
    return {device for (strs,) in rows for device in json.loads(strs)}


class _Meanwhile:
    """A store that runs ``then`` once, at the first call of ``step`` after it is armed.

    ``before``: ``then`` runs before the call reaches the store; else after it returned (its
    answer, read before ``then``, is what the caller gets).
    """

    def __init__(self, inner: SQLiteLedger) -> None:
        self.inner = inner
        self.armed: tuple[str, Callable[[], None], bool] | None = None

    def arm(self, step: str, then: Callable[[], None], before: bool) -> None:
        self.armed = (step, then, before)

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)
        if not callable(method):
            return method

        def call(*args: Any, **kw: Any) -> Any:
            armed = self.armed
            if armed is None or armed[0] != name:
                return method(*args, **kw)
            self.armed = None
            _, then, before = armed
            if before:
                then()
                return method(*args, **kw)
            got = method(*args, **kw)
            then()
            return got

        return call


def _devices(answer: Any) -> set[str]:
    assert answer.status_code == 200, answer.text
    return {d["device"] for d in answer.json()["deliveries"]}


def test_a_batch_taken_while_an_alert_is_targeted_is_told_by_the_alert(tmp_path: Path) -> None:
    """The batch arrives after the alert read its snapshot, and streams before it is live.

    Before, neither told the device: ``POST /positions`` found no live incident, and ``POST
    /alerts`` targeted the snapshot it read before the batch was swapped in; ``GET /explain``
    then said the device received the alert, and the store had no claim of it.
    """
    store = _Meanwhile(SQLiteLedger(tmp_path / "d.db"))
    answers: list[Any] = []
    with TestClient(_service().create_app(store)) as client:
        assert _devices(client.post("/positions", params=Q, content=_batch(["early"]))) == set()
        store.arm(
            "admit",
            lambda: answers.append(client.post("/positions", params=Q, content=_batch(["walker"]))),
            before=True,
        )
        alert = client.post("/alerts", params=Q, content=_alert("SE-POL-131"))
        assert [_devices(a) for a in answers] == [set()]  # (it ran while the alert was read)
        assert alert.json()["verdict"] == "DELIVER", alert.text
        assert _devices(alert) == {"early", "walker"}
    assert _claimed(tmp_path / "d.db") == {"early", "walker"}


def test_a_batch_streamed_before_an_alert_is_live_and_swapped_after_streams_again(
    tmp_path: Path,
) -> None:
    """The batch reads the live incidents, the whole alert runs, then the batch is swapped in.

    Before, the batch streamed to no incident and the alert targeted the snapshot without it.
    """
    store = _Meanwhile(SQLiteLedger(tmp_path / "d.db"))
    answers: list[Any] = []
    with TestClient(_service().create_app(store)) as client:
        store.arm(
            "load_active",
            lambda: answers.append(client.post("/alerts", params=Q, content=_alert("SE-POL-132"))),
            before=False,
        )
        walker = client.post("/positions", params=Q, content=_batch(["walker"]))
        assert len(answers) == 1 and answers[0].json()["verdict"] == "DELIVER", answers
        assert _devices(answers[0]) == set()  # (its snapshot was read before the batch)
        assert _devices(walker) == {"walker"}
    assert _claimed(tmp_path / "d.db") == {"walker"}


def test_a_batch_taken_while_redeliver_retargets_an_alert_whose_onset_came_is_told(
    tmp_path: Path,
) -> None:
    """``POST /redeliver`` reads its snapshot, the batch streams and is swapped in, then the claim.

    The alert was posted before its onset (told to nobody); at its onset the redeliver that
    retargets it is the only thing that makes it live.
    """
    store = _Meanwhile(SQLiteLedger(tmp_path / "d.db"))
    onset = AT + dt.timedelta(minutes=1)
    later = {"at": (onset + dt.timedelta(seconds=1)).isoformat()}
    answers: list[Any] = []
    with TestClient(_service().create_app(store)) as client:
        first = client.post("/alerts", params=Q, content=_alert("SE-POL-133", onset))
        assert first.status_code == 200 and first.json()["verdict"] != "DELIVER", first.text
        assert _devices(client.post("/positions", params=later, content=_batch(["early"]))) == set()
        store.arm(
            "claim",
            lambda: answers.append(
                client.post("/positions", params=later, content=_batch(["walker"], onset))
            ),
            before=True,
        )
        due = client.post("/redeliver", params=later)
        assert len(answers) == 1 and _devices(answers[0]) == set(), answers
        assert _devices(due) == {"early", "walker"}
    assert _claimed(tmp_path / "d.db") == {"early", "walker"}


def test_confirm_checks_its_keys_off_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``POST /confirm`` reads and checks its keys in a worker thread, never on the event loop.

    Each key is checked in Python (its three parts, its alert version counted): a push
    service's confirmation of a million keys, well within the body limit, held the event loop
    for over a second, every other request of the process (an alert, a ``GET /ready`` probe)
    waiting behind it. Counted, not timed: the check is watched for a running event loop.
    """
    service = _service()
    on_loop: list[bool] = []
    keys = service._keys

    def watched(data: Any) -> Any:
        try:
            asyncio.get_running_loop()
            on_loop.append(True)
        except RuntimeError:
            on_loop.append(False)
        return keys(data)

    monkeypatch.setattr(service, "_keys", watched)
    with TestClient(service.create_app(SQLiteLedger(tmp_path / "d.db"))) as client:
        client.post("/positions", params=Q, content=_batch(["p1"]))
        told = client.post("/alerts", params=Q, content=_alert("SE-POL-134"))
        key = told.json()["deliveries"][0]["key"]
        done = client.post("/confirm", params=Q, json={"keys": [key, "a b c"]})
        assert done.json() == {"confirmed": 1, "already": 0, "unknown": 1}, done.text
        bad = client.post("/confirm", params=Q, json={"keys": ["a b"]})
        assert bad.status_code == 400 and "keys[0] must be a delivery key" in bad.text, bad.text
    assert on_loop == [False, False]


def _fix_body(lon: str, lat: str, accuracy: str) -> bytes:
    """A batch of one fix, its numbers written as given (JSON text, or what is not JSON)."""
    return (
        f'{{"ids": ["a"], "lon": [{lon}], "lat": [{lat}], "accuracy_m": [{accuracy}],'
        f' "observed_at": ["{AT.isoformat()}"]}}'
    ).encode()


def test_nan_or_infinity_in_a_batch_is_a_400_naming_the_field_not_a_device_without_a_fix(
    tmp_path: Path,
) -> None:
    """``NaN`` and ``Infinity`` are not JSON (RFC 8259 section 6), yet ``json.dumps`` writes them.

    Before, ``"lon": [NaN], "lat": [NaN]`` (a producer's lost fix written by Python) was taken
    as a device without a fix, without a word; ``Infinity`` was refused as a coordinate out of
    range ("got inf"), not as what it is. Each is a 400 naming the column, the row and the
    value; nothing is applied (the alert reaches nobody from it, the store claims nobody).
    """
    cases = {
        ("NaN", "NaN", "5"): ("lon[0]", "NaN"),
        ("18.06528", "59.3325", "NaN"): ("accuracy_m[0]", "NaN"),
        ("18.06528", "59.3325", "Infinity"): ("accuracy_m[0]", "Infinity"),
        ("-Infinity", "59.3325", "5"): ("lon[0]", "-Infinity"),
    }
    with TestClient(_service().create_app(SQLiteLedger(tmp_path / "d.db"))) as client:
        alert = client.post("/alerts", params=Q, content=_alert("SE-POL-135"))
        assert alert.json()["verdict"] == "DELIVER", alert.text
        for (lon, lat, accuracy), (field, value) in cases.items():
            r = client.post(
                "/positions",
                params=Q,
                content=_fix_body(lon, lat, accuracy),
                headers={"Accept": "application/problem+json"},
            )
            assert r.status_code == 400, (lon, lat, accuracy, r.text)
            problem = r.json()
            assert problem["field"] == field and problem["value"].startswith(value), problem
            assert "not JSON" in problem["detail"], problem
        no_fix = client.post("/positions", params=Q, content=_fix_body("null", "null", "5"))
        assert _devices(no_fix) == set()  # (null is no fix, as the docs say)
    assert _claimed(tmp_path / "d.db") == set()


def test_a_null_accuracy_of_a_fix_is_named_as_the_null_sent(tmp_path: Path) -> None:
    """``accuracy_m: [null]`` beside a fix: the 400 names the row and the null, not a NaN.

    Before, it said "accuracy_m must be finite ... (got nan at row 0)": a value the client
    never sent. Null stays taken where the fix is null too (a device without a fix).
    """
    with TestClient(_service().create_app(SQLiteLedger(tmp_path / "d.db"))) as client:
        r = client.post(
            "/positions",
            params=Q,
            content=_fix_body("18.06528", "59.3325", "null"),
            headers={"Accept": "application/problem+json"},
        )
        assert r.status_code == 400, r.text
        problem = r.json()
        assert (problem["field"], problem["value"]) == ("accuracy_m[0]", "null"), problem
        assert "nan" not in problem["detail"].lower(), problem
        none = client.post("/positions", params=Q, content=_fix_body("null", "null", "null"))
        assert none.status_code == 200, none.text


def _stamps(n: int, zone: str) -> list[str]:
    """``n`` distinct times a millisecond apart, as phones stamp fixes, in ``zone`` (Z, +02:00)."""
    base = AT - dt.timedelta(minutes=1)
    shift = dt.timedelta(hours=2) if zone == "+02:00" else dt.timedelta(0)
    return [
        (base + shift + dt.timedelta(milliseconds=i))
        .replace(tzinfo=None)
        .isoformat(timespec="milliseconds")
        + zone
        for i in range(n)
    ]


def test_a_batch_stamped_to_the_millisecond_is_read_without_a_parse_per_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Times as phones send them are read at once, not one ``parse_time`` per distinct text.

    A phone stamps its fix to the millisecond, so a batch held as many distinct times as
    fixes, each read by its own ``parse_time`` (a Python call of several microseconds): most
    of a batch's time, and tens of seconds for a re-sent snapshot of a million fixes.
    Counted, not timed: ``parse_time`` is watched for the batch's ``observed_at`` (the
    instants read are checked against it below).
    """
    service = _service()
    calls: list[str] = []
    parse = service.parse_time

    def counted(text: str, *, field: str = "time") -> dt.datetime:
        calls.append(field)
        got: dt.datetime = parse(text, field=field)
        return got

    monkeypatch.setattr(service, "parse_time", counted)
    n = 4_000
    stamps = _stamps(n // 2, "Z") + _stamps(n // 2, "+02:00")
    body = json.dumps(
        {
            "ids": [f"p{i}" for i in range(n)],
            "lon": [CENTRE[0]] * n,
            "lat": [CENTRE[1]] * n,
            "accuracy_m": [5.0] * n,
            "observed_at": stamps,
        }
    ).encode()
    with TestClient(service.create_app(SQLiteLedger(tmp_path / "d.db"))) as client:
        assert client.post("/positions", params=Q, content=body).status_code == 200
        assert not [f for f in calls if f.startswith("observed_at")], len(calls)
        r = client.post("/alerts", params=Q, content=_alert("SE-POL-136"))
        assert len(r.json()["deliveries"]) == n, r.text


def test_times_read_at_once_are_the_instants_parse_time_reads(tmp_path: Path) -> None:
    """The bulk reading gives ``parse_time``'s instant for every text, and its refusals.

    Texts in the layout read at once (``Z`` or ``±hh:mm``, 0 to 9 fraction digits) over the
    years 1 to 9999, leap days, offsets to ±23:59 and instants at the edges of the years
    taken; then texts it leaves to ``parse_time`` (a space or ``t`` for ``T``, ``z``, a comma,
    ``+hhmm``) and ones ``parse_time`` refuses (30 February, hour 24, second 60, offset +24:00,
    an instant in the year 0 in UTC), each named with its row as before.
    """
    from geotarget import parse_time
    from geotarget.errors import InvalidInput

    service = _service()
    texts = [
        "2026-05-04T21:29:00Z",
        "2024-02-29T23:59:59.999999999+23:59",
        "0001-01-01T00:00:00-00:30",
        "9999-12-31T23:59:59.9Z",
        "9999-12-31T23:59:59+01:00",
        "1969-12-31T23:59:59.5-05:00",
        "2000-02-29T12:00:00.123456+05:45",
        "1900-03-01T00:00:00Z",
        "2026-05-04 21:29:00Z",
        "2026-05-04t21:29:00z",
        "2026-05-04T21:29:00,5+0200",
        "2026-05-04T21:29+02",
    ]
    want = [parse_time(t).astimezone(dt.timezone.utc).replace(tzinfo=None) for t in texts]
    got = service._instants(texts)
    assert [t.item() for t in got] == want
    assert service._iso_bulk(texts[:8]) is not None  # (the layout of devices: read at once)
    for bad in (
        "1900-02-29T00:00:00Z",
        "2026-02-30T12:00:00Z",
        "2026-05-04T24:00:00Z",
        "2026-05-04T23:59:60Z",
        "2026-05-04T21:29:00+24:00",
        "0001-01-01T00:00:00+00:01",
        "10000-01-01T00:00:00Z",
    ):
        with pytest.raises(InvalidInput) as oracle:
            parse_time(bad, field="observed_at[1]")
        with pytest.raises(InvalidInput) as refused:
            service._instants(["2026-05-04T21:29:00Z", bad])
        assert str(refused.value) == str(oracle.value)


def test_explain_of_a_device_written_with_a_plus_in_the_query_names_the_plus(
    tmp_path: Path,
) -> None:
    """``?device=+46701234567`` (an id in a phone number's international form): a query's ``+``.

    A URL query reads ``+`` as a space: before, the 404 said "device ' 46701234567' has no
    position", naming neither the ``+`` nor the cure (``%2B``), as ``?at=`` does. The id
    written ``%2B46701234567`` is explained; one with a space sent as ``%20`` gets no hint.
    """
    phone = "+46701234567"
    with TestClient(_service().create_app(SQLiteLedger(tmp_path / "d.db"))) as client:
        assert client.post("/positions", params=Q, content=_batch([phone])).status_code == 200
        told = client.post("/alerts", params=Q, content=_alert("SE-POL-137"))
        incident = told.json()["incident"]
        assert _devices(told) == {phone}
        at = "at=" + AT.isoformat().replace("+", "%2B")
        where = f"/explain?incident={incident}&{at}&device="
        plus = client.get(where + phone)
        assert plus.status_code == 404, plus.text
        assert "'+' in a URL query is read as a space" in plus.text, plus.text
        assert f"\"{phone}\", write its '+' as %2B" in plus.text, plus.text
        coded = client.get(where + phone.replace("+", "%2B"))
        assert coded.status_code == 200 and phone in coded.text, coded.text
        spaced = client.get(where + "%2046701234567")
        assert spaced.status_code == 404 and "%2B" not in spaced.text, spaced.text


def test_alerts_targeted_at_once_share_one_merge_of_the_kept_fixes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each alert merged the kept batches (and indexed them) for itself, though none came since.

    Over a million kept fixes each merge takes a second or two and a few hundred MB: alerts
    arriving together (a feed re-sending its queue, a sender retrying an alert that has not
    answered yet) answered one merge after another, the memory growing by each. Here a retry
    and another alert arrive while the first is being targeted. Counted, not timed: the
    merges are counted; each alert still reaches every device by its newest fix, and one
    posted once they are answered, after a new batch, merges again and reaches its devices.
    """
    service = _service()
    merges: list[int] = []
    latest = service._Retained.latest

    def counted(self: Any, current: Any) -> Any:
        merges.append(len(current))
        return latest(self, current)

    monkeypatch.setattr(service._Retained, "latest", counted)
    store = _Meanwhile(SQLiteLedger(tmp_path / "d.db"))
    meanwhile: list[Any] = []
    with TestClient(service.create_app(store)) as client:
        for devices in (["a", "b"], ["c"]):
            assert client.post("/positions", params=Q, content=_batch(devices)).status_code == 200

        def others() -> None:
            for identifier in ("SE-POL-138", "SE-POL-139"):  # (a retry, and another alert)
                meanwhile.append(client.post("/alerts", params=Q, content=_alert(identifier)))

        store.arm("admit", others, before=True)
        first = client.post("/alerts", params=Q, content=_alert("SE-POL-138"))
        retry, other = meanwhile
        assert retry.json()["verdict"] == other.json()["verdict"] == "DELIVER", retry.text
        assert _devices(first) | _devices(retry) == _devices(other) == {"a", "b", "c"}
        assert not _devices(first) & _devices(retry)
        assert len(merges) == 1, merges
        assert client.post("/positions", params=Q, content=_batch(["d"])).status_code == 200
        later = client.post("/alerts", params=Q, content=_alert("SE-POL-140"))
        assert _devices(later) == {"a", "b", "c", "d"}
        assert len(merges) == 2, merges
