"""Prometheus metrics (SPEC §9), scraped over real HTTP from the listener `serve` starts.

The registry is the process's, shared with every other app the tests run, so each test
reads how much a series moved while it acted, never its absolute value.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from app.api.app import create_app
from app.cli import build_parser
from app.cli.common import CliError
from app.cli.serving import serve_settings
from app.settings import Settings
from app.webhooks import relay
from tests.helpers import Api, add_co_responder, add_officer, grid_districts
from tests.live_server import live_server
from tests.ports import free_port
from tests.receiver import Receiver

SPEC_SERIES = (
    "cit_http_requests_total",
    "cit_http_request_duration_seconds_bucket",
    "cit_recommendations_total",
    "cit_recommendation_warnings_total",
    "cit_dispatch_conflicts_total",
    "cit_webhook_deliveries_total",
    "cit_webhook_first_attempt_seconds_bucket",
    "cit_outbox_oldest_pending_seconds",
    "cit_streams_open",
    "cit_db_pool_connections_in_use",
)

IN_USE = "cit_db_pool_connections_in_use"
Key = tuple[str, frozenset[tuple[str, str]]]


@dataclass
class Scrape:
    """One scrape: every sample by name and labels."""

    samples: dict[Key, float]

    def value(self, name: str, **labels: str) -> float:
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def names(self) -> set[str]:
        return {name for name, _ in self.samples}

    def labels_of(self, name: str, label: str) -> set[str]:
        return {dict(key)[label] for sample, key in self.samples if sample == name}


def parsed(exposition: str) -> Scrape:
    return Scrape(
        {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(exposition)
            for sample in family.samples
        }
    )


@dataclass
class Served:
    """A service run by uvicorn as `serve` runs it, with its relay and metrics listener."""

    app: FastAPI
    port: int
    metrics_port: int

    async def scrape(self) -> Scrape:
        async with httpx.AsyncClient() as http:
            response = await http.get(f"http://127.0.0.1:{self.metrics_port}/metrics")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/plain")
        return parsed(response.text)

    async def until(
        self, moved: Callable[[Scrape], bool], within: float = 15.0, what: str = ""
    ) -> Scrape:
        """Scrape until moved(scrape) holds; fail the test if it does not in time."""
        deadline = time.monotonic() + within
        while True:
            scrape = await self.scrape()
            if moved(scrape):
                return scrape
            if time.monotonic() > deadline:
                pytest.fail(f"metrics did not move in {within} s: {what}")
            await asyncio.sleep(0.1)


@pytest.fixture(scope="module")
def served(database_url: str, settings: Settings) -> Iterator[Served]:
    metrics_port = free_port()
    configured = settings.model_copy(update={"run_relay": True, "metrics_port": metrics_port})
    # The outbox gauge is read every few seconds; here, often enough to watch it move.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(relay, "OUTBOX_GAUGE_SECONDS", 0.2)
        app = create_app(configured, database_url)
        with live_server(app, configured) as port:
            yield Served(app, port, metrics_port)


def _requests(scrape: Scrape, method: str, route: str, status: int) -> float:
    return scrape.value("cit_http_requests_total", method=method, route=route, status=str(status))


async def test_a_call_counts_its_request_by_route_template_and_its_recommendation(
    served: Served, admin: Api
) -> None:
    await grid_districts(admin)
    before = await served.scrape()
    call = await admin.ok("POST", "/v1/calls", {"district": "D1", "nature": "MNTL"}, 201)
    await admin.ok("GET", f"/v1/calls/{call['id']}")
    missing = await admin.get(f"/v1/no-such-thing/{call['id']}")
    assert missing.status_code == 404
    after = await served.scrape()

    assert set(SPEC_SERIES) <= after.names()
    created = _requests(after, "POST", "/v1/calls", 201) - _requests(
        before, "POST", "/v1/calls", 201
    )
    assert created == 1
    moved = _requests(after, "GET", "/v1/calls/{call_id}", 200) - _requests(
        before, "GET", "/v1/calls/{call_id}", 200
    )
    assert moved == 1
    unmatched = _requests(after, "GET", "unmatched", 404) - _requests(
        before, "GET", "unmatched", 404
    )
    assert unmatched == 1
    routes = after.labels_of("cit_http_requests_total", "route")
    assert not [route for route in routes if call["id"] in route or "no-such" in route]
    timed = "cit_http_request_duration_seconds_count"
    assert after.value(timed, method="POST", route="/v1/calls") - before.value(
        timed, method="POST", route="/v1/calls"
    ) == pytest.approx(1)

    lead = call["recommendation"]["lead"]
    recommended = after.value("cit_recommendations_total", lead=lead) - before.value(
        "cit_recommendations_total", lead=lead
    )
    assert recommended == 1
    # No unit is on duty: the recommendation warns of it, and each warning is counted.
    codes = [w["code"] for w in call["recommendation"]["warnings"]]
    assert codes
    for code in codes:
        warned = after.value("cit_recommendation_warnings_total", code=code) - before.value(
            "cit_recommendation_warnings_total", code=code
        )
        assert warned == codes.count(code), code


async def test_a_refusal_before_routing_or_an_invented_method_keeps_the_route_template(
    served: Served, admin: Api
) -> None:
    before = await served.scrape()
    too_large = await admin.client.post(
        "/v1/calls", content=b"{" + b" " * 300_000 + b"}", headers=admin.headers
    )
    assert too_large.status_code == 413
    # A method no route has cannot make series of its own either.
    invented = await admin.client.request("BREW", "/v1/calls", headers=admin.headers)
    assert invented.status_code == 405
    after = await served.scrape()
    refused = _requests(after, "POST", "/v1/calls", 413) - _requests(
        before, "POST", "/v1/calls", 413
    )
    assert refused == 1
    brewed = _requests(after, "other", "/v1/calls", 405) - _requests(
        before, "other", "/v1/calls", 405
    )
    assert brewed == 1
    assert "BREW" not in after.labels_of("cit_http_requests_total", "method")


async def test_a_head_counts_as_head_on_its_route_template(served: Served, admin: Api) -> None:
    path = f"/v1/calls/{uuid.uuid4()}"
    before = await served.scrape()
    assert (await admin.client.head(path, headers=admin.headers)).status_code == 404
    after = await served.scrape()
    template = "/v1/calls/{call_id}"
    assert _requests(after, "HEAD", template, 404) - _requests(before, "HEAD", template, 404) == 1
    assert _requests(after, "GET", template, 404) == _requests(before, "GET", template, 404)


async def test_a_replayed_or_rolled_back_call_counts_no_recommendation(
    served: Served, admin: Api, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    before = await served.scrape()
    body = {"district": "D1"}
    headers = {**admin.headers, "Idempotency-Key": "metrics-replay"}
    first = await admin.client.post("/v1/calls", json=body, headers=headers)
    replay = await admin.client.post("/v1/calls", json=body, headers=headers)
    assert (first.status_code, replay.status_code) == (201, 201)
    assert replay.headers.get("idempotent-replayed") == "true"
    # A transaction that wrote its recommendation, then failed at COMMIT (for real, in
    # PostgreSQL: a deferred constraint trigger).
    await db.execute(
        "CREATE FUNCTION cit_test_refuse() RETURNS trigger LANGUAGE plpgsql AS"
        " $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$"
    )
    await db.execute(
        "CREATE CONSTRAINT TRIGGER cit_test_refuse AFTER INSERT ON call"
        " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION cit_test_refuse()"
    )
    try:
        transport = httpx.ASGITransport(app=admin.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://cit.test") as http:
            failed = await http.post("/v1/calls", json=body, headers=admin.headers)
    finally:
        await db.execute("DROP TRIGGER cit_test_refuse ON call")
        await db.execute("DROP FUNCTION cit_test_refuse()")
    assert failed.status_code == 500
    after = await served.scrape()

    assert (
        sum(
            after.value("cit_recommendations_total", lead=lead)
            - before.value("cit_recommendations_total", lead=lead)
            for lead in ("mental_health", "law_enforcement")
        )
        == 1
    )
    assert (
        _requests(after, "POST", "/v1/calls", 201) - _requests(before, "POST", "/v1/calls", 201)
        == 2
    )
    assert (
        _requests(after, "POST", "/v1/calls", 500) - _requests(before, "POST", "/v1/calls", 500)
        == 1
    )


async def test_a_dispatch_conflict_is_counted_once_even_when_replayed(
    served: Served, admin: Api
) -> None:
    await grid_districts(admin)
    await add_co_responder(admin, district="D1", call_sign="MCT-1")
    await add_officer(admin, district="D1", call_sign="1A1", cit=True)
    first = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    second = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    await admin.ok("POST", f"/v1/calls/{first['id']}/dispatch")
    before = await served.scrape()
    headers = {**admin.headers, "Idempotency-Key": "metrics-conflict"}
    url = f"/v1/calls/{second['id']}/dispatch"
    conflict = await admin.client.post(url, headers=headers)
    replay = await admin.client.post(url, headers=headers)
    assert (conflict.status_code, replay.status_code) == (409, 409)
    after = await served.scrape()

    moved = after.value("cit_dispatch_conflicts_total") - before.value(
        "cit_dispatch_conflicts_total"
    )
    assert moved == 1
    route = "/v1/calls/{call_id}/dispatch"
    assert _requests(after, "POST", route, 409) - _requests(before, "POST", route, 409) == 2
    # The conflict's fresh recommendation was committed, and counted; the replay was not.
    lead = conflict.json()["recommendation"]["lead"]
    recommended = after.value("cit_recommendations_total", lead=lead) - before.value(
        "cit_recommendations_total", lead=lead
    )
    assert recommended == 1


def _deliveries(scrape: Scrape, outcome: str) -> float:
    return scrape.value("cit_webhook_deliveries_total", outcome=outcome)


async def test_a_webhook_retried_then_delivered_moves_outcomes_and_first_attempt_once(
    served: Served, admin: Api, receiver: Receiver
) -> None:
    await grid_districts(admin)
    body = {"url": receiver.url, "events": ["call.created"]}
    await admin.ok("POST", "/v1/webhooks", body, 201)
    receiver.script = [503]
    before = await served.scrape()
    await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    await receiver.wait_for(2)

    def delivered(scrape: Scrape) -> bool:
        return _deliveries(scrape, "delivered") > _deliveries(before, "delivered")

    after = await served.until(delivered, what="the delivery")
    assert _deliveries(after, "delivered") - _deliveries(before, "delivered") == 1
    assert _deliveries(after, "retry") - _deliveries(before, "retry") == 1
    assert _deliveries(after, "failed") == _deliveries(before, "failed")
    # Only the first attempt is timed; it ended a moment after the call committed.
    count = "cit_webhook_first_attempt_seconds_count"
    assert after.value(count) - before.value(count) == 1
    seconds = after.value("cit_webhook_first_attempt_seconds_sum") - before.value(
        "cit_webhook_first_attempt_seconds_sum"
    )
    assert 0 <= seconds < 10
    within_10s = "cit_webhook_first_attempt_seconds_bucket"
    assert after.value(within_10s, le="10.0") - before.value(within_10s, le="10.0") == 1


async def test_deliveries_under_way_as_their_subscription_pauses_are_counted_once_as_they_end(
    served: Served, admin: Api, receiver: Receiver
) -> None:
    """The pause fails both; the attempts end after it, one delivered after all and one
    answered 503 (no retry: the subscription is off). Each counts once, as what it came to."""
    await grid_districts(admin)
    hook = await admin.ok(
        "POST", "/v1/webhooks", {"url": receiver.url, "events": ["call.created"]}, 201
    )
    receiver.hold = asyncio.Event()
    receiver.script = [200, 503]
    before = await served.scrape()
    try:
        for _ in range(2):
            await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        await receiver.wait_for(2)
        paused = await admin.ok("PATCH", f"/v1/webhooks/{hook['id']}", {"active": False}, 200)
        assert paused["active"] is False
    finally:
        receiver.hold.set()

    def ended(scrape: Scrape) -> bool:
        return _deliveries(scrape, "delivered") > _deliveries(before, "delivered") and (
            _deliveries(scrape, "failed") > _deliveries(before, "failed")
        )

    after = await served.until(ended, what="both attempts' ends")
    moved = {o: _deliveries(after, o) - _deliveries(before, o) for o in ("delivered", "failed")}
    assert moved == {"delivered": 1, "failed": 1}
    assert _deliveries(after, "retry") == _deliveries(before, "retry")
    page = await admin.ok("GET", f"/v1/webhooks/{hook['id']}/deliveries", None, 200)
    assert sorted(d["status"] for d in page["items"]) == ["delivered", "failed"]


async def test_the_outbox_gauge_shows_a_delivery_waiting_on_its_receiver(
    served: Served, admin: Api, receiver: Receiver
) -> None:
    await grid_districts(admin)
    await admin.ok("POST", "/v1/webhooks", {"url": receiver.url, "events": ["call.created"]}, 201)
    receiver.hold = asyncio.Event()
    try:
        await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        await receiver.wait_for(1)
        waited = await served.until(
            lambda s: s.value("cit_outbox_oldest_pending_seconds") >= 0.5,
            what="the oldest pending delivery's age",
        )
        assert waited.value("cit_outbox_oldest_pending_seconds") < 15
    finally:
        receiver.hold.set()
    await served.until(
        lambda s: s.value("cit_outbox_oldest_pending_seconds") == 0,
        what="the outbox emptied",
    )


async def test_the_live_gauges_are_read_at_scrape_time(served: Served, admin: Api) -> None:
    before = await served.scrape()
    async with (
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{served.port}", timeout=10) as http,
        http.stream("GET", "/v1/stream", headers=admin.headers) as stream,
    ):
        assert stream.status_code == 200
        opened = await served.until(
            lambda s: s.value("cit_streams_open") > before.value("cit_streams_open"),
            what="a stream opened",
        )
        assert opened.value("cit_streams_open") - before.value("cit_streams_open") == 1
        # The relay's pool lends its LISTEN connection, the API's pool the live feeds' one.
        assert opened.value("cit_db_pool_connections_in_use") >= 2
    await served.until(
        lambda s: s.value("cit_streams_open") == before.value("cit_streams_open"),
        what="the stream closed",
    )


async def test_the_listener_serves_only_metrics_and_never_on_the_api_port(
    served: Served,
) -> None:
    async with httpx.AsyncClient() as http:
        elsewhere = await http.get(f"http://127.0.0.1:{served.metrics_port}/v1/calls")
        on_api = await http.get(f"http://127.0.0.1:{served.port}/metrics")
    assert elsewhere.status_code == 404
    assert on_api.status_code == 404
    with pytest.raises(ValueError, match="CIT_METRICS_PORT cannot be the API's port"):
        Settings(port=9100, metrics_port=9100)
    api_port = build_parser().parse_args(["serve", "--port", "9100"])
    with pytest.raises(CliError, match=r"^Value error, CIT_METRICS_PORT cannot be the API's"):
        serve_settings(Settings(metrics_port=9100), api_port)
