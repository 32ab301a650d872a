"""The file itself: opening it, its pragmas, transactions, and SQLite's errors in a person's words.

One SQLite file per terminal, in WAL mode with synchronous=FULL, so a save that
returned survives a power cut. Every write runs in a BEGIN IMMEDIATE transaction:
it either lands whole or not at all, and a second process waits its turn instead
of failing. Every room of the store (asks, customers, insights, the outbox)
builds on `Connection` and reaches the database only through `_read` and `_write`.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

from associate_tui.errors import DiskFull, StoreBusy, StoreCorrupt, StoreError, StoreReadOnly
from schemas.demand import Vocabulary, demand_key

BUSY_TIMEOUT_MS = 5000


class Connection:
    """One connection to the terminal's file, shared between threads under a lock."""

    def __init__(self, path: str | os.PathLike[str], *, vocabulary: Vocabulary | None = None) -> None:
        self.path = Path(path)
        # The taxonomy's attribute words, so "navy blue" groups with "navy" (schemas/demand.py).
        self.vocabulary = vocabulary
        self._lock = threading.RLock()
        with self._translate("open"):
            self._prepare_file()
            self.conn = sqlite3.connect(
                self.path,
                isolation_level=None,  # we issue BEGIN IMMEDIATE / COMMIT ourselves
                check_same_thread=False,
                timeout=BUSY_TIMEOUT_MS / 1000,
            )
            try:
                self._configure()
            except BaseException:
                self.conn.close()
                raise

    def _prepare_file(self) -> None:
        """Make the data folder and file readable by this user only."""
        folder = self.path.parent
        if not folder.exists():
            folder.mkdir(parents=True, mode=0o700)
        if not self.path.exists():
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.close(fd)

    def _configure(self) -> None:
        conn = self.conn
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

    def _demand_key_of(self, category: str | None, attributes: str, text: str) -> str:
        """demand_key() for SQL (migration 6 fills the column with it)."""
        return demand_key(category, json.loads(attributes or "{}"), text or "", self.vocabulary)

    def close(self) -> None:
        with self._lock:
            self.conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions -------------------------------------------------------------

    @contextmanager
    def _write(self, action: str) -> Iterator[sqlite3.Connection]:
        """One BEGIN IMMEDIATE transaction, committed on exit, rolled back on error."""
        with self._lock, self._translate(action, title="Not saved"):
            conn = self.conn
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
            yield self.conn

    def _checkpoint(self, mode: str, action: str) -> None:
        """Move the WAL into the file: PASSIVE never waits; TRUNCATE also empties the WAL file."""
        with self._read(action) as conn:
            conn.execute(f"PRAGMA wal_checkpoint({mode})")

    # -- errors -------------------------------------------------------------------

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
                "or set ASSOCIATE_DATA_DIR to a folder that is writable.",
                title=title,
            ) from error

    def _explain(self, error: sqlite3.Error, action: str) -> StoreError:
        name = getattr(error, "sqlite_errorname", "") or ""
        where = f"the database {self.path}"
        if name.startswith("SQLITE_FULL"):
            return DiskFull(
                f"Could not {action}: the disk is full. Nothing was written. Free some disk space (or call IT), then try again."
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


def _digits_only(value: str | None) -> str | None:
    """digits_only() for SQL: a phone number matches on its digits, however it was written."""
    return None if value is None else "".join(char for char in value if char.isdigit())
