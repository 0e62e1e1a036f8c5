"""Idempotency-Key on POST /v1/calls and …/dispatch: CAD retries never duplicate."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import asyncpg
from fastapi import FastAPI

from app.schemas.calls import CallCreate
from app.schemas.dispatch import DispatchRequest
from app.services import idempotency
from tests.helpers import Api, add_co_responder, add_officer, grid_districts


def _key(api: Api, key: str) -> dict[str, str]:
    return {**api.headers, "Idempotency-Key": key}


async def test_same_key_and_body_replays_the_first_answer(
    admin: Api, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    body = {"district": "D1", "external_id": "CAD-7"}
    first = await admin.client.post("/v1/calls", json=body, headers=_key(admin, "k-1"))
    again = await admin.client.post("/v1/calls", json=body, headers=_key(admin, "k-1"))
    assert first.status_code == 201
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert await db.fetchval("SELECT count(*) FROM call") == 1


async def test_same_key_with_a_different_body_is_422(admin: Api, db: asyncpg.Connection) -> None:
    await grid_districts(admin)
    await admin.client.post("/v1/calls", json={"district": "D1"}, headers=_key(admin, "k-2"))
    other = await admin.client.post(
        "/v1/calls", json={"district": "D2"}, headers=_key(admin, "k-2")
    )
    assert other.status_code == 422
    assert other.json()["errors"][0]["loc"] == ["header", "Idempotency-Key"]
    assert await db.fetchval("SELECT count(*) FROM call") == 1


async def test_a_retry_storm_creates_exactly_one_call(admin: Api, db: asyncpg.Connection) -> None:
    await grid_districts(admin)
    body = {"district": "D1", "nature": "MNTL"}
    responses = await asyncio.gather(
        *(
            admin.client.post("/v1/calls", json=body, headers=_key(admin, "storm"))
            for _ in range(20)
        )
    )
    codes = [r.status_code for r in responses]
    assert set(codes) <= {201, 409}
    assert codes.count(201) >= 1
    assert len({r.json()["id"] for r in responses if r.status_code == 201}) == 1
    in_flight = [r for r in responses if r.status_code == 409]
    assert all("still being processed" in r.json()["detail"] for r in in_flight)
    # A CAD's retry loop tells them by their type, and waits as told.
    assert all(r.json()["type"].endswith("/request-in-progress") for r in in_flight)
    assert all(r.headers["retry-after"] == "1" for r in in_flight)
    assert await db.fetchval("SELECT count(*) FROM call") == 1


async def test_a_failed_request_frees_its_key(admin: Api, db: asyncpg.Connection) -> None:
    await grid_districts(admin)
    bad = await admin.client.post("/v1/calls", json={"district": "D9"}, headers=_key(admin, "k-3"))
    assert bad.status_code == 422
    assert await db.fetchval("SELECT count(*) FROM idempotency_record") == 0
    good = await admin.client.post("/v1/calls", json={"district": "D1"}, headers=_key(admin, "k-3"))
    assert good.status_code == 201


async def test_keys_are_scoped_to_the_agency(admin: Api, other_admin: Api) -> None:
    await grid_districts(admin)
    await grid_districts(other_admin)
    mine = await admin.client.post("/v1/calls", json={"district": "D1"}, headers=_key(admin, "s"))
    theirs = await other_admin.client.post(
        "/v1/calls", json={"district": "D1"}, headers=_key(other_admin, "s")
    )
    assert mine.status_code == 201
    assert theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]


async def test_dispatch_retry_replays_and_assigns_once(admin: Api, db: asyncpg.Connection) -> None:
    await grid_districts(admin)
    await add_co_responder(admin, district="D1", call_sign="MCT-1")
    await add_officer(admin, district="D1", call_sign="1A1", cit=True)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    url = f"/v1/calls/{call['id']}/dispatch"
    first = await admin.client.post(url, headers=_key(admin, "d-1"))
    again = await admin.client.post(url, headers=_key(admin, "d-1"))
    assert first.status_code == 200
    assert again.status_code == 200
    assert again.json() == first.json()
    assert await db.fetchval("SELECT count(*) FROM assignment") == 2
    # Without the key, a second dispatch is a new attempt: nothing is left to assign.
    assert (await admin.post(url)).status_code == 409


async def test_a_dispatch_key_reused_for_another_request_is_422_and_assigns_nothing(
    admin: Api, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    await add_co_responder(admin, district="D1", call_sign="MCT-1")
    officer = await add_officer(admin, district="D1", call_sign="1A1", cit=True)
    first = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    second = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    dispatch = f"/v1/calls/{first['id']}/dispatch"
    assert (await admin.client.post(dispatch, headers=_key(admin, "d-2"))).status_code == 200
    # Another body, another call, or intake, under the key of that dispatch.
    officer_only = {
        "units": [{"responder_type": "officer", "responder_id": officer, "role": "lead"}],
        "override_reason": "closer",
    }
    for path, body in (
        (dispatch, officer_only),
        (f"/v1/calls/{second['id']}/dispatch", None),
        ("/v1/calls", {"district": "D1"}),
    ):
        reused = await admin.client.post(path, json=body, headers=_key(admin, "d-2"))
        assert reused.status_code == 422, (path, reused.text)
        assert reused.json()["errors"][0]["loc"] == ["header", "Idempotency-Key"]
    assert await db.fetchval("SELECT count(*) FROM assignment") == 2
    assert await db.fetchval("SELECT count(*) FROM call") == 2
    second_now = await admin.ok("GET", f"/v1/calls/{second['id']}")
    assert second_now["status"] == "pending"


async def test_a_claim_left_by_a_request_that_died_is_taken_over_after_60_s(
    admin: Api, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    await add_co_responder(admin, district="D1", call_sign="MCT-1")
    await add_officer(admin, district="D1", call_sign="1A1", cit=True)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    path = f"/v1/calls/{call['id']}/dispatch"
    # What a dispatch that died after claiming its key leaves: the claim, no answer.
    print_ = idempotency.fingerprint("POST", path, DispatchRequest())
    await db.execute(
        "INSERT INTO idempotency_record (agency_id, key, fingerprint, created_at, expires_at)"
        " VALUES ($1, 'died', $2, now(), now() + interval '1 day')",
        admin.agency_id,
        print_,
    )
    waiting = await admin.client.post(path, headers=_key(admin, "died"))
    assert waiting.status_code == 409
    assert "still being processed" in waiting.json()["detail"]
    assert waiting.json()["type"] == "https://cit-dispatch.dev/problems/request-in-progress"
    assert waiting.headers["retry-after"] == "1"
    assert await db.fetchval("SELECT count(*) FROM assignment") == 0
    await db.execute(
        "UPDATE idempotency_record SET created_at = now() - interval '61 seconds'"
        " WHERE key = 'died'"
    )
    taken_over = await admin.client.post(path, headers=_key(admin, "died"))
    assert taken_over.status_code == 200, taken_over.text
    assert await db.fetchval("SELECT count(*) FROM assignment") == 2
    replayed = await admin.client.post(path, headers=_key(admin, "died"))
    assert replayed.headers["idempotent-replayed"] == "true"
    assert replayed.json() == taken_over.json()


async def test_expired_keys_are_cleaned_up_and_kept_a_day(
    app: FastAPI, admin: Api, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    await admin.client.post("/v1/calls", json={"district": "D1"}, headers=_key(admin, "old"))
    await admin.client.post("/v1/calls", json={"district": "D1"}, headers=_key(admin, "new"))
    await db.execute(
        "UPDATE idempotency_record SET expires_at = now() - interval '1 minute' WHERE key = 'old'"
    )
    assert await idempotency.expire(app.state.cit) == 1
    assert await db.fetchval("SELECT array_agg(key) FROM idempotency_record") == ["new"]
    kept = await db.fetchval("SELECT expires_at - created_at FROM idempotency_record")
    assert kept.total_seconds() >= 24 * 3600


async def test_malformed_key_is_422(admin: Api) -> None:
    await grid_districts(admin)
    response = await admin.client.post(
        "/v1/calls", json={"district": "D1"}, headers=_key(admin, "x" * 300)
    )
    assert response.status_code == 422


async def test_documented_key_pattern_is_exactly_what_is_accepted(admin: Api) -> None:
    """A key the schema calls valid is never a 422, and one it calls invalid always is."""
    await grid_districts(admin)
    schema = (await admin.client.get("/openapi.json")).json()
    parameters = schema["paths"]["/v1/calls"]["post"]["parameters"]
    key_schema = next(p for p in parameters if p["name"] == "Idempotency-Key")["schema"]
    pattern = re.compile(next(s for s in key_schema["anyOf"] if "pattern" in s)["pattern"])
    for key in ("k", "a b", "~" * 255, "x" * 256, "", "caf\u00e9", "tab\there"):
        headers = [(k.encode(), v.encode()) for k, v in admin.headers.items()]
        headers.append((b"Idempotency-Key", key.encode("latin-1")))
        response = await admin.client.post("/v1/calls", json={"district": "D1"}, headers=headers)
        assert response.status_code == (201 if pattern.match(key) else 422), repr(key)


def _replay_declared(document: dict[str, Any], method: str, path: str) -> set[str]:
    """The statuses of the operation whose answers the document says may be replays."""
    responses = document["paths"][path][method]["responses"]
    return {s for s, r in responses.items() if "Idempotent-Replayed" in r.get("headers", {})}


async def test_the_document_declares_idempotent_replayed_on_exactly_the_answers_replayed(
    admin: Api,
) -> None:
    """A replay answers the first request's status: intake's 201, a dispatch's 200 or its
    409 with units unavailable. The document declared the header on every status of the
    two routes, intake's 409 (never a replay: a call-exists or request-in-progress) and
    their 401, 403, 413, 415 and 422 included."""
    await grid_districts(admin)
    await add_co_responder(admin, district="D1", call_sign="MCT-1")
    await add_officer(admin, district="D1", call_sign="1A1", cit=True)
    replayed: dict[str, set[str]] = {"/v1/calls": set(), "/v1/calls/{call_id}/dispatch": set()}
    for _ in range(2):
        created = await admin.client.post(
            "/v1/calls", json={"district": "D1"}, headers=_key(admin, "r-call")
        )
        if created.headers.get("idempotent-replayed") == "true":
            replayed["/v1/calls"].add(str(created.status_code))
    first = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    second = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    for call, key in ((first, "r-sent"), (second, "r-none-left")):
        for _ in range(2):
            answer = await admin.client.post(
                f"/v1/calls/{call['id']}/dispatch", headers=_key(admin, key)
            )
            if answer.headers.get("idempotent-replayed") == "true":
                replayed["/v1/calls/{call_id}/dispatch"].add(str(answer.status_code))
    assert replayed == {"/v1/calls": {"201"}, "/v1/calls/{call_id}/dispatch": {"200", "409"}}
    document = (await admin.client.get("/openapi.json")).json()
    for path, statuses in replayed.items():
        assert _replay_declared(document, "post", path) == statuses, path


async def test_the_409s_retry_after_says_it_comes_only_with_request_in_progress(
    admin: Api, db: asyncpg.Connection
) -> None:
    """Of a keyed route's 409s, only …/request-in-progress carries Retry-After (a call
    whose external_id is taken carries none); the document's Retry-After on those 409s
    said only "Seconds to wait before trying again", as if every 409 had it."""
    await grid_districts(admin)
    await admin.ok("POST", "/v1/calls", {"district": "D1", "external_id": "CAD-1"}, 201)
    exists = await admin.client.post(
        "/v1/calls", json={"district": "D1", "external_id": "CAD-1"}, headers=_key(admin, "e")
    )
    assert exists.status_code == 409
    assert "retry-after" not in exists.headers
    body = CallCreate.model_validate({"district": "D1"})
    await db.execute(
        "INSERT INTO idempotency_record (agency_id, key, fingerprint, created_at, expires_at)"
        " VALUES ($1, 'held', $2, now(), now() + interval '1 day')",
        admin.agency_id,
        idempotency.fingerprint("POST", "/v1/calls", body),
    )
    held = await admin.client.post(
        "/v1/calls", json={"district": "D1"}, headers=_key(admin, "held")
    )
    assert held.status_code == 409
    in_progress = held.json()["type"].rsplit("/", 1)[1]
    assert in_progress == "request-in-progress"
    assert held.headers["retry-after"] == "1"
    document = (await admin.client.get("/openapi.json")).json()
    for path in ("/v1/calls", "/v1/calls/{call_id}/dispatch"):
        header = document["paths"][path]["post"]["responses"]["409"]["headers"]["Retry-After"]
        assert f"only with the 409 of type `…/{in_progress}`" in header["description"], path
