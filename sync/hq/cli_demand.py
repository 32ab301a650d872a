"""`associate-hq demand`: list demand groups with HQ's status, and set it (respond, available)."""

from __future__ import annotations

import argparse
import getpass
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO, TypeAlias

from schemas.text import clean, json_text
from schemas.times import format_utc
from sync.hq.responses import STATUSES, Response, ResponseError, checked_by, checked_expected, checked_note
from sync.hq.storage import HQStorage

if TYPE_CHECKING:
    from sync.hq.report import Window

Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
LIST_TOP = 1000  # the most groups a list shows: the report's own bound
LIST_COLUMNS = (
    "key",
    "label",
    "examples",
    "category",
    "asks",
    "stores",
    "store_asks",
    "this_week",
    "last_week",
    "trend",
    "status",
    "expected_on",
    "note",
    "available_at",
    "changed_by",
    "changed_at",
)
_NEW = {"status": "new", "expected_on": None, "note": None, "available_at": None, "changed_by": None, "changed_at": None}


def register(commands: Commands, db_option: Callable[[argparse.ArgumentParser], None]) -> None:
    """`demand list | respond | available`, each with the --db option the other commands take."""
    demand = commands.add_parser(
        "demand",
        help="demand groups and HQ's answer to them: list, respond, available",
        description="Demand groups across stores with their status (new, reviewing, planned, available, declined), "
        "and the commands that set it; every change is kept with who made it and when.",
    )
    actions = demand.add_subparsers(dest="action", metavar="ACTION", required=True)
    _list_parser(actions, db_option)
    respond = actions.add_parser(
        "respond",
        help="set a group's status (reviewing, planned, declined) and the response stores may read out",
        description="Set a demand group's status and the short response a store may read to a customer, "
        "e.g. --status planned --expected 2027-03-01 --note 'Coming in navy in March'.",
    )
    db_option(respond)
    respond.add_argument("key", metavar="KEY", help="the group's key, as in demand list")
    respond.add_argument("--status", required=True, choices=("reviewing", "planned", "declined"), help="the group's new status")
    respond.add_argument("--expected", metavar="DATE", help="with --status planned: the day it is expected, YYYY-MM-DD")
    respond.add_argument(
        "--note",
        required=True,
        metavar="TEXT",
        help="the response a store may read to a customer (one line, up to 200 characters); with --status declined, the reason",
    )
    _by(respond)
    available = actions.add_parser(
        "available",
        help="mark a group available: chain-wide, or at the stores named",
        description="Mark a demand group available (stocked again, or now carried): chain-wide when no --store "
        "is given, else at the stores named (added to those it is already available at).",
    )
    db_option(available)
    available.add_argument("key", metavar="KEY", help="the group's key, as in demand list")
    available.add_argument(
        "--store", action="append", default=[], metavar="S", help="a store it is available at (repeat for more; none: chain-wide)"
    )
    available.add_argument("--note", metavar="TEXT", help="a response stores may read out (one line, up to 200 characters)")
    _by(available)


def _list_parser(actions: Commands, db_option: Callable[[argparse.ArgumentParser], None]) -> None:
    listing = actions.add_parser(
        "list",
        help="demand groups with their key, wordings, counts, stores and status",
        description="Demand groups with unmet asks in the period, most asked first: key, wordings, asks, "
        "stores (with their asks) and HQ's status and response.",
    )
    db_option(listing)
    listing.add_argument(
        "--since",
        default="7d",
        metavar="SPAN",
        help="how far back in whole UTC days, today included: 7d, 4w or a date YYYY-MM-DD (default 7d)",
    )
    listing.add_argument("--status", choices=STATUSES, help="only groups with this status")
    listing.add_argument("--store", metavar="S", help="only this store's asks")
    listing.add_argument(
        "--format",
        choices=("table", "json", "csv"),
        default="table",
        help="table: for a person (default); json: every field; csv: one row per group",
    )


def _by(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--by", metavar="NAME", help="who makes the change, kept in the history (default: your login name)")


def run(args: argparse.Namespace, storage: HQStorage, out: TextIO) -> int:
    """Run `demand ACTION`; a change HQ refuses raises ResponseError (the caller exits 2 with its words)."""
    if args.action == "list":
        return _list(args, storage, out)
    key = args.key.strip()
    if not storage.responses.known_group(key):
        raise ResponseError(
            f"HQ has never seen demand group '{clean(key)}'; `associate-hq demand list --since 4w` shows the keys"
        )
    by = checked_by(args.by if args.by is not None else _login())
    if args.action == "respond":
        note = checked_note(args.note, required=True)
        expected = checked_expected(args.expected, args.status)
        change = storage.responses.set_status(key, args.status, by=by, expected_on=expected, note=note)
    else:
        stores = [store.strip() for store in args.store]
        storage.responses.checked_stores(stores)
        note = checked_note(args.note)
        change = storage.responses.set_status(key, "available", by=by, note=note, stores=stores)
    if change is None:
        print(f"Demand group {key} is already so; nothing changed.", file=out)
        return 0
    print(f"Demand group {key}: {describe(change)} (by {clean(change.changed_by)}, {change.changed_at[:16]}).", file=out)
    return 0


def describe(response: Response) -> str:
    """A status in a few words: 'planned, expected 2027-03-01: Coming in navy in March'."""
    words = response.status
    if response.status == "planned" and response.expected_on:
        words += f", expected {response.expected_on}"
    if response.status == "available":
        words += f" at {', '.join(response.stores)}" if response.stores else " chain-wide"
    if response.note:
        words += f": {clean(response.note)}"
    return words


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        raise ResponseError("cannot tell who you are from the system; say it with --by NAME") from None


def _list(args: argparse.Namespace, storage: HQStorage, out: TextIO) -> int:
    from sync.hq import report

    try:
        period = report.window(args.since)
    except report.ReportError as error:
        raise ResponseError(str(error)) from None
    groups = listed_groups(storage, period, store=args.store, status=args.status)
    if args.format == "json":
        body = {"since": format_utc(period.since), "until": format_utc(period.until), "groups": groups}
        out.write(json_text(json.dumps(body, ensure_ascii=False, indent=2)) + "\n")
    elif args.format == "csv":
        out.write(report.demand_csv(groups, LIST_COLUMNS))
    else:
        _table(groups, period, args, out)
    return 0


def listed_groups(storage: HQStorage, period: Window, *, store: str | None, status: str | None) -> list[dict[str, Any]]:
    """The report's demand groups in the period, each with its asks per store and HQ's status."""
    from sync.hq import report

    groups = report.demand(storage, period, store=store, top=LIST_TOP)
    keys = [group["key"] for group in groups]
    answers = storage.responses.current(keys)
    per_store = storage.responses.store_asks(
        keys, since=format_utc(period.since)[:10], until=format_utc(period.until)[:10], unmet=report.unmet_outcomes(storage)
    )
    rows = []
    for group in groups:
        answer = answers.get(group["key"])
        row = {name: group[name] for name in LIST_COLUMNS if name in group}
        stores = per_store.get(group["key"], {})
        row["store_asks"] = {name: asks for name, asks in stores.items() if store is None or name == store}
        row.update(answer.fields() if answer else _NEW)
        if status is None or row["status"] == status:
            rows.append(row)
    return rows


def _table(groups: list[dict[str, Any]], period: Window, args: argparse.Namespace, out: TextIO) -> None:
    from rich.console import Console
    from rich.table import Table

    from sync.hq.report import literal as _literal

    console = Console(file=out, width=None if out.isatty() else 160)
    if not groups:
        scope = (f" for store {args.store}" if args.store else "") + (f" with status {args.status}" if args.status else "")
        console.print(
            clean(f"No demand groups with unmet asks since {format_utc(period.since)[:10]}{scope}; try --since 4w."),
            markup=False,
            highlight=False,
        )
        return
    table = Table(title=f"Demand groups since {format_utc(period.since)[:10]}", title_justify="left")
    for name in ("Key", "Asked for", "Asks", "Stores", "Status", "Response"):
        table.add_column(name, justify="right" if name == "Asks" else "left", overflow="fold")
    for group in groups:
        status = group["status"]
        if group["expected_on"]:
            status += f" {group['expected_on']}"
        if status == "available":
            status += " at " + ", ".join(group["available_at"]) if group["available_at"] else " chain-wide"
        table.add_row(
            _literal(group["key"]),
            _literal(" | ".join(group["examples"]) or group["label"]),
            str(group["asks"]),
            _literal(", ".join(f"{name} {asks}" for name, asks in group["store_asks"].items())),
            _literal(status),
            _literal(group["note"] or "-"),
        )
    console.print(table)
