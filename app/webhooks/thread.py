"""The relay on a thread of its own, inside the process that runs the app: for tests and
embedding. `serve` runs it in a child process (app/webhooks/process.py), `cit-dispatch
worker` alone, on its main loop."""

from __future__ import annotations

import asyncio
import contextlib
import threading

from app.encryption import DataCipher
from app.settings import Settings
from app.webhooks.process import (
    RELAY_POOL_SIZE,
    RELAY_SERVER_SETTINGS,
    STOP_MARGIN_SECONDS,
    wind_down,
)
from app.webhooks.relay import Relay


class RelayThread:
    """Run the relay on an event loop of its own, in a thread.

    On the API's loop, every step of a delivery would queue behind all the requests in
    flight. A thread still waits for the GIL, which a saturated API holds most of the time:
    first attempts then wait seconds, hence the child process of `serve`.
    """

    def __init__(self, database_url: str, settings: Settings, cipher: DataCipher) -> None:
        self.database_url = database_url
        self.settings = settings
        self.cipher = cipher
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._relay: Relay | None = None
        self._task: asyncio.Task[None] | None = None
        self._cutoff: asyncio.TimerHandle | None = None
        self._ready = threading.Event()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._main, name="cit-webhook-relay", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=10)

    def begin_stop(self) -> None:
        """Ask the relay to stop gracefully (Relay.stop), without waiting for it."""
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # its loop has already closed
                self._loop.call_soon_threadsafe(self._stopping)

    def stop(self) -> None:
        """Stop gracefully, and wait for the thread (blocking; call it off the event loop)."""
        self.begin_stop()
        if self._thread is not None:
            self._thread.join(self.settings.shutdown_grace_seconds + STOP_MARGIN_SECONDS + 3)

    def _stopping(self) -> None:
        if self._relay is None or self._task is None or self._cutoff is not None:
            return
        self._relay.stop()
        assert self._loop is not None
        self._cutoff = self._loop.call_later(
            self.settings.shutdown_grace_seconds + STOP_MARGIN_SECONDS, self._task.cancel
        )

    def _main(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        from app.db.engine import create_engine

        self._loop = asyncio.get_running_loop()
        engine = create_engine(
            self.database_url, pool_size=RELAY_POOL_SIZE, server_settings=RELAY_SERVER_SETTINGS
        )
        self._relay = Relay(engine, self.settings, self.cipher)
        self._task = task = asyncio.create_task(self._relay.run())
        self._ready.set()
        try:
            await asyncio.wait({task})
        finally:
            # The relay returns within the grace, having released what it did not finish;
            # what still runs is cancelled, so the thread always ends within its join and
            # no relay outlives its service.
            await wind_down(engine)
