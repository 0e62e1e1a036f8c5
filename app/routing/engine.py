"""The CIT routing rules (docs/routing.md, "Rules"): pure functions from facts to a
Recommendation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from app.routing.data_warnings import warn_of_data_sent
from app.routing.draft import Draft
from app.routing.flags import effective_flags, no_concern_message, safety_message
from app.routing.ranking import Ranked, is_minor, rank_candidates, training_class
from app.routing.types import (
    CallFacts,
    Candidate,
    Policy,
    Recommendation,
)
from app.vocabulary import (
    Lead,
    UnitRole,
)


def recommend(
    call: CallFacts,
    candidates: Sequence[Candidate],
    policy: Policy,
    now: datetime,
    *,
    adjacency: Mapping[str, frozenset[str]] | None = None,
) -> Recommendation:
    """Recommend who responds to a crisis call, and explain why.

    `now` must be timezone-aware and in the agency's zone: certifications are valid by the
    agency's calendar date, `now.date()`. `adjacency` maps a district code to the codes of
    its neighbours (symmetric). A recommendation is always returned, even with no unit.
    """
    flags = effective_flags(call, policy)
    concerns = sorted(flags & policy.safety_flags)
    ranked = rank_candidates(call, candidates, policy, now, adjacency or {})
    co_responders = [r for r in ranked if r.candidate.responder_type == "co_responder"]
    officers = [r for r in ranked if r.candidate.responder_type == "officer"]
    draft = Draft()
    lead: Lead

    quiet = no_concern_message(flags, policy)
    if concerns:
        lead = "law_enforcement"
        draft.reason("safety_flagged", safety_message(call, policy, concerns))
        found = _find_law_enforcement(officers)
        if found.unit is None:
            draft.reason("le_lead", "Law enforcement must lead, but no officer is in reach")
            _record_law_enforcement(draft, call, found, policy, role="lead")
            _no_law_enforcement_for_flagged_call(draft, co_responders)
        else:
            support = co_responders[0] if co_responders else None
            draft.reason(
                "le_lead",
                f"Law enforcement ({found.unit.call_sign}) leads"
                + (f", mental health ({support.call_sign}) supports" if support else ""),
            )
            _record_law_enforcement(draft, call, found, policy, role="lead")
            if support is None:
                _no_co_responder(draft)
            else:
                _add_co_responder(draft, call, support, "support", co_responders)
    elif co_responders:
        lead = "mental_health"
        best = co_responders[0]
        if policy.le_backup_for_mh_lead:
            found = _find_law_enforcement(officers)
            backup = found.unit.call_sign if found.unit else "none available"
            draft.reason(
                "mh_lead",
                f"{quiet}: mental health ({best.call_sign}) leads, "
                f"with law-enforcement back-up ({backup})",
            )
            _record_law_enforcement(draft, call, found, policy, role="backup")
        else:
            draft.reason(
                "mh_lead",
                f"{quiet}: mental health ({best.call_sign}) leads; "
                "the policy sends no law-enforcement back-up",
            )
        _add_co_responder(draft, call, best, "lead", co_responders)
    else:
        lead = "law_enforcement"
        found = _find_law_enforcement(officers)
        leader = f" ({found.unit.call_sign})" if found.unit else ""
        draft.reason(
            "no_co_responder",
            f"{quiet}, but no co-responder is available in reach: "
            f"law enforcement{leader} leads, with a mental-health phone consult",
        )
        _no_co_responder(draft)
        _record_law_enforcement(draft, call, found, policy, role="lead")

    if "medical_emergency" in flags:
        draft.request("ems")
        draft.reason("medical", "Medical emergency flagged: EMS requested")
    if draft.units:
        # Said on every call, so said briefly: the full order is in docs/routing.md, "Ranking".
        draft.reason("rank", f"Units serving {call.district} first, then the nearest by ETA")
    else:
        draft.warn("no_units_available", "No eligible unit is on shift and available in reach")
        draft.reason("no_units", "No eligible unit in reach: nothing can be dispatched yet")
    _youth_gap(draft, call, co_responders)
    warn_of_data_sent(draft, call, policy)
    _unit_left(draft, call)
    _no_unit_on_call(draft, call)
    return draft.finish(lead=lead, safety_concern=bool(concerns), policy=policy)


@dataclass(frozen=True, slots=True)
class _LawEnforcement:
    """The outcome of the law-enforcement search (docs/routing.md, "Rules")."""

    unit: Ranked | None
    kind: Literal["cit_in_district", "cit_adjacent", "no_cit"]
    stabilizer: Ranked | None = None
    # The free CIT officer serving the district, when the one kept works the call from
    # beyond reach (_serving_instead).
    instead: Ranked | None = None


def _find_law_enforcement(officers: list[Ranked]) -> _LawEnforcement:
    """Find the CIT officer in the district, else the nearest CIT one, else the best officer."""
    cit = [o for o in officers if o.cit]
    # One working the call from another district (a re-triage) ranks as serving it, but
    # the district has no CIT officer for all that unless one serves it.
    if cit and cit[0].hop == 0 and (cit[0].away == 0 or any(o.away == 0 for o in cit)):
        return _LawEnforcement(cit[0], "cit_in_district", instead=_serving_instead(cit[0], cit))
    if cit:
        # Ranking orders by hop first, so cit[0] comes from the nearest ring (or is on the call).
        # Only a leading adjacent CIT officer gets this stabiliser (see _record_law_enforcement).
        stabilizer = _by_training([o for o in officers if o.hop == 0 and o is not cit[0]])
        return _LawEnforcement(cit[0], "cit_adjacent", stabilizer)
    return _LawEnforcement(_by_training(officers), "no_cit")


def _record_law_enforcement(
    draft: Draft, call: CallFacts, found: _LawEnforcement, policy: Policy, *, role: UnitRole
) -> None:
    unit = found.unit
    verb = "leads" if role == "lead" else "backs up"
    if found.kind == "no_cit":
        # With adjacency_depth 0 only the call's district is in reach: none near it was looked at.
        where = "in" if policy.adjacency_depth == 0 else "in or near"
        draft.warn("no_cit_available", f"No CIT officer is available {where} {call.district}")
        draft.request("cit_when_available")
        if unit is None:
            draft.reason("no_cit", "No CIT officer and no other officer is available in reach")
            return
        draft.add(unit, role)
        draft.reason(
            "no_cit",
            f"No CIT officer in reach: {unit.call_sign} {verb} (de-escalation, then "
            "mental-health awareness training preferred); a CIT officer is requested "
            "when one is available",
        )
        return
    if unit is None:  # only the no_cit search can come back empty
        return
    draft.add(unit, role)
    if found.instead is not None:
        draft.warn(
            "cit_from_adjacent_district",
            f"CIT officer {unit.call_sign}{_beyond_reach(unit, found.instead, call)}",
        )
    if found.kind == "cit_adjacent":
        draft.warn(
            "no_cit_in_district", f"No CIT officer is on shift and available in {call.district}"
        )
        on_call = _on_call_from_elsewhere(unit)
        draft.warn(
            "cit_from_adjacent_district",
            f"CIT officer {unit.call_sign}{on_call} comes from {_ring(unit)} district "
            f"{unit.candidate.shift_district}",
        )
        message = (
            f"No CIT officer on shift and available in {call.district}; CIT officer"
            f" {unit.call_sign} from "
            f"{_ring(unit)} {unit.candidate.shift_district}{on_call} {verb}"
        )
        if role == "lead":
            if found.stabilizer is not None:
                holder = found.stabilizer
                draft.add(holder, "stabilize")
                # One on the call from another district is named by where it comes from.
                home = call.district if holder.away == 0 else holder.candidate.shift_district
                message += (
                    f"; {holder.call_sign} from {home}{_on_call_from_elsewhere(holder)} "
                    "stabilises the scene until then"
                )
            else:
                message += f"; no officer in {call.district} is available to stabilise the scene"
        draft.reason("cit_adjacent", message)
    if role == "lead":
        draft.reason(
            "cit_scene_lead",
            f"CIT officer {unit.call_sign} takes charge of the scene, even if another officer "
            "is closer or more senior",
        )


def _by_training(officers: list[Ranked]) -> Ranked | None:
    """Return the best officer, preferring de-escalation, then mental-health awareness; one
    on the call first (a re-triage never swaps it for a free one: docs/routing.md, "Ranking")."""
    if not officers:
        return None
    return min(
        officers,
        key=lambda o: (not o.candidate.on_call, o.hop, training_class(o.candidate), o.position),
    )


def _no_law_enforcement_for_flagged_call(draft: Draft, co_responders: list[Ranked]) -> None:
    # Clinicians are never sent alone into a safety-flagged scene (docs/routing.md,
    # "Project decisions").
    draft.request("mh_phone_consult")
    if not co_responders:
        _no_co_responder(draft)
        return
    # The nearest one is named: it is who would go once an officer can lead; or the one
    # already working the call (a re-triage), who should not go on alone.
    first = co_responders[0]
    draft.warn(
        "no_units_available",
        "No law-enforcement unit can lead this safety-flagged call, so no co-responder is "
        + (
            f"to work it alone ({first.call_sign}, on the call, needs law enforcement)"
            if first.candidate.on_call
            else f"sent in alone ({first.call_sign} is the nearest available)"
        ),
    )
    draft.reason(
        "no_units",
        "No eligible officer in reach for a safety-flagged call: no unit is recommended, "
        "and co-responders are not sent in alone",
    )


def _ring(unit: Ranked) -> str:
    """How far the unit's district is from the call's, before the word "district"."""
    if unit.away is None:
        return "an out-of-reach"
    return "adjacent" if unit.away == 1 else f"{unit.away} districts away,"


def _on_call_from_elsewhere(unit: Ranked) -> str:
    """ ", on the call," for a unit working the call from a district that does not serve it
    (ranked as serving it: app/routing/ranking.py), else nothing."""
    return ", on the call," if unit.hop == 0 and unit.away != 0 else ""


def _serving_instead(unit: Ranked, others: list[Ranked]) -> Ranked | None:
    """The best unit of the kind serving the call's district (on the call too, else free),
    when `unit` is kept because it works the call but comes from beyond reach (a PATCH
    moved the call): the dispatcher is told both, as neither the units nor the ranking show
    it (docs/routing.md, "Ranking", 0). One working it from next door while another serves
    is no gap."""
    if unit.away is not None or not unit.candidate.on_call:
        return None
    return next((o for o in others if o.away == 0), None)


def _beyond_reach(unit: Ranked, instead: Ranked, call: CallFacts) -> str:
    where = ", on the call," if instead.candidate.on_call else ""
    free = "" if instead.candidate.on_call else " and is available"
    return (
        f", on the call, comes from an out-of-reach district {unit.candidate.shift_district}; "
        f"{instead.call_sign}{where} serves {call.district}{free}"
    )


def _add_co_responder(
    draft: Draft, call: CallFacts, unit: Ranked, role: UnitRole, others: list[Ranked]
) -> None:
    draft.add(unit, role)
    serving = any(o.away == 0 for o in others)
    instead = _serving_instead(unit, others)
    if instead is not None:
        draft.warn(
            "co_responder_from_adjacent_district",
            f"Co-responder {unit.call_sign}{_beyond_reach(unit, instead, call)}",
        )
    elif unit.away != 0 and not (_on_call_from_elsewhere(unit) and serving):
        # Said as for a CIT officer from next door (cit_from_adjacent_district); one working
        # the call from next door while another serves the district is no gap.
        draft.warn(
            "co_responder_from_adjacent_district",
            f"No co-responder is available in {call.district}; {unit.call_sign}"
            f"{_on_call_from_elsewhere(unit)} comes from {_ring(unit)} district "
            f"{unit.candidate.shift_district}",
        )
    if unit.youth_first and unit.away != 0:
        # On the call from a district it does not serve (a re-triage ranks it as serving):
        # it stays for being on the call, not as one serving the district.
        draft.reason(
            "youth_specialty",
            f"The subject is {call.subject_age}: youth specialist {unit.call_sign} is on the"
            " call already",
        )
    elif unit.youth_first:
        draft.reason(
            "youth_specialty",
            f"The subject is {call.subject_age}: youth specialist {unit.call_sign} "
            f"ranks first among the co-responders serving the district{_passed_over(unit, others)}",
        )


def _passed_over(unit: Ranked, others: list[Ranked]) -> str:
    """ ", ahead of MCT-1, nearer (ETA 1.5 min against 12.0)": the nearer available
    co-responder serving the district that the youth specialist outranks, which the
    dispatcher would otherwise wonder at; nothing when none is nearer by the ETAs shown."""
    shown = None if unit.eta_minutes is None else round(unit.eta_minutes, 1)
    nearer = next(
        (
            o
            for o in others
            # Free and serving: one on the call (a re-triage) ranks as serving from
            # wherever it comes, and is no unit passed over.
            if o.away == 0
            and not o.candidate.on_call
            and not o.youth_first
            and o.eta_minutes is not None
            # Nearer as the units' ETAs are shown (draft.recommended_unit rounds them).
            and (shown is None or round(o.eta_minutes, 1) < shown)
        ),
        None,
    )
    if nearer is None or nearer.eta_minutes is None:
        return ""
    theirs = "unknown" if shown is None else f"{shown:.1f}"
    return (
        f", ahead of {nearer.call_sign}, nearer (ETA {nearer.eta_minutes:.1f} min against {theirs})"
    )


def _youth_gap(draft: Draft, call: CallFacts, co_responders: list[Ranked]) -> None:
    # Youth counts among the co-responders serving the district, as in ranking; one sent
    # from next door who has the specialty fills the gap all the same.
    if not is_minor(call) or any(r.youth_first for r in co_responders):
        return
    if any("youth" in unit.candidate.specialties for unit, _ in draft.units):
        return
    draft.warn(
        "no_youth_specialist",
        f"The subject is {call.subject_age}: no youth specialist co-responder is available "
        f"in {call.district}",
    )


def _unit_left(draft: Draft, call: CallFacts) -> None:
    """The units that left the call they led are no candidates for its re-triage, free or
    not: said, so that a warning that no unit of its kind is free does not read as false
    beside the board showing one available."""
    if not call.left:
        return
    if len(call.left) == 1:
        [gone] = call.left
        how = f" ({gone.status.replace('_', ' ')})" if gone.status else ""
        said = f"{gone.call_sign} left this call{how} and is"
    else:
        named = [
            f"{u.call_sign} ({u.status.replace('_', ' ')})" if u.status else u.call_sign
            for u in call.left
        ]
        said = f"{', '.join(named[:-1])} and {named[-1]} left this call and are"
    draft.reason("unit_left", f"{said} not recommended for it again")


def _no_unit_on_call(draft: Draft, call: CallFacts) -> None:
    """A dispatched call whose last unit went out of service needs units again: warned
    first, as the one thing a dispatcher must act on (the call still reads dispatched)."""
    gone = call.stranded_by
    if gone is not None:
        draft.warn(
            "no_unit_on_call",
            f"No unit is on this call: {gone.call_sign}, the last on it, went out of service",
        )


def _no_co_responder(draft: Draft) -> None:
    draft.warn("no_co_responder_available", "No mental-health co-responder is available in reach")
    draft.request("mh_phone_consult")
