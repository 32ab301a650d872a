"""The follow-up screen (F7): who to call back today, and what came of it.

Shows open follow-ups due today or overdue, for this associate or anyone; those
whose ask came in (HQ or "it came in" at the counter) come first, "in stock now".
One key marks the highlighted one done with a result (d, then a digit), or snoozes
it (z, then the number of days).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Header, Input, Static
from textual.worker import Worker

from associate_tui.answers import IN_STOCK_NOW, in_stock_now, local_day
from associate_tui.customers import FOLLOW_UP_RESULTS, FollowUp, result_label
from associate_tui.errors import StoreError
from associate_tui.screens.messages import StoreFailed, report_worker_failure, show
from associate_tui.widgets.key_footer import KeyFooter
from associate_tui.widgets.literal import Plain, cell
from associate_tui.widgets.sync_status import SyncStatusBar

if TYPE_CHECKING:
    from collections.abc import Callable

    from associate_tui.counter import Counter
    from associate_tui.store import Store


class FollowUpsLoaded(Message):
    def __init__(self, follow_ups: list[FollowUp]) -> None:
        super().__init__()
        self.follow_ups = follow_ups


class FollowUpChanged(Message):
    def __init__(self, follow_up: FollowUp, said: str) -> None:
        super().__init__()
        self.follow_up = follow_up
        self.said = said


class FollowUpsScreen(Screen):
    """Due today and overdue: call, then one key for what happened."""

    AUTO_FOCUS = "#follow-ups"
    BINDINGS = [
        Binding("d", "done", "Done", id="follow_up_done"),
        Binding("z", "snooze", "Snooze", id="follow_up_snooze"),
        Binding("a", "toggle_upcoming", "All open", id="follow_up_all"),
        Binding("m", "toggle_mine", "Mine/all", id="follow_up_mine"),
    ]

    def __init__(self, counter: Counter) -> None:
        super().__init__()
        self.counter = counter
        self.follow_ups: list[FollowUp] = []
        self.upcoming = False
        self.everyone = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Plain("", id="follow-ups-title", classes="section-title")
        yield DataTable(id="follow-ups", cursor_type="row", zebra_stripes=True)
        yield Static("", id="follow-up-detail")
        yield SyncStatusBar(id="sync-status")
        yield KeyFooter()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_column("Due", key="due", width=12)  # "in stock now"
        table.add_column("Customer", key="customer", width=18)
        table.add_column("Contact", key="contact", width=18)
        table.add_column("Asked for", key="ask")

    def on_screen_resume(self) -> None:
        self.load()

    def _title(self, later: int) -> str:
        when = "All open follow-ups" if self.upcoming else "Due now"
        if later and not self.upcoming:
            when += f" · {later} more due later"
        whose = "everyone's" if self.everyone else f"for {self.counter.associate} or anyone"
        return (
            f"{when} · {whose} · a: {'due only' if self.upcoming else 'all open'} · m: {'mine' if self.everyone else 'everyone'}"
        )

    @work(thread=True, exclusive=True, group="follow-ups", exit_on_error=False)
    def load(self) -> None:
        try:
            # Every open one, soonest first: the screen shows those due now and says how many are due later
            # (a follow-up promised a minute ago is due in days, and must not look lost).
            found = self.counter.get_store().follow_ups(associate=None if self.everyone else self.counter.associate)
        except StoreError as error:
            self.post_message(StoreFailed(error))
            return
        self.post_message(FollowUpsLoaded(found))

    @on(FollowUpsLoaded)
    def _loaded(self, event: FollowUpsLoaded) -> None:
        today = date.today().isoformat()
        self.follow_ups = [f for f in event.follow_ups if self.upcoming or f.due_on <= today]
        later = len(event.follow_ups) - len(self.follow_ups)
        self.query_one("#follow-ups-title", Static).update(self._title(later))
        table = self.query_one(DataTable)
        table.clear()
        for item in self.follow_ups:
            due = "overdue" if item.due_on < today else ("today" if item.due_on == today else item.due_on)
            if in_stock_now(item, today):
                due = IN_STOCK_NOW
            table.add_row(
                due,
                cell(item.customer_name or "(erased)"),
                cell(item.customer_contact),
                cell(item.ask_text),
                key=item.id,
            )
        if not self.follow_ups and later:
            self._say(f"Nothing due now. {later} more {'is' if later == 1 else 'are'} due later: a shows them.", "hint")
        elif not self.follow_ups:
            self._say("Nothing to follow up. a shows every open follow-up, m everyone's.", "hint")
        else:
            self._show(self._current())

    @on(DataTable.RowHighlighted, "#follow-ups")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show(self._current())

    def _show(self, item: FollowUp | None) -> None:
        if item is None:
            return
        parts = [f"Due {item.due_on}", f"logged by {item.associate}"]
        if in_stock_now(item):
            parts[0] = f"In stock now: came in {local_day(item.in_stock_at or '')}"
        if item.assigned_to:
            parts.append(f"for {item.assigned_to}")
        if item.contact_preference:
            parts.append(f"prefers {item.contact_preference}")
        self._say(" · ".join(parts) + " — d done · z snooze", "hint")

    def _current(self) -> FollowUp | None:
        table = self.query_one(DataTable)
        if not self.follow_ups or table.cursor_row >= len(self.follow_ups):
            return None
        return self.follow_ups[table.cursor_row]

    def _say(self, text: str, kind: str) -> None:
        show(self.query_one("#follow-up-detail", Static), text, kind)

    # -- actions --------------------------------------------------------------------

    def action_toggle_upcoming(self) -> None:
        self.upcoming = not self.upcoming
        self.load()

    def action_toggle_mine(self) -> None:
        self.everyone = not self.everyone
        self.load()

    def action_done(self) -> None:
        item = self._current()
        if item is None:
            return

        def chosen(result: str | None) -> None:
            if result:
                self.complete(item, result)

        self.app.push_screen(FollowUpResultScreen(item), chosen)

    def action_snooze(self) -> None:
        item = self._current()
        if item is None:
            return

        def chosen(days: int | None) -> None:
            if days:
                self.snooze(item, (date.today() + timedelta(days=days)).isoformat())

        self.app.push_screen(SnoozeScreen(), chosen)

    def complete(self, item: FollowUp, result: str) -> None:
        associate = self.counter.associate
        self.save(
            lambda store: store.complete_follow_up(item.id, result=result, associate=associate, expected_version=item.version),
            f"Done: {result_label(result)}.",
        )

    def snooze(self, item: FollowUp, until: str) -> None:
        self.save(
            lambda store: store.snooze_follow_up(item.id, until=until, expected_version=item.version),
            f"Snoozed until {until}.",
        )

    @work(thread=True, group="follow-up-save", exit_on_error=False)
    def save(self, change: Callable[[Store], FollowUp], said: str) -> None:
        """Run one change to a follow-up in a worker; the screen hears back by message."""
        try:
            changed = change(self.counter.get_store())
        except StoreError as error:
            self.post_message(StoreFailed(error))
            return
        self.post_message(FollowUpChanged(changed, said))

    @on(FollowUpChanged)
    def _changed(self, event: FollowUpChanged) -> None:
        self.notify(f"{event.follow_up.customer_name or 'Follow-up'}: {event.said}", timeout=4)
        self.counter.sync_soon()
        self.load()

    @on(StoreFailed)
    def _failed(self, event: StoreFailed) -> None:
        self._say(event.text, "error")
        self.notify(event.text, title="Follow-up", severity="error", timeout=10)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        report_worker_failure(self, event)


class FollowUpResultScreen(ModalScreen["str | None"]):
    """What came of the call: one digit."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="cancel")] + [
        Binding(str(number), f"pick({number})", label, show=False) for number, (_, label) in enumerate(FOLLOW_UP_RESULTS, 1)
    ]

    def __init__(self, item: FollowUp) -> None:
        super().__init__()
        self.item = item

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog small-dialog"):
            yield Plain(f"{self.item.customer_name or 'Follow-up'}: {self.item.ask_text}", classes="dialog-title")
            for number, (_, label) in enumerate(FOLLOW_UP_RESULTS, 1):
                yield Static(f"{number}  {label}")
            yield Static("A digit records the result · Esc cancels", classes="-hint")

    def action_pick(self, number: int) -> None:
        self.dismiss(FOLLOW_UP_RESULTS[number - 1][0])


class SnoozeScreen(ModalScreen["int | None"]):
    """Try again in a few days."""

    AUTO_FOCUS = "#snooze-days"
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog small-dialog"):
            yield Static("Snooze for how many days?", classes="dialog-title")
            yield Input("1", id="snooze-days", max_length=3, type="integer")
            yield Static("Enter snoozes · Esc cancels", id="snooze-message", classes="-hint")

    @on(Input.Submitted, "#snooze-days")
    def _submitted(self, event: Input.Submitted) -> None:
        try:
            days = int(event.value)
        except ValueError:
            days = 0
        if not 1 <= days <= 90:
            show(self.query_one("#snooze-message", Static), "Days: a whole number from 1 to 90, e.g. 2.", "error")
            return
        self.dismiss(days)
