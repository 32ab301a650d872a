"""The Textual app an associate keeps open at the counter.

The app owns the configuration, the taxonomy, who is logging, and the store.
Start-up is a budget (issue 18: the first paint within 1.3x of a one-Input app):
the store is opened by the first worker that needs it, the taxonomy read by the
capture screen's worker after its first paint, and the other screens' modules
imported when each is first shown, so the cursor is in the ask before any of that.
The screens never import this module: each is handed the app as its `Counter`
and hears of syncs and taxonomy changes by message (associate_tui/counter.py).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.screen import ModalScreen, Screen
from textual.timer import Timer
from textual.widget import Widget

from associate_tui import config as config_module
from associate_tui.counter import Counter, SyncFinished, TaxonomyChanged
from associate_tui.errors import StoreError
from associate_tui.screens.capture import CaptureScreen
from schemas.text import clean

if TYPE_CHECKING:
    from associate_tui.store import Store, SyncStatus
    from schemas.taxonomy import Taxonomy
    from sync.engine import Backoff

CONFIG_CHECK = 2.0  # seconds: an enrolment from the command line is taken up this soon
STATUS_REFRESH = 5.0  # seconds: the status line also follows a separate `associate sync --watch`
SYNC_AFTER_SAVE = 2.0  # seconds: a burst of saves goes in one batch
SYNC_AT_START = 3.0
RETENTION_AT_START = 2.0
RETENTION_EVERY = 3600.0  # seconds: idle customers' details do not outlive retention_days by more than an hour


class SyncStatusRead(Message):
    def __init__(self, status: SyncStatus) -> None:
        super().__init__()
        self.status = status


class StoreUnusable(Message):
    """Reading the status failed: the database cannot be used (damaged, disk full, read-only)."""

    def __init__(self, error: StoreError) -> None:
        super().__init__()
        self.error = error


class SyncDone(Message):
    """The sync worker's answer: what it did, or what went wrong in plain words.

    `retry_in` is the engine's backoff after a transient failure (offline, busy HQ),
    None when the next try waits the usual interval.
    """

    def __init__(
        self, summary: str | None, error: str | None, *, retry_in: float | None = None, taxonomy_updated: bool = False
    ) -> None:
        super().__init__()
        self.summary, self.error, self.retry_in, self.taxonomy_updated = summary, error, retry_in, taxonomy_updated


# Every screen module, for the keymap's check: start-up imports the capture screen only.
SCREEN_MODULES = ("capture", "customers", "dialogs", "edit", "follow_ups", "insights", "recent", "sync")


def shown_later(module: str, name: str) -> Callable[[Counter], Screen]:
    """A mode's screen, its module imported when the mode is first shown rather than at start-up."""

    def make(counter: Counter) -> Screen:
        screen: Screen = getattr(importlib.import_module(f"associate_tui.screens.{module}"), name)(counter)
        return screen

    return make


class AssociateApp(App[None]):
    """Log a customer's ask in seconds, offline."""

    # Absolute, so a subclass defined elsewhere (tests, benchmarks) finds it too.
    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = "Associate Terminal"
    # Each mode's screen is made with this app as its Counter (see __init__).
    SCREENS_BY_MODE: ClassVar[dict[str, Callable[[Counter], Screen]]] = {
        "capture": CaptureScreen,
        "recent": shown_later("recent", "RecentScreen"),
        "sync": shown_later("sync", "SyncScreen"),
        "follow_ups": shown_later("follow_ups", "FollowUpsScreen"),
        "insights": shown_later("insights", "InsightsScreen"),
    }
    DEFAULT_MODE = "capture"

    BINDINGS = [
        Binding("f1", "help", "Help", id="help"),
        Binding("f2", "capture", "New", id="capture"),
        Binding("f3", "recent", "Recent", id="recent"),
        Binding("f4", "switch_associate", "Who", id="associate"),
        Binding("f6", "sync_screen", "Sync", id="sync"),
        Binding("f7", "follow_ups", "Follow-ups", id="follow_ups"),
        Binding("f12", "insights", "Insights", id="insights"),
        Binding("f9", "settings", "Setup", id="settings"),
        Binding("f10", "quit", "Quit", id="quit"),
    ]

    associate: reactive[str] = reactive("ANY", init=False)
    sync_line: reactive[tuple[str, str]] = reactive(("Sync: reading…", "hint"), init=False)

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
        self._config_seen: tuple[int, int] | None = None  # the config file's (mtime, size) as last read
        self.database = database or config_module.database_path()
        # Checking a keymap means importing every screen (their bindings): only when there is one.
        if self.config.keymap and (problem := config_module.check_keymap(self.config.keymap, binding_registry())):
            raise config_module.ConfigError(f"{self.config_file}: {problem}")
        self._taxonomy: Taxonomy | None = None  # read by the first that needs it, after the first paint
        self._taxonomy_lock = threading.Lock()
        self._store: Store | None = None
        self._store_lock = threading.Lock()
        self._started = False
        self._sync_status: SyncStatus | None = None
        self._store_problem: StoreError | None = None  # shown on the status line until a read succeeds again
        self._syncing = False
        self._sync_failing = False
        self._saved_while_syncing = False  # an ask saved during a sync goes in the next, soon after it
        self._asked = False
        self._sync_timer: Timer | None = None
        self._backoff: Backoff | None = None  # made by the first sync worker, which loads the engine
        self.set_reactive(AssociateApp.associate, self.config.associate)
        for mode, screen in self.SCREENS_BY_MODE.items():
            if mode != self.DEFAULT_MODE:  # the first screen is made by get_default_screen; its mode is added on mount
                self.add_mode(mode, partial(screen, self))

    @property
    def taxonomy(self) -> Taxonomy:
        """The pack in use. Its module and file are read the first time it is needed, from any thread."""
        with self._taxonomy_lock:
            if self._taxonomy is None:
                self._taxonomy = config_module.load_taxonomy(self.config.taxonomy)
            return self._taxonomy

    # -- the store, shared by the workers ------------------------------------

    def get_store(self) -> Store:
        """The open store; opens it on first use. Call from worker threads only."""
        with self._store_lock:
            if self._store is None:
                from associate_tui.store import open_store  # the database: loaded by the first worker, after the first paint

                self._store = open_store(self.config, path=self.database, taxonomy=self.taxonomy)
            return self._store

    def on_unmount(self) -> None:
        with self._store_lock:
            if self._store is not None:
                self._store.close()
                self._store = None

    # -- lifecycle -----------------------------------------------------------

    def notify(
        self, message: str, *, title: str = "", severity: str = "information", timeout: float | None = None, markup: bool = True
    ) -> None:
        """Every toast shows its words literally: they often quote what a person typed or HQ said."""
        super().notify(
            clean(message, lines=True),
            title=clean(title),
            severity=severity,  # type: ignore[arg-type]
            timeout=timeout,
            markup=False,
        )

    def get_default_screen(self) -> Screen:
        # Textual styles a mode's first screen twice (a full CSS reparse, ~15 ms at start-up); its default screen once.
        return self.SCREENS_BY_MODE[self.DEFAULT_MODE](self)

    def on_mount(self) -> None:
        self.add_mode(self.DEFAULT_MODE, partial(self.SCREENS_BY_MODE[self.DEFAULT_MODE], self))  # F2 switches back to it
        if self.config.theme in self.available_themes:
            self.theme = self.config.theme
        if self.config.keymap:
            self.set_keymap(self.config.keymap)
        self._update_subtitle()
        if not self.config.from_file:
            self.call_after_refresh(  # a toast after the first paint, not in it
                self.notify,
                f"Store {self.config.store_id}, terminal {self.config.terminal_id} (defaults). "
                "Press F9 to set them for this counter.",
                title="First run",
                timeout=8,
            )
        self._started = True
        self.set_interval(STATUS_REFRESH, self.refresh_sync_status)
        self._config_seen = self._config_stamp()
        self.set_interval(CONFIG_CHECK, self.follow_config_file)
        self.set_timer(0.3, self.refresh_sync_status)  # after the first paint
        self.set_timer(RETENTION_AT_START, self.purge_expired_customers)
        self.set_interval(RETENTION_EVERY, self.purge_expired_customers)
        if self.config.hq_url:
            self._schedule_sync(SYNC_AT_START)

    # -- background sync -------------------------------------------------------

    @property
    def enrolled(self) -> bool:
        return bool(self.config.hq_url)

    @work(thread=True, exclusive=True, group="sync-status", exit_on_error=False)
    def refresh_sync_status(self) -> None:
        try:
            self.post_message(SyncStatusRead(self.get_store().sync_status()))
        except StoreError as error:
            # The screens say it where the associate is working; the status line keeps saying it until it is fixed.
            self.post_message(StoreUnusable(error))

    @work(thread=True, group="retention", exclusive=True, exit_on_error=False)
    def purge_expired_customers(self) -> None:
        """Erase customers idle for retention_days with no open follow-up (logged as a count only)."""
        try:
            erased = self.get_store().purge_expired_customers(days=self.config.retention_days)
        except StoreError:
            return  # the screens report store errors; retention tries again within the hour
        if erased:
            self.call_from_thread(
                self.notify,
                f"Erased {erased} customer(s) idle for {self.config.retention_days} days (retention).",
                title="Privacy",
                timeout=6,
            )
            self.call_from_thread(self.sync_soon)

    @on(SyncStatusRead)
    def _status_read(self, event: SyncStatusRead) -> None:
        self._sync_status = event.status
        self._store_problem = None
        self._show_sync_line()

    @on(StoreUnusable)
    def _store_unusable(self, event: StoreUnusable) -> None:
        self._store_problem = event.error
        self._show_sync_line()

    def _show_sync_line(self) -> None:
        from associate_tui.widgets.sync_status import describe, describe_store_problem  # after the first paint

        if self._store_problem is not None:
            self.sync_line = describe_store_problem(self._store_problem)
            return
        self.sync_line = describe(self._sync_status, enrolled=self.enrolled, syncing=self._syncing)

    def sync_soon(self) -> None:
        """After a save or an edit: sync in a moment, so a burst of saves goes in one batch."""
        self.refresh_sync_status()
        if self._syncing:
            self._saved_while_syncing = True  # this sync may have read the outbox already
        elif self.enrolled and not self._sync_failing:
            self._schedule_sync(SYNC_AFTER_SAVE)

    def _schedule_sync(self, delay: float) -> None:
        if self._sync_timer is not None:
            self._sync_timer.stop()
        self._sync_timer = self.set_timer(delay, self.start_sync)

    def start_sync(self, reason: str = "timer") -> None:
        if not self.enrolled:
            if reason == "asked":
                self.notify(
                    "This terminal is not linked to HQ yet. IT runs: associate enroll URL --token TOKEN",
                    title="Sync",
                    severity="warning",
                    timeout=8,
                )
            return
        if self._syncing:
            return
        self._syncing = True
        self._show_sync_line()
        self._asked = reason == "asked"
        self.sync_worker()

    @work(thread=True, exclusive=True, group="sync", exit_on_error=False)
    def sync_worker(self) -> None:
        # Deferred: the engine loads httpx, and httpx rich and click (~90 ms): the first sync pays, not the start.
        from associate_tui import link
        from sync.client import HQError
        from sync.engine import Backoff, SyncBusy

        backoff = self._backoff = self._backoff or Backoff()  # only this worker (exclusive) touches it
        try:
            report = link.run_sync(self.get_store(), self.config)
        except SyncBusy:
            backoff.reset()
            self.post_message(SyncDone("Another program is syncing this terminal right now.", None))
        except HQError as error:
            retry_in = backoff.next_delay(error.retry_after) if error.transient else None
            self.post_message(SyncDone(None, str(error), retry_in=retry_in))
        except Exception as error:  # noqa: BLE001 - token file, disk: shown on the status line, retried later
            self.post_message(SyncDone(None, str(error)))
        else:
            backoff.reset()
            self.post_message(SyncDone(report.summary(), report.warning, taxonomy_updated=report.taxonomy_updated))

    @on(SyncDone)
    def _sync_done(self, event: SyncDone) -> None:
        self._syncing = False
        ok = event.summary is not None
        if ok and self._sync_failing:
            self.notify("HQ is reachable again; pending asks are being sent.", title="Sync", timeout=5)
        if ok and self._asked:
            self.notify(event.summary, title="Sync", timeout=6)
        if not ok and (not self._sync_failing or self._asked):
            self.notify(event.error or "Sync failed.", title="Sync", severity="warning", timeout=8)
        self._sync_failing = not ok
        self._asked = False
        if event.taxonomy_updated and self.config.taxonomy == "hq":
            self._take_hq_taxonomy()
        # The backoff never makes the next try later than the usual interval; after a good sync during which an
        # ask was saved, the next one comes as soon as after a save (that ask may have missed this one).
        interval = float(self.config.sync_interval)
        if ok and self._saved_while_syncing:
            interval = SYNC_AFTER_SAVE
        self._saved_while_syncing = False
        self._schedule_sync(interval if event.retry_in is None else min(interval, event.retry_in))
        self.refresh_sync_status()
        self._tell_screens(partial(SyncFinished, ok))

    def _take_hq_taxonomy(self) -> None:
        pulled = config_module.load_taxonomy(self.config.taxonomy)
        if (pulled.name, pulled.version) != (self.taxonomy.name, self.taxonomy.version):
            self.notify(f"HQ's taxonomy {pulled.label} {pulled.version} is in use now.", title="Sync", timeout=6)
        self._swap_taxonomy(pulled)

    def _config_stamp(self) -> tuple[int, int] | None:
        try:
            stat = self.config_file.stat()
        except OSError:
            return None
        return (stat.st_mtime_ns, stat.st_size)

    def follow_config_file(self) -> None:
        """Take up what another program wrote to the config file (`associate enroll` while the app is open).

        The store and terminal ids and HQ's address are used from then on, so asks logged
        after an enrolment are not logged under the old terminal (HQ would refuse them).
        """
        stamp = self._config_stamp()
        if stamp == self._config_seen:
            return
        self._config_seen = stamp
        try:
            written = config_module.load(self.config_file)
        except config_module.ConfigError:
            return  # half-written or wrong: the file is read again at the next start, which says what is wrong
        linked = written.hq_url and (written.hq_url, written.store_id, written.terminal_id) != (
            self.config.hq_url,
            self.config.store_id,
            self.config.terminal_id,
        )
        self._use_config(written)
        if linked:
            self.notify(f"Linked to HQ as store {written.store_id}, terminal {written.terminal_id}.", title="Sync")
            self.sync_soon()

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
        if config.associate != self.config.associate:
            self.associate = config.associate  # the default associate set in setup is who logs from now on
        self._config_seen = self._config_stamp()  # our own write: nothing to take up
        self._use_config(config.with_changes(from_file=True))
        if notify:
            self.notify(f"Saved to {self.config_file}.", title="Settings")

    def _use_config(self, config: config_module.Config) -> None:
        """Work with `config` from now on: its taxonomy, and the ids and link shown in the header and status line."""
        taxonomy_changed = config.taxonomy != self.config.taxonomy
        self.config = config
        if taxonomy_changed:
            self._swap_taxonomy(config_module.load_taxonomy(config.taxonomy))
        self._update_subtitle()
        self._show_sync_line()

    def _swap_taxonomy(self, taxonomy: Taxonomy) -> None:
        with self._taxonomy_lock:
            self._taxonomy = taxonomy
        self._tell_screens(partial(TaxonomyChanged, taxonomy))

    def _tell_screens(self, news: Callable[[], Message]) -> None:
        """Post a message to every screen of every mode, shown or not: each gets its own."""
        for screen in self._all_screens():
            screen.post_message(news())

    def _all_screens(self) -> Iterable[Screen]:
        for stack in self._screen_stacks.values():
            yield from stack

    # -- actions -----------------------------------------------------------

    def action_capture(self) -> None:
        self.switch_mode("capture")

    def action_recent(self) -> None:
        self.switch_mode("recent")

    def action_sync_screen(self) -> None:
        self.switch_mode("sync")

    def action_follow_ups(self) -> None:
        self.switch_mode("follow_ups")

    def action_insights(self) -> None:
        self.switch_mode("insights")

    async def action_quit(self) -> None:
        """F10: at once, unless an ask is half typed on the capture form (then y quits, n or Esc stays)."""
        from associate_tui.screens.dialogs import QuitScreen

        if isinstance(self.screen, QuitScreen):
            return
        unsaved = self._unsaved_ask()
        if unsaved is None:
            self.exit()
            return

        def answered(quit_anyway: bool | None) -> None:
            if quit_anyway:
                self.exit()

        self.push_screen(QuitScreen(unsaved), answered)

    def _unsaved_ask(self) -> str | None:
        """What the capture form holds that was not saved yet, in a few words; None if it is blank."""
        for screen in self._all_screens():
            if isinstance(screen, CaptureScreen):
                return screen.unsaved()
        return None

    def action_help(self) -> None:
        from associate_tui.screens.dialogs import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.taxonomy))

    def action_switch_associate(self) -> None:
        from associate_tui.screens.dialogs import AssociateScreen

        def switched(code: str | None) -> None:
            if code:
                self.associate = code
                self.notify(f"Now logging as {code}.", timeout=3)

        if not isinstance(self.screen, AssociateScreen):
            self.push_screen(AssociateScreen(self.associate), switched)

    def action_settings(self) -> None:
        from associate_tui.screens.dialogs import SettingsScreen

        def saved(config: config_module.Config | None) -> None:
            if config is not None:
                self.apply_config(config)

        if not isinstance(self.screen, SettingsScreen):
            self.push_screen(SettingsScreen(self.config), saved)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield SystemCommand("New ask", "Go to the capture form (F2)", self.action_capture)
        yield SystemCommand("Recent asks", "Search, edit and void asks (F3)", self.action_recent)
        yield SystemCommand("Sync", "HQ link, pending asks, asks HQ refused; sync now (F6)", self.action_sync_screen)
        yield SystemCommand("Insights", "Top unmet asks today, this week, this month (F12)", self.action_insights)
        yield SystemCommand("Switch associate", "Change who is logging (F4)", self.action_switch_associate)
        yield SystemCommand("Setup", "Store, terminal, taxonomy pack (F9)", self.action_settings)
        yield SystemCommand("Help", "Keys and outcome codes (F1)", self.action_help)
        yield from super().get_system_commands(screen)


def binding_registry() -> list[tuple[str, str, str]]:
    """Every binding a site can remap in [keymap]: (id, keys, "app" / "screen" / "dialog")."""
    for module in SCREEN_MODULES:  # the screens and their widgets, each class with its bindings
        importlib.import_module(f"associate_tui.screens.{module}")
    found = [(binding.id, binding.key, "app") for binding in AssociateApp.BINDINGS if binding.id]
    classes: set[type[Widget]] = set()
    unseen: list[type[Widget]] = [Widget]
    while unseen:
        for subclass in unseen.pop().__subclasses__():
            if subclass not in classes:
                classes.add(subclass)
                unseen.append(subclass)
    for widget_class in sorted(classes, key=lambda c: (c.__module__, c.__qualname__)):
        if not widget_class.__module__.startswith("associate_tui."):
            continue
        where = "dialog" if issubclass(widget_class, ModalScreen) else f"screen:{widget_class.__qualname__}"
        for binding in widget_class.__dict__.get("BINDINGS", []):
            if isinstance(binding, Binding) and binding.id:
                found.append((binding.id, binding.key, where))
    return found
