"""Datasets as real pipelines write them, on the cluster, against the in-memory Targeter.

Positions partitioned by county code (Hive directories ``lan=01/``, pyarrow.dataset runs
appended with ``existing_data_behavior``), by date with several files per directory, written
by pandas with the index stored and by polars; files whose schemas differ slightly (int32
accuracy, large_string and string_view ids, timestamps in ms, ns and s, other time zones),
an empty file; ids that are text in one file and integers in another, a device in two files,
naive timestamps; files added and removed between two alerts; a worker killed while the
first alert compares ids and while a batch is matched. The oracle is the in-memory Targeter
over the rows read with pyarrow alone, file by file, and ``pyproj.Geod.inv`` for the exact
fresh fixes. The cluster is the shared ``client`` fixture: it fails in CI (``CI=true``) and
skips locally only when it cannot start.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from targeting_helpers import T0, assert_same_result, make_alert, make_regions, policy

from geotarget import Circle, PositionIndex, Positions
from geotarget.errors import InvalidInput, InvalidPositions
from geotarget.ledger import MemoryLedger
from geotarget.targeting import Targeter, TargetingResult

if os.environ.get("CI") != "true":  # in CI a missing extra fails at the import below
    pytest.importorskip("distributed", reason="the dask extra is not installed")
    pytest.importorskip("pyarrow", reason="the dask extra is not installed")

import pyarrow as pa
import pyarrow.dataset as pds
import pyarrow.parquet as pq

from geotarget.dask import DaskTargeter, PartitionedPositions

AT = T0 + dt.timedelta(minutes=1)
N = 240
EXPLOSION = Circle(17.9, 59.5, 9000.0)
TIP = Circle(18.2, 59.6, 25000.0)


def _table(seed: int = 17, n: int = N, first: int = 0) -> pa.Table:
    """Devices over the two test counties: exact and vague fixes, fresh and stale, a county code."""
    rng = np.random.default_rng(seed)
    lon = rng.uniform(17.0, 19.0, n)
    lat = rng.uniform(59.0, 60.0, n)
    lon[:6] = [17.9, 17.95, 17.9, 18.2, 18.05, 17.999]  # some surely inside an alert area
    lat[:6] = [59.5, 59.52, 59.45, 59.6, 59.55, 59.5]
    age = rng.choice([0, 0, 10, 200], n).astype("timedelta64[m]")
    age[:6] = 0  # (and exact and fresh)
    observed = np.datetime64(T0.replace(tzinfo=None), "us") - age
    accuracy = rng.choice([0.0, 0.0, 8.0, 60.0, 2500.0], n)
    accuracy[:6] = 0.0
    return pa.table(
        {
            "id": [f"dev{first + i:04d}" for i in range(n)],
            "lon": lon,
            "lat": lat,
            "accuracy_m": accuracy,
            "observed_at": pa.array(observed, pa.timestamp("us", tz="UTC")),
            "lan": np.where(lon < 18.0, "01", "02"),
        }
    )


def _everyone(root: Path) -> Positions:
    """Every device of every Parquet file under ``root``, read with pyarrow alone, file by file."""
    ids: list[Any] = []
    lon: list[float] = []
    lat: list[float] = []
    acc: list[float] = []
    observed: list[Any] = []
    for path in sorted(p for p in root.rglob("*") if p.suffix == ".parquet"):
        t = pq.read_table(path)  # one file: its own columns, never its directory's names
        ids += t["id"].to_pylist()
        lon += t["lon"].to_pylist()
        lat += t["lat"].to_pylist()
        acc += [float(v) for v in t["accuracy_m"].to_pylist()]
        observed += t["observed_at"].to_pylist()  # aware, in their own zones
    return Positions(ids, lon, lat, accuracy_m=acc, observed_at=observed)


def _targeter() -> Targeter:
    start = T0 - dt.timedelta(days=1)
    rollout = policy({"explosion": [(start, ("XX",))], "tip_request": [(start, ("XX",))]})
    return Targeter(make_regions(), rollout, ledger=MemoryLedger())


def _pair(root: Path, client: Any, recheck_s: float | None = 1.0) -> tuple[DaskTargeter, Targeter]:
    dataset = PartitionedPositions(root, recheck_s=recheck_s)
    return DaskTargeter(_targeter(), dataset, client, timeout=30.0), _targeter()


def _both(
    dk: DaskTargeter, memory: Targeter, root: Path, ident: str, kind: str = "tip_request"
) -> TargetingResult:
    """Target on the cluster, then in memory over the files as they are now: the same answer."""
    alert = make_alert(kind, EXPLOSION if kind == "explosion" else TIP, ident=ident)
    got = dk.target(alert, AT, confirm=True)
    assert_same_result(got, memory.target(alert, PositionIndex(_everyone(root)), AT, confirm=True))
    return got


def _geodesic_check(got: TargetingResult, everyone: Positions, circle: Circle) -> None:
    """Exact fresh fixes: told iff ``pyproj.Geod.inv`` puts them within the radius (1 m slack)."""
    from pyproj import Geod

    fresh = np.asarray(everyone.observed_at, dtype="datetime64[us]") == np.datetime64(
        T0.replace(tzinfo=None), "us"
    )
    exact = fresh & (np.asarray(everyone.accuracy_m) == 0.0)
    lon, lat = np.asarray(everyone.lon)[exact], np.asarray(everyone.lat)[exact]
    _, _, d = Geod(ellps="WGS84").inv(
        np.full(lon.size, circle.lon), np.full(lat.size, circle.lat), lon, lat
    )
    ids = np.asarray(everyone.ids)[exact]
    told = set(got.recipients.tolist())
    assert set(ids[d <= circle.radius_m - 1.0].tolist()) <= told
    assert not set(ids[d > circle.radius_m + 1.0].tolist()) & told
    assert set(ids[d <= circle.radius_m - 1.0].tolist())  # the check checks something


# --- layouts --------------------------------------------------------------------------------


def _hive_by_county(root: Path) -> None:
    pds.write_dataset(
        _table(),
        root,
        format="parquet",
        partitioning=["lan"],
        partitioning_flavor="hive",
        existing_data_behavior="overwrite_or_ignore",
    )


def _by_date_several_files(root: Path) -> None:
    t = _table()
    days = np.where(np.arange(t.num_rows) % 3 == 0, "2024-05-19", "2024-05-20")
    pds.write_dataset(
        t.drop_columns(["lan"]).append_column("date", pa.array(days)),
        root,
        format="parquet",
        partitioning=["date"],
        partitioning_flavor="hive",
        max_rows_per_file=40,
        max_rows_per_group=40,
        existing_data_behavior="delete_matching",
    )


def _pandas_index(root: Path) -> None:
    root.mkdir()
    df = _table().to_pandas()
    df.iloc[:100].set_index("id").to_parquet(root / "a.parquet", index=True)  # id: the index
    df.iloc[100:].to_parquet(root / "b.parquet", index=True)  # __index_level_0__ beside id
    df.iloc[:0].set_index("id").to_parquet(root / "empty.parquet", index=True)


def _polars(root: Path) -> None:
    import polars as pl

    frame = pl.from_arrow(_table())
    assert isinstance(frame, pl.DataFrame)
    frame.with_columns(pl.col("accuracy_m").cast(pl.Float32)).write_parquet(
        root, partition_by="lan"
    )


def _mixed_schemas(root: Path) -> None:
    """One file per variant: each differs slightly from the others' schema."""
    root.mkdir()
    t = _table().drop_columns(["lan"])
    chunks = [t.slice(i * 40, 40) for i in range(6)]

    def cast(table: pa.Table, name: str, typ: pa.DataType) -> pa.Table:
        return table.set_column(table.schema.get_field_index(name), name, table[name].cast(typ))

    pq.write_table(chunks[0], root / "plain.parquet")
    acc = chunks[1]["accuracy_m"].to_numpy().astype(np.int32)
    pq.write_table(chunks[1].set_column(3, "accuracy_m", pa.array(acc)), root / "int32.parquet")
    pq.write_table(cast(chunks[2], "id", pa.large_string()), root / "large.parquet")
    pq.write_table(cast(chunks[3], "id", pa.string_view()), root / "view.parquet")
    ms = cast(chunks[4], "observed_at", pa.timestamp("ms", tz="UTC"))
    pq.write_table(ms, root / "ms.parquet")
    zones = cast(chunks[5].slice(0, 20), "observed_at", pa.timestamp("ns", tz="Europe/Stockholm"))
    pq.write_table(zones, root / "stockholm.parquet")
    seconds = cast(chunks[5].slice(20), "observed_at", pa.timestamp("s", tz="+02:00"))
    pq.write_table(seconds, root / "seconds.parquet")
    pq.write_table(t.slice(0, 0), root / "empty.parquet")


LAYOUTS: dict[str, Callable[[Path], None]] = {
    "hive-by-county": _hive_by_county,
    "by-date-several-files": _by_date_several_files,
    "pandas-index": _pandas_index,
    "polars": _polars,
    "mixed-schemas": _mixed_schemas,
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_a_pipelines_layout_is_targeted_as_in_memory(
    client: Any, tmp_path: Path, layout: str
) -> None:
    """An Explosion and a tip request over each layout: the in-memory answer, and pyproj's."""
    root = tmp_path / "ds"
    LAYOUTS[layout](root)
    assert len(list(root.rglob("*.parquet"))) >= 2
    dk, memory = _pair(root, client)
    got = _both(dk, memory, root, "e1", "explosion")
    _geodesic_check(got, _everyone(root), EXPLOSION)
    got = _both(dk, memory, root, "t1")
    _geodesic_check(got, _everyone(root), TIP)
    assert got.recipients.size  # (a county-sized request reaches someone)


# --- files added and removed between alerts ----------------------------------------------------


def _run(table: pa.Table, root: Path, name: str, behavior: str = "overwrite_or_ignore") -> None:
    """A writer's run into the county directories (``lan=01/``), as pyarrow.dataset writes it."""
    pds.write_dataset(
        table,
        root,
        format="parquet",
        partitioning=["lan"],
        partitioning_flavor="hive",
        basename_template=f"{name}-{{i}}.parquet",
        existing_data_behavior=behavior,
    )


def test_a_run_added_beside_the_files_an_alert_reads_is_read_by_the_next_alert(
    client: Any, tmp_path: Path
) -> None:
    """A second run appended to ``lan=01/`` and ``lan=02/`` between two alerts is read at once.

    Before, a file added to an existing partition directory was seen only once ``recheck_s``
    had passed (1 s by default; never with ``None``, used here, until ``refresh()``): the next
    alert silently left its devices out. Then a file is removed, a whole county directory, and a run rewrites every
    directory (``delete_matching``): each alert is the in-memory answer over the files then.
    """
    root = tmp_path / "ds"
    _run(_table(seed=1, n=150), root, "run1")
    dk, memory = _pair(root, client, recheck_s=None)
    before = _both(dk, memory, root, "t1")
    _run(_table(seed=2, n=150, first=150), root, "run2")
    after = _both(dk, memory, root, "t2")
    assert after.recipients.size > before.recipients.size  # the run's devices were told
    os.remove(root / "lan=02" / "run2-0.parquet")
    _both(dk, memory, root, "t3")
    shutil.rmtree(root / "lan=01")
    _both(dk, memory, root, "t4")
    _run(_table(seed=3, n=200), root, "run3", behavior="delete_matching")
    assert sorted(p.name for p in root.rglob("*.parquet")) == ["run3-0.parquet"] * 2
    _both(dk, memory, root, "t5")
    shutil.rmtree(root / "lan=01")
    shutil.rmtree(root / "lan=02")
    with pytest.raises(InvalidInput, match=r"holds no \.parquet file"):
        dk.target(make_alert("tip_request", TIP, ident="t6"), AT)


def test_a_device_written_by_two_runs_fails_the_alert_naming_both_files(
    client: Any, tmp_path: Path
) -> None:
    """A run appended with ``overwrite_or_ignore`` that holds devices already written.

    As documented, never "the newest fix wins": InvalidPositions naming an id and both files,
    nothing claimed; once the old run is removed, the alert targeted again is the in-memory
    answer.
    """
    root = tmp_path / "ds"
    first = _table(seed=4, n=120)
    _run(first, root, "run1")
    dk, memory = _pair(root, client)
    _both(dk, memory, root, "d1")
    moved = first.slice(0, 30).set_column(1, "lon", pa.array(np.full(30, 17.95)))
    moved = moved.set_column(5, "lan", pa.array(["01"] * 30))
    _run(moved, root, "run2")
    alert = make_alert("tip_request", TIP, ident="d2")
    with pytest.raises(InvalidPositions) as err:
        dk.target(alert, AT)
    said = str(err.value)
    assert "lan=01/run2-0.parquet" in said and "run1-0.parquet" in said
    assert "'dev00" in said and "nothing was claimed" in said
    assert dk.targeter.ledger.recipients(f"{alert.sender}/{alert.identifier}").size == 0
    for path in root.rglob("run1-*.parquet"):
        path.unlink()
    memory.target(alert, PositionIndex(_everyone(root)), AT)  # (admitted there too: in step)
    got = dk.target(alert, AT)
    want = _targeter().target(alert, PositionIndex(_everyone(root)), AT)
    assert_same_result(got, want)


def test_text_ids_in_one_file_and_integer_ids_in_another_are_refused_naming_both(
    client: Any, tmp_path: Path
) -> None:
    """Before admission: the message names a file of each kind, and no incident exists."""
    root = tmp_path / "ds"
    root.mkdir()
    t = _table(seed=5, n=100).drop_columns(["lan"])
    pq.write_table(t.slice(0, 50), root / "text.parquet")
    ints = t.slice(50).set_column(0, "id", pa.array(np.arange(50, 100, dtype=np.int64)))
    pq.write_table(ints, root / "ints.parquet")
    dk, _ = _pair(root, client)
    alert = make_alert("tip_request", TIP, ident="m1")
    with pytest.raises(InvalidPositions, match="all str or all int") as err:
        dk.target(alert, AT)
    assert "ds/text.parquet holds text" in str(err.value)
    assert "ds/ints.parquet holds integers" in str(err.value)
    assert not dk.targeter.ledger.load_active()


def test_naive_timestamps_in_one_file_are_refused_naming_it(client: Any, tmp_path: Path) -> None:
    """``timestamp[us]`` without a zone beside ``timestamp[us, UTC]``: refused, not guessed."""
    root = tmp_path / "ds"
    root.mkdir()
    t = _table(seed=6, n=100).drop_columns(["lan"])
    pq.write_table(t.slice(0, 50), root / "utc.parquet")
    naive = t.slice(50)
    naive = naive.set_column(4, "observed_at", naive["observed_at"].cast(pa.timestamp("us")))
    pq.write_table(naive, root / "naive.parquet")
    dk, _ = _pair(root, client)
    with pytest.raises(InvalidPositions, match=r"naive\.parquet, column observed_at: .*time zone"):
        dk.target(make_alert("tip_request", TIP, ident="n1"), AT)
    assert not dk.targeter.ledger.load_active()


# --- a worker killed mid-computation ---------------------------------------------------------


def _killer(tokens: Path, functions: tuple[str, ...]) -> Any:
    """A worker plugin: the worker starting a task of one of ``functions`` dies (``os._exit``).

    Once per function: each death takes a token file (created exclusively), so one worker
    dies for each, whichever it is.
    """
    from distributed.diagnostics.plugin import WorkerPlugin

    class Kill(WorkerPlugin):  # (local: pickled by value to the worker processes)
        name = "geotarget-probe17-kill"

        def setup(self, worker: Any) -> None:
            self.worker = worker

        def transition(self, key: Any, start: str, finish: str, **kw: Any) -> None:
            if finish != "executing":
                return
            task = self.worker.state.tasks.get(key)
            func = getattr(getattr(task, "run_spec", None), "func", None)
            name = getattr(func, "__name__", None)
            if name not in functions:
                return
            try:
                os.close(os.open(tokens / name, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                return
            os._exit(1)

    return Kill()


def test_a_worker_killed_mid_computation_never_gives_a_partial_answer(
    client: Any, tmp_path: Path
) -> None:
    """A worker dies as it starts comparing the ids of the county files, another as it matches.

    With distributed's default retries the work is done again elsewhere: the first alert over
    the files and a streamed batch are the in-memory answers, each device once.
    """
    root = tmp_path / "ds"
    _hive_by_county(root)
    tokens = tmp_path / "tokens"
    tokens.mkdir()
    client.wait_for_workers(2, timeout=60)
    dk, memory = _pair(root, client)
    client.register_plugin(_killer(tokens, ("_sorted_ids", "_near_batch")))
    try:
        got = _both(dk, memory, root, "k1")
        fixes = _everyone(root)
        batch = Positions(
            fixes.ids, fixes.lon, fixes.lat, accuracy_m=fixes.accuracy_m, observed_at=AT
        )
        streamed = dk.on_positions(batch, AT + dt.timedelta(minutes=1))
        want = memory.on_positions(batch, AT + dt.timedelta(minutes=1))
    finally:
        client.unregister_worker_plugin("geotarget-probe17-kill")
    assert sorted(p.name for p in tokens.iterdir()) == ["_near_batch", "_sorted_ids"]  # died
    assert got.recipients.size
    keys = sorted(d.key for d in streamed)
    assert keys == sorted(d.key for d in want) and len(set(keys)) == len(keys)
    assert keys  # (devices with a vague or old fix were told once it was fresh)


def test_an_alert_during_a_run_is_refused_naming_the_half_written_file(
    client: Any, tmp_path: Path
) -> None:
    """pyarrow.dataset writes in place: a file cut short beside the files read fails the alert.

    InvalidInput naming the file, before admission (no incident), never its devices silently
    left out; once the file is whole, the alert is the in-memory answer.
    """
    root = tmp_path / "ds"
    _run(_table(seed=7, n=150), root, "run1")
    dk, memory = _pair(root, client, recheck_s=None)
    _both(dk, memory, root, "w1")
    _run(_table(seed=8, n=150, first=150), root, "run2")
    whole = (root / "lan=01" / "run2-0.parquet").read_bytes()
    (root / "lan=01" / "run2-0.parquet").write_bytes(whole[: len(whole) // 2])
    alert = make_alert("tip_request", TIP, ident="w2")
    with pytest.raises(InvalidInput, match=r"lan=01/run2-0\.parquet: not a readable Parquet"):
        dk.target(alert, AT)
    assert dk.targeter.ledger.incident(f"{alert.sender}/{alert.identifier}") is None
    (root / "lan=01" / "run2-0.parquet").write_bytes(whole)
    _both(dk, memory, root, "w2")
    assert dk.targeter.ledger.incident(f"{alert.sender}/{alert.identifier}") is not None
