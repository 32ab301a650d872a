"""Text from people is data: the one rule both ends apply to what a person typed.

Control characters (C0, DEL, C1) and the bidi controls that reorder what a reader
sees (U+202A-U+202E, U+2066-U+2069) never reach a screen, a report or a file: the
terminal removes them as the text comes in, HQ refuses a record that carries them.
A field that holds lines (a note) keeps its newlines and tabs. A spreadsheet never
takes a cell of ours for a formula. Stdlib only: HQ and the terminal both use it.
"""

from __future__ import annotations

import re

_BIDI = "\u202a-\u202e\u2066-\u2069"
_IN_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}]")
_IN_LINES = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _pattern(lines: bool) -> re.Pattern[str]:
    return _IN_LINES if lines else _IN_LINE


def clean(text: str, *, lines: bool = False) -> str:
    """`text` without control characters; with `lines`, CR LF and CR become LF and tabs stay.

    A single-line field's tabs and line breaks become spaces, so words never run together.
    """
    if lines:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    else:
        text = re.sub(r"[\t\n\r\v\f\x1c-\x1f\x85]", " ", text)
    return _pattern(lines).sub("", text)


def unsafe_character(text: str, *, lines: bool = False) -> str | None:
    """The first control character in `text`, named as U+XXXX, or None when there is none."""
    found = _pattern(lines).search(text)
    return f"U+{ord(found.group()):04X}" if found else None


def csv_cell(value: object) -> object:
    """A CSV cell a spreadsheet shows as text: one starting like a formula gets a leading quote (OWASP)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+\-.!|~])")


def markdown_literal(text: str) -> str:
    """`text` shown as itself in Markdown: every character Markdown could read as syntax escaped."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", clean(text))


_RAW_IN_JSON = re.compile(f"[\x7f-\x9f{_BIDI}]")


def json_text(encoded: str) -> str:
    """JSON text with DEL, C1 and bidi controls written as \\u escapes: the same data, safe on a screen.

    json.dumps escapes C0 itself; these it leaves raw with ensure_ascii=False.
    """
    return _RAW_IN_JSON.sub(lambda found: f"\\u{ord(found.group()):04x}", encoded)


def csv_row(values: object) -> list[object]:
    """A row of CSV cells, each without control characters and never read as a formula."""
    return [csv_cell(clean(value, lines=True)) if isinstance(value, str) else value for value in values]  # type: ignore[attr-defined]


def html_literal(text: object) -> str:
    """`text` shown as itself in HTML (element content or a quoted attribute)."""
    import html  # HQ's pages only: not on the counter's way to its first screen

    return html.escape(clean(str(text)))
