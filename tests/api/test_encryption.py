"""Call notes and webhook secrets at rest: ciphertext in the database, plaintext in the API."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import asyncpg
import httpx
from pydantic import SecretStr
from standardwebhooks import Webhook

from app.api.app import create_app
from app.encryption import DataCipher, generate_key
from app.settings import Settings
from tests.eido.documents import document, incident_id, later
from tests.helpers import (
    Api,
    add_co_responder,
    add_officer,
    grid_districts,
    until_delivery_failed,
)
from tests.receiver import Receiver

Running = Callable[..., AbstractAsyncContextManager[Api]]


def _prefix(keys: str) -> str:
    """What every value encrypted under the first of keys starts with."""
    return DataCipher.from_setting(keys).current_prefix


async def _stored_notes(db: asyncpg.Connection, call_id: str) -> str | None:
    value: str | None = await db.fetchval("SELECT notes FROM call WHERE id = $1::uuid", call_id)
    return value


def _rekey(database_url: str, keys: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CIT_")}
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "rekey"],
        capture_output=True,
        text=True,
        env={**clean, "CIT_DATABASE_URL": database_url, "CIT_DATA_KEY": keys},
        timeout=120,
        check=False,
    )


def _runner(admin: Api, database_url: str, settings: Settings) -> Running:
    """Run another instance of the service, with other keys, acting as the same admin."""

    @asynccontextmanager
    async def run(keys: str, **overrides: Any) -> AsyncIterator[Api]:
        app = create_app(
            settings.model_copy(update={"data_key": SecretStr(keys), **overrides}), database_url
        )
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                yield Api(client, admin.key, admin.agency_id, app)

    return run


async def test_notes_are_ciphertext_in_the_database_after_create_patch_and_clear(
    admin: Api, db: asyncpg.Connection, settings: Settings
) -> None:
    assert settings.data_key is not None
    prefix = _prefix(settings.data_key.get_secret_value())
    await grid_districts(admin)
    await add_co_responder(admin, district="D1", call_sign="MCT-1")
    await add_officer(admin, district="D1", call_sign="1A1", cit=True)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1", "notes": "hears voices"}, 201)
    created = await _stored_notes(db, call["id"])
    assert created is not None
    assert created.startswith(prefix)
    assert "voices" not in created
    assert (await admin.ok("GET", f"/v1/calls/{call['id']}"))["notes"] == "hears voices"

    await admin.ok("PATCH", f"/v1/calls/{call['id']}", {"notes": "has a brother nearby"})
    patched = await _stored_notes(db, call["id"])
    assert patched is not None
    assert patched.startswith(prefix)
    assert "brother" not in patched
    assert (await admin.ok("GET", f"/v1/calls/{call['id']}"))["notes"] == "has a brother nearby"

    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
    await admin.ok(
        "POST", f"/v1/calls/{call['id']}/clear", {"disposition": "resolved", "notes": "calm now"}
    )
    cleared = await _stored_notes(db, call["id"])
    assert cleared is not None
    assert cleared.startswith(prefix)
    assert "calm" not in cleared
    assert "brother" not in cleared
    detail = await admin.ok("GET", f"/v1/calls/{call['id']}")
    assert detail["notes"] == "has a brother nearby\ncalm now"


async def test_call_without_notes_stores_null(admin: Api, db: asyncpg.Connection) -> None:
    await grid_districts(admin)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    assert await _stored_notes(db, call["id"]) is None
    assert (await admin.ok("GET", f"/v1/calls/{call['id']}"))["notes"] is None


async def test_legacy_plaintext_notes_stay_readable_and_clear_appends_to_them(
    admin: Api, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    await db.execute(
        "UPDATE call SET notes = 'from before encryption' WHERE id = $1::uuid", call["id"]
    )
    assert (await admin.ok("GET", f"/v1/calls/{call['id']}"))["notes"] == "from before encryption"
    await admin.ok("POST", f"/v1/calls/{call['id']}/clear", {"disposition": "x", "notes": "done"})
    stored = await _stored_notes(db, call["id"])
    assert stored is not None
    assert stored.startswith("enc:v1:")
    detail = await admin.ok("GET", f"/v1/calls/{call['id']}")
    assert detail["notes"] == "from before encryption\ndone"


async def test_tampered_or_moved_notes_are_an_error_never_garbage_or_another_calls_notes(
    admin: Api, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    first = await admin.ok("POST", "/v1/calls", {"district": "D1", "notes": "first call"}, 201)
    second = await admin.ok("POST", "/v1/calls", {"district": "D1", "notes": "second"}, 201)
    await db.execute(
        "UPDATE call SET notes = (SELECT notes FROM call WHERE id = $1::uuid) WHERE id = $2::uuid",
        first["id"],
        second["id"],
    )
    moved = await admin.get(f"/v1/calls/{second['id']}")
    assert moved.status_code == 500
    assert "first call" not in moved.text
    stored = await _stored_notes(db, first["id"])
    assert stored is not None
    tampered = stored[:-8] + ("A" if stored[-8] != "A" else "B") + stored[-7:]
    await db.execute("UPDATE call SET notes = $1 WHERE id = $2::uuid", tampered, first["id"])
    broken = await admin.get(f"/v1/calls/{first['id']}")
    assert broken.status_code == 500
    assert broken.headers["content-type"] == "application/problem+json"
    # Lists never decrypt notes, so one damaged row does not take the list down.
    assert (await admin.get("/v1/calls")).status_code == 200
    # Nor does it stop new information: a weapon flagged on such a call is taken (it was a
    # 500 once the answer gave the call's ETag, a digest of its notes: review), without an
    # ETag; one sent with If-Match cannot be checked against notes no key reads: a 412.
    path = f"/v1/calls/{first['id']}"
    flagged = await admin.client.patch(
        path, json={"safety": {"weapon": True}}, headers=admin.headers
    )
    assert flagged.status_code == 200, flagged.text
    assert flagged.json()["recommendation"]["safety_concern"] is True
    assert "ETag" not in flagged.headers
    assert (await admin.client.patch(path, json={}, headers=admin.headers)).status_code == 200
    guarded = await admin.client.patch(
        path, json={"nature": "WEAPON"}, headers={**admin.headers, "If-Match": '"x"'}
    )
    assert guarded.status_code == 412
    assert "its notes cannot be decrypted" in guarded.json()["detail"]
    # "*" matches any call that is (RFC 9110 §13.1.1), this one too (review).
    anyhow = await admin.client.patch(
        path, json={"nature": "WEAPON"}, headers={**admin.headers, "If-Match": "*"}
    )
    assert anyhow.status_code == 200, anyhow.text


async def test_a_unit_on_a_call_whose_notes_no_key_reads_still_sees_its_call(
    admin: Api, db: asyncpg.Connection
) -> None:
    """Its terminal's view gives the cautions the notes tell: notes no key decrypts do not
    take the unit's call from it, and it is told what it cannot be shown."""
    await grid_districts(admin)
    co = await add_co_responder(admin, district="D1", call_sign="MCT-1")
    terminal = await admin.with_role("unit", responder_id=co)  # type: ignore[arg-type]
    first = await admin.ok("POST", "/v1/calls", {"district": "D1", "notes": "dog in yard"}, 201)
    await admin.ok("POST", f"/v1/calls/{first['id']}/dispatch")
    assert (await terminal.ok("GET", "/v1/units/me"))["cautions"] == []
    stored = await _stored_notes(db, first["id"])
    assert stored is not None
    tampered = stored[:-8] + ("A" if stored[-8] != "A" else "B") + stored[-7:]
    await db.execute("UPDATE call SET notes = $1 WHERE id = $2::uuid", tampered, first["id"])

    me = await terminal.ok("GET", "/v1/units/me")

    assert me["call"]["id"] == first["id"]
    (told,) = me["cautions"]
    assert "cannot be shown (the call's notes cannot be decrypted here)" in told


async def test_webhook_secret_is_ciphertext_at_rest_and_deliveries_verify_with_the_shown_one(
    admin: Api,
    db: asyncpg.Connection,
    database_url: str,
    settings: Settings,
    receiver: Receiver,
) -> None:
    assert settings.data_key is not None
    keys = settings.data_key.get_secret_value()
    await grid_districts(admin)
    sub = await admin.ok(
        "POST", "/v1/webhooks", {"url": receiver.url, "events": ["call.created"]}, 201
    )
    stored = await db.fetchval(
        "SELECT secret FROM webhook_subscription WHERE id = $1::uuid", sub["id"]
    )
    assert stored.startswith(_prefix(keys))
    assert sub["secret"] not in stored
    assert sub["secret"].removeprefix("whsec_") not in stored
    async with _runner(admin, database_url, settings)(keys, run_relay=True) as api:
        await api.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        got = await receiver.wait_for(1)
    payload = Webhook(sub["secret"]).verify(got[0].body, got[0].headers)
    assert payload["type"] == "call.created"


async def test_undecryptable_webhook_secret_fails_the_delivery_with_a_clear_error(
    admin: Api,
    db: asyncpg.Connection,
    database_url: str,
    settings: Settings,
    receiver: Receiver,
) -> None:
    await grid_districts(admin)
    sub = await admin.ok(
        "POST", "/v1/webhooks", {"url": receiver.url, "events": ["call.created"]}, 201
    )
    # Written under a key this service does not have.
    other = DataCipher.from_setting(generate_key())
    foreign = other.encrypt("whsec_AAAA", column="webhook_subscription.secret", row_id=sub["id"])
    await db.execute(
        "UPDATE webhook_subscription SET secret = $1 WHERE id = $2::uuid", foreign, sub["id"]
    )
    assert settings.data_key is not None
    keys = settings.data_key.get_secret_value()
    async with _runner(admin, database_url, settings)(keys, run_relay=True) as api:
        await api.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        await until_delivery_failed(db)
    row = await db.fetchrow("SELECT status, attempts, last_error FROM webhook_delivery")
    assert row["status"] == "failed"
    assert "CIT_DATA_KEY" in row["last_error"]
    assert receiver.requests == []


async def test_rotation_keeps_old_rows_readable_and_rekey_lets_the_old_key_go(
    admin: Api,
    db: asyncpg.Connection,
    database_url: str,
    settings: Settings,
    receiver: Receiver,
) -> None:
    assert settings.data_key is not None
    old = settings.data_key.get_secret_value()
    new = generate_key()
    run = _runner(admin, database_url, settings)
    await grid_districts(admin)
    # Written under the old key, and one legacy plaintext row of each column.
    under_old = await admin.ok("POST", "/v1/calls", {"district": "D1", "notes": "old"}, 201)
    legacy = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    await db.execute("UPDATE call SET notes = 'plain' WHERE id = $1::uuid", legacy["id"])
    sub = await admin.ok(
        "POST", "/v1/webhooks", {"url": receiver.url, "events": ["call.created"]}, 201
    )
    # Rotated: the secret it replaced, still signing beside the new one, is encrypted too.
    rotated = await admin.ok("POST", f"/v1/webhooks/{sub['id']}/secret")
    plain_sub = await admin.ok(
        "POST", "/v1/webhooks", {"url": receiver.url, "events": ["call.created"]}, 201
    )
    await db.execute(
        "UPDATE webhook_subscription SET secret = $1 WHERE id = $2::uuid",
        plain_sub["secret"],
        plain_sub["id"],
    )

    # The new key is prepended: old rows read, new writes use the new key.
    async with run(f"{new},{old}") as api:
        assert (await api.ok("GET", f"/v1/calls/{under_old['id']}"))["notes"] == "old"
        under_new = await api.ok("POST", "/v1/calls", {"district": "D1", "notes": "new"}, 201)
    assert (await _stored_notes(db, under_new["id"]) or "").startswith(_prefix(new))
    assert (await _stored_notes(db, under_old["id"]) or "").startswith(_prefix(old))

    done = _rekey(database_url, f"{new},{old}")
    assert done.returncode == 0, done.stderr
    counts = json.loads(done.stdout)["rekeyed"]
    assert counts == {
        "call.notes": 2,
        "call.eido_notes_digest": 0,
        "webhook_subscription.secret": 2,
        "webhook_subscription.previous_secret": 1,
    }
    notes = [r["notes"] for r in await db.fetch("SELECT notes FROM call WHERE notes IS NOT NULL")]
    secrets = [
        secret
        for r in await db.fetch("SELECT secret, previous_secret FROM webhook_subscription")
        for secret in (r["secret"], r["previous_secret"])
        if secret is not None
    ]
    assert len(notes) == 3
    assert len(secrets) == 3
    assert all(v.startswith(_prefix(new)) for v in notes + secrets)
    assert "plain" not in notes

    again = _rekey(database_url, f"{new},{old}")
    assert json.loads(again.stdout)["rekeyed"] == {
        "call.notes": 0,
        "call.eido_notes_digest": 0,
        "webhook_subscription.secret": 0,
        "webhook_subscription.previous_secret": 0,
    }

    # With the old key removed, everything still reads and signs.
    async with run(new, run_relay=True) as api:
        for call, text in ((under_old, "old"), (legacy, "plain"), (under_new, "new")):
            assert (await api.ok("GET", f"/v1/calls/{call['id']}"))["notes"] == text
        await api.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        got = await receiver.wait_for(2)
    verified = set()
    for received in got:
        for name, secret in (("old", sub), ("rotated", rotated), ("plain", plain_sub)):
            try:
                Webhook(secret["secret"]).verify(received.body, received.headers)
            except Exception:  # noqa: S112 (the other subscription's delivery)
                continue
            verified.add(name)
    assert verified == {"old", "rotated", "plain"}


async def test_the_digest_of_an_eidos_notes_is_ciphertext_and_works_after_rekey(
    admin: Api, db: asyncpg.Connection, database_url: str, settings: Settings
) -> None:
    """The digest by which the CAD's unchanged notes are known (docs/api.md, "EIDO") is
    stored encrypted as the notes are, not as a hash anyone reading the table could test
    guesses against, and rekey moves it: with the old key dropped, the CAD's closing
    document, its notes unchanged, is still no news to a call a dispatcher cleared with
    notes (a digest no key decrypts would make it a 409 again)."""
    assert settings.data_key is not None
    old = settings.data_key.get_secret_value()
    new = generate_key()
    await grid_districts(admin)
    note = "Caller says brother hears voices"
    incident = incident_id()
    call = await admin.ok("POST", "/v1/eido", document(incident, beat="D1", notes=[note]), 201)
    await admin.ok("POST", f"/v1/calls/{call['id']}/clear", {"disposition": "done", "notes": "ok"})
    query = "SELECT eido_notes_digest FROM call WHERE id = $1::uuid"
    stored = await db.fetchval(query, call["id"])
    assert stored.startswith(_prefix(old))
    assert hashlib.sha256(note.encode()).hexdigest() not in stored

    done = _rekey(database_url, f"{new},{old}")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["rekeyed"]["call.eido_notes_digest"] == 1
    assert (await db.fetchval(query, call["id"])).startswith(_prefix(new))
    closing = document(incident, at=later(30), beat="D1", notes=[note])
    closing["incidentComponent"]["incidentStatusCommonRegistryText"] = ["Closed"]
    async with _runner(admin, database_url, settings)(new) as api:
        answer = await api.ok("POST", "/v1/eido", closing)
    assert (answer["applied"], answer["status"]) == (False, "cleared")


async def test_rekey_reports_rows_no_key_decrypts_and_leaves_them(
    admin: Api, db: asyncpg.Connection, database_url: str, settings: Settings
) -> None:
    await grid_districts(admin)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1", "notes": "kept"}, 201)
    before = await _stored_notes(db, call["id"])
    done = _rekey(database_url, generate_key())
    assert done.returncode == 1
    assert f"call.notes {call['id']}" in done.stderr
    assert "kept" not in done.stderr + done.stdout
    assert await _stored_notes(db, call["id"]) == before
