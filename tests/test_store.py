"""The local store: durability settings, versions, migrations, search, errors."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from associate_tui.asks import AskDraft
from associate_tui.store import (
    LATEST_SCHEMA,
    DiskFull,
    NewerSchema,
    StaleEdit,
    Store,
    StoreCorrupt,
    fts_query,
)

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
ROOT = Path(__file__).resolve().parents[1]


def draft(text: str = "blue rain jacket size M", outcome: str = "out_of_stock", **fields) -> AskDraft:
    return AskDraft(text=text, outcome=outcome, **fields)


def add(store: Store, text: str = "blue rain jacket size M", **fields):
    return store.add_ask(draft(text, **fields), store_id="S1", terminal_id="T1", associate="AB")


@pytest.fixture
def store(db_path: Path):
    with Store(db_path) as opened:
        yield opened


def test_new_file_is_private_wal_and_full_sync(store: Store, db_path: Path) -> None:
    add(store)
    assert db_path.stat().st_mode & 0o777 == 0o600
    assert db_path.parent.stat().st_mode & 0o777 == 0o700
    assert Path(f"{db_path}-wal").stat().st_mode & 0o777 == 0o600
    conn = store.conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
    assert store.schema_version() == LATEST_SCHEMA


def test_new_ask_has_uuid7_version_one_and_utc_times(store: Store) -> None:
    ask = add(
        store,
        attributes={"colour": "blue", "size": "M"},
        category="clothing.outerwear",
        substitute="navy rain jacket",
        substitute_accepted=True,
        quantity=2,
        channel="phone",
        note="call back",
    )
    assert uuid.UUID(ask.id).version == 7
    assert (ask.version, ask.synced_version, ask.voided) == (1, 0, False)
    assert ISO_MS.match(ask.created_at) and ask.created_at == ask.updated_at
    again = store.get_ask(ask.id)
    assert again == ask
    assert again.attributes == {"colour": "blue", "size": "M"}
    assert (again.store_id, again.terminal_id, again.associate) == ("S1", "T1", "AB")
    assert again.substitute_accepted is True and again.quantity == 2 and again.channel == "phone"


def test_ids_are_unique_and_time_ordered(store: Store) -> None:
    ids = [add(store, f"ask {n}").id for n in range(200)]
    assert len(set(ids)) == 200
    assert ids == sorted(ids)


def test_edit_bumps_version_and_keeps_created_at(store: Store) -> None:
    ask = add(store)
    edited = store.edit_ask(ask.id, draft("navy rain jacket size M", outcome="not_carried"), expected_version=1)
    assert edited.version == 2 and edited.created_at == ask.created_at
    assert edited.updated_at >= ask.updated_at
    assert (edited.text, edited.outcome) == ("navy rain jacket size M", "not_carried")
    assert store.count_pending() == 1


def test_edit_of_a_changed_ask_is_refused_not_overwritten(store: Store) -> None:
    ask = add(store)
    store.edit_ask(ask.id, draft("first change"), expected_version=1)
    with pytest.raises(StaleEdit, match="changed elsewhere"):
        store.edit_ask(ask.id, draft("second change from an old screen"), expected_version=1)
    assert store.get_ask(ask.id).text == "first change"


def test_void_keeps_the_row_with_reason_and_new_version(store: Store) -> None:
    ask = add(store)
    voided = store.void_ask(ask.id, "  logged   twice ")
    assert (voided.voided, voided.void_reason, voided.version) == (True, "logged twice", 2)
    assert store.count_asks() == 1
    with pytest.raises(StaleEdit, match="voided"):
        store.edit_ask(ask.id, draft("too late"))


def test_search_is_prefix_and_all_words_newest_first(store: Store) -> None:
    add(store, "blue rain jacket size M")
    add(store, "red rain boots")
    add(store, "blue jeans 32x34")
    newest = add(store, "navy rain jacket", substitute="black parka", note="wants waterproof")
    assert [a.text for a in store.recent_asks(query="rai jack")] == ["navy rain jacket", "blue rain jacket size M"]
    assert [a.text for a in store.recent_asks(query="blu")] == ["blue jeans 32x34", "blue rain jacket size M"]
    assert [a.id for a in store.recent_asks(query="parka")] == [newest.id]
    assert [a.id for a in store.recent_asks(query="waterpr")] == [newest.id]
    assert store.recent_asks(query="umbrella") == []


def test_search_ignores_accents_and_case_and_never_raises_on_syntax(store: Store) -> None:
    add(store, "Café crème mug")
    assert len(store.recent_asks(query="CAFE")) == 1
    for typed in ['"', "-", "AND", "NEAR(", "*", "a:b", "(", 'mug"', "'", "^mug"]:
        store.recent_asks(query=typed)  # must not raise
    assert fts_query(' "!! ') is None


def test_search_and_outcome_filter_combine(store: Store) -> None:
    add(store, "rain jacket", outcome="out_of_stock")
    add(store, "rain jacket", outcome="found")
    assert [a.outcome for a in store.recent_asks(query="rain", outcome="found")] == ["found"]
    assert [a.outcome for a in store.recent_asks(outcome="out_of_stock")] == ["out_of_stock"]


def test_edit_updates_the_search_index(store: Store) -> None:
    ask = add(store, "umbrella")
    store.edit_ask(ask.id, draft("parasol"))
    assert store.recent_asks(query="umbrella") == []
    assert [a.id for a in store.recent_asks(query="parasol")] == [ask.id]


def test_search_finds_the_attributes_and_follows_their_edits(store: Store) -> None:
    tagged = add(store, "rain jacket", attributes={"colour": "blue", "size": "M"})
    add(store, "rain jacket", attributes={"colour": "red"})
    assert [a.id for a in store.recent_asks(query="blue jacket")] == [tagged.id]
    store.edit_ask(tagged.id, draft("rain jacket", attributes={"colour": "navy"}))
    assert store.recent_asks(query="blue") == []
    assert [a.id for a in store.recent_asks(query="navy")] == [tagged.id]


def test_a_file_from_before_attribute_search_finds_its_old_asks_by_attribute(db_path: Path) -> None:
    tagged = "01a205b6-becf-7048-a499-dd27347087b8"
    with Store(db_path, migrate_to=6) as old:
        old.conn.execute(  # a row as schema 6 wrote it (today's code writes today's columns)
            "INSERT INTO asks (id, created_at, updated_at, store_id, terminal_id, associate, channel, text, attributes, "
            "outcome) VALUES (?, '2026-11-01T10:00:00.000Z', '2026-11-01T10:00:00.000Z', 'S1', 'T1', 'AB', 'walk-in', "
            "'rain jacket', '{\"colour\": \"blue\"}', 'out_of_stock')",
            (tagged,),
        )
        assert old.conn.execute("SELECT rowid FROM asks_fts WHERE asks_fts MATCH 'blue'").fetchall() == []  # words only
    with Store(db_path) as new:
        assert [a.id for a in new.recent_asks(query="blue")] == [tagged]


def test_older_file_is_upgraded_in_place(db_path: Path) -> None:
    with Store(db_path, migrate_to=1) as old:
        assert old.schema_version() == 1
        # A row as the first release wrote it (today's code writes today's columns).
        old.conn.execute(
            "INSERT INTO asks (id, created_at, updated_at, store_id, terminal_id, associate, channel, text, outcome) "
            "VALUES ('01a205b6-becf-7048-a499-dd27347087b8', '2026-11-01T10:00:00.000Z', '2026-11-01T10:00:00.000Z', "
            "'S1', 'T1', 'AB', 'walk-in', 'green wool scarf', 'not_carried')"
        )
        kept = old.conn.execute("SELECT id FROM asks").fetchone()
        tables = {r[0] for r in old.conn.execute("SELECT name FROM sqlite_master")}
        assert "asks_fts" not in tables
    with Store(db_path) as new:
        assert new.schema_version() == LATEST_SCHEMA
        assert [a.id for a in new.recent_asks(query="wool")] == [kept[0]]
        assert new.get_ask(kept[0]).customer_id is None and new.count_pending() == 1
        names = [r[0] for r in new.conn.execute("SELECT name FROM schema_migrations ORDER BY version")]
        assert names == [
            "asks table",
            "full-text search over asks",
            "search index merges off the save path",
            "sync: quarantine and sync state",
            "customers, follow-ups, erasures",
            "demand groups and same-as asks",
            "search finds the attributes too",
            "HQ's answers, the store's own figures, restocks",
            "feedback: asks rated 1 to 5",
        ]
        # Asks from before demand groups get theirs in the upgrade, so they count on the insights screen.
        assert new.conn.execute("SELECT count(*) FROM asks WHERE demand_key IS NULL").fetchone()[0] == 0


def test_a_file_from_a_newer_app_is_refused(db_path: Path) -> None:
    with Store(db_path) as store:
        store.conn.execute("INSERT INTO schema_migrations VALUES (99, 'future', '2030-01-01T00:00:00.000Z')")
    with pytest.raises(NewerSchema, match="newer Associate Terminal"):
        Store(db_path)


def test_disk_full_leaves_no_half_row_and_keeps_earlier_asks(store: Store) -> None:
    conn = store.conn
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages + 2}")
    saved = []
    with pytest.raises(DiskFull, match="disk is full") as failure:
        for n in range(10_000):
            saved.append(add(store, f"ask number {n} " + "x" * 200, note="n" * 200).id)
    assert "Nothing was written" in str(failure.value)
    assert store.count_asks() == len(saved) > 0
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    fts_rows = conn.execute("SELECT count(*) FROM asks_fts").fetchone()[0]
    assert fts_rows == len(saved)


def test_a_damaged_file_is_reported_and_left_alone(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    garbage = os.urandom(8192)
    db_path.write_bytes(garbage)
    with pytest.raises(StoreCorrupt, match="damaged") as failure:
        Store(db_path)
    assert "move it aside" in str(failure.value)
    assert db_path.read_bytes() == garbage


WRITER = textwrap.dedent(
    """
    import sys
    from associate_tui.asks import AskDraft
    from associate_tui.store import Store
    store = Store(sys.argv[1])
    for n in range(int(sys.argv[3])):
        store.add_ask(AskDraft(text=f"{sys.argv[2]} ask {n}", outcome="found"),
                      store_id="S", terminal_id=sys.argv[2], associate="AB")
    store.close()
    """
)


def test_two_processes_writing_at_once_lose_nothing(db_path: Path) -> None:
    Store(db_path).close()
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(db_path), name, "300"], cwd=ROOT) for name in ("left", "right")
    ]
    assert [w.wait(timeout=120) for w in writers] == [0, 0]
    with Store(db_path) as store:
        rows = store.conn.execute("SELECT terminal_id, count(*), count(DISTINCT id) FROM asks GROUP BY 1").fetchall()
        assert sorted(rows) == [("left", 300, 300), ("right", 300, 300)]
        assert len(store.recent_asks(query="left ask", limit=1000)) == 300
        assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_export_iterates_everything_in_pages(store: Store) -> None:
    ids = [add(store, f"item {n}").id for n in range(25)]
    assert [a.id for a in store.iter_asks(batch=7)] == ids
    assert json.loads(json.dumps(next(store.iter_asks()).as_dict()))["version"] == 1


def test_stored_row_matches_the_schema_the_sync_issue_expects(store: Store) -> None:
    add(store)
    columns = {r[1] for r in store.conn.execute("PRAGMA table_info(asks)")}
    assert {
        "id",
        "version",
        "synced_version",
        "created_at",
        "updated_at",
        "store_id",
        "terminal_id",
        "associate",
        "channel",
        "text",
        "category",
        "attributes",
        "outcome",
        "substitute",
        "substitute_accepted",
        "quantity",
        "note",
        "voided",
        "void_reason",
    } <= columns


def test_database_rejects_an_invalid_row_even_without_the_app(store: Store) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        store.conn.execute(
            "INSERT INTO asks (id, created_at, updated_at, store_id, terminal_id, associate, channel, text, outcome, quantity)"
            " VALUES ('x', 'a', 'a', 'S', 'T', 'A', 'walk-in', '', 'found', 0)"
        )


def test_one_letter_matches_a_whole_word_and_two_letters_a_prefix(store: Store) -> None:
    add(store, "blue jacket size M")
    add(store, "black bag")
    assert [a.text for a in store.recent_asks(query="size m")] == ["blue jacket size M"]
    assert store.recent_asks(query="b") == []
    assert [a.text for a in store.recent_asks(query="bl")] == ["black bag", "blue jacket size M"]


def test_tidy_merges_the_index_without_losing_a_match(store: Store) -> None:
    conn = store.conn
    automerge = conn.execute("SELECT v FROM asks_fts_config WHERE k = 'automerge'").fetchone()
    assert automerge == (0,)  # merging is not done inside saves
    ids = {add(store, f"green wellies {n}").id for n in range(300)}
    segments_before = conn.execute("SELECT count(*) FROM asks_fts_data").fetchone()[0]
    store.tidy(merge_pages=10_000)
    assert conn.execute("SELECT count(*) FROM asks_fts_data").fetchone()[0] < segments_before
    assert {a.id for a in store.recent_asks(query="welli", limit=1000)} == ids
    conn.execute("INSERT INTO asks_fts (asks_fts, rank) VALUES ('integrity-check', 1)")  # raises if damaged


def test_a_follow_up_leaves_out_in_stock_at_until_a_restock_so_an_older_hq_still_takes_it(db_path: Path) -> None:
    import msgspec

    from associate_tui.customers import CustomerDraft
    from associate_tui.store import FollowUpPlan
    from schemas.records import FollowUpRecord

    # The follow-up record as an HQ from before in_stock_at knows it: unknown fields refused.
    older = msgspec.defstruct(
        "FollowUpRecord",
        [(f.name, f.type, f.default) for f in msgspec.structs.fields(FollowUpRecord) if f.name != "in_stock_at"],
        tag="follow_up",
        tag_field="type",
        forbid_unknown_fields=True,
        kw_only=True,
    )

    def wire(store: Store) -> dict:
        [body] = [json.loads(body) for _, _, _, body in store.pending_records() if json.loads(body)["type"] == "follow_up"]
        return body

    ids = dict(store_id="S1", terminal_id="T1", associate="AB")
    with Store(db_path) as store:
        customer = store.add_customer(
            CustomerDraft(name="Jo", phone="+44 7700 900123", consent_follow_up=True), consent_wording="1", **ids
        )
        ask = store.add_ask(
            AskDraft(text="navy rain jacket", outcome="out_of_stock"),
            customer_id=customer.id,
            follow_up=FollowUpPlan(due_on="2099-01-01", assigned_to=None),
            **ids,
        )
        body = wire(store)
        assert "in_stock_at" not in body
        msgspec.json.decode(json.dumps(body), type=older)  # an older HQ takes it
        key = store.conn.execute("SELECT demand_key FROM asks WHERE id = ?", (ask.id,)).fetchone()[0]
        assert store.mark_came_in(key, associate="AB") == 1
        woken = msgspec.json.decode(json.dumps(wire(store)), type=FollowUpRecord)
        assert woken.in_stock_at and woken.version == 2
