"""The outbox: what waits for HQ, HQ's answers, the quarantine and how the last sync went.

The outbox is the record tables themselves: a row is pending while
`version > synced_version` (and HQ has not refused that version). SQLite writes each
pending row's wire JSON itself (`json_object`), from a field list derived from the
contract's record types (schemas/records.py), so the terminal never spells the
contract out a second time.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import msgspec
import msgspec.inspect as typeinfo

from associate_tui.asks import Ask
from associate_tui.ids import utc_now
from associate_tui.store.asks import ASK_COLUMNS, ask_from_row
from associate_tui.store.connection import Connection
from schemas.records import LATER_FIELDS, AskRecord, CustomerRecord, ErasureRecord, FollowUpRecord


@dataclass(frozen=True)
class SyncStatus:
    """What the status line shows: the outbox and how the last sync went."""

    pending: int
    quarantined: int
    last_success_at: str | None
    last_attempt_at: str | None
    last_error: str | None


@dataclass(frozen=True)
class Quarantined:
    """An ask version HQ refused, with HQ's words; it is not sent again until edited."""

    ask: Ask
    code: str
    message: str
    at: str


def wire_json(record_type: type[msgspec.Struct]) -> str:
    """The SQL expression that writes a row as `record_type`'s JSON, field for field.

    Each field is the column of the same name. Booleans are stored as 0/1 and JSON
    objects (attributes, preferences) as JSON text, so those are converted; the tag
    (`"type": "ask"`) comes first, as msgspec encodes it. synced_version and the
    quarantine columns are the terminal's own bookkeeping and never leave it. A field
    added to the contract later (LATER_FIELDS) is left out while empty.
    """
    config = record_type.__struct_config__
    fields = typeinfo.type_info(record_type).fields
    later = [field.name for field in fields if field.name in LATER_FIELDS]

    def built(kept: frozenset[str]) -> str:
        pairs = [f"'{config.tag_field}', '{config.tag}'"]
        pairs += [
            f"'{field.encode_name}', {_json_value(field.name, field.type)}"
            for field in fields
            if field.name not in LATER_FIELDS or field.name in kept
        ]
        return f"json_object({', '.join(pairs)})"

    # One json_object per combination of the later fields that are set, chosen by CASE: the JSON is
    # written once (taking a key out again with json_remove parses it anew: 3x the cost of a row).
    body = built(frozenset(later))
    for count in range(len(later)):
        for kept in combinations(later, count):
            present = " AND ".join(f"{name} IS {'NOT ' if name in kept else ''}NULL" for name in later)
            body = f"CASE WHEN {present} THEN {built(frozenset(kept))} ELSE {body} END"
    return body


def _json_value(column: str, kind: typeinfo.Type) -> str:
    options = kind.types if isinstance(kind, typeinfo.UnionType) else (kind,)
    options = tuple(option.type if isinstance(option, typeinfo.Metadata) else option for option in options)
    nullable = any(isinstance(option, typeinfo.NoneType) for option in options)
    if any(isinstance(option, typeinfo.BoolType) for option in options):
        if nullable:
            return f"CASE {column} WHEN 1 THEN json('true') WHEN 0 THEN json('false') END"
        return f"json(CASE {column} WHEN 1 THEN 'true' ELSE 'false' END)"
    if any(isinstance(option, (typeinfo.DictType, typeinfo.StructType)) for option in options):
        return f"json({column})"
    return column


# Every table that travels to HQ, in the order a pass sends them: a customer before
# the asks that name them, follow-ups after their asks, erasures last.
OUTBOX_TABLES: tuple[tuple[str, str], ...] = tuple(
    (table, wire_json(record_type))
    for table, record_type in (
        ("customers", CustomerRecord),
        ("asks", AskRecord),
        ("follow_ups", FollowUpRecord),
        ("erasures", ErasureRecord),
    )
)
_ANSWER_ORDER = ("asks", *(table for table, _ in OUTBOX_TABLES if table != "asks"))
_PENDING = "version > synced_version AND version > quarantined_version"
_QUARANTINED = "quarantined_version = version AND version > synced_version"
_OUTBOX_COUNT = "SELECT " + " + ".join(f"(SELECT count(*) FROM {table} WHERE {_PENDING})" for table, _ in OUTBOX_TABLES)
_QUARANTINE_COUNT = "SELECT " + " + ".join(f"(SELECT count(*) FROM {table} WHERE {_QUARANTINED})" for table, _ in OUTBOX_TABLES)
# pending_records pages with one integer cursor across the tables: table index * 2^48 + seq.
_CURSOR_SPAN = 2**48
_ACK = "UPDATE {} SET synced_version = ? WHERE id = ? AND version = ? AND synced_version < version"
_REFUSE = (
    "UPDATE {} SET quarantined_version = ?, quarantine_code = ?, quarantine_message = ?, "
    "quarantined_at = ? WHERE id = ? AND version = ?"
)


class OutboxRoom(Connection):
    """The sending side of every record table, and the sync state."""

    def pending_records(self, *, after_seq: int = 0, limit: int = 500) -> list[tuple[int, str, int, bytes]]:
        """Records to send to HQ: (cursor, id, version, the wire record as JSON), in sending order.

        `after_seq` is the cursor of the last record taken (0 to start). SQLite writes
        the JSON itself (json_object), so a batch of 500 asks costs about a millisecond
        instead of building 500 Python objects to encode them again.
        """
        rows: list[tuple[int, str, int, bytes]] = []
        with self._read("read the records waiting for HQ") as conn:
            for index, (table, record) in enumerate(OUTBOX_TABLES):
                base = index * _CURSOR_SPAN
                if after_seq >= base + _CURSOR_SPAN or len(rows) >= limit:
                    continue
                sql = f"SELECT seq, id, version, {record} FROM {table} WHERE {_PENDING} AND seq > ? ORDER BY seq LIMIT ?"
                for seq, record_id, version, body in conn.execute(sql, (max(after_seq - base, 0), limit - len(rows))):
                    rows.append((base + seq, record_id, version, body.encode()))
        return rows

    def apply_results(self, results: list[tuple[str, int, str, str | None, str | None]]) -> None:
        """HQ's answers, (id, version, status, code, message), in one transaction.

        A record is acknowledged only if it still has the version HQ answered for:
        an edit made while the batch was in flight stays pending and is sent again.
        Ids are UUIDs, unique across the record tables.
        """
        now = utc_now()
        acked = [(version, record_id, version) for record_id, version, status, _, _ in results if status != "rejected"]
        refused = [
            (version, code or "rejected", message or "HQ refused this record.", now, record_id, version)
            for record_id, version, status, code, message in results
            if status == "rejected"
        ]
        with self._write("record HQ's answer") as conn:
            # Asks are nearly every answer: look there first, and stop once every
            # answer has found its row (an answer that matches none tries every table).
            for statement, rows in ((_ACK, acked), (_REFUSE, refused)):
                unmatched = len(rows)
                for table in _ANSWER_ORDER:
                    if unmatched <= 0:
                        break
                    unmatched -= conn.executemany(statement.format(table), rows).rowcount

    def count_pending(self) -> int:
        """Records with changes waiting to be sent to HQ (not counting quarantined ones)."""
        with self._read("count pending asks") as conn:
            return conn.execute(_OUTBOX_COUNT).fetchone()[0]

    def quarantined(self, limit: int = 500) -> list[Quarantined]:
        """Ask versions HQ refused, newest first, with HQ's message."""
        sql = (
            f"SELECT {ASK_COLUMNS}, quarantine_code, quarantine_message, quarantined_at FROM asks "
            f"WHERE {_QUARANTINED} ORDER BY seq DESC LIMIT ?"
        )
        with self._read("read the quarantine") as conn:
            rows = conn.execute(sql, (limit,)).fetchall()
        return [Quarantined(ask_from_row(row[:-3]), row[-3], row[-2], row[-1]) for row in rows]

    # -- sync state ---------------------------------------------------------------

    def record_sync(self, *, ok: bool, error: str | None = None) -> None:
        """Remember how the last sync attempt went, for the status line and `associate status`."""
        now = utc_now()
        values = [("last_attempt_at", now)]
        # A sync that went through may still carry a warning (HQ's taxonomy was refused).
        values += [("last_success_at", now), ("last_error", error)] if ok else [("last_error", error)]
        with self._write("record the sync result") as conn:
            conn.executemany("INSERT OR REPLACE INTO sync_state (key, value) VALUES (?, ?)", values)

    def get_sync_value(self, key: str) -> str | None:
        with self._read("read the sync state") as conn:
            row = conn.execute("SELECT value FROM sync_state WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_sync_value(self, key: str, value: str | None) -> None:
        with self._write("record the sync state") as conn:
            conn.execute("INSERT OR REPLACE INTO sync_state (key, value) VALUES (?, ?)", (key, value))

    def sync_status(self) -> SyncStatus:
        with self._read("read the sync status") as conn:
            pending = conn.execute(_OUTBOX_COUNT).fetchone()[0]
            quarantined = conn.execute(_QUARANTINE_COUNT).fetchone()[0]
            state = dict(conn.execute("SELECT key, value FROM sync_state").fetchall())
        return SyncStatus(
            pending=pending,
            quarantined=quarantined,
            last_success_at=state.get("last_success_at"),
            last_attempt_at=state.get("last_attempt_at"),
            last_error=state.get("last_error"),
        )

    # -- enrolment ----------------------------------------------------------------

    def adopt_unsynced(self, store_id: str, terminal_id: str) -> dict[str, int]:
        """Move every record HQ has never acknowledged into this store and terminal; how many, by table.

        For enrolment: what was logged before (under the config's DEMO store, or a store
        whose token this terminal no longer holds) would otherwise be refused by HQ for
        ever. Each record moves as a new version, so quarantined ones are sent again.
        Records HQ holds already (synced_version > 0) stay where HQ has them. One transaction.
        """
        now = utc_now()
        adopted: dict[str, int] = {}
        with self._write("adopt the records logged before enrolment") as conn:
            for table, _ in OUTBOX_TABLES:
                stamp = "" if table == "erasures" else ", updated_at = :now"  # an erasure has no updated_at
                adopted[table] = conn.execute(
                    f"UPDATE {table} SET version = version + 1, store_id = :store, terminal_id = :terminal{stamp} "
                    "WHERE synced_version = 0 AND (store_id != :store OR terminal_id != :terminal)",
                    {"store": store_id, "terminal": terminal_id, "now": now},
                ).rowcount
        return adopted

    def count_pending_elsewhere(self, store_id: str, terminal_id: str) -> int:
        """Pending records logged under another store or terminal than HQ knows this one as."""
        sql = "SELECT " + " + ".join(
            f"(SELECT count(*) FROM {table} WHERE {_PENDING} AND (store_id != ? OR terminal_id != ?))"
            for table, _ in OUTBOX_TABLES
        )
        with self._read("count pending records") as conn:
            return conn.execute(sql, (store_id, terminal_id) * len(OUTBOX_TABLES)).fetchone()[0]
