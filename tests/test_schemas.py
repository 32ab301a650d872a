"""The wire contract (schemas/): checked-in JSON Schema is current, bad records fail alone."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from associate_tui.asks import AskDraft
from associate_tui.ids import utc_now, uuid7
from associate_tui.store import Store
from schemas.records import (
    MAX_RECORDS_PER_BATCH,
    AskRecord,
    Batch,
    RecordError,
    decode_envelope,
    decode_record,
    encode,
    json_schemas,
)

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"


def test_checked_in_json_schema_files_are_current() -> None:
    for name, schema in json_schemas().items():
        on_disk = json.loads((SCHEMAS / name).read_text())
        assert on_disk == schema, f"{name} is out of date: run `python -m schemas` and commit the result"


def ask_record(db_path: Path, **overrides) -> dict:
    with Store(db_path) as store:
        ask = store.add_ask(
            AskDraft(
                text="navy rain jacket size M",
                outcome="out_of_stock",
                category="clothing.outerwear",
                attributes={"colour": "navy", "size": "M"},
                substitute="black parka",
                substitute_accepted=False,
            ),
            store_id="S1",
            terminal_id="T1",
            associate="AB",
        )
    fields = ask.as_dict()
    del fields["synced_version"]  # terminal bookkeeping, never sent
    return {"type": "ask", **fields, **overrides}


def test_an_ask_from_the_store_fits_the_contract_and_round_trips(db_path) -> None:
    record = ask_record(db_path)
    decoded = decode_record(json.dumps(record).encode())
    assert isinstance(decoded, AskRecord)
    assert json.loads(encode(decoded)) == record


def test_one_bad_record_fails_alone_with_the_field_named(db_path) -> None:
    good = ask_record(db_path)
    body = json.dumps(
        {
            "schema_version": 1,
            "batch_id": uuid7(),
            "store_id": "S1",
            "terminal_id": "T1",
            "sent_at": utc_now(),
            "records": [good, {**good, "id": uuid7(), "quantity": "two"}, {**good, "id": uuid7(), "colour_of_bag": "x"}],
        }
    ).encode()
    envelope = decode_envelope(body)
    outcomes = []
    for raw in envelope.records:
        try:
            outcomes.append(decode_record(raw).id)
        except RecordError as error:
            outcomes.append(str(error))
    assert outcomes[0] == good["id"]
    assert "quantity" in outcomes[1] and "int" in outcomes[1]
    assert "colour_of_bag" in outcomes[2]


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"schema_version": 2}, "schema_version"),
        ({"batch_id": "not-a-uuid"}, "batch_id"),
        ({"sent_at": "yesterday"}, "sent_at"),
        ({"records": [{}] * (MAX_RECORDS_PER_BATCH + 1)}, "records"),
        ({"extra": 1}, "extra"),
    ],
)
def test_a_bad_envelope_is_refused_naming_the_field(change, says) -> None:
    body = {"schema_version": 1, "batch_id": uuid7(), "store_id": "S1", "terminal_id": "T1", "sent_at": utc_now(), "records": []}
    body.update(change)
    with pytest.raises(msgspec.ValidationError, match=says):
        decode_envelope(json.dumps(body).encode())


def test_the_typed_batch_encodes_to_what_the_envelope_reads(db_path) -> None:
    record = decode_record(json.dumps(ask_record(db_path)).encode())
    batch = Batch(batch_id=uuid7(), store_id="S1", terminal_id="T1", sent_at=utc_now(), records=[record])
    envelope = decode_envelope(encode(batch))
    assert [decode_record(raw) for raw in envelope.records] == [record]


def test_the_contract_imports_nothing_of_ours() -> None:
    import subprocess
    import sys

    code = "import sys, schemas.records; sys.exit(any(m.startswith(('associate_tui', 'sync')) for m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], cwd=SCHEMAS.parent).returncode == 0


def test_feedback_is_rated_1_to_5_and_only_feedback_is_rated(db_path) -> None:
    from associate_tui.asks import InvalidAsk, checked
    from associate_tui.config import load_taxonomy

    taxonomy = load_taxonomy("retail")
    loved = checked(AskDraft(text="the wool coat fits perfectly", outcome="feedback", rating=5), taxonomy)
    with Store(db_path) as store:
        saved = store.add_ask(loved, store_id="S1", terminal_id="T1", associate="AB")
        [(_, _, _, body)] = store.pending_records()
    assert saved.rating == 5 and decode_record(body).rating == 5
    for draft, words in (
        (AskDraft(text="zip broke", outcome="feedback"), "rate what the customer said from 1"),
        (AskDraft(text="zip broke", outcome="feedback", rating=6), "rate what the customer said from 1"),
        (AskDraft(text="navy jacket", outcome="out_of_stock", rating=2), "only feedback is rated"),
    ):
        with pytest.raises(InvalidAsk, match=words):
            checked(draft, taxonomy)
    # HQ refuses the same, naming the rule.
    for overrides in ({"outcome": "feedback", "rating": None}, {"rating": 3}, {"outcome": "feedback", "rating": 0}):
        with pytest.raises(RecordError, match="rating"):
            decode_record(json.dumps(ask_record(db_path, **overrides)).encode())
