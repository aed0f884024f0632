"""One seeded sequence of deliveries, confirmations and messages through every store (probe 16).

:class:`Model` is written from DESIGN.md's "Delivery" and "Who may be told" and the
:class:`~geotarget.ledger.DeliveryLedger` docstrings alone, in plain Python (dicts of who was
claimed, with which version, confirmed or not): nothing of geotarget's computes an expected
answer. The same operations run, step by step, on a :class:`MemoryLedger`, on two handles of
one SQLite file and on two handles of one PostgreSQL schema (one handle of each closed and
opened again midway), and every answer of every store is compared with the model's.

The sequences are ones no other test drives: two senders whose incidents share one
identifier, interleaved; Updates naming the Alert and an older Update but not the newest;
a Cancel naming only an Update, arriving before or after it; another sender's Cancel naming
an incident; keys confirmed twice, after expiry, of another incident's version, of a
replaced version; device ids as Unicode text (combining marks, a space, digits of other
scripts, astral code points) and as the int64 extremes, given as ints and as their text.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
import tracemalloc
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest

from geotarget import Circle, pilot
from geotarget.alerts import Alert, MessageType, Reference, Status
from geotarget.ledger import (
    ClaimStatus,
    DeliveryKind,
    MemoryLedger,
    PostgresLedger,
    SQLiteLedger,
)

T0 = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.timezone.utc)
LEASE = dt.timedelta(seconds=60)
S1, S2 = "polisen@polisen.se", "lansstyrelsen@example.se"
IDENT = "SE-112-0042"  # both senders' incidents carry it

#: Devices: the int64 extremes and small ints (also given as their text), and text ids that
#: look like numbers but are not int64 text, or hold combining marks, spaces, other scripts.
INTS = [-(2**63), 2**63 - 1, 0, -1, 7, 2**62]
TEXTS = [
    "007",
    "-0",
    "9223372036854775808",
    "-9223372036854775809",
    "\u00f6",  # ö
    "o\u0308",  # o + combining diaeresis: another device than ö
    "\u00d6",
    "a b",
    "\u0661\u0662",  # Arabic-Indic digits: not an integer
    "\U0001d7d5",  # mathematical bold digit 7
    "\U0001f6a8",
    "\U0010fffd",
    "Z" * 256,
]


def canon(device: str | int) -> str:
    """A device's canonical text: an int64's decimal text, a string as it is."""
    return str(device)


def is_int_text(text: str) -> bool:
    """Whether ``text`` is the canonical decimal text of an int64 (then it is that int)."""
    if not text or not all(c in "-0123456789" for c in text):
        return False
    try:
        value = int(text)
    except ValueError:
        return False
    return str(value) == text and -(2**63) <= value < 2**63


def store_rank(text: str) -> tuple[int, int, str]:
    """Order within one claim: integer ids ascending, then the other ids by code point."""
    if is_int_text(text):
        return (0, int(text), "")
    return (1, 0, text)


# -- messages ---------------------------------------------------------------------------------


def vid(sender: str, ident: str) -> str:
    """A version id, sender/identifier."""
    return f"{sender}/{ident}"


#: Per sender: the Alert, three Updates (sent one, two and three minutes later), a Cancel.
#: U2 names the Alert only (not U1); U3 names the Alert and U1 (not U2); the Cancel names
#: only U2. "F" is the other sender's Cancel naming this sender's Alert.
PLAN: dict[str, tuple[MessageType, int, tuple[str, ...]]] = {
    "A": (MessageType.ALERT, 0, ()),
    "U1": (MessageType.UPDATE, 1, ("A",)),
    "U2": (MessageType.UPDATE, 2, ("A",)),
    "U3": (MessageType.UPDATE, 3, ("A", "U1")),
    "C": (MessageType.CANCEL, 10, ("U2",)),
}
SUFFIX = {"A": "", "U1": ".u1", "U2": ".u2", "U3": ".u3", "C": ".c"}


def ident(name: str) -> str:
    """The CAP identifier of a planned message (the Alert's is IDENT for both senders)."""
    return IDENT + SUFFIX[name]


def sent_of(name: str) -> dt.datetime:
    """When a planned message was sent."""
    return T0 + dt.timedelta(minutes=PLAN[name][1])


def message(sender: str, name: str) -> Alert:
    """The planned message ``name`` of ``sender`` (``"F"``: the other sender's Cancel)."""
    area = Circle(lon=18.07, lat=59.33, radius_m=500.0)
    text = pilot.Message(headline="Explosion", description="Explosion", area_description="här")
    if name == "F":
        owner = S1 if sender == S2 else S2
        refs: tuple[Reference, ...] = (Reference(sender=owner, identifier=IDENT, sent=T0),)
        msg_type, sent, ident_ = MessageType.CANCEL, T0 + dt.timedelta(minutes=5), IDENT + ".f"
    else:
        msg_type, minutes, named = PLAN[name]
        refs = tuple(Reference(sender=sender, identifier=ident(n), sent=sent_of(n)) for n in named)
        sent, ident_ = T0 + dt.timedelta(minutes=minutes), ident(name)
    return pilot.explosion(
        identifier=ident_,
        sender=sender,
        sent=sent,
        area=area,
        sv=text,
        en=text,
        onset=sent,
        expires=sent + dt.timedelta(hours=3),
        msg_type=msg_type,
        references=refs,
    )


# -- the model --------------------------------------------------------------------------------


@attrs.define
class Delivery:
    """One delivery as the model expects the store to hold it."""

    version: str
    confirmed: bool
    lease_us: int
    seq: tuple[int, int, int, str]


@attrs.define
class Chain:
    """One incident (one sender's chain) as the model sees it."""

    key: str
    state: str = "absent"  # absent, active, cancelled, expired
    current: str | None = None
    current_minute: int = -1
    released: str | None = None
    cancelled_by: str | None = None
    recorded: dict[str, MessageType] = attrs.field(factory=dict)  # version -> type (has doc)
    placeholders: set[str] = attrs.field(factory=set)  # named, never seen
    alerts: dict[str, Delivery] = attrs.field(factory=dict)  # device -> delivery
    retractions: dict[str, Delivery] = attrs.field(factory=dict)

    def known(self, version: str) -> bool:
        """Whether the store resolves ``version`` to this incident."""
        return version in self.recorded or version in self.placeholders


def micros(at: dt.datetime) -> int:
    """An instant in µs since the epoch."""
    return (at - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)) // dt.timedelta(microseconds=1)


class Model:
    """Who was claimed, with which version, what is confirmed, per incident: plain dicts."""

    def __init__(self) -> None:
        self.chains = {s: Chain(key=vid(s, IDENT)) for s in (S1, S2)}
        self.remembered: dict[str, tuple[str, set[str]]] = {}  # cancel -> (sender, names)
        self.claims = 0

    def chain_of(self, key: str) -> Chain | None:
        """The chain whose incident key is ``key``."""
        return next((c for c in self.chains.values() if c.key == key), None)

    def retract(self, chain: Chain, cancel: str, at_us: int) -> list[str]:
        """The incident ends; every device ever claimed gets a pending retraction."""
        chain.state = "cancelled"
        chain.cancelled_by = chain.cancelled_by or cancel
        for device, d in chain.alerts.items():
            if device not in chain.retractions:
                chain.retractions[device] = Delivery(
                    chain.cancelled_by, False, at_us + micros_of(LEASE), d.seq
                )
        pending = [(d.seq, dev) for dev, d in chain.retractions.items() if not d.confirmed]
        return [dev for _, dev in sorted(pending)]

    def early_cancel(self, sender: str, names: set[str]) -> str | None:
        """A remembered Cancel of ``sender`` naming any of ``names``."""
        for cancel, (who, named) in self.remembered.items():
            if who == sender and named & names:
                return cancel
        return None

    def admit(self, sender: str, name: str, at_us: int) -> tuple[str, list[str] | None]:
        """The transition DESIGN.md's rules give, and the retraction's devices if any."""
        if name == "F":
            owner = S1 if sender == S2 else S2
            target = self.chains[owner]
            cancel = vid(sender, IDENT + ".f")
            if target.known(target.key):
                return "not_authorised", None
            self.remembered.setdefault(cancel, (sender, {target.key}))
            return "remembered", None
        chain = self.chains[sender]
        v = vid(sender, ident(name))
        msg_type, minute, named = PLAN[name]
        refs = {vid(sender, ident(n)) for n in named}
        if v in chain.recorded:
            if chain.state in ("cancelled", "expired"):
                return chain.state, None
            return ("same" if chain.current == v else "superseded"), None
        if msg_type is MessageType.CANCEL:
            if not any(chain.known(r) for r in refs):
                self.remembered.setdefault(v, (sender, set(refs)))
                return "remembered", None
            chain.recorded[v] = msg_type
            for r in refs:
                if not chain.known(r):
                    chain.placeholders.add(r)
                    self.remembered.setdefault(v, (sender, set()))[1].add(r)
            if chain.state in ("cancelled", "expired"):
                return chain.state, None
            return "retracted", self.retract(chain, v, at_us)
        # An Alert or Update, never seen (or only named).
        starts = chain.state == "absent"
        chain.recorded[v] = msg_type
        chain.placeholders.discard(v)
        for r in refs:
            if not chain.known(r):
                chain.placeholders.add(r)
        early = self.early_cancel(sender, {v} | refs)
        if starts:
            if early is not None:
                chain.state, chain.cancelled_by = "cancelled", early
                return "cancelled", None
            chain.state, chain.current, chain.current_minute = "active", v, minute
            return "started", None
        if chain.state in ("cancelled", "expired"):
            return chain.state, None
        if early is not None:
            return "retracted", self.retract(chain, early, at_us)
        if minute > chain.current_minute:
            chain.current, chain.current_minute = v, minute
            return "updated", None
        return "superseded", None

    def claim(
        self, key: str, batch: list[str | int], version: str, at_us: int
    ) -> tuple[ClaimStatus, list[int]]:
        """The claim's status and the positions (into ``batch``) claimed now."""
        chain = self.chain_of(key)
        assert chain is not None and chain.state != "absent"
        if chain.state == "cancelled":
            return ClaimStatus.CANCELLED, []
        if chain.state == "expired":
            return ClaimStatus.EXPIRED, []
        if version != chain.current:
            return ClaimStatus.SUPERSEDED, []
        chain.released = version
        self.claims += 1
        first: dict[str, int] = {}
        for i, device in enumerate(batch):
            first.setdefault(canon(device), i)
        took = []
        for text, i in first.items():
            old = chain.alerts.get(text)
            if old is None or (not old.confirmed and old.version != version):
                took.append((store_rank(text), text, i))
        for rank, text, _ in took:
            chain.alerts[text] = Delivery(
                version, False, at_us + micros_of(LEASE), (self.claims, *rank)
            )
        return ClaimStatus.CLAIMED, sorted(i for _, _, i in took)

    def replaced(self, chain: Chain, version: str) -> bool:
        """Whether ``version`` is an Alert or Update of ``chain`` no longer current."""
        kind = chain.recorded.get(version)
        return (
            kind is not None
            and kind is not MessageType.CANCEL
            and version != chain.current
            and version != chain.cancelled_by
        )

    def confirm(self, keys: list[str]) -> tuple[list[int], list[int], list[int]]:
        """(confirmed now, already, unknown): positions of each key's first occurrence."""
        out: tuple[list[int], list[int], list[int]] = ([], [], [])
        first: dict[str, int] = {}
        for i, key in enumerate(keys):
            first.setdefault(key, i)
        # Two keys of one delivery in one call (a replaced version's and the current one's):
        # one is "confirmed now", the other "already". The stores take the keys by their
        # (incident, version), then in input order: which of the two is "now" is theirs.
        for key, i in sorted(first.items(), key=lambda kv: (kv[0].split(" ", 2)[:2], kv[1])):
            inc, version, device = key.split(" ", 2)
            device = canon(int(device)) if is_int_text(device) else device
            chain = self.chain_of(inc)
            found: Delivery | None = None
            if chain is not None:
                for table in (chain.alerts, chain.retractions):
                    d = table.get(device)
                    if d is not None and d.version == version:
                        found = d
                if found is None and self.replaced(chain, version):
                    found = chain.alerts.get(device)
            if found is None:
                out[2].append(i)
            elif found.confirmed:
                out[1].append(i)
            else:
                found.confirmed = True
                out[0].append(i)
        return (sorted(out[0]), sorted(out[1]), sorted(out[2]))

    def confirm_devices(
        self, key: str, devices: list[str | int], kind: DeliveryKind
    ) -> tuple[list[int], list[int], list[int]]:
        """As :meth:`confirm`, naming one incident's devices and the kind of delivery."""
        chain = self.chain_of(key)
        assert chain is not None
        table = chain.alerts if kind is DeliveryKind.ALERT else chain.retractions
        out: tuple[list[int], list[int], list[int]] = ([], [], [])
        seen: set[str] = set()
        for i, device in enumerate(devices):
            text = canon(device)
            if text in seen:
                continue
            seen.add(text)
            d = table.get(text)
            if d is None:
                out[2].append(i)
            elif d.confirmed:
                out[1].append(i)
            else:
                d.confirmed = True
                out[0].append(i)
        return out

    def due(self, at_us: int, renew_us: int | None) -> list[tuple[str, str, str, list[str]]]:
        """Due deliveries per (incident, version, kind), in claim order; renewed if asked."""
        groups: dict[tuple[str, str, str], list[tuple[Any, str]]] = {}
        for chain in self.chains.values():
            tables = [("retraction", chain.retractions)]
            if chain.state == "active":
                tables.insert(0, ("alert", chain.alerts))
            for kind, table in tables:
                for device, d in table.items():
                    if d.confirmed or d.lease_us > at_us:
                        continue
                    if kind == "alert" and d.version != chain.current:
                        continue  # held: pending on a replaced version
                    groups.setdefault((chain.key, d.version, kind), []).append((d.seq, device))
                    if renew_us is not None:
                        d.lease_us = renew_us
        return sorted((*k, [dev for _, dev in sorted(v)]) for k, v in groups.items())

    def pending(self, key: str, kind: DeliveryKind) -> list[tuple[str, list[str]]]:
        """Every unconfirmed delivery of ``kind``, per version (sorted), in claim order."""
        chain = self.chain_of(key)
        assert chain is not None
        table = chain.alerts if kind is DeliveryKind.ALERT else chain.retractions
        groups: dict[str, list[tuple[Any, str]]] = {}
        for device, d in table.items():
            if not d.confirmed:
                groups.setdefault(d.version, []).append((d.seq, device))
        return sorted((v, [dev for _, dev in sorted(items)]) for v, items in groups.items())

    def recipients(self, key: str) -> list[str]:
        """Every device claimed for the incident, in claim order."""
        chain = self.chain_of(key)
        assert chain is not None
        return [dev for _, dev in sorted((d.seq, dev) for dev, d in chain.alerts.items())]


def micros_of(delta: dt.timedelta) -> int:
    """A duration in µs."""
    return delta // dt.timedelta(microseconds=1)


# -- what the stores answered, in the model's terms -------------------------------------------


def grouped(claims: list[Any]) -> list[tuple[str, str, str, list[str]]]:
    """due()/redeliver() answers as sorted (incident, version, kind, devices in order)."""
    return sorted(
        (c.incident, c.version, c.kind.name.lower(), c.devices.tolist()) for c in claims if len(c)
    )


def confirmation(done: Any) -> tuple[list[int], list[int], list[int]]:
    return done.confirmed.tolist(), done.already.tolist(), done.unknown.tolist()


# -- the sequence -----------------------------------------------------------------------------


def device_batch(rng: random.Random) -> list[str | int]:
    """A batch drawn from the pool: ints, their text, text ids, duplicates."""
    pool: list[str | int] = [*INTS, *map(str, INTS), *TEXTS]
    return [rng.choice(pool) for _ in range(rng.randint(0, 9))]


def as_given(rng: random.Random, batch: list[str | int]) -> Any:
    """The batch as a list, or as a numpy array of int64 or of str (one dtype)."""
    if batch and rng.random() < 0.4:
        if all(isinstance(d, int) for d in batch):
            return np.array(batch, dtype=np.int64)
        return np.array([str(d) for d in batch])
    return list(batch)


class Run:
    """The stores run side by side: the model, memory, and two handles each of SQL stores."""

    def __init__(self, tmp_path: Path, dsn: str) -> None:
        self.path, self.dsn = tmp_path / "ledger.db", dsn
        self.handles: dict[str, list[Any]] = {
            "memory": [MemoryLedger()],
            "sqlite": [SQLiteLedger(self.path), SQLiteLedger(self.path)],
            "postgres": [PostgresLedger(dsn), PostgresLedger(dsn)],
        }

    def reopen(self) -> None:
        """Close one handle of each SQL store and open it again on the same file/schema."""
        for name, opener in (
            ("sqlite", lambda: SQLiteLedger(self.path)),
            ("postgres", lambda: PostgresLedger(self.dsn)),
        ):
            self.handles[name][0].close()
            self.handles[name][0] = opener()

    def each(self, rng: random.Random) -> list[tuple[str, Any]]:
        """One handle of each store (the SQL stores' drawn at random)."""
        return [(name, rng.choice(hs)) for name, hs in self.handles.items()]

    def close(self) -> None:
        """Close every handle."""
        for hs in self.handles.values():
            for h in hs:
                h.close()


def run_sequence(run: Run, seed: int, steps: int) -> None:
    """``steps`` random operations, every store's answer compared with the model's."""
    rng = random.Random(seed)
    model = Model()
    at = T0 + dt.timedelta(minutes=20)
    issued: list[str] = []  # every key any claim or retraction returned
    names = ["A", "U1", "U2", "U3", "C", "F"]
    for step in range(steps):
        if step == steps // 2:
            run.reopen()
        at += dt.timedelta(seconds=rng.choice([0, 1, 30, 59, 60, 61, 90]))
        at_us = micros(at)
        op = rng.choices(
            ["admit", "claim", "confirm", "confirm_devices", "redeliver", "due", "expire"],
            weights=[5, 7, 3, 1, 2, 1, 0.2 if step > steps // 2 else 0],
        )[0]
        sender = rng.choice([S1, S2])
        chain = model.chains[sender]
        where = f"seed {seed} step {step} {op}"
        if op == "admit":
            name = rng.choice(names)
            alert = message(sender, name)
            want, retraction = model.admit(sender, name, at_us)
            for store, h in run.each(rng):
                got = h.admit(alert, at=at, lease=LEASE)
                assert got.transition.value == want, (where, store, name, got.why)
                if retraction is not None:
                    assert got.retraction.devices.tolist() == retraction, (where, store)
                    issued.extend(got.retraction.keys().tolist())
        elif op == "claim" and chain.state != "absent":
            batch = device_batch(rng)
            version = chain.current if rng.random() < 0.85 else vid(sender, ident("U1"))
            version = version or vid(sender, IDENT)
            given = as_given(rng, batch)
            status, positions = model.claim(chain.key, batch, version, at_us)
            for store, h in run.each(rng):
                got = h.claim(chain.key, given, version=version, at=at, lease=LEASE)
                assert got.status is status, (where, store)
                assert got.positions.tolist() == positions, (where, store, batch)
                assert got.devices.tolist() == [canon(batch[i]) for i in positions], where
                issued.extend(got.keys().tolist())
        elif op == "confirm" and issued:
            keys = [rng.choice(issued) for _ in range(rng.randint(1, 6))]
            if rng.random() < 0.3:  # a key of the other sender's version, for this incident
                inc, ver, dev = rng.choice(issued).split(" ", 2)
                other = model.chains[S2 if inc.startswith(S1) else S1].key
                keys.append(f"{other} {ver} {dev}")
            want3 = model.confirm(keys)
            for store, h in run.each(rng):
                assert confirmation(h.confirm(keys, at=at)) == want3, (where, store, keys)
        elif op == "confirm_devices" and chain.state != "absent":
            batch = device_batch(rng)
            kind = rng.choice([DeliveryKind.ALERT, DeliveryKind.RETRACTION])
            want3 = model.confirm_devices(chain.key, batch, kind)
            for store, h in run.each(rng):
                got = h.confirm_devices(chain.key, as_given(rng, batch), at=at, kind=kind)
                assert confirmation(got) == want3, (where, store, batch)
        elif op in ("redeliver", "due"):
            renew = at_us + micros_of(LEASE) if op == "redeliver" else None
            want4 = model.due(at_us, renew)
            for store, h in run.each(rng):
                got = h.redeliver(at, lease=LEASE) if op == "redeliver" else h.due(at)
                assert grouped(got) == want4, (where, store)
        elif op == "expire" and chain.state != "absent":
            want_b = chain.state == "active"
            if want_b:
                chain.state = "expired"
            for store, h in run.each(rng):
                assert h.expire(chain.key, at=at) is want_b, (where, store)
        # Reads after every step, of both incidents, from a handle of each store.
        for c in model.chains.values():
            if c.state == "absent":
                continue
            for store, h in run.each(rng):
                if True:
                    inc = h.incident(c.key)
                    got4 = (inc.state.name.lower(), inc.version, inc.released, inc.cancelled_by)
                    want_i = (c.state, c.current, c.released, c.cancelled_by)
                    assert got4 == want_i, (where, store, c.key)
                    assert h.recipients(c.key).tolist() == model.recipients(c.key), (where, store)
                    for kind in DeliveryKind:
                        got_p = [
                            (p.version, p.devices.tolist()) for p in h.pending(c.key, kind=kind)
                        ]
                        assert got_p == model.pending(c.key, kind), (where, store, kind)
                    probe: list[str | int] = [*INTS, *TEXTS]
                    told = set(model.recipients(c.key))
                    assert h.delivered(c.key, probe).tolist() == [canon(d) in told for d in probe]
                    for v in [*c.recorded, *c.placeholders]:
                        assert h.lookup_version(v)[0] == c.key, (where, store, v)


@pytest.mark.parametrize("seed", range(2))
def test_every_store_answers_a_random_sequence_as_the_model(
    seed: int, tmp_path: Path, postgres_dsn: str
) -> None:
    """Memory, SQLite (two handles, one reopened) and PostgreSQL (the same) answer as the model."""
    run = Run(tmp_path, postgres_dsn)
    try:
        run_sequence(run, seed, steps=60)
    finally:
        run.close()


# -- what the sequences found, pinned ---------------------------------------------------------


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """A fresh store of each kind (PostgreSQL: a schema of the test cluster)."""
    if request.param == "memory":
        made: Any = MemoryLedger()
    elif request.param == "sqlite":
        made = SQLiteLedger(tmp_path / "deliveries.db")
    else:
        made = PostgresLedger(request.getfixturevalue("postgres_dsn"))
    yield made
    made.close()


def test_a_key_naming_one_incident_and_another_s_version_confirms_nothing(store: Any) -> None:
    """Two senders' incidents share an identifier; a key mixing them names no delivery.

    Regression: ``confirm(["S2/X S1/X d"])`` (incident of the second sender, version of the
    first) found the version in the first sender's incident, took the key for one of an
    incident merged into it and confirmed the first sender's delivery to ``d``, which was
    never pushed: ``d`` was never offered S1's alert again. Only a merged incident's keys
    are confirmed where its deliveries went.
    """
    at = T0 + dt.timedelta(minutes=20)
    for sender in (S1, S2):
        assert store.admit(message(sender, "A"), at=at).transition.value == "started"
    s1, s2 = vid(S1, IDENT), vid(S2, IDENT)
    claimed = store.claim(s1, ["d", 7], version=s1, at=at)
    assert claimed.keys().tolist() == [f"{s1} {s1} d", f"{s1} {s1} 7"]
    done = store.confirm([f"{s2} {s1} d", f"{s2} {s1} 7"], at=at)
    assert confirmation(done) == ([], [], [0, 1])
    done = store.confirm_devices(s2, ["d"], at=at)
    assert confirmation(done) == ([], [], [0])
    (still,) = store.pending(s1)
    assert sorted(still.devices.tolist()) == ["7", "d"]
    offered = store.redeliver(at + 2 * LEASE)
    assert [(c.incident, sorted(c.devices.tolist())) for c in offered] == [(s1, ["7", "d"])]


def test_a_claim_that_takes_held_devices_answers_positions_ascending(store: Any) -> None:
    """A claim re-keying a held device and claiming new ones gives positions ascending.

    Regression: PostgreSQL returned the server's row order ([3, 0, 1, 2, 4, 5] for six ids
    of which the fourth was held) whenever every id of the batch was claimed, as the
    documented ``Claims.positions`` ("ascending") of a claim of new devices alone is.
    """
    at = T0 + dt.timedelta(minutes=20)
    key = vid(S1, IDENT)
    store.admit(message(S1, "A"), at=at)
    assert store.claim(key, ["7"], version=key, at=at).devices.tolist() == ["7"]
    assert store.admit(message(S1, "U1"), at=at).transition.value == "updated"
    batch = ["-0", "0", str(-(2**63)), "7", "\u00d6", "Z" * 256]
    for version in (vid(S1, ident("U1")),):
        got = store.claim(key, np.array(batch), version=version, at=at)
        assert got.positions.tolist() == [0, 1, 2, 3, 4, 5]
        assert got.devices.tolist() == batch
        assert [k.rsplit(" ", 1)[1] for k in got.keys().tolist()] == batch
    # Ids not in store order, all new, into an incident that had a conflict before.
    again = store.claim(key, [10, 9, "b", "a", 8], version=vid(S1, ident("U1")), at=at)
    assert again.positions.tolist() == [0, 1, 2, 3, 4]
    assert again.devices.tolist() == ["10", "9", "b", "a", "8"]


# -- two instances claiming one incident at once ----------------------------------------------


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_two_instances_claiming_one_incident_at_once_claim_each_device_once(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Two handles, two threads each, claim overlapping batches of one incident at once.

    Every device is claimed by exactly one of the four claims (the union is every device,
    no device twice), then redelivered to exactly one of two concurrent redeliveries.
    """
    if kind == "sqlite":
        opener: Any = lambda: SQLiteLedger(tmp_path / "shared.db")  # noqa: E731
    else:
        dsn = request.getfixturevalue("postgres_dsn")
        opener = lambda: PostgresLedger(dsn)  # noqa: E731
    handles = [opener(), opener()]
    at = T0 + dt.timedelta(minutes=20)
    key = vid(S1, IDENT)
    handles[0].admit(message(S1, "A"), at=at)
    everyone: list[str | int] = [
        *INTS,
        *TEXTS,
        *(f"dev-\u00e5\u00e4\u00f6-{i}" for i in range(4000)),
    ]
    everyone += list(range(-(2**63) + 1, -(2**63) + 4000))
    rng = random.Random(16)
    batches = []
    for _ in range(4):
        batch = [d for d in everyone if rng.random() < 0.7]
        rng.shuffle(batch)
        batches.append([str(d) for d in batch])
    covered = {canon(d) for b in batches for d in b}
    barrier = threading.Barrier(4)
    got: list[list[str]] = [[] for _ in range(4)]
    errors: list[BaseException] = []

    def claim(i: int) -> None:
        try:
            barrier.wait()
            got[i] = handles[i % 2].claim(key, batches[i], version=key, at=at).devices.tolist()
        except BaseException as err:  # pragma: no cover (shown below)
            errors.append(err)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        flat = [d for g in got for d in g]
        assert len(flat) == len(set(flat))
        assert set(flat) == covered
        for h in handles:
            assert sorted(h.recipients(key).tolist()) == sorted(covered)
        offered: list[list[str]] = [[], []]
        barrier2 = threading.Barrier(2)

        def redeliver(i: int) -> None:
            barrier2.wait()
            claims = handles[i].redeliver(at + 2 * LEASE)
            offered[i] = [d for c in claims for d in c.devices.tolist()]

        pair = [threading.Thread(target=redeliver, args=(i,)) for i in range(2)]
        for t in pair:
            t.start()
        for t in pair:
            t.join()
        both = offered[0] + offered[1]
        assert len(both) == len(set(both)) and set(both) == covered
    finally:
        for h in handles:
            h.close()


# -- a large batch ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_a_batch_of_100k_devices_is_claimed_confirmed_and_redelivered_in_bounded_memory(
    kind: str, tmp_path: Path
) -> None:
    """100,000 ids in one claim (int64 from its minimum; in memory also Unicode text).

    The Python memory a claim and a redelivery take at their peak stays within a few hundred
    bytes per device (no Python object per device kept, no quadratic copy), a confirmation's
    (measured in memory: it parses the keys alike in every store) within 8 times the keys'
    own numpy size. Half the keys confirmed; exactly the other half come back, in claim order.
    """
    n = 100_000
    store: Any = MemoryLedger() if kind == "memory" else SQLiteLedger(tmp_path / "big.db")
    batches = [np.arange(-(2**63), -(2**63) + n, dtype=np.int64)]
    if kind == "memory":
        batches.append(np.array([f"\u00f6-{i:06d}-\U0001f6a8" for i in range(n)]))
    at = T0 + dt.timedelta(minutes=20)

    def traced(call: Any, *args: Any, **kw: Any) -> tuple[Any, int]:
        """``call(*args, **kw)`` and the Python memory it took at its peak."""
        tracemalloc.start()
        try:
            return call(*args, **kw), tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    try:
        for ids in batches:
            key = f"{S1}/big-{ids.dtype.kind}"
            claims, peak = traced(store.claim, key, ids, version=key, at=at)
            assert len(claims) == n and peak < 400 * n, peak
            keys = claims.keys()
            if kind == "memory":
                done, peak = traced(store.confirm, keys[::2], at=at)
                assert peak < 8 * keys.nbytes // 2, peak
            else:
                done = store.confirm(keys[::2], at=at)
            assert done.confirmed.size == n // 2
            back, peak = traced(store.redeliver, at + 2 * LEASE)
            (offered,) = back
            assert offered.devices.tolist() == [str(i) for i in ids[1::2].tolist()]
            assert peak < 400 * n, peak
            store.confirm(offered.keys(), at=at)  # (the next batch's redelivery: its own)
    finally:
        store.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_claim_racing_an_update_and_its_claim_in_another_instance_tells_each_device_once(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Instance A claims the Alert's devices while instance B admits an Update and claims.

    Whichever order the store's transactions ran in: B's claim (the current version) takes
    every device of its batch (new, or held on the Alert); A's takes all of its batch or,
    arriving after the Update, nothing (SUPERSEDED). Afterwards each device of B's batch is
    pending on the Update alone, and each device only A covered on the Alert (held).
    """
    if kind == "sqlite":
        opener: Any = lambda: SQLiteLedger(tmp_path / "race.db")  # noqa: E731
    else:
        dsn = request.getfixturevalue("postgres_dsn")
        opener = lambda: PostgresLedger(dsn)  # noqa: E731
    a, b = opener(), opener()
    at = T0 + dt.timedelta(minutes=20)
    key, v1, v2 = vid(S1, IDENT), vid(S1, IDENT), vid(S1, ident("U1"))
    a.admit(message(S1, "A"), at=at)
    rng = random.Random(1616)
    pool = [*map(str, INTS), *TEXTS, *(f"\u00e5-{i}" for i in range(3000))]
    batch_a = [d for d in pool if rng.random() < 0.6]
    batch_b = [d for d in pool if rng.random() < 0.6]
    barrier = threading.Barrier(2)
    got: dict[str, Any] = {}

    def run_a() -> None:
        barrier.wait()
        got["a"] = a.claim(key, batch_a, version=v1, at=at)

    def run_b() -> None:
        barrier.wait()
        got["admit"] = b.admit(message(S1, "U1"), at=at).transition.value
        got["b"] = b.claim(key, batch_b, version=v2, at=at)

    threads = [threading.Thread(target=run_a), threading.Thread(target=run_b)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert got["admit"] == "updated"
        assert sorted(got["b"].devices.tolist()) == sorted(batch_b)
        claimed_a = got["a"].status is ClaimStatus.CLAIMED
        assert got["a"].status in (ClaimStatus.CLAIMED, ClaimStatus.SUPERSEDED)
        assert sorted(got["a"].devices.tolist()) == (sorted(batch_a) if claimed_a else [])
        only_a = sorted(set(batch_a) - set(batch_b)) if claimed_a else []
        for h in (a, b):
            want = [(v1, only_a)] if only_a else []
            want = sorted([*want, (v2, sorted(batch_b))])
            held = [(p.version, sorted(p.devices.tolist())) for p in h.pending(key)]
            assert held == want
            (due,) = h.due(at + 2 * LEASE)
            assert (due.version, sorted(due.devices.tolist())) == (v2, sorted(batch_b))
    finally:
        a.close()
        b.close()


def test_a_drill_key_confirmed_after_its_original_took_the_incident_back_still_counts(
    store: Any,
) -> None:
    """A Test Update that named an Actual alert first started its incident; the alert came.

    The drill's deliveries moved to an incident of the drill's own (the original takes its
    key back): a key the drill's claim gave, confirmed afterwards, confirms that delivery,
    which is then pending nowhere; a key mixing the two incidents the other way is unknown.
    """
    at = T0 + dt.timedelta(minutes=20)
    drill = attrs.evolve(message(S1, "U1"), status=Status.TEST)
    started = store.admit(drill, at=at)
    key, drill_vid = started.incident.key, started.version
    claimed = store.claim(key, ["d", 2**63 - 1], version=drill_vid, at=at)
    back = store.admit(message(S1, "A"), at=at)
    assert (back.incident.key, back.incident.status) == (key, "Actual")
    assert store.lookup_version(drill_vid)[0] == drill_vid  # the drill's own incident now
    done = store.confirm(claimed.keys()[:1], at=at)
    assert confirmation(done) == ([0], [], [])
    assert [p.devices.tolist() for p in store.pending(drill_vid)] == [[str(2**63 - 1)]]
    assert store.pending(key) == []
    forged = store.confirm([f"{drill_vid} {key} {2**63 - 1}"], at=at)
    assert confirmation(forged) == ([], [], [0])
