"""The CLI against the same database as the tests' app."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx

from tests.helpers import Api


def _cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CIT_DATABASE_URL": database_url, "CIT_LOG_LEVEL": "INFO"}
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "app.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


async def test_agency_and_key_creation_print_one_json_line_each(
    database_url: str, client: httpx.AsyncClient
) -> None:
    made = _cli(
        database_url, "agency", "create", "--name", "Test PD", "--timezone", "America/Denver"
    )
    assert made.returncode == 0, made.stderr
    lines = made.stdout.splitlines()
    assert len(lines) == 1
    agency = json.loads(lines[0])
    assert set(agency) == {"agency_id", "api_key"}

    admin_headers = {"Authorization": f"Bearer {agency['api_key']}"}
    assert (await client.get("/v1/policy", headers=admin_headers)).status_code == 200

    viewer = _cli(
        database_url, "api-key", "create", "--agency", agency["agency_id"], "--role", "viewer"
    )
    assert viewer.returncode == 0, viewer.stderr
    key = json.loads(viewer.stdout)
    assert key["role"] == "viewer"
    viewer_headers = {"Authorization": f"Bearer {key['api_key']}"}
    assert (await client.get("/v1/calls", headers=viewer_headers)).status_code == 200
    assert (
        await client.post("/v1/calls", json={"district": "D1"}, headers=viewer_headers)
    ).status_code == 403
    trail = (await client.get("/v1/audit?resource_type=api_key", headers=admin_headers)).json()
    created = [e for e in trail["items"] if e["action"] == "api_key.create"]
    assert [(e["role"], e["detail"]["role"]) for e in created] == [
        ("cli", "viewer"),
        ("cli", "admin"),
    ]


async def test_cli_rejects_bad_input_with_a_message(database_url: str, admin: Api) -> None:
    bad_zone = _cli(database_url, "agency", "create", "--name", "X", "--timezone", "Mars/Olympus")
    assert bad_zone.returncode == 2
    assert "timezone" in bad_zone.stderr
    assert bad_zone.stdout == ""
    unit_without_responder = _cli(
        database_url, "api-key", "create", "--agency", str(admin.agency_id), "--role", "unit"
    )
    assert unit_without_responder.returncode == 2
    assert "--responder-id" in unit_without_responder.stderr
