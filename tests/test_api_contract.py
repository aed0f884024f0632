"""What the API reference promises an integrator is what the code does.

Each test names the documented promise it checks: a "Raises" entry for an input the other
tests have not tried, a documented type, unit or default, or a docs example.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from geotarget import Circle, PositionIndex, Positions, Targeter, pilot, sweden
from geotarget.errors import GeotargetError, InvalidInput, InvalidType

AT = dt.datetime(2024, 5, 20, 12, tzinfo=dt.timezone.utc)
MSG = pilot.Message(headline="x", description="x", area_description="x")


def _explosion(identifier: str = "e1") -> Any:
    return pilot.explosion(
        identifier=identifier, sender="a@b.se", sent=AT, area=Circle(18.06, 59.33, 500.0),
        sv=MSG, en=MSG, onset=AT, expires=AT + dt.timedelta(hours=1),
    )  # fmt: skip


def _result(ids: list[Any]) -> Any:
    positions = Positions(ids, [18.06], [59.33], observed_at=AT)
    targeter = Targeter(sweden.hierarchy(), sweden.pilot_policy())
    return targeter.target(_explosion(), PositionIndex(positions), AT)


#: numpy's timedelta64 is a subclass of numpy.integer whose ``int()`` raises TypeError: an
#: ``isinstance(x, np.integer)`` check lets it through to a crash.
TIMEDELTAS = [np.timedelta64(60, "s"), np.timedelta64("NaT"), np.timedelta64(5)]


@pytest.mark.parametrize("value", TIMEDELTAS, ids=repr)
@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda v: Targeter(sweden.hierarchy(), sweden.pilot_policy(), lease=v), InvalidInput),
        (
            lambda v: Targeter(sweden.hierarchy(), sweden.pilot_policy()).redeliver(AT, limit=v),
            InvalidInput,
        ),
        (lambda v: _result(["a"]).explain(v), InvalidInput),
        (lambda v: _result([1]).explain(v), InvalidInput),
        (lambda v: _result([1]).outcome_of(v), InvalidInput),
        (lambda v: sweden.synthetic_population(v), InvalidType),
        (lambda v: sweden.synthetic_population(5, seed=v), InvalidType),
    ],
    ids=[
        "Targeter(lease)",
        "Targeter.redeliver(limit)",
        "TargetingResult.explain(str ids)",
        "TargetingResult.explain(int ids)",
        "TargetingResult.outcome_of",
        "synthetic_population(n)",
        "synthetic_population(seed)",
    ],
)
def test_a_numpy_timedelta_where_a_number_or_id_belongs_gets_geotargets_error(
    call: Callable[[Any], object], error: type[GeotargetError], value: Any
) -> None:
    """``lease=np.timedelta64(60, "s")`` raised TypeError from ``int()`` in the message."""
    with pytest.raises(error) as caught:
        call(value)
    assert "timedelta64" in str(caught.value)


@pytest.mark.parametrize("store", ["memory", "sqlite", "postgres"])
def test_a_list_of_numpy_integers_is_device_ids_as_the_ledger_documents(
    store: str, tmp_path: Any, request: pytest.FixtureRequest
) -> None:
    """``device_ids : sequence of str or int, or numpy array``: ``list(ids)`` of an int array.

    A numpy int array was taken, and a list of ``np.str_``, but a list of its elements
    (``np.int64``, as ``list(array)`` and pandas' object columns give them) was refused with
    InvalidType. They are the ints they hold: ``np.int64(7)`` is device ``7``, also ``"7"``.
    """
    from geotarget.ledger import DeliveryLedger, MemoryLedger, PostgresLedger, SQLiteLedger

    ledger: DeliveryLedger
    if store == "postgres":  # (skips without a server, fails in CI: see conftest)
        ledger = PostgresLedger(request.getfixturevalue("postgres_dsn"))
    else:
        ledger = MemoryLedger() if store == "memory" else SQLiteLedger(tmp_path / "d.db")
    try:
        version = ledger.admit(_explosion(), at=AT).version
        ids = [np.int64(7), np.int32(8), np.uint64(9), 10, "11"]
        claims = ledger.claim("a@b.se/e1", ids, version=version, at=AT)
        assert claims.devices.tolist() == ["7", "8", "9", "10", "11"]
        again = ledger.claim("a@b.se/e1", [7, "8", np.uint8(9)], version=version, at=AT)
        assert again.devices.tolist() == []
        done = ledger.confirm_devices("a@b.se/e1", [np.int64(7), "8"], at=AT)
        assert done.confirmed.tolist() == [0, 1]
        with pytest.raises(InvalidInput, match=r"device_ids\[0\] must fit"):
            ledger.claim("a@b.se/e1", [np.uint64(2**64 - 1)], version=version, at=AT)
        bad: list[Any] = [1, np.timedelta64(2, "s")]
        with pytest.raises(InvalidType, match=r"device_ids\[1\]"):
            ledger.claim("a@b.se/e1", bad, version=version, at=AT)
    finally:
        ledger.close()


def _every_error() -> list[BaseException]:
    """One instance of each exception class geotarget.errors exports, as geotarget raises it."""
    from geotarget import errors

    problems = [errors.Problem("info[0]/area[0]", "bad"), errors.Problem("", "worse")]
    special: dict[type, BaseException] = {
        errors.DuplicateIdentifier: errors.DuplicateIdentifier("a@b.se", "e1", "infos[0]"),
        errors.DocumentError: errors.DocumentError("policy file", problems),
        errors.InvalidCAP: errors.InvalidCAP(problems, what="alert"),
        errors.InvalidPolicy: errors.InvalidPolicy(problems, what="pilot.toml"),
        errors.MissingExtra: errors.MissingExtra("sweden", "geotarget.sweden"),
    }
    out: list[BaseException] = []
    for name in errors.__all__:
        cls = getattr(errors, name)
        if isinstance(cls, type) and issubclass(cls, BaseException):
            out.append(special.get(cls) or cls(f"{name}: the rule (got 1)"))
    return out


@pytest.mark.parametrize("error", _every_error(), ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("how", ["pickle", "copy", "deepcopy"])
def test_every_error_survives_pickle_and_copy_as_it_was(error: BaseException, how: str) -> None:
    """An error crosses a process boundary (a Dask worker, a process pool) unchanged.

    Pickling an exception calls ``cls(*args)``: ``InvalidPolicy`` and ``InvalidCAP`` (their
    problems), ``DuplicateIdentifier`` and ``MissingExtra`` raised TypeError or AttributeError
    when unpickled or copied, so the caller got that instead of the message.
    """
    import copy
    import pickle

    copier: Callable[[BaseException], BaseException] = {
        "pickle": lambda e: pickle.loads(pickle.dumps(e)),
        "copy": copy.copy,
        "deepcopy": copy.deepcopy,
    }[how]
    again = copier(error)
    assert type(again) is type(error)
    assert str(again) == str(error)
    assert again.args == error.args
    for attr in ("problems", "paths", "sender", "identifier", "field", "extra"):
        assert getattr(again, attr, None) == getattr(error, attr, None), attr


def test_the_pilots_module_constants_cannot_be_changed_for_everyone() -> None:
    """``KIND_RULES`` (typed ``Mapping``) and ``POLICE_REGIONS`` were plain dicts.

    ``rules = pilot.KIND_RULES; rules["my_kind"] = ...`` changed the rules of every Targeter
    built later without ``location_rules``, and an edit of ``POLICE_REGIONS`` the built-in
    police regions, silently. They are read-only; a copy is the caller's own.
    """
    from geotarget import KindRules

    mine = KindRules(include_ambiguous=False)
    with pytest.raises(TypeError):
        pilot.KIND_RULES["explosion"] = mine  # type: ignore[index]
    with pytest.raises(TypeError):
        sweden.POLICE_REGIONS["PR-X"] = ("x", ("01",))  # type: ignore[index]
    own = dict(pilot.KIND_RULES)
    own["explosion"] = mine
    assert pilot.KIND_RULES["explosion"] != mine
    import copy
    import pickle

    for constant in (pilot.KIND_RULES, sweden.POLICE_REGIONS):  # still copied like a dict
        assert pickle.loads(pickle.dumps(constant)) == copy.deepcopy(constant) == dict(constant)
    targeter = Targeter(sweden.hierarchy(), sweden.pilot_policy())
    assert targeter.rules["explosion"] == pilot.KIND_RULES["explosion"]


def test_region_geojson_nested_thousands_deep_is_invalid_regions(tmp_path: Any) -> None:
    """``RegionSet.from_geojson`` "Raises InvalidRegions" for bad region data.

    Text nested a hundred thousand arrays deep (a hostile or corrupt file) raised Python's
    RecursionError from the JSON parser; ``Area.from_geojson`` and the policy readers refuse
    it with their own errors already.
    """
    from geotarget import RegionSet
    from geotarget.errors import InvalidRegions

    deep = "[" * 100_000 + "]" * 100_000
    path = tmp_path / "regions.geojson"
    path.write_text(deep, encoding="utf-8")
    for source in (deep, deep.encode(), path):
        with pytest.raises(InvalidRegions, match="nested too deeply"):
            RegionSet.from_geojson(source, code_property="code", level="county")
    with pytest.raises(InvalidRegions, match=r"regions\.geojson.*nested too deeply"):
        RegionSet.from_geojson(path, code_property="code", level="county")


def test_in_asks_whether_a_code_is_in_the_regions_whatever_is_asked() -> None:
    """``x in regions`` answers True or False; a list or dict raised TypeError (unhashable)."""
    hierarchy, counties = sweden.hierarchy(), sweden.counties()
    for regions in (hierarchy, counties):
        assert "01" in regions
        assert np.str_("01") in regions
        for other in (["01"], {"01": 1}, {"01"}, np.array(["01"]), None, 1, b"01", "zz"):
            assert (other in regions) is False, other


def test_a_lease_is_at_least_a_microsecond_and_kept_as_a_timedelta(tmp_path: Any) -> None:
    """``lease : datetime.timedelta``, "> 0": a ``pandas.Timedelta`` is one, of nanoseconds too.

    A lease of one nanosecond passed the ``> 0`` check and counted as 0 µs in every store:
    the claim was due at once (``redeliver(at)`` offered it again in the same instant). A
    ``pandas.Timedelta`` of a minute was kept as it was, so ``Targeter.lease`` was no
    ``datetime.timedelta`` of its own.
    """
    pd = pytest.importorskip("pandas")
    from geotarget.ledger import MemoryLedger, SQLiteLedger

    with pytest.raises(InvalidInput, match="at least one microsecond"):
        Targeter(sweden.hierarchy(), sweden.pilot_policy(), lease=pd.Timedelta(nanoseconds=1))
    for ledger in (MemoryLedger(), SQLiteLedger(tmp_path / "d.db")):
        version = ledger.admit(_explosion(), at=AT).version
        with pytest.raises(InvalidInput, match="at least one microsecond"):
            ledger.claim("a@b.se/e1", ["a"], version=version, at=AT, lease=pd.Timedelta(999))
        ledger.close()
    targeter = Targeter(sweden.hierarchy(), sweden.pilot_policy(), lease=pd.Timedelta(minutes=1))
    assert type(targeter.lease) is dt.timedelta
    assert targeter.lease == dt.timedelta(minutes=1)
    index = PositionIndex(Positions(["a"], [18.06], [59.33], observed_at=AT))
    claims = targeter.target(_explosion(), index, AT).claims
    assert claims is not None
    assert claims.lease_until == AT + dt.timedelta(minutes=1)
    assert targeter.redeliver(AT) == []


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_the_stores_refuse_a_wall_time_the_clocks_skip_as_the_targeter_does(
    store: str, tmp_path: Any
) -> None:
    """docs/gotchas.rst "Time zones": a skipped wall time is refused, never guessed.

    The Targeter refused 02:30 on the night Stockholm's clocks jump to 03:00; the stores,
    called directly, took it as Python's guess (01:30 UTC) and leased and confirmed by it.
    """
    from zoneinfo import ZoneInfo

    from geotarget.ledger import DeliveryKind, MemoryLedger, SQLiteLedger

    skipped = dt.datetime(2024, 3, 31, 2, 30, tzinfo=ZoneInfo("Europe/Stockholm"))
    ledger = MemoryLedger() if store == "memory" else SQLiteLedger(tmp_path / "d.db")
    version = ledger.admit(_explosion(), at=AT).version
    key = "a@b.se/e1"
    calls: dict[str, Callable[[dt.datetime], object]] = {
        "admit": lambda t: ledger.admit(_explosion("e2"), at=t),
        "claim": lambda t: ledger.claim(key, ["a"], version=version, at=t),
        "confirm": lambda t: ledger.confirm([f"{key} {version} a"], at=t),
        "confirm_devices": lambda t: ledger.confirm_devices(
            key, ["a"], at=t, kind=DeliveryKind.ALERT
        ),
        "due": lambda t: ledger.due(t),
        "redeliver": lambda t: ledger.redeliver(t),
        "retract": lambda t: ledger.retract(key, version=version, at=t),
        "expire": lambda t: ledger.expire(key, at=t),
    }
    try:
        for name, call in calls.items():
            with pytest.raises(InvalidInput, match="does not exist in Europe/Stockholm"):
                call(skipped)
            assert ledger.load_active()[0].key == key, name  # nothing changed
    finally:
        ledger.close()


def test_polygons_are_equal_as_their_docstring_says() -> None:
    """The same rings given any way compare (and hash) equal; another vertex list does not."""
    from geotarget import Polygon

    square = [(18.0, 59.0), (18.1, 59.0), (18.1, 59.1), (18.0, 59.1)]
    hole_a = [(18.02, 59.02), (18.03, 59.02), (18.03, 59.03)]
    hole_b = [(18.05, 59.05), (18.06, 59.05), (18.06, 59.06)]
    given = Polygon(square, holes=[hole_a, hole_b])
    for other in (
        Polygon([*square[2:], *square[:2], square[2]], holes=[hole_b, hole_a]),  # closed, turned
        Polygon(square[::-1], holes=[hole_a[::-1], hole_b]),  # clockwise
        Polygon([square[0], *square], holes=[hole_a, hole_b]),  # a repeated vertex
    ):
        assert other == given
        assert hash(other) == hash(given)
    extra = Polygon([square[0], (18.05, 59.0), *square[1:]], holes=[hole_a, hole_b])
    assert extra != given  # the same points, another polygon (documented)
