"""Private: ``geotarget demo``, the Swedish Police pilot told as a story in scenes.

Each scene is one function that prints what happens and why, in words a backend engineer
follows: region names beside codes, the tip channels, what each count means, why counts change
between scenes and why a blocked alert reaches nobody. The scenes share one :class:`Stage`
(the service's set-up) and one :class:`Story` (the alerts and what they did), which
:func:`geotarget._plot.pilot_map` draws at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import re
import shutil
import signal
import textwrap
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TextIO, TypeVar

import attrs
import numpy as np

from geotarget.alerts import Alert, MessageType, Reference
from geotarget.areas import Circle
from geotarget.errors import InvalidInput
from geotarget.matcher import PositionIndex
from geotarget.positions import Positions
from geotarget.regions import RegionHierarchy
from geotarget.rollout import RolloutPolicy
from geotarget.targeting import Outcome, Targeter, TargetingResult, Verdict

T = TypeVar("T")

#: A control character (C0, DEL, C1), a line or paragraph separator, or a control of writing
#: direction (an embedding, override or isolate: U+202A..U+202E, U+2066..U+2069): in a file's
#: name or a document's text, it would break a line or forge one, drive the terminal (U+009B
#: is CSI, as ESC [ is), or show the text after it reversed (U+202E RIGHT-TO-LEFT OVERRIDE).
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def one_line(text: str) -> str:
    r"""``text`` as one line of a report, each :data:`CONTROL` character escaped (``\u202e``).

    For lines that quote what a file or an alert says: a CAP document's identifier, event or
    headline is the sender's text, and ``preview`` printed it as it was (a headline wrapped
    over two lines of the XML split its line; U+009B coloured the terminal; U+202E showed
    the rest of the line reversed), as did the summary's reason quoting an event code, and
    the demo's and ``target``'s progress lines a file's name.
    """
    return CONTROL.sub(lambda m: repr(m[0])[1:-1], text)


#: Sergels torg, Stockholm (Wikipedia): the demo's incident.
SERGELS_TORG = (18.06528, 59.3325)
#: Stockholm Central Station and Göteborg Central Station (Wikipedia).
STOCKHOLM_C = (18.05611, 59.33)
GOTEBORG_C = (11.97333, 57.70889)
STOCKHOLM = dt.timezone(dt.timedelta(hours=2), "CEST")
#: The demo's moment: a Monday afternoon in the pilot's first phase.
DEMO_AT = dt.datetime(2024, 5, 20, 14, 0, tzinfo=STOCKHOLM)
SENDER = "polisen@polisen.se"
ILLUSTRATIVE = "(illustrative date)"


class Out:
    """Prints report lines, and a progress line while a slow step runs on a terminal."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def __call__(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def step(self, label: str, fn: Callable[[], T]) -> T:
        """Run ``fn``; on a terminal show ``label …`` while it runs, then its time."""
        tty = hasattr(self.out, "isatty") and self.out.isatty()
        if tty:
            print(f"  {label} …", end="", file=self.out, flush=True)
        t0 = time.perf_counter()
        try:
            value = fn()
        except BaseException:  # an error or Ctrl-C starts a line of its own, not after "…"
            if tty:
                print(file=self.out, flush=True)
            raise
        print(f"\r  {label}: {secs(time.perf_counter() - t0)}", file=self.out, flush=True)
        return value


def count(n: int, noun: str, plural: str = "") -> str:
    """``1 device``, ``2 devices``: a number with its noun in agreement."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def secs(seconds: float) -> str:
    """A duration for people: milliseconds below a second."""
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


@attrs.frozen
class Stage:
    """The service's set-up, built once: regions, devices, index, policy and Targeter."""

    say: Out
    at: dt.datetime
    hierarchy: RegionHierarchy
    positions: Positions
    index: PositionIndex
    policy: RolloutPolicy
    targeter: Targeter

    def named(self, code: str) -> str:
        """``Stockholms län (01)``: a region's name with its code."""
        return f"{self.hierarchy.region(code).name} ({code})"


@attrs.define
class Story:
    """The alerts of the story and what they did, for the closing summary and the map."""

    explosion: Alert | None = None
    update: Alert | None = None
    tips: Alert | None = None
    modus: Alert | None = None
    results: dict[str, TargetingResult] = attrs.Factory(dict)
    #: Devices told by the streaming path (fresh positions), per alert identifier.
    streamed: dict[str, int] = attrs.Factory(dict)
    #: Their device ids, per alert identifier.
    streamed_ids: dict[str, list[Any]] = attrs.Factory(dict)
    #: Ids of every device told about anything, for the map.
    told: set[Any] = attrs.Factory(set)
    #: The snapshot after the fresh fixes (where the map draws the devices).
    now: Positions | None = None


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Play the pilot: set-up, the policy, six scenes, a summary and (``--plot``) a map."""
    from geotarget.ledger import MemoryLedger, SQLiteLedger

    fresh = bool(args.ledger) and not Path(args.ledger).exists()
    fresh_plot = bool(args.plot) and not Path(args.plot).exists()
    ledger: Any = None
    try:  # (the store made inside: a Ctrl-C as it creates its file leaves no file either)
        ledger = SQLiteLedger(args.ledger) if args.ledger else MemoryLedger()
        stage, story = play(Out(out), args, ledger)
        if args.plot:
            _draw(stage, story, args.plot)
    except BaseException:  # Ctrl-C included: a demo that did not finish leaves no ledger
        with held_off():  # ... nor does a second Ctrl-C, pressed while it is removed
            if isinstance(ledger, SQLiteLedger):
                ledger.close()
            if fresh:
                _remove_store(Path(args.ledger))
            if fresh_plot:  # nor a map cut short while it was written
                Path(args.plot).unlink(missing_ok=True)
        raise
    if isinstance(ledger, SQLiteLedger):
        ledger.close()
    return 0


@contextlib.contextmanager
def held_off() -> Iterator[None]:
    """Hold off Ctrl-C (and the stop signals the command handles) while a clean-up runs.

    A second Ctrl-C, pressed while the first one's clean-up ran (people press it twice), raised
    in the middle of it: the half-played demo's ledger was left behind, and the next run over
    that name was refused as "an earlier demo's ledger". Signals whose handler is Python's (the
    ones that raise) are let pass while it runs; it ends, then the exception that started it
    goes on. (Signals at their default action stay so: they end the process as they would.)
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[int, Any] = {}
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        number = getattr(signal, name, None)  # (Windows has no SIGHUP)
        if number is not None and callable(signal.getsignal(number)):
            previous[number] = signal.signal(number, lambda signum, frame: None)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _remove_store(path: Path) -> None:
    """Delete the SQLite store a failed or interrupted demo created, with its side files.

    A half-played demo's ledger holds some of the story's alerts: the next ``--ledger`` run
    over it was refused as "an earlier demo's ledger" that had "delivered and cancelled them".
    """
    for name in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm", "-journal"))):
        name.unlink(missing_ok=True)


def play(say: Out, args: argparse.Namespace, ledger: Any) -> tuple[Stage, Story]:
    """The scenes in order; returns the stage and the story they told."""
    stage = _set_up(say, args, ledger)
    story = Story()
    _scene_policy(stage)
    _scene_explosion(stage, story)
    _scene_tips(stage, story)
    _scene_blocked(stage, story)
    moved = _scene_fresh_positions(stage, story, args.seed)
    _scene_update(stage, story, moved)
    _scene_cancel(stage, story)
    _summary(stage, story)
    return stage, story


# --- set-up ----------------------------------------------------------------------------------


def _set_up(say: Out, args: argparse.Namespace, ledger: Any) -> Stage:
    from geotarget import sweden

    at = DEMO_AT
    say(
        "geotarget demo — the Swedish Police pilot on SOS Alarm's 112 app, "
        f"{at:%Y-%m-%d %H:%M} Europe/Stockholm"
    )
    say(
        f"  {count(args.devices, 'synthetic device')} placed like "
        "Sweden's people; as on real phones, "
        "0.5 % have no fix and 2 % last reported hours ago"
    )
    say()
    say("Set-up (once per service):")
    hierarchy = say.step(
        "Swedish regions (290 municipalities → 21 counties → 7 police regions)", sweden.hierarchy
    )
    positions = say.step("device positions", lambda: demo_positions(args.devices, args.seed, at))
    index = say.step("position index (bulk-built R-tree)", lambda: PositionIndex(positions))
    if args.ledger:  # (asked for, it was never mentioned: was the durable ledger used?)
        say(
            f"  delivery ledger: {one_line(args.ledger)}, an SQLite database (durable: the file "
            "stays when the demo ends)"
        )
    policy = sweden.pilot_policy()
    targeter = Targeter(hierarchy, policy, ledger=ledger)
    say()
    return Stage(say, at, hierarchy, positions, index, policy, targeter)


def demo_positions(n: int, seed: int, at: dt.datetime) -> Positions:
    """Synthetic devices: positions like Sweden's people, phone-like accuracy and fix ages."""
    from geotarget import sweden

    lon, lat = sweden.synthetic_population(n, seed)
    rng = np.random.default_rng(seed + 1)
    accuracy = np.clip(rng.lognormal(np.log(12.0), 0.8, n), 3.0, 2000.0)
    age_s = rng.exponential(600.0, n)  # most fixes are minutes old
    stale = rng.random(n) < 0.02  # 2 % have not reported for hours
    age_s[stale] += 3 * 3600.0
    observed = np.datetime64(at.astimezone(dt.timezone.utc).replace(tzinfo=None), "us") - (
        age_s * 1e6
    ).astype("timedelta64[us]")
    no_fix = rng.random(n) < 0.005
    lon = np.where(no_fix, np.nan, lon)
    lat = np.where(no_fix, np.nan, lat)
    tester = rng.random(n) < 0.001
    return Positions(
        np.arange(n, dtype=np.int64),
        lon,
        lat,
        accuracy_m=accuracy,
        observed_at=observed,
        tester=tester,
    )


# --- scenes ----------------------------------------------------------------------------------


def _scene_policy(stage: Stage) -> None:
    """The pilot policy: which kinds are enabled where and from when."""
    from geotarget import sweden

    say, policy = stage.say, stage.policy
    say(
        f"The pilot policy (package file geotarget/{sweden.PILOT_POLICY_FILE}, "
        f"hash {policy.policy_hash[:12]}); phases are numbered from 1:"
    )
    groups: dict[tuple[Any, ...], list[str]] = {}
    for rollout in policy.rollouts:
        groups.setdefault(rollout.phases, []).append(rollout.kind)
    # The simplest rollout first: the nationwide explosion, then the phased kinds.
    for phases, kinds in sorted(groups.items(), key=lambda item: len(item[0])):
        say(f"  {' and '.join(kinds)}:")
        before: frozenset[str] = frozenset()
        for i, phase in enumerate(phases):
            added = sorted(phase.regions - before)
            where = ", ".join(
                "all Sweden" if c == policy.country else stage.named(c) for c in added
            )
            plus = "+ " if before else ""
            when = phase.starts_at.astimezone(stage.at.tzinfo).date().isoformat()
            note = f"  {ILLUSTRATIVE}" if phase.illustrative else ""
            say(f"    phase {i + 1}  from {when}  {plus}{where}{note}")
            before = phase.regions
    active = {
        d.kind: d.phase_index
        for d in (policy.decide(k, stage.at) for k in policy.kinds)
        if d.phase_index is not None
    }
    say(
        f"  On {stage.at:%Y-%m-%d}: "
        + ", ".join(f"{k} phase {i + 1}" for k, i in active.items())
        + ". Only phase 1 is the pilot as announced; later dates show how it widens."
    )
    say()


def _alert(
    make: Callable[..., Alert],
    identifier: str,
    at: dt.datetime,
    area: Circle,
    expires: dt.datetime,
    *,
    sv: str,
    en: str,
    where: str,
    **more: Any,
) -> Alert:
    """A pilot alert from :data:`SENDER`, sent and starting ``at``; each text is its headline."""
    from geotarget import pilot

    return make(
        identifier=identifier,
        sender=SENDER,
        sent=at,
        area=area,
        sv=pilot.Message(headline=sv, description=sv, area_description=where),
        en=pilot.Message(headline=en, description=en, area_description=where),
        onset=at,
        expires=expires,
        **more,
    )


def _scene_explosion(stage: Stage, story: Story) -> None:
    """An Explosion 500 m around Sergels torg: a 112 event, enabled in the whole country."""
    from geotarget import pilot

    at = stage.at
    story.explosion = _alert(
        pilot.explosion,
        "SE-POL-2024-0001",
        at,
        Circle(*SERGELS_TORG, 500.0),
        at + dt.timedelta(hours=3),
        sv="Explosionsrisk vid Sergels torg. Lämna området.",
        en="Risk of explosion at Sergels torg. Leave the area.",
        where="Sergels torg",
    )
    stage.say("1. Explosion: risk of explosion, 500 m around Sergels torg (enabled in all Sweden)")
    story.results["explosion"] = _target(stage, story, story.explosion, stage.index, at)
    stage.say()


def _scene_tips(stage: Stage, story: Story) -> None:
    """A tip request 2 km around Stockholm C: police information, Stockholm County only."""
    from geotarget import pilot

    at = stage.at
    story.tips = _alert(
        pilot.tip_request,
        "SE-POL-2024-0002",
        at,
        Circle(*STOCKHOLM_C, 2000.0),
        at + dt.timedelta(days=2),
        sv="Polisen söker tips om ett rån vid Stockholm C.",
        en="The police ask for tips about a robbery at Stockholm Central.",
        where="Stockholm C",
    )
    say = stage.say
    say("2. Tip request: a robbery at Stockholm C, 2 km around it (enabled in Stockholms län)")
    channels = " or ".join(
        f"{c.address} ({'phone' if c.uri.startswith('tel:') else 'the police web form'})"
        for c in story.tips.tip_channels
    )
    say(f"    the alert tells people where tips go: {channels}")
    story.results["tips"] = _target(stage, story, story.tips, stage.index, at)
    say()


def _scene_blocked(stage: Stage, story: Story) -> None:
    """Crime-modus information in Göteborg: not enabled there yet, so nobody is told."""
    from geotarget import pilot

    at = stage.at
    story.modus = _alert(
        pilot.crime_modus,
        "SE-POL-2024-0003",
        at,
        Circle(*GOTEBORG_C, 3000.0),
        at + dt.timedelta(days=7),
        sv="Bedrägerier mot äldre: falska poliser ringer.",
        en="Fraud against the elderly: fake police officers are calling.",
        where="Göteborg centrum",
    )
    say = stage.say
    say("3. Crime-modus information: fake police officers call the elderly, 3 km around Göteborg C")
    result = stage.targeter.target(story.modus, stage.index, at)
    story.results["modus"] = result
    say(f"    BLOCKED ({result.verdict.value}): nobody is told — {result.reason}")
    why = stage.policy.explain("crime_modus", "1480", at, catalog=stage.hierarchy)
    say(f"    why: {why}")
    say()


def _scene_fresh_positions(stage: Stage, story: Story, seed: int) -> Positions:
    """Twenty minutes later, fresh fixes arrive; devices now in an active area are told."""
    later = stage.at + dt.timedelta(minutes=20)
    moved = moved_devices(stage.positions, later, seed)
    say = stage.say
    sends = "sends a fresh fix" if len(moved) == 1 else "send fresh fixes"
    say(
        f"4. {later:%H:%M}: {count(len(moved), 'device')} {sends} after walking towards "
        "Sergels torg; those now inside an active alert's area are told at once"
    )
    deliveries = say.step(
        f"on_positions({count(len(moved), 'fresh fix', 'fresh fixes')})",
        lambda: stage.targeter.on_positions(moved, later),
    )
    # Pushed, and accepted by the push service: confirmed (an Update tells only the others).
    stage.targeter.confirm([d.key for d in deliveries], later)
    for d in deliveries:
        story.streamed[d.alert_id] = story.streamed.get(d.alert_id, 0) + 1
        story.streamed_ids.setdefault(d.alert_id, []).append(d.device_id)
        story.told.add(d.device_id)
    titles = _titles(story)
    say(
        "    newly told: "
        + (
            ", ".join(f"{n:,} the {titles[a]}" for a, n in sorted(story.streamed.items()))
            or "nobody"
        )
    )
    if story.modus is not None and story.modus.identifier not in story.streamed:
        say("    the Göteborg crime-modus alert is still blocked: fresh fixes do not change that")
    say()
    return moved


def _scene_update(stage: Stage, story: Story, moved: Positions) -> None:
    """An Update widens the explosion area to 1 km: only the newly covered are told."""
    from geotarget import pilot

    assert story.explosion is not None
    first = story.results["explosion"]
    later = stage.at + dt.timedelta(minutes=20)
    story.update = _alert(
        pilot.explosion,
        "SE-POL-2024-0004",
        later,
        Circle(*SERGELS_TORG, 1000.0),
        story.explosion.infos[0].expires or later,
        sv="Explosionsrisk vid Sergels torg. Avspärrningen utökas till 1 km.",
        en="Risk of explosion at Sergels torg. The cordon grows to 1 km.",
        where="Sergels torg, 1 km",
        msg_type=MessageType.UPDATE,
        references=[Reference(sender=SENDER, identifier=story.explosion.identifier, sent=stage.at)],
    )
    say = stage.say
    say("5. Update: the explosion area widens to 1 km (only newly covered devices are told)")
    story.now = with_fresh(stage.positions, moved)
    now = story.now
    fresh = say.step("position index refreshed with the fresh fixes", lambda: PositionIndex(now))
    result = _target(stage, story, story.update, fresh, later)
    story.results["update"] = result
    streamed = story.streamed.get(story.explosion.identifier, 0)
    told_before = len(first.recipients) + streamed
    kept = result.already_delivered
    gone = len(result.no_longer_covered)
    if told_before == 0:
        say(
            f"    nobody was told before ({len(first.recipients):,} in scene 1, {streamed:,} from "
            "fresh fixes): every device the Update covers is told now"
        )
    else:
        say(
            f"    already told ({kept:,}) {'is' if kept == 1 else 'are'} not told twice: of the "
            f"{told_before:,} told before ({len(first.recipients):,} in scene 1, {streamed:,} "
            "from fresh fixes),"
        )
    if gone:
        ids = np.asarray(result.no_longer_covered, dtype=object).astype(str)
        walked = int(np.isin(ids, np.asarray(moved.ids, dtype=object).astype(str)).sum())
        one = gone == 1
        why = (
            ("it walked away" if one else "they walked away")
            if walked == gone
            else f"{walked:,} of them walked away"
        )
        sentence = (
            f"{kept:,} {'is' if kept == 1 else 'are'} still covered and {gone:,} "
            f"{'is' if one else 'are'} no longer covered: {'its' if one else 'their'} newest fix "
            f"lies outside even the wider area ({why}). {'It is' if one else 'They are'} not "
            f"told again; a Cancel's all-clear still reaches {'it' if one else 'them'}."
        )
        say(textwrap.fill(sentence, 100, initial_indent="    ", subsequent_indent="      "))
    elif told_before:
        everyone = "it is" if kept == 1 else f"all {kept:,} are"
        say(
            f"    {everyone} still covered: the area only grew, and no told device's newest fix "
            "left it (no longer covered: 0)"
        )
    say("    why the counts differ from scene 1:")
    for line in _count_changes(stage, first, result, _walkers_covered(story, result, moved)):
        say(f"      {line}")
    say()


def _scene_cancel(stage: Stage, story: Story) -> None:
    """The Cancel: everyone told about the incident gets the all-clear."""
    from geotarget import pilot

    assert story.explosion is not None and story.update is not None
    end = stage.at + dt.timedelta(hours=1)
    cancel = _alert(
        pilot.explosion,
        "SE-POL-2024-0005",
        end,
        Circle(*SERGELS_TORG, 1000.0),
        story.explosion.infos[0].expires or end + dt.timedelta(hours=1),
        sv="Faran vid Sergels torg är över.",
        en="The danger at Sergels torg is over.",
        where="Sergels torg, 1 km",
        msg_type=MessageType.CANCEL,
        references=[
            Reference(sender=SENDER, identifier=story.explosion.identifier, sent=stage.at),
            Reference(sender=SENDER, identifier=story.update.identifier, sent=story.update.sent),
        ],
    )
    say = stage.say
    say(f"6. {end:%H:%M} Cancel: everyone told about the explosion gets the all-clear")
    result = stage.targeter.target(cancel, stage.index, end)
    story.results["cancel"] = result
    parts = [
        len(story.results["explosion"].recipients),
        story.streamed.get(story.explosion.identifier, 0),
        len(story.results["update"].recipients),
    ]
    # (The reason starts "cancelled: ...": said once, "CANCELLED: retract from ...".)
    reason = result.reason.removeprefix(f"{result.verdict.value.lower()}: ")
    say(f"    {result.verdict.value}: {reason}")
    say(
        f"    all-clear to {count(len(result.retract), 'device')} = {parts[0]:,} (scene 1) + "
        f"{parts[1]:,} (fresh fixes) + {parts[2]:,} (the Update); the tip request stays "
        "active until it expires"
    )
    say()


def _summary(stage: Stage, story: Story) -> None:
    say = stage.say
    titles = _titles(story)
    say("In short:")
    for key, alert in (("explosion", story.explosion), ("tips", story.tips)):
        if alert is None:
            continue
        told = len(story.results[key].recipients) + story.streamed.get(alert.identifier, 0)
        if key == "explosion":
            told += len(story.results["update"].recipients)
        reached = "no device" if told == 0 else count(told, "device")
        each = ", each once" if told > 1 else ""
        say(f"  the {titles[alert.identifier]} reached {reached}{each}")
    if story.modus is not None:
        say(f"  the {titles[story.modus.identifier]} reached nobody: blocked by the rollout")


def map_args(stage: Stage, story: Story) -> dict[str, Any]:
    """The arguments of :func:`geotarget._plot.pilot_figure` for the story so far."""
    from geotarget import _plot

    assert story.explosion and story.update and story.tips and story.modus
    blocked = story.results["modus"].verdict is not Verdict.DELIVER
    alerts = [
        _plot.MapAlert("Explosion, 500 m", story.explosion.area, "explosion", False),
        _plot.MapAlert("Explosion Update, 1 km", story.update.area, "explosion", False),
        _plot.MapAlert("Tip request, 2 km", story.tips.area, "tip_request", False),
        _plot.MapAlert("Crime modus, 3 km", story.modus.area, "crime_modus", blocked),
    ]
    told = np.fromiter(story.told, dtype=np.int64, count=len(story.told))
    now = story.now if story.now is not None else stage.positions
    return {
        "positions": stage.positions,
        "hierarchy": stage.hierarchy,
        "policy": stage.policy,
        "alerts": alerts,
        "told": stage.positions.rows_of(told),
        "at": stage.at,
        "lon_lat": (now.lon, now.lat),
    }


def _draw(stage: Stage, story: Story, path: str) -> None:
    from geotarget import _plot

    args = map_args(stage, story)
    # Control characters in the name shown escaped: a newline split the line, an escape
    # character (or U+009B, CSI) wrote to the terminal, U+202E reversed the rest of the line.
    stage.say.step(
        f"map written to {one_line(path)}",
        lambda: draw_replacing(path, lambda into: _plot.pilot_map(into, **args)),
    )


def draw_replacing(path: str, draw: Callable[[str], object]) -> None:
    """Draw a picture into a new file beside ``path``, then rename it over ``path``.

    matplotlib opens ``path`` for writing at once: a drawing stopped part-way (Ctrl-C, a full
    disk, a failure in the drawing) truncated the map an earlier run had left there. Drawn
    into a new file in the same folder and renamed when complete, ``path`` holds the earlier
    picture or the new one, never part of one (the new file has the earlier one's permissions;
    a symbolic link's target is what is replaced). The new file is removed when the drawing
    fails. In a folder where no new file can be made, ``path`` is drawn into directly.
    """
    target = Path(os.path.realpath(path))
    partial = target.with_name(f".{target.stem}.{os.getpid()}.partial{target.suffix}")
    try:
        with partial.open("xb"):
            pass
    except OSError:  # a writable file in a folder that is not: drawn in place, as before
        draw(path)
        return
    try:
        try:
            draw(str(partial))
        except InvalidInput as err:  # "--plot cannot write ...": the file given, not the new one
            raise InvalidInput(str(err).replace(str(partial), path)) from None
        if target.exists():
            shutil.copymode(target, partial)
        os.replace(partial, target)
    except BaseException:  # Ctrl-C included (twice too)
        with held_off():
            partial.unlink(missing_ok=True)
        raise


# --- helpers ---------------------------------------------------------------------------------


def _titles(story: Story) -> dict[str, str]:
    out = {}
    if story.explosion is not None:
        out[story.explosion.identifier] = "explosion alert"
    if story.tips is not None:
        out[story.tips.identifier] = "tip request"
    if story.modus is not None:
        out[story.modus.identifier] = "crime-modus alert in Göteborg"
    return out


def _target(
    stage: Stage,
    story: Story,
    alert: Alert,
    index: PositionIndex,
    at: dt.datetime,
) -> TargetingResult:
    """Target ``alert`` and print who is told, who is not and why."""
    say = stage.say
    built = _lookups_built(stage.hierarchy)
    result = stage.targeter.target(alert, index, at)
    built = _lookups_built(stage.hierarchy) > built  # this call built one (once a process)
    say(f"    {result.verdict.value}: {result.reason}")
    if result.verdict is not Verdict.DELIVER:
        return result
    if result.claims is not None:  # pushed and accepted: confirmed
        stage.targeter.confirm(result.claims.keys(), at)
    story.told.update(result.recipients.tolist())
    told, not_told = _outcome_phrases(stage, result)
    for head, parts in (("told", told), ("not told", not_told)):
        say(textwrap.fill(f"{head}: {'; '.join(parts)}", 100, initial_indent="    ",
                          subsequent_indent="      "))  # fmt: skip
    if result.per_county:
        say(
            "    new recipients per county: "
            + ", ".join(
                f"{'in no county' if c == result.NO_COUNTY else stage.named(c)} {n:,}"
                for c, n in result.per_county.items()
            )
        )
    t = result.timings
    steps = {k: t[k] for k in ("plan", "match", "rules", "ledger") if k in t}
    steps["other"] = max(t["total"] - sum(steps.values()), 0.0)
    say(
        f"    time: {secs(t['total'])} ("
        + ", ".join(f"{k} {secs(v)}" for k, v in steps.items())
        + ")"
    )
    # Where the one-off build of the region lookups lands depends on the devices (with none in
    # the country, in 'plan'; with a few, in setting them up, or in the Update's count per
    # county when the first alerts told nobody): named where it happened and shows. Said of the
    # first alert only, it left the Update's half second unexplained, 300 times its match.
    slowest = max(steps, key=lambda k: steps[k])
    if built and slowest in ("plan", "other") and steps[slowest] >= t["total"] / 2:
        say(
            "    (the first alert of a process that needs them also builds the region lookups "
            f"once: '{slowest}')"
        )
    return result


def _lookups_built(hierarchy: RegionHierarchy) -> int:
    """How many levels of ``hierarchy`` have built their region lookup (on first use)."""
    return sum("index" in hierarchy.region_set(level)._lazy for level in hierarchy.levels)


def _hours(td: dt.timedelta) -> str:
    h = td.total_seconds() / 3600
    return f"{h:g} h"


def _outcome_phrases(stage: Stage, result: TargetingResult) -> tuple[list[str], list[str]]:
    """What each count means, in words, with the kind's own limits."""
    rules = stage.targeter.rules[result.kind or ""]
    fresh = _hours(rules.location.max_age) if rules.location.max_age is not None else "any age"
    stale = rules.stale
    c: Mapping[Outcome, int] = result.counts
    told = [f"{c.get(Outcome.INSIDE, 0):,} inside the area"]
    if c.get(Outcome.AMBIGUOUS_INCLUDED):
        told.append(
            f"{c[Outcome.AMBIGUOUS_INCLUDED]:,} whose fix's accuracy circle crosses the edge "
            "(this kind fails open)"
        )
    if c.get(Outcome.STALE_INCLUDED) and stale is not None:
        told.append(
            f"{c[Outcome.STALE_INCLUDED]:,} whose last fix is {fresh}–{_hours(stale.max_age)} "
            f"old but within {stale.margin_m:,.0f} m (a phone left behind has an owner nearby)"
        )
    if result.already_delivered:
        told.append(f"of these, {result.already_delivered:,} told earlier are not told again")
    not_told = []
    if c.get(Outcome.AMBIGUOUS_EXCLUDED):
        not_told.append(
            f"{c[Outcome.AMBIGUOUS_EXCLUDED]:,} whose accuracy circle crosses the edge (this "
            "kind fails closed: it must not reach people outside)"
        )
    if c.get(Outcome.STALE_LOCATION):
        limit = fresh if stale is None else _hours(stale.max_age)
        not_told.append(
            f"{c[Outcome.STALE_LOCATION]:,} near the area whose last fix is over {limit} old"
        )
    for outcome, words in (
        (Outcome.OUTSIDE_ROLLOUT, "in the area but where the kind is not enabled"),
        (Outcome.BEYOND_BORDER, "in the area but beyond the border"),
        (Outcome.NOT_A_TESTER, "not testers"),
    ):
        if c.get(outcome):
            not_told.append(f"{c[outcome]:,} {words}")
    not_told.append(f"{c.get(Outcome.NO_FIX, 0):,} with no fix at all (they could be anywhere)")
    not_told.append(f"{c.get(Outcome.OUTSIDE_AREA, 0):,} outside the area")
    return told, not_told


def _walkers_covered(story: Story, update: TargetingResult, moved: Positions) -> tuple[int, int]:
    """How many of the devices that walked in the Update's area covers, and how many walked.

    Covered = told now, or told before and not ``no_longer_covered``. (Not the devices told
    from their fresh fixes: those are only the walkers inside the first, smaller area.)
    """
    assert story.explosion is not None
    first = story.results["explosion"]
    before = np.concatenate(
        [
            np.asarray(first.recipients, dtype=object),
            np.asarray(story.streamed_ids.get(story.explosion.identifier, []), dtype=object),
        ]
    )
    gone = np.asarray(update.no_longer_covered, dtype=object)
    kept = before[~np.isin(before.astype(str), gone.astype(str))]
    covered = np.concatenate([np.asarray(update.recipients, dtype=object), kept]).astype(str)
    walkers = np.asarray(moved.ids, dtype=object).astype(str)
    return int(np.isin(walkers, covered).sum()), int(walkers.size)


def _count_changes(
    stage: Stage, first: TargetingResult, now: TargetingResult, walkers: tuple[int, int]
) -> list[str]:
    """Why the Update's counts differ from the first version's."""
    c0, c1 = first.counts, now.counts
    rules = stage.targeter.rules[now.kind or ""]
    fresh = _hours(rules.location.max_age) if rules.location.max_age is not None else "any age"
    a0 = first.area_km2 or 0.0
    a1 = now.area_km2 or 0.0
    covered = (Outcome.INSIDE, Outcome.AMBIGUOUS_INCLUDED, Outcome.STALE_INCLUDED)
    n0 = sum(c0.get(o, 0) for o in covered)
    n1 = sum(c1.get(o, 0) for o in covered)
    lines = [
        f"covered {n0:,} → {n1:,}: the area is {a1 / a0:.0f}× larger ({a0:.2f} → {a1:.2f} km²), "
        f"and {walkers[0]:,} of the {count(walkers[1], 'device')} that walked towards Sergels "
        f"torg {'is' if walkers[0] == 1 else 'are'} in it",
    ]
    s0 = c0.get(Outcome.STALE_INCLUDED, 0) + c0.get(Outcome.STALE_LOCATION, 0)
    s1 = c1.get(Outcome.STALE_INCLUDED, 0) + c1.get(Outcome.STALE_LOCATION, 0)
    near = "" if rules.stale is None else f" or within {rules.stale.margin_m:,.0f} m of it"
    lines.append(
        f"old fixes {s0:,} → {s1:,}: the fixes in the area older than the {fresh} freshness "
        f"limit{near}, 20 minutes later, in a larger area, and with the fixes of the devices "
        "that walked fresh"
    )
    lines.append(
        f"no fix {c0.get(Outcome.NO_FIX, 0):,} → {c1.get(Outcome.NO_FIX, 0):,}: devices without "
        "any fix are counted for every alert, wherever it is"
    )
    return lines


def with_fresh(positions: Positions, fresh: Positions) -> Positions:
    """The snapshot with the fresh fixes replacing those devices' old rows."""
    rows = positions.rows_of(fresh.ids)
    lon, lat = positions.lon.copy(), positions.lat.copy()
    acc, seen = positions.accuracy_m.copy(), positions.observed_at.copy()
    lon[rows], lat[rows] = fresh.lon, fresh.lat
    acc[rows], seen[rows] = fresh.accuracy_m, fresh.observed_at
    return Positions(
        positions.ids, lon, lat, accuracy_m=acc, observed_at=seen, tester=positions.tester
    )


def moved_devices(positions: Positions, at: dt.datetime, seed: int) -> Positions:
    """A batch of fresh fixes: a few hundred devices walk into central Stockholm."""
    rng = np.random.default_rng(seed + 2)
    near = np.flatnonzero(
        Circle(*SERGELS_TORG, 3000.0).contains(
            np.nan_to_num(positions.lon), np.nan_to_num(positions.lat)
        )
    )
    rows = rng.choice(near, size=min(600, near.size), replace=False)
    lon = SERGELS_TORG[0] + rng.normal(0, 0.006, rows.size)
    lat = SERGELS_TORG[1] + rng.normal(0, 0.003, rows.size)
    stamp = np.datetime64(at.astimezone(dt.timezone.utc).replace(tzinfo=None), "us")
    return Positions(
        positions.ids[rows],
        lon,
        lat,
        accuracy_m=np.full(rows.size, 8.0),
        observed_at=np.full(rows.size, stamp),
    )
