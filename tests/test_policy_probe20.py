"""What one entry point accepts, the next must not refuse: policy files, as operators check them.

A policy file that :func:`geotarget.load_policy` read without a word (``geotarget target
--policy`` read it as well) was refused only when a Targeter was built of its parts: a kind's
name mistyped in the rollout, a recognition rule or an issuer, a kind without location rules,
a recognition rule's sender that is no issuer's. The oracle is the file as :mod:`tomllib`
reads it (the field each problem names holds the value it names) and the Targeter built of the
four sections read one by one, the later entry point whose refusals the first must say first,
in the same words; and ``geotarget check``'s exit code and lines.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import stat
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geotarget import load_policy, pilot, sweden
from geotarget.cli import main
from geotarget.errors import InvalidPolicy, Problem
from geotarget.issuers import Issuers
from geotarget.kinds import Recognizer, location_rules_from_toml
from geotarget.rollout import RolloutPolicy
from geotarget.targeting import Targeter

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib: Any = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
PILOT = (ROOT / "docs" / "examples" / "pilot_policy.toml").read_text(encoding="utf-8")
CORRUPT_PEM = "-----BEGIN CERTIFICATE-----\nTUlJQm5vdA==\n-----END CERTIFICATE-----\n"

# Each mistake: (old, new) replacements of the pilot file, the path of the field refused, the
# value it holds there, and the registered kind meant (or None).
MISTAKES: dict[str, tuple[list[tuple[str, str]], str, str, str | None]] = {
    "rollout kind mistyped": (
        [("[kinds.tip_request]", "[kinds.tip_reqest]"), ("[[kinds.tip_request.", "[[kinds.tip_reqest.")],
        "kinds.tip_reqest", "tip_reqest", "tip_request",
    ),
    "recognition kind mistyped": (
        [('kind = "explosion"\nevent_codes', 'kind = "explosoin"\nevent_codes')],
        "recognition[0].kind", "explosoin", "explosion",
    ),
    "issuer kind mistyped": (
        [('kinds = ["explosion"] ', 'kinds = ["explosoin"] ')],
        "issuers[3].kinds", "explosoin", "explosion",
    ),
    "a new kind without location rules": (
        [("# --- Recognition", '[[kinds.flood.phases]]\nstarts_at = 2024-04-15T00:00:00\n'
          'regions = ["12"]\n\n# --- Recognition')],
        "kinds.flood", "flood", None,
    ),
    "recognition sender of no issuer": (
        [('senders = ["larm@sosalarm.se"]\n\n[[recognition]]',
          'senders = ["larm@sos-alarm.se"]\n\n[[recognition]]')],
        "recognition[0].senders", "larm@sos-alarm.se", None,
    ),
    "recognition sender whose issuer may not issue the kind": (
        [('events = ["Räjähdys", "Räjähdysvaara"]',
          'events = ["Räjähdys", "Räjähdysvaara"]\nsenders = ["syd@polisen.se"]')],
        "recognition[1].senders", "syd@polisen.se", None,
    ),
    "required signature, certificate corrupt": (
        [('signature = "optional" ', 'certificates = ["bad.pem"]\nsignature = "required" ')],
        "issuers[3].certificates[0]", "bad.pem", None,
    ),
}  # fmt: skip

# Changes a Targeter accepts: a fourth kind with its rules, rule and issuer; a canary.
HARMLESS: dict[str, list[tuple[str, str]]] = {
    "a fourth kind, complete": [
        (
            "# --- Recognition",
            '[[kinds.gas_leak.phases]]\nstarts_at = 2024-04-15T00:00:00\nregions = ["12"]\n\n'
            '[location_rules.gas_leak]\ninclude_ambiguous = true\n\n# --- Recognition',
        ),
        ("# --- Issuers", '[[recognition]]\nname = "gas"\nkind = "gas_leak"\nevents = ["Gasläcka"]\n\n# --- Issuers'),
    ],
    "a canary": [('regions = ["01", "12", "14"]\nillustrative', 'regions = ["01", "12", "14"]\npercentage = 10\nrollback = true\nillustrative')],
    "an issuer for the Stockholm municipality": [
        ("# --- Location rules", '[[issuers]]\nname = "sthlm-stad"\nsenders = ["larm@stockholm.se"]\n'
         'kinds = ["tip_request"]\nregions = ["0180"]\n\n# --- Location rules'),
    ],
}  # fmt: skip


def _changed(changes: list[tuple[str, str]], text: str = PILOT) -> str:
    for old, new in changes:
        assert old in text, old
        text = text.replace(old, new)
    return text


def _file(folder: Path, text: str) -> Path:
    (folder / "bad.pem").write_text(CORRUPT_PEM, encoding="ascii")
    file = folder / "policy.toml"
    file.write_text(text, encoding="utf-8")
    return file


def _at(data: Any, path: str) -> Any:
    """The value at ``path`` (``issuers[3].kinds``) in data as tomllib reads it."""
    for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path):
        data = data[int(index)] if index else data[name]
    return data


def _separately(file: Path) -> list[Problem]:
    """What a Targeter built of the four sections, each read by its own reader, refuses."""
    try:
        Targeter(
            sweden.hierarchy(),
            RolloutPolicy.from_toml(file),
            recognition=Recognizer.from_toml(file) + pilot.RECOGNITION,
            issuers=Issuers.from_toml(file),
            location_rules=location_rules_from_toml(file),
        )
    except InvalidPolicy as err:
        return list(err.problems)
    return []


def _check(file: Path | str) -> tuple[int, str, list[str]]:
    """``geotarget check FILE``: exit code, stdout and the lines on stderr (in process)."""
    import contextlib

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            code = main(["check", str(file)], out=out)
        except SystemExit as done:  # argparse's usage errors
            code = int(done.code or 0)
    assert sys.stderr is not err
    return code, out.getvalue(), err.getvalue().splitlines()


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_what_a_targeter_refuses_reading_the_file_refuses_first(mistake: str) -> None:
    """Refused on reading, at the field holding the value, in the Targeter's own words."""
    changes, path, value, meant = MISTAKES[mistake]
    with tempfile.TemporaryDirectory() as tmp:
        file = _file(Path(tmp), _changed(changes))
        data = tomllib.loads(file.read_text(encoding="utf-8"))
        held = _at(data, path.rsplit(".", 1)[0] if path.startswith("kinds.") else path)
        assert value in held or value == held  # the oracle: the field holds the value
        if meant is not None:
            assert meant in data["location_rules"] and value not in data["location_rules"]
        later = [p for p in _separately(file) if p.path.removeprefix("policy.") == path]
        assert len(later) == 1, _separately(file)
        for catalog in (None, sweden.hierarchy()):
            with pytest.raises(InvalidPolicy) as err:
                load_policy(file, catalog=catalog)
            [first] = [p for p in err.value.problems if p.path == path]
            assert first.message == later[0].message
            # (A certificate is named by its place in the list: its file was read into text.)
            assert ".certificates[" in path or repr(value) in first.message
            if meant is not None:
                assert f"did you mean {meant!r}?" in first.message
        code, out, lines = _check(file)
    assert (code, out, len(lines)) == (2, "", 1)
    assert lines[0].startswith(f"geotarget check: policy file {str(file)!r} has ")
    assert f"{path}: {later[0].message}" in lines[0]


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)  # fmt: skip
@given(
    mistakes=st.sets(st.sampled_from(sorted(MISTAKES)), max_size=3),
    harmless=st.sets(st.sampled_from(sorted(HARMLESS))),
)
def test_check_refuses_exactly_what_a_targeter_refuses(
    mistakes: set[str], harmless: set[str]
) -> None:
    """``geotarget check`` says OK iff a Targeter is built; refused, it names every problem."""
    changes = [c for m in sorted(mistakes) for c in MISTAKES[m][0]]
    changes += [c for h in sorted(harmless) for c in HARMLESS[h]]
    with tempfile.TemporaryDirectory() as tmp:
        file = _file(Path(tmp), _changed(changes))
        later = _separately(file)
        code, out, lines = _check(file)
    assert bool(later) == bool(mistakes)
    if not later:
        assert code == 0 and lines == [] and out.startswith(f"policy file {str(file)!r}: OK")
        return
    assert (code, out, len(lines)) == (2, "", 1)
    for problem in later:
        assert f"{problem.path.removeprefix('policy.')}: {problem.message}" in lines[0]


def test_check_summarises_a_good_file_as_the_file_says() -> None:
    """Exit 0, and every kind and issuer of the file (as tomllib reads it) named on stdout."""
    with tempfile.TemporaryDirectory() as tmp:
        file = _file(Path(tmp), PILOT)
        code, out, lines = _check(file)
    data = tomllib.loads(PILOT)
    assert (code, lines) == (0, [])
    assert out.splitlines()[0].startswith(f"policy file {str(file)!r}: OK (policy_hash ")
    for kind, table in data["kinds"].items():
        assert f"  kind {kind}: {len(table['phases'])} phase(s)\n" in out
    assert f"{len(data['issuers'])} issuer(s): " in out
    assert all(issuer["name"] in out for issuer in data["issuers"])


def _bad_files(folder: Path) -> list[tuple[str, str]]:
    """(argument, a phrase the one line on stderr must hold) for files ``check`` refuses."""
    (folder / "utf16.toml").write_text(PILOT, encoding="utf-16")
    (folder / "latin1.toml").write_bytes(PILOT.encode("utf-8").replace("Räj".encode(), b"R\xe4j"))
    (folder / "twice.toml").write_text('country = "SE"\n' + PILOT, encoding="utf-8")
    data = tomllib.loads(PILOT)
    doc = json.dumps(data, default=str)
    (folder / "twice.json").write_text(doc[:-1] + ', "salt": "other"}', encoding="utf-8")
    (folder / "huge.toml").write_text(PILOT + "#" * (5 * 2**20) + "\n", encoding="utf-8")
    (folder / "p.yaml").write_text(PILOT, encoding="utf-8")
    return [
        ("", "must name a file"),
        (str(folder), "directory"),
        (str(folder / "absent.toml"), "No such file"),
        (str(folder / "p.yaml"), "must end in .toml or .json"),
        ("-", "not from standard input"),
        (str(folder / "utf16.toml"), "UTF-16"),
        (str(folder / "latin1.toml"), "UTF-8"),
        (str(folder / "twice.toml"), "country"),
        (str(folder / "twice.json"), "salt"),
        (str(folder / "huge.toml"), "larger than 4,194,304 bytes"),
    ]


def test_check_refuses_a_bad_file_in_one_line_with_exit_code_2() -> None:
    """Encodings, keys given twice, a huge file, no file: one line naming why, never a trace."""
    with tempfile.TemporaryDirectory() as tmp:
        for argument, phrase in _bad_files(Path(tmp)):
            code, out, lines = _check(argument)
            assert (code, out, len(lines)) == (2, "", 1), (argument, lines)
            assert lines[0].startswith("geotarget check: ") and phrase in lines[0], lines
        (Path(tmp) / "bom.toml").write_bytes(b"\xef\xbb\xbf" + PILOT.encode("utf-8"))
        assert _check(Path(tmp) / "bom.toml")[0] == 0  # a byte order mark is fine


@pytest.mark.parametrize(
    ("argv", "phrase"),
    [
        (["check"], "the following arguments are required"),
        (["check", "a.toml", "b.toml"], "unrecognized arguments: b.toml"),
        (["check", "--policy", "a.toml"], "without --policy"),
    ],
)
def test_check_usage_errors_are_one_line(argv: list[str], phrase: str) -> None:
    import contextlib

    err = io.StringIO()
    with contextlib.redirect_stderr(err), pytest.raises(SystemExit) as done:
        main(argv, out=io.StringIO())
    lines = err.getvalue().splitlines()
    assert (done.value.code, len(lines)) == (2, 1) and phrase in lines[0], lines


def _refused_in_time(file: Path) -> Problem:
    """load_policy's one problem with ``file``, read on a thread a pipe cannot hold for ever."""
    said: list[Problem] = []

    def read() -> None:
        try:
            load_policy(file)
        except InvalidPolicy as err:
            said.extend(err.problems)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    thread.join(60)
    stuck = thread.is_alive()
    if stuck:  # let the reader go: open the pipe for writing and close it
        for pipe in file.parent.glob("*.p*"):
            if stat.S_ISFIFO(pipe.stat().st_mode):
                os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))
    assert not stuck, f"load_policy({file.name!r}) waited for a writer"
    [problem] = said
    return problem


def test_a_named_pipe_is_refused_not_waited_for(tmp_path: Path) -> None:
    """A policy file or a certificate that is a FIFO nobody writes to: refused, not waited on."""
    policy = tmp_path / "policy.toml"
    os.mkfifo(policy)
    assert "cannot read it: it is a named pipe (FIFO), not a file" in str(_refused_in_time(policy))
    policy.unlink()
    os.mkfifo(tmp_path / "sos.pem")
    text = _changed(
        [('signature = "optional" ', 'certificates = ["sos.pem"]\nsignature = "required" ')]
    )
    policy.write_text(text, encoding="utf-8")
    said = _refused_in_time(policy)
    assert said.path == "issuers[3].certificates[0]"
    assert f"certificate file {tmp_path / 'sos.pem'}: it is a named pipe" in said.message


@pytest.mark.parametrize("seconds", ["1e-7", "4.9e-7"])
def test_a_fresh_age_under_a_microsecond_is_named_at_its_key(seconds: str) -> None:
    """``location.max_age_s`` that reads as 0: refused at its key, with the value written.

    It was refused as ``location_rules.fire: location.max_age must be > 0 ... (got 0:00:00)``,
    naming neither the key nor the value in the file.
    """
    text = (
        f"[location_rules.fire]\ninclude_ambiguous = true\nlocation = {{ max_age_s = {seconds} }}"
    )
    written = tomllib.loads(text)["location_rules"]["fire"]["location"]["max_age_s"]
    assert 0 < written < 1e-6  # the oracle: not 0 as written, under a microsecond
    with pytest.raises(InvalidPolicy) as err:
        location_rules_from_toml(text)
    [problem] = err.value.problems
    assert problem.path == "location_rules.fire.location.max_age_s"
    assert f"(got {written!r}, which is under a microsecond" in problem.message


def test_dead_recognition_senders_cost_time_linear_in_the_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Many rules for senders no issuer has: the work grows with the senders, not their square.

    Counted, not timed: the calls of ``sender_key`` that reading the file makes, against the
    number of senders the file names (tomllib's reading of it).
    """
    import geotarget._intake

    n = 100
    text = PILOT + "".join(
        f'[[recognition]]\nname = "r{i}"\nkind = "explosion"\nevents = ["Event {i}"]\n'
        f'senders = ["unknown{i}@polisen.se"]\n[[issuers]]\nname = "i{i}"\n'
        f'senders = ["s{i}@polisen.se"]\nkinds = ["explosion"]\nregions = ["SE"]\n'
        for i in range(n)
    )
    data = tomllib.loads(text)
    senders = sum(len(x.get("senders", ())) for x in data["recognition"] + data["issuers"])
    calls = 0
    counted = geotarget._intake.sender_key  # type: ignore[attr-defined]

    def counting(sender: str) -> str:
        nonlocal calls
        calls += 1
        return counted(sender)

    monkeypatch.setattr(geotarget._intake, "sender_key", counting)
    file = tmp_path / "policy.toml"
    file.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidPolicy) as err:
        load_policy(file)
    assert len(err.value.problems) == n  # each dead sender named
    assert calls <= 4 * senders, f"{calls} sender_key calls for {senders} senders"


def _every_code(shared_data: Path) -> list[str]:
    """Sweden's codes from the reference CSVs: country, police regions, counties, municipalities."""
    from places_oracle import police_counties

    folder = shared_data / "sweden"
    rows = {
        name: list(csv.DictReader(io.StringIO((folder / name).read_text(encoding="utf-8"))))
        for name in ("lan.csv", "kommuner_folkmangd_2024.csv")
    }
    counties = [r["lan_kod"] for r in rows["lan.csv"]]
    municipalities = [r["kommun_kod"] for r in rows["kommuner_folkmangd_2024.csv"]]
    return ["SE", *sorted(police_counties(shared_data)), *counties, *municipalities]


def _fire_policy(codes: list[str]) -> str:
    """The pilot file, plus a kind ``fire`` rolled out to ``codes`` by an issuer of them."""
    listed = ", ".join(json.dumps(c) for c in codes)
    return PILOT + (
        f'\n[[kinds.fire.phases]]\nstarts_at = 2024-04-15T00:00:00\nregions = [{listed}]\n'
        f'\n[[issuers]]\nname = "raddning"\nsenders = ["larm@raddning.se"]\nkinds = ["fire"]\n'
        f'regions = [{listed}]\n\n[location_rules.fire]\ninclude_ambiguous = true\n'
    )  # fmt: skip


# Codes Sweden had and no longer has, and codes as they are mistyped.
RETIRED_OR_MISTYPED = ["1917", "15", "16", "02", "0181 ", "pr-syd", "se", "180", "PR-SKÅNE"]


def test_codes_of_every_level_read_as_a_targeter_takes_them(shared_data: Path) -> None:
    """Every code of the reference data is taken by each entry point; one it lacks by none.

    The oracle: the codes of ``lan.csv``, ``kommuner_folkmangd_2024.csv`` and
    ``polisregioner.csv``; a retired or mistyped code is one they do not hold.
    """
    codes = _every_code(shared_data)
    assert len(codes) == 1 + 7 + 21 + 290
    regions = sweden.hierarchy()
    with tempfile.TemporaryDirectory() as tmp:
        file = _file(Path(tmp), _fire_policy(codes))
        loaded = load_policy(file, catalog=regions)
        assert _separately(file) == [] and _check(file)[0] == 0
        fire = loaded.rollout.rollout("fire")
        assert fire is not None and set(fire.phases[0].regions) == set(codes)
        for code in RETIRED_OR_MISTYPED:
            assert code not in codes
            file = _file(Path(tmp), _fire_policy(["01", code]))
            later = {(p.path, p.message) for p in _separately(file)}
            with pytest.raises(InvalidPolicy) as err:
                load_policy(file, catalog=regions)
            first = {(p.path, p.message) for p in err.value.problems}
            paths = {p for p, _ in first}
            assert paths == {"kinds.fire.phases[0].regions", "issuers[4].regions"}, (code, first)
            # (A code no region has the form of, "0181 ", the rollout's reader refuses alone.)
            assert later and {p.removeprefix("policy.") for p, _ in later} <= paths
            assert all(repr(code) in m for _, m in first | later)
            code_, out, lines = _check(file)
            assert (code_, out, len(lines)) == (2, "", 1) and repr(code) in lines[0]


@pytest.mark.parametrize("text", ["0181 ", "PR-SKÅNE", "01, 03", "", "01\u200b"])
def test_a_text_no_code_is_written_as_gets_one_answer_in_both_sections(text: str) -> None:
    """Without the regions, a rollout's malformed code was refused and an issuer's read.

    The issuer's was refused only when a Targeter was built. Now both sections refuse it,
    in the same words; with the regions, a list typed into one text is said to be one
    (``"01, 03"``), not matched to codes that look like it. Oracle: the form of Sweden's
    codes in the reference CSVs (ASCII letters, digits and '-').
    """
    assert not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]*", text)
    with tempfile.TemporaryDirectory() as tmp:
        file = _file(Path(tmp), _fire_policy(["01", text]))
        with pytest.raises(InvalidPolicy) as bare:
            load_policy(file)
        with pytest.raises(InvalidPolicy) as given:
            load_policy(file, catalog=sweden.hierarchy())
    said = {p.path: p.message for p in bare.value.problems}
    assert set(said) == {"kinds.fire.phases[0].regions", "issuers[4].regions"}
    assert len(set(said.values())) == 1 and repr(text) in said["issuers[4].regions"]
    if "," in text:
        assert all(
            '"01", "03"' in p.message and "close matches" not in p.message
            for p in given.value.problems
        )
