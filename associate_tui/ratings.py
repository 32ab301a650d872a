"""Feedback's rating, 1 to 5, in the words the form, the lists and the command line show."""

from __future__ import annotations

RATINGS = {1: "let down", 2: "unhappy", 3: "so-so", 4: "liked it", 5: "loved it"}


def rating_words(rating: int | None) -> str:
    """'4/5 liked it' for a rating, '' for none."""
    return f"{rating}/5 {RATINGS[rating]}" if rating in RATINGS else ""
