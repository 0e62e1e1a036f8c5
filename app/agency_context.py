"""What every request of an agency needs about it: zone, districts, adjacency, policy."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from shapely.geometry import Point, shape
from shapely.prepared import PreparedGeometry, prep

from app.routing import hops_to
from app.routing.types import Policy


@dataclass(frozen=True)
class DistrictInfo:
    id: UUID
    code: str


@dataclass(frozen=True)
class AgencyContext:
    agency_id: UUID
    timezone: ZoneInfo
    policy: Policy
    districts_by_code: Mapping[str, DistrictInfo]
    adjacency: Mapping[str, frozenset[str]]
    boundaries: tuple[tuple[str, PreparedGeometry], ...] = field(default=())
    # Each district's code by id (the inverse of districts_by_code).
    district_codes: Mapping[UUID, str] = field(default_factory=dict)

    def reach(self, code: str, depth: int) -> dict[str, int]:
        """Districts within depth hops of code, with their hop count (code itself is 0)."""
        return hops_to(code, self.adjacency, depth)

    def locate(self, lat: float, lon: float) -> str | None:
        """Return the code of the first district (by code) whose boundary holds the point."""
        point = Point(lon, lat)
        for code, geometry in self.boundaries:
            if geometry.covers(point):
                return code
        return None


def prepare_boundaries(
    rows: list[tuple[str, dict[str, Any] | None]],
) -> tuple[tuple[str, PreparedGeometry], ...]:
    return tuple(
        (code, prep(shape(boundary))) for code, boundary in sorted(rows) if boundary is not None
    )
