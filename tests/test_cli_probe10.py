"""The real ``geotarget`` command as operators and scripts run it (probe 10).

File names from a locale or a file system that is not UTF-8, paths written the Windows way,
input on pipes. Each case runs the command in a subprocess (``python -m geotarget``), but for
the paths written the Windows way, the deleted current folder and the map and ledger named
alike, where one case of each test does and the others run the same ``main`` in this process
(:func:`_in_process`); the oracle is the exit code, standard error read as bytes and decoded
with plain Python, and the file system itself, not the command's own helpers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
ALERT = ROOT / "docs" / "examples" / "sos_explosion.xml"
AT = "2024-05-20T16:05+02:00"
#: One device at Sergels torg, inside the Explosion's 500 m circle; CRLF line ends.
DEVICES = "id;lon;lat;accuracy_m;observed_at\r\nnear;18,06528;59,3325;8;2024-05-20T16:00+02:00\r\n"

needs_examples = pytest.mark.skipif(
    not ALERT.is_file(), reason="docs/examples is not beside the tests (installed-wheel run)"
)
needs_linux = pytest.mark.skipif(
    sys.platform != "linux", reason="file names of any bytes and a non-UTF-8 locale: Linux"
)


def _command(
    *argv: str | bytes, env: dict[str, str] | None = None, cwd: Path | None = None, **kw: Any
) -> subprocess.CompletedProcess[bytes]:
    """The command as a shell runs it (``python -m geotarget``); output as bytes."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LC_")}
    environment.update(env or {})
    streams = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **kw}
    return subprocess.run(
        [sys.executable, "-m", "geotarget", *argv], env=environment, cwd=cwd, timeout=180, **streams
    )


def _in_process(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    """:func:`_command` in this process: the same ``main``, its output and stderr captured.

    Their text is encoded as UTF-8 strictly (a lone surrogate raises, as the decoding of a
    process's bytes would); a usage error's exit code is kept. ``cwd`` None: the current one.
    """
    import contextlib
    import io

    from geotarget.cli import main

    out, err = io.StringIO(), io.StringIO()
    here = os.getcwd() if cwd is not None else None
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stderr(err):
            try:
                code = main(list(argv), out=out)
            except SystemExit as stop:  # argparse's usage errors
                code = stop.code if isinstance(stop.code, int) else 2
    finally:
        if here is not None:
            os.chdir(here)
    stdout, stderr = out.getvalue().encode("utf-8"), err.getvalue().encode("utf-8")
    return subprocess.CompletedProcess(["geotarget", *argv], code, stdout, stderr)


def _one_line(done: subprocess.CompletedProcess[bytes]) -> str:
    """The command's one error line (exit 2), decoded strictly as UTF-8 (ASCII is UTF-8)."""
    err = done.stderr.decode("utf-8")  # raises on bytes that are no UTF-8
    assert done.returncode == 2, (done.returncode, err)
    assert "Traceback" not in err and err.count("\n") == 1, err
    return err


# --- file names in bytes that are no UTF-8, in every message ---------------------------------


@needs_examples
@needs_linux
@pytest.mark.parametrize(
    "argv",
    [
        # load_policy's message quotes the name with repr: the text \udce4 came through
        ["target", "--alert", "{alert}", "--positions", "{devices}", "--at", AT,
         "--policy", b"J\xe4mt.toml"],
        ["preview", "{alert}", "--policy", b"J\xe4mt.toml"],
        # the positions reader's message holds the name itself: a lone surrogate, escaped so
        ["target", "--alert", "{alert}", "--positions", b"J\xe4mt.csv", "--at", AT],
        # the plot's check and the demo's store quote it with repr
        ["preview", "{alert}", "--plot", b"J\xe4mt.txt"],
        ["preview", "{alert}", "--plot", b"J\xe4mt/map.png"],
        ["demo", "--devices", "10", "--ledger", b"J\xe4mt/l.db"],
    ],
)  # fmt: skip
def test_a_name_in_latin_1_bytes_is_shown_as_the_command_shows_names(
    tmp_path: Path, argv: list[str | bytes]
) -> None:
    r"""``--policy $'J\xe4mt.toml'`` (a Latin-1 name) fails with ``J\xe4mt``, not ``\udce4``.

    The command shows a byte that is no UTF-8 as ``\xe4`` in the lines it words itself ("alert
    file not found: J\xe4mt.xml"); the messages of the library it calls quoted the name with
    ``repr`` (the text ``\udce4``: Python's internal escape of the byte) or held the lone
    surrogate, which standard error wrote as ``\udce4`` too.
    """
    (tmp_path / "d.csv").write_text(DEVICES, encoding="utf-8")
    (tmp_path / os.fsdecode(b"J\xe4mt.toml")).write_text("not = [toml", encoding="utf-8")
    (tmp_path / os.fsdecode(b"J\xe4mt.csv")).write_text("id,lon\n1,2\n", encoding="utf-8")
    values = {"alert": str(ALERT), "devices": "d.csv"}
    args = [a.format(**values) if isinstance(a, str) else a for a in argv]
    err = _one_line(_command(*args, cwd=tmp_path, env={"LANG": "C.UTF-8"}))
    assert r"J\xe4mt" in err, err
    assert r"\udc" not in err.lower(), err


@needs_examples
@needs_linux
@pytest.mark.parametrize(
    ("argv", "shown"),
    [
        (["target", "--alert", "{alert}", "--positions", "{devices}", "--at", AT,
          "--policy", "Jämtland län.toml"], "policy file 'J\\xe4mtland l\\xe4n.toml'"),
        (["preview", "{alert}", "--plot", "Göteborg/karta.png"],
         "'G\\xf6teborg/karta.png'"),
        (["target", "--alert", "{alert}", "--positions", "Malmö.csv", "--at", AT],
         "--positions file not found: Malm\\xf6.csv"),
    ],
)  # fmt: skip
def test_a_utf_8_name_under_a_locale_that_is_not_is_shown_whole(
    tmp_path: Path, argv: list[str], shown: str
) -> None:
    r"""``LC_ALL=C`` with Python's UTF-8 mode off: ``Jämtland`` is shown as ``J\xe4mtland``.

    Under such a locale every byte of ``ä`` in an argument reaches Python as a lone surrogate;
    messages showed ``J\udcc3\udca4mtland`` (two escapes of Python's own for one letter). The
    ASCII standard error now escapes the letter itself, as it does every other non-ASCII one.
    """
    (tmp_path / "d.csv").write_text(DEVICES, encoding="utf-8")
    values = {"alert": str(ALERT), "devices": "d.csv"}
    env = {"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}
    done = _command(*(a.format(**values) for a in argv), cwd=tmp_path, env=env)
    err = _one_line(done)
    assert shown in err, err
    assert r"\udc" not in err.lower(), err


# --- paths written the Windows way -----------------------------------------------------------


needs_posix = pytest.mark.skipif(os.altsep is not None, reason="a backslash separates folders")


@needs_examples
@needs_posix
@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["preview", "{alert}", "--plot", "C:\\maps\\alert.png"], "--plot"),
        (["preview", "{alert}", "--plot", "maps\\alert.png"], "--plot"),
        (["demo", "--devices", "10", "--plot", "maps\\pilot.png"], "--plot"),
        (["demo", "--devices", "10", "--ledger", "maps\\deliveries.db"], "--ledger"),
    ],
)
def test_an_output_named_as_a_windows_path_writes_no_file_of_that_name(
    tmp_path: Path, argv: list[str], option: str
) -> None:
    r"""``--plot maps\alert.png`` (a script written on Windows) is refused, naming the fix.

    A backslash separates no folders here: the map (or the demo's ledger) went into a new file
    named ``maps\alert.png`` in the current folder, not into ``maps/``, and the command said
    "map written to maps\alert.png" and exited 0.
    """
    (tmp_path / "maps").mkdir()
    run = _command if argv[-1] == "C:\\maps\\alert.png" else _in_process  # one real process
    done = run(*(a.format(alert=ALERT) for a in argv), cwd=tmp_path)
    err = _one_line(done)
    assert err.startswith(f"geotarget {argv[0]}: {option} "), err
    assert "/alert.png" in err or "/pilot.png" in err or "/deliveries.db" in err, err
    assert sorted(os.listdir(tmp_path)) == ["maps"], os.listdir(tmp_path)
    assert not os.listdir(tmp_path / "maps")


@needs_examples
@needs_posix
@pytest.mark.parametrize(
    "argv",
    [
        ["target", "--alert", "{alert}", "--positions", "data\\d.csv", "--at", AT],
        ["target", "--alert", "data\\a.xml", "--positions", "data/d.csv", "--at", AT],
        ["preview", "data\\a.xml"],
        ["preview", "{alert}", "--policy", "data\\p.toml"],
    ],
)
def test_an_input_named_as_a_windows_path_says_why_it_is_not_found(
    tmp_path: Path, argv: list[str]
) -> None:
    r"""``--positions data\d.csv`` beside ``data/d.csv``: "not found", and that ``\`` is no ``/``."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "d.csv").write_text(DEVICES, encoding="utf-8")
    (data / "a.xml").write_bytes(ALERT.read_bytes())
    (data / "p.toml").write_bytes((ROOT / "docs" / "examples" / "pilot_policy.toml").read_bytes())
    run = _command if "data\\d.csv" in argv else _in_process  # one real process
    err = _one_line(run(*(a.format(alert=ALERT) for a in argv), cwd=tmp_path))
    name = next(a for a in argv if "\\" in a)
    assert f"file not found: {name} " in err, err
    assert "e.g. " + name.replace("\\", "/") in err, err


@needs_examples
@needs_posix
def test_a_file_whose_name_holds_a_backslash_is_still_read(tmp_path: Path) -> None:
    r"""A name with a backslash that exists is that file: ``odd\name.csv`` is read as it is."""
    (tmp_path / "odd\\name.csv").write_text(DEVICES, encoding="utf-8")
    argv = ["target", "--alert", str(ALERT), "--positions", "odd\\name.csv", "--at", AT]
    done = _command(*argv, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["recipients"] == ["near"]


# --- a current folder that no longer exists ----------------------------------------------------


@needs_examples
@needs_posix
@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["preview", "alert.xml"], "alert alert.xml"),
        (["preview", "{alert}", "--plot", "map.png"], "--plot map.png"),
        (["demo", "--devices", "10", "--ledger", "deliveries.db"], "--ledger deliveries.db"),
        (["target", "--alert", "{alert}", "--positions", "d.csv", "--at", AT], "--positions d.csv"),
        (["target", "--alert", "{alert}", "--positions", "{devices}", "--policy", "p.toml"],
         "--policy p.toml"),
    ],
)  # fmt: skip
def test_a_relative_name_in_a_folder_deleted_under_the_shell_says_so(
    tmp_path: Path, argv: list[str], named: str
) -> None:
    """A shell left in a release folder a deployment replaced: the folder is named as gone.

    The input was "not found" (it is there, in the new folder of the same name), ``--plot``
    "cannot write 'map.png': No such file or directory", and ``demo --ledger`` said only "No
    such file or directory", naming no option and no file.
    """
    devices = tmp_path / "d.csv"
    devices.write_text(DEVICES, encoding="utf-8")
    gone = tmp_path / "release-1"
    gone.mkdir()
    args = [a.format(alert=ALERT, devices=devices) for a in argv]
    if named == "alert alert.xml":  # one real process, started in the folder, then deleted
        script = 'cd "$1" && rmdir "$1" && shift && exec "$@"'
        done = subprocess.run(
            ["sh", "-c", script, "sh", str(gone), sys.executable, "-m", "geotarget", *args],
            capture_output=True,
            timeout=180,
        )
    else:  # this process, in the folder as it is deleted
        here = os.getcwd()
        try:
            os.chdir(gone)
            gone.rmdir()
            done = _in_process(*args)
        finally:
            os.chdir(here)
    err = _one_line(done)
    assert err.startswith(f"geotarget {argv[0]}: {named}: the current folder no longer exists"), err
    assert sorted(os.listdir(tmp_path)) == ["d.csv"]


# --- two outputs, one file -----------------------------------------------------------------------


@pytest.mark.parametrize(("plot", "ledger"), [("m.png", "./m.png"), ("m.png", "sub/../m.png")])
def test_a_map_and_a_ledger_named_alike_are_refused_before_the_demo(
    tmp_path: Path, plot: str, ledger: str
) -> None:
    """``demo --plot m.png --ledger ./m.png``: the map replaced the ledger's database.

    The demo played every scene into the SQLite ledger, then wrote the picture over it, and
    exited 0: the durable ledger asked for was gone, its -wal and -shm files beside a PNG.
    """
    pytest.importorskip("matplotlib")
    (tmp_path / "sub").mkdir()
    run = _command if ledger == "./m.png" else _in_process  # one real process
    done = run("demo", "--devices", "100", "--plot", plot, "--ledger", ledger, cwd=tmp_path)
    err = _one_line(done)
    assert "name the same file" in err, err
    assert sorted(os.listdir(tmp_path)) == ["sub"], os.listdir(tmp_path)


# --- an installation the command cannot load ---------------------------------------------------


@pytest.mark.parametrize(
    ("module", "error"),
    [
        ("numpy", "ImportError('numpy.core.multiarray failed to import')"),
        ("shapely", "ImportError('libgeos_c.so.1: cannot open shared object file')"),
        ("numpy", "OSError('libopenblas.so.0: cannot open shared object file:\\n  No such file')"),
    ],
)
@pytest.mark.parametrize("run", [["-m", "geotarget"], ["-c", "GUARDED"]], ids=["-m", "script"])
def test_a_library_that_fails_to_load_is_not_locate_s_no_region(
    tmp_path: Path, module: str, error: str, run: list[str]
) -> None:
    """A broken installation: one line and exit 3, not a traceback and Python's exit 1.

    ``geotarget locate`` documents exit 1 as "the point lies in no region": a script asking
    whether a point lies in Sweden was told "no" when numpy or shapely (a shared
    library missing, an extension built for another Python) could not be loaded.
    """
    broken = tmp_path / module
    broken.mkdir()
    (broken / "__init__.py").write_text(f"raise {error}\n", encoding="utf-8")
    guarded = "import sys; from geotarget._command import main; sys.exit(main())"
    argv = [a.replace("GUARDED", guarded) for a in run]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    done = subprocess.run(
        [sys.executable, *argv, "locate", "18.07", "59.33"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 3, (done.returncode, done.stderr)
    assert done.stdout == ""
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("geotarget: cannot load the command ("), done.stderr
    assert error.split("'")[1].split("\\n")[0] in done.stderr, done.stderr


# --- an output encoding with a byte-order mark -------------------------------------------------

#: The UTF-8 run of each argv, made once for its three encodings (the same answer each time).
_PLAIN: dict[tuple[str, ...], subprocess.CompletedProcess[bytes]] = {}


@needs_examples
@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig", "utf-32"])
@pytest.mark.parametrize(
    "argv", [["preview", str(ALERT)], ["locate", "13.0038", "55.6050"]], ids=["preview", "locate"]
)
def test_an_output_encoding_with_a_byte_order_mark_has_it_once(
    encoding: str, argv: list[str]
) -> None:
    """``PYTHONIOENCODING=utf-16``: the output decodes to the UTF-8 run's text.

    Each write was encoded on its own, so each began with a byte-order mark: every line of a
    preview or of ``locate`` held U+FEFF (the JSON answer, one write, had one mark).
    """
    key = tuple(argv)
    if key not in _PLAIN:
        _PLAIN[key] = _command(*argv, env={"PYTHONIOENCODING": "utf-8"})
    plain = _PLAIN[key]
    marked = _command(*argv, env={"PYTHONIOENCODING": encoding})
    assert (plain.returncode, marked.returncode) == (0, 0), marked.stderr
    text = marked.stdout.decode(encoding)  # the codec reads one mark at the start, if any
    assert "\ufeff" not in text, repr(text[:200])
    assert text == plain.stdout.decode("utf-8")


# --- a standard input its parent made non-blocking ---------------------------------------------


def _until_it_waits_for_input(process: subprocess.Popen[bytes], write: int, sleep: float) -> None:
    """Return once ``process`` has ended, or sleeps waiting for input with the pipe empty.

    What the fixed sleeps this replaces stood for ("the command is reading by now, and finds
    nothing yet"), polled: the bytes still in the pipe (``FIONREAD`` on its write end), and
    where Linux says the process sleeps (``/proc/PID/wchan``: a select() or poll(), or a read
    of a pipe). Where ``/proc`` cannot tell, the fixed ``sleep`` it replaces.
    """
    import fcntl
    import struct
    import termios
    import time

    wchan = Path(f"/proc/{process.pid}/wchan")
    if not wchan.exists():
        time.sleep(sleep)
        return
    deadline = time.monotonic() + 120.0  # (a slow start on a busy machine)
    while process.poll() is None and time.monotonic() < deadline:
        unread = struct.unpack("i", fcntl.ioctl(write, termios.FIONREAD, b"\0" * 4))[0]
        try:
            where = wchan.read_text()
        except OSError:
            where = ""
        if unread == 0 and any(w in where for w in ("select", "poll", "pipe")):
            return
        time.sleep(0.01)


@needs_examples
@pytest.mark.skipif(sys.platform == "win32", reason="O_NONBLOCK pipes: POSIX")
@pytest.mark.parametrize(
    ("argv", "feed"),
    [
        (["preview", "-"], "alert"),
        (["target", "--alert", "{alert}", "--positions", "-", "--at", AT], "devices"),
        (["target", "--alert", "-", "--positions", "{devices}", "--at", AT], "alert"),
    ],
)
def test_a_non_blocking_standard_input_is_read_to_its_end(
    tmp_path: Path, argv: list[str], feed: str
) -> None:
    """``... | geotarget preview -`` under a runner whose pipe is ``O_NONBLOCK``, written late.

    One read returned what had come so far, or None: ``--positions -`` targeted (or refused)
    the rows that had arrived, ``--alert -`` was an internal error (exit 3). Now the command
    waits for the input's end, and answers as for the same input in a file.
    """
    import fcntl

    devices = tmp_path / "d.csv"
    devices.write_text(DEVICES, encoding="utf-8")
    data = ALERT.read_bytes() if feed == "alert" else devices.read_bytes()
    args = [a.format(alert=ALERT, devices=devices) for a in argv]
    read, write = os.pipe()
    fcntl.fcntl(read, fcntl.F_SETFL, fcntl.fcntl(read, fcntl.F_GETFL) | os.O_NONBLOCK)
    with subprocess.Popen(
        [sys.executable, "-m", "geotarget", *args],
        stdin=read,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        os.close(read)
        try:
            _until_it_waits_for_input(process, write, 1.0)  # reading, and finding nothing yet
            os.write(write, data[:40])
            _until_it_waits_for_input(process, write, 0.3)  # it has read them, waits again
            os.write(write, data[40:])
        except BrokenPipeError:
            pass  # the command had ended: its answer says how
        finally:
            os.close(write)
        out, err = process.communicate(timeout=180)
    assert process.returncode == 0, err.decode()
    if argv[0] == "target":
        assert json.loads(out)["recipients"] == ["near"]
    else:
        assert out == _command("preview", str(ALERT)).stdout


# --- help asked for as git and pip take it -------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "hint"),
    [
        (["help"], "geotarget COMMAND --help"),
        (["help", "target"], "geotarget target --help"),
        (["help", "preview"], "geotarget preview --help"),
    ],
)
def test_help_as_a_command_names_the_option_that_gives_it(
    argv: list[str], hint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``geotarget help target`` (git's, pip's way) is a usage error that names ``--help``.

    It was "invalid choice: 'help'" alone, with no command near it.
    """
    from geotarget.cli import main

    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"help is an option: {hint}" in err, err


def test_a_stream_reconfigured_is_written_in_its_new_encoding(tmp_path: Path) -> None:
    """The encoder kept for a stream follows its ``reconfigure()`` (the command's own)."""
    from geotarget import cli

    path = tmp_path / "out.txt"
    with open(path, "w", encoding="utf-16") as stream:
        cli._write_all(stream, "a\n")
        cli._write_all(stream, "b\n")
        stream.reconfigure(encoding="ascii", errors="backslashreplace")
        cli._write_all(stream, "ö\n")
    assert path.read_bytes() == "a\nb\n".encode("utf-16") + b"\\xf6\n"
