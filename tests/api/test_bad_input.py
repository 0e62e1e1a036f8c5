"""Bad input gets RFC 9457 problem+json, never a 500, and writes nothing."""

from __future__ import annotations

import gzip
import json
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import asyncpg
import httpx
import pytest

from app.api.permissions import ROUTES
from app.schemas.common import PATTERN_WORDS
from app.vocabulary import SAFETY_FLAGS
from tests.eido.documents import document as eido_document
from tests.eido.documents import incident_id
from tests.helpers import Api, add_officer, around_now, grid_districts, subscribe

PROBLEM = "application/problem+json"


async def _counts(db: asyncpg.Connection) -> tuple[int, ...]:
    row = await db.fetchrow(
        "SELECT (SELECT count(*) FROM call), (SELECT count(*) FROM recommendation),"
        " (SELECT count(*) FROM event), (SELECT count(*) FROM officer),"
        " (SELECT count(*) FROM shift), (SELECT count(*) FROM district)"
    )
    assert row is not None
    return tuple(row)


def _assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= set(body)
    assert "Traceback" not in response.text
    return dict(body)


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ('{"district": "D1",', "malformed JSON"),
        ('["not", "an", "object"]', "not an object"),
        ('{"district": 7}', "district is a number"),
        ('{"district": "D1", "safety": {"weapon": "yes"}}', "flag as string"),
        ('{"district": "D1", "safety": {"wepon": true}}', "misspelt flag"),
        ('{"location": {"lat": 91, "lon": 0}}', "latitude out of range"),
        ('{"location": {"lat": 40, "lon": -181}}', "longitude out of range"),
        ('{"district": "D1", "subject": {"age": -3}}', "negative age"),
        ('{"district": "NOPE"}', "unknown district"),
        ("{}", "neither district nor location"),
        ('{"location": {"lat": 1.0, "lon": 1.0}}', "location outside every boundary"),
        ('{"district": "D1", "received_at": "2026-11-23T10:00:00"}', "time without zone"),
    ],
)
async def test_bad_call_is_422_and_writes_nothing(
    admin: Api, db: asyncpg.Connection, body: str, where: str
) -> None:
    await grid_districts(admin)
    before = await _counts(db)
    response = await admin.client.post(
        "/v1/calls",
        content=body,
        headers={**admin.headers, "content-type": "application/json"},
    )
    problem = _assert_problem(response, 422)
    assert isinstance(problem.get("errors"), list), where
    assert problem["errors"], where
    assert await _counts(db) == before, where


@pytest.mark.parametrize("when", ["2026-11-23", "last friday", "1700000000"])
async def test_a_time_that_is_not_a_date_time_says_what_one_looks_like(
    admin: Api, when: str
) -> None:
    # A CAD sent the call's date alone: the 422 must say a date-time with a zone is
    # wanted, not that a date would do.
    await grid_districts(admin)
    response = await admin.post("/v1/calls", {"district": "D1", "received_at": when})
    errors = _assert_problem(response, 422)["errors"]
    assert isinstance(errors, list)
    [error] = errors
    assert error["loc"] == ["body", "received_at"]
    assert "RFC 3339 date-time with a time zone" in error["msg"], error


@pytest.mark.parametrize(
    "when", ["2026-12-05T24:00:00Z", "2026-12-05T00:00:00+24:00", "2026-12-05T00:00:00.+01:00"]
)
async def test_a_time_of_day_out_of_range_is_said_to_be_the_times_fault(
    admin: Api, when: str
) -> None:
    """Hour 24 or an offset of +24:00 were "a valid datetime or date, unexpected extra
    characters at the end of the input" (an outside-in check): the time's fault, not said."""
    start = "2026-12-05T00:00:00Z"
    response = await admin.get("/v1/coverage", params={"from": when, "to": start})
    errors = _assert_problem(response, 422)["errors"]
    assert isinstance(errors, list)
    [error] = errors
    assert error["loc"] == ["query", "from"]
    assert "hours 00 to 23" in error["msg"], error
    assert "extra characters" not in error["msg"], error


async def test_a_body_cut_short_is_said_to_be_invalid_json_and_where(admin: Api) -> None:
    """It said "body.17: JSON decode error": nothing told that 17 is where the parse
    stopped (an outside-in check)."""
    response = await admin.client.post(
        "/v1/calls",
        content=b'{"district":"D1",',
        headers={**admin.headers, "content-type": "application/json"},
    )
    errors = _assert_problem(response, 422)["errors"]
    assert errors == [
        {
            "loc": ["body", 17],
            "msg": "The body is not valid JSON (Expecting property name enclosed in double"
            " quotes) at character 17",
        }
    ]


async def test_body_that_is_not_utf8_is_422(admin: Api, db: asyncpg.Connection) -> None:
    await grid_districts(admin)
    before = await _counts(db)
    headers = {**admin.headers, "content-type": "application/json"}
    response = await admin.client.post("/v1/calls", content=b"\xff\xfe{", headers=headers)
    problem = _assert_problem(response, 422)
    assert problem["errors"] == [{"loc": ["body"], "msg": "The body is not UTF-8 JSON"}]
    # Well-formed JSON in UTF-16 or UTF-32, with or without a byte order mark, is no I-JSON
    # (RFC 7493 §2.1): json.loads guessed its encoding and a call was made.
    for encoding in ("utf-16", "utf-16-le", "utf-32", "utf-32-be"):
        body = json.dumps({"district": "D1"}).encode(encoding)
        response = await admin.client.post("/v1/calls", content=body, headers=headers)
        assert response.json()["errors"][0]["loc"][0] == "body", encoding
        _assert_problem(response, 422)
    assert await _counts(db) == before
    # A UTF-8 byte order mark is let by, as RFC 8259 §8.1 allows.
    bom = b"\xef\xbb\xbf" + json.dumps({"district": "D1"}).encode()
    assert (await admin.client.post("/v1/calls", content=bom, headers=headers)).status_code == 201


@pytest.mark.parametrize(
    "body", [b'{"district": "D1",', b"\xff\xfe{", b"[" * 5000], ids=["syntax", "utf8", "deep"]
)
async def test_a_body_that_is_not_json_is_refused_by_key_and_role_first(
    client: httpx.AsyncClient, admin: Api, db: asyncpg.Connection, body: bytes
) -> None:
    """FastAPI reads the body before the route's dependencies: the key and the role must
    still be checked first, so no key is a 401 and a refused role a 403, audited."""
    await grid_districts(admin)
    officer = await add_officer(admin, district="D1", call_sign="1A1")
    other = await add_officer(admin, district="D1", call_sign="1A2")
    json_type = {"content-type": "application/json"}
    _assert_problem(await client.post("/v1/calls", content=body, headers=json_type), 401)
    viewer = await admin.with_role("viewer")
    denied = await viewer.client.post(
        "/v1/calls", content=body, headers={**viewer.headers, **json_type}
    )
    _assert_problem(denied, 403)
    unit = await admin.with_role("unit", uuid.UUID(officer))
    not_its_own = await unit.client.put(
        f"/v1/officers/{other}/status", content=body, headers={**unit.headers, **json_type}
    )
    _assert_problem(not_its_own, 403)
    refusals = await db.fetch(
        "SELECT action, resource_id FROM audit_entry WHERE outcome = 'denied'"
    )
    assert sorted((r["action"], r["resource_id"] or "") for r in refusals) == [
        ("auth.failed", ""),
        ("call.create", ""),
        ("officer.status", other),
    ]
    # A key the route lets in still gets the body's 422, audited once as a failed create.
    invalid = await admin.client.post(
        "/v1/calls", content=body, headers={**admin.headers, **json_type}
    )
    _assert_problem(invalid, 422)
    failed = await db.fetchval(
        "SELECT count(*) FROM audit_entry WHERE action = 'call.create' AND outcome = 'error'"
    )
    assert failed == 1


async def test_huge_body_is_413_before_parsing(admin: Api, db: asyncpg.Connection) -> None:
    await grid_districts(admin)
    before = await _counts(db)
    notes = "x" * (300 * 1024)
    response = await admin.post("/v1/calls", {"district": "D1", "notes": notes})
    _assert_problem(response, 413)
    assert await _counts(db) == before


async def test_huge_chunked_body_without_length_is_413(admin: Api) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(40):
            yield b"x" * 10_000

    response = await admin.client.post(
        "/v1/calls", content=chunks(), headers={**admin.headers, "content-type": "application/json"}
    )
    _assert_problem(response, 413)


async def test_missing_or_bad_key_is_401(client: httpx.AsyncClient, admin: Api) -> None:
    _assert_problem(await client.get("/v1/calls"), 401)
    _assert_problem(
        await client.get("/v1/calls", headers={"Authorization": "Bearer cit_nope_nope"}), 401
    )
    _assert_problem(await client.get("/v1/calls", headers={"Authorization": "Basic abc"}), 401)


@pytest.mark.parametrize("order", ["admin_first", "other_first"])
async def test_two_authorization_headers_are_a_401_whichever_comes_first(
    client: httpx.AsyncClient, admin: Api, other_admin: Api, order: str
) -> None:
    """Two keys in two headers: the first acted and the second was dropped, so a proxy or
    client adding its own header made the request act as whichever came first."""
    keys = [admin.headers["Authorization"], other_admin.headers["Authorization"]]
    if order == "other_first":
        keys.reverse()
    response = await client.get(
        "/v1/api-keys", headers=[("Authorization", keys[0]), ("Authorization", keys[1])]
    )
    problem = _assert_problem(response, 401)
    assert problem["detail"] == "Give one Authorization header: this request has several"
    assert response.headers["WWW-Authenticate"] == "Bearer"
    # The same key twice is no less ambiguous to a reader of the request.
    twice = [("Authorization", keys[0])] * 2
    _assert_problem(await client.get("/v1/api-keys", headers=twice), 401)
    assert (
        await client.get("/v1/api-keys", headers=[("Authorization", keys[0])])
    ).status_code == 200


async def test_unknown_route_and_wrong_method_are_problems(
    client: httpx.AsyncClient, admin: Api
) -> None:
    missing = await admin.get("/v1/nothing-here")
    _assert_problem(missing, 404)
    assert missing.json()["detail"] == (
        "The API has no such path; its paths are listed at /openapi.json"
    )
    _assert_problem(await admin.delete("/v1/calls"), 405)
    # The method is refused before any key is looked at (docs/api.md, "Errors").
    _assert_problem(await client.delete("/v1/calls"), 405)
    # A trailing slash is no path of the API: a 307 with an empty body said nothing to a
    # script whose $CALL_ID was empty (PATCH /v1/calls/).
    _assert_problem(await admin.patch("/v1/calls/", {"nature": "MNTL"}), 404)
    _assert_problem(await admin.post("/v1/calls/", {"district": "D1"}), 404)


async def test_head_is_answered_as_get_without_the_body(
    client: httpx.AsyncClient, admin: Api
) -> None:
    """RFC 9110 §9.3.2: monitors and proxies send HEAD where GET is served."""
    await admin.ok("POST", "/v1/districts", {"code": "D1", "name": "x"}, 201)
    for path in ("/readyz", "/v1/districts", "/v1/units?district=D1", "/v1/districts/D1"):
        got = await admin.get(path)
        head = await admin.client.head(path, headers=admin.headers)
        assert (head.status_code, head.content) == (200, b""), path
        for name in ("content-type", "content-length", "cache-control"):
            assert head.headers[name] == got.headers[name], (path, name)
    # As a GET would be: a key checked first, and a 404 for what is not there.
    assert (await client.head("/v1/districts")).status_code == 401
    assert (await admin.client.head("/v1/districts/D9", headers=admin.headers)).status_code == 404
    assert (await admin.client.head("/v1/nothing", headers=admin.headers)).content == b""


async def test_405_allow_header_lists_every_method_of_the_path(admin: Api) -> None:
    call_id = uuid.uuid4()
    for method, url, allow in [
        ("OPTIONS", f"/v1/calls/{call_id}", "GET, HEAD, PATCH"),
        ("DELETE", "/v1/calls", "GET, HEAD, POST"),
        ("POST", "/v1/districts/D1", "DELETE, GET, HEAD, PATCH"),
        ("OPTIONS", "/v1/districts/locate", "GET, HEAD"),
        # A concrete path beside a template with the method: not the template's 422.
        ("PATCH", "/v1/shifts/bulk", "POST"),
        ("DELETE", "/v1/shifts/bulk", "POST"),
        # The live feed's GET lasts as long as its client: no HEAD there.
        ("HEAD", "/v1/stream", "GET"),
    ]:
        response = await admin.client.request(method, url, headers=admin.headers)
        assert response.status_code == 405, (method, url)
        if method != "HEAD":
            _assert_problem(response, 405)
            assert response.json()["detail"] == (
                f"This path does not take {method}; it takes {allow}"
            )
        assert response.headers["allow"] == allow, (method, url)
    # A path that is a value of the template (the code "locate") with a bad body is that.
    _assert_problem(await admin.patch("/v1/districts/locate", {"name": 5}), 422)


async def test_malformed_ids_and_cursors_are_422(admin: Api) -> None:
    _assert_problem(await admin.get("/v1/calls/not-a-uuid"), 422)
    _assert_problem(await admin.get("/v1/calls?cursor=%%%"), 422)
    _assert_problem(await admin.get("/v1/calls?cursor=" + "0" * 64), 422)
    _assert_problem(await admin.get("/v1/calls?limit=501"), 422)
    _assert_problem(await admin.get("/v1/calls?limit=0"), 422)


@pytest.mark.parametrize("number", ["1.0", "1e1", "+1", " 1", "0x1", "1_0", "\u0661", "10\n"])
async def test_a_number_in_a_query_or_a_path_is_digits(admin: Api, number: str) -> None:
    """The document's type: integer; pydantic took "1.0" (and "+1", "1_0", an Arabic-Indic
    one) for a number (security review)."""
    for path in (
        f"/v1/calls?limit={quote(number)}",
        f"/v1/program?within_days={quote(number)}",
        f"/v1/policy/versions/{quote(number)}",
    ):
        response = await admin.get(path)
        _assert_problem(response, 422)
        assert response.json()["detail"].endswith("Input should be a whole number, in digits")
    assert (await admin.get("/v1/calls?limit=10")).status_code == 200
    assert (await admin.get("/v1/policy/versions/1")).status_code == 200


async def test_documented_cursor_pattern_is_exactly_what_is_accepted(admin: Api) -> None:
    """A cursor the schema calls valid is never a 422, and one it calls invalid always is."""
    schema = (await admin.client.get("/openapi.json")).json()
    parameters = schema["paths"]["/v1/calls"]["get"]["parameters"]
    cursor_schema = next(p for p in parameters if p["name"] == "cursor")["schema"]
    pattern = re.compile(next(s for s in cursor_schema["anyOf"] if "pattern" in s)["pattern"])
    for cursor in ("0" * 22, "_-" * 11, "0" * 21, "0" * 23, "0" * 24, "A" * 22 + "==", "0" * 64):
        response = await admin.get("/v1/calls", params={"cursor": cursor})
        assert response.status_code == (200 if pattern.match(cursor) else 422), cursor


async def test_another_agencys_ids_are_404_and_change_nothing(
    admin: Api, other_admin: Api, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    officer_id = await add_officer(admin, district="D1", call_sign="1A1")
    call = await admin.ok("POST", "/v1/calls", {"district": "D1", "notes": "private"}, 201)
    before = await _counts(db)
    _assert_problem(await other_admin.get(f"/v1/calls/{call['id']}"), 404)
    _assert_problem(await other_admin.patch(f"/v1/calls/{call['id']}", {"nature": "X"}), 404)
    _assert_problem(await other_admin.get(f"/v1/calls/{call['id']}/recommendations"), 404)
    _assert_problem(await other_admin.get(f"/v1/officers/{officer_id}"), 404)
    _assert_problem(await other_admin.patch(f"/v1/officers/{officer_id}", {"name": "x"}), 404)
    _assert_problem(
        await other_admin.put(f"/v1/officers/{officer_id}/status", {"status": "out_of_service"}),
        404,
    )
    assert await _counts(db) == before
    status = await admin.ok("GET", f"/v1/officers/{officer_id}")
    assert status["status"] == "available"
    assert (await other_admin.ok("GET", "/v1/calls"))["items"] == []
    assert (await other_admin.ok("GET", "/v1/units"))["items"] == []


async def test_shift_for_another_agencys_responder_is_refused(
    admin: Api, other_admin: Api, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    await other_admin.ok("POST", "/v1/districts", {"code": "D1", "name": "theirs"}, 201)
    officer_id = await add_officer(admin, district="D1", call_sign="1A1")
    before = await _counts(db)
    response = await other_admin.post(
        "/v1/shifts",
        {
            "responder_type": "officer",
            "responder_id": officer_id,
            "call_sign": "X",
            "district": "D1",
            "starts_at": "2026-11-23T10:00:00Z",
            "ends_at": "2026-11-23T18:00:00Z",
        },
    )
    _assert_problem(response, 422)
    assert await _counts(db) == before


async def test_unknown_ids_are_404(admin: Api) -> None:
    missing = uuid.uuid4()
    _assert_problem(await admin.get(f"/v1/calls/{missing}"), 404)
    _assert_problem(await admin.get(f"/v1/co-responders/{missing}"), 404)
    _assert_problem(await admin.get("/v1/districts/NOPE"), 404)


async def test_nul_in_text_is_422_and_writes_nothing(admin: Api, db: asyncpg.Connection) -> None:
    """PostgreSQL text cannot hold NUL: it must be refused as input, not fail as a 500."""
    await grid_districts(admin)
    before = await _counts(db)
    officer = {"state_officer_id": "P-1", "badge_number": "B\u00001", "name": "Officer"}
    _assert_problem(await admin.post("/v1/officers", officer), 422)
    _assert_problem(await admin.post("/v1/calls", {"district": "D1", "notes": "a\u0000b"}), 422)
    _assert_problem(await admin.get("/v1/certifications", params={"state_officer_id": "\x00"}), 422)
    assert await _counts(db) == before


async def test_a_value_of_the_wrong_shape_is_told_the_shape_in_words(admin: Api) -> None:
    # Not the regular expression: "String should match pattern '^[A-Za-z0-9][A-Za-z0-9_.-]…'".
    await grid_districts(admin)
    refusals = [
        (await admin.get("/v1/units", params={"district": "-bad"}), ["query", "district"]),
        (
            await admin.post(
                "/v1/officers", {"state_officer_id": "P-1", "badge_number": "B", "name": "\u0001"}
            ),
            ["body", "name"],
        ),
        (
            await admin.client.post(
                "/v1/calls",
                json={"district": "D1"},
                headers={**admin.headers, "Idempotency-Key": " k"},
            ),
            ["header", "Idempotency-Key"],
        ),
        (
            await admin.post(
                "/v1/officers", {"state_officer_id": "P-1", "badge_number": "B", "name": " \t "}
            ),
            ["body", "name"],
        ),
    ]
    words = [
        "Should be a district code: 1 to 32 ASCII letters, digits, '_', '.' or '-', the first"
        " a letter or digit",
        "Should be one line of text with at least one visible character, and no control characters",
        "Should be 1 to 255 printable ASCII characters, neither the first nor the last a space",
        "Should have at least one visible character, not only whitespace",
    ]
    for (response, loc), said in zip(refusals, words, strict=True):
        body = _assert_problem(response, 422)
        assert body["errors"] == [{"loc": loc, "msg": said}]
        assert "pattern" not in str(body["detail"])


async def test_names_codes_and_call_signs_are_one_line_with_something_to_see(
    admin: Api, db: asyncpg.Connection
) -> None:
    # A tab, a line break or an escape inside a name broke the consoles' one-line lists and
    # the CSV exports' rows; a zero-width space alone showed as an empty name.
    await grid_districts(admin)
    before = await _counts(db)
    officer = {"state_officer_id": "P-1", "badge_number": "B-1"}
    for name in (
        "Ann\nLee",
        "Ann\tLee",
        "Ann\u001b[2JLee",
        "Ann\u2028Lee",
        "Ann\u001e",  # a record separator, which Python's splitlines breaks at
        "\u001cAnn",
        "\u200b",
        "\u200e\u200f",
    ):
        body = _assert_problem(await admin.post("/v1/officers", {**officer, "name": name}), 422)
        assert body["errors"] == [
            {
                "loc": ["body", "name"],
                "msg": "Should be one line of text with at least one visible character, and"
                " no control characters",
            }
        ]
    refused = [
        await admin.post("/v1/calls", {"district": "D1", "nature": "\u200b\t"}),
        await admin.post("/v1/districts", {"code": "D9", "name": "North\u0007"}),
        await admin.post(
            "/v1/co-responders",
            {"name": "MCT\u0085A", "kind": "mobile_crisis_team", "provider": "County"},
        ),
    ]
    # The schema's maxLength holds for the value as sent, the whitespace the model trims
    # included.
    long_name = await admin.post("/v1/officers", {**officer, "name": "A" * 200 + "\n"})
    refused.append(long_name)
    for response in refused:
        _assert_problem(response, 422)
    assert await _counts(db) == before
    # Whitespace around a value is only trimmed, a line break included; text in any script,
    # with spaces of any kind inside, is a name.
    made = await admin.ok("POST", "/v1/officers", {**officer, "name": "\tŌtake\u00a0大輔\r\n"}, 201)
    assert made["name"] == "Ōtake\u00a0大輔"
    # A call's nature is taken onto one line, not refused: a call is never turned away for
    # how a CAD lays out a field.
    laid_out = {"district": "D1", "nature": " welfare\tcheck\r\n(caller's son)\u001e"}
    call = await admin.ok("POST", "/v1/calls", laid_out, 201)
    assert call["nature"] == "welfare check (caller's son)"
    # Free text keeps its lines: a dispatch's override reason, a call's notes.
    call = await admin.ok("POST", "/v1/calls", {"district": "D1", "notes": "one\ntwo"}, 201)
    assert (await admin.ok("GET", f"/v1/calls/{call['id']}"))["notes"] == "one\ntwo"


async def test_a_new_id_with_something_invisible_inside_or_in_full_width_is_422(
    admin: Api, db: asyncpg.Connection
) -> None:
    """A zero-width space or a direction mark inside a statewide id made a look-alike of an
    active officer's id, past "one active officer per state_officer_id" and the lookup of
    the person's certifications (security review); so for badges, certificate numbers and
    call signs, and for a new officer's id in full width. An id stored before is still
    matched as it is: the API takes it back (review)."""
    await grid_districts(admin)
    held = await admin.ok(
        "POST", "/v1/officers", {"state_officer_id": "IL-1", "badge_number": "7", "name": "A"}, 201
    )
    recorded = {
        "state_officer_id": "IL-1",
        "certification_number": "C-1",
        "program": "CIT 40h",
        "certified_on": "2026-01-05",
        "expires_on": "2028-01-05",
        "volunteered": True,
    }
    await admin.ok("POST", "/v1/certifications", recorded, 201)
    before = await _counts(db)
    words = (
        "Should be one line of text with at least one visible character, and no control or"
        " invisible characters (zero-width spaces and joiners, direction marks)"
    )
    for inside in ("IL-\u200b1", "IL\u200e-1", "\u2060IL-1", "IL-1\ufeff", "IL-1\U000e0041"):
        officer = {"state_officer_id": inside, "badge_number": "8", "name": "B"}
        problem = _assert_problem(await admin.post("/v1/officers", officer), 422)
        assert problem["errors"] == [{"loc": ["body", "state_officer_id"], "msg": words}]
        officer = {"state_officer_id": "IL-2", "badge_number": f"8{inside}", "name": "B"}
        response = await admin.post("/v1/officers", officer)
        _assert_problem(response, 422)
        assert response.json()["errors"][0]["loc"] == ["body", "badge_number"]
        cert = {**recorded, "certification_number": inside}
        response = await admin.post("/v1/certifications", cert)
        _assert_problem(response, 422)
        assert response.json()["errors"][0]["loc"] == ["body", "certification_number"]
        starts, ends = around_now()
        shift = {
            "responder_type": "officer",
            "responder_id": held["id"],
            "call_sign": inside,
            "district": "D1",
            "starts_at": starts,
            "ends_at": ends,
        }
        response = await admin.post("/v1/shifts", shift)
        _assert_problem(response, 422)
        assert response.json()["errors"][0]["loc"] == ["body", "call_sign"]
    assert await _counts(db) == before
    # Full width looks like IL-1 and would match as another: a new officer's is refused.
    wide = {"state_officer_id": "\uff29\uff2c-1", "badge_number": "9", "name": "C"}
    problem = _assert_problem(await admin.post("/v1/officers", wide), 422)
    assert problem["errors"] == [
        {
            "loc": ["body", "state_officer_id"],
            "msg": "Should be given in its plain form (Unicode NFKC: full-width letters and"
            " digits as ASCII, no ligatures)",
        }
    ]
    assert await _counts(db) == before
    # One stored so before is the id it is: its certifications are recorded and found.
    await db.execute(
        "UPDATE officer SET state_officer_id = $1 WHERE id = $2",
        "\uff29\uff2c-\u200b2",
        uuid.UUID(held["id"]),
    )
    stored = {**recorded, "state_officer_id": "\uff29\uff2c-\u200b2", "certification_number": "C-2"}
    await admin.ok("POST", "/v1/certifications", stored, 201)
    found = await admin.ok("GET", "/v1/certifications?state_officer_id=\uff29\uff2c-\u200b2")
    assert [c["certification_number"] for c in found["items"]] == ["C-2"]


def test_every_pattern_the_api_declares_has_words(admin: Api) -> None:
    found: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("pattern"), str):
                found.add(node["pattern"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(admin.app.openapi())
    assert found, "the OpenAPI document declares no pattern at all"
    assert sorted(found - set(PATTERN_WORDS)) == []


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        (
            "POST",
            "/v1/officers",
            {"state_officer_id": "P", "badge_number": "1", "name": "N", "active": 0},
        ),
        ("POST", "/v1/calls", {"location": {"lat": "40.78", "lon": -111.93}}),
        (
            "POST",
            "/v1/co-responders",
            {"name": "N", "kind": "clinician", "provider": "P", "active": "true"},
        ),
    ],
)
async def test_numbers_and_booleans_as_other_types_are_422(
    admin: Api, db: asyncpg.Connection, method: str, url: str, body: dict[str, object]
) -> None:
    """The schema says boolean or number: lax coercion of 0 or "40.78" would contradict it."""
    await grid_districts(admin)
    before = await _counts(db)
    _assert_problem(await admin.client.request(method, url, json=body, headers=admin.headers), 422)
    assert await _counts(db) == before


@pytest.mark.parametrize(
    "query",
    [
        "to=0.5",  # pydantic would read a number as Unix time; the schema says date-time text
        "at=1700000000",
        "at=0001-01-01T03:00:00Z",  # at minus a shift's length was an OverflowError, a 500
        "from=9999-12-31T23:00:00-05:00",
    ],
)
async def test_times_that_are_numbers_or_at_the_ends_of_the_calendar_are_422(
    admin: Api, query: str
) -> None:
    _assert_problem(await admin.get(f"/v1/shifts?{query}"), 422)


async def test_shift_times_as_numbers_are_422(admin: Api, db: asyncpg.Connection) -> None:
    await grid_districts(admin)
    officer_id = await add_officer(admin, district="D1", call_sign="1A1")
    before = await _counts(db)
    body = {
        "responder_type": "officer",
        "responder_id": officer_id,
        "call_sign": "X",
        "district": "D1",
        "starts_at": 1_800_000_000,
        "ends_at": "2027-01-15T12:00:00Z",
    }
    _assert_problem(await admin.post("/v1/shifts", body), 422)
    assert await _counts(db) == before


async def test_json_nested_too_deeply_is_the_422_problem(
    admin: Api, db: asyncpg.Connection
) -> None:
    """Python's JSON parser gives up at about 1,000 levels; FastAPI answered that with a 400."""
    await grid_districts(admin)
    before = await _counts(db)
    headers = {**admin.headers, "content-type": "application/json"}
    deep = "[" * 10_000 + "]" * 10_000
    for body in (deep, '{"district": "D1", "safety": ' + deep + "}"):
        response = await admin.client.post("/v1/calls", content=body, headers=headers)
        problem = _assert_problem(response, 422)
        assert problem["errors"] == [
            {"loc": ["body"], "msg": "The body's JSON is nested too deeply"}
        ]
    # An integer too long for Python to read is bad JSON, not bad UTF-8.
    body = '{"district": "D1", "subject": {"age": ' + "9" * 5000 + "}}"
    problem = _assert_problem(
        await admin.client.post("/v1/calls", content=body, headers=headers), 422
    )
    assert problem["errors"] == [{"loc": ["body"], "msg": "The body is not valid JSON"}]
    assert await _counts(db) == before


@pytest.mark.parametrize(
    ("path", "body", "name"),
    [
        ("/v1/calls", '{"district": "D1", "safety": {"weapon": true, "weapon": false}}', "weapon"),
        ("/v1/calls", '{"district": "D9", "district": "D1"}', "district"),
        ("/v1/calls", '{"district": "D1", "subject": {"age": 30, "age": 15}}', "age"),
        (
            "/v1/officers",
            '{"state_officer_id": "S-1", "badge_number": "1", "name": "A", "name": "B"}',
            "name",
        ),
    ],
)
async def test_a_name_given_twice_in_a_json_object_is_422_and_writes_nothing(
    admin: Api, db: asyncpg.Connection, path: str, body: str, name: str
) -> None:
    """JSON leaves a repeated name to the parser (RFC 8259 4), which kept the last: a CAD
    sending the weapon flag twice lost it. I-JSON (RFC 7493) forbids it; so does the service."""
    await grid_districts(admin)
    before = await _counts(db)
    headers = {**admin.headers, "content-type": "application/json"}
    problem = _assert_problem(await admin.client.post(path, content=body, headers=headers), 422)
    assert problem["errors"] == [
        {"loc": ["body"], "msg": f"The body's JSON gives the name '{name}' twice in one object"}
    ]
    assert await _counts(db) == before
    ok = '{"district": "D1", "safety": {"weapon": true}, "subject": {"age": 30}}'
    assert (await admin.client.post("/v1/calls", content=ok, headers=headers)).status_code == 201


async def test_a_long_name_given_twice_is_named_cut_short(admin: Api) -> None:
    name = "n" * 5000
    body = f'{{"{name}": 1, "{name}": 2}}'
    headers = {**admin.headers, "content-type": "application/json"}
    problem = _assert_problem(
        await admin.client.post("/v1/calls", content=body, headers=headers), 422
    )
    shown = "n" * 64 + "…"
    assert problem["errors"] == [
        {"loc": ["body"], "msg": f"The body's JSON gives the name '{shown}' twice in one object"}
    ]


async def test_a_name_the_client_chose_is_never_echoed_whole_in_an_error(admin: Api) -> None:
    """docs/api.md: the rejected value is never echoed whole. A policy's nature codes are
    keys the client writes; a bad one shows in the error's loc, cut, NUL replaced."""
    policy = await admin.ok("GET", "/v1/policy")
    secret = "SECRET\x00" + "V" * 1000
    response = await admin.put("/v1/policy", {**policy, "nature_flags": {secret: ["weapon"]}})
    assert response.status_code == 422
    assert "V" * 100 not in response.text
    assert "\\u0000" not in response.text
    assert "\x00" not in response.text
    shown = response.json()["errors"][0]["loc"][2]
    assert shown.startswith("SECRET\ufffdVVV")
    assert len(shown) == 65


async def test_every_route_that_takes_a_json_body_refuses_a_name_given_twice(
    admin: Api, db: asyncpg.Connection
) -> None:
    """Every route whose OpenAPI operation has a JSON body reads it as I-JSON (a router
    made without StrictJSONRoute would not), with a key whose role the route takes."""
    await grid_districts(admin)
    officer = await add_officer(admin, district="D1", call_sign="1A1")
    unit = await admin.with_role("unit", responder_id=uuid.UUID(officer))
    before = await _counts(db)
    operations = admin.app.openapi()["paths"]
    checked = []
    for template, methods in operations.items():
        for method, operation in methods.items():
            if "application/json" not in operation.get("requestBody", {}).get("content", {}):
                continue
            rule = ROUTES[(method.upper(), template)]
            caller = unit if rule.roles == {"unit"} else admin
            path = re.sub(r"\{[^}]+\}", officer, template)
            headers = {**caller.headers, "content-type": "application/json"}
            response = await caller.client.request(
                method.upper(), path, content='{"n": 1, "n": 2}', headers=headers
            )
            problem = _assert_problem(response, 422)
            assert problem["errors"] == [
                {"loc": ["body"], "msg": "The body's JSON gives the name 'n' twice in one object"}
            ], (method, template)
            checked.append((method, template))
    assert ("post", "/v1/calls") in checked
    assert ("post", "/v1/eido") in checked
    assert len(checked) >= 15
    assert await _counts(db) == before


async def test_validation_errors_are_capped_and_the_rest_counted(
    admin: Api, db: asyncpg.Connection
) -> None:
    # 3,000 unknown fields, each its own error: the answer was one entry per error, unbounded.
    body = {"code": "Z1", "name": "Z", **{f"field{i}": 0 for i in range(3000)}}
    before = await _counts(db)
    response = await admin.post("/v1/districts", body)
    problem = _assert_problem(response, 422)
    takes = "Unknown field: the body takes code, name, adjacent, boundary"
    assert problem["errors"] == [{"loc": ["body", f"field{i}"], "msg": takes} for i in range(50)]
    assert problem["errors_omitted"] == 2950
    assert len(response.content) < 10_000
    assert await _counts(db) == before
    # Under the cap, every error is listed and nothing is said to be left out.
    few = _assert_problem(
        await admin.post("/v1/districts", {"code": "Z1", "name": "Z", "x": 0}), 422
    )
    assert few["errors"] == [{"loc": ["body", "x"], "msg": takes}]
    assert "errors_omitted" not in few
    assert "more error" not in str(few["detail"])
    # Six errors: the detail names five and says one more is in errors.
    six = _assert_problem(
        await admin.post(
            "/v1/districts", {"code": "Z1", "name": "Z", **{f"x{i}": 0 for i in range(6)}}
        ),
        422,
    )
    listed = six["errors"]
    assert isinstance(listed, list)
    assert len(listed) == 6
    assert str(six["detail"]).endswith("(and 1 more error)")
    assert str(problem["detail"]).endswith("(and 2995 more errors)")


async def test_an_unknown_field_at_any_depth_lists_what_its_object_takes_and_what_it_meant(
    admin: Api, db: asyncpg.Connection
) -> None:
    """A misspelt safety flag was told pydantic's "Extra inputs are not permitted", which
    named neither the flags nor the one meant (an outside-in check): a console at 3 a.m.
    sending `safety.weapn` is told `weapon`. So is a field of any object in any body, a
    list's item and a union's member among them; nothing is written."""
    await grid_districts(admin)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    before = await _counts(db)

    async def told(method: str, url: str, body: dict[str, Any]) -> dict[str, str]:
        problem = _assert_problem(
            await admin.client.request(method, url, json=body, headers=admin.headers), 422
        )
        errors = problem["errors"]
        assert isinstance(errors, list)
        return {".".join(map(str, e["loc"])): e["msg"] for e in errors}

    flags = ", ".join(SAFETY_FLAGS)
    weapn = {"district": "D1", "safety": {"weapn": True}}
    assert await told("POST", "/v1/calls", weapn) == {
        "body.safety.weapn": f"Unknown field: safety takes {flags}; did you mean weapon?"
    }
    # A name like none of them is told what the object takes, and no guess.
    assert await told("POST", "/v1/calls", {"district": "D1", "location": {"x": 1}}) == {
        "body.location.x": "Unknown field: location takes lat, lon, address",
    }
    assert (await told("POST", "/v1/calls", {"district": "D1", "natrue": "MNTL"}))[
        "body.natrue"
    ].endswith(", received_at; did you mean nature?")
    # A call's PATCH: a flag nested in safety, and a field of the body, which says too.
    assert await told("PATCH", f"/v1/calls/{call['id']}", {"safety": {"violense": True}}) == {
        "body.safety.violense": f"Unknown field: safety takes {flags}; did you mean violence?"
    }
    assert (await told("PATCH", f"/v1/calls/{call['id']}", {"notse": "x"}))["body.notse"] == (
        "Unknown field: a call's PATCH takes safety, nature, district, location, notes,"
        " subject; did you mean notes?"
    )
    # An item of a list, told by its place; a member of a union, by its own fields.
    shift = {
        "responder_type": "officer",
        "responder_id": str(uuid.uuid4()),
        "call_sign": "A1",
        "district": "D1",
        "starts_at": "2026-12-01T07:00:00Z",
        "ends": "x",
    }
    bulk = await told("POST", "/v1/shifts/bulk", {"shifts": [shift]})
    assert bulk["body.shifts.0.ends"].startswith("Unknown field: shifts[0] takes responder_type")
    assert bulk["body.shifts.0.ends"].endswith("; did you mean ends_at?")
    square = [[0, 0], [1, 0], [1, 1], [0, 0]]
    boundary = {"type": "Polygon", "coordinates": [square], "bbox": [0, 0, 1, 1]}
    district = {"code": "Z1", "name": "Z", "boundary": boundary}
    assert await told("POST", "/v1/districts", district) == {
        "body.boundary.Polygon.bbox": "Unknown field: boundary.Polygon takes type, coordinates"
    }
    assert await _counts(db) == before


async def test_a_district_or_subscription_patch_says_where_a_field_it_does_not_take_is_set(
    admin: Api, db: asyncpg.Connection
) -> None:
    """A district's or a webhook subscription's GET sent back as its PATCH: c705173 told
    each of their fields the PATCH does not take (a district's code, a subscription's
    responder_id or secret) "Unknown field", which docs/api.md says of a field the object
    does not have. Each says where it is set, as a call's and the roster's PATCH do."""
    await grid_districts(admin)
    sub = await subscribe(admin, "https://127.0.0.1/hook", ["call.created"])
    before = await _counts(db)
    for url, shown in (
        ("/v1/districts/D1", await admin.ok("GET", "/v1/districts/D1")),
        (f"/v1/webhooks/{sub['id']}", sub),
    ):
        problem = _assert_problem(await admin.patch(url, shown), 422)
        errors = problem["errors"]
        assert isinstance(errors, list)
        assert errors
        told = {e["loc"][-1]: e["msg"] for e in errors}
        assert not any(m.startswith("Unknown field") for m in told.values()), told
    district = _assert_problem(await admin.patch("/v1/districts/D1", {"code": "D9"}), 422)
    assert district["errors"] == [
        {
            "loc": ["body", "code"],
            "msg": "Set when the district is made (POST /v1/districts), and names it in the"
            " path: a PATCH cannot change it",
        }
    ]
    terminal = _assert_problem(
        await admin.patch(f"/v1/webhooks/{sub['id']}", {"responder_id": str(uuid.uuid4())}), 422
    )
    assert "POST /v1/webhooks" in str(terminal["detail"])
    assert await _counts(db) == before


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity"])
async def test_a_boundary_altitude_that_is_not_finite_is_422(
    admin: Api, db: asyncpg.Connection, number: str
) -> None:
    # Python's JSON parser reads NaN and Infinity; PostgreSQL's JSON refused them, as a 500.
    ring = f"[[0, 0, {number}], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, {number}]]"
    body = (
        f'{{"code": "Z1", "name": "Z", "boundary": {{"type": "Polygon", "coordinates": [{ring}]}}}}'
    )
    headers = {**admin.headers, "content-type": "application/json"}
    before = await _counts(db)
    response = await admin.client.post("/v1/districts", content=body, headers=headers)
    _assert_problem(response, 422)
    assert await _counts(db) == before


async def test_a_boundary_mixing_positions_with_and_without_altitude_is_said_so(
    admin: Api, db: asyncpg.Connection
) -> None:
    """[lon, lat] beside [lon, lat, altitude] failed inside shapely, told as numpy's
    "inhomogeneous shape" (the fuzz found it); all of one kind is taken."""
    square = [[0.0, 0.0], [0.1, 0.0], [0.1, 0.1], [0.0, 0.1], [0.0, 0.0]]
    mixed = [square[0], [0.1, 0.0, 5.0], *square[2:]]
    before = await _counts(db)
    for coordinates in ([mixed], [square, [[0.02, 0.02, 1.0], *square[1:]]]):
        body = {
            "code": "Z1",
            "name": "Z",
            "boundary": {"type": "Polygon", "coordinates": coordinates},
        }
        response = await admin.post("/v1/districts", body)
        _assert_problem(response, 422)
        assert response.json()["errors"][0]["msg"] == (
            "every boundary position has 2 coordinates, or every one has 3"
        )
        assert response.json()["errors"][0]["loc"] == ["body", "boundary"]
    assert await _counts(db) == before
    high = [[*position, 1300.0] for position in square]
    body = {"code": "Z1", "name": "Z", "boundary": {"type": "Polygon", "coordinates": [high]}}
    assert (await admin.post("/v1/districts", body)).status_code == 201


async def test_nul_or_huge_numbers_in_any_query_parameter_are_never_a_500(admin: Api) -> None:
    """Every query parameter of every route in the OpenAPI document, with hostile values."""
    await grid_districts(admin)
    some_id = "00000000-0000-0000-0000-000000000000"
    document = (await admin.client.get("/openapi.json")).json()
    tried = 0
    for template, operations in document["paths"].items():
        path = re.sub(r"\{[^}]+\}", some_id, template)
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if parameter["in"] != "query":
                    continue
                for value in ("a\x00b", "\x00", "9" * 400, "1e309", "NaN"):
                    response = await admin.client.request(
                        method.upper(),
                        path,
                        params={parameter["name"]: value},
                        headers=admin.headers,
                        json={} if method in ("post", "put", "patch") else None,
                    )
                    assert response.status_code < 500, (method, template, parameter["name"])
                    tried += 1
    assert tried > 50


async def test_nul_or_junk_in_any_path_parameter_is_never_a_500(admin: Api) -> None:
    """Every path parameter of every route in the OpenAPI document, with hostile values."""
    await grid_districts(admin)
    document = (await admin.client.get("/openapi.json")).json()
    tried = 0
    for template, operations in document["paths"].items():
        if "{" not in template:
            continue
        for value in ("a\x00b", "\x00", "9" * 400, "%", "\xff", "urn:emergency:uid:x"):
            path = re.sub(r"\{[^}]+\}", quote(value, safe=""), template)
            for method in operations:
                response = await admin.client.request(
                    method.upper(),
                    path,
                    headers=admin.headers,
                    json={} if method in ("post", "put", "patch") else None,
                )
                assert response.status_code < 500, (method, template, value)
                tried += 1
    assert tried > 100


async def test_a_body_not_sent_as_json_is_a_415_saying_so(
    admin: Api, db: asyncpg.Connection
) -> None:
    # `curl -d` without -H sends its form encoding: that was a 422 about the body's shape.
    await admin.ok("POST", "/v1/districts", {"code": "D1", "name": "x"}, 201)
    body = b'{"district": "D1"}'
    for content_type in ("application/x-www-form-urlencoded", "text/plain", "application/xml", ""):
        # "" sends none: FastAPI would not read the body as JSON either.
        headers = {**admin.headers, **({"Content-Type": content_type} if content_type else {})}
        response = await admin.client.post("/v1/calls", content=body, headers=headers)
        problem = _assert_problem(response, 415)
        assert "application/json" in str(problem["detail"])
        assert response.headers["accept-post"] == "application/json"
    assert await db.fetchval("SELECT count(*) FROM call") == 0
    plain = {**admin.headers, "Content-Type": "text/plain"}
    patched = await admin.client.patch("/v1/districts/D1", content=b"{}", headers=plain)
    _assert_problem(patched, 415)
    assert (patched.headers["accept-patch"], "accept-post" in patched.headers) == (
        "application/json",
        False,
    )
    # JSON under its own names is read as JSON, a parameter or a +json suffix included.
    for content_type in ("application/json; charset=utf-8", "Application/JSON"):
        headers = {**admin.headers, "Content-Type": content_type}
        response = await admin.client.post("/v1/calls", content=body, headers=headers)
        assert response.status_code == 201, content_type
    # A route that takes no body, or a body-less request, is not asked for a Content-Type.
    assert (await admin.client.get("/v1/calls", headers=plain)).status_code == 200


async def test_a_415_names_the_media_types_its_route_takes_as_the_document_does(
    admin: Api,
) -> None:
    """POST /v1/eido takes EIDO's own media type beside JSON, and its document lists both;
    its 415 said `Accept-Post: application/json` alone, and the document declared no
    Accept-Post (nor Accept-Patch) on any 415."""
    await grid_districts(admin)
    document = (await admin.client.get("/openapi.json")).json()
    plain = {**admin.headers, "Content-Type": "text/plain"}
    walked = 0
    for template, operations in document["paths"].items():
        for method, operation in operations.items():
            if method not in ("post", "patch") or "requestBody" not in operation:
                continue
            path = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), template)
            refused = await admin.client.request(method, path, content=b"{}", headers=plain)
            problem = _assert_problem(refused, 415)
            header = f"Accept-{method.capitalize()}"
            taken = list(operation["requestBody"]["content"])
            assert refused.headers[header].split(", ") == taken, (method, template)
            assert " or ".join(taken) in str(problem["detail"]), (method, template)
            declared = operation["responses"]["415"]["headers"][header]["description"]
            assert f"`{', '.join(taken)}`" in declared, (method, template)
            walked += 1
    assert walked > 20
    eido = document["paths"]["/v1/eido"]["post"]["requestBody"]["content"]
    assert set(eido) == {"application/json", "application/emergencyCallData.eido+json"}
    # Each type the 415 names is taken.
    for content_type in eido:
        sent = json.dumps(eido_document(incident_id(), beat="D1"))
        headers = {**admin.headers, "Content-Type": content_type}
        taken_in = await admin.client.post("/v1/eido", content=sent, headers=headers)
        assert taken_in.status_code == 201, (content_type, taken_in.text)


async def test_a_route_that_takes_no_body_documents_no_415_and_answers_none(
    admin: Api,
) -> None:
    """POST /v1/stream/tickets takes no body, so a body in any media type is ignored; the
    document listed a 415 for it (problems() adds one beside a 413, which it does answer
    for a body over the limit)."""
    document = (await admin.client.get("/openapi.json")).json()
    bodiless = {
        (method, path)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if method in ("post", "put", "patch") and "requestBody" not in operation
    }
    assert ("post", "/v1/stream/tickets") in bodiless
    for method, path in bodiless:
        assert "415" not in document["paths"][path][method]["responses"], (method, path)
    plain = {**admin.headers, "Content-Type": "text/plain"}
    issued = await admin.client.post("/v1/stream/tickets", content=b"hello", headers=plain)
    assert issued.status_code == 201, issued.text


async def test_a_body_in_a_content_coding_is_a_415_and_changes_nothing(
    admin: Api, db: asyncpg.Connection
) -> None:
    """A gzip body was read as JSON (a 422 saying it is not UTF-8), and a JSON body
    labelled br was taken as if it were not."""
    await admin.ok("POST", "/v1/districts", {"code": "D1", "name": "x"}, 201)
    body = b'{"district": "D1"}'
    for coded, coding in ((gzip.compress(body), "gzip"), (body, "br"), (body, "identity, gzip")):
        headers = {**admin.headers, "Content-Type": "application/json", "Content-Encoding": coding}
        response = await admin.client.post("/v1/calls", content=coded, headers=headers)
        problem = _assert_problem(response, 415)
        assert "Content-Encoding" in str(problem["detail"])
        assert response.headers["accept-encoding"] == "identity"
    # A second header line counts too (only the first was read).
    two_lines = [
        *admin.headers.items(),
        ("Content-Type", "application/json"),
        ("Content-Encoding", "identity"),
        ("Content-Encoding", "br"),
    ]
    response = await admin.client.post("/v1/calls", content=body, headers=two_lines)
    _assert_problem(response, 415)
    assert await db.fetchval("SELECT count(*) FROM call") == 0
    # identity is no coding at all.
    headers = {**admin.headers, "Content-Type": "application/json", "Content-Encoding": "identity"}
    response = await admin.client.post("/v1/calls", content=body, headers=headers)
    assert response.status_code == 201, response.text


async def test_a_districts_own_mistakes_name_the_field_they_are_in(
    admin: Api, db: asyncpg.Connection
) -> None:
    """A boundary that is no area, a district next to itself and the reserved code were
    told at the body (`["body"]`), where an overlapping boundary names `boundary` (the
    admin's check)."""
    bow_tie = [[[0.0, 0.0], [0.1, 0.1], [0.1, 0.0], [0.0, 0.1], [0.0, 0.0]]]
    open_ring = [[[0.0, 0.0], [0.1, 0.0], [0.1, 0.1], [0.0, 0.1]]]
    before = await _counts(db)
    for body, loc in (
        ({"boundary": {"type": "Polygon", "coordinates": bow_tie}}, "boundary"),
        ({"boundary": {"type": "Polygon", "coordinates": open_ring}}, "boundary"),
        ({"adjacent": ["Z1"]}, "adjacent"),
        ({"code": "locate"}, "code"),
    ):
        response = await admin.post("/v1/districts", {"code": "Z1", "name": "Z", **body})
        _assert_problem(response, 422)
        assert [e["loc"] for e in response.json()["errors"]] == [["body", loc]], response.text
    assert await _counts(db) == before
    # A change is told alike.
    square = [[[0.0, 0.0], [0.1, 0.0], [0.1, 0.1], [0.0, 0.1], [0.0, 0.0]]]
    made = {"code": "Z2", "name": "Z", "boundary": {"type": "Polygon", "coordinates": square}}
    await admin.ok("POST", "/v1/districts", made, 201)
    change = {"boundary": {"type": "Polygon", "coordinates": bow_tie}}
    patched = await admin.patch("/v1/districts/Z2", change)
    _assert_problem(patched, 422)
    assert [e["loc"] for e in patched.json()["errors"]] == [["body", "boundary"]]
    assert (await admin.ok("GET", "/v1/districts/Z2"))["boundary"] == made["boundary"]


async def test_a_day_not_in_the_calendar_is_told_so(admin: Api, db: asyncpg.Connection) -> None:
    """30 February was told "Input should be a valid date or datetime", though a
    date-time is refused there (the admin's check)."""
    officer = {"state_officer_id": "UT-9", "badge_number": "9", "name": "Nine"}
    await admin.ok("POST", "/v1/officers", officer, 201)
    body = {
        "state_officer_id": "UT-9",
        "certification_number": "C-9",
        "program": "State CIT 40h",
        "certified_on": "2024-02-30",
        "expires_on": "2026-02-01",
        "volunteered": True,
    }
    response = await admin.post("/v1/certifications", body)
    _assert_problem(response, 422)
    [error] = response.json()["errors"]
    assert error["loc"] == ["body", "certified_on"]
    assert error["msg"] == (
        "Input should be a date of the calendar (2024-02-30: day is out of range for month)"
    )
    assert await db.fetchval("SELECT count(*) FROM certification") == 0
