"""Text from people on screen: always literal, never markup, never a control character.

Every widget that shows what a person typed (or what HQ or a taxonomy pack sent)
goes through `literal`, or is a `Static` made with `markup=False`: `[bold]` in an
ask shows as those seven characters, and an escape sequence cannot reach the
terminal.
"""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.text import Text
from textual.visual import VisualType
from textual.widgets import Static

from schemas.text import clean


def literal(value: object, style: str = "", *, lines: bool = False) -> Text:
    """`value` as Rich Text shown exactly as written (control characters removed)."""
    return Text(clean("" if value is None else str(value), lines=lines), style=style)


def cell(value: object, style: str = "") -> Text | str:
    """A DataTable cell shown exactly as written.

    Unstyled, it is the words with markup escaped: the table parses a str cell as
    markup, which then gives back exactly these words (and sizes its column to them).
    """
    if style:
        return literal(value, style)
    return escape(clean("" if value is None else str(value)))


class Plain(Static):
    """A Static for words that quote a person, HQ or a pack: shown literally, control characters removed."""

    def __init__(self, content: str = "", **kwargs: Any) -> None:
        super().__init__(clean(content, lines=True), markup=False, **kwargs)

    def update(self, content: VisualType = "", *, layout: bool = True) -> None:
        super().update(clean(content, lines=True) if isinstance(content, str) else content, layout=layout)
