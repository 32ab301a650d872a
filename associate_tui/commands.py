"""What the `associate` commands other than the app do: log, export, enroll, status, and the customer commands.

cli.py parses the command line and loads this module only for these commands, so the app
starts without it (and without what it imports: the asks' rules, the taxonomy, the link to HQ).
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
from associate_tui.errors import UsageError
from associate_tui.ids import format_utc
from schemas.taxonomy import TaxonomyError
from schemas.text import clean, csv_row, json_text

if TYPE_CHECKING:
    from associate_tui.store import Store
    from schemas.taxonomy import Taxonomy

EXIT_FAILED = 1


def run(args: argparse.Namespace, config: config_module.Config) -> int:
    """Run the command in `args` (any but the app); its exit code."""
    if args.command == "log":
        return _log(args, config, sys.stdout)
    if args.command in cli_customers.COMMANDS:
        return cli_customers.run(args, config, config_taxonomy(config), sys.stdout, sys.stderr)
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
    raise UsageError(f"unknown command {args.command}")


def is_link_error(error: Exception) -> bool:
    """An enrolment or token problem (said in plain words, exit 1)."""
    return isinstance(error, (link.NotEnrolled, link.TokenFileError))


def config_taxonomy(config: config_module.Config) -> Taxonomy:
    try:
        return config_module.load_taxonomy(config.taxonomy)
    except TaxonomyError as error:
        raise UsageError(f"taxonomy '{config.taxonomy}' from the config: {error}") from error


def _open_store(config: config_module.Config, taxonomy: Taxonomy | None = None) -> Store:
    """The store as the app and `associate sync` open it: the config's file, with its taxonomy's vocabulary."""
    from associate_tui.store import open_store  # the database: not loaded by `associate` starting the app

    return open_store(config, taxonomy=taxonomy or config_taxonomy(config))


def _log(args: argparse.Namespace, config: config_module.Config, out: TextIO) -> int:
    taxonomy = config_taxonomy(config)
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
