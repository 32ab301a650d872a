"""How fast a backlog drains to HQ over loopback, and whether memory stays flat.

    python bench/bench_sync.py            # 100,000 asks (and 10,000 for the memory comparison)
    python bench/bench_sync.py --quick    # 20,000 and 2,000

Runs the real thing: `associate-hq serve` in its own process on a loopback port,
then `associate sync` in its own process against a terminal file full of pending
asks, and measures the wall time and the sync process's peak memory (max RSS).
The yardstick is a plain `executemany` of the same rows into an HQ database
file: what the disk and SQLite can do with no HTTP, no validation, no answers.
Prints a table; never part of the tests. `--hq-checkout DIR` serves HQ from another
checkout of this repository (so before and after run side by side, one yardstick);
`--hq-workers N` serves it with N worker processes. Beside the yardstick, the same drain
through two cut-down HQs of this checkout (bench/floor_hq.py, one worker) says where the
time goes: HQ with its roll-ups never folded, and the floor (decode, insert, commit).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT))

from associate_tui.store import Store  # noqa: E402

HQ_ROOT = ROOT  # where HQ runs from (--hq-checkout): HQ is only ever a separate process here
HQ_WORKERS = 1  # `serve --workers` (--hq-workers)

WORDS = ["navy", "red", "black", "olive", "rain jacket", "wool scarf", "boots", "size M", "size 42", "linen shirt"]


def build_terminal(path: Path, count: int) -> None:
    """A terminal file with `count` pending asks, built once and copied for each run."""
    if path.exists():
        return
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    rng = random.Random(1)
    with Store(tmp) as store:
        conn = store.conn
        now = "2026-11-20T10:00:00.000Z"
        rows = []
        for i in range(count):
            ask_id = f"0193{i:028x}"
            ask_id = f"{ask_id[:8]}-{ask_id[8:12]}-7{ask_id[13:16]}-8{ask_id[17:20]}-{ask_id[20:32]}"
            text = f"{rng.choice(WORDS)} {rng.choice(WORDS)} {rng.choice(WORDS)}"
            attributes = json.dumps({"colour": rng.choice(["navy", "red", "black"]), "size": rng.choice("SML")})
            rows.append(
                (
                    ask_id,
                    now,
                    now,
                    "S1",
                    "T1",
                    "AB",
                    "walk-in",
                    text,
                    "clothing.outerwear",
                    attributes,
                    "out_of_stock",
                    rng.choice([None, "black parka"]),
                    None,
                    1,
                    None,
                )
            )
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO asks (id, version, synced_version, created_at, updated_at, store_id, terminal_id, associate, "
            "channel, text, category, attributes, outcome, substitute, substitute_accepted, quantity, note) "
            "VALUES (?, 1, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    tmp.rename(path)


# Runs `python ARGS` and writes its peak RSS (KiB) and wall time. A child's ru_maxrss counts its parent's
# resident memory at the fork (Linux carries it through exec): measured from this small process instead,
# the figure is the sync process's own, not this benchmark's 70 MiB.
LAUNCHER = """
import os, sys, time
started = time.perf_counter()
pid = os.posix_spawn(sys.executable, [sys.executable, *sys.argv[2:]], os.environ)
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as out:
    out.write(f"{usage.ru_maxrss} {time.perf_counter() - started}")
sys.exit(os.waitstatus_to_exitcode(status))
"""


def hq_command(*args: str, root: Path | None = None) -> str:
    """Run `associate-hq ARGS` from `root` (default HQ_ROOT); its output."""
    done = subprocess.run([sys.executable, "-m", "sync.hq.cli", *args], cwd=root or HQ_ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"associate-hq {' '.join(args)} failed: {done.stderr}")
    return done.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/v1/health", timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"HQ at {url} did not start")


def drain(work: Path, template: Path, count: int, batch: int, served: tuple[str, ...] = ()) -> dict[str, float]:
    """Serve a fresh HQ, copy the terminal file, run one `associate sync`; time and memory.

    `served`: `bench/floor_hq.py` and its mode, to serve HQ with part of its work taken out (from this checkout).
    """
    shutil.rmtree(work, ignore_errors=True)
    (work / "data").mkdir(parents=True)
    shutil.copy(template, work / "data" / "associate.db")
    hq_db = work / "hq.db"
    root = ROOT if served else HQ_ROOT  # the cut-down HQs are this checkout's, schema and all
    token = hq_command("terminal", "add", "--store", "S1", "--terminal", "T1", "--db", f"sqlite:///{hq_db}", root=root).split()[0]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    hq = subprocess.Popen(
        [
            sys.executable,
            *(served or ("-m", "sync.hq.cli")),
            "serve",
            "--db",
            f"sqlite:///{hq_db}",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--workers",
            str(1 if served else HQ_WORKERS),  # floor_hq.py's changes hold in its own process only
        ],
        cwd=root,
    )
    try:
        wait_healthy(url)
        (work / "config.toml").write_text(f'store_id = "S1"\nterminal_id = "T1"\nhq_url = "{url}"\n')
        token_file = work / "token"
        token_file.write_text(token + "\n")
        token_file.chmod(0o600)
        env = {**os.environ, "ASSOCIATE_DATA_DIR": str(work / "data"), "ASSOCIATE_CONFIG": str(work / "config.toml")}
        measured = work / "measured"
        sync = subprocess.Popen(
            [sys.executable, "-c", LAUNCHER, str(measured), "-m", "associate_tui", "sync", "--batch-size", str(batch)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        watching = threading.Event()
        lag: dict[str, float] = {}
        watcher = threading.Thread(target=watch_outbox, args=(hq_db, watching, lag))
        watcher.start()
        try:
            out, err = (stream.decode() for stream in sync.communicate())
        finally:
            watching.set()
            watcher.join()
        if sync.returncode != 0:
            raise SystemExit(f"associate sync failed: {err}")
        max_rss_kib, seconds = measured.read_text().split()
    finally:
        hq.terminate()
        hq.wait()
    with sqlite3.connect(hq_db) as conn:
        held = conn.execute("SELECT count(*) FROM asks").fetchone()[0]
    if held != count:
        raise SystemExit(f"HQ holds {held} asks, expected {count}: {out}")
    engine = re.search(r"\(([\d.]+) s, ([\d,]+) records/s\)", out)
    return {
        "seconds": float(seconds),
        "rate": count / float(seconds),
        "peak_mib": int(max_rss_kib) / 1024,
        "drain_seconds": float(engine.group(1)) if engine else 0.0,  # none with nothing pending
        "drain_rate": float(engine.group(2).replace(",", "")) if engine else 0.0,
        **lag,
    }


def watch_outbox(hq_db: Path, done: threading.Event, lag: dict[str, float]) -> None:
    """How far HQ's roll-ups fall behind while it drains: every 50 ms, the batches' parts waiting in its outbox.

    An outbox row (a batch's parts) is seen waiting at one look and gone (folded) at a later one; the
    longest such wait is the lag, to within the 50 ms between looks. Read from HQ's file, beside the service.
    """
    first_seen: dict[int, float] = {}  # the highest seq waiting at a look -> when that look was
    lag.update(lag_s=0.0, parts_max=0)
    conn = None
    while not done.wait(0.05):
        try:
            conn = conn or sqlite3.connect(f"file:{hq_db}?mode=ro", uri=True, timeout=1)
            low, high, count = conn.execute("SELECT min(seq), max(seq), count(*) FROM rollup_queue").fetchone()
        except sqlite3.Error:
            continue  # not created yet, or busy: look again
        now = time.monotonic()
        if high is not None:
            first_seen.setdefault(high, now)
        lag["parts_max"] = max(lag["parts_max"], count)
        for seq in [seq for seq in first_seen if low is None or seq < low]:  # folded since
            lag["lag_s"] = max(lag["lag_s"], now - first_seen.pop(seq))
    if conn is not None:
        conn.close()


def yardstick(work: Path, template: Path, count: int) -> float:
    """records/s of a plain executemany of the same rows into a fresh HQ database file, 500 a transaction."""
    hq_db = work / "yardstick.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{hq_db}{suffix}").unlink(missing_ok=True)
    hq_command("db", "upgrade", "--db", f"sqlite:///{hq_db}")  # the HQ schema, indexes included
    with Store(template) as store:
        records = [json.loads(raw) for _, _, _, raw in store.pending_records(limit=count)]
    conn = sqlite3.connect(hq_db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    columns = [row[1] for row in conn.execute("PRAGMA table_info(asks)")]
    filler = {"content_hash": "0" * 64, "received_at": "2026-11-20T10:00:01.000Z", "batch_id": "b", "clock_skew_ms": 0}
    rows = [tuple(json.dumps(r[c]) if c == "attributes" else r[c] if c in r else filler.get(c) for c in columns) for r in records]
    sql = f"INSERT INTO asks ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    started = time.perf_counter()
    for i in range(0, len(rows), 500):
        conn.execute("BEGIN")
        conn.executemany(sql, rows[i : i + 500])
        conn.execute("COMMIT")
    seconds = time.perf_counter() - started
    conn.close()
    return count / seconds


def cut_down_rates(work: Path, template: Path, count: int) -> tuple[float, float]:
    """Where the time goes: records/s draining into HQ with its fold held back, and into the floor (HQ's stack
    alone), each the median of 3, the two alternated (bench/floor_hq.py)."""
    rates: dict[str, list[float]] = {"unfolded": [], "floor": []}
    for i in range(3):
        for mode, runs in rates.items():
            served = (str(ROOT / "bench" / "floor_hq.py"), mode)
            runs.append(drain(work / f"{mode}-{i}", template, count, 1000, served)["drain_rate"])
    return statistics.median(rates["unfolded"]), statistics.median(rates["floor"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="20,000 asks instead of 100,000")
    parser.add_argument(
        "--memory",
        action="store_true",
        help="only the sync process's memory: one drain of each backlog, ten times the big one too",
    )
    parser.add_argument("--hq-checkout", type=Path, metavar="DIR", help="serve HQ from this checkout (default: this one)")
    parser.add_argument("--hq-workers", type=int, default=1, metavar="N", help="`associate-hq serve --workers N` (default 1)")
    args = parser.parse_args()
    global HQ_ROOT, HQ_WORKERS
    HQ_ROOT = (args.hq_checkout or ROOT).resolve()
    HQ_WORKERS = args.hq_workers
    big = 20_000 if args.quick else 100_000
    small = big // 10
    RESULTS.mkdir(parents=True, exist_ok=True)
    backlogs = (0, small, big, big * 10) if args.memory else (0, small, big)
    templates = {n: RESULTS / f"sync-terminal-{n}.db" for n in backlogs}
    for n, path in templates.items():
        print(f"building a terminal file with {n:,} pending asks...", file=sys.stderr)
        build_terminal(path, n)

    work = RESULTS / "sync-run"
    print("draining...", file=sys.stderr)
    runs = {n: drain(work / str(n), templates[n], n, 1000) for n in (0, small)}
    if args.memory:
        runs.update({n: drain(work / str(n), templates[n], n, 1000) for n in backlogs[2:]})
        shutil.rmtree(work, ignore_errors=True)
        print_rows(memory_rows(runs, small, big))
        return
    # The machine is shared and noisy: the median of five drains of the big backlog.
    tries = sorted((drain(work / f"{big}-{i}", templates[big], big, 1000) for i in range(5)), key=lambda r: r["drain_rate"])
    runs[big] = tries[2]
    runs_500 = drain(work / "500", templates[big], big, 500)
    unfolded, floor = cut_down_rates(work, templates[big], big)
    ruler = yardstick(work, templates[big], big)
    shutil.rmtree(work, ignore_errors=True)

    run = runs[big]
    ratio = run["drain_rate"] / ruler
    rows = [
        (f"`associate sync` of {big:,} pending asks, start to exit (batches of 1000)", f"{run['seconds']:.2f} s", "", ""),
        ("  of which draining (first read of the outbox to last ack recorded)", f"{run['drain_seconds']:.2f} s", "", ""),
        (
            "records/s while draining (terminal -> gzip HTTP -> HQ commit -> acks applied), median of 5",
            f"{run['drain_rate']:,.0f}",
            "",
            f"{tries[0]['drain_rate']:,.0f}-{tries[4]['drain_rate']:,.0f}",
        ),
        ("records/s of the whole command, Python start-up included", f"{run['rate']:,.0f}", "", ""),
        ("records/s while draining, batches of 500", f"{runs_500['drain_rate']:,.0f}", "", ""),
        (
            "roll-ups behind the asks while draining: longest wait of a batch's parts / most batches waiting",
            f"{run['lag_s']:.2f} s / {run['parts_max']:,.0f}",
            "< 5 s",
            "ok" if run["lag_s"] < 5 else "MISS",
        ),
        ("yardstick: plain executemany of the same rows into an HQ file, 500 a transaction", f"{ruler:,.0f}", "", ""),
        ("ratio (draining / yardstick)", f"{ratio:.2f}", ">= 0.5", "ok" if ratio >= 0.5 else "MISS"),
        (
            "records/s while draining, HQ's roll-ups never folded (floor_hq.py unfolded), median of 3; ratio",
            f"{unfolded:,.0f}; {unfolded / ruler:.2f}",
            "",
            "",
        ),
        (
            "the floor: HQ's stack alone, a batch decoded, inserted, committed (floor_hq.py floor), median of 3; ratio",
            f"{floor:,.0f}; {floor / ruler:.2f}",
            "",
            "",
        ),
        (f"ratio (draining / floor; HQ {HQ_WORKERS} worker(s), the cut-down HQs 1)", f"{run['drain_rate'] / floor:.2f}", "", ""),
        *memory_rows(runs, small, big),
    ]
    print_rows(rows)


def memory_rows(runs: dict[int, dict[str, float]], small: int, big: int) -> list[tuple[str, str, str, str]]:
    """Peak RSS of `associate sync` by backlog ("flat": the largest within 15% of the small one), and the slope."""
    largest = max(runs)
    flat = runs[largest]["peak_mib"] <= runs[small]["peak_mib"] * 1.15
    growth = (runs[largest]["peak_mib"] - runs[small]["peak_mib"]) * 2**20 / (largest - small)
    rows = [
        ("peak memory of the sync process, nothing pending (Python, httpx, the store)", f"{runs[0]['peak_mib']:.1f} MiB", "", "")
    ]
    for n in sorted(n for n in runs if n):
        target = ("flat", "ok" if flat else "MISS") if n == largest else ("", "")
        rows.append((f"peak memory of the sync process, {n:,} pending", f"{runs[n]['peak_mib']:.1f} MiB", *target))
    rows.append((f"  memory per pending record, {small:,} to {largest:,}", f"{growth:.1f} bytes", "", ""))
    return rows


def print_rows(rows: list[tuple[str, str, str, str]]) -> None:
    print()
    print("| measure | value | target | |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
