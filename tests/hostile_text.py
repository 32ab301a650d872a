"""Text a person (or an attacker at a keyboard) may type: every path must keep it as data.

Each entry is what is typed and what must be shown and stored: the same words with
control characters taken out (a single-line field folds line breaks into spaces).
"""

from __future__ import annotations

from schemas.text import clean

HOSTILE = {
    "closing_tag": "coat [/]",
    "bold": "[bold]red[/bold] scarf",
    "colour": "[blue]navy[/blue] hat",
    "link": "[link=http://evil.example]click[/link] gloves",
    "terminal_clear": "\x1b[2J\x1b[H boots",
    "c1_csi": "belt \x9b31m brown",
    "bidi_override": "invoice \u202egnp.exe",
    "formula": '=HYPERLINK("http://evil.example","x")',
    "plus_formula": "+SUM(1,2) cable",
    "minus_formula": "-2+3 socks",
    "at_formula": "@SUM(A1) belt",
    "emoji": "\U0001f469\u200d\U0001f469\u200d\U0001f467 family pyjamas \U0001f384",
    "rtl": "\u05e9\u05de\u05dc\u05d4 \u05db\u05d7\u05d5\u05dc\u05d4 dress",
    "zero_width": "zero\u200bwidth\u200d scarf",
    "markdown": "**bold** _it_ `code` <b>x</b> # heading",
    "html": "<script>alert(1)</script> & \"quotes\" 'apos'",
    "multi_line_paste": "line one\nline two\r\nline three",
    "long": ("very long ask " * 30)[:300].strip(),
}


def shown(text: str) -> str:
    """What a single-line field keeps of `text`."""
    return " ".join(clean(text).split())


# What must never appear in anything written to a terminal, a report or a file.
CONTROL = [chr(c) for c in (*range(0, 9), *range(11, 32), *range(0x7F, 0xA0))] + ["\u202e"]


def has_control(text: str) -> bool:
    return any(ch in text for ch in CONTROL)
