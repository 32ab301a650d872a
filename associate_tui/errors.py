"""The one root of what goes wrong at the counter: words a person can act on, and a title for them.

Every error the terminal may show (a toast, a form's message line, the command line)
is an `AssociateError`; screens show `error.title` and `str(error)` and never guess a
title from the words. Subclass only where a caller handles the case apart.
"""

from __future__ import annotations


class AssociateError(Exception):
    """Something a person must hear about: `str(error)` says what is wrong and what to do."""

    title = "Error"

    def __init__(self, message: str, *, title: str | None = None) -> None:
        super().__init__(message)
        if title is not None:
            self.title = title


class InvalidInput(AssociateError, ValueError):
    """What was typed cannot be saved; `errors` names every field and the fix."""

    title = "Not saved"

    def __init__(self, errors: list) -> None:  # list[asks.FieldError]
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))


class StoreError(AssociateError):
    """Something went wrong with the local database (associate_tui/store.py); the message says what to do."""

    title = "Database"


class DiskFull(StoreError):
    pass


class StoreReadOnly(StoreError):
    pass


class StoreCorrupt(StoreError):
    pass


class StoreBusy(StoreError):
    pass


class AskNotFound(StoreError):
    pass


class StaleEdit(StoreError):
    """The ask changed since it was opened for editing (another window or process)."""

    title = "Not saved"


class NewerSchema(StoreError):
    pass


class CustomerNotFound(StoreError):
    pass


class FollowUpNotFound(StoreError):
    pass


class UsageError(AssociateError):
    """Bad input on the command line: `associate` exits 2 with the message."""

    title = "Command line"
