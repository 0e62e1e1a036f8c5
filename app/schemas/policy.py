from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    JsonValue,
    StrictBool,
    StringConstraints,
    field_validator,
)

from app.schemas.common import (
    JSON_INTEGER,
    NOT_NULL,
    WORDS_CAP,
    NatureText,
    StrictModel,
    worded,
)
from app.vocabulary import ALWAYS_SAFETY, SafetyFlag

NatureCode = NatureText
# An EIDO common incident type code (e.g. MNTL); letters, digits, '-' and '_'.
IncidentType = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        pattern=worded(
            r"^[A-Za-z0-9_-]{1,32}$",
            "an incident type code: 1 to 32 ASCII letters, digits, '-' or '_'",
        ),
    ),
]


def _keys_by_name(schema: dict[str, Any]) -> None:
    """Pydantic states a key pattern as patternProperties, which lets every other key
    through with any value; state it in propertyNames, so the schema refuses what the API
    refuses (a code with NUL)."""
    patterns = schema.pop("patternProperties", None)
    if isinstance(patterns, dict) and len(patterns) == 1:
        [(pattern, values)] = patterns.items()
        schema.setdefault("propertyNames", {})["pattern"] = pattern
        schema["additionalProperties"] = values


# The CIT program's fields of the policy: each may be left out (kept), not null.
_PROGRAM_FIELDS = (
    "coverage_target_cit",
    "coverage_target_co_responders",
    "cit_share_target_pct",
    "coverage_alert_days",
    "eido_incident_types",
)


_IGNORED = "The server's: ignored, whatever JSON it holds"


def _json_only(value: JsonValue) -> JsonValue:
    # Ignored, but still JSON: NaN and Infinity are not (the API refuses them everywhere).
    def finite(node: JsonValue) -> bool:
        if isinstance(node, float):
            return math.isfinite(node)
        if isinstance(node, list):
            return all(finite(item) for item in node)
        if isinstance(node, dict):
            return all(finite(item) for item in node.values())
        return True

    if not finite(value):
        raise ValueError("NaN and Infinity are not JSON numbers")
    return value


class PolicyIn(StrictModel):
    """The policy to put: exactly what GET /v1/policy returns, with changes.

    The server owns `version` and `created_at`: sent back, they are accepted and ignored,
    whatever they hold (a console that keeps them as text, or a stale one, is not refused
    for a value nothing reads).
    """

    # version and created_at are taken back so that a client may read, change and write
    # back (SPEC §6.3).

    NOT_NULL = _PROGRAM_FIELDS

    version: Annotated[JsonValue, Field(description=_IGNORED), AfterValidator(_json_only)] = None
    created_at: Annotated[JsonValue, Field(description=_IGNORED), AfterValidator(_json_only)] = None
    safety_flags: Annotated[
        list[SafetyFlag],
        Field(
            max_length=WORDS_CAP,
            json_schema_extra={"allOf": [{"contains": {"const": f}} for f in ALWAYS_SAFETY]},
        ),
    ]
    nature_flags: Annotated[
        dict[NatureCode, Annotated[list[SafetyFlag], Field(min_length=1, max_length=WORDS_CAP)]],
        Field(max_length=500, json_schema_extra=_keys_by_name),
    ]
    le_backup_for_mh_lead: StrictBool
    adjacency_depth: Annotated[int, Field(ge=0, le=3), JSON_INTEGER]
    # At least walking pace: a speed near 0 made every ETA astronomical (1e-300 gave 1e302 min).
    speed_kmh: Annotated[float, Field(ge=5, le=300, allow_inf_nan=False, strict=True)]
    # The CIT program's fields (docs/reports.md). Left out, each keeps its current value, so
    # a client written before they existed does not reset them.
    coverage_target_cit: Annotated[int, Field(ge=1, le=100), JSON_INTEGER] | None = None
    coverage_target_co_responders: Annotated[int, Field(ge=0, le=100), JSON_INTEGER] | None = None
    cit_share_target_pct: (
        Annotated[
            float,
            Field(ge=0, le=100, allow_inf_nan=False, strict=True),
            # -0.0 is 0 (it is at least 0), kept and answered as 0, not "-0.0".
            AfterValidator(lambda pct: pct + 0.0),
        ]
        | None
    ) = None
    coverage_alert_days: Annotated[int, Field(ge=0, le=60), JSON_INTEGER] | None = None
    eido_incident_types: Annotated[list[IncidentType], Field(max_length=WORDS_CAP)] | None = None

    @field_validator(*_PROGRAM_FIELDS, mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Left out, a program field keeps its value; null is refused as for every other
        # field, not taken for "left out" (a PUT that meant to clear it would be ignored).
        if value is None:
            raise ValueError(NOT_NULL)
        return value

    @field_validator("eido_incident_types")
    @classmethod
    def _types(cls, codes: list[str] | None) -> list[str] | None:
        return None if codes is None else sorted({c.upper() for c in codes})

    @field_validator("safety_flags")
    @classmethod
    def _unique(cls, flags: list[str]) -> list[str]:
        missing = [flag for flag in ALWAYS_SAFETY if flag not in flags]
        if missing:
            raise ValueError(
                f"safety_flags must include {' and '.join(ALWAYS_SAFETY)}: a call with a weapon"
                " or violence is never led by mental health alone"
            )
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
    """The agency's routing policy, one version of it. Every PUT makes a new version; each
    recommendation names the version it used."""

    version: int
    safety_flags: list[str] = Field(description="The flags that make a safety concern")
    nature_flags: dict[str, list[str]] = Field(
        description="Nature code (upper case) to the safety flags it implies; an implied flag"
        " is a concern only if it is also in `safety_flags`"
    )
    le_backup_for_mh_lead: bool = Field(
        description="Whether a mental-health lead gets an officer as `backup`"
    )
    adjacency_depth: int = Field(description="How many rings of adjacent districts are in reach")
    speed_kmh: float = Field(description="The speed ETAs are computed at, in km/h")
    coverage_target_cit: int = Field(
        description="CIT officers a district needs on the roster to count as CIT-covered"
    )
    coverage_target_co_responders: int = Field(
        description="Co-responders a district needs to count as covered; 0: none required"
    )
    cit_share_target_pct: float = Field(
        description="The share of active officers the program aims to have CIT-certified, in"
        " percent"
    )
    coverage_alert_days: int = Field(
        description="How many days ahead a coverage gap is announced; 0 announces none"
    )
    eido_incident_types: list[str] = Field(
        description="The EIDO incident types that become calls when received by subscription"
    )
    created_at: datetime = Field(description="When this version was stored")
