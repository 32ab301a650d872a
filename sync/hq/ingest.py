"""A batch of records into HQ's tables, in one transaction, with one answer per record.

Before the transaction, each record is checked on its own: it fits the contract,
it is the token's store and terminal's, a customer's contact details come with a
consent, its free text passes HQ's own privacy guard, it holds no control character; its content
hash is taken. In the transaction, HQ keeps the highest version of each id: a
record that names another store's record, or changes another terminal's, is
refused; an erased customer is never stored again; each ask's part in the daily
roll-ups (and the part of the version it replaces) goes to their outbox, which
fold.py adds up soon after the commit; an erasure scrubs the store's rows of its customer.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from schemas.privacy import mask, may_hold_sensitive
from schemas.records import (
    AskRecord,
    CustomerRecord,
    ErasureRecord,
    FollowUpRecord,
    Record,
    RecordResult,
    Status,
    unsafe_text,
)
from sync.hq import rollups, vault
from sync.hq.database import Connection, Database, insert_rows, is_postgres
from sync.hq.packs import Grouping, Packs
from sync.hq.rows import ASK_FIELDS, NOUNS, RECORD_TYPES, TABLES, RecordType, columns_of, encode, row_of

# Every id a record refers to, and the table of the records it must name: the token's store's own.
_REFERENCES: dict[RecordType, tuple[tuple[str, str], ...]] = {
    CustomerRecord: (),
    AskRecord: (("customer_id", "customers"), ("same_as", "asks")),
    FollowUpRecord: (("ask_id", "asks"), ("customer_id", "customers")),
    ErasureRecord: (("customer_id", "customers"),),
}

Candidate = tuple[int, Record, str]  # (index in the batch, the record as HQ stores it, its content hash)
Held = tuple[int, str, str, str, tuple[Any, ...] | None]  # (version, content hash, store, terminal, roll-up part)
# An ask's row up to its content hash, its part in the roll-ups and that part's outbox row (None: it counts nowhere)
Prepared = tuple[tuple[Any, ...], tuple[Any, ...], tuple[Any, ...] | None]


class Received(msgspec.Struct, frozen=True):
    """One record of a batch as the service hands it over: decoded, or why it was not (a Struct: one per record)."""

    record: Record | None
    id: str = ""
    version: int = 0
    problem: str | None = None  # the contract's message when record is None
    code: str = "invalid"  # the code HQ answers with when record is None


@dataclass(frozen=True)
class BatchInfo:
    """What the envelope and HQ's clock say of a batch, kept beside every record it stores."""

    store_id: str
    terminal_id: str
    batch_id: str
    sent_at: str
    received_at: str
    clock_skew_ms: int
    records: int


class Ingest:
    """Applies batches; the demand groups of asks come from `packs`."""

    def __init__(self, db: Database, packs: Packs) -> None:
        self.db = db
        self.packs = packs

    def apply_batch(
        self,
        *,
        store_id: str,
        terminal_id: str,
        batch_id: str,
        sent_at: str,
        received_at: str,
        clock_skew_ms: int,
        records: Sequence[Received],
        may_hold_control: bool = True,
    ) -> list[RecordResult]:
        """Apply one batch in one transaction; one result per record, in order.

        HQ keeps the highest version of each id. The same id and version again is
        a duplicate if its content is the same, and refused if it is not: what was
        counted is never silently replaced. `may_hold_control` False says the batch's JSON
        was screened whole (`may_hold_control`) and no record needs the check. The transaction holds the lock of the
        terminal and of every customer the batch names, so the same batch given to
        two HQ processes at once is applied by one and found a duplicate by the other.
        """
        batch = BatchInfo(store_id, terminal_id, batch_id, sent_at, received_at, clock_skew_ms, len(records))
        checked: list[RecordResult | None] = [None] * len(records)
        by_type: dict[RecordType, list[Candidate]] = {kind: [] for kind in RECORD_TYPES}
        for index, item in enumerate(records):
            outcome = precheck(item, store_id, terminal_id, screen=may_hold_control)
            if isinstance(outcome, RecordResult):
                checked[index] = outcome
            else:
                by_type[type(outcome[0])].append((index, *outcome))
        grouping = self.packs.grouping() if by_type[AskRecord] else None
        prepared = self.prepared(by_type[AskRecord], grouping) if grouping else {}
        customers = {
            getattr(r, "customer_id", None) or (r.id if kind is CustomerRecord else None)
            for kind, candidates in by_type.items()
            for _, r, _ in candidates
        }
        locks = [f"terminal {store_id}/{terminal_id}", *(f"customer {c}" for c in customers if c)]
        # A fresh attempt each time the database makes the transaction start again.
        applied = self.db.retrying(lambda conn: _Transaction(conn, self, batch, checked, prepared).run(by_type, grouping), locks)
        if applied.erased:
            self.db.after_erasure()
        return [result for result in applied.results if result is not None]

    def prepared(self, asks: list[Candidate], grouping: Grouping) -> dict[int, Prepared]:
        """What each ask stores, whatever HQ holds of it, by its index in the batch, grouped with the taxonomy
        `grouping`: worked out before the transaction, so it holds the lock less."""
        out = {}
        for index, record, _ in asks:
            assert isinstance(record, AskRecord)
            row, extra = row_of(record), Packs.ask_extra(record, grouping)
            part = _rollup_part(record, extra, row[_ATTRIBUTES])
            out[index] = (row + extra, part, rollups.queued(part, 1))
        return out

    def select_in(self, conn: Connection, sql: str, ids: list[str]) -> Iterator[tuple[Any, ...]]:
        """Rows of `sql`, whose `IN ({})` is the list, for every id: on PostgreSQL one array (`= ANY(?)`: the same
        statement whatever the count, so it is parsed and planned once per connection, not once per batch);
        on SQLite in chunks under its parameter limit."""
        if ids and is_postgres(conn):
            yield from conn.execute(sql.replace("IN ({})", "= ANY(?)"), (ids,))
            return
        size = self.db.max_params
        for start in range(0, len(ids), size):
            chunk = ids[start : start + size]
            yield from conn.execute(sql.format(", ".join("?" * len(chunk))), chunk)

    def erased(self, conn: Connection, customer_ids: list[str], store_id: str) -> set[str]:
        """Which of these customers the store has sent an erasure for (another store's erasure blocks nothing)."""
        sql = "SELECT customer_id, store_id FROM erasures WHERE customer_id IN ({})"
        return {customer for customer, store in self.select_in(conn, sql, customer_ids) if store == store_id}


# -- the checks of one record, before the transaction ---------------------------------------


def precheck(item: Received, store_id: str, terminal_id: str, *, screen: bool = True) -> RecordResult | tuple[Record, str]:
    """Why a record is refused before HQ looks at what it holds; else the record as HQ stores it, and its hash.

    `screen` False: the batch it came in was screened whole and holds no control character.
    """
    record = item.record
    if record is None:
        message = f"This record does not fit the contract: {item.problem}" if item.code == "invalid" else item.problem
        return RecordResult(id=item.id, version=item.version, status="rejected", code=item.code, message=message)
    if record.store_id != store_id or record.terminal_id != terminal_id:
        return rejected(
            record,
            "wrong_store",
            f"This {noun(record)} was logged as store {record.store_id}, terminal {record.terminal_id}, but "
            f"this token is for store {store_id}, terminal {terminal_id}; a terminal writes only its own records.",
        )
    if (
        isinstance(record, CustomerRecord)
        and (record.phone or record.email)
        and not ((record.consent_follow_up or record.consent_marketing) and record.consent_at)
    ):
        return rejected(
            record,
            "no_consent",
            f"Customer {record.id} carries contact details without a recorded consent; record the customer's "
            "consent on the terminal or remove the phone and email.",
        )
    record = guarded(record)
    content = content_of(record)  # the guard masks digits only: a control character sent is still here
    if screen and may_hold_control(content) and (problem := unsafe_text(record)):  # one search spares the walk
        return rejected(
            record,
            "control_character",
            f"{problem}; HQ stores text as typed, without control characters (a NUL cannot even be stored). "
            "Edit the text on the terminal to send it again.",
        )
    return record, hashlib.sha256(content).hexdigest()


# In a record's JSON a control character is an escape (\u001b, \n, ...), DEL, or the UTF-8 of C1 or a bidi control.
_MAY_HOLD_CONTROL = re.compile(
    rb"\\(?:u00[0189]|u007f|u20[26]|[bfnrt])|\x7f|\xc2[\x80-\x9f]|\xe2\x80[\xaa-\xae]|\xe2\x81[\xa6-\xa9]",
    re.IGNORECASE,
)


def may_hold_control(data: bytes) -> bool:
    """False when JSON (a record, or a whole batch as sent) certainly holds no control character.

    Every match of the pattern starts with one of four bytes; most batches hold none of them,
    and a byte is looked for far faster than the pattern is.
    """
    if b"\\" not in data and b"\x7f" not in data and b"\xc2" not in data and b"\xe2" not in data:
        return False
    return _MAY_HOLD_CONTROL.search(data) is not None


def content_of(record: Record) -> bytes:
    """What makes a version's content (its hash tells a resend from a reused id), as JSON.

    An ask's link to its customer is left out: an erasure clears it on both sides
    without a new version, and a resend after that is still the same ask.
    """
    if isinstance(record, AskRecord) and record.customer_id:
        record = msgspec.structs.replace(record, customer_id=None)
    return encode(record)


def _masked(value: str | None) -> str | None:
    return mask(value).text if value else value


def _masked_text(value: str) -> str:
    return mask(value).text if value else value


def guarded(record: Record) -> Record:
    """HQ's own pass of the privacy guard, so an older or faulty terminal cannot leak a card number."""
    replace = msgspec.structs.replace
    if isinstance(record, AskRecord):
        free_text = (
            record.text,
            record.substitute or "",
            record.note or "",
            record.void_reason or "",
            *record.attributes.values(),
        )
        if not may_hold_sensitive("\n".join(free_text)):
            return record  # most asks: one search instead of a pass per field
        return replace(
            record,
            text=_masked_text(record.text),
            substitute=_masked(record.substitute),
            note=_masked(record.note),
            void_reason=_masked(record.void_reason),
            attributes={key: _masked_text(value) for key, value in record.attributes.items()},
        )
    if isinstance(record, CustomerRecord):
        prefs = record.preferences
        # Everything typed freely, as the terminal guards it (customers.guarded); phone and email are validated.
        return replace(
            record,
            name=_masked_text(record.name),
            customer_number=_masked(record.customer_number),
            preferences=replace(
                prefs,
                notes=_masked(prefs.notes),
                contact_time=_masked(prefs.contact_time),
                sizes=[mask(value).text for value in prefs.sizes],
                colours=[mask(value).text for value in prefs.colours],
                brands=[mask(value).text for value in prefs.brands],
            ),
        )
    if isinstance(record, FollowUpRecord):
        return replace(record, note=_masked(record.note))
    return record


def noun(record: Record) -> str:
    return NOUNS[type(record)]


def rejected(record: Record, code: str, message: str) -> RecordResult:
    return RecordResult(id=record.id, version=record.version, status="rejected", code=code, message=message)


def _result(record: Record, status: Status) -> RecordResult:
    return RecordResult(id=record.id, version=record.version, status=status)


def _unknown_reference(record: Record, store_id: str, field: str, named: str) -> RecordResult:
    """The one answer for a reference outside the token's store: the same whether the id exists elsewhere or not."""
    target = "customer" if field == "customer_id" else "ask"
    return rejected(
        record,
        "unknown_reference",
        f"This {noun(record)}'s {field} names {target} {named}, which is not one of store {store_id}'s records at "
        "HQ; a terminal refers only to its own store's records. Remove or correct the link on the terminal.",
    )


_ATTRIBUTES = ASK_FIELDS.index("attributes")  # where an ask's row holds its attributes, as JSON text


def _rollup_part(record: AskRecord, extra: tuple[str, float | None], attributes: str) -> tuple[Any, ...]:
    """An ask's values that its part in the daily roll-ups depends on, in rollups.COLUMNS order.

    `attributes` is the JSON text its row holds (row_of made it once), as a part read back from the asks has it.
    """
    return (
        record.created_at,
        record.store_id,
        extra[0],
        record.category,
        record.outcome,
        record.quantity,
        record.substitute,
        record.substitute_accepted,
        record.voided,
        extra[1],
        record.associate,
        record.terminal_id,
        record.customer_id,
        record.text,
        attributes,
    )


# -- the transaction ---------------------------------------------------------------------------


@dataclass
class _Kind:
    """What the transaction knows of one record type's candidates before it decides on each."""

    table: str
    held: dict[str, Held]
    foreign: dict[int, tuple[str, str]]
    tombstones: set[str]
    inserts: list[tuple[Any, ...]] = field(default_factory=list)
    updates: list[tuple[Any, ...]] = field(default_factory=list)


class _Transaction:
    """One attempt at applying a batch inside its write transaction."""

    def __init__(
        self,
        conn: Connection,
        ingest: Ingest,
        batch: BatchInfo,
        checked: list[RecordResult | None],
        prepared: dict[int, Prepared],
    ) -> None:
        self.conn, self.ingest, self.batch, self.prepared = conn, ingest, batch, prepared
        self.results = list(checked)
        self.erased: list[str] = []
        self.accepted = 0
        self.queued: list[tuple] = []  # the asks' parts for the roll-ups, folded after the commit (fold.py)

    def run(self, by_type: dict[RecordType, list[Candidate]], grouping: Grouping | None) -> _Transaction:
        """Apply the batch; its asks were grouped with the taxonomy `grouping`, and are grouped again with the
        published one if that is another (read here, after the batch's locks). A pack published while the batch
        is applied is the regrouping's to apply: it waits for the batch (`Packs.regroup`, the writers' lock)."""
        asks = by_type[AskRecord]
        published = self.ingest.packs.current(self.conn) if asks else None
        if published is not None and grouping is not None and published[0] != grouping[0]:
            self.prepared = self.ingest.prepared(asks, published)
        for kind, candidates in by_type.items():
            if candidates:
                self._apply(kind, candidates)
        rollups.queue(self.conn, self.batch.store_id, self.queued)
        linked = sorted(
            {
                r.customer_id
                for kind in (AskRecord, FollowUpRecord)
                for _, r, _ in by_type[kind]
                if isinstance(r, (AskRecord, FollowUpRecord)) and r.customer_id
            }
        )
        store_id = self.batch.store_id
        _scrub(self.conn, self.erased + sorted(self.ingest.erased(self.conn, linked, store_id)), store_id)
        self._log_batch()
        return self

    def _apply(self, kind: RecordType, candidates: list[Candidate]) -> None:
        """Decide on each record of one type against what HQ holds, then write the type's rows."""
        store_id, terminal_id = self.batch.store_id, self.batch.terminal_id
        ids = [record.id for _, record, _ in candidates]
        tombstones = self.ingest.erased(self.conn, ids, store_id) if kind is CustomerRecord else set()
        state = _Kind(
            TABLES[kind],
            self._held(TABLES[kind], ids, with_rollup=kind is AskRecord),
            self._foreign_references(kind, candidates),
            tombstones,
        )
        owned = [
            r
            for i, r, _ in candidates
            if i not in state.foreign
            and state.held.get(r.id, (0, "", store_id, terminal_id, None))[2:4] == (store_id, terminal_id)
        ]
        keys = self._customer_keys(kind, owned, tombstones)
        if kind is CustomerRecord:  # keyed: once the key is erased, a hash left behind confirms no guess
            candidates = [(i, r, keys[r.id].digest(d) if r.id in keys else d) for i, r, d in candidates]
        for index, record, digest in candidates:
            self.results[index] = self._decide(state, record, digest, keys, index)
        self._write(kind, state)

    def _decide(self, state: _Kind, record: Record, digest: str, keys: dict[str, vault.CustomerKey], index: int) -> RecordResult:
        """One record's answer, given what HQ holds of its id; an accepted one joins the rows to write."""
        current = state.held.get(record.id)
        if index in state.foreign:
            return _unknown_reference(record, self.batch.store_id, *state.foreign[index])
        if current is not None and (current[2], current[3]) != (self.batch.store_id, self.batch.terminal_id):
            return rejected(
                record,
                "wrong_owner",
                f"{noun(record).capitalize()} {record.id} belongs to another "
                "terminal at HQ; a terminal cannot change another's records.",
            )
        if record.id in state.tombstones:
            return _result(record, "stale")  # erased at HQ already: nothing of this customer is stored again
        if current is None or current[0] < record.version:
            self._accept(state, record, digest, keys, current, index)
            return _result(record, "accepted")
        if current[0] > record.version:
            return _result(record, "stale")
        if current[1] == digest:
            return _result(record, "duplicate")
        return rejected(
            record,
            "conflict",
            f"{noun(record).capitalize()} {record.id} version {record.version} was already received "
            f"with different content; edit the {noun(record)} on the terminal to send a new version.",
        )

    def _accept(
        self, state: _Kind, record: Record, digest: str, keys: dict[str, vault.CustomerKey], current: Held | None, index: int
    ) -> None:
        """A new version to store: its row, its part in the roll-ups (an ask), the customer it erases (an erasure)."""
        part = None
        batch = self.batch
        if isinstance(record, AskRecord):
            row, part, queued = self.prepared[index]
            if current is not None:
                assert current[4] is not None  # an ask is held with its part (with_rollup)
                self._queue(current[4], -1)
            if queued is not None:
                self.queued.append(queued)
        else:
            row = row_of(record, keys)
        row += (digest, batch.received_at, batch.batch_id, batch.clock_skew_ms)
        (state.inserts if current is None else state.updates).append(row)
        state.held[record.id] = (record.version, digest, batch.store_id, batch.terminal_id, part)
        self.accepted += 1
        if isinstance(record, ErasureRecord):
            self.erased.append(record.customer_id)

    def _queue(self, part: tuple[Any, ...], sign: int) -> None:
        row = rollups.queued(part, sign)
        if row is not None:
            self.queued.append(row)

    def _write(self, kind: RecordType, state: _Kind) -> None:
        columns = columns_of(kind)
        if state.inserts:
            insert_rows(self.conn, state.table, columns, state.inserts)
        if state.updates:
            assignments = ", ".join(f"{name} = ?" for name in columns[1:])
            self.conn.executemany(
                f"UPDATE {state.table} SET {assignments} WHERE id = ?", [row[1:] + (row[0],) for row in state.updates]
            )

    def _log_batch(self) -> None:
        batch = self.batch
        rejected = sum(1 for r in self.results if r is not None and r.status == "rejected")
        self.conn.execute(
            "INSERT INTO batches VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (batch_id) DO NOTHING",
            (
                batch.batch_id,
                batch.store_id,
                batch.terminal_id,
                batch.sent_at,
                batch.received_at,
                batch.clock_skew_ms,
                batch.records,
                self.accepted,
                rejected,
            ),
        )

    def _foreign_references(self, kind: RecordType, candidates: list[Candidate]) -> dict[int, tuple[str, str]]:
        """The records (by index) that name a record HQ holds for another store: (field, the id named).

        An id HQ does not hold at all passes: the terminal may send it in a later
        batch (two are in flight at once, sync/engine.py), and nothing is changed by it.
        """
        found: dict[int, tuple[str, str]] = {}
        for field_name, table in _REFERENCES[kind]:
            named = sorted({value for _, record, _ in candidates if (value := getattr(record, field_name))})
            sql = f"SELECT id, store_id FROM {table} WHERE id IN ({{}})"
            foreign = {
                record_id for record_id, store in self.ingest.select_in(self.conn, sql, named) if store != self.batch.store_id
            }
            for index, record, _ in candidates:
                if getattr(record, field_name) in foreign:
                    found.setdefault(index, (field_name, getattr(record, field_name)))
        return found

    def _customer_keys(self, kind: RecordType, records: list[Record], tombstones: set[str]) -> dict[str, vault.CustomerKey]:
        """The data keys of the store's customers whose personal data these records carry; made for those new to HQ.

        An erased customer gets none: nothing of them is sealed or stored again. The
        batch holds the lock of every customer it names, so no two workers make a key
        for the same customer at once.
        """
        store_id = self.batch.store_id
        if kind is CustomerRecord:
            named = {record.id for record in records} - tombstones
        elif kind is FollowUpRecord:
            named = {r.customer_id for r in records if isinstance(r, FollowUpRecord) and r.customer_id and r.note}
            named -= self.ingest.erased(self.conn, sorted(named), store_id)
        else:
            return {}
        sql = "SELECT customer_id, store_id, key FROM customer_keys WHERE customer_id IN ({})"
        found = {
            customer: bytes(key)
            for customer, store, key in self.ingest.select_in(self.conn, sql, sorted(named))
            if store == store_id
        }
        new = {customer: vault.new_key() for customer in sorted(named - found.keys())}
        if new:
            self.conn.executemany("INSERT INTO customer_keys VALUES (?, ?, ?)", [(c, store_id, key) for c, key in new.items()])
        return {customer: vault.CustomerKey(key) for customer, key in (found | new).items()}

    def _held(self, table: str, ids: list[str], *, with_rollup: bool = False) -> dict[str, Held]:
        """(version, content hash, store, terminal, the ask's part in the roll-ups or None) of the ids held."""
        extra = ", " + ", ".join(rollups.COLUMNS) if with_rollup else ""
        sql = f"SELECT id, version, content_hash, store_id, terminal_id{extra} FROM {table} WHERE id IN ({{}})"
        held: dict[str, Held] = {}
        for record_id, version, digest, store, terminal, *part in self.ingest.select_in(self.conn, sql, ids):
            held[record_id] = (version, digest, store, terminal, tuple(part) if part else None)
        return held


def _scrub(conn: Connection, customer_ids: list[str], store_id: str) -> None:
    """Remove every trace of a store's erased customers; their asks and follow-up outcomes stay, unlinked.

    Only the store's own rows: an erasure never reaches into another store's data.
    """
    for customer_id in dict.fromkeys(customer_ids):
        conn.execute("DELETE FROM customers WHERE id = ? AND store_id = ?", (customer_id, store_id))
        conn.execute("DELETE FROM customer_keys WHERE customer_id = ? AND store_id = ?", (customer_id, store_id))
        conn.execute("UPDATE asks SET customer_id = NULL WHERE customer_id = ? AND store_id = ?", (customer_id, store_id))
        rollups.forget_customer(conn, customer_id, store_id)
        conn.execute(
            "UPDATE follow_ups SET customer_id = NULL, note = NULL, "
            "status = CASE status WHEN 'open' THEN 'cancelled' ELSE status END WHERE customer_id = ? AND store_id = ?",
            (customer_id, store_id),
        )
