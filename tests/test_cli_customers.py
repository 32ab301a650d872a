"""`associate customer add`, `log --customer/--follow-up`, `follow-ups` and `demand`, as a script runs them."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

from associate_tui.cli import main
from associate_tui.store import Store

ROOT = Path(__file__).resolve().parents[1]
TODAY = date.today()


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def add_customer(capsys, *args: str) -> str:
    code, out, err = run(capsys, "customer", "add", *args)
    assert code == 0, err
    return out.strip()


def customers(db_path: Path) -> list:
    with Store(db_path) as store:
        return store.find_customers(limit=100)


def asks(db_path: Path) -> list:
    with Store(db_path) as store:
        return list(store.iter_asks())


def open_follow_ups(db_path: Path) -> list:
    with Store(db_path) as store:
        return store.follow_ups()


def write_config(isolated_dirs: Path, text: str) -> None:
    Path(os.environ["ASSOCIATE_CONFIG"]).write_text(text)


# -- customer add ----------------------------------------------------------------


def test_customer_add_prints_the_id_and_keeps_contact_with_a_dated_consent(capsys, db_path) -> None:
    customer_id = add_customer(
        capsys, "Jane  Doe", "--phone", "+44 7700 900123", "--email", "Jane@Example.COM", "--consent", "follow-up"
    )
    [customer] = customers(db_path)
    assert customer.id == customer_id
    assert (customer.name, customer.phone, customer.email) == ("Jane Doe", "+44 7700 900123", "Jane@example.com")
    assert customer.consent_follow_up and not customer.consent_marketing
    assert customer.consent_at and customer.consent_wording == "2026-1"
    assert (customer.store_id, customer.terminal_id, customer.associate) == ("DEMO", "TERMINAL-1", "ANY")


def test_customer_add_takes_both_consents_either_way_and_a_customer_number(capsys, db_path) -> None:
    add_customer(capsys, "A", "--email", "a@example.com", "--consent", "follow-up", "marketing", "--customer-number", "LOY-1")
    add_customer(capsys, "B", "--email", "b@example.com", "--consent", "marketing", "--consent", "follow-up")
    add_customer(capsys, "C", "--associate", "ab")
    found = {c.name: c for c in customers(db_path)}
    assert all(found[name].consent_follow_up and found[name].consent_marketing for name in "AB")
    assert found["A"].customer_number == "LOY-1"
    assert found["C"].consent_at is None and found["C"].associate == "ab"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["Jane", "--phone", "+44 7700 900123"], "--consent: contact details are kept only with the customer's consent"),
        (["Jane", "--email", "jane@example.com", "--consent"], "expected at least one argument"),
        (["Jane", "--consent", "follow-up"], "--consent: to follow up we need a phone number or an email address"),
        (["Jane", "--phone", "12", "--consent", "follow-up"], "--phone: a phone number has 6 to 15 digits"),
        (["Jane", "--email", "jane at example", "--consent", "marketing"], "--email: an email address looks like"),
        (["   "], "NAME: give the customer's name"),
        (["Jane", "--customer-number", "#1"], "--customer-number: use letters"),
        (["Jane", "--consent", "newsletter"], "invalid choice: 'newsletter'"),
        (["Jane", "--associate", "no spaces"], "--associate"),
    ],
)
def test_customer_add_refuses_bad_input_with_exit_2_and_saves_nothing(capsys, db_path, args, says) -> None:
    if "--consent" in args[-1:] or "newsletter" in args:  # argparse's own refusal
        with pytest.raises(SystemExit) as refused:
            main(["customer", "add", *args])
        code, out, err = refused.value.code, *capsys.readouterr()
    else:
        code, out, err = run(capsys, "customer", "add", *args)
    assert code == 2 and out == ""
    assert says in err
    assert customers(db_path) == []


def test_customer_add_says_how_to_give_consent_on_the_command_line(capsys, db_path) -> None:
    _, _, err = run(capsys, "customer", "add", "Jane", "--email", "jane@example.com")
    assert "give --consent follow-up and/or marketing" in err and "tick" not in err


def test_customer_add_masks_a_card_number_and_says_so(capsys, db_path) -> None:
    code, out, err = run(capsys, "customer", "add", "Bob 4111 1111 1111 1111", "--customer-number", "4111111111111111")
    assert code == 0
    [customer] = customers(db_path)
    assert out.strip() == customer.id
    assert "1111 1111 1111" not in customer.name and "4111111111111111" != customer.customer_number
    assert "Masked a card number" in err


def test_customer_add_strips_control_characters(capsys, db_path) -> None:
    add_customer(capsys, "Jane\x1b[31m Doe\u202e")
    [customer] = customers(db_path)
    assert customer.name == "Jane[31m Doe"


def test_customer_needs_an_action(capsys) -> None:
    with pytest.raises(SystemExit) as refused:
        main(["customer"])
    assert refused.value.code == 2 and "ACTION" in capsys.readouterr().err


# -- log --customer [--follow-up [--due DATE]] -------------------------------------


def test_log_with_a_customer_links_the_ask_without_a_follow_up(capsys, db_path) -> None:
    customer_id = add_customer(capsys, "Jane")
    code, out, err = run(capsys, "log", "navy rain jacket", "--outcome", "out_of_stock", "--customer", customer_id)
    assert code == 0, err
    [ask] = asks(db_path)
    assert out.strip() == ask.id and ask.customer_id == customer_id
    assert open_follow_ups(db_path) == []


def test_log_with_a_follow_up_is_due_in_the_configs_follow_up_days(capsys, db_path, isolated_dirs) -> None:
    write_config(isolated_dirs, "follow_up_days = 3\n")
    customer_id = add_customer(capsys, "Jane", "--phone", "07700 900123", "--consent", "follow-up")
    code, out, err = run(capsys, "log", "navy rain jacket", "--outcome", "out_of_stock", "--customer", customer_id, "--follow-up")
    assert code == 0, err
    [follow_up] = open_follow_ups(db_path)
    assert follow_up.ask_id == out.strip() and follow_up.customer_id == customer_id
    assert follow_up.due_on == (TODAY + timedelta(days=3)).isoformat()
    assert follow_up.assigned_to is None  # logged as ANY: for whoever is at the counter


def test_log_with_a_follow_up_on_a_given_day_for_the_associate(capsys, db_path) -> None:
    customer_id = add_customer(capsys, "Jane", "--email", "jane@example.com", "--consent", "follow-up")
    due = (TODAY + timedelta(days=10)).isoformat()
    args = ("--customer", customer_id, "--follow-up", "--due", due, "--associate", "ab")
    code, _, err = run(capsys, "log", "navy rain jacket", "--outcome", "out_of_stock", *args)
    assert code == 0, err
    [follow_up] = open_follow_ups(db_path)
    assert (follow_up.due_on, follow_up.assigned_to, follow_up.associate) == (due, "ab", "ab")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--follow-up"], "--follow-up needs --customer ID"),
        (["--customer", "{id}", "--due", "{tomorrow}"], "--due is the day a follow-up is due: give --follow-up too"),
        (["--customer", "{id}", "--follow-up", "--due", "next week"], "--due 'next week' is not a date; use YYYY-MM-DD"),
        (["--customer", "{id}", "--follow-up", "--due", "{yesterday}"], "give a day from today"),
        (["--customer", "{id}", "--follow-up", "--due", "{far}"], "to a year ahead"),
        (["--customer", "01a2-no-such-customer"], "--customer 01a2-no-such-customer: no such customer on this terminal"),
        (["--customer", "{marketing}", "--follow-up"], "this customer has not agreed to be contacted about their ask"),
    ],
)
def test_log_refuses_a_bad_customer_or_follow_up_and_saves_nothing(capsys, db_path, args, says) -> None:
    values = {
        "id": add_customer(capsys, "Jane", "--phone", "07700 900123", "--consent", "follow-up"),
        "marketing": add_customer(capsys, "Max", "--email", "max@example.com", "--consent", "marketing"),
        "tomorrow": (TODAY + timedelta(days=1)).isoformat(),
        "yesterday": (TODAY - timedelta(days=1)).isoformat(),
        "far": (TODAY + timedelta(days=400)).isoformat(),
    }
    code, out, err = run(capsys, "log", "navy rain jacket", "--outcome", "out_of_stock", *[a.format(**values) for a in args])
    assert code == 2 and out == ""
    assert says in err
    assert asks(db_path) == [] and open_follow_ups(db_path) == []


# -- follow-ups ------------------------------------------------------------------


def _promise(capsys, db_path, customer_id: str, text: str, *, due: date, associate: str = "ANY") -> str:
    code, out, err = run(
        capsys, "log", text, "--outcome", "out_of_stock", "--customer", customer_id, "--follow-up", "--associate", associate
    )
    assert code == 0, err
    with Store(db_path) as store:
        [follow_up] = [f for f in store.follow_ups(limit=1000) if f.ask_id == out.strip()]
        store.snooze_follow_up(follow_up.id, until=due.isoformat())  # overdue ones cannot be logged, only become so
    return follow_up.id


def test_follow_ups_lists_overdue_and_today_first_one_line_each(capsys, db_path) -> None:
    jane = add_customer(capsys, "Jane Doe", "--phone", "07700 900123", "--email", "jane@example.com", "--consent", "follow-up")
    later = _promise(capsys, db_path, jane, "green wellies", due=TODAY + timedelta(days=5))
    today = _promise(capsys, db_path, jane, "navy rain jacket", due=TODAY)
    overdue = _promise(capsys, db_path, jane, "red scarf", due=TODAY - timedelta(days=2))
    code, out, err = run(capsys, "follow-ups")
    assert code == 0, err
    lines = [line.split("\t") for line in out.splitlines()]
    assert [line[-1] for line in lines] == [overdue, today, later]
    assert lines[0] == [
        f"{(TODAY - timedelta(days=2)).isoformat()} overdue",
        "Jane Doe",
        "07700 900123 / jane@example.com",
        "red scarf",
        overdue,
    ]
    assert lines[1][0] == f"{TODAY.isoformat()} today" and lines[2][0] == (TODAY + timedelta(days=5)).isoformat()
    code, out, _ = run(capsys, "follow-ups", "--due")
    assert [line.split("\t")[-1] for line in out.splitlines()] == [overdue, today]


def test_follow_ups_for_another_associate_show_with_all(capsys, db_path) -> None:
    jane = add_customer(capsys, "Jane", "--phone", "07700 900123", "--consent", "follow-up")
    theirs = _promise(capsys, db_path, jane, "navy rain jacket", due=TODAY, associate="ab")
    mine = _promise(capsys, db_path, jane, "red scarf", due=TODAY)
    assert [line.split("\t")[-1] for line in run(capsys, "follow-ups")[1].splitlines()] == [mine]
    assert sorted(line.split("\t")[-1] for line in run(capsys, "follow-ups", "--all")[1].splitlines()) == sorted([theirs, mine])


def test_follow_ups_print_no_control_characters(capsys, db_path) -> None:
    jane = add_customer(capsys, "Jane", "--phone", "07700 900123", "--consent", "follow-up")
    follow_up_id = _promise(capsys, db_path, jane, "navy jacket", due=TODAY)
    with sqlite3.connect(db_path) as conn:  # as if an older version had let them in
        conn.execute("UPDATE asks SET text = ? WHERE customer_id = ?", ("navy\x1b[2J jacket\u202e\x07", jane))
        conn.execute("UPDATE customers SET name = ? WHERE id = ?", ("Ja\x1bne\tDoe", jane))
    _, out, _ = run(capsys, "follow-ups")
    assert out == f"{TODAY.isoformat()} today\tJane Doe\t07700 900123\tnavy[2J jacket\t{follow_up_id}\n"


def test_no_follow_ups_prints_nothing_and_says_so(capsys, db_path) -> None:
    code, out, err = run(capsys, "follow-ups", "--due")
    assert (code, out) == (0, "") and "nothing to follow up today" in err


# -- demand ----------------------------------------------------------------------


def test_demand_shows_the_group_and_its_local_counts(capsys, db_path) -> None:
    for text in ("navy rain jacket size M", "rain jackets in navy, M", "navy rain jacket size L", "red scarf"):
        assert run(capsys, "log", text, "--outcome", "out_of_stock")[0] == 0
    old = run(capsys, "log", "navy rain jacket M", "--outcome", "found")[1].strip()
    voided = run(capsys, "log", "navy rain jacket size M", "--outcome", "found")[1].strip()
    with Store(db_path) as store:
        store.void_ask(voided, "logged twice")
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE asks SET created_at = '2020-01-01T10:00:00.000Z' WHERE id = ?", (old,))
    code, out, err = run(capsys, "demand", "Navy rain jackets, size M")
    assert code == 0, err
    lines = dict(re.split(r"\s{2,}", line, maxsplit=1) for line in out.splitlines()[:-1])
    assert "Clothing › Outerwear; colour navy, size M; jacket rain" in lines["group"]
    assert lines["asked here"] == "2 in the last 7 days, 2 in the last 30 days, 3 in all"
    assert "rain jackets in navy, M" in lines["wordings"] and "navy rain jacket size M" in lines["wordings"]
    assert out.splitlines()[-1] == "HQ's response: none yet"


def test_demand_of_something_never_asked_here(capsys, db_path) -> None:
    code, out, _ = run(capsys, "demand", "red boots size 9", "--attr", "brand=Acme", "--category", "footwear")
    assert code == 0
    assert "0 in the last 7 days, 0 in the last 30 days, 0 in all" in out and "never on this terminal" in out
    assert "brand Acme" in out and "HQ's response: none yet" in out


def test_demand_groups_like_log_with_the_same_overrides(capsys, db_path) -> None:
    run(capsys, "log", "wellies", "--outcome", "out_of_stock", "--category", "footwear", "--attr", "colour=green")
    _, out, _ = run(capsys, "demand", "wellies", "--category", "footwear", "--attr", "colour=green")
    assert "1 in all" in out
    _, out, _ = run(capsys, "demand", "wellies")
    assert "0 in all" in out


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["  \x07 "], "TEXT is empty"),
        (["jacket", "--attr", "navy"], "KEY=VALUE"),
        (["jacket", "--category", "shoes"], "--category 'shoes' is not a category"),
    ],
)
def test_demand_refuses_bad_input(capsys, db_path, args, says) -> None:
    code, out, err = run(capsys, "demand", *args)
    assert code == 2 and out == "" and says in err


def test_demand_prints_no_control_characters(capsys, db_path) -> None:
    run(capsys, "log", "navy jacket", "--outcome", "out_of_stock")
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE asks SET text = ?", ("navy\x1b]0;pwned\x07 jacket\u202e",))
    _, out, _ = run(capsys, "demand", "navy\x1b[2J jacket")
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out


# -- as a script runs them -------------------------------------------------------


def test_a_script_adds_a_customer_logs_a_follow_up_and_lists_it(db_path) -> None:
    def associate(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "associate_tui", *args], cwd=ROOT, capture_output=True, text=True, timeout=60, env=os.environ
        )

    refused = associate("customer", "add", "Jane", "--phone", "07700 900123")
    assert refused.returncode == 2 and refused.stdout == "" and "consent" in refused.stderr
    added = associate("customer", "add", "Jane", "--phone", "07700 900123", "--consent", "follow-up")
    assert added.returncode == 0, added.stderr
    customer_id = added.stdout.strip()
    logged = associate("log", "navy rain jacket", "--outcome", "out_of_stock", "--customer", customer_id, "--follow-up")
    assert logged.returncode == 0, logged.stderr
    listed = associate("follow-ups", "--all")
    assert listed.returncode == 0 and listed.stdout.count("\n") == 1
    assert listed.stdout.split("\t")[1:4] == ["Jane", "07700 900123", "navy rain jacket"]
    shown = associate("demand", "navy rain jackets")
    assert shown.returncode == 0 and "1 in all" in shown.stdout and "HQ's response: none yet" in shown.stdout
