"""A call going out as an EIDO 1.0 document (NENA-STA-021), never with its notes.

The document holds: the agency; the call (when it was received, as callStartTimestamp);
the incident (its common type, status, district as beat, and on a cleared call the APCO
disposition of its outcome); its location as PIDF-LO; the person's age; one caution per
safety flag set; one dispatch component; and one agent and one emergency resource per unit
ever assigned, with its resource type, CIT attribute and unit status. Every component's $id
is the incident id with a suffix, but the call component's, a Call Identifier made of the
incident id (call_identifier_for), so a document is the same each time it is built from the
same state.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from app.eido import pidf, registry
from app.records.calls import CallRecord
from app.vocabulary import APCO_DISPOSITION, SAFETY_FLAGS, ResponderType, UnitRole, UnitStatus

ISSUER = "cit-dispatch"
EIDO_VERSION = "1.0"
# The Call Identifier's form (NENA-STA-010): urn:emergency:uid:callid:<unique>:<element id>.
CALL_ID_PREFIX = "urn:emergency:uid:callid:"


@dataclass(frozen=True, slots=True, kw_only=True)
class UnitOnCall:
    """A unit assigned to the call (now or before), as the export tells of it."""

    responder_type: ResponderType
    responder_id: UUID
    name: str
    call_sign: str | None
    role: UnitRole
    # An officer certified CIT on the agency's date of assigned_at (not of the export).
    cit_certified: bool
    # The unit's live status (meaningful while it is still on the call).
    status: UnitStatus
    assigned_at: datetime
    released_at: datetime | None
    # The status its release left it in (available, out_of_service); None while on the
    # call, or for a release older than that record.
    released_status: UnitStatus | None = None
    # When that status last changed, while the unit is on the call (None once released):
    # its progress (en route, on scene) dates the document too.
    status_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CallSnapshot:
    call: CallRecord
    incident_id: str
    units: tuple[UnitOnCall, ...]
    # The agency sending it, as its contact card names it (None: not said).
    agency_name: str | None = None


def incident_id_for(call_id: UUID, agency_id: UUID) -> str:
    """The Incident Tracking Identifier the export gives a call the CAD did not name one
    for: urn:emergency:uid:incidentid:<call id, hex>:<agency id, hex>."""
    return f"{registry.INCIDENT_ID_PREFIX}{call_id.hex}:{agency_id.hex}"


def call_identifier_for(incident_id: str) -> str:
    """The Call Identifier the export gives the call of an incident: STA-021 makes a call
    component's $id its Call Identifier, in STA-010's form, which an ESRP creates and the
    service is not given (POST /v1/calls has no field for it, and import keeps none). It is
    made of the incident's own (an Incident Tracking Identifier: its unique id and agency
    id under the Call Identifier's prefix), so every export of the incident names its call
    alike, by any agency that holds it (STA-021: a component's $id is the same in every
    EIDO for the incident); for a call the service made, urn:emergency:uid:callid:<call
    id, hex>:<agency id, hex>."""
    assert registry.is_incident_id(incident_id)
    return CALL_ID_PREFIX + incident_id[len(registry.INCIDENT_ID_PREFIX) :]


def internal_incident_id(call: CallRecord) -> str:
    """The incident's id in the agency's own systems (STA-021's internalIncidentId, "assigned
    by the agency involved in the Incident", for legacy systems to exchange it by): the
    CAD's number a call was taken under (its external_id, when that is no Incident Tracking
    Identifier), so a system holding the export finds the CAD's incident without a
    translation table (SPEC section 6), while the call's id is in the incident's $id
    (incident_id_for); else the call's id here."""
    external = call.external_id
    return str(call.id) if external is None or is_incident_id(external) else external


def is_incident_id(value: str | None) -> bool:
    """Whether value has the form of an Incident Tracking Identifier (registry's)."""
    return value is not None and registry.is_incident_id(value)


def assigned_call_id(incident_id: str, agency_id: UUID) -> UUID | None:
    """The call an id from incident_id_for names, if it is one of this agency's form."""
    if not is_incident_id(incident_id):
        return None
    rest = incident_id[len(registry.INCIDENT_ID_PREFIX) :]
    call_hex, _, agency_hex = rest.partition(":")
    if agency_hex != agency_id.hex or len(call_hex) != 32:
        return None
    try:
        return UUID(hex=call_hex)
    except ValueError:
        return None


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def last_update(snapshot: CallSnapshot) -> datetime:
    """When what the document tells last changed: the call, or a unit on it (STA-021's
    lastUpdateTimeStamp; a receiver keeps only a newer document)."""
    call = snapshot.call
    moments = [call.updated_at, call.created_at]
    moments += [m for m in (call.dispatched_at, call.cleared_at) if m is not None]
    for unit in snapshot.units:
        moments += [m for m in (unit.assigned_at, unit.released_at, unit.status_at) if m]
    return max(moments)


def _incident_status(snapshot: CallSnapshot) -> list[str]:
    call = snapshot.call
    if call.status == "cleared":
        return [registry.CLOSED_STATUS]
    on_call = {u.status for u in snapshot.units if u.released_at is None}
    status = ["Active"]
    if on_call:
        status.append("ResourcesAssigned")
    if "en_route" in on_call:
        status.append("ResourcesEnroute")
    if on_call & {"on_scene", "transporting"}:
        status.append("ResourcesOnscene")
    return status


def agency_jcard(name: str) -> str:
    """The agency's contact card, as STA-021's agencyJcard holds it: a jCard (RFC 7095) of
    an organisation with its name, as JSON text. The agency component names who sent the
    document, which its $id (the incident's, with ":agency") does not."""
    properties = [
        ["version", {}, "text", "4.0"],
        ["kind", {}, "text", "org"],
        ["fn", {}, "text", name],
    ]
    return json.dumps(["vcard", properties], ensure_ascii=False, separators=(",", ":"))


class _Builder:
    def __init__(self, snapshot: CallSnapshot) -> None:
        self.snapshot = snapshot
        self.id = snapshot.incident_id
        self.at = _stamp(last_update(snapshot))
        self.agency = f"{self.id}:agency"

    def prologue(self, suffix: str | None = None) -> dict[str, Any]:
        return self.prologue_of(self.id if suffix is None else f"{self.id}:{suffix}")

    def prologue_of(self, component_id: str) -> dict[str, Any]:
        return {
            "$id": component_id,
            "lastUpdateTimeStamp": self.at,
            "updatedByAgencyReference": {"$ref": self.agency},
        }

    def agency_component(self) -> dict[str, Any]:
        component: dict[str, Any] = {
            **self.prologue("agency"),
            "agencyRoleDescriptionRegistryText": ["Dispatching"],
            "agencyType": ["police"],
            "incidentOwningAgencyIndicator": not is_incident_id(self.snapshot.call.external_id),
        }
        if self.snapshot.agency_name is not None:
            component["agencyJcard"] = agency_jcard(self.snapshot.agency_name)
        return component

    def incident(self, location: str | None, person: str | None) -> dict[str, Any]:
        call = self.snapshot.call
        incident: dict[str, Any] = {
            **self.prologue("incident"),
            "incidentTypeCommonRegistryText": registry.common_incident_type(call.nature),
            "incidentStatusCommonRegistryText": _incident_status(self.snapshot),
            "incidentStatusInternalText": [call.status],
            "internalIncidentId": internal_incident_id(call),
            "beatOrDispatchGroupText": call.district,
        }
        if call.nature is not None:
            incident["incidentTypeInternalText"] = call.nature
        if location is not None:
            incident["locationReference"] = [{"$ref": location}]
        if person is not None:
            incident["personReference"] = [{"$ref": person}]
        code = None if call.outcome is None else APCO_DISPOSITION[call.outcome]
        if call.status == "cleared" and code is not None:
            disposition: dict[str, Any] = {
                **self.prologue("disposition"),
                "dispositionCommonRegistryCode": code,
                "dispositionPrimaryIndicator": True,
                "dispositionCategoryText": call.outcome,
            }
            if call.disposition:
                disposition["dispositionDescriptionText"] = call.disposition
            incident["dispositionComponent"] = [disposition]
        return incident

    def call_component(self) -> dict[str, Any]:
        """When the call came in, so that an agency importing the document keeps its time
        received (and its minutes to dispatch), not the time of its import.

        The component tells of the telephone call, not the incident: its
        callStateRegistryText is the call's state as the document is made (STA-021, from
        the Call States registry). The service knows that a call taker answered it (a call
        reaches it answered), and, once it is cleared, that its handling is over: its units
        are released and the record closed, with no line left open for it, so `callEnd`
        (`callAnswered` on a closed call told a receiver a caller was still on the line,
        days after). While the call is open the service knows nothing of the line since
        it was answered, so it says what it knows: `callAnswered`. Its $id is the call's
        Call Identifier (call_identifier_for)."""
        call = self.snapshot.call
        return {
            **self.prologue_of(call_identifier_for(self.id)),
            "callStateRegistryText": "callEnd" if call.status == "cleared" else "callAnswered",
            "standardPrimaryCallType": "emergency",
            "direction": "incoming",
            "callStartTimestamp": _stamp(call.received_at),
        }

    def location(self) -> dict[str, Any] | None:
        place = self.snapshot.call.location
        if place is None:
            return None
        component: dict[str, Any] = {
            **self.prologue("location"),
            "locationTypeDescriptionRegistryText": "CurrentIncident",
        }
        if place.point is not None:
            component["locationByValue"] = pidf.point_document(self.id, *place.point)
        if place.address:
            component["locationDescriptionText"] = place.address
        return component

    def person(self) -> dict[str, Any] | None:
        age = self.snapshot.call.subject.get("age")
        if age is None:
            return None
        return {
            **self.prologue("person"),
            "personIncidentRoleRegistryText": ["InvolvedPerson"],
            "ncPersonComponent": {"ageMeasure": {"doubleValue": age, "unitText": "years"}},
        }

    def cautions(self) -> list[dict[str, Any]]:
        """One caution per safety flag the call has: what a receiving agency's routing
        must know before it sends anyone."""
        safety = self.snapshot.call.safety
        return [
            {
                **self.prologue(f"caution:{flag}"),
                "cautionTypeCommonRegistryText": registry.CAUTION_TYPE[flag],
                "cautionTypeInternalText": flag,
                "cautionSeverity": registry.CAUTION_SEVERITY[flag],
            }
            for flag in SAFETY_FLAGS
            if safety.get(flag)
        ]

    def unit(self, unit: UnitOnCall) -> tuple[dict[str, Any], dict[str, Any]]:
        """The unit's agent and emergency resource components."""
        key = unit.responder_id.hex
        agent = {
            **self.prologue(f"agent:{key}"),
            "agentRoleRegistryText": ["Responder"],
            "agencyReference": {"$ref": self.agency},
        }
        released = unit.released_at is not None
        status = unit.status
        secondary = [registry.SECONDARY_STATUS[status]]
        internal: list[str] = [status]
        if released:
            # As the incident left it: cleared from it, in the status it was released into
            # (available, or out of service), whatever it reports since (that is not the
            # incident's, may be another call's, and does not date the document). A release
            # older than that record (migrations 0031, 0032) is shown available, as it was.
            status = unit.released_status or "available"
            secondary = [registry.RELEASED_STATUS]
            if status != "available":
                secondary.append(registry.SECONDARY_STATUS[status])  # OutofService
            internal = ["released", *([unit.released_status] if unit.released_status else [])]
        resource: dict[str, Any] = {
            **self.prologue(f"resource:{key}"),
            "agentReference": [{"$ref": agent["$id"]}],
            "emergencyResourceTypeCommonRegistryText": registry.RESOURCE_TYPE[unit.responder_type],
            "emergencyResourceTypeInternalText": unit.responder_type,
            "resourceAttributeRegistryText": [registry.CIT_ATTRIBUTE] if unit.cit_certified else [],
            "resourceAttributeInternalText": [unit.role],
            "emergencyResourceName": unit.call_sign or unit.name,
            "primaryUnitStatusRegistryText": registry.PRIMARY_STATUS[status],
            "secondaryUnitStatusRegistryText": secondary,
            "unitStatusInternal": internal,
        }
        if not released:
            resource["activeOnIncidentId"] = self.id
        return agent, resource


def document(snapshot: CallSnapshot) -> dict[str, Any]:
    """The call's current state as an EIDO 1.0 document (EmergencyIncidentDataObjectType)."""
    build = _Builder(snapshot)
    location = build.location()
    person = build.person()
    units = [build.unit(unit) for unit in snapshot.units]
    eido: dict[str, Any] = {
        **build.prologue(),
        "eidoVersion": EIDO_VERSION,
        "issuingElementIdentification": ISSUER,
        "agencyComponent": [build.agency_component()],
        "callComponent": [build.call_component()],
        "incidentComponent": build.incident(
            None if location is None else location["$id"], None if person is None else person["$id"]
        ),
        "dispatchComponent": [
            {
                **build.prologue("dispatch"),
                "agencyReference": {"$ref": build.agency},
                "emergencyResourceReference": [{"$ref": r["$id"]} for _, r in units],
            }
        ],
    }
    if location is not None:
        eido["locationComponent"] = [location]
    if person is not None:
        eido["personComponent"] = [person]
    cautions = build.cautions()
    if cautions:
        eido["cautionComponent"] = cautions
    if units:
        eido["agentComponent"] = [agent for agent, _ in units]
        eido["emergencyResourceComponent"] = [resource for _, resource in units]
    return eido
