"""HQ's database, one face over its rooms: terminals and viewers (auth.py), ingest (ingest.py),
reports (queries.py, groups.py for one group's page, feedback.py for what customers said), the
published taxonomy (packs.py) and HQ's answers to demand groups (responses.py).

HQ speaks SQL only in those rooms, in the SQL that SQLite and PostgreSQL share
(`sqlite:///abs/path.db` or `postgresql://user@host/dbname`; database.py connects
to either). A batch is applied in one transaction and committed before the service
answers, so an answer the terminal received is always true; on PostgreSQL several
HQ processes apply batches at once, each holding the lock of the terminal it writes for.
"""

from __future__ import annotations

import os
from pathlib import Path

from sync.hq import schema
from sync.hq.auth import Terminal, TerminalExists, TerminalNotFound, Terminals, Viewers
from sync.hq.database import Database, StorageBusy, StorageError, connect
from sync.hq.feedback import Feedback
from sync.hq.groups import Groups
from sync.hq.ingest import Ingest, Received, may_hold_control
from sync.hq.packs import Packs, Published, etag_of
from sync.hq.queries import Queries
from sync.hq.responses import Responses
from sync.hq.rows import ASK_FIELDS, CUSTOMER_FIELDS, ERASURE_FIELDS, FOLLOW_UP_FIELDS

__all__ = [
    "ASK_FIELDS",
    "CUSTOMER_FIELDS",
    "ERASURE_FIELDS",
    "FOLLOW_UP_FIELDS",
    "HQStorage",
    "Published",
    "Received",
    "StorageBusy",
    "StorageError",
    "Terminal",
    "TerminalExists",
    "TerminalNotFound",
    "default_url",
    "etag_of",
    "may_hold_control",
]


def default_url() -> str:
    override = os.environ.get("ASSOCIATE_HQ_DB")
    if override:
        return override
    import platformdirs

    return f"sqlite:///{Path(platformdirs.user_data_dir('associate-hq', appauthor=False)) / 'hq.db'}"


class HQStorage:
    """HQ's database, SQLite or PostgreSQL; safe to share between the threads of a process.

    Its methods are the rooms' own; a caller that needs one room may use it directly
    (`storage.queries`, `storage.packs`, ...).
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self.terminals = Terminals(db)
        self.viewers = Viewers(db)
        self.packs = Packs(db)
        self.ingest = Ingest(db, self.packs)
        self.queries = Queries(db)
        self.responses = Responses(db)
        self.groups = Groups(db)  # one demand group's numbers, for its dashboard page
        self.feedback = Feedback(db)  # what customers said, rated 1 to 5, per product group
        # terminals and their tokens
        self.add_terminal = self.terminals.add_terminal
        self.authenticate = self.terminals.authenticate
        self.list_terminals = self.terminals.list_terminals
        self.revoke = self.terminals.revoke
        # dashboard viewers
        self.add_viewer = self.viewers.add_viewer
        self.authenticate_viewer = self.viewers.authenticate_viewer
        self.list_viewers = self.viewers.list_viewers
        self.revoke_viewer = self.viewers.revoke_viewer
        # batches
        self.apply_batch = self.ingest.apply_batch
        # the taxonomy and demand groups
        self.publish_taxonomy = self.packs.publish_taxonomy
        self.taxonomy = self.packs.taxonomy
        self.taxonomy_pack = self.packs.taxonomy_pack
        self.regroup = self.packs.regroup
        # reading back and reports
        self.count_asks = self.queries.count_asks
        self.count_rows = self.queries.count_rows
        self.iter_asks = self.queries.iter_asks
        self.iter_customers = self.queries.iter_customers
        self.iter_follow_ups = self.queries.iter_follow_ups
        self.follow_up_outcomes = self.queries.follow_up_outcomes
        self.demand_groups = self.queries.demand_groups
        self.unmet_per_day = self.queries.unmet_per_day
        self.substitutes = self.queries.substitutes
        self.store_activity = self.queries.store_activity

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
                _check_schema(db)
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


def _check_schema(db: Database) -> None:
    """Refuse, in words, a database at another schema than this release's."""
    version = schema.current_version(db)
    if version != schema.LATEST_SCHEMA:
        newer = version > schema.LATEST_SCHEMA
        raise StorageError(
            f"HQ's database {db.where} is at schema {version}, "
            + (
                f"newer than this associate-hq ({schema.LATEST_SCHEMA}); upgrade associate-hq."
                if newer
                else f"this associate-hq needs {schema.LATEST_SCHEMA}: run associate-hq db upgrade."
            )
        )
