"""Ordinary files and the command line as an operator meets them, twenty-first probe.

Parquet files that an export job renames a new version over while they are read, and a named
pipe given as a Parquet file, through every Parquet reader (``geotarget target``,
:func:`geotarget.dask.read_parquet`, :meth:`geotarget.RegionSet.from_geoparquet`); region
GeoJSON as damaged exports and GDAL's GeoJSONSeq write it. Oracles are the values written,
never geotarget's readers.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import shapely

from geotarget.cli import main

ROOT = Path(__file__).resolve().parents[1]
ALERT = ROOT / "docs" / "examples" / "sos_explosion.xml"
AT = "2024-05-20T16:05+02:00"
#: Sergels torg (inside the example Explosion's 500 m) and a point 7.7 km east of it.
INSIDE, OUTSIDE = (18.06528, 59.3325), (18.2, 59.3325)

needs_examples = pytest.mark.skipif(
    not ALERT.is_file(), reason="docs/examples is not beside the tests (installed-wheel run)"
)


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
    return code, out.getvalue(), err.getvalue()


# -- a Parquet file replaced while it is read --------------------------------------------------


def _positions_parquet(path: Path, ids: list[str], points: list[tuple[float, float]]) -> None:
    pa = pytest.importorskip("pyarrow", reason="Parquet needs the geoparquet extra")
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "id": ids,
            "lon": [p[0] for p in points],
            "lat": [p[1] for p in points],
            "accuracy_m": [8.0] * len(ids),
            "observed_at": [1716213600] * len(ids),
        }
    )
    pq.write_table(table, path)


@contextlib.contextmanager
def _renamed_over_once_checked(
    monkeypatch: pytest.MonkeyPatch, module: Any, path: Path, newer: Path
) -> Iterator[list[bool]]:
    """Rename ``newer`` over ``path`` right after the reader has checked ``path``'s footer.

    The footer check is the documented step between reading a file's footer and reading its
    pages: an exporter that writes the next snapshot to another name and renames it into place
    (the way the docs recommend) may do so at any instant, this one included.
    """
    import geotarget._position_files as files

    real: Callable[..., None] = files.check_parquet_footer
    done: list[bool] = []

    def check_then_replace(*args: Any, **kwargs: Any) -> None:
        real(*args, **kwargs)
        if not done:
            os.replace(newer, path)
            done.append(True)

    monkeypatch.setattr(module, "check_parquet_footer", check_then_replace)
    yield done


@needs_examples
def test_target_reads_the_parquet_file_it_opened_when_a_new_one_is_renamed_over_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Parquet snapshot renamed over mid-read: ``target`` answers for the file it opened."""
    import geotarget._position_files as files

    path, newer = tmp_path / "devices.parquet", tmp_path / "next.parquet"
    _positions_parquet(path, ["a", "b"], [INSIDE, OUTSIDE])
    _positions_parquet(newer, ["x", "y", "z"], [INSIDE, INSIDE, OUTSIDE])
    with _renamed_over_once_checked(monkeypatch, files, path, newer) as done:
        argv = ["target", "--alert", str(ALERT), "--positions", str(path), "--at", AT]
        code, out, err = _run(argv)
    assert done, "the reader no longer checks the footer before reading pages"
    assert code == 0, err
    assert json.loads(out)["recipients"] == ["a"]
    assert "read 2 rows from devices.parquet" in err


def test_dask_read_parquet_reads_the_file_it_opened_when_a_new_one_is_renamed_over_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """:func:`geotarget.dask.read_parquet` returns the rows of the file whose footer it checked."""
    pytest.importorskip("dask", reason="geotarget.dask needs the dask extra")
    import geotarget._positions_arrow as arrow
    from geotarget.dask import read_parquet

    path, newer = tmp_path / "part.parquet", tmp_path / "next.parquet"
    _positions_parquet(path, ["a", "b"], [INSIDE, OUTSIDE])
    _positions_parquet(newer, ["x", "y", "z"], [INSIDE, INSIDE, OUTSIDE])
    with _renamed_over_once_checked(monkeypatch, arrow, path, newer) as done:
        positions = read_parquet(path)
    assert done
    assert sorted(positions.ids.tolist()) == ["a", "b"]


def test_from_geoparquet_reads_the_file_it_opened_when_a_new_one_is_renamed_over_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """:meth:`RegionSet.from_geoparquet` reads the regions of the file whose footer it checked."""
    pa = pytest.importorskip("pyarrow", reason="GeoParquet needs the geoparquet extra")
    import pyarrow.parquet as pq

    import geotarget._position_files as files
    from geotarget import RegionSet

    def write(path: Path, codes: list[str]) -> None:
        squares = [shapely.box(18.0 + k, 59.0, 18.5 + k, 59.5) for k in range(len(codes))]
        geo = {
            "version": "1.1.0",
            "primary_column": "geometry",
            "columns": {"geometry": {"encoding": "WKB", "geometry_types": ["Polygon"]}},
        }
        table = pa.table({"kod": codes, "geometry": shapely.to_wkb(squares)})
        pq.write_table(table.replace_schema_metadata({"geo": json.dumps(geo)}), path)

    path, newer = tmp_path / "regions.parquet", tmp_path / "next.parquet"
    write(path, ["01", "03"])
    write(newer, ["12", "13", "14"])
    with _renamed_over_once_checked(monkeypatch, files, path, newer) as done:
        regions = RegionSet.from_geoparquet(path, code_property="kod", level="county")
    assert done
    assert regions.codes == ("01", "03")


# -- a region file with a coordinate beyond a double's range ------------------------------------


@pytest.mark.parametrize("digits", ["1" + "0" * 400, "-" + "9" * 399])
def test_a_region_coordinate_of_hundreds_of_digits_is_invalid_regions_naming_the_vertex(
    tmp_path: Path, digits: str
) -> None:
    """A GeoJSON vertex written as an integer no double holds is refused, never OverflowError."""
    from geotarget import RegionSet
    from geotarget.errors import InvalidRegions

    ring = [[18.0, 59.3], [18.1, 59.3], [18.1, 59.4], [18.0, 59.4], [18.0, 59.3]]
    feature = {
        "type": "Feature",
        "properties": {"kod": "0180"},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }
    text = json.dumps({"type": "FeatureCollection", "features": [feature]})
    # The second vertex's longitude, as a damaged export writes it (json reads it as an int).
    path = tmp_path / "kommuner.geojson"
    path.write_text(text.replace("[18.1, 59.3]", f"[{digits}, 59.3]", 1), encoding="utf-8")
    vertex = json.loads(path.read_text(encoding="utf-8"))["features"][0]["geometry"]
    assert isinstance(vertex["coordinates"][0][1][0], int)
    with pytest.raises(InvalidRegions) as caught:
        RegionSet.from_geojson(path, code_property="kod", level="municipality")
    message = str(caught.value)
    assert "kommuner.geojson" in message
    assert "features[0] (code '0180') exterior ring, vertex 1" in message
    assert f"an integer of {len(digits.lstrip('-'))} digits" in message
    assert digits not in message  # a size, not 400 digits


def test_a_geojson_text_sequence_of_one_feature_is_named_as_such(tmp_path: Path) -> None:
    """GDAL's GeoJSONSeq with RS=YES of one feature gets the sequence's hint, not bare JSON words."""
    from geotarget import RegionSet
    from geotarget.errors import InvalidRegions

    ring = [[18.0, 59.3], [18.1, 59.3], [18.1, 59.4], [18.0, 59.4], [18.0, 59.3]]
    feature = {
        "type": "Feature",
        "properties": {"kod": "0180"},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }
    path = tmp_path / "kommun.geojsons"
    path.write_text("\x1e" + json.dumps(feature) + "\n", encoding="utf-8")  # RFC 8142
    with pytest.raises(InvalidRegions, match=r"kommun\.geojsons") as caught:
        RegionSet.from_geojson(path, code_property="kod", level="municipality")
    assert "GeoJSON Text Sequences" in str(caught.value)
    assert "wrap the features in a FeatureCollection" in str(caught.value)


# -- a named pipe given as a Parquet file -------------------------------------------------------

_PIPE_READERS = {
    "target": (
        "from geotarget.cli import main\n"
        "raise SystemExit(main(['target', '--alert', {alert!r}, '--positions', {path!r}, "
        "'--at', '2024-05-20T16:05+02:00']))\n"
    ),
    "dask": (
        "from geotarget.dask import read_parquet\n"
        "from geotarget.errors import GeotargetError\n"
        "try:\n    read_parquet({path!r})\n"
        "except GeotargetError as err:\n    raise SystemExit(f'{{type(err).__name__}}: {{err}}')\n"
    ),
    "regions": (
        "from geotarget import RegionSet\n"
        "from geotarget.errors import GeotargetError\n"
        "try:\n    RegionSet.from_geoparquet({path!r}, code_property='kod', level='county')\n"
        "except GeotargetError as err:\n    raise SystemExit(f'{{type(err).__name__}}: {{err}}')\n"
    ),
}


@needs_examples
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
@pytest.mark.parametrize("reader", sorted(_PIPE_READERS))
def test_a_named_pipe_given_as_parquet_is_refused_without_waiting_for_a_writer(
    tmp_path: Path, reader: str
) -> None:
    """A FIFO named ``.parquet`` is refused at once, saying why (Parquet is read from its end)."""
    import subprocess
    import sys

    pytest.importorskip("pyarrow", reason="Parquet needs the geoparquet extra")
    if reader == "dask":
        pytest.importorskip("dask", reason="geotarget.dask needs the dask extra")
    path = tmp_path / "devices.parquet"
    os.mkfifo(path)  # no writer ever opens it: opening it to read would wait for ever
    code = _PIPE_READERS[reader].format(alert=str(ALERT), path=str(path))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        done = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=30,
            env=env,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{reader}: still waiting for the pipe's writer after 30 s")
    said = done.stderr.strip().splitlines()
    assert done.returncode != 0 and len(said) == 1, done.stderr
    assert "devices.parquet" in said[0]
    assert "named pipe" in said[0] and "Traceback" not in done.stderr
