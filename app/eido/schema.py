"""The EIDO schema (NENA-STA-021, `eido-openapi.yaml`, shipped in this package) and the one
validator built from it, for documents coming in and going out.

The published schema is used as it is, but for two repairs made once, at load: one
`minItems` is written as the string "1," (read as 1), and the NIEM components it refers to
(`NIEMComponents/nc.yaml`, `j.yaml`) are not published with it, so those references accept
any JSON object. Timestamps (`format: date-time`) are checked as RFC 3339 with a zone, the
other formats it names (`uri`, `uri-reference`) as jsonschema-rs checks them, by both
validators alike.

Two validators are built from the one repaired schema: jsonschema-rs (compiled) decides,
in tens of microseconds; a document it refuses is explained by jsonschema's first error,
with the path to it. Both are maintained JSON Schema libraries; tests/eido checks that they
agree on the shared samples and on every refusal the tests make.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from functools import cache
from importlib.resources import files
from typing import Any

import jsonschema_rs
import yaml
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError

ROOT = "EmergencyIncidentDataObjectType"
_COMPONENTS = "#/components/schemas/"
# What a document may hold at most before it is validated: several times what a large
# incident needs, and small enough that validating it takes at most a few tenths of a
# second (measured: 5,000 values, 0.3 s on a busy 2-core machine).
MAX_NODES = 4_000
MAX_DEPTH = 24


class EidoInvalid(ValueError):
    """The document is not an acceptable EIDO; loc is the path to the first problem."""

    def __init__(self, message: str, loc: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.loc = loc


def _repair(node: Any) -> Any:
    """The schema with its known defects repaired (see the module's docstring)."""
    if isinstance(node, dict):
        repaired = {key: _repair(value) for key, value in node.items()}
        items = repaired.get("minItems")
        if isinstance(items, str):
            repaired["minItems"] = int(items.strip().rstrip(","))
        ref = repaired.get("$ref")
        if isinstance(ref, str) and not ref.startswith("#"):
            return {"type": "object"}
        return repaired
    if isinstance(node, list):
        return [_repair(item) for item in node]
    return node


_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$", re.ASCII
)


def parse_timestamp(value: str) -> datetime | None:
    """An RFC 3339 date-time with a zone, or None if value is not one (or is within a year
    of the ends of Python's calendar, where converting it to UTC would overflow)."""
    if not _RFC3339.match(value):
        return None
    try:
        moment = datetime.fromisoformat(value.upper())
    except ValueError:
        return None
    return moment if 1 < moment.year < 9999 else None


# The formats checked otherwise than jsonschema-rs checks them by itself.
_OWN_FORMATS = {"date-time": lambda value: parse_timestamp(value) is not None}


def _format_names(node: Any) -> set[str]:
    """Every format the schema names (date-time, uri, uri-reference, int32)."""
    names: set[str] = set()
    pending = [node]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            if isinstance(item.get("format"), str):
                names.add(item["format"])
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return names


def _format_checker() -> FormatChecker:
    """Each format the schema names, checked for the explaining validator exactly as the
    deciding one checks it: by jsonschema-rs, one value at a time. A refusal for any format
    (a `uri` that is none) is then explained, with its path, as one for a date-time is; a
    format jsonschema-rs does not check (int32) passes in both."""
    checker = FormatChecker(formats=())
    for name in sorted(_format_names(schemas())):
        one = jsonschema_rs.Draft202012Validator(
            {"format": name}, formats=_OWN_FORMATS, validate_formats=True
        )
        checker.checks(name)(one.is_valid)
    return checker


@cache
def schemas() -> dict[str, Any]:
    """The schema's components, repaired; the caller must not change them."""
    text = files("app.eido").joinpath("eido-openapi.yaml").read_text(encoding="utf-8")
    # libyaml's loader when PyYAML was built with it: ten times as fast, and as safe.
    document = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
    schemas: dict[str, Any] = _repair(document["components"]["schemas"])
    return schemas


def _root() -> dict[str, Any]:
    return {"$ref": f"{_COMPONENTS}{ROOT}", "components": {"schemas": schemas()}}


@cache
def validator() -> Draft202012Validator:
    """The validator of EmergencyIncidentDataObjectType that explains refusals, built once."""
    root = _root()
    Draft202012Validator.check_schema(root)
    return Draft202012Validator(root, format_checker=_format_checker())


@cache
def _decider() -> jsonschema_rs.Draft202012Validator:
    """The compiled validator that decides, built once."""
    return jsonschema_rs.Draft202012Validator(
        _root(),
        formats=_OWN_FORMATS,
        validate_formats=True,
    )


def load() -> None:
    """Build both validators now (the first document should not wait for it)."""
    validator()
    _decider()


def _nodes(document: Any) -> Iterator[tuple[int, tuple[str | int, ...]]]:
    """(depth, path) of every value in the document, without recursion."""
    pending: list[tuple[Any, tuple[str | int, ...]]] = [(document, ())]
    while pending:
        value, path = pending.pop()
        yield len(path), path
        if isinstance(value, dict):
            pending.extend((v, (*path, k)) for k, v in value.items())
        elif isinstance(value, list):
            pending.extend((v, (*path, i)) for i, v in enumerate(value))


def _bound(document: Any) -> None:
    count = 0
    pending: list[tuple[Any, int]] = [(document, 0)]
    while pending:
        value, depth = pending.pop()
        count += 1
        if count > MAX_NODES:
            raise EidoInvalid(f"the document holds more than {MAX_NODES} values")
        if depth > MAX_DEPTH:
            path = next(path for deep, path in _nodes(document) if deep > MAX_DEPTH)
            raise EidoInvalid(f"the document is nested deeper than {MAX_DEPTH} levels", path)
        if isinstance(value, dict):
            pending.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            pending.extend((item, depth + 1) for item in value)


def is_valid(document: Any) -> bool:
    """Whether document is a valid EIDO within the bounds: fast, and says nothing of why."""
    if not isinstance(document, dict):
        return False
    try:
        _bound(document)
    except EidoInvalid:
        return False
    return bool(_decider().is_valid(document))


def check(document: Any) -> None:
    """Raise EidoInvalid naming the first problem unless document is a valid EIDO.

    Its size is bounded first (values and depth), so that no body the API accepts can make
    validation take seconds.
    """
    if not isinstance(document, dict):
        raise EidoInvalid("an EIDO is a JSON object")
    _bound(document)
    if _decider().is_valid(document):
        return
    # The first error found: collecting them all could cost seconds on a hostile document.
    error = next(validator().iter_errors(document), None)
    if error is not None:
        raise EidoInvalid(_message(error), tuple(error.absolute_path))
    raise EidoInvalid("does not match the EIDO schema")  # the two validators disagree


def _message(error: ValidationError) -> str:
    """What the schema asks for, in words of the schema alone: jsonschema's own messages
    repeat the rejected value (a timestamp, a string of any length), and a problem never
    echoes input (docs/api.md, "Errors")."""
    wanted: Any = error.validator_value
    match error.validator:
        case "required":  # names the missing property, from the schema
            return str(error.message)[:300]
        case "type":
            kinds = wanted if isinstance(wanted, list) else [wanted]
            return f"should be of type {' or '.join(str(k) for k in kinds)}"
        case "enum":
            return f"should be one of {', '.join(repr(v) for v in wanted)}"[:300]
        case "format":
            return f"should be a valid {wanted}"
        case "minItems":
            return f"should have at least {wanted} item{'' if wanted == 1 else 's'}"
    return f"does not match the EIDO schema ({error.validator})"
