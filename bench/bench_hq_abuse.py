"""HQ under abuse: a worker's memory after the largest batches, and a terminal's sync beside slow clients.

    python bench/bench_hq_abuse.py            # 100 maximum-size batches; 1,000 slow clients
    python bench/bench_hq_abuse.py --quick    # 20 batches; 300 slow clients

Everything runs on this machine over loopback (127.0.0.1), against the real thing:
`associate-hq serve` (one worker) in its own process.

1. Memory: 100 batches of 1,000 distinct asks each, every field at the contract's
   longest (about 4.8 MB of JSON, 1.3 MB gzipped: as large as HQ takes), sent one
   after another; the worker's resident memory (VmRSS) is read from /proc before,
   after and at its peak (VmHWM). Once on SQLite, once on PostgreSQL (a fresh
   database, associate_hq_bench_abuse, on 127.0.0.1:5432), if it answers.
2. Slow clients: `associate sync` of a terminal with 10,000 pending asks, timed
   with HQ idle, then while 1,000 clients (a process of their own) hold connections:
   a third connect and send nothing, a third send a request's headers a byte a
   second, a third send full headers and then a body a byte a second; each
   reconnects when HQ cuts it off (at most 100 times). Health-check latency is
   sampled meanwhile, and the sync is timed again 15 s later, once HQ has cut the
   first slow connections off (10 s header deadline) and they have come back. Once with HQ's open-files limit at systemd's default (1,024),
   once raised as the README's unit does (LimitNOFILE; here up to the hard limit).

Prints a table; never part of the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import multiprocessing
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_sync import build_terminal, free_port  # noqa: E402

from sync.hq.storage import HQStorage  # noqa: E402

HOST = "127.0.0.1"  # loopback only
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
PG_DB = "associate_hq_bench_abuse"
SENT_AT = "2026-11-25T10:00:00.000Z"


# -- 1. memory after the largest batches --------------------------------------------------------------------------


def vocabulary(rng: random.Random, size: int = 3000) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(3, 9))) for _ in range(size)]


def words(rng: random.Random, vocab: list[str], length: int) -> str:
    """Text of exactly `length` characters, made of words: distinct, and compressible like real text."""
    out: list[str] = []
    size = 0
    while size < length:
        word = rng.choice(vocab)
        out.append(word)
        size += len(word) + 1
    return " ".join(out)[:length].strip() or "x"


def largest_ask(rng: random.Random, vocab: list[str], n: int) -> dict:
    """An ask with every field at the contract's longest; no two alike."""
    return {
        "type": "ask",
        "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "version": 1,
        "created_at": "2026-11-25T09:59:00.000Z",
        "updated_at": "2026-11-25T09:59:00.000Z",
        "store_id": "S1",
        "terminal_id": "T1",
        "associate": "A" * 12,
        "channel": "c" * 64,
        "text": f"{n} " + words(rng, vocab, 290),
        "category": "clothing." + "o" * 55,
        "attributes": {f"attribute_{i:02d}_" + "k" * 16: words(rng, vocab, 60) for i in range(30)},
        "outcome": "out_of_stock",
        "substitute": words(rng, vocab, 200),
        "substitute_accepted": False,
        "quantity": 9999,
        "note": words(rng, vocab, 1000),
        "voided": True,
        "void_reason": words(rng, vocab, 200),
    }


def largest_batches(count: int, seed: int = 1) -> list[bytes]:
    """`count` gzip bodies of 1,000 distinct largest asks each, as a terminal would send them."""
    rng = random.Random(seed)
    vocab = vocabulary(rng)
    bodies = []
    for b in range(count):
        records = [largest_ask(rng, vocab, b * 1000 + i) for i in range(1000)]
        body = {
            "schema_version": 1,
            "batch_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "store_id": "S1",
            "terminal_id": "T1",
            "sent_at": SENT_AT,
            "records": records,
        }
        bodies.append(gzip.compress(json.dumps(body).encode(), 6))
    return bodies


def rss_mib(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MiB, from /proc."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def serve(url: str, port: int, open_files: int | None = None) -> subprocess.Popen:
    """`associate-hq serve`, one worker, on loopback; its open-files limit set as a unit's LimitNOFILE would."""

    def limit() -> None:
        if open_files:
            hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(open_files, hard), hard))

    process = subprocess.Popen(
        [sys.executable, "-m", "sync.hq.cli", "serve", "--db", url, "--host", HOST, "--port", str(port), "--log-level", "error"],
        cwd=ROOT,
        preexec_fn=limit,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/v1/health", timeout=1):
                return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("HQ did not start")


def fresh_database(kind: str, work: Path) -> str | None:
    if kind == "sqlite":
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        return f"sqlite:///{work / 'hq.db'}"
    try:
        import psycopg

        with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{PG_DB}"')
            conn.execute(f'CREATE DATABASE "{PG_DB}"')
    except Exception as error:  # no PostgreSQL here: that row is left out
        print(f"PostgreSQL not used: {error}", file=sys.stderr)
        return None
    url = f"{PG_SERVER}/{PG_DB}"
    HQStorage.open(url, upgrade=True).close()
    return url


def memory_run(kind: str, bodies: list[bytes], work: Path) -> dict | None:
    import httpx

    url = fresh_database(kind, work)
    if url is None:
        return None
    with HQStorage.open(url) as storage:
        token = storage.add_terminal("S1", "T1")
    port = free_port()
    hq = serve(url, port)
    try:
        before = rss_mib(hq.pid)[0]
        headers = {"Authorization": f"Bearer {token}", "Content-Encoding": "gzip", "Content-Type": "application/json"}
        accepted = 0
        started = time.perf_counter()
        with httpx.Client(base_url=f"http://{HOST}:{port}", headers=headers, timeout=120) as http:
            for body in bodies:
                answer = http.post("/v1/batches", content=body)
                answer.raise_for_status()
                accepted += sum(r["status"] == "accepted" for r in answer.json()["results"])
        seconds = time.perf_counter() - started
        after, peak = rss_mib(hq.pid)
    finally:
        hq.terminate()
        hq.wait()
    return {"before": before, "after": after, "peak": peak, "accepted": accepted, "seconds": seconds}


# -- 2. a terminal's sync beside slow clients ----------------------------------------------------------------------


async def slow_client(kind: str, port: int, stop: asyncio.Event, counts: dict[str, int]) -> None:
    """One abusive client: holds a connection as long as HQ lets it, then comes back (at most 100 times)."""
    request = b"POST /v1/batches HTTP/1.1\r\nHost: hq\r\nAuthorization: Bearer nope\r\n"
    for _ in range(100):
        if stop.is_set():
            return
        try:
            reader, writer = await asyncio.open_connection(HOST, port)
        except OSError:
            counts["refused"] += 1
            await asyncio.sleep(1)
            continue
        counts["connected"] += 1
        try:
            if kind == "headers":
                payload = request + b"X-Slow: " + b"a" * 10_000
            elif kind == "body":
                writer.write(request + b"Content-Length: 100000\r\n\r\n")
                payload = b"{" * 100_000
            else:
                payload = b""
            for byte in range(len(payload) or 10_000):  # a byte a second; silent ones just wait
                if stop.is_set():
                    break
                if payload:
                    writer.write(payload[byte : byte + 1])
                    await writer.drain()
                try:
                    if await asyncio.wait_for(reader.read(65536), 1.0) == b"":
                        counts["closed"] += 1  # HQ cut it off
                        break
                    counts["answered"] += 1  # and the client goes on sending, as long as HQ lets it
                except asyncio.TimeoutError:
                    continue
        except OSError:
            pass
        finally:
            counts["cut"] += 1
            writer.close()


def slow_clients(port: int, clients: int, ready: multiprocessing.Event, stop: multiprocessing.Event, out) -> None:
    """`clients` slow clients in one process until `stop` is set; their counts go back through `out`."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)

    async def run() -> dict[str, int]:
        counts = {"connected": 0, "cut": 0, "answered": 0, "refused": 0, "closed": 0}
        done = asyncio.Event()
        kinds = ["silent", "headers", "body"]
        tasks = [asyncio.create_task(slow_client(kinds[i % 3], port, done, counts)) for i in range(clients)]
        await asyncio.sleep(3)  # all connected
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.2)
        done.set()
        await asyncio.wait(tasks, timeout=5)
        return counts

    out.put(asyncio.run(run()))


def timed_sync(work: Path, template: Path, url: str, token: str) -> float:
    """Seconds for one `associate sync` of a copy of the terminal file (10,000 pending asks) to finish."""
    shutil.rmtree(work, ignore_errors=True)
    (work / "data").mkdir(parents=True)
    shutil.copy(template, work / "data" / "associate.db")
    (work / "config.toml").write_text(f'store_id = "S1"\nterminal_id = "T1"\nhq_url = "{url}"\n')
    (work / "token").write_text(token + "\n")
    (work / "token").chmod(0o600)
    env = {**os.environ, "ASSOCIATE_DATA_DIR": str(work / "data"), "ASSOCIATE_CONFIG": str(work / "config.toml")}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "associate_tui", "sync"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    if done.returncode != 0:
        raise SystemExit(f"associate sync failed: {done.stderr}")
    return time.perf_counter() - started


def health_latencies(url: str, stop: multiprocessing.Event, out: list[float]) -> None:
    while not stop.is_set() and len(out) < 1000:
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(f"{url}/v1/health", timeout=30):
                pass
            out.append(time.perf_counter() - started)
        except OSError:
            out.append(float("inf"))
        time.sleep(0.2)


def slow_run(work: Path, template: Path, clients: int, open_files: int | None) -> dict:
    import threading

    db_url = fresh_database("sqlite", work / "hq")
    with HQStorage.open(db_url) as storage:
        token = storage.add_terminal("S1", "T1")
    port = free_port()
    url = f"http://{HOST}:{port}"
    hq = serve(db_url, port, open_files)
    try:
        timed_sync(work / "warm", template, url, token)  # HQ's first requests (imports, caches) are not the idle figure
        idle = timed_sync(work / "idle", template, url, token)
        ready, stop, out = multiprocessing.Event(), multiprocessing.Event(), multiprocessing.Queue()
        loader = multiprocessing.Process(target=slow_clients, args=(port, clients, ready, stop, out))
        loader.start()
        ready.wait(60)
        health: list[float] = []
        probe = threading.Thread(target=health_latencies, args=(url, stop, health))
        probe.start()
        busy = timed_sync(work / "busy", template, url, token)
        time.sleep(12)  # past the header deadline: the slow clients have been cut off and have come back
        later = timed_sync(work / "later", template, url, token)
        stop.set()
        probe.join()
        counts = out.get(timeout=30)
        loader.join(30)
    finally:
        hq.terminate()
        hq.wait()
    return {
        "idle": idle,
        "busy": busy,
        "later": later,
        "health_max": max(health or [0.0]),
        "health_median": statistics.median(health or [0.0]),
        **counts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="20 batches and 300 slow clients")
    parser.add_argument("--batches", type=int, help="how many largest batches (default 100)")
    parser.add_argument("--clients", type=int, help="how many slow clients (default 1,000)")
    args = parser.parse_args()
    batches, clients = (20, 300) if args.quick else (100, 1000)
    batches, clients = min(args.batches or batches, 1000), min(args.clients or clients, 5000)
    RESULTS.mkdir(parents=True, exist_ok=True)
    work = RESULTS / "abuse-run"
    print(f"building {batches} maximum-size batches...", file=sys.stderr)
    bodies = largest_batches(batches)
    inflated, zipped = len(gzip.decompress(bodies[0])), len(bodies[0])
    memory = {kind: memory_run(kind, bodies, work / kind) for kind in ("sqlite", "postgresql")}
    del bodies
    template = RESULTS / "abuse-terminal-10000.db"
    build_terminal(template, 10_000)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    slow = {limit: slow_run(work / f"slow-{limit}", template, clients, limit) for limit in (1024, min(65536, hard))}
    shutil.rmtree(work, ignore_errors=True)

    rows = []
    for kind, run in memory.items():
        if run is None:
            continue
        rows.append(
            (
                f"worker memory (VmRSS) on {kind}: at start / after {batches} largest batches "
                f"({run['accepted']:,} asks, {run['seconds']:.0f} s) / peak",
                f"{run['before']:.0f} / {run['after']:.0f} / {run['peak']:.0f} MiB",
                "< 200 MiB",
                "ok" if run["after"] < 200 else "MISS",
            )
        )
    for limit, run in slow.items():
        ratio = max(run["busy"], run["later"]) / run["idle"]
        rows.append(
            (
                f"open files {limit}: `associate sync` of 10,000 asks, idle / beside {clients:,} slow clients "
                "/ 15 s later, the clients cut off and back",
                f"{run['idle']:.2f} / {run['busy']:.2f} / {run['later']:.2f} s ({ratio:.1f}x)",
                "<= 2x",
                "ok" if ratio <= 2 else "MISS",
            )
        )
        rows.append(
            (
                f"open files {limit}: /v1/health meanwhile, median / slowest",
                f"{run['health_median'] * 1000:.0f} / {run['health_max'] * 1000:.0f} ms",
                "",
                "",
            )
        )
        rows.append(
            (
                f"open files {limit}: slow connections made / answered (401, 408) / closed by HQ / refused",
                f"{run['connected']:,} / {run['answered']:,} / {run['closed']:,} / {run['refused']:,}",
                "",
                "",
            )
        )
    print()
    print(f"one batch: 1,000 asks, {inflated / 1e6:.1f} MB of JSON, {zipped / 1e6:.1f} MB gzipped")
    print("| measure | value | goal | |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
