"""The relay in a process of its own: `cit-dispatch worker`, and `serve`'s relay child.

On a thread inside `serve` the relay shares the interpreter's lock with the API: with the
API saturated, first attempts waited seconds for their turn (issue 16). So `serve` runs it
in a child process (RelayProcess), the same relay that `worker` runs (run_relay), which:

- reads the same environment as `serve`, with serve's command-line options applied, and
  joins `serve`'s embedded PostgreSQL when there is no CIT_DATABASE_URL, so the server
  stops only once both have exited (app/db/embedded.py);
- stops gracefully (Relay.stop) when `serve` begins to stop, on SIGTERM or SIGINT of its
  own, or when `serve` is gone: it holds one end of a socket pair whose other end only
  `serve` holds, and any byte on it, or its closing, is the signal to stop;
- sends its relay series to `serve` on that socket (app/metrics.py), so they are on
  `serve`'s CIT_METRICS_PORT as before; it opens no metrics listener of its own;
- is started again if it exits on its own (a crash, the database unreachable at start, the
  kernel's out-of-memory killer): after RESTART_FIRST_SECONDS, doubling up to
  RESTART_MAX_SECONDS while it keeps failing, so webhooks resume without a restart of
  `serve`. Deliveries it held are sent again when their leases run out.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from app import metrics
from app.db.engine import create_engine
from app.encryption import DataCipher
from app.settings import Settings
from app.webhooks.relay import Relay

log = logging.getLogger(__name__)

# The connections a relay's own pool keeps (create_engine adds its overflow): the claims,
# the recorder, the outbox gauge and the LISTEN connection.
RELAY_POOL_SIZE = 4
# The claim reads the pending deliveries through the partial index on them. A delivery
# that is sent leaves that index only at the next vacuum, and a bitmap scan visits each
# such dead entry's row again on every claim; an index scan marks them dead once seen and
# then skips them. Under a sustained load the claim took 5.5 ms on average with bitmap
# scans (issue 16).
RELAY_SERVER_SETTINGS = {"enable_bitmapscan": "off"}
# Beyond the grace, what a stopping relay may take to release its leases and record what
# was answered, before what is left is cancelled.
STOP_MARGIN_SECONDS = 3.0
# How often the child sends its pool's connections in use (and whatever else moved).
REPORT_SECONDS = 1.0
# How often the child sends its series' moves.
GATHER_SECONDS = 0.2
# A child that exited on its own is started again after this, doubling while it keeps
# exiting (up to the most), and back to the first once one has run for a minute.
RESTART_FIRST_SECONDS = 1.0
RESTART_MAX_SECONDS = 30.0
RESTART_HEALTHY_SECONDS = 60.0

Stop = Callable[[], None]


def run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run main on uvloop when it is installed (uvicorn[standard] brings it, as serve runs
    on it), else on asyncio's own loop. Under load the relay spent about a fifth of its
    time in asyncio's loop and socket transports (issue 16)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover (uvicorn[standard] installs it on Linux)
        asyncio.run(main)
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)


async def run_relay(
    url: str,
    settings: Settings,
    cipher: DataCipher,
    *,
    stop_on: Callable[[Stop], None] | None = None,
) -> None:
    """Relay on this loop, with a pool of its own, until SIGTERM or SIGINT (or whatever
    stop_on wires to the stop it is given) stops it gracefully (Relay.stop); what still
    runs STOP_MARGIN_SECONDS after the grace is cancelled, so it always returns."""
    engine = create_engine(url, pool_size=RELAY_POOL_SIZE, server_settings=RELAY_SERVER_SETTINGS)
    relay = Relay(engine, settings, cipher)
    loop = asyncio.get_running_loop()
    task = asyncio.create_task(relay.run())
    cutoff: list[asyncio.TimerHandle] = []

    def stop() -> None:
        relay.stop()
        if not cutoff:
            grace = settings.shutdown_grace_seconds + STOP_MARGIN_SECONDS
            cutoff.append(loop.call_later(grace, task.cancel))

    for signal_number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signal_number, stop)
    if stop_on is not None:
        stop_on(stop)
    try:
        await asyncio.wait({task})
    finally:
        await wind_down(engine)


async def wind_down(engine: AsyncEngine) -> None:
    """After the relay's task: cancel what outlives it on this loop (an attempt, or a LISTEN
    connection closing on a database that went away; its lease runs out and it is sent
    again), then close the relay's pool."""
    others = asyncio.all_tasks() - {asyncio.current_task()}
    for other in others:
        other.cancel()
    if others:
        await asyncio.wait(others, timeout=1)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(engine.dispose(), timeout=2)


class RelayProcess:
    """`serve`'s relay, in a child process that stops with it and is started again if it
    exits on its own (the module's docstring)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._process: subprocess.Popen[bytes] | None = None
        self._socket: socket.socket | None = None
        self._supervisor: threading.Thread | None = None
        self._unwatch: Stop | None = None
        # Guards _process, _socket and _stop_sent between serve and the supervisor thread:
        # a child is never started after the stop was sent, and the stop always reaches
        # the child that is running.
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._stop_sent = False
        self._pool_in_use = 0

    @property
    def pid(self) -> int | None:
        process = self._process
        return None if process is None else process.pid

    def start(self) -> None:
        with self._lock:
            ours = self._spawn()
        self._unwatch = metrics.watch("pool_in_use", lambda: self._pool_in_use)
        self._supervisor = threading.Thread(
            target=self._supervise, args=(ours,), name="cit-relay-supervisor", daemon=True
        )
        self._supervisor.start()

    def _spawn(self) -> socket.socket:
        """Start a child (with the lock held); our end of its socket pair."""
        ours, theirs = socket.socketpair()
        # serve's command-line options, as they were applied: the child's settings then
        # pass the same checks across settings as serve's did.
        options = {
            "CIT_HOST": self.settings.host,
            "CIT_PORT": str(self.settings.port),
            "CIT_PROXY_HEADERS": str(self.settings.proxy_headers).lower(),
            "CIT_FORWARDED_ALLOW_IPS": self.settings.forwarded_allow_ips,
        }
        with theirs:
            self._process = subprocess.Popen(  # noqa: S603 (this interpreter, this module)
                [sys.executable, "-m", "app.webhooks.process", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                env={**os.environ, **options},
            )
        if self._socket is not None:
            self._socket.close()
        self._socket = ours
        log.info("webhook relay started", extra={"pid": self._process.pid})
        return ours

    def begin_stop(self) -> None:
        """Ask the child to stop gracefully, without waiting for it."""
        with self._lock:
            if self._socket is None or self._stop_sent:
                return
            self._stop_sent = True
            self._stopping.set()
            with contextlib.suppress(OSError):  # it has exited already
                self._socket.sendall(b"stop")

    def stop(self) -> None:
        """Stop gracefully and wait for the child (blocking; call it off the event loop);
        one that has not exited by the grace and the margin is killed."""
        self.begin_stop()
        process = self._process
        if process is None:
            return
        limit = self.settings.shutdown_grace_seconds + STOP_MARGIN_SECONDS + 3
        try:
            code = process.wait(limit)
        except subprocess.TimeoutExpired:
            log.warning("webhook relay killed: still running after the grace")
            process.kill()
            code = process.wait()
        if code != 0:
            log.warning("webhook relay exited", extra={"code": code})
        if self._supervisor is not None:
            self._supervisor.join(timeout=2)
        if self._socket is not None:
            self._socket.close()
        if self._unwatch is not None:
            self._unwatch()

    def _supervise(self, sock: socket.socket) -> None:
        """Read each child's reports until it exits; start another unless serve is
        stopping, waiting longer each time one exits soon after it started."""
        delay = RESTART_FIRST_SECONDS
        while True:
            started = time.monotonic()
            self._receive(sock)
            process = self._process
            code = None if process is None else process.wait()
            if time.monotonic() - started >= RESTART_HEALTHY_SECONDS:
                delay = RESTART_FIRST_SECONDS
            with self._lock:
                if self._stop_sent:
                    return
            # Its own fault (a crash, the database unreachable at start, say): webhooks
            # wait for the next child, or a worker sends them.
            log.error(
                "webhook relay exited unexpectedly; starting it again",
                extra={"code": code, "in_seconds": delay},
            )
            if self._stopping.wait(delay):
                return
            with self._lock:
                if self._stop_sent:
                    return
                sock = self._spawn()
            delay = min(delay * 2, RESTART_MAX_SECONDS)

    def _receive(self, sock: socket.socket) -> None:
        """Move this process's relay series as the child reports (one JSON list a line),
        until it closes its end."""
        with contextlib.suppress(OSError), sock.makefile("r", encoding="utf-8") as lines:
            for line in lines:
                try:
                    kind, outcome, amount = json.loads(line)
                except ValueError:
                    continue
                if kind == "pool":
                    self._pool_in_use = int(amount)
                else:
                    metrics.move_relay_series((str(kind), str(outcome), float(amount)))
        self._pool_in_use = 0


class _Moves:
    """The relay's series moves, kept until the sender thread takes them. A busy relay moves
    its series hundreds of times a second; keeping one is an append on the relay's loop,
    with no queue to lock and no wake-up of the sender thread (which takes the interpreter
    from the loop). With a queue here, the relay switched context 4.0-4.6 times per
    dispatch under the dispatch load; without, 2.2-2.4 (issue 16)."""

    def __init__(self) -> None:
        # A deque's append and popleft are each atomic: no move is lost between threads.
        self._moves: collections.deque[metrics.RelayMove] = collections.deque()
        self.closed = threading.Event()

    def put(self, move: metrics.RelayMove) -> None:
        self._moves.append(move)

    def take(self) -> list[metrics.RelayMove]:
        """What moved since the last take, oldest first."""
        taken = []
        with contextlib.suppress(IndexError):
            while True:
                taken.append(self._moves.popleft())
        return taken


def _send_moves(parent: socket.socket, moves: _Moves) -> None:
    """Every GATHER_SECONDS, send what moved (in one write, so one wake-up of serve's
    reader, which shares serve's interpreter with the API), with the pool's reading; at
    least every REPORT_SECONDS even when nothing moved. Ends once moves is closed (what
    moved before is sent) or `serve` is gone."""
    sent_at = time.monotonic()
    while True:
        done = moves.closed.wait(GATHER_SECONDS)
        taken = moves.take()
        if not (taken or done or time.monotonic() - sent_at >= REPORT_SECONDS):
            continue
        lines = [json.dumps(move) for move in taken]
        lines.append(json.dumps(("pool", "", 0 if done else metrics.read_live("pool_in_use"))))
        try:
            parent.sendall(("\n".join(lines) + "\n").encode())
        except OSError:
            return
        sent_at = time.monotonic()
        if done:
            return


def _watch_parent(parent: socket.socket, stop: Stop) -> None:
    """Call stop (on the running loop) when `serve` asks, or is gone."""
    loop = asyncio.get_running_loop()

    def wait() -> None:
        with contextlib.suppress(OSError):
            parent.recv(16)  # b"stop", or b"" when serve's end closed (it exited or died)
        with contextlib.suppress(RuntimeError):  # the loop has closed: the relay is done
            loop.call_soon_threadsafe(stop)

    threading.Thread(target=wait, name="cit-relay-parent", daemon=True).start()


def _child(fd: int) -> int:
    from app.db.engine import resolve_database_url
    from app.encryption import load_cipher
    from app.logs import configure_logging
    from app.settings import get_settings
    from app.tracing import start_tracing

    parent = socket.socket(fileno=fd)
    settings = get_settings()
    configure_logging(settings.log_level)
    start_tracing()  # webhook sends, when OTEL_EXPORTER_OTLP_ENDPOINT is set
    cipher = load_cipher(settings)
    # An external server's URL, or the embedded server `serve` started, joined.
    url = resolve_database_url(settings)
    moves = _Moves()
    metrics.send_relay_series_to(moves.put)
    sender = threading.Thread(target=_send_moves, args=(parent, moves), name="cit-relay-moves")
    sender.start()
    try:
        run_loop(run_relay(url, settings, cipher, stop_on=lambda stop: _watch_parent(parent, stop)))
    finally:
        moves.closed.set()
        sender.join(timeout=5)
    log.info("webhook relay stopped")
    return 0


if __name__ == "__main__":
    sys.exit(_child(int(sys.argv[1])))
