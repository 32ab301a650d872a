"""Categories, outcome codes and attribute vocabularies: what an ask is about and what came of it.

A taxonomy is data, not code. The built-in packs are `schemas/packs/*.json`; a site (or HQ)
can supply another file in the same format. This module reads and checks that data and finds its
words in free text. It imports only the standard library: it is loaded by the CLI and, later, by
HQ tools that must not pull in Textual.

Recognition works on words, not characters: the text is split into word tokens (`t-shirt` is
`t shirt`, `levi's` and `h&m` are one token each), then the longest known phrase starting at each
word wins, so "light blue" beats "blue" and "phone case" is not read as "phone". Regular
expressions from the pack add what a word list cannot say (sizes like "UK 9" or "32x34").
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from schemas.demand import fold, stem
from schemas.packcheck import TaxonomyError as TaxonomyError
from schemas.packcheck import _list, _object, _text, _text_list, _unique, _Where
from schemas.reading import TOKEN, Money, SizeRule, Speller, bare_numbers, child_age, normalise, rewrite, size_from

BUILTIN_PACKS: tuple[str, ...] = ("retail", "bank")
HQ_PACK = "hq"
MAX_OUTCOMES = 10  # picked with the digit keys 1..9 then 0
MAX_LABEL = 30  # category and outcome labels share an 80-column line with other fields

_TOKEN = TOKEN
_CODE = re.compile(r"^[a-z][a-z0-9_]*$")
_PACK_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_CATEGORY_CODE = re.compile(r"^[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*$")
_ATTRIBUTE_KEY = re.compile(r"^[a-z][a-z0-9_]{0,29}$")  # the same rule the ask form applies


@dataclass(frozen=True)
class Outcome:
    """What the store could do about an ask."""

    code: str
    label: str
    unmet: bool  # counts as demand the store did not meet
    help: str = ""


@dataclass(frozen=True)
class Category:
    """What an ask is about, suggested from its keywords."""

    code: str
    label: str
    keywords: tuple[str, ...]
    hints: tuple[str, ...] = ()  # words that suggest it only weakly: a brand, a model, "waterproof", "charger"
    sizes: tuple[SizeRule, ...] = ()  # how a number standing alone reads as a size of it ("boots 9")


@dataclass(frozen=True)
class ValuePattern:
    """A regular expression that finds an attribute value a word list cannot, e.g. "UK 9"."""

    regex: str
    value: str  # filled from the named groups: "UK {n}"
    case_sensitive: bool = False
    upper: bool = False  # upper-case the filled value ("34dd" -> "34DD")


@dataclass(frozen=True)
class Attribute:
    """One property of what was asked for (colour, size, ...) and its known values."""

    key: str
    label: str
    values: tuple[str, ...]
    synonyms: tuple[tuple[str, str], ...] = ()  # (word or phrase, canonical value)
    patterns: tuple[ValuePattern, ...] = ()
    ignore: tuple[str, ...] = ()  # phrases that look like a value but are not ("olive oil", "check" alone)
    money: MoneySpec | None = None  # an amount read from numbers ("£500", "20k", "500 euros")


@dataclass(frozen=True)
class MoneySpec:
    """How an attribute reads money: the home currency, the attribute holding currencies, words that mark it."""

    home: str
    currency: str = ""  # the attribute whose values are currency codes; "" keeps the number alone
    words: tuple[str, ...] = ()  # home currency words ("pounds", "quid")
    bare_from: int = 0  # a plain number of at least this is an amount too (0: never)


@dataclass(frozen=True)
class Children:
    """Words that say a child is meant move a garment to the children's category ("kids", "7-8", "boys")."""

    category: str
    applies_to: tuple[str, ...]  # category codes or their first part ("clothing", "footwear")
    words: tuple[str, ...]
    ignore: tuple[str, ...] = ()  # "baby pink" is a colour, not a baby


@dataclass(frozen=True)
class Taxonomy:
    """A pack: outcomes in digit-key order, categories, attribute vocabularies and channels."""

    name: str
    label: str
    version: str
    outcomes: tuple[Outcome, ...]
    categories: tuple[Category, ...]
    attributes: tuple[Attribute, ...]
    channels: tuple[str, ...]
    shorthand: tuple[tuple[str, str], ...] = ()  # what counter staff write -> the pack's word ("blk" -> "black")
    shoe_system: str = ""  # the system of a shoe size said without one ("boots 9" -> "UK 9")
    children: Children | None = None
    _index: _Index = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        # Built once: suggest_categories and recognise run on every keystroke.
        object.__setattr__(self, "_index", _Index.build(self))

    def outcome(self, code: str) -> Outcome | None:
        """The outcome with this code, or None."""
        return self._index.outcomes.get(code)

    def category(self, code: str) -> Category | None:
        """The category with this code, or None."""
        return self._index.categories.get(code)

    def suggest_categories(self, text: str, limit: int = 5) -> list[Category]:
        """Categories whose keywords occur in `text`, best first; [] if none do."""
        ranked = self._index.rank(self._index.read(text), self)
        return [self.categories[position] for position in ranked[: max(limit, 0)]]

    def corrections(self, text: str) -> list[tuple[str, str]]:
        """(typed, understood) for each word read as another: typos and shorthand ("jaket" -> "jacket")."""
        return list(self._index.read(text).corrections)

    def vocabulary(self) -> dict[str, frozenset[str]]:
        """Attribute key -> every word of its values and synonyms, folded and stemmed (for demand groups)."""
        return self._index.words

    def recognise(self, text: str) -> dict[str, str]:
        """Attribute key -> canonical value for every attribute found in `text`."""
        read = self._index.read(text)
        found: dict[str, str] = {}
        for vocabulary in self._index.vocabularies:
            value = vocabulary.find(read.text, read.words, read.spans)
            if value is not None:
                found[vocabulary.key] = value
        for attribute in self.attributes:
            if attribute.money is not None:
                amount = self._index.money[attribute.key].find(read.text, found.get(attribute.money.currency))
                if amount is not None:
                    found[attribute.key] = amount
        if "size" in self._index.words:
            # A size said without its system is read in the category's: "boots 9" and "boots size 9" are "UK 9".
            plain = found.get("size")
            if plain is None or re.fullmatch(r"\d{1,2}(?:\.5)?", plain):
                size = self._index.context_size(read, self, [plain] if plain else None)
                if size is not None:
                    found["size"] = size
        return {a.key: found[a.key] for a in self.attributes if a.key in found}


def parse_taxonomy(data: dict[str, Any], source: str = "<data>") -> Taxonomy:
    """Check `data` (a decoded pack) and build its Taxonomy; TaxonomyError names what is wrong."""
    at = _Where(source)
    _object(data, at, _PACK_FIELDS)
    name = _text(data, "name", at, pattern=_PACK_NAME, example='"retail"')
    label = _text(data, "label", at, example='"Retail store"')
    version = _text(data, "version", at, example='"2025.1"')
    outcomes = tuple(_outcome(item, at.item("outcomes", i)) for i, item in enumerate(_list(data, "outcomes", at)))
    if not outcomes:
        raise at.error("outcomes", 'is empty; add at least one, e.g. {"code": "found", "label": "Found", "unmet": false}')
    if len(outcomes) > MAX_OUTCOMES:
        raise at.error(
            "outcomes", f"has {len(outcomes)} entries; the digit keys pick at most {MAX_OUTCOMES}, so merge or drop some"
        )
    _unique([o.code for o in outcomes], "outcomes", "code", at)
    categories = tuple(_category(item, at.item("categories", i)) for i, item in enumerate(_list(data, "categories", at)))
    if not categories:
        raise at.error("categories", 'is empty; add at least one, e.g. {"code": "general", "label": "General", "keywords": []}')
    _unique([c.code for c in categories], "categories", "code", at)
    attributes = tuple(
        _attribute(item, at.item("attributes", i)) for i, item in enumerate(_list(data, "attributes", at, required=False))
    )
    _unique([a.key for a in attributes], "attributes", "key", at)
    channels = tuple(_text_list(data, "channels", at))
    if not channels:
        raise at.error("channels", 'is empty; list at least one, e.g. ["walk-in", "phone"]; the first is the default')
    _unique(channels, "channels", None, at)
    shorthand = data.get("shorthand", {})
    if not isinstance(shorthand, dict) or not all(isinstance(v, str) and _phrase(v) for v in shorthand.values()):
        raise at.error("shorthand", 'must map what staff write to the pack\'s words, e.g. "shorthand": {"blk": "black"}')
    children = _children(data["children"], at.item("children", 0), categories) if "children" in data else None
    return Taxonomy(
        name=name,
        label=label,
        version=version,
        outcomes=outcomes,
        categories=categories,
        attributes=attributes,
        channels=channels,
        shorthand=tuple(shorthand.items()),
        shoe_system=_text(data, "shoe_system", at, required=False, example='"UK"'),
        children=children,
    )


def load_pack(name_or_path: str) -> Taxonomy:
    """A built-in pack by name ("retail", "bank") or a pack file by path; cached.

    ("hq", the last pack a terminal pulled from HQ, is the terminal's to find: associate_tui.config.load_taxonomy.)
    """
    if name_or_path in BUILTIN_PACKS:
        return _load_builtin(name_or_path)
    path = Path(name_or_path).expanduser()
    if path.suffix.lower() != ".json" and len(path.parts) == 1:
        raise TaxonomyError(
            f"unknown taxonomy pack '{name_or_path}'; use a built-in pack ({', '.join(BUILTIN_PACKS)}), "
            f"'{HQ_PACK}' for the one HQ publishes, or the path to a .json pack file"
        )
    try:
        stat = path.stat()
    except OSError as error:
        raise TaxonomyError(
            f"cannot read taxonomy file {path}: {error.strerror or error}; check the path, "
            f"or use a built-in pack ({', '.join(BUILTIN_PACKS)})"
        ) from error
    # The file's size and time are in the key so that an edited file is read again.
    return _load_file(str(path.resolve()), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=None)
def _load_builtin(name: str) -> Taxonomy:
    return parse_pack(builtin_pack_bytes(name).decode("utf-8"), f"packs/{name}.json")


@lru_cache(maxsize=16)
def _load_file(path: str, mtime_ns: int, size: int) -> Taxonomy:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise TaxonomyError(f"cannot read taxonomy file {path}: {error}; it must be UTF-8 JSON") from error
    return parse_pack(text, Path(path).name)


def builtin_pack_bytes(name: str) -> bytes:
    """A built-in pack's file, as shipped (HQ publishes the retail one until it is given another)."""
    return (resources.files("schemas") / "packs" / f"{name}.json").read_bytes()


def parse_pack(text: str, source: str) -> Taxonomy:
    try:
        data = json.loads(text, object_pairs_hook=lambda pairs: _no_duplicates(pairs, source))
    except json.JSONDecodeError as error:
        raise TaxonomyError(
            f"{source}: not valid JSON at line {error.lineno}, column {error.colno}: {error.msg}; fix the syntax there"
        ) from error
    if not isinstance(data, dict):
        raise TaxonomyError(f'{source}: the file must hold one JSON object, {{"name": ..., "outcomes": [...], ...}}')
    return parse_taxonomy(data, source)


def _no_duplicates(pairs: list[tuple[str, Any]], source: str) -> dict[str, Any]:
    # json.loads keeps the last of two equal keys; in a vocabulary that silently loses synonyms.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise TaxonomyError(f'{source}: the key "{key}" appears twice in one object; merge the two entries')
        result[key] = value
    return result


# Recognition ---------------------------------------------------------------------------------

Words = tuple[str, ...]


def _tokens(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    words: list[str] = []
    spans: list[tuple[int, int]] = []
    for match in _TOKEN.finditer(text):
        words.append(_fold(match.group()))
        spans.append(match.span())
    return words, spans


def _fold(word: str) -> str:
    return normalise(word).casefold()


def _phrase(text: str) -> Words:
    """The words of a phrase as recognition compares them: "Off-White" -> ("off", "white")."""
    return tuple(_TOKEN.findall(_fold(text)))


def _scan(
    words: list[str], spans: list[tuple[int, int]], table: Mapping[Words, Any], longest: int
) -> Iterator[tuple[int, int, Any, int]]:
    """(start, end, entry, number of words) for each leftmost-longest phrase of `table` in words."""
    i = 0
    while i < len(words):
        for size in range(min(longest, len(words) - i), 0, -1):
            hit = table.get(tuple(words[i : i + size]))
            if hit is not None:
                yield spans[i][0], spans[i + size - 1][1], hit, size
                i += size
                break
        else:
            i += 1


def _flags(case_sensitive: bool) -> re.RegexFlag:
    return re.NOFLAG if case_sensitive else re.IGNORECASE


_IGNORED = ""  # table entry for a phrase that is consumed but yields no value


@dataclass(frozen=True)
class _Vocabulary:
    key: str
    phrases: dict[Words, str]  # what free text is matched against
    canonical: dict[Words, str]  # every spelling, to tidy up what a pattern found
    longest: int
    patterns: tuple[tuple[re.Pattern[str], str, bool], ...]

    @classmethod
    def build(cls, attribute: Attribute) -> _Vocabulary:
        canonical = {_phrase(value): value for value in attribute.values}
        canonical.update((_phrase(form), value) for form, value in attribute.synonyms)
        # One letter alone ("s", "m", "a") is too common in sentences to be a value; the pack
        # says with a pattern when it is one (an upper-case "M" standing alone).
        phrases = {words: value for words, value in canonical.items() if len("".join(words)) > 1}
        phrases.update((_phrase(text), _IGNORED) for text in attribute.ignore)
        patterns = tuple((re.compile(p.regex, _flags(p.case_sensitive)), p.value, p.upper) for p in attribute.patterns)
        return cls(attribute.key, phrases, canonical, max(map(len, phrases), default=0), patterns)

    def find(self, text: str, words: list[str], spans: list[tuple[int, int]]) -> str | None:
        """The value found earliest in the text; where two matches overlap the longer one wins."""
        # (start, end, rank, value): at equal length a pattern (rank 0) is more specific than a word.
        found = [(start, end, 1, value) for start, end, value, _ in _scan(words, spans, self.phrases, self.longest)]
        for regex, template, upper in self.patterns:
            for match in regex.finditer(text):
                if match.end() > match.start():
                    groups = {name: group or "" for name, group in match.groupdict().items()}
                    filled = " ".join(template.format_map(groups).split())
                    filled = filled.upper() if upper else filled
                    found.append((match.start(), match.end(), 0, self.canonical.get(_phrase(filled), filled)))
        chosen: list[tuple[int, int, str]] = []
        for start, end, _, value in sorted(found, key=lambda f: (f[0] - f[1], f[0], f[2])):
            if all(end <= other_start or other_end <= start for other_start, other_end, _ in chosen):
                chosen.append((start, end, value))
        values = [value for _, _, value in sorted(chosen) if value]
        return values[0] if values else None


@dataclass(frozen=True)
class _Read:
    """An ask as recognition reads it: normalised, shorthand spelt out, typos corrected."""

    text: str
    words: list[str]
    spans: list[tuple[int, int]]
    corrections: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class _Index:
    outcomes: dict[str, Outcome]
    categories: dict[str, Category]
    keywords: dict[Words, tuple[int, ...]]  # keyword phrase -> positions of its categories
    longest_keyword: int
    hints: dict[Words, tuple[int, ...]]
    vocabularies: tuple[_Vocabulary, ...]
    words: dict[str, frozenset[str]]
    shorthand: dict[str, str]
    speller: Speller
    money: dict[str, Money]
    child: _Vocabulary | None
    cache: dict[str, _Read] = field(default_factory=dict)

    @classmethod
    def build(cls, taxonomy: Taxonomy) -> _Index:
        keywords = _keyword_table((position, c.keywords) for position, c in enumerate(taxonomy.categories))
        hints = _keyword_table((position, c.hints) for position, c in enumerate(taxonomy.categories))
        vocabularies = tuple(_Vocabulary.build(a) for a in taxonomy.attributes if a.money is None)
        child = None
        if taxonomy.children is not None:
            words = taxonomy.children.words
            child = _Vocabulary.build(
                Attribute("child", "Child", ("child",), tuple((w, "child") for w in words), ignore=taxonomy.children.ignore)
            )
        known = {word for table in (keywords, hints) for phrase in table for word in phrase}
        known.update(
            word
            for vocabulary in (*vocabularies, *([child] if child else []))
            for phrase in vocabulary.phrases
            for word in phrase
        )
        shorthand = {_fold(typed): _fold(meant) for typed, meant in taxonomy.shorthand}
        known.update(word for meant in shorthand.values() for word in _phrase(meant))
        return cls(
            outcomes={o.code: o for o in taxonomy.outcomes},
            categories={c.code: c for c in taxonomy.categories},
            keywords=keywords,
            longest_keyword=max(map(len, (*keywords, *hints)), default=0),
            hints=hints,
            vocabularies=vocabularies,
            words={a.key: _attribute_words(a) for a in taxonomy.attributes},
            shorthand=shorthand,
            speller=Speller.build(known),
            money={a.key: _money(a.key, a.money, taxonomy) for a in taxonomy.attributes if a.money is not None},
            child=child,
        )

    def read(self, text: str) -> _Read:
        """The ask as recognition reads it; the last few are kept, as the form asks twice per keystroke."""
        read = self.cache.get(text)
        if read is None:
            clean, corrections = rewrite(text, self.shorthand, self.speller)
            words, spans = _tokens(clean)
            read = _Read(clean, words, spans, tuple(corrections))
            if len(self.cache) > 256:
                self.cache.clear()
            self.cache[text] = read
        return read

    def rank(self, read: _Read, taxonomy: Taxonomy) -> list[int]:
        """Category positions, best first: keyword words count 1 each, hints 0.1; a child moves a garment to Kids."""
        scores: dict[int, float] = {}
        for table, weight in ((self.keywords, 1.0), (self.hints, 0.1)):
            for _, _, hit, size in _scan(read.words, read.spans, table, self.longest_keyword):
                for position in hit:
                    scores[position] = scores.get(position, 0) + size * weight
        ranked = sorted(scores, key=lambda position: (-scores[position], position))
        children = taxonomy.children
        if ranked and children is not None and self.child_meant(read, taxonomy):
            top = taxonomy.categories[ranked[0]].code
            kids = [i for i, c in enumerate(taxonomy.categories) if c.code == children.category]
            if kids and any(top == code or top.startswith(code + ".") for code in children.applies_to):
                ranked = kids + [position for position in ranked if position != kids[0]]
        return ranked

    def child_meant(self, read: _Read, taxonomy: Taxonomy) -> bool:
        if self.child is not None and self.child.find(read.text, read.words, read.spans):
            return True
        size = next((v.find(read.text, read.words, read.spans) for v in self.vocabularies if v.key == "size"), None)
        return bool(size and re.fullmatch(r"\d{1,2}(?:-\d{1,2})?[ym]|newborn", size)) or child_age(read.text) is not None

    def context_size(self, read: _Read, taxonomy: Taxonomy, numbers: list[str] | None = None) -> str | None:
        """A size said without "size": read by the size system of the category the ask is about."""
        ranked = self.rank(read, taxonomy)
        if not ranked:
            return None
        category = taxonomy.categories[ranked[0]]
        if taxonomy.children is not None and category.code == taxonomy.children.category:
            age = child_age(read.text) if numbers is None else None
            if age is not None:
                return age
            garment = [taxonomy.categories[p] for p in ranked[1:2]]
            category = garment[0] if garment else category
        if not category.sizes:
            return None
        return size_from(category.sizes, bare_numbers(read.text) if numbers is None else numbers, taxonomy.shoe_system)


def _keyword_table(categories: Iterator[tuple[int, tuple[str, ...]]]) -> dict[Words, tuple[int, ...]]:
    table: dict[Words, tuple[int, ...]] = {}
    for position, keywords in categories:
        for keyword in keywords:
            for form in _plurals(_phrase(keyword)):
                if position not in table.get(form, ()):
                    table[form] = (*table.get(form, ()), position)
    return table


def _money(key: str, spec: MoneySpec, taxonomy: Taxonomy) -> Money:
    """The words that mark money: the home currency's words and every spelling of the currency attribute."""
    forms = list(spec.words)
    for attribute in taxonomy.attributes:
        if attribute.key == spec.currency:
            forms += [*attribute.values, *(form for form, _ in attribute.synonyms)]
    phrases = sorted({" ".join(_phrase(form)) for form in forms if _phrase(form)}, key=len, reverse=True)
    pattern = "|".join(r"\s+".join(map(re.escape, phrase.split())) for phrase in phrases) or "(?!)"
    home_words = frozenset(" ".join(_phrase(word)) for word in spec.words)
    return Money(key, spec.home, bool(spec.currency), spec.bare_from, re.compile(pattern), home_words)


def _plurals(words: Words) -> list[Words]:
    """The keyword and its regular English plurals, so a pack lists only the irregular ones."""
    if not words or not words[-1].isalpha() or len(words[-1]) < 3:
        return [words] if words else []
    *head, last = words
    forms = [last, last + "s"]
    if last.endswith(("s", "x", "z", "ch", "sh", "o")):
        forms.append(last + "es")
    if last.endswith("y") and last[-2] not in "aeiou":
        forms.append(last[:-1] + "ies")
    if last.endswith("f"):
        forms.append(last[:-1] + "ves")
    elif last.endswith("fe"):
        forms.append(last[:-2] + "ves")
    return [(*head, form) for form in forms]


# Validation ----------------------------------------------------------------------------------

_PACK_FIELDS = {
    "name",
    "label",
    "version",
    "outcomes",
    "categories",
    "attributes",
    "channels",
    "note",
    "shorthand",
    "shoe_system",
    "children",
}
_OUTCOME_FIELDS = {"code", "label", "unmet", "help", "note"}
_CATEGORY_FIELDS = {"code", "label", "keywords", "hints", "sizes", "note"}
_ATTRIBUTE_FIELDS = {"key", "label", "values", "patterns", "ignore", "money", "note"}
_SIZE_FIELDS = {"from", "to", "value", "halves", "note"}
_MONEY_FIELDS = {"home", "currency", "words", "bare_from", "note"}
_CHILDREN_FIELDS = {"category", "applies_to", "words", "ignore", "note"}
_PATTERN_FIELDS = {"regex", "value", "case_sensitive", "upper", "note"}


def _outcome(data: Any, at: _Where) -> Outcome:
    at = at.named(data["code"]) if isinstance(data, dict) and isinstance(data.get("code"), str) else at
    _object(data, at, _OUTCOME_FIELDS)
    code = _text(data, "code", at, pattern=_CODE, example='"out_of_stock"')
    label = _text(data, "label", at, example='"Out of stock"', max_length=MAX_LABEL)
    if not isinstance(data.get("unmet"), bool):
        raise at.error("unmet", 'must be true (the customer did not get what they asked for) or false, e.g. "unmet": true')
    return Outcome(code, label, data["unmet"], _text(data, "help", at, required=False))


def _category(data: Any, at: _Where) -> Category:
    at = at.named(data["code"]) if isinstance(data, dict) and isinstance(data.get("code"), str) else at
    _object(data, at, _CATEGORY_FIELDS)
    code = _text(data, "code", at, pattern=_CATEGORY_CODE, example='"clothing.outerwear"')
    label = _text(data, "label", at, example='"Clothing › Outerwear"', max_length=MAX_LABEL)
    keywords = _text_list(data, "keywords", at)
    for i, keyword in enumerate(keywords):
        if not _phrase(keyword):
            raise at.error(f"keywords[{i}]", f"'{keyword}' has no letters or digits, so it can never match; remove it")
    hints = _text_list(data, "hints", at, required=False)
    sizes = tuple(_size_rule(item, at.item("sizes", i)) for i, item in enumerate(_list(data, "sizes", at, required=False)))
    return Category(code, label, tuple(keywords), tuple(hints), sizes)


def _size_rule(data: Any, at: _Where) -> SizeRule:
    _object(data, at, _SIZE_FIELDS)
    low, high = data.get("from"), data.get("to")
    if not isinstance(low, (int, float)) or not isinstance(high, (int, float)) or low > high:
        raise at.error("from", 'and "to" must be numbers, the lower first, e.g. {"from": 1, "to": 15, "value": "UK {n}"}')
    value = _text(data, "value", at, example='"UK {n}"')
    if "{n}" not in value:
        raise at.error("value", f"'{value}' must hold {{n}}, where the number goes")
    return SizeRule(float(low), float(high), value, data.get("halves") is True)


def _children(data: Any, at: _Where, categories: tuple[Category, ...]) -> Children:
    _object(data, at, _CHILDREN_FIELDS)
    category = _text(data, "category", at, example='"clothing.kids"')
    if category not in {c.code for c in categories}:
        raise at.error("category", f"'{category}' is not a category of this pack")
    applies = _text_list(data, "applies_to", at)
    words = _text_list(data, "words", at)
    return Children(category, tuple(applies), tuple(words), tuple(_text_list(data, "ignore", at, required=False)))


def _money_spec(data: Any, at: _Where) -> MoneySpec:
    _object(data, at, _MONEY_FIELDS)
    bare = data.get("bare_from", 0)
    if not isinstance(bare, int) or bare < 0:
        raise at.error("bare_from", "must be a whole number, 0 for never")
    home = _text(data, "home", at, example='"GBP"')
    currency = _text(data, "currency", at, required=False, example='"currency"')
    return MoneySpec(home, currency, tuple(_text_list(data, "words", at, required=False)), bare)


def _attribute(data: Any, at: _Where) -> Attribute:
    at = at.named(data["key"]) if isinstance(data, dict) and isinstance(data.get("key"), str) else at
    _object(data, at, _ATTRIBUTE_FIELDS)
    key = _text(data, "key", at, pattern=_ATTRIBUTE_KEY, example='"colour"')
    label = _text(data, "label", at, example='"Colour"')
    raw_values = data.get("values")
    if not isinstance(raw_values, dict):
        raise at.error(
            "values", 'must be an object mapping each value to its synonyms, e.g. "values": {"grey": ["gray"], "navy": []}'
        )
    spelled: dict[Words, str] = {}
    synonyms: list[tuple[str, str]] = []
    for value, forms in raw_values.items():
        if not isinstance(forms, list) or not all(isinstance(f, str) for f in forms):
            raise at.error(f"values.{value}", f'must be a list of synonyms (strings), e.g. "{value}": []')
        for form in (value, *forms):
            words = _phrase(form)
            if not words:
                raise at.error(f"values.{value}", f"'{form}' has no letters or digits; match symbols with a pattern instead")
            if spelled.get(words, value) != value:
                raise at.error(
                    f"values.{value}",
                    f"'{form}' is also a spelling of '{spelled[words]}'; one spelling means one value, remove one of them",
                )
            spelled[words] = value
        synonyms.extend((form, value) for form in forms)
    patterns = tuple(_pattern(item, at.item("patterns", i)) for i, item in enumerate(_list(data, "patterns", at, required=False)))
    ignore = _text_list(data, "ignore", at, required=False)
    for i, phrase in enumerate(ignore):
        if not _phrase(phrase):
            raise at.error(f"ignore[{i}]", f"'{phrase}' has no letters or digits, so it can never match; remove it")
    money = _money_spec(data["money"], at.item("money", 0)) if "money" in data else None
    return Attribute(key, label, tuple(raw_values), tuple(synonyms), patterns, tuple(ignore), money)


def _pattern(data: Any, at: _Where) -> ValuePattern:
    _object(data, at, _PATTERN_FIELDS)
    regex = _text(data, "regex", at, example=r'"(?<!\\w)uk\\s*(?P<n>\\d{1,2})"')
    value = _text(data, "value", at, example='"UK {n}"')
    flags: dict[str, bool] = {}
    for name in ("case_sensitive", "upper"):
        if not isinstance(data.get(name, False), bool):
            raise at.error(name, f'must be true or false, e.g. "{name}": true')
        flags[name] = data.get(name, False)
    try:
        compiled = re.compile(regex, _flags(flags["case_sensitive"]))
    except re.error as error:
        raise at.error("regex", f"does not compile: {error}; in JSON every backslash is written twice (\\\\d)") from error
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
    except ValueError as error:
        raise at.error("value", f"'{value}' is not a valid template ({error}); write groups as {{name}}") from error
    missing = sorted(fields - set(compiled.groupindex))
    if missing:
        names = ", ".join("{" + m + "}" for m in missing)
        raise at.error("value", f"uses {names} but the regex has no such named group; add (?P<{missing[0]}>...)")
    return ValuePattern(regex, value, flags["case_sensitive"], flags["upper"])


def _attribute_words(attribute: Attribute) -> frozenset[str]:
    phrases = [*attribute.values, *(form for form, _ in attribute.synonyms), *(value for _, value in attribute.synonyms)]
    return frozenset(stem(word) for phrase in phrases for word in re.findall(r"[^\W_]+", fold(phrase)) if len(word) > 1)
