"""Datasets other tools wrote, changed between alerts and targeted from several threads.

Files whose schemas no other test uses side by side (uint32, int16 and int64 ids in one
dataset; dictionary-encoded ids over uneven row groups with empty ones, beside large_string
ids; decimal, int32 and float16 accuracy; float32 degrees; timestamps in s, ms and ns in
Europe/Stockholm, Asia/Kolkata and a fixed offset; columns in another order and case beside
nested extra columns; a file of empty row groups), a root under a path with spaces and
non-ASCII names, a dataset of one file, partitions truncated, restored, deleted and doubled
between alerts, and one DaskTargeter called from several threads at once. The oracle is the
in-memory Targeter over the rows read with plain pyarrow (``to_pylist``, file by file), and
``pyproj.Geod.inv`` for the exact fresh fixes. The cluster is the shared ``client`` fixture:
it fails in CI (``CI=true``) and skips locally only when it cannot start.
"""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import decimal
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from targeting_helpers import T0, assert_same_result, make_alert, make_regions, policy

from geotarget import Circle, PositionIndex, Positions
from geotarget.errors import InvalidInput, InvalidPositions
from geotarget.ledger import MemoryLedger
from geotarget.targeting import Targeter, TargetingResult, Verdict

if os.environ.get("CI") != "true":  # in CI a missing extra fails at the import below
    pytest.importorskip("distributed", reason="the dask extra is not installed")
    pytest.importorskip("pyarrow", reason="the dask extra is not installed")

import pyarrow as pa
import pyarrow.parquet as pq

from geotarget.dask import DaskTargeter, PartitionedPositions, read_parquet, write_partitioned

AT = T0 + dt.timedelta(minutes=1)
NAIVE_T0 = np.datetime64(T0.replace(tzinfo=None), "us")
TIP = Circle(18.2, 59.55, 30000.0)
UTC = dt.timezone.utc


def _columns(seed: int, n: int, first: int) -> dict[str, Any]:
    """Devices around the tip area: exact and vague fixes, fresh and stale; int ids."""
    rng = np.random.default_rng(seed)
    lon = rng.uniform(17.6, 18.8, n)
    lat = rng.uniform(59.2, 59.9, n)
    lon[:3] = [18.2, 18.25, 18.15]  # surely inside
    lat[:3] = [59.55, 59.6, 59.5]
    age = rng.choice([0, 0, 10, 200], n).astype("timedelta64[m]")
    age[:3] = 0
    accuracy = rng.choice([0.0, 0.0, 8.0, 60.0, 2500.0], n)
    accuracy[:3] = 0.0
    return {
        "id": np.arange(first, first + n, dtype=np.int64),
        "lon": lon,
        "lat": lat,
        "accuracy_m": accuracy,
        "observed_at": pa.array(NAIVE_T0 - age, pa.timestamp("us", tz="UTC")),
    }


def _targeter() -> Targeter:
    start = T0 - dt.timedelta(days=1)
    rollout = policy({"explosion": [(start, ("XX",))], "tip_request": [(start, ("XX",))]})
    return Targeter(make_regions(), rollout, ledger=MemoryLedger())


def _files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*") if p.suffix == ".parquet")


def _everyone(root: Path) -> Positions:
    """Every device under ``root``, read with plain pyarrow, file by file, names in any case."""
    ids: list[Any] = []
    lon: list[float] = []
    lat: list[float] = []
    acc: list[float] = []
    observed: list[Any] = []
    for path in _files(root):
        t = pq.read_table(path)
        col = {name.lower(): t.column(j) for j, name in enumerate(t.column_names)}
        ids += col["id"].to_pylist()
        lon += [np.nan if v is None else float(v) for v in col["lon"].to_pylist()]
        lat += [np.nan if v is None else float(v) for v in col["lat"].to_pylist()]
        acc += [np.nan if v is None else float(v) for v in col["accuracy_m"].to_pylist()]
        observed += col["observed_at"].to_pylist()  # aware, each in its own zone
    return Positions(ids, lon, lat, accuracy_m=acc, observed_at=observed)


def _dask(root: Path, client: Any, recheck_s: float | None = 1.0) -> DaskTargeter:
    dataset = PartitionedPositions(root, recheck_s=recheck_s)
    return DaskTargeter(_targeter(), dataset, client, timeout=30.0)


def _both(dk: DaskTargeter, root: Path, ident: str) -> TargetingResult:
    """On the cluster and in memory over the files as they are now: the same answer."""
    alert = make_alert("tip_request", TIP, ident=ident)
    got = dk.target(alert, AT, confirm=True)
    want = _targeter().target(alert, PositionIndex(_everyone(root)), AT, confirm=True)
    assert_same_result(got, want)
    return got


def _told_as_geod_says(got: TargetingResult, root: Path) -> None:
    """Exact fresh fixes: told iff ``pyproj.Geod.inv`` puts them within the radius (1 m slack)."""
    from pyproj import Geod

    ids: list[Any] = []
    lon: list[float] = []
    lat: list[float] = []
    for path in _files(root):
        t = pq.read_table(path)
        col = {name.lower(): t.column(j) for j, name in enumerate(t.column_names)}
        times = [v.astimezone(UTC) for v in col["observed_at"].to_pylist()]
        for i, (acc, when) in enumerate(zip(col["accuracy_m"].to_pylist(), times, strict=True)):
            if acc is not None and float(acc) == 0.0 and when == T0:
                ids.append(col["id"][i].as_py())
                lon.append(float(col["lon"][i].as_py()))
                lat.append(float(col["lat"][i].as_py()))
    _, _, d = Geod(ellps="WGS84").inv([TIP.lon] * len(lon), [TIP.lat] * len(lat), lon, lat)
    told = set(got.recipients.tolist())
    inside = {i for i, m in zip(ids, d, strict=True) if m <= TIP.radius_m - 1.0}
    outside = {i for i, m in zip(ids, d, strict=True) if m > TIP.radius_m + 1.0}
    assert inside and outside  # the check checks something
    assert inside <= told
    assert not outside & told


# --- files of other writers ---------------------------------------------------------------


def _integer_ids_of_three_widths(root: Path) -> None:
    a = _columns(1, 60, 0)
    a["id"] = pa.array(a["id"], pa.uint32())
    a["accuracy_m"] = pa.array([decimal.Decimal(f"{v:.2f}") for v in a["accuracy_m"]])
    pq.write_table(pa.table(a), root / "uint32 ids.parquet")
    b = _columns(2, 60, 1000)
    b["id"] = pa.array(b["id"], pa.int16())
    b["accuracy_m"] = pa.array(b["accuracy_m"].astype(np.int32))
    b["observed_at"] = b["observed_at"].cast(pa.timestamp("ms", tz="Europe/Stockholm"))
    pq.write_table(pa.table(b), root / "int16 ids.parquet", row_group_size=7)
    c = _columns(3, 60, 5_000_000_000)
    c["lon"] = c["lon"].astype(np.float32)  # (the oracle reads the same float32 values)
    c["lat"] = c["lat"].astype(np.float32)
    c["observed_at"] = c["observed_at"].cast(pa.timestamp("ns", tz="+02:00"))
    pq.write_table(pa.table(c), root / "int64 ids.parquet")


def _text_ids_of_other_encodings(root: Path) -> None:
    a = pa.table(_columns(4, 60, 0))
    ids = pa.array([f"dev-{i}" for i in range(60)]).dictionary_encode()
    a = a.set_column(0, "id", ids)
    with pq.ParquetWriter(root / "dictionary ids.parquet", a.schema) as w:
        for start, length in ((0, 1), (1, 0), (1, 40), (41, 0), (41, 19)):  # uneven, some empty
            w.write_table(a.slice(start, length))
    b = _columns(5, 60, 0)
    t = pa.table(
        {
            "Observed_At": b["observed_at"].cast(pa.timestamp("s", tz="Asia/Kolkata")),
            "note": pa.array([{"x": 1, "tags": ["a", "b"]}] * 60),
            "LAT": b["lat"],
            "Accuracy_M": pa.array(b["accuracy_m"].astype(np.float16)),
            "Lon": b["lon"],
            "geom": pa.array([b"\x01"] * 60),
            "ID": pa.array([f"large-{i}" for i in range(60)], pa.large_string()),
        }
    )
    pq.write_table(t, root / "reordered columns.parquet")
    empty = a.slice(0, 0)
    with pq.ParquetWriter(root / "empty row groups.parquet", empty.schema) as w:
        w.write_table(empty)
        w.write_table(empty)


@pytest.mark.parametrize("write", [_integer_ids_of_three_widths, _text_ids_of_other_encodings])
def test_files_other_writers_made_give_the_in_memory_answer(
    tmp_path: Path, client: Any, write: Any
) -> None:
    """Files of other writers: the in-memory answer over the rows pyarrow reads, as Geod says.

    Ids of three integer widths, or text dictionary-encoded over uneven row groups beside
    large_string ids in reordered, upper-case columns with nested extras.
    """
    root = tmp_path / "Positioner län" / "dag 1"
    root.mkdir(parents=True)
    write(root)
    dk = _dask(root, client)
    got = _both(dk, root, "other-writers")
    assert got.verdict is Verdict.DELIVER
    _told_as_geod_says(got, root)
    # A second alert over the resident indexes: the same again.
    _both(dk, root, "other-writers-2")


def test_a_single_file_root_replaced_then_removed(tmp_path: Path, client: Any) -> None:
    """A dataset of one file under a path with spaces and non-ASCII names, replaced, removed.

    Replaced by a file of moved devices (os.replace, as a writer swaps a snapshot), the next
    alert tells the moved devices; removed, the next alert fails naming the root, and nothing
    is admitted (the same alert is then answered in full once the file is back).
    """
    folder = tmp_path / "Lägesdata för Blåsut"
    folder.mkdir()
    only = folder / "alla enheter ü.parquet"
    pq.write_table(pa.table(_columns(6, 120, 0)), only)
    dk = _dask(only, client, recheck_s=None)
    _both(dk, only, "single-1")
    moved = _columns(7, 120, 0)  # the same ids, elsewhere
    pq.write_table(pa.table(moved), folder / ".next.parquet")
    os.replace(folder / ".next.parquet", only)
    got = _both(dk, only, "single-2")
    _told_as_geod_says(got, only)
    only.unlink()
    with pytest.raises(InvalidInput, match=r"root not found: .*alla enheter ü\.parquet"):
        dk.target(make_alert("tip_request", TIP, ident="single-3"), AT, confirm=True)
    pq.write_table(pa.table(moved), only)
    _both(dk, only, "single-3")  # not admitted before: the whole answer now


# --- partitions that change between alerts ------------------------------------------------


def _cell_of(ds: PartitionedPositions, lon: float, lat: float) -> Path:
    """The file holding the device at (lon, lat), found by reading each file with pyarrow."""
    for part in ds.partitions:
        t = pq.read_table(part.path)
        if any(
            x == lon and y == lat
            for x, y in zip(t["lon"].to_pylist(), t["lat"].to_pylist(), strict=True)
        ):
            return part.path
    raise AssertionError("no file holds the device")  # pragma: no cover


def test_partitions_truncated_restored_deleted_and_doubled_between_alerts(
    tmp_path: Path, client: Any
) -> None:
    """write_partitioned's dataset through an operator's day of changes between alerts.

    The file an alert reads truncated in place (refused naming it, before admission),
    restored, a far file deleted, an empty file added, and a copy of a partition under another
    directory (refused naming both files, after admission); each answer the in-memory one
    over the files then there.
    """
    c = _columns(8, 300, 0)
    snapshot = Positions(
        [f"d{i}" for i in c["id"]],
        c["lon"],
        c["lat"],
        accuracy_m=c["accuracy_m"],
        observed_at=c["observed_at"].to_pylist(),
    )
    root = tmp_path / "ds"
    ds = write_partitioned(snapshot, root, cell_deg=0.2)
    dk = DaskTargeter(_targeter(), PartitionedPositions(root, recheck_s=0), client, timeout=30)
    _both(dk, root, "day-1")
    near = _cell_of(ds, 18.2, 59.55)
    name = f"{near.parent.name}/{near.name}"
    whole = near.read_bytes()
    with open(near, "r+b") as f:  # truncated in place: same inode, a shorter file
        f.truncate(len(whole) // 2)
    with pytest.raises(InvalidInput, match=rf"^{name}: not a readable Parquet file"):
        dk.target(make_alert("tip_request", TIP, ident="day-2"), AT, confirm=True)
    near.write_bytes(whole)
    _both(dk, root, "day-2")  # refused before admission: answered in full now
    far = next(p.path for p in ds.partitions if p.path.parent != near.parent)
    far.unlink()
    (root / "cell=empty").mkdir()
    empty = pq.read_table(near).slice(0, 0).replace_schema_metadata(None)
    pq.write_table(empty, root / "cell=empty" / "x.parquet")
    _both(dk, root, "day-3")
    (root / "copy").mkdir()
    (root / "copy" / "part-0.parquet").write_bytes(whole)
    with pytest.raises(InvalidPositions) as err:
        dk.target(make_alert("tip_request", TIP, ident="day-4"), AT, confirm=True)
    assert f"{name} and copy/part-0.parquet" in str(err.value)
    assert "the alert was admitted, nothing was claimed for it" in str(err.value)
    (root / "copy" / "part-0.parquet").unlink()
    _both(dk, root, "day-4")


def test_a_file_rewritten_each_time_a_worker_reads_it_fails_the_alert_within_bounds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer faster than the build: the file an alert reads changes as every worker reads it.

    Each build was refused ("changed since the dataset was listed"), the dataset listed again
    and the build asked again, without end (a recursion as deep as the writer kept on: the
    alert was never sent nor refused). Now 20 builds at most, then an InvalidInput naming the
    file and the rule, before admission: once the writer pauses, the same alert is answered
    in full, as in memory.
    """
    from distributed import Client, LocalCluster

    import geotarget.dask as gd

    root = tmp_path / "hot"
    root.mkdir()
    pq.write_table(pa.table(_columns(15, 80, 0)), root / "hot cell.parquet")
    pq.write_table(pa.table(_columns(16, 80, 1000)), root / "other.parquet")
    real_load = gd._load
    hot = root / "hot cell.parquet"
    first_mtime = hot.stat().st_mtime_ns

    def rewritten_as_read(path: str, stamp: Any, name: str | None = None) -> Any:
        if path.endswith("hot cell.parquet"):  # (runs on the worker: counted by the mtime)
            st = os.stat(path)  # the writer's next version: a new modification time
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
        return real_load(path, stamp, name)

    with (
        LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        dk = _dask(root, client, recheck_s=0)
        alert = make_alert("tip_request", TIP, ident="hot")
        monkeypatch.setattr(gd, "_load", rewritten_as_read)
        with pytest.raises(InvalidInput) as err:
            dk.target(alert, AT, confirm=True)
        assert str(err.value) == (
            f"the dataset {root} changed 20 times while an alert's indexes were built (the "
            "last time: hot/hot cell.parquet: changed since the dataset was listed; list the "
            "dataset again); try again"
        )
        assert hot.stat().st_mtime_ns - first_mtime == 20 * 1_000_000_000  # 20 builds
        monkeypatch.setattr(gd, "_load", real_load)
        _both(dk, root, "hot")  # not admitted before: the whole answer now


def test_a_listing_whose_files_keep_vanishing_fails_within_bounds(
    tmp_path: Path, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A compaction that removes each file as the dataset is listed: the listing gives up.

    Every listing found a file gone by the time it was stat-ed and listed again, as a
    recursion one level deeper each time: under a writer that kept at it, a RecursionError
    (no geotarget error) or an alert held for as long. Now 20 listings at most, then an
    InvalidInput naming the dataset, before admission; once the writer stops, the next alert
    reads the new partition, as in memory.
    """
    import geotarget.dask as gd

    root = tmp_path / "compacted"
    (root / "cell=a").mkdir(parents=True)
    pq.write_table(pa.table(_columns(18, 80, 0)), root / "cell=a" / "part-0.parquet")
    dk = _dask(root, client, recheck_s=0)
    _both(dk, root, "compact-1")
    (root / "cell=b").mkdir()  # a new partition directory: the dataset is listed again
    pq.write_table(pa.table(_columns(19, 80, 1000)), root / "cell=b" / "part-0.parquet")
    real_walk = gd._walk
    listings: list[int] = []

    def walk_losing_a_file(top: Path) -> Any:
        files, inner, leaves = real_walk(top)
        listings.append(1)
        return [*files, top / "cell=b" / "part-1.parquet"], inner, leaves  # gone when stat-ed

    monkeypatch.setattr(gd, "_walk", walk_losing_a_file)
    with pytest.raises(InvalidInput) as err:
        dk.target(make_alert("tip_request", TIP, ident="compact-2"), AT, confirm=True)
    assert str(err.value) == (
        f"the dataset {root} changed 20 times while it was listed (a file or directory "
        "removed as it was read); try again"
    )
    assert len(listings) == 20
    monkeypatch.setattr(gd, "_walk", real_walk)
    _both(dk, root, "compact-2")  # not admitted before: the whole answer, cell=b included


def test_a_file_removed_as_its_footer_is_read_is_listed_out_not_called_unreadable(
    tmp_path: Path, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A compaction deletes a new file between the listing's stat and its footer read.

    The alert failed, before admission, with "cell=c/part-0.parquet: not a readable Parquet
    file: ... Failed to open local file" for a file that was merely gone; the dataset is now
    listed again without it, and the alert answered as in memory over the files there.
    """
    import geotarget.dask as gd

    root = tmp_path / "compaction"
    for k, cell in enumerate("ab"):
        (root / f"cell={cell}").mkdir(parents=True)
        pq.write_table(pa.table(_columns(20 + k, 80, 1000 * k)), root / f"cell={cell}/p.parquet")
    dk = _dask(root, client, recheck_s=0)
    _both(dk, root, "footer-1")
    (root / "cell=c").mkdir()
    pq.write_table(pa.table(_columns(22, 80, 2000)), root / "cell=c" / "part-0.parquet")
    real_meta = gd.partition_meta  # type: ignore[attr-defined]

    def removed_meanwhile(path: Path, name: str | None = None) -> Any:
        if path.parent.name == "cell=c":
            path.unlink()  # the writer's delete, after the listing stat-ed the file
        return real_meta(path, name)

    monkeypatch.setattr(gd, "partition_meta", removed_meanwhile)
    got = _both(dk, root, "footer-2")
    assert got.recipients.size
    assert [p.path.parent.name for p in dk.dataset.partitions] == ["cell=a", "cell=b"]


# --- one DaskTargeter, several threads ----------------------------------------------------


def test_one_dask_targeter_called_from_several_threads(tmp_path: Path, client: Any) -> None:
    """One DaskTargeter called from several threads: the in-memory answers, each once.

    Six alerts at once on a cold cluster, then one alert sent by four threads at once, then
    two batches streamed at once: each alert answered as in memory, the resent one delivered
    once (one result is the first in-memory answer, the others the second), and the batches'
    deliveries the in-memory ones.
    """
    c = _columns(10, 900, 0)
    c["lon"] = np.random.default_rng(11).uniform(17.0, 19.0, 900)
    c["lat"] = np.random.default_rng(12).uniform(59.0, 60.0, 900)
    root = tmp_path / "threads"
    root.mkdir()
    for k in range(6):
        pq.write_table(pa.table(c).slice(150 * k, 150), root / f"part-{k}.parquet")
    everyone = PositionIndex(_everyone(root))
    dk = _dask(root, client, recheck_s=0)
    memory = _targeter()
    alerts = [
        make_alert(kind, Circle(17.2 + 0.3 * i, 59.15 + 0.13 * i, 9000.0), ident=f"th-{i}")
        for i, kind in enumerate(["explosion", "tip_request"] * 3)
    ]
    with cf.ThreadPoolExecutor(6) as pool:
        got = list(pool.map(lambda a: dk.target(a, AT, confirm=True), alerts))
    for alert, result in zip(alerts, got, strict=True):
        assert_same_result(result, memory.target(alert, everyone, AT, confirm=True))
    assert sum(r.recipients.size for r in got) > 0

    again = make_alert("tip_request", TIP, ident="th-same")
    with cf.ThreadPoolExecutor(4) as pool:
        same = list(pool.map(lambda _: dk.target(again, AT, confirm=True), range(4)))
    first = memory.target(again, everyone, AT, confirm=True)
    later = memory.target(again, everyone, AT, confirm=True)
    assert first.recipients.size > 0 and later.recipients.size == 0
    delivering = [r for r in same if r.recipients.size]
    assert len(delivering) == 1
    assert_same_result(delivering[0], first)
    for r in same:
        if r is not delivering[0]:
            assert_same_result(r, later)

    rng = np.random.default_rng(13)
    batches = [
        Positions(
            [f"new-{b}-{i}" for i in range(80)],
            rng.uniform(17.0, 19.0, 80),
            rng.uniform(59.0, 60.0, 80),
            accuracy_m=np.zeros(80),
            observed_at=[T0] * 80,
        )
        for b in range(2)
    ]
    with cf.ThreadPoolExecutor(2) as pool:
        streamed = list(pool.map(lambda b: dk.on_positions(b, AT), batches))
    for batch, deliveries in zip(batches, streamed, strict=True):
        want = memory.on_positions(batch, AT)
        assert sorted((d.device_id, d.incident, d.alert_id) for d in deliveries) == sorted(
            (d.device_id, d.incident, d.alert_id) for d in want
        )
    assert sum(len(d) for d in streamed) > 0


# --- pins for faults in files this probe does not own --------------------------------------


def test_ids_written_as_a_pandas_range_index_are_refused_saying_so(tmp_path: Path) -> None:
    """df.set_index('id').to_parquet(): ids 0..n-1 are kept as {start, stop, step} only."""
    pd = pytest.importorskip("pandas")
    c = _columns(14, 20, 0)
    frame = pd.DataFrame({k: np.asarray(v) for k, v in c.items() if k != "observed_at"})
    frame["observed_at"] = c["observed_at"].to_pandas()
    path = tmp_path / "pandas.parquet"
    frame.set_index("id").to_parquet(path)
    assert "id" not in pq.read_schema(path).names  # the ids are in the pandas metadata only
    with pytest.raises(InvalidInput, match=r"lacks column\(s\) id .*index"):
        read_parquet(path)
    # The command's reader says the same.
    from geotarget._position_files import read_parquet as read_for_the_command

    for read in (read_parquet, read_for_the_command):
        with pytest.raises(InvalidInput, match=r"a pandas index \('id'\) .* kept as a range"):
            read(path)


def test_a_spark_int96_observed_at_is_refused_naming_int96(tmp_path: Path) -> None:
    """Spark writes timestamps as INT96 unless told: the refusal should say what they are."""
    table = pa.table(_columns(17, 5, 0))
    path = tmp_path / "part-00000-spark.snappy.parquet"
    pq.write_table(table, path, use_deprecated_int96_timestamps=True, store_schema=False)
    assert pq.ParquetFile(path).schema.column(4).physical_type == "INT96"
    with pytest.raises(InvalidPositions, match=r"column observed_at: .*INT96"):
        read_parquet(path)


@pytest.mark.parametrize(
    ("stamp", "written"),
    [
        ("1969-12-31T23:59:59.999999", False),  # a phone whose clock was reset
        ("1970-01-01T00:00:00", True),
        ("9998-12-31T23:59:59.999999", True),
        ("9999-01-01T00:00:00", False),
        ("NaT", True),
    ],
)
def test_write_partitioned_writes_only_times_its_readers_read(
    tmp_path: Path, stamp: str, written: bool
) -> None:
    """A dataset geotarget writes, geotarget reads.

    One row of 1969 made every alert reading its cell fail ("lies outside the years 1970 to
    9998"), though ``Positions`` took it and ``write_partitioned`` wrote it. Now refused
    before anything is written; the times the readers take are read back as written (plain
    pyarrow is the oracle).
    """
    obs = np.array([stamp, "2026-01-01T00:00:00"], dtype="datetime64[us]")
    p = Positions(["a", "b"], [18.0, 18.1], [59.0, 59.1], accuracy_m=[5.0, 5.0], observed_at=obs)
    root = tmp_path / "ds"
    if not written:
        with pytest.raises(InvalidPositions, match=r"row 0, column observed_at: lies outside"):
            write_partitioned(p, root)
        assert not root.exists() and list(tmp_path.iterdir()) == []  # nothing half-written
        return
    write_partitioned(p, root)
    files = sorted(root.rglob("*.parquet"))
    back: dict[str, Any] = {}
    for f in files:
        rows = pq.read_table(f).to_pylist()
        back |= {r["id"]: r["observed_at"] for r in rows}
        read_parquet(f)  # geotarget's reader takes it too
    want = None if stamp == "NaT" else np.datetime64(stamp, "us").item()
    got = back["a"]
    assert (got is None) == (want is None)
    if want is not None:
        assert got.replace(tzinfo=None) == want
