"""Stream tickets: a key traded for a short-lived, single-use pass to open one live feed,
for a browser's EventSource, which cannot send an Authorization header (SPEC §6.5).

Redemption is authentication, in app/services/auth.py (redeem_ticket).
"""

from __future__ import annotations

from app.db.unit_of_work import UnitOfWork
from app.repositories import stream_tickets as repo
from app.schemas.stream import StreamTicketOut
from app.security import TICKET_SECONDS, Principal, generate_ticket


async def issue(work: UnitOfWork, who: Principal) -> StreamTicketOut:
    """A new ticket that acts as the caller's key, for TICKET_SECONDS."""
    if who.key_id is None:  # only server commands act without a key, and never over HTTP
        raise RuntimeError("a stream ticket is issued to an API key")
    ticket, digest = generate_ticket()
    expires_at = await repo.insert_ticket(
        await work.connection(),
        digest=digest,
        agency_id=who.agency_id,
        key_id=who.key_id,
        seconds=TICKET_SECONDS,
    )
    return StreamTicketOut(ticket=ticket, expires_at=expires_at, expires_in=TICKET_SECONDS)
