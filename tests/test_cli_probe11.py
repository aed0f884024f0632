"""The real ``geotarget`` command as operators and scripts run it (probe 11).

Paths that name no regular file (a named pipe, a device, a link to one), values that begin
with ``-``, numbers too long or too large to be read. The oracle is the exit code, standard
error as plain text, and the file system itself (``os.stat``), never the command's helpers.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from geotarget.cli import main

ROOT = Path(__file__).resolve().parents[1]
ALERT = ROOT / "docs" / "examples" / "sos_explosion.xml"
AT = "2024-05-20T16:05+02:00"
DEVICES = "id;lon;lat;accuracy_m;observed_at\nnear;18,06528;59,3325;8;2024-05-20T16:00+02:00\n"

needs_examples = pytest.mark.skipif(
    not ALERT.is_file(), reason="docs/examples is not beside the tests (installed-wheel run)"
)
needs_posix = pytest.mark.skipif(
    not hasattr(os, "mkfifo") or not os.path.exists(os.devnull) or os.name != "posix",
    reason="named pipes and /dev/null as a device: POSIX",
)


def _command(*argv: str, cwd: Path, **kw: Any) -> subprocess.CompletedProcess[str]:
    """The command as a shell runs it (``python -m geotarget``)."""
    return subprocess.run(
        [sys.executable, "-m", "geotarget", *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=180,
        **kw,
    )


def _code(argv: list[str]) -> int:
    """``main(argv)``'s exit code, a usage error's (``SystemExit``, as argparse ends) too."""
    try:
        return main(argv)
    except SystemExit as stop:
        return int(stop.code or 0)


def _one_line(code: int, err: str) -> str:
    assert code == 2, (code, err)
    assert "Traceback" not in err and err.count("\n") == 1, err
    return err


# --- paths that name a named pipe or a device ------------------------------------------------


@needs_examples
@needs_posix
def test_a_positions_name_linked_to_a_device_is_refused_as_no_file(tmp_path: Path) -> None:
    # A device is read until it ends: /dev/zero or /dev/urandom never do, and the reader
    # held all of it, until the kernel killed the process (exit 137, no word said). /dev/null
    # ends at once, so this case is safe to run; it was read as "an empty file".
    link = tmp_path / "devices.csv"
    link.symlink_to(os.devnull)
    assert stat.S_ISCHR(os.stat(link).st_mode)
    done = _command(
        "target", "--alert", str(ALERT), "--positions", "devices.csv", "--at", AT, cwd=tmp_path
    )
    err = _one_line(done.returncode, done.stderr)
    assert "--positions" in err and "devices.csv" in err and "character device" in err, err
    assert os.devnull in err, err  # what the link leads to
    assert "empty" not in err, err
    assert done.stdout == ""


@needs_examples
@needs_posix
def test_a_positions_file_that_is_a_named_pipe_is_still_read(tmp_path: Path) -> None:
    pipe = tmp_path / "live.csv"
    os.mkfifo(pipe)
    argv = ["target", "--alert", str(ALERT), "--positions", "live.csv", "--at", AT]
    with subprocess.Popen(  # the command reads the pipe as its writer fills it
        [sys.executable, "-m", "geotarget", *argv],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as command:
        with pipe.open("w") as writer:
            writer.write(DEVICES)
        out, err = command.communicate(timeout=180)
    assert command.returncode == 0, err
    assert '"near"' in out


@needs_posix
@pytest.mark.parametrize("kind", ["pipe", "device"])
def test_a_demo_ledger_that_is_no_regular_file_is_refused_saying_so(
    tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # --ledger /dev/null (meant as "keep none") and a named pipe reached SQLite, which said
    # "the file system failed a read or write (disk I/O error)".
    name = str(tmp_path / "ledger.db")
    if kind == "pipe":
        os.mkfifo(name)
    else:
        os.symlink(os.devnull, name)
    assert _code(["demo", "--devices", "10", "--ledger", name]) == 2
    err = _one_line(2, capsys.readouterr().err)
    assert "--ledger" in err and "regular file" in err, err
    assert ("named pipe" if kind == "pipe" else "character device") in err, err
    assert "disk I/O" not in err and "file system" not in err, err
    assert not stat.S_ISREG(os.stat(name).st_mode)  # left as it was


@needs_examples
@needs_posix
@pytest.mark.parametrize("kind", ["pipe", "device"])
def test_a_map_named_as_a_pipe_or_a_link_to_a_device_is_refused_saying_so(
    tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("matplotlib")
    # A named pipe was "File or stream is not seekable."; a link m.png -> /dev/null had its
    # suffix refused, ".png" though it is.
    name = str(tmp_path / "m.png")
    if kind == "pipe":
        os.mkfifo(name)
    else:
        os.symlink(os.devnull, name)
    assert _code(["preview", str(ALERT), "--plot", name]) == 2
    captured = capsys.readouterr()
    err = _one_line(2, captured.err)
    assert "--plot" in err and "regular file" in err, err
    assert ("named pipe" if kind == "pipe" else "character device") in err, err
    assert "suffix" not in err and "seekable" not in err, err
    assert captured.out == ""  # refused before the summary
    assert os.path.lexists(name) and not stat.S_ISREG(os.stat(name).st_mode)


@needs_examples
@needs_posix
def test_a_map_named_by_a_link_to_a_picture_not_drawn_yet_is_drawn_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("matplotlib")
    # latest.png -> maps/today.png, today's not drawn yet: refused with "File exists" (the
    # link is there), though the map is drawn into what a link leads to.
    (tmp_path / "maps").mkdir()
    link = tmp_path / "latest.png"
    link.symlink_to(Path("maps") / "today.png")
    assert _code(["preview", str(ALERT), "--plot", str(link)]) == 0, capsys.readouterr().err
    assert link.is_symlink()  # still the link, to the new picture
    assert (tmp_path / "maps" / "today.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@needs_examples
@needs_posix
def test_a_map_named_by_a_link_into_a_missing_folder_says_where_it_leads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("matplotlib")
    link = tmp_path / "latest.png"
    gone = tmp_path / "gone" / "today.png"
    link.symlink_to(gone)
    assert _code(["preview", str(ALERT), "--plot", str(link)]) == 2
    err = _one_line(2, capsys.readouterr().err)
    assert str(gone) in err and "does not exist" in err and "File exists" not in err, err


# --- values that begin with "-" ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "written"),
    [
        (["target", "--alert", "-a.xml", "--positions", "d.csv"], "--alert=-a.xml"),
        (["demo", "--ledger", "-l.db"], "--ledger=-l.db"),
        (["preview", "x.xml", "--plot", "-m.png"], "--plot=-m.png"),
    ],
)
def test_a_file_value_that_begins_with_a_dash_is_named_with_how_to_give_it(
    argv: list[str], written: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # argparse said only "argument --alert: expected one argument", the file's name given.
    assert _code(argv) == 2
    err = _one_line(2, capsys.readouterr().err)
    value = written.split("=", 1)[1]
    assert f"'{value}'" in err and written in err and f" ./{value}" in err, err


def test_a_number_value_that_begins_with_a_dash_gets_no_file_hint(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _code(["locate", "18", "59", "--snap-m", "-1e3"]) == 2  # argparse: an option
    err = _one_line(2, capsys.readouterr().err)
    assert "--snap-m=-1e3" in err and "./" not in err, err


def test_another_option_after_one_is_still_a_missing_value(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _code(["target", "--alert", "--positions", "d.csv"]) == 2
    err = _one_line(2, capsys.readouterr().err)
    assert "expected one argument" in err and "begins with" not in err, err


def test_a_file_argument_that_begins_with_a_dash_says_how_to_give_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # "preview -a.xml" said only "the following arguments are required: ALERT.xml".
    assert _code(["preview", "-a.xml"]) == 2
    err = _one_line(2, capsys.readouterr().err)
    assert "'-a.xml'" in err and "./-a.xml" in err and " -- " in err, err


# --- numbers too long or too large ------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [["locate", "1e999", "59"], ["locate", "18", "59", "--snap-m", "1" * 400]],
)
def test_a_number_too_large_to_hold_is_named_as_typed_not_as_inf(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert _code(argv) == 2
    err = _one_line(2, capsys.readouterr().err)
    typed = argv[1] if argv[1] != "18" else argv[-1]
    assert typed[:20] in err and "(got inf)" not in err, err
    assert len(err) < 400, len(err)


# --- a command's option given before the command ---------------------------------------------


@pytest.mark.parametrize(
    ("argv", "option", "command"),
    [
        # the option's value was read as the command: "invalid choice: '2024-...'"
        (["--at", "2024-05-20T16:05+02:00", "target", "--alert", "a", "--positions", "b"],
         "--at", "target"),
        (["--plot", "m.png", "preview", "x.xml"], "--plot", "preview"),
        # a flag: "target: unrecognized arguments: --confirm", target's own option
        (["--confirm", "target", "--alert", "a", "--positions", "b"], "--confirm", "target"),
        (["--at=2024-05-20T16:05+02:00", "target", "--alert", "a", "--positions", "b"],
         "--at", "target"),
    ],
)  # fmt: skip
def test_a_command_s_option_given_before_the_command_says_where_it_goes(
    argv: list[str], option: str, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _code(argv) == 2
    err = _one_line(2, capsys.readouterr().err)
    assert f"{option} is an option of" in err and f"geotarget {command} {option}" in err, err


def test_an_option_no_command_has_gets_no_such_hint(capsys: pytest.CaptureFixture[str]) -> None:
    assert _code(["--verbose", "locate", "18", "59"]) == 2
    err = _one_line(2, capsys.readouterr().err)
    assert "--verbose" in err and "is an option of" not in err, err
    assert _code(["-v"]) == 2  # the command is missing: no hint about a file's name
    err = _one_line(2, capsys.readouterr().err)
    assert "required" in err and "./-v" not in err, err


# --- standard input that cannot be read -------------------------------------------------------


@needs_examples
@needs_posix
@pytest.mark.parametrize("argv", [["preview", "-"], ["target", "--alert", "-"]])
def test_a_standard_input_open_for_writing_only_is_named_when_it_fails(
    tmp_path: Path, argv: list[str]
) -> None:
    # "0>file" (or a service's stdin opened so): the line was "geotarget preview: Bad file
    # descriptor", naming neither the argument nor standard input.
    (tmp_path / "d.csv").write_text(DEVICES, encoding="utf-8")
    more = ["--positions", "d.csv", "--at", AT] if argv[0] == "target" else []
    with (tmp_path / "w").open("wb") as writing_only:
        done = _command(*argv, *more, cwd=tmp_path, stdin=writing_only)
    err = _one_line(done.returncode, done.stderr)
    assert "standard input" in err and "alert - cannot be read" in err, err


# --- file names that hold a newline or another control character ----------------------------


@needs_examples
@needs_posix
def test_a_name_with_a_newline_is_shown_escaped_on_one_line(tmp_path: Path) -> None:
    # "no\nsuch.xml" was "alert file not found: no such.xml" (a name it does not have), and
    # the summary "read 2 rows from d" then "x.csv (CSV, ...)" on a line of its own.
    done = _command("preview", "no\nsuch.xml", cwd=tmp_path)
    err = _one_line(done.returncode, done.stderr)
    assert "no\\nsuch.xml" in err, err
    (tmp_path / "d\nx.csv").write_text(DEVICES, encoding="utf-8")
    done = _command(
        "target", "--alert", str(ALERT), "--positions", "d\nx.csv", "--at", AT, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert all(line.startswith("geotarget target: ") for line in lines), lines
    assert any("d\\nx.csv" in line for line in lines), lines


@needs_examples
@needs_posix
def test_a_map_name_with_an_escape_character_does_not_reach_the_terminal(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    name = "m\x1b[2Jx.png"  # ESC [2J: a terminal clears its screen
    done = _command("preview", str(ALERT), "--plot", name, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout and "m\\x1b[2Jx.png" in done.stdout, done.stdout
    assert (tmp_path / name).is_file()  # the file has the name given


# --- ~ and $VARIABLE no shell expanded --------------------------------------------------------


@needs_examples
@needs_posix
@pytest.mark.parametrize(
    ("argv", "option", "name"),
    [
        (["preview", "~/cap/alert.xml"], "alert", "~/cap/alert.xml"),
        (["target", "--alert", str(ALERT), "--positions", "~/d.csv", "--at", AT],
         "--positions", "~/d.csv"),
        (["demo", "--devices", "10", "--ledger", "~/l.db"], "--ledger", "~/l.db"),
        (["preview", str(ALERT), "--plot", "$HOME/m.png"], "--plot", "$HOME/m.png"),
    ],
)  # fmt: skip
def test_a_name_whose_tilde_or_variable_no_shell_expanded_says_so(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    option: str,
    name: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # From a program's argument list or a unit file (or quoted): "file not found: ~/d.csv",
    # "its folder '~' does not exist", "the directory '/srv/~' does not exist".
    if "--plot" in argv:
        pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert _code(argv) == 2
    err = _one_line(2, capsys.readouterr().err)
    shown = "~" if name.startswith("~") else "$HOME"
    assert f"{option} {name}" in err and f"{shown} was not expanded" in err, err
    assert str(tmp_path / "home" / name.split("/", 1)[1]) in err, err  # the full path
    assert not (tmp_path / "~").exists() and not (tmp_path / "$HOME").exists()


@needs_examples
def test_a_folder_literally_named_tilde_is_read_as_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "~").mkdir()
    (tmp_path / "~" / "alert.xml").write_bytes(ALERT.read_bytes())
    monkeypatch.chdir(tmp_path)
    assert _code(["preview", "~/alert.xml"]) == 0, capsys.readouterr().err


@needs_examples
@needs_posix
def test_positions_on_a_standard_input_that_is_an_endless_device_are_refused(
    tmp_path: Path,
) -> None:
    # "--positions - < /dev/zero" was read until the memory ran out (the process killed). The
    # address space is capped here, so that without the refusal the run ends in "out of
    # memory", not in the machine's memory.
    resource = pytest.importorskip("resource")
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero")

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))

    with Path("/dev/zero").open("rb") as zeros:
        done = _command(
            "target", "--alert", str(ALERT), "--positions", "-", "--at", AT,
            cwd=tmp_path, stdin=zeros, preexec_fn=cap,
        )  # fmt: skip
    err = _one_line(done.returncode, done.stderr)
    assert "--positions -" in err and "device" in err and "memory" not in err, err
    assert done.stdout == ""
