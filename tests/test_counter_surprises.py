"""Issue 15, section 3: the surprises found at the counter, each tried as a person would at 80x24."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest
from pilot import make_app, rows, screen_text, settle, type_text
from textual.widgets import Input

from associate_tui.app import AssociateApp
from associate_tui.asks import AskDraft, checked
from associate_tui.cli import main
from associate_tui.config import load
from associate_tui.customers import CustomerDraft
from associate_tui.screens.dialogs import QuitScreen
from associate_tui.store import FollowUpPlan, Store
from associate_tui.store.connection import Connection
from schemas.taxonomy import load_pack

SIZE = (80, 24)


RETAIL = load_pack("retail")


def seed(db_path: Path, text: str, times: int, outcome: str = "out_of_stock") -> None:
    categories = RETAIL.suggest_categories(text)
    category = categories[0].code if categories else None
    draft = checked(AskDraft(text=text, outcome=outcome, category=category, attributes=RETAIL.recognise(text)), RETAIL)
    with Store(db_path, vocabulary=RETAIL.vocabulary()) as store:
        for _ in range(times):
            store.add_ask(draft, store_id="DEMO", terminal_id="TERMINAL-1", associate="ZZ")


def seed_follow_up(db_path: Path, text: str, *, due_in_days: int) -> None:
    draft = checked(AskDraft(text=text, outcome="out_of_stock"), RETAIL)
    with Store(db_path) as store:
        customer = store.add_customer(
            CustomerDraft(name="Jane Doe", phone="+44 7700 900123", consent_follow_up=True),
            store_id="DEMO",
            terminal_id="TERMINAL-1",
            associate="AB",
            consent_wording="2026-1",
        )
        due = (date.today() + timedelta(days=due_in_days)).isoformat()
        store.add_ask(
            draft,
            store_id="DEMO",
            terminal_id="TERMINAL-1",
            associate="AB",
            customer_id=customer.id,
            follow_up=FollowUpPlan(due_on=due, assigned_to=None),
        )


# -- 1. F10 with a half-typed ask ---------------------------------------------


async def test_f10_with_a_half_typed_ask_asks_first(tmp_path, db_path) -> None:
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_text(pilot, "blue co")
        await pilot.press("f10")
        await pilot.pause()
        assert isinstance(app.screen, QuitScreen)
        assert "not saved" in screen_text(app) and "blue co" in screen_text(app)
        await pilot.press("n")
        await pilot.pause()
        assert app.is_running
        assert app.screen.query_one("#ask-text", Input).value == "blue co"
        await pilot.press("f10")
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert app.is_running and app.screen.query_one("#ask-text", Input).value == "blue co"
        await pilot.press("f10")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert not app.is_running


async def test_f10_on_a_blank_form_quits_at_once(tmp_path, db_path) -> None:
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f10")
        await pilot.pause()
        assert not app.is_running


# -- 2. a keymap that strands an action, or names none ------------------------


def run_associate(tmp_path: Path, capsys, keymap: str) -> tuple[int, str]:
    (tmp_path / "config.toml").write_text(f"[keymap]\n{keymap}\n")
    code = main([])
    return code, capsys.readouterr().err


def test_a_key_taken_from_another_action_is_refused_with_words(tmp_path, capsys) -> None:
    code, said = run_associate(tmp_path, capsys, 'recent = "f2"')
    assert code == 2
    assert 'recent = "f2"' in said and "capture" in said and "Pick a free key" in said


def test_a_misspelt_binding_id_is_refused_with_the_ids(tmp_path, capsys) -> None:
    code, said = run_associate(tmp_path, capsys, 'recnet = "f11"')
    assert code == 2
    assert "recnet" in said and "recent" in said and "Binding ids" in said


def test_a_plain_letter_for_an_every_screen_action_is_refused(tmp_path, capsys) -> None:
    code, said = run_associate(tmp_path, capsys, 'recent = "r"')
    assert code == 2 and "F1-F24 or ctrl+letter" in said


async def test_two_actions_swapping_keys_both_still_work(tmp_path, db_path) -> None:
    app = make_app(tmp_path, db_path, keymap={"recent": "f6", "sync": "f3"})
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f6")
        await pilot.pause()
        assert app.current_mode == "recent"
        await pilot.press("f3")
        await pilot.pause()
        assert app.current_mode == "sync"
        await pilot.press("f2")
        await pilot.pause()
        assert app.current_mode == "capture"


# -- 3. a damaged database stays on screen until it is fixed -------------------


def status_line(app: AssociateApp) -> str:
    return str(app.screen.query_one("#sync-status").render())


async def test_a_damaged_database_stays_on_the_status_line_until_fixed(tmp_path, db_path) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(b"not a database" * 1000)
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.4)  # the first status read, after the first paint
        await settle(pilot)
        app.clear_notifications()  # the toast has faded
        await pilot.pause()
        assert "Database damaged" in status_line(app)
        assert "move it aside, restart" in screen_text(app).splitlines()[-3]  # all of it fits above the footer
        app.refresh_sync_status()  # what the 5-second refresh does
        await settle(pilot)
        assert "Database damaged" in status_line(app)
        await pilot.press("f3")
        await settle(pilot)
        assert "Database damaged" in status_line(app)
        db_path.rename(tmp_path / "damaged.db")  # IT moves it aside
        app.refresh_sync_status()
        await settle(pilot)
        assert "damaged" not in status_line(app)
        assert "pending" in status_line(app)


# -- 4. setup applies at once; the first-run notice only until it is saved -----


def toasts(app: AssociateApp) -> list[str]:
    return [f"{n.title}: {n.message}" for n in app._notifications]  # noqa: SLF001


@pytest.mark.slow
async def test_the_associate_set_in_setup_logs_at_once_and_first_run_is_said_once(tmp_path, db_path) -> None:
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert any(t.startswith("First run") for t in toasts(app))
        await pilot.press("f9")
        await pilot.pause()
        await pilot.press("tab", "tab", "tab", "ctrl+u")
        await type_text(pilot, "ab")
        await pilot.press("enter")
        await settle(pilot)
        assert "associate AB" in app.sub_title and "associate AB" in screen_text(app).splitlines()[0]
        await type_text(pilot, "red scarf")
        await pilot.press("enter", "1", "enter")
        await settle(pilot)
    [ask] = rows(db_path)
    assert ask.associate == "AB"
    again = AssociateApp(load(tmp_path / "config.toml"), database=db_path, config_file=tmp_path / "config.toml")
    async with again.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert not any(t.startswith("First run") for t in toasts(again))
        assert again.associate == "AB"


# -- 5. every screen's keys are seen at 80x24 ----------------------------------

EVERY_SCREEN = ["f1 Help", "f2 New", "f3 Recent", "f4 Who", "f6 Sync", "f7 Follow-ups", "f9 Setup", "f10 Quit", "f12 Insights"]
OWN_KEYS = {
    "f2": ["esc Clear", "f5 Customer", "f8 Same as", "^f Feedback"],
    "f3": ["f5 Refresh", "esc Clear search"],
    "f6": ["s Sync now"],
    "f7": ["d Done", "z Snooze", "a All open", "m Mine/all"],
    "f12": ["t Today", "w Week", "m Month", "i Came in", "f5 Refresh"],
}


async def test_every_screen_shows_all_its_keys_at_80_columns(tmp_path, db_path) -> None:
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=SIZE) as pilot:
        for key, own in OWN_KEYS.items():
            await pilot.press(key)
            await settle(pilot)
            app.clear_notifications()
            await pilot.pause()
            footer = " ".join(screen_text(app).splitlines()[-2:])
            for shown in [*own, *EVERY_SCREEN]:
                assert shown in footer, (key, shown, footer)


async def test_f1_help_is_accurate_and_esc_closes_it(tmp_path, db_path) -> None:
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        await pilot.pause()
        text = str(app.screen.query_one("Markdown").source)
        assert "Esc or F1 closes" in text
        assert "y / n (Instead)" not in text and "on the field after Instead" in text
        for keys in ("s syncs now", "d done", "t today", "a (all) or an outcome digit"):
            assert keys in text
        assert "Esc or F1 closes" in screen_text(app)  # said where the help opens, not only at its end
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen.query("#ask-text")


# -- 6. insights says what it leaves out ---------------------------------------


async def test_insights_says_how_many_more_categories_and_values_there_are(tmp_path, db_path) -> None:
    asks = ["blue rain jacket", "red jumper", "green jeans", "black boots", "white trainers"]
    asks += ["navy scarf", "pink dress", "grey handbag", "brown belt", "orange watch"]
    for text in asks:
        seed(db_path, text, 1)
    per_category = sorted(Counter(RETAIL.suggest_categories(text)[0].code for text in asks).values(), reverse=True)
    assert len(per_category) > 6
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f12")
        await settle(pilot)
        lines = str(app.screen.query_one("#insights-breakdown").render()).splitlines()
        [by_category] = [line for line in lines if line.startswith("By category")]
        assert by_category.count(" · ") == 6 and by_category.endswith(
            f"+{len(per_category) - 6} more ({sum(per_category[6:])} asks)"
        )
        [colours] = [line for line in lines if "Colour:" in line]
        assert colours.endswith(f"· +{len(asks) - 6} more")


# -- 7. Recent: where digits and `a` go is said, and they work on the filter ---


async def test_recent_says_how_to_filter_and_digits_pick_the_outcome_on_the_filter(tmp_path, db_path) -> None:
    seed(db_path, "red scarf", 1, outcome="found")
    seed(db_path, "blue rain jacket", 2)
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        await settle(pilot)
        assert "Tab: outcome (a, digits, f)" in screen_text(app)
        await pilot.press("tab", "3")
        await settle(pilot)
        assert app.screen.query_one("#search", Input).value == ""
        assert "2 asks match" in screen_text(app) and "red scarf" not in screen_text(app)
        await pilot.press("a")
        await settle(pilot)
        assert "red scarf" in screen_text(app) and "3 asks logged here" in screen_text(app)


async def test_recent_search_finds_an_ask_by_its_attributes(tmp_path, db_path, capsys) -> None:
    assert main(["log", "rain jacket", "--outcome", "out_of_stock", "--attr", "colour=blue", "--attr", "size=M"]) == 0
    assert main(["log", "rain jacket", "--outcome", "out_of_stock", "--attr", "colour=red"]) == 0
    capsys.readouterr()
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        await settle(pilot)
        await type_text(pilot, "blue")
        await settle(pilot)
        assert "1 ask matches" in screen_text(app) and "rain jacket" in screen_text(app)


# -- 8. consent boxes without colour, the customer form in 24 rows, F7 ---------


async def test_consent_boxes_read_without_colour_and_the_form_error_is_on_screen(tmp_path, db_path) -> None:
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f5")
        await settle(pilot)
        await pilot.press("f2")
        await settle(pilot)
        await type_text(pilot, "Jo Bloggs")
        await pilot.press("tab", "tab", "tab", "space")  # ticks follow-up consent, with no phone or email
        await pilot.pause()
        shown = screen_text(app)
        assert "▐✓▌ Agrees to be contacted" in shown and "▐ ▌ Agrees to marketing" in shown
        assert "Enter saves · Tab next field" in shown  # the hints are within 24 rows
        await pilot.press("enter")
        await settle(pilot)
        message = str(app.screen.query_one("#customer-form-message").render())
        assert message.startswith("Not saved")
        assert message[:40] in screen_text(app).replace("\n", " ")


async def test_f7_says_a_follow_up_promised_a_minute_ago_is_due_later(tmp_path, db_path) -> None:
    seed_follow_up(db_path, "navy scarf", due_in_days=7)
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f7")
        await settle(pilot)
        shown = screen_text(app)
        assert "Due now · 1 more due later" in shown
        assert "Nothing due now. 1 more is due later: a shows them." in shown
        await pilot.press("a")
        await settle(pilot)
        assert "navy scarf" in screen_text(app)


# -- 9. HQ down, and a full disk on a new install ------------------------------

LONG_ERROR = "Offline: cannot reach HQ at https://hq.example-retail-group.com:8443 (connection refused); retrying."


async def test_hq_down_fits_the_status_line_and_f6_shows_pending_and_the_error(tmp_path, db_path) -> None:
    seed(db_path, "blue rain jacket", 3)
    with Store(db_path) as store:
        store.record_sync(ok=False, error=LONG_ERROR)
    app = make_app(tmp_path, db_path, hq_url="https://hq.example-retail-group.com:8443")
    app._schedule_sync = lambda delay: None  # noqa: SLF001 - no real HQ in this test; the error is on file
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.4)
        await settle(pilot)
        [line] = [row for row in screen_text(app).splitlines() if "Sync" in row and "F6" in row]
        assert "Sync failing, F6 says why · 3 pending" in line
        await pilot.press("f6")
        await settle(pilot)
        state = str(app.screen.query_one("#sync-state").render())
        assert "Waiting to be sent: 3" in state and LONG_ERROR in state
        assert "Waiting to be sent: 3" in screen_text(app) and "connection refused" in screen_text(app)


async def test_a_full_disk_on_a_new_install_says_create_not_upgrade(tmp_path, db_path, monkeypatch) -> None:
    configure = Connection._configure  # noqa: SLF001

    def tiny_disk(self) -> None:
        configure(self)
        self.conn.execute("PRAGMA max_page_count = 2")

    monkeypatch.setattr(Connection, "_configure", tiny_disk)
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.4)
        await settle(pilot)
        form = str(app.screen.query_one("#form-message").render())
        assert "Could not create the database: the disk is full" in form
        assert "upgrade" not in form
        assert "Disk full: nothing is saved" in status_line(app)


async def test_an_empty_recent_list_says_whether_the_words_or_the_outcome_emptied_it(tmp_path, db_path) -> None:
    seed(db_path, "wool jumper", 1, outcome="found")
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        await settle(pilot)
        await type_text(pilot, "jumper")
        await pilot.press("tab", "3")
        await settle(pilot)
        assert "No ask with these words has this outcome" in screen_text(app)
        await pilot.press("shift+tab", "ctrl+u")
        await type_text(pilot, "zebra")
        await pilot.press("tab", "a")
        await settle(pilot)
        assert "No ask matches. Try fewer or shorter words." in screen_text(app)
