"""In-process limits: failed-authentication lockout per client, request rate per API key,
the tally that keeps lockout refusals from flooding the audit trail, and open live feeds."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

K = TypeVar("K")
Clock = Callable[[], float]
# Entries are dropped once stale; past this many, a sweep runs before adding another.
_SWEEP_AT = 10_000


@dataclass
class _Failures:
    count: int = 0
    first_at: float = 0.0
    locked_until: float = 0.0


@dataclass
class FailedAuthThrottle(Generic[K]):
    """Lock a client out for `lockout` seconds after `limit` failures within that time.

    CJIS Security Policy 5.5.3: no more than five consecutive invalid attempts. A success
    clears the count.
    """

    limit: int
    lockout: float
    clock: Clock = time.monotonic
    _clients: dict[K, _Failures] = field(default_factory=dict)

    def retry_after(self, client: K) -> int | None:
        """Seconds until the client may try again, or None when it is not locked out."""
        entry = self._clients.get(client)
        if entry is None:
            return None
        remaining = entry.locked_until - self.clock()
        return math.ceil(remaining) if remaining > 0 else None

    def failed(self, client: K) -> None:
        now = self.clock()
        entry = self._clients.get(client)
        if entry is None or now - entry.first_at > self.lockout:
            if len(self._clients) >= _SWEEP_AT:
                self._sweep(now)
            entry = self._clients[client] = _Failures(first_at=now)
        entry.count += 1
        if entry.count >= self.limit:
            entry.locked_until = now + self.lockout

    def succeeded(self, client: K) -> None:
        self._clients.pop(client, None)

    def _sweep(self, now: float) -> None:
        for client in [
            c
            for c, e in self._clients.items()
            if e.locked_until <= now and now - e.first_at > self.lockout
        ]:
            del self._clients[client]


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


@dataclass
class _Bucket:
    tokens: float
    at: float


@dataclass
class RateLimiter(Generic[K]):
    """A token bucket per key: `per_minute` requests a minute, in bursts of up to that many."""

    per_minute: int
    clock: Clock = time.monotonic
    _buckets: dict[K, _Bucket] = field(default_factory=dict)

    def take(self, key: K) -> int | None:
        """Spend one request; None if allowed, else the seconds to wait (for Retry-After)."""
        if self.per_minute <= 0:
            return None
        now = self.clock()
        rate = self.per_minute / 60.0
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= _SWEEP_AT:
                self._buckets.clear()  # every bucket refills to full within a minute anyway
            bucket = self._buckets[key] = _Bucket(tokens=float(self.per_minute), at=now)
        else:
            bucket.tokens = min(float(self.per_minute), bucket.tokens + (now - bucket.at) * rate)
            bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return max(1, math.ceil((1.0 - bucket.tokens) / rate))


@dataclass
class Slots:
    """At most `limit` of something open at once (live feeds on this instance)."""

    limit: int
    taken: int = 0

    def take(self) -> bool:
        """Take a slot if one is free."""
        if self.taken >= self.limit:
            return False
        self.taken += 1
        return True

    def give_back(self) -> None:
        self.taken = max(0, self.taken - 1)
