"""What a body's 422 says of a field the object holding it does not have, at any depth.

pydantic says "Extra inputs are not permitted" of each, which named neither the fields the
object takes nor the one a misspelling meant: a console sending `safety.weapn` was not
told it meant `weapon`. A top-level field of a PATCH body is told by the body itself
(app/schemas/read_only.py), with where a field it does not take is set; this tells the
others, from the route's body model, at no cost to a valid request.
"""

from __future__ import annotations

import types
from collections.abc import Iterable, Mapping, Sequence
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from starlette.requests import Request

from app.schemas.read_only import unknown_field
from app.vocabulary import invisible_escaped

# pydantic's message for a field the object does not have, as long as no one has told it.
_PYDANTIC = "Extra inputs are not permitted"


def told(request: Request, error: Mapping[str, Any]) -> str | None:
    """The message for error if it is pydantic's own of a field its object in the route's
    body does not have, else None (the error reads as it would)."""
    loc = tuple(error.get("loc") or ())
    if error.get("type") != "extra_forbidden" or error.get("msg") != _PYDANTIC:
        return None
    if len(loc) < 2 or loc[0] != "body":
        return None
    body = getattr(getattr(request.scope.get("route"), "body_field", None), "field_info", None)
    if body is None:
        return None
    model = _model_at(body.annotation, loc[1:-1])
    if model is None:
        return None
    where = "the body" if len(loc) == 2 else _path(loc[1:-1])
    return unknown_field(str(loc[-1]), where, list(model.model_fields))


# The most of a name in the path a message shows: a mapping's key is the client's own text.
_NAME_SHOWN = 64
_CUT = "…"


def _path(parts: Iterable[str | int]) -> str:
    """The object's place in the body as a console would write it: `shifts[0]`, `safety`.
    A name is cut to _NAME_SHOWN characters, saying so, before its invisible characters
    are escaped, so that no escape (`\\u200b`) is cut in two; the 422's loc is cut alike."""
    shown = ""
    for part in parts:
        if isinstance(part, int):
            shown += f"[{part}]"
        else:
            name = str(part)
            if len(name) > _NAME_SHOWN:
                name = name[:_NAME_SHOWN] + _CUT
            shown += ("." if shown else "") + invisible_escaped(name)
    return shown


def _model_at(annotation: Any, parts: Sequence[str | int]) -> type[BaseModel] | None:
    """The model of the object at parts (pydantic's loc inside the body), or None if it
    cannot be told (a union it cannot choose between, a path the model does not have)."""
    held = [annotation]
    for part in parts:
        models = [m for a in held for m in _models(a)]
        if isinstance(part, int):  # an item of a list
            held = [item for a in held for item in _items(a, list)]
        elif (chosen := _member(models, part)) is not None:
            held = [chosen]  # a union's member, named by its tag: no field passed
        elif len(models) == 1 and part in models[0].model_fields:
            held = [models[0].model_fields[part].annotation]
        else:  # a value of a mapping
            held = [value for a in held for value in _items(a, dict)]
        if not held:
            return None
    models = [m for a in held for m in _models(a)]
    return models[0] if len(models) == 1 else None


def _unwrapped(annotation: Any) -> list[Any]:
    """The types an annotation may be, through Annotated, Optional and unions."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _unwrapped(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return [t for arg in get_args(annotation) for t in _unwrapped(arg)]
    return [annotation]


def _models(annotation: Any) -> list[type[BaseModel]]:
    return [t for t in _unwrapped(annotation) if isinstance(t, type) and issubclass(t, BaseModel)]


def _items(annotation: Any, container: type) -> list[Any]:
    """What a list holds (container list), or a mapping's values (dict)."""
    return [
        get_args(t)[-1]
        for t in _unwrapped(annotation)
        if get_origin(t) is container and get_args(t)
    ]


def _member(models: Sequence[type[BaseModel]], part: str | int) -> type[BaseModel] | None:
    """The union member pydantic's loc names (by its discriminator's value, or its class
    name for a union without one), when there is a choice."""
    if len(models) < 2:
        return None
    for model in models:
        tags = [
            value
            for field in model.model_fields.values()
            if get_origin(field.annotation) is Literal
            for value in get_args(field.annotation)
        ]
        if part == model.__name__ or part in tags:
            return model
    return None
