"""geotarget.load_policy: one policy file, read and parsed once, equal to the four readers."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import attrs
import pytest

import geotarget
from geotarget import InvalidPolicy, InvalidType, PolicyFile, kinds, load_policy, pilot
from geotarget.issuers import Issuers
from geotarget.kinds import Recognizer
from geotarget.rollout import RolloutPolicy, _io

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib: Any = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
#: The repository's policy files: the integrator's example and the pilot shipped in the package.
EXAMPLES = [
    ROOT / "docs" / "examples" / "pilot_policy.toml",
    ROOT / "geotarget" / "data" / "sweden" / "pilot_policy.toml",
]

#: A policy of the operator's own: a fourth kind with its rule, location rules and issuers.
OWN = """\
format_version = 1
timezone = "Europe/Stockholm"

[[kinds.chemical_release.phases]]
starts_at = 2024-04-15T00:00:00
regions = ["12"]

[[recognition]]
name = "rtj:chemical"
kind = "chemical_release"
events = ["Kemikalieutsläpp"]
categories = ["CBRNE"]

[[issuers]]
name = "rtj"
senders = ["larm@rtj.example.se"]
kinds = ["chemical_release"]
regions = ["12"]

[location_rules.chemical_release]
include_ambiguous = false
stale = { max_age_s = 7200, margin_m = 500 }
max_area_km2 = 50
"""


def _jsonable(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def _as_json(toml_file: Path, into: Path) -> Path:
    """The same document as JSON (TOML date-times as ISO 8601 text)."""
    with open(toml_file, "rb") as f:
        data = tomllib.load(f)
    into.write_text(json.dumps(_jsonable(data), ensure_ascii=False), encoding="utf-8")
    return into


def _policy_files(tmp_path: Path) -> list[Path]:
    own = tmp_path / "own.toml"
    own.write_text(OWN, encoding="utf-8")
    files = [*EXAMPLES, own]
    return files + [_as_json(f, tmp_path / f"{i}-{f.stem}.json") for i, f in enumerate(files)]


def _four_readers(path: Path, catalog: Any = None) -> tuple[Any, Any, Any, Any]:
    """What the four readers give; issuers None for a file without them (the reader refuses)."""
    fmt = "json" if path.suffix == ".json" else "toml"
    with open(path, "rb") as f:
        stated = "issuers" in (json.load(f) if fmt == "json" else tomllib.load(f))
    issuers = getattr(Issuers, f"from_{fmt}")(path, catalog=catalog) if stated else None
    return (
        getattr(RolloutPolicy, f"from_{fmt}")(path, catalog=catalog),
        getattr(Recognizer, f"from_{fmt}")(path),
        issuers,
        getattr(kinds, f"location_rules_from_{fmt}")(path),
    )


def test_the_loader_gives_what_the_four_readers_give(tmp_path: Path) -> None:
    """Every example policy file, as TOML and as JSON: the same four objects as the readers."""
    files = _policy_files(tmp_path)
    assert len(files) == 6
    for path in files:
        rollout, recognition, issuers, location_rules = _four_readers(path)
        if issuers is None:  # the shipped pilot states no issuers: refused unless not required
            with pytest.raises(InvalidPolicy, match="issuers: missing"):
                load_policy(path)
        got = load_policy(path, issuers_required=issuers is not None)
        assert isinstance(got, PolicyFile)
        assert got.rollout == rollout, path
        assert got.rollout.policy_hash == rollout.policy_hash
        assert got.recognition == recognition + pilot.RECOGNITION, path
        assert got.issuers == issuers, path
        assert dict(got.location_rules) == location_rules, path
        assert list(got.location_rules) == list(location_rules)  # file order
        only_the_file = load_policy(  # a str is a file name here
            str(path), issuers_required=issuers is not None, pilot_recognition=False
        )
        assert only_the_file.recognition == recognition
        assert only_the_file == attrs.evolve(got, recognition=recognition)
    toml, json_ = load_policy(files[2]), load_policy(files[5])
    assert toml == json_ and toml.location_rules["chemical_release"].max_area_km2 == 50.0


def test_with_the_regions_it_checks_codes_as_the_readers_do(tmp_path: Path) -> None:
    """``catalog``: the rollout's and the issuers' region codes are checked against it."""
    sweden = pytest.importorskip("geotarget.sweden")
    regions = sweden.hierarchy()
    for path in _policy_files(tmp_path):
        rollout, _, issuers, _ = _four_readers(path, catalog=regions)
        got = load_policy(path, catalog=regions, issuers_required=False)
        assert (got.rollout, got.issuers) == (rollout, issuers)
    unknown = tmp_path / "unknown.toml"
    unknown.write_text(OWN.replace('regions = ["12"]', 'regions = ["99"]'), encoding="utf-8")
    load_policy(unknown)  # without the regions, a code is a code
    with pytest.raises(InvalidPolicy) as info:
        load_policy(unknown, catalog=regions)
    want = [p.path for p in _problems(lambda: RolloutPolicy.from_toml(unknown, catalog=regions))]
    want += [p.path for p in _problems(lambda: Issuers.from_toml(unknown, catalog=regions))]
    assert info.value.paths == want and len(want) == 2
    assert "99" in str(info.value)


def _problems(read: Any) -> tuple[Any, ...]:
    with pytest.raises(InvalidPolicy) as info:
        read()
    return info.value.problems


def test_the_file_is_read_once_and_parsed_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One open, one parse for the four parts (the readers would each read and parse it)."""
    opened: list[str] = []
    parsed: list[str] = []
    real_open, real_parse = open, _io.parse

    def counting_open(file: Any, *args: Any, **kw: Any) -> Any:
        opened.append(str(file))
        return real_open(file, *args, **kw)

    def counting_parse(text: str, fmt: str, **kw: Any) -> Any:
        parsed.append(fmt)
        return real_parse(text, fmt, **kw)

    monkeypatch.setattr(_io, "open", counting_open, raising=False)  # its one file reader
    monkeypatch.setattr(_io, "parse", counting_parse)
    for path in _policy_files(tmp_path):
        opened.clear()
        parsed.clear()
        load_policy(path, issuers_required=False)
        assert opened == [str(path)]
        assert parsed == ["JSON" if path.suffix == ".json" else "TOML"]


def test_every_problem_of_every_part_is_listed_at_once(tmp_path: Path) -> None:
    """A file wrong in all four parts: one InvalidPolicy with each reader's problems, in order."""
    bad = (
        OWN.replace("starts_at = 2024-04-15T00:00:00", "starts_at = 2024-04-15T00:00:00\nx = 1")
        .replace('categories = ["CBRNE"]', 'categories = ["CBRNE"]\ncolour = "red"')
        .replace(
            'regions = ["12"]\n\n[location', 'regions = ["12"]\nsignature = "maybe"\n\n[location'
        )
        .replace("max_area_km2 = 50", "max_area_km2 = -50")
    )
    for suffix in (".toml", ".json"):
        path = tmp_path / "bad.toml"
        path.write_text(bad, encoding="utf-8")
        if suffix == ".json":
            path = _as_json(path, tmp_path / "bad.json")
        with pytest.raises(InvalidPolicy) as info:
            load_policy(path)
        want: list[Any] = []
        for read in _four_readers_lazily(path):
            want += _problems(read)
        assert list(info.value.problems) == want
        assert info.value.paths == [
            "kinds.chemical_release.phases[0].x",
            "recognition[0].colour",
            "issuers[0].signature",
            "location_rules.chemical_release.max_area_km2",
        ]


def _four_readers_lazily(path: Path) -> list[Any]:
    fmt = "json" if path.suffix == ".json" else "toml"
    return [
        lambda: getattr(RolloutPolicy, f"from_{fmt}")(path),
        lambda: getattr(Recognizer, f"from_{fmt}")(path),
        lambda: getattr(Issuers, f"from_{fmt}")(path),
        lambda: getattr(kinds, f"location_rules_from_{fmt}")(path),
    ]


def test_issuers_are_required_unless_the_caller_says_not(tmp_path: Path) -> None:
    """No issuers entry: refused (never assumed), or None when not required; a bad one always."""
    path = tmp_path / "p.toml"
    path.write_text(OWN[: OWN.index("[[issuers]]")] + OWN[OWN.index("[location_rules") :])
    with pytest.raises(InvalidPolicy) as info:
        load_policy(path)
    (problem,) = info.value.problems
    assert problem.path == "issuers"
    assert problem.message == (
        'missing: declare the issuers table, or issuers = "any" to accept every sender '
        "(never assumed)"
    )
    loose = load_policy(path, issuers_required=False)
    assert loose.issuers is None and "chemical_release" in loose.location_rules
    path.write_text(OWN.replace('regions = ["12"]\n\n[location', "regions = []\n\n[location"))
    with pytest.raises(InvalidPolicy, match=r"issuers\[0\]\.regions: must name at least one"):
        load_policy(path, issuers_required=False)  # present: read and checked
    path.write_text(
        'issuers = "any"\n' + OWN[: OWN.index("[[issuers]]")] + OWN[OWN.index("[location") :]
    )
    assert load_policy(path, issuers_required=False).issuers == Issuers.any()


def test_certificates_are_read_relative_to_the_policy_file(tmp_path: Path) -> None:
    """As Issuers.from_toml does: a certificate path is relative to the file, not the cwd."""
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "x.pem").write_text(pem, encoding="ascii")
    path = tmp_path / "p.toml"
    path.write_text(
        OWN.replace(
            'regions = ["12"]\n\n[location',
            'regions = ["12"]\nsignature = "optional"\ncertificates = ["certs/x.pem"]\n\n[location',
        ),
        encoding="utf-8",
    )
    got = load_policy(path)
    assert got.issuers is not None and got.issuers.issuers[0].certificates == (pem,)
    assert got.issuers == Issuers.from_toml(path)


def test_a_required_signature_without_certificates_names_the_file_keys(tmp_path: Path) -> None:
    """``signature = "required"`` and no certificate: the problem names ``signature``.

    (It named the Python attribute, "signature_required needs at least one pinned
    certificate", which the file does not have.)
    """
    path = tmp_path / "p.toml"
    path.write_text(
        OWN.replace(
            'regions = ["12"]\n\n[location', 'regions = ["12"]\nsignature = "required"\n\n[location'
        ),
        encoding="utf-8",
    )
    with pytest.raises(InvalidPolicy) as err:
        load_policy(path)
    text = str(err.value)
    assert 'issuers[0].signature: "required" needs at least one pinned certificate' in text
    assert "signature_required" not in text


@pytest.mark.parametrize(
    ("name", "content", "fragments"),
    [
        ("missing.toml", None, ["cannot read it: No such file"]),
        ("folder.toml", "DIR", ["cannot read it: it is a directory, not a file"]),
        ("policy.yaml", "a = 1", ["must end in .toml or .json (got '.yaml')"]),
        ("policy", "a = 1", ["must end in .toml or .json (got 'no suffix')"]),
        ("latin1.toml", 'salt = "Malmö"\n'.encode("latin-1"), ["not UTF-8: byte 0xf6 at line 1"]),
        ("broken.toml", "[[kinds", ["not valid TOML: "]),
        ("broken.json", '{"kinds": ', ["not valid JSON: "]),
        ("list.json", "[1, 2]", ["a policy must be a table of keys (got list)"]),
        ("huge.toml", b"#" * (4 * 1024 * 1024 + 1), ["is larger than 4,194,304 bytes"]),
        ("nul\x00.toml", None, ["cannot read it: ", "null"]),
    ],
)
def test_a_file_that_cannot_be_read_is_invalid_policy_naming_it(
    tmp_path: Path, name: str, content: str | bytes | None, fragments: list[str]
) -> None:
    """Missing, a directory, no format's suffix, not UTF-8, not parseable, too large: refused.

    One InvalidPolicy naming the file and the rule, never an OSError or a parser's error.
    """
    path = tmp_path / name
    if content == "DIR":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(InvalidPolicy) as info:
        load_policy(path)
    message = str(info.value)
    assert message.startswith(f"policy file {str(path)!r} has 1 problem:"), message
    for fragment in fragments:
        assert fragment in message, message
    assert len(info.value.problems) == 1


def test_suffixes_in_any_case_and_a_bom_are_fine(tmp_path: Path) -> None:
    """``POLICY.TOML`` is TOML; a UTF-8 BOM (a Windows editor's) reads like none, in every part."""
    plain = tmp_path / "own.toml"
    plain.write_text(OWN, encoding="utf-8")
    want = load_policy(plain)
    upper = tmp_path / "OWN.TOML"
    upper.write_bytes(b"\xef\xbb\xbf" + OWN.encode("utf-8"))
    assert load_policy(upper) == want
    assert Recognizer.from_toml(upper) == Recognizer.from_toml(plain)  # the readers agree
    json_file = _as_json(plain, tmp_path / "own.JSON")
    json_file.write_bytes(b"\xef\xbb\xbf" + json_file.read_bytes())
    assert load_policy(json_file) == want


def test_duplicate_json_keys_are_reported_as_the_rollout_reader_does(tmp_path: Path) -> None:
    """JSON keeps the last of two equal keys silently; the shared parse reports them."""
    path = tmp_path / "twice.json"
    path.write_text('{"issuers": "any", "salt": "a", "salt": "b"}', encoding="utf-8")
    with pytest.raises(InvalidPolicy) as info:
        load_policy(path)
    assert info.value.paths == ["salt"] and "duplicate key" in str(info.value)


def test_the_path_must_be_a_path_and_the_result_is_frozen(tmp_path: Path) -> None:
    """Not a str or path-like: InvalidType; the result and its location rules are read-only."""
    with pytest.raises(InvalidType, match=r"path must be a file path .*\(got int\)"):
        load_policy(42)  # type: ignore[arg-type]
    with pytest.raises(
        InvalidType, match=r"^issuers_required must be True or False \(got str 'no'\)$"
    ):
        load_policy(EXAMPLES[0], issuers_required="no")  # type: ignore[arg-type]
    with pytest.raises(
        InvalidType, match=r"pilot_recognition must be True or False or None .*\(got str 'yes'\)"
    ):
        load_policy(EXAMPLES[0], pilot_recognition="yes")  # type: ignore[arg-type]
    with pytest.raises(InvalidType, match=r"\(got bytes\)"):
        load_policy(b"policy.toml")  # type: ignore[arg-type]
    got = load_policy(EXAMPLES[0])
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        got.rollout = RolloutPolicy()  # type: ignore[misc]
    with pytest.raises(TypeError):
        got.location_rules["explosion"] = got.location_rules["crime_modus"]  # type: ignore[index]
    assert geotarget.load_policy is load_policy and geotarget.PolicyFile is PolicyFile


def test_a_policy_file_built_by_hand_is_checked() -> None:
    """PolicyFile refuses parts of the wrong type with InvalidType naming the field."""
    good = load_policy(EXAMPLES[0])
    assert PolicyFile(good.rollout, good.recognition, None, {}).issuers is None
    with pytest.raises(InvalidType, match=r"^rollout must be RolloutPolicy \(got dict\)$"):
        PolicyFile({}, good.recognition, good.issuers, {})  # type: ignore[arg-type]
    with pytest.raises(InvalidType, match=r"^issuers must be Issuers or None \(got str\)$"):
        PolicyFile(good.rollout, good.recognition, "any", {})  # type: ignore[arg-type]
    with pytest.raises(InvalidType, match=r"location_rules\['fire'\] must be KindRules"):
        PolicyFile(good.rollout, good.recognition, None, {"fire": 1})  # type: ignore[dict-item]
    with pytest.raises(InvalidType, match="location_rules must be a mapping"):
        PolicyFile(good.rollout, good.recognition, None, [])  # type: ignore[arg-type]


#: Each section reader, and the document its InvalidPolicy names.
SECTION_READERS = [
    (RolloutPolicy.from_toml, "rollout policy"),
    (RolloutPolicy.from_json, "rollout policy"),
    (Issuers.from_toml, "issuers section"),
    (Issuers.from_json, "issuers section"),
    (Recognizer.from_toml, "recognition section"),
    (Recognizer.from_json, "recognition section"),
    (kinds.location_rules_from_toml, "location_rules section"),
    (kinds.location_rules_from_json, "location_rules section"),
]


@pytest.mark.parametrize(("reader", "what"), SECTION_READERS)
@pytest.mark.parametrize("case", ["missing", "directory", "nul"])
def test_each_section_reader_refuses_a_file_it_cannot_read_with_invalid_policy(
    tmp_path: Path, reader: Any, what: str, case: str
) -> None:
    """A missing file, a directory or a NUL in the name: InvalidPolicy naming the file.

    Never the OSError or ValueError of ``open`` (the issuer, recognition and location-rules
    readers raised FileNotFoundError and IsADirectoryError; every reader a ValueError for a
    NUL). The message names the section read, not "rollout policy" for every reader.
    """
    path = {"missing": tmp_path / "gone.toml", "directory": tmp_path, "nul": tmp_path / "a\0.toml"}
    with pytest.raises(InvalidPolicy) as info:
        reader(path[case])
    message = str(info.value)
    assert message.startswith(f"{what} has 1 problem:"), message
    assert f"cannot read the policy file {str(path[case])!r}" in message, message


@pytest.mark.parametrize(
    ("reader", "what", "content", "fragment"),
    [
        (Issuers.from_toml, "issuers section", "issuers = 5\n", "issuers: must be"),
        (
            Recognizer.from_toml,
            "recognition section",
            "[[recognition]]\nname = 'x'\n",
            "recognition[0].kind: is required",
        ),
        (
            kinds.location_rules_from_toml,
            "location_rules section",
            "[location_rules]\nx = 1\n",
            "x: must",
        ),
        (Issuers.from_toml, "issuers section", "[[issuers\n", "not valid TOML"),
    ],
)
def test_each_section_reader_names_its_section(
    tmp_path: Path, reader: Any, what: str, content: str, fragment: str
) -> None:
    """A section's problems come under its own name: "issuers section has 1 problem: …"."""
    path = tmp_path / "p.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InvalidPolicy) as info:
        reader(path)
    message = str(info.value)
    assert message.startswith(f"{what} has 1 problem:"), message
    assert fragment in message, message


@pytest.mark.parametrize(
    ("reader", "what", "data"),
    [
        (Issuers.from_dict, "issuers section", Path("policy.toml")),
        (Recognizer.from_dict, "recognition section", ["recognition"]),
        (kinds.location_rules_from_dict, "location_rules section", 5),
    ],
)
def test_from_dict_refuses_what_is_not_a_table(reader: Any, what: str, data: Any) -> None:
    """A path or a list where the parsed document belongs: InvalidPolicy, not a TypeError."""
    with pytest.raises(InvalidPolicy) as info:
        reader(data)
    assert str(info.value).startswith(f"{what} has 1 problem:")
    assert f"a policy must be a table (got {type(data).__name__})" in str(info.value)


def _readers(fmt: str) -> list[Any]:
    return [
        getattr(RolloutPolicy, f"from_{fmt}"),
        getattr(Issuers, f"from_{fmt}"),
        getattr(Recognizer, f"from_{fmt}"),
        getattr(kinds, f"location_rules_from_{fmt}"),
    ]


@pytest.mark.parametrize("fmt", ["toml", "json"])
def test_the_four_readers_take_text_alike_a_bom_read_and_a_lone_surrogate_refused(
    tmp_path: Path, fmt: str
) -> None:
    """``Path.read_text`` keeps a BOM as U+FEFF; a C locale reads a latin-1 byte as a surrogate.

    Each reader takes a leading BOM in text as it does in bytes, and refuses a lone surrogate
    as the bytes' reader refuses a byte that is not UTF-8: InvalidPolicy naming its line.
    """
    own = tmp_path / "own.toml"
    own.write_text(OWN, encoding="utf-8")
    path = own if fmt == "toml" else _as_json(own, tmp_path / "own.json")
    text = path.read_text("utf-8")
    for read in _readers(fmt):
        want = read(text)
        assert read("\ufeff" + text) == want
        # In a TOML comment, where any text is allowed; in a JSON string.
        bad = "# Sk\udce5ne\n" + text if fmt == "toml" else text.replace("Europe", "Eur\udce5pe")
        with pytest.raises(InvalidPolicy, match=r"not UTF-8: '\\udce5' at line 1 "):
            read(bad)


def test_a_location_rules_key_that_is_no_text_is_invalid_policy() -> None:
    """A dict from Python may have any key: named as a problem, not a crash inside ``re``."""
    with pytest.raises(InvalidPolicy, match=r"location_rules\.1: must be keyed by a kind name"):
        kinds.location_rules_from_dict({"location_rules": {1: {"include_ambiguous": True}}})


@pytest.mark.parametrize("country", ["01", "0180", "PR-STOCKHOLM"])
def test_a_country_within_another_region_is_refused_with_the_regions(country: str) -> None:
    """A county as ``country`` would make every decision that enables it read NATIONWIDE."""
    from geotarget import sweden

    text = f"""country = "{country}"
timezone = "Europe/Stockholm"
[[kinds.tip_request.phases]]
starts_at = 2024-05-01
regions = ["0180"]
"""
    RolloutPolicy.from_toml(text)  # without the regions, a code is a code
    with pytest.raises(InvalidPolicy, match=rf"country: must be the catalog's country.*{country}"):
        RolloutPolicy.from_toml(text, catalog=sweden.hierarchy())
    with pytest.raises(InvalidPolicy, match="country: must be the catalog's country"):
        RolloutPolicy.from_toml(text).validate(sweden.hierarchy())


@pytest.mark.skipif(sys.platform != "linux", reason="Linux permissions and setpriv")
def test_a_policy_file_in_a_folder_that_may_not_be_looked_into_is_invalid_policy(
    tmp_path: Path,
) -> None:
    """``load_policy`` of a file whose folder has mode 000: InvalidPolicy naming the file.

    Before, ``Path.is_dir`` let the system's PermissionError through. As root (CI), setpriv
    drops the capabilities that read any file.
    """
    import os
    import shutil
    import subprocess

    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: every file can be read")
        prefix = [setpriv, "--bounding-set", "-dac_override,-dac_read_search"]
    shut = tmp_path / "shut"
    shut.mkdir()
    shutil.copyfile(ROOT / "docs" / "examples" / "pilot_policy.toml", shut / "p.toml")
    code = (
        "import sys, geotarget\n"
        "try:\n"
        "    geotarget.load_policy(sys.argv[1])\n"
        "except geotarget.InvalidPolicy as err:\n"
        "    print(err)\n"
    )
    shut.chmod(0)
    try:
        done = subprocess.run(
            [*prefix, sys.executable, "-c", code, str(shut / "p.toml")],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )
    finally:
        shut.chmod(0o700)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert str(shut / "p.toml") in done.stdout, done.stdout
    assert "cannot read it: Permission denied" in done.stdout, done.stdout
