"""Generated test data for the privacy guard: valid numbers that must be masked, and
ordinary notes full of numbers that must not be. Seeded, so every run is the same."""

from __future__ import annotations

import random
import string

# (scheme, prefixes to draw from, lengths)
CARD_SCHEMES: tuple[tuple[str, tuple[str, ...], tuple[int, ...]], ...] = (
    ("visa", ("4",), (13, 16, 19)),
    ("mastercard", ("51", "52", "53", "54", "55"), (16,)),
    ("mastercard-2", ("2221", "2300", "2500", "2699", "2720"), (16,)),
    ("amex", ("34", "37"), (15,)),
    ("discover", ("6011", "644", "649", "65"), (16, 17, 18, 19)),
    ("jcb", ("3528", "3550", "3589"), (16, 17, 18, 19)),
    ("diners", ("300", "305", "36", "38", "39"), (14, 15, 16, 17, 18, 19)),
    ("unionpay", ("62",), (16, 17, 18, 19)),
    ("maestro", ("50", "56", "58", "63", "67"), (13, 14, 15, 16, 17, 18, 19)),
    ("mir", ("2200", "2204"), (16, 17, 18, 19)),
)

IBAN_COUNTRIES = {
    "GB": "4a6n8n", "DE": "18n", "FR": "10n11c2n", "ES": "20n", "IT": "1a10n12c", "NL": "4a10n",
    "BE": "12n", "AT": "16n", "CH": "5n12c", "IE": "4a14n", "PT": "21n", "PL": "24n", "SE": "20n",
    "NO": "11n", "DK": "14n", "FI": "14n", "LU": "3n13c", "GR": "7n16c", "CZ": "20n", "HU": "24n",
    "RO": "4a16c", "TR": "5n1n16c", "SA": "2n18c", "AE": "3n16n", "BR": "8n5n10n1a1c", "MT": "4a5n18c",
}


def luhn_complete(partial: str) -> str:
    """`partial` plus the check digit that makes it Luhn-valid."""
    for check in "0123456789":
        candidate = partial + check
        total = 0
        for position, char in enumerate(reversed(candidate)):
            value = int(char) * (2 if position % 2 else 1)
            total += value - 9 if value > 9 else value
        if total % 10 == 0:
            return candidate
    raise AssertionError("unreachable")


def card_numbers(rng: random.Random, per_length: int = 30) -> list[tuple[str, str]]:
    """(scheme, digits) for every scheme and length it issues."""
    cards = []
    for scheme, prefixes, lengths in CARD_SCHEMES:
        for length in lengths:
            for _ in range(per_length):
                prefix = rng.choice(prefixes)
                body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
                cards.append((scheme, luhn_complete(body)))
    return cards


def written_like_a_person(digits: str, rng: random.Random) -> str:
    """As typed at a counter: run together, in fours with spaces or dashes, or amex-style."""
    style = rng.randrange(4)
    if style == 0:
        return digits
    separator = " " if style in (1, 3) else "-"
    if style == 3 and len(digits) == 15:
        return f"{digits[:4]} {digits[4:10]} {digits[10:]}"
    return separator.join(digits[i : i + 4] for i in range(0, len(digits), 4))


def _bban(pattern: str, rng: random.Random) -> str:
    out = []
    number = ""
    for char in pattern:
        if char.isdigit():
            number += char
            continue
        alphabet = {"n": string.digits, "a": string.ascii_uppercase, "c": string.ascii_uppercase + string.digits}[char]
        out += [rng.choice(alphabet) for _ in range(int(number))]
        number = ""
    return "".join(out)


def iban(country: str, rng: random.Random) -> str:
    bban = _bban(IBAN_COUNTRIES[country], rng)
    rearranged = bban + country + "00"
    check = 98 - int("".join(str(int(c, 36)) for c in rearranged)) % 97
    return f"{country}{check:02d}{bban}"


def ibans(rng: random.Random, per_country: int = 10) -> list[str]:
    return [iban(country, rng) for country in IBAN_COUNTRIES for _ in range(per_country)]


def iban_written(compact: str, rng: random.Random) -> str:
    if rng.random() < 0.5:
        return compact
    grouped = " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))
    return grouped.lower() if rng.random() < 0.1 else grouped


def ssns(rng: random.Random, count: int = 200) -> list[str]:
    out = []
    while len(out) < count:
        area = rng.randrange(1, 900)
        if area == 666:
            continue
        separator = "-" if rng.random() < 0.8 else " "
        out.append(f"{area:03d}{separator}{rng.randrange(1, 100):02d}{separator}{rng.randrange(1, 10000):04d}")
    return out


SENTENCES = (
    "Customer asked for {item} in {colour}, size {size}; quoted £{price}.",
    "Order {order} placed on {date}, collect from store {store}.",
    "Call back on {phone} after {hour}pm about {item}.",
    "SKU {sku} out of stock until {date}; offered {item} instead at ${price}.",
    "Reference {ref} for the refund of {price} EUR, receipt {receipt}.",
    "Wants {qty} x {item} ({sku}), delivery to postcode {postcode}.",
    "Barcode {ean} scanned, system shows {qty} units at store {store}.",
    "Loan enquiry: {price} over {months} months, branch {store}, call {phone}.",
    "Tracking number {tracking} from courier, expected {date}.",
    "Invoice {invoice} dated {date}, total {price}, account manager ext {ext}.",
    "Prefers {colour}, size {size}; last bought {date}, loyalty card ending {last4}.",
    "Ticket #{ticket} raised, ETA {date} {hour}:30.",
)
ITEMS = ("rain jacket", "chinos", "running shoes", "wool scarf", "savings account", "travel money", "dress", "boots")
COLOURS = ("navy", "blue", "olive", "black", "burgundy", "sand")


def ordinary_notes(rng: random.Random, count: int = 1200) -> list[str]:
    def phone() -> str:
        return rng.choice((
            f"07{rng.randrange(100, 999)} {rng.randrange(100000, 999999)}",
            f"+44 20 {rng.randrange(1000, 9999)} {rng.randrange(1000, 9999)}",
            f"({rng.randrange(200, 999)}) {rng.randrange(200, 999)}-{rng.randrange(1000, 9999)}",
            f"+1 {rng.randrange(200, 999)}-{rng.randrange(200, 999)}-{rng.randrange(1000, 9999)}",
            f"06 {rng.randrange(10, 99)} {rng.randrange(10, 99)} {rng.randrange(10, 99)} {rng.randrange(10, 99)}",
            f"+49 30 {rng.randrange(10000000, 99999999)}",
        ))

    def date() -> str:
        return rng.choice((
            f"2026-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
            f"{rng.randrange(1, 29):02d}/{rng.randrange(1, 13):02d}/2026",
            f"{rng.randrange(1, 29)} Dec",
        ))

    def digits(n: int) -> str:
        return str(rng.randrange(10 ** (n - 1), 10**n))

    notes = []
    for _ in range(count):
        template = rng.choice(SENTENCES)
        notes.append(template.format(
            item=rng.choice(ITEMS), colour=rng.choice(COLOURS), size=rng.choice(("S", "M", "L", "10", "42", "32x34")),
            price=rng.choice((f"{rng.randrange(5, 2000)}.{rng.randrange(100):02d}", f"{rng.randrange(1, 900)},000")),
            order=rng.choice((digits(8), f"ORD-{digits(10)}", digits(12))), date=date(), store=digits(4),
            phone=phone(), hour=rng.randrange(1, 12), sku=rng.choice((f"{digits(3)}-{digits(4)}-{digits(3)}", digits(9), f"SKU{digits(7)}")),
            ref=rng.choice((digits(10), f"REF{digits(8)}")), receipt=digits(6), qty=rng.randrange(1, 20),
            postcode=rng.choice(("SW1A 1AA", digits(5), "75011")), ean=digits(13), months=rng.choice((12, 24, 36, 60)),
            tracking=rng.choice((f"1Z{digits(16)}", digits(12), f"JD{digits(18)}")), invoice=f"INV-{digits(6)}",
            ext=digits(4), last4=digits(4), ticket=digits(6),
        ))
    return notes
