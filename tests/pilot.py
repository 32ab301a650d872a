"""What the Pilot tests share: the app on a scratch file, its rows, and what a person sees."""

from __future__ import annotations

from pathlib import Path

from associate_tui.app import AssociateApp
from associate_tui.config import Config
from associate_tui.store import Store


def make_app(tmp_path: Path, db_path: Path, **config) -> AssociateApp:
    return AssociateApp(Config(**config), database=db_path, config_file=tmp_path / "config.toml")


def rows(db_path: Path) -> list:
    """The asks in the file, oldest first (none before the first save)."""
    if not db_path.exists():
        return []
    with Store(db_path) as store:
        return list(store.iter_asks())


async def settle(pilot) -> None:
    """Let workers finish and their messages reach the screen."""
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def type_text(pilot, text: str) -> int:
    """Type `text` a key at a time; the number of keys pressed."""
    keys = ["space" if ch == " " else ch for ch in text]
    await pilot.press(*keys)
    return len(keys)


def screen_text(app: AssociateApp) -> str:
    """Every line the screen paints, as the terminal receives its characters."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())
