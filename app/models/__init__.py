"""ORM tables, one module per aggregate. Importing this registers them all on Base.metadata."""

from app.models.agency import Agency
from app.models.alert import AlertSent
from app.models.api_key import ApiKey
from app.models.assignment import Assignment, Dispatch
from app.models.audit import AuditEntry
from app.models.base import Base
from app.models.call import Call, Recommendation
from app.models.certification import Certification
from app.models.co_responder import CoResponder
from app.models.district import District, DistrictAdjacency
from app.models.eido_subscription import EidoSubscription
from app.models.event import Event
from app.models.idempotency import IdempotencyRecord
from app.models.limits import AuthFailure, RateBucket
from app.models.officer import Officer
from app.models.policy import RoutingPolicy
from app.models.shift import Shift, ShiftCoverage
from app.models.stream_ticket import StreamTicket
from app.models.webhook import WebhookDelivery, WebhookSubscription

__all__ = [
    "Agency",
    "AlertSent",
    "ApiKey",
    "Assignment",
    "AuditEntry",
    "AuthFailure",
    "Base",
    "Call",
    "Certification",
    "CoResponder",
    "Dispatch",
    "District",
    "DistrictAdjacency",
    "EidoSubscription",
    "Event",
    "IdempotencyRecord",
    "Officer",
    "RateBucket",
    "Recommendation",
    "RoutingPolicy",
    "Shift",
    "ShiftCoverage",
    "StreamTicket",
    "WebhookDelivery",
    "WebhookSubscription",
]
