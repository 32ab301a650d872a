"""The privacy guard on a generated corpus: every valid number masked, ordinary numbers left alone."""

from __future__ import annotations

import random
import re

import pytest
from privacy_corpus import (
    CARD_FORMS,
    IBAN_FORMS,
    card_numbers,
    iban_written,
    ibans,
    luhn_complete,
    ordinary_customer_fields,
    ordinary_notes,
    plus_card,
    ssns,
    tricky_notes,
    written_like_a_person,
)

from associate_tui.customers import CustomerDraft, Preferences, checked
from associate_tui.store import Store
from schemas.privacy import (
    CARD,
    IBAN,
    SSN,
    describe,
    iban_valid,
    is_card_number,
    mask,
)

RNG_SEED = 20261125


@pytest.fixture(scope="module")
def rng() -> random.Random:
    return random.Random(RNG_SEED)


def test_every_card_number_of_every_scheme_and_length_is_masked_to_first_six_and_last_four(rng) -> None:
    cards = card_numbers(rng)
    assert len(cards) >= 1000
    assert {len(digits) for _, digits in cards} == set(range(13, 20))
    for scheme, digits in cards:
        written = written_like_a_person(digits, rng)
        note = f"cust paid with {written} yesterday, please refund"
        result = mask(note)
        assert digits not in re.sub(r"[ -]", "", result.text), (scheme, written)
        assert result.found == (CARD,), (scheme, written, result)
        kept = re.sub(r"[^0-9*]", "", result.text)
        assert kept.startswith(digits[:6]) and kept.endswith(digits[-4:]), (scheme, result.text)
        assert kept.count("*") == len(digits) - 10


def test_a_card_number_beside_other_numbers_is_still_found(rng) -> None:
    for _, digits in card_numbers(rng, per_length=2):
        grouped = " ".join(digits[i : i + 4] for i in range(0, len(digits), 4))
        for note in (f"order 5512 {grouped}", f"{grouped} 12", f"{digits}/{digits}", f"ref:{digits}."):
            assert digits[6:-4] not in re.sub(r"[ -]", "", mask(note).text), note


def test_ibans_of_many_countries_are_masked(rng) -> None:
    numbers = ibans(rng)
    assert len(numbers) >= 200 and len({n[:2] for n in numbers}) >= 20
    for number in numbers:
        assert iban_valid(number)
        written = iban_written(number, rng)
        result = mask(f"transfer to {written} please")
        assert number[4:-4] not in result.text.upper().replace(" ", ""), written
        assert IBAN in result.found
        assert number[:4] in result.text.upper() and result.text.upper().replace(" ", "").count("*") == len(number) - 8


def test_social_security_numbers_are_masked(rng) -> None:
    for number in ssns(rng):
        result = mask(f"SSN {number} for the account")
        assert number not in result.text and result.found == (SSN,)
        assert result.text.endswith(f"{number[-4:]} for the account")


def test_at_most_one_percent_of_ordinary_notes_are_masked_by_mistake(rng) -> None:
    notes = ordinary_notes(rng)
    assert len(notes) >= 1000
    masked = [note for note in notes if mask(note).text != note]
    assert len(masked) / len(notes) <= 0.01, masked[:10]


def test_numbers_that_only_look_like_cards_are_left_alone() -> None:
    for text in (
        "4111 1111 1111 1112",  # Luhn fails
        "1234 5678 9012 3456",  # no scheme starts with 1
        "+44 7700 900123 and +49 30 12345678",
        "order 2026-11-25 12:30",
        "IBAN GB82 WEST 1234 5698 7654 33",  # check digits wrong
        "SSN 000-12-3456 and 666-12-3456 are never issued",
    ):
        assert mask(text).text == text


def test_the_associate_is_told_what_was_masked() -> None:
    result = mask("card 4111111111111111 and GB82 WEST 1234 5698 7654 32")
    assert result.text == "card 411111******1111 and GB82 **** **** **** **54 32"
    assert describe(result.found) == "Masked a card number and an IBAN: such numbers are never stored."
    assert mask("nothing here").found == ()
    assert is_card_number("5555555555554444") and is_card_number("2223003122003222")


# -- how numbers really arrive: untidy cards and IBANs, and the notes that must stay whole ----------

_ASCII = str.maketrans("０１２３４５６７８９", "0123456789")


def _card_masked(digits: str, text: str) -> bool:
    """The card's first six, then a `*` for every hidden digit, then its last four; the rest gone."""
    kept = re.sub(r"[^0-9*]", "", text.translate(_ASCII))
    return digits[:6] + "*" * (len(digits) - 10) + digits[-4:] in kept and digits not in kept


def _table(title: str, rows: list[tuple[str, int, int]]) -> str:
    lines = [title] + [f"  {name:<45} {hits:>5}/{total:<5} {100 * hits / total:6.2f}%" for name, hits, total in rows]
    return "\n".join(lines)


def test_card_numbers_written_untidily_are_all_masked(rng) -> None:
    cards = card_numbers(rng, per_length=5)
    rows = []
    missed: dict[str, list[str]] = {}
    for form, write in CARD_FORMS:
        hits = 0
        for _, digits in cards:
            written = write(digits, rng)
            result = mask(f"Customer paid with {written} yesterday, refund it")
            if result.found == (CARD,) and _card_masked(digits, result.text):
                hits += 1
            else:
                missed.setdefault(form, []).append(written)
        rows.append((form, hits, len(cards)))
    long_cards = [digits for _, digits in cards if len(digits) > 15]
    plus_hits = sum(_card_masked(d, mask(f"card {plus_card(d)} declined").text) for d in long_cards)
    rows.append(("after a + (16 to 19 digits)", plus_hits, len(long_cards)))
    print("\n" + _table("Card numbers masked, by how they were written:", rows))
    assert not missed and plus_hits == len(long_cards), {form: forms[:3] for form, forms in missed.items()}


def test_the_forms_named_in_the_review_are_masked() -> None:
    for written in (
        "4111.1111.1111.1111",
        "visa4111111111111111",
        "+4111111111111111",
        "4111  1111  1111  1111",
        "4111 1111\n1111 1111",
        "4111 1111 1111\r\n1111",
        "4111 11\n11 1111 1111",
    ):
        result = mask(f"note: {written} ok")
        assert result.found == (CARD,) and _card_masked("4111111111111111", result.text), written


def test_ibans_written_oddly_are_all_masked(rng) -> None:
    numbers = ibans(rng, per_country=5)
    rows = []
    missed: dict[str, list[str]] = {}
    for form, write in IBAN_FORMS:
        hits = 0
        for number in numbers:
            written = write(number, rng)
            result = mask(f"Refund to {written} please")
            compact = re.sub(r"[^0-9A-Z*]", "", result.text.upper())
            if IBAN in result.found and number[:4] + "*" * (len(number) - 8) + number[-4:] in compact:
                hits += 1
            else:
                missed.setdefault(form, []).append(written)
        rows.append((form, hits, len(numbers)))
    print("\n" + _table("IBANs masked, by how they were written:", rows))
    assert not missed, {form: forms[:3] for form, forms in missed.items()}


def test_false_positives_stay_under_one_percent_on_realistic_notes(rng) -> None:
    kinds = {
        "everyday notes (orders, phones, prices, SKUs, dates)": ordinary_notes(rng),
        **tricky_notes(rng),
        "customer numbers, sizes and brands": ordinary_customer_fields(rng),
    }
    rows, changed = [], {}
    for kind, notes in kinds.items():
        masked = [note for note in notes if mask(note).text != note]
        changed[kind] = masked
        rows.append((kind, len(masked), len(notes)))
    total = sum(len(notes) for notes in kinds.values())
    wrong = sum(len(masked) for masked in changed.values())
    rows.append(("all", wrong, total))
    print("\n" + _table("Ordinary text masked by mistake (false positives):", rows))
    assert total >= 7000
    assert wrong / total < 0.01, {kind: masked[:3] for kind, masked in changed.items() if masked}
    # No single kind of everyday text loses more than one in a hundred either.
    assert all(len(changed[kind]) / len(notes) <= 0.01 for kind, notes in kinds.items()), rows


def test_phone_numbers_identifiers_and_barcodes_are_not_cards() -> None:
    amex = luhn_complete("37144963539843")  # 15 digits: as long as a phone number may be
    visa13 = luhn_complete("400752209539")
    for text in (
        f"+{amex}",  # a + and 15 digits is a phone number
        "+44 7700 900123\n+44 7700 900456",
        "SKU4111111111111111",
        "1Z4111111111111111",
        "4111111111111111abc",  # letters that name no card
        "Amazon order 302-4111111-1111111",
        "Sizes 36 38 40 42 44 46 48 50 52",
        "Sort code 20-00-00\n41111111",
    ):
        assert mask(text).text == text, text
    ean = next(n for n in (luhn_complete(str(p)) for p in range(400752209539, 400752209999)) if _ean13(n))
    assert mask(f"EAN {ean} out of stock").text == f"EAN {ean} out of stock"
    assert mask(f"paid with {ean}").found == (CARD,)  # the same digits, not named as a barcode: a card
    assert mask(f"paid with {visa13}").found == (CARD,)


def _ean13(digits: str) -> bool:
    total = sum(int(char) * (3 if index % 2 else 1) for index, char in enumerate(digits[:12]))
    return (10 - total % 10) % 10 == int(digits[12])


def test_a_customers_number_sizes_and_brands_are_masked_before_the_row_is_written(db_path) -> None:
    draft = CustomerDraft(
        name="Ada Lovelace",
        customer_number="5555 5555 5555 4444",
        preferences=Preferences(
            sizes=("M", "4111.1111.1111.1111"),
            colours=("navy",),
            brands=("Barbour", "visa4012888888881881"),
            notes="IBAN GB82 WEST 1234 5698 7654 32",
        ),
    )
    with Store(db_path) as store:
        customer = store.add_customer(checked(draft), store_id="S1", terminal_id="T1", associate="AB", consent_wording="2026-1")
        assert customer.customer_number == "5555 55** **** 4444"
        assert customer.preferences.sizes == ("M", "4111.11**.****.1111")
        assert customer.preferences.brands == ("Barbour", "visa401288******1881")
        assert customer.preferences.notes == "IBAN GB82 **** **** **** **54 32"
        # Saved again as it now reads (masked digits and all), and edited with a new number: guarded again.
        edited = store.edit_customer(
            customer.id, checked(replace_number(customer.draft(), "378282246310005")), consent_wording="2026-1"
        )
        assert edited.customer_number == "378282*****0005"
        again = store.edit_customer(customer.id, checked(edited.draft()), consent_wording="2026-1")
        assert again.customer_number == "378282*****0005"
    on_disk = db_path.read_bytes() + (
        db_path.with_name(db_path.name + "-wal").read_bytes() if db_path.with_name(db_path.name + "-wal").exists() else b""
    )
    for secret in (
        b"5555555555554444",
        b"5555 5555 5555 4444",
        b"4111.1111.1111.1111",
        b"4012888888881881",
        b"WEST 1234 5698",
        b"378282246310005",
    ):
        assert secret not in on_disk, secret


def replace_number(draft: CustomerDraft, number: str) -> CustomerDraft:
    from dataclasses import replace

    return replace(draft, customer_number=number)
