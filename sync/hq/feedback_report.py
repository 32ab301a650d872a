"""The customer's voice at HQ: product groups ranked by complaints (1 and 2 stars) and by praise
(4 and 5), with what customers said, for `associate-hq report --feedback`, the weekly digest
("What customers loved", "What let them down") and /dashboard.

A group reads as its commonest wording and its category's label ("Clothing › Outerwear").
Only feedback texts and counts appear, never a customer, associate or note, and every
verbatim is scrubbed of e-mail addresses and phone-like numbers (labels.scrub). Feedback
rated 3 is counted but in neither side. The reads are feedback.py's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, TextIO

from schemas.taxonomy import Taxonomy
from schemas.text import clean, html_literal, json_text, markdown_literal
from schemas.times import format_utc
from sync.hq.feedback import COMPLAINT, PRAISE, GroupFeedback, Verbatim
from sync.hq.labels import category_label, scrub
from sync.hq.report import Window, demand_csv, literal
from sync.hq.storage import HQStorage

if TYPE_CHECKING:  # Rich is loaded only by the report that prints tables
    from rich.table import Table

SAID = 3  # verbatims shown for each group, on its side
SIDES = ("complaints", "praise")
CSV_COLUMNS = (
    "ranking",
    "rank",
    "label",
    "category",
    "category_label",
    "feedback",
    "complaints",
    "praise",
    "rated_1",
    "rated_2",
    "rated_3",
    "rated_4",
    "rated_5",
    "mean_rating",
    "stores",
    "said",
    "key",
)


@dataclass(frozen=True)
class Voice:
    """What customers said in a period: the groups with most complaints and with most praise."""

    period: Window
    by_complaints: list[dict]
    by_praise: list[dict]
    feedback: int  # every piece of feedback in the period and scope, rated 3 too
    complaints: int
    praise: int


def ranking(storage: HQStorage, period: Window, *, store: str | None = None, category: str | None = None, top: int = 20) -> Voice:
    """The `top` groups by complaints (most first; then more stores, then the lower mean) and by praise
    (most first; then more stores, then the higher mean), each with up to SAID verbatims of its side."""
    since, until = format_utc(period.since), format_utc(period.until)
    groups = storage.feedback.per_group(since=since, until=until, store=store, category=category)
    worst = sorted((g for g in groups if g.complaints), key=lambda g: (-g.complaints, -g.stores, g.mean_rating, g.key))
    best = sorted((g for g in groups if g.praise), key=lambda g: (-g.praise, -g.stores, -(g.mean_rating or 0), g.key))
    pack = storage.taxonomy_pack()
    names: dict[str, tuple[str, str | None]] = {}
    sides = []
    for ranked, ratings in ((worst[:top], COMPLAINT), (best[:top], PRAISE)):
        said = storage.feedback.verbatims([g.key for g in ranked], ratings, since=since, until=until, store=store)
        for group in ranked:
            if group.key not in names:
                wording, code = storage.feedback.wording(group.key, since=since, until=until)
                names[group.key] = (scrub(wording or group.key), code)
        sides.append([_row(rank, group, names[group.key], said.get(group.key, []), pack) for rank, group in enumerate(ranked, 1)])
    return Voice(
        period,
        sides[0],
        sides[1],
        feedback=sum(g.feedback for g in groups),
        complaints=sum(g.complaints for g in groups),
        praise=sum(g.praise for g in groups),
    )


def _row(rank: int, group: GroupFeedback, name: tuple[str, str | None], said: list[Verbatim], pack: Taxonomy) -> dict:
    label, code = name
    return {
        "rank": rank,
        "label": label,
        "category": code,
        "category_label": category_label(pack, code) if code else None,
        "feedback": group.feedback,
        "complaints": group.complaints,
        "praise": group.praise,
        "ratings": list(group.ratings),
        "mean_rating": group.mean_rating,
        "stores": group.stores,
        "said": _distinct(said),
        "key": group.key,
    }


def _distinct(said: list[Verbatim]) -> list[dict]:
    """Up to SAID verbatims, scrubbed, each said differently (the same words twice are shown once)."""
    kept: dict[str, dict] = {}
    for verbatim in said:
        text = scrub(verbatim.text)
        if text.lower() not in kept and len(kept) < SAID:
            kept[text.lower()] = {"rating": verbatim.rating, "text": text}
    return list(kept.values())


# -- associate-hq report --feedback ---------------------------------------------------------


def write_report(voice: Voice, form: str, out: TextIO) -> None:
    """The ranking in `form` (table, json or csv); json and csv carry both sides."""
    if form == "json":
        out.write(report_json(voice))
    elif form == "csv":
        out.write(report_csv(voice))
    else:
        _print_tables(voice, out)


def report_json(voice: Voice) -> str:
    body = {
        "since": format_utc(voice.period.since),
        "until": format_utc(voice.period.until),
        "feedback": voice.feedback,
        "complaints": voice.complaints,
        "praise": voice.praise,
        "by_complaints": voice.by_complaints,
        "by_praise": voice.by_praise,
    }
    return json_text(json.dumps(body, ensure_ascii=False, indent=2)) + "\n"


def report_csv(voice: Voice) -> str:
    """One row per group and side (`ranking` complaints or praise), never a formula (report.demand_csv)."""
    rows = []
    for side, groups in zip(SIDES, (voice.by_complaints, voice.by_praise)):
        for group in groups:
            rated = {f"rated_{rating}": count for rating, count in enumerate(group["ratings"], 1)}
            rows.append({**group, **rated, "ranking": side, "said": [item["text"] for item in group["said"]]})
    return demand_csv(rows, CSV_COLUMNS)


def _print_tables(voice: Voice, out: TextIO) -> None:
    from rich.console import Console

    console = Console(file=out, width=None if out.isatty() else 140)
    if not voice.feedback:
        console.print(clean(f"No feedback from {_span(voice.period)}."), markup=False, highlight=False)
        return
    for side, groups in zip(SIDES, (voice.by_complaints, voice.by_praise)):
        console.print(_table(side, groups, voice.period))
    console.print(
        f"{voice.feedback} pieces of feedback: {voice.complaints} rated 1 or 2, {voice.praise} rated 4 or 5.",
        markup=False,
        highlight=False,
    )


def _table(side: str, groups: list[dict], period: Window) -> Table:
    from rich.table import Table
    from rich.text import Text

    title = "Most complaints (1 and 2 stars)" if side == "complaints" else "Most praise (4 and 5 stars)"
    table = Table(title=f"{title}, {_span(period)}", title_justify="left")
    for name in ("#", "Product group", "Category", side.capitalize(), "Feedback", "Mean rating", "Stores", "What they said"):
        table.add_column(
            name, justify="left" if name in ("Product group", "Category", "What they said") else "right", overflow="fold"
        )
    for group in groups:
        table.add_row(
            str(group["rank"]),
            literal(group["label"]),
            literal(group["category_label"] or "-"),
            str(group[side]),
            str(group["feedback"]),
            f"{group['mean_rating']:.1f}",
            str(group["stores"]),
            Text("\n").join(literal(f"{item['rating']}: “{item['text']}”") for item in group["said"]),
        )
    if not groups:
        table.add_row("", literal(f"No feedback rated {' or '.join(map(str, COMPLAINT if side == 'complaints' else PRAISE))}."))
    return table


def _span(period: Window) -> str:
    return f"{format_utc(period.since)[:10]} to {format_utc(period.until - timedelta(seconds=1))[:10]}"


# -- the weekly digest ----------------------------------------------------------------------

# (title, the voice's side, its ratings strongest first, what to say when it is empty)
DIGEST_SECTIONS = (
    ("What customers loved", "by_praise", (5, 4), "No feedback was rated 4 or 5 this week."),
    ("What let them down", "by_complaints", (1, 2), "No feedback was rated 1 or 2 this week."),
)


def digest_markdown(voice: Voice) -> list[str]:
    """The digest's two sections, as Markdown lines: each group with its counts, then what customers said."""
    md = markdown_literal
    lines: list[str] = []
    for title, side, ratings, empty in DIGEST_SECTIONS:
        lines += ["", f"## {title}", "", f"_{_stars(ratings)}: {_share(voice, side)}._", ""]
        groups: list[dict] = getattr(voice, side)
        if not groups:
            lines.append(empty)
        for group in groups:
            kind = f" ({md(group['category_label'])})" if group["category_label"] else ""
            lines.append(f"{group['rank']}. **{md(group['label'])}**{kind}: {_counts(group, ratings)}")
            lines += [f"   > “{md(item['text'])}” ({_count(item['rating'], 'star')})" for item in group["said"]]
    return lines


def digest_html(voice: Voice) -> str:
    """The same two sections in HTML."""
    e = html_literal
    parts: list[str] = []
    for title, side, ratings, empty in DIGEST_SECTIONS:
        parts.append(f"<h2>{title}</h2><p><em>{_stars(ratings)}: {e(_share(voice, side))}.</em></p>")
        groups: list[dict] = getattr(voice, side)
        if not groups:
            parts.append(f"<p>{empty}</p>")
            continue
        parts.append(f"<ol class='{side.removeprefix('by_')}'>")
        for group in groups:
            kind = f" ({e(group['category_label'])})" if group["category_label"] else ""
            parts.append(f"<li><strong>{e(group['label'])}</strong>{kind}: {e(_counts(group, ratings))}")
            parts += [
                f"<blockquote>“{e(item['text'])}” ({_count(item['rating'], 'star')})</blockquote>" for item in group["said"]
            ]
            parts.append("</li>")
        parts.append("</ol>")
    return "".join(parts)


def _stars(ratings: tuple[int, ...]) -> str:
    return " and ".join(str(rating) for rating in ratings) + " stars"


def _share(voice: Voice, side: str) -> str:
    part = voice.praise if side == "by_praise" else voice.complaints
    return f"{part} of {_count(voice.feedback, 'piece')} of feedback"


def _counts(group: dict, ratings: tuple[int, ...]) -> str:
    """'4 rated 5, 2 rated 4 (7 pieces of feedback in all, mean 4.3) from 4 stores'"""
    each = ", ".join(f"{group['ratings'][rating - 1]} rated {rating}" for rating in ratings if group["ratings"][rating - 1])
    overall = f"{_count(group['feedback'], 'piece')} of feedback in all, mean {group['mean_rating']:.1f}"
    return f"{each} ({overall}) from {_count(group['stores'], 'store')}"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


# -- /dashboard -----------------------------------------------------------------------------


def dashboard_section(voice: Voice) -> str:
    """Both sides as tables: the groups, their counts and a verbatim or two each (no script, labels not codes)."""
    e = html_literal
    parts = ["<h2>What customers said</h2>", f"<p>{e(_count(voice.feedback, 'piece'))} of feedback in this period.</p>"]
    for side, title, groups in (
        ("complaints", "What let them down (1 and 2 stars)", voice.by_complaints),
        ("praise", "What customers loved (4 and 5 stars)", voice.by_praise),
    ):
        rows = "".join(
            f"<tr><td class='n'>{g['rank']}</td><td>{e(g['label'])}</td><td>{e(g['category_label'] or '-')}</td>"
            f"<td class='n'>{g[side]}</td><td class='n'>{g['feedback']}</td><td class='n'>{g['mean_rating']:.1f}</td>"
            f"<td class='n'>{g['stores']}</td><td>{_quotes(g['said'][:2])}</td></tr>"
            for g in groups
        )
        parts.append(
            f"<h3>{title}</h3><table id='feedback-{side}'><thead><tr><th class='n'>#</th><th>Product group</th>"
            f"<th>Category</th><th class='n'>{side.capitalize()}</th><th class='n'>Feedback</th><th class='n'>Mean rating</th>"
            f"<th class='n'>Stores</th><th>What they said</th></tr></thead><tbody>"
            + (rows or "<tr><td colspan='8'>None in this period.</td></tr>")
            + "</tbody></table>"
        )
    return "".join(parts)


def _quotes(said: list[dict]) -> str:
    return "<br>".join(f"“{html_literal(item['text'])}” ({item['rating']}/5)" for item in said)
