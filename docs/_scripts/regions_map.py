"""Draw Sweden's counties, police regions and the Stockholm area, and the locate grid index."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import shapely
from matplotlib.patches import PathPatch
from matplotlib.path import Path as MplPath

from geotarget import sweden

# Stockholm Central Station (Wikipedia), in 0180 Stockholm.
STOCKHOLM_C = (18.05611, 59.33)


def _patch(geom: Any, **style: Any) -> PathPatch:
    """One patch for a (multi)polygon, holes included."""
    verts: list[Any] = []
    codes: list[int] = []
    for poly in shapely.get_parts(geom):
        for ring in (poly.exterior, *poly.interiors):
            xy = np.asarray(ring.coords)
            verts.extend(xy)
            codes.extend([MplPath.MOVETO] + [MplPath.LINETO] * (len(xy) - 2) + [MplPath.CLOSEPOLY])
    return PathPatch(MplPath(np.asarray(verts), codes), **style)


def _frame(ax: Any, bounds: tuple[float, float, float, float], title: str) -> None:
    west, south, east, north = bounds
    ax.set_xlim(west, east)
    ax.set_ylim(south, north)
    ax.set_aspect(1 / np.cos(np.radians((south + north) / 2)))
    ax.set_title(title, fontsize=10)
    ax.tick_params(labelsize=7)


def _label(ax: Any, geom: Any, text: str, size: float = 6.5) -> None:
    p = shapely.point_on_surface(geom)
    ax.text(p.x, p.y, text, ha="center", va="center", fontsize=size)


def _maps(outdir: Path) -> None:
    counties = sweden.counties()
    police = sweden.police_regions()
    area = sweden.stockholm_area()
    fig, axes = plt.subplots(1, 3, figsize=(12, 6.6), dpi=110)
    sweden_box = (10.8, 55.2, 24.4, 69.2)

    colours = plt.get_cmap("tab20")
    ax = axes[0]
    for i, r in enumerate(counties):
        ax.add_patch(_patch(r.geometry, fc=colours(i % 20), ec="white", lw=0.4))
        _label(ax, r.geometry, r.code)
    _frame(ax, sweden_box, "21 counties (län), SCB codes")

    ax = axes[1]
    pal = plt.get_cmap("Set2")
    for i, r in enumerate(police):
        ax.add_patch(_patch(r.geometry, fc=pal(i), ec="#333333", lw=0.6))
        _label(ax, r.geometry, r.name.removeprefix("Region "), 7)
    for r in counties:
        ax.add_patch(_patch(r.geometry, fc="none", ec="white", lw=0.3))
    _frame(ax, sweden_box, "7 police regions (Gotland in Stockholm)")

    ax = axes[2]
    for i, r in enumerate(area):
        ax.add_patch(_patch(r.geometry, fc=colours(i % 20), ec="white", lw=0.4))
        _label(ax, r.geometry, r.code, 5.5)
    ax.add_patch(_patch(counties["01"].geometry, fc="none", ec="black", lw=1.2))
    ax.plot(*STOCKHOLM_C, marker="x", color="#c51b7d", ms=7, mew=2)
    ax.annotate(
        "Stockholm C; Saltsjön, Mälaren\nand the sea are in the regions",
        STOCKHOLM_C,
        xytext=(18.25, 58.8),
        fontsize=7,
        color="#c51b7d",
        arrowprops={"arrowstyle": "->", "color": "#c51b7d"},
    )
    _frame(ax, (17.2, 58.7, 19.4, 60.25), "Storstockholm = the 26 municipalities of county 01")
    fig.tight_layout()
    fig.savefig(outdir / "regions_map.png")
    plt.close(fig)


def _grid(outdir: Path) -> None:
    """The locate index around central Stockholm: answered cells and tested (leaf) cells."""
    kommuner = sweden.municipalities()
    index = kommuner._index()
    west, south, east, north = 17.85, 59.25, 18.25, 59.42
    step = 0.0004
    lon, lat = np.meshgrid(np.arange(west, east, step), np.arange(south, north, step / 2))
    x, y = lon.ravel(), lat.ravel()
    # Walk the table like GridIndex.locate, stopping before the exact tests.
    u = np.clip((x - index.x0) * index.inv_dx, 0, index.nx - 1).astype(np.int64)
    v = np.clip((y - index.y0) * index.inv_dy, 0, index.ny - 1).astype(np.int64)
    s = index.shift * index.depth
    val = index.table[(v >> s) * index.nx0 + (u >> s)].astype(np.int64)
    level = np.zeros(val.shape, dtype=np.int64)
    mask = (1 << index.shift) - 1
    for lvl in range(1, index.leaf_level + 1):
        m = np.flatnonzero(val <= -2)
        s = index.shift * (index.depth - lvl)
        local = (((v[m] >> s) & mask) << index.shift) | ((u[m] >> s) & mask)
        val[m] = index.table[local - val[m] - 2]
        level[m] = lvl
    tested = val <= -2
    fig, ax = plt.subplots(figsize=(9, 5.2), dpi=110)
    shade = np.where(tested, 4.0, level.astype(float))
    shade[(val == -1) & ~tested] = np.nan
    ax.pcolormesh(lon, lat, shade.reshape(lon.shape), cmap="Blues", vmin=-1, vmax=4.5)
    for r in kommuner:
        ax.add_patch(_patch(r.geometry, fc="none", ec="#c51b7d", lw=0.7))
    ax.plot(*STOCKHOLM_C, marker="x", color="black", ms=7, mew=2, ls="", label="Stockholm C")
    ax.plot([], [], color="#c51b7d", label="municipal boundaries (Lantmäteriet)")
    ax.fill([], [], color=plt.get_cmap("Blues")(0.95), label="leaf cells: exact test")
    ax.fill([], [], color=plt.get_cmap("Blues")(0.2), label="cells answered by lookup")
    ax.legend(loc="lower right", fontsize=7, framealpha=0.9)
    _frame(
        ax,
        (west, south, east, north),
        "locate's grid index near central Stockholm (darker = finer; white = no region)",
    )
    fig.tight_layout()
    fig.savefig(outdir / "regions_grid.png")
    plt.close(fig)


def main(outdir: Path) -> None:
    """Write ``regions_map.png`` and ``regions_grid.png``."""
    outdir.mkdir(parents=True, exist_ok=True)
    _maps(outdir)
    _grid(outdir)


if __name__ == "__main__":
    main(Path(__file__).resolve().parents[1] / "_generated")
