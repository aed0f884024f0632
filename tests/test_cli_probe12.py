"""The ``geotarget`` command's machine contract, as integrators script it (probe 12).

What a program reading ``geotarget target``'s JSON may rely on: every field it holds named in
``geotarget target --help``, every exit code's cause named in ``geotarget --help``. The
oracle is the JSON the command writes (``json.loads`` refusing NaN and Infinity), its exit
code, and the help's own words, never the command's helpers.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, NoReturn

import pytest

from geotarget.cli import main

ROOT = Path(__file__).resolve().parents[1]
ALERT = ROOT / "docs" / "examples" / "sos_explosion.xml"
AT = "2024-05-20T16:05+02:00"
DEVICES = (
    "id;lon;lat;accuracy_m;observed_at\n"
    "0701234567;18,06528;59,3325;8;2024-05-20T16:00:00+02:00\n"
    "far;18,2;59,3325;8;2024-05-20T16:00:00+02:00\n"
)

needs_examples = pytest.mark.skipif(
    not ALERT.is_file(), reason="docs/examples is not beside the tests (installed-wheel run)"
)


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"JSON holds {name}, which JSON does not have")


def _target(tmp_path: Path, alert: str, at: str = AT) -> tuple[int, dict[str, Any]]:
    """``geotarget target`` over ``alert`` (text) and two devices: exit code and strict JSON."""
    (tmp_path / "alert.xml").write_text(alert, encoding="utf-8")
    (tmp_path / "devices.csv").write_text(DEVICES, encoding="utf-8")
    out = io.StringIO()
    argv = ["target", "--alert", str(tmp_path / "alert.xml")]
    code = main([*argv, "--positions", str(tmp_path / "devices.csv"), "--at", at], out=out)
    return code, json.loads(out.getvalue(), parse_constant=_no_constant)


def _help(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as stop:
        main([*argv, "--help"])
    assert stop.value.code == 0
    return capsys.readouterr().out


def _section(text: str, title: str) -> str:
    """The lines of the help's section ``title:`` (up to the next blank line)."""
    match = re.search(rf"^{re.escape(title)}:\n((?:.+\n)+)", text, re.MULTILINE)
    assert match, f"no section {title!r} in:\n{text}"
    return match.group(1)


@needs_examples
def test_every_field_of_the_json_answer_is_named_in_the_help(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The help named 2 of the answer's 18 fields: a script's author guessed the rest.

    ``counts`` holds each outcome for a delivery and nothing when no device was looked at;
    every key it may hold, and every verdict, is named too.
    """
    xml = ALERT.read_text(encoding="utf-8")
    answers = [
        _target(tmp_path, xml),  # DELIVER
        _target(tmp_path, xml.replace("<event>Explosion", "<event>Gasläcka")),  # refused
        _target(tmp_path, xml, at="2024-05-20T15:05+02:00"),  # NOT_YET_ACTIVE
    ]
    assert [code for code, _ in answers] == [0, 4, 0]
    text = _section(_help(capsys, "target"), "JSON output")
    named = set(re.findall(r"[a-z_0-9]+", text))
    fields = {key for _, doc in answers for key in doc}
    assert fields - named == set(), text
    outcomes = {key for _, doc in answers for key in doc["counts"]}
    assert outcomes and outcomes - named == set(), text
    verdicts = set(re.findall(r"[A-Z_]{4,}", text))
    assert {doc["verdict"] for _, doc in answers} <= verdicts, text


@needs_examples
def test_a_number_json_has_not_is_never_written_as_an_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A NaN in the result was written as ``NaN``, exit 0: a strict reader refused it all.

    The help promises "never NaN or Infinity": a result holding one (a fault injected here)
    is an internal error, with nothing on stdout for a reader to take as an answer.
    """
    import attrs

    from geotarget.targeting import Targeter

    receive = Targeter.receive

    def faulty(self: Targeter, *args: Any, **kwargs: Any) -> Any:
        result = receive(self, *args, **kwargs)
        return attrs.evolve(result, area_km2=float("nan"), timings={"total": float("inf")})

    monkeypatch.setattr(Targeter, "receive", faulty)
    (tmp_path / "devices.csv").write_text(DEVICES, encoding="utf-8")
    out = io.StringIO()
    argv = ["target", "--alert", str(ALERT), "--positions", str(tmp_path / "devices.csv")]
    code = main([*argv, "--at", AT], out=out)
    err = capsys.readouterr().err
    assert (code, out.getvalue()) == (3, ""), (code, out.getvalue()[:200])
    assert "internal error" in err and err.count("\n") == 1, err


def _exit_codes(text: str) -> dict[int, str]:
    """The help's ``exit codes:`` entries, each code's lines joined."""
    entries: dict[int, str] = {}
    code = None
    for line in _section(text, "exit codes").splitlines():
        match = re.match(r"\s+(\d+)\s+(.*)", line)
        if match:
            code = int(match.group(1))
            entries[code] = match.group(2)
        elif code is not None:
            entries[code] += " " + line.strip()
    return entries


@needs_examples
@pytest.mark.skipif(not Path("/dev/full").exists(), reason="/dev/full: Linux")
def test_the_exit_code_of_an_output_that_cannot_be_written_is_explained_in_the_help(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``> /dev/full`` (a full disk) exits 2, which the help said was "bad input" alone.

    A script that reads 2 as "the alert or the file is wrong" set the alert aside, when the
    disk it wrote the answer to was full: the help's entry for the code names it.
    """
    (tmp_path / "devices.csv").write_text(DEVICES, encoding="utf-8")
    argv = ["target", "--alert", str(ALERT), "--positions", "devices.csv", "--at", AT]
    with open("/dev/full", "w", encoding="utf-8") as full, open(os.devnull) as nothing:
        done = subprocess.run(
            [sys.executable, "-m", "geotarget", *argv],
            cwd=tmp_path,
            stdin=nothing,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=180,
        )
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
    entry = _exit_codes(_help(capsys))[done.returncode]
    assert "output" in entry and "full disk" in entry, entry


@needs_examples
def test_what_the_help_says_of_ids_is_what_the_json_holds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The help said ids are "kept verbatim": whitespace around them is stripped.

    A quoted id with a no-break space around it came back without it, so a script matching
    the JSON's ids against its own missed that device.
    """
    ids = ['"\u00a0x"', '" y "', '"z\r\n"', '"a""b\nc\U0001f600"', "0701234567"]
    rows = "".join(f"{i},18.06528,59.3325,8,1716213600\n" for i in ids)
    (tmp_path / "w.csv").write_text(f"id,lon,lat,accuracy_m,observed_at\n{rows}", "utf-8")
    out = io.StringIO()
    argv = ["target", "--alert", str(ALERT), "--positions", str(tmp_path / "w.csv")]
    assert main([*argv, "--at", AT], out=out) == 0
    got = json.loads(out.getvalue(), parse_constant=_no_constant)["recipients"]
    # The csv module's reading of each cell, without its surrounding whitespace.
    cells = [row[0].strip() for row in csv.reader(io.StringIO(rows))]
    assert sorted(got) == sorted(cells)
    capsys.readouterr()
    entry = re.search(r"^  ids {7}(.*\n(?: {12}.*\n)*)", _help(capsys, "target"), re.MULTILINE)
    assert entry, "no ids entry"
    assert "verbatim" not in entry.group(1) or "whitespace" in entry.group(1), entry.group(1)


@needs_examples
@pytest.mark.skipif(not Path("/dev/full").exists(), reason="/dev/full: Linux")
@pytest.mark.parametrize(
    ("event", "code"), [("Explosion", 0), ("Gasläcka", 4)], ids=["deliver", "refused"]
)
@pytest.mark.parametrize("log", ["full", "gone"])
def test_a_summary_that_cannot_be_written_keeps_the_answers_exit_code(
    tmp_path: Path, event: str, code: int, log: str
) -> None:
    """A summary that standard error cannot take leaves the answer's exit code as it is.

    The JSON answer written whole, ``2>/dev/full`` or a log pipe whose reader has gone made
    the exit code 2 or 141: a script discarded a complete answer, and a refusal's 4 was lost.
    ``2>&-`` kept the code.
    """
    alert = tmp_path / "alert.xml"
    alert.write_text(ALERT.read_text("utf-8").replace("<event>Explosion", f"<event>{event}"))
    (tmp_path / "devices.csv").write_text(DEVICES, encoding="utf-8")
    argv = ["target", "--alert", str(alert), "--positions", "devices.csv", "--at", AT]
    read_end, write_end = os.pipe()
    if log == "gone":
        os.close(read_end)  # nobody reads the log
    answer = tmp_path / "answer.json"
    try:
        with (
            open("/dev/full", "wb") if log == "full" else os.fdopen(write_end, "wb") as err,
            answer.open("wb") as out,
            open(os.devnull) as nothing,
        ):
            done = subprocess.run(
                [sys.executable, "-m", "geotarget", *argv],
                cwd=tmp_path,
                stdin=nothing,
                stdout=out,
                stderr=err,
                timeout=180,
            )
    finally:
        for fd in (read_end, write_end) if log == "full" else ():
            os.close(fd)
    doc = json.loads(answer.read_text("utf-8"), parse_constant=_no_constant)
    assert done.returncode == code, doc["verdict"]
    assert doc["alert"] == "SOS-2024-0520-0042"


@needs_examples
@pytest.mark.parametrize("encoding", ["utf-16", "utf-32-be", "latin-1"])
def test_the_answer_s_encoding_is_the_one_the_help_names(
    tmp_path: Path, encoding: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The help said "UTF-8 or ASCII"; under PYTHONIOENCODING=utf-16 the answer is UTF-16."""
    (tmp_path / "devices.csv").write_text(DEVICES, encoding="utf-8")
    argv = ["target", "--alert", str(ALERT), "--positions", "devices.csv", "--at", AT]
    with open(os.devnull) as nothing:
        done = subprocess.run(
            [sys.executable, "-m", "geotarget", *argv],
            cwd=tmp_path,
            stdin=nothing,
            capture_output=True,
            env={**os.environ, "PYTHONIOENCODING": encoding},
            timeout=180,
        )
    assert done.returncode == 0, done.stderr
    text = done.stdout.decode("ascii" if encoding == "latin-1" else encoding)
    assert json.loads(text, parse_constant=_no_constant)["verdict"] == "DELIVER"
    section = " ".join(_section(_help(capsys, "target"), "JSON output").split())
    assert "UTF-8" in section and "ASCII" in section
    if encoding.startswith("utf"):
        assert "PYTHONIOENCODING" in section or "another Unicode" in section, section
