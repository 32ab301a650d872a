"""Keys typed ahead: a paste, a scanner or a laggy link delivers many keys at once.

The form must behave as if every key were handled in order, whatever the arrival rate:
nothing lost, moved to another field or saved twice.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import time
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from pilot import make_app, rows
from textual import events
from textual.keys import REPLACED_KEYS, _character_to_key, _get_unicode_name_from_key
from textual.widgets import Input

from associate_tui.asks import AskDraft, checked
from associate_tui.store import Store
from schemas.taxonomy import load_pack


def typed(text: str) -> list[str]:
    return ["space" if ch == " " else ch for ch in text]


@dataclass(frozen=True)
class Spec:
    """One ask as the associate types it, and the row it must become."""

    text: str
    outcome_key: str
    outcome: str
    substitute: str = ""
    accepted: str = ""  # "y" or "n"
    channel: str = ""  # the channel's key, e.g. "p"
    quantity: str = ""
    note: str = ""

    def keys(self) -> list[str]:
        keys = [*typed(self.text), "enter", self.outcome_key]
        # Tab from the outcome: Instead, accepted, channel, quantity, note.
        fields = [typed(self.substitute), [self.accepted] if self.accepted else [], [self.channel] if self.channel else []]
        fields += [list(self.quantity), typed(self.note)]
        last = max((i for i, f in enumerate(fields) if f), default=-1)
        for field in fields[: last + 1]:
            keys += ["tab", *field]
        return [*keys, "enter"]

    def row(self) -> tuple:
        accepted = {"y": True, "n": False}.get(self.accepted)
        return (
            self.text,
            self.outcome,
            self.substitute or None,
            accepted,
            {"p": "phone", "c": "chat", "e": "email"}.get(self.channel, "walk-in"),
            int(self.quantity or 1),
            self.note or None,
        )


def row_of(ask) -> tuple:
    return (ask.text, ask.outcome, ask.substitute, ask.substitute_accepted, ask.channel, ask.quantity, ask.note)


TEN = [
    Spec("blue rain jacket size M", "3", "out_of_stock"),
    Spec("red trainers UK 9", "2", "substituted", "white trainers", "y", "p", "2", "size 10 in stock Friday"),
    Spec("gift wrapping", "1", "found"),
    Spec("black leather bag", "4", "not_carried", note="wants it by Xmas"),
    Spec("navy wool jumper size L", "2", "substituted", "grey wool jumper L", "n"),
    Spec("silver necklace", "7", "ordered", quantity="14", note="call 3pm"),
    Spec("kids wellies size 12", "3", "out_of_stock", channel="c"),
    Spec("linen shirt XL", "5", "too_expensive", note="3 Enter 3"),
    Spec("green scarf", "2", "substituted", "olive scarf", "y", "e", "3"),
    Spec("phone charger usb c", "6", "referred", note="tried 2 shops"),
]


def key_event(key: str) -> events.Key:
    """The key event a terminal would deliver, built as Pilot builds it."""
    if len(key) == 1 and not key.isalnum():
        key = _character_to_key(key)
    try:
        character: str | None = unicodedata.lookup(_get_unicode_name_from_key(REPLACED_KEYS.get(key, key)))
    except KeyError:
        character = key if len(key) == 1 else None
    return events.Key(key, character)


async def idle(pilot, timeout: float = 30.0) -> None:
    """Until every key is handled, every save written and nothing is left queued."""
    app = pilot.app
    deadline = time.monotonic() + timeout
    quiet = 0
    while quiet < 3:
        assert time.monotonic() < deadline, "the app never settled"
        await pilot.pause()
        screen = app.screen
        busy = any(not worker.is_finished for worker in app.workers) or any(
            getattr(screen, flag, False) for flag in ("_typed_ahead", "_waiting", "_saving")
        )
        quiet = 0 if busy else quiet + 1
        await asyncio.sleep(0.01)


async def burst(pilot, *keys: str) -> None:
    """All the keys at once, as a terminal delivers a paste or a laggy link: no pause between them."""
    for key in keys:
        event = key_event(key)
        event.set_sender(pilot.app)
        pilot.app._driver.send_message(event)
    await idle(pilot)


def ask_text(app) -> str:
    return app.screen.query_one("#ask-text", Input).value


# -- the three cases measured at the counter -------------------------------------------


async def test_words_then_enter_digit_enter_in_one_burst_saves_the_ask(tmp_path, db_path) -> None:
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        await burst(pilot, *typed("blue coat"), "enter", "3", "enter")
        [ask] = rows(db_path)
        assert (ask.text, ask.outcome) == ("blue coat", "out_of_stock")
        assert ask_text(app) == ""
        assert app.focused is app.screen.query_one("#ask-text")


async def test_a_space_after_the_saving_enter_is_not_taken_as_the_outcome(tmp_path, db_path) -> None:
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        await pilot.press(*typed("red scarf"), "enter")
        await idle(pilot)
        await burst(pilot, "3", "enter", "space")
        [ask] = rows(db_path)
        assert (ask.text, ask.outcome) == ("red scarf", "out_of_stock")
        # The space belongs to the next ask: typed into the cleared form, not into the saved one.
        assert ask_text(app) == " "


async def test_text_after_tab_goes_to_the_next_field(tmp_path, db_path) -> None:
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        await burst(pilot, *Spec("wool socks", "3", "out_of_stock", quantity="4", note="14 pairs").keys())
        [ask] = rows(db_path)
        assert (ask.text, ask.quantity, ask.note) == ("wool socks", 4, "14 pairs")


# -- whole asks, ten at a time -------------------------------------------------------------


def ten_keys() -> list[str]:
    return [key for spec in TEN for key in spec.keys()]


async def test_ten_asks_in_one_burst_are_ten_rows_as_typed(tmp_path, db_path) -> None:
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        await burst(pilot, *ten_keys())
        assert [row_of(a) for a in rows(db_path)] == [spec.row() for spec in TEN]
        assert ask_text(app) == ""
        assert app.screen.query_one("#quantity", Input).value == "1"


@pytest.mark.slow  # Pilot waits for the app to idle after every key: half a minute for all ten asks
async def test_asks_in_one_pilot_press_are_rows_as_typed(tmp_path, db_path) -> None:
    """The first four of the ten (a plain ask; a substitute taken, with its channel, quantity and note; a found
    one; a not-carried one with a note): the burst tests above type all ten."""
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        await pilot.press(*[key for spec in TEN[:4] for key in spec.keys()])
        await idle(pilot)
        assert [row_of(a) for a in rows(db_path)] == [spec.row() for spec in TEN[:4]]


async def test_a_typo_fixed_with_backspace_in_a_burst(tmp_path, db_path) -> None:
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        await burst(pilot, *typed("blue scarg"), "backspace", "f", "enter", "3", "enter", *typed("hat"))
        [ask] = rows(db_path)
        assert ask.text == "blue scarf"
        assert ask_text(app) == "hat"


async def test_the_typical_ask_still_takes_text_plus_three_keys(tmp_path, db_path) -> None:
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        keys = Spec("blue rain jacket size M", "3", "out_of_stock").keys()
        assert len(keys) == len("blue rain jacket size M") + 3
        await burst(pilot, *keys)
        [ask] = rows(db_path)
        assert ask.attributes == {"colour": "blue", "size": "M"}
        assert ask.category == "clothing.outerwear"


async def test_a_letter_on_the_category_in_a_burst_picks_it(tmp_path, db_path) -> None:
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        await burst(pilot, *typed("black leather bag"), "tab", "tab", "f", "enter", "4", "enter")
        [ask] = rows(db_path)
        assert (ask.text, ask.category, ask.outcome) == ("black leather bag", "footwear", "not_carried")


def seed(db_path: Path, text: str) -> None:
    retail = load_pack("retail")
    categories = retail.suggest_categories(text)
    draft = AskDraft(text=text, outcome="out_of_stock", category=categories[0].code, attributes=retail.recognise(text))
    with Store(db_path, vocabulary=retail.vocabulary()) as store:
        store.add_ask(checked(draft, retail), store_id="DEMO", terminal_id="TERMINAL-1", associate="ZZ")


async def test_tab_never_lands_on_the_same_as_suggestions(tmp_path, db_path) -> None:
    seed(db_path, "blue rain jacket size M")
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        await pilot.press(*typed("rain ja"))
        await idle(pilot)
        assert app.screen.query_one("#similar").display  # the suggestion is showing
        await burst(pilot, "tab", "1")
        assert app.focused is app.screen.query_one("#attributes")
        assert len(rows(db_path)) == 1  # the "1" was typed, not taken as "same as the first"


async def test_keys_typed_after_a_failed_save_do_not_change_the_ask_kept(tmp_path, db_path) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(b"not a database" * 1000)
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        await burst(pilot, *typed("red scarf"), "enter", "1", "enter", *typed("hat"))
        assert ask_text(app) == "red scarf"
        shown = str(app.screen.query_one("#form-message").render())
        assert "damaged" in shown and "3 keys typed after Enter were not used" in shown


async def test_a_screen_key_in_a_burst_takes_the_rest_of_the_burst_with_it(tmp_path, db_path) -> None:
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        await burst(pilot, *typed("red scarf"), "enter", "1", "enter", "f3", *typed("scarf"))
        assert [a.text for a in rows(db_path)] == ["red scarf"]
        assert app.current_mode == "recent"
        assert app.screen.query_one("#search", Input).value == "scarf"


@pytest.mark.slow
async def test_bursts_never_miss_over_many_runs(tmp_path, db_path) -> None:
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        for _ in range(3):
            await burst(pilot, *ten_keys())
        assert [row_of(a) for a in rows(db_path)] == [spec.row() for spec in TEN] * 3


# -- the real app in a real terminal: one tmux send-keys -----------------------------------

TMUX_NAMES = {"enter": "Enter", "tab": "Tab", "space": "Space", "backspace": "BSpace"}


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_ten_asks_in_one_tmux_send_keys(tmp_path: Path) -> None:
    from test_terminal_smoke import wait_for

    session = f"associate-{uuid.uuid4().hex[:8]}"
    data = tmp_path / "data"
    command = f"ASSOCIATE_DATA_DIR={data} ASSOCIATE_CONFIG={tmp_path / 'config.toml'} {sys.executable} -m associate_tui"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "80", "-y", "24", command], check=True)
    try:
        wait_for(session, "What did the customer ask for?")
        time.sleep(0.5)  # the first paint done and the store opened, as a person would find it
        keys = [TMUX_NAMES.get(key, key) for key in ten_keys()]
        subprocess.run(["tmux", "send-keys", "-t", session, *keys], check=True)  # one burst
        wait_for(session, f"Saved: {TEN[-1].text}", timeout=60)
        time.sleep(1.0)  # anything saved twice would show now
        saved = [row_of(a) for a in rows(data / "associate.db")]
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    assert saved == [spec.row() for spec in TEN]
