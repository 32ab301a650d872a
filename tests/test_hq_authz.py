"""Object-level authorization at HQ, over real HTTP to the real service, on SQLite and PostgreSQL.

HQ trusts the token, not the body: every id a record refers to must be one of the token's
store's records, or HQ refuses that record with `unknown_reference` and changes nothing. Two
stores here: B holds a customer, an ask linking them and a follow-up; A's token tries to
reach them through every reference the contract has.
"""

from __future__ import annotations

import base64
import gzip
import json
import uuid

import httpx
import msgspec
import pytest
from hq_server import HQThread

from schemas.records import AskRecord, CustomerRecord, ErasureRecord, FollowUpRecord, Uuid

SENT_AT = "2026-11-25T10:00:00.000Z"
AT = "2026-11-25T09:59:00.000Z"
TABLES = ("customers", "asks", "follow_ups", "erasures", "demand_days", "substitute_days", "associate_days")


def _id(kind: str, n: int) -> str:
    prefix = {"customer": "0c", "ask": "0a", "follow_up": "0f", "erasure": "0e"}[kind]
    return f"{prefix}000000-0000-7000-8000-{n:012x}"


def _base(kind: str, n: int, store: str, version: int) -> dict:
    return {
        "type": kind,
        "id": _id(kind, n),
        "version": version,
        "created_at": AT,
        "store_id": f"S{store}",
        "terminal_id": f"T{store}",
    }


def customer(n: int, store: str = "B", version: int = 1, **fields) -> dict:
    return {
        **_base("customer", n, store, version),
        "updated_at": AT,
        "associate": "AB",
        "name": f"Customer {n}",
        "phone": "+44 7700 900461",
        "consent_follow_up": True,
        "consent_at": AT,
        "consent_wording": "2026-1",
        **fields,
    }


def ask(n: int, store: str = "B", version: int = 1, **fields) -> dict:
    return {
        **_base("ask", n, store, version),
        "updated_at": AT,
        "associate": "AB",
        "channel": "walk-in",
        "text": f"navy rain jacket {n}",
        "outcome": "out_of_stock",
        **fields,
    }


def follow_up(n: int, ask_id: str, store: str = "B", version: int = 1, **fields) -> dict:
    return {
        **_base("follow_up", n, store, version),
        "updated_at": AT,
        "associate": "AB",
        "ask_id": ask_id,
        "due_on": "2026-12-02",
        **fields,
    }


def erasure(n: int, customer_id: str, store: str = "B", version: int = 1) -> dict:
    return {**_base("erasure", n, store, version), "customer_id": customer_id, "reason": "consent_withdrawn"}


CUSTOMER_B, ASK_B, FOLLOW_UP_B = _id("customer", 1), _id("ask", 1), _id("follow_up", 1)
ASK_A = _id("ask", 100)  # store A's own ask, for a follow-up that names it


@pytest.fixture
def hq(hq_db):
    with HQThread(hq_db) as server:
        server.tokens = {store: server.storage.add_terminal(f"S{store}", f"T{store}") for store in "ABC"}
        yield server


def post(hq, token: str, store: str, *records: dict) -> httpx.Response:
    body = {
        "schema_version": 1,
        "batch_id": str(uuid.uuid4()),
        "store_id": f"S{store}",
        "terminal_id": f"T{store}",
        "sent_at": SENT_AT,
        "records": list(records),
    }
    return httpx.post(
        f"{hq.url}/v1/batches",
        content=gzip.compress(json.dumps(body).encode()),
        timeout=30,
        headers={"Authorization": f"Bearer {token}", "Content-Encoding": "gzip", "Content-Type": "application/json"},
    )


def send(hq, store: str, *records: dict) -> list[dict]:
    """Records sent with `store`'s own token; HQ's result for each."""
    answer = post(hq, hq.tokens[store], store, *records)
    assert answer.status_code == 200, answer.text
    return answer.json()["results"]


def statuses(results: list[dict]) -> list[str]:
    return [result["status"] for result in results]


def snapshot(hq) -> dict[str, list]:
    """Everything HQ holds about records (not the batch log), as a person reading its tables would."""
    return {table: sorted(map(repr, hq.db.rows(f"SELECT * FROM {table}"))) for table in TABLES}


def store_b_holds_a_customer_an_ask_and_a_follow_up(hq) -> None:
    results = send(
        hq, "B", customer(1), ask(1, customer_id=CUSTOMER_B), follow_up(1, ASK_B, customer_id=CUSTOMER_B, note="call after 5")
    )
    assert statuses(results) == ["accepted"] * 3
    assert statuses(send(hq, "A", ask(100, store="A"))) == ["accepted"]


def store_b_is_intact(hq) -> None:
    """B's customer, the ask's link to them and the follow-up with its note are all still there.

    (Personal fields may be stored encrypted, so they are checked for presence, not read.)
    """
    assert hq.db.rows("SELECT count(*) FROM customers WHERE id = ? AND store_id = 'SB'", (CUSTOMER_B,)) == [(1,)]
    assert hq.db.rows("SELECT customer_id FROM asks WHERE id = ?", (ASK_B,)) == [(CUSTOMER_B,)]
    assert hq.db.rows("SELECT customer_id, status, note IS NOT NULL FROM follow_ups WHERE id = ?", (FOLLOW_UP_B,)) in (
        [(CUSTOMER_B, "open", 1)],
        [(CUSTOMER_B, "open", True)],
    )
    assert hq.db.rows("SELECT count(*) FROM erasures") == [(0,)]


# Every reference a record carries, and A's record that points it at store B's.
ATTACKS = {
    ("erasure", "customer_id"): lambda: erasure(101, CUSTOMER_B, store="A"),
    ("ask", "customer_id"): lambda: ask(101, store="A", customer_id=CUSTOMER_B),
    ("ask", "same_as"): lambda: ask(101, store="A", same_as=ASK_B),
    ("follow_up", "ask_id"): lambda: follow_up(101, ASK_B, store="A"),
    ("follow_up", "customer_id"): lambda: follow_up(101, ASK_A, store="A", customer_id=CUSTOMER_B),
}


def _is_uuid(kind: object) -> bool:
    kinds = kind.types if isinstance(kind, msgspec.inspect.UnionType) else (kind,)
    uuid_pattern = msgspec.inspect.type_info(Uuid).type.pattern
    return any(getattr(getattr(k, "type", k), "pattern", None) == uuid_pattern for k in kinds)


def test_every_reference_in_the_contract_is_attacked_here() -> None:
    """A reference field added to schemas/records.py fails here until it is checked at HQ and tested below."""
    references = {
        (struct.__struct_config__.tag, field.name)
        for struct in (AskRecord, CustomerRecord, FollowUpRecord, ErasureRecord)
        for field in msgspec.inspect.type_info(struct).fields
        if field.name != "id" and _is_uuid(field.type)
    }
    assert references == set(ATTACKS)


@pytest.mark.parametrize("reference", list(ATTACKS), ids="{0[0]}.{0[1]}".format)
def test_a_record_naming_another_stores_record_is_refused_and_nothing_changes(hq, reference) -> None:
    store_b_holds_a_customer_an_ask_and_a_follow_up(hq)
    before = snapshot(hq)
    attack = ATTACKS[reference]()
    [result] = send(hq, "A", attack)
    assert result["status"] == "rejected" and result["code"] == "unknown_reference", result
    assert result["id"] == attack["id"] and attack[reference[1]] in result["message"]
    assert "SB" not in result["message"] and "TB" not in result["message"]
    assert snapshot(hq) == before  # nothing of A's record, nothing of B's changed
    store_b_is_intact(hq)

    # B carries on as if nothing happened: its edits are accepted, not answered stale.
    later = send(
        hq,
        "B",
        customer(1, version=2, name="Customer 1 renamed"),
        ask(1, version=2, customer_id=CUSTOMER_B, text="olive rain jacket"),
        follow_up(1, ASK_B, version=2, customer_id=CUSTOMER_B, status="done", result="reached_bought", done_at=AT, done_by="AB"),
    )
    assert statuses(later) == ["accepted"] * 3
    assert hq.db.rows("SELECT version FROM customers WHERE id = ?", (CUSTOMER_B,)) == [(2,)]


def test_an_edit_that_adds_a_link_to_another_stores_customer_is_refused_and_the_held_version_stays(hq) -> None:
    store_b_holds_a_customer_an_ask_and_a_follow_up(hq)
    before = snapshot(hq)
    [result] = send(hq, "A", ask(100, store="A", version=2, customer_id=CUSTOMER_B, text="edited"))
    assert result["code"] == "unknown_reference"
    assert snapshot(hq) == before
    assert hq.db.rows("SELECT version, customer_id FROM asks WHERE id = ?", (ASK_A,)) == [(1, None)]


def test_only_the_refused_record_is_refused_the_rest_of_the_batch_is_stored(hq) -> None:
    store_b_holds_a_customer_an_ask_and_a_follow_up(hq)
    results = send(
        hq,
        "A",
        ask(101, store="A"),
        erasure(101, CUSTOMER_B, store="A"),
        ask(102, store="A", same_as=ASK_B),
        ask(103, store="A", same_as=_id("ask", 101)),
    )
    assert statuses(results) == ["accepted", "rejected", "rejected", "accepted"]
    assert hq.db.rows("SELECT count(*) FROM asks WHERE store_id = 'SA'") == [(3,)]
    store_b_is_intact(hq)


def test_the_refusal_reads_the_same_whichever_store_holds_the_id(hq) -> None:
    store_b_holds_a_customer_an_ask_and_a_follow_up(hq)
    customer_c = _id("customer", 7)
    assert statuses(send(hq, "C", customer(7, store="C"))) == ["accepted"]
    [of_b] = send(hq, "A", ask(101, store="A", customer_id=CUSTOMER_B))
    [of_c] = send(hq, "A", ask(101, store="A", customer_id=customer_c))
    assert of_b["code"] == of_c["code"] == "unknown_reference"
    assert of_b["message"].replace(CUSTOMER_B, "X") == of_c["message"].replace(customer_c, "X")
    assert "SC" not in of_c["message"] and "another store" not in of_c["message"]


def test_records_and_the_records_they_name_in_one_batch_are_stored_together(hq) -> None:
    customer_a, customer_gone = _id("customer", 20), _id("customer", 21)
    results = send(
        hq,
        "A",
        customer(20, store="A"),
        customer(21, store="A"),
        ask(20, store="A", customer_id=customer_a),
        ask(21, store="A", same_as=_id("ask", 20)),
        follow_up(20, _id("ask", 20), store="A", customer_id=customer_a),
        ask(22, store="A", customer_id=customer_gone),
        erasure(21, customer_gone, store="A"),
    )
    assert statuses(results) == ["accepted"] * 7
    assert hq.db.rows("SELECT id FROM customers") == [(customer_a,)]  # the erased one is gone at once
    assert hq.db.rows("SELECT customer_id FROM asks WHERE id = ?", (_id("ask", 22),)) == [(None,)]
    assert hq.db.rows("SELECT customer_id FROM follow_ups") == [(customer_a,)]


def test_a_reference_to_a_record_in_a_later_batch_is_accepted_and_linked_when_it_arrives(hq) -> None:
    """Two batches are in flight at once (sync/engine.py), so HQ may apply the asks before their customer."""
    customer_a = _id("customer", 30)
    assert (
        statuses(
            send(
                hq,
                "A",
                ask(30, store="A", customer_id=customer_a),
                follow_up(30, _id("ask", 31), store="A", customer_id=customer_a),
            )
        )
        == ["accepted"] * 2
    )
    assert statuses(send(hq, "A", customer(30, store="A"), ask(31, store="A"))) == ["accepted"] * 2
    assert hq.db.rows("SELECT customer_id FROM asks WHERE id = ?", (_id("ask", 30),)) == [(customer_a,)]
    assert statuses(send(hq, "A", ask(30, store="A", version=2, customer_id=customer_a))) == ["accepted"]


def test_an_erasure_sent_first_by_another_store_does_not_block_or_touch_the_customer(hq) -> None:
    """A erases an id before B's customer reaches HQ: A gets a tombstone of its own, B loses nothing."""
    assert statuses(send(hq, "B", ask(1, customer_id=CUSTOMER_B))) == ["accepted"]  # B's ask came first
    assert statuses(send(hq, "A", erasure(101, CUSTOMER_B, store="A"))) == ["accepted"]
    assert hq.db.rows("SELECT customer_id FROM asks WHERE id = ?", (ASK_B,)) == [(CUSTOMER_B,)]

    assert statuses(send(hq, "B", customer(1), follow_up(1, ASK_B, customer_id=CUSTOMER_B, note="call after 5"))) == [
        "accepted",
        "accepted",
    ]  # not answered stale
    assert hq.db.rows("SELECT store_id FROM erasures") == [("SA",)]
    assert statuses(send(hq, "B", customer(1, version=2, name="Customer 1 renamed"))) == ["accepted"]
    assert hq.db.rows("SELECT version FROM customers WHERE id = ?", (CUSTOMER_B,)) == [(2,)]
    # Now that B holds the customer, A's next try is refused like any other.
    [again] = send(hq, "A", erasure(102, CUSTOMER_B, store="A"))
    assert again["code"] == "unknown_reference"
    assert hq.db.rows("SELECT count(*) FROM customers") == [(1,)]


def test_a_store_erasing_its_own_customer_still_erases_them_everywhere_in_that_store(hq) -> None:
    store_b_holds_a_customer_an_ask_and_a_follow_up(hq)
    assert statuses(send(hq, "B", erasure(1, CUSTOMER_B))) == ["accepted"]
    assert hq.db.rows("SELECT count(*) FROM customers") == [(0,)]
    assert hq.db.rows("SELECT customer_id FROM asks WHERE id = ?", (ASK_B,)) == [(None,)]
    assert hq.db.rows("SELECT customer_id, status FROM follow_ups") == [(None, "cancelled")]
    assert statuses(send(hq, "B", customer(1, version=2))) == ["stale"]  # the erased customer is not stored again
    # An id erased in B is, to A, an id HQ does not hold: answered as such, B's tombstone untouched.
    assert statuses(send(hq, "A", erasure(101, CUSTOMER_B, store="A"))) == ["accepted"]
    assert sorted(hq.db.rows("SELECT store_id, customer_id FROM erasures")) == [("SA", CUSTOMER_B), ("SB", CUSTOMER_B)]


# -- which token opens which door -------------------------------------------------------------------------


def test_a_viewer_token_cannot_send_batches_or_act_as_a_terminal(hq) -> None:
    viewer = hq.storage.add_viewer("merch")
    basic = base64.b64encode(f"merch:{viewer}".encode()).decode()
    for header in (f"Bearer {viewer}", f"Basic {basic}"):
        answer = httpx.post(
            f"{hq.url}/v1/batches",
            headers={"Authorization": header},
            json={
                "schema_version": 1,
                "batch_id": str(uuid.uuid4()),
                "store_id": "SA",
                "terminal_id": "TA",
                "sent_at": SENT_AT,
                "records": [ask(1, store="A")],
            },
        )
        assert answer.status_code in (401, 403), answer.text
        assert httpx.get(f"{hq.url}/v1/whoami", headers={"Authorization": header}).status_code in (401, 403)
    assert hq.db.rows("SELECT count(*) FROM asks") == [(0,)]
    assert httpx.get(f"{hq.url}/dashboard", headers={"Authorization": f"Basic {basic}"}).status_code == 200


def test_a_terminal_token_cannot_open_the_dashboard(hq) -> None:
    token = hq.tokens["A"]
    assert httpx.get(f"{hq.url}/v1/whoami", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    for name in ("SA", "TA", "merch", ""):
        basic = base64.b64encode(f"{name}:{token}".encode()).decode()
        assert httpx.get(f"{hq.url}/dashboard", headers={"Authorization": f"Basic {basic}"}).status_code == 401
    assert httpx.get(f"{hq.url}/dashboard", headers={"Authorization": f"Bearer {token}"}).status_code == 401
