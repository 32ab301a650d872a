"""HQ's database: terminals and their tokens, every ask at its highest version, the taxonomy.

The only module of the HQ service that speaks SQL. SQLite by URL today
(`sqlite:///abs/path.db`); PostgreSQL joins behind the same class later.
A batch is applied in one BEGIN IMMEDIATE transaction and committed before
the service answers, so an answer the terminal received is always true.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import msgspec

from associate_tui.demand import VALUE_ATTRIBUTES, demand_key, lost_value
from associate_tui.privacy import mask, may_hold_sensitive
from schemas.records import AskRecord, CustomerRecord, ErasureRecord, FollowUpRecord, Record, RecordResult, utc_now

BUSY_TIMEOUT_MS = 5000
TOKEN_PREFIX = "at1"
VIEWER_PREFIX = "atv1"
_ID_CHUNK = 900  # SQLite's default limit is 999 bound variables per statement

# Each table's columns are its record type's fields, in the contract's order.
ASK_FIELDS: tuple[str, ...] = AskRecord.__struct_fields__
CUSTOMER_FIELDS: tuple[str, ...] = CustomerRecord.__struct_fields__
FOLLOW_UP_FIELDS: tuple[str, ...] = FollowUpRecord.__struct_fields__
ERASURE_FIELDS: tuple[str, ...] = ErasureRecord.__struct_fields__
_HQ_FIELDS = ("content_hash", "received_at", "batch_id", "clock_skew_ms")

MIGRATIONS: tuple[tuple[int, str, tuple[str, ...]], ...] = (
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
                clock_skew_ms INTEGER NOT NULL
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
                clock_skew_ms INTEGER NOT NULL,
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
            """
            CREATE TABLE customers (
                id TEXT PRIMARY KEY, version INTEGER NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
                store_id TEXT NOT NULL, terminal_id TEXT NOT NULL, associate TEXT NOT NULL, name TEXT NOT NULL,
                phone TEXT, email TEXT, customer_number TEXT, consent_follow_up INTEGER NOT NULL,
                consent_marketing INTEGER NOT NULL, consent_at TEXT, consent_wording TEXT, preferences TEXT NOT NULL,
                content_hash TEXT NOT NULL, received_at TEXT NOT NULL, batch_id TEXT NOT NULL,
                clock_skew_ms INTEGER NOT NULL
            ) WITHOUT ROWID
            """,
            """
            CREATE TABLE follow_ups (
                id TEXT PRIMARY KEY, version INTEGER NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
                store_id TEXT NOT NULL, terminal_id TEXT NOT NULL, associate TEXT NOT NULL, ask_id TEXT NOT NULL,
                customer_id TEXT, assigned_to TEXT, due_on TEXT NOT NULL, status TEXT NOT NULL, result TEXT,
                done_at TEXT, done_by TEXT, note TEXT,
                content_hash TEXT NOT NULL, received_at TEXT NOT NULL, batch_id TEXT NOT NULL,
                clock_skew_ms INTEGER NOT NULL
            ) WITHOUT ROWID
            """,
            "CREATE INDEX follow_ups_store ON follow_ups (store_id, status)",
            "CREATE INDEX follow_ups_customer ON follow_ups (customer_id) WHERE customer_id IS NOT NULL",
            # What is left of an erased customer: their random id, when and why. No personal data.
            """
            CREATE TABLE erasures (
                id TEXT PRIMARY KEY, version INTEGER NOT NULL, created_at TEXT NOT NULL, store_id TEXT NOT NULL,
                terminal_id TEXT NOT NULL, customer_id TEXT NOT NULL, reason TEXT NOT NULL,
                content_hash TEXT NOT NULL, received_at TEXT NOT NULL, batch_id TEXT NOT NULL,
                clock_skew_ms INTEGER NOT NULL
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
            # The ask's demand group (associate_tui/demand.py), computed here with HQ's
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
)
LATEST_SCHEMA = MIGRATIONS[-1][0]


class StorageError(Exception):
    """HQ's database cannot do what was asked; the message says what to do."""


class StorageBusy(StorageError):
    """The database stayed locked past the busy timeout: the client should retry shortly."""


class TerminalExists(StorageError):
    pass


class TerminalNotFound(StorageError):
    pass


@dataclass(frozen=True)
class Terminal:
    store_id: str
    terminal_id: str
    token_id: str
    created_at: str
    last_seen_at: str | None
    revoked_at: str | None


@dataclass(frozen=True)
class Received:
    """One record of a batch as the service hands it over: decoded, or why it was not."""

    record: Record | None
    id: str = ""
    version: int = 0
    problem: str | None = None  # the contract's message when record is None


@dataclass(frozen=True)
class Published:
    etag: str
    body: bytes
    published_at: str | None


def default_url() -> str:
    override = os.environ.get("ASSOCIATE_HQ_DB")
    if override:
        return override
    import platformdirs

    return f"sqlite:///{Path(platformdirs.user_data_dir('associate-hq', appauthor=False)) / 'hq.db'}"


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest() + '"'


def _hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


_content = msgspec.json.Encoder(order="deterministic")


class HQStorage:
    """HQ's SQLite database; one connection per thread (the ASGI app serves from a thread pool)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._grouping: tuple[str, dict] | None = None  # (taxonomy etag, attribute vocabulary)
        self._prepare_file()
        self._migrate()

    @classmethod
    def open(cls, url: str | None = None) -> HQStorage:
        url = url or default_url()
        if url.startswith("sqlite:///"):
            return cls(Path(url[len("sqlite:///"):]).expanduser())
        if url.startswith(("postgresql://", "postgres://")):
            raise StorageError("PostgreSQL is not supported yet by this release; use --db sqlite:///path/to/hq.db.")
        raise StorageError(f"Cannot use the database URL '{url}': use sqlite:///absolute/path/hq.db.")

    def __enter__(self) -> HQStorage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()

    # -- connections and transactions ----------------------------------------

    def _prepare_file(self) -> None:
        folder = self.path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not self.path.exists():
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        except OSError as error:
            raise StorageError(f"Cannot create HQ's database {self.path}: {error.strerror}. Check the folder, or pass --db.") from error

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
                conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = FULL")
                conn.execute("PRAGMA secure_delete = ON")  # an erased customer's bytes are zeroed
                conn.create_function("demand_key_of", 3, self._demand_key_of, deterministic=True)
                conn.create_function("lost_value_of", 2, _lost_value_of, deterministic=True)
            except sqlite3.Error as error:
                raise self._explain(error) from error
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as error:
            raise self._explain(error) from error

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        try:
            yield self._conn()
        except sqlite3.Error as error:
            raise self._explain(error) from error

    def _explain(self, error: sqlite3.Error) -> StorageError:
        name = getattr(error, "sqlite_errorname", "") or ""
        if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
            return StorageBusy("HQ's database is busy; try again in a moment.")
        if name.startswith("SQLITE_FULL"):
            return StorageError(f"HQ's disk is full ({self.path}); nothing was written.")
        return StorageError(f"HQ's database {self.path} failed: {error} ({name or 'sqlite error'}).")

    def _migrate(self) -> None:
        with self._write() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                "applied_at TEXT NOT NULL)"
            )
            current = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0]
            if current > LATEST_SCHEMA:
                raise StorageError(f"HQ's database {self.path} is from a newer associate-hq (schema {current}); upgrade.")
            for version, name, statements in MIGRATIONS:
                if version <= current:
                    continue
                for statement in statements:
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", (version, name, utc_now()))
        if 0 < current < 3:
            self.regroup()  # the asks that arrived before demand groups, grouped with the published taxonomy

    def healthy(self) -> bool:
        try:
            with self._read() as conn:
                conn.execute("SELECT 1").fetchone()
            return True
        except StorageError:
            return False

    # -- terminals and tokens ----------------------------------------------------

    def add_terminal(self, store_id: str, terminal_id: str, *, rotate: bool = False) -> str:
        """A new token for this counter, returned once; only its hash is kept."""
        token_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        now = utc_now()
        with self._write() as conn:
            live = conn.execute(
                "SELECT token_id FROM terminals WHERE store_id = ? AND terminal_id = ? AND revoked_at IS NULL",
                (store_id, terminal_id),
            ).fetchone()
            if live and not rotate:
                raise TerminalExists(
                    f"Terminal {terminal_id} of store {store_id} already has a token ({live[0]}). "
                    "Revoke it first (terminal revoke) or pass --rotate to replace it."
                )
            if live:
                conn.execute("UPDATE terminals SET revoked_at = ? WHERE token_id = ?", (now, live[0]))
            conn.execute(
                "INSERT INTO terminals (token_id, token_hash, store_id, terminal_id, created_at) VALUES (?, ?, ?, ?, ?)",
                (token_id, _hash_secret(secret), store_id, terminal_id, now),
            )
        return f"{TOKEN_PREFIX}_{token_id}_{secret}"

    def authenticate(self, token: str) -> tuple[str, str] | None:
        """(store_id, terminal_id) for a live token, else None. Compared in constant time."""
        prefix, _, rest = token.partition("_")
        token_id, _, secret = rest.partition("_")
        if prefix != TOKEN_PREFIX or not token_id or not secret:
            return None
        with self._read() as conn:
            row = conn.execute(
                "SELECT token_hash, store_id, terminal_id, revoked_at, last_seen_at FROM terminals WHERE token_id = ?",
                (token_id,),
            ).fetchone()
        given = _hash_secret(secret)
        expected = row[0] if row else _hash_secret("no such token")  # same work either way
        if not hmac.compare_digest(given, expected) or row is None or row[3] is not None:
            return None
        self._seen(token_id, row[4])
        return row[1], row[2]

    def _seen(self, token_id: str, last: str | None) -> None:
        now = utc_now()
        if last and last[:16] == now[:16]:
            return  # once a minute is plenty, and spares a write per request
        try:
            with self._write() as conn:
                conn.execute("UPDATE terminals SET last_seen_at = ? WHERE token_id = ?", (now, token_id))
        except StorageBusy:
            pass  # bookkeeping only

    def list_terminals(self) -> list[Terminal]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT store_id, terminal_id, token_id, created_at, last_seen_at, revoked_at FROM terminals "
                "ORDER BY store_id, terminal_id, created_at"
            ).fetchall()
        return [Terminal(*row) for row in rows]

    def revoke(self, store_id: str, terminal_id: str) -> None:
        with self._write() as conn:
            done = conn.execute(
                "UPDATE terminals SET revoked_at = ? WHERE store_id = ? AND terminal_id = ? AND revoked_at IS NULL",
                (utc_now(), store_id, terminal_id),
            ).rowcount
        if not done:
            raise TerminalNotFound(f"Terminal {terminal_id} of store {store_id} has no live token (see terminal list).")

    # -- dashboard viewers ----------------------------------------------------------------

    def add_viewer(self, name: str) -> str:
        """A token for reading /dashboard, returned once; only its hash is kept."""
        token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        with self._write() as conn:
            conn.execute("INSERT INTO viewers VALUES (?, ?, ?, ?, NULL)", (token_id, _hash_secret(secret), name, utc_now()))
        return f"{VIEWER_PREFIX}_{token_id}_{secret}"

    def authenticate_viewer(self, token: str) -> str | None:
        """The viewer's name for a live dashboard token, else None. Compared in constant time."""
        prefix, _, rest = token.partition("_")
        token_id, _, secret = rest.partition("_")
        with self._read() as conn:
            row = conn.execute("SELECT token_hash, name, revoked_at FROM viewers WHERE token_id = ?", (token_id,)).fetchone()
        expected = row[0] if row else _hash_secret("no such token")
        if not hmac.compare_digest(_hash_secret(secret), expected) or prefix != VIEWER_PREFIX or row is None or row[2]:
            return None
        return row[1]

    def list_viewers(self) -> list[tuple[str, str, str | None]]:
        with self._read() as conn:
            return conn.execute("SELECT name, created_at, revoked_at FROM viewers ORDER BY name, created_at").fetchall()

    def revoke_viewer(self, name: str) -> bool:
        with self._write() as conn:
            return conn.execute("UPDATE viewers SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
                                (utc_now(), name)).rowcount > 0

    # -- batches ---------------------------------------------------------------------

    def apply_batch(
        self,
        *,
        store_id: str,
        terminal_id: str,
        batch_id: str,
        sent_at: str,
        received_at: str,
        clock_skew_ms: int,
        records: Sequence[Received],
    ) -> list[RecordResult]:
        """Apply one batch in one transaction; one result per record, in order.

        HQ keeps the highest version of each id. The same id and version again is
        a duplicate if its content is the same, and refused if it is not: what was
        counted is never silently replaced.
        """
        results: list[RecordResult | None] = [None] * len(records)
        by_type: dict[type, list[tuple[int, Record, str]]] = {kind: [] for kind in _TABLES}
        for index, item in enumerate(records):
            record = item.record
            if record is None:
                results[index] = RecordResult(id=item.id, version=item.version, status="rejected", code="invalid",
                                              message=f"This record does not fit the contract: {item.problem}")
            elif record.store_id != store_id or record.terminal_id != terminal_id:
                results[index] = _rejected(record, "wrong_store",
                    f"This {_noun(record)} was logged as store {record.store_id}, terminal {record.terminal_id}, but "
                    f"this token is for store {store_id}, terminal {terminal_id}; a terminal writes only its own records.")
            elif isinstance(record, CustomerRecord) and (record.phone or record.email) and not (
                (record.consent_follow_up or record.consent_marketing) and record.consent_at
            ):
                results[index] = _rejected(record, "no_consent",
                    f"Customer {record.id} carries contact details without a recorded consent; record the customer's "
                    "consent on the terminal or remove the phone and email.")
            else:
                record = _guarded(record)
                by_type[type(record)].append((index, record, _digest(record)))
        accepted = 0
        erased: list[str] = []
        if by_type[AskRecord]:
            self._vocabulary()
        with self._write() as conn:
            for kind, candidates in by_type.items():
                if not candidates:
                    continue
                table, fields = _TABLES[kind]
                extra, extra_fields = (self._ask_group, ("demand_key",)) if kind is AskRecord else (_nothing, ())
                tombstones = self._erased(conn, [r.id for _, r, _ in candidates]) if kind is CustomerRecord else set()
                held = self._held(conn, table, [record.id for _, record, _ in candidates])
                inserts: list[tuple] = []
                updates: list[tuple] = []
                for index, record, digest in candidates:
                    current = held.get(record.id)
                    if current is not None and (current[2], current[3]) != (store_id, terminal_id):
                        results[index] = _rejected(record, "wrong_owner",
                            f"{_noun(record).capitalize()} {record.id} belongs to another terminal at HQ; a terminal "
                            "cannot change another's records.")
                    elif record.id in tombstones:
                        # Erased at HQ already: nothing of this customer is stored again.
                        results[index] = RecordResult(id=record.id, version=record.version, status="stale")
                    elif current is None or current[0] < record.version:
                        row = _row(record) + extra(record) + (digest, received_at, batch_id, clock_skew_ms)
                        (inserts if current is None else updates).append(row)
                        held[record.id] = (record.version, digest, store_id, terminal_id)
                        results[index] = RecordResult(id=record.id, version=record.version, status="accepted")
                        accepted += 1
                        if kind is ErasureRecord:
                            erased.append(record.customer_id)
                    elif current[0] > record.version:
                        results[index] = RecordResult(id=record.id, version=record.version, status="stale")
                    elif current[1] == digest:
                        results[index] = RecordResult(id=record.id, version=record.version, status="duplicate")
                    else:
                        results[index] = _rejected(record, "conflict",
                            f"{_noun(record).capitalize()} {record.id} version {record.version} was already received "
                            f"with different content; edit the {_noun(record)} on the terminal to send a new version.")
                columns = fields + extra_fields + _HQ_FIELDS
                if inserts:
                    conn.executemany(
                        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", inserts
                    )
                if updates:
                    assignments = ", ".join(f"{name} = ?" for name in columns[1:])
                    conn.executemany(
                        f"UPDATE {table} SET {assignments} WHERE id = ?", [row[1:] + (row[0],) for row in updates]
                    )
            linked = {r.customer_id for kind in (AskRecord, FollowUpRecord) for _, r, _ in by_type[kind] if r.customer_id}
            self._scrub(conn, erased + sorted(self._erased(conn, sorted(linked))))
            rejected = sum(1 for r in results if r is not None and r.status == "rejected")
            conn.execute(
                "INSERT OR IGNORE INTO batches VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (batch_id, store_id, terminal_id, sent_at, received_at, clock_skew_ms, len(records), accepted, rejected),
            )
        if erased:
            self._truncate_wal()
        return [r for r in results if r is not None]

    # -- demand groups -------------------------------------------------------------------

    def _vocabulary(self) -> dict:
        """The published taxonomy's attribute words, re-read when a new pack is published."""
        with self._read() as conn:
            row = conn.execute("SELECT etag FROM taxonomy WHERE id = 1").fetchone()
        etag = row[0] if row else ""
        if self._grouping is None or self._grouping[0] != etag:
            self._grouping = (etag, self.taxonomy_pack().vocabulary())
        return self._grouping[1]

    @property
    def _grouping_words(self) -> dict | None:
        """The vocabulary last read by `_vocabulary` (None before the first batch of asks)."""
        return self._grouping[1] if self._grouping else None

    def _ask_group(self, record: AskRecord) -> tuple[str]:
        return (demand_key(record.category, record.attributes, record.text, self._grouping_words),)

    def _demand_key_of(self, category: str | None, attributes: str, text: str) -> str:
        return demand_key(category, json.loads(attributes or "{}"), text or "", self._grouping_words)

    def regroup(self) -> int:
        """Give every ask its group under the published taxonomy (after a new pack is published)."""
        self._vocabulary()
        with self._write() as conn:
            return conn.execute("UPDATE asks SET demand_key = demand_key_of(category, attributes, text)").rowcount

    def taxonomy_pack(self):
        """The published pack, parsed (associate_tui.taxonomy.Taxonomy)."""
        from associate_tui.taxonomy import _decode

        published = self.taxonomy()
        return _decode(published.body.decode("utf-8"), "HQ's published taxonomy")

    @staticmethod
    def _scrub(conn: sqlite3.Connection, customer_ids: list[str]) -> None:
        """Remove every trace of erased customers; their asks and follow-up outcomes stay, unlinked."""
        for customer_id in dict.fromkeys(customer_ids):
            conn.execute("DELETE FROM customers WHERE id = ?", (customer_id,))
            conn.execute("UPDATE asks SET customer_id = NULL WHERE customer_id = ?", (customer_id,))
            conn.execute(
                "UPDATE follow_ups SET customer_id = NULL, note = NULL, "
                "status = CASE status WHEN 'open' THEN 'cancelled' ELSE status END WHERE customer_id = ?",
                (customer_id,),
            )

    def _truncate_wal(self) -> None:
        """Move the WAL into the file and empty it, so erased details are not left in old frames."""
        try:
            with self._read() as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except StorageError:
            pass  # busy readers: the next checkpoint overwrites those frames; secure_delete zeroed the file

    @staticmethod
    def _erased(conn: sqlite3.Connection, customer_ids: list[str]) -> set[str]:
        """Which of these customers HQ holds an erasure for."""
        return {row[0] for row in _select_in(conn, "SELECT customer_id FROM erasures WHERE customer_id IN ({})", customer_ids)}

    @staticmethod
    def _held(conn: sqlite3.Connection, table: str, ids: list[str]) -> dict[str, tuple[int, str, str, str]]:
        sql = f"SELECT id, version, content_hash, store_id, terminal_id FROM {table} WHERE id IN ({{}})"
        return {record_id: tuple(rest) for record_id, *rest in _select_in(conn, sql, ids)}

    # -- reading back ------------------------------------------------------------------

    def count_asks(self) -> int:
        with self._read() as conn:
            return conn.execute("SELECT count(*) FROM asks").fetchone()[0]

    def iter_asks(self, *, since: str | None = None, page: int = 1000) -> Iterator[dict]:
        """Every ask HQ holds (latest version), oldest first by id, in pages."""
        columns = ASK_FIELDS + ("received_at", "clock_skew_ms")
        last = ""
        while True:
            sql = f"SELECT {', '.join(columns)} FROM asks WHERE id > ?"
            params: list[object] = [last]
            if since:
                sql += " AND created_at >= ?"
                params.append(since)
            sql += " ORDER BY id LIMIT ?"
            params.append(page)
            with self._read() as conn:
                rows = conn.execute(sql, params).fetchall()
            if not rows:
                return
            for row in rows:
                item = dict(zip(columns, row))
                item["attributes"] = json.loads(item["attributes"])
                item["voided"] = bool(item["voided"])
                if item["substitute_accepted"] is not None:
                    item["substitute_accepted"] = bool(item["substitute_accepted"])
                yield item
            last = rows[-1][0]

    def follow_up_outcomes(self, *, today: str) -> list[dict]:
        """Per store: follow-ups promised, open, overdue, and what came of the done ones."""
        sql = (
            "SELECT store_id, count(*), "
            "sum(status = 'open'), sum(status = 'open' AND due_on < ?), sum(status = 'cancelled'), "
            "sum(status = 'done'), sum(result = 'reached_bought'), sum(result = 'reached_reserved'), "
            "sum(result = 'reached_not_interested'), sum(result = 'not_reached'), sum(result = 'still_unavailable') "
            "FROM follow_ups GROUP BY store_id ORDER BY store_id"
        )
        names = ("store_id", "follow_ups", "open", "overdue", "cancelled", "done", "reached_bought", "reached_reserved",
                 "reached_not_interested", "not_reached", "still_unavailable")
        with self._read() as conn:
            return [dict(zip(names, row)) for row in conn.execute(sql, (today,))]

    # -- demand reports ------------------------------------------------------------------

    def demand_groups(
        self, *, since: str, until: str, week: str, prev_week: str, unmet: Sequence[str],
        store: str | None = None, category: str | None = None, top: int = 20,
    ) -> list[dict]:
        """Unmet asks per demand group from `since` to `until` (UTC, end excluded), most asked first.

        Each group also has its asks in the 7 days before `until` (`this_week`) and the 7 before
        those (`last_week`), its substitutes and the value lost where asks gave a price.
        """
        lowest = min(since, prev_week)
        marks = ", ".join("?" * len(unmet)) or "NULL"
        in_period = "CASE WHEN created_at >= ? THEN {} ELSE 0 END"
        sql = (
            "SELECT demand_key, "
            f"sum({in_period.format(1)}), sum({in_period.format('quantity')}), "
            "count(DISTINCT CASE WHEN created_at >= ? THEN store_id END), "
            "sum(CASE WHEN created_at >= ? THEN 1 ELSE 0 END), "
            "sum(CASE WHEN created_at >= ? AND created_at < ? THEN 1 ELSE 0 END), "
            f"sum({in_period.format('CASE WHEN substitute IS NOT NULL THEN 1 ELSE 0 END')}), "
            f"sum({in_period.format('CASE WHEN substitute_accepted = 1 THEN 1 ELSE 0 END')}), "
            f"sum({in_period.format('CASE WHEN substitute_accepted = 0 THEN 1 ELSE 0 END')}), "
            f"sum(CASE WHEN created_at >= ? AND ({_GIVES_VALUE}) THEN lost_value_of(attributes, quantity) END) "
            f"FROM asks WHERE created_at >= ? AND created_at < ? AND voided = 0 AND outcome IN ({marks})"
        )
        params: list[object] = [since, since, since, week, prev_week, week, since, since, since, since, lowest, until, *unmet]
        scope, scope_params = _scope(store, category)
        sql += scope
        params += scope_params
        sql += " GROUP BY demand_key HAVING sum(CASE WHEN created_at >= ? THEN 1 ELSE 0 END) > 0 ORDER BY 2 DESC, 4 DESC, 1 LIMIT ?"
        params += [since, top]
        names = ("key", "asks", "quantity", "stores", "this_week", "last_week", "offered", "accepted", "declined", "lost_value")
        with self._read() as conn:
            groups = [dict(zip(names, row)) for row in conn.execute(sql, params)]
            for group in groups:
                examples = conn.execute(
                    "SELECT min(text), count(*), min(category), min(attributes) FROM asks "
                    "WHERE demand_key = ? AND created_at >= ? AND created_at < ? AND voided = 0 "
                    "GROUP BY lower(text) ORDER BY 2 DESC, 1 LIMIT 3",
                    (group["key"], since, until),
                ).fetchall()
                group["examples"] = [text for text, *_ in examples]
                group["category"] = examples[0][2] if examples else None
                attributes = json.loads(examples[0][3]) if examples else {}
                group["attributes"] = {k: v for k, v in attributes.items() if k not in VALUE_ATTRIBUTES}
        return groups

    def unmet_per_day(self, *, since: str, until: str, unmet: Sequence[str], store: str | None = None,
                      category: str | None = None) -> list[tuple[str, int]]:
        """(UTC day, unmet asks) from `since` to `until`."""
        marks = ", ".join("?" * len(unmet)) or "NULL"
        sql = (f"SELECT substr(created_at, 1, 10), count(*) FROM asks WHERE created_at >= ? AND created_at < ? "
               f"AND voided = 0 AND outcome IN ({marks})")
        scope, scope_params = _scope(store, category)
        with self._read() as conn:
            return conn.execute(sql + scope + " GROUP BY 1 ORDER BY 1", [since, until, *unmet, *scope_params]).fetchall()

    def substitutes(self, *, since: str, until: str, store: str | None = None, top: int = 20) -> list[dict]:
        """What was offered instead, how often, and whether customers took it."""
        sql = (
            "SELECT min(substitute), count(*), sum(CASE WHEN substitute_accepted = 1 THEN 1 ELSE 0 END), "
            "sum(CASE WHEN substitute_accepted = 0 THEN 1 ELSE 0 END) FROM asks "
            "WHERE created_at >= ? AND created_at < ? AND voided = 0 AND substitute IS NOT NULL"
        )
        scope, scope_params = _scope(store, None)
        sql += scope + " GROUP BY lower(substitute) ORDER BY 2 DESC, 1 LIMIT ?"
        params: list[object] = [since, until, *scope_params, top]
        with self._read() as conn:
            return [dict(zip(("substitute", "offered", "accepted", "declined"), row)) for row in conn.execute(sql, params)]

    def store_activity(self, *, since: str, until: str, unmet: Sequence[str]) -> list[dict]:
        """Per store: asks, unmet, coded "other", uncategorised, associate-days and the last ask.

        Stores with a live terminal and no ask in the period are listed with zeros.
        """
        marks = ", ".join("?" * len(unmet)) or "NULL"
        sql = (
            f"SELECT store_id, count(*), sum(CASE WHEN outcome IN ({marks}) THEN 1 ELSE 0 END), "
            "sum(CASE WHEN outcome = 'other' THEN 1 ELSE 0 END), sum(CASE WHEN category IS NULL THEN 1 ELSE 0 END), "
            "count(DISTINCT associate || '|' || substr(created_at, 1, 10)), max(created_at) "
            "FROM asks WHERE created_at >= ? AND created_at < ? AND voided = 0 GROUP BY store_id"
        )
        names = ("store_id", "asks", "unmet", "other", "uncategorised", "associate_days", "last_ask_at")
        with self._read() as conn:
            rows = {row[0]: dict(zip(names, row)) for row in conn.execute(sql, (*unmet, since, until))}
            for (store_id,) in conn.execute("SELECT DISTINCT store_id FROM terminals WHERE revoked_at IS NULL"):
                rows.setdefault(store_id, dict(zip(names, (store_id, 0, 0, 0, 0, 0, None))))
            for store_id, row in rows.items():
                if row["last_ask_at"] is None:  # silent in the period: when did it last log?
                    row["last_ask_at"] = conn.execute(
                        "SELECT max(created_at) FROM asks WHERE store_id = ? AND created_at < ?", (store_id, until)
                    ).fetchone()[0]
        return [rows[key] for key in sorted(rows)]

    def count_rows(self, table: str) -> int:
        if table not in ("asks", "customers", "follow_ups", "erasures"):
            raise ValueError(table)
        with self._read() as conn:
            return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]

    # -- the taxonomy ------------------------------------------------------------------

    def publish_taxonomy(self, body: bytes) -> str:
        etag = etag_of(body)
        with self._write() as conn:
            conn.execute("INSERT OR REPLACE INTO taxonomy VALUES (1, ?, ?, ?)", (etag, body, utc_now()))
        self.regroup()  # the new pack's words may group some asks differently
        return etag

    def taxonomy(self) -> Published:
        """The published pack, or the built-in retail pack until one is published."""
        with self._read() as conn:
            row = conn.execute("SELECT etag, body, published_at FROM taxonomy WHERE id = 1").fetchone()
        if row:
            return Published(row[0], bytes(row[1]), row[2])
        body = _builtin_pack()
        return Published(etag_of(body), body, None)


def _builtin_pack() -> bytes:
    from importlib import resources

    return (resources.files("associate_tui") / "packs" / "retail.json").read_bytes()


_TABLES: dict[type, tuple[str, tuple[str, ...]]] = {
    CustomerRecord: ("customers", CUSTOMER_FIELDS),
    AskRecord: ("asks", ASK_FIELDS),
    FollowUpRecord: ("follow_ups", FOLLOW_UP_FIELDS),
    ErasureRecord: ("erasures", ERASURE_FIELDS),
}
_CONVERTED: dict[type, tuple[int, ...]] = {
    kind: tuple(fields.index(name) for name in names)
    for kind, fields, names in (
        (AskRecord, ASK_FIELDS, ("attributes", "substitute_accepted", "voided")),
        (CustomerRecord, CUSTOMER_FIELDS, ("consent_follow_up", "consent_marketing", "preferences")),
        (FollowUpRecord, FOLLOW_UP_FIELDS, ()),
        (ErasureRecord, ERASURE_FIELDS, ()),
    )
}
_NOUNS = {AskRecord: "ask", CustomerRecord: "customer", FollowUpRecord: "follow-up", ErasureRecord: "erasure"}


def _select_in(conn: sqlite3.Connection, sql: str, ids: list[str]) -> Iterator[tuple]:
    """Rows of `sql`, whose `{}` is the IN list, for every id: in chunks under SQLite's bound-variable limit."""
    for start in range(0, len(ids), _ID_CHUNK):
        chunk = ids[start : start + _ID_CHUNK]
        yield from conn.execute(sql.format(", ".join("?" * len(chunk))), chunk)


# Asks whose attributes name a price (or value...): only those pay for lost_value_of's JSON parse.
_GIVES_VALUE = " OR ".join(f"attributes LIKE '%\"{name}\"%'" for name in VALUE_ATTRIBUTES)


def _scope(store: str | None, category: str | None) -> tuple[str, list[object]]:
    """The SQL (and its parameters) that keeps a report to one store and/or a category and those under it."""
    sql, params = "", []
    if store:
        sql += " AND store_id = ?"
        params.append(store)
    if category:
        sql += " AND (category = ? OR category LIKE ?)"
        params += [category, category + ".%"]
    return sql, params


def _nothing(record: Record) -> tuple:
    return ()


def _lost_value_of(attributes: str, quantity: int) -> float | None:
    return lost_value(json.loads(attributes or "{}"), quantity or 1)


def _noun(record: Record) -> str:
    return _NOUNS[type(record)]


def _digest(record: Record) -> str:
    """What makes a version's content, to tell a resend from a reused id.

    An ask's link to its customer is left out: an erasure clears it on both sides
    without a new version, and a resend after that is still the same ask.
    """
    if isinstance(record, AskRecord) and record.customer_id:
        record = msgspec.structs.replace(record, customer_id=None)
    return hashlib.sha256(_content.encode(record)).hexdigest()


def _masked(value: str | None) -> str | None:
    return mask(value).text if value else value


def _guarded(record: Record) -> Record:
    """HQ's own pass of the privacy guard, so an older or faulty terminal cannot leak a card number."""
    replace = msgspec.structs.replace
    if isinstance(record, AskRecord):
        free_text = (record.text, record.substitute or "", record.note or "", record.void_reason or "", *record.attributes.values())
        if not may_hold_sensitive("\n".join(free_text)):
            return record  # most asks: one search instead of a pass per field
        return replace(
            record, text=_masked(record.text), substitute=_masked(record.substitute), note=_masked(record.note),
            void_reason=_masked(record.void_reason),
            attributes={key: _masked(value) for key, value in record.attributes.items()},
        )
    if isinstance(record, CustomerRecord):
        prefs = record.preferences
        return replace(record, name=_masked(record.name), preferences=replace(
            prefs, notes=_masked(prefs.notes), contact_time=_masked(prefs.contact_time)))
    if isinstance(record, FollowUpRecord):
        return replace(record, note=_masked(record.note))
    return record


def _row(record: Record) -> tuple:
    """The record's fields as column values, in its table's column order.

    astuple is one C call; only the few booleans and JSON fields of each type
    are converted in Python (this runs for every record HQ stores).
    """
    values = msgspec.structs.astuple(record)
    positions = _CONVERTED[type(record)]
    if not positions:
        return values
    values = list(values)
    for position in positions:
        values[position] = _sql_value(values[position])
    return tuple(values)


def _sql_value(value: object) -> object:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (dict, list, msgspec.Struct)):
        return _content.encode(value).decode()
    return value


def _rejected(record: Record, code: str, message: str) -> RecordResult:
    return RecordResult(id=record.id, version=record.version, status="rejected", code=code, message=message)
