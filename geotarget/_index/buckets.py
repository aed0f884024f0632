"""Private: the tables behind :class:`geotarget.AreaIndex` (points → areas).

Every part of every area gets a small raster (:mod:`geotarget._index.raster`, 64 cells along
its longer side). A coarse lon/lat grid over all the parts' windows lists, per coarse cell, the
parts whose window meets it (compressed sparse rows, over only the cells some window meets).
Its cells are about half the median window, grown until the lists hold at most a budget of
entries proportional to the number of parts (a country-sized part among street-sized ones
would otherwise fill every cell). For an array of points:

1. each point's coarse cell gives its candidate parts (expanded into (point, part) pairs);
2. each pair's fine cell state is looked up in one flat array holding every part's raster;
3. only pairs in BOUNDARY cells are tested exactly — circles all at once with per-pair chord
   limits (``Geod.inv`` in the thin band), polygons all at once with ``shapely.intersects_xy``
   over an array of prepared polygons, polygons with a margin one part at a time;
4. the (point, area) pairs are de-duplicated (several parts of one area) and sorted.

Steps 1–4 run on the points in chunks of at most :data:`PAIR_CHUNK` candidate pairs, so the
temporaries stay bounded whatever the areas' overlap; only the answer grows with it.

The single-point path does the same in plain Python with per-cell tuples prepared in advance.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from geotarget import _geodesy, _geos, _sorted
from geotarget._index import raster as _raster
from geotarget._index.boundary import part_window
from geotarget._index.segments import clip
from geotarget._validate import FloatArray
from geotarget.areas import Area, Circle, Polygon

#: Cells along the longer side of each part's raster.
AREA_CELLS = 64
#: At most this many coarse cells along each axis. The grid is sparse (only cells some window
#: meets are stored), so this only keeps cell numbers in range: with at most 1024 a side, 2,000
#: street-sized circles in one city and one area on another continent shared a few cells, and
#: every device in the city had all 2,000 as candidates (matching took twenty times as long).
_COARSE_MAX = 1 << 24
#: Candidate (point, part) pairs :meth:`Buckets.match` expands and tests at once (a point's
#: pairs are never split). 1,000 overlapping circles over a million points have ~10 million:
#: all at once their temporaries took 1.9 GB, eight times the answer.
PAIR_CHUNK = 1 << 18
#: Grids of at most this many cells also get a dense cell → row table (4 bytes a cell, at most
#: 8 MB): one gather per point instead of a binary search over the stored cells, which took
#: 3 ms of an 8 ms match of 40,000 points over 1,000 areas.
_DENSE_CELLS = 1 << 21
#: The coarse grid holds about at most this many (cell, part) entries per part, plus
#: :data:`_ENTRIES_MIN`: cells grow until the parts' windows fit (see ``_build_coarse``).
_ENTRIES_PER_PART = 64
_ENTRIES_MIN = 1 << 16

IntArray = npt.NDArray[np.intp]


class Buckets:
    """Coarse grid → candidate parts → fine raster cell → exact test, for many points."""

    def __init__(self, areas: Mapping[str, Area], previous: Buckets | None = None) -> None:
        keys = list(areas)  # already sorted by the caller
        self.keys = np.array(keys, dtype=np.str_)
        parts: list[Circle | Polygon] = []
        owner: list[int] = []
        for i, k in enumerate(keys):
            # An area's equal parts once: one polygon written 5,000 times over built 5,000
            # rasters (eight seconds) and gave each point 5,000 candidate pairs.
            for p in dict.fromkeys(areas[k].parts):
                parts.append(p)
                owner.append(i)
        self.parts = parts
        self.n_areas = len(keys)
        self.owner = np.array(owner, dtype=np.intp)
        self.owner_key = [keys[i] for i in owner]
        n = len(parts)
        # Parts carried over from the previous snapshot keep their raster (matched by identity).
        known: dict[int, _raster.Raster] = (
            {}
            if previous is None
            else {id(p): r for p, r in zip(previous.parts, previous.rasters, strict=True)}
        )
        # Equal parts of different areas (alerts sharing a circle) share one raster.
        equal: dict[Circle | Polygon, _raster.Raster] = {}
        rasters = [
            known.get(id(p)) or equal.get(p) or equal.setdefault(p, _raster.raster(p, AREA_CELLS))
            for p in parts
        ]
        self.rasters: list[_raster.Raster] = rasters
        # Per-part raster geometry, gathered per pair at match time.
        self.r_x0 = np.array([r.x0 for r in rasters], dtype=np.float64)
        self.r_y0 = np.array([r.y0 for r in rasters], dtype=np.float64)
        self.r_px = np.array([r.cells_per_lon for r in rasters], dtype=np.float64)
        self.r_py = np.array([r.cells_per_lat for r in rasters], dtype=np.float64)
        self.r_nx = np.array([r.nx for r in rasters], dtype=np.intp)
        self.r_ny = np.array([r.ny for r in rasters], dtype=np.intp)
        sizes = np.array([r.flat.size for r in rasters], dtype=np.intp)
        self.r_off = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.intp)
        self.states = (
            np.concatenate([r.flat for r in rasters]) if n else np.zeros(0, dtype=np.uint8)
        )
        # Exact-test tables.
        self.is_circle = np.array([isinstance(p, Circle) for p in parts], dtype=np.bool_)
        self.c_lon = np.array([p.lon if isinstance(p, Circle) else 0.0 for p in parts])
        self.c_lat = np.array([p.lat if isinstance(p, Circle) else 0.0 for p in parts])
        self.c_reach = np.array([p.reach_m if isinstance(p, Circle) else 0.0 for p in parts])
        self.shapes = np.array(
            [p.shape if isinstance(p, Polygon) else None for p in parts], dtype=object
        )
        self.plain_polygon = np.array(
            [isinstance(p, Polygon) and p.margin_m == 0.0 for p in parts], dtype=np.bool_
        )
        self._build_coarse([part_window(p) for p in parts])
        for r in rasters:  # the summed tables (8 bytes a cell) only serve the coarse grid
            r.release()

    # --- coarse grid -------------------------------------------------------------------------

    def _build_coarse(self, windows: list[tuple[float, float, float, float]]) -> None:
        if not windows:
            self.g_x0 = self.g_y0 = 0.0
            self.g_px = self.g_py = 1.0
            self.g_nx = self.g_ny = 1
            self.ptr = np.zeros(1, dtype=np.intp)
            self.cell_ids = np.zeros(0, dtype=np.intp)
            self.cell_row: npt.NDArray[np.int32] | None = None
            self.entries = np.zeros(0, dtype=np.intp)
            self.entry_state = np.zeros(0, dtype=np.uint8)
            self.cell_entries: dict[int, tuple[int, ...]] = {}
            return
        w = np.array(windows, dtype=np.float64)
        x0, y0 = float(w[:, 0].min()), float(w[:, 1].min())
        x1, y1 = float(w[:, 2].max()), float(w[:, 3].max())
        # Cells about half the median window, at most _COARSE_MAX per axis.
        side_x = max(float(np.median(w[:, 2] - w[:, 0])) / 2.0, (x1 - x0) / _COARSE_MAX, 1e-9)
        side_y = max(float(np.median(w[:, 3] - w[:, 1])) / 2.0, (y1 - y0) / _COARSE_MAX, 1e-9)
        # Coarser cells while the parts' windows would fill more than the entry budget: one
        # country-wide area among 2,000 street-sized circles filled all 1024 × 1024 cells (a
        # million entries, 170 MB with the single-point table), forty such areas 870 MB.
        ww = w[:, 2] - w[:, 0]
        wh = w[:, 3] - w[:, 1]
        budget = _ENTRIES_PER_PART * len(windows) + _ENTRIES_MIN
        while True:
            nx = max(1, min(_COARSE_MAX, math.ceil((x1 - x0) / side_x)))
            ny = max(1, min(_COARSE_MAX, math.ceil((y1 - y0) / side_y)))
            across = np.minimum(np.ceil(ww / side_x) + 2.0, nx)
            down = np.minimum(np.ceil(wh / side_y) + 2.0, ny)
            if nx * ny == 1 or float(np.dot(across, down)) <= budget:
                break
            side_x *= 1.5
            side_y *= 1.5
        # A relative 1e-9 of slack keeps the far edges of the windows strictly inside the grid.
        px = nx / (max(x1 - x0, 1e-9) * (1.0 + 1e-9))
        py = ny / (max(y1 - y0, 1e-9) * (1.0 + 1e-9))
        ix0 = np.clip(np.floor((w[:, 0] - x0) * px - 1e-6), 0, nx - 1).astype(np.intp)
        ix1 = np.clip(np.floor((w[:, 2] - x0) * px + 1e-6), 0, nx - 1).astype(np.intp)
        iy0 = np.clip(np.floor((w[:, 1] - y0) * py - 1e-6), 0, ny - 1).astype(np.intp)
        iy1 = np.clip(np.floor((w[:, 3] - y0) * py + 1e-6), 0, ny - 1).astype(np.intp)
        cells: list[IntArray] = []
        owners: list[IntArray] = []
        states: list[npt.NDArray[np.uint8]] = []
        for i in range(len(windows)):
            mx, my = np.meshgrid(
                np.arange(ix0[i], ix1[i] + 1), np.arange(iy0[i], iy1[i] + 1), indexing="xy"
            )
            gx = mx.reshape(-1)
            gy = my.reshape(-1)
            # Pre-classify each coarse cell against the part's raster: drop cells wholly
            # outside, mark cells wholly inside (no fine look-up needed for their points).
            boxes = np.stack(
                [x0 + gx / px, y0 + gy / py, -(x0 + (gx + 1) / px), -(y0 + (gy + 1) / py)]
            )
            not_in, not_out = self.rasters[i].box_counts(boxes)
            # Each part's summed table (8 bytes a cell) is dropped as soon as it served: kept
            # for all parts to the end, 5,000 circles peaked at 270 MB for 80 MB kept.
            self.rasters[i].release()
            keep = not_out != 0
            cells.append((gy * nx + gx)[keep])
            owners.append(np.full(int(keep.sum()), i, dtype=np.intp))
            states.append(
                np.where(not_in[keep] == 0, _raster.INSIDE, _raster.BOUNDARY).astype(np.uint8)
            )
        cell = np.concatenate(cells)
        part = np.concatenate(owners)
        state = np.concatenate(states)
        order = np.lexsort((part, cell))
        cell = cell[order]
        part = part[order]
        state = state[order]
        self.g_x0, self.g_y0, self.g_px, self.g_py, self.g_nx, self.g_ny = x0, y0, px, py, nx, ny
        # Sparse rows: the cells some window meets (ascending), and where each one's run starts.
        uniq, first = np.unique(cell, return_index=True)
        bounds = np.append(first, cell.size)
        self.cell_ids = uniq
        self.cell_row = None
        if nx * ny <= _DENSE_CELLS:
            self.cell_row = np.full(nx * ny, -1, dtype=np.int32)
            self.cell_row[uniq] = np.arange(uniq.size, dtype=np.int32)
        self.ptr = bounds.astype(np.intp)
        self.entries = part
        self.entry_state = state
        # For the single-point path: coarse cell → tuple of part indices.
        # Entry code: part index * 4 + coarse state (INSIDE needs no fine look-up).
        plist = (part * 4 + state).tolist()
        self.cell_entries = {
            int(c): tuple(plist[bounds[j] : bounds[j + 1]]) for j, c in enumerate(uniq.tolist())
        }

    # --- many points -------------------------------------------------------------------------

    def match(self, x: FloatArray, y: FloatArray) -> tuple[IntArray, npt.NDArray[np.str_]]:
        empty = (np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.str_))
        if not self.cell_ids.size or x.size == 0:
            return empty
        fx = (x - self.g_x0) * self.g_px
        fy = (y - self.g_y0) * self.g_py
        # Points beyond the far edges by rounding are clamped into the last cell (they are
        # outside every window, so the fine tests reject them).
        inside = (fx >= 0.0) & (fx <= self.g_nx) & (fy >= 0.0) & (fy <= self.g_ny)
        pts = np.flatnonzero(inside)
        if pts.size == 0:
            return empty
        cx = np.minimum(fx[pts].astype(np.intp), self.g_nx - 1)
        cy = np.minimum(fy[pts].astype(np.intp), self.g_ny - 1)
        cell = cy * self.g_nx + cx
        if self.cell_row is not None:
            row = self.cell_row[cell].astype(np.intp)
            has = row >= 0
            row[~has] = 0
        else:
            row = np.searchsorted(self.cell_ids, cell)
            np.minimum(row, self.cell_ids.size - 1, out=row)
            has = self.cell_ids[row] == cell
        lo = self.ptr[row]
        cnt = self.ptr[row + 1] - lo
        pts, lo, cnt = pts[has], lo[has], cnt[has]
        ends = np.cumsum(cnt)
        if ends.size == 0:
            return empty
        # Whole points per chunk, about PAIR_CHUNK pairs each (a point's pairs: at most parts).
        cuts = np.searchsorted(ends, np.arange(PAIR_CHUNK, int(ends[-1]), PAIR_CHUNK), "right")
        bounds = [0, *np.unique(cuts).tolist(), pts.size]
        codes = [
            self._codes(x, y, pts[a:b], lo[a:b], cnt[a:b])
            for a, b in itertools.pairwise(bounds)
            if b > a
        ]
        code = codes[0] if len(codes) == 1 else np.concatenate(codes)
        rows, area = np.divmod(code, self.n_areas)
        return rows, self.keys[area]

    def _codes(
        self, x: FloatArray, y: FloatArray, pts: IntArray, lo: IntArray, cnt: IntArray
    ) -> IntArray:
        """``point * n_areas + area`` of each (point, area) pair of ``pts``, ascending, once.

        ``lo``, ``cnt``: each point's run of candidate entries in the coarse cell lists.
        """
        total = int(cnt.sum())
        # Expand into (point, part) pairs.
        starts = np.cumsum(cnt) - cnt
        pair_pt = np.repeat(pts, cnt)
        pair_entry = np.arange(total) - np.repeat(starts - lo, cnt)
        pair_part = self.entries[pair_entry]
        keep = self.entry_state[pair_entry] == _raster.INSIDE
        # Fine raster cell of each pair in a BOUNDARY coarse cell.
        fine = np.flatnonzero(~keep)
        if fine.size:
            fp = pair_part[fine]
            fpt = pair_pt[fine]
            px = x[fpt]
            py = y[fpt]
            ix = ((px - self.r_x0[fp]) * self.r_px[fp] + 1.0).astype(np.intp)
            clip(ix, 0, self.r_nx[fp] + 1, out=ix)
            iy = ((py - self.r_y0[fp]) * self.r_py[fp] + 1.0).astype(np.intp)
            clip(iy, 0, self.r_ny[fp] + 1, out=iy)
            iy *= self.r_nx[fp] + 2
            iy += ix
            iy += self.r_off[fp]
            state = self.states[iy]
            ok = state == _raster.INSIDE
            band = np.flatnonzero(state == _raster.BOUNDARY)
            if band.size:
                ok[band] = self._exact(fp[band], px[band], py[band])
            keep[fine] = ok
        # Pairs are ordered by point, then part (and parts by area key): codes ascend, so
        # duplicates (several parts of one area) are adjacent.
        code: IntArray = pair_pt[keep] * self.n_areas + self.owner[pair_part[keep]]
        if code.size > 1:
            first = np.empty(code.size, dtype=np.bool_)
            first[0] = True
            np.not_equal(code[1:], code[:-1], out=first[1:])
            code = code[first]
        return code

    def _exact(self, part: IntArray, x: FloatArray, y: FloatArray) -> npt.NDArray[np.bool_]:
        out = np.zeros(part.size, dtype=np.bool_)
        circ = np.flatnonzero(self.is_circle[part])
        if circ.size:
            out[circ] = self._exact_circles(part[circ], x[circ], y[circ])
        poly = np.flatnonzero(self.plain_polygon[part])
        if poly.size:
            out[poly] = _geos.intersects_xy(self.shapes[part[poly]], x[poly], y[poly])
        rest = np.flatnonzero(~self.is_circle[part] & ~self.plain_polygon[part])
        if rest.size:
            for p in _sorted.unique(part[rest]).tolist():
                sel = rest[part[rest] == p]
                out[sel] = self.parts[p].contains(x[sel], y[sel])
        return out

    def _exact_circles(self, part: IntArray, x: FloatArray, y: FloatArray) -> npt.NDArray[np.bool_]:
        (inside,) = _geodesy.geodesic_le(
            self.c_lon[part], self.c_lat[part], x, y, [(0.0, self.c_reach[part])]
        )
        return inside

    # --- one point ---------------------------------------------------------------------------

    def match_one(self, x: float, y: float) -> tuple[str, ...]:
        fx = (x - self.g_x0) * self.g_px
        fy = (y - self.g_y0) * self.g_py
        if not (0.0 <= fx <= self.g_nx and 0.0 <= fy <= self.g_ny):
            return ()
        cell = min(int(fy), self.g_ny - 1) * self.g_nx + min(int(fx), self.g_nx - 1)
        entries = self.cell_entries.get(cell)
        if entries is None:
            return ()
        found: list[str] = []
        owner_key = self.owner_key
        rasters = self.rasters
        last = ""
        for code in entries:
            p, coarse = divmod(code, 4)
            key = owner_key[p]
            if key == last:
                continue
            if coarse != _raster.INSIDE:
                state = rasters[p].lookup_one(x, y)
                if state == _raster.OUTSIDE or (
                    state == _raster.BOUNDARY and not self._exact_one(p, x, y)
                ):
                    continue
            found.append(key)
            last = key
        return tuple(found)

    def _exact_one(self, p: int, x: float, y: float) -> bool:
        part = self.parts[p]
        if isinstance(part, Circle):
            (inside,) = _geodesy.geodesic_le(part.lon, part.lat, x, y, [(0.0, part.reach_m)])
            return bool(inside)
        if part.margin_m == 0.0:
            return bool(_geos.intersects_xy(part.shape, x, y))
        return bool(part.contains(x, y))
