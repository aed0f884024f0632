"""Fuzzing the public doors: areas, GeoJSON, rollout documents, positions files and the command.

Each test feeds arbitrary (small) input, plus the hostile examples of issue 14 as explicit
``@example``s, and asserts: the call gives a correct answer (checked against an independent
oracle or a round trip), or raises a :class:`~geotarget.errors.GeotargetError` subclass. The
Hypothesis deadline bounds each call's time (generous, so that a loaded machine does not flake;
a hang or a quadratic blow-up still fails).
"""

from __future__ import annotations

import codecs
import datetime as dt
import json
import pathlib
import re
import subprocess
import sys
import tempfile
from typing import Any

import numpy as np
import pyproj
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from geotarget import Area, Circle, Polygon, _position_files
from geotarget.errors import GeotargetError, InvalidInput, InvalidPolicy
from geotarget.rollout import RolloutPolicy

GEOD = pyproj.Geod(ellps="WGS84")
FUZZ = settings(  # example counts come from the profile (dev 100, ci 200, min 20)
    deadline=dt.timedelta(seconds=10),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
HUGE = 10**400
SQUARE = [(18.0, 59.0), (18.1, 59.0), (18.1, 59.1), (18.0, 59.1)]

#: Anything a caller might pass where a number or coordinate is expected.
scalars = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([HUGE, -HUGE, 1j, 18 + 0j, "18", "", None, True, b"59", [], [18.0]]),
)
#: Nested lists of those: rings, ragged rings, vertex lists.
nested = st.recursive(scalars, lambda inner: st.lists(inner, max_size=6), max_leaves=30)


def _expect_ours(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call ``fn``; our own exceptions are answers, anything else fails the test."""
    try:
        return fn(*args, **kwargs)
    except GeotargetError:
        return None


# --- areas -------------------------------------------------------------------------------------


@FUZZ
@given(lon=scalars, lat=scalars, radius=scalars, margin=scalars)
@example(lon=18.0, lat=59.0, radius=HUGE, margin=0.0)
@example(lon=HUGE, lat=59.0, radius=10.0, margin=0.0)
@example(lon=18 + 1j, lat=59.0, radius=10.0, margin=0.0)
@example(lon="18", lat="59", radius="500", margin=0.0)
def test_circle_constructor(lon: Any, lat: Any, radius: Any, margin: Any) -> None:
    """A Circle is built from finite, in-range real numbers only, and holds its centre."""
    c = _expect_ours(Circle, lon, lat, radius, margin_m=margin)
    if c is not None:
        assert all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (lon, lat))
        assert (c.lon, c.lat, c.radius_m) == (float(lon), float(lat), float(radius))
        assert c.contains(c.lon, c.lat)


@FUZZ
@given(lon=nested, lat=nested)
@example(lon=18 + 1j, lat=59.0)
@example(lon=[18.0, "59"], lat=[59.0, 59.0])
@example(lon=[[18.0], [18.0, 1.0]], lat=[[59.0], [59.0, 1.0]])
@example(lon=[HUGE], lat=[59.0])
@example(lon="18.06", lat="59.33")
def test_contains(lon: Any, lat: Any) -> None:
    """contains() answers exactly like the geodesic oracle, or raises our error."""
    circle = Circle(18.06, 59.33, 5_000.0)
    got = _expect_ours(circle.contains, lon, lat)
    if got is not None:
        x = np.asarray(lon, dtype=np.float64)
        y = np.asarray(lat, dtype=np.float64)
        assert got.shape == x.shape
        # two padding points: pyproj 3.7.1 (Python 3.10) takes a one-element array for a scalar
        px, py = np.append(x.ravel(), [0.0, 0.0]), np.append(y.ravel(), [0.0, 0.0])
        _, _, d = GEOD.inv(np.full(px.size, 18.06), np.full(px.size, 59.33), px, py)
        assert got.ravel().tolist() == (np.asarray(d)[:-2] <= 5_000.0).tolist()


@FUZZ
@given(ring=nested, holes=nested)
@example(ring=[("18.0", "59.0"), (18.1, 59.0), (18.1, 59.1)], holes=[])
@example(ring=[(18.0, 59.0), (18.1, 59.0, 1.0, 2.0), (18.1, 59.1)], holes=[])
@example(ring=[1, 2, 3], holes=[])
@example(ring=[(1,), (2,), (3,)], holes=[])
@example(ring=SQUARE, holes=[5])
@example(ring=[(HUGE, 59.0), (18.1, 59.0), (18.1, 59.1)], holes=[])
@example(ring=[(0.0, 0.0), (1.0, 1.0), (1.0, 0.0), (0.0, 1.0)], holes=[])
def test_polygon_and_repair(ring: Any, holes: Any) -> None:
    """Polygon and Polygon.repair: a valid shape whose vertices are inside, or our error."""
    poly = _expect_ours(Polygon, ring, holes)
    if poly is not None:
        xs, ys = zip(*poly.exterior, strict=True)
        assert poly.contains(list(xs), list(ys)).all()
    area = _expect_ours(Polygon.repair, ring, holes)
    if area is not None:
        assert area.to_shapely().is_valid
        assert area.area_m2 > 0.0


def _geojson_docs() -> st.SearchStrategy[Any]:
    leaf = st.one_of(scalars, st.text(max_size=10), st.just(None))
    values = st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.lists(inner, max_size=5),
            st.dictionaries(
                st.sampled_from(
                    [
                        *("type", "coordinates", "features", "geometry", "geometries"),
                        *("properties", "radius_m", "margin_m"),
                    ]
                ),
                inner,
                max_size=4,
            ),
            st.fixed_dictionaries(
                {"type": st.sampled_from(["Polygon", "Feature", "FeatureCollection"])},
                optional={"coordinates": inner, "features": inner, "geometry": inner},
            ),
        ),
        max_leaves=40,
    )
    return values


@FUZZ
@given(doc=_geojson_docs())
@example(doc="[" * 100_000 + "]" * 100_000)
@example(doc='{"type": "GeometryCollection", "geometries": [' * 3_000 + "]}" * 3_000)
@example(
    doc='{"type": "Feature", "geometry": {"type": "Point", "coordinates": [18, 59]}, '
    '"properties": {"radius_m": 1' + "0" * 400 + "}}"
)
@example(doc=b"\xff\xfe{")
@example(doc={"type": "Polygon", "coordinates": [[1, 2, 3]]})
def test_from_geojson(doc: Any) -> None:
    """Area.from_geojson: an area that round-trips through GeoJSON, or InvalidGeoJSON & co."""
    area = _expect_ours(Area.from_geojson, doc)
    if area is not None:
        assert Area.from_geojson(json.dumps(area.to_geojson())) == area


# --- rollout documents -------------------------------------------------------------------------

_PHASE = (
    '{{"kinds": {{"crime_modus": {{"phases": [{{"starts_at": {start}, "regions": {regions}, '
    '"percentage": {pct}}}]}}}}}}'
)


@FUZZ
@given(
    start=st.one_of(
        st.datetimes(timezones=st.timezones()).map(lambda t: json.dumps(t.isoformat())),
        st.sampled_from(['"0001-01-01T00:00:00+14:00"', '"9999-12-31T23:59:59-14:00"', "1"]),
    ),
    regions=st.lists(st.text(max_size=6), max_size=4).map(json.dumps)
    | st.sampled_from(['"01"', "[[]]", "null"]),
    pct=st.one_of(
        st.floats(allow_nan=False).map(repr).map(lambda s: s.replace("inf", "1e400")),
        st.integers(-(10**5), 10**5).map(str),
        st.sampled_from(["1e400", "1" + "0" * 400, "1e-9", "0.001", "true", '"50"']),
    ),
)
@example(start='"2024-04-15T00:00:00+02:00"', regions='["01"]', pct="1e400")
@example(start='"2024-04-15T00:00:00+02:00"', regions='["01"]', pct="1" + "0" * 400)
@example(start='"2024-04-15T00:00:00+02:00"', regions='["01"]', pct="1e-9")
@example(start='"0001-01-01T00:00:00+14:00"', regions='["01"]', pct="100")
@example(start='"9999-12-31T23:59:59-14:00"', regions='["01"]', pct="100")
def test_from_json_phase_values(start: str, regions: str, pct: str) -> None:
    """A policy that round-trips with its percentage on the 0.01 grid, or InvalidPolicy."""
    policy = _expect_ours(
        RolloutPolicy.from_json, _PHASE.format(start=start, regions=regions, pct=pct)
    )
    if policy is not None:
        (phase,) = policy.rollout("crime_modus").phases
        assert 0.0 <= phase.percentage <= 100.0
        assert round(phase.percentage * 100) == pytest.approx(phase.percentage * 100, abs=1e-9)
        assert float(json.loads(pct)) == pytest.approx(phase.percentage, abs=1e-9)
        assert RolloutPolicy.from_json(policy.to_json()) == policy
        assert RolloutPolicy.from_toml(policy.to_toml()) == policy


@FUZZ
@given(text=st.text(max_size=200) | st.binary(max_size=200))
@example(text="[" * 100_000 + "]" * 100_000)
@example(text='{"a": ' * 50_000 + "1" + "}" * 50_000)
@example(text="x = " + "[" * 100_000 + "]" * 100_000)
@example(text=b"\xff\xfe\x00")
@example(text="policy.toml")
def test_from_json_and_from_toml_text(text: str | bytes) -> None:
    """Any text or bytes: a policy that round-trips, or InvalidPolicy (never a parser's error)."""
    for reader, writer in (
        (RolloutPolicy.from_json, RolloutPolicy.to_json),
        (RolloutPolicy.from_toml, RolloutPolicy.to_toml),
    ):
        policy = _expect_ours(reader, text)
        if policy is not None:
            assert reader(writer(policy)) == policy


@pytest.mark.parametrize("reader", ["from_toml", "from_json"])
@pytest.mark.parametrize("what", ["missing", "directory", "latin-1"])
def test_unreadable_policy_paths(tmp_path: pathlib.Path, what: str, reader: str) -> None:
    """A path that cannot be read as UTF-8 text: InvalidPolicy naming the path."""
    path = {"missing": tmp_path / "nope.toml", "directory": tmp_path}.get(what, tmp_path / "p")
    if what == "latin-1":
        path.write_bytes('salt = "Malmö"\n'.encode("latin-1"))
    with pytest.raises(InvalidPolicy) as info:
        getattr(RolloutPolicy, reader)(path)
    assert str(path) in str(info.value)


def test_empty_and_bom_policy_files(tmp_path: pathlib.Path) -> None:
    """An empty TOML file is the empty policy; a UTF-8 BOM is skipped; empty JSON is invalid."""
    empty, bom = tmp_path / "empty.toml", tmp_path / "bom.toml"
    empty.write_bytes(b"")
    bom.write_bytes(codecs.BOM_UTF8 + b'salt = "s"\n')
    assert RolloutPolicy.from_toml(empty) == RolloutPolicy()
    assert RolloutPolicy.from_toml(bom).salt == "s"
    with pytest.raises(InvalidPolicy, match="not valid JSON"):
        RolloutPolicy.from_json(empty)


# --- positions files ---------------------------------------------------------------------------


def _read(data: bytes, suffix: str = ".csv", **kwargs: Any) -> Any:
    with tempfile.TemporaryDirectory() as folder:
        path = pathlib.Path(folder) / f"positions{suffix}"
        path.write_bytes(data)
        return _position_files.read(path, **kwargs)


@FUZZ
@given(data=st.binary(max_size=300))
@example(
    data=b"\xef\xbb\xbfid;lon;lat;accuracy_m;observed_at\n0701234567;18,06;59,33;8;1716206100\n"
)
@example(data="id,lon,lat,accuracy_m,observed_at\n²³,18.0,59.0,8,1716206100\n".encode())
@example(data=b"id,lon,lat,accuracy_m,observed_at\n1,18.0,59.0,8,1716206100000\n")
@example(data=b"id,lon,lat,accuracy_m,observed_at\n1,18.0,59.0,8,0001-01-01T00:00:00+14:00\n")
@example(data=b"id\x00,lon,lat\n")
@example(data=b"id,lon,lat,observed_at\n1,18.0,59.0,1716206100\n")  # no accuracy_m
@example(data="id,lon,lat,accuracy_m,observed_at\n1,١٨,59.0,8,1716206100\n".encode())
@example(data=b'id,lon,lat,accuracy_m,observed_at\n"1' + b"x" * 200_000 + b'",18,59,8,1716206100\n')
def test_positions_files_of_any_bytes(data: bytes) -> None:
    """Any bytes as a positions file: Positions with text ids, or one InvalidInput line."""
    got = _expect_ours(_read, data)
    if got is not None:
        positions, report = got
        assert len(positions) == report.rows > 0
        assert positions.ids.dtype.kind == "U"


def _read_verbatim(ident: str) -> bool:
    r"""Whether the reader's documented rules take this id as written.

    Not PostgreSQL's NULL in its text format (``\N``), nor a number in scientific notation (a
    spreadsheet's long number, its last digits lost), both refused; nor an Excel text formula
    (``="07"``), read as its text.
    """
    scientific = re.fullmatch(r"[+-]?\d(?:[.,]\d+)?[eE][+-]\d{1,3}", ident, re.ASCII)
    return ident != "\\N" and scientific is None and not ident.startswith('="')


_ID = (
    st.text(alphabet=st.characters(exclude_categories=("Cc", "Cs", "Zs", "Zl", "Zp")), min_size=1)
    .filter(lambda s: s.strip() == s)
    .filter(_read_verbatim)
)


def _holds_utf8_multibyte(data: bytes) -> bool:
    """Whether some 2-4 bytes of ``data`` are one non-ASCII character in UTF-8 (Python's codec)."""
    for i in range(len(data)):
        for n in (2, 3, 4):
            chunk = data[i : i + n]
            try:
                if len(chunk) == n and len(chunk.decode("utf-8")) == 1:
                    return True  # n bytes, one character: a multi-byte one
            except UnicodeDecodeError:
                pass
    return False


@FUZZ
@given(
    rows=st.lists(
        st.tuples(
            _ID,
            st.floats(-180, 180, allow_nan=False),
            st.floats(-90, 90, allow_nan=False),
            st.integers(10**9, 4 * 10**9),
        ),
        min_size=1,
        max_size=8,
        unique_by=lambda r: r[0],
    ),
    delimiter=st.sampled_from([",", ";", "\t"]),
    decimal_comma=st.booleans(),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16"]),
)
@example(
    rows=[("¡Â¡", 0.0, 0.0, 1_000_000_000)], delimiter=",", decimal_comma=False, encoding="cp1252"
)
def test_positions_files_read_back_what_was_written(
    rows: list[tuple[str, float, float, int]], delimiter: str, decimal_comma: bool, encoding: str
) -> None:
    """The oracle is the rows themselves: ids verbatim, numbers and instants exact."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    writer.writerow(["id", "lon", "lat", "observed_at"])
    for ident, lon, lat, epoch in rows:
        nums = [repr(lon), repr(lat)]
        if decimal_comma:
            nums = [n.replace(".", ",") for n in nums]
        writer.writerow([ident, *nums, str(epoch)])
    # Every id an integer written as a float ("7.0"): refused, as pandas' mangled integers.
    assume(not all(re.fullmatch(r"-?\d+\.0", r[0], re.ASCII) for r in rows))
    text = buffer.getvalue()
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        data = b""
    assume(data)  # cp1252 cannot hold every id
    given_encoding: dict[str, str] = {}
    if encoding == "cp1252" and data != text.encode("utf-8"):
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            assume(False)  # also valid UTF-8: the documented rule reads it as UTF-8
        if _holds_utf8_multibyte(data):
            # Not UTF-8, yet a run of it is ("Â¡" in cp1252 is the UTF-8 of "¡"): the reader
            # cannot tell a cp1252 file from one mixing both, so it refuses and asks.
            with pytest.raises(InvalidInput, match="mixes two encodings"):
                _read(data)
            given_encoding = {"encoding": "cp1252"}
    positions, report = _read(data, accuracy_m=25.0, **given_encoding)
    assert positions.ids.tolist() == [r[0] for r in rows]
    assert positions.accuracy_m.tolist() == [25.0] * len(rows)
    assert positions.lon.tolist() == [r[1] for r in rows]
    assert positions.lat.tolist() == [r[2] for r in rows]
    want = np.array([r[3] for r in rows], dtype="datetime64[s]").astype("datetime64[us]")
    np.testing.assert_array_equal(positions.observed_at, want)
    assert report.rows == len(rows)


# --- the command -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["locate", "nan", "59"],
        ["locate", "1e400", "59"],
        ["locate", "18", "59", "--snap-m", "-1"],
        ["locate", "--", "-0", "-0"],
        ["preview", "{tmp}"],
        ["preview", "{tmp}/nothing.xml"],
        ["target", "--alert", "{tmp}", "--positions", "p.csv"],
        ["target", "--alert", "{alert}", "--positions", "{positions}", "--policy", "{tmp}"],
        ["target", "--alert", "{alert}", "--positions", "{positions}", "--policy", "{positions}"],
        ["target", "--alert", "{alert}", "--positions", "{positions}", "--encoding", "idna"],
        ["target", "--alert", "{alert}", "--positions", "{positions}", "--at", "0001-01-01"],
        [
            "target",
            "--alert",
            "{alert}",
            "--positions",
            "{positions}",
            "--timezone",
            "Europe/../../etc/x",
        ],
        ["demo", "--devices", "-5"],
        ["bogus"],
    ],
)
def test_the_command_never_shows_a_traceback(tmp_path: pathlib.Path, argv: list[str]) -> None:
    """Hostile arguments: an answer, or exit 2 with one line on stderr; never a traceback."""
    from test_cli import write_alert

    positions = tmp_path / "p.csv"
    positions.write_text("id,lon,lat,observed_at\n1,18.0,59.0,1716206100\n", encoding="utf-8")
    subs = {
        "{tmp}": str(tmp_path),
        "{alert}": str(write_alert(tmp_path / "a.xml")),
        "{positions}": str(positions),
    }
    args = [subs.get(a, a).replace("{tmp}", str(tmp_path)) for a in argv]
    done = subprocess.run(
        [sys.executable, "-m", "geotarget", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode in (0, 1, 2), done.stderr
    assert "Traceback" not in done.stderr
    assert "internal error" not in done.stderr
    if done.returncode == 2:
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert done.stderr.startswith("geotarget")
        assert done.stdout == "" or argv[0] == "demo"
    elif args[0] == "target":
        assert json.loads(done.stdout)["verdict"]  # a good answer is machine-readable
