"""`associate customer add`, `follow-ups`, `demand`, `came-in` and `associate log --customer`.

The command line's way to what the app's F5 (customers), F7 (follow-ups), "asked
before" and "it came in" (`i`) do, with the same rules and words (answers.py): a customer passes `customers.checked` and the store's
privacy guard, a follow-up needs the customer's follow-up consent, a demand group is
`schemas.demand` with the store's vocabulary. Like cli.py, the store is imported only
inside the commands that open it.
"""

from __future__ import annotations

import argparse
from datetime import date, timedelta
from typing import TYPE_CHECKING, TextIO

from associate_tui import config as config_module
from associate_tui.answers import IN_STOCK_NOW, came_in_words, in_stock_now, read_news
from associate_tui.asks import check_associate
from associate_tui.customers import CustomerDraft, InvalidCustomer, checked, due_on, guarded
from associate_tui.errors import CustomerNotFound, UsageError
from schemas.demand import demand_key, key_attributes, words
from schemas.privacy import describe
from schemas.text import clean
from schemas.times import parse_utc

if TYPE_CHECKING:
    from associate_tui.answers import GroupNews
    from associate_tui.store import FollowUpPlan, Store
    from schemas.taxonomy import Taxonomy

COMMANDS = ("customer", "follow-ups", "demand", "came-in")
MAX_DUE_DAYS = 365  # a follow-up further out than a year is a typo, not a promise
FOLLOW_UPS_SHOWN = 1000
CONSENTS = ("follow-up", "marketing")
_OPTION = {"name": "NAME", "customer_number": "--customer-number", "consent": "--consent", "contact_channel": "--phone/--email"}


# -- the parsers ---------------------------------------------------------------


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register `customer`, `follow-ups`, `demand` and `came-in` under `associate`."""
    customer = commands.add_parser(
        "customer", help="customers with their consent (add)", description="Customers kept on this terminal, as F5 in the app."
    )
    actions = customer.add_subparsers(dest="customer_command", metavar="ACTION", required=True)
    add = actions.add_parser(
        "add",
        help="save a customer and print their id",
        description="Save a customer and print their id (for `associate log --customer ID`). Phone and email are kept "
        "only with a consent (--consent follow-up and/or marketing, dated now with the config's consent_wording); "
        "card numbers, IBANs and social security numbers typed in the name or customer number are masked.",
    )
    add.add_argument("name", metavar="NAME", help="the customer's name, or how they want to be called")
    add.add_argument("--phone", metavar="P", help="phone number, e.g. '+44 7700 900123' (needs --consent)")
    add.add_argument("--email", metavar="E", help="email address, e.g. jane@example.com (needs --consent)")
    add.add_argument("--customer-number", metavar="N", help="loyalty or account number, e.g. LOY-102938")
    add.add_argument(
        "--consent",
        action="extend",
        nargs="+",
        default=[],
        choices=CONSENTS,
        help="what the customer agreed to: follow-up (contact them about their ask) and/or marketing",
    )
    add.add_argument("--associate", metavar="CODE", help="who saved them (default: from the config)")
    _follow_ups_command(commands)
    _demand_command(commands)
    _came_in_command(commands)


def _follow_ups_command(commands: argparse._SubParsersAction) -> None:
    follow_ups = commands.add_parser(
        "follow-ups",
        help="list open follow-ups, due ones first",
        description="List open follow-ups, soonest due first (those in stock now, then overdue, then today, then later), "
        "one per line, tab separated: due date (marked overdue or today, and 'in stock now' when the ask came in), "
        "customer name, contact, what was asked, follow-up id. "
        "Without --all, only those for the config's associate and those for anyone, as F7 in the app.",
    )
    follow_ups.add_argument("--due", action="store_true", help="only those due today or overdue")
    follow_ups.add_argument("--all", action="store_true", help="every open follow-up, whoever it is for")


def _demand_command(commands: argparse._SubParsersAction) -> None:
    demand = commands.add_parser(
        "demand",
        help="show the demand group TEXT belongs to and how often it was asked here",
        description="Show the demand group TEXT belongs to (category, key attributes and words, recognised as "
        "`associate log` does) and how often it was asked on this terminal: in the last 7 days, the last 30 days "
        "and in all, with its newest wordings; the whole store's count as HQ last sent it (dated), whether it is "
        "back in stock here, and HQ's response (status, expected date, note) or 'none yet'.",
    )
    demand.add_argument("text", metavar="TEXT", help="what a customer asks for, e.g. 'navy rain jacket size M'")
    add_recognition_options(demand)


def _came_in_command(commands: argparse._SubParsersAction) -> None:
    came_in = commands.add_parser(
        "came-in",
        help="say the demand group TEXT belongs to came in: its follow-ups become due today",
        description="Mark the demand group TEXT belongs to (recognised as `associate demand` does) as in stock here, "
        "as `i` does in the app: every open follow-up for an ask of that group becomes due today, 'in stock now'. "
        "Prints how many. The group must have been asked on this terminal.",
    )
    came_in.add_argument("text", metavar="TEXT", help="what came in, worded as customers ask, e.g. 'navy rain jacket size M'")
    add_recognition_options(came_in)
    came_in.add_argument("--associate", metavar="CODE", help="who says it came in (default: from the config)")


def add_recognition_options(parser: argparse.ArgumentParser) -> None:
    """--category and --attr: what overrides the recognition of TEXT (`log` and `demand` alike)."""
    parser.add_argument("--category", metavar="CODE", help="category code (default: the best guess from TEXT)")
    parser.add_argument(
        "--attr", action="append", default=[], metavar="KEY=VALUE", help="an attribute, e.g. colour=navy (repeatable)"
    )


def add_log_options(log: argparse.ArgumentParser) -> None:
    """`associate log --customer ID [--follow-up [--due DATE]]`."""
    log.add_argument("--customer", metavar="ID", help="the customer who asked (an id from `associate customer add`)")
    log.add_argument(
        "--follow-up",
        action="store_true",
        help="contact the customer when it comes in (needs --customer with follow-up consent)",
    )
    log.add_argument("--due", metavar="DATE", help="with --follow-up: the day it is due, YYYY-MM-DD (default: in follow_up_days)")


# -- shared with `associate log` -------------------------------------------------


def recognised(text: str, taxonomy: Taxonomy, category: str | None, pairs: list[str]) -> tuple[str | None, dict[str, str]]:
    """The category and attributes of TEXT as the app recognises them, `--category` and `--attr` taking precedence."""
    attributes = taxonomy.recognise(text)
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--attr '{clean(pair)}' must look like KEY=VALUE, e.g. --attr colour=navy")
        attributes[key.strip().lower()] = value.strip()
    if category is None:
        suggestions = taxonomy.suggest_categories(text, limit=1)
        category = suggestions[0].code if suggestions else None
    return category, attributes


def follow_up_due(args: argparse.Namespace, config: config_module.Config, today: date | None = None) -> str | None:
    """The due day `associate log` promises, checked before anything is opened; None without --follow-up."""
    today = today or date.today()
    if args.follow_up and not args.customer:
        raise UsageError("--follow-up needs --customer ID: the customer to contact (`associate customer add` prints one)")
    if args.due is None:
        return due_on(today, config.follow_up_days) if args.follow_up else None
    if not args.follow_up:
        raise UsageError("--due is the day a follow-up is due: give --follow-up too")
    try:
        due = date.fromisoformat(args.due)
    except ValueError:
        raise UsageError(f"--due '{clean(args.due)}' is not a date; use YYYY-MM-DD, e.g. --due {today.isoformat()}") from None
    if not today <= due <= today + timedelta(days=MAX_DUE_DAYS):
        raise UsageError(f"--due {due.isoformat()}: give a day from today ({today.isoformat()}) to a year ahead")
    return due.isoformat()


def attached(store: Store, args: argparse.Namespace, due: str | None, associate: str) -> tuple[str | None, FollowUpPlan | None]:
    """The customer id and follow-up plan for `associate log`: the customer must be on this terminal."""
    if not args.customer:
        return None, None
    from associate_tui.store import FollowUpPlan  # the store: loaded by the commands that open it

    try:
        customer = store.get_customer(args.customer)
    except CustomerNotFound:
        raise UsageError(
            f"--customer {clean(args.customer)}: no such customer on this terminal (erased, or never saved here); "
            "`associate customer add` prints a new customer's id"
        ) from None
    if due is None:
        return customer.id, None
    if not customer.consent_follow_up:
        raise UsageError(
            "--follow-up: this customer has not agreed to be contacted about their ask; record their follow-up "
            "consent first (in the app: F5, then edit), or log the ask without --follow-up"
        )
    return customer.id, FollowUpPlan(due_on=due, assigned_to=None if associate == "ANY" else associate)


# -- the commands ----------------------------------------------------------------


def run(args: argparse.Namespace, config: config_module.Config, taxonomy: Taxonomy, out: TextIO, err: TextIO) -> int:
    """Run `customer`, `follow-ups` or `demand`; exit 0, or UsageError (exit 2) with words."""
    from associate_tui.store import open_store  # the database: loaded only by the commands that need it

    if args.command == "customer":
        draft = _customer_draft(args)  # checked before the file is opened
        with open_store(config, taxonomy=taxonomy) as store:
            return _add_customer(store, draft, args, config, out, err)
    with open_store(config, taxonomy=taxonomy) as store:
        if args.command == "follow-ups":
            return _follow_ups(store, args, config, out, err)
        if args.command == "came-in":
            return _came_in(store, args, config, taxonomy, out)
        return _demand(store, args, taxonomy, out)


def _customer_draft(args: argparse.Namespace) -> CustomerDraft:
    draft = CustomerDraft(
        name=args.name,
        phone=args.phone,
        email=args.email,
        customer_number=args.customer_number,
        consent_follow_up="follow-up" in args.consent,
        consent_marketing="marketing" in args.consent,
    )
    try:
        return checked(draft)
    except InvalidCustomer as invalid:
        raise UsageError(
            "cannot save this customer:\n  "
            + "\n  ".join(f"{_OPTION.get(e.field, '--' + e.field)}: {_in_options(e.message)}" for e in invalid.errors)
        ) from invalid


def _in_options(message: str) -> str:
    """The form's words for the command line: a consent is given with --consent, not ticked."""
    return message.replace("tick follow-up or marketing", "give --consent follow-up and/or marketing")


def _add_customer(
    store: Store, draft: CustomerDraft, args: argparse.Namespace, config: config_module.Config, out: TextIO, err: TextIO
) -> int:
    associate = args.associate or config.associate
    if problem := check_associate(associate):
        raise UsageError(f"--associate '{clean(associate)}': {problem}")
    found: list[str] = []
    draft = guarded(draft, found)  # the store guards again; this says what was masked
    customer = store.add_customer(
        draft,
        store_id=config.store_id,
        terminal_id=config.terminal_id,
        associate=associate,
        consent_wording=config.consent_wording,
    )
    if found:
        print(f"associate: {describe(found)}", file=err)
    print(customer.id, file=out)
    return 0


def _follow_ups(store: Store, args: argparse.Namespace, config: config_module.Config, out: TextIO, err: TextIO) -> int:
    today = date.today().isoformat()
    found = store.follow_ups(
        due_by=today if args.due else None,
        associate=None if args.all else config.associate,
        limit=FOLLOW_UPS_SHOWN,
    )
    for item in found:
        due = item.due_on + (" overdue" if item.due_on < today else " today" if item.due_on == today else "")
        if in_stock_now(item, today):
            due += f", {IN_STOCK_NOW}"
        fields = (due, item.customer_name or "(erased)", item.customer_contact or "-", item.ask_text, item.id)
        print("\t".join(clean(field) for field in fields), file=out)
    if not found:
        print(
            "associate: nothing to follow up" + (" today" if args.due else "") + ("" if args.all else " (--all: everyone's)"),
            file=err,
        )
    elif len(found) == FOLLOW_UPS_SHOWN:
        print(f"associate: showing the first {FOLLOW_UPS_SHOWN}, soonest due first", file=err)
    return 0


def _group(args: argparse.Namespace, taxonomy: Taxonomy) -> tuple[str | None, dict[str, str]]:
    """TEXT's category and attributes, checked (`demand` and `came-in`)."""
    if not clean(args.text).strip():
        raise UsageError("TEXT is empty: give what the customer asks for, e.g. 'navy rain jacket size M'")
    category, attributes = recognised(args.text, taxonomy, args.category, args.attr)
    if category is not None and taxonomy.category(category) is None:
        raise UsageError(f"--category '{clean(category)}' is not a category of the taxonomy '{taxonomy.name}'")
    return category, attributes


def _demand(store: Store, args: argparse.Namespace, taxonomy: Taxonomy, out: TextIO) -> int:
    category, attributes = _group(args, taxonomy)
    vocabulary = store.vocabulary
    counts = store.group_counts(demand_key(category, attributes, args.text, vocabulary))
    found = taxonomy.category(category) if category else None
    described = [
        found.label if found else "no category",
        ", ".join(f"{key} {attributes[key]}" for key, _ in key_attributes(attributes)) or "no key attributes",
        " ".join(words(args.text, attributes, vocabulary)) or "no other words",
    ]
    lines = [
        ("group", f"{counts.key} ({'; '.join(described)})"),
        ("asked here", f"{counts.this_week} in the last 7 days, {counts.this_month} in the last 30 days, {counts.total} in all"),
        ("last asked", counts.last_asked or "never on this terminal"),
    ]
    if counts.wordings:
        lines.append(("wordings", " | ".join(counts.wordings)))
    news = read_news(store, [counts.key])[counts.key]
    lines += _store_lines(news, store.store_demand_as_of())
    width = max(len(label) for label, _ in lines)
    for label, value in lines:
        print(f"{label.ljust(width)}  {clean(value)}", file=out)
    print(f"HQ's response: {clean(_response(news))}", file=out)
    return 0


def _stamp(utc: str) -> str:
    """'2026-11-30 10:02', local time, for a line a person reads and a script can still parse."""
    try:
        return f"{parse_utc(utc).astimezone():%Y-%m-%d %H:%M}"
    except ValueError:
        return utc


def _store_lines(news: GroupNews, as_of: str | None) -> list[tuple[str, str]]:
    """The whole store's count of the group as HQ last sent it, and whether it is back in stock here."""
    if news.figures is not None:
        figures = news.figures
        counted = f"{figures.week} in the last 7 days, {figures.month} in the last 30 days, every terminal"
        lines = [("store", f"{counted} (HQ's count as of {_stamp(figures.as_of)})")]
    elif as_of is not None:
        lines = [("store", f"not among the store's most asked (HQ's count as of {_stamp(as_of)})")]
    else:
        lines = [("store", "no count from HQ yet (it comes with the sync)")]
    if (restock := news.restock) is not None:
        named = restock.associate not in (None, "ANY")
        who = "HQ" if restock.source == "hq" else f"{restock.associate} said it came in" if named else "marked at the counter"
        lines.append(("restock", f"in stock here since {_stamp(restock.at)} ({who})"))
    return lines


def _response(news: GroupNews) -> str:
    """ "planned, expected 2027-03-01 · Coming in navy in March (changed ..., pulled ...)", or "none yet"."""
    answer = news.answer
    if answer is None:
        return "none yet"
    said = answer.status + (" here" if answer.status == "available" and answer.available_here else "")
    if answer.status == "available" and not answer.available_here:
        said += " at other stores"
    if answer.expected_on:
        said += f", expected {answer.expected_on}"
    if answer.note and answer.note.strip():
        said += " · " + " ".join(clean(answer.note).split())
    return f"{said} (changed {_stamp(answer.changed_at)}, pulled {_stamp(answer.pulled_at)})"


def _came_in(store: Store, args: argparse.Namespace, config: config_module.Config, taxonomy: Taxonomy, out: TextIO) -> int:
    associate = args.associate or config.associate
    if problem := check_associate(associate):
        raise UsageError(f"--associate '{clean(associate)}': {problem}")
    category, attributes = _group(args, taxonomy)
    counts = store.group_counts(demand_key(category, attributes, args.text, store.vocabulary))
    if not counts.total:
        raise UsageError(
            f"no ask on this terminal is in the group of '{clean(args.text)}', so nothing waits for it: check the words "
            "(`associate demand TEXT` shows the group and how often it was asked here)"
        )
    woken = store.mark_came_in(counts.key, associate=associate)
    print(came_in_words(counts.wordings[0] if counts.wordings else args.text, woken, see="associate follow-ups"), file=out)
    return 0
