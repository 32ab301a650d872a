"""Small modal dialogs: who is logging, why an ask is voided, setup, help."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from associate_tui import config as config_module
from associate_tui.asks import check_associate, check_void_reason, digit_for
from associate_tui.screens.messages import show
from associate_tui.widgets.choice import Choice, Option
from associate_tui.widgets.literal import Plain
from schemas import limits
from schemas.taxonomy import BUILTIN_PACKS

if TYPE_CHECKING:
    from schemas.taxonomy import Taxonomy


class AssociateScreen(ModalScreen[str | None]):
    """Several associates share a terminal: one key, a short code, Enter."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="cancel")]

    def __init__(self, current: str) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog small-dialog"):
            yield Plain(f"Who is logging? (now {self.current})", classes="dialog-title")
            yield Input(placeholder="your associate code, e.g. AB or 1042", id="associate-code", max_length=limits.MAX_ASSOCIATE)
            yield Static("Enter switches · Esc cancels", id="associate-message", classes="-hint")

    @on(Input.Submitted, "#associate-code")
    def _submitted(self, event: Input.Submitted) -> None:
        code = event.value.strip().upper()
        if problem := check_associate(code):
            show(self.query_one("#associate-message", Static), f"Associate code: {problem}.", "error")
            return
        self.dismiss(code)


class VoidReasonScreen(ModalScreen[str | None]):
    """Voiding keeps the ask (and syncs it) but marks it as not to be counted."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="cancel")]

    def __init__(self, ask_text: str) -> None:
        super().__init__()
        self.ask_text = ask_text

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog small-dialog"):
            yield Plain(f"Void “{self.ask_text}”? It stays on file, marked void.", classes="dialog-title")
            yield Input(placeholder="why, e.g. logged twice", id="void-reason", max_length=limits.MAX_VOID_REASON)
            yield Static("Enter voids · Esc keeps the ask", id="void-message", classes="-hint")

    @on(Input.Submitted, "#void-reason")
    def _submitted(self, event: Input.Submitted) -> None:
        if problem := check_void_reason(event.value):
            show(self.query_one("#void-message", Static), f"Reason: {problem}.", "error")
            return
        self.dismiss(" ".join(event.value.split()))


class SettingsScreen(ModalScreen["config_module.Config | None"]):
    """Store, terminal and taxonomy pack for this counter, written to the config file."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="cancel")]

    def __init__(self, config: config_module.Config) -> None:
        super().__init__()
        self.config = config

    def compose(self) -> ComposeResult:
        packs = list(BUILTIN_PACKS)
        if self.config.taxonomy not in packs:
            packs.append(self.config.taxonomy)
        with Vertical(classes="dialog"):
            yield Static("Setup for this counter (saved to the config file)", classes="dialog-title")
            with Horizontal(classes="row"):
                yield Label("Store", classes="field-label")
                yield Input(self.config.store_id, id="store-id", compact=True, max_length=limits.MAX_ID)
            with Horizontal(classes="row"):
                yield Label("Terminal", classes="field-label")
                yield Input(self.config.terminal_id, id="terminal-id", compact=True, max_length=limits.MAX_ID)
            with Horizontal(classes="row"):
                yield Label("Taxonomy", classes="field-label")
                yield Choice(
                    [Option(name, name, digit_for(i)) for i, name in enumerate(packs)],
                    value=self.config.taxonomy,
                    id="taxonomy",
                )
            with Horizontal(classes="row"):
                yield Label("Associate", classes="field-label")
                yield Input(self.config.associate, id="default-associate", compact=True, max_length=limits.MAX_ASSOCIATE)
            yield Plain(
                f"Tab moves · Enter saves to {config_module.config_path()} · Esc cancels",
                id="settings-message",
                classes="-hint",
            )

    @on(Input.Submitted)
    @on(Choice.Submitted)
    def _submitted(self) -> None:
        store_id = self.query_one("#store-id", Input).value.strip()
        terminal_id = self.query_one("#terminal-id", Input).value.strip()
        associate = self.query_one("#default-associate", Input).value.strip().upper()
        problem = (
            config_module.check_id(store_id, "Store")
            or config_module.check_id(terminal_id, "Terminal")
            or (f"Associate: {p}" if (p := check_associate(associate)) else None)
        )
        if problem:
            show(self.query_one("#settings-message", Static), problem + ".", "error")
            return
        self.dismiss(
            self.config.with_changes(
                store_id=store_id,
                terminal_id=terminal_id,
                associate=associate,
                taxonomy=self.query_one("#taxonomy", Choice).value or self.config.taxonomy,
            )
        )


class QuitScreen(ModalScreen[bool]):
    """F10 with an ask half typed: one more key, so a slip does not lose what the customer said."""

    BINDINGS = [
        Binding("escape,n", "dismiss(False)", "Stay", id="stay"),
        Binding("y,f10", "dismiss(True)", "Quit", id="confirm_quit"),
    ]

    def __init__(self, unsaved: str) -> None:
        super().__init__()
        self.unsaved = unsaved

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog small-dialog"):
            yield Plain("Quit? The ask on the form is not saved.", classes="dialog-title")
            yield Plain(f"“{self.unsaved}”", id="quit-unsaved")
            yield Static("y quits and loses it · n or Esc goes back to the form", classes="-hint")


class HelpScreen(ModalScreen[None]):
    """The keys at the counter and what each outcome digit means."""

    BINDINGS = [
        Binding("escape,f1", "dismiss(None)", "Close", id="close_help"),
    ]

    def __init__(self, taxonomy: Taxonomy) -> None:
        super().__init__()
        self.taxonomy = taxonomy

    def compose(self) -> ComposeResult:
        from textual.widgets import Markdown  # markdown-it is not worth loading before F1 is pressed

        taxonomy = self.taxonomy
        outcomes = "\n".join(
            f"| {digit_for(i)} | {o.label} | {'yes' if o.unmet else 'no'} | {o.help} |" for i, o in enumerate(taxonomy.outcomes)
        )
        text = f"""\
Esc or F1 closes this help; the arrows and PgUp/PgDn scroll it.

# Keys at the counter

| Key | What it does |
|---|---|
| type | what the customer asked for; colours, sizes and the category fill in |
| ↑ ↓ in the ask | change the suggested category |
| Enter | next step: to the outcome, then save |
| 1-9, 0 | pick the outcome |
| Ctrl+F | feedback instead of an ask: what the customer said about a product or service (praise, a complaint, an idea); with words typed it goes straight to the rating; again: back to an ask |
| 1-5 (on Rating) | rate the feedback: 1 let down, 2 unhappy, 3 so-so, 4 liked it, 5 loved it; Enter saves, and the form is ready for an ask |
| Tab / Shift+Tab | next / previous field |
| y / n / u (on the field after Instead) | the customer accepted / declined what was offered instead / not asked; Tab from *Instead* gets there |
| w p c e (on Channel) | walk-in, phone, chat, email |
| Esc Esc | clear the form |
| F2 / F3 | new ask / recent asks (search, edit, void) |
| F4 | switch who is logging |
| F5 | on the form: attach a customer (find, add, edit, erase) |
| F6 | sync: link to HQ, pending, asks HQ refused (s = sync now) |
| F7 | follow-ups due today and overdue, those *in stock now* first (d = done, z = snooze) |
| F8 (on the form) | the asks logged before that look like this one: Enter or 1-3 logs it again for this customer |
| i (after F8, on a suggestion) | it came in: the group is in stock here, and its open follow-ups are due today, *in stock now* |
| F8 (in an ask) | void it with a reason |
| F9 | setup: store, terminal, taxonomy |
| F12 | insights: top unmet asks, by category and attribute, substitutes, follow-ups won back (t / w / m) |
| Ctrl+P | every command, and the theme |
| F10 | quit (with an ask half typed: y quits, n or Esc goes back) |

# Keys on the other screens

| Screen | Keys |
|---|---|
| F3 Recent | type to search; Tab to the filter, then a (all) or an outcome digit, f (feedback); Esc clears the search; F5 refreshes; Enter opens an ask |
| An opened ask | Enter saves the change (feedback: 1-5 on Rating changes the rating); F8 voids it; Esc closes |
| F6 Sync | s syncs now |
| F7 Follow-ups | d done (then a digit for the result), z snooze, a all open, m mine / everyone's |
| F12 Insights | t today, w week, m month; ↑↓ a top group, i it came in; F5 refreshes |

Every screen's keys are also in its two footer lines. Under the suggestions, the form shows HQ's answer
about the group (planned, expected when, declined, in stock here) and the whole store's count as HQ last
sent it, with its date.

# Outcomes ({taxonomy.label})

| Key | Outcome | Unmet demand | Meaning |
|---|---|---|---|
{outcomes}
"""
        with VerticalScroll(classes="dialog help-dialog"):
            yield Markdown(text)
