"""Recognition of realistic asks (issue 15): scores per pack and the time per keystroke. Prints one table.

    python bench/bench_recognition.py                  # the table in tests/recognition_table.py, today's rules
    python bench/bench_recognition.py --at 259b2e8     # the same table through the rules of an older commit
    python bench/bench_recognition.py --store FILE     # also time Store.similar_asks on a terminal file (a copy!)

Scores: category accuracy (the first suggestion), attribute precision / recall / F1 over key=value
pairs, and every miss. Timing: each ask typed one key at a time, and on each keystroke what the
form does with the text: recognise attributes and suggest categories (Store.similar_asks, the other
half of the 50 ms suggestion budget, is bench_demand.py's). Never part of the test suite.
"""

from __future__ import annotations

import argparse
import importlib
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def keystrokes(taxonomy, texts: list[str], rounds: int, store=None) -> list[float]:
    timings = []
    for _ in range(rounds):
        for text in texts:
            for end in range(1, len(text) + 1):
                typed = text[:end]
                started = time.perf_counter()
                attributes = taxonomy.recognise(typed)
                categories = taxonomy.suggest_categories(typed, limit=5)
                if store is not None:
                    store.similar_asks(typed, attributes=attributes, category=categories[0].code if categories else None)
                timings.append((time.perf_counter() - started) * 1000)
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--at", help="score the rules (schemas/) of this commit instead of the working tree")
    parser.add_argument("--rounds", type=int, default=3, help="times the table is typed for the timing")
    parser.add_argument(
        "--store", type=Path, help="a terminal database to time similar_asks on too (it is opened, so use a copy)"
    )
    parser.add_argument("--quiet", action="store_true", help="do not list the misses")
    args = parser.parse_args()
    if args.at:
        where = Path(tempfile.mkdtemp(prefix="recognition-"))
        archive = subprocess.run(["git", "archive", args.at, "schemas"], cwd=ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(where)], input=archive, check=True)
        sys.path.insert(0, str(where))
    else:
        sys.path.insert(0, str(ROOT))
    sys.path.insert(1, str(ROOT / "tests"))
    taxonomy_module = importlib.import_module("schemas.taxonomy")
    table = importlib.import_module("recognition_table")

    rows = []
    misses: list[tuple[str, list[str]]] = []
    for pack, asks in (("retail", table.RETAIL), ("bank", table.BANK)):
        taxonomy = taxonomy_module.load_pack(pack)
        result = table.score(taxonomy, asks)
        store = None
        if args.store and pack == "retail":
            store = importlib.import_module("associate_tui.store").Store(args.store, vocabulary=taxonomy.vocabulary())
        timings = keystrokes(taxonomy, [text for text, _, _ in asks], args.rounds, store)
        if store is not None:
            store.close()
        rows.append(
            (
                pack,
                f"{result['asks']}",
                f"{result['category']:.1%}",
                f"{result['precision']:.3f}",
                f"{result['recall']:.3f}",
                f"{result['f1']:.3f}",
                f"{len(result['misses'])}",
                f"{percentile(timings, 50):.3f} / {percentile(timings, 99):.3f} ms",
            )
        )
        misses.append((pack, result["misses"]))
    timed = "per keystroke p50 / p99" + (" (retail: + similar_asks)" if args.store else "")
    header = ("pack", "asks", "category", "attr P", "attr R", "attr F1", "misses", timed)
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    where = f"commit {args.at}" if args.at else "working tree"
    print(f"bench_recognition ({where}) on {platform.machine()}, Python {platform.python_version()}")
    for row in (header, *rows):
        print("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths)))
    print("  goal: category >= 95.0%, attribute F1 >= 0.950; keystroke budget (with similar_asks): p99 < 50 ms")
    if not args.quiet:
        for pack, missed in misses:
            print(f"\n{pack} misses ({len(missed)}):")
            for line in missed:
                print(f"  {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
