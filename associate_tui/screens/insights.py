"""Insights: what this counter keeps turning away, today, this week or this month.

Keyboard only: t / w / m pick the period, ↑↓ pick one of the top groups (past them
the arrows scroll, as PgUp/PgDn do), `i` says the highlighted group came in, F5 reads
the figures again. Everything is counted from the local file, so it works offline:
this terminal's asks, and beside them the whole store's figures and HQ's answers as
the last sync brought them (dated).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import partial
from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Header, Sparkline, Static
from textual.worker import Worker

from associate_tui.answers import GroupNews, about, came_in_words, hq_words, local_moment, read_news, status_cell, store_words
from associate_tui.errors import StoreError
from associate_tui.ids import format_utc
from associate_tui.screens.messages import CameInMarked, StoreFailed, mark_came_in, report_worker_failure
from associate_tui.widgets.key_footer import KeyFooter
from associate_tui.widgets.literal import literal
from associate_tui.widgets.top_groups import TopGroups

if TYPE_CHECKING:
    from associate_tui.counter import Counter
    from associate_tui.store import FollowUpFeedback, Insights
    from associate_tui.store.insights import StoreGroup
    from schemas.taxonomy import Taxonomy


@dataclass(frozen=True)
class Period:
    key: str
    label: str
    days: int  # counting today
    chart_days: int


PERIODS = {
    "today": Period("t", "Today", 1, 7),
    "week": Period("w", "This week", 7, 7),
    "month": Period("m", "This month", 30, 30),
}


def local_start(days: int, today: date | None = None) -> datetime:
    """Local midnight `days - 1` days before today: the start of a period that includes today."""
    day = (today or date.today()) - timedelta(days=days - 1)
    return datetime.combine(day, time()).astimezone()


@dataclass(frozen=True)
class StorePicture:
    """The whole store as HQ last counted it, and what is known of every group on screen."""

    as_of: str | None  # None: no count from HQ yet
    groups: list[StoreGroup]
    news: dict[str, GroupNews]


class InsightsRead(Message):
    def __init__(self, period: str, insights: Insights, store: StorePicture) -> None:
        super().__init__()
        self.period = period
        self.insights = insights
        self.store = store


class InsightsScreen(Screen):
    """Top unmet asks, by category and attribute, substitutes, a chart per day, follow-ups won back."""

    AUTO_FOCUS = "#insights-top"
    BINDINGS = [
        Binding("t", "period('today')", "Today", id="insights_today"),
        Binding("w", "period('week')", "Week", id="insights_week"),
        Binding("m", "period('month')", "Month", id="insights_month"),
        Binding("i", "came_in", "Came in", id="insights_came_in"),
        Binding("f5", "refresh", "Refresh", id="insights_refresh"),
    ]

    period: reactive[str] = reactive("week", init=False)

    def __init__(self, counter: Counter) -> None:
        super().__init__()
        self.counter = counter
        self._shown: InsightsRead | None = None  # what is on screen: the group `i` marks is one of its rows

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="insights-periods")
        with VerticalScroll(id="insights-body", can_focus=True):
            yield Static("Adding up…", id="insights-summary")
            yield Static("", id="insights-chart-label")
            yield Sparkline([], id="insights-chart")
            yield TopGroups(id="insights-top")
            yield Static("", id="insights-group")
            yield Static("", id="insights-store")
            yield Static("", id="insights-breakdown")
            yield Static("", id="insights-follow-ups")
        yield KeyFooter()

    def on_mount(self) -> None:
        self._show_periods()
        self.load()

    def on_screen_resume(self) -> None:
        self.load()

    def watch_period(self) -> None:
        self._show_periods()
        self.load()

    def action_period(self, name: str) -> None:
        self.period = name

    def action_refresh(self) -> None:
        self.load()

    def _show_periods(self) -> None:
        line = Text(" ")
        for name, period in PERIODS.items():
            style = "reverse bold" if name == self.period else ""
            line.append(f" {period.key} ", style="bold")
            line.append(f"{period.label} ", style=style)
            line.append("  ")
        line.append("↑↓ group · i came in · PgDn more", style="dim")
        self.query_one("#insights-periods", Static).update(line)

    @work(thread=True, exclusive=True, group="insights", exit_on_error=False)
    def load(self) -> None:
        name = self.period
        period = PERIODS[name]
        unmet = tuple(o.code for o in self.counter.taxonomy.outcomes if o.unmet)
        associate = None if self.counter.associate == "ANY" else self.counter.associate
        try:
            store = self.counter.get_store()
            insights = store.insights(
                since=format_utc(local_start(period.days)),
                chart_since=format_utc(local_start(period.chart_days)),
                unmet=unmet,
                associate=associate,
            )
            groups = store.store_groups()
            keys = [group.key for group in insights.groups] + [group.key for group in groups]
            picture = StorePicture(store.store_demand_as_of(), groups, read_news(store, keys))
        except StoreError as error:
            self.post_message(StoreFailed(error))
            return
        self.post_message(InsightsRead(name, insights, picture))

    @on(InsightsRead)
    def _read(self, event: InsightsRead) -> None:
        if event.period != self.period:
            return  # the associate has already picked another period
        insights, taxonomy = event.insights, self.counter.taxonomy
        again = self._shown is not None and self._shown.period == event.period
        self._shown = event
        period = PERIODS[event.period]
        self.query_one("#insights-summary", Static).update(summary(insights, period))
        days = [local_start(period.chart_days).date() + timedelta(days=i) for i in range(period.chart_days)]
        counts = [insights.per_day.get(day.isoformat(), 0) for day in days]
        self.query_one("#insights-chart-label", Static).update(
            f"Unmet asks per day, {days[0]:%d %b} to {days[-1]:%d %b}: most {max(counts)} a day, {sum(counts)} in all"
        )
        chart = self.query_one("#insights-chart", Sparkline)
        chart.data = counts
        chart.styles.width = 2 * len(counts)  # two columns a day: each day visible at 80 columns
        self.query_one(TopGroups).show(
            len(insights.groups), partial(top_table, insights, taxonomy, event.store, week=event.period != "month"), keep=again
        )
        self.query_one("#insights-store", Static).update(store_table(event.store))
        self.query_one("#insights-breakdown", Static).update(breakdown(insights, taxonomy))
        self.query_one("#insights-follow-ups", Static).update(follow_up_lines(insights, self.counter.associate))

    @on(TopGroups.Highlighted)
    def _show_group(self) -> None:
        """Under the table: HQ's answer and the store's figures for the highlighted group."""
        top, line = self.query_one(TopGroups), self.query_one("#insights-group", Static)
        if self._shown is None or not top.has_focus or not self._shown.insights.groups:
            line.update("")
            return
        number = min(top.highlighted, len(self._shown.insights.groups) - 1)
        news = self._shown.store.news.get(self._shown.insights.groups[number].key)
        said = [hq_words(news) or "HQ: no answer yet", store_words(news.figures if news else None)]
        text = literal("\n".join(about(words, number + 1) for words in said if words), lines=True)
        text.no_wrap, text.overflow = True, "ellipsis"
        line.update(text)

    def action_came_in(self) -> None:
        top = self.query_one(TopGroups)
        if self._shown is None or not self._shown.insights.groups:
            self.notify("No unmet group in this period to mark as come in.", title="It came in", timeout=4)
            return
        group = self._shown.insights.groups[min(top.highlighted, len(self._shown.insights.groups) - 1)]
        self.mark_came_in(group.key, group.ask.text, self.counter.associate)

    def mark_came_in(self, key: str, text: str, associate: str) -> None:
        mark_came_in(self, self.counter, key, text, associate)

    @on(CameInMarked)
    def _marked(self, event: CameInMarked) -> None:
        said = came_in_words(event.text, event.woken)
        self.notify(said, title="It came in", timeout=6)
        self.counter.sync_soon()  # the follow-ups it woke are new versions for HQ
        self.load()

    @on(StoreFailed)
    def _failed(self, event: StoreFailed) -> None:
        self.query_one("#insights-summary", Static).update(Text(event.text, style="bold red"))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        report_worker_failure(self, event)


def summary(insights: Insights, period: Period) -> Text:
    share = f" ({100 * insights.unmet / insights.asks:.0f}%)" if insights.asks else ""
    text = Text()
    text.append(f"{period.label}: ", style="bold")
    text.append(f"{insights.asks} asks logged here, {insights.unmet} unmet{share}.")
    if not insights.asks:
        text.append(" Nothing logged in this period yet.", style="dim")
    if sum(insights.said):
        praised, so_so, let_down = insights.said
        text.append("\nWhat customers said: ", style="bold")
        text.append(f"{praised} loved or liked it · {so_so} so-so · {let_down} let down.")
    return text


def top_table(
    insights: Insights, taxonomy: Taxonomy, store: StorePicture, highlighted: int | None = None, *, week: bool = True
) -> Table | Text:
    """This terminal's top unmet groups; beside them the store's count (this week, or 30 days) and HQ's status."""
    if not insights.groups:
        return Text("No unmet asks in this period.", style="dim")
    title = "Top unmet asks here"
    if store.as_of:
        title += f" · Store: every terminal, {'this week' if week else '30 days'}, as of {local_moment(store.as_of)}"
    table = Table(title=title, title_justify="left", expand=True, box=None, pad_edge=False)
    table.add_column("#", justify="right", width=2)
    table.add_column("Asked for", ratio=1, no_wrap=True, overflow="ellipsis")
    table.add_column("Outcome", no_wrap=True, max_width=14, overflow="ellipsis")
    table.add_column("Asks", justify="right")
    table.add_column("Days", justify="right")
    if store.as_of:
        table.add_column("Store", justify="right")
    table.add_column("HQ", no_wrap=True, max_width=9)
    for rank, group in enumerate(insights.groups, 1):
        outcome = taxonomy.outcome(group.ask.outcome)
        news = store.news.get(group.key)
        cells: list[Text | str] = [str(rank), literal(group.ask.text), literal(outcome.label if outcome else group.ask.outcome)]
        cells += [str(group.asks), str(group.days)]
        if store.as_of:
            figures = news.figures if news else None
            cells.append("–" if figures is None else str(figures.week if week else figures.month))
        cells.append(status_cell(news))
        table.add_row(*cells, style="reverse" if rank - 1 == highlighted else "")
    return table


def store_table(store: StorePicture) -> Table | Text:
    """The whole store's most asked unmet groups as HQ last counted them, with HQ's status."""
    if store.as_of is None:
        return Text("\nThe whole store's figures and HQ's answers come with the sync: none yet.", style="dim")
    when = local_moment(store.as_of)
    if not store.groups:
        return Text(f"\nAt the store: no unmet asks counted by HQ (as of {when}).", style="dim")
    table = Table(
        title=f"\nAt the store, every terminal (HQ's count as of {when})",
        title_justify="left",
        expand=True,
        box=None,
        pad_edge=False,
    )
    table.add_column("#", justify="right", width=2)
    table.add_column("Asked for", ratio=1, no_wrap=True, overflow="ellipsis")
    table.add_column("Week", justify="right")
    table.add_column("30 days", justify="right")
    table.add_column("HQ", no_wrap=True, max_width=9)
    for rank, group in enumerate(store.groups, 1):
        named = literal(group.text) if group.text else Text("asked at other terminals only", style="dim")
        table.add_row(str(rank), named, str(group.week), str(group.month), status_cell(store.news.get(group.key)))
    return table


SHOWN = 6  # categories, and values of each attribute, on one line at 80 columns; "+N more" says what is left out
SHOWN_SUBSTITUTES = 5


def breakdown(insights: Insights, taxonomy: Taxonomy) -> Text:
    text = Text()
    if insights.categories:
        text.append("\nBy category  ", style="bold")
        parts = []
        for code, count in insights.categories[:SHOWN]:
            category = taxonomy.category(code) if code else None
            parts.append(f"{category.label if category else code or 'uncategorised'} {count}")
        text.append(literal(" · ".join(parts)))
        if hidden := insights.categories[SHOWN:]:
            # The unmet total is exact even when the store's list of categories was cut short.
            rest = insights.unmet - sum(count for _, count in insights.categories[:SHOWN])
            text.append(f" · +{len(hidden)} more ({rest} asks)", style="bold")
    by_key: dict[str, list[str]] = {}
    for key, value, count in insights.attributes:
        by_key.setdefault(key, []).append(f"{value} {count}")
    labels = {attribute.key: attribute.label for attribute in taxonomy.attributes}
    if by_key:
        text.append("\nAsked for and not found", style="bold")
        for key, values in by_key.items():
            text.append("\n  ")
            text.append(literal(f"{labels.get(key, key)}: ", style="bold"))
            text.append(literal(" · ".join(values[:SHOWN])))
            if len(values) > SHOWN:
                text.append(f" · +{len(values) - SHOWN} more", style="bold")
    if insights.substitutes:
        text.append("\nSubstitutes offered", style="bold")
        for what, offered, accepted, declined in insights.substitutes[:SHOWN_SUBSTITUTES]:
            answered = accepted + declined
            rate = f"{100 * accepted / answered:.0f}% accepted" if answered else "no answer recorded"
            text.append("\n  ")
            text.append(literal(f"{what}: offered {offered}, accepted {accepted}, declined {declined} ({rate})"))
        if len(insights.substitutes) > SHOWN_SUBSTITUTES:
            text.append(f"\n  +{len(insights.substitutes) - SHOWN_SUBSTITUTES} more substitutes", style="bold")
    return text


def follow_up_lines(insights: Insights, associate: str) -> Text:
    text = Text("\nFollow-ups", style="bold")
    text.append(f"\n  {_feedback_line('Logged on this terminal', insights.follow_ups)}")
    if insights.mine is not None:
        text.append(f"\n  {_feedback_line(f'Logged by you ({associate})', insights.mine)}")
    return text


def _feedback_line(who: str, feedback: FollowUpFeedback) -> str:
    if not feedback.promised:
        return f"{who}: no follow-ups promised in this period."
    rate = f" ({100 * feedback.won_back / feedback.done:.0f}% of those done)" if feedback.done else ""
    return f"{who}: {feedback.promised} promised, {feedback.done} done, {feedback.won_back} won back{rate}, {feedback.open} open."
