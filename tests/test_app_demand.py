"""At the counter: "asked before" suggestions, "same as" in a few keys, and the insights screen."""

from __future__ import annotations

from associate_tui.asks import AskDraft, checked
from associate_tui.store import Store
from associate_tui.taxonomy import load_pack
from associate_tui.widgets.similar_asks import SimilarAsks
from tests.test_app import make_app, message, rows, settle, type_text

RETAIL = load_pack("retail")


def seed(db_path, text: str, times: int, outcome: str = "out_of_stock", **fields) -> None:
    categories = RETAIL.suggest_categories(text)
    draft = checked(AskDraft(text=text, outcome=outcome, category=categories[0].code if categories else None,
                             attributes=RETAIL.recognise(text), **fields), RETAIL)
    with Store(db_path, vocabulary=RETAIL.vocabulary()) as store:
        for _ in range(times):
            store.add_ask(draft, store_id="DEMO", terminal_id="TERMINAL-1", associate="ZZ")


def offered(app) -> list[str]:
    return [item.ask.text for item in app.screen.query_one(SimilarAsks).items]


async def test_a_few_letters_offer_the_same_ask_and_f8_enter_logs_it(tmp_path, db_path) -> None:
    seed(db_path, "navy rain jacket size M", 7, substitute="black rain jacket", substitute_accepted=True)
    seed(db_path, "black rain jacket size L", 2)
    seed(db_path, "wool scarf", 1)
    app = make_app(tmp_path, db_path, associate="AB")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        keystrokes = await type_text(pilot, "rain ja")
        await settle(pilot)
        assert offered(app) == ["navy rain jacket size M", "black rain jacket size L"]
        shown = str(app.screen.query_one(SimilarAsks).render())
        assert "1 navy rain jacket size M · Out of stock · 7 this week" in shown
        assert "2 black rain jacket size L · Out of stock · 2 this week" in shown

        await pilot.press("f8", "enter")
        keystrokes += 2
        await settle(pilot)
        saved = rows(db_path)
        assert len(saved) == 11 and keystrokes == 9  # against 23 letters + 3 keys typed out in full
        new = saved[-1]
        first = saved[0]
        assert (new.text, new.outcome, new.attributes, new.category) == (first.text, first.outcome, first.attributes, first.category)
        assert new.same_as == saved[6].id and new.associate == "AB"
        assert new.substitute == "black rain jacket" and new.substitute_accepted is None  # this customer was not asked yet
        assert "Same as before, 8 this week: navy rain jacket size M" in message(app)
        # Ready for the next customer.
        assert app.screen.query_one("#ask-text").value == "" and offered(app) == []
        assert app.focused is app.screen.query_one("#ask-text")


async def test_the_digit_picks_another_suggestion_and_another_colour_is_never_offered(tmp_path, db_path) -> None:
    seed(db_path, "navy rain jacket size M", 3)
    seed(db_path, "navy rain jacket size L", 1)
    seed(db_path, "black rain jacket size M", 5)
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await type_text(pilot, "navy rain")
        await settle(pilot)
        assert offered(app) == ["navy rain jacket size M", "navy rain jacket size L"]
        await pilot.press("f8", "2")
        await settle(pilot)
        assert rows(db_path)[-1].attributes == {"colour": "navy", "size": "L"}


async def test_f8_with_nothing_offered_explains_and_esc_goes_back_to_typing(tmp_path, db_path) -> None:
    seed(db_path, "wool scarf", 2)
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await type_text(pilot, "umbrella")
        await settle(pilot)
        await pilot.press("f8")
        assert "Nothing logged here" in message(app)
        await pilot.press("ctrl+u")  # clear the field
        await type_text(pilot, "wool")
        await settle(pilot)
        await pilot.press("f8")
        assert app.focused is app.screen.query_one(SimilarAsks)
        await pilot.press("escape")
        assert app.focused is app.screen.query_one("#ask-text")
        assert len(rows(db_path)) == 2  # nothing logged
