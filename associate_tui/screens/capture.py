"""The capture screen: the form for the next customer, and what was just logged."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Header, Input, Label, Static
from textual.worker import Worker

from associate_tui.asks import (
    Ask,
    AskDraft,
    InvalidAsk,
    checked,
    parse_attributes,
    sensitive_found,
)
from associate_tui.counter import TaxonomyChanged
from associate_tui.customers import due_on
from associate_tui.errors import StoreError
from associate_tui.screens.customers import Attached, CustomerPickerScreen
from associate_tui.screens.edit import edit_from_table
from associate_tui.screens.messages import StoreFailed, report_worker_failure
from associate_tui.widgets.ask_form import AskForm
from associate_tui.widgets.asks_table import AsksTable
from associate_tui.widgets.category_picker import CategoryPicker
from associate_tui.widgets.key_footer import KeyFooter
from associate_tui.widgets.literal import Plain
from associate_tui.widgets.similar_asks import SimilarAsks
from associate_tui.widgets.sync_status import SyncStatusBar
from schemas.privacy import describe

if TYPE_CHECKING:
    from associate_tui.counter import Counter
    from associate_tui.store import Similar

RECENT_ON_CAPTURE = 20


class AskSaved(Message):
    def __init__(self, ask: Ask, draft: AskDraft, follow_up_due: str | None = None, same_as: Similar | None = None) -> None:
        super().__init__()
        self.ask = ask
        self.draft = draft
        self.follow_up_due = follow_up_due
        self.same_as = same_as


class SimilarFound(Message):
    def __init__(self, generation: int, items: list[Similar]) -> None:
        super().__init__()
        self.generation = generation
        self.items = items


class AsksLoaded(Message):
    def __init__(self, asks: list[Ask]) -> None:
        super().__init__()
        self.asks = asks


class CaptureScreen(Screen):
    """Type what was asked, one digit for what happened, Enter."""

    AUTO_FOCUS = "#ask-text"
    BINDINGS = [
        Binding("escape", "clear_form", "Clear", id="clear"),
        Binding("f5", "customer", "Customer", id="customer"),
        Binding("f8", "same_as", "Same as", id="same_as"),
    ]

    def __init__(self, counter: Counter) -> None:
        super().__init__()
        self.counter = counter
        self.attached: Attached | None = None
        self._saving = False
        self._clear_armed = False
        self._shown = False
        self._similar_generation = 0  # only the answer to the latest keystroke is shown

    def compose(self) -> ComposeResult:
        yield Header()
        yield AskForm(self.counter.taxonomy, id="ask-form")
        yield Plain("", id="customer-line")
        yield Label("Just logged on this terminal (Tab to reach, Enter to edit)", id="recent-title", classes="section-title")
        yield AsksTable(self.counter.taxonomy, id="recent-asks")
        yield SyncStatusBar(id="sync-status")
        yield KeyFooter()

    def on_mount(self) -> None:
        # After the first paint: opening the store in a
        # thread would otherwise compete for the GIL with drawing the form.
        self.set_timer(0.05, self.load_recent)

    def on_screen_resume(self) -> None:
        # Back from another screen: show what changed there. The first showing
        # is left to the timer set on mount.
        if self._shown:
            self.load_recent()
        self._shown = True

    @on(TaxonomyChanged)
    def _taxonomy_changed(self, event: TaxonomyChanged) -> None:
        self.query_one(AskForm).set_taxonomy(event.taxonomy)
        self.query_one(AsksTable).taxonomy = event.taxonomy
        self.load_recent()

    # -- workers: IO only, results come back as messages ---------------------

    @work(thread=True, exclusive=True, group="recent", exit_on_error=False)
    def load_recent(self) -> None:
        try:
            asks = self.counter.get_store().recent_asks(limit=RECENT_ON_CAPTURE)
        except StoreError as error:
            self.post_message(StoreFailed(error))
            return
        self.post_message(AsksLoaded(asks))

    @work(thread=True, group="similar", exit_on_error=False)
    def look_up_similar(self, generation: int, text: str, attributes: dict[str, str], category: str | None) -> None:
        try:
            items = self.counter.get_store().similar_asks(text, attributes=attributes, category=category)
        except StoreError:
            items = []  # suggestions are a help, never in the way of logging
        self.post_message(SimilarFound(generation, items))

    @work(thread=True, group="save", exit_on_error=False)
    def save(self, draft: AskDraft, associate: str, attached: Attached | None, same_as: Similar | None = None) -> None:
        from associate_tui.store import FollowUpPlan  # the store loads with the first worker, not at start-up

        config = self.counter.config
        plan = None
        if attached and attached.follow_up:
            plan = FollowUpPlan(
                due_on=due_on(date.today(), config.follow_up_days),
                assigned_to=None if associate == "ANY" else associate,
            )
        try:
            ask = self.counter.get_store().add_ask(
                draft,
                store_id=config.store_id,
                terminal_id=config.terminal_id,
                associate=associate,
                customer_id=attached.customer.id if attached else None,
                follow_up=plan,
                same_as=same_as.ask.id if same_as else None,
            )
        except StoreError as error:
            self.post_message(StoreFailed(error))
            return
        self.post_message(AskSaved(ask, draft, plan.due_on if plan else None, same_as))
        try:
            self.counter.get_store().tidy()  # after "saved": the associate never waits for it
        except StoreError:
            pass  # housekeeping only: the next save or start tries again

    # -- handlers: own the screen ----------------------------------------------

    @on(AskForm.Submitted)
    def _submitted(self, event: AskForm.Submitted) -> None:
        form = self.query_one(AskForm)
        if self._saving:
            form.say("Still saving the previous ask…", "hint")
            return
        try:
            draft = checked(event.draft, self.counter.taxonomy)
        except InvalidAsk as invalid:
            form.show_errors(invalid.errors)
            return
        self._saving = True
        form.say("Saving…", "hint")
        self.save(draft, self.counter.associate, self.attached)

    @on(AskSaved)
    def _saved(self, event: AskSaved) -> None:
        self._saving = False
        form = self.query_one(AskForm)
        on_screen = form.draft()
        # Clear only what was saved: if the associate kept typing, their words stay.
        # "Same as" was picked from what the words found: those words were the search.
        if event.same_as is not None:
            form.clear()
            self.detach()
        elif isinstance(on_screen, AskDraft):
            try:
                unchanged = checked(on_screen, self.counter.taxonomy) == event.draft
            except InvalidAsk:
                unchanged = False
            if unchanged:
                form.clear()
                self.detach()
        outcome = self.counter.taxonomy.outcome(event.ask.outcome)
        said = f"Saved: {event.ask.text} — {outcome.label if outcome else event.ask.outcome}"
        if event.same_as is not None:
            said = f"Same as before, {event.same_as.this_week + 1} this week: {event.ask.text}"
        if event.follow_up_due:
            said += f"; follow-up due {event.follow_up_due}"
        if masked := sensitive_found(event.draft):
            said += ". " + describe(masked)
            self.notify(describe(masked), title="Privacy", severity="warning", timeout=8)
        form.say(said, "ok")
        self.query_one(AsksTable).put_first(event.ask)
        self.counter.sync_soon()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if report_worker_failure(self, event) and event.worker.group == "save":
            self._saving = False
            self.query_one(AskForm).say("Not saved: something went wrong. Press Enter to try again.", "error")

    @on(StoreFailed)
    def _store_failed(self, event: StoreFailed) -> None:
        self._saving = False
        self.query_one(AskForm).say(event.text, "error")
        self.notify(event.text, title=event.title, severity="error", timeout=10)

    @on(Input.Changed, "#ask-text")
    def _typed(self, event: Input.Changed) -> None:
        self._similar_generation += 1
        form = self.query_one(AskForm)
        if len(event.value.strip()) < 2:
            form.query_one(SimilarAsks).show([])
            return
        attributes = parse_attributes(form.query_one("#attributes", Input).value)
        category = form.query_one("#category", CategoryPicker).value
        self.look_up_similar(self._similar_generation, event.value, attributes, category)

    @on(SimilarFound)
    def _similar_found(self, event: SimilarFound) -> None:
        if event.generation == self._similar_generation:
            self.query_one(SimilarAsks).show(event.items)

    def action_same_as(self) -> None:
        similar = self.query_one(SimilarAsks)
        form = self.query_one(AskForm)
        if not similar.items:
            form.say("Nothing logged here in the last 30 days looks like this; type the ask and press Enter.", "hint")
            return
        similar.focus()
        form.say("Enter or 1-3: log it again for this customer. Esc: back.", "hint")

    @on(SimilarAsks.Picked)
    def _same_as(self, event: SimilarAsks.Picked) -> None:
        form = self.query_one(AskForm)
        if self._saving:
            form.say("Still saving the previous ask…", "hint")
            return
        earlier = event.similar.ask
        channel = form.query_one("#channel").value or earlier.channel
        # The customer's own ask: what was asked and what happened, as then; nothing of theirs.
        draft = replace(earlier.draft(), channel=channel, quantity=1, note=None, substitute_accepted=None)
        try:
            draft = checked(draft, self.counter.taxonomy)
        except InvalidAsk as invalid:
            form.say(f"Cannot log the same again: {invalid}. Type the ask instead.", "error")
            return
        self._saving = True
        form.query_one("#ask-text").focus()
        form.say("Saving…", "hint")
        self.save(draft, self.counter.associate, self.attached, event.similar)

    @on(SimilarAsks.Left)
    def _back_to_typing(self) -> None:
        form = self.query_one(AskForm)
        form.query_one("#ask-text").focus()
        form.say("")

    @on(AsksLoaded)
    def _loaded(self, event: AsksLoaded) -> None:
        self.query_one(AsksTable).show(event.asks)

    @on(DataTable.RowSelected, "#recent-asks")
    def _open(self, event: DataTable.RowSelected) -> None:
        edit_from_table(self.counter, self.query_one(AsksTable), event.row_key.value)

    def action_clear_form(self) -> None:
        form = self.query_one(AskForm)
        if (form.is_blank() and self.attached is None) or self._clear_armed:
            self._clear_armed = False
            form.clear()
            self.detach()
            return
        self._clear_armed = True
        form.say("Press Esc again to clear the form (nothing has been saved).", "hint")
        self.set_timer(3, self._disarm)

    def _disarm(self) -> None:
        self._clear_armed = False

    # -- the customer who asked ----------------------------------------------------

    def action_customer(self) -> None:
        def chosen(attached: Attached | None) -> None:
            if attached is not None:
                self.attach(attached)

        self.app.push_screen(CustomerPickerScreen(self.counter), chosen)

    def attach(self, attached: Attached) -> None:
        self.attached = attached
        customer = attached.customer
        parts = [f"Customer: {customer.name}"]
        if summary := customer.preferences.summary():
            parts.append(summary)
        if attached.follow_up:
            parts.append(f"follow-up due {due_on(date.today(), self.counter.config.follow_up_days)}")
        elif not customer.consent_follow_up:
            parts.append("no follow-up: no consent recorded (F5, then F5 to edit)")
        else:
            parts.append("no follow-up")
        line = self.query_one("#customer-line", Static)
        line.update(" · ".join(parts))
        line.set_classes("-attached")

    def detach(self) -> None:
        self.attached = None
        line = self.query_one("#customer-line", Static)
        line.update("")
        line.set_classes("")
