"""Customers, consent, preferences and follow-ups, driven from the keyboard like a person would."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from test_app import TYPICAL, make_app, message, rows, settle, type_text
from textual.widgets import Checkbox, DataTable, Input

from associate_tui.customers import CustomerDraft, Preferences
from associate_tui.store import FollowUpPlan, Store


def customers(db_path: Path, query: str = "") -> list:
    with Store(db_path) as store:
        return store.find_customers(query)


def seed_customer(db_path: Path, name: str = "Jane Doe", **changes) -> str:
    draft = CustomerDraft(
        name=name,
        phone="+44 7700 900123",
        email="jane@example.com",
        consent_follow_up=True,
        preferences=Preferences(
            sizes=("M",), colours=("navy",), brands=("Barbour",), contact_channel="sms", contact_time="after 5pm"
        ),
    )
    for key, value in changes.items():
        draft = CustomerDraft(**{**draft.__dict__, key: value})
    with Store(db_path) as store:
        return store.add_customer(draft, store_id="DEMO", terminal_id="TERMINAL-1", associate="AB", consent_wording="2026-1").id


@pytest.mark.slow
async def test_add_a_customer_with_consent_and_log_an_ask_with_a_follow_up(tmp_path, db_path) -> None:
    app = make_app(tmp_path, db_path, follow_up_days=7)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await type_text(pilot, TYPICAL)
        await pilot.press("f5")
        await settle(pilot)
        await type_text(pilot, "Jane Doe")
        await pilot.press("enter")  # no match: opens the new-customer form with the name filled in
        await settle(pilot)
        assert app.screen.query_one("#customer-name", Input).value == "Jane Doe"
        await pilot.press("tab")
        await type_text(pilot, "07700 900123")
        await pilot.press("enter")  # a phone without consent is refused, in words
        await settle(pilot)
        said = str(app.screen.query_one("#customer-form-message").render())
        assert "consent" in said and customers(db_path) == []
        await pilot.press("tab", "tab", "space")  # email (empty), then tick follow-up consent
        assert app.screen.query_one("#consent-follow-up", Checkbox).value
        app.screen.query_one("#pref-sizes", Input).value = "M, 10"
        app.screen.query_one("#pref-colours", Input).value = "navy"
        await pilot.press("enter")  # Enter on the tick box saves, as from any field
        await settle(pilot)
        # Back on the form with the customer attached and their preferences shown.
        line = str(app.screen.query_one("#customer-line").render())
        due = (date.today() + timedelta(days=7)).isoformat()
        assert "Jane Doe" in line and "size M, 10" in line and "navy" in line and f"follow-up due {due}" in line
        assert app.screen.query_one("#ask-text", Input).value == TYPICAL  # nothing typed was lost
        app.screen.query_one("#ask-text", Input).focus()
        await pilot.press("enter", "3", "enter")
        await settle(pilot)
        [ask] = rows(db_path)
        [customer] = customers(db_path)
        assert ask.customer_id == customer.id and customer.phone == "07700 900123"
        assert customer.consent_follow_up and customer.consent_at and customer.consent_wording == "2026-1"
        with Store(db_path) as store:
            [follow_up] = store.follow_ups(associate=None)
        assert (follow_up.ask_id, follow_up.customer_id, follow_up.due_on) == (ask.id, customer.id, due)
        assert f"follow-up due {due}" in message(app)
        assert str(app.screen.query_one("#customer-line").render()) == ""  # the next customer starts clean


@pytest.mark.slow
async def test_an_existing_customer_is_found_by_phone_digits_and_their_preferences_shown(tmp_path, db_path) -> None:
    seed_customer(db_path)
    seed_customer(db_path, "Jo Bloggs", phone=None, email=None, consent_follow_up=False)
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("f5")
        await settle(pilot)
        await type_text(pilot, "900 123")  # typed differently from how it was saved
        await settle(pilot)
        table = app.screen.query_one("#customer-results", DataTable)
        assert table.row_count == 1
        await pilot.press("enter")
        await settle(pilot)
        line = str(app.screen.query_one("#customer-line").render())
        assert "Jane Doe" in line and "Barbour" in line and "prefers sms, after 5pm" in line
        # A customer who gave no consent can be attached, but gets no follow-up, and the form says why.
        await pilot.press("f5")
        await settle(pilot)
        await type_text(pilot, "bloggs")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert "no follow-up: no consent" in str(app.screen.query_one("#customer-line").render())


async def test_follow_up_marked_done_and_another_snoozed(tmp_path, db_path) -> None:
    customer_id = seed_customer(db_path)
    with Store(db_path) as store:
        for text in ("olive chinos 32x34", "navy scarf"):
            store.add_ask(
                _draft(text),
                store_id="DEMO",
                terminal_id="TERMINAL-1",
                associate="AB",
                customer_id=customer_id,
                follow_up=FollowUpPlan(due_on=date.today().isoformat(), assigned_to="AB"),
            )
        store.add_ask(
            _draft("later"),
            store_id="DEMO",
            terminal_id="TERMINAL-1",
            associate="AB",
            customer_id=customer_id,
            follow_up=FollowUpPlan(due_on="2099-01-01", assigned_to=None),
        )
    app = make_app(tmp_path, db_path, associate="AB")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("f7")
        await settle(pilot)
        table = app.screen.query_one("#follow-ups", DataTable)
        assert table.row_count == 2  # due today; the one for 2099 is not shown
        assert "today" in str(table.get_row_at(0)) and "Jane Doe" in str(table.get_row_at(0))
        await pilot.press("d")
        await pilot.press("1")  # reached: bought
        await settle(pilot)
        assert table.row_count == 1
        await pilot.press("z")
        await pilot.press("backspace", "3", "enter")
        await settle(pilot)
        assert table.row_count == 0
        await pilot.press("a")  # every open one
        await settle(pilot)
        assert table.row_count == 2
    with Store(db_path) as store:
        done = store.follow_ups(status="done")
        open_ = store.follow_ups()
    assert [(f.ask_text, f.result) for f in done] == [("olive chinos 32x34", "reached_bought")]
    assert sorted(f.due_on for f in open_) == [(date.today() + timedelta(days=3)).isoformat(), "2099-01-01"]
    assert all(f.version == 2 for f in done + open_ if f.due_on != "2099-01-01")


async def test_erase_a_customer_from_the_picker(tmp_path, db_path) -> None:
    customer_id = seed_customer(db_path)
    with Store(db_path) as store:
        ask = store.add_ask(
            _draft("navy scarf"),
            store_id="DEMO",
            terminal_id="TERMINAL-1",
            associate="AB",
            customer_id=customer_id,
            follow_up=FollowUpPlan(due_on="2099-01-01", assigned_to=None),
        )
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("f5")
        await settle(pilot)
        await pilot.press("f8")
        await pilot.press("n")  # changed their mind: nothing happens
        await settle(pilot)
        assert len(customers(db_path)) == 1
        await pilot.press("f8", "y")
        await settle(pilot)
        assert "erased" in str(app.screen.query_one("#customer-message").render())
    assert customers(db_path) == []
    with Store(db_path) as store:
        kept = store.get_ask(ask.id)
        [follow_up] = store.follow_ups(status="cancelled")
        [(_, action, count, detail)] = store.privacy_log()
    assert kept.text == "navy scarf" and kept.customer_id is None  # anonymous demand
    assert follow_up.customer_id is None and action == "erase" and count == 1 and "Jane" not in detail
    raw = db_path.read_bytes() + (Path(str(db_path) + "-wal").read_bytes() if Path(str(db_path) + "-wal").exists() else b"")
    for trace in (b"Jane Doe", b"900123", b"jane@example.com", b"Barbour"):
        assert trace not in raw


async def test_a_card_number_in_the_note_is_masked_and_the_associate_told(tmp_path, db_path) -> None:
    app = make_app(tmp_path, db_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await type_text(pilot, "refund to card")
        app.screen.query_one("#note", Input).value = "card 4111 1111 1111 1111 exp 12/27"
        await pilot.press("enter", "3", "enter")
        await settle(pilot)
        [ask] = rows(db_path)
        assert ask.note == "card 4111 11** **** 1111 exp 12/27"
        assert "Masked a card number" in message(app)


def _draft(text: str):
    from associate_tui.asks import AskDraft

    return AskDraft(text=text, outcome="out_of_stock")
