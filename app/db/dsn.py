"""A PostgreSQL URL as libpq writes it, checked, and handed whole to asyncpg.

Operators write `CIT_DATABASE_URL` as any libpq client takes it: `?sslmode=require` for a
managed server, `connect_timeout`, `sslrootcert`. SQLAlchemy's asyncpg dialect passes each
query parameter to `asyncpg.connect()` as a keyword, which knows none of libpq's: one such
URL failed every command with a traceback, and `serve --no-migrate` answered 500 to every
request (an operator's check). The engines now give asyncpg the URL itself, as a DSN,
which its parser reads as libpq does; a parameter it would not read (it sends those to the
server as settings, which refuses them at every connection) is refused at start-up here,
in one line, as is a URL without a database: libpq would pick one after the user's name
(`postgresql://` migrated the database `root`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

if TYPE_CHECKING:
    import asyncpg

# Read with the standard library only: the settings check every URL as they load, and a
# command line's mistake is said before the database layer is imported (seconds).

# The query parameters asyncpg's DSN parser reads as libpq does (asyncpg/connect_utils.py).
_LIBPQ = frozenset(
    {
        "host",
        "port",
        "dbname",
        "user",
        "password",
        "passfile",
        "service",
        "sslmode",
        "sslcert",
        "sslkey",
        "sslrootcert",
        "sslcrl",
        "sslpassword",
        "sslnegotiation",
        "ssl_min_protocol_version",
        "ssl_max_protocol_version",
        "target_session_attrs",
        "krbsrvname",
        "gsslib",
    }
)
# Read here: libpq's connect timeout (asyncpg's is an argument), and asyncpg's own
# spelling of sslmode, which SQLAlchemy's dialect took (kept working).
_OURS = frozenset({"connect_timeout", "ssl", "application_name"})
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


def checked(url: str) -> str:
    """url, if asyncpg can connect with it as written; else a ValueError saying what is
    wrong with it, in one line."""
    try:
        parts = urlsplit(url)
        query = parse_qs(parts.query, keep_blank_values=True)  # as asyncpg reads it
    except ValueError:
        raise ValueError(
            "CIT_DATABASE_URL is not a URL (postgresql://user@host/database)"
        ) from None
    if "," in parts.netloc.rpartition("@")[2]:  # a password may hold a comma
        raise ValueError(
            "CIT_DATABASE_URL names several hosts: give them as ?host=h1,h2&port=p1,p2"
        )
    unknown = sorted(set(query) - _LIBPQ - _OURS)
    if unknown:
        raise ValueError(
            f"CIT_DATABASE_URL has a parameter this service does not take: {unknown[0]}"
            " (it takes libpq's sslmode, sslrootcert, sslcert, sslkey, connect_timeout,"
            " target_session_attrs, host, port and the like)"
        )
    twice = sorted(name for name, values in query.items() if len(values) > 1)
    if twice:
        raise ValueError(f"CIT_DATABASE_URL gives {twice[0]} more than once")
    given = {name: values[0] for name, values in query.items()}
    mode = given.get("sslmode", given.get("ssl"))
    if mode is not None and mode not in SSL_MODES:
        raise ValueError(f"CIT_DATABASE_URL's sslmode is one of {', '.join(SSL_MODES)}")
    if "connect_timeout" in given:
        _timeout(given["connect_timeout"])
    if not (unquote(parts.path.lstrip("/")) or given.get("dbname")):
        raise ValueError(
            "CIT_DATABASE_URL names no database (postgresql://user@host/database): libpq"
            " would pick one after the user's name"
        )
    return url


def _timeout(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not 0 < seconds <= 600:  # False for nan
        raise ValueError("CIT_DATABASE_URL's connect_timeout is seconds, above 0 and at most 600")
    return seconds


def connect_spec(url: str, *, timeout: float) -> tuple[str, dict[str, Any]]:
    """What SQLAlchemy's engine takes for url (checked): the dialect's URL, which names
    only the driver, and asyncpg's connect arguments, the URL as a DSN among them.
    connect_timeout, when the URL gives one, overrides timeout."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    query = dict(parsed.query)
    given = query.pop("connect_timeout", None)
    if "ssl" in query and "sslmode" not in query:
        query["sslmode"] = query["ssl"]
    query.pop("ssl", None)
    dsn = parsed.set(drivername="postgresql", query=query).render_as_string(hide_password=False)
    seconds = timeout if given is None else _timeout(str(given))
    return "postgresql+asyncpg://", {"dsn": dsn, "timeout": seconds}


def server_of(url: str) -> str:
    """Where url leads, for a log line: host, port and database, never a user or password
    (a host or port given as a query parameter, as for a Unix socket, too)."""
    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    host = query.get("host") or parts.hostname or "localhost"
    port = query.get("port") or (str(parts.port) if parts.port else "5432")
    database = query.get("dbname") or unquote(parts.path.lstrip("/"))
    return f"{host}:{port}/{database}"


async def server_version(url: str) -> str | None:
    """The server's version (server_version), or None if it cannot be asked now."""
    import asyncpg

    try:
        conn = await connect(url)
    except (asyncpg.PostgresError, OSError):
        return None
    try:
        version: str = await conn.fetchval("SHOW server_version")
        return version
    finally:
        await conn.close()


async def connect(url: str, *, within: float = 5.0) -> asyncpg.Connection:
    """One asyncpg connection to url, outside any pool (connect_spec's arguments), made
    within that many seconds (the URL's connect_timeout, if it gives one)."""
    import asyncpg

    _, args = connect_spec(url, timeout=within)
    return await asyncpg.connect(**args)
