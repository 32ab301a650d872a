"""Enrolment adopts what the terminal logged before it: end to end against the real HQ over loopback HTTP.

A store uses a fresh terminal for a while (under the config's DEMO store), then IT enrols it:
everything HQ has never received moves into the enrolled store and terminal and arrives at HQ;
nothing HQ already holds is moved.
"""

from __future__ import annotations

import re

import pytest
from hq_server import HQThread, add_terminal
from test_sync_e2e import Terminal

from associate_tui.asks import AskDraft
from associate_tui.customers import CustomerDraft
from associate_tui.store import FollowUpPlan

pytestmark = pytest.mark.slow  # end to end: real HQ processes, faults, generated calls (the slow tier)

ANNA = CustomerDraft(name="Anna Weller", phone="+44 7700 900111", consent_follow_up=True)
BEN = CustomerDraft(name="Ben Ode", email="ben@example.com", consent_marketing=True)


def _rows(hq_db, table: str) -> list[tuple]:
    return sorted(hq_db.rows(f"SELECT id, version, store_id, terminal_id FROM {table}"))


def _local(counter: Terminal, table: str) -> list[tuple]:
    with counter.store() as store:
        return sorted(store.conn.execute(f"SELECT id, version, store_id, terminal_id FROM {table}").fetchall())


def test_asks_customers_and_follow_ups_logged_before_enrolment_reach_hq_under_the_enrolled_store(tmp_path, hq_db) -> None:
    counter = Terminal(tmp_path, "DEMO", "TERMINAL-1")
    (counter.dir / "config.toml").unlink()  # a fresh install: the defaults, store DEMO
    for text in ("navy rain jacket size M", "wool scarf in olive", "linen shirt size L"):
        logged = counter.run("log", text, "--outcome", "out_of_stock")
        assert logged.returncode == 0, logged.stderr
    with counter.store() as store:
        ids = dict(store_id="DEMO", terminal_id="TERMINAL-1", associate="AB")
        anna = store.add_customer(ANNA, consent_wording="2026-1", **ids)
        store.add_customer(BEN, consent_wording="2026-1", **ids)
        store.add_ask(
            AskDraft(text="barbour wax jacket", outcome="out_of_stock"),
            customer_id=anna.id,
            follow_up=FollowUpPlan(due_on="2026-12-02", assigned_to="AB"),
            **ids,
        )
        for i in range(8):
            store.add_ask(AskDraft(text=f"umbrella #{i}", outcome="not_carried"), **ids)
    assert {row[2] for row in _local(counter, "asks")} == {"DEMO"}

    with HQThread(hq_db) as hq:
        enrolled = counter.run("enroll", hq.url, "--token", add_terminal(hq.storage, "S1", "T3"))
        assert enrolled.returncode == 0, enrolled.stderr
        assert (
            "Adopted 12 asks, 2 customers and 1 follow-up logged before enrolment into store S1, terminal T3." in enrolled.stdout
        ), enrolled.stdout
        assert "15 records are waiting to be sent" in enrolled.stdout
        synced = counter.run("sync")
        assert synced.returncode == 0, synced.stderr
        assert "15 accepted" in synced.stdout, synced.stdout

    for table, count in (("asks", 12), ("customers", 2), ("follow_ups", 1)):
        local = _local(counter, table)
        assert len(local) == count and _rows(hq_db, table) == local, table  # same ids, versions, store
        assert {(store_id, terminal_id, version) for _, version, store_id, terminal_id in local} == {("S1", "T3", 2)}
    status = counter.run("status").stdout
    assert re.search(r"^quarantined +0$", status, re.MULTILINE) and re.search(r"^pending sync +0$", status, re.MULTILINE), status


def test_enrolling_again_adopts_refused_records_but_never_moves_what_hq_holds(tmp_path, hq_db) -> None:
    counter = Terminal(tmp_path, "S1", "T1")
    with HQThread(hq_db) as hq:
        counter.enroll(hq.url, token := add_terminal(hq.storage, "S1", "T1"))
        sent = counter.log(2)
        assert counter.run("sync").returncode == 0
        # Logged by a window still running with the old settings: HQ refuses them for the wrong store.
        with counter.store() as store:
            for text in ("boots size 42", "navy chinos"):
                store.add_ask(
                    AskDraft(text=text, outcome="out_of_stock"), store_id="DEMO", terminal_id="TERMINAL-1", associate="AB"
                )
        refused = counter.run("sync")
        assert refused.returncode == 0 and "2 rejected" in refused.stdout, refused.stdout
        with counter.store() as store:
            assert [q.code for q in store.quarantined()] == ["wrong_store", "wrong_store"]

        again = counter.run("enroll", hq.url, "--token", token)
        assert "Adopted 2 asks logged before enrolment into store S1, terminal T1." in again.stdout, again.stdout
        assert counter.run("sync").returncode == 0
        with counter.store() as store:
            assert store.quarantined() == [] and store.sync_status().quarantined == 0
        held = {ask_id: (version, store_id) for ask_id, version, store_id, _ in _rows(hq_db, "asks")}
        assert len(held) == 4 and {store_id for _, store_id in held.values()} == {"S1"}
        assert all(held[ask_id] == (1, "S1") for ask_id in sent)  # already at HQ: not touched

        # The terminal moves to another store: what HQ holds under S1 stays there.
        moved = counter.run("enroll", hq.url, "--token", add_terminal(hq.storage, "S2", "T9"))
        assert moved.returncode == 0 and "Adopted" not in moved.stdout, moved.stdout
    assert {row[2:] for row in _local(counter, "asks")} == {("S1", "T1")}
    assert _rows(hq_db, "asks") == _local(counter, "asks")
