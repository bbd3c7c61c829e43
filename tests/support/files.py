"""The repository's scripts and examples, loaded as modules by path (they are not a package)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def load_file(relative: str, name: str | None = None) -> ModuleType:
    """Execute ``ROOT/relative`` (e.g. ``"scripts/gpu_grid.py"``) as a fresh module and return it."""
    path = ROOT / relative
    spec = importlib.util.spec_from_file_location(name or f"repo_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
