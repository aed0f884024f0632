"""Private: the work one CAP document's polygons may cost together, and what they share.

GEOS's validity check costs time that grows with the pairs of a ring's edges whose boxes
overlap, and a repair with the points where the ring meets itself. :class:`geotarget.Polygon`
bounds one ring; a CAP document bounds its polygons together (:class:`PolygonBudget`), so that
reading one costs at most about what checking and repairing one polygon at the limits does.

A ring is counted once however many times the document repeats it: a drawn area is written
once per language (``sv-SE`` and ``en`` info blocks carrying the same ``<area>``), and reading
it checks and repairs it once (:func:`one_document` shares each distinct ring's parts among
the areas built meanwhile). So what :class:`geotarget.Polygon`, the alert model and the
pilot's constructors accept, :func:`geotarget.cap.dumps` writes and :func:`geotarget.cap.read`
reads back; what the document's budget refuses, :class:`geotarget.alerts.Alert` refuses when
it is built, with the message the reader gives (:func:`check_alert`).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely

from geotarget import _geos
from geotarget.errors import InvalidAlert

if TYPE_CHECKING:
    from geotarget.alerts._area import AlertArea


class _Document:
    """What the areas of one document share while it is built."""

    __slots__ = ("budgeted", "rings")

    def __init__(self, *, budgeted: bool) -> None:
        #: Each distinct ring met so far: its parts and how they were made (AlertArea).
        self.rings: dict[Any, Any] = {}
        #: Whether the document's polygon budget was spent already (by the CAP reader).
        self.budgeted = budgeted


_DOCUMENT: ContextVar[_Document | None] = ContextVar("geotarget_cap_document", default=None)


@contextlib.contextmanager
def one_document(*, budgeted: bool) -> Iterator[None]:
    """Build the areas and the alert of one document: identical rings are checked once.

    ``budgeted``: the caller spent the document's :class:`PolygonBudget` itself (the CAP
    reader, which does so polygon by polygon as it reads), so the alert built inside need not
    count it again.
    """
    token = _DOCUMENT.set(_Document(budgeted=budgeted))
    try:
        yield
    finally:
        _DOCUMENT.reset(token)


def shared_rings() -> dict[Any, Any] | None:
    """The rings of the document being built (:func:`one_document`); None outside one."""
    doc = _DOCUMENT.get()
    return None if doc is None else doc.rings


def budget_spent() -> bool:
    """Whether the document being built has had its polygon budget spent already."""
    doc = _DOCUMENT.get()
    return doc is not None and doc.budgeted


class PolygonBudget:
    """What is left of one document's budgets for its polygons; each distinct ring once.

    The edge pairs whose boxes overlap, beyond each polygon's own
    :data:`geotarget._geos.VALIDITY_PAIRS_PER_EDGE` per edge, that the validity checks may
    still meet (:data:`geotarget._geos.VALIDITY_SPARE_PAIRS` in all), and the points where
    self-crossing rings meet themselves that repairs may still take
    (:data:`geotarget._geos.MAX_DOCUMENT_CROSSINGS`, counted among a bounded number of edge
    pairs). A ring equal to one counted before (the same points in the same order) costs
    nothing more and gets the same verdict: it is checked and repaired once.
    """

    def __init__(self) -> None:
        self.validity_left = _geos.VALIDITY_SPARE_PAIRS
        self.crossings_left = _geos.MAX_DOCUMENT_CROSSINGS
        self.pairs_left = _geos.BOX_PAIRS_PER_CROSSING * _geos.MAX_DOCUMENT_CROSSINGS
        #: The first self-crossing polygon counted, and the one past the budget (paths).
        self.crossed: str | None = None
        self.past_budget: str | None = None
        #: Each distinct ring counted (a digest of its coordinates): its verdict.
        self.seen: dict[bytes, str | None] = {}

    def refusal(
        self, lonlat: np.ndarray[Any, Any], path: str, *, simple: bool | None = None
    ) -> str | None:
        """Why the polygon at ``path`` is past the budget, after spending it; None if within.

        ``lonlat``: the closed ring, ``(n, 2)`` lon/lat. ``simple``: whether the ring is known
        to be simple (a model's polygon that needed no repair), else GEOS says.
        """
        ring = np.ascontiguousarray(lonlat, dtype=np.float64)
        key = hashlib.blake2b(ring.tobytes(), digest_size=16).digest()
        if key not in self.seen:
            self.seen[key] = self._spend(ring, path, simple)
        return self.seen[key]

    def _spend(self, lonlat: np.ndarray[Any, Any], path: str, simple: bool | None) -> str | None:
        if len(lonlat) < 4:
            return None  # (fewer than 3 distinct points: the model's "encloses no area")
        per_edge = _geos.VALIDITY_PAIRS_PER_EDGE * (len(lonlat) - 1)
        pairs = _geos.validity_pairs([lonlat], per_edge + self.validity_left)
        if pairs is None:
            self.validity_left = 0
            return f"must {_geos.CHECKABLE}"
        self.validity_left -= max(pairs - per_edge, 0)
        if simple:
            return None
        ring = shapely.Polygon(lonlat)  # O(n log n); simple rings stop here
        return None if shapely.is_valid(ring) else self._repairable(ring, path)

    def _repairable(self, ring: shapely.Polygon, path: str) -> str | None:
        """Why a ring that is not simple may not be repaired, after spending; None if it may.

        Once a polygon is past the limit, the later ones that are not simple are refused
        uncounted.
        """
        limit = _geos.MAX_DOCUMENT_CROSSINGS
        counted = "counted among a bounded number of edge pairs whose boxes overlap"
        if self.past_budget is not None:
            return (
                f"crosses or touches itself, and the document's self-crossing polygons already "
                f"meet themselves at more than {limit:,} points (reached at "
                f"{self.past_budget}): geotarget repairs at most {limit:,} in one document (a "
                "limit of geotarget: CAP sets none); send them as simple polygons"
            )
        count, spent = _geos.count_crossings(ring, self.crossings_left, self.pairs_left)
        if count <= self.crossings_left:
            self.crossings_left -= count
            self.pairs_left -= spent
            self.crossed = self.crossed or path
            return None
        self.past_budget = path
        points = len(shapely.get_coordinates(ring))
        if self.crossed is None:
            return (
                f"crosses or touches itself at more than {_geos.MAX_CROSSINGS:,} points, "
                f"{counted} ({points:,} points in all): repairing a polygon takes time that "
                "grows with its crossings, which can grow with the square of its points, so "
                "geotarget refuses it (a limit of geotarget: CAP allows a polygon to cross "
                "itself); send it as simple polygons"
            )
        return (
            f"crosses or touches itself ({points:,} points in all), and with it the "
            f"document's self-crossing polygons meet themselves at more than {limit:,} "
            f"points, {counted} ({limit - self.crossings_left:,} in those before it, from "
            f"{self.crossed}): repairing polygons takes time that grows with their "
            f"crossings, so geotarget repairs at most {limit:,} in one document, as in one "
            "polygon (a limit of geotarget: CAP sets none); send them as simple polygons"
        )


def check_alert(areas: Sequence[Sequence[AlertArea]]) -> None:
    """InvalidAlert when the polygons of an alert's document would pass its budget.

    ``areas``: each info block's areas, in document order. The model bounds each polygon on
    its own; the document bounds its distinct polygons together, in document order, as the
    reader does. Rings the model found simple are not checked again.
    """
    if not any(area.repaired_polygons or area.empty_polygons for block in areas for area in block):
        # Every ring simple: only the pairs of edges count, at most m * (m - 1) / 2 for a ring
        # of m edges. Within the document's spare pairs in all, none is refused (the common
        # case, a drawn area: no pair is counted).
        rings = {r for block in areas for area in block for r in area.polygons}
        if sum((len(r) - 1) * (len(r) - 2) // 2 for r in rings) <= _geos.VALIDITY_SPARE_PAIRS:
            return
    budget = PolygonBudget()
    for i, block in enumerate(areas):
        for j, area in enumerate(block):
            odd = {*area.repaired_polygons, *area.empty_polygons}
            for k, ring in enumerate(area.polygons):
                path = f"info[{i}]/area[{j}]/polygon[{k}]"
                lonlat = np.asarray(ring, dtype=np.float64)
                why = budget.refusal(lonlat, path, simple=None if k in odd else True)
                if why is not None:
                    raise InvalidAlert(
                        "alert is too complex for CAP as geotarget reads it, which bounds the "
                        f"work on one document's polygons together: {path}: {why}; split it "
                        "into several alerts"
                    )
