"""Migrations are the schema: they upgrade, downgrade to nothing and upgrade again."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from app.db.engine import plain_url
from app.db.migrate import (
    alembic_config,
    downgrade,
    head_revision,
    set_app_password,
    upgrade,
)
from app.models import Base


async def _tables(url: str) -> set[str]:
    conn = await asyncpg.connect(plain_url(url))
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await conn.close()
    return {r["tablename"] for r in rows}


def test_upgrade_downgrade_upgrade_round_trip(scratch_url: str) -> None:
    upgrade(scratch_url)
    assert {"call", "officer", "shift", "assignment"} <= asyncio.run(_tables(scratch_url))
    downgrade(scratch_url, "base")
    assert asyncio.run(_tables(scratch_url)) <= {"alembic_version"}
    upgrade(scratch_url)
    assert "call" in asyncio.run(_tables(scratch_url))


def test_models_match_the_migrated_schema(scratch_url: str) -> None:
    """The ORM models describe exactly the tables, columns and indexes migrations build."""
    upgrade(scratch_url)

    async def differences() -> list[Any]:
        engine = create_async_engine(make_url(scratch_url).set(drivername="postgresql+asyncpg"))
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(
                    lambda sync: compare_metadata(
                        MigrationContext.configure(sync, opts={"compare_type": True}),
                        Base.metadata,
                    )
                )
        finally:
            await engine.dispose()

    assert asyncio.run(differences()) == []


def test_upgrading_revokes_the_unit_keys_of_responders_separated_before(scratch_url: str) -> None:
    """Migration 0019: deactivation revokes a unit's keys since then; a terminal of an
    officer separated before must not keep working after the upgrade."""
    upgrade(scratch_url, "0018")

    async def seed() -> None:
        conn = await asyncpg.connect(plain_url(scratch_url))
        try:
            agency = await conn.fetchval(
                "INSERT INTO agency (id, name, timezone) VALUES (gen_random_uuid(), 'A', 'UTC')"
                " RETURNING id"
            )
            for n, active in enumerate((False, True)):
                officer = await conn.fetchval(
                    "INSERT INTO officer (id, agency_id, state_officer_id, badge_number, name,"
                    " active) VALUES (gen_random_uuid(), $1, $2, $2, 'O', $3) RETURNING id",
                    agency,
                    f"S-{n}",
                    active,
                )
                await conn.execute(
                    "INSERT INTO api_key (id, agency_id, role, responder_type, responder_id,"
                    " prefix, key_hash) VALUES (gen_random_uuid(), $1, 'unit', 'officer', $2,"
                    " $3, $4)",
                    agency,
                    officer,
                    f"0000000{n}",
                    bytes([n]) * 32,
                )
        finally:
            await conn.close()

    async def revoked() -> dict[bool, bool]:
        conn = await asyncpg.connect(plain_url(scratch_url))
        try:
            rows = await conn.fetch(
                "SELECT o.active, k.revoked_at IS NOT NULL AS revoked FROM api_key k"
                " JOIN officer o ON o.id = k.responder_id"
            )
        finally:
            await conn.close()
        return {r["active"]: r["revoked"] for r in rows}

    asyncio.run(seed())
    upgrade(scratch_url)
    assert asyncio.run(revoked()) == {False: True, True: False}


def test_downgrading_keeps_a_voided_certification_from_counting_again(scratch_url: str) -> None:
    """Migration 0022 lets a certification be voided (expires_on = certified_on). Migration
    0021's constraint cannot hold one: the downgrade stops rather than give it a valid day
    back or delete the state's record, and stops before changing anything of 0022 (each
    migration commits on its own: those above 0022 are undone first)."""
    upgrade(scratch_url)

    async def run(sql: str) -> Any:
        conn = await asyncpg.connect(plain_url(scratch_url))
        try:
            return await conn.fetchval(sql)
        finally:
            await conn.close()

    asyncio.run(
        run(
            "WITH a AS (INSERT INTO agency (id, name, timezone)"
            " VALUES (gen_random_uuid(), 'A', 'UTC') RETURNING id)"
            " INSERT INTO certification (id, state_officer_id, certification_number, program,"
            " certified_on, expires_on, volunteered, recorded_by_agency_id)"
            " SELECT gen_random_uuid(), 'S-1', 'C-1', 'CIT', '2026-12-01', '2026-12-01', true,"
            " a.id FROM a"
        )
    )
    with pytest.raises(RuntimeError, match="voided"):
        downgrade(scratch_url, "0021")
    assert asyncio.run(run("SELECT version_num FROM alembic_version")) == "0022"
    assert asyncio.run(run("SELECT count(*) FROM certification")) == 1


async def _fetch(url: str, sql: str) -> list[Any]:
    conn = await asyncpg.connect(plain_url(url))
    try:
        return [tuple(row) for row in await conn.fetch(sql)]
    finally:
        await conn.close()


async def _insert(url: str, *statements: str) -> None:
    conn = await asyncpg.connect(plain_url(url))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def _migrate_command(url: str) -> subprocess.CompletedProcess[str]:
    """`cit-dispatch migrate` against the database at url, as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "migrate"],
        capture_output=True,
        text=True,
        env={**os.environ, "CIT_DATABASE_URL": url},
        timeout=120,
        check=False,
    )


_AGENCY = "INSERT INTO agency (id, name, timezone) VALUES (gen_random_uuid(), 'A', 'UTC')"
_OFFICER = (
    "INSERT INTO officer (id, agency_id, state_officer_id, badge_number, name)"
    " SELECT gen_random_uuid(), a.id, '{sid}', '{sid}', 'O' FROM agency a"
)
_DISTRICT = (
    "INSERT INTO district (id, agency_id, code, name)"
    " SELECT gen_random_uuid(), a.id, 'D1', 'D1' FROM agency a"
)
_CERTIFICATE = (
    "INSERT INTO certification (id, state_officer_id, certification_number, program,"
    " certified_on, expires_on, volunteered, recorded_by_agency_id)"
    " SELECT gen_random_uuid(), '{sid}', '{number}', 'CIT', '2026-01-01', '2029-01-01', true,"
    " a.id FROM agency a"
)


def test_upgrading_keeps_each_persons_id_in_one_form(scratch_url: str) -> None:
    """Migration 0024: state_officer_id names the person whatever the case of its letters.
    Rows written before are rewritten with their ASCII letters upper-cased, the candidate
    query's read model follows (an officer "ut-9a" on shift now, whose certificate was
    recorded for "UT-9A", becomes CIT there), and a CHECK holds every row to the form."""
    upgrade(scratch_url, "0023")
    asyncio.run(
        _insert(
            scratch_url,
            _AGENCY,
            _OFFICER.format(sid="ut-9a"),
            _OFFICER.format(sid="ÿ-é-1"),
            _CERTIFICATE.format(sid="UT-9A", number="c-1"),
            _CERTIFICATE.format(sid="Ut-7", number="c-2"),
            _DISTRICT,
            "INSERT INTO shift (id, agency_id, responder_type, officer_id, call_sign,"
            " district_id, starts_at, ends_at)"
            " SELECT gen_random_uuid(), o.agency_id, 'officer', o.id, '1A1', d.id,"
            " now() - interval '1 hour', now() + interval '7 hours'"
            " FROM officer o, district d WHERE o.state_officer_id = 'ut-9a'",
            "INSERT INTO shift_coverage (shift_id, district_id, agency_id, is_home,"
            " responder_type, responder_id, call_sign, home_district_id, starts_at, ends_at)"
            " SELECT s.id, s.district_id, s.agency_id, true, 'officer', s.officer_id,"
            " s.call_sign, s.district_id, s.starts_at, s.ends_at FROM shift s",
        )
    )
    cit_now = "SELECT cit_periods @> current_date FROM shift_coverage"
    assert asyncio.run(_fetch(scratch_url, cit_now)) == [(False,)]
    upgrade(scratch_url)
    people = "SELECT state_officer_id FROM {} ORDER BY 1"
    assert asyncio.run(_fetch(scratch_url, people.format("officer"))) == [("UT-9A",), ("ÿ-é-1",)]
    assert asyncio.run(_fetch(scratch_url, cit_now)) == [(True,)]
    # The certificate's number is the state's, kept as written.
    certificates = "SELECT state_officer_id, certification_number FROM certification ORDER BY 1"
    assert asyncio.run(_fetch(scratch_url, certificates)) == [("UT-7", "c-2"), ("UT-9A", "c-1")]
    for insert in (_OFFICER.format(sid="ut-10"), _CERTIFICATE.format(sid="ut-9a", number="c-3")):
        with pytest.raises(asyncpg.CheckViolationError):
            asyncio.run(_insert(scratch_url, insert))


def test_upgrading_stops_where_two_rows_would_name_one_person_twice(scratch_url: str) -> None:
    """Two active officers of one agency whose ids differ only in case, or one certificate
    recorded for both forms: which to keep is the agencies' call. The upgrade names them
    and changes nothing."""
    upgrade(scratch_url, "0023")
    rows = [
        _AGENCY,
        _OFFICER.format(sid="ab-1"),
        _OFFICER.format(sid="AB-1"),
        _OFFICER.format(sid="cd-1"),
        _CERTIFICATE.format(sid="cd-1", number="C-7"),
        _CERTIFICATE.format(sid="CD-1", number="C-7"),
    ]
    asyncio.run(_insert(scratch_url, *rows))
    people = "SELECT state_officer_id FROM officer ORDER BY 1"
    before = asyncio.run(_fetch(scratch_url, people))
    with pytest.raises(
        CommandError,
        match=r"one person twice: active officers .*\(AB-1\), .*"
        r"\(ab-1\) of agency .*; certifications .*\(CD-1\), .*\(cd-1\) numbered C-7\."
        r" Nothing was changed: deactivate .*, and delete .*, then upgrade again$",
    ):
        upgrade(scratch_url)
    assert asyncio.run(_fetch(scratch_url, "SELECT version_num FROM alembic_version")) == [
        ("0023",)
    ]
    assert asyncio.run(_fetch(scratch_url, people)) == before
    # As the operator meets it: one line, not a traceback, from `migrate` (and `serve`).
    migrate = _migrate_command(scratch_url)
    assert migrate.returncode == 2
    said = migrate.stderr.splitlines()[-1]  # after alembic's log lines
    assert said.startswith("cit-dispatch: the database was not upgraded: ")
    assert "one person twice" in said
    assert "Traceback" not in migrate.stderr
    assert asyncio.run(_fetch(scratch_url, people)) == before


def test_upgrading_keeps_each_language_tag_in_its_canonical_case(scratch_url: str) -> None:
    """Migration 0025: a language specialty written before in another case is rewritten in
    its tag's canonical case (RFC 5646's own examples), one written twice in two cases is
    kept once, each list sorted as the API keeps it; the other specialties are left."""
    upgrade(scratch_url, "0024")
    co_responder = (
        "INSERT INTO co_responder (id, agency_id, name, kind, provider, specialties)"
        " SELECT gen_random_uuid(), a.id, '{name}', 'clinician', 'P', '{specialties}'"
        " FROM agency a"
    )
    asyncio.run(
        _insert(
            scratch_url,
            _AGENCY,
            co_responder.format(
                name="A", specialties="{youth,language:ES,language:es,language:SGN-be-fr}"
            ),
            co_responder.format(name="B", specialties="{language:AZ-LATN-X-LATN,veterans}"),
            co_responder.format(name="C", specialties="{language:x-Klingon,language:zh-hant-tw}"),
            co_responder.format(name="D", specialties="{language:es-MX,youth}"),
        )
    )
    upgrade(scratch_url)
    assert asyncio.run(
        _fetch(scratch_url, "SELECT name, specialties FROM co_responder ORDER BY 1")
    ) == [
        ("A", ["language:es", "language:sgn-BE-FR", "youth"]),
        ("B", ["language:az-Latn-x-latn", "veterans"]),
        ("C", ["language:x-klingon", "language:zh-Hant-TW"]),
        ("D", ["language:es-MX", "youth"]),
    ]


def test_upgrading_keeps_each_incident_id_in_one_spelling(scratch_url: str) -> None:
    """Migration 0026: an incident id's prefix and agency part in lower case, the unique
    part as it was; where two calls hold spellings of one incident, the one already
    canonical keeps its id, else the oldest; other external ids are left as they are."""
    upgrade(scratch_url, "0025")
    call = (
        "INSERT INTO call (id, agency_id, external_id, district_id, safety, received_at)"
        " SELECT '{id}', a.id, '{external_id}', d.id, '{{}}', now()"
        " FROM agency a JOIN district d ON d.agency_id = a.id WHERE a.name = '{agency}'"
    )
    prefix = "urn:emergency:uid:incidentid:"
    ids = [
        "URN:Emergency:UID:IncidentID:Ab1:PSAP.Example.ORG",
        f"{prefix}Twice:psap.example.org",
        "URN:EMERGENCY:UID:INCIDENTID:Twice:PSAP.EXAMPLE.ORG",
        "urn:emergency:uid:incidentid:Once:A.Org",
        "URN:emergency:uid:incidentid:Once:a.org",
        "CAD-2026-0001",
        "URN:EMERGENCY:UID:INCIDENTID:no-agency",
        # Only ASCII letters fold: the app's rule, whatever the database's locale.
        "URN:EMERGENCY:UID:INCIDENTID:x:PSAP.ÄİB.ORG",
        "URN:EMERGENCY:UID:INCIDENTID:a b:PSAP.ORG",  # a space: no URN, no incident id
    ]
    rows = {f"00000000-0000-7000-8000-00000000000{n}": e for n, e in enumerate(ids, 1)}
    other = "URN:EMERGENCY:UID:INCIDENTID:Twice:PSAP.EXAMPLE.ORG"  # another agency's own
    asyncio.run(
        _insert(
            scratch_url,
            _AGENCY,
            _AGENCY.replace("'A'", "'B'"),
            _DISTRICT,
            *(call.format(id=i, external_id=e, agency="A") for i, e in rows.items()),
            call.format(id="00000000-0000-7000-8000-0000000000b1", external_id=other, agency="B"),
        )
    )
    upgrade(scratch_url)
    assert asyncio.run(
        _fetch(scratch_url, "SELECT right(id::text, 1), external_id FROM call ORDER BY id")
    ) == [
        ("1", f"{prefix}Ab1:psap.example.org"),
        ("2", f"{prefix}Twice:psap.example.org"),
        ("3", "URN:EMERGENCY:UID:INCIDENTID:Twice:PSAP.EXAMPLE.ORG"),
        ("4", f"{prefix}Once:a.org"),
        ("5", "URN:emergency:uid:incidentid:Once:a.org"),
        ("6", "CAD-2026-0001"),
        ("7", "URN:EMERGENCY:UID:INCIDENTID:no-agency"),
        ("8", f"{prefix}x:psap.Äİb.org"),
        ("9", "URN:EMERGENCY:UID:INCIDENTID:a b:PSAP.ORG"),
        ("1", f"{prefix}Twice:psap.example.org"),  # agency B's: its own to keep
    ]


def test_upgrading_keeps_one_alert_row_per_gap_with_the_end_it_told(scratch_url: str) -> None:
    """Migration 0027: each gap keeps its newest row: told with an end (which end, unknown),
    told "open", or the interim key's end (":to:<end>"); a certification's alert is left as
    it was."""
    upgrade(scratch_url, "0026")
    gap = "coverage.gap_ahead:{}:cit:2026-12-04T10:00:00+00:00"
    sent = (
        "INSERT INTO alert_sent (agency_id, key, created_at) SELECT a.id, '{}', '{}' FROM agency a"
    )
    asyncio.run(
        _insert(
            scratch_url,
            _AGENCY,
            sent.format(gap.format("D1"), "2026-12-01"),
            sent.format(gap.format("D1") + ":open", "2026-11-30"),
            sent.format(gap.format("D2") + ":open", "2026-12-01"),
            # Told with an end, then again open (its end cancelled): open is the last told.
            sent.format(gap.format("D3"), "2026-11-30"),
            sent.format(gap.format("D3") + ":open", "2026-12-02"),
            sent.format(gap.format("to") + ":to:2026-12-05T01:00:00+00:00", "2026-12-01"),
            sent.format(gap.format("to") + ":to:2026-12-05T03:00:00+00:00", "2026-12-02"),
            sent.format("certification.expiring:x:2027-01-01:30", "2026-12-01"),
        )
    )
    upgrade(scratch_url)
    assert asyncio.run(_fetch(scratch_url, "SELECT key, told FROM alert_sent ORDER BY 1")) == [
        ("certification.expiring:x:2027-01-01:30", None),
        (gap.format("D1"), None),
        (gap.format("D2"), "open"),
        (gap.format("D3"), "open"),
        (gap.format("to"), "2026-12-05T03:00:00+00:00"),
    ]
    downgrade(scratch_url, "0026")
    assert asyncio.run(_fetch(scratch_url, "SELECT key FROM alert_sent ORDER BY 1")) == [
        ("certification.expiring:x:2027-01-01:30",),
        (gap.format("D1"),),
        (gap.format("D2") + ":open",),
        (gap.format("D3") + ":open",),
        (gap.format("to"),),
    ]


def test_upgrading_gives_a_roster_written_up_afterwards_the_certifications_since(
    scratch_url: str,
) -> None:
    """Migration 0028: the coverage rows of a shift entered after it ended take the person's
    certifications recorded since; those of a shift dispatch worked from stay as they
    were, as they keep doing after it."""
    upgrade(scratch_url, "0027")
    shift = (
        "INSERT INTO shift (id, agency_id, responder_type, officer_id, call_sign, district_id,"
        " starts_at, ends_at, created_at)"
        " SELECT gen_random_uuid(), a.id, 'officer', o.id, '1A', d.id,"
        " now() - interval '{ago}', now() - interval '{ago}' + interval '8 hours', {entered}"
        " FROM agency a, officer o, district d"
    )
    asyncio.run(
        _insert(
            scratch_url,
            _AGENCY,
            _DISTRICT,
            _OFFICER.format(sid="S-1"),
            shift.format(ago="7 days", entered="now()"),  # written up afterwards
            shift.format(ago="3 days", entered="now() - interval '4 days'"),  # worked from
            "INSERT INTO shift_coverage (shift_id, district_id, agency_id, is_home,"
            " responder_type, responder_id, call_sign, home_district_id, starts_at, ends_at)"
            " SELECT id, district_id, agency_id, true, 'officer', officer_id, call_sign,"
            " district_id, starts_at, ends_at FROM shift",
            "INSERT INTO certification (id, state_officer_id, certification_number, program,"
            " certified_on, expires_on, volunteered, recorded_by_agency_id)"
            " SELECT gen_random_uuid(), 'S-1', 'C-1', 'CIT', current_date - 100,"
            " current_date + 100, true, a.id FROM agency a",
        )
    )
    covered = (
        "SELECT s.created_at > s.ends_at, sc.cit_periods <> '{}'::datemultirange"
        " FROM shift_coverage sc JOIN shift s ON s.id = sc.shift_id ORDER BY 1"
    )
    assert asyncio.run(_fetch(scratch_url, covered)) == [(False, False), (True, False)]
    upgrade(scratch_url)
    assert asyncio.run(_fetch(scratch_url, covered)) == [(False, False), (True, True)]


def test_upgrading_dates_each_officers_post_from_its_creation(scratch_url: str) -> None:
    """Migration 0029: officers written before take their creation's time as the start of
    their post (who records a person's certifications goes by it), not the upgrade's."""
    upgrade(scratch_url, "0028")
    asyncio.run(
        _insert(
            scratch_url,
            _AGENCY,
            _OFFICER.format(sid="S-1"),
            "UPDATE officer SET created_at = now() - interval '3 years'",
        )
    )
    upgrade(scratch_url)
    since = (
        "SELECT active_since = created_at, active_since < now() - interval '1 year' FROM officer"
    )
    assert asyncio.run(_fetch(scratch_url, since)) == [(True, True)]


def test_upgrading_dates_each_officers_period_of_service_only_where_it_is_known(
    scratch_url: str,
) -> None:
    """Migrations 0034 and 0035: a shift may be entered for an officer who has left within
    the period they last served. Where the audit trail holds an officer's whole history
    (their creation's entry, and updates that name what they changed), that period began
    at the latest update that made them active, else at their creation, if created active;
    elsewhere it is not known (NULL) for those who have left, and dated from the upgrade
    (no earlier service claimed) for those still serving."""
    upgrade(scratch_url, "0033")
    officer = (
        "INSERT INTO officer (id, agency_id, state_officer_id, badge_number, name, active,"
        " separated_at, created_at, active_since)"
        " SELECT gen_random_uuid(), a.id, '{sid}', '{sid}', 'O', {active},"
        " CASE WHEN {active} THEN NULL ELSE now() - interval '10 days' END,"
        " now() - interval '100 days', now() - interval '100 days' FROM agency a"
    )
    entry = (
        "INSERT INTO audit_entry (id, agency_id, at, role, action, resource_type, resource_id,"
        " outcome, detail) SELECT gen_random_uuid(), o.agency_id, now() - interval '{ago} days',"
        " 'admin', 'officer.{action}', 'officer', o.id::text, '{outcome}', {detail}"
        " FROM officer o WHERE o.state_officer_id = '{sid}'"
    )

    def created(sid: str) -> str:
        return entry.format(sid=sid, ago=100, action="create", outcome="success", detail="NULL")

    def updated(sid: str, ago: int, active: bool | None, outcome: str = "success") -> str:
        """An update entry; active None: one written before entries named what changed."""
        change = {"changed": {"active": {"from": not active, "to": active}}}
        detail = "NULL" if active is None else f"'{json.dumps(change)}'"
        return entry.format(sid=sid, ago=ago, action="update", outcome=outcome, detail=detail)

    asyncio.run(
        _insert(
            scratch_url,
            _AGENCY,
            *(officer.format(sid=f"S-{n}", active=n <= 2) for n in range(1, 8)),
            created("S-1"),  # created, still serving
            # S-2: still serving, no entry at all
            created("S-3"),  # created active, left once
            updated("S-3", 10, active=False),
            updated("S-3", 5, active=True, outcome="denied"),  # changed nothing
            created("S-4"),  # back after a leave, left again
            updated("S-4", 50, active=False),
            updated("S-4", 30, active=True),
            updated("S-4", 10, active=False),
            created("S-5"),  # an entry that does not name what it changed
            updated("S-5", 50, active=None),
            updated("S-5", 10, active=False),
            updated("S-6", 10, active=False),  # its creation's entry purged
            created("S-7"),  # created inactive, never active
        )
    )
    upgrade(scratch_url)
    days_ago = (
        "SELECT state_officer_id, round(extract(epoch FROM now() - serving_since) / 86400)::int"
        " FROM officer ORDER BY 1"
    )
    assert asyncio.run(_fetch(scratch_url, days_ago)) == [
        ("S-1", 100),
        ("S-2", 0),
        ("S-3", 100),
        ("S-4", 30),
        ("S-5", None),
        ("S-6", None),
        ("S-7", None),
    ]


def test_upgrading_reads_update_entries_whatever_the_path_spelt_the_officers_id(
    scratch_url: str,
) -> None:
    """Before entries named what changed, an officer.update entry's resource_id was the
    path's id as sent (upper case, no hyphens, braces, urn:uuid:, all taken by the route;
    9f5ece8 names it by the parsed id since). Matched on o.id::text alone, such an entry was not
    seen: an officer away on leave and back before then, who left since, was dated from
    their creation, and a shift during the leave was taken and counted as worked. Read,
    it names nothing it changed: the history is not known (NULL)."""
    upgrade(scratch_url, "0033")
    officer = (
        "INSERT INTO officer (id, agency_id, state_officer_id, badge_number, name, active,"
        " separated_at, created_at, active_since)"
        " SELECT gen_random_uuid(), a.id, '{sid}', '{sid}', 'O', false,"
        " now() - interval '10 days', now() - interval '100 days',"
        " now() - interval '100 days' FROM agency a"
    )
    entry = (
        "INSERT INTO audit_entry (id, agency_id, at, role, action, resource_type, resource_id,"
        " outcome, detail) SELECT gen_random_uuid(), o.agency_id, now() - interval '{ago} days',"
        " 'admin', 'officer.{action}', 'officer', {spelt}, 'success', {detail}"
        " FROM officer o WHERE o.state_officer_id = '{sid}'"
    )
    left = "'" + json.dumps({"changed": {"active": {"from": True, "to": False}}}) + "'"
    spellings = {
        "S-1": "upper(o.id::text)",
        "S-2": "replace(o.id::text, '-', '')",
        "S-3": "'{' || o.id::text || '}'",
        "S-4": "'urn:uuid:' || o.id::text",
    }
    statements = [_AGENCY]
    for sid, spelt in spellings.items():
        statements += [
            officer.format(sid=sid),
            entry.format(sid=sid, ago=100, action="create", spelt="o.id::text", detail="NULL"),
            # Away and back, before entries named what changed (the path's spelling).
            entry.format(sid=sid, ago=60, action="update", spelt=spelt, detail="NULL"),
            entry.format(sid=sid, ago=40, action="update", spelt=spelt, detail="NULL"),
            # Left for good since (the entry names the officer in its one spelling).
            entry.format(sid=sid, ago=10, action="update", spelt="o.id::text", detail=left),
        ]
    asyncio.run(_insert(scratch_url, *statements))
    upgrade(scratch_url)
    since = "SELECT state_officer_id, serving_since FROM officer ORDER BY 1"
    assert asyncio.run(_fetch(scratch_url, since)) == [(sid, None) for sid in spellings]


def test_instances_setting_the_app_roles_password_at_once_take_turns(database_url: str) -> None:
    """Each serve sets CIT_DATABASE_APP_PASSWORD after migrating: two at once failed with
    "tuple concurrently updated" (review). (The test servers trust every connection: the
    password given is not the one they connect with.)"""

    def set_it(_: int) -> None:
        set_app_password(database_url, "app-password")

    for _ in range(5):
        with ThreadPoolExecutor(4) as threads:
            list(threads.map(set_it, range(4)))
    has_one = "SELECT rolpassword IS NOT NULL FROM pg_authid WHERE rolname = 'cit_app'"
    assert asyncio.run(_fetch(database_url, has_one)) == [(True,)]


def test_two_migrations_at_once_take_turns(scratch_url: str) -> None:
    """Two instances of a new release starting together on a fresh database: one failed on
    the other's rows (an operator's check); the second now waits, and finds nothing to do."""
    env = {**os.environ, "CIT_DATABASE_URL": scratch_url}
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "app.cli", "migrate"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for run in runs:
        _, err = run.communicate(timeout=300)
        assert run.returncode == 0, err
    assert asyncio.run(_fetch(scratch_url, "SELECT version_num FROM alembic_version")) == [
        (head_revision(),)
    ]


def test_migrate_says_when_a_newer_release_upgraded_the_database(scratch_url: str) -> None:
    """An older release started against a database a newer one upgraded: one line, exit 2."""
    upgrade(scratch_url)
    asyncio.run(_insert(scratch_url, "UPDATE alembic_version SET version_num = '0999'"))
    migrate = _migrate_command(scratch_url)
    assert migrate.returncode == 2
    assert migrate.stderr.splitlines()[-1] == (
        "cit-dispatch: the database was not upgraded: Can't locate revision identified by"
        " '0999' (a newer release of cit-dispatch upgraded this database)"
    )


def _serve_without_migrating(url: str) -> subprocess.CompletedProcess[str]:
    from app.encryption import generate_key
    from tests.ports import free_port

    env = {**os.environ, "CIT_DATABASE_URL": url, "CIT_DATA_KEY": generate_key()}
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "app.cli", "serve", "--no-migrate", "--port", str(free_port())],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_serve_without_migrating_refuses_a_schema_behind_this_release(scratch_url: str) -> None:
    """It said ready, and answered every request with a 500 (outside-in check)."""
    never = _serve_without_migrating(scratch_url)
    assert never.returncode == 2, never.stderr
    assert never.stderr.strip().splitlines() == [
        "cit-dispatch: the database has not been migrated: run `cit-dispatch migrate` first,"
        " or serve without --no-migrate"
    ]
    head = head_revision()
    before = ScriptDirectory.from_config(alembic_config(scratch_url)).get_revision(head)
    assert isinstance(before.down_revision, str)
    upgrade(scratch_url, before.down_revision)
    behind = _serve_without_migrating(scratch_url)
    assert behind.returncode == 2, behind.stderr
    assert f"at revision {before.down_revision}, this release's at {head}" in behind.stderr
    # Ahead: a newer release's revision is none of this one's, and its migrate would fail.
    upgrade(scratch_url)
    asyncio.run(_set_revision(scratch_url, "9999_from_a_newer_release"))
    ahead = _serve_without_migrating(scratch_url)
    assert ahead.returncode == 2, ahead.stderr
    assert "a newer release of cit-dispatch upgraded it" in ahead.stderr
    # A database that is not there: one line, as for any database the command cannot use.
    gone = _serve_without_migrating(str(make_url(scratch_url).set(database="cit_no_such")))
    assert gone.returncode == 1, gone.stderr
    assert gone.stderr.strip().splitlines() == [
        "cit-dispatch: the database refused the command (InvalidCatalogNameError, SQLSTATE"
        " 3D000): no database by the name in CIT_DATABASE_URL on that server"
    ]


async def _set_revision(url: str, revision: str) -> None:
    conn = await asyncpg.connect(plain_url(url))
    try:
        await conn.execute("UPDATE alembic_version SET version_num = $1", revision)
    finally:
        await conn.close()


def test_upgrading_tells_the_status_each_known_release_left_its_unit_in(scratch_url: str) -> None:
    """Migrations 0031 and 0032: the assignments released before it take the status they were
    released into where that is known (the call's clear: available; else the release's
    unit.released event), so the EIDO export tells a unit released out of service so."""
    upgrade(scratch_url, "0030")
    assignment = (
        "INSERT INTO assignment (id, agency_id, call_id, responder_type, responder_id, role,"
        " assigned_at, released_at) SELECT gen_random_uuid(), c.agency_id, c.id, 'officer',"
        " '{unit}', 'lead', c.received_at, {released} FROM call c"
    )
    released = (
        "INSERT INTO event (id, agency_id, type, call_id, responder_id, payload, created_at)"
        " SELECT gen_random_uuid(), c.agency_id, 'unit.released', c.id, '{unit}',"
        ' \'{{"status": "out_of_service"}}\', {at} FROM call c'
    )
    asyncio.run(
        _insert(
            scratch_url,
            _AGENCY,
            _DISTRICT,
            "INSERT INTO call (id, agency_id, status, district_id, safety, received_at,"
            " cleared_at) SELECT gen_random_uuid(), d.agency_id, 'cleared', d.id, '{}',"
            " '2026-12-01T09:00:00Z', '2026-12-01T10:00:00Z' FROM district d",
            assignment.format(unit=_UNITS[0], released="c.cleared_at"),
            assignment.format(unit=_UNITS[1], released="'2026-12-01T09:30:00Z'"),
            assignment.format(unit=_UNITS[2], released="'2026-12-01T09:40:00Z'"),
            # Out of service by its own report at the very instant of the clear.
            assignment.format(unit=_UNITS[3], released="c.cleared_at"),
            # The second's release, as a status report wrote it; the third's is gone.
            released.format(unit=_UNITS[1], at="'2026-12-01T09:30:00Z'"),
            released.format(unit=_UNITS[3], at="c.cleared_at"),
        )
    )
    upgrade(scratch_url, "0031")
    # 0031 adds the column and its checks alone (NOT VALID: no scan under its lock).
    valid = "SELECT conname, convalidated FROM pg_constraint WHERE conname LIKE '%released%'"
    assert sorted(asyncio.run(_fetch(scratch_url, valid))) == [
        ("ck_assignment_released_only", False),
        ("ck_assignment_released_status", False),
    ]
    # An earlier build of 0031 filled in from the clear first: 0032 corrects that row.
    wrong = (
        "UPDATE assignment SET released_status = 'available'"  # noqa: S608
        f" WHERE responder_id = '{_UNITS[3]}'"
    )
    asyncio.run(_insert(scratch_url, wrong))
    upgrade(scratch_url)
    statuses = "SELECT responder_id::text, released_status FROM assignment ORDER BY 1"
    assert asyncio.run(_fetch(scratch_url, statuses)) == [
        (_UNITS[0], "available"),
        (_UNITS[1], "out_of_service"),
        (_UNITS[2], None),
        # The event is read before the clear: it left out of service (review).
        (_UNITS[3], "out_of_service"),
    ]
    assert all(ok for _, ok in asyncio.run(_fetch(scratch_url, valid)))


def test_upgrading_names_each_assignment_by_the_call_sign_its_unit_had_then(
    scratch_url: str,
) -> None:
    """Migrations 0037 and 0038: an assignment made before them takes the call sign of the
    shift that named its unit when it was made (begun last by then, else its next one), not
    today's; NULL for a unit with no shift left."""
    upgrade(scratch_url, "0036")
    shift = (
        "INSERT INTO shift (id, agency_id, responder_type, officer_id, call_sign, district_id,"
        " starts_at, ends_at) SELECT gen_random_uuid(), a.id, 'officer', o.id, '{sign}', d.id,"
        " '{starts}', timestamptz '{starts}' + interval '8 hours'"
        " FROM agency a, officer o, district d WHERE o.state_officer_id = '{sid}'"
    )
    assignment = (
        "INSERT INTO assignment (id, agency_id, call_id, responder_type, responder_id, role,"
        " assigned_at, released_at) SELECT gen_random_uuid(), c.agency_id, c.id, 'officer',"
        " o.id, 'lead', '{at}', timestamptz '{at}' + interval '1 hour'"
        " FROM call c, officer o WHERE o.state_officer_id = '{sid}'"
    )
    asyncio.run(
        _insert(
            scratch_url,
            _AGENCY,
            _DISTRICT,
            _OFFICER.format(sid="S-1"),
            _OFFICER.format(sid="S-2"),
            "INSERT INTO call (id, agency_id, status, district_id, safety, received_at)"
            " SELECT gen_random_uuid(), d.agency_id, 'dispatched', d.id, '{}',"
            " '2026-12-01T09:00:00Z' FROM district d",
            shift.format(sign="1A1", starts="2026-11-30T07:00:00Z", sid="S-1"),
            shift.format(sign="2B7", starts="2026-12-01T07:00:00Z", sid="S-1"),
            shift.format(sign="3C3", starts="2026-12-02T07:00:00Z", sid="S-1"),
            # On its shift of the day; after the one the day before ended; before any.
            assignment.format(at="2026-12-01T09:00:00Z", sid="S-1"),
            assignment.format(at="2026-11-30T16:00:00Z", sid="S-1"),
            assignment.format(at="2026-11-29T16:00:00Z", sid="S-1"),
            assignment.format(at="2026-12-01T09:00:00Z", sid="S-2"),  # no shift at all
        )
    )
    # 0037 adds the column alone: a fill under its lock held every read of the table.
    upgrade(scratch_url, "0037")
    filled = "SELECT count(*) FROM assignment WHERE call_sign IS NOT NULL"
    assert asyncio.run(_fetch(scratch_url, filled)) == [(0,)]
    upgrade(scratch_url)
    named = (
        "SELECT o.state_officer_id, a.assigned_at::text, a.call_sign FROM assignment a"
        " JOIN officer o ON o.id = a.responder_id ORDER BY 1, 2"
    )
    assert asyncio.run(_fetch(scratch_url, named)) == [
        ("S-1", "2026-11-29 16:00:00+00", "1A1"),
        ("S-1", "2026-11-30 16:00:00+00", "1A1"),
        ("S-1", "2026-12-01 09:00:00+00", "2B7"),
        ("S-2", "2026-12-01 09:00:00+00", None),
    ]


_UNITS = [f"00000000-0000-4000-8000-00000000000{n}" for n in range(4)]


def test_filling_in_the_call_signs_leaves_the_units_on_calls_free_until_the_end(
    scratch_url: str,
) -> None:
    """Migration 0038 fills in the assignments of calls long cleared first, then those of
    units still on a call, so a clear or a status report on a call waits for the last
    moment of the fill, not for its pass over the whole table (as 0032 kept to released
    rows). Here a released row held elsewhere stops the fill midway: the active one is
    free then, and filled in all the same."""
    upgrade(scratch_url, "0036")
    shift = (
        "INSERT INTO shift (id, agency_id, responder_type, officer_id, call_sign, district_id,"
        " starts_at, ends_at) SELECT gen_random_uuid(), a.id, 'officer', o.id, '1A{n}', d.id,"
        " '2026-12-01T07:00:00Z', '2026-12-01T15:00:00Z'"
        " FROM agency a, officer o, district d WHERE o.state_officer_id = 'S-{n}'"
    )
    assignment = (
        "INSERT INTO assignment (id, agency_id, call_id, responder_type, responder_id, role,"
        " assigned_at, released_at) SELECT '{id}', c.agency_id, c.id, 'officer', o.id, 'lead',"
        " '2026-12-01T09:00:00Z', {released} FROM call c, officer o"
        " WHERE o.state_officer_id = 'S-{n}'"
    )
    active, released = UUID(_UNITS[0]), UUID(_UNITS[1])
    asyncio.run(
        _insert(
            scratch_url,
            _AGENCY,
            _DISTRICT,
            *(_OFFICER.format(sid=f"S-{n}") for n in (1, 2)),
            *(shift.format(n=n) for n in (1, 2)),
            "INSERT INTO call (id, agency_id, status, district_id, safety, received_at)"
            " SELECT gen_random_uuid(), d.agency_id, 'dispatched', d.id, '{}',"
            " '2026-12-01T09:00:00Z' FROM district d",
            assignment.format(id=active, released="NULL", n=1),
            assignment.format(id=released, released="'2026-12-01T10:00:00Z'", n=2),
        )
    )
    upgrade(scratch_url, "0037")

    async def midway() -> bool:
        held = await asyncpg.connect(plain_url(scratch_url))
        clear = await asyncpg.connect(plain_url(scratch_url))
        try:
            await held.execute("BEGIN")
            await held.execute("SELECT 1 FROM assignment WHERE id = $1 FOR UPDATE", released)
            migrating = asyncio.create_task(asyncio.to_thread(upgrade, scratch_url))
            waiting = (
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            for _ in range(600):  # until the fill waits for the row held
                if await clear.fetchval(waiting):
                    break
                await asyncio.sleep(0.05)
            await clear.execute("BEGIN")
            try:
                await clear.execute(
                    "SELECT 1 FROM assignment WHERE id = $1 FOR UPDATE NOWAIT", active
                )
                free = True
            except asyncpg.LockNotAvailableError:
                free = False
            await clear.execute("ROLLBACK")
            await held.execute("ROLLBACK")
            await migrating
            return free
        finally:
            await held.close()
            await clear.close()

    assert asyncio.run(midway())
    signs = "SELECT call_sign FROM assignment ORDER BY id"
    assert asyncio.run(_fetch(scratch_url, signs)) == [("1A1",), ("1A2",)]
