"""A uvicorn server run in this process, on a loopback port, as `serve` configures it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp, Receive, Send

from app.api.server import uvicorn_config
from app.settings import Settings
from tests.ports import free_port


async def lifespan(receive: Receive, send: Send) -> None:
    """A test app's answer to uvicorn's lifespan messages: started, then stopped."""
    while (await receive())["type"] != "lifespan.shutdown":
        await send({"type": "lifespan.startup.complete"})
    await send({"type": "lifespan.shutdown.complete"})


@contextmanager
def live_server(
    app: ASGIApp, settings: Settings, loop: str = "auto", keep_alive: int = 5
) -> Iterator[int]:
    """Run app in uvicorn, with serve's protocol and limits (app/api/protocol.py), on a
    thread, on the event loop named (uvicorn's `auto`, as serve: uvloop where installed),
    closing idle connections after keep_alive seconds (uvicorn's default, as serve's);
    yield its port."""
    with running_server(app, settings, loop, keep_alive) as server:
        yield server.config.port


@contextmanager
def running_server(
    app: ASGIApp, settings: Settings, loop: str = "auto", keep_alive: int = 5
) -> Iterator[uvicorn.Server]:
    """live_server's server itself, for a test that looks at its connections
    (`server.server_state.connections`: read them only as a whole, from the test's thread)."""
    port = free_port()
    config = uvicorn_config(app, settings, "127.0.0.1", port)
    config.loop = loop
    config.timeout_keep_alive = keep_alive
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "server did not start"
        assert time.monotonic() < deadline, "server did not start in time"
        time.sleep(0.05)
    try:
        yield server
    finally:
        server.should_exit = True
        thread.join(timeout=30)
