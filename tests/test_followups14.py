"""Follow-ups of stop 68's probes, each against the catalog's own codes as the oracle.

An issuer's region code written as a number names the code of the catalog it stands for; a
huge ``--encoding`` is cut in its refusal.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
from pathlib import Path

import pytest

from geotarget import sweden
from geotarget.errors import InvalidPolicy
from geotarget.issuers import Issuers


@pytest.mark.parametrize("number", [14, 180, 1, 2480, 7])
def test_an_issuers_region_code_written_as_a_number_names_the_catalogs_code(number: int) -> None:
    catalog = sweden.hierarchy()
    codes = {r.code for level in catalog.levels for r in catalog.region_set(level)}
    text = str(number)
    padded = [c for c in codes if c.isdigit() and c.lstrip("0") == text and c != text]
    entry = {"name": "x", "senders": ["a@b.se"], "kinds": ["explosion"], "regions": [number]}
    with pytest.raises(InvalidPolicy) as err:
        Issuers.from_dict({"issuers": [entry]}, catalog=catalog)
    message = str(err.value)
    assert "regions[0] must be a region code string" in message
    if text in codes:
        assert f'"{text}"' in message
    elif padded:
        assert any(f"'{c}'" in message for c in padded)
    # Never a code the catalog does not have offered as the one meant.
    assert f'"0{text}"' not in message or f"0{text}" in codes


def test_a_huge_encoding_name_is_cut_in_the_refusal(tmp_path: Path) -> None:
    """``--encoding`` of 100,000 characters: refused in a line, not quoted whole."""
    from geotarget.cli import main

    positions = tmp_path / "devices.csv"
    positions.write_text("id,lon,lat,accuracy_m,observed_at\na,18.06528,59.3325,10,1716213600\n")
    alert = Path(__file__).resolve().parents[1] / "docs" / "examples" / "sos_explosion.xml"
    name = "x" * 100_000
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(
            ["target", "--alert", str(alert), "--positions", str(positions), "--at",
             "2024-05-20T16:05+02:00", "--encoding", name],
            out=io.StringIO(),
        )  # fmt: skip
    text = err.getvalue()
    assert code == 2
    assert "--encoding must name a text encoding" in text
    assert len(text) < 1_000
    assert f"{len(repr(name)):,} characters" in text


@pytest.mark.parametrize(
    ("table", "key", "written"),
    [
        ("include_ambigous = true\nlocation = { max_age_s = 3600 }", "include_ambiguous",
         "include_ambigous"),
        ("include_ambiguous = true\nlocation = { max_age = 3600 }", "location.max_age_s",
         "max_age"),
        ("include_ambiguous = true\nlocation = { max_age_s = 3600 }\n"
         "stale = { Max_Age_S = 86400, margin_m = 5.0 }", "stale.max_age_s", "Max_Age_S"),
        ("include_ambiguous = true\nlocation = { max_age_s = 3600 }\n"
         "stale = { max_age_s = 86400, marginm = 5.0 }", "stale.margin_m", "marginm"),
    ],
)  # fmt: skip
def test_a_location_rules_required_key_written_misspelt_is_named(
    table: str, key: str, written: str
) -> None:
    """A table holding ``max_age`` where ``max_age_s`` is required is told the key it wrote."""
    from geotarget.kinds import location_rules_from_toml

    with pytest.raises(InvalidPolicy) as err:
        location_rules_from_toml(f"[location_rules.explosion]\n{table}\n")
    lines = [p for p in str(err.value).splitlines() if f"explosion.{key}:" in p]
    assert len(lines) == 1, str(err.value)
    assert "is required" in lines[0]
    assert f"'{written}'" in lines[0] or f'"{written}"' in lines[0]


def test_a_policy_of_standard_input_is_told_a_policy_is_a_file(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``--policy -`` reads no standard input: the refusal says so, in one line, exit 2."""
    from geotarget.cli import main

    alert = Path(__file__).resolve().parents[1] / "docs" / "examples" / "sos_explosion.xml"
    code = main(
        ["target", "--alert", str(alert), "--positions", str(alert), "--at",
         "2024-05-20T16:05+02:00", "--policy", "-"],
        out=io.StringIO(),
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert "not from standard input" in err


#: A self-signed certificate of an SM2 key (``openssl req -x509 -newkey sm2``): a curve the
#: ``cryptography`` package cannot load a public key of, so no signature verifies with it.
SM2_CERTIFICATE = """-----BEGIN CERTIFICATE-----
MIIBfTCCASOgAwIBAgIUB8x6YS/wOqnbFOgSrHXrNgJD8eEwCgYIKoEcz1UBg3Uw
EzERMA8GA1UEAwwIc20yIHRlc3QwIBcNMjYxMjA3MTQwNDA5WhgPMjEyNjExMTMx
NDA0MDlaMBMxETAPBgNVBAMMCHNtMiB0ZXN0MFkwEwYHKoZIzj0CAQYIKoEcz1UB
gi0DQgAEqQhv0LDpxrQ28N3tJcsVMKLApTU9Vgy+Fc2HId5UjO8GmxvF5nt++Xv4
96m4TOwP2QuvebeFtKlNTVZQJo3Ud6NTMFEwHQYDVR0OBBYEFHZiTkGhhfdZ9Voh
BxnUvJxuMtB+MB8GA1UdIwQYMBaAFHZiTkGhhfdZ9VohBxnUvJxuMtB+MA8GA1Ud
EwEB/wQFMAMBAf8wCgYIKoEcz1UBg3UDSAAwRQIhAMmAUVAbiUnJeAKzr24Cn7m2
X7nA9CzQVPQ0ttsCz49YAiAwruIG24BC0wcCbunkZ0tS1AWZVk+zmo3QmjOnOXj2
Zg==
-----END CERTIFICATE-----
"""


def test_a_pinned_certificate_whose_key_cannot_verify_is_a_problem_when_loaded() -> None:
    """An issuer requiring signatures, pinned to an SM2 certificate, is told so at load time.

    Oracle: ``cryptography`` itself refuses the certificate's public key.
    """
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm

    with pytest.raises(UnsupportedAlgorithm):
        x509.load_pem_x509_certificate(SM2_CERTIFICATE.encode()).public_key()
    entry = {
        "name": "sm2",
        "senders": ["a@b.se"],
        "kinds": ["explosion"],
        "regions": ["01"],
        "signature": "required",
        "certificates": [SM2_CERTIFICATE],
    }
    problems = Issuers.from_dict({"issuers": [entry]}).certificate_problems()
    assert [p.path for p in problems] == ["issuers[0].certificates[0]"]
    assert "no signature can be verified" in problems[0].message


@pytest.mark.parametrize(
    ("column", "dated"),
    [("validated", False), ("candidate", False), ("update_count", False), ("runtime", False),
     ("Fix Time", True), ("fixTimeMs", True), ("seenAt", True), ("UTC_TIME", True)],
)  # fmt: skip
def test_only_a_column_named_as_a_time_stops_observed_at(column: str, dated: bool) -> None:
    """``--observed-at`` beside a column named as a fix's time is refused; "validated" is no time.

    Oracle: the names' words, read by eye (``validated`` holds the letters of "date").
    """
    from geotarget._position_files import read
    from geotarget.errors import InvalidInput

    with contextlib.ExitStack() as stack:
        import tempfile

        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        path = folder / "devices.csv"
        path.write_text(f"id,lon,lat,accuracy_m,{column}\na,18.06528,59.3325,8,x\n")
        at = dt.datetime(2024, 5, 20, 14, tzinfo=dt.timezone.utc)
        if dated:
            with pytest.raises(InvalidInput, match="has no observed_at column but"):
                read(path, observed_at=at)
        else:
            positions, _ = read(path, observed_at=at)
            assert positions.ids.tolist() == ["a"]
