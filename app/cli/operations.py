"""The one-off commands: agencies and their API keys, re-encryption, the EIDO subscriber."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
import sys
from zoneinfo import available_timezones

from app.cli.common import CliError, data_cipher, database
from app.settings import Settings
from app.vocabulary import CONTROLS, NAME_MAX, SEEN


def eido_subscribe(settings: Settings, args: argparse.Namespace) -> int:
    from app.eido_subscribe import UnknownAgency, run_subscriber
    from app.subscriber import valid_url

    if not valid_url(args.url):
        raise CliError(f"--url: {args.url!r} is not a WebSocket URL (ws:// or wss://)")
    if not 10 <= args.expires <= 86_400:
        raise CliError("--expires: give 10 to 86400 seconds")
    cipher = data_cipher(settings)
    url = database(settings)

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


def re_encrypt(settings: Settings) -> int:
    from app.rekey import rekey

    cipher = data_cipher(settings)
    result = asyncio.run(rekey(database(settings), cipher))
    print(json.dumps({"key_id": cipher.current_key_id, "rekeyed": result.rekeyed}))
    if result.failed:
        # Ids only: never a value. Such rows need the key that wrote them back in CIT_DATA_KEY.
        for failure in result.failed:
            print(f"cit-dispatch: cannot decrypt {failure}", file=sys.stderr)
        return 1
    return 0


_CONTROL = re.compile(f"[{CONTROLS}]")
_SEEN = re.compile(SEEN)

# An NCIC Originating Agency Identifier: the state's two letters, then seven characters.
_ORI = re.compile(r"[A-Z]{2}[A-Z0-9]{7}")


# Files on the zone path that are no IANA zone name: the host's own zone, a rules template,
# and a placeholder. ZoneInfo reads them, PostgreSQL does not know all of them, and the
# reports read the agency's zone in SQL (a 500 for "localtime").
_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})


def iana_zone(name: str) -> bool:
    """Whether name is an IANA time zone (as tzdata names them: not posix/… or right/…)."""
    return name not in _NOT_ZONES and name in available_timezones()


def agency_create(settings: Settings, args: argparse.Namespace) -> int:
    name = args.name.strip()
    if not name:
        raise CliError("--name: an agency needs a name")
    if len(name) > NAME_MAX or _CONTROL.search(name) or not _SEEN.search(name):
        # As every name the API takes: one line, something to see, at most 200 characters.
        # The name is shown on reports and sent in EIDO documents' contact cards.
        raise CliError(
            f"--name: give the agency's name on one line, with something to see and at most"
            f" {NAME_MAX} characters (no tabs, line breaks or other control characters)"
        )
    if not iana_zone(args.timezone):
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
            create_agency(database(settings), name=name, timezone=args.timezone, ori=ori)
        )
    except AdminError as exc:
        raise CliError(str(exc)) from None
    print(json.dumps({"agency_id": str(agency_id), "api_key": key}))
    return 0


def agency_list(settings: Settings) -> int:
    """One JSON line an agency, oldest first: what `agency create` printed but the key."""
    from app.admin import list_agencies

    for agency in asyncio.run(list_agencies(database(settings))):
        print(json.dumps(agency))
    return 0


def api_key_create(settings: Settings, args: argparse.Namespace) -> int:
    if (args.role == "unit") != (args.responder_id is not None):
        raise CliError("--responder-id is required for the unit role, and only for it")
    from app.admin import AdminError, create_key

    try:
        key = asyncio.run(
            create_key(
                database(settings),
                agency_id=args.agency,
                role=args.role,
                responder_id=args.responder_id,
            )
        )
    except AdminError as exc:
        raise CliError(str(exc)) from None
    print(json.dumps({"api_key": key, "role": args.role}))
    return 0
