"""The privacy guard: numbers that must never be stored, masked in free text.

Tellers and shop staff type card numbers, IBANs and social security numbers
into notes. Every free-text field passes through `mask` before it is written,
on the terminal and again at HQ (an older terminal cannot leak either):

- card numbers: 13-19 digits, spaces or dashes allowed between them,
  Luhn-valid and starting like a major scheme's cards; first six and last four
  are kept, the rest becomes `*`;
- IBANs: a known country's length and a valid mod-97 check, spaces allowed;
  the country, check digits and last four are kept;
- US social security numbers written 123-45-6789 or 123 45 6789 with a valid
  area, group and serial; the last four are kept.

Pure functions with no imports of ours, so HQ uses the same module.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

CARD = "card number"
IBAN = "IBAN"
SSN = "social security number"

# A run of digits, single spaces or dashes between them; long enough to hold a card.
_DIGIT_RUN = re.compile(r"(?<![\w+])\d(?:[ -]?\d){12,}(?!\w)")
_GROUPS = re.compile(r"\d+")
_SSN = re.compile(r"(?<![\w-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\w-])")
_IBAN_START = re.compile(r"(?<![A-Za-z0-9])([A-Za-z]{2})(\d{2})")
# Anything the patterns below could mask holds nine digits with at most single
# separators between them (a card, an SSN) or two letters then two digits (an
# IBAN's start). Most text holds neither and is returned after this one search.
_MAYBE = re.compile(r"\d(?:[ -]?\d){8}|[A-Za-z]{2}\d\d")

# (prefix range low, high, allowed lengths): the major schemes' published ranges.
_SCHEMES: tuple[tuple[int, int, tuple[int, ...]], ...] = (
    (4, 4, (13, 16, 19)),  # Visa
    (51, 55, (16,)),  # Mastercard
    (2221, 2720, (16,)),  # Mastercard 2-series
    (34, 34, (15,)),  # American Express
    (37, 37, (15,)),
    (300, 305, (14, 15, 16, 17, 18, 19)),  # Diners Club
    (36, 36, (14, 15, 16, 17, 18, 19)),
    (38, 39, (14, 15, 16, 17, 18, 19)),
    (6011, 6011, (16, 17, 18, 19)),  # Discover
    (644, 649, (16, 17, 18, 19)),
    (65, 65, (16, 17, 18, 19)),
    (3528, 3589, (16, 17, 18, 19)),  # JCB
    (62, 62, (16, 17, 18, 19)),  # UnionPay
    (2200, 2204, (16, 17, 18, 19)),  # Mir
    (50, 50, (13, 14, 15, 16, 17, 18, 19)),  # Maestro
    (56, 69, (13, 14, 15, 16, 17, 18, 19)),
)

# IBAN length by country (the SWIFT registry).
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27,
    "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25,
    "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18,
    "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33,
    "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}


@dataclass(frozen=True)
class Masked:
    """Text after the guard, and what kinds of number were masked in it (for the message)."""

    text: str
    found: tuple[str, ...] = ()


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def card_scheme_matches(digits: str) -> bool:
    """Whether a number's prefix and length are those of a major card scheme."""
    for low, high, lengths in _SCHEMES:
        width = len(str(low))
        if len(digits) in lengths and low <= int(digits[:width]) <= high:
            return True
    return False


def is_card_number(digits: str) -> bool:
    return 13 <= len(digits) <= 19 and card_scheme_matches(digits) and luhn_valid(digits)


def iban_valid(compact: str) -> bool:
    compact = compact.upper()
    if IBAN_LENGTHS.get(compact[:2]) != len(compact) or not compact[2:4].isdigit() or not compact.isalnum():
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


def mask(text: str) -> Masked:
    """The text with every card number, IBAN and SSN masked; unchanged if none."""
    if not text or not may_hold_sensitive(text):
        return Masked(text)
    found: list[str] = []
    text = _mask_ibans(text, found)
    text = _DIGIT_RUN.sub(lambda match: _mask_card_run(match.group(0), found), text)
    text = _SSN.sub(lambda match: _mask_ssn(match, found), text)
    return Masked(text, tuple(kind for kind in (CARD, IBAN, SSN) if kind in found))


def may_hold_sensitive(text: str) -> bool:
    """False when `mask` would certainly leave the text as it is: one regex search.

    Texts joined with newlines can be checked at once (nothing maskable spans a newline).
    """
    return _MAYBE.search(text) is not None


def describe(found: tuple[str, ...] | list[str]) -> str:
    """'a card number and an IBAN were masked' for the associate."""
    if not found:
        return ""
    words = [("an " if kind == IBAN else "a ") + kind for kind in found]
    listed = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
    return f"Masked {listed}: such numbers are never stored."


def _mask_card_run(run: str, found: list[str]) -> str:
    """Mask every card number inside a run of digit groups (it may hold other numbers too)."""
    digits = run.replace(" ", "").replace("-", "")
    if 13 <= len(digits) <= 19 and is_card_number(digits):
        found.append(CARD)
        return _card_mask(run)
    # A longer run ("order 5512 4111 1111 1111 1111"): try whole groups, longest first.
    groups = [(match.start(), match.end()) for match in _GROUPS.finditer(run)]
    spans: list[tuple[int, int]] = []
    start_group = 0
    while start_group < len(groups):
        best = None
        for end_group in range(len(groups) - 1, start_group - 1, -1):
            start, end = groups[start_group][0], groups[end_group][1]
            candidate = run[start:end].replace(" ", "").replace("-", "")
            if 13 <= len(candidate) <= 19 and is_card_number(candidate):
                best = (end_group, start, end)
                break
        if best is None:
            start_group += 1
            continue
        spans.append((best[1], best[2]))
        start_group = best[0] + 1
    if not spans:
        return run
    found.append(CARD)
    pieces, last = [], 0
    for start, end in spans:
        pieces += [run[last:start], _card_mask(run[start:end])]
        last = end
    pieces.append(run[last:])
    return "".join(pieces)


def _card_mask(written: str) -> str:
    """First six and last four digits kept, separators kept where they were."""
    return _keep_ends(written, 6, str.isdigit)


def _keep_ends(written: str, head: int, counts: Callable[[str], bool]) -> str:
    """Every counted character but the first `head` and the last four becomes `*`; others stay."""
    total = sum(map(counts, written))
    seen = 0
    out = []
    for char in written:
        if counts(char):
            seen += 1
            out.append(char.upper() if seen <= head or seen > total - 4 else "*")
        else:
            out.append(char)
    return "".join(out)


def _mask_ibans(text: str, found: list[str]) -> str:
    pieces: list[str] = []
    position = 0
    for match in _IBAN_START.finditer(text):
        if match.start() < position:
            continue
        length = IBAN_LENGTHS.get(match.group(1).upper())
        if length is None:
            continue
        end = _iban_end(text, match.start(), length)
        if end is None or not iban_valid(_compact(text[match.start():end])):
            continue
        written = text[match.start():end]
        pieces += [text[position:match.start()], _iban_mask(written)]
        position = end
        found.append(IBAN)
    if not pieces:
        return text
    pieces.append(text[position:])
    return "".join(pieces)


def _iban_end(text: str, start: int, length: int) -> int | None:
    """Where an IBAN of `length` characters starting at `start` ends, single spaces allowed inside."""
    count, index = 0, start
    while index < len(text) and count < length:
        char = text[index]
        if char.isascii() and char.isalnum():
            count += 1
        elif not (char == " " and count and index + 1 < len(text) and text[index + 1].isalnum()):
            return None
        index += 1
    if count < length or (index < len(text) and text[index].isalnum()):
        return None
    return index


def _compact(written: str) -> str:
    return written.replace(" ", "")


def _iban_mask(written: str) -> str:
    """Country, check digits and last four kept (upper-cased), spaces kept where they were."""
    return _keep_ends(written, 4, str.isalnum)


def _mask_ssn(match: re.Match[str], found: list[str]) -> str:
    area, separator, group, serial = match.group(1), match.group(2), match.group(3), match.group(4)
    if area in ("000", "666") or area >= "900" or group == "00" or serial == "0000":
        return match.group(0)
    found.append(SSN)
    return f"***{separator}**{separator}{serial}"
