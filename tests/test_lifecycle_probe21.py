"""Message lifecycles across crashes, restarts and store files moved by an operator (probe 21).

A service process is killed (``SIGKILL``) while its SQLite store's write-ahead log still holds
everything written to it (SQLite copies the log into the database file only once it is large,
or at a clean close). An operator then moves or copies the database file without its ``-wal``
file, or starts a new service at the old path where only the ``-wal`` is left. The oracle is
what the killed process was answered (its devices claimed, its Cancel), kept by this file: the
store must either hold all of that or refuse to open, naming the file that holds it, and
change neither file; it must never open silently as a new, empty store (the Cancel would be
lost and the devices told never get their retractions).

And a chain arriving out of order: a text-only Update before its original, whose arrival
gives the current version its area (delivered by ``retarget()``, against pyproj distances).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import attrs
import pytest
from pyproj import Geod
from targeting_helpers import T0, exact_rules, make_alert, make_regions, ref, without_area

from geotarget import Circle, PositionIndex, Positions, pilot
from geotarget.alerts import MessageType, Reference
from geotarget.errors import StoreCorrupt, StoreUnavailable
from geotarget.ledger import DeliveryKind, MemoryLedger, PostgresLedger, SQLiteLedger
from geotarget.rollout import nationwide
from geotarget.targeting import Targeter, Verdict

INCIDENT = "polisen@polisen.se/P21"
CANCEL = "polisen@polisen.se/P21-C"

#: A child claims devices, cancels the incident, and is killed before any checkpoint.
KILLED_BEFORE_CHECKPOINT = textwrap.dedent(
    """
    import json, os, signal, sys
    from datetime import datetime, timedelta, timezone
    from geotarget.ledger import SQLiteLedger
    path, inc, cancel = sys.argv[1], sys.argv[2], sys.argv[3]
    at = datetime(2026, 5, 4, 12, 0, tzinfo=timezone.utc)
    store = SQLiteLedger(path)
    claims = store.claim(inc, [f"dev-{i}" for i in range(40)] + [7, 8], version=inc, at=at)
    store.confirm(claims.keys()[:10], at=at)
    back = store.retract(inc, version=cancel, at=at, lease=timedelta(minutes=1))
    print(json.dumps({"claimed": claims.devices.tolist(), "retract": back.devices.tolist()}),
          flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def killed_store(tmp_path: Path) -> tuple[Path, dict[str, list[str]]]:
    """A store whose writer was killed with all it wrote still in the ``-wal`` file."""
    path = tmp_path / "deliveries.db"
    done = subprocess.run(
        [sys.executable, "-c", KILLED_BEFORE_CHECKPOINT, str(path), INCIDENT, CANCEL],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == -9, done.stderr
    said = json.loads(done.stdout)
    assert Path(f"{path}-wal").stat().st_size > 0, "the log was copied: nothing to test"
    return path, said


def _holds_what_was_answered(path: Path, said: dict[str, list[str]]) -> None:
    """The store at ``path`` holds the killed writer's incident, cancelled, its retractions due."""
    claimed = sorted(said["claimed"])
    assert sorted(said["retract"]) == claimed  # (the child's own answer: everyone claimed)
    with SQLiteLedger(path) as store:
        inc = store.incident(INCIDENT)
        assert inc is not None and inc.state.name == "CANCELLED"
        assert sorted(store.recipients(INCIDENT).tolist()) == claimed
        later = dt.datetime(2026, 5, 4, 13, 0, tzinfo=dt.timezone.utc)
        due = store.redeliver(later)
        assert [c.kind for c in due] == [DeliveryKind.RETRACTION]
        assert sorted(due[0].devices.tolist()) == claimed
        assert {k.split(" ")[1] for k in due[0].keys().tolist()} == {CANCEL}


@pytest.mark.parametrize("how", ["moved", "removed", "emptied"])
def test_a_store_whose_file_is_gone_but_its_log_is_there_is_refused_naming_the_log(
    killed_store: tuple[Path, dict[str, list[str]]], how: str
) -> None:
    """The database file moved away, removed or emptied after a crash; its ``-wal`` left behind.

    A service restarted at the old path refused, naming the log and what to do, and neither
    makes a file there nor touches the log: put back, the store holds everything the killed
    process was answered. Before, it opened as a new, empty store and SQLite discarded the
    log, which held all of it: the incident, its claims and its Cancel gone, and the devices
    told never retracted.
    """
    path, said = killed_store
    kept = path.with_name("kept.db")
    shutil.copyfile(path, kept)
    if how == "moved":
        path.rename(path.with_name("moved.db"))
    elif how == "removed":
        path.unlink()
    else:
        path.write_bytes(b"")
    wal = Path(f"{path}-wal")
    before = _digest(wal)
    for _ in range(2):  # (a supervisor restarting it finds the same)
        with pytest.raises(StoreCorrupt) as found:
            SQLiteLedger(path)
        message = str(found.value)
        assert str(wal) in message and "without the database file" in message, message
        assert "Move the database file back beside it" in message, message
        assert "nothing was written" in message, message
    assert (path.exists() and path.stat().st_size) == (0 if how == "emptied" else False)
    assert _digest(wal) == before, "a refused open changed the log"

    kept.replace(path)  # put back beside its log
    _holds_what_was_answered(path, said)


def test_a_store_copied_with_its_log_opens_whole_and_so_does_the_original(
    killed_store: tuple[Path, dict[str, list[str]]],
) -> None:
    """``cp deliveries.db deliveries.db-wal`` to another name after a crash: both hold it all."""
    path, said = killed_store
    copy = path.with_name("copy.db")
    shutil.copyfile(path, copy)
    shutil.copyfile(f"{path}-wal", f"{copy}-wal")
    _holds_what_was_answered(copy, said)
    _holds_what_was_answered(path, said)


def test_a_new_store_opens_beside_a_log_of_only_a_header(tmp_path: Path) -> None:
    """A ``-wal`` of only its header holds nothing: the store is made there as new."""
    path = tmp_path / "new.db"
    Path(f"{path}-wal").write_bytes(b"\0" * 32)
    with SQLiteLedger(path) as store:
        assert store.load_active() == []
    with SQLiteLedger(path) as store:
        assert store.load_active() == []


# -- a text-only Update that arrives before its original ----------------------------------------


@pytest.mark.parametrize("store", ["memory", "sqlite", "postgres"])
def test_an_original_arriving_after_its_text_only_update_says_retarget_delivers_it(
    tmp_path: Path, store: str, request: pytest.FixtureRequest
) -> None:
    """Update (texts only, no area) first, then its Alert: the Alert's reason says what happens.

    The Update reaches nobody (no area known). The Alert, older, is ``SUPERSEDED`` and tells
    nobody itself; but the current version now keeps its area and ``retarget()`` delivers it.
    Before, the reason said only "superseded", which reads as nothing left to do. Its
    ``preview()`` says the same. The oracle: each device's geodesic distance to the centre.
    """
    ledger = (
        MemoryLedger()
        if store == "memory"
        else SQLiteLedger(tmp_path / "d.db")
        if store == "sqlite"
        else PostgresLedger(request.getfixturevalue("postgres_dsn"))
    )
    try:
        t = Targeter(make_regions(), nationwide("XX"), location_rules=exact_rules(), ledger=ledger)
        lon = [17.3 + 0.004 * i for i in range(8)]  # about 226 m apart, east of the centre
        snap = PositionIndex(
            Positions([f"d{i}" for i in range(8)], lon, [59.5] * 8, observed_at=T0)
        )
        minute = dt.timedelta(minutes=1)
        alert = make_alert("explosion", Circle(17.3, 59.5, 1000.0), ident="P21-A")
        update = without_area(
            make_alert(
                "explosion",
                Circle(17.3, 59.5, 1000.0),
                ident="P21-U",
                sent=T0 + minute,
                msg_type=MessageType.UPDATE,
                refs=(ref(alert),),
            )
        )
        assert t.target(update, snap, T0 + minute).verdict is Verdict.NO_AREA
        asked = t.preview(alert, snap, T0 + 2 * minute)
        got = t.target(alert, snap, T0 + 2 * minute)
        assert got.verdict is Verdict.SUPERSEDED and got.recipients.size == 0
        assert "it keeps this version's area" in got.reason, got.reason
        assert "retarget() delivers it" in got.reason, got.reason
        assert asked.reason == got.reason

        inside = {
            f"d{i}"
            for i, x in enumerate(lon)
            if Geod(ellps="WGS84").inv(17.3, 59.5, x, 59.5)[2] <= 1000.0
        }
        assert 0 < len(inside) < 8
        delivered = t.retarget(snap, T0 + 3 * minute)
        assert [r.alert_id for r in delivered] == ["P21-U"]
        assert set(delivered[0].recipients.tolist()) == inside
        assert t.retarget(snap, T0 + 4 * minute) == []
        # The original sent again (as a feed does) is older and says nothing more.
        again = t.target(alert, snap, T0 + 5 * minute)
        assert again.verdict is Verdict.SUPERSEDED and "retarget()" not in again.reason
    finally:
        ledger.close()


# -- target() past the file size limit, between its admission and its claim --------------------

#: A child: a Targeter over a SQLite store whose files may grow by enough for an admission but
#: not for the claim of 6,000 devices; then the limit is lifted.
CLAIM_PAST_LIMIT = textwrap.dedent(
    """
    import json, os, resource, signal, sys
    import datetime as dt
    sys.path.insert(0, sys.argv[2])
    from targeting_helpers import T0, exact_rules, make_alert, make_regions
    from geotarget import Circle, PositionIndex, Positions
    from geotarget.errors import StoreError
    from geotarget.ledger import SQLiteLedger
    from geotarget.rollout import nationwide
    from geotarget.targeting import Targeter
    path, minute = sys.argv[1], dt.timedelta(minutes=1)
    ids = [f"device-{i:05d}-with-an-id-as-long-as-a-push-token" for i in range(6000)]
    lon = [17.3 + 0.00004 * (i % 2000) for i in range(6000)]
    lat = [59.5 + 0.00001 * (i // 2000) for i in range(6000)]
    snap = PositionIndex(Positions(ids, lon, lat, observed_at=T0))
    t = Targeter(make_regions(), nationwide("XX"), location_rules=exact_rules(),
                 ledger=SQLiteLedger(path))
    wal = lambda: os.path.getsize(path + "-wal")
    t.target(make_alert("explosion", Circle(18.9, 59.9, 10.0), ident="W1"), snap, T0)
    before = wal()
    t.target(make_alert("explosion", Circle(18.9, 59.9, 10.0), ident="W2"), snap, T0)
    grows = wal() - before  # (an admission that claims nobody)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (wal() + 3 * grows + 8192, resource.RLIM_INFINITY))
    alert = make_alert("explosion", Circle(17.3, 59.5, 2000.0), ident="P21-F")
    said = {}
    try:
        t.target(alert, snap, T0 + minute)
    except StoreError as err:
        said["error"] = [type(err).__name__, str(err)]
    said["active"] = list(t.active_incidents)
    said["pending"] = sum(len(c) for c in t.ledger.pending("polisen@example.se/P21-F"))
    resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    said["retarget"] = [r.recipients.tolist() for r in t.retarget(snap, T0 + 2 * minute)]
    said["again"] = t.target(alert, snap, T0 + 3 * minute).recipients.tolist()
    t.ledger.close()
    print(json.dumps(said))
    """
)


@pytest.mark.skipif(os.name != "posix", reason="RLIMIT_FSIZE is POSIX")
def test_target_past_the_file_size_limit_after_its_admission_then_retarget_tells_everyone_once(
    tmp_path: Path,
) -> None:
    """The alert admitted, its claim past ``ulimit -f``: StoreFull saying so, then ``retarget()``.

    The error names the limit, says nothing of the claim was applied and that the alert was
    admitted (send it again, or call ``retarget()``); nobody is pending and the incident does
    not stream yet. Once the limit is lifted, ``retarget()`` tells every device of the area
    once (the oracle: pyproj), and the alert sent again tells nobody more.
    """
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            CLAIM_PAST_LIMIT,
            str(tmp_path / "d.db"),
            str(Path(__file__).parent),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    said = json.loads(done.stdout)
    name, message = said["error"]
    assert name == "StoreFull" and "ulimit -f" in message, message
    assert "nothing was applied (claiming its recipients)" in message, message
    assert "polisen@example.se/P21-F was admitted" in message and "retarget()" in message
    assert said["active"] == ["polisen@example.se/W1", "polisen@example.se/W2"]
    assert said["pending"] == 0
    geod = Geod(ellps="WGS84")
    inside = {
        f"device-{i:05d}-with-an-id-as-long-as-a-push-token"
        for i in range(6000)
        if geod.inv(17.3, 59.5, 17.3 + 0.00004 * (i % 2000), 59.5 + 0.00001 * (i // 2000))[2]
        <= 2000.0
    }
    assert 0 < len(inside) < 6000
    assert len(said["retarget"]) == 1 and sorted(said["retarget"][0]) == sorted(inside)
    assert said["again"] == []


def test_a_new_handle_where_an_open_store_s_file_was_removed_is_refused(tmp_path: Path) -> None:
    """The file removed (a clean-up job) while a process has the store open, its log in use.

    A second process starting at that path is refused, naming the log, rather than making a
    new database beside the first process's log; the first process's handle refuses to write
    to the file no restart would see.
    """
    path = tmp_path / "d.db"
    at = dt.datetime(2026, 5, 4, 12, 0, tzinfo=dt.timezone.utc)
    with SQLiteLedger(path) as first:
        first.claim(INCIDENT, ["a", "b"], version=INCIDENT, at=at)
        assert Path(f"{path}-wal").stat().st_size > 0
        path.unlink()
        with pytest.raises(StoreCorrupt, match="while a process had the store open"):
            SQLiteLedger(path)
        assert not path.exists()
        with pytest.raises(StoreUnavailable, match="removed or replaced"):
            first.claim(INCIDENT, ["c"], version=INCIDENT, at=at)


def test_the_service_says_its_redeliver_delivers_a_version_made_current_by_an_older_one(
    tmp_path: Path,
) -> None:
    """Through the reference service: the text-only Update, then its Alert, then /redeliver.

    The Alert's answer names the service's endpoint that delivers the Update (the library's
    reason names ``retarget()``, which the service calls at ``POST /redeliver``), and that
    call tells the devices inside the Alert's area, each once.
    """
    import re

    from service_helpers import service_module
    from starlette.testclient import TestClient

    from geotarget import cap

    service = service_module("app.py", "_geotarget_service_probe21")
    at = dt.datetime(2026, 5, 4, 21, 30, tzinfo=dt.timezone.utc)
    centre = (18.06528, 59.3325)
    msg = pilot.Message(headline="Explosionsrisk", description="Lämna.", area_description="Här")
    alert = pilot.explosion(
        identifier="P21-SA",
        sender="polisen@polisen.se",
        sent=at,
        area=Circle(*centre, 500.0),
        sv=msg,
        en=msg,
        onset=at,
        expires=at + dt.timedelta(hours=2),
    )
    update = attrs.evolve(
        alert,
        identifier="P21-SU",
        sent=at + dt.timedelta(minutes=1),
        msg_type=MessageType.UPDATE,
        references=(Reference(sender=alert.sender, identifier=alert.identifier, sent=at),),
    )
    text_only = re.sub(r"\s*<area>.*?</area>", "", cap.dumps(update), flags=re.S)
    # Devices 100 m apart east of the centre (pyproj puts them there), half within 500 m.
    geod = Geod(ellps="WGS84")
    spots = [geod.fwd(*centre, 90.0, 100.0 * i + 50.0)[:2] for i in range(10)]
    batch = {
        "ids": [f"p{i}" for i in range(10)],
        "lon": [x for x, _ in spots],
        "lat": [y for _, y in spots],
        "accuracy_m": [1.0] * 10,
        "observed_at": [at.isoformat()] * 10,
    }

    def q(minutes: int) -> dict[str, str]:
        return {"at": (at + dt.timedelta(minutes=minutes)).isoformat()}

    with TestClient(service.create_app(SQLiteLedger(tmp_path / "d.db"))) as client:
        assert client.post("/positions", params=q(1), json=batch).json() == {"deliveries": []}
        first = client.post("/alerts", params=q(2), content=text_only).json()
        assert first["verdict"] == "NO_AREA" and first["deliveries"] == []
        got = client.post("/alerts", params=q(3), content=cap.dumps(alert)).json()
        assert got["verdict"] == "SUPERSEDED" and got["deliveries"] == []
        assert got["reason"].endswith("(through this service: at the next POST /redeliver)")
        told = client.post("/redeliver", params=q(4)).json()["deliveries"]
        devices = [d["device"] for d in told]
        assert sorted(devices) == [f"p{i}" for i in range(5)]  # 50 .. 450 m
        assert {d["key"].split(" ")[1] for d in told} == {"polisen@polisen.se/P21-SU"}
        keys = {"keys": [d["key"] for d in told]}
        done = client.post("/confirm", params=q(4), json=keys).json()
        assert done == {"confirmed": 5, "already": 0, "unknown": 0}
        assert client.post("/redeliver", params=q(5)).json() == {"deliveries": []}
