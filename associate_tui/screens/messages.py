"""Messages the screens' workers post back to the screens."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.message import Message
from textual.worker import WorkerState

from associate_tui.errors import AssociateError, StoreError
from associate_tui.widgets.literal import literal

if TYPE_CHECKING:
    from textual.screen import Screen
    from textual.widgets import Static
    from textual.worker import Worker

    from associate_tui.counter import Counter


class StoreFailed(Message):
    """A worker could not read or write the store: `text` says what to do, `title` what kind of trouble."""

    def __init__(self, error: AssociateError) -> None:
        super().__init__()
        self.text, self.title = str(error), error.title


class CameInMarked(Message):
    """ "It came in" was saved for the group of an ask worded `text`: `woken` follow-ups became due."""

    def __init__(self, text: str, woken: int) -> None:
        super().__init__()
        self.text, self.woken = text, woken


def mark_came_in(screen: Screen, counter: Counter, key: str, text: str, associate: str) -> None:
    """Save "it came in" for the group `key` in a worker; the screen hears CameInMarked, or StoreFailed."""

    def save() -> None:
        try:
            woken = counter.get_store().mark_came_in(key, associate=associate)
        except StoreError as error:
            screen.post_message(StoreFailed(error))
            return
        screen.post_message(CameInMarked(text, woken))

    screen.run_worker(save, thread=True, group="came-in", exit_on_error=False)


def show(line: Static, text: str, kind: str) -> Static:
    """Put words on a screen's message line, styled by kind (hint, ok, error)."""
    line.update(literal(text))
    line.set_classes(f"-{kind}")
    return line


def report_worker_failure(screen: Screen, event: Worker.StateChanged) -> bool:
    """Show a worker's unexpected error (a bug, not a store error) instead of losing it.

    Store errors are caught in the workers and reported in plain words; this is
    the net under everything else. Returns True if the worker failed.
    """
    if event.state != WorkerState.ERROR:
        return False
    screen.notify(
        f"Something went wrong ({event.worker.error!r}). What is on screen is kept; try again, and tell IT if it happens again.",
        title="Error",
        severity="error",
        timeout=15,
    )
    return True
