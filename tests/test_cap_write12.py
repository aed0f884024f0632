"""``cap.dumps`` spends the reader's polygon budgets only where they could run out (probe 12).

``dumps`` refuses what ``loads`` would refuse for one document's polygons together (the
pairs of edges its validity checks meet, a self-crossing area repeated per language). A
document of simple rings whose edges make fewer pairs in all than the document's spare cannot
run out: its rings are not counted again, as every ``Targeter.target`` of a drawn area writes
one (about a millisecond for a municipality in two languages).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest

from geotarget import Area, Polygon, _geos, cap, pilot

AT = dt.datetime(2026, 5, 4, 21, 30, tzinfo=dt.timezone.utc)
TEXT = pilot.Message(headline="Tips", description="Tips sökes.", area_description="Området")


def _star(n: int, lon: float = 18.0, lat: float = 59.3) -> np.ndarray[Any, Any]:
    """A simple ring of ``n`` vertices (a star: radius alternating), closed."""
    a = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    r = np.where(np.arange(n) % 2 == 0, 0.05, 0.03)
    ring = np.column_stack([lon + r * np.cos(a) * 2.0, lat + r * np.sin(a)])
    return np.vstack([ring, ring[:1]])


def _alert(*rings: np.ndarray[Any, Any]) -> Any:
    return pilot.tip_request(
        identifier="T-1",
        sender="polisen@polisen.se",
        sent=AT,
        area=Area([Polygon(r) for r in rings]),
        sv=TEXT,
        en=TEXT,
        onset=AT,
        expires=AT + dt.timedelta(hours=2),
    )


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = _geos.validity_pairs

    def counted(rings: list[Any], budget: int) -> int | None:
        calls.append(sum(r.shape[0] for r in rings))
        return real(rings, budget)

    monkeypatch.setattr(_geos, "validity_pairs", counted)
    return calls


def test_simple_rings_within_the_spare_pairs_are_not_counted_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    alert = _alert(_star(280), _star(600, lon=18.3))
    calls = _counting(monkeypatch)
    text = cap.dumps(alert)
    assert calls == []
    assert cap.loads(text).infos == alert.infos  # and the reader takes it back


def test_rings_whose_pairs_could_pass_the_spare_are_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    m = int(np.sqrt(2 * _geos.VALIDITY_SPARE_PAIRS)) + 8  # m * (m - 1) / 2 above the spare
    alert = _alert(_star(m))
    calls = _counting(monkeypatch)
    assert cap.loads(cap.dumps(alert)).infos == alert.infos
    assert calls and calls[0] == m + 1  # written and read: every pair counted
