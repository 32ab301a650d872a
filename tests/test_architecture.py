"""The walls of the house: the import contracts hold, no two modules import each other, and HQ
never loads the terminal or Textual."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("associate_tui", "sync", "schemas")


def test_the_import_contracts_in_pyproject_hold() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")  # import-linter's command, beside this Python
    done = subprocess.run([str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]


def test_no_import_cycle_between_our_modules() -> None:
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    cycles = set()
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            if imported != module and graph.chain_exists(importer=imported, imported=module):
                cycles.add(" -> ".join(graph.find_shortest_chain(importer=imported, imported=module) + (imported,)))
    assert not cycles, "\n".join(sorted(cycles))


def test_the_hq_service_loads_neither_textual_nor_the_terminal() -> None:
    code = (
        "import sys, sync.hq.app, sync.hq.cli; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'textual', 'associate_tui'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_no_module_over_700_lines_and_no_function_over_60() -> None:
    """The house rules (issue 14): a module a reader can hold, a function taken in at once (migrations aside)."""
    long_modules, long_functions = [], []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            text = path.read_text()
            name = str(path.relative_to(ROOT))
            if len(text.splitlines()) > 700 and not path.name.startswith(("migrations", "schema")):
                long_modules.append(name)
            long_functions += [
                f"{name}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
                for node in ast.walk(ast.parse(text))
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 60
            ]
    assert not long_modules and not long_functions, long_modules + long_functions
