"""The OpenAPI document tells the whole contract: the headers answers carry, and every
webhook event's body, checked against real answers and real deliveries."""

from __future__ import annotations

import json
import re
from typing import Any
from uuid import UUID

import asyncpg
import httpx
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from app.eido import schema as eido_schema
from app.vocabulary import EVENT_TYPES, OFF_CALL
from tests.conftest import ServiceFactory
from tests.eido.documents import document as eido_document
from tests.eido.documents import incident_id
from tests.events.samples import one_of_each, sample_call
from tests.helpers import Api, add_co_responder, add_officer, grid_districts
from tests.receiver import Receiver

DOCUMENT = "urn:cit-dispatch:openapi"

# Words only a reader of the code understands, in any case (a sentence may begin with one).
# pydantic publishes a model's docstring and a field's description as the schema's
# description, so a note meant for programmers there (which test checks what, which module
# restates a field, what a field was before) reaches every integrator; it belongs in a
# comment beside the model.
_CODE_WORDS = re.compile(
    r"\ba test\b|\btests?/|\bthe fuzz\b|outside-in|\.py\b|\(was\b|\bmypy\b"
    r"|\bvocabulary\b|\bapp\.[a-z_]+\.|\bmigration \d|\bSPEC\b",
    re.IGNORECASE,
)


async def _document(client: httpx.AsyncClient) -> dict[str, Any]:
    document: dict[str, Any] = (await client.get("/openapi.json")).json()
    return document


def _webhook_validator(document: dict[str, Any], event_type: str) -> Draft202012Validator:
    """A validator for the body the document says a webhook of event_type has."""
    # OpenAPI 3.1 schemas are JSON Schema 2020-12; refs point into the document.
    registry: Registry[Any] = Registry().with_resource(
        DOCUMENT, DRAFT202012.create_resource(document)
    )
    pointer = f"/webhooks/{event_type}/post/requestBody/content/application~1json/schema"
    return Draft202012Validator({"$ref": f"{DOCUMENT}#{pointer}"}, registry=registry)


async def test_every_answer_declares_the_headers_it_carries(client: httpx.AsyncClient) -> None:
    document = await _document(client)
    headers = document["components"]["headers"]
    assert set(headers) >= {"X-Request-ID", "Retry-After", "Idempotent-Replayed"}
    idempotent = set()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            takes_key = any(
                p["in"] == "header" and p["name"].lower() == "idempotency-key"
                for p in operation.get("parameters", [])
            )
            if takes_key:
                idempotent.add(f"{method.upper()} {path}")
            for status, response in operation["responses"].items():
                declared = response.get("headers", {})
                assert "X-Request-ID" in declared, (method, path, status)
                if status in ("429", "503"):
                    assert "Retry-After" in declared, (method, path, status)
                if takes_key and status.startswith("2"):
                    assert "Idempotent-Replayed" in declared, (method, path, status)
                if takes_key and status == "409":  # …/request-in-progress
                    assert "Retry-After" in declared, (method, path, status)
    assert idempotent == {
        "POST /v1/calls",
        "POST /v1/calls/{call_id}/dispatch",
        "POST /v1/webhooks",
    }


async def test_the_document_tells_of_the_405_of_a_method_a_path_does_not_take(
    admin: Api,
) -> None:
    """docs/api.md documents the 405 and its Allow header; the document did not say it
    anywhere (an outside-in check). It is about a path, so no operation lists it: the
    document's own description does, by the type and header a real 405 carries."""
    document = await _document(admin.client)
    statuses = {
        status
        for operations in document["paths"].values()
        for operation in operations.values()
        for status in operation["responses"]
    }
    assert "405" not in statuses
    described = document["info"]["description"]
    refused = await admin.delete("/v1/calls")
    assert refused.status_code == 405
    assert refused.headers["allow"] == "GET, HEAD, POST"
    assert f"`…/{refused.json()['type'].rsplit('/', 1)[1]}`" in described
    assert "`Allow` header" in described
    missing = await admin.get("/v1/calls/")
    assert missing.status_code == 404
    assert f"`…/{missing.json()['type'].rsplit('/', 1)[1]}`" in described


async def test_every_route_that_takes_a_key_documents_the_422_of_an_unknown_parameter(
    admin: Api,
) -> None:
    """Every route that takes a key refuses a query parameter it does not know with a 422,
    routes without any parameter too; the document says so for each."""
    document = await _document(admin.client)
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if "401" in operation["responses"]:
                assert "422" in operation["responses"], (method, path)
    for path in ("/v1/policy", "/v1/audit", "/v1/units"):
        refused = await admin.get(f"{path}?foo=1")
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["loc"] == ["query", "foo"]
    await grid_districts(admin)
    officer = await add_officer(admin, district="D1", call_sign="1A1")
    terminal = await admin.with_role("unit", UUID(officer))
    refused = await terminal.get("/v1/units/me?foo=1")
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["loc"] == ["query", "foo"]


async def test_a_replayed_answer_carries_the_headers_the_document_declares(admin: Api) -> None:
    await grid_districts(admin)
    keyed = {**admin.headers, "Idempotency-Key": "intake-1"}
    first = await admin.client.post("/v1/calls", json={"district": "D1"}, headers=keyed)
    again = await admin.client.post("/v1/calls", json={"district": "D1"}, headers=keyed)
    assert first.status_code == again.status_code == 201
    assert "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == "true"
    assert first.headers["x-request-id"]
    assert again.headers["x-request-id"]


async def test_the_webhooks_section_documents_every_event_type(
    client: httpx.AsyncClient,
) -> None:
    document = await _document(client)
    assert set(document["webhooks"]) == set(EVENT_TYPES)
    samples = one_of_each(sample_call())
    assert {e.type for e in samples} == set(EVENT_TYPES)
    for event in samples:
        body = {"type": event.type, "timestamp": "2026-11-30T03:00:00+00:00", "data": event.payload}
        _webhook_validator(document, event.type).validate(json.loads(json.dumps(body)))
        # The schemas are strict enough to catch a payload that lost a field.
        broken = {**body, "data": {k: v for k, v in event.payload.items() if k != "call_id"}}
        if "call_id" in event.payload:
            assert not _webhook_validator(document, event.type).is_valid(broken), event.type
        wrong_type = {**body, "type": "call.nonsense"}
        assert not _webhook_validator(document, event.type).is_valid(wrong_type)


async def test_real_deliveries_match_the_webhooks_section(
    admin: Api, receiver: Receiver, service: ServiceFactory, client: httpx.AsyncClient
) -> None:
    document = await _document(client)
    await grid_districts(admin)
    co = await add_co_responder(admin, district="D1", call_sign="MCT-1")
    busy = await add_officer(admin, district="D1", call_sign="1A1", cit=True)
    await add_officer(admin, district="D1", call_sign="1A2", cit=True)
    kinds = [t for t in EVENT_TYPES if t.startswith(("call.", "unit.", "recommendation."))]
    await admin.ok("POST", "/v1/webhooks", {"url": receiver.url, "events": kinds}, 201)
    async with service():
        await admin.ok(
            "PUT", f"/v1/officers/{busy}/status", {"status": "on_scene", "external_incident": "T-9"}
        )
        call = await admin.ok("POST", "/v1/calls", {"district": "D1", "nature": "MNTL"}, 201)
        await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
        await admin.ok("PUT", f"/v1/co-responders/{co}/status", {"status": "en_route"})
        await admin.ok("PATCH", f"/v1/calls/{call['id']}", {"safety": {"weapon": True}})
        await admin.ok("POST", f"/v1/calls/{call['id']}/clear", {"disposition": "resolved"})
        # Two status changes, the call, two recommendations, two assignments, the update,
        # the escalation, two releases and the clearing.
        deliveries = await receiver.wait_for(12)
    seen = set()
    for delivery in deliveries:
        body = json.loads(delivery.body)
        errors = list(_webhook_validator(document, body["type"]).iter_errors(body))
        assert not errors, (body["type"], [e.message for e in errors])
        seen.add(body["type"])
    assert seen >= {
        "call.created",
        "recommendation.created",
        "unit.assigned",
        "unit.status_changed",
        "call.updated",
        "call.escalated",
        "unit.released",
        "call.cleared",
    }


async def test_the_eido_routes_declare_the_eido_schema(client: httpx.AsyncClient) -> None:
    document = await _document(client)
    root = "#/components/schemas/EidoEmergencyIncidentDataObjectType"
    body = document["paths"]["/v1/eido"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"]["$ref"] == root
    for path in ("/v1/calls/{call_id}/eido", "/v1/eido/incidents/{incident_id}"):
        answer = document["paths"][path]["get"]["responses"]["200"]
        assert answer["content"]["application/json"]["schema"]["$ref"] == root
    # Every reference inside the EIDO components resolves within the document.
    text = json.dumps(
        {k: v for k, v in document["components"]["schemas"].items() if k.startswith("Eido")}
    )
    for ref in set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', text)):
        assert ref in document["components"]["schemas"], ref


def _descriptions(node: Any, where: str = "") -> list[tuple[str, str]]:
    """Every description and summary in node, with where it is."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("description", "summary") and isinstance(value, str):
                found.append((f"{where}/{key}", value))
            else:
                found += _descriptions(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _descriptions(value, f"{where}/{index}")
    return found


async def test_no_description_speaks_to_the_codes_readers(client: httpx.AsyncClient) -> None:
    """An integrator reads what a field or an operation means for a client, not which test
    keeps it honest or which module restates it."""
    document = await _document(client)
    described = _descriptions(document)
    assert len(described) > 500
    leaks = [(where, text) for where, text in described if _CODE_WORDS.search(text)]
    assert leaks == []


async def test_every_schema_says_what_it_is(client: httpx.AsyncClient) -> None:
    """An integrator reading /docs, or a client generated from the document, is told what
    each schema is, not only its fields' names. NENA's EIDO schema, published as `Eido…`
    components, is in NENA's words as NENA wrote them; a schema of ours named so
    (EidoImportOut, the import's answer) is held to a description as any other."""
    document = await _document(client)
    schemas = document["components"]["schemas"]
    assert len(schemas) > 100
    nenas = {f"Eido{name}" for name in eido_schema.schemas()}
    assert "EidoImportOut" in schemas
    assert "EidoImportOut" not in nenas
    undescribed = [
        name
        for name, schema in schemas.items()
        if name not in nenas and not schema.get("description", "").strip()
    ]
    assert undescribed == []


async def test_the_reports_document_their_csv_answers(admin: Api) -> None:
    """A client that asks a report for CSV finds in the document what it gets: text/csv
    whose description names every column of the header row, and the Content-Disposition
    that names the file, as the real answers carry them."""
    document = await _document(admin.client)
    await grid_districts(admin)
    day = r"\d{4}-\d\d-\d\d"
    for path, file_name, sent_name in (
        ("/v1/coverage", "coverage[_<district>]_<first day>_<last day>", f"coverage_{day}_{day}"),
        ("/v1/program", "program_<today>", f"program_{day}"),
        (
            "/v1/reports/outcomes",
            "outcomes[_<district>]_<first day>_<last day>",
            f"outcomes_{day}_{day}",
        ),
    ):
        said = document["paths"][path]["get"]["responses"]["200"]
        rows = said["content"]["text/csv"]["schema"]["description"]
        disposition = said["headers"]["Content-Disposition"]
        assert disposition["schema"] == {"type": "string"}
        answer = await admin.client.get(path, headers={**admin.headers, "Accept": "text/csv"})
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].split(";")[0] == "text/csv"
        header = answer.text.splitlines()[0].split(",")
        assert [column for column in header if f"`{column}`" not in rows] == [], path
        sent = answer.headers["content-disposition"]
        assert re.fullmatch(f'attachment; filename="{sent_name}\\.csv"', sent), sent
        said_name = f'`attachment; filename="{file_name}.csv"`'
        assert said_name in disposition["description"], path


async def test_the_eido_import_documents_each_media_type_it_takes(admin: Api) -> None:
    """A client generated from the document sends an EIDO as NENA's media type or as plain
    JSON; the document lists both, with the EIDO schema, and each is taken."""
    document = await _document(admin.client)
    content = document["paths"]["/v1/eido"]["post"]["requestBody"]["content"]
    assert set(content) == {"application/json", "application/emergencyCallData.eido+json"}
    await grid_districts(admin)
    for media_type, body in content.items():
        assert body["schema"]["$ref"] == "#/components/schemas/EidoEmergencyIncidentDataObjectType"
        sent = json.dumps(eido_document(incident_id(), beat="D1"))
        headers = {**admin.headers, "Content-Type": media_type}
        answer = await admin.client.post("/v1/eido", content=sent, headers=headers)
        assert answer.status_code == 201, (media_type, answer.text)


async def test_the_documents_call_location_accepts_what_the_api_accepts(
    admin: Api, client: httpx.AsyncClient
) -> None:
    document = await _document(client)
    registry: Registry[Any] = Registry().with_resource(
        DOCUMENT, DRAFT202012.create_resource(document)
    )
    schema = {"$ref": f"{DOCUMENT}#/components/schemas/CallLocation"}
    says = Draft202012Validator(schema, registry=registry)
    await grid_districts(admin)
    for location in (
        {"lat": 40.785, "lon": -111.925},
        {"lat": 40.785, "lon": -111.925, "address": None},
        {"address": "12 Main St"},
        {"lat": None, "lon": None, "address": "12 Main St"},
        {},
        {"lat": 40.785},
        {"lat": None, "address": "12 Main St"},
        {"lat": None, "lon": None},
        {"lat": 40.785, "lon": None, "address": "12 Main St"},
        {"lat": None, "lon": -111.925, "address": "12 Main St"},
        {"lon": -111.925},
        {"address": "  "},
    ):
        answer = await admin.post("/v1/calls", {"district": "D1", "location": location})
        assert answer.status_code in (201, 422), answer.text
        assert says.is_valid(location) == (answer.status_code == 201), (location, answer.text)


async def test_the_document_says_what_each_assignment_was_released_into(
    admin: Api, client: httpx.AsyncClient
) -> None:
    """A client generated from the document reads released_status, one of the off-call
    statuses or null, and the call read back with a unit released matches it."""
    document = await _document(client)
    assignment = document["components"]["schemas"]["AssignmentOut"]
    assert "released_status" in assignment["required"]
    field = assignment["properties"]["released_status"]
    assert field["description"]
    assert field["anyOf"] == [{"type": "string", "enum": list(OFF_CALL)}, {"type": "null"}]
    registry: Registry[Any] = Registry().with_resource(
        DOCUMENT, DRAFT202012.create_resource(document)
    )
    says = Draft202012Validator(
        {"$ref": f"{DOCUMENT}#/components/schemas/CallDetailOut"}, registry=registry
    )
    await grid_districts(admin)
    co = await add_co_responder(admin, district="D1", call_sign="MCT-1")
    await add_officer(admin, district="D1", call_sign="1A1", cit=True)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
    await admin.ok("PUT", f"/v1/co-responders/{co}/status", {"status": "out_of_service"})
    shown = await admin.ok("GET", f"/v1/calls/{call['id']}")
    assert {a["released_status"] for a in shown["assignments"]} == {None, "out_of_service"}
    says.validate(shown)


async def test_the_document_says_a_unit_is_released_only_available_or_out_of_service(
    client: httpx.AsyncClient,
) -> None:
    """unit.released's status listed all six unit statuses, though its description and the
    code (a clear, or a report of one of the two) only ever give these two: a client
    generated from the document had to handle four that never come (outside-in check)."""
    document = await _document(client)
    status = document["components"]["schemas"]["WebhookUnitReleased"]["properties"]["status"]
    assert status["enum"] == list(OFF_CALL) == ["available", "out_of_service"]
    assert "available or out_of_service" in status["description"]


async def test_the_document_says_every_way_a_call_escalates(client: httpx.AsyncClient) -> None:
    """call.escalated's description said only "Re-triage changed the lead…", while a
    dispatcher's override (rule dispatch_override) and the leading unit's leaving send it
    too (docs/api.md, "Events and webhooks"; outside-in check)."""
    document = await _document(client)
    described = document["webhooks"]["call.escalated"]["post"]["description"]
    assert described.startswith("The lead of a dispatched call changed: a re-triage")
    assert "unit leading it leaving the call" in described
    assert "a dispatcher sent the other kind of unit to lead" in described
    assert "dispatch_override" in described


async def test_the_document_says_a_dispatch_and_a_clear_send_no_unit_status_changed(
    client: httpx.AsyncClient,
) -> None:
    """A CAD expecting unit.status_changed for every status a unit takes waited in vain
    for a dispatch's and a clear's: they are told by unit.assigned and unit.released."""
    document = await _document(client)
    described = document["webhooks"]["unit.status_changed"]["post"]["description"]
    assert "A dispatch and a clear send none" in described
    assert "unit.assigned" in described
    assert "unit.released" in described


async def test_the_document_says_events_of_one_change_share_a_timestamp(
    admin: Api, client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    """A receiver ordering by timestamp alone met ties it could not order: a report that
    releases a unit writes its unit.status_changed, unit.released and the re-triage's
    recommendation.created at one instant. The document says so, and how to order them."""
    described = (await _document(client))["webhooks"]["unit.released"]["post"]["requestBody"]
    timestamp = described["content"]["application/json"]["schema"]["properties"]["timestamp"]
    assert "The events of one change share it" in timestamp["description"]
    assert "not by this alone" in timestamp["description"]
    await grid_districts(admin)
    co = await add_co_responder(admin, district="D1", call_sign="MCT-1")
    call = await admin.ok("POST", "/v1/calls", {"district": "D1", "nature": "MNTL"}, 201)
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
    await admin.ok("PUT", f"/v1/co-responders/{co}/status", {"status": "out_of_service"})
    last = await db.fetch(
        "SELECT type, created_at FROM event WHERE xact_id = (SELECT max(xact_id) FROM event)"
        " ORDER BY id"
    )
    assert [e["type"] for e in last] == [
        "unit.status_changed",
        "unit.released",
        "recommendation.created",
    ]
    assert len({e["created_at"] for e in last}) == 1


def _named_conflict(document: dict[str, Any], method: str, path: str) -> Draft202012Validator:
    """A validator for the problem a route's 409 documents as naming what it clashed with
    (its schema's first alternative; the second is the plain Problem)."""
    registry: Registry[Any] = Registry().with_resource(
        DOCUMENT, DRAFT202012.create_resource(document)
    )
    escaped = path.replace("~", "~0").replace("/", "~1")
    pointer = (
        f"/paths/{escaped}/{method}/responses/409/content/application~1problem+json/schema/anyOf/0"
    )
    return Draft202012Validator(
        {"$ref": f"{DOCUMENT}#{pointer}"},
        registry=registry,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


async def test_a_409_that_names_what_it_clashed_with_is_documented_so(
    client: httpx.AsyncClient, admin: Api
) -> None:
    # A client generated from the document must see call_id, officer_id, shift_id and
    # certification_id, not sniff a plain Problem for them.
    document = await _document(client)
    await grid_districts(admin)
    officer = {"state_officer_id": "UT-70", "badge_number": "70", "name": "Ola"}
    held = await admin.ok("POST", "/v1/officers", officer, 201)
    other = await admin.ok(
        "POST", "/v1/officers", {**officer, "state_officer_id": "UT-71", "badge_number": "71"}, 201
    )
    cert = {
        "state_officer_id": "UT-70",
        "certification_number": "C-70",
        "program": "State CIT 40h",
        "certified_on": "2026-01-05",
        "expires_on": "2028-01-05",
        "volunteered": True,
    }
    await admin.ok("POST", "/v1/certifications", cert, 201)
    shift = {
        "responder_type": "officer",
        "responder_id": held["id"],
        "call_sign": "1A70",
        "district": "D1",
        "starts_at": "2027-01-05T08:00:00Z",
        "ends_at": "2027-01-05T16:00:00Z",
    }
    first_shift = await admin.ok("POST", "/v1/shifts", shift, 201)
    await admin.ok("POST", "/v1/calls", {"district": "D1", "external_id": "CAD-70"}, 201)
    clashes = [
        ("post", "/v1/calls", {"district": "D1", "external_id": "CAD-70"}, "call_id"),
        ("post", "/v1/officers", {**officer, "badge_number": "72"}, "officer_id"),
        ("patch", f"/v1/officers/{other['id']}", {"badge_number": "70"}, "officer_id"),
        ("post", "/v1/certifications", cert, "certification_id"),
        ("post", "/v1/shifts", shift, "shift_id"),
        ("post", "/v1/shifts/bulk", {"shifts": [shift]}, "shift_id"),
    ]
    templates = {"patch": "/v1/officers/{officer_id}"}
    kinds = {
        "call_id": "call-exists",
        "officer_id": "officer-exists",
        "certification_id": "certification-exists",
        "shift_id": "shift-overlap",
    }
    for method, path, body, field in clashes:
        response = await admin.client.request(method, path, json=body, headers=admin.headers)
        assert response.status_code == 409, response.text
        problem = response.json()
        validator = _named_conflict(document, method, templates.get(method, path))
        assert list(validator.iter_errors(problem)) == [], (path, problem)
        # The document's schema types the field: a value that is not an id breaks it.
        assert list(validator.iter_errors({**problem, field: "not an id"})), (path, field)
        assert UUID(problem[field])
        # Its own problem type, so a client can tell it from the other 409s of the route.
        assert problem["type"].rsplit("/", 1)[1] == kinds[field], problem["type"]
    assert response.json()["shift_id"] == first_shift["id"]
