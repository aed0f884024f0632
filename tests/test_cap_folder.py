"""Every document in ../shared/data/cap, whatever it holds: a result or a precise InvalidCAP.

The other shared-data CAP tests go by the folder's MANIFEST.csv; these go by the folder itself,
so a document added without a manifest row is still read through every door: ``cap.loads``,
``cap.loads_lenient``, ``Targeter.receive`` (as sent, and relabelled as an Explosion so that it
reaches recognition, the rollout and the matcher at its own time) and the command's ``preview``
and ``target``. Nothing may escape but an :class:`~geotarget.errors.InvalidCAP` naming its
problems.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import re
from pathlib import Path

import pytest
from conftest import SHARED_DATA

from geotarget import PositionIndex, Positions, Targeter, cap, pilot, sweden
from geotarget.cli import main
from geotarget.errors import InvalidCAP
from geotarget.targeting import TargetingResult

#: The folder's documents at collection time; when the folder is missing, one placeholder
#: case that asks for the ``shared_data`` fixture (which fails in CI and skips locally).
MISSING = "(folder missing)"
DOCUMENTS = sorted(p.name for p in (SHARED_DATA / "cap").glob("*.xml")) or [MISSING]

AT = dt.datetime(2024, 5, 20, 14, 5, tzinfo=dt.timezone.utc)


def _document(shared_data: Path, name: str) -> bytes:
    assert name != MISSING, f"no CAP documents in {shared_data / 'cap'}"
    return (shared_data / "cap" / name).read_bytes()


def _index(at: dt.datetime) -> PositionIndex:
    # Sergels torg and Göteborg: the document areas lie elsewhere, which is the point.
    positions = Positions(
        ["a", "b"], [18.06528, 11.97333], [59.3325, 57.70889], accuracy_m=[8.0, 8.0], observed_at=at
    )
    return PositionIndex(positions)


def _invalid(err: InvalidCAP) -> None:
    """An InvalidCAP names at least one problem, each with its rule."""
    assert err.problems, str(err)
    assert all(p.message for p in err.problems), str(err)


@pytest.mark.shared_data
@pytest.mark.parametrize("name", DOCUMENTS)
def test_every_document_reads_or_is_refused_precisely(shared_data: Path, name: str) -> None:
    """``loads`` and ``loads_lenient``: an Alert, or InvalidCAP with its problems."""
    data = _document(shared_data, name)
    try:
        alert = cap.loads(data)
    except InvalidCAP as err:
        _invalid(err)
    else:
        assert cap.loads(cap.dumps(alert)) == alert
    try:
        parsed = cap.loads_lenient(data)
    except InvalidCAP as err:
        _invalid(err)
    else:
        assert cap.loads(cap.dumps(parsed.alert)) == parsed.alert


@pytest.mark.shared_data
@pytest.mark.parametrize("name", DOCUMENTS)
def test_every_document_goes_through_receive(shared_data: Path, name: str) -> None:
    """``receive``, as sent and relabelled Explosion at its own sent time: a result or InvalidCAP."""
    data = _document(shared_data, name)
    explosion = re.sub(rb"<event>[^<]*</event>", b"<event>Explosion</event>", data)
    regions = sweden.hierarchy()
    for doc in (data, explosion):
        try:
            at = cap.loads(doc).sent + dt.timedelta(minutes=1)
        except InvalidCAP:
            at = AT
        targeter = Targeter(regions, sweden.pilot_policy(), recognition=pilot.RECOGNITION)
        try:
            result = targeter.receive(doc, _index(at), at)
        except InvalidCAP as err:
            _invalid(err)
            continue
        assert isinstance(result, TargetingResult)
        assert result.reason
        # No document in the folder is Swedish: nobody in Stockholm or Göteborg is told.
        assert result.recipients.size == 0, (name, result.reason)


@pytest.mark.shared_data
@pytest.mark.parametrize("name", DOCUMENTS)
def test_every_document_through_the_command(shared_data: Path, name: str, tmp_path: Path) -> None:
    """``preview`` and ``target``: exit 0, 2 (one line) or 4 (refused), never a traceback."""
    data = _document(shared_data, name)
    alert = tmp_path / name
    alert.write_bytes(data)
    positions = tmp_path / "positions.csv"
    positions.write_text("id,lon,lat,observed_at\na,18.06528,59.3325,2024-05-20T14:00:00Z\n")
    for argv in (
        ["preview", str(alert)],
        ["target", "--alert", str(alert), "--positions", str(positions), "--at", AT.isoformat()],
    ):
        out, err = io.StringIO(), io.StringIO()
        code: object
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(argv)
        except SystemExit as exit_:
            code = exit_.code
        assert code in (0, 2, 4), (argv[0], code, err.getvalue())
        assert "Traceback" not in err.getvalue()
        if code == 2:
            lines = err.getvalue().strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith(f"geotarget {argv[0]}: "), lines
