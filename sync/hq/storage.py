"""HQ's database: terminals and their tokens, every ask at its highest version, the taxonomy.

The only module of the HQ service that speaks SQL, in the SQL that SQLite and
PostgreSQL share (`sqlite:///abs/path.db` or `postgresql://user@host/dbname`;
database.py connects to either). A batch is applied in one transaction and
committed before the service answers, so an answer the terminal received is
always true; on PostgreSQL several HQ processes apply batches at once, each
holding the lock of the terminal it writes for.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import msgspec

from schemas.demand import VALUE_ATTRIBUTES, demand_key, lost_value
from schemas.privacy import mask, may_hold_sensitive
from schemas.records import AskRecord, CustomerRecord, ErasureRecord, FollowUpRecord, Record, RecordResult, utc_now
from schemas.taxonomy import builtin_pack_bytes, parse_pack
from sync.hq import rollups, schema, vault
from sync.hq.database import Connection, Database, StorageBusy, StorageError, connect

__all__ = ["HQStorage", "Published", "Received", "StorageBusy", "StorageError", "Terminal", "TerminalExists",
           "TerminalNotFound", "default_url", "etag_of"]

TOKEN_PREFIX = "at1"
VIEWER_PREFIX = "atv1"

# Each table's columns are its record type's fields, in the contract's order.
ASK_FIELDS: tuple[str, ...] = AskRecord.__struct_fields__
CUSTOMER_FIELDS: tuple[str, ...] = CustomerRecord.__struct_fields__
FOLLOW_UP_FIELDS: tuple[str, ...] = FollowUpRecord.__struct_fields__
ERASURE_FIELDS: tuple[str, ...] = ErasureRecord.__struct_fields__
_HQ_FIELDS = ("content_hash", "received_at", "batch_id", "clock_skew_ms")


class TerminalExists(StorageError):
    pass


class TerminalNotFound(StorageError):
    pass


@dataclass(frozen=True)
class Terminal:
    store_id: str
    terminal_id: str
    token_id: str
    created_at: str
    last_seen_at: str | None
    revoked_at: str | None


@dataclass(frozen=True)
class Received:
    """One record of a batch as the service hands it over: decoded, or why it was not."""

    record: Record | None
    id: str = ""
    version: int = 0
    problem: str | None = None  # the contract's message when record is None
    code: str = "invalid"  # the code HQ answers with when record is None


@dataclass(frozen=True)
class Published:
    etag: str
    body: bytes
    published_at: str | None


def default_url() -> str:
    override = os.environ.get("ASSOCIATE_HQ_DB")
    if override:
        return override
    import platformdirs

    return f"sqlite:///{Path(platformdirs.user_data_dir('associate-hq', appauthor=False)) / 'hq.db'}"


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest() + '"'


def _hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


_content = msgspec.json.Encoder(order="deterministic")
# Demand groups of the asks seen lately, keyed by a 16-byte digest of what decides the group, so an
# entry costs the same whatever the ask's length: the digest (49 bytes), the group's 16 hex digits (65),
# the value lost (24), the pair (56) and the dict's slot (~60). Emptied when it would pass its bytes.
EXTRAS_BYTES = 8 * 1024 * 1024
EXTRA_ENTRY_BYTES = 256


class HQStorage:
    """HQ's database, SQLite or PostgreSQL; safe to share between the threads of a process."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._grouping: tuple[str, dict] | None = None  # (taxonomy etag, attribute vocabulary)
        self._extras: dict[bytes, tuple[str, float | None]] = {}  # asks repeat: their group and value, computed once

    @classmethod
    def open(cls, url: str | None = None, *, upgrade: bool | None = None) -> HQStorage:
        """HQ's database at `url`, checked to be at this release's schema.

        `upgrade` brings an older schema up to date first; by default a SQLite file
        is upgraded as it is opened, while a PostgreSQL database, shared by every HQ
        process, is upgraded only by `associate-hq db upgrade`.
        """
        db = connect(url or default_url())
        storage = cls(db)
        try:
            if upgrade if upgrade is not None else db.kind == "sqlite":
                storage.upgrade()
            else:
                version = schema.current_version(db)
                if version != schema.LATEST_SCHEMA:
                    newer = version > schema.LATEST_SCHEMA
                    raise StorageError(
                        f"HQ's database {db.where} is at schema {version}, "
                        + (f"newer than this associate-hq ({schema.LATEST_SCHEMA}); upgrade associate-hq."
                           if newer else f"this associate-hq needs {schema.LATEST_SCHEMA}: run associate-hq db upgrade."))
        except BaseException:
            db.close()
            raise
        return storage

    def upgrade(self) -> tuple[int, int]:
        """Create or migrate the schema; (version before, version after)."""
        before, after = schema.upgrade(self.db)
        if 0 < before < 3:
            self.regroup()  # the asks that arrived before demand groups, grouped with the published taxonomy
        if 0 < before < 5:
            self.db.after_erasure()  # the plaintext that migration 5 sealed: out of SQLite's WAL too
        return before, after

    def __enter__(self) -> HQStorage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    def healthy(self) -> bool:
        try:
            with self.db.read() as conn:
                conn.execute("SELECT 1").fetchone()
            return True
        except StorageError:
            return False

    # -- terminals and tokens ----------------------------------------------------

    def add_terminal(self, store_id: str, terminal_id: str, *, rotate: bool = False) -> str:
        """A new token for this counter, returned once; only its hash is kept."""
        token_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        now = utc_now()
        with self.db.write() as conn:
            live = conn.execute(
                "SELECT token_id FROM terminals WHERE store_id = ? AND terminal_id = ? AND revoked_at IS NULL",
                (store_id, terminal_id),
            ).fetchone()
            if live and not rotate:
                raise TerminalExists(
                    f"Terminal {terminal_id} of store {store_id} already has a token ({live[0]}). "
                    "Revoke it first (terminal revoke) or pass --rotate to replace it."
                )
            if live:
                conn.execute("UPDATE terminals SET revoked_at = ? WHERE token_id = ?", (now, live[0]))
            conn.execute(
                "INSERT INTO terminals (token_id, token_hash, store_id, terminal_id, created_at) VALUES (?, ?, ?, ?, ?)",
                (token_id, _hash_secret(secret), store_id, terminal_id, now),
            )
        return f"{TOKEN_PREFIX}_{token_id}_{secret}"

    def authenticate(self, token: str) -> tuple[str, str] | None:
        """(store_id, terminal_id) for a live token, else None. Compared in constant time."""
        prefix, _, rest = token.partition("_")
        token_id, _, secret = rest.partition("_")
        if prefix != TOKEN_PREFIX or not token_id or not secret:
            return None
        with self.db.read() as conn:
            row = conn.execute(
                "SELECT token_hash, store_id, terminal_id, revoked_at, last_seen_at FROM terminals WHERE token_id = ?",
                (token_id,),
            ).fetchone()
        given = _hash_secret(secret)
        expected = row[0] if row else _hash_secret("no such token")  # same work either way
        if not hmac.compare_digest(given, expected) or row is None or row[3] is not None:
            return None
        self._seen(token_id, row[4])
        return row[1], row[2]

    def _seen(self, token_id: str, last: str | None) -> None:
        now = utc_now()
        if last and last[:16] == now[:16]:
            return  # once a minute is plenty, and spares a write per request
        try:
            with self.db.write() as conn:
                conn.execute("UPDATE terminals SET last_seen_at = ? WHERE token_id = ?", (now, token_id))
        except StorageBusy:
            pass  # bookkeeping only

    def list_terminals(self) -> list[Terminal]:
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT store_id, terminal_id, token_id, created_at, last_seen_at, revoked_at FROM terminals "
                "ORDER BY store_id, terminal_id, created_at"
            ).fetchall()
        return [Terminal(*row) for row in rows]

    def revoke(self, store_id: str, terminal_id: str) -> None:
        with self.db.write() as conn:
            done = conn.execute(
                "UPDATE terminals SET revoked_at = ? WHERE store_id = ? AND terminal_id = ? AND revoked_at IS NULL",
                (utc_now(), store_id, terminal_id),
            ).rowcount
        if not done:
            raise TerminalNotFound(f"Terminal {terminal_id} of store {store_id} has no live token (see terminal list).")

    # -- dashboard viewers ----------------------------------------------------------------

    def add_viewer(self, name: str) -> str:
        """A token for reading /dashboard, returned once; only its hash is kept."""
        token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        with self.db.write() as conn:
            conn.execute("INSERT INTO viewers VALUES (?, ?, ?, ?, NULL)", (token_id, _hash_secret(secret), name, utc_now()))
        return f"{VIEWER_PREFIX}_{token_id}_{secret}"

    def authenticate_viewer(self, token: str) -> str | None:
        """The viewer's name for a live dashboard token, else None. Compared in constant time."""
        prefix, _, rest = token.partition("_")
        token_id, _, secret = rest.partition("_")
        with self.db.read() as conn:
            row = conn.execute("SELECT token_hash, name, revoked_at FROM viewers WHERE token_id = ?", (token_id,)).fetchone()
        expected = row[0] if row else _hash_secret("no such token")
        if not hmac.compare_digest(_hash_secret(secret), expected) or prefix != VIEWER_PREFIX or row is None or row[2]:
            return None
        return row[1]

    def list_viewers(self) -> list[tuple[str, str, str | None]]:
        with self.db.read() as conn:
            return conn.execute("SELECT name, created_at, revoked_at FROM viewers ORDER BY name, created_at").fetchall()

    def revoke_viewer(self, name: str) -> bool:
        with self.db.write() as conn:
            return conn.execute("UPDATE viewers SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
                                (utc_now(), name)).rowcount > 0

    # -- batches ---------------------------------------------------------------------

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
    ) -> list[RecordResult]:
        """Apply one batch in one transaction; one result per record, in order.

        HQ keeps the highest version of each id. The same id and version again is
        a duplicate if its content is the same, and refused if it is not: what was
        counted is never silently replaced. The transaction holds the lock of the
        terminal and of every customer the batch names, so the same batch given to
        two HQ processes at once is applied by one and found a duplicate by the other.
        """
        checked: list[RecordResult | None] = [None] * len(records)
        by_type: dict[type, list[tuple[int, Record, str]]] = {kind: [] for kind in _TABLES}
        for index, item in enumerate(records):
            record = item.record
            if record is None:
                message = f"This record does not fit the contract: {item.problem}" if item.code == "invalid" else item.problem
                checked[index] = RecordResult(id=item.id, version=item.version, status="rejected", code=item.code,
                                              message=message)
            elif record.store_id != store_id or record.terminal_id != terminal_id:
                checked[index] = _rejected(record, "wrong_store",
                    f"This {_noun(record)} was logged as store {record.store_id}, terminal {record.terminal_id}, but "
                    f"this token is for store {store_id}, terminal {terminal_id}; a terminal writes only its own records.")
            elif isinstance(record, CustomerRecord) and (record.phone or record.email) and not (
                (record.consent_follow_up or record.consent_marketing) and record.consent_at
            ):
                checked[index] = _rejected(record, "no_consent",
                    f"Customer {record.id} carries contact details without a recorded consent; record the customer's "
                    "consent on the terminal or remove the phone and email.")
            else:
                record = _guarded(record)
                content = _content_of(record)  # the guard masks digits only: a NUL sent is still here
                if b"\\u0000" in content:
                    checked[index] = _rejected(record, "invalid",
                        f"This {_noun(record)} holds a NUL character (\\u0000), which HQ does not store; "
                        "edit the text on the terminal.")
                else:
                    by_type[type(record)].append((index, record, hashlib.sha256(content).hexdigest()))
        if by_type[AskRecord]:
            self._vocabulary()
        customers = {getattr(r, "customer_id", None) or (r.id if kind is CustomerRecord else None)
                     for kind, candidates in by_type.items() for _, r, _ in candidates}
        locks = [f"terminal {store_id}/{terminal_id}", *(f"customer {c}" for c in customers if c)]
        erased: list[str] = []

        def work(conn: Connection) -> list[RecordResult]:
            results = list(checked)
            erased.clear()
            accepted = 0
            deltas: rollups.Deltas = {}
            for kind, candidates in by_type.items():
                if not candidates:
                    continue
                table, fields = _TABLES[kind]
                is_ask = kind is AskRecord
                ids = [record.id for _, record, _ in candidates]
                tombstones = self._erased(conn, ids, store_id) if kind is CustomerRecord else set()
                foreign = self._foreign_references(conn, kind, candidates, store_id)
                held = self._held(conn, table, ids, with_rollup=is_ask)
                keys = self._customer_keys(conn, kind, [r for i, r, _ in candidates if i not in foreign and held.get(
                    r.id, (0, "", store_id, terminal_id))[2:4] == (store_id, terminal_id)], store_id, tombstones)
                if kind is CustomerRecord:  # keyed: once the key is erased, a hash left behind confirms no guess
                    candidates = [(i, r, keys[r.id].digest(d) if r.id in keys else d) for i, r, d in candidates]
                inserts: list[tuple] = []
                updates: list[tuple] = []
                for index, record, digest in candidates:
                    current = held.get(record.id)
                    if index in foreign:
                        results[index] = _unknown_reference(record, store_id, *foreign[index])
                    elif current is not None and (current[2], current[3]) != (store_id, terminal_id):
                        results[index] = _rejected(record, "wrong_owner",
                            f"{_noun(record).capitalize()} {record.id} belongs to another terminal at HQ; a terminal "
                            "cannot change another's records.")
                    elif record.id in tombstones:
                        # Erased at HQ already: nothing of this customer is stored again.
                        results[index] = RecordResult(id=record.id, version=record.version, status="stale")
                    elif current is None or current[0] < record.version:
                        extra: tuple = ()
                        if is_ask:
                            extra = self._ask_extra(record)
                            part = _rollup_part(record, extra)
                            if current is not None:
                                rollups.add(deltas, current[4], -1)
                            rollups.add(deltas, part, 1)
                        row = _row(record, keys) + extra + (digest, received_at, batch_id, clock_skew_ms)
                        (inserts if current is None else updates).append(row)
                        held[record.id] = (record.version, digest, store_id, terminal_id, part if is_ask else None)
                        results[index] = RecordResult(id=record.id, version=record.version, status="accepted")
                        accepted += 1
                        if kind is ErasureRecord:
                            erased.append(record.customer_id)
                    elif current[0] > record.version:
                        results[index] = RecordResult(id=record.id, version=record.version, status="stale")
                    elif current[1] == digest:
                        results[index] = RecordResult(id=record.id, version=record.version, status="duplicate")
                    else:
                        results[index] = _rejected(record, "conflict",
                            f"{_noun(record).capitalize()} {record.id} version {record.version} was already received "
                            f"with different content; edit the {_noun(record)} on the terminal to send a new version.")
                columns = fields + (_ASK_EXTRA if is_ask else ()) + _HQ_FIELDS
                if inserts:
                    conn.executemany(
                        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", inserts
                    )
                if updates:
                    assignments = ", ".join(f"{name} = ?" for name in columns[1:])
                    conn.executemany(
                        f"UPDATE {table} SET {assignments} WHERE id = ?", [row[1:] + (row[0],) for row in updates]
                    )
            rollups.write(conn, deltas)
            linked = {r.customer_id for kind in (AskRecord, FollowUpRecord) for _, r, _ in by_type[kind] if r.customer_id}
            self._scrub(conn, erased + sorted(self._erased(conn, sorted(linked), store_id)), store_id)
            rejected = sum(1 for r in results if r is not None and r.status == "rejected")
            conn.execute(
                "INSERT INTO batches VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (batch_id) DO NOTHING",
                (batch_id, store_id, terminal_id, sent_at, received_at, clock_skew_ms, len(records), accepted, rejected),
            )
            return [r for r in results if r is not None]

        answer = self.db.retrying(work, locks)
        if erased:
            self.db.after_erasure()
        return answer

    # -- demand groups -------------------------------------------------------------------

    def _vocabulary(self) -> dict:
        """The published taxonomy's attribute words, re-read when a new pack is published."""
        with self.db.read() as conn:
            row = conn.execute("SELECT etag FROM taxonomy WHERE id = 1").fetchone()
        etag = row[0] if row else ""
        if self._grouping is None or self._grouping[0] != etag:
            self._grouping = (etag, self.taxonomy_pack().vocabulary())
            self._extras = {}
        return self._grouping[1]

    def _ask_extra(self, record: AskRecord) -> tuple[str, float | None]:
        """What HQ adds to an ask: its demand group (with the vocabulary last read) and the value lost."""
        attributes = record.attributes
        seen = hashlib.blake2b(_content.encode((record.category, attributes, record.text, record.quantity)),
                               digest_size=16).digest()
        extra = self._extras.get(seen)
        if extra is None:
            if len(self._extras) >= EXTRAS_BYTES // EXTRA_ENTRY_BYTES:
                self._extras = {}
            words = self._grouping[1] if self._grouping else None
            extra = self._extras[seen] = (demand_key(record.category, attributes, record.text, words),
                                          lost_value(attributes, record.quantity or 1))
        return extra

    def regroup(self) -> int:
        """Give every ask its group under the published taxonomy (after a new pack is published).

        Only the asks whose group changed are written; the daily roll-ups are then
        derived again. Every other writer waits until it is done.
        """
        words = self._vocabulary()

        def work(conn: Connection) -> int:
            changed, last = 0, ""
            while True:  # in pages of 10,000, so memory stays flat on tens of millions of asks
                page = conn.execute("SELECT id, category, attributes, text, demand_key FROM asks WHERE id > ? "
                                    "ORDER BY id LIMIT 10000", (last,)).fetchall()
                if not page:
                    break
                moved = [(new_key, ask_id) for ask_id, category, attributes, text, key in page
                         if (new_key := demand_key(category, json.loads(attributes or "{}"), text or "", words)) != key]
                if moved:
                    conn.executemany("UPDATE asks SET demand_key = ? WHERE id = ?", moved)
                changed += len(moved)
                last = page[-1][0]
            if changed:
                rollups.rebuild(conn)
            return changed

        return self.db.retrying(work, exclusive=True)

    def taxonomy_pack(self):
        """The published pack, parsed (schemas.taxonomy.Taxonomy)."""
        published = self.taxonomy()
        return parse_pack(published.body.decode("utf-8"), "HQ's published taxonomy")

    @staticmethod
    def _scrub(conn: Connection, customer_ids: list[str], store_id: str) -> None:
        """Remove every trace of a store's erased customers; their asks and follow-up outcomes stay, unlinked.

        Only the store's own rows: an erasure never reaches into another store's data.
        """
        for customer_id in dict.fromkeys(customer_ids):
            conn.execute("DELETE FROM customers WHERE id = ? AND store_id = ?", (customer_id, store_id))
            conn.execute("DELETE FROM customer_keys WHERE customer_id = ? AND store_id = ?", (customer_id, store_id))
            conn.execute("UPDATE asks SET customer_id = NULL WHERE customer_id = ? AND store_id = ?", (customer_id, store_id))
            conn.execute(
                "UPDATE follow_ups SET customer_id = NULL, note = NULL, "
                "status = CASE status WHEN 'open' THEN 'cancelled' ELSE status END WHERE customer_id = ? AND store_id = ?",
                (customer_id, store_id),
            )

    def _erased(self, conn: Connection, customer_ids: list[str], store_id: str) -> set[str]:
        """Which of these customers the store has sent an erasure for (another store's erasure blocks nothing)."""
        sql = "SELECT customer_id, store_id FROM erasures WHERE customer_id IN ({})"
        return {customer for customer, store in self._select_in(conn, sql, customer_ids) if store == store_id}

    def _foreign_references(
        self, conn: Connection, kind: type, candidates: list[tuple[int, Record, str]], store_id: str
    ) -> dict[int, tuple[str, str]]:
        """The records (by index) that name a record HQ holds for another store: (field, the id named).

        An id HQ does not hold at all passes: the terminal may send it in a later
        batch (two are in flight at once, sync/engine.py), and nothing is changed by it.
        """
        found: dict[int, tuple[str, str]] = {}
        for field, table in _REFERENCES[kind]:
            named = sorted({value for _, record, _ in candidates if (value := getattr(record, field))})
            sql = f"SELECT id, store_id FROM {table} WHERE id IN ({{}})"
            foreign = {record_id for record_id, store in self._select_in(conn, sql, named) if store != store_id}
            for index, record, _ in candidates:
                if getattr(record, field) in foreign:
                    found.setdefault(index, (field, getattr(record, field)))
        return found

    def _customer_keys(self, conn: Connection, kind: type, records: list[Record], store_id: str,
                       tombstones: set[str]) -> dict[str, vault.CustomerKey]:
        """The data keys of the store's customers whose personal data these records carry; made for those new to HQ.

        An erased customer gets none: nothing of them is sealed or stored again. The
        batch holds the lock of every customer it names, so no two workers make a key
        for the same customer at once.
        """
        if kind is CustomerRecord:
            named = {record.id for record in records} - tombstones
        elif kind is FollowUpRecord:
            named = {record.customer_id for record in records if record.customer_id and record.note}
            named -= self._erased(conn, sorted(named), store_id)
        else:
            return {}
        sql = "SELECT customer_id, store_id, key FROM customer_keys WHERE customer_id IN ({})"
        found = {customer: bytes(key) for customer, store, key in self._select_in(conn, sql, sorted(named)) if store == store_id}
        new = {customer: vault.new_key() for customer in sorted(named - found.keys())}
        if new:
            conn.executemany("INSERT INTO customer_keys VALUES (?, ?, ?)", [(c, store_id, key) for c, key in new.items()])
        return {customer: vault.CustomerKey(key) for customer, key in (found | new).items()}

    def _held(self, conn: Connection, table: str, ids: list[str], *, with_rollup: bool = False) -> dict[str, tuple]:
        """(version, content hash, store, terminal, the ask's part in the roll-ups or None) of the ids held."""
        extra = ", " + ", ".join(rollups.COLUMNS) if with_rollup else ""
        sql = f"SELECT id, version, content_hash, store_id, terminal_id{extra} FROM {table} WHERE id IN ({{}})"
        held = {}
        for record_id, version, digest, store, terminal, *part in self._select_in(conn, sql, ids):
            held[record_id] = (version, digest, store, terminal, tuple(part) if part else None)
        return held

    def _select_in(self, conn: Connection, sql: str, ids: list[str]) -> Iterator[tuple]:
        """Rows of `sql`, whose `{}` is the IN list, for every id: in chunks under the database's parameter limit."""
        size = self.db.max_params
        for start in range(0, len(ids), size):
            chunk = ids[start : start + size]
            yield from conn.execute(sql.format(", ".join("?" * len(chunk))), chunk)

    # -- reading back ------------------------------------------------------------------

    def count_asks(self) -> int:
        with self.db.read() as conn:
            return conn.execute("SELECT count(*) FROM asks").fetchone()[0]

    def iter_asks(self, *, since: str | None = None, page: int = 1000) -> Iterator[dict]:
        """Every ask HQ holds (latest version), oldest first by id, in pages."""
        columns = ASK_FIELDS + ("received_at", "clock_skew_ms")
        last = ""
        while True:
            sql = f"SELECT {', '.join(columns)} FROM asks WHERE id > ?"
            params: list[object] = [last]
            if since:
                sql += " AND created_at >= ?"
                params.append(since)
            sql += " ORDER BY id LIMIT ?"
            params.append(page)
            with self.db.read() as conn:
                rows = conn.execute(sql, params).fetchall()
            if not rows:
                return
            for row in rows:
                item = dict(zip(columns, row))
                item["attributes"] = json.loads(item["attributes"])
                item["voided"] = bool(item["voided"])
                if item["substitute_accepted"] is not None:
                    item["substitute_accepted"] = bool(item["substitute_accepted"])
                yield item
            last = rows[-1][0]

    def iter_customers(self, *, page: int = 1000) -> Iterator[dict]:
        """Every customer HQ holds (latest version), oldest first by id, in pages, personal fields opened."""
        columns = CUSTOMER_FIELDS + ("received_at", "clock_skew_ms")
        yield from self._iter_opened("customers", "id", columns, vault.CUSTOMER_COLUMNS, page)

    def iter_follow_ups(self, *, page: int = 1000) -> Iterator[dict]:
        """Every follow-up HQ holds (latest version), oldest first by id, in pages, notes about a customer opened."""
        columns = FOLLOW_UP_FIELDS + ("received_at", "clock_skew_ms")
        yield from self._iter_opened("follow_ups", "customer_id", columns, vault.FOLLOW_UP_COLUMNS, page)

    def _iter_opened(self, table: str, owner: str, columns: tuple[str, ...], sealed: Sequence[str], page: int) -> Iterator[dict]:
        """A table's rows in pages by id, each with its sealed fields opened under its customer's key."""
        select = ", ".join(f"t.{column}" for column in columns)
        sql = (f"SELECT {select}, k.key FROM {table} AS t LEFT JOIN customer_keys AS k "
               f"ON k.customer_id = t.{owner} AND k.store_id = t.store_id WHERE t.id > ? ORDER BY t.id LIMIT ?")
        last = ""
        while True:
            with self.db.read() as conn:
                rows = conn.execute(sql, (last, page)).fetchall()
            if not rows:
                return
            for *values, key in rows:
                item = dict(zip(columns, values))
                if item[owner] is not None:
                    _opened(item, bytes(key) if key is not None else None, table, sealed)
                if table == "customers":
                    item["preferences"] = json.loads(item["preferences"]) if item["preferences"] else {}
                    item["consent_follow_up"] = bool(item["consent_follow_up"])
                    item["consent_marketing"] = bool(item["consent_marketing"])
                yield item
            last = rows[-1][0]

    def follow_up_outcomes(self, *, today: str) -> list[dict]:
        """Per store: follow-ups promised, open, overdue, and what came of the done ones."""
        sql = (
            "SELECT store_id, count(*), "
            + ", ".join(f"sum(CASE WHEN {condition} THEN 1 ELSE 0 END)" for condition in (
                "status = 'open'", "status = 'open' AND due_on < ?", "status = 'cancelled'", "status = 'done'",
                "result = 'reached_bought'", "result = 'reached_reserved'", "result = 'reached_not_interested'",
                "result = 'not_reached'", "result = 'still_unavailable'"))
            + " FROM follow_ups GROUP BY store_id ORDER BY store_id"
        )
        names = ("store_id", "follow_ups", "open", "overdue", "cancelled", "done", "reached_bought", "reached_reserved",
                 "reached_not_interested", "not_reached", "still_unavailable")
        with self.db.read() as conn:
            return [dict(zip(names, row)) for row in conn.execute(sql, (today,))]

    # -- demand reports ------------------------------------------------------------------

    def demand_groups(
        self, *, since: str, until: str, week: str, prev_week: str, unmet: Sequence[str],
        store: str | None = None, category: str | None = None, top: int = 20,
    ) -> list[dict]:
        """Unmet asks per demand group from `since` to `until` (UTC days, end excluded), most asked first.

        Each group also has its asks in the 7 days before `until` (`this_week`) and the 7 before
        those (`last_week`), its substitutes and the value lost where asks gave a price.
        Read from the daily roll-ups; the wordings from the group's newest asks.
        """
        since, until, week, prev_week = _days(since, until, week, prev_week)
        marks = ", ".join("?" * len(unmet)) or "NULL"
        in_period = "sum(CASE WHEN day >= ? THEN {} ELSE 0 END)"
        sql = (
            f"SELECT demand_key, {in_period.format('asks')}, {in_period.format('quantity')}, "
            "count(DISTINCT CASE WHEN day >= ? AND asks > 0 THEN store_id END), "
            f"{in_period.format('asks')}, sum(CASE WHEN day >= ? AND day < ? THEN asks ELSE 0 END), "
            f"{in_period.format('offered')}, {in_period.format('accepted')}, {in_period.format('declined')}, "
            f"{in_period.format('priced')}, {in_period.format('lost_value')} "
            f"FROM demand_days WHERE day >= ? AND day < ? AND outcome IN ({marks})"
        )
        params: list[object] = [since, since, since, week, prev_week, week, since, since, since, since, since,
                                min(since, prev_week), until, *unmet]
        scope, scope_params = _scope(store, category)
        sql += scope + f" GROUP BY demand_key HAVING {in_period.format('asks')} > 0 ORDER BY 2 DESC, 4 DESC, 1 LIMIT ?"
        params += [*scope_params, since, top]
        names = ("key", "asks", "quantity", "stores", "this_week", "last_week", "offered", "accepted", "declined",
                 "priced", "lost_value")
        with self.db.read() as conn:
            groups = [dict(zip(names, row)) for row in conn.execute(sql, params)]
            for group in groups:
                if not group.pop("priced"):
                    group["lost_value"] = None
                examples = conn.execute(
                    "SELECT min(text), count(*), min(category), min(attributes) FROM ("
                    "SELECT text, category, attributes FROM asks WHERE demand_key = ? AND created_at >= ? "
                    f"AND created_at < ? AND voided = 0 ORDER BY created_at DESC LIMIT {EXAMPLES_FROM}) AS newest "
                    "GROUP BY lower(text) ORDER BY 2 DESC, 1 LIMIT 3",
                    (group["key"], since, until),
                ).fetchall()
                group["examples"] = [text for text, *_ in examples]
                group["category"] = examples[0][2] if examples else None
                attributes = json.loads(examples[0][3]) if examples else {}
                group["attributes"] = {k: v for k, v in attributes.items() if k not in VALUE_ATTRIBUTES}
        return groups

    def unmet_per_day(self, *, since: str, until: str, unmet: Sequence[str], store: str | None = None,
                      category: str | None = None) -> list[tuple[str, int]]:
        """(UTC day, unmet asks) from `since` to `until`."""
        since, until = _days(since, until)
        marks = ", ".join("?" * len(unmet)) or "NULL"
        sql = f"SELECT day, sum(asks) FROM demand_days WHERE day >= ? AND day < ? AND outcome IN ({marks})"
        scope, scope_params = _scope(store, category)
        with self.db.read() as conn:
            return [tuple(row) for row in conn.execute(
                sql + scope + " GROUP BY day HAVING sum(asks) > 0 ORDER BY day", [since, until, *unmet, *scope_params])]

    def substitutes(self, *, since: str, until: str, store: str | None = None, top: int = 20) -> list[dict]:
        """What was offered instead, how often, and whether customers took it."""
        since, until = _days(since, until)
        sql = "SELECT min(substitute), sum(offered), sum(accepted), sum(declined) FROM substitute_days WHERE day >= ? AND day < ?"
        scope, scope_params = _scope(store, None)
        sql += scope + " GROUP BY substitute_key HAVING sum(offered) > 0 ORDER BY 2 DESC, 1 LIMIT ?"
        with self.db.read() as conn:
            return [dict(zip(("substitute", "offered", "accepted", "declined"), row))
                    for row in conn.execute(sql, [since, until, *scope_params, top])]

    def store_activity(self, *, since: str, until: str, unmet: Sequence[str]) -> list[dict]:
        """Per store: asks, unmet, coded "other", uncategorised, associate-days and the last ask.

        Stores with a live terminal and no ask in the period are listed with zeros.
        """
        first, end = _days(since, until)
        marks = ", ".join("?" * len(unmet)) or "NULL"
        sql = (
            f"SELECT store_id, sum(asks), sum(CASE WHEN outcome IN ({marks}) THEN asks ELSE 0 END), "
            "sum(CASE WHEN outcome = 'other' THEN asks ELSE 0 END), sum(CASE WHEN category = '' THEN asks ELSE 0 END) "
            "FROM demand_days WHERE day >= ? AND day < ? GROUP BY store_id HAVING sum(asks) > 0"
        )
        names = ("store_id", "asks", "unmet", "other", "uncategorised", "associate_days", "last_ask_at")
        with self.db.read() as conn:
            rows = {row[0]: dict(zip(names, (*row, 0, None))) for row in conn.execute(sql, (*unmet, first, end))}
            for store_id, days in conn.execute(
                "SELECT store_id, count(*) FROM associate_days WHERE day >= ? AND day < ? AND asks > 0 GROUP BY store_id",
                (first, end),
            ):
                if store_id in rows:
                    rows[store_id]["associate_days"] = days
            for (store_id,) in conn.execute("SELECT DISTINCT store_id FROM terminals WHERE revoked_at IS NULL", ()):
                rows.setdefault(store_id, dict(zip(names, (store_id, 0, 0, 0, 0, 0, None))))
            for store_id, row in rows.items():
                if row["asks"]:  # its last counted ask in the period
                    sql, params = ("SELECT max(created_at) FROM asks WHERE store_id = ? AND voided = 0 "
                                   "AND created_at >= ? AND created_at < ?", (store_id, since, until))
                else:  # silent in the period: when did it last log?
                    sql, params = "SELECT max(created_at) FROM asks WHERE store_id = ? AND created_at < ?", (store_id, until)
                row["last_ask_at"] = conn.execute(sql, params).fetchone()[0]
        return [rows[key] for key in sorted(rows)]

    def count_rows(self, table: str) -> int:
        if table not in ("asks", "customers", "follow_ups", "erasures"):
            raise ValueError(table)
        with self.db.read() as conn:
            return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]

    # -- the taxonomy ------------------------------------------------------------------

    def publish_taxonomy(self, body: bytes) -> str:
        etag = etag_of(body)
        with self.db.write() as conn:
            conn.execute("INSERT INTO taxonomy VALUES (1, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET etag = excluded.etag, "
                         "body = excluded.body, published_at = excluded.published_at", (etag, body, utc_now()))
        self.regroup()  # the new pack's words may group some asks differently
        return etag

    def taxonomy(self) -> Published:
        """The published pack, or the built-in retail pack until one is published."""
        with self.db.read() as conn:
            row = conn.execute("SELECT etag, body, published_at FROM taxonomy WHERE id = 1").fetchone()
        if row:
            return Published(row[0], bytes(row[1]), row[2])
        body = builtin_pack_bytes("retail")
        return Published(etag_of(body), body, None)


_TABLES: dict[type, tuple[str, tuple[str, ...]]] = {
    CustomerRecord: ("customers", CUSTOMER_FIELDS),
    AskRecord: ("asks", ASK_FIELDS),
    FollowUpRecord: ("follow_ups", FOLLOW_UP_FIELDS),
    ErasureRecord: ("erasures", ERASURE_FIELDS),
}
_CONVERTED: dict[type, tuple[int, ...]] = {
    kind: tuple(fields.index(name) for name in names)
    for kind, fields, names in (
        (AskRecord, ASK_FIELDS, ("attributes", "substitute_accepted", "voided")),
        (CustomerRecord, CUSTOMER_FIELDS, ("consent_follow_up", "consent_marketing", "preferences")),
        (FollowUpRecord, FOLLOW_UP_FIELDS, ()),
        (ErasureRecord, ERASURE_FIELDS, ()),
    )
}
# Each table's personal fields, sealed under their customer's key: (table, ((column position, column), ...)).
_SEALED: dict[type, tuple[str, tuple[tuple[int, str], ...]]] = {
    CustomerRecord: ("customers", tuple((CUSTOMER_FIELDS.index(c), c) for c in vault.CUSTOMER_COLUMNS)),
    FollowUpRecord: ("follow_ups", tuple((FOLLOW_UP_FIELDS.index(c), c) for c in vault.FOLLOW_UP_COLUMNS)),
}
_NOUNS = {AskRecord: "ask", CustomerRecord: "customer", FollowUpRecord: "follow-up", ErasureRecord: "erasure"}
# Every id a record refers to, and the table of the records it must name: the token's store's own.
_REFERENCES: dict[type, tuple[tuple[str, str], ...]] = {
    CustomerRecord: (),
    AskRecord: (("customer_id", "customers"), ("same_as", "asks")),
    FollowUpRecord: (("ask_id", "asks"), ("customer_id", "customers")),
    ErasureRecord: (("customer_id", "customers"),),
}


# A group's wordings are its commonest among this many of its newest asks in the period.
EXAMPLES_FROM = 2000


def _days(*moments: str) -> tuple[str, ...]:
    """The UTC days of report bounds, which fall on midnight (report.window makes them so)."""
    for moment in moments:
        if moment[10:] not in ("", "T00:00:00.000Z", "T00:00:00Z"):
            raise ValueError(f"report bounds must be whole UTC days, not {moment}")
    return tuple(moment[:10] for moment in moments)


def _scope(store: str | None, category: str | None) -> tuple[str, list[object]]:
    """The SQL (and its parameters) that keeps a report to one store and/or a category and those under it."""
    sql, params = "", []
    if store:
        sql += " AND store_id = ?"
        params.append(store)
    if category:
        sql += " AND (category = ? OR category LIKE ?)"
        params += [category, category + ".%"]
    return sql, params


_ASK_EXTRA = ("demand_key", "lost_value")


def _rollup_part(record: AskRecord, extra: tuple[str, float | None]) -> tuple:
    """An ask's values that its part in the daily roll-ups depends on, in rollups.COLUMNS order."""
    return (record.created_at, record.store_id, extra[0], record.category, record.outcome, record.quantity,
            record.substitute, record.substitute_accepted, record.voided, extra[1], record.associate)


def _noun(record: Record) -> str:
    return _NOUNS[type(record)]


def _content_of(record: Record) -> bytes:
    """What makes a version's content (its hash tells a resend from a reused id), as JSON.

    An ask's link to its customer is left out: an erasure clears it on both sides
    without a new version, and a resend after that is still the same ask.
    """
    if isinstance(record, AskRecord) and record.customer_id:
        record = msgspec.structs.replace(record, customer_id=None)
    return _content.encode(record)


def _masked(value: str | None) -> str | None:
    return mask(value).text if value else value


def _guarded(record: Record) -> Record:
    """HQ's own pass of the privacy guard, so an older or faulty terminal cannot leak a card number."""
    replace = msgspec.structs.replace
    if isinstance(record, AskRecord):
        free_text = (record.text, record.substitute or "", record.note or "", record.void_reason or "", *record.attributes.values())
        if not may_hold_sensitive("\n".join(free_text)):
            return record  # most asks: one search instead of a pass per field
        return replace(
            record, text=_masked(record.text), substitute=_masked(record.substitute), note=_masked(record.note),
            void_reason=_masked(record.void_reason),
            attributes={key: _masked(value) for key, value in record.attributes.items()},
        )
    if isinstance(record, CustomerRecord):
        prefs = record.preferences
        # Everything typed freely, as the terminal guards it (customers.guarded); phone and email are validated.
        return replace(
            record, name=_masked(record.name), customer_number=_masked(record.customer_number),
            preferences=replace(
                prefs, notes=_masked(prefs.notes), contact_time=_masked(prefs.contact_time),
                sizes=[mask(value).text for value in prefs.sizes], colours=[mask(value).text for value in prefs.colours],
                brands=[mask(value).text for value in prefs.brands],
            ),
        )
    if isinstance(record, FollowUpRecord):
        return replace(record, note=_masked(record.note))
    return record


def _row(record: Record, keys: dict[str, vault.CustomerKey] | None = None) -> tuple:
    """The record's fields as column values, in its table's column order, personal fields sealed with `keys`.

    astuple is one C call; only the few booleans and JSON fields of each type
    are converted in Python (this runs for every record HQ stores).
    """
    values = msgspec.structs.astuple(record)
    positions = _CONVERTED[type(record)]
    sealed = _SEALED.get(type(record))
    if not positions and not sealed:
        return values
    values = list(values)
    for position in positions:
        values[position] = _sql_value(values[position])
    if sealed:
        _seal(record, values, keys or {})
    return tuple(values)


def _seal(record: Record, values: list, keys: dict[str, vault.CustomerKey]) -> None:
    """Seal a row's personal fields under the key of the customer they are about (vault.py).

    A follow-up names its customer; one that names none keeps its note as written,
    and one whose customer was erased keeps no note.
    """
    table, columns = _SEALED[type(record)]
    owner = record.id if isinstance(record, CustomerRecord) else getattr(record, "customer_id", None)
    if owner is None:
        return
    key = keys.get(owner)
    if key is None and isinstance(record, CustomerRecord):
        raise StorageError(f"HQ has no key for customer {owner}; nothing was written. Report this as a bug.")
    for position, column in columns:
        if values[position] is not None:
            values[position] = key.seal(values[position], vault.where(table, column, record.id)) if key else None


def _opened(row: dict, key: bytes | None, table: str, columns: Sequence[str]) -> dict:
    """A row read back with its sealed fields opened; None where the customer's key is gone (erased)."""
    opener = vault.CustomerKey(key) if key is not None else None
    for column in columns:
        if row[column] is not None:
            row[column] = opener.open(row[column], vault.where(table, column, row["id"])) if opener else None
    return row


def _sql_value(value: object) -> object:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (dict, list, msgspec.Struct)):
        return _content.encode(value).decode()
    return value


def _unknown_reference(record: Record, store_id: str, field: str, named: str) -> RecordResult:
    """The one answer for a reference outside the token's store: the same whether the id exists elsewhere or not."""
    target = "customer" if field == "customer_id" else "ask"
    return _rejected(record, "unknown_reference",
        f"This {_noun(record)}'s {field} names {target} {named}, which is not one of store {store_id}'s records at "
        "HQ; a terminal refers only to its own store's records. Remove or correct the link on the terminal.")


def _rejected(record: Record, code: str, message: str) -> RecordResult:
    return RecordResult(id=record.id, version=record.version, status="rejected", code=code, message=message)
