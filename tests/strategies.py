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
