"""Demand on this terminal: "asked before" while typing (similar asks) and the insights screen.

Both count demand groups (schemas/demand.py, the `demand_key` column), so the same
ask however it was worded is offered and counted as one. The whole store's most asked
groups come from HQ (`store_demand`, kept by the sync); `store_groups` names them with
this terminal's words where it has any.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from associate_tui.asks import FEEDBACK, Ask
from associate_tui.ids import format_utc
from associate_tui.store.asks import ask_at
from associate_tui.store.connection import Connection
from schemas.demand import VALUE_ATTRIBUTES, fold, search_words

SIMILAR_DAYS = 30  # "asked before" looks this far back
SIMILAR_CANDIDATES = 400  # newest matching asks that decide which groups are offered
_WON_BACK = "('reached_bought', 'reached_reserved')"
# Feedback (what a customer said, rated) shares the asks table but is no demand: never offered nor counted as asked.
_DEMAND = f"outcome != '{FEEDBACK}'"


@dataclass(frozen=True)
class Similar:
    """A demand group that looks like what is being typed: offered for "same as"."""

    ask: Ask  # the group's newest ask: what "same as" copies
    key: str
    outcome: str  # what happened most often
    this_week: int
    in_window: int
    days: int


@dataclass(frozen=True)
class DemandCount:
    ask: Ask  # the group's newest ask, whose words name the group
    key: str
    asks: int
    quantity: int
    days: int  # on how many days it was asked


@dataclass(frozen=True)
class GroupCounts:
    """One demand group's asks on this terminal (voided ones aside), for `associate demand`."""

    key: str
    this_week: int  # the last 7 days
    this_month: int  # the last 30 days
    total: int
    last_asked: str | None  # UTC
    wordings: list[str]  # its newest distinct wordings


@dataclass(frozen=True)
class StoreGroup:
    """One of the store's most asked unmet groups, every terminal counted, as HQ last sent them."""

    key: str
    week: int
    month: int
    text: str | None  # its newest wording on this terminal; None when only other terminals asked it


@dataclass(frozen=True)
class FollowUpFeedback:
    promised: int
    done: int
    won_back: int
    open: int


@dataclass(frozen=True)
class Insights:
    since: str
    asks: int
    unmet: int
    groups: list[DemandCount]
    categories: list[tuple[str | None, int]]
    attributes: list[tuple[str, str, int]]  # (key, value, unmet asks)
    substitutes: list[tuple[str, int, int, int]]  # (what, offered, accepted, declined)
    per_day: dict[str, int]  # local day -> unmet asks
    follow_ups: FollowUpFeedback  # of the asks logged on this terminal
    mine: FollowUpFeedback | None  # of the asks the associate logged
    said: tuple[int, int, int] = (0, 0, 0)  # feedback in the period: praise (4-5), so-so (3), let down (1-2)


class InsightRoom(Connection):
    """Reads that add asks up by demand group."""

    def similar_asks(
        self,
        text: str,
        *,
        attributes: dict[str, str] | None = None,
        category: str | None = None,
        now: datetime | None = None,
        days: int = SIMILAR_DAYS,
        limit: int = 3,
    ) -> list[Similar]:
        """Demand groups logged here in the last `days` that look like what is being typed.

        Every word typed (less filler and attribute words) must start a word of the
        ask; an attribute typed must be the group's too, so navy never stands in for
        black. The newest matches decide which groups are offered, most asked first.
        """
        attributes = {key: value for key, value in (attributes or {}).items() if key not in VALUE_ATTRIBUTES}
        typed = search_words(text, attributes, self.vocabulary)
        if not typed:
            return []
        match = "text : (" + " ".join(f'"{word}"*' for word in typed) + ")"
        now = now or datetime.now(timezone.utc)
        since = format_utc(now - timedelta(days=days))
        week = format_utc(now - timedelta(days=7))
        wanted = {key: fold(value) for key, value in attributes.items()}
        with self._read("look for similar asks") as conn:
            # The first ask of the window, found by the created_at index (min(seq) would walk
            # the table from its oldest row); asks are numbered in the order they were logged.
            first = conn.execute("SELECT seq FROM asks WHERE created_at >= ? ORDER BY created_at LIMIT 1", (since,)).fetchone()
            if first is None:
                return []
            rows = conn.execute(
                "SELECT a.seq, a.demand_key, a.category, a.attributes FROM asks_fts f JOIN asks a ON a.seq = f.rowid "
                f"WHERE asks_fts MATCH ? AND f.rowid >= ? AND a.voided = 0 AND a.{_DEMAND} ORDER BY f.rowid DESC LIMIT ?",
                (match, first[0], SIMILAR_CANDIDATES),
            ).fetchall()
            ranked = _ranked_groups(rows, wanted, category)[:limit]
            return [_similar(conn, key, seq, since=since, week=week, days=days) for key, seq in ranked]

    def group_counts(self, key: str, *, now: datetime | None = None, wordings: int = 3) -> GroupCounts:
        """How often the demand group `key` was asked here: in the last 7 and 30 days, and in all."""
        now = now or datetime.now(timezone.utc)
        week, month = format_utc(now - timedelta(days=7)), format_utc(now - timedelta(days=30))
        with self._read("count the demand group") as conn:
            total, this_week, this_month, last = conn.execute(
                "SELECT count(*), coalesce(sum(created_at >= ?), 0), coalesce(sum(created_at >= ?), 0), max(created_at) "
                f"FROM asks WHERE demand_key = ? AND voided = 0 AND {_DEMAND}",
                (week, month, key),
            ).fetchone()
            texts = conn.execute(
                f"SELECT min(text) FROM asks WHERE demand_key = ? AND voided = 0 AND {_DEMAND} "
                "GROUP BY lower(text) ORDER BY max(seq) DESC LIMIT ?",
                (key, wordings),
            ).fetchall()
        return GroupCounts(key, this_week, this_month, total, last, [text for (text,) in texts])

    def store_groups(self, *, limit: int = 10) -> list[StoreGroup]:
        """The store's most asked unmet groups in the last 30 days (none before HQ's first count)."""
        with self._read("read the store's figures") as conn:
            rows = conn.execute(
                "SELECT d.demand_key, d.week, d.month, (SELECT a.text FROM asks a WHERE a.demand_key = d.demand_key "
                f"AND a.voided = 0 AND a.{_DEMAND} ORDER BY a.created_at DESC LIMIT 1) FROM store_demand d "
                "ORDER BY d.month DESC, d.week DESC, d.demand_key LIMIT ?",
                (limit,),
            ).fetchall()
        return [StoreGroup(*row) for row in rows]

    def insights(
        self,
        *,
        since: str,
        unmet: tuple[str, ...],
        associate: str | None = None,
        chart_since: str | None = None,
        top: int = 10,
    ) -> Insights:
        """What went unmet here since `since` (UTC), grouped as the suggestions group it.

        Unmet asks per local day are counted from `chart_since` (default `since`);
        follow-up results are for every associate and, given one, for `associate`.
        """
        marks = ", ".join("?" * len(unmet)) or "NULL"
        base = f"FROM asks WHERE created_at >= ? AND voided = 0 AND outcome IN ({marks})"
        params = (since, *unmet)
        with self._read("add up the asks") as conn:
            total, unmet_total = conn.execute(
                f"SELECT count(*), coalesce(sum(outcome IN ({marks})), 0) FROM asks "
                f"WHERE created_at >= ? AND voided = 0 AND {_DEMAND}",
                (*unmet, since),
            ).fetchone()
            praised, so_so, let_down = conn.execute(
                "SELECT coalesce(sum(rating >= 4), 0), coalesce(sum(rating = 3), 0), coalesce(sum(rating <= 2), 0) "
                "FROM asks WHERE created_at >= ? AND voided = 0 AND outcome = ?",
                (since, FEEDBACK),
            ).fetchone()
            categories = conn.execute(
                f"SELECT coalesce(category, ''), count(*) {base} GROUP BY 1 ORDER BY 2 DESC LIMIT ?", (*params, top)
            ).fetchall()
            values = conn.execute(
                "SELECT j.key, j.value, count(*) FROM asks, json_each(asks.attributes) j "
                f"WHERE asks.created_at >= ? AND asks.voided = 0 AND asks.outcome IN ({marks}) "
                "GROUP BY 1, lower(j.value) ORDER BY 3 DESC LIMIT 40",
                params,
            ).fetchall()
            per_day = conn.execute(
                f"SELECT date(created_at, 'localtime'), count(*) {base} GROUP BY 1 ORDER BY 1",
                (chart_since or since, *unmet),
            ).fetchall()
            return Insights(
                since=since,
                asks=total,
                unmet=unmet_total,
                groups=_top_groups(conn, base, params, top),
                categories=[(code or None, count) for code, count in categories],
                attributes=[(key, value, count) for key, value, count in values],
                substitutes=_substitutes(conn, since, top),
                per_day=dict(per_day),
                follow_ups=_feedback(conn, since, None),
                mine=_feedback(conn, since, associate) if associate else None,
                said=(praised, so_so, let_down),
            )


def _ranked_groups(rows: list[tuple], wanted: dict[str, str], category: str | None) -> list[tuple[str, int]]:
    """(key, newest seq) of the groups among `rows` (newest first), most matches first.

    A group whose newest ask holds another value of an attribute typed (another
    colour, size...) is never offered; ties go to the category typed, then the newest.
    """
    groups: dict[str, list] = {}  # key -> [newest seq, matches, category]
    for seq, key, group_category, group_attributes in rows:
        if key in groups:
            if groups[key][1] > 0:
                groups[key][1] += 1
            continue
        held = json.loads(group_attributes)
        fits = all(fold(held.get(name, "")) == value for name, value in wanted.items())
        groups[key] = [seq, 1 if fits else -1, group_category]
    ranked = sorted(
        (group for group in groups.items() if group[1][1] > 0),
        key=lambda group: (-group[1][1], group[1][2] != category, -group[1][0]),
    )
    return [(key, seq) for key, (seq, _, _) in ranked]


def _similar(conn: sqlite3.Connection, key: str, seq: int, *, since: str, week: str, days: int) -> Similar:
    outcomes = conn.execute(
        "SELECT outcome, count(*), sum(created_at >= ?) FROM asks WHERE demand_key = ? AND created_at >= ? "
        f"AND voided = 0 AND {_DEMAND} GROUP BY outcome ORDER BY 2 DESC",
        (week, key, since),
    ).fetchall()
    latest = ask_at(conn, seq)
    return Similar(
        ask=latest,
        key=key,
        outcome=outcomes[0][0] if outcomes else latest.outcome,
        this_week=sum(row[2] for row in outcomes),
        in_window=sum(row[1] for row in outcomes),
        days=days,
    )


def _top_groups(conn: sqlite3.Connection, base: str, params: tuple, top: int) -> list[DemandCount]:
    groups = conn.execute(
        f"SELECT demand_key, count(*), sum(quantity), max(seq), count(DISTINCT date(created_at, 'localtime')) {base} "
        "GROUP BY demand_key ORDER BY 2 DESC, 4 DESC LIMIT ?",
        (*params, top),
    ).fetchall()
    return [
        DemandCount(ask=ask_at(conn, seq), key=key, asks=count, quantity=quantity, days=days)
        for key, count, quantity, seq, days in groups
    ]


def _substitutes(conn: sqlite3.Connection, since: str, top: int) -> list[tuple[str, int, int, int]]:
    rows = conn.execute(
        "SELECT min(substitute), count(*), coalesce(sum(substitute_accepted = 1), 0), "
        "coalesce(sum(substitute_accepted = 0), 0) FROM asks "
        "WHERE created_at >= ? AND voided = 0 AND substitute IS NOT NULL "
        "GROUP BY lower(substitute) ORDER BY 2 DESC LIMIT ?",
        (since, top),
    ).fetchall()
    return [(text, offered, accepted, declined) for text, offered, accepted, declined in rows]


def _feedback(conn: sqlite3.Connection, since: str, who: str | None) -> FollowUpFeedback:
    """Follow-ups promised since `since`, by everyone (who=None) or by one associate."""
    return FollowUpFeedback(
        *conn.execute(
            "SELECT count(*), coalesce(sum(status = 'done'), 0), "
            f"coalesce(sum(result IN {_WON_BACK}), 0), "
            "coalesce(sum(status = 'open'), 0) FROM follow_ups WHERE created_at >= ? AND (? IS NULL OR associate = ?)",
            (since, who, who),
        ).fetchone()
    )
