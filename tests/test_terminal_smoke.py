"""The real `associate` command in a real terminal (tmux), typed into like a person."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from associate_tui.store import Store

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")]


def screen(session: str) -> str:
    return subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout


def wait_for(session: str, text: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        shown = screen(session)
        if text in shown:
            return shown
        time.sleep(0.1)
    raise AssertionError(f"{text!r} never appeared; the screen was:\n{screen(session)}")


def keys(session: str, *sequence: str) -> None:
    # One key at a time, as a person types: a whole string at once is a paste.
    for key in sequence:
        subprocess.run(["tmux", "send-keys", "-t", session, key], check=True)
        time.sleep(0.03)


def test_log_an_ask_at_80x24_in_a_real_terminal(tmp_path: Path) -> None:
    session = f"associate-{uuid.uuid4().hex[:8]}"
    data = tmp_path / "data"
    command = f"ASSOCIATE_DATA_DIR={data} ASSOCIATE_CONFIG={tmp_path / 'config.toml'} {sys.executable} -m associate_tui"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "80", "-y", "24", command], check=True)
    try:
        first = wait_for(session, "What did the customer ask for?")
        assert "DEMO / TERMINAL-1" in first
        keys(session, *"blue rain jacket size M")
        wait_for(session, "colour=blue size=M")
        keys(session, "Enter", "3", "Enter")
        shown = wait_for(session, "Saved: blue rain jacket size M")
        assert "Out of stock" in shown
        keys(session, "F10")
        deadline = time.monotonic() + 10
        while subprocess.run(["tmux", "has-session", "-t", session], capture_output=True).returncode == 0:
            assert time.monotonic() < deadline, "F10 did not quit"
            time.sleep(0.1)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    with Store(data / "associate.db") as store:
        [ask] = list(store.iter_asks())
    assert (ask.outcome, ask.attributes["colour"], ask.attributes["size"]) == ("out_of_stock", "blue", "M")
