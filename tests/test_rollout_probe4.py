"""Probes of rollout policies as operators write them for the built-in Sweden (round 4).

Each test checks an answer against an oracle of its own: plain Python over the shipped
municipality → county → police region table, shapely over the shipped boundaries, or a
reading of the policy text by hand.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import shapely

from geotarget import load_policy, sweden
from geotarget.errors import InvalidPolicy, InvalidRegions
from geotarget.regions import Region, RegionHierarchy, RegionSet
from geotarget.rollout import KindRollout, Phase, RolloutPolicy

STHLM = ZoneInfo("Europe/Stockholm")
UTC = dt.timezone.utc


def _policy(*phases: tuple[dt.datetime, list[str], bool]) -> RolloutPolicy:
    steps = [Phase(starts_at=t, regions=codes, rollback=back) for t, codes, back in phases]
    return RolloutPolicy(rollouts=[KindRollout(kind="tip_request", phases=steps)])


# --- a region listed part by part is enabled as a whole ---------------------------------------


def test_a_county_listed_municipality_by_municipality_is_enabled_as_a_whole() -> None:
    """A phase listing all 26 municipalities of Stockholm County enables all of the county.

    Every place of the county lies in one of its municipalities (the county is their union,
    checked here with shapely), and every device there is told; the explanation said "not
    enabled in all of Stockholms län, only in Upplands Väsby, ... and 23 more", and
    ``covers("01")`` said False. Oracle: the shipped hierarchy's municipalities, by hand.
    """
    h = sweden.hierarchy()
    munis = sorted(h.expand(["01"], "municipality"))
    assert len(munis) == 26
    county = h.region("01").geometry
    union = shapely.union_all([h.region(m).geometry for m in munis])
    assert shapely.difference(county, union).area < 1e-9 * county.area

    spring, autumn = dt.datetime(2024, 4, 15, tzinfo=STHLM), dt.datetime(2024, 9, 2, tzinfo=STHLM)
    policy = _policy((spring, munis, False), (autumn, munis[1:], True))
    june = dt.datetime(2024, 6, 1, tzinfo=STHLM)
    why = policy.explain("tip_request", "01", june, catalog=h)
    assert why.enabled and why.via == "01" and why.enabled_within == ()
    assert str(why) == (
        "Tip request alerts are enabled in Stockholms län since 2024-04-15 00:00 "
        "Europe/Stockholm (phase 1); phase 2 rolls it back on 2024-09-02 00:00 Europe/Stockholm."
    )
    assert policy.decide("tip_request", june).covers("01", h)
    # once one municipality is dropped, the county is enabled only in part
    october = dt.datetime(2024, 10, 1, tzinfo=STHLM)
    later = policy.explain("tip_request", "01", october, catalog=h)
    assert not later.enabled and len(later.enabled_within) == 25
    assert not policy.decide("tip_request", october).covers("01", h)
    # the police region Stockholm is 01 and Gotland (09): 01's parts alone are not all of it
    assert not policy.explain("tip_request", "PR-STOCKHOLM", june, catalog=h).enabled


def test_whole_regions_from_parts_at_every_level_equal_a_table_oracle() -> None:
    """Random phases of counties and municipalities: every region's answer is the table's.

    Oracle: a region is enabled when it, an ancestor, or every municipality within it is
    listed or lies within a listed code — plain Python over the hierarchy's parent table.
    """
    h = sweden.hierarchy()
    munis = list(h.region_set("municipality").codes)
    counties = list(h.region_set("county").codes)
    police = list(h.region_set("police_region").codes)
    up = {m: {m, *h.ancestors(m)} for m in munis}
    rng = random.Random(4)
    at = dt.datetime(2024, 6, 1, tzinfo=STHLM)
    for _ in range(25):
        # whole counties, plus all or all-but-one of the municipalities of some others
        listed = set(rng.sample(counties, rng.randint(0, 4)))
        for county in rng.sample(counties, rng.randint(1, 6)):
            inside = sorted(m for m in munis if county in up[m])
            listed |= set(inside[rng.randint(0, 1) :])
        policy = _policy((dt.datetime(2024, 4, 15, tzinfo=STHLM), sorted(listed), False))
        d = policy.decide("tip_request", at)
        for code in [*counties, *police, "SE", *rng.sample(munis, 20)]:
            within = [m for m in munis if code in up[m]]
            expected = any(c in listed for c in {code, *h.ancestors(code)}) or all(
                up[m] & listed for m in within
            )
            why = policy.explain("tip_request", code, at, catalog=h)
            assert why.enabled is expected, (code, sorted(listed))
            assert d.covers(code, h) is expected
            if not expected:
                assert "not enabled" in str(why)


@pytest.mark.parametrize("level", ["county", "police_region"])
def test_the_whole_country_listed_by_its_regions_is_enabled_in_sweden(level: str) -> None:
    h = sweden.hierarchy()
    codes = sorted(h.region_set(level).codes)
    policy = _policy((dt.datetime(2024, 4, 15, tzinfo=STHLM), codes, False))
    at = dt.datetime(2024, 4, 15, tzinfo=STHLM)
    why = policy.explain("tip_request", "SE", at, catalog=h)
    assert why.enabled and str(why) == (
        "Tip request alerts are enabled in Sverige since 2024-04-15 00:00 Europe/Stockholm "
        "(phase 1)."
    )
    before = policy.explain("tip_request", "SE", at - dt.timedelta(microseconds=1), catalog=h)
    assert not before.enabled and before.change_at == at


# --- instants as other languages write them -------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # .NET DateTimeOffset.ToString("o") always writes seven digits
        ("2024-04-15T00:00:00.0000000+02:00", dt.datetime(2024, 4, 14, 22, tzinfo=UTC)),
        ("2024-04-15T00:00:00.1230000+02:00", dt.datetime(2024, 4, 14, 22, 0, 0, 123000, UTC)),
        # nanoseconds that are whole microseconds (Java's Instant, Go's RFC3339Nano)
        ("2024-04-14T22:00:00.000001000Z", dt.datetime(2024, 4, 14, 22, 0, 0, 1, UTC)),
    ],
)
def test_fractions_past_the_microsecond_that_are_zero_are_read(
    text: str, expected: dt.datetime
) -> None:
    """RFC 3339 allows any number of digits of a second; the reader said it was no RFC 3339."""
    doc = f'{{"kinds": {{"tip_request": {{"phases": [{{"starts_at": "{text}", "regions": ["01"]}}]}}}}}}'
    phase = RolloutPolicy.from_json(doc).rollouts[0].phases[0]
    assert phase.starts_at == expected


def test_a_fraction_finer_than_a_microsecond_is_refused_saying_so() -> None:
    doc = (
        '{"kinds": {"tip_request": {"phases": [{"starts_at": "2024-04-15T00:00:00.123456789Z",'
        ' "regions": ["01"]}]}}}'
    )
    with pytest.raises(InvalidPolicy) as err:
        RolloutPolicy.from_json(doc)
    [problem] = err.value.problems
    assert problem.path == "kinds.tip_request.phases[0].starts_at"
    assert "finer than a microsecond" in problem.message and "RFC 3339 like" not in problem.message
    assert "'2024-04-15T00:00:00.123456789Z'" in problem.message


# --- a top-level key written at the end of a TOML file --------------------------------------

_HEAD = 'timezone = "Europe/Stockholm"\n'
_PHASE = '[[kinds.tip_request.phases]]\nstarts_at = 2024-04-15\nregions = ["01"]\n'
_RULE = '[[recognition]]\nname = "tips"\nkind = "tip_request"\nevents = ["Tipsförfrågan"]\n'
_ISSUER = (
    '[[issuers]]\nname = "polisen"\nsenders = ["a@polisen.se"]\nkinds = ["tip_request"]\n'
    'regions = ["01"]\n'
)


@pytest.mark.parametrize(
    ("body", "appended", "path"),
    [
        (_PHASE, 'issuers = "any"', "kinds.tip_request.phases[0].issuers"),
        (_PHASE + "[kinds.tip_request]\nkilled = false\n", 'salt = "s1"', "kinds.tip_request.salt"),
        (_PHASE + "[kinds]\n", 'country = "SE"', "kinds.country"),
        (_PHASE + _RULE, 'issuers = "any"', "recognition[0].issuers"),
        (_PHASE + 'issuers = "any"\n' + _RULE, 'country = "SE"', "recognition[0].country"),
        (_PHASE + _ISSUER, 'salt = "s1"', "issuers[0].salt"),
        (
            _PHASE + "[location_rules.tip_request]\ninclude_ambiguous = false\n",
            'issuers = "any"',
            "location_rules.tip_request.issuers",
        ),
    ],
)
def test_a_top_level_key_appended_below_a_table_says_where_it_went(
    tmp_path: Path, body: str, appended: str, path: str
) -> None:
    """A key appended at the end of the file lands in the last table, and is named so.

    An operator appends ``issuers = "any"``; TOML puts it in the last table. The problem said "unknown key (valid: ...)" (or, below ``[kinds]``, "must be a table
    with keys killed and phases") without saying why the key was not at the top level.
    """
    file = tmp_path / "policy.toml"
    file.write_text(_HEAD + body + appended + "\n", encoding="utf-8")
    with pytest.raises(InvalidPolicy) as err:
        load_policy(file, issuers_required=False)
    [problem] = [p for p in err.value.problems if p.path == path]
    key = path.rsplit(".", 1)[1]
    assert f"{key} is a key of the policy's top level" in problem.message
    assert "above the first header" in problem.message


def test_a_key_of_no_level_gets_no_top_level_hint() -> None:
    with pytest.raises(InvalidPolicy) as err:
        RolloutPolicy.from_toml(_HEAD + _PHASE + "percent = 50\n")
    [problem] = err.value.problems
    assert problem.path == "kinds.tip_request.phases[0].percent"
    assert "top level" not in problem.message


# --- region codes as other sources write them -----------------------------------------------


def _gadm_hierarchy() -> RegionHierarchy:
    """Two Swedish counties and the country as GADM codes them (``GID_1`` = ``"SWE.15_1"``)."""
    features = [
        {
            "type": "Feature",
            "properties": {"GID_1": gid, "NAME_1": name, "HASC_1": hasc},
            "geometry": shapely.geometry.mapping(shapely.box(x, 59.0, x + 1.0, 60.0)),
        }
        for gid, name, hasc, x in (
            ("SWE.15_1", "Stockholm", "SE.ST", 17.0),
            ("SWE.21_1", "Uppsala", "SE.UP", 18.0),
        )
    ]
    doc = {"type": "FeatureCollection", "features": features}
    counties = RegionSet.from_geojson(
        doc, code_property="GID_1", name_property="NAME_1", level="county"
    )
    country = RegionSet.from_unions(counties, dict.fromkeys(counties.codes, "SWE"), level="country")
    return RegionHierarchy([counties, country], dict.fromkeys(counties.codes, "SWE"))


def test_a_gadm_or_hasc_code_with_a_dot_can_be_named_by_a_policy() -> None:
    """Regions read from GADM (``SWE.15_1``) or coded by HASC (``SE.ST``) could not be enabled.

    ``RegionSet.from_geojson`` takes the file's codes, and issuers may name them, but a policy
    refused ``"SWE.15_1"`` as "not a region code": the only way to enable such a region was
    the whole country.
    """
    h = _gadm_hierarchy()
    text = (
        'timezone = "Europe/Stockholm"\ncountry = "SWE"\n[[kinds.tip_request.phases]]\n'
        'starts_at = 2024-04-15\nregions = ["SWE.15_1"]\n'
    )
    policy = RolloutPolicy.from_toml(text, catalog=h)
    june = dt.datetime(2024, 6, 1, tzinfo=STHLM)
    assert policy.decide("tip_request", june).regions == {"SWE.15_1"}
    assert str(policy.explain("tip_request", "SWE.21_1", june, catalog=h)) == (
        "Tip request alerts are not enabled in Uppsala: no phase of the policy enables it."
    )
    again = RolloutPolicy.from_toml(policy.to_toml(), catalog=h)
    assert again == policy and again.policy_hash == policy.policy_hash
    assert RolloutPolicy.from_json(policy.to_json()).policy_hash == policy.policy_hash
    hasc = Phase(starts_at=june, regions={"SE.ST"})
    assert hasc.regions == {"SE.ST"}


@pytest.mark.parametrize("code", ["Skåne", "SE ST", ".ST", "SE/ST", "x" * 33])
def test_codes_that_do_not_sort_alike_everywhere_are_still_refused(code: str) -> None:
    """Non-ASCII codes (whose order differs between languages) and other text stay refused."""
    with pytest.raises(InvalidPolicy, match=r"ASCII letters, digits, '-', '_' or '\.'"):
        Phase(starts_at=dt.datetime(2024, 6, 1, tzinfo=STHLM), regions={code})


def test_from_when_of_regions_listed_by_parts_equals_a_scan_of_time() -> None:
    """``since`` and ``change_at`` of a region enabled through its parts, against a scan.

    Random phases (rollbacks allowed) of counties and municipalities; the oracle decides each
    region at every phase start with the table rule and scans for the last and next flip.
    """
    h = sweden.hierarchy()
    munis = list(h.region_set("municipality").codes)
    up = {m: {m, *h.ancestors(m)} for m in munis}
    counties = ["01", "03", "09", "12", "25"]
    rng = random.Random(44)
    for _ in range(12):
        starts = [
            dt.datetime(2024, 3, 31, tzinfo=STHLM) + dt.timedelta(hours=7 * k + 1) for k in range(5)
        ]
        lists = []
        for _ in starts:
            listed: set[str] = set()
            for county in rng.sample(counties, 3):
                inside = sorted(m for m in munis if county in up[m])
                listed |= {county} if rng.random() < 0.2 else set(inside[rng.randint(0, 1) :])
            lists.append(sorted(listed))
        policy = _policy(*((t, c, True) for t, c in zip(starts, lists, strict=True)))

        def whole(code: str, listed: list[str]) -> bool:
            if any(c in listed for c in {code, *h.ancestors(code)}):
                return True
            return all(up[m] & set(listed) for m in munis if code in up[m])

        for code in [*counties, "PR-STOCKHOLM"]:
            states = [whole(code, listed) for listed in lists]
            for k, t in enumerate(starts):
                at = t + dt.timedelta(minutes=30)
                why = policy.explain("tip_request", code, at, catalog=h)
                assert why.enabled is states[k], (code, k)
                flips = [j for j in range(k + 1, len(starts)) if states[j] != states[k]]
                expected_change = starts[flips[0]] if flips else None
                if not states[k]:  # the next phase that enables it
                    on = [j for j in range(k + 1, len(starts)) if states[j]]
                    expected_change = starts[on[0]] if on else None
                assert why.change_at == expected_change, (code, k)
                if states[k]:
                    first = k
                    while first > 0 and states[first - 1]:
                        first -= 1
                    assert why.since == starts[first]


# --- pinned certificates as Windows and openssl write them ----------------------------------


def _certificate() -> Any:
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "polisen.se")])
    start = dt.datetime(2024, 1, 1, tzinfo=UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )


def _signed_issuer_policy(tmp_path: Path, certificate: str) -> Path:
    file = tmp_path / "policy.toml"
    file.write_text(
        _HEAD + _PHASE + _ISSUER + f'signature = "required"\ncertificates = ["{certificate}"]\n',
        encoding="utf-8",
    )
    return file


def test_a_pem_certificate_saved_with_a_bom_is_read(tmp_path: Path) -> None:
    """A PEM file with a byte order mark, as Notepad saves it, is read.

    It was refused with Python's words ("'ascii' codec can't decode byte 0xef in position 0").
    Oracle: cryptography loads the certificate the policy holds, and it is the one written.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    cert = _certificate()
    (tmp_path / "polisen.pem").write_bytes(b"\xef\xbb\xbf" + cert.public_bytes(Encoding.PEM))
    got = load_policy(_signed_issuer_policy(tmp_path, "polisen.pem"))
    assert got.issuers is not None
    [pem] = got.issuers.issuers[0].certificates
    assert x509.load_pem_x509_certificate(pem.encode("ascii")) == cert
    assert got.issuers.certificate_problems() == []


def test_a_der_certificate_is_named_with_how_to_write_it_as_pem(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.serialization import Encoding

    (tmp_path / "polisen.cer").write_bytes(_certificate().public_bytes(Encoding.DER))
    with pytest.raises(InvalidPolicy) as err:
        load_policy(_signed_issuer_policy(tmp_path, "polisen.cer"))
    [problem] = err.value.problems
    assert problem.path == "issuers[0].certificates[0]"
    assert "a DER certificate?" in problem.message and "openssl x509 -inform der" in problem.message
    assert "codec" not in problem.message


# --- a hierarchy from files that lack a region --------------------------------------------------


def _copy(regions: RegionSet, keep: Any = lambda code: True) -> RegionSet:
    """The regions as a plain set, as read from another file (not made with from_unions)."""
    return RegionSet(
        Region(code=r.code, name=r.name, level=r.level, geometry=r.geometry)
        for r in regions
        if keep(r.code)
    )


def test_a_county_whose_municipalities_are_all_missing_is_refused() -> None:
    """A municipality file without Gotland, beside a county file with Gotlands län.

    The hierarchy was built; points are located among municipalities and mapped up, so no
    point was ever in Gotlands län, nor in Sweden there: an explosion enabled nationwide, on
    Visby, was "wholly outside the regions where explosion is enabled (SE)". Oracle: shapely
    says Visby is inside the county file's Gotland.
    """
    h = sweden.hierarchy()
    visby = (18.2948, 57.6348)
    assert h.region("09").geometry.covers(shapely.Point(visby))
    munis = _copy(h.region_set("municipality"), lambda code: not code.startswith("09"))
    counties = _copy(h.region_set("county"))
    country = _copy(h.region_set("country"))
    up = {m: h.ancestors(m)[0] for m in h.region_set("municipality").codes}
    parents = {m: up[m] for m in munis.codes} | dict.fromkeys(counties.codes, "SE")
    with pytest.raises(InvalidRegions) as err:
        RegionHierarchy([munis, counties, country], parents)
    assert str(err.value).startswith(
        "county '09' (Gotlands län) has no municipality: no municipality names it in parents, "
        "so no point would be located in it"
    )
    full = _copy(h.region_set("municipality"))
    parents |= {m: up[m] for m in full.codes}
    built = RegionHierarchy([full, counties, country], parents)
    assert built.locate([visby[0]], [visby[1]], "county").tolist() == ["09"]


def test_a_region_without_children_at_any_level_is_named() -> None:
    box = shapely.box
    towns = RegionSet([Region(code="t1", name="Town", level="town", geometry=box(0, 0, 1, 1))])
    shires = RegionSet(
        Region(code=c, name=n, level="shire", geometry=box(x, 0, x + 1, 1))
        for c, n, x in (("S", "Shire", 0), ("T", "Other shire", 1), ("U", "Third", 2))
    )
    with pytest.raises(InvalidRegions, match=r"shire 'T' \(Other shire\) has no town: .*\(1 more"):
        RegionHierarchy([towns, shires], {"t1": "S"})


def test_a_county_with_one_municipality_missing_is_refused_at_the_gap() -> None:
    """A municipality file without Stockholm (0180), beside a county file with Stockholms län.

    The hierarchy was built; no point of Stockholm city was in any county, so a tip request
    enabled in "01" told nobody there, silently. Oracle: shapely — the point the error names
    lies in the detailed 0180 and in none of the municipalities given.
    """
    h = sweden.hierarchy()
    all_munis = h.region_set("municipality")
    up = {m: h.ancestors(m)[0] for m in all_munis.codes}
    munis = _copy(all_munis, lambda code: code != "0180")
    counties = _copy(h.region_set("county"))
    country = _copy(h.region_set("country"))
    parents = {m: up[m] for m in munis.codes} | dict.fromkeys(counties.codes, "SE")
    with pytest.raises(InvalidRegions) as err:
        RegionHierarchy([munis, counties, country], parents)
    text = str(err.value)
    assert text.startswith(
        "county '01' (Stockholms län) is not covered by its municipality regions: "
    )
    near = re.search(r"near lon ([\d.]+), lat ([\d.]+)", text)
    assert near is not None, text
    point = shapely.Point(float(near[1]), float(near[2]))
    assert all_munis["0180"].geometry.buffer(1e-4).covers(point)
    assert not any(r.geometry.covers(point) for r in munis)


def test_slivers_between_two_files_pass_within_the_gap_tolerance() -> None:
    """A county 0.5 % larger than its towns (another file's boundary) is read; 0.1 % is not."""
    box = shapely.box
    towns = RegionSet([Region(code="t1", name="T1", level="town", geometry=box(0, 0, 1, 1))])
    shires = RegionSet(
        [Region(code="S", name="Shire", level="shire", geometry=box(0, 0, 1.005, 1))]
    )
    h = RegionHierarchy([towns, shires], {"t1": "S"})
    assert h.locate([0.5, 1.002], [0.5, 0.5], "shire").tolist() == ["S", ""]
    with pytest.raises(InvalidRegions, match=r"0\.5% of its area .* gap_tolerance=0\.001"):
        RegionHierarchy([towns, shires], {"t1": "S"}, gap_tolerance=0.001)
    with pytest.raises(InvalidRegions, match="gap_tolerance"):
        RegionHierarchy([towns, shires], {"t1": "S"}, gap_tolerance=2.0)


# --- text written without quotes in a TOML file -------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "token"),
    [
        ("regions = [01, 14]", "01"),  # "Unclosed array": a TOML number may not start with 0
        ('regions = [\n  "01",\n  0180,\n]', "0180"),  # an array over several lines
        ("regions = [PR-SYD]", "PR-SYD"),
        ("regions = [SE]", "SE"),
    ],
)
def test_a_region_code_without_quotes_is_named_as_text(lines: str, token: str) -> None:
    """``regions = [01]`` was only "not valid TOML: Unclosed array (at line 4, column 13)"."""
    with pytest.raises(InvalidPolicy) as err:
        RolloutPolicy.from_toml(_HEAD + _PHASE.replace('regions = ["01"]\n', lines + "\n"))
    [problem] = err.value.problems
    assert problem.message.startswith("not valid TOML: ")
    assert f'{token} is text written without quotes: write "{token}"' in problem.message


def test_other_unquoted_text_of_a_policy_file_is_named_too(tmp_path: Path) -> None:
    for line, expected in [
        ("timezone = Europe/Stockholm", 'write "Europe/Stockholm"'),
        ("issuers = any", 'write "any"'),
        ('[[issuers]]\nname = "p"\nsenders = [a@polisen.se]', 'write "a@polisen.se"'),
        ("[kinds.tip_request]\nkilled = yes", "killed is true or false (got yes)"),
    ]:
        file = tmp_path / "policy.toml"
        file.write_text(line + "\n" + _PHASE, encoding="utf-8")
        with pytest.raises(InvalidPolicy) as err:
            load_policy(file)
        assert expected in str(err.value), (line, str(err.value))


@pytest.mark.parametrize(
    "line", ["percentage = 05", "starts_at = 2024-04-15 00:00", 'regions = ["01" "14"]']
)
def test_a_number_or_a_time_gets_no_hint_to_quote_it(line: str) -> None:
    """A percentage with a leading zero is a number, not text: no hint to quote it."""
    text = _HEAD + '[[kinds.tip_request.phases]]\nregions = ["01"]\n' + line + "\n"
    with pytest.raises(InvalidPolicy) as err:
        RolloutPolicy.from_toml(text)
    assert "without quotes" not in str(err.value)


def test_a_pem_file_whose_second_certificate_is_corrupt_is_a_policy_problem(
    tmp_path: Path,
) -> None:
    """Every certificate of a pinned PEM file is checked, not only its first.

    Verification pins every certificate of the text; a corrupt second block passed the policy's
    check and then failed inside ``Targeter.receive`` as a bare type error. Oracle: the same
    file's first block alone has no problem.
    """
    from cryptography.hazmat.primitives.serialization import Encoding

    first = _certificate().public_bytes(Encoding.PEM)
    corrupt = b"-----BEGIN CERTIFICATE-----\nTUlJQm5vdA==\n-----END CERTIFICATE-----\n"
    (tmp_path / "one.pem").write_bytes(first)
    (tmp_path / "two.pem").write_bytes(first + corrupt)
    fine = load_policy(_signed_issuer_policy(tmp_path, "one.pem"))
    assert fine.issuers is not None and fine.issuers.certificate_problems() == []
    with pytest.raises(InvalidPolicy) as err:  # as a Targeter would refuse it
        load_policy(_signed_issuer_policy(tmp_path, "two.pem"))
    [problem] = err.value.problems
    assert "certificates[0]" in str(problem) and "not a PEM X.509 certificate" in str(problem)
