"""`./dev fuzz`: schemathesis against the real app on real PostgreSQL.

A throwaway database is built by the Alembic migrations (on the embedded server, or on
CIT_TEST_DATABASE_URL's), one agency is seeded through the API, the service is served on a
loopback port, and `st run` fuzzes every operation of /openapi.json with positive and
negative data and every check. Extra arguments go to `st run`.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import uvicorn
from sqlalchemy.engine import make_url

from app.api.app import create_app
from app.api.server import uvicorn_config
from app.db.embedded import start_embedded
from app.db.engine import execute_alone
from app.db.migrate import upgrade
from app.settings import Settings
from tests.helpers import Api, add_co_responder, add_officer, grid_districts, new_agency

HERE = Path(__file__).resolve().parent
# Deterministic generation, one worker: CI runs about the same 8,400 cases each time (the
# stateful phase follows the answers), in 2 to 3 minutes. A second worker saves little:
# the service is the bound (125 s against 134 s, measured alone). Later arguments win,
# e.g. `./dev fuzz --max-examples=200`.
DEFAULT_ST_ARGS = [
    "--checks=all",
    "--mode=all",
    "--phases=examples,coverage,fuzzing,stateful",
    "--max-examples=40",
    "--workers=1",
    "--generation-deterministic",
]


def _settings(*, allow_private_targets: bool = False) -> Settings:
    """No relay: nothing is delivered. Seeding allows the webhook's target, an address
    that is not public (192.0.2.10, documentation), and needs no DNS.

    The fuzzer sends thousands of requests from one address, hundreds of them with no key
    or a bad one on purpose: the failed-authentication lockout and the per-key rate limit
    would answer most of the run with 429 (as they should). They are lifted here so every
    operation is exercised; tests/security/test_keys.py tests both limits.
    """
    return Settings(
        run_relay=False,
        db_pool_size=8,
        webhook_allow_private_targets=allow_private_targets,
        auth_failure_limit=1_000_000,
        rate_limit_per_minute=0,
    )


async def _seed(database_url: str) -> dict[str, Any]:
    """One agency with districts, officers, co-responders, shifts, two calls (one cleared,
    for the routes that correct what a clear recorded) and a webhook."""
    app = create_app(_settings(allow_private_targets=True), database_url)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://cit.test") as client:
            api: Api = await new_agency(app, client, name="Fuzz County", timezone="America/Denver")
            await grid_districts(api)
            officers = [
                await add_officer(
                    api, district="D1", call_sign="1A1", cit=True, location=(40.78, -111.93)
                ),
                await add_officer(api, district="D2", call_sign="2A1", location=(40.78, -111.88)),
            ]
            co_responders = [
                await add_co_responder(
                    api, district="D1", call_sign="MCT-1", location=(40.77, -111.92)
                ),
            ]
            webhook = await api.ok(
                "POST",
                "/v1/webhooks",
                {"url": "https://192.0.2.10/hooks", "events": ["call.created"]},
                status=201,
            )
            call = await api.ok(
                "POST",
                "/v1/calls",
                {"district": "D1", "nature": "MNTL", "received_at": datetime.now(UTC).isoformat()},
                status=201,
            )
            cleared = await api.ok("POST", "/v1/calls", {"district": "D2"}, status=201)
            await api.ok("POST", f"/v1/calls/{cleared['id']}/clear", {"disposition": "closed"})
            deliveries = await api.ok("GET", f"/v1/webhooks/{webhook['id']}/deliveries")
            shifts = await api.ok("GET", "/v1/shifts")
            certifications = await api.ok("GET", "/v1/certifications")
            unit = await api.with_role("unit", responder_id=UUID(officers[0]))
    return {
        "key": api.key,
        "unit_key": unit.key,
        "ids": {
            "code": ["D1", "D2", "D3", "D4"],
            "officer_id": officers,
            "co_responder_id": co_responders,
            "call_id": [call["id"], cleared["id"]],
            "subscription_id": [webhook["id"]],
            "delivery_id": [d["id"] for d in deliveries["items"]],
            "shift_id": [s["id"] for s in shifts["items"]],
            "certification_id": [c["id"] for c in certifications["items"]],
        },
    }


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def main(argv: list[str]) -> int:
    """Fuzz the API and return `st run`'s exit code."""
    server = os.environ.get("CIT_TEST_DATABASE_URL") or start_embedded(
        Path(tempfile.mkdtemp(prefix="cit-fuzz-")), ephemeral=True
    )
    name = f"cit_fuzz_{secrets.token_hex(4)}"
    asyncio.run(execute_alone(server, f'CREATE DATABASE "{name}"'))
    database_url = make_url(server).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(database_url)
        seed = asyncio.run(_seed(database_url))
        sock = _free_socket()
        port = sock.getsockname()[1]
        # Served as `serve` serves it: its protocol (app/api/protocol.py) answers what never
        # reaches the app (a head or body too slow, the connection cap) and ends connections.
        settings = _settings()
        config = uvicorn_config(create_app(settings, database_url), settings, "127.0.0.1", port)
        service = uvicorn.Server(config)
        thread = threading.Thread(target=service.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        while not service.started:
            if not thread.is_alive():
                raise RuntimeError("the service did not start")
            time.sleep(0.05)
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as ids_file:
            json.dump(seed["ids"], ids_file)
        env = {
            **os.environ,
            "SCHEMATHESIS_HOOKS": "tests.fuzz.hooks",
            "CIT_FUZZ_IDS": ids_file.name,
            # schemathesis.toml: GET /v1/units/me is only for a unit's own key.
            "CIT_FUZZ_UNIT_KEY": seed["unit_key"],
        }
        command = [
            str(Path(sys.executable).with_name("st")),
            "--config-file",
            str(HERE / "schemathesis.toml"),
            "run",
            f"http://127.0.0.1:{port}/openapi.json",
            "--header",
            f"Authorization: Bearer {seed['key']}",
            *DEFAULT_ST_ARGS,
            *argv,
        ]
        started = time.monotonic()
        code = subprocess.call(command, env=env)  # noqa: S603 - our own st, fixed arguments
        print(f"fuzz: st run finished in {time.monotonic() - started:.0f} s with exit code {code}")
        service.should_exit = True
        thread.join(timeout=10)
        os.unlink(ids_file.name)
        return code
    finally:
        asyncio.run(execute_alone(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
