"""What the counter feels: start-up, a save, a search, memory. Prints one table.

    python bench/bench_counter.py            # 1,000,000 asks (built once, cached in bench/results/)
    python bench/bench_counter.py --quick    # 100,000 asks, fewer runs: a sanity check
    python bench/bench_counter.py --startup  # the start-up rows only

Start-up is timed from the process's start to the first paint of the capture screen with
the cursor in the ask (the App's Ready), for the `associate` command as a person runs it
and for the app class alone, beside a one-Input Textual app: each run of one is followed
by a run of the others, so the ratios are taken side by side. The children write .pyc
files (the first run of each only warms them), as an installed terminal has them, even
where PYTHONDONTWRITEBYTECODE is set.

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
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT))

from associate_tui.asks import AskDraft  # noqa: E402
from associate_tui.ids import format_utc, uuid7  # noqa: E402
from associate_tui.store import Store  # noqa: E402

# Each child prints: first paint, whole screen mounted, recent list loaded (epoch seconds), peak RSS (KiB).
# Peak RSS is the process's own high-water mark (VmHWM): ru_maxrss would count this benchmark's memory
# too, which Linux carries into a child at the fork.
PEAK_RSS = """
def peak_rss():
    try:
        return int(next(line for line in open("/proc/self/status") if line.startswith("VmHWM")).split()[1])
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
"""

BENCH_APP = """
class Bench(AssociateApp):
    def run(self, **kwargs):
        return App.run(self, headless=True)
    def on_ready(self):
        ready = time.time()  # the first paint
        assert self.focused is not None and self.focused.id == "ask-text", self.focused
        self.set_interval(0.005, lambda: self._check(ready))
    def _check(self, ready):
        screen = self.screen
        if not getattr(screen, "_complete", True):  # the rest: the form's other fields, the list, status line, keys
            return
        self.bench_complete = getattr(self, "bench_complete", None) or time.time()
        # The recent list loads in a worker that opens the store: wait for it.
        if screen.query("#recent-asks") and not any(w.group in ("recent", "prepare") for w in self.workers if not w.is_finished):
            print(ready, self.bench_complete, time.time(), peak_rss())
            self.exit()
"""

APP_CHILD = (
    "import resource, time\nfrom textual.app import App\nfrom associate_tui.app import AssociateApp\n"
    + PEAK_RSS
    + BENCH_APP
    + "Bench().run()\n"
)

# `associate` as a person runs it (cli.main: the command line, the config, then the app), the app made headless.
COMMAND_CHILD = (
    "import resource, sys, time\nfrom associate_tui import cli\n"
    + PEAK_RSS
    + """
run_app = cli._run_app
def headless_app(config):
    import associate_tui.app as app_module
    from textual.app import App
    AssociateApp = app_module.AssociateApp
"""
    + "\n".join("    " + line for line in BENCH_APP.strip("\n").splitlines())
    + """
    app_module.AssociateApp = Bench  # what _run_app imports
    return run_app(config)
cli._run_app = headless_app
sys.exit(cli.main([]))
"""
)

MINIMAL_CHILD = (
    "import resource, time\nfrom textual.app import App\nfrom textual.widgets import Input\n"
    + PEAK_RSS
    + """
class Minimal(App):
    def compose(self):
        yield Input(placeholder="What did the customer ask for?")
    def on_ready(self):
        now = time.time()
        print(now, now, now, peak_rss())
        self.exit()
Minimal().run(headless=True)
"""
)

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


@dataclass
class Started:
    """One child's start-ups: ms from the process's start to the first paint, the whole screen, the list loaded."""

    ready: list[float] = field(default_factory=list)
    complete: list[float] = field(default_factory=list)
    loaded: list[float] = field(default_factory=list)
    peak_kib: int = 0

    def median(self, what: str = "ready") -> float:
        return statistics.median(getattr(self, what))


def start_up(children: dict[str, str], runs: int) -> dict[str, Started]:
    """Run each child `runs` times, in turn (one of each, then again), after a run of each that warms the .pyc files."""
    started = {name: Started() for name in children}
    with tempfile.TemporaryDirectory() as scratch:
        env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
        env.update(ASSOCIATE_DATA_DIR=scratch, ASSOCIATE_CONFIG=f"{scratch}/config.toml")
        for run in range(runs + 1):
            for name, child in children.items():
                began = time.time()
                out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
                if out.returncode != 0:
                    raise SystemExit(f"start-up child {name} failed:\n{out.stderr[-2000:]}")
                *stamps, rss = out.stdout.split()[-4:]
                if run:
                    ready, complete, loaded = ((float(stamp) - began) * 1000 for stamp in stamps)
                    found = started[name]
                    found.ready.append(ready)
                    found.complete.append(complete)
                    found.loaded.append(loaded)
                    found.peak_kib = max(found.peak_kib, int(rss))
    return started


def start_up_rows(runs: int) -> list[tuple[str, str, str, str]]:
    started = start_up({"command": COMMAND_CHILD, "app": APP_CHILD, "minimal": MINIMAL_CHILD, "screen": SCREEN_CHILD}, runs)
    command, app, minimal = started["command"], started["app"], started["minimal"]
    ratio = command.median() / minimal.median()
    spread = sorted(c / m for c, m in zip(command.ready, minimal.ready))
    return [
        (f"`associate` to capture screen painted, cursor in the ask (median of {runs})", f"{command.median():.0f} ms", "", ""),
        ("  minimal Textual app, one Input (median)", f"{minimal.median():.0f} ms", "", ""),
        (
            "  ratio",
            f"{ratio:.2f}x",
            "<= 1.3x",
            f"{'ok' if ratio <= 1.3 else 'MISS'} (runs {spread[0]:.2f}-{spread[-1]:.2f})",
        ),
        (
            "  the app class alone (no command line), and its ratio",
            f"{app.median():.0f} ms, {app.median() / minimal.median():.2f}x",
            "",
            "",
        ),
        ("  Header+Input+DataTable+Footer app (median)", f"{started['screen'].median():.0f} ms", "", ""),
        (
            "`associate` to the whole capture screen mounted (form, list, status line, keys)",
            f"{command.median('complete'):.0f} ms",
            "",
            "",
        ),
        ("`associate` to the recent list loaded (store open, in a worker)", f"{command.median('loaded'):.0f} ms", "", ""),
        (
            "peak memory: `associate` at start / minimal app",
            f"{command.peak_kib / 1024:.0f} / {minimal.peak_kib / 1024:.0f} MiB",
            "",
            "",
        ),
    ]


def print_table(table: list[tuple[str, str, str, str]]) -> None:
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    header = ("measure", "value", "target", "")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    print("\n--- markdown ---")
    print("| measure | value | target | |\n|---|---|---|---|")
    for row in table:
        print("| " + " | ".join(row) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=9, help="start-up runs of each app")
    parser.add_argument("--quick", action="store_true", help="100,000 rows and fewer runs")
    parser.add_argument("--startup", action="store_true", help="the start-up rows only (no database file)")
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
    table = start_up_rows(runs)
    if not args.startup:
        table += store_rows(rows, saves, rounds, args.rebuild)
    print_table(table)


def store_rows(rows: int, saves: int, rounds: int, rebuild: bool) -> list[tuple[str, str, str, str]]:
    big, build_seconds = cached_file(rows, rebuild)
    with tempfile.TemporaryDirectory() as scratch:
        empty_saves, _ = time_saves(Path(scratch) / "empty.db", saves)
        copy = Path(scratch) / "big.db"
        shutil.copyfile(big, copy)
        full_saves, full_tidy = time_saves(copy, saves)
    searches = time_searches(big, rounds)
    size_mib = big.stat().st_size / 2**20
    table = [
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
    return table


if __name__ == "__main__":
    main()
