"""The sync engine: pending asks out in bounded batches, HQ's answers back in.

After the push, HQ's answers about demand groups are pulled after a cursor the store
keeps, page by page, each page applied once (the store checks that the page starts at
its cursor); then the store's own demand. An HQ older than those routes is skipped.

Exactly once, whatever breaks in between, rests on three rules:
- HQ keeps the highest version of each id and answers `duplicate` for one it holds,
  so anything may be sent again;
- a record is acknowledged only if the row still has the version HQ answered for
  (the store's `apply_results`), in one transaction;
- nothing leaves the queue except by an acknowledgement or a quarantine (HQ's
  per-record refusal, lifted by editing the ask). Nothing expires.

The engine knows nothing of the terminal app: it is handed a store with the few
methods in `SyncStore` and an `HQClient`.
"""

from __future__ import annotations

import fcntl
import os
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import msgspec

from schemas.records import SCHEMA_VERSION, GroupResponse, StoreGroupCount
from schemas.times import utc_now
from sync.client import HQClient, HQError

BATCH_RECORDS = 1000  # the contract's most; fewer requests, fewer commits on both sides
BATCH_BYTES = 1_000_000  # before gzip; HQ refuses much larger bodies
IN_FLIGHT = 2  # batches sent before the first answer is awaited
MAX_PASSES = 5  # asks edited while their batch was in flight are sent again, up to this often per sync
TAXONOMY_ETAG = "taxonomy_etag"
STORE_DEMAND_PULLED = "store_demand_pulled"  # when (this machine's clock) the store's figures were last pulled
STORE_DEMAND_EVERY = 60.0  # seconds: the store's figures are asked for at most this often
MAX_PAGES = 1000  # HQ's answers pulled per sync at most (x 500 a page); the next sync goes on from the cursor


class SyncStore(Protocol):
    """What the engine needs of the terminal's store."""

    def pending_records(self, *, after_seq: int = 0, limit: int = 500) -> list[tuple[int, str, int, bytes]]:
        """(seq, id, version, the record as contract JSON), oldest first."""

    def apply_results(self, results: list[tuple[str, int, str, str | None, str | None]]) -> None: ...

    def record_sync(self, *, ok: bool, error: str | None = None) -> None: ...

    def get_sync_value(self, key: str) -> str | None: ...

    def set_sync_value(self, key: str, value: str | None) -> None: ...

    def responses_cursor(self) -> int:
        """The last of HQ's changes applied here (0: none yet)."""

    def apply_responses(self, responses: Sequence[GroupResponse], *, after: int, cursor: int) -> int:
        """Apply a page pulled after `after` and move the cursor to `cursor`, once: the follow-ups it woke."""

    def apply_store_demand(self, groups: Sequence[StoreGroupCount], *, as_of: str) -> None: ...


class SyncBusy(Exception):
    """Another process is syncing this data folder right now."""


@dataclass
class SyncReport:
    """What one sync did."""

    batches: int = 0
    sent: int = 0
    accepted: int = 0
    duplicate: int = 0
    stale: int = 0
    rejected: int = 0
    taxonomy_updated: bool = False
    answers: int = 0  # HQ's answers about demand groups pulled
    woken: int = 0  # follow-ups those answers made due (the group is in stock here now)
    rejections: list[str] = field(default_factory=list)  # HQ's messages, a few
    warning: str | None = None  # went through, but with something to tell (a refused taxonomy)
    seconds: float = 0.0  # from the first read of the outbox to the last answer recorded

    def summary(self) -> str:
        if not self.sent:
            text = "Nothing to send: HQ has every ask."
        else:
            text = f"Sent {_count(self.sent, 'record')} in {_count(self.batches, 'batch')}: {self.accepted} accepted"
            if self.duplicate:
                text += f", {self.duplicate} already at HQ"
            if self.stale:
                text += f", {self.stale} superseded at HQ"
            if self.rejected:
                text += f", {self.rejected} rejected (see the quarantine)"
            text += f" ({self.seconds:.1f} s, {self.sent / max(self.seconds, 1e-6):,.0f} records/s)."
        if self.answers:
            text += f" {_count(self.answers, 'answer')} from HQ"
            text += f", {_count(self.woken, 'follow-up')} in stock now." if self.woken else "."
        if self.taxonomy_updated:
            text += " New taxonomy from HQ."
        if self.warning:
            text += f" {self.warning}"
        return text


@dataclass(frozen=True)
class Identity:
    """Whose batches these are: set at enrolment, checked by HQ against the token."""

    store_id: str
    terminal_id: str


# -- one sync ---------------------------------------------------------------------------


def sync_once(
    store: SyncStore,
    client: HQClient,
    identity: Identity,
    *,
    batch_records: int = BATCH_RECORDS,
    batch_bytes: int = BATCH_BYTES,
    taxonomy_sink: Callable[[bytes], None] | None = None,
    on_batch: Callable[[SyncReport], None] | None = None,
) -> SyncReport:
    """Send everything pending, pull HQ's answers and the taxonomy. Raises HQError on the first failure.

    Whatever was acknowledged before a failure stays acknowledged; the rest is
    simply still pending. The outcome is recorded in the store for the status line.
    """
    report = SyncReport()

    def send() -> None:
        started = time.perf_counter()
        for _ in range(MAX_PASSES):
            if not _drain_pass(store, client, identity, report, batch_records, batch_bytes, on_batch):
                break
        report.seconds += time.perf_counter() - started

    try:
        send()
        if pull_answers(store, client, report):
            send()  # the follow-ups the answers woke carry their in_stock_at to HQ now, not next time
        if taxonomy_sink is not None:
            try:
                report.taxonomy_updated = pull_taxonomy(store, client, taxonomy_sink)
            except TaxonomyRefused as refused:
                report.warning = str(refused)  # the asks went; the last good taxonomy stays
    except HQError as error:
        store.record_sync(ok=False, error=str(error))
        raise
    store.record_sync(ok=True, error=report.warning)
    return report


def _drain_pass(
    store: SyncStore,
    client: HQClient,
    identity: Identity,
    report: SyncReport,
    batch_records: int,
    batch_bytes: int,
    on_batch: Callable[[SyncReport], None] | None,
) -> bool:
    """One pass over the outbox in seq order, IN_FLIGHT batches at a time; True if anything was sent.

    While HQ commits one batch the terminal reads, encodes and sends the next, and
    records the answer to the one before: about 1.5x the throughput of one at a time.
    Answers may be applied in any order: each acknowledges only its own (id, version)s.
    """
    after = 0
    sent_any = False
    in_flight: deque[tuple[Future, Keys]] = deque()
    failure: HQError | None = None

    def settle_oldest() -> None:
        nonlocal failure
        future, keys = in_flight.popleft()
        try:
            result = future.result()
        except HQError as error:
            failure = failure or error
            return
        _apply(store, keys, result.results, report)
        report.batches += 1
        if on_batch is not None:
            on_batch(report)

    with ThreadPoolExecutor(max_workers=IN_FLIGHT, thread_name_prefix="sync-push") as pool:
        try:
            while failure is None:
                rows = store.pending_records(after_seq=after, limit=batch_records)
                if not rows:
                    break
                for records, keys, last_seq in _batches(rows, batch_bytes):
                    in_flight.append((pool.submit(client.push, encode_batch(identity, records)), keys))
                    after = last_seq
                    sent_any = True
                    if len(in_flight) >= IN_FLIGHT:
                        settle_oldest()
                    if failure is not None:
                        break
        finally:
            # Whatever happens, record the answers that did arrive: that work is not redone.
            while in_flight:
                settle_oldest()
    if failure is not None:
        raise failure
    return sent_any


Keys = set[tuple[str, int]]


def _batches(rows: list[tuple[int, str, int, bytes]], batch_bytes: int) -> Iterator[tuple[list[bytes], Keys, int]]:
    """Split rows into batches under `batch_bytes` of JSON: (records, their (id, version)s, last seq)."""
    batch: list[bytes] = []
    keys: Keys = set()
    size = 0
    last = 0
    for seq, ask_id, version, record in rows:
        if batch and size + len(record) + 1 > batch_bytes:
            yield batch, keys, last
            batch, keys, size = [], set(), 0
        batch.append(record)
        keys.add((ask_id, version))
        size += len(record) + 1
        last = seq
    if batch:
        yield batch, keys, last


def encode_batch(identity: Identity, records: list[bytes]) -> bytes:
    """A version-1 batch, its records already encoded (the contract's `Batch`)."""
    head = msgspec.json.encode(
        {
            "schema_version": SCHEMA_VERSION,
            "batch_id": str(uuid.uuid4()),
            "store_id": identity.store_id,
            "terminal_id": identity.terminal_id,
            "sent_at": utc_now(),
        }
    )
    return head[:-1] + b',"records":[' + b",".join(records) + b"]}"


def _apply(store: SyncStore, sent: Keys, results: list, report: SyncReport) -> None:
    answers = []
    for result in results:
        if (result.id, result.version) not in sent:
            continue  # not ours to acknowledge: never trust an answer for what we did not send
        answers.append((result.id, result.version, result.status, result.code, result.message))
        setattr(report, result.status, getattr(report, result.status) + 1)
        if result.status == "rejected" and len(report.rejections) < 5:
            report.rejections.append(f"{result.code}: {result.message}")
    report.sent += len(sent)
    store.apply_results(answers)


def pull_answers(store: SyncStore, client: HQClient, report: SyncReport) -> int:
    """HQ's answers after the store's cursor, page by page until none waits, then the store's demand.

    Each page is applied in one transaction that also moves the cursor, and only if it starts
    at the stored cursor: a page pulled again (a retry after a lost answer) changes nothing.
    An HQ that predates these routes (404) is skipped. The follow-ups woken.
    """
    woken_before = report.woken
    for _ in range(MAX_PAGES):
        after = store.responses_cursor()
        page = client.responses(after)
        if page is None:
            return report.woken - woken_before
        report.answers += len(page.responses)
        report.woken += store.apply_responses(page.responses, after=after, cursor=page.cursor)
        if not page.more or page.cursor <= after:
            break
    pulled = store.get_sync_value(STORE_DEMAND_PULLED)
    if pulled and 0 <= time.time() - float(pulled) < STORE_DEMAND_EVERY:
        return report.woken - woken_before  # counted a moment ago: a sync follows every save
    demand = client.store_demand()
    if demand is not None:
        store.apply_store_demand(demand.groups, as_of=demand.as_of)
        store.set_sync_value(STORE_DEMAND_PULLED, str(time.time()))
    return report.woken - woken_before


def pull_taxonomy(store: SyncStore, client: HQClient, sink: Callable[[bytes], None]) -> bool:
    """Fetch HQ's taxonomy if it changed; `sink` checks and installs it. True if it changed.

    A pack the sink refuses (ValueError) is reported and the last good one stays.
    """
    etag = store.get_sync_value(TAXONOMY_ETAG)
    answer = client.taxonomy(etag)
    if answer.body is None:
        return False
    try:
        sink(answer.body)
    except ValueError as error:
        raise TaxonomyRefused(f"HQ's taxonomy could not be used, keeping the current one: {error}") from error
    store.set_sync_value(TAXONOMY_ETAG, answer.etag)
    return True


class TaxonomyRefused(HQError):
    """HQ published a pack this terminal cannot use."""


# -- retries ------------------------------------------------------------------------------


class Backoff:
    """Exponential backoff with full jitter, from about a second up to minutes.

    Full jitter (a random delay between 0 and the exponential cap) spreads the
    retries of a thousand terminals after an HQ outage instead of having them
    all knock at once. HQ's Retry-After, when given, is the floor.
    """

    def __init__(self, base: float = 1.0, cap: float = 300.0, rng: random.Random | None = None) -> None:
        self.base = base
        self.cap = cap
        self.attempt = 0
        self._rng = rng or random.Random()

    def next_delay(self, retry_after: float | None = None) -> float:
        ceiling = min(self.cap, self.base * 2**self.attempt)
        self.attempt += 1
        delay = self._rng.uniform(self.base / 2, max(self.base / 2, ceiling))
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.cap))
        return delay

    def reset(self) -> None:
        self.attempt = 0


def sync_with_retry(
    store: SyncStore,
    client: HQClient,
    identity: Identity,
    *,
    give_up_after: float,
    backoff: Backoff | None = None,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[HQError, float], None] | None = None,
    **options: object,
) -> SyncReport:
    """`sync_once`, retrying transient failures (offline, timeouts, 429, 5xx) with backoff.

    Gives up (re-raising the last error) once the next wait would pass
    `give_up_after` seconds from the start; a permanent failure is raised at once.
    """
    backoff = backoff or Backoff()
    started = time.monotonic()
    on_batch = options.pop("on_batch", None)

    def progressed(report: SyncReport) -> None:
        backoff.reset()  # HQ is taking batches again: the next hiccup starts from a short wait
        if on_batch is not None:
            on_batch(report)  # type: ignore[operator]

    while True:
        try:
            return sync_once(store, client, identity, on_batch=progressed, **options)  # type: ignore[arg-type]
        except HQError as error:
            if not error.transient:
                raise
            delay = backoff.next_delay(error.retry_after)
            if time.monotonic() - started + delay > give_up_after:
                raise
            if on_retry is not None:
                on_retry(error, delay)
            sleep(delay)


# -- one sync at a time per data folder -------------------------------------------------


@contextmanager
def sync_lock(path: Path) -> Iterator[None]:
    """Hold the data folder's sync lock, or raise SyncBusy at once.

    An OS lock (flock): it is released when the holder exits, even by SIGKILL,
    so a crashed sync never blocks the next one.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "another process"
            raise SyncBusy(f"Another sync of this terminal is running (process {holder}); it will send the asks.") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)


# -- a long-running service ----------------------------------------------------------------


def watch(
    run: Callable[[], SyncReport],
    *,
    interval: float,
    stop: threading.Event,
    backoff: Backoff | None = None,
    on_result: Callable[[SyncReport | None, Exception | None, float], None] | None = None,
) -> None:
    """Call `run` every `interval` seconds until `stop` is set; back off after transient errors.

    A permanent error (token refused, say) is reported and retried at the normal
    interval: IT may fix it meanwhile, and nothing is lost by asking again.
    """
    backoff = backoff or Backoff()
    while not stop.is_set():
        report: SyncReport | None = None
        failure: Exception | None = None
        try:
            report = run()
            backoff.reset()
            delay = interval
        except SyncBusy as error:
            failure, delay = error, interval
        except HQError as error:
            failure = error
            delay = backoff.next_delay(error.retry_after) if error.transient else interval
        except Exception as error:  # noqa: BLE001 - a service reports and carries on (disk full, token file gone)
            failure, delay = error, interval
        if on_result is not None:
            on_result(report, failure, delay)
        stop.wait(delay)


def _count(number: int, noun: str) -> str:
    """`1 record`, `2 records`, `1 batch`, `3 batches`."""
    if number == 1:
        return f"{number} {noun}"
    return f"{number} {noun}{'es' if noun.endswith(('s', 'x', 'ch', 'sh')) else 's'}"
