"""The ``geotarget`` command driven as a newcomer drives it: pipes, typos, odd arguments.

Each case was found by running the command by hand: the line a person sees must name the file
and the argument at fault, arrive before any work is done, and never be a misleading exit code.
"""

from __future__ import annotations

import codecs
import datetime as dt
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from geotarget.cli import main
from geotarget.errors import InvalidInput

ROOT = Path(__file__).resolve().parents[1]
ALERT = ROOT / "docs" / "examples" / "sos_explosion.xml"


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of the command run in process (usage errors included)."""
    out = io.StringIO()
    try:
        code = main(argv, out=out)
    except SystemExit as done:  # argparse's usage errors
        code = int(done.code or 0)
    captured = capsys.readouterr()
    return code, out.getvalue() + captured.out, captured.err


def test_a_reader_that_stops_early_is_not_bad_input() -> None:
    """``geotarget preview x | head -1``: no "Broken pipe" line, no exit 2, SIGPIPE's 141."""
    if not ALERT.is_file():
        pytest.skip("docs/examples is not beside the tests (installed-wheel run)")
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the command writes
    try:
        done = subprocess.run(
            [sys.executable, "-m", "geotarget", "preview", str(ALERT), "--anywhere"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert done.stderr == ""
    assert done.returncode == 141


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (
            ["locate", "18", "59", "60"],
            "geotarget locate: unrecognized arguments: 60 (see 'geotarget locate --help')",
        ),
        (
            ["demo", "--devices", "-5"],
            "geotarget demo: argument --devices: must be a whole number from 0 to 20000000, "
            "written with digits only (got '-5') (see 'geotarget demo --help')",
        ),
        (
            ["demo", "--devices", "1e6"],
            "geotarget demo: argument --devices: must be a whole number from 0 to 20000000, "
            "written with digits only (got '1e6') (see 'geotarget demo --help')",
        ),
        (
            ["demo", "--devices", "1_000"],
            "geotarget demo: argument --devices: must be a whole number from 0 to 20000000, "
            "written with digits only (got '1_000') (see 'geotarget demo --help')",
        ),
        (  # about 0.2 GB a million: 100 million asked for ~18 GB and ran laptops out of memory
            ["demo", "--devices", "20000001"],
            "geotarget demo: argument --devices: must be a whole number from 0 to 20000000, "
            "written with digits only (got '20000001') (see 'geotarget demo --help')",
        ),
        (
            ["demo", "--devices", " 5"],
            "geotarget demo: argument --devices: must be a whole number from 0 to 20000000, "
            "written with digits only (got ' 5') (see 'geotarget demo --help')",
        ),
        (
            ["demo", "--seed", "9" * 5000],
            "geotarget demo: argument --seed: must be a whole number >= 0, written with digits "
            f"only (got '{'9' * 5000}') (see 'geotarget demo --help')",
        ),
        (
            ["demo", "--seed", "-1"],
            "geotarget demo: argument --seed: must be a whole number >= 0, written with digits "
            "only (got '-1') (see 'geotarget demo --help')",
        ),
    ],
)
def test_usage_errors_name_the_command_and_its_argument(
    argv: list[str], line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A stray argument or a bad number is refused by the command it was given to, first.

    (The demo printed its set-up, then blamed a parameter ``n``.)
    """
    code, out, err = _run(argv, capsys)
    assert (code, out, err.strip().splitlines()) == (2, "", [line])


def _single_value_options() -> list[tuple[str, str]]:
    """(command, option) for every option of every subcommand that takes one value."""
    import argparse

    from geotarget.cli import _parser

    (commands,) = [a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return [
        (name, action.option_strings[-1])
        for name, command in commands.choices.items()
        for action in command._actions
        if action.option_strings and action.nargs is None  # flags and --help take none
    ]


SINGLE_VALUE_OPTIONS = _single_value_options()


def test_the_options_that_take_one_value_are_all_found() -> None:
    """The sweep below covers every subcommand's one-value options, not an empty list."""
    assert {
        ("demo", "--devices"), ("demo", "--seed"), ("demo", "--plot"), ("demo", "--ledger"),
        ("target", "--alert"), ("target", "--positions"), ("target", "--policy"),
        ("target", "--at"), ("target", "--observed-at"), ("target", "--timezone"),
        ("target", "--encoding"), ("locate", "--snap-m"), ("preview", "--plot"),
        ("preview", "--policy"),
    } <= set(SINGLE_VALUE_OPTIONS)  # fmt: skip


@pytest.mark.parametrize(("command", "option"), SINGLE_VALUE_OPTIONS)
def test_an_option_given_twice_is_refused_not_last_wins(
    command: str, option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every one-value option given twice is a usage error naming it, before any work.

    argparse kept the last value silently: ``--positions a.csv --positions b.csv`` read b.csv.
    """
    code, out, err = _run([command, option, "1", f"{option}=2"], capsys)
    (line,) = err.strip().splitlines()
    assert (code, out) == (2, "")
    assert line.startswith(f"geotarget {command}: argument {option}: given twice ('1")
    assert line.endswith(f"); give it once (see 'geotarget {command} --help')")


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (
            ["target", "--alert", "a.xml", "--positions", "a.csv", "--positions", "b.csv"],
            "geotarget target: argument --positions: given twice ('a.csv' and 'b.csv'); give "
            "it once (see 'geotarget target --help')",
        ),
        (  # an abbreviation is no option (it would not be read as --alert)
            ["target", "--at", "2024-05-20T14:00Z", "--positions", "p.csv", "--al", "x.xml",
             "--alert", "y.xml"],
            "geotarget target: unrecognized arguments: --al (did you mean --alert?) x.xml (see "
            "'geotarget target --help')",
        ),
        (
            ["demo", "--devices", "5", "--devices", "5"],
            "geotarget demo: argument --devices: given twice ('5' and '5'); give it once "
            "(see 'geotarget demo --help')",
        ),
        (
            ["locate", "18", "59", "--snap-m", "100", "--snap-m", "500"],
            "geotarget locate: argument --snap-m: given twice ('100.0' and '500.0'); give it "
            "once (see 'geotarget locate --help')",
        ),
    ],
)  # fmt: skip
def test_a_repeated_option_names_both_values(
    argv: list[str], line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The line shows both values, so the user sees which file or time was meant."""
    code, out, err = _run(argv, capsys)
    assert (code, out, err.strip().splitlines()) == (2, "", [line])


def test_flags_and_one_value_options_given_once_still_parse(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A flag repeated is harmless (it says the same thing twice); --help still works."""
    if not ALERT.is_file():
        pytest.skip("docs/examples is not beside the tests (installed-wheel run)")
    code, out, err = _run(["preview", str(ALERT), "--anywhere", "--anywhere"], capsys)
    assert code == 0, err
    assert "kind: explosion" in out


def test_a_bad_plot_path_is_refused_before_the_demo_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The 1.2 M-device demo used to play every scene and fail at its last step."""
    pytest.importorskip("matplotlib", reason="--plot needs the plot extra")
    for plot, fragment in [
        ("pilot.xyz", "--plot must name a file whose suffix is its picture format"),
        (str(tmp_path / "missing" / "pilot.png"), "its folder"),
        (str(tmp_path), "--plot must name a file whose suffix"),
    ]:
        code, out, err = _run(["demo", "--devices", "1000", "--plot", plot], capsys)
        assert (code, out) == (2, ""), err
        (line,) = err.strip().splitlines()
        assert line.startswith("geotarget demo: ") and fragment in line


def test_preview_refuses_plot_before_printing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``preview --plot`` of an alert without an area, or to a folder: one line, no summary."""
    pytest.importorskip("matplotlib", reason="--plot needs the plot extra")
    no_area = tmp_path / "no_area.xml"
    text = ALERT.read_text(encoding="utf-8")
    no_area.write_text(text.replace("<circle>59.3325,18.06528 0.5</circle>", ""), encoding="utf-8")
    code, out, err = _run(["preview", str(no_area), "--plot", "a.png"], capsys)
    assert (code, out) == (2, "")
    assert err.strip() == "geotarget preview: --plot needs an alert with an area geometry"
    (tmp_path / "map.png").mkdir()
    code, out, err = _run(["preview", str(ALERT), "--plot", str(tmp_path / "map.png")], capsys)
    assert (code, out) == (2, "")
    assert err.strip().endswith("map.png': is a folder")


def test_a_broken_alert_is_named_among_the_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``target`` reads two files: a CAP problem says which file it is in."""
    positions = tmp_path / "devices.csv"
    positions.write_text("id,lon,lat,accuracy_m,observed_at\na,18.06528,59.3325,10,1716213600\n")
    broken = tmp_path / "upstream.xml"
    broken.write_text(
        ALERT.read_text(encoding="utf-8").replace("<certainty>Likely</certainty>", "", 1)
    )
    for argv in (
        ["target", "--alert", str(broken), "--positions", str(positions)],
        ["preview", str(broken)],
        ["target", "--alert", str(positions), "--positions", str(positions)],
    ):
        code, out, err = _run(argv, capsys)
        assert (code, out) == (2, ""), err
        (line,) = err.strip().splitlines()
        assert line.startswith(
            f"geotarget {argv[0]}: {argv[2] if argv[0] == 'target' else argv[1]}: CAP document has 1 problem: "
        )


def test_an_empty_observed_at_is_refused_not_ignored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--observed-at ""`` (an unset shell variable) is a bad time, not "not given"."""
    positions = tmp_path / "devices.csv"
    positions.write_text("id,lon,lat,accuracy_m\na,18.06528,59.3325,10\n")
    argv = ["target", "--alert", str(ALERT), "--positions", str(positions), "--observed-at", ""]
    code, out, err = _run(argv, capsys)
    assert (code, out) == (2, "")
    assert "--observed-at must be an ISO 8601 date-time" in err and "(got '')" in err


def test_fixes_taken_after_at_are_named_in_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An old alert replayed over today's positions: the fixes count as current, and it says so.

    Seconds of clock skew are normal and pass silently; the warning counts only fixes more than
    five minutes after ``--at`` and names the latest, in ``--at``'s offset.
    """
    positions = tmp_path / "devices.csv"
    positions.write_text(
        "id,lon,lat,accuracy_m,observed_at\n"
        "skew,18.06528,59.3325,10,2024-05-20T16:09:59+02:00\n"
        "late,18.06528,59.3325,10,2024-05-20T14:10:01Z\n"
        "today,18.06528,59.3325,10,2026-12-02T07:00:00Z\n"
        "nofix,,,,\n"
    )
    argv = ["target", "--alert", str(ALERT), "--positions", str(positions)]
    code, out, err = _run([*argv, "--at", "2024-05-20T16:05+02:00"], capsys)
    assert code == 0, err
    assert sorted(json.loads(out)["recipients"]) == ["late", "skew", "today"]
    (warning,) = [line for line in err.splitlines() if "after --at" in line]
    assert warning == (
        "geotarget target: warning: devices.csv: 2 of 4 devices' fixes were taken more than 5 "
        "minutes after --at 2024-05-20T16:05:00+02:00 (the latest at 2026-12-02T09:00:00+02:00); "
        "they count as current fixes, not as where the devices were then: is --at right?"
    )
    code, out, err = _run([*argv, "--at", "2026-12-02T08:00+01:00"], capsys)
    assert "after --at" not in err


@pytest.mark.parametrize(
    ("rows", "warning"),
    [
        (
            "a,,,,2024-05-20T14:01:00Z\nb,,,,2026-12-02T07:00:00Z\n",
            "none of its 2 rows has a fix (lon and lat are empty in every row): no device can "
            "be told",
        ),
        (
            "a,18.06528,59.3325,10,\nb,18.06528,59.3325,10,\nc,,,,2024-05-20T14:01:00Z\n",
            "none of its 2 fixes has a time (observed_at is empty in every row with a fix): an "
            "undated fix is never current, so no device can be told",
        ),
    ],
)
def test_a_file_of_which_no_row_can_place_a_device_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rows: str, warning: str
) -> None:
    """A file whose fixes are all empty, or all undated, is one warning line, not only a count.

    The summary said only "not told: 2 without a fix": nobody told, the reason one count
    among others. A fixless row's time is no fix taken after ``--at`` either.
    """
    positions = tmp_path / "devices.csv"
    positions.write_text("id,lon,lat,accuracy_m,observed_at\n" + rows)
    argv = ["target", "--alert", str(ALERT), "--positions", str(positions)]
    code, out, err = _run([*argv, "--at", "2024-05-20T16:05+02:00"], capsys)
    assert code == 0, err
    assert json.loads(out)["recipients"] == []
    assert f"geotarget target: warning: devices.csv: {warning}" in err.splitlines()
    assert "after --at" not in err
    positions.write_text(
        "id,lon,lat,accuracy_m,observed_at\n" + rows + "z,18.06528,59.3325,10,2024-05-20T14:01Z\n"
    )
    code, out, err = _run([*argv, "--at", "2024-05-20T16:05+02:00"], capsys)
    assert json.loads(out)["recipients"] == ["z"]
    assert "warning" not in err


def test_projected_metres_are_named_as_such(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SWEREF 99 TM easting/northing in the lon/lat columns: the line says what they look like.

    It quoted both, lon and lat of one row: the device's position (in metres), in a message
    that is logged. The lon is quoted; the lat is said to lie beyond degrees too.
    """
    positions = tmp_path / "kommun.csv"
    positions.write_text("id;lon;lat;accuracy_m;observed_at\nk1;674032;6580822;10;1716213600\n")
    argv = ["target", "--alert", str(ALERT), "--positions", str(positions)]
    code, out, err = _run([*argv, "--at", "2024-05-20T16:05+02:00"], capsys)
    assert (code, out) == (2, "")
    assert err.strip() == (
        "geotarget target: kommun.csv: row 1 (line 2), column lon: must lie within [-180, 180] "
        "degrees (got 674032.0), and lat lies beyond [-90, 90] too: metres in a projected "
        "system such as SWEREF 99 TM (EPSG:3006)? convert them to WGS84 longitude and latitude "
        "in degrees"
    )


@pytest.mark.parametrize(
    ("head", "old", "new"),
    [
        (b"\n", "", ""),
        (codecs.BOM_UTF8, 'encoding="UTF-8"', 'encoding="ISO-8859-1"'),
        (b"", "<info>", '<info xml:lang="sv-SE">'),
    ],
    ids=["newline-before-declaration", "bom-contradicting", "attribute"],
)
def test_a_repair_lenient_reading_makes_is_pointed_to_like_the_others(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], head: bytes, old: str, new: str
) -> None:
    """Whitespace before ``<?xml``, a contradicting byte-order mark, an attribute: as CAP 1.1.

    A newline before the declaration (as PHP feeds send), a UTF-8 mark on a Latin-1
    declaration, an ``xml:lang`` attribute: ``preview --lenient`` repairs each, so the strict commands say so, as for CAP 1.1; they
    said only expat's "declaration not at start of entity", named ``loads_lenient``, or said
    nothing of a repair.
    """
    text = ALERT.read_text(encoding="utf-8").replace(old, new, 1)
    alert = tmp_path / "feed.xml"
    alert.write_bytes(head + text.encode("utf-8"))
    code, out, err = _run(["preview", str(alert)], capsys)
    assert (code, out) == (2, "")
    assert err.strip().endswith(
        "(this command reads strictly; 'geotarget preview --lenient' repairs this)"
    ), err
    assert "loads_lenient" not in err
    code, out, err = _run(["preview", str(alert), "--lenient"], capsys)
    assert (code, err) == (0, "")
    assert "kind: explosion" in out


def test_preview_lenient_reads_what_a_strict_read_refuses_and_lists_the_repairs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A CAP 1.1 feed: the command points to ``preview --lenient``, which lists its repairs.

    (The strict reader's hint named a Python function, ``loads_lenient``.)
    """
    cap11 = tmp_path / "feed.xml"
    cap11.write_text(
        ALERT.read_text(encoding="utf-8").replace("emergency:cap:1.2", "emergency:cap:1.1"),
        encoding="utf-8",
    )
    positions = tmp_path / "devices.csv"
    positions.write_text("id,lon,lat,accuracy_m,observed_at\na,18.06528,59.3325,10,1716213600\n")
    for argv, hint in (
        (
            ["preview", str(cap11)],
            "(this command reads strictly; 'geotarget preview --lenient' repairs this)",
        ),
        (
            ["target", "--alert", str(cap11), "--positions", str(positions)],
            "(geotarget target reads strictly, as a service must, and has no --lenient; "
            "'geotarget preview --lenient' lists what a lenient reading repairs, for the "
            "sender to fix)",
        ),
    ):
        code, out, err = _run(argv, capsys)
        assert (code, out) == (2, "")
        assert err.strip().endswith(f"geotarget reads CAP 1.2 {hint}"), err
        assert "loads_lenient" not in err
    code, out, err = _run(["preview", str(cap11), "--lenient"], capsys)
    assert (code, err) == (0, "")
    assert "kind: explosion" in out
    assert (
        "  repaired: alert: is a CAP 1.1 document (namespace urn:oasis:names:tc:emergency:"
        "cap:1.1); geotarget reads CAP 1.2; read it as CAP 1.2\n"
    ) in out


def test_the_demo_refuses_an_earlier_runs_ledger(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``geotarget demo --ledger deliveries.db`` twice: the second run is refused at once.

    (It met its own cancelled incident and ended in an internal error, exit 3.)
    """
    store = tmp_path / "deliveries.db"
    argv = ["demo", "--devices", "200", "--ledger", str(store)]
    code, out, err = _run(argv, capsys)
    assert code == 0, err
    code, out, err = _run(argv, capsys)
    assert (code, out) == (2, "")
    assert err.strip() == (
        f"geotarget demo: --ledger {store} already exists (an earlier demo's ledger?); the demo "
        "plays the same alerts each time, and that ledger has already delivered and cancelled "
        "them: give a new file name, or delete the file"
    )


def test_the_summary_reads_as_english_and_says_how_to_confirm(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One recipient is singular, an Ack takes "an", and the guard names the option to pass."""
    positions = tmp_path / "devices.csv"
    positions.write_text("id,lon,lat,accuracy_m,observed_at\na,18.06528,59.3325,10,1716213600\n")
    text = ALERT.read_text(encoding="utf-8")
    variants = {
        "one.xml": text,
        "ack.xml": text.replace("<msgType>Alert</msgType>", "<msgType>Ack</msgType>").replace(
            "<scope>Public</scope>",
            "<scope>Public</scope><references>a@b.se,X1,2024-05-20T15:00:00+02:00</references>",
        ),
        "wide.xml": text.replace("18.06528 0.5</circle>", "18.06528 300</circle>"),
    }
    reasons = {}
    for name, doc in variants.items():
        (tmp_path / name).write_text(doc, encoding="utf-8")
        argv = ["target", "--alert", str(tmp_path / name), "--positions", str(positions)]
        code, out, err = _run([*argv, "--at", "2024-05-20T16:05+02:00"], capsys)
        assert code == 0, err
        reasons[name] = (json.loads(out)["reason"], err.strip().splitlines()[-1])
    assert reasons["one.xml"][0] == "explosion is enabled (NATIONWIDE, phase 1): 1 new recipient"
    assert reasons["ack.xml"][0].startswith("an Ack message is not an alert")
    assert reasons["wide.xml"][1].endswith("confirm to send anyway (geotarget target --confirm)")


def test_the_help_lists_every_exit_code_main_documents(capsys: pytest.CaptureFixture[str]) -> None:
    """``geotarget --help`` and :func:`main`'s docstring state the same exit codes."""
    import re

    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    listed = {int(c) for c in re.findall(r"^  (\d+) ", text.split("exit codes:")[1], re.M)}
    documented = main.__doc__ or ""
    assert listed == {0, 1, 2, 3, 4, 130, 141}
    for code in listed:
        assert re.search(rf"\b{code}\b (on|when)", documented), code


@pytest.mark.parametrize(
    ("at", "message"),
    [
        (
            "9999-12-31T23:59:59+00:00",
            "at must lie before 9999-12-01T00:00:00+00:00, leaving room for a lease "
            "(got 9999-12-31T23:59:59+00:00)",
        ),
        (
            "0001-01-01T00:00:00+14:00",
            "--at must lie within the years 1 to 9999 in UTC (got '0001-01-01T00:00:00+14:00')",
        ),
        (
            "9999-12-31T23:59:59-14:00",
            "--at must lie within the years 1 to 9999 in UTC (got '9999-12-31T23:59:59-14:00')",
        ),
    ],
)
def test_at_at_the_ends_of_time_is_bad_input_not_an_internal_error(
    at: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The check for fixes after ``--at`` must not overflow before the Targeter's own rule.

    (An instant with no datetime in UTC is refused by parse_time itself, naming the flag.)
    """
    positions = tmp_path / "devices.csv"
    positions.write_text("id,lon,lat,accuracy_m,observed_at\na,18.06528,59.3325,10,1716213600\n")
    argv = ["target", "--alert", str(ALERT), "--positions", str(positions), "--at", at]
    code, out, err = _run(argv, capsys)
    assert (code, out) == (2, ""), err
    assert err.strip().splitlines() == [f"geotarget target: {message}"]


@pytest.mark.parametrize(
    "observed", ["9999-12-31T23:59:59+00:00", "0001-01-01T00:00:00+14:00", "1969-12-31T23:59:59Z"]
)
def test_observed_at_keeps_to_the_years_a_files_cells_may_name(
    observed: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--observed-at`` is held to the file column's years, 1970 to 9998.

    (Year 1 at +14:00 was an internal error; year 9999 a fix that is never stale.)
    """
    positions = tmp_path / "devices.csv"
    positions.write_text("id,lon,lat,accuracy_m\na,18.06528,59.3325,10\n")
    argv = ["target", "--alert", str(ALERT), "--positions", str(positions)]
    code, out, err = _run(
        [*argv, "--at", "2024-05-20T16:05+02:00", "--observed-at", observed], capsys
    )
    assert (code, out) == (2, ""), err
    shown = observed.replace("Z", "+00:00")
    rule = f"lies outside the years 1970 to 9998 (got {shown})"
    if observed == "0001-01-01T00:00:00+14:00":  # no datetime in UTC: parse_time refuses it
        rule = f"must lie within the years 1 to 9999 in UTC (got {observed!r})"
    assert err.strip().splitlines() == [f"geotarget target: --observed-at {rule}"]


_OFFSETS = st.integers(-14 * 60, 14 * 60).map(lambda m: dt.timezone(dt.timedelta(minutes=m)))
_TIMES = st.datetimes(
    min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31, 23, 59, 59)
).flatmap(lambda d: _OFFSETS.map(lambda tz: d.replace(tzinfo=tz).isoformat()))


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(at=_TIMES, observed=_TIMES)
@example(at="9999-12-31T23:59:59+00:00", observed="0001-01-01T00:00:00+14:00")
@example(at="0001-01-01T00:00:00+14:00", observed="9999-12-31T23:59:59-14:00")
@example(at="2024-05-20T16:05:00+02:00", observed="2024-05-20T16:00:00+02:00")
def test_any_time_the_command_reads_ends_in_an_answer_or_one_line(
    at: str, observed: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Any ISO 8601 time in ``--at`` and ``--observed-at``: JSON, or exit 2 with one line.

    Never an internal error: two overflows hid at the ends of the years.
    """
    positions = tmp_path / "undated.csv"
    positions.write_text("id,lon,lat,accuracy_m\na,18.06528,59.3325,10\n")
    argv = ["target", "--alert", str(ALERT), "--positions", str(positions)]
    code, out, err = _run([*argv, "--at", at, "--observed-at", observed], capsys)
    assert code in (0, 2), err
    if code == 0:
        assert json.loads(out)["verdict"]
    else:
        assert out == "" and len(err.strip().splitlines()) == 1, err


def test_an_encoding_that_contradicts_the_files_byte_order_mark_is_refused(
    tmp_path: Path,
) -> None:
    """``--encoding latin-1`` on Excel's "CSV UTF-8": the mark wins over a mojibake header."""
    from geotarget._position_files import read

    utf8 = tmp_path / "excel.csv"
    utf8.write_bytes("\ufeffid;lon;lat;accuracy_m\nå;18,06;59,33;10\n".encode())
    utf16 = tmp_path / "unicode.txt"
    utf16.write_bytes("id\tlon\tlat\taccuracy_m\nå\t18.06\t59.33\t10\n".encode("utf-16"))
    for path, named, bom in ((utf8, "latin-1", "UTF-8"), (utf16, "utf-8", "UTF-16")):
        with pytest.raises(InvalidInput) as info:
            read(path, encoding=named, observed_at=dt.datetime(2024, 5, 20, tzinfo=dt.timezone.utc))
        assert str(info.value) == (
            f"{path.name}: begins with a {bom} byte-order mark, but --encoding {named} was "
            f"given: leave --encoding out (the mark says {bom}) or give --encoding {bom.lower()}"
        )
    for path, named in ((utf8, "utf-8"), (utf8, "UTF_8_SIG"), (utf16, "utf-16-le")):
        positions, _ = read(
            path, encoding=named, observed_at=dt.datetime(2024, 5, 20, tzinfo=dt.timezone.utc)
        )
        assert positions.ids.tolist() == ["å"]


@pytest.mark.parametrize(
    ("mark", "codec", "named", "said"),
    [
        (codecs.BOM_UTF16_BE, "utf-16-be", "utf-16-le", "UTF-16 big-endian"),
        (codecs.BOM_UTF16_LE, "utf-16-le", "utf-16-be", "UTF-16 little-endian"),
        (codecs.BOM_UTF32_LE, "utf-32-le", "utf-32-be", "UTF-32 little-endian"),
    ],
)
def test_an_encoding_of_the_other_byte_order_than_the_mark_is_refused(
    tmp_path: Path, mark: bytes, codec: str, named: str, said: str
) -> None:
    """``--encoding utf-16-le`` on a big-endian file: the mark's byte order, not mojibake.

    It was "lacks column(s) id, lon, lat" naming a byte-swapped header (椀搀Ⰰ氀漀渀...), or for
    UTF-32 "byte 0xff is not utf-32-be", which never named the byte order.
    """
    from geotarget._position_files import read

    path = tmp_path / "unicode.txt"
    path.write_bytes(mark + "id\tlon\tlat\taccuracy_m\nå\t18.06\t59.33\t10\n".encode(codec))
    at = dt.datetime(2024, 5, 20, tzinfo=dt.timezone.utc)
    with pytest.raises(InvalidInput) as info:
        read(path, encoding=named, observed_at=at)
    family = said.split()[0]
    assert str(info.value) == (
        f"unicode.txt: begins with a {said} byte-order mark, but --encoding {named} was given: "
        f"leave --encoding out (the mark says {said}) or give --encoding {family.lower()} or "
        f"{codec}"
    )
    for right in (codec, family.lower(), None):
        assert read(path, encoding=right, observed_at=at)[0].ids.tolist() == ["å"]


@pytest.mark.parametrize(
    "encoding",
    ["punycode", "undefined", "idna", "utf-7", "unicode_escape", "raw_unicode_escape", "rot13",
     "hex", "base64", "zlib", "no-such-codec"],
)  # fmt: skip
def test_an_encoding_that_is_no_character_encoding_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], encoding: str
) -> None:
    """Codecs that decode no file's text: exit 2, one line naming the option and the name.

    ``punycode`` and ``undefined`` raised a bare UnicodeError (an internal error, exit 3);
    ``idna`` and ``utf-7`` were read. The rule is the CAP reader's (``_validate.charset``).
    """
    positions = tmp_path / "devices.csv"
    positions.write_text("id,lon,lat,accuracy_m,observed_at\na,18.06528,59.3325,10,1716213600\n")
    argv = ["target", "--alert", str(ALERT), "--positions", str(positions), "--at", "2024-05-20"
            "T16:05+02:00", "--encoding", encoding]  # fmt: skip
    code, out, err = _run(argv, capsys)
    assert (code, out, err.strip().splitlines()) == (
        2,
        "",
        [
            "geotarget target: --encoding must name a text encoding such as utf-8 or cp1252 "
            f"(got {encoding!r})"
        ],
    )


def test_rare_character_encodings_are_read_like_any_other(tmp_path: Path) -> None:
    """HZ (RFC 1843), Palm OS and EBCDIC are character encodings: a file in one is read."""
    from geotarget._position_files import read

    text = "id,lon,lat,accuracy_m,observed_at\n{id},18.06528,59.3325,10,1716213600\n"
    for encoding, ident in (("hz", "北京"), ("palmos", "Pär"), ("cp037", "Åsa")):
        path = tmp_path / f"{encoding}.csv"
        path.write_bytes(text.format(id=ident).encode(encoding))
        positions, report = read(path, encoding=encoding)
        assert positions.ids.tolist() == [ident], encoding
        assert report.form.startswith(f"CSV, {codecs.lookup(encoding).name}, comma-separated")


def test_a_codec_that_fails_without_naming_a_byte_is_bad_input(tmp_path: Path) -> None:
    """Any codec failure (here a UnicodeError without a position) names the file and codec."""
    from geotarget._position_files import read

    def broken(data: object, errors: str = "strict", /) -> tuple[str, int]:
        raise UnicodeError("no can do")

    info = codecs.CodecInfo(codecs.utf_8_encode, broken, name="geotarget-test-broken")

    def search(name: str) -> codecs.CodecInfo | None:
        return info if name.replace("_", "-") == "geotarget-test-broken" else None

    codecs.register(search)
    try:
        path = tmp_path / "p.csv"
        path.write_text("id,lon,lat,accuracy_m,observed_at\na,18.0,59.0,5,1716213600\n")
        with pytest.raises(InvalidInput) as err:
            read(path, encoding="geotarget-test-broken")
    finally:
        codecs.unregister(search)
    assert str(err.value).startswith(
        "p.csv: is not readable as geotarget-test-broken (--encoding geotarget-test-broken): "
    )
    assert "no can do" in str(err.value)  # (Python may wrap it: "decoding with ... failed")


def test_the_json_states_its_times_in_the_offset_of_at(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``at`` and ``next_change`` in one offset (next_change came in UTC beside a +02:00 at)."""
    positions = tmp_path / "devices.csv"
    positions.write_text("id,lon,lat,accuracy_m,observed_at\na,18.06528,59.3325,10,1716213600\n")
    # The example tip request expires after a day; here it stays active until phase 2 (a next
    # change at or after expiry is no next change: test_targeting).
    tips = tmp_path / "tips.xml"
    example = (ROOT / "docs" / "examples" / "polisen_tips.xml").read_text("utf-8")
    tips.write_text(example.replace("2024-05-21T16:00:00+02:00", "2024-12-21T16:00:00+01:00"))
    argv = ["target", "--alert", str(tips), "--positions", str(positions)]
    code, out, err = _run([*argv, "--at", "2024-05-20T16:05+02:00"], capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert (doc["at"], doc["next_change"]) == (
        "2024-05-20T16:05:00+02:00",
        "2024-09-02T00:00:00+02:00",  # phase 2 (illustrative) begins at midnight in Stockholm
    )
    # As the example is: phase 2 comes after it expires, so it has no next change.
    example_file = ROOT / "docs" / "examples" / "polisen_tips.xml"
    argv = ["target", "--alert", str(example_file), "--positions", str(positions)]
    code, out, err = _run([*argv, "--at", "2024-05-20T16:05+02:00"], capsys)
    assert code == 0, err
    assert json.loads(out)["next_change"] is None


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        (
            "fixes.geojson",
            "write its points as CSV with the columns id, lon, lat, accuracy_m, observed_at",
        ),
        ("fixes.json", "write it as CSV with the columns id, lon, lat, accuracy_m, observed_at"),
        ("alert.xml", "a CAP alert goes to --alert; positions are CSV or Parquet"),
    ],
)
def test_positions_in_other_formats_say_what_to_do(tmp_path: Path, name: str, hint: str) -> None:
    """GeoJSON or JSON positions, or the alert given as positions: the line says what to do."""
    from geotarget._position_files import read

    (tmp_path / name).write_text('{"type": "FeatureCollection", "features": []}')
    with pytest.raises(InvalidInput) as info:
        read(tmp_path / name)
    assert str(info.value) == (
        f"--positions must be a .csv, .tsv, .txt or .parquet file (got {name}: {hint})"
    )
