"""Every public call given an argument of the wrong shape raises geotarget's own error.

One table of calls, each with one argument replaced by a hostile value (None, a number, NaN,
a str or bytes where a sequence belongs, an empty or nested container, a naive datetime, a 2-D
array, a bare object, a bool, a mixed or None-holding list); the other arguments are valid. The
call may succeed (a list of codes is a list) or raise a
:class:`~geotarget.errors.GeotargetError`; an ``AttributeError``, ``TypeError``,
``IndexError`` or ``ValueError`` from a dependency or from Python fails the test. The table
grew out of sweeps that found such crashes in ``Positions``, the ledgers, the rollout
classes, ``AreaIndex``, region sets and the policy readers.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from geotarget import (
    Area,
    Circle,
    LocationRule,
    Polygon,
    PositionIndex,
    Positions,
    Targeter,
    cap,
    pilot,
    sweden,
)
from geotarget.errors import GeotargetError
from geotarget.issuers import Issuer, Issuers
from geotarget.kinds import RecognitionRule, Recognizer
from geotarget.ledger import MemoryLedger
from geotarget.matcher import AreaIndex
from geotarget.rollout import KindRollout, Phase, RolloutPolicy

AT = dt.datetime(2024, 5, 20, 12, tzinfo=dt.timezone.utc)


class _Text(str):
    """A str subclass (as enum.StrEnum members are)."""


HOSTILE: list[Any] = [
    None, "x", b"x", 5, 5.5, float("nan"), -1, [], {}, (1, 2), dt.datetime(2024, 1, 1),
    np.array([1.0]), np.array([[1.0]]), object(), True, ["a", 1], [None],
    [[1.0], 2.0], [[1.0, 2.0], [3.0]],  # ragged: numpy raises ValueError building an array
    np.array(1.0), np.array("x"),  # 0-d: an Iterable to isinstance, but iterating one raises
    np.array([], dtype=object),  # no truth value: `value or default` raises ValueError
    10**5000, [10**5000],  # Python refuses to show it as text (ValueError); float() overflows
    # A numpy integer to isinstance whose int() and float() raise TypeError; a str subclass.
    np.timedelta64(5, "s"), [np.timedelta64(5, "s")], _Text("x"), [_Text("x")],
]  # fmt: skip


def _world() -> dict[str, Any]:
    pos = Positions(["a", "b"], [18.0, 18.1], [59.3, 59.3], observed_at=AT)
    msg = pilot.Message(headline="x", description="x", area_description="x")
    hierarchy = sweden.hierarchy()
    targeter = Targeter(hierarchy, sweden.pilot_policy(), ledger=MemoryLedger())
    alert = pilot.explosion(
        identifier="e1", sender="a@b.se", sent=AT, area=Circle(18.0, 59.3, 5000.0), sv=msg,
        en=msg, onset=AT, expires=AT + dt.timedelta(hours=1),
    )  # fmt: skip
    index = PositionIndex(pos)
    return {
        "pos": pos, "index": index, "msg": msg, "hierarchy": hierarchy, "targeter": targeter,
        "alert": alert, "result": targeter.target(alert, index, AT),
        "areas": AreaIndex({"a": Circle(18.0, 59.0, 100.0)}), "ledger": MemoryLedger(),
        "phase": Phase(starts_at=AT, regions=("01",)),
    }  # fmt: skip


W = _world()
_ring = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 0.0)]
_HIERARCHY_METHODS = (
    "ancestors",
    "children",
    "level_of",
    "name_of",
    "parent",
    "region",
    "region_set",
)


def _hierarchy_method(name: str) -> Callable[[Any], object]:
    method = getattr(W["hierarchy"], name)
    return lambda b: method(b)


def _explosion_with(field: str) -> Callable[[Any], object]:
    """pilot.explosion with one argument replaced."""

    def call(value: Any) -> object:
        kw: dict[str, Any] = {
            "identifier": "e", "sender": "a@b.se", "sent": AT, "area": Circle(18, 59, 100.0),
            "sv": W["msg"], "en": W["msg"], "onset": AT, "expires": AT + dt.timedelta(hours=1),
        }  # fmt: skip
        return pilot.explosion(**{**kw, field: value})

    return call


#: name → a call of one hostile argument.
CALLS: dict[str, Callable[[Any], object]] = {
    # areas
    "Circle(lon)": lambda b: Circle(b, 59.0, 100.0),
    "Circle(radius_m)": lambda b: Circle(18.0, 59.0, b),
    "Polygon(exterior)": lambda b: Polygon(b),
    "Polygon(holes)": lambda b: Polygon(_ring, holes=b),
    "Polygon(margin_m)": lambda b: Polygon(_ring, margin_m=b),
    "Polygon.from_shapely": lambda b: Polygon.from_shapely(b),
    "Polygon.repair(holes)": lambda b: Polygon.repair(_ring, holes=b),
    "Polygon.with_margin": lambda b: Polygon(_ring).with_margin(b),
    "Circle.with_margin": lambda b: Circle(18.0, 59.0, 100.0).with_margin(b),
    "Area(parts)": lambda b: Area(b),
    "Area.from_geojson": lambda b: Area.from_geojson(b),
    "Area.contains(lon)": lambda b: Area([Circle(18, 59, 100.0)]).contains(b, [59.0]),
    # positions and the matcher
    "Positions(ids)": lambda b: Positions(b, [18.0], [59.0], observed_at=AT),
    "Positions(lon)": lambda b: Positions(["a"], b, [59.0], observed_at=AT),
    "Positions(accuracy_m)": lambda b: Positions(
        ["a"], [18.0], [59.0], accuracy_m=b, observed_at=AT
    ),
    "Positions(observed_at)": lambda b: Positions(["a"], [18.0], [59.0], observed_at=b),
    "Positions.rows_of": lambda b: W["pos"].rows_of(b),
    "PositionIndex(positions)": lambda b: PositionIndex(b),
    "PositionIndex.query": lambda b: W["index"].query(b),
    "PositionIndex.count": lambda b: W["index"].count(b),
    "PositionIndex.query(observed_before)": lambda b: W["index"].query(
        Circle(18, 59.3, 1e2), observed_before=b
    ),
    "PositionIndex.classify(return_box)": lambda b: W["index"].classify(
        Circle(18, 59.3, 1e2), LocationRule(), AT, return_box=b
    ),
    "Positions.sorted_ids": lambda b: W["pos"].sorted_ids(b),
    "Positions.id_order": lambda b: W["pos"].id_order(b),
    "PositionIndex.classify(area)": lambda b: W["index"].classify(b, LocationRule(), AT),
    "PositionIndex.classify(rule)": lambda b: W["index"].classify(Circle(18, 59.3, 1e2), b, AT),
    "PositionIndex.classify(at)": lambda b: W["index"].classify(
        Circle(18, 59.3, 1e2), LocationRule(), b
    ),
    "LocationRule(max_age)": lambda b: LocationRule(max_age=b),
    "LocationRule(accuracy)": lambda b: LocationRule(accuracy=b),
    "AreaIndex(areas)": lambda b: AreaIndex(b),
    "AreaIndex({key: area})": lambda b: AreaIndex({"a": b}),
    "AreaIndex.match(lon)": lambda b: W["areas"].match(b, [59.0]),
    "AreaIndex.match_one(lon)": lambda b: W["areas"].match_one(b, 59.0),
    "AreaIndex.with_area(key)": lambda b: W["areas"].with_area(b, Circle(18, 59, 100.0)),
    "AreaIndex.with_area(area)": lambda b: W["areas"].with_area("b", b),
    "AreaIndex.with_areas": lambda b: W["areas"].with_areas(b),
    "AreaIndex.without": lambda b: W["areas"].without(b),
    # regions
    "RegionHierarchy.locate(lon)": lambda b: W["hierarchy"].locate(b, [59.0]),
    "RegionHierarchy.locate(level)": lambda b: W["hierarchy"].locate([18.0], [59.0], b),
    "RegionHierarchy.locate(snap_m)": lambda b: W["hierarchy"].locate([18.0], [59.0], snap_m=b),
    "RegionHierarchy.expand(codes)": lambda b: W["hierarchy"].expand(b, "county"),
    "RegionHierarchy.expand(level)": lambda b: W["hierarchy"].expand(["01"], b),
    **{f"RegionHierarchy.{m}": _hierarchy_method(m) for m in _HIERARCHY_METHODS},
    "RegionSet.locate(lon)": lambda b: sweden.municipalities().locate(b, [59.0]),
    "RegionSet.contains(code)": lambda b: sweden.municipalities().contains(b, [18.0], [59.0]),
    "RegionSet.union": lambda b: sweden.municipalities().union(b),
    "RegionSet(regions)": lambda b: type(sweden.counties())(b),
    "RegionSet.locate_box(west)": lambda b: sweden.counties().locate_box(b, 59.0, 18.0, 59.1),
    "RegionSet.locate_box(north)": lambda b: sweden.counties().locate_box(18.0, 59.0, 18.1, b),
    "municipalities()[code]": lambda b: sweden.municipalities()[b],
    # rollout, recognition, issuers
    "Phase(starts_at)": lambda b: Phase(starts_at=b, regions=("01",)),
    "Phase(regions)": lambda b: Phase(starts_at=AT, regions=b),
    "KindRollout(kind)": lambda b: KindRollout(kind=b, phases=[W["phase"]]),
    "KindRollout(phases)": lambda b: KindRollout(kind="explosion", phases=b),
    "RolloutPolicy(rollouts)": lambda b: RolloutPolicy(rollouts=b),
    "RolloutPolicy(salt)": lambda b: RolloutPolicy(rollouts=[], salt=b),
    "RolloutPolicy.decide(kind)": lambda b: W["targeter"].policy.decide(b, AT),
    "RolloutPolicy.decide(at)": lambda b: W["targeter"].policy.decide("explosion", b),
    "RolloutPolicy.explain(catalog)": lambda b: W["targeter"].policy.explain(
        "explosion", "01", AT, catalog=b
    ),
    "RolloutPolicy.validate": lambda b: W["targeter"].policy.validate(b),
    "RolloutPolicy.in_canary(ids)": lambda b: W["targeter"].policy.in_canary("explosion", b, AT),
    "RolloutPolicy.with_phase(phase)": lambda b: W["targeter"].policy.with_phase("explosion", b),
    "RolloutPolicy.with_killed(kind)": lambda b: W["targeter"].policy.with_killed(True, kind=b),
    "RolloutPolicy.from_dict": lambda b: RolloutPolicy.from_dict(b),
    "Issuer(senders)": lambda b: Issuer(name="x", senders=b, kinds=["explosion"], regions=["SE"]),
    "Issuers(issuers)": lambda b: Issuers(b),
    "Issuers.from_dict": lambda b: Issuers.from_dict(b),
    "RecognitionRule(events)": lambda b: RecognitionRule(name="x", kind="explosion", events=b),
    "Recognizer(rules)": lambda b: Recognizer(b),
    "Recognizer.from_dict": lambda b: Recognizer.from_dict(b),
    # alerts and CAP
    "pilot.Message(headline)": lambda b: pilot.Message(
        headline=b, description="x", area_description="x"
    ),
    **{
        f"pilot.explosion({field})": _explosion_with(field)
        for field in (
            "identifier",
            "sender",
            "sent",
            "area",
            "sv",
            "onset",
            "expires",
            "references",
        )
    },
    "pilot.announced_policy(later_phases)": lambda b: pilot.announced_policy(later_phases=b),
    "pilot.announced_policy(later_phases[kind])": lambda b: pilot.announced_policy(
        later_phases={"explosion": b}
    ),
    "sweden.nationwide(country_code)": lambda b: sweden.nationwide(b),
    "sweden.nationwide(kinds)": lambda b: sweden.nationwide(kinds=b),
    "sweden.synthetic_population(n)": lambda b: sweden.synthetic_population(b),
    "cap.check_axis_order(envelope)": lambda b: cap.check_axis_order(W["alert"], b),
    "cap.loads_lenient": lambda b: cap.loads_lenient(b),
    "cap.loads": lambda b: cap.loads(b),
    "cap.dumps": lambda b: cap.dumps(b),
    # the Targeter
    "Targeter(regions)": lambda b: Targeter(b, sweden.pilot_policy()),
    "Targeter(policy)": lambda b: Targeter(W["hierarchy"], b),
    "Targeter(ledger)": lambda b: Targeter(W["hierarchy"], sweden.pilot_policy(), ledger=b),
    "Targeter(snap_m)": lambda b: Targeter(W["hierarchy"], sweden.pilot_policy(), snap_m=b),
    "Targeter(lease)": lambda b: Targeter(W["hierarchy"], sweden.pilot_policy(), lease=b),
    "Targeter(location_rules)": lambda b: Targeter(
        W["hierarchy"], sweden.pilot_policy(), location_rules=b
    ),
    "Targeter.target(alert)": lambda b: W["targeter"].target(b, W["index"], AT),
    "Targeter.target(index)": lambda b: W["targeter"].target(W["alert"], b, AT),
    "Targeter.target(at)": lambda b: W["targeter"].target(W["alert"], W["index"], b),
    "Targeter.preview(alert)": lambda b: W["targeter"].preview(b, W["index"], AT),
    "Targeter.receive(data)": lambda b: W["targeter"].receive(b, W["index"], AT),
    "Targeter.confirm(keys)": lambda b: W["targeter"].confirm(b, AT),
    "Targeter.on_positions": lambda b: W["targeter"].on_positions(b, AT),
    "Targeter.redeliver(at)": lambda b: W["targeter"].redeliver(b),
    "Targeter.redeliver(limit)": lambda b: W["targeter"].redeliver(AT, limit=b),
    "Targeter.incident_of": lambda b: W["targeter"].incident_of(b),
    "TargetingResult.outcome_of": lambda b: W["result"].outcome_of(b),
    "TargetingResult.explain": lambda b: W["result"].explain(b),
    # the ledger
    "ledger.claim(incident)": lambda b: W["ledger"].claim(b, ["a"], version="v", at=AT),
    "ledger.claim(device_ids)": lambda b: W["ledger"].claim("k", b, version="v", at=AT),
    "ledger.claim(version)": lambda b: W["ledger"].claim("k", ["a"], version=b, at=AT),
    "ledger.claim(at)": lambda b: W["ledger"].claim("k", ["a"], version="v", at=b),
    "ledger.confirm(keys)": lambda b: W["ledger"].confirm(b, at=AT),
    "ledger.confirm_devices(device_ids)": lambda b: W["ledger"].confirm_devices("k", b, at=AT),
    "ledger.delivered(device_ids)": lambda b: W["ledger"].delivered("k", b),
    "ledger.admit(alert)": lambda b: W["ledger"].admit(b, at=AT),
    "ledger.admit(lease)": lambda b: W["ledger"].admit(W["alert"], at=AT, lease=b),
    "ledger.due(at)": lambda b: W["ledger"].due(b),
    "ledger.expire(incident)": lambda b: W["ledger"].expire(b, at=AT),
    "ledger.recipients(incident)": lambda b: W["ledger"].recipients(b),
    "ledger.retract(incident)": lambda b: W["ledger"].retract(b, version="v", at=AT),
    "ledger.redeliver(lease)": lambda b: W["ledger"].redeliver(AT, lease=b),
}


def _shown(value: object) -> str:
    try:
        return f"{value!r:.40}"
    except ValueError:  # a huge int, or a container of one
        return f"<{type(value).__name__} holding a huge int>"


def _crashes(name: str, call: Callable[[Any], object], values: list[Any]) -> list[str]:
    """What escaped ``call`` other than a GeotargetError, one line per hostile value."""
    out = []
    for value in values:
        try:
            call(value)
        except GeotargetError:
            pass
        except Exception as err:  # the point: nothing else may escape
            out.append(f"{name} {_shown(value)}: {type(err).__name__}: {err}"[:200])
    return out


@pytest.mark.parametrize("name", sorted(CALLS))
def test_a_hostile_argument_gets_geotargets_own_error(name: str) -> None:
    """Each hostile value either works or raises GeotargetError, never another exception."""
    crashes = _crashes(name, CALLS[name], HOSTILE)
    assert not crashes, "\n".join(crashes)


def test_the_dask_module_s_readers_get_geotargets_own_error(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Paths, cell sizes and the dataset's pruning windows of the wrong shape (``dask`` extra).

    ``PartitionedPositions.near`` with a NaN accuracy pruned every file (a silent nobody);
    ``None`` for a path raised TypeError from ``os.fspath``.
    """
    if os.environ.get("CI") != "true":  # in CI (the dask extra installed) a missing pyarrow fails
        pytest.importorskip("pyarrow", reason="pyarrow (extras dask, geoparquet) is not installed")
    import pathlib

    monkeypatch.chdir(tmp_path)  # a hostile str root ("x") is a relative path: write it here

    from geotarget import dask as gd

    hostile = [*HOSTILE, pathlib.Path(tmp_path / "a\0b")]
    dataset = gd.write_partitioned(W["pos"], tmp_path / "ds")
    calls: dict[str, Callable[[Any], object]] = {
        "write_partitioned(positions)": lambda b: gd.write_partitioned(b, tmp_path / "x"),
        "write_partitioned(root)": lambda b: gd.write_partitioned(W["pos"], b),
        "write_partitioned(cell_deg)": lambda b: gd.write_partitioned(
            W["pos"], tmp_path / "y", cell_deg=b
        ),
        "PartitionedPositions(root)": lambda b: gd.PartitionedPositions(b),
        "PartitionedPositions(recheck_s)": lambda b: gd.PartitionedPositions(
            tmp_path / "ds", recheck_s=b
        ),
        "near(windows)": lambda b: dataset.near(b, 1.0, 0.0),
        "near(accuracy)": lambda b: dataset.near([(17.0, 59.0, 19.0, 60.0)], b, 0.0),
        "near(stale_m)": lambda b: dataset.near([(17.0, 59.0, 19.0, 60.0)], 1.0, b),
        "read_parquet(path)": lambda b: gd.read_parquet(b, observed_at=AT),
        "positions_from_arrow(table)": lambda b: gd.positions_from_arrow(b),
    }
    crashes = [line for name, call in calls.items() for line in _crashes(name, call, hostile)]
    assert not crashes, "\n".join(crashes)
    with pytest.raises(GeotargetError, match=r"accuracy must be a finite number >= 0"):
        dataset.near([(17.0, 59.0, 19.0, 60.0)], float("nan"), 0.0)


def _models() -> dict[type, dict[str, Any]]:
    """Valid keyword arguments of each value class, taken from a real alert and rule set."""
    import attrs

    from geotarget import KindRules, StaleRule
    from geotarget import alerts as al

    alert = W["alert"]
    info, rules = alert.infos[0], W["targeter"].rules["explosion"]

    def fields(cls: type, obj: object) -> dict[str, Any]:
        return {f.name: getattr(obj, f.name) for f in attrs.fields(cls) if f.init}

    return {
        al.Alert: fields(al.Alert, alert),
        al.Info: fields(al.Info, info),
        al.AlertArea: fields(al.AlertArea, info.areas[0]),
        KindRules: fields(KindRules, rules),
        StaleRule: {"max_age": dt.timedelta(hours=2), "margin_m": 100.0},
        LocationRule: {"max_age": dt.timedelta(hours=1), "accuracy": 1.0},
        Issuer: {"name": "x", "senders": ["a@b.se"], "kinds": ["explosion"], "regions": ["SE"]},
        RecognitionRule: {"name": "x", "kind": "explosion", "events": ["Explosion"]},
    }


MODELS = _models()


@pytest.mark.parametrize(
    ("cls", "field"),
    [(cls, f) for cls, kw in MODELS.items() for f in kw],
    ids=lambda x: x.__name__ if isinstance(x, type) else str(x),
)
def test_every_field_of_every_value_class_refuses_a_hostile_value_with_geotargets_error(
    cls: type, field: str
) -> None:
    """The alert model, the kinds' rules, issuers and recognition rules, field by field."""
    kw = MODELS[cls]
    cls(**kw)  # the base is valid
    crashes = _crashes(f"{cls.__name__}({field})", lambda v: cls(**{**kw, field: v}), HOSTILE)
    assert not crashes, "\n".join(crashes)


@pytest.mark.parametrize(
    ("cls", "field"),
    [(cls, f) for cls, kw in MODELS.items() for f in kw],
    ids=lambda x: x.__name__ if isinstance(x, type) else str(x),
)
def test_a_megabyte_value_gets_a_message_of_a_few_hundred_characters(cls: type, field: str) -> None:
    """A megabyte pasted into one field is cut in the message, not logged whole.

    ``Alert(kinds=["k" * 10**6])``-like values were quoted whole: a megabyte error message.
    """
    kw = MODELS[cls]
    for value in ("é" * 10**6, ["é" * 10**6], {"é" * 10**6: 1}):
        message = ""
        try:
            cls(**{**kw, field: value})
        except GeotargetError as err:
            message = str(err)
        assert len(message) < 2_000, (field, len(message))
