"""The reference service as integrators and operators meet it: content codings, the environment.

In-process through Starlette's test client; the start-up refusals run as uvicorn processes in
``tests/test_service_probe.py`` (its ``_MISTAKES``).
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

import pytest
from service_helpers import SERVICE, service_module
from starlette.testclient import TestClient

from geotarget.errors import InvalidInput
from geotarget.ledger import MemoryLedger, SQLiteLedger

ROOT = Path(__file__).resolve().parents[1]
AT = "2026-05-04T21:30:00+00:00"
SERGELS_TORG = (18.06528, 59.3325)


def _service() -> Any:
    return service_module("app.py", "_geotarget_service_probe2")


def _alert() -> bytes:
    import datetime as dt

    from geotarget import Circle, alerts, cap

    at = dt.datetime.fromisoformat(AT)
    msg = alerts.Message(
        headline="Explosionsrisk", description="Lämna området.", area_description="Sergels torg"
    )
    alert = alerts.explosion(
        identifier="SE-POL-1",
        sender="polisen@polisen.se",
        sent=at,
        area=Circle(*SERGELS_TORG, 500.0),
        sv=msg,
        en=msg,
        onset=at,
        expires=at + dt.timedelta(hours=2),
    )
    return cap.dumps(alert).encode()


def _batch(ids: list[str]) -> bytes:
    n = len(ids)
    return json.dumps(
        {
            "ids": ids,
            "lon": [SERGELS_TORG[0]] * n,
            "lat": [SERGELS_TORG[1]] * n,
            "accuracy_m": [8.0] * n,
            "observed_at": [AT] * n,
        }
    ).encode()


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br", "GZIP", "identity, gzip"])
def test_a_compressed_body_is_a_415_naming_its_coding_and_applies_nothing(
    tmp_path: Path, coding: str
) -> None:
    """A body sent with ``Content-Encoding: gzip`` (an HTTP client's compression on) is a 415.

    Before, the service read the compressed bytes as JSON text: ``request body must be a JSON
    object ('utf-8' codec can't decode byte 0x8b in position 1 ...)``, naming neither the
    header nor its coding, and ``/alerts`` a CAP problem. Now every body endpoint answers 415
    naming the coding, with ``Accept-Encoding: identity`` (RFC 9110), and nothing is applied.
    """
    service = _service()
    with TestClient(service.create_app(SQLiteLedger(tmp_path / "d.db"))) as client:
        assert client.post("/alerts", params={"at": AT}, content=_alert()).status_code == 200
        keys = json.dumps({"keys": [f"x y z{i}" for i in range(3)]}).encode()
        for path, body in (
            ("/positions", _batch(["p1"])),
            ("/confirm", keys),
            ("/alerts", _alert()),
        ):
            r = client.post(
                path,
                params={"at": AT},
                content=gzip.compress(body),
                headers={"Content-Encoding": coding, "Content-Type": "application/json"},
            )
            assert r.status_code == 415, (path, r.status_code, r.text)
            shown = json.dumps(", ".join(c.strip().lower() for c in coding.split(",")))
            assert r.text == (
                f"POST {path}: Content-Encoding {shown} is not taken: send the body uncompressed"
                " (no Content-Encoding, or identity); nothing of it was read"
            )
            assert r.headers["accept-encoding"] == "identity"
        # Nothing was applied: the same batch uncompressed delivers p1 now, once.
        r = client.post("/positions", params={"at": AT}, content=_batch(["p1"]))
        assert [d["device"] for d in r.json()["deliveries"]] == ["p1"]
        # Identity, said or not, is the body as it is.
        r = client.post(
            "/positions",
            params={"at": AT},
            content=_batch(["p2"]),
            headers={"Content-Encoding": "identity"},
        )
        assert r.status_code == 200 and [d["device"] for d in r.json()["deliveries"]] == ["p2"]


@pytest.mark.parametrize(
    "where",
    [
        "{tmp}/deliveries.db\n",
        " {tmp}/deliveries.db",
        "{tmp}/deliveries.db\t",
        " postgresql://svc:hunter2@db/alerts",
        "postgresql://svc:hunter2@db/alerts\n",
        "\thost=db dbname=alerts password=hunter2",
    ],
)
def test_white_space_around_the_store_is_refused_not_a_new_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    r"""``GEOTARGET_STORE`` with a line end kept from a secret, or a space before it, is refused.

    Before, ``deliveries.db\n`` made a new SQLite file named with the line end, a store no
    other instance shares (each device told by each instance), and `` postgresql://...`` was
    taken as a relative file path in a directory `` postgresql:``.
    """
    service = _service()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GEOTARGET_STORE", where.format(tmp=tmp_path))
    with pytest.raises(InvalidInput, match="GEOTARGET_STORE must not start or end with white") as e:
        service.store_from_env()
    assert "hunter2" not in str(e.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "name",
    ["GEOTARGET_" + n for n in ("STORAGE", "DSN", "MAXBODY", "POLICY_FILE", "MAX_IN_FLIGHT")]
    + ["geotarget_store", "Geotarget_Policy"],
)
def test_a_misspelt_variable_is_a_configuration_mistake(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """A ``GEOTARGET_*`` variable nothing reads (a misspelt one) stops the service, naming it.

    Before, ``GEOTARGET_STORAGE=postgresql://...`` was ignored without a word: the service ran
    on its own ``deliveries.db`` in the working directory instead of the store every instance
    shares, so each instance told each device again.
    """
    monkeypatch.setenv(name, "postgresql://svc@db/alerts")
    service = _service()  # (the environment is read when the module is imported)
    with pytest.raises(InvalidInput) as refused:
        service.create_app(MemoryLedger())
    text = str(refused.value)
    assert f"the environment sets {name}, which the service does not read" in text, text
    assert "it reads GEOTARGET_STORE, GEOTARGET_POLICY, GEOTARGET_MAX_BODY" in text, text
    assert "postgresql" not in text  # the value is never quoted: it may hold a password


def test_every_geotarget_variable_of_the_project_is_known_to_the_service() -> None:
    """The variables other tools read, set beside the service, are not refused as misspelt.

    Every ``GEOTARGET_*`` name the checkout's code and documentation use is one the service
    reads or one it lists as another tool's: a new one must be added to the list, or a
    service started in that tool's environment would refuse to start.
    """
    service = _service()
    known = {*service.SERVICE_VARIABLES, *service.OTHER_TOOLS_VARIABLES}
    mine = {Path(__file__).resolve(), (ROOT / "tests" / "test_service_probe.py").resolve()}
    used: dict[str, str] = {}
    for folder in ("geotarget", "tests", "scripts", "benchmarks", "docs", "examples"):
        for path in sorted((ROOT / folder).rglob("*")):
            if not path.is_file() or path.resolve() in mine or path.suffix in (".pyc", ".db"):
                continue
            if (
                path.suffix not in (".py", ".rst", ".md", ".toml", ".sh", "")
                or not SERVICE.exists()
            ):
                continue
            try:
                text = path.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue
            for name in re.findall(r"\bGEOTARGET_[A-Z0-9_]*[A-Z0-9]\b", text):
                used.setdefault(name, str(path.relative_to(ROOT)))
    assert "GEOTARGET_TEST_POSTGRES_DSN" in used  # (the scan reads the checkout)
    assert {n: w for n, w in used.items() if n not in known} == {}
    assert service._env_unknown(dict.fromkeys(known, "1")) == []


@pytest.mark.parametrize(
    "env",
    [{"GEOTARGET_" + "STORAGE": "x"}, {"GEOTARGET_MAX_BODY": "256M"}],
    ids=["misspelt", "unit"],
)
def test_a_refused_environment_opens_no_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    """A start refused for the environment leaves no store file behind.

    Before, ``app()`` opened ``GEOTARGET_STORE`` (creating the SQLite file and its tables)
    and only then refused the environment, leaving an empty store at the path named.
    """
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GEOTARGET_STORE", str(tmp_path / "new.db"))
    service = _service()
    with pytest.raises(SystemExit, match=r"examples\.service: cannot start: "):
        service.app()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", ["text ids", "integer ids"])
def test_explain_of_a_device_not_in_the_snapshot_is_a_404_naming_the_parameter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """``/explain?device=`` of a device no kept batch holds: 404, and no preview.

    Before, it was a 400 "device_id '007' is not in the positions targeted": the library's
    argument, not the request's ``device``, as if the request were malformed, and only after a
    preview of every device of the snapshot. A device the batch holds is explained as the
    in-process ``Targeter`` explains it; ids are matched by their canonical text.
    """
    from geotarget import Targeter

    service = _service()
    previews: list[int] = []
    preview = Targeter.preview

    def counted(self: Any, *args: Any, **kw: Any) -> Any:
        previews.append(1)
        return preview(self, *args, **kw)

    monkeypatch.setattr(Targeter, "preview", counted)
    ids: list[Any] = ["7", "p2", "-3"] if kind == "text ids" else [7, 12, -3]
    body = json.loads(_batch(["x"] * 3))
    body["ids"] = ids
    with TestClient(service.create_app(SQLiteLedger(tmp_path / "d.db"))) as client:
        assert client.post("/alerts", params={"at": AT}, content=_alert()).status_code == 200
        assert client.post("/positions", params={"at": AT}, json=body).status_code == 200
        incident = "polisen@polisen.se/SE-POL-1"
        for device in ("007", "+7", " 7", "7 ", "-03", "nobody", "٧", "9" * 30):
            r = client.get("/explain", params={"incident": incident, "device": device, "at": AT})
            assert r.status_code == 404, (device, r.status_code, r.text)
            assert r.text.startswith(
                f"device {json.dumps(device, ensure_ascii=False)} has no position among the"
                " fixes this process keeps (its latest POST /positions batches, at most"
                f" {service.RETAINED_FIXES:,} fixes): nothing to explain"
            ), r.text
        assert previews == []
        for device in ("7", "-3"):
            r = client.get("/explain", params={"incident": incident, "device": device, "at": AT})
            assert r.status_code == 200, (device, r.text)
            assert f"device '{device}' does not receive alert SE-POL-1 again" in r.text, r.text
        assert len(previews) == 2
