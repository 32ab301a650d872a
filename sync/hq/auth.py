"""Who may talk to HQ: terminals (a token per counter) and dashboard viewers (a token per person).

A token is shown once, when it is made; HQ keeps only its SHA-256 and compares
in constant time, doing the same work whether the token's id exists or not.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from schemas.times import utc_now
from sync.hq.database import Database, StorageBusy, StorageError

TOKEN_PREFIX = "at1"
VIEWER_PREFIX = "atv1"


class TerminalExists(StorageError):
    pass


class TerminalNotFound(StorageError):
    pass


@dataclass(frozen=True)
class Terminal:
    store_id: str
    terminal_id: str
    token_id: str
    created_at: str
    last_seen_at: str | None
    revoked_at: str | None


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _parts(token: str) -> tuple[str, str, str]:
    """(prefix, token id, secret) of `PREFIX_ID_SECRET`; empty strings for what is missing."""
    prefix, _, rest = token.partition("_")
    token_id, _, secret = rest.partition("_")
    return prefix, token_id, secret


class Terminals:
    """The counters that may send batches, each with at most one live token."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add_terminal(self, store_id: str, terminal_id: str, *, rotate: bool = False) -> str:
        """A new token for this counter, returned once; only its hash is kept."""
        token_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        now = utc_now()
        with self.db.write() as conn:
            live = conn.execute(
                "SELECT token_id FROM terminals WHERE store_id = ? AND terminal_id = ? AND revoked_at IS NULL",
                (store_id, terminal_id),
            ).fetchone()
            if live and not rotate:
                raise TerminalExists(
                    f"Terminal {terminal_id} of store {store_id} already has a token ({live[0]}). "
                    "Revoke it first (terminal revoke) or pass --rotate to replace it."
                )
            if live:
                conn.execute("UPDATE terminals SET revoked_at = ? WHERE token_id = ?", (now, live[0]))
            conn.execute(
                "INSERT INTO terminals (token_id, token_hash, store_id, terminal_id, created_at) VALUES (?, ?, ?, ?, ?)",
                (token_id, hash_secret(secret), store_id, terminal_id, now),
            )
        return f"{TOKEN_PREFIX}_{token_id}_{secret}"

    def authenticate(self, token: str) -> tuple[str, str] | None:
        """(store_id, terminal_id) for a live token, else None. Compared in constant time."""
        prefix, token_id, secret = _parts(token)
        if prefix != TOKEN_PREFIX or not token_id or not secret:
            return None
        with self.db.read() as conn:
            row = conn.execute(
                "SELECT token_hash, store_id, terminal_id, revoked_at, last_seen_at FROM terminals WHERE token_id = ?",
                (token_id,),
            ).fetchone()
        given = hash_secret(secret)
        expected = row[0] if row else hash_secret("no such token")  # same work either way
        if not hmac.compare_digest(given, expected) or row is None or row[3] is not None:
            return None
        self._seen(token_id, row[4])
        return row[1], row[2]

    def _seen(self, token_id: str, last: str | None) -> None:
        now = utc_now()
        if last and last[:16] == now[:16]:
            return  # once a minute is plenty, and spares a write per request
        try:
            with self.db.write() as conn:
                conn.execute("UPDATE terminals SET last_seen_at = ? WHERE token_id = ?", (now, token_id))
        except StorageBusy:
            pass  # bookkeeping only

    def list_terminals(self) -> list[Terminal]:
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT store_id, terminal_id, token_id, created_at, last_seen_at, revoked_at FROM terminals "
                "ORDER BY store_id, terminal_id, created_at"
            ).fetchall()
        return [Terminal(*row) for row in rows]

    def revoke(self, store_id: str, terminal_id: str) -> None:
        with self.db.write() as conn:
            done = conn.execute(
                "UPDATE terminals SET revoked_at = ? WHERE store_id = ? AND terminal_id = ? AND revoked_at IS NULL",
                (utc_now(), store_id, terminal_id),
            ).rowcount
        if not done:
            raise TerminalNotFound(f"Terminal {terminal_id} of store {store_id} has no live token (see terminal list).")


@dataclass(frozen=True)
class Viewer:
    """Who signed in to /dashboard: an editor may also change a group's status there.

    `form_key` goes in the hidden field of an editor's forms and must come back with the
    post (a page on another site cannot know it): derived from the token, so per token.
    """

    name: str
    token_id: str
    editor: bool
    form_key: str


class Viewers:
    """The people at HQ who may read /dashboard, and the editors among them."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add_viewer(self, name: str, *, editor: bool = False) -> str:
        """A token for reading /dashboard (an editor's also sets groups' statuses there), returned once; only its hash is kept."""
        token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO viewers (token_id, token_hash, name, created_at, editor) VALUES (?, ?, ?, ?, ?)",
                (token_id, hash_secret(secret), name, utc_now(), int(editor)),
            )
        return f"{VIEWER_PREFIX}_{token_id}_{secret}"

    def authenticate_viewer(self, token: str) -> Viewer | None:
        """The viewer of a live dashboard token, else None. Compared in constant time."""
        prefix, token_id, secret = _parts(token)
        with self.db.read() as conn:
            row = conn.execute(
                "SELECT token_hash, name, revoked_at, editor FROM viewers WHERE token_id = ?", (token_id,)
            ).fetchone()
        expected = row[0] if row else hash_secret("no such token")
        if not hmac.compare_digest(hash_secret(secret), expected) or prefix != VIEWER_PREFIX or row is None or row[2]:
            return None
        # The form key is the token's own server-held secret (its hash, never sent), so it needs no key
        # every worker must share, differs per token, and dies with the token when it is revoked.
        form_key = hmac.new(row[0].encode(), f"dashboard-form:{token_id}".encode(), hashlib.sha256).hexdigest()
        return Viewer(name=row[1], token_id=token_id, editor=bool(row[3]), form_key=form_key)

    def list_viewers(self) -> list[tuple[str, str, str | None, bool]]:
        """(name, created at, revoked at, editor) of every viewer token, by name."""
        with self.db.read() as conn:
            rows = conn.execute("SELECT name, created_at, revoked_at, editor FROM viewers ORDER BY name, created_at").fetchall()
        return [(name, created, revoked, bool(editor)) for name, created, revoked, editor in rows]

    def revoke_viewer(self, name: str) -> bool:
        with self.db.write() as conn:
            revoked: int = conn.execute(
                "UPDATE viewers SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL", (utc_now(), name)
            ).rowcount
        return revoked > 0
