"""The candidate query: units that could answer a call, ranked and trimmed in SQL.

Its cost follows the number of units working in and next to the call's district: it scans
shift_coverage by (district_id, starts_at) for the reachable districts only.
"""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.raw import RawStatement, driver
from app.routing.types import Candidate, CertificationPeriod, GeoPoint

# Rows kept per (type, hop, cit, training-or-youth) partition. Routing needs only the best
# of each; the second absorbs any float tie between SQL's and Python's haversine.
PER_PARTITION = 2

_CANDIDATES = RawStatement.compile(
    """
WITH hops AS (
    SELECT * FROM unnest(CAST(:reach_ids AS uuid[]), CAST(:reach_hops AS int[]))
        AS h(district_id, hop)
), covering AS (
    SELECT sc.shift_id, bool_or(sc.district_id = :district_id) AS serves
    FROM shift_coverage sc
    WHERE sc.district_id = ANY(CAST(:reach_ids AS uuid[]))
      AND sc.starts_at <= :now AND sc.starts_at > CAST(:now AS timestamptz) - interval '24 hours'
      AND sc.ends_at > :now
      AND (sc.is_home OR sc.district_id = :district_id)
    GROUP BY sc.shift_id
), eligible AS (
    SELECT s.responder_type, s.responder_id, s.call_sign, s.starts_at, s.ends_at,
           s.district_id AS home_id,
           CASE WHEN cv.serves THEN 0 ELSE h.hop END AS hop,
           coalesce(o.name, c.name) AS name,
           coalesce(o.status, c.status) AS status,
           coalesce(o.lat, c.lat) AS lat, coalesce(o.lon, c.lon) AS lon,
           o.trainings, c.specialties, cert.certified_on, cert.expires_on,
           (SELECT count(*) FROM assignment a
             WHERE a.responder_id = s.responder_id
               AND a.assigned_at > CAST(:now AS timestamptz) - interval '24 hours') AS recent
    FROM covering cv
    JOIN shift s ON s.id = cv.shift_id
    LEFT JOIN hops h ON h.district_id = s.district_id
    LEFT JOIN officer o ON o.id = s.officer_id AND o.active AND o.status = 'available'
    LEFT JOIN co_responder c ON c.id = s.co_responder_id AND c.active AND c.status = 'available'
    LEFT JOIN LATERAL (
        SELECT ce.certified_on, ce.expires_on FROM certification ce
        WHERE ce.state_officer_id = o.state_officer_id
          AND ce.certified_on <= :today AND ce.expires_on > :today
        ORDER BY ce.expires_on DESC LIMIT 1
    ) cert ON o.id IS NOT NULL
    WHERE (o.id IS NOT NULL OR c.id IS NOT NULL)
), measured AS (
    -- One row per responder: the exclusion constraint allows one shift at any instant.
    SELECT e.*,
           CASE WHEN e.lat IS NULL OR CAST(:lat AS float8) IS NULL THEN NULL ELSE
             2 * 6371.0088 * asin(sqrt(
               power(sin(radians(e.lat - :lat) / 2), 2)
               + cos(radians(:lat)) * cos(radians(e.lat))
                 * power(sin(radians(e.lon - :lon) / 2), 2))) END AS distance_km,
           CASE WHEN e.responder_type = 'officer' THEN
             CASE WHEN 'de_escalation' = ANY(e.trainings) THEN 0
                  WHEN 'mh_awareness' = ANY(e.trainings) THEN 1 ELSE 2 END
           ELSE CASE WHEN 'youth' = ANY(e.specialties) THEN 0 ELSE 1 END END AS preference
    FROM eligible e
), ranked AS (
    SELECT m.*, row_number() OVER (
        PARTITION BY m.responder_type, m.hop, (m.certified_on IS NOT NULL), m.preference
        ORDER BY (m.distance_km IS NULL), m.distance_km, m.recent,
                 m.call_sign COLLATE "C", m.responder_id
    ) AS position
    FROM measured m
)
SELECT r.responder_type, r.responder_id, r.call_sign, r.starts_at, r.ends_at, r.home_id,
       r.hop, r.name, r.status, r.lat, r.lon, r.trainings, r.specialties,
       r.certified_on, r.expires_on, r.recent
FROM ranked r WHERE r.position <= :per_partition
"""
)


async def load_candidates(
    conn: AsyncConnection,
    *,
    district_id: UUID,
    district_code: str,
    reach: dict[UUID, int],
    codes_by_id: dict[UUID, str],
    now: datetime,
    today: date,
    location: GeoPoint | None,
) -> list[Candidate]:
    """Eligible units serving or adjacent to the district, the best few of each kind."""
    rows = await (await driver(conn)).fetch(
        _CANDIDATES.sql,
        *_CANDIDATES.args(
            {
                "district_id": district_id,
                "reach_ids": list(reach),
                "reach_hops": list(reach.values()),
                "now": now,
                "today": today,
                "lat": location.lat if location else None,
                "lon": location.lon if location else None,
                "per_partition": PER_PARTITION,
            }
        ),
    )
    candidates = []
    for row in rows:
        home = codes_by_id[row["home_id"]]
        serves_by_cover = row["hop"] == 0 and home != district_code
        lat, certified_on = row["lat"], row["certified_on"]
        candidates.append(
            Candidate(
                responder_type=row["responder_type"],
                responder_id=row["responder_id"],
                name=row["name"],
                call_sign=row["call_sign"],
                shift_district=home,
                also_covers=frozenset({district_code}) if serves_by_cover else frozenset(),
                shift_starts_at=row["starts_at"],
                shift_ends_at=row["ends_at"],
                status=row["status"],
                location=GeoPoint(lat, row["lon"]) if lat is not None else None,
                certifications=(
                    (CertificationPeriod(certified_on, row["expires_on"]),)
                    if certified_on is not None
                    else ()
                ),
                trainings=frozenset(row["trainings"] or ()),
                specialties=frozenset(row["specialties"] or ()),
                assignments_24h=row["recent"],
            )
        )
    return candidates
