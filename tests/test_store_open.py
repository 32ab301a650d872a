"""One way to open the store (store.open_store): the app, the CLI and `associate sync` alike."""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
import uuid
from pathlib import Path

import msgspec
import pytest

from associate_tui import config as config_module
from associate_tui import link
from associate_tui.app import AssociateApp
from associate_tui.asks import AskDraft
from associate_tui.cli import main
from associate_tui.customers import CustomerDraft
from associate_tui.store import FollowUpPlan, Store, open_store
from associate_tui.sync_command import EXIT_FAILED, run_sync_command
from schemas.demand import demand_key
from schemas.records import LATER_FIELDS, AskRecord, CustomerRecord, ErasureRecord, FollowUpRecord
from schemas.taxonomy import load_pack

# Words that repeat an attribute through the taxonomy's vocabulary ("blue" is a colour word,
# "medium" a size word): with the vocabulary they leave the group's words, without it they stay.
OLD_ASKS = (
    ("navy blue rain jacket", {"colour": "navy"}),
    ("rain jacket in blue size medium", {"colour": "blue", "size": "M"}),
    ("navy rain jacket", {"colour": "navy"}),
)
NOW = "2026-11-20T10:00:00.000Z"


def _file_before_demand_groups(path: Path) -> None:
    """A terminal file at schema 5, as an app from before demand groups left it."""
    with Store(path, migrate_to=5) as old:
        for text, attributes in OLD_ASKS:
            old.conn.execute(
                "INSERT INTO asks (id, created_at, updated_at, store_id, terminal_id, associate, channel, text, "
                "category, attributes, outcome) VALUES (?, ?, ?, 'S1', 'T1', 'AB', 'walk-in', ?, 'clothing', ?, "
                "'out_of_stock')",
                (str(uuid.uuid4()), NOW, NOW, text, json.dumps(attributes)),
            )


def _demand_keys(path: Path) -> dict[str, str]:
    conn = sqlite3.connect(path)
    try:
        return dict(conn.execute("SELECT text, demand_key FROM asks"))
    finally:
        conn.close()


def test_a_migration_run_by_the_sync_command_gives_the_demand_keys_the_app_gives(db_path, tmp_path) -> None:
    _file_before_demand_groups(db_path)
    app_file = tmp_path / "app.db"
    shutil.copy(db_path, app_file)
    # Enrolled with an HQ nobody answers at: the sync opens (and so migrates) the file, then fails.
    config = config_module.Config(hq_url="http://127.0.0.1:9")
    link.write_token("at1_0123456789ab_secret")
    assert run_sync_command(config, watch=False, give_up_after=0, out=io.StringIO()) == EXIT_FAILED

    app = AssociateApp(config, database=app_file)
    app.get_store()
    app.on_unmount()

    by_sync, by_app = _demand_keys(db_path), _demand_keys(app_file)
    vocabulary = load_pack("retail").vocabulary()
    expected = {text: demand_key("clothing", attributes, text, vocabulary) for text, attributes in OLD_ASKS}
    assert by_sync == by_app == expected
    # The vocabulary decides: without it these asks would be grouped apart from the app's.
    assert all(expected[text] != demand_key("clothing", attributes, text) for text, attributes in OLD_ASKS[:2])


def test_the_cli_opens_the_store_with_the_vocabulary_too(db_path) -> None:
    _file_before_demand_groups(db_path)
    assert main(["status"]) == 0
    vocabulary = load_pack("retail").vocabulary()
    assert _demand_keys(db_path) == {text: demand_key("clothing", attributes, text, vocabulary) for text, attributes in OLD_ASKS}


def test_a_pack_that_cannot_be_read_is_a_config_error_naming_it(tmp_path) -> None:
    config = config_module.Config(taxonomy=str(tmp_path / "missing.json"))
    with pytest.raises(config_module.ConfigError, match="missing.json"):
        open_store(config)


def test_the_outbox_sends_every_field_of_each_record_type_in_its_order(db_path) -> None:
    """The outbox's json_object is derived from the records: each field of the contract, and nothing else."""
    with Store(db_path) as store:
        kept = store.add_customer(
            CustomerDraft("Jane Doe", phone="+44 7700 900123", consent_follow_up=True),
            store_id="S1",
            terminal_id="T1",
            associate="AB",
            consent_wording="2026-1",
        )
        erased = store.add_customer(
            CustomerDraft("Bob"), store_id="S1", terminal_id="T1", associate="AB", consent_wording="2026-1"
        )
        store.add_ask(
            AskDraft("blue rain jacket", "out_of_stock", substitute="green one", substitute_accepted=False),
            store_id="S1",
            terminal_id="T1",
            associate="AB",
            customer_id=kept.id,
            follow_up=FollowUpPlan("2026-12-01", None),
        )
        store.erase_customer(erased.id)
        records = [msgspec.json.decode(body) for _, _, _, body in store.pending_records()]
    types = {"customer": CustomerRecord, "ask": AskRecord, "follow_up": FollowUpRecord, "erasure": ErasureRecord}
    assert [record["type"] for record in records] == list(types)
    for record in records:
        kind = types[record["type"]]
        # Every field in its order; a field added later (LATER_FIELDS) only once it holds something.
        fields = [field.encode_name for field in msgspec.structs.fields(kind) if field.name not in LATER_FIELDS]
        assert list(record) == ["type", *fields]
        msgspec.convert(record, kind)  # and it fits the contract


def test_importing_the_app_loads_neither_the_store_nor_sqlite() -> None:
    """The capture screen is ready before the database is opened: the first worker loads the store."""
    import subprocess
    import sys

    code = (
        "import sys, associate_tui.app; "
        "sys.exit(' '.join(m for m in sys.modules if m.startswith(('associate_tui.store', 'sqlite3', 'msgspec'))) or None)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert result.returncode == 0, result.stderr
