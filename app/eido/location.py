"""The incident's location as an EIDO's location components give it: the point and address
of the best-typed component that has each (docs/api.md, "EIDO")."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from app.eido import notes, pidf
from app.eido.schema import EidoInvalid

Loc = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Place:
    """The incident's point and address, and where the point came from."""

    point: tuple[float, float] | None
    address: str | None
    loc: Loc


def place(components: list[tuple[int | None, int, Mapping[str, Any]]]) -> Place:
    """The incident's place from its location components, each with the rank of its type
    among registry.INCIDENT_LOCATION_TYPES (None: a type that places nothing) and its
    index: the point and address of the best-typed component that has each. A component's
    address is its PIDF-LO civic address, else its locationDescriptionText (where this
    service's own export puts a call's address). Every locationByValue is parsed: hostile
    XML anywhere is refused (EidoInvalid)."""
    read: list[tuple[int, int, pidf.PidfLocation]] = []
    for rank, index, component in components:
        xml = component.get("locationByValue")
        found = pidf.PidfLocation(None, None, None)
        if xml is not None:
            try:
                # A lone surrogate shown as "?" (notes.storable), as the XML parser cannot
                # encode one: it was a 500.
                found = pidf.read(notes.storable(xml) if isinstance(xml, str) else xml)
            except pidf.PidfInvalid as exc:
                where = ("locationComponent", index, "locationByValue")
                raise EidoInvalid(str(exc), where) from None
        if found.address is None:
            found = replace(found, address=_described(component.get("locationDescriptionText")))
        if rank is not None:
            read.append((rank, index, found))
    read.sort(key=lambda entry: entry[:2])
    with_point = next((entry for entry in read if entry[2].point is not None), None)
    point: tuple[float, float] | None = None
    loc: Loc = ()
    if with_point is not None:
        point, loc = with_point[2].point, ("locationComponent", with_point[1], "locationByValue")
    addressed = next((entry for entry in read if entry[2].address), None)
    if with_point is not None and with_point[2].address:
        addressed = with_point
    address = None if addressed is None else addressed[2].address
    return Place(point, address, loc)


def _described(text: Any) -> str | None:
    """A location's description as an address line: one line, at most 500 characters,
    storable (a NUL as U+FFFD, a lone surrogate as "?", as in notes: refused, the whole
    document was lost, its cautions with it, for one stray character; dropped, the call
    lost its only place without a word)."""
    if not isinstance(text, str):
        return None
    return " ".join(notes.storable(text).split())[:500] or None
