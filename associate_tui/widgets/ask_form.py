"""The ask form: what was asked for, what happened, what was offered instead.

Used by the capture screen (a new ask) and the edit screen (an existing one).
It turns keystrokes into an `AskDraft`; saving is the screen's job.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Input, Label, Static

from associate_tui.ratings import RATINGS, rating_words
from associate_tui.widgets.category_picker import CategoryPicker
from associate_tui.widgets.choice import Choice, InOrder, Option
from associate_tui.widgets.literal import Plain, literal
from associate_tui.widgets.similar_asks import SimilarAsks
from schemas.limits import MAX_NOTE, MAX_QUANTITY, MAX_SUBSTITUTE, MAX_TEXT

if TYPE_CHECKING:
    from associate_tui.asks import AskDraft, FieldError
    from schemas.taxonomy import Taxonomy

ASK_PROMPT = "What did the customer ask for?"
FEEDBACK_PROMPT = "What did the customer say? Praise, a complaint, an idea"
RATE_HINT = "How did the customer find it? Press 1 (let down) to 5 (loved it)."
ATTRIBUTES_PROMPT = "recognised from the {}, e.g. colour=blue size=M"

# The outcomes that mean something else was offered: Enter on one asks once what it was.
SUBSTITUTE_OUTCOMES = frozenset({"substituted"})

# Which widget shows the problem with which draft field.
FIELD_WIDGETS = {
    "text": "#ask-text",
    "attributes": "#attributes",
    "category": "#category",
    "outcome": "#outcome",
    "rating": "#rating",
    "substitute": "#substitute",
    "quantity": "#quantity",
    "channel": "#channel",
    "note": "#note",
}


def outcome_options(taxonomy: Taxonomy) -> list[Option]:
    from associate_tui.asks import digit_for  # the asks' rules (and the privacy guard's patterns): after the first paint

    return [Option(o.code, o.label, digit_for(i)) for i, o in enumerate(taxonomy.outcomes)]


def rating_options() -> list[Option]:
    return [Option(str(rating), words, str(rating)) for rating, words in RATINGS.items()]


def channel_options(taxonomy: Taxonomy) -> list[Option]:
    options: list[Option] = []
    used: set[str] = set()
    for channel in taxonomy.channels:
        key = next((ch for ch in channel.lower() if ch.isalpha() and ch not in used), channel[0])
        used.add(key)
        options.append(Option(channel, channel, key))
    return options


class FormInput(InOrder, Input):
    """A text field of the form: its keys reach it in order (see `InOrder`).

    What does not fit is cut, keeping what fits, and a paste of several lines is
    joined into one; either way the field says so (`Trimmed`) rather than cut or
    drop words without a word (Textual refuses a paste that is too long outright,
    and keeps only the first of its lines).
    """

    class Trimmed(Message):
        """Words typed or pasted were not taken as they came: `words` say what happened."""

        def __init__(self, field: FormInput, words: str, *, lost: bool) -> None:
            super().__init__()
            self.field = field
            self.words = words
            self.lost = lost  # some of what was typed is not in the field

    _pasting = False
    _was_cut = False

    def replace(self, text: str, start: int, end: int) -> None:
        if self.max_length and self.type == "text":
            start, end = sorted((max(0, start), min(len(self.value), end)))
            room = self.max_length - (len(self.value) - (end - start))
            if len(text) > room:
                text = text[: max(room, 0)]
                self._was_cut = True
                if not self._pasting:
                    self.post_message(self.Trimmed(self, self._cut_words(), lost=True))
        super().replace(text, start, end)

    def _cut_words(self) -> str:
        return f"Cut to {self.max_length} characters: the rest did not fit."

    def _on_paste(self, event: events.Paste) -> None:
        event.stop()
        event.prevent_default()  # instead of Input's own paste, which keeps the first line only
        lines = [line for line in event.text.splitlines() if line.strip()]
        joined = len(lines) > 1
        text = " ".join(line.strip() for line in lines) if joined else "".join(lines)
        self._pasting, self._was_cut = True, False
        try:
            if self.selection.is_empty:
                self.insert_text_at_cursor(text)
            else:
                self.replace(text, *self.selection)
        finally:
            self._pasting = False
        if joined and self._was_cut:
            said = f"The pasted lines were joined into one, then cut to {self.max_length} characters."
        elif joined or self._was_cut:
            said = "The pasted lines were joined into one." if joined else self._cut_words()
        else:
            return
        self.post_message(self.Trimmed(self, said, lost=self._was_cut))


class AttributesInput(FormInput):
    """The attributes: what is typed adds to what is there, never replaces it.

    Focus leaves the cursor at the end with nothing selected, and the first words
    typed there are set apart from the last attribute by a space: `colour=blue`
    typed after `size=M` makes `size=M colour=blue`.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(select_on_focus=False, **kwargs)
        self._adding = False

    def _on_focus(self, event: events.Focus) -> None:
        self.cursor_position = len(self.value)
        self._adding = True

    def insert_text_at_cursor(self, text: str) -> None:
        value = self.value
        at_end = self.cursor_position == len(value)
        if self._adding and at_end and value and not value[-1].isspace() and not text[:1].isspace():
            text = " " + text
        super().insert_text_at_cursor(text)

    def replace(self, text: str, start: int, end: int) -> None:
        self._adding = False  # any edit after focus: the associate is placing their own words
        super().replace(text, start, end)


class FormPicker(InOrder, CategoryPicker):
    """The category picker, its keys in order."""


class SameAsList(InOrder, SimilarAsks):
    """The "same as" suggestions: reached with F8 only, never with Tab.

    They come and go as the words are looked up, so with Tab in the chain a Tab typed
    ahead would land on them or not depending on how fast the look-up was, and a digit
    typed after it would log someone else's ask.
    """

    reachable = False

    def allow_focus(self) -> bool:
        return self.reachable and super().allow_focus()

    def on_blur(self) -> None:
        self.reachable = False


def read_as(corrections: list[tuple[str, str]]) -> str:
    """The words recognition read as others, e.g. "read as: blu → blue, jaket → jacket"; "" if none."""
    pairs = list(dict.fromkeys(f"{typed} → {understood}" for typed, understood in corrections))
    return "read as: " + ", ".join(pairs) if pairs else ""


class RatingChoice(Choice):
    """The rating of feedback: one digit, 1 to 5. Another digit is refused with words, not ignored."""

    class Refused(Message):
        def __init__(self, choice: RatingChoice, digit: str) -> None:
            super().__init__()
            self.choice = choice
            self.digit = digit

    def on_key(self, event: events.Key) -> None:
        super().on_key(event)
        if not event._stop_propagation and event.character and event.character.isdigit():
            event.stop()
            event.prevent_default()
            self.post_message(self.Refused(self, event.character))


ACCEPTED_OPTIONS = [Option(None, "not asked", "u"), Option("yes", "accepted", "y"), Option("no", "declined", "n")]


class AskForm(Widget):
    """Keyboard-first entry of one ask, or of feedback (what a customer said, rated 1-5). Enter anywhere asks to save it.

    Feedback is an ask whose outcome is 'feedback': the same words, category and
    attributes, a rating instead of the outcome, and nothing offered instead.
    """

    DEFAULT_CSS = """
    AskForm #mode-line {
        display: none;
        height: 1;
        padding-left: 1;
        background: $accent 30%;
        text-style: bold;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    AskForm.-feedback #mode-line, AskForm.-feedback .feedback-only {
        display: block;
    }
    AskForm .feedback-only, AskForm.-feedback .ask-only {
        display: none;
    }
    AskForm.-feedback #text-label {
        color: $text-accent;
        text-style: bold;
    }
    AskForm #read-as {
        width: auto;
        max-width: 44;
        height: 1;
        padding-left: 2;
        color: $text-muted;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    BINDINGS = [
        Binding("up", "arrow(-1)", "Category / field", show=False),
        Binding("down", "arrow(1)", "Category / field", show=False),
    ]

    class Submitted(Message):
        """The associate pressed Enter with a complete-looking draft."""

        def __init__(self, form: AskForm, draft: AskDraft) -> None:
            super().__init__()
            self.form = form
            self.draft = draft

    def __init__(self, taxonomy: Taxonomy | None, *, id: str | None = None, switch_key: str | None = None) -> None:
        """With no taxonomy yet, the form is the ask's words only until `finish` (the capture screen's first paint)."""
        super().__init__(id=id)
        self.taxonomy = taxonomy  # None only until finish(), and only on the capture screen
        self.complete = taxonomy is not None
        self.switch_key = switch_key  # the key that switches between an ask and feedback, where there is one
        self.feedback = False
        self.attributes_by_hand = False
        # What we last wrote into the attributes field ourselves: any other
        # value there means the associate corrected it, and it is theirs now.
        self._auto_attributes = ""
        self._filling = False
        self._recognised = ""  # the words the category and attributes were last recognised from
        self._substitute_asked = False  # Enter has asked what was offered: Enter again saves without it
        self._said_before_finish: tuple[str, str] | None = None  # the message line is mounted by finish()

    def compose(self) -> ComposeResult:
        if self.complete:
            yield self._mode_line()
        yield Horizontal(
            Label("Ask", classes="field-label", id="text-label"),
            # Back in the ask (Shift+Tab), the cursor goes to the end: one key must not replace the words.
            FormInput(placeholder=ASK_PROMPT, id="ask-text", compact=True, max_length=MAX_TEXT, select_on_focus=False),
            classes="row",
        )
        if self.complete:
            yield from self._fields_after_the_ask()

    async def finish(self, taxonomy: Taxonomy) -> None:
        """Mount the fields after the ask's words, for `taxonomy`; what was typed meanwhile stays."""
        self.taxonomy = taxonomy
        await self.mount(self._mode_line(), before=0)
        await self.mount_all(self._fields_after_the_ask())
        self.complete = True
        if self._said_before_finish:
            self.say(*self._said_before_finish)

    def _mode_line(self) -> Static:
        back = f" · {self.switch_key}: back to an ask" if self.switch_key else ""
        return Static(f"Feedback: what the customer said, rated 1-5{back}", id="mode-line", markup=False)

    def _fields_after_the_ask(self) -> list[Widget]:
        def row(label: str, *fields: Widget, classes: str = "") -> Horizontal:
            return Horizontal(Label(label, classes="field-label"), *fields, classes=f"row {classes}".strip())

        taxonomy = self.taxonomy
        return [
            SameAsList(taxonomy, id="similar"),
            Plain("", id="group-news"),  # HQ's answer and the store's figures for the group of the ask or suggestion
            row("Attributes", AttributesInput(placeholder=ATTRIBUTES_PROMPT.format("ask"), id="attributes", compact=True)),
            # The words read as others, so the associate sees the correction.
            row("Category", FormPicker(taxonomy, id="category"), Plain("", id="read-as")),
            row("Outcome", Choice(outcome_options(taxonomy), id="outcome"), classes="outcome-row ask-only"),
            row("Rating", RatingChoice(rating_options(), id="rating"), classes="outcome-row feedback-only"),
            row(
                "Instead",
                FormInput(placeholder="what was offered instead", id="substitute", compact=True, max_length=MAX_SUBSTITUTE),
                Choice(ACCEPTED_OPTIONS, id="accepted"),
                classes="ask-only",
            ),
            row(
                "Channel",
                Choice(channel_options(taxonomy), value=taxonomy.channels[0], id="channel"),
                Label("Qty", classes="inline-label ask-only"),
                FormInput(
                    value="1", type="integer", id="quantity", classes="ask-only", compact=True, max_length=len(str(MAX_QUANTITY))
                ),
            ),
            row("Note", FormInput(placeholder="optional note", id="note", compact=True, max_length=MAX_NOTE)),
            Static("", id="form-message"),
        ]

    # -- reading and writing the fields ------------------------------------

    def draft(self) -> AskDraft | list[FieldError]:
        """The draft on screen, or the problems that stop it being read at all."""
        from associate_tui.asks import FEEDBACK, AskDraft, FieldError, parse_attributes, stray_attribute_text

        problems: list[FieldError] = []
        attributes_text = self.query_one("#attributes", Input).value
        if stray := stray_attribute_text(attributes_text):
            problems.append(FieldError("attributes", f"'{stray}' is not key=value; write e.g. colour=blue size=M"))
        quantity_text = self.query_one("#quantity", Input).value.strip() or "1"
        try:
            quantity = 1 if self.feedback else int(quantity_text)
        except ValueError:
            problems.append(FieldError("quantity", "must be a whole number, e.g. 1"))
            quantity = 1
        if problems:
            return problems
        draft = AskDraft(
            text=self.query_one("#ask-text", Input).value,
            outcome=self.query_one("#outcome", Choice).value or "",
            category=self.query_one("#category", CategoryPicker).value,
            attributes=parse_attributes(attributes_text),
            channel=self.query_one("#channel", Choice).value or self.taxonomy.channels[0],
            note=self.query_one("#note", Input).value,
        )
        if self.feedback:  # what was offered instead and how many do not apply to what a customer said
            rating = self.query_one("#rating", Choice).value
            return replace(draft, outcome=FEEDBACK, rating=int(rating) if rating else None)
        accepted = self.query_one("#accepted", Choice).value
        return replace(
            draft,
            substitute=self.query_one("#substitute", Input).value,
            substitute_accepted=None if accepted is None else accepted == "yes",
            quantity=quantity,
        )

    def is_blank(self) -> bool:
        if not self.complete:
            return not self.query_one("#ask-text", Input).value.strip()
        return (
            not any(self.query_one(selector, Input).value.strip() for selector in ("#ask-text", "#substitute", "#note"))
            and self.query_one("#outcome", Choice).value is None
            and self.query_one("#rating", Choice).value is None
        )

    def set_feedback(self, on: bool) -> None:
        """Show the form for feedback (a rating row, nothing offered instead) or for an ask; the words stay."""
        self.feedback = on
        self.set_class(on, "-feedback")
        self.query_one("#text-label", Label).update("Said" if on else "Ask")
        self.query_one("#ask-text", Input).placeholder = FEEDBACK_PROMPT if on else ASK_PROMPT
        self.query_one("#attributes", Input).placeholder = ATTRIBUTES_PROMPT.format("words" if on else "ask")
        for selector in ("#outcome", "#rating", "#substitute", "#quantity"):
            self.query_one(selector).remove_class("-invalid")

    def switch_mode(self) -> None:
        """Ask ⇄ feedback. With words typed the cursor goes to the rating (or the outcome): a digit, then Enter."""
        self.set_feedback(not self.feedback)
        picker = self.query_one("#rating" if self.feedback else "#outcome", Choice)
        if self.query_one("#ask-text", Input).value.strip() and picker.value is None:
            self.screen.set_focus(picker)
            self.say(self._pick_hint(picker), "hint")
            return
        self.screen.set_focus(self.query_one("#ask-text", Input))
        self.say("Feedback: type what the customer said; Enter, then 1-5." if self.feedback else "Back to an ask.", "hint")

    def _pick_hint(self, picker: Choice) -> str:
        if picker.id == "rating":
            return RATE_HINT
        return "What happened? Press a digit: " + "  ".join(f"{o.key} {o.label}" for o in picker.options)

    def fill(self, draft: AskDraft) -> None:
        """Show an existing ask for editing: nothing is re-guessed from its words."""
        from associate_tui.asks import FEEDBACK, format_attributes

        self._filling = True
        try:
            self.query_one("#ask-text", Input).value = draft.text
            self.query_one("#attributes", Input).value = format_attributes(draft.attributes)
            self.query_one("#category", CategoryPicker).set_by_hand(draft.category)
            self.set_feedback(draft.outcome == FEEDBACK)
            self.query_one("#outcome", Choice).value = None if self.feedback else draft.outcome
            self.query_one("#rating", Choice).value = str(draft.rating) if draft.rating else None
            self.query_one("#substitute", Input).value = draft.substitute or ""
            accepted = None if draft.substitute_accepted is None else ("yes" if draft.substitute_accepted else "no")
            self.query_one("#accepted", Choice).value = accepted
            self.query_one("#channel", Choice).value = draft.channel
            self.query_one("#quantity", Input).value = str(draft.quantity)
            self.query_one("#note", Input).value = draft.note or ""
            self.attributes_by_hand = True
            self._recognised = draft.text
            self._substitute_asked = False
            self.query_one("#read-as", Plain).update("")
        finally:
            self._filling = False

    def clear(self) -> None:
        """Ready for the next customer."""
        self._filling = True
        try:
            for selector in ("#ask-text", "#attributes", "#substitute", "#note"):
                self.query_one(selector, Input).value = ""
            self.query_one("#quantity", Input).value = "1"
            self.query_one("#category", CategoryPicker).reset(self.taxonomy)
            self.query_one("#outcome", Choice).value = None
            self.query_one("#rating", Choice).value = None
            self.set_feedback(False)  # the next customer most likely asks for something
            self.query_one("#accepted", Choice).value = None
            self.query_one("#channel", Choice).value = self.taxonomy.channels[0]
            self.attributes_by_hand = False
            self._auto_attributes = ""
            self._recognised = ""
            self._substitute_asked = False
            self.query_one("#read-as", Plain).update("")
            self.query_one(SimilarAsks).show([])
            self.show_news([])
            self.show_errors([])
        finally:
            self._filling = False
        self.screen.set_focus(self.query_one("#ask-text", Input))  # now: the next key is the next ask's

    def set_taxonomy(self, taxonomy: Taxonomy) -> None:
        self.taxonomy = taxonomy
        self.query_one(SimilarAsks).taxonomy = taxonomy
        self.query_one("#outcome", Choice).set_options(outcome_options(taxonomy))
        self.query_one("#channel", Choice).set_options(channel_options(taxonomy), taxonomy.channels[0])
        self.query_one("#category", CategoryPicker).reset(taxonomy)

    # -- feedback ------------------------------------------------------------

    def say(self, text: str, kind: str = "info") -> None:
        if not self.complete:  # e.g. words cut to fit, typed before the rest of the form is there
            self._said_before_finish = (text, kind)
            return
        message = self.query_one("#form-message", Static)
        message.update(literal(text))
        message.set_classes(f"-{kind}")

    def show_news(self, lines: list[str]) -> None:
        """HQ's answer and the store's figures about the group in view, a line each, cut to the width; none hides it."""
        news = self.query_one("#group-news", Plain)
        text = literal("\n".join(lines), lines=True)
        text.no_wrap, text.overflow = True, "ellipsis"
        news.update(text)
        news.display = bool(lines)

    def show_errors(self, errors: list[FieldError]) -> None:
        """Mark the fields in error, say what to do, and put the cursor on the first."""
        for selector in FIELD_WIDGETS.values():
            self.query_one(selector).remove_class("-invalid")
        if not errors:
            self.say("")
            return
        for error in errors:
            self.query_one(FIELD_WIDGETS[error.field]).add_class("-invalid")
        first = errors[0]
        more = f"  (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        self.say(f"{first.field.capitalize()}: {first.message}{more}", "error")
        self.screen.set_focus(self.query_one(FIELD_WIDGETS[first.field]))

    # -- keys and events -----------------------------------------------------

    def recognise_now(self) -> None:
        """Category and attributes for the words on screen now.

        Each keystroke's Changed message arrives later than the keystroke; in a burst the
        words are complete before the messages are read. So this reads the field itself,
        and Enter calls it before taking the draft.
        """
        from associate_tui.asks import format_attributes

        text = self.query_one("#ask-text", Input).value
        if not self.complete or text == self._recognised:
            return
        self._recognised = text
        self.query_one("#read-as", Plain).update(read_as(self.taxonomy.corrections(text)))
        self.query_one("#category", CategoryPicker).suggest(self.taxonomy.suggest_categories(text, limit=5))
        attributes = self.query_one("#attributes", Input)
        if attributes.value != self._auto_attributes:
            self.attributes_by_hand = True
        if not self.attributes_by_hand:
            self._auto_attributes = format_attributes(self.taxonomy.recognise(text))
            attributes.value = self._auto_attributes

    @on(Input.Changed, "#ask-text")
    def _recognise(self, event: Input.Changed) -> None:
        if not self._filling:
            self.recognise_now()

    @on(Input.Changed, "#attributes")
    def _attributes_edited(self, event: Input.Changed) -> None:
        # The field as it is now: an older message may carry a value we wrote ourselves since.
        if self.query_one("#attributes", Input).value != self._auto_attributes:
            self.attributes_by_hand = True

    @on(Choice.Changed, "#outcome")
    def _outcome_picked(self, event: Choice.Changed) -> None:
        event.choice.remove_class("-invalid")
        if event.value and not self._filling:
            outcome = self.taxonomy.outcome(event.value)
            if outcome and outcome.code in SUBSTITUTE_OUTCOMES:
                self.say(f"{outcome.label}. Enter or Tab: what was offered instead.", "hint")
            elif outcome:
                self.say(f"{outcome.label}. Enter saves; Tab for what was offered instead.", "hint")

    @on(Choice.Changed, "#rating")
    def _rated(self, event: Choice.Changed) -> None:
        event.choice.remove_class("-invalid")
        if event.value and not self._filling:
            self.say(f"{rating_words(int(event.value))}. Enter saves.", "hint")

    @on(RatingChoice.Refused)
    def _not_a_rating(self, event: RatingChoice.Refused) -> None:
        event.choice.add_class("-invalid")
        self.say(f"{event.digit} is not a rating: press 1 (let down) to 5 (loved it).", "error")

    @on(FormInput.Trimmed)
    def _trimmed(self, event: FormInput.Trimmed) -> None:
        self.say(event.words, "error" if event.lost else "hint")

    @on(Input.Submitted)
    @on(Choice.Submitted)
    @on(CategoryPicker.Submitted)
    def _submit(self, event: Input.Submitted | Choice.Submitted | CategoryPicker.Submitted) -> None:
        event.stop()
        draft = self.press_enter()
        if draft is not None:
            self.post_message(self.Submitted(self, draft))

    def press_enter(self) -> AskDraft | None:
        """Enter, with its effect on the form made now: the draft to save, or None.

        Enter after the words moves to the outcome (one digit, then Enter saves); on a
        draft that cannot be read, the problems are shown and the cursor put on the first.
        """
        picker = self.query_one("#rating" if self.feedback else "#outcome", Choice)
        if picker.value is None and self.query_one("#ask-text", Input).value.strip():
            self.screen.set_focus(picker)
            self.say(self._pick_hint(picker), "hint")
            return None
        if not self.feedback and self._ask_for_substitute(picker.value):
            return None
        self.recognise_now()
        result = self.draft()
        if isinstance(result, list):
            self.show_errors(result)
            return None
        return result

    def _ask_for_substitute(self, outcome: str | None) -> bool:
        """Enter on "Substituted" with nothing in Instead: ask once what was offered (Enter again skips)."""
        substitute = self.query_one("#substitute", Input)
        if outcome not in SUBSTITUTE_OUTCOMES or substitute.value.strip() or self._substitute_asked:
            return False
        self._substitute_asked = True
        self.screen.set_focus(substitute)
        self.say("What was offered instead? Type it; Enter alone saves without.", "hint")
        return True

    def action_arrow(self, step: int) -> None:
        focused = self.screen.focused
        if focused is not None and focused.id == "ask-text":
            self.query_one("#category", CategoryPicker).action_cycle(step)
        elif step > 0:
            self.screen.focus_next()
        else:
            self.screen.focus_previous()
