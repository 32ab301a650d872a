"""Terminals pull HQ's answers about demand groups and their store's own demand, after the push.

Real terminals' stores and the real HQ over loopback HTTP (HQThread), on SQLite and PostgreSQL:
the cursor, offline catch-up, pages, answers for one store only, counts across a store's
terminals, a page applied twice, refusals, an older HQ without the routes, and the report's
follow-ups won back after a restock.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from hq_server import HQThread

from associate_tui.asks import AskDraft
from associate_tui.config import load_taxonomy
from associate_tui.customers import CustomerDraft
from associate_tui.store import FollowUpPlan, Store
from schemas.records import AskRecord, FollowUpRecord, ResponsesPage
from schemas.times import format_utc
from sync import engine
from sync.client import HQClient
from sync.engine import Identity, SyncReport, sync_once
from sync.hq import app as hq_app
from sync.hq import report
from sync.hq.ingest import Received

ASK = "navy rain jacket"
LATER = (date.today() + timedelta(days=20)).isoformat()
VOCABULARY = load_taxonomy("retail").vocabulary()


class Counter:
    """One terminal: its own SQLite file, enrolled with its own token at the HQ under test."""

    def __init__(self, folder: Path, hq: HQThread, store_id: str, terminal_id: str) -> None:
        self.identity = Identity(store_id, terminal_id)
        self.store = Store(folder / f"{store_id}-{terminal_id}.db", vocabulary=VOCABULARY)
        self.token = hq.storage.add_terminal(store_id, terminal_id)
        self.client = HQClient(hq.url, self.token)
        self.ids = {"store_id": store_id, "terminal_id": terminal_id, "associate": "AB"}

    def ask(self, text: str = ASK, *, outcome: str = "out_of_stock", follow_up: bool = False) -> str:
        """Log an ask; with `follow_up`, for a customer who wants to hear when it comes in (due in 20 days)."""
        customer = None
        if follow_up:
            draft = CustomerDraft(name=f"Customer {uuid.uuid4().hex[:6]}", phone="+44 7700 900123", consent_follow_up=True)
            customer = self.store.add_customer(draft, consent_wording="2026-1", **self.ids).id
        plan = FollowUpPlan(due_on=LATER, assigned_to=None) if follow_up else None
        ask = self.store.add_ask(AskDraft(text=text, outcome=outcome), customer_id=customer, follow_up=plan, **self.ids)
        return ask.id

    def sync(self, client: HQClient | None = None) -> SyncReport:
        return sync_once(self.store, client or self.client, self.identity)

    def follow_up_of(self, ask_id: str):
        [found] = [f for status in ("open", "done") for f in self.store.follow_ups(status=status) if f.ask_id == ask_id]
        return found

    def close(self) -> None:
        self.client.close()
        self.store.close()


@pytest.fixture
def hq(hq_db):
    with HQThread(hq_db) as served:
        yield served


@pytest.fixture
def counters(tmp_path, hq):
    made: list[Counter] = []

    def make(store_id: str, terminal_id: str = "T1") -> Counter:
        made.append(Counter(tmp_path, hq, store_id, terminal_id))
        return made[-1]

    yield make
    for counter in made:
        counter.close()


def key_at_hq(hq: HQThread, ask_id: str) -> str:
    [(key,)] = hq.db.rows("SELECT demand_key FROM asks WHERE id = ?", (ask_id,))
    return key


def pull(hq: HQThread, token: str, **params: object) -> httpx.Response:
    return httpx.get(f"{hq.url}/v1/responses", params=params, headers={"Authorization": f"Bearer {token}"})


def terminal_rows(counter: Counter) -> dict[str, list[tuple]]:
    """What the pull may change in a terminal's file."""
    with counter.store._read("test") as conn:  # noqa: SLF001 - the test looks at the file as it is
        tables = ("hq_responses", "restocks", "follow_ups", "store_demand")
        rows = {table: conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall() for table in tables}
    return rows | {"cursor": [(counter.store.responses_cursor(),)]}


# -- offline catch-up, exactly once ---------------------------------------------------------------------


def test_an_offline_terminal_applies_the_latest_of_three_changes_once_and_wakes_its_follow_up_once(hq, counters) -> None:
    counter = counters("S1")
    asked = counter.ask(follow_up=True)
    first = counter.sync()
    assert (first.answers, first.woken) == (0, 0) and "from HQ" not in first.summary()
    key = key_at_hq(hq, asked)
    with counter.store._read("test") as conn:  # noqa: SLF001 - the terminal and HQ agree on the group
        assert conn.execute("SELECT demand_key FROM asks WHERE id = ?", (asked,)).fetchone() == (key,)

    # While the terminal is offline HQ changes its mind three times.
    responses = hq.storage.responses
    responses.set_status(key, "reviewing", by="merch")
    responses.set_status(key, "planned", by="merch", expected_on=LATER, note="Coming in navy in March")
    responses.set_status(key, "available", by="merch", note="In stock now")
    assert len(hq.db.rows("SELECT seq FROM demand_response_history WHERE demand_key = ?", (key,))) == 3

    page = pull(hq, counter.token, after=0).json()
    assert len(page["responses"]) == 1 and page["responses"][0]["status"] == "available"  # the history is not replayed
    assert "stores" not in page["responses"][0] and "changed_by" not in page["responses"][0]

    caught_up = counter.sync()
    assert (caught_up.answers, caught_up.woken) == (1, 1)
    assert "1 answer from HQ, 1 follow-up in stock now." in caught_up.summary()
    answer = counter.store.hq_answer(key)
    assert answer and answer.status == "available" and answer.available_here and answer.note == "In stock now"
    woken = counter.follow_up_of(asked)
    assert woken.due_on == date.today().isoformat() and woken.in_stock_at and woken.version == 2
    # The woken follow-up went to HQ in the same sync, with when it came back in stock.
    assert hq.db.rows("SELECT version, in_stock_at FROM follow_ups") == [(2, woken.in_stock_at)]
    assert counter.store.count_pending() == 0

    # Nothing new: nothing arrives, nothing wakes again. A new answer for the same group wakes nobody.
    again = counter.sync()
    assert (again.answers, again.woken) == (0, 0)
    responses.set_status(key, "available", by="merch", note="Back in all sizes")
    later = counter.sync()
    assert (later.answers, later.woken) == (1, 0) and "1 answer from HQ." in later.summary()
    assert counter.follow_up_of(asked).version == 2 and counter.store.hq_answer(key).note == "Back in all sizes"


def test_every_groups_answer_arrives_even_one_this_store_never_asked_about(hq, counters) -> None:
    asking, other = counters("S1"), counters("S2")
    asked = asking.ask()
    asking.sync()
    key = key_at_hq(hq, asked)
    hq.storage.responses.set_status(key, "declined", by="merch", note="No longer made")
    other.sync()
    answer = other.store.hq_answer(key)
    assert answer and answer.status == "declined" and not answer.available_here and answer.note == "No longer made"


# -- pages -------------------------------------------------------------------------------------------------


class SmallPages(HQClient):
    """The terminal's client asking for pages of three, to see several pages in one sync."""

    pages: list[ResponsesPage | None]

    def responses(self, after: int, *, limit: int | None = None) -> ResponsesPage | None:
        page = super().responses(after, limit=3)
        self.pages.append(page)
        return page


def test_pages_follow_the_cursor_and_a_change_between_pages_is_not_lost(hq, counters) -> None:
    counter = counters("S1")
    keys = [f"{n:016x}" for n in range(1, 8)]
    for key in keys:
        hq.storage.responses.set_status(key, "reviewing", by="merch")

    first = pull(hq, counter.token, after=0, limit=3).json()
    assert [r["demand_key"] for r in first["responses"]] == keys[:3] and first["more"] and first["cursor"] == 3
    hq.storage.responses.set_status(keys[0], "planned", by="merch", expected_on=LATER)  # changes again: seq 8
    rest = pull(hq, counter.token, after=first["cursor"], limit=3).json()
    assert [r["demand_key"] for r in rest["responses"]] == keys[3:6] and rest["more"]
    last = pull(hq, counter.token, after=rest["cursor"], limit=3).json()
    assert [r["demand_key"] for r in last["responses"]] == [keys[6], keys[0]] and not last["more"] and last["cursor"] == 8
    empty = pull(hq, counter.token, after=8).json()
    assert empty == {"cursor": 8, "more": False, "responses": []}

    client = SmallPages(hq.url, counter.token)
    client.pages = []
    with client:
        done = counter.sync(client)
    assert [len(page.responses) for page in client.pages if page] == [3, 3, 1]  # seq 1 moved to 8: 7 groups
    assert done.answers == 7 and counter.store.responses_cursor() == 8
    assert counter.store.hq_answer(keys[0]).status == "planned"
    assert set(counter.store.hq_answers(keys)) == set(keys)


# -- one store's availability ----------------------------------------------------------------------------


def test_available_at_one_store_wakes_that_stores_follow_ups_and_not_anothers(hq, counters) -> None:
    at_a, at_b = counters("S1"), counters("S2")
    asked_a, asked_b = at_a.ask(follow_up=True), at_b.ask(follow_up=True)
    at_a.sync()
    at_b.sync()
    key = key_at_hq(hq, asked_a)
    assert key_at_hq(hq, asked_b) == key
    hq.storage.responses.set_status(key, "available", by="merch", stores=("S1", "S9"), note="At Oxford St only")

    assert (at_a.sync().woken, at_b.sync().woken) == (1, 0)
    assert at_a.store.hq_answer(key).available_here and not at_b.store.hq_answer(key).available_here
    woken, waiting = at_a.follow_up_of(asked_a), at_b.follow_up_of(asked_b)
    assert woken.due_on == date.today().isoformat() and woken.in_stock_at
    assert waiting.due_on == LATER and waiting.in_stock_at is None and waiting.version == 1
    # B reads the answer, never which other stores have it.
    seen_by_b = pull(hq, at_b.token).text
    assert "S1" not in seen_by_b and "S9" not in seen_by_b and '"available_here":false' in seen_by_b


# -- the store's own demand ----------------------------------------------------------------------------------


def old_ask(hq: HQThread, store: str, days_ago: int) -> None:
    """An ask logged `days_ago` at `store`, put straight into HQ (a terminal cannot backdate one)."""
    when = format_utc(datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=days_ago))
    record = AskRecord(
        id=str(uuid.uuid4()),
        version=1,
        created_at=when,
        updated_at=when,
        store_id=store,
        terminal_id="OLD",
        associate="AB",
        channel="walk-in",
        text=ASK,
        outcome="out_of_stock",
    )
    hq.storage.apply_batch(
        store_id=store,
        terminal_id="OLD",
        batch_id=str(uuid.uuid4()),
        sent_at=when,
        received_at=when,
        clock_skew_ms=0,
        records=[Received(record=record, id=record.id, version=1)],
    )


def test_store_demand_counts_every_terminal_of_the_store_and_no_other_store(hq, counters) -> None:
    first, second, elsewhere = counters("S1", "T1"), counters("S1", "T2"), counters("S2", "T1")
    asked = first.ask()
    first.ask()
    first.ask(outcome="found")  # met: not unmet demand
    second.ask()
    for _ in range(5):
        elsewhere.ask()
    elsewhere.sync()
    second.sync()
    old_ask(hq, "S1", days_ago=10)  # in the month, not the week
    old_ask(hq, "S1", days_ago=40)  # in neither
    first.sync()
    key = key_at_hq(hq, asked)

    figures = first.store.store_figures([key])[key]
    assert (figures.week, figures.month) == (3, 4) and first.store.store_demand_as_of() == figures.as_of
    demand = httpx.get(f"{hq.url}/v1/store-demand", headers={"Authorization": f"Bearer {elsewhere.token}"}).json()
    assert demand["store_id"] == "S2" and demand["groups"] == [{"demand_key": key, "week": 5, "month": 5}]
    # A sync follows every save: within a minute the figures are not asked for again; after it, HQ's new count.
    second.ask()
    second.sync()
    first.sync()
    assert first.store.store_figures([key])[key].week == 3
    first.store.set_sync_value(engine.STORE_DEMAND_PULLED, str(time.time() - engine.STORE_DEMAND_EVERY - 1))
    first.sync()
    assert first.store.store_figures([key])[key].week == 4


# -- a page applied twice -----------------------------------------------------------------------------------


def test_a_page_applied_twice_changes_nothing(hq, counters) -> None:
    counter = counters("S1")
    asked = counter.ask(follow_up=True)
    counter.sync()
    key = key_at_hq(hq, asked)
    hq.storage.responses.set_status(key, "available", by="merch")
    page = counter.client.responses(0)
    assert page is not None and page.cursor == 1

    assert counter.store.apply_responses(page.responses, after=0, cursor=page.cursor) == 1
    once = terminal_rows(counter)
    # The answer to the first pull was lost: the engine pulls the same page again and applies it again.
    assert counter.store.apply_responses(page.responses, after=0, cursor=page.cursor) == 0
    assert terminal_rows(counter) == once
    retried = counter.sync()
    assert (retried.answers, retried.woken) == (0, 0)
    assert counter.follow_up_of(asked).version == 2 and hq.db.rows("SELECT version FROM follow_ups") == [(2,)]


# -- refusals ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/responses", "/v1/store-demand"])
def test_no_token_or_a_dashboard_token_is_refused(hq, counters, path) -> None:
    counters("S1")
    viewer = hq.storage.add_viewer("merch-team")
    basic = base64.b64encode(f"merch-team:{viewer}".encode()).decode()
    for headers in (
        {},
        {"Authorization": f"Bearer {viewer}"},
        {"Authorization": f"Basic {basic}"},
        {"Authorization": "Bearer at1_nope"},
    ):
        answer = httpx.get(f"{hq.url}{path}", headers=headers)
        assert answer.status_code == 401 and answer.json()["error"] == "unauthorized" and answer.json()["message"]


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("after=-1", "after='-1' is not a whole number from 0"),
        ("after=abc", "after='abc' is not a whole number"),
        ("after=99999999999999999999", "after='99999999999999999999' is not a whole number"),
        ("after=1.5", "after='1.5'"),
        ("limit=0", "limit='0' is not a whole number from 1 to 1000"),
        ("limit=1001", "limit='1001'"),
    ],
)
def test_a_bad_cursor_or_limit_is_400_with_words(hq, counters, query, words) -> None:
    counter = counters("S1")
    answer = httpx.get(f"{hq.url}/v1/responses?{query}", headers={"Authorization": f"Bearer {counter.token}"})
    assert answer.status_code == 400 and answer.json()["error"] == "bad_query"
    assert words in answer.json()["message"] and "send" in answer.json()["message"]


# -- an HQ from before these routes ----------------------------------------------------------------------------


def test_an_older_hq_without_the_routes_does_not_fail_the_sync(hq_db, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(hq_app, "pull_routes", lambda authenticated: [])
    with HQThread(hq_db) as old_hq:
        assert httpx.get(f"{old_hq.url}/v1/responses").status_code == 404
        counter = Counter(tmp_path, old_hq, "S1", "T1")
        try:
            counter.ask(follow_up=True)
            done = counter.sync()
            assert done.accepted == 3 and done.answers == 0 and "from HQ" not in done.summary()
            assert counter.store.sync_status().last_error is None and counter.store.count_pending() == 0
            counter.ask()
            assert counter.sync().accepted == 1  # and it keeps sending
        finally:
            counter.close()


def test_the_engine_pulls_no_more_pages_than_its_bound(hq, counters, monkeypatch) -> None:
    counter = counters("S1")
    for n in range(1, 5):
        hq.storage.responses.set_status(f"{n:016x}", "reviewing", by="merch")
    monkeypatch.setattr(engine, "MAX_PAGES", 1)
    client = SmallPages(hq.url, counter.token)
    client.pages = []
    with client:
        assert counter.sync(client).answers == 3 and counter.store.responses_cursor() == 3
        assert counter.sync(client).answers == 1 and counter.store.responses_cursor() == 4  # the next sync goes on


# -- HQ's report: follow-ups won back after a restock ---------------------------------------------------------


def test_the_report_counts_a_follow_up_bought_after_the_restock_as_won_back_and_one_before_not(hq, counters) -> None:
    counter = counters("S1")
    before, after, declined = (counter.ask(follow_up=True) for _ in range(3))
    counter.sync()
    counter.store.complete_follow_up(counter.follow_up_of(before).id, result="reached_bought", associate="AB")
    key = key_at_hq(hq, before)
    hq.storage.responses.set_status(key, "available", by="merch")
    assert counter.sync().woken == 2  # the two still open
    counter.store.complete_follow_up(counter.follow_up_of(after).id, result="reached_bought", associate="AB")
    counter.store.complete_follow_up(counter.follow_up_of(declined).id, result="reached_not_interested", associate="AB")
    counter.sync()
    marked_late(hq, before)  # another follow-up, done an hour before the restock it names
    assert hq.db.rows("SELECT count(*) FROM follow_ups WHERE status = 'done'") == [(4,)]

    period = report.window("7d")
    [group] = report.demand(hq.storage, period)
    assert group["key"] == key and group["won_after_restock"] == 1
    assert report.demand(hq.storage, period, store="S2") == []
    rows = report.demand_csv([group]).splitlines()
    assert rows[0].split(",")[report.REPORT_COLUMNS.index("won_after_restock")] == "won_after_restock"
    assert rows[1].split(",")[report.REPORT_COLUMNS.index("won_after_restock")] == "1"
    assert (
        json.loads(report.demand_json([group], report.data_quality(hq.storage, period), period))["demand"][0]["won_after_restock"]
        == 1
    )
    from rich.console import Console

    console = Console(width=200, record=True)
    for table in report.demand_tables([group], report.data_quality(hq.storage, period), period):
        console.print(table)
    shown = console.export_text()
    assert "Won after" in shown and "restock" in shown
    # The follow-ups report still counts every purchase as won back.
    assert report.follow_up_table(hq.storage)[1][3] == "3"


def marked_late(hq: HQThread, ask_id: str) -> None:
    """A follow-up bought an hour before the restock it was marked with (a terminal that learnt late), straight into HQ."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    done, restocked = format_utc(now - timedelta(hours=2)), format_utc(now - timedelta(hours=1))
    record = FollowUpRecord(
        id=str(uuid.uuid4()),
        version=2,
        created_at=done,
        updated_at=restocked,
        store_id="S1",
        terminal_id="T1",
        associate="AB",
        ask_id=ask_id,
        due_on=date.today().isoformat(),
        status="done",
        result="reached_bought",
        done_at=done,
        done_by="AB",
        in_stock_at=restocked,
    )
    hq.storage.apply_batch(
        store_id="S1",
        terminal_id="T1",
        batch_id=str(uuid.uuid4()),
        sent_at=restocked,
        received_at=restocked,
        clock_skew_ms=0,
        records=[Received(record=record, id=record.id, version=2)],
    )


def test_enrolling_with_another_hq_starts_its_answers_afresh_and_enrolling_again_keeps_them(
    hq, counters, tmp_path, monkeypatch
) -> None:
    from associate_tui import link
    from associate_tui.config import Config

    monkeypatch.setenv("ASSOCIATE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ASSOCIATE_CONFIG", str(tmp_path / "config.toml"))
    counter = counters("S1")
    asked = counter.ask()
    counter.sync()
    key = key_at_hq(hq, asked)
    hq.storage.responses.set_status(key, "declined", by="merch", note="Not this season")
    counter.sync()
    assert counter.store.hq_answer(key).note == "Not this season" and counter.store.responses_cursor() > 0

    # The same HQ again (a new token): what was pulled stays.
    link.enroll(hq.url, counter.token, Config(store_id="S1", terminal_id="T1", hq_url=hq.url), counter.store)
    assert counter.store.hq_answer(key) is not None and counter.store.responses_cursor() > 0
    # Another HQ: its change numbers are its own, so the pull starts again from its first.
    link.enroll(hq.url, counter.token, Config(store_id="S1", terminal_id="T1", hq_url="https://old-hq.example"), counter.store)
    assert counter.store.hq_answer(key) is None and counter.store.responses_cursor() == 0
    assert counter.sync().answers == 1 and counter.store.hq_answer(key).status == "declined"


def test_restock_wins_read_the_woken_follow_ups_not_the_groups_asks(hq) -> None:
    if hq.db.kind != "sqlite":
        pytest.skip("SQLite's plan is the one checked here; PostgreSQL chooses by its statistics")
    import sqlite3

    from sync.hq.queries import restock_wins_sql

    with sqlite3.connect(hq.db.path) as conn:
        for store in (None, "S1"):
            params = ["2026-01-01", "2027-01-01", *([store] if store else []), "k1", "k2"]
            plan = [row[-1] for row in conn.execute(f"EXPLAIN QUERY PLAN {restock_wins_sql(store, 2)}", params)]
            # From woken follow-ups (one store's done ones, for --store), never a scan, then each ask by its id.
            index = "follow_ups_store" if store else "follow_ups_restocked"
            assert plan[0].startswith("SEARCH f") and index in plan[0] and "PRIMARY KEY" in plan[1], plan
