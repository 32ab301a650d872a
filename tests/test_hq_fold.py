"""The roll-ups folded after the commit (sync/hq/fold.py): exactly once, whatever dies when.

A batch's transaction writes its asks' parts to the outbox (rollup_queue, a row a batch); a fold
adds them to the roll-ups and deletes them in one transaction. Killing HQ between the two loses nothing,
a fold killed midway changes nothing, an erasure reaches parts still waiting, and the
serving worker folds on its own soon after a batch.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta

from hq_server import ROOT, HQDatabase, HQProcess
from test_hq_evidence import CUSTOMERS, END, UNTIL_DAY, ask, chain, send

from schemas.records import ErasureRecord
from sync.hq import fold, report, rollups, schema
from sync.hq.database import insert_rows
from sync.hq.storage import HQStorage

TABLES = {
    "demand_days": "SELECT * FROM demand_days WHERE asks > 0",
    "demand_chain_days": "SELECT * FROM demand_chain_days WHERE asks > 0",
    "demand_hours": "SELECT * FROM demand_hours WHERE asks > 0",
    "demand_customers": "SELECT * FROM demand_customers WHERE asks > 0",
    "associate_days": "SELECT * FROM associate_days WHERE asks > 0",
    "substitute_days": "SELECT day, substitute_key, store_id, offered, accepted, declined FROM substitute_days WHERE offered > 0",
    "store_days": "SELECT * FROM store_days WHERE asks > 0",
    "store_weeks": "SELECT * FROM store_weeks WHERE asks > 0",
    "associate_weeks": "SELECT * FROM associate_weeks WHERE days > 0",
    "demand_store_weeks": "SELECT * FROM demand_store_weeks WHERE asks > 0",
    # Wordings are numbered as first seen: compared by what they hold (a wording kept twice would show twice).
    "demand_wording_days": "SELECT w.demand_key, w.text, w.category, w.attributes, d.day, d.asks FROM demand_wording_days AS d "
    "JOIN demand_wordings AS w ON w.id = d.wording_id WHERE d.asks > 0",
}


def waiting_parts(hq_db) -> list[list]:
    """Every part waiting in the outbox, unpacked from its batch's row (rollups.QUEUED values)."""
    return [part for (parts,) in hq_db.rows("SELECT parts FROM rollup_queue ORDER BY seq") for part in json.loads(parts)]


def rollup_rows(hq_db) -> dict[str, list[tuple]]:
    return {table: sorted(hq_db.rows(sql)) for table, sql in TABLES.items()}


def assert_kept_equals_rebuilt(hq_db, storage: HQStorage) -> dict[str, list[tuple]]:
    kept = rollup_rows(hq_db)
    with storage.db.write() as conn:
        rollups.rebuild(conn)
    assert kept == rollup_rows(hq_db)
    return kept


def edits() -> list:
    """The chain's asks, and new versions of half of them: voided, another hour, another outcome, another customer,
    other words (the same in capitals, so the same group and wording, another row of demand_wordings)."""
    import msgspec

    asks = chain()
    changed = []
    for n, record in enumerate(asks[::2]):
        change = (
            {"voided": True, "void_reason": "logged twice"},
            {"created_at": record.created_at[:11] + "07" + record.created_at[13:]},  # another hour
            {"outcome": "found"},
            {"customer_id": CUSTOMERS[n % len(CUSTOMERS)], "substitute": "Navy Parka", "substitute_accepted": True},
            {"text": record.text.upper()},
        )[n % 5]
        changed.append(msgspec.structs.replace(record, version=2, **change))
    return asks, changed


def test_parts_wait_in_the_outbox_until_folded_and_fold_once(hq_db) -> None:
    with HQStorage.open(hq_db.url) as storage:
        first, second = edits()
        assert set(send(storage, first)) == {"accepted"}
        assert set(send(storage, second)) == {"accepted"}  # v1 and v2 both wait: the fold adds v1, takes it away, adds v2
        waiting = hq_db.rows("SELECT count(*) FROM rollup_queue")[0][0]
        assert waiting == len({r.store_id for r in first}) + len({r.store_id for r in second})  # a row a batch
        # A batch's identical parts are one part with their count: the burst's 30 asks, say.
        assert len(waiting_parts(hq_db)) < len(first) + 2 * len(second)
        assert sum(part[0] for part in waiting_parts(hq_db)) == len(first) - sum(1 for r in second if r.voided)
        assert hq_db.rows("SELECT count(*) FROM demand_days") == [(0,)]
        assert fold.fold(storage.db) == waiting
        assert fold.fold(storage.db) == 0  # folded once: nothing left to add again
        kept = assert_kept_equals_rebuilt(hq_db, storage)
        assert kept["demand_days"] and kept["demand_customers"] and kept["substitute_days"]


def test_hq_killed_between_commit_and_fold_loses_nothing(hq_db) -> None:
    """Batches committed, no fold yet (what a worker killed right after its commits leaves): the next worker folds them.

    tests/test_sync_e2e.py kills a serving worker mid-sync for real and checks the roll-ups after.
    """
    with HQStorage.open(hq_db.url) as storage:
        assert set(send(storage, chain())) == {"accepted"}
        assert sum(part[0] for part in waiting_parts(hq_db)) == len(chain())
    with HQProcess(hq_db):  # a fresh worker folds what waits, with no batch and no read to prompt it
        deadline = time.monotonic() + 60
        while hq_db.rows("SELECT count(*) FROM rollup_queue")[0][0]:
            assert time.monotonic() < deadline, "the worker did not fold what waited"
            time.sleep(0.1)
    with HQStorage.open(hq_db.url) as storage:
        assert hq_db.rows("SELECT sum(asks) FROM demand_days")[0][0] == len(chain())
        assert_kept_equals_rebuilt(hq_db, storage)


DIE_MIDWAY = """
import os, signal, sys
from sync.hq import fold
from sync.hq.storage import HQStorage

statements = fold._STATEMENTS


def dying():
    yield from statements[:3]  # demand_days, demand_chain_days and demand_hours written, the rest not, the outbox kept
    os.kill(os.getpid(), signal.SIGKILL)


class Dying:
    def __iter__(self):
        return dying()


fold._STATEMENTS = Dying()
with HQStorage.open(sys.argv[1]) as storage:
    fold.fold(storage.db)
"""


def test_a_fold_killed_midway_is_rolled_back(hq_db) -> None:
    with HQStorage.open(hq_db.url) as storage:
        first, second = edits()
        send(storage, first)
        fold.fold(storage.db)
        send(storage, second)
        before, waiting = rollup_rows(hq_db), hq_db.rows("SELECT * FROM rollup_queue ORDER BY seq")
        killed = subprocess.run([sys.executable, "-c", DIE_MIDWAY, hq_db.url], cwd=ROOT, capture_output=True, timeout=120)
        assert killed.returncode == -9, killed.stderr
        assert rollup_rows(hq_db) == before and hq_db.rows("SELECT * FROM rollup_queue ORDER BY seq") == waiting
        assert fold.fold(storage.db) == len(waiting)
        assert rollup_rows(hq_db) != before
        assert_kept_equals_rebuilt(hq_db, storage)


def erasure_of(customer_id: str, created_at: str, n: int) -> ErasureRecord:
    """Store S2's terminal erasing a customer (the n-th erasure of a test, for its id)."""
    return ErasureRecord(
        id=f"0193aaaa-0000-7000-8000-{n:012d}",
        version=1,
        created_at=created_at,
        store_id="S2",
        terminal_id="T1",
        customer_id=customer_id,
        reason="consent_withdrawn",
    )


def test_an_erasure_reaches_the_parts_still_waiting(hq_db) -> None:
    with HQStorage.open(hq_db.url) as storage:
        named = [ask("grey wool scarf", "S2", END - timedelta(hours=n + 1), customer=CUSTOMERS[3]) for n in range(4)]
        send(storage, named)
        assert send(storage, [erasure_of(CUSTOMERS[3], named[0].created_at, 1)]) == ["accepted"]  # before any fold
        customer = rollups.QUEUED.index("customer_id")
        assert [part[customer] for part in waiting_parts(hq_db)] == [None] * len(named)
        fold.fold(storage.db)
        assert hq_db.rows("SELECT count(*) FROM demand_customers WHERE customer_id = ?", (CUSTOMERS[3],)) == [(0,)]
        assert hq_db.rows("SELECT sum(asks) FROM demand_days") == [(4,)]
        assert_kept_equals_rebuilt(hq_db, storage)


def test_a_regroup_takes_what_waits_into_the_rebuild(hq_db) -> None:
    with HQStorage.open(hq_db.url) as storage:
        # Words the colour leaves over: a taxonomy without colours (the bank pack) groups these anew.
        moving = [ask("black rain jacket", f"S{n}", END - timedelta(hours=n), attributes={"colour": "navy"}) for n in (1, 2, 3)]
        send(storage, chain() + moving)
        storage.publish_taxonomy((ROOT / "schemas" / "packs" / "bank.json").read_bytes())  # every ask regrouped
        assert hq_db.rows("SELECT count(*) FROM rollup_queue") == [(0,)]
        assert hq_db.rows("SELECT sum(asks) FROM demand_days")[0][0] == len(chain()) + len(moving)
        assert_kept_equals_rebuilt(hq_db, storage)


def test_a_worker_groups_its_next_batch_with_a_pack_another_worker_published(hq_db) -> None:
    """Two HQ workers: one published the bank pack (and regrouped); the other, which grouped its last batch with
    the retail pack, finds the new pack in its next batch's transaction and groups those asks with it."""
    with HQStorage.open(hq_db.url) as first, HQStorage.open(hq_db.url) as second:
        send(first, chain())  # first has the retail pack's words in hand
        second.publish_taxonomy((ROOT / "schemas" / "packs" / "bank.json").read_bytes())
        moving = [ask("black rain jacket", f"S{n}", END - timedelta(hours=n), attributes={"colour": "navy"}) for n in (1, 2)]
        send(first, moving)
        assert second.regroup() == 0  # every ask already in its group under the bank pack
        fold.fold(first.db)
        assert_kept_equals_rebuilt(hq_db, first)


def figures_read_three_ways(storage: HQStorage, hq_db, since: str, category: str | None, sort: str) -> list[list[tuple]]:
    """A report's groups over `since` to 2026-11-22: per store (demand_days), chain-wide (demand_chain_days, the
    stores from demand_days) and chain-wide with the stores over weeks from demand_store_weeks (HQ migration 15)."""
    from sync.hq import queries, report

    bounds = report.window(since, "2026-11-22").bounds()
    days = queries._days(bounds["since"], bounds["until"], bounds["week"], bounds["prev_week"], bounds["since"])
    read = []
    for chain_wide, paired in ((False, False), (True, False), (True, True)):
        sql, params = queries._groups_sql(
            *days,
            unmet=report.unmet_outcomes(storage),
            scope=queries.scope_sql(None, category),
            sort=sort,
            chain=chain_wide,
            paired=paired,
        )
        read.append(hq_db.rows(sql, [*params, 50]))
    return read


def test_the_chain_wide_figures_equal_those_summed_over_the_stores(hq_db) -> None:
    """A report without --store reads demand_chain_days and counts stores apart: the same groups, figures and order."""
    with HQStorage.open(hq_db.url) as storage:
        first, second = edits()
        send(storage, first)
        send(storage, second)
        fold.fold(storage.db)
        for since, category, sort in (("14d", None, "evidence"), ("7d", None, "asks"), ("28d", "clothing", "evidence")):
            per_store, chain, paired = figures_read_three_ways(storage, hq_db, since, category, sort)
            assert per_store == chain == paired and per_store


def test_a_pack_that_counts_other_outcomes_as_unmet_derives_the_pairs_anew(hq_db) -> None:
    """The pairs roll-up counts the published pack's unmet outcomes. The retail pack with out of stock no longer
    unmet (the same words: nothing regroups) takes the chain's out-of-stock asks out of it; the bank pack (whose
    unmet outcomes are none of retail's) keeps it empty, and the bank's unmet asks sent after fill it as a
    rebuild would. A report asking for other outcomes than those it counts reads demand_days instead."""
    import json

    from sync.hq import queries

    with HQStorage.open(hq_db.url) as storage:
        send(storage, chain())
        fold.fold(storage.db)
        assert hq_db.rows("SELECT count(*) FROM demand_store_weeks WHERE asks > 0")[0][0] > 0
        retail = json.loads((ROOT / "schemas" / "packs" / "retail.json").read_text())
        for outcome in retail["outcomes"]:
            outcome["unmet"] = outcome["unmet"] and outcome["code"] != "out_of_stock"
        storage.publish_taxonomy(json.dumps({**retail, "version": "2026.2"}).encode())
        assert storage.regroup() == 0  # the same words: only count_as_unmet changed the pairs
        assert hq_db.rows("SELECT count(*) FROM demand_store_weeks WHERE asks > 0") == [(0,)]
        with storage.db.read() as conn:
            assert not queries.unmet_pairs_kept(conn, ("out_of_stock",))
        storage.publish_taxonomy((ROOT / "schemas" / "packs" / "bank.json").read_bytes())
        assert hq_db.rows("SELECT outcome FROM unmet_outcomes ORDER BY outcome") == [
            ("not_eligible",),
            ("not_offered",),
            ("unavailable",),
        ]
        assert hq_db.rows("SELECT count(*) FROM demand_store_weeks WHERE asks > 0") == [(0,)]
        turned_away = [
            ask("mortgage advice", f"S{n % 3}", END - timedelta(days=n, hours=n), outcome=outcome)
            for n in range(12)
            for outcome in ("unavailable", "not_eligible", "provided")
        ]
        send(storage, turned_away)
        fold.fold(storage.db)
        kept = assert_kept_equals_rebuilt(hq_db, storage)
        assert sum(row[-1] for row in kept["demand_store_weeks"]) == 24  # the unmet asks, by the bank pack
        with storage.db.read() as conn:
            assert queries.unmet_pairs_kept(conn, ("not_eligible", "not_offered", "unavailable"))
        per_store, chain_wide, paired = figures_read_three_ways(storage, hq_db, "14d", None, "evidence")
        assert per_store == chain_wide == paired and per_store


FRESH_WORDINGS = (
    "SELECT min(text), min(category), min(attributes) FROM asks WHERE demand_key = ? AND created_at >= ? AND created_at < ? "
    "AND voided = 0 AND outcome <> 'feedback' GROUP BY lower(text) ORDER BY count(*) DESC, min(text) LIMIT 3"
)


def assert_wordings_as_the_asks_say(hq_db, storage: HQStorage, since: str = "14d") -> None:
    """Each group's wordings, category and attributes as read from the roll-up equal those counted from its asks."""
    import json

    period = report.window(since, UNTIL_DAY)
    groups = report.demand(storage, period, top=50)
    assert groups
    for group in groups:
        fresh = hq_db.rows(FRESH_WORDINGS, (group["key"], period.bounds()["since"], period.bounds()["until"]))
        assert group["examples"] == [text for text, *_ in fresh]
        assert group["category"] == fresh[0][1]
        assert group["attributes"] == {k: v for k, v in json.loads(fresh[0][2]).items() if k != "price"}


def test_a_groups_wordings_are_its_commonest_as_its_asks_say_after_edits(hq_db) -> None:
    with HQStorage.open(hq_db.url) as storage:
        first, second = edits()
        variants = [
            ask(text, "S3", END - timedelta(hours=n + 1)) for n, text in enumerate(["Red Umbrella"] * 3 + ["RED umbrella"])
        ]
        send(storage, first + variants)
        assert_wordings_as_the_asks_say(hq_db, storage)
        send(storage, second)  # voided, moved, re-worded: the old version's wording counts one less
        assert_wordings_as_the_asks_say(hq_db, storage)
        assert_wordings_as_the_asks_say(hq_db, storage, "7d")
        umbrella = next(g for g in report.demand(storage, report.window("14d", UNTIL_DAY)) if "umbrella" in g["label"].lower())
        # 30 asks so worded, and the case variants with them: one wording, shown by the first in byte order
        assert umbrella["examples"] == ["RED UMBRELLA"]
        assert_kept_equals_rebuilt(hq_db, storage)


OUTBOX_12 = rollups.QUEUED[:-2]  # rollup_outbox's columns at schema 12 (no text, no attributes)


def test_the_upgrade_to_13_folds_what_waited_and_derives_the_wordings(hq_db, monkeypatch) -> None:
    """An HQ at schema 12 with parts waiting (no words in them): the upgrade folds them and counts the wordings."""
    from pathlib import Path

    older = HQDatabase(hq_db.kind, hq_db.path.parent / "older" if hq_db.path else Path(), upgraded=False)
    try:
        first, second = edits()
        with monkeypatch.context() as patch:
            patch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:12])
            patch.setattr(schema, "LATEST_SCHEMA", 12)
            # The outbox as schema 12 kept it: a row a part, no words in it.
            patch.setattr(
                rollups, "queue", lambda conn, store, rows: insert_rows(conn, "rollup_outbox", OUTBOX_12, [r[:-2] for r in rows])
            )
            with HQStorage.open(older.url, upgrade=True) as storage:
                assert set(send(storage, first)) == {"accepted"}
        assert older.rows("SELECT count(*) FROM rollup_outbox")[0][0]
        with HQStorage.open(older.url, upgrade=True) as storage:
            assert older.rows("SELECT count(*) FROM rollup_queue") == [(0,)]
            assert_wordings_as_the_asks_say(older, storage)
            assert set(send(storage, second)) == {"accepted"}
            assert_wordings_as_the_asks_say(older, storage)
            assert_kept_equals_rebuilt(older, storage)
    finally:
        older.drop()


def test_the_upgrade_to_16_packs_the_parts_waiting_a_row_each_and_folds_them_once(hq_db, monkeypatch) -> None:
    """An HQ at schema 15 with parts waiting a row each, an erased customer's among them: the upgrade moves
    them to the outbox of a row per batch, the erasure after it still reaches them, and one fold adds them."""
    from pathlib import Path

    older = HQDatabase(hq_db.kind, hq_db.path.parent / "older" if hq_db.path else Path(), upgraded=False)
    try:
        first, second = edits()
        named = [ask("grey wool scarf", "S2", END - timedelta(hours=n + 1), customer=CUSTOMERS[3]) for n in range(3)]
        with monkeypatch.context() as patch:
            patch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:15])
            patch.setattr(schema, "LATEST_SCHEMA", 15)
            patch.setattr(rollups, "queue", lambda conn, store, rows: insert_rows(conn, "rollup_outbox", rollups.QUEUED, rows))
            with HQStorage.open(older.url, upgrade=True) as storage:
                assert set(send(storage, first + named)) == {"accepted"}
                assert set(send(storage, second)) == {"accepted"}
        one_a_row = older.rows(f"SELECT {', '.join(rollups.QUEUED)} FROM rollup_outbox ORDER BY seq")
        with HQStorage.open(older.url, upgrade=True) as storage:
            # every part kept, a row per store
            assert Counter(tuple(part) for part in waiting_parts(older)) == Counter(one_a_row)
            assert older.rows("SELECT count(*) FROM rollup_queue") == [(len({part[2] for part in one_a_row}),)]
            assert send(storage, [erasure_of(CUSTOMERS[3], named[0].created_at, 2)]) == ["accepted"]
            customer = rollups.QUEUED.index("customer_id")
            assert CUSTOMERS[3] not in {part[customer] for part in waiting_parts(older) if part[2] == "S2"}
            assert fold.fold(storage.db) == len({part[2] for part in one_a_row})
            assert older.rows("SELECT sum(asks) FROM demand_days")[0][0] == sum(part[0] for part in one_a_row)
            assert_kept_equals_rebuilt(older, storage)
    finally:
        older.drop()


FRESH_STORES = (
    "SELECT store_id, count(*), sum(CASE WHEN outcome IN ({}) THEN 1 ELSE 0 END), "
    "sum(CASE WHEN outcome = 'other' THEN 1 ELSE 0 END), sum(CASE WHEN category IS NULL THEN 1 ELSE 0 END), "
    "count(DISTINCT substr(created_at, 1, 10) || associate), max(created_at) FROM asks "
    "WHERE created_at >= ? AND created_at < ? AND voided = 0 AND outcome <> 'feedback' GROUP BY store_id ORDER BY store_id"
)


def test_data_quality_from_the_roll_ups_equals_what_the_asks_say_after_edits(hq_db) -> None:
    import msgspec

    with HQStorage.open(hq_db.url) as storage:
        first, second = edits()
        other = [msgspec.structs.replace(record, version=3, outcome="other") for record in second[1::3] if not record.voided]
        send(storage, first)
        for batch in (second, other):
            send(storage, batch)
            for since in ("7d", "14d", "28d"):  # days only; a week of a month and days; the short week 29-31 too
                period = report.window(since, UNTIL_DAY)
                unmet = report.unmet_outcomes(storage)
                bounds = period.bounds()
                fresh = hq_db.rows(FRESH_STORES.format(", ".join("?" * len(unmet))), (*unmet, bounds["since"], bounds["until"]))
                read = [
                    (s["store_id"], s["asks"], s["unmet"], s["other"], s["uncategorised"], s["associate_days"], s["last_ask_at"])
                    for s in report.data_quality(storage, period)["stores"]
                    if s["asks"]
                ]
                assert read == fresh and fresh
        assert_kept_equals_rebuilt(hq_db, storage)


def test_weeks_of_a_month_are_the_same_in_python_and_in_sql_and_tile_any_period(hq_db) -> None:
    from datetime import date

    HQStorage.open(hq_db.url).close()
    days = [(date(2027, 12, 20) + timedelta(days=n)).isoformat() for n in range(0, 800, 3)]  # 2028 is a leap year
    weeks = hq_db.rows(" UNION ALL ".join(f"SELECT '{day}', {rollups.WEEK_SQL.format(day=repr(day))}" for day in days))
    assert weeks == [(day, rollups.week_of_month(day)) for day in days]
    for since, until in (("2028-02-20", "2028-03-09"), ("2027-12-31", "2028-01-01"), ("2028-01-29", "2028-03-29")):
        first, last = rollups.whole_weeks(since, until)
        assert since <= first <= last <= until
        inside = [(date.fromisoformat(first) + timedelta(days=n)).isoformat() for n in range(400)]
        inside = [day for day in inside if day < last]
        assert all(rollups.week_of_month(day) >= first for day in inside)  # no week starts before the period
        assert not inside or rollups.week_of_month(last) == last  # nor runs past its end
    assert rollups.whole_weeks("2028-02-22", "2028-03-01") == ("2028-02-22", "2028-03-01")  # 22-28, and 29 alone
    assert rollups.whole_weeks("2028-02-23", "2028-03-08") == ("2028-02-29", "2028-03-08")
    assert rollups.whole_weeks("2028-03-02", "2028-03-08") == ("2028-03-02", "2028-03-02")  # none whole: days only


def test_unmet_asks_per_day_chain_wide_are_those_the_asks_say(hq_db) -> None:
    """The dashboard's weekly bars without a store read demand_chain_days: the same days and counts as the asks."""
    with HQStorage.open(hq_db.url) as storage:
        first, second = edits()
        send(storage, first)
        send(storage, second)
        bounds = report.window("28d", UNTIL_DAY).bounds()
        unmet = report.unmet_outcomes(storage)
        fresh = hq_db.rows(
            f"SELECT substr(created_at, 1, 10), count(*) FROM asks WHERE created_at >= ? AND created_at < ? AND voided = 0 "
            f"AND outcome IN ({', '.join('?' * len(unmet))}) GROUP BY substr(created_at, 1, 10) ORDER BY 1",
            (bounds["since"], bounds["until"], *unmet),
        )
        read = storage.unmet_per_day(since=bounds["since"], until=bounds["until"], unmet=unmet)
        assert [tuple(row) for row in read] == fresh and fresh
