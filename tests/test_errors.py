"""Every error the terminal may show a person comes from one root and carries its words and a title."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import associate_tui
from associate_tui.errors import AssociateError


def test_every_error_class_of_the_terminal_has_one_root_and_a_title() -> None:
    found = []
    for module_info in pkgutil.walk_packages(associate_tui.__path__, "associate_tui."):
        if module_info.name.endswith("__main__"):
            continue  # runs the command
        module = importlib.import_module(module_info.name)
        for _, kind in inspect.getmembers(module, inspect.isclass):
            if kind.__module__ == module.__name__ and issubclass(kind, BaseException):
                found.append(kind)
    assert len(found) >= 10
    strays = [kind.__qualname__ for kind in found if not issubclass(kind, AssociateError)]
    assert not strays, f"not under AssociateError: {strays}"
    assert all(kind.title and isinstance(kind.title, str) for kind in found)


def test_a_failed_save_is_titled_not_saved_and_a_failed_read_database(db_path) -> None:
    import pytest

    from associate_tui.asks import AskDraft
    from associate_tui.store import Store, StoreError

    with Store(db_path) as store:
        store.conn.execute("PRAGMA query_only = ON")  # the file refuses writes, as a read-only disk would
        with pytest.raises(StoreError) as refused:
            store.add_ask(AskDraft(text="blue coat", outcome="found"), store_id="S", terminal_id="T", associate="AB")
        assert refused.value.title == "Not saved" and "Nothing was written" in str(refused.value)
        store.conn.execute("PRAGMA query_only = OFF")
        store.conn.execute("DROP TABLE asks_fts")  # a damaged file: the search cannot run
        with pytest.raises(StoreError) as failed:
            store.recent_asks(query="coat")
        assert failed.value.title == "Database"
