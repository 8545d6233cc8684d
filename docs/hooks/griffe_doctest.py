"""A Griffe extension (loaded by mkdocstrings, see mkdocs.yml): show docstring examples as code.

The engine's docstrings hold doctest examples (``>>>`` lines and their output) written
as plain text, which is what ``--doctest-modules`` runs. Rendered as Markdown, those
lines would run together into a paragraph, and outputs such as ``[4.0, 18.0]`` would
read as link references. This wraps each run of example lines in a ``pycon`` fence
before mkdocstrings renders the docstring.
"""

from __future__ import annotations

import re

from griffe import Extension, Object

_FENCE = re.compile(r"^\s*(```|~~~)")


def fence_examples(text: str) -> str:
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    in_fence = False
    while i < len(lines):
        line = lines[i]
        if _FENCE.match(line):
            in_fence = not in_fence
        if in_fence or not line.lstrip().startswith(">>>"):
            out.append(line)
            i += 1
            continue
        indent = line[: len(line) - len(line.lstrip())]
        block = []
        while i < len(lines) and lines[i].strip() and lines[i].startswith(indent):
            block.append(lines[i][len(indent):])
            i += 1
        out += [indent + "```pycon", *(indent + b for b in block), indent + "```"]
    return "\n".join(out)


class DoctestFences(Extension):
    def on_object(self, *, obj: Object, **kwargs) -> None:
        if obj.docstring is not None and ">>>" in obj.docstring.value:
            obj.docstring.value = fence_examples(obj.docstring.value)
