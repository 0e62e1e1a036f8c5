"""How `serve` runs uvicorn: the guarded HTTP protocol (app/api/protocol.py: deadlines for
slow clients, a cap on connections), and a graceful stop (Server, and
CIT_SHUTDOWN_GRACE_SECONDS for the requests in flight).

A graceful stop resets no connection and drops no request that has begun: the connections
the kernel has queued are accepted and served before the listening socket closes (Server),
and a connection whose request has not all arrived keeps its deadlines to send the rest
(GuardedProtocol.shutdown). Every answer given after the stop begins closes its connection.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import socket
from collections.abc import Callable

import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.api.app import begin_shutdown
from app.api.protocol import GuardedProtocol
from app.api.routes.stream import end_streams
from app.settings import Settings

log = logging.getLogger("cit_dispatch.server")


def protocol_class(
    settings: Settings, on_shutdown: Callable[[], None] | None = None
) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with the limits of settings; on_shutdown runs when the
    server begins a graceful shutdown (before it waits for open answers to finish)."""

    class Protocol(GuardedProtocol):
        header_timeout = settings.header_timeout_seconds
        body_timeout = settings.body_timeout_seconds
        max_connections = settings.max_connections
        if on_shutdown is not None:
            stopping = staticmethod(on_shutdown)

    return Protocol


class Server(uvicorn.Server):
    """uvicorn's server, which stops without resetting a connection (SIGTERM, a deploy).

    uvicorn's own shutdown closes its listening sockets at once, and Linux resets each
    connection queued on one that the loop had not accepted yet: its client, which may have
    sent its whole request, gets a reset with nothing done. Here those queued connections are
    accepted and served like any other first, then the listeners close; a client connecting
    after that is refused, and knows nothing was sent. uvicorn then closes the idle
    connections and waits up to timeout_graceful_shutdown for the requests begun to be
    answered, before the lifespan's shutdown; the app's relay stops meanwhile
    (begin_shutdown), not after.
    """

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        begin_shutdown(self.config.app)
        await self._serve_the_queued_connections(sockets or [])
        await super().shutdown(sockets)

    async def _serve_the_queued_connections(self, sockets: list[socket.socket]) -> None:
        """Stop listening, but first take each connection the kernel has queued."""
        # A duplicate of each listening socket keeps it open while the loop stops accepting
        # on it, so that these are the only accepts, and the listener closes as they end
        # (a handshake that ends in the microseconds between the two is still reset).
        listeners = [listener.dup() for server in self.servers for listener in server.sockets]
        for server in self.servers:
            server.close()
        for sock in sockets:
            sock.close()
        queued = [connection for listener in listeners for connection in _accept_all(listener)]
        if not queued:
            return
        log.info("serving the connections queued at shutdown", extra={"count": len(queued)})
        loop = asyncio.get_running_loop()
        # Each is the server's own, as if the loop had accepted it: they are all open when
        # uvicorn tells every connection that the server is stopping.
        await asyncio.gather(
            *(
                loop.connect_accepted_socket(self._new_protocol, connection, ssl=self.config.ssl)
                for connection in queued
            ),
            return_exceptions=True,
        )

    def _new_protocol(self) -> asyncio.Protocol:
        """The protocol of a connection accepted as the server stops, made as uvicorn's
        startup makes it: its first answer is its last."""
        protocol: asyncio.Protocol = self.config.http_protocol_class(  # type: ignore[call-arg]
            config=self.config, server_state=self.server_state, app_state=self.lifespan.state
        )
        if isinstance(protocol, GuardedProtocol):
            protocol.answer_last()
        return protocol


def _accept_all(listener: socket.socket) -> list[socket.socket]:
    """Every connection queued on listener, which is closed after."""
    accepted: list[socket.socket] = []
    with listener:
        listener.setblocking(False)
        while True:
            try:
                connection, _ = listener.accept()
            except BlockingIOError:  # none left
                return accepted
            except ConnectionAbortedError:  # its client gave up while it waited
                continue
            except OSError as exc:  # out of file descriptors: the rest are reset
                log.error("could not accept a queued connection at shutdown", exc_info=exc)
                return accepted
            accepted.append(connection)


def uvicorn_config(app: ASGIApp, settings: Settings, host: str, port: int) -> uvicorn.Config:
    """How `serve` runs app: the guarded protocol, no access log, the proxy settings, and
    CIT_SHUTDOWN_GRACE_SECONDS for the requests in flight when it is told to stop."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        # Open streams end when shutdown begins: uvicorn waits for every open answer to
        # finish before the lifespan's shutdown, so a stream left open would hang it.
        http=protocol_class(settings, on_shutdown=functools.partial(end_streams, app)),
        # The service has no WebSocket route: an upgrade is an ordinary request.
        # uvicorn's WebSocket protocol would take the connection over mid-answer, behind a
        # live feed, say, which would then not hear the connection end.
        ws="none",
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=settings.proxy_headers,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        timeout_graceful_shutdown=math.ceil(settings.shutdown_grace_seconds),
    )
