from __future__ import annotations

from itertools import pairwise

from app.ids import new_id


def test_ids_are_version_7_and_strictly_increasing_even_within_a_millisecond() -> None:
    ids = [new_id() for _ in range(20_000)]
    assert all(i.version == 7 for i in ids)
    assert all(a < b for a, b in pairwise(ids))
    assert len(set(ids)) == len(ids)
