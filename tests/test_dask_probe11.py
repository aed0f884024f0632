"""A partitioned device store on a real cluster, as a data engineer builds one (eleventh probe).

Frames ``dask.dataframe`` wrote from pandas with an index of their own, skewed, unsorted and
empty Hive partitions beside ``_metadata`` summaries, a device in two partitions whose ids are
of two Arrow types, and a worker process that dies while it builds an index. The oracle reads
every file with pyarrow and decides with ``pyproj.Geod.inv`` (exact fixes: a device receives
an Explosion when its point lies within the circle) and the test country's municipality boxes
(the county of a device is the box holding it); never geotarget's own reader or index. The
cluster is the shared ``client`` fixture (a ``LocalCluster`` of two worker processes) or one
of this module's own; it fails in CI (``CI=true``) and skips locally only when it cannot start.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from targeting_helpers import T0, exact_rules, make_alert, make_regions, policy
from test_dask_probe4 import _killing_plugin as _killing_evaluation

from geotarget import Circle, Positions
from geotarget.targeting import Outcome, Targeter, Verdict

if os.environ.get("CI") != "true":  # in CI a missing extra fails at the import below
    pytest.importorskip("distributed", reason="the dask extra is not installed")
    pytest.importorskip("pyarrow", reason="the dask extra is not installed")
import pyarrow as pa
import pyarrow.parquet as pq

from geotarget.dask import DaskTargeter, PartitionedPositions
from geotarget.errors import ClusterError, InvalidPositions

CENTRE = (18.0, 59.5)
RADIUS_M = 3000.0
SENDER = "polisen@example.se"


def _targeter() -> Targeter:
    start = T0 - dt.timedelta(days=1)
    return Targeter(
        make_regions(),
        policy({"explosion": [(start, ("XX",))]}),
        location_rules=exact_rules(),
    )


def _frame(n: int, *, seed: int, text: bool = False) -> Any:
    """A pandas frame of fresh fixes around the centre (some out of the circle)."""
    import pandas as pd  # type: ignore[import-untyped]

    rng = np.random.default_rng(seed)
    ages = pd.to_timedelta(rng.integers(0, 3600, n), unit="s")
    return pd.DataFrame(
        {
            "id": [f"dev-{i}" for i in range(n)] if text else np.arange(n, dtype=np.int64),
            "lon": rng.uniform(17.94, 18.06, n),
            "lat": rng.uniform(59.46, 59.54, n),
            "accuracy_m": np.zeros(n),
            "observed_at": pd.Timestamp(T0) - ages,
        }
    )


def _oracle(root: Path) -> tuple[set[Any], int, dict[str, int]]:
    """Who the Explosion reaches, the devices in the dataset and the reached per county.

    Every ``*.parquet`` file under ``root`` not hidden (``.``/``_``), read with pyarrow; the
    distance by ``Geod.inv``; the county by the test hierarchy's boxes (lon < 18: ``01``).
    """
    from pyproj import Geod

    ids: list[Any] = []
    lon: list[float] = []
    lat: list[float] = []
    for path in sorted(root.rglob("*.parquet")):
        if any(part.startswith((".", "_")) for part in path.relative_to(root).parts):
            continue
        t = pq.read_table(path)
        ids += t.column("id").to_pylist()
        lon += t.column("lon").to_pylist()
        lat += t.column("lat").to_pylist()
    lon_a, lat_a = np.array(lon, dtype=float), np.array(lat, dtype=float)
    _, _, dist = Geod(ellps="WGS84").inv(
        np.full(lon_a.size, CENTRE[0]), np.full(lon_a.size, CENTRE[1]), lon_a, lat_a
    )
    reached = dist <= RADIUS_M
    county = np.where(lon_a < 18.0, "01", "02")
    per_county = {c: int(np.count_nonzero(reached & (county == c))) for c in ("01", "02")}
    return {i for i, r in zip(ids, reached.tolist(), strict=True) if r}, len(ids), per_county


def _alert(ident: str) -> Any:
    return make_alert("explosion", Circle(*CENTRE, RADIUS_M), ident=ident)


def _check(client: Any, root: Path, ident: str) -> None:
    """The cluster's answer is the oracle's: recipients, counts and per-county counts."""
    want, n, per_county = _oracle(root)
    assert want and len(want) < n  # the circle reaches some devices, not all
    dk = DaskTargeter(_targeter(), PartitionedPositions(root), client)
    got = dk.target(_alert(ident), T0)
    assert got.verdict is Verdict.DELIVER
    assert set(got.recipients.tolist()) == want
    assert got.counts[Outcome.INSIDE] == len(want)
    assert got.counts[Outcome.OUTSIDE_AREA] == n - len(want)
    assert sum(got.counts.values()) == n
    assert {c: v for c, v in got.per_county.items() if v} == {
        c: v for c, v in per_county.items() if v
    }


# --- frames dask.dataframe wrote from pandas ---------------------------------------------------


def test_frames_dask_wrote_from_pandas_with_an_index_of_their_own(
    client: Any, tmp_path: Path
) -> None:
    """The id or the time as the index, an unnamed text index, shuffled rows, empty partitions.

    ``to_parquet`` writes a named index as a column of that name and an unnamed one as
    ``__null_dask_index__`` (an extra column, ignored); a filter leaves partitions with no row,
    written as files of the schema alone.
    """
    import dask.dataframe as dd

    frame = _frame(900, seed=11)
    by_id = dd.from_pandas(frame.set_index("id"), npartitions=4)  # type: ignore[no-untyped-call]
    by_id.to_parquet(tmp_path / "by-id")
    _check(client, tmp_path / "by-id", "i1")

    shuffled = frame.sample(frac=1.0, random_state=5)
    shuffled.index = [f"row-{i}" for i in range(len(shuffled))]
    labels = dd.from_pandas(shuffled, npartitions=3, sort=False)  # type: ignore[no-untyped-call]
    labels.to_parquet(tmp_path / "labels")
    _check(client, tmp_path / "labels", "i2")

    # The time as an index in no order, the rows by longitude: the west partition is emptied.
    by_lon = frame.sort_values("lon").set_index("observed_at")
    by_time = dd.from_pandas(by_lon, npartitions=5, sort=False)  # type: ignore[no-untyped-call]
    by_time[by_time.lon > 17.97].to_parquet(tmp_path / "by-time", write_metadata_file=True)
    assert (tmp_path / "by-time" / "_metadata").exists()
    rows = [pq.read_metadata(p).num_rows for p in sorted((tmp_path / "by-time").glob("*.parquet"))]
    assert len(rows) == 5 and min(rows) == 0 < max(rows)
    _check(client, tmp_path / "by-time", "i3")


def test_skewed_unsorted_and_empty_hive_partitions_beside_a_metadata_file(
    client: Any, tmp_path: Path
) -> None:
    """``region=01/part.parquet``: one partition holds every device, in no order.

    The others hold none, with other Arrow types for the same columns (int32 ids, float32
    degrees, timestamps in seconds in another zone); a ``_common_metadata`` file beside them.
    """
    frame = _frame(1200, seed=12).sample(frac=1.0, random_state=9)
    root = tmp_path / "store"
    full = pa.Table.from_pandas(frame, preserve_index=False)
    empty = pa.table(
        {
            "id": pa.array([], pa.int32()),
            "lon": pa.array([], pa.float32()),
            "lat": pa.array([], pa.float32()),
            "accuracy_m": pa.array([], pa.int16()),
            "observed_at": pa.array([], pa.timestamp("s", tz="Europe/Stockholm")),
        }
    )
    for region, table in (("01", full), ("02", empty), ("03", full.slice(0, 0))):
        (root / f"region={region}").mkdir(parents=True)
        pq.write_table(
            table,
            root / f"region={region}" / "part.parquet",
            row_group_size=97,
        )
    pq.write_metadata(full.schema, root / "_common_metadata")
    _check(client, root, "s1")


# --- a device in two partitions ------------------------------------------------------------------


@pytest.mark.parametrize("ids", ["int32+int64", "large_string+dictionary"])
def test_a_device_in_two_partitions_of_other_id_types_is_refused_then_told_once(
    client: Any, tmp_path: Path, ids: str
) -> None:
    """The same device in two files, one fix in the circle and one far from it.

    Its id an int32 in one file and an int64 in the other, or a large_string and a
    dictionary. Refused naming the id and both files, the alert admitted and nothing claimed (no fix
    chosen silently); retarget() refuses it again while the copy is there; once the writer
    removes it, retarget() tells the oracle's devices, each once, and a fresh fix of the
    device streamed afterwards does not tell it again.
    """
    import pandas as pd

    text = ids != "int32+int64"
    frame = _frame(400, seed=13, text=text)
    inside = int(np.flatnonzero((frame.lon.sub(18.0).abs() < 0.01).to_numpy())[0])
    twin = frame.iloc[[inside]].assign(lon=18.5, lat=59.9)  # its other fix, far away
    root = tmp_path / "store"
    for region in ("01", "02"):
        (root / f"region={region}").mkdir(parents=True)
    first = pa.Table.from_pandas(frame.iloc[:250], preserve_index=False)
    second = pa.Table.from_pandas(pd.concat([frame.iloc[250:], twin]), preserve_index=False)
    a_type, b_type = (
        (pa.large_string(), pa.dictionary(pa.int16(), pa.string()))
        if text
        else (pa.int32(), pa.int64())
    )
    first = first.set_column(0, "id", first.column("id").cast(a_type))
    second = second.set_column(0, "id", second.column("id").cast(b_type))
    pq.write_table(first, root / "region=01" / "part.parquet")
    pq.write_table(second, root / "region=02" / "part.parquet")

    dk = DaskTargeter(_targeter(), PartitionedPositions(root, recheck_s=0), client)
    ident = f"{SENDER}/t-{ids}"
    shown = repr(frame.id.iloc[inside] if text else int(frame.id.iloc[inside]))
    refused = rf"{shown} is in region=01/part.parquet and region=02/part\.parquet"
    with pytest.raises(InvalidPositions, match=rf"{refused}.*nothing was claimed"):
        dk.target(_alert(f"t-{ids}"), T0)
    ledger = dk.targeter.ledger
    assert ledger.incident(ident) is not None  # admitted
    assert ledger.recipients(ident).size == 0  # and nothing claimed
    with pytest.raises(InvalidPositions, match=refused):
        dk.retarget(T0)
    assert ledger.recipients(ident).size == 0

    pq.write_table(second.slice(0, second.num_rows - 1), root / "region=02" / "part.parquet")
    want, _, _ = _oracle(root)
    got = dk.retarget(T0)
    assert len(got) == 1 and set(got[0].recipients.tolist()) == want
    told = ledger.recipients(ident).tolist()  # (the ledger keeps ids as text)
    assert sorted(told) == sorted(map(str, want)) and len(told) == len(set(told))
    device = frame.id.iloc[inside] if text else int(frame.id.iloc[inside])
    now = np.array([T0.replace(tzinfo=None)], dtype="datetime64[us]")
    batch = Positions([device], [CENTRE[0]], [CENTRE[1]], accuracy_m=[0.0], observed_at=now)
    assert dk.on_positions(batch, T0) == []
    assert dk.target(_alert(f"t-{ids}"), T0).recipients.size == 0  # nobody twice


# --- a worker killed while it builds an index ----------------------------------------------------


def _killing_plugin(tokens: Path, deaths: int | None) -> Any:
    """A worker plugin: the worker starting to build a geotarget index dies (``os._exit``).

    Probe 4's, for the index builds: each death takes a token file, ``deaths`` in all (None:
    every worker starting one, while the plugin is registered).
    """
    return _killing_evaluation(tokens, deaths, task="geotarget-index")


@pytest.fixture
def dying() -> Iterator[Any]:
    """A LocalCluster of two worker processes whose scheduler gives up on a task at one death."""
    import dask
    from distributed import Client, LocalCluster

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        try:
            cluster = LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
            )
        except Exception as err:  # pragma: no cover - depends on the machine
            if os.environ.get("CI") == "true":
                pytest.fail(f"a Dask LocalCluster is required in CI and could not start: {err!r}")
            pytest.skip(f"no Dask LocalCluster here: {err!r}")
        c = Client(cluster)
        try:
            yield c
        finally:
            c.close()
            cluster.close()


def test_a_worker_killed_while_building_an_index_is_asked_once_more(
    dying: Any, tmp_path: Path
) -> None:
    """A worker process dies as it starts reading a partition for an alert's first call.

    Work lost during an alert is asked once more: one death while the index is built (before
    the admission) used to fail the call with a ClusterError, where the same death while the
    alert is evaluated is retried. Now the index is built again on a live worker and the
    answer is the oracle's. A death at every try raises a ClusterError saying nothing was
    admitted (no incident), and the alert targeted again once the workers live gets the
    oracle's answer.
    """
    frame = _frame(500, seed=14)
    root = tmp_path / "store"
    for region, part in (("01", frame.iloc[:200]), ("02", frame.iloc[200:])):
        (root / f"region={region}").mkdir(parents=True)
        pq.write_table(
            pa.Table.from_pandas(part, preserve_index=False),
            root / f"region={region}" / "part.parquet",
        )
    want, _, _ = _oracle(root)
    assert want
    dk = DaskTargeter(_targeter(), PartitionedPositions(root), dying)
    ledger = dk.targeter.ledger

    once = tmp_path / "once"
    once.mkdir()
    dying.register_plugin(_killing_plugin(once, 1))
    try:
        got = dk.target(_alert("b1"), T0)
        assert (once / "0").exists()  # a worker did die building an index
        assert set(got.recipients.tolist()) == want

        dying.unregister_worker_plugin("geotarget-index-kill")
        dying.wait_for_workers(2, timeout=60)
        del dk, got  # its resident indexes released: no worker recomputes them below
        fresh = DaskTargeter(_targeter(), PartitionedPositions(root), dying)  # builds anew
        always = tmp_path / "always"
        always.mkdir()
        dying.register_plugin(_killing_plugin(always, None))  # a death at every try
        with pytest.raises(ClusterError, match=r"building the indexes.*nothing was admitted"):
            fresh.target(_alert("b2"), T0)
        assert fresh.targeter.ledger.incident(f"{SENDER}/b2") is None
    finally:
        dying.unregister_worker_plugin("geotarget-index-kill")
    dying.wait_for_workers(2, timeout=60)
    assert set(fresh.target(_alert("b2"), T0).recipients.tolist()) == want
    assert sorted(ledger.recipients(f"{SENDER}/b1").tolist()) == sorted(map(str, want))


def test_a_cluster_restarted_while_an_alert_builds_its_indexes(client: Any, tmp_path: Path) -> None:
    """An operator runs ``client.restart()`` while the first alert over a store builds its indexes.

    The build was cancelled (``FutureCancelledError``, "scheduler-restart") and the alert
    failed with a ClusterError, though the restarted workers could build them at once: now it
    is asked once more, and the answer is the oracle's.
    """
    import threading
    import time

    from distributed.diagnostics.plugin import WorkerPlugin

    frame = _frame(400, seed=15)
    root = tmp_path / "store"
    for region, part in (("01", frame.iloc[:150]), ("02", frame.iloc[150:])):
        (root / f"region={region}").mkdir(parents=True)
        pq.write_table(
            pa.Table.from_pandas(part, preserve_index=False),
            root / f"region={region}" / "part.parquet",
        )
    want, _, _ = _oracle(root)
    started = tmp_path / "started"

    class Slow(WorkerPlugin):  # the first build takes a while: the restart comes meanwhile
        name = "geotarget-probe11-slow"

        def transition(self, key: Any, start: str, finish: str, **kw: Any) -> None:
            if finish != "executing" or not str(key).startswith("geotarget-index"):
                return
            try:
                os.close(os.open(started, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                return
            time.sleep(3.0)

    restarted: list[bool] = []

    def operator() -> None:
        deadline = time.monotonic() + 60.0
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        client.restart()
        restarted.append(True)

    client.register_plugin(Slow())
    try:
        dk = DaskTargeter(_targeter(), PartitionedPositions(root), client)
        thread = threading.Thread(target=operator, daemon=True)
        thread.start()
        got = dk.target(_alert("r1"), T0)
        thread.join(120.0)
    finally:
        client.unregister_worker_plugin("geotarget-probe11-slow")
    assert restarted and started.exists()
    assert got.verdict is Verdict.DELIVER
    assert set(got.recipients.tolist()) == want


# --- retarget: a bad partition near one incident ------------------------------------------------


def test_a_bad_partition_near_one_incident_does_not_hold_back_retarget_of_the_others(
    client: Any, tmp_path: Path
) -> None:
    """A writer left a device in two cells near incident A; incident B is far from them.

    Both were admitted without reaching anyone (A refused for the shared id, B not yet
    active). ``retarget()`` raised A's error and never targeted B, at every call until the
    writer was done: an Explosion elsewhere reached nobody. Now B is targeted (the oracle's
    devices, claimed), then A's error is raised naming the incident and B's delivery.
    """
    import shutil

    from geotarget.dask import write_partitioned

    near_a = _frame(300, seed=16).assign(lon=lambda f: f.lon + 0.07)  # all in lon 18-19
    moved = near_a.iloc[[5]].assign(lon=18.4)  # the same device, also in another cell's file
    near_b = _frame(200, seed=17).assign(lon=lambda f: f.lon - 0.7, id=lambda f: f.id + 10_000)

    def positions(frame: Any) -> Positions:
        return Positions(
            frame.id.to_numpy(),
            frame.lon.to_numpy(),
            frame.lat.to_numpy(),
            accuracy_m=frame.accuracy_m.to_numpy(),
            observed_at=frame.observed_at.dt.tz_convert(None).to_numpy(),
        )

    import pandas as pd

    root = tmp_path / "store"
    root.mkdir()
    for name, frame in (("a1", near_a.iloc[:200]), ("a2", pd.concat([near_a.iloc[200:], moved]))):
        ds = write_partitioned(positions(frame), tmp_path / name, cell_deg=1.0)
        (file,) = (p.path for p in ds.partitions)  # one cell of 1°: lon 18-19
        (root / f"cell={name}").mkdir()
        shutil.copy(file, root / f"cell={name}" / "part-0.parquet")  # its metadata kept
    ds = write_partitioned(positions(near_b), tmp_path / "b", cell_deg=1.0)
    (file,) = (p.path for p in ds.partitions)  # lon 17-18
    (root / "cell=b").mkdir()
    shutil.copy(file, root / "cell=b" / "part-0.parquet")

    dk = DaskTargeter(_targeter(), PartitionedPositions(root, recheck_s=0), client)
    later = T0 + dt.timedelta(minutes=5)
    b_centre = (CENTRE[0] - 0.7, CENTRE[1])
    b_alert = make_alert("explosion", Circle(*b_centre, RADIUS_M), ident="b-elsewhere", sent=later)
    with pytest.raises(InvalidPositions, match=r"is in cell=a1/part-0\.parquet and cell=a2"):
        dk.target(_alert("a-near-the-copy"), T0)
    assert dk.target(b_alert, T0).verdict is Verdict.NOT_YET_ACTIVE

    from pyproj import Geod

    _, _, dist = Geod(ellps="WGS84").inv(
        np.full(len(near_b), b_centre[0]),
        np.full(len(near_b), b_centre[1]),
        near_b.lon.to_numpy(),
        near_b.lat.to_numpy(),
    )
    want_b = set(near_b.id[dist <= RADIUS_M].tolist())
    assert want_b

    with pytest.raises(
        InvalidPositions,
        match=r"retargeting incident 'polisen@example.se/a-near-the-copy': .* is in "
        r"cell=a1/part-0.parquet and cell=a2/part-0.parquet.*; 1 other incident\(s\) delivered",
    ):
        dk.retarget(later)
    ledger = dk.targeter.ledger
    assert sorted(ledger.recipients(f"{SENDER}/b-elsewhere").tolist()) == sorted(map(str, want_b))
    assert ledger.recipients(f"{SENDER}/a-near-the-copy").size == 0
    with pytest.raises(InvalidPositions, match=r"; 0 other incident\(s\) delivered"):
        dk.retarget(later)  # B delivered: only A is left, still refused


def test_read_parquet_given_a_datasets_directory_says_it_reads_one_file(tmp_path: Path) -> None:
    """``pandas.read_parquet`` and ``dask.dataframe.read_parquet`` take a dataset's directory.

    Given one, ``geotarget.dask.read_parquet`` said "not a readable Parquet file: ... No such
    file or directory" of a directory that exists. Now it names the directory, says it reads
    one file, and names the way to open a dataset.
    """
    from geotarget.dask import read_parquet
    from geotarget.errors import InvalidInput

    frame = _frame(50, seed=18)
    out = tmp_path / "positions.parquet"  # Spark names its output directories so
    out.mkdir()
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table.slice(0, 25), out / "part.0.parquet")
    pq.write_table(table.slice(25), out / "part.1.parquet")
    with pytest.raises(InvalidInput, match=r"one Parquet file \(got the directory positions"):
        read_parquet(out)
    with pytest.raises(InvalidInput, match=r"PartitionedPositions\(path\)"):
        read_parquet(str(out) + "/")
    assert len(read_parquet(next(out.glob("part.*.parquet")))) > 0  # each file reads
