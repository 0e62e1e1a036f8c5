"""A tiny TTL cache: entries expire so a change missed by the listener still shows up.

Announcements (app/services/changes.py) drop entries when another instance changes what
they hold; the TTL is the safety net.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    def __init__(self, ttl_seconds: float, max_entries: int = 10_000) -> None:
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._entries: dict[K, tuple[float, V]] = {}
        # Bumped by every drop: a value read before a drop must not be put after it.
        self.generation = 0

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if time.monotonic() >= expires:
            self._entries.pop(key, None)
            return None
        return value

    def put(
        self, key: K, value: V, *, ttl: float | None = None, read_at: int | None = None
    ) -> None:
        """Keep value for the TTL (or ttl, if shorter). read_at: the generation when value
        was read; if anything was dropped since, value may be stale and is not kept."""
        keep = self.ttl if ttl is None else min(self.ttl, ttl)
        if keep <= 0 or (read_at is not None and read_at != self.generation):
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key] = (time.monotonic() + keep, value)

    def discard(self, key: K) -> None:
        self.generation += 1
        self._entries.pop(key, None)

    def discard_if(self, stale: Callable[[V], bool]) -> None:
        """Drop every entry whose value is stale."""
        self.generation += 1
        for key in [k for k, (_, v) in self._entries.items() if stale(v)]:
            del self._entries[key]

    def clear(self) -> None:
        self.generation += 1
        self._entries.clear()
