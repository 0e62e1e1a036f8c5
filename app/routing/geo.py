"""Great-circle geometry for ranking units by how far they are from a call."""

from __future__ import annotations

import math

from app.routing.types import GeoPoint

EARTH_RADIUS_KM = 6371.0088


def is_known(point: GeoPoint | None) -> bool:
    """Tell whether a point is a real position: present, finite and within WGS 84 ranges."""
    # A NaN, infinite or out-of-range coordinate is a data error upstream; ranking treats it
    # like a missing location rather than trusting (or crashing on) it.
    return point is not None and -90.0 <= point.lat <= 90.0 and -180.0 <= point.lon <= 180.0


def haversine_km(a: GeoPoint, b: GeoPoint) -> float:
    """Return the great-circle distance between two points, in kilometres."""
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlat = lat2 - lat1
    dlon = math.radians(b.lon) - math.radians(a.lon)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    # Rounding (or a latitude outside ±90°) can push h just outside [0, 1]; asin must not raise.
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, max(0.0, h))))
