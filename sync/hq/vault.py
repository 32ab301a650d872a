"""Customers' personal fields sealed under a key of their own, so that erasing the key erases them.

A customer's name, phone, email, customer number and preferences (and the note
of a follow-up promised to them) are stored at HQ only as AES-256-GCM
ciphertext under a random data key kept in `customer_keys`, one row per
customer. Erasure deletes that row and rewrites the small keys table
(database.py's `after_erasure`), so the ciphertext a database leaves behind in
its pages, on PostgreSQL until VACUUM FULL, can no longer be read by anyone
(crypto-shredding).

The data keys are not wrapped by a master key: erasure needs only that the key
be gone, and a master key every HQ worker must hold would sit beside the
database password in the same environment file. The README says why.

No SQL here: storage.py and schema.py read and write the keys.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from sync.hq import install_hint
from sync.hq.database import StorageError

try:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    HAS_CRYPTOGRAPHY = True
except ImportError:  # the hq extra is missing: reports still run, and the first customer key says what to install
    HAS_CRYPTOGRAPHY = False

KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12
#: how a sealed value starts: the version of this format (base64url has no dot, so no value is mistaken for it)
PREFIX = "s1."

# The personal fields of each table: sealed under the key of the customer the row is about.
CUSTOMER_COLUMNS = ("name", "phone", "email", "customer_number", "preferences")
FOLLOW_UP_COLUMNS = ("note",)


class SealBroken(StorageError):
    """A sealed field does not open with its customer's key: the row or the key was altered or mixed up."""


def new_key() -> bytes:
    """A fresh random data key for one customer."""
    return os.urandom(KEY_BYTES)


class CustomerKey:
    """One customer's data key, ready to seal, open and hash with."""

    __slots__ = ("_aead", "_mac")

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise SealBroken(f"A customer key at HQ is {len(key)} bytes, not {KEY_BYTES}: customer_keys was altered.")
        if not HAS_CRYPTOGRAPHY:  # so no CustomerKey, and nothing below, runs without it
            raise StorageError(f"HQ seals customers' details with the cryptography package: {install_hint('hq')}")
        self._aead = AESGCM(key)
        # A separate key for the content hash, derived so one stored key serves both.
        self._mac = hmac.digest(key, b"associate-hq content hash", "sha256")

    def seal(self, value: str, where: str) -> str:
        """`value` encrypted, bound to `where` (table, column and row id) so it cannot be moved to another row."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, value.encode(), where.encode())
        return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def open(self, sealed: str, where: str) -> str:
        """The value `seal` was given for `where`."""
        try:
            if not sealed.startswith(PREFIX):
                raise ValueError("not sealed")
            raw = base64.urlsafe_b64decode(sealed[len(PREFIX) :])
            return self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], where.encode()).decode()
        except (InvalidTag, ValueError) as error:
            raise SealBroken(
                f"HQ cannot open {where} with its customer's key ({type(error).__name__}): the row "
                "or customer_keys was changed outside associate-hq; restore them from the same backup."
            ) from None

    def digest(self, content_digest: str) -> str:
        """A record's content hash (hex SHA-256 of its plaintext), keyed: the same for the same content while the
        key lives, and after erasure no longer a way to confirm a guess at what the record held."""
        return hmac.new(self._mac, bytes.fromhex(content_digest), hashlib.sha256).hexdigest()


def where(table: str, column: str, row_id: str) -> str:
    """The associated data a field is sealed with."""
    return f"{table}.{column}/{row_id}"
