"""Customers, their preferences and consent, and follow-ups: the types and their rules.

Shared by the screens, the CLI and the store, so every way in checks the same
rules. Contact details (phone, email) are kept only with a recorded consent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

from associate_tui.asks import FieldError, fold_spaces, in_lines
from associate_tui.errors import InvalidInput
from schemas.limits import (  # the contract's limits (schemas/records.py is built from the same)
    MAX_CONTACT_TIME,
    MAX_CUSTOMER_NUMBER,
    MAX_EMAIL,
    MAX_NAME,
    MAX_PREFERENCE_NOTES,
    MAX_WORD,
    MAX_WORDS,
)
from schemas.privacy import mask

CONTACT_CHANNELS = ("phone", "sms", "email")
_EMAIL = re.compile(
    r"^[^@\s]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
_PHONE_CHARS = re.compile(r"^\+?[0-9 ()./-]+$")
# `*` too: a number the privacy guard masked must still pass when the customer is saved again.
_CUSTOMER_NUMBER = re.compile(rf"^[A-Za-z0-9][A-Za-z0-9 ._/*-]{{0,{MAX_CUSTOMER_NUMBER - 1}}}$")

# Results of a follow-up, in the order the done dialog offers them (digits 1-5).
FOLLOW_UP_RESULTS: tuple[tuple[str, str], ...] = (
    ("reached_bought", "Reached: bought"),
    ("reached_reserved", "Reached: reserved"),
    ("reached_not_interested", "Reached: not interested"),
    ("not_reached", "Not reached"),
    ("still_unavailable", "Item still unavailable"),
)
WON_BACK = ("reached_bought", "reached_reserved")


class InvalidCustomer(InvalidInput):
    """A customer draft that cannot be saved; carries every problem found."""


@dataclass(frozen=True)
class Preferences:
    sizes: tuple[str, ...] = ()
    colours: tuple[str, ...] = ()
    brands: tuple[str, ...] = ()
    contact_channel: str | None = None
    contact_time: str | None = None
    notes: str | None = None

    def as_wire(self) -> dict:
        """Only what is set, as the contract's Preferences (schemas/records.py)."""
        data: dict = {}
        for name in ("sizes", "colours", "brands"):
            if getattr(self, name):
                data[name] = list(getattr(self, name))
        for name in ("contact_channel", "contact_time", "notes"):
            if getattr(self, name):
                data[name] = getattr(self, name)
        return data

    @classmethod
    def from_wire(cls, data: dict) -> Preferences:
        return cls(
            sizes=tuple(data.get("sizes", ())),
            colours=tuple(data.get("colours", ())),
            brands=tuple(data.get("brands", ())),
            contact_channel=data.get("contact_channel"),
            contact_time=data.get("contact_time"),
            notes=data.get("notes"),
        )

    def summary(self) -> str:
        """'size M, 10 · navy · Barbour · prefers sms, after 5pm · note' for one line."""
        parts = []
        if self.sizes:
            parts.append("size " + ", ".join(self.sizes))
        if self.colours:
            parts.append(", ".join(self.colours))
        if self.brands:
            parts.append(", ".join(self.brands))
        if self.contact_channel or self.contact_time:
            parts.append("prefers " + ", ".join(p for p in (self.contact_channel, self.contact_time) if p))
        if self.notes:
            parts.append(self.notes)
        return " · ".join(parts)


@dataclass(frozen=True)
class CustomerDraft:
    name: str
    phone: str | None = None
    email: str | None = None
    customer_number: str | None = None
    consent_follow_up: bool = False
    consent_marketing: bool = False
    preferences: Preferences = field(default_factory=Preferences)


@dataclass(frozen=True)
class Customer:
    id: str
    version: int
    synced_version: int
    created_at: str
    updated_at: str
    store_id: str
    terminal_id: str
    associate: str
    name: str
    phone: str | None
    email: str | None
    customer_number: str | None
    consent_follow_up: bool
    consent_marketing: bool
    consent_at: str | None
    consent_wording: str | None
    preferences: Preferences
    last_activity_at: str

    def draft(self) -> CustomerDraft:
        return CustomerDraft(
            name=self.name,
            phone=self.phone,
            email=self.email,
            customer_number=self.customer_number,
            consent_follow_up=self.consent_follow_up,
            consent_marketing=self.consent_marketing,
            preferences=self.preferences,
        )

    @property
    def contact(self) -> str:
        return " / ".join(part for part in (self.phone, self.email) if part)


@dataclass(frozen=True)
class FollowUp:
    """A follow-up as the follow-up screen shows it: with its ask and customer."""

    id: str
    version: int
    ask_id: str
    customer_id: str | None
    associate: str
    assigned_to: str | None
    due_on: str
    status: str
    result: str | None
    done_at: str | None
    note: str | None
    ask_text: str
    customer_name: str | None
    customer_contact: str | None
    contact_preference: str | None
    in_stock_at: str | None = None  # UTC: a restock of the ask's group made it due ("in stock now")


def _words(values: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    out: list[str] = []
    for value in values:
        value = fold_spaces(value) or ""
        if value and value.lower() not in (v.lower() for v in out):
            out.append(value)
    return tuple(out)


def split_words(text: str) -> tuple[str, ...]:
    """'M, 10 ,navy' -> ('M', '10', 'navy'): how a person types a list into one field."""
    return _words(text.split(","))


def normalise(draft: CustomerDraft) -> CustomerDraft:
    prefs = draft.preferences
    email = fold_spaces(draft.email)
    if email and "@" in email:
        local, _, domain = email.rpartition("@")
        email = f"{local}@{domain.lower()}"
    return replace(
        draft,
        name=fold_spaces(draft.name) or "",
        phone=fold_spaces(draft.phone),
        email=email,
        customer_number=fold_spaces(draft.customer_number),
        preferences=replace(
            prefs,
            sizes=_words(prefs.sizes),
            colours=_words(prefs.colours),
            brands=_words(prefs.brands),
            contact_channel=prefs.contact_channel or None,
            contact_time=fold_spaces(prefs.contact_time),
            notes=in_lines(prefs.notes),
        ),
    )


def validate(draft: CustomerDraft) -> list[FieldError]:
    errors: list[FieldError] = []
    if not draft.name:
        errors.append(FieldError("name", "give the customer's name, e.g. 'Jane Doe' (or how they want to be called)"))
    elif len(draft.name) > MAX_NAME:
        errors.append(FieldError("name", f"too long; keep it under {MAX_NAME} characters"))
    if draft.phone:
        digits = sum(char.isdigit() for char in draft.phone)
        if not _PHONE_CHARS.match(draft.phone) or not 6 <= digits <= 15:
            errors.append(
                FieldError(
                    "phone",
                    "a phone number has 6 to 15 digits (spaces, dashes, brackets and a leading + are fine), e.g. +44 7700 900123",
                )
            )
    if draft.email and (len(draft.email) > MAX_EMAIL or not _EMAIL.match(draft.email)):
        errors.append(FieldError("email", "an email address looks like name@example.com"))
    if draft.customer_number and not _CUSTOMER_NUMBER.match(draft.customer_number):
        errors.append(
            FieldError(
                "customer_number", f"use letters, digits, spaces and . _ / - (at most {MAX_CUSTOMER_NUMBER}), e.g. LOY-102938"
            )
        )
    if (draft.phone or draft.email) and not (draft.consent_follow_up or draft.consent_marketing):
        errors.append(
            FieldError(
                "consent",
                "contact details are kept only with the customer's consent: tick follow-up or marketing, or leave phone and email empty",
            )
        )
    if draft.consent_follow_up and not (draft.phone or draft.email):
        errors.append(FieldError("consent", "to follow up we need a phone number or an email address"))
    prefs = draft.preferences
    for name in ("sizes", "colours", "brands"):
        values = getattr(prefs, name)
        if len(values) > MAX_WORDS or any(len(v) > MAX_WORD for v in values):
            errors.append(FieldError(name, f"at most {MAX_WORDS} entries of {MAX_WORD} characters, separated by commas"))
    if prefs.contact_channel and prefs.contact_channel not in CONTACT_CHANNELS:
        errors.append(FieldError("contact_channel", f"one of {', '.join(CONTACT_CHANNELS)}"))
    if prefs.contact_channel in ("phone", "sms") and not draft.phone:
        errors.append(FieldError("contact_channel", f"{prefs.contact_channel} needs a phone number"))
    if prefs.contact_channel == "email" and not draft.email:
        errors.append(FieldError("contact_channel", "email needs an email address"))
    if prefs.contact_time and len(prefs.contact_time) > MAX_CONTACT_TIME:
        errors.append(FieldError("contact_time", f"keep it under {MAX_CONTACT_TIME} characters, e.g. 'weekdays after 5pm'"))
    if prefs.notes and len(prefs.notes) > MAX_PREFERENCE_NOTES:
        errors.append(FieldError("notes", f"keep it under {MAX_PREFERENCE_NOTES} characters"))
    return errors


def checked(draft: CustomerDraft) -> CustomerDraft:
    draft = normalise(draft)
    errors = validate(draft)
    if errors:
        raise InvalidCustomer(errors)
    return draft


def guarded(draft: CustomerDraft, found: list[str] | None = None) -> CustomerDraft:
    """The draft with card numbers, IBANs and SSNs masked in everything typed freely.

    That is the name, the customer number (a card number typed there by mistake is
    still a card number), the sizes, colours and brands, the contact time and notes.
    Phone and email are not: they are validated as such, and a phone number is not
    a card. `found` collects what kinds of number were masked, for the message.
    """
    found = [] if found is None else found

    def masked(value: str | None) -> str | None:
        if not value:
            return value
        result = mask(value)
        found.extend(kind for kind in result.found if kind not in found)
        return result.text

    prefs = draft.preferences
    return replace(
        draft,
        name=masked(draft.name) or draft.name,
        customer_number=masked(draft.customer_number),
        preferences=replace(
            prefs,
            sizes=tuple(masked(value) or value for value in prefs.sizes),
            colours=tuple(masked(value) or value for value in prefs.colours),
            brands=tuple(masked(value) or value for value in prefs.brands),
            contact_time=masked(prefs.contact_time),
            notes=masked(prefs.notes),
        ),
    )


def due_on(today: date, days: int) -> str:
    return (today + timedelta(days=days)).isoformat()


def result_label(code: str | None) -> str:
    return dict(FOLLOW_UP_RESULTS).get(code or "", code or "")
