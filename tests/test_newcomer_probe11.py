"""A newcomer's first hour, done literally: the README, the quickstart and the demo page.

Probed by following them in a fresh clone and comparing what they say with what happens. What
is pinned here is what was wrong: the demo's own sentences, at the sizes its ``--devices``
accepts, counted one device as "1 devices".
"""

from __future__ import annotations

import argparse
import io
import re

import pytest

from geotarget import _demo
from geotarget.ledger import MemoryLedger


def _play(devices: int, seed: int) -> str:
    out = io.StringIO()
    args = argparse.Namespace(devices=devices, seed=seed, plot=None, ledger=None)
    _demo.play(_demo.Out(out), args, MemoryLedger())
    return out.getvalue()


#: A number of one followed by a plural noun (not "1,001 devices" or "0.1 devices").
ONE_PLURAL = re.compile(r"(?<![\d,.])1 (?:synthetic )?(?:devices|fresh fixes)\b")


# (100, 0): one device walks to Sergels torg and is the only one told about each alert;
# (30, 1): one walker, told the tip request only; (0, 2024): nobody at all.
@pytest.mark.parametrize(("devices", "seed"), [(100, 0), (30, 1), (0, 2024)])
def test_the_demo_counts_one_device_as_one_device(devices: int, seed: int) -> None:
    """One device is "1 device", in every sentence the demo writes.

    It said "1 devices send fresh fixes", "on_positions(1 fresh fixes)", "all-clear to 1
    devices" and "reached 1 devices, each once" (and "reached 0 devices, each once").
    """
    text = _play(devices, seed)
    # (The Cancel's reason is the targeter's words, not the demo's: see the report.)
    lines = [line for line in text.splitlines() if "CANCELLED:" not in line]
    assert [line for line in lines if ONE_PLURAL.search(line)] == []
    assert "devices, each once" not in re.sub(r"reached [\d,]*[02-9] devices, each once", "", text)
    walked = re.search(r"\n4\. 14:20: ([\d,]+) (devices? sends?)", text)
    assert walked is not None
    expected = "device sends" if walked.group(1) == "1" else "devices send"
    assert walked.group(2) == expected
    if devices == 0:
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
