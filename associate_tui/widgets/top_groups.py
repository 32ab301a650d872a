"""A table of demand groups with one row highlighted: ↑↓ pick a group, the screen's keys act on it.

The table is drawn by the screen (a Rich table, so its columns share the width as
the rest of Insights does); this widget keeps which row is highlighted and asks for
the table again with that row marked. Past the first or last row, and with no rows,
the arrows scroll the screen's body instead, so they never go dead.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.console import RenderableType
from textual.binding import Binding
from textual.containers import ScrollableContainer
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Static


class TopGroups(Static, can_focus=True):
    """Rows drawn by `draw(highlighted)`; `highlighted` is None while the table is not focused."""

    BINDINGS = [
        Binding("up", "move(-1)", "Previous group", show=False),
        Binding("down", "move(1)", "Next group", show=False),
    ]

    highlighted: reactive[int] = reactive(0, init=False)

    class Highlighted(Message):
        """Another row is highlighted (or the table gained or lost the focus)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self.rows = 0
        self._draw: Callable[[int | None], RenderableType] | None = None

    def show(self, rows: int, draw: Callable[[int | None], RenderableType], *, keep: bool = False) -> None:
        """Draw `rows` rows; `keep` keeps the highlighted row (the same period read again) where it still exists."""
        self.rows, self._draw = rows, draw
        self.set_reactive(TopGroups.highlighted, min(self.highlighted, max(rows - 1, 0)) if keep else 0)
        self._redraw()

    def _redraw(self) -> None:
        if self._draw is not None:
            self.update(self._draw(self.highlighted if self.has_focus and self.rows else None))
        self.post_message(self.Highlighted())

    def watch_highlighted(self) -> None:
        self._redraw()

    def on_focus(self) -> None:
        self._redraw()

    def on_blur(self) -> None:
        self._redraw()

    def action_move(self, step: int) -> None:
        target = self.highlighted + step
        if self.rows and 0 <= target < self.rows:
            self.highlighted = target
            self.scroll_visible()
            return
        body = next((a for a in self.ancestors if isinstance(a, ScrollableContainer)), None)
        if body is not None:
            body.scroll_relative(y=step, animate=False)
