"""Reports over what HQ holds: numbers a merchandiser or a branch manager reads.

Plain functions from HQStorage rows to printable tables; the CLI prints them.
"""

from __future__ import annotations

import csv
import io
import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING, Any

from schemas.text import clean, csv_row, json_text
from schemas.times import format_utc
from sync.hq import evidence
from sync.hq.fold import catch_up
from sync.hq.storage import HQStorage

if TYPE_CHECKING:  # Rich is loaded only by the report that prints tables
    from rich.table import Table
    from rich.text import Text

WON_BACK = ("reached_bought", "reached_reserved")


def follow_up_table(storage: HQStorage, today: date | None = None) -> list[tuple[str, ...]]:
    """One row per store: promised, done, won back (bought or reserved), the other results, open and overdue.

    Won back is the unmet demand a follow-up turned into a sale or a reservation;
    the rate is over the follow-ups that were done.
    """
    header = (
        "store",
        "follow-ups",
        "done",
        "won back",
        "won %",
        "not interested",
        "not reached",
        "still unavailable",
        "open",
        "overdue",
        "cancelled",
    )
    rows: list[tuple[str, ...]] = [header]
    totals = dict.fromkeys(header[1:], 0)
    for row in storage.follow_up_outcomes(today=(today or date.today()).isoformat()):
        won = sum(row[key] or 0 for key in WON_BACK)
        values = {
            "follow-ups": row["follow_ups"],
            "done": row["done"] or 0,
            "won back": won,
            "not interested": row["reached_not_interested"] or 0,
            "not reached": row["not_reached"] or 0,
            "still unavailable": row["still_unavailable"] or 0,
            "open": row["open"] or 0,
            "overdue": row["overdue"] or 0,
            "cancelled": row["cancelled"] or 0,
        }
        for key, value in values.items():
            totals[key] += value
        rows.append(_line(row["store_id"], values))
    if len(rows) > 2:
        rows.append(_line("all stores", totals))
    return rows


def _line(store: str, values: dict) -> tuple[str, ...]:
    rate = f"{100 * values['won back'] / values['done']:.0f}%" if values["done"] else "-"
    return (
        store,
        *(str(values[key]) for key in ("follow-ups", "done", "won back")),
        rate,
        *(str(values[key]) for key in ("not interested", "not reached", "still unavailable", "open", "overdue", "cancelled")),
    )


def render(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(width) if i == 0 else cell.rjust(width) for i, (cell, width) in enumerate(zip(row, widths)))
        for row in rows
    ]
    return "\n".join(lines) + "\n"


# -- unmet demand across stores -----------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """A report's period: from `since` to `until` (UTC, end excluded), and the two weeks before `until`."""

    since: datetime
    until: datetime

    @property
    def week(self) -> datetime:
        return self.until - timedelta(days=7)

    @property
    def prev_week(self) -> datetime:
        return self.until - timedelta(days=14)

    def bounds(self) -> dict[str, str]:
        return {
            "since": format_utc(self.since),
            "until": format_utc(self.until),
            "week": format_utc(self.week),
            "prev_week": format_utc(self.prev_week),
        }


class ReportError(ValueError):
    """A report option that cannot be used; the message says how to write it."""


def window(since: str = "7d", until: str | None = None, now: datetime | None = None) -> Window:
    """`--since 7d|4w|YYYY-MM-DD` and `--until YYYY-MM-DD` (that whole day included; default today).

    Reports count whole UTC days, which HQ's daily roll-ups hold: `7d` is today and the 6 days before.
    """
    try:
        last = date.fromisoformat(until) if until else (now or datetime.now(timezone.utc)).astimezone(timezone.utc).date()
    except ValueError:
        raise ReportError(f"--until '{until}' is not a date; write it as YYYY-MM-DD, e.g. --until 2026-11-22") from None
    end = datetime.combine(last, time(), timezone.utc) + timedelta(days=1)
    match = re.fullmatch(r"(\d{1,4})([dw])", since.strip().lower())
    if match:
        days = int(match.group(1)) * (7 if match.group(2) == "w" else 1)
        if days < 1:
            raise ReportError("--since must cover at least one day, e.g. --since 7d")
        return Window(end - timedelta(days=days), end)
    try:
        start = datetime.combine(date.fromisoformat(since), time(), timezone.utc)
    except ValueError:
        raise ReportError(
            f"--since '{since}' is neither a span nor a date; write e.g. --since 7d, --since 4w or --since 2026-11-01"
        ) from None
    if start >= end:
        raise ReportError(f"--since {since} is not before the end of the report ({format_utc(end)[:10]})")
    return Window(start, end)


SORTS = ("evidence", "asks")  # `report --sort`: the evidence behind a group (evidence.py), or its unmet asks


def unmet_outcomes(storage: HQStorage) -> tuple[str, ...]:
    """The outcomes HQ's published taxonomy counts as unmet demand."""
    return tuple(outcome.code for outcome in storage.taxonomy_pack().outcomes if outcome.unmet)


def demand(
    storage: HQStorage,
    period: Window,
    *,
    store: str | None = None,
    category: str | None = None,
    top: int = 20,
    sort: str = "evidence",
    weeks_back: int | None = None,
) -> list[dict]:
    """The top unmet demand groups across stores, with trend, substitute acceptance and restock wins.

    Ranked by the evidence behind them (evidence.py: `score`, and `why` in words), or with
    `sort="asks"` by unmet asks. `weeks_back`: count the weeks a group was asked in over the
    last this many weeks to the period's end, rather than over the period (the digest looks back 4).
    `won_after_restock`: the group's follow-ups done in the period as bought or reserved after
    a restock made them due (`in_stock_at`), at `store` if given.
    """
    if sort not in SORTS:
        raise ReportError(f"--sort {sort}: give one of {', '.join(SORTS)}")
    weeks_since = format_utc(min(period.since, period.until - timedelta(weeks=weeks_back))) if weeks_back else None
    groups = storage.demand_groups(
        **period.bounds(),
        unmet=unmet_outcomes(storage),
        store=store,
        category=category,
        top=top,
        sort=sort,
        weeks_since=weeks_since,
    )
    wins = storage.queries.restock_wins(
        [group["key"] for group in groups], since=format_utc(period.since), until=format_utc(period.until), store=store
    )
    for rank, group in enumerate(groups, 1):
        group["rank"] = rank
        group["label"] = group["examples"][0] if group["examples"] else group["key"]
        group["trend"] = trend(group["this_week"], group["last_week"])
        answered = group["accepted"] + group["declined"]
        group["acceptance"] = round(group["accepted"] / answered, 3) if answered else None
        group["lost_value"] = round(group["lost_value"], 2) if group["lost_value"] is not None else None
        group["won_after_restock"] = wins.get(group["key"], 0)
        group["signal"] = "strong" if evidence.strong(group) else "one-off"
        group["why"] = evidence.why(group, weeks_of=weeks_back)
    return groups


def trend(this_week: int, last_week: int) -> str:
    """Week on week, in words a merchandiser reads at a glance: +40%, -10%, new, flat."""
    if not last_week:
        return "new" if this_week else "-"
    change = round(100 * (this_week - last_week) / last_week)
    return "flat" if change == 0 else f"{change:+d}%"


def demand_and_quality(storage: HQStorage, period: Window, **options: Any) -> tuple[list[dict], dict]:
    """`demand(storage, period, **options)` and the period's `data_quality`, read side by side on two connections
    (a report shows both: on PostgreSQL the two statements run on two cores), what waits in the outbox folded once."""
    catch_up(storage.db)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="associate-hq-report") as pool:
        quality = pool.submit(data_quality, storage, period)
        return demand(storage, period, **options), quality.result()


def data_quality(storage: HQStorage, period: Window, *, stale_days: int = 3) -> dict:
    """Share of asks coded "other" or left uncategorised, asks per associate per day, stores gone quiet."""
    stores = storage.store_activity(since=format_utc(period.since), until=format_utc(period.until), unmet=unmet_outcomes(storage))
    asks = sum(s["asks"] for s in stores)
    quiet_since = format_utc(period.until - timedelta(days=stale_days))
    for row in stores:
        row["asks_per_associate_day"] = round(row["asks"] / row["associate_days"], 1) if row["associate_days"] else 0.0
        row["stopped"] = row["last_ask_at"] is None or row["last_ask_at"] < quiet_since
    return {
        "asks": asks,
        "other_share": round(sum(s["other"] for s in stores) / asks, 3) if asks else None,
        "uncategorised_share": round(sum(s["uncategorised"] for s in stores) / asks, 3) if asks else None,
        "stores": stores,
        "stopped": [s["store_id"] for s in stores if s["stopped"]],
        "stale_days": stale_days,
    }


REPORT_COLUMNS = (
    "rank",
    "label",
    "category",
    "attributes",
    "score",
    "asks",
    "effective_asks",
    "quantity",
    "stores",
    "days",
    "weeks",
    "customers",
    "signal",
    "this_week",
    "last_week",
    "trend",
    "offered",
    "accepted",
    "acceptance",
    "lost_value",
    "won_after_restock",
    "why",
    "examples",
    "key",
)


def demand_json(groups: list[dict], quality: dict, period: Window, *, sort: str = "evidence") -> str:
    rows = [{name: group[name] for name in REPORT_COLUMNS} for group in groups]
    ranked_by = evidence.SCORE_RULE if sort == "evidence" else "unmet asks"
    return (
        json_text(
            json.dumps(
                {
                    "since": format_utc(period.since),
                    "until": format_utc(period.until),
                    "ranked_by": ranked_by,
                    "demand": rows,
                    "data_quality": quality,
                },
                ensure_ascii=False,
                indent=2,
            )
        )
        + "\n"
    )


def demand_csv(groups: list[dict], columns: tuple[str, ...] = REPORT_COLUMNS) -> str:
    """One row per group, `columns` in order; lists and mappings flattened, never a formula."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for group in groups:
        writer.writerow(csv_row(_cell(group[name]) for name in columns))
    return out.getvalue()


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, dict):
        return " ".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, list):
        return " | ".join(map(str, value))
    return value


def demand_tables(
    groups: list[dict], quality: dict, period: Window, *, title: str = "Top unmet demand", sort: str = "evidence"
) -> list[Table]:
    """Rich tables for the terminal: the ranking (the score's rule under it), then data quality."""
    from rich.table import Table

    span = f"{format_utc(period.since)[:10]} to {format_utc(period.until - timedelta(seconds=1))[:10]}"
    ranking = _ranking(groups, f"{title}, {span}, by {'evidence' if sort == 'evidence' else 'unmet asks'}")
    ranking.caption = (
        f"Ranked by unmet asks; {evidence.SCORE_RULE}." if sort == "asks" else f"Ranked by evidence: {evidence.SCORE_RULE}."
    )
    ranking.caption_justify = "left"
    checks = Table(title="Data quality", title_justify="left")
    for name in ("Store", "Asks", "Coded other", "Uncategorised", "Asks per associate-day", "Last ask"):
        checks.add_column(name, justify="left" if name in ("Store", "Last ask") else "right")
    for row in quality["stores"]:
        last = (row["last_ask_at"] or "never")[:16].replace("T", " ")
        checks.add_row(
            literal(row["store_id"]),
            str(row["asks"]),
            _share(row["other"], row["asks"]),
            _share(row["uncategorised"], row["asks"]),
            f"{row['asks_per_associate_day']:.1f}",
            f"{last}  STOPPED LOGGING" if row["stopped"] else last,
        )
    return [ranking, checks]


_ASKED_FOR_WIDTH = 28


def _ranking(groups: list[dict], title: str) -> Table:
    """The groups, one a row; the restock wins only when some group has one (the words asked for keep the width)."""
    from rich.table import Table

    wins = any(group["won_after_restock"] for group in groups)
    ranking = Table(title=title, title_justify="left")
    names = (
        "#",
        "Asked for",
        "Category",
        "Score",
        "Asks",
        "Stores",
        "Week on\nweek",
        "Substitute\ntaken",
        "Lost\nvalue",
    )
    for name in (*names, "Won after\nrestock") if wins else names:
        wide = _ASKED_FOR_WIDTH if name == "Asked for" else None  # the words keep their width; the figures fold
        ranking.add_column(
            name, justify="left" if name in ("Asked for", "Category") else "right", overflow="fold", min_width=wide
        )
    for group in groups:
        taken = (
            f"{group['accepted']}/{group['accepted'] + group['declined']}"
            if group["acceptance"] is not None
            else ("offered, no answer" if group["offered"] else "-")
        )
        ranking.add_row(
            str(group["rank"]),
            _asked_for(group),
            literal(group["category"] or "-"),
            str(group["score"]),
            _asks(group),
            str(group["stores"]),
            f"{group['trend']} ({group['this_week']} vs {group['last_week']})",
            taken,
            f"{group['lost_value']:,.2f}" if group["lost_value"] is not None else "-",
            *([str(group["won_after_restock"])] if wins else []),
        )
    return ranking


def _asked_for(group: dict) -> Text:
    """The group's words, and under them the rest of the evidence behind its rank: days, weeks, customers named."""
    figures = [evidence.counted(group["days"], "day"), evidence.counted(group["weeks"], "week")]
    if group["customers"]:
        figures.append(evidence.counted(group["customers"], "customer"))
    shown = literal(group["label"])
    shown.append("\n" + ", ".join(figures), style="dim")
    return shown


def _asks(group: dict) -> str:
    """A group's unmet asks, and what they count as when one terminal's repeats within an hour count less."""
    counted = group["effective_asks"]
    return f"{group['asks']} (as {counted})" if counted < group["asks"] else str(group["asks"])


def literal(value: object) -> Text:
    """A cell shown exactly as stored: never Rich markup, never a control character."""
    from rich.text import Text

    return Text(clean(str(value)))


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "-"
