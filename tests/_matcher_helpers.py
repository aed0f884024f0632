"""Helpers for the matcher tests: areas from recipes, and points on and near their boundaries."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pyproj

from geotarget import Area, Circle, Polygon

GEOD = pyproj.Geod(ellps="WGS84")
FloatArray = npt.NDArray[np.float64]


def _star(
    lon: float, lat: float, radius: float, k: int, rng: np.random.Generator, lo: float, hi: float
) -> list[tuple[float, float]]:
    # Evenly spread azimuths with jitter: a star-shaped ring around the centre, never crossing.
    az = (np.arange(k) + rng.uniform(-0.3, 0.3, k)) * (360.0 / k)
    dist = radius * rng.uniform(lo, hi, az.size)
    x, y, _ = GEOD.fwd(np.full(az.size, lon), np.full(az.size, lat), az, dist)
    return list(zip(np.asarray(x).tolist(), np.asarray(y).tolist(), strict=True))


def build_area(spec: dict[str, Any]) -> Area:
    """Build the Area a recipe from ``strategies.area_specs`` describes."""
    rng = np.random.default_rng(spec["seed"])
    parts: list[Circle | Polygon] = []
    for p in spec["parts"]:
        if p["kind"] == "circle":
            parts.append(Circle(p["lon"], p["lat"], p["radius_m"], margin_m=p["margin_m"]))
        else:
            shell = _star(p["lon"], p["lat"], p["radius_m"], p["vertices"], rng, 0.5, 1.0)
            holes = (
                [_star(p["lon"], p["lat"], p["radius_m"], 5, rng, 0.05, 0.2)]
                if p["hole"] and p["vertices"] >= 5
                else []
            )
            parts.append(Polygon(tuple(shell), tuple(map(tuple, holes)), margin_m=p["margin_m"]))
    return Area(parts)


def boundary_points(area: Area, rng: np.random.Generator) -> tuple[FloatArray, FloatArray]:
    """Points exactly on, and within a metre of, every part's boundary (and margin)."""
    xs: list[FloatArray] = []
    ys: list[FloatArray] = []
    for part in area.parts:
        if isinstance(part, Circle):
            offsets = np.array([0.0, 1e-3, -1e-3, 0.5, -0.5, 1.0, -1.0])
            az = rng.uniform(0.0, 360.0, offsets.size * 6)
            dist = part.reach_m + np.repeat(offsets, 6)
            x, y, _ = GEOD.fwd(np.full(az.size, part.lon), np.full(az.size, part.lat), az, dist)
            xs.append(np.asarray(x))
            ys.append(np.asarray(y))
            continue
        rings = [np.asarray(part.exterior), *(np.asarray(h) for h in part.holes)]
        for ring in rings:
            v = ring[:-1]
            mid = (ring[:-1] + ring[1:]) / 2.0
            nudge = rng.choice([-1e-9, 0.0, 1e-9], size=(v.shape[0], 2))
            for pts in (v, mid, mid + nudge, v + nudge):
                xs.append(pts[:, 0].copy())
                ys.append(pts[:, 1].copy())
            if part.margin_m > 0.0:
                for off in (-0.5, 0.0, 0.5):
                    k = int(v.shape[0])
                    fx, fy, _ = GEOD.fwd(
                        v[:, 0],
                        v[:, 1],
                        rng.uniform(0.0, 360.0, k),
                        np.full(k, part.margin_m + off),
                    )
                    xs.append(np.asarray(fx))
                    ys.append(np.asarray(fy))
    return np.concatenate(xs), np.concatenate(ys)


def cloud(area: Area, n: int, rng: np.random.Generator) -> tuple[FloatArray, FloatArray]:
    """Boundary points plus ``n`` uniform points over the area's bounds grown by 20 %."""
    west, south, east, north = area.bounds
    dx = (east - west) * 0.2 + 1e-4
    dy = (north - south) * 0.2 + 1e-4
    ux = rng.uniform(max(west - dx, -180.0), min(east + dx, 180.0), n)
    uy = rng.uniform(max(south - dy, -90.0), min(north + dy, 90.0), n)
    bx, by = boundary_points(area, rng)
    return np.concatenate([ux, bx]), np.concatenate([uy, by])


def count_ray_edges(monkeypatch: Any) -> list[int]:
    """Count the edges GEOS's point-in-polygon rays meet, from then on (``[count]``).

    Wraps ``geotarget._geos.intersects_xy``: per point, the exterior ring's edges spanning its
    latitude (GEOS's interval index returns every one of them), from the calls' own arguments.
    """
    import shapely

    from geotarget import _geos

    met = [0]
    plain = _geos.intersects_xy

    def counting(shape: Any, x: Any, y: Any) -> Any:
        ring = shapely.get_coordinates(shapely.get_exterior_ring(shape))
        lo = np.sort(np.minimum(ring[:-1, 1], ring[1:, 1]))
        hi = np.sort(np.maximum(ring[:-1, 1], ring[1:, 1]))
        yy = np.atleast_1d(np.asarray(y, dtype=np.float64))
        met[0] += int((np.searchsorted(lo, yy, "right") - np.searchsorted(hi, yy, "left")).sum())
        return plain(shape, x, y)

    monkeypatch.setattr(_geos, "intersects_xy", counting)
    return met
