"""The access log line each request writes: enough for the on-call engineer to tell which
route, which client and which key, without the query, the body or the key's secret."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest

from tests.helpers import Api


def _lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    fields = ("method", "path", "route", "status", "client", "key")
    return [
        {name: getattr(record, name) for name in fields}
        for record in caplog.records
        if record.name == "cit_dispatch.access"
    ]


async def test_a_line_names_the_route_template_the_client_and_the_keys_prefix(
    admin: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cit_dispatch.access")
    missing = uuid.uuid4()
    answered = await admin.client.get(f"/v1/calls/{missing}", headers=admin.headers)
    assert answered.status_code == 404
    [line] = _lines(caplog)
    # The key's public prefix (as lists and the audit trail name it), never its secret.
    prefix = admin.key.removeprefix("cit_").split("_")[0]
    assert line == {
        "method": "GET",
        "path": f"/v1/calls/{missing}",
        "route": "/v1/calls/{call_id}",
        "status": 404,
        "client": "127.0.0.1",
        "key": prefix,
    }
    keys = await admin.ok("GET", "/v1/api-keys")
    assert prefix in {k["prefix"] for k in keys["items"]}


async def test_a_request_no_key_authenticated_or_no_route_took_says_so(
    admin: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cit_dispatch.access")
    assert (await admin.client.get("/v1/calls")).status_code == 401
    wrong = {"Authorization": "Bearer cit_00000000_not-a-key-at-all"}
    assert (await admin.client.get("/v1/units", headers=wrong)).status_code == 401
    assert (await admin.client.get("/no/such/route", headers=admin.headers)).status_code == 404
    # Refused before routing: still named by the route it asked for, as the metrics do.
    too_large = {**admin.headers, "Content-Length": str(10**9)}
    assert (await admin.client.post("/v1/calls", headers=too_large)).status_code == 413
    lines = _lines(caplog)
    assert [(line["route"], line["status"], line["key"]) for line in lines] == [
        ("/v1/calls", 401, None),
        ("/v1/units", 401, None),
        (None, 404, None),
        ("/v1/calls", 413, None),
    ]
