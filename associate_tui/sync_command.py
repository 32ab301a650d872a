"""`associate sync`: once from the command line, or `--watch` as a long-running service."""

from __future__ import annotations

import signal
import sys
import threading
from datetime import datetime
from typing import TextIO

from associate_tui import config as config_module
from associate_tui import link
from associate_tui.store import Store, open_store

EXIT_OK = 0
EXIT_FAILED = 1


def run_sync_command(
    config: config_module.Config, *, watch: bool, give_up_after: float, batch_records: int = 1000, out: TextIO
) -> int:
    if not config.hq_url:
        raise link.NotEnrolled("This terminal is not enrolled with HQ: run `associate enroll URL --token TOKEN` first.")
    link.read_token()  # a missing or unsafe token file: say so now, not after the first wait
    with open_store(config) as store:
        if watch:
            return _watch(store, config, batch_records, out)
        return _once(store, config, give_up_after, batch_records, out)


def _once(store: Store, config: config_module.Config, give_up_after: float, batch_records: int, out: TextIO) -> int:
    # Deferred: sync.client loads httpx, and httpx rich and click (~90 ms); only a sync pays for them.
    from sync.client import HQError
    from sync.engine import SyncBusy

    def retrying(error: HQError, delay: float) -> None:
        print(f"{error} Next try in {delay:.0f} s.", file=sys.stderr, flush=True)

    try:
        report = link.run_sync(store, config, give_up_after=give_up_after, on_retry=retrying, batch_records=batch_records)
    except SyncBusy as busy:
        print(busy, file=out)
        return EXIT_OK
    except HQError as error:
        pending = store.count_pending()
        print(f"associate: sync stopped: {error} {pending} records still pending; nothing was lost.", file=sys.stderr)
        return EXIT_FAILED
    print(report.summary(), file=out)
    status = store.sync_status()
    print(f"Pending: {status.pending}. Quarantined: {status.quarantined}.", file=out)
    return EXIT_OK


def _watch(store: Store, config: config_module.Config, batch_records: int, out: TextIO) -> int:
    from sync.engine import watch  # httpx with it: see _once

    stop = threading.Event()

    def stopping(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, stopping)
    signal.signal(signal.SIGINT, stopping)

    def log(report, failure, delay) -> None:  # noqa: ANN001
        stamp = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S")
        if failure is not None:
            line = f"{stamp} {failure} Next try in {delay:.0f} s."
        else:
            line = f"{stamp} {report.summary()} Pending: {store.count_pending()}."
        print(line, file=out, flush=True)

    print(
        f"Syncing {config.store_id}/{config.terminal_id} with {config.hq_url} every {config.sync_interval} s; Ctrl+C to stop.",
        file=out,
        flush=True,
    )
    watch(
        lambda: link.run_sync(store, config, batch_records=batch_records), interval=config.sync_interval, stop=stop, on_result=log
    )
    print("Stopped.", file=out, flush=True)
    return EXIT_OK
