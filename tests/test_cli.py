"""The CLI against the same database as the tests' app."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from app.admin import AdminError, create_agency
from app.cli import build_parser
from app.cli.common import CliError, database_failure
from app.cli.serving import serve_settings
from app.db.engine import create_engine, create_sessionmaker
from app.db.migrate import head_revision, schema_revision
from app.repositories.agencies import insert_agency
from app.settings import Settings
from tests.helpers import Api


def _cli(
    database_url: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CIT_DATABASE_URL": database_url, "CIT_LOG_LEVEL": "INFO", **(env or {})}
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "app.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


async def test_agency_and_key_creation_print_one_json_line_each(
    database_url: str, client: httpx.AsyncClient
) -> None:
    made = _cli(
        database_url, "agency", "create", "--name", "Test PD", "--timezone", "America/Denver"
    )
    assert made.returncode == 0, made.stderr
    lines = made.stdout.splitlines()
    assert len(lines) == 1
    agency = json.loads(lines[0])
    assert set(agency) == {"agency_id", "api_key"}

    admin_headers = {"Authorization": f"Bearer {agency['api_key']}"}
    assert (await client.get("/v1/policy", headers=admin_headers)).status_code == 200

    viewer = _cli(
        database_url, "api-key", "create", "--agency", agency["agency_id"], "--role", "viewer"
    )
    assert viewer.returncode == 0, viewer.stderr
    key = json.loads(viewer.stdout)
    assert key["role"] == "viewer"
    viewer_headers = {"Authorization": f"Bearer {key['api_key']}"}
    assert (await client.get("/v1/calls", headers=viewer_headers)).status_code == 200
    assert (
        await client.post("/v1/calls", json={"district": "D1"}, headers=viewer_headers)
    ).status_code == 403
    trail = (await client.get("/v1/audit?resource_type=api_key", headers=admin_headers)).json()
    created = [e for e in trail["items"] if e["action"] == "api_key.create"]
    assert [(e["role"], e["detail"]["role"]) for e in created] == [
        ("cli", "viewer"),
        ("cli", "admin"),
    ]


async def test_agency_list_and_get_v1_agency_tell_an_agency_its_id(
    database_url: str, client: httpx.AsyncClient
) -> None:
    """A lost agency id could be found only by making the agency again and reading the
    refusal (the admin's check): `agency list` prints every agency, and a key reads its own
    as GET /v1/agency."""
    made = _cli(
        database_url, "agency", "create", "--name", "Listed PD", "--timezone", "America/Boise"
    )
    agency = json.loads(made.stdout)
    listed = _cli(database_url, "agency", "list")
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert {
        "agency_id": agency["agency_id"],
        "name": "Listed PD",
        "timezone": "America/Boise",
        "ori": None,
    } in rows
    assert all(set(row) == {"agency_id", "name", "timezone", "ori"} for row in rows)
    read = await client.get("/v1/agency", headers={"Authorization": f"Bearer {agency['api_key']}"})
    assert read.status_code == 200, read.text
    assert {k: read.json()[k] for k in ("id", "name", "timezone", "ori")} == {
        "id": agency["agency_id"],
        "name": "Listed PD",
        "timezone": "America/Boise",
        "ori": None,
    }


async def test_cli_rejects_bad_input_with_a_message(database_url: str, admin: Api) -> None:
    bad_zone = _cli(database_url, "agency", "create", "--name", "X", "--timezone", "Mars/Olympus")
    assert bad_zone.returncode == 2
    assert "timezone" in bad_zone.stderr
    assert bad_zone.stdout == ""
    unit_without_responder = _cli(
        database_url, "api-key", "create", "--agency", str(admin.agency_id), "--role", "unit"
    )
    assert unit_without_responder.returncode == 2
    assert "--responder-id" in unit_without_responder.stderr


def _one_clear_line(result: subprocess.CompletedProcess[str], *words: str) -> str:
    """A refused command: non-zero, nothing on stdout, one line on stderr, no trace of SQL."""
    assert result.returncode != 0
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if not line.startswith("{")]
    assert len(lines) == 1, result.stderr
    [line] = lines
    assert line.startswith("cit-dispatch: "), line
    for word in words:
        assert word in line, line
    for leak in ("Traceback", "INSERT", "SELECT", "[SQL", "parameters", "asyncpg"):
        assert leak not in result.stderr, result.stderr
    return line


def _create_agency(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return _cli(database_url, "agency", "create", *args)


async def test_agency_create_refuses_a_duplicate_ori_in_one_line(database_url: str) -> None:
    first = _create_agency(
        database_url, "--name", "Salt Lake PD", "--timezone", "America/Denver", "--ori", "UT0180000"
    )
    assert first.returncode == 0, first.stderr
    agency_id = json.loads(first.stdout)["agency_id"]
    again = _create_agency(
        database_url, "--name", "Other PD", "--timezone", "America/Denver", "--ori", "ut0180000"
    )
    line = _one_clear_line(again, "UT0180000", agency_id, "already")
    assert again.returncode == 2, line


async def test_agency_create_refuses_a_name_already_taken_and_says_how_to_get_a_key(
    database_url: str,
) -> None:
    """An operator who lost the first output and runs the command again gets no second
    agency (outside-in check): the answer names the agency and the command for a new key."""
    first = _create_agency(database_url, "--name", "Salt Lake PD", "--timezone", "America/Denver")
    assert first.returncode == 0, first.stderr
    agency_id = json.loads(first.stdout)["agency_id"]
    for name in ("Salt Lake PD", "  salt lake pd "):
        again = _create_agency(database_url, "--name", name, "--timezone", "America/Denver")
        line = _one_clear_line(again, agency_id, "already named 'Salt Lake PD'", "api-key create")
        assert again.returncode == 2, line
    other = _create_agency(database_url, "--name", "Salt Lake SO", "--timezone", "America/Denver")
    assert other.returncode == 0, other.stderr
    engine = create_engine(database_url, pool_size=1)
    try:
        async with create_sessionmaker(engine)() as session:
            named = await session.execute(text("SELECT name FROM agency ORDER BY name"))
            assert named.scalars().all() == ["Salt Lake PD", "Salt Lake SO"]
    finally:
        await engine.dispose()


async def test_agency_creations_of_one_name_at_once_make_one_agency(database_url: str) -> None:
    """Four at once (a provisioning script retrying while the first still starts) made four
    agencies of the name (the review): they take turns, and the rest are refused."""
    results = await asyncio.gather(
        *(
            create_agency(database_url, name=name, timezone="America/Denver", ori=None)
            for name in ("Salt Lake PD", "SALT LAKE PD", "salt lake pd", "Salt Lake PD")
        ),
        return_exceptions=True,
    )
    made = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, AdminError)]
    assert (len(made), len(refused)) == (1, 3), results
    assert all("already named" in str(r) for r in refused)


async def test_agency_create_holds_the_name_to_one_line_of_at_most_200(database_url: str) -> None:
    for name in ("Salt\tLake PD", "Salt Lake\nPD", "PD\x1b[31m", "\u200b\u200b", "P" * 201):
        result = _create_agency(database_url, "--name", name, "--timezone", "America/Denver")
        _one_clear_line(result, "--name", "one line")
        assert result.returncode == 2
    longest = _create_agency(database_url, "--name", "P" * 200, "--timezone", "America/Denver")
    assert longest.returncode == 0, longest.stderr
    engine = create_engine(database_url, pool_size=1)
    try:
        async with create_sessionmaker(engine)() as session:
            names = await session.execute(text("SELECT name FROM agency"))
            assert names.scalars().all() == ["P" * 200]
    finally:
        await engine.dispose()


async def test_agency_create_refuses_an_empty_name_in_one_line(database_url: str) -> None:
    for name in ("", "   "):
        result = _create_agency(database_url, "--name", name, "--timezone", "America/Denver")
        _one_clear_line(result, "--name")
        assert result.returncode == 2


async def test_agency_create_refuses_a_malformed_ori_in_one_line(database_url: str) -> None:
    for ori in ("UT01800", "UT0180000X", "UT-180000", "12345678U", ""):
        result = _create_agency(
            database_url, "--name", "PD", "--timezone", "America/Denver", "--ori", ori
        )
        _one_clear_line(result, "--ori", "ORI")
        assert result.returncode == 2


async def test_agency_create_refuses_an_unknown_timezone_in_one_line(database_url: str) -> None:
    # Files on the zone path that are no IANA zone: ZoneInfo reads them, and "localtime"
    # made every coverage report of the agency a 500 (outside-in check).
    odd = ("localtime", "posixrules", "Factory", "posix/America/Denver", "right/America/Denver")
    for zone in ("Mars/Olympus", "", "../etc/passwd", "America/Denver ", *odd):
        result = _create_agency(database_url, "--name", "PD", "--timezone", zone)
        _one_clear_line(result, "--timezone", "timezone")
        assert result.returncode == 2


async def test_a_zone_the_database_does_not_know_makes_no_agency(database_url: str) -> None:
    """The second check, past the command line's: the reports read the zone in SQL. (Which
    odd names a server knows depends on its zone data: one built with the system's knows
    "localtime", so the test names one no server has.)"""
    with pytest.raises(AdminError, match="the database does not know the timezone 'Mars/Olym"):
        await create_agency(database_url, name="PD", timezone="Mars/Olympus", ori=None)
    engine = create_engine(database_url, pool_size=1)
    try:
        async with create_sessionmaker(engine)() as session:
            named = await session.execute(text("SELECT count(*) FROM agency WHERE name = 'PD'"))
            assert named.scalar() == 0
    finally:
        await engine.dispose()


def test_a_mistake_in_the_options_is_refused_before_the_database_layer_loads() -> None:
    # The database layer and the cipher take seconds to import; a typo is said at once.
    script = (
        "import sys\n"
        "from app.cli import main\n"
        "for argv in (['agency', 'create', '--name', 'PD', '--timezone', 'Mars/Olympus'],\n"
        "             ['agency', 'create', '--name', 'PD', '--timezone', 'UTC', '--ori', 'X'],\n"
        "             ['api-key', 'create', '--agency', '01900000-0000-7000-8000-000000000000',\n"
        "              '--role', 'unit']):\n"
        "    assert main(argv) == 2\n"
        "loaded = sorted(m for m in ('sqlalchemy', 'alembic', 'asyncpg', 'cryptography')\n"
        "                if m in sys.modules)\n"
        "print(loaded)\n"
    )
    env = {**os.environ, "CIT_DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none"}
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
    assert result.stderr.count("cit-dispatch: ") == 3, result.stderr


async def test_api_key_create_names_an_unknown_agency_in_one_line(database_url: str) -> None:
    missing = "01900000-0000-7000-8000-000000000000"
    result = _cli(database_url, "api-key", "create", "--agency", missing, "--role", "viewer")
    _one_clear_line(result, missing)
    assert result.returncode == 2


async def test_api_key_create_names_an_unknown_responder_in_one_line(
    database_url: str, admin: Api
) -> None:
    missing = "01900000-0000-7000-8000-000000000001"
    result = _cli(
        database_url,
        "api-key",
        "create",
        "--agency",
        str(admin.agency_id),
        "--role",
        "unit",
        "--responder-id",
        missing,
    )
    _one_clear_line(result, missing)


def test_argument_mistakes_are_usage_errors_without_a_traceback() -> None:
    for args in (
        ("api-key", "create", "--agency", "not-a-uuid", "--role", "viewer"),
        ("api-key", "create", "--agency", "01900000-0000-7000-8000-000000000000", "--role", "x"),
        ("agency", "create", "--timezone", "America/Denver"),
        ("serve", "--port", "http"),
    ):
        result = _cli("postgresql://nobody@127.0.0.1:9/none", *args)
        assert result.returncode == 2, args
        assert "Traceback" not in result.stderr
        assert result.stderr.splitlines()[-1].startswith("cit-dispatch "), result.stderr


def _refused_setting(name: str, value: str) -> None:
    """The CLI, given value for the setting, exits 2 naming it in one line."""
    result = _cli("postgresql://x@127.0.0.1:9/n", "migrate", env={name: value})
    line = _one_clear_line(result, name)
    assert result.returncode == 2, line


def test_a_bad_setting_is_named_in_one_line() -> None:
    _refused_setting("CIT_PORT", "eighty")


def test_a_misspelt_setting_is_warned_of_with_the_setting_it_may_mean() -> None:
    # CIT_DATABSE_URL was ignored without a word, and serve went to the embedded server.
    env = {"CIT_DATABSE_URL": "postgresql://db/cit", "CIT_KEY": "cit_demo.key", "CIT_NOPE": "1"}
    result = _cli("postgresql://x@127.0.0.1:9/n", "migrate", env=env)
    records = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    warned = [r["msg"] for r in records if r["level"] == "warning"]
    assert warned == [
        "CIT_DATABSE_URL is not a setting (did you mean CIT_DATABASE_URL?); it is ignored",
        "CIT_NOPE is not a setting; it is ignored",
    ]
    # The demo's CIT_KEY (README) is not a mistake; and the command ran as it would have.
    _one_clear_line(result, "127.0.0.1")


@pytest.mark.parametrize("value", ["not-an-ip", "10.0.0.5/8", "10.0.0.1,proxy.local"])
def test_a_proxy_allowance_that_is_not_addresses_is_named_in_one_line(value: str) -> None:
    # uvicorn took such an entry as a literal no connection ever matches: the proxy was not
    # trusted, every client had its address, and one client's failures locked out the rest.
    _refused_setting("CIT_FORWARDED_ALLOW_IPS", value)
    for fine in ("*", "10.0.0.0/8, ::1", "172.28.0.10", ""):
        assert Settings(forwarded_allow_ips=fine).forwarded_allow_ips == fine


@pytest.mark.parametrize("value", ["inf", "nan", "5,1e12", "5,,300", "-1", "5,", "soon"])
def test_a_retry_schedule_no_relay_could_keep_is_named_in_one_line(value: str) -> None:
    # inf, nan and 1e12 passed, and failed in the relay at a delivery's first retry; an
    # empty entry was skipped without a word.
    _refused_setting("CIT_WEBHOOK_RETRY_SCHEDULE", value)
    for fine in ("5,300,1800", "0.5", "", " 5 , 604800 "):
        assert Settings(webhook_retry_schedule=fine).webhook_retry_schedule == fine


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CIT_RATE_LIMIT_PER_MINUTE", "3000000000"),  # past int32: every request a 500
        ("CIT_MAX_BODY_BYTES", "-5"),  # every POST a 413
        ("CIT_AUTH_LOCKOUT_SECONDS", "999999999999"),  # past the timestamps: no lockout
        ("CIT_HEADER_TIMEOUT_SECONDS", "inf"),  # no header deadline at all
        ("CIT_IDEMPOTENCY_TTL_HOURS", "1e300"),
    ],
)
def test_a_number_the_service_cannot_hold_is_named_in_one_line(name: str, value: str) -> None:
    # Each started the service, which then failed or refused every request (an operator's
    # check).
    _refused_setting(name, value)


@pytest.mark.parametrize(
    "url",
    [
        # No database: libpq picks the one named after the user (`postgresql://` migrated
        # the database `root`). Unreachable here, should the check be missing.
        "postgresql://nobody@127.0.0.1:9",
        "postgresql://postgres@127.0.0.1:9/",
        "postgresql://postgres@127.0.0.1:9/db?sslmode=required",
        "postgresql://postgres@127.0.0.1:9/db?connect_timeout=soon",
        "postgresql://postgres@127.0.0.1:9/db?prepared_statement_cache_size=0",
        "postgresql://postgres@127.0.0.1:9/db?sslmode=require&sslmode=disable",
        "postgresql://postgres@127.0.0.1:9,127.0.0.2:9/db",  # a traceback (review)
    ],
)
def test_a_database_url_asyncpg_could_not_use_is_named_in_one_line(url: str) -> None:
    result = _cli(url, "migrate")
    line = _one_clear_line(result, "CIT_DATABASE_URL")
    assert result.returncode == 2, line


async def test_a_database_url_with_libpqs_parameters_serves(database_url: str) -> None:
    """`?sslmode=…&connect_timeout=…`, as any libpq client takes them (a managed server
    needs sslmode): each went to asyncpg.connect() as a keyword it does not know, and every
    command failed with a traceback, every request with a 500 (an operator's check)."""
    url = (
        make_url(database_url)
        .update_query_dict({"sslmode": "prefer", "connect_timeout": "7", "application_name": "x"})
        .render_as_string(hide_password=False)
    )
    made = _cli(url, "agency", "create", "--name", "Libpq PD", "--timezone", "UTC")
    assert made.returncode == 0, made.stderr
    assert await asyncio.to_thread(schema_revision, url) == head_revision()
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            name = (await conn.execute(text("SELECT current_setting('application_name')"))).scalar()
            assert name == "cit-dispatch"
    finally:
        await engine.dispose()


def test_a_password_with_a_comma_is_no_second_host(database_url: str) -> None:
    # It was refused as "names several hosts" (review). The test server trusts every
    # connection, so any password connects.
    parts = urlsplit(database_url)
    user = make_url(database_url).username
    url = parts._replace(netloc=f"{user}:pa,ss@{parts.netloc.rpartition('@')[2]}").geturl()
    assert "pa,ss@" in url, url
    migrated = _cli(url, "migrate")
    assert migrated.returncode == 0, migrated.stderr


def test_an_unreachable_database_is_one_line_without_the_url() -> None:
    result = _cli("postgresql://someone:hunter2@127.0.0.1:9/none", "migrate")
    _one_clear_line(result, "database")
    assert "hunter2" not in result.stderr


def test_dev_cli_runs_the_command_line() -> None:
    """`./dev cli …` is the CLI in .venv/bin, for those who have not activated the venv."""
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(  # noqa: S603
        [str(root / "dev"), "cli", "agency", "create", "--help"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "usage: cit-dispatch agency create" in result.stdout
    assert (
        "cli"
        in subprocess.run(  # noqa: S603
            [str(root / "dev"), "help"], capture_output=True, text=True, timeout=60, check=True
        ).stdout
    )


async def test_a_refusal_by_the_database_is_named_without_sql_or_values(
    database_url: str,
) -> None:
    await create_agency(database_url, name="First", timezone="America/Denver", ori="UT0180009")
    engine = create_engine(database_url, pool_size=1)
    try:
        with pytest.raises(IntegrityError) as raised:
            async with create_sessionmaker(engine)() as session, session.begin():
                await insert_agency(
                    session, name="Second", timezone="America/Denver", ori="UT0180009"
                )
    finally:
        await engine.dispose()
    line = database_failure(raised.value)
    assert line == "the database refused the command (UniqueViolationError, SQLSTATE 23505)"
    # What the line leaves out: the database's own detail names the value.
    assert "UT0180009" in str(getattr(raised.value.__cause__, "detail", ""))


def test_serve_refuses_a_bad_option_value_in_one_line() -> None:
    with pytest.raises(CliError, match=r"^--port: "):
        serve_settings(Settings(), build_parser().parse_args(["serve", "--port", "70000"]))
