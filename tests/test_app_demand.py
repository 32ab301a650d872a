"""At the counter: "asked before" suggestions, "same as" in a few keys, and the insights screen."""

from __future__ import annotations

from associate_tui.asks import AskDraft, checked
from associate_tui.store import Store
from associate_tui.widgets.similar_asks import SimilarAsks
from schemas.taxonomy import load_pack
from tests.test_app import make_app, message, rows, settle, type_text

RETAIL = load_pack("retail")


def seed(db_path, text: str, times: int, outcome: str = "out_of_stock", **fields) -> None:
    categories = RETAIL.suggest_categories(text)
    draft = checked(
        AskDraft(
            text=text,
            outcome=outcome,
            category=categories[0].code if categories else None,
            attributes=RETAIL.recognise(text),
            **fields,
        ),
        RETAIL,
    )
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
        assert (new.text, new.outcome, new.attributes, new.category) == (
            first.text,
            first.outcome,
            first.attributes,
            first.category,
        )
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


async def test_the_insights_screen_adds_up_unmet_asks_for_the_period(tmp_path, db_path) -> None:
    seed(db_path, "navy rain jacket size M", 4, substitute="grey parka", substitute_accepted=True)
    seed(db_path, "navy rain jacket size M", 1, substitute="grey parka", substitute_accepted=False)
    seed(db_path, "leather boots UK 9", 3, outcome="not_carried")
    seed(db_path, "linen shirt", 2, outcome="found")
    with Store(db_path) as store:  # an ask of last month: in "month", not in "week"
        store.conn.execute(
            "UPDATE asks SET created_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-20 days') WHERE text = 'linen shirt'"
        )
    app = make_app(tmp_path, db_path, associate="AB")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("f12")
        await settle(pilot)
        screen = app.screen
        text = lambda selector: str(screen.query_one(selector).render())  # noqa: E731
        assert "This week: 8 asks logged here, 8 unmet (100%)" in text("#insights-summary")
        top = screen.query_one("#insights-top").content
        assert [str(cell) for cell in top.columns[1].cells] == ["navy rain jacket size M", "leather boots UK 9"]
        assert [cell for cell in top.columns[3].cells] == ["5", "3"]
        breakdown = text("#insights-breakdown")
        assert "Colour: navy 5" in breakdown and "Size: M 5 · UK 9 3" in breakdown
        assert "grey parka: offered 5, accepted 4, declined 1 (80% accepted)" in breakdown
        assert screen.query_one("#insights-chart").data[-1] == 8
        assert "Logged by you (AB): no follow-ups" in text("#insights-follow-ups")

        await pilot.press("m")
        await settle(pilot)
        assert "This month: 10 asks logged here, 8 unmet (80%)" in text("#insights-summary")
        await pilot.press("t")
        await settle(pilot)
        assert "Today: 8 asks" in text("#insights-summary")
        app.save_screenshot("insights.svg", str(tmp_path))
