"""HQ as several processes on one database: the same batch at once, roll-ups in step, the schema command."""

from __future__ import annotations

import gzip
import json
import random
import subprocess
import sys
import threading
from contextlib import ExitStack

import httpx
import pytest
from hq_server import ROOT, HQDatabase, HQProcess, add_terminal

from schemas.demand import demand_key
from sync.hq import fold, rollups
from sync.hq.storage import HQStorage, Received

pytestmark = pytest.mark.slow  # end to end: real HQ processes, faults, generated calls (the slow tier)

CLIENTS = 10
ROUNDS = 6
TEXTS = ["navy rain jacket size M", "black rain jacket size L", "wool scarf", "linen shirt", "boots size 42"]
CUSTOMERS = ["01a205b6-becf-7048-a499-c00000000001", "01a205b6-becf-7048-a499-c00000000002"]


def ask(n: int, version: int = 1, rng: random.Random | None = None, **fields) -> dict:
    rng = rng or random.Random(n)
    day = f"2026-11-{10 + n % 12:02d}T{9 + n % 8:02d}:00:00.000Z"
    substitute = rng.choice([None, None, "parka", "Parka", "trench coat", "Écru Blouson", "écru blouson"])
    return {
        "type": "ask",
        "id": f"01a205b6-becf-7048-a499-{n:012x}",
        "version": version,
        "created_at": day,
        "updated_at": day,
        "store_id": "S1",
        "terminal_id": "T1",
        "associate": rng.choice(["AB", "CD"]),
        "channel": "walk-in",
        "text": rng.choice(TEXTS),
        "category": rng.choice(["clothing.outerwear", None]),
        "attributes": rng.choice([{"colour": "navy"}, {"price": "89.99"}, {}]),
        "outcome": rng.choice(["out_of_stock", "not_carried", "found", "substituted"]),
        "substitute": substitute,
        "substitute_accepted": rng.choice([True, False, None]) if substitute else None,
        "quantity": rng.randint(1, 3),
        "note": None,
        "voided": False,
        "void_reason": None,
        "customer_id": rng.choice([None, None, *CUSTOMERS]),  # drawn last: the other fields stay as they were
        **fields,
    }


def rounds() -> list[dict]:
    """Batches as a terminal retrying after timeouts sends them: new asks, then edits and voids of earlier ones."""
    rng = random.Random(7)
    batches = []
    for r in range(ROUNDS):
        records = [ask(r * 50 + i) for i in range(50)]
        if r:
            for n in rng.sample(range(r * 50), 20):
                records.append(ask(n, version=r + 1, rng=rng, voided=rng.random() < 0.3, void_reason="logged twice"))
        batches.append(
            {
                "schema_version": 1,
                "batch_id": f"0193a205-becf-7048-a499-{r:012x}",
                "store_id": "S1",
                "terminal_id": "T1",
                "sent_at": "2026-11-25T10:00:00.000Z",
                "records": records,
            }
        )
    return batches


@pytest.mark.parametrize("layout", ["serve --workers 4", "4 serve processes"])
def test_the_same_batch_sent_by_ten_clients_at_once_to_four_workers_is_applied_once(hq_db, layout) -> None:
    token = add_terminal(hq_db, "S1", "T1")
    with ExitStack() as stack:
        if layout == "serve --workers 4":
            servers = [stack.enter_context(HQProcess(hq_db, workers=4))]
        else:  # four HQs behind a load balancer: each client talks to one of them
            servers = [stack.enter_context(HQProcess(hq_db)) for _ in range(4)]
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Content-Encoding": "gzip"}
        accepted: dict[tuple[str, int], int] = {}
        sent = rounds()
        for body in sent:
            content = gzip.compress(json.dumps(body).encode())
            start = threading.Barrier(CLIENTS)
            answers: list[httpx.Response | BaseException] = [None] * CLIENTS  # type: ignore[list-item]

            def send(i: int) -> None:
                with httpx.Client(timeout=60) as client:
                    start.wait()
                    try:
                        answers[i] = client.post(f"{servers[i % len(servers)].url}/v1/batches", content=content, headers=headers)
                    except httpx.HTTPError as error:
                        answers[i] = error

            threads = [threading.Thread(target=send, args=(i,)) for i in range(CLIENTS)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            for answer in answers:
                assert isinstance(answer, httpx.Response) and answer.status_code == 200, answer
                for result in answer.json()["results"]:
                    assert result["status"] in ("accepted", "duplicate", "stale"), result
                    if result["status"] == "accepted":
                        key = (result["id"], result["version"])
                        accepted[key] = accepted.get(key, 0) + 1

    # Every version of every ask was applied by exactly one of the ten, and HQ holds the newest of each.
    latest = {record["id"]: record for body in sent for record in body["records"]}
    assert set(accepted.values()) == {1}
    assert len(accepted) == sum(len(body["records"]) for body in sent)
    held = dict(hq_db.rows("SELECT id, version FROM asks"))
    assert held == {record_id: record["version"] for record_id, record in latest.items()}
    assert hq_db.rows("SELECT count(*) FROM batches") == [(ROUNDS,)]
    # The daily counts add up to the asks, once each.
    counted = sum(1 for record in latest.values() if not record["voided"])
    assert hq_db.rows("SELECT sum(asks) FROM demand_days") == [(counted,)]
    assert hq_db.rows("SELECT sum(asks) FROM associate_days") == [(counted,)]


def test_the_daily_rollups_kept_at_ingest_equal_those_derived_from_the_asks(hq_db) -> None:
    with HQStorage.open(hq_db.url) as storage:
        for body in rounds():
            storage.apply_batch(
                store_id="S1",
                terminal_id="T1",
                batch_id=body["batch_id"],
                sent_at=body["sent_at"],
                received_at="2026-11-25T10:00:01.000Z",
                clock_skew_ms=0,
                records=[Received(record=_decode(record)) for record in body["records"]],
            )
        tables = {  # every count; a substitute's display wording is whichever came first, so not compared
            "demand_days": "SELECT * FROM demand_days WHERE asks > 0",
            "demand_chain_days": "SELECT * FROM demand_chain_days WHERE asks > 0",
            "demand_store_weeks": "SELECT * FROM demand_store_weeks WHERE asks > 0",
            "substitute_days": "SELECT day, substitute_key, store_id, offered, accepted, declined FROM substitute_days "
            "WHERE offered > 0",
            "associate_days": "SELECT * FROM associate_days WHERE asks > 0",
            "demand_hours": "SELECT * FROM demand_hours WHERE asks > 0",
            "demand_customers": "SELECT * FROM demand_customers WHERE asks > 0",
        }
        assert hq_db.rows("SELECT count(*) FROM demand_days") == [(0,)]  # nothing is folded in the batch's transaction
        fold.fold(storage.db)
        kept = {table: _rounded(hq_db.rows(sql)) for table, sql in tables.items()}
        with storage.db.write() as conn:
            rollups.rebuild(conn)
        derived = {table: _rounded(hq_db.rows(sql)) for table, sql in tables.items()}
        assert kept == derived
        assert len(kept["demand_days"]) > 20 and kept["substitute_days"] and kept["associate_days"]
        assert kept["demand_hours"] and kept["demand_customers"]

        # A new taxonomy regroups every ask, and the daily counts follow.
        before = dict(hq_db.rows("SELECT id, demand_key FROM asks"))
        storage.publish_taxonomy((ROOT / "schemas" / "packs" / "bank.json").read_bytes())  # no colour words
        words = storage.taxonomy_pack().vocabulary()
        after = {row[0]: row[1:] for row in hq_db.rows("SELECT id, demand_key, category, attributes, text FROM asks")}
        assert {i: key for i, (key, *_) in after.items()} == {
            i: demand_key(category, json.loads(attributes), text, words) for i, (_, category, attributes, text) in after.items()
        }
        assert sum(before[i] != key for i, (key, *_) in after.items()) > 10
        regrouped = {table: _rounded(hq_db.rows(sql)) for table, sql in tables.items()}
        with storage.db.write() as conn:
            rollups.rebuild(conn)
        assert regrouped == {table: _rounded(hq_db.rows(sql)) for table, sql in tables.items()}
        assert regrouped["demand_days"] != kept["demand_days"]


def _rounded(rows: list[tuple]) -> list[tuple]:
    return sorted(tuple(round(value, 6) if isinstance(value, float) else value for value in row) for row in rows)


def _decode(record: dict):
    import msgspec

    from schemas.records import Record

    return msgspec.json.decode(json.dumps(record).encode(), type=Record)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sync.hq.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_postgresql_is_served_only_after_db_upgrade(tmp_path) -> None:
    from hq_server import postgres_ready

    if why_not := postgres_ready():
        pytest.skip(why_not)
    db = HQDatabase("postgresql", tmp_path, upgraded=False)
    try:
        status = run_cli("db", "status", "--db", db.url)
        assert status.returncode == 1 and "schema 0, empty: run associate-hq db upgrade" in status.stdout
        refused = run_cli("serve", "--db", db.url, "--port", "1")
        assert refused.returncode == 1 and "run associate-hq db upgrade" in refused.stderr
        upgraded = run_cli("db", "upgrade", "--db", db.url)
        assert upgraded.returncode == 0 and "created at schema" in upgraded.stdout
        again = run_cli("db", "upgrade", "--db", db.url)
        assert again.returncode == 0 and "up to date" in again.stdout
        assert run_cli("terminal", "add", "--store", "S1", "--terminal", "T1", "--db", db.url).returncode == 0
    finally:
        db.drop()
    missing = run_cli("db", "status", "--db", "postgresql://postgres@127.0.0.1:5432/no_such_hq_database")
    assert missing.returncode == 1 and "does not exist: create it" in missing.stderr
    bad = run_cli("db", "status", "--db", "mysql://somewhere/hq")
    assert bad.returncode == 1 and "postgresql://user@host/dbname" in bad.stderr
