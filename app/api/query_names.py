"""The query parameters a route takes: any other is a 422, and so is one that takes one
value given more than once (docs/api.md: a misspelt filter must not return everything)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from types import UnionType
from typing import Union, get_args, get_origin

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from app.schemas.read_only import did_you_mean


@dataclass(frozen=True, slots=True)
class _QueryNames:
    known: frozenset[str]
    # Those that take a list (given more than once, each value counts).
    repeatable: frozenset[str]


def _takes_a_list(annotation: object) -> bool:
    """Whether a query parameter's type is a list (or an optional one)."""
    options = get_args(annotation) if get_origin(annotation) in (Union, UnionType) else ()
    return any(get_origin(a) in (list, tuple, set) for a in (annotation, *options))


def _query_names(route: APIRoute) -> _QueryNames:
    """The query parameters a route declares, its dependencies' included; worked out on
    the first request and kept on the route (routes are not hashable)."""
    names: _QueryNames | None = getattr(route, "cit_query_names", None)
    if names is None:
        known: set[str] = set()
        repeatable: set[str] = set()
        pending = [route.dependant]
        while pending:
            dependant = pending.pop()
            for field in dependant.query_params:
                known.add(field.alias)
                if _takes_a_list(field.field_info.annotation):
                    repeatable.add(field.alias)
            pending.extend(dependant.dependencies)
        names = _QueryNames(frozenset(known), frozenset(repeatable))
        route.cit_query_names = names  # type: ignore[attr-defined]
    return names


def refuse_unknown_query(request: Request) -> None:
    """A query parameter the route does not know is a 422 naming it (SPEC §6.2): a
    misspelt filter must not quietly return everything. So is one that takes one value
    given more than once (`?district=D1&district=D4`): only the last would count."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    names = _query_names(route)
    query = request.query_params
    known = names.known
    unknown = sorted({name for name in query if name not in known})
    if unknown:
        takes = sorted(known)
        raise RequestValidationError(
            [
                {
                    "type": "extra_forbidden",
                    "loc": ("query", name),
                    "msg": "Unknown query parameter"
                    + (f"; this route takes {', '.join(takes)}" if takes else "")
                    + did_you_mean(name, takes),
                }
                for name in unknown
            ]
        )
    items = query.multi_items()
    if len(items) > len(query):  # a name given more than once
        counts = Counter(name for name, _ in items)
        repeated = sorted(n for n, c in counts.items() if c > 1 and n not in names.repeatable)
        if repeated:
            raise RequestValidationError(
                [
                    {
                        "type": "too_long",
                        "loc": ("query", name),
                        "msg": "Given more than once; this parameter takes one value",
                    }
                    for name in repeated
                ]
            )
