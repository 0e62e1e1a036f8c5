"""Prometheus metrics: the series of SPEC §9, and the listener that serves them.

The series live in prometheus_client's default registry: one per process, safe to move from
the API's event loop and from the relay's thread alike. The listener (`listen`) is a small
HTTP server on a thread of its own, on CIT_METRICS_HOST:CIT_METRICS_PORT, never the API's
port; `serve` starts one in the app's lifespan and `worker` one of its own.

Counters move for committed work only: the services count in after-commit callbacks of
their unit of work, the relay once it has recorded an outcome. The gauges of this process
(open live feeds, pooled connections in use) are read when scraped, at no database cost,
from whatever registered itself with `watch`; the outbox gauge is set by the relay's
periodic query.

`serve` runs its relay in a child process (app/webhooks/process.py): there the relay's
series are not moved but sent (`send_relay_series_to`), and `serve` moves its own with what
it receives (`move_relay_series`), so they are on `serve`'s listener as before.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Literal
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import prometheus_client
from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import ThreadingWSGIServer, make_wsgi_app
from prometheus_client.registry import Collector

from app.vocabulary import LEADS, WARNING_CODES, Lead, WarningCode

# Counters' `_created` samples double the series and tell Prometheus nothing it uses.
prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]

# A request takes ~10 ms; the tail up to seconds still needs buckets to be seen.
HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
# From an event's commit to the end of its delivery's first attempt: the relay's lag plus
# the receiver's answer, which may take up to the 10 s HTTP timeout.
WEBHOOK_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 7.5, 10, 15, 30, 60)

# The methods a route can have; any other is counted as "other", so a client cannot make
# new series by inventing methods.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# The route of a request no route matched (a 404): never its raw path.
UNMATCHED = "unmatched"

WebhookOutcome = Literal["delivered", "retry", "failed"]
WEBHOOK_OUTCOMES: tuple[WebhookOutcome, ...] = ("delivered", "retry", "failed")

HTTP_REQUESTS = Counter(
    "cit_http_requests",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
HTTP_SECONDS = Histogram(
    "cit_http_request_duration_seconds",
    "Seconds from a request's arrival to the end of its answer (a live feed: to its"
    " headers), by method and route template.",
    ["method", "route"],
    buckets=HTTP_BUCKETS,
)
RECOMMENDATIONS = Counter(
    "cit_recommendations",
    "Recommendations committed (intake, new information, a dispatch's fresh one, a unit's"
    " report re-triaging its call), by lead.",
    ["lead"],
)
RECOMMENDATION_WARNINGS = Counter(
    "cit_recommendation_warnings",
    "Warnings carried by committed recommendations, by code.",
    ["code"],
)
DISPATCH_CONFLICTS = Counter(
    "cit_dispatch_conflicts",
    "Dispatches answered 409 with a fresh recommendation (units taken meanwhile, or none"
    " left to assign), counted once committed.",
)
WEBHOOK_DELIVERIES = Counter(
    "cit_webhook_deliveries",
    "Webhook delivery attempts recorded, by outcome (delivered, retry, failed).",
    ["outcome"],
)
WEBHOOK_FIRST_ATTEMPT = Histogram(
    "cit_webhook_first_attempt_seconds",
    "Seconds from an event's time to the end of its delivery's first attempt.",
    buckets=WEBHOOK_BUCKETS,
)
OUTBOX_OLDEST_PENDING = Gauge(
    "cit_outbox_oldest_pending_seconds",
    "How long the oldest pending webhook delivery has been due (0: none is waiting),"
    " as the relay last read it.",
)

# Every label value known in advance has its series from the start: a rate over a series
# that appears only with its first increment misses that increment.
for _lead in LEADS:
    RECOMMENDATIONS.labels(lead=_lead)
for _code in WARNING_CODES:
    RECOMMENDATION_WARNINGS.labels(code=_code)
for _outcome in WEBHOOK_OUTCOMES:
    WEBHOOK_DELIVERIES.labels(outcome=_outcome)


def count_request(method: str, route: str, status: int, seconds: float) -> None:
    """Count one HTTP answer under its route template (or UNMATCHED)."""
    method = method if method in _METHODS else "other"
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_SECONDS.labels(method, route).observe(seconds)


def count_recommendation(lead: Lead, warnings: Iterable[WarningCode]) -> None:
    """Count a committed recommendation and each of its warnings."""
    RECOMMENDATIONS.labels(lead=lead).inc()
    for code in warnings:
        RECOMMENDATION_WARNINGS.labels(code=code).inc()


def count_dispatch_conflict() -> None:
    DISPATCH_CONFLICTS.inc()


# One movement of a relay series: which ("deliveries", "first_attempt", "outbox"), the
# outcome for deliveries ("" otherwise), and the amount.
RelayMove = tuple[str, str, float]
_relay_sink: Callable[[RelayMove], None] | None = None


def send_relay_series_to(sink: Callable[[RelayMove], None]) -> None:
    """In a relay child process: hand each movement of the relay's series to sink (which
    sends it to `serve`) instead of moving them here, where no listener serves them."""
    global _relay_sink
    _relay_sink = sink


def move_relay_series(move: RelayMove) -> None:
    """Move this process's relay series as its relay child process moved its own."""
    kind, outcome, amount = move
    if kind == "deliveries":
        for known in WEBHOOK_OUTCOMES:
            if outcome == known:
                count_webhooks(known, int(amount))
    elif kind == "first_attempt":
        observe_first_attempt(amount)
    elif kind == "outbox":
        set_outbox_oldest_pending(amount)


def count_webhooks(outcome: WebhookOutcome, deliveries: int = 1) -> None:
    """Count delivery attempts whose outcome has been recorded."""
    if deliveries <= 0:
        return
    if _relay_sink is not None:
        _relay_sink(("deliveries", outcome, deliveries))
        return
    WEBHOOK_DELIVERIES.labels(outcome=outcome).inc(deliveries)


def observe_first_attempt(seconds: float) -> None:
    if _relay_sink is not None:
        _relay_sink(("first_attempt", "", seconds))
        return
    WEBHOOK_FIRST_ATTEMPT.observe(max(0.0, seconds))


def without_a_relay() -> None:
    """This process runs no relay (`serve` with CIT_RUN_RELAY=false): it has no backlog to
    tell, so it gives no outbox gauge rather than a 0 that says none is waiting. An alert
    on the gauges of all targets then sees the workers' alone, and none when none runs."""
    with contextlib.suppress(KeyError):  # not registered (called twice)
        REGISTRY.unregister(OUTBOX_OLDEST_PENDING)


def set_outbox_oldest_pending(seconds: float) -> None:
    if _relay_sink is not None:
        _relay_sink(("outbox", "", seconds))
        return
    OUTBOX_OLDEST_PENDING.set(max(0.0, seconds))


Reading = Callable[[], int]
LiveGauge = Literal["streams_open", "pool_in_use"]


class _LiveGauges(Collector):
    """Gauges summed, when scraped, over what is registered now: an app's open live feeds,
    a pool's connections checked out. A process may hold several (the API's pools and the
    relay's; tests run several apps)."""

    _HELP: dict[LiveGauge, tuple[str, str]] = {
        "streams_open": ("cit_streams_open", "Live feeds (GET /v1/stream) open now."),
        "pool_in_use": (
            "cit_db_pool_connections_in_use",
            "Database connections checked out of this process's pools now (requests,"
            " housekeeping, LISTEN and the relay).",
        ),
    }

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._readings: dict[LiveGauge, list[Reading]] = {name: [] for name in self._HELP}

    def watch(self, name: LiveGauge, reading: Reading) -> Callable[[], None]:
        with self._lock:
            self._readings[name].append(reading)

        def unwatch() -> None:
            with self._lock:
                if reading in self._readings[name]:
                    self._readings[name].remove(reading)

        return unwatch

    def read(self, name: LiveGauge) -> int:
        with self._lock:
            readings = list(self._readings[name])
        return sum(read() for read in readings)

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            readings = {name: list(each) for name, each in self._readings.items()}
        for name, (metric, doc) in self._HELP.items():
            yield GaugeMetricFamily(metric, doc, value=sum(read() for read in readings[name]))


_LIVE = _LiveGauges()
REGISTRY.register(_LIVE)


def watch(name: LiveGauge, reading: Reading) -> Callable[[], None]:
    """Add reading to the gauge `name` when scraped, until the returned callable is called."""
    return _LIVE.watch(name, reading)


def read_live(name: LiveGauge) -> int:
    """The gauge `name` as a scrape would read it now."""
    return _LIVE.read(name)


class ListenerError(RuntimeError):
    """The metrics listener could not take its address (e.g. the port is in use)."""


class Listener:
    """GET /metrics on its own port, served from a thread; close() stops it."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _only_metrics(exposition: Any) -> Any:
    """The exposition at /metrics; any other path is a 404."""

    def app(environ: dict[str, Any], start_response: Any) -> Sequence[bytes]:
        if environ.get("PATH_INFO") != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"Not found: metrics are at /metrics\n"]
        result: Sequence[bytes] = exposition(environ, start_response)
        return result

    return app


class _Quiet(WSGIRequestHandler):
    """No line on stderr per scrape."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingWSGIServer):
    address_family = socket.AF_INET


class _Server6(ThreadingWSGIServer):
    address_family = socket.AF_INET6


def listen(host: str, port: int) -> Listener:
    """Serve GET /metrics on host:port (port 0: any free one) from a daemon thread."""
    server_class = _Server6 if ":" in host else _Server
    try:
        server = make_server(
            host, port, _only_metrics(make_wsgi_app(REGISTRY)), server_class, _Quiet
        )
    except OSError as exc:
        # A name that does not resolve, or an address this machine does not have, is the
        # host's mistake; a port taken or not allowed, the port's.
        at_host = isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL
        setting = "CIT_METRICS_HOST" if at_host else "CIT_METRICS_PORT"
        raise ListenerError(
            f"{setting}: cannot listen on {host}:{port} ({exc.strerror or exc})"
        ) from None
    thread = threading.Thread(target=server.serve_forever, name="cit-metrics", daemon=True)
    thread.start()
    return Listener(server, thread)
