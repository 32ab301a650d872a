"""Customers, follow-ups and erasure end to end: terminal -> real HQ over loopback HTTP -> HQ's file."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from hq_server import HQDatabase, HQProcess, add_terminal
from test_sync_e2e import ROOT, Terminal

from associate_tui.asks import AskDraft
from associate_tui.customers import CustomerDraft, Preferences
from associate_tui.store import FollowUpPlan, Store
from sync.hq.storage import HQStorage

pytestmark = pytest.mark.slow  # end to end: real HQ processes, faults, generated calls (the slow tier)

JANE = CustomerDraft(
    name="Jane Quixote-Doe",
    phone="+44 7700 900461",
    email="jane.quixote@example.com",
    customer_number="LOY-778812",
    consent_follow_up=True,
    preferences=Preferences(sizes=("M",), brands=("Barbour",), notes="likes olive"),
)
SAM = CustomerDraft(name="Sam Keeper", email="sam@example.com", consent_marketing=True)
TRACES = (b"Quixote", b"900461", b"jane.quixote", b"LOY-778812", b"likes olive")


def hq_bytes(hq_db: HQDatabase) -> bytes:
    return hq_db.contents()


def hq_count(hq_db: HQDatabase, sql: str) -> int:
    return hq_db.rows(sql)[0][0]


def test_an_erased_customer_leaves_no_trace_at_hq_and_their_asks_still_count(tmp_path, hq_db) -> None:
    counter = Terminal(tmp_path, "S1", "T1")
    with counter.store() as store:
        ids = dict(store_id="S1", terminal_id="T1", associate="AB")
        jane = store.add_customer(JANE, consent_wording="2026-1", **ids)
        sam = store.add_customer(SAM, consent_wording="2026-1", **ids)
        asks = [
            store.add_ask(
                AskDraft(text=text, outcome="out_of_stock"),
                customer_id=jane.id,
                **ids,
                follow_up=FollowUpPlan(due_on="2026-12-02", assigned_to="AB") if i == 0 else None,
            )
            for i, text in enumerate(("olive rain jacket size M", "barbour wax jacket", "navy scarf"))
        ]
        store.add_ask(AskDraft(text="linen shirt", outcome="not_carried"), customer_id=sam.id, **ids)
        [follow_up] = store.follow_ups()
    with HQProcess(hq_db) as hq:
        counter.enroll(hq.url, add_terminal(hq_db, "S1", "T1"))
        first = counter.run("sync")
        assert first.returncode == 0, first.stderr
        assert "7 accepted" in first.stdout  # 2 customers, 4 asks, 1 follow-up
        assert hq_count(hq_db, "SELECT count(*) FROM customers") == 2
        with HQStorage.open(hq_db.url) as storage:  # HQ did hold them, sealed (sync/hq/vault.py)
            held = json.dumps(list(storage.iter_customers()) + list(storage.iter_follow_ups())).encode()
        assert all(trace in held for trace in TRACES[:3])
        assert not any(trace in hq_bytes(hq_db) for trace in TRACES)

        # The follow-up is done: the customer bought it. HQ's report shows the demand won back.
        with counter.store() as store:
            store.complete_follow_up(follow_up.id, result="reached_bought", associate="AB")
        assert counter.run("sync").returncode == 0
        report = subprocess.run(
            [sys.executable, "-m", "sync.hq.cli", "report", "follow-ups", "--db", hq_db.url],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        assert report.returncode == 0, report.stderr
        [header, s1] = report.stdout.splitlines()
        assert header.split()[:4] == ["store", "follow-ups", "done", "won"]
        assert s1.split()[:5] == ["S1", "1", "1", "1", "100%"]

        # Jane withdraws her consent.
        with counter.store() as store:
            store.erase_customer(jane.id)
            assert store.count_customers() == 1
        erased = counter.run("sync")
        assert erased.returncode == 0 and "2 accepted" in erased.stdout, erased.stdout  # the erasure, the unlinked follow-up
    for trace in TRACES:
        assert trace not in hq_bytes(hq_db), trace
        assert trace not in counter.db.read_bytes(), trace
    assert hq_count(hq_db, "SELECT count(*) FROM erasures") == 1
    assert hq_count(hq_db, "SELECT count(*) FROM customers") == 1  # Sam stays
    # Her asks are still counted, as anonymous demand; the follow-up's outcome still counts too.
    assert hq_count(hq_db, "SELECT count(*) FROM asks") == 4
    assert (
        hq_count(hq_db, f"SELECT count(*) FROM asks WHERE id IN ({','.join(repr(a.id) for a in asks)}) AND customer_id IS NULL")
        == 3
    )
    assert hq_count(hq_db, "SELECT count(*) FROM follow_ups WHERE result = 'reached_bought' AND customer_id IS NULL") == 1
    [tombstone] = hq_db.rows("SELECT * FROM erasures")
    assert not any(isinstance(value, str) and "Quixote" in value for value in tombstone)


def test_hq_masks_a_card_number_an_old_terminal_sends_and_refuses_contact_details_without_consent(tmp_path, hq_db) -> None:
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    ask_id, customer_id = str(uuid.uuid4()), str(uuid.uuid4())
    records = [
        {
            "type": "ask",
            "id": ask_id,
            "version": 1,
            "created_at": now,
            "updated_at": now,
            "store_id": "S1",
            "terminal_id": "T1",
            "associate": "AB",
            "channel": "walk-in",
            "text": "refund",
            "outcome": "out_of_stock",
            "note": "card 5555 5555 5555 4444, IBAN DE89370400440532013000",
        },
        {
            "type": "customer",
            "id": customer_id,
            "version": 1,
            "created_at": now,
            "updated_at": now,
            "store_id": "S1",
            "terminal_id": "T1",
            "associate": "AB",
            "name": "No Consent",
            "phone": "+44 7700 900999",
        },
    ]
    batch = {
        "schema_version": 1,
        "batch_id": str(uuid.uuid4()),
        "store_id": "S1",
        "terminal_id": "T1",
        "sent_at": now,
        "records": records,
    }
    with HQProcess(hq_db) as hq:
        token = add_terminal(hq_db, "S1", "T1")
        answer = httpx.post(
            f"{hq.url}/v1/batches",
            content=gzip.compress(json.dumps(batch).encode()),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Content-Encoding": "gzip"},
        )
    assert answer.status_code == 200, answer.text
    [ask_result, customer_result] = answer.json()["results"]
    assert ask_result["status"] == "accepted"
    assert customer_result["status"] == "rejected" and customer_result["code"] == "no_consent"
    assert "consent" in customer_result["message"]
    [(note,)] = hq_db.rows("SELECT note FROM asks")
    assert note == "card 5555 55** **** 4444, IBAN DE89**************3000"
    assert b"5555555555554444" not in hq_bytes(hq_db).replace(b" ", b"") and b"900999" not in hq_bytes(hq_db)


def test_retention_erases_idle_customers_but_not_those_with_an_open_follow_up(tmp_path) -> None:
    with Store(tmp_path / "t.db") as store:
        ids = dict(store_id="S1", terminal_id="T1", associate="AB")
        idle = store.add_customer(SAM, consent_wording="2026-1", **ids)
        waiting = store.add_customer(JANE, consent_wording="2026-1", **ids)
        store.add_ask(
            AskDraft(text="boots", outcome="out_of_stock"),
            customer_id=waiting.id,
            follow_up=FollowUpPlan(due_on="2027-01-01", assigned_to=None),
            **ids,
        )
        assert store.purge_expired_customers(days=180) == 0  # nobody is idle yet
        later = datetime.now(timezone.utc) + timedelta(days=181)
        assert store.purge_expired_customers(days=180, now=later) == 1
        assert [c.id for c in store.find_customers()] == [waiting.id]
        [(_, action, count, detail)] = store.privacy_log()
        assert (action, count) == ("retention", 1) and "Sam" not in detail and "180 days" in detail
        pending = store.pending_records()
        erasure = json.loads(pending[-1][3])
        assert erasure["type"] == "erasure" and erasure["customer_id"] == idle.id and erasure["reason"] == "retention"
