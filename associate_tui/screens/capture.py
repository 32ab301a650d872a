"""The capture screen: the form for the next customer, and what was just logged.

It starts as the ask's words with the cursor in them, painted before anything else is
loaded; the rest of the form, the list of what was just logged, the status line and the
keys are mounted straight after (`prepare`, `_prepared`). Keys typed meanwhile wait in
order (`_pump`): letters go into the words at once, Enter and the like once the rest is
there, so none is lost.
"""

from __future__ import annotations

import importlib
from collections import deque
from dataclasses import replace
from datetime import date
from typing import TYPE_CHECKING

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Input, Static
from textual.worker import Worker

from associate_tui.counter import TaxonomyChanged
from associate_tui.errors import StoreError
from associate_tui.screens.messages import CameInMarked, StoreFailed, mark_came_in, report_worker_failure
from associate_tui.widgets.ask_form import AskForm, SameAsList
from associate_tui.widgets.choice import InOrder
from associate_tui.widgets.similar_asks import SimilarAsks

if TYPE_CHECKING:
    from textual.widgets import DataTable

    from associate_tui.answers import GroupNews
    from associate_tui.asks import Ask, AskDraft
    from associate_tui.counter import Counter
    from associate_tui.screens.customers import Attached
    from associate_tui.store import Similar
    from associate_tui.widgets.asks_table import AsksTable

# What the rest of the screen and its first save use, loaded by `prepare` off the screen's thread.
LOADED_AFTER_THE_FIRST_PAINT = (
    "textual.widgets._header",
    "textual.widgets._footer",
    "textual.widgets._data_table",
    "associate_tui.asks",
    "associate_tui.answers",
    "associate_tui.customers",
    "associate_tui.ratings",
    "associate_tui.widgets.asks_table",
    "associate_tui.widgets.key_footer",
    "associate_tui.widgets.literal",
    "associate_tui.widgets.sync_status",
    "schemas.demand",
    "schemas.privacy",
)

RECENT_ON_CAPTURE = 20


class AskSaved(Message):
    def __init__(self, ask: Ask, draft: AskDraft, follow_up_due: str | None = None, same_as: Similar | None = None) -> None:
        super().__init__()
        self.ask = ask
        self.draft = draft
        self.follow_up_due = follow_up_due
        self.same_as = same_as


class SimilarFound(Message):
    def __init__(
        self, generation: int, items: list[Similar], own_key: str = "", news: dict[str, GroupNews] | None = None
    ) -> None:
        super().__init__()
        self.generation = generation
        self.items = items
        self.own_key = own_key  # the demand group of the words typed
        self.news = news or {}  # HQ's answers and the store's figures of that group and the suggested ones


class SaveFailed(Message):
    """The save did not happen (the reason was posted as StoreFailed)."""


class Prepared(Message):
    """The taxonomy is read and the modules of the rest of the screen are loaded: mount it."""


class AsksLoaded(Message):
    def __init__(self, asks: list[Ask]) -> None:
        super().__init__()
        self.asks = asks


FEEDBACK_KEY = "ctrl+f"  # switches the form between an ask and feedback ([keymap] feedback = "..." moves it)


def key_name(keys: str) -> str:
    """How a person names the first of `keys`: 'ctrl+f' -> 'Ctrl+F', 'f11' -> 'F11'."""
    return "+".join(part.capitalize() if len(part) > 1 else part.upper() for part in keys.split(",")[0].strip().split("+"))


class CaptureScreen(Screen):
    """Type what was asked, one digit for what happened, Enter. Ctrl+F: what a customer said instead, rated 1-5."""

    AUTO_FOCUS = "#ask-text"
    BINDINGS = [
        Binding("escape", "clear_form", "Clear", id="clear"),
        Binding("f5", "customer", "Customer", id="customer"),
        Binding("f8", "same_as", "Same as", id="same_as"),
        Binding(FEEDBACK_KEY, "feedback", "Feedback", id="feedback"),
    ]

    def __init__(self, counter: Counter) -> None:
        super().__init__()
        self.counter = counter
        self.attached: Attached | None = None
        self._saving = False
        # Keys typed ahead, in the order they arrived, and whether one is having its effect.
        self._typed_ahead: deque[events.Key | events.Paste] = deque()
        self._waiting = False
        self._complete = False  # the rest of the screen is mounted (after the first paint)
        self._clear_armed = False
        self._shown = False
        self._similar_generation = 0  # only the answer to the latest keystroke is shown
        self._found = SimilarFound(0, [])  # the latest answer: the group line follows the highlighted suggestion

    def compose(self) -> ComposeResult:
        from textual.widgets import Header

        yield Header()
        switch_key = key_name(self.counter.config.keymap.get("feedback", FEEDBACK_KEY))
        yield AskForm(None, id="ask-form", switch_key=switch_key)  # the words only, until `_prepared`

    def on_mount(self) -> None:
        self._pump()  # keys typed before the words had the cursor (the first ones, at start-up)
        self.call_after_refresh(self.prepare)

    @work(thread=True, exclusive=True, group="prepare", exit_on_error=False)
    def prepare(self) -> None:
        """After the first paint, off the screen's thread: the taxonomy, and the modules of the rest of the screen."""
        try:
            self.counter.taxonomy  # noqa: B018 - read from its file now, off the screen's thread
        except ValueError as error:  # a pack that cannot be read (TaxonomyError): the app says so and stops
            self.app.call_from_thread(self.app.exit, return_code=2, message=f"associate: taxonomy: {error}")
            return
        for module in LOADED_AFTER_THE_FIRST_PAINT:
            importlib.import_module(module)
        self.post_message(Prepared())

    @on(Prepared)
    async def _prepared(self, event: Prepared) -> None:
        """Mount the rest: the form's other fields, the customer line, what was just logged, the status line, the keys."""
        from textual.widgets import Label

        from associate_tui.widgets.asks_table import AsksTable
        from associate_tui.widgets.key_footer import KeyFooter
        from associate_tui.widgets.literal import Plain
        from associate_tui.widgets.sync_status import SyncStatusBar

        taxonomy = self.counter.taxonomy  # the one in use now, should Setup or HQ have changed it meanwhile
        form = self.query_one(AskForm)
        await form.finish(taxonomy)
        await self.mount_all(
            [
                Plain("", id="customer-line"),
                Label("Just logged on this terminal (Tab to reach, Enter to edit)", id="recent-title", classes="section-title"),
                AsksTable(taxonomy, id="recent-asks"),
                SyncStatusBar(id="sync-status"),
                KeyFooter(),
            ]
        )
        self._complete = True
        self.refresh_bindings()  # the footer shows the keys it hears of: tell it, now it is there
        form.recognise_now()  # the words typed meanwhile: their category, attributes and suggestions
        self._look_up(self.query_one("#ask-text", Input).value)
        self._pump()
        self.load_recent()

    def on_screen_resume(self) -> None:
        # Back from another screen: show what changed there. The first showing
        # is left to `_prepared`.
        if self._shown and self._complete:
            self.load_recent()
        self._shown = True

    def unsaved(self) -> str | None:
        """What the form holds that was not saved yet, in a few words; None if it is blank."""
        form = self.query_one(AskForm)
        if form.is_blank():
            return None
        fields = ("#ask-text", "#substitute", "#note") if form.complete else ("#ask-text",)
        words = [form.query_one(field, Input).value.strip() for field in fields]
        return " · ".join(w for w in words if w)[:60] or "an outcome picked"

    def _recent(self) -> AsksTable:
        from associate_tui.widgets.asks_table import AsksTable

        return self.query_one("#recent-asks", AsksTable)

    @on(TaxonomyChanged)
    def _taxonomy_changed(self, event: TaxonomyChanged) -> None:
        if not self._complete:
            return  # `prepare` reads the taxonomy in use
        self.query_one(AskForm).set_taxonomy(event.taxonomy)
        self._recent().taxonomy = event.taxonomy
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
        """The suggestions for the words typed, with what HQ said about their groups and the words' own group."""
        from associate_tui.answers import read_news
        from schemas.demand import demand_key

        try:
            store = self.counter.get_store()
            items = store.similar_asks(text, attributes=attributes, category=category)
            own_key = demand_key(category, attributes, text, store.vocabulary)
            news = read_news(store, [own_key, *(item.key for item in items)])
        except StoreError:
            items, own_key, news = [], "", {}  # suggestions are a help, never in the way of logging
        self.post_message(SimilarFound(generation, items, own_key, news))

    def mark_came_in(self, key: str, text: str, associate: str) -> None:
        mark_came_in(self, self.counter, key, text, associate)

    @work(thread=True, group="save", exit_on_error=False)
    def save(self, draft: AskDraft, associate: str, attached: Attached | None, same_as: Similar | None = None) -> None:
        from associate_tui.asks import FEEDBACK
        from associate_tui.customers import due_on
        from associate_tui.store import FollowUpPlan  # the store loads with the first worker, not at start-up

        config = self.counter.config
        plan = None
        if attached and attached.follow_up and draft.outcome != FEEDBACK:  # a follow-up is for something to come in
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
            self.post_message(SaveFailed())
            return
        self.post_message(AskSaved(ask, draft, plan.due_on if plan else None, same_as))
        try:
            self.counter.get_store().tidy()  # after "saved": the associate never waits for it
        except StoreError:
            pass  # housekeeping only: the next save or start tries again

    # -- handlers: own the screen ----------------------------------------------

    @on(AskForm.Submitted)
    def _submitted(self, event: AskForm.Submitted) -> None:
        self._submit(event.draft)

    def _submit(self, draft: AskDraft) -> None:
        """Save the draft as it was when Enter was pressed; keys typed after it wait until it is saved."""
        from associate_tui.asks import InvalidAsk, checked

        form = self.query_one(AskForm)
        if self._saving:
            form.say("Still saving the previous ask…", "hint")
            return
        try:
            draft = checked(draft, self.counter.taxonomy)
        except InvalidAsk as invalid:
            form.show_errors(invalid.errors)
            return
        self._saving = True
        form.say("Saving…", "hint")
        self.save(draft, self.counter.associate, self.attached)

    @on(AskSaved)
    def _saved(self, event: AskSaved) -> None:
        self._report_saved(event)
        self._saving = False
        self._pump()  # the keys typed while it was saved go to the cleared form

    def _report_saved(self, event: AskSaved) -> None:
        from associate_tui.asks import FEEDBACK, AskDraft, InvalidAsk, checked, sensitive_found
        from associate_tui.ratings import rating_words
        from schemas.privacy import describe

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
        if event.ask.outcome == FEEDBACK:
            said = f"Saved feedback: {event.ask.text} — {rating_words(event.ask.rating)}"
        if event.same_as is not None:
            said = f"Same as before, {event.same_as.this_week + 1} this week: {event.ask.text}"
        if event.follow_up_due:
            said += f"; follow-up due {event.follow_up_due}"
        if masked := sensitive_found(event.draft):
            said += ". " + describe(masked)
            self.notify(describe(masked), title="Privacy", severity="warning", timeout=8)
        form.say(said, "ok")
        self._recent().put_first(event.ask)
        self.counter.sync_soon()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if report_worker_failure(self, event) and event.worker.group == "save":
            self.query_one(AskForm).say("Not saved: something went wrong. Press Enter to try again.", "error")
            self._save_failed()

    @on(StoreFailed)
    def _store_failed(self, event: StoreFailed) -> None:
        self.query_one(AskForm).say(event.text, "error")
        self.notify(event.text, title=event.title, severity="error", timeout=10)

    @on(SaveFailed)
    def _save_failed(self) -> None:
        """The ask stays on the form to try again; keys typed after its Enter are not applied to it."""
        self._saving = False
        if dropped := len(self._typed_ahead):
            self._typed_ahead.clear()
            form = self.query_one(AskForm)
            said = str(form.query_one("#form-message", Static).render())
            form.say(f"{said} ({dropped} keys typed after Enter were not used: the ask above is not saved.)", "error")

    # -- keys in the order they were typed ---------------------------------------------

    def take_key(self, widget: Widget, event: events.Key | events.Paste) -> bool:
        """A key (or paste) for one of the form's fields, from `InOrder`: queued, then handled in turn."""
        if self.app.screen is not self:
            return False
        self._typed_ahead.append(event)
        self._pump()
        return True

    def _pump(self) -> None:
        """Hand on the keys typed ahead, each once the one before has had its effect.

        Nothing is handed on while a save is in flight: the draft was taken at Enter, and
        the keys after it belong to the next ask, typed into the form once it is cleared.
        """
        while self._typed_ahead and not (self._waiting or self._saving):
            if self.app.screen is not self:  # a key took us to another screen: the rest are for it
                keys = [events.Key(e.key, e.character) for e in self._typed_ahead if isinstance(e, events.Key)]
                self._typed_ahead.clear()
                self.app.screen.call_later(self._hand_on, keys)  # once it is shown and has its focus
                return
            target = self.focused or self._cursor_to_the_words()
            if target is None:
                return  # the words are not mounted yet: on_mount hands the keys on
            event = self._typed_ahead[0]
            if not self._complete and not (isinstance(target, Input) and isinstance(event, events.Key) and event.is_printable):
                return  # Enter, Tab, a digit's outcome, F-keys: once the rest is mounted (`_prepared` hands them on)
            self._typed_ahead.popleft()
            if not self._handled_now(target, event):
                # Enter, Tab and the like: in the field's own queue, after the keys already
                # given to it, and nothing else is handed on until it has had its effect.
                self._waiting = True
                if not (target or self).call_later(self._handle_in_turn, target, event):
                    self.call_later(self._handle_in_turn, target, event)  # the field is gone: in turn here

    def _forward_event(self, event: events.Event) -> None:
        # A key while nothing has the cursor (the screen is still starting) comes here: it is the form's, in its turn.
        if isinstance(event, (events.Key, events.Paste)) and not event.is_forwarded and self.focused is None:
            if self.take_key(self, event):
                return
        super()._forward_event(event)

    def _cursor_to_the_words(self) -> Widget | None:
        """Nothing has the cursor: the ask's words take it (None before they are mounted)."""
        words = self.query("#ask-text")
        if not words:
            return None
        self.set_focus(words.first())
        return self.focused

    def _hand_on(self, keys: list[events.Key]) -> None:
        for key in keys:
            self.app.post_message(key)

    def _handled_now(self, target: Widget | None, event: events.Key | events.Paste) -> bool:
        """Give the key to the field if it only edits that field; False for keys that do more."""
        if target is None or not isinstance(target, InOrder) or isinstance(event, events.Paste):
            Widget._forward_event(target or self, event)  # as Textual would
            return True
        if isinstance(target, Input):
            if event.is_printable:
                Widget._forward_event(target, event)
                return True
            return False
        if isinstance(target, SameAsList):
            return self._same_as_key(target, event)
        # A digit on the outcome, a letter on the category: the field's own on_key, now.
        if on_key := getattr(target, "on_key", None):
            on_key(event)
            return event._stop_propagation  # it took the key; otherwise its bindings will
        return False

    async def _handle_in_turn(self, target: Widget | None, event: events.Key) -> None:
        try:
            form = self.query_one(AskForm)
            if event.key == "enter" and target is not None and form in target.ancestors:
                if (draft := form.press_enter()) is not None:
                    self._submit(draft)
            else:
                await self.app._check_bindings(event.key)  # what the app does with a key no field took
        finally:
            self._waiting = False
            self._pump()

    def _same_as_key(self, similar: SameAsList, event: events.Key) -> bool:
        """Enter or a digit logs the highlighted or numbered ask again; Esc goes back to typing."""
        if event.key == "escape":
            self._back_to_typing()
        elif event.key == "enter" and similar.items:
            self._log_same_as(similar.items[similar.highlighted])
        elif event.character and event.character.isdigit() and 0 < int(event.character) <= len(similar.items):
            similar.highlighted = int(event.character) - 1
            self._log_same_as(similar.items[similar.highlighted])
        else:
            return False
        return True

    @on(Input.Changed, "#ask-text")
    def _typed(self, event: Input.Changed) -> None:
        self._look_up(event.value)

    def _look_up(self, text: str) -> None:
        """Suggestions (and the group line) for the words typed; only the latest answer is shown."""
        from associate_tui.asks import parse_attributes
        from associate_tui.widgets.category_picker import CategoryPicker

        if not self._complete:
            return  # `_prepared` looks the words up
        self._similar_generation += 1
        form = self.query_one(AskForm)
        if len(text.strip()) < 2 or form.feedback:  # what a customer said is not demand to log again
            self._found = SimilarFound(self._similar_generation, [])
            form.query_one(SimilarAsks).show([])
            form.show_news([])
            return
        attributes = parse_attributes(form.query_one("#attributes", Input).value)
        category = form.query_one("#category", CategoryPicker).value
        self.look_up_similar(self._similar_generation, text, attributes, category)

    @on(SimilarFound)
    def _similar_found(self, event: SimilarFound) -> None:
        if event.generation == self._similar_generation:
            self._found = event
            figures = {key: news.figures for key, news in event.news.items() if news.figures}
            self.query_one(SimilarAsks).show(event.items, figures)
            self._show_news()

    @on(SimilarAsks.Highlighted)
    def _show_news(self) -> None:
        """The group line: about the highlighted suggestion in the list, else the words typed, else suggestion 1."""
        from associate_tui.answers import about, hq_words, store_words

        found, similar = self._found, self.query_one(SimilarAsks)
        keys = [item.key for item in found.items]
        if similar.reachable and keys:
            key = keys[min(similar.highlighted, len(keys) - 1)]
        elif (own := found.news.get(found.own_key)) and own.anything:
            key = found.own_key
        else:
            key = keys[0] if keys else ""
        news = found.news.get(key)
        number = None if key == found.own_key or key not in keys else keys.index(key) + 1
        lines = [hq_words(news), store_words(news.figures) if news else ""]
        self.query_one(AskForm).show_news([about(line, number) for line in lines if line])

    @on(SimilarAsks.CameIn)
    def _came_in(self, event: SimilarAsks.CameIn) -> None:
        self.mark_came_in(event.similar.key, event.similar.ask.text, self.counter.associate)

    @on(CameInMarked)
    def _marked(self, event: CameInMarked) -> None:
        from associate_tui.answers import came_in_words

        said = came_in_words(event.text, event.woken)
        self.query_one(AskForm).say(said, "ok")
        self.notify(said, title="It came in", timeout=6)
        self.counter.sync_soon()  # the follow-ups it woke are new versions for HQ
        self._look_up(self.query_one("#ask-text", Input).value)  # the group line says "in stock here" now

    def action_feedback(self) -> None:
        """Switch the form between an ask and feedback; the words typed stay."""
        form = self.query_one(AskForm)
        form.query_one(SameAsList).reachable = False
        form.switch_mode()
        self._look_up(form.query_one("#ask-text", Input).value)  # back to an ask, the suggestions return

    def action_same_as(self) -> None:
        similar = self.query_one(SimilarAsks)
        form = self.query_one(AskForm)
        if form.feedback:
            form.say("Feedback is typed, not logged again: say what the customer said, then 1-5 and Enter.", "hint")
            return
        if not similar.items:
            form.say("Nothing logged here in the last 30 days looks like this; type the ask and press Enter.", "hint")
            return
        similar.reachable = True  # by F8 only, never by Tab
        self.set_focus(similar)
        self._show_news()
        form.say("Enter or 1-3: log it again · i: it came in · Esc: back to typing", "hint")

    @on(SimilarAsks.Picked)
    def _same_as(self, event: SimilarAsks.Picked) -> None:
        self._log_same_as(event.similar)

    def _log_same_as(self, similar: Similar) -> None:
        from associate_tui.asks import InvalidAsk, checked

        form = self.query_one(AskForm)
        if self._saving:
            form.say("Still saving the previous ask…", "hint")
            return
        earlier = similar.ask
        channel = form.query_one("#channel").value or earlier.channel
        # The customer's own ask: what was asked and what happened, as then; nothing of theirs.
        draft = replace(earlier.draft(), channel=channel, quantity=1, note=None, substitute_accepted=None)
        try:
            draft = checked(draft, self.counter.taxonomy)
        except InvalidAsk as invalid:
            form.say(f"Cannot log the same again: {invalid}. Type the ask instead.", "error")
            return
        self._saving = True
        self._to_the_words(form)
        form.say("Saving…", "hint")
        self.save(draft, self.counter.associate, self.attached, similar)

    @on(SimilarAsks.Left)
    def _back_to_typing(self) -> None:
        form = self.query_one(AskForm)
        self._to_the_words(form)
        form.say("")

    def _to_the_words(self, form: AskForm) -> None:
        form.query_one(SameAsList).reachable = False
        self.set_focus(form.query_one("#ask-text"))
        self._show_news()

    @on(AsksLoaded)
    def _loaded(self, event: AsksLoaded) -> None:
        self._recent().show(event.asks)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on an ask just logged: edit it. (By name, not @on: the table's module loads after the first paint.)"""
        from associate_tui.screens.edit import edit_from_table

        if event.data_table.id != "recent-asks":
            return
        edit_from_table(self.counter, self._recent(), event.row_key.value)

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
        from associate_tui.screens.customers import CustomerPickerScreen

        def chosen(attached: Attached | None) -> None:
            if attached is not None:
                self.attach(attached)

        self.app.push_screen(CustomerPickerScreen(self.counter), chosen)

    def attach(self, attached: Attached) -> None:
        from associate_tui.customers import due_on

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
