"""What a dispatcher asked a dispatch for: the units and parts (or the recommendation's),
checked, and why they differ from the recommendation (docs/api.md, "Dispatch and
clearing")."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from app.errors import Invalid
from app.events.body import instant_text
from app.records.recommendations import RecommendationRecord
from app.schemas.dispatch import DispatchRequest
from app.services.dispatch_roles import Unit
from app.vocabulary import ROLES_OF, OverrideCode


def _recommended_units(rec: RecommendationRecord | None) -> list[Unit]:
    if rec is None:
        return []
    return [(u["responder_type"], UUID(u["responder_id"]), u["role"]) for u in rec.units]


@dataclass(frozen=True)
class Choice:
    """The units a dispatcher asked for, and why they differ from the recommendation."""

    units: list[Unit]
    override_code: OverrideCode | None
    override_reason: str | None


def chosen(body: DispatchRequest, rec: RecommendationRecord | None) -> Choice:
    recommended = _recommended_units(rec)
    if body.units is None:
        return Choice(recommended, body.override_code, body.override_reason)
    requested: list[Unit] = [(u.responder_type, u.responder_id, u.role) for u in body.units]
    if len({u[1] for u in requested}) != len(requested):
        raise Invalid("a unit appears twice in units", loc=("body", "units"))
    if sum(role == "lead" for _, _, role in requested) > 1:
        raise Invalid("at most one unit may lead", loc=("body", "units"))
    for index, (kind, _, role) in enumerate(requested):
        if role not in ROLES_OF[kind]:
            parts = ", ".join(ROLES_OF[kind])
            raise Invalid(
                f"{role} is not a part for {kind.replace('_', '-')}: it may be sent as {parts}",
                loc=("body", "units", index, "role"),
            )
    if set(requested) == set(recommended):
        # As recommended, no override is needed; what the dispatcher said is kept as said,
        # code and reason alike (a unit named off shift is sent on them: said_why, in
        # app/services/dispatch.py).
        return Choice(requested, body.override_code, body.override_reason)
    if body.override_reason is None and body.override_code in (None, "other"):
        # A code other than `other` says why by itself (SPEC §3.4 asks for a reason always:
        # docs/api.md, "Dispatch and clearing"); `other` says nothing the council could read.
        # Which one: a dispatcher sending what an older one said (the call re-triaged since,
        # on another console) learns that it changed, not only what to add.
        latest = "" if rec is None else f" ({rec.id}, made {instant_text(rec.created_at)})"
        raise Invalid(
            f"these units differ from the latest recommendation{latest}:"
            " give an override_reason, or an override_code other than `other`",
            loc=("body", "override_reason"),
        )
    return Choice(requested, body.override_code or "other", body.override_reason)


def named_ids(body: DispatchRequest) -> tuple[list[UUID] | None, list[UUID]]:
    """The officers and co-responders a dispatch names; officers None when it names no
    unit (it dispatches the recommendation's)."""
    if body.units is None:
        return None, []
    return (
        [u.responder_id for u in body.units if u.responder_type == "officer"],
        [u.responder_id for u in body.units if u.responder_type == "co_responder"],
    )
