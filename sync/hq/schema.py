"""HQ's tables, as numbered migrations, and the one command that brings a database up to date.

The statements are SQLite's; `database.postgres_ddl` turns them into PostgreSQL's
(BYTEA for BLOB, byte-order collation for text). A step may also be a function
of the connection, for data that must be computed in Python.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from schemas.demand import VALUE_ATTRIBUTES, lost_value
from schemas.taxonomy import builtin_pack_bytes
from schemas.times import utc_now
from sync.hq import rollups, vault
from sync.hq.database import Connection, Database, StorageError, is_postgres, postgres_ddl

Step = str | Callable[[Connection], None]


def fill_lost_value(conn: Connection) -> None:
    """The lost value of the asks that arrived before it was kept (only asks that name a price)."""
    gives_value = " OR ".join(f"attributes LIKE '%\"{name}\"%'" for name in VALUE_ATTRIBUTES)
    rows = conn.execute(f"SELECT id, attributes, quantity FROM asks WHERE {gives_value}", ()).fetchall()
    values = [(lost_value(json.loads(attributes or "{}"), quantity or 1), ask_id) for ask_id, attributes, quantity in rows]
    if values:
        conn.executemany("UPDATE asks SET lost_value = ? WHERE id = ?", values)


def create_rollup_outbox(conn: Connection) -> None:
    """Each stored ask's part in the roll-ups (and -1 for the part of the version it replaced), written in
    the batch's transaction and numbered as written; fold.py adds them to the roll-ups and deletes them.
    A batch's identical parts (same clock hour, store, terminal, group, outcome, ...) are one row: `sign`
    is their signed count."""
    seq = "seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY" if is_postgres(conn) else "seq INTEGER PRIMARY KEY"
    columns = (
        "sign INTEGER NOT NULL, hour TEXT NOT NULL, store_id TEXT NOT NULL, terminal_id TEXT NOT NULL, "
        "demand_key TEXT NOT NULL, category TEXT NOT NULL, outcome TEXT NOT NULL, quantity INTEGER NOT NULL, "
        "substitute TEXT, substitute_accepted INTEGER, lost_value REAL, associate TEXT NOT NULL, customer_id TEXT"
    )
    statement = f"CREATE TABLE rollup_outbox ({seq}, {columns})"
    conn.execute(postgres_ddl(statement) if is_postgres(conn) else statement, ())


def create_rollup_queue(conn: Connection) -> None:
    """The outbox from schema 16: a batch's parts in the roll-ups as one row (`parts`, a JSON array of
    rollups.QUEUED arrays), numbered as written; fold.py unpacks them, adds them up and deletes the row."""
    seq = "seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY" if is_postgres(conn) else "seq INTEGER PRIMARY KEY"
    statement = f"CREATE TABLE IF NOT EXISTS rollup_queue ({seq}, store_id TEXT NOT NULL, parts TEXT NOT NULL)"
    conn.execute(postgres_ddl(statement) if is_postgres(conn) else statement, ())


def pack_outbox(conn: Connection) -> None:
    """The parts waiting in rollup_outbox (a row each, as schemas 13 to 15 kept them) moved to rollup_queue,
    one row a store, in the order they were written. That table's columns are the parts' own (rollups.QUEUED)."""
    create_rollup_queue(conn)
    by_store: dict[str, list[tuple]] = {}
    store_at = rollups.QUEUED.index("store_id")
    for part in conn.execute(f"SELECT {', '.join(rollups.QUEUED)} FROM rollup_outbox ORDER BY seq", ()).fetchall():
        by_store.setdefault(part[store_at], []).append(tuple(part))
    for store, parts in by_store.items():
        rollups.put_parts(conn, store, parts)
    conn.execute("DELETE FROM rollup_outbox", ())


def create_wordings(conn: Connection) -> None:
    """Each distinct wording of a demand group: its words, category ('' for none) and attributes (JSON), numbered.

    Not unique by an index: attributes may outgrow an index entry; the fold adds a wording only when
    it finds none alike (rollups.WORDING_MATCH), one fold at a time."""
    wording_id = "id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY" if is_postgres(conn) else "id INTEGER PRIMARY KEY"
    statement = (
        f"CREATE TABLE demand_wordings ({wording_id}, demand_key TEXT NOT NULL, text TEXT NOT NULL, "
        "category TEXT NOT NULL, attributes TEXT NOT NULL)"
    )
    index = "CREATE INDEX demand_wordings_group ON demand_wordings (demand_key, text)"
    for sql in (statement, index):
        conn.execute(postgres_ddl(sql) if is_postgres(conn) else sql, ())


def index_unmet_pairs(conn: Connection) -> None:
    """Indexes that hold all a group's stores column reads (schema 14): the day or week, the outcome, the
    (group, store) pair and the asks, so the pairs of a period come from the index alone, not the table's pages.
    PostgreSQL carries the asks beside the key (INCLUDE); SQLite, which has no INCLUDE, as the last key column."""
    for table, period in (("demand_days", "day"), ("demand_weeks", "week")):
        columns = f"{period}, outcome, demand_key, store_id"
        if is_postgres(conn):
            conn.execute(f"CREATE INDEX {table}_pairs ON {table} ({columns}) INCLUDE (asks)", ())
        else:
            conn.execute(f"CREATE INDEX {table}_pairs ON {table} ({columns}, asks)", ())


def create_unmet_pairs(conn: Connection) -> None:
    """Schema 15: the outcomes the published taxonomy counts as unmet, and each (group, store) pair's unmet asks
    per week of a month, whatever the outcome (demand_weeks has a row per outcome): a group's stores over weeks.
    The category is the group's own (its key holds it), kept for a report of one category. PostgreSQL carries the
    asks and category beside the key (INCLUDE), so the pairs of a period come from the index alone; and store_days'
    figures beside its key."""
    include = " INCLUDE (asks, category)" if is_postgres(conn) else ""
    statements = (
        "CREATE TABLE unmet_outcomes (outcome TEXT PRIMARY KEY) WITHOUT ROWID",
        "CREATE TABLE demand_store_weeks (week TEXT NOT NULL, demand_key TEXT NOT NULL, store_id TEXT NOT NULL, "
        f"category TEXT NOT NULL, asks INTEGER NOT NULL, PRIMARY KEY (week, demand_key, store_id){include}) WITHOUT ROWID",
    )
    for sql in statements:
        conn.execute(postgres_ddl(sql) if is_postgres(conn) else sql, ())
    if is_postgres(conn):  # data quality's days at a period's ends from the index alone (SQLite's table is its key)
        conn.execute("CREATE INDEX store_days_sums ON store_days (day, store_id, outcome) INCLUDE (asks, uncategorised)", ())
    rollups.count_as_unmet(conn, published_unmet(conn))


def published_unmet(conn: Connection) -> list[str]:
    """The outcomes the published pack (checked when it was published), or the built-in retail pack, counts as unmet."""
    row = conn.execute("SELECT body FROM taxonomy WHERE id = 1", ()).fetchone()
    pack = json.loads(bytes(row[0]) if row else builtin_pack_bytes("retail"))
    return [outcome["code"] for outcome in pack["outcomes"] if outcome.get("unmet")]


def fold_and_derive_13(conn: Connection) -> None:
    """What waits in the outbox folded (its parts from before 13 carry no words), then schema 13's roll-ups derived.
    The fold reads the outbox as schema 16 keeps it, so the parts move there first (pack_outbox)."""
    from sync.hq.fold import fold_pending

    pack_outbox(conn)
    while fold_pending(conn, schema=13):
        pass
    rollups.rebuild_as_of_13(conn)


# The customers and follow-ups tables as migration 2 made them (and, under another name, as migration 5
# copies their rows into sealed and drops the old ones: an UPDATE would leave the plaintext row versions).
# History, so written out: never derived from today's record types, as ingest's columns are (rows.py).
_CUSTOMERS = """
    CREATE TABLE {} (
        id TEXT PRIMARY KEY, version INTEGER NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
        store_id TEXT NOT NULL, terminal_id TEXT NOT NULL, associate TEXT NOT NULL, name TEXT NOT NULL,
        phone TEXT, email TEXT, customer_number TEXT, consent_follow_up INTEGER NOT NULL,
        consent_marketing INTEGER NOT NULL, consent_at TEXT, consent_wording TEXT, preferences TEXT NOT NULL,
        content_hash TEXT NOT NULL, received_at TEXT NOT NULL, batch_id TEXT NOT NULL,
        clock_skew_ms BIGINT NOT NULL
    ) WITHOUT ROWID
"""
_CUSTOMER_COLUMNS = (
    "id",
    "version",
    "created_at",
    "updated_at",
    "store_id",
    "terminal_id",
    "associate",
    "name",
    "phone",
    "email",
    "customer_number",
    "consent_follow_up",
    "consent_marketing",
    "consent_at",
    "consent_wording",
    "preferences",
    "content_hash",
    "received_at",
    "batch_id",
    "clock_skew_ms",
)
_FOLLOW_UPS = """
    CREATE TABLE {} (
        id TEXT PRIMARY KEY, version INTEGER NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
        store_id TEXT NOT NULL, terminal_id TEXT NOT NULL, associate TEXT NOT NULL, ask_id TEXT NOT NULL,
        customer_id TEXT, assigned_to TEXT, due_on TEXT NOT NULL, status TEXT NOT NULL, result TEXT,
        done_at TEXT, done_by TEXT, note TEXT,
        content_hash TEXT NOT NULL, received_at TEXT NOT NULL, batch_id TEXT NOT NULL,
        clock_skew_ms BIGINT NOT NULL
    ) WITHOUT ROWID
"""
_FOLLOW_UP_COLUMNS = (
    "id",
    "version",
    "created_at",
    "updated_at",
    "store_id",
    "terminal_id",
    "associate",
    "ask_id",
    "customer_id",
    "assigned_to",
    "due_on",
    "status",
    "result",
    "done_at",
    "done_by",
    "note",
    "content_hash",
    "received_at",
    "batch_id",
    "clock_skew_ms",
)
_PAGE = 1000


def seal_personal_fields(conn: Connection) -> None:
    """Seal what HQ already holds of each customer under a new key of their own (vault.py).

    Customers, and follow-ups whose note is about a customer, are copied into new
    tables that never hold the plaintext, and the old tables are dropped: their
    files are emptied when the migration commits (PostgreSQL) or their pages zeroed
    (SQLite's secure_delete). Content hashes become keyed hashes of the same content.
    """
    postgres = is_postgres(conn)
    if postgres:
        # ANALYZE would copy sample keys into pg_statistic, where an erased key would outlive its row.
        conn.execute("ALTER TABLE customer_keys ALTER COLUMN key SET STATISTICS 0", ())
    if conn.execute("SELECT 1 FROM customers LIMIT 1", ()).fetchone():
        _seal_customers(conn, postgres)
    if conn.execute("SELECT 1 FROM follow_ups WHERE customer_id IS NOT NULL AND note IS NOT NULL LIMIT 1", ()).fetchone():
        _seal_follow_up_notes(conn, postgres)


def _seal_customers(conn: Connection, postgres: bool) -> None:
    """Every customer copied with a new key of their own, personal fields sealed and content hash keyed."""
    conn.execute((postgres_ddl if postgres else str)(_CUSTOMERS.format("customers_sealed")), ())
    sealed_at = {column: _CUSTOMER_COLUMNS.index(column) for column in vault.CUSTOMER_COLUMNS}
    hash_at = _CUSTOMER_COLUMNS.index("content_hash")
    insert = f"INSERT INTO customers_sealed VALUES ({', '.join('?' * len(_CUSTOMER_COLUMNS))})"
    last = ""
    while page := conn.execute(
        f"SELECT {', '.join(_CUSTOMER_COLUMNS)} FROM customers WHERE id > ? ORDER BY id LIMIT {_PAGE}", (last,)
    ).fetchall():
        raw = {row[0]: vault.new_key() for row in page}
        conn.executemany("INSERT INTO customer_keys VALUES (?, ?, ?)", [(row[0], row[4], raw[row[0]]) for row in page])
        rows = []
        for row in page:
            key, values = vault.CustomerKey(raw[row[0]]), list(row)
            for column, at in sealed_at.items():
                if values[at] is not None:
                    values[at] = key.seal(values[at], vault.where("customers", column, row[0]))
            values[hash_at] = key.digest(values[hash_at])
            rows.append(tuple(values))
        conn.executemany(insert, rows)
        last = page[-1][0]
    _swap(conn, "customers", postgres, ())


def _seal_follow_up_notes(conn: Connection, postgres: bool) -> None:
    """Every follow-up copied; a note about a customer sealed under that customer's key (made if HQ has none yet)."""
    conn.execute((postgres_ddl if postgres else str)(_FOLLOW_UPS.format("follow_ups_sealed")), ())
    copied = ", ".join("CASE WHEN customer_id IS NULL THEN note END" if c == "note" else c for c in _FOLLOW_UP_COLUMNS)
    conn.execute(f"INSERT INTO follow_ups_sealed SELECT {copied} FROM follow_ups", ())
    last = ""
    while page := conn.execute(
        "SELECT id, customer_id, store_id, note FROM follow_ups WHERE customer_id IS NOT NULL "
        f"AND note IS NOT NULL AND id > ? ORDER BY id LIMIT {_PAGE}",
        (last,),
    ).fetchall():
        named = sorted({(customer_id, store_id) for _, customer_id, store_id, _ in page})
        marks = ", ".join("?" * len(named))
        raw = {
            (customer_id, store_id): bytes(key)
            for customer_id, store_id, key in conn.execute(
                f"SELECT customer_id, store_id, key FROM customer_keys WHERE customer_id IN ({marks})",
                [customer_id for customer_id, _ in named],
            ).fetchall()
        }
        new = {owner: vault.new_key() for owner in named if owner not in raw}
        if new:  # a customer HQ has not received yet: the key waits for them
            conn.executemany("INSERT INTO customer_keys VALUES (?, ?, ?)", [(*owner, key) for owner, key in new.items()])
        keys = {owner: vault.CustomerKey(key) for owner, key in (raw | new).items()}
        conn.executemany(
            "UPDATE follow_ups_sealed SET note = ? WHERE id = ?",
            [
                (keys[customer_id, store_id].seal(note, vault.where("follow_ups", "note", follow_up_id)), follow_up_id)
                for follow_up_id, customer_id, store_id, note in page
            ],
        )
        last = page[-1][0]
    _swap(
        conn,
        "follow_ups",
        postgres,
        (
            "CREATE INDEX follow_ups_store ON follow_ups (store_id, status)",
            "CREATE INDEX follow_ups_customer ON follow_ups (customer_id) WHERE customer_id IS NOT NULL",
        ),
    )


def _swap(conn: Connection, table: str, postgres: bool, indexes: tuple[str, ...]) -> None:
    """Drop `table` and give its sealed copy its name and indexes."""
    conn.execute(f"DROP TABLE {table}", ())
    conn.execute(f"ALTER TABLE {table}_sealed RENAME TO {table}", ())
    if postgres:
        conn.execute(f"ALTER INDEX {table}_sealed_pkey RENAME TO {table}_pkey", ())
    for statement in indexes:
        conn.execute(statement, ())


MIGRATIONS: tuple[tuple[int, str, tuple[Step, ...]], ...] = (
    (
        1,
        "terminals, asks, batches, taxonomy",
        (
            """
            CREATE TABLE terminals (
                token_id TEXT PRIMARY KEY,
                token_hash TEXT NOT NULL,
                store_id TEXT NOT NULL,
                terminal_id TEXT NOT NULL,
                created_at TEXT NOT NULL,
                revoked_at TEXT,
                last_seen_at TEXT
            )
            """,
            # One live token per counter; revoked ones stay for the record.
            "CREATE UNIQUE INDEX terminals_active ON terminals (store_id, terminal_id) WHERE revoked_at IS NULL",
            """
            CREATE TABLE asks (
                id TEXT PRIMARY KEY,
                version INTEGER NOT NULL,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                store_id TEXT NOT NULL,
                terminal_id TEXT NOT NULL,
                associate TEXT NOT NULL,
                channel TEXT NOT NULL,
                text TEXT NOT NULL,
                category TEXT,
                attributes TEXT NOT NULL,
                outcome TEXT NOT NULL,
                substitute TEXT,
                substitute_accepted INTEGER,
                quantity INTEGER NOT NULL,
                note TEXT,
                voided INTEGER NOT NULL,
                void_reason TEXT,
                content_hash TEXT NOT NULL,
                received_at TEXT NOT NULL,
                batch_id TEXT NOT NULL,
                clock_skew_ms BIGINT NOT NULL
            ) WITHOUT ROWID
            """,
            "CREATE INDEX asks_store_created ON asks (store_id, created_at)",
            """
            CREATE TABLE batches (
                batch_id TEXT PRIMARY KEY,
                store_id TEXT NOT NULL,
                terminal_id TEXT NOT NULL,
                sent_at TEXT NOT NULL,
                received_at TEXT NOT NULL,
                clock_skew_ms BIGINT NOT NULL,
                records INTEGER NOT NULL,
                accepted INTEGER NOT NULL,
                rejected INTEGER NOT NULL
            )
            """,
            "CREATE TABLE taxonomy (id INTEGER PRIMARY KEY CHECK (id = 1), etag TEXT NOT NULL, "
            "body BLOB NOT NULL, published_at TEXT NOT NULL)",
        ),
    ),
    (
        2,
        "customers, follow-ups, erasure tombstones",
        (
            "ALTER TABLE asks ADD COLUMN customer_id TEXT",
            "CREATE INDEX asks_customer ON asks (customer_id) WHERE customer_id IS NOT NULL",
            _CUSTOMERS.format("customers"),
            _FOLLOW_UPS.format("follow_ups"),
            "CREATE INDEX follow_ups_store ON follow_ups (store_id, status)",
            "CREATE INDEX follow_ups_customer ON follow_ups (customer_id) WHERE customer_id IS NOT NULL",
            # What is left of an erased customer: their random id, when and why. No personal data.
            """
            CREATE TABLE erasures (
                id TEXT PRIMARY KEY, version INTEGER NOT NULL, created_at TEXT NOT NULL, store_id TEXT NOT NULL,
                terminal_id TEXT NOT NULL, customer_id TEXT NOT NULL, reason TEXT NOT NULL,
                content_hash TEXT NOT NULL, received_at TEXT NOT NULL, batch_id TEXT NOT NULL,
                clock_skew_ms BIGINT NOT NULL
            ) WITHOUT ROWID
            """,
            "CREATE INDEX erasures_customer ON erasures (customer_id)",
        ),
    ),
    (
        3,
        "demand groups, same-as asks, dashboard viewers",
        (
            "ALTER TABLE asks ADD COLUMN same_as TEXT",
            # The ask's demand group (schemas/demand.py), computed here with HQ's
            # published taxonomy so every store's asks add up the same way.
            "ALTER TABLE asks ADD COLUMN demand_key TEXT",
            "CREATE INDEX asks_created ON asks (created_at)",
            "CREATE INDEX asks_demand ON asks (demand_key, created_at)",
            # People at HQ who may read /dashboard; like terminals, only a token's hash is kept.
            """
            CREATE TABLE viewers (
                token_id TEXT PRIMARY KEY, token_hash TEXT NOT NULL, name TEXT NOT NULL,
                created_at TEXT NOT NULL, revoked_at TEXT
            )
            """,
        ),
    ),
    (
        4,
        "daily demand roll-ups, lost value per ask",
        (
            # quantity x price where the ask gave one (schemas.demand.lost_value), kept at ingest.
            "ALTER TABLE asks ADD COLUMN lost_value REAL",
            # Unvoided asks per UTC day, store, demand group, category ('' for none) and outcome: the
            # reports read these instead of every ask. apply_batch keeps them in step in the same
            # transaction as the asks; `rollups.rebuild` derives them from the asks again.
            """
            CREATE TABLE demand_days (
                day TEXT NOT NULL, store_id TEXT NOT NULL, demand_key TEXT NOT NULL, category TEXT NOT NULL,
                outcome TEXT NOT NULL, asks INTEGER NOT NULL, quantity INTEGER NOT NULL, offered INTEGER NOT NULL,
                accepted INTEGER NOT NULL, declined INTEGER NOT NULL, priced INTEGER NOT NULL, lost_value REAL NOT NULL,
                PRIMARY KEY (day, demand_key, store_id, category, outcome)
            ) WITHOUT ROWID
            """,
            "CREATE INDEX demand_days_store ON demand_days (store_id, day)",
            # Substitutes offered per day, store and wording (lower case), with the first wording seen.
            """
            CREATE TABLE substitute_days (
                day TEXT NOT NULL, store_id TEXT NOT NULL, substitute_key TEXT NOT NULL, substitute TEXT NOT NULL,
                offered INTEGER NOT NULL, accepted INTEGER NOT NULL, declined INTEGER NOT NULL,
                PRIMARY KEY (day, substitute_key, store_id)
            ) WITHOUT ROWID
            """,
            # Asks per day, store and associate: the asks per associate-day of the data-quality report.
            """
            CREATE TABLE associate_days (
                day TEXT NOT NULL, store_id TEXT NOT NULL, associate TEXT NOT NULL, asks INTEGER NOT NULL,
                PRIMARY KEY (day, store_id, associate)
            ) WITHOUT ROWID
            """,
            fill_lost_value,
            rollups.rebuild_daily,  # as they were then; migration 9 derives them all again
        ),
    ),
    (
        5,
        "customers' personal fields sealed under a key per customer",
        (
            # One random data key per customer; erasure deletes the row and rewrites this small table,
            # which leaves the customer's sealed fields, wherever their bytes linger, unreadable (vault.py).
            # Keyed by store too: a store's erasure deletes only its own key of that id.
            "CREATE TABLE customer_keys (customer_id TEXT NOT NULL, store_id TEXT NOT NULL, key BLOB NOT NULL, "
            "PRIMARY KEY (customer_id, store_id)) WITHOUT ROWID",
            seal_personal_fields,
        ),
    ),
    (
        6,
        "demand groups' statuses and responses, with their history",
        (
            # Every change of a group's status, numbered by one sequence for all groups (responses.py).
            """
            CREATE TABLE demand_response_history (
                seq BIGINT PRIMARY KEY, demand_key TEXT NOT NULL, status TEXT NOT NULL, expected_on TEXT,
                note TEXT, stores TEXT, changed_by TEXT NOT NULL, changed_at TEXT NOT NULL
            ) WITHOUT ROWID
            """,
            "CREATE INDEX demand_response_history_key ON demand_response_history (demand_key, seq)",
            # The current state, one row per group that is not `new`; `seq` is its last change's.
            """
            CREATE TABLE demand_responses (
                demand_key TEXT PRIMARY KEY, seq BIGINT NOT NULL, status TEXT NOT NULL, expected_on TEXT,
                note TEXT, stores TEXT, changed_by TEXT NOT NULL, changed_at TEXT NOT NULL
            ) WITHOUT ROWID
            """,
            "CREATE UNIQUE INDEX demand_responses_seq ON demand_responses (seq)",
        ),
    ),
    (
        7,
        "dashboard editors, follow-ups woken by a restock",
        (
            # An editor's token may also change a group's status and response from /dashboard.
            "ALTER TABLE viewers ADD COLUMN editor INTEGER NOT NULL DEFAULT 0",
            # When a restock made the follow-up due (FollowUpRecord.in_stock_at): won back if bought after.
            "ALTER TABLE follow_ups ADD COLUMN in_stock_at TEXT",
        ),
    ),
    (
        8,
        "feedback: asks rated 1 to 5",
        (
            # Set only on feedback (outcome 'feedback'): what a customer said about a product or service.
            "ALTER TABLE asks ADD COLUMN rating INTEGER",
            "CREATE INDEX asks_feedback ON asks (created_at) WHERE outcome = 'feedback'",
        ),
    ),
    (
        9,
        "the evidence behind demand groups: asks per terminal-hour, customers named, effective asks per day",
        (
            # Each terminal's asks for a group in a clock hour (YYYY-MM-DDTHH): the burst that counts less
            # (evidence.py). Keyed by store and terminal first: only the terminal's writer changes its rows.
            """
            CREATE TABLE demand_hours (
                store_id TEXT NOT NULL, terminal_id TEXT NOT NULL, hour TEXT NOT NULL, demand_key TEXT NOT NULL,
                category TEXT NOT NULL, outcome TEXT NOT NULL, asks INTEGER NOT NULL,
                PRIMARY KEY (store_id, terminal_id, hour, demand_key, category, outcome)
            ) WITHOUT ROWID
            """,
            # The asks that name a customer, per day and customer: distinct customers per group and period.
            """
            CREATE TABLE demand_customers (
                day TEXT NOT NULL, demand_key TEXT NOT NULL, store_id TEXT NOT NULL, category TEXT NOT NULL,
                outcome TEXT NOT NULL, customer_id TEXT NOT NULL, asks INTEGER NOT NULL,
                PRIMARY KEY (day, demand_key, store_id, category, outcome, customer_id)
            ) WITHOUT ROWID
            """,
            "CREATE INDEX demand_customers_customer ON demand_customers (customer_id, store_id)",
            # The day's asks with each terminal-hour weighed down (evidence.weight), summed: what the rank reads.
            "ALTER TABLE demand_days ADD COLUMN effective INTEGER NOT NULL DEFAULT 0",
            rollups.rebuild_as_of_9,
        ),
    ),
    (
        10,
        "follow-ups a restock woke, by when they were done",
        # The report's follow-ups won back after a restock start here, not from the groups' asks.
        ("CREATE INDEX follow_ups_restocked ON follow_ups (done_at) WHERE in_stock_at IS NOT NULL",),
    ),
    (
        11,
        "the roll-ups' outbox: asks' parts folded after the commit",
        (create_rollup_outbox,),
    ),
    (
        12,
        "chain-wide demand per day: demand_days without the store",
        (
            # What a report without --store reads (51x fewer rows than demand_days at ten million asks);
            # kept by the fold with demand_days, derived from it by rollups.rebuild_chain.
            """
            CREATE TABLE demand_chain_days (
                day TEXT NOT NULL, demand_key TEXT NOT NULL, category TEXT NOT NULL, outcome TEXT NOT NULL,
                asks INTEGER NOT NULL, quantity INTEGER NOT NULL, offered INTEGER NOT NULL, accepted INTEGER NOT NULL,
                declined INTEGER NOT NULL, priced INTEGER NOT NULL, lost_value REAL NOT NULL, effective INTEGER NOT NULL,
                PRIMARY KEY (day, demand_key, category, outcome)
            ) WITHOUT ROWID
            """,
            rollups.rebuild_chain,
        ),
    ),
    (
        13,
        "reports without reading the asks: a group's wordings per day, a store's asks per day",
        (
            # The outbox carries each part's words and attributes, which the wordings roll-up counts.
            "ALTER TABLE rollup_outbox ADD COLUMN text TEXT",
            "ALTER TABLE rollup_outbox ADD COLUMN attributes TEXT",
            create_wordings,
            # A wording's asks per day, every outcome: read by wording, for a group's wordings over a period.
            """
            CREATE TABLE demand_wording_days (
                wording_id INTEGER NOT NULL, day TEXT NOT NULL, asks INTEGER NOT NULL, PRIMARY KEY (wording_id, day)
            ) WITHOUT ROWID
            """,
            # A store's asks per day and outcome, and those without a category: data quality's sums.
            """
            CREATE TABLE store_days (
                day TEXT NOT NULL, store_id TEXT NOT NULL, outcome TEXT NOT NULL, asks INTEGER NOT NULL,
                uncategorised INTEGER NOT NULL, PRIMARY KEY (day, store_id, outcome)
            ) WITHOUT ROWID
            """,
            # The same per week of a month (rollups.WEEK_SQL), for periods of weeks; and demand_days' asks per week,
            # from which a group's stores over weeks are counted.
            """
            CREATE TABLE store_weeks (
                week TEXT NOT NULL, store_id TEXT NOT NULL, outcome TEXT NOT NULL, asks INTEGER NOT NULL,
                uncategorised INTEGER NOT NULL, PRIMARY KEY (week, store_id, outcome)
            ) WITHOUT ROWID
            """,
            """
            CREATE TABLE demand_weeks (
                week TEXT NOT NULL, demand_key TEXT NOT NULL, store_id TEXT NOT NULL, category TEXT NOT NULL,
                outcome TEXT NOT NULL, asks INTEGER NOT NULL, PRIMARY KEY (week, demand_key, store_id, category, outcome)
            ) WITHOUT ROWID
            """,
            # The days in a week of a month that each associate of a store logged an ask on: asks per associate-day.
            """
            CREATE TABLE associate_weeks (
                week TEXT NOT NULL, store_id TEXT NOT NULL, associate TEXT NOT NULL, days INTEGER NOT NULL,
                PRIMARY KEY (week, store_id, associate)
            ) WITHOUT ROWID
            """,
            fold_and_derive_13,
        ),
    ),
    (
        14,
        "indexes that hold a group's stores: the (group, store) pairs of a period without the tables' pages",
        (index_unmet_pairs,),
    ),
    (
        15,
        "each (group, store) pair's unmet asks per week, whatever the outcome: a group's stores over weeks",
        (create_unmet_pairs,),
    ),
    (
        16,
        "the roll-ups' outbox a row per batch; no demand_weeks nor index on the asks' time alone (the reports read neither)",
        (pack_outbox, "DROP TABLE rollup_outbox", "DROP INDEX asks_created", "DROP TABLE demand_weeks"),
    ),
)
LATEST_SCHEMA = MIGRATIONS[-1][0]


def current_version(db: Database) -> int:
    """The schema a database is at: 0 when it holds no HQ tables yet."""
    with db.read() as conn:
        if not db.has_table(conn, "schema_migrations"):
            return 0
        return conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations", ()).fetchone()[0]


def upgrade(db: Database) -> tuple[int, int]:
    """Apply the migrations a database lacks, all in one transaction; (version before, version after).

    On PostgreSQL the transaction holds the exclusive writers' lock, so two
    upgrades at once run one after the other and HQ workers wait for the result.
    """
    ddl = postgres_ddl if db.kind == "postgresql" else str

    def work(conn: Connection) -> int:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
            "applied_at TEXT NOT NULL)",
            (),
        )
        current = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations", ()).fetchone()[0]
        if current > LATEST_SCHEMA:
            raise StorageError(f"HQ's database {db.where} is from a newer associate-hq (schema {current}); upgrade associate-hq.")
        for version, name, steps in MIGRATIONS:
            if version <= current:
                continue
            for step in steps:
                if isinstance(step, str):
                    conn.execute(ddl(step), ())
                else:
                    step(conn)
            conn.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", (version, name, utc_now()))
        if current >= 15:  # a release whose built-in pack counts other outcomes as unmet: the pairs follow it
            rollups.count_as_unmet(conn, published_unmet(conn))
        return current

    before = db.retrying(work, exclusive=True)
    return before, LATEST_SCHEMA
