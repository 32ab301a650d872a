"""The `associate` command line, as scripts and IT use it."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from associate_tui.cli import main
from associate_tui.store import Store

ROOT = Path(__file__).resolve().parents[1]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def all_asks(db_path: Path) -> list:
    with Store(db_path) as store:
        return list(store.iter_asks())


def test_log_saves_one_ask_and_prints_its_id(capsys, db_path) -> None:
    code, out, err = run(capsys, "log", "blue rain jacket size M", "--outcome", "out_of_stock")
    assert code == 0, err
    [ask] = all_asks(db_path)
    assert out.strip() == ask.id
    assert ask.outcome == "out_of_stock" and ask.text == "blue rain jacket size M"
    # Recognised from the words as in the app.
    assert ask.attributes["colour"] == "blue" and ask.attributes["size"] == "M"
    assert ask.category == "clothing.outerwear"
    assert (ask.store_id, ask.terminal_id, ask.associate, ask.channel) == ("DEMO", "TERMINAL-1", "ANY", "walk-in")


def test_log_with_every_option(capsys, db_path) -> None:
    code, _, err = run(
        capsys,
        "log",
        "trainers",
        "--outcome",
        "substituted",
        "--category",
        "footwear",
        "--attr",
        "size=UK 9",
        "--attr",
        "colour=white",
        "--substitute",
        "running shoes",
        "--accepted",
        "--quantity",
        "2",
        "--channel",
        "phone",
        "--note",
        "wants to pick up Saturday",
        "--associate",
        "ab",
    )
    assert code == 0, err
    [ask] = all_asks(db_path)
    assert ask.category == "footwear" and ask.attributes == {"size": "UK 9", "colour": "white"}
    assert (ask.substitute, ask.substitute_accepted, ask.quantity) == ("running shoes", True, 2)
    assert (ask.channel, ask.note, ask.associate) == ("phone", "wants to pick up Saturday", "ab")


def test_unknown_outcome_lists_the_valid_codes_and_saves_nothing(capsys, db_path) -> None:
    code, out, err = run(capsys, "log", "blue jacket", "--outcome", "sold_out")
    assert code == 2 and out == ""
    assert "unknown outcome 'sold_out'" in err
    for valid in ("found", "substituted", "out_of_stock", "not_carried"):
        assert valid in err
    assert all_asks(db_path) == []


def test_unknown_category_and_channel_are_named(capsys, db_path) -> None:
    code, _, err = run(capsys, "log", "blue jacket", "--outcome", "found", "--category", "shoes", "--channel", "fax")
    assert code == 2
    assert "unknown category 'shoes'" in err and "clothing.outerwear" in err
    assert "unknown channel 'fax'" in err and "walk-in" in err
    assert all_asks(db_path) == []


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--attr", "blue"], "KEY=VALUE"),
        (["--accepted"], "offered instead"),
        (["--quantity", "0"], "whole number from 1"),
        (["--associate", "no spaces here"], "--associate"),
    ],
)
def test_bad_options_exit_2_with_a_fix(capsys, db_path, args, says) -> None:
    code, _, err = run(capsys, "log", "blue jacket", "--outcome", "found", *args)
    assert code == 2 and says in err
    assert all_asks(db_path) == []


def test_empty_text_is_refused(capsys, db_path) -> None:
    code, _, err = run(capsys, "log", "   ", "--outcome", "found")
    assert code == 2 and "what the customer asked for" in err


def test_export_jsonl_and_csv_have_every_field_of_the_latest_version(capsys, db_path) -> None:
    run(capsys, "log", "red scarf", "--outcome", "found")
    run(capsys, "log", "green hat", "--outcome", "not_carried", "--substitute", "green cap", "--declined")
    with Store(db_path) as store:
        first = next(store.iter_asks())
        store.void_ask(first.id, "logged twice")
    code, out, _ = run(capsys, "export")
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["text"] for r in rows] == ["red scarf", "green hat"]
    assert rows[0]["version"] == 2 and rows[0]["voided"] is True and rows[0]["void_reason"] == "logged twice"
    assert rows[1]["substitute_accepted"] is False and rows[1]["attributes"]["colour"] == "green"
    code, out, _ = run(capsys, "export", "--format", "csv")
    table = list(csv.DictReader(io.StringIO(out)))
    assert [r["text"] for r in table] == ["red scarf", "green hat"]
    assert set(table[0]) == set(rows[0])
    assert table[0]["voided"] == "true" and json.loads(table[1]["attributes"])["colour"] == "green"


def test_export_since_filters_by_creation_date(capsys, db_path) -> None:
    run(capsys, "log", "red scarf", "--outcome", "found")
    assert len(run(capsys, "export", "--since", "2000-01-01")[1].splitlines()) == 1
    assert run(capsys, "export", "--since", "2999-01-01")[1] == ""
    code, _, err = run(capsys, "export", "--since", "last tuesday")
    assert code == 2 and "YYYY-MM-DD" in err


def test_status_shows_where_things_are(capsys, db_path, tmp_path) -> None:
    run(capsys, "log", "red scarf", "--outcome", "found")
    code, out, _ = run(capsys, "status")
    assert code == 0
    assert "DEMO" in out and "TERMINAL-1" in out and str(db_path) in out
    assert "not created: using defaults" in out
    lines = dict(line.split(None, 1) for line in out.splitlines() if line.startswith(("asks", "pending")))
    assert lines["asks"].strip() == "1"


def test_config_file_sets_store_terminal_and_pack(capsys, db_path, tmp_path) -> None:
    (tmp_path / "config.toml").write_text('store_id = "BR-042"\nterminal_id = "TELLER-3"\ntaxonomy = "bank"\n')
    code, _, err = run(capsys, "log", "mortgage 25 year fixed", "--outcome", "appointment_booked")
    assert code == 0, err
    [ask] = all_asks(db_path)
    assert (ask.store_id, ask.terminal_id, ask.category) == ("BR-042", "TELLER-3", "mortgages")
    code, _, err = run(capsys, "log", "jacket", "--outcome", "out_of_stock")
    assert code == 2 and "appointment_booked" in err


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("store_id = ", "not valid TOML"),
        ('shop = "X"', "unknown setting(s) shop"),
        ('store_id = "has space"', "store_id must be"),
        ('taxonomy = "pharmacy"', "retail"),
    ],
)
def test_a_bad_config_file_is_explained(capsys, tmp_path, content, says) -> None:
    (tmp_path / "config.toml").write_text(content)
    code, _, err = run(capsys, "log", "jacket", "--outcome", "found")
    assert code == 2 and says in err and "config" in err.lower()


@pytest.mark.parametrize("command", [[], ["log"], ["export"], ["status"], ["enroll"], ["sync"]])
def test_help_says_what_each_command_does(command) -> None:
    result = subprocess.run([sys.executable, "-m", "associate_tui", *command, "--help"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0
    assert "usage: associate" in result.stdout
    assert {
        (): "starts the app",
        ("log",): "Save one ask",
        ("export",): "Write every ask",
        ("status",): "Print this terminal's store",
        ("enroll",): "Check TOKEN with HQ",
        ("sync",): "Send every pending ask",
    }[tuple(command)] in result.stdout


def test_the_installed_command_logs_and_exports(tmp_path) -> None:
    exe = shutil.which("associate")
    if exe is None:
        pytest.skip("the package is not installed (pip install -e .)")
    env = {**os.environ}
    logged = subprocess.run([exe, "log", "black umbrella", "--outcome", "not_carried"], capture_output=True, text=True, env=env)
    assert logged.returncode == 0, logged.stderr
    exported = subprocess.run([exe, "export"], capture_output=True, text=True, env=env)
    assert json.loads(exported.stdout)["id"] == logged.stdout.strip()


READ_ONLY_RUN = """
import os, sys
import associate_tui.store  # load everything first: Python's own files may be closed to nobody
import associate_tui.commands  # (the commands other than the app load it when they run)
from associate_tui.cli import build_parser, main
build_parser()  # argparse's messages, which load gettext and locale
from schemas.taxonomy import load_pack
load_pack("retail")
if os.geteuid() == 0:  # root ignores file modes: drop to nobody, as a shop PC's user would be
    os.setgid(65534)
    os.setuid(65534)
sys.exit(main(["log", "blue jacket", "--outcome", "found"]))
"""


def test_a_read_only_data_folder_is_explained() -> None:
    folder = Path(tempfile.mkdtemp(prefix="associate-ro-"))
    try:
        folder.chmod(0o555)
        env = {**os.environ, "ASSOCIATE_DATA_DIR": str(folder / "data"), "ASSOCIATE_CONFIG": str(folder / "none.toml")}
        result = subprocess.run([sys.executable, "-c", READ_ONLY_RUN], capture_output=True, text=True, env=env, cwd=ROOT)
        assert result.returncode == 1, result.stderr
        assert "ASSOCIATE_DATA_DIR" in result.stderr and "Traceback" not in result.stderr
        assert not (folder / "data").exists()
    finally:
        folder.chmod(0o755)
        shutil.rmtree(folder)


def test_storage_and_parsing_modules_do_not_import_textual_or_rich() -> None:
    code = (
        "import sys, associate_tui.store, schemas.taxonomy, associate_tui.asks, associate_tui.config, "
        "associate_tui.cli, associate_tui.link, associate_tui.sync_command; bad = [m for m in ('textual', 'rich') if m in sys.modules]; print(bad); "
        "sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_sync_engine_never_loads_textual_and_the_app_never_loads_httpx_at_start() -> None:
    code = (
        "import sys, sync.engine, sync.client; assert 'textual' not in sys.modules, 'engine loaded textual'; "
        "assert not [m for m in sys.modules if m.startswith('associate_tui.')], 'engine imported the terminal'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    code = "import sys, associate_tui.app; sys.exit('httpx' in sys.modules or 'sync.engine' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def test_the_app_refuses_an_unknown_pack_before_starting(capsys, tmp_path) -> None:
    (tmp_path / "config.toml").write_text('taxonomy = "pharmacy"\n')
    code, _, err = run(capsys)
    assert code == 2 and "pharmacy" in err and "retail" in err


def test_sync_before_enrolling_says_how_to_enroll(capsys) -> None:
    code, _, err = run(capsys, "sync")
    assert code == 1 and "associate enroll URL --token TOKEN" in err


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["enroll", "ftp://hq", "--token", "at1_x"], "must be HQ's address"),
        (["enroll", "https://hq.example.com", "--token", "two words"], "--token must be the token"),
        (["sync", "--batch-size", "0"], "--batch-size 0"),
    ],
)
def test_bad_sync_options_exit_2_with_a_fix(capsys, args, says) -> None:
    code, _, err = run(capsys, *args)
    assert code == 2 and says in err
