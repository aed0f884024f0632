"""Private validators shared by the public value classes.

Every function raises an exception from :mod:`geotarget.errors` whose message names the field,
states the rule and shows the value.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from geotarget.errors import InvalidCoordinates, InvalidInput, InvalidType

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def number(
    name: str,
    value: object,
    *,
    gt: float | None = None,
    ge: float | None = None,
    le: float | None = None,
    error: type[InvalidInput] = InvalidInput,
) -> float:
    """Return ``value`` as a finite float, or raise naming ``name``, the rule and the value."""
    rule = "a finite number"
    if gt is not None:
        rule += f" > {_plain(gt)}"
    if ge is not None:
        rule += f" >= {_plain(ge)}"
    if le is not None:
        rule += f" {'and ' if gt is not None or ge is not None else ''}<= {_plain(le)}"
    if isinstance(value, (bool, np.bool_)):
        raise InvalidType(f"{name} must be {rule}, not a bool (got {value!r})")
    if not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidType(f"{name} must be {rule} (got {type(value).__name__} {value!r})")
    x = float(value)
    if math.isnan(x):
        raise error(f"{name} must be {rule}, not NaN (got {value!r})")
    if math.isinf(x):
        raise error(f"{name} must be {rule}, not infinite (got {value!r})")
    if (
        (gt is not None and not x > gt)
        or (ge is not None and not x >= ge)
        or (le is not None and not x <= le)
    ):
        raise error(f"{name} must be {rule} (got {value!r})")
    return x


def _plain(x: float) -> str:
    """Format a bound as people write it: ``1000000``, ``0.5``, ``-90``."""
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def lon_lat(lon_name: str, lon: object, lat_name: str, lat: object) -> tuple[float, float]:
    """Validate one (lon, lat) pair of scalars."""
    x = number(lon_name, lon, ge=-180.0, le=180.0, error=InvalidCoordinates)
    y = number(lat_name, lat, ge=-90.0, le=90.0, error=InvalidCoordinates)
    return x, y


def _as_float_array(name: str, value: Any) -> FloatArray:
    if isinstance(value, (bool, np.bool_)):
        raise InvalidType(f"{name} must be numbers in degrees, not a bool (got {value!r})")
    arr = np.asarray(value)
    if arr.dtype == np.bool_:
        raise InvalidType(f"{name} must be numbers in degrees, not booleans (got dtype bool)")
    if arr.dtype.kind not in "iuf":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as err:
            raise InvalidType(f"{name} must be numbers in degrees (got dtype {arr.dtype})") from err
    return np.asarray(arr, dtype=np.float64)


def lon_lat_arrays(lon: Any, lat: Any) -> tuple[FloatArray, FloatArray]:
    """Validate longitude and latitude arrays (or scalars) of the same shape.

    Returns float64 arrays. Raises :class:`InvalidCoordinates` naming the first offending
    element and how many there are.
    """
    x = _as_float_array("lon", lon)
    y = _as_float_array("lat", lat)
    if x.shape != y.shape:
        raise InvalidCoordinates(
            f"lon and lat must have the same shape (got lon {x.shape} and lat {y.shape})"
        )
    for name, arr, limit in (("lon", x, 180.0), ("lat", y, 90.0)):
        bad = ~(np.abs(arr) <= limit)  # also catches NaN
        if bad.any():
            flat = arr.reshape(-1)
            idx = int(np.flatnonzero(bad.reshape(-1))[0])
            val = float(flat[idx])
            n = int(bad.sum())
            what = "finite" if not math.isfinite(val) else f"within [-{limit:g}, {limit:g}]"
            where = f"[{idx}]" if arr.ndim else ""
            raise InvalidCoordinates(
                f"{name} must be {what} degrees (got {val!r} at {name}{where}; "
                f"{n} bad value{'s' if n != 1 else ''} in all)"
            )
    return x, y
