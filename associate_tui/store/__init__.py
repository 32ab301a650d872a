"""The local database: the only SQL on the terminal, in rooms.

    connection.py  the file, pragmas (WAL, synchronous=FULL), transactions, SQLite's errors in words
    migrations.py  the schema, as numbered migrations recorded in the file
    asks.py        saving, editing, voiding and searching asks; the export
    customers.py   customers (with consent), follow-ups, erasure and retention
    insights.py    "asked before" (similar asks) and the insights screen
    outbox.py      pending records as wire JSON, HQ's answers, the quarantine, the sync state
    responses.py   HQ's answers about demand groups, the store's own figures, restocks that wake follow-ups

`Store` is one object made of those rooms, safe to share between threads. Open it
with `open_store(config)`: the app, the CLI and `associate sync` all do, so each opens
the same file with the same taxonomy vocabulary (a migration computes demand keys
with it).
"""

from __future__ import annotations

import os
from pathlib import Path

from associate_tui import config as config_module
from associate_tui.errors import (
    AskNotFound,
    CustomerNotFound,
    DiskFull,
    FollowUpNotFound,
    NewerSchema,
    StaleEdit,
    StoreBusy,
    StoreCorrupt,
    StoreError,
    StoreReadOnly,
)
from associate_tui.store.asks import AskRoom, fts_query
from associate_tui.store.connection import BUSY_TIMEOUT_MS
from associate_tui.store.customers import CustomerRoom, FollowUpPlan
from associate_tui.store.insights import (
    SIMILAR_CANDIDATES,
    SIMILAR_DAYS,
    DemandCount,
    FollowUpFeedback,
    GroupCounts,
    InsightRoom,
    Insights,
    Similar,
)
from associate_tui.store.migrations import LATEST_SCHEMA, MIGRATIONS, Migration, Migrations
from associate_tui.store.outbox import OutboxRoom, Quarantined, SyncStatus
from associate_tui.store.responses import HQAnswer, ResponseRoom, Restock, StoreFigures
from schemas.demand import Vocabulary
from schemas.taxonomy import Taxonomy, TaxonomyError

__all__ = [
    "BUSY_TIMEOUT_MS",
    "LATEST_SCHEMA",
    "MIGRATIONS",
    "SIMILAR_CANDIDATES",
    "SIMILAR_DAYS",
    "AskNotFound",
    "CustomerNotFound",
    "DemandCount",
    "DiskFull",
    "FollowUpFeedback",
    "FollowUpNotFound",
    "FollowUpPlan",
    "GroupCounts",
    "HQAnswer",
    "Insights",
    "Migration",
    "NewerSchema",
    "Quarantined",
    "Restock",
    "Similar",
    "StaleEdit",
    "Store",
    "StoreBusy",
    "StoreCorrupt",
    "StoreError",
    "StoreFigures",
    "StoreReadOnly",
    "SyncStatus",
    "fts_query",
    "open_store",
]


class Store(AskRoom, CustomerRoom, InsightRoom, OutboxRoom, ResponseRoom, Migrations):
    """The terminal's SQLite file, brought up to this app's schema when opened. Safe to share between threads."""

    def __init__(
        self, path: str | os.PathLike[str], *, migrate_to: int = LATEST_SCHEMA, vocabulary: Vocabulary | None = None
    ) -> None:
        super().__init__(path, vocabulary=vocabulary)
        try:
            self.migrate(migrate_to)
        except BaseException:
            self.close()
            raise


def open_store(config: config_module.Config, *, path: Path | None = None, taxonomy: Taxonomy | None = None) -> Store:
    """The store the config describes: its data file (or `path`), with its taxonomy's vocabulary.

    Give `taxonomy` when it is loaded already (the app, `associate log`); otherwise the
    config's pack is loaded here, and a pack that cannot be read is a ConfigError.
    """
    if taxonomy is None:
        try:
            taxonomy = config_module.load_taxonomy(config.taxonomy)
        except TaxonomyError as error:
            raise config_module.ConfigError(f"taxonomy '{config.taxonomy}' from the config: {error}") from error
    return Store(path or config_module.database_path(), vocabulary=taxonomy.vocabulary())
