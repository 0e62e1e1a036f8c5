"""PIDF-LO (RFC 4119, RFC 5491), as an EIDO carries a location in `locationByValue`: read a
geodetic point (a GML `Point`, or the centre of a `Circle`, `Ellipse`, `Sphere` or
`Ellipsoid`) and a civic address, and say why a point given could not be read; write a
point.

The XML comes from outside, so it is parsed by defusedxml with DTDs refused: no entity
expansion (billion laughs), no external entity or DTD is ever fetched (XXE).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

if TYPE_CHECKING:  # the type only: parsing is defusedxml's
    from xml.etree.ElementTree import Element

GML = "http://www.opengis.net/gml"
GEOSHAPE = "http://www.opengis.net/pidflo/1.0"
CIVIC = "urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr"
PIDF = "urn:ietf:params:xml:ns:pidf"
GEOPRIV = "urn:ietf:params:xml:ns:pidf:geopriv10"

# The longest address line a call holds (CallLocation.address in app/schemas/calls.py).
MAX_ADDRESS = 500
_CUT = "…"
# A floor, unit, room, seat or building given as a bare number ("7") is labelled ("Floor 7");
# one given with its own word ("Apt 712", "Ground", "Tower B") is shown as sent.
_LABELS = {"BLD": "Building", "FLR": "Floor", "UNIT": "Unit", "ROOM": "Room", "SEAT": "Seat"}


class PidfInvalid(ValueError):
    """The location's point is not one this service can read (or the XML is not
    well-formed): why, in words that never repeat the value, and the gml:pos as sent (sent),
    when there is one."""

    def __init__(self, reason: str, *, sent: str | None = None) -> None:
        super().__init__(reason)
        self.sent = sent


class PidfRefused(PidfInvalid):
    """The location is hostile XML (a DTD or an entity): refused, not read."""


@dataclass(frozen=True, slots=True)
class PidfLocation:
    lat: float | None
    lon: float | None
    address: str | None
    # Why the point given could not be read (PidfInvalid's words), and its gml:pos as sent,
    # on one line: the address is read all the same where the XML is well-formed.
    unread: str | None = None
    sent: str | None = None

    @property
    def point(self) -> tuple[float, float] | None:
        return None if self.lat is None or self.lon is None else (self.lat, self.lon)


# The characters XML 1.0 cannot hold (its Char production), but for the surrogates, which
# the caller shows as "?" (notes.storable): a control character other than a tab or a line
# break, U+FFFE and U+FFFF.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _parse(xml: str) -> Element:
    """The XML's root element; each character XML cannot hold read as U+FFFD, as a NUL is
    in a location's description: one stray byte (a vertical tab between an address's lines,
    an escape) made the whole document a 422, its cautions lost with it."""
    try:
        root: Element = fromstring(_NOT_XML.sub("\ufffd", xml), forbid_dtd=True)
    except DefusedXmlException as exc:
        raise PidfRefused(
            f"refused XML ({type(exc).__name__}): DTDs and entities are not allowed"
        ) from None
    except ParseError as exc:
        raise PidfInvalid(f"not well-formed XML: {exc}") from None
    return root


# The shapes whose gml:pos is the caller's estimated position (RFC 5491, section 5.2): a
# Point, and the centre of a Circle, an Ellipse (how a wireless call's position often
# comes), a Sphere or an Ellipsoid. An ArcBand's gml:pos is where its arcs are measured
# from (a cell tower), not within the shape, and a Polygon has no one position: neither
# places a call.
_CENTRED = frozenset(
    {f"{{{GML}}}Point"}
    | {f"{{{GEOSHAPE}}}{name}" for name in ("Circle", "Ellipse", "Sphere", "Ellipsoid")}
)


# A finite xs:double as written (XML Schema 1.1, section 3.3.5), in ASCII digits.
_XML_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")


def _point(root: Element) -> tuple[float, float] | None:
    """The first Point's position, or a Circle's, Ellipse's, Sphere's or Ellipsoid's
    centre, as (lat, lon)."""
    for shape in root.iter():
        if shape.tag not in _CENTRED:
            continue
        pos = shape.find(f"{{{GML}}}pos")
        if pos is None or not pos.text:
            raise PidfInvalid(f"a {shape.tag.rpartition('}')[2]} without a gml:pos")
        parts = pos.text.split()
        sent = " ".join(parts)
        # Two numbers (EPSG 4326), or three with the altitude (EPSG 4979: a Sphere's or an
        # Ellipsoid's), each as XML writes a number: Python's float() also reads "40_785"
        # as 40785 and other scripts' digits, and a fourth number is no position.
        if len(parts) not in (2, 3) or not all(_XML_NUMBER.fullmatch(p) for p in parts):
            raise PidfInvalid("gml:pos is not 'latitude longitude'", sent=sent)
        lat, lon = float(parts[0]), float(parts[1])
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise PidfInvalid("gml:pos is outside WGS 84 latitude and longitude", sent=sent)
        return lat, lon
    return None


def _address(root: Element) -> str | None:
    """The first civic address as one line of at most MAX_ADDRESS characters (_fitted):
    'Sunrise Apartments, 123 Main St, Tower B, Floor 7, Apt 712, rear entrance, Salt Lake
    City, UT 84101'. The place's names (NAM, LMK); the street (RFC 5139's RD, else RFC
    4119's A6, which RD replaces); what is below the street, largest first (BLD, FLR, UNIT,
    ROOM, SEAT); the location text (LOC); then the community (A5, A4, A3, A1 and PC)."""
    civic = next(root.iter(f"{{{CIVIC}}}civicAddress"), None)
    if civic is None:
        return None

    def text(name: str) -> str:
        found = civic.findtext(f"{{{CIVIC}}}{name}")
        return " ".join(found.split()) if found else ""

    def words(*names: str) -> str:
        return " ".join(found for found in map(text, names) if found)

    def labelled(name: str) -> str:
        found = text(name)
        return f"{_LABELS[name]} {found}" if found[:1].isdigit() else found

    road = "RD" if text("RD") else "A6"
    street = words("HNO", "HNS", "PRD", "PRM", road, "STS", "POD", "POM")
    before = [text("NAM"), text("LMK"), street, *map(labelled, _LABELS)]
    after = [text("A5"), text("A4"), text("A3"), words("A1", "PC")]
    return _fitted(before, text("LOC"), after) or None


def _fitted(before: list[str], free_text: str, after: list[str]) -> str:
    """The parts as one line of at most MAX_ADDRESS characters: past it, the free text
    (LOC) is cut after the last whole word that fits, ending with '…' (left out when none
    does), so that the street and the community stay; a line still too long is cut, ending
    so too."""

    def line(loc: str) -> str:
        return ", ".join(part for part in (*before, loc, *after) if part)

    whole = line(free_text)
    if len(whole) <= MAX_ADDRESS:
        return whole
    room = MAX_ADDRESS - len(line("")) - len(", ") - len(_CUT)
    # At a word's end, where there is one: "gate code 44…" would give a wrong code.
    kept = free_text[: max(room, 0) + 1]
    kept = (kept.rsplit(" ", 1)[0] if " " in kept else "").rstrip(" ,;")
    shorter = line(kept + _CUT if kept else "")
    return shorter if len(shorter) <= MAX_ADDRESS else shorter[: MAX_ADDRESS - len(_CUT)] + _CUT


def read(xml: str) -> PidfLocation:
    """The point and civic address of a PIDF-LO document (either may be missing), and why a
    point given could not be read (unread: a shape without a gml:pos, a gml:pos that is no
    WGS 84 latitude and longitude, XML that is not well-formed), the address read all the
    same where the XML is well-formed. Raises PidfRefused for hostile XML."""
    try:
        root = _parse(xml)
    except PidfRefused:
        raise
    except PidfInvalid as exc:
        return PidfLocation(None, None, None, unread=str(exc))
    address = _address(root)
    try:
        point = _point(root)
    except PidfInvalid as exc:
        return PidfLocation(None, None, address, unread=str(exc), sent=exc.sent)
    return PidfLocation(
        lat=None if point is None else point[0],
        lon=None if point is None else point[1],
        address=address,
    )


def point_document(entity: str, lat: float, lon: float) -> str:
    """A PIDF-LO document with one GML Point (WGS 84, latitude first)."""
    return (
        f'<presence xmlns="{PIDF}" xmlns:gp="{GEOPRIV}" xmlns:gml="{GML}"'
        f' entity="{_attribute(entity)}"><tuple id="incident"><status><gp:geopriv>'
        '<gp:location-info><gml:Point srsName="urn:ogc:def:crs:EPSG::4326">'
        f"<gml:pos>{lat!r} {lon!r}</gml:pos></gml:Point></gp:location-info>"
        "<gp:usage-rules/></gp:geopriv></status></tuple></presence>"
    )


def _attribute(value: str) -> str:
    return (
        value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )
