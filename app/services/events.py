"""Outbox events: thin, notes-free payloads a unit in a car or a CAD can act on."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from app.ids import new_id
from app.models import Event


def call_summary(
    call_id: UUID,
    *,
    external_id: str | None,
    status: str,
    district: str,
    location: dict[str, Any] | None,
    nature: str | None,
    safety: dict[str, bool],
    lead: str | None,
) -> dict[str, Any]:
    """What every call event says about the call. Never the notes."""
    return {
        "call_id": str(call_id),
        "external_id": external_id,
        "status": status,
        "district": district,
        "location": location,
        "nature": nature,
        "safety": safety,
        "lead": lead,
    }


def event_row(
    event_type: str,
    *,
    call_id: UUID | None,
    responder_id: UUID | None = None,
    payload: dict[str, Any],
) -> dict[str, Any]:
    """An event in the JSON shape the batched insert takes."""
    return {
        "id": str(new_id()),
        "type": event_type,
        "call_id": None if call_id is None else str(call_id),
        "responder_id": None if responder_id is None else str(responder_id),
        "payload": payload,
    }


def add_events(
    session: AsyncSession, *, agency_id: UUID, at: datetime, rows: list[dict[str, Any]]
) -> None:
    """Stage events in the request's transaction; they commit (or not) with the change."""
    session.add_all(
        Event(
            id=UUID(row["id"]),
            agency_id=agency_id,
            type=row["type"],
            call_id=None if row["call_id"] is None else UUID(row["call_id"]),
            responder_id=None if row["responder_id"] is None else UUID(row["responder_id"]),
            payload=row["payload"],
            created_at=at,
        )
        for row in rows
    )
