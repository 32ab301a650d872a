"""Open one ask: correct it, or void it with a reason. Each change is a new version."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Static
from textual.worker import Worker

from associate_tui.asks import FEEDBACK, Ask, AskDraft, InvalidAsk, checked
from associate_tui.errors import StoreError
from associate_tui.screens.dialogs import VoidReasonScreen
from associate_tui.screens.messages import StoreFailed, report_worker_failure
from associate_tui.widgets.ask_form import AskForm
from associate_tui.widgets.asks_table import AsksTable, local_time
from associate_tui.widgets.key_footer import KeyFooter
from associate_tui.widgets.literal import Plain

if TYPE_CHECKING:
    from associate_tui.counter import Counter


class AskLoaded(Message):
    def __init__(self, ask: Ask) -> None:
        super().__init__()
        self.ask = ask


class AskChanged(Message):
    def __init__(self, ask: Ask) -> None:
        super().__init__()
        self.ask = ask


class EditAskScreen(ModalScreen[Ask | None]):
    """Returns the changed ask, or None if nothing was changed."""

    BINDINGS = [
        Binding("escape", "close", "Close", id="close"),
        Binding("f8", "void", "Void", id="void"),
    ]

    def __init__(self, counter: Counter, ask_id: str) -> None:
        super().__init__()
        self.counter = counter
        self.ask_id = ask_id
        self.ask: Ask | None = None
        self._close_armed = False

    def compose(self) -> ComposeResult:
        with Vertical(id="edit-dialog", classes="dialog"):
            yield Plain("Loading…", id="edit-title", classes="dialog-title")
            yield AskForm(self.counter.taxonomy, id="edit-form")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, group="edit", exit_on_error=False)
    def load(self) -> None:
        try:
            self.post_message(AskLoaded(self.counter.get_store().get_ask(self.ask_id)))
        except StoreError as error:
            self.post_message(StoreFailed(error))

    @work(thread=True, exclusive=True, group="edit", exit_on_error=False)
    def write(self, version: int, draft: AskDraft | None, void_reason: str | None) -> None:
        try:
            store = self.counter.get_store()
            if void_reason is not None:
                ask = store.void_ask(self.ask_id, void_reason, expected_version=version)
            else:
                assert draft is not None
                ask = store.edit_ask(self.ask_id, draft, expected_version=version)
        except StoreError as error:
            self.post_message(StoreFailed(error))
            return
        self.post_message(AskChanged(ask))

    @on(AskLoaded)
    def _loaded(self, event: AskLoaded) -> None:
        ask = self.ask = event.ask
        form = self.query_one(AskForm)
        form.fill(ask.draft())
        state = f"VOIDED: {ask.void_reason}" if ask.voided else "Enter saves the change · F8 voids it"
        what = "Feedback" if ask.outcome == FEEDBACK else "Ask logged"  # its rating is on the form, under the words
        self.query_one("#edit-title", Static).update(
            f"{what} {local_time(ask.created_at)} by {ask.associate} · version {ask.version} · {state}"
        )
        if ask.voided:
            form.disabled = True
        else:
            form.query_one("#ask-text").focus()

    @on(AskForm.Submitted)
    def _submitted(self, event: AskForm.Submitted) -> None:
        event.stop()
        if self.ask is None or self.ask.voided:
            return
        form = self.query_one(AskForm)
        try:
            draft = checked(event.draft, self.counter.taxonomy)
        except InvalidAsk as invalid:
            form.show_errors(invalid.errors)
            return
        try:
            unchanged = draft == checked(self.ask.draft(), self.counter.taxonomy)
        except InvalidAsk:
            unchanged = False  # the saved ask breaks today's rules (HQ refused it, say): this is the fix
        if unchanged:
            self.dismiss(None)
            return
        form.say("Saving…", "hint")
        self.write(self.ask.version, draft, None)

    @on(AskChanged)
    def _changed(self, event: AskChanged) -> None:
        what = "voided" if event.ask.voided else "saved"
        self.notify(f"Ask {what} (version {event.ask.version}).", timeout=3)
        self.dismiss(event.ask)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        report_worker_failure(self, event)

    @on(StoreFailed)
    def _failed(self, event: StoreFailed) -> None:
        self.query_one(AskForm).say(event.text, "error")
        self.notify(event.text, title="Not saved", severity="error", timeout=10)

    def action_void(self) -> None:
        if self.ask is None or self.ask.voided:
            return
        version = self.ask.version

        def reason_given(reason: str | None) -> None:
            if reason:
                self.write(version, None, reason)

        self.app.push_screen(VoidReasonScreen(self.ask.text), reason_given)

    def action_close(self) -> None:
        form = self.query_one(AskForm)
        result = form.draft()
        changed = False
        if self.ask is not None and not self.ask.voided and isinstance(result, AskDraft):
            try:
                changed = checked(result, self.counter.taxonomy) != checked(self.ask.draft(), self.counter.taxonomy)
            except InvalidAsk:
                changed = True
        if changed and not self._close_armed:
            self._close_armed = True
            form.say("Unsaved changes: Enter saves them, Esc again closes without saving.", "hint")
            return
        self.dismiss(None)


def edit_from_table(counter: Counter, table: AsksTable, ask_id: str | None) -> None:
    """Open the ask picked in a table; the table shows its new version if it changes."""
    if not ask_id:
        return

    def changed(ask: Ask | None) -> None:
        if ask is not None:
            table.replace(ask)
            counter.sync_soon()

    table.app.push_screen(EditAskScreen(counter, ask_id), changed)
