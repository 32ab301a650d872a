"""The `associate` command: the app, and what scripts and IT need without it.

Textual is imported only when the app itself runs, so `associate log` and
`associate export` start fast; and the app loads neither the parsers of the other
commands nor what they run (commands.py), so it starts fast too.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from associate_tui import config as config_module
from associate_tui.errors import StoreError, UsageError
from associate_tui.ratings import RATINGS
from schemas import PrintRelease
from schemas.text import clean

EXIT_USAGE = 2
EXIT_FAILED = 1
APP_COMMANDS = ([], ["run"])  # the command lines that start the app


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="associate",
        description="Associate Terminal: log what customers ask for at the counter, offline. With no command, starts the app.",
    )
    from associate_tui import cli_customers  # the customer commands' parsers: not loaded when the app starts

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
    from associate_tui import cli_customers

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
    given = sys.argv[1:] if argv is None else argv
    # The app (no command, or `run`) skips the parsers of every other command and what they load.
    args = None if given in APP_COMMANDS else build_parser().parse_args(given)
    try:
        config = config_module.load()
        if args is None or args.command in (None, "run"):
            return _run_app(config)
        from associate_tui import commands

        return commands.run(args, config)
    except (UsageError, config_module.ConfigError) as error:
        print(f"associate: {clean(str(error), lines=True)}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as error:  # noqa: BLE001 - every other failure gets plain words and exit 1
        if isinstance(error, StoreError) or _is_link_error(error) or _is_hq_error(error):
            print(f"associate: {clean(str(error), lines=True)}", file=sys.stderr)
            return EXIT_FAILED
        raise


def _is_link_error(error: Exception) -> bool:
    if "associate_tui.commands" not in sys.modules:
        return False  # the app alone: no enrolment or token is read on its way to the screen
    from associate_tui.commands import is_link_error

    return is_link_error(error)


def _is_hq_error(error: Exception) -> bool:
    if "sync.client" not in sys.modules:
        return False
    from sync.client import HQError  # httpx is loaded only by the commands that call HQ

    return isinstance(error, HQError)


def _run_app(config: config_module.Config) -> int:
    with keys_typed_ahead_kept():
        if config.taxonomy not in config_module.TRUSTED_PACKS:
            from associate_tui.commands import config_taxonomy

            config_taxonomy(config)  # a site's own pack file: exit 2 with words if it is bad, before the screen takes over
        from associate_tui.app import AssociateApp  # Textual: loaded only when the app runs

        app = AssociateApp(config=config)
    app.run()
    return app.return_code or 0


@contextmanager
def keys_typed_ahead_kept() -> Iterator[None]:
    """While the app loads, keys typed at the counter are kept as typed; the terminal's settings come back after.

    Loading takes most of the start (Textual alone is 150 ms). Meanwhile the terminal would
    echo the keys and hold them as a line, and turn Enter into a newline that Textual then
    reads as Ctrl+J: an ask typed that early lost its Enter. The keys wait, unchanged, for
    Textual, which takes the terminal moments after (and puts back these settings at exit).
    """
    saved = _terminal_settings()
    if saved is None:
        yield
        return
    import termios

    fd = sys.stdin.fileno()
    typing = [*saved[:6], list(saved[6])]
    typing[0] &= ~termios.ICRNL  # Enter stays Enter
    typing[3] &= ~(termios.ICANON | termios.ECHO)  # each key as it comes, not shown by the terminal
    typing[6][termios.VMIN], typing[6][termios.VTIME] = 1, 0
    termios.tcsetattr(fd, termios.TCSANOW, typing)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _terminal_settings() -> list | None:
    """The settings of the terminal on stdin; None if there is none (a pipe, a test) or no termios (Windows)."""
    try:
        import termios

        return termios.tcgetattr(sys.stdin.fileno())
    except Exception:  # noqa: BLE001 - ImportError, OSError, ValueError or termios.error: nothing to keep
        return None
