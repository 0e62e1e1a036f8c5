"""Limits as one instance keeps them: its copy of the failed-authentication counts and its
share of each key's rate (both held for every instance in the database), the tally that
keeps lockout refusals from flooding the audit trail, and open live feeds."""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

K = TypeVar("K")
Clock = Callable[[], float]
# Entries are dropped once stale; past this many, a sweep runs before adding another.
_SWEEP_AT = 10_000


@dataclass
class _Count:
    failures: int
    locked_until: float
    seen_at: float


@dataclass
class FailureMirror:
    """This instance's copy of the failed-authentication counts all instances share.

    The database counts and locks (app/repositories/limits.py); each instance learns the
    result of its own failures at once and those of the others from their announcements
    (app/services/changes.py), so a lockout is checked here, without a round trip. Keys are
    (client, prefix): prefix '' for none, '*' for the client over every prefix.
    CJIS Security Policy 5.5.3: no more than five consecutive invalid attempts.
    """

    window: float
    clock: Clock = time.monotonic
    _counts: dict[tuple[str, str], _Count] = field(default_factory=dict)

    def retry_after(self, *keys: tuple[str, str]) -> int | None:
        """Seconds until none of keys is locked out, or None when none is."""
        now = self.clock()
        waits = [c.locked_until - now for k in keys if (c := self._counts.get(k)) is not None]
        longest = max(waits, default=0.0)
        return math.ceil(longest) if longest > 0 else None

    def has_failures(self, key: tuple[str, str]) -> bool:
        """Whether failures are counted against key (a success must clear them)."""
        count = self._counts.get(key)
        return count is not None and count.failures > 0

    def learn(self, key: tuple[str, str], failures: int, locked_for: float | None) -> None:
        """Take a count the database reported (no failures: cleared).

        Announcements may arrive after this instance's own newer answer: a lockout already
        known is kept until it ends, so an older count cannot lift it.
        """
        now = self.clock()
        if failures <= 0:
            self._counts.pop(key, None)
            return
        locked_until = now + locked_for if locked_for is not None and locked_for > 0 else 0.0
        count = self._counts.get(key)
        if count is None:
            if len(self._counts) >= _SWEEP_AT:
                self._sweep(now)
            self._counts[key] = _Count(failures, locked_until, now)
            return
        count.failures = failures
        count.locked_until = max(count.locked_until, locked_until)
        count.seen_at = now

    def clear(self) -> None:
        self._counts.clear()

    def replace(
        self,
        counts: Iterable[tuple[tuple[str, str], int, float | None]],
        *,
        read_since: float,
    ) -> None:
        """Take the database's counts, read at read_since (clock()) or later, in place of
        everything learned before then. What was learned since (an announcement, this
        instance's own failure) is as new as the read or newer, and stays: the read must
        not take back a lockout announced while it ran."""
        kept = {k: c for k, c in self._counts.items() if c.seen_at >= read_since}
        self._counts.clear()
        for key, failures, locked_for in counts:
            if key not in kept:
                self.learn(key, failures, locked_for)
        self._counts.update(kept)

    def _sweep(self, now: float) -> None:
        for key in [
            k
            for k, c in self._counts.items()
            if c.locked_until <= now and now - c.seen_at > self.window
        ]:
            del self._counts[key]


@dataclass
class _Tally:
    recorded_at: float
    held: int = 0


@dataclass
class RefusalTally(Generic[K]):
    """Count refusals per key so the audit trail gets at most one entry per `window` seconds
    per key, each carrying how many refusals it stands for.

    The first refusal is recorded at once; those that follow within the window are held and
    counted, and go with the next entry: the next refusal after the window, or `due()`.
    """

    window: float
    clock: Clock = time.monotonic
    _tallies: dict[K, _Tally] = field(default_factory=dict)

    def refused(self, key: K) -> int | None:
        """Count one refusal: how many to record now (it and those held), or None to hold it."""
        now = self.clock()
        tally = self._tallies.get(key)
        if tally is not None and now - tally.recorded_at < self.window:
            tally.held += 1
            return None
        if tally is None and len(self._tallies) >= _SWEEP_AT:
            self.due()  # drops every key whose window has passed
        self._tallies[key] = _Tally(recorded_at=now)
        return 1 + (tally.held if tally is not None else 0)

    def due(self) -> list[tuple[K, int]]:
        """The held refusals of every key whose window has passed, to record now; those keys
        are forgotten (their next refusal is recorded at once)."""
        now = self.clock()
        done = [k for k, t in self._tallies.items() if now - t.recorded_at >= self.window]
        counts = [(k, self._tallies[k].held) for k in done if self._tallies[k].held]
        for k in done:
            del self._tallies[k]
        return counts


# An instance takes this many seconds' worth of refill from a key's shared bucket at a
# time, and spends it locally: one round trip per chunk, and at most a chunk per instance
# spent later than taken (SPEC §9: "give or take one refill").
LEASE_REFILL_SECONDS = 0.1
# Tokens taken and not spent within this are dropped (the bucket refills fully in a minute).
LEASE_SECONDS = 60.0


@dataclass
class _Lease:
    tokens: int = 0
    expires: float = 0.0
    # The shared bucket had no whole token: none before this, so refuse without asking.
    empty_until: float = 0.0


@dataclass
class RateLeases(Generic[K]):
    """This instance's share of each key's token bucket, which the database holds for all
    instances: `per_minute` requests a minute, in bursts of up to that many.

    The database grants tokens in chunks (app/repositories/limits.py); this spends them.
    """

    per_minute: int
    clock: Clock = time.monotonic
    _leases: dict[K, _Lease] = field(default_factory=dict)

    @property
    def chunk(self) -> int:
        """How many tokens to ask the shared bucket for at once."""
        return max(1, math.floor(self.per_minute * LEASE_REFILL_SECONDS / 60.0))

    def spend(self, key: K) -> bool:
        """Spend one token of this instance's lease, if it holds one."""
        lease = self._leases.get(key)
        if lease is None or lease.tokens <= 0 or lease.expires <= self.clock():
            return False
        lease.tokens -= 1
        return True

    def refused_for(self, key: K) -> int | None:
        """Seconds until the shared bucket has a token again, if it is known to have none."""
        lease = self._leases.get(key)
        remaining = 0.0 if lease is None else lease.empty_until - self.clock()
        return max(1, math.ceil(remaining)) if remaining > 0 else None

    def granted(self, key: K, taken: int, left: float) -> None:
        """Add what the shared bucket gave; left is what it still holds."""
        now = self.clock()
        lease = self._leases.get(key)
        if lease is None:
            if len(self._leases) >= _SWEEP_AT:
                self._leases = {k: v for k, v in self._leases.items() if v.expires > now}
            lease = self._leases[key] = _Lease()
        if lease.expires <= now:
            lease.tokens = 0
        lease.tokens += taken
        lease.expires = now + LEASE_SECONDS
        rate = self.per_minute / 60.0
        lease.empty_until = now + (1.0 - left) / rate if left < 1.0 else 0.0


# A slot taken that no holder holds yet (Slots.give_back).
_NOBODY = object()


@dataclass
class Slots:
    """At most `limit` of something open at once (live feeds on this instance), and at most
    `per_holder` of them held by one holder (an API key): one key of one agency took every
    feed an instance serves, and the other agencies' consoles got 503 (a security review)."""

    limit: int
    per_holder: int
    taken: int = 0
    held: Counter[object] = field(default_factory=Counter)

    def take(self) -> bool:
        """Take a slot if one is free."""
        if self.taken >= self.limit:
            return False
        self.taken += 1
        return True

    def hold(self, holder: object) -> bool:
        """Make a slot taken holder's, if it holds fewer than per_holder; else give it back."""
        if self.held[holder] >= self.per_holder:
            self.give_back()
            return False
        self.held[holder] += 1
        return True

    def give_back(self, holder: object = _NOBODY) -> None:
        """Give a slot back (holder's, if it held it)."""
        self.taken = max(0, self.taken - 1)
        if holder is not _NOBODY and self.held[holder] > 0:
            self.held[holder] -= 1
            if not self.held[holder]:
                del self.held[holder]


class Unproven:
    """The tries at each (client, prefix) whose key this instance is looking up in the
    database, not yet known right or counted wrong.

    A burst of tries sent at once is checked for a lockout before any of it is counted. A
    right key among them would be let in while the wrong ones were still being counted,
    and stand out; so a success waits for the tries beside it to settle, and is then
    refused if they locked it out (app/services/auth.py).
    """

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str], int] = {}
        self._settled: dict[tuple[str, str], asyncio.Event] = {}

    def begin(self, key: tuple[str, str]) -> None:
        count = self._counts.get(key, 0)
        if count == 0:
            self._settled[key] = asyncio.Event()
        self._counts[key] = count + 1

    def end(self, key: tuple[str, str]) -> None:
        count = self._counts[key] - 1
        if count:
            self._counts[key] = count
            return
        del self._counts[key]
        self._settled.pop(key).set()

    async def settled(self, key: tuple[str, str]) -> bool:
        """Wait until no try at key is unproven; whether there were any to wait for."""
        waited = False
        while (event := self._settled.get(key)) is not None:
            waited = True
            await event.wait()
        return waited
