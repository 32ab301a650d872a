"""One demand group's numbers, for its page on /dashboard: wordings, unmet asks per day, substitutes.

The counts come from the daily roll-ups where they hold them (rollups.py); the wordings
and which substitute was offered, which the roll-ups do not keep per group, from the
group's newest asks (index asks_demand), a bounded number of them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from schemas.records import FEEDBACK
from sync.hq.database import Database
from sync.hq.fold import catch_up

NEWEST = 5000  # a group's wordings and substitutes are read among this many of its newest asks in the period
SHOWN = 12  # wordings and substitutes listed on the page


@dataclass(frozen=True)
class Totals:
    """A group's unmet asks in a period and the substitutes offered for them (from the roll-ups: exact)."""

    asks: int
    offered: int
    accepted: int
    declined: int


@dataclass(frozen=True)
class Offered:
    """One substitute offered for the group's asks: how often, and how often taken or turned down."""

    substitute: str
    offered: int
    accepted: int
    declined: int


class Groups:
    """Reads about one demand group; days are UTC, YYYY-MM-DD, end excluded."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def totals(self, demand_key: str, *, since: str, until: str, unmet: Sequence[str]) -> Totals:
        marks = ", ".join("?" * len(unmet)) or "NULL"
        sql = (
            "SELECT coalesce(sum(asks), 0), coalesce(sum(offered), 0), coalesce(sum(accepted), 0), "
            f"coalesce(sum(declined), 0) FROM demand_days WHERE demand_key = ? AND day >= ? AND day < ? AND outcome IN ({marks})"
        )
        with self.db.read() as conn:
            row = conn.execute(sql, [demand_key, since, until, *unmet]).fetchone()
        return Totals(*(int(value) for value in row))

    def unmet_per_day(self, demand_key: str, *, since: str, until: str, unmet: Sequence[str]) -> list[tuple[str, int]]:
        """(day, unmet asks) of the group's days with any."""
        catch_up(self.db)  # the asks waiting to be folded count too
        marks = ", ".join("?" * len(unmet)) or "NULL"
        sql = (
            "SELECT day, sum(asks) FROM demand_days WHERE demand_key = ? AND day >= ? AND day < ? "
            f"AND outcome IN ({marks}) GROUP BY day HAVING sum(asks) > 0 ORDER BY day"
        )
        with self.db.read() as conn:
            return [(str(day), int(asks)) for day, asks in conn.execute(sql, [demand_key, since, until, *unmet])]

    def wordings(self, demand_key: str, *, since: str, until: str) -> tuple[list[tuple[str, int]], str | None, dict[str, str]]:
        """The group's wordings, commonest first, with their asks; and the category and attributes they share.

        Every ask counts here, met or not (feedback is no ask): these are the words customers use for the thing.
        """
        sql = (
            "SELECT min(text), count(*), min(category), min(attributes) FROM ("
            "SELECT text, category, attributes FROM asks WHERE demand_key = ? AND created_at >= ? "
            f"AND created_at < ? AND voided = 0 AND outcome <> '{FEEDBACK}' ORDER BY created_at DESC LIMIT {NEWEST}) AS newest "
            f"GROUP BY lower(text) ORDER BY 2 DESC, 1 LIMIT {SHOWN}"
        )
        with self.db.read() as conn:
            rows = conn.execute(sql, (demand_key, since, until)).fetchall()
        if not rows:
            return [], None, {}
        attributes = json.loads(rows[0][3]) if rows[0][3] else {}
        return [(str(text), int(count)) for text, count, *_ in rows], rows[0][2], attributes

    def substitutes(self, demand_key: str, *, since: str, until: str, unmet: Sequence[str]) -> list[Offered]:
        """What was offered instead of the group's unmet asks, most offered first, and whether customers took it."""
        marks = ", ".join("?" * len(unmet)) or "NULL"
        sql = (
            "SELECT min(substitute), count(*), sum(CASE WHEN substitute_accepted = 1 THEN 1 ELSE 0 END), "
            "sum(CASE WHEN substitute_accepted = 0 THEN 1 ELSE 0 END) FROM ("
            "SELECT substitute, substitute_accepted FROM asks WHERE demand_key = ? AND created_at >= ? AND created_at < ? "
            f"AND voided = 0 AND substitute IS NOT NULL AND outcome IN ({marks}) ORDER BY created_at DESC LIMIT {NEWEST}"
            f") AS newest GROUP BY lower(substitute) ORDER BY 2 DESC, 1 LIMIT {SHOWN}"
        )
        with self.db.read() as conn:
            rows = conn.execute(sql, [demand_key, since, until, *unmet]).fetchall()
        return [Offered(str(name), int(offered), int(accepted), int(declined)) for name, offered, accepted, declined in rows]
