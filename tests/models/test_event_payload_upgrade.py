"""An event kept from an earlier release is sent as this release documents it: migration
0040 fills in what a lookup tells, app/events/stored.py makes the rest null."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast

import asyncpg
from pydantic import TypeAdapter

from app.db.engine import plain_url
from app.db.migrate import upgrade
from app.events.catalogue import CATALOGUE, EventKind
from app.events.stored import documented

_KINDS = cast("Mapping[str, EventKind]", CATALOGUE)
_NUMBERED = "00000000-0000-4000-8000-0000000000c1"
_UNNUMBERED = "00000000-0000-4000-8000-0000000000c2"
_UNIT = "00000000-0000-4000-8000-0000000000a1"
_ESCALATED_TO = "00000000-0000-4000-8000-0000000000e1"
_SUMMARY = {
    "status": "dispatched",
    "district": "D1",
    "location": None,
    "nature": "MNTL",
    "safety": {"weapon": False},
    "lead": "law_enforcement",
}


def _summary(call: str) -> dict[str, Any]:
    return {"call_id": call, "external_id": None, **_SUMMARY}


# Each event type as the first release wrote it (app/events/payloads.py at 94b979a, with
# the fields added since left out), with the call it is about and when it was written.
_OLD: list[tuple[str, str | None, str, dict[str, Any]]] = [
    (
        "recommendation.created",
        _NUMBERED,
        "09:00",
        {
            "call_id": _NUMBERED,
            "recommendation_id": _ESCALATED_TO,
            "lead": "law_enforcement",
            "safety_concern": True,
            "units": [],
            "warnings": [],
        },
    ),
    (
        "unit.assigned",
        _NUMBERED,
        "09:10",
        {
            **_summary(_NUMBERED),
            "responder_type": "officer",
            "responder_id": _UNIT,
            "role": "lead",
        },
    ),
    (
        "call.escalated",
        _NUMBERED,
        "09:30",
        {
            **_summary(_NUMBERED),
            "previous_lead": "mental_health",
            "recommendation_id": _ESCALATED_TO,
        },
    ),
    (
        "unit.released",
        _UNNUMBERED,
        "09:40",
        {
            "call_id": _UNNUMBERED,
            "responder_type": "officer",
            "responder_id": _UNIT,
            "role": "lead",
            "status": "available",
        },
    ),
    (
        "unit.status_changed",
        _NUMBERED,
        "09:50",
        {
            "responder_type": "officer",
            "responder_id": _UNIT,
            "status": "en_route",
            "previous_status": "dispatched",
            "call_id": _NUMBERED,
            "location": None,
        },
    ),
    (
        "unit.status_changed",
        None,
        "09:55",
        {
            "responder_type": "officer",
            "responder_id": _UNIT,
            "status": "available",
            "previous_status": "en_route",
            "call_id": None,
            "location": None,
        },
    ),
    (
        "call.cleared",
        _NUMBERED,
        "10:00",
        {
            **_summary(_NUMBERED),
            "status": "cleared",
            "disposition": "resolved",
            "diverted_to": None,
        },
    ),
    (
        "coverage.gap_ahead",
        None,
        "10:05",
        {
            "district": "D1",
            "kind": "cit",
            "from": "2026-12-01T10:00:00Z",
            "to": "2026-12-01T18:00:00Z",
            "hours": 8.0,
            "adjacent_cover": False,
            "target": 1,
        },
    ),
    (
        "coverage.gap_ahead",
        None,
        "10:06",
        {
            "district": "D1",
            "kind": "co_responder",
            "from": "2026-12-02T10:00:00Z",
            "to": None,
            "hours": None,
            "adjacent_cover": False,
            "target": 1,
        },
    ),
    (
        "coverage.gap_closed",
        None,
        "10:10",
        {"district": "D1", "kind": "cit", "from": "2026-12-01T10:00:00Z", "to": None},
    ),
    # As this release writes it: left as it is.
    (
        "unit.released",
        _NUMBERED,
        "10:20",
        {
            "call_id": _NUMBERED,
            "external_id": "CAD-8",
            "responder_type": "officer",
            "responder_id": _UNIT,
            "call_sign": "X9",
            "role": "lead",
            "status": "out_of_service",
        },
    ),
    # Naming no recommendation (none could be written so): none's concern and reasons.
    (
        "call.escalated",
        _NUMBERED,
        "10:25",
        {**_summary(_NUMBERED), "previous_lead": "mental_health", "recommendation_id": "x"},
    ),
]


async def _write_old(url: str) -> None:
    conn = await asyncpg.connect(plain_url(url))
    try:
        agency = await conn.fetchval(
            "INSERT INTO agency (id, name, timezone) VALUES (gen_random_uuid(), 'A', 'UTC')"
            " RETURNING id"
        )
        district = await conn.fetchval(
            "INSERT INTO district (id, agency_id, code, name)"
            " VALUES (gen_random_uuid(), $1, 'D1', 'D1') RETURNING id",
            agency,
        )
        await conn.execute(
            "INSERT INTO officer (id, agency_id, state_officer_id, badge_number, name)"
            " VALUES ($1, $2, 'S-1', 'B-1', 'O')",
            _UNIT,
            agency,
        )
        await conn.execute(
            "INSERT INTO shift (id, agency_id, responder_type, officer_id, call_sign,"
            " district_id, starts_at, ends_at) VALUES (gen_random_uuid(), $1, 'officer', $2,"
            " '2B7', $3, '2026-12-01T07:00:00Z', '2026-12-01T15:00:00Z')",
            agency,
            _UNIT,
            district,
        )
        for call, cad in ((_NUMBERED, "CAD-9"), (_UNNUMBERED, None)):
            await conn.execute(
                "INSERT INTO call (id, agency_id, status, district_id, safety, received_at,"
                " external_id, use_of_force, officer_injured)"
                " VALUES ($1, $2, 'cleared', $3, '{}', '2026-12-01T08:55:00Z', $4, true, false)",
                call,
                agency,
                district,
                cad,
            )
        # The call's recommendations: one before the assignment (no concern), the one it
        # escalated to after it; the latter's reasons hold more than a payload names.
        for rec, at, concern, reasons in (
            ("00000000-0000-4000-8000-0000000000e0", "09:00", False, []),
            (
                _ESCALATED_TO,
                "09:20",
                True,
                [{"rule": "safety_flag", "message": "A weapon is reported", "extra": "x"}],
            ),
        ):
            await conn.execute(
                "INSERT INTO recommendation (id, agency_id, call_id, created_at, policy_version,"
                " lead, safety_concern, units, requests, warnings, reasons)"
                " VALUES ($1, $2, $3, $4, 1, 'law_enforcement', $5, '[]', '{}', '[]', $6)",
                rec,
                agency,
                _NUMBERED,
                _at(at),
                concern,
                json.dumps(reasons),
            )
        # The unit's assignments, each with the call sign it kept (migrations 0037, 0038).
        for call, at, released in ((_UNNUMBERED, "09:05", "09:40"), (_NUMBERED, "09:10", None)):
            await conn.execute(
                "INSERT INTO assignment (id, agency_id, call_id, responder_type, responder_id,"
                " role, assigned_at, released_at, call_sign)"
                " VALUES (gen_random_uuid(), $1, $2, 'officer', $3, 'lead', $4, $5, '1A1')",
                agency,
                call,
                _UNIT,
                _at(at),
                None if released is None else _at(released),
            )
        for kind, about, at, payload in _OLD:
            await conn.execute(
                "INSERT INTO event (id, agency_id, type, call_id, responder_id, payload,"
                " created_at) VALUES (gen_random_uuid(), $1, $2, $3, $4, $5, $6)",
                agency,
                kind,
                about,
                payload.get("responder_id"),
                json.dumps(payload),
                _at(at),
            )
    finally:
        await conn.close()


def _at(clock: str) -> datetime:
    return datetime.fromisoformat(f"2026-12-01T{clock}:00+00:00")


async def _payloads(url: str) -> list[tuple[str, dict[str, Any]]]:
    conn = await asyncpg.connect(plain_url(url))
    try:
        rows = await conn.fetch("SELECT type, payload::text FROM event ORDER BY created_at, id")
    finally:
        await conn.close()
    return [(row["type"], json.loads(row["payload"])) for row in rows]


def test_events_written_by_the_first_release_are_sent_as_this_one_documents_them(
    scratch_url: str,
) -> None:
    upgrade(scratch_url, "0039")
    asyncio.run(_write_old(scratch_url))
    upgrade(scratch_url)
    sent = [
        (kind, documented(kind, payload)) for kind, payload in asyncio.run(_payloads(scratch_url))
    ]
    # Each as its type in the webhook document has it: every field it requires is there.
    for kind, payload in sent:
        TypeAdapter(_KINDS[kind].payload).validate_python(payload)
    by_kind: dict[str, list[Mapping[str, Any]]] = {}
    for kind, payload in sent:
        by_kind.setdefault(kind, []).append(payload)
    # Looked up: the call's CAD number (none: null; none for a unit on no call).
    assert by_kind["recommendation.created"][0]["external_id"] == "CAD-9"
    assert by_kind["unit.released"][0]["external_id"] is None
    changed = by_kind["unit.status_changed"]
    assert [p["external_id"] for p in changed] == ["CAD-9", None]
    # The escalation's recommendation, its reasons as a payload names them.
    escalated = by_kind["call.escalated"][0]
    assert escalated["safety_concern"] is True
    assert escalated["reasons"] == [{"rule": "safety_flag", "message": "A weapon is reported"}]
    # The recommendation in force when the unit was sent, not the later one.
    assert by_kind["unit.assigned"][0]["safety_concern"] is False
    cleared = by_kind["call.cleared"][0]
    assert (cleared["use_of_force"], cleared["subject_injured"], cleared["officer_injured"]) == (
        True,
        False,
        False,
    )
    # Told at 10:05: the gap from 10:00 had begun; the one from the next day had not.
    assert [p["under_way"] for p in by_kind["coverage.gap_ahead"]] == [True, False]
    # The call sign the unit's assignment kept; its shift's at a status report.
    assert (by_kind["unit.assigned"][0]["call_sign"], by_kind["unit.released"][0]["call_sign"]) == (
        "1A1",
        "1A1",
    )
    assert [p["call_sign"] for p in changed] == ["2B7", "2B7"]
    # Why a unit was released, which no release before this one wrote: null, not guessed.
    assert by_kind["unit.released"][1] == {**_OLD[-2][3], "reason": None}
    assert (
        by_kind["call.escalated"][1]["safety_concern"],
        by_kind["call.escalated"][1]["reasons"],
    ) == (
        False,
        [],
    )
    # Nothing to look up: null, as the document allows.
    assert by_kind["unit.assigned"][0]["previous_role"] is None
    assert [p["external_incident"] for p in changed] == [None, None]
    assert (cleared["outcome"], by_kind["coverage.gap_closed"][0]["part_of"]) == (None, None)


def test_a_payload_that_lacks_nothing_is_sent_as_it_is_and_external_id_is_never_made_up() -> None:
    whole = {"call_id": _NUMBERED, "external_id": "CAD-9", "call_sign": "1A1", "reason": None}
    assert documented("unit.released", whole) is whole
    # Written by an instance of an earlier release after migration 0040: without the
    # CAD's number rather than with a null saying the call has none.
    assert "external_id" not in documented("unit.released", {"call_id": _NUMBERED})


def test_a_call_updated_from_before_it_said_what_changed_says_null() -> None:
    """Null, as its document allows: not known, rather than a list that says nothing."""
    old = {"call_id": _NUMBERED, "external_id": None, "status": "dispatched", "lead": None}
    assert documented("call.updated", old)["changed"] is None
