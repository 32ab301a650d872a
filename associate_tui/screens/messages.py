"""Messages the screens' workers post back to the screens."""

from __future__ import annotations

from textual.message import Message


class StoreFailed(Message):
    """A worker could not read or write the store; `text` says what to do."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
