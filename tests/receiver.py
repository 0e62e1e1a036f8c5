"""A real HTTP receiver on loopback that answers with scripted statuses."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers each request with the next scripted status, then `default`."""

    script: list[int] = field(default_factory=list)
    default: int = 200
    extra_headers: dict[str, str] = field(default_factory=dict)
    requests: list[Received] = field(default_factory=list)
    # While set, each request is read and recorded, and its answer waits until it is set
    # (a receiver that answers slowly, for as long as a test wants).
    hold: asyncio.Event | None = None
    _server: asyncio.Server | None = None
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/hooks"

    async def wait_for(self, count: int, within: float = 20.0) -> list[Received]:
        """Wait until at least count requests arrived; fail the test if they do not."""
        deadline = asyncio.get_running_loop().time() + within
        while len(self.requests) < count:
            remaining = deadline - asyncio.get_running_loop().time()
            assert remaining > 0, f"only {len(self.requests)} of {count} webhooks arrived"
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), timeout=remaining)
        return self.requests

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.requests.append(Received(headers=headers, body=body))
            self._arrived.set()
            if self.hold is not None:
                await self.hold.wait()
            status = self.script.pop(0) if self.script else self.default
            extra = "".join(f"{k}: {v}\r\n" for k, v in self.extra_headers.items())
            writer.write(
                f"HTTP/1.1 {status} Scripted\r\nContent-Length: 0\r\n{extra}"
                "Connection: close\r\n\r\n".encode()
            )
            await writer.drain()
            self._arrived.set()
        finally:
            writer.close()
