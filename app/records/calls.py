"""A crisis call as the service holds it: one row of `call`, with its district's code."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TypedDict
from uuid import UUID

from app.vocabulary import CallStatus, DivertedTo, Outcome


@dataclass(frozen=True, slots=True, kw_only=True)
class Location:
    """A point (lat and lon together), a civic address, or both."""

    lat: float | None
    lon: float | None
    address: str | None

    @property
    def point(self) -> tuple[float, float] | None:
        return None if self.lat is None or self.lon is None else (self.lat, self.lon)


class SubjectFacts(TypedDict, total=False):
    """What is known of the person in crisis (never their name)."""

    age: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CallRecord:
    id: UUID
    agency_id: UUID
    external_id: str | None
    status: CallStatus
    district_id: UUID
    # The code of district_id, read with the call: never looked up in a cached context,
    # which may not know a district another instance has just added.
    district: str
    location: Location | None
    nature: str | None
    # Every safety flag of the vocabulary, true or false.
    safety: Mapping[str, bool]
    subject: SubjectFacts
    # Ciphertext, as stored (app/encryption.py); only GET /v1/calls/{id} decrypts it.
    notes: str | None
    received_at: datetime
    created_at: datetime
    updated_at: datetime
    dispatched_at: datetime | None
    cleared_at: datetime | None
    disposition: str | None
    diverted_to: DivertedTo | None
    outcome: Outcome | None
    use_of_force: bool
    subject_injured: bool
    officer_injured: bool
    # The lastUpdateTimeStamp of the last EIDO applied to the call; None if none was.
    eido_updated_at: datetime | None
    # How many cautions of the EIDO that gave the call its notes hold words read as no
    # safety flag (told in the notes), but those that set a weapon or violence flag the
    # policy counts: its recommendations warn of them (caution_not_read).
    unread_cautions: int = 0
    # Ciphertext, as stored: the SHA-256 of the own notes of the last EIDO applied to the
    # call that gave notes (app/services/eido_applied.py); None if none was, or before
    # migration 0036.
    eido_notes_digest: str | None
    # Whether the last EIDO applied to the call said its incident was ReOpened: a cleared
    # call's CAD saying so again is no news (app/services/eido.py, _update).
    eido_reopened: bool = False
