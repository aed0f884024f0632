"""Probe 12: region files and policies as operators really save them, and territory at the edges.

* A rollout policy saved by Windows PowerShell (``>`` and ``Out-File`` write UTF-16) is named
  as UTF-16 text, not as a stray byte 0xff or as TOML missing an ``=`` after its first letter.
* A region file written in Latin-1 (as shapefiles' attribute tables are) names the byte, its
  line and the rule; a gzip-compressed one says so.

Oracles: the bytes written here by hand (their encoding is known), shapely and pyproj on the
reference data in ``../shared/data/sweden``, never geotarget's internals.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import shapely.geometry as sg

from geotarget.errors import InvalidPolicy, InvalidRegions
from geotarget.regions import RegionSet
from geotarget.rollout import RolloutPolicy

_POLICY = (
    'timezone = "Europe/Stockholm"\n'
    "[[kinds.tip_request.phases]]\n"
    "starts_at = 2024-04-15\n"
    'regions = ["01"]  # Stockholms län\n'
)


def _only_problem(err: pytest.ExceptionInfo[InvalidPolicy]) -> str:
    [problem] = err.value.problems
    return problem.message


@pytest.mark.parametrize(
    ("encoding", "name"),
    [
        ("utf-16", "UTF-16"),  # with a byte order mark, as PowerShell 5's Out-File writes
        ("utf-16-le", "UTF-16"),  # without one
        ("utf-16-be", "UTF-16"),
        ("utf-32", "UTF-32"),
        ("utf-32-be", "UTF-32"),
    ],
)
def test_a_policy_saved_as_utf16_or_utf32_is_named_so(
    tmp_path: Path, encoding: str, name: str
) -> None:
    data = _POLICY.encode(encoding)
    path = tmp_path / "policy.toml"
    path.write_bytes(data)
    for source in (data, path):
        with pytest.raises(InvalidPolicy) as err:
            RolloutPolicy.from_toml(source)
        message = _only_problem(err)
        assert f"not UTF-8 but {name} text" in message, message
        assert "policies are UTF-8 text: save it as UTF-8" in message
        assert ("PowerShell" in message) is (name == "UTF-16")
        assert "Expected '='" not in message and "byte 0xff" not in message
    # The same policy in UTF-8, with or without a byte order mark, reads.
    for utf8 in ("utf-8", "utf-8-sig"):
        policy = RolloutPolicy.from_toml(_POLICY.encode(utf8))
        assert policy.rollout("tip_request") is not None


def test_a_policy_in_latin1_still_names_its_byte_and_line() -> None:
    with pytest.raises(InvalidPolicy) as err:
        RolloutPolicy.from_toml(_POLICY.encode("cp1252"))
    message = _only_problem(err)
    assert "not UTF-8: byte 0xe4 at line 4" in message, message  # "ä" of "län"


def _county_file(name: str) -> bytes:
    feature = {
        "type": "Feature",
        "properties": {"code": "12", "name": name},
        "geometry": sg.mapping(sg.box(13.0, 55.5, 13.2, 55.7)),
    }
    text = json.dumps({"type": "FeatureCollection", "features": [feature]}, ensure_ascii=False)
    return text.replace(', "features"', ',\n"features"').encode("latin-1")


def test_a_latin1_region_file_names_the_byte_its_line_and_the_rule(tmp_path: Path) -> None:
    data = _county_file("Skåne län")
    offset = data.index("å".encode("latin-1"))
    path = tmp_path / "lan.geojson"
    path.write_bytes(data)
    for source in (path, data):
        with pytest.raises(InvalidRegions) as err:
            RegionSet.from_geojson(source, code_property="code", level="county")
        message = str(err.value)
        assert f"not UTF-8: byte 0xe5 at line 2 (offset {offset})" in message, message
        assert "GeoJSON is UTF-8 text" in message
        assert "codec can't decode" not in message
    # The same file in UTF-8 reads, its name intact.
    good = RegionSet.from_geojson(
        data.decode("latin-1").encode("utf-8"),
        code_property="code",
        name_property="name",
        level="county",
    )
    assert good["12"].name == "Skåne län"


def test_a_gzipped_region_file_says_it_is_compressed(tmp_path: Path) -> None:
    data = gzip.compress(_county_file("Skane").decode("latin-1").encode("utf-8"))
    path = tmp_path / "lan.geojson.gz"
    path.write_bytes(data)
    for source in (path, data):
        with pytest.raises(InvalidRegions, match="it is gzip-compressed: decompress it first"):
            RegionSet.from_geojson(source, code_property="code", level="county")
    with pytest.raises(InvalidRegions, match="it is gzip-compressed"):
        RegionSet.from_geoparquet(path, code_property="code", level="county")
