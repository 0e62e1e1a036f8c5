"""The vocabulary is the one list of each shared word: schemas and the database follow it."""

from __future__ import annotations

import ast
import re

import asyncpg
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from app.schemas.calls import CallCreate, Safety, SafetyIn, SafetyPatch
from app.schemas.common import ONE_LINE, VISIBLE
from app.schemas.dispatch import ClearRequest
from app.vocabulary import (
    CALL_STATUSES,
    CO_RESPONDER_KINDS,
    DIVERTED_TO,
    LEADS,
    OFF_CALL,
    ON_CALL,
    OUTCOMES,
    OVERRIDE_CODES,
    RESPONDER_TYPES,
    ROLES,
    SAFETY_FLAGS,
    SEEN,
    UNIT_STATUSES,
    invisible_escaped,
    invisible_escaped_repr,
    one_line,
)


@pytest.mark.parametrize("model", [Safety, SafetyIn, SafetyPatch])
def test_safety_models_have_one_field_per_safety_flag(model: type[Safety | SafetyPatch]) -> None:
    assert list(model.model_fields) == list(SAFETY_FLAGS)


@pytest.mark.parametrize(
    ("table", "constraint", "words"),
    [
        ("api_key", "ck_api_key_role", ROLES),
        ("api_key", "ck_api_key_responder_type", RESPONDER_TYPES),
        ("call", "ck_call_status", CALL_STATUSES),
        ("co_responder", "ck_co_responder_kind", CO_RESPONDER_KINDS),
        ("officer", "ck_officer_status", UNIT_STATUSES),
        ("co_responder", "ck_co_responder_status", UNIT_STATUSES),
        ("call", "ck_call_outcome", OUTCOMES),
        ("call", "ck_call_diverted_to", DIVERTED_TO),
        ("dispatch", "ck_dispatch_recommended_lead", LEADS),
        ("dispatch", "ck_dispatch_dispatched_lead", LEADS),
        ("dispatch", "ck_dispatch_override_code", OVERRIDE_CODES),
        ("assignment", "ck_assignment_released_status", OFF_CALL),
    ],
)
async def test_database_check_constraints_allow_exactly_the_vocabulary(
    db: asyncpg.Connection, table: str, constraint: str, words: tuple[str, ...]
) -> None:
    # A word added to the vocabulary needs a migration that widens the constraint.
    definition = await db.fetchval(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conname = $1 AND conrelid = $2::regclass",
        constraint,
        table,
    )
    assert definition is not None, constraint
    assert set(re.findall(r"'([^']*)'::text", definition)) == set(words)


def test_every_unit_status_is_either_on_a_call_or_off_one() -> None:
    # The off-call statuses have a type of their own (what a released assignment shows it
    # was released into): it must not drift from the unit statuses it is taken from.
    assert sorted(ON_CALL + OFF_CALL) == sorted(UNIT_STATUSES)
    assert not set(ON_CALL) & set(OFF_CALL)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40))
def test_text_taken_onto_one_line_is_what_one_line_fields_accept(text: str) -> None:
    """one_line (an EIDO's closing disposition, a call's nature) and the API's patterns are
    built from the same characters: what it gives, a one-line field takes, and a
    disposition too; it gives "" only for text with nothing to see."""
    line = one_line(text)
    if not line:
        assert re.search(SEEN, text) is None
        return
    assert re.fullmatch(ONE_LINE, line), line
    assert re.fullmatch(VISIBLE, line), line
    assert line == line.strip()
    cleared = ClearRequest.model_validate({"disposition": line[:200]})
    assert cleared.disposition == line[:200].strip()
    assert CallCreate.model_validate({"district": "D1", "nature": line[:64]}).nature


def test_a_typed_escape_reads_apart_from_the_invisible_character_it_names() -> None:
    """A client who typed the six characters `\\u202e` was named in a message as one who
    sent the direction mark itself: the backslash is doubled now, as repr doubles it."""
    sent, typed = "CAD-\u202e1", "CAD-\\u202e1"
    assert invisible_escaped(sent) == "CAD-\\u202e1"
    assert invisible_escaped(typed) == "CAD-\\\\u202e1"
    assert invisible_escaped_repr(sent) == "'CAD-\\u202e1'"
    assert invisible_escaped_repr(typed) == "'CAD-\\\\u202e1'"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=40))
@example("\\u202e")
def test_what_a_message_shows_of_a_text_reads_back_as_that_text(text: str) -> None:
    """No two texts a client may send read alike in a message: read back as escapes are
    (a Python string's, whose syntax the escapes follow), what it shows is what was sent."""
    escaped = invisible_escaped(text)
    assert escaped.encode("latin-1", "backslashreplace").decode("unicode_escape") == text
    assert ast.literal_eval(invisible_escaped_repr(text)) == text
