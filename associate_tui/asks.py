"""The ask: one customer interaction, its draft form and its validation.

Shared by the capture form, the edit screen and `associate log`, so every way in
checks the same rules and says the same words when something is wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from associate_tui.errors import InvalidInput
from schemas.demand import FEEDBACK
from schemas.limits import (  # the contract's limits (schemas/records.py is built from the same)
    MAX_ASSOCIATE,
    MAX_ATTRIBUTE_VALUE,
    MAX_ATTRIBUTES,
    MAX_NOTE,
    MAX_QUANTITY,
    MAX_SUBSTITUTE,
    MAX_TEXT,
    MAX_VOID_REASON,
)
from schemas.privacy import mask
from schemas.text import clean

if TYPE_CHECKING:
    from schemas.taxonomy import Taxonomy

ASSOCIATE_CODE = re.compile(rf"^[A-Za-z0-9][A-Za-z0-9_.-]{{0,{MAX_ASSOCIATE - 1}}}$")
_ATTR_KEY = re.compile(r"^[a-z][a-z0-9_]{0,29}$")
_ATTR_PAIR = re.compile(r"([A-Za-z][\w]*)\s*=\s*(.*?)(?=\s+[A-Za-z][\w]*\s*=|$)")


@dataclass(frozen=True)
class AskDraft:
    """What the associate typed, before it becomes a saved ask."""

    text: str
    outcome: str
    category: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    substitute: str | None = None
    substitute_accepted: bool | None = None
    quantity: int = 1
    channel: str = "walk-in"
    note: str | None = None
    rating: int | None = None  # feedback (outcome 'feedback') only: 1 to 5


@dataclass(frozen=True)
class Ask:
    """A saved ask, as the local store holds it."""

    id: str
    version: int
    synced_version: int
    created_at: str
    updated_at: str
    store_id: str
    terminal_id: str
    associate: str
    channel: str
    text: str
    category: str | None
    attributes: dict[str, str]
    outcome: str
    substitute: str | None
    substitute_accepted: bool | None
    quantity: int
    note: str | None
    voided: bool
    void_reason: str | None
    customer_id: str | None = None
    same_as: str | None = None  # logged with one key as the same as this earlier ask
    rating: int | None = None  # feedback only: 1 to 5

    def draft(self) -> AskDraft:
        """The editable part of this ask."""
        return AskDraft(
            text=self.text,
            outcome=self.outcome,
            category=self.category,
            attributes=dict(self.attributes),
            substitute=self.substitute,
            substitute_accepted=self.substitute_accepted,
            quantity=self.quantity,
            channel=self.channel,
            note=self.note,
            rating=self.rating,
        )

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class FieldError:
    """One thing wrong with a draft: which field, and what to do about it."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class InvalidAsk(InvalidInput):
    """Raised when a draft does not pass validation; carries every problem found."""


def fold_spaces(value: str | None) -> str | None:
    """Control characters out, whitespace folded to single spaces; None for nothing but spaces."""
    if value is None:
        return None
    value = " ".join(clean(value).split())
    return value or None


def in_lines(value: str | None) -> str | None:
    """A field that may hold lines (a note): control characters out, lines kept, ends trimmed."""
    if value is None:
        return None
    return clean(value, lines=True).strip() or None


def normalise(draft: AskDraft) -> AskDraft:
    """Trim and fold whitespace so that what is stored is what was meant."""
    return replace(
        draft,
        text=fold_spaces(draft.text) or "",
        category=fold_spaces(draft.category),
        attributes={(fold_spaces(k) or "").lower(): fold_spaces(v) for k, v in draft.attributes.items() if fold_spaces(v)},
        substitute=fold_spaces(draft.substitute),
        note=in_lines(draft.note),
    )


def validate(draft: AskDraft, taxonomy: Taxonomy) -> list[FieldError]:
    """Every problem with a (normalised) draft, in form order; [] when it can be saved."""
    errors: list[FieldError] = []
    if not draft.text:
        errors.append(FieldError("text", "say what the customer asked for, e.g. 'blue rain jacket size M'"))
    elif len(draft.text) > MAX_TEXT:
        errors.append(FieldError("text", f"too long ({len(draft.text)} characters); keep it under {MAX_TEXT}"))
    if draft.category and taxonomy.category(draft.category) is None:
        errors.append(FieldError("category", f"unknown category '{draft.category}'; valid: {_codes(taxonomy.categories)}"))
    if len(draft.attributes) > MAX_ATTRIBUTES:
        errors.append(FieldError("attributes", f"{len(draft.attributes)} attributes; keep it to {MAX_ATTRIBUTES} at most"))
    for key, value in draft.attributes.items():
        if not _ATTR_KEY.match(key):
            errors.append(
                FieldError("attributes", f"'{key}' is not a valid attribute name; use lower-case letters, e.g. colour=blue")
            )
        elif len(value) > MAX_ATTRIBUTE_VALUE:
            errors.append(
                FieldError("attributes", f"the value of '{key}' is too long; keep it under {MAX_ATTRIBUTE_VALUE} characters")
            )
    if draft.outcome == FEEDBACK or draft.rating is not None:
        if draft.outcome != FEEDBACK:
            errors.append(FieldError("rating", "only feedback is rated; an ask takes an outcome instead"))
        elif draft.rating is None or not 1 <= draft.rating <= 5:
            errors.append(FieldError("rating", "rate what the customer said from 1 (let down) to 5 (loved it)"))
    elif not draft.outcome:
        errors.append(FieldError("outcome", "pick what happened: " + _numbered(taxonomy)))
    elif taxonomy.outcome(draft.outcome) is None:
        errors.append(FieldError("outcome", f"unknown outcome '{draft.outcome}'; valid: {_codes(taxonomy.outcomes)}"))
    if draft.substitute and len(draft.substitute) > MAX_SUBSTITUTE:
        errors.append(FieldError("substitute", f"too long; keep it under {MAX_SUBSTITUTE} characters"))
    if draft.substitute_accepted is not None and not draft.substitute:
        errors.append(FieldError("substitute", "say what was offered instead before marking it accepted or declined"))
    if not 1 <= draft.quantity <= MAX_QUANTITY:
        errors.append(FieldError("quantity", f"must be a whole number from 1 to {MAX_QUANTITY}"))
    if draft.channel not in taxonomy.channels:
        errors.append(FieldError("channel", f"unknown channel '{draft.channel}'; valid: {', '.join(taxonomy.channels)}"))
    if draft.note and len(draft.note) > MAX_NOTE:
        errors.append(FieldError("note", f"too long ({len(draft.note)} characters); keep it under {MAX_NOTE}"))
    return errors


def checked(draft: AskDraft, taxonomy: Taxonomy) -> AskDraft:
    """The normalised draft, or InvalidAsk listing everything wrong with it."""
    draft = normalise(draft)
    errors = validate(draft, taxonomy)
    if errors:
        raise InvalidAsk(errors)
    return draft


def _guard_text(value: str | None, found: list[str]) -> str | None:
    if not value:
        return value
    result = mask(value)
    found.extend(result.found)
    return result.text


def sensitive_found(draft: AskDraft) -> tuple[str, ...]:
    """What kinds of number the privacy guard will mask in this draft (for the message)."""
    found: list[str] = []
    guarded(draft, found)
    return tuple(dict.fromkeys(found))


def guarded(draft: AskDraft, found: list[str] | None = None) -> AskDraft:
    """The draft with card numbers, IBANs and SSNs masked in every free-text field."""
    found = [] if found is None else found
    return replace(
        draft,
        text=_guard_text(draft.text, found) or draft.text,
        substitute=_guard_text(draft.substitute, found),
        note=_guard_text(draft.note, found),
        attributes={key: _guard_text(value, found) or value for key, value in draft.attributes.items()},
    )


def check_associate(code: str) -> str | None:
    """A message if `code` cannot be an associate code, else None."""
    if not ASSOCIATE_CODE.match(code):
        return "use 1 to 12 letters or digits (also . _ -), starting with a letter or digit, e.g. AB or 1042"
    return None


def check_void_reason(reason: str) -> str | None:
    reason = fold_spaces(reason) or ""
    if not reason:
        return "say why this ask is voided, e.g. 'logged twice' or 'wrong store'"
    if len(reason) > MAX_VOID_REASON:
        return f"too long; keep it under {MAX_VOID_REASON} characters"
    return None


def parse_attributes(text: str) -> dict[str, str]:
    """`colour=light blue size=M` -> {'colour': 'light blue', 'size': 'M'}."""
    pairs: dict[str, str] = {}
    for key, value in _ATTR_PAIR.findall(text.strip()):
        pairs[key.lower()] = value.strip()
    return pairs


def stray_attribute_text(text: str) -> str | None:
    """Text in the attributes field that is not part of any key=value pair."""
    leftover = _ATTR_PAIR.sub("", text.strip()).strip()
    return leftover or None


def format_attributes(attributes: dict[str, str]) -> str:
    return " ".join(f"{key}={value}" for key, value in attributes.items())


def _codes(items: Any) -> str:
    return ", ".join(item.code for item in items)


def _numbered(taxonomy: Taxonomy) -> str:
    return ", ".join(f"{digit_for(i)} {o.label.lower()}" for i, o in enumerate(taxonomy.outcomes))


def digit_for(index: int) -> str:
    """The key that picks the outcome at `index`: 1..9, then 0."""
    return str((index + 1) % 10)
