"""The relay on a thread of its own, as `serve` runs it (`cit-dispatch worker` runs the
relay alone, on its main loop)."""

from __future__ import annotations

import asyncio
import contextlib
import threading

from app.encryption import DataCipher
from app.settings import Settings
from app.webhooks.relay import HTTP_TIMEOUT_SECONDS, Relay

# How long a stopping relay waits for its attempts in flight (each bounded by the HTTP
# timeout) before it cancels what is left.
STOP_GRACE_SECONDS = HTTP_TIMEOUT_SECONDS


class RelayThread:
    """Run the relay on an event loop of its own, in a thread.

    On the API's loop, every step of a delivery would queue behind all the requests in
    flight; under heavy load that delayed first attempts by seconds. A thread only waits
    for the GIL, which Python hands over every few milliseconds.
    """

    def __init__(self, database_url: str, settings: Settings, cipher: DataCipher) -> None:
        self.database_url = database_url
        self.settings = settings
        self.cipher = cipher
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._main, name="cit-webhook-relay", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=10)

    def stop(self, timeout: float = STOP_GRACE_SECONDS + 5) -> None:
        """Finish the round in flight, then stop (blocking; call it off the event loop)."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout)

    def _main(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        from app.db.engine import create_engine

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        engine = create_engine(self.database_url, pool_size=4)
        task = asyncio.create_task(Relay(engine, self.settings, self.cipher).run())
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            task.cancel()
            # Attempts in flight get the HTTP timeout to finish and be recorded. Whatever
            # still runs then (an attempt, a LISTEN connection closing on a database that
            # went away) is cancelled: its lease runs out and it is sent again. The thread
            # always ends within its join, so no relay outlives its service.
            await asyncio.wait({task}, timeout=STOP_GRACE_SECONDS)
            others = asyncio.all_tasks() - {asyncio.current_task()}
            for other in others:
                other.cancel()
            if others:
                await asyncio.wait(others, timeout=1)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(engine.dispose(), timeout=2)
