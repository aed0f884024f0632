"""The real ``geotarget`` command under what an operator's machine does to it.

File names in bytes that are no UTF-8, a process stopped by a signal, a console with an odd
encoding: each case was found by running the installed command in a subprocess, and each
answer is checked against plain Python (``json``, byte decoding, the file system), not against
the command's own helpers.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from geotarget.cli import main

ROOT = Path(__file__).resolve().parents[1]
ALERT = ROOT / "docs" / "examples" / "sos_explosion.xml"
AT = "2024-05-20T16:05+02:00"
#: Two devices: one at Sergels torg (inside the Explosion's 500 m circle), one 8 km east.
DEVICES = (
    "id,lon,lat,accuracy_m,observed_at,colour\n"
    "near,18.06528,59.3325,8,2024-05-20T16:00:00+02:00,red\n"
    "far,18.2,59.3325,8,2024-05-20T16:00:00+02:00,blue\n"
)

needs_examples = pytest.mark.skipif(
    not ALERT.is_file(), reason="docs/examples is not beside the tests (installed-wheel run)"
)
needs_byte_names = pytest.mark.skipif(
    sys.platform != "linux", reason="file names of any bytes: a Linux file system"
)


def _command(
    *argv: str | bytes, env: dict[str, str] | None = None, cwd: Path | None = None, **kw: Any
) -> subprocess.CompletedProcess[bytes]:
    """The command as a shell runs it (``python -m geotarget``); output as bytes."""
    environment = {**os.environ, **(env or {})}
    streams = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **kw}
    return subprocess.run(
        [sys.executable, "-m", "geotarget", *argv], env=environment, cwd=cwd, timeout=180, **streams
    )


# --- file names that are no UTF-8 ----------------------------------------------------------


@needs_examples
@needs_byte_names
def test_a_file_name_that_is_no_utf8_is_shown_escaped_in_valid_json(tmp_path: Path) -> None:
    """``--positions dev<e5>.csv`` (a Latin-1 name) on a UTF-8 console: an answer, valid JSON.

    The name reached the report as a lone surrogate: a strict UTF-8 standard output (a UTF-8
    locale; here ``PYTHONIOENCODING=utf-8``) ended the run in "internal error
    (UnicodeEncodeError ...)", exit 3, after the targeting was done; a C.UTF-8 one wrote the
    byte 0xe5 raw into the JSON, which is then no UTF-8 (``jq`` refuses it).
    """
    (tmp_path / os.fsdecode(b"al\xffert.xml")).write_bytes(ALERT.read_bytes())
    (tmp_path / os.fsdecode(b"dev\xe5.csv")).write_text(DEVICES, encoding="utf-8")
    for encoding in ("utf-8", "utf-8:surrogateescape"):
        done = _command(
            "target",
            "--alert",
            b"al\xffert.xml",
            "--positions",
            b"dev\xe5.csv",
            "--at",
            AT,
            env={"PYTHONIOENCODING": encoding},
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr
        answer = json.loads(done.stdout.decode("utf-8"))  # strict: every byte is UTF-8
        assert answer["recipients"] == ["near"]
        assert answer["warnings"][0].startswith("dev\\xe5.csv: ignored unknown column(s)")
        err = done.stderr.decode("utf-8")
        assert "read 2 rows from dev\\xe5.csv (CSV" in err
        assert "internal error" not in err


@needs_examples
@needs_byte_names
def test_a_map_name_that_is_no_utf8_is_written_and_named(tmp_path: Path) -> None:
    """``preview --plot m<ff>.png`` draws the map, says so in UTF-8 and exits 0 (it was 3)."""
    pytest.importorskip("matplotlib")
    done = _command(
        "preview",
        str(ALERT),
        "--plot",
        b"m\xff.png",
        env={"PYTHONIOENCODING": "utf-8"},
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode("utf-8").splitlines()[-1] == "  map written to m\\xff.png"
    assert (tmp_path / os.fsdecode(b"m\xff.png")).read_bytes().startswith(b"\x89PNG")


@needs_byte_names
def test_the_demo_names_a_map_that_is_no_utf8_printably(tmp_path: Path) -> None:
    """The demo's last line names its map without a lone surrogate (a UTF-8 console's error).

    It failed after the whole demo had played, and the map it had drawn was deleted again.
    """
    pytest.importorskip("matplotlib")
    plot = tmp_path / os.fsdecode(b"pilot\xe5.png")
    out = io.StringIO()
    assert main(["demo", "--devices", "2000", "--plot", str(plot)], out=out) == 0
    text = out.getvalue()
    text.encode("utf-8")  # no lone surrogate: every UTF-8 output writes it
    assert f"map written to {tmp_path}/pilot\\xe5.png" in text
    assert plot.read_bytes().startswith(b"\x89PNG")


# --- signals -------------------------------------------------------------------------------


def _demo_stopped_by(signum: int, tmp_path: Path, **popen: Any) -> tuple[int, str]:
    """Start ``demo --ledger``; send ``signum`` once its first line is out: (status, stderr)."""
    ledger = tmp_path / "deliveries.db"
    process = subprocess.Popen(
        [sys.executable, "-m", "geotarget", "demo", "--devices", "1000000", "--ledger", ledger],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **popen,
    )
    assert process.stdout is not None
    first = process.stdout.readline()  # the title: the ledger exists, the set-up has begun
    assert first.startswith(b"geotarget demo"), first
    assert ledger.exists()
    process.send_signal(signum)
    _, err = process.communicate(timeout=180)
    return process.returncode, err.decode()


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="POSIX signals")
@pytest.mark.parametrize("name", ["SIGTERM", "SIGHUP"])
def test_a_demo_stopped_by_a_signal_cleans_up_as_for_ctrl_c(name: str, tmp_path: Path) -> None:
    """``timeout``/``kill`` (SIGTERM) or a closed terminal (SIGHUP) during ``demo --ledger``.

    Python died at once and left the half-played ledger (with its -wal and -shm files): the
    next run over that name was refused as "an earlier demo's ledger" that "has already
    delivered and cancelled them". Now the demo cleans up as after Ctrl-C, says so in one
    line, and dies of the signal as before (the sender sees the same status).
    """
    signum = getattr(signal, name)
    status, err = _demo_stopped_by(signum, tmp_path)
    assert status == -signum, err
    assert err == f"geotarget demo: stopped by {name}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="POSIX signals")
def test_an_ignored_hangup_stays_ignored(tmp_path: Path) -> None:
    """Under ``nohup`` (SIGHUP ignored) a closed terminal does not stop the demo."""
    ignore = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # inherited by the child
    try:
        status, err = _demo_stopped_by(signal.SIGHUP, tmp_path)
    finally:
        signal.signal(signal.SIGHUP, ignore)
    assert (status, err) == (0, "")
    assert (tmp_path / "deliveries.db").stat().st_size > 0


def test_ctrl_c_while_the_arguments_are_read_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C before a command was read (building or running the parser): exit 130, one line."""
    from geotarget import cli

    def interrupted() -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_parser", interrupted)
    try:
        code = main(["locate", "18.07", "59.33"], out=io.StringIO())
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C left main() as a KeyboardInterrupt: a traceback on the console")
    assert code == 130
    assert capsys.readouterr().err == "geotarget: interrupted\n"


#: Runs ``python -m geotarget`` with Ctrl-C arriving while ``geotarget.cli`` loads ``_demo``.
_INTERRUPTED_IMPORT = """
import runpy, sys

class Interrupt:
    def find_spec(self, name, path=None, target=None):
        if name == "geotarget._demo":
            raise KeyboardInterrupt

sys.meta_path.insert(0, Interrupt())
sys.argv = ["geotarget", "locate", "18.07", "59.33"]
runpy.run_module("geotarget", run_name="__main__", alter_sys=True)
"""


def test_ctrl_c_while_the_command_loads_is_one_line() -> None:
    """``python -m geotarget`` interrupted while it imports its command: exit 130, one line."""
    done = subprocess.run(
        [sys.executable, "-c", _INTERRUPTED_IMPORT], capture_output=True, text=True, timeout=120
    )
    assert (done.returncode, done.stderr, done.stdout) == (130, "geotarget: interrupted\n", "")


# --- consoles ------------------------------------------------------------------------------


@pytest.mark.parametrize("codec", ["idna", "undefined"])
def test_a_console_codec_that_cannot_write_text_gets_escaped_ascii(codec: str) -> None:
    """``PYTHONIOENCODING`` naming a codec no text can be written in with escapes.

    Every line failed, the error line on stderr too ("lost sys.stderr"): no output, and
    Python's exit code 1, which is ``locate``'s "in no region". Now the command writes ASCII
    with escapes, and its own exit codes.
    """
    done = _command("locate", "11.9668", "57.7059", env={"PYTHONIOENCODING": codec})
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode("ascii").splitlines()[:2] == [
        "municipality: 1480 G\\xf6teborg",
        "county: 14 V\\xe4stra G\\xf6talands l\\xe4n",
    ]
    usage = _command("locate", "11.9668", "57.7059", "3", env={"PYTHONIOENCODING": codec})
    assert usage.returncode == 2
    assert usage.stderr.decode("ascii").startswith("geotarget locate: unrecognized arguments: 3")


# --- the answer's size ---------------------------------------------------------------------


class _CountingOutput(io.StringIO):
    """A standard output that counts the writes made to it."""

    writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


@needs_examples
def test_the_json_answer_is_written_at_once_not_token_by_token(tmp_path: Path) -> None:
    """``target`` over many recipients writes its JSON in one piece.

    ``json.dump`` wrote each token on its own, about three writes a recipient, each through
    the checks that name an output that fails: a sizeable share of a run over hundreds of
    thousands of recipients.
    """
    rows = "".join(
        f"d{i},{18.06528 + (i % 100) * 1e-5:.5f},59.3325,5,1716213600\n" for i in range(5_000)
    )
    devices = tmp_path / "devices.csv"
    devices.write_text("id,lon,lat,accuracy_m,observed_at\n" + rows, encoding="utf-8")
    out = _CountingOutput()
    code = main(["target", "--alert", str(ALERT), "--positions", str(devices), "--at", AT], out)
    assert code == 0
    answer = json.loads(out.getvalue())
    assert sorted(answer["recipients"]) == sorted(f"d{i}" for i in range(5_000))
    assert out.writes <= 2


@needs_examples
@pytest.mark.parametrize("encoding", ["utf\udcff8", "cp\udce51252", "ütf-8", "utf\x008"])
def test_an_encoding_name_with_a_byte_that_is_no_utf8_is_bad_input(
    encoding: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    r"""``--encoding $'utf\xff8'`` (a mistyped name in a Latin-1 terminal) is exit 2, one line.

    The byte reached Python's codec lookup as a lone surrogate, which raised
    ``UnicodeEncodeError`` (a NUL: ``ValueError``): "internal error ... please report it",
    exit 3. The library's charset check now takes such a name as no encoding.
    """
    devices = tmp_path / "devices.csv"
    devices.write_text(DEVICES, encoding="utf-8")
    argv = ["target", "--alert", str(ALERT), "--positions", str(devices), "--at", AT]
    code = main([*argv, "--encoding", encoding], out=io.StringIO())
    assert code == 2
    assert capsys.readouterr().err == (
        "geotarget target: --encoding must name a text encoding such as utf-8 or cp1252 "
        f"(got {encoding!r})\n"
    )


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX pipes")
def test_an_error_line_nobody_reads_still_exits_with_its_own_code(tmp_path: Path) -> None:
    """``geotarget preview missing.xml 2>&1 | head -0``: exit 2, as for the error read.

    Writing the error line to a pipe whose reader had gone raised ``BrokenPipeError`` inside
    the handler that reported the error: Python's traceback (to nobody) and exit code 1, which
    the help gives to ``locate``'s "in no region".
    """
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the command writes
    try:
        done = subprocess.run(
            [sys.executable, "-m", "geotarget", "preview", str(tmp_path / "missing.xml")],
            stdout=write_end,
            stderr=write_end,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 2


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize(
    ("argv", "prog"),
    [
        (["--help"], "geotarget"),
        (["--version"], "geotarget"),
        (["target", "-h"], "geotarget target"),
    ],
)
def test_help_and_version_that_cannot_be_written_are_not_success(
    argv: list[str], prog: str
) -> None:
    """``geotarget --help > /dev/full`` (a full disk) wrote nothing and exited 0.

    argparse ignores a failed write; now it is one line on stderr and exit 2, as for a report
    that cannot be written, and a reader that has gone is 141, as for a report.
    """
    with open("/dev/full", "wb") as full:
        done = _command(*argv, stdout=full)
    assert done.returncode == 2
    assert done.stderr.decode() == (
        f"{prog}: cannot write to standard output: No space left on device\n"
    )
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        gone = _command(*argv, stdout=write_end)
    finally:
        os.close(write_end)
    assert (gone.returncode, gone.stderr) == (141, b"")


#: The command in a process of its own, as a console runs it: its SIGINT handler is installed
#: only in a main thread whose Ctrl-C is Python's default. A process started in the background
#: of a shell without job control (a CI script's ``... &``) inherits SIGINT ignored, and Python
#: then leaves it so: the child first takes Python's default, as at a console.
_CONSOLE = "import signal\nsignal.signal(signal.SIGINT, signal.default_int_handler)\n"
_SWALLOWED = (
    _CONSOLE
    + """
import signal, sys
from geotarget import _position_files
from geotarget.cli import main

real = _position_files.read

def swallowing(*args, **kwargs):
    try:
        signal.raise_signal(signal.SIGINT)  # the handler runs, and raises ...
        sum(range(10_000))
    except KeyboardInterrupt:
        pass  # ... and the exception is dropped, as numpy's cast drops it
    return real(*args, **kwargs)

_position_files.read = swallowing
code = main(sys.argv[1:])
assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
sys.exit(code)
"""
)


@needs_examples
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_ctrl_c_a_library_swallows_still_stops_the_command(tmp_path: Path) -> None:
    """Ctrl-C during the positions reader's number conversion: exit 130, no answer.

    numpy's cast of text to float runs Python's SIGINT handler and then drops the
    ``KeyboardInterrupt`` (seen with numpy 2.4: a SIGINT sent during ``astype(np.float64)``
    of a text array is lost): ``geotarget target`` over a large file, interrupted at such a
    moment, printed its whole answer and exited 0. The reader here swallows the interrupt as
    that cast does.
    """
    devices = tmp_path / "devices.csv"
    devices.write_text(DEVICES, encoding="utf-8")
    argv = ["target", "--alert", str(ALERT), "--positions", str(devices), "--at", AT]
    done = subprocess.run(
        [sys.executable, "-c", _SWALLOWED, *argv], capture_output=True, timeout=180
    )
    assert (done.returncode, done.stdout, done.stderr) == (
        130,
        b"",
        b"geotarget target: interrupted\n",
    )


# --- maps drawn over an earlier one --------------------------------------------------------


def _cut_short(fig: Any, path: str) -> None:
    """Stand in for a picture's write that Ctrl-C stops after its first bytes."""
    Path(path).write_bytes(b"\x89PNG\r\n\x1a\n")
    raise KeyboardInterrupt


@needs_examples
@pytest.mark.parametrize("command", ["preview", "demo"])
def test_a_map_drawn_over_an_earlier_one_and_interrupted_keeps_the_earlier_one(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--plot pilot.png`` run again and stopped while drawing: the earlier map is whole.

    matplotlib opened the file for writing at once, so the earlier run's map was cut down to
    the bytes written before Ctrl-C (only a new file was removed again).
    """
    pytest.importorskip("matplotlib")
    from geotarget import _plot

    earlier = tmp_path / "map.png"
    earlier.write_bytes(b"the earlier run's map")
    earlier.chmod(0o640)
    monkeypatch.setattr(_plot, "_save", _cut_short)
    argv = (
        ["preview", str(ALERT), "--plot", str(earlier)]
        if command == "preview"
        else ["demo", "--devices", "2000", "--plot", str(earlier)]
    )
    assert main(argv, out=io.StringIO()) == 130
    assert earlier.read_bytes() == b"the earlier run's map"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.png"]
    monkeypatch.undo()
    out = io.StringIO()
    assert main(argv, out=out) == 0  # drawn completely, it replaces the earlier map
    assert earlier.read_bytes().startswith(b"\x89PNG")
    assert earlier.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.png"]
    assert f"map written to {earlier}" in out.getvalue()


# --- standard input at a prompt ------------------------------------------------------------


@needs_examples
@pytest.mark.skipif(sys.platform == "win32", reason="a POSIX terminal (pty)")
def test_reading_an_alert_from_a_terminal_says_how_to_end_it(tmp_path: Path) -> None:
    """``geotarget preview -`` typed at a prompt says what it waits for, then reads the paste.

    It waited in silence: a newcomer could not tell a command reading the terminal from one
    that hung.
    """
    import pty
    import select

    parent, child = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "geotarget", "preview", "-"],
            stdin=child,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        os.close(child)
        assert process.stderr is not None
        ready, _, _ = select.select([process.stderr], [], [], 60)
        if not ready:  # it waits in silence
            process.kill()
            process.communicate()
            pytest.fail("geotarget preview - waited for the terminal without a word")
        said = process.stderr.readline().decode()  # before any input: the hint
        for line in ALERT.read_bytes().splitlines():  # as pasted: line by line
            os.write(parent, line + b"\n")
        os.write(parent, b"\x04")  # Ctrl-D on a new line: the end of the input
        out, err = process.communicate(timeout=120)
    finally:
        os.close(parent)
    assert said == (
        "geotarget preview: alert - reads the alert from standard input, here the terminal: "
        "paste it, then press Ctrl-D on a new line (or give a file name; Ctrl-C stops)\n"
    )
    assert process.returncode == 0, err
    assert out.decode().startswith("SOS-2024-0520-0042 from larm@sosalarm.se")


_SLOW_STEP = (
    _CONSOLE
    + """
import io, signal, sys
from geotarget import _demo
from geotarget.cli import main

class Terminal(io.StringIO):
    def isatty(self):
        return True  # the demo shows its progress lines

def interrupted(*args, **kwargs):
    signal.raise_signal(signal.SIGINT)  # through the handler main() installs
    sum(range(10_000))
    sys.exit("SIGINT did not interrupt")

_demo.demo_positions = interrupted
terminal = Terminal()
sys.stdout = terminal
code = main(["demo", "--devices", "10"])  # out=None: the command itself
sys.__stdout__.write(terminal.getvalue())
sys.exit(code)
"""
)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_real_ctrl_c_in_a_slow_step_still_ends_the_demo_s_line() -> None:
    """The command's own SIGINT handler: the newline that ends "device positions …" is written.

    The signal, noted so that a Ctrl-C a library swallows still stops the command, must not
    stop the clean-up that runs while its own ``KeyboardInterrupt`` unwinds.
    """
    done = subprocess.run([sys.executable, "-c", _SLOW_STEP], capture_output=True, timeout=180)
    assert done.returncode == 130, done.stderr
    assert done.stdout.decode().endswith("  device positions …\n")
    assert done.stderr == b"geotarget demo: interrupted\n"


@pytest.mark.parametrize(
    ("argv", "hint"),
    [
        (
            ["--at", "2024-05-20", "16:05+02:00"],
            "(the date and time of --at split at a space? write --at 2024-05-20T16:05+02:00, "
            "or quote the value)",
        ),
        (
            ["--observed-at", "2024-05-20", "14:05:00.5Z"],
            "(the date and time of --observed-at split at a space? write --observed-at "
            "2024-05-20T14:05:00.5Z, or quote the value)",
        ),
    ],
)
def test_a_time_pasted_from_a_log_without_quotes_gets_a_hint(
    argv: list[str], hint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--at 2024-05-20 16:05+02:00``: the time after the space was "unrecognized", alone."""
    with pytest.raises(SystemExit) as stop:
        main(["target", "--alert", "a.xml", "--positions", "d.csv", *argv], out=io.StringIO())
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err == (
        f"geotarget target: unrecognized arguments: {argv[2]} {hint} "
        "(see 'geotarget target --help')\n"
    )
