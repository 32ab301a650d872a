"""HQ served with part of its work taken out, to say where a drain's time goes (bench_sync.py runs it).

    python bench/floor_hq.py floor serve --db sqlite:///... --port N     # the stack alone
    python bench/floor_hq.py unfolded serve --db sqlite:///... --port N  # HQ, its roll-ups never folded

`floor`: the same `associate-hq serve` (uvicorn, the token check, gunzip) answering each batch after
decoding it against the contract (msgspec), one `executemany` of its asks' rows into the asks table and
the commit, every record answered accepted. Left out: the store and terminal check, the times' check,
the duplicate and version check, the content hash, the privacy guard, the demand group, the batch's
log, the outbox and the roll-ups. Asks only (bench_sync sends nothing else).
`unfolded`: the real HQ with its fold never run (the outbox fills), so the fold's share shows.
One worker only (`--workers` would start workers that import HQ afresh, unchanged). Never used by HQ.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from schemas.records import Batch, BatchResult, RecordResult  # noqa: E402
from schemas.times import format_utc  # noqa: E402
from sync.hq import app, fold  # noqa: E402
from sync.hq.cli import main  # noqa: E402
from sync.hq.rows import ASK_FIELDS, HQ_FIELDS  # noqa: E402
from sync.hq.storage import HQStorage  # noqa: E402

_decoder = msgspec.json.Decoder(Batch)
_COLUMNS = ASK_FIELDS + HQ_FIELDS
_INSERT = f"INSERT INTO asks ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
_ATTRIBUTES = ASK_FIELDS.index("attributes")


def _row(ask: msgspec.Struct, received_at: str, batch_id: str) -> tuple:
    values = msgspec.structs.astuple(ask)  # ASK_FIELDS' order: the contract's
    attributes = msgspec.json.encode(values[_ATTRIBUTES]).decode()
    return (*values[:_ATTRIBUTES], attributes, *values[_ATTRIBUTES + 1 :], "0" * 64, received_at, batch_id, 0)


def floor_ingest(storage: HQStorage, store_id: str, terminal_id: str, body: bytes, encoding: str, max_inflated: int) -> bytes:
    """A batch of asks decoded, inserted and committed; nothing else."""
    body = app.inflate(body, encoding, max_inflated)
    received_at = format_utc(datetime.now(timezone.utc))
    batch = _decoder.decode(body)
    rows = [_row(ask, received_at, batch.batch_id) for ask in batch.records]
    with storage.db.write() as conn:
        conn.executemany(_INSERT, rows)
    results = [RecordResult(id=r.id, version=r.version, status="accepted") for r in batch.records]
    return msgspec.json.encode(BatchResult(batch_id=batch.batch_id, received_at=received_at, clock_skew_ms=0, results=results))


if __name__ == "__main__":
    mode = sys.argv.pop(1)
    if mode == "floor":
        app._ingest = floor_ingest
    elif mode == "unfolded":
        fold.pending = lambda db: False  # neither the Folder nor a report's catch_up ever folds
    else:
        raise SystemExit(f"floor_hq.py: the first argument is `floor` or `unfolded`, not {mode!r}")
    sys.argv[0] = "associate-hq"
    sys.exit(main())
