"""What HQ reads back: every record held (for export), and the numbers its reports are made of.

The demand reports read the daily roll-ups (rollups.py), not every ask; their
bounds are whole UTC days. Customers' sealed fields are opened under their keys.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any

import msgspec

from schemas.demand import VALUE_ATTRIBUTES
from schemas.records import FEEDBACK, AskRecord, CustomerRecord, FollowUpRecord, GroupResponse, ResponsesPage, StoreGroupCount
from sync.hq import evidence, rollups, vault
from sync.hq.database import Connection, Database, is_postgres
from sync.hq.fold import catch_up
from sync.hq.rows import ASK_FIELDS, CUSTOMER_FIELDS, FOLLOW_UP_FIELDS, RecordType, as_record_fields, opened

EXAMPLES = 3  # a group's commonest wordings in the period, shown under it
_READ_BACK = ("received_at", "clock_skew_ms")  # what an export adds to the record's fields
_FOLLOW_UP_SUMS = (
    "status = 'open'",
    "status = 'open' AND due_on < ?",
    "status = 'cancelled'",
    "status = 'done'",
    "result = 'reached_bought'",
    "result = 'reached_reserved'",
    "result = 'reached_not_interested'",
    "result = 'not_reached'",
    "result = 'still_unavailable'",
)
_FOLLOW_UP_NAMES = (
    "store_id",
    "follow_ups",
    "open",
    "overdue",
    "cancelled",
    "done",
    "reached_bought",
    "reached_reserved",
    "reached_not_interested",
    "not_reached",
    "still_unavailable",
)
_GROUP_NAMES = (
    "key",
    "asks",
    "quantity",
    "stores",
    "this_week",
    "last_week",
    "offered",
    "accepted",
    "declined",
    "priced",
    "lost_value",
    "effective_asks",
    "days",
    "weeks",
    "customers",
    "score",
)
_ACTIVITY_NAMES = ("store_id", "asks", "unmet", "other", "uncategorised", "associate_days", "last_ask_at")
# A store's asks per outcome over days [from, to): the whole weeks of a month within them, and the days at each end
# (parameters: _over_weeks).
_STORE_SUMS = " UNION ALL ".join(
    f"SELECT store_id, outcome, asks, uncategorised FROM {table} WHERE {day} >= ? AND {day} < ?"
    for table, day in (("store_weeks", "week"), ("store_days", "day"), ("store_days", "day"))
)
# Its associate-days over days [from, to), read alike (parameters: _over_weeks).
_ASSOCIATE_DAYS = (
    "SELECT store_id, days FROM associate_weeks WHERE week >= ? AND week < ? AND days > 0 UNION ALL "
    + " UNION ALL ".join(["SELECT store_id, 1 FROM associate_days WHERE day >= ? AND day < ? AND asks > 0"] * 2)
)
REPORT_WORK_MEM = "64MB"  # a report's grouping memory on PostgreSQL, per hash (_for_a_report)
_KEYS_PER_READ = 500  # under SQLite's bound parameters per statement
_DEMAND_KEY = re.compile(r"[0-9a-f]{16}")
_AN_ASK = f"outcome <> '{FEEDBACK}'"  # feedback (feedback.py) is no ask: never a wording or a last ask
log = logging.getLogger("associate_hq")


class Queries:
    """HQ's reads; each opens its own read of the database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def count_asks(self) -> int:
        return self.count_rows("asks")

    def count_rows(self, table: str) -> int:
        if table not in ("asks", "customers", "follow_ups", "erasures"):
            raise ValueError(table)
        with self.db.read() as conn:
            count: int = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        return count

    # -- every record held, for export --------------------------------------------------

    def iter_asks(self, *, since: str | None = None, page: int = 1000) -> Iterator[dict[str, Any]]:
        """Every ask HQ holds (latest version), oldest first by id, in pages."""
        columns = ASK_FIELDS + _READ_BACK
        sql = f"SELECT {', '.join(columns)} FROM asks WHERE id > ?" + (" AND created_at >= ?" if since else "")
        sql += " ORDER BY id LIMIT ?"
        last = ""
        while True:
            with self.db.read() as conn:
                rows = conn.execute(sql, [last, *([since] if since else []), page]).fetchall()
            if not rows:
                return
            for row in rows:
                yield as_record_fields(AskRecord, dict(zip(columns, row)))
            last = rows[-1][0]

    def iter_customers(self, *, page: int = 1000) -> Iterator[dict[str, Any]]:
        """Every customer HQ holds (latest version), oldest first by id, in pages, personal fields opened."""
        yield from self._iter_opened(CustomerRecord, "id", CUSTOMER_FIELDS, vault.CUSTOMER_COLUMNS, page)

    def iter_follow_ups(self, *, page: int = 1000) -> Iterator[dict[str, Any]]:
        """Every follow-up HQ holds (latest version), oldest first by id, in pages, notes about a customer opened."""
        yield from self._iter_opened(FollowUpRecord, "customer_id", FOLLOW_UP_FIELDS, vault.FOLLOW_UP_COLUMNS, page)

    def _iter_opened(
        self, kind: RecordType, owner: str, fields: tuple[str, ...], sealed: Sequence[str], page: int
    ) -> Iterator[dict[str, Any]]:
        """A table's rows in pages by id, each with its sealed fields opened under its customer's key."""
        table = "customers" if kind is CustomerRecord else "follow_ups"
        columns = fields + _READ_BACK
        select = ", ".join(f"t.{column}" for column in columns)
        sql = (
            f"SELECT {select}, k.key FROM {table} AS t LEFT JOIN customer_keys AS k "
            f"ON k.customer_id = t.{owner} AND k.store_id = t.store_id WHERE t.id > ? ORDER BY t.id LIMIT ?"
        )
        last = ""
        while True:
            with self.db.read() as conn:
                rows = conn.execute(sql, (last, page)).fetchall()
            if not rows:
                return
            for *values, key in rows:
                item = dict(zip(columns, values))
                if item[owner] is not None:
                    opened(item, bytes(key) if key is not None else None, table, sealed)
                yield as_record_fields(kind, item)
            last = rows[-1][0]

    # -- what a terminal pulls ------------------------------------------------------------------

    def responses_page(self, store_id: str, *, after: int, limit: int) -> ResponsesPage:
        """HQ's answers whose last change came after `after`, oldest change first, as store `store_id` sees them.

        Every group's answer, asked about at this store or not yet: a group the store first asks
        about later must already hold HQ's answer. The stores a group is available at never leave HQ.
        """
        sql = (
            "SELECT demand_key, seq, status, expected_on, note, stores, changed_at FROM demand_responses "
            "WHERE seq > ? ORDER BY seq LIMIT ?"
        )
        with self.db.read() as conn:
            rows = conn.execute(sql, (after, limit + 1)).fetchall()
        page = rows[:limit]
        answers = [answer for row in page if (answer := _as_seen_by(store_id, row)) is not None]
        return ResponsesPage(cursor=int(page[-1][1]) if page else after, more=len(rows) > limit, responses=answers)

    def store_demand(
        self, store_id: str, *, week: str, month: str, until: str, unmet: Sequence[str], top: int
    ) -> list[StoreGroupCount]:
        """A store's unmet asks per demand group, every terminal counted, from day `week` and from day `month`
        to day `until` (YYYY-MM-DD, end excluded); the `top` groups by the longer span."""
        catch_up(self.db)  # the asks waiting to be folded count too
        marks = ", ".join("?" * len(unmet)) or "NULL"
        sql = (
            "SELECT demand_key, sum(CASE WHEN day >= ? THEN asks ELSE 0 END), sum(asks) FROM demand_days "
            f"WHERE store_id = ? AND day >= ? AND day < ? AND outcome IN ({marks}) AND demand_key <> '' "
            "GROUP BY demand_key HAVING sum(asks) > 0 ORDER BY 3 DESC, 2 DESC, 1 LIMIT ?"
        )
        with self.db.read() as conn:
            rows = conn.execute(sql, [week, store_id, month, until, *unmet, top]).fetchall()
        return [
            StoreGroupCount(demand_key=key, week=int(in_week), month=int(in_month))
            for key, in_week, in_month in rows
            if _DEMAND_KEY.fullmatch(key)
        ]

    def restock_wins(self, demand_keys: Sequence[str], *, since: str, until: str, store: str | None = None) -> dict[str, int]:
        """Follow-ups won back after a restock, per demand group of their ask: done as bought or reserved
        at or after the restock that made them due (`in_stock_at`), done from `since` to `until` (UTC)."""
        keys = list(dict.fromkeys(demand_keys))
        wins: dict[str, int] = {}
        with self.db.read() as conn:
            for start in range(0, len(keys), _KEYS_PER_READ):
                part = keys[start : start + _KEYS_PER_READ]
                params = [since, until, *([store] if store else []), *part]
                wins.update((key, int(count)) for key, count in conn.execute(restock_wins_sql(store, len(part)), params))
        return wins

    # -- reports ----------------------------------------------------------------------------

    def follow_up_outcomes(self, *, today: str) -> list[dict[str, Any]]:
        """Per store: follow-ups promised, open, overdue, and what came of the done ones."""
        sums = ", ".join(f"sum(CASE WHEN {condition} THEN 1 ELSE 0 END)" for condition in _FOLLOW_UP_SUMS)
        sql = f"SELECT store_id, count(*), {sums} FROM follow_ups GROUP BY store_id ORDER BY store_id"
        with self.db.read() as conn:
            return [dict(zip(_FOLLOW_UP_NAMES, row)) for row in conn.execute(sql, (today,))]

    def demand_groups(
        self,
        *,
        since: str,
        until: str,
        week: str,
        prev_week: str,
        unmet: Sequence[str],
        store: str | None = None,
        category: str | None = None,
        top: int = 20,
        sort: str = "evidence",
        weeks_since: str | None = None,
    ) -> list[dict[str, Any]]:
        """Unmet asks per demand group from `since` to `until` (UTC days, end excluded), the most evidence first
        (evidence.py), or with `sort="asks"` the most asked first.

        Each group also has its asks in the 7 days before `until` (`this_week`) and the 7 before
        those (`last_week`), its substitutes and the value lost where asks gave a price, and the
        figures of its evidence: effective asks, stores, days, weeks (the 7-day weeks counted back
        from `until`, from `weeks_since` if given, else `since`), customers named and the score.
        Read from the roll-ups, the wordings too (the commonest over the period, demand_wording_days).
        """
        catch_up(self.db)  # the asks waiting to be folded count too
        days = _days(since, until, week, prev_week, weeks_since or since)
        with self.db.read() as conn:
            _for_a_report(conn)
            paired = not store and unmet_pairs_kept(conn, unmet)
            sql, params = _groups_sql(
                *days, unmet=unmet, scope=scope_sql(store, category), sort=sort, chain=not store, paired=paired
            )
            groups = [dict(zip(_GROUP_NAMES, row)) for row in conn.execute(sql, [*params, top])]
            for group in groups:
                if not group.pop("priced"):
                    group["lost_value"] = None
            _add_examples(conn, groups, days[0], days[1])
        return groups

    def unmet_per_day(
        self, *, since: str, until: str, unmet: Sequence[str], store: str | None = None, category: str | None = None
    ) -> list[tuple[str, int]]:
        """(UTC day, unmet asks) from `since` to `until`."""
        catch_up(self.db)  # the asks waiting to be folded count too
        since, until = _days(since, until)
        marks = ", ".join("?" * len(unmet)) or "NULL"
        table = "demand_days" if store else "demand_chain_days"  # chain-wide: the days without the store
        sql = f"SELECT day, sum(asks) FROM {table} WHERE day >= ? AND day < ? AND outcome IN ({marks})"
        scope, scope_params = scope_sql(store, category)
        with self.db.read() as conn:
            return [
                (day, asks)
                for day, asks in conn.execute(
                    sql + scope + " GROUP BY day HAVING sum(asks) > 0 ORDER BY day", [since, until, *unmet, *scope_params]
                )
            ]

    def substitutes(self, *, since: str, until: str, store: str | None = None, top: int = 20) -> list[dict[str, Any]]:
        """What was offered instead, how often, and whether customers took it."""
        catch_up(self.db)  # the asks waiting to be folded count too
        since, until = _days(since, until)
        sql = "SELECT min(substitute), sum(offered), sum(accepted), sum(declined) FROM substitute_days WHERE day >= ? AND day < ?"
        scope, scope_params = scope_sql(store, None)
        sql += scope + " GROUP BY substitute_key HAVING sum(offered) > 0 ORDER BY 2 DESC, 1 LIMIT ?"
        with self.db.read() as conn:
            return [
                dict(zip(("substitute", "offered", "accepted", "declined"), row))
                for row in conn.execute(sql, [since, until, *scope_params, top])
            ]

    def store_activity(self, *, since: str, until: str, unmet: Sequence[str]) -> list[dict[str, Any]]:
        """Per store: asks, unmet, coded "other", uncategorised, associate-days and the last ask.

        Stores with a live terminal and no ask in the period are listed with zeros.
        """
        catch_up(self.db)  # the asks waiting to be folded count too
        first, end = _days(since, until)
        marks = ", ".join("?" * len(unmet)) or "NULL"
        last = _last_ask_sql("t.store_id", in_period=True)
        sql = (
            f"SELECT store_id, asks, unmet, other, uncategorised, ({last}) FROM (SELECT store_id, sum(asks) AS asks, "
            f"sum(CASE WHEN outcome IN ({marks}) THEN asks ELSE 0 END) AS unmet, "
            "sum(CASE WHEN outcome = 'other' THEN asks ELSE 0 END) AS other, sum(uncategorised) AS uncategorised "
            f"FROM ({_STORE_SUMS}) AS parts GROUP BY store_id HAVING sum(asks) > 0) AS t"
        )
        period = _over_weeks(first, end)
        with self.db.read() as conn:
            _for_a_report(conn)
            rows = {
                store_id: dict(zip(_ACTIVITY_NAMES, (store_id, *figures, 0, last_ask)))
                for store_id, *figures, last_ask in conn.execute(sql, (until, since, *unmet, *period))
            }
            for store_id, days in conn.execute(
                f"SELECT store_id, sum(days) FROM ({_ASSOCIATE_DAYS}) AS parts GROUP BY store_id HAVING sum(days) > 0",
                period,
            ):
                if store_id in rows:
                    rows[store_id]["associate_days"] = days
            for (store_id,) in conn.execute("SELECT DISTINCT store_id FROM terminals WHERE revoked_at IS NULL", ()):
                rows.setdefault(store_id, dict(zip(_ACTIVITY_NAMES, (store_id, 0, 0, 0, 0, 0, None))))
            for store_id, row in rows.items():
                if not row["asks"]:  # silent in the period: when it last logged an ask at all
                    found = conn.execute(_last_ask_sql("?", in_period=False), (store_id, until)).fetchone()
                    row["last_ask_at"] = str(found[0]) if found else None
        return [rows[key] for key in sorted(rows)]


def _for_a_report(conn: Connection) -> None:
    """On PostgreSQL, for this read: no JIT compilation (it took longer than the report's statement ran), and the
    memory to group a report's roll-up rows in a hash rather than sorting them on disk."""
    if is_postgres(conn):
        conn.execute("SET LOCAL jit = off", ())
        conn.execute(f"SET LOCAL work_mem = '{REPORT_WORK_MEM}'", ())
        conn.execute("SET LOCAL max_parallel_workers_per_gather = 0", ())


def _groups_sql(
    since: str,
    until: str,
    week: str,
    prev_week: str,
    weeks_since: str,
    *,
    unmet: Sequence[str],
    scope: tuple[str, list],
    sort: str,
    chain: bool = False,
    paired: bool = False,
) -> tuple[str, list[object]]:
    """demand_groups' statement (all but the LIMIT's parameter): the groups' figures from demand_days, their
    customers from demand_customers, in the order asked for. Days are YYYY-MM-DD.

    `chain` (no store named): the figures from demand_chain_days, and each group's stores counted apart
    (_stores_sql), since a store cannot be counted twice from sums; `paired`: over weeks from demand_store_weeks,
    whose unmet outcomes are `unmet` (unmet_pairs_kept)."""
    marks = ", ".join("?" * len(unmet)) or "NULL"
    week_case, week_starts = evidence.week_sql(date.fromisoformat(until), date.fromisoformat(weeks_since))
    in_period = "sum(CASE WHEN day >= ? THEN {} ELSE 0 END)"
    figures = ", ".join(
        f"{in_period.format(name)} AS {name}_in"
        for name in ("quantity", "offered", "accepted", "declined", "priced", "lost_value")
    )
    stores_in = "0" if chain else "count(DISTINCT CASE WHEN day >= ? AND asks > 0 THEN store_id END)"
    sql = (
        f"WITH g AS (SELECT demand_key, {in_period.format('asks')} AS asks_in, {figures}, {stores_in} AS stores_in, "
        f"{in_period.format('asks')} AS this_week, sum(CASE WHEN day >= ? AND day < ? THEN asks ELSE 0 END) AS last_week, "
        f"{in_period.format('effective')} AS effective_in, count(DISTINCT CASE WHEN day >= ? AND asks > 0 THEN day END) AS days_in, "
        f"count(DISTINCT CASE WHEN day >= ? AND asks > 0 THEN {week_case} END) AS weeks_in "
        f"FROM {'demand_chain_days' if chain else 'demand_days'} WHERE day >= ? AND day < ? AND outcome IN ({marks}){scope[0]} "
        f"GROUP BY demand_key HAVING {in_period.format('asks')} > 0), "
        "c AS (SELECT demand_key, count(DISTINCT customer_id) AS customers FROM demand_customers "
        f"WHERE day >= ? AND day < ? AND asks > 0 AND outcome IN ({marks}){scope[0]} GROUP BY demand_key) "
    )
    params: list[object] = [*[since] * (7 if chain else 8), week, prev_week, week, since, since, weeks_since, *week_starts]
    params += [min(since, prev_week, weeks_since), until, *unmet, *scope[1], since, since, until, *unmet, *scope[1]]
    stores, joined = "g.stores_in", ""
    if chain:
        sql += f", s AS ({_stores_sql(marks, scope[0], paired=paired)}) "
        params += _stores_params(since, until, unmet, scope[1], paired=paired)
        stores, joined = "coalesce(s.stores, 0)", " LEFT JOIN s ON s.demand_key = g.demand_key"
    customers = "coalesce(c.customers, 0)"
    rank = evidence.score_sql("g.effective_in", stores, "g.days_in", "g.weeks_in", customers)
    order = f"g.asks_in DESC, {stores} DESC, g.demand_key" if sort == "asks" else f"{rank} DESC, g.asks_in DESC, g.demand_key"
    sql += (
        f"SELECT g.demand_key, g.asks_in, g.quantity_in, {stores}, g.this_week, g.last_week, g.offered_in, g.accepted_in, "
        f"g.declined_in, g.priced_in, g.lost_value_in, g.effective_in, g.days_in, g.weeks_in, {customers}, {rank} "
        f"FROM g LEFT JOIN c ON c.demand_key = g.demand_key{joined} ORDER BY {order} LIMIT ?"
    )
    return sql, params


def _stores_sql(marks: str, scope: str, *, paired: bool = False) -> str:
    """Each group's stores with an unmet ask in the period (parameters: _stores_params): the distinct (group, store)
    pairs, grouped by pair, then counted (grouped, not a UNION's distinct rows: PostgreSQL hashes the pairs alone,
    a third quicker at 12 weeks). `paired`: the whole weeks of a month within the period from demand_store_weeks (a
    row per pair whatever the unmet outcome) and the days at its ends from demand_days; otherwise (the unmet outcomes
    asked for are not those it counts) every day of the period from demand_days."""
    pairs = "SELECT demand_key, store_id FROM {} WHERE {} >= ? AND {} < ? AND asks > 0{}{}"
    days = pairs.format("demand_days", "day", "day", f" AND outcome IN ({marks})", scope)
    parts = (pairs.format("demand_store_weeks", "week", "week", "", scope), days, days) if paired else (days,)
    return (
        "SELECT demand_key, count(*) AS stores FROM (SELECT demand_key, store_id FROM ("
        + " UNION ALL ".join(parts)
        + ") AS parts GROUP BY demand_key, store_id) AS pairs GROUP BY demand_key"
    )


def _stores_params(since: str, until: str, unmet: Sequence[str], scope: list, *, paired: bool = False) -> list[object]:
    """_stores_sql's parameters for days [since, until)."""
    if not paired:
        return [since, until, *unmet, *scope]
    params = _over_weeks(since, until, (*unmet, *scope))
    del params[2 : 2 + len(unmet)]  # no outcomes in the weeks' part
    return params


def unmet_pairs_kept(conn: Connection, unmet: Sequence[str]) -> bool:
    """Whether demand_store_weeks counts exactly the `unmet` outcomes (those of the published taxonomy, but for a
    moment while a new one is published)."""
    return rollups.counted_as_unmet(conn) == set(unmet)


def _over_weeks(since: str, until: str, each: Sequence[object] = ()) -> list[object]:
    """The parameters of a read over days [since, until) in three parts: the whole weeks of a month within
    them (rollups.whole_weeks), then the days before those weeks, then the days after; each part's
    bounds followed by `each`, the parameters every part takes after them."""
    first, last = rollups.whole_weeks(since, until)
    return [value for bounds in ((first, last), (since, first), (last, until)) for value in (*bounds, *each)]


def _as_seen_by(store_id: str, row: Sequence[Any]) -> GroupResponse | None:
    """A group's answer as one store reads it; None (and a log line) for a row the contract cannot carry."""
    key, seq, status, expected_on, note, stores, changed_at = row
    here = status == "available" and (not stores or store_id in json.loads(stores))
    fields = {"demand_key": key, "seq": int(seq), "status": status, "expected_on": expected_on, "note": note}
    try:
        return msgspec.convert({**fields, "available_here": here, "changed_at": changed_at}, GroupResponse)
    except msgspec.ValidationError as error:
        log.warning("demand group %s: its answer (change %s) cannot be sent to terminals: %s", key, seq, error)
        return None


def _add_examples(conn: Connection, groups: list[dict[str, Any]], since: str, until: str) -> None:
    """Each group's commonest wordings in the period (days), and the category and attributes of its commonest.

    From the wordings roll-up (rollups.rebuild_wordings), every outcome counted; wordings that differ
    only in case are one, shown by the first in byte order.
    """
    keys = list(dict.fromkeys(group["key"] for group in groups))
    found: dict[str, list[tuple]] = {}
    for start in range(0, len(keys), _KEYS_PER_READ):
        part = keys[start : start + _KEYS_PER_READ]
        for key, *example in conn.execute(_examples_sql(len(part)), [*part, since, until]):
            found.setdefault(key, []).append(tuple(example))
    for group in groups:
        examples = found.get(group["key"], [])
        group["examples"] = [text for text, *_ in examples]
        group["category"] = examples[0][1] if examples else None
        attributes = json.loads(examples[0][2]) if examples else {}
        group["attributes"] = {k: v for k, v in attributes.items() if k not in VALUE_ATTRIBUTES}


def _examples_sql(keys: int) -> str:
    """Up to EXAMPLES wordings of each of `keys` groups (parameters: the keys, since, until as days), commonest first:
    (group, wording, category or NULL, attributes) in order."""
    return (
        "SELECT demand_key, text, category, attributes FROM (SELECT w.demand_key, min(w.text) AS text, "
        "min(nullif(w.category, '')) AS category, min(w.attributes) AS attributes, row_number() OVER "
        "(PARTITION BY w.demand_key ORDER BY sum(d.asks) DESC, min(w.text)) AS n "
        "FROM demand_wordings AS w JOIN demand_wording_days AS d ON d.wording_id = w.id "
        f"WHERE w.demand_key IN ({', '.join('?' * keys)}) AND d.day >= ? AND d.day < ? AND d.asks > 0 "
        f"GROUP BY w.demand_key, lower(w.text)) AS ranked WHERE n <= {EXAMPLES} ORDER BY demand_key, n"
    )


def _last_ask_sql(store: str, *, in_period: bool) -> str:
    """A store's last counted ask in the period (parameters: until, since), or for a store silent in the period
    when it last logged an ask at all (parameter: until); `store` is the SQL naming the store.

    The newest first along index asks_store_created, up to the first that counts (no max(): feedback is skipped).
    """
    sql = f"SELECT a.created_at FROM asks AS a WHERE a.store_id = {store} AND a.{_AN_ASK} AND a.created_at < ?"
    if in_period:
        sql += " AND a.voided = 0 AND a.created_at >= ?"
    return sql + " ORDER BY a.created_at DESC LIMIT 1"


def _days(*moments: str) -> tuple[str, ...]:
    """The UTC days of report bounds, which fall on midnight (report.window makes them so)."""
    for moment in moments:
        if moment[10:] not in ("", "T00:00:00.000Z", "T00:00:00Z"):
            raise ValueError(f"report bounds must be whole UTC days, not {moment}")
    return tuple(moment[:10] for moment in moments)


def scope_sql(store: str | None, category: str | None) -> tuple[str, list[object]]:
    """The SQL (and its parameters) that keeps a read to one store and/or a category and those under it."""
    sql, params = "", list[object]()
    if store:
        sql += " AND store_id = ?"
        params.append(store)
    if category:
        sql += " AND (category = ? OR category LIKE ?)"
        params += [category, category + ".%"]
    return sql, params


def restock_wins_sql(store: str | None, keys: int) -> str:
    """Restock wins per group for `keys` demand keys (parameters: since, until, [store], the keys).

    From the few follow-ups a restock woke (index follow_ups_restocked) to their asks by id:
    CROSS JOIN keeps SQLite to that order; PostgreSQL plans it alike from its statistics.
    """
    return (
        "SELECT a.demand_key, count(*) FROM follow_ups AS f CROSS JOIN asks AS a "
        "WHERE a.id = f.ask_id AND a.store_id = f.store_id "
        "AND f.status = 'done' AND f.result IN ('reached_bought', 'reached_reserved') AND f.in_stock_at IS NOT NULL "
        "AND f.done_at >= f.in_stock_at AND f.done_at >= ? AND f.done_at < ? AND a.voided = 0"
        + (" AND f.store_id = ?" if store else "")
        + f" AND a.demand_key IN ({', '.join('?' * keys)}) GROUP BY a.demand_key"
    )
