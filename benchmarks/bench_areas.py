"""Area.contains over 1.2 M synthetic Swedish devices against a polygonised circle in shapely.

The peer is what a user would otherwise write: ``shapely.contains_xy`` on a prepared 256-gon of
the circle. It is not even correct (it loses devices just inside the rim); geotarget is exact.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import shapely
import shapely.geometry as sg
from _harness import Gate, Report, Timing, best_of
from _population import STOCKHOLM_C, population

from geotarget import Circle
from geotarget._geodesy import geod


def run(quick: bool) -> Report:
    """Time a 10 km and a 1 km circle at Stockholm C over every device."""
    lon, lat = population()
    report = Report()
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
    return report
