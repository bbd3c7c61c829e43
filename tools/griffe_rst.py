"""Griffe extension for the docs site: the reStructuredText inside the Google-style docstrings, as Markdown.

The docstrings follow torch.optim's habit: Google ``Args:`` sections with reST roles and directives
(``:math:`` and ``.. math::``, ``:class:`` and friends, ``.. note::``, simple tables, ``[1]_``
footnotes). mkdocstrings renders docstrings as Markdown, so before they are parsed this rewrites
those constructs into what the site's Markdown extensions render: ``$...$`` and ``$$...$$`` for
``pymdownx.arithmatex`` (typeset by KaTeX), code spans for cross-references, a ``Note:`` section
(which mkdocstrings shows as an admonition) and pipe tables.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:class|func|meth|data|attr|mod|obj|exc):`(~?)([^`]+)`")
MATH_ROLE = re.compile(r":math:`([^`]+)`")
DIRECTIVE = re.compile(r"^(\s*)\.\. (math|note)::[ \t]*(.*)$")
BORDER = re.compile(r"^\s*=+( +=+)+\s*$")
FOOTNOTE_REF = re.compile(r"(\[\d+\])_")
FOOTNOTE_DEF = re.compile(r"^(\s*)\.\. (\[\d+\])")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _directives(lines: list[str]) -> list[str]:
    """``.. math::`` blocks as ``$$`` blocks; ``.. note::`` as a Google ``Note:`` section."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        match = DIRECTIVE.match(lines[i])
        if not match:
            out.append(lines[i])
            i += 1
            continue
        pad, kind, first = match.groups()
        body = [first] if first else []
        i += 1
        while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > len(pad)):
            body.append(lines[i].strip() if kind == "math" else lines[i])
            i += 1
        while body and not body[-1].strip():
            body.pop()
        if kind == "math":
            body = [line for line in body if line]
            if any("&" in line or line.endswith("\\\\") for line in body):
                body = ["\\begin{aligned}", *body, "\\end{aligned}"]  # as Sphinx aligns them
            out += ["", f"{pad}$$", *(f"{pad}{line}" for line in body), f"{pad}$$", ""]
        else:
            out += [f"{pad}Note:", *body, ""]
    return out


def _cuts(line: str, starts: list[int | None]) -> list[int | None]:
    """Where ``line``'s cells begin. Hand-written tables often let a cell run past its border: a
    cell starts at the first text after a gap of two spaces from 3 characters before its border on,
    and a cut never splits a word."""
    gaps = [m.end() for m in re.finditer(r"\S {2,}(?=\S)", line)]
    cuts: list[int | None] = [0]
    for start, following in zip(starts[1:-1], starts[2:]):
        end = following - 3 if following is not None else len(line)
        near = [g for g in gaps if start - 3 <= g < end and g > cuts[-1]]
        cut = near[0] if near else max(start, cuts[-1])
        while 0 < cut < len(line) and line[cut - 1] != " ":  # never split a word
            cut += 1
        cuts.append(cut)
    return [*cuts, None]


def _table(block: list[str]) -> list[str]:
    """A reST simple table (border, header, border, rows, border) as a Markdown pipe table."""
    border = block[0]
    spans = [m.span() for m in re.finditer(r"=+", border)]
    starts = [s for s, _ in spans] + [None]
    rows: list[list[str]] = []
    for line in block[1:]:
        if BORDER.match(line) or not line.strip():
            continue
        cuts = _cuts(line, starts)
        cells = [line[a:b].strip() for a, b in zip(cuts, cuts[1:])]
        if rows and not cells[0] and len(rows) > 1:  # continuation of the previous row
            rows[-1] = [f"{a} {b}".strip() for a, b in zip(rows[-1], cells)]
        else:
            rows.append(cells)
    header, *body = rows
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return ["", *lines, *("| " + " | ".join(r) + " |" for r in body), ""]


def _tables(lines: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(lines):
        if not BORDER.match(lines[i]):
            out.append(lines[i])
            i += 1
            continue
        borders, j = 1, i + 1
        while j < len(lines) and borders < 3:
            borders += bool(BORDER.match(lines[j]))
            j += 1
        out += _table(lines[i:j])
        i = j
    return out


def rst_to_markdown(text: str) -> str:
    """The docstring ``text`` with its reST constructs rewritten as Markdown (see the module)."""
    lines = _tables(_directives(text.splitlines()))
    text = "\n".join(FOOTNOTE_DEF.sub(r"\1\2", line) for line in lines)
    text = MATH_ROLE.sub(lambda m: f"${m.group(1).strip()}$", text)
    text = ROLE.sub(
        lambda m: f"`{m.group(2).rsplit('.', 1)[-1] if m.group(1) else m.group(2)}`", text
    )
    return FOOTNOTE_REF.sub(r"\1", text)


class RstToMarkdown(griffe.Extension):
    """Rewrites every docstring when griffe loads it (before mkdocstrings parses its sections)."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rst_to_markdown(obj.docstring.value)
