"""Maps for the ``geotarget`` command (``--plot``); needs the ``plot`` extra (matplotlib)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely

from geotarget.areas import Area
from geotarget.errors import MissingExtra


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as err:
        raise MissingExtra("plot", "--plot") from err
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _draw_geom(ax: Any, geom: Any, **kw: Any) -> None:
    for poly in getattr(geom, "geoms", [geom]):
        if poly.is_empty or not hasattr(poly, "exterior"):
            continue
        x, y = poly.exterior.xy
        ax.plot(x, y, **kw)


def alert_map(path: str, area: Area, *, title: str) -> None:
    """Draw one alert area, its parts and its bounds."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 5), dpi=110)
    _draw_geom(ax, area.to_shapely(), color="#c51b7d", lw=2)
    w, s, e, n = area.bounds
    lat0 = (s + n) / 2
    ax.set_aspect(1 / np.cos(np.radians(lat0)))
    pad = max(e - w, n - s) * 0.15 + 1e-3
    ax.set_xlim(w - pad, e + pad)
    ax.set_ylim(s - pad, n + pad)
    ax.set_title(title)
    ax.set_xlabel("longitude (°E)")
    ax.set_ylabel("latitude (°N)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def pilot_map(path: str, positions: Any, hierarchy: Any, areas: Sequence[Area | None]) -> None:
    """The pilot: Sweden's counties (Stockholm County enabled) and a zoom on Stockholm."""
    plt = _pyplot()
    counties = hierarchy.region_set("county")
    fig, (big, zoom) = plt.subplots(
        1, 2, figsize=(11, 6.5), dpi=110, gridspec_kw={"width_ratios": [1, 1.4]}
    )
    for region in counties:
        enabled = region.code == "01"
        for poly in getattr(region.geometry, "geoms", [region.geometry]):
            x, y = poly.exterior.xy
            big.fill(x, y, color="#fde0ef" if enabled else "#f0f0f0", lw=0)
            big.plot(x, y, color="#999999", lw=0.4)
    for area in areas:
        if area is None:
            continue
        c = shapely.centroid(area.to_shapely())
        big.plot(c.x, c.y, "o", color="#c51b7d", ms=5)
    big.set_aspect(2.0)
    big.set_title("Police information: Stockholm County (pink) first")
    big.set_axis_off()
    w, s, e, n = 17.85, 59.25, 18.3, 59.42
    for region in hierarchy.region_set(hierarchy.levels[0]):
        rw, rs, re_, rn = region.bounds
        if rw < e and re_ > w and rs < n and rn > s:
            _draw_geom(zoom, region.geometry, color="#bbbbbb", lw=0.6)
    lon, lat = positions.lon, positions.lat
    rows = np.flatnonzero((lon > w) & (lon < e) & (lat > s) & (lat < n))
    zoom.scatter(lon[rows], lat[rows], s=0.2, c="#555555", alpha=0.4, lw=0)
    colours = ["#d73027", "#fc8d59", "#4575b4", "#1a9850"]
    for area, colour in zip(areas, colours, strict=False):
        if area is not None:
            _draw_geom(zoom, area.to_shapely(), color=colour, lw=1.8)
    zoom.set_xlim(w, e)
    zoom.set_ylim(s, n)
    zoom.set_aspect(1 / np.cos(np.radians(59.33)))
    zoom.set_title("Stockholm: devices, municipalities and alert areas")
    zoom.set_xlabel("longitude (°E)")
    zoom.set_ylabel("latitude (°N)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
