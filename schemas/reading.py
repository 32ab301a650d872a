"""Reading an ask as people type it: accents, shorthand, typos, numbers and money.

`schemas.taxonomy` finds a pack's words in text; this module first puts the text into the
words the pack knows. "Größe 42" becomes "Grosse 42", "blk" becomes "black" (the pack's
shorthand), "jaket" becomes "jacket" (one typo allowed from 5 letters, two from 9, never in
numbers or short words; rapidfuzz does the distance), "5 and a half" becomes "5.5". It also
reads the numbers a word list cannot: sizes from the category's size system and money
amounts. Only the standard library and rapidfuzz: HQ tools load it too.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

TOKEN = re.compile(r"\w+(?:['’&.]\w+)*")

# Typed words of 5 letters or more that are ordinary English, never corrected into a pack word
# ("stock" is not "sock", "there" is not "three", "leave" is not "sleeve").
COMMON = frozenset(
    """
    about above after again against along already although always among another anyone anything around asked
    asking avoid aware based because become before begin being below better between bigger birthday bought
    bring brought built called cannot card's cause change check cheap cheaper clean clear close coming could
    count couple cover daily daughter days dealing doesn't during early either enough every exact exactly
    family father fine first found friend friends front given going gonna great group guess happy hasn't
    haven't having heard hello hoping house husband isn't items knows large later least leave leaving left
    level light little local looked looking loose lower maybe means might money month mother never night
    nothing number offer often older online order other others owner paper party person phone piece place
    plain please point price quite rather ready really right round saying second seems seen sells sense
    should since small smaller sorry sound start still stock store stores stuff sure taken takes taking
    thank thanks their theirs there these thing things think those three through today together tomorrow
    total tried tries trying twice under until usual using wanted wants wasn't watch water weeks where
    whether which while white whole whose width wider wife within without woman women won't world worth
    would wouldn't write wrong years yesterday young yours yourself something someone somewhere anywhere
    everything mum's dad's brother sister grandson granddaughter nephew niece partner boyfriend girlfriend
    colleague present gifts shopping looks kinda sizes colours colour colors styles brands other's email
    phoned called collect visit visited visiting earlier lately recently another branch saturday sunday
    monday tuesday wednesday thursday friday weekend morning afternoon evening pounds euros dollars
    fitting fitted pairs larger longer shorter thicker thinner lighter darker warmer cooler wears wearing
    worn works working broke stolen lost holiday travel trip abroad account accounts
    """.split()
)

_HALF = re.compile(r"(?<![\d.])(\d{1,2})(?:\s*½|\s+and\s+a\s+half\b|\s+1/2(?![\d/]))", re.IGNORECASE)


def normalise(text: str) -> str:
    """Accents off and one form for each character, case kept: "Größe" -> "Grosse", "écru" -> "ecru", 9½ -> 9.5."""
    text = _HALF.sub(r"\1.5", text)
    if text.isascii():
        return text
    text = text.replace("’", "'").replace("ß", "ss").replace("ẞ", "SS")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def gate(word: str) -> int:
    """How many typos a word of this length may carry: none under 5 letters, one from 5, two from 9."""
    if not word.isalpha() or len(word) < 5:
        return 0
    return 1 if len(word) < 9 else 2


@dataclass
class Speller:
    """Corrects a typed word to the nearest word of the pack's vocabulary, within the length gate."""

    known: frozenset[str]
    by_letter: dict[str, list[str]]
    cache: dict[str, str | None]

    @classmethod
    def build(cls, words: Iterable[str]) -> Speller:
        known = frozenset(words)
        by_letter: dict[str, list[str]] = {}
        for word in sorted(known):
            if word.isalpha() and len(word) >= 4:
                by_letter.setdefault(word[0], []).append(word)
        return cls(known, by_letter, {})

    def correct(self, word: str) -> str | None:
        """The vocabulary word meant, or None when the word is known, ordinary English or too far from any."""
        if word in self.known or word in COMMON:
            return None
        if word in self.cache:
            return self.cache[word]
        found = None
        if word.endswith(("'s", "s'")) and word[:-2] in self.known:
            found = word[:-2]  # "euro's", "kid's"
        elif gate(word):
            # The first letter is taken as typed, as search engines do: typos are rarely there.
            choices = self.by_letter.get(word[0], [])
            best = _closest(word, choices, gate(word))
            found = best[0] if best is not None else None
        if len(self.cache) > 10_000:
            self.cache.clear()
        self.cache[word] = found
        return found


def rewrite(text: str, shorthand: Mapping[str, str], speller: Speller) -> tuple[str, list[tuple[str, str]]]:
    """The text with shorthand spelt out and typos corrected; and (typed, understood) for each word changed."""
    text = normalise(text)
    parts: list[str] = []
    changed: list[tuple[str, str]] = []
    last = 0
    for match in TOKEN.finditer(text):
        typed = match.group()
        word = typed.lower()
        meant = shorthand.get(word) or speller.correct(word)
        if meant and meant != word:
            parts.append(text[last : match.start()])
            parts.append(meant)
            last = match.end()
            changed.append((typed, meant))
    if not changed:
        return text, []
    parts.append(text[last:])
    return "".join(parts), changed


# Sizes from context -------------------------------------------------------------------------

_SIZE_WORDS = "collar|neck|waist|leg|inside|chest|reg|regular|long|short|uk|eu|wide|narrow|petite|tall|fit|size"
_BARE = re.compile(
    r"(?<![\w.,£$€¥#/:\-])(?P<n>\d{1,2}(?:\.5)?)(?![\w%£$€]|[.,/:\-–]\d|\s*(?:cm|mm|ml|kg|\"|''|inch|inches|in\b(?!\s+[a-z]{3})|x\b|×"
    r"|pack|pk|pcs|pieces|pairs?|of\b|items|units|years?|yrs?|yo\b|months?|mths?|weeks?|days?|hours?|pm\b|am\b"
    r"|gb|tb|litres?|l\b|watts?|w\b|percent|people|seater|piece|for\b|more\b|left\b|quid|pounds?|p\b|k\b))",
    re.IGNORECASE,
)
_QUANTITY_BEFORE = re.compile(r"(?:\b(?:need|want|get|buy|order|x|of|only|about|around|got|have|had|take)\s*)$", re.IGNORECASE)
_SIZE_AFTER = re.compile(rf"\s*(?:{_SIZE_WORDS})\b", re.IGNORECASE)


@dataclass(frozen=True)
class SizeRule:
    """Numbers from `low` to `high` read as a size of this category, written as `value` ("UK {n}")."""

    low: float
    high: float
    value: str
    halves: bool = False


def bare_numbers(text: str) -> list[str]:
    """Numbers standing alone that may be sizes ("boots 9", "16 collar"), not quantities ("2 boots") or units."""
    found = []
    for match in _BARE.finditer(text):
        before, after = text[: match.start()], text[match.end() :]
        if _QUANTITY_BEFORE.search(before.rstrip()):
            continue
        if re.match(r"\s*[a-z]", after, re.IGNORECASE) and not _SIZE_AFTER.match(after):
            if not before.strip() or re.search(r"\b(?:a|the|these|those|my|for|and|with)\s*$", before, re.IGNORECASE):
                continue  # "2 boots", "for 3 people": a count before a noun
        found.append(match.group("n"))
    return found


def size_from(rules: Iterable[SizeRule], numbers: Iterable[str], system: str) -> str | None:
    """The first number a rule of the category accepts, written the rule's way."""
    rules = tuple(rules)
    for number in numbers:
        value = float(number)
        for rule in rules:
            if rule.low <= value <= rule.high and (value.is_integer() or rule.halves):
                n = str(int(value)) if value.is_integer() else number
                return rule.value.replace("{system}", system).replace("{n}", n)
    return None


_AGE_RANGE = re.compile(r"(?<![\w.,£$€/:\-])(?P<a>1[0-5]|\d)\s*[-–/]\s*(?P<b>1[0-6]|\d)(?![\w.,/:\-]|\s*(?:cm|mm|pm|am|%))")
_AGE_OLD = re.compile(r"(?<![\w.,£$€])(?P<a>1[0-6]|\d)\s*(?:-\s*)?(?:years?|yrs?|y)?[\s-]*(?:old\b|yo\b)", re.IGNORECASE)


def child_age(text: str) -> str | None:
    """A child's age said without "age": "7-8" -> "7-8y", "3 yr old" -> "3y"."""
    match = _AGE_RANGE.search(text)
    if match and re.search(r"(?:size|sz|uk|eu|us)\s*$", text[: match.start()], re.IGNORECASE):
        match = None
    if match and int(match.group("a")) + 1 == int(match.group("b")):
        return f"{match.group('a')}-{match.group('b')}y"
    match = _AGE_OLD.search(text)
    return f"{match.group('a')}y" if match else None


# Money --------------------------------------------------------------------------------------

_SYMBOLS = {"£": "GBP", "€": "EUR", "$": "USD", "¥": "JPY"}
_NUMBER = r"(?P<n>\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?|\d+(?:\.\d{1,2})?)(?![\d])"
_MULT = r"(?:\s*(?P<mult>k|m|bn|grand|thousand|million|mil)(?![a-z]))?"
_MULTIPLY = {"k": 1e3, "grand": 1e3, "thousand": 1e3, "m": 1e6, "mil": 1e6, "million": 1e6, "bn": 1e9}


@dataclass(frozen=True)
class Money:
    """How a pack reads amounts: the attribute, the home currency, and the words that mark money."""

    key: str
    home: str
    with_currency: bool
    bare_from: int  # a number with no money word counts from this many units (0: never)
    words: re.Pattern[str]  # currency words and names next to a number: "euros", "pounds", "hk dollars"
    home_words: frozenset[str] = frozenset()  # the home currency's own words: "pounds", "quid"

    def find(self, text: str, currency: str | None) -> str | None:
        """The first amount in the text, "500 EUR" (or "49.99" when the pack keeps no currency)."""
        symbol = re.compile(rf"(?P<sym>[£€$¥])\s*{_NUMBER}{_MULT}(?!\s*(?:coins?|notes?)\b)", re.IGNORECASE)
        worded = re.compile(rf"(?<![\w.]){_NUMBER}{_MULT}\s*(?P<word>{self.words.pattern})(?!\w)", re.IGNORECASE)
        before = re.compile(rf"(?<!\w)(?P<word>{self.words.pattern})\s*[,:]?\s*{_NUMBER}{_MULT}(?![\w%])", re.IGNORECASE)
        multiplied = re.compile(rf"(?<![\w.£$€]){_NUMBER}\s*(?P<mult>k|grand|thousand|million)(?![a-z])", re.IGNORECASE)
        hits = [m for regex in (symbol, worded, before, multiplied) for m in regex.finditer(text)]
        if self.bare_from and not hits:
            hits = [
                m
                for m in re.finditer(
                    rf"(?<![\w.,£$€#/:\-]){_NUMBER}(?![\w%.,/:\-]|\s*(?:years?|yrs?|months?|days?|coins?|notes?))", text
                )
                if _bare_amount(text, m, self.bare_from)
            ]
        if not hits:
            return None
        match = min(hits, key=lambda m: m.start())
        groups = match.groupdict()
        amount = float(groups["n"].replace(",", "")) * _MULTIPLY.get((groups.get("mult") or "").lower(), 1)
        number = f"{amount:.0f}" if amount.is_integer() else f"{amount:.2f}"
        if not self.with_currency:
            return number
        sign = groups.get("sym")
        word = " ".join((groups.get("word") or "").lower().split())
        if sign == "£" or word in self.home_words:
            code = "GBP"
        elif sign and sign != "$" or (sign == "$" and not currency):
            code = _SYMBOLS[sign]
        else:
            code = currency or self.home
        return f"{number} {code}"


def _bare_amount(text: str, match: re.Match[str], low: int) -> bool:
    value = float(match.group("n").replace(",", ""))
    year_like = re.fullmatch(r"(?:19|20)\d\d", match.group("n")) is not None
    numbered = re.search(
        r"(?:ending|number|no|code|ref|reference|card|pin|room|flat|account|sort)\s*[:#]?\s*$",
        text[: match.start()],
        re.IGNORECASE,
    )
    digits = match.group("n").replace(",", "")
    among = re.search(r"\d\s*$", text[: match.start()]) or re.match(r"\s*\d", text[match.end() :])
    return value >= low and len(digits) <= 7 and not digits.startswith("0") and not year_like and not numbered and not among


def _closest(word: str, choices: list[str], most: int) -> tuple | None:
    """The choice fewest edits from `word` (transpositions count once), within `most` edits.

    rapidfuzz is imported on the first word checked, not with the capture screen: its
    24 ms of import would otherwise come before the cursor is in the ask field.
    """
    from rapidfuzz import process
    from rapidfuzz.distance import OSA

    return process.extractOne(word, choices, scorer=OSA.distance, score_cutoff=most)
