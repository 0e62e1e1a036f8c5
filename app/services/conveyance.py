"""The STA-024 subscriber's side of the service (app/subscriber.py speaks the protocol):
which EIDOs become calls, and the subscription id kept per agency and notifier."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

from app.eido import incoming
from app.eido.schema import EidoInvalid
from app.repositories import calls as call_repo
from app.repositories import eido_subscriptions as repo
from app.services import agency
from app.state import AppState


async def wanted(state: AppState, agency_id: UUID, document: dict[str, Any]) -> bool:
    """Whether the EIDO is for this service: its common incident type is one the policy's
    `eido_incident_types` lists, or its incident already has a call (a later document of
    an incident taken in, whatever its type says now). A document that is not an EIDO is
    wanted, so that importing it says what is wrong."""
    try:
        facts = await asyncio.to_thread(incoming.read, document)
    except EidoInvalid:
        return True
    context = await agency.context(state, agency_id)
    if facts.nature is not None and facts.nature.upper() in context.policy.eido_incident_types:
        return True
    async with state.unit_of_work(agency_id, read_only=True) as work:
        found = await call_repo.call_id_for_external_id(
            await work.connection(), agency_id=agency_id, external_id=facts.incident_id
        )
    return found is not None


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
