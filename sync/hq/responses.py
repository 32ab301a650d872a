"""What HQ answers about a demand group: its status, a response a store may read to a customer, and who set them.

A group with no row is `new`. Each change is one numbered row of `demand_response_history`
(`seq`, one sequence for every group, which a terminal's pull can follow as a cursor) and
the group's current state in `demand_responses`. The rules for a change are here, not in
the command line, so every way of making one (CLI, a dashboard form) refuses the same things.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from schemas.limits import MAX_RESPONSE_NOTE
from schemas.text import clean, unsafe_character
from schemas.times import utc_now
from sync.hq.database import Connection, Database
from sync.hq.fold import catch_up

STATUSES = ("new", "reviewing", "planned", "available", "declined")
NOTE_CHARS = MAX_RESPONSE_NOTE  # a response is read out at the counter: a sentence, not a letter
BY_CHARS = 64
_COLUMNS = ("demand_key", "seq", "status", "expected_on", "note", "stores", "changed_by", "changed_at")
_KEYS_PER_READ = 500  # under SQLite's bound parameters per statement


class ResponseError(ValueError):
    """A change HQ will not record; the message says what to give instead."""


@dataclass(frozen=True)
class Response:
    """A group's status as set at one moment; `stores` empty means chain-wide (for `available`)."""

    demand_key: str
    seq: int
    status: str
    expected_on: str | None
    note: str | None
    stores: tuple[str, ...]
    changed_by: str
    changed_at: str

    def fields(self) -> dict[str, object]:
        """The response as JSON-ready fields (no key, no sequence)."""
        return {
            "status": self.status,
            "expected_on": self.expected_on,
            "note": self.note,
            "available_at": list(self.stores) if self.status == "available" else None,
            "changed_by": self.changed_by,
            "changed_at": self.changed_at,
        }


def checked_note(note: str | None, *, required: bool = False, what: str = "--note") -> str | None:
    """A response's words, trimmed; refused when empty (if required), too long or holding a control character."""
    text = (note or "").strip()
    if not text:
        if required:
            raise ResponseError(f"{what} is empty: give the words a store may read to a customer")
        return None
    bad = unsafe_character(text)
    if bad:
        raise ResponseError(f"{what} holds a control character ({bad}); write it on one line, as plain text")
    if len(text) > NOTE_CHARS:
        raise ResponseError(f"{what} is {len(text)} characters; keep it to {NOTE_CHARS}, a sentence read at the counter")
    return text


def checked_by(name: str) -> str:
    """Who made a change: 1 to 64 characters, no control character."""
    text = name.strip()
    if not text or len(text) > BY_CHARS or unsafe_character(text):
        raise ResponseError(f"--by '{text[:BY_CHARS]}' must be 1 to {BY_CHARS} characters of plain text, e.g. --by j.smith")
    return text


def checked_expected(expected: str | None, status: str, today: date | None = None) -> str | None:
    """The date a planned group is expected (YYYY-MM-DD, not in the past); only planned groups have one."""
    if status != "planned":
        if expected:
            raise ResponseError(f"--expected is for --status planned, not {status}; leave it out")
        return None
    if not expected:
        raise ResponseError("--status planned needs --expected YYYY-MM-DD, the day the stores may expect it")
    try:
        day = date.fromisoformat(expected)
    except ValueError:
        raise ResponseError(f"--expected '{expected}' is not a date; write it as YYYY-MM-DD, e.g. 2027-03-01") from None
    if day < (today or date.today()):
        raise ResponseError(f"--expected {expected} is in the past; give the day the stores may expect it")
    return day.isoformat()


class Responses:
    """Demand groups' statuses and their history."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def known_group(self, demand_key: str) -> bool:
        """Whether any ask HQ holds (voided or not) belongs to this group."""
        with self.db.read() as conn:
            return conn.execute("SELECT 1 FROM asks WHERE demand_key = ? LIMIT 1", (demand_key,)).fetchone() is not None

    def known_stores(self) -> set[str]:
        """Every store HQ has given a terminal token or received an ask from."""
        catch_up(self.db)  # the asks waiting to be folded count too
        with self.db.read() as conn:
            rows = conn.execute("SELECT store_id FROM terminals UNION SELECT DISTINCT store_id FROM demand_days", ()).fetchall()
        return {store for (store,) in rows}

    def checked_stores(self, stores: Sequence[str], *, what: str = "--store") -> list[str]:
        """Stores named for `available`: each a store id HQ knows, else ResponseError saying which."""
        for store in stores:
            if not valid_store(store):
                raise ResponseError(f"{what} '{clean(store)[:40]}' must be 1 to 32 letters, digits, '.', '_' or '-', e.g. BR-042")
        unknown = sorted(set(stores) - self.known_stores())
        if unknown:
            raise ResponseError(f"HQ knows no store {', '.join(unknown)} (see associate-hq terminal list); nothing changed")
        return list(stores)

    def set_status(
        self,
        demand_key: str,
        status: str,
        *,
        by: str,
        expected_on: str | None = None,
        note: str | None = None,
        stores: Sequence[str] = (),
    ) -> Response | None:
        """Record a change of a group's status; the new state, or None when it is already exactly that.

        Marking a group available at some stores adds them to the stores it is already available at;
        available with no store is chain-wide.
        """
        if status not in STATUSES[1:]:
            raise ResponseError(f"status '{status}' is not one of {', '.join(STATUSES[1:])}")
        with self.db.write(("demand_responses",)) as conn:
            current = _current(conn, demand_key)
            wanted = tuple(sorted(set(stores)))
            if status == "available" and wanted and current and current.status == "available" and current.stores:
                wanted = tuple(sorted(set(current.stores) | set(wanted)))
            if current and (current.status, current.expected_on, current.note, current.stores) == (
                status,
                expected_on,
                note,
                wanted,
            ):
                return None
            seq = conn.execute("SELECT coalesce(max(seq), 0) + 1 FROM demand_response_history", ()).fetchone()[0]
            change = Response(demand_key, seq, status, expected_on, note, wanted, by, utc_now())
            row = _row(change)
            conn.execute(f"INSERT INTO demand_response_history ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(row))})", row)
            conn.execute("DELETE FROM demand_responses WHERE demand_key = ?", (demand_key,))
            conn.execute(f"INSERT INTO demand_responses ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(row))})", row)
        return change

    def current(self, demand_keys: Sequence[str]) -> dict[str, Response]:
        """The current state of those of these groups that have one (the others are `new`)."""
        found: dict[str, Response] = {}
        keys = list(dict.fromkeys(demand_keys))
        with self.db.read() as conn:
            for start in range(0, len(keys), _KEYS_PER_READ):
                part = keys[start : start + _KEYS_PER_READ]
                sql = f"SELECT {', '.join(_COLUMNS)} FROM demand_responses WHERE demand_key IN ({', '.join('?' * len(part))})"
                for row in conn.execute(sql, part).fetchall():
                    found[row[0]] = _response(row)
        return found

    def history(self, demand_key: str) -> list[Response]:
        """Every change of a group's status, oldest first."""
        with self.db.read() as conn:
            rows = conn.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM demand_response_history WHERE demand_key = ? ORDER BY seq", (demand_key,)
            ).fetchall()
        return [_response(row) for row in rows]

    def store_asks(
        self, demand_keys: Sequence[str], *, since: str, until: str, unmet: Sequence[str]
    ) -> dict[str, dict[str, int]]:
        """Unmet asks per store for each group, from day `since` to day `until` (YYYY-MM-DD, end excluded)."""
        catch_up(self.db)  # the asks waiting to be folded count too
        counts: dict[str, dict[str, int]] = {}
        keys = list(dict.fromkeys(demand_keys))
        outcomes = ", ".join("?" * len(unmet)) or "NULL"
        with self.db.read() as conn:
            for start in range(0, len(keys), _KEYS_PER_READ):
                part = keys[start : start + _KEYS_PER_READ]
                sql = (
                    "SELECT demand_key, store_id, sum(asks) FROM demand_days WHERE day >= ? AND day < ? "
                    f"AND outcome IN ({outcomes}) AND demand_key IN ({', '.join('?' * len(part))}) "
                    "GROUP BY demand_key, store_id HAVING sum(asks) > 0 ORDER BY demand_key, store_id"
                )
                for key, store, asks in conn.execute(sql, [since, until, *unmet, *part]).fetchall():
                    counts.setdefault(key, {})[store] = int(asks)
        return counts


REGROUPED_BY = "taxonomy regroup"


def carry_over(conn: Connection, moves: set[tuple[str, str]]) -> int:
    """After a new taxonomy moved asks from group `old` to `new` (the pairs): each new group without an
    answer of its own takes its old group's (the newest, if several old groups merged), as a change of
    its own in the history (so terminals pull it); how many groups took one.
    """
    taken = 0
    for new in sorted({new for _, new in moves}):
        if _current(conn, new) is not None:
            continue
        answers = [answer for old, target in moves if target == new and (answer := _current(conn, old)) is not None]
        if not answers:
            continue
        latest = max(answers, key=lambda answer: answer.seq)
        seq = conn.execute("SELECT coalesce(max(seq), 0) + 1 FROM demand_response_history", ()).fetchone()[0]
        change = Response(new, seq, latest.status, latest.expected_on, latest.note, latest.stores, REGROUPED_BY, utc_now())
        row = _row(change)
        for table in ("demand_response_history", "demand_responses"):
            conn.execute(f"INSERT INTO {table} ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(row))})", row)
        taken += 1
    return taken


def _current(conn: Connection, demand_key: str) -> Response | None:
    row = conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM demand_responses WHERE demand_key = ?", (demand_key,)).fetchone()
    return _response(row) if row else None


def _row(change: Response) -> tuple[object, ...]:
    stores = json.dumps(list(change.stores)) if change.stores else None
    return (
        change.demand_key,
        change.seq,
        change.status,
        change.expected_on,
        change.note,
        stores,
        change.changed_by,
        change.changed_at,
    )


def _response(row: Sequence[object]) -> Response:
    key, seq, status, expected_on, note, stores, by, at = row
    return Response(
        str(key),
        int(seq),  # type: ignore[call-overload]
        str(status),
        None if expected_on is None else str(expected_on),
        None if note is None else str(note),
        tuple(json.loads(str(stores))) if stores else (),
        str(by),
        str(at),
    )


def valid_store(value: str) -> bool:
    """A store id as terminals are given them: 1 to 32 letters, digits, '.', '_' or '-'."""
    return re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}", value) is not None
