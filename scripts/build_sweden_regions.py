#!/usr/bin/env python3
"""Build ``geotarget/data/sweden/`` from Lantmäteriet's boundaries in ``../shared/data/sweden``.

Usage::

    python scripts/build_sweden_regions.py [SHARED_SWEDEN_DIR]

1. Read the 290 municipalities (``kommuner_lantmateriet_sweref99tm.geojson``: GSD-Sverigekartan
   1:1 miljon, land + inland water + territorial sea, CC0) in SWEREF 99 TM metres.
2. Simplify them as one coverage (``shapely.coverage_simplify``, Visvalingam-Whyatt that keeps
   shared edges shared, so the municipalities still tile without gaps or overlaps) in metres.
3. Move the kept vertices to WGS84 lon/lat (pyproj, EPSG:3006 -> EPSG:4326), pack them
   (``geotarget._regions_io.pack_polygons``: 1e-6 degree integers) and check the result: valid
   geometries, still a valid coverage, and every shipped boundary within ``TOLERANCE_M`` of the
   detailed boundary and vice versa (Hausdorff distance, measured in metres in SWEREF 99 TM on
   boundaries densified along their lon/lat edges).
4. Write ``kommuner.npz`` and ``kommuner.csv`` (SCB codes and names, from
   ``kommuner_folkmangd_2024.csv``).

The script is deterministic; run it again after changing the tolerance and commit the output.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import numpy as np
import pyproj
import shapely
import shapely.geometry as sg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from geotarget import _regions_io  # noqa: E402

#: The promise: every shipped boundary lies within this many metres of Lantmäteriet's, and
#: vice versa. Stated in geotarget.sweden and docs/regions.rst; tested in tests/test_sweden.py.
TOLERANCE_M = 60.0
#: The Visvalingam-Whyatt parameter of coverage_simplify (metres); checked against TOLERANCE_M.
VW_TOLERANCE = 50.0
#: What sampling every 0.0001 degrees can hide of the true distance (half a step, in metres).
SAMPLE_SLACK_M = 5.6
OUT = ROOT / "geotarget" / "data" / "sweden"


def read_sweref(path: Path) -> tuple[list[str], np.ndarray]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert "3006" in doc["crs"]["properties"]["name"], doc["crs"]
    codes = [f["properties"]["kommun_kod"] for f in doc["features"]]
    geoms = np.array([sg.shape(f["geometry"]) for f in doc["features"]], dtype=object)
    order = np.argsort(codes)
    return [codes[i] for i in order], geoms[order]


def deviation_m(shipped: np.ndarray, detailed: np.ndarray) -> np.ndarray:
    """Hausdorff distance in metres between each pair of lon/lat boundaries (sampled).

    Both boundaries follow their lon/lat-straight edges (segmentized at 0.001 degrees) and are
    moved to SWEREF 99 TM; the points of each, sampled every 0.0001 degrees (at most 11 m
    apart), are measured to the other's segments with an STRtree. The sampling can hide at
    most half a sample step (5.6 m) of the true distance.
    """
    to_tm = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:3006", always_xy=True)

    def metres(g: object, step: float) -> tuple[np.ndarray, np.ndarray]:
        rings = shapely.get_parts(shapely.segmentize(shapely.boundary(g), step))
        xy, ring = shapely.get_coordinates(rings, return_index=True)
        return np.column_stack(to_tm.transform(xy[:, 0], xy[:, 1])), ring

    def one_way(
        points: tuple[np.ndarray, np.ndarray], target: tuple[np.ndarray, np.ndarray]
    ) -> float:
        xy, ring = target
        same = ring[1:] == ring[:-1]
        segs = shapely.linestrings(np.stack([xy[:-1][same], xy[1:][same]], axis=1))
        tree = shapely.STRtree(segs)
        _, dist = tree.query_nearest(shapely.points(points[0]), return_distance=True)
        return float(dist.max())

    out = np.empty(len(shipped))
    for i, (a, b) in enumerate(zip(shipped, detailed, strict=True)):
        out[i] = max(
            one_way(metres(a, 0.0001), metres(b, 0.001)),
            one_way(metres(b, 0.0001), metres(a, 0.001)),
        )
    return out


def main() -> None:
    shared = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data" / "sweden"
    codes, tm = read_sweref(shared / "kommuner_lantmateriet_sweref99tm.geojson")
    assert len(codes) == 290 and shapely.coverage_is_valid(tm)
    simple = shapely.coverage_simplify(tm, VW_TOLERANCE)
    to_lonlat = pyproj.Transformer.from_crs("EPSG:3006", "EPSG:4326", always_xy=True)
    lonlat = shapely.transform(simple, lambda xy: np.column_stack(to_lonlat.transform(*xy.T)))
    arrays = _regions_io.pack_polygons(codes, lonlat)
    got_codes, shipped = _regions_io.unpack_polygons(arrays, "(just packed)")
    assert got_codes == codes
    assert shapely.is_valid(shipped).all(), "a packed municipality is invalid"
    assert shapely.coverage_is_valid(shipped), "the packed municipalities are not a coverage"

    doc = json.loads((shared / "kommuner_lantmateriet_wgs84.geojson").read_text(encoding="utf-8"))
    by_code = {f["properties"]["kommun_kod"]: sg.shape(f["geometry"]) for f in doc["features"]}
    detailed = np.array([by_code[c] for c in codes], dtype=object)
    dev = deviation_m(shipped, detailed)
    worst = int(np.argmax(dev))
    print(
        f"max deviation {dev[worst]:.1f} m ({codes[worst]}) + {SAMPLE_SLACK_M:g} m sampling "
        f"slack; tolerance {TOLERANCE_M:g} m"
    )
    assert dev.max() + SAMPLE_SLACK_M <= TOLERANCE_M, "raise TOLERANCE_M or lower VW_TOLERANCE"

    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "kommuner.npz").write_bytes(buf.getvalue())
    with (shared / "kommuner_folkmangd_2024.csv").open(encoding="utf-8") as fh:
        rows = sorted(csv.DictReader(fh), key=lambda r: r["kommun_kod"])
    assert [r["kommun_kod"] for r in rows] == codes
    with (OUT / "kommuner.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["kommun_kod", "kommun_namn", "lan_kod", "lan_namn"])
        for r in rows:
            w.writerow([r["kommun_kod"], r["kommun_namn"], r["lan_kod"], r["lan_namn"]])
    print(
        f"{len(codes)} municipalities, "
        f"{int(shapely.get_num_coordinates(tm).sum()):,} vertices simplified to "
        f"{int(shapely.get_num_coordinates(shipped).sum()):,} (SWEREF 99 TM file), "
        f"kommuner.npz {len(buf.getvalue()):,} bytes"
    )


if __name__ == "__main__":
    main()
