"""Hypothesis throws malformed input at the real HQ: always a 4xx with words, never a 500, nothing half-stored.

Each example is sent over loopback HTTP to one HQ started for the test. After
every answer, HQ's asks table holds exactly what HQ said it accepted.
"""

from __future__ import annotations

import gzip
import json

import httpx
import pytest
from hq_server import HQThread
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_hq import ask, batch

pytestmark = pytest.mark.slow  # end to end: real HQ processes, faults, generated calls (the slow tier)

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
ENVELOPE_FIELDS = list(batch())
RECORD_FIELDS = list(ask())


@st.composite
def broken_batches(draw) -> bytes | dict:
    """A valid batch of a few records with one to three things wrong with it, or plain junk."""
    kind = draw(st.sampled_from(["junk", "json", "envelope", "record", "record", "record"]))
    if kind == "junk":
        return draw(st.binary(max_size=2000))
    if kind == "json":
        return json.dumps(draw(JSON)).encode()
    records = [ask(draw(st.integers(1, 10**9))) for _ in range(draw(st.integers(1, 4)))]
    body = batch(*records, batch_n=draw(st.integers(1, 10**9)))
    for _ in range(draw(st.integers(1, 3))):
        target = body if kind == "envelope" else draw(st.sampled_from(records))
        fields = ENVELOPE_FIELDS if target is body else RECORD_FIELDS
        change = draw(st.sampled_from(["replace", "delete", "add", "huge", "time", "number"]))
        name = draw(st.sampled_from(fields))
        if change == "replace":
            target[name] = draw(JSON)
        elif change == "delete":
            target.pop(name, None)
        elif change == "add":
            target[draw(st.text(min_size=1, max_size=12))] = draw(JSON)
        elif change == "number":  # counts far outside any database's INTEGER
            name = draw(st.sampled_from(["schema_version"] if target is body else ["version", "quantity"]))
            target[name] = draw(st.integers(min_value=-(2**70), max_value=2**70))
        elif change == "time":  # the right shape, maybe not a real moment
            name = draw(st.sampled_from(["sent_at"] if target is body else ["created_at", "updated_at"]))
            target[name] = draw(st.from_regex(r"\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\Z"))
        else:
            target[name] = "x" * draw(st.integers(300, 100_000))
    return body


def asks_held(db) -> dict[str, int]:
    return dict(db.rows("SELECT id, version FROM asks"))


def test_malformed_input_is_always_a_clear_4xx_and_never_half_stored(hq_db) -> None:
    with HQThread(hq_db) as hq:
        token = hq.storage.add_terminal("S1", "T1")
        with httpx.Client(base_url=hq.url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:

            @settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
            @given(body=broken_batches(), zipped=st.booleans())
            def check(body: bytes | dict, zipped: bool) -> None:
                raw = body if isinstance(body, bytes) else json.dumps(body).encode()
                content = gzip.compress(raw) if zipped else raw
                headers = {"Content-Encoding": "gzip"} if zipped else {}
                before = asks_held(hq.db)
                answer = http.post("/v1/batches", content=content, headers={"Content-Type": "application/json", **headers})
                assert answer.status_code < 500, answer.text
                if answer.status_code == 200:
                    expected = dict(before)
                    for result in answer.json()["results"]:
                        if result["status"] == "accepted":
                            expected[result["id"]] = result["version"]
                        elif result["status"] == "rejected":
                            assert result["code"] and result["message"]
                    assert asks_held(hq.db) == expected  # what HQ said it took, and nothing else
                else:
                    assert 400 <= answer.status_code < 500
                    error = answer.json()
                    assert error["error"] and len(error["message"]) > 10
                    assert asks_held(hq.db) == before

            check()
            assert http.get("/v1/health").status_code == 200
