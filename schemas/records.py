"""Record and batch types, version 1. Both ends validate with these definitions.

A batch is decoded in two steps so that one bad record cannot sink the others:
the envelope first (its records left raw), then each record on its own.
"""

from __future__ import annotations

import inspect
from typing import Annotated, Any, Final, Literal

import msgspec

from schemas.demand import FEEDBACK  # the outcome of feedback, which carries a rating
from schemas.limits import (
    MAX_ASSOCIATE,
    MAX_ATTRIBUTE_VALUE,
    MAX_ATTRIBUTES,
    MAX_CODE,
    MAX_CONSENT_WORDING,
    MAX_CONTACT_TIME,
    MAX_CUSTOMER_NUMBER,
    MAX_EMAIL,
    MAX_FOLLOW_UP_NOTE,
    MAX_ID,
    MAX_NAME,
    MAX_NOTE,
    MAX_PHONE,
    MAX_PREFERENCE_NOTES,
    MAX_QUANTITY,
    MAX_RESPONSE_NOTE,
    MAX_SUBSTITUTE,
    MAX_TEXT,
    MAX_VOID_REASON,
    MAX_WORD,
    MAX_WORDS,
)
from schemas.text import unsafe_character

SCHEMA_VERSION: Final = 1  # Final: the literal 1, which Batch.schema_version is
MAX_RECORDS_PER_BATCH = 1000

Uuid = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
        description="a lower-case UUID, e.g. 01a205b6-becf-7048-a499-dd27347087b8",
    ),
]
UtcTime = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$",
        description="UTC, ISO-8601 with milliseconds, e.g. 2026-11-22T14:03:07.123Z",
    ),
]
Code = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_CODE, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
MAX_VERSION = 2**31 - 1  # one more per edit: far beyond any ask's life, and within every database's INTEGER
Version = Annotated[int, msgspec.Meta(ge=1, le=MAX_VERSION, description="grows by one on every edit, void or erasure")]
Associate = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ASSOCIATE)]


class AskRecord(msgspec.Struct, tag="ask", tag_field="type", forbid_unknown_fields=True, kw_only=True):
    """One customer interaction: what was asked for and what the store could do."""

    id: Uuid
    version: Version
    created_at: UtcTime
    updated_at: UtcTime
    store_id: Id
    terminal_id: Id
    associate: Associate
    channel: Code
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_TEXT)]
    category: Code | None = None
    attributes: Annotated[
        dict[
            Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{0,29}$")],
            Annotated[str, msgspec.Meta(max_length=MAX_ATTRIBUTE_VALUE)],
        ],
        msgspec.Meta(max_length=MAX_ATTRIBUTES),
    ] = {}
    outcome: Code
    substitute: Annotated[str, msgspec.Meta(max_length=MAX_SUBSTITUTE)] | None = None
    substitute_accepted: bool | None = None
    quantity: Annotated[int, msgspec.Meta(ge=1, le=MAX_QUANTITY)] = 1
    note: Annotated[str, msgspec.Meta(max_length=MAX_NOTE)] | None = None
    voided: bool = False
    void_reason: Annotated[str, msgspec.Meta(max_length=MAX_VOID_REASON)] | None = None
    customer_id: Uuid | None = None  # who asked, if they agreed to be known; cleared by an erasure
    same_as: Uuid | None = None  # logged at the counter as "the same as" this earlier ask of the terminal's
    # Feedback (outcome `feedback`): what the customer said about a product or service, rated 1 to 5.
    rating: Annotated[int, msgspec.Meta(ge=1, le=5)] | None = None

    def __post_init__(self) -> None:
        if (self.outcome == FEEDBACK) != (self.rating is not None):
            raise ValueError(
                f"`rating` goes with outcome '{FEEDBACK}' and only with it: feedback is rated 1 to 5, an ask is not rated"
            )


Day = Annotated[str, msgspec.Meta(pattern=r"^\d{4}-\d\d-\d\d$", description="a calendar day, e.g. 2026-12-02")]
Words = Annotated[list[Annotated[str, msgspec.Meta(max_length=MAX_WORD)]], msgspec.Meta(max_length=MAX_WORDS)]
ContactChannel = Literal["phone", "sms", "email"]
FollowUpResult = Literal["reached_bought", "reached_reserved", "reached_not_interested", "not_reached", "still_unavailable"]


class Preferences(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    """What a customer likes, shown when they are attached to a new ask."""

    sizes: Words = []
    colours: Words = []
    brands: Words = []
    contact_channel: ContactChannel | None = None
    contact_time: Annotated[str, msgspec.Meta(max_length=MAX_CONTACT_TIME)] | None = None
    notes: Annotated[str, msgspec.Meta(max_length=MAX_PREFERENCE_NOTES)] | None = None


class CustomerRecord(msgspec.Struct, tag="customer", tag_field="type", forbid_unknown_fields=True, kw_only=True):
    """A customer known to one terminal. Contact details travel only with a consent."""

    id: Uuid
    version: Version
    created_at: UtcTime
    updated_at: UtcTime
    store_id: Id
    terminal_id: Id
    associate: Associate
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_NAME)]
    phone: Annotated[str, msgspec.Meta(max_length=MAX_PHONE)] | None = None
    email: Annotated[str, msgspec.Meta(max_length=MAX_EMAIL)] | None = None
    customer_number: Annotated[str, msgspec.Meta(max_length=MAX_CUSTOMER_NUMBER)] | None = None
    consent_follow_up: bool = False
    consent_marketing: bool = False
    consent_at: UtcTime | None = None
    consent_wording: Annotated[str, msgspec.Meta(max_length=MAX_CONSENT_WORDING)] | None = None
    preferences: Preferences = msgspec.field(default_factory=Preferences)


class FollowUpRecord(msgspec.Struct, tag="follow_up", tag_field="type", forbid_unknown_fields=True, kw_only=True):
    """ "Contact me when it comes in": a promise to a customer about one ask."""

    id: Uuid
    version: Version
    created_at: UtcTime
    updated_at: UtcTime
    store_id: Id
    terminal_id: Id
    associate: Associate
    ask_id: Uuid
    customer_id: Uuid | None = None
    assigned_to: Associate | None = None  # None: anyone at the store
    due_on: Day
    status: Literal["open", "done", "cancelled"] = "open"
    result: FollowUpResult | None = None
    done_at: UtcTime | None = None
    done_by: Associate | None = None
    note: Annotated[str, msgspec.Meta(max_length=MAX_FOLLOW_UP_NOTE)] | None = None
    # When a restock of the ask's demand group (HQ's, or "it came in" at the store) made it due:
    # a follow-up done as bought after this counts as won back by the restock.
    in_stock_at: UtcTime | None = None


class ErasureRecord(msgspec.Struct, tag="erasure", tag_field="type", forbid_unknown_fields=True, kw_only=True):
    """A customer's data was erased on the terminal: HQ erases it too and keeps only this tombstone."""

    id: Uuid
    version: Version
    created_at: UtcTime
    store_id: Id
    terminal_id: Id
    customer_id: Uuid
    reason: Literal["consent_withdrawn", "retention"]


# Fields added to version 1 after its first release: a terminal leaves them out while empty, so
# an HQ from before them (which refuses fields it does not know) still takes the record.
LATER_FIELDS = frozenset({"in_stock_at", "rating"})

Record = AskRecord | CustomerRecord | FollowUpRecord | ErasureRecord
RECORD_TYPES = ("ask", "customer", "follow_up", "erasure")


class BatchEnvelope(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A batch as HQ first reads it: the records stay raw, to be checked one by one."""

    schema_version: Literal[1]
    batch_id: Uuid
    store_id: Id
    terminal_id: Id
    sent_at: UtcTime
    records: Annotated[list[msgspec.Raw], msgspec.Meta(max_length=MAX_RECORDS_PER_BATCH)]


class Batch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A batch as a terminal sends it (gzip-compressed JSON)."""

    schema_version: Literal[1] = SCHEMA_VERSION
    batch_id: Uuid
    store_id: Id
    terminal_id: Id
    sent_at: UtcTime
    records: Annotated[list[Record], msgspec.Meta(max_length=MAX_RECORDS_PER_BATCH)]


Status = Literal["accepted", "duplicate", "stale", "rejected"]


class RecordResult(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    """HQ's answer for one record.

    accepted: stored; duplicate: HQ already holds this id and version;
    stale: HQ holds a higher version; rejected: see code and message.
    """

    id: str
    version: int
    status: Status
    code: str | None = None
    message: str | None = None


class BatchResult(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """HQ's answer to a batch: one result per record, in the batch's order."""

    batch_id: Uuid
    received_at: UtcTime
    clock_skew_ms: int
    results: list[RecordResult]


class WhoAmI(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Which store and terminal a token belongs to (GET /v1/whoami)."""

    store_id: Id
    terminal_id: Id


GroupStatus = Literal["reviewing", "planned", "available", "declined"]
DemandKey = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{16}$", description="a demand group's key (schemas/demand.py)")]


class GroupResponse(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """HQ's current answer about one demand group, as one store sees it (GET /v1/responses).

    `available_here`: the group is available chain-wide or at this store; `available` at
    other stores only reads as false here. `seq` is the change's number in HQ's one sequence.
    """

    demand_key: DemandKey
    seq: Annotated[int, msgspec.Meta(ge=1)]
    status: GroupStatus
    expected_on: Day | None = None
    note: Annotated[str, msgspec.Meta(max_length=MAX_RESPONSE_NOTE)] | None = None
    available_here: bool = False
    changed_at: UtcTime


class ResponsesPage(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Groups whose answer changed after the cursor `after`, oldest change first.

    Each group appears once, with its latest state, however often it changed. `cursor`
    is the next `after` (the last change in this page); `more` says another page waits.
    """

    cursor: Annotated[int, msgspec.Meta(ge=0)]
    more: bool
    responses: list[GroupResponse]


class StoreGroupCount(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One demand group's unmet asks at the token's store, every terminal counted."""

    demand_key: DemandKey
    week: Annotated[int, msgspec.Meta(ge=0)]  # the last 7 days
    month: Annotated[int, msgspec.Meta(ge=0)]  # the last 30 days


class StoreDemand(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The store's own picture (GET /v1/store-demand): its most asked unmet groups, as of a moment."""

    store_id: Id
    as_of: UtcTime
    groups: list[StoreGroupCount]


class ErrorBody(msgspec.Struct, kw_only=True):
    """Every 4xx/5xx answer from HQ: a short code for programs and words for a person."""

    error: str
    message: str


class RecordError(ValueError):
    """A record that does not fit the contract; the message names the field."""


def decode_envelope(body: bytes) -> BatchEnvelope:
    """The batch's envelope; msgspec.ValidationError / DecodeError name what is wrong."""
    return msgspec.json.decode(body, type=BatchEnvelope)


def decode_record(raw: msgspec.Raw | bytes) -> Record:
    try:
        return msgspec.json.decode(raw, type=Record)
    except (msgspec.ValidationError, msgspec.DecodeError) as error:
        raise RecordError(str(error)) from error


_LINE_FIELDS = frozenset({"note", "notes"})  # the fields a person may write in lines


def unsafe_text(record: Record) -> str | None:
    """Where a record carries a control character, as words for the terminal; None when it is clean."""
    return _unsafe_in(msgspec.to_builtins(record), "$")


def _unsafe_in(value: object, path: str, *, lines: bool = False) -> str | None:
    if isinstance(value, str):
        found = unsafe_character(value, lines=lines)
        return f"{path} holds the control character {found}" if found else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        if isinstance(key, str) and (problem := unsafe_character(key)):
            return f"{path} has a key holding the control character {problem}"
        step = f"{path}.{key}" if isinstance(key, str) else f"{path}[{key}]"
        if problem := _unsafe_in(item, step, lines=key in _LINE_FIELDS):
            return problem
    return None


def encode(value: msgspec.Struct) -> bytes:
    return msgspec.json.encode(value)


def _normalised(node: Any) -> Any:
    """Descriptions with their docstring indentation removed, whatever msgspec's version does with it."""
    if isinstance(node, dict):
        return {
            key: inspect.cleandoc(value) if key == "description" and isinstance(value, str) else _normalised(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_normalised(item) for item in node]
    return node


def json_schemas() -> dict[str, dict]:
    """The checked-in JSON Schema files, by file name (independent of msgspec's patch version)."""
    types = {
        "batch.schema.json": Batch,
        "batch_result.schema.json": BatchResult,
        "whoami.schema.json": WhoAmI,
        "responses.schema.json": ResponsesPage,
        "store_demand.schema.json": StoreDemand,
        "error.schema.json": ErrorBody,
    }
    return {name: _normalised(msgspec.json.schema(kind)) for name, kind in types.items()}
