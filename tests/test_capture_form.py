"""The capture form at 80x24 says what it did with what was typed: asserted on what a person sees."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input

from associate_tui.app import AssociateApp
from associate_tui.config import Config
from associate_tui.store import Store


def make_app(tmp_path: Path, db_path: Path) -> AssociateApp:
    return AssociateApp(Config(), database=db_path, config_file=tmp_path / "config.toml")


def rows(db_path: Path) -> list:
    if not db_path.exists():
        return []
    with Store(db_path) as store:
        return list(store.iter_asks())


async def settle(pilot) -> None:
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def type_text(pilot, text: str) -> None:
    await pilot.press(*["space" if ch == " " else ch for ch in text])


def screen_text(app: AssociateApp) -> str:
    """Every line the screen paints, as the terminal receives its characters."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def line_with(app: AssociateApp, words: str) -> str:
    return next((line for line in screen_text(app).splitlines() if words in line), "")


def message(app: AssociateApp) -> str:
    return str(app.screen.query_one("#form-message").render())


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
