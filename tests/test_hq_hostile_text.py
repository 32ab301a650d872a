"""Hostile text from the counter to HQ and out again: synced, reported, exported, digested and shown on
/dashboard as data, on both databases. Rows an older HQ stored with control characters in them are
shown without them too."""

from __future__ import annotations

import base64
import csv
import io
import json
from datetime import date, datetime, timedelta, timezone

import httpx
import msgspec
import pytest
from hq_server import HQThread

from associate_tui.cli import main as associate
from associate_tui.store import Store
from schemas.records import AskRecord
from schemas.times import format_utc
from sync.hq import rollups
from sync.hq.cli import main as associate_hq
from sync.hq.storage import Received
from tests.hostile_text import HOSTILE, has_control, shown

LEGACY = "legacy \x1b[2J\x1b]8;;http://evil.example\x07coat\u202e"  # stored before HQ refused control characters


@pytest.fixture
def synced(hq_db, isolated_dirs, db_path, capsys):
    """A terminal that logged every hostile string (one of them edited) and synced them to a real HQ."""
    with HQThread(hq_db) as hq:
        token = hq.storage.add_terminal("S1", "T1")
        assert associate(["enroll", hq.url, "--token", token]) == 0
        for text in HOSTILE.values():
            assert associate(["log", text, "--outcome", "not_carried", "--substitute", text[:200]]) == 0
        with Store(db_path) as store:
            first = next(iter(store.iter_asks()))
            store.edit_ask(first.id, first.draft().__class__(**{**first.draft().__dict__, "note": HOSTILE["bold"]}))
        assert associate(["sync"]) == 0
        capsys.readouterr()
        _store_legacy_ask(hq)
        yield hq


def _store_legacy_ask(hq: HQThread) -> None:
    now = format_utc(datetime.now(timezone.utc))
    record = AskRecord(
        id="01a205b6-becf-7048-a499-00000000ffff",
        version=1,
        created_at=now,
        updated_at=now,
        store_id="S1",
        terminal_id="T1",
        associate="AB",
        channel="walk-in",
        text="legacy placeholder",
        outcome="not_carried",
        substitute="legacy placeholder",
    )
    hq.storage.apply_batch(
        store_id="S1",
        terminal_id="T1",
        batch_id="0193a205-becf-7048-a499-00000000ffff",
        sent_at=now,
        received_at=now,
        clock_skew_ms=0,
        records=[Received(record=record, id=record.id, version=1)],
    )
    # Today's HQ refuses control characters at ingest: write them as an older HQ would have kept them.
    hq.db.rows("UPDATE asks SET text = ?, substitute = ? WHERE id = ?", (LEGACY, LEGACY, record.id))
    with hq.storage.db.write() as conn:  # and the roll-ups derived from it, as the upgrade from that HQ does
        rollups.rebuild(conn)


def hq_output(capsys, *args: str) -> str:
    assert associate_hq(list(args)) == 0
    return capsys.readouterr().out


def test_every_hostile_ask_reaches_hq_once_as_typed(synced, hq_db) -> None:
    held = {text for (text,) in hq_db.rows("SELECT text FROM asks")}
    assert held == {shown(text) for text in HOSTILE.values()} | {LEGACY}
    assert hq_db.rows("SELECT count(*) FROM asks WHERE note = ?", (HOSTILE["bold"],)) == [(1,)]


def test_report_table_json_and_csv_show_words_never_markup_or_control(synced, hq_db, capsys) -> None:
    table = hq_output(capsys, "report", "--db", hq_db.url, "--top", "50")
    assert "coat [/]" in table and "[bold]red[/bold] scarf" in table and "legacy [2J" in table
    assert not has_control(table.replace("\n", ""))
    data = json.loads(hq_output(capsys, "report", "--db", hq_db.url, "--top", "50", "--format", "json"))
    labels = {row["label"] for row in data["demand"]}
    assert shown(HOSTILE["link"]) in labels and LEGACY in labels  # JSON carries the data, escaped
    raw = hq_output(capsys, "report", "--db", hq_db.url, "--top", "50", "--format", "json")
    assert not has_control(raw.replace("\n", ""))
    rows = list(csv.DictReader(io.StringIO(hq_output(capsys, "report", "--db", hq_db.url, "--top", "50", "--format", "csv"))))
    assert "'" + HOSTILE["formula"] in {row["label"] for row in rows}
    assert all(not value.startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows for value in row.values())
    assert not any(has_control(value.replace("\n", "")) for row in rows for value in row.values())


def test_export_csv_is_never_a_formula_and_jsonl_carries_no_raw_control(synced, hq_db, capsys) -> None:
    out = hq_output(capsys, "export", "--db", hq_db.url, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == len(HOSTILE) + 1
    assert all(not value.startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows for value in row.values())
    assert not has_control(out.replace("\n", "").replace("\r", ""))
    lines = hq_output(capsys, "export", "--db", hq_db.url, "--format", "jsonl").splitlines()
    assert {json.loads(line)["text"] for line in lines} >= {shown(HOSTILE["formula"]), LEGACY}
    assert not any(has_control(line) for line in lines)


def test_digest_escapes_markdown_and_html(synced, hq_db, capsys, tmp_path) -> None:
    until = (date.today() + timedelta(days=1)).isoformat()
    assert associate_hq(["digest", "--week", "--until", until, "--out", str(tmp_path), "--db", hq_db.url]) == 0
    markdown = next(tmp_path.glob("*.md")).read_text()
    page = next(tmp_path.glob("*.html")).read_text()
    assert "<script>" not in markdown and "\\<script\\>" in markdown
    assert "\\[link=http://evil\\.example\\]click\\[/link\\] gloves" in markdown
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert not has_control(markdown.replace("\n", "")) and not has_control(page.replace("\n", ""))


def test_dashboard_shows_hostile_words_as_text(synced) -> None:
    token = synced.storage.add_viewer("merch")
    auth = base64.b64encode(f"merch:{token}".encode()).decode()
    page = httpx.get(f"{synced.url}/dashboard", params={"since": "7d"}, headers={"Authorization": f"Basic {auth}"})
    assert page.status_code == 200
    assert "<script>alert" not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "[bold]red[/bold] scarf" in page.text and not has_control(page.text.replace("\n", ""))


def test_hq_refuses_what_an_old_terminal_sends_with_control_characters(synced) -> None:
    token = synced.storage.add_terminal("S1", "T2")
    now = format_utc(datetime.now(timezone.utc))
    record = msgspec.to_builtins(
        AskRecord(
            id="01a205b6-becf-7048-a499-00000000aaaa",
            version=1,
            created_at=now,
            updated_at=now,
            store_id="S1",
            terminal_id="T2",
            associate="AB",
            channel="walk-in",
            text=HOSTILE["terminal_clear"],
            outcome="not_carried",
        )
    )
    body = {
        "schema_version": 1,
        "batch_id": "0193a205-becf-7048-a499-00000000aaaa",
        "store_id": "S1",
        "terminal_id": "T2",
        "sent_at": now,
        "records": [record],
    }
    [result] = httpx.post(f"{synced.url}/v1/batches", json=body, headers={"Authorization": f"Bearer {token}"}).json()["results"]
    assert result["status"] == "rejected" and result["code"] == "control_character"
    assert "U+001B" in result["message"] and "$.text" in result["message"]
