"""CAP input as real alerting systems send it, probe 14: other senders' times and shapes.

NWS watches expire (as messages) before their event's onset; Pacific issuers draw areas across
the 180° meridian. The oracle is the document's own times (which instants lie in a block's
window, counted by hand) and the place a ring outlines (shapely on the ring split by hand at
180°, and pyproj's geodesic distances).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from geotarget import cap

NS = "urn:oasis:names:tc:emergency:cap:1.2"
CST = timezone(timedelta(hours=-6))


def _doc(times: str, area: str = "<circle>61.2,-149.9 10</circle>") -> str:
    """A one-block CAP 1.2 document with the block's ``times`` and an ``area`` body."""
    return (
        f'<alert xmlns="{NS}"><identifier>NWS-1</identifier><sender>w-nws.webmaster@noaa.gov'
        "</sender><sent>2026-01-10T03:00:00-06:00</sent><status>Actual</status><msgType>Alert"
        "</msgType><scope>Public</scope><info><category>Met</category><event>Winter Storm Watch"
        "</event><urgency>Future</urgency><severity>Severe</severity><certainty>Possible"
        f"</certainty>{times}<area><areaDesc>Zone</areaDesc>{area}</area></info></alert>"
    )


# --- an expires before the onset of a block already in effect --------------------------------


def test_a_watch_expiring_before_its_events_onset_is_not_called_never_active() -> None:
    """Effective 03:00, expires 16:00, onset tomorrow 18:00: the block IS told 03:00 to 16:00."""
    doc = _doc(
        "<effective>2026-01-10T03:00:00-06:00</effective>"
        "<onset>2026-01-11T18:00:00-06:00</onset>"
        "<expires>2026-01-10T16:00:00-06:00</expires>"
    )
    parsed = cap.read(doc)
    # The oracle: the instants the document itself names, hour by hour.
    told = [
        h
        for h in range(0, 48)
        if parsed.alert.is_active(datetime(2026, 1, 10, tzinfo=CST) + timedelta(hours=h))
    ]
    assert told == list(range(3, 16))
    for warning in parsed.warnings:
        assert "never active" not in warning.message, warning
    [warning] = parsed.warnings
    assert warning.path == "info[0]/expires"
    assert "before onset" in warning.message and "effective" in warning.message


@pytest.mark.parametrize(
    ("times", "start"),
    [
        (  # expires before both: one warning, naming the block's start (effective)
            "<effective>2026-01-10T05:00:00-06:00</effective>"
            "<onset>2026-01-10T06:00:00-06:00</onset>"
            "<expires>2026-01-10T04:00:00-06:00</expires>",
            "effective",
        ),
        (  # onset first, effective after expires: the block starts at effective
            "<effective>2026-01-10T05:00:00-06:00</effective>"
            "<onset>2026-01-10T03:00:00-06:00</onset>"
            "<expires>2026-01-10T05:00:00-06:00</expires>",
            "effective",
        ),
        (  # no effective: the block starts at its onset
            "<onset>2026-01-10T05:00:00-06:00</onset><expires>2026-01-10T04:00:00-06:00</expires>",
            "onset",
        ),
    ],
)
def test_a_block_whose_window_is_empty_is_called_never_active_once(times: str, start: str) -> None:
    """Never active is said once, of the block's real start, and no hour of the day is told."""
    parsed = cap.read(_doc(times))
    t0 = datetime(2026, 1, 10, tzinfo=CST)
    assert not any(parsed.alert.is_active(t0 + timedelta(minutes=m)) for m in range(0, 1440, 30))
    [warning] = parsed.warnings
    assert warning.message.split(" (")[0].endswith(start)
    assert "never active" in warning.message
