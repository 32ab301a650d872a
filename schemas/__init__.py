"""The wire contract between terminals and HQ, defined once (version 1).

Imports nothing of ours: both the terminal's sync engine and the HQ service
depend on it, never the other way round.
"""

import argparse
import sys


def release() -> str:
    """This release of Associate Terminal (the terminal and HQ ship as one distribution), for --version."""
    from importlib import metadata  # 8-10 ms, and every `import schemas.x` (the counter's start among them) runs this file

    try:
        return metadata.version("associate-terminal")
    except metadata.PackageNotFoundError:
        return "unknown (run from a checkout without pip install)"


class PrintRelease(argparse.Action):
    """--version: looks the release up only when asked (a locked-down user may not read the package metadata)."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help="print the release and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> None:
        sys.stdout.write(f"{parser.prog} {release()}\n")
        parser.exit()
