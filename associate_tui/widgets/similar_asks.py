"""Asks logged here before that look like the one being typed, with their counts.

Shown under the ask field while the associate types, with the whole store's count
beside this terminal's once HQ has sent it. F8 moves here; Enter (or the digit) logs
the customer's ask as the same as the highlighted one; `i` says it came in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from associate_tui.answers import store_beside
from associate_tui.widgets.literal import literal

if TYPE_CHECKING:
    from associate_tui.store import Similar, StoreFigures
    from schemas.taxonomy import Taxonomy


def counts(similar: Similar, taxonomy: Taxonomy, figures: StoreFigures | None = None) -> str:
    """ " · Out of stock · 7 this week" after the ask's words, and " · store 12" once HQ counted the whole store."""
    outcome = taxonomy.outcome(similar.outcome)
    week = bool(similar.this_week)
    counted = f"{similar.this_week} this week" if week else f"{similar.in_window} in {similar.days} days"
    tail = f" · {outcome.label if outcome else similar.outcome} · {counted}"
    if store := store_beside(figures, week=week):
        tail += f" · {store}"
    return tail


class SimilarAsks(Widget, can_focus=True):
    """Up to three demand groups, numbered; hidden while there are none."""

    BINDINGS = [
        Binding("up", "move(-1)", "Previous", show=False),
        Binding("down", "move(1)", "Next", show=False),
        Binding("enter", "pick", "Same as", show=False),
        Binding("escape", "leave", "Back", show=False),
        Binding("i", "came_in", "Came in", id="came_in"),
    ]

    highlighted: reactive[int] = reactive(0)

    class Picked(Message):
        """Log a new ask as the same as this one."""

        def __init__(self, similar: Similar) -> None:
            super().__init__()
            self.similar = similar

    class Left(Message):
        """Esc: back to typing."""

    class CameIn(Message):
        """`i`: the highlighted group is in stock here again."""

        def __init__(self, similar: Similar) -> None:
            super().__init__()
            self.similar = similar

    class Highlighted(Message):
        """Another suggestion is highlighted (what the group line under the list is about)."""

    def __init__(self, taxonomy: Taxonomy, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.taxonomy = taxonomy
        self.items: list[Similar] = []
        self.figures: dict[str, StoreFigures] = {}

    def show(self, items: list[Similar], figures: dict[str, StoreFigures] | None = None) -> None:
        self.items = items
        self.figures = figures or {}
        self.highlighted = 0
        self.display = bool(items)
        self.refresh(layout=True)

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        width = self.content_region.width or 80
        for index, item in enumerate(self.items):
            if index:
                text.append("\n")
            style = "reverse" if self.has_focus and index == self.highlighted else ""
            text.append(f"{index + 1} ", style="bold")
            # The ask's words give way first, so the counts beside them stay in view.
            tail = counts(item, self.taxonomy, self.figures.get(item.key))
            words = literal(item.ask.text, style)
            words.truncate(max(8, width - 2 - len(tail)), overflow="ellipsis")
            text.append_text(words)
            text.append_text(literal(tail, style))
        return text

    def get_content_height(self, container, viewport, width: int) -> int:
        return len(self.items)

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    def watch_highlighted(self) -> None:
        self.refresh()
        self.post_message(self.Highlighted())

    def action_move(self, step: int) -> None:
        if self.items:
            self.highlighted = (self.highlighted + step) % len(self.items)

    def action_pick(self) -> None:
        if self.items:
            self.post_message(self.Picked(self.items[self.highlighted]))

    def action_leave(self) -> None:
        self.post_message(self.Left())

    def action_came_in(self) -> None:
        if self.items:
            self.post_message(self.CameIn(self.items[self.highlighted]))

    def on_key(self, event: events.Key) -> None:
        if event.character and event.character.isdigit():
            index = int(event.character) - 1
            if 0 <= index < len(self.items):
                event.stop()
                self.highlighted = index
                self.post_message(self.Picked(self.items[index]))
