"""`associate-hq`: serve the HQ service, manage terminal tokens, publish the taxonomy, export."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import TextIO

from schemas.records import format_utc
from sync.hq.storage import HQStorage, StorageError, default_url

EXIT_FAILED = 1
EXIT_USAGE = 2
EXPORT_FIELDS = (
    "id", "version", "created_at", "updated_at", "store_id", "terminal_id", "associate", "channel", "text",
    "category", "attributes", "outcome", "substitute", "substitute_accepted", "quantity", "note", "voided",
    "void_reason", "same_as", "received_at", "clock_skew_ms",
)


class UsageError(Exception):
    pass


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="associate-hq", description="Associate Terminal HQ: receive the asks of every store.")
    parser.add_argument("--db", metavar="URL", help="database URL (default: $ASSOCIATE_HQ_DB or sqlite:///<data dir>/hq.db)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve = commands.add_parser("serve", help="run the HQ service", description="Run the HQ service (HTTP; put TLS in front of it).")
    _db(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    serve.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))

    terminal = commands.add_parser("terminal", help="terminal tokens: add, list, revoke", description="Manage terminal tokens.")
    actions = terminal.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="create a token for a terminal (printed once)",
                             description="Create a token for a terminal and print it once; HQ keeps only its hash.")
    _db(add)
    add.add_argument("--store", required=True, metavar="S", help="store id, e.g. BR-042")
    add.add_argument("--terminal", required=True, metavar="T", help="terminal id, e.g. TELLER-3")
    add.add_argument("--rotate", action="store_true", help="revoke the terminal's current token and issue a new one")
    listing = actions.add_parser("list", help="list terminals and their tokens", description="List terminals and their tokens.")
    _db(listing)
    revoke = actions.add_parser("revoke", help="revoke a terminal's token", description="Revoke a terminal's token at once.")
    _db(revoke)
    revoke.add_argument("--store", required=True, metavar="S")
    revoke.add_argument("--terminal", required=True, metavar="T")

    taxonomy = commands.add_parser("taxonomy", help="publish or show the taxonomy terminals pull",
                                   description="Publish or show the taxonomy pack that enrolled terminals pull.")
    tax_actions = taxonomy.add_subparsers(dest="action", metavar="ACTION", required=True)
    publish = tax_actions.add_parser("set", help="check and publish a pack file", description="Check a pack file and publish it.")
    _db(publish)
    publish.add_argument("file", metavar="FILE", help="a taxonomy pack (JSON), e.g. associate_tui/packs/bank.json")
    show = tax_actions.add_parser("show", help="show the published pack", description="Show the published pack's name, version and ETag.")
    _db(show)

    export = commands.add_parser("export", help="write every ask HQ holds to stdout",
                                 description="Write every ask HQ holds (latest version) to stdout.")
    _db(export)
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    export.add_argument("--since", metavar="DATE", help="only asks created on or after DATE (YYYY-MM-DD or ISO-8601, UTC)")
    report = commands.add_parser("report", help="reports: follow-ups (unmet demand won back)",
                                 description="Print a report over what HQ holds.")
    _db(report)
    report.add_argument("name", choices=("follow-ups",), help="follow-ups: per store, what came of the follow-ups")
    return parser


def _db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", metavar="URL", default=argparse.SUPPRESS,
                        help="database URL (default: $ASSOCIATE_HQ_DB or sqlite:///<data dir>/hq.db)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        url = args.db or default_url()
        if args.command == "serve":
            return _serve(args, url)
        with HQStorage.open(url) as storage:
            if args.command == "terminal":
                return _terminal(args, storage, sys.stdout)
            if args.command == "taxonomy":
                return _taxonomy(args, storage, sys.stdout)
            if args.command == "export":
                return _export(args, storage, sys.stdout)
            if args.command == "report":
                from sync.hq.report import follow_up_table, render

                table = follow_up_table(storage)
                if len(table) == 1:
                    print("No follow-ups have reached HQ yet.", file=sys.stdout)
                    return 0
                sys.stdout.write(render(table))
                return 0
    except UsageError as error:
        print(f"associate-hq: {error}", file=sys.stderr)
        return EXIT_USAGE
    except StorageError as error:
        print(f"associate-hq: {error}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_USAGE


def _serve(args: argparse.Namespace, url: str) -> int:
    try:
        import uvicorn

        from sync.hq.app import create_app
    except ImportError as error:
        raise UsageError(f"the HQ service needs its extra packages ({error.name}): pip install 'associate-terminal[hq]'") from None
    storage = HQStorage.open(url)
    print(f"associate-hq: serving {url} on http://{args.host}:{args.port}", file=sys.stderr, flush=True)
    # uvicorn handles SIGTERM and SIGINT: it finishes the requests in flight, then stops.
    uvicorn.run(create_app(storage), host=args.host, port=args.port, log_level=args.log_level,
                access_log=args.log_level == "debug", server_header=False)
    storage.close()
    return 0


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
        print(f"Token for store {args.store}, terminal {args.terminal}. It is shown only this once; on the terminal run:\n"
              f"  associate enroll https://<this HQ> --token {token}", file=sys.stderr)
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
        rows.append((t.store_id, t.terminal_id, t.token_id, t.created_at[:16], (t.last_seen_at or "never")[:16],
                     f"revoked {t.revoked_at[:10]}" if t.revoked_at else "active"))
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
    from associate_tui.taxonomy import TaxonomyError, _decode

    path = Path(args.file)
    try:
        body = path.read_bytes()
        pack = _decode(body.decode("utf-8"), path.name)
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
            out.write(json.dumps(ask, ensure_ascii=False) + "\n")
        return 0
    writer = csv.writer(out)
    writer.writerow(EXPORT_FIELDS)
    for ask in asks:
        ask["attributes"] = json.dumps(ask["attributes"], ensure_ascii=False, sort_keys=True)
        writer.writerow("" if ask[f] is None else str(ask[f]).lower() if isinstance(ask[f], bool) else ask[f] for f in EXPORT_FIELDS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
