"""What an EIDO tells a call that it does not hold yet: the comparison behind an import's
update (app/services/eido.py). Pure: the document's facts and the call in, a patch out.

The call's own export coming back (a CAD echoing it) must change nothing: its place, its
free-text nature (sent as EDP) and any flag a dispatcher lowered since are the call's.
"""

from __future__ import annotations

from datetime import datetime

from app.eido import incoming, outgoing, registry
from app.eido import notes as eido_notes
from app.encryption import CALL_NOTES, DataCipher, UndecryptableValue
from app.records.calls import CallRecord
from app.schemas.calls import CallCreate, CallPatch, SafetyPatch
from app.services import eido_applied


def names_this_call(facts: incoming.IncidentFacts, call: CallRecord) -> bool:
    """Whether the document says it is this service's export of this very call
    (app/eido/outgoing.py names itself the issuer, and internal_incident_id: the CAD's
    number, else the call's id; the call's id is also taken, as exports before the CAD's
    number was sent gave it)."""
    return facts.issuer == outgoing.ISSUER and facts.internal_id in {
        str(call.id),
        outgoing.internal_incident_id(call),
    }


def own_export(facts: incoming.IncidentFacts, exported_at: datetime) -> bool:
    """Whether a document naming the call (names_this_call) is its own export from before
    the call last changed, or of the state it has now: dated no later than exported_at,
    the date its export would carry now (the call's moments and its units' progress). A
    call taken by POST has no EIDO timestamp to compare a document with: without this, the
    echo of an export made before a dispatcher lowered a flag would raise it again. One
    re-dated later (a CAD that edited it) is read as any document."""
    return facts.updated_at <= exported_at


def restates(
    nature: str | None, incident_type: str, internal_text: str | None, *, ours: bool = False
) -> bool:
    """Whether a document's incident type and internal text say the call's own nature: the
    export sends a free-text nature as EDP with the text as internalText, and a call with
    no nature as EDP with none. An EDP without the call's text is a classification (a
    policy may give EDP safety flags), unless the call has no nature and the document is
    its own export (ours: names_this_call), edited and re-dated by a CAD that left the type
    as it found it."""
    if nature is None:
        return (
            ours
            and internal_text is None
            and incident_type.strip().upper() == registry.common_incident_type(None)
        )
    return (
        internal_text == nature.strip()
        and incident_type.strip().upper() == registry.common_incident_type(nature)
    )


def changes(
    call: CallRecord, body: CallCreate, facts: incoming.IncidentFacts, cipher: DataCipher
) -> CallPatch | None:
    """What the document tells that the call does not hold yet; None if nothing. What the
    document leaves out (no notes, no person's age, no caution, no point or address beside
    the same address or point, a point it gives that cannot be read) is kept, never
    erased: a safety flag is only ever raised by an EIDO (a dispatcher lowers one, by
    PATCH)."""
    location = body.location
    notes = cipher.decrypt_optional(call.notes, column=CALL_NOTES, row_id=call.id)
    place = call.location
    held = None if place is None else (place.lat, place.lon, place.address)
    new_location = None if location is None else (location.lat, location.lon, location.address)
    # An address without a point: the point held stays while the address does (the
    # document leaves it out); a new address drops it, as it placed the old one. And so for
    # a point without an address: the address held stays while the point does.
    if location is not None and place is not None:
        if location.point is None:
            new_location = held if location.address == place.address else new_location
        elif location.address is None and (location.lat, location.lon) == (place.lat, place.lon):
            new_location = held
    changed = {
        "nature": body.nature is not None
        and body.nature != call.nature
        and not restates(
            call.nature, body.nature, facts.nature_text, ours=names_this_call(facts, call)
        ),
        "location": new_location is not None and new_location != held,
        "district": body.district != call.district,
        "subject": body.subject.age is not None and body.subject.age != call.subject.get("age"),
        "notes": body.notes is not None and body.notes != notes,
    }
    raised = sorted(flag for flag in facts.safety if not call.safety.get(flag))
    changed["safety"] = bool(raised)
    if not any(changed.values()):
        return None
    return CallPatch(
        nature=body.nature if changed["nature"] else None,
        location=location if changed["location"] else None,
        district=body.district,
        subject=body.subject if changed["subject"] else None,
        notes=body.notes if changed["notes"] else None,
        safety=SafetyPatch.model_validate(dict.fromkeys(raised, True)) if raised else None,
    )


def notes_kept(
    call: CallRecord, facts: incoming.IncidentFacts, body: CallCreate, cipher: DataCipher
) -> CallCreate:
    """The document's call with the notes it gives the call. Its own notes, when they are
    those of the last document applied (eido_applied.notes_told), tell nothing, whatever
    dispatchers made of the call's notes since (a PATCH, a clear's notes): the document is
    then read as one without notes of its own, but for its cautions, which it gives as the
    CAD holds them now (none: its lines go). A document without notes of its own erases
    none: the lines telling the cautions (and a point or an age) it cannot read take the
    place of those closing the notes held, those not told there yet (their lines alone
    would have replaced the notes; added after them, lines of cautions changed since piled
    up past their budget, pushing out the CAD's notes, and told a severity changed twice).
    A cleared call takes no recommendation, so what is not read is no news to it: the
    notes held stand when the document's own notes are theirs (a call imported before
    migration 0033 holds its document's notes without the lines; one before 0036 has no
    digest of them)."""
    unchanged = eido_applied.notes_told(call, facts.own_notes, cipher)
    own_notes = None if unchanged else facts.own_notes
    if own_notes is not None and call.status != "cleared":
        return body
    if unchanged:
        body = body.model_copy(update={"notes": eido_notes.joined_notes([*facts.caution_notes])})
    try:
        held = cipher.decrypt_optional(call.notes, column=CALL_NOTES, row_id=call.id)
    except UndecryptableValue:  # compared (and refused) as changes, above, does
        return body
    if call.status == "cleared":
        if own_notes is None or (held is not None and eido_notes.holds_own_notes(held, own_notes)):
            return body.model_copy(update={"notes": None})
        return body
    if not held or not (facts.cautioned or facts.aged or facts.located or unchanged):
        return body
    # The document's lines take the place of those closing the notes (the cautions as the
    # CAD holds them now: a severity changed, a caution gone); those the notes tell before
    # them (a dispatcher's note after them, or on the line under one) are not told twice.
    # A line telling a caution is one line (one_line), so it is looked for line by line,
    # trimmed on both sides (words cut at 200 characters may end the line with a space), and
    # so are those closing the notes (a console that trims what it sends took that space).
    before, closing = eido_notes.closing_caution_lines(held)
    told = set() if before is None else {line.strip() for line in before.split("\n")}
    given = eido_notes.lines_in_place(
        facts.caution_notes,
        closing,
        located=facts.located or unchanged,
        ages=facts.aged or unchanged,
        cautions=facts.cautioned or unchanged,
    )
    new = [line for line in given if line.strip() not in told]
    if sorted(line.strip() for line in new) == sorted(line.strip() for line in closing):
        return body.model_copy(update={"notes": held})  # the same cautions, in another order
    notes = eido_notes.joined_notes([*([] if before is None else [before]), *new])
    # Lines alone, the cautions all read now: kept (notes are never emptied by a document).
    return body.model_copy(update={"notes": notes or held})
