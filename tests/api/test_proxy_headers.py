"""Behind a reverse proxy, the client address is the caller's, and only a trusted proxy says so.

The app runs in uvicorn as `serve` runs it (tests/live_server.py). A failed authentication
is audited with the client address (the address lockouts count by), so the trail shows
which address the service saw.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from app.api.app import create_app
from app.cli import build_parser
from app.cli.serving import serve_settings
from app.settings import Settings
from tests.helpers import Api
from tests.live_server import live_server

FORWARDED = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}


async def _client_seen(admin: Api, database_url: str, settings: Settings) -> Any:
    """Fail to authenticate once through a live server, from loopback; the address audited."""
    guessed = f"cit_{admin.key.split('_')[1]}_{'x' * 43}"

    def request() -> int:
        with live_server(create_app(settings, database_url), settings) as port:
            answer = httpx.get(
                f"http://127.0.0.1:{port}/v1/calls",
                headers={"Authorization": f"Bearer {guessed}", **FORWARDED},
                timeout=10,
            )
        return answer.status_code

    assert await asyncio.to_thread(request) == 401
    [entry] = (await admin.ok("GET", "/v1/audit?action=auth.failed"))["items"]
    return entry["detail"]["client"]


async def test_a_trusted_proxy_forwards_the_client_address(
    admin: Api, database_url: str, settings: Settings
) -> None:
    trusted = settings.model_copy(update={"forwarded_allow_ips": "10.0.0.0/8,127.0.0.1"})
    assert await _client_seen(admin, database_url, trusted) == "203.0.113.7"


async def test_a_peer_not_listed_as_a_proxy_cannot_claim_another_address(
    admin: Api, database_url: str, settings: Settings
) -> None:
    untrusted = settings.model_copy(update={"forwarded_allow_ips": "10.0.0.1"})
    assert await _client_seen(admin, database_url, untrusted) == "127.0.0.1"


async def test_proxy_headers_can_be_turned_off(
    admin: Api, database_url: str, settings: Settings
) -> None:
    off = settings.model_copy(update={"proxy_headers": False})
    assert await _client_seen(admin, database_url, off) == "127.0.0.1"


def test_serve_options_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CIT_FORWARDED_ALLOW_IPS", "10.1.1.1")
    monkeypatch.setenv("CIT_PROXY_HEADERS", "false")
    from_env = Settings()
    assert (from_env.proxy_headers, from_env.forwarded_allow_ips) == (False, "10.1.1.1")
    args = build_parser().parse_args(
        ["serve", "--proxy-headers", "--forwarded-allow-ips", "10.2.0.0/16", "--port", "18499"]
    )
    chosen = serve_settings(from_env, args)
    assert (chosen.proxy_headers, chosen.forwarded_allow_ips) == (True, "10.2.0.0/16")
    assert chosen.port == 18499
    unchanged = serve_settings(from_env, build_parser().parse_args(["serve"]))
    assert (unchanged.proxy_headers, unchanged.forwarded_allow_ips) == (False, "10.1.1.1")
