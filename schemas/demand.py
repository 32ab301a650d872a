"""Demand groups: when two asks are the same demand, wherever they were logged.

An ask's group is its category, its key attributes (colour, size, ... exactly as
recognised) and the words that are left of what was asked once attribute values,
filler words and plural endings are taken out. "Navy rain jacket size M" and
"rain jackets in navy, M" are one group; the same jacket in black, or in L, is
another. The terminal uses the key for "asked before" suggestions and HQ adds up
the same key across stores, so both ends must compute it the same way: this
module imports only the standard library and is shared by both.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping

# Bumped whenever the rules below change what key an ask gets (HQ recomputes).
KEY_VERSION = 1

# Attributes that say how much, not what: they never split a group.
VALUE_ATTRIBUTES = ("price", "value", "budget", "amount")
FEEDBACK = "feedback"  # the outcome of feedback: what a customer said, rated 1 to 5 (not an ask)

_WORD = re.compile(r"[^\W_]+")
_NUMBER = re.compile(r"\d[\d.,]*")
_FILLER = frozenset(
    """
    a an the and or of in on at to for with without from by as is are was were be it its this that these
    those some any one ones pair pairs do does did you your we our they them their he she his her i me my
    have has had got get looking look want wants wanted need needs needed wanting asked asking ask asks
    customer customers client please would like could can if not no only just also very really still
    size sized sizes colour colours color colors in style type kind sort model version
    """.split()
)


def fold(text: str) -> str:
    """Lower case without accents: "Crème" and "creme" are one word."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


_IRREGULAR = {
    "scarves": "scarf",
    "knives": "knife",
    "shelves": "shelf",
    "halves": "half",
    "leaves": "leaf",
    "loaves": "loaf",
    "wolves": "wolf",
    "calves": "calf",
    "wives": "wife",
    "lives": "life",
    "men": "man",
    "women": "woman",
    "children": "child",
    "feet": "foot",
    "teeth": "tooth",
    "mice": "mouse",
    "geese": "goose",
}


def stem(word: str) -> str:
    """A light English plural stem: jackets -> jacket, dresses -> dress, batteries -> battery, scarves -> scarf."""
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if len(word) <= 3 or word.isdigit():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "shes", "ches", "xes", "zes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def key_attributes(attributes: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The attributes that make a different demand, as sorted (key, folded value) pairs."""
    return tuple(
        sorted(
            (key, " ".join(fold(value).split()))
            for key, value in attributes.items()
            if key not in VALUE_ATTRIBUTES and value and value.strip()
        )
    )


Vocabulary = Mapping[str, frozenset[str]]  # attribute key -> every word of its values and synonyms


class _Taken:
    """Words that only repeat an attribute: its value's words, and with a vocabulary every word of
    that attribute's values ("navy blue" is colour=navy, and "blue" says nothing more).

    A membership test, not a set: a vocabulary's words are looked up where they are, never copied.
    """

    __slots__ = ("values", "sets")

    def __init__(self, attributes: Mapping[str, str], vocabulary: Vocabulary | None) -> None:
        self.values = {stem(word) for value in attributes.values() for word in _WORD.findall(fold(value or ""))}
        self.sets = [found for key in attributes if (found := vocabulary.get(key))] if vocabulary else []

    def __contains__(self, word: str) -> bool:
        return word in self.values or any(word in words for words in self.sets)


def words(text: str, attributes: Mapping[str, str] = {}, vocabulary: Vocabulary | None = None) -> tuple[str, ...]:
    """The words of an ask that say what it is, stemmed and sorted, without its attribute values."""
    taken = _Taken(attributes, vocabulary)
    found = {stem(word) for word in _WORD.findall(fold(text)) if len(word) > 1 and word not in _FILLER}
    return tuple(sorted(word for word in found if word not in taken))


def group_of(category: str | None, attributes: Mapping[str, str], text: str, vocabulary: Vocabulary | None = None) -> str:
    """The readable group key: `category|key=value;...|word word`."""
    pairs = ";".join(f"{key}={value}" for key, value in key_attributes(attributes))
    return f"{category or ''}|{pairs}|{' '.join(words(text, attributes, vocabulary))}"


def demand_key(category: str | None, attributes: Mapping[str, str], text: str, vocabulary: Vocabulary | None = None) -> str:
    """A short, stable id of the group (16 hex digits), indexed on the terminal and at HQ."""
    return hashlib.blake2b(group_of(category, attributes, text, vocabulary).encode(), digest_size=8).hexdigest()


def product_key(category: str | None, attributes: Mapping[str, str], text: str, vocabulary: Vocabulary | None = None) -> str:
    """Feedback's product group (16 hex digits): its category and key attributes, sizes aside.

    Not its words while it has a category: what a customer says about a product is mostly
    opinion ("leaks", "love it", "the zip broke"), which would give every piece of feedback a
    group of its own. Feedback with no category ("the checkout queue was too long") groups by
    its words, as an ask does.
    """
    if not category:
        return demand_key(category, attributes, text, vocabulary)
    kept = {key: value for key, value in attributes.items() if "size" not in key}
    return demand_key(category, kept, "")


def group_key(
    category: str | None, attributes: Mapping[str, str], text: str, outcome: str, vocabulary: Vocabulary | None = None
) -> str:
    """The group a record counts in: feedback's product group, an ask's demand group."""
    if outcome == FEEDBACK:
        return product_key(category, attributes, text, vocabulary)
    return demand_key(category, attributes, text, vocabulary)


def search_words(text: str, attributes: Mapping[str, str] = {}, vocabulary: Vocabulary | None = None) -> tuple[str, ...]:
    """Prefixes to look for while the associate is still typing, in typed order.

    The words `words` would keep, cut back to a prefix every form of the word starts
    with ("jackets" and "jacket" to "jacket", "batteries" to "batter"), since the
    last word may be half-typed and the logged ask may have the other number.
    """
    taken = _Taken(attributes, vocabulary)
    typed = [word for word in _WORD.findall(fold(text)) if len(word) > 1 and word not in _FILLER]
    # Only attribute words so far ("navy", "wool"): look for them, the attributes still filter.
    kept = [word for word in typed if stem(word) not in taken] or typed
    return tuple(dict.fromkeys(_prefix_stem(word) for word in kept))


def _prefix_stem(word: str) -> str:
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if len(word) <= 3 or word.isdigit():
        return word
    for ending in ("ies", "es", "s"):
        if word.endswith(ending) and not word.endswith("ss") and len(word) - len(ending) >= 3:
            return word[: -len(ending)]
    return word


def lost_value(attributes: Mapping[str, str], quantity: int) -> float | None:
    """quantity x price where a price (or value) was given, e.g. price=89.99; else None."""
    for key in VALUE_ATTRIBUTES:
        given = attributes.get(key)
        found = _NUMBER.search(given) if given else None
        if found:
            number = found.group().rstrip(".,")
            if "," in number and "." in number:
                number = number.replace(",", "")  # 1,299.50
            elif "," in number:  # 89,99 is a decimal comma; 1,299 a thousands separator
                whole, _, cents = number.rpartition(",")
                number = f"{whole.replace(',', '')}.{cents}" if len(cents) == 2 else number.replace(",", "")
            try:
                return round(float(number) * max(quantity, 1), 2)
            except ValueError:
                return None
    return None
