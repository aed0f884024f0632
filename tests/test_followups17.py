"""Follow-ups of stop 69's probes, fixed outside the helpers' files.

Each test fails on the code before its fix.
"""

from __future__ import annotations

import copy
import datetime as dt
import pickle
from typing import Any

import attrs
import pytest

from geotarget import Circle, PositionIndex, Positions, pilot, sweden
from geotarget.alerts import Alert
from geotarget.targeting import Outcome, Targeter

AT = dt.datetime(2024, 5, 20, 14, 0, tzinfo=dt.timezone.utc)
MSG = pilot.Message(headline="x", description="x", area_description="x")


def _tip(identifier: str, area: Circle) -> Alert:
    return pilot.tip_request(
        identifier=identifier, sender="polisen@polisen.se", sent=AT, area=area, sv=MSG, en=MSG,
        onset=AT, expires=AT + dt.timedelta(hours=2),
    )  # fmt: skip


def test_explain_names_the_region_left_out_and_from_when_in_preview_and_copies() -> None:
    """A device a region left out is told its region and the phase date, whoever asks.

    ``target`` and ``preview`` say it; a pickled or deep-copied result keeps its rows but not
    the policy, and says the general sentence. The date is the pilot file's phase 3 (Uppsala
    County, where Knivsta and Håbo lie, is enabled only with all of Sweden).
    """
    t = Targeter(sweden.hierarchy(), sweden.pilot_policy(), recognition=pilot.RECOGNITION)
    # Sigtuna (Stockholm County, enabled), Knivsta and Bålsta (Uppsala County, not yet).
    index = PositionIndex(
        Positions(["sigtuna", "knivsta", "balsta"], [17.86, 17.79, 17.54], [59.62, 59.73, 59.57],
                  accuracy_m=[5.0] * 3, observed_at=AT)
    )  # fmt: skip
    area = Circle(17.72, 59.65, 20_000.0)
    for result in (t.preview(_tip("p-1", area), index, AT), t.target(_tip("t-1", area), index, AT)):
        assert result.outcome_of("knivsta") is Outcome.OUTSIDE_ROLLOUT
        assert result.outcome_of("balsta") is Outcome.OUTSIDE_ROLLOUT
        assert "not enabled in Knivsta: phase 3" in result.explain("knivsta")
        assert "not enabled in Håbo: phase 3" in result.explain("balsta")
        assert "starts 2025-01-13 00:00 Europe/Stockholm" in result.explain("balsta")
        assert result.outcome_of("sigtuna") is not Outcome.OUTSIDE_ROLLOUT
        for copied in (pickle.loads(pickle.dumps(result)), copy.deepcopy(result)):
            assert copied.explain("knivsta").endswith("RolloutPolicy.explain says from when)")


def test_warm_builds_the_region_indexes_the_first_alert_would_build(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After ``Targeter.warm()`` the first alert builds no region index (the service warms).

    Counted by a spy on the index builder; without warm() the first alert builds them.
    """
    from targeting_helpers import make_regions

    from geotarget import _locate
    from geotarget.rollout import nationwide

    built: list[int] = []
    real = _locate.build

    def counting(geoms: object) -> object:
        built.append(1)
        return real(geoms)  # type: ignore[arg-type]

    monkeypatch.setattr(_locate, "build", counting)
    index = PositionIndex(
        Positions(["a", "b"], [17.5, 18.5], [59.5, 59.5], accuracy_m=[5.0] * 2, observed_at=AT)
    )
    for warm in (False, True):
        t = Targeter(make_regions(), nationwide("XX"), recognition=pilot.RECOGNITION)
        if warm:
            t.warm()
            before = len(built)
            assert before >= 1
        else:
            before = 0
        result = t.target(_tip(f"w-{warm}", Circle(17.5, 59.5, 20_000.0)), index, AT)
        assert result.recipients.tolist() == ["a"]
        assert (len(built) > before) is (not warm)
        built.clear()


def test_the_service_warms_the_region_indexes_as_it_starts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """The reference service builds its regions' lookup indexes in the background at start.

    With the indexes of the Swedish municipalities and counties dropped (this process may
    have built them), they are built again once the app has started and its
    ``geotarget-warm`` thread ended, before any alert arrives.
    """
    import threading

    from service_helpers import service_module
    from starlette.testclient import TestClient

    from geotarget import _locate
    from geotarget.ledger import SQLiteLedger

    built: list[int] = []
    real = _locate.build

    def counting(geoms: object) -> object:
        built.append(1)
        return real(geoms)  # type: ignore[arg-type]

    monkeypatch.setattr(_locate, "build", counting)
    for level in ("municipality", "county"):
        monkeypatch.delitem(sweden.hierarchy().region_set(level)._lazy, "index", raising=False)
    service = service_module("app.py", "_geotarget_service")
    with TestClient(service.create_app(SQLiteLedger(tmp_path / "d.db"))) as client:
        for thread in threading.enumerate():
            if thread.name == "geotarget-warm":
                thread.join(60)
        assert len(built) == 2, "the service did not build the two region indexes at start"
        assert client.get("/ready").status_code == 200


def test_every_error_of_the_family_is_importable_from_the_top_level() -> None:
    """``from geotarget import StoreError`` works, as for every other error (it did not).

    A service catches ``StoreError`` and its kinds, a Dask caller ``ClusterError``: all of
    :mod:`geotarget.errors` is in ``geotarget.__all__``, and each is that very class.
    """
    import geotarget
    from geotarget import errors

    missing = [name for name in errors.__all__ if name not in geotarget.__all__]
    assert missing == []
    for name in errors.__all__:
        assert getattr(geotarget, name) is getattr(errors, name)


def test_an_area_over_its_limit_by_a_circle_of_hundreds_of_km_says_cap_writes_km() -> None:
    """``<circle>55.6094,13.0007 500</circle>`` is 500 km: the guard's reason says CAP's unit.

    A small area over no limit gets no such words; neither does a large polygon.
    """
    from geotarget import cap

    t = Targeter(sweden.hierarchy(), sweden.pilot_policy(), recognition=pilot.RECOGNITION)
    index = PositionIndex(Positions(["m"], [13.0007], [55.6094], accuracy_m=[5.0], observed_at=AT))
    text = cap.dumps(pilot.explosion(
        identifier="km-1", sender="polisen@polisen.se", sent=AT,
        area=Circle(13.0007, 55.6094, 500.0), sv=MSG, en=MSG, onset=AT,
        expires=AT + dt.timedelta(hours=2),
    ))  # fmt: skip
    assert "13.0007 0.5</circle>" in text
    wrong = cap.loads(text.replace("13.0007 0.5</circle>", "13.0007 500</circle>"))
    held = t.target(wrong, index, AT)
    assert held.verdict.value == "BLAST_RADIUS"
    assert "circle of radius 500 km: CAP writes circle radii in kilometres" in held.reason
    assert held.reason.endswith("is written 0.5): confirm to send anyway")
    fine = t.target(attrs.evolve(cap.loads(text), identifier="km-0"), index, AT)
    assert fine.verdict.value == "DELIVER" and "kilometres" not in fine.reason
    square = ((12.0, 55.4), (14.3, 55.4), (14.3, 56.4), (12.0, 56.4), (12.0, 55.4))
    wide = t.target(attrs.evolve(wrong, identifier="km-2", infos=[
        attrs.evolve(wrong.infos[0], areas=[attrs.evolve(wrong.infos[0].areas[0],
                                                         circles=(), polygons=(square,))])]),
        index, AT)  # fmt: skip
    assert wide.verdict.value == "BLAST_RADIUS" and "kilometres" not in wide.reason


def test_an_enveloping_signature_is_told_cap_signs_enveloped_not_to_unwrap_the_alert() -> None:
    """A root ``<Signature>`` holding the alert in its ``<Object>`` (signxml's "enveloping").

    It was told to take the ``<alert>`` out and read it alone, which drops the signature;
    now it is told CAP 1.2 signs with an enveloped signature, and to ask for one.
    """
    import signxml
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID
    from lxml import etree

    from geotarget import cap
    from geotarget.errors import InvalidCAP

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "polisen")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=9))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    alert = pilot.explosion(
        identifier="env-1", sender="polisen@polisen.se", sent=AT,
        area=Circle(18.0, 59.3, 500.0), sv=MSG, en=MSG, onset=AT,
        expires=AT + dt.timedelta(hours=2),
    )  # fmt: skip
    signer = signxml.XMLSigner(method=signxml.methods.enveloping)  # type: ignore[attr-defined]
    signed = etree.tostring(signer.sign(etree.fromstring(cap.dumps(alert).encode()), key=key,
                                        cert=[cert]))  # fmt: skip
    pem = cert.public_bytes(serialization.Encoding.PEM)
    for read in (lambda: cap.loads(signed), lambda: cap.verify_signature(signed, pem)):
        with pytest.raises(InvalidCAP) as err:
            read()
        said = str(err.value)
        assert "an enveloping XML signature holding a CAP 1.2 <alert>" in said
        assert "ask the issuer for an enveloped signature" in said
        assert "read it alone" not in said


def test_the_console_script_names_a_missing_library_and_the_python() -> None:
    """``geotarget`` (the console script) without shapely: which library, which Python.

    It said "the installation is broken ... reinstall" for any library missing, where
    ``python -m geotarget`` named it; both now share one message. One line, exit 3.
    """
    import subprocess
    import sys

    block = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'shapely' or name.startswith('shapely.'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "sys.argv = ['geotarget', 'locate', '18.07', '59.33']\n"
        "from geotarget._command import main\n"
        "raise SystemExit(main())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", block], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 3, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"this Python ({sys.executable}) has no shapely, which geotarget needs" in done.stderr
