"""The `cit-dispatch` command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import re
import signal
import socket
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING
from uuid import UUID
from zoneinfo import available_timezones

from pydantic import ValidationError

from app.logs import configure_logging
from app.settings import Settings, get_settings
from app.vocabulary import ROLES

if TYPE_CHECKING:
    from app import metrics
    from app.encryption import DataCipher

# The database layer (SQLAlchemy, Alembic) and the cipher are imported by the commands that
# use them: a mistake in a command's options is refused in a fraction of a second, not
# after the 1.4 s those imports took.

log = logging.getLogger("cit_dispatch.cli")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cit-dispatch", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--host", default=None, help="bind address (CIT_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (CIT_PORT, default 8000)")
    serve.add_argument("--demo", action="store_true", help="seed a demo agency and print its key")
    serve.add_argument("--no-migrate", action="store_true", help="do not apply migrations")
    serve.add_argument(
        "--proxy-headers",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="take the client address from X-Forwarded-For, and the scheme from"
        " X-Forwarded-Proto, when the peer is a trusted proxy (CIT_PROXY_HEADERS, default on)",
    )
    serve.add_argument(
        "--forwarded-allow-ips",
        default=None,
        metavar="IPS",
        help="comma-separated addresses or networks of the trusted proxies, or '*'"
        " (CIT_FORWARDED_ALLOW_IPS, default 127.0.0.1,::1)",
    )

    commands.add_parser("migrate", help="apply database migrations")
    commands.add_parser(
        "worker", help="run only the webhook relay (scale-out; set CIT_RUN_RELAY=false on serve)"
    )
    commands.add_parser(
        "rekey",
        help="re-encrypt call notes and webhook secrets with the first CIT_DATA_KEY key",
    )

    subscribe = commands.add_parser(
        "eido-subscribe",
        help="import incidents from a PSAP's or CAD's EIDO notifier (NENA-STA-024)",
    )
    subscribe.add_argument("--agency", required=True, type=UUID, help="agency id")
    subscribe.add_argument("--url", required=True, help="the notifier's WebSocket URL (wss://…)")
    subscribe.add_argument(
        "--expires",
        type=int,
        default=3600,
        help="seconds a subscription lasts; it is renewed at two thirds (default 3600)",
    )

    agency = commands.add_parser("agency", help="manage agencies").add_subparsers(
        dest="action", required=True
    )
    create_agency = agency.add_parser("create", help="create an agency and its first admin key")
    create_agency.add_argument("--name", required=True)
    create_agency.add_argument("--timezone", required=True, help="IANA zone, e.g. America/Denver")
    create_agency.add_argument("--ori", default=None, help="the agency's 9-character ORI")

    api_key = commands.add_parser("api-key", help="manage API keys").add_subparsers(
        dest="action", required=True
    )
    create_key = api_key.add_parser("create", help="create an API key")
    create_key.add_argument("--agency", required=True, type=UUID, help="agency id")
    create_key.add_argument("--role", required=True, choices=ROLES)
    create_key.add_argument("--responder-id", type=UUID, default=None, help="for the unit role")
    return parser


def _database(settings: Settings) -> str:
    url = _database_url(settings)
    _migrate(settings, url)
    return url


def _database_url(settings: Settings) -> str:
    from app.db.engine import resolve_database_url

    return resolve_database_url(settings)


def _migrate(settings: Settings, url: str) -> None:
    from alembic.util import CommandError

    from app.db.migrate import set_app_password, upgrade

    try:
        upgrade(url)
    except CommandError as exc:
        # A migration that stopped for the operator to resolve data first (it changed
        # nothing), or a database newer than this release: the message says which.
        said = str(exc)
        if said.startswith("Can't locate revision"):
            said += " (a newer release of cit-dispatch upgraded this database)"
        raise CliError(f"the database was not upgraded: {said}") from None
    if settings.database_app_password is not None:
        set_app_password(url, settings.database_app_password.get_secret_value())


def _refuse_a_schema_not_at_head(url: str) -> None:
    """serve --no-migrate on a database this release's migrations did not bring to their
    end: refused at once, or /readyz said ready and every request was a 500."""
    from app.db.migrate import head_revision, knows_revision, schema_revision

    found, head = schema_revision(url), head_revision()
    if found == head:
        return
    if found is None:
        raise CliError(
            "the database has not been migrated: run `cit-dispatch migrate` first, or serve"
            " without --no-migrate"
        )
    if not knows_revision(found):
        raise CliError(
            f"the database's schema is at revision {found}, which this release does not know:"
            " a newer release of cit-dispatch upgraded it; run that release"
        )
    raise CliError(
        f"the database's schema is at revision {found}, this release's at {head}: run"
        " `cit-dispatch migrate` first, or serve without --no-migrate"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a user's mistake is one line on stderr and exit status 2."""
    args = _parser().parse_args(argv)
    try:
        settings = get_settings()
    except ValidationError as exc:
        for error in exc.errors():
            # A rule across settings (loc ()) names its settings in its message.
            name = "CIT_" + "_".join(str(part) for part in error["loc"]).upper()
            where = f"{name}: " if error["loc"] else ""
            print(f"cit-dispatch: {where}{error['msg']}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    try:
        if args.command == "serve":
            return _serve(settings, args)
        if args.command == "migrate":
            _migrate(settings, _database_url(settings))
            log.info("migrations applied")
            return 0
        if args.command == "worker":
            return _worker(settings)
        if args.command == "rekey":
            return _rekey(settings)
        if args.command == "eido-subscribe":
            return _eido_subscribe(settings, args)
        if args.command == "agency":
            return _create_agency(settings, args)
        return _create_key(settings, args)
    except CliError as exc:
        print(f"cit-dispatch: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        if not _is_database_failure(exc):
            raise
        # Never the statement or its parameters (SQLAlchemy's message carries both).
        print(f"cit-dispatch: {_database_failure(exc)}", file=sys.stderr)
        return 1


class CliError(Exception):
    """A mistake in what the user asked for: reported in one line, without a traceback."""


def _is_database_failure(exc: Exception) -> bool:
    if isinstance(exc, OSError):
        return True
    # Loaded only if a command reached the database layer: SQLAlchemy's, or asyncpg's own
    # from a check made without it (serve --no-migrate's look at the schema's revision).
    errors = sys.modules.get("sqlalchemy.exc")
    if errors is not None and isinstance(exc, errors.SQLAlchemyError):
        return True
    driver = sys.modules.get("asyncpg")
    return driver is not None and isinstance(exc, driver.PostgresError | driver.InterfaceError)


def _database_failure(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc
    if isinstance(cause, OSError):
        return f"cannot reach the database ({cause.strerror or type(cause).__name__})"
    # The error's kind and code only: its message and detail may quote the values sent.
    driver_error = cause.__cause__ or cause
    code = getattr(cause, "sqlstate", None)
    return f"the database refused the command ({type(driver_error).__name__}" + (
        f", SQLSTATE {code})" if code else ")"
    )


def _cipher(settings: Settings) -> DataCipher:
    """The data cipher, checked before anything starts (serve, worker and rekey need it)."""
    from app.encryption import DataKeyError, load_cipher

    try:
        return load_cipher(settings)
    except DataKeyError as exc:
        raise CliError(str(exc)) from None


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from app.api.app import create_app
    from app.api.server import Server, uvicorn_config

    settings = _serve_settings(settings, args)
    cipher = _cipher(settings)
    listener = _metrics_listener(settings)
    host = settings.host
    sock = _api_socket(host, settings.port)
    port = sock.getsockname()[1]  # the one given, or the one taken for 0
    url = _database_url(settings)
    if args.no_migrate:
        _refuse_a_schema_not_at_head(url)
    else:
        _migrate(settings, url)
    if args.demo:
        from app.demo import seed_demo

        asyncio.run(seed_demo(url, base_url=f"http://{_display_host(host)}:{port}"))
    # The relay (CIT_RUN_RELAY) in a child process: on a thread it would wait for the GIL
    # behind a busy API (app/webhooks/process.py).
    app = create_app(settings, url, cipher=cipher, relay_process=True, metrics_listener=listener)
    # uvicorn catches SIGTERM for its graceful shutdown, then raises it again once done,
    # to the handler it found: this one, so a finished shutdown exits 0, not by the signal.
    signal.signal(signal.SIGTERM, _stopped)
    Server(uvicorn_config(app, settings, host, port)).run(sockets=[sock])
    return 0


def _api_socket(host: str, port: int) -> socket.socket:
    """The API's socket, bound before anything else runs (as uvicorn would bind it): a port
    already taken is said at once, in one line, not after migrating and in uvicorn's log."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise CliError(
            f"CIT_PORT: cannot listen on {host}:{port} ({exc.strerror or exc})"
        ) from None
    return sock


def _metrics_listener(settings: Settings) -> metrics.Listener | None:
    """The CIT_METRICS_PORT listener, taken before anything else runs: a port already
    taken is said at once, in one line."""
    from app import metrics

    if settings.metrics_port is None:
        return None
    try:
        return metrics.listen(settings.metrics_host, settings.metrics_port)
    except metrics.ListenerError as exc:
        raise CliError(str(exc)) from None


def _stopped(signal_number: int, frame: object) -> None:
    log.info("stopped", extra={"signal": signal.Signals(signal_number).name})


def _serve_settings(settings: Settings, args: argparse.Namespace) -> Settings:
    """The settings with serve's options applied over the environment's."""
    options = {
        "host": args.host,
        "port": args.port,
        "proxy_headers": args.proxy_headers,
        "forwarded_allow_ips": args.forwarded_allow_ips,
    }
    given = {name: value for name, value in options.items() if value is not None}
    try:
        return Settings.model_validate({**settings.model_dump(), **given})
    except ValidationError as exc:
        error = exc.errors()[0]
        if not error["loc"]:  # a rule across settings: its message names them
            raise CliError(error["msg"]) from None
        option = "--" + "-".join(str(part) for part in error["loc"]).replace("_", "-")
        raise CliError(f"{option}: {error['msg']}") from None


def _worker(settings: Settings) -> int:
    from app.tracing import start_tracing
    from app.webhooks.process import run_loop, run_relay

    cipher = _cipher(settings)
    # On the host of a `serve`, the worker needs another CIT_METRICS_PORT.
    listener = _metrics_listener(settings)
    start_tracing()  # webhook sends, when OTEL_EXPORTER_OTLP_ENDPOINT is set

    try:
        url = _database(settings)
        log.info("webhook worker started")
        with contextlib.suppress(KeyboardInterrupt):
            # A graceful stop on SIGTERM or SIGINT: no new claims, unsent claims given back,
            # sends in flight get CIT_SHUTDOWN_GRACE_SECONDS (Relay.stop).
            run_loop(run_relay(url, settings, cipher))
        log.info("webhook worker stopped")
    finally:
        if listener is not None:
            listener.close()
    return 0


def _eido_subscribe(settings: Settings, args: argparse.Namespace) -> int:
    from app.eido_subscribe import UnknownAgency, run_subscriber
    from app.subscriber import valid_url

    if not valid_url(args.url):
        raise CliError(f"--url: {args.url!r} is not a WebSocket URL (ws:// or wss://)")
    if not 10 <= args.expires <= 86_400:
        raise CliError("--expires: give 10 to 86400 seconds")
    cipher = _cipher(settings)
    url = _database(settings)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signal_number, stop.set)
        await run_subscriber(
            url,
            settings,
            cipher,
            agency_id=args.agency,
            url=args.url,
            expires=args.expires,
            stop=stop,
        )

    try:
        asyncio.run(run())
    except UnknownAgency as exc:
        raise CliError(str(exc)) from None
    return 0


def _rekey(settings: Settings) -> int:
    from app.rekey import rekey

    cipher = _cipher(settings)
    result = asyncio.run(rekey(_database(settings), cipher))
    print(json.dumps({"key_id": cipher.current_key_id, "rekeyed": result.rekeyed}))
    if result.failed:
        # Ids only: never a value. Such rows need the key that wrote them back in CIT_DATA_KEY.
        for failure in result.failed:
            print(f"cit-dispatch: cannot decrypt {failure}", file=sys.stderr)
        return 1
    return 0


def _display_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::") else host


# An NCIC Originating Agency Identifier: the state's two letters, then seven characters.
_ORI = re.compile(r"[A-Z]{2}[A-Z0-9]{7}")


# Files on the zone path that are no IANA zone name: the host's own zone, a rules template,
# and a placeholder. ZoneInfo reads them, PostgreSQL does not know all of them, and the
# reports read the agency's zone in SQL (a 500 for "localtime").
_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})


def _iana_zone(name: str) -> bool:
    """Whether name is an IANA time zone (as tzdata names them: not posix/… or right/…)."""
    return name not in _NOT_ZONES and name in available_timezones()


def _create_agency(settings: Settings, args: argparse.Namespace) -> int:
    name = args.name.strip()
    if not name:
        raise CliError("--name: an agency needs a name")
    if not _iana_zone(args.timezone):
        raise CliError(f"--timezone: unknown IANA timezone {args.timezone!r}")
    ori = None if args.ori is None else args.ori.strip().upper()
    if ori is not None and not _ORI.fullmatch(ori):
        raise CliError(
            f"--ori: {args.ori!r} is not an ORI (9 characters: a 2-letter state code,"
            " then 7 letters or digits, e.g. UT0180000)"
        )
    from app.admin import AdminError, create_agency

    try:
        agency_id, key = asyncio.run(
            create_agency(_database(settings), name=name, timezone=args.timezone, ori=ori)
        )
    except AdminError as exc:
        raise CliError(str(exc)) from None
    print(json.dumps({"agency_id": str(agency_id), "api_key": key}))
    return 0


def _create_key(settings: Settings, args: argparse.Namespace) -> int:
    if (args.role == "unit") != (args.responder_id is not None):
        raise CliError("--responder-id is required for the unit role, and only for it")
    from app.admin import AdminError, create_key

    try:
        key = asyncio.run(
            create_key(
                _database(settings),
                agency_id=args.agency,
                role=args.role,
                responder_id=args.responder_id,
            )
        )
    except AdminError as exc:
        raise CliError(str(exc)) from None
    print(json.dumps({"api_key": key, "role": args.role}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
