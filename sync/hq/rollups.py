"""Daily roll-ups of the asks, which HQ's reports read instead of every ask.

Three tables, one row per UTC day and what a report groups by:
- demand_days: store, demand group, category ('' for none) and outcome; asks, quantity,
  substitutes offered, accepted and declined, asks that gave a price and the value lost;
- substitute_days: store and substitute (lower case); offered, accepted, declined;
- associate_days: store and associate; asks.
Voided asks count nowhere, nor does feedback (outcome 'feedback': no ask; feedback.py reads it
from the asks). apply_batch adds each stored ask's part and takes away the
part of the version it replaces, in the same transaction; `rebuild` derives all three
from the asks again (after a migration, or when a new taxonomy regroups every ask).
"""

from __future__ import annotations

from schemas.records import FEEDBACK
from sync.hq.database import Connection

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
)

_TABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {  # table: (key columns, summed columns)
    "demand_days": (
        ("day", "demand_key", "store_id", "category", "outcome"),
        ("asks", "quantity", "offered", "accepted", "declined", "priced", "lost_value"),
    ),
    "substitute_days": (("day", "substitute_key", "store_id"), ("offered", "accepted", "declined")),
    "associate_days": (("day", "store_id", "associate"), ("asks",)),
}

Deltas = dict[tuple[str, tuple], list]
# SQL's lower() on both databases (SQLite, and PostgreSQL's "C" collation) changes only A-Z; so does this.
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def add(deltas: Deltas, ask: tuple, sign: int) -> None:
    """Add (sign 1) or take away (sign -1) one ask's part; `ask` holds the COLUMNS, in order."""
    created_at, store, key, category, outcome, quantity, substitute, substitute_accepted, voided, value, associate = ask
    if voided or outcome == FEEDBACK:
        return
    day = created_at[:10]
    accepted, declined = int(substitute_accepted == 1), int(substitute_accepted == 0)
    _sum(
        deltas,
        "demand_days",
        (day, key or "", store, category or "", outcome),
        (1, quantity, int(substitute is not None), accepted, declined, int(value is not None), value or 0.0),
        sign,
    )
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
    """Apply the summed parts, in key order (so two writers never wait on each other's rows in a cycle)."""
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


def rebuild(conn: Connection) -> None:
    """All three roll-ups, derived from the asks anew."""
    for table in _TABLES:
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
