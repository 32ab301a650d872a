"""The real HQ service for tests: in its own process (to kill it), or in a thread (to be quick).

Both listen on a loopback port and speak real HTTP; nothing here is a stand-in.
"""

from __future__ import annotations

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def add_terminal(db: Path | HQStorage, store_id: str, terminal_id: str) -> str:
    """A token for a terminal, through HQ's own storage."""
    if isinstance(db, HQStorage):
        return db.add_terminal(store_id, terminal_id)
    with HQStorage.open(f"sqlite:///{db}") as storage:
        return storage.add_terminal(store_id, terminal_id)


class HQProcess:
    """`associate-hq serve` in a process of its own, on a fixed port so it can be restarted."""

    def __init__(self, db_path: Path, port: int | None = None) -> None:
        self.db_path = db_path
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> HQProcess:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sync.hq.cli", "serve", "--db", f"sqlite:///{self.db_path}", "--port", str(self.port),
             "--log-level", "warning"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
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

    def __init__(self, db_path: Path, *, tls: tuple[Path, Path] | None = None, **app_options: int) -> None:
        """`tls`: (certificate chain and key PEM, the CA that signed it) to serve HTTPS."""
        self.db_path = db_path
        self.storage = HQStorage.open(f"sqlite:///{db_path}")
        self.port = free_port()
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.verify: bool | str = str(tls[1]) if tls else True
        config = uvicorn.Config(create_app(self.storage, **app_options), host="127.0.0.1", port=self.port,
                                log_level="warning", access_log=False, lifespan="off",
                                ssl_certfile=str(tls[0]) if tls else None)
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
