"""Schemathesis hooks for `./dev fuzz`: let path parameters sometimes name seeded objects.

Random UUIDs and codes almost always miss, so without this every `/{id}` operation would
only ever be tested on its 404 path.
"""

from __future__ import annotations

import json
import os
import re
import zlib
from functools import cache
from typing import Any
from uuid import UUID

import schemathesis

_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")


@cache
def _seeded() -> dict[str, list[str]]:
    with open(os.environ["CIT_FUZZ_IDS"]) as ids_file:
        ids: dict[str, list[str]] = json.load(ids_file)
    return ids


def _valid(name: str, value: Any) -> bool:
    if not isinstance(value, str):
        return False
    if name == "code":
        return bool(_CODE.match(value))
    try:
        UUID(value)
    except ValueError:
        return False
    return True


@schemathesis.hook
def map_path_parameters(
    context: schemathesis.HookContext, path_parameters: dict[str, Any] | None
) -> dict[str, Any] | None:
    """Swap a valid generated id for a seeded one, deterministically, half of the time.

    Only values that are already valid are swapped, so a negative case stays negative.
    """
    if not path_parameters:
        return path_parameters
    mapped = dict(path_parameters)
    for name, value in path_parameters.items():
        choices = _seeded().get(name)
        if not choices or not _valid(name, value):
            continue
        digest = zlib.crc32(f"{name}={value}".encode())
        if digest % 2 == 0:
            mapped[name] = choices[(digest // 2) % len(choices)]
    return mapped
