"""How much evidence stands behind a demand group: the rank of HQ's report, digest and dashboard.

A group ranks by its score, one sentence long (SCORE_RULE): its effective asks, plus one for
each store, each day and each week it was asked on, plus one for each customer named. An ask
counts once, but the asks one terminal logs for a group in the same clock hour count as
1 + log2(n), rounded down (1, 2, 4, 8, 16 asks count 1, 2, 3, 4, 5; 30 count 5): a burst, a
scanner or an associate logging the same ask again is one event, while distinct stores, days,
weeks and customers are the independent sightings that make demand real. All of it is read
from roll-ups (rollups.py): demand_hours holds each terminal-hour's asks, demand_days their
weights summed per day (`effective`), demand_customers the customers named.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

SCORE_RULE = (
    "score = effective asks + stores + days + weeks + customers named, where the asks one terminal logs "
    "for a group in the same clock hour count as 1 + log2(n), rounded down (30 count 5)"
)
STRONG_STORES = 3  # a strong signal is asked at this many stores or more...
STRONG_WEEKS = 2  # ...or in this many weeks or more (the digest counts the last DIGEST_WEEKS weeks)
DIGEST_WEEKS = 4
_MOST_BITS = 40  # weight_sql's range: 2**40 asks in one terminal-hour is beyond any counter


def weight(asks: int) -> int:
    """What a terminal's `asks` for a group in one clock hour count: 1 + log2(asks) rounded down, 0 for none."""
    return asks.bit_length() if asks > 0 else 0


def weight_sql(column: str) -> str:
    """`weight` in the SQL both databases share (no logarithm needed, so it is exact and the same on both)."""
    steps = " ".join(f"WHEN {column} >= {2**bits} THEN {bits + 1}" for bits in range(_MOST_BITS, -1, -1))
    return f"CASE {steps} ELSE 0 END"


def week_sql(until: date, since: date) -> tuple[str, list[str]]:
    """SQL numbering a `day` column by its 7-day week counted back from `until` (0: the 7 days before it),
    for days from `since`; and its parameters (the weeks' first days)."""
    starts: list[str] = []
    first = until - timedelta(days=7)
    while first > since:
        starts.append(first.isoformat())
        first -= timedelta(days=7)
    steps = " ".join(f"WHEN day >= ? THEN {number}" for number in range(len(starts)))
    return (f"CASE {steps} ELSE {len(starts)} END" if starts else "0"), starts


def score_sql(effective: str, stores: str, days: str, weeks: str, customers: str) -> str:
    """SCORE_RULE in SQL, over the expressions of a group's figures."""
    return f"({effective} + {stores} + {days} + {weeks} + {customers})"


def strong(group: dict[str, Any]) -> bool:
    """Asked at several stores, or in several weeks: a signal rather than a one-off."""
    return bool(group["stores"] >= STRONG_STORES or group["weeks"] >= STRONG_WEEKS)


def why(group: dict[str, Any], *, weeks_of: int | None = None) -> str:
    """The figures behind a group's rank, in words: 'ranks 3rd, score 34: 8 stores, 11 days, 2 weeks,
    12 customers; 30 asks count as 5 (one terminal's repeats within an hour count less)'. `weeks_of`: the
    weeks looked at, when not the report's own period (the digest looks back DIGEST_WEEKS)."""
    weeks = f"{group['weeks']} of the last {weeks_of} weeks" if weeks_of else counted(group["weeks"], "week")
    figures = [counted(group["stores"], "store"), counted(group["days"], "day"), weeks]
    if group["customers"]:
        figures.append(counted(group["customers"], "customer"))
    asks = counted(group["asks"], "ask")
    if group["effective_asks"] < group["asks"]:
        asks += f" count as {group['effective_asks']} (one terminal's repeats within an hour count less)"
    return f"ranks {ordinal(group['rank'])}, score {group['score']}: {', '.join(figures)}; {asks}"


def ordinal(number: int) -> str:
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def counted(number: int, noun: str) -> str:
    """'1 store', '8 stores'."""
    return f"{number} {noun}{'' if number == 1 else 's'}"
