"""The contract's one time format: UTC, ISO-8601 with milliseconds and a Z (2026-11-22T14:03:07.123Z).

Stdlib only, so the terminal stamps its records without loading the record types.
"""

from __future__ import annotations

from datetime import datetime, timezone


def format_utc(moment: datetime) -> str:
    """A time in the contract's form."""
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def utc_now() -> str:
    """Now, in the contract's form."""
    return format_utc(datetime.now(timezone.utc))


def parse_utc(text: str) -> datetime:
    """A time in the contract's form, back to an aware datetime (ValueError if the calendar has no such time)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
