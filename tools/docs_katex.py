"""mkdocs hook: the site renders its math with a local copy of KaTeX, so viewing it needs no network.

At build time KaTeX is taken from the npm registry once (``npm pack katex@KATEX_VERSION``), checked
against the pinned sha512 and unpacked into ``build/vendor/katex-<version>/`` (gitignored); later
builds reuse it. Setting ``DEEPRELAX_KATEX_DIR`` to a folder that holds KaTeX's ``dist`` files
(``katex.min.js``, ``katex.min.css``, ``contrib/auto-render.min.js``, ``fonts/``) skips npm.
The files are added to the site under ``assets/katex/`` with a small script that typesets the
``arithmatex`` spans that ``pymdownx.arithmatex`` (generic mode) writes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

KATEX_VERSION = "0.19.1"
KATEX_INTEGRITY = "sha512-jG8uKntjSEcm2EpQOh0XturpPuuC9r3Sq5HLHdsFdWZT27E672SF19QEi+of0/YeOy15lDgRhKvr5614uRrEfA=="
VENDOR_DIR = Path(__file__).resolve().parents[1] / "build" / "vendor" / f"katex-{KATEX_VERSION}"
SITE_PREFIX = "assets/katex"
REQUIRED = ("katex.min.js", "katex.min.css", "contrib/auto-render.min.js", "fonts")

# Typesets what pymdownx.arithmatex (generic) emits: \( \) inline, \[ \] display. document$ is
# Material's page observable (it also fires on instant navigation).
INIT_SCRIPT = r"""(function () {
  function typeset() {
    document.querySelectorAll(".arithmatex").forEach(function (el) {
      renderMathInElement(el, {
        delimiters: [
          { left: "\\(", right: "\\)", display: false },
          { left: "\\[", right: "\\]", display: true },
        ],
        throwOnError: false,
      });
    });
  }
  if (typeof document$ !== "undefined") document$.subscribe(typeset);
  else document.addEventListener("DOMContentLoaded", typeset);
})();
"""


def katex_dir() -> Path:
    """The folder holding KaTeX's dist files, fetched with npm on first use."""
    override = os.environ.get("DEEPRELAX_KATEX_DIR")
    folder = Path(override) if override else VENDOR_DIR
    if not all((folder / name).exists() for name in REQUIRED):
        if override:
            raise PluginError(f"{folder}: not a KaTeX dist folder (DEEPRELAX_KATEX_DIR)")
        _fetch(folder)
    return folder


def _fetch(dest: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise PluginError(
            f"the docs render math with KaTeX {KATEX_VERSION}, fetched with npm, which is not "
            "installed: install Node.js and npm, or set DEEPRELAX_KATEX_DIR to a KaTeX dist folder"
        )
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            [npm, "pack", f"katex@{KATEX_VERSION}", "--json", "--pack-destination", tmp],
            cwd=tmp, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        if done.returncode != 0:
            raise PluginError(f"npm pack katex@{KATEX_VERSION} failed: {done.stderr.strip()}")
        tarball = Path(tmp) / json.loads(done.stdout)[0]["filename"]
        digest = base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
        if f"sha512-{digest}" != KATEX_INTEGRITY:
            raise PluginError(f"{tarball.name}: sha512 does not match the pinned KaTeX release")
        staging = Path(tmp) / "dist"
        with tarfile.open(tarball) as tar:
            for member in tar.getmembers():
                name = member.name.removeprefix("package/")
                if member.isfile() and (name.startswith("dist/") or name == "LICENSE"):
                    target = staging / name.removeprefix("dist/")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(tar.extractfile(member).read())
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(dest, ignore_errors=True)
        shutil.move(str(staging), dest)


def on_files(files: Files, config) -> Files:
    folder = katex_dir()
    shipped = ("katex.min.js", "katex.min.css", "contrib/auto-render.min.js", "fonts/", "LICENSE")
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.relative_to(folder).as_posix().startswith(shipped):
            uri = f"{SITE_PREFIX}/{path.relative_to(folder).as_posix()}"
            files.append(File.generated(config, uri, abs_src_path=str(path)))
    files.append(File.generated(config, f"{SITE_PREFIX}/render-math.js", content=INIT_SCRIPT))
    return files
