"""A 500 carries what every answer carries: the request id and the security headers.

The app runs in uvicorn, as `serve` configures it, on a loopback port in this process, with
one extra route that fails the way a bug would.
"""

from __future__ import annotations

from collections.abc import Iterator

import asyncpg
import httpx
import pytest

from app.api.app import create_app
from app.settings import Settings
from tests.live_server import live_server
from tests.test_db_failures import REFUSED

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


@pytest.fixture
def base_url(database_url: str, settings: Settings) -> Iterator[str]:
    app = create_app(settings, database_url)

    @app.get("/v1/test-bug", include_in_schema=False)
    async def bug() -> None:
        raise RuntimeError("a bug")

    @app.get("/v1/test-ended", include_in_schema=False)
    async def ended() -> None:
        # What asyncpg raises on the driver connection (intake's statements, COMMIT) when
        # the server ended it and its farewell has been read (tests/test_db_failures.py).
        raise asyncpg.InternalClientError(REFUSED)

    with live_server(app, settings) as port:
        yield f"http://127.0.0.1:{port}"


def test_an_unhandled_error_answers_500_with_the_request_id_and_security_headers(
    base_url: str,
) -> None:
    answer = httpx.get(f"{base_url}/v1/test-bug", headers={"X-Request-ID": "bug-1"}, timeout=10)
    assert answer.status_code == 500
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"].endswith("/internal")
    assert answer.headers.get("x-request-id") == "bug-1"
    for name, value in SECURITY_HEADERS.items():
        assert answer.headers.get(name) == value, name


def test_a_500_without_a_request_id_gets_a_fresh_one(base_url: str) -> None:
    answer = httpx.get(f"{base_url}/v1/test-bug", timeout=10)
    assert answer.status_code == 500
    assert len(answer.headers.get("x-request-id", "")) == 32


def test_a_connection_its_server_ended_is_a_503_and_the_client_keeps_its_connection(
    base_url: str,
) -> None:
    # It was a 500, after which uvicorn closed the client's kept-alive connection.
    with httpx.Client(base_url=base_url, timeout=10) as client:
        for _ in range(2):
            answer = client.get("/v1/test-ended")
            assert answer.status_code == 503, answer.text
            assert answer.json()["type"].endswith("/unavailable")
            assert int(answer.headers["retry-after"]) > 0
            assert answer.headers.get("connection") != "close"
