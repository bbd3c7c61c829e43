"""The house rules of the source tree (DESIGN.md, STYLE.md): small files and functions, and
dependencies that point one way."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "deeprelax"
FILES = sorted(SRC.rglob("*.py"))
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 60

# package -> packages of deeprelax it must not import (DESIGN.md: cli -> {experiments, figures} ->
# {optim, analysis, pde}; integrations -> optim)
FORBIDDEN = {
    "optim": {"experiments", "figures", "cli", "analysis", "pde", "integrations"},
    "pde": {"experiments", "figures", "cli", "optim", "analysis", "integrations"},
    "analysis": {"experiments", "figures", "cli", "integrations"},
    "integrations": {"experiments", "figures", "cli"},
    "experiments": {"cli"},
    "figures": {"cli"},
}


def _rel(path: Path) -> str:
    return str(path.relative_to(SRC.parent))


def test_the_tree_has_files_to_check():
    assert len(FILES) > 50


@pytest.mark.parametrize("path", FILES, ids=_rel)
def test_no_source_file_is_over_400_lines(path):
    n = len(path.read_text().splitlines())
    assert n <= MAX_FILE_LINES, f"{_rel(path)} has {n} lines"


@pytest.mark.parametrize("path", FILES, ids=_rel)
def test_no_function_is_over_60_lines(path):
    tree = ast.parse(path.read_text())
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines, line {node.lineno})"
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, f"{_rel(path)}: {', '.join(long)}"


def _imported_packages(path: Path) -> set[str]:
    """deeprelax sub-packages imported anywhere in the file (also inside functions)."""
    package = path.relative_to(SRC).parts[0] if len(path.relative_to(SRC).parts) > 1 else None
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                names = [node.module]
            elif node.level > 0:
                depth = len(path.relative_to(SRC).parts) - 1  # folders below deeprelax/
                if node.level > depth and node.module:  # climbs out of the sub-package
                    names = ["deeprelax." + node.module]
                elif node.level <= depth and package is not None:
                    continue  # inside its own sub-package
        for name in names:
            parts = name.split(".")
            if parts[0] == "deeprelax" and len(parts) > 1:
                found.add(parts[1])
    return found


@pytest.mark.parametrize(
    "path", [f for f in FILES if f.relative_to(SRC).parts[0] in FORBIDDEN], ids=_rel
)
def test_dependencies_point_one_way(path):
    package = path.relative_to(SRC).parts[0]
    bad = _imported_packages(path) & FORBIDDEN[package]
    assert not bad, f"{_rel(path)} ({package}) imports deeprelax.{', deeprelax.'.join(sorted(bad))}"
