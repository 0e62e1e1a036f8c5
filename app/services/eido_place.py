"""Where an EIDO places its call (app/services/eido.py): the district a document gives it,
the 422 of a new call it places nowhere, and what a later document leaves of the place a
call holds. Pure: the agency's districts and the document's facts in."""

from __future__ import annotations

from app.agency_context import AgencyContext
from app.eido import incoming
from app.errors import Invalid
from app.records.calls import CallRecord
from app.schemas.calls import CallCreate


def district_of(
    context: AgencyContext, facts: incoming.IncidentFacts, district: str | None
) -> str | None:
    """The call's district: by its point, else by the CAD's beat, else by ?district=;
    None when the document places it nowhere (a new call then by_caller's, else refused:
    unplaced)."""
    if district is not None and district not in context.districts_by_code:
        raise Invalid(context.unknown_district(district), loc=("query", "district"))
    located = None if facts.point is None else context.locate(*facts.point)
    if located is not None:
        return located
    if facts.beat is not None and facts.beat in context.districts_by_code:
        return facts.beat
    return district


def by_caller(context: AgencyContext, facts: incoming.IncidentFacts) -> str | None:
    """The district of a new call nothing else places whose incident's point was not read:
    by a worse-typed point read beside it (the initial location's, older, or the caller's,
    who may be far from the person in crisis), the last resort. Never for a call the
    agency holds, which keeps its district rather than follow that point."""
    point = facts.fallback_point
    return None if point is None else context.locate(*point)


def unplaced(facts: incoming.IncidentFacts) -> Invalid:
    """The 422 of a new call the document places nowhere, with why its point, given, was
    not read."""
    why = "" if facts.point_unread is None else f" ({facts.point_unread})"
    return Invalid(
        "the EIDO does not place the call: give a geodetic point inside a district"
        " (a locationComponent's locationByValue), an incidentComponent.beatOrDispatchGroupText"
        f" naming one of the agency's districts, or ?district=CODE{why}",
        loc=("body", *(facts.point_unread_loc or ("locationComponent",))),
    )


def keep_place(
    call: CallRecord, context: AgencyContext, facts: incoming.IncidentFacts, body: CallCreate
) -> CallCreate:
    """The document's call with the district the call has, when the document's point is the
    one the call already holds and a boundary placed it: the same point is no news about
    the place. Else as placed (district_of): by a new point, or by the beat or ?district= for a
    point outside every boundary.

    A call taken in the district a dispatcher chose, with a point a boundary puts in
    another, would otherwise move to that other district (and be re-triaged there) when an
    EIDO of it came back unchanged: its own export imported again, a CAD echoing it.

    A point the document gives but that cannot be read is no news that the caller has
    none: the call keeps the point it holds (changes), beside no address or the same one,
    and so the district it has, rather than move to the beat or ?district= as for a
    document without a point (a beat the point outranked until then: a needless move and
    re-triage, for a coordinate the CAD garbled).
    """
    held = call.location
    if facts.point is None and facts.point_unread is not None:
        if (
            held is not None
            and held.point is not None
            and (body.location is None or body.location.address == held.address)
        ):
            return body.model_copy(update={"district": call.district})
        return body
    if (
        facts.point is None
        or held is None
        or (held.lat, held.lon) != facts.point
        or body.district == call.district
        or context.locate(*facts.point) != body.district
    ):
        return body
    return body.model_copy(update={"district": call.district})
