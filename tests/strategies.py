"""Hypothesis strategies shared by the test modules."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import shapely
from hypothesis import strategies as st

from geotarget import pilot
from geotarget.rollout import KindRollout, Phase, RolloutPolicy

#: The Swedish pilot's kind names (geotarget.pilot.KINDS).
PILOT_KINDS = tuple(k.name for k in pilot.KINDS)
#: The pilot's kinds and two a policy of one's own might register: kinds are data.
KIND_NAMES = (*PILOT_KINDS, "chemical_release", "z9")
#: Any well-formed kind name (what ``geotarget:kind`` may carry).
kind_names = st.sampled_from(KIND_NAMES) | st.from_regex(r"[a-z][a-z0-9_]{0,63}", fullmatch=True)

#: Longitudes and latitudes over Sweden's bounding box.
sweden_lon = st.floats(min_value=10.5, max_value=24.2, allow_nan=False)
sweden_lat = st.floats(min_value=55.3, max_value=69.1, allow_nan=False)

#: Longitudes and latitudes anywhere (poles and antimeridian included).
any_lon = st.floats(min_value=-180.0, max_value=180.0, allow_nan=False)
any_lat = st.floats(min_value=-90.0, max_value=90.0, allow_nan=False)

#: Circle radii from 10 m to 100 km, log-uniform-ish.
radius_m = st.floats(min_value=1.0, max_value=5.0).map(lambda e: 10.0**e)


# --- rollout policies ----------------------------------------------------------------------

#: Region codes a generated policy may name (all in tests/rollout_helpers.MINI_SWEDEN).
ROLLOUT_CODES = ["SE", "PR-VAST", "01", "09", "12", "13", "14", "0180", "1480"]
#: Generated phases start within about 19 years of this instant.
ROLLOUT_T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
_ZONES = [timezone.utc, ZoneInfo("Europe/Stockholm"), timezone(timedelta(hours=-5, minutes=-30))]


@st.composite
def rollout_phases(draw: st.DrawFn, *, max_phases: int = 5) -> list[Phase]:
    """Valid phases of one kind: increasing starts, cumulative regions unless rollback."""
    offsets = sorted(
        draw(st.lists(st.integers(0, 10**7), min_size=1, max_size=max_phases, unique=True))
    )
    phases: list[Phase] = []
    for minutes in offsets:
        prev = phases[-1] if phases else None
        rollback = prev is not None and draw(st.booleans())
        if prev is None or rollback:
            regions = draw(st.sets(st.sampled_from(ROLLOUT_CODES), min_size=1, max_size=4))
            bp = draw(st.sampled_from([0, 1, 2500, 5000, 9999, 10000]) | st.integers(0, 10000))
        else:
            regions = set(prev.regions) | draw(st.sets(st.sampled_from(ROLLOUT_CODES), max_size=2))
            bp = draw(st.integers(round(prev.percentage * 100), 10000))
        if prev is not None and frozenset(regions) == prev.regions and bp / 100 == prev.percentage:
            continue  # a phase must change something
        at = (ROLLOUT_T0 + timedelta(minutes=minutes)).astimezone(draw(st.sampled_from(_ZONES)))
        illustrative = draw(st.booleans())
        phases.append(
            Phase(
                starts_at=at,
                regions=regions,
                percentage=bp / 100,
                rollback=rollback,
                illustrative=illustrative,
            )
        )
    return phases


@st.composite
def rollout_policies(draw: st.DrawFn) -> RolloutPolicy:
    """Valid policies over a random subset of kinds, with random kill switches and settings."""
    kinds = draw(st.lists(st.sampled_from(KIND_NAMES), unique=True))
    return RolloutPolicy(
        rollouts=[
            KindRollout(kind=k, phases=draw(rollout_phases()), killed=draw(st.booleans()))
            for k in kinds
        ],
        killed=draw(st.booleans()),
        timezone=draw(st.sampled_from(["Europe/Stockholm", "UTC", "America/New_York"])),
        salt=draw(st.sampled_from(["geotarget", "pilot-2024", "a"])),
    )


#: Instants around the generated phases (before, during and after).
rollout_instants = st.integers(-(10**5), 10**7 + 10**5).map(
    lambda m: ROLLOUT_T0 + timedelta(minutes=m)
)
# --- areas and points near their boundaries (matcher oracle tests) -----------------------------


@st.composite
def area_specs(draw: st.DrawFn, max_parts: int = 3) -> dict[str, object]:
    """Draw a recipe for a random area (1..max_parts circles and polygons) and a point cloud seed.

    Recipes, not objects, keep shrinking readable; :func:`build_area` turns one into an Area.
    """
    n = draw(st.integers(1, max_parts))
    parts = []
    for _ in range(n):
        parts.append(
            {
                "kind": draw(st.sampled_from(["circle", "polygon"])),
                "lon": draw(st.floats(11.0, 23.0)),
                "lat": draw(st.floats(55.5, 68.0)),
                "radius_m": draw(radius_m),
                "margin_m": draw(st.one_of(st.just(0.0), st.floats(0.5, 300.0))),
                "vertices": draw(st.integers(3, 12)),
                "hole": draw(st.booleans()),
            }
        )
    return {"parts": parts, "seed": draw(st.integers(0, 2**32 - 1))}


# --- region partitions (tests/test_regions.py) ----------------------------------------------

#: Codes of varied length and alphabet, so "lowest code" is Python string order, not length.
REGION_CODES = ("0114", "01", "02", "1", "10", "A", "B", "Z9")


@st.composite
def region_partitions(draw: st.DrawFn) -> tuple[dict[str, Any], Any, Any]:
    """A jittered lon/lat grid whose cells are labelled with codes (some left empty).

    Returns ``(regions, nodes_lon, nodes_lat)``: each code maps to the union of its cells (a
    Polygon or MultiPolygon); neighbouring cells share their vertices exactly, so shared
    borders are exact. ``nodes_*`` are the ``(ny + 1, nx + 1)`` grid vertices.
    """
    nx = draw(st.integers(1, 6))
    ny = draw(st.integers(1, 6))
    size = draw(st.sampled_from([1e-5, 1e-3, 0.07, 1.0, 2.0]))
    # Nodes move by at most 0.35 cells, and cells are at most 2°: stay inside lon/lat range.
    lon0 = draw(st.floats(-179.0, 180.0 - 2.0 * 7.5))
    lat0 = draw(st.floats(-89.0, 90.0 - 2.0 * 7.5))
    jitter = draw(st.sampled_from([0.0, 0.1, 0.35]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    jx = rng.uniform(-jitter, jitter, (ny + 1, nx + 1))
    jy = rng.uniform(-jitter, jitter, (ny + 1, nx + 1))
    ii, jj = np.meshgrid(np.arange(nx + 1), np.arange(ny + 1))
    lon = lon0 + (ii + jx) * size
    lat = lat0 + (jj + jy) * size
    n_codes = draw(st.integers(1, len(REGION_CODES)))
    label = rng.integers(-1, n_codes, (ny, nx))  # -1: a gap in no region
    label[0, 0] = max(label[0, 0], 0)
    cells: dict[str, list[Any]] = {}
    for j in range(ny):
        for i in range(nx):
            if label[j, i] < 0:
                continue
            ring = [
                (lon[j, i], lat[j, i]),
                (lon[j, i + 1], lat[j, i + 1]),
                (lon[j + 1, i + 1], lat[j + 1, i + 1]),
                (lon[j + 1, i], lat[j + 1, i]),
            ]
            cells.setdefault(REGION_CODES[label[j, i]], []).append(shapely.Polygon(ring))
    regions = {code: shapely.union_all(polys) for code, polys in cells.items()}
    return regions, lon, lat
