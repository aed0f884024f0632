"""Area.contains over 1.2 M synthetic Swedish devices against a polygonised circle in shapely.

The peer is what a user would otherwise write: ``shapely.contains_xy`` on a prepared 256-gon of
the circle. It is not even correct (it loses devices just inside the rim); geotarget is exact.

Also the construction of a large polygon (a CAP document or region file may carry one): a
100,000-vertex ring through :class:`~geotarget.Polygon` (validated, oriented, prepared) against
shapely building, validating and preparing the same array, gated at a 0.5 s budget (issue 13:
time grows with the vertex count, and "well under a second" for the adversarial inputs).
"""

from __future__ import annotations

from functools import partial

import numpy as np
import shapely
import shapely.geometry as sg
from _harness import Gate, Report, Timing, best_of
from _host import Budgets
from _population import STOCKHOLM_C, population

from geotarget import Circle, Polygon
from geotarget._geodesy import geod


def run(quick: bool) -> Report:
    """Time a 10 km and a 1 km circle at Stockholm C over every device, and a large polygon."""
    lon, lat = population()
    report = Report()
    budgets = Budgets()
    repeat = 3 if quick else 10
    for radius in (1_000.0, 10_000.0):
        scenario = f"contains: {radius / 1000:g} km circle, {lon.size:,} devices"
        circle = Circle(*STOCKHOLM_C, radius)
        az = np.linspace(0.0, 360.0, 256, endpoint=False)
        rim_lon, rim_lat, _ = geod().fwd(
            np.full(256, circle.lon), np.full(256, circle.lat), az, np.full(256, radius)
        )
        gon = sg.Polygon(np.column_stack([rim_lon, rim_lat]))
        shapely.prepare(gon)
        ours = circle.contains(lon, lat)
        peer = shapely.contains_xy(gon, lon, lat)
        lost = int((ours & ~peer).sum())
        report.add(
            Timing(
                scenario,
                "geotarget Area.contains",
                best_of(partial(circle.contains, lon, lat), repeat=repeat),
                lon.size,
                f"{int(ours.sum()):,} inside (exact)",
            )
        )
        report.add(
            Timing(
                scenario,
                "shapely contains_xy, prepared 256-gon",
                best_of(partial(shapely.contains_xy, gon, lon, lat), repeat=repeat),
                lon.size,
                f"{int(peer.sum()):,} inside; loses {lost} truly inside",
            )
        )
        report.gates.append(
            Gate(scenario, "geotarget Area.contains", "shapely contains_xy, prepared 256-gon", 1.0)
        )
    _large_polygon(report, repeat, budgets)
    budgets.close(report)
    return report


#: Vertices of the large-polygon scenario, and its budget (seconds).
LARGE_RING = 100_000
LARGE_RING_BUDGET = 0.5


def _large_polygon(report: Report, repeat: int, budgets: Budgets) -> None:
    """Build a 100,000-vertex polygon: geotarget's validated Polygon and shapely's."""
    t = np.linspace(0.0, 2.0 * np.pi, LARGE_RING, endpoint=False)
    wobble = 1.0 + 0.05 * np.sin(37.0 * t)  # not convex: a real boundary has bays
    ring = np.column_stack(
        [STOCKHOLM_C[0] + 0.2 * wobble * np.cos(t), STOCKHOLM_C[1] + 0.1 * wobble * np.sin(t)]
    )
    scenario = f"Polygon(): a {LARGE_RING:,}-vertex ring, validated and prepared"

    def shapely_peer() -> None:
        shape = shapely.polygons(ring)
        assert shapely.is_valid(shape)
        shapely.prepare(shape)

    ours = "geotarget Polygon(ndarray)"
    report.add(Timing(scenario, ours, best_of(partial(Polygon, ring), repeat=repeat)))
    report.add(
        Timing(
            scenario,
            "shapely polygons + is_valid + prepare",
            best_of(shapely_peer, repeat=repeat),
            note="builds no canonical (oriented, rotated) rings",
        )
    )
    budgets.add(scenario, "budget", LARGE_RING_BUDGET, note="issue 13")
    report.gates.append(Gate(scenario, ours, "budget", 1.0))
