"""Erasure holds in HQ's files: an erased customer cannot be read back from the database's bytes on disk.

On PostgreSQL a deleted row stays in its page until VACUUM FULL, so HQ keeps a
customer's personal fields sealed under a key of their own (sync/hq/vault.py)
and erasure deletes the key and rewrites the keys table. These tests read the
database's own files, as someone holding the disk would, on both databases.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import uuid
from pathlib import Path

import msgspec
import pytest
from hq_server import HQDatabase

from schemas.records import LATER_FIELDS, AskRecord, CustomerRecord, ErasureRecord, FollowUpRecord, Preferences
from sync.hq import schema
from sync.hq.storage import HQStorage, Received

pytestmark = pytest.mark.slow  # end to end: real HQ processes, faults, generated calls (the slow tier)

NOW = "2026-11-25T09:59:00.000Z"
CONTENT = msgspec.json.Encoder(order="deterministic")  # how HQ encodes a record for its content hash
IDS = {"store_id": "S1", "terminal_id": "T1"}


def _id() -> str:
    return str(uuid.uuid4())


def customer(
    name: str,
    *,
    phone: str | None = None,
    email: str | None = None,
    number: str | None = None,
    notes: str | None = None,
    **fields,
) -> CustomerRecord:
    return CustomerRecord(
        id=fields.pop("id", None) or _id(),
        version=fields.pop("version", 1),
        created_at=NOW,
        updated_at=NOW,
        associate="AB",
        name=name,
        phone=phone,
        email=email,
        customer_number=number,
        consent_follow_up=True,
        consent_at=NOW,
        consent_wording="2026-1",
        preferences=Preferences(brands=["Barbour"], notes=notes),
        **IDS,
        **fields,
    )


def ask(customer_id: str | None = None) -> AskRecord:
    return AskRecord(
        id=_id(),
        version=1,
        created_at=NOW,
        updated_at=NOW,
        associate="AB",
        channel="walk-in",
        text="olive rain jacket size M",
        outcome="out_of_stock",
        customer_id=customer_id,
        **IDS,
    )


def follow_up(ask_id: str, customer_id: str | None, note: str | None) -> FollowUpRecord:
    return FollowUpRecord(
        id=_id(),
        version=1,
        created_at=NOW,
        updated_at=NOW,
        associate="AB",
        ask_id=ask_id,
        customer_id=customer_id,
        due_on="2026-12-02",
        note=note,
        **IDS,
    )


def erasure(customer_id: str) -> ErasureRecord:
    return ErasureRecord(id=_id(), version=1, created_at=NOW, customer_id=customer_id, reason="consent_withdrawn", **IDS)


def send(storage: HQStorage, *records) -> list[str]:
    results = storage.apply_batch(
        **IDS, batch_id=_id(), sent_at=NOW, received_at=NOW, clock_skew_ms=0, records=[Received(record) for record in records]
    )
    return [result.status for result in results]


def distinctive(storage: HQStorage) -> tuple[CustomerRecord, FollowUpRecord, AskRecord, list[bytes]]:
    """A customer whose every personal field is a string found nowhere else, with an ask and a follow-up note."""
    mark = secrets.token_hex(4)
    jane = customer(
        f"Zephyrine Quackenbush-{mark}",
        phone=f"+44 7700 9{mark}",
        email=f"zq.{mark}@example.com",
        number=f"LOY-{mark}",
        notes=f"prefers olive {mark}",
    )
    asked = ask(jane.id)
    promise = follow_up(asked.id, jane.id, f"call after five {mark}")
    assert send(storage, jane, asked, promise) == ["accepted"] * 3
    needles = [
        value.encode()
        for value in (jane.name, jane.phone, jane.email, jane.customer_number, jane.preferences.notes, promise.note)
    ]
    return jane, promise, asked, needles


def key_of(hq_db: HQDatabase, customer_id: str) -> bytes:
    [(key,)] = hq_db.rows("SELECT key FROM customer_keys WHERE customer_id = ?", (customer_id,))
    return bytes(key)


def checkpoint(hq_db: HQDatabase) -> None:
    """Everything PostgreSQL holds in memory written to its data files; nothing else (no VACUUM FULL)."""
    if hq_db.kind == "postgresql":
        hq_db.rows("CHECKPOINT")


def database_files(hq_db: HQDatabase) -> list[Path]:
    """Every file that holds this HQ database's tables: SQLite's file, WAL and shared memory; on PostgreSQL
    every file of the database's folder under base/ (which holds the tables' files, checked to be there)."""
    if hq_db.kind == "sqlite":
        return [path for path in (hq_db.path, Path(f"{hq_db.path}-wal"), Path(f"{hq_db.path}-shm")) if path.exists()]
    [(data, oid)] = hq_db.rows(
        "SELECT current_setting('data_directory'), oid FROM pg_database WHERE datname = current_database()"
    )
    folder = Path(data) / "base" / str(oid)
    try:
        files = [path for path in folder.iterdir() if path.is_file()]
    except OSError as error:
        pytest.skip(
            f"PostgreSQL's data directory {folder} cannot be read here ({error.strerror}): these tests read "
            "it as root, on the machine that runs PostgreSQL (as here and in CI)"
        )
    tables = hq_db.rows(
        "SELECT pg_relation_filepath(oid) FROM pg_class WHERE relnamespace = ?::regnamespace "
        "AND relname IN ('customers', 'follow_ups', 'customer_keys')",
        (hq_db.schema,),
    )
    assert tables and all((Path(data) / relative).parent == folder for (relative,) in tables), tables
    return files


def found_in_files(hq_db: HQDatabase, needles: list[bytes]) -> list[tuple[bytes, str]]:
    """(needle, file) for every needle found in the database's files."""
    found = []
    for path in database_files(hq_db):
        try:
            content = path.read_bytes()
        except FileNotFoundError:
            continue  # another test's table dropped meanwhile
        found += [(needle, path.name) for needle in needles if needle in content]
    return found


def test_an_erased_customer_cannot_be_read_from_the_database_files(hq_db) -> None:
    with HQStorage.open(hq_db.url) as storage:
        others = [customer(f"Customer {n}", phone=f"+44 7700 {n:06d}", notes=f"note {n}") for n in range(300)]
        assert send(storage, *others) == ["accepted"] * 300  # pages fill and split, as in a real table
        jane, promise, _, needles = distinctive(storage)

        # Read back through HQ, every field is as sent; in the files, none is.
        [held] = [c for c in storage.iter_customers() if c["id"] == jane.id]
        assert (held["name"], held["phone"], held["email"], held["customer_number"], held["preferences"]["notes"]) == (
            jane.name,
            jane.phone,
            jane.email,
            jane.customer_number,
            jane.preferences.notes,
        )
        assert [f["note"] for f in storage.iter_follow_ups() if f["id"] == promise.id] == [promise.note]
        erased_keys = [key_of(hq_db, c) for c in (jane.id, *(o.id for o in others[:40]))]
        kept_key = key_of(hq_db, others[-1].id)
        checkpoint(hq_db)
        assert found_in_files(hq_db, needles) == []
        assert found_in_files(hq_db, [erased_keys[0], kept_key]) != []  # the keys are there: the scan sees them

        assert send(storage, erasure(jane.id), *(erasure(o.id) for o in others[:40])) == ["accepted"] * 41
        checkpoint(hq_db)  # and no VACUUM FULL of customers or follow_ups

        assert found_in_files(hq_db, needles) == []
        assert found_in_files(hq_db, erased_keys) == []
        assert found_in_files(hq_db, [kept_key]) != []  # a live customer's key is still where the scan looks
        assert jane.id not in {c["id"] for c in storage.iter_customers()}
        assert [(f["customer_id"], f["note"]) for f in storage.iter_follow_ups() if f["id"] == promise.id] == [(None, None)]
        assert len(list(storage.iter_customers())) == 260
        assert hq_db.rows("SELECT count(*) FROM customer_keys")[0][0] == 260


def test_the_same_version_again_is_a_duplicate_other_content_a_conflict_and_no_plain_hash_is_kept(hq_db) -> None:
    with HQStorage.open(hq_db.url) as storage:
        jane, promise, asked, _ = distinctive(storage)
        twin = customer(jane.name, phone=jane.phone, email=jane.email)
        assert send(storage, jane, promise, asked, twin) == ["duplicate", "duplicate", "duplicate", "accepted"]
        assert send(storage, msgspec.structs.replace(jane, phone="+44 7700 900000")) == ["rejected"]
        assert send(storage, msgspec.structs.replace(jane, version=2, phone="+44 7700 900000")) == ["accepted"]
        assert send(storage, msgspec.structs.replace(jane, version=2, phone="+44 7700 900000")) == ["duplicate"]
    rows = dict(hq_db.rows("SELECT id, name FROM customers"))
    assert rows[jane.id] != rows[twin.id] and rows[jane.id].startswith("s1.")  # a fresh nonce for each seal
    plain = hashlib.sha256(CONTENT.encode(jane)).hexdigest()
    assert plain not in {digest for (digest,) in hq_db.rows("SELECT content_hash FROM customers")}


def test_workers_given_the_same_customers_at_once_make_one_key_each(hq_db) -> None:
    people = [customer(f"Customer {n}", email=f"c{n}@example.com") for n in range(50)]
    answers: list[list[str]] = []
    with HQStorage.open(hq_db.url) as storage:

        def worker() -> None:
            answers.append(send(storage, *people))

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(a[0] for a in answers) == ["accepted", "duplicate", "duplicate", "duplicate"]
        assert all(len(set(a)) == 1 for a in answers)
        assert sorted(c["email"] for c in storage.iter_customers()) == sorted(p.email for p in people)
    assert hq_db.rows("SELECT count(*), count(DISTINCT customer_id) FROM customer_keys") == [(50, 50)]


def test_the_upgrade_seals_what_an_older_hq_kept_in_plaintext_and_leaves_none_in_the_files(hq_db, monkeypatch) -> None:
    older = HQDatabase(hq_db.kind, hq_db.path.parent / "older" if hq_db.path else Path(), upgraded=False)
    try:
        with monkeypatch.context() as patch:
            patch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:4])
            patch.setattr(schema, "LATEST_SCHEMA", 4)
            HQStorage.open(older.url, upgrade=True).close()
        mark = secrets.token_hex(4)
        people = [
            customer(
                f"Ottoline Plaintext-{mark}-{n}",
                phone=f"+44 7700 8{mark}{n}",
                number=f"LOY-{mark}-{n}",
                notes=f"likes teal {mark}",
            )
            for n in range(3)
        ]
        asked = ask(people[0].id)
        promise = follow_up(asked.id, people[0].id, f"ring on monday {mark}")
        loose = follow_up(asked.id, None, "no customer: kept as written")
        for record, table in [*((p, "customers") for p in people), (promise, "follow_ups"), (loose, "follow_ups")]:
            row = [  # the fields schema 4 knew: none added to the contract since
                int(v) if isinstance(v, bool) else msgspec.json.encode(v).decode() if isinstance(v, msgspec.Struct) else v
                for field, v in zip(msgspec.structs.fields(record), msgspec.structs.astuple(record))
                if field.name not in LATER_FIELDS
            ]
            row += [hashlib.sha256(CONTENT.encode(record)).hexdigest(), NOW, "b1", 0]
            older.rows(f"INSERT INTO {table} VALUES ({', '.join('?' * len(row))})", row)  # as schema 4's HQ wrote it
        needles = [p.name.encode() for p in people] + [
            people[0].phone.encode(),
            f"likes teal {mark}".encode(),
            promise.note.encode(),
        ]
        checkpoint(older)
        assert found_in_files(older, needles[:1]) != []  # the older HQ's plaintext, before the upgrade

        with HQStorage.open(older.url, upgrade=True) as storage:
            checkpoint(older)
            assert found_in_files(older, needles) == []
            assert sorted(c["name"] for c in storage.iter_customers()) == sorted(p.name for p in people)
            assert {f["id"]: f["note"] for f in storage.iter_follow_ups()} == {promise.id: promise.note, loose.id: loose.note}
            # Content hashes carried over (keyed now): a resend is still a duplicate.
            assert send(storage, *people, promise) == ["duplicate"] * 4
            key = key_of(older, people[0].id)
            assert send(storage, erasure(people[0].id)) == ["accepted"]
        checkpoint(older)
        assert found_in_files(older, needles + [key]) == []
        assert older.rows("SELECT max(version) FROM schema_migrations") == [(schema.LATEST_SCHEMA,)]
    finally:
        older.drop()


def test_the_scan_finds_plaintext_when_it_is_there(hq_db) -> None:
    """The scan itself: a value written in clear to a table is found in the files."""
    mark = f"Plainly-visible-{secrets.token_hex(4)}".encode()
    HQStorage.open(hq_db.url).close()
    hq_db.rows("CREATE TABLE scan_check (value TEXT)")
    hq_db.rows("INSERT INTO scan_check VALUES (?)", (mark.decode(),))
    checkpoint(hq_db)
    assert found_in_files(hq_db, [mark]) != []
