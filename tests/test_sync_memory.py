"""The sync process stays flat with the backlog: nothing of a sent batch outlives it (issue 18).

httpx's response and its stream refer to each other: left so, every batch (its request body,
HQ's answer) waited for a full garbage collection, which a long drain runs rarely, and the
process grew with the backlog (bench/bench_sync.py --memory measures it).
"""

from __future__ import annotations

import gc

import httpx
from test_sync_engine import FakeHQ, client_for

from associate_tui.store import Store
from sync.engine import Identity, sync_once


def cyclic_garbage(action) -> list[object]:
    """What `action` leaves that only the cycle collector would free."""
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        action()
        gc.collect()
        return list(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


def test_a_drain_leaves_no_batch_for_the_garbage_collector(db_path) -> None:
    from associate_tui.asks import AskDraft

    with Store(db_path) as store:
        for i in range(30):
            store.add_ask(AskDraft(f"navy jacket {i}", "out_of_stock"), store_id="S1", terminal_id="T1", associate="AB")
        fake = FakeHQ()
        with client_for(fake) as client:
            left = cyclic_garbage(lambda: sync_once(store, client, Identity("S1", "T1"), batch_records=5))
        assert len(fake.batches) == 6 and store.sync_status().pending == 0
    kept = [type(thing).__qualname__ for thing in left if type(thing).__module__.startswith(("httpx", "httpcore"))]
    assert kept == []


def test_every_call_to_hq_frees_its_response_at_once() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(304) if request.url.path == "/v1/taxonomy" else httpx.Response(404, json={"message": "no"})

    from sync.client import HQClient

    with HQClient("http://hq.test", "at1_test", transport=httpx.MockTransport(answer)) as client:
        left = cyclic_garbage(lambda: [client.taxonomy("etag-1"), client.responses(0), client.store_demand()])
    assert not [thing for thing in left if isinstance(thing, httpx.Response)]
