"""Shared request/response building blocks."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, ClassVar, Generic, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    Strict,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

from app.vocabulary import ASTRAL_INVISIBLE, CONTROLS, INVISIBLE, NAME_MAX, SEEN, TRIMMED, one_line

T = TypeVar("T")

# What each pattern of the API's requires, in words: a 422 says this, not the regular
# expression (app/api/problems.py). A pattern without words is shown as pydantic shows it.
PATTERN_WORDS: dict[str, str] = {}


def worded(pattern: str, words: str) -> str:
    """pattern, with the words a 422 uses for it when a value does not match."""
    PATTERN_WORDS[pattern] = words
    return pattern


def said(error: Mapping[str, Any]) -> str:
    """A pydantic error's message for a client: a pattern's in words (PATTERN_WORDS), not
    its regular expression, which told a console "String should match pattern
    '^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$'"."""
    kind, given = error.get("type"), error.get("input")
    if kind == "json_invalid" and error.get("msg") == "JSON decode error":
        # FastAPI's, for a body that does not parse, with where it stopped as the loc's
        # number: "JSON decode error" left that number unexplained (an outside-in check).
        why = (error.get("ctx") or {}).get("error")
        loc = tuple(error.get("loc") or ())
        at = f" at character {loc[1]}" if len(loc) > 1 and isinstance(loc[1], int) else ""
        return f"The body is not valid JSON{f' ({why})' if why else ''}{at}"
    if kind == "string_pattern_mismatch":
        words = PATTERN_WORDS.get(str((error.get("ctx") or {}).get("pattern")))
        if words is not None:
            return f"Should be {words}"
    at_least = (error.get("ctx") or {}).get("min_length")
    if kind == "string_too_short" and at_least == 1 and isinstance(given, str) and given:
        # The model strips before it counts: "   " was told it "should have at least 1
        # character", which it has.
        return "Should have at least one visible character, not only whitespace"
    message = str(error["msg"])
    if kind == "value_error" and message.startswith("Value error, "):
        # pydantic's prefix to a validator's own words, which say what to fix by themselves.
        return message.removeprefix("Value error, ")
    return message


# PostgreSQL text cannot hold NUL: free text refuses it up front (a 422 the schema shows),
# instead of failing in the database.
NO_NUL = worded(r"^[^\x00]*$", "text without NUL characters")
# Text that must say something: no NUL, and at least one character that is seen. The
# models strip first; the schema matches the same values unstripped.
VISIBLE = worded(
    rf"^[^\x00]*{SEEN}[^\x00]*$",
    "text with at least one visible character, and no NUL characters",
)
# A name, a code, a call sign: one line with something to see, no control characters
# (a tab, a line break, an escape) anywhere but in the whitespace the model strips.
ONE_LINE = worded(
    rf"^[{TRIMMED}]*[^{CONTROLS}]*{SEEN}[^{CONTROLS}]*[{TRIMMED}]*$",
    "one line of text with at least one visible character, and no control characters",
)
# An identifier a person types and the service matches (a statewide id, a badge, a
# certificate number, a call sign): one line as above, with nothing invisible anywhere in
# it: "IL-1" and "IL-1" with a zero-width space inside look one and match as two, so a
# look-alike would pass the checks that one person holds one id.
ID_LINE = worded(
    rf"^[{TRIMMED}]*[^{CONTROLS}{INVISIBLE}]*{SEEN}[^{CONTROLS}{INVISIBLE}]*[{TRIMMED}]*$",
    "one line of text with at least one visible character, and no control or invisible"
    " characters (zero-width spaces and joiners, direction marks)",
)
DISTRICT_CODE = worded(
    r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$",
    "a district code: 1 to 32 ASCII letters, digits, '_', '.' or '-', the first a letter or digit",
)
DistrictCode = Annotated[str, StringConstraints(pattern=DISTRICT_CODE)]


def sent_at_most(max_length: int) -> BeforeValidator:
    """A trimmed string's max_length, held to the value as sent, before the model strips
    it: as the schema's maxLength is, so the two refuse the same values. Put it after the
    StringConstraints, so that it runs first."""

    def check(value: Any) -> Any:
        if isinstance(value, str) and len(value) > max_length:
            raise PydanticCustomError(
                "string_too_long",
                "String should have at most {max_length} characters",
                {"max_length": max_length},
            )
        return value

    return BeforeValidator(check)


# A call's nature as CADs write it, and as a policy names one: free text with something
# to see, up to 64 characters as sent, taken onto one line (each run of tabs, line breaks
# and other controls inside is a space; the ends are trimmed) rather than refused: a call is
# never turned away for how a CAD lays out a field.
NatureText = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=VISIBLE),
    AfterValidator(one_line),
]
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_MAX, pattern=ONE_LINE),
    sent_at_most(NAME_MAX),
]
ShortText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=ONE_LINE),
    sent_at_most(64),
]


def _nothing_astral_unseen(value: str) -> str:
    # ID_LINE's classes end at U+FFFF (the three engines read no further alike): the tags
    # and other invisible characters past it are refused here, in the pattern's words.
    if ASTRAL_INVISIBLE.search(value):
        raise PydanticCustomError(
            "string_pattern_mismatch",
            "String should match pattern '{pattern}'",
            {"pattern": ID_LINE},
        )
    return value


# An identifier's check past U+FFFF (ID_LINE's classes end there); after its constraints.
NOTHING_ASTRAL_UNSEEN = AfterValidator(_nothing_astral_unseen)
IdText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=ID_LINE),
    sent_at_most(64),
    NOTHING_ASTRAL_UNSEEN,
]
# The cap on a list of vocabulary words (event types, flags, trainings): a guard against
# abuse, far above any vocabulary's size, so a new word never makes a full list too long.
WORDS_CAP = 100
Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]


def _json_number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("Input should be a valid integer")
    return value


# An int field takes a JSON integer: 3 or 3.0 (JSON Schema counts both as integers), never
# "3" or true. StrictInt would refuse 3.0, which the schema's type: integer allows.
# Put it after any Field(ge=..., le=...): before them, pydantic would document raw ge/le
# keys instead of minimum/maximum.
JSON_INTEGER = BeforeValidator(_json_number)

_DIGITS = re.compile(r"^[0-9]{1,12}$")


def _digits(value: Any) -> Any:
    if isinstance(value, str) and not _DIGITS.fullmatch(value):
        raise ValueError("Input should be a whole number, in digits")
    return value


# A number in a query string or a path is written in digits: "1.0", "1e1" or "+1" is not
# the integer the OpenAPI document's type: integer promises (pydantic took "1.0" for 1).
# Put it after the Query or Path (as JSON_INTEGER above).
DIGITS = BeforeValidator(_digits)


# A date and a time: what a date alone, or Unix seconds, are not.
_DATE_TIME_TEXT = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ]")
# Python's datetime ends at years 1 and 9999: nearer than this to either end, converting
# to UTC or stepping by a shift's length overflows.
_EDGE = timedelta(days=2)


def _date_time_text(value: Any) -> Any:
    # Pydantic would also read 0.5 or "1700000000" as Unix time, and a date alone as its
    # midnight (then refuse it for its missing zone); the schema says date-time text.
    if isinstance(value, datetime) or (isinstance(value, str) and _DATE_TIME_TEXT.match(value)):
        return value
    raise ValueError(
        "Input should be an RFC 3339 date-time with a time zone, such as 2026-12-03T09:00:00Z"
    )


def is_computable(value: datetime) -> bool:
    """Whether a time is far enough inside the years 0001 to 9999 to compute with."""
    return datetime.min + _EDGE <= value.replace(tzinfo=None) <= datetime.max - _EDGE


def _computable(value: datetime) -> datetime:
    if not is_computable(value):
        raise ValueError("the time must be more than two days inside the years 0001 to 9999")
    # In UTC, as every answer gives a time: a create answers what a read of it will.
    return value.astimezone(UTC)


def _said_plainly(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    # Pydantic reads a time it cannot parse (hour 24, an offset of +24:00) as a date with
    # "unexpected extra characters at the end": the fault is the time's, so say that.
    try:
        return handler(value)
    except ValidationError as exc:
        if any("unexpected extra characters" in e["msg"] for e in exc.errors()):
            raise ValueError(
                "Input should be an RFC 3339 date-time with a time zone, such as"
                " 2026-12-03T09:00:00Z: hours 00 to 23, minutes and seconds 00 to 59, an"
                " offset of at most 23:59"
            ) from None
        raise


# A time in a request: RFC 3339 text with a zone, taken as the same instant in UTC.
Instant = Annotated[
    AwareDatetime,
    WrapValidator(_said_plainly),
    BeforeValidator(_date_time_text),
    AfterValidator(_computable),
]
_FULL_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _full_date_text(value: Any) -> Any:
    # A date-time is no date: "2026-12-02T00:00:00Z" as a certification's end would lose
    # its zone (whose 2 December?).
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _FULL_DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError as exc:  # pydantic's own said "a valid date or datetime"
            raise ValueError(f"Input should be a date of the calendar ({value}: {exc})") from None
    raise ValueError("Input should be an RFC 3339 full-date (YYYY-MM-DD)")


# A date in a request: RFC 3339 full-date text.
Day = Annotated[date, BeforeValidator(_full_date_text)]


NOT_NULL = "may be left out (to keep its value), not null"


def without_null(schema: dict[str, Any], fields: Iterable[str]) -> None:
    """Take null out of these optional fields' JSON schema: left out, each keeps its value;
    null is refused (NOT_NULL), so the schema (and every client generator, and the fuzzer's
    idea of valid data) must not offer it."""
    properties = schema.get("properties", {})
    for name in fields:
        prop = properties.get(name)
        if prop is None or prop.get("default", ...) is not None:
            continue
        del prop["default"]
        options = [o for o in prop.pop("anyOf", []) if o != {"type": "null"}]
        if len(options) == 1:
            prop.update(options[0])
        elif options:
            prop["anyOf"] = options


def with_null(schema: dict[str, Any], fields: Iterable[str]) -> None:
    """Offer null in these fields' JSON schema, beside what they take (NULL_IS_DEFAULT)."""
    properties = schema.get("properties", {})
    for name in fields:
        prop = properties[name]
        if "anyOf" in prop:
            options = prop.pop("anyOf")
        elif "$ref" in prop:
            options = [{"$ref": prop.pop("$ref")}]
        else:  # a plain type (a flag's boolean)
            options = [{"type": prop.pop("type")}]
        prop["anyOf"] = [*options, {"type": "null"}]


class StrictModel(BaseModel):
    """Request bodies reject unknown fields: a misspelt safety flag must not vanish silently.

    Declare their booleans and numbers strict too (StrictBool, JSON_INTEGER, Strict()): lax mode
    would take "40.7" or 0, which the schema (and so every client generator) says are invalid.
    """

    model_config = ConfigDict(extra="forbid")
    # Optional fields that may be left out but not given as null (a validator refuses it):
    # their JSON schema offers no null (without_null).
    NOT_NULL: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(core_schema)
        if cls.NOT_NULL:
            without_null(handler.resolve_ref_schema(json_schema), cls.NOT_NULL)
        return json_schema


class NullIsDefaultModel(StrictModel):
    """A body whose NULL_IS_DEFAULT fields, which have defaults, take null as "not given",
    as CADs that send every field write it: null takes the default, and the schema offers
    null. (Only such bodies pay for the check.)"""

    NULL_IS_DEFAULT: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = super().__get_pydantic_json_schema__(core_schema, handler)
        with_null(handler.resolve_ref_schema(json_schema), sorted(cls.NULL_IS_DEFAULT))
        return json_schema

    @model_validator(mode="before")
    @classmethod
    def _null_is_default(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v is not None or k not in cls.NULL_IS_DEFAULT}
        return data


class PatchModel(StrictModel):
    """A PATCH body: a field left out keeps its value, and null is a 422 for a field that
    cannot be empty (a name, a list, a flag), as a misspelt field is, not taken for "left
    out". NULLABLE names the fields where null means something (a boundary removed)."""

    NULLABLE: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls.NOT_NULL = tuple(name for name in cls.model_fields if name not in cls.NULLABLE)

    @field_validator("*", mode="before")
    @classmethod
    def _not_null(cls, value: object, info: ValidationInfo) -> object:
        if value is None and info.field_name not in cls.NULLABLE:
            raise ValueError(NOT_NULL)
        return value


class GeoLocation(StrictModel):
    """A position: latitude and longitude in degrees (WGS 84)."""

    lat: Annotated[Latitude, Strict()]
    lon: Annotated[Longitude, Strict()]


def geo_location(lat: float | None, lon: float | None) -> GeoLocation | None:
    return None if lat is None or lon is None else GeoLocation(lat=lat, lon=lon)


class Page(BaseModel, Generic[T]):
    # In the config, not a docstring: each Page[X] is a class of its own, which a
    # docstring does not reach.
    model_config = ConfigDict(json_schema_extra={"description": "One page of a list."})

    items: list[T] = Field(description="The page's items, at most limit, in the list's order")
    next_cursor: str | None = Field(
        None,
        description="Pass it back as cursor for the next page; null on the last page. It"
        " names a position in the list (after this page's last item), so rows added"
        " meanwhile never shift a page",
    )


class Items(BaseModel, Generic[T]):
    # In the config, not a docstring: each Items[X] is a class of its own, which a
    # docstring does not reach.
    model_config = ConfigDict(
        json_schema_extra={"description": "A whole list, in one answer: not paged."}
    )

    items: list[T] = Field(description="Every item")
