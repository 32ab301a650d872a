"""HQ's answers and the store's figures in the counter's words.

One wording for the capture form, Insights, F7 and the command line: "HQ: planned ·
expected 2027-03-01 · Coming in navy in March", "store: 12 this week / 40 in 30 days,
as of 30 Nov 10:02", "2 follow-ups are due today: in stock now". No Textual here, so
`associate demand` prints the same words the screens show. What HQ wrote (its note)
is data: control characters and line breaks are taken out before it is put in a line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from schemas.text import clean
from schemas.times import parse_utc

if TYPE_CHECKING:
    from associate_tui.customers import FollowUp
    from associate_tui.store import HQAnswer, Restock, Store, StoreFigures

IN_STOCK_NOW = "in stock now"

# HQ's statuses as a short cell (Insights) and in a sentence.
_STATUS = {
    "reviewing": "reviewing",
    "planned": "planned",
    "available": "available",
    "declined": "declined",
}


@dataclass(frozen=True)
class GroupNews:
    """What is known here of one demand group beyond this terminal's own asks."""

    key: str
    answer: HQAnswer | None = None
    restock: Restock | None = None
    figures: StoreFigures | None = None

    @property
    def answered(self) -> bool:
        """HQ has said something about it, or it is back in stock here."""
        return self.answer is not None or self.restock is not None

    @property
    def anything(self) -> bool:
        return self.answered or self.figures is not None


def read_news(store: Store, keys: Sequence[str]) -> dict[str, GroupNews]:
    """HQ's answers, restocks and the store's figures of these groups (three indexed reads)."""
    wanted = list(dict.fromkeys(key for key in keys if key))
    if not wanted:
        return {}
    answers, restocks, figures = store.hq_answers(wanted), store.restocks(wanted), store.store_figures(wanted)
    return {key: GroupNews(key, answers.get(key), restocks.get(key), figures.get(key)) for key in wanted}


# -- times ------------------------------------------------------------------------


def _local(utc: str) -> datetime | None:
    try:
        return parse_utc(utc).astimezone()
    except ValueError:
        return None


def local_day(utc: str, today: date | None = None) -> str:
    """'30 Nov' (with the year when it is not this year's) in local time; the text itself if it is no time."""
    moment = _local(utc)
    if moment is None:
        return clean(utc)
    today = today or date.today()
    return f"{moment.day} {moment:%b}" + ("" if moment.year == today.year else f" {moment.year}")


def local_moment(utc: str, today: date | None = None) -> str:
    """'30 Nov 10:02' in local time."""
    moment = _local(utc)
    return f"{local_day(utc, today)} {moment:%H:%M}" if moment else clean(utc)


# -- one group ----------------------------------------------------------------------


def status_cell(news: GroupNews | None) -> str:
    """HQ's status in a word or two, for a table cell: 'in stock', 'planned', ... or '' (no answer)."""
    if news is None:
        return ""
    if news.restock is not None or (news.answer and news.answer.available_here):
        return "in stock"
    if news.answer is None:
        return ""
    if news.answer.status == "available":
        return "elsewhere"
    return _STATUS.get(news.answer.status, clean(news.answer.status))


def hq_words(news: GroupNews | None, today: date | None = None) -> str:
    """ "HQ: planned · expected 2027-03-01 · Coming in navy in March", "HQ: in stock here since 30 Nov"; '' if nothing."""
    if news is None or not news.answered:
        return ""
    answer, restock = news.answer, news.restock
    if restock is not None:
        since = local_day(restock.at, today)
        if restock.source == "store":
            named = restock.associate and restock.associate != "ANY"
            who = f" ({clean(restock.associate or '')} said it came in)" if named else " (it came in)"
            return f"In stock here since {since}{who}"
        return f"HQ: in stock here since {since}"
    assert answer is not None
    status = _STATUS.get(answer.status, clean(answer.status))
    if answer.status == "available":
        status = "available here" if answer.available_here else "available at other stores"
    parts = [f"HQ: {status}"]
    if answer.expected_on and answer.status == "planned":
        parts.append(f"expected {clean(answer.expected_on)}")
    if answer.note and clean(answer.note).strip():
        parts.append(" ".join(clean(answer.note).split()))
    return " · ".join(parts)


def store_words(figures: StoreFigures | None, today: date | None = None) -> str:
    """ "store: 12 this week / 40 in 30 days, as of 30 Nov 10:02" (every terminal, as HQ last counted); '' if none."""
    if figures is None:
        return ""
    return f"store: {figures.week} this week / {figures.month} in 30 days, as of {local_moment(figures.as_of, today)}"


def store_beside(figures: StoreFigures | None, *, week: bool) -> str:
    """ "store 12" for the period this terminal's count is for: beside "9 this week" (or "3 in 30 days")."""
    if figures is None:
        return ""
    return f"store {figures.week if week else figures.month}"


def about(line: str, number: int | None) -> str:
    """A line about the group in view: "HQ: planned" as it is, "HQ on 2: planned" when it is about row 2 of a list."""
    if number is None:
        return line[0].upper() + line[1:] if line else line
    head, said, rest = line.partition(": ")
    if said and head in ("HQ", "store"):
        return f"{head[0].upper()}{head[1:]} on {number}: {rest}"
    return f"On {number}: {line[0].lower()}{line[1:]}"


# -- "it came in" and follow-ups ------------------------------------------------------


def woken_words(woken: int) -> str:
    """How many follow-ups a restock made due: '2 follow-ups are due today: in stock now'."""
    if woken == 0:
        return "no open follow-up was waiting for it"
    if woken == 1:
        return f"1 follow-up is due today: {IN_STOCK_NOW}"
    return f"{woken} follow-ups are due today: {IN_STOCK_NOW}"


def came_in_words(text: str, woken: int, *, see: str = "F7") -> str:
    """What the counter says after "it came in" on a group named by one of its asks; `see` lists the follow-ups."""
    if not woken:  # the count first otherwise: a long ask must not push it off an 80-column line
        return f"In stock here, no follow-up waiting: {clean(text)}."
    return f"{woken_words(woken)} ({see}). In stock here: {clean(text)}."


def in_stock_now(item: FollowUp, today: str | None = None) -> bool:
    """A follow-up a restock made due, and due now: the customer can buy it today."""
    return bool(item.in_stock_at) and item.due_on <= (today or date.today().isoformat())
