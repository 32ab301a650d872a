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

from schemas.records import AskRecord, RecordResult, utc_now

BUSY_TIMEOUT_MS = 5000
TOKEN_PREFIX = "at1"
_ID_CHUNK = 900  # SQLite's default limit is 999 bound variables per statement

ASK_FIELDS = (
    "id", "version", "created_at", "updated_at", "store_id", "terminal_id", "associate", "channel", "text",
    "category", "attributes", "outcome", "substitute", "substitute_accepted", "quantity", "note", "voided",
    "void_reason",
)
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

    record: AskRecord | None
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
        candidates: list[tuple[int, AskRecord, str]] = []
        for index, item in enumerate(records):
            record = item.record
            if record is None:
                results[index] = RecordResult(id=item.id, version=item.version, status="rejected", code="invalid",
                                              message=f"This ask does not fit the contract: {item.problem}")
            elif record.store_id != store_id or record.terminal_id != terminal_id:
                results[index] = _rejected(record, "wrong_store",
                    f"This ask was logged as store {record.store_id}, terminal {record.terminal_id}, but this token "
                    f"is for store {store_id}, terminal {terminal_id}; a terminal writes only its own asks.")
            else:
                candidates.append((index, record, hashlib.sha256(_content.encode(record)).hexdigest()))
        with self._write() as conn:
            held = self._held(conn, [record.id for _, record, _ in candidates])
            inserts: list[tuple] = []
            updates: list[tuple] = []
            accepted = 0
            for index, record, digest in candidates:
                current = held.get(record.id)
                if current is not None and (current[2], current[3]) != (store_id, terminal_id):
                    results[index] = _rejected(record, "wrong_owner",
                        f"Ask {record.id} belongs to another terminal at HQ; a terminal cannot change another's asks.")
                    continue
                if current is None or current[0] < record.version:
                    row = _row(record) + (digest, received_at, batch_id, clock_skew_ms)
                    (inserts if current is None else updates).append(row)
                    held[record.id] = (record.version, digest, store_id, terminal_id)
                    results[index] = RecordResult(id=record.id, version=record.version, status="accepted")
                    accepted += 1
                elif current[0] > record.version:
                    results[index] = RecordResult(id=record.id, version=record.version, status="stale")
                elif current[1] == digest:
                    results[index] = RecordResult(id=record.id, version=record.version, status="duplicate")
                else:
                    results[index] = _rejected(record, "conflict",
                        f"Ask {record.id} version {record.version} was already received with different content; "
                        "edit the ask on the terminal to send a new version.")
            columns = ASK_FIELDS + _HQ_FIELDS
            if inserts:
                conn.executemany(
                    f"INSERT INTO asks ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", inserts
                )
            if updates:
                assignments = ", ".join(f"{name} = ?" for name in columns[1:])
                conn.executemany(
                    f"UPDATE asks SET {assignments} WHERE id = ?", [row[1:] + (row[0],) for row in updates]
                )
            rejected = sum(1 for r in results if r is not None and r.status == "rejected")
            conn.execute(
                "INSERT OR IGNORE INTO batches VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (batch_id, store_id, terminal_id, sent_at, received_at, clock_skew_ms, len(records), accepted, rejected),
            )
        return [r for r in results if r is not None]

    @staticmethod
    def _held(conn: sqlite3.Connection, ids: list[str]) -> dict[str, tuple[int, str, str, str]]:
        held: dict[str, tuple[int, str, str, str]] = {}
        for start in range(0, len(ids), _ID_CHUNK):
            chunk = ids[start : start + _ID_CHUNK]
            rows = conn.execute(
                f"SELECT id, version, content_hash, store_id, terminal_id FROM asks WHERE id IN ({', '.join('?' * len(chunk))})",
                chunk,
            )
            for ask_id, version, digest, store, terminal in rows:
                held[ask_id] = (version, digest, store, terminal)
        return held

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

    # -- the taxonomy ------------------------------------------------------------------

    def publish_taxonomy(self, body: bytes) -> str:
        etag = etag_of(body)
        with self._write() as conn:
            conn.execute("INSERT OR REPLACE INTO taxonomy VALUES (1, ?, ?, ?)", (etag, body, utc_now()))
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


def _row(record: AskRecord) -> tuple:
    return (
        record.id, record.version, record.created_at, record.updated_at, record.store_id, record.terminal_id,
        record.associate, record.channel, record.text, record.category,
        _content.encode(record.attributes).decode(), record.outcome, record.substitute,
        None if record.substitute_accepted is None else int(record.substitute_accepted), record.quantity,
        record.note, int(record.voided), record.void_reason,
    )


def _rejected(record: AskRecord, code: str, message: str) -> RecordResult:
    return RecordResult(id=record.id, version=record.version, status="rejected", code=code, message=message)
