"""`cit-dispatch eido-subscribe`: the STA-024 subscriber (app/subscriber.py) wired to
the service. Its handler imports each EIDO as POST /v1/eido does, as the agency's CAD link;
its subscription id is kept in the database (app/services/conveyance.py)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from uuid import UUID

from app.db.engine import app_role_url, create_engine
from app.db.failures import is_unavailable
from app.encryption import DataCipher
from app.errors import AppError, Conflict, Invalid, Unauthorized
from app.security import Principal
from app.services import agency, audit, conveyance, eido
from app.settings import Settings
from app.state import AppState
from app.subscriber import HANDLED, TRY_AGAIN, UNUSABLE, Handler, Subscriber

log = logging.getLogger(__name__)


def subscriber_principal(agency_id: UUID) -> Principal:
    """Who the subscriber's imports are by in the audit trail: the agency's CAD link
    (role `integration`), run on the server, so with no key."""
    return Principal(
        key_id=None,
        agency_id=agency_id,
        role="integration",
        responder_type=None,
        responder_id=None,
        prefix="eido-subscribe",
    )


def importer(state: AppState, agency_id: UUID) -> Handler:
    """The handler that imports an EIDO as POST /v1/eido does, if the policy takes its
    incident type (or its incident already has a call); every other one is passed over."""
    who = subscriber_principal(agency_id)

    async def handle(document: dict[str, Any]) -> int:
        incident = document.get("$id")
        try:
            done = await eido.import_if_taken(state, agency_id, document, who=who, request_id=None)
            if done is None:
                log.info(
                    "EIDO passed over: not an incident type the policy takes, or ended",
                    extra={"incident": incident},
                )
                return HANDLED
        except Invalid as exc:
            log.warning("EIDO refused", extra={"incident": incident, "error": exc.detail})
            await _audit_refused(state, who, incident, exc)
            return UNUSABLE
        except Conflict as exc:  # e.g. news of a call cleared here: nothing to apply
            log.info("EIDO not applied", extra={"incident": incident, "reason": exc.detail})
            await _audit_refused(state, who, incident, exc)
            return HANDLED
        except Exception as exc:
            if is_unavailable(exc):
                log.warning(
                    "EIDO not imported: the database is unavailable; the notifier"
                    " will send it again",
                    extra={"incident": incident},
                )
            else:
                log.exception(
                    "EIDO not imported; the notifier will send it again",
                    extra={"incident": incident},
                )
            return TRY_AGAIN
        log.info(
            "EIDO imported",
            extra={
                "incident": incident,
                "call_id": str(done.call.id),
                "call_created": done.created,
                "applied": done.applied,
            },
        )
        return HANDLED

    return handle


async def _audit_refused(state: AppState, who: Principal, incident: object, exc: AppError) -> None:
    """Record an import refused as POST /v1/eido's refusal is (`call.import`, `error`),
    naming the call it would change, else the incident: the trail showed the API's
    refusals and not the subscriber's. In a transaction of its own, as nothing of the
    import was written."""
    note = audit.AuditNote(who=who, action="call.import", resource_type="call", request_id=None)
    if exc.audit_about is not None:
        note.identify(*exc.audit_about)
    elif isinstance(incident, str):
        note.detail = {"incident_id": incident[:300]}
    why = audit.failure(exc.status, exc.slug, exc.detail)
    await audit.write_note_apart(state.autocommit, note, "error", why)


class UnknownAgency(Exception):
    """The agency to subscribe for does not exist."""


async def run_subscriber(
    database_url: str,
    settings: Settings,
    cipher: DataCipher,
    *,
    agency_id: UUID,
    url: str,
    expires: int,
    stop: asyncio.Event,
) -> None:
    """`cit-dispatch eido-subscribe`: subscribe for the agency until stop is set. Imports
    run as the application role, under the agency's row-level security, as requests do."""
    engine = create_engine(app_role_url(database_url, settings), pool_size=2)
    system = create_engine(database_url, pool_size=1)
    state = AppState(settings, engine, system, cipher)
    try:
        try:
            await agency.context(state, agency_id)
        except Unauthorized:
            raise UnknownAgency(f"no agency {agency_id}") from None
        subscriber = Subscriber(
            url,
            importer(state, agency_id),
            conveyance.KeptSubscription(state, agency_id, url),
            expires=expires,
        )
        log.info("EIDO subscriber started", extra={"agency_id": str(agency_id), "url": url})
        await subscriber.run(stop)
    finally:
        await engine.dispose()
        await system.dispose()
