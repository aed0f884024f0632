"""The reference service as integrators and operators meet it: content codings, the environment.

In-process through Starlette's test client; the start-up refusals run as uvicorn processes in
``tests/test_service_probe.py`` (its ``_MISTAKES``).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from service_helpers import service_module
from starlette.testclient import TestClient

from geotarget.ledger import SQLiteLedger

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
