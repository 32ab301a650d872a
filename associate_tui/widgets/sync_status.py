"""The one-line sync status every main screen shows: pending, last sync, last error."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.widgets import Static

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
    parts = [pending, f"last sync {local_time(status.last_success_at) if status.last_success_at else 'never'}"]
    tone = "ok"
    if status.quarantined:
        parts.append(f"{status.quarantined} refused by HQ (F6)")
        tone = "error"
    if syncing:
        parts.append("syncing…")
    if status.last_error:
        parts.append(status.last_error)
        tone = "error"
    return ("Sync: " + " · ".join(parts), tone)


class SyncStatusBar(Static):
    """Follows the app's `sync_line`, so every screen says the same thing at the same time."""

    def on_mount(self) -> None:
        self.watch(self.app, "sync_line", self._show, init=True)

    def _show(self, line: tuple[str, str]) -> None:
        text, tone = line
        self.update(literal(text))
        for name in ("ok", "hint", "error"):
            self.set_class(name == tone, f"-{name}")
