"""What an EIDO's notes tell a call whose notes a dispatcher edited (docs/api.md, "EIDO"):
the CAD's own notes, unchanged since the last document applied, are no news, whatever a
PATCH or a clear's notes made of the call's notes since."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import pytest
from fastapi import FastAPI

from app.services.auth import authenticate
from app.services.eido import import_if_taken
from app.state import AppState
from tests.eido.documents import document, incident_id, later, person, pidf
from tests.helpers import Api, add_co_responder, add_officer, grid_districts

NOTE = "Caller says brother hears voices; keys under the mat (NOTE-7f3a)"
CLEAR_NOTE = "transported to crisis centre"
FORTNIGHTS = {"doubleValue": 6, "unitText": "fortnights"}
AGE_LINE = "Age from the CAD, not read (a unit the service does not read): 6 fortnights"


async def _crew_in_d1(admin: Api) -> None:
    await grid_districts(admin)
    await add_co_responder(admin, district="D1", call_sign="MCT-1")
    await add_officer(admin, district="D1", call_sign="1A1", cit=True)


async def _import(api: Api, eido: dict[str, Any], status: int) -> Any:
    return await api.ok("POST", "/v1/eido", eido, status)


async def _notes(api: Api, call_id: str) -> str:
    return str((await api.ok("GET", f"/v1/calls/{call_id}"))["notes"])


async def _recommendations(api: Api, call_id: str) -> int:
    return len((await api.ok("GET", f"/v1/calls/{call_id}/recommendations"))["items"])


def _closing(incident: str, minutes: float, notes: list[str], **more: Any) -> dict[str, Any]:
    """The CAD's document closing the incident (no disposition: no outcome)."""
    eido = document(incident, at=later(minutes), beat="D1", notes=notes, **more)
    eido["incidentComponent"]["incidentStatusCommonRegistryText"] = ["Closed"]
    return eido


async def test_the_cads_closing_document_is_no_news_to_a_call_a_dispatcher_cleared_with_notes(
    admin: Api,
) -> None:
    """The defect: a call imported by EIDO, cleared with a dispatcher's notes (or its notes
    edited by PATCH first), then the CAD's closing document with the very notes it sent
    before: 'notes changed' on a cleared call, a 409 audited as an error. The CAD told
    nothing new: 200, applied false, the call's notes as the dispatcher left them."""
    await _crew_in_d1(admin)
    edits: list[tuple[dict[str, Any] | None, dict[str, Any]]] = [
        (None, {"disposition": "done", "diverted_to": "crisis_center", "notes": CLEAR_NOTE}),
        ({"notes": f"{NOTE}\n\nMother on scene"}, {"disposition": "done"}),
    ]
    for cautions in (None, [("Animal", "normal")]):
        for patch, clear in edits:
            incident = incident_id()
            first = document(incident, beat="D1", notes=[NOTE], cautions=cautions)
            call = await _import(admin, first, 201)
            if patch is not None:
                await admin.ok("PATCH", f"/v1/calls/{call['id']}", patch)
            await admin.ok("POST", f"/v1/calls/{call['id']}/clear", clear)
            held = await _notes(admin, call["id"])
            answer = await admin.post("/v1/eido", _closing(incident, 30, [NOTE], cautions=cautions))
            assert answer.status_code == 200, (patch, clear, cautions, answer.text)
            assert (answer.json()["applied"], answer.json()["status"]) == (False, "cleared")
            assert await _notes(admin, call["id"]) == held
            trail = await admin.ok("GET", f"/v1/audit?action=call.import&resource_id={call['id']}")
            assert [(e["outcome"], e["detail"]["applied"]) for e in trail["items"]] == [
                ("success", False)
            ]
            # Notes of its own the CAD did change are news still: refused, nothing changed.
            other = _closing(incident, 31, [NOTE, "another note"], cautions=cautions)
            refused = await admin.post("/v1/eido", other)
            assert refused.status_code == 409
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert await _notes(admin, call["id"]) == held


async def test_the_subscriber_takes_the_cads_unchanged_notes_as_no_news_to_a_cleared_call(
    app: FastAPI, admin: Api
) -> None:
    """The STA-024 subscriber imports as POST /v1/eido does: the CAD's closing document
    with its notes unchanged, for a call a dispatcher cleared with notes, is taken (its
    event answered 200), not refused as a conflict."""
    await _crew_in_d1(admin)
    state: AppState = app.state.cit
    who = await authenticate(state, admin.key, client="test", request_id=None)
    incident = incident_id()
    call = await _import(admin, document(incident, beat="D1", notes=[NOTE]), 201)
    await admin.ok(
        "POST", f"/v1/calls/{call['id']}/clear", {"disposition": "done", "notes": CLEAR_NOTE}
    )
    closing = _closing(incident, 30, [NOTE])
    taken = await import_if_taken(state, admin.agency_id, closing, who=who, request_id=None)
    assert taken is not None
    assert (taken.applied, taken.call.status) == (False, "cleared")
    assert await _notes(admin, call["id"]) == f"{NOTE}\n{CLEAR_NOTE}"


async def test_a_dispatchers_notes_stand_when_the_cad_sends_its_own_unchanged(
    admin: Api,
) -> None:
    """An open call: a dispatcher edits the notes, then the CAD sends another change with
    its notes as before. Those notes tell nothing new: the dispatcher's edit stands (it
    was lost to them, and the call re-triaged for it). Notes the CAD changes are the
    CAD's news: they are the call's notes then (full state)."""
    await _crew_in_d1(admin)
    incident = incident_id()
    call = await _import(admin, document(incident, beat="D1", notes=[NOTE]), 201)
    edited = f"{NOTE}\n\nMother on scene; subject calmer"
    await admin.ok("PATCH", f"/v1/calls/{call['id']}", {"notes": edited})
    recommendations = await _recommendations(admin, call["id"])
    # Only the nature changed: applied and re-triaged for it, the notes the dispatcher's.
    newer = document(incident, at=later(5), nature="MTLV", beat="D1", notes=[NOTE])
    updated = await _import(admin, newer, 200)
    assert (updated["applied"], updated["nature"]) == (True, "MTLV")
    assert await _notes(admin, call["id"]) == edited
    assert await _recommendations(admin, call["id"]) == recommendations + 1
    # Nothing changed at all: applied, no new recommendation, the notes still the edit.
    again = document(incident, at=later(6), nature="MTLV", beat="D1", notes=[NOTE])
    assert (await _import(admin, again, 200))["applied"] is True
    assert await _notes(admin, call["id"]) == edited
    assert await _recommendations(admin, call["id"]) == recommendations + 1
    # The CAD's notes changed: news, taken as the document gives them.
    news = document(incident, at=later(7), nature="MTLV", beat="D1", notes=[NOTE, "Dog loose"])
    await _import(admin, news, 200)
    assert await _notes(admin, call["id"]) == f"{NOTE}\n\nDog loose"
    assert await _recommendations(admin, call["id"]) == recommendations + 2


async def test_unchanged_notes_still_bring_the_cautions_as_the_cad_holds_them_now(
    admin: Api, db: asyncpg.Connection
) -> None:
    """The CAD's notes unchanged, its cautions not: the lines telling the cautions not read
    are the document's (a severity changed, a caution gone), the dispatcher's edit before
    them stays."""
    await _crew_in_d1(admin)
    incident = incident_id()
    first = document(incident, beat="D1", notes=[NOTE], cautions=[("Animal", "normal")])
    call = await _import(admin, first, 201)
    held = await _notes(admin, call["id"])
    edited = held.replace(NOTE, f"{NOTE} Mother on scene.")
    await admin.ok("PATCH", f"/v1/calls/{call['id']}", {"notes": edited})
    higher = document(incident, at=later(1), beat="D1", notes=[NOTE], cautions=[("Animal", "high")])
    await _import(admin, higher, 200)
    assert await _notes(admin, call["id"]) == edited.replace("severity normal", "severity high")
    # The caution gone: its line goes, the warning with it; the edit stays.
    gone = document(incident, at=later(2), beat="D1", notes=[NOTE])
    updated = await _import(admin, gone, 200)
    assert await _notes(admin, call["id"]) == f"{NOTE} Mother on scene."
    assert updated["recommendation"]["warnings"] == []


# A caution's words are cut to 200 characters: cut after a space, its line ends with one,
# and a line written under was looked for trimmed, not found, and told again.
LONG_WORDS = "x" * 191 + " dog on the premises, bites"  # "Animal: " and 191: a space at 200


@pytest.mark.parametrize("words", [None, LONG_WORDS])
async def test_a_caution_line_a_dispatcher_wrote_under_is_not_told_twice(
    admin: Api, words: str | None
) -> None:
    """A dispatcher's note written on the line under a caution's (no blank line between):
    the CAD's next document, its notes and the caution unchanged, told the caution again
    after it, as if new, and the call held the line twice."""
    await _crew_in_d1(admin)
    incident = incident_id()

    def sent(eido: dict[str, Any]) -> dict[str, Any]:
        if words is not None:
            eido["cautionComponent"][0]["cautionTypeInternalText"] = words
        return eido

    first = document(incident, beat="D1", notes=[NOTE], cautions=[("Animal", "normal")])
    call = await _import(admin, sent(first), 201)
    held = await _notes(admin, call["id"])
    assert held.endswith(" ") == (words is not None)
    edited = f"{held}\nDog shut in the yard (dispatcher)"
    await admin.ok("PATCH", f"/v1/calls/{call['id']}", {"notes": edited})
    newer = document(
        incident,
        at=later(5),
        nature="MTLV",
        beat="D1",
        notes=[NOTE],
        cautions=[("Animal", "normal")],
    )
    updated = await _import(admin, sent(newer), 200)
    assert updated["nature"] == "MTLV"
    assert await _notes(admin, call["id"]) == edited
    # Without notes of its own, the same.
    bare = document(
        incident, at=later(6), nature="MTLV", beat="D1", cautions=[("Animal", "normal")]
    )
    await _import(admin, sent(bare), 200)
    assert await _notes(admin, call["id"]) == edited


async def test_a_long_cautions_line_a_console_trimmed_is_no_news(admin: Api) -> None:
    """A caution's words cut after a space end the notes with one; a dispatcher's console
    that trims what it sends (a note added above the caution) left the line without it, and
    the CAD's next document, its notes and caution unchanged, wrote the space back as news
    and re-triaged the call (ba9a299 trimmed only a line with a note under it)."""
    await _crew_in_d1(admin)
    incident = incident_id()

    def sent(minutes: float) -> dict[str, Any]:
        eido = document(
            incident, at=later(minutes), beat="D1", notes=[NOTE], cautions=[("Animal", "normal")]
        )
        eido["cautionComponent"][0]["cautionTypeInternalText"] = LONG_WORDS
        return eido

    call = await _import(admin, sent(0), 201)
    held = await _notes(admin, call["id"])
    assert held.endswith(" ")
    notes, _, caution = held.rpartition("\n\n")
    edited = f"{notes}\n\nMother on scene (dispatcher)\n\n{caution}".rstrip()
    await admin.ok("PATCH", f"/v1/calls/{call['id']}", {"notes": edited})
    triaged = await _recommendations(admin, call["id"])
    await _import(admin, sent(5), 200)
    assert await _notes(admin, call["id"]) == edited
    assert await _recommendations(admin, call["id"]) == triaged


async def test_a_note_holding_a_lone_surrogate_or_a_nul_is_taken_with_its_documents_weapon(
    admin: Api,
) -> None:
    """JSON allows a lone surrogate (a CAD that cut an emoji in half at a field's limit)
    and a NUL: in a note either made the whole document a 422, its weapon caution lost with
    it, where a caution's words show them. The note keeps the rest, a "?" and a U+FFFD in
    their places, and the same notes sent again are no news."""
    await _crew_in_d1(admin)
    incident = incident_id()
    cut = "Subject \x00barricaded \ud83d"
    headers = {**admin.headers, "Content-Type": "application/json"}
    first = document(incident, beat="D1", notes=[cut], cautions=[("Weapon", "highest")])
    answer = await admin.client.post("/v1/eido", content=json.dumps(first), headers=headers)
    assert answer.status_code == 201, answer.text
    call = answer.json()
    assert call["safety"]["weapon"] is True
    assert call["recommendation"]["lead"] == "law_enforcement"
    assert await _notes(admin, call["id"]) == "Subject \ufffdbarricaded ?"
    await admin.ok(
        "POST", f"/v1/calls/{call['id']}/clear", {"disposition": "done", "notes": CLEAR_NOTE}
    )
    closing = json.dumps(_closing(incident, 30, [cut], cautions=[("Weapon", "highest")]))
    answer = await admin.client.post("/v1/eido", content=closing, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["applied"] is False


# The line telling an age not read: it speaks of the person's age alone, never of the
# cautions (their lines and their warning stay), and goes once the age is read.


def _dog(eido: dict[str, Any]) -> dict[str, Any]:
    """The document with a caution the service does not read (a line in the notes)."""
    eido["cautionComponent"] = [
        {
            "$id": f"{eido['$id']}:caution:0",
            "lastUpdateTimeStamp": eido["lastUpdateTimeStamp"],
            "updatedByAgencyReference": eido["updatedByAgencyReference"],
            "cautionTypeCommonRegistryText": "Animal",
            "cautionTypeInternalText": "dog on premises",
            "cautionSeverity": "normal",
        }
    ]
    return eido


async def test_an_age_not_read_in_a_document_without_cautions_keeps_the_caution_lines_held(
    admin: Api,
) -> None:
    """A document that leaves the cautions out keeps those held, their lines and their
    warning; an age it cannot read is no word on them. Its age line was taken as the
    document's cautions: the dog's line went from the notes and its warning with it."""
    await _crew_in_d1(admin)
    incident = incident_id()
    call = await _import(admin, _dog(document(incident, beat="D1", notes=[NOTE])), 201)
    assert [w["code"] for w in call["recommendation"]["warnings"]] == ["caution_not_read"]
    held = await _notes(admin, call["id"])
    patient = [person("Patient", ageMeasure=FORTNIGHTS)]
    updated = await _import(admin, document(incident, at=later(1), beat="D1", persons=patient), 200)
    notes = await _notes(admin, call["id"])
    assert notes == held.replace(NOTE, f"{NOTE}\n\n{AGE_LINE}"), notes
    assert [w["code"] for w in updated["recommendation"]["warnings"]] == ["caution_not_read"]


async def test_an_age_read_at_last_takes_the_age_line_away(admin: Api) -> None:
    """The CAD corrects the unit: the subject's age is read, and the line saying it was
    not goes, as a caution's line goes once it is read. It stayed, beside the age."""
    await _crew_in_d1(admin)
    incident = incident_id()
    patient = [person("Patient", ageMeasure=FORTNIGHTS)]
    call = await _import(admin, document(incident, beat="D1", notes=[NOTE], persons=patient), 201)
    assert await _notes(admin, call["id"]) == f"{NOTE}\n\n{AGE_LINE}"
    # A document without notes, the age in months now.
    patient = [person("Patient", ageMeasure={"doubleValue": 6, "unitText": "months"})]
    await _import(admin, document(incident, at=later(1), beat="D1", persons=patient), 200)
    shown = await admin.ok("GET", f"/v1/calls/{call['id']}")
    assert shown["subject"] == {"age": 0}
    assert shown["notes"] == NOTE


async def test_a_point_not_read_is_told_once_among_the_lines_held_and_erases_none(
    admin: Api,
) -> None:
    """A document with no notes, age or caution of its own, whose point cannot be read (a
    longitude-first gml:pos), gives the call the line telling it, before the lines of the
    age and the caution not read that the notes hold: given as the document's notes, that
    line alone took the place of the CAD's notes and of those lines. Its repeat tells
    nothing more."""
    await _crew_in_d1(admin)
    incident = incident_id()
    patient = [person("Patient", ageMeasure=FORTNIGHTS)]
    first = document(incident, beat="D1", notes=[NOTE], persons=patient)
    call = await _import(admin, _dog(first), 201)
    held = await _notes(admin, call["id"])
    assert held.startswith(f"{NOTE}\n\n{AGE_LINE}\n\nCaution from the CAD"), held
    swapped = pidf(point=(-111.875, 40.735))
    line = (
        "Location from the CAD, not read (locationComponent 0, CurrentIncident): gml:pos is"
        " outside WGS 84 latitude and longitude (gml:pos sent: -111.875 40.735)"
    )
    for minutes in (1, 2):
        eido = document(incident, at=later(minutes), beat="D1", location=swapped)
        updated = await _import(admin, eido, 200)
        assert (updated["district"], updated["location"]) == ("D1", None)
        assert await _notes(admin, call["id"]) == held.replace(NOTE, f"{NOTE}\n\n{line}")
        assert [w["code"] for w in updated["recommendation"]["warnings"]] == ["caution_not_read"]
    assert await _recommendations(admin, call["id"]) == 2


async def test_the_units_on_a_call_read_the_cautions_its_notes_tell(admin: Api) -> None:
    """The recommendation told to read the CAD's caution in the call's notes, which the
    crew going to the door never sees (the field unit's outside-in check): their
    terminal's GET /v1/units/me gives those lines, and still not the notes."""
    await grid_districts(admin)
    co = await add_co_responder(admin, district="D1", call_sign="MCT-1")
    await add_officer(admin, district="D1", call_sign="1A1", cit=True)
    terminal = await admin.with_role("unit", responder_id=co)  # type: ignore[arg-type]
    eido = document(incident_id(), beat="D1", notes=[NOTE])
    eido["cautionComponent"] = [
        {
            "$id": f"{eido['$id']}:caution:0",
            "lastUpdateTimeStamp": eido["lastUpdateTimeStamp"],
            "updatedByAgencyReference": eido["updatedByAgencyReference"],
            "cautionTypeCommonRegistryText": "Animal",
            "cautionTypeInternalText": "two aggressive dogs loose in the yard",
            "cautionSeverity": "high",
        }
    ]
    call = await _import(admin, eido, 201)
    assert [w["code"] for w in call["recommendation"]["warnings"]] == ["caution_not_read"]
    assert (await terminal.ok("GET", "/v1/units/me"))["cautions"] == []  # on no call yet
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")

    me = await terminal.ok("GET", "/v1/units/me")

    assert me["cautions"] == [
        "Caution from the CAD, not read as a safety flag, severity high: Animal: two"
        " aggressive dogs loose in the yard"
    ]
    assert me["cautions"][0] in await _notes(admin, call["id"])
    assert NOTE not in json.dumps(me)  # the notes themselves stay the dispatcher's
    assert not any(me["call"]["safety"].values())
    # A dispatcher's edit of the notes leaves them to the units (review r14: a note after
    # them, a line under one, a trailing line break or CRLF made them vanish).
    told = await _notes(admin, call["id"])
    for edited in (
        told + "\n\nMother on scene, says he is off his meds",
        told + "\n(dog now chained - Sgt Ruiz)",
        told + "\n",
        told.replace("\n", "\r\n"),
    ):
        await admin.ok("PATCH", f"/v1/calls/{call['id']}", {"notes": edited})
        again = await terminal.ok("GET", "/v1/units/me")
        assert again["cautions"] == me["cautions"], edited
        assert "Sgt Ruiz" not in json.dumps(again)
        assert "meds" not in json.dumps(again)
