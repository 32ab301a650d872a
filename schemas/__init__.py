"""The wire contract between terminals and HQ, defined once (version 1).

Imports nothing of ours: both the terminal's sync engine and the HQ service
depend on it, never the other way round.
"""

from importlib import metadata


def release() -> str:
    """This release of Associate Terminal (the terminal and HQ ship as one distribution), for --version."""
    try:
        return metadata.version("associate-terminal")
    except metadata.PackageNotFoundError:
        return "unknown (run from a checkout without pip install)"
