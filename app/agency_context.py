"""What every request of an agency needs about it: zone, districts, adjacency, policy."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from uuid import UUID
from zoneinfo import ZoneInfo

from shapely import affinity
from shapely.geometry import Point, shape
from shapely.ops import nearest_points
from shapely.prepared import PreparedGeometry, prep

from app.routing import hops_to
from app.routing.geo import haversine_km
from app.routing.types import GeoPoint, Policy


@dataclass(frozen=True)
class DistrictInfo:
    id: UUID
    code: str


class Boundary(NamedTuple):
    code: str
    source: Mapping[str, Any]  # the district's GeoJSON, as stored
    geometry: PreparedGeometry  # prepared for point-in-polygon tests


def code_meant(code: str, meant: str | None) -> str:
    """An unknown district code as a 422 names it, with meant, the agency's code that it
    is but for the case of its letters, if there is one."""
    return f"{code} (codes match exactly: did you mean {meant}?)" if meant else code


@dataclass(frozen=True)
class AgencyContext:
    agency_id: UUID
    timezone: ZoneInfo
    policy: Policy
    districts_by_code: Mapping[str, DistrictInfo]
    adjacency: Mapping[str, frozenset[str]]
    boundaries: tuple[Boundary, ...] = field(default=())
    # Each district's code by id (the inverse of districts_by_code).
    district_codes: Mapping[UUID, str] = field(default_factory=dict)

    def reach(self, code: str, depth: int) -> dict[str, int]:
        """Districts within depth hops of code, with their hop count (code itself is 0)."""
        return hops_to(code, self.adjacency, depth)

    def outside(self, code: str, lat: float, lon: float) -> bool:
        """Whether the point lies outside the district's boundary (False for a district with
        none: it cannot be told)."""
        for boundary in self.boundaries:
            if boundary.code == code:
                return not boundary.geometry.covers(Point(lon, lat))
        return False

    def unknown_district(self, code: str) -> str:
        """What a 422 says of a district code the agency does not have, with the code it
        has in another case, if any: codes match exactly (a console sending "d3")."""
        near = [c for c in self.districts_by_code if c.lower() == code.lower()]
        return f"unknown district {code_meant(code, near[0] if near else None)}"

    def away_km(self, code: str, lat: float, lon: float) -> float | None:
        """How far the point lies from the district's boundary, in kilometres (0 on or
        within it); None for a district with none. The nearest point is looked for with a
        degree of longitude as long as it is at the point's latitude, and across the
        antimeridian too: by bare degrees, it was the far side of an Aleutian district 14 km
        across the antimeridian (145 km), and up to nearly twice the distance at 70 degrees
        north, where the coordinates are asked to be checked from 100 km."""
        for boundary in self.boundaries:
            if boundary.code == code:
                across = math.cos(math.radians(lat))
                flat = affinity.scale(boundary.geometry.context, across, 1.0, origin=(0, 0))
                found = []
                for turn in (0.0, -360.0, 360.0):
                    near, _ = nearest_points(flat, Point((lon + turn) * across, lat))
                    found.append(
                        haversine_km(GeoPoint(lat, lon), GeoPoint(near.y, near.x / across))
                    )
                return min(found)
        return None

    def locate(self, lat: float, lon: float) -> str | None:
        """Return the code of the first district (by code) whose boundary holds the point."""
        point = Point(lon, lat)
        for boundary in self.boundaries:
            if boundary.geometry.covers(point):
                return boundary.code
        return None


def prepare_boundaries(
    rows: list[tuple[str, Mapping[str, Any] | None]], reuse: Iterable[Boundary] = ()
) -> tuple[Boundary, ...]:
    """The districts' boundaries (code, GeoJSON), by code, prepared. One in reuse with the
    same code and the same GeoJSON keeps its prepared geometry: preparing 50 squares holds
    the event loop for about a millisecond, on every reload of a context."""
    known = {boundary.code: boundary for boundary in reuse}
    prepared = []
    for code, source in sorted(rows, key=lambda row: row[0]):
        if source is None:
            continue
        kept = known.get(code)
        if kept is None or kept.source != source:
            kept = Boundary(code, source, prep(shape(source)))
        prepared.append(kept)
    return tuple(prepared)
