"""SQL for the STA-024 subscription id an agency keeps per EIDO notifier."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import EidoSubscription


async def load(session: AsyncSession, *, agency_id: UUID, url: str) -> str | None:
    stmt = select(EidoSubscription.subscription_id).where(
        EidoSubscription.agency_id == agency_id, EidoSubscription.notifier_url == url
    )
    found: str | None = (await session.execute(stmt)).scalar_one_or_none()
    return found


async def save(
    session: AsyncSession, *, agency_id: UUID, url: str, subscription_id: str | None
) -> None:
    stmt = insert(EidoSubscription).values(
        agency_id=agency_id, notifier_url=url, subscription_id=subscription_id
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[EidoSubscription.agency_id, EidoSubscription.notifier_url],
        set_={"subscription_id": subscription_id, "updated_at": func.now()},
    )
    await session.execute(stmt)
