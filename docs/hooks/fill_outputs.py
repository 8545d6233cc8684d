"""Write the real output under every ``>>>`` line of a docs page (a tool for authors).

    .venv/bin/python docs/hooks/fill_outputs.py docs/concepts/create-graph.md [...]

Runs each page's ``pycon`` blocks the way docs/conftest.py does (PyTorch tabs in one
namespace, everything else in another, warnings printed as ``UserWarning: message``)
and rewrites the output lines in place. Read the diff before committing: the tests then
hold the page to exactly this output.
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
import traceback
import warnings
from pathlib import Path

if str(Path(__file__).resolve().parent) not in sys.path:  # for mdblocks, beside this file
    sys.path.append(str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import mdblocks

_SUFFIX = re.compile(r" \(Triggered internally at [^)]*\.\)")


def _run(source: str, namespace: dict) -> str:
    out = io.StringIO()

    def show(message, category, filename, lineno, file=None, line=None):
        print(f"{category.__name__}: {_SUFFIX.sub('', str(message))}", file=out)

    with contextlib.redirect_stdout(out), warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = show
        try:
            try:
                code = compile(source, "<doc>", "single")
            except SyntaxError:
                code = compile(source, "<doc>", "exec")
            exec(code, namespace)
        except BaseException as exc:  # shown as the page shows it
            last = traceback.format_exception_only(type(exc), exc)[-1].rstrip("\n")
            print("Traceback (most recent call last):\n  ...\n" + last, file=out)
    return out.getvalue()


def fill_block(text: str, namespace: dict) -> str:
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        if not lines[i].startswith(">>>"):
            i += 1  # old output: dropped, replaced below
            continue
        chunk = [lines[i]]
        i += 1
        while i < len(lines) and lines[i].startswith("..."):
            chunk.append(lines[i])
            i += 1
        source = "\n".join(line[4:] for line in chunk) + "\n"
        out += chunk
        result = _run(source, namespace).rstrip("\n")
        if result:
            out += ["<BLANKLINE>" if not r.strip() else r.rstrip() for r in result.split("\n")]
    return "\n".join(out) + "\n"


def fill_page(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    spaces = {k: {"__name__": "__test__"} for k in ("torch", "micrograd", "engine")}
    pieces, pos = [], 0
    for block in mdblocks.iter_blocks(text):
        if block.language == "python":
            ns = spaces[mdblocks.namespace_of(block)]
            _run(block.source, ns)
            continue
        if block.language != "pycon":
            continue
        ns = spaces[mdblocks.namespace_of(block)]
        new = fill_block(block.source, ns)
        fence_line_end = text.index("\n", block.start) + 1
        closing_start = block.start + len(text[block.start:block.end].rstrip("\n").rsplit("\n", 1)[0]) + 1
        pieces.append(text[pos:fence_line_end])
        pieces.append("".join((block.indent + line if line else "") + "\n" for line in new.rstrip("\n").split("\n")))
        pos = closing_start
    pieces.append(text[pos:])
    path.write_text("".join(pieces), encoding="utf-8")


if __name__ == "__main__":
    if not sys.argv[1:] or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        sys.exit(0)
    for name in sys.argv[1:]:
        fill_page(Path(name))
        print("filled", name)
