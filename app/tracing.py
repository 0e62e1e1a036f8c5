"""OpenTelemetry tracing: on when OTEL_EXPORTER_OTLP_ENDPOINT is set, and free otherwise.

This module is the switch and the hooks the rest of the app calls; it imports nothing from
OpenTelemetry. `start_tracing` imports the SDK, the exporter and the instrumentations
(`app/tracing_otel.py`) only when tracing starts, so a service without the variable never
loads them, and each hook is one check of a module global. (FastAPI imports the
OpenTelemetry API itself, a no-op without a provider; it is FastAPI's, not ours.)

What is traced, when on: each HTTP request is a server span carrying its request id, with
every SQL statement under it; each webhook attempt of the relay is a span of its own (the
relay runs apart from any request), with its POST as a child span whose `traceparent`
header carries the trace to the receiver (`webhook_post`, around the relay's own sender,
app/webhooks/sender.py).
"""

from __future__ import annotations

import contextlib
import os
import threading
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from app.tracing_otel import ActiveTracing, SpanExporter

ENDPOINT_VARIABLE = "OTEL_EXPORTER_OTLP_ENDPOINT"

_active: ActiveTracing | None = None
_lock = threading.Lock()


def configured() -> bool:
    """Whether the environment asks for tracing (OTEL_EXPORTER_OTLP_ENDPOINT is set)."""
    return bool(os.environ.get(ENDPOINT_VARIABLE, "").strip())


def start_tracing(exporter: SpanExporter | None = None) -> ActiveTracing | None:
    """Start tracing for this process when the environment asks for it, or into exporter.

    Without exporter, spans go to the OTLP/HTTP exporter, which reads the standard OTEL_*
    variables. Returns what runs (the first start, when called again), or None when off.
    """
    global _active
    with _lock:
        if _active is None and (exporter is not None or configured()):
            from app.tracing_otel import ActiveTracing

            _active = ActiveTracing.start(exporter)
        return _active


def stop_tracing() -> None:
    """Export what is left and stop tracing (tests; a service's exit flushes by itself)."""
    global _active
    with _lock:
        active, _active = _active, None
    if active is not None:
        active.stop()


class PostSpan(Protocol):
    """What the sender tells the span of a POST."""

    def answered(self, status: int) -> None: ...


class _Untraced:
    def answered(self, status: int) -> None:
        pass


# Reusable: entering it does nothing and gives the span that records nothing.
_UNTRACED = contextlib.nullcontext(_Untraced())


def webhook_post(
    *, url: str, host: str, port: int, headers: list[tuple[bytes, bytes]]
) -> AbstractContextManager[PostSpan]:
    """A client span around one webhook POST, when tracing is on: its trace context is
    added to headers (`traceparent`). url is the receiver's without its query string."""
    if _active is None:
        return _UNTRACED
    return _active.post_span(url=url, host=host, port=port, headers=headers)


def webhook_send(
    *, delivery_id: Any, subscription_id: Any, event_type: str, attempt: int
) -> AbstractContextManager[object]:
    """A span around one webhook attempt, when tracing is on."""
    if _active is None:
        return contextlib.nullcontext()
    return _active.webhook_span(
        delivery_id=delivery_id,
        subscription_id=subscription_id,
        event_type=event_type,
        attempt=attempt,
    )
