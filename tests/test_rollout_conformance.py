"""Run the rollout conformance vectors (tests/conformance/rollout/*.json) against geotarget."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from rollout_helpers import DictCatalog, oracle_bucket

from geotarget.errors import InvalidInput, InvalidPolicy, UnknownCode
from geotarget.rollout import RolloutPolicy, canary_buckets

HERE = Path(__file__).resolve().parent / "conformance" / "rollout"
VECTORS = sorted(HERE.glob("*.json"))
TYPES = ("decision", "canary", "invalid_policy", "valid_policy")


def load(path: Path) -> dict[str, Any]:
    """One vector file."""
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return doc


def catalog_of(doc: dict[str, Any]) -> DictCatalog:
    """The file's region hierarchy."""
    return DictCatalog({c: (r["level"], r["name"], r["parent"]) for c, r in doc["catalog"].items()})


def instant(text: str | None) -> datetime | None:
    """An RFC 3339 instant from a vector (``Z`` allowed, as in every file)."""
    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00"))


CASES = [
    pytest.param(path, i, id=f"{path.stem}: {case['name']}")
    for path in VECTORS
    for i, case in enumerate(load(path)["cases"])
]


def test_the_suite_is_there_and_documented() -> None:
    """The vectors exist, cover every case type, and the README documents each type."""
    assert len(VECTORS) >= 7
    readme = (HERE / "README.md").read_text(encoding="utf-8")
    seen = {case["type"] for path in VECTORS for case in load(path)["cases"]}
    assert seen == set(TYPES)
    for name in TYPES:
        assert f"`{name}`" in readme


@pytest.mark.parametrize("path", VECTORS, ids=[p.stem for p in VECTORS])
def test_file_policy_reads_validates_and_hashes(path: Path) -> None:
    """Each file's policy is valid against its catalog, hashes as stated and round-trips."""
    doc = load(path)
    assert set(doc) == {"description", "catalog", "policy", "policy_hash", "cases"}
    policy = RolloutPolicy.from_dict(doc["policy"], catalog_of(doc))
    assert policy.policy_hash == doc["policy_hash"]
    assert RolloutPolicy.from_json(policy.to_json()) == policy


@pytest.mark.parametrize(("path", "index"), CASES)
def test_vector(path: Path, index: int) -> None:
    """The implementation gives exactly the vector's expected answer."""
    doc = load(path)
    case = doc["cases"][index]
    catalog = catalog_of(doc)
    expect = case["expect"]
    if case["type"] == "invalid_policy":
        with pytest.raises(InvalidPolicy) as err:
            RolloutPolicy.from_dict(case["policy"], catalog)
        assert sorted({p.path for p in err.value.problems}) == expect["problem_paths"]
        return
    if case["type"] == "valid_policy":
        policy = RolloutPolicy.from_dict(case["policy"], catalog)
        got = {
            kind: [p.starts_at for p in policy.rollout(kind).phases]  # type: ignore[union-attr]
            for kind in expect["starts_at"]
        }
        assert got == {k: [instant(t) for t in v] for k, v in expect["starts_at"].items()}
        return
    policy = RolloutPolicy.from_dict(case.get("policy", doc["policy"]), catalog)
    at = instant(case["at"])
    assert at is not None
    if case["type"] == "canary":
        ids = case["device_ids"]
        buckets = canary_buckets(ids, kind=case["kind"], salt=policy.salt)
        assert buckets.tolist() == expect["buckets"]
        assert policy.in_canary(case["kind"], ids, at).tolist() == expect["in_canary"]
        return
    assert case["type"] == "decision"
    if "error" in expect:
        error = {"UnknownCode": UnknownCode, "InvalidInput": InvalidInput}[expect["error"]]
        with pytest.raises(error):  # a malformed kind fails in decide, a region in explain
            policy.explain(case["kind"], case["region"], at, catalog=catalog)
        return
    d = policy.decide(case["kind"], at)
    want = expect["decision"]
    assert (d.reason.value, d.phase_index, sorted(d.regions), d.percentage, d.enabled) == (
        want["reason"],
        want["phase_index"],
        want["regions"],
        want["percentage"],
        want["enabled"],
    )
    assert d.next_change == instant(want["next_change"])
    e = policy.explain(case["kind"], case["region"], at, catalog=catalog)
    want = expect["region"]
    assert (e.enabled, e.reason.value, e.via, e.change_at) == (
        want["enabled"],
        want["reason"],
        want["via"],
        instant(want["change_at"]),
    )


@pytest.mark.parametrize("path", VECTORS, ids=[p.stem for p in VECTORS])
def test_canary_vectors_follow_the_readme_definition(path: Path) -> None:
    """Every bucket in the vectors equals the README's definition, computed independently."""
    doc = load(path)
    salt = doc["policy"].get("salt", "geotarget")
    for case in doc["cases"]:
        if case["type"] == "canary":
            want = [oracle_bucket(i, salt, case["kind"]) for i in case["device_ids"]]
            assert case["expect"]["buckets"] == want, case["name"]
