from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated
from uuid import UUID

import orjson
from pydantic import BaseModel, Field, StringConstraints, model_validator

from app.records.units import UnitRecord
from app.schemas.common import (
    ID_LINE,
    NOTHING_ASTRAL_UNSEEN,
    DistrictCode,
    GeoLocation,
    Instant,
    PatchModel,
    StrictModel,
    sent_at_most,
)
from app.schemas.read_only import BY_THE_SERVICE, TellsReadOnly
from app.vocabulary import NotCountedCode, ResponderType, UnitStatus

CallSign = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=32, pattern=ID_LINE),
    sent_at_most(32),
    NOTHING_ASTRAL_UNSEEN,
]
MAX_SHIFT = timedelta(hours=24)


def shift_window_problem(starts_at: datetime, ends_at: datetime) -> str | None:
    """What is wrong with a shift's times, if anything."""
    if ends_at <= starts_at:
        return "ends_at must be after starts_at"
    if ends_at - starts_at > MAX_SHIFT:
        # Its length too: midnight to midnight is 25 hours where the clocks go back, and a
        # coordinator who wrote a day would not see why it is refused.
        hours = f"{(ends_at - starts_at).total_seconds() / 3600:.2f}".rstrip("0").rstrip(".")
        if hours == "24":  # over by less than 18 seconds
            hours = "more than 24"
        return f"a shift lasts at most 24 hours; this one lasts {hours} hours"
    return None


class ShiftCreate(StrictModel):
    """A responder's shift on the roster: at most 24 hours, and not overlapping another of
    theirs (a 409)."""

    responder_type: ResponderType
    responder_id: UUID
    call_sign: Annotated[CallSign, Field(description="The unit's call sign on this shift")]
    district: Annotated[DistrictCode, Field(description="The shift's home district")]
    also_covers: Annotated[
        Annotated[list[DistrictCode], Field(max_length=50)],
        Field(description="Other districts the unit serves on this shift"),
    ] = []
    starts_at: Instant
    ends_at: Instant

    @model_validator(mode="after")
    def _window(self) -> ShiftCreate:
        if (problem := shift_window_problem(self.starts_at, self.ends_at)) is not None:
            raise ValueError(problem)
        if self.district in self.also_covers:
            raise ValueError("also_covers must not repeat the shift's own district")
        if len(set(self.also_covers)) != len(self.also_covers):
            raise ValueError("also_covers has duplicates")
        return self


class ShiftPatch(PatchModel, TellsReadOnly):
    """A change to a shift that has not ended. Who works it is not changed here: that is
    another shift (a `responder_id` sent is a 422 saying how to make it)."""

    BODY = "a shift's PATCH"
    READ_ONLY = {
        # A shift that has begun is not cancelled (DELETE is a 409): it is ended.
        **dict.fromkeys(
            ("responder_type", "responder_id"),
            "Who works a shift does not change: make one for the other responder (POST"
            " /v1/shifts), and cancel this one (DELETE /v1/shifts/{id}) or, if it has begun,"
            " end it now (PATCH its ends_at)",
        ),
        "id": BY_THE_SERVICE,
        **dict.fromkeys(
            ("counts_for_coverage", "not_counted"),
            "Set by the standing of the shift's responder: a separation or deactivation (PATCH"
            ' /v1/officers/{id} or /v1/co-responders/{id}, {"active": false}) takes the'
            ' shifts after it out of coverage, a reactivation ({"active": true}) puts those'
            " still ahead back",
        ),
    }

    call_sign: CallSign | None = None
    district: DistrictCode | None = None
    also_covers: Annotated[list[DistrictCode], Field(max_length=50)] | None = None
    starts_at: Instant | None = None
    ends_at: Instant | None = None

    @model_validator(mode="after")
    def _covers(self) -> ShiftPatch:
        if self.also_covers is not None and len(set(self.also_covers)) != len(self.also_covers):
            raise ValueError("also_covers has duplicates")
        return self


class ShiftBulkCreate(StrictModel):
    """Many shifts at once: all are scheduled, or none if any is invalid or overlaps."""

    shifts: Annotated[list[ShiftCreate], Field(min_length=1, max_length=500)]


class NotCounted(BaseModel):
    """Why a shift does not count for coverage."""

    code: NotCountedCode
    message: str
    left_at: datetime | None = Field(
        description="When the officer left (their `separated_at`), for `responder_left`;"
        " null otherwise"
    )


class ShiftOut(BaseModel):
    """A shift on the roster, and whether it counts for coverage."""

    id: UUID
    responder_type: ResponderType
    responder_id: UUID
    call_sign: str
    district: str = Field(description="The shift's home district")
    also_covers: list[str] = Field(description="Other districts the unit serves on this shift")
    starts_at: datetime
    ends_at: datetime
    counts_for_coverage: bool = Field(
        description="Whether the coverage report counts the shift's responder on it: false"
        " for a shift its responder was not active for (an officer's shift after they left, a"
        " deactivated co-responder's). An officer's shift counts for CIT coverage only while"
        " a CIT certification of theirs is valid, which this does not tell (the officer's"
        " `cit`)"
    )
    not_counted: NotCounted | None = Field(
        description="Why the shift does not count for coverage; null when it does"
    )


class UnitOut(BaseModel):
    """A responder on shift now, or still on a call after its shift, as a console shows it."""

    # GET /v1/units writes it from app.records.units.UnitRecord, which restates these
    # fields; tests/api/test_units_read_model.py fails if the two drift apart.

    responder_type: ResponderType
    responder_id: UUID
    name: str
    call_sign: str
    district: str = Field(description="The home district of the unit's shift")
    also_covers: list[str] = Field(description="The other districts its shift serves")
    shift_ends_at: datetime = Field(
        description="When its shift ends; past for a unit still busy on a call after its shift"
    )
    status: UnitStatus
    location: GeoLocation | None
    cit_certified: bool
    trainings: list[str] | None = Field(
        None, description="An officer's generalist training; null for a co-responder"
    )
    specialties: list[str] | None = Field(
        None, description="A co-responder's specialties; null for an officer"
    )
    active_call_id: UUID | None = Field(
        description="The cit-dispatch call the unit is assigned to; null otherwise"
    )
    # The CAD's incident while the unit is busy on one cit-dispatch does not handle.
    external_incident: str | None = Field(
        None, description="The CAD's incident the unit is busy on instead; null otherwise"
    )


def units_json(units: list[UnitRecord]) -> bytes:
    """`Items[UnitOut]` as FastAPI sends it, byte for byte, without a model per unit.

    orjson writes each value by its runtime type, as pydantic-core writes UnitOut's fields
    (str, UUID, datetime, float, bool, None), in about a third of pydantic-core's time for
    these records; tests/api/test_units_read_model.py compares the two. A record's fields
    are typed by UnitRecord, so no validation is needed.
    """
    return orjson.dumps({"items": units}, option=orjson.OPT_UTC_Z)


class ShiftOverlapProblem(BaseModel):
    """The 409 for a shift that would overlap another of its responder's."""

    type: str
    title: str
    status: int
    detail: str
    shift_id: UUID | None = Field(
        None,
        description="The stored shift it overlaps; absent when it overlaps an earlier shift"
        " of the same bulk request, which the detail names by its place",
    )
