"""deeprelax.figures is the only package that imports matplotlib."""

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "deeprelax"
IMPORT = re.compile(r"^\s*(import matplotlib|from matplotlib\b)", re.MULTILINE)


def test_no_module_outside_figures_imports_matplotlib():
    offenders = [
        str(path.relative_to(SRC))
        for path in sorted(SRC.rglob("*.py"))
        if path.relative_to(SRC).parts[0] != "figures" and IMPORT.search(path.read_text())
    ]
    assert offenders == []


def test_the_check_sees_the_figures_package():
    assert IMPORT.search((SRC / "figures" / "_pyplot.py").read_text())
