"""The docs site builds with ``mkdocs build --strict``, needs no network when viewed, and every
formula on it is one that the vendored KaTeX typesets."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORMULA = re.compile(r'<(span|div) class="arithmatex">(.*?)</\1>', re.S)
TAG_URL = re.compile(r'<(?:script|link|img)\b[^>]*?(?:src|href)="(https?:)?//', re.I)

# Renders each formula as the browser would, but with throwOnError: a formula KaTeX cannot parse
# is reported instead of shown in red on the page.
KATEX_CHECK = """
const katex = require(process.argv[1]);
const items = JSON.parse(require("fs").readFileSync(0, "utf8"));
const bad = [];
for (const [page, tex, display] of items) {
  try { katex.renderToString(tex, { displayMode: display, throwOnError: true, strict: "ignore" }); }
  catch (e) { bad.push([page, tex.slice(0, 80), String(e.message).slice(0, 200)]); }
}
console.log(JSON.stringify(bad));
"""


def _katex_available() -> bool:
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import docs_katex
    finally:
        sys.path.pop(0)
    folder = Path(os.environ.get("DEEPRELAX_KATEX_DIR") or docs_katex.VENDOR_DIR)
    return (folder / "katex.min.js").exists() or shutil.which("npm") is not None


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    pytest.importorskip("mkdocstrings_handlers.python")
    if not _katex_available():
        pytest.skip("npm is needed once to fetch KaTeX (or set DEEPRELAX_KATEX_DIR)")
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT, capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    return out


def test_every_page_and_api_reference_is_built(site):
    for page in ("algorithms", "theory", "integrations", "results", "api/optim", "api/pde"):
        assert (site / page / "index.html").is_file(), page
    optim_api = (site / "api/optim/index.html").read_text()
    for name in ("EntropySGD", "HJ", "ProxSGD", "Heat", "ElasticSGD", "Parle"):
        assert f'id="deeprelax.optim.{name}"' in optim_api, name
    pde_api = (site / "api/pde/index.html").read_text()
    for name in ("hopf_lax.hopf_lax", "cole_hopf.cole_hopf", "heat", "prox_point", "upwind_hj"):
        assert f'id="deeprelax.pde.{name}"' in pde_api, name
    assert 'id="deeprelax.analysis.local_entropy"' in (site / "api/analysis/index.html").read_text()
    assert (
        'id="deeprelax.experiments.trainer.Trainer"'
        in (site / "api/experiments/index.html").read_text()
    )


def test_no_page_loads_anything_from_the_network(site):
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > 10
    for page in pages:
        match = TAG_URL.search(page.read_text())
        assert match is None, f"{page.relative_to(site)}: {match.group(0)}"
    for asset in ("katex.min.js", "katex.min.css", "contrib/auto-render.min.js", "render-math.js"):
        assert (site / "assets/katex" / asset).is_file(), asset
    css = (site / "assets/katex/katex.min.css").read_text()
    fonts = set(re.findall(r"url\((fonts/[^)]+)\)", css))
    assert fonts and all((site / "assets/katex" / font).is_file() for font in fonts)


def test_every_formula_is_typeset_by_the_vendored_katex(site):
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is needed to run KaTeX outside a browser")
    formulas = []
    for page in sorted(site.rglob("*.html")):
        for _, body in FORMULA.findall(page.read_text()):
            tex = html.unescape(body).strip()
            assert tex[:2] in ("\\(", "\\[") and tex[-2:] in ("\\)", "\\]"), tex[:80]
            formulas.append([str(page.relative_to(site)), tex[2:-2], tex.startswith("\\[")])
    assert len(formulas) > 100  # theory, algorithms, distributed and landscape are full of math
    done = subprocess.run(
        [node, "-e", KATEX_CHECK, str(site / "assets/katex/katex.min.js")],
        input=json.dumps(formulas), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def _rst_to_markdown():
    pytest.importorskip("griffe")
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        from griffe_rst import rst_to_markdown
    finally:
        sys.path.pop(0)
    return rst_to_markdown


def test_rst_roles_and_directives_become_markdown():
    rst_to_markdown = _rst_to_markdown()
    text = (
        "Step :math:`x \\leftarrow x - \\eta D` of :class:`~deeprelax.optim.EntropySGD` [1]_.\n"
        "\n"
        ".. math::\n"
        "    a &= b \\\\\n"
        "    c &= d\n"
        "\n"
        ".. note::\n"
        "    Costs ``L`` evaluations.\n"
        "\n"
        ".. [1] PAPER.md §5."
    )
    assert rst_to_markdown(text).splitlines() == [
        "Step $x \\leftarrow x - \\eta D$ of `EntropySGD` [1].",
        "",
        "",
        "$$",
        "\\begin{aligned}",
        "a &= b \\\\",
        "c &= d",
        "\\end{aligned}",
        "$$",
        "",
        "Note:",
        "    Costs ``L`` evaluations.",
        "",
        "[1] PAPER.md §5.",
    ]


def test_a_simple_table_becomes_a_pipe_table_even_when_a_cell_overflows():
    rst_to_markdown = _rst_to_markdown()
    table = (
        "====  ==========  =====\n"
        "name  meaning     cost\n"
        "====  ==========  =====\n"
        "HJ    Hopf-Lax fixed point  L + 1\n"
        "Heat  smoothing   L\n"
        "      (Gaussian)\n"
        "====  ==========  =====\n"
    )
    assert rst_to_markdown(table).strip().splitlines() == [
        "| name | meaning | cost |",
        "| --- | --- | --- |",
        "| HJ | Hopf-Lax fixed point | L + 1 |",
        "| Heat | smoothing (Gaussian) | L |",
    ]


def test_no_page_refers_to_how_the_project_is_organised():
    """The docs speak of the library and its results, never of issue numbers or tracker items."""
    root = Path(__file__).resolve().parents[1]
    pages = sorted((root / "docs").rglob("*.md")) + [root / "README.md"]
    pattern = re.compile(r"\bissues?\s*#?\d+|\bthe issue\b", re.IGNORECASE)
    offenders = [
        f"{p.relative_to(root)}:{i}"
        for p in pages
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []
