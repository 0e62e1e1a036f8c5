"""The service's shared words, each listed once.

Schemas, models (CHECK constraints), permissions, routing and the event catalogue all take
their lists from here. Each word list is a `Literal` (for the type checker and the OpenAPI
document) with a tuple of its values (for code that iterates or builds SQL). Adding a
value here adds it everywhere; a list-length cap elsewhere never equals a count here.

This module imports nothing from the application: routing, which must stay pure, uses it.
"""

from __future__ import annotations

import re
import string
from typing import Literal, get_args

from typing_extensions import TypeIs  # typing has it from Python 3.13

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
# The off-call ones: what a unit released from its call was released into.
OffCallStatus = Literal["available", "out_of_service"]
OFF_CALL: tuple[OffCallStatus, ...] = get_args(OffCallStatus)
# Why a unit's part in a call ended (unit.released): the call cleared, or a status report.
ReleaseReason = Literal["call_cleared", "status_report"]


def is_off_call(status: UnitStatus) -> TypeIs[OffCallStatus]:
    """Whether a unit reporting status leaves its call (available, out_of_service)."""
    return status in OFF_CALL


# A person's statewide id (state_officer_id, e.g. a POST number) names the person whatever
# the case of its letters: one agency writes "ab123" and another "AB123", and the
# certification must follow the officer all the same. It is kept in one form, its ASCII
# letters in upper case (ASCII only, so that Python and every server's collation agree);
# a CHECK on the officer and certification tables holds every row to it (migration 0024).
_ASCII_UPPER = str.maketrans(string.ascii_lowercase, string.ascii_uppercase)
PERSON_ID_FORM = (
    "state_officer_id = translate(state_officer_id,"
    f" '{string.ascii_lowercase}', '{string.ascii_uppercase}')"
)


def person_id(text: str) -> str:
    """A statewide id in its one stored form: its ASCII letters upper-cased."""
    return text.translate(_ASCII_UPPER)


# A co-responder's language specialty is "language:" and a BCP 47 tag, whose case carries
# no meaning: "language:ES" and "language:es" are one skill, and the program report must
# count them as one. It is kept in the tag's canonical case (RFC 5646, section 2.1.1):
# every subtag in lower case, but for a two-letter one (a region) in upper case and a
# four-letter one (a script) in title case, except at the start or after a singleton (an
# extension, or x- for private use). Migration 0025 holds the rows written before to it.
LANGUAGE = "language:"


def specialty(text: str) -> str:
    """A specialty in its one stored form: a language tag in its canonical case."""
    if not text.startswith(LANGUAGE):
        return text
    first, *rest = text[len(LANGUAGE) :].split("-")
    subtags = [first.lower()]
    free = len(first) == 1  # x-…: private use from the start
    for subtag in rest:
        free = free or len(subtag) == 1
        if not free and len(subtag) == 2:
            subtag = subtag.upper()
        elif not free and len(subtag) == 4:
            subtag = subtag[0].upper() + subtag[1:].lower()
        else:
            subtag = subtag.lower()
        subtags.append(subtag)
    return LANGUAGE + "-".join(subtags)


# Characters, as the bodies of regular-expression classes that Python's re, pydantic-core's
# Rust regex and JSON Schema's ECMA-262 read alike (app/schemas/common.py builds the API's
# patterns from them; app/eido/incoming.py its cleaning of a document's free text).
# What a model's strip_whitespace trims from either end: pydantic-core trims Unicode
# White_Space (Rust's str::trim), which, unlike Python's str.strip, keeps \x1c-\x1f.
TRIMMED = r"\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# Control characters, and the two Unicode line breaks: what a one-line value never holds.
CONTROLS = r"\x00-\x1f\x7f-\x9f\u2028\u2029"
# Characters that take no space when shown: soft hyphen, zero-width and joining marks,
# direction marks and overrides, variation selectors, fillers and the byte-order mark.
# (Unicode's Default_Ignorable_Code_Point in the Basic Multilingual Plane; the classes must
# read alike in three engines, and ECMA-262 without its u flag has no escape for the rest:
# ASTRAL_INVISIBLE below, checked apart.)
INVISIBLE = (
    r"\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    r"\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8"
)
# The rest of Default_Ignorable_Code_Point: shorthand format controls, musical symbol
# formatting, tags and the supplementary variation selectors (Python's re only).
ASTRAL_INVISIBLE = re.compile("[\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff]")
# A character a reader sees: none of the above.
SEEN = rf"[^{TRIMMED}{CONTROLS}{INVISIBLE}]"
_CONTROL_RUN = re.compile(rf"[{CONTROLS}]+")
_SEEN = re.compile(SEEN)


def one_line(text: str) -> str:
    """text as one line: each run of control characters and line breaks one space, trimmed;
    "" when nothing in it is seen (zero-width marks alone, say)."""
    line = _CONTROL_RUN.sub(" ", text).strip()
    return line if _SEEN.search(line) else ""


_INVISIBLE_ONE = re.compile(f"[{INVISIBLE}]|{ASTRAL_INVISIBLE.pattern}")
_BACKSLASH_OR_INVISIBLE = re.compile(rf"\\|{_INVISIBLE_ONE.pattern}")


def _escape(found: re.Match[str]) -> str:
    return found[0].encode("unicode_escape").decode()


def invisible_escaped(text: str) -> str:
    """text with each invisible character as its escape (`\\u202e`), and a backslash as
    `\\\\`, for a message that names what a client wrote: a direction mark would turn the rest
    of the sentence around, and a zero-width space make one name read as another. The six
    characters `\\u202e` a client typed read `\\\\u202e`, not as the mark."""
    return _BACKSLASH_OR_INVISIBLE.sub(_escape, text)


def invisible_escaped_repr(text: str) -> str:
    """repr(text), a name quoted in a message, with the invisible characters repr leaves as
    they are (U+3164 HANGUL FILLER, U+034F, the variation selectors) escaped too. repr
    doubles a backslash itself, so this one does not again."""
    return _INVISIBLE_ONE.sub(_escape, repr(text))


# The longest name (of an agency, a unit, a district...): one line, shown on reports.
NAME_MAX = 200
# The longest external_id a call may have: an EIDO's Incident Tracking Identifier fits.
EXTERNAL_ID_MAX = 255
# The longest notes a call holds: a PATCH's or a clear's own are refused past it; an
# EIDO's, and a clear's added to those held, keep the newest (newest_notes).
NOTES_MAX = 20_000
NOTES_CUT = "…"


def newest_notes(text: str) -> str:
    """Notes as a call holds them: the newest NOTES_MAX characters, after a NOTES_CUT when
    the oldest had to go."""
    if len(text) <= NOTES_MAX:
        return text
    return NOTES_CUT + text[-(NOTES_MAX - len(NOTES_CUT)) :]


# The longest disposition a cleared call keeps (one an EIDO gives is cut to it).
DISPOSITION_MAX = 200
# What a clear records of how the call ended (POST /v1/calls/{id}/clear), which a
# supervisor may correct after (PATCH /v1/calls/{id}/outcome): the call's columns.
CLEARING_RECORD = (
    "disposition",
    "diverted_to",
    "outcome",
    "use_of_force",
    "subject_injured",
    "officer_injured",
)

CallStatus = Literal["pending", "dispatched", "cleared"]
CALL_STATUSES: tuple[CallStatus, ...] = get_args(CallStatus)
# What a call.updated tells changed, in this order: the call's fields that new information
# changed; lead_left: the unit leading it left it while others stay; or units: units joined
# the units on it (reinforcements), parts changed among them, or one not leading it left
# while others stay.
CallChange = Literal[
    "nature", "safety", "location", "district", "subject", "notes", "lead_left", "units"
]
CALL_CHANGES: tuple[CallChange, ...] = get_args(CallChange)

# Flags a call taker can set. Which of them are safety concerns is the policy's choice.
SafetyFlag = Literal[
    "weapon", "violence", "threat_to_others", "crime_in_progress", "medical_emergency"
]
SAFETY_FLAGS: tuple[SafetyFlag, ...] = get_args(SafetyFlag)
DEFAULT_SAFETY_CONCERNS: frozenset[SafetyFlag] = frozenset(
    {"weapon", "violence", "threat_to_others", "crime_in_progress"}
)
# The flags every policy must count as safety concerns (law enforcement leads when a weapon
# or violence is flagged: the CIT model); threats and a crime in progress stay the agency's
# call. A policy stored before the rule routes by its own flags until it is next PUT.
ALWAYS_SAFETY: tuple[SafetyFlag, ...] = ("weapon", "violence")

# Who leads a response, and the part each recommended unit plays. The order of UnitRole
# is the order units are listed in a recommendation.
Lead = Literal["mental_health", "law_enforcement"]
LEADS: tuple[Lead, ...] = get_args(Lead)
UnitRole = Literal["lead", "backup", "support", "stabilize"]
UNIT_ROLES: tuple[UnitRole, ...] = get_args(UnitRole)
# The parts each kind of unit plays (docs/routing.md): an officer backs up a mental-health
# lead or holds the scene for a CIT officer; a co-responder supports a law-enforcement lead.
ROLES_OF: dict[ResponderType, tuple[UnitRole, ...]] = {
    "officer": ("lead", "backup", "stabilize"),
    "co_responder": ("lead", "support"),
}

# The lead a unit of each kind makes: mental health for a co-responder.
LEAD_OF: dict[ResponderType, Lead] = {
    "officer": "law_enforcement",
    "co_responder": "mental_health",
}

# What a recommendation asks for besides units, and what it warns about, in listing order.
Request = Literal["ems", "mh_phone_consult", "cit_when_available"]
REQUESTS: tuple[Request, ...] = get_args(Request)
WarningCode = Literal[
    "no_unit_on_call",
    "no_cit_in_district",
    "cit_from_adjacent_district",
    "no_cit_available",
    "no_co_responder_available",
    "co_responder_from_adjacent_district",
    "no_youth_specialist",
    "no_units_available",
    "location_outside_district",
    "unknown_nature",
    "eta_unknown",
    "caution_not_read",
]
WARNING_CODES: tuple[WarningCode, ...] = get_args(WarningCode)
# The warnings that tell of capacity the program lacks, not of a dispatcher's choice: the
# outcome report counts them (docs/reports.md). A call left without units by one going out
# of service is news of the call; a location outside the district given, an unknown nature
# or a unit's unknown location is a gap in the data sent, not in the program's capacity.
CAPACITY_WARNINGS: tuple[WarningCode, ...] = tuple(
    code
    for code in WARNING_CODES
    if code
    not in (
        "no_unit_on_call",
        "location_outside_district",
        "unknown_nature",
        "eta_unknown",
        "caution_not_read",
    )
)

# Why a dispatch differs from the recommendation (docs/api.md, "Dispatch and clearing").
OverrideCode = Literal[
    "closer_unit",
    "unit_busy_in_field",
    "new_safety_information",
    "specialty_needed",
    "caller_request",
    "supervisor_decision",
    "other",
]
OVERRIDE_CODES: tuple[OverrideCode, ...] = get_args(OverrideCode)

# Where a cleared call's subject was diverted to.
DivertedTo = Literal["crisis_center", "mh_outpatient", "hospital", "detox", "jail", "none"]
DIVERTED_TO: tuple[DivertedTo, ...] = get_args(DivertedTo)

# How a call ended for the person in crisis, recorded when it is cleared.
Outcome = Literal[
    "resolved_on_scene",
    "referred",
    "transported_voluntary",
    "involuntary_hold",
    "arrest",
    "citation",
    "gone_on_arrival",
    "unfounded",
    "cancelled",
    "refused_services",
]
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)
# Each outcome's APCO ANS 1.111.2 common disposition code (the EIDO registry
# EIDO-CommonDispositionCode, NENA-STA-021 section 3.5), for the EIDO export.
APCO_DISPOSITION: dict[Outcome, str] = {
    "resolved_on_scene": "18",  # Assignment Completed/Settled By Contact
    "referred": "15",  # Referred to partner agency
    "transported_voluntary": "16",  # Transport/Escort Given
    "involuntary_hold": "16",  # Transport/Escort Given (to an evaluation facility)
    "arrest": "03",  # Arrest
    "citation": "04",  # Citation Issued (Verbal Or Written)
    "gone_on_arrival": "14",  # Gone On Arrival/Unable To Locate
    "unfounded": "02",  # No Report Taken
    "cancelled": "32",  # Cancelled (Prior to Arrival at Scene)
    "refused_services": "42",  # Patient Refused Evaluation/Care
}
# The APCO ANS 2.103.2 common incident types: the EIDO registry EIDO-IncidentType-Common
# (NENA-STA-021 section 3.2), in its order. A call's `nature` is one of these, a code its
# agency's policy names, or free text (warning `unknown_nature`). tests/test_incident_types.py
# checks the list against the standard's table. Written as words, not 245 quoted lines.
APCO_INCIDENT_TYPES: frozenset[str] = frozenset(
    """
NONEMERG 911H 911OPN ABDOM ABDUCTF ABDUCTNF ABUSE ACCIND ACTSHOOT ADMIN AIR AIRINC ALIEN
ALLERGIC ALMA ALMB ALMH ALMR ALRBA ALRBOX ALRBS ALRCO ALRCO2 ALRDEFIB ALRF ALRGAS
ALRHEAT ALRKPAD ALRMED ALRNGAS ALRPANA ALRPANS ALRPROPN ALRPULL ALRROBA ALRROBS ALRU
ALRVEH ALRWTR ALS ANIMAL ASSAULT ASSIST ATL BACK BARICADE BIO BITE BLDCLPSE BLEEDING BLS
BOMB BRGCLPSE BURGLARY BURN CARDIAC CARJACK CDX CHEMICAL CHESPAIN CHOKE CITASST CIVDIS
CIVIL CNTRFT COURT CRIMPS CRIMTRAF CRWD CU1 CU2 CU3 CURFEW CUST DEATH DEATHNTF DIABETIC
DISORD DISVEH DMPX DROWN DRUGPAR DRUGS DUI DVA DVNA EDP ELEC ELECHZD ELUDING ENTRAP
ESCAPE EXPLOS EXPOSURE EXTORT EYE FAIRC FALL FAM FAPT FARSON FAS FASX FBRUSH FELEC FFUEL
FIGHT FIREWRKS FMARINE FORCENTR FOTHER FRAUD FREPORT FSMOKE FSTRU FTRAILER FTRAIN FTRASH
FTRUCK FUNK FVEH GASLEAK GASLEAKI GASLEAKO HARR HATE HAZ HAZMAT HEADACHE HEMRG HLP1 HLP2
HOLD HOMICIDE HOSTAGE IMP INDECENT INFO INTERNET INTOX INVEST JUV LARCENY LIQUOR
MAJORINC MAYDAY MCI MISBOATR MISCON MNTL MTLV MVA MVAHR MVAINJY MVAUNK MVCP NCIC
NCRASLTWF NCRCPRF NCRELEV NCRFACTR NCRMUAIDF NCRNDE NCRNONE NCRTASKFORCE NCRTESTF
NCRTRANS NEGLECT NOISE OD ODOR OPEN ORDERV PANDEMIC PARKING PERFND PERMISS PERSUSP
PERUNCON PERWANT PHANDLE PREG PROPFND PROPLOST PROPSTLN PROW PUBWKS PURSUIT RADIAT
RECKDRV REPO RESCUE RESIST RESP RESPARR ROBBERY RUNAWAY SAR SCH SCRM SEIZURE SEXOFFNS
SHOOT SHOPLIFT SICK SLMP SMOKING SOL STABBING STDBY STKX STROKE SUBJSTP SUICIDE SUICTHRT
SUSP TERROR THAZ THREATS TOW TRAIN TRAINDRL TRANSFER TRAUMA TRAUMAP TRESPASS TROUBLE
TRUANT TSTOP VAG VANDAL VEHABND VEHASST VEHLOCK VEHREC VEHSTLN VEHSUSP VICE WARRANT
WATER WEAPON WELFARE WILDLIFE WIRES XTRICATE
    """.split()  # noqa: SIM905
)
# A call is diverted to mental-health services when it went to one of these, or its
# outcome is `referred`; it is justice-involved when its outcome is an arrest or a
# citation, or it went to jail (docs/reports.md).
MH_SERVICES: tuple[DivertedTo, ...] = ("crisis_center", "mh_outpatient", "hospital", "detox")
MH_OUTCOMES: tuple[Outcome, ...] = ("referred",)
JUSTICE_OUTCOMES: tuple[Outcome, ...] = ("arrest", "citation")
JUSTICE_PLACES: tuple[DivertedTo, ...] = ("jail",)

# The two kinds of coverage the program watches: CIT officers and co-responders.
CoverageKind = Literal["cit", "co_responder"]
COVERAGE_KINDS: tuple[CoverageKind, ...] = get_args(CoverageKind)

# Why a shift on the roster does not count for coverage: its officer left before it ended,
# or its responder was not active (a co-responder deactivated; or not active when the shift
# ended, and made active again since). GET /v1/shifts tells it on each shift.
NotCountedCode = Literal["responder_left", "responder_inactive"]

# How the outcome report groups calls.
OutcomesGroupBy = Literal["none", "district", "month", "lead"]
OUTCOMES_GROUP_BY: tuple[OutcomesGroupBy, ...] = get_args(OutcomesGroupBy)
# What the outcome report says of a call's first dispatch: the kind of the unit sent as
# lead, that the first dispatch sent no unit as lead, or that the call was never dispatched.
DispatchedLead = Literal["mental_health", "law_enforcement", "no_lead_sent", "not_dispatched"]
DISPATCHED_LEADS: tuple[DispatchedLead, ...] = get_args(DispatchedLead)

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
    "coverage.gap_ahead",
    "coverage.gap_closed",
    "certification.expiring",
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
