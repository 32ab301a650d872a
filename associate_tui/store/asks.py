"""Asks: saving, editing and voiding them, reading them back, full-text search and the export."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator

from associate_tui.asks import Ask, AskDraft, fold_spaces, guarded
from associate_tui.errors import AskNotFound, StaleEdit, StoreError
from associate_tui.ids import utc_now, uuid7
from associate_tui.store.connection import Connection
from associate_tui.store.customers import FollowUpPlan, insert_follow_up
from schemas.demand import group_key
from schemas.privacy import mask

ASK_COLUMNS = (
    "id, version, synced_version, created_at, updated_at, store_id, terminal_id, associate, "
    "channel, text, category, attributes, outcome, substitute, substitute_accepted, quantity, "
    "note, voided, void_reason, customer_id, same_as, rating"
)
# The columns a draft fills, in the order of _draft_values: shared by a save and an edit.
_DRAFT_COLUMNS = (
    "channel",
    "text",
    "category",
    "attributes",
    "outcome",
    "substitute",
    "substitute_accepted",
    "quantity",
    "note",
    "demand_key",
    "rating",
)
_TOKEN = re.compile(r"\w+", re.UNICODE)


def fts_query(text: str) -> str | None:
    """Turn what a person typed into an FTS5 query: every word, as a prefix.

    Only word characters survive, each one quoted, so no FTS5 syntax (quotes,
    NEAR, column filters, a lone '-') typed at the counter can cause an error.
    """
    words = _TOKEN.findall(text)
    if not words:
        return None
    # A one-letter prefix ("b*") matches a large share of all words and is the
    # one query the prefix index cannot answer fast; one letter matches a whole
    # word instead ("size m" finds size M), and prefixes start at two letters.
    return " ".join(f'"{word}"*' if len(word) > 1 else f'"{word}"' for word in words)


class AskRoom(Connection):
    """The asks table and its search index."""

    # -- writes -------------------------------------------------------------------

    def add_ask(
        self,
        draft: AskDraft,
        *,
        store_id: str,
        terminal_id: str,
        associate: str,
        customer_id: str | None = None,
        follow_up: FollowUpPlan | None = None,
        same_as: str | None = None,
    ) -> Ask:
        """Save a new ask (version 1, not yet synced), with its follow-up if any, in one commit.

        The draft must already be checked (`asks.checked`): the store keeps
        its data consistent but does not know the taxonomy. Free text passes
        the privacy guard here, whatever screen or command it came from.
        """
        if follow_up is not None and not customer_id:
            raise StoreError("A follow-up needs a customer to contact: attach one first (F5).")
        draft = guarded(draft)
        now = utc_now()
        ask_id = uuid7()
        columns = (
            "id",
            "created_at",
            "updated_at",
            "store_id",
            "terminal_id",
            "associate",
            "customer_id",
            "same_as",
            *_DRAFT_COLUMNS,
        )
        values = (ask_id, now, now, store_id, terminal_id, associate, customer_id, same_as, *self._draft_values(draft))
        with self._write("save the ask") as conn:
            conn.execute(f"INSERT INTO asks ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", values)
            if customer_id:
                conn.execute("UPDATE customers SET last_activity_at = ? WHERE id = ?", (now, customer_id))
            if follow_up is not None and customer_id:
                insert_follow_up(
                    conn,
                    ask_id,
                    customer_id,
                    follow_up,
                    store_id=store_id,
                    terminal_id=terminal_id,
                    associate=associate,
                    now=now,
                )
            return read_ask(conn, ask_id)

    def edit_ask(self, ask_id: str, draft: AskDraft, *, expected_version: int | None = None) -> Ask:
        """Replace the editable fields of an ask and bump its version.

        With `expected_version`, refuse (StaleEdit) if someone changed the ask
        since it was opened, rather than silently overwrite their change.
        """
        draft = guarded(draft)
        assignments = ", ".join(f"{column} = ?" for column in _DRAFT_COLUMNS)
        with self._write("save the change") as conn:
            _check_editable(read_ask(conn, ask_id), expected_version)
            conn.execute(
                f"UPDATE asks SET version = version + 1, updated_at = ?, {assignments} WHERE id = ?",
                (utc_now(), *self._draft_values(draft), ask_id),
            )
            return read_ask(conn, ask_id)

    def void_ask(self, ask_id: str, reason: str, *, expected_version: int | None = None) -> Ask:
        """Mark an ask void with a reason. It stays in the file and is synced as a new version."""
        with self._write("void the ask") as conn:
            _check_editable(read_ask(conn, ask_id), expected_version)
            conn.execute(
                "UPDATE asks SET version = version + 1, updated_at = ?, voided = 1, void_reason = ? WHERE id = ?",
                (utc_now(), mask(fold_spaces(reason) or "").text, ask_id),
            )
            return read_ask(conn, ask_id)

    def _draft_values(self, draft: AskDraft) -> tuple[object, ...]:
        """A draft's fields as the columns of _DRAFT_COLUMNS hold them."""
        return (
            draft.channel,
            draft.text,
            draft.category,
            json.dumps(draft.attributes, ensure_ascii=False, sort_keys=True),
            draft.outcome,
            draft.substitute,
            None if draft.substitute_accepted is None else int(draft.substitute_accepted),
            draft.quantity,
            draft.note,
            group_key(draft.category, draft.attributes, draft.text, draft.outcome, self.vocabulary),
            draft.rating,
        )

    def tidy(self, merge_pages: int = 200) -> None:
        """Housekeeping to run after a save has been reported, never before.

        A bounded step of search-index merging, then a passive WAL checkpoint
        (which never waits for readers or writers).
        """
        with self._write("tidy the search index") as conn:
            conn.execute("INSERT INTO asks_fts (asks_fts, rank) VALUES ('merge', ?)", (merge_pages,))
        self._checkpoint("PASSIVE", "checkpoint the database")

    # -- reads --------------------------------------------------------------------

    def get_ask(self, ask_id: str) -> Ask:
        with self._read("read the ask") as conn:
            return read_ask(conn, ask_id)

    def recent_asks(self, *, query: str = "", outcome: str | None = None, limit: int = 50) -> list[Ask]:
        """Newest first; `query` is full-text over what was asked, its attributes, substitutes and notes."""
        match = fts_query(query)
        params: list[object] = []
        if match:
            sql = f"SELECT {_prefixed('a')} FROM asks_fts f JOIN asks a ON a.seq = f.rowid WHERE asks_fts MATCH ?"
            params.append(match)
            order = "f.rowid"
        else:
            sql = f"SELECT {ASK_COLUMNS} FROM asks a WHERE 1"
            order = "a.seq"
        if outcome:
            sql += " AND a.outcome = ?"
            params.append(outcome)
        sql += f" ORDER BY {order} DESC LIMIT ?"
        params.append(limit)
        with self._read("search the asks") as conn:
            return [ask_from_row(row) for row in conn.execute(sql, params)]

    def count_asks(self) -> int:
        with self._read("count the asks") as conn:
            return conn.execute("SELECT count(*) FROM asks").fetchone()[0]

    def iter_asks(self, *, since: str | None = None, batch: int = 1000) -> Iterator[Ask]:
        """Every ask, oldest first, in pages so a million rows never sit in memory."""
        last = 0
        sql = f"SELECT seq, {ASK_COLUMNS} FROM asks WHERE seq > ?"
        if since:
            sql += " AND created_at >= ?"
        sql += " ORDER BY seq LIMIT ?"
        while True:
            params = (last, since, batch) if since else (last, batch)
            with self._read("export the asks") as conn:
                rows = conn.execute(sql, params).fetchall()
            if not rows:
                return
            for row in rows:
                yield ask_from_row(row[1:])
            last = rows[-1][0]


def _check_editable(current: Ask, expected_version: int | None) -> None:
    if current.voided:
        raise StaleEdit(f"This ask was voided ({current.void_reason}); it can no longer be changed.")
    if expected_version is not None and current.version != expected_version:
        raise StaleEdit(
            f"This ask was changed elsewhere since you opened it (now version {current.version}). "
            "Close it and open it again to see the latest."
        )


def read_ask(conn: sqlite3.Connection, ask_id: str) -> Ask:
    row = conn.execute(f"SELECT {ASK_COLUMNS} FROM asks WHERE id = ?", (ask_id,)).fetchone()
    if row is None:
        raise AskNotFound(f"No ask with id {ask_id} on this terminal.")
    return ask_from_row(row)


def ask_at(conn: sqlite3.Connection, seq: int) -> Ask:
    """The ask numbered `seq` (the order asks were logged in)."""
    return ask_from_row(conn.execute(f"SELECT {ASK_COLUMNS} FROM asks WHERE seq = ?", (seq,)).fetchone())


def _prefixed(alias: str) -> str:
    return ", ".join(f"{alias}.{name.strip()}" for name in ASK_COLUMNS.split(","))


def ask_from_row(row: tuple) -> Ask:
    """An Ask from the columns of ASK_COLUMNS, in that order."""
    (
        ask_id,
        version,
        synced,
        created,
        updated,
        store_id,
        terminal_id,
        associate,
        channel,
        text,
        category,
        attributes,
        outcome,
        substitute,
        accepted,
        quantity,
        note,
        voided,
        void_reason,
        customer_id,
        same_as,
        rating,
    ) = row
    return Ask(
        id=ask_id,
        version=version,
        synced_version=synced,
        created_at=created,
        updated_at=updated,
        store_id=store_id,
        terminal_id=terminal_id,
        associate=associate,
        channel=channel,
        text=text,
        category=category,
        attributes=json.loads(attributes),
        outcome=outcome,
        substitute=substitute,
        substitute_accepted=None if accepted is None else bool(accepted),
        quantity=quantity,
        note=note,
        voided=bool(voided),
        void_reason=void_reason,
        customer_id=customer_id,
        same_as=same_as,
        rating=rating,
    )
