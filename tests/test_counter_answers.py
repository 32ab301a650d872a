"""HQ answers the counter: its answer and the store's figures while typing and in Insights, "it came in", F7."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from types import SimpleNamespace

from associate_tui.asks import AskDraft, checked
from associate_tui.cli import main
from associate_tui.customers import CustomerDraft
from associate_tui.store import FollowUpPlan, Store
from associate_tui.widgets.similar_asks import SimilarAsks
from schemas.taxonomy import load_pack
from schemas.times import format_utc
from tests.pilot import make_app, screen_text, settle, type_text

RETAIL = load_pack("retail")
SIZE = (80, 24)
NAVY = "navy rain jacket size M"
TODAY = date.today()


def open_store(db_path) -> Store:
    return Store(db_path, vocabulary=RETAIL.vocabulary())


def draft(text: str, outcome: str = "out_of_stock", **fields) -> AskDraft:
    """The ask as the form would take it: category and attributes recognised from the words."""
    categories = RETAIL.suggest_categories(text)
    category = categories[0].code if categories else None
    return checked(AskDraft(text=text, outcome=outcome, category=category, attributes=RETAIL.recognise(text), **fields), RETAIL)


def seed(db_path, text: str, times: int = 1, outcome: str = "out_of_stock", **fields) -> str:
    """`times` asks of `text`; the demand group's key."""
    with open_store(db_path) as store:
        for _ in range(times):
            ask = store.add_ask(draft(text, outcome, **fields), store_id="DEMO", terminal_id="TERMINAL-1", associate="ZZ")
        return store.conn.execute("SELECT demand_key FROM asks WHERE id = ?", (ask.id,)).fetchone()[0]


def promise(db_path, text: str, name: str = "Jane Doe", due_in: int = 10) -> str:
    """A customer's ask of `text` with a follow-up due in `due_in` days; the follow-up's id."""
    with open_store(db_path) as store:
        customer = store.add_customer(
            CustomerDraft(name=name, phone="07700 900123", consent_follow_up=True),
            store_id="DEMO",
            terminal_id="TERMINAL-1",
            associate="ZZ",
            consent_wording="2026-1",
        )
        store.add_ask(
            draft(text),
            store_id="DEMO",
            terminal_id="TERMINAL-1",
            associate="ZZ",
            customer_id=customer.id,
            follow_up=FollowUpPlan(due_on=(TODAY + timedelta(days=due_in)).isoformat(), assigned_to=None),
        )
        [follow_up] = [f for f in store.follow_ups(limit=1000) if f.customer_id == customer.id]
        return follow_up.id


def answer(db_path, key: str, status: str, *, expected_on=None, note=None, available_here=False) -> None:
    """HQ's answer about the group `key`, applied as the sync applies a pulled page."""
    with open_store(db_path) as store:
        after = store.responses_cursor()
        response = SimpleNamespace(
            demand_key=key,
            seq=after + 1,
            status=status,
            expected_on=expected_on,
            note=note,
            available_here=available_here,
            changed_at=format_utc(datetime.now(timezone.utc)),
        )
        store.apply_responses([response], after=after, cursor=after + 1)


def store_counts(db_path, as_of: datetime, **groups: tuple[int, int]) -> None:
    """The store's figures (every terminal) as HQ counted them at `as_of`: key=(week, month)."""
    with open_store(db_path) as store:
        store.apply_store_demand(
            [SimpleNamespace(demand_key=key, week=week, month=month) for key, (week, month) in groups.items()],
            as_of=format_utc(as_of),
        )


def news_line(app) -> str:
    news = app.screen.query_one("#group-news")
    return str(news.render()) if news.display else ""


def message(app) -> str:
    return str(app.screen.query_one("#form-message").render())


# -- the capture form ----------------------------------------------------------------


async def test_hq_answer_shows_while_typing_an_ask_of_that_group_and_not_another(tmp_path, db_path) -> None:
    navy = seed(db_path, NAVY, 3)
    seed(db_path, "black rain jacket size L", 2)
    answer(db_path, navy, "planned", expected_on="2027-03-01", note="Coming in navy\nin March\x1b[31m [bold]")
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_text(pilot, "navy rain")
        await settle(pilot)
        assert news_line(app) == "HQ on 1: planned · expected 2027-03-01 · Coming in navy in March[31m [bold]"
        await type_text(pilot, " jacket size M")
        await settle(pilot)
        assert news_line(app) == "HQ: planned · expected 2027-03-01 · Coming in navy in March[31m [bold]"
        [line] = [line for line in screen_text(app).splitlines() if "HQ: planned" in line]
        assert line.rstrip().endswith("HQ: planned · expected 2027-03-01 · Coming in navy in March[31m […")  # cut to 80
        await pilot.press("ctrl+u")
        await type_text(pilot, "black rain jacket")
        await settle(pilot)
        assert [item.ask.text for item in app.screen.query_one(SimilarAsks).items] == ["black rain jacket size L"]
        assert news_line(app) == ""


async def test_i_on_a_suggestion_says_it_came_in_and_f7_shows_the_follow_up_first(tmp_path, db_path) -> None:
    seed(db_path, NAVY, 3)
    later = promise(db_path, "red wool scarf", name="Sam Early", due_in=0)  # due today, not in stock
    woken = promise(db_path, NAVY, name="Jane Doe", due_in=10)
    app = make_app(tmp_path, db_path, associate="AB")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        keys = await type_text(pilot, "navy rain")
        await settle(pilot)
        await pilot.press("f8", "i")
        keys += 2
        await settle(pilot)
        assert keys == 11
        said = "1 follow-up is due today: in stock now (F7). In stock here: navy rain jacket size M."
        assert message(app) == said
        day = f"{TODAY.day} {TODAY:%b}"
        assert news_line(app) == f"On 1: in stock here since {day} (AB said it came in)"
        assert app.focused is app.screen.query_one(SimilarAsks)  # still on the list: Esc goes back to typing
        with open_store(db_path) as store:
            [first, second] = store.follow_ups()
        assert (first.id, first.due_on, second.id) == (woken, TODAY.isoformat(), later)
        assert first.in_stock_at and second.in_stock_at is None

        await pilot.press("escape", "f7")
        await settle(pilot)
        table = app.screen.query_one("#follow-ups")
        assert [str(cell) for cell in table.get_row_at(0)[:2]] == ["in stock now", "Jane Doe"]
        assert [str(cell) for cell in table.get_row_at(1)[:2]] == ["today", "Sam Early"]
        detail = str(app.screen.query_one("#follow-up-detail").render())
        assert detail == f"In stock now: came in {day} · logged by ZZ — d done · z snooze"


async def test_the_stores_figures_show_beside_each_suggestion_and_dated_under_them(tmp_path, db_path) -> None:
    navy = seed(db_path, NAVY, 3)
    black = seed(db_path, "black rain jacket size L", 2)
    seed(db_path, "red rain jacket size S", 1)
    answer(db_path, black, "declined", note="Not in the range")
    pulled = datetime.now().astimezone() - timedelta(days=3)  # offline since: the last count, with its date
    store_counts(db_path, pulled, **{navy: (12, 40), black: (5, 9)})
    year = "" if pulled.year == TODAY.year else f" {pulled.year}"
    when = f"{pulled.day} {pulled:%b}{year} {pulled:%H:%M}"
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_text(pilot, "rain ja")
        await settle(pilot)
        shown = str(app.screen.query_one(SimilarAsks).render()).splitlines()
        assert shown == [
            "1 navy rain jacket size M · Out of stock · 3 this week · store 12",
            "2 black rain jacket size L · Out of stock · 2 this week · store 5",
            "3 red rain jacket size S · Out of stock · 1 this week",
        ]
        assert news_line(app) == f"Store on 1: 12 this week / 40 in 30 days, as of {when}"
        await pilot.press("f8", "down")  # the line follows the highlighted suggestion
        await settle(pilot)
        assert news_line(app).splitlines()[0] == "HQ on 2: declined · Not in the range"
        assert "Store on 2: 5 this week / 9 in 30 days" in news_line(app)
        await pilot.press("down")
        await settle(pilot)
        assert news_line(app) == ""  # suggestion 3: nothing from HQ about it
        await pilot.press("escape")
        await settle(pilot)
        assert news_line(app).startswith("Store on 1: 12 this week")
        screen = screen_text(app).splitlines()
        assert len(screen) == 24 and "Just logged on this terminal" in screen_text(app)


async def test_a_whole_ask_in_one_burst_shows_hqs_answer_and_saves_as_typed(tmp_path, db_path) -> None:
    navy = seed(db_path, NAVY, 2)
    answer(db_path, navy, "available", available_here=True)
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press(*["space" if ch == " " else ch for ch in NAVY])
        await settle(pilot)
        assert news_line(app) == f"HQ: in stock here since {TODAY.day} {TODAY:%b}"
        await pilot.press("enter", "1", "enter")
        await settle(pilot)
        with open_store(db_path) as store:
            newest = store.recent_asks(limit=1)[0]
        assert (newest.text, newest.outcome) == (NAVY, "found")
        assert news_line(app) == ""  # the form is clear for the next customer


async def test_f1_help_names_the_came_in_key(tmp_path, db_path) -> None:
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        await pilot.pause()
        text = str(app.screen.query_one("Markdown").source)
        assert "| i (after F8, on a suggestion) | it came in" in text
        assert "↑↓ a top group, i it came in" in text and "those *in stock now* first" in text


# -- Insights ----------------------------------------------------------------------------

OTHER_TERMINALS = "0123456789abcdef"  # a group only other terminals of the store logged


def toasts(app) -> list[str]:
    return [f"{n.title}: {n.message}" for n in app._notifications]  # noqa: SLF001


async def test_insights_show_the_stores_figures_and_hqs_status_and_i_marks_a_group_in(tmp_path, db_path) -> None:
    navy = seed(db_path, NAVY, 3)
    boots = seed(db_path, "leather boots UK 9", 2, outcome="not_carried")
    woken = promise(db_path, NAVY)
    answer(db_path, navy, "planned", expected_on="2027-03-01", note="Coming in March")
    answer(db_path, boots, "declined", note="Not in the range")
    as_of = datetime.combine(TODAY, time(10, 2)).astimezone()
    store_counts(db_path, as_of, **{navy: (12, 40), OTHER_TERMINALS: (30, 90)})
    day = f"{TODAY.day} {TODAY:%b}"
    app = make_app(tmp_path, db_path, associate="AB")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f12")
        await settle(pilot)
        screen = app.screen
        top = screen.query_one("#insights-top").content
        assert top.title == f"Top unmet asks here · Store: every terminal, this week, as of {day} 10:02"
        assert [str(cell) for cell in top.columns[1].cells] == [NAVY, "leather boots UK 9"]
        assert list(top.columns[5].cells) == ["12", "–"] and list(top.columns[6].cells) == ["planned", "declined"]
        group = str(screen.query_one("#insights-group").render())
        assert group.splitlines() == [
            "HQ on 1: planned · expected 2027-03-01 · Coming in March",
            f"Store on 1: 12 this week / 40 in 30 days, as of {day} 10:02",
        ]
        at_store = screen.query_one("#insights-store").content
        assert at_store.title == f"\nAt the store, every terminal (HQ's count as of {day} 10:02)"
        assert [str(cell) for cell in at_store.columns[1].cells] == ["asked at other terminals only", NAVY]
        assert [list(at_store.columns[n].cells) for n in (2, 3, 4)] == [["30", "12"], ["90", "40"], ["", "planned"]]
        text = screen_text(app)
        assert "i Came in" in " ".join(text.splitlines()[-2:])  # in the footer at 80 columns
        assert "HQ on 1: planned" in text and "12" in text

        await pilot.press("down")
        await settle(pilot)
        assert str(screen.query_one("#insights-group").render()).startswith("HQ on 2: declined · Not in the range")
        await pilot.press("m")  # another period: the first group again, its 30 days beside
        await settle(pilot)
        assert list(screen.query_one("#insights-top").content.columns[5].cells) == ["40", "–"]
        await pilot.press("i")
        await settle(pilot)
        assert "It came in: 1 follow-up is due today: in stock now (F7). In stock here: navy rain jacket size M." in toasts(app)
        assert list(screen.query_one("#insights-top").content.columns[6].cells) == ["in stock", "declined"]
        assert str(screen.query_one("#insights-group").render()).startswith(
            f"On 1: in stock here since {day} (AB said it came in)"
        )

        await pilot.press("f7")
        await settle(pilot)
        table = app.screen.query_one("#follow-ups")
        assert str(table.get_row_at(0)[0]) == "in stock now"
        assert table.coordinate_to_cell_key((0, 0)).row_key.value == woken


async def test_insights_before_any_count_from_hq_say_so_and_keep_their_columns(tmp_path, db_path) -> None:
    seed(db_path, NAVY, 2)
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f12")
        await settle(pilot)
        top = app.screen.query_one("#insights-top").content
        assert top.title == "Top unmet asks here" and [c.header for c in top.columns][-1] == "HQ"
        assert "Store" not in [c.header for c in top.columns]
        assert str(app.screen.query_one("#insights-group").render()) == "HQ on 1: no answer yet"
        assert "come with the sync: none yet" in str(app.screen.query_one("#insights-store").render())


# -- the command line ------------------------------------------------------------------


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_demand_prints_hqs_response_the_stores_figures_with_their_date_and_the_restock(capsys, db_path) -> None:
    navy = seed(db_path, NAVY, 2)
    answer(db_path, navy, "planned", expected_on="2027-03-01", note="Coming in navy\x1b[2J in March")
    as_of = datetime.combine(TODAY, time(10, 2)).astimezone()
    store_counts(db_path, as_of, **{navy: (12, 40)})
    code, out, err = run(capsys, "demand", "navy rain jackets, size M")
    assert code == 0, err
    lines = out.splitlines()
    assert (
        lines[-2] == f"store       12 in the last 7 days, 40 in the last 30 days, every terminal (HQ's count as of {TODAY} 10:02)"
    )
    assert lines[-1].startswith("HQ's response: planned, expected 2027-03-01 · Coming in navy[2J in March (changed ")
    assert "\x1b" not in out

    with open_store(db_path) as store:
        store.mark_came_in(navy, associate="AB")
    _, out, _ = run(capsys, "demand", "navy rain jacket M")
    assert f"restock     in stock here since {TODAY} " in out and "(AB said it came in)" in out
    _, out, _ = run(capsys, "demand", "red wool scarf")
    assert f"store       not among the store's most asked (HQ's count as of {TODAY} 10:02)" in out
    assert out.splitlines()[-1] == "HQ's response: none yet"


def test_demand_before_any_count_from_hq_says_so(capsys, db_path) -> None:
    seed(db_path, NAVY)
    _, out, _ = run(capsys, "demand", NAVY)
    assert out.splitlines()[-2:] == ["store       no count from HQ yet (it comes with the sync)", "HQ's response: none yet"]


def test_came_in_wakes_the_groups_follow_ups_and_follow_ups_lists_them_first(capsys, db_path) -> None:
    seed(db_path, NAVY)
    today = promise(db_path, "red wool scarf", name="Sam Early", due_in=0)
    woken = promise(db_path, NAVY, name="Jane Doe", due_in=10)
    other = promise(db_path, "black rain jacket size L", name="Kim Later", due_in=3)
    code, out, err = run(capsys, "came-in", "navy rain jackets, M", "--associate", "AB")
    assert (code, err) == (0, "")
    assert out == "1 follow-up is due today: in stock now (associate follow-ups). In stock here: navy rain jacket size M.\n"
    _, out, _ = run(capsys, "follow-ups")
    lines = [line.split("\t") for line in out.splitlines()]
    assert [line[-1] for line in lines] == [woken, today, other]
    assert lines[0][0] == f"{TODAY} today, in stock now" and lines[1][0] == f"{TODAY} today"
    _, out, _ = run(capsys, "came-in", NAVY)  # again: nothing left waiting
    assert out == "In stock here, no follow-up waiting: navy rain jacket size M.\n"


def test_came_in_refuses_a_group_never_asked_here(capsys, db_path) -> None:
    seed(db_path, NAVY)
    code, out, err = run(capsys, "came-in", "purple socks")
    assert code == 2 and out == "" and "no ask on this terminal is in the group of 'purple socks'" in err
    code, _, err = run(capsys, "came-in", NAVY, "--associate", "a b")
    assert code == 2 and "--associate 'a b'" in err
