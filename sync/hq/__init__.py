"""The HQ service (`associate-hq`): ingest, reports, digest and dashboard over SQLite or PostgreSQL."""

from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parents[2]


def install_hint(extra: str) -> str:
    """The command that installs an optional part of HQ, as it works where this copy runs from."""
    if (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / "constraints.txt").is_file():
        return f"pip install -c {_CHECKOUT / 'constraints.txt'} -e '{_CHECKOUT}[{extra}]'"
    return f"pip install 'associate-terminal[{extra}]'"
