"""The capture form at 80x24 says what it did with what was typed: asserted on what a person sees."""

from __future__ import annotations

import pytest
from pilot import make_app, rows, screen_text, settle, type_text
from textual import events
from textual.widgets import Input

from associate_tui.app import AssociateApp
from schemas.limits import MAX_TEXT


def line_with(app: AssociateApp, words: str) -> str:
    return next((line for line in screen_text(app).splitlines() if words in line), "")


def message(app: AssociateApp) -> str:
    return str(app.screen.query_one("#form-message").render())


@pytest.mark.slow
async def test_a_corrected_word_is_shown_beside_the_category_it_was_read_into(tmp_path, db_path) -> None:
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await type_text(pilot, "blu jaket")
        await settle(pilot)
        category = line_with(app, "Category")
        assert "Outerwear" in category
        assert "read as: blu → blue, jaket → jacket" in category, screen_text(app)
        assert "colour=blue" in line_with(app, "Attributes")
        # Words read as typed need no note; the typed words are shown literally, never as markup.
        await pilot.press(*["backspace"] * 9)
        await type_text(pilot, "[bold]blu[/] coat")
        await settle(pilot)
        assert "read as: blu → blue" in line_with(app, "Category")
        assert "[bold]blu[/] coat" in line_with(app, "Ask")
        await pilot.press(*["backspace"] * 17)
        await type_text(pilot, "blue rain jacket")
        await settle(pilot)
        assert "read as" not in screen_text(app)
        # Saved and cleared: the next customer's form says nothing about the last one's words.
        await pilot.press(*["backspace"] * 6)
        await type_text(pilot, "jaket")
        await pilot.press("enter", "3", "enter")
        await settle(pilot)
        assert "Saved: blue rain jaket" in message(app)
        assert "read as" not in screen_text(app)
        assert app.screen.query_one("#ask-text", Input).value == ""


@pytest.mark.slow
async def test_substituted_with_nothing_instead_asks_what_was_offered_and_enter_again_skips(tmp_path, db_path) -> None:
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await type_text(pilot, "red trainers UK 9")
        await pilot.press("enter", "2")
        assert "Substituted. Enter or Tab: what was offered instead." in screen_text(app)
        await pilot.press("enter")
        await settle(pilot)
        assert rows(db_path) == []
        assert app.focused is app.screen.query_one("#substitute")
        assert "What was offered instead? Type it; Enter alone saves without." in screen_text(app)
        await type_text(pilot, "white trainers")
        await pilot.press("enter")
        await settle(pilot)
        [ask] = rows(db_path)
        assert (ask.outcome, ask.substitute) == ("substituted", "white trainers")
        assert "Saved: red trainers UK 9 — Substituted" in screen_text(app)
        # The next customer: nothing was offered after all, and Enter again saves without it.
        await type_text(pilot, "green scarf")
        await pilot.press("enter", "2", "enter")
        await settle(pilot)
        assert len(rows(db_path)) == 1 and "What was offered instead?" in message(app)
        await pilot.press("enter")
        await settle(pilot)
        assert [(a.text, a.outcome, a.substitute) for a in rows(db_path)][1] == ("green scarf", "substituted", None)
        assert "Saved: green scarf — Substituted" in screen_text(app)
        assert app.focused is app.screen.query_one("#ask-text")


async def test_other_outcomes_still_save_on_the_second_enter(tmp_path, db_path) -> None:
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await type_text(pilot, "linen shirt XL")
        await pilot.press("enter", "3", "enter")
        await settle(pilot)
        [ask] = rows(db_path)
        assert (ask.outcome, ask.substitute) == ("out_of_stock", None)
        assert "Saved: linen shirt XL — Out of stock" in screen_text(app)


@pytest.mark.slow
async def test_tab_into_attributes_adds_to_them_instead_of_replacing_them(tmp_path, db_path) -> None:
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await type_text(pilot, "rain jacket size M")
        await pilot.press("tab")
        await settle(pilot)
        attributes = app.screen.query_one("#attributes", Input)
        assert app.focused is attributes
        assert attributes.selection.is_empty and attributes.cursor_position == len("size=M")
        await type_text(pilot, "colour=blue")
        assert line_with(app, "Attributes").split("Attributes", 1)[1].strip() == "size=M colour=blue"
        await pilot.press("enter", "3", "enter")
        await settle(pilot)
        [ask] = rows(db_path)
        assert ask.attributes == {"size": "M", "colour": "blue"}
        assert "Saved: rain jacket size M — Out of stock" in screen_text(app)
        # Correcting the last value: Backspace takes one character, and what is typed next joins it.
        await type_text(pilot, "rain jacket size M")
        await pilot.press("tab", "backspace", "L")
        assert line_with(app, "Attributes").split("Attributes", 1)[1].strip() == "size=L"


LONG = " ".join(f"word{i}" for i in range(60))  # 409 characters


async def paste(pilot, text: str) -> None:
    """A paste as the terminal delivers it: to the app, which hands it to the focused field."""
    pilot.app.post_message(events.Paste(text))
    await settle(pilot)


async def test_a_paste_longer_than_an_ask_is_cut_to_what_fits_and_the_form_says_so(tmp_path, db_path) -> None:
    assert len(LONG) > MAX_TEXT == 300
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await paste(pilot, LONG)
        assert app.screen.query_one("#ask-text", Input).value == LONG[:300]
        assert "Cut to 300 characters: the rest did not fit." in line_with(app, "Cut to")
        await pilot.press("enter", "3", "enter")
        await settle(pilot)
        [ask] = rows(db_path)
        assert ask.text == LONG[:300]


async def test_typing_past_the_limit_keeps_the_words_and_says_so(tmp_path, db_path) -> None:
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await paste(pilot, LONG[:300])
        assert "Cut to" not in screen_text(app)
        await pilot.press("x")
        await settle(pilot)
        assert app.screen.query_one("#ask-text", Input).value == LONG[:300]
        assert "Cut to 300 characters: the rest did not fit." in screen_text(app)


async def test_a_multi_line_paste_is_joined_into_one_line_and_the_form_says_so(tmp_path, db_path) -> None:
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await paste(pilot, "navy wool jumper\r\nsize L\n")
        assert app.screen.query_one("#ask-text", Input).value == "navy wool jumper size L"
        assert "The pasted lines were joined into one." in screen_text(app)
        assert "size=L" in line_with(app, "Attributes")
        await pilot.press("enter", "3", *["tab"] * 5)  # Instead, accepted, channel, Qty, Note
        assert app.focused is app.screen.query_one("#note")
        await paste(pilot, "call after 3pm\nask for Sam")
        assert "call after 3pm ask for Sam" in line_with(app, "Note")
        await pilot.press("enter")
        await settle(pilot)
        [ask] = rows(db_path)
        assert (ask.text, ask.note, ask.attributes["size"]) == ("navy wool jumper size L", "call after 3pm ask for Sam", "L")
        # Lines that are too long together: joined, then cut, in one sentence that fits 80 columns.
        await paste(pilot, LONG.replace(" word3", "\nword3"))
        assert app.screen.query_one("#ask-text", Input).value == LONG[:300]
        said = "The pasted lines were joined into one, then cut to 300 characters."
        assert said in screen_text(app)


async def test_back_in_the_ask_with_shift_tab_the_words_stay(tmp_path, db_path) -> None:
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await type_text(pilot, "black jeans 32")
        await pilot.press("tab", "shift+tab")
        await type_text(pilot, " x")
        await settle(pilot)
        assert app.screen.query_one("#ask-text", Input).value == "black jeans 32 x"
