"""The STA-021 registries (NENA-STA-021.1b section 3) the service reads and writes, and
how its own words map onto them."""

from __future__ import annotations

from app.vocabulary import SAFETY_FLAGS, ResponderType, SafetyFlag, UnitStatus

# The Incident Tracking Identifier's form (NENA-STA-010): urn:emergency:uid:incidentid:…
# (the URN's letters are case-insensitive).
INCIDENT_ID_PREFIX = "urn:emergency:uid:incidentid:"


# ASCII letters only: str.lower() also folds other scripts, and may lengthen a string
# ("İ" becomes two characters); a domain name is ASCII (IDNs in punycode). Migration 0026
# restates this rule for the ids stored before it.
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def has_incident_prefix(value: str) -> bool:
    """Whether value begins with the prefix, its letters in any case."""
    return value[: len(INCIDENT_ID_PREFIX)].translate(_ASCII_LOWER) == INCIDENT_ID_PREFIX


def _parts(value: str) -> tuple[str, str] | None:
    """The unique id and the agency's id of an Incident Tracking Identifier, else None.
    A URN has no spaces or control characters: a value with any is no such id."""
    if not has_incident_prefix(value):
        return None
    if any(c.isspace() or not c.isprintable() for c in value):
        return None
    unique, _, agency = value[len(INCIDENT_ID_PREFIX) :].partition(":")
    return (unique, agency) if unique and agency else None


def is_incident_id(value: str) -> bool:
    """Whether value has STA-010's form: the prefix, a unique id, ':', the agency's id, and
    no spaces or control characters. Import refuses any other $id, and the export assigns
    its own to a call whose external_id is not of this form, so what one writes the other
    reads."""
    return _parts(value) is not None


def canonical_incident_id(value: str) -> str:
    """One spelling for the ids that name one incident: the prefix's letters in lower case
    (the URN scheme and namespace, `urn:emergency`, are case-insensitive by RFC 8141; the
    service has always read the rest of STA-010's fixed prefix so too) and the agency's id's
    too (a domain name, STA-010's Agency Identifier); the unique id as it came, since it
    may be case-sensitive. Any other value is returned as it is. Each external_id a call
    is given, and each id a call is looked up by, passes through here, so a CAD that
    spells the prefix `URN:EMERGENCY:…` updates the call it made, not a second one."""
    parts = _parts(value)
    if parts is None:
        return value
    unique, agency = parts
    return f"{INCIDENT_ID_PREFIX}{unique}:{agency.translate(_ASCII_LOWER)}"


# EIDO-IncidentType-Common: the APCO ANS 2.103.2 common incident types (section 3.2).
INCIDENT_TYPES: frozenset[str] = frozenset(
    {
        "911H",
        "911OPN",
        "ABDOM",
        "ABDUCTF",
        "ABDUCTNF",
        "ABUSE",
        "ACCIND",
        "ACTSHOOT",
        "ADMIN",
        "AIR",
        "AIRINC",
        "ALIEN",
        "ALLERGIC",
        "ALMA",
        "ALMB",
        "ALMH",
        "ALMR",
        "ALRBA",
        "ALRBOX",
        "ALRBS",
        "ALRCO",
        "ALRCO2",
        "ALRDEFIB",
        "ALRF",
        "ALRGAS",
        "ALRHEAT",
        "ALRKPAD",
        "ALRMED",
        "ALRNGAS",
        "ALRPANA",
        "ALRPANS",
        "ALRPROPN",
        "ALRPULL",
        "ALRROBA",
        "ALRROBS",
        "ALRU",
        "ALRVEH",
        "ALRWTR",
        "ALS",
        "ANIMAL",
        "ASSAULT",
        "ASSIST",
        "ATL",
        "BACK",
        "BARICADE",
        "BIO",
        "BITE",
        "BLDCLPSE",
        "BLEEDING",
        "BLS",
        "BOMB",
        "BRGCLPSE",
        "BURGLARY",
        "BURN",
        "CARDIAC",
        "CARJACK",
        "CDX",
        "CHEMICAL",
        "CHESPAIN",
        "CHOKE",
        "CITASST",
        "CIVDIS",
        "CIVIL",
        "CNTRFT",
        "COURT",
        "CRIMPS",
        "CRIMTRAF",
        "CRWD",
        "CU1",
        "CU2",
        "CU3",
        "CURFEW",
        "CUST",
        "DEATH",
        "DEATHNTF",
        "DIABETIC",
        "DISORD",
        "DISVEH",
        "DMPX",
        "DROWN",
        "DRUGPAR",
        "DRUGS",
        "DUI",
        "DVA",
        "DVNA",
        "EDP",
        "ELEC",
        "ELECHZD",
        "ELUDING",
        "ENTRAP",
        "ESCAPE",
        "EXPLOS",
        "EXPOSURE",
        "EXTORT",
        "EYE",
        "FAIRC",
        "FALL",
        "FAM",
        "FAPT",
        "FARSON",
        "FAS",
        "FASX",
        "FBRUSH",
        "FELEC",
        "FFUEL",
        "FIGHT",
        "FIREWRKS",
        "FMARINE",
        "FORCENTR",
        "FOTHER",
        "FRAUD",
        "FREPORT",
        "FSMOKE",
        "FSTRU",
        "FTRAILER",
        "FTRAIN",
        "FTRASH",
        "FTRUCK",
        "FUNK",
        "FVEH",
        "GASLEAK",
        "GASLEAKI",
        "GASLEAKO",
        "HARR",
        "HATE",
        "HAZ",
        "HAZMAT",
        "HEADACHE",
        "HEMRG",
        "HLP1",
        "HLP2",
        "HOLD",
        "HOMICIDE",
        "HOSTAGE",
        "IMP",
        "INDECENT",
        "INFO",
        "INTERNET",
        "INTOX",
        "INVEST",
        "JUV",
        "LARCENY",
        "LIQUOR",
        "MAJORINC",
        "MAYDAY",
        "MCI",
        "MISBOATR",
        "MISCON",
        "MNTL",
        "MTLV",
        "MVA",
        "MVAHR",
        "MVAINJY",
        "MVAUNK",
        "MVCP",
        "NCIC",
        "NCRASLTWF",
        "NCRCPRF",
        "NCRELEV",
        "NCRFACTR",
        "NCRMUAIDF",
        "NCRNDE",
        "NCRNONE",
        "NCRTASKFORCE",
        "NCRTESTF",
        "NCRTRANS",
        "NEGLECT",
        "NOISE",
        "NONEMERG",
        "OD",
        "ODOR",
        "OPEN",
        "ORDERV",
        "PANDEMIC",
        "PARKING",
        "PERFND",
        "PERMISS",
        "PERSUSP",
        "PERUNCON",
        "PERWANT",
        "PHANDLE",
        "PREG",
        "PROPFND",
        "PROPLOST",
        "PROPSTLN",
        "PROW",
        "PUBWKS",
        "PURSUIT",
        "RADIAT",
        "RECKDRV",
        "REPO",
        "RESCUE",
        "RESIST",
        "RESP",
        "RESPARR",
        "ROBBERY",
        "RUNAWAY",
        "SAR",
        "SCH",
        "SCRM",
        "SEIZURE",
        "SEXOFFNS",
        "SHOOT",
        "SHOPLIFT",
        "SICK",
        "SLMP",
        "SMOKING",
        "SOL",
        "STABBING",
        "STDBY",
        "STKX",
        "STROKE",
        "SUBJSTP",
        "SUICIDE",
        "SUICTHRT",
        "SUSP",
        "TERROR",
        "THAZ",
        "THREATS",
        "TOW",
        "TRAIN",
        "TRAINDRL",
        "TRANSFER",
        "TRAUMA",
        "TRAUMAP",
        "TRESPASS",
        "TROUBLE",
        "TRUANT",
        "TSTOP",
        "VAG",
        "VANDAL",
        "VEHABND",
        "VEHASST",
        "VEHLOCK",
        "VEHREC",
        "VEHSTLN",
        "VEHSUSP",
        "VICE",
        "WARRANT",
        "WATER",
        "WEAPON",
        "WELFARE",
        "WILDLIFE",
        "WIRES",
        "XTRICATE",
    }
)
# A crisis call whose nature is not a common incident type (free text, or none) is sent
# as "EDP, Emotional Disturbance, Abnormal Behavior", with its own nature as internal text.
CRISIS_INCIDENT_TYPE = "EDP"


def common_incident_type(nature: str | None) -> str:
    """The common incident type a call of this nature is sent as."""
    code = (nature or "").strip().upper()
    return code if code in INCIDENT_TYPES else CRISIS_INCIDENT_TYPE


# EIDO-EmergencyResourceType-Common (section 3.11) of each kind of unit, and the resource
# attribute (section 3.12) a CIT-certified officer carries.
RESOURCE_TYPE: dict[ResponderType, str] = {
    "officer": "PatrolUnit",
    "co_responder": "CrisisInterventionUnit",
}
CIT_ATTRIBUTE = "CrisisInterventionSpecialist"

# A unit's status as EIDO-PrimaryUnitStatus-Common (section 3.9) and
# EIDO-SecondaryUnitStatus-Common (section 3.10): its live one while it is on the call, the
# one it was released into once released (out of service: NotAvailable, never Available,
# which says a unit may be dispatched).
PRIMARY_STATUS: dict[UnitStatus, str] = {
    "available": "Available",
    "dispatched": "NotAvailable",
    "en_route": "NotAvailable",
    "on_scene": "NotAvailable",
    "transporting": "NotAvailable",
    "out_of_service": "NotAvailable",
}
SECONDARY_STATUS: dict[UnitStatus, str] = {
    "available": "Cleared",
    "dispatched": "Dispatched",
    "en_route": "EnRoute",
    "on_scene": "OnScene",
    "transporting": "Transporting",
    "out_of_service": "OutofService",
}
# What a unit released from the call is, on the call: it has cleared it (and, released out
# of service, OutofService beside it).
RELEASED_STATUS = "Cleared"

# EIDO-IncidentStatus-Common (section 3.3): an incident that is over. (The export sends
# Closed for a cleared call.)
CLOSED_STATUS = "Closed"
_ENDED = frozenset({"closed", "cancelled"})


def _said(statuses: object) -> set[str]:
    """An incident's common statuses, each trimmed and in lower case (none if not a list)."""
    if not isinstance(statuses, list):
        return set()
    return {s.strip().lower() for s in statuses if isinstance(s, str)}


def has_ended(statuses: object) -> bool:
    """Whether an incident's common statuses say it is over: Closed or Cancelled, and not
    ReOpened (in any case, as incident types are read)."""
    said = _said(statuses)
    return not _ENDED.isdisjoint(said) and "reopened" not in said


def said_any(statuses: object) -> bool:
    """Whether an incident's common statuses say anything (a list with a status in it)."""
    return bool(_said(statuses) - {""})


def has_reopened(statuses: object) -> bool:
    """Whether an incident's common statuses say ReOpened: the CAD took up an incident
    that had ended."""
    return "reopened" in _said(statuses)


def has_been_cancelled(statuses: object) -> bool:
    """Whether an ended incident's common statuses say Cancelled (not Closed)."""
    said = _said(statuses)
    return "cancelled" in said and "closed" not in said


# EIDO-CommonDispositionCode (section 3.5, from APCO ANS 1.111.2-2018): the two-digit codes
# 01 to 45. 46 to 100 are held for future versions: reserved, they mean nothing yet.
DISPOSITION_CODES: frozenset[str] = frozenset(f"{code:02d}" for code in range(1, 46))


def disposition_code(text: str) -> str | None:
    """The registry's code a dispositionCommonRegistryCode names, as the registry writes it,
    else None. Whitespace around it is ignored, and one digit is read as the two-digit code
    it stands for ("3" is "03", Arrest): APCO's codes are two-digit integers, and a CAD may
    send one as a number's text. Nothing else is: "003", "3.0", "ABC", reserved "99"."""
    code = text.strip()
    if not (code.isascii() and code.isdigit() and 1 <= len(code) <= 2):
        return None
    code = code.rjust(2, "0")
    return code if code in DISPOSITION_CODES else None


# EIDO-LocationType (section 3.8): where an incident's location is looked for, best first.
# Units', staging and cell tower locations never place a call.
INCIDENT_LOCATION_TYPES = (
    "CurrentIncident",
    "InitialIncident",
    "Caller",
    "RoutingLocation",
    "Other",
    "Investigation",
)

# STA-021's location data component (section 2.18) lists two of the location types otherwise
# than the registry it points to (section 3.8) writes them: "Initial" for InitialIncident and
# "Tower Location" for TowerLocation. A CAD that follows the table sends those spellings; each
# is read as the registry value it stands for (in any case and trimmed, as registry values
# are: app/eido/incoming.py, _rank).
_LOCATION_TYPE_SPELLINGS = {"initial": "InitialIncident", "tower location": "TowerLocation"}


def location_type(text: str) -> str:
    """The registry value a location type stands for: the registry's own spelling for the
    section 2.18 table's "Initial" or "Tower Location", else text as it came."""
    return _LOCATION_TYPE_SPELLINGS.get(text.strip().lower(), text)


# EIDO-PersonRole (section 3.6): whose age is the subject's, best first. A caller's,
# witness's or relative's age is not.
SUBJECT_ROLES = ("Patient", "InvolvedPerson", "PersonOfInterest", "Victim", "Suspect")

# A call's safety flags travel as caution components (cautionComponent), one per flag set.
# STA-021 names no caution registry, so each goes as the flag's own word in CamelCase, as
# the registries write theirs, and with the severity a receiving dispatcher should give it.
CAUTION_TYPE: dict[SafetyFlag, str] = {
    "weapon": "Weapon",
    "violence": "Violence",
    "threat_to_others": "ThreatToOthers",
    "crime_in_progress": "CrimeInProgress",
    "medical_emergency": "MedicalEmergency",
}
CAUTION_SEVERITY: dict[SafetyFlag, str] = {
    "weapon": "highest",
    "violence": "highest",
    "threat_to_others": "highest",
    "crime_in_progress": "high",
    "medical_emergency": "high",
}


def _squeezed(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


# Words other CADs use for the same cautions (squeezed as below), each a caution's whole
# type: a caution's text is never read word by word ("threatening suicide" is no threat to
# others, "armed forces veteran" no weapon, "no weapons seen" none), and one not read is
# told to a dispatcher instead (app/eido/incoming.py). "Officer Safety" says nothing of
# which danger (a dog, or a gun), so it is one of those.
_CAUTION_SYNONYMS: dict[SafetyFlag, tuple[str, ...]] = {
    "weapon": (
        "weapons",
        "armed",
        "firearm",
        "firearms",
        "gun",
        "guns",
        "knife",
        "knives",
        "armedanddangerous",
        "weaponinvolved",
        "weaponsinvolved",
    ),
    "violence": ("violent", "assaultive", "combative"),
    "threat_to_others": ("threat", "threats", "threatening", "threattolife", "threatstoothers"),
    "crime_in_progress": ("inprogress",),
    "medical_emergency": ("medical", "medicalcondition"),
}
_CAUTION_FLAGS: dict[str, SafetyFlag] = {
    _squeezed(word): flag
    for flag in SAFETY_FLAGS
    for word in (flag, CAUTION_TYPE[flag], *_CAUTION_SYNONYMS[flag])
}


# Words a caution's type may hold that say nothing of it ("Other", "Unknown"): beside a text
# that raises a flag, they leave nothing unread (squeezed as above).
_CAUTION_PLACEHOLDERS = frozenset(
    {"other", "others", "unknown", "none", "general", "misc", "miscellaneous", "na"}
)


def caution_says_nothing(text: object) -> bool:
    """Whether a caution's text is only a placeholder ("Other", "N/A") or blank."""
    return not isinstance(text, str) or _squeezed(text) in _CAUTION_PLACEHOLDERS | {""}


def caution_flag(text: object) -> SafetyFlag | None:
    """The safety flag a caution's type names (its registry text, the agency's own word or
    a common synonym, in any case, with or without separators: "Weapon",
    "threat_to_others", "Firearm"), if any."""
    return _CAUTION_FLAGS.get(_squeezed(text)) if isinstance(text, str) else None
