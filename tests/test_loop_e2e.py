"""The loop back from HQ, end to end: three stores ask, HQ answers, every counter shows it, a restock wins a customer back.

Real terminals (their own data folders, the `associate` command, and the app under Pilot) and the
real HQ in a process of its own over loopback HTTP, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, timedelta

import pytest
from hq_server import HQDatabase, HQProcess, add_terminal
from pilot import make_app, screen_text, settle, type_text
from test_sync_e2e import ROOT, Terminal

from associate_tui.config import Config
from associate_tui.store import open_store

pytestmark = pytest.mark.slow  # end to end: real HQ processes (the slow tier)

ASK = "navy rain jacket"
RESPONSE = "Coming in navy in March"


def hq_cli(hq_db: HQDatabase, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "sync.hq.cli", *args, "--db", hq_db.url]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done


def ok(counter: Terminal, *args: str) -> str:
    done = counter.run(*args)
    assert done.returncode == 0, f"associate {' '.join(args)}: {done.stderr}"
    return done.stdout


def sync_all(counters: dict[str, Terminal]) -> dict[str, str]:
    return {store: ok(counter, "sync") for store, counter in counters.items()}


def follow_up_lines(counter: Terminal) -> list[str]:
    return [line for line in ok(counter, "follow-ups", "--all").splitlines() if ASK in line]


def test_hq_answers_reach_every_store_and_a_restock_at_one_store_wins_its_customer_back(tmp_path, hq_db) -> None:
    counters = {store: Terminal(tmp_path, store, "T1") for store in ("S1", "S2", "S3")}
    with HQProcess(hq_db) as hq:
        for store, counter in counters.items():
            counter.enroll(hq.url, add_terminal(hq_db, store, "T1"))
        # Three stores log the same ask; S1 and S2 promise their customer a call when it comes in.
        for store in ("S1", "S2"):
            customer = ok(
                counters[store], "customer", "add", f"Customer of {store}", "--phone", "+44 7700 900123", "--consent", "follow-up"
            )
            ok(counters[store], "log", ASK, "--outcome", "out_of_stock", "--customer", customer.strip(), "--follow-up")
        ok(counters["S3"], "log", ASK, "--outcome", "out_of_stock")
        sync_all(counters)

        [group] = [g for g in json.loads(hq_cli(hq_db, "demand", "list", "--format", "json").stdout)["groups"] if g["asks"] == 3]
        assert group["store_asks"] == {"S1": 1, "S2": 1, "S3": 1} and group["status"] == "new"
        expected = (date.today() + timedelta(days=90)).isoformat()
        hq_cli(hq_db, "demand", "respond", group["key"], "--status", "planned", "--expected", expected, "--note", RESPONSE)

        # After a sync every counter has HQ's answer, offline too (HQ is stopped for the reads below).
        sync_all(counters)
        hq.stop()
        for counter in counters.values():
            shown = ok(counter, "demand", ASK)
            assert "planned" in shown and expected in shown and RESPONSE in shown
            assert all("in stock now" not in line for line in follow_up_lines(counter))
        hq.start()

        # HQ marks it available at S1 only: S1's follow-up is due today, in stock now; S2's is not.
        hq_cli(hq_db, "demand", "available", group["key"], "--store", "S1")
        synced = sync_all(counters)
        assert "in stock now" in synced["S1"] and "in stock now" not in synced["S2"]
        [s1_line] = follow_up_lines(counters["S1"])
        [s2_line] = follow_up_lines(counters["S2"])
        assert "in stock now" in s1_line and "today" in s1_line
        assert "in stock now" not in s2_line
        assert "in stock now" in ok(counters["S1"], "follow-ups", "--due")
        assert ASK not in ok(counters["S2"], "follow-ups", "--due")
        assert "available at other stores" in ok(counters["S2"], "demand", ASK)  # not here yet

        # S1 reaches the customer, who buys it: HQ's report counts one follow-up won back after the restock.
        with open_store(Config(store_id="S1", terminal_id="T1"), path=counters["S1"].db) as store:
            [follow_up] = [f for f in store.follow_ups() if f.ask_text == ASK]
            assert follow_up.in_stock_at and follow_up.due_on == date.today().isoformat()
            store.complete_follow_up(follow_up.id, result="reached_bought", associate="AB")
        ok(counters["S1"], "sync")
        report = json.loads(hq_cli(hq_db, "report", "--format", "json").stdout)
        [row] = [g for g in report["demand"] if g["asks"] == 3]
        assert row["won_after_restock"] == 1
        assert hq_db.rows("SELECT count(*) FROM follow_ups WHERE in_stock_at IS NOT NULL") == [(1,)]


async def test_the_capture_form_shows_hqs_answer_after_a_sync(tmp_path, hq_db) -> None:
    counter = Terminal(tmp_path, "S1", "T1")
    with HQProcess(hq_db) as hq:
        counter.enroll(hq.url, add_terminal(hq_db, "S1", "T1"))
        ok(counter, "log", ASK, "--outcome", "out_of_stock")
        ok(counter, "sync")
        [group] = json.loads(hq_cli(hq_db, "demand", "list", "--format", "json").stdout)["groups"]
        hq_cli(hq_db, "demand", "respond", group["key"], "--status", "declined", "--note", "Not this season")
        ok(counter, "sync")
    app = make_app(counter.dir, counter.db, store_id="S1", terminal_id="T1", associate="AB")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await type_text(pilot, "navy rain jack")
        await pilot.pause(0.5)
        await settle(pilot)
        shown = screen_text(app)
        assert "declined" in shown and "Not this season" in shown
