"""The STA-024 subscriber's subscription id, kept per agency and notifier (app/subscriber.py
speaks the protocol; app/services/eido.py, import_if_taken, says which EIDOs it takes)."""

from __future__ import annotations

from uuid import UUID

from app.repositories import eido_subscriptions as repo
from app.state import AppState


class KeptSubscription:
    """The subscription id of one agency with one notifier, kept in the database."""

    def __init__(self, state: AppState, agency_id: UUID, url: str) -> None:
        self.state, self.agency_id, self.url = state, agency_id, url

    async def load(self) -> str | None:
        async with self.state.unit_of_work(self.agency_id, read_only=True) as work:
            return await repo.load(await work.session(), agency_id=self.agency_id, url=self.url)

    async def save(self, subscription_id: str | None) -> None:
        async with self.state.unit_of_work(self.agency_id) as work:
            await repo.save(
                await work.session(),
                agency_id=self.agency_id,
                url=self.url,
                subscription_id=subscription_id,
            )
