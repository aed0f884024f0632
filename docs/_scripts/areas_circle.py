"""Draw a geodesic 10 km circle at 60°N beside a naive 10 km buffer drawn in degrees."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import shapely
import shapely.geometry as sg

from geotarget import Circle


def figure() -> plt.Figure:
    """The picture: devices, the geodesic circle and the degree buffer (dashed, on top)."""
    lon0, lat0, r = 15.0, 60.0, 10_000.0
    circle = Circle(lon0, lat0, r)
    poly = circle._to_lonlat_polygon()
    rim = np.asarray(poly.exterior.coords)
    naive = sg.Point(lon0, lat0).buffer(r / 111_320.0, quad_segs=64)  # "10 km" as degrees
    rng = np.random.default_rng(1)
    lon = rng.uniform(lon0 - 0.25, lon0 + 0.25, 4000)
    lat = rng.uniform(lat0 - 0.12, lat0 + 0.12, 4000)
    inside = circle.contains(lon, lat)
    naive_in = shapely.contains_xy(naive, lon, lat)

    fig, ax = plt.subplots(figsize=(9.5, 4.2), dpi=110)
    both = inside & naive_in
    missed = inside & ~naive_in
    ax.scatter(lon[both], lat[both], s=3, c="#1b7837", label="inside both")
    ax.scatter(
        lon[missed],
        lat[missed],
        s=3,
        c="#c51b7d",
        label=f"inside, but missed by the degree buffer ({missed.sum() / inside.sum():.0%})",
    )
    ax.scatter(lon[~inside], lat[~inside], s=1, c="#bbbbbb")
    ax.plot(rim[:, 0], rim[:, 1], c="#1b7837", lw=2, label="geodesic 10 km circle")
    nx, ny = naive.exterior.xy
    # Black and above the dots: in the missed devices' magenta it vanished among them.
    ax.plot(
        nx,
        ny,
        c="black",
        lw=1.5,
        ls="--",
        zorder=4,
        label="naive buffer of 0.0898° (10 km at the equator)",
    )
    ax.set_aspect(1 / np.cos(np.radians(lat0)))
    ax.set_xlabel("longitude (°E)")
    ax.set_ylabel("latitude (°N)")
    ax.set_title("A 10 km alert circle at 60°N: exact geodesic circle vs a buffer in degrees")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, framealpha=0.9)
    fig.tight_layout()
    return fig


def main(outdir: Path) -> None:
    """Write ``areas_circle.png``."""
    fig = figure()
    try:
        fig.savefig(outdir / "areas_circle.png")
    finally:
        plt.close(fig)
