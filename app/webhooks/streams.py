"""The relay's TCP and TLS streams, on asyncio's own streams (app/webhooks/sender.py).

httpcore's AnyIO backend, which the sender used before, runs every read and write through
anyio: a cancel scope for its timeout and a look-up of the running async library each
time. Under load that was about a fifth of the relay's CPU (issue 16). These streams do
the same on asyncio's StreamReader and StreamWriter, with asyncio.timeout, and raise what
httpcore's backends raise: ConnectError and ConnectTimeout, ReadError and ReadTimeout,
WriteError and WriteTimeout. Which addresses may be reached is still decided in front of
them (app/webhooks/targets.py).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore


def _over(timeout: float | None) -> str:
    """What a timeout says, as the sender words its own: "over 10 s"."""
    return "over the time limit" if timeout is None else f"over {timeout:g} s"


class AsyncioStream(httpcore.AsyncNetworkStream):
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109 (httpcore's interface)
        try:
            async with asyncio.timeout(timeout):
                return await self._reader.read(max_bytes)
        except TimeoutError:
            raise httpcore.ReadTimeout(_over(timeout)) from None
        except OSError as exc:
            raise httpcore.ReadError(str(exc) or type(exc).__name__) from exc

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109 (httpcore's interface)
        if not buffer:
            return
        try:
            self._writer.write(buffer)
            async with asyncio.timeout(timeout):
                await self._writer.drain()
        except TimeoutError:
            raise httpcore.WriteTimeout(_over(timeout)) from None
        except OSError as exc:
            raise httpcore.WriteError(str(exc) or type(exc).__name__) from exc

    async def aclose(self) -> None:
        # No close_notify exchange to wait for: the connection is dropped, as httpcore does.
        self._writer.transport.abort()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                await self._writer.start_tls(ssl_context, server_hostname=server_hostname)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"TLS handshake {_over(timeout)}") from None
        except OSError as exc:  # ssl.SSLError among them: a certificate that does not verify
            raise httpcore.ConnectError(str(exc)) from exc
        return self

    def get_extra_info(self, info: str) -> Any:
        """The socket (an object with fileno(), for select) and the TLS object."""
        if info in ("socket", "ssl_object"):
            return self._writer.get_extra_info(info)
        return None


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """TCP connections on asyncio's streams (Unix sockets are never asked for)."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        local = None if local_address is None else (local_address, 0)
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(host, port, local_addr=local)
        except TimeoutError:
            raise httpcore.ConnectTimeout(_over(timeout)) from None
        except OSError as exc:
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        return AsyncioStream(reader, writer)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("webhooks are never sent to a Unix socket")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
