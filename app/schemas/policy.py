from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StrictBool, StringConstraints, field_validator

from app.schemas.common import JSON_INTEGER, NO_NUL, WORDS_CAP, StrictModel
from app.vocabulary import SafetyFlag

NatureCode = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=NO_NUL)
]


class PolicyIn(StrictModel):
    # The server assigns versions; one sent by a client is accepted and ignored.
    version: Annotated[int, JSON_INTEGER] | None = None
    safety_flags: Annotated[list[SafetyFlag], Field(max_length=WORDS_CAP)]
    nature_flags: Annotated[
        dict[NatureCode, Annotated[list[SafetyFlag], Field(min_length=1, max_length=WORDS_CAP)]],
        Field(max_length=500),
    ]
    le_backup_for_mh_lead: StrictBool
    adjacency_depth: Annotated[int, Field(ge=0, le=3), JSON_INTEGER]
    speed_kmh: Annotated[float, Field(gt=0, le=300, allow_inf_nan=False, strict=True)]

    @field_validator("safety_flags")
    @classmethod
    def _unique(cls, flags: list[str]) -> list[str]:
        return sorted(set(flags))

    @field_validator("nature_flags")
    @classmethod
    def _upper(cls, mapping: dict[str, list[str]]) -> dict[str, list[str]]:
        upper: dict[str, list[str]] = {}
        for code, flags in mapping.items():
            key = code.upper()
            if key in upper:
                raise ValueError(f"nature code {key} is given twice (codes are case-insensitive)")
            upper[key] = sorted(set(flags))
        return upper


class PolicyOut(BaseModel):
    version: int
    safety_flags: list[str]
    nature_flags: dict[str, list[str]]
    le_backup_for_mh_lead: bool
    adjacency_depth: int
    speed_kmh: float
    created_at: datetime
