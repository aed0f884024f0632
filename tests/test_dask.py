"""The Dask path gives the in-memory Targeter's answers: properties on a LocalCluster of processes.

One module-scoped ``LocalCluster`` (two worker processes, one thread each). Without it (or without
the ``dask`` extra) the tests fail when ``CI=true`` and skip locally. The property draws 25
scenarios (``GEOTARGET_DASK_EXAMPLES`` sets another number, e.g. fewer for a quick run).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from targeting_helpers import T0, assert_same_result, make_alert, make_regions, ref

from geotarget import Circle, Polygon, PositionIndex, Positions
from geotarget.alerts import MessageType, Status
from geotarget.rollout import KindRollout, Phase, RolloutPolicy
from geotarget.targeting import Targeter, TargetingResult

if os.environ.get("CI") != "true":  # in CI a missing extra fails at the import below
    pytest.importorskip("distributed", reason="the dask extra is not installed")
    pytest.importorskip("pyarrow", reason="the dask extra is not installed")
import distributed  # noqa: F401

from geotarget.dask import DaskTargeter, PartitionedPositions, write_partitioned

CELLS = (0.01, 0.03, 0.1, 1.0)


def _policy(tip_percentage: float = 100.0) -> RolloutPolicy:
    """Explosions everywhere; tip requests in two municipalities, to a canary share of devices."""
    start = T0 - dt.timedelta(days=1)
    return RolloutPolicy(
        rollouts=[
            KindRollout(kind="explosion", phases=[Phase(starts_at=start, regions=("XX",))]),
            KindRollout(
                kind="tip_request",
                phases=[
                    Phase(starts_at=start, regions=("0102", "0201"), percentage=tip_percentage)
                ],
            ),
        ],
        country="XX",
    )


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    """Devices around (18.0, 59.5): random, on cell edges, in a crowd, without a fix, stale."""
    cell = draw(st.sampled_from(CELLS))
    n = draw(st.integers(0, 60))
    lon = list(draw(st.lists(st.floats(17.96, 18.04), min_size=n, max_size=n)))
    lat = list(draw(st.lists(st.floats(59.48, 59.52), min_size=n, max_size=n)))
    for k in range(draw(st.integers(0, 8))):  # on the grid lines of the partitioning
        gx = np.floor((18.0 + 180.0) / cell) * cell - 180.0
        gy = np.floor((59.5 + 90.0) / cell) * cell - 90.0
        lon.append(float(gx + draw(st.integers(-1, 1)) * cell * (k % 2)))
        lat.append(float(gy + draw(st.integers(-1, 1)) * cell * ((k + 1) % 2)))
    m = len(lon)
    no_fix = draw(st.lists(st.booleans(), min_size=m, max_size=m))
    lon_a = np.where(no_fix, np.nan, np.array(lon, dtype=float))
    lat_a = np.where(no_fix, np.nan, np.array(lat, dtype=float))
    acc = np.array(draw(st.lists(st.sampled_from([0.0, 15.0, 300.0]), min_size=m, max_size=m)))
    age_h = draw(st.lists(st.sampled_from([0.0, 0.5, 3.0, 30.0, -1.0]), min_size=m, max_size=m))
    obs = np.array(
        [
            np.datetime64("NaT")
            if a < 0
            else np.datetime64(T0.replace(tzinfo=None), "us")
            - np.timedelta64(int(a * 3600e6), "us")
            for a in age_h
        ],
        dtype="datetime64[us]",
    )
    tester = np.array(draw(st.lists(st.booleans(), min_size=m, max_size=m)), dtype=bool)
    if draw(st.booleans()):  # a fresh crowd in one cell and municipality: decided by its box
        k = draw(st.integers(64, 80))
        lon_a = np.concatenate(
            [lon_a, draw(st.lists(st.floats(18.02, 18.025), min_size=k, max_size=k))]
        )
        lat_a = np.concatenate(
            [lat_a, draw(st.lists(st.floats(59.505, 59.508), min_size=k, max_size=k))]
        )
        acc = np.concatenate([acc, np.zeros(k)])
        obs = np.concatenate([obs, np.full(k, np.datetime64(T0.replace(tzinfo=None), "us"))])
        tester = np.concatenate([tester, np.ones(k, dtype=bool)])
        m += k
    positions = Positions(
        [f"d{i}" for i in range(m)], lon_a, lat_a, accuracy_m=acc, observed_at=obs, tester=tester
    )
    r1 = draw(st.sampled_from([100.0, 800.0, 2500.0]))
    box = draw(st.sampled_from([(17.97, 59.49, 18.01, 59.51), (17.99, 59.495, 18.03, 59.52)]))
    return {
        "positions": positions,
        "cell": cell,
        "r1": r1,
        "box": box,
        "tip_percentage": draw(st.sampled_from([100.0, 50.0, 0.01])),
        "status": draw(st.sampled_from([Status.ACTUAL, Status.EXERCISE])),
    }


# The client's background threads draw from the global ``random`` (retry jitter) while Hypothesis
# generates an example; the strategy itself uses only Hypothesis' draws.
@pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies")
@settings(max_examples=int(os.environ.get("GEOTARGET_DASK_EXAMPLES", "25")), deadline=None)
@given(scenarios())
def test_dask_targeter_equals_in_memory_targeter(client: Any, s: dict[str, Any]) -> None:
    """An alert, its Update, a tip request and a streamed batch: the same answers on the cluster.

    Exercise alerts reach testers only; tip requests reach a canary share of the devices.
    """
    positions: Positions = s["positions"]
    root = Path(tempfile.mkdtemp(prefix="geotarget-dask-"))
    try:
        write_partitioned(positions, root / "ds", cell_deg=s["cell"])
        regions = make_regions()
        memory = Targeter(regions, _policy(s["tip_percentage"]))
        distributed = DaskTargeter(
            Targeter(regions, _policy(s["tip_percentage"])),
            PartitionedPositions(root / "ds"),
            client,
        )
        index = PositionIndex(positions)
        first = make_alert("explosion", Circle(18.0, 59.5, s["r1"]), ident="e1", status=s["status"])
        update = make_alert(
            "explosion",
            Circle(18.005, 59.501, 600.0),
            ident="e2",
            sent=T0 + dt.timedelta(minutes=1),
            msg_type=MessageType.UPDATE,
            refs=(ref(first),),
            status=s["status"],
        )
        w, so, e, n = s["box"]
        tip = make_alert(
            "tip_request",
            Polygon([(w, so), (e, so), (e, n), (w, n), (w, so)]),
            ident="t1",
        )
        at = T0 + dt.timedelta(minutes=2)
        for alert in (first, update, tip):
            assert_same_result(memory.target(alert, index, at), distributed.target(alert, at))
        read = distributed.last_stats
        assert read["partitions_read"] <= read["partitions"]
        batch = Positions(
            ["d0", "new1", "new2", "new3", "new4"],
            [18.0001, 18.004, 17.5, np.nan, 18.0052],
            [59.5001, 59.5009, 59.5, np.nan, 59.5011],
            accuracy_m=[5.0, 50.0, 0.0, np.nan, 20.0],
            observed_at=[at, at, at, at, at - dt.timedelta(hours=3)],
        )
        got = distributed.on_positions(batch, at)
        want = memory.on_positions(batch, at)
        assert sorted(map(repr, got)) == sorted(map(repr, want))
        for key in ("polisen@example.se/e1", "polisen@example.se/t1"):
            assert sorted(memory.ledger.recipients(key).tolist()) == sorted(
                distributed.targeter.ledger.recipients(key).tolist()
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_far_partitions_are_not_read_and_changed_files_are_rebuilt(client: Any) -> None:
    """A 1 km alert reads only its cells; a rewritten partition is read again, not the old index."""
    lon = np.concatenate([np.linspace(17.1, 18.9, 200), [18.0]])
    lat = np.concatenate([np.full(200, 59.2), [59.5]])
    positions = Positions([f"d{i}" for i in range(lon.size)], lon, lat, observed_at=T0)
    root = Path(tempfile.mkdtemp(prefix="geotarget-dask-"))
    try:
        ds = write_partitioned(positions, root / "ds", cell_deg=0.05)
        dt_ = DaskTargeter(Targeter(make_regions(), _policy()), ds, client)
        alert = make_alert("explosion", Circle(18.0, 59.5, 1000.0), ident="e1")
        result = dt_.target(alert, T0)
        assert result.recipients.tolist() == ["d200"]
        assert 0 < dt_.last_stats["partitions_read"] <= 4 < dt_.last_stats["partitions"]
        assert dt_.resident()["partitions"] == dt_.last_stats["partitions_read"]
        # Rewrite the alert's partition with a second device; the next alert sees it.
        part = next(
            p
            for p in ds.partitions
            if p.meta
            and p.meta.bounds
            and p.meta.bounds[0] <= 18.0 <= p.meta.bounds[2]
            and p.meta.bounds[1] <= 59.5 <= p.meta.bounds[3]
        )
        from geotarget._positions_arrow import write_partitioned as raw_write

        moved = Positions(["d200", "x1"], [18.0, 18.001], [59.5, 59.5], observed_at=T0)
        raw_write(moved, root / "tmp", cell_deg=0.05)
        new_file = next((root / "tmp").rglob("*.parquet"))
        os.replace(new_file, part.path)
        second = make_alert("explosion", Circle(18.0, 59.5, 1000.0), ident="e2")
        assert dt_.target(second, T0).recipients.tolist() in (["d200", "x1"], ["x1", "d200"])
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _dataset_positions(root: Path) -> Positions:
    """Every device of a dataset, read file by file (the in-memory Targeter's input)."""
    import pyarrow.parquet as pq

    tables = [pq.read_table(f) for f in sorted(root.rglob("*.parquet"))]
    cols = {c: np.concatenate([t[c].to_numpy() for t in tables]) for c in ("id", "lon", "lat")}
    return Positions(
        cols["id"].astype(str),
        cols["lon"],
        cols["lat"],
        accuracy_m=np.concatenate([t["accuracy_m"].to_numpy() for t in tables]),
        observed_at=T0,
    )


def _rewrite(root: Path, path: Path, positions: Positions) -> None:
    """Replace one partition file by a file holding ``positions`` (same cell)."""
    from geotarget._positions_arrow import write_partitioned as raw_write

    tmp = root / f"tmp-{path.parent.name}"
    raw_write(positions, tmp, cell_deg=0.05)
    os.replace(next(tmp.rglob("*.parquet")), path)
    shutil.rmtree(tmp)


def test_files_an_alert_skips_are_checked_every_recheck_s_and_on_refresh(client: Any) -> None:
    """An alert stats the files it reads; the others per ``recheck_s`` (None: on refresh only).

    A far partition rewritten with a device whose accuracy disk now reaches the alert area is
    seen by the next alert when ``recheck_s=0``, and only after ``refresh()`` when None; a
    removed partition that an alert reads is dropped (its index released).
    """
    lon = np.concatenate([np.linspace(17.1, 18.9, 40), [18.0]])
    lat = np.concatenate([np.full(40, 59.2), [59.5]])
    positions = Positions([f"d{i}" for i in range(lon.size)], lon, lat, observed_at=T0)
    root = Path(tempfile.mkdtemp(prefix="geotarget-dask-"))
    try:
        write_partitioned(positions, root / "ds", cell_deg=0.05)
        ds = PartitionedPositions(root / "ds", recheck_s=None)
        dt_ = DaskTargeter(Targeter(make_regions(), _policy()), ds, client)
        memory = Targeter(make_regions(), _policy())
        area = Circle(18.0, 59.5, 1000.0)
        counter = iter(range(100))

        def both() -> tuple[TargetingResult, TargetingResult]:
            alert = make_alert("explosion", area, ident=f"e{next(counter)}")
            now = PositionIndex(_dataset_positions(root / "ds"))
            return dt_.target(alert, T0), memory.target(alert, now, T0)

        got, want = both()
        assert_same_result(got, want)
        read_before = dt_.last_stats["partitions_read"]

        def far_file(lon0: float) -> Path:
            return next(
                p.path
                for p in ds.partitions
                if p.meta and p.meta.bounds and abs(p.meta.bounds[0] - lon0) < 0.02
            )

        # A device 61 km away whose accuracy disk (80 km) now covers the area: not OUTSIDE_AREA.
        far1 = far_file(17.1)
        _rewrite(root, far1, Positions(["w1"], [17.1], [59.2], accuracy_m=[80e3], observed_at=T0))
        got, want = both()  # recheck_s=None: the skipped file is not stat-ed
        assert dt_.last_stats["partitions_read"] == read_before
        assert got.counts != want.counts
        ds.refresh()
        got, want = both()
        assert_same_result(got, want)
        assert dt_.last_stats["partitions_read"] == read_before + 1

        ds.recheck_s = 0.0  # every file stat-ed before every alert
        far2 = far_file(18.9)
        _rewrite(root, far2, Positions(["w2"], [18.9], [59.2], accuracy_m=[80e3], observed_at=T0))
        got, want = both()
        assert_same_result(got, want)
        assert dt_.last_stats["partitions_read"] == read_before + 2

        # The alert's own partition removed: it is dropped, its index released.
        ds.recheck_s = None
        (own,) = [
            p.path for p in ds.partitions if p.meta and p.meta.bounds and p.meta.bounds[1] > 59.4
        ]
        resident = dt_.resident()["partitions"]
        os.remove(own)
        got, want = both()
        assert_same_result(got, want)
        assert "d40" not in got.recipients.tolist()
        assert dt_.resident()["partitions"] == resident - 1
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_recheck_s_must_be_seconds(tmp_path: Path) -> None:
    """A negative, non-numeric or NaN ``recheck_s`` is refused, naming the field."""
    from geotarget.errors import InvalidInput

    write_partitioned(Positions(["a"], [18.0], [59.5], observed_at=T0), tmp_path / "ds")
    for bad in (-1.0, float("nan"), "1", True):
        with pytest.raises(InvalidInput, match="recheck_s must be"):
            PartitionedPositions(tmp_path / "ds", recheck_s=bad)  # type: ignore[arg-type]


def test_a_bad_partition_fails_with_its_file_named_and_nothing_claimed(client: Any) -> None:
    """A partition with an out-of-range latitude is InvalidPositions naming it; no claim is made."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from geotarget.errors import InvalidInput, InvalidPositions

    root = Path(tempfile.mkdtemp(prefix="geotarget-dask-"))
    try:
        (root / "cell=x").mkdir()
        table = pa.table(
            {
                "id": ["a", "b"],
                "lon": [18.0, 18.0],
                "lat": [59.5, 95.0],
                "accuracy_m": [0.0, 0.0],
                "observed_at": pa.array([T0, T0], pa.timestamp("us", tz="UTC")),
            }
        )
        pq.write_table(table, root / "cell=x" / "part-0.parquet")
        targeter = Targeter(make_regions(), _policy())
        dt_ = DaskTargeter(targeter, PartitionedPositions(root), client)
        alert = make_alert("explosion", Circle(18.0, 59.5, 1000.0), ident="e1")
        with pytest.raises(InvalidPositions, match=r"cell=x/part-0\.parquet: row 2, column lat"):
            dt_.target(alert, T0)
        assert targeter.ledger.recipients("polisen@example.se/e1").size == 0
        assert targeter.ledger.incident("polisen@example.se/e1") is None  # not even admitted
        # Alerts the Targeter stops before its devices read no partition: their verdicts, as in
        # memory (over the file's readable row), not the bad file's error.
        good = PositionIndex(Positions(["a"], [18.0], [59.5], observed_at=T0))
        memory = Targeter(make_regions(), _policy())
        for blocked in (
            make_alert("tip_request", Circle(18.7, 59.5, 1000.0), ident="t1"),  # outside rollout
            make_alert("explosion", Circle(18.0, 59.5, 1000.0), ident="old", hours=0.5),
        ):
            at = T0 + dt.timedelta(hours=1)
            assert_same_result(dt_.target(blocked, at), memory.target(blocked, good, at))
        assert dt_.resident()["partitions"] == 0
        # Fixed, beside a partition whose ids are integers: refused too, before admission.
        pq.write_table(table.slice(0, 1), root / "cell=x" / "part-0.parquet")
        (root / "cell=y").mkdir()
        ints = table.slice(0, 1).set_column(0, "id", pa.array([7], pa.int64()))
        pq.write_table(ints, root / "cell=y" / "part-0.parquet")
        with pytest.raises(InvalidPositions, match="ids must be all str or all int"):
            dt_.target(alert, T0)
        assert targeter.ledger.incident("polisen@example.se/e1") is None
        # A naive ``at`` is a bad argument, as the in-memory Targeter says (not bad positions).
        naive = T0.replace(tzinfo=None)
        for call in (
            lambda: dt_.target(alert, naive),
            lambda: dt_.on_positions(good.positions, naive),
            lambda: memory.target(alert, good, naive),
        ):
            with pytest.raises(InvalidInput, match="at must be timezone-aware") as err:
                call()
            assert type(err.value) is InvalidInput
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_two_dask_targeters_share_a_postgres_ledger(client: Any, postgres_dsn: str) -> None:
    """Two machines (each a DaskTargeter over its own PostgresLedger handle) tell a device once.

    The same as one in-memory Targeter targeting the alert twice: the second call finds every
    covered device already delivered.
    """
    from geotarget.ledger import MemoryLedger, PostgresLedger

    rng = np.random.default_rng(5)
    n = 400
    positions = Positions(
        [f"d{i}" for i in range(n)],
        rng.uniform(17.97, 18.03, n),
        rng.uniform(59.49, 59.52, n),
        accuracy_m=rng.choice([0.0, 15.0, 300.0], n),
        observed_at=T0,
    )
    root = Path(tempfile.mkdtemp(prefix="geotarget-dask-"))
    stores = [PostgresLedger(postgres_dsn), PostgresLedger(postgres_dsn)]
    try:
        ds = write_partitioned(positions, root / "ds", cell_deg=0.01)
        machines = [
            DaskTargeter(Targeter(make_regions(), _policy(), ledger=s), ds, client) for s in stores
        ]
        memory = Targeter(make_regions(), _policy(), ledger=MemoryLedger())
        alert = make_alert("explosion", Circle(18.0, 59.5, 1500.0), ident="e1")
        index = PositionIndex(positions)
        first = machines[0].target(alert, T0)
        assert_same_result(memory.target(alert, index, T0), first)
        assert first.recipients.size > 0
        second = machines[1].target(alert, T0)
        assert_same_result(memory.target(alert, index, T0), second)
        assert second.recipients.size == 0
        assert second.already_delivered == first.recipients.size
        assert sorted(stores[1].recipients(first.incident or "").tolist()) == sorted(
            first.recipients.tolist()
        )
    finally:
        for s in stores:
            s.close()
        shutil.rmtree(root, ignore_errors=True)


def _small(root: Path, client: Any) -> tuple[Positions, DaskTargeter, Targeter]:
    """Forty devices around (18.0, 59.5) in 0.01° cells; a DaskTargeter and an in-memory peer."""
    rng = np.random.default_rng(11)
    positions = Positions(
        [f"d{i}" for i in range(40)],
        rng.uniform(17.98, 18.02, 40),
        rng.uniform(59.49, 59.51, 40),
        observed_at=T0,
    )
    ds = write_partitioned(positions, root / "ds", cell_deg=0.01)
    return (
        positions,
        DaskTargeter(Targeter(make_regions(), _policy()), ds, client),
        Targeter(make_regions(), _policy()),
    )


def test_streaming_follows_the_ledgers_live_incidents(client: Any, tmp_path: Path) -> None:
    """A DaskTargeter made after the alert was delivered (a restart, another machine) streams it.

    The incident was delivered through the Targeter itself (as another process over the same
    store would): the batch's device in its area is delivered, as by Targeter.on_positions.
    """
    positions, dk, memory = _small(tmp_path, client)
    alert = make_alert("explosion", Circle(18.0, 59.5, 800.0), ident="e1")
    index = PositionIndex(positions)
    delivered = dk.targeter.target(alert, index, T0)  # not through this DaskTargeter
    assert_same_result(delivered, memory.target(alert, index, T0))
    batch = Positions(["new1", "far"], [18.0, 17.5], [59.5, 59.5], observed_at=T0)
    got = DaskTargeter(dk.targeter, dk.dataset, client).on_positions(batch, T0)
    want = memory.on_positions(batch, T0)
    assert [d.device_id for d in got] == [d.device_id for d in want] == ["new1"]


def test_a_cluster_that_lost_its_data_recovers(
    client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Indexes and region set lost (every worker died, client.restart()): sent again, same answer.

    Lost between alerts, the next alert rebuilds them; lost during an alert, it is evaluated
    once more; lost twice in one alert, a ClusterError says the alert was admitted and nothing
    claimed, and targeting it again gives the in-memory answer.
    """
    from geotarget.errors import ClusterError

    positions, dk, memory = _small(tmp_path, client)
    index = PositionIndex(positions)
    first = make_alert("explosion", Circle(18.0, 59.5, 800.0), ident="e1")
    assert_same_result(dk.target(first, T0), memory.target(first, index, T0))
    assert dk._finest is not None
    client.cancel([dk._finest[1], *(f for _, f in dk._futures.values())])  # all of it lost
    second = make_alert("explosion", Circle(18.005, 59.5, 900.0), ident="e2")
    assert_same_result(dk.target(second, T0), memory.target(second, index, T0))

    real = dk._finest_future
    losses = iter([True])

    def lost_once(finest: Any) -> Any:  # the region set is lost while the alert is evaluated
        fut = real(finest)
        if next(losses, False):
            client.cancel(fut)
        return fut

    monkeypatch.setattr(dk, "_finest_future", lost_once)
    third = make_alert("explosion", Circle(18.01, 59.5, 700.0), ident="e3")
    assert_same_result(dk.target(third, T0), memory.target(third, index, T0))

    losses = iter([True, True])
    fourth = make_alert("explosion", Circle(17.99, 59.5, 700.0), ident="e4")
    with pytest.raises(ClusterError, match="was admitted, nothing was claimed for it"):
        dk.target(fourth, T0)
    assert dk.targeter.ledger.recipients("polisen@example.se/e4").size == 0
    assert_same_result(dk.target(fourth, T0), memory.target(fourth, index, T0))


def test_a_device_in_two_partitions_is_refused_naming_both(client: Any, tmp_path: Path) -> None:
    """An id sent back by two partitions names the id and both files; nothing is claimed."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from geotarget.errors import InvalidPositions

    for cell, ids in (("a", ["x", "y"]), ("b", ["z", "x"])):
        (tmp_path / f"cell={cell}").mkdir()
        table = pa.table(
            {
                "id": ids,
                "lon": [18.0, 18.001],
                "lat": [59.5, 59.5],
                "accuracy_m": [0.0, 0.0],
                "observed_at": pa.array([T0, T0], pa.timestamp("us", tz="UTC")),
            }
        )
        pq.write_table(table, tmp_path / f"cell={cell}" / "part-0.parquet")
    targeter = Targeter(make_regions(), _policy())
    dk = DaskTargeter(targeter, PartitionedPositions(tmp_path), client)
    alert = make_alert("explosion", Circle(18.0, 59.5, 1000.0), ident="e1")
    with pytest.raises(
        InvalidPositions,
        match=r"'x' is in cell=a/part-0\.parquet and cell=b/part-0\.parquet .*nothing was claimed",
    ):
        dk.target(alert, T0)
    assert targeter.ledger.recipients("polisen@example.se/e1").size == 0


def test_metadata_its_file_contradicts_is_not_trusted(client: Any, tmp_path: Path) -> None:
    """A file rewritten with its old footer metadata kept is read, not pruned by stale bounds.

    ``pq.write_table`` of a table read with ``pq.read_table`` keeps the ``geotarget`` key:
    here a device was appended 7 km from the file's recorded bounds, right where an alert is.
    Metadata whose values are unusable (NaN accuracy, negative rows) is refused, naming the file.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from geotarget.errors import InvalidInput

    positions = Positions(["a", "b"], [17.2, 18.0], [59.2, 59.5], observed_at=T0)
    ds = write_partitioned(positions, tmp_path / "ds", cell_deg=0.1)
    (far,) = [p.path for p in ds.partitions if p.meta and p.meta.bounds == (17.2, 59.2, 17.2, 59.2)]
    table = pq.read_table(far)
    assert b"geotarget" in (table.schema.metadata or {})
    row = pa.table(
        {
            "id": ["new"],
            "lon": [17.29],
            "lat": [59.29],
            "accuracy_m": [0.0],
            "observed_at": pa.array([T0], pa.timestamp("us", tz="UTC")),
            "tester": [False],
        },
        schema=table.schema,
    )
    pq.write_table(pa.concat_tables([table, row]), far)
    dataset = PartitionedPositions(tmp_path / "ds")
    assert [p.meta for p in dataset.partitions if p.path == far] == [None]
    everyone = Positions(
        ["a", "new", "b"], [17.2, 17.29, 18.0], [59.2, 59.29, 59.5], observed_at=T0
    )
    alert = make_alert("explosion", Circle(17.29, 59.29, 100.0), ident="e1")
    got = DaskTargeter(Targeter(make_regions(), _policy()), dataset, client).target(alert, T0)
    assert_same_result(
        got, Targeter(make_regions(), _policy()).target(alert, PositionIndex(everyone), T0)
    )
    assert got.recipients.tolist() == ["new"]

    for bad in (b'"max_accuracy_m": NaN', b'"rows": -5'):
        key = bad.split(b":")[0]
        meta = table.schema.metadata[b"geotarget"]
        start = meta.index(key)
        end = meta.index(b",", start)
        spoiled = meta[:start] + bad + meta[end:]
        pq.write_table(table.replace_schema_metadata({b"geotarget": spoiled}), far)
        with pytest.raises(
            InvalidInput, match=r"cell=\d+/part-0\.parquet: its geotarget .* unusable"
        ):
            PartitionedPositions(tmp_path / "ds")


def test_hidden_files_and_files_being_written_are_left_out(tmp_path: Path) -> None:
    """Names starting with ``.`` or ``_`` are not partitions (as ``pyarrow.dataset`` has it).

    A Spark job's ``_temporary`` copy of a partition, or a writer's ``.part-0.parquet`` before
    its rename, would otherwise put a device in two partitions or fail every alert.
    """
    from geotarget.errors import InvalidInput

    ds = write_partitioned(Positions(["a"], [18.0], [59.5], observed_at=T0), tmp_path / "ds")
    (visible,) = [p.path for p in ds.partitions]
    for hidden in ("_temporary/0/task/part-0.parquet", f"{visible.parent.name}/.part-1.parquet"):
        (tmp_path / "ds" / hidden).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(visible, tmp_path / "ds" / hidden)
    assert [p.path for p in PartitionedPositions(tmp_path / "ds").partitions] == [visible]
    os.remove(visible)
    with pytest.raises(InvalidInput, match=r"holds no \.parquet file"):
        PartitionedPositions(tmp_path / "ds")


def test_a_partition_linked_to_a_missing_file_is_refused_naming_it(tmp_path: Path) -> None:
    """A ``*.parquet`` symbolic link whose target is gone (a snapshot's store unmounted).

    It was left out of the listing as if it were not there: its devices were silently never
    told. It is refused, naming it, as a file that cannot be read is; a link to a file is read.
    """
    from geotarget.errors import InvalidInput

    ds = write_partitioned(Positions(["a"], [18.0], [59.5], observed_at=T0), tmp_path / "ds")
    (visible,) = [p.path for p in ds.partitions]
    stored = tmp_path / "store" / "part-0.parquet"
    stored.parent.mkdir()
    shutil.copy(visible, stored)
    os.remove(visible)
    visible.symlink_to(stored)
    assert [p.path for p in PartitionedPositions(tmp_path / "ds").partitions] == [visible]
    os.remove(stored)
    with pytest.raises(
        InvalidInput, match=rf"{visible.parent.name}/part-0\.parquet: a symbolic link to a missing"
    ):
        PartitionedPositions(tmp_path / "ds")
    with pytest.raises(InvalidInput, match=r"a symbolic link to a missing"):
        ds.refresh()


def test_near_refuses_a_no_fix_that_is_not_a_bool(tmp_path: Path) -> None:
    """``near(..., no_fix="no")`` took the string's truth (read every file with no-fix devices)."""
    from geotarget.errors import InvalidType

    positions = Positions(["a", "b"], [18.0, np.nan], [59.5, np.nan], observed_at=T0)
    ds = write_partitioned(positions, tmp_path / "ds")
    window = [(17.0, 59.0, 17.1, 59.1)]
    for bad in ("no", 0, None):
        with pytest.raises(InvalidType, match=r"no_fix must be True or False \(got "):
            ds.near(window, 1.0, 0.0, no_fix=bad)  # type: ignore[arg-type]
    assert ds.near(window, 1.0, 0.0, no_fix=False).tolist() == [False, False]
    assert sorted(ds.near(window, 1.0, 0.0, no_fix=True).tolist()) == [False, True]


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("path", "cell=1/part-0.parquet"),
        ("path", None),
        ("stamp", None),
        ("stamp", (1, 2, 3)),
        ("stamp", (1, 2)),
        ("stamp", (1.0, 2, 3, 4)),
        ("stamp", (True, 2, 3, 4)),
        ("meta", 5),
        ("meta", {"rows": 1}),
    ],
)
def test_a_partition_refuses_fields_it_cannot_hold(field: str, bad: object) -> None:
    """``Partition`` (public) took anything: its repr then crashed (``meta=5``: AttributeError)."""
    from geotarget.dask import Partition
    from geotarget.errors import InvalidType

    kw: dict[str, Any] = {
        "path": Path("cell=1/part-0.parquet"),
        "stamp": (10, 20, 30, 40),
        "meta": None,
    }
    assert "no geotarget metadata" in repr(Partition(**kw))
    with pytest.raises(InvalidType, match=rf"^{field} must be "):
        Partition(**{**kw, field: bad})


def test_crowds_decided_by_their_box_are_counted_per_county(client: Any, tmp_path: Path) -> None:
    """Partitions whose devices near the area are all in one region, beside one that is not.

    64 or more such devices are decided by their bounding box, not located one by one: the
    workers answered without regions for them and with regions for the straddling partition,
    and the client stopped on "the workers disagree on locating the covered devices".
    """
    rng = np.random.default_rng(3)
    lon = np.concatenate([rng.uniform(18.24, 18.26, 100), rng.uniform(17.99, 18.01, 80)])
    lat = np.concatenate([rng.uniform(59.52, 59.53, 100), rng.uniform(59.495, 59.505, 80)])
    positions = Positions([f"d{i}" for i in range(lon.size)], lon, lat, observed_at=T0)
    ds = write_partitioned(positions, tmp_path / "ds", cell_deg=0.1)
    dk = DaskTargeter(Targeter(make_regions(), _policy()), ds, client)
    memory = Targeter(make_regions(), _policy())
    index = PositionIndex(positions)
    for ident, area in (  # tip requests: enabled in 0102 and 0201, so devices are located
        ("inside", Circle(18.25, 59.525, 1500.0)),  # one 0.1° cell, all in municipality 0201
        ("both", Polygon([(17.98, 59.49), (18.27, 59.49), (18.27, 59.54), (17.98, 59.49)])),
    ):
        alert = make_alert("tip_request", area, ident=ident)
        got = dk.target(alert, T0)
        assert_same_result(got, memory.target(alert, index, T0))
        assert sum(got.per_county.values()) == got.recipients.size >= 64


def test_a_cluster_without_workers_fails_within_the_timeout(tmp_path: Path) -> None:
    """No worker (or none that answers): a ClusterError after ``timeout``, never a wait forever.

    Nothing is admitted, so the alert can be targeted again once workers are back. The call
    runs in a thread so that the old behaviour (waiting for a worker forever) fails the test
    instead of hanging the suite. A timeout that is not a positive number is refused.
    """
    import threading

    from distributed import Client, LocalCluster

    from geotarget.errors import ClusterError, InvalidInput, InvalidType

    positions = Positions(["a", "b"], [18.0, 18.001], [59.5, 59.5], observed_at=T0)
    ds = write_partitioned(positions, tmp_path / "ds", cell_deg=0.01)
    targeter = Targeter(make_regions(), _policy())
    alert = make_alert("explosion", Circle(18.0, 59.5, 800.0), ident="e1")
    with (
        LocalCluster(n_workers=0, processes=False, dashboard_address=":0") as cluster,
        Client(cluster, set_as_default=False) as bare,
    ):
        for bad in (0, -1.0, float("nan"), float("inf"), True, "5"):
            with pytest.raises((InvalidInput, InvalidType), match="timeout must be a finite"):
                DaskTargeter(targeter, ds, bare, timeout=bad)  # type: ignore[arg-type]
        dk = DaskTargeter(targeter, ds, bare, timeout=0.5)
        raised: list[BaseException] = []

        def call() -> None:
            try:
                dk.target(alert, T0)
            except BaseException as err:  # handed to the test's thread
                raised.append(err)

        worker = threading.Thread(target=call, daemon=True)
        worker.start()
        worker.join(120.0)
        assert not worker.is_alive(), "target() waited for a worker past its timeout"
    assert len(raised) == 1 and isinstance(raised[0], ClusterError), raised
    assert "made no progress for timeout=0.5 s while building the indexes an alert reads" in str(
        raised[0]
    )
    assert "it has 0 workers" in str(raised[0]) and "nothing was admitted" in str(raised[0])
    assert targeter.ledger.incident("polisen@example.se/e1") is None


_RELEASED = threading.Event()


def _hung() -> None:
    """A task that hangs (on the in-process worker) until the test releases it."""
    _RELEASED.wait(60.0)


def test_a_long_step_that_keeps_finishing_tasks_is_not_cut_short(tmp_path: Path) -> None:
    """The timeout bounds a step without progress, not a long one.

    Six tasks finishing 0.4 s apart (2.4 s in all) are gathered under a 2 s timeout; one task
    hung past it raises (released once it has: the worker's thread then ends at once). (A
    1.2 s timeout left a busy CI host 0.8 s between two tasks finishing.)
    """
    import time

    from distributed import Client, LocalCluster

    from geotarget.errors import ClusterError

    ds = write_partitioned(Positions(["a"], [18.0], [59.5], observed_at=T0), tmp_path / "ds")
    with (
        LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as cluster,
        Client(cluster, set_as_default=False) as c,
    ):
        dk = DaskTargeter(Targeter(make_regions(), _policy()), ds, c, timeout=2.0)
        futures = [c.submit(time.sleep, 0.4, pure=False) for _ in range(6)]
        assert dk._gather(futures, "sleeping") == [None] * 6
        _RELEASED.clear()
        hung = c.submit(_hung, pure=False)
        try:
            with pytest.raises(ClusterError, match=r"no progress for timeout=2 s while sleeping"):
                dk._gather([hung], "sleeping")
            assert not hung.done()  # still hung when the timeout raised
        finally:
            _RELEASED.set()


def _table(ids: list[Any], lon: list[float], lat: list[float]) -> Any:
    """A Parquet table as another service would write it (no geotarget metadata)."""
    import pyarrow as pa

    return pa.table(
        {
            "id": ids,
            "lon": lon,
            "lat": lat,
            "accuracy_m": [0.0] * len(ids),  # exact fixes, as Positions' default
            "observed_at": pa.array([T0] * len(ids), pa.timestamp("us", tz="UTC")),
        }
    )


def test_pruning_wraps_at_the_antimeridian(client: Any, tmp_path: Path) -> None:
    """A device across ±180° from the area, whose accuracy disk reaches it, is read and told.

    Its partition's bounds grown by the accuracy radius pass 180°: compared without wrapping,
    they missed the area at lon -179.99…-179.97 and the device was counted OUTSIDE_AREA.
    """
    import shapely.geometry as sg

    from geotarget.regions import Region, RegionHierarchy, RegionSet

    both_sides = sg.MultiPolygon(
        [sg.box(179.0, -17.0, 180.0, -16.0), sg.box(-180.0, -17.0, -179.0, -16.0)]
    )

    def level(name: str, code: str) -> RegionSet:
        return RegionSet([Region(code=code, name=code, level=name, geometry=both_sides)])

    regions = RegionHierarchy(
        [level("municipality", "M1"), level("county", "C1"), level("country", "FJ")],
        {"M1": "C1", "C1": "FJ"},
    )
    policy = RolloutPolicy(
        rollouts=[
            KindRollout(
                kind="explosion",
                phases=[Phase(starts_at=T0 - dt.timedelta(days=1), regions=("FJ",))],
            )
        ],
        country="FJ",
    )
    positions = Positions(
        ["east", "west"],
        [179.995, -179.5],
        [-16.5, -16.5],
        accuracy_m=[3000.0, 0.0],
        observed_at=T0,
    )
    ds = write_partitioned(positions, tmp_path / "ds", cell_deg=0.1)
    area = Polygon([(-179.99, -16.51), (-179.97, -16.51), (-179.97, -16.49), (-179.99, -16.49)])
    alert = make_alert("explosion", area, ident="am1")
    dk = DaskTargeter(Targeter(regions, policy), ds, client)
    got = dk.target(alert, T0)
    assert_same_result(got, Targeter(regions, policy).target(alert, PositionIndex(positions), T0))
    assert got.recipients.tolist() == ["east"]
    assert dk.last_stats["partitions_read"] == 1  # the far one (lon -179.5) is still skipped
    # The same from the other side: the bounds at lon -179.5, grown below -180° by a 60 km
    # stale margin, meet a window just west of 180°.
    (west,) = [
        i for i, p in enumerate(ds.partitions) if p.meta and (p.meta.bounds or (0.0,))[0] < 0
    ]
    window = [(179.9, -16.6, 180.0, -16.4)]
    assert not ds.near(window, 1.0, 0.0)[west]
    assert ds.near(window, 1.0, 60_000.0)[west]


def test_an_id_in_two_partitions_an_alert_reads_is_refused_even_far_from_it(
    client: Any, tmp_path: Path
) -> None:
    """A writer adds a moved device to its new cell before removing it from the old one.

    The old copy is inside the area, the new one 5 km away in a cell the alert reads for
    another device: the alert fails naming the id and both files, nothing is claimed (the
    copy outside the area was never sent back, so it used to go unnoticed and the stale copy
    was told). Once the writer removed the old copy, the alert gets the in-memory answer.
    """
    from geotarget.errors import InvalidPositions

    old = Positions(["x", "z"], [18.099, 18.101], [59.33, 59.33], observed_at=T0)
    ds = write_partitioned(old, tmp_path / "ds", cell_deg=0.1)
    west = {p.path: (p.meta.bounds or (0.0,))[0] for p in ds.partitions if p.meta}
    (cell_a,) = [path for path, lon in west.items() if lon < 18.1]
    (cell_b,) = [path for path, lon in west.items() if lon > 18.1]
    from geotarget._positions_arrow import write_partitioned as raw_write

    def rewrite(path: Path, positions: Positions, name: str) -> None:
        raw_write(positions, tmp_path / name, cell_deg=0.1)
        os.replace(next((tmp_path / name).rglob("*.parquet")), path)

    rewrite(cell_b, Positions(["x", "z"], [18.19, 18.101], [59.33] * 2, observed_at=T0), "b")
    targeter = Targeter(make_regions(), _policy())
    dk = DaskTargeter(targeter, PartitionedPositions(tmp_path / "ds"), client)
    alert = make_alert("explosion", Circle(18.099, 59.33, 1000.0), ident="e1")
    with pytest.raises(
        InvalidPositions,
        match=rf"'x' is in {cell_a.parent.name}/part-0\.parquet and "
        rf"{cell_b.parent.name}/part-0\.parquet .*nothing was claimed",
    ):
        dk.target(alert, T0)
    assert targeter.ledger.recipients("polisen@example.se/e1").size == 0
    rewrite(cell_a, Positions(["y"], [18.095], [59.33], observed_at=T0), "a")
    now = Positions(["x", "y", "z"], [18.19, 18.095, 18.101], [59.33] * 3, observed_at=T0)
    got = dk.target(alert, T0)
    assert_same_result(
        got, Targeter(make_regions(), _policy()).target(alert, PositionIndex(now), T0)
    )
    assert got.recipients.tolist() == ["y", "z"]
    assert dk.last_stats["partitions_read"] == 2
    # Compared once per set of files: the next alert over them does not compare again.
    assert len(dk._apart) == 1
    again = make_alert("explosion", Circle(18.1, 59.33, 900.0), ident="e2")
    assert again.area is not None
    assert dk._compare_ids(dk._prepare("explosion", again.area)) == ([], [])


def test_a_new_partition_directory_at_any_depth_is_seen(client: Any, tmp_path: Path) -> None:
    """A nested Hive layout (``country=se/cell=N``) gets a new cell: the next alert reads it.

    Only the root directory's stamp was checked, and adding a grandchild directory leaves it
    unchanged: the device there was never told, even with ``recheck_s=0``. The directories
    holding directories are stat-ed before every alert (``recheck_s=None`` here); a file added
    to an existing partition directory is seen with the files' recheck (``recheck_s=0``).
    """
    import pyarrow.parquet as pq

    root = tmp_path / "ds"
    (root / "country=se" / "cell=1").mkdir(parents=True)
    pq.write_table(_table(["a"], [18.0], [59.5]), root / "country=se/cell=1/part-0.parquet")
    ds = PartitionedPositions(root, recheck_s=None)
    dk = DaskTargeter(Targeter(make_regions(), _policy()), ds, client)
    area = Circle(18.0, 59.5, 1000.0)
    assert dk.target(make_alert("explosion", area, ident="e1"), T0).recipients.tolist() == ["a"]
    (root / "country=se" / "cell=2").mkdir()
    pq.write_table(_table(["b"], [18.001], [59.5]), root / "country=se/cell=2/part-0.parquet")
    got = dk.target(make_alert("explosion", area, ident="e2"), T0)
    assert got.recipients.tolist() == ["a", "b"] and len(ds) == 2
    ds.recheck_s = 0.0
    pq.write_table(_table(["c"], [18.002], [59.5]), root / "country=se/cell=2/part-1.parquet")
    got = dk.target(make_alert("explosion", area, ident="e3"), T0)
    assert got.recipients.tolist() == ["a", "b", "c"] and len(ds) == 3


def test_a_listing_that_failed_is_listed_again_by_the_next_alert(
    client: Any, tmp_path: Path
) -> None:
    """A new partition whose footer cannot be read fails every alert until it can be, naming it.

    The failed listing had already taken the directories' new stamps: the next alerts saw the
    root unchanged and went on with the old listing, without the bad file and without the good
    partition added with it (device ``b``, in the area, silently never told).
    """
    import pyarrow.parquet as pq

    from geotarget.errors import InvalidInput

    root = tmp_path / "ds"
    (root / "cell=1").mkdir(parents=True)
    pq.write_table(_table(["a"], [18.0], [59.5]), root / "cell=1/part-0.parquet")
    ds = PartitionedPositions(root, recheck_s=None)
    targeter = Targeter(make_regions(), _policy())
    dk = DaskTargeter(targeter, ds, client)
    area = Circle(18.0, 59.5, 1000.0)
    assert dk.target(make_alert("explosion", area, ident="e1"), T0).recipients.tolist() == ["a"]
    (root / "cell=2").mkdir()
    pq.write_table(_table(["b"], [18.001], [59.5]), root / "cell=2/part-0.parquet")
    (root / "cell=3").mkdir()
    (root / "cell=3/part-0.parquet").write_bytes(b"PAR1 still being written")
    for ident in ("e2", "e3"):
        with pytest.raises(InvalidInput, match=r"cell=3/part-0\.parquet: not a readable Parquet"):
            dk.target(make_alert("explosion", area, ident=ident), T0)
        assert targeter.ledger.recipients(f"polisen@example.se/{ident}").size == 0
    # Written in place (no directory changes): the next alert lists the dataset again.
    pq.write_table(_table(["c"], [18.002], [59.5]), root / "cell=3/part-0.parquet")
    got = dk.target(make_alert("explosion", area, ident="e4"), T0)
    assert got.recipients.tolist() == ["a", "b", "c"] and len(ds) == 3


def test_a_skipped_file_found_unreadable_beside_the_evaluation_says_the_alert_was_admitted(
    client: Any, tmp_path: Path
) -> None:
    """The files an alert skips are stat-ed while the workers evaluate it, after its admission.

    A far file found unreadable then failed the alert without saying it was admitted. It now
    says so (nothing was claimed); once the file is readable, targeting the alert again gives
    the in-memory answer.
    """
    import pyarrow.parquet as pq

    from geotarget.errors import InvalidInput

    everyone = Positions(["d1", "d2"], [18.0, 18.9], [59.5, 59.5], observed_at=T0)
    write_partitioned(everyone, tmp_path / "ds", cell_deg=0.1)
    targeter = Targeter(make_regions(), _policy())
    dk = DaskTargeter(targeter, PartitionedPositions(tmp_path / "ds", recheck_s=0.0), client)
    alert = make_alert("explosion", Circle(18.0, 59.5, 1000.0), ident="e1")
    far = next(
        p.path for p in dk.dataset.partitions if p.meta and (p.meta.bounds or (0,))[0] > 18.5
    )
    far.write_bytes(b"PAR1 being rewritten")
    with pytest.raises(
        InvalidInput,
        match=r"cell=\d+/part-0\.parquet: not a readable .*; the alert was admitted, nothing was "
        "claimed for it",
    ):
        dk.target(alert, T0)
    assert targeter.incident_of(alert) == "polisen@example.se/e1"
    assert targeter.ledger.recipients("polisen@example.se/e1").size == 0
    pq.write_table(_table(["d2"], [18.9], [59.5]), far)  # no metadata: read for every alert
    memory = Targeter(make_regions(), _policy())
    assert_same_result(dk.target(alert, T0), memory.target(alert, PositionIndex(everyone), T0))


def test_devices_without_a_fix_are_counted_not_sent_back(client: Any, tmp_path: Path) -> None:
    """No pilot kind tells devices without a fix: their count comes from the footers.

    Every alert used to read ``cell=nofix`` and send all its devices to the client. Now it is
    not read, nothing of it is sent back, and the counts (NO_FIX included) are the in-memory
    Targeter's. A file without metadata mixing both is read (for its fixes) and counts its
    devices without a fix on the worker. A kind with ``include_no_fix`` reads and tells them.
    """
    import attrs
    import pyarrow.parquet as pq

    from geotarget import pilot
    from geotarget.targeting import Outcome

    n = 300
    lon = np.concatenate([[18.0, 18.001, 17.5], np.full(n, np.nan)])
    lat = np.concatenate([[59.5, 59.5, 59.5], np.full(n, np.nan)])
    ids = [f"d{i}" for i in range(lon.size)]
    positions = Positions(ids, lon, lat, observed_at=T0)
    write_partitioned(positions, tmp_path / "ds", cell_deg=0.1)
    (tmp_path / "ds" / "other").mkdir()
    pq.write_table(
        _table(["m1", "m2"], [18.002, float("nan")], [59.5, float("nan")]),
        tmp_path / "ds" / "other" / "part-0.parquet",
    )
    everyone = Positions(
        [*ids, "m1", "m2"],
        np.concatenate([lon, [18.002, np.nan]]),
        np.concatenate([lat, [59.5, np.nan]]),
        observed_at=T0,
    )
    dataset = PartitionedPositions(tmp_path / "ds")
    dk = DaskTargeter(Targeter(make_regions(), _policy()), dataset, client)
    alert = make_alert("explosion", Circle(18.0, 59.5, 1000.0), ident="e1")
    got = dk.target(alert, T0)
    want = Targeter(make_regions(), _policy()).target(alert, PositionIndex(everyone), T0)
    assert_same_result(got, want)
    assert got.counts[Outcome.NO_FIX] == n + 1
    assert dk.last_stats["devices_shipped"] == 3  # d0, d1 and m1
    assert dk.last_stats["partitions_read"] == 2  # d0's cell and the file without metadata

    rules = {"explosion": attrs.evolve(pilot.KIND_RULES["explosion"], include_no_fix=True)}
    dk = DaskTargeter(Targeter(make_regions(), _policy(), location_rules=rules), dataset, client)
    got = dk.target(alert, T0)
    memory = Targeter(make_regions(), _policy(), location_rules=rules)
    assert_same_result(got, memory.target(alert, PositionIndex(everyone), T0))
    assert got.counts[Outcome.NO_FIX_INCLUDED] == n + 1
    assert dk.last_stats["partitions_read"] == 3


def test_an_alert_over_the_area_limit_reads_no_partition(client: Any, tmp_path: Path) -> None:
    """BLAST_RADIUS by area is decided before the devices: no index is built.

    Even beside a bad file (which used to turn the verdict into InvalidPositions) the verdict
    is the in-memory one; confirmed, the alert reads the partitions.
    """
    import pyarrow.parquet as pq

    from geotarget.errors import InvalidPositions
    from geotarget.targeting import Verdict

    positions = Positions(["a", "b"], [18.0, 18.01], [59.5, 59.5], observed_at=T0)
    write_partitioned(positions, tmp_path / "ds", cell_deg=0.1)
    (tmp_path / "ds" / "other").mkdir()
    pq.write_table(_table(["c"], [18.0], [999.0]), tmp_path / "ds" / "other" / "x.parquet")
    dk = DaskTargeter(
        Targeter(make_regions(), _policy()), PartitionedPositions(tmp_path / "ds"), client
    )
    big = make_alert("explosion", Circle(18.0, 59.5, 10_000.0), ident="big")  # 314 km² > 100
    got = dk.target(big, T0)
    assert_same_result(
        got, Targeter(make_regions(), _policy()).target(big, PositionIndex(positions), T0)
    )
    assert got.verdict is Verdict.BLAST_RADIUS
    assert dk.resident()["partitions"] == 0
    with pytest.raises(InvalidPositions, match=r"other/x\.parquet: row 1, column lat"):
        dk.target(
            make_alert("explosion", Circle(18.0, 59.5, 10_000.0), ident="b2"), T0, confirm=True
        )


def test_a_closed_client_is_a_cluster_error(tmp_path: Path) -> None:
    """Every call of a DaskTargeter whose client was closed raises ClusterError saying so."""
    from distributed import Client, LocalCluster

    from geotarget.errors import ClusterError

    positions = Positions(["a"], [18.0], [59.5], observed_at=T0)
    ds = write_partitioned(positions, tmp_path / "ds")
    targeter = Targeter(make_regions(), _policy())
    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0"
    ) as cluster:
        c = Client(cluster, set_as_default=False)
        dk = DaskTargeter(targeter, ds, c)
        alert = make_alert("explosion", Circle(18.0, 59.5, 1000.0), ident="e1")
        assert dk.target(alert, T0).recipients.tolist() == ["a"]
        c.close()
        second = make_alert("explosion", Circle(18.0, 59.5, 1000.0), ident="e2")
        for call, then in (
            (lambda: dk.target(second, T0), "nothing was admitted"),
            (lambda: dk.on_positions(positions, T0), "nothing was claimed"),
            (dk.warm, "nothing was built"),
            (dk.resident, "nothing was described"),
        ):
            with pytest.raises(ClusterError, match=rf"the Dask client is closed: .*\({then}\)"):
                call()
    assert targeter.ledger.incident("polisen@example.se/e2") is None


@contextlib.contextmanager
def _cli_cluster(tmp_path: Path, worker_cwd: Path | None = None) -> Iterator[tuple[Any, Any]]:
    """A scheduler and one worker started as the ``dask`` commands start them, and a client.

    Yields ``(client, scheduler process)``; every process is killed on the way out.
    """
    import json
    import subprocess
    import sys
    import time

    from distributed import Client

    file = tmp_path / "scheduler.json"
    quiet = subprocess.DEVNULL
    scheduler_cli = [sys.executable, "-m", "distributed.cli.dask_scheduler", "--port", "0"]
    scheduler = subprocess.Popen(
        [*scheduler_cli, "--dashboard-address", ":0", "--scheduler-file", str(file)],
        stdout=quiet,
        stderr=quiet,
    )
    worker = None
    try:
        for _ in range(600):  # the scheduler writes its address when it listens
            if file.exists() and file.stat().st_size:
                break
            time.sleep(0.1)
        address = json.loads(file.read_text())["address"]
        worker_cli = [sys.executable, "-m", "distributed.cli.dask_worker", address]
        worker = subprocess.Popen(
            [*worker_cli, "--nthreads", "1", "--dashboard-address", ":0"],
            stdout=quiet,
            stderr=quiet,
            cwd=worker_cwd,
        )
        with Client(address, timeout=5, set_as_default=False) as c:
            c.wait_for_workers(1, timeout=60)
            # The worker imports geotarget before the tests time the cluster's steps (seconds
            # on a busy CI host: more than the 5 s timeout the first alert's step is given).
            c.run(exec, "import geotarget.dask")
            yield c, scheduler
    finally:
        for process in (worker, scheduler):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()


@pytest.mark.parametrize("first", ["target", "on_positions"])
def test_a_scheduler_gone_is_a_cluster_error(tmp_path: Path, first: str) -> None:
    """A scheduler killed (``kill -9``) between two alerts: ClusterError, never the comm's error.

    The region set scattered to the workers went with the scheduler; sending it again raised
    distributed's ``CommClosedError`` out of ``target()``, after the alert was admitted and
    without saying so. Nothing is claimed; the incident waits as a blocked one does. A batch of
    positions streamed then is a ClusterError naming the step.
    """
    import signal

    from geotarget.errors import ClusterError

    with _cli_cluster(tmp_path) as (c, scheduler):
        positions = Positions(["a"], [18.0], [59.5], observed_at=T0)
        targeter = Targeter(make_regions(), _policy())
        dk = DaskTargeter(targeter, write_partitioned(positions, tmp_path / "ds"), c, timeout=5)
        area = Circle(18.0, 59.5, 1000.0)
        assert dk.target(make_alert("explosion", area, ident="e1"), T0).recipients.tolist() == ["a"]
        os.kill(scheduler.pid, signal.SIGKILL)
        scheduler.wait()
        if first == "target":
            # Found gone while the alert's indexes are checked (before it is admitted), or while
            # it is evaluated (after): which comes first depends on how fast the lost scheduler's
            # comms fail, so either is right, and each says what was kept.
            with pytest.raises(ClusterError) as caught:
                dk.target(make_alert("explosion", area, ident="e2"), T0)
            said = str(caught.value)
            assert "the alert was admitted, nothing was claimed" in said or (
                "nothing was admitted" in said
                and targeter.ledger.incident("polisen@example.se/e2") is None
            ), said
        else:
            batch = Positions(["new"], [18.0], [59.5], observed_at=T0)
            with pytest.raises(
                ClusterError, match=r"while matching a batch of positions \(nothing was claimed\)"
            ):
                dk.on_positions(batch, T0)
        assert targeter.ledger.recipients("polisen@example.se/e2").size == 0


def test_a_relative_root_is_read_by_workers_started_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``PartitionedPositions("ds")`` with a worker whose working directory is another one.

    The relative paths went to the worker as they were: it looked for ``ds/cell=…`` in its own
    directory and the alert failed with "removed before it was read", though nothing was. The
    root is made absolute when the dataset is opened.
    """
    positions = Positions(["a"], [18.0], [59.5], observed_at=T0)
    (tmp_path / "client").mkdir()
    (tmp_path / "worker").mkdir()
    monkeypatch.chdir(tmp_path / "client")
    write_partitioned(positions, "ds")
    ds = PartitionedPositions("ds")
    assert ds.root == tmp_path / "client" / "ds"
    with _cli_cluster(tmp_path, worker_cwd=tmp_path / "worker") as (c, _):
        dk = DaskTargeter(Targeter(make_regions(), _policy()), ds, c, timeout=30)
        alert = make_alert("explosion", Circle(18.0, 59.5, 1000.0), ident="e1")
        assert dk.target(alert, T0).recipients.tolist() == ["a"]


def test_worker_errors_and_reprs_hold_no_device_position_or_id(tmp_path: Path) -> None:
    """A bad row's values reach the caller only, never a task's exception (logged on the worker).

    A partition in SWEREF 99 TM metres, or with one id twice: the worker returns the error and
    the client raises it naming the file, row and column; the worker's log holds neither the
    coordinates nor the id. A Partition's repr shows its file and counts, not its bounds (the
    exact fix of a device alone in its cell).
    """
    import io
    import logging

    import pyarrow.parquet as pq
    from distributed import Client, LocalCluster

    from geotarget.errors import InvalidPositions

    (tmp_path / "m" / "cell=1").mkdir(parents=True)
    pq.write_table(
        _table(["0701234567"], [674032.0], [6580822.0]), tmp_path / "m/cell=1/part-0.parquet"
    )
    (tmp_path / "d" / "cell=1").mkdir(parents=True)
    pq.write_table(
        _table(["0707654321", "0707654321"], [18.0, 18.1], [59.5, 59.5]),
        tmp_path / "d/cell=1/part-0.parquet",
    )
    log = io.StringIO()
    handler = logging.StreamHandler(log)
    logging.getLogger("distributed").addHandler(handler)
    try:
        with (
            LocalCluster(
                n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0"
            ) as cluster,
            Client(cluster, set_as_default=False) as c,
        ):
            alert = make_alert("explosion", Circle(18.0, 59.5, 1000.0), ident="e1")
            for ds, match in (("m", "row 1, column lon"), ("d", "ids must be unique")):
                dk = DaskTargeter(
                    Targeter(make_regions(), _policy()), PartitionedPositions(tmp_path / ds), c
                )
                with pytest.raises(InvalidPositions, match=rf"cell=1/part-0\.parquet: .*{match}"):
                    dk.target(alert, T0)
                with pytest.raises(InvalidPositions, match=match):
                    dk.warm()
    finally:
        logging.getLogger("distributed").removeHandler(handler)
    for secret in ("674032", "6580822", "0707654321", "0701234567"):
        assert secret not in log.getvalue()

    one = Positions(["0701234567"], [18.065281], [59.332512], observed_at=T0)
    (part,) = write_partitioned(one, tmp_path / "one").partitions
    assert "18.065" not in repr(part) and "59.33" not in repr(part)
    assert "1 devices, 0 without a fix" in repr(part) and "cell=" in repr(part)
    assert "18.065" not in repr(part.meta)


def test_confirm_must_be_true_or_false(client: Any, tmp_path: Path) -> None:
    """``confirm="false"`` (truthy) sent past the blast-radius guard; now refused, nothing read."""
    from geotarget.errors import InvalidType

    _, dk, _ = _small(tmp_path, client)
    big = make_alert("explosion", Circle(18.0, 59.5, 10_000.0), ident="big")
    with pytest.raises(InvalidType, match=r"confirm must be True or False \(got str 'false'\)"):
        dk.target(big, T0, confirm="false")  # type: ignore[arg-type]
    assert dk.targeter.ledger.incident("polisen@example.se/big") is None
    assert dk.resident()["partitions"] == 0.0
    assert dk.target(big, T0).verdict.name == "BLAST_RADIUS"


def test_retarget_delivers_what_target_admitted_but_could_not_deliver(
    client: Any, tmp_path: Path
) -> None:
    """``DaskTargeter.retarget(at)`` gives ``Targeter.retarget(index, at)``'s answers.

    An alert of a kind enabled an hour later (KIND_NOT_ENABLED), one whose cluster failed
    mid-evaluation is the same state: admitted, not delivered. There was no retarget on the
    Dask path: an operator had to remember and resend each such alert.
    """
    hour = dt.timedelta(hours=1)
    later = RolloutPolicy(
        rollouts=[
            KindRollout(kind="explosion", phases=[Phase(starts_at=T0 + hour, regions=("XX",))])
        ],
        country="XX",
    )
    positions, dk, _ = _small(tmp_path, client)
    dk = DaskTargeter(Targeter(make_regions(), later), dk.dataset, client)
    memory = Targeter(make_regions(), later)
    index = PositionIndex(positions)
    alert = make_alert("explosion", Circle(18.0, 59.5, 800.0), ident="e1", hours=6)
    assert_same_result(dk.target(alert, T0), memory.target(alert, index, T0))
    assert dk.retarget(T0 + 0.5 * hour) == [] == memory.retarget(index, T0 + 0.5 * hour)
    (got,) = dk.retarget(T0 + 2 * hour)
    (want,) = memory.retarget(index, T0 + 2 * hour)
    assert_same_result(got, want)
    assert got.recipients.size > 0
    assert dk.retarget(T0 + 3 * hour) == [] == memory.retarget(index, T0 + 3 * hour)


def test_last_stats_describe_the_last_call(client: Any, tmp_path: Path) -> None:
    """A call that evaluates no device (a Cancel, BLAST_RADIUS) leaves ``last_stats`` empty."""
    _, dk, _ = _small(tmp_path, client)
    first = make_alert("explosion", Circle(18.0, 59.5, 800.0), ident="e1")
    dk.target(first, T0)
    assert dk.last_stats["partitions_read"] > 0
    dk.target(make_alert("explosion", Circle(18.0, 59.5, 10_000.0), ident="big"), T0)
    assert dk.last_stats == {}
    dk.target(first, T0)
    cancel = make_alert(
        "explosion",
        Circle(18.0, 59.5, 800.0),
        ident="c1",
        sent=T0 + dt.timedelta(minutes=1),
        msg_type=MessageType.CANCEL,
        refs=(ref(first),),
    )
    dk.target(cancel, T0 + dt.timedelta(minutes=1))
    assert dk.last_stats == {}


def test_a_worker_refuses_a_partition_whose_stamp_is_not_the_listed_one(tmp_path: Path) -> None:
    """Read against the size and time the dataset was listed with, before and after the read.

    (What a worker runs, called here in this process: a file replaced after it was listed is
    refused naming it, never indexed from contents the listing did not see.)
    """
    from geotarget.dask import _load, _Refused, _Resident

    lon, lat = np.array([18.0, 18.1]), np.array([59.0, 59.1])
    ds = write_partitioned(Positions(["a", "b"], lon, lat, observed_at=T0), tmp_path / "ds")
    (part,) = ds.partitions
    st = os.stat(part.path)
    size, mtime, inode, ctime = (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)
    stamp = (size, mtime, inode, ctime)
    assert isinstance(_load(str(part.path), stamp), _Resident)
    # A copy on the worker's own machine (another inode and change time) is the listed file.
    assert isinstance(_load(str(part.path), (size, mtime, inode + 1, ctime - 1)), _Resident)
    for other in ((size + 1, mtime, inode, ctime), (size, mtime - 1, inode, ctime)):
        got = _load(str(part.path), other)
        assert isinstance(got, _Refused)
        assert "changed since the dataset was listed; list the dataset again" in got.message


def test_only_the_info_blocks_in_effect_count_on_the_cluster(client: Any, tmp_path: Path) -> None:
    """Blocks with their own expiry: after one ends, its area is left out, as in memory.

    The Swedish block's area (west) ends after one hour, the English block's (east) after
    three: at 2 h the cluster tells, and streams to, east's devices only, as the in-memory
    Targeter does.
    """
    import attrs

    from geotarget.alerts import AlertArea

    positions, dk, memory = _small(tmp_path, client)
    west, east = Circle(17.99, 59.5, 800.0), Circle(18.01, 59.5, 800.0)
    base = make_alert("explosion", west, ident="blocks", hours=3.0)
    sv, en = base.infos
    alert = attrs.evolve(
        base,
        infos=[
            attrs.evolve(sv, expires=T0 + dt.timedelta(hours=1)),
            attrs.evolve(en, areas=[AlertArea.from_area("east", east)]),
        ],
    )
    at = T0 + dt.timedelta(hours=2)
    fresh = Positions(
        positions.ids, positions.lon, positions.lat, accuracy_m=positions.accuracy_m,
        observed_at=at,
    )  # fmt: skip
    ds = write_partitioned(fresh, tmp_path / "fresh", cell_deg=0.01)
    got = DaskTargeter(dk.targeter, ds, client).target(alert, at)
    want = memory.target(alert, PositionIndex(fresh), at)
    assert_same_result(got, want)
    assert got.recipients.size > 0
    assert set(got.recipients.tolist()) == set(
        fresh.ids[east.contains(fresh.lon, fresh.lat)].tolist()
    )
    batch = Positions(["in-west", "in-east"], [17.99, 18.01], [59.5, 59.5], observed_at=at)
    streamed = DaskTargeter(dk.targeter, ds, client).on_positions(batch, at)
    assert [d.device_id for d in streamed] == ["in-east"]
