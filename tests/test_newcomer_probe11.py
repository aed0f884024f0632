"""A newcomer's first hour, done literally: the README, the quickstart and the demo page.

Probed by following them in a fresh clone and comparing what they say with what happens. What
is pinned here is what was wrong: the demo's own sentences, at the sizes its ``--devices``
accepts, counted one device as "1 devices".
"""

from __future__ import annotations

import argparse
import io
import re
from pathlib import Path

import numpy as np
import pyproj
import pytest

from geotarget import _demo
from geotarget.ledger import MemoryLedger


def _play(devices: int, seed: int) -> str:
    out = io.StringIO()
    args = argparse.Namespace(devices=devices, seed=seed, plot=None, ledger=None)
    _demo.play(_demo.Out(out), args, MemoryLedger())
    return out.getvalue()


#: A number of one followed by a plural noun or verb (not "1,001 devices" or "0.1 devices").
ONE_PLURAL = re.compile(
    r"(?<![\d,.])1 (?:synthetic )?(?:devices|fresh fixes|are)\b|\(1\) are\b"
    r"|(?<![\d,.])1 of the [\d,]+ devices? that walked towards Sergels torg are\b"
)


# (100, 0): one device walks to Sergels torg and is the only one told about each alert;
# (30, 1): one walker, told the tip request only; (0, 2024): nobody at all; (100_000, 3): one
# device told before is no longer covered by the Update.
@pytest.mark.parametrize(("devices", "seed"), [(100, 0), (30, 1), (0, 2024), (100_000, 3)])
def test_the_demo_counts_one_device_as_one_device(devices: int, seed: int) -> None:
    """One device is "1 device", in every sentence the demo writes.

    It said "1 devices send fresh fixes", "on_positions(1 fresh fixes)", "already told (1) are
    not told twice", "all 1 are still covered", "1 of the 1 device that walked ... are in it",
    "1 are no longer covered: their newest fix ...", "all-clear to 1 devices" and "reached 1
    devices, each once" (and "reached 0 devices, each once", "all 0 are still covered").
    """
    text = _play(devices, seed)
    # (The Cancel's reason, the targeter's words, says "the 1 device told about" too.)
    assert [line for line in text.splitlines() if ONE_PLURAL.search(line)] == []
    for reached in re.findall(r"reached ([\d,]+) devices?(, each once)?", text):
        assert reached[1] == (", each once" if int(reached[0].replace(",", "")) > 1 else "")
    walked = re.search(r"\n4\. 14:20: ([\d,]+) (devices? sends?)", text)
    assert walked is not None
    expected = "device sends" if walked.group(1) == "1" else "devices send"
    assert walked.group(2) == expected
    assert "all 0 are" not in text and "(0) are not told twice" not in text
    if devices == 0:
        assert "nobody was told before (0 in scene 1, 0 from fresh fixes)" in text
        assert "the explosion alert reached no device\n" in text
        assert "the tip request reached no device\n" in text


def test_one_walker_told_both_alerts_is_said_so_in_words() -> None:
    """The run where exactly one device is told each alert, sentence by sentence.

    That device is told by its fresh fix: nobody is in either area at 14:00, and the Update
    covers no one else.
    """
    text = _play(100, 0)
    assert "\n4. 14:20: 1 device sends a fresh fix after walking towards Sergels torg;" in text
    assert "\r  on_positions(1 fresh fix): " in text  # (a step line starts "\r")
    assert "all-clear to 1 device = 0 (scene 1) + 1 (fresh fixes) + 0 (the Update)" in text
    assert "\n  the explosion alert reached 1 device\n" in text
    assert "\n  the tip request reached 1 device\n" in text
    assert "already told (1) is not told twice: of the 1 told before" in text
    assert "\n    it is still covered: the area only grew" in text
    assert "and 1 of the 1 device that walked towards Sergels torg is in it" in text


def test_one_told_device_the_update_no_longer_covers_is_said_so() -> None:
    """It said "1 are no longer covered: their newest fix ... (they walked away)".

    Oracle: pyproj's geodesic distance of that device's newest fix from Sergels torg, and
    whether that fix differs from its first one (it walked), from the demo's own snapshots.
    """
    out = io.StringIO()
    args = argparse.Namespace(devices=100_000, seed=3, plot=None, ledger=None)
    stage, story = _demo.play(_demo.Out(out), args, MemoryLedger())
    text = out.getvalue()
    gone = story.results["update"].no_longer_covered.tolist()
    assert len(gone) == 1
    assert story.now is not None
    row = int(story.now.rows_of(np.asarray(gone))[0])
    lon, lat = float(story.now.lon[row]), float(story.now.lat[row])
    *_, metres = pyproj.Geod(ellps="WGS84").inv(18.06528, 59.3325, lon, lat)
    assert metres > 1000.0  # outside the Update's 1 km circle
    assert (lon, lat) != (float(stage.positions.lon[row]), float(stage.positions.lat[row]))
    flat = " ".join(text.split())  # (the sentence is wrapped)
    assert (
        "and 1 is no longer covered: its newest fix lies outside even the wider area (it walked "
        "away). It is not told again; a Cancel's all-clear still reaches it." in flat
    )
    # Wrapped at 100 columns as the demo's other long lines are (it was one of 190).
    assert all(len(line) <= 100 for line in text.splitlines() if "no longer covered" in line)


def test_a_map_name_with_a_newline_is_said_escaped(tmp_path: Path) -> None:
    """The demo's "map written to" line shows a newline in a --plot name escaped, on one line."""
    name = str(tmp_path / "a\nb.png")
    out = io.StringIO()
    args = argparse.Namespace(devices=100, seed=0, plot=name, ledger=None)
    assert _demo.run(args, out) == 0
    text = out.getvalue()
    [line] = [line for line in text.splitlines() if "map written to" in line]
    assert "a\\nb.png" in line
    assert (tmp_path / "a\nb.png").stat().st_size > 0
