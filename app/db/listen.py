"""LISTEN on a connection of its own, re-made after a database restart; and the process's
one listener, which wakes every live feed of the agency named by a committed event and
hears the changes other instances announce.

The webhook relay listens for due deliveries (app/webhooks/relay.py); the process's
Announcements listens for committed events (migration 0009 sends `cit_event` with the
agency id at commit) and, on the same connection, for changes (`cit_changed`, migration
0015, app/services/changes.py). Both keep their connection with keep_listening.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.tasks import cancel_and_wait

# Re-connecting the LISTEN connection after it was lost: the first wait, doubled on each
# failure up to the last. How often a quiet LISTEN connection is checked to be open.
LISTEN_BACKOFF_FIRST = 0.1
LISTEN_BACKOFF_MAX = 5.0
LISTEN_CHECK_SECONDS = 5.0


async def keep_listening(
    engine: AsyncEngine,
    channel: str,
    *,
    on_notify: Callable[[str], None],
    on_listening: Callable[[], None],
    log: logging.Logger,
    who: str,
    more: Mapping[str, Callable[[str], None]] | None = None,
) -> None:
    """LISTEN to channel until cancelled, re-connecting (with back-off) whenever the
    connection is lost, e.g. by a database restart. on_notify gets each payload; every
    (re)connection calls on_listening, for whatever was announced while nobody listened.
    more: other channels to listen to on the same connection, with their own on_notify."""
    delay = LISTEN_BACKOFF_FIRST
    failures = 0
    while True:
        conn: AsyncConnection | None = None
        try:
            conn = await engine.connect()
            driver = (await conn.get_raw_connection()).driver_connection
            lost = asyncio.Event()
            # Bound now: the old connection's callback may run after the next one began.
            driver.add_termination_listener(functools.partial(_set_event, lost))  # type: ignore[union-attr]
            await driver.add_listener(channel, functools.partial(_deliver, on_notify))  # type: ignore[union-attr]
            for other, hear in (more or {}).items():
                await driver.add_listener(other, functools.partial(_deliver, hear))  # type: ignore[union-attr]
            if failures:
                log.info(
                    "%s is listening again", who, extra={"channel": channel, "attempts": failures}
                )
            failures, delay = 0, LISTEN_BACKOFF_FIRST
            on_listening()
            while not lost.is_set() and not driver.is_closed():  # type: ignore[union-attr]
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), timeout=LISTEN_CHECK_SECONDS)
            log.warning("%s LISTEN connection lost; reconnecting", who, extra={"channel": channel})
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning(
                "%s cannot LISTEN; trying again",
                who,
                extra={"error": type(exc).__name__, "retry_in_s": round(delay, 2)},
            )
        finally:
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.invalidate()  # never back to the pool with a listener
                with contextlib.suppress(Exception):
                    await conn.close()
        failures += 1
        await asyncio.sleep(delay * (1 + random.uniform(0, 0.1)))
        delay = min(delay * 2, LISTEN_BACKOFF_MAX)


def _deliver(on_notify: Callable[[str], None], *args: Any) -> None:
    # asyncpg calls (connection, pid, channel, payload).
    on_notify(str(args[-1]))


def _set_event(event: asyncio.Event, *_: Any) -> None:
    event.set()


class Announcements:
    """One LISTEN connection per process, shared by every live feed it serves and by
    whatever else hears announcements (hear).

    A feed watches its agency: its asyncio.Event is set when an event of that agency
    commits, and for every feed when the connection is (re)made (announcements may have
    been missed meanwhile). Closing sets them all: the feeds end.
    """

    def __init__(self, engine: AsyncEngine, channel: str, *, log: logging.Logger) -> None:
        self._engine = engine
        self._channel = channel
        self._log = log
        self._watchers: dict[str, set[asyncio.Event]] = {}
        self._listening: asyncio.Task[None] | None = None
        self._more: dict[str, Callable[[str], None]] = {}
        self._on_listening: list[Callable[[], None]] = []
        self.closed = False
        # Set once the connection has first been made and its callbacks have run.
        self.listened = asyncio.Event()

    def hear(
        self, channel: str, *, on_notify: Callable[[str], None], on_listening: Callable[[], None]
    ) -> None:
        """Listen to channel too, on the same connection, from now on: on_notify gets its
        payloads, and every (re)connection calls on_listening."""
        self._more[channel] = on_notify
        self._on_listening.append(on_listening)
        if self._listening is not None:  # added to the connection when it is next made
            self._listening.cancel()
            self._listening = None
        self._start()

    def _start(self) -> None:
        if self.closed or self._listening is not None:
            return
        self._listening = asyncio.create_task(
            keep_listening(
                self._engine,
                self._channel,
                on_notify=self._announced,
                on_listening=self._listened,
                log=self._log,
                who="announcement listener",
                more=self._more,
            )
        )

    def _listened(self) -> None:
        self._wake_all()
        for callback in self._on_listening:
            callback()
        self.listened.set()

    @contextlib.contextmanager
    def watch(self, key: str) -> Iterator[asyncio.Event]:
        """An event set whenever key is announced (or the feeds must look again).

        The first watch starts the LISTEN connection, if nothing else has.
        """
        wake = asyncio.Event()
        if self.closed:
            wake.set()
        else:
            self._start()
        self._watchers.setdefault(key, set()).add(wake)
        try:
            yield wake
        finally:
            watchers = self._watchers.get(key)
            if watchers is not None:
                watchers.discard(wake)
                if not watchers:
                    del self._watchers[key]

    def close(self) -> None:
        """Wake every watcher for the last time: the server is stopping, feeds end."""
        self.closed = True
        self._wake_all()

    async def aclose(self) -> None:
        """Close, and stop listening."""
        self.close()
        if self._listening is not None:
            await cancel_and_wait(self._listening)

    def _announced(self, key: str) -> None:
        for wake in self._watchers.get(key, ()):
            wake.set()

    def _wake_all(self) -> None:
        for watchers in self._watchers.values():
            for wake in watchers:
                wake.set()
