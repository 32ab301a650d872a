"""The `associate` command: the app, and what scripts and IT need without it.

Textual is imported only when the app itself runs, so `associate log` and
`associate export` start fast.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import sys
from datetime import datetime, timezone
from typing import TYPE_CHECKING, TextIO

from associate_tui import cli_customers, link
from associate_tui import config as config_module
from associate_tui.asks import FEEDBACK, Ask, AskDraft, InvalidAsk, check_associate, checked
from associate_tui.errors import StoreError, UsageError
from associate_tui.ids import format_utc
from associate_tui.ratings import RATINGS
from schemas import PrintRelease
from schemas.taxonomy import TaxonomyError
from schemas.text import clean, csv_row, json_text

if TYPE_CHECKING:
    from associate_tui.store import Store
    from schemas.taxonomy import Taxonomy

EXIT_USAGE = 2
EXIT_FAILED = 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="associate",
        description="Associate Terminal: log what customers ask for at the counter, offline. With no command, starts the app.",
    )
    parser.add_argument("--version", action=PrintRelease)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    commands.add_parser("run", help="start the app (the default)", description="Start the app.")
    _log_command(commands)
    cli_customers.add_commands(commands)
    _export_command(commands)
    _enroll_command(commands)
    _sync_command(commands)
    commands.add_parser(
        "status",
        help="print store, terminal, files, asks, pending sync, quarantine and the last sync",
        description="Print this terminal's store and terminal ids, the data file and config file, the database "
        "schema, how many asks there are, the HQ it is linked to, how many records wait to be sent, how many HQ "
        "refused (quarantined), when the last sync succeeded and the last sync error, if any.",
    )
    return parser


def _log_command(commands: argparse._SubParsersAction) -> None:
    log = commands.add_parser(
        "log",
        help="save one ask (or, with --rating, feedback) and print its id",
        description="Save one ask and print its id. Colours, sizes and the category are recognised "
        "from TEXT as in the app; --attr and --category override them. With --rating N instead of --outcome, "
        "TEXT is feedback: what the customer said about a product or service (praise, a complaint, an idea), "
        "rated " + ", ".join(f"{rating} {words}" for rating, words in RATINGS.items()) + "; it is not counted as demand.",
    )
    log.add_argument(
        "text", metavar="TEXT", help="what the customer asked for, e.g. 'blue rain jacket size M' (or, with --rating, said)"
    )
    log.add_argument("--outcome", metavar="CODE", help="what happened, e.g. out_of_stock (an ask needs one)")
    log.add_argument(
        "--rating",
        type=int,
        metavar="N",
        help="feedback instead of an ask: how the customer rated it, 1 (let down) to 5 (loved it); no --outcome then",
    )
    cli_customers.add_recognition_options(log)
    log.add_argument("--substitute", metavar="TEXT", help="what was offered instead")
    accepted = log.add_mutually_exclusive_group()
    accepted.add_argument(
        "--accepted", dest="accepted", action="store_const", const=True, help="the customer took the substitute"
    )
    accepted.add_argument(
        "--declined", dest="accepted", action="store_const", const=False, help="the customer declined the substitute"
    )
    log.add_argument("--quantity", type=int, default=1, metavar="N", help="how many (default 1)")
    log.add_argument("--channel", metavar="C", help="walk-in, phone, chat or email (default: walk-in)")
    log.add_argument("--note", metavar="TEXT", help="a free note")
    log.add_argument("--associate", metavar="CODE", help="who logged it (default: from the config)")
    cli_customers.add_log_options(log)


def _export_command(commands: argparse._SubParsersAction) -> None:
    export = commands.add_parser(
        "export",
        help="write every ask and feedback to stdout",
        description="Write every ask and feedback (all fields, latest version, voided ones included) to stdout; "
        "feedback has the outcome 'feedback' and its rating 1-5, an ask an empty rating.",
    )
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl", help="output format (default jsonl)")
    export.add_argument("--since", metavar="DATE", help="only asks created on or after DATE (YYYY-MM-DD or ISO-8601 time, UTC)")


def _enroll_command(commands: argparse._SubParsersAction) -> None:
    enroll = commands.add_parser(
        "enroll",
        help="link this terminal to HQ with the token IT gave you",
        description="Check TOKEN with HQ at URL, then keep the URL, this terminal's store and terminal ids "
        "(as HQ knows them) in the config file and the token in a file only this user can read. Records logged "
        "before (asks, customers, follow-ups, erasures HQ has never received) are adopted into that store and "
        "terminal as new versions, so they are sent; records HQ already holds stay where they are.",
    )
    enroll.add_argument("url", metavar="URL", help="HQ's address, e.g. https://hq.example.com")
    enroll.add_argument("--token", required=True, metavar="TOKEN", help="the token printed by `associate-hq terminal add`")


def _sync_command(commands: argparse._SubParsersAction) -> None:
    sync = commands.add_parser(
        "sync",
        help="send pending asks to HQ now (or keep doing so with --watch)",
        description="Send every pending ask to HQ and pull HQ's taxonomy. Connection problems, timeouts and a "
        "busy HQ are retried with growing waits; nothing is ever dropped from the queue.",
    )
    sync.add_argument("--watch", action="store_true", help="keep running: sync every sync_interval seconds (for a service)")
    sync.add_argument(
        "--give-up-after",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="without --watch: stop retrying after this long and exit 1 (default 120; the asks stay pending)",
    )
    sync.add_argument(
        "--batch-size",
        type=int,
        default=1000,
        metavar="N",
        help="asks per request, 1 to 1000 (default 1000; smaller for a slow or flaky link)",
    )


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_module.load()
        if args.command in (None, "run"):
            return _run_app(config)
        if args.command == "log":
            return _log(args, config, sys.stdout)
        if args.command in cli_customers.COMMANDS:
            return cli_customers.run(args, config, _taxonomy(config), sys.stdout, sys.stderr)
        if args.command == "export":
            return _export(args, config, sys.stdout)
        if args.command == "status":
            return _status(config, sys.stdout)
        if args.command == "enroll":
            return _enroll(args, config, sys.stdout)
        if args.command == "sync":
            from associate_tui.sync_command import (
                run_sync_command,  # it imports the store, which `associate` starting the app loads later
            )

            if not 1 <= args.batch_size <= 1000:
                raise UsageError(f"--batch-size {args.batch_size}: use a number from 1 to 1000, e.g. --batch-size 100")
            return run_sync_command(
                config, watch=args.watch, give_up_after=args.give_up_after, batch_records=args.batch_size, out=sys.stdout
            )
    except (UsageError, config_module.ConfigError) as error:
        print(f"associate: {clean(str(error), lines=True)}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as error:  # noqa: BLE001 - every other failure gets plain words and exit 1
        if isinstance(error, (StoreError, link.NotEnrolled, link.TokenFileError)) or _is_hq_error(error):
            print(f"associate: {clean(str(error), lines=True)}", file=sys.stderr)
            return EXIT_FAILED
        raise
    parser.error(f"unknown command {args.command}")
    return EXIT_USAGE


def _is_hq_error(error: Exception) -> bool:
    if "sync.client" not in sys.modules:
        return False
    from sync.client import HQError  # httpx is loaded only by the commands that call HQ

    return isinstance(error, HQError)


def _run_app(config: config_module.Config) -> int:
    _taxonomy(config)  # a bad pack in the config: exit 2 with words, before the screen takes over
    from associate_tui.app import AssociateApp  # Textual: loaded only when the app runs

    AssociateApp(config=config).run()
    return 0


def _taxonomy(config: config_module.Config) -> Taxonomy:
    try:
        return config_module.load_taxonomy(config.taxonomy)
    except TaxonomyError as error:
        raise UsageError(f"taxonomy '{config.taxonomy}' from the config: {error}") from error


def _open_store(config: config_module.Config, taxonomy: Taxonomy | None = None) -> Store:
    """The store as the app and `associate sync` open it: the config's file, with its taxonomy's vocabulary."""
    from associate_tui.store import open_store  # the database: not loaded by `associate` starting the app

    return open_store(config, taxonomy=taxonomy or _taxonomy(config))


def _log(args: argparse.Namespace, config: config_module.Config, out: TextIO) -> int:
    taxonomy = _taxonomy(config)
    category, attributes = cli_customers.recognised(args.text, taxonomy, args.category, args.attr)
    associate = args.associate or config.associate
    if problem := check_associate(associate):
        raise UsageError(f"--associate '{associate}': {problem}")
    outcome = _outcome_or_feedback(args)
    due = cli_customers.follow_up_due(args, config)
    draft = AskDraft(
        text=args.text,
        outcome=outcome,
        category=category,
        attributes=attributes,
        substitute=args.substitute,
        substitute_accepted=args.accepted,
        quantity=args.quantity,
        channel=args.channel or taxonomy.channels[0],
        note=args.note,
        rating=args.rating,
    )
    try:
        draft = checked(draft, taxonomy)
    except InvalidAsk as invalid:
        raise UsageError(
            "cannot save this ask:\n  "
            + "\n  ".join(f"--{e.field.replace('_', '-') if e.field != 'text' else 'TEXT'}: {e.message}" for e in invalid.errors)
        ) from invalid
    with _open_store(config, taxonomy) as store:
        customer_id, plan = cli_customers.attached(store, args, due, associate)
        ask = store.add_ask(
            draft,
            store_id=config.store_id,
            terminal_id=config.terminal_id,
            associate=associate,
            customer_id=customer_id,
            follow_up=plan,
        )
    print(ask.id, file=out)
    return 0


def _outcome_or_feedback(args: argparse.Namespace) -> str:
    """The outcome `associate log` saves: --outcome for an ask, 'feedback' with --rating; refused with words otherwise."""
    if args.rating is None:
        if args.outcome is None:
            raise UsageError(
                "say what happened with --outcome CODE (e.g. --outcome out_of_stock), "
                "or log what the customer said as feedback with --rating 1-5"
            )
        return args.outcome
    if args.outcome not in (None, FEEDBACK):
        raise UsageError(
            f"--outcome {args.outcome} with --rating: an ask has an outcome, feedback a rating; "
            "give --outcome for what the customer asked for, or --rating alone for what they said"
        )
    for given, option in (
        (args.substitute is not None, "--substitute"),
        (args.accepted is not None, "--accepted/--declined"),
        (args.quantity != 1, "--quantity"),
        (args.follow_up, "--follow-up"),
    ):
        if given:
            raise UsageError(f"{option} is for an ask, not for feedback (--rating): leave it out")
    return FEEDBACK


EXPORT_FIELDS = tuple(field.name for field in dataclasses.fields(Ask))  # every field of a saved ask, in order


def _since(value: str | None) -> str | None:
    """A date or time typed by a person -> the UTC text form stored in the database."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--since '{value}' is not a date; use YYYY-MM-DD, e.g. --since 2026-11-01") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return format_utc(moment)


def _export(args: argparse.Namespace, config: config_module.Config, out: TextIO) -> int:
    since = _since(args.since)
    with _open_store(config) as store:
        asks = store.iter_asks(since=since)
        if args.format == "jsonl":
            for ask in asks:
                out.write(json_text(json.dumps(ask.as_dict(), ensure_ascii=False)) + "\n")
        else:
            writer = csv.writer(out)
            writer.writerow(EXPORT_FIELDS)
            for ask in asks:
                row = ask.as_dict()
                row["attributes"] = json.dumps(row["attributes"], ensure_ascii=False, sort_keys=True)
                writer.writerow(csv_row(_csv_value(row[name]) for name in EXPORT_FIELDS))
    return 0


def _csv_value(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _enroll(args: argparse.Namespace, config: config_module.Config, out: TextIO) -> int:
    if problem := config_module.check_hq_url(args.url):
        raise UsageError(f"URL '{args.url}' {problem}")
    if problem := link.check_token(args.token):
        raise UsageError(f"--token {problem}")
    from sync.client import HQError  # httpx: only for the commands that call HQ

    with _open_store(config) as store:
        try:
            enrolment = link.enroll(args.url, args.token, config, store)
        except HQError as error:
            print(f"associate: not enrolled, nothing was changed: {clean(str(error), lines=True)}", file=sys.stderr)
            return EXIT_FAILED
        who = enrolment.who
        # Left after adoption: changes to records HQ already holds under another store or terminal.
        others = store.count_pending_elsewhere(who.store_id, who.terminal_id)
        pending = store.sync_status().pending
    print(f"Enrolled with HQ at {enrolment.config.hq_url} as store {who.store_id}, terminal {who.terminal_id}.", file=out)
    print(
        f"Token kept in {config_module.token_path()} (readable by this user only); settings in {config_module.config_path()}.",
        file=out,
    )
    if adopted := link.describe_adopted(enrolment.adopted, who.store_id, who.terminal_id):
        print(adopted, file=out)
    if others:
        print(
            f"Note: {others} changed records were sent to HQ earlier as another store or terminal than "
            f"{who.store_id}/{who.terminal_id}, so they stay there; HQ will refuse the changes and they will be "
            "listed in the quarantine (associate status, F6 in the app).",
            file=out,
        )
    waiting = "1 record is" if pending == 1 else f"{pending} records are"
    print(f"{waiting} waiting to be sent: run `associate sync`, or keep the app open.", file=out)
    return 0


def _status(config: config_module.Config, out: TextIO) -> int:
    config_file = config_module.config_path()
    with _open_store(config) as store:
        total, schema = store.count_asks(), store.schema_version()
        sync = store.sync_status()
        path = store.path
    lines = [
        ("store", config.store_id),
        ("terminal", config.terminal_id),
        ("taxonomy", config.taxonomy),
        ("data file", str(path)),
        ("config file", str(config_file) if config_file.exists() else f"{config_file} (not created: using defaults)"),
        ("schema", str(schema)),
        ("asks", str(total)),
        ("HQ", config.hq_url or "not enrolled (associate enroll URL --token TOKEN)"),
        ("pending sync", str(sync.pending)),
        ("quarantined", f"{sync.quarantined} (HQ refused them; edit to send again)" if sync.quarantined else "0"),
        ("last sync", sync.last_success_at or "never"),
    ]
    if sync.last_error:
        lines.append(("last error", sync.last_error))
    width = max(len(label) for label, _ in lines)
    for label, value in lines:
        print(f"{label.ljust(width)}  {clean(value)}", file=out)
    return 0
