"""One line of options picked with a single key: a digit, a letter or the arrows."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.dom import NoScreen
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from associate_tui.widgets.literal import literal


class InOrder:
    """Mixin for a form's fields: keys and pastes go to the screen's queue, not straight to the field.

    Textual hands each key to the focused widget's own queue, and Enter, Tab and the
    other keys that move focus take effect only later, after the key has bubbled up to
    the app. Keys arriving in a burst would reach the old field (or the row being saved).
    A screen with a `take_key(widget, event) -> bool` method takes them instead and
    hands each one on only once the keys before it have had their effect.
    """

    def _forward_event(self, event: events.Event) -> None:
        if isinstance(event, (events.Key, events.Paste)) and not event.is_forwarded:
            try:
                take_key = getattr(self.screen, "take_key", None)  # type: ignore[attr-defined]
            except NoScreen:  # not on a screen yet: nothing to keep in order
                take_key = None
            if take_key is not None and take_key(self, event):
                return
        super()._forward_event(event)  # type: ignore[misc]


@dataclass(frozen=True)
class Option:
    value: str | None
    label: str
    key: str  # the one key that picks it, shown before the label


class Choice(InOrder, Widget, can_focus=True):
    """Pick one of a few options without leaving the keyboard's home row.

    Used for the outcome (digits), whether a substitute was accepted (y/n) and
    the channel (first letters).
    """

    BINDINGS = [
        Binding("left", "move(-1)", "Previous", show=False),
        Binding("right", "move(1)", "Next", show=False),
        Binding("space", "move(1)", "Next", show=False),
        Binding("enter", "submit", "Save", show=False),
    ]

    value: reactive[str | None] = reactive(None, init=False)

    class Changed(Message):
        def __init__(self, choice: Choice, value: str | None) -> None:
            super().__init__()
            self.choice = choice
            self.value = value

        @property
        def control(self) -> Choice:
            return self.choice

    class Submitted(Message):
        """Enter was pressed on the choice."""

        def __init__(self, choice: Choice) -> None:
            super().__init__()
            self.choice = choice

        @property
        def control(self) -> Choice:
            return self.choice

    def __init__(
        self,
        options: list[Option],
        *,
        value: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.options = options
        self.set_reactive(Choice.value, value)

    def set_options(self, options: list[Option], value: str | None = None) -> None:
        self.options = options
        self.value = value
        self.refresh(layout=True)

    def _piece(self, option: Option) -> Text:
        chosen = option.value == self.value
        piece = Text(f" {option.key} ", style="bold reverse" if chosen else "bold")
        piece.append_text(literal(f" {option.label} " if chosen else option.label, "reverse bold" if chosen else ""))
        return piece

    def _lines(self, width: int) -> list[Text]:
        """Options packed into lines, never breaking inside an option's label."""
        lines = [Text(no_wrap=True, overflow="ellipsis")]
        for option in self.options:
            piece = self._piece(option)
            line = lines[-1]
            if line.cell_len and line.cell_len + 2 + piece.cell_len > width:
                line = Text(no_wrap=True, overflow="ellipsis")
                lines.append(line)
            elif line.cell_len:
                line.append("  ")
            line.append_text(piece)
        return lines

    def get_content_width(self, container, viewport) -> int:  # noqa: ANN001
        return sum(self._piece(o).cell_len for o in self.options) + 2 * max(len(self.options) - 1, 0)

    def get_content_height(self, container, viewport, width: int) -> int:  # noqa: ANN001
        return len(self._lines(width))

    def render(self) -> Text:
        return Text("\n").join(self._lines(self.content_size.width or 80))

    def watch_value(self, value: str | None) -> None:
        self.post_message(self.Changed(self, value))

    def select(self, value: str | None) -> None:
        self.value = value

    def pick_key(self, event: events.Key) -> bool:
        """Pick the option this key names, at once; False if it names none."""
        if event.character is None:
            return False
        key = event.character.lower()
        for option in self.options:
            if option.key.lower() == key:
                self.value = option.value
                return True
        return False

    def on_key(self, event: events.Key) -> None:
        if self.pick_key(event):
            event.stop()
            event.prevent_default()

    def action_move(self, step: int) -> None:
        values = [option.value for option in self.options]
        if not values:
            return
        index = values.index(self.value) if self.value in values else -1 if step > 0 else 0
        self.value = values[(index + step) % len(values)]

    def action_submit(self) -> None:
        self.post_message(self.Submitted(self))
