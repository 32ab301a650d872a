"""Daily roll-ups of the asks, which HQ's reports read instead of every ask.

One row per UTC day (or hour) and what a report groups by:
- demand_days: store, demand group, category ('' for none) and outcome; asks, quantity,
  substitutes offered, accepted and declined, asks that gave a price, the value lost, and the
  effective asks (evidence.py): each terminal's asks in one clock hour weighed down, summed;
- demand_chain_days: demand_days summed over the stores (what a report without a store reads);
- demand_hours: the asks behind `effective`, per store, terminal, clock hour, group, category, outcome;
- demand_customers: asks that name a customer, per day, group, store, category, outcome, customer;
- substitute_days: store and substitute (lower case); offered, accepted, declined;
- associate_days: store and associate; asks.
- store_days: store and outcome; asks, and those without a category (what data quality reads);
- associate_weeks: the days in a week each associate of a store logged an ask on (associate_days' rows);
- store_weeks: store_days per week of a month (WEEK_SQL): a report over weeks reads them and the few days
  at its ends;
- demand_store_weeks: each (group, store) pair's unmet asks per week of a month, the outcomes the published
  taxonomy counts as unmet (unmet_outcomes) together: a chain-wide report's stores column reads it over
  weeks and demand_days for the few days at the ends (a store counted once per group: sets add up), and
  it is derived anew when a pack counts other outcomes as unmet (in that moment a report reads demand_days
  for the whole period; schemas 13 to 15 kept demand_weeks, each outcome apart, for it: schema 16 dropped it);
- demand_wordings: each distinct wording of a group (its words, category and attributes) once, and
  demand_wording_days its asks per day, every outcome: a group's commonest wordings in a period.
Voided asks count nowhere, nor does feedback (outcome 'feedback': no ask; feedback.py reads it
from the asks). apply_batch puts each stored ask's part, and the part of the version it
replaces, in the outbox (rollup_queue, one row a batch: its parts as one JSON array) in the batch's
transaction; fold.py adds them to the roll-ups shortly after, in set-based statements; `rebuild` derives them all from the asks
again (after a migration, or when a new taxonomy regroups every ask).
"""

from __future__ import annotations

from datetime import date, timedelta

import msgspec

from schemas.records import FEEDBACK
from sync.hq.database import Connection, is_postgres
from sync.hq.evidence import weight_sql

# What an ask row must carry for its part in the roll-ups.
COLUMNS = (
    "created_at",
    "store_id",
    "demand_key",
    "category",
    "outcome",
    "quantity",
    "substitute",
    "substitute_accepted",
    "voided",
    "lost_value",
    "associate",
    "terminal_id",
    "customer_id",
    "text",
    "attributes",
)

# What the outbox holds of each of asks' parts (a JSON array of these, in this order): `sign` counts them (1 for a part added, -1 for an older version's part
# taken away, summed over a batch's identical parts); the clock hour (YYYY-MM-DDTHH) is all a roll-up needs of the time.
QUEUED = (
    "sign",
    "hour",
    "store_id",
    "terminal_id",
    "demand_key",
    "category",
    "outcome",
    "quantity",
    "substitute",
    "substitute_accepted",
    "lost_value",
    "associate",
    "customer_id",
    "text",
    "attributes",
)
# A wording (a row of demand_wordings, `w`) that is a part's (`part`): one row per distinct group, words, category
# and attributes. No unique index holds them (attributes may outgrow an index entry): one fold at a time adds them.
WORDING_MATCH = (
    "w.demand_key = {part}.demand_key AND w.text = {part}.text AND w.category = {part}.category "
    "AND w.attributes = {part}.attributes"
)
# The weeks of a month: days 1-7, 8-14, 15-21, 22-28, and 29 to the month's end, each named by its first day.
# Derived from the day's text alike on SQLite and PostgreSQL; any period is whole weeks of a month and at most
# six days at each end, so a report over weeks reads the week roll-ups and a few days of the daily ones.
_NTH = "substr({day}, 9, 2)"
WEEK_SQL = (
    "substr({day}, 1, 8) || CASE WHEN "
    + _NTH
    + " <= '07' THEN '01' WHEN "
    + _NTH
    + " <= '14' THEN '08' WHEN "
    + _NTH
    + " <= '21' THEN '15' WHEN "
    + _NTH
    + " <= '28' THEN '22' ELSE '29' END"
)


def week_of_month(day: str) -> str:
    """The first day of the week of the month that `day` (YYYY-MM-DD) is in: WEEK_SQL in Python."""
    return f"{day[:8]}{min((int(day[8:10]) - 1) // 7, 4) * 7 + 1:02d}"


def _after_week(first: date) -> date:
    """The day after the week of the month that starts on `first`."""
    return first + timedelta(days=7) if first.day < 29 else (first.replace(day=28) + timedelta(days=4)).replace(day=1)


def whole_weeks(first: str, end: str) -> tuple[str, str]:
    """The weeks of a month wholly within days [first, end) (YYYY-MM-DD, end excluded), as days [from, to):
    the first such week's first day and the day after the last; an empty span (from = to) when none."""
    start = date.fromisoformat(week_of_month(first))
    if start.isoformat() < first:
        start = _after_week(start)
    stop = start
    while _after_week(stop).isoformat() <= end:
        stop = _after_week(stop)
    return (start.isoformat(), stop.isoformat()) if stop > start else (first, first)


def queued(ask: tuple, sign: int) -> tuple | None:
    """The outbox row of one ask's part (`ask` holds the COLUMNS, in order), or None when it counts nowhere."""
    (
        created_at,
        store,
        key,
        category,
        outcome,
        quantity,
        substitute,
        accepted,
        voided,
        value,
        associate,
        terminal,
        customer,
        text,
        attributes,
    ) = ask
    if voided or outcome == FEEDBACK:
        return None
    accepted = None if accepted is None else int(accepted)  # the record's bool, as the asks table holds it
    return (
        sign,
        created_at[:13],
        store,
        terminal,
        key or "",
        category or "",
        outcome,
        quantity,
        substitute,
        accepted,
        value,
        associate,
        customer,
        text,
        attributes,
    )


_CUSTOMER = QUEUED.index("customer_id")


def queue(conn: Connection, store_id: str, rows: list[tuple]) -> None:
    """Put the parts of a store's batch of asks in the outbox, in the batch's transaction; fold.py adds them up later.

    One row for the batch, its parts a JSON array (a row per part cost each ask a row, an index entry and a
    delete); identical parts as one with their count (a burst of asks is one; a version and its
    replacement within the batch cancel out).
    """
    counted: dict[tuple, int] = {}
    for sign, *part in rows:
        key = tuple(part)
        counted[key] = counted.get(key, 0) + sign
    parts = [(count, *part) for part, count in counted.items() if count]
    if parts:
        put_parts(conn, store_id, parts)


def put_parts(conn: Connection, store_id: str, parts: list) -> None:
    """One outbox row: a store's parts (QUEUED values, in order) as a JSON array of arrays."""
    conn.execute("INSERT INTO rollup_queue (store_id, parts) VALUES (?, ?)", (store_id, encode_parts(parts)))


def encode_parts(parts: list) -> str:
    """Parts (QUEUED values, in order) as the outbox holds them: a JSON array of arrays."""
    return msgspec.json.encode(parts).decode()


def forget_customer(conn: Connection, customer_id: str, store_id: str) -> None:
    """An erased customer's asks no longer name them: their rows leave demand_customers (as a rebuild would find).

    The outbox first, the store's waiting parts rewritten without the customer: on PostgreSQL
    reading them FOR UPDATE waits for a fold holding them, so the DELETE after it also sees what that fold added.
    """
    lock = " FOR UPDATE" if is_postgres(conn) else ""
    waiting = conn.execute(f"SELECT seq, parts FROM rollup_queue WHERE store_id = ? ORDER BY seq{lock}", (store_id,))
    for seq, text in waiting.fetchall():
        parts = msgspec.json.decode(text)
        if any(part[_CUSTOMER] == customer_id for part in parts):
            for part in parts:
                if part[_CUSTOMER] == customer_id:
                    part[_CUSTOMER] = None
            conn.execute("UPDATE rollup_queue SET parts = ? WHERE seq = ?", (encode_parts(parts), seq))
    conn.execute("DELETE FROM demand_customers WHERE customer_id = ? AND store_id = ?", (customer_id, store_id))


def rebuild(conn: Connection) -> None:
    """Every roll-up, derived from the asks anew; what waits in the outbox is in the asks already."""
    conn.execute("DELETE FROM rollup_queue", ())
    rebuild_as_of_9(conn)
    rebuild_chain(conn)
    rebuild_as_of_13(conn)
    rebuild_unmet_pairs(conn)


def rebuild_as_of_13(conn: Connection) -> None:
    """The roll-ups schema 13 added (its migration runs this once the outbox is folded), derived anew."""
    rebuild_wordings(conn)
    conn.execute("DELETE FROM store_days", ())
    conn.execute(
        "INSERT INTO store_days (day, store_id, outcome, asks, uncategorised) SELECT day, store_id, outcome, sum(asks), "
        "sum(CASE WHEN category = '' THEN asks ELSE 0 END) FROM demand_days WHERE asks > 0 GROUP BY day, store_id, outcome",
        (),
    )
    week = WEEK_SQL.format(day="day")
    for table in ("store_weeks", "associate_weeks"):
        conn.execute(f"DELETE FROM {table}", ())
    conn.execute(
        f"INSERT INTO associate_weeks (week, store_id, associate, days) SELECT {week}, store_id, associate, count(*) "
        f"FROM associate_days WHERE asks > 0 GROUP BY {week}, store_id, associate",
        (),
    )
    conn.execute(
        f"INSERT INTO store_weeks (week, store_id, outcome, asks, uncategorised) SELECT {week}, store_id, outcome, "
        f"sum(asks), sum(uncategorised) FROM store_days WHERE asks > 0 GROUP BY {week}, store_id, outcome",
        (),
    )


def rebuild_unmet_pairs(conn: Connection) -> None:
    """demand_store_weeks (schema 15): demand_days' asks of the unmet outcomes, per week, group and store."""
    week = WEEK_SQL.format(day="day")
    conn.execute("DELETE FROM demand_store_weeks", ())
    conn.execute(
        f"INSERT INTO demand_store_weeks (week, demand_key, store_id, category, asks) SELECT {week}, demand_key, store_id, "
        "min(category), sum(asks) FROM demand_days WHERE asks > 0 AND outcome IN (SELECT outcome FROM unmet_outcomes) "
        f"GROUP BY {week}, demand_key, store_id",
        (),
    )


def counted_as_unmet(conn: Connection) -> set[str]:
    """The outcomes demand_store_weeks counts (unmet_outcomes)."""
    return {row[0] for row in conn.execute("SELECT outcome FROM unmet_outcomes", ())}


def count_as_unmet(conn: Connection, outcomes: list[str]) -> bool:
    """Make `outcomes` the ones demand_store_weeks counts, deriving it anew if they differ from those it counted;
    whether they did. The caller holds the fold's lock (fold.FOLD_LOCK): no fold adds parts meanwhile."""
    if counted_as_unmet(conn) == set(outcomes):
        return False
    conn.execute("DELETE FROM unmet_outcomes", ())
    conn.executemany("INSERT INTO unmet_outcomes (outcome) VALUES (?)", [(outcome,) for outcome in sorted(set(outcomes))])
    rebuild_unmet_pairs(conn)
    return True


def rebuild_wordings(conn: Connection) -> None:
    """demand_wordings and demand_wording_days (schema 13): each distinct wording once, its asks per day."""
    for table in ("demand_wording_days", "demand_wordings"):
        conn.execute(f"DELETE FROM {table}", ())
    conn.execute("DROP TABLE IF EXISTS wording_counts", ())
    conn.execute(
        "CREATE TEMP TABLE wording_counts AS SELECT coalesce(demand_key, '') AS demand_key, text, "
        "coalesce(category, '') AS category, attributes, substr(created_at, 1, 10) AS day, count(*) AS asks FROM asks "
        "WHERE voided = 0 AND outcome <> 'feedback' "
        "GROUP BY coalesce(demand_key, ''), text, coalesce(category, ''), attributes, substr(created_at, 1, 10)",
        (),
    )
    conn.execute(
        "INSERT INTO demand_wordings (demand_key, text, category, attributes) "
        "SELECT DISTINCT demand_key, text, category, attributes FROM wording_counts",
        (),
    )
    conn.execute(
        "INSERT INTO demand_wording_days (wording_id, day, asks) SELECT w.id, c.day, c.asks FROM wording_counts AS c "
        f"JOIN demand_wordings AS w ON {WORDING_MATCH.format(part='c')}",
        (),
    )
    conn.execute("DROP TABLE wording_counts", ())


def rebuild_chain(conn: Connection) -> None:
    """demand_chain_days (schema 12): demand_days summed over the stores."""
    conn.execute("DELETE FROM demand_chain_days", ())
    conn.execute(
        "INSERT INTO demand_chain_days (day, demand_key, category, outcome, asks, quantity, offered, accepted, declined, "
        "priced, lost_value, effective) SELECT day, demand_key, category, outcome, sum(asks), sum(quantity), sum(offered), "
        "sum(accepted), sum(declined), sum(priced), sum(lost_value), sum(effective) FROM demand_days WHERE asks > 0 "
        "GROUP BY day, demand_key, category, outcome",
        (),
    )


def rebuild_as_of_9(conn: Connection) -> None:
    """The roll-ups HQ's schema 9 holds (its migration runs this), derived from the asks anew."""
    rebuild_daily(conn)
    rebuild_evidence(conn)


def rebuild_daily(conn: Connection) -> None:
    """The three daily roll-ups as HQ's schema 4 made them (its migration runs this), derived from the asks anew."""
    for table in ("demand_days", "substitute_days", "associate_days"):
        conn.execute(f"DELETE FROM {table}", ())
    day = "substr(created_at, 1, 10)"
    conn.execute(
        "INSERT INTO demand_days (day, demand_key, store_id, category, outcome, asks, quantity, offered, accepted, "
        "declined, priced, lost_value) "
        f"SELECT {day}, coalesce(demand_key, ''), store_id, coalesce(category, ''), outcome, count(*), sum(quantity), "
        "count(substitute), sum(CASE WHEN substitute_accepted = 1 THEN 1 ELSE 0 END), "
        "sum(CASE WHEN substitute_accepted = 0 THEN 1 ELSE 0 END), count(lost_value), coalesce(sum(lost_value), 0) "
        f"FROM asks WHERE voided = 0 AND outcome <> 'feedback' GROUP BY {day}, coalesce(demand_key, ''), store_id, coalesce(category, ''), outcome",
        (),
    )
    conn.execute(
        "INSERT INTO substitute_days (day, substitute_key, store_id, offered, accepted, declined, substitute) "
        f"SELECT {day}, lower(substitute), store_id, count(*), sum(CASE WHEN substitute_accepted = 1 THEN 1 ELSE 0 END), "
        "sum(CASE WHEN substitute_accepted = 0 THEN 1 ELSE 0 END), min(substitute) "
        f"FROM asks WHERE voided = 0 AND outcome <> 'feedback' AND substitute IS NOT NULL GROUP BY {day}, lower(substitute), store_id",
        (),
    )
    conn.execute(
        f"INSERT INTO associate_days (day, store_id, associate, asks) SELECT {day}, store_id, associate, count(*) "
        f"FROM asks WHERE voided = 0 AND outcome <> 'feedback' GROUP BY {day}, store_id, associate",
        (),
    )


def rebuild_evidence(conn: Connection) -> None:
    """The hours and customers behind the evidence (schema 9), and demand_days' effective asks from the hours."""
    for table in ("demand_hours", "demand_customers"):
        conn.execute(f"DELETE FROM {table}", ())
    conn.execute(
        "INSERT INTO demand_hours (store_id, terminal_id, hour, demand_key, category, outcome, asks) "
        "SELECT store_id, terminal_id, substr(created_at, 1, 13), coalesce(demand_key, ''), coalesce(category, ''), outcome, "
        "count(*) FROM asks WHERE voided = 0 AND outcome <> 'feedback' "
        "GROUP BY store_id, terminal_id, substr(created_at, 1, 13), coalesce(demand_key, ''), coalesce(category, ''), outcome",
        (),
    )
    conn.execute(
        "INSERT INTO demand_customers (day, demand_key, store_id, category, outcome, customer_id, asks) "
        "SELECT substr(created_at, 1, 10), coalesce(demand_key, ''), store_id, coalesce(category, ''), outcome, customer_id, "
        "count(*) FROM asks WHERE voided = 0 AND outcome <> 'feedback' AND customer_id IS NOT NULL "
        "GROUP BY substr(created_at, 1, 10), coalesce(demand_key, ''), store_id, coalesce(category, ''), outcome, customer_id",
        (),
    )
    conn.execute(
        f"UPDATE demand_days SET effective = h.effective FROM (SELECT substr(hour, 1, 10) AS day, demand_key, store_id, "
        f"category, outcome, sum({weight_sql('asks')}) AS effective FROM demand_hours "
        "GROUP BY substr(hour, 1, 10), demand_key, store_id, category, outcome) AS h "
        "WHERE demand_days.day = h.day AND demand_days.demand_key = h.demand_key AND demand_days.store_id = h.store_id "
        "AND demand_days.category = h.category AND demand_days.outcome = h.outcome",
        (),
    )
