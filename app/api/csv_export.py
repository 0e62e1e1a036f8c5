"""CSV answers for reports (`Accept: text/csv`): RFC 4180 through Python's csv module."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fastapi import Request
from fastapi.responses import Response

CSV = "text/csv"
# A cell a spreadsheet would run as a formula is prefixed with a quote (OWASP's advice on
# CSV injection); numbers are written as they are, so negative figures stay numbers.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def wants_csv(request: Request) -> bool:
    """Whether the client prefers CSV (RFC 9110 §12.5.1): named in Accept (text/csv or
    text/*), with a quality above zero and not below JSON's. A type's quality is that of the
    most specific range that matches it (text/csv, then text/*, then */*); at equal
    quality, the type named more exactly wins. JSON is the default (*/* alone included)."""
    ranges: dict[str, float] = {}
    for part in request.headers.get("accept", "").split(","):
        media, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = min(max(float(value.strip()), 0.0), 1.0)
                except ValueError:
                    quality = 0.0  # a quality that is no number: not acceptable
        ranges.setdefault(media.lower(), quality)
    csv = _quality(ranges, CSV, "text/*", "*/*")
    if csv[0] <= 0.0 or csv[1] == 0:  # */* alone names neither: JSON, the default
        return False
    # At equal quality, the type named more exactly wins (application/json over text/*);
    # named alike, CSV, as the client took the trouble to name it.
    return csv >= _quality(ranges, "application/json", "application/*", "*/*")


def _quality(ranges: dict[str, float], *most_specific_first: str) -> tuple[float, int]:
    """A type's quality, from the most specific of its ranges that Accept names, and how
    specific that range is (2: the type itself, 1: its type/*, 0: */* or none named)."""
    for index, media_range in enumerate(most_specific_first):
        if media_range in ranges:
            return ranges[media_range], len(most_specific_first) - 1 - index
    return 0.0, 0


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested objects and lists as dotted columns: {"a": {"b": 1}} -> {"a.b": 1}."""
    if isinstance(value, Mapping):
        items: Iterable[tuple[str, Any]] = value.items()
    elif isinstance(value, list):
        items = ((str(i), v) for i, v in enumerate(value))
    else:
        return {prefix: value}
    out: dict[str, Any] = {}
    for key, inner in items:
        out.update(flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
    return out


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_response(header: Sequence[str], rows: Iterable[Mapping[str, Any]], name: str) -> Response:
    """A CSV document with a header row; each row gives a value per header column."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(row.get(column)) for column in header])
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )
