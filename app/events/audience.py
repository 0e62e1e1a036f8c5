"""Who hears an event: the one rule, for webhooks and the live feed.

An agency-wide subscriber (a CAD) hears every event of its agency whose type it asked for.
A unit's terminal hears the events about its own unit, and the events heard on the call
(CATALOGUE's heard_on_the_call) of the call it is assigned to.

The outbox's fan-out trigger applies the same rule in SQL (migration 0014, event_fan_out);
tests/events/test_audience.py checks that the two agree on every case. The live feed
(app/services/stream.py) applies this function itself, with the units on the call that the
event recorded as it was written (event.units_on_call), as the trigger does.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from uuid import UUID

from app.events.catalogue import CATALOGUE, OutboxEvent
from app.vocabulary import EventType


@dataclass(frozen=True, slots=True)
class Listener:
    """A webhook subscription (or a feed client) as the rule sees it."""

    events: frozenset[EventType]
    # Set for a unit's terminal; None for an agency-wide listener.
    responder_id: UUID | None = None
    active: bool = True


def hears(listener: Listener, event: OutboxEvent, *, units_on_call: Collection[UUID]) -> bool:
    """Tell whether the listener receives the event.

    units_on_call: the units actively assigned to the event's call when it is written.
    """
    if not listener.active or event.type not in listener.events:
        return False
    if listener.responder_id is None:
        return True
    if event.responder_id is not None:
        return event.responder_id == listener.responder_id
    return (
        event.call_id is not None
        and CATALOGUE[event.type].heard_on_the_call
        and listener.responder_id in units_on_call
    )
