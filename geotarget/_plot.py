"""Maps for the ``geotarget`` command (``--plot``); needs the ``plot`` extra (matplotlib)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np
import shapely

from geotarget.areas import Area
from geotarget.errors import InvalidInput, MissingExtra

#: Colours: each alert its own; a blocked alert grey and dashed, never an "enabled" colour.
ALERT_COLOURS = {"explosion": "#d7301f", "tip_request": "#2166ac", "crime_modus": "#762a83"}
BLOCKED_COLOUR = "#636363"
TOLD_COLOUR = "#e7298a"
#: The country map's dot for an alert that was delivered, whatever its kind: the legend's one
#: "alert delivered" entry (each kind's colour there left the tip request's dot, drawn over the
#: Explosion's at Stockholm, a colour the legend did not explain).
DELIVERED_COLOUR = TOLD_COLOUR
#: Rollout phases of police information: the active phase strong, later ones paler.
PHASE_COLOURS = ("#41ab5d", "#c7e9c0", "#f7fcf5")


@attrs.frozen
class MapAlert:
    """One alert on the map: its label, area, kind name and whether the rollout blocked it."""

    label: str
    area: Area | None
    kind: str
    blocked: bool


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


def _patch(geom: Any, **style: Any) -> Any:
    """One matplotlib patch for a (multi)polygon, holes included."""
    from matplotlib.patches import PathPatch
    from matplotlib.path import Path

    verts: list[Any] = []
    codes: list[int] = []
    for poly in shapely.get_parts(geom):
        for ring in (poly.exterior, *poly.interiors):
            xy = np.asarray(ring.coords)
            verts.extend(xy)
            codes.extend(
                [int(Path.MOVETO)] + [int(Path.LINETO)] * (len(xy) - 2) + [int(Path.CLOSEPOLY)]
            )
    return PathPatch(Path(np.asarray(verts), codes), **style)


def check_path(path: str) -> None:
    """Refuse a ``--plot`` path that cannot be written, before any work is done.

    Its suffix must name a format matplotlib writes, its folder must exist and it must not be a
    folder itself; otherwise an :class:`InvalidInput` (a :class:`MissingExtra` without
    matplotlib), so that a long run never fails at its very end.
    """
    import os

    _pyplot()
    from matplotlib.backend_bases import FigureCanvasBase

    formats = FigureCanvasBase.get_supported_filetypes()
    suffix = os.path.splitext(path)[1].lower().lstrip(".")
    if suffix not in formats:
        raise InvalidInput(
            f"--plot must name a file whose suffix is its picture format, such as .png, .svg "
            f"or .pdf (also {', '.join(sorted(set(formats) - {'png', 'svg', 'pdf'}))}) "
            f"(got {path!r})"
        )
    folder = os.path.dirname(path) or "."
    if os.path.isdir(path) or not os.path.isdir(folder):
        why = "is a folder" if os.path.isdir(path) else f"its folder {folder!r} does not exist"
        raise InvalidInput(f"--plot cannot write {path!r}: {why}")


def _save(fig: Any, path: str) -> None:
    """Write ``fig`` to ``path``; an unknown format or an unwritable path is InvalidInput."""
    check_path(path)
    try:
        fig.savefig(path)
    except OSError as err:
        raise InvalidInput(f"--plot cannot write {path!r}: {err.strerror or err}") from None


def continuous(geom: Any) -> tuple[Any, bool]:
    """``geom`` with longitudes continuous across the 180° meridian, where it lies across it.

    A lon/lat geometry across 180° (:meth:`geotarget.areas.Area.to_shapely` splits it there)
    spans -180..180; its parts west of 0° moved by +360° join those east of it, within half
    the Earth (a cap around a pole spans every longitude either way). Returns the geometry
    and whether it was moved (its longitudes then reach beyond 180).
    """
    west, _, east, _ = geom.bounds
    if east - west <= 180.0:
        return geom, False
    east_of_180 = np.array([360.0, 0.0])
    moved = shapely.transform(geom, lambda xy: np.where(xy[:, :1] < 0.0, xy + east_of_180, xy))
    moved = shapely.union_all(shapely.get_parts(moved))  # one outline: no seam drawn at 180°
    moved_west, _, moved_east, _ = moved.bounds
    return (moved, True) if moved_east - moved_west <= 180.0 else (geom, False)


def lon_range(area: Area) -> tuple[float, float, bool]:
    """An area's west and east longitudes (-180..180), and whether it crosses 180° between them.

    :attr:`~geotarget.areas.Area.bounds` gives -180 and 180 for an area across 180°, an area
    around the Earth to a reader; here west is then greater than east (RFC 7946 §5.2).
    """
    west, _, east, _ = area.bounds
    if east - west <= 180.0:
        return west, east, False
    geom, moved = continuous(area.to_shapely())
    if not moved:  # (around a pole: every longitude)
        return west, east, False
    west, _, east, _ = geom.bounds
    return west, east - 360.0 if east > 180.0 else east, True


def alert_map(path: str, area: Area, *, title: str) -> None:
    """Draw one alert area, its parts and its bounds.

    An area across 180° is drawn continuously there (its longitudes labelled -180..180); one
    around a pole as the band it is in lon/lat, every longitude, up to the pole.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 5), dpi=110)
    geom, moved = continuous(area.to_shapely())
    _draw_geom(ax, geom, color="#c51b7d", lw=2)
    w, s, e, n = geom.bounds if moved else area.bounds
    if s <= -90.0 or n >= 90.0:  # around a pole: no aspect makes a band of 360° readable
        pad = (n - s) * 0.15 + 1e-3
        ax.set_xlim(-180.0, 180.0)
    else:
        ax.set_aspect(1 / np.cos(np.radians((s + n) / 2)))
        pad = max(e - w, n - s) * 0.15 + 1e-3
        ax.set_xlim(w - pad, e + pad)
    # (A margin of the widest span, 360° around a pole, ran the latitudes to 144°N.)
    ax.set_ylim(max(s - pad, -90.0), min(n + pad, 90.0))
    # At most five longitude labels: in the north a degree of longitude is short, so the area
    # is narrow on the map, and the default ticks (every 0.025° at Haparanda) ran together.
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
    # Whole degrees on every tick: for a small area matplotlib would write ticks as offsets
    # from "+5.933e1", which no reader takes for a latitude.
    ax.ticklabel_format(useOffset=False, style="plain")
    if moved:  # beyond 180° east is west: -179.9, as the area's longitudes are written
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x - 360 if x > 180 else x:g}"))
    ax.set_title(title)
    ax.set_xlabel("longitude (°E)")
    ax.set_ylabel("latitude (°N)")
    fig.tight_layout()
    try:
        _save(fig, path)
    finally:
        plt.close(fig)


def _first_phase(policy: Any, kind: str, code: str, hierarchy: Any) -> int | None:
    """The index of the first phase of ``kind`` that enables region ``code``."""
    rollout = policy.rollout(kind)
    if rollout is None:
        return None
    chain = {code, *hierarchy.ancestors(code)}
    return next((i for i, p in enumerate(rollout.phases) if chain & p.regions), None)


def _alert_style(alert: MapAlert) -> dict[str, Any]:
    if alert.blocked:
        return {"color": BLOCKED_COLOUR, "lw": 1.8, "ls": (0, (4, 3))}
    return {"color": ALERT_COLOURS.get(alert.kind, "#333333"), "lw": 1.8}


#: Where each alert's label goes: the side of its area the arrow points at, and the label's
#: offset from there in points (outside the crowd of highlighted devices).
LABEL_PLACES: tuple[tuple[str, tuple[float, float]], ...] = (
    ("top", (-120.0, 70.0)),
    ("right", (60.0, 75.0)),
    ("right", (35.0, -60.0)),
    ("top", (0.0, 12.0)),
)


def _label_alert(ax: Any, alert: MapAlert, place: tuple[str, tuple[float, float]]) -> None:
    """Write the alert's label near its area, with an arrow to the area's edge."""
    assert alert.area is not None
    w, s, e, n = alert.area.bounds
    side, offset = place
    x, y = {
        "right": (e, (s + n) / 2),
        "left": (w, (s + n) / 2),
        "top": ((w + e) / 2, n),
        "bottom": ((w + e) / 2, s),
    }[side]
    colour = _alert_style(alert)["color"]
    text = alert.label + ("\nBLOCKED by the rollout: nobody told" if alert.blocked else "")
    ax.annotate(
        text,
        (x, y),
        xytext=offset,
        textcoords="offset points",
        ha="center",
        va="center",
        fontsize=8,
        color=colour,
        fontweight="bold",
        zorder=6,
        bbox={"boxstyle": "round,pad=0.25", "fc": "white", "ec": colour, "lw": 0.6, "alpha": 0.9},
        arrowprops={"arrowstyle": "-", "color": colour, "lw": 0.8},
    )


def pilot_figure(
    positions: Any,
    hierarchy: Any,
    policy: Any,
    alerts: Sequence[MapAlert],
    *,
    told: Any,
    at: dt.datetime,
    lon_lat: tuple[Any, Any] | None = None,
) -> Any:
    """The pilot at a glance: rollout phases, alerts and the devices told, with two zooms.

    Sweden's counties are shaded by the phase that enables police information there; a
    Stockholm and a Göteborg zoom show every device, those told highlighted.

    ``told`` are rows of ``positions``; ``lon_lat`` (default the positions' own) are where to
    draw each row, e.g. after fresh fixes moved some devices.
    """
    plt = _pyplot()
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    fig = plt.figure(figsize=(13, 8.2), dpi=100)
    grid = fig.add_gridspec(2, 2, width_ratios=[1, 1.55], height_ratios=[1.45, 1])
    big = fig.add_subplot(grid[:, 0])
    sthlm = fig.add_subplot(grid[0, 1])
    gbg = fig.add_subplot(grid[1, 1])

    # Sweden: counties shaded by the phase that enables police information there.
    rollout = policy.rollout("tip_request")
    phases = rollout.phases if rollout is not None else ()
    active = policy.decide("tip_request", at).phase_index
    for region in hierarchy.region_set("county"):
        i = _first_phase(policy, "tip_request", region.code, hierarchy)
        colour = PHASE_COLOURS[min(i, len(PHASE_COLOURS) - 1)] if i is not None else "#ffffff"
        big.add_patch(_patch(region.geometry, fc=colour, ec="#737373", lw=0.4))
    # Names of the counties of the first phases, moved off the alert markers (degrees of lat).
    for code, name, shift in (
        ("01", "Stockholm", -0.45),
        ("12", "Skåne", 0.0),
        ("14", "Västra\nGötaland", 0.4),
    ):
        if code in {r.code for r in hierarchy.region_set("county")}:
            p = shapely.point_on_surface(hierarchy.region(code).geometry)
            big.text(p.x, p.y + shift, name, fontsize=7, ha="center", va="center")
    for alert in alerts:
        if alert.area is None:
            continue
        c = shapely.centroid(alert.area.to_shapely())
        if alert.blocked:
            big.plot(c.x, c.y, "X", color=BLOCKED_COLOUR, ms=9, mec="white", zorder=4)
        else:
            big.plot(c.x, c.y, "o", color=DELIVERED_COLOUR, ms=6, mec="white", zorder=4)
    big.set_xlim(10.5, 24.5)
    big.set_ylim(55.0, 69.3)
    big.set_aspect(1 / np.cos(np.radians(62.0)))
    big.set_title("Police information (tips, crime modus) by rollout phase", fontsize=10)
    big.set_axis_off()
    phase_handles: list[Any] = []
    for i, phase in enumerate(phases):
        when = phase.starts_at.astimezone(at.tzinfo).date().isoformat()
        note = " (illustrative date)" if phase.illustrative else ""
        now = " — active now" if i == active else ""
        phase_handles.append(
            Patch(
                fc=PHASE_COLOURS[min(i, len(PHASE_COLOURS) - 1)],
                ec="#737373",
                label=f"phase {i + 1} from {when}{note}{now}",
            )
        )
    phase_handles += [
        Line2D([], [], ls="", marker="o", ms=6, color=DELIVERED_COLOUR, mec="white",
               label="alert delivered"),
        Line2D([], [], ls="", marker="X", ms=8, color=BLOCKED_COLOUR, mec="white",
               label="alert blocked (not enabled there yet)"),
    ]  # fmt: skip
    big.legend(
        handles=phase_handles,
        loc="upper left",
        fontsize=7,
        title="enabled from (explosions: all Sweden now)",
        title_fontsize=7,
        framealpha=0.95,
    )

    lon, lat = (positions.lon, positions.lat) if lon_lat is None else lon_lat
    told_rows = np.asarray(told, dtype=np.int64)
    for ax, (w, s, e, n), title in (
        (sthlm, (17.95, 59.295, 18.17, 59.37), "Stockholm: devices told are highlighted"),
        (gbg, (11.86, 57.665, 12.09, 57.755), "Göteborg: the crime-modus alert is blocked here"),
    ):
        for region in hierarchy.region_set(hierarchy.levels[0]):
            rw, rs, re_, rn = region.bounds
            if rw < e and re_ > w and rs < n and rn > s:
                _draw_geom(ax, region.geometry, color="#bdbdbd", lw=0.6)
        rows = np.flatnonzero((lon > w) & (lon < e) & (lat > s) & (lat < n))
        ax.scatter(lon[rows], lat[rows], s=1.5, c="#969696", alpha=0.5, lw=0)
        near = told_rows[
            (lon[told_rows] > w)
            & (lon[told_rows] < e)
            & (lat[told_rows] > s)
            & (lat[told_rows] < n)
        ]
        ax.scatter(lon[near], lat[near], s=4, c=TOLD_COLOUR, lw=0, zorder=3)
        ax.set_xlim(w, e)
        ax.set_ylim(s, n)
        ax.set_aspect(1 / np.cos(np.radians((s + n) / 2)))
        ax.set_title(title, fontsize=10)
        ax.tick_params(labelsize=7)
    for alert, place in zip(alerts, LABEL_PLACES, strict=False):
        if alert.area is None:
            continue
        for ax in (sthlm, gbg):
            w, s, e, n = alert.area.bounds
            x0, x1 = ax.get_xlim()
            y0, y1 = ax.get_ylim()
            if x0 < w and e < x1 and y0 < s and n < y1:
                _draw_geom(ax, alert.area.to_shapely(), color="white", lw=3.6, zorder=4)
                _draw_geom(ax, alert.area.to_shapely(), zorder=5, **_alert_style(alert))
                _label_alert(ax, alert, place)
    handles = [
        Line2D([], [], ls="", marker="o", ms=4, color="#969696", label="device (last fix)"),
        Line2D([], [], ls="", marker="o", ms=4, color=TOLD_COLOUR, label="device told an alert"),
    ]
    seen = set()
    for alert in alerts:
        key = "blocked" if alert.blocked else alert.kind
        if key in seen:
            continue
        seen.add(key)
        label = (
            "blocked alert area (nobody told)"
            if alert.blocked
            else f"{alert.kind.replace('_', ' ')} alert area"
        )
        handles.append(Line2D([], [], label=label, **_alert_style(alert)))
    sthlm.legend(handles=handles, loc="upper right", fontsize=7, framealpha=0.95)
    fig.suptitle(
        f"geotarget demo: the Swedish Police pilot on {at:%Y-%m-%d %H:%M} — who is told, and "
        "where the rollout allows it",
        fontsize=12,
    )
    fig.tight_layout()
    return fig


def pilot_map(
    path: str,
    positions: Any,
    hierarchy: Any,
    policy: Any,
    alerts: Sequence[MapAlert],
    *,
    told: Any,
    at: dt.datetime,
    lon_lat: tuple[Any, Any] | None = None,
) -> None:
    """Write :func:`pilot_figure` to ``path`` (PNG)."""
    plt = _pyplot()
    fig = pilot_figure(positions, hierarchy, policy, alerts, told=told, at=at, lon_lat=lon_lat)
    try:
        _save(fig, path)
    finally:
        plt.close(fig)
