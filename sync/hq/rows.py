"""Records as HQ's table rows and back: the column lists come from the record types.

Each record table's columns are its record type's fields (msgspec.structs.fields),
in the contract's order, then what HQ adds: an ask's demand group and lost value,
and every row's content hash, receive time, batch and clock skew. The fields that
SQL cannot hold as they are (booleans, JSON objects) and the times HQ checks are
found from the same types, so a field added to the contract needs no list here.
No SQL here: ingest.py writes these rows and queries.py reads them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from schemas.records import AskRecord, CustomerRecord, ErasureRecord, FollowUpRecord, Record, UtcTime
from sync.hq import vault
from sync.hq.database import StorageError

RecordType = type[AskRecord] | type[CustomerRecord] | type[FollowUpRecord] | type[ErasureRecord]
#: the record types, in the order a batch applies them (an ask may name a customer of the same batch)
RECORD_TYPES: tuple[RecordType, ...] = (CustomerRecord, AskRecord, FollowUpRecord, ErasureRecord)
TABLES: dict[RecordType, str] = {
    CustomerRecord: "customers",
    AskRecord: "asks",
    FollowUpRecord: "follow_ups",
    ErasureRecord: "erasures",
}
NOUNS: dict[RecordType, str] = {
    AskRecord: "ask",
    CustomerRecord: "customer",
    FollowUpRecord: "follow-up",
    ErasureRecord: "erasure",
}


def fields_of(kind: RecordType) -> tuple[str, ...]:
    """A record type's fields, in the contract's order: its table's first columns."""
    return tuple(field.name for field in msgspec.structs.fields(kind))


ASK_FIELDS = fields_of(AskRecord)
CUSTOMER_FIELDS = fields_of(CustomerRecord)
FOLLOW_UP_FIELDS = fields_of(FollowUpRecord)
ERASURE_FIELDS = fields_of(ErasureRecord)
#: what HQ adds to an ask: its demand group (schemas/demand.py) and the value lost
ASK_EXTRA = ("demand_key", "lost_value")
#: what HQ adds to every record it stores
HQ_FIELDS = ("content_hash", "received_at", "batch_id", "clock_skew_ms")
# Worked out once: msgspec reads a Struct's fields from its annotations at every call (2% of a worker's time under load).
_COLUMNS = {kind: fields_of(kind) + (ASK_EXTRA if kind is AskRecord else ()) + HQ_FIELDS for kind in RECORD_TYPES}


def columns_of(kind: RecordType) -> tuple[str, ...]:
    """Every column of a record type's table, in order."""
    return _COLUMNS[kind]


def _plain(info: msgspec.inspect.Type) -> msgspec.inspect.Type:
    """A field's type without its metadata, and without None when it is optional."""
    if isinstance(info, msgspec.inspect.UnionType):
        kinds = [kind for kind in info.types if not isinstance(kind, msgspec.inspect.NoneType)]
        info = kinds[0] if len(kinds) == 1 else info
    return info.type if isinstance(info, msgspec.inspect.Metadata) else info


def _fields_typed(kind: RecordType, wanted: tuple[type, ...] | msgspec.inspect.Type) -> tuple[str, ...]:
    info = msgspec.inspect.type_info(kind)
    assert isinstance(info, msgspec.inspect.StructType)
    if isinstance(wanted, tuple):
        return tuple(field.name for field in info.fields if isinstance(_plain(field.type), wanted))
    return tuple(field.name for field in info.fields if _plain(field.type) == wanted)


_JSON_TYPES = (msgspec.inspect.DictType, msgspec.inspect.ListType, msgspec.inspect.StructType)
#: each type's fields kept as 0/1 and as JSON text
BOOLEANS = {kind: _fields_typed(kind, (msgspec.inspect.BoolType,)) for kind in RECORD_TYPES}
JSON_FIELDS = {kind: _fields_typed(kind, _JSON_TYPES) for kind in RECORD_TYPES}
#: each type's times (schemas.records.UtcTime), which HQ checks against the calendar and its clock
TIME_FIELDS = {kind: _fields_typed(kind, _plain(msgspec.inspect.type_info(UtcTime))) for kind in RECORD_TYPES}


def _as_int(value: object) -> object:
    return value if value is None else int(value)  # type: ignore[call-overload]


def _as_json(value: object) -> object:
    return value if value is None else _content.encode(value).decode()


# The fields each type's row converts, by position, with their conversion (the rest go in as they are).
_CONVERTED: dict[RecordType, tuple[tuple[int, Callable[[object], object]], ...]] = {
    kind: tuple(
        (i, _as_int if name in BOOLEANS[kind] else _as_json)
        for i, name in enumerate(fields_of(kind))
        if name in BOOLEANS[kind] + JSON_FIELDS[kind]
    )
    for kind in RECORD_TYPES
}
# Each table's personal fields, sealed under their customer's key: (table, ((column position, column), ...)).
SEALED: dict[RecordType, tuple[str, tuple[tuple[int, str], ...]]] = {
    CustomerRecord: ("customers", tuple((CUSTOMER_FIELDS.index(c), c) for c in vault.CUSTOMER_COLUMNS)),
    FollowUpRecord: ("follow_ups", tuple((FOLLOW_UP_FIELDS.index(c), c) for c in vault.FOLLOW_UP_COLUMNS)),
}

_content = msgspec.json.Encoder(order="deterministic")


def encode(value: object) -> bytes:
    """JSON with keys in one order, so the same content always hashes the same."""
    return _content.encode(value)


def row_of(record: Record, keys: dict[str, vault.CustomerKey] | None = None) -> tuple[Any, ...]:
    """The record's fields as column values, in its table's column order, personal fields sealed with `keys`.

    astuple is one C call; only the few booleans and JSON fields of each type
    are converted in Python (this runs for every record HQ stores).
    """
    values = msgspec.structs.astuple(record)
    positions = _CONVERTED[type(record)]
    sealed = SEALED.get(type(record))
    if not positions and not sealed:
        return values
    converted = list(values)
    for position, convert in positions:
        converted[position] = convert(converted[position])
    if sealed:
        _seal(record, converted, keys or {})
    return tuple(converted)


def _seal(record: Record, values: list[Any], keys: dict[str, vault.CustomerKey]) -> None:
    """Seal a row's personal fields under the key of the customer they are about (vault.py).

    A follow-up names its customer; one that names none keeps its note as written,
    and one whose customer was erased keeps no note.
    """
    table, columns = SEALED[type(record)]
    owner = record.id if isinstance(record, CustomerRecord) else getattr(record, "customer_id", None)
    if owner is None:
        return
    key = keys.get(owner)
    if key is None and isinstance(record, CustomerRecord):
        raise StorageError(f"HQ has no key for customer {owner}; nothing was written. Report this as a bug.")
    for position, column in columns:
        if values[position] is not None:
            values[position] = key.seal(values[position], vault.where(table, column, record.id)) if key else None


def opened(row: dict[str, Any], key: bytes | None, table: str, columns: Sequence[str]) -> dict[str, Any]:
    """A row read back with its sealed fields opened; None where the customer's key is gone (erased)."""
    opener = vault.CustomerKey(key) if key is not None else None
    for column in columns:
        if row[column] is not None:
            row[column] = opener.open(row[column], vault.where(table, column, row["id"])) if opener else None
    return row


def as_record_fields(kind: RecordType, item: dict[str, Any]) -> dict[str, Any]:
    """A row read back with its booleans and JSON fields as the record has them (JSON gone with its key: {})."""
    for name in BOOLEANS[kind]:
        if item[name] is not None:
            item[name] = bool(item[name])
    for name in JSON_FIELDS[kind]:
        item[name] = json.loads(item[name]) if item[name] else {}
    return item
