"""The pure EIDO package: the schema it ships, its bounds, PIDF-LO, and both conversions."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import UTC, timedelta
from importlib.resources import files
from typing import Any
from uuid import uuid4

import pytest

from app.eido import incoming, notes, outgoing, pidf, registry, schema
from app.eido.schema import EidoInvalid
from app.vocabulary import APCO_DISPOSITION, NOTES_MAX, OUTCOMES, UNIT_STATUSES, UnitStatus
from tests.eido.documents import APARTMENT, APARTMENT_ADDRESS, T0, document, incident_id, person
from tests.eido.documents import pidf as pidf_document
from tests.events.samples import sample_call


def test_the_schema_ships_in_the_package_with_its_quirks_repaired() -> None:
    assert files("app.eido").joinpath("eido-openapi.yaml").is_file()
    agent = schema.schemas()["AgentType"]["allOf"][1]["properties"]["agentRoleRegistryText"]
    assert agent["minItems"] == 1
    # The NIEM components it names are not published with it: any object passes there.
    niem = schema.schemas()["PersonInformationType"]["allOf"][1]["properties"]
    assert niem["ncPersonComponent"] == {"type": "object"}


def _full() -> dict[str, Any]:
    """A test document with every part the import reads."""
    return document(
        incident_id(),
        beat="D1",
        location=pidf_document(point=(40.0, -111.0)),
        persons=[person("Patient", ageMeasure=15)],
        notes=["a note"],
        call_started=T0,
    )


def test_a_test_document_is_a_valid_eido() -> None:
    schema.check(_full())


def _notes(count: int) -> dict[str, Any]:
    note = {
        "$id": "n",
        "lastUpdateTimeStamp": "2026-11-30T09:00:00Z",
        "updatedByAgencyReference": {"$ref": "a"},
        "notesActionComments": "x",
    }
    return {**document(incident_id(), beat="D1"), "notesComponent": [note] * count}


def test_the_largest_document_the_bounds_accept_is_validated() -> None:
    # How long that takes is the benchmark's to say (bench/eido.py).
    biggest = _notes((schema.MAX_NODES - 40) // 7)
    schema.check(biggest)
    # At that size it is still checked in full: one note lacking its time stamp is refused.
    notes = biggest["notesComponent"]
    undated = {key: value for key, value in notes[0].items() if key != "lastUpdateTimeStamp"}
    with pytest.raises(EidoInvalid, match="lastUpdateTimeStamp"):
        schema.check({**biggest, "notesComponent": [*notes[:-1], undated]})


def test_documents_past_the_bounds_are_refused_before_validation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def never() -> None:
        raise AssertionError("a document past the bounds reached the schema validator")

    monkeypatch.setattr(schema, "_decider", never)
    monkeypatch.setattr(schema, "validator", never)
    with pytest.raises(EidoInvalid, match="more than"):
        schema.check(_notes(30_000))
    deep: Any = "x"
    for _ in range(schema.MAX_DEPTH + 1):
        deep = {"a": deep}
    with pytest.raises(EidoInvalid, match="deeper"):
        schema.check({**document(incident_id()), "extra": deep})


@pytest.mark.parametrize(
    "timestamp", ["2026-11-30T09:00:00", "2026-11-30 09:00:00Z", "0001-01-01T00:00:00+05:00"]
)
def test_timestamps_need_rfc_3339_with_a_zone_inside_the_calendar(timestamp: str) -> None:
    with pytest.raises(EidoInvalid, match="date-time"):
        schema.check({**document(incident_id()), "lastUpdateTimeStamp": timestamp})


def test_an_address_is_the_civic_address_else_the_location_description() -> None:
    def located(xml: str | None, description: Any) -> str | None:
        eido = document(incident_id(), beat="D1", location=xml)
        if xml is None:
            eido["locationComponent"] = [
                {
                    "$id": "l",
                    "lastUpdateTimeStamp": "2026-11-30T09:00:00Z",
                    "updatedByAgencyReference": {"$ref": "a"},
                    "locationTypeDescriptionRegistryText": "CurrentIncident",
                }
            ]
        eido["locationComponent"][0]["locationDescriptionText"] = description
        return incoming.read(eido, zone=UTC).address

    civic = pidf_document(point=(40.5, -111.5), civic={"HNO": "12", "RD": "Main"})
    assert located(civic, "behind the store") == "12 Main"
    assert located(pidf_document(point=(40.5, -111.5)), " 40  State\nSt ") == "40 State St"
    assert located(None, "the overpass on I-15") == "the overpass on I-15"
    assert located(None, "x" * 600) == "x" * 500
    assert located(None, "   ") is None
    # A NUL (a CAD's stray byte) or a lone surrogate is shown, not refused with the whole
    # document; dropped, the call lost its only place without a word.
    assert located(None, "12 Main\x00St \ud83d") == "12 Main\ufffdSt ?"
    assert located(civic, "behind\x00the store") == "12 Main"


def test_pidf_reads_a_point_a_circle_and_a_civic_address() -> None:
    civic = {"HNO": "12", "RD": "Main", "STS": "St", "A3": "Provo", "A1": "UT", "PC": "84601"}
    place = pidf.read(pidf_document(circle=(40.5, -111.5), civic=civic))
    assert place.point == (40.5, -111.5)
    assert place.address == "12 Main St, Provo, UT 84601"
    assert pidf.read(pidf_document(point=(-33.9, 151.2))).point == (-33.9, 151.2)
    assert pidf.read(pidf.point_document("x", 40.25, -111.75)).point == (40.25, -111.75)


@pytest.mark.parametrize(
    ("shape", "pos", "measures"),
    [
        (
            "Ellipse",
            "40.785 -111.92",
            '<gs:semiMajorAxis uom="urn:ogc:def:uom:EPSG::9001">1275</gs:semiMajorAxis>'
            '<gs:semiMinorAxis uom="urn:ogc:def:uom:EPSG::9001">670</gs:semiMinorAxis>'
            '<gs:orientation uom="urn:ogc:def:uom:EPSG::9102">43.2</gs:orientation>',
        ),
        (
            "Sphere",
            "40.785 -111.92 1300",
            '<gs:radius uom="urn:ogc:def:uom:EPSG::9001">40</gs:radius>',
        ),
        (
            "Ellipsoid",
            "40.785 -111.92 1300",
            '<gs:semiMajorAxis uom="urn:ogc:def:uom:EPSG::9001">300</gs:semiMajorAxis>'
            '<gs:semiMinorAxis uom="urn:ogc:def:uom:EPSG::9001">200</gs:semiMinorAxis>'
            '<gs:verticalAxis uom="urn:ogc:def:uom:EPSG::9001">15</gs:verticalAxis>'
            '<gs:orientation uom="urn:ogc:def:uom:EPSG::9102">90</gs:orientation>',
        ),
    ],
)
def test_pidf_reads_the_centre_of_an_ellipse_a_sphere_and_an_ellipsoid(
    shape: str, pos: str, measures: str
) -> None:
    # A wireless call's position often comes as an Ellipse (RFC 5491, section 5.2.5): its
    # centre was dropped without a word, the call placed by the beat alone (no ETA), or
    # the whole document refused as placing nothing.
    centred = (
        f'<gs:{shape} srsName="urn:ogc:def:crs:EPSG::4979"><gml:pos>{pos}</gml:pos>'
        f"{measures}</gs:{shape}>"
    )
    xml = pidf_document(civic={"HNO": "9"}).replace(
        "<ca:civicAddress>", centred + "<ca:civicAddress>"
    )
    assert pidf.read(xml).point == (40.785, -111.92)
    # An ArcBand's gml:pos is where its arcs are measured from (a tower): it places nothing.
    arcband = (
        '<gs:ArcBand srsName="urn:ogc:def:crs:EPSG::4326"><gml:pos>40.785 -111.92</gml:pos>'
        '<gs:innerRadius uom="urn:ogc:def:uom:EPSG::9001">100</gs:innerRadius>'
        '<gs:outerRadius uom="urn:ogc:def:uom:EPSG::9001">200</gs:outerRadius>'
        '<gs:startAngle uom="urn:ogc:def:uom:EPSG::9102">0</gs:startAngle>'
        '<gs:openingAngle uom="urn:ogc:def:uom:EPSG::9102">30</gs:openingAngle></gs:ArcBand>'
    )
    xml = pidf_document(civic={"HNO": "9"}).replace(
        "<ca:civicAddress>", arcband + "<ca:civicAddress>"
    )
    assert pidf.read(xml).point is None
    # One without its gml:pos places nothing, and says so; its address is read all the same.
    without = centred.replace(f"<gml:pos>{pos}</gml:pos>", "")
    xml = pidf_document(civic={"HNO": "9"}).replace(
        "<ca:civicAddress>", without + "<ca:civicAddress>"
    )
    place = pidf.read(xml)
    assert (place.point, place.address) == (None, "9")
    assert place.unread == f"a {shape} without a gml:pos"


def test_pidf_address_has_the_street_and_what_is_below_it_in_reading_order() -> None:
    """The integrator's apartment block: A6 (RFC 4119's street) and everything below the
    street were dropped, and a unit went to '123 St, Salt Lake City, UT' with no apartment."""
    assert pidf.read(pidf_document(civic=APARTMENT)).address == APARTMENT_ADDRESS
    # RD (RFC 5139) supersedes A6; a bare number is labelled; A5 and A4 before the city.
    civic = {
        "HNO": "40",
        "PRD": "N",
        "RD": "State",
        "A6": "Old Name",
        "STS": "St",
        "LMK": "City Library",
        "UNIT": "12B",
        "ROOM": "3",
        "A5": "Capitol Hill",
        "A4": "Downtown",
        "A3": "Salt Lake City",
    }
    assert pidf.read(pidf_document(civic=civic)).address == (
        "City Library, 40 N State St, Unit 12B, Room 3, Capitol Hill, Downtown, Salt Lake City"
    )
    assert pidf.read(pidf_document(civic={"FLR": " 2\n"})).address == "Floor 2"
    assert pidf.read(pidf_document(civic={"country": "US"})).address is None


def test_a_pidf_address_past_the_limit_cuts_its_location_text_first() -> None:
    civic = {"HNO": "9", "RD": "Elm", "LOC": "gate " * 200, "A3": "Provo", "A1": "UT"}
    address = pidf.read(pidf_document(civic=civic)).address
    assert address is not None
    assert len(address) <= pidf.MAX_ADDRESS
    assert address.startswith("9 Elm, gate gate")
    # Cut after a whole word: a gate code is never cut short into another.
    assert address.endswith(" gate…, Provo, UT")
    # One word too long to fit is left out whole, not cut into another (review).
    civic = {"HNO": "9", "RD": "Elm", "LOC": "x" * 600, "A3": "Provo", "A1": "UT"}
    assert pidf.read(pidf_document(civic=civic)).address == "9 Elm, Provo, UT"
    # Long elements elsewhere: the line itself is cut, ending so.
    address = pidf.read(pidf_document(civic={"NAM": "n" * 600, "A3": "Provo"})).address
    assert address == "n" * (pidf.MAX_ADDRESS - 1) + "…"


# "40_785" was read as 40785 (Python's float() takes underscores) and refused as outside
# WGS 84; other scripts' digits were read as numbers; a fourth number was ignored (the
# outside-in check as a CAD integrator).
@pytest.mark.parametrize(
    ("pos", "said"),
    [
        ("91 10", "outside WGS 84"),
        ("40 190", "outside WGS 84"),
        ("nan 1", "not 'latitude longitude'"),
        ("40", "not 'latitude longitude'"),
        ("40_785 -111.92", "not 'latitude longitude'"),
        ("\u0664\u0660 -111", "not 'latitude longitude'"),
        ("40 -111 0 1", "not 'latitude longitude'"),
        ("40 -111 inf", "not 'latitude longitude'"),
    ],
)
def test_pidf_tells_a_position_that_is_not_one_and_reads_the_address(pos: str, said: str) -> None:
    # Raised, it made the whole document a 422, where the beat could place the call.
    xml = pidf_document(point=(0, 0), civic={"HNO": "9", "RD": "Elm"}).replace(
        "<gml:pos>0 0</gml:pos>", f"<gml:pos> {pos}\n</gml:pos>"
    )
    place = pidf.read(xml)
    assert (place.point, place.address) == (None, "9 Elm")
    assert place.unread is not None
    assert place.unread.startswith(f"gml:pos is {said}")
    assert pos not in place.unread  # as a 422 says it: the value is never repeated
    assert place.sent == pos


def test_pidf_tells_xml_that_is_not_well_formed_and_reads_nothing() -> None:
    place = pidf.read("<presence><unclosed></presence>")
    assert (place.point, place.address) == (None, None)
    assert place.unread is not None
    assert place.unread.startswith("not well-formed XML: mismatched tag")


@pytest.mark.parametrize(
    ("pos", "point"),
    [
        ("40.5 -111.9 1300", (40.5, -111.9)),
        ("+40.5 -1.119E2", (40.5, -111.9)),
        (".5 -0.", (0.5, 0.0)),
    ],
)
def test_pidf_reads_a_position_as_xml_writes_numbers(pos: str, point: tuple[float, float]) -> None:
    xml = pidf_document(point=(0, 0)).replace("<gml:pos>0 0</gml:pos>", f"<gml:pos>{pos}</gml:pos>")
    assert pidf.read(xml).point == point


def test_pidf_refuses_entities_and_dtds() -> None:
    bomb = '<!DOCTYPE a [<!ENTITY b "c">]><a>&b;</a>'
    external = '<!DOCTYPE a [<!ENTITY b SYSTEM "http://127.0.0.1:9/x">]><a>&b;</a>'
    for xml in (bomb, external, '<!DOCTYPE a SYSTEM "http://127.0.0.1:9/a.dtd"><a/>'):
        with pytest.raises(pidf.PidfRefused, match="refused"):
            pidf.read(xml)


def test_reading_takes_the_best_typed_location_and_the_subjects_age() -> None:
    eido = document(
        incident_id(),
        location=pidf_document(point=(40.0, -111.0)),
        location_type="Caller",
        persons=[person("Witness", ageMeasure=40), person("Suspect", birthDate="2000-12-01")],
    )
    eido["locationComponent"].append(
        {
            **eido["locationComponent"][0],
            "locationTypeDescriptionRegistryText": "CurrentIncident",
            "locationByValue": pidf_document(point=(41.0, -112.0)),
        }
    )
    eido["locationComponent"].append(
        {
            **eido["locationComponent"][0],
            "locationTypeDescriptionRegistryText": "UnitLocation",
            "locationByValue": pidf_document(point=(42.0, -113.0)),
        }
    )
    facts = incoming.read(eido, zone=UTC)
    assert facts.point == (41.0, -112.0)
    assert facts.age == 25  # born 2000-12-01, on 2026-11-30
    assert facts.updated_at == T0


def _located(*places: tuple[str, str]) -> dict[str, Any]:
    """A document with a location component of each (type, locationByValue), in order."""
    eido = document(incident_id(), beat="D1", location=places[0][1], location_type=places[0][0])
    for index, (kind, xml) in enumerate(places[1:], start=1):
        eido["locationComponent"].append(
            {
                **eido["locationComponent"][0],
                "$id": f"{eido['$id']}:location:{index}",
                "locationTypeDescriptionRegistryText": kind,
                "locationByValue": xml,
            }
        )
    return eido


def test_reading_tells_the_best_typed_point_not_read_unless_a_better_one_is_read() -> None:
    """A point that cannot be read was a 422 (the whole document lost); now it is told,
    first of the lines closing the notes, when no better-typed point was read."""
    longitude_first = pidf_document(point=(-111.5, 40.5), civic={"HNO": "12", "RD": "Main"})
    read = pidf_document(point=(40.0, -111.0))
    facts = incoming.read(
        _located(("Caller", read), ("CurrentIncident", longitude_first)), zone=UTC
    )
    line = (
        "Location from the CAD, not read (locationComponent 1, CurrentIncident): gml:pos is"
        " outside WGS 84 latitude and longitude (gml:pos sent: -111.5 40.5)"
    )
    # The incident has no point, and its own address; the caller's point only places a
    # call nothing better places.
    assert (facts.point, facts.address) == (None, "12 Main")
    assert facts.fallback_point == (40.0, -111.0)
    assert facts.caution_notes == (line,)
    assert facts.notes == line
    assert facts.point_unread_loc == ("locationComponent", 1, "locationByValue")
    assert facts.point_unread is not None
    assert "-111.5" not in facts.point_unread
    # A better-typed point read: the caller's not read changes nothing, and is not told.
    facts = incoming.read(
        _located(("CurrentIncident", read), ("Caller", longitude_first)), zone=UTC
    )
    assert (facts.point, facts.point_unread, facts.notes) == ((40.0, -111.0), None, None)
    # The gml:pos as sent, its invisible characters escaped (the line is read to place
    # the point by hand); none shown when it was only spaces.
    for pos, shown in (("-111.5\u202e 40.5", "(gml:pos sent: -111.5\\u202e 40.5)"), (" ", None)):
        garbled = pidf_document(point=(40.0, -111.0)).replace("40.0 -111.0", pos)
        [line] = incoming.read(_located(("CurrentIncident", garbled)), zone=UTC).caution_notes
        assert line.endswith("gml:pos is not 'latitude longitude'" if shown is None else shown)
    # Beside the current point not read, an initial one read only places a new call, and
    # a caller's address is never the incident's (review r5).
    bare = pidf_document(point=(-111.5, 40.5))
    caller = pidf_document(point=(40.2, -111.2), civic={"HNO": "7", "RD": "Caller"})
    facts = incoming.read(
        _located(("CurrentIncident", bare), ("InitialIncident", read), ("Caller", caller)),
        zone=UTC,
    )
    assert (facts.point, facts.address, facts.fallback_point) == (None, None, (40.0, -111.0))
    # A unit's location never places a call: its point is not told either.
    facts = incoming.read(_located(("UnitLocation", longitude_first)), zone=UTC)
    assert (facts.point, facts.point_unread, facts.notes) == (None, None, None)
    assert facts.located is False


@pytest.mark.parametrize(
    ("spelling", "value", "point"),
    [
        # Section 2.18's words for InitialIncident and TowerLocation (section 3.8): the
        # initial incident location outranks the caller's, a cell tower's places nothing.
        ("Initial", "InitialIncident", (41.0, -112.0)),
        ("INITIAL ", "InitialIncident", (41.0, -112.0)),
        ("Tower Location", "TowerLocation", (40.0, -111.0)),
        ("tower location", "TowerLocation", (40.0, -111.0)),
    ],
)
def test_the_location_tables_spellings_are_read_as_the_registry_values(
    spelling: str, value: str, point: tuple[float, float]
) -> None:
    assert registry.location_type(spelling) == value
    eido = document(
        incident_id(), location=pidf_document(point=(40.0, -111.0)), location_type="Caller"
    )
    eido["locationComponent"].insert(
        0,
        {
            **eido["locationComponent"][0],
            "locationTypeDescriptionRegistryText": spelling,
            "locationByValue": pidf_document(point=(41.0, -112.0)),
        },
    )
    assert incoming.read(eido, zone=UTC).point == point


def test_notes_beyond_the_limit_keep_the_newest() -> None:
    old, new = "o" * NOTES_MAX, "the newest note"
    facts = incoming.read(document(incident_id(), notes=[old, new]), zone=UTC)
    assert facts.notes is not None
    assert len(facts.notes) == NOTES_MAX
    assert facts.notes.endswith(new)


@pytest.mark.parametrize(
    ("words", "flag"),
    [
        ("Firearm", "weapon"),  # a flag's word, as the whole text, in any case
        ("Armed and Dangerous", "weapon"),
        ("THREAT_TO_OTHERS", "threat_to_others"),
        ("Officer Safety", None),  # which danger, it does not say: told, not guessed
        ("Subject threatening suicide", None),  # never read word by word
        ("armed forces veteran", None),
        ("no weapons seen", None),
        ("subject isn't armed", None),
        ("eviction in progress", None),
        ("knife; combative", None),
        ("dog on premises", None),
    ],
)
def test_a_caution_raises_a_flag_only_when_its_whole_text_is_the_flags_word(
    words: str, flag: str | None
) -> None:
    assert registry.caution_flag(words) == flag


def test_a_caution_that_raises_no_flag_is_counted_and_told_last_in_the_notes() -> None:
    eido = document(incident_id(), notes=["a note"], cautions=[("Dog", "high")])
    eido["cautionComponent"].append(
        {
            **eido["cautionComponent"][0],
            "$id": "other",
            "cautionTypeCommonRegistryText": "Other",
            "cautionTypeInternalText": "armed and\ndangerous",  # its line breaks are spaces
            "cautionSeverity": "highest",
        }
    )
    facts = incoming.read(eido, zone=UTC)
    assert facts.safety == {"weapon"}
    assert facts.unread_cautions == 1
    assert facts.notes == (
        "a note\n\nCaution from the CAD, not read as a safety flag, severity high: Dog: dog"
    )
    # Notes past the limit lose their oldest words first, never a caution.
    long = incoming.read(
        document(incident_id(), notes=["o" * NOTES_MAX], cautions=[("Hazmat", "low")]),
        zone=UTC,
    )
    assert long.notes is not None
    assert len(long.notes) == NOTES_MAX
    assert long.notes.endswith("not read as a safety flag, severity low: Hazmat: hazmat")


def test_the_words_beside_a_type_that_raised_a_flag_are_told_too() -> None:
    """A caution typed MedicalEmergency holding "armed male, carries a machete" raised the
    medical flag, and its words went nowhere: a dispatcher was never told of the machete.
    A placeholder beside a flag's word ("Other") leaves nothing unread."""
    eido = document(incident_id(), notes=["a note"], cautions=[("MedicalEmergency", "high")])
    eido["cautionComponent"][0]["cautionTypeInternalText"] = "armed male, carries a machete"
    eido["cautionComponent"].append(
        {
            **eido["cautionComponent"][0],
            "$id": "other",
            "cautionTypeCommonRegistryText": "Other",
            "cautionTypeInternalText": "Firearm",
            "cautionTypeCommonSubRegistryText": ["N/A"],
        }
    )
    # Words beside a violence (or weapon) type are told for the responders, not warned
    # of, where the policy counts it: law enforcement leads that scene.
    eido["cautionComponent"].append(
        {
            **eido["cautionComponent"][0],
            "$id": "bat",
            "cautionTypeCommonRegistryText": "Violence",
            "cautionTypeInternalText": "swinging a bat",
        }
    )
    facts = incoming.read(eido, zone=UTC, le_leads=frozenset({"weapon", "violence"}))
    assert facts.safety == {"medical_emergency", "weapon", "violence"}
    assert facts.unread_cautions == 1
    # Under a policy stored before it had to count violence, and that does not: warned of.
    assert incoming.read(eido, zone=UTC, le_leads=frozenset({"weapon"})).unread_cautions == 2
    assert incoming.read(eido, zone=UTC).unread_cautions == 2
    assert facts.notes == (
        "a note\n\nCaution from the CAD, not read as a safety flag, severity high: "
        "MedicalEmergency: armed male, carries a machete (read in part: it set medical_emergency)"
        "\n\nCaution from the CAD, not read as a safety flag, severity high: "
        "Violence: swinging a bat (read in part: it set violence)"
    )
    # The service's own export (a flag's type and name) is read whole: no line.
    flagged = document(incident_id(), cautions=[("Weapon", "highest")])
    flagged["cautionComponent"][0]["cautionTypeInternalText"] = "weapon"
    facts = incoming.read(flagged, zone=UTC)
    assert facts.safety == {"weapon"}
    assert (facts.unread_cautions, facts.notes) == (0, None)


def test_the_lines_telling_cautions_keep_to_their_budget_and_the_count_stays_whole() -> None:
    """300 cautions not read pushed every note of the CAD out of the notes (20,000
    characters); each line is cut to 200 characters, and all of them to 5,000."""
    eido = document(incident_id(), notes=["keys under the mat"])
    eido["cautionComponent"] = [
        {
            "$id": f"c{i}",
            "lastUpdateTimeStamp": eido["lastUpdateTimeStamp"],
            "updatedByAgencyReference": eido["updatedByAgencyReference"],
            "cautionTypeCommonRegistryText": "Premise History",
            "cautionTypeInternalText": f"visit {i}: " + "x" * 600,
            "cautionSeverity": "low",
        }
        for i in range(300)
    ]
    facts = incoming.read(eido, zone=UTC)
    assert facts.unread_cautions == 300
    assert facts.notes is not None
    assert facts.notes.startswith("keys under the mat\n\n")
    lines = facts.notes.split("\n\n")[1:]
    assert all(len(line) <= 300 for line in lines)
    assert lines[0].startswith(notes.CAUTION_LINE + ", severity low: Premise History: visit 0:")
    assert (
        lines[-1] == f"{notes.CAUTION_LINE}: {300 - len(lines) + 1} more, not shown here"
        " (read them in the CAD)"
    )
    assert sum(len(line) for line in lines) <= 5_100


def test_a_caution_holding_a_lone_surrogate_is_told_not_refused() -> None:
    eido = document(incident_id(), cautions=[("Animal", "normal")])
    eido["cautionComponent"][0]["cautionTypeInternalText"] = "dog \ud800 on premises"
    facts = incoming.read(eido, zone=UTC)
    assert facts.notes is not None
    assert facts.notes.endswith("Animal: dog ? on premises")
    facts.notes.encode("utf-8")  # storable


def test_assigned_incident_ids_name_their_call_in_their_agency_only() -> None:
    call, agency = uuid4(), uuid4()
    assigned = outgoing.incident_id_for(call, agency)
    assert outgoing.assigned_call_id(assigned, agency) == call
    assert outgoing.assigned_call_id(assigned, uuid4()) is None
    assert outgoing.assigned_call_id(incident_id(), agency) is None
    assert outgoing.assigned_call_id("CAD-1", agency) is None


def _unit(
    status: UnitStatus, *, released: bool, released_status: UnitStatus | None = None
) -> outgoing.UnitOnCall:
    return outgoing.UnitOnCall(
        responder_type="officer",
        responder_id=uuid4(),
        name="Officer",
        call_sign=None,
        role="lead",
        cit_certified=True,
        status=status,
        assigned_at=T0,
        released_at=T0 + timedelta(minutes=9) if released else None,
        released_status=released_status,
    )


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_every_outcome_exports_its_apco_disposition_code(outcome: str) -> None:
    call = replace(sample_call(), status="cleared", outcome=outcome)  # type: ignore[arg-type]
    units = tuple(
        _unit(status, released=not i % 2, released_status="available" if i % 4 else None)
        for i, status in enumerate(UNIT_STATUSES)
    )
    eido = outgoing.document(
        outgoing.CallSnapshot(call=call, incident_id=incident_id(), units=units)
    )
    schema.check(eido)
    (disposition,) = eido["incidentComponent"]["dispositionComponent"]
    assert disposition["dispositionCommonRegistryCode"] == APCO_DISPOSITION[outcome]  # type: ignore[index]
    assert "NOTES-CIPHERTEXT" not in str(eido)


def test_every_unit_status_has_a_registry_status() -> None:
    assert set(registry.PRIMARY_STATUS) == set(UNIT_STATUSES)
    assert set(registry.SECONDARY_STATUS) == set(UNIT_STATUSES)


@pytest.mark.parametrize(
    ("released_status", "shown"),
    [
        ("out_of_service", ("NotAvailable", ["Cleared", "OutofService"])),
        ("available", ("Available", ["Cleared"])),
        (None, ("Available", ["Cleared"])),  # released before the status was recorded
    ],
)
def test_a_released_unit_shows_the_status_it_was_released_into_whatever_it_is_now(
    released_status: UnitStatus | None, shown: tuple[str, list[str]]
) -> None:
    for now in UNIT_STATUSES:
        unit = _unit(now, released=True, released_status=released_status)
        eido = outgoing.document(
            outgoing.CallSnapshot(call=sample_call(), incident_id=incident_id(), units=(unit,))
        )
        schema.check(eido)
        [resource] = eido["emergencyResourceComponent"]
        statuses = (
            resource["primaryUnitStatusRegistryText"],
            resource["secondaryUnitStatusRegistryText"],
        )
        assert statuses == shown, now


def _paths(node: Any, path: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    found = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*path, index))
    return found


def _with(node: Any, path: tuple[str | int, ...], value: Any) -> Any:
    """A copy of node with the value at path replaced (or removed, for _REMOVED)."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    copy: Any = dict(node) if isinstance(node, dict) else list(node)
    if not rest and value is _REMOVED:
        del copy[head]
    else:
        copy[head] = _with(node[head], rest, value)
    return copy


def _prologued(fields: dict[str, Any]) -> dict[str, Any]:
    prologue = {
        "$id": f"c{uuid4().hex}",
        "lastUpdateTimeStamp": "2026-11-30T09:00:00Z",
        "updatedByAgencyReference": {"$ref": "a"},
    }
    return {**prologue, **fields}


# A component holding each field of a format the schema names (but int32, which neither
# validator checks): its path in a document, and the component.
_FORMATTED: dict[str, list[tuple[tuple[str | int, ...], dict[str, Any]]]] = {
    "uri": [
        (
            ("locationComponent", 0, "locationByReferenceUrl"),
            {"locationTypeDescriptionRegistryText": "CurrentIncident"},
        ),
        (("alarmsSensorsComponent", 0, "alarmUrl"), {}),
        (("callbackComponent", 0, "updatedCbn", "updatedCbnIdentifierUri"), {}),
    ],
    "uri-reference": [(("mediaComponent", 0, "uri"), {"contentType": "image/jpeg"})],
    "date-time": [
        (
            ("cautionComponent", 0, "startDate"),
            {
                "cautionTypeCommonRegistryText": "Dog",
                "cautionTypeInternalText": "dog",
                "cautionSeverity": "low",
            },
        )
    ],
}


def _formatted(path: tuple[str | int, ...], fields: dict[str, Any], value: str) -> dict[str, Any]:
    """A document whose component on path holds value at path's end."""
    component = _prologued(fields)
    if len(path) == 4:  # inside a component's own typed object
        component[str(path[2])] = _prologued({str(path[3]): value})
    else:
        component[str(path[2])] = value
    return {**document(incident_id(), beat="D1"), str(path[0]): [component]}


@pytest.mark.parametrize(
    ("name", "path", "fields"),
    [(name, path, fields) for name, cases in _FORMATTED.items() for path, fields in cases],
)
def test_a_value_not_of_its_format_is_refused_and_explained_with_its_path(
    name: str, path: tuple[str | int, ...], fields: dict[str, Any]
) -> None:
    """A uri that is none was refused by the deciding validator, and explained only as
    "does not match the EIDO schema" at the body: the explaining one checked date-times
    alone (an outside-in check)."""
    good = {"uri": "https://psap.example.org/x", "uri-reference": "media/1.jpg"}
    schema.check(_formatted(path, fields, good.get(name, "2026-11-30T09:00:00Z")))
    refused = _formatted(path, fields, "not a uri")
    assert not schema.is_valid(refused)
    with pytest.raises(EidoInvalid) as explained:
        schema.check(refused)
    assert (explained.value.message, explained.value.loc) == (f"should be a valid {name}", path)


def test_every_format_the_schema_names_is_checked_alike_by_both_validators() -> None:
    names = schema._format_names(schema.schemas())
    assert names == {*_FORMATTED, "int32"}
    checker = schema.validator().format_checker
    assert checker is not None
    assert set(checker.checkers) == names


def test_the_disposition_codes_are_the_registrys_and_read_one_way() -> None:
    table = files("tests").joinpath("data", "apco_common_dispositions.tsv").read_text()
    codes = {line.split("\t")[0] for line in table.splitlines() if not line.startswith("#")}
    assert codes == registry.DISPOSITION_CODES
    assert set(APCO_DISPOSITION.values()) <= registry.DISPOSITION_CODES
    for sent, read in (("03", "03"), ("3", "03"), (" 3\t", "03"), ("45", "45"), ("10", "10")):
        assert registry.disposition_code(sent) == read, sent
    for sent in ("", "0", "00", "46", "99", "100", "003", "3.0", "+3", "ABC", "\uff13", "\u0663"):
        assert registry.disposition_code(sent) is None, sent


_REMOVED = object()
_WRONG = [_REMOVED, "x", 7, 2.5, None, True, [], {}, "2026-13-01T09:00:00Z", ["x"]]


def test_the_deciding_and_the_explaining_validators_agree_on_every_change_tried() -> None:
    """jsonschema-rs decides whether a document is an EIDO and jsonschema explains a
    refusal: a document one accepts and the other refuses would be let in unchecked, or
    refused without a reason."""
    samples = files("tests").joinpath("data")
    bases = [
        _full(),
        *(
            json.loads(samples.joinpath(name).read_text())
            for name in ("sample-call-transfer-eido.json", "sample-eido-v1-incident-dispatch.json")
        ),
    ]
    rng = random.Random(2026)
    tried = disagreed = 0
    for base in bases:
        for path in rng.sample(_paths(base)[1:], 40):
            changed = _with(base, path, rng.choice(_WRONG))
            decided = schema._decider().is_valid(changed)
            explained = next(schema.validator().iter_errors(changed), None) is None
            tried += 1
            disagreed += decided != explained
    assert tried == 120
    assert disagreed == 0
