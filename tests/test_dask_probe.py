"""Datasets as other tools write them, against an oracle that reads every file with pyarrow.

The oracle applies the documented rules directly: a device with a fix whose point lies within
the alert circle by ``pyproj.Geod.inv`` (fixes exact: ``accuracy=0``, no stale rule) and on the
enabled territory (the test country's box, by shapely) receives an Explosion; the answer is the
set of ids. The cluster is the shared ``client`` fixture (a ``LocalCluster`` of two worker
processes): it fails in CI (``CI=true``) and skips locally only when it cannot start.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from targeting_helpers import T0, exact_rules, make_alert, make_regions, policy

from geotarget import Circle, Positions
from geotarget.alerts import Status
from geotarget.targeting import Targeter

if os.environ.get("CI") != "true":  # in CI a missing extra fails at the import below
    pytest.importorskip("distributed", reason="the dask extra is not installed")
    pytest.importorskip("pyarrow", reason="the dask extra is not installed")
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from geotarget.dask import DaskTargeter, PartitionedPositions, write_partitioned
from geotarget.errors import InvalidInput, InvalidPositions

CENTRE = (18.0, 59.5)
RADIUS_M = 3000.0


def _targeter() -> Targeter:
    start = T0 - dt.timedelta(days=1)
    return Targeter(
        make_regions(),
        policy({"explosion": [(start, ("XX",))]}),
        location_rules=exact_rules(),
    )


def _devices(n: int = 600, *, seed: int = 3) -> pa.Table:
    """Fresh fixes around the centre, text ids, a tester in ten, and a ``region`` column."""
    rng = np.random.default_rng(seed)
    lon = rng.uniform(17.95, 18.05, n)
    lat = rng.uniform(59.47, 59.53, n)
    ages = rng.integers(0, 3600, n).astype("timedelta64[s]")
    observed = np.datetime64(T0.replace(tzinfo=None), "us") - ages
    return pa.table(
        {
            "id": [f"d{i}" for i in range(n)],
            "lon": lon,
            "lat": lat,
            "accuracy_m": rng.choice([0.0, 10.0, 50.0], n),
            "observed_at": pa.array(observed, pa.timestamp("us", tz="UTC")),
            "tester": rng.random(n) < 0.1,
            "region": np.where(lon < 18.0, "0102", "0201"),
        }
    )


def _oracle(root: Path, *, testers_only: bool = False) -> set[Any]:
    """The ids an Explosion around CENTRE reaches: every file read with pyarrow, by Geod.inv."""
    import shapely
    from pyproj import Geod

    ids: list[Any] = []
    lon: list[float] = []
    lat: list[float] = []
    tester: list[bool] = []
    seen: set[str] = set()  # real paths: a link to an ancestor is walked once
    for dirpath, dirs, files in os.walk(root, followlinks=True):
        if os.path.realpath(dirpath) in seen:
            dirs[:] = []
            continue
        seen.add(os.path.realpath(dirpath))
        dirs[:] = [d for d in dirs if not d.startswith((".", "_"))]
        for name in files:
            if name.endswith(".parquet") and not name.startswith((".", "_")):
                t = pq.read_table(os.path.join(dirpath, name))
                ids += t.column("id").to_pylist()
                lon += [np.nan if v is None else v for v in t.column("lon").to_pylist()]
                lat += [np.nan if v is None else v for v in t.column("lat").to_pylist()]
                tester += (
                    t.column("tester").to_pylist()
                    if "tester" in t.column_names
                    else [False] * t.num_rows
                )
    lon_a, lat_a = np.array(lon, dtype=float), np.array(lat, dtype=float)
    fix = ~np.isnan(lon_a)
    _, _, dist = Geod(ellps="WGS84").inv(
        np.full(fix.sum(), CENTRE[0]), np.full(fix.sum(), CENTRE[1]), lon_a[fix], lat_a[fix]
    )
    country = shapely.box(17.0, 59.0, 19.0, 60.0)
    on_land = shapely.covers(country, shapely.points(lon_a[fix], lat_a[fix]))
    reached = np.zeros(len(ids), dtype=bool)
    reached[fix] = (dist <= RADIUS_M) & on_land
    if testers_only:
        reached &= np.array(tester, dtype=bool)
    return {i for i, r in zip(ids, reached.tolist(), strict=True) if r}


def _target(client: Any, root: Path, ident: str, **kw: Any) -> set[Any]:
    dk = DaskTargeter(_targeter(), PartitionedPositions(root), client)
    alert = make_alert("explosion", Circle(*CENTRE, RADIUS_M), ident=ident, **kw)
    return set(dk.target(alert, T0).recipients.tolist())


def _retyped(t: pa.Table, column: str, type_: Any) -> pa.Table:
    return t.set_column(t.column_names.index(column), column, t.column(column).cast(type_))


def test_datasets_other_tools_write_give_the_oracles_answer(client: Any, tmp_path: Path) -> None:
    """pandas, pyarrow and dask.dataframe layouts, with the schemas real writers vary.

    Hive directories of a column that is not a position column (``region=0102``),
    ``_metadata``/``_common_metadata`` (dask, and a stale one), Spark's ``_SUCCESS``, ``.crc``
    files, ``.DS_Store``; float32 degrees, timestamps in other units and zones, dictionary and
    large-string ids, a zero-row file, row groups of one row, null coordinates (no fix).
    """
    import dask.dataframe as dd

    table = _devices()
    frame = table.to_pandas()
    done: list[str] = []

    def check(root: Path) -> None:
        want = _oracle(root)
        assert want  # the circle reaches devices in every layout
        assert _target(client, root, f"e{len(done)}") == want, root.name
        done.append(root.name)

    frame.to_parquet(tmp_path / "pandas", partition_cols=["region"])
    check(tmp_path / "pandas")
    pads.write_dataset(
        table, tmp_path / "pyarrow", format="parquet", partitioning=["region"],
        partitioning_flavor="hive",
    )  # fmt: skip
    check(tmp_path / "pyarrow")
    parted = dd.from_pandas(frame, npartitions=3)  # type: ignore[no-untyped-call]
    parted.to_parquet(tmp_path / "dask", partition_on=["region"], write_metadata_file=True)
    assert (tmp_path / "dask" / "_metadata").exists()
    check(tmp_path / "dask")

    a, b, c = table.slice(0, 200), table.slice(200, 200), table.slice(400)

    def no_fix(column: str) -> pa.Array:  # every seventh device without a fix
        values = b[column].to_pylist()
        return pa.array([None if i % 7 == 0 else v for i, v in enumerate(values)], pa.float64())

    mixed = tmp_path / "mixed"
    for i, part in enumerate(
        [
            _retyped(_retyped(a, "lon", pa.float32()), "id", pa.dictionary(pa.int32(), pa.string())),
            _retyped(b, "observed_at", pa.timestamp("ms", tz="Europe/Stockholm"))
            .set_column(1, "lon", no_fix("lon"))
            .set_column(2, "lat", no_fix("lat")),
            _retyped(_retyped(c, "observed_at", pa.timestamp("ns", tz="+02:00")), "id",
                     pa.large_string()),
            a.slice(0, 0),
        ]
    ):  # fmt: skip
        (mixed / f"part={i}").mkdir(parents=True)
        pq.write_table(part, mixed / f"part={i}" / "data.parquet", row_group_size=1 if i else None)
    pq.write_metadata(a.slice(0, 0).drop_columns(["tester"]).schema, mixed / "_common_metadata")
    for stray in ("_SUCCESS", ".DS_Store", "part=0/.data.parquet.crc", "part=1/data.parquet.crc"):
        (mixed / stray).write_bytes(b"not parquet")
    check(mixed)
    assert done == ["pandas", "pyarrow", "dask", "mixed"]


@pytest.mark.parametrize("writer", ["pandas", "pyarrow", "dask"])
def test_a_hive_directory_naming_a_column_the_files_lack_is_refused(
    client: Any, tmp_path: Path, writer: str
) -> None:
    """``partition_cols=["tester"]`` moves the column into directory names (``tester=true/``).

    The files were read without it: every device a non-tester, and a TEST alert reached nobody
    without a word (the oracle finds the testers in the circle). Now the dataset is refused,
    naming the file and the key.
    """
    import dask.dataframe as dd

    table = _devices().drop_columns(["region"])
    root = tmp_path / writer
    if writer == "pandas":
        table.to_pandas().to_parquet(root, partition_cols=["tester"])
    elif writer == "pyarrow":
        pads.write_dataset(
            table, root, format="parquet", partitioning=["tester"], partitioning_flavor="hive"
        )
    else:
        frame = dd.from_pandas(table.to_pandas(), npartitions=2)  # type: ignore[no-untyped-call]
        frame.to_parquet(root, partition_on=["tester"])
    assert _oracle(tmp_path / writer, testers_only=True) == set()  # the oracle is fooled too
    with pytest.raises(InvalidInput, match=r"tester=.*: lacks column\(s\) tester, .*tester=\)"):
        PartitionedPositions(root)
    # One branch opened as the dataset: its own name is the key.
    branch = next(p for p in root.iterdir() if p.name.startswith("tester="))
    with pytest.raises(InvalidInput, match=r"lacks column\(s\) tester"):
        PartitionedPositions(branch)
    # Files that hold the column under such a directory are read (their values rule).
    kept = tmp_path / "kept" / "tester=true"
    kept.mkdir(parents=True)
    pq.write_table(table, kept / "data.parquet")
    testers = {
        i for i, t in zip(table["id"].to_pylist(), table["tester"].to_pylist(), strict=True) if t
    }
    want = _oracle(tmp_path / "kept") & testers
    assert want
    assert _target(client, tmp_path / "kept", "t1", status=Status.TEST) == want


def test_a_file_replaced_with_its_size_and_mtime_kept_is_read_again(
    client: Any, tmp_path: Path
) -> None:
    """``rsync -a``, ``cp -p``: a new file of the same size, its source's mtime kept.

    The resident index was keyed by (size, mtime) alone: the old devices kept being told.
    """
    root = tmp_path / "ds"
    (root / "cell=1").mkdir(parents=True)
    path = root / "cell=1" / "part-0.parquet"

    def write(target: Path, lon: list[float]) -> None:
        table = pa.table(
            {
                "id": ["a", "b"],
                "lon": lon,
                "lat": [59.5, 59.5],
                "accuracy_m": [0.0, 0.0],
                "observed_at": pa.array([T0, T0], pa.timestamp("us", tz="UTC")),
            }
        )  # plain, uncompressed, no statistics: the same size whatever the values
        pq.write_table(
            table, target, compression="none", use_dictionary=False, write_statistics=False
        )

    write(path, [18.0, 18.5])
    before = os.stat(path)
    dk = DaskTargeter(_targeter(), PartitionedPositions(root, recheck_s=0), client)
    circle = Circle(*CENTRE, 1000.0)
    assert dk.target(make_alert("explosion", circle, ident="m1"), T0).recipients.tolist() == ["a"]
    for step in ("renamed onto", "rewritten in place"):
        lon = [18.5, 18.0] if step == "renamed onto" else [18.0, 18.5]
        fresh = root / "cell=1" / ".part-0.parquet.tmp" if step == "renamed onto" else path
        write(fresh, lon)
        os.utime(fresh, ns=(before.st_atime_ns, before.st_mtime_ns))
        os.replace(fresh, path)
        after = os.stat(path)
        assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
        want = _oracle(root)
        assert want == ({"b"} if step == "renamed onto" else {"a"})
        got = dk.target(make_alert("explosion", circle, ident=f"m-{step[:3]}"), T0)
        assert set(got.recipients.tolist()) == want, step


def test_ids_of_two_types_name_a_file_of_each(client: Any, tmp_path: Path) -> None:
    """Ids that are text in one file and integers in another: the error names both files."""
    for name, ids in (("text", ["7", "8"]), ("ints", [7, 9])):
        (tmp_path / "ds" / f"src={name}").mkdir(parents=True)
        pq.write_table(
            pa.table(
                {
                    "id": ids,
                    "lon": [18.0, 18.001],
                    "lat": [59.5, 59.5],
                    "accuracy_m": [0.0, 0.0],
                    "observed_at": pa.array([T0, T0], pa.timestamp("us", tz="UTC")),
                }
            ),
            tmp_path / "ds" / f"src={name}" / "part.parquet",
        )
    with pytest.raises(
        InvalidPositions,
        match=r"all str or all int .*: src=ints/part\.parquet holds integers and "
        r"src=text/part\.parquet holds text$",
    ):
        _target(client, tmp_path / "ds", "i1")


def test_index_task_keys_do_not_name_the_files(client: Any, tmp_path: Path) -> None:
    """The scheduler logs the keys of the tasks a dead worker took with it.

    They named the partition file, and on a fine grid a cell's name is almost the position of
    the devices in it (``cell=<Morton code>``).
    """
    one = Positions(["0701234567"], [18.065281], [59.332512], observed_at=T0, accuracy_m=[5.0])
    ds = write_partitioned(one, tmp_path / "ds", cell_deg=1e-4)
    (part,) = ds.partitions
    dk = DaskTargeter(_targeter(), ds, client)
    dk.warm()
    keys = [str(f.key) for _, f in dk._futures.values()]
    assert keys
    for key in keys:
        assert part.path.parent.name not in key and str(tmp_path) not in key


def test_a_symbolic_link_to_a_partition_directory_is_followed(client: Any, tmp_path: Path) -> None:
    """A partition directory linked from another store is part of the dataset.

    Links to directories were not followed: a dataset with one of its two partitions linked
    in gave the answer over the other one alone, without a word (``pyarrow.dataset`` reads
    both). A link to an ancestor lists nothing twice; a link to nothing is refused, naming it.
    """
    _devices().to_pandas().to_parquet(tmp_path / "store", partition_cols=["region"])
    root = tmp_path / "ds"
    root.mkdir()
    (tmp_path / "store" / "region=0102").rename(root / "region=0102")
    (root / "region=0201").symlink_to(tmp_path / "store" / "region=0201")
    assert pads.dataset(root, format="parquet").count_rows() == 600
    (root / "region=0201" / "loop").symlink_to(root)  # a cycle: listed once
    want = _oracle(root)
    assert {i for i in want if i in _oracle(tmp_path / "store")}  # the linked one counts
    assert _target(client, root, "s1") == want
    assert len(PartitionedPositions(root)) == 2
    (root / "alias").symlink_to(root / "region=0102")  # a directory linked twice: listed once
    assert len(PartitionedPositions(root)) == 2

    (root / "region=0300").symlink_to(tmp_path / "unmounted")
    with pytest.raises(InvalidInput, match=r"ds/region=0300: a symbolic link to a missing"):
        PartitionedPositions(root)


def test_a_file_replaced_while_a_worker_reads_it_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replaced with its size and mtime kept while read: pyarrow may have read both versions.

    (What a worker runs, called in this process.) The worker compares its own stat of the file
    before and after the read in full, inode and change time included; against the listing
    it compares size and mtime only, since a worker on another machine reads its own copy.
    """
    import geotarget.dask as gd

    lon, lat = np.array([18.0, 18.1]), np.array([59.0, 59.1])
    ds = write_partitioned(Positions(["a", "b"], lon, lat, observed_at=T0), tmp_path / "ds")
    (part,) = ds.partitions
    before = os.stat(part.path)
    read = gd.read_table  # type: ignore[attr-defined]

    def read_then_replace(path: Path, name: str | None = None) -> Any:
        table = read(path, name)
        copy = path.with_name(".copy.parquet")
        copy.write_bytes(path.read_bytes())  # the same size
        os.utime(copy, ns=(before.st_atime_ns, before.st_mtime_ns))
        os.replace(copy, path)
        return table

    monkeypatch.setattr(gd, "read_table", read_then_replace)
    got = gd._load(str(part.path), part.stamp)
    assert isinstance(got, gd._Refused)
    assert got.message.endswith("changed while it was read; list the dataset again")
