"""Recent asks and feedback: newest first, full-text search, filter by outcome, open to edit or void."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Header, Input, Label, Static
from textual.worker import Worker

from associate_tui.asks import FEEDBACK
from associate_tui.counter import TaxonomyChanged
from associate_tui.errors import StoreError
from associate_tui.screens.edit import edit_from_table
from associate_tui.screens.messages import StoreFailed, report_worker_failure
from associate_tui.widgets.ask_form import outcome_options
from associate_tui.widgets.asks_table import AsksTable
from associate_tui.widgets.choice import Choice, Option
from associate_tui.widgets.key_footer import KeyFooter
from associate_tui.widgets.literal import Plain
from associate_tui.widgets.sync_status import SyncStatusBar

if TYPE_CHECKING:
    from associate_tui.asks import Ask
    from associate_tui.counter import Counter
    from schemas.taxonomy import Taxonomy

RESULT_LIMIT = 200


class SearchDone(Message):
    def __init__(self, asks: list[Ask], query: str, outcome: str | None) -> None:
        super().__init__()
        self.asks = asks
        self.query = query
        self.outcome = outcome


def filter_options(taxonomy: Taxonomy) -> list[Option]:
    return [Option(None, "all", "a"), *outcome_options(taxonomy), Option(FEEDBACK, "feedback", "f")]


class RecentScreen(Screen):
    """Find an ask already logged, to check it, correct it or void it."""

    AUTO_FOCUS = "#search"
    BINDINGS = [
        Binding("f5", "refresh", "Refresh", id="refresh"),
        Binding("escape", "clear_search", "Clear search", id="clear_search"),
    ]

    def __init__(self, counter: Counter) -> None:
        super().__init__()
        self.counter = counter

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(classes="row"):
            yield Label("Search", classes="field-label")
            yield Input(placeholder="words of the ask, substitute, note · Tab: outcome (a, digits, f)", id="search", compact=True)
        with Horizontal(classes="row outcome-row"):
            yield Label("Outcome", classes="field-label")
            yield Choice(filter_options(self.counter.taxonomy), id="outcome-filter")
        yield Plain("", id="result-count", classes="section-title")
        yield AsksTable(self.counter.taxonomy, id="results")
        yield SyncStatusBar(id="sync-status")
        yield KeyFooter()

    def on_screen_resume(self) -> None:
        self.action_refresh()

    @on(TaxonomyChanged)
    def _taxonomy_changed(self, event: TaxonomyChanged) -> None:
        self.query_one("#outcome-filter", Choice).set_options(filter_options(event.taxonomy))
        self.query_one(AsksTable).taxonomy = event.taxonomy
        self.action_refresh()

    def action_refresh(self) -> None:
        query = self.query_one("#search", Input).value
        self.search(query, self.query_one("#outcome-filter", Choice).value)

    def action_clear_search(self) -> None:
        search = self.query_one("#search", Input)
        search.value = ""
        self.query_one("#outcome-filter", Choice).value = None
        search.focus()

    @on(Input.Changed, "#search")
    @on(Choice.Changed, "#outcome-filter")
    def _criteria_changed(self) -> None:
        self.action_refresh()

    @on(Input.Submitted, "#search")
    @on(Choice.Submitted, "#outcome-filter")
    def _to_results(self) -> None:
        self.query_one(AsksTable).focus()

    def on_key(self, event) -> None:  # noqa: ANN001 - Textual's Key event
        if event.key == "down" and self.focused is self.query_one("#search", Input):
            event.stop()
            self.query_one(AsksTable).focus()

    @work(thread=True, exclusive=True, group="search", exit_on_error=False)
    def search(self, query: str, outcome: str | None) -> None:
        try:
            asks = self.counter.get_store().recent_asks(query=query, outcome=outcome, limit=RESULT_LIMIT)
        except StoreError as error:
            self.post_message(StoreFailed(error))
            return
        self.post_message(SearchDone(asks, query, outcome))

    @on(SearchDone)
    def _show(self, event: SearchDone) -> None:
        self.query_one(AsksTable).show(event.asks)
        count = len(event.asks)
        what = "match" if event.query.strip() or event.outcome else "logged here"
        more = f" (newest {RESULT_LIMIT} shown)" if count == RESULT_LIMIT else ""
        self.query_one("#result-count", Static).update(
            f"{count} {'ask' if count == 1 else 'asks'} {what if count != 1 or what != 'match' else 'matches'}{more}"
            " — Enter opens one to edit or void"
            if count
            else _nothing_found(event.query, event.outcome)
        )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        report_worker_failure(self, event)

    @on(StoreFailed)
    def _failed(self, event: StoreFailed) -> None:
        self.query_one("#result-count", Static).update(event.text)
        self.notify(event.text, title="Database", severity="error", timeout=10)

    @on(DataTable.RowSelected, "#results")
    def _open(self, event: DataTable.RowSelected) -> None:
        edit_from_table(self.counter, self.query_one(AsksTable), event.row_key.value)


def _nothing_found(query: str, outcome: str | None) -> str:
    """Why the list is empty, naming what narrowed it: the words, the outcome, or both."""
    if query.strip() and outcome:
        return "No ask with these words has this outcome. Try fewer words, or a (on the outcome) for all outcomes."
    if outcome:
        return "No ask has this outcome. a (on the outcome) shows every outcome."
    if query.strip():
        return "No ask matches. Try fewer or shorter words."
    return "No asks logged yet."
