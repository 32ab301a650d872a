"""Several HQ processes on one SQLite file take turns at writing through its lock file, closely and in words."""

from __future__ import annotations

import gc
import os
import threading
import time
from pathlib import Path

import pytest

from sync.hq import database
from sync.hq.database import SQLiteDatabase, StorageBusy


def _counter(path: Path) -> SQLiteDatabase:
    db = SQLiteDatabase(path)
    with db.write() as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS counter (n INTEGER NOT NULL)")
    return db


def test_a_second_process_waits_for_the_writer_and_then_writes(tmp_path: Path) -> None:
    path = tmp_path / "hq.db"
    first, second = _counter(path), _counter(path)  # two handles on the lock file, as two workers have
    try:
        holding, released = threading.Event(), threading.Event()
        took: list[float] = []

        def hold() -> None:
            with first.write() as conn:
                conn.execute("INSERT INTO counter VALUES (1)")
                holding.set()
                released.wait(5)

        def write() -> None:
            holding.wait(5)
            started = time.monotonic()
            with second.write() as conn:
                took.append(time.monotonic() - started)
                conn.execute("INSERT INTO counter VALUES (2)")

        threads = [threading.Thread(target=hold), threading.Thread(target=write)]
        for thread in threads:
            thread.start()
        holding.wait(5)
        time.sleep(0.3)
        assert not took  # still waiting: the first holds the lock
        released.set()
        for thread in threads:
            thread.join(10)
        assert took and took[0] >= 0.3
        with second.read() as conn:
            assert sorted(n for (n,) in conn.execute("SELECT n FROM counter")) == [1, 2]
    finally:
        first.close()
        second.close()


def test_a_writer_kept_waiting_past_the_busy_timeout_is_told_hq_is_busy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(database, "BUSY_TIMEOUT_MS", 200)
    path = tmp_path / "hq.db"
    first, second = _counter(path), _counter(path)
    try:
        with first.write() as conn:
            conn.execute("INSERT INTO counter VALUES (1)")
            with pytest.raises(StorageBusy, match="busy; try again in a moment"):
                with second.write() as other:
                    other.execute("INSERT INTO counter VALUES (2)")
        with second.write() as conn:  # once the first is done, the second writes
            conn.execute("INSERT INTO counter VALUES (3)")
        with second.read() as conn:
            assert sorted(n for (n,) in conn.execute("SELECT n FROM counter")) == [1, 3]
    finally:
        first.close()
        second.close()


def test_the_lock_file_is_private(tmp_path: Path) -> None:
    db = _counter(tmp_path / "hq.db")
    try:
        assert (tmp_path / "hq.db.writer").stat().st_mode & 0o777 == 0o600
    finally:
        db.close()


def test_a_thread_that_ends_leaves_no_connection_or_lock_file_open(tmp_path: Path) -> None:
    """The service's thread pool retires idle threads and starts new ones: each must not leave its handles behind."""
    db = _counter(tmp_path / "hq.db")
    try:

        def write_once() -> None:
            with db.write() as conn:
                conn.execute("INSERT INTO counter VALUES (1)")

        def open_files() -> list[str]:
            return os.listdir("/proc/self/fd")  # listing it opens one more, each time alike

        write_once()  # this thread's own handles, kept while it lives
        before = len(open_files())
        for _ in range(20):
            thread = threading.Thread(target=write_once)
            thread.start()
            thread.join()
        gc.collect()
        assert len(open_files()) <= before + 2, open_files()  # SQLite may hold one back; before: 60 more
        with db.read() as conn:
            assert conn.execute("SELECT count(*) FROM counter").fetchone()[0] == 21
    finally:
        db.close()
