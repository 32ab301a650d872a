"""Where things live and what a site has configured.

The config file is small TOML, read with tomllib and checked into a typed object.
Environment overrides (ASSOCIATE_DATA_DIR, ASSOCIATE_CONFIG) let tests and
unusual installs put everything somewhere else.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING

import platformdirs

from associate_tui.errors import AssociateError

if TYPE_CHECKING:
    from schemas.taxonomy import Taxonomy

APP_NAME = "associate-terminal"
DB_FILENAME = "associate.db"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
# Packs that need no check before the app starts: the built-in ones (schemas.taxonomy.BUILTIN_PACKS)
# and HQ's, checked when it was pulled and swapped in whole. A pack file of the site's own is read first.
TRUSTED_PACKS = ("retail", "bank", "hq")
_STRINGS = ("store_id", "terminal_id", "taxonomy", "associate", "theme", "hq_url")


class ConfigError(AssociateError, ValueError):
    """The config file cannot be used; the message names the file, the key and the fix."""

    title = "Settings"


@dataclass(frozen=True)
class Config:
    store_id: str = "DEMO"
    terminal_id: str = "TERMINAL-1"
    taxonomy: str = "retail"
    associate: str = "ANY"
    theme: str = "textual-dark"
    keymap: dict[str, str] = field(default_factory=dict)
    # Sync to HQ: set by `associate enroll`. Empty hq_url = not enrolled, never syncs.
    hq_url: str = ""
    sync_interval: int = 60  # seconds between background syncs
    hq_ca_file: str = ""  # a CA bundle for HQ's certificate; empty = the system's
    # Customers and follow-ups (issue 4).
    follow_up_days: int = 7  # "contact me when it comes in" is due this many days after the ask
    retention_days: int = 180  # customers idle this long with no open follow-up are erased
    consent_wording: str = "2026-1"  # the version of the consent text read to customers
    # True once the file exists: the app offers first-run setup until then.
    from_file: bool = False

    def with_changes(self, **changes: object) -> Config:
        return replace(self, **changes)


def data_dir() -> Path:
    override = os.environ.get("ASSOCIATE_DATA_DIR")
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def database_path() -> Path:
    return data_dir() / DB_FILENAME


def config_path() -> Path:
    override = os.environ.get("ASSOCIATE_CONFIG")
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / "config.toml"


def token_path() -> Path:
    """The terminal's HQ token: beside the config file, readable by this user only."""
    override = os.environ.get("ASSOCIATE_TOKEN_FILE")
    if override:
        return Path(override).expanduser()
    return config_path().with_name("token")


def lock_path() -> Path:
    """Held by whichever process is syncing this data folder."""
    return data_dir() / "sync.lock"


def hq_taxonomy_path() -> Path:
    """The last good taxonomy pulled from HQ (used when taxonomy = "hq")."""
    return data_dir() / "taxonomy-hq.json"


def load_taxonomy(name_or_path: str) -> Taxonomy:
    """The pack the config names: built-in, a file, or "hq" (the last pulled from HQ; until then, retail)."""
    # The taxonomy module and a pack's parse are 50-80 ms: the app loads them after its first paint.
    from schemas.taxonomy import HQ_PACK, load_pack

    if name_or_path == HQ_PACK:
        path = hq_taxonomy_path()
        return load_pack(str(path)) if path.exists() else load_pack("retail")
    return load_pack(name_or_path)


def check_hq_url(value: str) -> str | None:
    """A message if `value` cannot be HQ's address, else None."""
    if not re.match(r"^https?://[^\s/?#]+(/[^\s?#]*)?$", value):
        return "must be HQ's address starting with https:// (or http:// on a test network), e.g. https://hq.example.com"
    return None


def check_id(value: str, what: str) -> str | None:
    """A message if `value` cannot be a store or terminal id, else None."""
    if not _ID.match(value):
        return f"{what} must be 1 to 32 letters, digits, '.', '_' or '-', e.g. DEMO or TERMINAL-1"
    return None


# A key that works on every screen, even while typing in the form: printable keys would type instead.
_GLOBAL_KEY = re.compile(r"^(f([1-9]|1[0-9]|2[0-4])|ctrl\+[a-z])$")
_KEY = re.compile(r"^[a-z0-9_+-]+$")


def check_keymap(keymap: dict[str, str], bindings: Iterable[tuple[str, str, str]]) -> str | None:
    """A message if [keymap] names no binding, or would leave an action without its key; else None.

    `bindings` is every remappable binding as (id, its keys, where it works): "app" on every screen,
    "screen:<name>" on one main screen, "dialog" in a dialog (which may reuse any key while it is open).
    """
    bindings = list(bindings)
    ids = sorted({binding_id for binding_id, _, _ in bindings})
    unknown = sorted(set(keymap) - set(ids))
    if unknown:
        return f"[keymap] has no binding called {', '.join(unknown)}. Binding ids: {', '.join(ids)}."
    scope = {binding_id: where for binding_id, _, where in bindings}
    owners: dict[str, set[str]] = {}  # key -> the ids it ends up on, after the keymap
    for binding_id, default_keys, _ in bindings:
        for key in _keys(keymap.get(binding_id, default_keys)):
            owners.setdefault(key, set()).add(binding_id)
    for binding_id, keys in sorted(keymap.items()):
        for key in _keys(keys):
            if not _KEY.match(key):
                return f'[keymap] {binding_id} = "{keys}": "{key}" is not a key name; write e.g. f5, ctrl+r or a.'
            if scope[binding_id] == "app" and not _GLOBAL_KEY.match(key):
                return (
                    f'[keymap] {binding_id} = "{keys}": {binding_id} works on every screen, so it needs F1-F24 or ctrl+letter '
                    f"(a plain key would type into the form instead)."
                )
            taken = sorted(other for other in owners[key] - {binding_id} if _clash(scope[binding_id], scope[other]))
            if taken:
                return (
                    f'[keymap] {binding_id} = "{keys}": {key} is already the key of {", ".join(taken)}, which would be left '
                    f'without one. Pick a free key, or give {taken[0]} another key too (e.g. {taken[0]} = "f11").'
                )
    return None


def _clash(where: str, other: str) -> bool:
    """Whether a key on both would leave one of them unreachable: dialogs may reuse any key while open."""
    if "dialog" in (where, other):
        return False
    return "app" in (where, other) or where == other


def _keys(keys: str) -> list[str]:
    return [key.strip().lower() for key in keys.split(",") if key.strip()]


def load(path: Path | None = None) -> Config:
    """Read and check the config file; the defaults when there is none."""
    path = path or config_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Config()
    except OSError as error:
        raise ConfigError(f"Cannot read the config file {path}: {error.strerror}.") from error
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(
            f"The config file {path} is not valid TOML: {error}. Fix it or delete it to use the defaults."
        ) from error
    return _check(data, path)


def _check(data: dict, path: Path) -> Config:
    known = {f.name for f in fields(Config)} - {"from_file"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) {', '.join(unknown)}. Known settings: {', '.join(sorted(known))}.")
    values: dict[str, object] = {}
    for key in _STRINGS:
        if key in data:
            if not isinstance(data[key], str) or not data[key].strip():
                raise ConfigError(f'{path}: {key} must be a non-empty string, e.g. {key} = "{getattr(Config, key)}".')
            values[key] = data[key].strip()
    for key, what in (("store_id", "store_id"), ("terminal_id", "terminal_id")):
        if key in values and (problem := check_id(str(values[key]), what)):
            raise ConfigError(f"{path}: {problem}.")
    if "hq_url" in values and (problem := check_hq_url(str(values["hq_url"]))):
        raise ConfigError(f"{path}: hq_url {problem}.")
    if "hq_ca_file" in data:
        if not isinstance(data["hq_ca_file"], str):
            raise ConfigError(
                f'{path}: hq_ca_file must be the path to a PEM file of CA certificates, e.g. hq_ca_file = "/etc/ssl/hq-ca.pem".'
            )
        values["hq_ca_file"] = data["hq_ca_file"].strip()
    if "sync_interval" in data:
        interval = data["sync_interval"]
        if isinstance(interval, bool) or not isinstance(interval, int) or not 5 <= interval <= 86400:
            raise ConfigError(
                f"{path}: sync_interval must be a whole number of seconds from 5 to 86400, e.g. sync_interval = 60."
            )
        values["sync_interval"] = interval
    for key, low, high, example in (("follow_up_days", 0, 365, 7), ("retention_days", 1, 3650, 180)):
        if key in data:
            value = data[key]
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ConfigError(f"{path}: {key} must be a whole number of days from {low} to {high}, e.g. {key} = {example}.")
            values[key] = value
    if "consent_wording" in data:
        wording = data["consent_wording"]
        if not isinstance(wording, str) or not 1 <= len(wording.strip()) <= 40:
            raise ConfigError(
                f'{path}: consent_wording must name the version of your consent text (1-40 characters), e.g. consent_wording = "2026-1".'
            )
        values["consent_wording"] = wording.strip()
    keymap = data.get("keymap", {})
    if not isinstance(keymap, dict) or not all(isinstance(v, str) for v in keymap.values()):
        raise ConfigError(f'{path}: [keymap] must map action ids to keys, e.g. recent = "f3".')
    values["keymap"] = dict(keymap)
    return Config(**values, from_file=True)


def save(config: Config, path: Path | None = None) -> Path:
    """Write the config file atomically (write a temporary file, then rename)."""
    path = path or config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# Associate Terminal settings. See README.md for every key.\n"]
    for key in (*_STRINGS, "hq_ca_file"):
        if key in ("hq_url", "hq_ca_file") and not getattr(config, key):
            continue
        lines.append(f"{key} = {_toml_string(getattr(config, key))}\n")
    for key in ("sync_interval", "follow_up_days", "retention_days"):
        if getattr(config, key) != getattr(Config, key):
            lines.append(f"{key} = {getattr(config, key)}\n")
    if config.consent_wording != Config.consent_wording:
        lines.append(f"consent_wording = {_toml_string(config.consent_wording)}\n")
    if config.keymap:
        lines.append("\n[keymap]\n")
        for action, keys in sorted(config.keymap.items()):
            lines.append(f"{action} = {_toml_string(keys)}\n")
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text("".join(lines), encoding="utf-8")
    os.replace(temporary, path)
    return path


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    escaped = "".join(ch if ch >= " " else f"\\u{ord(ch):04x}" for ch in escaped)
    return f'"{escaped}"'
