"""Every shell session in the docs (``$ cat FILE`` and ``$ geotarget ...``) runs as printed.

A newcomer types these lines from a checkout's root: the files a session shows with ``cat`` are
written as shown, each ``geotarget`` command runs (through :func:`geotarget.cli.main`, as the
installed command does), and its output is what the page prints: the same lines in the same
order, stdout then stderr as a terminal shows them (a line of only ``...`` stands for any number
of lines left out, ``...`` within a line for any text left out).
"""

from __future__ import annotations

import io
import re
import shlex
import shutil
from pathlib import Path

import pytest

from geotarget.cli import main

ROOT = Path(__file__).resolve().parents[1]
PAGES = [*sorted((ROOT / "docs").glob("*.rst")), ROOT / "README.md"]


def _sessions(text: str) -> list[list[str]]:
    """The indented literal blocks that hold a ``$ `` prompt, as lists of dedented lines."""
    sessions: list[list[str]] = []
    block: list[str] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("    ") or (block and not line.strip()):
            block.append(line[4:])
            continue
        if any(b.startswith("$ ") for b in block):
            sessions.append([b for b in block if b.strip()])
        block = []
    return sessions


SESSIONS = [
    pytest.param(session, id=f"{page.name}-{i}")
    for page in PAGES
    if page.is_file()
    for i, session in enumerate(_sessions(page.read_text(encoding="utf-8")))
]


def _check(expected: list[str], stdout: str, stderr: str) -> None:
    """The page's lines are the printed lines, in order, ``...`` standing for what is left out."""
    said = [s.rstrip() for s in [*stdout.splitlines(), *stderr.splitlines()]]
    i, skipping = 0, False
    for line in expected:
        if line.strip() == "...":
            skipping = True
            continue
        pattern = re.compile(".*".join(map(re.escape, line.rstrip().split("..."))))
        while i < len(said) and not pattern.fullmatch(said[i]):
            assert skipping, f"the page shows {line!r} where the command printed {said[i]!r}"
            i += 1
        assert i < len(said), f"the page shows {line!r}, which the command did not print"
        i, skipping = i + 1, False
    assert skipping or i == len(said), f"the command printed lines the page leaves out: {said[i:]}"


INDENTED = '{\n  "alert": "A-1",\n  "verdict": "DELIVER"\n}\n'


@pytest.mark.parametrize(
    ("page", "why"),
    [
        (['{"alert": "A-1", "verdict": "DELIVER"}'], "a one-line excerpt of indented JSON"),
        (["{", '  "alert": "A-1",', "...", "}"], "a stderr line left out"),
        (["{", "...", "}", "geotarget target: DELIVER"], "a stderr line cut short"),
        (["{", '  "verdict": "DELIVER"', "...", "}", "..."], "a line out of place"),
    ],
)
def test_the_check_refuses_a_page_that_is_not_what_was_printed(page: list[str], why: str) -> None:
    """The check fails on a page line the command did not print as shown, or a line left out."""
    with pytest.raises(AssertionError):
        _check(page, INDENTED, "geotarget target: DELIVER: 1 new recipient(s)\n")


def test_the_check_takes_dots_for_what_is_left_out() -> None:
    """A line of ``...`` stands for any lines, ``...`` in a line for any text."""
    stderr = "geotarget target: DELIVER: 1 new recipient(s)\n"
    _check(["{", "...", "}", "geotarget target: DELIVER: ..."], INDENTED, stderr)
    _check(["{", '  "alert": "A-...",', "...", "..."], INDENTED, stderr)


def test_the_docs_have_a_session() -> None:
    """The quickstart shows the command at work, so this test checks something."""
    assert any("quickstart" in p.id for p in SESSIONS)  # type: ignore[operator]


@pytest.mark.parametrize("session", SESSIONS)
def test_every_docs_session_runs_as_printed(
    session: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Files shown with ``cat`` are written; each command's output matches the page's lines."""
    shutil.copytree(ROOT / "docs" / "examples", tmp_path / "docs" / "examples")
    monkeypatch.chdir(tmp_path)
    i = 0
    while i < len(session):
        argv = shlex.split(session[i].removeprefix("$ "))
        output = []
        i += 1
        while i < len(session) and not session[i].startswith("$ "):
            output.append(session[i])
            i += 1
        if argv[0] == "cat":
            (tmp_path / argv[1]).write_text("\n".join(output) + "\n", encoding="utf-8")
            continue
        assert argv[0] == "geotarget", argv
        out = io.StringIO()
        code = main(argv[1:], out=out)
        stderr = capsys.readouterr().err
        assert code == 0, stderr
        _check(output, out.getvalue(), stderr)
