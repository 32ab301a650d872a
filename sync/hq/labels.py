"""What HQ's readers see of the pack's codes and of people's words: a category by its label,
and a verbatim without contact details.

Shared by the report, the digest and the dashboard (and nothing here reads the database),
so each of them can import it without importing the others.
"""

from __future__ import annotations

import re

from schemas.taxonomy import Taxonomy

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_LONG_NUMBER = re.compile(r"(?<!\w)\+?\d(?:[ \-.]?\d){6,}(?!\w)")


def scrub(text: str) -> str:
    """A verbatim fit for a digest: e-mail addresses and phone-like numbers taken out."""
    return _LONG_NUMBER.sub("[number]", _EMAIL.sub("[e-mail]", text))


def category_label(pack: Taxonomy, code: str | None) -> str:
    """A category as people read it ("Clothing › Outerwear"), from the pack HQ publishes.

    A branch ("clothing") reads as its categories' first part; a code the pack does not
    know (from an older pack) is shown as it is, and no category as "-".
    """
    if not code:
        return "-"
    known = pack.category(code)
    if known:
        return known.label
    under = [c.label for c in pack.categories if c.code.startswith(code + ".")]
    return under[0].split(" › ")[0] if under else code
