"""Every command and option of `associate` and `associate-hq` says what it does, and --version answers."""

from __future__ import annotations

import argparse
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from associate_tui.cli import build_parser as terminal_parser
from sync.hq.cli import build_parser as hq_parser

ROOT = Path(__file__).resolve().parents[1]


def commands(parser: argparse.ArgumentParser, path: str):
    """(path, parser) for the parser and every command under it."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from commands(sub, f"{path} {name}")


@pytest.mark.parametrize("build, prog", [(terminal_parser, "associate"), (hq_parser, "associate-hq")])
def test_every_command_and_option_has_help(build, prog) -> None:
    missing = []
    for path, parser in commands(build(), prog):
        if path != prog and not parser.description:
            missing.append(f"{path}: no description")
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            if not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}: no help")
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize("module, prog", [("associate_tui", "associate"), ("sync.hq.cli", "associate-hq")])
def test_version_prints_the_installed_release(module, prog) -> None:
    done = subprocess.run([sys.executable, "-m", module, "--version"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == f"{prog} {metadata.version('associate-terminal')}"


def test_report_follow_ups_help_is_its_own(capsys) -> None:
    with pytest.raises(SystemExit) as exit:
        hq_parser().parse_args(["report", "follow-ups", "--help"])
    out = capsys.readouterr().out
    assert exit.value.code == 0
    assert out.startswith("usage: associate-hq report follow-ups") and "won back" in out and "--top" not in out


def test_report_options_before_or_after_the_report_name_mean_the_same() -> None:
    plain = hq_parser().parse_args(["report", "--format", "csv", "--top", "5"])
    named = hq_parser().parse_args(["report", "demand", "--format", "csv", "--top", "5"])
    before = hq_parser().parse_args(["report", "--format", "csv", "--top", "5", "demand"])
    for args in (plain, named, before):
        assert (args.format, args.top, args.since) == ("csv", 5, "7d")


def test_the_readme_and_the_help_agree_on_the_batch_size() -> None:
    readme = (ROOT / "README.md").read_text()
    sync_help = next(p for path, p in commands(terminal_parser(), "associate") if path == "associate sync").format_help()
    assert "default 1000" in " ".join(sync_help.split())
    assert "batches of at most 1000 asks" in readme and "at most 500" not in readme
