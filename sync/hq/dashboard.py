"""/dashboard: the top-demand table and unmet asks per week, each group linking to its own page
(dashboard_group.py), then what customers said (feedback_report.py); categories by their labels
in the published taxonomy.

No script and nothing fetched from elsewhere (the chart is inline SVG), so the page
is served under a Content-Security-Policy that allows neither. Aggregates only: ask
texts, counts and store ids, never a customer or an associate.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from urllib.parse import urlencode

from schemas.taxonomy import Taxonomy
from schemas.text import html_literal
from schemas.times import format_utc
from sync.hq import evidence
from sync.hq.feedback_report import dashboard_section, ranking
from sync.hq.labels import category_label, scrub
from sync.hq.report import Window, demand, unmet_outcomes
from sync.hq.storage import HQStorage

WEEKS = 8
GROUP_KEY = re.compile(r"[0-9a-f]{16}")  # schemas/demand.py's demand_key: a group page's address
STYLE = (
    "body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}table{border-collapse:collapse;margin:.5rem 0}"
    "td,th{padding:.25rem .6rem;border-bottom:1px solid #ddd;text-align:left}td.n,th.n{text-align:right}"
    "form{margin:1rem 0}label{margin-right:.8rem}.error{color:#a40000;font-weight:bold}"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}


def weekly_unmet(
    storage: HQStorage, period: Window, *, store: str | None = None, category: str | None = None
) -> list[tuple[date, int]]:
    """Unmet asks in each of the WEEKS weeks (of 7 days) up to the end of `period`."""
    start = period.until - timedelta(days=7 * WEEKS)
    per_day = storage.unmet_per_day(
        since=format_utc(start), until=format_utc(period.until), unmet=unmet_outcomes(storage), store=store, category=category
    )
    return weeks_of(per_day, period)


def weeks_of(per_day: list[tuple[str, int]], period: Window) -> list[tuple[date, int]]:
    """(first day, count) of each of the WEEKS weeks up to the end of `period`, from counts per UTC day."""
    start = period.until - timedelta(days=7 * WEEKS)
    weeks = [(start + timedelta(days=7 * i)).date() for i in range(WEEKS)]
    counts = [0] * WEEKS
    for day, count in per_day:
        index = (date.fromisoformat(day) - weeks[0]).days // 7
        if 0 <= index < WEEKS:
            counts[index] += count
    return list(zip(weeks, counts))


def category_options(pack: Taxonomy, chosen: str | None) -> str:
    """The <option>s of the category filter: every category and branch by its label, the chosen one selected."""
    codes = list(dict.fromkeys(code for c in pack.categories for code in (c.code.split(".")[0], c.code)))
    if chosen and chosen not in codes:
        codes.append(chosen)
    options = [f"<option value=''{'' if chosen else ' selected'}>All categories</option>"]
    for code in codes:
        label = category_label(pack, code) + (" (all)" if "." not in code and not pack.category(code) else "")
        picked = " selected" if code == chosen else ""
        options.append(f"<option value='{html_literal(code)}'{picked}>{html_literal(label)}</option>")
    return "".join(options)


def group_link(key: str, since_text: str, until_text: str) -> str | None:
    """The address of a demand group's page, over the same period; None for a key no group page has."""
    if not GROUP_KEY.fullmatch(key):
        return None
    query = urlencode([(name, value) for name, value in (("since", since_text), ("until", until_text)) if value])
    return f"/dashboard/groups/{key}" + (f"?{query}" if query else "")


def chart(weeks: list[tuple[date, int]]) -> str:
    """Bars of unmet asks per week, in SVG, each with its count and the week's first day."""
    width, height, bar = 640, 180, 640 // len(weeks)
    most = max((count for _, count in weeks), default=0) or 1
    parts = [
        f"<svg id='weekly-chart' role='img' aria-label='Unmet asks per week' viewBox='0 0 {width} {height + 40}' "
        f"width='{width}' height='{height + 40}' xmlns='http://www.w3.org/2000/svg'>"
    ]
    for i, (start, count) in enumerate(weeks):
        tall = round(height * count / most)
        x = i * bar + 8
        parts.append(
            f"<rect class='bar' data-week='{start.isoformat()}' data-count='{count}' x='{x}' "
            f"y='{height - tall + 16}' width='{bar - 16}' height='{tall}' fill='#3465a4'/>"
        )
        parts.append(
            f"<text x='{x + (bar - 16) // 2}' y='{height - tall + 12}' font-size='12' text-anchor='middle'>{count}</text>"
        )
        parts.append(
            f"<text x='{x + (bar - 16) // 2}' y='{height + 32}' font-size='12' text-anchor='middle'>{start:%d %b}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def page(
    storage: HQStorage,
    period: Window,
    *,
    store: str | None = None,
    category: str | None = None,
    since_text: str = "7d",
    until_text: str = "",
    viewer: str = "",
) -> str:
    e = html_literal
    pack = storage.taxonomy_pack()
    groups = demand(storage, period, store=store, category=category, top=25)
    rows = (
        "".join(
            f"<tr><td class='n'>{g['rank']}</td><td>{_asked_for(g, since_text, until_text)}</td>"
            f"<td>{e(category_label(pack, g['category']))}</td>"
            f"<td class='n'>{g['score']}</td><td class='n'>{g['asks']}</td>"
            + "".join(f"<td class='n'>{g[name]}</td>" for name in ("stores", "days", "weeks", "customers"))
            + f"<td class='n'>{e(g['trend'])}</td>"
            f"<td class='n'>{_taken(g)}</td><td class='n'>{_money(g['lost_value'])}</td></tr>"
            for g in groups
        )
        or "<tr><td colspan='12'>No unmet asks in this period.</td></tr>"
    )
    scope = " · ".join(
        filter(None, [f"store {store}" if store else "all stores", category_label(pack, category) if category else ""])
    )
    span = f"{format_utc(period.since)[:10]} to {format_utc(period.until - timedelta(seconds=1))[:10]}"
    return (
        head("Unmet demand") + f"<h1>Unmet demand</h1><p>{e(scope)} · {e(span)} · signed in as {e(viewer)}</p>"
        "<form method='get' action='/dashboard'>"
        f"<label>Since <input name='since' value='{e(since_text)}' size='10'></label> "
        f"<label>Until <input name='until' value='{e(until_text)}' size='10' placeholder='YYYY-MM-DD'></label> "
        f"<label>Store <input name='store' value='{e(store or '')}' size='10'></label> "
        f"<label>Category <select name='category'>{category_options(pack, category)}</select></label> "
        "<button type='submit'>Show</button></form>"
        "<table id='top-demand'><thead><tr><th class='n'>#</th><th>Asked for</th><th>Category</th><th class='n'>Score</th>"
        "<th class='n'>Asks</th><th class='n'>Stores</th><th class='n'>Days</th><th class='n'>Weeks</th>"
        "<th class='n'>Customers</th><th class='n'>Week on week</th><th class='n'>Substitute taken</th>"
        f"<th class='n'>Lost value</th></tr></thead><tbody>{rows}</tbody></table>"
        f"<p><small>Ranked by evidence: {e(evidence.SCORE_RULE)}.</small></p>"
        f"<h2>Unmet asks per week</h2>{chart(weekly_unmet(storage, period, store=store, category=category))}"
        f"{dashboard_section(ranking(storage, period, store=store, category=category, top=10))}</body></html>"
    )


def head(title: str) -> str:
    """The start of a dashboard page, up to and including <body>: its title, no icon fetched, the styles."""
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html_literal(title)} · Associate HQ</title>"
        f"<link rel='icon' href='data:,'><style>{STYLE}</style></head><body>"
    )


def _asked_for(group: dict, since_text: str, until_text: str) -> str:
    label = html_literal(scrub(group["label"]))
    link = group_link(group["key"], since_text, until_text)
    named = f"<a href='{html_literal(link)}'>{label}</a>" if link else label
    return f"{named}<br><small class='why'>{html_literal(group['why'])}</small>"  # the figures behind its rank


def _money(value: float | None) -> str:
    return "" if value is None else f"{value:,.2f}"


def _taken(group: dict) -> str:
    if group["acceptance"] is None:
        return "-"
    return f"{group['accepted']}/{group['accepted'] + group['declined']}"
