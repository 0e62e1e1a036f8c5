"""PIDF-LO (RFC 4119, RFC 5491), as an EIDO carries a location in `locationByValue`: read a
geodetic point (a GML `Point`, or a `Circle`'s centre) and a civic address; write a point.

The XML comes from outside, so it is parsed by defusedxml with DTDs refused: no entity
expansion (billion laughs), no external entity or DTD is ever fetched (XXE).
"""

from __future__ import annotations

import math
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

# The civic address elements (RFC 5139) an address line is made of, in reading order.
_STREET = ("HNO", "HNS", "PRD", "RD", "STS", "POD")
_PLACE = ("A3", "A1", "PC")


class PidfInvalid(ValueError):
    """The location is not PIDF-LO this service can read (or is hostile XML)."""


@dataclass(frozen=True, slots=True)
class PidfLocation:
    lat: float | None
    lon: float | None
    address: str | None

    @property
    def point(self) -> tuple[float, float] | None:
        return None if self.lat is None or self.lon is None else (self.lat, self.lon)


def _parse(xml: str) -> Element:
    try:
        root: Element = fromstring(xml, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise PidfInvalid(
            f"refused XML ({type(exc).__name__}): DTDs and entities are not allowed"
        ) from None
    except ParseError as exc:
        raise PidfInvalid(f"not well-formed XML: {exc}") from None
    return root


def _point(root: Element) -> tuple[float, float] | None:
    """The first Point's position, or Circle's centre, as (lat, lon)."""
    for shape in root.iter():
        if shape.tag not in {f"{{{GML}}}Point", f"{{{GEOSHAPE}}}Circle"}:
            continue
        pos = shape.find(f"{{{GML}}}pos")
        if pos is None or not pos.text:
            raise PidfInvalid("a Point or Circle without a gml:pos")
        parts = pos.text.split()
        try:
            lat, lon = float(parts[0]), float(parts[1])
        except (IndexError, ValueError):
            raise PidfInvalid("gml:pos is not 'latitude longitude'") from None
        if not (math.isfinite(lat) and math.isfinite(lon)):
            raise PidfInvalid("gml:pos is not 'latitude longitude'")
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise PidfInvalid("gml:pos is outside WGS 84 latitude and longitude")
        return lat, lon
    return None


def _address(root: Element) -> str | None:
    """The first civic address as one line: '12 Main St, Salt Lake City, UT 84101'."""
    civic = next(root.iter(f"{{{CIVIC}}}civicAddress"), None)
    if civic is None:
        return None

    def words(names: tuple[str, ...]) -> str:
        found = (civic.findtext(f"{{{CIVIC}}}{name}") for name in names)
        return " ".join(" ".join(text.split()) for text in found if text and text.strip())

    line = ", ".join(
        part for part in (words(_STREET), words(_PLACE[:1]), words(_PLACE[1:])) if part
    )
    return line[:500] or None


def read(xml: str) -> PidfLocation:
    """The point and civic address of a PIDF-LO document (either may be missing)."""
    root = _parse(xml)
    point = _point(root)
    return PidfLocation(
        lat=None if point is None else point[0],
        lon=None if point is None else point[1],
        address=_address(root),
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
