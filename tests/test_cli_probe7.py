"""The real ``geotarget`` command under an operator's faults (probe 7).

An output that takes only part of a write (a reader gone under ``PYTHONUNBUFFERED``, a pipe
its parent made non-blocking), files the command may not get at. Each case runs the command in
a subprocess; the oracle is the exit code, stderr as text (one line, no traceback, naming the
option and the file) and the answer parsed with ``json``, not the command's helpers.
"""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ALERT = ROOT / "docs" / "examples" / "sos_explosion.xml"
POLICY = ROOT / "docs" / "examples" / "pilot_policy.toml"
AT = "2024-05-20T16:05+02:00"

needs_examples = pytest.mark.skipif(
    not ALERT.is_file(), reason="docs/examples is not beside the tests (installed-wheel run)"
)
needs_linux = pytest.mark.skipif(sys.platform != "linux", reason="Linux pipes and /proc")


def _devices(tmp_path: Path, count: int = 40_000) -> Path:
    """``count`` devices at Sergels torg, inside the Explosion's circle: a long JSON answer."""
    path = tmp_path / "devices.csv"
    rows = "".join(
        f"device-{i:07d},18.06528,59.3325,8,2024-05-20T16:00:00+02:00\n" for i in range(count)
    )
    path.write_text("id,lon,lat,accuracy_m,observed_at\n" + rows, encoding="utf-8")
    return path


def _environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    return {**env, **extra}


def _target(devices: Path) -> list[str]:
    return [
        *(sys.executable, "-m", "geotarget", "target"),
        *("--alert", str(ALERT), "--positions", str(devices), "--at", AT),
    ]


# --- an output that takes part of a write ------------------------------------------------------


@needs_examples
@needs_linux
@pytest.mark.parametrize("unbuffered", ["1", None], ids=["PYTHONUNBUFFERED", "buffered"])
def test_a_reader_that_goes_away_mid_answer_is_not_success(
    tmp_path: Path, unbuffered: str | None
) -> None:
    """The JSON answer's reader reads a little, then closes: exit 141, not 0, no traceback.

    Under ``PYTHONUNBUFFERED=1`` (many container images set it) Python's standard output
    ignored how much of the answer the pipe took when its reader went away: the rest was
    dropped and the command exited 0, as if the whole answer had been read.
    """
    devices = _devices(tmp_path)
    env = _environment(**({"PYTHONUNBUFFERED": unbuffered} if unbuffered else {}))
    proc = subprocess.Popen(
        _target(devices), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.read(64)  # the answer has begun: the command is writing it
    proc.stdout.close()  # ... and its reader goes away, about a megabyte before its end
    with proc.stderr:
        err = proc.stderr.read().decode()
    code = proc.wait(timeout=180)
    assert first.startswith(b"{"), first
    assert code == 141, (code, err)
    assert "Traceback" not in err and "Exception ignored" not in err, err


def _until_it_waits_for_room(proc: subprocess.Popen[bytes], read_end: int) -> None:
    """Return once ``proc`` has ended, or waits for room in its full standard output pipe.

    What the fixed 3 s sleep this replaces stood for ("the pipe fills up long before it
    reads"), polled: the bytes in the pipe (``FIONREAD``) against its size, and where Linux
    says the process sleeps (``/proc/PID/wchan``: a select() or poll(), or a pipe's write).
    """
    import fcntl
    import select
    import struct
    import termios

    size = fcntl.fcntl(read_end, getattr(fcntl, "F_GETPIPE_SZ", 1032))
    wchan = Path(f"/proc/{proc.pid}/wchan")
    deadline = time.monotonic() + 120.0  # (a slow start on a busy machine)
    while proc.poll() is None and time.monotonic() < deadline:
        unread = struct.unpack("i", fcntl.ioctl(read_end, termios.FIONREAD, b"\0" * 4))[0]
        try:
            where = wchan.read_text()
        except OSError:
            where = ""
        full = unread > size - select.PIPE_BUF
        if full and any(w in where for w in ("select", "poll", "pipe")):
            return
        time.sleep(0.01)


@needs_examples
@needs_linux
@pytest.mark.parametrize("unbuffered", ["1", None], ids=["PYTHONUNBUFFERED", "buffered"])
def test_a_pipe_its_parent_made_non_blocking_gets_the_whole_answer(
    tmp_path: Path, unbuffered: str | None
) -> None:
    """Standard output an ``O_NONBLOCK`` pipe whose reader starts late: the whole answer, 0.

    A parent that made its pipe non-blocking (Node.js, a CI runner) shares that flag with the
    command. The answer failed as soon as the pipe was full ("write could not complete
    without blocking"), then Python's exit printed "Exception ignored ... BlockingIOError" and
    the status was 120: the command must wait for its reader as on any pipe.
    """
    count = 40_000
    devices = _devices(tmp_path, count)
    env = _environment(**({"PYTHONUNBUFFERED": unbuffered} if unbuffered else {}))
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    try:
        proc = subprocess.Popen(_target(devices), stdout=write_end, stderr=subprocess.PIPE, env=env)
    finally:
        os.close(write_end)
    chunks = []
    with os.fdopen(read_end, "rb", buffering=0) as pipe:
        _until_it_waits_for_room(proc, read_end)  # the reader is late: the pipe is full
        while chunk := pipe.read(65536):
            chunks.append(chunk)
    assert proc.stderr is not None
    with proc.stderr:
        err = proc.stderr.read().decode()
    assert proc.wait(timeout=180) == 0, err
    answer = json.loads(b"".join(chunks))
    assert sorted(answer["recipients"]) == [f"device-{i:07d}" for i in range(count)]
    assert "Traceback" not in err and "Exception ignored" not in err, err


# --- files the command may not get at ----------------------------------------------------------


def _as_a_user(tmp_path: Path) -> list[str]:
    """The command's prefix that runs it without the power to read every file (root's).

    As root (CI), ``setpriv`` drops the capabilities that read any file; elsewhere the user
    has none to drop.
    """
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: every file can be read")
    return [setpriv, "--bounding-set", "-dac_override,-dac_read_search"]


def _one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr and "[Errno" not in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    return done.stderr


@needs_examples
@needs_linux
@pytest.mark.parametrize(
    ("option", "argv"),
    [
        ("--positions", ["target", "--alert", "{alert}", "--positions", "{shut}/d.csv"]),
        ("--positions", ["target", "--alert", "{alert}", "--positions", "{shut}/d.parquet"]),
        ("--alert", ["target", "--alert", "{shut}/a.xml", "--positions", "{devices}"]),
        ("alert", ["preview", "{shut}/a.xml"]),
        ("--policy", ["target", "--alert", "{alert}", "--positions", "{devices}", "--policy",
                      "{shut}/p.toml"]),
        ("--policy", ["preview", "{alert}", "--policy", "{shut}/p.toml"]),
        ("--ledger", ["demo", "--devices", "100", "--ledger", "{shut}/l.db"]),
    ],
)  # fmt: skip
def test_a_file_in_a_folder_that_may_not_be_looked_into_is_named_with_its_option(
    tmp_path: Path, option: str, argv: list[str]
) -> None:
    """A file in a folder without permissions (mode 000): one line naming option and file.

    Before, the system's own error came through: "[Errno 13] Permission denied:
    'shut/d.csv'", naming no option (and for ``--ledger``, ``--policy``, a preview's alert,
    not even what the file was for).
    """
    prefix = _as_a_user(tmp_path)
    devices = _devices(tmp_path, 2)
    shut = tmp_path / "shut"
    shut.mkdir()
    for name, source in (("d.csv", devices), ("a.xml", ALERT), ("p.toml", POLICY)):
        shutil.copyfile(source, shut / name)
    shut.chmod(0)
    try:
        values = {"alert": str(ALERT), "devices": str(devices), "shut": str(shut)}
        done = subprocess.run(
            [*prefix, sys.executable, "-m", "geotarget", *(a.format(**values) for a in argv)],
            capture_output=True,
            text=True,
            timeout=180,
            env=_environment(),
        )
    finally:
        shut.chmod(0o700)
    said = _one_line(done)
    path = next(a.format(shut=shut) for a in argv if a.startswith("{shut}"))
    if option == "--policy":  # load_policy's own InvalidPolicy, as for a missing file
        assert f"policy file '{path}' has 1 problem: cannot read it: " in said, said
    else:
        assert f"{option} {path}" in said, said
    assert os.strerror(errno.EACCES) in said, said


@needs_examples
@needs_linux
def test_a_positions_file_that_fails_as_it_is_read_is_named(tmp_path: Path) -> None:
    """A positions file whose read fails (EIO: a failing disk, here ``/proc/self/mem``).

    Before: "geotarget target: [Errno 5] Input/output error", naming neither file nor option.
    """
    link = tmp_path / "devices.csv"
    link.symlink_to("/proc/self/mem")
    done = subprocess.run(
        [*_target(link)], capture_output=True, text=True, timeout=180, env=_environment()
    )
    said = _one_line(done)
    assert f"--positions {link} cannot be read: {os.strerror(errno.EIO)}" in said, said


# --- the reference service: SIGHUP to a single process ----------------------------------------

#: The service as the docs run it, one uvicorn process, SIGHUP at its default (as a shell or
#: a service manager starts it, whatever this test run ignores).
_UVICORN = (
    "import runpy, signal, sys\n"
    "signal.signal(signal.SIGHUP, signal.SIG_DFL)\n"
    "sys.argv = ['uvicorn', *sys.argv[1:]]\n"
    "runpy.run_module('uvicorn', run_name='__main__')\n"
)


def _explosion() -> bytes:
    import datetime as dt

    from geotarget import Circle, alerts, cap

    at = dt.datetime(2026, 5, 4, 21, 30, tzinfo=dt.timezone.utc)
    msg = alerts.Message(headline="Explosionsrisk", description="Gå.", area_description="Torget")
    alert = alerts.explosion(
        identifier="SE-POL-7",
        sender="polisen@polisen.se",
        sent=at,
        area=Circle(18.06528, 59.3325, 500.0),
        sv=msg,
        en=msg,
        onset=at,
        expires=at + dt.timedelta(hours=2),
    )
    return cap.dumps(alert).encode()


@pytest.mark.slow
@needs_linux
@pytest.mark.parametrize(
    ("edit", "said"),
    [
        ("\nthis line = is [ not TOML\n", "would not start a process: policy file"),
        ("\n# an edit that changes nothing\n", "is valid: restart the process to apply it"),
    ],
    ids=["mistaken edit", "valid edit"],
)
def test_a_hangup_keeps_a_single_service_process_serving_with_its_policy(
    tmp_path: Path, edit: str, said: str
) -> None:
    """``kill -HUP`` (``systemctl reload``) to the service run as one uvicorn process.

    uvicorn reloads only under ``--workers N``; one process died of SIGHUP at once, without a
    line in its log: a reload after an edit of the policy file stopped the service, and a
    mistaken edit kept it from starting again. Now it keeps serving with the policy it read at
    start, and its log says whether the file as it is now would start a process.
    """
    httpx2 = pytest.importorskip("httpx2")
    pytest.importorskip("uvicorn")
    if not (ROOT / "examples" / "service" / "app.py").exists():
        pytest.skip("examples/service is not beside the tests (an installed-wheel run)")
    policy = tmp_path / "policy.toml"
    policy.write_bytes(POLICY.read_bytes())
    sock, log = tmp_path / "s.sock", tmp_path / "stderr.txt"
    env = {**_environment(), "GEOTARGET_STORE": str(tmp_path / "d.db")}
    env["GEOTARGET_POLICY"] = str(policy)
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-c", _UVICORN, "--factory", "examples.service.app:app"),
                *("--uds", str(sock), "--log-level", "info", "--no-access-log"),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    http = httpx2.Client(
        transport=httpx2.HTTPTransport(uds=str(sock)), base_url="http://s", timeout=120
    )
    try:
        # One process binds its socket after the application's start-up ("Application
        # startup complete" comes first): it serves once uvicorn says it runs on the socket.
        for _ in range(2400):
            assert proc.poll() is None, log.read_text()
            if "Uvicorn running on" in log.read_text():
                break
            time.sleep(0.05)
        else:
            raise AssertionError(f"the service did not start: {log.read_text()}")
        at = {"at": "2026-05-04T21:30:00+00:00"}
        body = {
            "ids": ["near", "far"],
            "lon": [18.06528, 18.2],
            "lat": [59.3325, 59.3325],
            "accuracy_m": [8.0, 8.0],
            "observed_at": ["2026-05-04T21:29:00+00:00"] * 2,
        }
        assert http.post("/positions", params=at, json=body).status_code == 200
        with policy.open("a", encoding="utf-8") as edited:
            edited.write(edit)
        os.kill(proc.pid, signal.SIGHUP)
        for _ in range(2400):  # the policy file is checked in a thread: its line comes
            if proc.poll() is not None or "SIGHUP:" in log.read_text():
                break
            time.sleep(0.05)
        text = log.read_text()
        assert proc.poll() is None, f"the service died of SIGHUP: {text}"
        assert said in text and "still serving with the policy read at start" in text, text
        assert "Traceback" not in text, text
        r = http.post("/alerts", params=at, content=_explosion())
        assert r.status_code == 200, r.text
        assert [d["device"] for d in r.json()["deliveries"]] == ["near"]
    finally:
        http.close()
        if proc.poll() is None:
            proc.terminate()
        proc.wait(timeout=120)


# --- more than the memory free holds -----------------------------------------------------------


@needs_linux
def test_more_than_the_memory_free_holds_is_said_as_such_not_as_a_bug() -> None:
    """``demo --devices 20000000`` in a process limited to 1.5 GB of address space.

    The limit (``ulimit -v``, a container's memory) is the machine's, not a bug: it ended as
    "internal error (MemoryError: ...); please report it", exit 3. Now one line saying that the
    memory free cannot hold it and what to give instead, exit 2 (as ``--help`` lists it).
    """
    import resource

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1_500_000_000, resource.RLIM_INFINITY))

    done = subprocess.run(
        [sys.executable, "-m", "geotarget", "demo", "--devices", "20000000"],
        capture_output=True,
        text=True,
        timeout=300,
        env=_environment(),
        preexec_fn=limited,
    )
    said = _one_line(done)
    assert said.startswith("geotarget demo: out of memory"), said
    assert "fewer --devices" in said and "report" not in said, said


# --- Ctrl-C pressed twice ---------------------------------------------------------------------


def test_a_second_ctrl_c_during_the_demos_clean_up_still_removes_its_ledger(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C stops the demo; a second Ctrl-C comes while its new ledger is being closed.

    People press Ctrl-C twice. The second one raised in the middle of the clean-up: the
    half-played ledger was left behind (in about half of the real runs with two SIGINTs), and
    the next run over that name was refused as "an earlier demo's ledger". The oracle: the file
    system, and the command's line and code.
    """
    import signal as signals

    from geotarget import _demo
    from geotarget.cli import main
    from geotarget.ledger import SQLiteLedger

    def stopped(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # the first Ctrl-C, once the ledger's file exists

    close = SQLiteLedger.close

    def close_then_ctrl_c(self: SQLiteLedger) -> None:
        close(self)
        signals.raise_signal(signals.SIGINT)  # the second Ctrl-C, during the clean-up

    monkeypatch.setattr(_demo, "play", stopped)
    monkeypatch.setattr(SQLiteLedger, "close", close_then_ctrl_c)
    ledger = tmp_path / "deliveries.db"
    try:
        code = main(["demo", "--devices", "100", "--ledger", str(ledger)], out=io.StringIO())
    except KeyboardInterrupt:  # (not the test session's: it would stop every test)
        pytest.fail("the second Ctrl-C escaped the command")
    assert code == 130
    assert capsys.readouterr().err == "geotarget demo: interrupted\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "the half-played ledger was left"


def test_a_ctrl_c_outside_the_commands_own_handlers_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Ctrl-C that reaches :func:`main` itself (a second one, as the handlers are restored).

    It escaped :func:`main`: a traceback, in a real run with two SIGINTs 2 ms apart.
    """
    from geotarget import cli

    def interrupted(*args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_main", interrupted)
    try:
        code = cli.main(["locate", "18.07", "59.33"])
    except KeyboardInterrupt:  # (not the test session's: it would stop every test)
        pytest.fail("the Ctrl-C escaped the command")
    assert code == 130
    assert capsys.readouterr().err == "geotarget: interrupted\n"


# --- the reference service: a policy file it cannot start with ----------------------------------


@pytest.mark.parametrize("policy", ["missing.toml", "broken.toml"])
def test_a_policy_file_the_service_cannot_start_with_leaves_no_store_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, policy: str
) -> None:
    """``GEOTARGET_POLICY`` missing or not TOML: the start is refused, and no store file made.

    The environment was checked before the store was opened, the policy file only after: a
    refused start left a new, empty ``deliveries.db`` behind (a store no instance had used).
    """
    from service_helpers import service_module

    (tmp_path / "broken.toml").write_text("this line = is [ not TOML\n", encoding="utf-8")
    monkeypatch.setenv("GEOTARGET_POLICY", str(tmp_path / policy))
    monkeypatch.setenv("GEOTARGET_STORE", str(tmp_path / "store" / "deliveries.db"))
    (tmp_path / "store").mkdir()
    service = service_module("app.py", "_geotarget_service_probe7")
    with pytest.raises(SystemExit) as stopped:
        service.app()
    message = str(stopped.value.code)
    assert message.startswith("examples.service: cannot start: policy file"), message
    assert list((tmp_path / "store").iterdir()) == []


@needs_linux
def test_a_policy_file_in_a_folder_the_service_may_not_look_into_is_one_message(
    tmp_path: Path,
) -> None:
    """``GEOTARGET_POLICY`` in a folder without permissions: a message, status 1, no traceback.

    The policy reader's ``PermissionError`` escaped the start: uvicorn printed a traceback,
    where a mistake in the configuration is one message (the docs' promise).
    """
    pytest.importorskip("uvicorn")
    if not (ROOT / "examples" / "service" / "app.py").exists():
        pytest.skip("examples/service is not beside the tests (an installed-wheel run)")
    prefix = _as_a_user(tmp_path)
    shut = tmp_path / "shut"
    shut.mkdir()
    shutil.copyfile(POLICY, shut / "policy.toml")
    shut.chmod(0)
    env = {**_environment(), "GEOTARGET_POLICY": str(shut / "policy.toml")}
    env["GEOTARGET_STORE"] = str(tmp_path / "deliveries.db")
    try:
        done = subprocess.run(
            [
                *(*prefix, sys.executable, "-m", "uvicorn", "--factory"),
                *("examples.service.app:app", "--uds", str(tmp_path / "s.sock")),
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
    finally:
        shut.chmod(0o700)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert (
        f"cannot start: policy file '{shut / 'policy.toml'}' has 1 problem:\n  - cannot read "
        f"it: {os.strerror(errno.EACCES)}" in done.stderr
    ), done.stderr
    assert not (tmp_path / "deliveries.db").exists()
