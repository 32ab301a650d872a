"""The privacy guard on a generated corpus: every valid number masked, ordinary numbers left alone."""

from __future__ import annotations

import random
import re

import pytest

from associate_tui.privacy import CARD, IBAN, SSN, describe, iban_valid, is_card_number, mask
from privacy_corpus import card_numbers, iban_written, ibans, ordinary_notes, ssns, written_like_a_person

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
