"""Taxonomy packs: loading, validation, and recognising what a customer asked for."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from schemas.taxonomy import (
    BUILTIN_PACKS,
    Taxonomy,
    TaxonomyError,
    load_pack,
    parse_taxonomy,
)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def retail() -> Taxonomy:
    return load_pack("retail")


@pytest.fixture(scope="module")
def bank() -> Taxonomy:
    return load_pack("bank")


# What an associate types, the category they should see first, and every attribute recognised.
RETAIL_ASKS: list[tuple[str, str | None, dict[str, str]]] = [
    ("blue rain jacket size M", "clothing.outerwear", {"colour": "blue", "size": "M"}),
    ("blue rain jacket M", "clothing.outerwear", {"colour": "blue", "size": "M"}),
    ("navy wool jumper size L", "clothing.knitwear", {"colour": "navy", "size": "L", "material": "wool"}),
    ("Navy Blue parka XL", "clothing.outerwear", {"colour": "navy", "size": "XL"}),
    ("light blue shirt size 16", "clothing.tops", {"colour": "light blue", "size": "16"}),
    ("grey hoodie medium", "clothing.tops", {"colour": "grey", "size": "M"}),
    ("gray anorak extra large", "clothing.outerwear", {"colour": "grey", "size": "XL"}),
    ("white trainers UK 9", "footwear", {"colour": "white", "size": "UK 9"}),
    ("Nike sneakers EU 42", "footwear", {"brand": "Nike", "size": "EU 42"}),
    ("black leather boots size 7", "footwear", {"colour": "black", "material": "leather", "size": "UK 7"}),
    ("faux leather jacket in black, 2XL", "clothing.outerwear", {"material": "faux leather", "colour": "black", "size": "XXL"}),
    ("Levi's 501 jeans 32x34", "clothing.trousers", {"brand": "Levi's", "size": "32x34"}),
    ("black skinny jeans W30 L32", "clothing.trousers", {"colour": "black", "fit": "skinny", "size": "30x32"}),
    ("chinos 34 waist", "clothing.trousers", {"size": "W34"}),
    ("polka-dot dress size 12", "clothing.dresses", {"pattern": "polka dot", "size": "12"}),
    ("floral midi skirt size 10 petite", "clothing.dresses", {"pattern": "floral", "size": "10", "fit": "petite"}),
    ("red tartan scarf", "accessories.scarves", {"colour": "red", "pattern": "tartan"}),
    ("striped Breton top, navy and white", "clothing.tops", {"pattern": "striped", "colour": "navy"}),
    ("tommy hilfiger polo shirt size S", "clothing.tops", {"brand": "Tommy Hilfiger", "size": "S"}),
    ("cashmere cardigan in camel", "clothing.knitwear", {"material": "cashmere", "colour": "camel"}),
    ("sz 9.5 running shoes", "footwear", {"size": "UK 9.5"}),
    ("US 10.5 Adidas trainers", "footwear", {"size": "US 10.5", "brand": "Adidas"}),
    ("shoe size 9 wellies", "footwear", {"size": "UK 9"}),
    ("raincoat for my daughter age 7-8", "clothing.kids", {"size": "7-8y"}),
    ("sports bra 34DD black", "clothing.sportswear", {"size": "34DD", "colour": "black"}),
    ("swimsuit size 14 leopard print", "clothing.sportswear", {"size": "14", "pattern": "leopard print"}),
    ("gift wrap for a silk scarf", "services.gift_wrap", {"material": "silk"}),
    ("can you hem my trousers", "services.alterations", {}),
    ("what time do you close on Sunday", "services.opening_hours", {}),
    ("click & collect order for a sofa", "services.click_collect", {}),
    ("return these shoes, wrong size", "services.returns", {}),
    ("rose gold watch", "accessories.jewellery", {"colour": "rose gold"}),
    ("brown leather belt 34", "accessories.belts", {"colour": "brown", "material": "leather", "size": "34"}),
    ("bobble hat and gloves in mustard", "accessories.hats", {"colour": "mustard"}),
    ("backpack for school, dark grey", "accessories.bags", {"colour": "dark grey"}),
    ("king size duvet cover in sage green", "home.bedding", {"colour": "sage", "size": "king size"}),
    ("stainless steel frying pan 28cm", "home.kitchen", {"material": "stainless steel"}),
    ("oak coffee table", "home.furniture", {"material": "oak"}),
    ("velvet cushion covers, emerald", "home.decor", {"material": "velvet", "colour": "emerald"}),
    ("moisturiser with SPF 30", "beauty.skincare", {}),
    ("red lipstick", "beauty.makeup", {"colour": "red"}),
    ("perfume gift set for her", "beauty.fragrance", {}),
    ("iPhone 15 case", "electronics.phones", {"brand": "Apple"}),
    ("Samsung 55 inch smart TV", "electronics.tv", {"brand": "Samsung"}),
    ("Bose noise cancelling headphones black", "electronics.audio", {"brand": "Bose", "colour": "black"}),
    ("bluetooth speaker", "electronics.audio", {}),
    ("laptop charger for a MacBook", "electronics.computers", {"brand": "Apple"}),
    ("Lego set for a 6 year old", "toys", {"brand": "Lego"}),
    ("oat milk, 2 of them", "grocery", {}),
    ("olive oil and orange juice", "grocery", {}),
    ("plain flour", "grocery", {}),
    ("dog bed, large", "pets", {"size": "L"}),
    ("The North Face puffer jacket XS", "clothing.outerwear", {"brand": "The North Face", "size": "XS"}),
    ("Dr. Martens boots UK 6 cherry red", "footwear", {"brand": "Dr. Martens", "size": "UK 6", "colour": "red"}),
    ("checked shirt in green", "clothing.tops", {"pattern": "check", "colour": "green"}),
    ("merino wool base layer size M", "clothing.sportswear", {"material": "merino", "size": "M"}),
    ("off-white linen trousers", "clothing.trousers", {"colour": "off-white", "material": "linen"}),
    ("do you have this in a medium?", None, {"size": "M"}),
    ("baby grow 0-3 months", "clothing.kids", {"size": "0-3m"}),
    ("tie dye t-shirt 3XL", "clothing.tops", {"pattern": "tie-dye", "size": "XXXL"}),
    ("Calvin Klein boxers", "clothing.underwear", {"brand": "Calvin Klein"}),
    ("Gore-Tex walking boots, wide fit", "footwear", {"material": "gore-tex", "fit": "wide fit"}),
    ("hot pink sequin dress", "clothing.dresses", {"colour": "hot pink", "pattern": "sequin"}),
    ("camo joggers", "clothing.sportswear", {"pattern": "camouflage"}),
    ("Dyson hoover", "home.appliances", {"brand": "Dyson"}),
    ("£49.99 jacket I saw online", "clothing.outerwear", {"price": "49.99"}),
    ("I'm after a pair of jeans", "clothing.trousers", {}),
    ("M&S style pyjamas", "clothing.underwear", {}),
    ("L-shaped sofa", "home.furniture", {}),
    ("call me on 07700 900123 when it's back", None, {}),
    ("she was born in 1990 and wants a vintage dress", "clothing.dresses", {}),
    ("I checked online and it said in stock", None, {}),
]

BANK_ASKS: list[tuple[str, str | None, dict[str, str]]] = [
    ("mortgage 25 year fixed", "mortgages", {"term": "25y", "rate_type": "fixed"}),
    (
        "5 year fixed rate mortgage, first time buyer",
        "mortgages",
        {"term": "5y", "rate_type": "fixed", "customer": "first time buyer"},
    ),
    ("remortgage, 2-year tracker", "mortgages", {"product": "remortgage", "term": "2y", "rate_type": "tracker"}),
    ("buy to let mortgage two year fixed", "mortgages", {"product": "buy to let", "term": "2y", "rate_type": "fixed"}),
    ("variable rate mortgage", "mortgages", {"rate_type": "variable"}),
    ("500 euros for holiday", "branch.currency", {"currency": "EUR", "amount": "500 EUR"}),
    ("US dollars, 300, for Florida", "branch.currency", {"currency": "USD", "amount": "300 USD"}),
    ("japanese yen travel money", "branch.currency", {"currency": "JPY"}),
    ("Swiss francs 1000", "branch.currency", {"currency": "CHF", "amount": "1000 CHF"}),
    ("canadian dollars", "branch.currency", {"currency": "CAD"}),
    ("€300 please", None, {"currency": "EUR", "amount": "300 EUR"}),
    ("lost my debit card", "cards.debit", {}),
    ("forgot my PIN", "cards.debit", {}),
    ("credit card limit increase", "cards.credit", {}),
    ("balance transfer credit card", "cards.credit", {"product": "balance transfer"}),
    ("reset password for online banking", "digital", {}),
    ("locked out of the app", "digital", {}),
    ("open a current account for my son", "accounts.current", {"customer": "child"}),
    ("student account with an overdraft", "accounts.current", {"customer": "student", "product": "overdraft"}),
    ("cash ISA, easy access", "accounts.savings", {"product": "cash isa"}),
    ("stocks and shares ISA", "investments", {"product": "stocks isa"}),
    ("junior ISA for my daughter", "accounts.savings", {"product": "junior isa", "customer": "child"}),
    ("90 day notice savings account", "accounts.savings", {"term": "90d"}),
    ("fixed rate bond for 1 year", "accounts.savings", {"product": "fixed bond", "rate_type": "fixed", "term": "1y"}),
    ("personal loan £10k over 5 years", "loans", {"term": "5y", "amount": "10000 GBP"}),
    ("car loan for 36 months", "loans", {"term": "36m"}),
    ("safe deposit box", "branch.safe_deposit", {"product": "safe deposit box"}),
    ("pay in a cheque", "branch.cash", {}),
    ("bag of £1 coins for the shop", "branch.cash", {}),
    ("business account for a sole trader", "business", {"customer": "business"}),
    ("card machine for my cafe", "business", {"product": "card machine"}),
    ("travel insurance for Spain", "insurance", {}),
    ("suspicious text asking for my PIN", "fraud", {}),
    ("fraud on my card", "fraud", {}),
    ("send money abroad to India in rupees", "payments", {"currency": "INR"}),
    ("what time does the branch close on Saturday", "branch.hours", {}),
    ("proof of address letter", "branch.documents", {}),
    ("pension advice, I'm 60 and a pensioner", "investments", {"customer": "retired"}),
    ("I'm 18 years old and want a savings account", "accounts.savings", {}),
    ("has been with us 20 years ago", None, {}),
]


@pytest.mark.parametrize(("text", "category", "attributes"), RETAIL_ASKS, ids=[a[0] for a in RETAIL_ASKS])
def test_retail_asks_are_recognised(retail: Taxonomy, text: str, category: str | None, attributes: dict[str, str]) -> None:
    assert retail.recognise(text) == attributes
    suggestions = retail.suggest_categories(text)
    assert (suggestions[0].code if suggestions else None) == category


@pytest.mark.parametrize(("text", "category", "attributes"), BANK_ASKS, ids=[a[0] for a in BANK_ASKS])
def test_bank_asks_are_recognised(bank: Taxonomy, text: str, category: str | None, attributes: dict[str, str]) -> None:
    assert bank.recognise(text) == attributes
    suggestions = bank.suggest_categories(text)
    assert (suggestions[0].code if suggestions else None) == category


def test_the_tables_are_big_enough() -> None:
    assert len(RETAIL_ASKS) >= 40 and len(BANK_ASKS) >= 25


# Recognition rules ---------------------------------------------------------------------------


def test_matching_is_case_insensitive_and_whole_word(retail: Taxonomy) -> None:
    assert retail.recognise("LIGHT BLUE Shirt") == {"colour": "light blue"}
    assert retail.recognise("bluetooth redundant tangerine") == {}  # blue, red and tan inside words


def test_longest_match_wins_and_shades_stay_distinct(retail: Taxonomy) -> None:
    assert retail.recognise("light blue")["colour"] == "light blue"
    assert retail.recognise("navy")["colour"] == "navy"
    assert retail.recognise("navy blue")["colour"] == "navy"
    assert retail.recognise("faux leather")["material"] == "faux leather"
    assert retail.recognise("grey")["colour"] == retail.recognise("gray")["colour"] == "grey"
    colours = {a.key: a for a in retail.attributes}["colour"]
    assert len(colours.values) >= 40 and {"navy", "blue", "light blue", "teal", "turquoise"} <= set(colours.values)


def test_the_first_value_in_the_text_is_taken(retail: Taxonomy) -> None:
    assert retail.recognise("red or blue dress")["colour"] == "red"
    assert retail.recognise("blue shirt with a light blue collar")["colour"] == "blue"


@pytest.mark.parametrize("pack", BUILTIN_PACKS)
def test_every_value_and_synonym_is_recognised_as_itself(pack: str) -> None:
    taxonomy = load_pack(pack)
    for attribute in taxonomy.attributes:
        spellings = [(value, value) for value in attribute.values] + list(attribute.synonyms)
        for spelling, value in spellings:
            if len(spelling) > 1 and spelling not in attribute.ignore:
                assert taxonomy.recognise(spelling).get(attribute.key) == value, (attribute.key, spelling)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("jacket M", "M"),
        ("jacket size m", "M"),
        ("size: xl", "XL"),
        ("extra large", "XL"),
        ("2XL", "XXL"),
        ("xxs", "XXS"),
        ("size 10", "10"),
        ("sz 9.5", "9.5"),
        ("size10", "10"),
        ("size 42", "42"),
        ("EU 42", "EU 42"),
        ("eu42", "EU 42"),
        ("size 38 eu", "EU 38"),
        ("UK 9", "UK 9"),
        ("uk size 7.5", "UK 7.5"),
        ("size 9 UK", "UK 9"),
        ("US 10.5", "US 10.5"),
        ("size 10 US", "US 10"),
        ("us size 8", "US 8"),
        ("shoe size 9", "UK 9"),  # a shoe size without a system is in the pack's (issue 15)
        ("32x34", "32x34"),
        ("32 x 34", "32x34"),
        ('30" x 32"', "30x32"),
        ("W32 L34", "32x34"),
        ("w32/l30", "32x30"),
        ("32W 34L", "32x34"),
        ("waist 32 leg 30", "32x30"),
        ("waist 36", "W36"),
        ("bra size 34B", "34B"),
        ("size 8-10", "8-10"),
        ("S/M", "S/M"),
        ("size m/l", "M/L"),
        ("suit 40R", "40R"),
        ("age 5", "5y"),
        ("size 3-4 years", "3-4y"),
        ("12-18m", "12-18m"),
        ("one size", "one size"),
    ],
)
def test_sizes_are_canonical(retail: Taxonomy, text: str, size: str) -> None:
    assert retail.recognise(text).get("size") == size


@pytest.mark.parametrize(
    "text",
    [
        "is it a good one for a man",
        "i'm looking for something",
        "s m l",
        "under £49.99",
        "£49.99",
        "2 of them",
        "I need 3",
        "born in 1990",
        "ring me on 07700 900123",
        "call us 0800 123 4567",
        "can you give us 2 bags",
        "order number 123456",
        "what sizes do you have",
        "sizes 10 to 14 please",
        "frame 20x30cm",
        "30 x 30 x 30 box",
        "40d tights",
        "Marks & Spencer M&S",
        "s/m",
        "the 40s",
        "I'M BROWSING",
        "U.S. made",
        "room 101",
        "35mm film",
    ],
)
def test_ordinary_words_and_numbers_are_not_sizes(retail: Taxonomy, text: str) -> None:
    assert "size" not in retail.recognise(text)


def test_ignored_phrases_block_false_values(retail: Taxonomy) -> None:
    assert retail.recognise("olive oil") == {}
    assert retail.recognise("olive jacket") == {"colour": "olive"}
    assert retail.recognise("apple juice") == {}
    assert retail.recognise("apple watch")["brand"] == "Apple"


def test_check_is_a_pattern_only_before_a_garment(retail: Taxonomy) -> None:
    assert retail.recognise("check shirt")["pattern"] == "check"
    assert "pattern" not in retail.recognise("can you check the back")


def test_attributes_come_in_pack_order(retail: Taxonomy) -> None:
    found = retail.recognise("size 10 wool Nike red")
    assert list(found) == ["colour", "size", "material", "brand"]


def test_bank_terms_and_currencies(bank: Taxonomy) -> None:
    assert bank.recognise("5 year fixed") == {"term": "5y", "rate_type": "fixed"}
    assert bank.recognise("five-year fix")["term"] == "5y"
    assert bank.recognise("18 month")["term"] == "18m"
    assert "term" not in bank.recognise("my son is 16 years old")
    assert bank.recognise("euros")["currency"] == bank.recognise("EUR")["currency"] == "EUR"
    assert bank.recognise("A$500")["currency"] == "AUD"
    assert bank.recognise("$500")["currency"] == "USD"
    assert "currency" not in bank.recognise("£500")


# Categories ----------------------------------------------------------------------------------


def test_suggestions_are_ranked_and_limited(retail: Taxonomy) -> None:
    codes = [c.code for c in retail.suggest_categories("jacket and jeans and trainers", limit=2)]
    assert len(codes) == 2 and set(codes) <= {"clothing.outerwear", "clothing.trousers", "footwear"}
    assert retail.suggest_categories("jacket", limit=0) == []
    assert retail.suggest_categories("") == []
    assert retail.suggest_categories("qwerty zxcv") == []


def test_plurals_and_multi_word_keywords(retail: Taxonomy) -> None:
    for text in ("raincoat", "parkas", "anoraks", "rain jackets"):
        assert retail.suggest_categories(text)[0].code == "clothing.outerwear", text
    for text in ("trainers", "sneakers", "sneaker"):
        assert retail.suggest_categories(text)[0].code == "footwear", text
    assert retail.suggest_categories("scarves")[0].code == "accessories.scarves"
    assert retail.suggest_categories("phone case")[0].code == "electronics.phones"
    assert retail.suggest_categories("running shoes")[0].code == "footwear"


def test_more_keyword_words_beat_fewer_and_ties_go_to_pack_order() -> None:
    data = minimal_pack()
    data["categories"] = [
        {"code": "first", "label": "First", "keywords": ["coat"]},
        {"code": "second", "label": "Second", "keywords": ["hat", "rain hat"]},
    ]
    taxonomy = parse_taxonomy(data)
    assert [c.code for c in taxonomy.suggest_categories("coat hat")] == ["first", "second"]
    assert [c.code for c in taxonomy.suggest_categories("hat coat")] == ["first", "second"]
    assert [c.code for c in taxonomy.suggest_categories("coat rain hat")] == ["second", "first"]


# The packs -----------------------------------------------------------------------------------


def test_retail_outcomes_in_digit_order(retail: Taxonomy) -> None:
    assert [(o.code, o.unmet) for o in retail.outcomes] == [
        ("found", False),
        ("substituted", True),
        ("out_of_stock", True),
        ("not_carried", True),
        ("too_expensive", True),
        ("referred", True),
        ("ordered", False),
        ("other", False),
    ]
    assert retail.outcomes[2].code == "out_of_stock"  # digit 3
    assert "not met" in retail.outcome("substituted").help
    assert retail.channels == ("walk-in", "phone", "chat", "email")


def test_bank_outcomes_in_digit_order(bank: Taxonomy) -> None:
    assert [(o.code, o.unmet) for o in bank.outcomes] == [
        ("provided", False),
        ("appointment_booked", False),
        ("referred_specialist", False),
        ("not_offered", True),
        ("not_eligible", True),
        ("declined", False),
        ("unavailable", True),
        ("other", False),
    ]
    assert bank.channels[0] == "walk-in"


@pytest.mark.parametrize("pack", BUILTIN_PACKS)
def test_packs_fit_the_screen(pack: str) -> None:
    taxonomy = load_pack(pack)
    assert taxonomy.name == pack
    assert all(len(c.label) <= 30 for c in taxonomy.categories)
    assert all(len(o.label) <= 30 and o.help for o in taxonomy.outcomes)
    assert all(c.keywords for c in taxonomy.categories)


def test_retail_covers_the_shop_floor(retail: Taxonomy) -> None:
    codes = {c.code for c in retail.categories}
    groups = {code.split(".")[0] for code in codes}
    assert {"clothing", "footwear", "accessories", "home", "beauty", "electronics", "toys", "grocery", "services"} <= groups
    assert {"clothing.outerwear", "footwear", "accessories.bags", "services.alterations"} <= codes
    assert {a.key for a in retail.attributes} >= {"colour", "size", "pattern", "material", "brand"}


def test_lookups_by_code(retail: Taxonomy) -> None:
    assert retail.outcome("out_of_stock").label == "Out of stock"
    assert retail.outcome("nope") is None
    assert retail.category("clothing.outerwear").label == "Clothing › Outerwear"
    assert retail.category("nope") is None


def test_recognition_is_fast_enough_for_every_keystroke(retail: Taxonomy, bank: Taxonomy) -> None:
    text = "light blue polka dot rain jacket size M from Tommy Hilfiger"
    assert len(text) >= 55
    for taxonomy in (retail, bank):
        best = float("inf")
        for _ in range(5):
            started = time.perf_counter()
            for _ in range(100):
                taxonomy.recognise(text)
                taxonomy.suggest_categories(text)
            best = min(best, (time.perf_counter() - started) / 100)
        assert best < 0.001, f"{taxonomy.name}: {best * 1e6:.0f} µs per keystroke"


def test_taxonomy_imports_no_ui_libraries() -> None:
    code = "import schemas.taxonomy, sys; assert 'textual' not in sys.modules and 'rich' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


# Loading -------------------------------------------------------------------------------------


def test_builtin_packs_are_cached() -> None:
    assert load_pack("retail") is load_pack("retail")


def test_a_pack_file_by_path(tmp_path: Path) -> None:
    path = tmp_path / "shop.json"
    data = minimal_pack()
    path.write_text(json.dumps(data), encoding="utf-8")
    taxonomy = load_pack(str(path))
    assert taxonomy.name == "mini" and taxonomy.suggest_categories("a thing")[0].code == "general"
    data["label"] = "Changed"
    path.write_text(json.dumps(data) + "\n", encoding="utf-8")
    assert load_pack(str(path)).label == "Changed"


def test_unknown_pack_name_lists_the_builtin_packs() -> None:
    with pytest.raises(TaxonomyError) as error:
        load_pack("shop")
    assert "unknown taxonomy pack 'shop'" in str(error.value)
    assert all(name in str(error.value) for name in BUILTIN_PACKS)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(TaxonomyError, match="nowhere.json"):
        load_pack(str(tmp_path / "nowhere.json"))


def test_bad_json_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{\n  "name": "x",\n  oops\n}', encoding="utf-8")
    with pytest.raises(TaxonomyError, match=r"broken\.json: not valid JSON at line 3"):
        load_pack(str(path))


def test_a_key_twice_in_one_object_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "twice.json"
    path.write_text(json.dumps(minimal_pack())[:-1] + ', "label": "Again"}', encoding="utf-8")
    with pytest.raises(TaxonomyError, match='"label" appears twice'):
        load_pack(str(path))


# Validation ----------------------------------------------------------------------------------


def minimal_pack() -> dict[str, Any]:
    return {
        "name": "mini",
        "label": "Mini",
        "version": "1",
        "channels": ["walk-in"],
        "outcomes": [{"code": "found", "label": "Found", "unmet": False}],
        "categories": [{"code": "general", "label": "General", "keywords": ["thing"]}],
        "attributes": [{"key": "colour", "label": "Colour", "values": {"grey": ["gray"]}}],
    }


def test_the_minimal_pack_is_valid() -> None:
    taxonomy = parse_taxonomy(minimal_pack())
    assert taxonomy.recognise("gray thing") == {"colour": "grey"}


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        target: Any = data
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        if value is _DELETE:
            del target[last]
        elif isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value

    return change


_DELETE = object()
OUTCOME = {"code": "found", "label": "Found", "unmet": False}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (_set("name", _DELETE), ["name", "is missing"]),
        (_set("name", "Retail Store"), ["name", "lower case"]),
        (_set("version", ""), ["version", "non-empty string"]),
        (_set("outcomes", []), ["outcomes", "at least one"]),
        (_set("outcomes", [{**OUTCOME, "code": f"o{i}"} for i in range(11)]), ["outcomes", "has 11", "at most 10"]),
        (_set("outcomes", [OUTCOME, OUTCOME]), ["outcomes[1].code", "'found' is used twice"]),
        (_set("outcomes/0/unmet", "yes"), ["outcomes[0] (found).unmet", "true", "false"]),
        (_set("outcomes/0/label", _DELETE), ["outcomes[0] (found).label", "is missing"]),
        (_set("outcomes/0/code", "Out Of Stock"), ["outcomes[0]", "code", "lower case"]),
        (_set("outcomes/0/unmett", True), ["outcomes[0] (found)", "unknown field 'unmett'"]),
        (_set("categories", _DELETE), ["categories", "is missing"]),
        (_set("categories", []), ["categories", "at least one"]),
        (_set("categories/0/label", "Clothing › Outerwear › Waterproof coats"), ["categories[0] (general).label", "30 or fewer"]),
        (_set("categories/0/keywords", "thing"), ["categories[0] (general).keywords", "must be a list"]),
        (_set("categories/0/keywords", ["..."]), ["keywords[0]", "never match"]),
        (_set("categories/1", {"code": "general", "label": "Again", "keywords": []}), ["categories[1].code", "used twice"]),
        (_set("channels", []), ["channels", "at least one"]),
        (_set("channels", ["walk-in", "walk-in"]), ["channels[1]", "used twice"]),
        (_set("attributes/0/values", ["grey"]), ["attributes[0] (colour).values", "must be an object"]),
        (
            _set("attributes/0/values", {"grey": ["gray"], "silver": ["gray"]}),
            ["values.silver", "'gray' is also a spelling of 'grey'"],
        ),
        (_set("attributes/0/key", "Colour!"), ["attributes[0]", "key", "lower case"]),
        (_set("attributes/1", {"key": "colour", "label": "Again", "values": {}}), ["attributes[1].key", "used twice"]),
        (_set("attributes/0/patterns", [{"regex": "(?P<n>\\d", "value": "{n}"}]), ["patterns[0].regex", "does not compile"]),
        (
            _set("attributes/0/patterns", [{"regex": "(?P<n>\\d)", "value": "UK {size}"}]),
            ["patterns[0].value", "{size}", "(?P<size>"],
        ),
        (_set("attributes/0/patterns", [{"regex": "x", "value": "x", "upper": "yes"}]), ["patterns[0].upper", "true or false"]),
    ],
)
def test_invalid_packs_say_what_to_fix(change: Callable[[dict[str, Any]], None], expected: list[str]) -> None:
    data = copy.deepcopy(minimal_pack())
    if "categories" in data and len(data["categories"]) == 1:
        data["categories"].append({"code": "other", "label": "Other", "keywords": ["stuff"]})
    data["attributes"].append({"key": "size", "label": "Size", "values": {}})
    change(data)
    with pytest.raises(TaxonomyError) as error:
        parse_taxonomy(data, source="shop.json")
    message = str(error.value)
    assert message.startswith("shop.json: ")
    for part in expected:
        assert part in message, message


def test_a_pack_that_is_not_an_object() -> None:
    with pytest.raises(TaxonomyError, match="must be a JSON object"):
        parse_taxonomy([], source="x.json")  # type: ignore[arg-type]
