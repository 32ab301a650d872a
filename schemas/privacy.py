"""The privacy guard: numbers that must never be stored, masked in free text.

Tellers and shop staff type card numbers, IBANs and social security numbers
into notes. Every free-text field passes through `mask` before it is written,
on the terminal and again at HQ (an older terminal cannot leak either):

- card numbers: 13-19 digits, Luhn-valid and starting like a major scheme's
  cards; first six and last four are kept, the rest becomes `*`. Written run
  together or grouped as cards are (in fours, or 4-6-5 / 4-6-4), with up to
  three spaces, a dash, a dot or a line break (a wrapped paste) between groups. Glued to
  letters only when they name a card (visa4111..., 4111...exp12/27); after a
  `+` only with more than 15 digits (a phone number has at most 15). Online
  order numbers (3-7-7) and EAN-13 barcodes named as such are left alone;
- IBANs: a known country's length and a valid mod-97 check, spaces allowed;
  the country, check digits and last four are kept. Odd spacing (GB 82 WEST...,
  double spaces, dashes, a line break) is accepted when the account part looks
  like one (at least half digits), so words that happen to pass mod-97 are left
  alone;
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

# How people separate a card's digits: up to three spaces (a PDF or a double tap), a
# dash, a line break (a wrapped paste), or a dot between groups of three or more
# (a dot beside fewer digits is a price or a date: 5.99, 149.00, 25.11.2026), save
# before a dotted card's short last group (4111.1111.1111.1111.22).
_SPACE = r"[ \t\u00a0\u2007\u202f]"
_SEPARATOR = (
    rf"(?:{_SPACE}{{1,3}}|{_SPACE}{{0,2}}[-\u2010-\u2013]{_SPACE}{{0,2}}|{_SPACE}{{0,3}}-?\r?\n{_SPACE}{{0,3}}"
    r"|(?<=\d{3})\.(?=\d{3})|(?<=\.\d{4})\.(?=\d{1,2}(?!\d)))"
)
# A run of digits and separators long enough to hold a card; what sits just before
# and after it (letters, a `+`) is judged in `_mask_card_run`.
_DIGIT_RUN = re.compile(rf"(?<!\d)\d(?:{_SEPARATOR}?\d){{12,}}(?!\d)")
_GROUPS = re.compile(r"\d+")
_ORDER_NUMBER = re.compile(r"\d{3}-\d{7}-\d{7}")  # online shops' 3-7-7 order numbers
# A word naming a barcode just before a 13-digit number: "EAN 4007522095398", "scanned: ...".
_BARCODE_WORD = re.compile(
    r"(?i)\b(?:ean(?:-?13)?|gtin(?:-?13)?|bar ?code|upc|scanned|scan|sku|item|product|art(?:ikel)?)"
    r"[\s:#.-]*(?:(?:no|nr|number)[\s:#.-]*)?$"
)
_LETTERS_BEFORE = re.compile(r"[^\W\d]+$")
_LETTERS_AFTER = re.compile(r"[^\W\d]+")
# Letters that may be glued to a card number: words for a card before it, expiry or
# security code after it. Any other letters make it an identifier (SKU4111..., 1Z...).
_CARD_WORDS = frozenset(
    (
        "visa",
        "mc",
        "master",
        "mastercard",
        "amex",
        "card",
        "cards",
        "cc",
        "ccn",
        "pan",
        "debit",
        "credit",
        "maestro",
        "discover",
        "jcb",
        "diners",
        "unionpay",
        "cup",
        "mir",
        "cb",
        "carte",
        "karte",
        "tarjeta",
        "no",
        "nr",
        "num",
        "number",
    )
)
_CARD_WORD_ENDINGS = (
    "visa",
    "card",
    "carte",
    "karte",
    "tarjeta",
    "amex",
    "debit",
    "credit",
    "maestro",
    "cardno",
    "cardnr",
    "number",
)
_AFTER_CARD = ("exp", "cvv", "cvc", "cv", "valid", "sec")
# E.164 caps a phone number at 15 digits: after a `+`, only a longer run is a card.
_LONGEST_PHONE = 15
_SSN = re.compile(r"(?<![\w-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\w-])")
# An IBAN's start: country and check digits together (any case, even glued to 'IBAN'),
# or apart in capitals (GB 82 ...).
_IBAN_START = re.compile(r"(?:(?<![A-Za-z0-9])|(?<=[Ii][Bb][Aa][Nn]))(?:([A-Za-z]{2})(\d{2})|([A-Z]{2})[ \t]{1,2}(\d{2}))")
_IBAN_SEPARATOR = re.compile(rf"{_SPACE}{{1,3}}|{_SPACE}{{0,2}}-{_SPACE}{{0,2}}|{_SPACE}{{0,3}}\r?\n{_SPACE}{{0,3}}")
_IBAN_PLAIN = re.compile(r"[A-Za-z0-9]+(?: [A-Za-z0-9]+)*")
# Anything the patterns above could mask holds nine digits with separators between
# them (a card, an SSN) or an IBAN's start. Most text holds neither and is returned
# after this one search.
_DIGIT = re.compile(r"\d")  # every _MAYBE match holds one: a search five times cheaper rules most texts out
_MAYBE = re.compile(rf"\d(?:{_SEPARATOR}?\d){{8}}|[A-Za-z]{{2}}\d\d|[A-Z]{{2}}[ \t]{{1,2}}\d\d")

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
    "AD": 24,
    "AE": 23,
    "AL": 28,
    "AT": 20,
    "AZ": 28,
    "BA": 20,
    "BE": 16,
    "BG": 22,
    "BH": 22,
    "BI": 27,
    "BR": 29,
    "BY": 28,
    "CH": 21,
    "CR": 22,
    "CY": 28,
    "CZ": 24,
    "DE": 22,
    "DJ": 27,
    "DK": 18,
    "DO": 28,
    "EE": 20,
    "EG": 29,
    "ES": 24,
    "FI": 18,
    "FK": 18,
    "FO": 18,
    "FR": 27,
    "GB": 22,
    "GE": 22,
    "GI": 23,
    "GL": 18,
    "GR": 27,
    "GT": 28,
    "HR": 21,
    "HU": 28,
    "IE": 22,
    "IL": 23,
    "IQ": 23,
    "IS": 26,
    "IT": 27,
    "JO": 30,
    "KW": 30,
    "KZ": 20,
    "LB": 28,
    "LC": 32,
    "LI": 21,
    "LT": 20,
    "LU": 20,
    "LV": 21,
    "LY": 25,
    "MC": 27,
    "MD": 24,
    "ME": 22,
    "MK": 19,
    "MN": 20,
    "MR": 27,
    "MT": 31,
    "MU": 30,
    "NI": 28,
    "NL": 18,
    "NO": 15,
    "OM": 23,
    "PK": 24,
    "PL": 28,
    "PS": 29,
    "PT": 25,
    "QA": 29,
    "RO": 24,
    "RS": 22,
    "RU": 33,
    "SA": 24,
    "SC": 31,
    "SD": 18,
    "SE": 24,
    "SI": 19,
    "SK": 24,
    "SM": 27,
    "SO": 23,
    "ST": 25,
    "SV": 28,
    "TL": 23,
    "TN": 24,
    "TR": 26,
    "UA": 29,
    "VA": 22,
    "VG": 24,
    "XK": 20,
    "YE": 30,
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
    """Whether ASCII digits are a card number: a scheme's prefix and length, Luhn-valid."""
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
    text = _DIGIT_RUN.sub(lambda match: _mask_card_run(match, found), text)
    text = _SSN.sub(lambda match: _mask_ssn(match, found), text)
    return Masked(text, tuple(kind for kind in (CARD, IBAN, SSN) if kind in found))


def may_hold_sensitive(text: str) -> bool:
    """False when `mask` would certainly leave the text as it is: one regex search.

    Texts joined with newlines can be checked at once: joining can add a match, never hide one.
    """
    return _DIGIT.search(text) is not None and _MAYBE.search(text) is not None  # most texts: no digit, a quick no


def describe(found: tuple[str, ...] | list[str]) -> str:
    """'a card number and an IBAN were masked' for the associate."""
    if not found:
        return ""
    words = [("an " if kind == IBAN else "a ") + kind for kind in found]
    listed = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
    return f"Masked {listed}: such numbers are never stored."


def _mask_card_run(match: re.Match[str], found: list[str]) -> str:
    """Mask every card number inside a run of digit groups (it may hold other numbers too).

    The longest card starting at each group wins ("order 5512 4111 1111 1111 1111").
    Letters or a `+` just before the run can rule out a card starting at its first
    group, letters just after it one ending at its last.
    """
    run, text = match.group(0), match.string
    first_group_min = _first_group_min(text[: match.start()])
    last_group_allowed = _may_end_card(text[match.end() :])
    groups = _groups(run)
    spans: list[tuple[int, int]] = []
    start_group = 0
    while start_group < len(groups):
        best = None
        digits = 0
        for end_group in range(start_group, len(groups)):
            digits += groups[end_group][2]
            if digits > 19:
                break
            if digits < 13 or (start_group == 0 and digits < first_group_min):
                continue
            if end_group == len(groups) - 1 and not last_group_allowed:
                continue
            if not _card_shaped(groups[start_group : end_group + 1]) or _inside_longer_number(groups, start_group, end_group):
                continue
            start, end = groups[start_group][0], groups[end_group][1]
            written = run[start:end]
            if is_card_number(_ascii_digits(written)) and not _not_a_card(written, text[: match.start() + start]):
                best = (end_group, start, end)
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


def _groups(run: str) -> list[tuple[int, int, int, bool]]:
    """The run's digit groups: (start, end, digits, whether a line break comes before it)."""
    groups: list[tuple[int, int, int, bool]] = []
    for group in _GROUPS.finditer(run):
        broken = bool(groups) and "\n" in run[groups[-1][1] : group.start()]
        groups.append((group.start(), group.end(), group.end() - group.start(), broken))
    return groups


def _card_shaped(groups: list[tuple[int, int, int, bool]]) -> bool:
    """Grouped as cards are written: run together, in fours (the last may be shorter), or 4-6-5 / 4-6-4.

    A line break may fall between two groups (a word-wrapped paste) or cut a group
    in two, so both readings are tried; a run-together number cut by a line break
    is not taken for a card, as two numbers on consecutive lines look the same.
    Lists of sizes, prices, dates, receipts and phone numbers are grouped otherwise.
    """
    as_written = [size for _, _, size, _ in groups]
    if not any(broken for _, _, _, broken in groups[1:]):
        return _shaped(as_written)
    joined = [as_written[0]]
    for _, _, size, broken in groups[1:]:
        if broken:
            joined[-1] += size
        else:
            joined.append(size)
    return _shaped(as_written) or (len(joined) > 1 and _shaped(joined))


def _shaped(sizes: list[int]) -> bool:
    *body, last = sizes
    return (
        not body
        or (all(size == 4 for size in body) and 1 <= last <= 4)
        or (len(sizes) == 3 and sizes[:2] == [4, 6] and 4 <= last <= 9)
    )


def _inside_longer_number(groups: list[tuple[int, int, int, bool]], first: int, last: int) -> bool:
    """A span strictly inside a run grouped in fours throughout (a 22-digit tracking number): not a card."""
    return 0 < first and last < len(groups) - 1 and all(size == 4 for _, _, size, _ in groups[:-1])


def _not_a_card(written: str, before: str) -> bool:
    """An online order number (3-7-7), or a valid EAN-13 barcode named as one, though it passes Luhn."""
    if _ORDER_NUMBER.fullmatch(written):
        return True
    return len(written) == 13 and written.isdigit() and ean13_valid(written) and _BARCODE_WORD.search(before[-30:]) is not None


def ean13_valid(digits: str) -> bool:
    total = sum(int(char) * (3 if index % 2 else 1) for index, char in enumerate(digits[:12]))
    return (10 - total % 10) % 10 == int(digits[12])


def _first_group_min(before: str) -> float:
    """How many digits a card starting at a run's first group needs, given what precedes the run."""
    if not before:
        return 0
    if before[-1] == "+":
        return _LONGEST_PHONE + 1
    letters = _LETTERS_BEFORE.search(before)
    if letters is None:
        return 0
    word = letters.group(0).casefold()
    if word in _CARD_WORDS or word.endswith(_CARD_WORD_ENDINGS):
        return 0
    return float("inf")


def _may_end_card(after: str) -> bool:
    """Whether a card may end at a run's last group, given the letters glued after it."""
    letters = _LETTERS_AFTER.match(after)
    return letters is None or letters.group(0).casefold().startswith(_AFTER_CARD)


def _ascii_digits(written: str) -> str:
    """The digits of a written number as ASCII (full-width and other scripts' digits included)."""
    digits = "".join(char for char in written if char.isdecimal())
    return digits if digits.isascii() else "".join(str(int(char)) for char in digits)


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
        country = match.group(1) or match.group(3)
        length = IBAN_LENGTHS.get(country.upper())
        if length is None:
            continue
        end = _iban_end(text, match.start(), length)
        if end is None:
            continue
        written = text[match.start() : end]
        compact = _compact(written)
        if not iban_valid(compact):
            continue
        # Written the usual way (glued start, single spaces), the check digits suffice;
        # written oddly, the account part must also look like one.
        if not _IBAN_PLAIN.fullmatch(written) and not _account_like(compact[4:]):
            continue
        pieces += [text[position : match.start()], _iban_mask(written)]
        position = end
        found.append(IBAN)
    if not pieces:
        return text
    pieces.append(text[position:])
    return "".join(pieces)


def _iban_end(text: str, start: int, length: int) -> int | None:
    """Where an IBAN of `length` characters starting at `start` ends, separators allowed inside."""
    count, index = 0, start
    while count < length:
        if index < len(text) and text[index].isascii() and text[index].isalnum():
            count += 1
            index += 1
            continue
        separator = _IBAN_SEPARATOR.match(text, index) if count else None
        if separator is None or separator.end() >= len(text) or not text[separator.end()].isalnum():
            return None
        index = separator.end()
    if index < len(text) and text[index].isalnum():
        return None
    return index


def _account_like(bban: str) -> bool:
    """At least half digits: an account number, not words that happen to pass mod-97."""
    return sum(char.isdigit() for char in bban) * 2 >= len(bban)


def _compact(written: str) -> str:
    return "".join(char for char in written if char.isalnum())


def _iban_mask(written: str) -> str:
    """Country, check digits and last four kept (upper-cased), spaces kept where they were."""
    return _keep_ends(written, 4, str.isalnum)


def _mask_ssn(match: re.Match[str], found: list[str]) -> str:
    area, separator, group, serial = match.group(1), match.group(2), match.group(3), match.group(4)
    if area in ("000", "666") or area >= "900" or group == "00" or serial == "0000":
        return match.group(0)
    found.append(SSN)
    return f"***{separator}**{separator}{serial}"
