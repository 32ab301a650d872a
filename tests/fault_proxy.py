"""A loopback HTTP proxy that breaks requests on purpose, one fault per request.

Sits between the terminal and a real HQ. Each request it receives takes the
next fault from its plan, so a test can say "reset the first two, truncate the
third, then let everything through":

    pass          forward, answer whole
    reset_before  drop the connection (RST) before HQ sees the request
    reset_after   forward, let HQ commit and answer, then RST instead of the answer
    truncate      forward, then send only half of HQ's answer and close
    stall         forward, then send nothing until the client gives up (timeout)
    busy          answer 503 with Retry-After: 1, HQ never sees the request

Every answer ends with Connection: close, so each request is on a fresh connection
and the faults line up with requests, not with pooled sockets.
"""

from __future__ import annotations

import http.client
import random
import socket
import struct
import threading
from collections.abc import Callable, Iterable

FAULTS = ("pass", "reset_before", "reset_after", "truncate", "stall", "busy")


class FaultProxy:
    def __init__(self, upstream_port: int, plan: Iterable[str] | Callable[[int], str] = ()) -> None:
        self.upstream_port = upstream_port
        if not callable(plan):
            faults = iter(list(plan))
            plan = lambda n: next(faults, "pass")  # noqa: E731 - then everything passes
        self._plan = plan
        self._lock = threading.Lock()
        self.seen: list[tuple[str, str]] = []  # (fault, request line) as they happened
        self._stop = threading.Event()
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.2)
        self.port = self._server.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @classmethod
    def random(cls, upstream_port: int, seed: int, fault_share: float = 0.4) -> FaultProxy:
        rng = random.Random(seed)
        faults = [f for f in FAULTS if f not in ("pass", "stall")]
        return cls(upstream_port, lambda n: rng.choice(faults) if rng.random() < fault_share else "pass")

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._server.close()

    def count(self, fault: str) -> int:
        return sum(1 for f, _ in self.seen if f == fault)

    # -- the proxy -----------------------------------------------------------

    def _next_fault(self, line: str) -> str:
        with self._lock:
            n = len(self.seen)
            fault = self._plan(n)
            self.seen.append((fault, line))
            return fault

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    def _handle(self, client: socket.socket) -> None:
        try:
            request = _read_request(client)
            if request is None:
                return
            method, path, headers, body = request
            fault = self._next_fault(f"{method} {path}")
            if fault == "reset_before":
                return _reset(client)
            if fault == "busy":
                client.sendall(
                    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: application/json\r\n"
                    b'Content-Length: 55\r\nConnection: close\r\n\r\n{"error": "busy", "message": "HQ is busy, retry later"}'
                )
                return client.close()
            answer = self._forward(method, path, headers, body)
            if fault == "reset_after":
                return _reset(client)
            if fault == "truncate":
                client.sendall(answer[: len(answer) // 2])
                return client.close()
            if fault == "stall":
                self._stop.wait(60)
                return client.close()
            client.sendall(answer)
            client.close()
        except OSError:
            client.close()

    def _forward(self, method: str, path: str, headers: list[tuple[str, str]], body: bytes) -> bytes:
        upstream = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=60)
        try:
            upstream.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                if name.lower() not in ("connection", "keep-alive"):
                    upstream.putheader(name, value)
            upstream.putheader("Connection", "close")
            upstream.endheaders(body or None)
            response = upstream.getresponse()
            content = response.read()
            lines = [f"HTTP/1.1 {response.status} {response.reason}"]
            for name, value in response.getheaders():
                if name.lower() not in ("connection", "content-length", "transfer-encoding"):
                    lines.append(f"{name}: {value}")
            lines += [f"Content-Length: {len(content)}", "Connection: close"]
            return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + content
        finally:
            upstream.close()


def _read_request(client: socket.socket) -> tuple[str, str, list[tuple[str, str]], bytes] | None:
    client.settimeout(30)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = client.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = [tuple(part.strip() for part in line.split(":", 1)) for line in lines[1:] if ":" in line]
    length = next((int(v) for k, v in headers if k.lower() == "content-length"), 0)
    while len(rest) < length:
        chunk = client.recv(65536)
        if not chunk:
            return None
        rest += chunk
    return method, path, headers, rest[:length]  # type: ignore[return-value]


def _reset(client: socket.socket) -> None:
    """Close with RST (SO_LINGER 0): the client sees 'connection reset', not a clean end."""
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()
