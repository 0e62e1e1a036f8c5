"""Refuse webhook targets inside the service's own network (SSRF)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import ipaddress
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from app.webhooks.streams import AsyncioBackend

# Cloud metadata endpoints that are not link-local everywhere.
_METADATA = {ipaddress.ip_address("fd00:ec2::254"), ipaddress.ip_address("100.100.100.200")}

# Internal ranges the ipaddress properties miss (or that depend on the Python version).
_INTERNAL = tuple(
    ipaddress.ip_network(network)
    for network in (
        "100.64.0.0/10",  # carrier-grade NAT (RFC 6598): neither private nor global
        "fec0::/10",  # deprecated site-local (RFC 3879): is_site_local, not is_private
        "64:ff9b:1::/48",  # NAT64 local-use prefix (RFC 8215): any IPv4 inside, any layout
        "2001::/32",  # Teredo: a tunnel through a relay to an address the service cannot judge
        "::/96",  # IPv4-compatible (deprecated): ::a.b.c.d
    )
)

# IPv6 prefixes whose last 32 bits are an IPv4 address: NAT64 well-known prefix (RFC 6052)
# and IPv4-translated (SIIT, RFC 2765). IPv4-mapped and 6to4 have their own properties.
_EMBEDS_IPV4_LAST = tuple(
    ipaddress.IPv6Network(network) for network in ("64:ff9b::/96", "::ffff:0:0:0/96")
)


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(Exception):
    """The URL is not one the service may call."""


class HostDoesNotResolve(TargetRefused):
    """The host's name did not resolve. Subscribing refuses it; a delivery's attempt fails
    as a refused connection would and is retried, since the name may resolve again (a
    resolver's outage, a record being moved)."""


class ResolverUnavailable(Exception):
    """The resolver could not say now whether the host resolves: it did not answer in
    time, or answered that it failed for now (EAI_AGAIN). Subscribing is then a 503 (try
    again), not a 422 saying the name leads nowhere; a delivery's attempt is retried."""


# How long a subscribe waits for the lookup of its URL's host: the request holds its
# transaction meanwhile, and a resolver that does not answer would hold it for as long as
# the system's resolver retries (tens of seconds).
LOOKUP_SECONDS = 5.0

# getaddrinfo blocks, so names are looked up on threads: these, not the loop's. A lookup
# the resolver never answers holds its thread until the system's resolver gives up,
# whoever stopped waiting for it. On the loop's (uvloop's: libuv's pool of four), a few
# such lookups held every thread the database's new connections look their host up on.
# Lookups of one host share one thread (_IN_FLIGHT): a receiver whose DNS hangs, with its
# 32 deliveries in flight, holds one, and other receivers' lookups go on.
_LOOKUPS = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="cit-lookup")
_IN_FLIGHT: dict[tuple[str, int], concurrent.futures.Future[list[Any]]] = {}
_IN_FLIGHT_LOCK = threading.Lock()

# The resolver's answers that the name leads nowhere (EAI_NODATA and EAI_ADDRFAMILY are
# not defined everywhere); any other failure of its (EAI_AGAIN, a server's SERVFAIL or
# REFUSED as EAI_FAIL, EAI_SYSTEM, EAI_MEMORY) says nothing of the name.
_NO_SUCH_NAME = frozenset(
    getattr(socket, name)
    for name in ("EAI_NONAME", "EAI_NODATA", "EAI_ADDRFAMILY")
    if hasattr(socket, name)
)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (6to4, NAT64, SIIT)."""
    embedded = [address.sixtofour] if address.sixtofour is not None else []
    if any(address in network for network in _EMBEDS_IPV4_LAST):
        embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return embedded


def _refused(address: IPAddress) -> bool:
    """Whether the address is not a public one: judged by itself and by any IPv4 inside it."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:a.b.c.d is a.b.c.d on a dual-stack socket
    if isinstance(address, ipaddress.IPv6Address) and (
        address.is_site_local or any(_refused(inner) for inner in _embedded_ipv4(address))
    ):
        return True
    return (
        not address.is_global
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or address in _METADATA
        or any(address in network for network in _INTERNAL)
    )


@functools.lru_cache(maxsize=1024)
def check_url_shape(url: str) -> tuple[str, int]:
    """The URL's host and port, if it is an absolute http(s) URL without credentials.
    (Cached: the relay asks before each delivery. A refusal raises, and is not cached.)"""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. a bracketed host that is not an IPv6 address
        raise TargetRefused("the URL is not valid") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused("the URL must be absolute http:// or https://")
    if parts.username or parts.password:
        raise TargetRefused("the URL must not carry credentials")
    try:
        port = parts.port
    except ValueError:
        raise TargetRefused("the URL's port is not valid") from None
    if port == 0:  # not "no port": nothing is ever delivered to port 0
        raise TargetRefused("the URL's port must be 1 to 65535: port 0 is never delivered to")
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        # What the sender parses it with (app/webhooks/sender.py): a URL it cannot send
        # (a control character, say) is refused here, on subscribing and at each attempt,
        # not left to fail unrecorded inside the send.
        httpx.URL(url)
    except httpx.InvalidURL:
        raise TargetRefused("the URL is not valid") from None
    return parts.hostname, port


# Neither names the address the host resolved to: a key that may subscribe would learn the
# agency's internal names' addresses from the refusals (nor the host: the URL has one).
_NO_ADDRESS = "the URL's host does not resolve"
_NOT_PUBLIC = "the URL's host resolves to an address that is not public"


def _anything(address: IPAddress) -> bool:
    """No address refused (CIT_WEBHOOK_ALLOW_PRIVATE_TARGETS): the host need only resolve."""
    return False


async def _lookup(host: str, port: int) -> list[Any]:
    """getaddrinfo's answer for host: at once for an address (no resolver is asked), else
    from a lookup thread."""
    try:
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    except socket.gaierror:
        pass  # a name
    # Shielded: a waiter that gives up cancels neither the lookup nor the others' wait.
    return await asyncio.shield(asyncio.wrap_future(_shared_lookup(host, port)))


def _shared_lookup(host: str, port: int) -> concurrent.futures.Future[list[Any]]:
    """The lookup of (host, port) under way, or a new one: one thread per host at most."""
    key = (host, port)
    with _IN_FLIGHT_LOCK:
        running = _IN_FLIGHT.get(key)
        if running is not None:
            return running
        lookup = functools.partial(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
        started = _LOOKUPS.submit(lookup)
        _IN_FLIGHT[key] = started

    def forget(done: concurrent.futures.Future[list[Any]]) -> None:
        with _IN_FLIGHT_LOCK:
            if _IN_FLIGHT.get(key) is done:
                del _IN_FLIGHT[key]

    started.add_done_callback(forget)
    return started


async def public_addresses(
    host: str, port: int, *, refused: Callable[[IPAddress], bool] = _refused
) -> list[str]:
    """Resolve host; its addresses in the resolver's order, if none is refused."""
    try:
        infos = await _lookup(host, port)
    except UnicodeError:
        # The resolver's IDNA encoding refuses the name (e.g. a label over 63 characters):
        # it never resolves.
        raise TargetRefused(_NO_ADDRESS) from None
    except socket.gaierror as exc:
        if exc.errno in _NO_SUCH_NAME:
            raise HostDoesNotResolve(_NO_ADDRESS) from None
        raise ResolverUnavailable("the resolver failed for now on the URL's host") from None
    except OSError:
        raise ResolverUnavailable("the resolver failed for now on the URL's host") from None
    for info in infos:
        if refused(ipaddress.ip_address(info[4][0])):
            raise TargetRefused(_NOT_PUBLIC)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def check_target(url: str, *, allow_private: bool) -> None:
    """Resolve the URL's host; refuse loopback, private, link-local and metadata addresses,
    and a public one over plain http: a webhook carries where a call is and the safety of
    the person in it, across networks that are not the agency's (CJIS asks it encrypted in
    transit). With allow_private (receivers on the agency's own network, tests) any
    address and http:// are taken, but a host that does not resolve is still refused: a
    mistyped name would otherwise show only as failed deliveries. Checked as a
    subscription is made or its URL changed; one made before is sent to as it was."""
    host, port = check_url_shape(url)
    try:
        async with asyncio.timeout(LOOKUP_SECONDS):
            await public_addresses(host, port, refused=_anything if allow_private else _refused)
    except TimeoutError:
        raise ResolverUnavailable(
            f"the resolver did not answer for the URL's host within {LOOKUP_SECONDS:g} s"
        ) from None
    if not allow_private and urlsplit(url).scheme != "https":
        raise TargetRefused(
            "the URL must be https:// (plain http:// is taken only on a network of the"
            " agency's own: CIT_WEBHOOK_ALLOW_PRIVATE_TARGETS)"
        )


class _PublicOnly(httpcore.AsyncNetworkBackend):
    """Connect only to the public address the host resolves to at connection time.

    Checking the URL before sending is not enough: the name can resolve to a public address
    for the check and to a private one for the connection (DNS rebinding). Here the address
    checked is the address connected to. TLS still verifies the certificate for the name.
    """

    def __init__(
        self, inner: httpcore.AsyncNetworkBackend, refused: Callable[[IPAddress], bool]
    ) -> None:
        self._inner = inner
        self._refused = refused

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            # The lookup counts against the connect timeout, as it would inside httpcore.
            async with asyncio.timeout(timeout):
                addresses = await public_addresses(host, port, refused=self._refused)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
        except (HostDoesNotResolve, ResolverUnavailable) as exc:
            raise httpcore.ConnectError(str(exc)) from None  # retried, as a failed connection
        # Each address in turn, as a connection by name would (e.g. IPv6, then IPv4).
        failure: Exception = httpcore.ConnectError(f"{host} has no address")
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise TargetRefused("webhooks are never sent to a Unix socket")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def network_backend(
    *, allow_private: bool, refused: Callable[[IPAddress], bool] = _refused
) -> httpcore.AsyncNetworkBackend:
    """The backend webhook connections are made with (app/webhooks/sender.py): public
    addresses only (see _PublicOnly) unless allow_private. (The sender makes TCP
    connections only: it never asks for a Unix socket, which _PublicOnly refuses anyway.)

    `refused` says which addresses are not public; tests narrow it to reach loopback.
    """
    inner = AsyncioBackend()
    return inner if allow_private else _PublicOnly(inner, refused)
