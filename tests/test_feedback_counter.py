"""Feedback at the counter (issue 17): what a customer said, rated 1-5, in as few keys as an ask.

Ctrl+F switches the capture form to feedback; with the words typed first it goes
straight to the rating, so feedback takes text + Ctrl+F + digit + Enter: the same
count as an ask's text + Enter + digit + Enter.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone

import pytest
from pilot import make_app, rows, screen_text, settle, type_text
from test_bursts import burst, idle, typed
from textual.widgets import Input

from associate_tui.app import AssociateApp
from associate_tui.asks import AskDraft, checked
from associate_tui.cli import main
from associate_tui.ids import format_utc
from associate_tui.store import Store
from associate_tui.widgets.ask_form import AskForm
from schemas.taxonomy import load_pack

SIZE = (80, 24)
PRAISE = "blue rain jacket fits really well"  # recognised: colour=blue, Clothing › Outerwear
MODE_LINE = "Feedback: what the customer said, rated 1-5 · Ctrl+F: back to an ask"


def message(app: AssociateApp) -> str:
    return str(app.screen.query_one("#form-message").render())


def line_with(app: AssociateApp, words: str) -> str:
    return next((line for line in screen_text(app).splitlines() if words in line), "")


def form(app: AssociateApp) -> AskForm:
    return app.screen.query_one(AskForm)


def save(db_path, text: str, outcome: str, rating: int | None = None) -> None:
    """Saved as the form saves it: category and attributes recognised from the words."""
    retail = load_pack("retail")
    category = next(iter(retail.suggest_categories(text)), None)
    draft = AskDraft(
        text=text, outcome=outcome, rating=rating, category=category.code if category else None, attributes=retail.recognise(text)
    )
    with Store(db_path, vocabulary=retail.vocabulary()) as store:
        store.add_ask(checked(draft, retail), store_id="DEMO", terminal_id="TERMINAL-1", associate="AB")


def save_feedback(db_path, text: str, rating: int) -> None:
    save(db_path, text, "feedback", rating)


def save_ask(db_path, text: str) -> None:
    save(db_path, text, "out_of_stock")


# -- logging feedback, keys counted -----------------------------------------------------


async def test_words_then_ctrl_f_digit_enter_logs_feedback_in_as_many_keys_as_an_ask(tmp_path, db_path) -> None:
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        pressed = await type_text(pilot, PRAISE)
        await pilot.press("ctrl+f")  # the words are there: straight to the rating
        assert app.focused is app.screen.query_one("#rating")
        assert MODE_LINE in screen_text(app)
        await pilot.press("5", "enter")
        pressed += 3
        await settle(pilot)
        [said] = rows(db_path)
        assert pressed == len(PRAISE) + 3  # an ask: text + Enter + digit + Enter
        assert (said.text, said.outcome, said.rating) == (PRAISE, "feedback", 5)
        assert said.category == "clothing.outerwear" and said.attributes == {"colour": "blue"}
        assert (said.substitute, said.quantity, said.customer_id) == (None, 1, None)
        assert message(app) == f"Saved feedback: {PRAISE} — 5/5 loved it"
        # Back to an ask for the next customer, cursor in the words.
        assert not form(app).feedback and MODE_LINE not in screen_text(app)
        assert "Outcome" in screen_text(app) and app.focused is app.screen.query_one("#ask-text")


async def test_ctrl_f_first_shows_the_feedback_form_then_text_enter_digit_enter(tmp_path, db_path) -> None:
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+f")
        await pilot.pause()
        text = screen_text(app)
        # The form says it is feedback: its own line, "Said" for the words, a rating row; nothing offered instead.
        assert MODE_LINE in text
        assert "Said       What did the customer say? Praise, a complaint, an idea" in text
        assert "Rating      1 let down   2 unhappy   3 so-so   4 liked it   5 loved it" in text
        for gone in ("Outcome", "Instead", "Qty", "Ask  "):
            assert gone not in text.split("Just logged")[0], gone
        assert app.focused is app.screen.query_one("#ask-text")
        pressed = 1 + await type_text(pilot, "fitting rooms too cold")
        await pilot.press("enter")
        assert "How did the customer find it? Press 1 (let down) to 5 (loved it)." in message(app)
        await pilot.press("2", "enter")
        pressed += 3
        await settle(pilot)
        [said] = rows(db_path)
        assert pressed == len("fitting rooms too cold") + 4
        assert (said.outcome, said.rating) == ("feedback", 2)
        assert "feedback 2/5" in line_with(app, "ANY     fitting rooms too cold")  # the list under the form


async def test_feedback_typed_in_one_burst_is_saved_as_typed(tmp_path, db_path) -> None:
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=SIZE) as pilot:
        await idle(pilot)
        keys = [*typed(PRAISE), "ctrl+f", "4", "enter", *typed("red scarf"), "enter", "3", "enter"]
        await burst(pilot, *keys)
        said, ask = rows(db_path)
        assert (said.text, said.outcome, said.rating) == (PRAISE, "feedback", 4)
        assert (ask.text, ask.outcome, ask.rating) == ("red scarf", "out_of_stock", None)  # the form went back to asks


async def test_a_digit_that_is_no_rating_and_no_rating_at_all_get_the_forms_words(tmp_path, db_path) -> None:
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_text(pilot, "queue at the till far too long")
        await pilot.press("ctrl+f", "7")
        assert message(app) == "7 is not a rating: press 1 (let down) to 5 (loved it)."
        assert "-invalid" in app.screen.query_one("#rating").classes
        await pilot.press("0")
        assert message(app).startswith("0 is not a rating")
        await pilot.press("enter")  # nothing picked: not saved, asked again
        await settle(pilot)
        assert rows(db_path) == []
        assert "How did the customer find it?" in message(app)
        await pilot.press("1", "enter")
        await settle(pilot)
        [said] = rows(db_path)
        assert (said.outcome, said.rating) == ("feedback", 1)
        # Feedback with no words at all: the form says so and saves nothing.
        await pilot.press("ctrl+f", "enter")
        await settle(pilot)
        assert len(rows(db_path)) == 1 and message(app).startswith("Text:")


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_the_feedback_form_fits_the_screen(tmp_path, db_path, size) -> None:
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+f")
        await settle(pilot)
        width, height = size
        shown = ["#mode-line", "#ask-text", "#attributes", "#category", "#rating", "#channel", "#note", "#form-message"]
        for selector in shown:
            region = app.screen.query_one(selector).region
            assert region.width > 0 and region.height > 0 and region.right <= width and region.bottom <= height - 3, selector
        for selector in ("#outcome", "#substitute", "#accepted", "#quantity"):
            assert app.screen.query_one(selector).region.height == 0, selector
        rating = str(app.screen.query_one("#rating").render())
        assert all(words in rating for words in ("1 let down", "2 unhappy", "3 so-so", "4 liked it", "5 loved it"))
        assert app.screen.query_one("AsksTable").region.height >= 4


async def test_ctrl_f_again_goes_back_to_an_ask_and_keeps_the_words(tmp_path, db_path) -> None:
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_text(pilot, "navy wool jumper size L")
        await pilot.press("ctrl+f", "ctrl+f")
        await pilot.pause()
        assert not form(app).feedback and MODE_LINE not in screen_text(app)
        assert app.focused is app.screen.query_one("#outcome")
        assert app.screen.query_one("#ask-text", Input).value == "navy wool jumper size L"
        await pilot.press("3", "enter")
        await settle(pilot)
        [ask] = rows(db_path)
        assert (ask.outcome, ask.rating) == ("out_of_stock", None)


async def test_escape_twice_clears_feedback_back_to_an_ask(tmp_path, db_path) -> None:
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+f")
        await type_text(pilot, "great staff")
        await pilot.press("escape", "escape")
        await pilot.pause()
        assert not form(app).feedback and app.screen.query_one("#ask-text", Input).value == ""


# -- not demand -------------------------------------------------------------------------


async def test_feedback_is_not_offered_as_asked_before(tmp_path, db_path) -> None:
    save_ask(db_path, "blue rain jacket size M")
    save_feedback(db_path, "blue rain jacket zip broke", 1)
    save_feedback(db_path, "blue rain jacket lovely", 5)
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_text(pilot, "blue rain jacket")
        await settle(pilot)
        similar = app.screen.query_one("#similar")
        assert [item.ask.text for item in similar.items] == ["blue rain jacket size M"]
        assert similar.items[0].this_week == 1  # the feedback on the same jacket is not counted as asked
        form_lines = screen_text(app).split("Just logged")[0]
        assert "blue rain jacket size M" in form_lines and "zip broke" not in form_lines
        # In feedback mode there are no suggestions, and F8 has nothing to log again.
        await pilot.press("ctrl+f")
        await settle(pilot)
        assert "blue rain jacket size M" not in screen_text(app).split("Just logged")[0]
        await pilot.press("f8")
        assert message(app).startswith("Feedback is typed, not logged again")
        await pilot.press("ctrl+f")  # back to an ask: the suggestion returns
        await settle(pilot)
        assert "blue rain jacket size M" in screen_text(app).split("Just logged")[0]


def test_the_store_counts_no_feedback_as_demand(db_path) -> None:
    save_ask(db_path, "blue rain jacket")
    save_feedback(db_path, "blue rain jacket zip broke", 1)
    save_feedback(db_path, "blue rain jacket lovely", 5)
    save_feedback(db_path, "staff were kind", 4)
    with Store(db_path, vocabulary=load_pack("retail").vocabulary()) as store:
        [similar] = store.similar_asks("blue rain jacket")
        assert (similar.ask.text, similar.outcome, similar.this_week) == ("blue rain jacket", "out_of_stock", 1)
        counts = store.group_counts(similar.key)
        assert (counts.this_week, counts.total, counts.wordings) == (1, 1, ["blue rain jacket"])
        assert store.similar_asks("staff kind") == []
        since = format_utc(datetime.now(timezone.utc) - timedelta(days=7))
        insights = store.insights(since=since, unmet=("out_of_stock",))
        assert (insights.asks, insights.unmet) == (1, 1)
        assert insights.said == (2, 0, 1)  # praise (4-5), so-so (3), let down (1-2)


async def test_insights_say_what_customers_said_apart_from_the_asks(tmp_path, db_path) -> None:
    save_ask(db_path, "blue rain jacket")
    save_feedback(db_path, "blue rain jacket zip broke", 1)
    save_feedback(db_path, "staff were kind", 5)
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f12")
        await settle(pilot)
        text = screen_text(app)
        assert "This week: 1 asks logged here, 1 unmet (100%)." in text
        assert "What customers said: 1 loved or liked it · 0 so-so · 1 let down." in text


# -- shown as feedback, with its rating -------------------------------------------------


async def test_recent_shows_feedback_with_its_rating_and_f_filters_it(tmp_path, db_path) -> None:
    save_ask(db_path, "red trainers UK 9")
    save_feedback(db_path, "[bold]great[/] service", 4)
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f3")
        await settle(pilot)
        line = line_with(app, "service")
        assert "[bold]great[/] service" in line and "feedback 4/5" in line  # the words as typed, never markup
        assert "Out of stock" in line_with(app, "red trainers")
        await pilot.press("tab", "f")
        await settle(pilot)
        assert "2 asks match" not in screen_text(app)
        assert "feedback 4/5" in line_with(app, "service") and "red trainers" not in screen_text(app)


async def test_editing_feedback_keeps_it_feedback_and_changes_the_rating(tmp_path, db_path) -> None:
    save_feedback(db_path, "fitting rooms too cold", 2)
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f3")
        await settle(pilot)
        await pilot.press("down", "enter")
        await settle(pilot)
        text = screen_text(app)
        assert "Feedback " in line_with(app, "version 1") and "Feedback: what the customer said, rated 1-5" in text
        assert "Outcome" not in text.split("version 1")[1] and "Instead" not in text
        await pilot.press("tab", "tab", "tab")  # words, attributes, category, rating
        assert app.focused is app.screen.query_one("#rating")
        await pilot.press("3", "enter")
        await settle(pilot)
        [said] = rows(db_path)
        assert (said.version, said.outcome, said.rating) == (2, "feedback", 3)
        assert "feedback 3/5" in line_with(app, "fitting rooms")


async def test_the_footer_and_help_name_the_feedback_key(tmp_path, db_path) -> None:
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.clear_notifications()
        await pilot.pause()
        assert "^f Feedback" in " ".join(screen_text(app).splitlines()[-2:])
        await pilot.press("f1")
        await pilot.pause()
        help_text = str(app.screen.query_one("Markdown").source)
        assert "| Ctrl+F | feedback instead of an ask" in help_text and "5 loved it" in help_text


# -- the command line -------------------------------------------------------------------


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_log_with_rating_saves_feedback(capsys, db_path) -> None:
    code, out, err = run(capsys, "log", PRAISE, "--rating", "4", "--note", "said twice")
    assert code == 0, err
    [said] = rows(db_path)
    assert out.strip() == said.id
    assert (said.outcome, said.rating, said.note) == ("feedback", 4, "said twice")
    assert said.category == "clothing.outerwear" and said.attributes == {"colour": "blue"}
    code, _, err = run(capsys, "log", "lovely shop", "--outcome", "feedback", "--rating", "5")
    assert code == 0, err and rows(db_path)[1].rating == 5


@pytest.mark.parametrize(
    "args, words",
    [
        (["--rating", "6"], "--rating: rate what the customer said from 1 (let down) to 5 (loved it)"),
        (["--rating", "0"], "--rating: rate what the customer said from 1 (let down) to 5 (loved it)"),
        (["--outcome", "out_of_stock", "--rating", "3"], "--outcome out_of_stock with --rating: an ask has an outcome"),
        (["--outcome", "feedback"], "--rating: rate what the customer said"),
        ([], "say what happened with --outcome CODE (e.g. --outcome out_of_stock), or log what the customer said"),
        (["--rating", "2", "--substitute", "other coat"], "--substitute is for an ask, not for feedback (--rating)"),
        (["--rating", "2", "--quantity", "3"], "--quantity is for an ask, not for feedback (--rating)"),
    ],
)
def test_log_refuses_a_rating_that_does_not_fit_with_words(capsys, db_path, args, words) -> None:
    code, out, err = run(capsys, "log", "zip broke", *args)
    assert code == 2 and out == ""
    assert words in err, err
    assert rows(db_path) == []


def test_export_carries_the_rating(capsys, db_path) -> None:
    assert run(capsys, "log", "zip broke", "--rating", "1")[0] == 0
    assert run(capsys, "log", "red scarf", "--outcome", "out_of_stock")[0] == 0
    code, out, _ = run(capsys, "export")
    assert code == 0
    said, ask = (json.loads(line) for line in out.splitlines())
    assert (said["outcome"], said["rating"]) == ("feedback", 1) and ask["rating"] is None
    code, out, _ = run(capsys, "export", "--format", "csv")
    said_row, ask_row = csv.DictReader(io.StringIO(out))
    assert (said_row["outcome"], said_row["rating"], ask_row["rating"]) == ("feedback", "1", "")


def test_log_help_says_how_to_log_feedback(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["log", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--rating N" in help_text and "1 let down" in help_text and "5 loved it" in help_text
