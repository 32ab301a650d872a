"""Signal over noise (issue 17): HQ ranks demand groups by the evidence behind them, not by raw counts,
on generated asks whose truth is known, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from schemas.records import AskRecord, ErasureRecord, Record
from schemas.taxonomy import load_pack
from schemas.times import format_utc
from sync.hq import digest, evidence, fold, report, rollups
from sync.hq.cli import main as associate_hq
from sync.hq.ingest import Received
from sync.hq.storage import HQStorage

ROOT = Path(__file__).resolve().parents[1]
RETAIL = load_pack("retail")
END = datetime(2026, 11, 23, tzinfo=timezone.utc)  # a Monday, 00:00: the reports end with Sunday the 22nd
UNTIL_DAY = "2026-11-22"

BURST = "red umbrella"  # 30 asks from one terminal in ten minutes
SPREAD = "navy rain jacket"  # 16 asks from 8 stores over two weeks
NAMED = "grey wool scarf"  # 6 asks at 2 stores on 3 days, 6 customers named
REPEAT = "black chelsea boots"  # the same, one customer named 6 times
UNNAMED = "white linen shirt"  # the same, no customer named
CUSTOMERS = [str(uuid.UUID(int=n + 1, version=4)) for n in range(7)]


def ask(text: str, store: str, when: datetime, *, customer: str | None = None, **fields) -> AskRecord:
    """An unmet ask, recognised as the terminal would (category and attributes, with the retail pack)."""
    moment = format_utc(when)
    categories = RETAIL.suggest_categories(text)
    values = {
        "id": str(uuid.uuid4()),
        "version": 1,
        "created_at": moment,
        "updated_at": moment,
        "store_id": store,
        "terminal_id": "T1",
        "associate": "AB",
        "channel": "walk-in",
        "text": text,
        "category": categories[0].code if categories else None,
        "attributes": RETAIL.recognise(text),
        "outcome": "out_of_stock",
        "customer_id": customer,
    }
    return AskRecord(**{**values, **fields})


def chain() -> list[AskRecord]:
    """The asks of the chain, each group's truth known (the constants above)."""
    start = END - timedelta(days=2) + timedelta(hours=10, minutes=20)
    asks = [ask(BURST, "S1", start + timedelta(seconds=20 * i)) for i in range(30)]
    asks += [ask(SPREAD, f"S{i % 8 + 1}", END - timedelta(days=1 + i * 13 // 15) + timedelta(hours=9 + i % 8)) for i in range(16)]
    for i in range(6):
        when = END - timedelta(days=1 + i % 3) + timedelta(hours=11 + i)
        store = f"S{1 + i % 2}"
        asks += [
            ask(NAMED, store, when, customer=CUSTOMERS[i]),
            ask(REPEAT, store, when, customer=CUSTOMERS[6]),
            ask(UNNAMED, store, when),
        ]
    return asks


def send(storage: HQStorage, records: list[Record]) -> list[str]:
    """Each store's records as its terminal sends them, in one batch per store; the statuses."""
    statuses = []
    by_store: dict[str, list[Record]] = {}
    for record in records:
        by_store.setdefault(record.store_id, []).append(record)
    for store, items in sorted(by_store.items()):
        if not any(t.store_id == store for t in storage.list_terminals()):
            storage.add_terminal(store, "T1")
        results = storage.apply_batch(
            store_id=store,
            terminal_id="T1",
            batch_id=str(uuid.uuid4()),
            sent_at=format_utc(END),
            received_at=format_utc(END),
            clock_skew_ms=0,
            records=[Received(record=r, id=r.id, version=r.version) for r in items],
        )
        statuses += [result.status for result in results]
    return statuses


@pytest.fixture
def hq(hq_db):
    with HQStorage.open(hq_db.url) as storage:
        assert set(send(storage, chain())) == {"accepted"}
    return hq_db


def report_json(hq_db, capsys, *options: str) -> dict:
    code = associate_hq(["report", "--db", hq_db.url, "--until", UNTIL_DAY, "--format", "json", *options])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def by_label(rows: list[dict]) -> dict[str, dict]:
    return {row["label"]: row for row in rows}


FIGURES = ("asks", "effective_asks", "stores", "days", "weeks", "customers", "score", "signal")


def figures(row: dict) -> dict:
    return {name: row[name] for name in FIGURES}


def test_a_burst_from_one_terminal_ranks_below_16_asks_from_8_stores_over_two_weeks(hq, capsys) -> None:
    body = report_json(hq, capsys, "--since", "14d")
    assert body["ranked_by"] == evidence.SCORE_RULE
    rows = body["demand"]
    labels = [row["label"] for row in rows]
    assert labels.index(SPREAD) < labels.index(BURST)
    found = by_label(rows)
    spread_days = len({1 + i * 13 // 15 for i in range(16)})
    assert figures(found[SPREAD]) == {
        "asks": 16,
        "effective_asks": 16,
        "stores": 8,
        "days": spread_days,
        "weeks": 2,
        "customers": 0,
        "score": 16 + 8 + spread_days + 2,
        "signal": "strong",
    }
    # 30 asks in one clock hour at one terminal count as 1 + log2(30), rounded down: 5.
    assert figures(found[BURST]) == {
        "asks": 30,
        "effective_asks": 5,
        "stores": 1,
        "days": 1,
        "weeks": 1,
        "customers": 0,
        "score": 5 + 1 + 1 + 1,
        "signal": "one-off",
    }
    assert found[SPREAD]["why"] == f"ranks 1st, score {16 + 8 + spread_days + 2}: 8 stores, {spread_days} days, 2 weeks; 16 asks"
    assert found[BURST]["why"] == (
        f"ranks {evidence.ordinal(labels.index(BURST) + 1)}, score 8: 1 store, 1 day, 1 week; "
        "30 asks count as 5 (one terminal's repeats within an hour count less)"
    )
    assert [row["rank"] for row in rows] == list(range(1, len(rows) + 1))
    assert [row["score"] for row in rows] == sorted((row["score"] for row in rows), reverse=True)

    # --sort asks: the old order, the most unmet asks first.
    by_asks = report_json(hq, capsys, "--since", "14d", "--sort", "asks")
    assert [row["label"] for row in by_asks["demand"]][:2] == [BURST, SPREAD]
    assert by_asks["ranked_by"] == "unmet asks"
    assert figures(by_label(by_asks["demand"])[BURST]) == figures(found[BURST])


def test_distinct_customers_lift_a_group_and_a_repeat_customer_counts_once(hq, capsys) -> None:
    rows = report_json(hq, capsys, "--since", "14d")["demand"]
    labels = [row["label"] for row in rows]
    assert labels.index(NAMED) < labels.index(REPEAT) < labels.index(UNNAMED)
    found = by_label(rows)
    same = {"asks": 6, "effective_asks": 6, "stores": 2, "days": 3, "weeks": 1, "signal": "one-off"}
    assert figures(found[NAMED]) == {**same, "customers": 6, "score": 6 + 2 + 3 + 1 + 6}
    assert figures(found[REPEAT]) == {**same, "customers": 1, "score": 6 + 2 + 3 + 1 + 1}
    assert figures(found[UNNAMED]) == {**same, "customers": 0, "score": 6 + 2 + 3 + 1}
    assert found[NAMED]["why"].endswith(": 2 stores, 3 days, 1 week, 6 customers; 6 asks")
    # Scoped to a store, every figure is that store's.
    s2 = by_label(report_json(hq, capsys, "--since", "14d", "--store", "S2")["demand"])
    assert (s2[NAMED]["asks"], s2[NAMED]["stores"], s2[NAMED]["customers"]) == (3, 1, 3)
    assert BURST not in s2 and s2[SPREAD]["asks"] == 2


def test_the_table_and_the_csv_show_the_figures_behind_the_rank(hq, capsys) -> None:
    code = associate_hq(["report", "--db", hq.url, "--until", UNTIL_DAY, "--since", "14d"])
    out = capsys.readouterr().out
    assert code == 0
    assert "by evidence" in out and "Ranked by evidence: score = effective asks + stores" in out
    assert "30 (as 5)" in out and "Score" in out and "3 days, 1 week, 6 customers" in out
    code = associate_hq(["report", "--db", hq.url, "--until", UNTIL_DAY, "--since", "14d", "--format", "csv"])
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    burst = next(row for row in rows if row["label"] == BURST)
    assert {name: burst[name] for name in FIGURES} == {
        "asks": "30",
        "effective_asks": "5",
        "stores": "1",
        "days": "1",
        "weeks": "1",
        "customers": "0",
        "score": "8",
        "signal": "one-off",
    }
    assert rows[0]["label"] == SPREAD and rows[0]["why"].startswith("ranks 1st, score")


def test_the_digest_puts_strong_signals_apart_from_one_offs_and_says_why(hq) -> None:
    with HQStorage.open(hq.url) as storage:
        built = digest.build(storage, report.window("7d", UNTIL_DAY))
    md, page = digest.markdown(built), digest.to_html(built)
    top = md.split("## Rising asks")[0]
    strong, one_offs = top.split("### Strong signals")[1].split("### One-offs")
    # The last 7 days hold 9 of the spread asks, at 8 stores, in 2 of the last 4 weeks.
    assert f"**{SPREAD}** (#1): 9 asks in 8 stores" in strong
    assert "Ranks 1st, score 26: 8 stores, 7 days, 2 of the last 4 weeks; 9 asks." in strong
    for label in (BURST, NAMED, REPEAT, UNNAMED):
        assert label in one_offs and label not in strong
    assert "30 asks count as 5 (one terminal's repeats within an hour count less)." in one_offs
    assert "1 store, 1 day, 1 of the last 4 weeks" in one_offs and "6 customers" in one_offs
    assert "Ranked by evidence: score = effective asks" in top
    html_top = page.split("<h2>Rising asks</h2>")[0]
    assert html_top.index("<h3>Strong signals") < html_top.index(SPREAD) < html_top.index("<h3>One-offs") < html_top.index(BURST)
    assert "<small>Ranks 1st, score 26: 8 stores, 7 days, 2 of the last 4 weeks; 9 asks.</small>" in html_top


def test_the_rollups_kept_at_ingest_equal_those_rebuilt_after_edits_voids_an_erasure_and_a_regroup(hq) -> None:
    tables = {
        "demand_days": "SELECT * FROM demand_days WHERE asks > 0",
        "demand_chain_days": "SELECT * FROM demand_chain_days WHERE asks > 0",
        "demand_store_weeks": "SELECT * FROM demand_store_weeks WHERE asks > 0",
        "demand_hours": "SELECT * FROM demand_hours WHERE asks > 0",
        "demand_customers": "SELECT * FROM demand_customers WHERE asks > 0",
    }

    def kept_equals_rebuilt(storage: HQStorage) -> dict:
        fold.fold(storage.db)
        kept = {table: sorted(hq.rows(sql)) for table, sql in tables.items()}
        with storage.db.write() as conn:
            rollups.rebuild(conn)
        assert kept == {table: sorted(hq.rows(sql)) for table, sql in tables.items()}
        return kept

    with HQStorage.open(hq.url) as storage:
        held = {row[0]: row for row in hq.rows("SELECT id, text, created_at, customer_id, store_id FROM asks")}
        burst = sorted(i for i, row in held.items() if row[1] == BURST)
        spread = sorted(i for i, row in held.items() if row[1] == SPREAD)
        [first] = [i for i, row in held.items() if row[1] == NAMED and row[3] == CUSTOMERS[0]]
        burst_day = format_utc(END - timedelta(days=2))[:10]
        edits: list[Record] = [
            *(_again(held[i], voided=True, void_reason="logged twice") for i in burst[:15]),  # 15 left in the hour
            *(_again(held[i], created_at=format_utc(END - timedelta(days=1))) for i in burst[15:20]),  # 5 moved a day on
            _again(held[spread[0]], text=UNNAMED),  # another group, by its new words
            _again(held[spread[1]], outcome="found"),  # met after all: no longer unmet
            _again(held[first], customer_id=CUSTOMERS[1]),  # another customer, who asked already
            # Words the colour leaves over: a taxonomy without colours (the bank pack) groups these anew.
            *(ask("black rain jacket", f"S{n}", END - timedelta(hours=n), attributes={"colour": "navy"}) for n in (1, 2, 3)),
        ]
        assert set(send(storage, edits)) == {"accepted"}
        burst_key = _key(hq, BURST)
        fold.fold(storage.db)
        sums = "SELECT sum(asks), sum(effective) FROM demand_days WHERE demand_key = ? AND day = ?"
        assert hq.rows(sums, (burst_key, burst_day)) == [(10, 4)]  # 10 asks in the hour count 4
        kept_equals_rebuilt(storage)
        found = by_label(report.demand(storage, report.window("14d", UNTIL_DAY)))
        assert (found[BURST]["asks"], found[BURST]["effective_asks"], found[BURST]["days"]) == (15, 4 + 3, 2)
        # The spread lost two asks and, under the retail pack, gained the three navy ones worded 'black'.
        assert (found[NAMED]["customers"], found[SPREAD]["asks"], found[UNNAMED]["asks"]) == (5, 14 + 3, 7)

        erasure = ErasureRecord(
            id=str(uuid.uuid4()),
            version=1,
            created_at=format_utc(END),
            store_id="S2",
            terminal_id="T1",
            customer_id=CUSTOMERS[3],  # asked at S2
            reason="consent_withdrawn",
        )
        assert send(storage, [erasure]) == ["accepted"]
        assert hq.rows("SELECT count(*) FROM demand_customers WHERE customer_id = ?", (CUSTOMERS[3],)) == [(0,)]
        kept_equals_rebuilt(storage)
        assert by_label(report.demand(storage, report.window("14d", UNTIL_DAY)))[NAMED]["customers"] == 4

        groups_before = dict(hq.rows("SELECT id, demand_key FROM asks"))
        storage.publish_taxonomy((ROOT / "schemas" / "packs" / "bank.json").read_bytes())  # every ask regrouped
        assert dict(hq.rows("SELECT id, demand_key FROM asks")) != groups_before
        kept_equals_rebuilt(storage)


def _again(row: tuple, **changes) -> AskRecord:
    """The next version of a held ask (id, text, created_at, customer_id, store_id), with `changes`."""
    ask_id, text, created_at, customer, store = row
    # New words are recognised again, as the terminal does on an edit.
    current = ask(changes.pop("text", text), store, datetime.fromisoformat(created_at.replace("Z", "+00:00")), customer=customer)
    fields = {name: getattr(current, name) for name in current.__struct_fields__}
    return AskRecord(**{**fields, "id": ask_id, "version": 2, **changes})


def _key(hq_db, text: str) -> str:
    [(key,)] = hq_db.rows("SELECT DISTINCT demand_key FROM asks WHERE text = ?", (text,))
    return key
