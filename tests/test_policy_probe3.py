"""Probes of policies as integrators write them by hand: other kinds, countries and clocks.

Each test checks one answer against an oracle of its own (plain Python over the file's
values), with inputs the other policy tests do not use: a Norwegian or made-up country,
phases at the daylight-saving changes of Europe/Stockholm, canaries and pauses.
"""

from __future__ import annotations

from geotarget.rollout import RolloutPolicy


def _flood(text: str) -> RolloutPolicy:
    return RolloutPolicy.from_toml('timezone = "Europe/Stockholm"\n' + text)


# --- diffs: what an operator reads before deploying ----------------------------------------


def test_diff_says_the_share_of_a_canary_or_a_pause_that_starts_or_ends() -> None:
    """A kind that starts as a 10 % canary, then pauses at 0 %, is not told as every device.

    The diff said "+ 01" for a window in which the new version enables 01 for 10 % of
    devices, and "+ 01, 12" for one in which it enables them for nobody (a 0 % pause), as if
    they reached everybody there.
    """
    old = _flood('[[kinds.flood.phases]]\nstarts_at = 2024-05-01\nregions = ["01"]\n')
    new = _flood(
        """
        [[kinds.flood.phases]]
        starts_at = 2024-05-01
        regions = ["01"]

        [[kinds.gas.phases]]
        starts_at = 2024-03-31T03:00:00
        regions = ["01"]
        percentage = 10

        [[kinds.gas.phases]]
        starts_at = 2024-10-27T02:00:00+01:00
        regions = ["01", "12"]
        percentage = 10

        [[kinds.gas.phases]]
        starts_at = 2024-10-28
        regions = ["01", "12"]
        percentage = 0
        rollback = true

        [[kinds.gas.phases]]
        starts_at = 2024-11-04
        regions = ["01", "12", "14"]
        percentage = 0
        """
    )
    forward = str(old.diff(new)).splitlines()[2:]
    assert forward == [
        "  gas from 2024-03-31 03:00 until 2024-10-27 02:00 (UTC+01:00) Europe/Stockholm: "
        "+ 01 for 10% of devices",
        "  gas from 2024-10-27 02:00 (UTC+01:00) until 2024-10-28 00:00 Europe/Stockholm: "
        "+ 01, 12 for 10% of devices",
        "  gas from 2024-10-28 00:00 until 2024-11-04 00:00 Europe/Stockholm: "
        "+ 01, 12 for 0% of devices (nobody)",
        "  gas from 2024-11-04 00:00 Europe/Stockholm onwards: "
        "+ 01, 12, 14 for 0% of devices (nobody)",
    ]
    back = str(new.diff(old)).splitlines()[2:]
    assert back[0].endswith(": - 01 for 10% of devices")
    # A window whose percentage changes says so once, not beside the codes.
    wider = _flood(
        """
        [[kinds.gas.phases]]
        starts_at = 2024-03-31T03:00:00
        regions = ["01", "12"]
        percentage = 50
        """
    )
    assert str(new.diff(wider)).splitlines()[-4:] == [
        "  gas from 2024-03-31 03:00 until 2024-10-27 02:00 (UTC+01:00) Europe/Stockholm: "
        "+ 12; percentage 10% -> 50%",
        "  gas from 2024-10-27 02:00 (UTC+01:00) until 2024-10-28 00:00 Europe/Stockholm: "
        "percentage 10% -> 50%",
        "  gas from 2024-10-28 00:00 until 2024-11-04 00:00 Europe/Stockholm: percentage 0% -> 50%",
        "  gas from 2024-11-04 00:00 Europe/Stockholm onwards: - 14; percentage 0% -> 50%",
    ]
    # A full phase stays as it was written: codes alone.
    assert str(_flood("").diff(old)).splitlines()[-1].endswith(": + 01")
