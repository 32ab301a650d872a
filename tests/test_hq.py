"""The HQ service over real loopback HTTP: tokens, store scoping, per-record results, limits, taxonomy, CLI."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from hq_server import HQThread

from schemas.records import MAX_RECORDS_PER_BATCH
from schemas.times import parse_utc

ROOT = Path(__file__).resolve().parents[1]
SENT_AT = "2026-11-25T10:00:00.000Z"


def ask(n: int = 1, **fields) -> dict:
    return {
        "type": "ask",
        "id": f"01a205b6-becf-7048-a499-{n:012x}",
        "version": 1,
        "created_at": "2026-11-25T09:59:00.000Z",
        "updated_at": "2026-11-25T09:59:00.000Z",
        "store_id": "S1",
        "terminal_id": "T1",
        "associate": "AB",
        "channel": "walk-in",
        "text": "navy rain jacket size M",
        "category": "clothing.outerwear",
        "attributes": {"colour": "navy", "size": "M"},
        "outcome": "out_of_stock",
        "substitute": None,
        "substitute_accepted": None,
        "quantity": 1,
        "note": None,
        "voided": False,
        "void_reason": None,
        **fields,
    }


def batch(*records: dict, batch_n: int = 1, **fields) -> dict:
    return {
        "schema_version": 1,
        "batch_id": f"0193a205-becf-7048-a499-{batch_n:012x}",
        "store_id": "S1",
        "terminal_id": "T1",
        "sent_at": SENT_AT,
        "records": list(records),
        **fields,
    }


@pytest.fixture
def hq(hq_db):
    with HQThread(hq_db) as server:
        server.token = server.storage.add_terminal("S1", "T1")
        yield server


@pytest.fixture
def http(hq):
    with httpx.Client(base_url=hq.url, headers={"Authorization": f"Bearer {hq.token}"}, timeout=30) as client:
        yield client


def post(http: httpx.Client, body: dict | bytes, **headers: str) -> httpx.Response:
    content = body if isinstance(body, bytes) else gzip.compress(json.dumps(body).encode())
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/json", **headers}
    return http.post("/v1/batches", content=content, headers=headers)


def statuses(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [r["status"] for r in response.json()["results"]]


def held(hq) -> list[tuple]:
    return hq.db.rows("SELECT id, version, text, received_at, clock_skew_ms FROM asks ORDER BY id")


# -- tokens ----------------------------------------------------------------------------------------


def test_whoami_names_the_store_and_terminal_of_the_token(http) -> None:
    assert http.get("/v1/whoami").json() == {"store_id": "S1", "terminal_id": "T1"}


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer at1_000000000000_wrong", "Basic abc", "Bearer garbage"])
def test_a_missing_or_bad_token_is_401_with_words(hq, header) -> None:
    headers = {"Authorization": header} if header is not None else {}
    for call in (
        lambda: httpx.get(f"{hq.url}/v1/whoami", headers=headers),
        lambda: httpx.post(f"{hq.url}/v1/batches", headers=headers, json=batch(ask())),
    ):
        answer = call()
        assert answer.status_code == 401 and answer.headers["WWW-Authenticate"].startswith("Bearer")
        assert answer.json()["error"] == "unauthorized" and "token" in answer.json()["message"].lower()
    assert held(hq) == []


def test_a_revoked_token_is_refused_at_once(hq, http) -> None:
    assert http.get("/v1/whoami").status_code == 200
    hq.storage.revoke("S1", "T1")
    assert http.get("/v1/whoami").status_code == 401


def test_hq_keeps_only_a_hash_of_each_token(hq) -> None:
    secret = hq.token.split("_", 2)[2]
    assert len(secret) > 30
    [(stored,)] = hq.db.rows("SELECT token_hash FROM terminals")
    assert secret not in stored and len(stored) == 64
    if hq.db.path:  # SQLite: not in the file's bytes either, and the file is the owner's alone
        for suffix in ("", "-wal"):
            path = Path(f"{hq.db.path}{suffix}")
            if path.exists():
                assert secret.encode() not in path.read_bytes()
        assert (hq.db.path.stat().st_mode & 0o777) == 0o600


# -- store scoping --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("field", "value", "code"), [("store_id", "S2", "wrong_store"), ("terminal_id", "T9", "wrong_terminal")])
def test_a_batch_naming_another_store_or_terminal_is_403_and_nothing_is_stored(hq, http, field, value, code) -> None:
    answer = post(http, batch(ask(**{field: value}), **{field: value}))
    assert answer.status_code == 403 and answer.json()["error"] == code and value in answer.json()["message"]
    assert held(hq) == []


def test_a_terminal_cannot_overwrite_another_terminals_ask(hq, http) -> None:
    assert statuses(post(http, batch(ask(1)))) == ["accepted"]
    other = hq.storage.add_terminal("S1", "T2")
    hijack = batch(ask(1, version=9, terminal_id="T2", text="overwritten"), terminal_id="T2", batch_n=2)
    answer = post(http, hijack, Authorization=f"Bearer {other}")
    assert answer.json()["results"][0]["code"] == "wrong_owner"
    assert held(hq)[0][1:3] == (1, "navy rain jacket size M")


# -- per-record results ------------------------------------------------------------------------------------


def test_each_record_gets_its_own_result_and_a_resent_batch_changes_nothing(hq, http) -> None:
    first = batch(ask(1), ask(2), ask(3))
    assert statuses(post(http, first)) == ["accepted"] * 3
    before = held(hq)
    assert statuses(post(http, first)) == ["duplicate"] * 3
    assert held(hq) == before
    newer = batch(ask(1, version=3, text="navy rain jacket size L"), ask(2, version=1), batch_n=2)
    assert statuses(post(http, newer)) == ["accepted", "duplicate"]
    older = batch(ask(1, version=2, text="something else"), batch_n=3)
    assert statuses(post(http, older)) == ["stale"]
    assert held(hq)[0][1:3] == (3, "navy rain jacket size L")  # the highest version wins


def test_the_same_id_and_version_with_other_content_is_rejected_not_overwritten(hq, http) -> None:
    post(http, batch(ask(1)))
    answer = post(http, batch(ask(1, text="a different ask"), batch_n=2))
    [result] = answer.json()["results"]
    assert result["status"] == "rejected" and result["code"] == "conflict" and "edit the ask" in result["message"]
    assert held(hq)[0][2] == "navy rain jacket size M"


def test_one_bad_record_is_rejected_alone_naming_the_field(hq, http) -> None:
    records = [ask(1), ask(2, quantity="two"), ask(3, colour_of_bag="x"), ask(4, text="x" * 301), ask(5)]
    results = post(http, batch(*records)).json()["results"]
    assert [r["status"] for r in results] == ["accepted", "rejected", "rejected", "rejected", "accepted"]
    assert "quantity" in results[1]["message"] and "colour_of_bag" in results[2]["message"]
    assert "text" in results[3]["message"] and results[1]["id"] == ask(2)["id"]
    assert len(held(hq)) == 2


def test_control_characters_are_refused_in_words_the_rest_of_the_batch_accepted(hq, http) -> None:
    records = [
        ask(1, text="navy\x00jacket"),
        ask(2, note="a\x1b[2Jb"),
        ask(3, text="coat \u202egnp.exe"),
        ask(4, substitute="belt \x9b31m"),
        ask(5, text="two\nlines"),
        ask(6, note="a note\n\tin lines"),
        ask(7),
    ]
    results = post(http, batch(*records)).json()["results"]
    assert [r["status"] for r in results] == ["rejected"] * 5 + ["accepted"] * 2
    assert {r["code"] for r in results[:5]} == {"control_character"}
    assert "$.text" in results[0]["message"] and "U+0000" in results[0]["message"]
    assert "$.note" in results[1]["message"] and "U+001B" in results[1]["message"]
    assert "U+202E" in results[2]["message"] and "$.substitute" in results[3]["message"]
    assert sorted(row[0] for row in held(hq)) == sorted([ask(6)["id"], ask(7)["id"]])


def test_times_that_match_the_pattern_but_not_the_calendar_are_refused_not_a_500(hq, http) -> None:
    answer = post(http, batch(ask(1), sent_at="2026-13-45T99:99:99.000Z"))
    assert answer.status_code == 422 and "sent_at" in answer.json()["message"]
    [result] = post(http, batch(ask(2, created_at="2026-02-30T10:00:00.000Z"))).json()["results"]
    assert result["status"] == "rejected" and result["code"] == "invalid" and "created_at" in result["message"]
    # The pattern's \d also takes other scripts' digits (an Arabic-Indic 5 for a day): not a time HQ can keep.
    for created_at in ("2026-01-0\u0665T10:00:00.000Z", "2026-01-05T1\u0660:00:00.000Z"):
        [result] = post(http, batch(ask(3, created_at=created_at, updated_at=created_at))).json()["results"]
        assert result["status"] == "rejected" and "created_at" in result["message"], result
    assert held(hq) == []


def test_counts_beyond_what_a_database_holds_are_rejected_not_a_500(hq, http) -> None:
    records = [
        ask(1, version=2**63),
        ask(2, version=2**64 + 1),
        ask(3, quantity=-(2**70)),
        ask(4, attributes={f"k{i}": "v" for i in range(31)}),
    ]
    results = post(http, batch(*records)).json()["results"]
    assert [r["status"] for r in results] == ["rejected"] * 4
    assert "version" in results[0]["message"] and "attributes" in results[3]["message"]
    assert held(hq) == []


def test_hq_records_its_receive_time_and_the_terminals_clock_skew(hq, http) -> None:
    answer = post(http, batch(ask(1))).json()
    [(_, _, _, received_at, skew)] = held(hq)
    assert received_at == answer["received_at"] and skew == answer["clock_skew_ms"]
    # received minus sent: how far behind HQ's clock the terminal's is (plus the time in flight)
    assert skew == int((parse_utc(received_at) - parse_utc(SENT_AT)).total_seconds() * 1000)


# -- what HQ refuses before it looks at the records ---------------------------------------------------------------


def test_malformed_bodies_get_a_4xx_naming_the_problem(hq, http) -> None:
    cases = [
        (post(http, b"not gzip at all"), 400, "bad_gzip"),
        (post(http, gzip.compress(b"{not json")), 400, "bad_json"),
        (post(http, batch(ask(), batch_id="nope")), 422, "batch_id"),
        (post(http, {k: v for k, v in batch(ask()).items() if k != "sent_at"}), 422, "sent_at"),
        (post(http, batch(ask(), extra=1)), 422, "extra"),
        (post(http, batch(*[ask(i) for i in range(MAX_RECORDS_PER_BATCH + 1)])), 422, "records"),
        (post(http, gzip.compress(b"{}")[:-6]), 400, "cut short"),
        (post(http, b"{}", **{"Content-Encoding": "br"}), 415, "gzip"),
    ]
    for answer, status, says in cases:
        assert answer.status_code == status, answer.text
        assert says in answer.json()["message"] or says == answer.json()["error"], answer.json()
    assert held(hq) == []


def test_bodies_over_the_limits_and_gzip_bombs_are_413_and_hq_stays_up(hq, http) -> None:
    big = post(http, b"x" * (3 * 1024 * 1024), **{"Content-Encoding": "identity"})
    assert big.status_code == 413 and "fewer records" in big.json()["message"]
    bomb = gzip.compress(b"0" * (200 * 1024 * 1024), compresslevel=9)  # 200 MB of zeros in ~200 KB
    assert len(bomb) < 1024 * 1024
    answer = post(http, bomb)
    assert answer.status_code == 413
    assert http.get("/v1/health").json() == {"status": "ok"}
    assert statuses(post(http, batch(ask()))) == ["accepted"]


# -- taxonomy, health, description ------------------------------------------------------------------------------


def test_the_taxonomy_comes_with_an_etag_and_304_when_unchanged(hq, http) -> None:
    first = http.get("/v1/taxonomy")
    assert first.status_code == 200 and first.json()["name"] == "retail"
    etag = first.headers["ETag"]
    assert http.get("/v1/taxonomy", headers={"If-None-Match": etag}).status_code == 304
    bank = ROOT / "schemas" / "packs" / "bank.json"
    done = run_cli(hq, "taxonomy", "set", str(bank))
    assert done.returncode == 0 and "Published bank" in done.stdout
    changed = http.get("/v1/taxonomy", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.json()["name"] == "bank" and changed.headers["ETag"] != etag


def test_openapi_describes_every_route(http) -> None:
    paths = http.get("/openapi.json").json()["paths"]
    assert set(paths) == {"/v1/health", "/v1/whoami", "/v1/taxonomy", "/v1/batches", "/v1/responses", "/v1/store-demand"}
    assert http.get("/nowhere").json()["error"] == "http_404"


# -- the command line --------------------------------------------------------------------------------------------


def run_cli(hq, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sync.hq.cli", *args, "--db", hq.db.url], capture_output=True, text=True, cwd=ROOT
    )


def test_terminal_tokens_are_printed_once_listed_and_revoked(hq) -> None:
    added = run_cli(hq, "terminal", "add", "--store", "S2", "--terminal", "T1")
    assert added.returncode == 0 and added.stdout.startswith("at1_") and "associate enroll" in added.stderr
    again = run_cli(hq, "terminal", "add", "--store", "S2", "--terminal", "T1")
    assert again.returncode == 2 and "--rotate" in again.stderr
    listing = run_cli(hq, "terminal", "list").stdout
    assert "S2" in listing and "active" in listing and added.stdout.strip() not in listing
    assert run_cli(hq, "terminal", "revoke", "--store", "S2", "--terminal", "T1").returncode == 0
    assert "revoked" in run_cli(hq, "terminal", "list").stdout
    bad = run_cli(hq, "terminal", "add", "--store", "no spaces", "--terminal", "T1")
    assert bad.returncode == 2 and "--store" in bad.stderr


def test_a_broken_pack_is_not_published(hq, tmp_path) -> None:
    broken = tmp_path / "pack.json"
    broken.write_text('{"name": "x"}')
    done = run_cli(hq, "taxonomy", "set", str(broken))
    assert done.returncode == 2 and "not published" in done.stderr
    assert "retail" in run_cli(hq, "taxonomy", "show").stdout


def test_export_writes_every_ask_held_as_jsonl_or_csv(hq, http) -> None:
    post(http, batch(ask(1), ask(2, version=2, voided=True, void_reason="logged twice")))
    lines = [json.loads(line) for line in run_cli(hq, "export").stdout.splitlines()]
    assert [(a["id"], a["version"], a["voided"]) for a in lines] == [(ask(1)["id"], 1, False), (ask(2)["id"], 2, True)]
    assert lines[0]["attributes"] == {"colour": "navy", "size": "M"} and "clock_skew_ms" in lines[0]
    csv_text = run_cli(hq, "export", "--format", "csv").stdout.splitlines()
    assert csv_text[0].startswith("id,version") and len(csv_text) == 3
    assert csv_text[2].split(",")[:2] == [ask(2)["id"], "2"] and ",true," in csv_text[2]


def test_running_out_of_file_descriptors_is_busy_not_a_failure(hq, http, monkeypatch) -> None:
    import errno

    def no_descriptors():
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(hq.storage, "taxonomy", no_descriptors)
    answer = http.get("/v1/taxonomy")
    assert answer.status_code == 503 and answer.headers["retry-after"] == "2" and answer.json()["error"] == "busy"


def test_each_record_table_has_its_record_types_fields_and_what_hq_adds(hq_db) -> None:
    """HQ writes the columns it derives from schemas/records.py: a field added there needs its migration here."""
    from sync.hq import rows
    from sync.hq.storage import HQStorage

    with HQStorage.open(hq_db.url, upgrade=True) as storage, storage.db.read() as conn:
        for kind, table in rows.TABLES.items():
            held = {column[0] for column in conn.execute(f"SELECT * FROM {table} LIMIT 0", ()).description}
            assert held == set(rows.columns_of(kind)), table
