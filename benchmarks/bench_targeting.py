"""target() end to end over 1.2 M devices, and the SQLite ledger's throughput.

The bar (issue 7): ``target()`` for an alert over 1.2 M devices spends at most 5 ms beyond the
matcher's own work (``PositionIndex.classify`` of the area and, for a kind with a
:class:`~geotarget.StaleRule`, the query of the area grown by its margin): policy, effective
area, rules, regions, ledger in memory. The gate compares that overhead with a 5 ms budget.
The cold scenarios (issues 10, 12, 13; :class:`_Cold`) target a *new* alert each call (a new
identifier and a new area, so nothing is cached): an alert is targeted once, so its plan
counts. A 1 km Explosion at ten towns, gated at 1.5 ms with the memory ledger and with the
durable SQLite ledger as shipped (``AUTO``), a Stockholm-municipality tip request, reported
against its 5 ms budget, and the same
Explosion drawn as a 16-vertex polygon (as upstream CAP often draws one), reported against the
circle's budget; each with the memory ledger and the SQLite ledger (``AUTO`` and ``NORMAL``),
interleaved. :func:`_plan_memory`
measures what a cached plan and a cached transformer hold; :func:`_beside_enabled` a new tip
request over a county beside the enabled ones, against the plan's old reach check.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import shapely
from _harness import Gate, Report, Timing, best_of
from _host import Budgets
from _population import ring_16

from geotarget import (
    Area,
    Circle,
    LocationRule,
    Polygon,
    PositionIndex,
    Positions,
    alerts,
    pilot,
    sweden,
)
from geotarget._index import polygons
from geotarget.ledger import MemoryLedger, SQLiteLedger
from geotarget.targeting import Targeter

AT = dt.datetime(2024, 5, 20, 12, 0, tzinfo=dt.timezone.utc)
SERGELS_TORG = (18.06528, 59.3325)


def _positions(n: int) -> Positions:
    """``n`` synthetic Swedish devices, fixes up to about an hour old.

    Their ids are distinct random int64s in no order, as a real snapshot's are: ids 0, 1, 2,
    ... in row order would hand the ledger every claim sorted already.
    """
    lon, lat = sweden.synthetic_population(n, seed=7)
    rng = np.random.default_rng(8)
    stamp = np.datetime64(AT.replace(tzinfo=None), "us")
    ages = (rng.exponential(600.0, n) * 1e6).astype("timedelta64[us]")
    ids = np.random.default_rng(9).choice(2**62, size=n, replace=False)
    return Positions(
        ids,
        lon,
        lat,
        accuracy_m=np.clip(rng.lognormal(np.log(12.0), 0.8, n), 3.0, 2000.0),
        observed_at=stamp - ages,
    )


#: Ten Swedish places for the cold scenarios: (name, lon, lat).
PLACES = (
    ("Stockholm", 18.06528, 59.3325),
    ("Göteborg", 11.9668, 57.7072),
    ("Malmö", 13.0007, 55.6050),
    ("Uppsala", 17.6389, 59.8586),
    ("Västerås", 16.5448, 59.6099),
    ("Örebro", 15.2134, 59.2753),
    ("Linköping", 15.6214, 58.4108),
    ("Helsingborg", 12.6945, 56.0465),
    ("Jönköping", 14.1618, 57.7826),
    ("Umeå", 20.2630, 63.8258),
)
#: The issue's budgets for a new alert, everything included (plan, match, rules, ledger).
EXPLOSION_BUDGET = 0.0015
TIP_BUDGET = 0.005
#: Issue 13's bound for a 1,000-circle CAP document, everything included ("well under a
#: second"; measured about 0.4 s on the 2-core host).
RECEIVE_BUDGET_S = 1.0
#: Whether CI gates the Explosion at its budget (the memory and the durable SQLite ledger).
#: The tip request is reported only: see docs/performance.rst for why it misses its budget.
GATE_EXPLOSION = True


def _fsync_seconds(directory: Path) -> float:
    """One 4 kB write and ``os.fsync`` in ``directory``: what a durable commit waits for."""
    path = directory / "fsync-probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        os.write(fd, b"x" * 4096)
        t0 = time.perf_counter()
        os.fsync(fd)
        return time.perf_counter() - t0
    finally:
        os.close(fd)
        path.unlink()


def _rss() -> int:
    """Resident bytes of this process (Linux; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0


class _Cold:
    """New alerts, each with a new area: ``target()`` end to end with every ledger.

    A 1 km Explosion at ten places and a tip request over Stockholm municipality (a fresh
    polygon object each time, shifted by a micrometre so no plan is reused). The ledgers run
    interleaved, their order alternating from round to round: the memory ledger, the SQLite
    ledger as shipped (``synchronous="AUTO"``: the admission waits for the disk, the claims
    do not) and the SQLite ledger with ``synchronous="NORMAL"`` (the same SQL, no disk wait).
    A place's time is its best over the rounds (a preempted run is only ever slower), the
    scenario's the median over places, as for the matcher's gates; the plain median of every
    sample is reported beside it. The gated Explosion's rounds are taken in five chunks spread
    over the module (:meth:`chunk`), not in a row: this 2-core host slows everything for a
    minute at a time, and its disk's ``fsync`` with it, and a best over rounds taken within
    one second is only as good as that second (a clean-clone CI run failed the gate at 0.59x,
    then 0.94x on its retry 10 s later, while the same code measured 1.19x here minutes
    before; with three chunks of five rounds, one landing failed the durable ledger's gate at
    0.90x where the runs before measured 1.01-1.36x). The bar is unchanged. The write of the
    claims (``timings["ledger"]``) and a bare ``fsync`` of the same disk, measured after the
    calls (a probe between them slowed the next call), are reported apart: they grow with the
    recipients and with the disk, not with the pipeline.
    """

    #: Rounds per ungated scenario (quick mode too: a place's best of 15 rounds, a 1 km
    #: Explosion's call being ~1 ms, is steadier than of 9).
    ROUNDS = 15
    #: The gated scenario's rounds, in :data:`CHUNKS` chunks of five spread over the module
    #: (the CI gate sits at the real 1.5 ms bar on a noisy machine; its 750 calls take ~3 s).
    GATED_ROUNDS = 25
    CHUNKS = 5

    def __init__(self, index: PositionIndex) -> None:
        self.index = index
        n = len(index)
        msg = pilot.Message(headline="x", description="x", area_description="x")
        counter = iter(range(10**9))
        muni = sweden.municipalities()["0180"].geometry
        rings = [shapely.get_coordinates(p.exterior) for p in shapely.get_parts(muni)]
        self._tmp = tempfile.TemporaryDirectory()
        tmp = Path(self._tmp.name)
        self.tmp = tmp
        self.ledgers: dict[str, MemoryLedger | SQLiteLedger] = {
            "memory ledger": MemoryLedger(),
            "SQLite ledger (AUTO: durable admission)": SQLiteLedger(tmp / "auto.db"),
            "SQLite ledger (NORMAL: no disk wait)": SQLiteLedger(
                tmp / "normal.db", synchronous="NORMAL"
            ),
        }
        self.targeters = {
            name: Targeter(sweden.hierarchy(), sweden.pilot_policy(), ledger=ledger)
            for name, ledger in self.ledgers.items()
        }

        def explosion(place: tuple[str, float, float]) -> alerts.Alert:
            i = next(counter)
            _, lon, lat = place
            return pilot.explosion(
                identifier=f"cold-{i}", sender="bench@example.se", sent=AT,
                area=Circle(lon + (i % 997) * 1e-6, lat, 1000.0 + (i % 991) * 1e-3),
                sv=msg, en=msg, onset=AT, expires=AT + dt.timedelta(hours=2),
            )  # fmt: skip

        def polygon_explosion(place: tuple[str, float, float]) -> alerts.Alert:
            i = next(counter)
            _, lon, lat = place
            ring = ring_16(lon + (i % 997) * 1e-6, lat, 1000.0 + (i % 991) * 1e-3)
            return pilot.explosion(
                identifier=f"cold-poly-{i}", sender="bench@example.se", sent=AT,
                area=Polygon(ring), sv=msg, en=msg, onset=AT,
                expires=AT + dt.timedelta(hours=2),
            )  # fmt: skip

        def tip(place: tuple[str, float, float]) -> alerts.Alert:
            i = next(counter)
            shift = np.array([(i % 997) * 1e-9, 0.0])
            area = Area([Polygon(ring + shift) for ring in rings])
            return pilot.tip_request(
                identifier=f"tip-{i}", sender="bench@example.se", sent=AT, area=area,
                sv=msg, en=msg, onset=AT, expires=AT + dt.timedelta(hours=2),
            )  # fmt: skip

        #: (scenario, alert maker, places, budget, gated), the gated one first.
        self.scenarios = (
            (f"target(): a new 1 km Explosion (10 places, cold), {n:,} devices", explosion,
             PLACES, EXPLOSION_BUDGET, GATE_EXPLOSION),
            (f"target(): a new Stockholm-municipality tip request (cold), {n:,} devices", tip,
             PLACES[:1] * 3, TIP_BUDGET, False),
            (f"target(): a new 1 km Explosion drawn as a 16-gon (10 places, cold), {n:,} "
             "devices", polygon_explosion, PLACES, EXPLOSION_BUDGET, False),
        )  # fmt: skip
        names = list(self.targeters)
        # Per scenario, ledger and place: every call's time (and that time but the claims).
        self.total: dict[str, dict[str, list[list[float]]]] = {
            s[0]: {k: [[] for _ in s[2]] for k in names} for s in self.scenarios
        }
        self.rest: dict[str, dict[str, list[list[float]]]] = {
            s[0]: {k: [[] for _ in s[2]] for k in names} for s in self.scenarios
        }
        self.claim: dict[str, dict[str, list[float]]] = {
            s[0]: {k: [] for k in names} for s in self.scenarios
        }
        self.recipients: dict[str, dict[str, int]] = {s[0]: {} for s in self.scenarios}
        self.fsyncs: dict[str, list[float]] = {s[0]: [] for s in self.scenarios}
        self.done: dict[str, int] = {s[0]: 0 for s in self.scenarios}

    def sample(self, which: int, rounds: int) -> None:
        """Take ``rounds`` more rounds of scenario ``which`` (index into :attr:`scenarios`)."""
        scenario, make, places, _, _ = self.scenarios[which]
        names = list(self.targeters)
        if self.done[scenario] == 0:
            for name in names:  # warm-up: lazy indexes, transformers, the SQLite schema
                self.targeters[name].target(make(places[0]), self.index, AT)
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            for r in range(self.done[scenario], self.done[scenario] + rounds):
                for i, place in enumerate(places):
                    order = names if (r + i) % 2 == 0 else names[::-1]
                    for name in order:
                        alert = make(place)
                        t0 = time.perf_counter()
                        got = self.targeters[name].target(alert, self.index, AT)
                        took = time.perf_counter() - t0
                        assert got.verdict.value == "DELIVER", got.reason
                        self.total[scenario][name][i].append(took)
                        self.claim[scenario][name].append(got.timings["ledger"])
                        self.rest[scenario][name][i].append(took - got.timings["ledger"])
                        self.recipients[scenario][name] = len(got.recipients)
                gc.collect()
        finally:
            if gc_was_enabled:
                gc.enable()
        self.done[scenario] += rounds

    def chunk(self) -> None:
        """One chunk of the gated scenario's rounds (:data:`CHUNKS` of them in all)."""
        self.sample(0, self.GATED_ROUNDS // self.CHUNKS)

    def ungated(self) -> None:
        """Every round of the ungated scenarios."""
        for which in range(1, len(self.scenarios)):
            self.sample(which, self.ROUNDS)

    def report(self, report: Report, budgets: Budgets) -> None:
        """Take the gated scenario's last rounds; report every scenario."""
        gated = self.scenarios[0][0]
        self.sample(0, self.GATED_ROUNDS - self.done[gated])
        # The disk's fsync, probed after the calls, not between them: each probe's wait for
        # the disk slowed the call after it (the memory ledger's Explosion, 5 rounds, three
        # alternating repeats on the idle machine: 2.22, 1.81, 1.97 ms with a probe after
        # every place; 1.50, 1.73, 1.50 ms without).
        for scenario, *_ in self.scenarios:
            self.fsyncs[scenario] = [_fsync_seconds(self.tmp) for _ in range(20)]
        for scenario, _, _, budget, gate in self.scenarios:
            names = list(self.targeters)
            for name in names:
                times = self.total[scenario][name]
                best = statistics.median(min(ts) for ts in times)
                flat = [t for ts in times for t in ts]
                note = (
                    f"{self.recipients[scenario][name]:,} recipients (last call); median of all "
                    f"{len(flat)} calls {statistics.median(flat) * 1e3:.2f} ms, slowest "
                    f"{max(flat) * 1e3:.2f} ms; best of {self.done[scenario]} rounds"
                )
                report.add(Timing(scenario, f"target(), {name}", best, len(self.index), note))
                report.add(
                    Timing(
                        scenario,
                        f"target() but the claim write, {name}",
                        statistics.median(min(ts) for ts in self.rest[scenario][name]),
                        len(self.index),
                        "everything else: plan, admission, match, rules, counts",
                    )
                )
                report.add(
                    Timing(
                        scenario,
                        f"claim write alone, {name}",
                        statistics.median(self.claim[scenario][name]),
                        note="timings['ledger']: the recipients' claims, median of all calls",
                    )
                )
            report.add(
                Timing(scenario, "fsync of a 4 kB write on the ledger's disk",
                       statistics.median(self.fsyncs[scenario]),
                       note="what one durable commit waits for")
            )  # fmt: skip
            budgets.add(scenario, "budget", budget, note="issue 13")
            if gate:
                # The memory ledger and the durable SQLite ledger as shipped, each whole, at the
                # issue's bar. The durable one's admission commits while the area is matched,
                # so its fsync is off the call's path: about 0.85-0.9 ms against the 1.5 ms
                # budget (it was 1.0-1.2 ms, a margin a slow spell of the 2-core host erased).
                for name in names[:2]:
                    report.gates.append(Gate(scenario, f"target(), {name}", "budget", 1.0))
        report.extra["load average"] = os.getloadavg()

    def close(self) -> None:
        """Close the ledgers and remove their files."""
        for ledger in self.ledgers.values():
            ledger.close()
        self._tmp.cleanup()


def _plan_memory(report: Report) -> None:
    """Resident bytes per cached plan (and the estimate the cache counts), and per transformer.

    Measured in a fresh interpreter (:func:`_plan_memory_here`): in this one, the memory the
    other scenarios freed is reused, and the resident growth reads as zero.
    """
    out = subprocess.run(
        [sys.executable, __file__, "--plan-memory"],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent,
    )
    for scenario, impl, value, unit, note in json.loads(out.stdout.splitlines()[-1]):
        report.add(Timing(scenario, impl, value, unit=unit, note=note))


def _plan_memory_here() -> list[tuple[str, str, float, str, str]]:
    """Measure plans and transformers kept alive, in this (fresh) interpreter.

    Plans of new areas are built through ``Targeter._plan`` and kept alive as the cache keeps
    them (a polygon's metric frame, tangent-plane segments and densified vertices built too,
    as an exact classification may do): the growth
    of resident memory per plan beside :func:`geotarget._evaluation.plan_bytes`, which must
    not be below it; and the growth per cached AEQD transformer.
    """
    from geotarget import _geodesy
    from geotarget._evaluation import plan_bytes

    rows: list[tuple[str, str, float, str, str]] = []
    targeter = Targeter(sweden.hierarchy(), sweden.pilot_policy())
    muni = sweden.municipalities()["0180"].geometry
    rings = [shapely.get_coordinates(p.exterior) for p in shapely.get_parts(muni)]

    def circle(i: int) -> Area:
        return Area([Circle(18.0 + i * 1e-5, 59.3, 1000.0)])

    def municipality(i: int) -> Area:
        return Area([Polygon(r + np.array([i * 1e-9, 0.0])) for r in rings])

    cases: tuple[tuple[str, str, int, Callable[[int], Area]], ...] = (
        ("1 km Explosion circle", pilot.EXPLOSION.name, 2000, circle),
        ("Stockholm municipality polygon (frame built)", pilot.TIP_REQUEST.name, 100,
         municipality),
    )  # fmt: skip
    for label, kind, count, make in cases:
        decision = targeter.policy.decide(kind, AT)
        targeter._plan(kind, make(-1), decision)  # lazy indexes and transformers first
        gc.collect()
        before = _rss()
        kept = []
        for i in range(count):
            plan = targeter._plan(kind, make(i), decision)
            for part in plan.area.parts:
                if isinstance(part, Polygon):  # all an exact classification may keep
                    polygons.frame(part)
                    polygons.tangent_rows(part)
                    polygons.dense(part)
            kept.append(plan)
        gc.collect()
        grown = (_rss() - before) / count
        estimate = float(np.mean([plan_bytes(p) for p in kept]))
        scenario = f"memory per cached plan: {label}"
        rows.append((scenario, "resident growth per plan", grown, "B/plan",
                     f"over {count} plans kept alive, in a fresh interpreter"))  # fmt: skip
        rows.append((scenario, "plan_bytes estimate (what the cache counts)", estimate,
                     "B/plan", ""))  # fmt: skip
    before = _rss()
    keep = [_geodesy.aeqd_transformer(10.0 + i * 1e-4, 60.0) for i in range(300)]
    rows.append(
        ("memory per cached AEQD transformer", "resident growth per transformer",
         (_rss() - before) / len(keep), "B/transformer",
         f"cache counts {_geodesy.AEQD_ENTRY_BYTES:,} B each"),
    )  # fmt: skip
    return rows


def run(quick: bool) -> Report:
    """Time target() against its own matcher query; measure the SQLite ledger."""
    report = Report()
    budgets = Budgets()  # the budgets in seconds, scaled by the host's speed
    n = 1_200_000
    index = PositionIndex(_positions(n))
    cold = _Cold(index)
    try:
        cold.chunk()  # the gated scenario's first rounds: see _Cold
        _run(report, index, quick, cold, budgets)
        cold.report(report, budgets)  # its last rounds
    finally:
        cold.close()
    budgets.close(report)
    return report


def _run(report: Report, index: PositionIndex, quick: bool, cold: _Cold, budgets: Budgets) -> None:
    """The scenarios of :func:`run` between the chunks of the gated cold scenario."""
    n = len(index)
    targeter = Targeter(sweden.hierarchy(), sweden.pilot_policy())
    repeat = 15 if quick else 20
    for radius, label in ((500.0, "Explosion 500 m"), (5_000.0, "Explosion 5 km")):
        scenario = f"target(): {label} at Sergels torg, {n:,} devices"
        msg = pilot.Message(headline="x", description="x", area_description="x")
        versions = [
            pilot.explosion(
                identifier=f"bench-{int(radius)}-{i}",
                sender="bench@example.se",
                sent=AT,
                area=Circle(*SERGELS_TORG, radius),
                sv=msg,
                en=msg,
                onset=AT,
                expires=AT + dt.timedelta(hours=2),
            )
            for i in range(repeat + 2)
        ]
        alert = versions[-1]
        rules = targeter.rules[pilot.EXPLOSION.name]
        rule = rules.location
        # The matcher's share of target(): classify the area and, for a kind with a stale rule,
        # query the area grown by the stale margin (both are index work, not pipeline overhead).
        grown = (
            None if rules.stale is None else Circle(*SERGELS_TORG, radius + rules.stale.margin_m)
        )

        # Every call delivers afresh: a new alert (same area, so the same plan) starts a new
        # incident with nobody told yet (the Targeter's ledger is fixed once built).
        fresh = iter(versions[:-1])

        def full(fresh: Iterator[alerts.Alert] = fresh) -> None:
            targeter.target(next(fresh), index, AT)

        def matcher(
            a: alerts.Alert = alert, rule: LocationRule = rule, grown: Circle | None = grown
        ) -> None:
            index.classify(a.area, rule, AT)  # type: ignore[arg-type]
            if grown is not None:
                index.query(grown)

        total = best_of(full, repeat=repeat)
        query = best_of(matcher, repeat=repeat)
        got = targeter.target(alert, index, AT)
        note = f"{len(got.recipients):,} recipients"
        report.add(Timing(scenario, "target() total", total, n, note))
        report.add(Timing(scenario, "matcher: classify (+ stale query) alone", query, n))
        report.add(Timing(scenario, "overhead beyond the matcher", max(total - query, 1e-9)))
        budgets.add(scenario, "budget", 0.005, note="the issue's bound")
        report.gates.append(Gate(scenario, "overhead beyond the matcher", "budget", 1.0))

    cold.chunk()  # the gated scenario's second chunk of rounds
    cold.ungated()
    _plan_memory(report)

    # The intake (issue 11): CAP bytes of an upstream 1 km Explosion (no geotarget event code),
    # read strictly, recognised by the pilot's rules, checked against a police-region issuer's
    # territory, then targeted — against target() of the same, already-parsed, alert with no
    # issuer table. Each call is a new alert (a new identifier and area): nothing is cached.
    scenario = f"receive(): an upstream 1 km Explosion (cold), {n:,} devices"
    from geotarget import cap
    from geotarget.issuers import Issuer, Issuers

    issuers = Issuers([Issuer(name="stockholm", senders=["bench@example.se"],
                              kinds=["explosion"], regions=["PR-STOCKHOLM"])])  # fmt: skip
    intake = Targeter(sweden.hierarchy(), sweden.pilot_policy(), recognition=pilot.RECOGNITION,
                      issuers=issuers)  # fmt: skip
    plain = Targeter(sweden.hierarchy(), sweden.pilot_policy(), recognition=pilot.RECOGNITION)
    lon0, lat0 = SERGELS_TORG
    doc = (
        '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>up-{i}</identifier>'
        "<sender>bench@example.se</sender><sent>2024-05-20T12:00:00-00:00</sent>"
        "<status>Actual</status><msgType>Alert</msgType><scope>Public</scope><info>"
        "<category>Security</category><event>Explosion</event><urgency>Immediate</urgency>"
        "<severity>Severe</severity><certainty>Likely</certainty>"
        "<expires>2024-05-20T14:00:00-00:00</expires><area><areaDesc>x</areaDesc>"
        "<circle>{lat},{lon} 1.0</circle></area></info></alert>"
    )
    docs = iter(
        doc.format(i=i, lat=lat0, lon=round(lon0 + (i % 200) * 1e-5, 7)).encode()
        for i in range(10**6)
    )
    got_intake: list[str] = []

    def received() -> None:
        got_intake.append(intake.receive(next(docs), index, AT).verdict.value)

    def targeted() -> None:
        plain.target(cap.loads(next(docs)), index, AT)

    cold.chunk()  # its third
    intake_total = best_of(received, repeat=repeat)
    plain_total = best_of(targeted, repeat=repeat)
    report.add(Timing(scenario, "receive() total, cold", intake_total, n, got_intake[-1]))
    report.add(Timing(scenario, "cap.loads + target(), no issuer table", plain_total, n))
    report.add(
        Timing(scenario, "cost of intake checks", max(intake_total - plain_total, 1e-9),
               note="recognition, authority, axis order")
    )  # fmt: skip

    # Issue 13's adversarial area end to end: the matcher's 1,000 circles of 50 m - 2 km around
    # Stockholm C as one CAP document (160 kB), received by an issuer allowed nationwide (so
    # the authority check decides every circle near a border) and confirmed past the blast-
    # radius guard. Each call is a new document whose circles moved by 1e-7 degrees: its
    # area, plan and region look-ups are new. Gated at the "under a second" (the CAP
    # reading of 2,000 circles, sv and en, is part of it; the matcher alone has 500 ms).
    from bench_matcher import thousand_circles

    scenario = f"receive(): a CAP document of 1,000 circles (cold), {n:,} devices"
    nationwide = Issuers([Issuer(name="all", senders=["bench@example.se"],
                                 kinds=["explosion"], regions=["SE"])])  # fmt: skip
    wide = Targeter(sweden.hierarchy(), sweden.pilot_policy(), recognition=pilot.RECOGNITION,
                    issuers=nationwide)  # fmt: skip
    base = [c for c in thousand_circles().parts if isinstance(c, Circle)]
    msg = pilot.Message(headline="x", description="x", area_description="x")
    circle_docs = iter(
        cap.dumps(
            pilot.explosion(
                identifier=f"circles-{i}",
                sender="bench@example.se",
                sent=AT,
                area=Area([Circle(c.lon + i * 1e-7, c.lat, c.radius_m) for c in base]),
                sv=msg,
                en=msg,
                onset=AT,
                expires=AT + dt.timedelta(hours=2),
            )
        ).encode()
        for i in range(10**6)
    )
    got_circles: list[str] = []

    def circles() -> None:
        got = wide.receive(next(circle_docs), index, AT, confirm=True)
        got_circles.append(f"{got.verdict.value}, {len(got.recipients):,} told")

    took = best_of(circles, repeat=3 if quick else 5)
    report.add(Timing(scenario, "receive() total, cold", took, n, got_circles[-1]))
    budgets.add(scenario, "budget", RECEIVE_BUDGET_S, note="issue 13: under a second")
    report.gates.append(Gate(scenario, "receive() total, cold", "budget", 1.0))

    _beside_enabled(report, index, quick)

    cold.chunk()  # its fourth (the fifth: cold.report)

    # The durable ledger: deliveries recorded per second, in batches of 10,000 new devices,
    # into an incident whose claims are rows (a first claim and a confirmation, untimed, make
    # it so: the first claims of a new incident are one log row each, see bench_ledger).
    batch = 10_000
    batches = 5 if quick else 20
    for sync in ("FULL", "NORMAL"):
        with (
            tempfile.TemporaryDirectory() as tmp,
            SQLiteLedger(Path(tmp) / "ledger.db", synchronous=sync) as ledger,
        ):
            ledger.claim("incident", [-1], version="a", at=AT)
            ledger.confirm_devices("incident", [-1], at=AT)
            t0 = time.perf_counter()
            for b in range(batches):
                ids = np.arange(b * batch, (b + 1) * batch, dtype=np.int64)
                ledger.claim("incident", ids, version="a", at=AT)
            took = (time.perf_counter() - t0) / batches
        report.add(
            Timing(
                f"SQLiteLedger.claim, {batch:,} new devices per batch",
                f"synchronous={sync}",
                took,
                batch,
                f"{batch / took:,.0f} deliveries/s",
            )
        )


def _beside_enabled(report: Report, index: PositionIndex, quick: bool) -> None:
    """A new tip request over a whole county beside the enabled ones (Uppsala county).

    Police information starts in Stockholm county, so the plan asks whether the area, grown
    by the snap distance, reaches an enabled municipality: for a county that shares a border
    with them it does, and the check compares the county's boundary with each enabled
    municipality near it. Reported against that check done as ``shapely.distance`` between
    the same projected geometries (what the plan did before: every segment of one against
    every segment of the other).
    """
    from geotarget import _evaluation, _geodesy

    n = len(index)
    scenario = (
        f"target(): a new tip request over Uppsala county, beside the enabled (cold), {n:,} devices"
    )
    targeter = Targeter(sweden.hierarchy(), sweden.pilot_policy())
    county = sweden.counties()["03"].geometry
    rings = [shapely.get_coordinates(p.exterior) for p in shapely.get_parts(county)]
    msg = pilot.Message(headline="x", description="x", area_description="x")
    counter = iter(range(10**9))

    def area() -> Area:
        shift = np.array([next(counter) * 1e-9, 0.0])
        return Area([Polygon(ring + shift) for ring in rings])

    got: list[str] = []

    def target() -> None:
        alert = pilot.tip_request(
            identifier=f"beside-{next(counter)}", sender="bench@example.se", sent=AT,
            area=area(), sv=msg, en=msg, onset=AT, expires=AT + dt.timedelta(hours=2),
        )  # fmt: skip
        result = targeter.target(alert, index, AT, confirm=True)
        got.append(f"{result.verdict.value}, plan {result.timings['plan'] * 1e3:.1f} ms")

    finest = sweden.municipalities()
    enabled = sorted(c for c in finest.codes if c.startswith("01"))
    snap_m = targeter.snap_m

    def pairwise() -> None:  # the previous plan's loop, to the first region reached
        for part in area().parts:
            assert isinstance(part, Polygon)
            lon0, lat0, metric = polygons.frame(part)
            west, south, east, north = part.shape.bounds
            box = _evaluation._box_around(west, south, east, north, snap_m + 1.0)
            t = _geodesy.aeqd_transformer(lon0, lat0)
            for code in enabled:
                region = finest[code]
                rw, rs, re, rn = region.bounds
                if rw > box[2] or re < box[0] or rs > box[3] or rn < box[1]:
                    continue
                if shapely.intersects(part.shape, region.geometry):
                    return
                near = shapely.clip_by_rect(region.geometry, *box)
                if near.is_empty:
                    continue
                if shapely.distance(metric, _evaluation._project(near, t)) <= snap_m:
                    return

    repeat = 3 if quick else 5
    ours = best_of(target, repeat=repeat)
    peer = best_of(pairwise, repeat=repeat)
    report.add(Timing(scenario, "target() total, cold", ours, n, got[-1]))
    report.add(
        Timing(scenario, "its reach check alone, by shapely.distance", peer, n,
               "the previous plan's check: not what ships")
    )  # fmt: skip


if __name__ == "__main__" and sys.argv[1:] == ["--plan-memory"]:
    print(json.dumps(_plan_memory_here()))
