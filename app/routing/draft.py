"""The recommendation as the routing rules build it up (app/routing/engine.py), and the
finished Recommendation it makes."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.routing.ranking import Ranked
from app.routing.types import Policy, Reason, Recommendation, RecommendedUnit, Warning
from app.vocabulary import (
    REQUESTS,
    UNIT_ROLES,
    WARNING_CODES,
    Lead,
    Request,
    UnitRole,
    WarningCode,
)


@dataclass
class Draft:
    """The recommendation as the rules build it up; each rule, warning and request once."""

    units: list[tuple[Ranked, UnitRole]] = field(default_factory=list)
    requests: set[Request] = field(default_factory=set)
    warnings: dict[WarningCode, str] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)

    def add(self, unit: Ranked, role: UnitRole) -> None:
        # Ranking already keeps each responder once; this guards against a rule adding twice.
        if all(u.identity != unit.identity for u, _ in self.units):
            self.units.append((unit, role))

    def request(self, request: Request) -> None:
        self.requests.add(request)

    def warn(self, code: WarningCode, message: str) -> None:
        self.warnings.setdefault(code, message)

    def reason(self, rule: str, message: str) -> None:
        self.reasons.setdefault(rule, message)

    def listed(self) -> list[tuple[Ranked, UnitRole]]:
        """The units by role: like requests and warnings, they are listed in the vocabulary's
        order, whichever rule raised them first, so consoles and CAD integrations see a
        stable shape."""
        return sorted(self.units, key=lambda pair: UNIT_ROLES.index(pair[1]))

    def finish(self, *, lead: Lead, safety_concern: bool, policy: Policy) -> Recommendation:
        return Recommendation(
            lead=lead,
            safety_concern=safety_concern,
            policy_version=policy.version,
            units=tuple(recommended_unit(r, role) for r, role in self.listed()),
            requests=tuple(sorted(self.requests, key=REQUESTS.index)),
            warnings=tuple(
                Warning(code, self.warnings[code])
                for code in sorted(self.warnings, key=WARNING_CODES.index)
            ),
            reasons=tuple(Reason(rule, message) for rule, message in self.reasons.items()),
        )


def recommended_unit(r: Ranked, role: UnitRole) -> RecommendedUnit:
    return RecommendedUnit(
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
