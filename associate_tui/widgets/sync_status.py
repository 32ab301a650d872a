"""The one-line sync status every main screen shows: pending, last sync, last error."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.widgets import Static

from associate_tui.errors import DiskFull, NewerSchema, StoreBusy, StoreCorrupt, StoreError, StoreReadOnly
from associate_tui.widgets.asks_table import local_time
from associate_tui.widgets.literal import literal

if TYPE_CHECKING:
    from associate_tui.store import SyncStatus


def describe(status: SyncStatus | None, *, enrolled: bool, syncing: bool = False) -> tuple[str, str]:
    """(the line, its tone: ok / hint / error) for a sync status read from the store."""
    if status is None:
        return ("Sync: reading…", "hint")
    pending = f"{status.pending} pending"
    if not enrolled:
        return (f"Not linked to HQ: {pending}, kept on this terminal (IT: associate enroll)", "hint")
    last = f"last sync {local_time(status.last_success_at) if status.last_success_at else 'never'}"
    parts = [pending]
    tone = "ok"
    if status.quarantined:
        parts.append(f"{status.quarantined} refused by HQ (F6)")
        tone = "error"
    parts.append(last)
    if syncing:
        parts.append("syncing…")
    if status.last_error:
        # HQ's words are long: what the associate must know comes first, within 80 columns; F6 shows them whole.
        return ("Sync failing, F6 says why · " + " · ".join([*parts, status.last_error]), "error")
    return ("Sync: " + " · ".join(parts), tone)


def describe_store_problem(error: StoreError) -> tuple[str, str]:
    """The status line while the database cannot be used: short enough for 80 columns, kept until it is fixed."""
    if isinstance(error, StoreCorrupt):
        line = "Database damaged: nothing is saved. Keep it for IT, move it aside, restart"
    elif isinstance(error, DiskFull):
        line = "Disk full: nothing is saved until some space is freed (call IT)"
    elif isinstance(error, StoreReadOnly):
        line = "Data folder not writable: nothing is saved (call IT)"
    elif isinstance(error, NewerSchema):
        line = "Database from a newer app: nothing is saved. Update this app"
    elif isinstance(error, StoreBusy):
        line = "Database held by another program: nothing is saved yet"
    else:
        line = f"Database: {str(error).split('. ')[0]}"
    return (line, "error")


class SyncStatusBar(Static):
    """Follows the app's `sync_line`, so every screen says the same thing at the same time."""

    def on_mount(self) -> None:
        self.watch(self.app, "sync_line", self._show, init=True)

    def _show(self, line: tuple[str, str]) -> None:
        text, tone = line
        self.update(literal(text))
        for name in ("ok", "hint", "error"):
            self.set_class(name == tone, f"-{name}")
