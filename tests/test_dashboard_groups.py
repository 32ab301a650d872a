"""A demand group's page on /dashboard, and the form with which an editor sets its status: over real HTTP to a
real HQ, on SQLite and PostgreSQL; one test drives it in headless Chromium, a forged post from another site included."""

from __future__ import annotations

import base64
import html
import re
import shutil
import threading
import uuid
from datetime import date, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import msgspec
import pytest
from hq_server import HQDatabase, HQThread

from schemas.records import AskRecord
from schemas.times import format_utc
from sync.hq.cli import main as associate_hq

NOW = datetime.now(timezone.utc).replace(microsecond=0)
JACKET = ("navy rain jacket", "Navy rain jacket", "rain jacket navy")
HOSTILE = "<script>alert(1)</script> umbrella"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def ask(store: str, text: str, *, category: str, days_ago: int = 0, substitute: tuple[str, bool] | None = None) -> dict:
    when = format_utc(NOW - timedelta(days=days_ago, minutes=5))
    return msgspec.to_builtins(
        AskRecord(
            id=str(uuid.uuid4()),
            version=1,
            created_at=when,
            updated_at=when,
            store_id=store,
            terminal_id="T1",
            associate="AB",
            channel="walk-in",
            text=text,
            category=category,
            attributes={"colour": "navy"} if "navy" in text.lower() else {},
            outcome="substituted" if substitute else "out_of_stock",
            substitute=substitute[0] if substitute else None,
            substitute_accepted=substitute[1] if substitute else None,
        )
    )


ASKS = {
    "S1": [
        ask("S1", JACKET[0], category="clothing.outerwear", substitute=("grey parka", True)),
        ask("S1", JACKET[1], category="clothing.outerwear"),
        ask("S1", JACKET[0], category="clothing.outerwear", days_ago=8),  # the week before
    ],
    "S2": [ask("S2", JACKET[2], category="clothing.outerwear", substitute=("Grey parka", False))],
    "S3": [ask("S3", "red scarf", category="accessories.scarves"), ask("S3", HOSTILE, category="accessories.other")],
}


def send(hq: HQThread) -> None:
    """Each store's asks, as its terminal sends them."""
    for store, records in ASKS.items():
        token = hq.storage.add_terminal(store, "T1")
        body = {
            "schema_version": 1,
            "batch_id": str(uuid.uuid4()),
            "store_id": store,
            "terminal_id": "T1",
            "sent_at": format_utc(NOW),
            "records": records,
        }
        answer = httpx.post(f"{hq.url}/v1/batches", json=body, headers={"Authorization": f"Bearer {token}"})
        assert {r["status"] for r in answer.json()["results"]} == {"accepted"}, answer.text


@pytest.fixture
def hq(hq_db):
    with HQThread(hq_db) as hq:
        send(hq)
        yield hq


def basic(hq: HQThread, name: str, *, editor: bool = False) -> dict[str, str]:
    token = hq.storage.add_viewer(name, editor=editor)
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{token}".encode()).decode()}


def keys(hq: HQThread, auth: dict[str, str]) -> dict[str, str]:
    """Each group's first wording on /dashboard (in lower case) and the key its link names."""
    page = httpx.get(f"{hq.url}/dashboard", headers=auth)
    assert page.status_code == 200
    links = re.findall(r"<a href='/dashboard/groups/([0-9a-f]{16})\?since=7d'>([^<]*)</a>", page.text)
    return {html.unescape(label).lower(): key for key, label in links}


def form_key(page: str) -> str:
    found = re.search(r"name='form_key' value='([0-9a-f]+)'", page)
    assert found, "no form on the page"
    return found.group(1)


def post(hq: HQThread, key: str, auth: dict[str, str], fields: dict[str, str], **headers: str) -> httpx.Response:
    """The form as a browser on HQ's own page sends it, unless `headers` say otherwise."""
    sent = {"Origin": hq.url, "Sec-Fetch-Site": "same-origin", **auth}
    sent.update({name.replace("_", "-"): value for name, value in headers.items()})
    return httpx.post(f"{hq.url}/dashboard/groups/{key}?since=7d", data=fields, headers=sent)


def said(answer: httpx.Response) -> str:
    """The words of a refusal page."""
    found = re.search(r"<p id='refusal' role='alert'>([^<]*)</p>", answer.text)
    assert found, answer.text[:2000]
    return html.unescape(found.group(1))


def history(hq: HQThread, key: str) -> list[tuple]:
    return [(c.status, c.expected_on, c.note, c.stores, c.changed_by) for c in hq.storage.responses.history(key)]


def test_viewer_add_editor_makes_an_editor_token_and_list_says_who_is_one(hq_db, capsys) -> None:
    assert associate_hq(["viewer", "add", "ann", "--editor", "--db", hq_db.url]) == 0
    editor = capsys.readouterr().out.strip()
    assert associate_hq(["viewer", "add", "bob", "--db", hq_db.url]) == 0
    viewer = capsys.readouterr().out.strip()
    assert associate_hq(["viewer", "list", "--db", hq_db.url]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listed] == ["ann", "bob"]
    assert "editor" in listed[0] and "viewer" in listed[1] and "editor" not in listed[1]
    from sync.hq.storage import HQStorage

    with HQStorage.open(hq_db.url) as storage:
        ann, bob = storage.authenticate_viewer(editor), storage.authenticate_viewer(viewer)
        assert (ann.name, ann.editor, bob.name, bob.editor) == ("ann", True, "bob", False)
        assert ann.form_key != bob.form_key and len(ann.form_key) == 64
        assert storage.authenticate_viewer(editor).form_key == ann.form_key  # the same for the token's life


def test_each_group_on_the_dashboard_links_to_its_page_and_categories_read_as_labels(hq) -> None:
    auth = basic(hq, "merch")
    page = httpx.get(f"{hq.url}/dashboard", headers=auth).text
    table = page.split("<table id='top-demand'>")[1].split("</table>")[0]
    assert "Clothing › Outerwear" in table and "Accessories › Scarves" in table
    assert "clothing.outerwear" not in table and "accessories.scarves" not in table
    assert "<option value='clothing'>Clothing (all)</option>" in page  # the filter offers labels too
    found = keys(hq, auth)
    assert set(found) >= {JACKET[0], "red scarf"} and len(set(found.values())) == len(found)
    filtered = httpx.get(f"{hq.url}/dashboard", params={"category": "clothing"}, headers=auth).text
    assert "all stores · Clothing ·" in filtered and "red scarf" not in filtered


def test_the_group_page_shows_wordings_stores_weeks_substitutes_and_no_form_to_a_viewer(hq) -> None:
    auth = basic(hq, "merch")
    key = keys(hq, auth)[JACKET[0]]
    answer = httpx.get(f"{hq.url}/dashboard/groups/{key}", params={"since": "7d"}, headers=auth)
    assert answer.status_code == 200 and answer.headers["x-frame-options"] == "DENY"
    assert "form-action 'self'" in answer.headers["content-security-policy"]
    page = answer.text
    assert "<h1 id='group-title'>Navy rain jacket</h1>" in page  # the commonest wording (2 of 3, either case)
    assert "Clothing › Outerwear · Colour navy · 3 unmet asks at 2 stores" in page and "clothing.outerwear" not in page
    wordings = page.split("<table id='wordings'>")[1].split("</table>")[0]
    assert re.findall(r"<td>([^<]+)</td><td class='n'>(\d+)</td>", wordings) == [
        ("Navy rain jacket", "2"),
        ("rain jacket navy", "1"),
    ]
    stores = page.split("<table id='stores'>")[1].split("</table>")[0]
    assert re.findall(r"<td>(S\d)</td><td class='n'>(\d+)</td>", stores) == [("S1", "2"), ("S2", "1")]
    bars = [int(n) for n in re.findall(r"class='bar' data-week='[\d-]+' data-count='(\d+)'", page)]
    assert len(bars) == 8 and bars[-1] == 3 and sum(bars) == 4  # and S1's ask of the week before
    assert "Offered 2 times, taken 1, turned down 1." in page
    assert re.search(r"<td>grey parka</td><td class='n'>2</td><td class='n'>1</td><td class='n'>1</td>", page, re.I)
    assert "<strong>new</strong>" in page and "No change yet" in page
    assert "id='read-only'" in page and "<form id='respond'" not in page and "form_key" not in page
    assert "<script" not in page


def test_a_hostile_wording_is_shown_as_text(hq) -> None:
    auth = basic(hq, "merch")
    key = keys(hq, auth)[HOSTILE]
    page = httpx.get(f"{hq.url}/dashboard/groups/{key}", headers=auth).text
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; umbrella" in page
    assert "Accessories › Other" in page


def test_an_editor_sets_the_status_and_the_history_and_responses_show_it(hq) -> None:
    auth = basic(hq, "ann", editor=True)
    key = keys(hq, auth)[JACKET[0]]
    page = httpx.get(f"{hq.url}/dashboard/groups/{key}?since=7d", headers=auth).text
    assert "<form id='respond' method='post' action='/dashboard/groups/" in page
    fields = {"form_key": form_key(page), "status": "planned", "expected": "2099-03-01", "note": "Coming in navy in March"}
    done = post(hq, key, auth, fields)
    assert done.status_code == 303 and done.headers["location"] == f"/dashboard/groups/{key}?since=7d"
    assert history(hq, key) == [("planned", "2099-03-01", "Coming in navy in March", (), "ann")]
    current = hq.storage.responses.current([key])[key]
    assert (current.status, current.expected_on, current.changed_by) == ("planned", "2099-03-01", "ann")
    page = httpx.get(f"{hq.url}/dashboard/groups/{key}?since=7d", headers=auth).text
    assert "<strong>planned</strong>, expected 2099-03-01" in page and "Response: “Coming in navy in March”" in page
    assert re.search(r"<td>ann</td><td>planned</td><td>2099-03-01</td>", page)
    # The form comes filled in with the answer; moving on to available reads only its stores.
    assert "value='2099-03-01'" in page and "<option value='planned' selected>" in page
    fields.update(status="available", stores="S1, S2", note="")
    assert post(hq, key, auth, fields).status_code == 303
    assert history(hq, key)[-1] == ("available", None, None, ("S1", "S2"), "ann")
    fields.update(stores="")
    assert post(hq, key, auth, fields).status_code == 303
    assert hq.storage.responses.current([key])[key].stores == ()  # chain-wide
    assert post(hq, key, auth, fields).status_code == 303 and len(history(hq, key)) == 3  # the same again: no change


def test_a_viewer_sees_no_form_and_cannot_post(hq) -> None:
    editor, viewer = basic(hq, "ann", editor=True), basic(hq, "bob")
    key = keys(hq, viewer)[JACKET[0]]
    key_of_ann = form_key(httpx.get(f"{hq.url}/dashboard/groups/{key}", headers=editor).text)
    refused = post(hq, key, viewer, {"form_key": key_of_ann, "status": "declined", "note": "No"})
    assert refused.status_code == 403
    assert "bob's dashboard token may read this page but not change a group's status" in said(refused)
    assert "viewer add NAME --editor" in said(refused)
    assert history(hq, key) == []


def test_a_post_without_the_form_key_or_with_another_ones_is_refused(hq) -> None:
    ann, cy = basic(hq, "ann", editor=True), basic(hq, "cy", editor=True)
    key = keys(hq, ann)[JACKET[0]]
    key_of_cy = form_key(httpx.get(f"{hq.url}/dashboard/groups/{key}", headers=cy).text)
    for fields in ({}, {"form_key": ""}, {"form_key": "0" * 64}, {"form_key": key_of_cy}):
        refused = post(hq, key, ann, {**fields, "status": "declined", "note": "Not for us"})
        assert refused.status_code == 403 and "the form's key is missing or is not this sign-in's" in said(refused)
    assert history(hq, key) == []


def test_a_post_from_another_site_is_refused(hq) -> None:
    auth = basic(hq, "ann", editor=True)
    key = keys(hq, auth)[JACKET[0]]
    fields = {"form_key": form_key(httpx.get(f"{hq.url}/dashboard/groups/{key}", headers=auth).text)}
    fields.update(status="declined", note="Forged")
    for headers in (
        {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
        {"Sec-Fetch-Site": "same-site", "Origin": "http://localhost:1"},
        {"Sec-Fetch-Site": "", "Origin": "https://evil.example"},  # no Sec-Fetch-Site (an older browser): the Origin
        {"Sec-Fetch-Site": "", "Origin": "null"},
    ):
        sent = {"Authorization": auth["Authorization"], **{k: v for k, v in headers.items() if v}}
        refused = httpx.post(f"{hq.url}/dashboard/groups/{key}", data=fields, headers=sent)
        assert refused.status_code == 403 and "this form was sent from another site" in said(refused), headers
        assert "Nothing changed" in said(refused)
    assert history(hq, key) == []
    same = httpx.post(f"{hq.url}/dashboard/groups/{key}", data=fields, headers={**auth, "Origin": hq.url})
    assert same.status_code == 303 and history(hq, key)[-1][0] == "declined"


def test_a_refused_change_says_why_in_the_page_and_keeps_what_was_typed(hq) -> None:
    auth = basic(hq, "ann", editor=True)
    key = keys(hq, auth)[JACKET[0]]
    secret = form_key(httpx.get(f"{hq.url}/dashboard/groups/{key}", headers=auth).text)
    past = (date.today() - timedelta(days=1)).isoformat()
    for fields, words in (
        ({"status": "planned", "expected": "March", "note": "Coming <soon>"}, "The expected date 'March' is not a date"),
        ({"status": "planned", "expected": past, "note": "Coming <soon>"}, f"The expected date {past} is in the past"),
        ({"status": "planned", "expected": "", "note": "Coming <soon>"}, "Status planned needs the expected date"),
        ({"status": "reviewing", "note": "  "}, "The response is empty"),
        ({"status": "reviewing", "note": "Asking\x07 the buyers"}, "The response holds a control character (U+0007)"),
        ({"status": "reviewing", "note": "x" * 201}, "The response is 201 characters; keep it to 200"),
        ({"status": "available", "stores": "S1, S9"}, "HQ knows no store S9"),
        ({"status": "available", "stores": "S1;drop"}, "Store 'S1;drop' must be 1 to 32 letters"),
        ({"status": "new", "note": "Back"}, "Choose a status: reviewing, planned, available, declined"),
    ):
        refused = post(hq, key, auth, {"form_key": secret, **fields})
        assert refused.status_code == 400 and refused.headers["content-type"].startswith("text/html")
        assert "id='form-error' role='alert'>" + html.escape(words) in refused.text, (fields, refused.text[:3000])
        assert f"name='form_key' value='{secret}'" in refused.text
        if fields["status"] != "new":
            assert f"<option value='{fields['status']}' selected>" in refused.text
    shown = post(hq, key, auth, {"form_key": secret, "status": "planned", "expected": "March", "note": "Coming <soon>"}).text
    assert "name='expected' value='March'" in shown and "name='note' value='Coming &lt;soon&gt;'" in shown
    assert "<soon>" not in shown
    assert history(hq, key) == []


def test_the_form_is_small_and_url_encoded_and_the_group_must_exist(hq) -> None:
    auth = basic(hq, "ann", editor=True)
    key = keys(hq, auth)[JACKET[0]]
    secret = form_key(httpx.get(f"{hq.url}/dashboard/groups/{key}", headers=auth).text)
    big = post(hq, key, auth, {"form_key": secret, "status": "reviewing", "note": "x" * 9000})
    assert big.status_code == 413 and "over 8 KiB" in said(big)
    as_json = httpx.post(f"{hq.url}/dashboard/groups/{key}", json={"form_key": secret}, headers=auth)
    assert as_json.status_code == 415
    many = "&".join(f"f{i}=1" for i in range(40))
    crowded = httpx.post(
        f"{hq.url}/dashboard/groups/{key}",
        content=many,
        headers={**auth, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert crowded.status_code == 400 and "could not be read" in said(crowded)
    for missing in ("0123456789abcdef", "not-a-key"):
        assert httpx.get(f"{hq.url}/dashboard/groups/{missing}", headers=auth).status_code == 404
        answer = post(hq, missing, auth, {"form_key": secret, "status": "reviewing", "note": "x"})
        assert answer.status_code == 404 and "HQ has no demand group" in said(answer)
    assert httpx.get(f"{hq.url}/dashboard/groups/{key}").status_code == 401
    assert httpx.get(f"{hq.url}/dashboard/groups/{key}", params={"since": "soon"}, headers=auth).status_code == 400
    assert history(hq, key) == []


# -- in a real browser ------------------------------------------------------------------------------------


class Forger:
    """A page on another origin (http://localhost:PORT, HQ being http://127.0.0.1:PORT) that posts HQ's form
    as soon as it loads, with the editor's real form key even: only the origin check stands in its way."""

    def __init__(self, target: str, fields: dict[str, str]) -> None:
        inputs = "".join(f"<input type='hidden' name='{html.escape(k)}' value='{html.escape(v)}'>" for k, v in fields.items())
        body = (
            f"<!doctype html><html><body><form method='post' action='{html.escape(target)}'>{inputs}</form>"
            "<script>document.forms[0].submit()</script></body></html>"
        ).encode()

        class Page(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
        self.url = f"http://localhost:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Forger:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.slow
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (.ci/run installs it)")
def test_in_headless_chromium_an_editor_changes_the_status_a_viewer_cannot_and_a_forged_post_is_refused(tmp_path) -> None:
    from playwright.sync_api import sync_playwright

    db = HQDatabase("sqlite", tmp_path)
    with HQThread(db) as hq, sync_playwright() as playwright:
        send(hq)
        editor_token, viewer_token = hq.storage.add_viewer("ann", editor=True), hq.storage.add_viewer("bob")
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            ann = browser.new_context(http_credentials={"username": "ann", "password": editor_token})
            page = ann.new_page()
            errors: list[str] = []
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.goto(f"{hq.url}/dashboard")
            assert "Clothing › Outerwear" in page.locator("#top-demand").inner_text()
            page.get_by_role("link", name=JACKET[1], exact=True).click()
            page.wait_for_url(re.compile(r"/dashboard/groups/[0-9a-f]{16}\?since=7d$"))
            group_url = page.url
            key = group_url.split("/groups/")[1].split("?")[0]
            assert page.locator("#current-status").inner_text().startswith("new")
            page.select_option("select[name=status]", "planned")
            page.fill("input[name=expected]", "2001-01-01")  # in the past: refused, the form kept
            page.fill("input[name=note]", "Coming in navy in March")
            page.click("button[type=submit]")
            assert "is in the past" in page.locator("#form-error").inner_text()
            assert page.input_value("input[name=note]") == "Coming in navy in March"
            page.fill("input[name=expected]", "2099-03-01")
            page.click("button[type=submit]")
            page.wait_for_url(group_url)
            assert page.locator("#current-status").inner_text() == "planned, expected 2099-03-01"
            assert "ann" in page.locator("#history tbody tr").first.inner_text()
            assert hq.storage.responses.current([key])[key].changed_by == "ann"
            page.screenshot(path=str(tmp_path / "group.png"), full_page=True)
            secret = page.locator("input[name=form_key]").get_attribute("value")

            bob = browser.new_context(http_credentials={"username": "bob", "password": viewer_token})
            seen = bob.new_page()
            seen.goto(group_url)
            assert seen.locator("#current-status").inner_text() == "planned, expected 2099-03-01"
            assert seen.locator("form#respond").count() == 0 and seen.locator("#read-only").count() == 1
            tried = bob.request.post(group_url, form={"form_key": secret, "status": "declined", "note": "No"})
            assert tried.status == 403 and "may read this page but not change" in html.unescape(tried.text())

            statuses: list[int] = []
            page.on("response", lambda r: statuses.append(r.status) if r.request.method == "POST" else None)
            with Forger(group_url, {"form_key": secret, "status": "declined", "note": "Forged"}) as forger:
                page.goto(forger.url)
                page.wait_for_url(group_url)
                page.wait_for_load_state()
                # Chromium sent ann's credentials with the forged post (else 401): the origin check refused it.
                assert (
                    "this form was sent from another site (Sec-Fetch-Site: cross-site)" in page.locator("#refusal").inner_text()
                )
            assert 403 in statuses and 303 not in statuses
            assert [change.status for change in hq.storage.responses.history(key)] == ["planned"]
            refusals = re.compile(r"Failed to load resource: the server responded with a status of (400|403)")
            assert all(refusals.match(error) for error in errors), errors  # the refused past date and forged post only
        finally:
            browser.close()
