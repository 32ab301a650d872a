"""The HQ service: an ASGI app (Starlette) over `HQStorage`.

Stateless over its database: the store and terminal come from the token, every
batch is committed before it is answered, and any number of these processes can
serve the same database. Bad input always gets a 4xx whose JSON body says what is
wrong and how to fix it; it never reaches the database.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import threading
import zlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import h11
import msgspec
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from schemas.records import (
    MAX_RECORDS_PER_BATCH,
    Batch,
    BatchEnvelope,
    BatchResult,
    ErrorBody,
    RecordError,
    WhoAmI,
    decode_envelope,
    decode_record,
)
from schemas.times import format_utc, parse_utc
from sync.hq.auth import Viewer
from sync.hq.dashboard_group import routes as group_routes
from sync.hq.dashboard_group import sign_in
from sync.hq.fold import Folder
from sync.hq.openapi import openapi_document
from sync.hq.pull import routes as pull_routes
from sync.hq.rows import TIME_FIELDS
from sync.hq.storage import HQStorage, Received, StorageBusy, StorageError, may_hold_control

MAX_BODY = 2 * 1024 * 1024  # gzip-compressed, as sent: a full batch is ~150 KB
MAX_INFLATED = 16 * 1024 * 1024  # after gunzip: stops a gzip bomb long before memory does
# A terminal's request headers fit in one packet and its largest batch takes a few seconds
# even on a poor shop line; a client slower than this is holding a connection, not sending.
HEADER_TIMEOUT = 10.0  # seconds from a connection (or the previous answer) to a request's last header
BODY_TIMEOUT = 30.0  # seconds from the request's headers to the last byte of its body
MAX_IN_FLIGHT = 32  # requests one worker takes at once; beyond it, 503 with Retry-After
# Times HQ believes: none before 2000 (a terminal with a reset clock says 1970 or year 1),
# and none more than a day past HQ's own clock (time zones and drift stay well inside a day).
EARLIEST = datetime(2000, 1, 1, tzinfo=timezone.utc)
AHEAD = timedelta(days=1)
log = logging.getLogger("associate_hq")


class Refused(Exception):
    """A request HQ will not take: HTTP status, code and words for the person reading it."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def error_response(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        msgspec.json.encode(ErrorBody(error=code, message=message)),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def from_environment() -> Starlette:
    """The app of one `associate-hq serve` worker, on the database named by $ASSOCIATE_HQ_DB.

    The limits come from the environment too (set by `serve` from its options), since
    each worker is a process of its own.
    """
    DeadlineProtocol.header_timeout = float(os.environ.get("ASSOCIATE_HQ_HEADER_TIMEOUT", HEADER_TIMEOUT))
    return create_app(
        HQStorage.open(os.environ.get("ASSOCIATE_HQ_DB")),
        body_timeout=float(os.environ.get("ASSOCIATE_HQ_BODY_TIMEOUT", BODY_TIMEOUT)),
        max_in_flight=int(os.environ.get("ASSOCIATE_HQ_MAX_IN_FLIGHT", MAX_IN_FLIGHT)),
    )


@dataclass(frozen=True)
class Service:
    """What the handlers of one app share: its database and its limits (on the app's state)."""

    storage: HQStorage
    max_body: int
    max_inflated: int
    folder: Folder  # folds the roll-ups soon after each batch (fold.py), while the app runs


def create_app(
    storage: HQStorage,
    *,
    max_body: int = MAX_BODY,
    max_inflated: int = MAX_INFLATED,
    body_timeout: float = BODY_TIMEOUT,
    max_in_flight: int = MAX_IN_FLIGHT,
) -> Starlette:
    app = Starlette(
        routes=[
            Route("/v1/health", health),
            Route("/v1/whoami", whoami),
            Route("/v1/taxonomy", taxonomy),
            Route("/v1/batches", batches, methods=["POST"]),
            *pull_routes(authenticated),  # what terminals pull: HQ's answers, the store's demand
            Route("/openapi.json", openapi),
            Route("/dashboard", dashboard),
            *group_routes(viewer_of),  # a demand group's page, and its editors' form
        ],
        middleware=[Middleware(Guard, max_in_flight=max_in_flight, body_timeout=body_timeout)],
        lifespan=_folding,
        exception_handlers={
            Refused: refused,
            HTTPException: http_error,
            StorageError: storage_error,
            Exception: unexpected,
        },
    )
    app.state.service = Service(storage, max_body, max_inflated, Folder(storage.db, _one_at_a_time))
    return app


@asynccontextmanager
async def _folding(app: Starlette) -> AsyncIterator[None]:
    """While the app serves, its Folder adds what batches queued to the roll-ups (at start, what a kill left)."""
    folder: Folder = app.state.service.folder
    folder.start()
    try:
        yield
    finally:
        await run_in_threadpool(folder.stop)


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


# -- the routes ---------------------------------------------------------------------------------


async def authenticated(request: Request) -> tuple[str, str]:
    """(store, terminal) of the request's bearer token; refused (401) without a live one."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Refused(
            401,
            "unauthorized",
            "Missing token: send 'Authorization: Bearer TOKEN' with this terminal's token.",
            {"WWW-Authenticate": "Bearer"},
        )
    who = await run_in_threadpool(_service(request).storage.authenticate, token.strip())
    if who is None:
        raise Refused(
            401,
            "unauthorized",
            "Token not recognised or revoked; enroll this terminal again with a new token from HQ (associate-hq terminal add).",
            {"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return who


async def health(request: Request) -> Response:
    if await run_in_threadpool(_service(request).storage.healthy):
        return JSONResponse({"status": "ok"})
    return error_response(503, "database", "HQ cannot reach its database.", {"Retry-After": "5"})


async def whoami(request: Request) -> Response:
    store_id, terminal_id = await authenticated(request)
    return Response(msgspec.json.encode(WhoAmI(store_id=store_id, terminal_id=terminal_id)), media_type="application/json")


async def taxonomy(request: Request) -> Response:
    await authenticated(request)
    published = await run_in_threadpool(_service(request).storage.taxonomy)
    headers = {"ETag": published.etag, "Cache-Control": "no-cache"}
    wanted = [tag.strip() for tag in request.headers.get("if-none-match", "").split(",")]
    if published.etag in wanted or "*" in wanted:
        return Response(status_code=304, headers=headers)
    return Response(published.body, media_type="application/json", headers=headers)


async def batches(request: Request) -> Response:
    store_id, terminal_id = await authenticated(request)
    service = _service(request)
    body, encoding = await read_body(request, service.max_body)
    # Unpacking, decoding and applying run in one worker thread, so the event
    # loop never competes with the database for the GIL in the middle of a batch.
    answer = await run_in_threadpool(ingest, service.storage, store_id, terminal_id, body, encoding, service.max_inflated)
    service.folder.poke()  # committed: the roll-ups follow within about a second
    return Response(answer, media_type="application/json")


async def dashboard(request: Request) -> Response:
    from sync.hq.dashboard import SECURITY_HEADERS, page
    from sync.hq.report import ReportError, window

    storage = _service(request).storage
    viewer = await run_in_threadpool(viewer_of, storage, request.headers.get("authorization", ""))
    if viewer is None:
        return sign_in()
    since = request.query_params.get("since", "7d")[:20]
    store = request.query_params.get("store", "").strip()[:32] or None
    category = request.query_params.get("category", "").strip()[:100] or None
    until = request.query_params.get("until", "").strip()[:10] or None
    try:
        period = window(since, until)
    except ReportError as error:
        return Response(f"{error}\n", status_code=400, media_type="text/plain", headers=SECURITY_HEADERS)
    body = await run_in_threadpool(
        page, storage, period, store=store, category=category, since_text=since, until_text=until or "", viewer=viewer.name
    )
    return Response(body, media_type="text/html; charset=utf-8", headers=SECURITY_HEADERS)


async def openapi(request: Request) -> Response:
    return JSONResponse(openapi_document())


# -- the answers to what went wrong -----------------------------------------------------------


async def refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refused)
    return error_response(exc.status, exc.code, exc.message, exc.headers)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    words = {404: "No such route; see /openapi.json.", 405: "This route does not take that method; see /openapi.json."}
    if exc.status_code == 405 and exc.headers and "Allow" in exc.headers:
        words[405] = f"This route takes only {exc.headers['Allow']}; see /openapi.json."
    return error_response(
        exc.status_code, "http_" + str(exc.status_code), words.get(exc.status_code, str(exc.detail)), exc.headers
    )


async def storage_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, StorageBusy):
        return error_response(503, "busy", "HQ is busy; send the batch again shortly.", {"Retry-After": "2"})
    log.error("database error: %s", exc)
    return error_response(503, "database", "HQ's database failed; send the batch again later.", {"Retry-After": "10"})


async def unexpected(request: Request, exc: Exception) -> Response:
    if isinstance(exc, OSError) and exc.errno in (errno.EMFILE, errno.ENFILE):
        log.warning("out of file descriptors on %s %s: raise LimitNOFILE (README)", request.method, request.url.path)
        return error_response(503, "busy", "HQ is busy; send the request again shortly.", {"Retry-After": "2"})
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return error_response(500, "internal", "HQ failed unexpectedly; nothing was stored. Send the batch again later.")


class Guard:
    """At most `max_in_flight` requests at once in this worker, each body read within `body_timeout`.

    Beyond the cap HQ answers 503 with Retry-After at once, before reading anything
    more, so a burst costs the terminals a retry rather than HQ its memory. The body
    deadline runs from the headers to the body's last byte: a client that stops
    sending (or sends a byte a minute) gets 408 and its connection is closed.
    """

    def __init__(self, app: ASGIApp, *, max_in_flight: int, body_timeout: float) -> None:
        self.app, self.max_in_flight, self.body_timeout = app, max_in_flight, body_timeout
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_in_flight:
            await error_response(
                503,
                "busy",
                f"HQ is taking {self.max_in_flight} requests at once already; send this one again shortly.",
                {"Retry-After": "2"},
            )(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.body_timeout
        body_done = False

        async def receive_by_deadline() -> Message:
            nonlocal body_done
            if body_done:  # after the body only a disconnect can come: no deadline on waiting for it
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise Refused(
                    408,
                    "too_slow",
                    f"The request body did not arrive within {self.body_timeout:g} s; send it again.",
                    {"Connection": "close"},
                ) from None
            body_done = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        self.in_flight += 1
        try:
            await self.app(scope, receive_by_deadline, send)
        finally:
            self.in_flight -= 1


class DeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline on each request's headers.

    uvicorn bounds only the idle time between requests (`timeout_keep_alive`), and
    only once a first answer has gone out: a client that connects and sends nothing,
    or sends its headers a byte at a time, holds a connection (and a file descriptor)
    for ever. Here the headers must be complete within `header_timeout` of the
    connection, or of the previous answer; otherwise HQ answers 408 and closes.
    The headers' size is h11's limit (16 KiB), answered with 400.
    """

    header_timeout = HEADER_TIMEOUT

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        cycle = self.cycle
        super().handle_events()
        if self.cycle is not cycle:  # a request's headers arrived whole
            self._disarm()

    def on_response_complete(self) -> None:
        self._arm()  # the next request's headers are due (or the rest of a body HQ did not read)
        super().on_response_complete()

    def _arm(self) -> None:
        self._disarm()
        self._header_deadline = self.loop.call_later(self.header_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _too_slow(self) -> None:
        self._header_deadline = None
        if self.transport.is_closing():
            return
        if self.conn.their_state is h11.IDLE and self.conn.trailing_data[0]:  # part of a request came
            body = msgspec.json.encode(
                ErrorBody(
                    error="too_slow",
                    message=f"The request headers did not arrive within {self.header_timeout:g} s; send the request again.",
                )
            )
            self.transport.write(
                b"HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\n"
                b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
            )
        self.transport.close()


def viewer_of(storage: HQStorage, header: str) -> Viewer | None:
    """The viewer named by an HTTP Basic header whose password is their live dashboard token."""
    import base64
    import binascii

    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        name, _, token = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    viewer = storage.authenticate_viewer(token)
    return viewer if viewer is not None and viewer.name == name else None


async def read_body(request: Request, max_body: int) -> tuple[bytes, str]:
    """The raw body and its encoding, refusing (413) a body over the limit before holding it all."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_body:
        raise _too_large(max_body)
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("gzip", "identity"):
        raise Refused(415, "unsupported_encoding", f"Content-Encoding '{encoding}' is not supported; send gzip or nothing.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_body:
            raise _too_large(max_body)
        chunks.append(chunk)
    return b"".join(chunks), encoding


def _too_large(max_body: int, max_inflated: int = MAX_INFLATED) -> Refused:
    return Refused(
        413,
        "too_large",
        f"The body is over {max_body // 1024} KiB as sent or {max_inflated // 1024 // 1024} MiB "
        f"unpacked; send fewer records per batch (at most {MAX_RECORDS_PER_BATCH}).",
    )


def inflate(body: bytes, encoding: str, max_inflated: int) -> bytes:
    """Gunzip, stopping (413) at `max_inflated` bytes: a gzip bomb is never inflated whole."""
    if encoding == "identity":
        if len(body) > max_inflated:
            raise _too_large(len(body), max_inflated)
        return body
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        inflated = inflater.decompress(body, max_inflated + 1)
    except zlib.error as error:
        raise Refused(400, "bad_gzip", f"The body says Content-Encoding: gzip but is not valid gzip ({error}).") from None
    if len(inflated) > max_inflated or inflater.unconsumed_tail:
        raise _too_large(MAX_BODY, max_inflated)
    if not inflater.eof:
        raise Refused(400, "bad_gzip", "The gzip body is cut short; send the whole batch again.")
    if inflater.unused_data:  # a second gzip member (another batch?) or junk: one request carries one batch
        raise Refused(
            400,
            "bad_gzip",
            f"{len(inflater.unused_data)} bytes follow the end of the gzip stream; "
            "send one batch per request, compressed as one gzip stream.",
        )
    return inflated


# SQLite takes one writer at a time anyway; one batch at a time per process also
# keeps two ingest threads from trading the GIL row by row (about 6% faster here).
# More throughput comes from more processes (a later issue), not more threads.
_one_at_a_time = threading.Lock()


def ingest(storage: HQStorage, store_id: str, terminal_id: str, body: bytes, encoding: str, max_inflated: int) -> bytes:
    """Check one batch, apply it in one transaction, and return the encoded answer."""
    with _one_at_a_time:
        return _ingest(storage, store_id, terminal_id, body, encoding, max_inflated)


def _ingest(storage: HQStorage, store_id: str, terminal_id: str, body: bytes, encoding: str, max_inflated: int) -> bytes:
    body = inflate(body, encoding, max_inflated)
    received_at = format_utc(datetime.now(timezone.utc))
    envelope, records = _decoded(body)
    if envelope.store_id != store_id:
        raise Refused(
            403,
            "wrong_store",
            f"This token is for store {store_id}; it cannot send asks for store "
            f"{envelope.store_id}. Enroll this terminal with a token for that store.",
        )
    if envelope.terminal_id != terminal_id:
        raise Refused(
            403,
            "wrong_terminal",
            f"This token is for terminal {terminal_id} of store {store_id}, not "
            f"terminal {envelope.terminal_id}. Each terminal needs its own token.",
        )
    now = parse_utc(received_at)
    skew = _clock_skew_ms(envelope.sent_at, now)
    latest = format_utc(now + AHEAD)
    records = [_real_times(item, now, latest) for item in records]
    results = storage.apply_batch(
        store_id=store_id,
        terminal_id=terminal_id,
        batch_id=envelope.batch_id,
        sent_at=envelope.sent_at,
        received_at=received_at,
        clock_skew_ms=skew,
        records=records,
        may_hold_control=may_hold_control(body),
    )
    answer = BatchResult(batch_id=envelope.batch_id, received_at=received_at, clock_skew_ms=skew, results=results)
    return msgspec.json.encode(answer)


def _decoded(body: bytes) -> tuple[Batch | BatchEnvelope, list[Received]]:
    """The batch's envelope, and each of its records decoded or why it was not; refused if the envelope is wrong."""
    try:
        # Almost every batch is whole and valid: decode it in one pass. Only when
        # that fails are the records looked at one by one, so one bad record fails alone.
        batch = _batch_decoder.decode(body)
        return batch, [Received(record=record, id=record.id, version=record.version) for record in batch.records]
    except msgspec.DecodeError:
        pass
    except RecursionError:
        raise _too_deep() from None
    try:
        envelope = decode_envelope(body)
    except msgspec.ValidationError as error:
        raise Refused(422, "invalid_batch", f"The batch does not fit the contract (schemas/batch.schema.json): {error}") from None
    except msgspec.DecodeError as error:
        raise Refused(400, "bad_json", f"The body is not valid JSON: {error}") from None
    except RecursionError:
        raise _too_deep() from None
    return envelope, [_received(raw) for raw in envelope.records]


def _clock_skew_ms(sent_at: str, now: datetime) -> int:
    """How far HQ's clock is ahead of the terminal's; refused if the terminal's time cannot be believed."""
    try:
        sent = parse_utc(sent_at)
    except ValueError as error:
        raise Refused(
            422,
            "invalid_batch",
            f"sent_at '{sent_at}' is not a real time ({error}) - at `$.sent_at`; "
            "send the terminal's UTC time, e.g. 2026-11-22T14:03:07.123Z",
        ) from None
    wrong = _implausible("sent_at", sent_at, now)
    if wrong:
        raise Refused(
            422,
            "implausible_time",
            f"{wrong}. Nothing was stored: set the terminal's clock right (date, time and time zone) and sync again.",
        )
    return int((now - sent).total_seconds() * 1000)


_batch_decoder = msgspec.json.Decoder(Batch)


def _too_deep() -> Refused:
    return Refused(
        400,
        "too_deep",
        "The JSON is nested far deeper than any batch (a record is at most 4 levels down); "
        "send records as schemas/batch.schema.json describes them.",
    )


def _implausible(name: str, text: str, now: datetime) -> str | None:
    """Why a time (valid, in the contract's form) is outside what HQ believes (see EARLIEST and AHEAD), or None."""
    moment = parse_utc(text)
    if moment < EARLIEST:
        return f"{name} {text} is before {EARLIEST:%Y-%m-%d}, earlier than any terminal - at `$.{name}`"
    if moment > now + AHEAD:
        return f"{name} {text} is more than a day ahead of HQ's clock ({format_utc(now)}) - at `$.{name}`"
    return None


def _received(raw: msgspec.Raw) -> Received:
    try:
        record = decode_record(raw)
    except RecursionError:
        return Received(record=None, id="", version=0, problem="the record is nested far deeper than the contract allows")
    except RecordError as error:
        ask_id, version = _best_effort_key(raw)
        return Received(record=None, id=ask_id, version=version, problem=str(error))
    return Received(record=record, id=record.id, version=record.version)


_EARLIEST = format_utc(EARLIEST)


def _surely_real(value: str, latest: str) -> bool:
    """True when a time in the contract's form is a real one between EARLIEST and `latest`, by its text alone.

    The form is fixed (schemas.records.UtcTime), so text order is time order; days up to the 28th are
    in every month. Anything else (the 29th to 31st, a bad month, digits other than 0-9, which the
    contract's \\d lets through) is left to the calendar.
    """
    return (
        value.isascii()
        and _EARLIEST <= value <= latest
        and "01" <= value[5:7] <= "12"
        and "01" <= value[8:10] <= "28"
        and value[11:13] <= "23"
        and value[14:16] <= "59"
        and value[17:19] <= "59"
    )


def _real_times(item: Received, now: datetime, latest: str) -> Received:
    """The contract's pattern lets 2026-02-30 through, the calendar does not; nor does HQ take year 1 or next week.

    `latest` is the latest time HQ believes (now + AHEAD) in the contract's form.
    """
    if item.record is None:
        return item
    for name in TIME_FIELDS[type(item.record)]:
        value = getattr(item.record, name)
        if value is None or _surely_real(value, latest):
            continue
        try:
            wrong = _implausible(name, value, now)
        except ValueError as error:
            problem = f"{name} '{value}' is not a real time ({error}) - at `$.{name}`"
            return Received(record=None, id=item.id, version=item.version, problem=problem)
        if wrong:
            problem = f"{wrong}; the terminal's clock was wrong when it was saved: correct the time and save it again"
            return Received(record=None, id=item.id, version=item.version, problem=problem, code="implausible_time")
    return item


def _best_effort_key(raw: msgspec.Raw) -> tuple[str, int]:
    """The id and version of a record that failed the contract, if they can be read, for the answer."""
    try:
        data = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return "", 0
    if not isinstance(data, dict):
        return "", 0
    ask_id, version = data.get("id"), data.get("version")
    return (ask_id[:64] if isinstance(ask_id, str) else ""), (version if type(version) is int else 0)
