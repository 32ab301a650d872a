"""The schema, as numbered migrations recorded in the file (`schema_migrations`).

A migration is SQL written out once and never edited after it has shipped: a file
made by an old terminal and one made today reach the same schema by the same steps.
Each runs in its own transaction; a file from a newer app is refused, not damaged.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from associate_tui.errors import NewerSchema
from associate_tui.ids import utc_now
from associate_tui.store.connection import Connection


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "asks table",
        (
            """
            CREATE TABLE asks (
                seq INTEGER PRIMARY KEY,
                id TEXT NOT NULL UNIQUE,
                version INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1),
                synced_version INTEGER NOT NULL DEFAULT 0 CHECK (synced_version >= 0),
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                store_id TEXT NOT NULL,
                terminal_id TEXT NOT NULL,
                associate TEXT NOT NULL,
                channel TEXT NOT NULL,
                text TEXT NOT NULL CHECK (length(text) > 0),
                category TEXT,
                attributes TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(attributes)),
                outcome TEXT NOT NULL,
                substitute TEXT,
                substitute_accepted INTEGER CHECK (substitute_accepted IN (0, 1)),
                quantity INTEGER NOT NULL DEFAULT 1 CHECK (quantity >= 1),
                note TEXT,
                voided INTEGER NOT NULL DEFAULT 0 CHECK (voided IN (0, 1)),
                void_reason TEXT
            )
            """,
            "CREATE INDEX asks_outcome ON asks (outcome, seq)",
            "CREATE INDEX asks_created ON asks (created_at)",
            # The outbox is the table itself: this partial index keeps "what is
            # pending" cheap however many synced rows pile up behind it.
            "CREATE INDEX asks_pending ON asks (seq) WHERE version > synced_version",
        ),
    ),
    Migration(
        2,
        "full-text search over asks",
        (
            # Ordered by rowid (newest first) with a prefix index, FTS5 answers
            # as-you-type queries in milliseconds at a million rows; ordering
            # by rank would score every match.
            """
            CREATE VIRTUAL TABLE asks_fts USING fts5(
                text, substitute, note,
                content='asks', content_rowid='seq',
                tokenize='unicode61 remove_diacritics 2', prefix='2 3'
            )
            """,
            """
            CREATE TRIGGER asks_fts_insert AFTER INSERT ON asks BEGIN
                INSERT INTO asks_fts (rowid, text, substitute, note)
                VALUES (new.seq, new.text, new.substitute, new.note);
            END
            """,
            """
            CREATE TRIGGER asks_fts_delete AFTER DELETE ON asks BEGIN
                INSERT INTO asks_fts (asks_fts, rowid, text, substitute, note)
                VALUES ('delete', old.seq, old.text, old.substitute, old.note);
            END
            """,
            """
            CREATE TRIGGER asks_fts_update AFTER UPDATE OF text, substitute, note ON asks BEGIN
                INSERT INTO asks_fts (asks_fts, rowid, text, substitute, note)
                VALUES ('delete', old.seq, old.text, old.substitute, old.note);
                INSERT INTO asks_fts (rowid, text, substitute, note)
                VALUES (new.seq, new.text, new.substitute, new.note);
            END
            """,
            "INSERT INTO asks_fts (asks_fts) VALUES ('rebuild')",
        ),
    ),
    Migration(
        3,
        "search index merges off the save path",
        (
            # FTS5 merges index segments inside the INSERT that tips a level over:
            # at a million asks that put 20-140 ms into 1-2% of saves. With
            # automerge off, `Store.tidy()` merges after the screen says "saved"
            # (crisis merges still bound the segment count if tidy never runs).
            "INSERT INTO asks_fts (asks_fts, rank) VALUES ('automerge', 0)",
        ),
    ),
    Migration(
        4,
        "sync: quarantine and sync state",
        (
            # HQ refused this version: keep it out of the outbox until it is
            # edited (a new version), and keep HQ's words to show the associate.
            "ALTER TABLE asks ADD COLUMN quarantined_version INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE asks ADD COLUMN quarantine_code TEXT",
            "ALTER TABLE asks ADD COLUMN quarantine_message TEXT",
            "ALTER TABLE asks ADD COLUMN quarantined_at TEXT",
            "DROP INDEX asks_pending",
            "CREATE INDEX asks_outbox ON asks (seq) WHERE version > synced_version AND version > quarantined_version",
            "CREATE INDEX asks_quarantine ON asks (seq) WHERE quarantined_version = version AND version > synced_version",
            # One row per fact (last success, last error...), shared by the app and
            # `associate sync --watch` running as a service.
            "CREATE TABLE sync_state (key TEXT PRIMARY KEY, value TEXT)",
        ),
    ),
    Migration(
        5,
        "customers, follow-ups, erasures",
        (
            # Erasing a customer deletes their row; their asks stay as anonymous demand.
            "ALTER TABLE asks ADD COLUMN customer_id TEXT REFERENCES customers (id) ON DELETE SET NULL",
            "CREATE INDEX asks_customer ON asks (customer_id) WHERE customer_id IS NOT NULL",
            """
            CREATE TABLE customers (
                seq INTEGER PRIMARY KEY,
                id TEXT NOT NULL UNIQUE,
                version INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1),
                synced_version INTEGER NOT NULL DEFAULT 0,
                quarantined_version INTEGER NOT NULL DEFAULT 0,
                quarantine_code TEXT,
                quarantine_message TEXT,
                quarantined_at TEXT,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                store_id TEXT NOT NULL,
                terminal_id TEXT NOT NULL,
                associate TEXT NOT NULL,
                name TEXT NOT NULL CHECK (length(name) > 0),
                phone TEXT,
                email TEXT,
                customer_number TEXT,
                consent_follow_up INTEGER NOT NULL DEFAULT 0 CHECK (consent_follow_up IN (0, 1)),
                consent_marketing INTEGER NOT NULL DEFAULT 0 CHECK (consent_marketing IN (0, 1)),
                consent_at TEXT,
                consent_wording TEXT,
                preferences TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(preferences)),
                last_activity_at TEXT NOT NULL,
                -- no contact details without a recorded consent
                CHECK ((phone IS NULL AND email IS NULL) OR
                       ((consent_follow_up = 1 OR consent_marketing = 1) AND consent_at IS NOT NULL))
            )
            """,
            "CREATE INDEX customers_outbox ON customers (seq) WHERE version > synced_version AND version > quarantined_version",
            "CREATE INDEX customers_activity ON customers (last_activity_at)",
            """
            CREATE TABLE follow_ups (
                seq INTEGER PRIMARY KEY,
                id TEXT NOT NULL UNIQUE,
                version INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1),
                synced_version INTEGER NOT NULL DEFAULT 0,
                quarantined_version INTEGER NOT NULL DEFAULT 0,
                quarantine_code TEXT,
                quarantine_message TEXT,
                quarantined_at TEXT,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                store_id TEXT NOT NULL,
                terminal_id TEXT NOT NULL,
                associate TEXT NOT NULL,
                ask_id TEXT NOT NULL REFERENCES asks (id),
                customer_id TEXT REFERENCES customers (id) ON DELETE SET NULL,
                assigned_to TEXT,
                due_on TEXT NOT NULL,
                status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done', 'cancelled')),
                result TEXT,
                done_at TEXT,
                done_by TEXT,
                note TEXT
            )
            """,
            "CREATE INDEX follow_ups_open ON follow_ups (due_on) WHERE status = 'open'",
            "CREATE INDEX follow_ups_customer ON follow_ups (customer_id) WHERE customer_id IS NOT NULL",
            "CREATE INDEX follow_ups_outbox ON follow_ups (seq) WHERE version > synced_version AND version > quarantined_version",
            """
            CREATE TABLE erasures (
                seq INTEGER PRIMARY KEY,
                id TEXT NOT NULL UNIQUE,
                version INTEGER NOT NULL DEFAULT 1,
                synced_version INTEGER NOT NULL DEFAULT 0,
                quarantined_version INTEGER NOT NULL DEFAULT 0,
                quarantine_code TEXT,
                quarantine_message TEXT,
                quarantined_at TEXT,
                created_at TEXT NOT NULL,
                store_id TEXT NOT NULL,
                terminal_id TEXT NOT NULL,
                customer_id TEXT NOT NULL,
                reason TEXT NOT NULL CHECK (reason IN ('consent_withdrawn', 'retention'))
            )
            """,
            "CREATE INDEX erasures_outbox ON erasures (seq) WHERE version > synced_version AND version > quarantined_version",
            # What the privacy code did, in words with no personal data in them.
            "CREATE TABLE privacy_log (seq INTEGER PRIMARY KEY, at TEXT NOT NULL, action TEXT NOT NULL, "
            "count INTEGER NOT NULL, detail TEXT NOT NULL)",
        ),
    ),
    Migration(
        6,
        "demand groups and same-as asks",
        (
            # The ask's demand group (schemas/demand.py): the same ask, however it was
            # worded, counted together on the insights screen and offered as "asked before".
            "ALTER TABLE asks ADD COLUMN demand_key TEXT",
            # Logged with one key as the same as an earlier ask (its id).
            "ALTER TABLE asks ADD COLUMN same_as TEXT",
            # demand_key_of (connection.py) uses the taxonomy's vocabulary: open the store with
            # open_store() so every program fills this column as the app would.
            "UPDATE asks SET demand_key = demand_key_of(category, attributes, text)",
            "CREATE INDEX asks_demand ON asks (demand_key, created_at)",
        ),
    ),
    Migration(
        7,
        "search finds the attributes too",
        (
            # `blue` finds an ask tagged colour=blue: the index takes the attributes' JSON as
            # words too (its keys are words like colour and size, harmless to match).
            "DROP TRIGGER asks_fts_insert",
            "DROP TRIGGER asks_fts_delete",
            "DROP TRIGGER asks_fts_update",
            "DROP TABLE asks_fts",
            """
            CREATE VIRTUAL TABLE asks_fts USING fts5(
                text, substitute, note, attributes,
                content='asks', content_rowid='seq',
                tokenize='unicode61 remove_diacritics 2', prefix='2 3'
            )
            """,
            """
            CREATE TRIGGER asks_fts_insert AFTER INSERT ON asks BEGIN
                INSERT INTO asks_fts (rowid, text, substitute, note, attributes)
                VALUES (new.seq, new.text, new.substitute, new.note, new.attributes);
            END
            """,
            """
            CREATE TRIGGER asks_fts_delete AFTER DELETE ON asks BEGIN
                INSERT INTO asks_fts (asks_fts, rowid, text, substitute, note, attributes)
                VALUES ('delete', old.seq, old.text, old.substitute, old.note, old.attributes);
            END
            """,
            """
            CREATE TRIGGER asks_fts_update AFTER UPDATE OF text, substitute, note, attributes ON asks BEGIN
                INSERT INTO asks_fts (asks_fts, rowid, text, substitute, note, attributes)
                VALUES ('delete', old.seq, old.text, old.substitute, old.note, old.attributes);
                INSERT INTO asks_fts (rowid, text, substitute, note, attributes)
                VALUES (new.seq, new.text, new.substitute, new.note, new.attributes);
            END
            """,
            "INSERT INTO asks_fts (asks_fts) VALUES ('rebuild')",
            "INSERT INTO asks_fts (asks_fts, rank) VALUES ('automerge', 0)",
        ),
    ),
    Migration(
        8,
        "HQ's answers, the store's own figures, restocks",
        (
            # HQ's current answer about each demand group, pulled by the sync (responses.py).
            """
            CREATE TABLE hq_responses (
                demand_key TEXT PRIMARY KEY, seq INTEGER NOT NULL, status TEXT NOT NULL, expected_on TEXT,
                note TEXT, available_here INTEGER NOT NULL DEFAULT 0, changed_at TEXT NOT NULL, pulled_at TEXT NOT NULL
            ) WITHOUT ROWID
            """,
            # The store's unmet asks per group, every terminal counted, as HQ last counted them.
            """
            CREATE TABLE store_demand (
                demand_key TEXT PRIMARY KEY, week INTEGER NOT NULL, month INTEGER NOT NULL
            ) WITHOUT ROWID
            """,
            # A group back in stock here: from HQ (available) or marked at the counter ("it came in").
            """
            CREATE TABLE restocks (
                demand_key TEXT PRIMARY KEY, at TEXT NOT NULL, source TEXT NOT NULL CHECK (source IN ('hq', 'store')),
                associate TEXT
            ) WITHOUT ROWID
            """,
            # When a restock made the follow-up due; travels to HQ (won back if bought after).
            "ALTER TABLE follow_ups ADD COLUMN in_stock_at TEXT",
        ),
    ),
    Migration(
        9,
        "feedback: asks rated 1 to 5",
        (
            # Set only on feedback (outcome 'feedback'): what a customer said about a product or service.
            "ALTER TABLE asks ADD COLUMN rating INTEGER CHECK (rating BETWEEN 1 AND 5)",
        ),
    ),
)

LATEST_SCHEMA = MIGRATIONS[-1].version


class Migrations(Connection):
    """Bringing the file up to this app's schema."""

    def schema_version(self) -> int:
        with self._read("read the schema version") as conn:
            return _schema_version(conn)

    def migrate(self, target: int = LATEST_SCHEMA) -> list[int]:
        """Apply the numbered migrations up to `target`, each in its own transaction."""
        applied: list[int] = []
        # A new install's first write makes the file: if that fails (a full disk), say "create", not "upgrade".
        action = "create the database" if self.schema_version() == 0 else "upgrade the database"
        for migration in MIGRATIONS:
            if migration.version > target:
                break
            with self._write(action) as conn:
                # Re-read inside the lock: another process may have just migrated.
                current = _schema_version(conn)
                if current > LATEST_SCHEMA:
                    raise NewerSchema(
                        f"The database {self.path} was written by a newer Associate Terminal "
                        f"(schema {current}; this one knows up to {LATEST_SCHEMA}). "
                        "Upgrade the app (pip install -U associate-terminal)."
                    )
                if migration.version <= current:
                    continue
                _apply(conn, migration)
                applied.append(migration.version)
        return applied


def _schema_version(conn: sqlite3.Connection) -> int:
    exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").fetchone()
    if not exists:
        return 0
    return conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0]


def _apply(conn: sqlite3.Connection, migration: Migration) -> None:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    for statement in migration.statements:
        conn.execute(statement)
    conn.execute(
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
        (migration.version, migration.name, utc_now()),
    )
