"""Asks logged here before that look like the one being typed, with their counts.

Shown under the ask field while the associate types. F8 moves here; Enter (or
the digit) logs the customer's ask as the same as the highlighted one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from associate_tui.widgets.literal import literal

if TYPE_CHECKING:
    from associate_tui.store import Similar
    from schemas.taxonomy import Taxonomy


def describe(similar: Similar, taxonomy: Taxonomy) -> str:
    """ "navy rain jacket M · Out of stock · 7 this week"."""
    outcome = taxonomy.outcome(similar.outcome)
    counted = f"{similar.this_week} this week" if similar.this_week else f"{similar.in_window} in {similar.days} days"
    return f"{similar.ask.text} · {outcome.label if outcome else similar.outcome} · {counted}"


class SimilarAsks(Widget, can_focus=True):
    """Up to three demand groups, numbered; hidden while there are none."""

    BINDINGS = [
        Binding("up", "move(-1)", "Previous", show=False),
        Binding("down", "move(1)", "Next", show=False),
        Binding("enter", "pick", "Same as", show=False),
        Binding("escape", "leave", "Back", show=False),
    ]

    highlighted: reactive[int] = reactive(0)

    class Picked(Message):
        """Log a new ask as the same as this one."""

        def __init__(self, similar: Similar) -> None:
            super().__init__()
            self.similar = similar

    class Left(Message):
        """Esc: back to typing."""

    def __init__(self, taxonomy: Taxonomy, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.taxonomy = taxonomy
        self.items: list[Similar] = []

    def show(self, items: list[Similar]) -> None:
        self.items = items
        self.highlighted = 0
        self.display = bool(items)
        self.refresh(layout=True)

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        for index, item in enumerate(self.items):
            if index:
                text.append("\n")
            style = "reverse" if self.has_focus and index == self.highlighted else ""
            text.append(f"{index + 1} ", style="bold")
            text.append_text(literal(describe(item, self.taxonomy), style))
        return text

    def get_content_height(self, container, viewport, width: int) -> int:
        return len(self.items)

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    def watch_highlighted(self) -> None:
        self.refresh()

    def action_move(self, step: int) -> None:
        if self.items:
            self.highlighted = (self.highlighted + step) % len(self.items)

    def action_pick(self) -> None:
        if self.items:
            self.post_message(self.Picked(self.items[self.highlighted]))

    def action_leave(self) -> None:
        self.post_message(self.Left())

    def on_key(self, event: events.Key) -> None:
        if event.character and event.character.isdigit():
            index = int(event.character) - 1
            if 0 <= index < len(self.items):
                event.stop()
                self.highlighted = index
                self.post_message(self.Picked(self.items[index]))
