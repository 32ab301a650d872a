"""Where things live and what a site has configured.

The config file is small TOML, read with tomllib and checked into a typed object.
Environment overrides (ASSOCIATE_DATA_DIR, ASSOCIATE_CONFIG) let tests and
unusual installs put everything somewhere else.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import platformdirs

APP_NAME = "associate-terminal"
DB_FILENAME = "associate.db"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")


class ConfigError(ValueError):
    """The config file cannot be used; the message names the file, the key and the fix."""


@dataclass(frozen=True)
class Config:
    store_id: str = "DEMO"
    terminal_id: str = "TERMINAL-1"
    taxonomy: str = "retail"
    associate: str = "ANY"
    theme: str = "textual-dark"
    keymap: dict[str, str] = field(default_factory=dict)
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


def check_id(value: str, what: str) -> str | None:
    """A message if `value` cannot be a store or terminal id, else None."""
    if not _ID.match(value):
        return f"{what} must be 1 to 32 letters, digits, '.', '_' or '-', e.g. DEMO or TERMINAL-1"
    return None


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
        raise ConfigError(f"The config file {path} is not valid TOML: {error}. Fix it or delete it to use the defaults.") from error
    return _check(data, path)


def _check(data: dict, path: Path) -> Config:
    known = {f.name for f in fields(Config)} - {"from_file"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(
            f"{path}: unknown setting(s) {', '.join(unknown)}. Known settings: {', '.join(sorted(known))}."
        )
    values: dict[str, object] = {}
    for key in ("store_id", "terminal_id", "taxonomy", "associate", "theme"):
        if key in data:
            if not isinstance(data[key], str) or not data[key].strip():
                raise ConfigError(f'{path}: {key} must be a non-empty string, e.g. {key} = "{getattr(Config, key)}".')
            values[key] = data[key].strip()
    for key, what in (("store_id", "store_id"), ("terminal_id", "terminal_id")):
        if key in values and (problem := check_id(str(values[key]), what)):
            raise ConfigError(f"{path}: {problem}.")
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
    for key in ("store_id", "terminal_id", "taxonomy", "associate", "theme"):
        lines.append(f"{key} = {_toml_string(getattr(config, key))}\n")
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
