"""Refuse webhook targets inside the service's own network (SSRF)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

# Cloud metadata endpoints that are not link-local everywhere.
_METADATA = {ipaddress.ip_address("fd00:ec2::254"), ipaddress.ip_address("100.100.100.200")}


class TargetRefused(Exception):
    """The URL is not one the service may call."""


def _refused(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or address in _METADATA
    )


def check_url_shape(url: str) -> tuple[str, int]:
    """The URL's host and port, if it is an absolute http(s) URL without credentials."""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. a bracketed host that is not an IPv6 address
        raise TargetRefused("the URL is not valid") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused("the URL must be absolute http:// or https://")
    if parts.username or parts.password:
        raise TargetRefused("the URL must not carry credentials")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise TargetRefused("the URL's port is not valid") from None
    return parts.hostname, port


async def check_target(url: str, *, allow_private: bool) -> None:
    """Resolve the URL's host; refuse loopback, private, link-local and metadata addresses."""
    host, port = check_url_shape(url)
    if allow_private:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        # UnicodeError: the resolver's IDNA encoding refuses e.g. a label over 63 characters.
        raise TargetRefused(f"the host {host} does not resolve") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if _refused(address):
            raise TargetRefused(f"{host} resolves to {address}, which is not a public address")
