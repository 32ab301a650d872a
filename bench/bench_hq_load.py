"""HQ under a chain's load: many terminals with a backlog each, pushing at once through HQ's workers.

    python bench/bench_hq_load.py                 # 200 terminals x 1,000 asks, batches of 200
    python bench/bench_hq_load.py --quick         # 200 terminals x 100 asks, batches of 50

Two runs, side by side: `associate-hq serve --workers 4` on PostgreSQL (a fresh
database, associate_hq_bench, on 127.0.0.1:5432), and `associate-hq serve` with
one worker on a SQLite file. The terminals are simulated in two load processes
(asyncio, one HTTP connection each, as the sync engine sends: gzip JSON batches,
one at a time, again after a 503 or a dropped connection). Batches are built
before the clock starts. After each run HQ's tables are read back: every ask
must be held once, with nothing missing, and the daily counts must add up to
the asks. Prints a table; never part of the tests. `--hq-checkout DIR` runs HQ
(its schema, tokens, workers and last fold) from another checkout of this
repository, so a before and an after meet the same load generator.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import multiprocessing
import random
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_sync import free_port, wait_healthy  # noqa: E402

HQ_ROOT = ROOT  # where HQ runs from (--hq-checkout)
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
PG_DB = "associate_hq_bench"
LOADERS = 2  # processes simulating terminals (the machine has 2 cores; HQ and the database share them)
TERMINALS_PER_STORE = 5
WORDS = ["navy", "red", "black", "olive", "rain jacket", "wool scarf", "boots", "linen shirt", "umbrella", "parka"]


def terminal_ids(terminals: int) -> list[tuple[str, str]]:
    return [(f"S{i // TERMINALS_PER_STORE:04d}", f"T{i % TERMINALS_PER_STORE + 1}") for i in range(terminals)]


def batches_of(store: str, terminal: str, backlog: int, size: int, seed: int) -> list[tuple[str, bytes, list[str]]]:
    """A terminal's backlog as the sync engine would send it: (batch id, gzip body, ask ids)."""
    rng = random.Random(seed)
    asks = []
    for _ in range(backlog):
        day = f"2026-11-{rng.randint(10, 24):02d}T{rng.randint(9, 18):02d}:{rng.randint(0, 59):02d}:00.000Z"
        substitute = rng.choice([None, None, "black parka", "trench coat"])
        asks.append(
            {
                "type": "ask",
                "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "version": 1,
                "created_at": day,
                "updated_at": day,
                "store_id": store,
                "terminal_id": terminal,
                "associate": rng.choice(["AB", "CD", "EF"]),
                "channel": "walk-in",
                "text": f"{rng.choice(WORDS)} {rng.choice(WORDS)} size {rng.choice('SML')}",
                "category": rng.choice(["clothing.outerwear", "clothing.accessories", None]),
                "attributes": rng.choice([{"colour": "navy", "size": "M"}, {"price": "89.99"}, {}]),
                "outcome": rng.choice(["out_of_stock", "not_carried", "found", "substituted"]),
                "substitute": substitute,
                "substitute_accepted": rng.choice([True, False]) if substitute else None,
                "quantity": rng.randint(1, 3),
            }
        )
    out = []
    for start in range(0, backlog, size):
        records = asks[start : start + size]
        batch_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        body = {
            "schema_version": 1,
            "batch_id": batch_id,
            "store_id": store,
            "terminal_id": terminal,
            "sent_at": "2026-11-25T10:00:00.000Z",
            "records": records,
        }
        out.append((batch_id, gzip.compress(json.dumps(body).encode(), 6), [r["id"] for r in records]))
    return out


async def run_terminal(client, url: str, token: str, batches, latencies: list[float], counts: dict) -> None:
    """One terminal's backlog through its own client, closed when it is sent."""
    import httpx

    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Content-Encoding": "gzip"}
    async with client:
        for _, body, ids in batches:
            while True:
                started = time.perf_counter()
                try:
                    answer = await client.post(f"{url}/v1/batches", content=body, headers=headers)
                except httpx.TransportError:
                    counts["retries"] += 1
                    await asyncio.sleep(0.2)
                    continue
                if answer.status_code == 503:
                    counts["retries"] += 1
                    await asyncio.sleep(min(float(answer.headers.get("Retry-After", "1")), 1.0))
                    continue
                latencies.append(time.perf_counter() - started)
                if answer.status_code != 200:
                    raise SystemExit(f"HQ answered {answer.status_code}: {answer.text[:300]}")
                for result in answer.json()["results"]:
                    counts[result["status"]] = counts.get(result["status"], 0) + 1
                break


def loader(url: str, work: list[tuple[str, list]], ready, go, out) -> None:
    """One load process: its share of the terminals, all sending at once once `go` is set."""
    import httpx

    async def main() -> None:
        latencies: list[float] = []
        counts = {"retries": 0}
        # A client (and its one connection) per terminal, as each terminal has: one client's pool shared by a
        # hundred connections looked at every connection for every request, a third of these processes' time.
        clients = [httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=1)) for _ in work]
        ready.set()
        while not go.is_set():
            await asyncio.sleep(0.001)
        await asyncio.gather(
            *(run_terminal(client, url, token, batches, latencies, counts) for client, (token, batches) in zip(clients, work))
        )
        out.put({"latencies": latencies, "counts": counts, "finished": time.time()})

    asyncio.run(main())


def prepare(kind: str, work_dir: Path) -> str:
    """A fresh, empty HQ database; its URL."""
    if kind == "sqlite":
        shutil.rmtree(work_dir, ignore_errors=True)
        work_dir.mkdir(parents=True)
        return f"sqlite:///{work_dir / 'hq.db'}"
    import psycopg

    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {PG_DB}")
        conn.execute(f"CREATE DATABASE {PG_DB}")
    url = f"{PG_SERVER}/{PG_DB}"
    subprocess.run(
        [sys.executable, "-m", "sync.hq.cli", "db", "upgrade", "--db", url], cwd=HQ_ROOT, check=True, stdout=subprocess.DEVNULL
    )
    return url


# HQ's side of the set-up and the read-back, run by HQ_ROOT's code: `terminals` reads [[store, terminal], ...]
# and prints their tokens; `fold` folds what the workers left (normally nothing).
HQ_SIDE = """
import json, sys
from sync.hq import fold
from sync.hq.storage import HQStorage
with HQStorage.open(sys.argv[1]) as storage:
    if sys.argv[2] == "terminals":
        print(json.dumps([storage.add_terminal(s, t) for s, t in json.load(sys.stdin)]))
    else:
        fold.fold(storage.db)
"""


def hq_side(url: str, action: str, given: object = None) -> object:
    done = subprocess.run(
        [sys.executable, "-c", HQ_SIDE, url, action],
        cwd=HQ_ROOT,
        input=json.dumps(given),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout) if done.stdout.strip() else None


def read_back(url: str) -> tuple[list[str], int]:
    """Every ask id HQ holds, and the sum of its daily counts: read with the database's own driver."""
    sql = ("SELECT id FROM asks", "SELECT sum(asks) FROM associate_days")
    if url.startswith("sqlite:///"):
        import sqlite3

        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            return [row[0] for row in conn.execute(sql[0])], conn.execute(sql[1]).fetchone()[0]
    import psycopg

    with psycopg.connect(url) as conn:
        return [row[0] for row in conn.execute(sql[0])], conn.execute(sql[1]).fetchone()[0]


def run(kind: str, workers: int, terminals: int, backlog: int, size: int) -> dict:
    url = prepare(kind, RESULTS / "load-sqlite")
    ids = terminal_ids(terminals)
    tokens = hq_side(url, "terminals", ids)
    print(f"{kind}: building {terminals} backlogs of {backlog} asks...", file=sys.stderr)
    backlogs = [batches_of(store, terminal, backlog, size, seed=n) for n, (store, terminal) in enumerate(ids)]
    expected = {ask_id for batches in backlogs for _, _, chunk in batches for ask_id in chunk}
    port = free_port()
    hq_url = f"http://127.0.0.1:{port}"
    hq = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sync.hq.cli",
            "serve",
            "--db",
            url,
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
        ],
        cwd=HQ_ROOT,
    )
    try:
        wait_healthy(hq_url)
        time.sleep(1.0 if workers > 1 else 0.2)  # every worker up
        context = multiprocessing.get_context("fork")
        go, out = context.Event(), context.Queue()
        shares = [list(zip(tokens, backlogs))[i::LOADERS] for i in range(LOADERS)]
        readies = [context.Event() for _ in shares]
        processes = [
            context.Process(target=loader, args=(hq_url, share, ready, go, out)) for share, ready in zip(shares, readies)
        ]
        for process in processes:
            process.start()
        for ready in readies:
            ready.wait()
        print(f"{kind}: {terminals} terminals sending through {workers} worker(s)...", file=sys.stderr)
        started = time.time()
        go.set()
        reports = [out.get() for _ in processes]
        for process in processes:
            process.join()
        peak_mib = max(peak_rss_kib(pid) for pid in [hq.pid, *children(hq.pid)]) / 1024
    finally:
        hq.terminate()
        hq.wait()
    seconds = max(r["finished"] for r in reports) - started
    latencies = sorted(x for r in reports for x in r["latencies"])
    counts: dict[str, int] = {}
    for report in reports:
        for key, value in report["counts"].items():
            counts[key] = counts.get(key, 0) + value
    hq_side(url, "fold")  # what the workers had not folded yet when they stopped (normally nothing)
    held, counted = read_back(url)
    held_set = set(held)
    return {
        "records": len(expected),
        "seconds": seconds,
        "rate": len(expected) / seconds,
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "batches": len(latencies),
        "retries": counts.get("retries", 0),
        "accepted": counts.get("accepted", 0),
        "lost": len(expected - held_set),
        "duplicated": len(held) - len(held_set) + (counted - len(held)),
        "extra": len(held_set - expected),
        "peak_mib": peak_mib,
    }


def children(pid: int) -> list[int]:
    """The processes `pid` started (serve's workers), from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def peak_rss_kib(pid: int) -> int:
    """A live process's peak resident memory (VmHWM), KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100 asks a terminal in batches of 50")
    parser.add_argument("--terminals", type=int, default=200)
    parser.add_argument("--backlog", type=int, help="asks per terminal (default 1000)")
    parser.add_argument("--batch", type=int, help="asks per batch (default 200)")
    parser.add_argument("--workers", type=int, default=4, help="HQ workers on PostgreSQL (default 4)")
    parser.add_argument("--only", choices=("postgresql", "sqlite"), help="one of the two runs")
    parser.add_argument("--hq-checkout", type=Path, metavar="DIR", help="run HQ from this checkout (default: this one)")
    args = parser.parse_args()
    global HQ_ROOT
    HQ_ROOT = (args.hq_checkout or ROOT).resolve()
    backlog = args.backlog or (100 if args.quick else 1000)
    size = args.batch or (50 if args.quick else 200)
    RESULTS.mkdir(parents=True, exist_ok=True)
    runs = {}
    if args.only != "sqlite":
        runs[f"PostgreSQL, {args.workers} workers"] = run("postgresql", args.workers, args.terminals, backlog, size)
    if args.only != "postgresql":
        runs["SQLite, 1 worker"] = run("sqlite", 1, args.terminals, backlog, size)
    shutil.rmtree(RESULTS / "load-sqlite", ignore_errors=True)
    names = list(runs)
    rows = [
        ("asks sent", lambda r: f"{r['records']:,}"),
        ("batches", lambda r: f"{r['batches']:,}"),
        ("wall time", lambda r: f"{r['seconds']:.1f} s"),
        ("records/s, all terminals", lambda r: f"{r['rate']:,.0f}"),
        ("batch latency p50", lambda r: f"{r['p50']:.0f} ms"),
        ("batch latency p99", lambda r: f"{r['p99']:.0f} ms"),
        ("answers 503 (busy), sent again", lambda r: f"{r['retries']:,}"),
        ("lost (sent, not held)", lambda r: f"{r['lost']:,}"),
        ("duplicated (held or counted twice)", lambda r: f"{r['duplicated']:,}"),
        ("peak memory (VmHWM) of the largest HQ process", lambda r: f"{r['peak_mib']:.0f} MiB"),
    ]
    print(
        f"\n{args.terminals} terminals ({args.terminals // TERMINALS_PER_STORE} stores), {backlog} asks each "
        f"in batches of {size}\n"
    )
    print("| measure | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for label, value in rows:
        print(f"| {label} | " + " | ".join(value(runs[name]) for name in names) + " |")
    if any(r["lost"] or r["duplicated"] or r["extra"] for r in runs.values()):
        raise SystemExit("MISS: a record was lost or duplicated")


if __name__ == "__main__":
    main()
