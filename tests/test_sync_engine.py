"""The terminal's side of sync on its own: outbox, quarantine, batching, backoff, token file, lock.

HQ is played here by an httpx.MockTransport where one function is under test;
the end-to-end and fault tests (test_sync_e2e.py) use the real HQ over loopback.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest

from associate_tui import config as config_module
from associate_tui import link
from associate_tui.asks import AskDraft
from associate_tui.store import Store
from sync.client import HQClient, Offline, TokenRefused, parse_retry_after
from sync.engine import Backoff, Identity, SyncBusy, sync_lock, sync_once

ROOT = Path(__file__).resolve().parents[1]


def add(store: Store, text: str = "navy rain jacket size M", **fields) -> object:
    draft = AskDraft(text=text, outcome="out_of_stock", **fields)
    return store.add_ask(draft, store_id="S1", terminal_id="T1", associate="AB")


# -- the outbox and the quarantine ------------------------------------------------------------


def test_an_edit_made_while_the_batch_was_in_flight_is_sent_again(db_path) -> None:
    with Store(db_path) as store:
        ask = add(store)
        [(_, _, _, raw)] = store.pending_records()
        record = json.loads(raw)
        assert record["version"] == 1 and "synced_version" not in record and record["type"] == "ask"
        store.edit_ask(ask.id, AskDraft(text="navy rain jacket size L", outcome="out_of_stock"))
        store.apply_results([(ask.id, 1, "accepted", None, None)])  # HQ acknowledges version 1
        [(_, _, version, raw)] = store.pending_records()
        again = json.loads(raw)
        assert version == again["version"] == 2 and again["text"] == "navy rain jacket size L"
        store.apply_results([(ask.id, 2, "duplicate", None, None)])
        assert store.pending_records() == [] and store.count_pending() == 0


@pytest.mark.parametrize("accepted", [True, False, None])
def test_the_record_sqlite_writes_is_exactly_the_ask_under_the_contract(db_path, accepted) -> None:
    from schemas.records import decode_record

    with Store(db_path) as store:
        ask = add(
            store,
            'écharpe en laine "rouge" taille M',
            attributes={"colour": "rouge", "size": "M"},
            substitute="bonnet" if accepted is not None else None,
            substitute_accepted=accepted,
            note="line one\nline two",
            quantity=3,
        )
        ask = store.void_ask(ask.id, "logged twice")
        [(_, ask_id, version, raw)] = store.pending_records()
    record = decode_record(raw)  # what HQ does with it
    expected = ask.as_dict()
    del expected["synced_version"]
    assert {name: getattr(record, name) for name in expected} == expected
    assert (ask_id, version) == (ask.id, 2)


def test_a_refused_ask_waits_in_quarantine_until_it_is_edited(db_path) -> None:
    with Store(db_path) as store:
        bad, good = add(store, "first"), add(store, "second")
        store.apply_results(
            [
                (bad.id, 1, "rejected", "invalid", "Expected `str` of length <= 300 - at `$.text`"),
                (good.id, 1, "accepted", None, None),
            ]
        )
        assert store.pending_records() == []
        [held] = store.quarantined()
        assert (held.ask.id, held.code) == (bad.id, "invalid") and "$.text" in held.message
        status = store.sync_status()
        assert (status.pending, status.quarantined) == (0, 1)
        store.edit_ask(bad.id, AskDraft(text="first, fixed", outcome="out_of_stock"))
        assert [ask_id for _, ask_id, _, _ in store.pending_records()] == [bad.id]
        assert store.quarantined() == []


def test_sync_status_is_remembered_for_the_status_line(db_path) -> None:
    with Store(db_path) as store:
        assert store.sync_status().last_success_at is None
        store.record_sync(ok=False, error="Offline: cannot reach HQ")
        failed = store.sync_status()
        assert failed.last_error == "Offline: cannot reach HQ" and failed.last_success_at is None
        store.record_sync(ok=True)
        ok = store.sync_status()
        assert ok.last_error is None and ok.last_success_at is not None


# -- batching, against a stand-in HQ ------------------------------------------------------------


class FakeHQ:
    """Accepts everything and remembers each batch; used where one engine function is under test."""

    def __init__(self, fail_first: int = 0) -> None:
        self.batches: list[dict] = []
        self.fail_first = fail_first

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/taxonomy":
            return httpx.Response(304)
        if request.url.path != "/v1/batches":  # an HQ from before the pull of its answers
            return httpx.Response(404, json={"error": "http_404", "message": "No such route; see /openapi.json."})
        if self.fail_first:
            self.fail_first -= 1
            raise httpx.ConnectError("connection refused")
        assert request.headers["Content-Encoding"] == "gzip"
        assert request.headers["Authorization"] == "Bearer at1_test"
        batch = json.loads(gzip.decompress(request.content))
        self.batches.append(batch)
        results = [{"id": r["id"], "version": r["version"], "status": "accepted"} for r in batch["records"]]
        return httpx.Response(
            200,
            json={
                "batch_id": batch["batch_id"],
                "received_at": batch["sent_at"],
                "clock_skew_ms": 0,
                "results": results,
            },
        )


def client_for(fake: FakeHQ) -> HQClient:
    return HQClient("http://hq.test", "at1_test", transport=httpx.MockTransport(fake))


def test_batches_are_bounded_by_count_and_by_bytes(db_path) -> None:
    with Store(db_path) as store:
        for i in range(23):
            add(store, f"ask {i}", note="x" * 400)
        fake = FakeHQ()
        report = sync_once(store, client_for(fake), Identity("S1", "T1"), batch_records=10, batch_bytes=1_000_000)
        assert sorted(len(b["records"]) for b in fake.batches) == [3, 10, 10]
        assert (report.sent, report.accepted, store.count_pending()) == (23, 23, 0)

        for i in range(6):
            add(store, f"long ask {i}", note="y" * 900)
        fake = FakeHQ()
        sync_once(store, client_for(fake), Identity("S1", "T1"), batch_records=500, batch_bytes=3000)
        sizes = [len(json.dumps(b["records"])) for b in fake.batches]
        assert len(fake.batches) == 3 and all(size < 3000 for size in sizes)
        assert {b["store_id"] for b in fake.batches} == {"S1"} and {b["terminal_id"] for b in fake.batches} == {"T1"}


def test_a_failed_sync_loses_nothing_and_says_so(db_path) -> None:
    with Store(db_path) as store:
        add(store)
        with pytest.raises(Offline, match="cannot reach HQ"):
            sync_once(store, client_for(FakeHQ(fail_first=1)), Identity("S1", "T1"))
        status = store.sync_status()
        assert status.pending == 1 and "cannot reach HQ" in status.last_error


def test_a_refused_token_names_the_fix() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": "unauthorized", "message": "token not recognised or revoked"})

    with pytest.raises(TokenRefused, match="associate enroll"):
        HQClient("http://hq.test", "at1_x", transport=httpx.MockTransport(refuse)).whoami()


# -- backoff --------------------------------------------------------------------------------------


def test_backoff_grows_from_about_a_second_to_minutes_with_jitter() -> None:
    backoff = Backoff(base=1.0, cap=300.0)
    delays = [backoff.next_delay() for _ in range(14)]
    assert 0.5 <= delays[0] <= 1.0
    assert all(0.5 <= d <= 300 for d in delays)
    assert max(delays[8:]) > 60  # minutes, eventually
    spread = {Backoff().next_delay() for _ in range(5)}
    assert len(spread) > 1  # jitter: terminals do not retry in step
    backoff.reset()
    assert backoff.next_delay() <= 1.0


def test_retry_after_is_a_floor() -> None:
    backoff = Backoff(base=1.0, cap=300.0)
    assert backoff.next_delay(retry_after=30) >= 30
    assert parse_retry_after("7") == 7
    later = datetime.now(timezone.utc) + timedelta(seconds=90)
    assert 80 <= parse_retry_after(format_datetime(later, usegmt=True)) <= 91
    assert parse_retry_after("soon") is None


# -- the token file ---------------------------------------------------------------------------------


def test_the_token_file_is_readable_by_this_user_only(isolated_dirs) -> None:
    path = link.write_token("at1_0123456789ab_secret")
    assert path == config_module.token_path()
    assert (path.stat().st_mode & 0o777) == 0o600
    assert link.read_token() == "at1_0123456789ab_secret"
    path.chmod(0o644)
    with pytest.raises(link.TokenFileError, match="chmod 600"):
        link.read_token()


def test_no_token_says_how_to_enroll(isolated_dirs) -> None:
    with pytest.raises(link.NotEnrolled, match="associate enroll"):
        link.read_token()


# -- one sync at a time per data folder ---------------------------------------------------------------


def test_only_one_sync_runs_per_data_folder_even_across_processes(tmp_path) -> None:
    lock = tmp_path / "sync.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import sys, time
            from pathlib import Path
            from sync.engine import sync_lock
            with sync_lock(Path({str(lock)!r})):
                print("held", flush=True)
                time.sleep(60)
        """),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(SyncBusy, match=f"process {holder.pid}"):
            with sync_lock(lock):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # A killed holder leaves no stale lock behind.
    deadline = time.monotonic() + 5
    while True:
        try:
            with sync_lock(lock):
                break
        except SyncBusy:
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_config_checks_the_hq_address_and_interval(tmp_path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('hq_url = "ftp://hq"\n')
    with pytest.raises(config_module.ConfigError, match="hq_url must be HQ's address"):
        config_module.load(path)
    path.write_text("sync_interval = 1\n")
    with pytest.raises(config_module.ConfigError, match="sync_interval"):
        config_module.load(path)
    config = config_module.Config(hq_url="https://hq.example.com", sync_interval=30, hq_ca_file="/etc/ca.pem")
    config_module.save(config, path)
    again = config_module.load(path)
    assert (again.hq_url, again.sync_interval, again.hq_ca_file) == ("https://hq.example.com", 30, "/etc/ca.pem")
    assert os.access(path, os.R_OK)


# -- the taxonomy HQ publishes -----------------------------------------------------------------------


def test_hq_taxonomy_is_pulled_with_its_etag_and_a_bad_one_keeps_the_last_good(db_path) -> None:
    from associate_tui.config import load_taxonomy

    bank = (ROOT / "schemas" / "packs" / "bank.json").read_bytes()
    published = {"body": bank, "etag": '"v1"'}
    asked_with: list[str | None] = []

    def hq_side(request: httpx.Request) -> httpx.Response:
        if request.url.path != "/v1/taxonomy":  # nothing to send; an HQ from before the pull of its answers
            return httpx.Response(404, json={"error": "http_404", "message": "No such route; see /openapi.json."})
        asked_with.append(request.headers.get("If-None-Match"))
        if request.headers.get("If-None-Match") == published["etag"]:
            return httpx.Response(304)
        return httpx.Response(200, content=published["body"], headers={"ETag": published["etag"]})

    assert load_taxonomy("hq").name == "retail"  # nothing pulled yet
    client = HQClient("http://hq.test", "at1_test", transport=httpx.MockTransport(hq_side))
    with Store(db_path) as store:
        first = sync_once(store, client, Identity("S1", "T1"), taxonomy_sink=link.install_taxonomy)
        assert first.taxonomy_updated and load_taxonomy("hq").name == "bank"
        second = sync_once(store, client, Identity("S1", "T1"), taxonomy_sink=link.install_taxonomy)
        assert not second.taxonomy_updated and asked_with == [None, '"v1"']

        published.update(body=b'{"name": "broken"}', etag='"v2"')
        third = sync_once(store, client, Identity("S1", "T1"), taxonomy_sink=link.install_taxonomy)
        assert not third.taxonomy_updated and "keeping the current one" in third.warning
        assert load_taxonomy("hq").name == "bank"  # the last good pack stays
        assert "taxonomy" in store.sync_status().last_error


def test_the_summary_counts_in_words_a_person_reads() -> None:
    from sync.engine import SyncReport

    one = SyncReport(sent=1, batches=1, accepted=1, seconds=0.5).summary()
    many = SyncReport(sent=2000, batches=2, accepted=2000, seconds=1.0).summary()
    assert one.startswith("Sent 1 record in 1 batch: 1 accepted")
    assert many.startswith("Sent 2000 records in 2 batches: 2000 accepted")
