"""The relay's sender (app/webhooks/sender.py) against real loopback receivers: connections
kept and reused, closed when the receiver says so or sends too much, bounded in number, and
every failure a clean error the relay retries."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import ssl
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpcore
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app.webhooks import relay
from app.webhooks.sender import SEND_ERRORS, Sender
from app.webhooks.targets import TargetRefused, network_backend
from tests.conftest import ServiceFactory
from tests.helpers import Api, grid_districts, until_delivery

BODY = b'{"type":"call.created"}'


@dataclass
class Peer:
    """A loopback HTTP/1.1 receiver that counts the connections it accepts.

    mode: "keep" (200, kept alive), "close" (200 and `Connection: close`), "flood" (200
    with a body of a GiB, written until the client goes), "silent" (reads, never answers),
    "busy" (503 with Retry-After: 7), "drip" (an answer a byte every 0.1 s), "slow-body"
    (200 at once, its body of 1000 bytes a byte every 0.1 s), "cut-body" (200, then the
    connection closed 7 bytes into a body of 1000). While `hold` is
    set, answers wait for it."""

    mode: str = "keep"
    hold: asyncio.Event | None = None
    delay: float = 0.0  # seconds before each answer
    accepted: int = 0
    requests: int = 0
    ended: int = 0  # connections the client closed
    flooded: int = 0  # body bytes written in flood mode
    _server: asyncio.Server | None = None

    async def start(self, tls: ssl.SSLContext | None = None) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=tls)

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks?token=t"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    self.ended += 1
                    return
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                await reader.readexactly(length)
                self.requests += 1
                if self.hold is not None:
                    await self.hold.wait()
                await asyncio.sleep(self.delay)
                if not await self._answer(reader, writer):
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            self.ended += 1
        finally:
            writer.close()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; whether the connection stays open for another."""
        if self.mode == "silent":
            await reader.read()  # until the client gives up
            self.ended += 1
            return False
        if self.mode == "drip":
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok":
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.1)
            return False
        if self.mode == "cut-body":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial")
            await writer.drain()
            return False  # closed with the body cut short
        if self.mode == "slow-body":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
            for _ in range(1000):
                writer.write(b"x")
                await writer.drain()
                await asyncio.sleep(0.1)
            return False
        if self.mode == "flood":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n")
            chunk = b"x" * 65536
            while self.flooded < 1 << 30:
                writer.write(chunk)
                await writer.drain()
                self.flooded += len(chunk)
            return False
        if self.mode == "busy":
            writer.write(b"HTTP/1.1 503 Busy\r\nRetry-After: 7\r\nContent-Length: 0\r\n\r\n")
        elif self.mode == "close":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        return self.mode != "close"


@pytest.fixture
async def peer() -> AsyncIterator[Peer]:
    receiver = Peer()
    await receiver.start()
    yield receiver
    if receiver.hold is not None:
        receiver.hold.set()
    await receiver.stop()


@contextlib.asynccontextmanager
async def _sender(**options: Any) -> AsyncIterator[Sender]:
    settings: dict[str, Any] = {
        "timeout": 5.0,
        "total": 20.0,
        "max_connections": 100,
        "keep_idle": 32,
        **options,
    }
    backend = settings.pop("backend", None) or network_backend(allow_private=True)
    async with Sender(backend, **settings) as sender:
        yield sender


async def _post(sender: Sender, url: str, *, sending: Callable[[], object] | None = None) -> int:
    answer = await asyncio.wait_for(sender.post(url, BODY, [], sending=sending), timeout=10)
    return answer.status


async def test_sequential_posts_share_one_kept_alive_connection(peer: Peer) -> None:
    async with _sender() as sender:
        statuses = [await _post(sender, peer.url) for _ in range(5)]
    assert statuses == [200] * 5
    assert peer.requests == 5
    assert peer.accepted == 1


async def test_a_receiver_that_closes_after_each_answer_gets_every_post(peer: Peer) -> None:
    peer.mode = "close"
    async with _sender() as sender:
        statuses = [await _post(sender, peer.url) for _ in range(5)]
    assert statuses == [200] * 5
    assert peer.requests == 5
    assert peer.accepted == 5


async def test_an_answer_over_the_cap_is_not_read_on_and_its_connection_not_kept(
    peer: Peer,
) -> None:
    peer.mode = "flood"
    async with _sender() as sender:
        started = time.monotonic()
        assert await _post(sender, peer.url) == 200
        assert time.monotonic() - started < 3
        peer.mode = "keep"
        assert await _post(sender, peer.url) == 200
    # Read no further than the cap (and what the sockets' buffers held), not a GiB.
    assert peer.flooded < 32 << 20
    assert peer.accepted == 2  # the flooded connection was closed, not reused


async def test_a_receiver_that_does_not_answer_times_out_readably(peer: Peer) -> None:
    peer.mode = "silent"
    async with _sender(timeout=0.3) as sender:
        started = time.monotonic()
        with pytest.raises(httpcore.ReadTimeout, match=r"over 0\.3 s"):
            await _post(sender, peer.url)
        assert time.monotonic() - started < 2
    assert peer.requests == 1


async def test_an_answer_dripped_a_byte_at_a_time_is_bounded_in_all(peer: Peer) -> None:
    """SPEC §3.5: each attempt has a timeout; a receiver sending a byte now and then, each
    within the step's timeout, must not hold an attempt for longer."""
    peer.mode = "drip"
    async with _sender(timeout=0.5, total=1.0) as sender:
        started = time.monotonic()
        with pytest.raises(httpcore.TimeoutException, match=r"within 1 s in all"):
            await _post(sender, peer.url)
        assert time.monotonic() - started < 2


async def test_a_200_whose_body_trickles_is_a_200_and_its_connection_closed(peer: Peer) -> None:
    """The status line is the answer; the body is only read to keep the connection. A 200
    whose body came a byte at a time was taken for no answer, and the event sent again (an
    integrator's check): the answer stands, and the connection is not kept."""
    peer.mode = "slow-body"
    async with _sender(timeout=0.5, total=1.0) as sender:
        started = time.monotonic()
        assert await _post(sender, peer.url) == 200
        assert time.monotonic() - started < 1.0
        peer.mode = "keep"
        assert await _post(sender, peer.url) == 200
    assert (peer.accepted, peer.requests) == (2, 2)


async def test_a_200_whose_body_is_cut_short_is_a_200(peer: Peer) -> None:
    """The receiver answered 200 and closed the connection mid-body: the answer stands
    (review: it was a failure, and the event sent again)."""
    peer.mode = "cut-body"
    async with _sender(timeout=0.5, total=1.0) as sender:
        assert await _post(sender, peer.url) == 200
        peer.mode = "keep"
        assert await _post(sender, peer.url) == 200
    assert (peer.accepted, peer.requests) == (2, 2)


async def test_waiting_for_a_connection_is_not_the_attempts_time(peer: Peer) -> None:
    peer.delay = 0.7  # each answer within the attempt's 1 s
    async with _sender(max_connections=1, total=1.0, pool_timeout=5.0) as sender:
        first = asyncio.create_task(_post(sender, peer.url))
        await asyncio.sleep(0.1)
        # Waits about 0.6 s for the one connection, then its own 0.7 s: over 1 s in all.
        second = asyncio.create_task(_post(sender, peer.url))
        assert await first == 200
        assert await second == 200


async def test_retry_after_and_status_reach_the_relay(peer: Peer) -> None:
    peer.mode = "busy"
    async with _sender() as sender:
        answer = await sender.post(peer.url, BODY, [])
    assert (answer.status, answer.retry_after) == (503, "7")


async def test_refused_and_failed_connections_fail_cleanly_and_free_their_room(
    peer: Peer,
) -> None:
    closed = Peer()
    await closed.start()
    nothing_there = closed.url
    await closed.stop()
    https_to_plain = f"https://127.0.0.1:{peer.port}/hooks"
    # One connection at a time: a failed one that kept its room would leave none.
    async with _sender(max_connections=1, timeout=2.0) as sender:
        for url in (nothing_there, https_to_plain, nothing_there):
            started = time.monotonic()
            with pytest.raises(SEND_ERRORS) as caught:
                await _post(sender, url)
            assert time.monotonic() - started < 3
            assert f"{type(caught.value).__name__}: {caught.value}".strip(": ")
        assert await _post(sender, peer.url) == 200
    assert peer.requests == 1  # TLS never got as far as a request


def _certificate(directory: Path, name: str, san: x509.GeneralName) -> tuple[Path, Path]:
    """A self-signed certificate for san, and its key: (certificate, key) files."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([san]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / f"{name}.pem", directory / f"{name}.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


async def test_https_verifies_the_receivers_certificate_for_its_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    right = _certificate(tmp_path, "right", x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    wrong = _certificate(tmp_path, "wrong", x509.DNSName("elsewhere.example"))
    bundle = tmp_path / "roots.pem"
    bundle.write_bytes(right[0].read_bytes() + wrong[0].read_bytes())
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))  # both trusted, as httpx read it
    peers = []
    for cert_file, key_file in (right, wrong):
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(cert_file, key_file)
        peer = Peer()
        await peer.start(tls)
        peers.append(peer)
    good, bad = (f"https://127.0.0.1:{p.port}/hooks" for p in peers)
    try:
        async with _sender() as sender:
            assert await _post(sender, good) == 200
            # Trusted, but for another name: refused.
            with pytest.raises(httpcore.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await _post(sender, bad)
    finally:
        for peer in peers:
            await peer.stop()
    assert [p.requests for p in peers] == [1, 0]


async def test_the_public_only_backend_refuses_loopback(peer: Peer) -> None:
    async with _sender(backend=network_backend(allow_private=False)) as sender:
        with pytest.raises(TargetRefused, match="an address that is not public"):
            await _post(sender, peer.url)
    assert peer.accepted == 0


async def test_beyond_the_cap_a_post_waits_unsent_for_a_connection(peer: Peer) -> None:
    other = Peer()
    await other.start()
    peer.hold = asyncio.Event()
    sent: list[str] = []
    try:
        async with _sender(max_connections=1, timeout=5.0) as sender:
            first = asyncio.create_task(_post(sender, peer.url, sending=lambda: sent.append("a")))
            second = asyncio.create_task(_post(sender, other.url, sending=lambda: sent.append("b")))
            await asyncio.sleep(0.3)
            assert sent == ["a"]  # the second has not begun: it may be given back
            assert other.accepted == 0
            peer.hold.set()
            assert await first == 200
            assert await second == 200
            assert sent == ["a", "b"]
            # The first receiver's idle connection was closed to make room for the second.
            await asyncio.sleep(0.1)
            assert peer.ended == 1
    finally:
        await other.stop()


async def test_waiting_for_a_connection_has_a_bound(peer: Peer) -> None:
    peer.hold = asyncio.Event()
    async with _sender(max_connections=1, pool_timeout=0.3) as sender:
        first = asyncio.create_task(_post(sender, peer.url))
        await asyncio.sleep(0.1)
        with pytest.raises(httpcore.PoolTimeout, match="no free connection"):
            await _post(sender, peer.url)
        peer.hold.set()
        assert await first == 200


async def test_idle_connections_expire_and_close_with_the_sender(peer: Peer) -> None:
    async with _sender(keepalive=0.2) as sender:
        assert await _post(sender, peer.url) == 200
        await asyncio.sleep(0.4)
        assert await _post(sender, peer.url) == 200
        assert peer.accepted == 2  # the first had expired
    await asyncio.sleep(0.1)
    assert peer.ended == 2  # both closed: the expired one, then the idle one at close


async def test_an_idle_connection_is_closed_after_its_keepalive_with_no_post_to_follow(
    peer: Peer,
) -> None:
    async with _sender(keepalive=0.2) as sender:
        assert await _post(sender, peer.url) == 200
        # No POST comes: the connection still closes once its keep-alive is over.
        deadline = time.monotonic() + 5
        while peer.ended < 1:
            assert time.monotonic() < deadline, "the idle connection was never closed"
            await asyncio.sleep(0.05)
        assert peer.accepted == 1


@pytest.mark.parametrize("mode", ["silent", "drip"])
async def test_the_relay_bounds_an_attempt_in_all_and_retries_with_the_reason(
    mode: str,
    admin: Api,
    peer: Peer,
    service: ServiceFactory,
    db: asyncpg.Connection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SPEC §3.5: each attempt has a timeout (10 s), in all: a receiver that never answers,
    or drips its answer a byte at a time, each byte within the timeout (it held an attempt
    for 25 s)."""
    monkeypatch.setattr(relay, "HTTP_TIMEOUT_SECONDS", 1.0)
    peer.mode = mode  # drip: a byte every 0.1 s, 4 s for the whole answer
    await grid_districts(admin)
    await admin.ok("POST", "/v1/webhooks", {"url": peer.url, "events": ["call.created"]}, 201)
    async with service():
        await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        row = await until_delivery(db, "last_error IS NOT NULL")
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert row["last_error"] == "TimeoutException: no answer within 1 s in all"
