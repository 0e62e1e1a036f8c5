"""Time-ordered UUIDs (RFC 9562 version 7), so ids sort by creation time."""

from __future__ import annotations

import os
import threading
import time
import uuid
from datetime import datetime

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def new_id() -> uuid.UUID:
    """Return a new UUIDv7; ids made in one process are strictly increasing."""
    global _last_ms, _counter
    with _lock:
        now_ms = time.time_ns() // 1_000_000
        if now_ms <= _last_ms:
            # Same millisecond (or clock stepped back): keep order with the 12-bit counter.
            _counter += 1
            if _counter > 0xFFF:
                _last_ms += 1
                _counter = 0
            now_ms = _last_ms
        random = int.from_bytes(os.urandom(10), "big")
        if now_ms > _last_ms:
            _last_ms = now_ms
            # Start the counter in its lower half, leaving room for ids in the same ms.
            _counter = (random >> 64) & 0x3FF
        rand_b = random & ((1 << 62) - 1)
        value = (now_ms & ((1 << 48) - 1)) << 80
        value |= 0x7 << 76
        value |= _counter << 64
        value |= 0b10 << 62
        value |= rand_b
        return uuid.UUID(int=value)


def first_id_at(moment: datetime) -> uuid.UUID:
    """The smallest UUIDv7 a moment can have: ids made before it sort below it. A moment
    before 1970 (or past the 48-bit field's end) gives the first (last) there is."""
    ms = min(max(int(moment.timestamp() * 1000), 0), (1 << 48) - 1)
    return uuid.UUID(int=ms << 80)
