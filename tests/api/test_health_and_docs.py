from __future__ import annotations

import importlib
import pkgutil
import re

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from app.api import routes
from app.api.app import create_app
from app.settings import Settings


async def test_livez_and_readyz_answer_ok(client: httpx.AsyncClient) -> None:
    live = await client.get("/livez")
    ready = await client.get("/readyz")
    assert live.json() == {"status": "ok"}
    assert ready.json() == {"status": "ok"}
    assert ready.headers["x-request-id"]
    assert ready.headers["x-content-type-options"] == "nosniff"


async def test_request_id_is_echoed_when_given(client: httpx.AsyncClient) -> None:
    response = await client.get("/livez", headers={"X-Request-ID": "cad-42"})
    assert response.headers["x-request-id"] == "cad-42"


async def test_readyz_is_503_with_retry_after_when_database_is_down(settings: Settings) -> None:
    # A server that refuses connections: nothing listens on port 9 of loopback.
    app = create_app(settings, "postgresql://postgres@127.0.0.1:9/none")
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            ready = await http.get("/readyz")
            live = await http.get("/livez")
    assert ready.status_code == 503
    assert ready.headers["retry-after"]
    assert ready.headers["content-type"] == "application/problem+json"
    assert live.status_code == 200


async def test_openapi_documents_problem_responses(app: FastAPI, client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert "Problem" in schema["components"]["schemas"]
    create_call = schema["paths"]["/v1/calls"]["post"]["responses"]
    for status in ("201", "401", "403", "409", "413", "422", "503"):
        assert status in create_call, status
    assert "application/problem+json" in create_call["422"]["content"]


async def test_every_operation_with_input_documents_its_422_as_a_problem(
    client: httpx.AsyncClient,
) -> None:
    """FastAPI's own default 422 (application/json, HTTPValidationError) is not what we send."""
    schema = (await client.get("/openapi.json")).json()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if not operation.get("parameters") and "requestBody" not in operation:
                continue
            content = operation["responses"].get("422", {}).get("content", {})
            assert list(content) == ["application/problem+json"], f"{method.upper()} {path}"


async def test_openapi_uses_only_json_schema_keywords_for_bounds(
    client: httpx.AsyncClient,
) -> None:
    """Pydantic writes ge/le/gt/lt as they are when it cannot map them, and clients ignore them."""
    text = (await client.get("/openapi.json")).text
    for keyword in ("ge", "le", "gt", "lt"):
        assert f'"{keyword}":' not in text, keyword


async def test_dispatch_documents_every_kind_of_409(client: httpx.AsyncClient) -> None:
    """A cleared call's 409 is a plain problem, without unavailable_units; a changed
    recommendation's carries the latest."""
    schema = (await client.get("/openapi.json")).json()
    responses = schema["paths"]["/v1/calls/{call_id}/dispatch"]["post"]["responses"]
    content = responses["409"]["content"]
    assert list(content) == ["application/problem+json"]
    refs = {s["$ref"] for s in content["application/problem+json"]["schema"]["anyOf"]}
    names = {ref.rsplit("/", 1)[-1] for ref in refs}
    assert names == {"UnitsUnavailableProblem", "RecommendationChangedProblem", "Problem"}
    assert names <= set(schema["components"]["schemas"])


@pytest.mark.parametrize("path", ["/v1/calls", "/v1/units", "/v1/policy", "/v1/districts"])
async def test_reads_need_a_key(client: httpx.AsyncClient, path: str) -> None:
    assert (await client.get(path)).status_code == 401


def test_no_request_path_reaches_the_routes_of_two_routers() -> None:
    """The routers are included busiest first (app/api/app.py), not in the document's order.
    That changes nothing a client sees only while no request can match routes of two
    routers: one of them would then answer by the order of inclusion."""
    owners = []
    for info in pkgutil.iter_modules(routes.__path__):
        router = importlib.import_module(f"{routes.__name__}.{info.name}").router
        owners += [(info.name, r) for r in router.routes if isinstance(r, APIRoute)]
    assert len({name for name, _ in owners}) > 10
    clashes = []
    for name, route in owners:
        # Each path parameter filled with a value any converter takes.
        path = re.sub(r"\{[^}]+\}", "0c3a1f3e-0000-4000-8000-000000000000", route.path)
        clashes += [
            (route.path, other.path)
            for owner, other in owners
            if owner != name
            and set(other.methods or ()) & set(route.methods or ())
            and other.path_regex.match(path)
        ]
    assert clashes == []
