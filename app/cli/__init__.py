"""The `cit-dispatch` command line."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from uuid import UUID

from pydantic import ValidationError

from app.cli.common import CliError, database_failure, database_url, is_database_failure, migrate
from app.cli.operations import (
    agency_create,
    agency_list,
    api_key_create,
    eido_subscribe,
    re_encrypt,
)
from app.cli.serving import serve, worker
from app.logs import configure_logging
from app.settings import get_settings, unknown_settings
from app.vocabulary import ROLES

# The database layer (SQLAlchemy, Alembic) and the cipher are imported by the commands that
# use them: a mistake in a command's options is refused in a fraction of a second, not
# after the 1.4 s those imports took.

log = logging.getLogger("cit_dispatch.cli")


def build_parser() -> argparse.ArgumentParser:
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
    agency.add_parser("list", help="every agency: its id, name, timezone and ORI")

    api_key = commands.add_parser("api-key", help="manage API keys").add_subparsers(
        dest="action", required=True
    )
    create_key = api_key.add_parser("create", help="create an API key")
    create_key.add_argument("--agency", required=True, type=UUID, help="agency id")
    create_key.add_argument("--role", required=True, choices=ROLES)
    create_key.add_argument("--responder-id", type=UUID, default=None, help="for the unit role")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a user's mistake is one line on stderr and exit status 2."""
    args = build_parser().parse_args(argv)
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
    for line in unknown_settings(os.environ):
        log.warning(line)
    try:
        if args.command == "serve":
            return serve(settings, args)
        if args.command == "migrate":
            migrate(settings, database_url(settings))
            log.info("migrations applied")
            return 0
        if args.command == "worker":
            return worker(settings)
        if args.command == "rekey":
            return re_encrypt(settings)
        if args.command == "eido-subscribe":
            return eido_subscribe(settings, args)
        if args.command == "agency":
            return (
                agency_create(settings, args) if args.action == "create" else agency_list(settings)
            )
        return api_key_create(settings, args)
    except CliError as exc:
        print(f"cit-dispatch: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        if not is_database_failure(exc):
            raise
        # Never the statement or its parameters (SQLAlchemy's message carries both).
        print(f"cit-dispatch: {database_failure(exc)}", file=sys.stderr)
        return 1
