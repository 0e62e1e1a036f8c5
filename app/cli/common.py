"""What the commands share: the user's mistakes (CliError), the database they run on
(migrated first), the cipher, and a database failure said in one line."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from app.settings import Settings

if TYPE_CHECKING:
    from app.encryption import DataCipher


def database(settings: Settings) -> str:
    url = database_url(settings)
    migrate(settings, url)
    return url


def database_url(settings: Settings) -> str:
    from app.db.engine import resolve_database_url

    return resolve_database_url(settings)


def migrate(settings: Settings, url: str) -> None:
    from alembic.util import CommandError

    from app.db.migrate import AppPasswordRefused, set_app_password, upgrade

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
        try:
            set_app_password(url, settings.database_app_password.get_secret_value())
        except AppPasswordRefused as exc:
            raise CliError(str(exc)) from None


class CliError(Exception):
    """A mistake in what the user asked for: reported in one line, without a traceback."""


def is_database_failure(exc: Exception) -> bool:
    if isinstance(exc, OSError):
        return True
    # Loaded only if a command reached the database layer: SQLAlchemy's, or asyncpg's own
    # from a check made without it (serve --no-migrate's look at the schema's revision).
    errors = sys.modules.get("sqlalchemy.exc")
    if errors is not None and isinstance(exc, errors.SQLAlchemyError):
        return True
    driver = sys.modules.get("asyncpg")
    return driver is not None and isinstance(exc, driver.PostgresError | driver.InterfaceError)


def database_failure(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc
    if isinstance(cause, OSError):
        return f"cannot reach the database ({cause.strerror or type(cause).__name__})"
    # The error's kind and code only: its message and detail may quote the values sent.
    driver_error = cause.__cause__ or cause
    code = getattr(cause, "sqlstate", None)
    said = f"the database refused the command ({type(driver_error).__name__}" + (
        f", SQLSTATE {code})" if code else ")"
    )
    hint = _HINTS.get(str(code))
    return said if hint is None else f"{said}: {hint}"


# What an operator does about the refusals a deployment meets first; none quotes a value.
_HINTS = {
    "42501": "the user in CIT_DATABASE_URL lacks a privilege. It must own the database (or"
    " its public schema), and have CREATEROLE unless the role cit_app exists already"
    ' (README, "Agency isolation, in the database")',
    "3D000": "no database by the name in CIT_DATABASE_URL on that server",
    "28000": "the server refuses the user in CIT_DATABASE_URL (no such role, or pg_hba.conf"
    " does not let it connect from here)",
    "28P01": "the password in CIT_DATABASE_URL is not the user's",
}


def data_cipher(settings: Settings) -> DataCipher:
    """The data cipher, checked before anything starts (serve, worker and rekey need it)."""
    from app.encryption import DataKeyError, load_cipher

    try:
        return load_cipher(settings)
    except DataKeyError as exc:
        raise CliError(str(exc)) from None
