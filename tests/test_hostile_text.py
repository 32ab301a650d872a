"""Hostile text at the counter: typed, logged, edited and shown on every screen, always as data.

`[/]` in an ask once made the app exit at every start; `[link=...]` made a link and
`\\x1b[2J` reached the terminal. Now each screen shows the words literally and stays alive.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path

import pytest
from pilot import make_app, screen_text
from pilot import settle as settle_workers
from textual import events
from textual.widgets import DataTable
from textual.widgets._toast import Toast

from associate_tui.asks import AskDraft, checked
from associate_tui.cli import main
from associate_tui.customers import CustomerDraft
from associate_tui.customers import checked as checked_customer
from associate_tui.store import FollowUpPlan, Store
from schemas.taxonomy import load_pack
from tests.hostile_text import HOSTILE, has_control, shown

SHORT = {name: text for name, text in HOSTILE.items() if len(shown(text)) <= 30}


async def settle(pilot) -> None:
    await settle_workers(pilot)
    for _ in range(3):  # a table sizes its columns when idle, then repaints: give it those turns
        for table in pilot.app.screen.query(DataTable):
            table.refresh()
        await pilot.pause(0.02)


def log_all(capsys, texts) -> None:
    for text in texts:
        assert main(["log", text, "--outcome", "out_of_stock", "--substitute", text[:200], "--note", text]) == 0
    capsys.readouterr()


def stored(db_path: Path) -> list:
    with Store(db_path) as store:
        return list(store.iter_asks())


def test_logged_from_the_command_line_hostile_text_is_kept_as_words(capsys, db_path) -> None:
    log_all(capsys, HOSTILE.values())
    by_text = {ask.text: ask for ask in stored(db_path)}
    for name, text in HOSTILE.items():
        ask = by_text[shown(text)]
        assert not has_control(ask.text + (ask.substitute or "") + (ask.note or "")), name
        assert ask.substitute == shown(text[:200])
    # A note keeps its lines; only the carriage returns go.
    notes = {ask.text: ask.note for ask in stored(db_path)}
    assert notes[shown(HOSTILE["multi_line_paste"])] == "line one\nline two\nline three"


def test_exports_neutralise_formulas_and_carry_no_control_characters(capsys, db_path) -> None:
    log_all(capsys, HOSTILE.values())
    assert main(["export", "--format", "csv"]) == 0
    out = capsys.readouterr().out
    assert not has_control(out.replace("\n", "").replace("\r", ""))
    rows = list(csv.DictReader(io.StringIO(out)))
    texts = {row["text"] for row in rows}
    assert "'" + HOSTILE["formula"] in texts and "'" + HOSTILE["at_formula"] in texts
    assert all(not cell.startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows for cell in row.values())
    assert main(["export", "--format", "jsonl"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert {json.loads(line)["text"] for line in lines} == {shown(text) for text in HOSTILE.values()}


@pytest.mark.slow
async def test_every_screen_shows_hostile_asks_literally_and_stays_alive(tmp_path, capsys, db_path) -> None:
    log_all(capsys, SHORT.values())
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        capture = screen_text(app)
        for name in ("closing_tag", "bold", "colour"):
            assert shown(SHORT[name]) in capture, capture
        assert not has_control(capture)
        await pilot.press("f3")  # recent asks
        await settle(pilot)
        recent = screen_text(app)
        assert "[bold]red[/bold] scarf" in recent and "coat [/]" in recent and not has_control(recent)
        await pilot.press("enter", "enter")  # to the list, open the newest ask; paste hostile words at the end, save
        await settle(pilot)
        edit = screen_text(app)
        assert not has_control(edit)
        newest = stored(db_path)[-1]
        app.screen.query_one("#ask-text").post_message(events.Paste(" [red]\x1b[5m\u202e"))
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        edited = next(ask for ask in stored(db_path) if ask.id == newest.id)
        assert (edited.text, edited.version) == (newest.text + " [red][5m", newest.version + 1)
        assert "[red][5m" in screen_text(app)
        await pilot.press("f12")  # insights: the top unmet asks
        await settle(pilot)
        insights = screen_text(app)
        assert "[2J[H boots" in insights and "+SUM(1,2) cable" in insights and not has_control(insights)
        assert app.is_running


@pytest.mark.slow
async def test_hostile_text_typed_or_pasted_into_the_form_is_saved_and_shown_as_typed(tmp_path, db_path) -> None:
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press(*["space" if ch == " " else ch for ch in "[bold]navy[/] coat"])
        await pilot.press("enter", "3", "enter")
        await settle(pilot)
        app.screen.query_one("#ask-text").post_message(events.Paste(HOSTILE["terminal_clear"] + HOSTILE["bidi_override"]))
        await settle(pilot)
        await pilot.press("enter", "3", "enter")
        await settle(pilot)
        texts = [ask.text for ask in stored(db_path)]
        assert texts == ["[bold]navy[/] coat", shown(HOSTILE["terminal_clear"] + HOSTILE["bidi_override"])]
        screen = screen_text(app)
        assert "Saved: " in screen and "[bold]navy[/] coat" in screen and not has_control(screen)


async def test_customers_follow_ups_and_quarantine_show_hostile_words_literally(tmp_path, db_path) -> None:
    taxonomy = load_pack("retail")
    name = "[bold]Eve[/bold] \x1b[31mMallory"
    with Store(db_path) as store:
        customer = store.add_customer(
            checked_customer(CustomerDraft(name=name, phone="+44 7700 900123", consent_follow_up=True)),
            store_id="DEMO",
            terminal_id="TERMINAL-1",
            associate="AB",
            consent_wording="v1",
        )
        ask = store.add_ask(
            checked(AskDraft(text="[link=http://evil.example]x[/link] coat", outcome="out_of_stock"), taxonomy),
            store_id="DEMO",
            terminal_id="TERMINAL-1",
            associate="AB",
            customer_id=customer.id,
            follow_up=FollowUpPlan(due_on=date.today().isoformat(), assigned_to=None, note="[red]call[/red]\x07"),
        )
        store.apply_results([(ask.id, ask.version, "rejected", "invalid", "HQ said [bold]no[/bold] \x1b[2J")])
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("f7")
        await settle(pilot)
        follow_ups = screen_text(app)
        assert "[bold]Eve[/bold] [" in follow_ups
        assert "[link=http://evil.example]x[/link]" in follow_ups
        assert not has_control(follow_ups)
        await pilot.press("f6")
        await settle(pilot)
        quarantine = screen_text(app)
        assert "HQ said [bold]no[/bold] [2J" in quarantine, quarantine
        assert not has_control(quarantine), [hex(ord(c)) for c in quarantine if has_control(c)]
        await pilot.press("f2", "f5")  # the customer picker on the capture form
        await settle(pilot)
        picker = screen_text(app)
        assert "[bold]Eve[/bold]" in picker and not has_control(picker)
        await pilot.press("escape")
        await settle(pilot)
        app.notify("toast with [bold]markup[/ and \x1b[2J")
        await settle(pilot)
        toasts = " ".join(str(toast.render()) for toast in app.screen.query(Toast))
        assert "toast with [bold]markup[/ and [2J" in toasts and not has_control(toasts)
        assert app.is_running


@pytest.mark.parametrize("name", ["closing_tag", "link"])
def test_status_prints_hostile_error_words_plainly(capsys, db_path, name) -> None:
    with Store(db_path) as store:
        store.record_sync(ok=False, error=HOSTILE[name] + "\x1b[2J")
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert HOSTILE[name] in out and not has_control(out.replace("\n", ""))


def test_command_line_errors_echo_what_was_typed_without_control_characters(capsys, db_path) -> None:
    assert main(["log", "coat", "--outcome", "\x1b[2Jbad\u202e"]) == 2
    err = capsys.readouterr().err
    assert "[2Jbad" in err and not has_control(err.replace("\n", ""))
