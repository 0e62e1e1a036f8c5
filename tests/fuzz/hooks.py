"""Schemathesis hooks for `./dev fuzz`.

map_path_parameters lets path parameters sometimes name seeded objects: random UUIDs and
codes almost always miss, so every `/{id}` operation would only be tested on its 404 path.
filter_failure accepts the 422s of rules that no OpenAPI schema can state (below).
"""

from __future__ import annotations

import json
import os
import re
import zlib
from functools import cache
from typing import Any
from uuid import UUID

import schemathesis
from schemathesis.core.failures import Failure

_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")


@cache
def _seeded() -> dict[str, list[str]]:
    with open(os.environ["CIT_FUZZ_IDS"]) as ids_file:
        ids: dict[str, list[str]] = json.load(ids_file)
    return ids


def _valid(name: str, value: Any) -> bool:
    if not isinstance(value, str):
        return False
    if name == "code":
        return bool(_CODE.match(value))
    try:
        UUID(value)
    except ValueError:
        return False
    return True


@schemathesis.hook
def map_path_parameters(
    context: schemathesis.HookContext, path_parameters: dict[str, Any] | None
) -> dict[str, Any] | None:
    """Swap a valid generated id for a seeded one, deterministically, half of the time.

    Only values that are already valid are swapped, so a negative case stays negative.
    """
    if not path_parameters:
        return path_parameters
    mapped = dict(path_parameters)
    for name, value in path_parameters.items():
        choices = _seeded().get(name)
        if not choices or not _valid(name, value):
            continue
        digest = zlib.crc32(f"{name}={value}".encode())
        if digest % 2 == 0:
            mapped[name] = choices[(digest // 2) % len(choices)]
    return mapped


# The 422s for schema-valid input that no OpenAPI schema can express: each needs the
# database, another field, the calendar, the network or geometry. positive_data_acceptance
# cannot know them, so a failure of that check is dropped only when every error of the 422
# problem is one of these rules. Any other rejection of schema-valid data (a pydantic type
# or constraint the schema does not show) still fails the run.
SEMANTIC_RULES = [
    # References to what exists in the agency's data.
    re.compile(r"unknown district \S+( \(codes match exactly: did you mean \S+\?\))?"),
    re.compile(r"unknown district\(s\)( in adjacent| in also_covers)?: .+"),
    re.compile(r"no (officer|co_responder|responder) with that id( in this agency)?"),
    # Its shift must fall within its last period of service (app/services/shift_standing.py).
    re.compile(r"that (officer|co_responder|co-responder) is not active(?:[:,] .+)?", re.DOTALL),
    re.compile(r"no such (officer|co-responder) \S+ in this agency"),
    re.compile(r"your agency has never employed an officer with that state_officer_id"),
    re.compile(r"no district boundary contains the location; give a district"),
    re.compile(r"an address alone does not place the call; give a district, or lat and lon"),
    re.compile(
        r"the EIDO does not place the call: give a geodetic point inside a district .*",
        re.DOTALL,
    ),
    # An EIDO's rules beyond its schema: the incident id's form, PIDF-LO XML inside a
    # string (hostile XML; a point not read refuses only a call nothing else places, above),
    # a person's age or birth date, and the bounds on a document's size.
    re.compile(r"not an acceptable EIDO: \$id must be .*"),
    re.compile(r"not an acceptable EIDO: refused XML .*"),
    # Python's calendar again: an EIDO time within a year of years 1 and 9999.
    re.compile(r"not an acceptable EIDO: should be a valid date-time"),
    re.compile(r"not an acceptable EIDO: (ageMeasure|birthDate) is .*"),
    re.compile(r"not an acceptable EIDO: birthDate \S+ is after the document's date .*"),
    re.compile(r"not an acceptable EIDO: the document (holds more|is nested deeper) than .*"),
    re.compile(
        r"these units differ from the latest recommendation( \([0-9a-f-]{36}, made \S+\))?:"
        r" give an override_reason, or an override_code other than `other`"
    ),
    re.compile(r"this Idempotency-Key was used for a different request"),
    re.compile(r"recommendation [0-9a-f-]{36} is not a recommendation of this call"),
    re.compile(r"responder_id is not an active officer or co-responder of this agency"),
    re.compile(r"a unit's terminal never receives .*"),
    # Comparisons between fields.
    re.compile(r"ends_at must be after starts_at"),
    re.compile(r"a shift lasts at most 24 hours; this one lasts (more than )?[0-9.]+ hours"),
    re.compile(r"also_covers must not repeat the shift's own district"),
    re.compile(r"expires_on must be (on or )?after certified_on.*"),
    re.compile(r"give district, location, or both"),
    re.compile(r"a district cannot be adjacent to itself"),
    re.compile(r"the code locate is reserved"),
    re.compile(r"to must be after from"),
    re.compile(r"`to` must be after `from`"),
    re.compile(r"a report covers at most 366 days"),
    re.compile(r"responder_id is required for the unit role, and only for it"),
    # The clock: a key's expiry must still be ahead; a call's or an EIDO's time not far ahead.
    re.compile(r"expires_at must be in the future"),
    re.compile(r"(not an acceptable EIDO: )?more than 5 minutes ahead of the service's clock"),
    re.compile(r"a started shift cannot have ended in the past: end it now at the soonest"),
    re.compile(r"a shift not yet started cannot be moved to one that has ended"),
    re.compile(
        r"`from` is in the future \(\S+\): given alone, the report runs until now at the"
        r" latest; give `to` too for a range ahead"
    ),
    # Equality beyond uniqueItems: case-insensitive codes, (type, id) pairs.
    re.compile(r"nature code .* is given twice \(codes are case-insensitive\)"),
    re.compile(r"a unit appears twice in units"),
    re.compile(r"also_covers has duplicates"),
    re.compile(r"at most one unit may lead"),
    # Unicode: a new officer's id in NFKC, and no default-ignorable character past U+FFFF
    # in an identifier (ECMA-262's classes without the u flag cannot name those).
    re.compile(
        r"Should be given in its plain form \(Unicode NFKC: full-width letters and digits as"
        r" ASCII, no ligatures\)"
    ),
    re.compile(
        r"Should be one line of text with at least one visible character, and no control or"
        r" invisible characters \(zero-width spaces and joiners, direction marks\)"
    ),
    # Python's datetime cannot compute within two days of years 1 and 9999 (RFC 3339 can).
    re.compile(r"the time must be more than two days inside the years 0001 to 9999"),
    # Geometry, and the webhook target's DNS answer.
    re.compile(r"boundary is not a valid polygon \(self-intersecting or degenerate\)"),
    re.compile(r"each boundary ring must be closed \(first position = last\)"),
    re.compile(r"every boundary position has 2 coordinates, or every one has 3"),
    re.compile(r"webhook URL refused: the URL's host does not resolve"),
    re.compile(r"webhook URL refused: the URL's host resolves to an address that is not public"),
    # A bracketed host that matches the schema's pattern but is no IPv6 address.
    re.compile(r"webhook URL refused: the URL is not valid"),
]


@schemathesis.hook
def filter_failure(
    context: schemathesis.HookContext,
    failure: Failure,
    case: schemathesis.Case[Any],
    response: schemathesis.Response,
) -> bool:
    """Keep every failure but a schema-valid request refused by a rule listed above, or by
    its If-Match naming another version than the one in force (a 412: the database's), and
    a webhook URL the machine's resolver could not look up (a 503)."""
    if failure.code == "ST202" and response.status_code == 412:
        sent = {name.lower() for name in (case.headers or {})}
        try:
            kind = response.json()["type"]
        except (ValueError, KeyError, TypeError):
            return True
        return not ("if-match" in sent and str(kind).endswith("/precondition-failed"))
    if failure.code == "ST101" and response.status_code == 503:
        # The machine's resolver, not the service: it did not answer for a webhook URL's
        # host, or failed for now (app/webhooks/targets.py): a 503 to try again, by design.
        try:
            detail = str(response.json()["detail"])
        except (ValueError, KeyError, TypeError):
            return True
        return not detail.startswith("webhook URL not checked: ")
    if failure.code != "ST202" or response.status_code != 422:
        return True
    try:
        errors = response.json()["errors"]
    except (ValueError, KeyError, TypeError):
        return True
    messages = [e.get("msg", "") for e in errors if isinstance(e, dict)]
    semantic = all(any(rule.fullmatch(m) for rule in SEMANTIC_RULES) for m in messages)
    return not (messages and len(messages) == len(errors) and semantic)
