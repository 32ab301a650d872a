"""Every test gets its own data folder and config file, never the user's."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "data"
    monkeypatch.setenv("ASSOCIATE_DATA_DIR", str(data))
    monkeypatch.setenv("ASSOCIATE_CONFIG", str(tmp_path / "config.toml"))
    return data


@pytest.fixture
def db_path(isolated_dirs: Path) -> Path:
    return isolated_dirs / "associate.db"
