"""End to end: real terminals (SQLite files, the `associate` command) and the real HQ over loopback HTTP.

After every run, whatever broke on the way, the same check: every ask on every
terminal is at HQ exactly once, with its latest version, and nothing is pending.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fault_proxy import FaultProxy
from hq_server import HQDatabase, HQProcess, HQThread, add_terminal

from associate_tui.asks import AskDraft
from associate_tui.store import Store
from sync.client import HQClient
from sync.engine import Backoff, Identity, sync_with_retry
from sync.hq import fold, rollups
from sync.hq.storage import HQStorage

pytestmark = pytest.mark.slow  # end to end: real HQ processes, faults, generated calls (the slow tier)

ROOT = Path(__file__).resolve().parents[1]
WORDS = ["navy", "red", "black", "rain jacket", "wool scarf", "boots", "size M", "size 42", "linen shirt", "umbrella"]


class Terminal:
    """One counter: its own data folder and config, driven through the `associate` command."""

    def __init__(self, root: Path, store_id: str, terminal_id: str) -> None:
        self.store_id, self.terminal_id = store_id, terminal_id
        self.dir = root / f"{store_id}-{terminal_id}"
        self.dir.mkdir(parents=True)
        self.db = self.dir / "data" / "associate.db"
        self.env = {
            **os.environ,
            "ASSOCIATE_DATA_DIR": str(self.dir / "data"),
            "ASSOCIATE_CONFIG": str(self.dir / "config.toml"),
            "PYTHONPATH": str(ROOT),
        }
        (self.dir / "config.toml").write_text(f'store_id = "{store_id}"\nterminal_id = "{terminal_id}"\n')

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "associate_tui", *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "associate_tui", *args],
            env=self.env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def store(self) -> Store:
        return Store(self.db)

    def log(self, count: int, seed: int = 0) -> list[str]:
        """Log `count` asks offline, as the counter would (one committed save each)."""
        rng = random.Random(seed)
        with self.store() as store:
            return [
                store.add_ask(
                    AskDraft(text=f"{rng.choice(WORDS)} {rng.choice(WORDS)} #{i}", outcome="out_of_stock"),
                    store_id=self.store_id,
                    terminal_id=self.terminal_id,
                    associate="AB",
                ).id
                for i in range(count)
            ]

    def enroll(self, url: str, token: str) -> None:
        done = self.run("enroll", url, "--token", token)
        assert done.returncode == 0, done.stderr

    def latest(self) -> dict[str, int]:
        with self.store() as store:
            return {ask.id: ask.version for ask in store.iter_asks()}

    def pending(self) -> int:
        with self.store() as store:
            return store.count_pending()


def held_at_hq(hq_db: HQDatabase) -> list[tuple[str, int]]:
    return hq_db.rows("SELECT id, version FROM asks")


def assert_exactly_once(hq_db: HQDatabase, *terminals: Terminal) -> None:
    expected: dict[str, int] = {}
    for terminal in terminals:
        expected.update(terminal.latest())
        assert terminal.pending() == 0
    held = held_at_hq(hq_db)
    assert len(held) == len(expected), "an ask is missing at HQ or held twice"
    assert dict(held) == expected, "HQ does not hold the latest version of every ask"


# -- the happy path, at volume ----------------------------------------------------------------------


def test_ten_thousand_asks_logged_offline_reach_hq_exactly_once(tmp_path, hq_db) -> None:
    counter = Terminal(tmp_path, "S1", "T1")
    counter.log(10_000)
    assert counter.pending() == 10_000
    with HQProcess(hq_db) as hq:
        counter.enroll(hq.url, add_terminal(hq_db, "S1", "T1"))
        done = counter.run("sync")
        assert done.returncode == 0, done.stderr
        assert "10000 accepted" in done.stdout and "Pending: 0" in done.stdout
        assert_exactly_once(hq_db, counter)
        status = counter.run("status").stdout
        assert "pending sync  0" in status and "never" not in status


def test_edits_and_voids_arrive_as_higher_versions(tmp_path, hq_db) -> None:
    counter = Terminal(tmp_path, "S1", "T1")
    ids = counter.log(20)
    with HQThread(hq_db) as hq:
        counter.enroll(hq.url, add_terminal(hq.storage, "S1", "T1"))
        assert counter.run("sync").returncode == 0
        with counter.store() as store:
            store.edit_ask(ids[0], AskDraft(text="navy rain jacket size L", outcome="substituted", substitute="parka"))
            store.void_ask(ids[1], "logged twice")
            assert store.count_pending() == 2
        done = counter.run("sync")
        assert done.returncode == 0 and "2 accepted" in done.stdout
        rows = dict(hq_db.rows("SELECT id, version || ' ' || text || ' ' || voided FROM asks WHERE id IN (?, ?)", ids[:2]))
        assert rows[ids[0]] == "2 navy rain jacket size L 0"
        assert rows[ids[1]].startswith("2 ") and rows[ids[1]].endswith(" 1")
        assert_exactly_once(hq_db, counter)


def test_three_terminals_of_two_stores_each_write_for_their_own_store(tmp_path, hq_db) -> None:
    terminals = [Terminal(tmp_path, "S1", "T1"), Terminal(tmp_path, "S1", "T2"), Terminal(tmp_path, "S2", "T1")]
    for n, terminal in enumerate(terminals):
        terminal.log(300 + n * 50, seed=n)
    with HQThread(hq_db) as hq:
        for terminal in terminals:
            terminal.enroll(hq.url, add_terminal(hq.storage, terminal.store_id, terminal.terminal_id))
        for terminal in terminals:
            assert terminal.run("sync").returncode == 0
        assert_exactly_once(hq_db, *terminals)
        per_store = dict(hq_db.rows("SELECT store_id || '/' || terminal_id, count(*) FROM asks GROUP BY 1"))
        assert per_store == {"S1/T1": 300, "S1/T2": 350, "S2/T1": 400}


def test_a_terminal_cannot_write_for_another_store(tmp_path, hq_db) -> None:
    counter = Terminal(tmp_path, "S1", "T1")
    with HQThread(hq_db) as hq:
        token = add_terminal(hq.storage, "S1", "T1")
        counter.enroll(hq.url, token)
        # Someone edits the config to pretend to be store S2, and logs asks as S2.
        config = (counter.dir / "config.toml").read_text().replace('store_id = "S1"', 'store_id = "S2"')
        (counter.dir / "config.toml").write_text(config)
        counter.store_id = "S2"
        counter.log(5)
        done = counter.run("sync")
        assert done.returncode == 1
        assert "HQ refused" in done.stderr and "S2" in done.stderr
        assert held_at_hq(hq_db) == [] and counter.pending() == 5

        # Asks stamped with another store inside an honest batch are refused one by one.
        with httpx.Client() as http:
            batch = {
                "schema_version": 1,
                "batch_id": "01a205b6-becf-7048-a499-dd27347087b8",
                "store_id": "S1",
                "terminal_id": "T1",
                "sent_at": "2026-11-25T10:00:00.000Z",
                "records": [],
            }
            with counter.store() as store:
                batch["records"] = [json.loads(raw) for _, _, _, raw in store.pending_records(limit=1)]
            answer = http.post(f"{hq.url}/v1/batches", json=batch, headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200
        assert answer.json()["results"][0]["status"] == "rejected"
        assert answer.json()["results"][0]["code"] == "wrong_store"
        assert held_at_hq(hq_db) == []


def test_a_bad_or_revoked_token_is_refused_in_plain_words(tmp_path, hq_db) -> None:
    counter = Terminal(tmp_path, "S1", "T1")
    counter.log(3)
    with HQThread(hq_db) as hq:
        refused = counter.run("enroll", hq.url, "--token", "at1_000000000000_not-a-real-token")
        assert refused.returncode == 1 and "token" in refused.stderr.lower() and "Traceback" not in refused.stderr
        assert not (counter.dir / "token").exists() and "hq_url" not in (counter.dir / "config.toml").read_text()

        counter.enroll(hq.url, add_terminal(hq.storage, "S1", "T1"))
        hq.storage.revoke("S1", "T1")
        done = counter.run("sync")
        assert done.returncode == 1 and "token" in done.stderr and "associate enroll" in done.stderr
        assert counter.pending() == 3 and held_at_hq(hq_db) == []
        assert "token" in counter.run("status").stdout  # the last error, for IT


def test_a_poison_record_is_quarantined_and_the_rest_of_the_queue_drains(tmp_path, hq_db) -> None:
    counter = Terminal(tmp_path, "S1", "T1")
    ids = counter.log(500)
    with counter.store() as store:  # a row the contract refuses (written by some older, buggier version)
        store.conn.execute("UPDATE asks SET text = ? WHERE id = ?", ("x" * 400, ids[250]))
    with HQThread(hq_db) as hq:
        counter.enroll(hq.url, add_terminal(hq.storage, "S1", "T1"))
        done = counter.run("sync")
        assert done.returncode == 0, done.stderr
        assert "499 accepted" in done.stdout and "1 rejected" in done.stdout
        assert len(held_at_hq(hq_db)) == 499 and ids[250] not in dict(held_at_hq(hq_db))
        with counter.store() as store:
            [poison] = store.quarantined()
            assert poison.ask.id == ids[250] and poison.code == "invalid" and "text" in poison.message
            assert store.count_pending() == 0
        assert "quarantined   1" in counter.run("status").stdout
        assert counter.run("sync").stdout.startswith("Nothing to send")  # not resent until edited
        with counter.store() as store:
            store.edit_ask(ids[250], AskDraft(text="fixed text", outcome="out_of_stock"))
        assert "1 accepted" in counter.run("sync").stdout
        assert_exactly_once(hq_db, counter)


def test_hqs_certificate_is_verified_and_a_private_ca_can_be_named(tmp_path, hq_db) -> None:
    import trustme

    ca = trustme.CA()
    chain, ca_file = tmp_path / "hq.pem", tmp_path / "ca.pem"
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(chain))
    ca.cert_pem.write_to_path(str(ca_file))
    counter = Terminal(tmp_path, "S1", "T1")
    counter.log(5)
    with HQThread(hq_db, tls=(chain, ca_file)) as hq:
        token = add_terminal(hq.storage, "S1", "T1")
        refused = counter.run("enroll", hq.url, "--token", token)
        assert refused.returncode == 1 and "certificate" in refused.stderr and "hq_ca_file" in refused.stderr
        assert not (counter.dir / "token").exists()
        config_text = (counter.dir / "config.toml").read_text()
        (counter.dir / "config.toml").write_text(config_text + f'hq_ca_file = "{tmp_path / "no-such.pem"}"\n')
        missing = counter.run("enroll", hq.url, "--token", token)
        assert missing.returncode == 1 and "no-such.pem" in missing.stderr and "hq_ca_file" in missing.stderr
        (counter.dir / "config.toml").write_text(config_text + f'hq_ca_file = "{ca_file}"\n')
        counter.enroll(hq.url, token)
        done = counter.run("sync")
        assert done.returncode == 0 and "5 accepted" in done.stdout
        assert_exactly_once(hq_db, counter)


def test_sync_watch_runs_as_a_service_and_stops_cleanly(tmp_path, hq_db) -> None:
    counter = Terminal(tmp_path, "S1", "T1")
    with HQThread(hq_db) as hq:
        counter.enroll(hq.url, add_terminal(hq.storage, "S1", "T1"))
        with open(counter.dir / "config.toml", "a") as config:
            config.write("sync_interval = 5\n")
        service = counter.start("sync", "--watch")
        try:
            counter.log(30)
            deadline = time.monotonic() + 30
            while hq.storage.count_asks() < 30:
                assert time.monotonic() < deadline, "the service did not send the asks"
                time.sleep(0.2)
        finally:
            service.send_signal(signal.SIGTERM)
            out, err = service.communicate(timeout=30)
        assert service.returncode == 0, err
        assert "every 5 s" in out and "Stopped." in out
        assert_exactly_once(hq_db, counter)


# -- faults on the wire: exactly once whatever breaks ------------------------------------------------


def drain_through(proxy: FaultProxy, store: Store, token: str, delays: list[tuple[str, float]], **options) -> None:
    client = HQClient(proxy.url, token, timeout=httpx.Timeout(2.0))
    with client:
        sync_with_retry(
            store,
            client,
            Identity("S1", "T1"),
            give_up_after=120,
            backoff=Backoff(base=0.05, cap=2.0),
            on_retry=lambda error, delay: delays.append((type(error).__name__, delay)),
            **options,
        )


@pytest.mark.parametrize(
    ("fault", "says"),
    [
        ("reset_before", "Offline"),  # the request never reached HQ
        ("reset_after", "Offline"),  # HQ committed, the answer was lost
        ("truncate", "Offline"),  # half an answer
        ("stall", "Offline"),  # no answer: the client times out
        ("busy", "HQBusy"),  # 503 with Retry-After
    ],
)
def test_every_ask_arrives_once_whatever_the_connection_does(tmp_path, hq_db, fault, says) -> None:
    counter = Terminal(tmp_path, "S1", "T1")
    counter.log(400)
    with HQThread(hq_db) as hq, FaultProxy(hq.port, ["pass", fault, "pass", fault, fault]) as proxy:
        token = add_terminal(hq.storage, "S1", "T1")
        delays: list[tuple[str, float]] = []
        with counter.store() as store:
            drain_through(proxy, store, token, delays, batch_records=100)
        # Two batches are in flight at a time, so one retry may cover two faults.
        assert proxy.count(fault) == 3 and 1 <= len(delays) <= 3 and {kind for kind, _ in delays} == {says}
        if fault == "busy":
            assert all(delay >= 1.0 for _, delay in delays)  # HQ's Retry-After: 1 is honoured
        assert_exactly_once(hq_db, counter)


def test_random_faults_with_edits_in_between_lose_and_duplicate_nothing(tmp_path, hq_db) -> None:
    counter = Terminal(tmp_path, "S1", "T1")
    ids = counter.log(1200)
    rng = random.Random(7)
    with HQThread(hq_db) as hq, FaultProxy.random(hq.port, seed=11, fault_share=0.4) as proxy:
        token = add_terminal(hq.storage, "S1", "T1")
        for round_ in range(3):
            with counter.store() as store:
                for ask_id in rng.sample(ids, 100):
                    store.edit_ask(ask_id, AskDraft(text=f"edited in round {round_}", outcome="not_carried"))
                drain_through(proxy, store, token, [], batch_records=60)
        assert sum(proxy.count(f) for f in ("reset_before", "reset_after", "truncate", "busy")) >= 10
        assert_exactly_once(hq_db, counter)


def test_hq_killed_and_restarted_mid_sync(tmp_path, hq_db) -> None:
    counter = Terminal(tmp_path, "S1", "T1")
    counter.log(6000)
    with HQProcess(hq_db) as hq:
        counter.enroll(hq.url, add_terminal(hq_db, "S1", "T1"))
        sync = counter.start("sync", "--batch-size", "50")
        deadline = time.monotonic() + 60
        while len(held_at_hq(hq_db)) < 500:
            assert time.monotonic() < deadline and sync.poll() is None
            time.sleep(0.02)
        hq.kill()
        time.sleep(1.5)
        hq.start()
        out, err = sync.communicate(timeout=180)
        assert sync.returncode == 0, err
        assert "Next try" in err  # it waited for HQ instead of giving up
        assert_exactly_once(hq_db, counter)
    # The roll-ups of every ask, folded once each: whatever the kill left in the outbox, nothing lost or doubled.
    with HQStorage.open(hq_db.url) as storage:
        fold.fold(storage.db)
        kept = hq_db.rows("SELECT * FROM demand_days ORDER BY day, demand_key, store_id, category, outcome")
        assert sum(row[5] for row in kept) == len(held_at_hq(hq_db))
        with storage.db.write() as conn:
            rollups.rebuild(conn)
        assert hq_db.rows("SELECT * FROM demand_days ORDER BY day, demand_key, store_id, category, outcome") == kept


def test_the_sync_process_killed_at_random_points_and_restarted(tmp_path, hq_db) -> None:
    counter = Terminal(tmp_path, "S1", "T1")
    rng = random.Random(3)
    ids: list[str] = []
    with HQThread(hq_db) as hq:
        counter.enroll(hq.url, add_terminal(hq.storage, "S1", "T1"))
        kills = 0
        for round_ in range(8):
            ids += counter.log(600, seed=round_)  # the counter keeps working between runs
            with counter.store() as store:
                for ask_id in rng.sample(ids, 20):
                    store.edit_ask(ask_id, AskDraft(text="changed between kills", outcome="out_of_stock"))
            sync = counter.start("sync", "--batch-size", "25")
            if rng.random() < 0.25:
                time.sleep(rng.uniform(0.0, 0.4))  # while starting, reading, or sending the first batch
            else:  # after a random number of asks reached HQ: between batches, or while one is in flight
                target = hq.storage.count_asks() + rng.randint(1, 550)
                while sync.poll() is None and hq.storage.count_asks() < target:
                    time.sleep(0.002)
            if sync.poll() is None:
                sync.send_signal(signal.SIGKILL)
                kills += 1
            sync.wait()
        assert kills >= 6
        assert 0 < len(held_at_hq(hq_db)) < len(ids)  # killed mid-drain, not only before or after
        done = counter.run("sync")
        assert done.returncode == 0, done.stderr
        assert_exactly_once(hq_db, counter)
