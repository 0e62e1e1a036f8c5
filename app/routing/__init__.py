"""Pure routing core: (call, candidates, policy, now) -> Recommendation. No I/O."""

from app.routing.ranking import haversine_km, hops_to, is_cit, is_eligible
from app.routing.rules import effective_flags, recommend

__all__ = ["effective_flags", "haversine_km", "hops_to", "is_cit", "is_eligible", "recommend"]
