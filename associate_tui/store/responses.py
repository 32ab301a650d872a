"""HQ's answers at the counter: group statuses, the store's own figures, restocks that wake follow-ups.

The sync pulls HQ's responses page by page after a cursor (`apply_responses`) and the
store's demand as every terminal logged it (`apply_store_demand`); both are kept here so
the counter has them offline. A group that becomes available at this store, from HQ or
marked at the counter ("it came in"), makes every open follow-up for an ask in that group
due today, marked in stock (`in_stock_at`, which travels to HQ with the follow-up).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from associate_tui.store.connection import Connection
from schemas.times import utc_now

RESPONSES_CURSOR = "responses_cursor"
STORE_DEMAND_AS_OF = "store_demand_as_of"
_KEYS_PER_READ = 500


class PulledResponse(Protocol):
    """What the store needs of one of HQ's answers (schemas.records.GroupResponse)."""

    demand_key: str
    seq: int
    status: str
    expected_on: str | None
    note: str | None
    available_here: bool
    changed_at: str


class PulledCount(Protocol):
    """One group's unmet asks at the store (schemas.records.StoreGroupCount)."""

    demand_key: str
    week: int
    month: int


@dataclass(frozen=True)
class HQAnswer:
    """HQ's answer about a demand group as last pulled."""

    demand_key: str
    status: str  # reviewing, planned, available, declined
    expected_on: str | None
    note: str | None
    available_here: bool
    changed_at: str
    pulled_at: str


@dataclass(frozen=True)
class StoreFigures:
    """A group's unmet asks at the whole store (every terminal), as of HQ's last count."""

    week: int
    month: int
    as_of: str  # UTC


@dataclass(frozen=True)
class Restock:
    """A group back in stock here."""

    demand_key: str
    at: str  # UTC
    source: str  # 'hq' or 'store'
    associate: str | None


class ResponseRoom(Connection):
    """HQ's answers and restocks, kept in the terminal's file."""

    def responses_cursor(self) -> int:
        """The last HQ change applied here (0: none yet)."""
        with self._read("read the sync state") as conn:
            row = conn.execute("SELECT value FROM sync_state WHERE key = ?", (RESPONSES_CURSOR,)).fetchone()
        return int(row[0]) if row and row[0] else 0

    def apply_responses(self, responses: Sequence[PulledResponse], *, after: int, cursor: int) -> int:
        """Apply one page of HQ's answers pulled after `after`, and move the cursor to `cursor`: the follow-ups woken.

        One transaction, applied once: a page whose `after` is not the stored cursor (another
        process applied it first) changes nothing, and an answer older than the one kept is skipped.
        """
        now, woken = utc_now(), 0
        with self._write("save HQ's answers") as conn:
            if _cursor(conn) != after:
                return 0
            for response in responses:
                kept = conn.execute(
                    "SELECT seq, available_here FROM hq_responses WHERE demand_key = ?", (response.demand_key,)
                ).fetchone()
                if kept and kept[0] >= response.seq:
                    continue
                conn.execute(
                    "INSERT OR REPLACE INTO hq_responses VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        response.demand_key,
                        response.seq,
                        response.status,
                        response.expected_on,
                        response.note,
                        int(response.available_here),
                        response.changed_at,
                        now,
                    ),
                )
                was_here = bool(kept and kept[1])
                if response.available_here and not was_here:
                    woken += _restock(conn, response.demand_key, now, source="hq", associate=None)
                elif not response.available_here:
                    conn.execute("DELETE FROM restocks WHERE demand_key = ? AND source = 'hq'", (response.demand_key,))
            conn.execute(
                "INSERT OR REPLACE INTO sync_state (key, value) VALUES (?, ?)", (RESPONSES_CURSOR, str(max(cursor, after)))
            )
        return woken

    def apply_store_demand(self, groups: Iterable[PulledCount], *, as_of: str) -> None:
        """Replace the store's figures with HQ's count as of `as_of` (UTC)."""
        rows = [(group.demand_key, group.week, group.month) for group in groups]
        with self._write("save the store's figures") as conn:
            conn.execute("DELETE FROM store_demand")
            conn.executemany("INSERT OR REPLACE INTO store_demand VALUES (?, ?, ?)", rows)
            conn.execute("INSERT OR REPLACE INTO sync_state (key, value) VALUES (?, ?)", (STORE_DEMAND_AS_OF, as_of))

    def hq_answers(self, keys: Sequence[str]) -> dict[str, HQAnswer]:
        """HQ's last pulled answers about those of these groups it has answered."""
        select = "SELECT demand_key, status, expected_on, note, available_here, changed_at, pulled_at FROM hq_responses"
        with self._read("read HQ's answers") as conn:
            return {
                key: HQAnswer(key, status, expected, note, bool(here), changed, pulled)
                for key, status, expected, note, here, changed, pulled in _keyed_rows(conn, select, keys)
            }

    def hq_answer(self, key: str) -> HQAnswer | None:
        return self.hq_answers([key]).get(key)

    def store_figures(self, keys: Sequence[str]) -> dict[str, StoreFigures]:
        """The store's unmet asks for those of these groups HQ counted (none before the first pull)."""
        with self._read("read the store's figures") as conn:
            row = conn.execute("SELECT value FROM sync_state WHERE key = ?", (STORE_DEMAND_AS_OF,)).fetchone()
            if not row or not row[0]:
                return {}
            select = "SELECT demand_key, week, month FROM store_demand"
            return {key: StoreFigures(week, month, row[0]) for key, week, month in _keyed_rows(conn, select, keys)}

    def store_demand_as_of(self) -> str | None:
        """When HQ last counted the store's demand (UTC), or None before the first pull."""
        with self._read("read the sync state") as conn:
            row = conn.execute("SELECT value FROM sync_state WHERE key = ?", (STORE_DEMAND_AS_OF,)).fetchone()
        return row[0] if row and row[0] else None

    def restocks(self, keys: Sequence[str]) -> dict[str, Restock]:
        """Which of these groups are back in stock here, and since when."""
        with self._read("read the restocks") as conn:
            select = "SELECT demand_key, at, source, associate FROM restocks"
            return {key: Restock(key, at, source, associate) for key, at, source, associate in _keyed_rows(conn, select, keys)}

    def forget_hq_answers(self) -> None:
        """Drop what another HQ (or another store) answered, so the next pull starts from its first change.

        Enrolling with another HQ or store calls this: that HQ's change numbers are its own.
        Restocks and the follow-ups they woke stay.
        """
        with self._write("forget HQ's answers") as conn:
            conn.execute("DELETE FROM hq_responses")
            conn.execute("DELETE FROM store_demand")
            conn.execute("DELETE FROM sync_state WHERE key IN (?, ?)", (RESPONSES_CURSOR, STORE_DEMAND_AS_OF))

    def mark_came_in(self, key: str, *, associate: str) -> int:
        """The associate says the group came in: its open follow-ups here become due today; how many."""
        with self._write("mark it as in stock") as conn:
            return _restock(conn, key, utc_now(), source="store", associate=associate)


def _keyed_rows(conn: sqlite3.Connection, select: str, keys: Sequence[str]) -> Iterator[tuple]:
    """The rows of `select` (a SELECT ... FROM table) for these demand keys, read in parts under SQLite's parameter limit."""
    wanted = list(dict.fromkeys(keys))
    for start in range(0, len(wanted), _KEYS_PER_READ):
        part = wanted[start : start + _KEYS_PER_READ]
        yield from conn.execute(f"{select} WHERE demand_key IN ({', '.join('?' * len(part))})", part)


def _cursor(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM sync_state WHERE key = ?", (RESPONSES_CURSOR,)).fetchone()
    return int(row[0]) if row and row[0] else 0


def _restock(conn: sqlite3.Connection, key: str, now: str, *, source: str, associate: str | None) -> int:
    """Record the restock and wake the group's open follow-ups not woken before; how many were woken."""
    conn.execute("INSERT OR REPLACE INTO restocks VALUES (?, ?, ?, ?)", (key, now, source, associate))
    return conn.execute(
        "UPDATE follow_ups SET version = version + 1, updated_at = ?, due_on = ?, in_stock_at = ? "
        "WHERE status = 'open' AND in_stock_at IS NULL AND ask_id IN (SELECT id FROM asks WHERE demand_key = ? AND voided = 0)",
        (now, date.today().isoformat(), now, key),
    ).rowcount
