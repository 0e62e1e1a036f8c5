"""EIDO documents for tests, built as a CAD would send them (NENA-STA-021)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

from app.eido.pidf import CIVIC, GEOPRIV, GEOSHAPE, GML, PIDF

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
AGENCY = "psap.example.org"


# An apartment block's civic address as a PSAP sends it (RFC 4119's A6 for the street), and
# the address line a call takes from it (docs/api.md, "EIDO").
APARTMENT = {
    "country": "US",
    "A1": "UT",
    "A3": "Salt Lake City",
    "A6": "Main",
    "STS": "St",
    "HNO": "123",
    "BLD": "Tower B",
    "FLR": "7",
    "UNIT": "Apt 712",
    "LOC": "rear entrance, gate code 4411",
    "NAM": "Sunrise Apartments",
    "PC": "84101",
}
APARTMENT_ADDRESS = (
    "Sunrise Apartments, 123 Main St, Tower B, Floor 7, Apt 712,"
    " rear entrance, gate code 4411, Salt Lake City, UT 84101"
)


def incident_id() -> str:
    """A fresh Incident Tracking Identifier."""
    return f"urn:emergency:uid:incidentid:{uuid4().hex}:{AGENCY}"


def stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def later(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def pidf(
    *,
    point: tuple[float, float] | None = None,
    circle: tuple[float, float] | None = None,
    civic: dict[str, str] | None = None,
) -> str:
    """A PIDF-LO document with a GML Point, a Circle and/or a civic address."""
    shapes = ""
    if point is not None:
        shapes += (
            f'<gml:Point srsName="urn:ogc:def:crs:EPSG::4326"><gml:pos>{point[0]} {point[1]}'
            "</gml:pos></gml:Point>"
        )
    if circle is not None:
        shapes += (
            f'<gs:Circle srsName="urn:ogc:def:crs:EPSG::4326"><gml:pos>{circle[0]} {circle[1]}'
            '</gml:pos><gs:radius uom="urn:ogc:def:uom:EPSG::9001">30</gs:radius></gs:Circle>'
        )
    if civic is not None:
        shapes += (
            "<ca:civicAddress>"
            + "".join(f"<ca:{k}>{v}</ca:{k}>" for k, v in civic.items())
            + "</ca:civicAddress>"
        )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><presence xmlns="{PIDF}" xmlns:gp="{GEOPRIV}"'
        f' xmlns:gml="{GML}" xmlns:gs="{GEOSHAPE}" xmlns:ca="{CIVIC}" entity="pres:cad@{AGENCY}">'
        f'<tuple id="loc"><status><gp:geopriv><gp:location-info>{shapes}</gp:location-info>'
        "<gp:usage-rules/></gp:geopriv></status></tuple></presence>"
    )


def _prologue(component_id: str, at: datetime) -> dict[str, Any]:
    return {
        "$id": component_id,
        "lastUpdateTimeStamp": stamp(at),
        "updatedByAgencyReference": {"$ref": f"{AGENCY}:agency"},
    }


def document(
    incident: str,
    *,
    at: datetime = T0,
    nature: str | None = "MNTL",
    beat: str | None = None,
    location: str | None = None,
    location_type: str = "CurrentIncident",
    persons: list[dict[str, Any]] | None = None,
    notes: list[str] | None = None,
    call_started: datetime | None = None,
    cautions: list[tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """An EIDO of the incident as of at, with what is given (cautions: their common
    registry text and severity)."""
    eido: dict[str, Any] = {
        **_prologue(incident, at),
        "eidoVersion": "1.0",
        "issuingElementIdentification": f"cad.{AGENCY}",
        "agencyComponent": [
            {
                **_prologue(f"{AGENCY}:agency", at),
                "agencyRoleDescriptionRegistryText": ["CallReceiving", "Dispatching"],
                "agencyType": ["psap"],
                "incidentOwningAgencyIndicator": True,
            }
        ],
    }
    if nature is not None or beat is not None:
        incident_component: dict[str, Any] = {
            **_prologue(f"{incident}:incident", at),
            "incidentTypeCommonRegistryText": nature or "SUSP",
        }
        if beat is not None:
            incident_component["beatOrDispatchGroupText"] = beat
        eido["incidentComponent"] = incident_component
    if location is not None:
        eido["locationComponent"] = [
            {
                **_prologue(f"{incident}:location:0", at),
                "locationTypeDescriptionRegistryText": location_type,
                "locationByValue": location,
            }
        ]
    if persons:
        eido["personComponent"] = [
            {**_prologue(f"{incident}:person:{i}", at), **person}
            for i, person in enumerate(persons)
        ]
    if notes:
        eido["notesComponent"] = [
            {
                **_prologue(f"{incident}:note:{i}", at + timedelta(seconds=i)),
                "notesActionComments": n,
            }
            for i, n in enumerate(notes)
        ]
    if cautions:
        eido["cautionComponent"] = [
            {
                **_prologue(f"{incident}:caution:{i}", at),
                "cautionTypeCommonRegistryText": kind,
                "cautionTypeInternalText": kind.lower(),
                "cautionSeverity": severity,
            }
            for i, (kind, severity) in enumerate(cautions)
        ]
    if call_started is not None:
        eido["callComponent"] = [
            {
                **_prologue(f"{incident}:call:0", at),
                "callStateRegistryText": "Connected",
                "standardPrimaryCallType": "Emergency",
                "direction": "incoming",
                "callStartTimestamp": stamp(call_started),
            }
        ]
    return eido


def person(role: str, **niem: Any) -> dict[str, Any]:
    """A person component's own fields: its role, and its NIEM data (ageMeasure, birthDate)."""
    found: dict[str, Any] = {"personIncidentRoleRegistryText": [role]}
    if niem:
        found["ncPersonComponent"] = niem
    return found
