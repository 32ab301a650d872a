"""Installs are reproducible: every dependency in pyproject.toml is pinned in constraints.txt, in its range."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def pins() -> dict[str, str]:
    found = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if match := re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line):
            found[canonicalize_name(match.group(1))] = match.group(2)
    return found


def test_every_dependency_is_pinned_within_its_range() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *(d for extra in project["optional-dependencies"].values() for d in extra)]
    pinned = pins()
    problems = []
    for text in wanted:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        if name == "associate-terminal":
            continue  # an extra of our own
        if name not in pinned:
            problems.append(f"{requirement.name} is not pinned")
        elif not requirement.specifier.contains(pinned[name], prereleases=True):
            problems.append(f"{requirement.name}=={pinned[name]} is outside {requirement.specifier}")
    assert not problems, "; ".join(problems) + ": refresh constraints.txt (README, first section)"


def test_the_readme_and_ci_install_from_the_constraints() -> None:
    readme = (ROOT / "README.md").read_text().split("\n## ", 1)[0]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install -c constraints.txt . && associate" in readme
    test_command = "pip install -c constraints.txt -e '.[test]' && ruff check . && ruff format --check . && lint-imports && mypy && python -m pytest -n 2"
    assert test_command in readme and test_command in ci
