"""Every shell session in the docs (``$ cat FILE`` and ``$ geotarget ...``) runs as printed.

A newcomer types these lines from a checkout's root: the files a session shows with ``cat`` are
written as shown, each ``geotarget`` command runs (through :func:`geotarget.cli.main`, as the
installed command does), and every output line the page prints must appear (``...`` stands for text left out; a one-line JSON object names fields
whose values must be the command's).
"""

from __future__ import annotations

import io
import json
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


def _json_claims(line: str) -> dict[str, object]:
    """The ``"key": value`` pairs a one-line JSON excerpt states (values other than ``...``)."""
    pairs = re.findall(r'"(\w+)": ("(?:[^"\\]|\\.)*"|\[[^\]]*\]|[-\w.]+)', line)
    return {k: json.loads(v) for k, v in pairs if v != '"..."'}


def _check(expected: list[str], stdout: str, stderr: str) -> None:
    said = (stdout + stderr).splitlines()
    for line in expected:
        if line.startswith("{"):
            doc = json.loads(stdout)
            for key, value in _json_claims(line).items():
                assert doc[key] == value, (key, doc[key], value)
        elif line.strip() == "...":
            continue
        else:
            fragments = [f for f in line.split("...") if f.strip()]
            assert any(all(f in s for f in fragments) for s in said), (line, said)


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
