"""The warnings that tell of the data sent, not of the units (docs/reports.md: the outcome
report does not count them): a call's place, its nature, a unit's location, a CAD's
cautions."""

from __future__ import annotations

from app.routing.draft import Draft
from app.routing.flags import nature_code
from app.routing.geo import is_known
from app.routing.types import CallFacts, Policy
from app.vocabulary import APCO_INCIDENT_TYPES, invisible_escaped_repr


def warn_of_data_sent(draft: Draft, call: CallFacts, policy: Policy) -> None:
    """Each warning in the order a recommendation lists them."""
    _outside_district(draft, call)
    _unknown_nature(draft, call, policy)
    _unknown_etas(draft, call)
    _unread_cautions(draft, call)


def _outside_district(draft: Draft, call: CallFacts) -> None:
    if not call.outside_district:
        return
    if call.located_in:
        where = f"in {call.located_in}, not in {call.district}, the district given"
    else:
        where = f"outside every district's boundary{_how_far(call)}"
    check = (
        "check the location's coordinates (a sign or a digit lost?) and the district"
        # As the distance is shown (_how_far): 99.6 km reads "100 km".
        if round(call.outside_by_km or 0) >= FAR_OFF_KM
        else "check the district"
    )
    draft.warn(
        "location_outside_district",
        f"The location is {where}: units are chosen for {call.district}; {check}",
    )


# A point this far from the district given's boundary, in no district, is more likely a
# mistake in its coordinates than a call from next door; its units' ETAs mean nothing.
FAR_OFF_KM = 100.0


def _how_far(call: CallFacts) -> str:
    km = call.outside_by_km
    if km is None:
        return f", not in {call.district}, the district given"
    away = "less than 1 km" if km < 1 else f"{km:,.0f} km"
    return f", {away} from that of {call.district}, the district given"


def _unknown_nature(draft: Draft, call: CallFacts, policy: Policy) -> None:
    code = nature_code(call.nature)
    if (
        not code
        or code in APCO_INCIDENT_TYPES
        or code in policy.eido_incident_types
        or any(nature_code(known) == code for known in policy.nature_flags)
    ):
        return
    # Quoted as the service quotes any name a client wrote (repr, its invisible characters
    # escaped): "MNTL" and a zero-width space is no code anyone knows, and read as "MNTL"
    # it looked like one; a quote in the nature ended the name inside double quotes.
    named = invisible_escaped_repr((call.nature or "").strip())
    draft.warn(
        "unknown_nature",
        f"Nature {named} is neither an APCO incident type nor a code "
        "of the policy, so it implies no safety flag: check the call's flags",
    )


def _unread_cautions(draft: Draft, call: CallFacts) -> None:
    count = call.unread_cautions
    if count <= 0:
        return
    these = "a caution" if count == 1 else f"{count} cautions"
    draft.warn(
        "caution_not_read",
        f"The CAD sent {these} with words this service does not read as a safety flag; the "
        "words are in the call's notes (and, for its units, in `cautions` of GET"
        " /v1/units/me): read them, and flag the call if they warrant it",
    )


def _unknown_etas(draft: Draft, call: CallFacts) -> None:
    # Without the call's location no unit has an ETA, and the dispatcher knows why.
    if not is_known(call.location):
        return
    unlocated = [unit.call_sign for unit, _ in draft.listed() if unit.distance_km is None]
    if unlocated:
        draft.warn("eta_unknown", f"No ETA for {', '.join(unlocated)}: location unknown")
