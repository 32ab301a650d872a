"""The Textual app an associate keeps open at the counter.

The app owns the configuration, the taxonomy, who is logging, and the store.
The store is opened lazily by the first worker that needs it, so the capture
screen is ready to type into before the database (or sqlite-utils) is loaded.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.reactive import reactive
from textual.screen import Screen

from associate_tui import config as config_module
from associate_tui.screens.capture import CaptureScreen
from associate_tui.screens.dialogs import AssociateScreen, HelpScreen, SettingsScreen
from associate_tui.screens.recent import RecentScreen
from associate_tui.taxonomy import Taxonomy, load_pack

if TYPE_CHECKING:
    from associate_tui.store import Store


class AssociateApp(App[None]):
    """Log a customer's ask in seconds, offline."""

    # Absolute, so a subclass defined elsewhere (tests, benchmarks) finds it too.
    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = "Associate Terminal"
    MODES = {"capture": CaptureScreen, "recent": RecentScreen}
    DEFAULT_MODE = "capture"

    BINDINGS = [
        Binding("f1", "help", "Help", id="help"),
        Binding("f2", "capture", "New", id="capture"),
        Binding("f3", "recent", "Recent", id="recent"),
        Binding("f4", "switch_associate", "Who", id="associate"),
        Binding("f9", "settings", "Setup", id="settings"),
        Binding("f10", "quit", "Quit", id="quit"),
    ]

    associate: reactive[str] = reactive("ANY", init=False)

    def __init__(
        self,
        config: config_module.Config | None = None,
        *,
        database: Path | None = None,
        config_file: Path | None = None,
    ) -> None:
        super().__init__()
        self.config = config or config_module.load()
        self.config_file = config_file or config_module.config_path()
        self.database = database or config_module.database_path()
        self.taxonomy: Taxonomy = load_pack(self.config.taxonomy)
        self._store: Store | None = None
        self._store_lock = threading.Lock()
        self._started = False
        self.set_reactive(AssociateApp.associate, self.config.associate)

    # -- the store, shared by the workers ------------------------------------

    def get_store(self) -> Store:
        """The open store; opens it on first use. Call from worker threads only."""
        with self._store_lock:
            if self._store is None:
                from associate_tui.store import Store

                self._store = Store(self.database)
            return self._store

    def on_unmount(self) -> None:
        with self._store_lock:
            if self._store is not None:
                self._store.close()
                self._store = None

    # -- lifecycle -----------------------------------------------------------

    def on_mount(self) -> None:
        if self.config.theme in self.available_themes:
            self.theme = self.config.theme
        if self.config.keymap:
            self.set_keymap(self.config.keymap)
        self._update_subtitle()
        if not self.config.from_file:
            self.notify(
                f"Store {self.config.store_id}, terminal {self.config.terminal_id} (defaults). "
                "Press F9 to set them for this counter.",
                title="First run",
                timeout=8,
            )
        self._started = True

    def _update_subtitle(self) -> None:
        self.sub_title = f"{self.config.store_id} / {self.config.terminal_id} · associate {self.associate}"

    def watch_associate(self) -> None:
        self._update_subtitle()

    def watch_theme(self, theme: str) -> None:
        # Keep the theme the associate picked (command palette) for next time.
        if self._started and theme != self.config.theme:
            self.apply_config(self.config.with_changes(theme=theme), notify=False)

    def apply_config(self, config: config_module.Config, *, notify: bool = True) -> None:
        """Save settings to the config file and use them at once."""
        try:
            config_module.save(config, self.config_file)
        except OSError as error:
            self.notify(f"Could not save the settings to {self.config_file}: {error.strerror}.", severity="error")
            return
        taxonomy_changed = config.taxonomy != self.config.taxonomy
        self.config = config.with_changes(from_file=True)
        if taxonomy_changed:
            self.taxonomy = load_pack(config.taxonomy)
            for screen in self._all_screens():
                if hasattr(screen, "taxonomy_changed"):
                    screen.taxonomy_changed(self.taxonomy)
        self._update_subtitle()
        if notify:
            self.notify(f"Saved to {self.config_file}.", title="Settings")

    def _all_screens(self) -> Iterable[Screen]:
        for stack in self._screen_stacks.values():
            yield from stack

    # -- actions -----------------------------------------------------------

    def action_capture(self) -> None:
        self.switch_mode("capture")

    def action_recent(self) -> None:
        self.switch_mode("recent")

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_switch_associate(self) -> None:
        def switched(code: str | None) -> None:
            if code:
                self.associate = code
                self.notify(f"Now logging as {code}.", timeout=3)

        if not isinstance(self.screen, AssociateScreen):
            self.push_screen(AssociateScreen(self.associate), switched)

    def action_settings(self) -> None:
        def saved(config: config_module.Config | None) -> None:
            if config is not None:
                self.apply_config(config)

        if not isinstance(self.screen, SettingsScreen):
            self.push_screen(SettingsScreen(self.config), saved)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield SystemCommand("New ask", "Go to the capture form (F2)", self.action_capture)
        yield SystemCommand("Recent asks", "Search, edit and void asks (F3)", self.action_recent)
        yield SystemCommand("Switch associate", "Change who is logging (F4)", self.action_switch_associate)
        yield SystemCommand("Setup", "Store, terminal, taxonomy pack (F9)", self.action_settings)
        yield SystemCommand("Help", "Keys and outcome codes (F1)", self.action_help)
        yield from super().get_system_commands(screen)
