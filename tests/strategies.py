"""Hypothesis strategies shared by the test modules."""

from __future__ import annotations

from hypothesis import strategies as st

#: Longitudes and latitudes over Sweden's bounding box.
sweden_lon = st.floats(min_value=10.5, max_value=24.2, allow_nan=False)
sweden_lat = st.floats(min_value=55.3, max_value=69.1, allow_nan=False)

#: Longitudes and latitudes anywhere (poles and antimeridian included).
any_lon = st.floats(min_value=-180.0, max_value=180.0, allow_nan=False)
any_lat = st.floats(min_value=-90.0, max_value=90.0, allow_nan=False)

#: Circle radii from 10 m to 100 km, log-uniform-ish.
radius_m = st.floats(min_value=1.0, max_value=5.0).map(lambda e: 10.0**e)


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
