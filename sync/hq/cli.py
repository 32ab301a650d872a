"""`associate-hq`: serve the HQ service, manage terminal tokens, publish the taxonomy, export, report.

`demand` (groups and HQ's answers to them) lives in cli_demand.py.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import TextIO, TypeAlias

from schemas import PrintRelease
from schemas.text import clean, csv_row, json_text
from schemas.times import format_utc
from sync.hq import cli_demand, install_hint
from sync.hq.responses import ResponseError
from sync.hq.storage import ASK_FIELDS, HQStorage, StorageError, default_url

EXIT_FAILED = 1
EXIT_USAGE = 2
# The CSV export's columns: an ask's fields as iter_asks reads them back, all but its link to a customer.
EXPORT_FIELDS = tuple(name for name in ASK_FIELDS if name != "customer_id") + ("received_at", "clock_skew_ms")


class UsageError(Exception):
    pass


Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"  # what add_subparsers returns


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="associate-hq", description="Associate Terminal HQ: receive the asks of every store.")
    parser.add_argument("--db", metavar="URL", help="database URL (default: $ASSOCIATE_HQ_DB or sqlite:///<data dir>/hq.db)")
    parser.add_argument("--version", action=PrintRelease)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _serve_command(commands)
    _db_command(commands)
    _terminal_command(commands)
    _taxonomy_command(commands)
    _export_command(commands)
    _report_command(commands)
    _digest_command(commands)
    _viewer_command(commands)
    cli_demand.register(commands, _db)
    return parser


def _serve_command(commands: Commands) -> None:
    serve = commands.add_parser(
        "serve", help="run the HQ service", description="Run the HQ service (HTTP; put TLS in front of it)."
    )
    _db(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="worker processes (default 1): about one per core; on SQLite they take turns at writing, see README",
    )
    serve.add_argument(
        "--log-level",
        default="info",
        choices=("critical", "error", "warning", "info", "debug"),
        help="how much the service logs (default info; debug also logs every request)",
    )
    serve.add_argument(
        "--header-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="a request's headers must arrive within this of the connection or the last answer, "
        "else 408 and the connection is closed (default 10)",
    )
    serve.add_argument(
        "--body-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="a request's body must arrive within this of its headers, else 408 (default 30)",
    )
    serve.add_argument(
        "--max-in-flight",
        type=int,
        default=32,
        metavar="N",
        help="requests each worker takes at once; beyond, 503 with Retry-After (default 32)",
    )


def _db_command(commands: Commands) -> None:
    db = commands.add_parser(
        "db",
        help="the database's schema: upgrade, status",
        description="Create or migrate HQ's database schema (PostgreSQL: run this before serve).",
    )
    db_actions = db.add_subparsers(dest="action", metavar="ACTION", required=True)
    _db(
        db_actions.add_parser(
            "upgrade",
            help="create the tables, or migrate them to this release's schema",
            description="Create HQ's tables, or migrate them to this release's schema. Safe to run "
            "again, and while HQ serves: workers wait for it.",
        )
    )
    _db(
        db_actions.add_parser(
            "status",
            help="the schema the database is at and the one this release needs",
            description="Print the schema version the database is at, the one this release "
            "needs, and whether `db upgrade` has work to do. Changes nothing.",
        )
    )


def _terminal_command(commands: Commands) -> None:
    terminal = commands.add_parser("terminal", help="terminal tokens: add, list, revoke", description="Manage terminal tokens.")
    actions = terminal.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser(
        "add",
        help="create a token for a terminal (printed once)",
        description="Create a token for a terminal and print it once; HQ keeps only its hash.",
    )
    _db(add)
    add.add_argument("--store", required=True, metavar="S", help="store id, e.g. BR-042")
    add.add_argument("--terminal", required=True, metavar="T", help="terminal id, e.g. TELLER-3")
    add.add_argument("--rotate", action="store_true", help="revoke the terminal's current token and issue a new one")
    listing = actions.add_parser("list", help="list terminals and their tokens", description="List terminals and their tokens.")
    _db(listing)
    revoke = actions.add_parser("revoke", help="revoke a terminal's token", description="Revoke a terminal's token at once.")
    _db(revoke)
    revoke.add_argument("--store", required=True, metavar="S", help="the terminal's store id, as in terminal list")
    revoke.add_argument("--terminal", required=True, metavar="T", help="the terminal id, as in terminal list")


def _taxonomy_command(commands: Commands) -> None:
    taxonomy = commands.add_parser(
        "taxonomy",
        help="publish or show the taxonomy terminals pull",
        description="Publish or show the taxonomy pack that enrolled terminals pull.",
    )
    tax_actions = taxonomy.add_subparsers(dest="action", metavar="ACTION", required=True)
    publish = tax_actions.add_parser("set", help="check and publish a pack file", description="Check a pack file and publish it.")
    _db(publish)
    publish.add_argument("file", metavar="FILE", help="a taxonomy pack (JSON), e.g. schemas/packs/bank.json")
    show = tax_actions.add_parser(
        "show", help="show the published pack", description="Show the published pack's name, version and ETag."
    )
    _db(show)


def _export_command(commands: Commands) -> None:
    export = commands.add_parser(
        "export", help="write every ask HQ holds to stdout", description="Write every ask HQ holds (latest version) to stdout."
    )
    _db(export)
    export.add_argument(
        "--format",
        choices=("jsonl", "csv"),
        default="jsonl",
        help="jsonl: one JSON object per ask (default); csv: one row per ask, with a header",
    )
    export.add_argument("--since", metavar="DATE", help="only asks created on or after DATE (YYYY-MM-DD or ISO-8601, UTC)")


def _report_command(commands: Commands) -> None:
    demand_words = (
        "Top unmet demand across stores, ranked by the evidence behind each demand group (distinct stores, days, "
        "weeks and customers count for more than repeats; --sort asks for the most asked first): asks, stores, "
        "days, weeks, customers and the score, week-on-week trend, substitutes taken, value lost where a price "
        "was given; then data quality per store."
    )
    report = commands.add_parser(
        "report",
        help="top unmet demand across stores (or: report follow-ups)",
        description=demand_words + " `report follow-ups --help` for the follow-ups report.",
    )
    _db(report)
    _demand_options(report)
    report.add_argument(
        "--feedback",
        action="store_true",
        help="instead: product groups ranked by complaints (rated 1 or 2) and by praise (4 or 5), with what customers said",
    )
    reports = report.add_subparsers(dest="name", metavar="REPORT")
    _demand_options(
        reports.add_parser("demand", help="top unmet demand (the default)", description=demand_words), default=argparse.SUPPRESS
    )
    follow_ups = reports.add_parser(
        "follow-ups",
        help="per store: follow-ups done, won back (bought or reserved), open, overdue",
        description="Per store: follow-ups promised, done, won back (bought or reserved) and the rate, not "
        "interested, not reached, still unavailable, open, overdue and cancelled; then all stores.",
    )
    _db(follow_ups)


def _digest_command(commands: Commands) -> None:
    digest = commands.add_parser(
        "digest",
        help="write the weekly digest (Markdown and HTML)",
        description="Write the weekly digest for designers and merchandisers: top unmet asks "
        "with verbatims, rising asks, substitutes, stores that stand out.",
    )
    _db(digest)
    digest.add_argument("--week", action="store_true", required=True, help="the 7 days up to --until (default: now)")
    digest.add_argument("--until", metavar="DATE", help="last day of the week, YYYY-MM-DD (default: today, UTC)")
    digest.add_argument("--out", metavar="DIR", default=".", help="folder to write digest-YYYY-Www.md and .html in")


def _viewer_command(commands: Commands) -> None:
    viewer = commands.add_parser(
        "viewer",
        help="dashboard tokens for people at HQ: add, list, revoke",
        description="Tokens for reading /dashboard in a browser (user: the viewer's name).",
    )
    viewer_actions = viewer.add_subparsers(dest="action", metavar="ACTION", required=True)
    viewer_add = viewer_actions.add_parser(
        "add",
        help="create a dashboard token (printed once)",
        description="Create a token for reading /dashboard and print it once; HQ keeps only its hash. In the "
        "browser, sign in with NAME as the user and the token as the password.",
    )
    _db(viewer_add)
    viewer_add.add_argument("name", metavar="NAME", help="who it is for, e.g. merch-team (1 to 32 letters, digits, . _ -)")
    viewer_add.add_argument(
        "--editor",
        action="store_true",
        help="may also set a demand group's status and response on its /dashboard page (kept in its history as NAME)",
    )
    _db(
        viewer_actions.add_parser(
            "list",
            help="list dashboard viewers",
            description="List dashboard viewers: name, when created, editor or viewer, active or revoked.",
        )
    )
    viewer_revoke = viewer_actions.add_parser(
        "revoke", help="revoke a viewer's tokens", description="Revoke a viewer's dashboard tokens at once."
    )
    _db(viewer_revoke)
    viewer_revoke.add_argument("name", metavar="NAME", help="the viewer's name, as in viewer list")


def _demand_options(parser: argparse.ArgumentParser, default: object = None) -> None:
    """The demand report's options, on `report` and on `report demand` (whose unset options keep report's)."""

    def given(value: object) -> object:
        return value if default is None else default

    parser.add_argument(
        "--since",
        default=given("7d"),
        metavar="SPAN",
        help="how far back in whole UTC days, today included: 7d, 4w or a date YYYY-MM-DD (default 7d)",
    )
    parser.add_argument(
        "--until", default=given(None), metavar="DATE", help="last day included, YYYY-MM-DD (default: today, UTC)"
    )
    parser.add_argument("--store", default=given(None), metavar="S", help="only this store's asks")
    parser.add_argument(
        "--category", default=given(None), metavar="C", help="only this category and those under it, e.g. clothing"
    )
    parser.add_argument("--top", type=int, default=given(20), metavar="N", help="how many groups, 1 to 1000 (default 20)")
    parser.add_argument(
        "--sort",
        choices=("evidence", "asks"),
        default=given("evidence"),
        help="evidence: the groups most stores, days, weeks and customers asked for first, a burst from one terminal "
        "counting less (default; README: the score); asks: the most unmet asks first",
    )
    parser.add_argument(
        "--format",
        choices=("table", "json", "csv"),
        default=given("table"),
        help="table: for a person (default); json: every field and the data-quality block; csv: one row per group",
    )


def _db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        metavar="URL",
        default=argparse.SUPPRESS,
        help="database URL (default: $ASSOCIATE_HQ_DB or sqlite:///<data dir>/hq.db)",
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        url = args.db or default_url()
        if args.command == "serve":
            return _serve(args, url)
        if args.command == "db":
            return _database(args, url, sys.stdout)
        with HQStorage.open(url) as storage:
            if args.command == "terminal":
                return _terminal(args, storage, sys.stdout)
            if args.command == "taxonomy":
                return _taxonomy(args, storage, sys.stdout)
            if args.command == "export":
                return _export(args, storage, sys.stdout)
            if args.command == "report":
                return _report(args, storage, sys.stdout)
            if args.command == "digest":
                return _digest(args, storage, sys.stdout)
            if args.command == "viewer":
                return _viewer(args, storage, sys.stdout)
            if args.command == "demand":
                return cli_demand.run(args, storage, sys.stdout)
    except (UsageError, ResponseError) as error:
        print(f"associate-hq: {clean(str(error), lines=True)}", file=sys.stderr)
        return EXIT_USAGE
    except StorageError as error:
        print(f"associate-hq: {clean(str(error), lines=True)}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_USAGE


def _report(args: argparse.Namespace, storage: HQStorage, out: TextIO) -> int:
    from sync.hq import report

    if args.name == "follow-ups":
        rows = report.follow_up_table(storage)
        if len(rows) == 1:
            print("No follow-ups have reached HQ yet.", file=out)
            return 0
        out.write(report.render(rows))
        return 0
    if not 1 <= args.top <= 1000:
        raise UsageError(f"--top {args.top}: give a number from 1 to 1000")
    try:
        period = report.window(args.since, args.until)
    except report.ReportError as error:
        raise UsageError(str(error)) from None
    if args.feedback:
        from sync.hq import feedback_report

        voice = feedback_report.ranking(storage, period, store=args.store, category=args.category, top=args.top)
        feedback_report.write_report(voice, args.format, out)
        return 0
    groups, quality = report.demand_and_quality(
        storage, period, store=args.store, category=args.category, top=args.top, sort=args.sort
    )
    if args.format == "json":
        out.write(report.demand_json(groups, quality, period, sort=args.sort))
    elif args.format == "csv":
        out.write(report.demand_csv(groups))
    else:
        from rich.console import Console

        console = Console(file=out, width=None if out.isatty() else 140)
        if not groups:
            console.print(
                clean(
                    f"No unmet asks from {format_utc(period.since)[:10]}"
                    + (f" for store {args.store}" if args.store else "")
                    + (f" in category {args.category}" if args.category else "")
                    + "."
                ),
                markup=False,
                highlight=False,
            )
        for table in report.demand_tables(groups, quality, period, sort=args.sort)[0 if groups else 1 :]:
            console.print(table)
        if quality["asks"]:
            console.print(
                f"Coded other: {quality['other_share']:.1%} of asks; uncategorised: {quality['uncategorised_share']:.1%}.",
                markup=False,
                highlight=False,
            )
    return 0


def _digest(args: argparse.Namespace, storage: HQStorage, out: TextIO) -> int:
    from sync.hq import digest, report

    try:
        period = report.window("7d", args.until)
    except report.ReportError as error:
        raise UsageError(str(error)) from None
    try:
        md_path, html_path = digest.write(digest.build(storage, period), Path(args.out))
    except OSError as error:
        raise UsageError(f"cannot write the digest in {args.out}: {error.strerror}; pick a writable --out folder") from None
    print(f"Wrote {md_path} and {html_path}.", file=out)
    return 0


def _viewer(args: argparse.Namespace, storage: HQStorage, out: TextIO) -> int:
    if args.action == "add":
        if not _valid_id(args.name):
            raise UsageError(f"viewer name '{args.name}' must be 1 to 32 letters, digits, '.', '_' or '-', e.g. merch-team")
        token = storage.add_viewer(args.name, editor=args.editor)
        print(token, file=out)
        role = "Editor token (may set demand groups' statuses)" if args.editor else "Dashboard token"
        print(
            f"{role} for {args.name}, shown only this once. Open https://<this HQ>/dashboard and sign in "
            f"with user {args.name} and this token as the password.",
            file=sys.stderr,
        )
        return 0
    if args.action == "revoke":
        if not storage.revoke_viewer(args.name):
            raise UsageError(f"no live dashboard token for '{args.name}' (see viewer list)")
        print(f"Revoked the dashboard token of {args.name}.", file=out)
        return 0
    viewers = storage.list_viewers()
    if not viewers:
        print("No dashboard viewers yet. Add one: associate-hq viewer add NAME [--editor]", file=out)
    for name, created, revoked, editor in viewers:
        role = "editor" if editor else "viewer"
        print(f"{name}  created {created[:16]}  {role}  {'revoked ' + revoked[:10] if revoked else 'active'}", file=out)
    return 0


def _serve(args: argparse.Namespace, url: str) -> int:
    try:
        import uvicorn

        import sync.hq.app  # the workers import the app by name; its protocol is passed here
    except ImportError as error:
        raise UsageError(f"the HQ service needs its extra packages ({error.name}): {install_hint('hq')}") from None
    if not 1 <= args.workers <= 64:
        raise UsageError(f"--workers {args.workers}: give a number from 1 to 64")
    for option, value, low, high in (
        ("--header-timeout", args.header_timeout, 0.1, 600),
        ("--body-timeout", args.body_timeout, 0.1, 600),
        ("--max-in-flight", args.max_in_flight, 1, 10_000),
    ):
        if not low <= value <= high:
            raise UsageError(f"{option} {value:g}: give a number from {low:g} to {high:g}")
    with HQStorage.open(url) as storage:  # the schema checked (or a SQLite file upgraded) once, before any worker starts
        where = storage.db.where
    # Each worker opens the database itself, from the environment it inherits.
    os.environ["ASSOCIATE_HQ_DB"] = url
    os.environ["ASSOCIATE_HQ_HEADER_TIMEOUT"] = str(args.header_timeout)
    os.environ["ASSOCIATE_HQ_BODY_TIMEOUT"] = str(args.body_timeout)
    os.environ["ASSOCIATE_HQ_MAX_IN_FLIGHT"] = str(args.max_in_flight)
    print(
        f"associate-hq: serving {where} on http://{args.host}:{args.port} with {args.workers} "
        f"worker{'s' if args.workers > 1 else ''}",
        file=sys.stderr,
        flush=True,
    )
    # uvicorn handles SIGTERM and SIGINT: it finishes the requests in flight, then stops.
    # h11 always (httptools, if installed, would bypass the header deadline); the keep-alive
    # timeout stays below the header deadline, so an idle connection closes quietly first.
    uvicorn.run(
        "sync.hq.app:from_environment",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        access_log=args.log_level == "debug",
        server_header=False,
        http=sync.hq.app.DeadlineProtocol,
        timeout_keep_alive=min(5, args.header_timeout / 2),
    )
    return 0


def _database(args: argparse.Namespace, url: str, out: TextIO) -> int:
    from sync.hq import schema
    from sync.hq.database import connect

    with HQStorage(connect(url)) as storage:
        if args.action == "upgrade":
            before, after = storage.upgrade()
            done = f"migrated from schema {before} to {after}" if before else f"created at schema {after}"
            print(f"{storage.db.where}: {done if before != after else f'schema {after}, up to date'}.", file=out)
            return 0
        version = schema.current_version(storage.db)
        state = (
            "up to date"
            if version == schema.LATEST_SCHEMA
            else "empty: run associate-hq db upgrade"
            if version == 0
            else f"behind this release's {schema.LATEST_SCHEMA}: run associate-hq db upgrade"
            if version < schema.LATEST_SCHEMA
            else f"newer than this release's {schema.LATEST_SCHEMA}"
        )
        print(f"{storage.db.where}: schema {version}, {state}.", file=out)
        return 0 if version == schema.LATEST_SCHEMA else EXIT_FAILED


def _terminal(args: argparse.Namespace, storage: HQStorage, out: TextIO) -> int:
    from sync.hq.storage import TerminalExists, TerminalNotFound

    if args.action in ("add", "revoke"):
        for value, what in ((args.store, "--store"), (args.terminal, "--terminal")):
            if not _valid_id(value):
                raise UsageError(f"{what} '{value}' must be 1 to 32 letters, digits, '.', '_' or '-', e.g. BR-042")
    if args.action == "add":
        try:
            token = storage.add_terminal(args.store, args.terminal, rotate=args.rotate)
        except TerminalExists as error:
            raise UsageError(str(error)) from None
        print(token, file=out)
        print(
            f"Token for store {args.store}, terminal {args.terminal}. It is shown only this once; on the terminal run:\n"
            f"  associate enroll https://<this HQ> --token {token}",
            file=sys.stderr,
        )
        return 0
    if args.action == "revoke":
        try:
            storage.revoke(args.store, args.terminal)
        except TerminalNotFound as error:
            raise UsageError(str(error)) from None
        print(f"Revoked the token of store {args.store}, terminal {args.terminal}.", file=out)
        return 0
    terminals = storage.list_terminals()
    if not terminals:
        print("No terminals yet. Add one: associate-hq terminal add --store S --terminal T", file=out)
        return 0
    rows = [("STORE", "TERMINAL", "TOKEN ID", "CREATED", "LAST SEEN", "STATUS")]
    for t in terminals:
        rows.append(
            (
                t.store_id,
                t.terminal_id,
                t.token_id,
                t.created_at[:16],
                (t.last_seen_at or "never")[:16],
                f"revoked {t.revoked_at[:10]}" if t.revoked_at else "active",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(value.ljust(width) for value, width in zip(row, widths)).rstrip(), file=out)
    return 0


def _valid_id(value: str) -> bool:
    import re

    return re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}", value) is not None


def _taxonomy(args: argparse.Namespace, storage: HQStorage, out: TextIO) -> int:
    if args.action == "show":
        published = storage.taxonomy()
        data = json.loads(published.body)
        when = published.published_at or "never (the built-in retail pack)"
        print(f"{data.get('name')} {data.get('version')}  etag {published.etag}  published {when}", file=out)
        return 0
    # The pack checker is the terminal's own (stdlib only), so HQ never publishes
    # what terminals would refuse.
    from schemas.taxonomy import TaxonomyError, parse_pack

    path = Path(args.file)
    try:
        body = path.read_bytes()
        pack = parse_pack(body.decode("utf-8"), path.name)
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror}") from None
    except (UnicodeDecodeError, TaxonomyError) as error:
        raise UsageError(f"not published: {error}") from None
    etag = storage.publish_taxonomy(body)
    print(f"Published {pack.name} {pack.version} (etag {etag}); terminals pick it up at their next sync.", file=out)
    return 0


def _export(args: argparse.Namespace, storage: HQStorage, out: TextIO) -> int:
    since = None
    if args.since:
        try:
            moment = datetime.fromisoformat(args.since.replace("Z", "+00:00"))
        except ValueError:
            raise UsageError(f"--since '{args.since}' is not a date; use YYYY-MM-DD, e.g. --since 2026-11-01") from None
        since = format_utc(moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc))
    asks = storage.iter_asks(since=since)
    if args.format == "jsonl":
        for ask in asks:
            out.write(json_text(json.dumps(ask, ensure_ascii=False)) + "\n")
        return 0
    writer = csv.writer(out)
    writer.writerow(EXPORT_FIELDS)
    for ask in asks:
        ask["attributes"] = json.dumps(ask["attributes"], ensure_ascii=False, sort_keys=True)
        writer.writerow(
            csv_row("" if ask[f] is None else str(ask[f]).lower() if isinstance(ask[f], bool) else ask[f] for f in EXPORT_FIELDS)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
