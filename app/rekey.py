"""Re-encrypt every encrypted column value with the current (first) CIT_DATA_KEY key."""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from app.db.engine import create_engine
from app.encryption import DataCipher, UndecryptableValue
from app.repositories import encrypted as repo

_BATCH = 500


@dataclass
class RekeyResult:
    # Values moved to the current key (legacy plaintext included), by column.
    rekeyed: dict[str, int] = field(default_factory=dict)
    # "column id" of values that no key in CIT_DATA_KEY decrypts; they are left as they are.
    failed: list[str] = field(default_factory=list)


async def rekey(url: str, cipher: DataCipher, *, batch: int = _BATCH) -> RekeyResult:
    """Move every call note (and digest of an EIDO's notes) and webhook secret to the current
    key, one batch per transaction.

    Safe beside a running service that already has the new key list: each row is replaced
    only if it still holds the value that was read.
    """
    result = RekeyResult()
    engine = create_engine(url, pool_size=1)
    try:
        for column in repo.COLUMNS:
            done = 0
            after = UUID(int=0)
            while True:
                async with engine.begin() as conn:
                    rows = await repo.stale_values(
                        conn,
                        column,
                        current_prefix=cipher.current_prefix,
                        after=after,
                        limit=batch,
                    )
                    for row in rows:
                        try:
                            new = cipher.reencrypt(row.value, column=column, row_id=row.id)
                        except UndecryptableValue:
                            result.failed.append(f"{column} {row.id}")
                            continue
                        if await repo.replace_value(
                            conn, column, row_id=row.id, old=row.value, new=new
                        ):
                            done += 1
                if len(rows) < batch:
                    break
                after = rows[-1].id
            result.rekeyed[column] = done
    finally:
        await engine.dispose()
    return result
