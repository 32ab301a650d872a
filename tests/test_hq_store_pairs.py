"""A group's stores column reads its (group, store) pairs from indexes that hold them (HQ migration 14).

At ten million asks on PostgreSQL the pairs of the last 7 days took 0.5 s from the table's pages
and 0.1 s from the index alone. SQLite's plan is checked here (PostgreSQL chooses by its statistics);
the stores counted are checked against the asks in test_hq_evidence and test_hq_fold.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sync.hq import queries
from sync.hq.storage import HQStorage

UNMET = ("out_of_stock", "not_carried")


def test_the_stores_column_reads_the_pairs_from_covering_indexes(tmp_path: Path) -> None:
    path = tmp_path / "hq.db"
    HQStorage.open(f"sqlite:///{path}").close()  # created and migrated to the latest schema
    marks = ", ".join("?" * len(UNMET))

    def plan(scope: str, scope_params: list[str], *, paired: bool = False) -> str:
        sql = queries._stores_sql(marks, scope, paired=paired)
        params = queries._stores_params("2026-09-08", "2026-12-01", UNMET, scope_params, paired=paired)
        with sqlite3.connect(path) as conn:
            return " | ".join(row[-1] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))

    for paired in (True, False):  # the days at the ends, or every day (other outcomes than demand_store_weeks')
        chain = plan("", [], paired=paired)
        assert "COVERING INDEX demand_days_pairs" in chain, chain
        one_store = plan(" AND store_id = ?", ["S1"], paired=paired)  # a store's own rows: never the whole table
        assert "SCAN demand_days" not in one_store and "SCAN demand_store_weeks" not in one_store, one_store


def test_over_weeks_the_chain_wide_stores_column_reads_a_row_per_pair_by_the_key(tmp_path: Path) -> None:
    """HQ migration 15: the weeks' pairs come from demand_store_weeks by its key (which holds every column on
    SQLite), a row per pair whatever the outcome; not from demand_days' row per day, category and outcome."""
    path = tmp_path / "hq.db"
    HQStorage.open(f"sqlite:///{path}").close()
    sql = queries._stores_sql(", ".join("?" * len(UNMET)), "", paired=True)
    params = queries._stores_params("2026-09-08", "2026-12-01", UNMET, [], paired=True)
    with sqlite3.connect(path) as conn:
        plan = " | ".join(row[-1] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))
    assert "SEARCH demand_store_weeks USING PRIMARY KEY (week>? AND week<?)" in plan, plan
    assert plan.count("SEARCH demand_days") == 2, plan  # the days at the two ends only
