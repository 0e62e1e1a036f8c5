"""A co-responder's language specialty is kept in its tag's canonical case

A language specialty is "language:" and a BCP 47 tag, whose case carries no meaning, but it
was kept as written: "language:ES" and "language:es" were two skills, counted apart in the
program report's by_specialty. The API now keeps each tag in its canonical case (RFC 5646,
section 2.1.1; app/vocabulary.py, specialty); this migration rewrites the co-responders
written before, merging a specialty written twice in two cases, and keeps each list sorted,
as the API does.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-03 18:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A specialty in its one stored form, as app/vocabulary.py's specialty gives it (restated
# here, so that this migration does the same whatever that becomes): a language tag's
# subtags in lower case, but a two-letter one upper-cased and a four-letter one in title
# case, neither at the start nor after a singleton (one letter: an extension, or x-).
_CANONICAL = """
CREATE FUNCTION pg_temp.canonical_specialty(specialty text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN specialty NOT LIKE 'language:%' THEN specialty ELSE
    'language:' || (
      SELECT string_agg(
               CASE WHEN n = 1 OR free THEN lower(subtag)
                    WHEN length(subtag) = 2 THEN upper(subtag)
                    WHEN length(subtag) = 4 THEN upper(left(subtag, 1)) || lower(substr(subtag, 2))
                    ELSE lower(subtag) END,
               '-' ORDER BY n)
      FROM (SELECT subtag, n, bool_or(length(subtag) = 1) OVER (ORDER BY n) AS free
            FROM unnest(string_to_array(substr(specialty, length('language:') + 1), '-'))
                 WITH ORDINALITY AS parts(subtag, n)) AS tagged)
  END
$$
"""

# Each list as the API keeps it: each specialty once, sorted by code point.
_REWRITE = """
UPDATE co_responder c SET specialties = ARRAY(
  SELECT DISTINCT pg_temp.canonical_specialty(s) COLLATE "C" AS s FROM unnest(c.specialties) AS s
  ORDER BY s)
WHERE EXISTS (SELECT FROM unnest(c.specialties) AS s WHERE s <> pg_temp.canonical_specialty(s))
"""


def upgrade() -> None:
    op.execute(_CANONICAL)
    op.execute(_REWRITE)
    op.execute("DROP FUNCTION pg_temp.canonical_specialty(text)")


def downgrade() -> None:
    # The tags stay in their canonical case: it is as good a way to write them as any.
    pass
