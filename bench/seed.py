"""Seed one large agency straight into PostgreSQL (COPY), for the benchmark."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from app.admin import create_agency
from app.db import dsn
from app.ids import new_id

ROWS, COLS = 5, 10
CELL = 0.05
SOUTH, WEST = 40.45, -112.25


@dataclass
class Seeded:
    agency_id: UUID
    api_key: str
    districts: list[tuple[str, float, float]]  # code, south, west
    officers: int
    co_responders: int
    seconds: float


def _square(south: float, west: float) -> str:
    n, e = south + CELL, west + CELL
    ring = [[west, south], [e, south], [e, n], [west, n], [west, south]]
    return '{"type": "Polygon", "coordinates": [%s]}' % ring  # noqa: UP031


async def seed(url: str, *, officers: int, co_responders: int, history_days: int = 0) -> Seeded:
    """One agency: 50 districts on a grid, officers (a quarter CIT), co-responders, shifts;
    with history_days, each responder also worked one watch on each of as many days before
    yesterday (the roster's past, which the service keeps)."""
    started = time.perf_counter()
    rng = random.Random(42)
    agency_id, api_key = await create_agency(
        # Agency names are one each: a benchmark seeds several on one database.
        url,
        name=f"Bench County {new_id().hex[-8:]}",
        timezone="America/Denver",
        ori=None,
    )
    conn = await dsn.connect(url)
    try:
        districts = await insert_districts(conn, agency_id)
        people = await _people(conn, agency_id, rng, officers, co_responders, districts)
        await _shifts(conn, agency_id, people, districts, history_days)
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    grid = [(code, south, west) for code, (_, south, west) in districts.items()]
    return Seeded(agency_id, api_key, grid, officers, co_responders, time.perf_counter() - started)


async def insert_districts(
    conn: asyncpg.Connection, agency_id: UUID
) -> dict[str, tuple[UUID, float, float]]:
    """The 50 districts, a 5 x 10 grid of squares (D01 to D50), and the pairs of grid
    neighbours as adjacency; returns each code's id and south-west corner."""
    districts: dict[str, tuple[UUID, float, float]] = {}
    for r in range(ROWS):
        for c in range(COLS):
            code = f"D{r * COLS + c + 1:02d}"
            districts[code] = (new_id(), SOUTH + r * CELL, WEST + c * CELL)
    await conn.executemany(
        "INSERT INTO district (id, agency_id, code, name, boundary) VALUES ($1, $2, $3, $4, $5)",
        [
            (i, agency_id, code, f"District {code}", _square(s, w))
            for code, (i, s, w) in districts.items()
        ],
    )
    pairs = []
    for r in range(ROWS):
        for c in range(COLS):
            here = districts[f"D{r * COLS + c + 1:02d}"][0]
            for dr, dc in ((0, 1), (1, 0)):
                if r + dr < ROWS and c + dc < COLS:
                    there = districts[f"D{(r + dr) * COLS + c + dc + 1:02d}"][0]
                    pairs.append((agency_id, min(here, there), max(here, there)))
    await conn.copy_records_to_table(
        "district_adjacency", records=pairs, columns=["agency_id", "district_a_id", "district_b_id"]
    )
    return districts


def point_in(rng: random.Random, south: float, west: float) -> tuple[float, float]:
    """A random point inside the district whose south-west corner is given."""
    return south + rng.uniform(0.002, CELL - 0.002), west + rng.uniform(0.002, CELL - 0.002)


CO_RESPONDER_COLUMNS = [
    "id",
    "agency_id",
    "name",
    "kind",
    "provider",
    "specialties",
    "lat",
    "lon",
    "location_at",
]


def co_responder_row(
    rng: random.Random, agency_id: UUID, n: int, south: float, west: float, now: datetime
) -> tuple[Any, ...]:
    """A mobile crisis team's co_responder row for COPY (a fifth are youth specialists)."""
    lat, lon = point_in(rng, south, west)
    cid = new_id()
    specialties = ["youth"] if rng.random() < 0.2 else []
    return (
        cid,
        agency_id,
        f"Team {n}",
        "mobile_crisis_team",
        "County MH",
        specialties,
        lat,
        lon,
        now,
    )


async def _people(
    conn: asyncpg.Connection,
    agency_id: UUID,
    rng: random.Random,
    officers: int,
    co_responders: int,
    districts: dict[str, tuple[UUID, float, float]],
) -> list[tuple[str, UUID, str]]:
    codes = sorted(districts)
    today = date.today()
    now = datetime.now(UTC)
    people: list[tuple[str, UUID, str]] = []
    officer_rows, cert_rows = [], []
    # State officer ids are people, unique across agencies: each seeded agency has its own.
    person = f"BENCH-{str(agency_id)[-8:].upper()}"
    for n in range(officers):
        code = codes[n % len(codes)]
        _, south, west = districts[code]
        lat, lon = point_in(rng, south, west)
        # Drawn, not cycled by n: a cycle would line up with the district (n % 50) and the
        # watch (n % 3), leaving whole districts with no CIT officer or one training only.
        trainings = rng.choice([["de_escalation"], ["mh_awareness"], []])
        status = "out_of_service" if rng.random() < 0.05 else "available"
        oid = new_id()
        officer_rows.append(
            (
                oid,
                agency_id,
                f"{person}-{n}",
                str(n),
                f"Officer {n}",
                trainings,
                True,
                status,
                lat,
                lon,
                now,
            )
        )
        if rng.random() < 0.25:
            cert_rows.append(
                (
                    new_id(),
                    f"{person}-{n}",
                    f"CIT-{n}",
                    "State CIT",
                    today - timedelta(days=200),
                    today + timedelta(days=500),
                    True,
                    agency_id,
                )
            )
        people.append(("officer", oid, code))
    await conn.copy_records_to_table(
        "officer",
        records=officer_rows,
        columns=[
            "id",
            "agency_id",
            "state_officer_id",
            "badge_number",
            "name",
            "trainings",
            "active",
            "status",
            "lat",
            "lon",
            "location_at",
        ],
    )
    await conn.copy_records_to_table(
        "certification",
        records=cert_rows,
        columns=[
            "id",
            "state_officer_id",
            "certification_number",
            "program",
            "certified_on",
            "expires_on",
            "volunteered",
            "recorded_by_agency_id",
        ],
    )
    co_rows = []
    for n in range(co_responders):
        code = codes[n % len(codes)]
        _, south, west = districts[code]
        row = co_responder_row(rng, agency_id, n, south, west, now)
        co_rows.append(row)
        people.append(("co_responder", row[0], code))
    await conn.copy_records_to_table("co_responder", records=co_rows, columns=CO_RESPONDER_COLUMNS)
    return people


async def _shifts(
    conn: asyncpg.Connection,
    agency_id: UUID,
    people: list[tuple[str, UUID, str]],
    districts: dict[str, tuple[UUID, float, float]],
    history_days: int,
) -> None:
    """Three 8-hour watches; each responder works one, yesterday, today and tomorrow, and on
    each of the history_days before."""
    base = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=12)
    shifts, coverage = [], []
    for n, (kind, responder_id, code) in enumerate(people):
        watch = n % 3
        for day in range(-1 - history_days, 2):
            starts = base + timedelta(hours=8 * watch, days=day)
            ends = starts + timedelta(hours=8)
            sid = new_id()
            district_id = districts[code][0]
            shifts.append(
                (
                    sid,
                    agency_id,
                    kind,
                    responder_id if kind == "officer" else None,
                    responder_id if kind == "co_responder" else None,
                    f"{code}-{n}",
                    district_id,
                    starts,
                    ends,
                )
            )
            coverage.append(
                (
                    sid,
                    district_id,
                    agency_id,
                    True,
                    kind,
                    responder_id,
                    f"{code}-{n}",
                    district_id,
                    starts,
                    ends,
                )
            )
    # The rows cannot overlap by construction; the per-row overlap trigger would only slow
    # the bulk load, so it is paused for it.
    async with conn.transaction():
        await conn.execute("ALTER TABLE shift DISABLE TRIGGER shift_no_overlap")
        await conn.copy_records_to_table(
            "shift",
            records=shifts,
            columns=[
                "id",
                "agency_id",
                "responder_type",
                "officer_id",
                "co_responder_id",
                "call_sign",
                "district_id",
                "starts_at",
                "ends_at",
            ],
        )
        await conn.execute("ALTER TABLE shift ENABLE TRIGGER shift_no_overlap")
    await conn.copy_records_to_table(
        "shift_coverage",
        records=coverage,
        columns=[
            "shift_id",
            "district_id",
            "agency_id",
            "is_home",
            "responder_type",
            "responder_id",
            "call_sign",
            "home_district_id",
            "starts_at",
            "ends_at",
        ],
    )
