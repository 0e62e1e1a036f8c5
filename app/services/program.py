"""The program at a glance: CIT share, volunteers, training, co-responders, expiring
certifications (docs/reports.md, "The program at a glance")."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from app.agency_context import AgencyContext
from app.figures import half_up
from app.repositories import program as repo
from app.repositories.agencies import latest_policy
from app.schemas.reports import (
    CoResponderFigures,
    ExpiringCertification,
    OfficerFigures,
    ProgramReport,
    ProgramWarning,
    Trained,
)

# The districts of an expiring officer are those of their shifts from now until these days
# after the lapse: where they work before it, and the first month it leaves uncovered (the
# next 30 days alone showed none for an officer rostered only from day 31, or back from
# leave just after the lapse).
DAYS_AFTER_THE_LAPSE = 30


def pct(part: int, whole: int) -> float | None:
    """part of whole in percent, to one decimal; None when whole is 0."""
    return None if whole == 0 else half_up(100 * part / whole, 1)


def below_target(part: int, whole: int, target_pct: float) -> bool:
    """Whether part of whole is below target_pct percent, exactly: not the share shown (80
    of 401, 19.95 %, shows as 20.0), and in decimals, as the target was written (161 of 1000
    is 16.1 %, which a float 16.1 times 1000, 16100.000000000002, put below 16.1)."""
    return whole > 0 and 100 * part < Decimal(repr(target_pct)) * whole


def _figure(value: float) -> str:
    """A figure as it was written (20.0000001, not 20: ":g" kept six digits), a whole
    number without its ".0"."""
    text = repr(value)
    return text.removesuffix(".0")


def shown_below(part: int, whole: int, target_pct: float, share: float | None) -> str:
    """A share below its target as a warning shows it: as the report does (share), unless
    that rounds up to the target (5 of 9, 55.6 %, against 55.6 %; 1,999 volunteers of 2,000,
    99.95 %, against all of them): then cut, not rounded, to two decimals (55.55, 99.95),
    which is below the target as the share itself is."""
    if share is not None and Decimal(repr(share)) < Decimal(repr(target_pct)):
        return f"{share}"
    return f"{(Decimal(100 * part) / Decimal(whole)).quantize(Decimal('0.01'), ROUND_DOWN)}"


async def expiring(
    session: AsyncSession, context: AgencyContext, *, now: datetime, within_days: int
) -> list[ExpiringCertification]:
    """Active officers certified today whose CIT certification lapses within within_days."""
    today = now.astimezone(context.timezone).date()
    rows = await repo.expiring(
        session,
        agency_id=context.agency_id,
        today=today,
        last_end=today + timedelta(days=within_days),
        now=now,
        days_after=DAYS_AFTER_THE_LAPSE,
        timezone=context.timezone.key,
    )
    return [
        ExpiringCertification(
            officer_id=r.officer_id,
            name=r.name,
            badge_number=r.badge_number,
            state_officer_id=r.state_officer_id,
            expires_on=r.ends,
            days_left=(r.ends - today).days,
            districts=r.districts,
        )
        for r in rows
    ]


async def report(
    session: AsyncSession, context: AgencyContext, *, now: datetime, within_days: int
) -> ProgramReport:
    today = now.astimezone(context.timezone).date()
    policy = await latest_policy(session, context.agency_id)
    officers = await repo.officer_counts(session, agency_id=context.agency_id, today=today)
    by_kind, by_specialty = await repo.co_responder_counts(session, agency_id=context.agency_id)
    share = pct(officers.cit_certified, officers.active)
    volunteered = pct(officers.volunteered, officers.cit_certified)
    warnings = []
    target = policy.cit_share_target_pct
    if below_target(officers.cit_certified, officers.active, target):
        warnings.append(
            ProgramWarning(
                code="cit_share_below_target",
                message=f"{officers.cit_certified} of {officers.active} active officers"
                f" ({shown_below(officers.cit_certified, officers.active, target, share)} %)"
                f" are CIT-certified; the target is {_figure(target)} %.",
            )
        )
    # The counts decide, as they do for the target: 1 of 2,000 who did not volunteer is
    # 99.95 %, which shows as 100.0 (the shown share was compared, and no warning given).
    if officers.volunteered < officers.cit_certified:
        shown = shown_below(officers.volunteered, officers.cit_certified, 100, volunteered)
        warnings.append(
            ProgramWarning(
                code="non_volunteer_certified",
                message=f"{officers.cit_certified - officers.volunteered} of"
                f" {officers.cit_certified} CIT-certified officers did not volunteer"
                f" ({shown} % volunteered): the model relies on volunteers.",
            )
        )
    return ProgramReport(
        as_of=now,
        officers=OfficerFigures(
            active=officers.active,
            cit_certified=officers.cit_certified,
            cit_share_pct=share,
            cit_share_target_pct=policy.cit_share_target_pct,
            cit_volunteered_pct=volunteered,
            trained=Trained(
                mh_awareness=officers.mh_awareness,
                de_escalation=officers.de_escalation,
                neither=officers.neither,
            ),
        ),
        co_responders=CoResponderFigures(
            active=sum(by_kind.values()), by_kind=by_kind, by_specialty=by_specialty
        ),
        certifications_expiring=await expiring(session, context, now=now, within_days=within_days),
        warnings=warnings,
    )
