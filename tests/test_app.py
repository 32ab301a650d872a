"""The app, driven like a person at the counter: keys in, rows and screens out."""

from __future__ import annotations

import pytest
from pilot import make_app, rows, settle, type_text
from textual.widgets import Input

from associate_tui.app import AssociateApp
from associate_tui.store import Store
from associate_tui.widgets.ask_form import AskForm
from associate_tui.widgets.asks_table import AsksTable
from associate_tui.widgets.category_picker import CategoryPicker

TYPICAL = "blue rain jacket size M"


def message(app: AssociateApp) -> str:
    return str(app.screen.query_one("#form-message").render())


async def test_typical_ask_takes_the_text_plus_three_keys(tmp_path, db_path) -> None:
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.focused is app.screen.query_one("#ask-text")
        keystrokes = await type_text(pilot, TYPICAL)
        await pilot.press("enter", "3", "enter")
        keystrokes += 3
        await settle(pilot)
        [ask] = rows(db_path)
        assert keystrokes == len(TYPICAL) + 3
        assert (ask.text, ask.outcome) == (TYPICAL, "out_of_stock")
        assert ask.attributes == {"colour": "blue", "size": "M"}
        assert ask.category == "clothing.outerwear"
        assert (ask.store_id, ask.terminal_id, ask.channel, ask.quantity) == ("DEMO", "TERMINAL-1", "walk-in", 1)
        # Ready for the next customer, and the ask is at the top of the list.
        assert app.screen.query_one("#ask-text", Input).value == ""
        assert app.focused is app.screen.query_one("#ask-text")
        assert "Saved" in message(app)
        table = app.screen.query_one(AsksTable)
        assert table.selected_id == ask.id


@pytest.mark.slow
async def test_recognised_attributes_and_category_show_while_typing(tmp_path, db_path) -> None:
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await type_text(pilot, "navy wool jumper size L")
        await pilot.pause()
        attributes = app.screen.query_one("#attributes", Input).value
        assert "colour=navy" in attributes and "size=L" in attributes and "material=wool" in attributes
        picker = app.screen.query_one(CategoryPicker)
        assert picker.value == "clothing.knitwear"
        assert "Knitwear" in str(picker.render())


@pytest.mark.slow
async def test_arrow_keys_change_the_category_and_the_choice_is_saved(tmp_path, db_path) -> None:
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await type_text(pilot, "black leather bag")
        await pilot.pause()
        picker = app.screen.query_one(CategoryPicker)
        first = picker.value
        await pilot.press("down")
        second = picker.value
        assert second != first
        await pilot.press("up")
        assert picker.value == first
        await pilot.press("down", "enter", "4", "enter")
        await settle(pilot)
        [ask] = rows(db_path)
        assert ask.category == second and ask.outcome == "not_carried"


@pytest.mark.slow
async def test_substitute_offered_and_accepted(tmp_path, db_path) -> None:
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await type_text(pilot, "red trainers UK 9")
        await pilot.press("enter", "2", "tab")
        assert app.focused is app.screen.query_one("#substitute")
        await type_text(pilot, "white trainers")
        await pilot.press("tab", "y", "tab", "p", "tab")
        assert app.focused is app.screen.query_one("#quantity")
        await pilot.press("2", "tab")  # the field's "1" is selected on focus: the digit replaces it
        await type_text(pilot, "size 10 in stock Friday")
        await pilot.press("enter")
        await settle(pilot)
        [ask] = rows(db_path)
        assert (ask.outcome, ask.substitute, ask.substitute_accepted) == ("substituted", "white trainers", True)
        assert (ask.channel, ask.quantity, ask.note) == ("phone", 2, "size 10 in stock Friday")


async def test_enter_on_an_empty_form_explains_and_saves_nothing(tmp_path, db_path) -> None:
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert "asked for" in message(app)
        assert app.screen.query_one("#ask-text").has_class("-invalid")
        assert rows(db_path) == []


async def test_escape_needs_two_presses_to_clear_typed_words(tmp_path, db_path) -> None:
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await type_text(pilot, "silver necklace")
        await pilot.press("escape")
        assert app.screen.query_one("#ask-text", Input).value == "silver necklace"
        assert "Esc again" in message(app)
        await pilot.press("escape")
        assert app.screen.query_one("#ask-text", Input).value == ""


@pytest.mark.slow
async def test_search_edit_and_void_from_the_recent_screen(tmp_path, db_path) -> None:
    with Store(db_path) as store:
        from associate_tui.asks import AskDraft

        for text in ("blue jeans 32x34", "red scarf", "grey hoodie"):
            store.add_ask(AskDraft(text=text, outcome="out_of_stock"), store_id="DEMO", terminal_id="T", associate="ZZ")
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f3")
        await settle(pilot)
        results = app.screen.query_one("#results", AsksTable)
        assert results.row_count == 3
        await type_text(pilot, "jea")
        await settle(pilot)
        assert results.row_count == 1
        # Open it, change the words, save: a new version.
        await pilot.press("down", "enter")
        await settle(pilot)
        assert app.screen.query_one("#ask-text", Input).value == "blue jeans 32x34"
        await pilot.press("end", *["backspace"] * 5)
        await type_text(pilot, "30x32")
        await pilot.press("enter")
        await settle(pilot)
        jeans = next(a for a in rows(db_path) if "jeans" in a.text)
        assert (jeans.text, jeans.version) == ("blue jeans 30x32", 2)
        # Open it again and void it with a reason.
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("f8")
        await pilot.pause()
        await pilot.press("enter")  # no reason yet: refused with a hint
        await pilot.pause()
        assert "why" in str(app.screen.query_one("#void-message").render())
        await type_text(pilot, "logged twice")
        await pilot.press("enter")
        await settle(pilot)
        jeans = next(a for a in rows(db_path) if "jeans" in a.text)
        assert (jeans.voided, jeans.void_reason, jeans.version) == (True, "logged twice", 3)
        assert len(rows(db_path)) == 3


async def test_outcome_filter_on_the_recent_screen(tmp_path, db_path) -> None:
    from associate_tui.asks import AskDraft

    with Store(db_path) as store:
        for text, outcome in (("a", "found"), ("b", "not_carried"), ("c", "not_carried")):
            store.add_ask(AskDraft(text=text, outcome=outcome), store_id="DEMO", terminal_id="T", associate="ZZ")
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f3")
        await settle(pilot)
        await pilot.press("tab", "4")
        await settle(pilot)
        assert app.screen.query_one("#results", AsksTable).row_count == 2
        await pilot.press("a")
        await settle(pilot)
        assert app.screen.query_one("#results", AsksTable).row_count == 3


@pytest.mark.slow
async def test_switching_associate_is_shown_and_recorded(tmp_path, db_path) -> None:
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f4")
        await pilot.pause()
        await type_text(pilot, "bad code!")
        await pilot.press("enter")
        await pilot.pause()
        assert "Associate code" in str(app.screen.query_one("#associate-message").render())
        await pilot.press(*["backspace"] * 9)
        await type_text(pilot, "jd")
        await pilot.press("enter")
        await pilot.pause()
        assert "associate JD" in app.sub_title
        await type_text(pilot, "gift wrapping")
        await pilot.press("enter", "1", "enter")
        await settle(pilot)
        [ask] = rows(db_path)
        assert ask.associate == "JD"


@pytest.mark.slow
async def test_disk_full_keeps_the_form_and_says_so(tmp_path, db_path) -> None:
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        from associate_tui.asks import AskDraft
        from associate_tui.store import DiskFull

        store = app.get_store()
        conn = store.conn
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages + 1}")
        with pytest.raises(DiskFull):  # fill the "disk" to the last byte
            for n in range(10_000):
                store.add_ask(
                    AskDraft(text=f"filler {n} " + "f" * 200, outcome="found"), store_id="DEMO", terminal_id="T", associate="ZZ"
                )
        before = store.count_asks()
        await type_text(pilot, "x" * 250)
        await pilot.press("enter", "3", "enter")
        await settle(pilot)
        assert "disk is full" in message(app)
        assert app.screen.query_one("#ask-text", Input).value == "x" * 250
        assert app.screen.query_one("#outcome").value == "out_of_stock"
        assert store.count_asks() == before
        conn.execute("PRAGMA max_page_count = 1073741823")  # space freed
        await pilot.press("enter")
        await settle(pilot)
        assert store.count_asks() == before + 1
        assert rows(db_path)[-1].text == "x" * 250


async def test_a_damaged_database_is_explained_and_the_form_kept(tmp_path, db_path) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(b"not a database" * 1000)
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert "damaged" in message(app)
        await type_text(pilot, "red scarf")
        await pilot.press("enter", "1", "enter")
        await settle(pilot)
        assert "damaged" in message(app)
        assert app.screen.query_one("#ask-text", Input).value == "red scarf"
    assert db_path.read_bytes() == b"not a database" * 1000


@pytest.mark.slow
async def test_setup_writes_the_config_and_applies_it(tmp_path, db_path) -> None:
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f9")
        await pilot.pause()
        await pilot.press("home", "ctrl+k")
        await type_text(pilot, "BR-7")
        await pilot.press("tab", "home", "ctrl+k")
        await type_text(pilot, "TELLER-2")
        await pilot.press("tab", "2", "enter")
        await settle(pilot)
        assert "BR-7 / TELLER-2" in app.sub_title
        assert app.taxonomy.name == "bank"
        written = (tmp_path / "config.toml").read_text()
        assert 'store_id = "BR-7"' in written and 'taxonomy = "bank"' in written
        await type_text(pilot, "mortgage 25 year fixed")
        await pilot.press("enter", "2", "enter")
        await settle(pilot)
        [ask] = rows(db_path)
        assert (ask.store_id, ask.terminal_id, ask.outcome, ask.category) == (
            "BR-7",
            "TELLER-2",
            "appointment_booked",
            "mortgages",
        )


async def test_help_lists_keys_and_outcomes(tmp_path, db_path) -> None:
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f1")
        await pilot.pause()
        text = " ".join(str(block.source) for block in [app.screen.query_one("Markdown")])
        assert "Out of stock" in text and "F3" in text
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen.query("#ask-text")


async def test_keymap_in_the_config_remaps_a_binding(tmp_path, db_path) -> None:
    app = make_app(tmp_path, db_path, keymap={"recent": "f6", "sync": "f3"})
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f3")
        await pilot.pause()
        assert app.current_mode == "sync"
        await pilot.press("f6")
        await pilot.pause()
        assert app.current_mode == "recent"


async def test_every_action_is_in_the_command_palette(tmp_path, db_path) -> None:
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=(80, 24)):
        titles = {command.title for command in app.get_system_commands(app.screen)}
        assert {"New ask", "Recent asks", "Switch associate", "Setup", "Help", "Theme"} <= titles


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_the_whole_form_fits_the_screen(tmp_path, db_path, size) -> None:
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        width, height = size
        form = app.screen.query_one(AskForm)
        for widget in [*form.query("Input"), *form.query("Choice"), form.query_one(CategoryPicker)]:
            if widget.id == "rating":
                continue  # feedback's row (Ctrl+F): tests/test_feedback_counter.py checks it fits
            region = widget.region
            assert region.width > 0 and region.height > 0, widget.id
            assert region.right <= width and region.bottom <= height - 1, widget.id
        assert app.screen.query_one(AsksTable).region.height >= 4
        # Every outcome label is visible on the outcome row.
        outcome_text = str(form.query_one("#outcome").render())
        for outcome in app.taxonomy.outcomes:
            assert outcome.label in outcome_text


async def test_a_theme_picked_in_the_app_is_kept_for_next_time(tmp_path, db_path) -> None:
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.theme = "nord"  # what the command palette's Theme command does
        await pilot.pause()
    assert 'theme = "nord"' in (tmp_path / "config.toml").read_text()
    again = AssociateApp(database=db_path, config_file=tmp_path / "config.toml")
    async with again.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert again.theme == "nord"


async def test_an_unexpected_error_in_a_worker_is_shown_not_swallowed(tmp_path, db_path, monkeypatch) -> None:
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)

        def broken():
            raise RuntimeError("simulated bug")

        monkeypatch.setattr(app, "get_store", broken)
        await type_text(pilot, "red scarf")
        await pilot.press("enter", "1", "enter")
        await settle(pilot)
        assert any("Something went wrong" in str(n.message) for n in app._notifications)
        assert app.screen.query_one("#ask-text", Input).value == "red scarf"
