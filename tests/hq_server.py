"""The real HQ service for tests: in its own process (to kill it), or in a thread (to be quick).

Both listen on a loopback port and speak real HTTP; nothing here is a stand-in.
"""

from __future__ import annotations

import itertools
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import uvicorn

from sync.client import ssl_context
from sync.hq.app import create_app
from sync.hq.storage import HQStorage

ROOT = Path(__file__).resolve().parents[1]
# The scratch database the PostgreSQL half of the HQ tests runs in (.ci/run creates it); each test has a schema of its own.
PG_URL = os.environ.get("ASSOCIATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/associate_hq_test")
BACKENDS = ("sqlite", "postgresql")


class HQDatabase:
    """A scratch HQ database for a test: a SQLite file, or a PostgreSQL schema of its own, removed afterwards.

    `rows` reads it over a connection of its own, as a person checking HQ's tables would.
    """

    def __init__(self, kind: str, folder: Path, *, upgraded: bool = True) -> None:
        self.kind = kind
        self.path: Path | None = None
        if kind == "sqlite":
            self.path = folder / "hq.db"
            self.url = f"sqlite:///{self.path}"
        else:
            self.schema = f"t_{secrets.token_hex(6)}"
            _postgres(PG_URL, f"CREATE SCHEMA {self.schema}")
            self.url = f"{PG_URL}?options=-csearch_path%3D{self.schema}"
            if upgraded:
                HQStorage.open(self.url, upgrade=True).close()  # what `associate-hq db upgrade` does

    def rows(self, sql: str, params: tuple | list = ()) -> list[tuple]:
        if self.kind == "sqlite":
            import sqlite3

            with sqlite3.connect(self.path) as conn:
                return conn.execute(sql, params).fetchall()
        return _postgres(self.url, sql.replace("?", "%s"), params)

    def contents(self) -> bytes:
        """What HQ keeps: SQLite's file and its WAL byte for byte; on PostgreSQL, every row of every table as text."""
        if self.path:
            wal = Path(f"{self.path}-wal")
            return self.path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
        tables = [name for (name,) in self.rows("SELECT tablename FROM pg_tables WHERE schemaname = ?", (self.schema,))]
        return b"".join(str(self.rows(f"SELECT * FROM {table}")).encode() for table in tables)

    def drop(self) -> None:
        if self.kind == "postgresql":
            _postgres(PG_URL, f"DROP SCHEMA {self.schema} CASCADE")


def _postgres(url: str, sql: str, params: tuple | list = ()) -> list[tuple]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def postgres_ready() -> str | None:
    """None when the scratch database can be used (created if missing), else why not."""
    import psycopg

    try:
        psycopg.connect(PG_URL, connect_timeout=3).close()
        return None
    except psycopg.OperationalError as error:
        if "does not exist" not in str(error):
            return f"PostgreSQL is not reachable at {PG_URL}: {str(error).strip().splitlines()[0]}"
    server, _, name = PG_URL.rpartition("/")
    try:
        _postgres(f"{server}/postgres", f'CREATE DATABASE "{name}"')
    except psycopg.errors.DuplicateDatabase:
        pass  # another test worker made it first
    return None


_PORTS = itertools.count()
PORTS_PER_WORKER = 1500


def free_port() -> int:
    """A loopback port that no other test process hands out, nor this one twice in a row.

    Not bind(0): the kernel may give another xdist worker the port of an HQ that is down between a kill
    and its restart (or not yet listening), and that worker's HQ then answers this test's terminal
    (seen as a 401 for a token it does not know). Each worker takes ports from its own block, below
    the kernel's ephemeral range, in turn.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    base = 20_000 + int(worker[2:] or 0) % 8 * PORTS_PER_WORKER
    for _ in range(PORTS_PER_WORKER):
        port = base + next(_PORTS) % PORTS_PER_WORKER
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free loopback port in {base}-{base + PORTS_PER_WORKER - 1}")


def wait_healthy(url: str, timeout: float = 15.0, process: subprocess.Popen | None = None, verify: bool | str = True) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"HQ exited with {process.returncode}: {process.stderr.read() if process.stderr else ''}")
        try:
            if httpx.get(f"{url}/v1/health", timeout=1, verify=ssl_context(verify)).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"HQ at {url} did not answer within {timeout} s")


def add_terminal(db: HQDatabase | HQStorage, store_id: str, terminal_id: str) -> str:
    """A token for a terminal, through HQ's own storage."""
    if isinstance(db, HQStorage):
        return db.add_terminal(store_id, terminal_id)
    with HQStorage.open(db.url) as storage:
        return storage.add_terminal(store_id, terminal_id)


class HQProcess:
    """`associate-hq serve` in a process of its own, on a fixed port so it can be restarted."""

    def __init__(self, db: HQDatabase, port: int | None = None, workers: int = 1, options: tuple[str, ...] = ()) -> None:
        self.db = db
        self.workers = workers
        self.options = options  # more `serve` options, e.g. ("--header-timeout", "1")
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> HQProcess:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sync.hq.cli",
                "serve",
                "--db",
                self.db.url,
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
                "--log-level",
                "warning",
                *self.options,
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_healthy(self.url, process=self.process)
        return self

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        if self.process:
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> HQProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class HQThread:
    """The same app under uvicorn in a thread of this process: quick to start, same HTTP."""

    def __init__(self, db: HQDatabase, *, tls: tuple[Path, Path] | None = None, **app_options: int) -> None:
        """`tls`: (certificate chain and key PEM, the CA that signed it) to serve HTTPS."""
        self.db = db
        self.storage = HQStorage.open(db.url)
        self.port = free_port()
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.verify: bool | str = str(tls[1]) if tls else True
        config = uvicorn.Config(
            create_app(self.storage, **app_options),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            ssl_certfile=str(tls[0]) if tls else None,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> HQThread:
        self.thread.start()
        wait_healthy(self.url, verify=self.verify)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.storage.close()
