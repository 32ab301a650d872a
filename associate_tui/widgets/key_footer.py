"""The footer of every screen: all of its keys in two compact lines, so F6-F12 show at 80 columns too."""

from __future__ import annotations

from math import ceil

from textual.app import ComposeResult
from textual.widgets import Footer

FOOTER_LINES = 2


class KeyFooter(Footer):
    """Textual's footer, laid out as a grid of `FOOTER_LINES` rows instead of one line cut at the edge."""

    def __init__(self) -> None:
        super().__init__(compact=True, show_command_palette=False)  # Ctrl+P is in F1's list: its 12 columns go to keys

    def compose(self) -> ComposeResult:
        yield from super().compose()
        # Footer sets one column per key (one line); a key per cell of a two-row grid fits 80 columns.
        self.styles.grid_size_columns = max(1, ceil((self.styles.grid_size_columns or 1) / FOOTER_LINES))
