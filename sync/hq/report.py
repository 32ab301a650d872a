"""Reports over what HQ holds: numbers a merchandiser or a branch manager reads.

Plain functions from HQStorage rows to printable tables; the CLI prints them.
"""

from __future__ import annotations

from datetime import date

from sync.hq.storage import HQStorage

WON_BACK = ("reached_bought", "reached_reserved")


def follow_up_table(storage: HQStorage, today: date | None = None) -> list[tuple[str, ...]]:
    """One row per store: promised, done, won back (bought or reserved), the other results, open and overdue.

    Won back is the unmet demand a follow-up turned into a sale or a reservation;
    the rate is over the follow-ups that were done.
    """
    header = ("store", "follow-ups", "done", "won back", "won %", "not interested", "not reached",
              "still unavailable", "open", "overdue", "cancelled")
    rows: list[tuple[str, ...]] = [header]
    totals = dict.fromkeys(header[1:], 0)
    for row in storage.follow_up_outcomes(today=(today or date.today()).isoformat()):
        won = sum(row[key] or 0 for key in WON_BACK)
        values = {
            "follow-ups": row["follow_ups"], "done": row["done"] or 0, "won back": won,
            "not interested": row["reached_not_interested"] or 0, "not reached": row["not_reached"] or 0,
            "still unavailable": row["still_unavailable"] or 0, "open": row["open"] or 0,
            "overdue": row["overdue"] or 0, "cancelled": row["cancelled"] or 0,
        }
        for key, value in values.items():
            totals[key] += value
        rows.append(_line(row["store_id"], values))
    if len(rows) > 2:
        rows.append(_line("all stores", totals))
    return rows


def _line(store: str, values: dict) -> tuple[str, ...]:
    rate = f"{100 * values['won back'] / values['done']:.0f}%" if values["done"] else "-"
    return (store, *(str(values[key]) for key in ("follow-ups", "done", "won back")), rate,
            *(str(values[key]) for key in ("not interested", "not reached", "still unavailable", "open", "overdue", "cancelled")))


def render(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) if i == 0 else cell.rjust(width) for i, (cell, width) in enumerate(zip(row, widths)))
             for row in rows]
    return "\n".join(lines) + "\n"
