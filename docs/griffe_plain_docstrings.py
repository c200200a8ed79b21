"""Griffe extension of the docs build: seqalpha's docstrings are plain text, not Markdown.

They state array shapes as `[T, N]` and carry doctest examples (`>>> ...`). Rendered as
Markdown, brackets read as reference links (which the strict build reports as broken) and
`>>>` as nested quotes. This extension turns each doctest block into a fenced `pycon` block
and escapes brackets outside code, before mkdocstrings renders the docstring.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_CODE_SPAN = re.compile(r"(`[^`]*`)")


def _escape_brackets(line: str) -> str:
    parts = _CODE_SPAN.split(line)
    return "".join(
        p if p.startswith("`") else p.replace("[", "\\[").replace("]", "\\]") for p in parts
    )


def plain_to_markdown(text: str) -> str:
    """Doctest blocks (a `>>>` line up to the next blank line) fenced; brackets escaped."""
    out: list[str] = []
    in_doctest = in_fence = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("```"):
            in_fence = not in_fence
            out.append(line)
            continue
        if in_fence:
            out.append(line)
            continue
        if in_doctest and not stripped:
            out += ["```", ""]
            in_doctest = False
            continue
        if not in_doctest and stripped.startswith(">>>"):
            out += ["", "```pycon"]
            in_doctest = True
        out.append(line if in_doctest else _escape_brackets(line))
    if in_doctest:
        out.append("```")
    return "\n".join(out)


class PlainDocstrings(griffe.Extension):
    """Rewrites every docstring with `plain_to_markdown` as objects are loaded."""

    def on_instance(self, *, node: Any, obj: griffe.Object, agent: Any, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = plain_to_markdown(obj.docstring.value)
