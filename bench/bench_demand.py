"""Demand: "asked before" suggestions at the counter, and HQ's reports, on a million asks. Prints one table.

    python bench/bench_demand.py            # 1,000,000 asks on the terminal and at HQ (files cached in bench/results/)
    python bench/bench_demand.py --quick    # 100,000 asks: a sanity check

A suggestion is timed as the form does it on each keystroke: recognise attributes,
suggest a category, then Store.similar_asks. Target: p99 under 50 ms.
Never part of the test suite: these machines are shared and timings are noisy.
"""

from __future__ import annotations

import argparse
import platform
import random
import sqlite3
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import msgspec

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_counter import COLOURS, ITEMS, OUTCOMES, SIZES, cached_file, holds, percentile  # noqa: E402

from associate_tui.store import Store  # noqa: E402
from schemas.records import AskRecord  # noqa: E402
from schemas.taxonomy import load_pack  # noqa: E402
from schemas.times import format_utc  # noqa: E402
from sync.hq import dashboard, digest, report  # noqa: E402
from sync.hq.storage import HQStorage, Received  # noqa: E402

RESULTS = ROOT / "bench" / "results"
TYPED = (
    "navy rain jacket size M",
    "black boots UK 9",
    "jeans 32x34",
    "grey scarf",
    "headphones",
    "Levi's blue jeans size 12",
    "pink dress size S",
    "wool jumper",
    "phone case",
    "zzq nothing",
)


def time_suggestions(path: Path, rounds: int) -> list[float]:
    taxonomy = load_pack("retail")
    timings: list[float] = []
    with Store(path, vocabulary=taxonomy.vocabulary()) as store:
        store.similar_asks("warm up")
        for _ in range(rounds):
            for text in TYPED:
                for end in range(2, len(text) + 1):  # every keystroke of typing it
                    typed = text[:end]
                    started = time.perf_counter()
                    attributes = taxonomy.recognise(typed)
                    categories = taxonomy.suggest_categories(typed, limit=5)
                    store.similar_asks(typed, attributes=attributes, category=categories[0].code if categories else None)
                    timings.append((time.perf_counter() - started) * 1000)
    return timings


def hq_records(rng: random.Random, count: int, until: datetime, stores: int) -> list[AskRecord]:
    taxonomy = load_pack("retail")
    records = []
    for _ in range(count):
        item, colour, size = rng.choice(ITEMS), rng.choice(COLOURS).replace("-", " "), rng.choice(SIZES)
        text = " ".join(part for part in (colour, item, size) if part)
        when = format_utc(until - timedelta(seconds=rng.randrange(84 * 86400)))
        attributes = taxonomy.recognise(text)
        if rng.random() < 0.1:
            attributes["price"] = f"{rng.randrange(10, 300)}.99"
        substitute = f"{rng.choice(COLOURS)} {item}" if rng.random() < 0.25 else None
        store = f"S{rng.randrange(stores):03d}" if stores else "S000"
        categories = taxonomy.suggest_categories(text, limit=1)
        records.append(
            AskRecord(
                id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                version=1,
                created_at=when,
                updated_at=when,
                store_id=store,
                terminal_id="T1",
                associate=rng.choice(("AB", "CD", "EF")),
                channel="walk-in",
                text=text,
                category=categories[0].code if categories else None,
                attributes=attributes,
                outcome=rng.choice(OUTCOMES),
                substitute=substitute,
                substitute_accepted=None if substitute is None else rng.random() < 0.5,
            )
        )
    return records


def hq_file(rows: int, until: datetime, rebuild: bool) -> tuple[Path, float | None]:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"hq-{rows}.db"
    if not rebuild and holds(path, rows):
        return path, None
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    started = time.perf_counter()
    rng = random.Random(11)
    with HQStorage.open(f"sqlite:///{path}") as storage:
        for start in range(0, rows, 1000):
            # A batch is one terminal's 1,000 asks; 200 stores take turns.
            store = f"S{(start // 1000) % 200:03d}"
            records = [msgspec.structs.replace(r, store_id=store) for r in hq_records(rng, min(1000, rows - start), until, 0)]
            storage.apply_batch(
                store_id=store,
                terminal_id="T1",
                batch_id=str(uuid.uuid4()),
                sent_at=format_utc(until),
                received_at=format_utc(until),
                clock_skew_ms=0,
                records=[Received(r, r.id, r.version) for r in records],
            )
    return path, time.perf_counter() - started


def timed(action, runs: int) -> list[float]:
    result = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        result.append((time.perf_counter() - started) * 1000)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    rows = 100_000 if args.quick else 1_000_000
    until = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)

    terminal, built = cached_file(rows, args.rebuild)
    Store(terminal).close()  # upgrade a cached file (demand keys are filled in here)
    suggestions = time_suggestions(terminal, 1 if args.quick else 3)
    hq_path, hq_built = hq_file(rows, until, args.rebuild)

    lines = [("what", "figure"), ("asks in each file", f"{rows:,}")]
    if built is not None:
        lines.append(("terminal file built in", f"{built:.0f} s"))
    if hq_built is not None:
        lines.append(("HQ file built through apply_batch in", f"{hq_built:.0f} s ({rows / hq_built:,.0f} asks/s)"))
    lines += [
        ("suggestion per keystroke, calls", f"{len(suggestions)}"),
        (
            "suggestion p50 / p95 / p99 / max",
            " / ".join(f"{percentile(suggestions, q):.1f}" for q in (50, 95, 99, 100)) + " ms (target p99 < 50)",
        ),
    ]
    with HQStorage.open(f"sqlite:///{hq_path}") as storage:
        until_day = (until - timedelta(days=1)).date().isoformat()
        for label, since in (("7d", "7d"), ("4w", "4w"), ("12w", "12w")):
            period = report.window(since, until_day)
            runs = timed(lambda: (report.demand(storage, period, top=20), report.data_quality(storage, period)), 3)
            lines.append((f"report --since {label} (demand + data quality)", f"median {sorted(runs)[1]:.0f} ms"))
        period = report.window("7d", until_day)
        runs = timed(lambda: report.demand(storage, period, store="S007", top=20), 3)
        lines.append(("report --since 7d --store S007", f"median {sorted(runs)[1]:.0f} ms"))
        runs = timed(lambda: digest.build(storage, period), 3)
        lines.append(("digest --week (build)", f"median {sorted(runs)[1]:.0f} ms"))
        runs = timed(lambda: dashboard.page(storage, period), 3)
        lines.append(("/dashboard page, 7d", f"median {sorted(runs)[1]:.0f} ms"))
    width = max(len(a) for a, _ in lines)
    print(f"bench_demand on {platform.machine()}, Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}")
    for what, figure in lines:
        print(f"  {what.ljust(width)}  {figure}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
