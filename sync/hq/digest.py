"""The weekly digest for designers and merchandisers: Markdown and HTML, no personal data.

Top unmet asks with what customers said, rising asks, the substitutes customers
took and turned down, stores that stand out, then what customers loved and what let
them down (feedback_report.py). Built from the same queries as
`associate-hq report`; only ask texts, counts and store ids appear (no customer,
associate or note), and verbatims are scrubbed of e-mail addresses and long numbers.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from schemas.text import html_literal, markdown_literal
from schemas.times import format_utc
from sync.hq import evidence
from sync.hq.feedback_report import Voice, digest_html, digest_markdown, ranking
from sync.hq.labels import scrub
from sync.hq.report import Window, demand_and_quality
from sync.hq.storage import HQStorage


@dataclass(frozen=True)
class Digest:
    period: Window
    top: list[dict]
    rising: list[dict]
    accepted: list[dict]
    refused: list[dict]
    outliers: list[str]
    asks: int
    voice: Voice | None = None  # what customers loved and what let them down (feedback_report.py)

    @property
    def _week(self) -> tuple[int, int]:
        """(ISO year, ISO week) of the last day covered."""
        year, week, _ = (self.period.until - timedelta(seconds=1)).isocalendar()
        return year, week

    @property
    def title(self) -> str:
        year, week = self._week
        return f"Unmet demand, week {week} of {year}"

    @property
    def stem(self) -> str:
        year, week = self._week
        return f"digest-{year}-W{week:02d}"

    def signals(self) -> list[tuple[str, list[dict], str]]:
        """The top unmet asks in two parts, each in rank order: (title, groups, what to say when none)."""
        return [
            (
                f"Strong signals: asked at {evidence.STRONG_STORES} or more stores, or in {evidence.STRONG_WEEKS} or more "
                f"of the last {evidence.DIGEST_WEEKS} weeks",
                [g for g in self.top if g["signal"] == "strong"],
                "No strong signal this week.",
            ),
            (
                f"One-offs: at fewer than {evidence.STRONG_STORES} stores, in one week of the last {evidence.DIGEST_WEEKS}",
                [g for g in self.top if g["signal"] != "strong"],
                "No one-off this week.",
            ),
        ]


def build(storage: HQStorage, period: Window, *, top: int = 10) -> Digest:
    groups, quality = demand_and_quality(storage, period, top=200, weeks_back=evidence.DIGEST_WEEKS)
    for group in groups:
        group["examples"] = [scrub(text) for text in group["examples"]]
        group["label"] = scrub(group["label"])
    rising = sorted(
        (g for g in groups if g["this_week"] >= 3 and g["this_week"] >= 1.5 * max(g["last_week"], 1)),
        key=lambda g: (g["last_week"] - g["this_week"], g["label"]),
    )[:top]
    substitutes = storage.substitutes(since=format_utc(period.since), until=format_utc(period.until), top=200)
    for row in substitutes:
        row["substitute"] = scrub(row["substitute"])
    accepted = sorted((s for s in substitutes if s["accepted"]), key=lambda s: (-s["accepted"], s["substitute"]))[:top]
    refused = sorted((s for s in substitutes if s["declined"]), key=lambda s: (-s["declined"], s["substitute"]))[:top]
    voice = ranking(storage, period, top=top)
    shown = [g for g in groups if g["signal"] == "strong"][:top] + [g for g in groups if g["signal"] != "strong"][:top]
    shown.sort(key=lambda g: g["rank"])
    return Digest(period, shown, rising, accepted, refused, outliers(quality), quality["asks"], voice)


def outliers(quality: dict) -> list[str]:
    """Stores far from the chain: unmet share two deviations off, logging a third of the median, or silent."""
    active = [s for s in quality["stores"] if s["asks"] >= 10]
    notes: list[str] = []
    if len(active) >= 3:
        shares = [s["unmet"] / s["asks"] for s in active]
        mean, spread = statistics.mean(shares), statistics.pstdev(shares)
        rates = statistics.median(s["asks_per_associate_day"] for s in active)
        for store, share in zip(active, shares):
            if spread and abs(share - mean) >= 2 * spread:
                notes.append(f"{store['store_id']}: {share:.0%} of asks unmet, against {mean:.0%} across stores")
            if store["asks_per_associate_day"] < rates / 3:
                notes.append(
                    f"{store['store_id']}: {store['asks_per_associate_day']:.1f} asks per associate-day, "
                    f"against a median of {rates:.1f}: asks may be going unlogged"
                )
    for store_id in quality["stopped"]:
        notes.append(f"{store_id}: no asks in the last {quality['stale_days']} days")
    return notes


def _days(period: Window) -> str:
    """The days a digest covers, the last one included (the period's end is the midnight after it)."""
    return f"{period.since:%d %b} to {period.until - timedelta(seconds=1):%d %b %Y}"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _lost(group: dict) -> str:
    return f", about {group['lost_value']:,.2f} lost" if group["lost_value"] else ""


def _sections(digest: Digest) -> list[tuple[str, list[tuple[str, str]], str]]:
    """The sections after the top asks: (title, items as (bold part, rest), what to say when empty)."""
    return [
        (
            "Rising asks",
            [(g["label"], f": {g['this_week']} this week, {g['last_week']} the week before") for g in digest.rising],
            "Nothing rose sharply this week.",
        ),
        (
            "Substitutes customers accepted",
            [("", f"{s['substitute']}: accepted {s['accepted']} of {s['offered']} offers") for s in digest.accepted],
            "No substitute was accepted this week.",
        ),
        (
            "Substitutes customers turned down",
            [("", f"{s['substitute']}: declined {s['declined']} of {s['offered']} offers") for s in digest.refused],
            "No substitute was turned down this week.",
        ),
        ("Stores that stand out", [("", note) for note in digest.outliers], "No store stands out this week."),
    ]


def markdown(digest: Digest) -> str:
    span = f"{_days(digest.period)} (UTC), {_count(digest.asks, 'ask')}"
    lines = [f"# {digest.title}", "", f"_{span}. No personal data: ask texts and counts only._", "", "## Top unmet asks", ""]
    lines.append(f"_Ranked by evidence: {evidence.SCORE_RULE}._" if digest.top else "No unmet asks this week.")
    for title, groups, empty in digest.signals() if digest.top else ():
        lines += ["", f"### {title}", ""]
        lines += [line for group in groups for line in _top_markdown(group)] or [empty]
    for title, items, empty in _sections(digest):
        lines += ["", f"## {title}", ""]
        lines += [f"- {f'**{_md(bold)}**' if bold else ''}{_md(rest)}" for bold, rest in items] or [empty]
    lines += digest_markdown(digest.voice) if digest.voice else []
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return markdown_literal(text)


def _top_markdown(group: dict) -> list[str]:
    """One of the top unmet asks: its figures, why it ranks where it does, what customers said."""
    why = group["why"][:1].upper() + group["why"][1:]
    return [
        f"- **{_md(group['label'])}** (#{group['rank']}): {_count(group['asks'], 'ask')} in "
        f"{_count(group['stores'], 'store')}, {group['trend']} on last week{_lost(group)}.",
        f"  {why}.",  # HQ's own words and figures
        *(f"   > “{_md(example)}”" for example in group["examples"]),
    ]


def to_html(digest: Digest) -> str:
    e = html_literal
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{e(digest.title)}</title>",
        "<style>body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;color:#222}"
        "blockquote{margin:.2rem 0 .2rem 1.5rem;color:#555}td,th{padding:.2rem .6rem;text-align:left}"
        "td.n{text-align:right}</style></head><body>",
        f"<h1>{e(digest.title)}</h1><p><em>{_days(digest.period)} (UTC), "
        f"{_count(digest.asks, 'ask')}. No personal data: ask texts and counts only.</em></p><h2>Top unmet asks</h2>",
    ]
    parts.append(
        f"<p><em>Ranked by evidence: {e(evidence.SCORE_RULE)}.</em></p>" if digest.top else "<p>No unmet asks this week.</p>"
    )
    for title, groups, empty in digest.signals() if digest.top else ():
        parts.append(f"<h3>{e(title)}</h3>")
        parts.append(f"<ul>{''.join(_top_html(group) for group in groups)}</ul>" if groups else f"<p>{empty}</p>")
    for title, items, empty in _sections(digest):
        parts.append(f"<h2>{title}</h2>")
        listed = "".join(f"<li>{f'<strong>{e(bold)}</strong>' if bold else ''}{e(rest)}</li>" for bold, rest in items)
        parts.append(f"<ul>{listed}</ul>" if items else f"<p>{empty}</p>")
    parts.append(digest_html(digest.voice) if digest.voice else "")
    parts.append("</body></html>\n")
    return "".join(parts)


def _top_html(group: dict) -> str:
    e = html_literal
    why = group["why"][:1].upper() + group["why"][1:]
    return (
        f"<li><strong>{e(group['label'])}</strong> (#{group['rank']}): {_count(group['asks'], 'ask')} in "
        f"{_count(group['stores'], 'store')}, {e(group['trend'])} on last week{e(_lost(group))}.<br><small>{e(why)}.</small>"
        + "".join(f"<blockquote>“{e(example)}”</blockquote>" for example in group["examples"])
        + "</li>"
    )


def write(digest: Digest, folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    md_path, html_path = folder / f"{digest.stem}.md", folder / f"{digest.stem}.html"
    md_path.write_text(markdown(digest), encoding="utf-8")
    html_path.write_text(to_html(digest), encoding="utf-8")
    return md_path, html_path
