"""Start-up: the capture screen is painted with the words first, and no key typed meanwhile is lost.

The screen starts as the ask's words with the cursor in them; the rest of the form, the list
of what was just logged, the status line and the keys are mounted straight after (issue 18).
Keys typed before then, even before the screen has the cursor, must all land where they would
have: letters in the words at once, Enter and the digit of the outcome once the form is whole.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pytest
from pilot import rows
from test_bursts import burst, idle, key_event, typed
from textual import events
from textual.widgets import Input, Static

from associate_tui import config as config_module
from associate_tui.app import AssociateApp
from associate_tui.config import Config
from schemas.limits import MAX_TEXT
from schemas.taxonomy import BUILTIN_PACKS, HQ_PACK

ROOT = Path(__file__).resolve().parents[1]
AN_ASK_THEN_MORE = [*typed("blue coat"), "enter", "3", "enter", *typed("red hat")]


class HeldApp(AssociateApp):
    """The app with the rest of its capture screen held back until `release()`: the moments after the first paint."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.gate = threading.Event()

    @property
    def taxonomy(self):  # the screen's `prepare` worker reads it first, off the screen's thread
        if threading.current_thread() is not threading.main_thread():
            self.gate.wait(10)
        return super().taxonomy

    def release(self) -> None:
        self.gate.set()


class KeysAtMount(AssociateApp):
    """The app with keys arriving as it mounts: before the first paint, before anything has the cursor."""

    def on_mount(self) -> None:  # Textual runs AssociateApp.on_mount too (every class's own handler)
        for key in AN_ASK_THEN_MORE:
            event = key_event(key)
            event.set_sender(self)
            self._driver.send_message(event)


def ask_text(app: AssociateApp) -> str:
    return app.screen.query_one("#ask-text", Input).value


async def test_the_first_paint_is_the_words_with_the_cursor_in_them(tmp_path, db_path) -> None:
    app = HeldApp(Config(), database=db_path, config_file=tmp_path / "config.toml")
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.focused is app.screen.query_one("#ask-text")
        assert not app.screen.query("#outcome") and not app.screen.query("#recent-asks")
        app.release()
        await idle(pilot)
        assert app.screen.query("#outcome") and app.screen.query("#recent-asks") and app.screen.query("KeyFooter")
        assert app.focused is app.screen.query_one("#ask-text")


async def test_keys_typed_before_the_rest_of_the_form_is_there_are_kept_in_order(tmp_path, db_path) -> None:
    app = HeldApp(Config(), database=db_path, config_file=tmp_path / "config.toml")
    async with app.run_test(size=(80, 24)) as pilot:
        await burst_held(pilot, *AN_ASK_THEN_MORE)
        # The letters are in the words at once; Enter and the rest wait for the outcome to be there.
        assert ask_text(app) == "blue coat"
        assert rows(db_path) == []
        app.release()
        await idle(pilot)
        [ask] = rows(db_path)
        assert (ask.text, ask.outcome, ask.attributes) == ("blue coat", "out_of_stock", {"colour": "blue"})
        assert ask_text(app) == "red hat"
        assert app.focused is app.screen.query_one("#ask-text")
        await burst(pilot, "enter", "4", "enter")  # and the form works as ever afterwards
        assert [(a.text, a.outcome) for a in rows(db_path)] == [("blue coat", "out_of_stock"), ("red hat", "not_carried")]


async def test_words_cut_to_fit_before_the_rest_is_there_are_said_once_it_is(tmp_path, db_path) -> None:
    app = HeldApp(Config(), database=db_path, config_file=tmp_path / "config.toml")
    async with app.run_test(size=(80, 24)) as pilot:
        await burst_held(pilot, *typed("x" * (MAX_TEXT + 3)))
        assert ask_text(app) == "x" * MAX_TEXT
        app.release()
        await idle(pilot)
        said = str(app.screen.query_one("#form-message", Static).render())
        assert f"Cut to {MAX_TEXT} characters" in said


async def test_a_paste_before_the_rest_is_there_goes_into_the_words_whole(tmp_path, db_path) -> None:
    app = HeldApp(Config(), database=db_path, config_file=tmp_path / "config.toml")
    async with app.run_test(size=(80, 24)) as pilot:
        app._driver.send_message(events.Paste("navy parka\nsize M"))
        await burst_held(pilot, "enter", "3", "enter")
        assert rows(db_path) == []
        app.release()
        await idle(pilot)
        assert [(a.text, a.outcome) for a in rows(db_path)] == [("navy parka size M", "out_of_stock")]


async def burst_held(pilot, *keys: str) -> None:
    """Keys as a terminal delivers a burst, while the rest of the screen is held back: they are taken, not handled."""
    for key in keys:
        event = key_event(key)
        event.set_sender(pilot.app)
        pilot.app._driver.send_message(event)
    for _ in range(5):
        await pilot.pause()


async def test_keys_typed_before_anything_has_the_cursor_go_to_the_words(tmp_path, db_path) -> None:
    app = KeysAtMount(Config(), database=db_path, config_file=tmp_path / "config.toml")
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        assert [(a.text, a.outcome) for a in rows(db_path)] == [("blue coat", "out_of_stock")]
        assert ask_text(app) == "red hat"


async def test_keys_pressed_as_soon_as_the_app_runs_save_the_ask(tmp_path, db_path) -> None:
    app = AssociateApp(Config(), database=db_path, config_file=tmp_path / "config.toml")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*AN_ASK_THEN_MORE)
        await idle(pilot)
        assert [(a.text, a.outcome) for a in rows(db_path)] == [("blue coat", "out_of_stock")]
        assert ask_text(app) == "red hat"


async def test_a_damaged_hq_pack_stops_the_app_with_words(tmp_path, db_path) -> None:
    config_module.hq_taxonomy_path().parent.mkdir(parents=True, exist_ok=True)
    config_module.hq_taxonomy_path().write_text("{not json")
    app = AssociateApp(Config(taxonomy=HQ_PACK), database=db_path, config_file=tmp_path / "config.toml")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
    assert app.return_code == 2


def test_the_packs_trusted_without_a_check_at_start_are_the_built_in_ones_and_hqs() -> None:
    assert set(config_module.TRUSTED_PACKS) == {*BUILTIN_PACKS, HQ_PACK}


def test_the_first_paint_loads_nothing_it_does_not_show() -> None:
    """The command line and the app load the capture screen's words; the rest after the first paint."""
    later = [
        "schemas.taxonomy",
        "schemas.privacy",
        "associate_tui.asks",
        "associate_tui.store",
        "associate_tui.link",
        "associate_tui.commands",
        "associate_tui.cli_customers",
        "associate_tui.widgets.asks_table",
        "associate_tui.widgets.key_footer",
        *(
            f"associate_tui.screens.{name}"
            for name in ("customers", "dialogs", "edit", "follow_ups", "insights", "recent", "sync")
        ),
        "textual.widgets._data_table",
        "textual.widgets._footer",
        "importlib.metadata",
        "msgspec",
        "rapidfuzz",
        "httpx",
    ]
    code = f"import sys, associate_tui.cli, associate_tui.app; print([m for m in {later!r} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


# -- the real app in a real terminal -----------------------------------------------------------

TYPE_AHEAD = textwrap.dedent(
    """
    {python} -m associate_tui; stty -a | grep -oE '(^| )-?(icanon|echo|icrnl)( |$)' | tr -d ' ' | tr '\\n' ' '; echo SETTINGS
    """
).strip()


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_an_ask_typed_while_the_app_starts_is_saved_and_the_terminal_is_put_back(tmp_path: Path) -> None:
    from test_terminal_smoke import wait_for

    session = f"associate-{uuid.uuid4().hex[:8]}"
    data = tmp_path / "data"
    env = f"ASSOCIATE_DATA_DIR={data} ASSOCIATE_CONFIG={tmp_path / 'config.toml'}"
    command = f'{env} sh -c "{TYPE_AHEAD.format(python=sys.executable)}"; sleep 30'
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "80", "-y", "24", command], check=True)
    try:
        wait_until_the_app_holds_the_keys(session)  # Python has started; Textual and the app are still loading
        subprocess.run(["tmux", "send-keys", "-t", session, "blue coat", "Enter", "3", "Enter"], check=True)
        wait_for(session, "Saved: blue coat", timeout=30)
        saved = [(a.text, a.outcome) for a in rows(data / "associate.db")]
        subprocess.run(["tmux", "send-keys", "-t", session, "F10"], check=True)
        wait_for(session, "SETTINGS", timeout=30)
        settings = subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    assert saved == [("blue coat", "out_of_stock")]
    # As the shell had them before: lines, echo, Enter as a newline.
    line = next(line for line in settings.splitlines() if line.endswith("SETTINGS"))
    assert sorted(line.split()[:-1]) == ["echo", "icanon", "icrnl"], line


def wait_until_the_app_holds_the_keys(session: str, timeout: float = 30.0) -> None:
    """Until the command has its terminal out of line mode (keys typed before Python runs are the shell's to cook)."""
    tty = subprocess.run(["tmux", "display", "-p", "-t", session, "#{pane_tty}"], capture_output=True, text=True).stdout.strip()
    deadline = time.monotonic() + timeout
    while "-icanon" not in subprocess.run(["stty", "-F", tty, "-a"], capture_output=True, text=True).stdout:
        assert time.monotonic() < deadline, "the app never took its terminal"
        time.sleep(0.005)
