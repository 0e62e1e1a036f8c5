"""Tracing: a request is a span with its request id and its SQL under it; a webhook carries
`traceparent`; OTEL_TRACES_SAMPLER decides which traces are kept; and with
OTEL_EXPORTER_OTLP_ENDPOINT unset, no OpenTelemetry module loads."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    TraceFlags,
    set_span_in_context,
)

from app.api.app import create_app
from app.settings import Settings
from app.tracing import ENDPOINT_VARIABLE, start_tracing, stop_tracing
from app.tracing_otel import (
    REQUEST_ID,
    SAMPLER_ARG_VARIABLE,
    SAMPLER_VARIABLE,
    WEBHOOK_SEND,
    configured_sampler,
)
from tests.conftest import ServiceFactory
from tests.helpers import Api, grid_districts
from tests.receiver import Receiver

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on for the test, into memory; apps created meanwhile are traced."""
    exporter = InMemorySpanExporter()
    active = start_tracing(exporter)
    assert active is not None
    try:
        yield exporter
    finally:
        stop_tracing()


def _in_trace(spans: InMemorySpanExporter, trace_id: int) -> list[ReadableSpan]:
    return [s for s in spans.get_finished_spans() if s.context.trace_id == trace_id]


def _descends_from(span: ReadableSpan, ancestor: ReadableSpan, among: list[ReadableSpan]) -> bool:
    by_id = {s.context.span_id: s for s in among}
    parent = span.parent
    while parent is not None:
        if parent.span_id == ancestor.context.span_id:
            return True
        above = by_id.get(parent.span_id)
        parent = above.parent if above is not None else None
    return False


@asynccontextmanager
async def _client(settings: Settings, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a fresh app (its lifespan run), traced as the fixture set up."""
    app = create_app(settings, database_url)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://cit.test") as http:
            yield http


async def test_a_request_is_a_server_span_with_its_request_id_and_its_sql_under_it(
    admin: Api, database_url: str, settings: Settings, spans: InMemorySpanExporter
) -> None:
    await grid_districts(admin)
    async with _client(settings, database_url) as http:
        response = await http.post(
            "/v1/calls?trace=q-secret",
            json={"district": "D1", "nature": "MNTL"},
            headers={**admin.headers, "X-Request-ID": "trace-me-1"},
        )
    assert response.status_code == 422, response.text  # an unknown query parameter
    (server,) = [
        s
        for s in spans.get_finished_spans()
        if s.kind == SpanKind.SERVER and (s.attributes or {}).get(REQUEST_ID) == "trace-me-1"
    ]
    assert server.name == "POST /v1/calls"
    assert response.headers["x-request-id"] == "trace-me-1"
    trace = _in_trace(spans, server.context.trace_id)
    statements = [s for s in trace if (s.attributes or {}).get("db.system") == "postgresql"]
    # Authentication and the audit entry of the refused request, in its transaction.
    sql = [str((s.attributes or {}).get("db.statement")) for s in statements]
    assert any("cit_authenticate" in statement for statement in sql), sql
    assert any("INSERT INTO audit_entry" in statement for statement in sql), sql
    assert all(_descends_from(s, server, trace) for s in statements)
    # The query string is never exported (it may carry a location), as it is never logged.
    assert not any("q-secret" in str(v) for s in trace for v in (s.attributes or {}).values())


async def test_raw_intake_statements_are_traced_and_spans_are_named_by_route_not_path(
    admin: Api, database_url: str, settings: Settings, spans: InMemorySpanExporter
) -> None:
    await grid_districts(admin)
    async with _client(settings, database_url) as http:
        response = await http.post(
            "/v1/calls", json={"district": "D1", "nature": "MNTL"}, headers=admin.headers
        )
        call_id = response.json()["id"]
        read = await http.get(f"/v1/calls/{call_id}", headers=admin.headers)
    assert response.status_code == 201, response.text
    assert read.status_code == 200, read.text
    server, reader = [s for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER]
    # Named by the route, never by the raw path with its ids.
    assert reader.name == "GET /v1/calls/{call_id}"
    assert reader.attributes is not None
    assert reader.attributes["http.route"] == "/v1/calls/{call_id}"
    assert server.attributes is not None
    assert server.attributes[REQUEST_ID] == response.headers["x-request-id"]
    trace = _in_trace(spans, server.context.trace_id)
    statements = [str((s.attributes or {}).get("db.statement", "")) for s in trace]
    # The call's row is written by the hot path's raw statement, past SQLAlchemy.
    assert any("INSERT INTO call " in statement for statement in statements), statements


async def test_a_webhook_carries_traceparent_of_its_send_span(
    admin: Api,
    receiver: Receiver,
    service: ServiceFactory,
    spans: InMemorySpanExporter,
) -> None:
    await grid_districts(admin)
    # A token in the receiver's URL stays out of the spans.
    url = receiver.url + "?token=hook-secret"
    await admin.ok("POST", "/v1/webhooks", {"url": url, "events": ["call.created"]}, 201)
    async with service():
        await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        (received,) = await receiver.wait_for(1)
        sends = await _until_finished(spans, WEBHOOK_SEND)
    version, trace_id, span_id, flags = received.headers["traceparent"].split("-")
    assert version == "00"
    assert int(flags, 16) & 1, "sampled"
    (send,) = sends
    assert send.context.trace_id == int(trace_id, 16)
    assert send.attributes is not None
    assert send.attributes["cit.event.type"] == "call.created"
    assert send.attributes["cit.webhook.attempt"] == 1
    # The POST is the send's child span, and the header names it as the receiver's parent.
    trace = _in_trace(spans, send.context.trace_id)
    (post,) = [s for s in trace if s.context.span_id == int(span_id, 16)]
    assert post.kind == SpanKind.CLIENT
    assert post.parent is not None
    assert post.parent.span_id == send.context.span_id
    # The HTTP semantic conventions' attributes, the URL without its query string.
    assert post.name == "POST"
    assert post.attributes is not None
    assert post.attributes["http.request.method"] == "POST"
    assert post.attributes["url.full"] == receiver.url
    assert post.attributes["server.address"] == "127.0.0.1"
    assert post.attributes["server.port"] == int(receiver.url.split(":")[2].split("/")[0])
    assert post.attributes["http.response.status_code"] == 200
    assert not any("hook-secret" in str(v) for s in trace for v in (s.attributes or {}).values())


async def _until_finished(
    spans: InMemorySpanExporter, name: str, within: float = 10.0
) -> list[ReadableSpan]:
    """The finished spans named name, once there is one (the relay ends its span after the
    receiver answered)."""
    for _ in range(int(within / 0.05)):
        found = [s for s in spans.get_finished_spans() if s.name == name]
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {name!r} span ended within {within} s")


_PROBE = """
import json, sys
import fastapi  # FastAPI imports the OpenTelemetry API itself (a no-op without a provider)
before = sorted(m for m in sys.modules if m.startswith("opentelemetry"))
import httpx
from pydantic import SecretStr
from app.api.app import create_app
from app.encryption import generate_key
from app.settings import Settings

app = create_app(Settings(data_key=SecretStr(generate_key())), "postgresql://127.0.0.1:1/none")
app.build_middleware_stack()

async def livez():
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://cit.test") as http:
        return (await http.get("/livez")).status_code

import asyncio
status = asyncio.run(livez())
after = sorted(m for m in sys.modules if m.startswith("opentelemetry"))
print(json.dumps({"status": status, "before": before, "after": after}))
"""


def _probe(**env: str) -> dict[str, list[str] | int]:
    """Create the app and answer one request in a fresh interpreter; what it loaded."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-c", _PROBE],
        env={**environ, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: dict[str, list[str] | int] = json.loads(done.stdout.splitlines()[-1])
    return result


def _ours(modules: object) -> list[str]:
    """The SDK, the exporters and the instrumentations: what tracing itself loads."""
    assert isinstance(modules, list)
    heavy = ("opentelemetry.sdk", "opentelemetry.exporter", "opentelemetry.instrumentation")
    return [m for m in modules if m.startswith(heavy)]


def test_without_the_endpoint_creating_the_app_loads_no_opentelemetry_module() -> None:
    result = _probe()
    assert result["status"] == 200
    # Beyond what `import fastapi` loaded by itself, not one opentelemetry module.
    assert result["after"] == result["before"]
    assert _ours(result["after"]) == []


def test_with_the_endpoint_the_app_loads_the_sdk_and_its_instrumentations() -> None:
    # Nothing listens there: the one span is dropped at exit, within the timeout.
    result = _probe(
        **{ENDPOINT_VARIABLE: "http://127.0.0.1:18421", "OTEL_EXPORTER_OTLP_TIMEOUT": "1"}
    )
    assert result["status"] == 200
    loaded = _ours(result["after"])
    assert "opentelemetry.sdk.trace" in loaded
    assert "opentelemetry.instrumentation.asgi" in loaded
    assert "opentelemetry.instrumentation.asyncpg" in loaded


def _decision(sampled_caller: bool | None, kind: SpanKind = SpanKind.SERVER) -> Decision:
    """The configured sampler's decision for a span that begins a request's trace: with
    a caller's traceparent (sampled or not), or without one (None)."""
    parent = None
    if sampled_caller is not None:
        flags = TraceFlags(TraceFlags.SAMPLED if sampled_caller else TraceFlags.DEFAULT)
        caller = SpanContext(0x1F, 0x2F, is_remote=True, trace_flags=flags)
        parent = set_span_in_context(NonRecordingSpan(caller))
    result = configured_sampler().should_sample(parent, 0x1F, "POST /v1/calls", kind)
    return result.decision


KEEP, DROP = Decision.RECORD_AND_SAMPLE, Decision.DROP


@pytest.mark.parametrize(
    ("sampler", "arg", "alone", "caller_sampled", "caller_not_sampled"),
    [
        ("", None, KEEP, KEEP, DROP),  # unset: parentbased_always_on
        ("parentbased_always_on", None, KEEP, KEEP, DROP),
        ("always_on", None, KEEP, KEEP, KEEP),
        ("always_off", None, DROP, DROP, DROP),
        ("parentbased_always_off", None, DROP, KEEP, DROP),
        ("traceidratio", "0", DROP, DROP, DROP),
        ("traceidratio", "1", KEEP, KEEP, KEEP),
        ("parentbased_traceidratio", "0", DROP, KEEP, DROP),
        ("PARENTBASED_TRACEIDRATIO", "0.0", DROP, KEEP, DROP),
        ("traceidratio", None, KEEP, KEEP, KEEP),  # the ratio's default is 1
    ],
)
def test_the_sampler_is_the_one_otel_traces_sampler_names(
    monkeypatch: pytest.MonkeyPatch,
    sampler: str,
    arg: str | None,
    alone: Decision,
    caller_sampled: Decision,
    caller_not_sampled: Decision,
) -> None:
    monkeypatch.setenv(SAMPLER_VARIABLE, sampler)
    if arg is None:
        monkeypatch.delenv(SAMPLER_ARG_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(SAMPLER_ARG_VARIABLE, arg)
    assert _decision(None) == alone
    assert _decision(True) == caller_sampled
    assert _decision(False) == caller_not_sampled
    # Statements outside a request or a webhook send begin no trace, whatever the sampler.
    assert _decision(None, SpanKind.CLIENT) == DROP


@pytest.mark.parametrize(
    ("sampler", "arg", "named", "decisions"),
    [
        # parentbased_always_on
        ("sometimes", None, SAMPLER_VARIABLE, (KEEP, KEEP, DROP)),
        # traceidratio at 1
        ("traceidratio", "2", SAMPLER_ARG_VARIABLE, (KEEP, KEEP, KEEP)),
        ("parentbased_traceidratio", "most", SAMPLER_ARG_VARIABLE, (KEEP, KEEP, DROP)),
    ],
)
def test_a_sampler_setting_not_understood_is_logged_and_the_default_used(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    sampler: str,
    arg: str | None,
    named: str,
    decisions: tuple[Decision, Decision, Decision],
) -> None:
    monkeypatch.setenv(SAMPLER_VARIABLE, sampler)
    if arg is not None:
        monkeypatch.setenv(SAMPLER_ARG_VARIABLE, arg)
    assert (_decision(None), _decision(True), _decision(False)) == decisions
    assert any(named in record.getMessage() for record in caplog.records), caplog.text


async def test_a_sampled_out_request_exports_nothing_and_a_callers_trace_is_followed(
    admin: Api,
    database_url: str,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await grid_districts(admin)
    monkeypatch.setenv(SAMPLER_VARIABLE, "parentbased_traceidratio")
    monkeypatch.setenv(SAMPLER_ARG_VARIABLE, "0")
    exporter = InMemorySpanExporter()
    assert start_tracing(exporter) is not None
    try:
        async with _client(settings, database_url) as http:
            alone = await http.post("/v1/calls", json={"district": "D1"}, headers=admin.headers)
            assert alone.status_code == 201, alone.text
            assert exporter.get_finished_spans() == ()
            trace_id = 0x0AF7651916CD43DD8448EB211C80319C
            caller = {"traceparent": f"00-{trace_id:032x}-b7ad6b7169203331-01"}
            joined = await http.post(
                "/v1/calls", json={"district": "D1"}, headers={**admin.headers, **caller}
            )
            assert joined.status_code == 201, joined.text
    finally:
        stop_tracing()
    trace = _in_trace(exporter, trace_id)
    assert [s.name for s in trace if s.kind == SpanKind.SERVER] == ["POST /v1/calls"]
    assert any((s.attributes or {}).get("db.system") == "postgresql" for s in trace)
    assert len(trace) == len(exporter.get_finished_spans())
