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
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from schemas.demand import fold, stem

BUILTIN_PACKS: tuple[str, ...] = ("retail", "bank")
HQ_PACK = "hq"
MAX_OUTCOMES = 10  # picked with the digit keys 1..9 then 0
MAX_LABEL = 30  # category and outcome labels share an 80-column line with other fields

_TOKEN = re.compile(r"\w+(?:['’&.]\w+)*")
_CODE = re.compile(r"^[a-z][a-z0-9_]*$")
_PACK_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_CATEGORY_CODE = re.compile(r"^[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*$")
_ATTRIBUTE_KEY = re.compile(r"^[a-z][a-z0-9_]{0,29}$")  # the same rule the ask form applies


class TaxonomyError(ValueError):
    """A taxonomy pack that cannot be used; the message names the file and field to fix."""


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
        scores: dict[int, int] = {}
        words, spans = _tokens(text)
        for _, _, hit, size in _scan(words, spans, self._index.keywords, self._index.longest_keyword):
            for position in hit:
                scores[position] = scores.get(position, 0) + size
        ranked = sorted(scores, key=lambda position: (-scores[position], position))
        return [self.categories[position] for position in ranked[: max(limit, 0)]]

    def vocabulary(self) -> dict[str, frozenset[str]]:
        """Attribute key -> every word of its values and synonyms, folded and stemmed (for demand groups)."""
        return self._index.words

    def recognise(self, text: str) -> dict[str, str]:
        """Attribute key -> canonical value for every attribute found in `text`."""
        words, spans = _tokens(text)
        found: dict[str, str] = {}
        for vocabulary in self._index.vocabularies:
            value = vocabulary.find(text, words, spans)
            if value is not None:
                found[vocabulary.key] = value
        return found


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
    return Taxonomy(
        name=name,
        label=label,
        version=version,
        outcomes=outcomes,
        categories=categories,
        attributes=attributes,
        channels=channels,
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
    return word.casefold().replace("’", "'")


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
class _Index:
    outcomes: dict[str, Outcome]
    categories: dict[str, Category]
    keywords: dict[Words, tuple[int, ...]]  # keyword phrase -> positions of its categories
    longest_keyword: int
    vocabularies: tuple[_Vocabulary, ...]
    words: dict[str, frozenset[str]]

    @classmethod
    def build(cls, taxonomy: Taxonomy) -> _Index:
        keywords: dict[Words, tuple[int, ...]] = {}
        for position, category in enumerate(taxonomy.categories):
            for keyword in category.keywords:
                for form in _plurals(_phrase(keyword)):
                    if position not in keywords.get(form, ()):
                        keywords[form] = (*keywords.get(form, ()), position)
        return cls(
            outcomes={o.code: o for o in taxonomy.outcomes},
            categories={c.code: c for c in taxonomy.categories},
            keywords=keywords,
            longest_keyword=max(map(len, keywords), default=0),
            vocabularies=tuple(_Vocabulary.build(a) for a in taxonomy.attributes),
            words={a.key: _attribute_words(a) for a in taxonomy.attributes},
        )


def _plurals(words: Words) -> list[Words]:
    """The keyword and its regular English plurals, so a pack lists only the irregular ones."""
    if not words or not words[-1].isalpha() or len(words[-1]) < 3:
        return [words] if words else []
    *head, last = words
    forms = [last, last + "s", last + "es"]
    if last.endswith("y") and last[-2] not in "aeiou":
        forms.append(last[:-1] + "ies")
    if last.endswith("f"):
        forms.append(last[:-1] + "ves")
    elif last.endswith("fe"):
        forms.append(last[:-2] + "ves")
    return [(*head, form) for form in forms]


# Validation ----------------------------------------------------------------------------------

_PACK_FIELDS = {"name", "label", "version", "outcomes", "categories", "attributes", "channels", "note"}
_OUTCOME_FIELDS = {"code", "label", "unmet", "help", "note"}
_CATEGORY_FIELDS = {"code", "label", "keywords", "note"}
_ATTRIBUTE_FIELDS = {"key", "label", "values", "patterns", "ignore", "note"}
_PATTERN_FIELDS = {"regex", "value", "case_sensitive", "upper", "note"}


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
    return Category(code, label, tuple(keywords))


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
    return Attribute(key, label, tuple(raw_values), tuple(synonyms), patterns, tuple(ignore))


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
