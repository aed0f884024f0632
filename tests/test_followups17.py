"""Follow-ups of stop 69's probes, fixed outside the helpers' files.

Each test fails on the code before its fix.
"""

from __future__ import annotations

import copy
import datetime as dt
import pickle

from geotarget import Circle, PositionIndex, Positions, pilot, sweden
from geotarget.alerts import Alert
from geotarget.targeting import Outcome, Targeter

AT = dt.datetime(2024, 5, 20, 14, 0, tzinfo=dt.timezone.utc)
MSG = pilot.Message(headline="x", description="x", area_description="x")


def _tip(identifier: str, area: Circle) -> Alert:
    return pilot.tip_request(
        identifier=identifier, sender="polisen@polisen.se", sent=AT, area=area, sv=MSG, en=MSG,
        onset=AT, expires=AT + dt.timedelta(hours=2),
    )  # fmt: skip


def test_explain_names_the_region_left_out_and_from_when_in_preview_and_copies() -> None:
    """A device a region left out is told its region and the phase date, whoever asks.

    ``target`` and ``preview`` say it; a pickled or deep-copied result keeps its rows but not
    the policy, and says the general sentence. The date is the pilot file's phase 3 (Uppsala
    County, where Knivsta and Håbo lie, is enabled only with all of Sweden).
    """
    t = Targeter(sweden.hierarchy(), sweden.pilot_policy(), recognition=pilot.RECOGNITION)
    # Sigtuna (Stockholm County, enabled), Knivsta and Bålsta (Uppsala County, not yet).
    index = PositionIndex(
        Positions(["sigtuna", "knivsta", "balsta"], [17.86, 17.79, 17.54], [59.62, 59.73, 59.57],
                  accuracy_m=[5.0] * 3, observed_at=AT)
    )  # fmt: skip
    area = Circle(17.72, 59.65, 20_000.0)
    for result in (t.preview(_tip("p-1", area), index, AT), t.target(_tip("t-1", area), index, AT)):
        assert result.outcome_of("knivsta") is Outcome.OUTSIDE_ROLLOUT
        assert result.outcome_of("balsta") is Outcome.OUTSIDE_ROLLOUT
        assert "not enabled in Knivsta: phase 3" in result.explain("knivsta")
        assert "not enabled in Håbo: phase 3" in result.explain("balsta")
        assert "starts 2025-01-13 00:00 Europe/Stockholm" in result.explain("balsta")
        assert result.outcome_of("sigtuna") is not Outcome.OUTSIDE_ROLLOUT
        for copied in (pickle.loads(pickle.dumps(result)), copy.deepcopy(result)):
            assert copied.explain("knivsta").endswith("RolloutPolicy.explain says from when)")
