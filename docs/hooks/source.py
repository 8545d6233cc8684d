"""MkDocs hook: show the engine's own source on the page, read from engine/ at build time.

A fenced block whose language is ``source`` lists dotted names, one a line::

    ```source
    engine.autograd.backward
    engine.value.Value.__mul__
    ```

Each name becomes a Python code block holding that object's current source, titled with
its file and first line number, so the page cannot drift from the code. A name that no
longer resolves fails the build (and the docs tests, which resolve every name too). A
name may also be a module (``engine.grad_mode``), which shows the whole file.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
import textwrap
from pathlib import Path

if str(Path(__file__).resolve().parent) not in sys.path:  # for mdblocks, beside this file
    sys.path.append(str(Path(__file__).resolve().parent))
import mdblocks
from mdblocks import ROOT, use_checkout



def resolve(dotted: str):
    """Import the longest module prefix of ``dotted`` and walk the rest as attributes."""
    use_checkout()
    parts = dotted.split(".")
    obj = None
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError as exc:
            if exc.name is None or not ".".join(parts[:cut]).startswith(exc.name):
                raise  # the module exists but an import inside it failed
            continue
        rest = parts[cut:]
        break
    else:
        raise LookupError(f"no module in {dotted!r}")
    for name in rest:
        if isinstance(obj, type) and name in obj.__dict__:
            obj = obj.__dict__[name]
        else:
            obj = getattr(obj, name)
    if isinstance(obj, (staticmethod, classmethod)):
        obj = obj.__func__
    if isinstance(obj, property):
        obj = obj.fget
    return obj


def source_of(dotted: str) -> tuple[str, str, int]:
    """(source text, path relative to the repository, first line number) of ``dotted``."""
    obj = resolve(dotted)
    lines, first = inspect.getsourcelines(obj)
    path = Path(inspect.getsourcefile(obj)).resolve()
    try:
        rel = path.relative_to(ROOT).as_posix()
    except ValueError:
        rel = path.name
    return textwrap.dedent("".join(lines)), rel, max(first, 1)


def on_page_markdown(markdown, page, config, files):
    def render(block: mdblocks.Block) -> str:
        out = []
        for name in block.source.split():
            try:
                text, rel, first = source_of(name)
            except Exception as exc:  # fail the build, naming the page and the name
                raise RuntimeError(
                    f"{page.file.src_uri}:{block.line}: cannot show the source of {name}: {exc}") from exc
            title = f"{rel} — {name}"
            runs = [len(r) for r in re.findall(r"`{3,}", text)]
            fence = "`" * max([3] + [n + 1 for n in runs])
            out += [f'{fence}python title="{title}" linenums="{first}"', text.rstrip("\n"), fence, ""]
        return "\n".join(out)

    return mdblocks.replace_blocks(markdown, "source", render)
