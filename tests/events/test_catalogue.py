"""The event catalogue: every type has a payload, a builder and an audience, and no
payload ever carries a call's notes."""

from __future__ import annotations

import json

import pytest

from app.events.catalogue import CATALOGUE, OutboxEvent
from app.vocabulary import EVENT_TYPES
from tests.events.samples import NOTES, one_of_each, sample_call


def test_every_event_type_is_in_the_catalogue_and_nothing_else() -> None:
    assert list(CATALOGUE) == list(EVENT_TYPES)


def test_the_builders_make_an_event_of_every_type() -> None:
    assert sorted(e.type for e in one_of_each(sample_call())) == sorted(EVENT_TYPES)


@pytest.mark.parametrize("event", one_of_each(sample_call()), ids=lambda e: e.type)
def test_each_payload_has_exactly_the_keys_its_type_declares(event: OutboxEvent) -> None:
    declared = CATALOGUE[event.type].payload
    keys = declared.__required_keys__ | declared.__optional_keys__
    assert set(event.payload) == set(keys)


@pytest.mark.parametrize("event", one_of_each(sample_call()), ids=lambda e: e.type)
def test_no_payload_carries_the_calls_notes(event: OutboxEvent) -> None:
    body = json.dumps(event.payload)
    assert "notes" not in event.payload
    assert NOTES not in body


def test_events_about_a_unit_name_it_and_call_events_name_their_call() -> None:
    call = sample_call()
    for event in one_of_each(call):
        if event.type.startswith("unit."):
            assert event.responder_id is not None, event.type
        else:
            assert event.responder_id is None, event.type
        if event.type.startswith(("call.", "unit.", "recommendation.")):
            assert event.call_id == call.id, event.type
        else:
            # Program alerts are about no call and no unit: only agency-wide listeners hear them.
            assert event.call_id is None, event.type
