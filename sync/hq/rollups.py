"""Daily roll-ups of the asks, which HQ's reports read instead of every ask.

One row per UTC day (or hour) and what a report groups by:
- demand_days: store, demand group, category ('' for none) and outcome; asks, quantity,
  substitutes offered, accepted and declined, asks that gave a price, the value lost, and the
  effective asks (evidence.py): each terminal's asks in one clock hour weighed down, summed;
- demand_hours: the asks behind `effective`, per store, terminal, clock hour, group, category, outcome;
- demand_customers: asks that name a customer, per day, group, store, category, outcome, customer;
- substitute_days: store and substitute (lower case); offered, accepted, declined;
- associate_days: store and associate; asks.
Voided asks count nowhere, nor does feedback (outcome 'feedback': no ask; feedback.py reads it
from the asks). apply_batch adds each stored ask's part and takes away the
part of the version it replaces, in the same transaction; `rebuild` derives them all
from the asks again (after a migration, or when a new taxonomy regroups every ask).
"""

from __future__ import annotations

from collections import defaultdict

from schemas.records import FEEDBACK
from sync.hq.database import Connection
from sync.hq.evidence import weight, weight_sql

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
)

_TABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {  # table: (key columns, summed columns)
    "demand_days": (
        ("day", "demand_key", "store_id", "category", "outcome"),
        ("asks", "quantity", "offered", "accepted", "declined", "priced", "lost_value", "effective"),
    ),
    "substitute_days": (("day", "substitute_key", "store_id"), ("offered", "accepted", "declined")),
    "associate_days": (("day", "store_id", "associate"), ("asks",)),
    "demand_hours": (("store_id", "terminal_id", "hour", "demand_key", "category", "outcome"), ("asks",)),
    "demand_customers": (("day", "demand_key", "store_id", "category", "outcome", "customer_id"), ("asks",)),
}
_EFFECTIVE = _TABLES["demand_days"][1].index("effective")
_HOURS_PER_READ = 400  # under either database's bound parameters per statement

Deltas = dict[tuple[str, tuple], list]
# SQL's lower() on both databases (SQLite, and PostgreSQL's "C" collation) changes only A-Z; so does this.
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def add(deltas: Deltas, ask: tuple, sign: int) -> None:
    """Add (sign 1) or take away (sign -1) one ask's part; `ask` holds the COLUMNS, in order.

    Its effective asks wait for `write`, which alone knows how many asks its hour already holds.
    """
    *daily, terminal, customer = ask
    created_at, store, key, category, outcome, quantity, substitute, substitute_accepted, voided, value, associate = daily
    if voided or outcome == FEEDBACK:
        return
    day, key, category = created_at[:10], key or "", category or ""
    accepted, declined = int(substitute_accepted == 1), int(substitute_accepted == 0)
    _sum(
        deltas,
        "demand_days",
        (day, key, store, category, outcome),
        (1, quantity, int(substitute is not None), accepted, declined, int(value is not None), value or 0.0, 0),
        sign,
    )
    _sum(deltas, "demand_hours", (store, terminal, created_at[:13], key, category, outcome), (1,), sign)
    if customer:
        _sum(deltas, "demand_customers", (day, key, store, category, outcome, customer), (1,), sign)
    _sum(deltas, "associate_days", (day, store, associate), (1,), sign)
    if substitute is not None:
        _sum(
            deltas, "substitute_days", (day, substitute.translate(_ASCII_LOWER), store), (1, accepted, declined), sign, substitute
        )


def _sum(deltas: Deltas, table: str, key: tuple, values: tuple, sign: int, label: str | None = None) -> None:
    total = deltas.get((table, key))
    if total is None:
        deltas[(table, key)] = total = [0] * len(values) + ([label] if label is not None else [])
    for i, value in enumerate(values):
        total[i] += sign * value


def write(conn: Connection, deltas: Deltas) -> None:
    """Apply the summed parts, in key order (so two writers never wait on each other's rows in a cycle).

    The hours are read first: an hour's asks change the day's effective asks by the change of their weight.
    Only the writer of a terminal's asks changes its hours (it holds the terminal's lock), so the read stays true.
    """
    _weigh_hours(conn, deltas)
    for table, (keys, sums) in _TABLES.items():
        rows = sorted((key, total) for (name, key), total in deltas.items() if name == table and any(total[: len(sums)]))
        if not rows:
            continue
        extra = ("substitute",) if table == "substitute_days" else ()
        columns = keys + sums + extra
        assignments = ", ".join(f"{name} = {table}.{name} + excluded.{name}" for name in sums)
        conn.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {assignments}",
            [key + tuple(total) for key, total in rows],
        )


def _weigh_hours(conn: Connection, deltas: Deltas) -> None:
    """Add to each day's effective asks what the changed hours add to it: weight(after) - weight(before)."""
    # (store, terminal): {(hour, group, category, outcome): the change of its asks}
    changed: dict[tuple[str, str], dict[tuple, int]] = defaultdict(dict)
    for (table, key), total in deltas.items():
        if table == "demand_hours" and total[0]:
            changed[key[:2]][key[2:]] = total[0]
    for (store, terminal), slots in sorted(changed.items()):
        hours = sorted({hour for hour, *_ in slots})
        held: dict[tuple, int] = {}
        for start in range(0, len(hours), _HOURS_PER_READ):
            part = hours[start : start + _HOURS_PER_READ]
            sql = (
                "SELECT hour, demand_key, category, outcome, asks FROM demand_hours WHERE store_id = ? AND terminal_id = ? "
                f"AND hour IN ({', '.join('?' * len(part))})"
            )
            held.update(
                ((hour, key, category, outcome), asks)
                for hour, key, category, outcome, asks in conn.execute(sql, [store, terminal, *part])
            )
        for (hour, key, category, outcome), change in slots.items():
            before = held.get((hour, key, category, outcome), 0)
            gained = weight(before + change) - weight(before)
            if gained:
                day = (hour[:10], key, store, category, outcome)
                total = deltas.setdefault(("demand_days", day), [0] * len(_TABLES["demand_days"][1]))
                total[_EFFECTIVE] += gained


def forget_customer(conn: Connection, customer_id: str, store_id: str) -> None:
    """An erased customer's asks no longer name them: their rows leave demand_customers (as a rebuild would find)."""
    conn.execute("DELETE FROM demand_customers WHERE customer_id = ? AND store_id = ?", (customer_id, store_id))


def rebuild(conn: Connection) -> None:
    """Every roll-up, derived from the asks anew."""
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
