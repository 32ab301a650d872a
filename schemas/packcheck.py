"""Checking a taxonomy pack's fields, with messages that name the file and field to fix."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


class TaxonomyError(ValueError):
    """A taxonomy pack that cannot be used; the message names the file and field to fix."""


@dataclass(frozen=True)
class _Where:
    """A place in the pack, for messages: `retail.json: outcomes[2] (out_of_stock)`."""

    source: str
    path: str = ""

    def item(self, name: str, index: int) -> _Where:
        return _Where(self.source, f"{self._prefix()}{name}[{index}]")

    def named(self, code: str) -> _Where:
        return _Where(self.source, f"{self.path} ({code})")

    def error(self, name: str | None, problem: str) -> TaxonomyError:
        place = f"{self._prefix()}{name}" if name else self.path
        return TaxonomyError(f"{self.source}: {place}: {problem}" if place else f"{self.source}: {problem}")

    def _prefix(self) -> str:
        return f"{self.path}." if self.path else ""


def _object(data: Any, at: _Where, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise at.error(None, f"must be a JSON object {{...}}, not {_kind(data)}")
    unknown = sorted(set(data) - allowed)
    if unknown:
        names = ", ".join(repr(k) for k in unknown)
        raise at.error(None, f"unknown field {names}; check the spelling, the fields are {', '.join(sorted(allowed))}")
    return data


def _kind(value: Any) -> str:
    kinds = {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null"}
    return kinds.get(type(value), "a number")


def _text(
    data: dict[str, Any],
    name: str,
    at: _Where,
    *,
    required: bool = True,
    pattern: re.Pattern[str] | None = None,
    example: str = '"..."',
    max_length: int | None = None,
) -> str:
    if name not in data:
        if required:
            raise at.error(name, f'is missing; add it, e.g. "{name}": {example}')
        return ""
    value = data[name]
    if not isinstance(value, str) or (required and not value.strip()):
        raise at.error(name, f'must be a non-empty string, e.g. "{name}": {example}')
    if pattern is not None and not pattern.match(value):
        raise at.error(name, f"'{value}' is not allowed; write it like {example}: lower case, no spaces")
    if max_length is not None and len(value) > max_length:
        raise at.error(name, f"'{value}' is {len(value)} characters; shorten it to {max_length} or fewer so it fits the screen")
    return value


def _list(data: dict[str, Any], name: str, at: _Where, *, required: bool = True) -> list[Any]:
    if name not in data:
        if required:
            raise at.error(name, f'is missing; add it as a list: "{name}": [...]')
        return []
    value = data[name]
    if not isinstance(value, list):
        raise at.error(name, f"must be a list [...], not {_kind(value)}")
    return value


def _text_list(data: dict[str, Any], name: str, at: _Where, *, required: bool = True) -> list[str]:
    values = _list(data, name, at, required=required)
    for i, value in enumerate(values):
        if not isinstance(value, str) or not value.strip():
            raise at.error(f"{name}[{i}]", f"must be a non-empty string, not {_kind(value)}")
    return values


def _unique(values: Sequence[str], name: str, key: str | None, at: _Where) -> None:
    seen: set[str] = set()
    for i, value in enumerate(values):
        if value in seen:
            field_name = f"{name}[{i}].{key}" if key else f"{name}[{i}]"
            raise at.error(field_name, f"'{value}' is used twice; every {key or 'entry'} must be different")
        seen.add(value)
