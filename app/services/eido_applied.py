"""What a call records of the last EIDO applied to it, beside the facts it takes: the
document's `lastUpdateTimeStamp` (one no newer changes nothing), whether it said the
incident was ReOpened (a cleared call's CAD saying so again is no news; a newer document
that is no news to a cleared call records it too when it no longer says so), how many of its
cautions the recommendations warn of as not read, and a digest of its own notes, by which
a later document's notes the CAD has not changed are known to be no news, whatever
dispatchers made of the call's notes since (docs/api.md, "EIDO").

The digest is the SHA-256 of those notes, encrypted as the notes are (AES-GCM under
CIT_DATA_KEY, bound to the call's row; `rekey` moves it to the current key). Bare, anyone
reading the table could test guesses of short notes against it ("no answer at the door"),
with the call's id hashed in or not: ids are no secret. An HMAC under the data key would
hide it as well, but `rekey` holds no notes to compute one again under a new key, so
dropping the old key would lose every call's digest.
"""

from __future__ import annotations

from dataclasses import replace

from app.eido.incoming import IncidentFacts
from app.eido.notes import notes_digest
from app.encryption import CALL_EIDO_NOTES_DIGEST, DataCipher, UndecryptableValue
from app.records.calls import CallRecord


def as_applied(call: CallRecord, facts: IncidentFacts, cipher: DataCipher) -> CallRecord:
    """The call with what applying the document records of it: its timestamp, whether it
    says the incident was ReOpened, and, when it gives notes or cautions, the count of its
    cautions not read (told in the notes); the digest of its own notes when it gives notes.
    A document that leaves them out keeps those held, as it keeps the notes, and one that
    tells no common status keeps whether the last said ReOpened."""
    says = facts.own_notes is not None or facts.cautioned
    digest = call.eido_notes_digest
    if facts.own_notes is not None:
        digest = cipher.encrypt(
            notes_digest(facts.own_notes), column=CALL_EIDO_NOTES_DIGEST, row_id=call.id
        )
    return replace(
        call,
        eido_updated_at=facts.updated_at,
        unread_cautions=facts.unread_cautions if says else call.unread_cautions,
        eido_notes_digest=digest,
        eido_reopened=call.eido_reopened if facts.reopened is None else facts.reopened,
    )


def reopening_ended(call: CallRecord, facts: IncidentFacts) -> CallRecord | None:
    """The cleared call with what a newer document that is no news to it records: that the
    CAD no longer says ReOpened (a Closed after the clear), and its timestamp, so that the
    CAD reopening the incident after that is news (a 409), and a document older than this
    one, arriving late, is not. None when there is nothing to record, as for a document
    telling no common status (a partial update: it does not say the CAD closed it again)."""
    if not call.eido_reopened or facts.reopened is not False:
        return None
    return replace(call, eido_updated_at=facts.updated_at, eido_reopened=False)


def notes_told(call: CallRecord, own_notes: str | None, cipher: DataCipher) -> bool:
    """Whether a document's own notes are those of the last document applied to the call
    that gave notes: no news, whatever the call's notes hold now. False for a document
    without notes, and for a call without a digest (none applied since migration 0036) or
    whose digest no key decrypts: the notes it holds are compared then, as before."""
    if own_notes is None or call.eido_notes_digest is None:
        return False
    try:
        held = cipher.decrypt(call.eido_notes_digest, column=CALL_EIDO_NOTES_DIGEST, row_id=call.id)
    except UndecryptableValue:
        return False
    return held == notes_digest(own_notes)
