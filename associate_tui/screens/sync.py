"""The sync screen: the link to HQ, what is waiting, and the asks HQ refused (the quarantine)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static
from textual.worker import Worker

from associate_tui.counter import SyncFinished
from associate_tui.errors import StoreError
from associate_tui.screens.edit import EditAskScreen
from associate_tui.screens.messages import StoreFailed, report_worker_failure
from associate_tui.widgets.asks_table import local_time
from associate_tui.widgets.key_footer import KeyFooter
from associate_tui.widgets.literal import Plain, cell, literal
from associate_tui.widgets.sync_status import SyncStatusBar

if TYPE_CHECKING:
    from associate_tui.counter import Counter
    from associate_tui.store import Quarantined, SyncStatus


class QuarantineLoaded(Message):
    def __init__(self, held: list[Quarantined], status: SyncStatus) -> None:
        super().__init__()
        self.held = held
        self.status = status


class SyncScreen(Screen):
    """What has reached HQ, what is waiting, and what HQ refused and why."""

    AUTO_FOCUS = "#quarantine"
    BINDINGS = [
        Binding("s", "sync_now", "Sync now", id="sync_now"),
    ]

    def __init__(self, counter: Counter) -> None:
        super().__init__()
        self.counter = counter

    def compose(self) -> ComposeResult:
        yield Header()
        yield Plain("", id="sync-link", classes="sync-facts")
        yield Plain("", id="sync-state")
        yield Static("Refused by HQ", id="quarantine-title", classes="section-title")
        yield DataTable(id="quarantine", cursor_type="row", zebra_stripes=True)
        yield Plain("", id="quarantine-detail")
        yield SyncStatusBar(id="sync-status")
        yield KeyFooter()

    def on_mount(self) -> None:
        self._messages: dict[str, str] = {}
        table = self.query_one("#quarantine", DataTable)
        table.add_column("When", key="when", width=6)
        table.add_column("Asked for", key="text", width=28)
        table.add_column("HQ said", key="said")

    def on_screen_resume(self) -> None:
        self.show_link()
        self.load()
        self.counter.refresh_sync_status()

    @on(SyncFinished)
    def _sync_finished(self) -> None:
        self.show_link()
        self.load()

    def show_link(self) -> None:
        config = self.counter.config
        if config.hq_url:
            link = (
                f"HQ {config.hq_url} · store {config.store_id} · terminal {config.terminal_id} · every {config.sync_interval} s"
            )
        else:
            link = "Not linked to HQ. IT links this terminal with: associate enroll URL --token TOKEN"
        self.query_one("#sync-link", Static).update(link)

    @work(thread=True, exclusive=True, group="quarantine", exit_on_error=False)
    def load(self) -> None:
        try:
            store = self.counter.get_store()
            self.post_message(QuarantineLoaded(store.quarantined(), store.sync_status()))
        except StoreError as error:
            self.post_message(StoreFailed(error))

    @on(QuarantineLoaded)
    def _loaded(self, event: QuarantineLoaded) -> None:
        table = self.query_one("#quarantine", DataTable)
        table.clear()
        for held in event.held:
            text = held.ask.text if len(held.ask.text) <= 28 else held.ask.text[:27] + "…"
            table.add_row(local_time(held.at), cell(text), cell(f"{held.code}: {held.message}"), key=held.ask.id)
        self._messages = {held.ask.id: f"{held.code}: {held.message}" for held in event.held}
        self._show_state(event.status)
        title = self.query_one("#quarantine-title", Static)
        if event.held:
            title.update(f"Refused by HQ ({len(event.held)}), kept here · Enter opens one; a correction is sent again")
        else:
            title.update("Refused by HQ: none. Every ask HQ has seen, it took.")
        self.query_one("#quarantine-detail", Static).update(next(iter(self._messages.values()), ""))

    def _show_state(self, status: SyncStatus) -> None:
        """Pending, the last sync and, when syncing fails, HQ's or the network's words in full."""
        last = local_time(status.last_success_at) if status.last_success_at else "never"
        lines = f"Waiting to be sent: {status.pending} · last sync {last}"
        if status.last_error:
            tried = f" (tried {local_time(status.last_attempt_at)})" if status.last_attempt_at else ""
            lines += f"\nLast error{tried}: {status.last_error}"
        state = self.query_one("#sync-state", Static)
        state.update(literal(lines, lines=True))
        state.set_class(bool(status.last_error), "-error")

    @on(DataTable.RowHighlighted, "#quarantine")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.query_one("#quarantine-detail", Static).update(self._messages.get(str(event.row_key.value), ""))

    @on(DataTable.RowSelected, "#quarantine")
    def _open(self, event: DataTable.RowSelected) -> None:
        def closed(ask: object) -> None:
            self.load()
            if ask is not None:
                self.counter.sync_soon()

        self.app.push_screen(EditAskScreen(self.counter, str(event.row_key.value)), closed)

    def action_sync_now(self) -> None:
        self.counter.start_sync(reason="asked")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        report_worker_failure(self, event)

    @on(StoreFailed)
    def _failed(self, event: StoreFailed) -> None:
        self.notify(event.text, title="Database", severity="error", timeout=10)
