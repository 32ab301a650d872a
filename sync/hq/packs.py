"""The taxonomy HQ publishes to its terminals, and the demand groups it decides.

Every ask is grouped (schemas/demand.py) with the published pack's attribute
words, so every store's asks add up the same way; publishing a new pack regroups
the asks it changes. The groups of the asks seen lately are kept, bounded.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from schemas.demand import FEEDBACK, Vocabulary, group_key, lost_value
from schemas.records import AskRecord
from schemas.taxonomy import Taxonomy, builtin_pack_bytes, parse_pack
from schemas.times import utc_now
from sync.hq import responses, rollups
from sync.hq.database import Connection, Database
from sync.hq.fold import FOLD_LOCK

# Demand groups of the asks seen lately, keyed by the 64-bit hash of what decides the group (its
# category, text, quantity, whether it is feedback, and its attributes in the order sent), so an
# entry costs the same whatever the ask's length: the hash (32 bytes), the group's 16 hex digits (65),
# the value lost (24), the pair (56) and the dict's slot (~60). Emptied when it would pass its bytes.
# Two different asks sharing a hash within one cache's life (32,768 entries): about 1 in 3 * 10^10
# (Python's string hash is keyed afresh in each process, so it cannot be aimed at).
EXTRAS_BYTES = 8 * 1024 * 1024
EXTRA_ENTRY_BYTES = 256
REGROUP_PAGE = 10_000  # asks per page when regrouping: memory stays flat on tens of millions


# A taxonomy read: its etag, its attribute words, and the asks' groups and values worked out with them (by hash).
Grouping = tuple[str, Vocabulary, dict[int, tuple[str, float | None]]]


@dataclass(frozen=True)
class Published:
    etag: str
    body: bytes
    published_at: str | None


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest() + '"'


class Packs:
    """The published pack, its vocabulary, and each ask's demand group under it; safe to share between threads."""

    def __init__(self, db: Database) -> None:
        self.db = db
        # The taxonomy last read: its etag, its attribute words, and the groups and values worked out with them
        # (asks repeat: each computed once). One tuple, swapped whole, so a thread never mixes two packs' groups.
        self._grouping: Grouping | None = None

    def publish_taxonomy(self, body: bytes) -> str:
        """Publish a pack (checked already: `parse_pack`); the roll-up of unmet pairs follows the outcomes it counts
        as unmet, in the same transaction, which holds the fold's lock."""
        etag = etag_of(body)
        unmet = [outcome.code for outcome in parse_pack(body.decode("utf-8"), "the pack").outcomes if outcome.unmet]
        with self.db.write([FOLD_LOCK]) as conn:
            conn.execute(
                "INSERT INTO taxonomy VALUES (1, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET etag = excluded.etag, "
                "body = excluded.body, published_at = excluded.published_at",
                (etag, body, utc_now()),
            )
            rollups.count_as_unmet(conn, unmet)
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

    def taxonomy_pack(self) -> Taxonomy:
        """The published pack, parsed."""
        published = self.taxonomy()
        return parse_pack(published.body.decode("utf-8"), "HQ's published taxonomy")

    def vocabulary(self) -> Vocabulary:
        """The published taxonomy's attribute words, re-read when a new pack is published."""
        with self.db.read() as conn:
            return self.current(conn)[1]

    def grouping(self) -> Grouping:
        """The taxonomy the next asks are grouped with (`ask_extra`): the one last read, without a read of its own;
        a batch's transaction checks it is still the published one (`current`)."""
        if self._grouping is not None:
            return self._grouping
        with self.db.read() as conn:
            return self.current(conn)

    def current(self, conn: Connection) -> Grouping:
        """The published taxonomy as `conn` reads it (in a batch's transaction, after its locks), its words loaded
        if they are new to this process. Its etag and body are read in one statement when it changed."""
        row = conn.execute("SELECT etag FROM taxonomy WHERE id = 1", ()).fetchone()
        grouping = self._grouping
        if grouping is not None and grouping[0] == (row[0] if row else ""):
            return grouping
        found = conn.execute("SELECT etag, body FROM taxonomy WHERE id = 1", ()).fetchone()
        etag, body = (found[0], bytes(found[1])) if found else ("", builtin_pack_bytes("retail"))
        grouping = (etag, parse_pack(body.decode("utf-8"), "HQ's published taxonomy").vocabulary(), {})
        self._grouping = grouping
        return grouping

    @staticmethod
    def ask_extra(record: AskRecord, grouping: Grouping) -> tuple[str, float | None]:
        """What HQ adds to an ask: its demand group (with the words of `grouping`, a taxonomy read) and the value lost."""
        _, words, extras = grouping
        attributes = record.attributes
        seen = hash((record.category, record.text, record.quantity, record.outcome == FEEDBACK, *attributes.items()))
        extra = extras.get(seen)
        if extra is None:
            if len(extras) >= EXTRAS_BYTES // EXTRA_ENTRY_BYTES:
                extras.clear()
            extra = extras[seen] = (
                group_key(record.category, attributes, record.text, record.outcome, words),
                lost_value(attributes, record.quantity or 1),
            )
        return extra

    def regroup(self) -> int:
        """Give every ask its group under the published taxonomy (after a new pack is published).

        Only the asks whose group changed are written; the daily roll-ups are then
        derived again. Every other writer waits until it is done.
        """
        words = self.vocabulary()
        return self.db.retrying(lambda conn: _regroup(conn, words), exclusive=True)


def _regroup(conn: Connection, words: Vocabulary) -> int:
    changed, last = 0, ""
    moves: set[tuple[str, str]] = set()  # (old group, new group) of the asks that moved
    while True:
        page = conn.execute(
            f"SELECT id, category, attributes, text, outcome, demand_key FROM asks WHERE id > ? ORDER BY id LIMIT {REGROUP_PAGE}",
            (last,),
        ).fetchall()
        if not page:
            break
        moved = [
            (new_key, ask_id, key)
            for ask_id, category, attributes, text, outcome, key in page
            if (new_key := group_key(category, json.loads(attributes or "{}"), text or "", outcome, words)) != key
        ]
        if moved:
            conn.executemany("UPDATE asks SET demand_key = ? WHERE id = ?", [(new_key, ask_id) for new_key, ask_id, _ in moved])
            moves.update((key, new_key) for new_key, _, key in moved if key is not None)
        changed += len(moved)
        last = page[-1][0]
    if changed:
        rollups.rebuild(conn)
        responses.carry_over(conn, moves)  # HQ's answers follow the asks to their new groups
    return changed
