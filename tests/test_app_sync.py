"""The app's side of sync, driven like a person: the status line, the F6 screen, a real sync to a real HQ."""

from __future__ import annotations

import pytest
from hq_server import HQDatabase, HQThread
from test_app import make_app, settle, type_text
from textual.widgets import DataTable

from associate_tui import link
from associate_tui.app import AssociateApp
from associate_tui.asks import AskDraft
from associate_tui.config import Config
from associate_tui.store import Store
from associate_tui.widgets.choice import Choice
from sync.client import HQBusy, HQError, Offline


def status_line(app: AssociateApp) -> str:
    return str(app.screen.query_one("#sync-status").render())


async def until(pilot, condition, seconds: float, step: float = 0.1) -> None:
    """Let the app run until `condition()` holds or `seconds` have passed; the test's assert says which."""
    for _ in range(round(seconds / step)):
        if condition():
            return
        await pilot.pause(step)


def pending(db_path) -> int:
    with Store(db_path) as store:
        return store.sync_status().pending


def add(db_path, text: str = "navy rain jacket size M", store_id: str = "DEMO", terminal_id: str = "TERMINAL-1"):
    with Store(db_path) as store:
        return store.add_ask(
            AskDraft(text=text, outcome="out_of_stock"), store_id=store_id, terminal_id=terminal_id, associate="AB"
        )


@pytest.mark.slow
async def test_a_terminal_not_linked_to_hq_says_so_and_counts_what_waits(tmp_path, db_path) -> None:
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.4)
        await settle(pilot)
        assert "Not linked to HQ: 0 pending" in status_line(app)
        await type_text(pilot, "black umbrella")
        await pilot.press("enter", "4", "enter")
        await settle(pilot)
        assert "Not linked to HQ: 1 pending" in status_line(app)
        await pilot.press("f6")
        await settle(pilot)
        assert "associate enroll" in str(app.screen.query_one("#sync-link").render())
        await pilot.press("s")
        await pilot.pause()
        assert any("not linked to HQ" in n.message for n in app._notifications)


async def test_the_last_error_and_refused_asks_are_shown_in_plain_words(tmp_path, db_path) -> None:
    bad = add(db_path, "x" * 20)
    with Store(db_path) as store:
        store.apply_results([(bad.id, 1, "rejected", "invalid", "Expected `str` of length <= 300 - at `$.text`")])
        store.record_sync(ok=False, error="Offline: cannot reach HQ at https://hq.example.com.")
    app = make_app(tmp_path, db_path, hq_url="https://hq.example.com")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.4)
        await settle(pilot)
        line = status_line(app)
        assert "1 refused by HQ (F6)" in line and "Offline: cannot reach HQ" in line
        await pilot.press("f6")
        await settle(pilot)
        table = app.screen.query_one("#quarantine", DataTable)
        assert table.row_count == 1
        detail = str(app.screen.query_one("#quarantine-detail").render())
        assert "invalid" in detail and "$.text" in detail


@pytest.mark.slow
async def test_an_ask_saved_at_the_counter_reaches_hq_and_a_refused_one_is_fixed_from_f6(tmp_path, db_path) -> None:
    refused = add(db_path, "y" * 400, store_id="S1", terminal_id="T1")  # breaks the contract: HQ refuses it
    with HQThread(HQDatabase("sqlite", tmp_path / "hq")) as server:  # the terminal's side: one backend is enough
        link.write_token(server.storage.add_terminal("S1", "T1"))
        config = dict(store_id="S1", terminal_id="T1", hq_url=server.url, taxonomy="hq")
        app = AssociateApp(Config(**config), database=db_path, config_file=tmp_path / "config.toml")
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await type_text(pilot, "navy rain jacket size M")
            await pilot.press("enter", "3", "enter")
            await settle(pilot)
            # No key pressed: the app syncs on its own, soon after the save (2 s alone; the sync may meet HQ
            # busy folding on a loaded machine and back off: up to 30 s).
            await until(pilot, lambda: server.storage.count_asks() == 1, 30, 0.2)
            await settle(pilot)
            said = [str(n.message) for n in app._notifications]  # noqa: SLF001 - what the app said, if it fails
            assert server.storage.count_asks() == 1, (status_line(app), said)
            await pilot.press("f6")
            await settle(pilot)
            assert app.screen.query_one("#quarantine", DataTable).row_count == 1
            assert "0 pending" in status_line(app) and "last sync never" not in status_line(app)

            await pilot.press("enter")  # open the refused ask and correct it
            await settle(pilot)
            for _ in range(3):
                await pilot.press("end", "ctrl+u")
            await type_text(pilot, "yellow umbrella")
            await pilot.press("enter")
            await settle(pilot)
            await pilot.press("s")
            await pilot.pause(0.5)
            await settle(pilot)
            assert app.screen.query_one("#quarantine", DataTable).row_count == 0
            held = dict(server.db.rows("SELECT id, text FROM asks"))
            assert set(held.values()) == {"navy rain jacket size M", "yellow umbrella"}
            assert refused.id in held


class Synced:
    """What a sync that went through reports, as far as the app reads it."""

    warning = None
    taxonomy_updated = False

    def summary(self) -> str:
        return "Sent 0 records."


async def test_a_failing_hq_is_retried_with_the_engines_backoff_and_never_later_than_the_interval(
    tmp_path, db_path, monkeypatch
) -> None:
    answers: list[HQError | None] = [
        Offline("Offline: cannot reach HQ."),
        HQBusy("HQ is busy.", status=503, retry_after=600.0),  # longer than the interval: the interval wins
        Offline("Offline: cannot reach HQ."),
        HQError("HQ refused the token.", status=401),  # not transient: the usual interval, the backoff kept
        Offline("Offline: cannot reach HQ."),
        None,
        Offline("Offline: cannot reach HQ."),  # after a sync that went through, the waits start short again
    ]

    def run_sync(store, config, **options):
        answer = answers.pop(0)
        if answer is not None:
            raise answer
        return Synced()

    monkeypatch.setattr(link, "run_sync", run_sync)
    app = make_app(tmp_path, db_path, hq_url="https://hq.example.com", sync_interval=60)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        waits: list[float] = []
        monkeypatch.setattr(app, "_schedule_sync", waits.append)
        while answers:
            app.start_sync()
            await settle(pilot)
        # The engine's Backoff: full jitter from half a second up to 1, 2, 4, 8 s... (attempts 1, 2, 3, 4).
        assert 0.5 <= waits[0] <= 1 and waits[1] == 60 and 0.5 <= waits[2] <= 4 and waits[3] == 60
        assert 0.5 <= waits[4] <= 8 and waits[5] == 60 and 0.5 <= waits[6] <= 1
        warned = [n.message for n in app._notifications if n.title == "Sync"]
        assert warned == [
            "Offline: cannot reach HQ.",
            "HQ is reachable again; pending asks are being sent.",
            "Offline: cannot reach HQ.",
        ]


async def test_an_ask_saved_while_a_sync_runs_goes_in_the_next_sync_soon_after(tmp_path, db_path, monkeypatch) -> None:
    """A sync may have read the outbox before the ask was saved: the next sync comes as soon as after a save,
    not a whole interval later (the start-up sync, 3 s after the app opens, often overlaps the first ask)."""
    import threading

    from associate_tui.app import SYNC_AFTER_SAVE

    release, calls = threading.Event(), []

    def run_sync(store, config, **options):
        calls.append(store.sync_status().pending)
        release.wait(10)  # HQ takes its time over the first sync
        return Synced()

    monkeypatch.setattr(link, "run_sync", run_sync)
    app = make_app(tmp_path, db_path, hq_url="https://hq.example.com", sync_interval=600)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        waits: list[float] = []
        await until(pilot, lambda: bool(calls), 10)  # the start-up sync, 3 s after the app opened
        await type_text(pilot, "navy rain jacket size M")
        await pilot.press("enter", "3", "enter")  # saved while the sync runs (settle would wait for the sync)
        await until(pilot, lambda: pending(db_path) > 0, 5)
        monkeypatch.setattr(app, "_schedule_sync", waits.append)
        release.set()
        await until(pilot, lambda: bool(waits), 5)
        assert calls == [0] and waits == [SYNC_AFTER_SAVE]
        app.start_sync()  # a sync with nothing saved meanwhile: the usual interval after it
        await until(pilot, lambda: len(waits) == 2, 5)
        assert waits == [SYNC_AFTER_SAVE, 600]


async def test_a_screen_out_of_sight_hears_of_a_new_taxonomy(tmp_path, db_path) -> None:
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f3")  # the recent screen exists from now on, out of sight after F2
        await settle(pilot)
        assert "Out of stock" in str(app.screen.query_one("#outcome-filter", Choice).render())
        await pilot.press("f2", "f9")
        await pilot.pause()
        await pilot.press("tab", "tab", "2", "enter")  # Setup: the bank pack
        await settle(pilot)
        await pilot.press("f3")
        await settle(pilot)
        outcomes = str(app.screen.query_one("#outcome-filter", Choice).render())
        assert "Appointment booked" in outcomes and "Out of stock" not in outcomes


async def test_the_sync_screen_shows_what_each_sync_brought_back(tmp_path, db_path, monkeypatch) -> None:
    refusals: list[str] = []

    def run_sync(store, config, **options):
        for text in refusals:  # HQ refuses what it is sent: the sync quarantines it
            ask = store.add_ask(
                AskDraft(text=text, outcome="out_of_stock"), store_id="DEMO", terminal_id="TERMINAL-1", associate="AB"
            )
            store.apply_results([(ask.id, ask.version, "rejected", "too_long", "text: at most 300 characters")])
        refusals.clear()
        return Synced()

    monkeypatch.setattr(link, "run_sync", run_sync)
    app = make_app(tmp_path, db_path, hq_url="https://hq.example.com")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f6")
        await settle(pilot)
        assert app.screen.query_one("#quarantine", DataTable).row_count == 0
        refusals.append("y" * 400)
        await pilot.press("s")
        await settle(pilot)
        await settle(pilot)
        assert app.screen.query_one("#quarantine", DataTable).row_count == 1
        assert "too_long" in str(app.screen.query_one("#quarantine-detail").render())


async def test_an_enrolment_while_the_app_is_open_is_taken_up_before_the_next_ask(tmp_path, db_path) -> None:
    from pilot import make_app, rows, settle, type_text

    from associate_tui import config as config_module

    config_file = tmp_path / "config.toml"
    config_module.save(config_module.Config(store_id="S1", terminal_id="TERMINAL-1"), config_file)
    app = make_app(tmp_path, db_path, store_id="S1", terminal_id="TERMINAL-1", from_file=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        # What `associate enroll` writes from another shell while the app is open.
        enrolled = config_module.Config(store_id="S1", terminal_id="T1", hq_url="http://127.0.0.1:9")
        config_module.save(enrolled, config_file)
        app.follow_config_file()
        await settle(pilot)
        assert "S1 / T1" in app.sub_title
        await type_text(pilot, "silver watch")
        await pilot.press("enter", "4", "enter")
        await settle(pilot)
        [ask] = rows(db_path)
        assert (ask.store_id, ask.terminal_id) == ("S1", "T1")
