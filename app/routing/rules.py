"""The CIT routing rules (SPEC §4): pure functions from facts to a Recommendation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from app.routing.ranking import Ranked, rank_candidates, training_class
from app.routing.types import (
    CallFacts,
    Candidate,
    Lead,
    Policy,
    Reason,
    Recommendation,
    RecommendedUnit,
    Request,
    UnitRole,
    Warning,
    WarningCode,
)


@dataclass
class _Draft:
    """The recommendation as the rules build it up."""

    units: list[tuple[Ranked, UnitRole]] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    warnings: list[Warning] = field(default_factory=list)
    reasons: list[Reason] = field(default_factory=list)

    def add(self, unit: Ranked | None, role: UnitRole) -> None:
        if unit is not None and all(
            u.candidate.responder_id != unit.candidate.responder_id for u, _ in self.units
        ):
            self.units.append((unit, role))

    def request(self, request: Request) -> None:
        if request not in self.requests:
            self.requests.append(request)

    def warn(self, code: WarningCode, message: str) -> None:
        if all(w.code != code for w in self.warnings):
            self.warnings.append(Warning(code, message))

    def reason(self, rule: str, message: str) -> None:
        if all(r.rule != rule for r in self.reasons):
            self.reasons.append(Reason(rule, message))


def effective_flags(call: CallFacts, policy: Policy) -> frozenset[str]:
    """Flags set on the call, plus those its nature code implies."""
    implied = policy.nature_flags.get((call.nature or "").strip().upper(), frozenset())
    return call.safety | implied


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
    agency's calendar date. The result always exists, even when no unit is available.
    """
    flags = effective_flags(call, policy)
    concerns = sorted(flags & policy.safety_flags)
    ranked = rank_candidates(call, candidates, policy, now, adjacency or {})
    co_responders = [r for r in ranked if r.candidate.responder_type == "co_responder"]
    officers = [r for r in ranked if r.candidate.responder_type == "officer"]
    draft = _Draft()

    if concerns:
        lead: Lead = "law_enforcement"
        implied = sorted(flags - call.safety)
        nature_note = f" (nature {call.nature} implies {', '.join(implied)})" if implied else ""
        draft.reason("safety_flagged", f"Safety concern: {', '.join(concerns)}{nature_note}")
        draft.reason(
            "le_lead", "Safety concern flagged: law enforcement leads, mental health supports"
        )
        le_unit = _law_enforcement(draft, call, officers, leading=True)
        if le_unit is None:
            # Sending clinicians alone into a flagged scene is never the safe option.
            draft.warn(
                "no_units_available",
                "No law-enforcement unit can lead this safety-flagged call; "
                "co-responders are not sent in alone",
            )
            draft.reason("no_units", "No eligible law-enforcement unit in reach")
            draft.units.clear()
        elif co_responders:
            draft.add(co_responders[0], "support")
            _youth_note(draft, call, co_responders[0])
        if not co_responders:
            _no_co_responder_warning(draft)
    elif co_responders:
        lead = "mental_health"
        best = co_responders[0]
        draft.add(best, "lead")
        draft.reason(
            "mh_lead",
            f"No safety concern flagged: mental health ({best.candidate.call_sign}) leads"
            + (" with law-enforcement back-up" if policy.le_backup_for_mh_lead else ""),
        )
        _youth_note(draft, call, best)
        if policy.le_backup_for_mh_lead:
            _law_enforcement(draft, call, officers, leading=False)
    else:
        lead = "law_enforcement"
        _no_co_responder_warning(draft)
        draft.reason(
            "no_co_responder",
            "No co-responder available: law enforcement leads, with a mental-health phone consult",
        )
        _law_enforcement(draft, call, officers, leading=True)

    if "medical_emergency" in flags:
        draft.request("ems")
        draft.reason("medical", "Medical emergency: EMS requested")
    if not draft.units:
        draft.warn("no_units_available", "No eligible unit is on shift and available in reach")
        draft.reason("no_units", "No eligible unit in reach; nothing can be dispatched yet")
    else:
        draft.reason(
            "rank",
            "Units ranked by district (serving first), ETA, workload in the last 24 h, call sign",
        )
    return _finish(draft, lead=lead, safety_concern=bool(concerns), policy=policy)


def _law_enforcement(
    draft: _Draft, call: CallFacts, officers: list[Ranked], *, leading: bool
) -> Ranked | None:
    """Find the law-enforcement unit: CIT in district, CIT adjacent, else the best officer."""
    role: UnitRole = "lead" if leading else "backup"
    in_district_cit = [o for o in officers if o.cit and o.hop == 0]
    reachable_cit = [o for o in officers if o.cit]
    if in_district_cit:
        chosen = in_district_cit[0]
        draft.add(chosen, role)
    elif reachable_cit:
        chosen = reachable_cit[0]
        draft.add(chosen, role)
        home = chosen.candidate.shift_district
        draft.warn("no_cit_in_district", f"No CIT officer is available in {call.district}")
        draft.warn(
            "cit_from_adjacent_district",
            f"CIT officer {chosen.candidate.call_sign} comes from adjacent district {home}",
        )
        message = (
            f"No CIT officer available in {call.district}; CIT officer "
            f"{chosen.candidate.call_sign} from {home} " + ("leads" if leading else "backs up")
        )
        if leading:
            stabilizer = _by_training([o for o in officers if o.hop == 0 and not o.cit])
            if stabilizer is not None:
                draft.add(stabilizer, "stabilize")
                message += f"; {stabilizer.candidate.call_sign} stabilises the scene until then"
        draft.reason("cit_adjacent", message)
    else:
        fallback = _by_training(officers)
        draft.warn("no_cit_available", "No CIT officer is available in or next to the district")
        draft.request("cit_when_available")
        if fallback is None:
            draft.reason("no_cit", "No CIT officer and no other officer is available in reach")
            return None
        draft.add(fallback, role)
        draft.reason(
            "no_cit",
            f"No CIT officer in reach: {fallback.candidate.call_sign} "
            + ("leads" if leading else "backs up")
            + " (de-escalation training preferred); CIT requested when available",
        )
        return fallback
    if leading and chosen.cit:
        draft.reason(
            "cit_scene_lead",
            f"CIT officer {chosen.candidate.call_sign} takes charge of the scene, "
            "even if another officer is closer or more senior",
        )
    return chosen


def _by_training(officers: list[Ranked]) -> Ranked | None:
    """The best officer, preferring de-escalation, then mental-health awareness training."""
    if not officers:
        return None
    return min(officers, key=lambda o: (o.hop, training_class(o.candidate), o.position))


def _youth_note(draft: _Draft, call: CallFacts, unit: Ranked) -> None:
    if (
        call.subject_age is not None
        and call.subject_age < 18
        and "youth" in unit.candidate.specialties
    ):
        draft.reason(
            "youth_specialty",
            f"The subject is {call.subject_age}: youth specialist {unit.candidate.call_sign} "
            "is preferred",
        )


def _no_co_responder_warning(draft: _Draft) -> None:
    draft.warn("no_co_responder_available", "No mental-health co-responder is available in reach")
    draft.request("mh_phone_consult")


def _finish(draft: _Draft, *, lead: Lead, safety_concern: bool, policy: Policy) -> Recommendation:
    units = sorted(draft.units, key=lambda pair: pair[1] != "lead")
    return Recommendation(
        lead=lead,
        safety_concern=safety_concern,
        policy_version=policy.version,
        units=tuple(
            RecommendedUnit(
                responder_type=r.candidate.responder_type,
                responder_id=r.candidate.responder_id,
                name=r.candidate.name,
                call_sign=r.candidate.call_sign,
                role=role,
                district=r.candidate.shift_district,
                cit_certified=r.cit,
                eta_minutes=None if r.eta_minutes is None else round(r.eta_minutes, 1),
                distance_km=None if r.distance_km is None else round(r.distance_km, 1),
            )
            for r, role in units
        ),
        requests=tuple(draft.requests),
        warnings=tuple(draft.warnings),
        reasons=tuple(draft.reasons),
    )
