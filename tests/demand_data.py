"""A generated chain: several stores, three weeks of asks, demand groups known in advance.

Each true group is asked in several wordings (the same thing said differently)
and sits next to groups that differ only by colour or size, so a report that
merges them, or splits one, ranks wrongly. The texts go through the retail
taxonomy exactly as a terminal would recognise them.
"""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta, timezone

from schemas.taxonomy import load_pack
from schemas.times import format_utc

RETAIL = load_pack("retail")
UNTIL = datetime(2026, 11, 23, tzinfo=timezone.utc)  # a Monday 00:00: the report covers 16-22 Nov
STORES = ("S01", "S02", "S03", "S04", "S05", "S06")

# name: (wordings, outcome, asks this week, asks the week before, stores it is asked in, substitute, price)
GROUPS: dict[str, tuple] = {
    "navy rain jacket M": (
        ("navy rain jacket size M", "Rain jackets in navy, M", "rain jacket, navy blue, size M"),
        "out_of_stock",
        40,
        20,
        5,
        ("grey parka", 0.25),
        "89.99",
    ),
    "brown boots UK 9": (("brown leather boots UK 9", "leather boot brown UK 9"), "not_carried", 30, 10, 4, None, None),
    "black rain jacket M": (("black rain jacket size M", "rain jackets black M"), "out_of_stock", 25, 25, 3, None, "89.99"),
    "navy rain jacket L": (("navy rain jacket size L",), "out_of_stock", 15, 16, 2, None, None),
    "grey wool scarf": (
        ("grey wool scarf", "wool scarves in grey"),
        "substituted",
        10,
        10,
        6,
        ("grey cashmere scarf", 0.8),
        None,
    ),
    "red dress S": (("red dress size S",), "too_expensive", 6, 0, 2, None, None),
    # Met demand and voided asks never count as unmet.
    "white linen shirt": (("white linen shirt size L",), "found", 50, 50, 6, None, None),
}
EXPECTED_ORDER = [
    "navy rain jacket M",
    "brown boots UK 9",
    "black rain jacket M",
    "navy rain jacket L",
    "grey wool scarf",
    "red dress S",
]


def ask_record(
    text: str,
    outcome: str,
    store: str,
    created: datetime,
    rng: random.Random,
    *,
    substitute: tuple[str, float] | None = None,
    price: str | None = None,
    voided: bool = False,
) -> dict:
    categories = RETAIL.suggest_categories(text)
    attributes = RETAIL.recognise(text)
    if price:
        attributes["price"] = price
    accepted = None
    if substitute:
        accepted = rng.random() < substitute[1]
    when = format_utc(created)
    return {
        "type": "ask",
        "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "version": 1,
        "created_at": when,
        "updated_at": when,
        "store_id": store,
        "terminal_id": "T1",
        "associate": rng.choice(("AB", "CD", "EF")),
        "channel": "walk-in",
        "text": text,
        "category": categories[0].code if categories else None,
        "attributes": attributes,
        "outcome": outcome,
        "substitute": substitute[0] if substitute else None,
        "substitute_accepted": accepted,
        "quantity": 1,
        "note": None,
        "voided": voided,
        "void_reason": "logged twice" if voided else None,
    }


def generate(seed: int = 7) -> list[dict]:
    """Every ask of the chain over the two weeks before UNTIL (and a few older), in random order."""
    rng = random.Random(seed)
    records: list[dict] = []
    for name, (wordings, outcome, this_week, last_week, spread, substitute, price) in GROUPS.items():
        stores = STORES[:spread]
        for week_start, count in ((UNTIL - timedelta(days=7), this_week), (UNTIL - timedelta(days=14), last_week)):
            for i in range(count):
                created = week_start + timedelta(seconds=rng.randrange(7 * 86400))
                records.append(
                    ask_record(
                        wordings[i % len(wordings)],
                        outcome,
                        stores[i % len(stores)],
                        created,
                        rng,
                        substitute=substitute,
                        price=price,
                    )
                )
    # Voided asks: a hundred "navy rain jacket L" logged by mistake must not lift it.
    for i in range(100):
        records.append(
            ask_record("navy rain jacket size L", "out_of_stock", "S01", UNTIL - timedelta(days=1, seconds=i), rng, voided=True)
        )
    # Every store of the chain logs up to the last day (S07, in the test, is the one that stopped).
    for store in STORES:
        records.append(ask_record("white linen shirt size L", "found", store, UNTIL - timedelta(hours=1), rng))
    rng.shuffle(records)
    return records
