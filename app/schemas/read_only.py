"""Request bodies that tell a field their resource has but does not take (set elsewhere)
from one it has not at all: pydantic says "Extra inputs are not permitted" of both, and a
CAD sending a call's external_id in a PATCH could not tell which it was."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Self

from pydantic import ModelWrapValidatorHandler, ValidationError, model_validator
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

from app.schemas.common import StrictModel, said

# What a body's 422 says of a field the service alone sets (an id, when it was made).
BY_THE_SERVICE = "The service's own: no request sets it"


class TellsReadOnly(StrictModel):
    """A body whose resource has fields it does not take. Sent, each of READ_ONLY is a 422
    saying where it is set (its message); a field the resource does not have is one naming
    the fields the body takes (as an unknown query parameter's names the route's). Every
    other error reads as it would. A valid body costs nothing more: only a refused one is
    told again."""

    # Each field of the resource the body does not take, and where it is set, in words.
    READ_ONLY: ClassVar[Mapping[str, str]] = {}
    # What the body is, for the message of a field it does not know: "a call's PATCH".
    BODY: ClassVar[str] = "this body"

    @model_validator(mode="wrap")
    @classmethod
    def _told_apart(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        try:
            return handler(data)
        except ValidationError as refused:
            told = [cls._told(error) for error in refused.errors()]
            raise ValidationError.from_exception_data(refused.title, told) from None

    @classmethod
    def _told(cls, error: ErrorDetails) -> InitErrorDetails:
        """The error as the client is to read it: its message final (said), so nothing is
        lost with the context a custom error cannot carry."""
        loc, kind, message = error["loc"], error["type"], said(error)
        if kind == "extra_forbidden" and len(loc) == 1:  # one of this body's own fields
            where = cls.READ_ONLY.get(str(loc[0]))
            if where is not None:
                kind, message = "read_only", where
            else:
                message = unknown_field(
                    str(loc[0]), cls.BODY, list(cls.model_fields), others=list(cls.READ_ONLY)
                )
        return {"type": PydanticCustomError(kind, message), "loc": loc, "input": error["input"]}


def unknown_field(
    name: str, where: str, takes: Sequence[str], *, others: Sequence[str] = ()
) -> str:
    """What a 422 says of a field name the object where (in words) does not have: the
    fields it takes, and the one name may be a misspelling of ("Unknown field: safety takes
    weapon, violence, …; did you mean weapon?"). None is guessed when the name is nearer
    one of others, the resource's fields the body does not take: a call PATCH's
    `disatched_at` was told it meant `district`."""
    return f"Unknown field: {where} takes {', '.join(takes)}{did_you_mean(name, takes, others)}"


def did_you_mean(name: str, takes: Sequence[str], others: Sequence[str] = ()) -> str:
    """The name among takes that name may be a misspelling of, as a message's tail ("; did
    you mean weapon?"), or nothing: also when name is nearer one of others, which are not
    taken."""
    close = difflib.get_close_matches(name, [*takes, *others], n=1)
    return f"; did you mean {close[0]}?" if close and close[0] in takes else ""
