"""What a terminal pulls from HQ: its answers about demand groups, and the store's own unmet demand.

GET /v1/responses?after=N[&limit=M] pages through `demand_responses` by its change number
(`seq`), the terminal's cursor; GET /v1/store-demand counts the token's store's unmet asks
per group. The store is always the token's, never a parameter. The routes are made here
and registered by app.py, which hands over its check of a terminal's token (so this module
never imports app.py).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from schemas.records import ErrorBody, StoreDemand
from schemas.taxonomy import parse_pack
from schemas.times import utc_now
from sync.hq.storage import HQStorage

PAGE = 500  # answers per page unless the terminal asks for fewer or more
MAX_PAGE = 1000
MAX_CURSOR = 2**63 - 1  # seq is a BIGINT
STORE_DEMAND_TOP = 2000  # the store's groups, most asked this month first: more than a counter ever shows
WEEK_DAYS, MONTH_DAYS = 7, 30  # today and the days before it, as the reports count them

Authenticate = Callable[[Request], Awaitable[tuple[str, str]]]


class BadQuery(ValueError):
    """A query parameter HQ cannot use; the message says what to send."""


def routes(authenticated: Authenticate) -> list[Route]:
    """The pull's routes, checking tokens with `authenticated` (app.py's): (store, terminal) or refused (401)."""

    async def responses(request: Request) -> Response:
        store_id, _ = await authenticated(request)
        try:
            after = _whole(request, "after", 0, 0, MAX_CURSOR, "the cursor of the last page applied, 0 for the first")
            limit = _whole(request, "limit", PAGE, 1, MAX_PAGE, f"how many answers at most, 1 to {MAX_PAGE}")
        except BadQuery as error:
            return _bad_query(str(error))
        storage = _storage(request)
        page = await run_in_threadpool(storage.queries.responses_page, store_id, after=after, limit=limit)
        return _json(msgspec.json.encode(page))

    async def store_demand(request: Request) -> Response:
        store_id, _ = await authenticated(request)
        body = await run_in_threadpool(_store_demand, _storage(request), store_id)
        return _json(body)

    return [Route("/v1/responses", responses), Route("/v1/store-demand", store_demand)]


def _store_demand(storage: HQStorage, store_id: str) -> bytes:
    as_of = utc_now()
    today = datetime.now(timezone.utc).date()
    groups = storage.queries.store_demand(
        store_id,
        week=(today - timedelta(days=WEEK_DAYS - 1)).isoformat(),
        month=(today - timedelta(days=MONTH_DAYS - 1)).isoformat(),
        until=(today + timedelta(days=1)).isoformat(),
        unmet=unmet_outcomes(storage),
        top=STORE_DEMAND_TOP,
    )
    return msgspec.json.encode(StoreDemand(store_id=store_id, as_of=as_of, groups=groups))


_unmet: dict[str, tuple[str, ...]] = {}  # the published pack's ETag: its unmet outcomes (one entry)
_unmet_lock = threading.Lock()


def unmet_outcomes(storage: HQStorage) -> tuple[str, ...]:
    """The outcomes the published taxonomy counts as unmet (report.py's rule), parsed once per pack."""
    published = storage.taxonomy()
    with _unmet_lock:
        known = _unmet.get(published.etag)
    if known is not None:
        return known
    pack = parse_pack(published.body.decode("utf-8"), "HQ's published taxonomy")
    outcomes = tuple(outcome.code for outcome in pack.outcomes if outcome.unmet)
    with _unmet_lock:
        _unmet.clear()
        _unmet[published.etag] = outcomes
    return outcomes


def _whole(request: Request, name: str, default: int, low: int, high: int, meaning: str) -> int:
    text = request.query_params.get(name)
    if text is None:
        return default
    shown = text[:24] + ("..." if len(text) > 24 else "")
    if not re.fullmatch(r"[0-9]{1,19}", text) or not low <= int(text) <= high:
        raise BadQuery(f"{name}={shown!r} is not a whole number from {low} to {high}; send {meaning}, e.g. {name}={default}.")
    return int(text)


def _storage(request: Request) -> HQStorage:
    storage: HQStorage = request.app.state.service.storage
    return storage


def _json(body: bytes) -> Response:
    return Response(body, media_type="application/json", headers={"Cache-Control": "no-store"})


def _bad_query(message: str) -> Response:
    return Response(
        msgspec.json.encode(ErrorBody(error="bad_query", message=message)), status_code=400, media_type="application/json"
    )
