"""The policy file's ``[location_rules.<kind>]`` tables: reading, errors, writing, the CLI."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geotarget import (
    Circle,
    InvalidInput,
    InvalidPolicy,
    InvalidType,
    LocationRule,
    StaleRule,
    cap,
    pilot,
)
from geotarget.alerts import Alert, AlertArea, Info
from geotarget.kinds import (
    location_rules_from_dict,
    location_rules_from_json,
    location_rules_from_toml,
    location_rules_to_dict,
    location_rules_to_toml,
)
from geotarget.targeting import KindRules

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib: Any = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "geotarget" / "data" / "sweden" / "pilot_policy.toml"
EXAMPLE = ROOT / "docs" / "examples" / "pilot_policy.toml"
K = "location_rules.chemical_release"


def problems(text: str) -> list[tuple[str, str]]:
    """The (path, message) pairs of reading ``text`` as a TOML policy."""
    with pytest.raises(InvalidPolicy) as err:
        location_rules_from_toml(text)
    return [(p.path, p.message) for p in err.value.problems]


# --- reading ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [SHIPPED, EXAMPLE], ids=["shipped", "example"])
def test_the_pilot_policy_files_state_exactly_the_pilot_kind_rules(path: Path) -> None:
    """Both pilot policy files' location rules equal pilot.KIND_RULES: one truth, checked."""
    assert location_rules_from_toml(path) == dict(pilot.KIND_RULES)
    assert list(location_rules_from_toml(path)) == ["explosion", "crime_modus", "tip_request"]


def test_a_table_reads_every_key_and_defaults_the_rest() -> None:
    """Every documented key lands in its KindRules field; absent keys keep KindRules' defaults."""
    rules = location_rules_from_toml(
        f"""
        [{K}]
        include_ambiguous = true
        include_no_fix = true
        beyond_border = true
        location = {{ max_age_s = 1800, accuracy = 2.5 }}
        stale = {{ max_age_s = 21600, margin_m = 250 }}
        max_recipients = 5000
        max_area_km2 = 12.5

        [location_rules.smoke]
        include_ambiguous = false

        [location_rules.anyage]
        include_ambiguous = false
        location = {{ max_age_s = "any" }}
        """
    )
    assert rules["chemical_release"] == KindRules(
        include_ambiguous=True,
        include_no_fix=True,
        beyond_border=True,
        location=LocationRule(max_age=dt.timedelta(minutes=30), accuracy=2.5),
        stale=StaleRule(max_age=dt.timedelta(hours=6), margin_m=250.0),
        max_recipients=5000,
        max_area_km2=12.5,
    )
    assert rules["smoke"] == KindRules(include_ambiguous=False)
    assert rules["smoke"].location.max_age == dt.timedelta(hours=1)
    assert rules["anyage"].location == LocationRule(max_age=None)
    assert location_rules_from_toml("[kinds]\n") == {}
    assert location_rules_from_dict({}) == {}


BAD_TABLES = {
    "missing include_ambiguous": (
        f"[{K}]\nmax_area_km2 = 5",
        [(f"{K}.include_ambiguous", "is required: true (fail open")],
    ),
    "unknown keys at every level": (
        f"[{K}]\ninclude_ambiguous = true\nmax_age = 60\n"
        "location = { max_age_s = 60, radius = 1 }\nstale = { max_age_s = 60, margin_m = 0, x = 1 }",
        [
            (
                f"{K}.max_age",
                "unknown key (valid: beyond_border, include_ambiguous, "
                "include_no_fix, location, max_area_km2, max_recipients, stale)",
            ),
            (f"{K}.location.radius", "unknown key (valid: accuracy, max_age_s)"),
            (f"{K}.stale.x", "unknown key (valid: margin_m, max_age_s)"),
        ],
    ),
    "booleans that are not": (
        f'[{K}]\ninclude_ambiguous = 1\ninclude_no_fix = "no"\nbeyond_border = 0',
        [
            (f"{K}.include_ambiguous", "must be true or false (got 1)"),
            (f"{K}.include_no_fix", "must be true or false (got 'no')"),
            (f"{K}.beyond_border", "must be true or false (got 0)"),
        ],
    ),
    "guards out of range": (
        f"[{K}]\ninclude_ambiguous = true\nmax_recipients = 0\nmax_area_km2 = nan",
        [
            (f"{K}.max_recipients", "must be an integer > 0 and <= 9007199254740992 (got 0)"),
            (f"{K}.max_area_km2", "must be a finite number of km² > 0 (got nan)"),
        ],
    ),
    "guards of the wrong type": (
        f'[{K}]\ninclude_ambiguous = true\nmax_recipients = 1.5\nmax_area_km2 = "big"',
        [
            (f"{K}.max_recipients", "must be an integer > 0 and <= 9007199254740992 (got 1.5)"),
            (f"{K}.max_area_km2", "must be a finite number of km² > 0 (got 'big')"),
        ],
    ),
    "durations": (
        f"[{K}]\ninclude_ambiguous = true\nlocation = {{ max_age_s = -1 }}\n"
        "stale = { max_age_s = 0, margin_m = 10 }",
        [
            (
                f"{K}.location.max_age_s",
                'must be a number of seconds >= 0 and <= 315569520000, or "any" for fixes of '
                "any age (got -1)",
            ),
            (
                f"{K}.stale.max_age_s",
                "must be a number of seconds > 0 and <= 315569520000 (got 0)",
            ),
        ],
    ),
    "a duration no timedelta holds, a word for one": (
        f"[{K}]\ninclude_ambiguous = true\nlocation = {{ max_age_s = 1e300 }}\n"
        'stale = { max_age_s = "a day", margin_m = 10 }',
        [
            (
                f"{K}.location.max_age_s",
                'must be a number of seconds >= 0 and <= 315569520000, or "any" for fixes of '
                "any age (got 1e+300)",
            ),
            (
                f"{K}.stale.max_age_s",
                "must be a number of seconds > 0 and <= 315569520000 (got 'a day')",
            ),
        ],
    ),
    "incomplete sub-tables": (
        f"[{K}]\ninclude_ambiguous = true\nlocation = {{ accuracy = 2 }}\nstale = {{ margin_m = 5 }}",
        [
            (
                f"{K}.location.max_age_s",
                'is required: the oldest fresh fix in seconds (3600 is one hour), or "any"',
            ),
            (f"{K}.stale.max_age_s", "is required"),
        ],
    ),
    "accuracy and margin out of range": (
        f"[{K}]\ninclude_ambiguous = true\nlocation = {{ max_age_s = 60, accuracy = 11 }}\n"
        "stale = { max_age_s = 600, margin_m = 50001 }",
        [
            (
                f"{K}.location.accuracy",
                "must be a number >= 0 and <= 10 (a multiple of accuracy_m) (got 11)",
            ),
            (f"{K}.stale.margin_m", "must be a number of metres >= 0 and <= 50000 (got 50001)"),
        ],
    ),
    "sub-tables that are not tables": (
        f'[{K}]\ninclude_ambiguous = true\nlocation = 3600\nstale = "6h"',
        [
            (f"{K}.location", "must be a table with max_age_s and accuracy (got 3600)"),
            (f"{K}.stale", "must be a table with max_age_s and margin_m (got '6h')"),
        ],
    ),
    "stale shorter than fresh": (
        f"[{K}]\ninclude_ambiguous = true\nstale = {{ max_age_s = 600, margin_m = 0 }}",
        [
            (
                f"{K}.stale.max_age_s",
                "must be >= location.max_age_s (3600, the default): a fix turns stale when it is "
                "no longer fresh (got 600)",
            )
        ],
    ),
    "stale shorter than the fresh limit set": (
        f"[{K}]\ninclude_ambiguous = true\nlocation = {{ max_age_s = 7200.5 }}\n"
        "stale = { max_age_s = 3600, margin_m = 0 }",
        [
            (
                f"{K}.stale.max_age_s",
                "must be >= location.max_age_s (7200.5): a fix turns stale when it is no longer "
                "fresh (got 3600)",
            )
        ],
    ),
    "stale without a fresh limit": (
        f'[{K}]\ninclude_ambiguous = true\nlocation = {{ max_age_s = "any" }}\n'
        "stale = { max_age_s = 600, margin_m = 0 }",
        [
            (
                K,
                "stale needs location.max_age: with location.max_age None every fix is current, "
                "so no fix is ever stale (got stale=StaleRule(max_age=datetime.timedelta("
                "seconds=600), margin_m=0.0))",
            )
        ],
    ),
    "keys that are not kind names, a kind that is not a table": (
        "[location_rules]\nChemical = { include_ambiguous = true }\n"
        '"x y" = { include_ambiguous = true }\nsmoke = 5',
        [
            (
                "location_rules.Chemical",
                "must be keyed by a kind name: 1 to 64 lower-case ASCII letters, digits or '_', "
                "starting with a letter (got 'Chemical')",
            ),
            ('location_rules."x y"', "must be keyed by a kind name: 1 to 64 lower-case"),
            ("location_rules.smoke", "must be a table of rules (got int)"),
        ],
    ),
    "a section that is not a table": (
        "location_rules = [1, 2]",
        [("location_rules", "must be a table of [location_rules.<kind>] tables (got list)")],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_TABLES))
def test_bad_tables_are_refused_with_every_problem_and_its_path(case: str) -> None:
    """Each bad table is InvalidPolicy listing every problem: path, rule and value."""
    text, expected = BAD_TABLES[case]
    found = problems(text)
    assert [p for p, _ in found] == [p for p, _ in expected]
    for (_, message), (_, start) in zip(found, expected, strict=True):
        assert message.startswith(start), (message, start)


def test_one_bad_kind_builds_nothing_even_when_others_are_good() -> None:
    """Nothing half-applied: a good kind beside a bad one is not returned; the bad one is named."""
    text = "[location_rules.good]\ninclude_ambiguous = true\n[location_rules.bad]\nstale = 1\n"
    assert [p for p, _ in problems(text)] == [
        "location_rules.bad.include_ambiguous",
        "location_rules.bad.stale",
    ]


def test_json_and_hostile_documents_get_policy_errors_not_crashes() -> None:
    """JSON reads the same keys; huge numbers, deep nesting and non-tables are InvalidPolicy."""
    doc = {"location_rules": {"chemical_release": {"include_ambiguous": True,
                                                   "location": {"max_age_s": 60}}}}  # fmt: skip
    assert location_rules_from_json(json.dumps(doc))["chemical_release"].location.max_age == (
        dt.timedelta(minutes=1)
    )
    huge = '{"location_rules": {"x": {"include_ambiguous": true, "max_recipients": 1e400}}}'
    with pytest.raises(InvalidPolicy, match=r"location_rules\.x\.max_recipients: must be an "):
        location_rules_from_json(huge)
    digits = '{"location_rules": {"x": {"include_ambiguous": true, "max_area_km2": 1%s}}}'
    with pytest.raises(InvalidPolicy):
        location_rules_from_json(digits % ("0" * 5000))
    with pytest.raises(InvalidPolicy, match="nested too deeply"):
        location_rules_from_json("[" * 100_000 + "]" * 100_000)
    with pytest.raises(InvalidPolicy, match="a policy must be a table"):
        location_rules_from_json("[1]")
    with pytest.raises(InvalidPolicy, match="a policy must be a table"):
        location_rules_from_dict([])  # type: ignore[arg-type]
    with pytest.raises(InvalidPolicy, match="not valid TOML"):
        location_rules_from_toml("[location_rules.x\n")


# --- writing ----------------------------------------------------------------------------------

#: Durations whose float seconds are exact to the microsecond (up to ten years).
_DURATIONS = st.integers(0, 10 * 365 * 86_400 * 10**6).map(lambda us: dt.timedelta(microseconds=us))


@st.composite
def kind_rules(draw: st.DrawFn) -> KindRules:
    """Any valid KindRules: ages up to ten years, stale rules no younger than fresh ones."""
    max_age = draw(st.none() | _DURATIONS)
    with_stale = max_age is not None and draw(st.booleans())
    if max_age == dt.timedelta(0) and not with_stale:
        max_age = dt.timedelta(microseconds=1)  # (0 without a stale rule is refused)
    location = LocationRule(max_age=max_age, accuracy=draw(st.floats(0.0, 10.0)))
    stale = None
    if max_age is not None and with_stale:
        extra = draw(_DURATIONS)
        stale = StaleRule(
            max_age=max(max_age + extra, dt.timedelta(microseconds=1)),
            margin_m=draw(st.floats(0.0, 50_000.0)),
        )
    area = st.floats(0.0, 1e12, exclude_min=True)
    return KindRules(
        location=location,
        include_ambiguous=draw(st.booleans()),
        stale=stale,
        include_no_fix=draw(st.booleans()),
        beyond_border=draw(st.booleans()),
        max_recipients=draw(st.none() | st.integers(1, 2**53)),
        max_area_km2=draw(st.none() | area),
    )


_KINDS = st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(_KINDS, kind_rules(), max_size=4))
def test_written_rules_read_back_equal_in_toml_and_json(rules: dict[str, KindRules]) -> None:
    """to_toml then from_toml, and to_dict through JSON then from_json, give equal rules."""
    text = location_rules_to_toml(rules)
    assert location_rules_from_toml(text) == rules
    assert location_rules_from_json(json.dumps(location_rules_to_dict(rules))) == rules
    # The written tables are plain TOML, with the documented keys only.
    parsed = tomllib.loads(text).get("location_rules", {})
    assert list(parsed) == list(rules)
    for kind, table in parsed.items():
        assert set(table) <= {
            "include_ambiguous", "include_no_fix", "beyond_border", "location", "stale",
            "max_recipients", "max_area_km2",
        }  # fmt: skip
        age = rules[kind].location.max_age
        written = table["location"]["max_age_s"]
        assert (
            written == "any"
            if age is None
            else written * 10**6 == pytest.approx(age / dt.timedelta(microseconds=1), abs=0.5)
        )


def test_writing_refuses_what_is_not_rules() -> None:
    """Keys must be kind names and values KindRules."""
    with pytest.raises(InvalidType, match=r"rules\['x'\] must be KindRules"):
        location_rules_to_toml({"x": "rules"})  # type: ignore[dict-item]
    with pytest.raises(InvalidInput, match="kind must be a kind name"):
        location_rules_to_dict({"X Y": KindRules(include_ambiguous=True)})
    assert location_rules_to_toml({}) == ""


# --- the Targeter and the CLI -----------------------------------------------------------------

AT = dt.datetime(2024, 5, 20, 14, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
MALMO = (13.0038, 55.6050)

POLICY = """\
format_version = 1
timezone = "Europe/Stockholm"
issuers = "any"

[[kinds.chemical_release.phases]]
starts_at = 2024-04-15T00:00:00
regions = ["12"]                       # Skåne län

[[recognition]]
name = "rtj:chemical"
kind = "chemical_release"
events = ["Kemikalieutsläpp", "Chemical release"]
categories = ["CBRNE"]
"""

RULES = """
[location_rules.chemical_release]
include_ambiguous = true                # fail open
location = { max_age_s = 1800 }         # fresh: at most 30 minutes old
stale = { max_age_s = 21600, margin_m = 500 }
max_area_km2 = 50
"""


def upstream_chemical_alert(path: Path) -> Path:
    """A CAP alert as an upstream system writes it: no geotarget:kind, a 1 km circle in Malmö."""
    info = Info(
        language="sv-SE",
        categories=["CBRNE"],
        event="Kemikalieutsläpp",
        urgency="Immediate",
        severity="Severe",
        certainty="Observed",
        onset=AT,
        expires=AT + dt.timedelta(hours=2),
        headline="Kemikalieutsläpp i Malmö hamn",
        areas=[AlertArea.from_area("Malmö hamn", Circle(*MALMO, 1000.0))],
    )
    alert = Alert(identifier="RTJ-77", sender="rtj@example.se", sent=AT, status="Actual",
                  msg_type="Alert", scope="Public", infos=[info])  # fmt: skip
    assert alert.kind is None
    path.write_text(cap.dumps(alert), encoding="utf-8")
    return path


def positions_csv(path: Path) -> Path:
    """Devices whose fate depends on each of the kind's rules."""
    fresh = (AT - dt.timedelta(minutes=5)).isoformat()
    old = (AT - dt.timedelta(hours=3)).isoformat()
    ancient = (AT - dt.timedelta(hours=10)).isoformat()
    lon, lat = MALMO
    path.write_text(
        "id,lon,lat,accuracy_m,observed_at\n"
        f"inside,{lon},{lat},10,{fresh}\n"
        f"edge,{lon + 0.0159},{lat},300,{fresh}\n"  # ~1 km east: its disk crosses the boundary
        f"outside,{lon + 0.06},{lat},10,{fresh}\n"
        f"stale_near,{lon + 0.002},{lat},10,{old}\n"  # 3 h old, inside: the stale rule tells it
        f"ancient,{lon},{lat},10,{ancient}\n",  # 10 h old: beyond the stale rule
        encoding="utf-8",
    )
    return path


def cli(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the command in a subprocess, as a person would."""
    return subprocess.run(
        [sys.executable, "-m", "geotarget", *argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=180,
    )


def cli_here(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the command in this process from ``cwd``: what :func:`cli` gives, in-process.

    The same ``main`` the ``geotarget`` command runs, its output and stderr captured, a usage
    error's exit code kept. A new interpreter costs seconds (numpy, GEOS, PROJ and the
    built-in regions' indexes); the first case of
    :func:`test_the_cli_names_the_table_to_add_or_the_bad_rule` runs one, as a person would.
    """
    import contextlib
    import io
    import os

    from geotarget.cli import main

    out, err = io.StringIO(), io.StringIO()
    here = os.getcwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stderr(err):
            try:
                code = main(list(argv), out=out)
            except SystemExit as stop:  # argparse's usage errors
                code = stop.code if isinstance(stop.code, int) else 2
    finally:
        os.chdir(here)
    return subprocess.CompletedProcess(["geotarget", *argv], code, out.getvalue(), err.getvalue())


def test_a_policy_file_alone_adds_a_fourth_kind_through_the_cli(tmp_path: Path) -> None:
    """Target --policy: the file's kind, rule and location rules reach exactly the right devices."""
    (tmp_path / "policy.toml").write_text(POLICY + RULES, encoding="utf-8")
    alert = upstream_chemical_alert(tmp_path / "alert.xml")
    positions_csv(tmp_path / "devices.csv")
    done = cli_here("target", "--alert", alert.name, "--positions", "devices.csv", "--at",
                    AT.isoformat(), "--policy", "policy.toml", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert (doc["verdict"], doc["kind"], doc["recognised_by"]) == (
        "DELIVER", "chemical_release", "rtj:chemical"
    )  # fmt: skip
    # Fail open (edge), the stale rule (stale_near), never the 10-hour-old fix or the far one.
    assert sorted(doc["recipients"]) == ["edge", "inside", "stale_near"]
    assert doc["per_county"] == {"12": 3}
    # The same alert under fail-closed rules without a stale rule: only the sure device.
    closed = RULES.replace("include_ambiguous = true", "include_ambiguous = false").replace(
        "stale = { max_age_s = 21600, margin_m = 500 }\n", ""
    )
    (tmp_path / "closed.toml").write_text(POLICY + closed, encoding="utf-8")
    done = cli_here("target", "--alert", alert.name, "--positions", "devices.csv", "--at",
                    AT.isoformat(), "--policy", "closed.toml", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["recipients"] == ["inside"]
    # preview --policy recognises the kind by the file's rule.
    done = cli_here("preview", alert.name, "--policy", "policy.toml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "kind: chemical_release (rule rtj:chemical)" in done.stdout


def test_the_cli_names_the_table_to_add_or_the_bad_rule(tmp_path: Path) -> None:
    """Without rules, or with a bad rule: one line, exit 2, naming the table or the path."""
    alert = upstream_chemical_alert(tmp_path / "alert.xml")
    positions_csv(tmp_path / "devices.csv")
    (tmp_path / "norules.toml").write_text(POLICY, encoding="utf-8")
    args = ["target", "--alert", alert.name, "--positions", "devices.csv", "--at", AT.isoformat()]
    done = cli(*args, "--policy", "norules.toml", cwd=tmp_path)  # a real process: no traceback
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "kinds.chemical_release: kind 'chemical_release' has no location rules" in done.stderr
    assert "add a [location_rules.chemical_release] table to the policy file" in done.stderr
    (tmp_path / "bad.toml").write_text(
        POLICY + RULES.replace("max_area_km2 = 50", "max_area_km2 = -50\nradius_m = 3"),
        encoding="utf-8",
    )
    done = cli_here(*args, "--policy", "bad.toml", cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "location_rules.chemical_release.max_area_km2: must be a finite number of km² > 0 " in (
        done.stderr
    )
    assert "location_rules.chemical_release.radius_m: unknown key" in done.stderr
    # preview refuses the file as target does: its kind without rules cannot be targeted.
    done = cli_here("preview", alert.name, "--policy", "norules.toml", cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == "", done.stdout
    assert "kinds.chemical_release: kind 'chemical_release' has no location rules" in done.stderr
