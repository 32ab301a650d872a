"""Every test gets its own data folder and config file, never the user's."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hq_server import BACKENDS, HQDatabase, postgres_ready

# The PostgreSQL half of the HQ tests is the slow tier: `pytest -m "not slow"` runs them on SQLite only.
BACKEND_PARAMS = [pytest.param(kind, marks=pytest.mark.slow) if kind == "postgresql" else kind for kind in BACKENDS]


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "data"
    monkeypatch.setenv("ASSOCIATE_DATA_DIR", str(data))
    monkeypatch.setenv("ASSOCIATE_CONFIG", str(tmp_path / "config.toml"))
    return data


@pytest.fixture
def db_path(isolated_dirs: Path) -> Path:
    return isolated_dirs / "associate.db"


@contextmanager
def _scratch_hq(kind: str, folder: Path) -> Iterator[HQDatabase]:
    if kind == "postgresql":
        why_not = postgres_ready()
        if why_not:
            if os.environ.get("ASSOCIATE_TEST_PG_REQUIRED"):
                pytest.fail(why_not)
            pytest.skip(why_not)
    db = HQDatabase(kind, folder)
    try:
        yield db
    finally:
        db.drop()


@pytest.fixture(params=BACKEND_PARAMS)
def hq_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HQDatabase]:
    """An empty HQ database, once on SQLite and once on PostgreSQL: every HQ test runs on both."""
    with _scratch_hq(request.param, tmp_path / "hq") as db:
        yield db


@pytest.fixture(scope="module", params=BACKEND_PARAMS)
def module_hq_db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HQDatabase]:
    """The same, shared by the tests of a module (for data that takes a while to send)."""
    with _scratch_hq(request.param, tmp_path_factory.mktemp("hq")) as db:
        yield db
