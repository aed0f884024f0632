"""An issuer's own county outline, moved by metres, and circles along its border: the answer.

These inputs took the issuer's slack check seconds (an outline densified to 1.5 m along a
county's whole border, every point measured to the border's segments): the check now grows
the home regions by the slack and asks whether they cover the piece past the border. The
answer must not change. The oracle: shapely on the built-in municipalities (which region a
point is in) and SWEREF 99 TM (EPSG:3006, within 0.1 % of geodesic distances here) for
distances, sharing nothing with the library's own geometry.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

import attrs
import numpy as np
import pyproj
import pytest
import shapely

from geotarget import Alert, Area, Circle, Polygon, PositionIndex, Positions, pilot, sweden
from geotarget.issuers import Issuer, Issuers
from geotarget.ledger import MemoryLedger
from geotarget.targeting import Targeter, Verdict

#: Tip requests are enabled nationwide then (the pilot's phase 3).
AT = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.timezone.utc)
MSG = pilot.Message(headline="x", description="x", area_description="x")
TO_TM = pyproj.Transformer.from_crs(4326, 3006, always_xy=True)
TO_LONLAT = pyproj.Transformer.from_crs(3006, 4326, always_xy=True)
SLACK = 25.0


def _tm(geom: Any) -> Any:
    """In SWEREF 99 TM, densified first to 0.001° (edges are straight in lon/lat)."""
    fine = shapely.segmentize(geom, 1e-3)
    return shapely.transform(fine, lambda xy: np.column_stack(TO_TM.transform(*xy.T)))


def _lonlat(geom: Any) -> Any:
    return shapely.transform(geom, lambda xy: np.column_stack(TO_LONLAT.transform(*xy.T)))


@functools.cache
def _munis_tm() -> dict[str, Any]:
    """The built-in municipalities in SWEREF 99 TM, by code."""
    m = sweden.municipalities()
    return {c: _tm(m[c].geometry) for c in m.codes}


@functools.cache
def _county(prefix: str) -> Any:
    m = sweden.municipalities()
    return shapely.union_all([m[c].geometry for c in m.codes if c.startswith(prefix)])


def _targeter(county: str) -> Targeter:
    issuers = Issuers(
        [Issuer(name="own", senders=[f"c{county}@polisen.example"], kinds=["tip_request"],
                regions=[county])]
    )  # fmt: skip
    # No area limit: a county-wide tip request is what this file is about.
    rules = dict(pilot.KIND_RULES)
    rules["tip_request"] = attrs.evolve(rules["tip_request"], max_area_km2=None)
    targeter = Targeter(
        sweden.hierarchy(), sweden.pilot_policy(), ledger=MemoryLedger(), issuers=issuers,
        border_slack_m=SLACK, location_rules=rules,
    )  # fmt: skip
    targeter.warm()
    return targeter


def _alert(county: str, area: Area, ident: str) -> Alert:
    return pilot.tip_request(
        identifier=ident, sender=f"c{county}@polisen.example", sent=AT, area=area, sv=MSG,
        en=MSG, onset=AT, expires=AT + dt.timedelta(hours=2),
    )  # fmt: skip


def _polygons(geom: Any) -> Area:
    parts = []
    for p in shapely.get_parts(geom):
        holes = [shapely.get_coordinates(h) for h in p.interiors]
        parts.append(Polygon(shapely.get_coordinates(p.exterior), holes=holes))
    return Area(parts)


def _far_regions(area_tm: Any, county: str, beyond_m: float) -> set[str]:
    """The municipalities outside ``county`` with a point of the area over ``beyond_m`` away.

    Sampled every 2 m along the pieces' outlines (these pieces are thin), measured as not
    covered by the county grown by ``beyond_m`` (chords within 1e-4 of it).
    """
    grown = shapely.buffer(_tm(_county(county)), beyond_m, quad_segs=64)
    shapely.prepare(grown)
    out = set()
    for code, geom in _munis_tm().items():
        if code.startswith(county) or not shapely.intersects(area_tm, geom):
            continue
        piece = shapely.intersection(area_tm, geom)
        if shapely.area(piece) < 1e-6:
            continue
        xy = shapely.get_coordinates(shapely.segmentize(shapely.boundary(piece), 2.0))
        if not shapely.covers(grown, shapely.points(xy)).all():
            out.add(code)
    return out


def _devices(area: Any, county: str, n: int, seed: int) -> tuple[Any, Any]:
    """Devices within 40 m of the county's border, both sides (lon, lat)."""
    line = _tm(shapely.boundary(_county(county)))
    rng = np.random.default_rng(seed)
    foot = shapely.get_coordinates(
        shapely.line_interpolate_point(line, rng.uniform(0.0, line.length, n))
    )
    xy = foot + rng.uniform(-40.0, 40.0, (n, 2))
    lon, lat = TO_LONLAT.transform(xy[:, 0], xy[:, 1])
    return np.asarray(lon), np.asarray(lat)


def _told(area_lonlat: Any, county: str, lon: Any, lat: Any) -> list[int]:
    points = shapely.points(lon, lat)
    inside = shapely.covers(area_lonlat, points) & shapely.covers(_county(county), points)
    return [int(i) for i in np.flatnonzero(inside)]


@pytest.mark.parametrize(
    ("county", "shift"),
    [
        pytest.param("23", (3.0, -4.0), id="Jämtland (Norway border) moved 5 m"),
        pytest.param("01", (-14.0, 14.0), id="Stockholm moved 20 m"),
    ],
)
def test_a_county_outline_moved_within_the_slack_is_sent_to_its_own_devices_only(
    county: str, shift: tuple[float, float]
) -> None:
    """Moved by less than the slack, the outline is sent; nobody past the border is told."""
    moved = _tm(_county(county))
    moved = shapely.affinity.translate(moved, *shift)
    area_ll = _lonlat(moved)
    # The oracle: it reaches other municipalities, none of them farther than the slack.
    assert _far_regions(moved, county, 0.0)
    assert not _far_regions(moved, county, SLACK - 1.0)
    lon, lat = _devices(area_ll, county, 3_000, int(county))
    index = PositionIndex(
        Positions(np.arange(lon.size), lon, lat, accuracy_m=np.zeros(lon.size), observed_at=AT)
    )
    got = _targeter(county).target(_alert(county, _polygons(area_ll), "moved"), index, AT,
                                   confirm=True)  # fmt: skip
    assert got.verdict is Verdict.DELIVER, got.reason
    want = _told(area_ll, county, lon, lat)
    assert want and sorted(got.recipients.tolist()) == want
    assert "outside the regions where it is enabled or where its sender's issuer" in got.reason


def test_a_moved_outline_with_a_corridor_far_past_the_border_is_refused_naming_it() -> None:
    """A 6 m corridor reaching 3 km past the border: refused, its municipality named."""
    county = "23"
    home = _tm(_county(county))
    moved = shapely.affinity.translate(home, 3.0, -4.0)
    ring = shapely.get_coordinates(shapely.boundary(max(shapely.get_parts(home),
                                                        key=shapely.area)))  # fmt: skip
    start = ring[len(ring) // 3]
    centre = np.asarray(shapely.centroid(home).coords[0])
    direction = (start - centre) / np.hypot(*(start - centre))
    line = shapely.LineString([start - 50.0 * direction, start + 3_000.0 * direction])
    corridor = shapely.segmentize(shapely.buffer(line, 3.0, cap_style="flat"), 100.0)
    area_tm = shapely.union(moved, corridor)
    far = _far_regions(area_tm, county, SLACK + 1.0)
    assert far == _far_regions(area_tm, county, SLACK - 1.0)  # none near the threshold
    assert len(far) == 1
    area_ll = _lonlat(area_tm)
    index = PositionIndex(Positions([1], [14.6], [63.2], accuracy_m=[0.0], observed_at=AT))
    got = _targeter(county).target(_alert(county, _polygons(area_ll), "corridor"), index, AT,
                                   confirm=True)  # fmt: skip
    assert got.verdict is Verdict.NOT_AUTHORISED, got.reason
    assert f"reaches 1 municipality region(s) outside the regions of issuer 'own' ({county}): " \
        f"{far.pop()};" in got.reason  # fmt: skip


def _border_circles(inside_m: float, n: int) -> tuple[Area, Any]:
    """``n`` circles of 300 m centred ``inside_m`` inside Stockholm county's Uppsala border.

    The Area, and the circles in SWEREF 99 TM.
    """
    home = _tm(_county("01"))
    shared = shapely.intersection(shapely.boundary(home), _tm(_county("03")).buffer(50.0))
    foot = shapely.line_interpolate_point(shared, np.linspace(0.05, 0.95, n) * shared.length)
    inner = shapely.boundary(home.buffer(-inside_m))
    centre = shapely.line_interpolate_point(inner, shapely.line_locate_point(inner, foot))
    xy = shapely.get_coordinates(centre)
    lon, lat = TO_LONLAT.transform(xy[:, 0], xy[:, 1])
    area = Area([Circle(float(a), float(b), 300.0) for a, b in zip(lon, lat, strict=True)])
    return area, shapely.union_all(shapely.buffer(centre, 300.0, quad_segs=64))


@pytest.mark.parametrize("inside_m", [290.0, 240.0])
def test_many_circles_along_the_border_are_decided_by_how_far_they_reach(
    inside_m: float,
) -> None:
    """Rims 10 m past the border: sent, its devices only; 60 m past: refused, regions named."""
    area, disks = _border_circles(inside_m, 120)
    far = _far_regions(disks, "01", SLACK + 1.0)
    assert far == _far_regions(disks, "01", SLACK - 1.0)  # none near the threshold
    lon, lat = _devices(_lonlat(disks), "01", 2_000, 18)
    index = PositionIndex(
        Positions(np.arange(lon.size), lon, lat, accuracy_m=np.zeros(lon.size), observed_at=AT)
    )
    got = _targeter("01").target(_alert("01", area, f"circles-{inside_m}"), index, AT,
                                 confirm=True)  # fmt: skip
    if not far:
        assert got.verdict is Verdict.DELIVER, got.reason
        # Devices more than a metre from every rim: the TM disks decide them (0.1 %).
        points_tm = _tm(shapely.points(lon, lat))
        clear = np.abs(shapely.distance(shapely.boundary(disks), points_tm)) > 1.0
        inside = shapely.covers(disks, points_tm) & shapely.covers(_tm(_county("01")), points_tm)
        told = np.isin(np.arange(lon.size), got.recipients.astype(np.int64))
        assert inside.any() and (told[clear] == inside[clear]).all()
    else:
        assert got.verdict is Verdict.NOT_AUTHORISED, got.reason
        named = got.reason.split("(01): ")[1].split(";")[0].split(", ")
        assert set(named) == far


def test_an_area_too_large_to_cache_is_checked_once_per_target(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An area over the slivers cache's bytes is checked for slack once per ``target()``.

    Admission and the plan ask for the same area object's slivers: the last such object is
    kept by identity. An equal copy is checked again, with the same answer. (Every area counts
    as too large here; Dalarna's border band as 1,099 polygons, 16.9 MB, was checked three
    times a call.)
    """
    from geotarget import _intake

    county = "01"
    moved = shapely.affinity.translate(_tm(_county(county)), -14.0, 14.0)
    area_ll = _lonlat(moved)
    lon, lat = _devices(area_ll, county, 1_000, 7)
    index = PositionIndex(
        Positions(np.arange(lon.size), lon, lat, accuracy_m=np.zeros(lon.size), observed_at=AT)
    )
    monkeypatch.setattr(_intake, "_SLIVERS_BYTES", 0)
    checks: list[str] = []
    reached = _intake.Gate._reached

    def counted(self: Any, issuer: Issuer, area: Area) -> Any:
        checks.append(issuer.name)
        return reached(self, issuer, area)

    monkeypatch.setattr(_intake.Gate, "_reached", counted)
    targeter = _targeter(county)
    want = _told(area_ll, county, lon, lat)
    for n in (1, 2):
        area = _polygons(area_ll)  # a new, equal object each time
        got = targeter.target(_alert(county, area, f"large-{n}"), index, AT, confirm=True)
        assert got.verdict is Verdict.DELIVER, got.reason
        assert want and sorted(got.recipients.tolist()) == want
        assert "or where its sender's issuer may alert, not told" in got.reason
        assert checks == ["own"] * n
