"""Find the fenced code blocks of a Markdown page, and the content tab each one sits in.

One parser shared by everything that reads the docs' sources: the MkDocs hooks that
turn ``graph``/``source``/``benchmark`` blocks into pictures and code, the Sybil
configuration that runs every ``python``/``pycon`` block (docs/conftest.py), and the
tests that compare a "PyTorch" tab with its "twicegrad" tab and look for every graph
in the browser.

A block inside a content tab (``=== "PyTorch"``, pymdownx.tabbed) is indented under
its tab header; ``Block.tab`` is that header's label and ``Block.group`` identifies the
run of tab headers (the tab group) it belongs to.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository


def use_checkout() -> None:
    """Import the engine from this checkout, installed or not (MkDocs resets
    sys.path after loading hooks, so the hooks call this when they run)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\n]*?)[ \t]*$")
TAB = re.compile(r'^(?P<indent>[ \t]*)===\+?[ \t]+"(?P<label>[^"]*)"')
ATTR = re.compile(r'(?P<key>[\w-]+)="(?P<value>[^"]*)"')


@dataclass
class Block:
    language: str            # first word of the info string ("pycon", "graph", ...)
    attrs: dict[str, str]    # key="value" pairs after it
    source: str              # the content, with the block's indentation removed
    start: int               # offset of the opening fence's line in the page
    end: int                 # offset just past the closing fence's line
    line: int                # 1-based line number of the opening fence
    indent: str              # the indentation of the fences
    content_line: int = 0    # 1-based line number of the first content line
    tab: str | None = None   # label of the content tab holding the block, if any
    group: int | None = None  # line number of the first tab header of that tab group
    content_offsets: list[int] = field(default_factory=list)  # page offset of each content line


TORCH_LABEL = "PyTorch"
ENGINE_LABEL = "twicegrad"
#: Tab labels (or title prefixes) whose blocks run in a namespace of their own.
OTHER_LABELS = {"PyTorch": "torch", "micrograd": "micrograd"}


def namespace_of(block: Block) -> str:
    """Which namespace of its page a block runs in: "torch", "micrograd" or "engine".

    A block runs with the PyTorch code when it sits in a "PyTorch" content tab or its
    title says so (```` ```pycon title="PyTorch" ````), likewise for micrograd; every
    other block runs with the engine code.
    """
    title = block.attrs.get("title", "")
    for label, space in OTHER_LABELS.items():
        if block.tab == label or title.startswith(label):
            return space
    return "engine"


def _indent_width(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _tab_of(lines: list[str], fence_line: int, indent: int) -> tuple[str | None, int | None]:
    """The tab header that encloses line ``fence_line`` (0-based), and its group id."""
    current = indent
    for i in range(fence_line - 1, -1, -1):
        text = lines[i]
        if not text.strip():
            continue
        width = _indent_width(text)
        if width >= current:
            continue
        m = TAB.match(text)
        if m is None:
            return None, None
        return m.group("label"), _group_of(lines, i)
    return None, None


def _group_of(lines: list[str], header_line: int) -> int:
    """1-based line number of the first tab header in the run holding ``header_line``."""
    width = _indent_width(lines[header_line])
    first = header_line
    for i in range(header_line - 1, -1, -1):
        text = lines[i]
        if not text.strip() or _indent_width(text) > width:
            continue
        if _indent_width(text) == width and TAB.match(text):
            first = i
            continue
        break
    return first + 1


def iter_blocks(text: str) -> list[Block]:
    """Every fenced code block of ``text``, in order (blocks nested in blocks are not looked at)."""
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    stripped = [line.rstrip("\n").rstrip("\r") for line in lines]
    blocks: list[Block] = []
    i = 0
    while i < len(stripped):
        m = FENCE.match(stripped[i])
        if m is None:
            i += 1
            continue
        indent, fence, info = m.group("indent"), m.group("fence"), m.group("info")
        close = None
        for j in range(i + 1, len(stripped)):
            c = FENCE.match(stripped[j])
            if (c is not None and not c.group("info") and c.group("fence")[0] == fence[0]
                    and len(c.group("fence")) >= len(fence)
                    and _indent_width(c.group("indent")) <= len(indent) + 3
                    and _indent_width(c.group("indent")) >= len(indent)):
                close = j
                break
        if close is None:  # an unclosed fence runs to the end of the page
            close = len(stripped)
        content = []
        content_offsets = []
        for k in range(i + 1, close):
            line = stripped[k]
            cut = 0
            while cut < len(indent) and cut < len(line) and line[cut] in " \t":
                cut += 1
            content.append(line[cut:])
            content_offsets.append(offsets[k] + cut)
        words = info.split(None, 1)
        language = words[0].lstrip("{.").rstrip("}") if words else ""
        attrs = {a.group("key"): a.group("value") for a in ATTR.finditer(words[1] if len(words) > 1 else "")}
        tab, group = _tab_of(stripped, i, len(indent)) if indent else (None, None)
        blocks.append(Block(
            language=language,
            attrs=attrs,
            source="\n".join(content) + ("\n" if content else ""),
            start=offsets[i],
            end=offsets[min(close + 1, len(lines))],
            line=i + 1,
            indent=indent,
            content_line=i + 2,
            tab=tab,
            group=group,
            content_offsets=content_offsets,
        ))
        i = close + 1
    return blocks


def tab_groups(text: str) -> dict[int, dict[str, list[Block]]]:
    """The tab groups of a page: group id -> tab label -> the blocks in that tab."""
    groups: dict[int, dict[str, list[Block]]] = {}
    for block in iter_blocks(text):
        if block.group is not None:
            groups.setdefault(block.group, {}).setdefault(block.tab, []).append(block)
    return groups


def replace_blocks(text: str, language: str, render) -> str:
    """``text`` with each block of ``language`` replaced by ``render(block)``.

    ``render`` returns Markdown lines without the block's indentation; it is added back so
    a replaced block may sit inside a content tab or an admonition.
    """
    out = []
    pos = 0
    for block in iter_blocks(text):
        if block.language != language:
            continue
        out.append(text[pos:block.start])
        rendered = render(block)
        out.append("".join(
            (block.indent + line if line.strip() else line) + "\n"
            for line in rendered.splitlines()
        ))
        pos = block.end
    out.append(text[pos:])
    return "".join(out)


# ---------------------------------------------------------------------------------
# Which engine blocks can run in the browser (the Run buttons, in Pyodide)
# ---------------------------------------------------------------------------------

#: What the browser does not have: PyTorch, processes, and the graphviz Python package
#: (a page draws with viz.js; a block that hides graphviz or Graphviz's ``dot`` shows what
#: happens without them, which in the browser is always the case).
_NOT_IN_THE_BROWSER = re.compile(r"\b(?:torch|subprocess|graphviz)\b")


def code_of(block: Block) -> str:
    """The Python a block runs: a ``pycon`` block's ``>>>``/``...`` lines, unprompted."""
    if block.language != "pycon":
        return block.source
    lines = []
    for line in block.source.splitlines():
        if line.startswith((">>> ", "... ")) or line in (">>>", "..."):
            lines.append(line[4:])
    return "\n".join(lines) + "\n"


def _names(code: str) -> tuple[set[str], set[str]]:
    """(names the code binds at its top level, every name it mentions)."""
    import ast

    mentioned = set(re.findall(r"[A-Za-z_]\w*", code))
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return mentioned, mentioned  # unreadable: assume it binds whatever it mentions
    bound = set()
    todo = list(tree.body)
    while todo:  # the module's own names: not a function's locals, not a class's attributes
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
            continue
        if isinstance(node, ast.Lambda):
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        todo.extend(ast.iter_child_nodes(node))
    return bound, mentioned


def browser_runnable(blocks: list[Block]) -> list[Block]:
    """The page's engine blocks that can run in the browser, in page order.

    A block cannot if its code needs what Pyodide lacks (torch, subprocess, graphviz), or
    mentions a name that such a block bound (a helper defined with torch, a Value a
    torch comparison made): those stay static, as PyTorch tabs are.  The runner marks
    only the others, and the tests check that each of them still prints what the page
    prints when the static ones never ran.
    """
    out, tainted = [], set()
    for block in blocks:
        if block.language not in ("pycon", "python") or namespace_of(block) != "engine":
            continue
        code = code_of(block)
        bound, mentioned = _names(code)
        if _NOT_IN_THE_BROWSER.search(code) or mentioned & tainted:
            tainted |= bound
        else:
            out.append(block)
    return out


def placeholder_then_code(token: str, title: str, source: str) -> str:
    """Markdown for a drawn block: the figure's placeholder ``token`` (swapped for the
    figure's HTML after rendering) and, under it, the block's code in a collapsed box."""
    code = source.rstrip("\n")
    return "\n".join([
        "",
        token,
        "",
        f'??? example "{title}"',
        "",
        "    ```python",
        *("    " + line if line else "" for line in code.split("\n")),
        "    ```",
        "",
    ])
