"""The service's shared words, each listed once.

Schemas, models (CHECK constraints), permissions, routing and the event catalogue all take
their lists from here. Each word list is a `Literal` (for the type checker and the OpenAPI
document) with a tuple of its values (for code that iterates or builds SQL). Adding a
value here adds it everywhere; a list-length cap elsewhere never equals a count here.

This module imports nothing from the application: routing, which must stay pure, uses it.
"""

from __future__ import annotations

from typing import Literal, get_args

# Who an API key acts as (docs/api.md, "Roles").
Role = Literal["admin", "supervisor", "dispatcher", "integration", "unit", "viewer"]
ROLES: tuple[Role, ...] = get_args(Role)

# The two kinds of unit a call can get.
ResponderType = Literal["officer", "co_responder"]
RESPONDER_TYPES: tuple[ResponderType, ...] = get_args(ResponderType)

CoResponderKind = Literal["clinician", "peer_specialist", "mobile_crisis_team"]
CO_RESPONDER_KINDS: tuple[CoResponderKind, ...] = get_args(CoResponderKind)

# Generalist training of officers without CIT: who stabilises a scene best.
Training = Literal["mh_awareness", "de_escalation"]
TRAININGS: tuple[Training, ...] = get_args(Training)

# A unit's live status. The on-call ones are the lifecycle of a unit on a call, in order:
# skipping ahead is allowed, going back is not. The off-call ones release it from its call.
UnitStatus = Literal[
    "available", "dispatched", "en_route", "on_scene", "transporting", "out_of_service"
]
UNIT_STATUSES: tuple[UnitStatus, ...] = get_args(UnitStatus)
ON_CALL: tuple[UnitStatus, ...] = ("dispatched", "en_route", "on_scene", "transporting")
OFF_CALL: tuple[UnitStatus, ...] = ("available", "out_of_service")

CallStatus = Literal["pending", "dispatched", "cleared"]
CALL_STATUSES: tuple[CallStatus, ...] = get_args(CallStatus)

# Flags a call taker can set. Which of them are safety concerns is the policy's choice.
SafetyFlag = Literal[
    "weapon", "violence", "threat_to_others", "crime_in_progress", "medical_emergency"
]
SAFETY_FLAGS: tuple[SafetyFlag, ...] = get_args(SafetyFlag)
DEFAULT_SAFETY_CONCERNS: frozenset[SafetyFlag] = frozenset(
    {"weapon", "violence", "threat_to_others", "crime_in_progress"}
)

# Who leads a response, and the part each recommended unit plays. The order of UnitRole
# is the order units are listed in a recommendation.
Lead = Literal["mental_health", "law_enforcement"]
LEADS: tuple[Lead, ...] = get_args(Lead)
UnitRole = Literal["lead", "backup", "support", "stabilize"]
UNIT_ROLES: tuple[UnitRole, ...] = get_args(UnitRole)

# What a recommendation asks for besides units, and what it warns about, in listing order.
Request = Literal["ems", "mh_phone_consult", "cit_when_available"]
REQUESTS: tuple[Request, ...] = get_args(Request)
WarningCode = Literal[
    "no_cit_in_district",
    "cit_from_adjacent_district",
    "no_cit_available",
    "no_co_responder_available",
    "no_units_available",
]
WARNING_CODES: tuple[WarningCode, ...] = get_args(WarningCode)

# Where a cleared call's subject was diverted to.
DivertedTo = Literal["crisis_center", "mh_outpatient", "hospital", "none"]
DIVERTED_TO: tuple[DivertedTo, ...] = get_args(DivertedTo)

# Outbox event types (app/events/catalogue.py gives each its payload and audience).
EventType = Literal[
    "call.created",
    "call.updated",
    "recommendation.created",
    "call.escalated",
    "unit.assigned",
    "unit.released",
    "unit.status_changed",
    "call.cleared",
]
EVENT_TYPES: tuple[EventType, ...] = get_args(EventType)

DeliveryStatus = Literal["pending", "delivered", "failed"]
DELIVERY_STATUSES: tuple[DeliveryStatus, ...] = get_args(DeliveryStatus)

# How an audited request ended.
AuditOutcome = Literal["success", "denied", "error"]
AUDIT_OUTCOMES: tuple[AuditOutcome, ...] = get_args(AuditOutcome)


def sql_list(values: tuple[str, ...]) -> str:
    """The values as a SQL list literal for a CHECK constraint: ('a', 'b')."""
    return "(" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + ")"
