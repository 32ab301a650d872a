"""Several workers folding: a worker's background fold leaves the outbox to one that is folding already.

On PostgreSQL every `serve` worker has a Folder. One that waited for another's fold would hold a
connection meanwhile and fold nothing the other does not; it returns at once instead, and what
waits is folded by the next round or by a report's catch_up, exactly once.
"""

from __future__ import annotations

import threading

import pytest
from test_hq_evidence import chain, send
from test_hq_fold import assert_kept_equals_rebuilt

from sync.hq import fold
from sync.hq.storage import HQStorage


def test_a_background_fold_leaves_the_outbox_to_the_worker_already_folding(hq_db) -> None:
    if hq_db.kind != "postgresql":
        pytest.skip("SQLite's one writer keeps a second fold out anyway; the advisory lock is PostgreSQL's")
    with HQStorage.open(hq_db.url) as storage:
        send(storage, chain())
        assert fold.pending(storage.db)
        holding, release = threading.Event(), threading.Event()

        def another_worker_folding() -> None:
            with storage.db.write([fold.FOLD_LOCK]):
                holding.set()
                release.wait(30)

        other = threading.Thread(target=another_worker_folding)
        other.start()
        try:
            assert holding.wait(10)
            done: list[int] = []
            background = threading.Thread(target=lambda: done.append(fold.fold(storage.db, wait=False)))
            background.start()
            background.join(10)
            assert done == [0]  # back at once, having folded nothing: the other worker holds the lock
            assert fold.pending(storage.db)
        finally:
            release.set()
            other.join(10)
        fold.fold(storage.db, wait=False)  # the lock is free again: this round folds it all
        assert not fold.pending(storage.db)
        assert_kept_equals_rebuilt(hq_db, storage)
