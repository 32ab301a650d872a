"""What the counter feels: start-up, a save, a search, memory. Prints one table.

    python bench/bench_counter.py            # 1,000,000 asks (built once, cached in bench/results/)
    python bench/bench_counter.py --quick    # 100,000 asks, fewer runs: a sanity check

Never part of the test suite: these machines are shared and timings are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT))

from associate_tui.asks import AskDraft  # noqa: E402
from associate_tui.ids import format_utc, uuid7  # noqa: E402
from associate_tui.store import Store  # noqa: E402

APP_CHILD = """
import resource, sys, time
from associate_tui.app import AssociateApp
class Bench(AssociateApp):
    def on_ready(self):
        ready = time.time()
        assert self.focused is not None and self.focused.id == "ask-text", self.focused
        # The recent list loads in a worker that opens the store: wait for it.
        self.set_interval(0.005, lambda: self._check(ready))
    def _check(self, ready):
        if self.screen.query_one("#recent-asks").row_count or not self.workers:
            print(ready, time.time(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
            self.exit()
Bench().run(headless=True)
"""

MINIMAL_CHILD = """
import resource, time
from textual.app import App
from textual.widgets import Input
class Minimal(App):
    def compose(self):
        yield Input(placeholder="What did the customer ask for?")
    def on_ready(self):
        now = time.time()
        print(now, now, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        self.exit()
Minimal().run(headless=True)
"""

SCREEN_CHILD = MINIMAL_CHILD.replace(
    "from textual.widgets import Input", "from textual.widgets import DataTable, Footer, Header, Input"
).replace(
    'yield Input(placeholder="What did the customer ask for?")',
    'yield Header(); yield Input(placeholder="What did the customer ask for?"); yield DataTable(); yield Footer()',
)

COLOURS = "black white grey navy blue light-blue red burgundy green olive khaki beige brown tan pink purple yellow orange cream silver gold".split()
ITEMS = (
    "rain jacket",
    "parka",
    "jeans",
    "chinos",
    "jumper",
    "cardigan",
    "t-shirt",
    "shirt",
    "dress",
    "skirt",
    "trainers",
    "boots",
    "sandals",
    "scarf",
    "hat",
    "gloves",
    "backpack",
    "handbag",
    "belt",
    "duvet cover",
    "kettle",
    "toaster",
    "headphones",
    "phone case",
    "charger",
    "moisturiser",
    "lipstick",
    "perfume",
    "mug",
    "lamp",
)
SIZES = ("size XS", "size S", "size M", "size L", "size XL", "size 10", "size 12", "UK 9", "EU 42", "32x34", "")
BRANDS = ("", "", "", "Levi's", "Nike", "Adidas", "Samsung", "Apple", "The North Face", "Barbour")
OUTCOMES = ("found", "substituted", "out_of_stock", "not_carried", "too_expensive", "referred", "ordered", "other")
NOTES = (
    "wants a call when it comes in",
    "gift for daughter",
    "saw it online",
    "needs it by Friday",
    "asked twice this week",
    "price match?",
    "for a wedding",
)
QUERIES = (
    "b",
    "bl",
    "blu",
    "blue",
    "blue r",
    "blue ra",
    "blue rain",
    "rain jac",
    "navy",
    "jea",
    "jeans 32",
    "32x3",
    "trainers",
    "size m",
    "parka",
    "headph",
    "perf",
    "zzq",
    "wedd",
    "lev",
)


def fake_ask(rng: random.Random, when: float) -> tuple:
    item = rng.choice(ITEMS)
    colour = rng.choice(COLOURS).replace("-", " ")
    text = " ".join(part for part in (rng.choice(BRANDS), colour, item, rng.choice(SIZES)) if part)
    substitute = f"{rng.choice(COLOURS)} {item}" if rng.random() < 0.25 else None
    note = rng.choice(NOTES) if rng.random() < 0.2 else None
    stamp = format_utc(__import__("datetime").datetime.fromtimestamp(when, __import__("datetime").timezone.utc))
    return (
        uuid7(),
        stamp,
        stamp,
        "S1",
        "T1",
        rng.choice(("AB", "CD", "EF")),
        "walk-in",
        text,
        "clothing.tops",
        json.dumps({"colour": colour}),
        rng.choice(OUTCOMES),
        substitute,
        None if substitute is None else int(rng.random() < 0.5),
        1,
        note,
    )


def build(path: Path, rows: int) -> float:
    """A file of `rows` realistic asks; FTS built in one pass by the upgrade."""
    started = time.perf_counter()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    rng = random.Random(42)
    start = time.time() - 365 * 86400
    with Store(path, migrate_to=1) as store:
        conn = store.conn
        conn.execute("BEGIN IMMEDIATE")
        for chunk in range(0, rows, 50_000):
            count = min(50_000, rows - chunk)
            conn.executemany(
                "INSERT INTO asks (id, created_at, updated_at, store_id, terminal_id, associate, channel, text, "
                "category, attributes, outcome, substitute, substitute_accepted, quantity, note) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (fake_ask(rng, start + (chunk + i) * 365 * 86400 / rows) for i in range(count)),
            )
        conn.execute("COMMIT")
    Store(path).close()  # upgrade to the latest schema: the FTS index is built here
    return time.perf_counter() - started


def holds(path: Path, rows: int) -> bool:
    """Whether a cached benchmark file exists with exactly `rows` asks (else it is built again)."""
    if not path.exists():
        return False
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT count(*) FROM asks").fetchone()[0] == rows


def cached_file(rows: int, rebuild: bool) -> tuple[Path, float | None]:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"asks-{rows}.db"
    if not rebuild and holds(path, rows):
        return path, None
    return path, build(path, rows)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def time_saves(path: Path, count: int) -> tuple[list[float], list[float]]:
    """Each save until it is committed, as the associate waits for it; then, as the
    app does once "saved" is on screen, the housekeeping (timed apart)."""
    rng = random.Random(7)
    timings, tidy = [], []
    with Store(path) as store:
        for _ in range(count):
            draft = AskDraft(
                text=f"{rng.choice(COLOURS)} {rng.choice(ITEMS)} {rng.choice(SIZES)}".strip(),
                outcome=rng.choice(OUTCOMES),
                attributes={"colour": "blue"},
            )
            started = time.perf_counter()
            store.add_ask(draft, store_id="S1", terminal_id="T1", associate="AB")
            saved = time.perf_counter()
            store.tidy()
            timings.append((saved - started) * 1000)
            tidy.append((time.perf_counter() - saved) * 1000)
    return timings, tidy


def time_searches(path: Path, rounds: int) -> list[float]:
    timings = []
    with Store(path) as store:
        cases = [(q, None) for q in QUERIES] + [("", None), ("blue", "out_of_stock"), ("jea", "not_carried"), ("", "found")]
        for _ in range(rounds):
            for query, outcome in cases:
                started = time.perf_counter()
                store.recent_asks(query=query, outcome=outcome, limit=50)
                timings.append((time.perf_counter() - started) * 1000)
    return timings


def start_up(child: str, runs: int) -> tuple[list[float], list[float], int]:
    ready, stored, memory = [], [], 0
    with tempfile.TemporaryDirectory() as scratch:
        env = {**os.environ, "ASSOCIATE_DATA_DIR": scratch, "ASSOCIATE_CONFIG": f"{scratch}/config.toml"}
        for run in range(runs + 1):  # the first run only warms the .pyc files
            began = time.time()
            out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
            if out.returncode != 0:
                raise SystemExit(f"start-up child failed:\n{out.stderr[-2000:]}")
            ready_at, stored_at, rss = out.stdout.split()[-3:]
            if run:
                ready.append((float(ready_at) - began) * 1000)
                stored.append((float(stored_at) - began) * 1000)
                memory = max(memory, int(rss))
    return ready, stored, memory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=9, help="start-up runs of each app")
    parser.add_argument("--quick", action="store_true", help="100,000 rows and fewer runs")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached database file")
    args = parser.parse_args()
    rows, runs, saves, rounds = args.rows, args.runs, 2000, 25
    if args.quick:
        rows, runs, saves, rounds = 100_000, 3, 300, 5
    import textual

    print(
        f"python {platform.python_version()} · sqlite {sqlite3.sqlite_version} · textual {textual.__version__} · "
        f"{os.cpu_count()} cores · {rows:,} asks"
    )

    app_ready, app_stored, app_rss = start_up(APP_CHILD, runs)
    min_ready, _, min_rss = start_up(MINIMAL_CHILD, runs)
    screen_ready, _, _ = start_up(SCREEN_CHILD, runs)
    big, build_seconds = cached_file(rows, args.rebuild)
    with tempfile.TemporaryDirectory() as scratch:
        empty_saves, _ = time_saves(Path(scratch) / "empty.db", saves)
        copy = Path(scratch) / "big.db"
        shutil.copyfile(big, copy)
        full_saves, full_tidy = time_saves(copy, saves)
    searches = time_searches(big, rounds)
    size_mib = big.stat().st_size / 2**20

    ratio = statistics.median(app_ready) / statistics.median(min_ready)
    table = [
        ("start to capture screen ready (median)", f"{statistics.median(app_ready):.0f} ms", "", ""),
        ("  minimal Textual app, one Input (median)", f"{statistics.median(min_ready):.0f} ms", "", ""),
        ("  ratio", f"{ratio:.2f}x", "<= 1.5x", "ok" if ratio <= 1.5 else "MISS"),
        ("  Header+Input+DataTable+Footer app (median)", f"{statistics.median(screen_ready):.0f} ms", "", ""),
        ("start to recent list loaded (store open)", f"{statistics.median(app_stored):.0f} ms", "", ""),
        ("peak memory: app at start / minimal app", f"{app_rss / 1024:.0f} / {min_rss / 1024:.0f} MiB", "", ""),
        ("save p50 / p99, empty file", f"{percentile(empty_saves, 50):.2f} / {percentile(empty_saves, 99):.2f} ms", "", ""),
        (
            f"save p50 / p99, {rows:,} asks",
            f"{percentile(full_saves, 50):.2f} / {percentile(full_saves, 99):.2f} ms",
            "p99 < 10 ms",
            "ok" if percentile(full_saves, 99) < 10 else "MISS",
        ),
        (
            "  tidy after each save p50 / p99 (off the counter's path)",
            f"{percentile(full_tidy, 50):.2f} / {percentile(full_tidy, 99):.2f} ms",
            "",
            "",
        ),
        (
            f"search p50 / p99, {rows:,} asks",
            f"{percentile(searches, 50):.2f} / {percentile(searches, 99):.2f} ms",
            "p99 < 50 ms",
            "ok" if percentile(searches, 99) < 50 else "MISS",
        ),
        ("  slowest search", f"{max(searches):.1f} ms", "", ""),
        (f"database file, {rows:,} asks", f"{size_mib:.0f} MiB", "", ""),
    ]
    if build_seconds is not None:
        table.append(("  built in", f"{build_seconds:.0f} s", "", ""))
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    header = ("measure", "value", "target", "")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    print("\n--- markdown ---")
    print("| measure | value | target | |\n|---|---|---|---|")
    for row in table:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
