"""HQ adds up unmet demand across stores: the report, the weekly digest and /dashboard, on a generated chain
whose true demand groups are known (tests/demand_data.py), sent over real HTTP to a real HQ."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from demand_data import EXPECTED_ORDER, GROUPS, UNTIL, ask_record, generate
from hq_server import HQThread

from schemas.times import format_utc

pytestmark = pytest.mark.slow  # end to end: real HQ processes, faults, generated calls (the slow tier)

ROOT = Path(__file__).resolve().parents[1]
UNTIL_DAY = (UNTIL - timedelta(days=1)).date().isoformat()  # --until names the last day included


def send(hq: HQThread, records: list[dict]) -> None:
    by_store: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        by_store[record["store_id"]].append(record)
    for n, (store, items) in enumerate(sorted(by_store.items())):
        token = hq.storage.add_terminal(store, "T1")
        for start in range(0, len(items), 500):
            body = {
                "schema_version": 1,
                "batch_id": f"0193a205-becf-7048-a499-{n:06x}{start:06x}",
                "store_id": store,
                "terminal_id": "T1",
                "sent_at": format_utc(UNTIL),
                "records": items[start : start + 500],
            }
            answer = httpx.post(f"{hq.url}/v1/batches", json=body, headers={"Authorization": f"Bearer {token}"})
            assert answer.status_code == 200 and {r["status"] for r in answer.json()["results"]} == {"accepted"}


@pytest.fixture(scope="module")
def chain(module_hq_db):
    import random

    with HQThread(module_hq_db) as hq:
        rng = random.Random(3)
        quiet = [ask_record("wool scarf", "out_of_stock", "S07", UNTIL - timedelta(days=12), rng)]
        send(hq, generate() + quiet)  # S07 logged the week before, then stopped
        yield hq


def run(hq: HQThread, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sync.hq.cli", *args, "--db", hq.db.url], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def group_name(row: dict) -> str:
    """Which true group a report row is: every example must be one of that group's wordings."""
    names = {name for name, spec in GROUPS.items() for example in row["examples"] if example in spec[0]}
    assert len(names) == 1, f"row mixes groups {names}: {row['examples']}"
    return names.pop()


def report(hq: HQThread, *args: str) -> dict:
    done = run(hq, "report", "--until", UNTIL_DAY, "--format", "json", *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_report_ranks_the_true_groups_and_never_merges_colours_or_sizes(chain) -> None:
    rows = report(chain)["demand"]
    assert [group_name(row) for row in rows] == EXPECTED_ORDER
    by_name = {group_name(row): row for row in rows}
    for name in EXPECTED_ORDER:
        _, _, this_week, last_week, spread, _, _ = GROUPS[name]
        assert (by_name[name]["asks"], by_name[name]["stores"]) == (this_week, spread), name
        assert (by_name[name]["this_week"], by_name[name]["last_week"]) == (this_week, last_week), name
    assert by_name["navy rain jacket M"]["attributes"] == {"colour": "navy", "size": "M"}
    assert len(by_name["navy rain jacket M"]["examples"]) == 3  # three wordings, one group
    assert [by_name[n]["trend"] for n in ("navy rain jacket M", "brown boots UK 9", "black rain jacket M", "red dress S")] == [
        "+100%",
        "+200%",
        "flat",
        "new",
    ]
    assert by_name["navy rain jacket M"]["lost_value"] == round(40 * 89.99, 2)
    assert by_name["brown boots UK 9"]["lost_value"] is None  # no price given: no guess
    scarf = by_name["grey wool scarf"]
    assert scarf["offered"] == 10 and scarf["accepted"] + (10 - scarf["accepted"]) == 10 and scarf["acceptance"] > 0.5


def test_filters_by_store_category_and_period(chain) -> None:
    s06 = report(chain, "--store", "S06")["demand"]
    assert [group_name(row) for row in s06] == ["grey wool scarf"]
    footwear = report(chain, "--category", "footwear")["demand"]
    assert [group_name(row) for row in footwear] == ["brown boots UK 9"]
    two_weeks = report(chain, "--since", "14d")["demand"]
    assert {group_name(r): r["asks"] for r in two_weeks if r["examples"] != ["wool scarf"]}["black rain jacket M"] == 50
    assert ["wool scarf"] in [r["examples"] for r in two_weeks]  # S07's ask of the week before, its own group


def test_data_quality_names_the_store_that_stopped_logging(chain) -> None:
    quality = report(chain)["data_quality"]
    assert quality["stopped"] == ["S07"]
    assert quality["other_share"] == 0.0
    s01 = next(s for s in quality["stores"] if s["store_id"] == "S01")
    assert s01["asks_per_associate_day"] > 0


def test_table_and_csv_formats_and_bad_options(chain) -> None:
    table = run(chain, "report", "--until", UNTIL_DAY)
    assert table.returncode == 0, table.stderr
    assert "navy rain jacket" in table.stdout and "STOPPED LOGGING" in table.stdout and "+100%" in table.stdout
    csv_out = run(chain, "report", "--until", UNTIL_DAY, "--format", "csv").stdout.splitlines()
    assert csv_out[0].startswith("rank,label,category") and len(csv_out) == 1 + len(EXPECTED_ORDER)
    bad = run(chain, "report", "--since", "last week")
    assert bad.returncode == 2 and "--since 'last week'" in bad.stderr and "--since 7d" in bad.stderr


def test_the_weekly_digest_has_verbatims_rising_asks_substitutes_and_no_personal_data(chain, tmp_path) -> None:
    done = run(chain, "digest", "--week", "--until", UNTIL_DAY, "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    md = (tmp_path / "digest-2026-W47.md").read_text()
    page = (tmp_path / "digest-2026-W47.html").read_text()
    top = md.split("## Rising asks")[0]
    assert top.index("navy rain jacket") < top.index("brown leather boot") < top.index("black rain jacket")
    assert "“Rain jackets in navy, M”" in md and "about 3,599.60 lost" in md
    rising = md.split("## Rising asks")[1].split("##")[0]
    assert "red dress size S" in rising and "boot" in rising and "black rain jacket" not in rising
    assert "grey cashmere scarf: accepted" in md.split("turned down")[0]
    assert "grey parka: declined" in md.split("turned down")[1]
    assert "S07: no asks in the last 3 days" in md
    for associate in ("AB", "CD", "EF"):
        assert not re.search(rf"\b{associate}\b", md)
    assert "<h1>Unmet demand, week 47 of 2026</h1>" in page and "<script" not in page


def test_verbatims_lose_emails_and_phone_numbers() -> None:
    from sync.hq.digest import scrub

    assert scrub("call 07700 900123 or jo@example.com re navy jacket") == "call [number] or [e-mail] re navy jacket"
    assert scrub("iphone 15 case, 2 pack") == "iphone 15 case, 2 pack"


def test_the_dashboard_needs_a_viewer_token(chain) -> None:
    assert httpx.get(f"{chain.url}/dashboard").status_code == 401
    token = chain.storage.add_viewer("merch")
    wrong = base64.b64encode(b"merch:atv1_nope_nope").decode()
    assert httpx.get(f"{chain.url}/dashboard", headers={"Authorization": f"Basic {wrong}"}).status_code == 401
    good = base64.b64encode(f"merch:{token}".encode()).decode()
    page = httpx.get(f"{chain.url}/dashboard", params={"since": "60d"}, headers={"Authorization": f"Basic {good}"})
    assert page.status_code == 200 and "navy rain jacket" in page.text
    assert "script-src" not in page.headers["content-security-policy"] and page.headers["x-frame-options"] == "DENY"
    bad = httpx.get(f"{chain.url}/dashboard", params={"since": "soon"}, headers={"Authorization": f"Basic {good}"})
    assert bad.status_code == 400 and "--since" in bad.text
    chain.storage.revoke_viewer("merch")
    assert httpx.get(f"{chain.url}/dashboard", headers={"Authorization": f"Basic {good}"}).status_code == 401


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (.ci/run installs it)")
def test_the_dashboard_in_headless_chromium(chain, tmp_path) -> None:
    from playwright.sync_api import sync_playwright

    token = chain.storage.add_viewer("designers")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            context = browser.new_context(http_credentials={"username": "designers", "password": token})
            page = context.new_page()
            errors: list[str] = []
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.goto(f"{chain.url}/dashboard?since=14d&until={UNTIL_DAY}")
            rows = page.locator("#top-demand tbody tr")
            assert rows.count() == len(EXPECTED_ORDER) + 1  # and S07's scarf of the week before
            assert "navy rain jacket" in rows.nth(0).inner_text()
            bars = page.locator("#weekly-chart rect.bar")
            assert bars.count() == 8
            counts = [int(bars.nth(i).get_attribute("data-count")) for i in range(8)]
            unmet = {name: spec[2:4] for name, spec in GROUPS.items() if spec[1] != "found"}
            assert counts[-1] == sum(week for week, _ in unmet.values())
            assert counts[-2] == sum(before for _, before in unmet.values()) + 1  # + S07's scarf
            assert page.locator("#weekly-chart rect.bar").nth(7).bounding_box()["height"] > 0
            page.fill("input[name=store]", "S06")
            page.click("button[type=submit]")
            assert page.locator("#top-demand tbody tr").count() == 1
            page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
            assert errors == []
        finally:
            browser.close()
