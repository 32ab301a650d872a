"""/dashboard/groups/{key}: one demand group's page, and the form with which an editor sets its status.

The page shows the group's wordings, the stores that asked, its unmet asks per week (inline
SVG), the substitutes offered and taken, HQ's answer and every change of it. An editor's
token (`associate-hq viewer add NAME --editor`) also gets a plain HTML form; its POST goes
through Responses.set_status with the rules of responses.py, kept in the history under the
editor's name. No script, under dashboard.py's Content-Security-Policy.

A browser sends a dashboard's Basic credentials with any request to HQ, a form another site
makes it post included, so a POST is taken only when (1) the browser says it came from this
origin (Sec-Fetch-Site, or else Origin against Host, as Go's CrossOriginProtection does) and
(2) it carries the form key of the signed-in token, which another site cannot know. The
routes are made here and registered by app.py, which hands over its check of a viewer's
Basic header (so this module never imports app.py).
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from urllib.parse import parse_qsl, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from schemas.demand import VALUE_ATTRIBUTES
from schemas.taxonomy import Taxonomy
from schemas.text import clean
from schemas.text import html_literal as e
from schemas.times import format_utc
from sync.hq.auth import Viewer
from sync.hq.dashboard import GROUP_KEY, SECURITY_HEADERS, WEEKS, category_label, chart, group_link, head, weeks_of
from sync.hq.digest import scrub
from sync.hq.groups import Offered, Totals
from sync.hq.report import ReportError, Window, unmet_outcomes, window
from sync.hq.responses import NOTE_CHARS, STATUSES, ResponseError, checked_by, checked_expected, checked_note
from sync.hq.responses import Response as Answer
from sync.hq.storage import HQStorage

MAX_FORM = 8 * 1024  # bytes of a posted form: four short fields and the form key
MAX_FIELDS = 16
FORM_STATUSES = STATUSES[1:]  # an editor moves a group on from `new`, never back to it
HISTORY_SHOWN = 50  # the newest changes on the page; `associate-hq demand list` and the table keep them all
SAME_ORIGIN = ("same-origin", "none")  # Sec-Fetch-Site values of a request this origin's page (or the person) made
FORWARDED_HOST = "x-forwarded-host"

ViewerOf = Callable[[HQStorage, str], Viewer | None]


class Refusal(Exception):
    """A request the group page will not take: its HTTP status and the words for the person."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def routes(viewer_of: ViewerOf) -> list[Route]:
    """The group page's route, checking the Basic header with `viewer_of` (app.py's)."""

    async def group(request: Request) -> Response:
        storage: HQStorage = request.app.state.service.storage
        viewer = await run_in_threadpool(viewer_of, storage, request.headers.get("authorization", ""))
        if viewer is None:
            return sign_in()
        try:
            return await _answer(request, storage, viewer)
        except Refusal as refusal:
            return _refused(refusal.status, refusal.message)

    return [Route("/dashboard/groups/{key}", group, methods=["GET", "POST"])]


def sign_in() -> Response:
    """401 with the browser's sign-in prompt, for every dashboard page."""
    return Response(
        "Sign in with your name and the dashboard token from associate-hq viewer add.\n",
        status_code=401,
        media_type="text/plain",
        headers={"WWW-Authenticate": 'Basic realm="Associate HQ dashboard", charset="UTF-8"'},
    )


@dataclass(frozen=True)
class Address:
    """The group and the period of a request, and their texts as given (kept in links and the form)."""

    key: str
    period: Window
    since_text: str
    until_text: str

    @property
    def url(self) -> str:
        return group_link(self.key, self.since_text, self.until_text) or "/dashboard"

    @property
    def dashboard_url(self) -> str:
        """/dashboard over the same period."""
        return "/dashboard" + self.url.partition("?")[1] + self.url.partition("?")[2]


async def _answer(request: Request, storage: HQStorage, viewer: Viewer) -> Response:
    address = _address(request)
    if request.method == "POST":
        return await _post(request, storage, viewer, address)
    if not await run_in_threadpool(storage.responses.known_group, address.key):
        raise _unknown(address.key)
    body = await run_in_threadpool(page, storage, address, viewer)
    return _html(200, body)


def _address(request: Request) -> Address:
    key = request.path_params["key"]
    if not GROUP_KEY.fullmatch(key):
        raise _unknown(key)
    since = request.query_params.get("since", "7d").strip()[:20] or "7d"
    until = request.query_params.get("until", "").strip()[:10]
    try:
        period = window(since, until or None)
    except ReportError as error:
        raise Refusal(400, str(error)) from None
    return Address(key, period, since, until)


def _unknown(key: str) -> Refusal:
    return Refusal(404, f"HQ has no demand group '{key[:32]}'; follow a group's link on /dashboard.")


# -- an editor's change -----------------------------------------------------------------------------------


async def _post(request: Request, storage: HQStorage, viewer: Viewer, address: Address) -> Response:
    why = cross_site(request.headers)
    if why:
        raise Refusal(403, why)
    if not viewer.editor:
        raise Refusal(
            403,
            f"{viewer.name}'s dashboard token may read this page but not change a group's status; "
            "ask HQ's administrator for an editor token (associate-hq viewer add NAME --editor).",
        )
    fields = await read_form(request)
    if not hmac.compare_digest(fields.get("form_key", "").encode(), viewer.form_key.encode()):
        raise Refusal(
            403,
            "Refused: the form's key is missing or is not this sign-in's, so it may have come from another site. "
            "Nothing changed; open the group's page again and send its form.",
        )
    if not await run_in_threadpool(storage.responses.known_group, address.key):
        raise _unknown(address.key)
    typed = {name: fields.get(name, "") for name in ("status", "expected", "stores", "note")}
    try:
        await run_in_threadpool(change, storage, address.key, typed, viewer.name)
    except ResponseError as error:
        body = await run_in_threadpool(page, storage, address, viewer, typed, str(error))
        return _html(400, body)
    return RedirectResponse(address.url, status_code=303, headers=SECURITY_HEADERS)


def cross_site(headers: Mapping[str, str]) -> str | None:
    """Why a POST did not come from this origin's own page, or None when it did (or from no browser at all)."""
    site = headers.get("sec-fetch-site")
    if site is not None:
        if site.strip().lower() in SAME_ORIGIN:
            return None
        return (
            f"Refused: this form was sent from another site (Sec-Fetch-Site: {clean(site[:20])}). Nothing changed; "
            "change a group's status from its page on this HQ's dashboard."
        )
    origin = headers.get("origin")
    if origin is None:
        return None  # not a browser's form (a browser sends one of the two): the form key decides
    hosts = {headers.get("host", "").lower(), headers.get(FORWARDED_HOST, "").lower()} - {""}
    if origin != "null" and urlsplit(origin).netloc.lower() in hosts:
        return None
    return (
        f"Refused: this form was sent from another site (Origin: {clean(origin[:100])}). Nothing changed; "
        "change a group's status from its page on this HQ's dashboard."
    )


async def read_form(request: Request) -> dict[str, str]:
    """The posted form's fields (the first of each name), refused if it is not a small URL-encoded form."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise Refusal(415, "Send the group page's form (application/x-www-form-urlencoded); nothing changed.")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FORM:
        raise _too_large()
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            raise _too_large()
    try:
        pairs = parse_qsl(body.decode("ascii"), keep_blank_values=True, max_num_fields=MAX_FIELDS, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise Refusal(400, "The form could not be read (not URL-encoded UTF-8, or too many fields); nothing changed.") from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        fields.setdefault(name, value)
    return fields


def _too_large() -> Refusal:
    return Refusal(413, f"The form is over {MAX_FORM // 1024} KiB; a response is one sentence. Nothing changed.")


def change(storage: HQStorage, key: str, typed: Mapping[str, str], by: str) -> Answer | None:
    """Apply a form's status, expected date (planned), stores (available) and response, by the rules of responses.py.

    A field that does not go with the chosen status is not read, so a form filled in for
    the group's current status can move it to another without first being emptied.
    """
    status = typed["status"]
    if status not in FORM_STATUSES:
        raise ResponseError(f"Choose a status: {', '.join(FORM_STATUSES)}.")
    note = checked_note(typed["note"], required=status != "available", what="The response")
    try:
        expected = checked_expected(typed["expected"].strip() or None, status) if status == "planned" else None
    except ResponseError as error:
        raise ResponseError(_form_words(str(error))) from None
    named = [store for store in re.split(r"[,\s]+", typed["stores"].strip()) if store]
    stores = storage.responses.checked_stores(named, what="Store") if status == "available" else []
    return storage.responses.set_status(key, status, by=checked_by(by), expected_on=expected, note=note, stores=stores)


def _form_words(message: str) -> str:
    """responses.py's words name the command line's options; here they name the form's fields."""
    words = message.replace("--status planned", "status planned").replace("--expected", "the expected date")
    return words[:1].upper() + words[1:]


# -- the page ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Facts:
    """What the page shows of a group over a period."""

    wordings: list[tuple[str, int]]
    category: str | None
    attributes: dict[str, str]
    totals: Totals
    stores: dict[str, int]
    weeks: list[tuple[date, int]]
    offered: list[Offered]
    answer: Answer | None
    history: list[Answer]


def facts(storage: HQStorage, key: str, period: Window) -> Facts:
    since, until = format_utc(period.since)[:10], format_utc(period.until)[:10]
    unmet = unmet_outcomes(storage)
    wordings, category, attributes = storage.groups.wordings(key, since=since, until=until)
    chart_since = format_utc(period.until - timedelta(days=7 * WEEKS))[:10]
    per_day = storage.groups.unmet_per_day(key, since=chart_since, until=until, unmet=unmet)
    return Facts(
        wordings=wordings,
        category=category,
        attributes={k: v for k, v in attributes.items() if k not in VALUE_ATTRIBUTES},
        totals=storage.groups.totals(key, since=since, until=until, unmet=unmet),
        stores=storage.responses.store_asks([key], since=since, until=until, unmet=unmet).get(key, {}),
        weeks=weeks_of(per_day, period),
        offered=storage.groups.substitutes(key, since=since, until=until, unmet=unmet),
        answer=storage.responses.current([key]).get(key),
        history=storage.responses.history(key),
    )


def page(
    storage: HQStorage, address: Address, viewer: Viewer, typed: Mapping[str, str] | None = None, error: str | None = None
) -> str:
    """The group's page; with `typed` and `error`, an editor's form as they sent it and why it was refused."""
    pack = storage.taxonomy_pack()
    seen = facts(storage, address.key, address.period)
    title = scrub(seen.wordings[0][0]) if seen.wordings else f"Demand group {address.key}"
    span = f"{format_utc(address.period.since)[:10]} to {format_utc(address.period.until - timedelta(seconds=1))[:10]}"
    return (
        head(title) + f"<p><a href='{e(address.dashboard_url)}'>← Unmet demand</a></p>"
        f"<h1 id='group-title'>{e(title)}</h1>"
        f"<p id='group-facts'>{e(_described(pack, seen))} · {e(span)} · key {e(address.key)} · signed in as {e(viewer.name)}"
        f"{' (editor)' if viewer.editor else ''}</p>"
        + _answer_section(seen.answer)
        + (_form(address, viewer, seen.answer, typed, error) if viewer.editor else _read_only())
        + _wordings(seen)
        + _stores_table(seen)
        + f"<h2>Unmet asks per week</h2>{chart(seen.weeks)}"
        + _substitutes(seen)
        + _history(seen.history)
        + "</body></html>"
    )


def _described(pack: Taxonomy, seen: Facts) -> str:
    labels = {attribute.key: attribute.label for attribute in pack.attributes}
    parts = [category_label(pack, seen.category)]
    parts += [f"{labels.get(name, name)} {value}" for name, value in sorted(seen.attributes.items())]
    return " · ".join(parts) + f" · {seen.totals.asks} unmet asks at {len(seen.stores)} stores"


def _answer_section(answer: Answer | None) -> str:
    if answer is None:
        return "<h2>HQ's answer</h2><p id='current-status'><strong>new</strong>: nobody at HQ has answered this group yet.</p>"
    where = ""
    if answer.status == "available":
        where = f" at {', '.join(answer.stores)}" if answer.stores else " chain-wide"
    expected = f", expected {answer.expected_on}" if answer.expected_on else ""
    note = f"<p id='current-note'>Response: “{e(answer.note)}”</p>" if answer.note else ""
    return (
        f"<h2>HQ's answer</h2><p id='current-status'><strong>{e(answer.status)}</strong>{e(expected)}{e(where)}</p>"
        f"{note}<p>Set by {e(answer.changed_by)}, {e(answer.changed_at[:16].replace('T', ' '))} UTC</p>"
    )


def _read_only() -> str:
    return "<p id='read-only'>Read only: an editor's token can change this group's status and response.</p>"


def _form(address: Address, viewer: Viewer, answer: Answer | None, typed: Mapping[str, str] | None, error: str | None) -> str:
    """The editor's form, filled in with what they sent (after a refusal) or else the group's current answer."""
    if typed is None:
        typed = {
            "status": answer.status if answer else "reviewing",
            "expected": (answer.expected_on or "") if answer else "",
            "stores": ", ".join(answer.stores) if answer else "",
            "note": (answer.note or "") if answer else "",
        }
    options = "".join(
        f"<option value='{status}'{' selected' if status == typed['status'] else ''}>{status}</option>"
        for status in FORM_STATUSES
    )
    problem = f"<p class='error' id='form-error' role='alert'>{e(error)}</p>" if error else ""
    return (
        f"<h2>Change the answer</h2>{problem}<form id='respond' method='post' action='{e(address.url)}'>"
        f"<input type='hidden' name='form_key' value='{e(viewer.form_key)}'>"
        f"<p><label>Status <select name='status'>{options}</select></label> "
        f"<label>Expected date (planned) <input type='date' name='expected' value='{e(typed['expected'])}'></label> "
        f"<label>Stores (available; empty: chain-wide) <input name='stores' value='{e(typed['stores'])}' size='24' "
        "placeholder='e.g. S01, S02'></label></p>"
        f"<p><label>Response a store may read to a customer (one line, up to {NOTE_CHARS} characters; "
        f"for declined, the reason)<br><input name='note' value='{e(typed['note'])}' size='80'></label></p>"
        "<p><button type='submit'>Save</button></p></form>"
    )


def _wordings(seen: Facts) -> str:
    rows = "".join(f"<tr><td>{e(scrub(text))}</td><td class='n'>{asks}</td></tr>" for text, asks in seen.wordings)
    rows = rows or "<tr><td colspan='2'>No asks in this period.</td></tr>"
    return f"<h2>Wordings</h2><table id='wordings'><thead><tr><th>As asked</th><th class='n'>Asks</th></tr></thead><tbody>{rows}</tbody></table>"


def _stores_table(seen: Facts) -> str:
    ranked = sorted(seen.stores.items(), key=lambda item: (-item[1], item[0]))
    rows = "".join(f"<tr><td>{e(store)}</td><td class='n'>{asks}</td></tr>" for store, asks in ranked)
    rows = rows or "<tr><td colspan='2'>No unmet asks in this period.</td></tr>"
    return (
        "<h2>Stores</h2><table id='stores'><thead><tr><th>Store</th><th class='n'>Unmet asks</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def _substitutes(seen: Facts) -> str:
    total = seen.totals
    rows = "".join(
        f"<tr><td>{e(scrub(item.substitute))}</td><td class='n'>{item.offered}</td><td class='n'>{item.accepted}</td>"
        f"<td class='n'>{item.declined}</td></tr>"
        for item in seen.offered
    )
    rows = rows or "<tr><td colspan='4'>No substitute offered in this period.</td></tr>"
    return (
        f"<h2>Substitutes</h2><p id='substitute-totals'>Offered {total.offered} time{'' if total.offered == 1 else 's'}, taken {total.accepted}, "
        f"turned down {total.declined}.</p><table id='substitutes'><thead><tr><th>Offered instead</th>"
        f"<th class='n'>Offered</th><th class='n'>Taken</th><th class='n'>Turned down</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _history(history: list[Answer]) -> str:
    rows = "".join(
        f"<tr><td>{e(change.changed_at[:16].replace('T', ' '))}</td><td>{e(change.changed_by)}</td><td>{e(change.status)}</td>"
        f"<td>{e(change.expected_on or '')}</td><td>{e(', '.join(change.stores))}</td><td>{e(change.note or '')}</td></tr>"
        for change in reversed(history[-HISTORY_SHOWN:])
    )
    rows = rows or "<tr><td colspan='6'>No change yet: the group is new.</td></tr>"
    return (
        "<h2>History</h2><table id='history'><thead><tr><th>When (UTC)</th><th>Who</th><th>Status</th><th>Expected</th>"
        f"<th>Stores</th><th>Response</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _html(status: int, body: str) -> Response:
    return Response(body, status_code=status, media_type="text/html; charset=utf-8", headers=SECURITY_HEADERS)


def _refused(status: int, message: str) -> Response:
    """A refusal as a page of its own (the browser shows it after a post), with the way back to /dashboard."""
    body = (
        head("Not done")
        + f"<h1>Not done</h1><p id='refusal' role='alert'>{e(message)}</p><p><a href='/dashboard'>← Unmet demand</a></p>"
        "</body></html>"
    )
    return _html(status, body)
