"""HQ's reports on a chain's worth of asks, on PostgreSQL and SQLite.

    python bench/bench_hq_reports.py                   # 10,000,000 asks on PostgreSQL, 1,000,000 on SQLite
    python bench/bench_hq_reports.py --asks 1000000    # both at 1,000,000
    python bench/bench_hq_reports.py --quick           # 200,000

The asks are made from 20,000 distinct ones (wordings of the bench chain's items,
colours and sizes, grouped by HQ's own rules) spread over 2,000 stores and 12 weeks,
and loaded in bulk (COPY on PostgreSQL, executemany on SQLite): apply_batch would
take hours for ten million. The daily roll-ups are then derived from the asks as
`db upgrade` does, and HQ's report, digest and dashboard code is timed on them.
A PostgreSQL database built once (associate_hq_reports) is reused when it holds
the asked-for count. Prints a table; never part of the tests.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_demand import COLOURS, ITEMS, OUTCOMES, SIZES  # noqa: E402

from associate_tui.ids import format_utc  # noqa: E402
from schemas.demand import demand_key, lost_value  # noqa: E402
from schemas.taxonomy import load_pack  # noqa: E402
from sync.hq import dashboard, digest, report, rollups  # noqa: E402
from sync.hq.storage import ASK_FIELDS, HQStorage  # noqa: E402

PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
PG_DB = "associate_hq_reports"
STORES = 2000
DAYS = 84
SHAPES = 20_000
COLUMNS = ASK_FIELDS + ("demand_key", "lost_value", "content_hash", "received_at", "batch_id", "clock_skew_ms")


def shapes(rng: random.Random) -> list[tuple]:
    """Distinct asks: (text, category, attributes JSON, demand key, attributes dict)."""
    taxonomy = load_pack("retail")
    words = taxonomy.vocabulary()
    out = []
    for _ in range(SHAPES):
        item, colour, size = rng.choice(ITEMS), rng.choice(COLOURS).replace("-", " "), rng.choice(SIZES)
        text = " ".join(part for part in (colour, item, size) if part)
        attributes = taxonomy.recognise(text)
        if rng.random() < 0.1:
            attributes["price"] = f"{rng.randrange(10, 300)}.99"
        categories = taxonomy.suggest_categories(text, limit=1)
        category = categories[0].code if categories else None
        out.append(
            (text, category, json.dumps(attributes, sort_keys=True), demand_key(category, attributes, text, words), attributes)
        )
    return out


def rows(count: int, until: datetime, seed: int = 11):
    rng = random.Random(seed)
    pool = shapes(rng)
    now = format_utc(until)
    for n in range(count):
        text, category, attributes, key, attrs = pool[int(rng.paretovariate(1.2)) % SHAPES]  # a long tail
        when = format_utc(until - timedelta(seconds=rng.randrange(DAYS * 86400)))
        quantity = rng.choice((1, 1, 1, 2))
        substitute = f"{rng.choice(COLOURS)} {text.split()[-1]}" if rng.random() < 0.25 else None
        accepted = None if substitute is None else int(rng.random() < 0.5)
        values = {
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "version": 1,
            "created_at": when,
            "updated_at": when,
            "store_id": f"S{rng.randrange(STORES):04d}",
            "terminal_id": f"T{rng.randrange(5) + 1}",
            "associate": rng.choice(("AB", "CD", "EF", "GH")),
            "channel": "walk-in",
            "text": text,
            "category": category,
            "attributes": attributes,
            "outcome": rng.choice(OUTCOMES),
            "substitute": substitute,
            "substitute_accepted": accepted,
            "quantity": quantity,
            "note": None,
            "voided": int(rng.random() < 0.01),
            "void_reason": None,
            "customer_id": None,
            "same_as": None,
            "rating": None,
            "demand_key": key,
            "lost_value": lost_value(attrs, quantity),
            "content_hash": "0" * 64,
            "received_at": now,
            "batch_id": f"bench-{n // 1000}",
            "clock_skew_ms": 0,
        }
        yield tuple(values[c] for c in COLUMNS)


def build(url: str, count: int, until: datetime) -> float | None:
    """Fill a fresh HQ database with `count` asks, unless it already holds them; seconds taken."""
    with HQStorage.open(url, upgrade=True) as storage:
        if storage.count_asks() == count:
            return None
    started = time.perf_counter()
    if url.startswith("postgresql"):
        import psycopg

        with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {PG_DB}")
            conn.execute(f"CREATE DATABASE {PG_DB}")
        HQStorage.open(url, upgrade=True).close()
        with psycopg.connect(url) as conn:
            with conn.cursor().copy(f"COPY asks ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for n, row in enumerate(rows(count, until)):
                    copy.write_row(row)
                    if n % 1_000_000 == 0:
                        print(f"  {n:,} asks...", file=sys.stderr)
        with HQStorage.open(url) as storage, storage.db.write() as conn:
            rollups.rebuild(conn)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
    else:
        path = Path(url[len("sqlite:///") :])
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        with HQStorage.open(url) as storage, storage.db.write() as conn:
            batch = []
            for row in rows(count, until):
                batch.append(row)
                if len(batch) == 10_000:
                    conn.executemany(f"INSERT INTO asks ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})", batch)
                    batch = []
            if batch:
                conn.executemany(f"INSERT INTO asks ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})", batch)
            rollups.rebuild(conn)
        with HQStorage.open(url) as storage, storage.db.read() as conn:
            conn.execute("ANALYZE")
    return time.perf_counter() - started


def timed(action, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return sorted(times)[len(times) // 2]


def measure(url: str, until: datetime) -> dict[str, float]:
    until_day = (until - timedelta(days=1)).date().isoformat()
    out = {}
    with HQStorage.open(url) as storage:
        for label in ("7d", "4w", "12w"):
            period = report.window(label, until_day)
            out[f"report --since {label} (groups + data quality)"] = timed(
                lambda: report.demand_and_quality(storage, period, top=20)
            )
            out[f"  the two one after the other ({label})"] = timed(
                lambda: (report.demand(storage, period, top=20), report.data_quality(storage, period))
            )
            out[f"  of which groups ({label})"] = timed(lambda: report.demand(storage, period, top=20))
            out[f"  of which data quality ({label})"] = timed(lambda: report.data_quality(storage, period))
        period = report.window("7d", until_day)
        out["report --since 4w --store S0007"] = timed(
            lambda: report.demand(storage, report.window("4w", until_day), store="S0007", top=20)
        )
        out["report --since 4w --category clothing"] = timed(
            lambda: report.demand(storage, report.window("4w", until_day), category="clothing", top=20)
        )
        out["digest --week (build)"] = timed(lambda: digest.build(storage, period))
        out["/dashboard page (7 days + 8 weekly bars)"] = timed(lambda: dashboard.page(storage, period))
        with storage.db.read() as conn:
            for table in (
                "demand_days",
                "demand_chain_days",
                "demand_weeks",
                "demand_store_weeks",
                "store_days",
                "demand_wording_days",
            ):
                if storage.db.has_table(conn, table):
                    out[f"roll-up rows ({table})"] = conn.execute(f"SELECT count(*) FROM {table}", ()).fetchone()[0]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--asks", type=int, help="asks in each database (default: 10,000,000 PostgreSQL, 1,000,000 SQLite)")
    parser.add_argument("--quick", action="store_true", help="200,000 asks in each")
    args = parser.parse_args()
    until = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    sizes = {"postgresql": 10_000_000, "sqlite": 1_000_000}
    if args.asks or args.quick:
        sizes = dict.fromkeys(sizes, args.asks or 200_000)
    RESULTS.mkdir(parents=True, exist_ok=True)
    sqlite_file = RESULTS / f"hq-reports-{sizes['sqlite']}.db"
    urls = {"postgresql": f"{PG_SERVER}/{PG_DB}", "sqlite": f"sqlite:///{sqlite_file}"}
    results, built = {}, {}
    for kind, url in urls.items():
        if kind == "postgresql":
            import psycopg

            with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
                if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (PG_DB,)).fetchone():
                    conn.execute(f"CREATE DATABASE {PG_DB}")
        print(f"{kind}: {sizes[kind]:,} asks...", file=sys.stderr)
        built[kind] = build(url, sizes[kind], until)
        results[kind] = measure(url, until)
    names = {kind: f"{'PostgreSQL' if kind == 'postgresql' else 'SQLite'}, {sizes[kind]:,} asks" for kind in urls}
    print("\n| measure | " + " | ".join(names.values()) + " |")
    print("|---|" + "---|" * len(names))
    for label in results["postgresql"]:
        cells = []
        for kind in urls:
            value = results[kind][label]
            cells.append(f"{value:,}" if isinstance(value, int) else f"{value * 1000:,.0f} ms")
        print(f"| {label} | " + " | ".join(cells) + " |")
    for kind, seconds in built.items():
        if seconds:
            print(f"\n{names[kind]}: built (bulk load + roll-ups) in {seconds:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
