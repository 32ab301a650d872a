"""The roll-ups folded from the outbox: shortly after a batch commits, in set-based statements.

apply_batch writes its asks' parts (each ask's, and the part of the version it replaces, signed -1;
identical parts as one with their count) to rollup_queue in the batch's own transaction, one row a
batch holding them as a JSON array, so the outbox is as durable as the asks. A fold moves up to
FOLD_BATCHES of those rows, their parts a row each, into a work table of its connection
(rollup_folding), adds them to every roll-up with one INSERT ... SELECT ... ON CONFLICT per table,
and deletes exactly those rows from the outbox, all in one transaction: a fold that dies midway is
rolled back and its rows are still there, and a part is never added twice. Folds take one lock
(FOLD_LOCK, a PostgreSQL advisory lock; SQLite has one writer anyway), so workers fold one at a
time; on PostgreSQL the outbox rows are read FOR UPDATE, so an erasure that clears a customer from
them waits for the fold (rollups.forget_customer).

When: each `serve` worker runs a Folder thread, poked after every batch it answers and woken
every FOLD_EVERY_S anyway, so a committed ask is in the roll-ups within about a second (plus
the fold's own time). On PostgreSQL a Folder that finds another worker folding leaves it to that
one rather than hold a connection waiting (on SQLite the one writer takes folds in turn). The reads of roll-ups (reports, digest, /dashboard, a group's page,
/v1/store-demand) call `catch_up` first, so what they show is exact, never behind.
"""

from __future__ import annotations

import contextlib
import logging
import threading

from sync.hq.database import Connection, Database, StorageError, is_postgres, postgres_ddl, try_lock
from sync.hq.evidence import weight_sql
from sync.hq.rollups import QUEUED, WEEK_SQL, WORDING_MATCH

FOLD_LOCK = "rollups fold"
FOLD_BATCHES = 100  # outbox rows (a batch's parts each, at most 2,000) per fold transaction: bounds its time and size
FOLD_EVERY_S = 1.0  # a worker folds at least this often while asks wait
FOLD_GAP_S = 1.0  # and waits this long after a fold, so the batches of a second fold together (cheaper a row)
FOLD_STATISTICS = 10  # the work tables' ANALYZE samples 3,000 rows (the default, 100, samples 30,000: 0.1-0.2 s a fold)

log = logging.getLogger("associate_hq")

_DAY = "substr(hour, 1, 10)"
_HOUR = "hour"
_DAY_SUMS = ("asks", "quantity", "offered", "accepted", "declined", "priced", "lost_value", "effective")
_DAY_KEY = ("day", "demand_key", "store_id", "category", "outcome")
_HOUR_KEY = ("store_id", "terminal_id", "hour", "demand_key", "category", "outcome")


def _upsert(table: str, keys: tuple[str, ...], sums: tuple[str, ...], select: str, extra: tuple[str, ...] = ()) -> str:
    """INSERT the grouped `select` into `table`, adding its sums to the rows already there."""
    columns = keys + sums + extra
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM ({select}) AS grouped "
        f"WHERE {' OR '.join(f'{name} <> 0' for name in sums)} ORDER BY {', '.join(str(n + 1) for n in range(len(keys)))} "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET "
        + ", ".join(f"{name} = {table}.{name} + excluded.{name}" for name in sums)
    )


def _day_parts() -> str:
    """Each part's figures per day, group, store, category and outcome, and what each changed terminal-hour adds
    to the day's effective asks (read from demand_hours before the fold changes it): what fold_days holds."""
    held, change = "coalesce(h.asks, 0)", "coalesce(h.asks, 0) + d.n"
    joined = " AND ".join(f"h.{name} = d.{name}" for name in _HOUR_KEY)
    parts = (
        f"SELECT {_DAY} AS day, demand_key, store_id, category, outcome, sign AS asks, sign * quantity AS quantity, "
        "CASE WHEN substitute IS NOT NULL THEN sign ELSE 0 END AS offered, "
        "CASE WHEN substitute_accepted = 1 THEN sign ELSE 0 END AS accepted, "
        "CASE WHEN substitute_accepted = 0 THEN sign ELSE 0 END AS declined, "
        "CASE WHEN lost_value IS NOT NULL THEN sign ELSE 0 END AS priced, "
        "sign * coalesce(lost_value, 0.0) AS lost_value, 0 AS effective FROM rollup_folding "
        "UNION ALL "
        "SELECT substr(d.hour, 1, 10), d.demand_key, d.store_id, d.category, d.outcome, "
        f"0, 0, 0, 0, 0, 0, 0.0, ({weight_sql(change)}) - ({weight_sql(held)}) "
        f"FROM (SELECT store_id, terminal_id, {_HOUR} AS hour, demand_key, category, outcome, sum(sign) AS n "
        f"FROM rollup_folding GROUP BY store_id, terminal_id, {_HOUR}, demand_key, category, outcome) AS d "
        f"LEFT JOIN demand_hours AS h ON {joined}"
    )
    return (
        f"INSERT INTO fold_days ({', '.join(_DAY_KEY + _DAY_SUMS)}) "
        f"SELECT {', '.join(_DAY_KEY)}, {', '.join(f'sum({name}) AS {name}' for name in _DAY_SUMS)} FROM ({parts}) AS parts "
        f"GROUP BY {', '.join(_DAY_KEY)}"
    )


# The parts a fold takes, a row each with the seq of the outbox row they came in (rollups.QUEUED after it).
_TYPES = {"sign": "INTEGER", "quantity": "INTEGER", "substitute_accepted": "INTEGER", "lost_value": "REAL"}
_FOLDING = (
    "CREATE TEMP TABLE IF NOT EXISTS rollup_folding (seq BIGINT, "
    + ", ".join(f"{name} {_TYPES.get(name, 'TEXT')}" for name in QUEUED)
    + ")"
)
# The oldest outbox rows, their parts unpacked from the JSON arrays, into rollup_folding (parameter: FOLD_BATCHES).
_CASTS = {"INTEGER": "::integer", "REAL": "::double precision", "TEXT": ""}
_UNPACK_POSTGRES = (
    "INSERT INTO rollup_folding SELECT q.seq, "
    + ", ".join(f"(p->>{n}){_CASTS[_TYPES.get(name, 'TEXT')]}" for n, name in enumerate(QUEUED))
    + " FROM (SELECT seq, parts FROM rollup_queue ORDER BY seq LIMIT ? FOR UPDATE) AS q, jsonb_array_elements(q.parts::jsonb) AS p"
)
_UNPACK_SQLITE = (
    "INSERT INTO rollup_folding SELECT q.seq, "
    + ", ".join(f"json_extract(p.value, '$[{n}]')" for n in range(len(QUEUED)))
    + " FROM (SELECT seq, parts FROM rollup_queue ORDER BY seq LIMIT ?) AS q, json_each(q.parts) AS p"
)


# Work tables of a fold's connection, filled once per fold and read by several roll-ups: fold_days (the
# demand_days change, which demand_chain_days, demand_store_weeks, store_days and store_weeks sum further, so the
# parts are grouped and demand_hours joined once, not five times) and fold_wordings (the parts per wording and day).
_WORK_TABLES = {
    "fold_days": f"SELECT {', '.join(_DAY_KEY + _DAY_SUMS)} FROM demand_days",
    "fold_wordings": "SELECT demand_key, text, category, attributes, day, asks FROM demand_wordings "
    "JOIN demand_wording_days ON wording_id = id",
}
_FILL_WORDINGS = (
    f"INSERT INTO fold_wordings SELECT demand_key, text, category, attributes, {_DAY}, sum(sign) FROM rollup_folding "
    f"WHERE text IS NOT NULL GROUP BY demand_key, text, category, attributes, {_DAY}"
)


def _day_statements() -> tuple[str, ...]:
    """The roll-ups summed from fold_days: per day and store, chain-wide, per week of a month (stores, and pairs)."""
    chain_key = tuple(name for name in _DAY_KEY if name != "store_id")
    uncategorised = "sum(asks) AS asks, sum(CASE WHEN category = '' THEN asks ELSE 0 END) AS uncategorised"
    week = WEEK_SQL.format(day="day")
    return (
        _upsert("demand_days", _DAY_KEY, _DAY_SUMS, "SELECT * FROM fold_days"),
        _upsert(
            "demand_chain_days",
            chain_key,
            _DAY_SUMS,
            f"SELECT {', '.join(chain_key)}, {', '.join(f'sum({name}) AS {name}' for name in _DAY_SUMS)} FROM fold_days "
            f"GROUP BY {', '.join(chain_key)}",
        ),
        _upsert(
            "store_days",
            ("day", "store_id", "outcome"),
            ("asks", "uncategorised"),
            f"SELECT day, store_id, outcome, {uncategorised} FROM fold_days GROUP BY day, store_id, outcome",
        ),
        _upsert(
            "store_weeks",
            ("week", "store_id", "outcome"),
            ("asks", "uncategorised"),
            f"SELECT {week}, store_id, outcome, {uncategorised} FROM fold_days GROUP BY {week}, store_id, outcome",
        ),
        _upsert(
            "demand_store_weeks",
            ("week", "demand_key", "store_id"),
            ("asks",),
            f"SELECT {week}, demand_key, store_id, sum(asks) AS asks, min(category) FROM fold_days "
            f"WHERE outcome IN (SELECT outcome FROM unmet_outcomes) GROUP BY {week}, demand_key, store_id",
            ("category",),
        ),
    )


def _part_statements() -> tuple[str, ...]:
    """The roll-ups read from the parts themselves: hours, customers, associates, substitutes, wordings."""
    accepted = "sum(CASE WHEN substitute_accepted = 1 THEN sign ELSE 0 END)"
    declined = "sum(CASE WHEN substitute_accepted = 0 THEN sign ELSE 0 END)"
    return (
        _upsert(
            "demand_hours",
            _HOUR_KEY,
            ("asks",),
            f"SELECT store_id, terminal_id, {_HOUR}, demand_key, category, outcome, sum(sign) AS asks FROM rollup_folding "
            f"GROUP BY store_id, terminal_id, {_HOUR}, demand_key, category, outcome",
        ),
        _upsert(
            "demand_customers",
            ("day", "demand_key", "store_id", "category", "outcome", "customer_id"),
            ("asks",),
            f"SELECT {_DAY}, demand_key, store_id, category, outcome, customer_id, sum(sign) AS asks FROM rollup_folding "
            f"WHERE customer_id IS NOT NULL GROUP BY {_DAY}, demand_key, store_id, category, outcome, customer_id",
        ),
        _upsert(  # before associate_days changes: the days each associate starts or stops having an ask on
            "associate_weeks",
            ("week", "store_id", "associate"),
            ("days",),
            f"SELECT {WEEK_SQL.format(day='d.day')}, d.store_id, d.associate, sum(CASE WHEN coalesce(a.asks, 0) + d.n > 0 "
            "THEN 1 ELSE 0 END - CASE WHEN coalesce(a.asks, 0) > 0 THEN 1 ELSE 0 END) AS days "
            f"FROM (SELECT {_DAY} AS day, store_id, associate, sum(sign) AS n FROM rollup_folding "
            f"GROUP BY {_DAY}, store_id, associate) AS d LEFT JOIN associate_days AS a "
            "ON a.day = d.day AND a.store_id = d.store_id AND a.associate = d.associate "
            f"GROUP BY {WEEK_SQL.format(day='d.day')}, d.store_id, d.associate",
        ),
        _upsert(
            "associate_days",
            ("day", "store_id", "associate"),
            ("asks",),
            f"SELECT {_DAY}, store_id, associate, sum(sign) AS asks FROM rollup_folding GROUP BY {_DAY}, store_id, associate",
        ),
        _upsert(
            "substitute_days",
            ("day", "substitute_key", "store_id"),
            ("offered", "accepted", "declined"),
            f"SELECT {_DAY}, lower(substitute), store_id, sum(sign) AS offered, {accepted} AS accepted, "
            f"{declined} AS declined, min(substitute) FROM rollup_folding WHERE substitute IS NOT NULL "
            f"GROUP BY {_DAY}, lower(substitute), store_id",
            ("substitute",),
        ),
        # Wordings first seen in this fold, then their asks per day (rollups.WORDING_MATCH).
        "INSERT INTO demand_wordings (demand_key, text, category, attributes) "
        "SELECT DISTINCT demand_key, text, category, attributes FROM fold_wordings AS f "
        f"WHERE NOT EXISTS (SELECT 1 FROM demand_wordings AS w WHERE {WORDING_MATCH.format(part='f')})",
        _upsert(
            "demand_wording_days",
            ("wording_id", "day"),
            ("asks",),
            f"SELECT w.id, f.day, sum(f.asks) AS asks FROM fold_wordings AS f "
            f"JOIN demand_wordings AS w ON {WORDING_MATCH.format(part='f')} GROUP BY w.id, f.day",
        ),
    )


def _statements() -> tuple[str, ...]:
    """The fold's statements once the work tables are filled, in order (demand_hours changes after fold_days read it)."""
    return _day_statements() + _part_statements()


_DAY_PARTS = _day_parts()
_STATEMENTS = _statements()


# The roll-ups later migrations added (schema: tables): a migration before them folds without them.
_ADDED = {15: ("demand_store_weeks",)}


def fold_pending(conn: Connection, *, schema: int | None = None) -> int:
    """Add up to FOLD_BATCHES outbox rows' parts to the roll-ups and remove those rows from the outbox; how many rows.

    The caller holds FOLD_LOCK in the same transaction (`fold`). `schema`: the roll-ups a database at that
    schema holds (a migration's fold), rather than all.
    """
    postgres = is_postgres(conn)
    conn.execute(postgres_ddl(_FOLDING) if postgres else _FOLDING, ())
    conn.execute("DELETE FROM rollup_folding", ())
    conn.execute(_UNPACK_POSTGRES if postgres else _UNPACK_SQLITE, (FOLD_BATCHES,))
    count = conn.execute("SELECT count(DISTINCT seq) FROM rollup_folding", ()).fetchone()[0]
    if not count:
        return 0
    for table, shape in _WORK_TABLES.items():
        conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {table} AS {shape} " + ("WITH NO DATA" if postgres else "WHERE 0"), ())
        conn.execute(f"DELETE FROM {table}", ())
    if postgres:  # a temporary table has no statistics, and the joins need them: a small sample's are enough
        conn.execute(f"SET LOCAL default_statistics_target = {FOLD_STATISTICS}", ())
        conn.execute("ANALYZE rollup_folding", ())
    conn.execute(_DAY_PARTS, ())
    conn.execute(_FILL_WORDINGS, ())
    if postgres:
        conn.execute("ANALYZE fold_days", ())
        conn.execute("ANALYZE fold_wordings", ())
    later = tuple(
        f"INSERT INTO {table} " for version, tables in _ADDED.items() if schema and version > schema for table in tables
    )
    for statement in _STATEMENTS:
        if not statement.startswith(later):  # startswith(()) is False: every statement
            conn.execute(statement, ())
    if postgres:  # seqs may commit out of order: exactly the rows taken
        conn.execute("DELETE FROM rollup_queue WHERE seq IN (SELECT DISTINCT seq FROM rollup_folding)", ())
    else:  # one writer: every seq up to the last taken was taken, and a range is the cheaper delete
        conn.execute("DELETE FROM rollup_queue WHERE seq <= (SELECT max(seq) FROM rollup_folding)", ())
    for table in ("rollup_folding", *_WORK_TABLES):
        conn.execute(f"DELETE FROM {table}", ())
    return int(count)


def fold(db: Database, *, wait: bool = True) -> int:
    """Fold what waits in the outbox, FOLD_BATCHES rows a transaction, until it is empty; the rows folded.

    `wait` False (a worker's Folder): if another worker is folding, leave it to that one, whose fold
    takes these rows too; waiting would only hold a connection (on SQLite, the worker's batches) meanwhile.
    """
    total = 0
    while True:
        folded = db.retrying(fold_pending, [FOLD_LOCK]) if wait else db.retrying(_fold_unless_folding)
        total += folded or 0
        if folded is None or folded < FOLD_BATCHES:
            return total


def _fold_unless_folding(conn: Connection) -> int | None:
    """fold_pending, or None at once if another worker holds FOLD_LOCK."""
    return fold_pending(conn) if try_lock(conn, FOLD_LOCK) else None


def pending(db: Database) -> bool:
    """Whether any ask's part waits in the outbox."""
    with db.read() as conn:
        return conn.execute("SELECT 1 FROM rollup_queue LIMIT 1", ()).fetchone() is not None


def catch_up(db: Database) -> None:
    """Before reading roll-ups: fold what waits, so the figures are exact (one cheap read when nothing does)."""
    if pending(db):
        fold(db)


class Folder:
    """A worker's background fold: soon after each batch it answers (`poke`), and every FOLD_EVERY_S."""

    def __init__(self, db: Database, guard: threading.Lock | None = None) -> None:
        self.db = db
        # On SQLite, held while folding: the worker's own batches wait on it rather than for the one writer.
        # Not on PostgreSQL, where a fold runs on the server and the batches write beside it.
        self._guard = guard or threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="associate-hq-fold", daemon=True)
        self._thread.start()

    def poke(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(FOLD_EVERY_S)
            self._wake.clear()
            self._round()
            self._stop.wait(FOLD_GAP_S)
        self._round(last=True)  # what the worker's last batches queued, before it stops

    def _round(self, *, last: bool = False) -> None:
        guard = self._guard if self.db.kind == "sqlite" else contextlib.nullcontext()
        try:
            with guard:
                if pending(self.db):
                    fold(self.db, wait=last)  # the last round waits for a fold in hand: nothing is left behind
        except StorageError as error:  # the next round tries again; nothing is lost meanwhile
            log.warning("Folding the roll-ups failed (%s); the outbox keeps the asks' parts until the next fold.", error)
