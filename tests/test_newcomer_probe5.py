"""A police operator's first alerts with the pilot's builders, and the documented API as read.

Times in Swedish local time (``zoneinfo``), the tip line and web form as an operator types them,
texts as they arrive from a form. Oracles are plain Python: instants by ``timestamp()``, channels
by their digits.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import io
import json
import pkgutil
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import geotarget
from geotarget import Circle, Positions, _demo, pilot
from geotarget.alerts import TipChannel
from geotarget.cli import main
from geotarget.errors import (
    InvalidAlert,
    InvalidCoordinates,
    InvalidPolicy,
    InvalidPositions,
    InvalidType,
)
from geotarget.ledger import MemoryLedger
from geotarget.rollout import Phase

SE = ZoneInfo("Europe/Stockholm")
T0 = dt.datetime(2026, 5, 4, 21, 30, tzinfo=SE)
SV = pilot.Message(
    headline="Polisen efterfrågar tips om rånet vid Åhléns",
    description="Såg du något vid Sergels torg i går kväll?",
    area_description="Sergels torg, Stockholm",
)
EN = pilot.Message(
    headline="The police ask for tips about the robbery at Åhléns",
    description="Did you see anything at Sergels torg last night?",
    area_description="Sergels torg, Stockholm",
)


def _build(make: Any = pilot.tip_request, **given: Any) -> Any:
    args: dict[str, Any] = {
        "identifier": "SE-POL-2026-0100",
        "sender": "polisen@polisen.se",
        "sent": T0,
        "area": Circle(18.06528, 59.3325, 500.0),
        "sv": SV,
        "en": EN,
        "onset": T0,
        "expires": T0 + dt.timedelta(hours=2),
    }
    args.update(given)
    return make(**args)


# --- times in Swedish local time ------------------------------------------------------------

# 2026-10-25: the clocks go back from 03:00 CEST to 02:00 CET, so 02:00-03:00 happens twice.
SECOND_0230 = dt.datetime(2026, 10, 25, 2, 30, tzinfo=SE, fold=1)  # CET, +01:00
FIRST_0245 = dt.datetime(2026, 10, 25, 2, 45, tzinfo=SE)  # CEST, +02:00


@pytest.mark.parametrize("make", [pilot.explosion, pilot.crime_modus, pilot.tip_request])
def test_an_expiry_before_the_onset_on_the_night_the_clocks_go_back_is_refused(make: Any) -> None:
    """02:45 CEST comes 45 minutes before 02:30 CET: the alert would never be active.

    The builder compared the two times as Python compares times of one tzinfo, by their wall
    clocks (02:45 > 02:30), and built an alert whose window is empty: nobody, silently.
    """
    assert FIRST_0245.timestamp() < SECOND_0230.timestamp()  # the oracle: instants
    with pytest.raises(InvalidAlert, match=r"^expires must be after onset") as caught:
        _build(make, sent=SECOND_0230, onset=SECOND_0230, expires=FIRST_0245)
    assert "2026-10-25T02:30:00+01:00" in str(caught.value)
    assert "2026-10-25T02:45:00+02:00" in str(caught.value)


def test_a_window_across_the_autumn_clock_change_is_kept_as_given() -> None:
    """02:30 CEST to 02:15 CET is 45 minutes, though its wall clocks go backwards.

    It was refused ("expires must be after onset"), compared by its wall clocks.
    """
    onset = dt.datetime(2026, 10, 25, 2, 30, tzinfo=SE)
    expires = dt.datetime(2026, 10, 25, 2, 15, tzinfo=SE, fold=1)
    assert expires.timestamp() - onset.timestamp() == 45 * 60
    alert = _build(pilot.explosion, sent=onset, onset=onset, expires=expires)
    last = expires.astimezone(dt.timezone.utc) - dt.timedelta(seconds=1)
    assert alert.is_active(onset) and alert.is_active(last)
    assert not alert.is_active(expires)


def test_a_wall_time_the_spring_clock_change_skips_is_named_as_such() -> None:
    """02:30 on 2026-03-29 does not exist in Sweden: the refusal says that, not 'a window'."""
    gap = dt.datetime(2026, 3, 29, 2, 30, tzinfo=SE)
    with pytest.raises(InvalidAlert, match=r"^onset must be a real clock reading"):
        _build(sent=gap, onset=gap, expires=gap + dt.timedelta(hours=1))


# --- the tip channels as typed --------------------------------------------------------------


@pytest.mark.parametrize("number", ["112", "1 12", "+46 112", "+46-112", "0046 112"])
def test_the_emergency_number_is_refused_as_a_tip_line(number: str) -> None:
    """Tips go to 114 14 or the web form: a tip request must not send the public to 112.

    It was accepted and written into the Swedish text: "Tipsa polisen: 112".
    """
    assert number.replace(" ", "").replace("-", "")[-3:] == "112"
    channels = [pilot.POLICE_TIP_WEB, TipChannel("phone", number)]
    with pytest.raises(InvalidAlert, match=r"^tip_channels\[1\] must not be the emergency number"):
        _build(tip_channels=channels)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("phone", "114 14"), ("phone", "114 14")),
        (("phone", "114 14"), ("phone", "11414")),
        (
            ("web", "https://polisen.se/lagg-fram-tips"),
            ("web", "https://polisen.se/lagg-fram-tips"),
        ),
    ],
)
def test_a_tip_channel_listed_twice_is_refused(
    first: tuple[str, str], second: tuple[str, str]
) -> None:
    """The contact read "Tipsa polisen: 114 14 eller 114 14" and two equal parameters."""
    channels = [TipChannel(*first), pilot.POLICE_TIP_WEB, TipChannel(*second)]
    if first[0] == "web":
        channels = [TipChannel(*first), pilot.POLICE_TIP_PHONE, TipChannel(*second)]
    with pytest.raises(InvalidAlert, match=r"^tip_channels\[2\] must not repeat tip_channels\[0\]"):
        _build(tip_channels=channels)


def test_other_tip_lines_than_the_police_are_still_accepted() -> None:
    """A regional number is no emergency number: the rule refuses 112 only."""
    alert = _build(tip_channels=[TipChannel("phone", "+46 77 114 14 00")])
    assert [c.uri for c in alert.tip_channels] == ["tel:+46771141400"]


def test_one_tip_channel_not_in_a_list_is_named() -> None:
    """The refusal cut the channel's repr mid-address; now it says to give a list."""
    with pytest.raises(InvalidType) as caught:
        _build(tip_channels=pilot.POLICE_TIP_WEB)
    message = str(caught.value)
    assert message.startswith("tip_channels must be a sequence of TipChannel")
    assert "[channel]" in message and "'https://polisen.se/lagg-fram-tips'" in message


# --- texts as a form sends them -------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("headline", "\u200b"),  # a zero-width space pasted from a web page
        ("headline", "\ufeff"),  # a byte-order mark from a file
        ("area_description", "\u200b \u200c"),
        ("instruction", ""),  # an empty form field
        ("instruction", " \n"),
    ],
)
def test_a_text_that_shows_nothing_is_refused(field: str, value: str) -> None:
    """A headline of a zero-width space, or an empty instruction, was accepted and sent."""
    texts = {"headline": "Vittnen sökes", "description": "Såg du något?", "area_description": "C"}
    texts[field] = value
    assert not value.strip(" \n\u200b\u200c\ufeff")  # the oracle: nothing to show
    with pytest.raises(InvalidAlert, match=rf"^{field} must not be blank"):
        pilot.Message(**texts)


@pytest.mark.parametrize("value", ["", "   "])
def test_a_blank_sender_name_is_refused(value: str) -> None:
    """``sender_name=""`` wrote ``<senderName></senderName>``: the app showed no sender."""
    with pytest.raises(InvalidAlert, match=r"^sender_name must not be blank"):
        _build(pilot.explosion, sender_name=value)


def test_swedish_text_long_text_and_no_instruction_are_kept() -> None:
    """å/ä/ö, a long description, no instruction, no sender name: kept exactly."""
    long = "Polisen söker vittnen till rånet på Åhléns City. " * 400
    sv = pilot.Message(headline="Vittnen sökes", description=long, area_description="Åhléns")
    alert = _build(sv=sv, sender_name=None)
    assert alert.infos[0].description == long and alert.infos[0].instruction is None
    assert alert.infos[0].sender_name is None
    assert alert.infos[0].contact == "Tipsa polisen: 114 14 eller https://polisen.se/lagg-fram-tips"


def test_a_missing_english_text_names_the_rule() -> None:
    """``en=None`` said only "must be a Message": now it says the alert is in sv and en."""
    with pytest.raises(InvalidType, match=r"^en must be a Message: .*Swedish \(sv\) and English"):
        _build(en=None)


# --- the pages a newcomer and an integrator read --------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
#: The pages of a first hour: set-up, quickstart, the demo, the design, the integrator's guide.
FIRST_PAGES = [
    ROOT / "README.md",
    *(ROOT / "docs" / f"{page}.rst" for page in ("index", "quickstart", "demo", "design")),
    ROOT / "docs" / "integrators.rst",
]


@pytest.mark.parametrize("page", FIRST_PAGES, ids=lambda p: p.name)
def test_the_first_pages_build_pilot_alerts_with_the_pilot_module(page: Path) -> None:
    """The integrator's guide said "the pilot's constructors" and used ``alerts.explosion``.

    ``geotarget.alerts`` keeps the pilot's names only as deprecated aliases (docs/alerts.rst).
    """
    deprecated = re.compile(
        r"\balerts\.(explosion|crime_modus|tip_request|Message|POLICE_TIP_\w+)\b"
    )
    text = page.read_text(encoding="utf-8")
    assert [m.group() for m in deprecated.finditer(text)] == []


def _public_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(geotarget.__path__) if m.name[0] != "_")


def test_the_readme_table_names_every_public_module() -> None:
    """The table "What is inside" left out ``geotarget.policy`` and ``geotarget.dask``."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text.split("## What is inside", 1)[1].split("\n\n", 2)[1]
    listed = set(re.findall(r"`geotarget\.(\w+)`", table))
    assert [m for m in _public_modules() if m not in listed] == []


def test_the_design_table_names_every_public_module() -> None:
    """The design's "one domain noun per module" table left out ``policy`` and ``dask``."""
    text = (ROOT / "docs" / "design.rst").read_text(encoding="utf-8")
    listed = set(re.findall(r"^``(\w+)``  ", text, flags=re.MULTILINE))
    assert [m for m in _public_modules() if m not in listed] == []


def test_the_design_names_every_extra_and_the_sweden_data_needs_none() -> None:
    """Packaging named four of the seven extras; the table said the data needed ``sweden``."""
    extras = importlib.metadata.metadata("geotarget").get_all("Provides-Extra") or []
    assert {"dask", "geoparquet", "sweden"} <= set(extras)
    text = (ROOT / "docs" / "design.rst").read_text(encoding="utf-8")
    packaging = text.split("\nPackaging\n", 1)[1].split("\nWhere the build departs", 1)[0]
    assert [e for e in extras if f"``{e}``" not in packaging] == []
    assert "(extra ``sweden``)" not in text


def test_the_quickstart_says_how_a_cp1252_console_gets_the_json(tmp_path: Path) -> None:
    """The JSON on a cp1252 stdout is ASCII: even ä, which cp1252 has, is a JSON escape.

    The quickstart said the escapes were "for what it cannot write".
    """
    positions = tmp_path / "devices.csv"
    positions.write_text(
        "id;lon;lat;accuracy_m;observed_at\nPär-Åsa;18,06528;59,3325;8;2024-05-20T16:00+02:00\n",
        encoding="utf-8",
    )
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="cp1252", newline="\n")
    alert = ROOT / "docs" / "examples" / "sos_explosion.xml"
    argv = ["target", "--alert", str(alert), "--positions", str(positions)]
    assert main([*argv, "--at", "2024-05-20T16:05+02:00"], out=out) == 0
    out.flush()
    written = raw.getvalue()
    assert written.isascii() and b'"P\\u00e4r-\\u00c5sa"' in written
    assert json.loads(written)["recipients"] == ["Pär-Åsa"]
    text = " ".join((ROOT / "docs" / "quickstart.rst").read_text(encoding="utf-8").split())
    assert "such as cp1252, in ASCII: every other character, ``ä`` included," in text
    assert "escapes for what it cannot write" not in text


# --- the demo with few devices --------------------------------------------------------------

_TIME = re.compile(r"^    time: (?P<total>\S+ m?s) \((?P<steps>[^)]*)\)$", re.MULTILINE)
_NOTE = re.compile(r"builds the region lookups once: '(\w+)'")


def _seconds(text: str) -> float:
    number, unit = text.split()
    return float(number) / (1000.0 if unit == "ms" else 1.0)


def _check_the_note(printed: str) -> str | None:
    """The step the first alert's note names, checked against the printed times."""
    first = _TIME.search(printed)
    assert first is not None, printed
    steps = {}
    for step in first["steps"].split(", "):
        name, value = step.split(" ", 1)
        steps[name] = _seconds(value)
    note = _NOTE.search(printed)
    if note is None:
        return None
    assert note.start() > first.end()
    slowest = max(steps, key=lambda k: steps[k])
    assert note[1] == slowest and steps[slowest] >= _seconds(first["total"]) / 2 - 1e-4
    return note[1]


def test_the_first_alerts_note_names_where_the_region_lookups_took_their_time() -> None:
    """With no device the one-off build lands in 'plan'; the demo said 'other' (0.2 ms).

    Run in a fresh process: the lookups are built once per process.
    """
    done = subprocess.run(
        [sys.executable, "-m", "geotarget", "demo", "--devices", "0"],
        capture_output=True, text=True, encoding="utf-8", timeout=300, check=True,
    )  # fmt: skip
    assert _check_the_note(done.stdout) == "plan"


@pytest.mark.parametrize("devices", [1, 3])
def test_the_demo_with_a_few_devices_says_what_is_true(devices: int) -> None:
    """It said "1 synthetic devices", and its note named 'other' whatever the times said."""
    out = io.StringIO()
    args = argparse.Namespace(devices=devices, seed=2024, plot=None, ledger=None)
    _demo.play(_demo.Out(out), args, MemoryLedger())
    printed = out.getvalue()
    noun = "device" if devices == 1 else "devices"
    assert f"\n  {devices} synthetic {noun} placed like Sweden's people;" in printed
    _check_the_note(printed)


def test_one_later_phase_not_in_a_list_is_named_with_the_fix() -> None:
    """One Phase where a list belongs: the refusal says to give a list.

    ``later_phases={"tip_request": Phase(...)}`` was refused with the Phase's repr cut short,
    mid-datetime ("tzinfo=)").
    """
    autumn = dt.datetime(2024, 9, 2, tzinfo=SE)
    alone = Phase(starts_at=autumn, regions={"01", "12", "14"})
    with pytest.raises(InvalidPolicy) as caught:
        pilot.announced_policy(later_phases={"tip_request": alone})  # type: ignore[dict-item]
    [problem] = caught.value.problems
    assert problem.path == "later_phases['tip_request']"
    assert problem.message == (
        "must be a sequence of Phase: give one phase in a list, [phase] "
        f"(got one Phase, from {autumn.astimezone(dt.timezone.utc).isoformat()})"
    )
    listed = pilot.announced_policy(later_phases={"tip_request": [alone]})
    rollout = listed.rollout("tip_request")
    assert rollout is not None and len(rollout.phases) == 2


def test_the_design_contract_says_a_nan_pair_is_a_device_without_a_fix() -> None:
    """The contract said NaN coordinates are errors; a snapshot takes a NaN pair as no fix."""
    at = dt.datetime(2024, 5, 20, 14, 0, tzinfo=dt.timezone.utc)
    nan = float("nan")
    assert len(Positions(["a", "b"], [nan, 18.0], [nan, 59.0], observed_at=at)) == 2
    with pytest.raises(InvalidPositions, match="both NaN"):
        Positions(["a"], [nan], [59.0], observed_at=at)
    with pytest.raises(InvalidCoordinates):
        Circle(nan, 59.0, 100.0)
    text = " ".join((ROOT / "docs" / "design.rst").read_text(encoding="utf-8").split())
    contract = text.split("* **Coordinates**", 1)[1].split("* **Circles", 1)[0]
    assert "NaN in both ``lon`` and ``lat`` is a device without a fix" in contract
    assert "NaN in only one of them is an error" in contract
