"""A table of asks, newest first: used under the capture form and on the recent screen."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from textual.widgets import DataTable

from associate_tui.asks import FEEDBACK
from associate_tui.widgets.literal import cell

if TYPE_CHECKING:
    from associate_tui.asks import Ask
    from schemas.taxonomy import Taxonomy


def local_time(stamp: str) -> str:
    """'2026-11-22T14:03:07.123Z' -> '14:03' today, '22 Nov' before."""
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone()
    if moment.date() == datetime.now().astimezone().date():
        return moment.strftime("%H:%M")
    return moment.strftime("%d %b")


TEXT_WIDTH = 40  # characters of an ask shown in a list
RATING_STYLES = {1: "yellow", 2: "yellow", 4: "green", 5: "green"}  # let down / loved it, apart from unmet red


class AsksTable(DataTable):
    """One row an ask; the row key is the ask's id."""

    def __init__(self, taxonomy: Taxonomy, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.taxonomy = taxonomy

    def on_mount(self) -> None:
        self.add_column("When", key="when", width=6)
        self.add_column("Who", key="who", width=6)
        self.add_column("Asked for", key="text", width=TEXT_WIDTH)  # fixed: columns never jump as rows arrive
        self.add_column("Outcome", key="outcome", width=14)
        self.add_column("Category", key="category")

    def _cells(self, ask: Ask) -> tuple[object, ...]:
        outcome = self.taxonomy.outcome(ask.outcome)
        category = self.taxonomy.category(ask.category) if ask.category else None
        words = ask.text if len(ask.text) <= TEXT_WIDTH else ask.text[: TEXT_WIDTH - 1] + "…"
        outcome_label = "void" if ask.voided else (outcome.label if outcome else ask.outcome)
        style = "bold red" if outcome and outcome.unmet and not ask.voided else ""
        if ask.outcome == FEEDBACK and not ask.voided:  # what a customer said, with how they rated it
            outcome_label, style = f"feedback {ask.rating}/5", RATING_STYLES.get(ask.rating or 0, "")
        return (
            local_time(ask.created_at),
            cell(ask.associate),
            cell(words, "strike dim" if ask.voided else ""),
            cell(outcome_label, style),
            cell(category.label if category else ask.category),
        )

    def show(self, asks: list[Ask]) -> None:
        self.clear()
        for ask in asks:
            self.add_row(*self._cells(ask), key=ask.id)

    def put_first(self, ask: Ask) -> None:
        """Show a new or changed ask at the top, replacing its old row if shown."""
        keep = []
        for row_key in self.rows:
            if row_key.value != ask.id:
                keep.append((row_key.value, self.get_row(row_key)))
        self.clear()
        self.add_row(*self._cells(ask), key=ask.id)
        for key, cells in keep[:199]:
            self.add_row(*cells, key=key)

    def replace(self, ask: Ask) -> None:
        """Update a row in place (an edit or void), or do nothing if it is not shown."""
        if ask.id not in {key.value for key in self.rows}:
            return
        for column, value in zip(("when", "who", "text", "outcome", "category"), self._cells(ask), strict=True):
            self.update_cell(ask.id, column, value)

    @property
    def selected_id(self) -> str | None:
        if not self.row_count:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return row_key.value
