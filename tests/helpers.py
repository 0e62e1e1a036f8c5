"""Helpers for endpoint tests: an authenticated client and small builders."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import httpx
from fastapi import FastAPI
from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.engine import create_sessionmaker
from app.repositories.agencies import insert_agency
from app.repositories.keys import insert_api_key
from app.state import AppState


@dataclass
class Api:
    """An HTTP client acting with one API key."""

    client: httpx.AsyncClient
    key: str
    agency_id: UUID
    app: FastAPI

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def _with(self, kw: dict[str, Any]) -> dict[str, str]:
        """The key's header, with any headers a request adds (taken out of kw)."""
        return {**self.headers, **kw.pop("headers", {})}

    async def get(self, url: str, **kw: Any) -> httpx.Response:
        return await self.client.get(url, headers=self._with(kw), **kw)

    async def post(self, url: str, json: Any = None, **kw: Any) -> httpx.Response:
        return await self.client.post(url, json=json, headers=self._with(kw), **kw)

    async def patch(self, url: str, json: Any = None, **kw: Any) -> httpx.Response:
        return await self.client.patch(url, json=json, headers=self._with(kw), **kw)

    async def put(self, url: str, json: Any = None, **kw: Any) -> httpx.Response:
        return await self.client.put(url, json=json, headers=self._with(kw), **kw)

    async def delete(self, url: str, **kw: Any) -> httpx.Response:
        return await self.client.delete(url, headers=self._with(kw), **kw)

    async def with_role(self, role: str, responder_id: UUID | None = None) -> Api:
        """Another key of the same agency, with the given role."""
        state: AppState = self.app.state.cit
        async with owner_session(state) as session, session.begin():
            responder_type = None
            if responder_id is not None:
                found = await self.get(f"/v1/officers/{responder_id}")
                responder_type = "officer" if found.status_code == 200 else "co_responder"
            _, key = await insert_api_key(
                session,
                agency_id=self.agency_id,
                role=role,
                responder_type=responder_type,
                responder_id=responder_id,
            )
        return Api(self.client, key, self.agency_id, self.app)

    async def ok(self, method: str, url: str, json: Any = None, status: int = 200) -> Any:
        """Make a request that must succeed with status, and return its JSON."""
        response = await self.client.request(method, url, json=json, headers=self.headers)
        assert response.status_code == status, response.text
        return response.json() if response.content else None


def owner_session(state: AppState) -> AsyncSession:
    """A session as the schema owner, for setting up what only the CLI may create."""
    return create_sessionmaker(state.system_engine)()


async def new_agency(app: FastAPI, client: httpx.AsyncClient, *, name: str, timezone: str) -> Api:
    state: AppState = app.state.cit
    async with owner_session(state) as session, session.begin():
        agency = await insert_agency(session, name=name, timezone=timezone, ori=None)
        _, key = await insert_api_key(session, agency_id=agency.id, role="admin")
    return Api(client, key, agency.id, app)


def square(south: float, west: float, size: float = 0.05) -> dict[str, Any]:
    """A GeoJSON square boundary with its south-west corner at (south, west)."""
    north, east = south + size, west + size
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


def iso(moment: datetime) -> str:
    return moment.isoformat()


def around_now(hours_before: float = 2, hours_after: float = 6) -> tuple[str, str]:
    now = datetime.now(UTC)
    return iso(now - timedelta(hours=hours_before)), iso(now + timedelta(hours=hours_after))


async def add_officer(
    api: Api,
    *,
    district: str,
    call_sign: str,
    cit: bool = False,
    trainings: list[str] | None = None,
    location: tuple[float, float] | None = None,
    state_officer_id: str | None = None,
    cert_expires_in_days: int = 365,
) -> str:
    """An officer on shift now in district, optionally CIT-certified and located."""
    sid = state_officer_id or f"POST-{call_sign}-{id(api) % 10_000}"
    officer = await api.ok(
        "POST",
        "/v1/officers",
        {
            "state_officer_id": sid,
            "badge_number": f"B-{call_sign}",
            "name": f"Officer {call_sign}",
            "trainings": trainings or [],
        },
        status=201,
    )
    if cit:
        today = datetime.now(UTC).date()
        await certify(
            api,
            sid,
            number=f"CIT-{call_sign}",
            certified_on=today - timedelta(days=100),
            expires_on=today + timedelta(days=cert_expires_in_days),
        )
    await _on_shift(api, "officer", officer["id"], call_sign, district, location)
    return str(officer["id"])


async def certify(
    api: Api, state_officer_id: str, *, number: str, certified_on: date, expires_on: date
) -> None:
    """Record a CIT certification of the person, valid on certified_on <= day < expires_on."""
    await api.ok(
        "POST",
        "/v1/certifications",
        {
            "state_officer_id": state_officer_id,
            "certification_number": number,
            "program": "State CIT 40h",
            "certified_on": str(certified_on),
            "expires_on": str(expires_on),
            "volunteered": True,
        },
        status=201,
    )


async def add_unrostered_co_responder(api: Api, name: str) -> str:
    """A co-responder with no shift yet."""
    body = {"name": name, "kind": "mobile_crisis_team", "provider": "County MH"}
    return str((await api.ok("POST", "/v1/co-responders", body, 201))["id"])


async def add_co_responder(
    api: Api,
    *,
    district: str,
    call_sign: str,
    specialties: list[str] | None = None,
    also_covers: list[str] | None = None,
    location: tuple[float, float] | None = None,
) -> str:
    co = await api.ok(
        "POST",
        "/v1/co-responders",
        {
            "name": f"Clinician {call_sign}",
            "kind": "mobile_crisis_team",
            "provider": "County MH",
            "specialties": specialties or [],
        },
        status=201,
    )
    await _on_shift(api, "co_responder", co["id"], call_sign, district, location, also_covers)
    return str(co["id"])


async def add_shift(
    api: Api,
    responder_type: str,
    responder_id: str,
    *,
    call_sign: str,
    district: str,
    starts_at: datetime,
    ends_at: datetime,
    also_covers: list[str] | None = None,
) -> None:
    await api.ok(
        "POST",
        "/v1/shifts",
        {
            "responder_type": responder_type,
            "responder_id": responder_id,
            "call_sign": call_sign,
            "district": district,
            "also_covers": also_covers or [],
            "starts_at": iso(starts_at),
            "ends_at": iso(ends_at),
        },
        status=201,
    )


async def _on_shift(
    api: Api,
    responder_type: str,
    responder_id: str,
    call_sign: str,
    district: str,
    location: tuple[float, float] | None,
    also_covers: list[str] | None = None,
) -> None:
    now = datetime.now(UTC)
    await add_shift(
        api,
        responder_type,
        responder_id,
        call_sign=call_sign,
        district=district,
        starts_at=now - timedelta(hours=2),
        ends_at=now + timedelta(hours=6),
        also_covers=also_covers,
    )
    if location is not None:
        path = "officers" if responder_type == "officer" else "co-responders"
        await api.ok(
            "PUT",
            f"/v1/{path}/{responder_id}/status",
            {"status": "available", "location": {"lat": location[0], "lon": location[1]}},
        )


async def grid_districts(api: Api) -> None:
    """D1-D4 in a 2 x 2 grid around Salt Lake City; D1-D2, D1-D3, D2-D4, D3-D4 adjacent."""
    await api.ok(
        "POST",
        "/v1/districts",
        {"code": "D1", "name": "NW", "boundary": square(40.76, -111.95)},
        201,
    )
    await api.ok(
        "POST",
        "/v1/districts",
        {"code": "D2", "name": "NE", "adjacent": ["D1"], "boundary": square(40.76, -111.90)},
        201,
    )
    await api.ok(
        "POST",
        "/v1/districts",
        {"code": "D3", "name": "SW", "adjacent": ["D1"], "boundary": square(40.71, -111.95)},
        201,
    )
    await api.ok(
        "POST",
        "/v1/districts",
        {"code": "D4", "name": "SE", "adjacent": ["D2", "D3"], "boundary": square(40.71, -111.90)},
        201,
    )


async def until_delivery(db: asyncpg.Connection, condition: str) -> asyncpg.Record:
    """Wait until the (only) webhook delivery's row meets condition, a SQL predicate
    written in the test; return the row."""
    query = f"SELECT * FROM webhook_delivery WHERE {condition}"  # noqa: S608
    for _ in range(200):  # up to 10 s
        row = await db.fetchrow(query)
        if row is not None:
            return row
        await asyncio.sleep(0.05)
    raise AssertionError(f"no delivery ever met: {condition}")


async def until_delivery_failed(db: asyncpg.Connection) -> None:
    """Wait until the relay has recorded the (only) delivery's final failure."""
    await until_delivery(db, "status = 'failed'")


async def all_items(api: Api, url: str) -> list[Any]:
    """Every item of a paged list, following next_cursor."""
    items: list[Any] = []
    cursor = None
    joiner = "&" if "?" in url else "?"
    while True:
        page = await api.ok(
            "GET", f"{url}{joiner}limit=500" + (f"&cursor={cursor}" if cursor else "")
        )
        items.extend(page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            return items


async def until_waiting_on_locks(db: asyncpg.Connection, count: int) -> None:
    """Until count statements wait on a lock (a request held up). pg_locks, not
    pg_stat_activity, which is read once per transaction of the caller's."""
    waiting = 0
    while waiting < count:
        await asyncio.sleep(0.01)
        waiting = await db.fetchval("SELECT count(*) FROM pg_locks WHERE NOT granted")


def failed_deliveries_counted() -> float:
    """This process's count of failed deliveries (the metrics a relay or a request running
    in the test's own process moves)."""
    value = REGISTRY.get_sample_value("cit_webhook_deliveries_total", {"outcome": "failed"})
    return value or 0.0


async def subscribe(api: Api, url: str, events: list[str], responder_id: str | None = None) -> Any:
    """A webhook subscription (with responder_id: that unit's terminal); its 201 answer,
    secret included."""
    body: dict[str, Any] = {"url": url, "events": events}
    if responder_id:
        body["responder_id"] = responder_id
    return await api.ok("POST", "/v1/webhooks", body, 201)


def read_for(sock: socket.socket, seconds: float) -> tuple[bytes, bool]:
    """What a server sends on sock within seconds, and whether it closed the connection
    (a reset is not taken for a close)."""
    data = b""
    deadline = time.monotonic() + seconds
    with contextlib.suppress(TimeoutError, ConnectionResetError):
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            chunk = sock.recv(65536)
            if not chunk:
                return data, True
            data += chunk
    return data, False
