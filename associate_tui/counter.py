"""What a screen gets from the counter it runs at, without importing the app.

The app imports every screen (the capture screen at start, the others when first
shown), so a screen that imported the app back would close a circle. Instead each screen is handed a `Counter` (the app is one) for what it asks
of the counter, and hears what happened at the counter meanwhile as messages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from textual.message import Message

if TYPE_CHECKING:
    from associate_tui.config import Config
    from associate_tui.store import Store
    from schemas.taxonomy import Taxonomy


class Counter(Protocol):
    """The services a screen uses. Read them when needed: settings, taxonomy and associate change."""

    @property
    def config(self) -> Config: ...

    @property
    def taxonomy(self) -> Taxonomy: ...

    @property
    def associate(self) -> str:
        """Who is logging (a code, or ANY)."""

    def get_store(self) -> Store:
        """The open store. Call from worker threads only: the first call opens it."""

    def sync_soon(self) -> None:
        """After a save or an edit: sync in a moment, so a burst of saves goes in one batch."""

    def start_sync(self, reason: str = "timer") -> None:
        """Sync now; with reason "asked" the associate hears how it went."""

    def refresh_sync_status(self) -> object:
        """Read pending, last sync and last error again, for every screen's status line."""


class SyncFinished(Message):
    """A sync ended, whoever started it: told to every screen. `ok` is False if it failed."""

    bubble = False

    def __init__(self, ok: bool) -> None:
        super().__init__()
        self.ok = ok


class TaxonomyChanged(Message):
    """Setup picked another pack, or HQ sent a new one: told to every screen."""

    bubble = False

    def __init__(self, taxonomy: Taxonomy) -> None:
        super().__init__()
        self.taxonomy = taxonomy
