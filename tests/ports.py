"""Loopback ports for servers the tests start, chosen so nothing else can take them first.

A port the kernel hands out for `bind(0)` comes from the ephemeral range, the same range it
draws from for every outgoing connection. Between closing the probe socket and the server's
own bind, a connection from another test worker (to PostgreSQL, say) can take that port as its
local end, and the server then fails with "address in use". Ports below the ephemeral range
are never handed out that way, so only another explicit bind could collide; a random choice
among thousands, checked by binding, makes that vanishingly rare.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_LOWEST = 10_000


def _ephemeral_floor() -> int:
    try:
        low, _high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low)
    except (OSError, ValueError):
        return 32_768


def free_port() -> int:
    """A loopback TCP port that is free now and outside the kernel's ephemeral range."""
    ceiling = max(_ephemeral_floor(), _LOWEST + 1_000)
    for _ in range(200):
        port = random.randrange(_LOWEST, ceiling)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free loopback port between {_LOWEST} and {ceiling}")
