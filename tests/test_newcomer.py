"""What a newcomer meets on a first hour with the ``geotarget`` command: stops, slips and typos."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from geotarget import _demo, _position_files
from geotarget.cli import main

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"
DEVICES = (
    "id;lon;lat;accuracy_m;observed_at\n"
    "0701234567;18,06528;59,3325;8;2024-05-20T16:00:00+02:00\n"
    "0709876543;18,2;59,3325;8;1716213600\n"
)
AT = "2024-05-20T16:05+02:00"


def run(*argv: str) -> tuple[int, str]:
    """Run the command in process; return its exit code and what it printed on stdout."""
    out = io.StringIO()
    try:
        code = main(list(argv), out=out)
    except KeyboardInterrupt:  # (not let through: it would stop the test run itself)
        pytest.fail("Ctrl-C left main() as a KeyboardInterrupt: a traceback on the console")
    return code, out.getvalue()


def devices(tmp_path: Path) -> Path:
    """The quickstart's two devices, as a Swedish spreadsheet writes them."""
    path = tmp_path / "devices.csv"
    path.write_text(DEVICES, encoding="utf-8")
    return path


def _interrupt(*args: Any, **kwargs: Any) -> Any:
    """Stand in for a step that Ctrl-C stops."""
    raise KeyboardInterrupt


def test_ctrl_c_is_one_line_and_exit_130_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C while a positions file is read prints one line and exits 130, as shells report."""
    monkeypatch.setattr(_position_files, "read", _interrupt)
    alert = str(EXAMPLES / "sos_explosion.xml")
    code, out = run("target", "--alert", alert, "--positions", str(devices(tmp_path)), "--at", AT)
    assert (code, out) == (130, "")
    assert capsys.readouterr().err == "geotarget target: interrupted\n"


def test_an_interrupted_demo_leaves_no_ledger_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A demo stopped half-way deletes the ledger it created, so the next run can use the name."""
    ledger = tmp_path / "deliveries.db"
    monkeypatch.setattr(_demo, "_scene_update", _interrupt)
    code, _ = run("demo", "--devices", "2000", "--ledger", str(ledger))
    assert code == 130
    assert "interrupted" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    monkeypatch.undo()
    code, text = run("demo", "--devices", "2000", "--ledger", str(ledger))
    assert code == 0, capsys.readouterr().err
    assert "CANCELLED" in text
    assert ledger.stat().st_size > 0


def test_version_is_an_option(capsys: pytest.CaptureFixture[str]) -> None:
    """``geotarget --version`` prints the version and exits 0, not "a command is required"."""
    from geotarget import __version__

    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out == f"geotarget {__version__}\n"


#: A path in a folder nobody may write, root included (sysfs refuses new files).
UNWRITABLE = "/sys/geotarget-newcomer.png"


@pytest.mark.skipif(not Path("/sys").is_dir(), reason="needs Linux's /sys, where no file is made")
@pytest.mark.parametrize(
    "argv",
    [
        ["demo", "--devices", "1000", "--plot", UNWRITABLE],
        ["preview", str(EXAMPLES / "sos_explosion.xml"), "--plot", UNWRITABLE],
    ],
    ids=["demo", "preview"],
)
def test_a_plot_that_cannot_be_written_is_refused_before_any_output(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """``--plot`` into a folder without write permission fails first, not after the whole run."""
    pytest.importorskip("matplotlib", reason="--plot needs the plot extra")
    code, out = run(*argv)
    assert (code, out) == (2, "")
    err = capsys.readouterr().err
    assert f"--plot cannot write {UNWRITABLE!r}: " in err
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["demo", "--devices", "10", "--plot", ""], "--plot"),
        (["demo", "--devices", "10", "--ledger", ""], "--ledger"),
        (["preview", str(EXAMPLES / "sos_explosion.xml"), "--plot", ""], "--plot"),
    ],
)
def test_an_empty_output_name_is_refused_not_ignored(
    argv: list[str], option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--plot "$UNSET"`` or ``--ledger ""`` is an error, not a run without the map or ledger."""
    code, out = run(*argv)
    assert (code, out) == (2, "")
    assert f"{option} must name a file (got an empty name)" in capsys.readouterr().err


def test_a_policy_typo_is_reported_before_the_positions_are_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A misspelt ``--policy`` key fails at once, before a positions file of millions is read."""
    policy = tmp_path / "policy.toml"
    text = (EXAMPLES / "pilot_policy.toml").read_text(encoding="utf-8")
    policy.write_text(text.replace("\nsalt = ", "\nsalts = ", 1), encoding="utf-8")

    def read(*args: Any, **kwargs: Any) -> Any:
        pytest.fail("the positions file was read before the policy was checked")

    monkeypatch.setattr(_position_files, "read", read)
    alert = str(EXAMPLES / "sos_explosion.xml")
    positions = str(devices(tmp_path))
    code, out = run("target", "--alert", alert, "--positions", positions, "--policy", str(policy))
    assert (code, out) == (2, "")
    assert "salts: unknown key" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (  # a point copied from a map: latitude first, in one argument
            ["59.8586, 17.6389"],
            "argument lon: holds two numbers (got '59.8586, 17.6389'): give longitude and "
            "latitude as two arguments, longitude first: geotarget locate 17.6389 59.8586",
        ),
        (
            ["17,6389;59,8586"],
            "argument lon: holds two numbers (got '17,6389;59,8586'): give longitude and "
            "latitude as two arguments, longitude first: geotarget locate 17.6389 59.8586",
        ),
        (  # the same, split at its space
            ["17.6389,", "59.8586"],
            "argument lon: ends with a comma (got '17.6389,'): separate longitude and "
            "latitude with a space, not a comma",
        ),
        (["abc,", "59"], "(got 'abc,')"),  # as typed, not with the comma made a point
        (["17.6389;", "59"], "must be a number with a decimal point or comma, e.g. 18.0686"),
        (["17.6", "59.8", "--snap-m", "-5"], "--snap-m must be a finite number >= 0"),
        (["200", "59"], "lon must be a finite number >= -180 and <= 180 (got 200.0)"),
    ],
)
def test_locate_says_what_is_wrong_with_a_point_as_people_paste_it(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A pasted pair, a stray comma or a bad option is refused in the terms the help uses."""
    try:
        code, _ = run("locate", *argv)
    except SystemExit as stop:  # a usage error, as argparse ends it
        code = stop.code  # type: ignore[assignment]
    assert code == 2
    err = capsys.readouterr().err
    assert said in err
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("alert", "said"),
    [
        ("nope.xml", "geotarget target: --alert file not found: nope.xml"),
        (".", "geotarget target: --alert must be a file (got the directory .)"),
        ("", "geotarget target: --alert must name a file (got an empty name)"),
    ],
)
def test_target_names_its_alert_option_as_it_names_positions(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    alert: str,
    said: str,
) -> None:
    """A missing or wrong ``--alert`` is named ``--alert``, as ``--positions`` is named."""
    monkeypatch.chdir(tmp_path)
    code, out = run("target", "--alert", alert, "--positions", str(devices(tmp_path)))
    assert (code, out) == (2, "")
    assert capsys.readouterr().err.startswith(said)


class _FullDisk(io.StringIO):
    """An output whose writes fail as ``> /dev/full`` or a full disk makes them fail."""

    def write(self, text: str) -> int:
        raise OSError(28, "No space left on device")


def test_an_output_that_cannot_be_written_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    """A full disk under the report is one line saying what could not be written, exit 2."""
    code = main(["locate", "18.0686", "59.3293"], out=_FullDisk())
    assert code == 2
    assert capsys.readouterr().err == (
        "geotarget locate: cannot write the report to the output: No space left on device\n"
    )


def test_the_help_names_the_extra_a_parquet_file_needs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``target --help`` says which extra reads Parquet, the one a run without it asks for."""
    import sys

    (tmp_path / "p.parquet").write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)  # as without the extra
    code, _ = run(
        "target",
        *(
            "--alert",
            str(EXAMPLES / "sos_explosion.xml"),
            "--positions",
            str(tmp_path / "p.parquet"),
        ),
    )
    assert code == 2
    asked = capsys.readouterr().err
    assert "needs the optional extra 'geoparquet'" in asked
    with pytest.raises(SystemExit):
        main(["target", "--help"])
    parquet = capsys.readouterr().out.split("  Parquet ")[1].split("\n  stdin ")[0]
    assert "needs the geoparquet extra" in " ".join(parquet.split())


@pytest.mark.parametrize("option", ["--snap-m", "--accuracy-m"])
def test_a_distance_that_is_not_a_number_is_shown_a_distance(
    option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--snap-m 5m`` is told that metres are a plain number, not shown a longitude as example."""
    argv = (
        ["locate", "18.0686", "59.3293"]
        if option == "--snap-m"
        else ["target", "--alert", "a.xml", "--positions", "p.csv"]
    )
    with pytest.raises(SystemExit):
        main([*argv, option, "5m"])
    assert (
        f"argument {option}: must be a number of metres with a decimal point or comma, "
        "e.g. 25 or 12.5 (got '5m')"
    ) in capsys.readouterr().err


@pytest.mark.parametrize(
    ("option", "meant"), [("--c", "--confirm"), ("--conf", "--confirm"), ("--time", "--timezone")]
)
def test_an_abbreviated_option_is_refused_not_read_as_another(
    tmp_path: Path, option: str, meant: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--c`` is not --confirm: a stray option never overrides the blast-radius guard."""
    alert = (EXAMPLES / "sos_explosion.xml").read_text(encoding="utf-8")
    wide = tmp_path / "wide.xml"  # 20 km: over the Explosion's 100 km² limit
    wide.write_text(alert.replace("59.3325,18.06528 0.5", "59.3325,18.06528 20"), "utf-8")
    argv = ["target", "--alert", str(wide), "--positions", str(devices(tmp_path)), "--at", AT]
    extra = [option] if meant == "--confirm" else [option, "Europe/Stockholm"]
    with pytest.raises(SystemExit) as stop:
        run(*argv, *extra)
    assert stop.value.code == 2
    named = " ".join([f"{option} (did you mean {meant}?)", *extra[1:]])
    assert f"unrecognized arguments: {named} (see " in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (
            ["target", "--alerts", "a.xml", "--positions", "p.csv"],
            "geotarget target: the following arguments are required: --alert; unrecognized: "
            "--alerts (did you mean --alert?)",
        ),
        (
            ["target", "--alert", "a.xml", "--positions", "p.csv", "--confrim"],
            "geotarget target: unrecognized arguments: --confrim (did you mean --confirm?)",
        ),
        (
            ["target", "--alert", "a.xml", "--positions", "p.csv", "--at-time=2024"],
            "geotarget target: unrecognized arguments: --at-time=2024 (did you mean --at?)",
        ),
        (
            ["target", "--a", "a.xml", "--positions", "p.csv", "--alert", "a.xml"],
            "geotarget target: unrecognized arguments: --a (did you mean --accuracy-m, --alert "
            "or --at?) a.xml",
        ),
        (
            ["locate", "--lon", "18.0686", "--lat", "59.3293"],
            "geotarget locate: unrecognized arguments: --lon (lon is given by its place, without "
            "--lon) --lat (lat is given by its place, without --lat)",
        ),
        (
            ["preview", "--alert", "a.xml"],
            "geotarget preview: unrecognized arguments: --alert (alert is given by its place, "
            "without --alert)",
        ),
        (
            ["demo", "--device", "10"],
            "geotarget demo: unrecognized arguments: --device (did you mean --devices?) 10",
        ),
    ],
)
def test_a_misspelt_option_is_named_with_the_nearest_one(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--alerts`` is named beside "--alert is required", with the option it may have meant."""
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    assert capsys.readouterr().err.startswith(said + " (see 'geotarget ")


def test_a_file_without_rows_says_the_rule_it_breaks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A header-only export is refused saying why, not only that it has no rows."""
    empty = tmp_path / "empty.csv"
    empty.write_text(DEVICES.splitlines()[0] + "\n", encoding="utf-8")
    alert = str(EXAMPLES / "sos_explosion.xml")
    code, out = run("target", "--alert", alert, "--positions", str(empty), "--at", AT)
    assert (code, out) == (2, "")
    assert capsys.readouterr().err == (
        "geotarget target: empty.csv: has a header but no rows; a positions file holds at least "
        "one device: an empty export (a query that matched nobody, a failed job) would answer "
        "that nobody is in any alert's area\n"
    )


def test_a_demo_interrupted_while_drawing_leaves_no_half_written_map(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C during ``--plot``'s write deletes the part of the picture written so far."""
    pytest.importorskip("matplotlib", reason="--plot needs the plot extra")
    from geotarget import _plot

    def cut_short(fig: Any, path: str) -> None:
        Path(path).write_bytes(b"\x89PNG\r\n\x1a\n")  # the first bytes of a picture
        raise KeyboardInterrupt

    monkeypatch.setattr(_plot, "_save", cut_short)
    png, ledger = tmp_path / "pilot.png", tmp_path / "deliveries.db"
    code, _ = run("demo", "--devices", "2000", "--plot", str(png), "--ledger", str(ledger))
    assert code == 130
    assert "interrupted" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_preview_interrupted_while_drawing_leaves_no_half_written_map(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``preview --plot`` stopped while it writes leaves no part of a picture behind."""
    pytest.importorskip("matplotlib", reason="--plot needs the plot extra")
    from geotarget import _plot

    def cut_short(fig: Any, path: str) -> None:
        Path(path).write_bytes(b"\x89PNG\r\n\x1a\n")
        raise KeyboardInterrupt

    monkeypatch.setattr(_plot, "_save", cut_short)
    png = tmp_path / "alert.png"
    code, _ = run("preview", str(EXAMPLES / "sos_explosion.xml"), "--plot", str(png))
    assert code == 130
    assert "interrupted" in capsys.readouterr().err
    assert not png.exists()


def test_a_closed_standard_output_is_named_not_an_internal_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``geotarget locate ... >&-`` (stdout closed, ``sys.stdout`` None) is one line, exit 2."""
    import sys

    monkeypatch.setattr(sys, "stdout", None)
    code = main(["locate", "18.0686", "59.3293"])
    assert code == 2
    assert capsys.readouterr().err == (
        "geotarget locate: cannot write the report to standard output: it is closed\n"
    )


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["preview", "-"], "alert"),
        (["target", "--alert", "-", "--positions", "p.csv"], "--alert"),
        (["target", "--alert", str(EXAMPLES / "sos_explosion.xml"), "--positions", "-"], None),
    ],
)
def test_a_closed_standard_input_is_named_not_an_internal_error(
    argv: list[str],
    option: str | None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``-`` with stdin closed (``<&-``, ``sys.stdin`` None) is one line naming it, exit 2."""
    import sys

    monkeypatch.setattr(sys, "stdin", None)
    code, out = run(*argv, "--at", AT) if argv[0] == "target" else run(*argv)
    assert (code, out) == (2, "")
    assert capsys.readouterr().err == (
        f"geotarget {argv[0]}: {option or '--positions'} - reads standard input, which is "
        "closed: give a file name instead\n"
    )


def test_a_closed_standard_error_keeps_the_answer_clean(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``target ... 2>&-`` (``sys.stderr`` None) answers; no summary lands in stdout's JSON."""
    import json
    import sys

    monkeypatch.setattr(sys, "stderr", None)
    alert = str(EXAMPLES / "sos_explosion.xml")
    code, out = run("target", "--alert", alert, "--positions", str(devices(tmp_path)), "--at", AT)
    assert code == 0
    assert json.loads(out)["recipients"] == ["0701234567"]
    assert capsys.readouterr().out == ""  # print(file=None) would have written here


def test_a_cancel_is_not_said_to_be_remembered_past_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``target`` of a Cancel says that the next run will not remember it, as its help says."""
    alert = (EXAMPLES / "sos_explosion.xml").read_text(encoding="utf-8")
    cancel = tmp_path / "cancel.xml"
    cancel.write_text(
        alert.replace("<msgType>Alert", "<msgType>Cancel")
        .replace("0042</identifier>", "0043</identifier>")
        .replace(
            "<scope>Public</scope>",
            "<scope>Public</scope>\n  <references>larm@sosalarm.se,SOS-2024-0520-0042,"
            "2024-05-20T16:00:00+02:00</references>",
        ),
        encoding="utf-8",
    )
    code, _ = run("target", "--alert", str(cancel), "--positions", str(devices(tmp_path)))
    assert code == 0
    summary = capsys.readouterr().err.splitlines()[-1]
    assert summary.startswith("geotarget target: UNKNOWN_REFERENCE: 0 new recipient(s): ")
    assert summary.endswith(
        "remembered, so the versions it names are never delivered; but geotarget target keeps "
        "no ledger between runs: a later run does not remember it, and delivers the versions "
        "it names"
    )
    with pytest.raises(SystemExit):
        main(["target", "--help"])
    assert "none is kept between runs" in capsys.readouterr().out


class _Terminal(io.StringIO):
    """A standard error that says it is a terminal, as a console's is."""

    def isatty(self) -> bool:
        return True


def test_an_error_after_the_progress_line_starts_a_line_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a terminal, a bad row found after "reading ...: 100,000 rows" is not glued to it."""
    import sys

    rows = "".join(f"d{i},18.06528,59.3325,8,2024-05-20T16:00:00+02:00\n" for i in range(100_000))
    big = tmp_path / "big.csv"
    big.write_text(f"id,lon,lat,accuracy_m,observed_at\n{rows}bad,x,59.3,8,1716213600\n", "utf-8")
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    alert = str(EXAMPLES / "sos_explosion.xml")
    code, _ = run("target", "--alert", alert, "--positions", str(big), "--at", AT)
    assert code == 2
    lines = terminal.getvalue().split("\n")
    assert lines[0] == "\r  reading big.csv: 100,000 rows"
    assert lines[1].startswith("geotarget target: big.csv: row 100001 (line 100002), column lon")


def test_a_demo_interrupted_in_a_slow_step_ends_its_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """On a terminal, Ctrl-C during "device positions …" ends that line before "interrupted"."""
    monkeypatch.setattr(_demo, "demo_positions", _interrupt)
    terminal = _Terminal()
    assert main(["demo", "--devices", "10"], out=terminal) == 130
    assert terminal.getvalue().endswith("  device positions …\n")
    assert capsys.readouterr().err == "geotarget demo: interrupted\n"


def test_a_policy_problem_the_targeter_finds_names_the_file_before_positions_are_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A pinned certificate that is no certificate is the policy file's problem, found first."""
    pytest.importorskip("cryptography", reason="the certificate check needs the signing extra")
    (tmp_path / "certs").mkdir()
    fake = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    (tmp_path / "certs" / "sos.pem").write_text(fake, encoding="ascii")
    text = (EXAMPLES / "pilot_policy.toml").read_text(encoding="utf-8")
    required = 'signature = "required"\ncertificates = ["certs/sos.pem"]\n# '
    policy = tmp_path / "policy.toml"
    policy.write_text(text.replace('signature = "optional"', required, 1), encoding="utf-8")

    def read(*args: Any, **kwargs: Any) -> Any:
        pytest.fail("the positions file was read before the policy was checked")

    monkeypatch.setattr(_position_files, "read", read)
    alert = str(EXAMPLES / "sos_explosion.xml")
    code, out = run("target", "--alert", alert, "--positions", "p.csv", "--policy", str(policy))
    assert (code, out) == (2, "")
    assert capsys.readouterr().err.startswith(
        f"geotarget target: policy file {str(policy)!r} has 1 problem: "
        "issuers[3].certificates[0]: is not a PEM X.509 certificate"
    )
