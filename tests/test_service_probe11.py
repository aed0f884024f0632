"""The reference service as operators run it (probe 11): its paths, its query, its load run.

A CAP feed configured with ``/alerts/`` (a trailing slash), ``GET /explain`` with a bad ``?at=``
while the store cannot answer, and ``python -m examples.service.load`` pointed at a PostgreSQL
store (a DSN with a password, a server not up) or run beside a policy that refuses its alerts.
The oracle: what ``docs/delivery.rst`` promises, and the store read directly.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from service_helpers import service_module
from starlette.testclient import TestClient

from geotarget import Circle, alerts, cap
from geotarget.errors import StoreUnavailable
from geotarget.ledger import SQLiteLedger

AT = dt.datetime(2026, 5, 4, 21, 30, tzinfo=dt.timezone.utc)
CENTRE = (18.06528, 59.3325)
ROOT = Path(__file__).resolve().parents[1]


def _service() -> Any:
    return service_module("app.py", "_geotarget_service_probe11")


def _load() -> Any:
    return service_module("load.py", "_geotarget_service_load_probe11")


def _alert(identifier: str = "SE-POL-1") -> bytes:
    msg = alerts.Message(
        headline="Explosionsrisk", description="Lämna området.", area_description="Sergels torg"
    )
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


def _batch(ids: list[str]) -> dict[str, Any]:
    return {
        "ids": ids,
        "lon": [CENTRE[0]] * len(ids),
        "lat": [CENTRE[1]] * len(ids),
        "accuracy_m": [5.0] * len(ids),
        "observed_at": [AT.isoformat()] * len(ids),
    }


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/alerts/"),
        ("POST", "/positions/"),
        ("POST", "/confirm/"),
        ("POST", "/redeliver/"),
        ("GET", "/explain/"),
        ("GET", "/ready/"),
    ],
)
def test_a_path_with_a_trailing_slash_is_a_404_naming_the_endpoint_not_a_redirect(
    tmp_path: Path, method: str, path: str
) -> None:
    """``POST /alerts/`` answers 404 naming ``/alerts``: it was a 307 with an empty body.

    Starlette redirected it to ``/alerts``: a feed that does not follow redirects (``curl``
    without ``-L``, many HTTP libraries for a POST) got no answer it could read and its alert
    went to nobody, and behind a proxy that ends TLS the redirect named ``http://`` and the
    proxy's inner host. A client that follows it sends the body a second time.
    """
    store = SQLiteLedger(tmp_path / "deliveries.db")
    with TestClient(_service().create_app(store), follow_redirects=False) as client:
        assert client.post("/positions", params={"at": AT.isoformat()}, json=_batch(["p1"]))
        body = _alert() if path == "/alerts/" else b"{}"
        r = client.request(method, path, params={"at": AT.isoformat()}, content=body)
        assert r.status_code == 404, (r.status_code, r.headers, r.text)
        assert "location" not in r.headers
        endpoint = path.rstrip("/")
        assert f"({endpoint} is one: without the trailing slash)" in r.text, r.text
        assert "nothing was applied" in r.text
        problem = client.request(
            method, path, content=body, headers={"Accept": "application/problem+json"}
        ).json()
        assert problem["status"] == 404 and problem["error"] == "NotFound"
        assert problem["instance"] == path
        # Nothing of the alert reached the store (a redirect followed would have delivered it).
        assert store.load_active() == []


def test_an_unknown_path_still_names_the_endpoints_without_a_hint(tmp_path: Path) -> None:
    """A path that is no endpoint with or without the slash gets no trailing-slash hint."""
    store = SQLiteLedger(tmp_path / "deliveries.db")
    with TestClient(_service().create_app(store), follow_redirects=False) as client:
        for path in ("/alert/", "/", "/alerts/x", "/ready/x/"):
            r = client.get(path)
            assert r.status_code == 404 and "without the trailing slash" not in r.text, r.text
            assert "GET /ready" in r.text


class _Down:
    """A store that is down: every call fails as a PostgreSQL server that is not up."""

    def close(self) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **kw: Any) -> Any:
            raise StoreUnavailable("PostgreSQL store: the server cannot be reached (test)")

        return call


def test_explain_refuses_a_bad_at_before_it_asks_the_store(tmp_path: Path) -> None:
    """``GET /explain?at=yesterday`` is a 400 naming ``at``, whatever the store says.

    It read ``?at=`` only once the store had found the incident: for an unknown incident the
    answer was a 404 about the incident, and while the store was down a 503, so a client's
    mistake looked like the service's (every other endpoint reads its query first).
    """
    service = _service()
    query = {"incident": "polisen@polisen.se/NOPE", "device": "p1", "at": "yesterday"}
    store = SQLiteLedger(tmp_path / "deliveries.db")
    with TestClient(service.create_app(store)) as client:
        r = client.get("/explain", params=query)
        assert r.status_code == 400 and r.text.startswith("at must be an ISO 8601"), r.text
    with TestClient(service.create_app(_Down())) as client:
        r = client.get("/explain", params=query)
        assert r.status_code == 400 and r.text.startswith("at must be an ISO 8601"), r.text
        # (a good ?at= then meets the store, as before)
        r = client.get("/explain", params={**query, "at": AT.isoformat()})
        assert r.status_code == 503 and "cannot be reached" in r.text, r.text


SECRET = "s3cret-not-for-logs"


# (While the service starts, each refused connect leaves its socket to the collector, inside
# the HTTP client: ResourceWarnings of the client's, not of the run's files.)
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_the_load_run_does_not_print_a_dsns_password(
    postgres_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The report of a run over ``--store DSN`` names the store without the DSN.

    It printed the DSN whole, password included, to the terminal or the CI log of whoever ran
    it against the store the instances share. (The throw-away cluster trusts its socket: the
    password is taken and not checked.)
    """
    load = _load()
    got = load.run(
        store=f"{postgres_dsn} password={SECRET}",
        rate=0,
        batches=2,
        devices=50,
        n_alerts=1,
        updates_every=0,
        clients=1,
    )
    assert got["batches"] == 2 and got["deliveries"] > 0
    shown = load.report(got)
    assert SECRET not in shown and SECRET not in repr(got)
    assert "a PostgreSQL DSN (not shown: it may hold a password)" in shown
    assert SECRET not in capsys.readouterr().out
    # A file path is shown as given (nothing secret in it).
    assert load._store_named("/var/lib/geotarget/deliveries.db").endswith("deliveries.db")


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_the_load_run_says_why_the_service_was_not_ready(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store the service cannot reach stops the run with ``/ready``'s answer, no password.

    The service starts without its store (it answers 503 naming the cause, and opens the store
    once it can): the run waited its minute and said "the service did not answer in 60 s",
    where the service had answered all along why it was not ready.
    """
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    load = _load()
    monkeypatch.setattr(load, "READY_SECONDS", 1.0)
    with pytest.raises(SystemExit) as stopped:
        load.run(
            store=f"postgresql://svc:{SECRET}@127.0.0.1:1/alerts",
            rate=0,
            batches=1,
            devices=10,
            n_alerts=1,
            updates_every=0,
            clients=1,
        )
    said = str(stopped.value.code)
    assert said.startswith("the service was not ready in 1 s: GET /ready answered 503: "), said
    assert "PostgreSQL store: connect failed" in said and SECRET not in said
    assert list(tmp_path.iterdir()) == []  # (its socket's directory goes with it)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_the_load_run_stops_when_the_policy_refuses_its_alerts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beside a policy that does not deliver Explosions, the run stops naming the verdict.

    The service it starts reads ``GEOTARGET_POLICY`` from the run's environment (the operator's
    own, on the production machine, as the docs advise): there the load's alerts reached
    nobody, and the run printed fixes per second and "0 deliveries confirmed" as its result.
    """
    pilot = (ROOT / "docs" / "examples" / "pilot_policy.toml").read_text(encoding="utf-8")
    head = "[kinds.explosion]\nkilled = false\n"
    assert head in pilot
    policy = tmp_path / "policy.toml"
    policy.write_text(pilot.replace(head, "[kinds.explosion]\nkilled = true\n"), "utf-8")
    monkeypatch.setenv("GEOTARGET_POLICY", str(policy))
    with pytest.raises(SystemExit) as stopped:
        _load().run(rate=0, batches=2, devices=50, n_alerts=1, updates_every=0, clients=1)
    said = str(stopped.value.code)
    assert said.startswith("the service did not deliver alert LOAD-0: "), said
    assert "DELIVER:" not in said and "nothing was measured" in said


@pytest.mark.parametrize(
    ("content_type", "said"),
    [
        ("application/json; charset=ISO-8859-1", '; its Content-Type\'s charset="iso-8859-1"'),
        (
            'application/json; charset="windows-1252"',
            '; its Content-Type\'s charset="windows-1252"',
        ),
        ("application/json", ""),
    ],
)
def test_a_json_body_not_in_utf8_is_a_400_naming_the_byte_and_the_charset(
    tmp_path: Path, content_type: str, said: str
) -> None:
    """A batch in Latin-1 (a Windows export, ``charset=ISO-8859-1``) is refused naming UTF-8.

    It answered "request body must be a JSON object ('utf-8' codec can't decode byte 0xe4 in
    position 11: invalid continuation byte)" of a body that is a JSON object: the rule broken
    (RFC 8259: JSON between systems is UTF-8) was not named, nor the header's charset, which
    the service does not convert, and a problem carried no field, rule or value. Only the byte is shown: the bytes
    around it may be coordinates.
    """
    batch = _batch(["Lämna-1"])
    batch["lon"], batch["lat"] = [18.0712345], [59.3312345]
    body = json.dumps(batch, ensure_ascii=False).encode("latin-1")
    offset = body.index(b"\xe4")
    store = SQLiteLedger(tmp_path / "deliveries.db")
    with TestClient(_service().create_app(store)) as client:
        r = client.post(
            "/positions",
            params={"at": AT.isoformat()},
            content=body,
            headers={"Content-Type": content_type, "Accept": "application/problem+json"},
        )
        assert r.status_code == 400, r.text
        problem = r.json()
        assert problem["field"] == "request body"
        assert problem["rule"] == (
            f"must be a JSON object in UTF-8 (RFC 8259 section 8.1: send it in UTF-8{said}"
            f"{' is not converted' if said else ''})"
        )
        assert problem["value"] == (
            f"byte 0xE4 at offset {offset:,}, not UTF-8: invalid continuation byte"
        )
        assert "18.07" not in r.text and "59.33" not in r.text
        # /confirm reads its body the same way
        r = client.post(
            "/confirm",
            params={"at": AT.isoformat()},
            content='{"keys": ["a b Lämna"]}'.encode("latin-1"),
            headers={"Content-Type": content_type},
        )
        assert r.status_code == 400 and r.text.startswith(
            "request body must be a JSON object in UTF-8"
        )


def _explosion(identifier: str, radius: float, sent: dt.datetime, **kw: Any) -> bytes:
    msg = alerts.Message(
        headline="Explosionsrisk", description="Lämna området.", area_description="Norrmalm"
    )
    alert = alerts.explosion(
        identifier=identifier,
        sender="polisen@polisen.se",
        sent=sent,
        area=Circle(*CENTRE, radius),
        sv=msg,
        en=msg,
        onset=AT,
        expires=AT + dt.timedelta(hours=2),
    )
    if kw:
        import attrs

        alert = attrs.evolve(alert, **kw)
    return cap.dumps(alert).encode()


def test_an_alert_the_blast_radius_guard_holds_is_sent_with_confirm(tmp_path: Path) -> None:
    """``POST /alerts?confirm=true`` sends an alert (or Update) the guard held as BLAST_RADIUS.

    The answer said "confirm to send anyway", and the service took no ``confirm``: an
    Explosion over the pilot's 100 km² could not be sent through it at all, and an Update
    that widened a delivered one held its incident dark (nobody entering even the area
    delivered before was told) until another Update replaced it. The oracle: each device's
    distance from the centre by pyproj's geodesic (no device within 100 m of an edge).
    """
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    rings = [300.0, 2_000.0, 6_500.0, 9_000.0, 12_000.0]  # metres from the centre
    ids, lon, lat = [], [], []
    for r in rings:
        for azimuth in range(0, 360, 30):
            x, y, _ = geod.fwd(CENTRE[0], CENTRE[1], azimuth, r)
            ids.append(f"r{int(r)}-{azimuth}")
            lon.append(x)
            lat.append(y)
    batch = {**_batch(ids), "lon": lon, "lat": lat}

    metres = {
        d: geod.inv(CENTRE[0], CENTRE[1], x, y)[2] for d, x, y in zip(ids, lon, lat, strict=True)
    }

    def within(radius: float) -> set[str]:
        assert all(abs(m - radius) > 100.0 for m in metres.values())
        return {d for d, m in metres.items() if m < radius}

    q = {"at": AT.isoformat()}
    store = SQLiteLedger(tmp_path / "deliveries.db")
    with TestClient(_service().create_app(store)) as client:
        assert client.post("/positions", params=q, json=batch).status_code == 200
        # An Alert of 1 km is delivered at once (π km², under the guard).
        first = client.post("/alerts", params=q, content=_explosion("E-1", 1_000.0, AT)).json()
        assert first["verdict"] == "DELIVER"
        assert {d["device"] for d in first["deliveries"]} == within(1_000.0)
        # Its Update to 7 km (154 km²) is held: nobody new, and the answer says how to send it.
        ref = alerts.Reference(sender="polisen@polisen.se", identifier="E-1", sent=AT)
        update = _explosion(
            "E-2",
            7_000.0,
            AT + dt.timedelta(minutes=1),
            msg_type=alerts.MessageType.UPDATE,
            references=(ref,),
        )
        held = client.post("/alerts", params=q, content=update).json()
        assert held["verdict"] == "BLAST_RADIUS" and held["deliveries"] == []
        assert "POST the same document to /alerts?confirm=true" in held["reason"]
        # Not a flag it reads loosely.
        bad = client.post("/alerts", params={**q, "confirm": "yes"}, content=update)
        assert bad.status_code == 400 and "query parameter 'confirm' must be true" in bad.text
        # Confirmed: the Update reaches every device within 7 km not told before.
        sent = client.post("/alerts", params={**q, "confirm": "true"}, content=update).json()
        assert sent["verdict"] == "DELIVER", sent
        told = {d["device"] for d in sent["deliveries"]}
        assert within(7_000.0) - within(1_000.0) <= told <= within(7_000.0)
        # And a new Explosion of 10 km, held (?confirm=false is the default), then sent.
        wide = _explosion("W-1", 10_000.0, AT)
        for query in (q, {**q, "confirm": "false"}):
            held = client.post("/alerts", params=query, content=wide).json()
            assert held["verdict"] == "BLAST_RADIUS" and held["deliveries"] == []
        sent = client.post("/alerts", params={**q, "confirm": "true"}, content=wide).json()
        assert {d["device"] for d in sent["deliveries"]} == within(10_000.0)


def test_a_fix_stamped_after_it_arrived_does_not_hide_the_devices_later_fixes(
    tmp_path: Path,
) -> None:
    """A phone whose clock ran two hours ahead once is told from its next, correct fix.

    A fix stamped after its batch arrived (local summer time sent as UTC: two hours ahead) was
    taken as that device's newest fix over every fix it sent later, for as long as the
    process kept it (a million fixes later): each later fix from inside the area was "older"
    and told nobody, and a new alert and ``/explain`` went by the wrong fix. Now such a fix
    counts as observed when its batch arrived; one stamped within a minute ahead keeps its
    stamp. The oracle: each fix's distance from the centre by pyproj's geodesic.
    """
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    inside = geod.fwd(CENTRE[0], CENTRE[1], 45.0, 100.0)[:2]
    outside = geod.fwd(CENTRE[0], CENTRE[1], 45.0, 3_000.0)[:2]
    assert geod.inv(*CENTRE, *inside)[2] < 400.0 < 600.0 < geod.inv(*CENTRE, *outside)[2]

    def fix(device: str, where: tuple[float, float], stamped: dt.datetime) -> dict[str, Any]:
        return {
            "ids": [device],
            "lon": [where[0]],
            "lat": [where[1]],
            "accuracy_m": [5.0],
            "observed_at": [stamped.isoformat()],
        }

    def at(minutes: float) -> dict[str, str]:
        return {"at": (AT + dt.timedelta(minutes=minutes)).isoformat()}

    ahead = AT + dt.timedelta(hours=2)  # (16:00 Swedish summer time written as 16:00Z)
    store = SQLiteLedger(tmp_path / "deliveries.db")
    with TestClient(_service().create_app(store)) as client:
        assert client.post("/alerts", params=at(0), content=_alert()).json()["verdict"] == (
            "DELIVER"
        )
        # Outside, stamped two hours ahead: nobody told.
        r = client.post("/positions", params=at(0), json=fix("x", outside, ahead))
        assert r.json()["deliveries"] == []
        # A minute later, inside, stamped right: told.
        later = AT + dt.timedelta(minutes=1)
        r = client.post("/positions", params=at(1), json=fix("x", inside, later))
        assert [d["device"] for d in r.json()["deliveries"]] == ["x"], r.text
        why = client.get(
            "/explain",
            params={"incident": "polisen@polisen.se/SE-POL-1", "device": "x", **at(1)},
        )
        assert "inside the alert area" in why.text, why.text
        # A new alert goes by that fix too.
        second = client.post("/alerts", params=at(2), content=_alert("SE-POL-2")).json()
        assert [d["device"] for d in second["deliveries"]] == ["x"]
        # A fix 30 s ahead keeps its stamp: a later batch holding an older fix (outside) of
        # the same device, held up on its way, tells nobody from it, as before.
        soon = AT + dt.timedelta(minutes=3, seconds=30)
        r = client.post("/positions", params=at(3), json=fix("y", inside, soon))
        assert [d["device"] for d in r.json()["deliveries"]] == ["y", "y"]
        old = AT + dt.timedelta(minutes=3, seconds=10)
        r = client.post("/positions", params=at(3.5), json=fix("y", outside, old))
        assert r.json()["deliveries"] == []
        why = client.get(
            "/explain",
            params={"incident": "polisen@polisen.se/SE-POL-2", "device": "y", **at(4)},
        )
        assert "inside the alert area" in why.text, why.text


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/alerts"),
        ("POST", "/positions"),
        ("POST", "/confirm"),
        ("POST", "/redeliver"),
        ("GET", "/explain?incident=a/b&device=x"),
        ("GET", "/ready"),
    ],
)
@pytest.mark.parametrize("offset", ["+02:00", "+0200", "+02"])
def test_an_offset_whose_plus_the_url_made_a_space_is_named(
    tmp_path: Path, method: str, path: str, offset: str
) -> None:
    """``?at=2026-05-04T21:30:00+02:00`` typed into a URL: the 400 says to write ``%2B``.

    A query reads ``+`` as a space, so the service got ``21:30:00 02:00`` and answered that
    ``at`` must be "such as 2024-05-20T14:00:00+02:00": what the client had written.
    """
    url = f"{path}{'&' if '?' in path else '?'}at=2026-05-04T21:30:00{offset}"
    store = SQLiteLedger(tmp_path / "deliveries.db")
    with TestClient(_service().create_app(store)) as client:
        r = client.request(method, url, content=b"{}")
        assert r.status_code == 400, r.text
        assert r.text.startswith("at must be an ISO 8601 date-time with its offset's '+' written")
        assert "%2B02:00" in r.text and f'(got "2026-05-04T21:30:00 {offset[1:]}")' in r.text
        # Written %2B, the same instant is read.
        good = url.replace("+", "%2B")
        if path == "/ready":
            assert client.get(good).status_code == 200


def test_an_alert_held_for_its_recipients_stays_held_on_another_instance(
    tmp_path: Path,
) -> None:
    """An alert held for too many recipients is not sent by another instance's ``/redeliver``.

    Instance A holds an Explosion over the kind's ``max_recipients`` (80 devices of its
    snapshot, limit 50): BLAST_RADIUS, waiting for a person to confirm it. Instance B, whose
    snapshot holds 30 devices of the area (load-balanced batches; or A itself once restarted),
    calls ``POST /redeliver`` as the docs say, every few seconds: it delivered the alert to its
    30, released the version without any confirm, and A then streamed it to all 80.
    """
    pilot = (ROOT / "docs" / "examples" / "pilot_policy.toml").read_text(encoding="utf-8")
    guard = "max_area_km2 = 100.0\n"
    assert pilot.count(guard) == 1
    policy = tmp_path / "policy.toml"
    policy.write_text(pilot.replace(guard, guard + "max_recipients = 50\n"), "utf-8")

    def batch(prefix: str, n: int, seconds: float = 0.0) -> dict[str, Any]:
        stamped = (AT + dt.timedelta(seconds=seconds)).isoformat()
        return {
            **_batch([f"{prefix}{i}" for i in range(n)]),
            "lon": [CENTRE[0] + 0.00002 * i for i in range(n)],  # (all within 50 m)
            "observed_at": [stamped] * n,
        }

    def at(seconds: float) -> dict[str, str]:
        return {"at": (AT + dt.timedelta(seconds=seconds)).isoformat()}

    service = _service()
    path = tmp_path / "deliveries.db"
    with (
        TestClient(service.create_app(SQLiteLedger(path), policy=policy)) as a,
        TestClient(service.create_app(SQLiteLedger(path), policy=policy)) as b,
    ):
        assert a.post("/positions", params=at(0), json=batch("a", 80)).status_code == 200
        assert b.post("/positions", params=at(0), json=batch("b", 30)).status_code == 200
        held = a.post("/alerts", params=at(0), content=_alert("MANY-1")).json()
        assert held["verdict"] == "BLAST_RADIUS" and held["deliveries"] == []
        sent = b.post("/redeliver", params=at(5)).json()["deliveries"]
        streamed = a.post("/positions", params=at(10), json=batch("a", 80, 10)).json()
        assert sent == [] and streamed["deliveries"] == []
