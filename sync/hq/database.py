"""HQ's two databases behind one face: connections, transactions, locks and their errors.

storage.py writes its SQL once, with `?` placeholders, in the SQL that SQLite
and PostgreSQL share; this module connects to either, turns the placeholders
into psycopg's, runs a writer's transaction and says in plain words what failed.

SQLite serialises writers itself (BEGIN IMMEDIATE). PostgreSQL runs many HQ
processes at once: a writer names what it touches (a terminal, a customer) and
takes a transaction-scoped advisory lock on each, always in the same order, so
two workers given the same batch apply it one after the other, never both.
"""

from __future__ import annotations

import fcntl
import hashlib
import itertools
import logging
import os
import re
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

from sync.hq import install_hint

BUSY_TIMEOUT_MS = 5000
POOL_SIZE = 16  # PostgreSQL connections per HQ process (4 workers: 64, under the server's default 100)
RETRIES = 5  # a PostgreSQL writer that lost a deadlock or a serialisation race starts again this often
ERASURE_LOCK_TIMEOUT_S = 10  # how long the rewrite of customer_keys after an erasure waits for writers to let go

T = TypeVar("T")
log = logging.getLogger("associate_hq")


class StorageError(Exception):
    """HQ's database cannot do what was asked; the message says what to do."""


class StorageBusy(StorageError):
    """The database stayed locked past the busy timeout: the client should retry shortly."""


class Connection(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ...) -> Any: ...

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...


class Database:
    """What storage.py needs of a database: reads, writes under locks, and its name in messages."""

    kind = ""
    where = ""
    #: the most bound parameters one statement may carry
    max_params = 900

    def read(self) -> Any:  # a context manager yielding a Connection
        raise NotImplementedError

    def write(self, locks: Sequence[str] = (), *, exclusive: bool = False) -> Any:
        """A transaction, committed at the end of the block; `locks` name what it changes.

        `exclusive` waits for every other writer to finish and keeps them out (a
        regrouping of every ask); ordinary writers share that lock.
        """
        raise NotImplementedError

    def has_table(self, conn: Connection, name: str) -> bool:
        raise NotImplementedError

    def after_erasure(self) -> None:
        """Make sure the bytes of what an erasure removed are gone from the database's files."""
        raise NotImplementedError

    def retrying(self, work: Callable[[Connection], T], locks: Sequence[str] = (), *, exclusive: bool = False) -> T:
        """`work` in a write transaction, started again if the database chose it to lose a race."""
        with self.write(locks, exclusive=exclusive) as conn:
            return work(conn)

    def close(self) -> None:
        raise NotImplementedError


class _Holder:
    """What a thread's local keeps of its SQLite handles; when it goes (the thread ended), they are closed."""

    __slots__ = ("opened", "__weakref__")

    def __init__(self, opened: list[Any]) -> None:
        self.opened = opened


class SQLiteDatabase(Database):
    """One file; one connection per thread (the ASGI app serves from a thread pool)."""

    kind = "sqlite"

    def __init__(self, path: Path, functions: dict[str, tuple[int, Callable]] | None = None) -> None:
        self.path = path
        self.where = str(path)
        self._functions = functions or {}
        self._local = threading.local()
        # Each thread's connection and handle on the writers' lock file, [conn, fd], by a number of its own:
        # closed when the thread ends (the ASGI thread pool retires idle threads) or at close().
        self._opened: dict[int, list[Any]] = {}
        self._count = itertools.count()
        self._lock = threading.Lock()
        folder = path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not path.exists():
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        except OSError as error:
            raise StorageError(
                f"Cannot create HQ's database {path}: {error.strerror}. Check the folder, or pass --db."
            ) from error

    def _mine(self) -> list[Any]:
        """This thread's [connection, lock-file handle] (None until opened), released when the thread ends."""
        holder = getattr(self._local, "holder", None)
        if holder is None:
            key = next(self._count)
            with self._lock:
                opened = self._opened[key] = [None, None]
            holder = self._local.holder = _Holder(opened)
            weakref.finalize(holder, self._release, key)
        return holder.opened

    def _release(self, key: int) -> None:
        with self._lock:
            conn, fd = self._opened.pop(key, (None, None))
        if conn is not None:
            conn.close()
        if fd is not None:
            os.close(fd)

    def _conn(self) -> sqlite3.Connection:
        mine = self._mine()
        conn = mine[0]
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
                conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = FULL")
                conn.execute("PRAGMA secure_delete = ON")  # an erased customer's bytes are zeroed
            except sqlite3.Error as error:
                raise self._explain(error) from error
            mine[0] = conn
        return conn

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        try:
            yield self._conn()
        except sqlite3.Error as error:
            raise self._explain(error) from error

    def _writer_fd(self) -> int:
        """This thread's handle on the writers' lock file (a lock is held by a handle: one per thread)."""
        mine = self._mine()
        if mine[1] is None:
            try:
                mine[1] = os.open(f"{self.path}.writer", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError as error:
                raise StorageError(f"Cannot open HQ's lock file {self.path}.writer: {error.strerror}.") from error
        return int(mine[1])

    @contextmanager
    def _one_writer(self) -> Iterator[None]:
        """Wait for the writers' lock, which every HQ process and thread on this file takes before writing.

        SQLite's own busy handler sleeps up to 100 ms between tries while another process writes;
        this lock is asked for every 2 ms at most, so workers take turns closely. Past the busy
        timeout the caller is told the database is busy, as SQLite would.
        """
        fd = self._writer_fd()
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        pause = 0.0002
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StorageBusy("HQ's database is busy; try again in a moment.") from None
                time.sleep(pause)
                pause = min(pause * 2, 0.002)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    @contextmanager
    def write(self, locks: Sequence[str] = (), *, exclusive: bool = False) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        with self._one_writer(), self._transaction(conn):
            yield conn

    @contextmanager
    def _transaction(self, conn: sqlite3.Connection) -> Iterator[None]:
        try:
            conn.execute("BEGIN IMMEDIATE")  # one writer at a time: SQLite's own lock is every lock
            try:
                yield
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as error:
            raise self._explain(error) from error

    def has_table(self, conn: Connection, name: str) -> bool:
        return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None

    def after_erasure(self) -> None:
        """Move the WAL into the file and empty it, so erased details are not left in old frames."""
        try:
            with self.read() as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except StorageError:
            pass  # busy readers: the next checkpoint overwrites those frames; secure_delete zeroed the file

    def _explain(self, error: sqlite3.Error) -> StorageError:
        name = getattr(error, "sqlite_errorname", "") or ""
        if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
            return StorageBusy("HQ's database is busy; try again in a moment.")
        if name.startswith("SQLITE_FULL"):
            return StorageError(f"HQ's disk is full ({self.path}); nothing was written.")
        return StorageError(f"HQ's database {self.path} failed: {error} ({name or 'sqlite error'}).")

    def close(self) -> None:
        with self._lock:
            opened = list(self._opened.values())
            self._opened.clear()
        for conn, fd in opened:
            if conn is not None:
                conn.close()
            if fd is not None:
                os.close(fd)
        self._local = threading.local()


class PostgresDatabase(Database):
    """A pool of psycopg 3 connections; every HQ process has its own, all on one database."""

    kind = "postgresql"
    max_params = 10_000

    def __init__(self, url: str, pool_size: int = POOL_SIZE) -> None:
        try:
            import psycopg
            from psycopg_pool import ConnectionPool
        except ImportError as error:
            raise StorageError(f"HQ on PostgreSQL needs psycopg ({error.name}): {install_hint('postgresql')}") from None
        self._errors = psycopg.errors
        parts = urlsplit(url)
        # Where, for messages: never the password.
        self.where = (
            f"postgresql://{parts.username + '@' if parts.username else ''}{parts.hostname or 'localhost'}"
            f"{':' + str(parts.port) if parts.port else ''}{parts.path}"
        )
        try:
            psycopg.connect(url, connect_timeout=10).close()  # fail now, in words, if it cannot be reached
        except psycopg.Error as error:
            raise self._explain(error) from None
        self._pool = ConnectionPool(
            url, min_size=1, max_size=pool_size, timeout=30, open=True, kwargs={"connect_timeout": 10}, name="associate-hq"
        )

    @contextmanager
    def _connection(self) -> Iterator[_PostgresConnection]:
        from psycopg_pool import PoolTimeout

        try:
            with self._pool.connection() as raw:
                yield _PostgresConnection(raw)
        except PoolTimeout:
            raise StorageBusy("HQ's database connections are all in use; try again in a moment.") from None
        except self._errors.Error as error:
            raise self._explain(error) from error

    def read(self) -> Any:
        return self._connection()

    @contextmanager
    def write(self, locks: Sequence[str] = (), *, exclusive: bool = False) -> Iterator[_PostgresConnection]:
        with self._connection() as conn:  # the pool commits when the block ends, and rolls back if it raised
            # Every writer shares lock 0; a regrouping of every ask takes it alone. Then each named lock, in one
            # order for all (no deadlock between them); one statement takes them all, in the order of its columns.
            keys = sorted({_lock_key(name) for name in locks})
            first = "pg_advisory_xact_lock(0)" if exclusive else "pg_advisory_xact_lock_shared(0)"
            conn.execute(f"SELECT {first}" + ", pg_advisory_xact_lock(?)" * len(keys), keys)
            yield conn

    def retrying(self, work: Callable[[Connection], T], locks: Sequence[str] = (), *, exclusive: bool = False) -> T:
        for attempt in range(RETRIES):
            try:
                with self.write(locks, exclusive=exclusive) as conn:
                    return work(conn)
            except StorageBusy as error:
                transient = isinstance(error.__cause__, (self._errors.DeadlockDetected, self._errors.SerializationFailure))
                if not transient or attempt == RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def has_table(self, conn: Connection, name: str) -> bool:
        return conn.execute("SELECT to_regclass(?) IS NOT NULL", (name,)).fetchone()[0]

    def after_erasure(self) -> None:
        """Rewrite the customers' keys table, so the keys of erased customers leave the data files.

        A deleted row's bytes stay in its page (and so on disk) until the space is
        reused; only the keys must not stay, since without them the sealed rows left
        behind cannot be read (vault.py). VACUUM FULL copies the live keys to a new
        file; the old one is emptied at commit and removed at the next checkpoint. It
        cannot run inside a transaction, so it runs here, after the erasure committed.
        If it fails, the next erasure's rewrite removes these keys too; the warning
        says how to rewrite at once.
        """
        try:
            with self._connection() as conn:
                raw = conn.raw
                raw.autocommit = True
                try:
                    raw.execute(f"SET lock_timeout = '{ERASURE_LOCK_TIMEOUT_S}s'")
                    raw.execute("VACUUM FULL customer_keys")
                finally:
                    raw.execute("RESET lock_timeout")
                    raw.autocommit = False  # back to the pool as every writer expects it
        except StorageError as error:
            log.warning(
                "Could not rewrite customer_keys after an erasure (%s); the erased customers' keys stay "
                "readable in the data files until the next erasure, or run VACUUM FULL customer_keys.",
                error,
            )

    def _explain(self, error: Exception) -> StorageError:
        errors = self._errors
        if isinstance(
            error,
            (
                errors.DeadlockDetected,
                errors.SerializationFailure,
                errors.LockNotAvailable,
                errors.UniqueViolation,
                errors.QueryCanceled,
            ),
        ):
            return StorageBusy("HQ's database is busy; try again in a moment.")
        if isinstance(error, errors.DiskFull):
            return StorageError(f"HQ's database disk is full ({self.where}); nothing was written.")
        words = str(error).strip()
        if isinstance(error, errors.InvalidCatalogName) or (
            isinstance(error, errors.OperationalError) and "does not exist" in words and "database" in words
        ):
            return StorageError(
                f"The database {self.where} does not exist: create it (createdb NAME), then run associate-hq db upgrade."
            )
        if isinstance(error, errors.OperationalError):
            reason = words.splitlines()[0].removeprefix("connection failed: ")
            return StorageError(
                f"Cannot reach HQ's database {self.where} ({reason}). "
                "Check that PostgreSQL runs, and the host, port, user and password in --db."
            )
        return StorageError(f"HQ's database {self.where} failed: {words} ({type(error).__name__}).")

    def close(self) -> None:
        self._pool.close()


class _PostgresConnection:
    """A psycopg connection that takes storage.py's `?` placeholders."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.raw.execute(_postgres_sql(sql), params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self.raw.cursor() as cursor:
            cursor.executemany(_postgres_sql(sql), rows)


def insert_rows(conn: Connection, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """INSERT rows known to be new: PostgreSQL takes them as one COPY (about 3x an executemany), SQLite executemany.

    A row that is not new after all fails the whole statement (a unique key), as the INSERT would.
    """
    if isinstance(conn, _PostgresConnection):
        with conn.raw.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    else:
        conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", rows)


def is_postgres(conn: Connection) -> bool:
    """Whether a connection is PostgreSQL's (for the few migration steps written for one database)."""
    return isinstance(conn, _PostgresConnection)


@lru_cache(maxsize=512)
def _postgres_sql(sql: str) -> str:
    """storage.py's SQL in psycopg's dialect: `?` becomes `%s`, a literal `%` doubles."""
    return sql.replace("%", "%%").replace("?", "%s")


def postgres_ddl(statement: str) -> str:
    """A CREATE or ALTER written for SQLite, as PostgreSQL takes it.

    Text compares byte by byte on both (COLLATE "C"), so ids page, sort and
    group the same way whatever the server's locale.
    """
    statement = statement.replace(" WITHOUT ROWID", "").replace(" BLOB ", " BYTEA ").replace(" REAL", " DOUBLE PRECISION")
    return re.sub(r"\bTEXT\b", 'TEXT COLLATE "C"', statement)


def try_lock(conn: Connection, name: str) -> bool:
    """Take the named lock for the rest of the transaction if no one holds it; False at once if someone does.

    PostgreSQL only needs it (an advisory lock): on SQLite the write transaction already keeps every other writer out.
    """
    if not isinstance(conn, _PostgresConnection):
        return True
    return bool(conn.execute("SELECT pg_try_advisory_xact_lock(?)", (_lock_key(name),)).fetchone()[0])


def _lock_key(name: str) -> int:
    """A signed 64-bit advisory lock key for a name, the same in every process."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


def connect(url: str) -> Database:
    if url.startswith("sqlite:///"):
        return SQLiteDatabase(Path(url[len("sqlite:///") :]).expanduser())
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresDatabase(url)
    raise StorageError(
        f"Cannot use the database URL '{url}': use sqlite:///absolute/path/hq.db or postgresql://user@host/dbname."
    )
