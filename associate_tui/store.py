"""The local database: schema, migrations and every query the terminal makes.

The only module on the terminal that speaks SQL. One SQLite file per terminal, in
WAL mode with synchronous=FULL, so a save that returned survives a power cut.
Every write runs in a BEGIN IMMEDIATE transaction: it either lands whole or not
at all, and a second process waits its turn instead of failing.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import sqlite_utils

from associate_tui.asks import Ask, AskDraft, fold_spaces, guarded, in_lines
from associate_tui.customers import Customer, CustomerDraft, FollowUp, Preferences
from associate_tui.customers import guarded as guarded_customer
from associate_tui.errors import (
    AskNotFound,
    CustomerNotFound,
    DiskFull,
    FollowUpNotFound,
    NewerSchema,
    StaleEdit,
    StoreBusy,
    StoreCorrupt,
    StoreError,
    StoreReadOnly,
)
from associate_tui.ids import format_utc, utc_now, uuid7
from schemas.demand import VALUE_ATTRIBUTES, Vocabulary, demand_key, fold, search_words
from schemas.privacy import mask

BUSY_TIMEOUT_MS = 5000


@dataclass(frozen=True)
class SyncStatus:
    """What the status line shows: the outbox and how the last sync went."""

    pending: int
    quarantined: int
    last_success_at: str | None
    last_attempt_at: str | None
    last_error: str | None


@dataclass(frozen=True)
class Quarantined:
    """An ask version HQ refused, with HQ's words; it is not sent again until edited."""

    ask: Ask
    code: str
    message: str
    at: str


@dataclass(frozen=True)
class FollowUpPlan:
    """"Contact me when it comes in", decided on the capture form."""

    due_on: str
    assigned_to: str | None
    note: str | None = None


SIMILAR_DAYS = 30  # "asked before" looks this far back
SIMILAR_CANDIDATES = 400  # newest matching asks that decide which groups are offered


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
            "UPDATE asks SET demand_key = demand_key_of(category, attributes, text)",
            "CREATE INDEX asks_demand ON asks (demand_key, created_at)",
        ),
    ),
)

LATEST_SCHEMA = MIGRATIONS[-1].version

_ASK_COLUMNS = (
    "id, version, synced_version, created_at, updated_at, store_id, terminal_id, associate, "
    "channel, text, category, attributes, outcome, substitute, substitute_accepted, quantity, "
    "note, voided, void_reason, customer_id, same_as"
)
_TOKEN = re.compile(r"\w+", re.UNICODE)
# An ask as the contract's AskRecord (schemas/records.py); synced_version and the
# quarantine columns are the terminal's own bookkeeping and never leave it.
_WIRE_RECORD = (
    "json_object('type', 'ask', 'id', id, 'version', version, 'created_at', created_at, "
    "'updated_at', updated_at, 'store_id', store_id, 'terminal_id', terminal_id, 'associate', associate, "
    "'channel', channel, 'text', text, 'category', category, 'attributes', json(attributes), "
    "'outcome', outcome, 'substitute', substitute, "
    "'substitute_accepted', CASE substitute_accepted WHEN 1 THEN json('true') WHEN 0 THEN json('false') END, "
    "'quantity', quantity, 'note', note, 'voided', json(CASE voided WHEN 1 THEN 'true' ELSE 'false' END), "
    "'void_reason', void_reason, 'customer_id', customer_id, 'same_as', same_as)"
)
_CUSTOMER_RECORD = (
    "json_object('type', 'customer', 'id', id, 'version', version, 'created_at', created_at, "
    "'updated_at', updated_at, 'store_id', store_id, 'terminal_id', terminal_id, 'associate', associate, "
    "'name', name, 'phone', phone, 'email', email, 'customer_number', customer_number, "
    "'consent_follow_up', json(CASE consent_follow_up WHEN 1 THEN 'true' ELSE 'false' END), "
    "'consent_marketing', json(CASE consent_marketing WHEN 1 THEN 'true' ELSE 'false' END), "
    "'consent_at', consent_at, 'consent_wording', consent_wording, 'preferences', json(preferences))"
)
_FOLLOW_UP_RECORD = (
    "json_object('type', 'follow_up', 'id', id, 'version', version, 'created_at', created_at, "
    "'updated_at', updated_at, 'store_id', store_id, 'terminal_id', terminal_id, 'associate', associate, "
    "'ask_id', ask_id, 'customer_id', customer_id, 'assigned_to', assigned_to, 'due_on', due_on, "
    "'status', status, 'result', result, 'done_at', done_at, 'done_by', done_by, 'note', note)"
)
_ERASURE_RECORD = (
    "json_object('type', 'erasure', 'id', id, 'version', version, 'created_at', created_at, "
    "'store_id', store_id, 'terminal_id', terminal_id, 'customer_id', customer_id, 'reason', reason)"
)
# Every table that travels to HQ, in the order a pass sends them: a customer before
# the asks that name them, follow-ups after their asks, erasures last.
_OUTBOX_TABLES: tuple[tuple[str, str], ...] = (
    ("customers", _CUSTOMER_RECORD),
    ("asks", _WIRE_RECORD),
    ("follow_ups", _FOLLOW_UP_RECORD),
    ("erasures", _ERASURE_RECORD),
)
_ANSWER_ORDER = ("asks", *(table for table, _ in _OUTBOX_TABLES if table != "asks"))
_PENDING = "version > synced_version AND version > quarantined_version"
_QUARANTINED = "quarantined_version = version AND version > synced_version"
_OUTBOX_COUNT = "SELECT " + " + ".join(f"(SELECT count(*) FROM {table} WHERE {_PENDING})" for table, _ in _OUTBOX_TABLES)
# pending_records pages with one integer cursor across the tables: table index * 2^48 + seq.
_CURSOR_SPAN = 2**48


def fts_query(text: str) -> str | None:
    """Turn what a person typed into an FTS5 query: every word, as a prefix.

    Only word characters survive, each one quoted, so no FTS5 syntax (quotes,
    NEAR, column filters, a lone '-') typed at the counter can cause an error.
    """
    words = _TOKEN.findall(text)
    if not words:
        return None
    # A one-letter prefix ("b*") matches a large share of all words and is the
    # one query the prefix index cannot answer fast; one letter matches a whole
    # word instead ("size m" finds size M), and prefixes start at two letters.
    return " ".join(f'"{word}"*' if len(word) > 1 else f'"{word}"' for word in words)


class Store:
    """The terminal's SQLite file. Safe to share between threads."""

    def __init__(
        self, path: str | os.PathLike[str], *, migrate_to: int = LATEST_SCHEMA, vocabulary: Vocabulary | None = None
    ):
        self.path = Path(path)
        # The taxonomy's attribute words, so "navy blue" groups with "navy" (demand.py).
        self.vocabulary = vocabulary
        self._lock = threading.RLock()
        with self._translate("open"):
            self._prepare_file()
            conn = sqlite3.connect(
                self.path,
                isolation_level=None,  # we issue BEGIN IMMEDIATE / COMMIT ourselves
                check_same_thread=False,
                timeout=BUSY_TIMEOUT_MS / 1000,
            )
            self.db = sqlite_utils.Database(conn)
            try:
                conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if mode.lower() != "wal":
                    raise StoreError(f"Could not switch {self.path} to WAL mode (got {mode}).")
                conn.execute("PRAGMA synchronous = FULL")
                conn.execute("PRAGMA foreign_keys = ON")
                # Deleted and overwritten content is zeroed in the file, so an erased
                # customer's details do not linger in free pages.
                conn.execute("PRAGMA secure_delete = ON")
                conn.create_function("digits_only", 1, _digits_only, deterministic=True)
                conn.create_function("demand_key_of", 3, self._demand_key_of, deterministic=True)
                self.migrate(migrate_to)
            except BaseException:
                conn.close()
                raise

    # -- lifecycle ---------------------------------------------------------

    def _prepare_file(self) -> None:
        """Make the data folder and file readable by this user only."""
        folder = self.path.parent
        if not folder.exists():
            folder.mkdir(parents=True, mode=0o700)
        if not self.path.exists():
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.close(fd)

    def close(self) -> None:
        with self._lock:
            self.db.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions and errors ---------------------------------------------

    @contextmanager
    def _write(self, action: str) -> Iterator[sqlite3.Connection]:
        """One BEGIN IMMEDIATE transaction, committed on exit, rolled back on error."""
        with self._lock, self._translate(action, title="Not saved"):
            conn = self.db.conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    @contextmanager
    def _read(self, action: str) -> Iterator[sqlite3.Connection]:
        with self._lock, self._translate(action):
            yield self.db.conn

    @contextmanager
    def _translate(self, action: str, *, title: str = "Database") -> Iterator[None]:
        """Turn SQLite's error codes into messages a person at the counter can act on (a failed write: "Not saved")."""
        try:
            yield
        except StoreError:
            raise
        except sqlite3.Error as error:
            problem = self._explain(error, action)
            problem.title = title
            raise problem from error
        except OSError as error:
            raise StoreReadOnly(
                f"Could not {action}: cannot create the data folder or file {self.path} "
                f"({error.strerror}). Check that the folder exists and this user may write to it, "
                "or set ASSOCIATE_DATA_DIR to a folder that is writable.", title=title,
            ) from error

    def _explain(self, error: sqlite3.Error, action: str) -> StoreError:
        name = getattr(error, "sqlite_errorname", "") or ""
        where = f"the database {self.path}"
        if name.startswith("SQLITE_FULL"):
            return DiskFull(
                f"Could not {action}: the disk is full. Nothing was written. "
                "Free some disk space (or call IT), then try again."
            )
        if name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH")):
            return StoreReadOnly(
                f"Could not {action}: {where} cannot be written (the folder or file is read-only "
                "or missing). Nothing was written. Make the data folder writable for this user, "
                "or set ASSOCIATE_DATA_DIR to a writable folder."
            )
        if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
            return StoreCorrupt(
                f"Could not {action}: {where} is damaged or is not an Associate Terminal database. "
                "Nothing was written to it. Keep the file for IT (it may hold asks not yet sent), "
                "move it aside, and start again to begin a new one."
            )
        if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
            return StoreBusy(
                f"Could not {action}: another program has held {where} for more than "
                f"{BUSY_TIMEOUT_MS // 1000} seconds. Nothing was written; try again."
            )
        if name.startswith("SQLITE_IOERR"):
            return StoreError(
                f"Could not {action}: the disk reported an error reading or writing {where} "
                f"({name}). Nothing was written. The disk may be full or failing: call IT."
            )
        return StoreError(f"Could not {action}: {error} ({name or 'sqlite error'}).")

    # -- migrations --------------------------------------------------------

    def schema_version(self) -> int:
        with self._read("read the schema version"):
            return self._schema_version(self.db.conn)

    @staticmethod
    def _schema_version(conn: sqlite3.Connection) -> int:
        exists = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
        ).fetchone()
        if not exists:
            return 0
        return conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0]

    def migrate(self, target: int = LATEST_SCHEMA) -> list[int]:
        """Apply the numbered migrations up to `target`, each in its own transaction."""
        applied: list[int] = []
        for migration in MIGRATIONS:
            if migration.version > target:
                break
            with self._write("upgrade the database") as conn:
                # Re-read inside the lock: another process may have just migrated.
                current = self._schema_version(conn)
                if current > LATEST_SCHEMA:
                    raise NewerSchema(
                        f"The database {self.path} was written by a newer Associate Terminal "
                        f"(schema {current}; this one knows up to {LATEST_SCHEMA}). "
                        "Upgrade the app (pip install -U associate-terminal)."
                    )
                if migration.version <= current:
                    continue
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations ("
                    "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
                )
                for statement in migration.statements:
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (migration.version, migration.name, utc_now()),
                )
                applied.append(migration.version)
        return applied

    # -- asks: writes --------------------------------------------------------

    def add_ask(
        self,
        draft: AskDraft,
        *,
        store_id: str,
        terminal_id: str,
        associate: str,
        customer_id: str | None = None,
        follow_up: FollowUpPlan | None = None,
        same_as: str | None = None,
    ) -> Ask:
        """Save a new ask (version 1, not yet synced), with its follow-up if any, in one commit.

        The draft must already be checked (`asks.checked`): the store keeps
        its data consistent but does not know the taxonomy. Free text passes
        the privacy guard here, whatever screen or command it came from.
        """
        draft = guarded(draft)
        now = utc_now()
        ask_id = uuid7()
        with self._write("save the ask") as conn:
            conn.execute(
                f"INSERT INTO asks ({_ASK_COLUMNS}, demand_key) VALUES "
                "(?, 1, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, NULL, ?, ?, ?)",
                (
                    ask_id,
                    now,
                    now,
                    store_id,
                    terminal_id,
                    associate,
                    draft.channel,
                    draft.text,
                    draft.category,
                    json.dumps(draft.attributes, ensure_ascii=False, sort_keys=True),
                    draft.outcome,
                    draft.substitute,
                    _tristate(draft.substitute_accepted),
                    draft.quantity,
                    draft.note,
                    customer_id,
                    same_as,
                    demand_key(draft.category, draft.attributes, draft.text, self.vocabulary),
                ),
            )
            if customer_id:
                conn.execute("UPDATE customers SET last_activity_at = ? WHERE id = ?", (now, customer_id))
            if follow_up is not None:
                if not customer_id:
                    raise StoreError("A follow-up needs a customer to contact: attach one first (F5).")
                self._add_follow_up(conn, ask_id, customer_id, follow_up, store_id, terminal_id, associate, now)
            return self._get(conn, ask_id)

    def edit_ask(self, ask_id: str, draft: AskDraft, *, expected_version: int | None = None) -> Ask:
        """Replace the editable fields of an ask and bump its version.

        With `expected_version`, refuse (StaleEdit) if someone changed the ask
        since it was opened, rather than silently overwrite their change.
        """
        draft = guarded(draft)
        with self._write("save the change") as conn:
            current = self._get(conn, ask_id)
            self._check_editable(current, expected_version)
            conn.execute(
                "UPDATE asks SET version = version + 1, updated_at = ?, channel = ?, text = ?, "
                "category = ?, attributes = ?, outcome = ?, substitute = ?, "
                "substitute_accepted = ?, quantity = ?, note = ?, demand_key = ? WHERE id = ?",
                (
                    utc_now(),
                    draft.channel,
                    draft.text,
                    draft.category,
                    json.dumps(draft.attributes, ensure_ascii=False, sort_keys=True),
                    draft.outcome,
                    draft.substitute,
                    _tristate(draft.substitute_accepted),
                    draft.quantity,
                    draft.note,
                    demand_key(draft.category, draft.attributes, draft.text, self.vocabulary),
                    ask_id,
                ),
            )
            return self._get(conn, ask_id)

    def void_ask(self, ask_id: str, reason: str, *, expected_version: int | None = None) -> Ask:
        """Mark an ask void with a reason. It stays in the file and is synced as a new version."""
        with self._write("void the ask") as conn:
            current = self._get(conn, ask_id)
            self._check_editable(current, expected_version)
            conn.execute(
                "UPDATE asks SET version = version + 1, updated_at = ?, voided = 1, void_reason = ? "
                "WHERE id = ?",
                (utc_now(), mask(fold_spaces(reason) or "").text, ask_id),
            )
            return self._get(conn, ask_id)

    @staticmethod
    def _check_editable(current: Ask, expected_version: int | None) -> None:
        if current.voided:
            raise StaleEdit(f"This ask was voided ({current.void_reason}); it can no longer be changed.")
        if expected_version is not None and current.version != expected_version:
            raise StaleEdit(
                f"This ask was changed elsewhere since you opened it (now version {current.version}). "
                "Close it and open it again to see the latest."
            )

    def tidy(self, merge_pages: int = 200) -> None:
        """Housekeeping to run after a save has been reported, never before.

        A bounded step of search-index merging, then a passive WAL checkpoint
        (which never waits for readers or writers).
        """
        with self._write("tidy the search index") as conn:
            conn.execute("INSERT INTO asks_fts (asks_fts, rank) VALUES ('merge', ?)", (merge_pages,))
        with self._read("checkpoint the database"):
            self.db.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    # -- asks: reads -------------------------------------------------------

    def get_ask(self, ask_id: str) -> Ask:
        with self._read("read the ask") as conn:
            return self._get(conn, ask_id)

    @staticmethod
    def _get(conn: sqlite3.Connection, ask_id: str) -> Ask:
        row = conn.execute(f"SELECT {_ASK_COLUMNS} FROM asks WHERE id = ?", (ask_id,)).fetchone()
        if row is None:
            raise AskNotFound(f"No ask with id {ask_id} on this terminal.")
        return _ask(row)

    @staticmethod
    def _by_seq(conn: sqlite3.Connection, seq: int) -> Ask:
        return _ask(conn.execute(f"SELECT {_ASK_COLUMNS} FROM asks WHERE seq = ?", (seq,)).fetchone())

    def recent_asks(self, *, query: str = "", outcome: str | None = None, limit: int = 50) -> list[Ask]:
        """Newest first; `query` is full-text over what was asked, substitutes and notes."""
        match = fts_query(query)
        params: list[object] = []
        if match:
            sql = (
                f"SELECT {_prefixed('a')} FROM asks_fts f JOIN asks a ON a.seq = f.rowid "
                "WHERE asks_fts MATCH ?"
            )
            params.append(match)
            order = "f.rowid"
        else:
            sql = f"SELECT {_ASK_COLUMNS} FROM asks a WHERE 1"
            order = "a.seq"
        if outcome:
            sql += " AND a.outcome = ?"
            params.append(outcome)
        sql += f" ORDER BY {order} DESC LIMIT ?"
        params.append(limit)
        with self._read("search the asks") as conn:
            return [_ask(row) for row in conn.execute(sql, params)]

    def count_asks(self) -> int:
        with self._read("count the asks") as conn:
            return conn.execute("SELECT count(*) FROM asks").fetchone()[0]

    def count_pending(self) -> int:
        """Asks with changes waiting to be sent to HQ (not counting quarantined ones)."""
        with self._read("count pending asks") as conn:
            return conn.execute(_OUTBOX_COUNT).fetchone()[0]

    # -- demand: "asked before" and the insights screen ----------------------------

    def _demand_key_of(self, category: str | None, attributes: str, text: str) -> str:
        return demand_key(category, json.loads(attributes or "{}"), text or "", self.vocabulary)

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
            floor = first[0]
            rows = conn.execute(
                "SELECT a.seq, a.demand_key, a.category, a.attributes FROM asks_fts f JOIN asks a ON a.seq = f.rowid "
                "WHERE asks_fts MATCH ? AND f.rowid >= ? AND a.voided = 0 ORDER BY f.rowid DESC LIMIT ?",
                (match, floor, SIMILAR_CANDIDATES),
            ).fetchall()
            groups: dict[str, list] = {}  # key -> [newest seq, matches, category]
            for seq, key, group_category, group_attributes in rows:
                if key in groups:
                    if groups[key][1] > 0:
                        groups[key][1] += 1
                    continue
                held = json.loads(group_attributes)
                if any(fold(held.get(name, "")) != value for name, value in wanted.items()):
                    groups[key] = [seq, -1, group_category]  # another colour, size...: never offered
                else:
                    groups[key] = [seq, 1, group_category]
            ranked = sorted(
                (group for group in groups.items() if group[1][1] > 0),
                key=lambda group: (-group[1][1], group[1][2] != category, -group[1][0]),
            )[:limit]
            found: list[Similar] = []
            for key, (seq, _, _) in ranked:
                outcomes = conn.execute(
                    "SELECT outcome, count(*), sum(created_at >= ?) FROM asks WHERE demand_key = ? AND created_at >= ? "
                    "AND voided = 0 GROUP BY outcome ORDER BY 2 DESC",
                    (week, key, since),
                ).fetchall()
                latest = self._by_seq(conn, seq)
                found.append(Similar(
                    ask=latest, key=key, outcome=outcomes[0][0] if outcomes else latest.outcome,
                    this_week=sum(row[2] for row in outcomes), in_window=sum(row[1] for row in outcomes), days=days,
                ))
        return found

    def insights(
        self, *, since: str, unmet: tuple[str, ...], associate: str | None = None, chart_since: str | None = None,
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
                f"SELECT count(*), coalesce(sum(outcome IN ({marks})), 0) FROM asks WHERE created_at >= ? AND voided = 0",
                (*unmet, since),
            ).fetchone()
            groups = conn.execute(
                f"SELECT demand_key, count(*), sum(quantity), max(seq), count(DISTINCT date(created_at, 'localtime')) {base} "
                "GROUP BY demand_key ORDER BY 2 DESC, 4 DESC LIMIT ?",
                (*params, top),
            ).fetchall()
            top_groups = []
            for key, count, quantity, seq, days in groups:
                latest = self._by_seq(conn, seq)
                top_groups.append(DemandCount(ask=latest, key=key, asks=count, quantity=quantity, days=days))
            categories = conn.execute(
                f"SELECT coalesce(category, ''), count(*) {base} GROUP BY 1 ORDER BY 2 DESC LIMIT ?", (*params, top)
            ).fetchall()
            values = conn.execute(
                "SELECT j.key, j.value, count(*) FROM asks, json_each(asks.attributes) j "
                f"WHERE asks.created_at >= ? AND asks.voided = 0 AND asks.outcome IN ({marks}) "
                "GROUP BY 1, lower(j.value) ORDER BY 3 DESC LIMIT 40",
                params,
            ).fetchall()
            substitutes = conn.execute(
                "SELECT min(substitute), count(*), coalesce(sum(substitute_accepted = 1), 0), "
                "coalesce(sum(substitute_accepted = 0), 0) FROM asks "
                "WHERE created_at >= ? AND voided = 0 AND substitute IS NOT NULL "
                "GROUP BY lower(substitute) ORDER BY 2 DESC LIMIT ?",
                (since, top),
            ).fetchall()
            per_day = conn.execute(
                f"SELECT date(created_at, 'localtime'), count(*) {base} GROUP BY 1 ORDER BY 1",
                (chart_since or since, *unmet),
            ).fetchall()
            feedback = [
                FollowUpFeedback(*conn.execute(
                    "SELECT count(*), coalesce(sum(status = 'done'), 0), "
                    "coalesce(sum(result IN ('reached_bought', 'reached_reserved')), 0), "
                    "coalesce(sum(status = 'open'), 0) FROM follow_ups WHERE created_at >= ? AND (? IS NULL OR associate = ?)",
                    (since, who, who),
                ).fetchone())
                for who in (None, associate)
            ]
        return Insights(
            since=since, asks=total, unmet=unmet_total, groups=top_groups,
            categories=[(code or None, count) for code, count in categories],
            attributes=[(key, value, count) for key, value, count in values],
            substitutes=[(text, offered, accepted, declined) for text, offered, accepted, declined in substitutes],
            per_day=dict(per_day),
            follow_ups=feedback[0],
            mine=feedback[1] if associate else None,
        )

    def adopt_unsynced(self, store_id: str, terminal_id: str) -> dict[str, int]:
        """Move every record HQ has never acknowledged into this store and terminal; how many, by table.

        For enrolment: what was logged before (under the config's DEMO store, or a store
        whose token this terminal no longer holds) would otherwise be refused by HQ for
        ever. Each record moves as a new version, so quarantined ones are sent again.
        Records HQ holds already (synced_version > 0) stay where HQ has them. One transaction.
        """
        now = utc_now()
        adopted: dict[str, int] = {}
        with self._write("adopt the records logged before enrolment") as conn:
            for table, _ in _OUTBOX_TABLES:
                stamp = "" if table == "erasures" else ", updated_at = :now"  # an erasure has no updated_at
                adopted[table] = conn.execute(
                    f"UPDATE {table} SET version = version + 1, store_id = :store, terminal_id = :terminal{stamp} "
                    "WHERE synced_version = 0 AND (store_id != :store OR terminal_id != :terminal)",
                    {"store": store_id, "terminal": terminal_id, "now": now},
                ).rowcount
        return adopted

    def count_pending_elsewhere(self, store_id: str, terminal_id: str) -> int:
        """Pending records logged under another store or terminal than HQ knows this one as."""
        sql = "SELECT " + " + ".join(
            f"(SELECT count(*) FROM {table} WHERE {_PENDING} AND (store_id != ? OR terminal_id != ?))"
            for table, _ in _OUTBOX_TABLES
        )
        with self._read("count pending records") as conn:
            return conn.execute(sql, (store_id, terminal_id) * len(_OUTBOX_TABLES)).fetchone()[0]

    # -- customers -------------------------------------------------------------

    def add_customer(
        self, draft: CustomerDraft, *, store_id: str, terminal_id: str, associate: str, consent_wording: str
    ) -> Customer:
        """Save a checked customer (`customers.checked`); consent is dated now, with its wording version."""
        draft = guarded_customer(draft)
        now = utc_now()
        customer_id = uuid7()
        consented = draft.consent_follow_up or draft.consent_marketing
        with self._write("save the customer") as conn:
            conn.execute(
                f"INSERT INTO customers ({_CUSTOMER_COLUMNS}) VALUES "
                "(?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    customer_id, now, now, store_id, terminal_id, associate, draft.name, draft.phone, draft.email,
                    draft.customer_number, int(draft.consent_follow_up), int(draft.consent_marketing),
                    now if consented else None, consent_wording if consented else None,
                    _preferences_json(draft.preferences), now,
                ),
            )
            return self._get_customer(conn, customer_id)

    def edit_customer(
        self, customer_id: str, draft: CustomerDraft, *, consent_wording: str, expected_version: int | None = None
    ) -> Customer:
        """Change a customer's details, consent or preferences (a new version for HQ).

        A consent given or widened is dated now; with no consent left, phone and
        email must already be empty (`customers.checked` says so).
        """
        draft = guarded_customer(draft)
        now = utc_now()
        with self._write("save the customer") as conn:
            current = self._get_customer(conn, customer_id)
            if expected_version is not None and current.version != expected_version:
                raise StaleEdit("This customer was changed elsewhere since you opened them; open them again.")
            consented = draft.consent_follow_up or draft.consent_marketing
            widened = (draft.consent_follow_up and not current.consent_follow_up) or (
                draft.consent_marketing and not current.consent_marketing
            )
            consent_at = (now if widened or not current.consent_at else current.consent_at) if consented else None
            wording = (consent_wording if widened or not current.consent_wording else current.consent_wording) if consented else None
            conn.execute(
                "UPDATE customers SET version = version + 1, updated_at = ?, name = ?, phone = ?, email = ?, "
                "customer_number = ?, consent_follow_up = ?, consent_marketing = ?, consent_at = ?, "
                "consent_wording = ?, preferences = ?, last_activity_at = ? WHERE id = ?",
                (
                    now, draft.name, draft.phone, draft.email, draft.customer_number, int(draft.consent_follow_up),
                    int(draft.consent_marketing), consent_at, wording, _preferences_json(draft.preferences), now,
                    customer_id,
                ),
            )
            return self._get_customer(conn, customer_id)

    def get_customer(self, customer_id: str) -> Customer:
        with self._read("read the customer") as conn:
            return self._get_customer(conn, customer_id)

    @staticmethod
    def _get_customer(conn: sqlite3.Connection, customer_id: str) -> Customer:
        row = conn.execute(
            f"SELECT {_CUSTOMER_COLUMNS}, synced_version FROM customers WHERE id = ?", (customer_id,)
        ).fetchone()
        if row is None:
            raise CustomerNotFound("That customer is no longer on this terminal (erased or never saved here).")
        return _customer(row)

    def find_customers(self, query: str = "", *, limit: int = 20) -> list[Customer]:
        """Customers whose name, phone, email or customer number matches what was typed; recent first.

        Phone numbers match on their digits, however they were written. A terminal
        holds hundreds or a few thousand customers, so a scan is fast enough.
        """
        words = query.split()
        sql = f"SELECT {_CUSTOMER_COLUMNS}, synced_version FROM customers WHERE 1"
        params: list[object] = []
        for word in words:
            digits = "".join(char for char in word if char.isdigit())
            clause = "(name LIKE ? ESCAPE '\\' OR email LIKE ? ESCAPE '\\' OR customer_number LIKE ? ESCAPE '\\'"
            like = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            params += [like, like, like]
            if len(digits) >= 3:
                clause += " OR digits_only(phone) LIKE ?"
                params.append(f"%{digits}%")
            sql += f" AND {clause})"
        sql += " ORDER BY last_activity_at DESC LIMIT ?"
        params.append(limit)
        with self._read("search the customers") as conn:
            return [_customer(row) for row in conn.execute(sql, params)]

    def erase_customer(self, customer_id: str, *, reason: str = "consent_withdrawn") -> None:
        """Withdrawn consent: remove the customer's details from this terminal, for good.

        In one transaction: an erasure record for HQ, their follow-ups cancelled and
        unlinked (a new version each, so HQ learns it too), their asks unlinked and
        kept as anonymous demand, the customer row deleted. secure_delete zeroes the
        freed bytes; a checkpoint then moves the WAL into the file and truncates it,
        so no copy of their details is left in either.
        """
        with self._write("erase the customer") as conn:
            self._erase(conn, [customer_id], reason)
            conn.execute(
                "INSERT INTO privacy_log (at, action, count, detail) VALUES (?, 'erase', 1, ?)",
                (utc_now(), f"customer erased: {reason.replace('_', ' ')}"),
            )
        self._truncate_wal()

    def _erase(self, conn: sqlite3.Connection, customer_ids: list[str], reason: str) -> None:
        now = utc_now()
        for customer_id in customer_ids:
            customer = self._get_customer(conn, customer_id)
            conn.execute(
                "UPDATE follow_ups SET version = version + 1, updated_at = ?, customer_id = NULL, note = NULL, "
                "status = CASE status WHEN 'open' THEN 'cancelled' ELSE status END WHERE customer_id = ?",
                (now, customer_id),
            )
            conn.execute("DELETE FROM customers WHERE id = ?", (customer_id,))
            conn.execute(
                "INSERT INTO erasures (id, created_at, store_id, terminal_id, customer_id, reason) VALUES (?, ?, ?, ?, ?, ?)",
                (uuid7(), now, customer.store_id, customer.terminal_id, customer_id, reason),
            )

    def _truncate_wal(self) -> None:
        try:
            with self._read("clean up the database file"):
                self.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except StoreError:
            pass  # a reader held the WAL: the next checkpoint overwrites it; secure_delete already zeroed the file

    def purge_expired_customers(self, *, days: int, now: datetime | None = None) -> int:
        """Erase customers with no open follow-up and no activity for `days` days; how many.

        The purge is logged with a count only, never who.
        """
        cutoff = format_utc((now or datetime.now(timezone.utc)) - timedelta(days=days))
        with self._write("purge old customer details") as conn:
            ids = [
                row[0]
                for row in conn.execute(
                    "SELECT id FROM customers c WHERE last_activity_at < ? AND NOT EXISTS "
                    "(SELECT 1 FROM follow_ups f WHERE f.customer_id = c.id AND f.status = 'open')",
                    (cutoff,),
                )
            ]
            if not ids:
                return 0
            self._erase(conn, ids, "retention")
            conn.execute(
                "INSERT INTO privacy_log (at, action, count, detail) VALUES (?, 'retention', ?, ?)",
                (utc_now(), len(ids), f"customers with no activity for {days} days and no open follow-up erased"),
            )
        self._truncate_wal()
        return len(ids)

    def privacy_log(self, limit: int = 50) -> list[tuple[str, str, int, str]]:
        with self._read("read the privacy log") as conn:
            return conn.execute(
                "SELECT at, action, count, detail FROM privacy_log ORDER BY seq DESC LIMIT ?", (limit,)
            ).fetchall()

    def count_customers(self) -> int:
        with self._read("count the customers") as conn:
            return conn.execute("SELECT count(*) FROM customers").fetchone()[0]

    # -- follow-ups ---------------------------------------------------------------

    @staticmethod
    def _add_follow_up(
        conn: sqlite3.Connection, ask_id: str, customer_id: str, plan: FollowUpPlan,
        store_id: str, terminal_id: str, associate: str, now: str,
    ) -> str:
        consent = conn.execute("SELECT consent_follow_up FROM customers WHERE id = ?", (customer_id,)).fetchone()
        if not consent or not consent[0]:
            raise StoreError("This customer has not agreed to be contacted about their ask: record their consent first (F5, then edit).")
        follow_up_id = uuid7()
        conn.execute(
            "INSERT INTO follow_ups (id, created_at, updated_at, store_id, terminal_id, associate, ask_id, "
            "customer_id, assigned_to, due_on, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (follow_up_id, now, now, store_id, terminal_id, associate, ask_id, customer_id, plan.assigned_to,
             plan.due_on, mask(note).text if (note := in_lines(plan.note)) else None),
        )
        return follow_up_id

    def follow_ups(
        self, *, due_by: str | None = None, associate: str | None = None, status: str = "open", limit: int = 200
    ) -> list[FollowUp]:
        """Follow-ups, soonest due first: open ones due by `due_by` (a day), for `associate` or anyone."""
        sql = (
            f"SELECT {_FOLLOW_UP_VIEW} FROM follow_ups f JOIN asks a ON a.id = f.ask_id "
            "LEFT JOIN customers c ON c.id = f.customer_id WHERE f.status = ?"
        )
        params: list[object] = [status]
        if due_by:
            sql += " AND f.due_on <= ?"
            params.append(due_by)
        if associate:
            sql += " AND (f.assigned_to IS NULL OR f.assigned_to = ?)"
            params.append(associate)
        sql += " ORDER BY f.due_on, f.seq LIMIT ?"
        params.append(limit)
        with self._read("read the follow-ups") as conn:
            return [_follow_up(row) for row in conn.execute(sql, params)]

    def get_follow_up(self, follow_up_id: str) -> FollowUp:
        with self._read("read the follow-up") as conn:
            return self._get_follow_up(conn, follow_up_id)

    @staticmethod
    def _get_follow_up(conn: sqlite3.Connection, follow_up_id: str) -> FollowUp:
        row = conn.execute(
            f"SELECT {_FOLLOW_UP_VIEW} FROM follow_ups f JOIN asks a ON a.id = f.ask_id "
            "LEFT JOIN customers c ON c.id = f.customer_id WHERE f.id = ?",
            (follow_up_id,),
        ).fetchone()
        if row is None:
            raise FollowUpNotFound(f"No follow-up {follow_up_id} on this terminal.")
        return _follow_up(row)

    def complete_follow_up(
        self, follow_up_id: str, *, result: str, associate: str, note: str | None = None,
        expected_version: int | None = None,
    ) -> FollowUp:
        """Mark a follow-up done with what came of it (a new version for HQ)."""
        now = utc_now()
        with self._write("save the follow-up") as conn:
            current = self._get_follow_up(conn, follow_up_id)
            self._check_follow_up(current, expected_version)
            conn.execute(
                "UPDATE follow_ups SET version = version + 1, updated_at = ?, status = 'done', result = ?, "
                "done_at = ?, done_by = ?, note = coalesce(?, note) WHERE id = ?",
                (now, result, now, associate, mask(note).text if (note := in_lines(note)) else None, follow_up_id),
            )
            if current.customer_id:
                conn.execute("UPDATE customers SET last_activity_at = ? WHERE id = ?", (now, current.customer_id))
            return self._get_follow_up(conn, follow_up_id)

    def snooze_follow_up(self, follow_up_id: str, *, until: str, expected_version: int | None = None) -> FollowUp:
        """Move an open follow-up's due day (a new version for HQ)."""
        with self._write("snooze the follow-up") as conn:
            current = self._get_follow_up(conn, follow_up_id)
            self._check_follow_up(current, expected_version)
            conn.execute(
                "UPDATE follow_ups SET version = version + 1, updated_at = ?, due_on = ? WHERE id = ?",
                (utc_now(), until, follow_up_id),
            )
            return self._get_follow_up(conn, follow_up_id)

    @staticmethod
    def _check_follow_up(current: FollowUp, expected_version: int | None) -> None:
        if current.status != "open":
            raise StaleEdit(f"This follow-up is already {current.status}.")
        if expected_version is not None and current.version != expected_version:
            raise StaleEdit("This follow-up was changed elsewhere since you opened it; look again.")

    # -- sync: the outbox is the asks table itself ------------------------------

    def pending_records(self, *, after_seq: int = 0, limit: int = 500) -> list[tuple[int, str, int, bytes]]:
        """Records to send to HQ: (cursor, id, version, the wire record as JSON), in sending order.

        `after_seq` is the cursor of the last record taken (0 to start). SQLite writes
        the JSON itself (json_object), so a batch of 500 asks costs about a millisecond
        instead of building 500 Python objects to encode them again.
        """
        rows: list[tuple[int, str, int, bytes]] = []
        with self._read("read the records waiting for HQ") as conn:
            for index, (table, record) in enumerate(_OUTBOX_TABLES):
                base = index * _CURSOR_SPAN
                if after_seq >= base + _CURSOR_SPAN or len(rows) >= limit:
                    continue
                sql = f"SELECT seq, id, version, {record} FROM {table} WHERE {_PENDING} AND seq > ? ORDER BY seq LIMIT ?"
                for seq, record_id, version, body in conn.execute(sql, (max(after_seq - base, 0), limit - len(rows))):
                    rows.append((base + seq, record_id, version, body.encode()))
        return rows

    def apply_results(self, results: list[tuple[str, int, str, str | None, str | None]]) -> None:
        """HQ's answers, (id, version, status, code, message), in one transaction.

        A record is acknowledged only if it still has the version HQ answered for:
        an edit made while the batch was in flight stays pending and is sent again.
        Ids are UUIDs, unique across the record tables.
        """
        now = utc_now()
        acked = [(version, record_id, version) for record_id, version, status, _, _ in results if status != "rejected"]
        refused = [
            (version, code or "rejected", message or "HQ refused this record.", now, record_id, version)
            for record_id, version, status, code, message in results
            if status == "rejected"
        ]
        with self._write("record HQ's answer") as conn:
            # Asks are nearly every answer: look there first, and stop once every
            # answer has found its row (an answer that matches none tries every table).
            for statement, rows in (
                ("UPDATE {} SET synced_version = ? WHERE id = ? AND version = ? AND synced_version < version", acked),
                ("UPDATE {} SET quarantined_version = ?, quarantine_code = ?, quarantine_message = ?, "
                 "quarantined_at = ? WHERE id = ? AND version = ?", refused),
            ):
                unmatched = len(rows)
                for table in _ANSWER_ORDER:
                    if unmatched <= 0:
                        break
                    unmatched -= conn.executemany(statement.format(table), rows).rowcount

    def quarantined(self, limit: int = 500) -> list[Quarantined]:
        """Ask versions HQ refused, newest first, with HQ's message."""
        sql = (
            f"SELECT {_ASK_COLUMNS}, quarantine_code, quarantine_message, quarantined_at FROM asks "
            "WHERE quarantined_version = version AND version > synced_version ORDER BY seq DESC LIMIT ?"
        )
        with self._read("read the quarantine") as conn:
            rows = conn.execute(sql, (limit,)).fetchall()
        return [Quarantined(_ask(row[:-3]), row[-3], row[-2], row[-1]) for row in rows]

    def record_sync(self, *, ok: bool, error: str | None = None) -> None:
        """Remember how the last sync attempt went, for the status line and `associate status`."""
        now = utc_now()
        values = [("last_attempt_at", now)]
        # A sync that went through may still carry a warning (HQ's taxonomy was refused).
        values += [("last_success_at", now), ("last_error", error)] if ok else [("last_error", error)]
        with self._write("record the sync result") as conn:
            conn.executemany("INSERT OR REPLACE INTO sync_state (key, value) VALUES (?, ?)", values)

    def get_sync_value(self, key: str) -> str | None:
        with self._read("read the sync state") as conn:
            row = conn.execute("SELECT value FROM sync_state WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_sync_value(self, key: str, value: str | None) -> None:
        with self._write("record the sync state") as conn:
            conn.execute("INSERT OR REPLACE INTO sync_state (key, value) VALUES (?, ?)", (key, value))

    def sync_status(self) -> SyncStatus:
        with self._read("read the sync status") as conn:
            pending = conn.execute(_OUTBOX_COUNT).fetchone()[0]
            quarantined = conn.execute(
                "SELECT " + " + ".join(f"(SELECT count(*) FROM {table} WHERE {_QUARANTINED})" for table, _ in _OUTBOX_TABLES)
            ).fetchone()[0]
            state = dict(conn.execute("SELECT key, value FROM sync_state").fetchall())
        return SyncStatus(
            pending=pending,
            quarantined=quarantined,
            last_success_at=state.get("last_success_at"),
            last_attempt_at=state.get("last_attempt_at"),
            last_error=state.get("last_error"),
        )

    def iter_asks(self, *, since: str | None = None, batch: int = 1000) -> Iterator[Ask]:
        """Every ask, oldest first, in pages so a million rows never sit in memory."""
        last = 0
        while True:
            sql = f"SELECT seq, {_ASK_COLUMNS} FROM asks WHERE seq > ?"
            params: list[object] = [last]
            if since:
                sql += " AND created_at >= ?"
                params.append(since)
            sql += " ORDER BY seq LIMIT ?"
            params.append(batch)
            with self._read("export the asks") as conn:
                rows = conn.execute(sql, params).fetchall()
            if not rows:
                return
            for row in rows:
                yield _ask(row[1:])
            last = rows[-1][0]


_CUSTOMER_COLUMNS = (
    "id, version, created_at, updated_at, store_id, terminal_id, associate, name, phone, email, "
    "customer_number, consent_follow_up, consent_marketing, consent_at, consent_wording, preferences, last_activity_at"
)
_FOLLOW_UP_VIEW = (
    "f.id, f.version, f.ask_id, f.customer_id, f.associate, f.assigned_to, f.due_on, f.status, f.result, "
    "f.done_at, f.note, a.text, c.name, nullif(trim(coalesce(c.phone, '') || ' / ' || coalesce(c.email, ''), ' /'), ''), "
    "json_extract(c.preferences, '$.contact_channel') || coalesce(', ' || json_extract(c.preferences, '$.contact_time'), '')"
)


def _digits_only(value: str | None) -> str | None:
    return None if value is None else "".join(char for char in value if char.isdigit())


def _preferences_json(preferences: Preferences) -> str:
    return json.dumps(preferences.as_wire(), ensure_ascii=False, sort_keys=True)


def _customer(row: tuple) -> Customer:
    (customer_id, version, created, updated, store_id, terminal_id, associate, name, phone, email, number,
     follow_up, marketing, consent_at, wording, preferences, activity, synced) = row
    return Customer(
        id=customer_id, version=version, synced_version=synced, created_at=created, updated_at=updated,
        store_id=store_id, terminal_id=terminal_id, associate=associate, name=name, phone=phone, email=email,
        customer_number=number, consent_follow_up=bool(follow_up), consent_marketing=bool(marketing),
        consent_at=consent_at, consent_wording=wording, preferences=Preferences.from_wire(json.loads(preferences)),
        last_activity_at=activity,
    )


def _follow_up(row: tuple) -> FollowUp:
    return FollowUp(*row)


def _prefixed(alias: str) -> str:
    return ", ".join(f"{alias}.{name.strip()}" for name in _ASK_COLUMNS.split(","))


def _tristate(value: bool | None) -> int | None:
    return None if value is None else int(value)


def _ask(row: tuple) -> Ask:
    (ask_id, version, synced, created, updated, store_id, terminal_id, associate, channel, text,
     category, attributes, outcome, substitute, accepted, quantity, note, voided, void_reason, customer_id,
     same_as) = row
    return Ask(
        id=ask_id,
        version=version,
        synced_version=synced,
        created_at=created,
        updated_at=updated,
        store_id=store_id,
        terminal_id=terminal_id,
        associate=associate,
        channel=channel,
        text=text,
        category=category,
        attributes=json.loads(attributes),
        outcome=outcome,
        substitute=substitute,
        substitute_accepted=None if accepted is None else bool(accepted),
        quantity=quantity,
        note=note,
        voided=bool(voided),
        void_reason=void_reason,
        customer_id=customer_id,
        same_as=same_as,
    )
