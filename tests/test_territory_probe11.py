"""Region files of operators elsewhere: the Pacific, the poles, longitudes from 0 to 360.

Oracles are shapely and pyproj on the source geometry, never geotarget's internals.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

import numpy as np
import pyproj
import pytest
import shapely
import shapely.geometry as sg

from geotarget.errors import InvalidRegions
from geotarget.regions import Region, RegionSet


def _fc(*features: tuple[str, Any], crs: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"code": code}, "geometry": sg.mapping(geom)}
            for code, geom in features
        ],
    }
    if crs is not None:
        out["crs"] = {"type": "name", "properties": {"name": crs}}
    return out


#: Taveuni (Fiji), which the 180th meridian crosses, as a lon/lat box 0.4 degrees wide.
TAVEUNI_WEST = sg.box(179.8, -17.0, 180.0, -16.6)
TAVEUNI_EAST = sg.box(-180.0, -17.0, -179.8, -16.6)
#: Vanua Levu's south coast, west of the meridian.
VANUA = sg.box(178.5, -17.0, 179.8, -16.6)


def test_a_ring_across_the_antimeridian_is_refused_not_turned_inside_out() -> None:
    """Written unsplit, Taveuni's ring ran the long way round and covered the rest of the world.

    Edges are straight in lon/lat, so the ring 179.8 -> -179.8 encloses longitudes -179.8 to
    179.8: a device on Taveuni was in no region and one in the Atlantic at Taveuni's latitude
    in it -- silently. Refused now, naming the feature and the edge.
    """
    unsplit = sg.Polygon([(179.8, -17.0), (-179.8, -17.0), (-179.8, -16.6), (179.8, -16.6)])
    # The oracle: the unsplit ring, read as straight lon/lat edges, misses Taveuni itself.
    assert not unsplit.covers(sg.Point(179.9, -16.8))
    assert unsplit.covers(sg.Point(-30.0, -16.8))
    with pytest.raises(InvalidRegions) as err:
        RegionSet.from_geojson(
            _fc(("V", VANUA), ("T", unsplit)), code_property="code", level="province"
        )
    text = str(err.value)
    assert text.startswith("features[1] (code 'T') has an edge from lon 179.8, lat -17 to lon ")
    assert "-179.8" in text and "antimeridian" in text and "split there" in text
    # A Region made directly says the same.
    with pytest.raises(InvalidRegions, match=r"region 'T' geometry has an edge .* antimeridian"):
        Region(code="T", name="Taveuni", level="province", geometry=unsplit)


def test_a_region_split_at_the_antimeridian_locates_as_shapely_says() -> None:
    """Split as RFC 7946 asks, the region holds both sides, the meridian itself included."""
    split = sg.MultiPolygon([TAVEUNI_WEST, TAVEUNI_EAST])
    provinces = RegionSet.from_geojson(
        _fc(("T", split), ("V", VANUA)), code_property="code", level="province"
    )
    rng = np.random.default_rng(11)
    lon = np.concatenate(
        [rng.uniform(179.0, 180.0, 3000), rng.uniform(-180.0, -179.0, 3000), [180.0, -180.0]]
    )
    lon = np.concatenate([lon, [179.8, -179.8, 178.5, 0.0]])
    lat = np.concatenate([rng.uniform(-17.2, -16.4, 6002), [-16.8, -16.8, -16.8, -16.8]])
    points = shapely.points(lon, lat)
    oracle = np.where(
        shapely.covers(split, points), "T", np.where(shapely.covers(VANUA, points), "V", "")
    )
    assert provinces.locate(lon, lat).tolist() == oracle.tolist()
    # A polar cap's sides run along the antimeridian from -180 to 180: no crossing.
    cap = Region(code="N", name="north", level="zone", geometry=sg.box(-180.0, 80.0, 180.0, 90.0))
    assert RegionSet([cap]).locate(
        [0.0, 179.9, -179.9, 0.0], [85.0, 81.0, 81.0, 79.0]
    ).tolist() == [
        "N",
        "N",
        "N",
        "",
    ]


def _fiji_grid(ring: list[tuple[float, float]]) -> list[list[float]]:
    to_grid = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:3460", always_xy=True)
    x, y = to_grid.transform([p[0] for p in ring], [p[1] for p in ring])
    return [[float(a), float(b)] for a, b in zip(x, y, strict=True)]


_LOAD = """
import json, sys
from geotarget.errors import InvalidRegions
from geotarget.regions import RegionSet
try:
    RegionSet.from_geojson(json.loads(sys.argv[1]), code_property="code", level="x",
                           crs=sys.argv[2])
except InvalidRegions as err:
    print(err)
else:
    print("LOADED")
"""


def _load_elsewhere(fc: dict[str, Any], crs: str) -> str:
    """The loader's message, in a child process that is stopped if it does not finish."""
    import json

    try:
        done = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(_LOAD), json.dumps(fc), crs],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except subprocess.TimeoutExpired:  # pragma: no cover - the defect this test guards
        pytest.fail("loading the region file did not finish: vertices were added endlessly")
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_projected_region_across_the_antimeridian_is_refused_at_once() -> None:
    """Fiji's map grid (EPSG:3460) spans the 180th meridian: Taveuni lies across it.

    Reprojected vertex by vertex, the edge across the meridian jumped from 179.8 to -179.8;
    following it added one vertex a round (every half of it strays by half the globe), a
    million rounds of copying every vertex: the load never finished. Refused now, at once.
    """
    taveuni = [(179.8, -17.0), (-179.8, -17.0), (-179.8, -16.6), (179.8, -16.6), (179.8, -17.0)]
    fc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"code": "TAV"},
                "geometry": {"type": "Polygon", "coordinates": [_fiji_grid(taveuni)]},
            }
        ],
    }
    text = _load_elsewhere(fc, "EPSG:3460")
    assert text.startswith("features[0] (code 'TAV') has an edge from lon 179.8"), text
    assert "(reprojected from crs 'EPSG:3460')" in text and "antimeridian" in text


def test_a_projected_edge_through_the_pole_is_refused_at_once() -> None:
    """A polar stereographic edge through the North Pole strays however often it is halved.

    NSIDC's north grid (EPSG:3413): the edge from (0, -1000 km) to (0, 1000 km) passes over
    the pole; its lon/lat pieces next to the pole never come within 0.1 m of their chords, so
    cutting went on, two vertices a round, until the million-vertex bound: the load never
    finished. Refused now after a bounded number of rounds, saying why.
    """
    ring = [[0.0, -1_000_000.0], [0.0, 1_000_000.0], [500_000.0, 0.0], [0.0, -1_000_000.0]]
    fc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"code": "P"},
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        ],
    }
    text = _load_elsewhere(fc, "EPSG:3413")
    assert text.startswith("features[0] (code 'P') has an edge that crs 'EPSG:3413' bends"), text
    assert "64 rounds" in text and "through a pole" in text


def test_longitudes_from_0_to_360_are_named_as_such_not_as_projected_data() -> None:
    """Pacific data written 0..360 east was told it 'looks projected' and to pass a CRS."""
    eastward = sg.box(178.0, -18.0, 182.0, -16.0)
    with pytest.raises(InvalidRegions) as err:
        RegionSet.from_geojson(_fc(("FJ", eastward)), code_property="code", level="x")
    text = str(err.value)
    assert text.startswith("features[0] (code 'FJ') has coordinates such as x=182, y=-18")
    assert "degrees east from 0 to 360" in text and "subtract 360" in text
    assert "looks projected" not in text
    # Projected metres are still told they look projected.
    with pytest.raises(InvalidRegions, match="looks projected but declares no CRS"):
        RegionSet.from_geojson(
            _fc(("S", sg.box(600_000, 6_500_000, 700_000, 6_600_000))),
            code_property="code",
            level="x",
        )


def _aeqd_metres(lon: float, lat: float, dense: Any) -> float:
    """Metres from (lon, lat) to a densified lon/lat geometry, in an azimuthal frame centred there.

    The geometry is densified in lon/lat first (its edges are straight there; see
    ``_densified``); the frame (pyproj's ``aeqd`` centred on the point, the pipeline that
    ``Transformer.from_crs("EPSG:4326", "+proj=aeqd ...")`` builds, made directly since
    looking EPSG:4326 up for every point dominated the test) wraps longitudes around the
    point, so it sees the geometry where it is.
    """
    frame = pyproj.Transformer.from_pipeline(
        "+proj=pipeline +step +proj=unitconvert +xy_in=deg +xy_out=rad "
        f"+step +proj=aeqd +lat_0={lat} +lon_0={lon} +ellps=WGS84"
    )
    return float(
        shapely.transform(dense, lambda xy: np.column_stack(frame.transform(*xy.T))).distance(
            sg.Point(0, 0)
        )
    )


def _densified(geom: Any) -> Any:
    """The geometry with vertices every 0.0005 degrees along its straight lon/lat edges."""
    return shapely.segmentize(geom, 0.0005)


def test_snapping_reaches_a_region_across_the_antimeridian() -> None:
    """``snap_m`` looked for regions within a lon/lat window that stopped at the meridian.

    A device at lon 179.99 off Taveuni's east half (lon -180 to -179.8), 1 km away, stayed in
    no region with ``snap_m=5000``, although the docstring promises every point within
    ``snap_m - 1 mm`` of a region is snapped to it. Oracle: pyproj's azimuthal equidistant
    frame centred on each point, on the densified regions.
    """
    regions = {"E": TAVEUNI_EAST, "W": sg.box(178.5, -17.0, 179.7, -16.6)}
    provinces = RegionSet(
        Region(code=c, name=c, level="province", geometry=g) for c, g in regions.items()
    )
    rng = np.random.default_rng(7)
    lon = np.concatenate([rng.uniform(179.7, 180.0, 300), rng.uniform(-180.0, -179.75, 300)])
    lat = rng.uniform(-17.08, -16.52, 600)
    lon = np.concatenate([lon, [179.99, 180.0, -180.0]])
    lat = np.concatenate([lat, [-16.8, -17.02, -17.02]])
    snap = 5000.0
    got = provinces.locate(lon, lat, snap_m=snap)
    dense = {c: _densified(g) for c, g in regions.items()}
    checked = 0
    for k in range(lon.size):
        metres = {c: _aeqd_metres(float(lon[k]), float(lat[k]), d) for c, d in dense.items()}
        best = min(sorted(metres), key=lambda c: metres[c])
        if any(abs(m - snap) < 5.0 for m in metres.values()):
            continue  # too close to the threshold for the frame's rounding
        assert got[k] == (best if metres[best] <= snap else ""), (k, metres)
        checked += 1
    assert checked > 550
    assert got[-3] == "E" and "E" in got[:300]  # across the meridian from the west side
