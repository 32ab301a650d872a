"""Generated test data for the privacy guard: valid numbers that must be masked, and
ordinary notes full of numbers that must not be. Seeded, so every run is the same."""

from __future__ import annotations

import random
import string
from collections.abc import Callable

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
    "GB": "4a6n8n",
    "DE": "18n",
    "FR": "10n11c2n",
    "ES": "20n",
    "IT": "1a10n12c",
    "NL": "4a10n",
    "BE": "12n",
    "AT": "16n",
    "CH": "5n12c",
    "IE": "4a14n",
    "PT": "21n",
    "PL": "24n",
    "SE": "20n",
    "NO": "11n",
    "DK": "14n",
    "FI": "14n",
    "LU": "3n13c",
    "GR": "7n16c",
    "CZ": "20n",
    "HU": "24n",
    "RO": "4a16c",
    "TR": "5n1n16c",
    "SA": "2n18c",
    "AE": "3n16n",
    "BR": "8n5n10n1a1c",
    "MT": "4a5n18c",
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


def _groups(digits: str, size: int = 4) -> list[str]:
    return [digits[i : i + size] for i in range(0, len(digits), size)]


def _line_break_inside(digits: str, rng: random.Random) -> str:
    """Wrapped where the field ran out: a line break between two digits, maybe with spaces around it."""
    cut = rng.randrange(1, len(digits))
    return digits[:cut] + rng.choice(("\n", " \n", "\n ", "\r\n", "-\n")) + digits[cut:]


def _break_a_group(grouped: str, rng: random.Random) -> str:
    """Cut in the middle of a group, as a fixed-width screen wraps: 4111 11\n11 1111 1111."""
    inside = [i for i in range(1, len(grouped)) if grouped[i - 1].isdigit() and grouped[i].isdigit()]
    cut = rng.choice(inside)
    return grouped[:cut] + "\n" + grouped[cut:]


_FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")

# How a card number reaches a note when it is not typed tidily: (form, writer). Every one must be masked.
CARD_FORMS: tuple[tuple[str, Callable[[str, random.Random], str]], ...] = (
    ("dots between fours", lambda d, rng: ".".join(_groups(d))),
    ("double spaces", lambda d, rng: "  ".join(_groups(d))),
    ("triple spaces", lambda d, rng: "   ".join(_groups(d))),
    ("tab between fours", lambda d, rng: "\t".join(_groups(d))),
    ("no-break spaces (pasted from a web page)", lambda d, rng: "\u00a0".join(_groups(d))),
    ("spaced dashes", lambda d, rng: " - ".join(_groups(d))),
    ("mixed spaces and dashes", lambda d, rng: "".join(g + rng.choice((" ", "-", "  ")) for g in _groups(d)).rstrip(" -")),
    ("a line break inside", lambda d, rng: _line_break_inside(" ".join(_groups(d)), rng)),
    ("a line break inside a group", lambda d, rng: _break_a_group(" ".join(_groups(d)), rng)),
    (
        "glued to a card word",
        lambda d, rng: rng.choice(("visa", "Visa", "VISA", "card", "CC", "mc", "amex", "Mastercard", "cardno")) + d,
    ),
    ("after card#", lambda d, rng: f"card#{d}"),
    ("glued expiry after it", lambda d, rng: f"{d}exp{rng.randrange(1, 13):02d}/{rng.randrange(26, 32)}"),
    ("in brackets", lambda d, rng: f"({' '.join(_groups(d))})"),
    ("full-width digits", lambda d, rng: d.translate(_FULL_WIDTH)),
)


def plus_card(digits: str) -> str:
    """A card of more than 15 digits behind a `+` (longer than any phone number)."""
    return "+" + digits


def _bban(pattern: str, rng: random.Random) -> str:
    out = []
    number = ""
    for char in pattern:
        if char.isdigit():
            number += char
            continue
        if char == "c":
            # Alphanumeric by the registry's format; in practice mostly digits (IT60X0542811101000000123456).
            out += [rng.choice(string.ascii_uppercase if rng.random() < 0.15 else string.digits) for _ in range(int(number))]
        else:
            out += [rng.choice({"n": string.digits, "a": string.ascii_uppercase}[char]) for _ in range(int(number))]
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


def _irregular(compact: str, rng: random.Random) -> str:
    out, index = [compact[:4]], 4
    while index < len(compact):
        step = rng.randrange(2, 7)
        out.append(compact[index : index + step])
        index += step
    return " ".join(out)


# IBANs as they come off a statement, a PDF or a phone: every one must be masked.
IBAN_FORMS: tuple[tuple[str, Callable[[str, random.Random], str]], ...] = (
    ("country apart: GB 82 WEST ...", lambda c, rng: f"{c[:2]} {c[2:4]} " + " ".join(_groups(c[4:]))),
    ("double spaces", lambda c, rng: "  ".join(_groups(c))),
    ("dashes", lambda c, rng: "-".join(_groups(c))),
    ("a line break inside", lambda c, rng: " ".join(_groups(c[:12])) + "\n" + " ".join(_groups(c[12:]))),
    ("irregular groups", _irregular),
    ("glued after IBAN", lambda c, rng: "IBAN" + c),
    ("lower case, grouped", lambda c, rng: " ".join(_groups(c.lower()))),
)


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
        return rng.choice(
            (
                f"07{rng.randrange(100, 999)} {rng.randrange(100000, 999999)}",
                f"+44 20 {rng.randrange(1000, 9999)} {rng.randrange(1000, 9999)}",
                f"({rng.randrange(200, 999)}) {rng.randrange(200, 999)}-{rng.randrange(1000, 9999)}",
                f"+1 {rng.randrange(200, 999)}-{rng.randrange(200, 999)}-{rng.randrange(1000, 9999)}",
                f"06 {rng.randrange(10, 99)} {rng.randrange(10, 99)} {rng.randrange(10, 99)} {rng.randrange(10, 99)}",
                f"+49 30 {rng.randrange(10000000, 99999999)}",
            )
        )

    def date() -> str:
        return rng.choice(
            (
                f"2026-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
                f"{rng.randrange(1, 29):02d}/{rng.randrange(1, 13):02d}/2026",
                f"{rng.randrange(1, 29)} Dec",
            )
        )

    def digits(n: int) -> str:
        return str(rng.randrange(10 ** (n - 1), 10**n))

    notes = []
    for _ in range(count):
        template = rng.choice(SENTENCES)
        notes.append(
            template.format(
                item=rng.choice(ITEMS),
                colour=rng.choice(COLOURS),
                size=rng.choice(("S", "M", "L", "10", "42", "32x34")),
                price=rng.choice((f"{rng.randrange(5, 2000)}.{rng.randrange(100):02d}", f"{rng.randrange(1, 900)},000")),
                order=rng.choice((digits(8), f"ORD-{digits(10)}", digits(12))),
                date=date(),
                store=digits(4),
                phone=phone(),
                hour=rng.randrange(1, 12),
                sku=rng.choice((f"{digits(3)}-{digits(4)}-{digits(3)}", digits(9), f"SKU{digits(7)}")),
                ref=rng.choice((digits(10), f"REF{digits(8)}")),
                receipt=digits(6),
                qty=rng.randrange(1, 20),
                postcode=rng.choice(("SW1A 1AA", digits(5), "75011")),
                ean=_ean13(rng, str(rng.randrange(1, 10))),
                months=rng.choice((12, 24, 36, 60)),
                tracking=rng.choice((f"1Z{digits(16)}", digits(12), f"JD{digits(18)}")),
                invoice=f"INV-{digits(6)}",
                ext=digits(4),
                last4=digits(4),
                ticket=digits(6),
            )
        )
    return notes


def _ean13(rng: random.Random, prefix: str) -> str:
    body = prefix + "".join(rng.choice(string.digits) for _ in range(12 - len(prefix)))
    total = sum(int(char) * (3 if index % 2 else 1) for index, char in enumerate(body))
    return body + str((10 - total % 10) % 10)


def _imei(rng: random.Random) -> str:
    """A phone's IMEI: a type allocation code from the bodies that issue nearly all of them today, Luhn-valid."""
    return luhn_complete(rng.choice(("35", "86", "01", "99")) + "".join(rng.choice(string.digits) for _ in range(12)))


def _amazon_order(rng: random.Random) -> str:
    """An online order number as Amazon's marketplaces write them (.com 11x, .de 30x, .fr/.it 40x, .jp 503...)."""
    site = rng.choice(
        (
            "111",
            "112",
            "113",
            "114",
            "202",
            "203",
            "026",
            "302",
            "303",
            "304",
            "305",
            "171",
            "402",
            "403",
            "404",
            "405",
            "407",
            "408",
            "503",
            "249",
            "250",
            "701",
            "702",
        )
    )
    return f"{site}-{rng.randrange(10**6, 10**7)}-{rng.randrange(10**6, 10**7)}"


def tricky_notes(rng: random.Random, count_per_kind: int = 500) -> dict[str, list[str]]:
    """Ordinary notes that put many digits near each other, by kind: none of them may be masked.

    Written to stress the separators the guard accepts inside a card (dots, several
    spaces, line breaks): dotted phone numbers, lists of prices and sizes, dates, order
    numbers, barcodes, IMEIs, tracking numbers, sort codes, multi-line pastes.
    """

    def d(n: int) -> str:
        return str(rng.randrange(10 ** (n - 1), 10**n))

    def price() -> str:
        return f"{rng.randrange(1, 500)}.{rng.choice(('00', '50', '95', '99', str(rng.randrange(10, 100))))}"

    def phone() -> str:
        return rng.choice(
            (
                f"0{rng.randrange(1, 8)}.{d(2)}.{d(2)}.{d(2)}.{d(2)}",
                f"{d(3)}.{d(3)}.{d(4)}",
                f"+33 {rng.randrange(1, 8)} {d(2)} {d(2)} {d(2)} {d(2)}",
                f"+44  7700  {d(6)}",
                f"+49 {d(3)} {d(7)}",
                f"+{rng.choice(('34', '39', '31', '41', '46', '48'))}{d(9)}",
                f"+1 ({d(3)}) {d(3)}-{d(4)}",
                f"07{d(3)} {d(6)}",
            )
        )

    makers: dict[str, Callable[[], str]] = {
        "phone numbers (dots, double spaces, E.164)": lambda: rng.choice(
            (
                f"Call {phone()} or {phone()} after {rng.randrange(1, 12)}pm.",
                f"Mobile {phone()}\nHome {phone()}",
                f"Tel: {phone()}  Fax: {phone()}",
            )
        ),
        "phone numbers one per line": lambda: "Numbers:\n" + "\n".join(phone() for _ in range(rng.randrange(2, 5))),
        "price lists": lambda: rng.choice(
            (
                f"Was {price()} now {price()}, bundle {price()}.",
                "Prices " + "  ".join(price() for _ in range(rng.randrange(3, 7))),
                "\n".join(price() for _ in range(rng.randrange(3, 7))),
                f"Quoted {rng.randrange(1, 10)}.{d(3)},{d(2)} EUR incl. VAT, deposit {price()}",
                f"€ {rng.randrange(1, 10)} {d(3)},{d(2)} for {rng.randrange(2, 9)} items",
            )
        ),
        "sizes and quantities": lambda: rng.choice(
            (
                "Sizes " + " ".join(str(s) for s in range(rng.choice((34, 36, 38, 40)), 60, 2)[: rng.randrange(4, 10)]),
                "Needs 3 x 42, 2 x 44 and 1 x 46.",
                "Waist/leg: " + "  ".join(f"{rng.randrange(28, 40)} {rng.randrange(28, 36)}" for _ in range(4)),
                "Shoe sizes\n" + "\n".join(str(rng.randrange(36, 48)) for _ in range(rng.randrange(3, 8))),
            )
        ),
        "dates and times": lambda: rng.choice(
            (
                f"Delivered {rng.randrange(1, 29):02d}.{rng.randrange(1, 13):02d}.2026 {rng.randrange(8, 20)}.{rng.choice(('00', '30'))}",
                f"Open 2026.{rng.randrange(1, 13):02d}.{rng.randrange(1, 29):02d} 09 00 17 30",
                f"From {rng.randrange(1, 29)} {rng.randrange(1, 13)} 2026 to {rng.randrange(1, 29)} {rng.randrange(1, 13)} 2026",
            )
        ),
        "online order numbers": lambda: f"Price match: Amazon order {_amazon_order(rng)} from {rng.randrange(1, 29)} Nov.",
        "barcodes (EAN-13, UPC, ISBN)": lambda: rng.choice(
            (
                f"EAN {_ean13(rng, rng.choice(('40', '41', '50', '54', '57', '76', '80', '87', '90', '93', '30', '37', '64')))}",
                f"Scanned {_ean13(rng, rng.choice(('400', '500', '560', '590', '640', '690', '450', '470')))} twice",
                f"ISBN 978-{rng.randrange(0, 10)}-{d(4)}-{d(4)}-{rng.randrange(10)}",
                f"UPC {d(12)}, case of {rng.randrange(6, 48)}",
            )
        ),
        "phone IMEIs": lambda: f"Trade-in, IMEI {_imei(rng)}, screen cracked.",
        "tracking numbers": lambda: rng.choice(
            (
                f"USPS 9400 {d(4)} {d(4)} {d(4)} {d(4)} {d(2)}",
                f"UPS 1Z{rng.choice(('999AA1', 'A1B2C3', '8V4W55'))}{d(10)}",
                f"FedEx {d(12)}",
                f"DHL {d(10)}",
                f"Royal Mail {rng.choice(('AB', 'RX', 'LZ'))}{d(9)}GB",
            )
        ),
        "bank sort codes and account numbers": lambda: rng.choice(
            (
                f"Sort code {d(2)}-{d(2)}-{d(2)} account {d(8)}",
                f"{d(2)}-{d(2)}-{d(2)} {d(8)} (business account)",
                f"Routing {d(9)} account {d(10)}",
            )
        ),
        "receipts and references": lambda: rng.choice(
            (
                f"Receipt {d(4)} {d(3)} {d(6)} {d(4)}",
                f"Ref {d(4)}-{d(4)}-{d(4)}, till {rng.randrange(1, 9)}",
                f"Loyalty LOY-{d(6)}, points {rng.randrange(100, 9000)}",
                f"Gift receipt {d(3)}.{d(3)}.{d(3)}",
                f"Serial SN{d(4)}-{rng.choice(('AB', 'XZ', 'QK'))}{d(4)}-{d(4)}",
            )
        ),
        "multi-line pastes": lambda: "\n".join(
            rng.choice(
                (
                    f"SKU {d(3)}-{d(4)}-{d(3)} x{rng.randrange(1, 5)}",
                    f"{d(6)}  {price()}",
                    f"{rng.randrange(1, 29):02d}/{rng.randrange(1, 13):02d} {phone()}",
                    f"Order {d(8)}",
                )
            )
            for _ in range(rng.randrange(2, 6))
        ),
        # Written after the guard's rules were settled, and not tuned against: a check on overfitting.
        "held out: timestamps, VAT ids, Asian phones, printed EANs": lambda: rng.choice(
            (
                f"Logged 2026{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}{rng.randrange(0, 24):02d}{rng.randrange(0, 60):02d}{rng.randrange(0, 60):02d}",
                f"ts {rng.randrange(1_700_000_000_000, 1_800_000_000_000)}",
                f"VAT GB {d(3)} {d(4)} {d(2)} on the invoice",
                f"USt-IdNr. DE{d(9)}, Tel. 0{d(2)}/{d(7)}",
                f"ISBN {rng.randrange(0, 2)}-{d(3)}-{d(5)}-{rng.randrange(10)}",
                f"Label {rng.randrange(1, 10)} {d(6)} {d(6)}",
                f"Mobile {rng.choice(('138', '139', '186'))} {d(4)} {d(4)}, office {rng.choice(('6', '9'))}{d(3)} {d(4)}",
                f"HK {rng.choice(('5', '6', '9'))}{d(3)} {d(4)} / SG {rng.choice(('6', '8', '9'))}{d(3)} {d(4)}",
                f"Invoice {rng.randrange(2024, 2027)} {d(4)} {d(4)}, due {rng.randrange(1, 29)}.{rng.randrange(1, 13)}.",
                f"Box {d(2)} {d(3)} {d(3)} {d(3)} weighs {rng.randrange(1, 30)}.{rng.randrange(10)} kg",
            )
        ),
    }
    return {kind: [make() for _ in range(count_per_kind)] for kind, make in makers.items()}


# Customer numbers and preference words as shops write them: none may be masked.
def ordinary_customer_fields(rng: random.Random, count: int = 300) -> list[str]:
    def d(n: int) -> str:
        return str(rng.randrange(10 ** (n - 1), 10**n))

    return [
        rng.choice(
            (
                f"LOY-{d(6)}",
                f"C{d(8)}",
                f"{d(4)} {d(4)} {d(4)}",
                f"CLUB/{d(5)}",
                f"{d(10)}",
                f"{rng.randrange(28, 44)}x{rng.randrange(28, 36)}",
                f"EU {rng.randrange(36, 48)}",
                f"UK {rng.randrange(3, 13)}",
                rng.choice(("Barbour", "Levi's 501", "Hunter", "Nike Air Max 90", "Dr. Martens 1460", "Ray-Ban 3025")),
            )
        )
        for _ in range(count)
    ]
