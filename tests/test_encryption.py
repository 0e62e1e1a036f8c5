"""The data cipher and its key handling, without a database."""

from __future__ import annotations

import base64
import os
import stat
import subprocess
import sys
from pathlib import Path
from uuid import uuid4

import pytest
from pydantic import SecretStr

from app.encryption import (
    CALL_NOTES,
    SUBSCRIPTION_SECRET,
    DataCipher,
    DataKeyError,
    UndecryptableValue,
    generate_key,
    load_cipher,
)
from app.settings import Settings


def _cipher(*keys: str) -> DataCipher:
    return DataCipher.from_setting(",".join(keys))


def test_value_round_trips_and_is_stored_as_self_describing_ciphertext() -> None:
    cipher, row = _cipher(generate_key()), uuid4()
    stored = cipher.encrypt("says she has a knife", column=CALL_NOTES, row_id=row)
    assert stored.startswith(f"enc:v1:{cipher.current_key_id}:")
    assert "knife" not in stored
    assert cipher.decrypt(stored, column=CALL_NOTES, row_id=row) == "says she has a knife"
    # A fresh nonce each time: equal notes do not give equal ciphertexts.
    assert cipher.encrypt("says she has a knife", column=CALL_NOTES, row_id=row) != stored


def test_ciphertext_moved_to_another_row_or_column_does_not_decrypt() -> None:
    cipher, row = _cipher(generate_key()), uuid4()
    stored = cipher.encrypt("note", column=CALL_NOTES, row_id=row)
    with pytest.raises(UndecryptableValue, match="altered or belongs to another row"):
        cipher.decrypt(stored, column=CALL_NOTES, row_id=uuid4())
    with pytest.raises(UndecryptableValue):
        cipher.decrypt(stored, column=SUBSCRIPTION_SECRET, row_id=row)


@pytest.mark.parametrize("position", [20, -5, -1])
def test_tampered_ciphertext_is_a_clear_error_not_garbage(position: int) -> None:
    cipher, row = _cipher(generate_key()), uuid4()
    stored = cipher.encrypt("a" * 40, column=CALL_NOTES, row_id=row)
    at = position % len(stored)
    flipped = "B" if stored[at] != "B" else "C"
    tampered = stored[:at] + flipped + stored[at + 1 :]
    with pytest.raises(UndecryptableValue, match=f"call.notes of {row}"):
        cipher.decrypt(tampered, column=CALL_NOTES, row_id=row)


def test_truncated_or_malformed_ciphertext_is_a_clear_error() -> None:
    cipher, row = _cipher(generate_key()), uuid4()
    for bad in ("enc:v1:", f"enc:v1:{cipher.current_key_id}:", "enc:v9:abcd:AAAA"):
        with pytest.raises(UndecryptableValue):
            cipher.decrypt(bad, column=CALL_NOTES, row_id=row)


def test_legacy_plaintext_reads_as_it_is() -> None:
    cipher, row = _cipher(generate_key()), uuid4()
    assert cipher.decrypt("written before encryption", column=CALL_NOTES, row_id=row) == (
        "written before encryption"
    )


def test_rotation_old_values_stay_readable_and_rekey_moves_them_to_the_new_key() -> None:
    old, new, row = generate_key(), generate_key(), uuid4()
    stored = _cipher(old).encrypt("note", column=CALL_NOTES, row_id=row)
    rotated = _cipher(new, old)
    assert rotated.current_key_id != _cipher(old).current_key_id
    assert rotated.decrypt(stored, column=CALL_NOTES, row_id=row) == "note"
    moved = rotated.reencrypt(stored, column=CALL_NOTES, row_id=row)
    assert moved.startswith(rotated.current_prefix)
    assert _cipher(new).decrypt(moved, column=CALL_NOTES, row_id=row) == "note"
    with pytest.raises(UndecryptableValue, match="not in CIT_DATA_KEY"):
        _cipher(new).decrypt(stored, column=CALL_NOTES, row_id=row)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("not base64 at all!", "not urlsafe base64"),
        (base64.urlsafe_b64encode(os.urandom(16)).decode(), "16 bytes, not 32"),
        (" , ", "empty"),
    ],
    ids=["not-base64", "short", "empty"],  # the same on every test worker
)
def test_malformed_key_names_cit_data_key_but_never_the_key(value: str, problem: str) -> None:
    with pytest.raises(DataKeyError, match="CIT_DATA_KEY") as caught:
        load_cipher(Settings(data_key=SecretStr(value), database_url="postgresql://x/y"))
    assert problem in str(caught.value)
    if value.strip(" ,"):
        assert value not in str(caught.value)


def test_second_malformed_key_is_named_by_position() -> None:
    with pytest.raises(DataKeyError, match="key 2"):
        _cipher(generate_key(), "AAAA")


def test_settings_never_show_the_key() -> None:
    key = generate_key()
    settings = Settings(data_key=SecretStr(key))
    assert key not in repr(settings)
    assert key not in str(settings.model_dump())


def test_missing_key_with_an_external_database_is_a_start_up_error(tmp_path: Path) -> None:
    settings = Settings(database_url="postgresql://db.example/cit", data_dir=tmp_path)
    with pytest.raises(DataKeyError, match="CIT_DATA_KEY is required"):
        load_cipher(settings)
    assert not (tmp_path / "data.key").exists()


def test_embedded_mode_generates_a_private_key_file_once_and_reuses_it(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    first = load_cipher(settings)
    key_file = tmp_path / "data" / "data.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    row = uuid4()
    stored = first.encrypt("note", column=CALL_NOTES, row_id=row)
    again = load_cipher(settings)
    assert again.current_key_id == first.current_key_id
    assert again.decrypt(stored, column=CALL_NOTES, row_id=row) == "note"
    assert [p.name for p in key_file.parent.iterdir()] == ["data.key"]


def test_configured_key_wins_over_the_embedded_key_file(tmp_path: Path) -> None:
    key = generate_key()
    cipher = load_cipher(Settings(data_dir=tmp_path, data_key=SecretStr(key)))
    assert cipher.current_key_id == _cipher(key).current_key_id
    assert not (tmp_path / "data.key").exists()


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CIT_")}
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "app.cli", *args],
        capture_output=True,
        text=True,
        env={**clean, **env},
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("command", ["serve", "worker", "rekey"])
def test_commands_that_need_the_key_refuse_to_start_without_it(command: str) -> None:
    # Nothing listens there: the command must stop at the key, before any connection.
    done = _cli(command, CIT_DATABASE_URL="postgresql://postgres@127.0.0.1:9/none")
    assert done.returncode == 2
    assert "CIT_DATA_KEY is required" in done.stderr


def test_a_malformed_key_stops_serve_without_printing_the_key() -> None:
    bad = base64.urlsafe_b64encode(b"too short, but secret").decode()
    done = _cli(
        "serve", CIT_DATABASE_URL="postgresql://postgres@127.0.0.1:9/none", CIT_DATA_KEY=bad
    )
    assert done.returncode == 2
    assert "CIT_DATA_KEY" in done.stderr
    assert bad not in done.stderr + done.stdout


def test_unwritable_data_dir_without_a_key_is_a_clear_start_up_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    with pytest.raises(DataKeyError, match=r"data\.key cannot be read or created"):
        load_cipher(Settings(data_dir=blocker))
