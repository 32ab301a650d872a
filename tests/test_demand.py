"""Demand groups: the same ask, however worded, is one group; another colour or size never is."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from associate_tui.asks import AskDraft, checked
from associate_tui.store import Store
from schemas.demand import demand_key, group_of, lost_value, search_words
from schemas.taxonomy import load_pack

RETAIL = load_pack("retail")
VOCABULARY = RETAIL.vocabulary()
UNMET = tuple(o.code for o in RETAIL.outcomes if o.unmet)


def key_of(text: str) -> str:
    attributes = RETAIL.recognise(text)
    categories = RETAIL.suggest_categories(text)
    return demand_key(categories[0].code if categories else None, attributes, text, VOCABULARY)


@pytest.mark.parametrize(
    "first, second",
    [
        ("navy rain jacket size M", "Rain jackets in navy, M"),
        ("navy rain jacket size M", "rain jacket, navy blue, size M"),
        ("do you have the leather boots in black UK 9", "black leather boot UK 9"),
        ("Crème brûlée candle", "creme brulee candles"),
    ],
)
def test_the_same_ask_worded_differently_is_one_group(first: str, second: str) -> None:
    assert key_of(first) == key_of(second), (
        group_of(None, RETAIL.recognise(first), first, VOCABULARY),
        group_of(None, RETAIL.recognise(second), second, VOCABULARY),
    )


@pytest.mark.parametrize(
    "first, second",
    [
        ("navy rain jacket size M", "black rain jacket size M"),
        ("navy rain jacket size M", "navy rain jacket size L"),
        ("navy rain jacket size M", "navy rain jacket"),
        ("leather boots UK 9", "leather boots UK 10"),
        ("rain jacket", "ski jacket"),
    ],
)
def test_another_colour_size_or_product_is_another_group(first: str, second: str) -> None:
    assert key_of(first) != key_of(second)


def test_a_price_does_not_split_the_group_and_gives_the_lost_value() -> None:
    text = "navy rain jacket size M"
    attributes = RETAIL.recognise(text)
    assert demand_key("clothing.outerwear", attributes, text) == demand_key(
        "clothing.outerwear", {**attributes, "price": "89.99"}, text
    )
    assert lost_value({"price": "£89.99"}, 2) == 179.98
    assert lost_value({"price": "1,299.50"}, 1) == 1299.5
    assert lost_value({"value": "89,90 EUR"}, 1) == 89.9
    assert lost_value({"colour": "navy"}, 1) is None


def test_search_words_are_prefixes_that_match_either_number() -> None:
    assert search_words("navy rain jackets", {"colour": "navy"}, VOCABULARY) == ("rain", "jacket")
    assert search_words("do you have any batteries", {}) == ("batter",)
    assert search_words("a", {}) == ()


# -- on the terminal's store ----------------------------------------------------------


def _add(store: Store, text: str, outcome: str = "out_of_stock", **fields) -> None:
    categories = RETAIL.suggest_categories(text)
    draft = checked(
        AskDraft(
            text=text,
            outcome=outcome,
            category=categories[0].code if categories else None,
            attributes=RETAIL.recognise(text),
            **fields,
        ),
        RETAIL,
    )
    store.add_ask(draft, store_id="S1", terminal_id="T1", associate="AB")


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "asks.db", vocabulary=VOCABULARY) as store:
        for _ in range(5):
            _add(store, "navy rain jacket size M")
        _add(store, "Rain jackets in navy blue, M")
        for _ in range(3):
            _add(store, "black rain jacket size M", substitute="grey rain jacket", substitute_accepted=True)
        _add(store, "black rain jacket size M", substitute="grey rain jacket", substitute_accepted=False)
        _add(store, "navy rain jacket size L", outcome="found")
        _add(store, "wool scarf")
        yield store


def _offered(store: Store, typed: str) -> list[tuple[str, int]]:
    return [(s.ask.text, s.this_week) for s in store.similar_asks(typed, attributes=RETAIL.recognise(typed))]


def test_suggestions_group_the_same_ask_and_never_offer_another_colour(store: Store) -> None:
    assert _offered(store, "rain jac") == [
        ("Rain jackets in navy blue, M", 6),
        ("black rain jacket size M", 4),
        ("navy rain jacket size L", 1),
    ]
    assert _offered(store, "navy rain jack") == [("Rain jackets in navy blue, M", 6), ("navy rain jacket size L", 1)]
    assert _offered(store, "black rain jacket") == [("black rain jacket size M", 4)]
    assert _offered(store, "red rain jacket") == []
    assert _offered(store, "umbrella") == []


def test_suggestions_only_look_back_thirty_days(store: Store) -> None:
    later = datetime.now(timezone.utc) + timedelta(days=31)
    assert store.similar_asks("rain jacket", now=later) == []


def test_same_as_is_kept_on_the_ask_and_counts_in_the_group(store: Store) -> None:
    offered = store.similar_asks("black rain", attributes={"colour": "black"})[0]
    again = store.add_ask(offered.ask.draft(), store_id="S1", terminal_id="T1", associate="CD", same_as=offered.ask.id)
    assert again.same_as == offered.ask.id
    assert store.similar_asks("black rain", attributes={"colour": "black"})[0].this_week == 5


def test_insights_rank_unmet_groups_and_add_up_attributes_substitutes_and_days(store: Store) -> None:
    insights = store.insights(since="2000-01-01T00:00:00.000Z", unmet=UNMET)
    assert [(g.ask.text, g.asks) for g in insights.groups] == [
        ("Rain jackets in navy blue, M", 6),
        ("black rain jacket size M", 4),
        ("wool scarf", 1),
    ]
    assert (insights.asks, insights.unmet) == (12, 11)
    assert ("colour", "navy", 6) in insights.attributes and ("size", "M", 10) in insights.attributes
    assert insights.substitutes == [("grey rain jacket", 4, 3, 1)]
    assert sum(insights.per_day.values()) == 11
