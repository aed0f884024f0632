"""A newcomer's first hour, and the command line as scripts use it (probe 13).

The oracle is the command's own words (its ``--help``, the docs) and what it writes, read as
bytes from a separate process with standard input at ``/dev/null``, never its helpers.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

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

#: Characters that drive a terminal or reorder what it shows: U+009B is CSI (as ESC [ is),
#: U+202E RIGHT-TO-LEFT OVERRIDE shows the rest of its line reversed, U+2066 an isolate,
#: U+2028 a line separator. XML 1.0 carries every one of them.
DRIVING = ("\x9b", "\x85", "\u202e", "\u2066", "\u2028")


def _run(*argv: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "geotarget", *argv],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "PYTHONIOENCODING": "utf-8", "LC_ALL": "C.UTF-8"},
    )


@functools.cache
def _target_help() -> str:
    """``target --help``, its words joined by single spaces: one process for the module."""
    done = _run("target", "--help", cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return " ".join(done.stdout.decode().split())


def _upstream(tmp_path: Path) -> tuple[Path, str]:
    """The guide's Explosion as a sender wrote it, with texts that would drive a terminal."""
    xml = ALERT.read_text(encoding="utf-8")
    identifier = "SOS-\u202e2024-0042"
    xml = xml.replace("<identifier>SOS-2024-0520-0042<", f"<identifier>{identifier}<")
    # A headline wrapped over two lines of a pretty-printed document.
    xml = xml.replace(
        "<headline>Explosion vid Sergels torg</headline>",
        "<headline>Explosion vid Sergels torg,\n        Stockholm</headline>",
    )
    xml = xml.replace(
        "<headline>Explosion at Sergels torg</headline>",
        "<headline>Explosion at \x9b31mSergels torg\u2028\u2066now\x85</headline>",
    )
    path = tmp_path / "alert.xml"
    path.write_text(xml, encoding="utf-8")
    return path, identifier


@needs_examples
def test_preview_shows_an_alert_s_texts_one_line_each_and_inert(tmp_path: Path) -> None:
    r"""``preview`` printed the document's identifier, event and headline as they were.

    A headline wrapped in the XML split its line in two; U+009B (CSI) reached the terminal as
    a control sequence; U+202E showed the rest of the line reversed. File names were already
    shown escaped; the sender's text is shown the same way: ``\u202e``, ``\n``.
    """
    path, _ = _upstream(tmp_path)
    done = _run("preview", str(path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    text = done.stdout.decode("utf-8")
    assert not [c for c in DRIVING if c in text]
    lines = text.splitlines()
    blocks = [line for line in lines if line.startswith("  [")]
    assert len(blocks) == 2  # one line per info block, as the document has two
    assert blocks[0].endswith("Explosion vid Sergels torg,\\n        Stockholm")
    assert "\\x9b31mSergels torg\\u2028\\u2066now\\x85" in blocks[1]
    assert lines[0].startswith("SOS-\\u202e2024-0042 from larm@sosalarm.se")
    assert lines[-1].startswith("  area: 1 part(s)")  # no headline's tail after it


@needs_examples
def test_target_s_answer_and_summary_hold_no_character_that_drives_a_terminal(
    tmp_path: Path,
) -> None:
    r"""The JSON held U+202E and U+009B as they were; its reader sees the same text now.

    JSON escapes C0 controls itself; the others are escaped as ``\u`` too, which any JSON
    reader turns back into the same text, so the answer shown on a terminal (the quickstart
    runs it so) cannot drive it. The summary's reason, quoting an event code as the sender
    wrote it, is one inert line too.
    """
    path, identifier = _upstream(tmp_path)
    xml = path.read_text(encoding="utf-8").replace("<event>Explosion</event>", "<event>Gas</event>")
    code = "<eventCode><valueName>SE\u202e</valueName><value>x\x9b31m</value></eventCode>"
    path.write_text(xml.replace("<expires>", f"{code}<expires>"), encoding="utf-8")
    (tmp_path / "devices.csv").write_text(DEVICES, encoding="utf-8")
    done = _run(
        "target", "--alert", "alert.xml", "--positions", "devices.csv", "--at", AT, cwd=tmp_path
    )
    assert done.returncode == 4, done.stderr  # UNRECOGNISED_KIND, as the help says
    out, err = done.stdout.decode("utf-8"), done.stderr.decode("utf-8")
    assert not [c for c in DRIVING if c in out + err]
    answer = json.loads(out)
    assert answer["alert"] == identifier  # the same text to a JSON reader
    assert answer["verdict"] == "UNRECOGNISED_KIND"
    assert "SE\u202e=x\x9b31m" in answer["reason"]
    summary = [line for line in err.splitlines() if "UNRECOGNISED_KIND" in line]
    assert len(summary) == 1 and "SE\\u202e=x\\x9b31m" in summary[0]


def _policies(tmp_path: Path) -> tuple[Path, Path]:
    """The guide's operator policy file, and a copy that only lowers ``max_recipients``."""
    source = ROOT / "docs" / "examples" / "pilot_policy.toml"
    text = source.read_text(encoding="utf-8")
    assert "max_recipients = 600000" in text
    first, second = tmp_path / "policy.toml", tmp_path / "stricter.toml"
    first.write_text(text, encoding="utf-8")
    second.write_text(text.replace("max_recipients = 600000", "max_recipients = 1"), "utf-8")
    return first, second


@needs_examples
def test_the_help_says_which_policy_the_answer_s_hash_identifies(tmp_path: Path) -> None:
    """Two ``--policy`` files deciding differently gave one ``policy_hash``, "the policy's".

    ``policy_hash`` is the rollout's alone (the guide says to log it to know which policy
    decided): a file's guard, issuers or recognition rules are not in it. The help said "the
    policy's SHA-256" beside a ``--policy`` that holds all four; it now says what it covers.
    """
    tips = ROOT / "docs" / "examples" / "polisen_tips.xml"
    (tmp_path / "devices.csv").write_text(
        "id,lon,lat,accuracy_m,observed_at\n"
        "a,18.0586,59.3310,5,2024-05-20T16:00+02:00\n"
        "b,18.0590,59.3312,5,2024-05-20T16:00+02:00\n",
        encoding="utf-8",
    )
    answers = []
    for policy in _policies(tmp_path):
        done = _run(
            "target", "--alert", str(tips), "--positions", "devices.csv", "--at", AT,
            "--policy", policy.name, cwd=tmp_path,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        answers.append(json.loads(done.stdout))
    assert [a["verdict"] for a in answers] == ["DELIVER", "BLAST_RADIUS"]
    assert answers[0]["policy_hash"] == answers[1]["policy_hash"]  # one hash, two decisions
    help_text = _target_help()
    assert "policy_hash the policy's SHA-256" not in help_text
    said = help_text[help_text.index("policy_hash ") :][:300]
    assert "rollout's SHA-256" in said
    assert all(word in said for word in ("recognition", "issuers", "location_rules")), said


@needs_examples
@pytest.mark.parametrize("identifier", ["SOS$\\frac$1", "SOS$_2$-0042", "A\\$B$"])
def test_a_dollar_in_an_identifier_is_drawn_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, identifier: str
) -> None:
    r"""``preview --plot`` titled its map with the identifier as matplotlib mathtext.

    CAP allows ``$`` and ``\`` in an identifier: ``SOS$\frac$1`` ended in an internal error
    (exit 3) after the summary was printed, ``SOS$_2$-0042`` drew a subscript 2, ``A\$B$``
    lost its backslash. The title, read as matplotlib reads it (math between an even number
    of unescaped ``$``; else ``\$`` shown as ``$``), is the identifier as written.
    """
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    from geotarget.cli import main

    titles: list[str] = []
    savefig = Figure.savefig

    def recording(self: Figure, *args: Any, **kwargs: Any) -> None:
        titles.extend(ax.get_title() for ax in self.axes)
        savefig(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", recording)
    xml = ALERT.read_text(encoding="utf-8")
    path = tmp_path / "alert.xml"
    path.write_text(xml.replace("SOS-2024-0520-0042", identifier), encoding="utf-8")
    code = main(["preview", str(path), "--plot", str(tmp_path / "map.png")], out=io.StringIO())
    assert code == 0
    assert (tmp_path / "map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (title,) = titles
    unescaped = title.count("$") - title.count("\\$")
    assert not (unescaped and unescaped % 2 == 0), title  # no mathtext
    assert title.replace("\\$", "$") == f"{identifier} (explosion)"


@needs_examples
def test_an_input_named_by_a_link_to_nothing_says_where_the_link_leads(tmp_path: Path) -> None:
    """``latest.csv -> exports/2024-05-19.csv``, its export cleaned up: "file not found".

    ``ls`` lists ``latest.csv``, so "not found" sent the operator looking in the wrong place;
    the policy file's was "No such file or directory". Each input (alert, positions, policy)
    named through a link to nothing, its own or a folder's (a share not mounted), now names
    the link and the path it leads to; a loop of links is said as such.
    """
    (tmp_path / "exports").mkdir()
    (tmp_path / "alert.xml").write_bytes(ALERT.read_bytes())
    (tmp_path / "devices.csv").write_text(DEVICES, encoding="utf-8")
    (tmp_path / "latest.csv").symlink_to(Path("exports") / "2024-05-19.csv")
    (tmp_path / "share").symlink_to(tmp_path / "mnt" / "share")  # not mounted
    (tmp_path / "policy.toml").symlink_to(Path("exports") / "policy.toml")
    (tmp_path / "loop.xml").symlink_to("loop.xml")
    base = ["--at", AT]
    cases = [
        (
            ["target", "--alert", "alert.xml", "--positions", "latest.csv", *base],
            "--positions latest.csv is a link to "
            f"{tmp_path / 'exports' / '2024-05-19.csv'}, which does not exist",
        ),
        (
            ["target", "--alert", "share/alert.xml", "--positions", "devices.csv", *base],
            f"--alert share/alert.xml: share is a link to {tmp_path / 'mnt' / 'share'}, "
            "which does not exist",
        ),
        (
            ["target", "--alert", "alert.xml", "--positions", "devices.csv", *base,
             "--policy", "policy.toml"],
            f"--policy policy.toml is a link to {tmp_path / 'exports' / 'policy.toml'}, "
            "which does not exist",
        ),
        (["preview", "loop.xml"], "alert loop.xml is a link whose links lead round in a loop"),
    ]  # fmt: skip
    for argv, said in cases:
        done = _run(*argv, cwd=tmp_path)
        err = done.stderr.decode("utf-8")
        assert (done.returncode, done.stdout) == (2, b""), err
        assert err.count("\n") == 1 and said in err, (argv, err)
        assert "not found" not in err


class _Terminal(io.StringIO):
    """Standard error as a terminal: the command writes its progress line there."""

    def isatty(self) -> bool:
        return True


@needs_examples
def test_the_progress_line_on_a_terminal_shows_a_file_s_name_inert(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``target``'s progress line wrote the positions file's name as it was, on a terminal.

    Every other line escaped a name's control characters; the progress line, written only
    to a terminal, sent an ESC sequence of a name to it (and U+202E reversed the rest).
    Progress is shown every row here, so that a small file shows it.
    """
    from geotarget import _position_files
    from geotarget.cli import main

    monkeypatch.setattr(_position_files, "PROGRESS_EVERY", 1, raising=True)
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    name = "x\u202evsc\x1b[2J\x9b31m.csv"
    (tmp_path / name).write_text(DEVICES, encoding="utf-8")
    out = io.StringIO()
    argv = ["target", "--alert", str(ALERT), "--positions", str(tmp_path / name), "--at", AT]
    assert main(argv, out=out) == 0
    shown = terminal.getvalue()
    assert "reading " in shown  # the progress line was written
    assert not [c for c in ("\x1b", "\x9b", "\u202e") if c in shown], repr(shown)
    assert "reading x\\u202evsc\\x1b[2J\\x9b31m.csv: 2 rows" in shown


def test_the_demo_names_its_map_inert(tmp_path: Path) -> None:
    """The demo escaped C0 controls in its map's name, but wrote U+009B and U+202E raw."""
    pytest.importorskip("matplotlib")
    from geotarget.cli import main

    name = "map\u202e\x9b31m.png"
    out = io.StringIO()
    assert main(["demo", "--devices", "200", "--plot", str(tmp_path / name)], out=out) == 0
    assert (tmp_path / name).is_file()
    text = out.getvalue()
    assert not [c for c in ("\x9b", "\u202e") if c in text]
    assert "map\\u202e\\x9b31m.png" in text


@needs_examples
def test_the_help_says_in_which_offset_an_answer_without_at_is(tmp_path: Path) -> None:
    """The help named ``at``'s offset as ``--at``'s, and ``--at``'s default as "now".

    A script that leaves ``--at`` out gets ``at`` (and ``next_change``) in UTC: which, the
    help did not say. It now says so where it names the field and the option.
    """
    (tmp_path / "devices.csv").write_text(DEVICES, encoding="utf-8")
    done = _run("target", "--alert", str(ALERT), "--positions", "devices.csv", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    at = dt.datetime.fromisoformat(json.loads(done.stdout)["at"])
    assert at.utcoffset() == dt.timedelta(0)
    help_text = _target_help()
    assert "in --at's offset (UTC without --at)" in help_text
    assert "--at TIME ISO 8601 with offset (default: now, in UTC)" in help_text


def _piped(data: bytes, *argv: str, cwd: Path) -> tuple[int, str]:
    """The command with ``data`` on standard input: its exit code and standard error."""
    done = subprocess.run(
        [sys.executable, "-m", "geotarget", *argv],
        cwd=cwd,
        input=data,
        capture_output=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "PYTHONIOENCODING": "utf-8", "LC_ALL": "C.UTF-8"},
    )
    assert done.stdout == b""
    return done.returncode, done.stderr.decode("utf-8")


#: What ``curl -s "$FEED_URL"`` passes on when a proxy answers with an error: nginx's page
#: (its <hr> unclosed, as HTML allows), and one with a DOCTYPE.
ERROR_PAGES = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad "
    b"Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
    b"<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>\n<title>Service Unavailable"
    b"</title></head><body><p>Try again later.</body></html>\n",
)


@pytest.mark.parametrize("page", ERROR_PAGES)
def test_a_web_server_s_error_page_given_as_the_alert_is_named_as_such(
    tmp_path: Path, page: bytes
) -> None:
    """A feed's error page was "mismatched tag", or its DOCTYPE refused as an entity attack."""
    code, err = _piped(page, "preview", "-", cwd=tmp_path)
    assert code == 2 and err.count("\n") == 1, err
    assert "it is not XML but an HTML page" in err
    title = "502 Bad Gateway" if b"502" in page else "Service Unavailable"
    assert f"titled '{title}'" in err
    assert not [w for w in ("DOCTYPE", "entity", "mismatched tag", "well-formed") if w in err]


def test_json_given_as_the_alert_is_named_as_json_without_its_text(tmp_path: Path) -> None:
    """One line of JSON (commas in it) was "a CSV table's first line"; quoted, never.

    The CAP reader names JSON, but quotes its first characters: here a device's id. Each form
    (an object, a list, after a BOM and a space) through ``preview``; ``target``, whose alert
    goes through the same reader and refusal, with the object.
    """
    (tmp_path / "devices.csv").write_text(DEVICES, encoding="utf-8")
    device = b'{"id":"0701234567","lon":18.06528,"lat":59.3325,"accuracy_m":8}\n'
    target = ["target", "--alert", "-", "--positions", "devices.csv", "--at", AT]
    for argv, forms in (
        (["preview", "-"], (device, b"[" + device.strip() + b"]", b"\xef\xbb\xbf " + device)),
        (target, (device,)),
    ):
        for data in forms:
            code, err = _piped(data, *argv, cwd=tmp_path)
            assert code == 2 and err.count("\n") == 1, err
            assert "it is not XML but JSON" in err, err
            assert "CSV" not in err and "0701234567" not in err and "59.33" not in err


def test_an_empty_alert_is_said_to_be_empty(tmp_path: Path) -> None:
    """``curl -sf`` passes nothing on for an HTTP error: that was "no element found"."""
    (tmp_path / "empty.xml").write_bytes(b"\xef\xbb\xbf\r\n")
    for data, argv in ((b"", ["preview", "-"]), (b"", ["preview", "empty.xml"])):
        code, err = _piped(data, *argv, cwd=tmp_path)
        assert code == 2 and err.count("\n") == 1, err
        assert ": CAP document has 1 problem: it is empty" in err
        assert "no element found" not in err
