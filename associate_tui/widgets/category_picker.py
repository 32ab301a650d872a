"""The category: suggested from the ask's words, changed with the arrow keys."""

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
    from schemas.taxonomy import Category, Taxonomy


class CategoryPicker(Widget, can_focus=True):
    """Shows the chosen category and the next suggestions.

    Up and down walk the suggestions first, then every other category, then
    "none". Once the associate has moved it, new words no longer override it.
    """

    BINDINGS = [
        Binding("up", "cycle(-1)", "Category", show=False),
        Binding("down", "cycle(1)", "Category", show=False),
        Binding("delete,backspace", "clear", "No category", show=False),
        Binding("enter", "submit", "Save", show=False),
    ]

    value: reactive[str | None] = reactive(None, init=False)

    class Submitted(Message):
        def __init__(self, picker: CategoryPicker) -> None:
            super().__init__()
            self.picker = picker

        @property
        def control(self) -> CategoryPicker:
            return self.picker

    def __init__(self, taxonomy: Taxonomy, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.taxonomy = taxonomy
        self.suggestions: list[Category] = []
        self.chosen_by_hand = False

    def reset(self, taxonomy: Taxonomy | None = None) -> None:
        self.taxonomy = taxonomy or self.taxonomy
        self.suggestions = []
        self.chosen_by_hand = False
        self.value = None
        self.refresh()

    def set_by_hand(self, code: str | None) -> None:
        self.chosen_by_hand = True
        self.value = code
        self.refresh()

    def suggest(self, suggestions: list[Category]) -> None:
        """New suggestions from the words; the best one is taken unless chosen by hand."""
        self.suggestions = suggestions
        if not self.chosen_by_hand:
            self.value = suggestions[0].code if suggestions else None
        self.refresh()

    def _order(self) -> list[str | None]:
        first = [c.code for c in self.suggestions]
        rest = [c.code for c in self.taxonomy.categories if c.code not in first]
        return [*first, *rest, None]

    def action_cycle(self, step: int) -> None:
        order = self._order()
        index = order.index(self.value) if self.value in order else 0
        self.set_by_hand(order[(index + step) % len(order)])

    def action_clear(self) -> None:
        self.set_by_hand(None)

    def action_submit(self) -> None:
        self.post_message(self.Submitted(self))

    def on_key(self, event: events.Key) -> None:
        # A letter jumps to the next category whose name starts with it.
        if not event.is_printable or not event.character or not event.character.isalpha():
            return
        letter = event.character.lower()
        order = [c for c in self._order() if c]
        start = order.index(self.value) + 1 if self.value in order else 0
        for code in order[start:] + order[:start]:
            category = self.taxonomy.category(code)
            if category and category.label.lower().startswith(letter):
                event.stop()
                self.set_by_hand(code)
                return

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        category = self.taxonomy.category(self.value) if self.value else None
        if category:
            text.append_text(literal(category.label, "bold"))
        else:
            text.append("(none)", style="dim")
        others = [c.label for c in self.suggestions if c.code != self.value][:2]
        if others:
            text.append_text(literal("   ↑↓ " + " · ".join(others), "dim"))
        elif self.has_focus or not category:
            text.append("   ↑↓ to choose", style="dim")
        return text
