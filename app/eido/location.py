"""The incident's location as an EIDO's location components give it: the point and address
of the best-typed component that has each, and a point that cannot be read told (for the
call's notes) rather than refused (docs/api.md, "EIDO")."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from app.eido import notes, pidf, registry
from app.eido.schema import EidoInvalid
from app.vocabulary import invisible_escaped, one_line

Loc = tuple[str | int, ...]

# The most of a gml:pos not read that the notes show.
_POS_SHOWN = 100


@dataclass(frozen=True, slots=True)
class UnreadPoint:
    """A location component's point that could not be read: why (as a 422 says it, never
    repeating the value), where, and the line of the notes telling the dispatcher so."""

    why: str
    loc: Loc
    line: str


@dataclass(frozen=True, slots=True)
class Place:
    """The incident's point and address, where the point came from, the best-typed point
    not read that no point read outranks, and whether any component gives the incident a
    location (of a type that places a call), read or not."""

    point: tuple[float, float] | None
    address: str | None
    loc: Loc
    unread: UnreadPoint | None
    located: bool
    # A worse-typed point read (an initial location's, or a caller's) when the best-typed
    # one given is not: it places a new call that nothing else places (not even
    # ?district=), and is not the incident's point.
    fallback: tuple[float, float] | None = None


def place(components: list[tuple[int | None, int, Mapping[str, Any]]]) -> Place:
    """The incident's place from its location components, each with the rank of its type
    among registry.INCIDENT_LOCATION_TYPES (None: a type that places nothing) and its
    index: the point and address of the best-typed component that has each. A component's
    address is its PIDF-LO civic address, else its locationDescriptionText (where this
    service's own export puts a call's address). Every locationByValue is parsed: hostile
    XML anywhere is refused (EidoInvalid). A point that cannot be read (a gml:pos that is no
    WGS 84 latitude and longitude, as a longitude-first one often is; XML that is not
    well-formed) is told, not refused: refused, the whole document was lost, its cautions
    with it, where the beat or ?district= placed the call."""
    read: list[tuple[int, int, pidf.PidfLocation]] = []
    for rank, index, component in components:
        xml = component.get("locationByValue")
        found = pidf.PidfLocation(None, None, None)
        if xml is not None:
            try:
                # A lone surrogate shown as "?" (notes.storable), as the XML parser cannot
                # encode one: it was a 500.
                found = pidf.read(notes.storable(xml) if isinstance(xml, str) else xml)
            except pidf.PidfRefused as exc:
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
    unread = next((entry for entry in read if entry[2].unread is not None), None)
    if unread is not None and with_point is not None and with_point[0] <= unread[0]:
        unread = None  # a point of a type as good was read: the call is placed by it
    fallback = None
    if unread is not None:
        # The best-typed point given is not read: the incident has no point (a worse-typed
        # one read, an initial location or a caller's, is older or elsewhere, and only
        # places a new call nothing else places), and the address of the best-typed
        # component that has one, of a type no worse than the point not read: never a
        # caller's, which would stand as the incident's, nor an initial location's, which
        # a call holding a point would take for a new address (and drop its point).
        fallback = None if with_point is None else with_point[2].point
        point, loc = None, ()
        address = next(
            (entry[2].address for entry in read if entry[2].address and entry[0] <= unread[0]),
            None,
        )
    told = None if unread is None else _unread_point(*unread)
    return Place(point, address, loc, told, located=bool(read), fallback=fallback)


def _unread_point(rank: int, index: int, found: pidf.PidfLocation) -> UnreadPoint:
    """The point of the component at index, of the type ranked rank, not read: the line
    shows the gml:pos as sent (a longitude-first point, read there, can be placed by
    hand), where a 422 never repeats a value."""
    kind = registry.INCIDENT_LOCATION_TYPES[rank]
    shown = invisible_escaped(one_line(found.sent or "")[:_POS_SHOWN])
    sent = f" (gml:pos sent: {shown})" if shown else ""
    return UnreadPoint(
        why=f"locationComponent {index}'s point cannot be read: {found.unread}",
        loc=("locationComponent", index, "locationByValue"),
        line=f"{notes.LOCATION_LINE} (locationComponent {index}, {kind}): {found.unread}{sent}",
    )


def _described(text: Any) -> str | None:
    """A location's description as an address line: one line, at most 500 characters,
    storable (a NUL as U+FFFD, a lone surrogate as "?", as in notes: refused, the whole
    document was lost, its cautions with it, for one stray character; dropped, the call
    lost its only place without a word)."""
    if not isinstance(text, str):
        return None
    return " ".join(notes.storable(text).split())[:500] or None
