"""The Dask integration as a user with a real cluster meets it (session 62's seventh probe).

A ``LocalCluster`` of worker processes (the shared ``client`` fixture, as ``scripts/test``
starts it), datasets as other tools write them (``dask.dataframe`` from CSV files, pandas
categoricals, ``float32`` columns, empty and bad partitions), a first nationwide alert over
many partitions, and workers that die. The oracle is the in-memory path: the same positions,
read with pyarrow alone, through :class:`geotarget.Targeter` over a
:class:`geotarget.PositionIndex`.
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from targeting_helpers import T0, make_alert, make_regions, policy

from geotarget import Circle, LocationRule, Polygon, PositionIndex, Positions, StaleRule
from geotarget.targeting import KindRules, Targeter

if os.environ.get("CI") != "true":  # in CI a missing extra fails at the import below
    pytest.importorskip("distributed", reason="the dask extra is not installed")
    pytest.importorskip("pyarrow", reason="the dask extra is not installed")
import pyarrow as pa
import pyarrow.parquet as pq

from geotarget.dask import DaskTargeter, PartitionedPositions, write_partitioned

CENTRE = (18.0, 59.5)
#: Country XX of the test hierarchy (lon 17-19, lat 59-60), with a margin: a nationwide area.
NATION = Polygon([(16.9, 58.9), (19.1, 58.9), (19.1, 60.1), (16.9, 60.1)])


def _rules() -> dict[str, KindRules]:
    return {
        "explosion": KindRules(
            location=LocationRule(max_age=dt.timedelta(hours=1), accuracy=1.0),
            include_ambiguous=True,
            stale=StaleRule(max_age=dt.timedelta(hours=6), margin_m=500.0),
        )
    }


def _targeter() -> Targeter:
    start = T0 - dt.timedelta(days=1)
    return Targeter(
        make_regions(), policy({"explosion": [(start, ("XX",))]}), location_rules=_rules()
    )


def _in_memory(root: Path) -> Positions:
    """Every device of the dataset, read with pyarrow alone (the oracle's copy)."""
    files = sorted(f for f in root.rglob("*.parquet") if not f.name.startswith((".", "_")))
    t = pa.concat_tables([pq.read_table(f) for f in files], promote_options="default")
    cols = {n.lower(): t.column(n) for n in t.column_names}
    obs = cols["observed_at"].cast(pa.timestamp("us", tz="UTC")).to_numpy(zero_copy_only=False)
    ids = cols["id"].to_pylist()
    return Positions(
        ids,
        cols["lon"].to_numpy(zero_copy_only=False).astype(np.float64),
        cols["lat"].to_numpy(zero_copy_only=False).astype(np.float64),
        accuracy_m=cols["accuracy_m"].to_numpy(zero_copy_only=False).astype(np.float64),
        observed_at=obs.astype("datetime64[us]"),
    )


def _same(got: Any, want: Any) -> None:
    assert got.verdict is want.verdict
    assert got.recipients.tolist() == want.recipients.tolist()
    assert dict(got.counts) == dict(want.counts)
    assert dict(got.per_county) == dict(want.per_county)


# --- a first nationwide alert: tasks grow with the partitions, not their product -------------


def _grid_dataset(root: Path, cells: int, per_cell: int, rng: Any) -> Positions:
    """``cells`` cells of 0.25° over country XX, ``per_cell`` fresh devices in each."""
    lon, lat = [], []
    for k in range(cells):
        ix, iy = k % 8, k // 8
        lon.append(17.0 + 0.25 * ix + rng.uniform(0.01, 0.24, per_cell))
        lat.append(59.0 + 0.25 * iy + rng.uniform(0.01, 0.24, per_cell))
    n = cells * per_cell
    positions = Positions(
        rng.permutation(10 * n)[:n].astype(np.int64),  # ids in no order of the cells
        np.concatenate(lon),
        np.concatenate(lat),
        accuracy_m=rng.choice([0.0, 20.0], n),
        observed_at=np.full(n, np.datetime64(T0.replace(tzinfo=None), "us")),
    )
    write_partitioned(positions, root, cell_deg=0.25)
    return positions


def test_a_first_nationwide_alert_submits_tasks_linear_in_the_partitions(
    client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first alert over every partition compares their ids in a graph linear in them.

    The ids of partitions holding more than the merge bound together are compared by ranges;
    each partition's ids used to be cut into one task per range, so a first nationwide alert
    submitted partitions × ranges tasks (and the ranges grow with the partitions): four
    times the partitions made about ten times the tasks. Counted on the scheduler's task
    stream of a cluster of worker processes; the answer is the in-memory Targeter's.
    """
    from distributed import get_task_stream

    from geotarget import dask as gd

    monkeypatch.setattr(gd, "_MERGE_IDS", 200)  # (read by the client only)
    rng = np.random.default_rng(7)
    tasks = {}
    for cells in (8, 32):
        root = tmp_path / f"ds{cells}"
        positions = _grid_dataset(root, cells, 150, rng)
        dk = DaskTargeter(_targeter(), PartitionedPositions(root), client)
        alert = make_alert("explosion", NATION, ident=f"nation-{cells}")
        with get_task_stream(client=client) as stream:
            got = dk.target(alert, T0, confirm=True)
        assert dk.last_stats["partitions_read"] == cells
        tasks[cells] = len(stream.data)
        _same(got, _targeter().target(alert, PositionIndex(positions), T0, confirm=True))
        assert got.verdict.name == "DELIVER" and got.recipients.size == positions.ids.size
    assert tasks[32] <= 4.5 * tasks[8], tasks  # linear: 4 times the partitions
    assert tasks[32] <= 8 * 32, tasks


def _killer(tokens: Path, function: str) -> Any:
    """A worker plugin: the worker starting a task of ``function`` dies (``os._exit``), once.

    The death takes a token file (created exclusively), so one worker dies, whichever it is.
    """
    from distributed.diagnostics.plugin import WorkerPlugin

    class Kill(WorkerPlugin):  # (local: pickled by value to the worker processes)
        name = "geotarget-probe7-kill"

        def setup(self, worker: Any) -> None:
            self.worker = worker

        def transition(self, key: Any, start: str, finish: str, **kw: Any) -> None:
            if finish != "executing":
                return
            task = self.worker.state.tasks.get(key)
            func = getattr(getattr(task, "run_spec", None), "func", None)
            if getattr(func, "__name__", None) != function:
                return
            try:
                os.close(os.open(tokens / "dead", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                return
            os._exit(1)

    return Kill()


@pytest.fixture(scope="module")
def own() -> Iterator[Any]:
    """A LocalCluster of two worker processes with distributed's default settings, to kill in."""
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    c = Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.mark.parametrize("function", ["_cut", "_piece", "_shared_ids"])
def test_a_worker_killed_while_a_nationwide_alert_compares_ids(
    own: Any, function: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker process dies as it starts cutting, sending or merging a range of ids.

    On a cluster of worker processes with distributed's default retries (a real cluster's
    settings), the scheduler runs the task again elsewhere, or the alert is asked again:
    the answer is the in-memory Targeter's, each recipient once, and the ledger holds a
    claim per recipient.
    """
    from geotarget import dask as gd

    monkeypatch.setattr(gd, "_MERGE_IDS", 400)
    rng = np.random.default_rng(11)
    positions = _grid_dataset(tmp_path / "ds", 12, 150, rng)
    tokens = tmp_path / "tokens"
    tokens.mkdir()
    own.wait_for_workers(2, timeout=60)  # (the one killed before is back)
    own.register_plugin(_killer(tokens, function))
    try:
        targeter = _targeter()
        dk = DaskTargeter(targeter, PartitionedPositions(tmp_path / "ds"), own)
        alert = make_alert("explosion", NATION, ident="killed")
        got = dk.target(alert, T0, confirm=True)
        assert (tokens / "dead").exists()  # a worker did die
    finally:
        own.unregister_worker_plugin("geotarget-probe7-kill")
    want = _targeter().target(alert, PositionIndex(positions), T0, confirm=True)
    _same(got, want)
    assert np.unique(got.recipients).size == got.recipients.size == positions.ids.size
    claimed = targeter.ledger.recipients(f"{alert.sender}/{alert.identifier}")
    assert sorted(claimed.tolist()) == sorted(str(i) for i in got.recipients.tolist())


def test_csv_files_read_by_dask_dataframe_give_the_in_memory_answer(
    client: Any, tmp_path: Path
) -> None:
    """CSV exports read by ``dask.dataframe.read_csv`` (default blocksize), written to Parquet.

    As an operator turns a day's CSV exports into a dataset: one file holds only its header
    (an empty partition), one has devices without a fix (empty ``lon``/``lat``), the times
    are ISO texts with a zone; ``to_parquet`` adds dask's index column. A small circle, a
    municipality and the whole country give the in-memory Targeter's answer over the same
    rows read by ``pandas.read_csv``.
    """
    import dask.dataframe as dd

    pd: Any = importlib.import_module("pandas")  # (no stubs: used untyped)

    rng = np.random.default_rng(4)
    n = 120_000
    frame = pd.DataFrame(
        {
            "id": rng.permutation(5 * n)[:n],
            "lon": rng.uniform(17.0, 19.0, n),
            "lat": rng.uniform(59.0, 60.0, n),
            "accuracy_m": rng.choice([0.0, 8.0, 40.0, 400.0], n),
            "observed_at": (
                pd.Timestamp(T0) - pd.to_timedelta(rng.choice([0, 20, 90, 300, 2000], n), "min")
            ).strftime("%Y-%m-%dT%H:%M:%S+00:00"),
        }
    )
    frame.loc[frame.index[70_000:70_040], ["lon", "lat"]] = np.nan
    csv = tmp_path / "csv"
    csv.mkdir()
    for k, rows in enumerate([slice(0, 50_000), slice(0, 0), slice(50_000, None)]):
        frame.iloc[rows].to_csv(csv / f"export-{k}.csv", index=False)
    read = dd.read_csv(str(csv / "export-*.csv"))
    read.to_parquet(tmp_path / "ds")

    back = pd.concat([pd.read_csv(f) for f in sorted(csv.glob("*.csv"))])
    times = pd.to_datetime(back["observed_at"], utc=True).dt.tz_localize(None)
    index = PositionIndex(
        Positions(
            back["id"].to_numpy(),
            back["lon"].to_numpy(),
            back["lat"].to_numpy(),
            accuracy_m=back["accuracy_m"].to_numpy(),
            observed_at=times.to_numpy().astype("datetime64[us]"),
        )
    )
    dk = DaskTargeter(_targeter(), PartitionedPositions(tmp_path / "ds"), client)
    memory = _targeter()
    areas = [
        Circle(18.0, 59.5, 2_000.0),
        Polygon([(17.5, 59.0), (18.0, 59.0), (18.0, 60.0), (17.5, 60.0)]),
        NATION,
    ]
    for k, area in enumerate(areas):
        alert = make_alert("explosion", area, ident=f"csv-{k}")
        got = dk.target(alert, T0, confirm=True)
        _same(got, memory.target(alert, index, T0, confirm=True))
        assert got.recipients.size


def test_write_partitioned_given_a_dataframe_is_a_type_error_saying_how(tmp_path: Path) -> None:
    """A dask DataFrame read from CSV, given to ``write_partitioned`` as a user first tries.

    A wrong type, as ``DaskTargeter.on_positions`` and ``Targeter.on_positions`` say it
    (InvalidType, a TypeError), with the way from a DataFrame to a dataset; nothing written.
    """
    import dask.dataframe as dd

    from geotarget.errors import InvalidType

    (tmp_path / "export.csv").write_text(
        "id,lon,lat,accuracy_m,observed_at\n1,18.0,59.5,10,2024-05-20T12:00:00Z\n"
    )
    frame = dd.read_csv(str(tmp_path / "export.csv"))
    for given in (frame, frame.compute()):
        with pytest.raises(InvalidType, match=r"got DataFrame\): .*to_parquet\(path\)") as err:
            write_partitioned(given, tmp_path / "ds")
        assert isinstance(err.value, TypeError)
    assert not (tmp_path / "ds").exists()
