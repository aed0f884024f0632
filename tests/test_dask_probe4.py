"""Hand-written partitions of every shape, against an oracle that reads the files with pyarrow.

The oracle applies the documented rules to the concatenated devices, with shapely and pyproj
only: an Explosion under a fail-open rule (``accuracy=1``, fixes at most an hour old) plus a
stale rule (fixes up to six hours old whose point lies within 500 m of the area) reaches a
device with a fix whose accuracy disk meets the circle (``Geod.inv`` distance to the centre
``<= radius + accuracy_m``), or, stale, whose point is within ``radius + 500 m``; for a polygon,
the devices are exact fresh fixes and a point is in if the prepared polygon covers it. No fix,
no time, or too old: nobody. The partitions are files no writer of this library made (so none
is pruned): empty, of one row, of ids typed ``int8`` to ``uint64`` or text as ``string``,
``large_string`` or dictionary, of ``float32`` and ``float16`` columns, of timestamps in
seconds to nanoseconds in two zones, with NaN and null positions and times; and, beside them, a
:func:`~geotarget.dask.write_partitioned` dataset whose cells the areas cross. Both a
``LocalCluster`` of two worker processes (the shared ``client`` fixture) and a threaded
in-process cluster are asked.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pyproj
import pytest
import shapely
import shapely.geometry as sg
import shapely.prepared
from targeting_helpers import T0, make_alert, make_regions, policy

from geotarget import Circle, LocationRule, Polygon, Positions, StaleRule
from geotarget.targeting import KindRules, Targeter

if os.environ.get("CI") != "true":  # in CI a missing extra fails at the import below
    pytest.importorskip("distributed", reason="the dask extra is not installed")
    pytest.importorskip("pyarrow", reason="the dask extra is not installed")
import pyarrow as pa
import pyarrow.parquet as pq

from geotarget.dask import DaskTargeter, PartitionedPositions, write_partitioned
from geotarget.errors import InvalidPositions

GEOD = pyproj.Geod(ellps="WGS84")
CENTRE = (18.0, 59.5)
STALE_MARGIN_M = 500.0
FRESH = dt.timedelta(hours=1)
STALE = dt.timedelta(hours=6)


def _rules() -> dict[str, KindRules]:
    rule = KindRules(
        location=LocationRule(max_age=FRESH, accuracy=1.0),
        include_ambiguous=True,
        stale=StaleRule(max_age=STALE, margin_m=STALE_MARGIN_M),
    )
    return {"explosion": rule}


def _targeter() -> Targeter:
    start = T0 - dt.timedelta(days=1)
    return Targeter(
        make_regions(), policy({"explosion": [(start, ("XX",))]}), location_rules=_rules()
    )


@pytest.fixture(scope="module")
def threaded() -> Iterator[Any]:
    """A threaded in-process cluster (``processes=False``), beside the processes of ``client``."""
    from distributed import Client

    c = Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=":0")
    yield c
    c.close()


# --- the oracle ------------------------------------------------------------------------------


def _read_all(root: Path) -> dict[str, np.ndarray]:
    """Every device of every Parquet file under ``root``, with pyarrow alone (no geotarget)."""
    ids: list[Any] = []
    lon: list[float] = []
    lat: list[float] = []
    acc: list[float] = []
    obs: list[Any] = []
    tester: list[bool] = []
    for f in sorted(root.rglob("*.parquet")):
        if any(part.startswith((".", "_")) for part in f.relative_to(root).parts):
            continue
        t = pq.read_table(f)
        cols = {n.lower(): t.column(n) for n in t.column_names}
        n = t.num_rows
        ids += [v if isinstance(v, str) else int(v) for v in cols["id"].to_pylist()]
        lon += [np.nan if v is None else float(v) for v in cols["lon"].to_pylist()]
        lat += [np.nan if v is None else float(v) for v in cols["lat"].to_pylist()]
        acc += [0.0 if v is None else float(v) for v in cols["accuracy_m"].to_pylist()]
        got = cols["observed_at"].cast(pa.timestamp("us", tz="UTC")).to_pylist()
        obs += [None if v is None else v.astimezone(dt.timezone.utc) for v in got]
        flags = cols["tester"].to_pylist() if "tester" in cols else [False] * n
        tester += [v in (True, 1, "true") for v in flags]  # null: not a tester
        assert len(ids) == len(lon) == len(obs) and n >= 0
    return {
        "ids": np.array(ids, dtype=object),
        "lon": np.array(lon, dtype=float),
        "lat": np.array(lat, dtype=float),
        "acc": np.array(acc, dtype=float),
        "obs": np.array(obs, dtype=object),
        "tester": np.array(tester, dtype=bool),
    }


def _age_class(obs: Any, at: dt.datetime) -> str:
    if obs is None:
        return "unknown"
    age = at - obs
    if age <= FRESH:
        return "fresh"
    return "stale" if age <= STALE else "old"


def _oracle_circle(
    d: dict[str, np.ndarray], lon0: float, lat0: float, r: float, at: Any
) -> set[Any]:
    """Who an Explosion over this circle reaches, by ``Geod.inv`` (devices in the country)."""
    out = set()
    has = ~np.isnan(d["lon"])
    dist = np.full(d["lon"].size, np.inf)
    if has.any():
        n = int(has.sum())
        _, _, dist[has] = GEOD.inv(np.full(n, lon0), np.full(n, lat0), d["lon"][has], d["lat"][has])
    for i in range(d["lon"].size):
        cls = _age_class(d["obs"][i], at)
        if not has[i] or cls in ("unknown", "old"):
            continue
        reach = r + (d["acc"][i] if cls == "fresh" else STALE_MARGIN_M)
        assert abs(dist[i] - reach) > 0.01, "a device on the oracle's threshold: move it"
        if dist[i] <= reach:
            out.add(d["ids"][i])
    return out


def _oracle_polygon(d: dict[str, np.ndarray], shape: Any, at: Any) -> set[Any]:
    """Who an Explosion over this lon/lat polygon reaches: exact fresh fixes it covers."""
    prepared = shapely.prepared.prep(shape)
    out = set()
    for i in range(d["lon"].size):
        if np.isnan(d["lon"][i]) or _age_class(d["obs"][i], at) != "fresh":
            continue
        assert d["acc"][i] == 0.0, "polygon scenarios hold exact fixes only"
        if prepared.covers(sg.Point(d["lon"][i], d["lat"][i])):
            out.add(d["ids"][i])
    return out


# --- the partitions --------------------------------------------------------------------------


def _ts(values: list[Any], unit: str = "us", tz: str = "UTC") -> Any:
    naive = [
        None if v is None else v.astimezone(dt.timezone.utc).replace(tzinfo=None) for v in values
    ]
    return pa.array(naive, pa.timestamp(unit, tz="UTC")).cast(pa.timestamp(unit, tz=tz))


def _file(path: Path, cols: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(cols), path)


def _scatter(rng: Any, n: int, *, spread: float = 0.06) -> tuple[np.ndarray, np.ndarray]:
    return (
        CENTRE[0] + rng.uniform(-spread, spread, n),
        CENTRE[1] + rng.uniform(-spread / 2, spread / 2, n),
    )


def _times(rng: Any, n: int, at: dt.datetime, *, stale: bool = True) -> list[Any]:
    """Fresh, stale (unless not ``stale``), too old, in the future and unknown times."""
    minutes = rng.choice([0, 20, 59, 361, 2000, -30, -1] + ([61, 90, 300, 359] if stale else []), n)
    out: list[Any] = [at - dt.timedelta(minutes=int(m), seconds=7) for m in minutes]
    for i in rng.choice(n, max(1, n // 12), replace=False):
        out[int(i)] = None
    return out


def _int_dataset(root: Path, at: dt.datetime, *, exact: bool = False) -> None:
    """Integer ids of five widths, every shape of partition; disjoint id ranges per file."""
    rng = np.random.default_rng(11)

    def acc(n: int) -> np.ndarray:
        return np.zeros(n) if exact else rng.choice([0.0, 8.0, 40.0, 400.0], n)

    # empty, with the columns' types
    _file(
        root / "hand/empty.parquet",
        {
            "id": pa.array([], pa.int64()),
            "lon": pa.array([], pa.float64()),
            "lat": pa.array([], pa.float64()),
            "accuracy_m": pa.array([], pa.float64()),
            "observed_at": pa.array([], pa.timestamp("us", tz="UTC")),
        },
    )
    # one row, exactly at the centre, fresh; int8 id
    _file(
        root / "hand/one.parquet",
        {
            "id": pa.array([7], pa.int8()),
            "lon": [CENTRE[0]],
            "lat": [CENTRE[1]],
            "accuracy_m": pa.array([0 if exact else 5], pa.int32()),
            "observed_at": _ts([at - dt.timedelta(minutes=1)], "s"),
        },
    )
    # float32 coordinates, uint64 ids, milliseconds in Stockholm time, NaN (not null) no-fixes
    n = 80
    lon, lat = _scatter(rng, n)
    lon32, lat32 = lon.astype(np.float32), lat.astype(np.float32)
    lon32[:5] = np.nan
    lat32[:5] = np.nan
    _file(
        root / "hand/f32.parquet",
        {
            "id": pa.array(np.arange(1000, 1000 + n, dtype=np.uint64)),
            "lon": pa.array(lon32),
            "lat": pa.array(lat32),
            "accuracy_m": pa.array(acc(n).astype(np.float16)),
            "observed_at": _ts(_times(rng, n, at, stale=not exact), "ms", "Europe/Stockholm"),
        },
    )
    # int32 ids, nulls for no-fix, nanoseconds, upper-case column names, an extra column
    n = 90
    lon, lat = _scatter(rng, n)
    lon_l: list[Any] = lon.tolist()
    lat_l: list[Any] = lat.tolist()
    for i in (3, 4, 50):
        lon_l[i] = lat_l[i] = None
    _file(
        root / "hand/sub/i32.parquet",
        {
            "ID": pa.array(np.arange(2000, 2000 + n, dtype=np.int32)),
            "Lon": pa.array(lon_l, pa.float64()),
            "LAT": pa.array(lat_l, pa.float64()),
            "Accuracy_M": pa.array(acc(n)),
            "Observed_At": _ts(_times(rng, n, at, stale=not exact), "ns"),
            "speed": pa.array(rng.uniform(0, 30, n)),
        },
    )
    # a write_partitioned dataset, int64 ids, fine cells the areas cross
    n = 400
    lon, lat = _scatter(rng, n)
    obs = _times(rng, n, at, stale=not exact)
    positions = Positions(
        np.arange(5000, 5000 + n, dtype=np.int64),
        lon,
        lat,
        accuracy_m=acc(n),
        observed_at=np.array(
            [
                np.datetime64("NaT") if o is None else np.datetime64(o.replace(tzinfo=None), "us")
                for o in obs
            ],
            dtype="datetime64[us]",
        ),
    )
    write_partitioned(positions, root / "cells", cell_deg=0.013)


def _text_dataset(root: Path, at: dt.datetime) -> None:
    """Text ids as string, large_string and dictionary; a file of one row without a fix."""
    rng = np.random.default_rng(12)
    for name, typ in (("s", pa.string()), ("ls", pa.large_string()), ("dict", None)):
        n = 60
        lon, lat = _scatter(rng, n)
        ids = pa.array([f"{name}-{i}" for i in range(n)], pa.string() if typ is None else typ)
        _file(
            root / f"{name}/part.parquet",
            {
                "id": ids.dictionary_encode() if typ is None else ids,
                "lon": lon,
                "lat": lat,
                "accuracy_m": rng.choice([0.0, 30.0, 700.0], n),
                "observed_at": _ts(_times(rng, n, at)),
            },
        )
    _file(
        root / "nofix/part.parquet",
        {
            "id": ["lonely"],
            "lon": pa.array([None], pa.float64()),
            "lat": pa.array([None], pa.float64()),
            "accuracy_m": [10.0],
            "observed_at": _ts([at]),
        },
    )


def _circle_cases() -> list[tuple[float, float, float]]:
    return [
        (CENTRE[0], CENTRE[1], 1500.0),
        (CENTRE[0] + 0.013, CENTRE[1] - 0.006, 700.0),  # across cell corners
        (CENTRE[0] - 0.05, CENTRE[1] + 0.02, 2500.0),
        (CENTRE[0] + 0.2, CENTRE[1], 300.0),  # near nobody
    ]


@pytest.mark.parametrize("cluster", ["client", "threaded"])
@pytest.mark.parametrize("ids", ["int", "text"])
def test_hand_written_partitions_give_the_oracles_circles(
    cluster: str, ids: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    c = request.getfixturevalue(cluster)
    at = T0
    (_int_dataset if ids == "int" else _text_dataset)(tmp_path / "ds", at)
    devices = _read_all(tmp_path / "ds")
    dk = DaskTargeter(_targeter(), PartitionedPositions(tmp_path / "ds"), c)
    reached_somebody = False
    for k, (lon0, lat0, r) in enumerate(_circle_cases()):
        alert = make_alert("explosion", Circle(lon0, lat0, r), ident=f"c{k}")
        got = dk.target(alert, at)
        want = _oracle_circle(devices, lon0, lat0, r, at)
        assert set(got.recipients.tolist()) == want, (k, lon0, lat0, r)
        assert sum(got.counts.values()) == devices["ids"].size
        reached_somebody |= bool(want)
    assert reached_somebody


@pytest.mark.parametrize("cluster", ["client", "threaded"])
def test_polygons_across_cells_give_the_oracles_answer(
    cluster: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Exact fixes; polygons whose edges run along and across cell lines, one with a hole."""
    c = request.getfixturevalue(cluster)
    at = T0
    _int_dataset(tmp_path / "ds", at, exact=True)
    devices = _read_all(tmp_path / "ds")
    dk = DaskTargeter(_targeter(), PartitionedPositions(tmp_path / "ds"), c)
    cell = 0.013
    gx = np.floor((CENTRE[0] + 180.0) / cell) * cell - 180.0
    gy = np.floor((CENTRE[1] + 90.0) / cell) * cell - 90.0
    shapes = [
        sg.Polygon([(gx - 0.02, gy - 0.01), (gx + 0.03, gy - 0.004), (gx + 0.01, gy + 0.02)]),
        sg.box(gx - cell, gy - cell, gx + cell, gy + cell).difference(  # a U on cell lines
            sg.box(gx - cell / 2, gy, gx + cell / 2, gy + 2 * cell)
        ),
        sg.Polygon([(17.9, 59.47), (18.1, 59.47), (18.1, 59.53), (17.9, 59.53)]),
    ]
    for k, shape in enumerate(shapes):
        assert isinstance(shape, sg.Polygon) and not shape.interiors  # (alert areas: no holes)
        area = Polygon(list(shape.exterior.coords))
        got = dk.target(make_alert("explosion", area, ident=f"p{k}"), at)
        want = _oracle_polygon(devices, shape, at)
        assert want and set(got.recipients.tolist()) == want, k


def _killing_plugin(tokens: Path, deaths: int | None, task: str = "geotarget-evaluate") -> Any:
    """A worker plugin: the worker starting a geotarget task (key prefix ``task``) dies.

    By default an evaluation task; the worker ends with ``os._exit``. Each death takes a token
    file (created exclusively), so ``deaths`` workers die in all, whichever they are; the
    others run the task. ``None``: every worker starting one dies, restarted ones too, while
    the plugin is registered (a death at every try, however the tasks were spread).
    """
    from distributed.diagnostics.plugin import WorkerPlugin

    class Kill(WorkerPlugin):  # (local: pickled by value to the worker processes)
        name = f"{task}-kill"

        def transition(self, key: Any, start: str, finish: str, **kw: Any) -> None:
            if finish != "executing" or not str(key).startswith(task):
                return
            for i in itertools.count() if deaths is None else range(deaths):
                try:
                    os.close(os.open(tokens / str(i), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
                except FileExistsError:
                    continue
                os._exit(1)

    return Kill()


@pytest.fixture
def dying(tmp_path: Path) -> Iterator[Any]:
    """A LocalCluster of two worker processes whose scheduler gives up on a task at one death."""
    import dask
    from distributed import Client, LocalCluster

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        )
        c = Client(cluster)
        try:
            yield c
        finally:
            c.close()
            cluster.close()


def test_a_worker_killed_during_the_evaluation(dying: Any, tmp_path: Path) -> None:
    """A worker process dies as it starts evaluating an alert (a real kill, not a cancel).

    Once: the alert is evaluated again and the answer is the oracle's. At every try: a
    ClusterError says the alert was admitted and nothing claimed (never a silent "nobody"),
    and targeting it again once the workers live gives the oracle's answer.
    """
    from geotarget.errors import ClusterError

    at = T0
    _int_dataset(tmp_path / "ds", at)
    devices = _read_all(tmp_path / "ds")
    dk = DaskTargeter(_targeter(), PartitionedPositions(tmp_path / "ds"), dying)
    lon0, lat0, r = _circle_cases()[0]
    want = _oracle_circle(devices, lon0, lat0, r, at)
    assert want

    tokens = tmp_path / "once"
    tokens.mkdir()
    dying.register_plugin(_killing_plugin(tokens, 1))
    try:
        got = dk.target(make_alert("explosion", Circle(lon0, lat0, r), ident="k1"), at)
        assert (tokens / "0").exists()  # a worker did die
        assert set(got.recipients.tolist()) == want

        tokens = tmp_path / "always"
        tokens.mkdir()
        dying.unregister_worker_plugin("geotarget-evaluate-kill")
        dying.wait_for_workers(2, timeout=60)  # (each gets the plugin before it runs a task)
        # Every worker starting an evaluation dies: with two deaths in all, both workers could
        # die at the first try (its tasks spread over both) and the second succeed.
        dying.register_plugin(_killing_plugin(tokens, None))
        alert = make_alert("explosion", Circle(lon0, lat0, r), ident="k2")
        with pytest.raises(ClusterError, match="was admitted, nothing was claimed for it"):
            dk.target(alert, at)
        assert len(list(tokens.iterdir())) >= 2  # a death at each try
        assert dk.targeter.ledger.recipients("polisen@example.se/k2").size == 0
    finally:
        dying.unregister_worker_plugin("geotarget-evaluate-kill")
    dying.wait_for_workers(2, timeout=60)
    assert set(dk.target(alert, at).recipients.tolist()) == want


@pytest.mark.parametrize("leaves", [1, 2])
def test_a_worker_leaving_as_it_is_sent_the_region_set(
    leaves: int, dying: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker leaves the cluster once it was sent the region set (CI, stop 71).

    distributed's scheduler then raised a ``KeyError`` naming the worker from ``scatter``
    (recording where the set is), which reached the caller as it was. The race is made
    certain here on the real scheduler: its ``scatter_to_workers`` sends the set, then
    removes the worker it sent it to. Once: the alert is evaluated again and the answer is
    the oracle's. At each try (``leaves=2``): a ClusterError says the alert was admitted
    and nothing claimed.
    """
    import distributed.scheduler

    from geotarget.errors import ClusterError

    at = T0
    _int_dataset(tmp_path / "ds", at)
    devices = _read_all(tmp_path / "ds")
    lon0, lat0, r = _circle_cases()[0]
    want = _oracle_circle(devices, lon0, lat0, r, at)
    assert want
    scheduler = dying.cluster.scheduler
    send: Any = getattr(distributed.scheduler, "scatter_to_workers")  # noqa: B009 (not exported)
    left: list[str] = []

    async def leaving(workers: Any, data: Any, **kw: Any) -> Any:
        sent = await send(workers, data, **kw)
        if len(left) < leaves:
            left.extend(w for who in sent[1].values() for w in who)
            await scheduler.remove_worker(left[-1], stimulus_id="test-worker-left")
        return sent

    monkeypatch.setattr(distributed.scheduler, "scatter_to_workers", leaving)
    dk = DaskTargeter(_targeter(), PartitionedPositions(tmp_path / "ds"), dying)
    alert = make_alert("explosion", Circle(lon0, lat0, r), ident="left")
    if leaves == 1:
        assert set(dk.target(alert, at).recipients.tolist()) == want
    else:
        with pytest.raises(ClusterError, match="was admitted, nothing was claimed for it") as err:
            dk.target(alert, at)
        assert f"worker '{left[-1]}' left as it was sent the set" in str(err.value)
        assert dk.targeter.ledger.recipients("polisen@example.se/left").size == 0
    assert len(left) == leaves  # the race did happen
    monkeypatch.undo()
    if leaves == 1:  # (a worker removed is not restarted: the other answers)
        again = make_alert("explosion", Circle(lon0, lat0, r), ident="again")
        assert set(dk.target(again, at).recipients.tolist()) == want


def test_an_alert_the_intake_refuses_reads_no_partition(client: Any, tmp_path: Path) -> None:
    """A sender of no issuer, an issuer not authorised for the kind or the place: the verdict.

    The Targeter refuses these before its ledger and its devices. On the cluster they must
    read nothing either: no index is built for them (an unknown sender would otherwise make
    the workers read the dataset), and a bad partition beside them does not turn the verdict
    into its error.
    """
    from geotarget import PositionIndex
    from geotarget.issuers import Issuer, Issuers
    from geotarget.targeting import Verdict

    at = T0
    _int_dataset(tmp_path / "ds", at)
    _file(
        tmp_path / "ds/hand/bad.parquet",
        {"id": [9], "lon": [18.0], "lat": [99.0], "accuracy_m": [1.0], "observed_at": _ts([at])},
    )
    start = T0 - dt.timedelta(days=1)
    issuers = Issuers(
        [
            Issuer(
                name="west", senders=["polisen@example.se"], kinds=["explosion"], regions=["01"]
            ),
            Issuer(name="tips", senders=["tips@example.se"], kinds=["tip_request"], regions=["XX"]),
        ]
    )
    rules = {**_rules(), "tip_request": _rules()["explosion"]}

    def targeter() -> Targeter:
        return Targeter(
            make_regions(),
            policy({"explosion": [(start, ("XX",))]}),
            location_rules=rules,
            issuers=issuers,
        )

    dk = DaskTargeter(targeter(), PartitionedPositions(tmp_path / "ds"), client)
    memory = targeter()
    nobody = PositionIndex(Positions([1], [18.0], [59.5], observed_at=at))
    east = Circle(18.3, 59.5, 1000.0)  # in county 02: outside issuer west's regions
    here = make_alert("explosion", Circle(*CENTRE, 1000.0), ident="u1")
    cases = [
        (attrs.evolve(here, sender="someone@example.se"), Verdict.UNKNOWN_ISSUER),
        (make_alert("explosion", east, ident="u2"), Verdict.NOT_AUTHORISED),  # the place
        (attrs.evolve(here, sender="tips@example.se"), Verdict.NOT_AUTHORISED),  # the kind
    ]
    for alert, verdict in cases:
        want = memory.target(alert, nobody, at)
        assert want.verdict is verdict
        got = dk.target(alert, at)
        assert (got.verdict, got.reason) == (want.verdict, want.reason)
    assert dk.resident()["partitions"] == 0.0


def test_hostile_arguments_are_named_with_the_way_in(client: Any, tmp_path: Path) -> None:
    """What a user holding Dask collections passes: refused, naming the field and the way in.

    A ``recheck_s`` that numpy gives (read from a config array) is a number of seconds.
    """
    import importlib

    da: Any = importlib.import_module("dask.array")
    db: Any = importlib.import_module("dask.bag")
    dd: Any = importlib.import_module("dask.dataframe")
    pd: Any = importlib.import_module("pandas")
    from geotarget.errors import InvalidInput, InvalidType

    root = tmp_path / "ds"
    write_partitioned(Positions(["a"], [18.0], [59.5], observed_at=T0), root)
    frame = pd.DataFrame({"id": ["a"], "lon": [18.0], "lat": [59.5]})
    for bad in (dd.from_pandas(frame, npartitions=1), da.zeros(3), db.from_sequence([1]), frame):
        with pytest.raises(InvalidType, match=r"dataset must be PartitionedPositions \(got "):
            DaskTargeter(_targeter(), bad, client)
    paths: list[Any] = [str(root), root]
    for bad in paths:
        with pytest.raises(InvalidType, match=r"open its directory with PartitionedPositions"):
            DaskTargeter(_targeter(), bad, client)
    with pytest.raises(InvalidType, match=r"to_parquet\(path\) first"):
        DaskTargeter(_targeter(), dd.from_pandas(frame, npartitions=1), client)
    with pytest.raises(InvalidType, match=r"client must be a distributed.Client"):
        DaskTargeter(_targeter(), PartitionedPositions(root), client.cluster)
    for seconds in (np.int64(2), np.float32(0.5), np.uint8(0)):
        assert PartitionedPositions(root, recheck_s=seconds).recheck_s == float(seconds)
    refused: list[Any] = [np.bool_(True), np.float64("nan"), np.int64(-1), "1"]
    for bad in refused:
        with pytest.raises(InvalidInput, match="recheck_s must be a number of seconds >= 0"):
            PartitionedPositions(root, recheck_s=bad)
    # windows as shapely gives them (an array per geometry, a table per array of them)
    ds = PartitionedPositions(root)
    near, far = shapely.box(17.9, 59.4, 18.1, 59.6), shapely.box(10.0, 50.0, 11.0, 51.0)
    for windows in ([shapely.bounds(near)], shapely.bounds([far, near])):
        assert ds.near(windows, 1.0, 0.0).tolist() == ds.near([near.bounds], 1.0, 0.0).tolist()
    assert ds.near(shapely.bounds([far]), 1.0, 0.0).tolist() == [False]
    with pytest.raises(InvalidType, match=r"or an array of shape \(n, 4\) \(got ndarray of shape"):
        ds.near(shapely.bounds(near), 1.0, 0.0)  # one box, not a list of them
    # cell_deg as numpy gives it: the same files as its float
    cells = [p.path.relative_to(root) for p in PartitionedPositions(root).partitions]
    for k, size in enumerate([np.float32(0.5), np.int64(1), np.float16(0.25)]):
        again = write_partitioned(
            Positions(["a"], [18.0], [59.5], observed_at=T0), tmp_path / f"n{k}", cell_deg=size
        )
        redone = write_partitioned(
            Positions(["a"], [18.0], [59.5], observed_at=T0),
            tmp_path / f"f{k}",
            cell_deg=float(size),
        )
        assert [p.path.relative_to(again.root) for p in again.partitions] == [
            p.path.relative_to(redone.root) for p in redone.partitions
        ]
    assert cells  # (the default cell size's layout, for comparison's sake)
    flag: Any = np.bool_(1)
    with pytest.raises(InvalidInput, match="cell_deg must be a number > 0 and <= 90"):
        write_partitioned(
            Positions(["a"], [18.0], [59.5], observed_at=T0), tmp_path / "b", cell_deg=flag
        )


def test_testers_and_devices_without_a_fix_as_the_oracle_says(client: Any, tmp_path: Path) -> None:
    """An Exercise of a kind that tells devices without a fix, tester columns of three types.

    The oracle: the testers among the devices the circle reaches and the devices without a
    fix anywhere (``include_no_fix``: told wherever the area is); a tester column is
    booleans with nulls (null: not a tester), integers 1/0, or ``"true"``/``"false"``.
    """
    from geotarget.alerts import Status

    at = T0
    rng = np.random.default_rng(5)
    root = tmp_path / "ds"
    for k, typ in enumerate(("bool", "int8", "text")):
        n = 70
        lon, lat = _scatter(rng, n)
        lon_l: list[Any] = lon.tolist()
        lat_l: list[Any] = lat.tolist()
        for i in rng.choice(n, 6, replace=False):
            lon_l[int(i)] = lat_l[int(i)] = None
        flags = rng.random(n) < 0.4
        column: Any
        if typ == "bool":
            nulls = rng.random(n) < 0.2
            column = pa.array([None if u else bool(f) for f, u in zip(flags, nulls, strict=True)])
        elif typ == "int8":
            column = pa.array(flags.astype(np.int8))
        else:
            column = pa.array(["true" if f else "false" for f in flags])
        _file(
            root / f"t{k}/part.parquet",
            {
                "id": [f"{typ}-{i}" for i in range(n)],
                "lon": pa.array(lon_l, pa.float64()),
                "lat": pa.array(lat_l, pa.float64()),
                "accuracy_m": rng.choice([0.0, 25.0], n),
                "observed_at": _ts(_times(rng, n, at)),
                "tester": column,
            },
        )
    # and cells written by write_partitioned, their devices without a fix in cell=nofix
    n = 120
    lon, lat = _scatter(rng, n)
    lon[:10] = lat[:10] = np.nan
    flags = rng.random(n) < 0.4
    write_partitioned(
        Positions(
            [f"w-{i}" for i in range(n)],
            lon,
            lat,
            accuracy_m=np.full(n, 12.0),
            observed_at=at - dt.timedelta(minutes=5),
            tester=flags,
        ),
        root / "cells",
        cell_deg=0.02,
    )
    devices = _read_all(root)
    tester = dict(zip(devices["ids"].tolist(), devices["tester"].tolist(), strict=True))
    assert 0 < sum(tester.values()) < len(tester)
    told = dict(_rules())
    told["explosion"] = attrs.evolve(told["explosion"], include_no_fix=True)
    start = T0 - dt.timedelta(days=1)
    targeter = Targeter(
        make_regions(), policy({"explosion": [(start, ("XX",))]}), location_rules=told
    )
    dk = DaskTargeter(targeter, PartitionedPositions(root), client)
    no_fix = set(devices["ids"][np.isnan(devices["lon"])].tolist())
    for k, (lon0, lat0, r) in enumerate(_circle_cases()):
        alert = make_alert(
            "explosion", Circle(lon0, lat0, r), ident=f"x{k}", status=Status.EXERCISE
        )
        got = set(dk.target(alert, at).recipients.tolist())
        reached = _oracle_circle(devices, lon0, lat0, r, at) | no_fix
        assert got == {d for d in reached if tester[d]}, k


def test_an_asynchronous_client_is_called_from_another_thread(tmp_path: Path) -> None:
    """An asyncio service's client (``asynchronous=True``), as a user of one writes it.

    Called from its own event loop, every call is refused naming the client and the way
    (it crashed with "'coroutine' object is not iterable" after building indexes); from
    ``asyncio.to_thread`` the same objects answer as the oracle says.
    """
    import asyncio

    from distributed import Client, LocalCluster

    from geotarget.errors import InvalidType

    at = T0
    _int_dataset(tmp_path / "ds", at)
    devices = _read_all(tmp_path / "ds")
    lon0, lat0, r = _circle_cases()[0]
    alert = make_alert("explosion", Circle(lon0, lat0, r), ident="async")
    batch = Positions([424242], [lon0], [lat0], observed_at=at)

    async def service() -> set[Any]:
        async with (
            LocalCluster(
                n_workers=1, processes=False, asynchronous=True, dashboard_address=":0"
            ) as cluster,
            Client(cluster, asynchronous=True) as c,
        ):
            dk = DaskTargeter(_targeter(), PartitionedPositions(tmp_path / "ds"), c)
            calls = [
                lambda: dk.target(alert, at),
                lambda: dk.on_positions(batch, at),
                lambda: dk.retarget(at),
                dk.warm,
                dk.resident,
            ]
            for call in calls:
                with pytest.raises(InvalidType, match=r"asyncio.to_thread"):
                    call()
            got = await asyncio.to_thread(dk.target, alert, at)
            streamed = await asyncio.to_thread(dk.on_positions, batch, at)
            assert [d.device_id for d in streamed] == [424242]
            return set(got.recipients.tolist())

    assert asyncio.run(service()) == _oracle_circle(devices, lon0, lat0, r, at)


#: The sizes of the id arrays each merge of the id comparison received (in-process workers).
MERGED: list[list[int]] = []


def _recording_shared_ids(*ids: Any) -> Any:
    """``geotarget.dask._shared_ids``, recording what it received (pickled by reference)."""
    from geotarget import dask as gd

    MERGED.append([int(a.size) for a in ids])
    return gd._REAL_SHARED_IDS(*ids)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("cluster", "ids"), [("threaded", "int"), ("threaded", "text"), ("client", "text")]
)
def test_ids_compared_by_ranges_no_merge_receives_every_id(
    cluster: str,
    ids: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first alert over many partitions compares their ids without one worker taking all.

    With a small merge bound, every merge of the comparison receives at most about the bound
    (never every id of the partitions read), and a shared id is still found wherever it falls
    in the ids' order: the error names the smallest shared id, the count of shared ids and
    both files, as a plain Python comparison of the files' ids says. (What each merge
    received is recorded by in-process workers; worker processes are asked the rest.)
    """
    from geotarget import dask as gd

    c = request.getfixturevalue(cluster)
    recorded = cluster == "threaded"
    if recorded:
        monkeypatch.setattr(gd, "_REAL_SHARED_IDS", gd._shared_ids, raising=False)
        monkeypatch.setattr(gd, "_shared_ids", _recording_shared_ids)
    monkeypatch.setattr(gd, "_MERGE_IDS", 200)  # (read by the client only)
    at = T0
    rng = np.random.default_rng(21)
    root = tmp_path / "ds"
    n, files = 150, 8
    pool = rng.permutation(10 * n * files)
    per_file = [pool[k * n : (k + 1) * n] for k in range(files)]

    def write(k: int, values: np.ndarray) -> None:
        lon, lat = _scatter(rng, values.size)
        id_col = [f"id-{v:07d}" for v in values] if ids == "text" else values.astype(np.int64)
        _file(
            root / f"f{k}/part.parquet",
            {
                "id": id_col,
                "lon": lon,
                "lat": lat,
                "accuracy_m": np.zeros(values.size),
                "observed_at": _ts([at] * values.size),
            },
        )

    for k, values in enumerate(per_file):
        write(k, values)
    alert = make_alert("explosion", Circle(*CENTRE, 900.0), ident="r0")
    dk = DaskTargeter(_targeter(), PartitionedPositions(root, recheck_s=0), c)
    MERGED.clear()
    assert dk.target(alert, at).verdict.name == "DELIVER"
    total = n * files
    if recorded:
        assert len(MERGED) >= total // 200  # by ranges
        assert max(sum(sizes) for sizes in MERGED) <= 2 * 200 < total
        assert sum(sum(sizes) for sizes in MERGED) == total  # each id in one range

    # Copies of ids of other files: the largest, one in the middle and the smallest of all.
    every = np.sort(np.concatenate(per_file))
    for step, copied in enumerate([every[-1], every[every.size // 2], every[0]]):
        owner = next(k for k, v in enumerate(per_file) if copied in v)
        target = (owner + 3) % files
        per_file[target] = np.append(per_file[target][1:], copied)
        write(target, per_file[target])
        sets = [set(v.tolist()) for v in per_file]
        shared = sorted({v for a in range(files) for b in range(a) for v in sets[a] & sets[b]})
        smallest = shared[0]
        holders = [f"f{k}/part.parquet" for k in range(files) if smallest in sets[k]]
        shown_id = repr(f"id-{smallest:07d}") if ids == "text" else str(smallest)
        with pytest.raises(InvalidPositions) as caught:
            dk.target(make_alert("explosion", Circle(*CENTRE, 900.0), ident=f"r{step + 1}"), at)
        text = str(caught.value)
        assert f"{shown_id} is in {holders[0]} and {holders[1]}" in text
        assert f"({len(shared):,} id(s) in more than one" in text


def test_ids_clustered_per_partition_are_cut_as_finely(
    threaded: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ids handed out per region (each file a block of them), one file far larger than the rest.

    The ranges' bounds follow every partition's share of the ids, so the large file's block
    is cut like the others and no merge receives much more than the bound.
    """
    from geotarget import dask as gd

    monkeypatch.setattr(gd, "_REAL_SHARED_IDS", gd._shared_ids, raising=False)
    monkeypatch.setattr(gd, "_shared_ids", _recording_shared_ids)
    monkeypatch.setattr(gd, "_MERGE_IDS", 200)
    at = T0
    rng = np.random.default_rng(8)
    sizes = [600] + [30] * 20
    start = 0
    for k, n in enumerate(sizes):
        lon, lat = _scatter(rng, n)
        _file(
            tmp_path / f"ds/f{k:02d}/part.parquet",
            {
                "id": np.arange(start, start + n, dtype=np.int64),
                "lon": lon,
                "lat": lat,
                "accuracy_m": np.zeros(n),
                "observed_at": _ts([at] * n),
            },
        )
        start += n + 1000
    dk = DaskTargeter(_targeter(), PartitionedPositions(tmp_path / "ds"), threaded)
    MERGED.clear()
    dk.target(make_alert("explosion", Circle(*CENTRE, 900.0), ident="blocks"), at)
    assert sum(sum(m) for m in MERGED) == sum(sizes)
    assert max(sum(m) for m in MERGED) <= 2 * 200


def test_info_blocks_that_begin_and_end_at_different_times(client: Any, tmp_path: Path) -> None:
    """West's block runs from the onset for two hours, east's from one hour to four.

    Targeted again as each block begins or ends, the alert tells, once, the devices the
    blocks in effect reach, as the oracle says (the devices told before are not told again).
    """
    from geotarget.alerts import AlertArea

    at0 = T0
    rng = np.random.default_rng(17)
    n = 300
    lon, lat = _scatter(rng, n)
    write_partitioned(
        Positions(
            [f"d{i}" for i in range(n)],
            lon,
            lat,
            accuracy_m=rng.choice([0.0, 30.0], n),
            observed_at=at0 + dt.timedelta(hours=2),  # fresh at every time below
        ),
        tmp_path / "ds",
        cell_deg=0.02,
    )
    devices = _read_all(tmp_path / "ds")
    west, east = (17.98, 59.5, 1500.0), (18.02, 59.5, 1500.0)
    base = make_alert("explosion", Circle(*west), ident="blocks", hours=4.0)
    sv, en = base.infos
    alert = attrs.evolve(
        base,
        infos=[
            attrs.evolve(sv, expires=at0 + dt.timedelta(hours=2)),
            attrs.evolve(
                en,
                onset=at0 + dt.timedelta(hours=1),
                areas=[AlertArea.from_area("east", Circle(*east))],
            ),
        ],
    )
    dk = DaskTargeter(_targeter(), PartitionedPositions(tmp_path / "ds"), client)
    told: set[Any] = set()
    for hours, circles in ((0.5, [west]), (1.5, [west, east]), (2.5, [east])):
        at = at0 + dt.timedelta(hours=hours)
        reached = set().union(*(_oracle_circle(devices, *c, at) for c in circles))
        got = set(dk.target(alert, at).recipients.tolist())
        assert got == reached - told, hours
        told |= got
    assert told == _oracle_circle(devices, *west, at0) | _oracle_circle(devices, *east, at0)


def test_a_writers_refresh_during_an_alert_does_not_shift_its_partitions(
    threaded: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer adds a partition and calls ``refresh()`` (as documented) while an alert prunes.

    The new partition's path sorts before the others, so every file moves one place in the
    listing. The alert picked its partitions by their places in the listing it pruned: read
    from the listing the writer's thread had just replaced, they were the wrong files, and
    the alert silently reached fewer devices than the oracle (or failed with a KeyError). It
    now prunes and picks from one listing; the writer's refresh waits for it.
    """
    import shutil
    import threading

    at = T0
    rng = np.random.default_rng(4)
    n = 400
    lon, lat = _scatter(rng, n)
    root = tmp_path / "ds"
    write_partitioned(
        Positions([f"d{i}" for i in range(n)], lon, lat, observed_at=at), root, cell_deg=0.02
    )
    devices = _read_all(root)
    far = write_partitioned(
        Positions(["far"], [17.2], [59.1], observed_at=at), tmp_path / "far", cell_deg=0.02
    ).partitions[0]
    ds = PartitionedPositions(root, recheck_s=None)  # the writer says when: refresh()
    dk = DaskTargeter(_targeter(), ds, threaded)
    real_near = ds.near
    writers: list[threading.Thread] = []

    def write() -> None:  # a writer adds a partition, atomically, and refreshes the dataset
        (root / "a").mkdir()
        shutil.copy(far.path, root / "a" / ".part-0.parquet")
        os.replace(root / "a" / ".part-0.parquet", root / "a" / "part-0.parquet")
        ds.refresh()

    def near(*args: Any, **kw: Any) -> Any:
        out = real_near(*args, **kw)
        if not writers:  # the writer's thread, at this moment (given the time to finish)
            writers.append(threading.Thread(target=write))
            writers[0].start()
            writers[0].join(timeout=0.5)
        return out

    monkeypatch.setattr(ds, "near", near)
    lon0, lat0, r = CENTRE[0], CENTRE[1], 1500.0
    got = dk.target(make_alert("explosion", Circle(lon0, lat0, r), ident="w"), at)
    writers[0].join()
    assert len(ds.partitions) == len(PartitionedPositions(tmp_path / "ds").partitions)
    assert set(got.recipients.tolist()) == _oracle_circle(devices, lon0, lat0, r, at)
