"""Tracing with the OpenTelemetry SDK: imported by app/tracing.py only when tracing starts.

The maintained instrumentations do the work: the ASGI middleware makes the request span,
and asyncpg's patches the driver (so the ORM's statements and the hot path's raw ones on the
driver connection are traced alike). The webhook POST's span is ours (`post_span`, around
the relay's sender, app/webhooks/sender.py), with the HTTP semantic conventions' attributes,
and it sends `traceparent`. What would be exported that the access log never writes, the
query string of a request or of a receiver's URL, is left out here.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.propagate import inject
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter as SpanExporter  # for app.tracing
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind, Status, StatusCode, TraceState
from opentelemetry.util.types import Attributes
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Attribute names of our own, beside the semantic conventions the instrumentations write.
REQUEST_ID = "cit.request_id"
DELIVERY_ID = "cit.webhook.delivery_id"
SUBSCRIPTION_ID = "cit.webhook.subscription_id"
EVENT_TYPE = "cit.event.type"
ATTEMPT = "cit.webhook.attempt"
WEBHOOK_SEND = "webhook send"

# Where the query string waits while the request span is made without it.
_HIDDEN_QUERY = "cit.hidden_query_string"


log = logging.getLogger(__name__)

SAMPLER_VARIABLE = "OTEL_TRACES_SAMPLER"
SAMPLER_ARG_VARIABLE = "OTEL_TRACES_SAMPLER_ARG"


class RequestsAndSends(Sampler):
    """Traces begin at a request or a webhook attempt, and head decides which of those are
    kept. A statement outside both (the relay's poll, housekeeping, the live feed's tail)
    would be a trace of one span every second or so: it begins none. Within a trace, spans
    follow their parent (ParentBased)."""

    def __init__(self, head: Sampler) -> None:
        self.head = head

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        if kind == SpanKind.CLIENT:
            return SamplingResult(Decision.DROP)
        return self.head.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"RequestsAndSends{{{self.head.get_description()}}}"


def configured_sampler() -> Sampler:
    """The sampler OTEL_TRACES_SAMPLER names, as the OpenTelemetry SDK reads it: always_on
    (unset: the default), always_off or traceidratio (its ratio in OTEL_TRACES_SAMPLER_ARG,
    0 to 1, default 1), each also with parentbased_. A value not understood is logged and
    the default used, as the SDK does.

    Spans within the process always follow their parent, or a trace would lose its SQL.
    With parentbased_ a caller's traceparent decides for the request too; without it, the
    head sampler decides for every trace that begins at a request or a webhook attempt.
    """
    value = os.environ.get(SAMPLER_VARIABLE, "").strip().lower() or "parentbased_always_on"
    follow_caller = value.startswith("parentbased_")
    name = value.removeprefix("parentbased_")
    head: Sampler
    if name == "always_on":
        head = ALWAYS_ON
    elif name == "always_off":
        head = ALWAYS_OFF
    elif name == "traceidratio":
        head = TraceIdRatioBased(_ratio())
    else:
        log.warning(
            "%s=%r is not a sampler this service knows; parentbased_always_on is used",
            SAMPLER_VARIABLE,
            value,
        )
        head, follow_caller = ALWAYS_ON, True
    root = RequestsAndSends(head)
    if follow_caller:
        return ParentBased(root=root)
    return ParentBased(root=root, remote_parent_sampled=root, remote_parent_not_sampled=root)


def _ratio() -> float:
    text = os.environ.get(SAMPLER_ARG_VARIABLE, "").strip()
    try:
        ratio = float(text) if text else 1.0
    except ValueError:
        ratio = -1.0
    if not 0.0 <= ratio <= 1.0:
        log.warning("%s=%r is not a ratio from 0 to 1; 1 is used", SAMPLER_ARG_VARIABLE, text)
        return 1.0
    return ratio


class ActiveTracing:
    """The process's tracer provider and what was instrumented with it."""

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self.tracer = provider.get_tracer("cit-dispatch")

    @classmethod
    def start(cls, exporter: SpanExporter | None) -> ActiveTracing:
        processor: SpanProcessor
        if exporter is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            processor = BatchSpanProcessor(OTLPSpanExporter())
        else:
            # Given (tests): each span is there as soon as it ends.
            processor = SimpleSpanProcessor(exporter)
        name = os.environ.get("OTEL_SERVICE_NAME") or "cit-dispatch"
        provider = TracerProvider(
            resource=Resource.create({SERVICE_NAME: name}),
            sampler=configured_sampler(),
        )
        provider.add_span_processor(processor)
        # Patches asyncpg's classes for the whole process; stop() takes the patches off.
        AsyncPGInstrumentor().instrument(tracer_provider=provider)  # type: ignore[no-untyped-call]
        return cls(provider)

    def stop(self) -> None:
        AsyncPGInstrumentor().uninstrument()  # type: ignore[no-untyped-call]
        self.provider.shutdown()

    def wrap_asgi(self, app: ASGIApp) -> ASGIApp:
        """The request span around app; called inside the request-id middleware."""
        traced = OpenTelemetryMiddleware(
            _RouteNamed(app),
            default_span_details=_method_only,
            server_request_hook=_tag_request_id,
            tracer_provider=self.provider,
            # One span per ASGI message would add a span per event of a live feed.
            exclude_spans=["receive", "send"],
        )
        return _QueryHidden(traced)

    @contextmanager
    def post_span(
        self, *, url: str, host: str, port: int, headers: list[tuple[bytes, bytes]]
    ) -> Iterator[_Answered]:
        """The webhook POST's client span (HTTP semantic conventions), its context sent in
        headers; an exception ends it as an error (with error.type)."""
        with self.tracer.start_as_current_span(
            "POST",
            kind=SpanKind.CLIENT,
            attributes={
                "http.request.method": "POST",
                "server.address": host,
                "server.port": port,
                "url.full": url,
            },
        ) as span:
            carrier: dict[str, str] = {}
            inject(carrier)
            headers.extend((k.encode("latin-1"), v.encode("latin-1")) for k, v in carrier.items())
            try:
                yield _Answered(span)
            except BaseException as exc:
                span.set_attribute("error.type", type(exc).__qualname__)
                raise

    def webhook_span(
        self, *, delivery_id: Any, subscription_id: Any, event_type: str, attempt: int
    ) -> AbstractContextManager[object]:
        return self.tracer.start_as_current_span(
            WEBHOOK_SEND,
            kind=SpanKind.PRODUCER,
            attributes={
                DELIVERY_ID: str(delivery_id),
                SUBSCRIPTION_ID: str(subscription_id),
                EVENT_TYPE: event_type,
                ATTEMPT: attempt,
            },
        )


def _method_only(scope: Scope) -> tuple[str, dict[str, str]]:
    """The span's name until the route is known: never the raw path, which holds ids."""
    return str(scope.get("method") or "HTTP"), {}


def _tag_request_id(span: trace.Span, scope: Scope) -> None:
    # Set by RequestContextMiddleware (app/api/middleware.py), which runs outside this one.
    request_id = scope.get("state", {}).get("request_id")
    if request_id:
        span.set_attribute(REQUEST_ID, request_id)


class _QueryHidden:
    """The request span is made from a scope without the query string (which may carry a
    location or a CAD number); the app below gets it back from _RouteNamed."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # In place, not a copy: middleware outside may read what routing adds to the scope.
        if scope["type"] == "http" and scope.get("query_string"):
            scope[_HIDDEN_QUERY] = scope["query_string"]
            scope["query_string"] = b""
        await self.app(scope, receive, send)


class _RouteNamed:
    """Give the query string back, and name the request span by its route template
    (`POST /v1/calls/{call_id}/dispatch`) once routing has found it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _HIDDEN_QUERY in scope:
            scope["query_string"] = scope.pop(_HIDDEN_QUERY)
        span = trace.get_current_span()

        async def send_named(message: Message) -> None:
            if message["type"] == "http.response.start":
                template = getattr(scope.get("route"), "path_format", None)
                if template:
                    route = scope.get("root_path", "") + template
                    span.update_name(f"{scope['method']} {route}")
                    span.set_attribute("http.route", route)
            await send(message)

        await self.app(scope, receive, send_named)


class _Answered:
    def __init__(self, span: trace.Span) -> None:
        self.span = span

    def answered(self, status: int) -> None:
        self.span.set_attribute("http.response.status_code", status)
        if status >= 400:  # a client span's error, by the conventions
            self.span.set_attribute("error.type", str(status))
            self.span.set_status(Status(StatusCode.ERROR))
