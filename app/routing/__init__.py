"""Pure routing core: (call, candidates, policy, now) -> Recommendation. No I/O."""

from app.routing.engine import recommend
from app.routing.flags import effective_flags, nature_flags
from app.routing.geo import haversine_km
from app.routing.ranking import hops_to, is_cit, is_eligible, is_minor

__all__ = [
    "effective_flags",
    "haversine_km",
    "hops_to",
    "is_cit",
    "is_eligible",
    "is_minor",
    "nature_flags",
    "recommend",
]
