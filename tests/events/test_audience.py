"""Who hears an event: the Python rule (app/events/audience.py) and its SQL form (the
outbox's fan-out trigger) agree on every case."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from uuid import UUID

import asyncpg
from fastapi import FastAPI

from app.events.audience import Listener, hears
from app.events.catalogue import CATALOGUE, TERMINAL_EVENTS, OutboxEvent, call_summary
from app.ids import new_id
from app.repositories import events as outbox
from app.state import AppState
from app.vocabulary import EVENT_TYPES, EventType
from tests.events.samples import AT, sample_call
from tests.helpers import Api, add_co_responder, grid_districts
from tests.receiver import Receiver


async def _subscribe(api: Api, url: str, events: Sequence[str], responder_id: str | None) -> str:
    body: dict[str, object] = {"url": url, "events": list(events)}
    if responder_id is not None:
        body["responder_id"] = responder_id
    created = await api.ok("POST", "/v1/webhooks", body, 201)
    return str(created["id"])


def test_the_rule_gives_terminals_only_their_own_unit_and_their_calls_updates() -> None:
    unit, other, call = new_id(), new_id(), new_id()
    terminal = Listener(events=frozenset(EVENT_TYPES), responder_id=unit)
    cad = Listener(events=frozenset({"call.created"}))
    payload = call_summary(sample_call(), lead=None)

    def event(kind: EventType, responder: UUID | None) -> OutboxEvent:
        return OutboxEvent(
            id=new_id(), type=kind, call_id=call, responder_id=responder, payload=payload
        )

    assert hears(terminal, event("unit.assigned", unit), units_on_call=())
    assert not hears(terminal, event("unit.assigned", other), units_on_call={unit})
    assert hears(terminal, event("call.escalated", None), units_on_call={unit})
    assert not hears(terminal, event("call.escalated", None), units_on_call={other})
    assert not hears(terminal, event("call.created", None), units_on_call={unit})
    assert hears(cad, event("call.created", None), units_on_call=())
    assert not hears(cad, event("call.updated", None), units_on_call=())
    assert not hears(
        Listener(events=frozenset(EVENT_TYPES), active=False),
        event("call.created", None),
        units_on_call=(),
    )


async def test_the_fan_out_trigger_follows_the_rule_for_every_case(
    app: FastAPI, admin: Api, receiver: Receiver, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    on_call = await add_co_responder(admin, district="D1", call_sign="MCT-1")
    released = await add_co_responder(admin, district="D1", call_sign="MCT-2")
    elsewhere = await add_co_responder(admin, district="D2", call_sign="MCT-3")
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    await admin.ok(
        "POST",
        f"/v1/calls/{call['id']}/dispatch",
        {
            "units": [
                {"responder_type": "co_responder", "responder_id": on_call, "role": "lead"},
                {"responder_type": "co_responder", "responder_id": released, "role": "support"},
            ],
            "override_reason": "two teams for the audience test",
        },
    )
    await admin.ok("PUT", f"/v1/co-responders/{released}/status", {"status": "available"})

    some_types = sorted(EVENT_TYPES)[::2]
    listeners = {
        await _subscribe(admin, receiver.url, some_types, None): Listener(
            events=frozenset(some_types)
        ),
        await _subscribe(admin, receiver.url, list(EVENT_TYPES), None): Listener(
            events=frozenset(EVENT_TYPES), active=False
        ),
    }
    # A terminal may subscribe only to what a terminal can hear (a 422 otherwise).
    for unit in (on_call, released, elsewhere):
        sub = await _subscribe(admin, receiver.url, sorted(TERMINAL_EVENTS), unit)
        listeners[sub] = Listener(events=TERMINAL_EVENTS, responder_id=UUID(unit))
    disabled = next(s for s, listener in listeners.items() if not listener.active)
    await db.execute("UPDATE webhook_subscription SET active = false WHERE id = $1", disabled)

    call_id = UUID(call["id"])
    payload = call_summary(sample_call(admin.agency_id), lead=None)
    written = [
        OutboxEvent(
            id=new_id(), type=kind, call_id=about_call, responder_id=responder, payload=payload
        )
        for kind, about_call, responder in itertools.product(
            EVENT_TYPES,
            (None, call_id),
            (None, UUID(on_call), UUID(released), UUID(elsewhere)),
        )
    ]
    state: AppState = app.state.cit
    async with state.unit_of_work(admin.agency_id) as work:
        await outbox.write(await work.session(), agency_id=admin.agency_id, at=AT, events=written)

    rows = await db.fetch(
        "SELECT subscription_id, event_id FROM webhook_delivery WHERE event_id = ANY($1::uuid[])",
        [e.id for e in written],
    )
    delivered = {(str(r["subscription_id"]), r["event_id"]) for r in rows}
    expected = {
        (sub, e.id)
        for e in written
        for sub, listener in listeners.items()
        if hears(
            listener,
            e,
            units_on_call={UUID(on_call)} if e.call_id == call_id else frozenset(),
        )
    }
    assert delivered == expected
    # The matrix reaches every branch of the rule, so agreeing on it means something.
    assert any(CATALOGUE[e.type].heard_on_the_call for e in written)
    assert {sub for sub, _ in expected} == set(listeners) - {disabled}
