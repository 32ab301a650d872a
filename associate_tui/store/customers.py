"""Customers, their follow-ups, and erasure: the personal data on the terminal and its removal.

Contact details are kept only with a recorded consent (a CHECK in the schema says so).
An erasure removes the customer's row for good, leaves their asks as anonymous demand,
and leaves a tombstone in `erasures` for HQ.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from associate_tui.asks import in_lines
from associate_tui.customers import Customer, CustomerDraft, FollowUp, Preferences, guarded
from associate_tui.errors import CustomerNotFound, FollowUpNotFound, StaleEdit, StoreError
from associate_tui.ids import format_utc, utc_now, uuid7
from associate_tui.store.connection import Connection
from schemas.privacy import mask

CUSTOMER_COLUMNS = (
    "id, version, created_at, updated_at, store_id, terminal_id, associate, name, phone, email, "
    "customer_number, consent_follow_up, consent_marketing, consent_at, consent_wording, preferences, last_activity_at"
)
_FOLLOW_UP_VIEW = (
    "f.id, f.version, f.ask_id, f.customer_id, f.associate, f.assigned_to, f.due_on, f.status, f.result, "
    "f.done_at, f.note, a.text, c.name, nullif(trim(coalesce(c.phone, '') || ' / ' || coalesce(c.email, ''), ' /'), ''), "
    "json_extract(c.preferences, '$.contact_channel') || coalesce(', ' || json_extract(c.preferences, '$.contact_time'), ''), "
    "f.in_stock_at"
)
_FOLLOW_UP_FROM = "FROM follow_ups f JOIN asks a ON a.id = f.ask_id LEFT JOIN customers c ON c.id = f.customer_id"


@dataclass(frozen=True)
class FollowUpPlan:
    """ "Contact me when it comes in", decided on the capture form."""

    due_on: str
    assigned_to: str | None
    note: str | None = None


class CustomerRoom(Connection):
    """Customers (with consent), follow-ups, erasure and retention."""

    # -- customers ----------------------------------------------------------------

    def add_customer(
        self, draft: CustomerDraft, *, store_id: str, terminal_id: str, associate: str, consent_wording: str
    ) -> Customer:
        """Save a checked customer (`customers.checked`); consent is dated now, with its wording version."""
        draft = guarded(draft)
        now = utc_now()
        customer_id = uuid7()
        consented = draft.consent_follow_up or draft.consent_marketing
        with self._write("save the customer") as conn:
            conn.execute(
                f"INSERT INTO customers ({CUSTOMER_COLUMNS}) VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    customer_id,
                    now,
                    now,
                    store_id,
                    terminal_id,
                    associate,
                    draft.name,
                    draft.phone,
                    draft.email,
                    draft.customer_number,
                    int(draft.consent_follow_up),
                    int(draft.consent_marketing),
                    now if consented else None,
                    consent_wording if consented else None,
                    _preferences_json(draft.preferences),
                    now,
                ),
            )
            return read_customer(conn, customer_id)

    def edit_customer(
        self, customer_id: str, draft: CustomerDraft, *, consent_wording: str, expected_version: int | None = None
    ) -> Customer:
        """Change a customer's details, consent or preferences (a new version for HQ).

        A consent given or widened is dated now; with no consent left, phone and
        email must already be empty (`customers.checked` says so).
        """
        draft = guarded(draft)
        now = utc_now()
        with self._write("save the customer") as conn:
            current = read_customer(conn, customer_id)
            if expected_version is not None and current.version != expected_version:
                raise StaleEdit("This customer was changed elsewhere since you opened them; open them again.")
            consent_at, wording = _consent(current, draft, now, consent_wording)
            conn.execute(
                "UPDATE customers SET version = version + 1, updated_at = ?, name = ?, phone = ?, email = ?, "
                "customer_number = ?, consent_follow_up = ?, consent_marketing = ?, consent_at = ?, "
                "consent_wording = ?, preferences = ?, last_activity_at = ? WHERE id = ?",
                (
                    now,
                    draft.name,
                    draft.phone,
                    draft.email,
                    draft.customer_number,
                    int(draft.consent_follow_up),
                    int(draft.consent_marketing),
                    consent_at,
                    wording,
                    _preferences_json(draft.preferences),
                    now,
                    customer_id,
                ),
            )
            return read_customer(conn, customer_id)

    def get_customer(self, customer_id: str) -> Customer:
        with self._read("read the customer") as conn:
            return read_customer(conn, customer_id)

    def find_customers(self, query: str = "", *, limit: int = 20) -> list[Customer]:
        """Customers whose name, phone, email or customer number matches what was typed; recent first.

        Phone numbers match on their digits, however they were written. A terminal
        holds hundreds or a few thousand customers, so a scan is fast enough.
        """
        sql = f"SELECT {CUSTOMER_COLUMNS}, synced_version FROM customers WHERE 1"
        params: list[object] = []
        for word in query.split():
            digits = "".join(char for char in word if char.isdigit())
            clause = "(name LIKE ? ESCAPE '\\' OR email LIKE ? ESCAPE '\\' OR customer_number LIKE ? ESCAPE '\\'"
            like = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            params += [like, like, like]
            if len(digits) >= 3:
                clause += " OR digits_only(phone) LIKE ?"
                params.append(f"%{digits}%")
            sql += f" AND {clause})"
        sql += " ORDER BY last_activity_at DESC LIMIT ?"
        params.append(limit)
        with self._read("search the customers") as conn:
            return [_customer(row) for row in conn.execute(sql, params)]

    def count_customers(self) -> int:
        with self._read("count the customers") as conn:
            return conn.execute("SELECT count(*) FROM customers").fetchone()[0]

    # -- erasure and retention ----------------------------------------------------

    def erase_customer(self, customer_id: str, *, reason: str = "consent_withdrawn") -> None:
        """Withdrawn consent: remove the customer's details from this terminal, for good.

        In one transaction: an erasure record for HQ, their follow-ups cancelled and
        unlinked (a new version each, so HQ learns it too), their asks unlinked and
        kept as anonymous demand, the customer row deleted. secure_delete zeroes the
        freed bytes; a checkpoint then moves the WAL into the file and truncates it,
        so no copy of their details is left in either.
        """
        with self._write("erase the customer") as conn:
            _erase(conn, [customer_id], reason)
            conn.execute(
                "INSERT INTO privacy_log (at, action, count, detail) VALUES (?, 'erase', 1, ?)",
                (utc_now(), f"customer erased: {reason.replace('_', ' ')}"),
            )
        self._truncate_wal()

    def purge_expired_customers(self, *, days: int, now: datetime | None = None) -> int:
        """Erase customers with no open follow-up and no activity for `days` days; how many.

        The purge is logged with a count only, never who.
        """
        cutoff = format_utc((now or datetime.now(timezone.utc)) - timedelta(days=days))
        with self._write("purge old customer details") as conn:
            ids = [
                row[0]
                for row in conn.execute(
                    "SELECT id FROM customers c WHERE last_activity_at < ? AND NOT EXISTS "
                    "(SELECT 1 FROM follow_ups f WHERE f.customer_id = c.id AND f.status = 'open')",
                    (cutoff,),
                )
            ]
            if not ids:
                return 0
            _erase(conn, ids, "retention")
            conn.execute(
                "INSERT INTO privacy_log (at, action, count, detail) VALUES (?, 'retention', ?, ?)",
                (utc_now(), len(ids), f"customers with no activity for {days} days and no open follow-up erased"),
            )
        self._truncate_wal()
        return len(ids)

    def _truncate_wal(self) -> None:
        try:
            self._checkpoint("TRUNCATE", "clean up the database file")
        except StoreError:
            pass  # a reader held the WAL: the next checkpoint overwrites it; secure_delete already zeroed the file

    def privacy_log(self, limit: int = 50) -> list[tuple[str, str, int, str]]:
        with self._read("read the privacy log") as conn:
            return conn.execute(
                "SELECT at, action, count, detail FROM privacy_log ORDER BY seq DESC LIMIT ?", (limit,)
            ).fetchall()

    # -- follow-ups ---------------------------------------------------------------

    def follow_ups(
        self, *, due_by: str | None = None, associate: str | None = None, status: str = "open", limit: int = 200
    ) -> list[FollowUp]:
        """Follow-ups, soonest due first: open ones due by `due_by` (a day), for `associate` or anyone."""
        sql = f"SELECT {_FOLLOW_UP_VIEW} {_FOLLOW_UP_FROM} WHERE f.status = ?"
        params: list[object] = [status]
        if due_by:
            sql += " AND f.due_on <= ?"
            params.append(due_by)
        if associate:
            sql += " AND (f.assigned_to IS NULL OR f.assigned_to = ?)"
            params.append(associate)
        # Woken by a restock and due: first, since the customer can buy it now.
        sql += " ORDER BY f.in_stock_at IS NULL OR f.due_on > date('now', 'localtime'), f.due_on, f.seq LIMIT ?"
        params.append(limit)
        with self._read("read the follow-ups") as conn:
            return [FollowUp(*row) for row in conn.execute(sql, params)]

    def get_follow_up(self, follow_up_id: str) -> FollowUp:
        with self._read("read the follow-up") as conn:
            return read_follow_up(conn, follow_up_id)

    def complete_follow_up(
        self,
        follow_up_id: str,
        *,
        result: str,
        associate: str,
        note: str | None = None,
        expected_version: int | None = None,
    ) -> FollowUp:
        """Mark a follow-up done with what came of it (a new version for HQ)."""
        now = utc_now()
        with self._write("save the follow-up") as conn:
            current = read_follow_up(conn, follow_up_id)
            _check_follow_up(current, expected_version)
            conn.execute(
                "UPDATE follow_ups SET version = version + 1, updated_at = ?, status = 'done', result = ?, "
                "done_at = ?, done_by = ?, note = coalesce(?, note) WHERE id = ?",
                (now, result, now, associate, _masked_note(note), follow_up_id),
            )
            if current.customer_id:
                conn.execute("UPDATE customers SET last_activity_at = ? WHERE id = ?", (now, current.customer_id))
            return read_follow_up(conn, follow_up_id)

    def snooze_follow_up(self, follow_up_id: str, *, until: str, expected_version: int | None = None) -> FollowUp:
        """Move an open follow-up's due day (a new version for HQ)."""
        with self._write("snooze the follow-up") as conn:
            _check_follow_up(read_follow_up(conn, follow_up_id), expected_version)
            conn.execute(
                "UPDATE follow_ups SET version = version + 1, updated_at = ?, due_on = ? WHERE id = ?",
                (utc_now(), until, follow_up_id),
            )
            return read_follow_up(conn, follow_up_id)


def insert_follow_up(
    conn: sqlite3.Connection,
    ask_id: str,
    customer_id: str,
    plan: FollowUpPlan,
    *,
    store_id: str,
    terminal_id: str,
    associate: str,
    now: str,
) -> str:
    """A follow-up for an ask being saved in the same transaction; refused without the customer's consent."""
    consent = conn.execute("SELECT consent_follow_up FROM customers WHERE id = ?", (customer_id,)).fetchone()
    if not consent or not consent[0]:
        raise StoreError(
            "This customer has not agreed to be contacted about their ask: record their consent first (F5, then edit)."
        )
    follow_up_id = uuid7()
    conn.execute(
        "INSERT INTO follow_ups (id, created_at, updated_at, store_id, terminal_id, associate, ask_id, "
        "customer_id, assigned_to, due_on, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            follow_up_id,
            now,
            now,
            store_id,
            terminal_id,
            associate,
            ask_id,
            customer_id,
            plan.assigned_to,
            plan.due_on,
            _masked_note(plan.note),
        ),
    )
    return follow_up_id


def read_customer(conn: sqlite3.Connection, customer_id: str) -> Customer:
    row = conn.execute(f"SELECT {CUSTOMER_COLUMNS}, synced_version FROM customers WHERE id = ?", (customer_id,)).fetchone()
    if row is None:
        raise CustomerNotFound("That customer is no longer on this terminal (erased or never saved here).")
    return _customer(row)


def read_follow_up(conn: sqlite3.Connection, follow_up_id: str) -> FollowUp:
    row = conn.execute(f"SELECT {_FOLLOW_UP_VIEW} {_FOLLOW_UP_FROM} WHERE f.id = ?", (follow_up_id,)).fetchone()
    if row is None:
        raise FollowUpNotFound(f"No follow-up {follow_up_id} on this terminal.")
    return FollowUp(*row)


def _erase(conn: sqlite3.Connection, customer_ids: list[str], reason: str) -> None:
    now = utc_now()
    for customer_id in customer_ids:
        customer = read_customer(conn, customer_id)
        conn.execute(
            "UPDATE follow_ups SET version = version + 1, updated_at = ?, customer_id = NULL, note = NULL, "
            "status = CASE status WHEN 'open' THEN 'cancelled' ELSE status END WHERE customer_id = ?",
            (now, customer_id),
        )
        conn.execute("DELETE FROM customers WHERE id = ?", (customer_id,))
        conn.execute(
            "INSERT INTO erasures (id, created_at, store_id, terminal_id, customer_id, reason) VALUES (?, ?, ?, ?, ?, ?)",
            (uuid7(), now, customer.store_id, customer.terminal_id, customer_id, reason),
        )


def _consent(current: Customer, draft: CustomerDraft, now: str, consent_wording: str) -> tuple[str | None, str | None]:
    """When consent was given and to which wording, after an edit: a consent given or widened is dated now."""
    if not (draft.consent_follow_up or draft.consent_marketing):
        return None, None
    widened = (draft.consent_follow_up and not current.consent_follow_up) or (
        draft.consent_marketing and not current.consent_marketing
    )
    consent_at = now if widened or not current.consent_at else current.consent_at
    wording = consent_wording if widened or not current.consent_wording else current.consent_wording
    return consent_at, wording


def _check_follow_up(current: FollowUp, expected_version: int | None) -> None:
    if current.status != "open":
        raise StaleEdit(f"This follow-up is already {current.status}.")
    if expected_version is not None and current.version != expected_version:
        raise StaleEdit("This follow-up was changed elsewhere since you opened it; look again.")


def _masked_note(note: str | None) -> str | None:
    """A follow-up note as stored: control characters out, lines kept, card numbers masked."""
    return mask(note).text if (note := in_lines(note)) else None


def _preferences_json(preferences: Preferences) -> str:
    return json.dumps(preferences.as_wire(), ensure_ascii=False, sort_keys=True)


def _customer(row: tuple) -> Customer:
    (
        customer_id,
        version,
        created,
        updated,
        store_id,
        terminal_id,
        associate,
        name,
        phone,
        email,
        number,
        follow_up,
        marketing,
        consent_at,
        wording,
        preferences,
        activity,
        synced,
    ) = row
    return Customer(
        id=customer_id,
        version=version,
        synced_version=synced,
        created_at=created,
        updated_at=updated,
        store_id=store_id,
        terminal_id=terminal_id,
        associate=associate,
        name=name,
        phone=phone,
        email=email,
        customer_number=number,
        consent_follow_up=bool(follow_up),
        consent_marketing=bool(marketing),
        consent_at=consent_at,
        consent_wording=wording,
        preferences=Preferences.from_wire(json.loads(preferences)),
        last_activity_at=activity,
    )
