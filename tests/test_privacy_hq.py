"""HQ's own pass of the privacy guard over a customer's free fields: an older terminal cannot leak a card there."""

from __future__ import annotations

import gzip
import json
import uuid
from datetime import UTC, datetime

import httpx
from hq_server import HQDatabase, HQThread, add_terminal

from sync.hq.storage import HQStorage


def _customers_at_hq(hq_db: HQDatabase) -> list[dict]:
    """The customers as HQ holds them, their sealed personal fields opened."""
    with HQStorage.open(hq_db.url) as storage:
        return list(storage.iter_customers())


def test_hq_masks_card_numbers_in_a_customers_number_sizes_colours_and_brands(hq_db) -> None:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    customer = {
        "type": "customer",
        "id": str(uuid.uuid4()),
        "version": 1,
        "created_at": now,
        "updated_at": now,
        "store_id": "S1",
        "terminal_id": "T1",
        "associate": "AB",
        "name": "Old Terminal",
        "customer_number": "5555 5555 5555 4444",
        "preferences": {
            "sizes": ["M", "4111.1111.1111.1111"],
            "colours": ["navy 4012888888881881"],
            "brands": ["Barbour", "visa378282246310005"],
        },
    }
    batch = {
        "schema_version": 1,
        "batch_id": str(uuid.uuid4()),
        "store_id": "S1",
        "terminal_id": "T1",
        "sent_at": now,
        "records": [customer],
    }
    with HQThread(hq_db) as hq:
        token = add_terminal(hq.storage, "S1", "T1")
        answer = httpx.post(
            f"{hq.url}/v1/batches",
            content=gzip.compress(json.dumps(batch).encode()),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Content-Encoding": "gzip"},
        )
    assert answer.status_code == 200 and answer.json()["results"][0]["status"] == "accepted", answer.text
    [held] = _customers_at_hq(hq_db)
    assert held["customer_number"] == "5555 55** **** 4444"
    assert held["preferences"]["sizes"] == ["M", "4111.11**.****.1111"]
    assert held["preferences"]["colours"] == ["navy 401288******1881"]
    assert held["preferences"]["brands"] == ["Barbour", "visa378282*****0005"]
    stored = hq_db.contents().replace(b" ", b"").replace(b".", b"")
    for card in (b"5555555555554444", b"4111111111111111", b"4012888888881881", b"378282246310005"):
        assert card not in stored, card
