"""The FastAPI application: routers, error handlers, middleware, lifespan."""

from __future__ import annotations

import asyncio
import functools
import gc
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.routing import BaseRoute
from starlette.types import ASGIApp

from app import metrics
from app.api import openapi as openapi_document
from app.api.admission import BodySizeLimitMiddleware, InFlightLimitMiddleware
from app.api.docs import install_docs
from app.api.middleware import (
    CutShortMiddleware,
    HeadMiddleware,
    MetricsMiddleware,
    RequestContextMiddleware,
    SecurityHeadersMiddleware,
)
from app.api.problems import Problem, install_problem_handlers
from app.api.routes import (
    calls,
    dispatch,
    districts,
    eido,
    health,
    keys,
    policy,
    reports,
    roster,
    shifts,
    stream,
    units,
    webhooks,
)
from app.db.engine import app_role_url, connections_in_use, create_engine, dispose_within
from app.encryption import DataCipher, load_cipher
from app.schemas.call_answers import CallExistsProblem
from app.schemas.dispatch import RecommendationChangedProblem, UnitsUnavailableProblem
from app.schemas.roster import (
    CertificationExistsProblem,
    NotOnThatCallProblem,
    OfficerExistsProblem,
)
from app.schemas.shifts import ShiftOverlapProblem
from app.services import changes, housekeeping, stream_tail
from app.services import eido as eido_service
from app.settings import Settings
from app.state import AppState
from app.tasks import cancel_and_wait
from app.tracing import start_tracing
from app.webhooks.process import RelayProcess
from app.webhooks.thread import RelayThread


class _App(FastAPI):
    """Metrics, the request id, the security headers, CORS, the in-flight limit and HEAD
    wrap the whole stack.

    Starlette puts its ServerErrorMiddleware (which answers an unhandled exception with
    500) outside every user middleware, so a 500 would skip them: here they sit outside it.
    """

    max_in_flight = 0
    # CORSMiddleware's options, when CIT_CORS_ORIGINS names origins: it wraps every answer
    # (a 413, the overload 503, a 500), so a console in the browser reads their status.
    cors: dict[str, Any] | None = None
    # Wraps the stack in the request span when tracing is on (app/tracing.py).
    request_span: Callable[[ASGIApp], ASGIApp] | None = None
    # Every route, for the metrics to name a request refused before routing (set below).
    known_routes: list[BaseRoute] = []
    # Set as the server begins to stop (begin_shutdown).
    stopping = False

    def build_middleware_stack(self) -> ASGIApp:
        stack: ASGIApp = CutShortMiddleware(
            HeadMiddleware(super().build_middleware_stack()), stopping=lambda: self.stopping
        )
        if self.max_in_flight:
            stack = InFlightLimitMiddleware(stack, max_in_flight=self.max_in_flight)
        if self.cors is not None:
            stack = CORSMiddleware(stack, **self.cors)
        stack = SecurityHeadersMiddleware(stack)
        if self.request_span is not None:
            # Inside the request id, which the span carries.
            stack = self.request_span(stack)
        routes = self.known_routes
        return MetricsMiddleware(RequestContextMiddleware(stack, routes=routes), routes=routes)


def begin_shutdown(app: object) -> None:
    """The server has begun to stop: the relay stops claiming and gives back its leases now,
    while the requests in flight finish, so both fit in one CIT_SHUTDOWN_GRACE_SECONDS."""
    if isinstance(app, _App):
        app.stopping = True  # a request cancelled from now on is cut short (CutShortMiddleware)
    relay = getattr(getattr(app, "state", None), "relay", None)
    if isinstance(relay, RelayThread | RelayProcess):
        relay.begin_stop()


def create_app(
    settings: Settings,
    database_url: str,
    *,
    cipher: DataCipher | None = None,
    relay_process: bool = False,
    metrics_listener: metrics.Listener | None = None,
) -> FastAPI:
    """Build the app for a database that is already migrated.

    Without cipher, the data key comes from settings (load_cipher); a missing or malformed
    key raises DataKeyError here, before anything starts. With CIT_RUN_RELAY, the relay
    runs in a child process with relay_process (as `serve` runs it), else on a thread.
    metrics_listener: the CIT_METRICS_PORT listener, already open (`serve` opens it before
    anything else, so a port that is taken is said in one line); else the app opens it.
    """
    data_cipher = cipher if cipher is not None else load_cipher(settings)
    # Only with OTEL_EXPORTER_OTLP_ENDPOINT set; otherwise nothing of OpenTelemetry loads.
    tracing = start_tracing()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # First, so a port already taken stops the start before anything runs.
        listener = metrics_listener
        if listener is None and settings.metrics_port is not None:
            listener = metrics.listen(settings.metrics_host, settings.metrics_port)
        # Requests run as the unprivileged application role; housekeeping as the owner.
        engine = create_engine(
            app_role_url(database_url, settings),
            pool_size=settings.db_pool_size,
            command_timeout=settings.database_timeout_seconds,
        )
        system = create_engine(database_url, pool_size=1)
        state = AppState(settings, engine, system, data_cipher)
        # Read when scraped: no round trip, nothing kept up to date.
        unwatch = [
            metrics.watch("streams_open", lambda: state.streams.taken),
            metrics.watch("pool_in_use", functools.partial(connections_in_use, engine)),
            metrics.watch("pool_in_use", functools.partial(connections_in_use, system)),
        ]
        # Objects made at start-up live as long as the process: keep them out of the
        # collector's full passes, which otherwise show up as latency spikes.
        gc.collect()
        gc.freeze()
        # A young collection every 10,000 net allocations, not 700: with 32 requests in
        # flight, their objects survived the frequent young collections into the older
        # generations, and a full collection (about 5 ms, finding nothing) ran every third
        # of a second under load. Measured (issue 16): about 7 % less CPU per request, for
        # call intake and /readyz alike. Only cyclic garbage waits longer; the rest is freed
        # by reference counting as before.
        gc.set_threshold(10_000, 20, 20)
        app.state.cit = state
        tasks = [
            asyncio.create_task(job, name=f"housekeeping: {what}")
            for what, job in housekeeping.jobs(state)
        ]
        tasks.append(asyncio.create_task(eido_service.load_schema()))
        # Changes made by any instance (revoked keys, agency contexts, lockouts) drop what
        # this one cached; heard on the process's one LISTEN connection.
        changes.listen(state)
        # The relay has its own process (or thread), loop and pool: a busy API does not
        # delay deliveries (a thread still waits for the GIL: tests and embedding only).
        relay: RelayProcess | RelayThread | None = None
        if settings.run_relay:
            relay = (
                RelayProcess(settings)
                if relay_process
                else RelayThread(database_url, settings, data_cipher)
            )
        app.state.relay = relay
        if relay is not None:
            relay.start()
        try:
            yield
        finally:
            # Live feeds end (they hold no transaction), and the LISTEN connection closes.
            await state.announcements.aclose()
            await stream_tail.stop_all(state)
            await cancel_and_wait(*tasks)
            # A refresh of a cached key or context may still be reading: it is cancelled.
            await state.principal_loads.end()
            await state.context_loads.end()
            if relay is not None:
                # Begun already when the server began to stop (begin_shutdown): this waits
                # for the thread, or the child process, to end.
                await asyncio.to_thread(relay.stop)
            await dispose_within(engine)
            await dispose_within(system)
            for forget in unwatch:
                forget()
            if listener is not None:
                await asyncio.to_thread(listener.close)  # its server polls every 0.5 s

    app = _App(
        title="cit-dispatch",
        version="0.1.0",
        summary="Crisis Intervention Team and mental-health co-responder routing for 911 centres",
        lifespan=lifespan,
        docs_url=None,  # served by install_docs, without a CDN
        redoc_url=None,
        # A path with a trailing slash is a 404 problem, not a 307 with an empty body.
        redirect_slashes=False,
    )
    install_docs(app)
    install_problem_handlers(app)
    # The OpenAPI document's order: set-up first, then the call's life, then the program.
    modules = (
        health,
        districts,
        roster,
        shifts,
        units,
        policy,
        calls,
        dispatch,
        eido,
        webhooks,
        keys,
        reports,
        stream,
    )
    # Routing's order: the busiest first. FastAPI tries each route's pattern in turn, so a
    # request to the last router paid for every route before it (POST /v1/calls: 77 µs
    # against /readyz's 12 µs). No two routers' paths overlap, so only the cost changes.
    busiest = (health, calls, dispatch, roster, units, stream, eido)
    for module in (*busiest, *(m for m in modules if m not in busiest)):
        app.include_router(module.router)
    # The routers' own routes and the app's (docs): FastAPI 0.16x keeps an included router
    # whole in app.routes, as an object with no template of its own.
    app.known_routes = [
        *(route for module in modules for route in module.router.routes),
        *(r for r in app.router.routes if isinstance(getattr(r, "path_format", None), str)),
    ]

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = openapi_document.build(
                app.known_routes,
                app,
                (
                    Problem,
                    UnitsUnavailableProblem,
                    RecommendationChangedProblem,
                    CallExistsProblem,
                    OfficerExistsProblem,
                    CertificationExistsProblem,
                    ShiftOverlapProblem,
                    NotOnThatCallProblem,
                ),
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    if origins:  # CORS stays off unless CIT_CORS_ORIGINS names the consoles' origins.
        app.cors = {
            "allow_origins": origins,
            "allow_methods": ["GET", "POST", "PUT", "PATCH", "DELETE"],
            "allow_headers": [
                "Authorization",
                "Content-Type",
                "Idempotency-Key",
                "X-Request-ID",
                "Last-Event-ID",  # a page resuming the live feed with fetch
                "If-Match",  # a console writing back the policy it read
            ],
            # Accept-Post and Accept-Patch name the media types a 415's route takes, Allow
            # a 405's methods: a console in the browser reads them to say what to send.
            "expose_headers": [
                "X-Request-ID",
                "Retry-After",
                "Idempotent-Replayed",
                "ETag",
                "Accept-Post",
                "Accept-Patch",
                "Allow",
            ],
        }
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.max_in_flight = settings.max_in_flight
    if tracing is not None:
        app.request_span = tracing.wrap_asgi
    return app
