"""An EIDO document coming in: validated against the schema, then read as the facts a call
is made of (docs/api.md, "EIDO")."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from typing import Any

from app.eido import age as ages
from app.eido import location, notes, registry, schema
from app.eido.schema import EidoInvalid
from app.vocabulary import (
    APCO_DISPOSITION,
    DISPOSITION_MAX,
    OUTCOMES,
    Outcome,
    SafetyFlag,
    one_line,
)

# The longest incident id an external_id may hold (the API's and the database's limit).
MAX_INCIDENT_ID = 255

Loc = location.Loc


@dataclass(frozen=True, slots=True, kw_only=True)
class IncidentFacts:
    """What a call takes from an EIDO; None where the document says nothing of it."""

    incident_id: str
    updated_at: datetime
    nature: str | None
    # incidentTypeInternalText: the agency's own words for the type (a free-text nature,
    # which the export sends as EDP).
    nature_text: str | None
    # Where the facts below came from in the document, for error messages.
    nature_loc: Loc
    point: tuple[float, float] | None
    address: str | None
    location_loc: Loc
    # Why the best-typed point given could not be read, when no point read outranks it,
    # and where (for the 422 of a call nothing else places; its line leads
    # caution_notes); and whether the document gives the incident a location at all (a
    # component of a type that places a call), read or not.
    point_unread: str | None = None
    point_unread_loc: Loc = ()
    located: bool = False
    # A worse-typed point read beside the best-typed one not read (location.Place's):
    # it places a new call nothing else places, and is not the call's point.
    fallback_point: tuple[float, float] | None = None
    beat: str | None
    age: int | None
    age_loc: Loc
    notes: str | None
    received_at: datetime | None
    # The safety flags the document's cautions raise (app/eido/registry.py, caution_flag),
    # and how many cautions with words that raise none to warn of: the words close the
    # notes, and the call's recommendation warns of them (caution_not_read).
    safety: frozenset[SafetyFlag]
    unread_cautions: int
    # The notes the document's notesComponents give alone (None: none), as a call imported
    # before migration 0033 holds them; the lines telling the point, the subject's age and
    # the cautions not read (in `notes`, after them); whether the document has any
    # cautionComponent; and whether it gives the subject an age, read or not.
    own_notes: str | None = None
    caution_notes: tuple[str, ...] = ()
    cautioned: bool = False
    aged: bool = False
    # How it ended, for the call it clears (the primary disposition, or Cancelled's); None
    # while its common status does not say it is over (Closed or Cancelled, not ReOpened).
    closure: Closure | None
    # Whether its common status says ReOpened: an incident that had ended taken up again.
    # None when it tells no common status (the schema does not require one): a CAD's
    # partial update says nothing about whether the incident is still reopened.
    reopened: bool | None = False
    # Who issued the document (issuingElementIdentification) and the issuer's own id of the
    # incident (incidentComponent.internalIncidentId): this service's export gives its
    # name and the CAD's number of the call, or the call's id (outgoing.internal_incident_id).
    issuer: str | None
    internal_id: str | None

    @property
    def ended(self) -> bool:
        """The incident's common status says it is over."""
        return self.closure is not None


@dataclass(frozen=True, slots=True)
class Closure:
    """What an ended incident's documents say of its end: the disposition a cleared call
    records (text) and, when the APCO code or category names one, its outcome."""

    disposition: str
    outcome: Outcome | None


# An APCO common disposition code that only one outcome exports as (16 is two outcomes').
_OUTCOME_OF_CODE: dict[str, Outcome] = {
    code: outcome
    for outcome, code in APCO_DISPOSITION.items()
    if list(APCO_DISPOSITION.values()).count(code) == 1
}


def _disposition_code(index: int, disposition: Mapping[str, Any]) -> str:
    """The registry code (registry.disposition_code) of the disposition a cleared call
    takes. Raises EidoInvalid for a code the registry does not have: the schema allows only
    its codes, and one the call would keep is told, not cleared as "APCO disposition ABC".
    (Only this one is checked: a CAD's own code in a disposition the service reads nothing
    of, on an open incident or beside the primary, would otherwise lose the whole update.)"""
    sent = _text(disposition.get("dispositionCommonRegistryCode")) or ""
    code = registry.disposition_code(sent)
    if code is None:
        shown = sent.strip()
        named = f" {shown!r}" if 0 < len(shown) <= 8 and shown.isprintable() else ""
        raise EidoInvalid(
            f"the dispositionCommonRegistryCode{named} is not in the Common Disposition"
            " Code registry (01 to 45)",
            ("incidentComponent", "dispositionComponent", index, "dispositionCommonRegistryCode"),
        )
    return code


def _closure(incident: Mapping[str, Any], statuses: object) -> Closure | None:
    """The ended incident's primary disposition (else its first), as a cleared call keeps
    it: the description, else the APCO code; the outcome its category names (this service's
    export writes the outcome there) or its code alone maps to. Cancelled, with no
    disposition, is the outcome `cancelled`."""
    if not registry.has_ended(statuses):
        return None
    found = [
        (i, d) for i, d in _components(incident, "dispositionComponent") if isinstance(d, dict)
    ]
    found.sort(key=lambda entry: entry[1].get("dispositionPrimaryIndicator") is not True)
    if not found:
        cancelled = registry.has_been_cancelled(statuses)
        return Closure(
            disposition=f"{'Cancelled' if cancelled else 'Closed'} in the CAD (EIDO)",
            outcome="cancelled" if cancelled else None,
        )
    index, primary = found[0]
    code = _disposition_code(index, primary)
    category = _text(primary.get("dispositionCategoryText"))
    outcome: Outcome | None = next((o for o in OUTCOMES if o == category), None)
    if outcome is None:
        outcome = _OUTCOME_OF_CODE.get(code)
    text = _shown(_text(primary.get("dispositionDescriptionText")), at_most=DISPOSITION_MAX)
    return Closure(disposition=text or f"APCO disposition {code} (EIDO)", outcome=outcome)


def _shown(text: str | None, *, at_most: int | None = None) -> str:
    """A document's text as a cleared call's disposition may hold it (VISIBLE, in
    app/schemas/common.py: no NUL, something seen): on one line, cut to at_most characters,
    "" when nothing is seen in what is kept (marks that take no space before the words); a
    lone surrogate "?" (notes.storable: the clear refused it, a 500)."""
    line = notes.storable(one_line(text or ""))
    return line if at_most is None else one_line(line[:at_most])


def _components(document: Mapping[str, Any], name: str) -> list[tuple[int, dict[str, Any]]]:
    found = document.get(name)
    return list(enumerate(found)) if isinstance(found, list) else []


def _rank(value: object, best_first: tuple[str, ...]) -> int | None:
    """Where a registry value stands in best_first, read in any case and trimmed, as
    incident types and statuses are. The registries' values are tokens of one spelling,
    but none differs from another by case alone, so a CAD's "currentIncident" can only mean
    CurrentIncident: matched exactly, its location was ignored, and the call placed
    elsewhere or refused for want of a place (and a "patient"'s age was not the subject's)."""
    if not isinstance(value, str):
        return None
    said = value.strip().lower()
    return next((rank for rank, known in enumerate(best_first) if known.lower() == said), None)


def _location(document: Mapping[str, Any]) -> location.Place:
    """The incident's place (app/eido/location.py), each location component ranked by its
    type, read as _rank reads it (STA-021's location table writes two types otherwise than
    its registry: registry.location_type)."""
    ranked: list[tuple[int | None, int, Mapping[str, Any]]] = []
    for index, component in _components(document, "locationComponent"):
        kind = component.get("locationTypeDescriptionRegistryText")
        if isinstance(kind, str):
            kind = registry.location_type(kind)
        ranked.append((_rank(kind, registry.INCIDENT_LOCATION_TYPES), index, component))
    return location.place(ranked)


def _subject_age(document: Mapping[str, Any], on: date) -> tuple[int | None, Loc, list[str]]:
    """The age of the person in crisis: the first person, by role, whose age is known;
    and the line telling one in a unit not read (then no age: not another person's)."""
    ranked: list[tuple[int, int, dict[str, Any]]] = []
    for index, person in _components(document, "personComponent"):
        roles = person.get("personIncidentRoleRegistryText", [])
        ranks = [rank for r in roles if (rank := _rank(r, registry.SUBJECT_ROLES)) is not None]
        if ranks:
            ranked.append((min(ranks), index, person))
    for _, index, person in sorted(ranked, key=lambda entry: entry[:2]):
        try:
            age, element = ages.age(person, on)
        except ages.AgeNotRead as unread:
            return None, (), [unread.line]
        except EidoInvalid as exc:
            raise EidoInvalid(
                exc.message, ("personComponent", index, "ncPersonComponent")
            ) from None
        if age is not None:
            return age, ("personComponent", index, "ncPersonComponent", str(element)), []
    return None, (), []


def _note_texts(document: Mapping[str, Any]) -> list[str]:
    """Every note, oldest first, storable (a lone surrogate made the whole document a 422,
    its cautions lost with it)."""
    found = [
        (_when(note["lastUpdateTimeStamp"]), index, notes.storable(note["notesActionComments"]))
        for index, note in _components(document, "notesComponent")
    ]
    return [text for _, _, text in sorted(found, key=lambda n: n[:2]) if text.strip()]


def _notes(document: Mapping[str, Any], unread: list[str]) -> str | None:
    """Every note, oldest first, one paragraph each, then one paragraph for each caution
    not read as a safety flag; the last NOTES_MAX characters (the cautions kept first)."""
    return notes.joined_notes([*_note_texts(document), *unread])


def _safety(
    document: Mapping[str, Any], le_leads: frozenset[SafetyFlag]
) -> tuple[frozenset[SafetyFlag], list[str], int]:
    """The safety flags the document's cautions raise, the lines telling those with words
    that raise none, and how many of those to warn of (app/eido/notes.py, read_cautions)."""
    return notes.read_cautions(
        [caution for _, caution in _components(document, "cautionComponent")],
        le_leads=le_leads,
    )


def _when(timestamp: str) -> datetime:
    """A timestamp the schema has checked."""
    return schema.parse_timestamp(timestamp) or datetime.min.replace(tzinfo=UTC)


def _received_at(document: Mapping[str, Any]) -> datetime | None:
    """When the first call about the incident started."""
    starts = [
        _when(call["callStartTimestamp"]) for _, call in _components(document, "callComponent")
    ]
    return min(starts, default=None)


def read(
    document: Any,
    *,
    zone: tzinfo,
    le_leads: frozenset[SafetyFlag] = frozenset(),
    valid: bool = False,
) -> IncidentFacts:
    """Check the document against the EIDO schema (unless schema.is_valid said it is:
    valid=True) and read the incident's facts from it, for an agency in zone (a subject's
    age from a birth date is the age on the agency's date of the document's time, as every
    date the routing reads: the same instant written in UTC or with the agency's offset
    made a 17-year-old 18, and lose the youth specialist) whose policy has law enforcement
    lead for good the flags of le_leads (notes.read_cautions; none: every caution told is
    warned of).

    Raises EidoInvalid, with the path to the element, for the first problem found.
    """
    if not valid:
        schema.check(document)
    incident_id: str = document["$id"]
    if not registry.has_incident_prefix(incident_id):
        raise EidoInvalid(
            f"$id must be an Incident Tracking Identifier ({registry.INCIDENT_ID_PREFIX}…)",
            ("$id",),
        )
    if any(c.isspace() or not c.isprintable() for c in incident_id):
        raise EidoInvalid("$id must be a URN: no spaces or control characters", ("$id",))
    if not registry.is_incident_id(incident_id):
        raise EidoInvalid(
            f"$id must be {registry.INCIDENT_ID_PREFIX}<unique id>:<agency id> (NENA-STA-010)",
            ("$id",),
        )
    if len(incident_id) > MAX_INCIDENT_ID or "\x00" in incident_id:
        raise EidoInvalid(
            f"$id must be at most {MAX_INCIDENT_ID} characters, without NUL", ("$id",)
        )
    incident_id = registry.canonical_incident_id(incident_id)
    updated_at = _when(document["lastUpdateTimeStamp"])
    incident = document.get("incidentComponent", {})
    nature = incident.get("incidentTypeCommonRegistryText")
    beat = incident.get("beatOrDispatchGroupText")
    text = incident.get("incidentTypeInternalText")
    status = incident.get("incidentStatusCommonRegistryText")
    place = _location(document)
    age, age_loc, age_unread = _subject_age(document, updated_at.astimezone(zone).date())
    safety, unread, unread_count = _safety(document, le_leads)
    # A point or an age not read is told as a caution not read is, before those lines.
    point_unread = [] if place.unread is None else [place.unread.line]
    unread = [*point_unread, *age_unread, *unread]
    return IncidentFacts(
        incident_id=incident_id,
        updated_at=updated_at,
        nature=nature.strip() or None if isinstance(nature, str) else None,
        nature_text=text.strip() or None if isinstance(text, str) else None,
        nature_loc=("incidentComponent", "incidentTypeCommonRegistryText"),
        point=place.point,
        address=place.address,
        location_loc=place.loc,
        point_unread=None if place.unread is None else place.unread.why,
        point_unread_loc=() if place.unread is None else place.unread.loc,
        located=place.located,
        fallback_point=place.fallback,
        beat=beat.strip() or None if isinstance(beat, str) else None,
        age=age,
        age_loc=age_loc,
        notes=_notes(document, unread),
        received_at=_received_at(document),
        safety=safety,
        unread_cautions=unread_count,
        own_notes=notes.joined_notes(_note_texts(document)),
        caution_notes=tuple(unread),
        cautioned=bool(_components(document, "cautionComponent")),
        aged=age is not None or bool(age_unread),
        closure=_closure(incident, status),
        reopened=registry.has_reopened(status) if registry.said_any(status) else None,
        issuer=_text(document.get("issuingElementIdentification")),
        internal_id=_text(incident.get("internalIncidentId")),
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
