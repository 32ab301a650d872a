"""This terminal's link to HQ: the token file, enrolment, and one sync run.

The glue between the terminal (config, store, taxonomy) and the sync engine,
shared by `associate enroll`/`associate sync` and the app's background worker.
httpx and the engine are imported only when HQ is actually called: httpx loads
rich and click with it (about 90 ms), which neither the app's start nor the
command line's other commands should pay for.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from associate_tui import config as config_module
from associate_tui.errors import AssociateError
from schemas.taxonomy import parse_pack

if TYPE_CHECKING:
    from associate_tui.store import Store
    from schemas.records import WhoAmI
    from sync.client import HQClient
    from sync.engine import SyncReport

TOKEN_PREFIX = "at1_"


class NotEnrolled(AssociateError):
    """This terminal has no HQ address or token yet; the message says how to enroll."""

    title = "Not linked to HQ"


class TokenFileError(AssociateError):
    """The token file is missing, unreadable or readable by others."""

    title = "HQ token"


# -- the token file --------------------------------------------------------------------------


def check_token(token: str) -> str | None:
    """A message if `token` cannot be an HQ token, else None."""
    if not token or any(ch.isspace() for ch in token) or len(token) > 200:
        return "must be the token HQ printed for this terminal (one word, e.g. at1_0123abcd4567_...)"
    return None


def write_token(token: str, path: Path | None = None) -> Path:
    """Write the token readable by this user only (0600), replacing any earlier one atomically."""
    path = path or config_module.token_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # O_CREAT's mode does not apply to a file that already existed
        os.write(fd, (token + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    return path


def read_token(path: Path | None = None) -> str:
    """The token, refusing a file that other users could read (or that is not ours)."""
    path = path or config_module.token_path()
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        raise NotEnrolled(f"No HQ token at {path}: run `associate enroll URL --token TOKEN` with the token from HQ.") from None
    except OSError as error:
        raise TokenFileError(f"Cannot read the token file {path}: {error.strerror}.") from error
    try:
        info = os.fstat(fd)
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise TokenFileError(
                f"The token file {path} can be read by other users (mode {stat.S_IMODE(info.st_mode):o}); "
                f"it is not used. Run `chmod 600 {path}`, or enroll again."
            )
        if hasattr(os, "getuid") and info.st_uid != os.getuid():
            raise TokenFileError(f"The token file {path} belongs to another user; it is not used. Enroll again as this user.")
        token = os.read(fd, 4096).decode("utf-8", errors="replace").strip()
    finally:
        os.close(fd)
    if problem := check_token(token):
        raise TokenFileError(f"The token file {path} does not hold a token: it {problem}. Enroll again.")
    return token


# -- clients -------------------------------------------------------------------------------------


def verify_setting(config: config_module.Config) -> bool | str:
    """TLS is always verified: against the system's CAs, or the site's own CA file."""
    return config.hq_ca_file or True


def make_client(config: config_module.Config, token: str | None = None) -> HQClient:
    from sync.client import HQClient  # httpx: loaded by the first call to HQ, never at start-up

    if not config.hq_url:
        raise NotEnrolled("This terminal is not enrolled with HQ: run `associate enroll URL --token TOKEN`.")
    return HQClient(config.hq_url, token or read_token(), verify=verify_setting(config))


@dataclass(frozen=True)
class Enrolment:
    config: config_module.Config
    who: WhoAmI
    # Records logged before enrolment, now the enrolled store's and terminal's: count by table.
    adopted: dict[str, int]


def enroll(url: str, token: str, config: config_module.Config, store: Store) -> Enrolment:
    """Check the token against HQ (whoami), adopt the records never sent, then keep the URL, ids and token.

    Raises HQError before anything is changed. Adoption runs first and is idempotent:
    if saving the token or config then fails, enrolling again finishes the job.
    """
    candidate = config.with_changes(hq_url=url.rstrip("/"))
    with make_client(candidate, token) as client:
        who = client.whoami()
    adopted = store.adopt_unsynced(who.store_id, who.terminal_id)
    if (candidate.hq_url, who.store_id) != (config.hq_url, config.store_id):
        store.forget_hq_answers()  # another HQ numbers its changes afresh; another store sees its own
    write_token(token)
    enrolled = candidate.with_changes(store_id=who.store_id, terminal_id=who.terminal_id, taxonomy="hq")
    config_module.save(enrolled)
    return Enrolment(enrolled, who, adopted)


def describe_adopted(adopted: dict[str, int], store_id: str, terminal_id: str) -> str | None:
    """'Adopted 12 asks, 2 customers and 1 follow-up logged before enrolment into store S1, terminal T3.'"""
    nouns = {"asks": "ask", "customers": "customer", "follow_ups": "follow-up", "erasures": "erasure"}
    parts = [f"{count} {noun}{'' if count == 1 else 's'}" for table, noun in nouns.items() if (count := adopted.get(table, 0))]
    if not parts:
        return None
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"Adopted {listed} logged before enrolment into store {store_id}, terminal {terminal_id}."


# -- the taxonomy HQ publishes ----------------------------------------------------------------------


def install_taxonomy(body: bytes, path: Path | None = None) -> None:
    """Check a pack from HQ and swap it in atomically; ValueError (TaxonomyError) if unusable."""
    path = path or config_module.hq_taxonomy_path()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError("the pack is not UTF-8 text") from error
    parse_pack(text, "HQ's taxonomy")  # raises TaxonomyError, a ValueError, naming the field
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


# -- one sync -------------------------------------------------------------------------------------


def run_sync(store: Store, config: config_module.Config, *, give_up_after: float = 0.0, **options: object) -> SyncReport:
    """One sync of this data folder, under its lock. Raises SyncBusy, NotEnrolled, HQError.

    With `give_up_after` > 0, transient failures are retried with backoff for up to
    that many seconds.
    """
    from sync import engine  # loads httpx (sync.client): only when a sync runs

    identity = engine.Identity(config.store_id, config.terminal_id)
    with make_client(config) as client, engine.sync_lock(config_module.lock_path()):
        # Retention runs before each sync, so the erasures it makes go out in the same pass.
        store.purge_expired_customers(days=config.retention_days)
        if give_up_after > 0:
            return engine.sync_with_retry(
                store, client, identity, give_up_after=give_up_after, taxonomy_sink=install_taxonomy, **options
            )
        options.pop("on_retry", None)
        return engine.sync_once(store, client, identity, taxonomy_sink=install_taxonomy, **options)  # type: ignore[arg-type]
