"""HQ answers demand groups: `associate-hq demand list | respond | available`, the status kept with its history,
on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from schemas.records import AskRecord
from schemas.times import format_utc
from sync.hq.cli import main as associate_hq
from sync.hq.ingest import Received
from sync.hq.storage import HQStorage

ROOT = Path(__file__).resolve().parents[1]

NOW = datetime.now(timezone.utc).replace(microsecond=0)


def ask(store: str, text: str, *, days_ago: int = 0) -> AskRecord:
    when = format_utc(NOW - timedelta(days=days_ago))
    return AskRecord(
        id=str(uuid.uuid4()),
        version=1,
        created_at=when,
        updated_at=when,
        store_id=store,
        terminal_id="T1",
        associate="AB",
        channel="walk-in",
        text=text,
        category="clothing.outerwear",
        attributes={"colour": "navy"},
        outcome="out_of_stock",
    )


@pytest.fixture
def hq(hq_db):
    """Three stores asked for a navy rain jacket (S1 twice), S3 for a red scarf."""
    with HQStorage.open(hq_db.url) as storage:
        asks: dict[str, list[AskRecord]] = {}
        for store, text in (
            ("S1", "navy rain jacket"),
            ("S1", "Navy rain jacket"),
            ("S2", "rain jacket navy"),
            ("S3", "red scarf"),
        ):
            asks.setdefault(store, []).append(ask(store, text))
        for store, records in asks.items():
            storage.add_terminal(store, "T1")
            storage.apply_batch(
                store_id=store,
                terminal_id="T1",
                batch_id=str(uuid.uuid4()),
                sent_at=format_utc(NOW),
                received_at=format_utc(NOW),
                clock_skew_ms=0,
                records=[Received(record=record, id=record.id, version=1) for record in records],
            )
    return hq_db


def run(hq_db, capsys, *args: str) -> tuple[int, str, str]:
    code = associate_hq([*args[:2], "--db", hq_db.url, *args[2:]] if args[0] == "demand" else list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def groups(hq_db, capsys, *options: str) -> dict[str, dict]:
    code, out, err = run(hq_db, capsys, "demand", "list", "--format", "json", *options)
    assert code == 0, err
    rows = json.loads(out)["groups"]
    return {row["examples"][0].lower(): row for row in rows}


def history(hq_db, key: str) -> list[tuple]:
    return hq_db.rows(
        "SELECT status, expected_on, note, stores, changed_by, changed_at FROM demand_response_history WHERE demand_key = ? "
        "ORDER BY seq",
        (key,),
    )


def test_list_shows_each_group_new_with_its_key_wordings_counts_and_stores(hq, capsys) -> None:
    found = groups(hq, capsys)
    jacket, scarf = found["navy rain jacket"], found["red scarf"]
    assert (jacket["asks"], jacket["stores"], jacket["store_asks"]) == (3, 2, {"S1": 2, "S2": 1})
    assert len(jacket["examples"]) == 2 and jacket["status"] == "new" and jacket["changed_by"] is None
    assert (scarf["asks"], scarf["store_asks"], scarf["status"]) == (1, {"S3": 1}, "new")
    assert len({jacket["key"], scarf["key"]}) == 2
    assert groups(hq, capsys) == found  # the key is stable
    assert list(groups(hq, capsys, "--store", "S3")) == ["red scarf"]
    code, out, _ = run(hq, capsys, "demand", "list")
    assert code == 0 and jacket["key"] in out and "new" in out and "S1 2, S2 1" in out


def test_respond_and_available_change_the_status_and_the_history_keeps_every_change(hq, capsys) -> None:
    key = groups(hq, capsys)["navy rain jacket"]["key"]
    code, out, err = run(
        hq, capsys, "demand", "respond", key, "--status", "reviewing", "--note", "Asking the buyers", "--by", "ann"
    )
    assert code == 0 and "reviewing: Asking the buyers (by ann" in out, err
    note = "Coming in navy in March"
    assert run(hq, capsys, "demand", "respond", key, "--status", "planned", "--expected", "2099-03-01", "--note", note)[0] == 0
    planned = groups(hq, capsys)["navy rain jacket"]
    assert (planned["status"], planned["expected_on"], planned["note"]) == ("planned", "2099-03-01", note)
    assert planned["changed_by"]  # the login name when no --by
    assert list(groups(hq, capsys, "--status", "planned")) == ["navy rain jacket"]
    assert list(groups(hq, capsys, "--status", "new")) == ["red scarf"]

    code, out, _ = run(hq, capsys, "demand", "available", key, "--store", "S1", "--by", "bob")
    assert code == 0 and "available at S1" in out
    assert run(hq, capsys, "demand", "available", key, "--store", "S2", "--by", "bob")[0] == 0
    assert groups(hq, capsys)["navy rain jacket"]["available_at"] == ["S1", "S2"]
    code, out, _ = run(hq, capsys, "demand", "available", key, "--store", "S2", "--by", "bob")
    assert code == 0 and "nothing changed" in out
    assert run(hq, capsys, "demand", "available", key, "--by", "bob")[0] == 0
    assert groups(hq, capsys)["navy rain jacket"]["available_at"] == []  # chain-wide

    kept = history(hq, key)
    assert [(status, stores) for status, _, _, stores, _, _ in kept] == [
        ("reviewing", None),
        ("planned", None),
        ("available", '["S1"]'),
        ("available", '["S1", "S2"]'),
        ("available", None),
    ]
    assert [row[4] for row in kept][:1] + [row[4] for row in kept][2:] == ["ann", "bob", "bob", "bob"]
    assert all(row[5] >= format_utc(NOW - timedelta(minutes=5)) for row in kept)
    assert hq.rows("SELECT status, stores FROM demand_responses") == [("available", None)]
    code, out, _ = run(hq, capsys, "demand", "list")
    assert "available chain-wide" in out


@pytest.mark.parametrize(
    "args, words",
    [
        (("--status", "planned", "--note", "Soon"), "needs --expected"),
        (("--status", "planned", "--expected", "March", "--note", "Soon"), "not a date"),
        (("--status", "planned", "--expected", "2001-03-01", "--note", "Soon"), "in the past"),
        (("--status", "declined", "--note", "  "), "--note is empty"),
        (("--status", "reviewing", "--note", "x" * 201), "keep it to 200"),
        (("--status", "reviewing", "--note", "bell\x07"), "control character (U+0007)"),
        (("--status", "reviewing", "--note", "two\nlines"), "control character (U+000A)"),
        (("--status", "reviewing", "--expected", "2099-01-01", "--note", "Soon"), "--expected is for --status planned"),
        (("--status", "reviewing", "--note", "Soon", "--by", "\x1b[31m"), "--by"),
    ],
)
def test_bad_input_exits_2_with_words_and_changes_nothing(hq, capsys, args, words) -> None:
    key = groups(hq, capsys)["red scarf"]["key"]
    code, out, err = run(hq, capsys, "demand", "respond", key, *args)
    assert code == 2 and words in err and out == ""
    assert hq.rows("SELECT count(*) FROM demand_response_history") == [(0,)]


def test_unknown_keys_and_stores_and_options_are_refused(hq, capsys) -> None:
    code, _, err = run(hq, capsys, "demand", "respond", "0123456789abcdef", "--status", "reviewing", "--note", "x")
    assert code == 2 and "never seen demand group '0123456789abcdef'" in err
    key = groups(hq, capsys)["red scarf"]["key"]
    code, _, err = run(hq, capsys, "demand", "available", key, "--store", "S9")
    assert code == 2 and "HQ knows no store S9" in err
    code, _, err = run(hq, capsys, "demand", "available", key, "--store", "=cmd|x")
    assert code == 2 and "must be 1 to 32 letters" in err
    code, _, err = run(hq, capsys, "demand", "list", "--since", "lately")
    assert code == 2 and "--since 'lately'" in err
    for argv in (["respond", key, "--status", "available", "--note", "x"], ["respond", key, "--status", "planned"]):
        with pytest.raises(SystemExit) as refused:
            associate_hq(["demand", *argv])
        assert refused.value.code == 2
    assert hq.rows("SELECT count(*) FROM demand_response_history") == [(0,)]


def test_json_and_csv_formats(hq, capsys) -> None:
    key = groups(hq, capsys)["red scarf"]["key"]
    note = '=HYPERLINK("x") not till spring'
    assert run(hq, capsys, "demand", "respond", key, "--status", "declined", "--note", note, "--by", "cy")[0] == 0
    code, out, _ = run(hq, capsys, "demand", "list", "--format", "json")
    body = json.loads(out)
    assert code == 0 and body["since"] < body["until"]
    scarf = next(row for row in body["groups"] if row["key"] == key)
    assert (scarf["status"], scarf["note"], scarf["changed_by"]) == ("declined", note, "cy")
    code, out, _ = run(hq, capsys, "demand", "list", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and len(rows) == 2
    row = next(row for row in rows if row["key"] == key)
    assert (row["status"], row["note"], row["store_asks"], row["changed_by"]) == ("declined", "'" + note, "S3=1", "cy")
    jacket = next(row for row in rows if row["key"] != key)
    assert (jacket["status"], jacket["asks"], jacket["stores"], jacket["store_asks"]) == ("new", "3", "2", "S1=2 S2=1")


def test_a_new_taxonomy_that_regroups_the_asks_carries_the_groups_answer_over(hq, capsys) -> None:
    jacket = groups(hq, capsys)["navy rain jacket"]
    code, _, err = run(hq, capsys, "demand", "respond", jacket["key"], "--status", "declined", "--note", "Not this season")
    assert code == 0, err
    pack = json.loads((ROOT / "schemas" / "packs" / "retail.json").read_text())
    pack["version"] = "2026.2"
    # "rain navy" becomes a name of the colour, so "rain" no longer names what was asked for: a new group
    next(a for a in pack["attributes"] if a["key"] == "colour")["values"]["navy"].append("rain navy")
    with HQStorage.open(hq.url) as storage:
        storage.publish_taxonomy(json.dumps(pack).encode())
    regrouped = groups(hq, capsys)["navy rain jacket"]
    assert regrouped["key"] != jacket["key"] and regrouped["asks"] == 3
    assert (regrouped["status"], regrouped["note"]) == ("declined", "Not this season")
    assert [row[0] for row in history(hq, regrouped["key"])] == ["declined"]
    assert history(hq, regrouped["key"])[0][4] == "taxonomy regroup"
    assert groups(hq, capsys)["red scarf"]["status"] == "new"  # a group with no answer takes none
