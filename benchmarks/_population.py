"""A seeded synthetic population of devices distributed like Sweden's people.

With ``../shared/data/sweden`` present (CI has it): each of the 290 municipalities gets devices in
proportion to its 2024 population (SCB), placed inside its Lantmäteriet polygon, 75 % clustered
around the municipality's most central point (a Gaussian whose spread grows with the square
root of the population) and 25 % spread uniformly over it.

Without the shared data, a documented fallback keeps the benchmarks running: the 25 largest
Swedish urban areas (approximate 2023 populations, coordinates of their centres) as Gaussian
clusters, plus 15 % spread over a coarse rectangle of southern and central Sweden.
"""

from __future__ import annotations

import csv
import functools
import json
import math
import os
from pathlib import Path

import numpy as np
import numpy.typing as npt
import shapely
import shapely.geometry as sg

FloatArray = npt.NDArray[np.float64]

#: ``../shared/data/sweden`` beside the clone, or ``$GEOTARGET_SHARED_DATA/sweden``.
SHARED_SWEDEN = (
    Path(
        os.environ.get(
            "GEOTARGET_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"
        )
    )
    / "sweden"
)

#: Stockholm Central Station (Wikipedia), the centre of the benchmark circles.
STOCKHOLM_C = (18.05611, 59.33)

# (lon, lat, people) of the largest urban areas: the fallback model's clusters.
_TOWNS = [
    (18.06, 59.33, 1_700_000),
    (11.97, 57.71, 620_000),
    (13.00, 55.61, 350_000),
    (17.64, 59.86, 180_000),
    (15.62, 58.41, 120_000),
    (16.54, 59.61, 130_000),
    (15.21, 59.27, 125_000),
    (16.19, 58.59, 100_000),
    (14.16, 57.78, 100_000),
    (13.19, 55.70, 95_000),
    (20.26, 63.83, 90_000),
    (17.14, 60.67, 78_000),
    (12.94, 57.72, 75_000),
    (17.31, 62.39, 60_000),
    (13.50, 59.38, 70_000),
    (14.81, 56.88, 65_000),
    (12.70, 56.05, 115_000),
    (15.59, 56.16, 40_000),
    (16.36, 56.66, 40_000),
    (22.15, 65.58, 48_000),
    (15.63, 60.61, 40_000),
    (15.42, 60.49, 42_000),
    (14.64, 63.18, 45_000),
    (12.86, 56.67, 72_000),
    (17.95, 59.20, 90_000),
]


def has_shared_data() -> bool:
    """Whether the Swedish reference data is beside the clone."""
    return (SHARED_SWEDEN / "kommuner_lantmateriet_wgs84.geojson").is_file()


@functools.cache
def municipality_polygons() -> dict[str, sg.Polygon | sg.MultiPolygon]:
    """Lantmäteriet's municipality polygons (WGS84) keyed by SCB code."""
    data = json.loads((SHARED_SWEDEN / "kommuner_lantmateriet_wgs84.geojson").read_text("utf-8"))
    out: dict[str, sg.Polygon | sg.MultiPolygon] = {}
    for f in data["features"]:
        geom = sg.shape(f["geometry"])
        assert isinstance(geom, (sg.Polygon, sg.MultiPolygon))
        out[f["properties"]["kommun_kod"]] = geom
    return out


def _municipal_population() -> dict[str, int]:
    with (SHARED_SWEDEN / "kommuner_folkmangd_2024.csv").open(encoding="utf-8") as fh:
        return {row["kommun_kod"]: int(row["population"]) for row in csv.DictReader(fh)}


def _sample_in(
    geom: sg.Polygon | sg.MultiPolygon,
    n: int,
    centre: tuple[float, float],
    sigma_deg: float,
    rng: np.random.Generator,
) -> tuple[FloatArray, FloatArray]:
    """``n`` points inside ``geom``: 75 % Gaussian around ``centre``, 25 % uniform."""
    shapely.prepare(geom)
    west, south, east, north = geom.bounds
    n_cluster = round(n * 0.75)
    out_x: list[FloatArray] = []
    out_y: list[FloatArray] = []
    for count, clustered in ((n_cluster, True), (n - n_cluster, False)):
        got = 0
        while got < count:
            m = max(64, 2 * (count - got))
            if clustered:
                x = rng.normal(centre[0], sigma_deg / np.cos(np.radians(centre[1])), m)
                y = rng.normal(centre[1], sigma_deg, m)
            else:
                x = rng.uniform(west, east, m)
                y = rng.uniform(south, north, m)
            keep = shapely.contains_xy(geom, x, y)
            x, y = x[keep][: count - got], y[keep][: count - got]
            out_x.append(x)
            out_y.append(y)
            got += x.size
    return np.concatenate(out_x), np.concatenate(out_y)


@functools.cache
def population(n: int = 1_200_000, seed: int = 20240415) -> tuple[FloatArray, FloatArray]:
    """``n`` device positions (lon, lat) distributed like Sweden's people, deterministically.

    The rows are shuffled, so row order carries no spatial information (as in a real device
    table).
    """
    rng = np.random.default_rng(seed)
    xs: list[FloatArray] = []
    ys: list[FloatArray] = []
    if has_shared_data():
        polys = municipality_polygons()
        people = _municipal_population()
        codes = sorted(people)
        weights = np.array([people[c] for c in codes], dtype=np.float64)
        counts = rng.multinomial(n, weights / weights.sum())
        for code, count, pop in zip(codes, counts, weights, strict=True):
            if count == 0:
                continue
            geom = polys[code]
            centre = shapely.get_coordinates(shapely.point_on_surface(geom))[0]
            # Urban spread (degrees of latitude): ~1.3 km for 10k people, ~5 km for 1M.
            sigma = 0.012 * (pop / 1e4) ** 0.3
            x, y = _sample_in(geom, count, (float(centre[0]), float(centre[1])), sigma, rng)
            xs.append(x)
            ys.append(y)
    else:
        towns = np.array(_TOWNS)
        n_bg = int(n * 0.15)
        counts = rng.multinomial(n - n_bg, towns[:, 2] / towns[:, 2].sum())
        for (lon, lat, pop), count in zip(towns, counts, strict=True):
            sigma = 0.012 * (pop / 1e4) ** 0.3
            xs.append(rng.normal(lon, sigma / np.cos(np.radians(lat)), count))
            ys.append(rng.normal(lat, sigma, count))
        xs.append(rng.uniform(12.0, 19.0, n_bg))
        ys.append(rng.uniform(56.0, 64.0, n_bg))
    lon = np.concatenate(xs)
    lat = np.concatenate(ys)
    order = rng.permutation(lon.size)
    return np.ascontiguousarray(lon[order]), np.ascontiguousarray(lat[order])


def ring_16(lon: float, lat: float, radius_m: float) -> npt.NDArray[np.float64]:
    """A 16-vertex lon/lat ring ``radius_m`` around a point (as CAP polygons draw a circle)."""
    import pyproj

    az = np.linspace(0.0, 360.0, 16, endpoint=False)
    geod = pyproj.Geod(ellps="WGS84")
    x, y, _ = geod.fwd(np.full(16, lon), np.full(16, lat), az, np.full(16, radius_m))
    return np.column_stack([x, y])


#: Where the area scenarios and the host's yardstick are placed: the centres of Sweden's ten
#: largest urban areas (SCB Tätorter 2010), as ``geotarget.sweden.synthetic_population``
#: places them.
PLACES = [
    (18.07, 59.33), (11.97, 57.71), (13.00, 55.61), (17.64, 59.86), (16.54, 59.61),
    (15.21, 59.27), (15.62, 58.41), (12.69, 56.05), (14.16, 57.78), (16.19, 58.59),
]  # fmt: skip


def circle_window(lon: float, lat: float, radius_m: float) -> tuple[float, float, float, float]:
    """The exact circle peer's own bounding box (meridian radius >= 6,335 km; Sweden only)."""
    dlat = math.degrees(radius_m / 6_335_439.0) * 1.001
    dlon = math.degrees(radius_m / (6_378_137.0 * math.cos(math.radians(abs(lat) + dlat)))) * 1.001
    return lon - dlon, lat - dlat, lon + dlon, lat + dlat
