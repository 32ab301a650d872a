"""Feedback's reads: what customers said about a product or a service, rated 1 to 5, per product group.

Feedback is an ask whose outcome is 'feedback' (schemas.records.FEEDBACK) with a `rating`;
its product group is its demand group (asks.demand_key, schemas/demand.py), as for any ask.
The roll-ups leave feedback out (it is no ask), so these read the asks themselves, within
a period along the partial index asks_feedback (created_at, feedback only): every filter
names the outcome as the index does. Voided feedback counts nowhere. The ranking and how
it is shown live in feedback_report.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from schemas.records import FEEDBACK
from sync.hq.database import Database
from sync.hq.queries import scope_sql

RATINGS = (1, 2, 3, 4, 5)
COMPLAINT = (1, 2)  # what let them down
PRAISE = (4, 5)  # what customers loved
WORDINGS_FROM = 2000  # a group's label is its commonest wording among this many of its newest records in the period
_KEYS_PER_READ = 500  # under SQLite's bound parameters per statement
# The partial index's own predicate, written out so both databases use the index.
_FEEDBACK = f"outcome = '{FEEDBACK}' AND voided = 0 AND created_at >= ? AND created_at < ?"


@dataclass(frozen=True)
class GroupFeedback:
    """One product group's feedback in a period: how many at each rating, from how many stores."""

    key: str
    ratings: tuple[int, int, int, int, int]  # feedback rated 1, 2, 3, 4 and 5
    stores: int

    @property
    def feedback(self) -> int:
        return sum(self.ratings)

    @property
    def complaints(self) -> int:
        return sum(self.ratings[rating - 1] for rating in COMPLAINT)

    @property
    def praise(self) -> int:
        return sum(self.ratings[rating - 1] for rating in PRAISE)

    @property
    def mean_rating(self) -> float | None:
        total = self.feedback
        return round(sum(rating * count for rating, count in zip(RATINGS, self.ratings)) / total, 2) if total else None


@dataclass(frozen=True)
class Verbatim:
    """What a customer said, with the rating it was given."""

    rating: int
    text: str


class Feedback:
    """HQ's reads of feedback; each opens its own read of the database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def per_group(self, *, since: str, until: str, store: str | None = None, category: str | None = None) -> list[GroupFeedback]:
        """Feedback per product group from `since` to `until` (UTC, end excluded), at `store`, in `category`
        and those under it; in no order (feedback_report.py ranks)."""
        sql, params = per_group_sql(store, category)
        with self.db.read() as conn:
            rows = conn.execute(sql, [since, until, *params]).fetchall()
        return [
            GroupFeedback(str(key), (int(one), int(two), int(three), int(four), int(five)), int(stores))
            for key, one, two, three, four, five, stores in rows
        ]

    def verbatims(
        self,
        keys: Sequence[str],
        ratings: Sequence[int],
        *,
        since: str,
        until: str,
        store: str | None = None,
        per_group: int = 12,
    ) -> dict[str, list[Verbatim]]:
        """What customers said with one of `ratings`, up to `per_group` for each group of `keys`: the
        strongest rating first (the lowest of complaints, the highest of praise), then the newest."""
        strongest = "rating" if max(ratings) <= 3 else "rating DESC"
        found: dict[str, list[Verbatim]] = {}
        keys = list(dict.fromkeys(keys))
        for start in range(0, len(keys), _KEYS_PER_READ):
            part = keys[start : start + _KEYS_PER_READ]
            scope, params = scope_sql(store, None)
            sql = (
                "SELECT demand_key, rating, text FROM (SELECT demand_key, rating, text, row_number() OVER "
                f"(PARTITION BY demand_key ORDER BY {strongest}, created_at DESC, id) AS n FROM asks WHERE {_FEEDBACK}{scope} "
                f"AND rating IN ({', '.join('?' * len(ratings))}) AND demand_key IN ({', '.join('?' * len(part))})"
                ") AS ranked WHERE n <= ? ORDER BY demand_key, n"
            )
            with self.db.read() as conn:
                rows = conn.execute(sql, [since, until, *params, *ratings, *part, per_group]).fetchall()
            for key, rating, text in rows:
                found.setdefault(str(key), []).append(Verbatim(int(rating), str(text)))
        return found

    def wording(self, key: str, *, since: str, until: str) -> tuple[str | None, str | None]:
        """A group's commonest wording among its newest records in the period (asks and feedback alike:
        they are the words customers use for the thing), and its category; (None, None) when it has none."""
        sql = (
            "SELECT min(text), count(*), min(category) FROM (SELECT text, category FROM asks WHERE demand_key = ? "
            f"AND created_at >= ? AND created_at < ? AND voided = 0 ORDER BY created_at DESC LIMIT {WORDINGS_FROM}"
            ") AS newest GROUP BY lower(text) ORDER BY 2 DESC, 1 LIMIT 1"
        )
        with self.db.read() as conn:
            row = conn.execute(sql, (key, since, until)).fetchone()
        return (str(row[0]), row[2]) if row else (None, None)


def per_group_sql(store: str | None, category: str | None) -> tuple[str, list[object]]:
    """Feedback per group and rating: the SQL, and its parameters after the period's two bounds."""
    counts = ", ".join(f"sum(CASE WHEN rating = {rating} THEN 1 ELSE 0 END)" for rating in RATINGS)
    scope, params = scope_sql(store, category)
    sql = (
        f"SELECT coalesce(demand_key, ''), {counts}, count(DISTINCT store_id) FROM asks "
        f"WHERE {_FEEDBACK}{scope} GROUP BY coalesce(demand_key, '')"
    )
    return sql, params
