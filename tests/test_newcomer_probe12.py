"""A newcomer's first hour, done literally (probe 12): their own alert, the design page, the map.

Followed as a backend engineer new to the project: the quickstart's command over an alert of
their own, the design page read against what the code does, the demo's map read against its
legend. What is pinned here is what was wrong: an alert whose event no rule knows was refused
without saying how to recognise it; the design page's data flow named a query the Targeter does
not make and left out the two it does; the map's delivered-alert dot at Stockholm had a colour
its legend did not explain.
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import io
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from geotarget import Circle, PositionIndex, Positions, pilot, sweden
from geotarget.cli import main
from geotarget.matcher import PositionIndex as MatcherIndex
from geotarget.targeting import Targeter

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "docs" / "examples"
AT = "2024-05-20T16:05+02:00"


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    out = io.StringIO()
    code = main(argv, out=out)
    return code, out.getvalue(), capsys.readouterr().err


def _own_alert(tmp_path: Path) -> Path:
    """The quickstart's Explosion, its event renamed as a newcomer's own system names it."""
    text = (EXAMPLES / "sos_explosion.xml").read_text(encoding="utf-8")
    own = tmp_path / "gas.xml"
    own.write_text(text.replace("<event>Explosion</event>", "<event>Gasläcka</event>"), "utf-8")
    return own


def _devices(tmp_path: Path) -> Path:
    csv = tmp_path / "devices.csv"
    csv.write_text(
        "id;lon;lat;accuracy_m;observed_at\n"
        "0701234567;18,06528;59,3325;8;2024-05-20T16:00:00+02:00\n"
        "0709876543;18,2;59,3325;8;1716213600\n",
        encoding="utf-8",
    )
    return csv


def _hint(text: str) -> str:
    """The sentence after the reason that says what to do (empty when there is none)."""
    found = re.search(r"changes nothing; (.*)$|\); (to [^\n]*)$", text, re.M)
    return "" if found is None else (found.group(1) or found.group(2))


def test_an_alert_whose_event_no_rule_knows_says_how_to_recognise_it_and_that_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``target`` and ``preview`` of an alert no rule knows say what to do; doing it delivers.

    A newcomer's own alert ("Gasläcka", say) was UNRECOGNISED_KIND, exit 4, with the rules
    that looked at it but no word of how to make one recognise it.
    """
    monkeypatch.chdir(tmp_path)
    alert, devices = _own_alert(tmp_path), _devices(tmp_path)
    code, _, err = _run(
        ["target", "--alert", str(alert), "--positions", str(devices), "--at", AT], capsys
    )
    assert code == 4
    hint = _hint(err)
    assert "[[recognition]]" in hint and "--policy" in hint, err
    # The file it names exists in a checkout, and doing what it says delivers the alert.
    named = re.search(r"docs/examples/\S+\.toml", hint)
    assert named is not None, hint
    policy = tmp_path / "mine.toml"
    shutil.copy(ROOT / named.group(0), policy)
    with policy.open("a", encoding="utf-8") as f:
        f.write('\n[[recognition]]\nname = "own:gas"\nkind = "explosion"\nevents = ["Gasläcka"]\n')
    argv = ["target", "--alert", str(alert), "--positions", str(devices), "--at", AT]
    code, out, err = _run([*argv, "--policy", str(policy)], capsys)
    assert code == 0, err
    assert '"verdict": "DELIVER"' in out and '"0701234567"' in out
    # preview says the same.
    code, out, _ = _run(["preview", str(alert)], capsys)
    assert code == 0
    assert "kind: unrecognised" in out
    assert "[[recognition]]" in _hint(out) and "--policy" in _hint(out), out


def test_a_recognised_alert_gets_no_recognition_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The hint is for an alert no rule recognises, not for every refusal or delivery."""
    devices = _devices(tmp_path)
    alert = EXAMPLES / "sos_explosion.xml"
    code, _, err = _run(
        ["target", "--alert", str(alert), "--positions", str(devices), "--at", AT], capsys
    )
    assert code == 0 and "[[recognition]]" not in err
    code, out, _ = _run(["preview", str(alert)], capsys)
    assert code == 0 and "[[recognition]]" not in out


def _data_flow() -> str:
    text = (ROOT / "docs" / "design.rst").read_text(encoding="utf-8")
    return text.split("Data flow\n---------\n", 1)[1].split("\nThe contract\n", 1)[0]


def test_the_design_data_flow_names_the_index_methods_the_targeter_calls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The ``PositionIndex`` methods the design's data flow names are those a Targeter calls.

    The page showed ``PositionIndex.query(effective area)`` alone; the Targeter classifies the
    fixes near the area (``classify``) and queries the area grown by the stale margin.
    """
    named = set(re.findall(r"PositionIndex\.(\w+)\(", _data_flow()))
    called: set[str] = set()
    for method in ("query", "count", "classify"):
        original = getattr(MatcherIndex, method)

        def spy(self: Any, *args: Any, _m: str = method, _f: Any = original, **kw: Any) -> Any:
            called.add(_m)
            return _f(self, *args, **kw)

        monkeypatch.setattr(MatcherIndex, method, spy)
    at = dt.datetime(2024, 5, 20, 14, 5, tzinfo=dt.timezone.utc)
    old = at - dt.timedelta(hours=3)  # a stale fix: the Explosion's rules still look at it
    positions = Positions(
        ["near", "old", "far"],
        [18.06528, 18.0660, 18.2],
        [59.3325, 59.3330, 59.3325],
        accuracy_m=[8.0, 8.0, 8.0],
        observed_at=[at, old, at],
    )
    alert = pilot.explosion(
        identifier="probe12",
        sender="polisen@polisen.se",
        sent=at,
        area=Circle(18.06528, 59.3325, 500.0),
        sv=pilot.Message(headline="Explosion", description="Explosion.", area_description="C"),
        en=pilot.Message(headline="Explosion", description="Explosion.", area_description="C"),
        onset=at,
        expires=at + dt.timedelta(hours=2),
    )
    targeter = Targeter(sweden.hierarchy(), sweden.pilot_policy())
    result = targeter.target(alert, PositionIndex(positions), at)
    assert sorted(result.recipients.tolist()) == ["near", "old"]
    assert called and named == called, (named, called)


def test_the_design_table_names_the_public_modules_that_use_the_matcher_internals() -> None:
    """The ``_index`` row names every public module that imports ``geotarget._index``.

    It said "``matcher`` only", but ``areas`` and ``targeting`` import it too (found here by
    reading every module's imports).
    """
    users = set()
    for path in (ROOT / "geotarget").rglob("*.py"):
        rel = path.relative_to(ROOT / "geotarget")
        if rel.parts[0] == "_index" or rel.parts[0].startswith("_"):
            continue  # the package itself, and private modules
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "geotarget._index"
            ):
                users.add(rel.parts[0].removesuffix(".py"))
    row = next(
        line
        for line in (ROOT / "docs" / "design.rst").read_text(encoding="utf-8").splitlines()
        if line.startswith("``_index``")
    )
    assert users >= {"matcher"}
    assert set(re.findall(r"``(\w+)``", row.split("polygon data", 1)[1])) >= users, row


def test_every_dot_on_the_demo_map_s_country_panel_is_in_its_legend() -> None:
    """Each marker the country panel draws has the marker and colour of a legend entry.

    The delivered dots took each alert's colour while the legend's one "alert delivered" entry
    was the Explosion's red: at Stockholm the tip request's blue dot lay over it, a dot the
    legend did not explain.
    """
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    from matplotlib.colors import to_hex

    from geotarget import _demo, _plot
    from geotarget.ledger import MemoryLedger

    args = argparse.Namespace(devices=3000, seed=2024, plot=None, ledger=None)
    stage, story = _demo.play(_demo.Out(io.StringIO()), args, MemoryLedger())
    fig = _plot.pilot_figure(**_demo.map_args(stage, story))
    try:
        country = fig.axes[0]
        legend = country.get_legend()
        assert legend is not None
        explained = {
            (h.get_marker(), to_hex(h.get_color()))
            for h in legend.legend_handles
            if hasattr(h, "get_marker") and h.get_marker() not in (None, "None", "")
        }
        drawn = {
            (line.get_marker(), to_hex(line.get_color()))
            for line in country.get_lines()
            if line.get_marker() not in (None, "None", "")
        }
        assert len(drawn) >= 2  # delivered and blocked alerts are drawn
        assert drawn <= explained, (drawn, explained)
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)


def _dask_snippet() -> str:
    text = (ROOT / "docs" / "dask.rst").read_text(encoding="utf-8")
    block = text.split("Using it\n--------\n\n.. code-block:: python\n\n", 1)[1]
    lines = []
    for line in block.splitlines():
        if line and not line.startswith("    "):
            break
        lines.append(line[4:])
    return "\n".join(lines)


def test_the_dask_page_s_targeter_delivers_the_guide_s_explosion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dask page's code, run on a local cluster, delivers the integrator's guide's Explosion.

    It built its Targeter from the regions and a rollout alone: without recognition rules only
    a ``geotarget:kind`` event code names a kind, so SOS Alarm's "Explosion"
    (``docs/examples/sos_explosion.xml``) was UNRECOGNISED_KIND and reached nobody.
    """
    distributed = pytest.importorskip("distributed")
    pytest.importorskip("pyarrow")
    from geotarget import cap, ledger

    at = dt.datetime(2024, 5, 20, 14, 5, tzinfo=dt.timezone.utc)
    positions = Positions(
        ["phone-1", "phone-2"],
        [18.06528, 18.2],
        [59.3325, 59.3325],
        accuracy_m=[8.0, 8.0],
        observed_at=at,
    )
    alert = cap.read((EXAMPLES / "sos_explosion.xml").read_bytes()).alert
    clients: list[Any] = []
    real = distributed.Client

    def local_client() -> Any:  # the page's scheduler: one in this process
        cluster = distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0"
        )
        clients.append(cluster)
        client = real(cluster, set_as_default=False)
        clients.append(client)
        return client

    monkeypatch.setattr(ledger, "PostgresLedger", lambda dsn: ledger.MemoryLedger())
    monkeypatch.chdir(ROOT)  # the page's relative paths are a checkout's
    code = _dask_snippet()
    assert 'Client("tcp://scheduler:8786")' in code and '"/data/positions"' in code
    code = code.replace('Client("tcp://scheduler:8786")', "local_client()")
    code = code.replace('"/data/positions"', repr(str(tmp_path / "positions")))
    namespace: dict[str, Any] = {
        "positions": positions,
        "alert": alert,
        "at": at,
        "batch": positions,
        "dsn": "postgresql:///alerts",
        "local_client": local_client,
        "policy": sweden.pilot_policy(),  # what a reader of the old page would pass
    }
    try:
        exec(compile(code, "docs/dask.rst", "exec"), namespace)
    finally:
        for opened in reversed(clients):
            opened.close()
    result = namespace["result"]
    assert result.verdict.value == "DELIVER", result.reason
    assert result.recipients.tolist() == ["phone-1"]


def test_the_readme_lists_every_page_of_the_docs() -> None:
    """The README's list of what the docs hold names every page of the guide's table of contents.

    It left out four of fifteen: the demo, who is told and why, delivery and Dask.
    """
    index = (ROOT / "docs" / "index.rst").read_text(encoding="utf-8")
    guide = index.split(":caption: Guide", 1)[1].split(".. toctree::", 1)[0]
    pages = [line.strip() for line in guide.splitlines()[1:] if line.strip()]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    listed = " ".join(readme.split("Documentation lives in `docs/`", 1)[1].split(". ")[0].split())
    missing = []
    for page in pages:
        title = (ROOT / "docs" / f"{page}.rst").read_text(encoding="utf-8").splitlines()[0]
        words = set(re.findall(r"[a-z]{3,}", title.lower())) - {"and", "the", "who", "why", "one"}
        if not any(re.search(rf"\b{w}\b", listed.lower()) for w in words):
            missing.append(title)
    assert len(pages) >= 15 and missing == [], missing


def test_the_target_help_says_how_far_rounding_moves_a_fix_in_sweden(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The help's distances are half a grid cell's diagonal at Sweden's southern end (pyproj).

    It said "about 60 m at 0.001 degrees, 600 m at 0.01"; the gotchas page, and the geodesic
    half-diagonal at Smygehuk (lat 55.337), say 64 m and 640 m.
    """
    import pyproj

    with pytest.raises(SystemExit):
        main(["target", "--help"], out=io.StringIO())
    text = " ".join(capsys.readouterr().out.split())
    found = re.search(r"about (\d+) m at 0\.001 degrees, (\d+) m at 0\.01\)", text)
    assert found is not None, text
    geod = pyproj.Geod(ellps="WGS84")
    for said, step in zip(found.groups(), (0.001, 0.01), strict=True):
        half = geod.inv(13.0, 55.337, 13.0 + step, 55.337 + step)[2] / 2
        assert abs(int(said) - half) <= 0.01 * half, (said, half)


def test_the_delivery_page_sends_the_reader_to_the_page_with_the_incident_rules() -> None:
    """The page the delivery page names for the rules ``admit`` applies states those rules.

    It named the alerts page, which describes the alert model: an incident's identity, its
    current version and the remembered Cancel are on "Who is told, and why".
    """
    text = " ".join((ROOT / "docs" / "delivery.rst").read_text(encoding="utf-8").split())
    found = re.search(r"DeliveryLedger\.admit` applies .*? with the rules of :doc:`(\w+)`", text)
    assert found is not None
    target = (ROOT / "docs" / f"{found.group(1)}.rst").read_text(encoding="utf-8")
    target = " ".join(target.split())
    # The rules the sentence lists, as the page it names must state them.
    assert "identified by ``(sender, identifier)``" in target
    assert "*current version*" in target
    assert "*remembered*" in target


_WHERE_BUILT = """
import argparse, io, sys, time
from geotarget import _demo, _locate
from geotarget.ledger import MemoryLedger
from geotarget.targeting import Targeter

built, now = [], ["set-up"]
build, target = _locate.build, Targeter.target

def slow_build(*args, **kwargs):  # a build 0.3 s slower: it dominates its call (~1 ms besides)
    built.append(now[0])
    time.sleep(0.3)
    return build(*args, **kwargs)

def spied(self, alert, *args, **kwargs):
    now[0] = alert.identifier
    try:
        return target(self, alert, *args, **kwargs)
    finally:
        now[0] = "between"

_locate.build, Targeter.target = slow_build, spied
out = io.StringIO()
args = argparse.Namespace(devices=int(sys.argv[1]), seed=2024, plot=None, ledger=None)
_demo.play(_demo.Out(out), args, MemoryLedger())
print(" ".join(built))
print(out.getvalue())
"""

#: The alerts of the demo's scenes that print their timings, by identifier.
_SCENES = {"SE-POL-2024-0001": "1", "SE-POL-2024-0002": "2", "SE-POL-2024-0004": "5"}


@pytest.mark.parametrize("devices", [0, 2000])
def test_the_demo_explains_the_one_off_build_in_the_scene_that_made_it(devices: int) -> None:
    """The note on the region lookups' one-off build follows the alert whose call built one.

    With 2,000 devices nobody is in the first Explosion, the per-county count of the Update is
    the first to need the county lookup, and its half second went unexplained ("other 535 ms"
    beside a match of 0.4 ms) while the note was said of the first alert only.
    """
    done = subprocess.run(
        [sys.executable, "-c", _WHERE_BUILT, str(devices)],
        capture_output=True, text=True, encoding="utf-8", timeout=300, check=True,
    )  # fmt: skip
    first, printed = done.stdout.split("\n", 1)
    during = {_SCENES[who] for who in first.split() if who in _SCENES}
    assert during, first  # some alert of these runs builds a lookup
    noted = set()
    for scene in re.split(r"\n(?=\d\. )", printed)[1:]:
        if "builds the region lookups once" in scene:
            noted.add(scene[0])
    assert noted == during, (first, printed)


def test_the_areas_page_s_dashed_buffer_stands_out_from_the_dots_it_encloses() -> None:
    """The dashed degree buffer the areas page points at is drawn over the dots in another colour.

    It was drawn in the missed devices' magenta along the very edge where those dots crowd, so
    the "(dashed)" outline the page names could not be seen.
    """
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import importlib.util

    import matplotlib.pyplot as plt
    from matplotlib.colors import to_hex

    path = ROOT / "docs" / "_scripts" / "areas_circle.py"
    spec = importlib.util.spec_from_file_location("_probe12_areas_circle", path)
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    fig = script.figure()
    try:
        (ax,) = fig.axes
        dashed = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
        assert len(dashed) == 1
        dots = ax.collections
        dot_colours = {to_hex(c) for dots_ in dots for c in dots_.get_facecolors()}
        assert to_hex(dashed[0].get_color()) not in dot_colours
        assert all(dashed[0].get_zorder() > d.get_zorder() for d in dots)
    finally:
        plt.close(fig)
