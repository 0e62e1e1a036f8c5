"""Plain data the routing core reads and returns: no I/O, no framework types."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from types import MappingProxyType
from uuid import UUID

from app.vocabulary import (
    DEFAULT_SAFETY_CONCERNS,
    Lead,
    Request,
    ResponderType,
    UnitRole,
    UnitStatus,
    WarningCode,
)


@dataclass(frozen=True, slots=True)
class GeoPoint:
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class LeftUnit:
    """A unit that led the call and last left it, by its own report, while others stayed
    on it: every re-triage of the call leaves it out, free or not, as no answer to who
    leads."""

    responder_type: ResponderType
    responder_id: UUID
    call_sign: str
    # Its status as it reported leaving (available, or out of service), known for the unit
    # whose leaving caused this re-triage; None for one that left before.
    status: UnitStatus | None = None


@dataclass(frozen=True, slots=True)
class CallFacts:
    """What routing needs to know about a crisis call."""

    district: str
    location: GeoPoint | None = None
    nature: str | None = None
    # Flags that are true; any flag absent is false.
    safety: frozenset[str] = frozenset()
    subject_age: int | None = None
    # The location lies outside the boundary of the district given (a district keyed in
    # wrong sends the wrong units), and the district whose boundary holds it, if any.
    outside_district: bool = False
    located_in: str | None = None
    # For a location in no district's boundary, how far it lies from the district given's,
    # in km: far off, its coordinates are the likelier mistake (a sign or a digit lost).
    outside_by_km: float | None = None
    # The units that led the call and last left it while others stayed, not on it now, in
    # the order of that last leaving: its re-triage's candidates leave them out, and a
    # reason (`unit_left`) says so.
    left: tuple[LeftUnit, ...] = ()
    # For a dispatched call with no unit on it now, the unit whose going out of service
    # left it so (the last on it; it did not finish the work, as one reporting available
    # does): the call needs units again, and a warning (`no_unit_on_call`) says so.
    stranded_by: LeftUnit | None = None
    # Cautions the CAD sent with the call (EIDO) with words read as no safety flag, and
    # no weapon or violence flag beside them that law enforcement leads: words only a
    # dispatcher can read, in the call's notes.
    unread_cautions: int = 0


@dataclass(frozen=True, slots=True)
class CertificationPeriod:
    """One CIT certification of the person: valid on days certified_on <= d < expires_on."""

    certified_on: date
    expires_on: date


@dataclass(frozen=True, slots=True)
class Candidate:
    """A responder with the shift that might put them in reach of the call."""

    responder_type: ResponderType
    responder_id: UUID
    name: str
    call_sign: str
    # The shift's home district, and the districts it also covers.
    shift_district: str
    also_covers: frozenset[str]
    shift_starts_at: datetime
    shift_ends_at: datetime
    status: UnitStatus
    active: bool = True
    location: GeoPoint | None = None
    certifications: tuple[CertificationPeriod, ...] = ()
    trainings: frozenset[str] = frozenset()
    specialties: frozenset[str] = frozenset()
    assignments_24h: int = 0
    # Assigned to this very call (a dispatched call's re-triage): it serves the call
    # whatever its status, shift or district, and ranks first among units like it, so a
    # re-triage never swaps the units working the call for fresh ones (docs/routing.md).
    on_call: bool = False


# A new agency's nature_flags: the registry's violent and weapon incident types
# (app.vocabulary.APCO_INCIDENT_TYPES) and the safety flags each implies (docs/routing.md,
# "Policy"). Stored policies keep what their agency chose.
DEFAULT_NATURE_FLAGS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "ACTSHOOT": frozenset({"weapon", "violence", "threat_to_others"}),  # Active Shooter
        "ASSAULT": frozenset({"violence"}),  # Assault, with or without injury
        "BARICADE": frozenset({"threat_to_others"}),  # Barricaded
        "BOMB": frozenset({"weapon", "threat_to_others"}),  # Bomb Threat Or Investigation
        "CARJACK": frozenset({"violence"}),  # Carjack
        "CU1": frozenset({"violence"}),  # Civil Unrest Violent
        "DVA": frozenset({"violence"}),  # Domestic Violent
        "FAS": frozenset({"violence"}),  # Felonious Assault - No Suspect
        "FASX": frozenset({"violence"}),  # Felonious Assault - Suspect In Area
        "FIGHT": frozenset({"violence"}),  # Fight
        "HOMICIDE": frozenset({"violence"}),  # Homicide
        "HOSTAGE": frozenset({"violence", "threat_to_others"}),  # Hostage
        "MTLV": frozenset({"violence"}),  # Mental Person Violent
        "NCRASLTWF": frozenset({"weapon", "violence"}),  # Assault with Weapon
        "ROBBERY": frozenset({"violence"}),  # Robbery
        "SHOOT": frozenset({"weapon", "violence"}),  # Shooting
        "STABBING": frozenset({"weapon", "violence"}),  # Stabbing
        "TERROR": frozenset({"violence", "threat_to_others"}),  # Terrorist Activity
        "THREATS": frozenset({"threat_to_others"}),  # Threats
        "WEAPON": frozenset({"weapon"}),  # Weapon Violation
    }
)


@dataclass(frozen=True, slots=True)
class Policy:
    """The agency's routing policy (docs/routing.md, "Policy")."""

    version: int = 1
    safety_flags: frozenset[str] = frozenset(DEFAULT_SAFETY_CONCERNS)
    # Upper-cased nature code -> flags it implies.
    nature_flags: Mapping[str, frozenset[str]] = field(
        default_factory=lambda: dict(DEFAULT_NATURE_FLAGS)
    )
    le_backup_for_mh_lead: bool = True
    adjacency_depth: int = 1
    speed_kmh: float = 40.0
    # Upper-cased EIDO incident types the agency takes as calls: natures it knows.
    eido_incident_types: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class RecommendedUnit:
    responder_type: ResponderType
    responder_id: UUID
    name: str
    call_sign: str
    role: UnitRole
    district: str
    cit_certified: bool
    eta_minutes: float | None
    distance_km: float | None


@dataclass(frozen=True, slots=True)
class Warning:
    code: WarningCode
    message: str


@dataclass(frozen=True, slots=True)
class Reason:
    rule: str
    message: str


@dataclass(frozen=True, slots=True)
class Recommendation:
    lead: Lead
    safety_concern: bool
    policy_version: int
    units: tuple[RecommendedUnit, ...]
    requests: tuple[Request, ...]
    warnings: tuple[Warning, ...]
    reasons: tuple[Reason, ...]
