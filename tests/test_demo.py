"""``geotarget demo``: the pilot told as a story — names, tip channels, phases, why counts change."""

from __future__ import annotations

import argparse
import io
import re
from typing import Any

import numpy as np
import pytest

from geotarget import PositionIndex, _demo
from geotarget.ledger import MemoryLedger
from geotarget.targeting import Targeter, Verdict


@pytest.fixture(scope="module")
def played() -> tuple[str, Any, Any]:
    """The demo played once on 30,000 devices: its text, stage and story."""
    out = io.StringIO()
    args = argparse.Namespace(devices=30_000, seed=2024, plot=None, ledger=None)
    stage, story = _demo.play(_demo.Out(out), args, MemoryLedger())
    return out.getvalue(), stage, story


def test_demo_names_regions_and_the_tip_channels(played: tuple[str, Any, Any]) -> None:
    """Counties appear as name and code; the tip request says where tips go (114 14, web)."""
    text = played[0]
    assert "new recipients per county: Stockholms län (01) " in text
    assert not re.search(r"per county: \d", text)  # never a bare code
    assert "tips go: 114 14 (phone) or https://polisen.se/lagg-fram-tips" in text
    assert "+ Skåne län (12), Västra Götalands län (14)" in text


def test_demo_marks_illustrative_dates_and_numbers_phases_from_one(
    played: tuple[str, Any, Any],
) -> None:
    """Later phases say "(illustrative date)"; phases are numbered 1, 2, 3 and never 0."""
    text = played[0]
    policy_lines = [line for line in text.splitlines() if line.startswith("    phase ")]
    assert [line.split()[1] for line in policy_lines] == ["1", "1", "2", "3"]
    assert [line.endswith("(illustrative date)") for line in policy_lines] == [
        False, False, True, True,
    ]  # fmt: skip
    assert "phase 0" not in text
    assert "(NATIONWIDE, phase 1)" in text and "(PHASE_ACTIVE, phase 1)" in text
    assert re.search(
        r"why: Crime modus alerts are not enabled in Göteborg: phase 2, .*"
        r"starts 2024-09-02 00:00 Europe/Stockholm \(illustrative date\)\.",
        text,
    )


def test_demo_shows_the_blocked_alert_as_blocked_with_its_reason(
    played: tuple[str, Any, Any],
) -> None:
    """The Göteborg crime-modus alert is BLOCKED, reaches nobody, and the text says why."""
    text, _, story = played
    assert story.results["modus"].verdict is Verdict.AREA_OUTSIDE_ROLLOUT
    assert len(story.results["modus"].recipients) == 0
    assert "BLOCKED (AREA_OUTSIDE_ROLLOUT): nobody is told — the alert area lies wholly" in text
    assert "crime-modus alert in Göteborg reached nobody: blocked by the rollout" in text
    assert story.modus.identifier not in story.streamed


def test_demo_explains_why_counts_change(played: tuple[str, Any, Any]) -> None:
    """Scene 5 explains why covered devices and old fixes grow and the no-fix count does not."""
    text, _, story = played
    first, update = story.results["explosion"], story.results["update"]
    assert "why the counts differ from scene 1:" in text
    assert re.search(r"covered [\d,]+ → [\d,]+: the area is 4× larger \(0\.79 → 3\.14 km²\)", text)
    # The old fixes' line describes the counts, whichever way they moved (at 30,000 devices
    # and seed 2024 they fall, 1 → 0: a device that walked in sent a fresh fix).
    assert re.search(
        r"old fixes ([\d,]+) → ([\d,]+): the fixes in the area older than the 1 h freshness limit",
        text,
    )
    assert "more fixes are past" not in text
    assert "devices without any fix are counted for every alert" in text
    assert f"all-clear to {len(story.results['cancel'].retract):,} devices = " in text
    total = len(first.recipients) + story.streamed.get(story.explosion.identifier, 0)
    assert len(story.results["cancel"].retract) == total + len(update.recipients)


def test_no_longer_covered_is_what_the_wider_area_no_longer_covers(
    played: tuple[str, Any, Any],
) -> None:
    """no_longer_covered = told before minus what the Update's area covers, per a fresh Targeter."""
    text, stage, story = played
    update = story.results["update"]
    # Ids compared as canonical text: no_longer_covered is documented as str.
    told_before = {str(i) for i in story.results["explosion"].recipients.tolist()} | {
        str(i) for i in story.streamed_ids.get(story.explosion.identifier, [])
    }
    # An independent answer: the same area as a new alert, over the same snapshot, no ledger.
    alone = Targeter(stage.hierarchy, stage.policy).target(
        story.update.__class__(  # the Update's content as a first Alert
            identifier="independent",
            sender=story.update.sender,
            sent=story.update.sent,
            status=story.update.status,
            msg_type="Alert",
            scope=story.update.scope,
            infos=story.update.infos,
        ),
        PositionIndex(story.now),
        story.update.sent,
    )
    covered_now = {str(i) for i in alone.recipients.tolist()}
    gone = told_before - covered_now
    assert set(update.no_longer_covered.tolist()) == gone
    assert update.already_delivered == len(told_before & covered_now)
    assert {str(i) for i in update.recipients.tolist()} == covered_now - told_before
    if gone:
        assert f"{len(gone):,} are no longer covered" in text
    else:
        assert "(no longer covered: 0)" in text


def test_widening_update_counts_a_device_that_walked_away(played: tuple[str, Any, Any]) -> None:
    """A told device whose newest fix is 5 km away is the one the 1 km Update no longer covers."""
    _, stage, story = played
    t = Targeter(stage.hierarchy, stage.policy)
    index = PositionIndex(stage.positions)
    first = t.target(story.explosion, index, stage.at)
    assert first.claims is not None
    t.confirm(first.claims.keys(), stage.at)  # pushed: they were told
    walker = first.recipients[0]
    row = stage.positions.rows_of(np.array([walker]))
    lon = stage.positions.lon.copy()
    lon[row] += 0.09  # about 5 km east
    moved = type(stage.positions)(
        stage.positions.ids,
        lon,
        stage.positions.lat,
        accuracy_m=stage.positions.accuracy_m,
        observed_at=stage.positions.observed_at,
    )
    update = t.target(story.update, PositionIndex(moved), story.update.sent)
    assert update.no_longer_covered.tolist() == [str(walker)]
    assert update.already_delivered == len(first.recipients) - 1


def test_map_has_title_legends_recipients_phases_and_a_blocked_alert(
    played: tuple[str, Any, Any],
) -> None:
    """The map's artists: title, legends, phases, told devices, labels, a grey dashed blocked alert."""
    pytest.importorskip("matplotlib", reason="the map needs the plot extra")
    import matplotlib.colors
    import matplotlib.pyplot as plt

    from geotarget import _plot

    _, stage, story = played
    args = _demo.map_args(stage, story)
    fig = _plot.pilot_figure(**args)
    try:
        assert "Swedish Police pilot on 2024-05-20 14:00" in fig._suptitle.get_text()
        legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
        texts = [t.get_text() for legend in legends for t in legend.get_texts()]
        assert "phase 1 from 2024-04-15 — active now" in texts
        assert "phase 2 from 2024-09-02 (illustrative date)" in texts
        assert "phase 3 from 2025-01-13 (illustrative date)" in texts
        assert "device told an alert" in texts
        assert "blocked alert area (nobody told)" in texts
        assert {"explosion alert area", "tip request alert area"} <= set(texts)
        big, sthlm, gbg = fig.axes
        assert all(ax.get_title() for ax in fig.axes)
        # The devices told, highlighted at their newest positions.
        told = [
            c for c in sthlm.collections
            if len(c.get_offsets()) and tuple(c.get_facecolor()[0][:3])
            == pytest.approx(matplotlib.colors.to_rgb(_plot.TOLD_COLOUR))
        ]  # fmt: skip
        assert len(told) == 1
        lon, lat = args["lon_lat"]
        rows = args["told"]
        w, e = sthlm.get_xlim()
        s, n = sthlm.get_ylim()
        inside = (lon[rows] > w) & (lon[rows] < e) & (lat[rows] > s) & (lat[rows] < n)
        assert len(told[0].get_offsets()) == int(inside.sum()) > 100
        # Labels: every alert area is named on a zoom; the blocked one says so.
        labels = [t.get_text() for ax in (sthlm, gbg) for t in ax.texts]
        for name in ("Explosion, 500 m", "Explosion Update, 1 km", "Tip request, 2 km"):
            assert name in labels
        assert "Crime modus, 3 km\nBLOCKED by the rollout: nobody told" in labels
        # The blocked area: dashed, in the blocked colour, not in any alert's colour.
        dashed = [line for line in gbg.lines if line.get_linestyle() == "--"]
        assert dashed and all(line.get_color() == _plot.BLOCKED_COLOUR for line in dashed)
        assert _plot.BLOCKED_COLOUR not in _plot.ALERT_COLOURS.values()
        # The rollout's regions: Stockholm County filled in phase 1's colour.
        fills = {p.get_facecolor()[:3] for p in big.patches}
        assert matplotlib.colors.to_rgb(_plot.PHASE_COLOURS[0]) in fills
    finally:
        plt.close(fig)
