"""MkDocs hook: draw computation graphs with Graphviz while the site builds.

A page asks for a picture with a fenced block whose language is ``graph``::

    ```graph id="mul-backward" caption="The backward graph of z = x * y"
    from engine import Value
    from engine.viz import make_dot
    x = Value(1.0, requires_grad=True)
    z = x * 2.0
    make_dot(z, params={"x": x})
    ```

The block is ordinary Python run in a fresh namespace; its last line is an expression
that gives a ``graphviz.Digraph`` (what ``engine.viz.make_dot``/``draw_dot`` return).
The hook inlines the Digraph's SVG in a ``<figure class="tg-graph" data-graph="ID">``
and shows the code under it in a collapsed box. The same function,
:func:`render_svg`, is what the test suite runs on every ``graph`` block
(docs/conftest.py), and the browser test looks for every ``data-graph`` ID on its page.
"""

from __future__ import annotations

import ast
import html
import re
import sys
from pathlib import Path

if str(Path(__file__).resolve().parent) not in sys.path:  # for mdblocks, beside this file
    sys.path.append(str(Path(__file__).resolve().parent))
import mdblocks
from mdblocks import use_checkout

_SVG_CACHE: dict[str, str] = {}
_PENDING: dict[str, str] = {}   # placeholder token -> figure HTML
_COUNTER = [0]

CODE_TITLE = {"en": "Code that drew this graph", "zh": "绘制此图的代码"}


def run_graph_code(code: str, filename: str = "<graph>"):
    """Run a ``graph`` block and return the Digraph its last expression gives."""
    use_checkout()
    tree = ast.parse(code, filename)
    if not tree.body or not isinstance(tree.body[-1], ast.Expr):
        raise ValueError(f"{filename}: a graph block must end with an expression giving a graphviz.Digraph")
    namespace = {"__name__": "__graph__"}
    body = ast.Module(body=tree.body[:-1], type_ignores=[])
    exec(compile(body, filename, "exec"), namespace)
    digraph = eval(compile(ast.Expression(tree.body[-1].value), filename, "eval"), namespace)
    if not hasattr(digraph, "pipe") or not hasattr(digraph, "source"):
        raise TypeError(f"{filename}: a graph block must end with a graphviz.Digraph, got {type(digraph).__name__}")
    return digraph


def render_svg(code: str, graph_id: str = "graph", filename: str = "<graph>") -> str:
    """The inline SVG (no XML prolog, ids prefixed with ``graph_id``) for a ``graph`` block."""
    key = graph_id + "\0" + code
    if key not in _SVG_CACHE:
        digraph = run_graph_code(code, filename)
        svg = digraph.pipe(format="svg", encoding="utf-8")
        svg = svg[svg.index("<svg"):]
        svg = re.sub(r"<!--.*?-->\n?", "", svg, flags=re.S)
        svg = re.sub(r'\bid="', f'id="{graph_id}-', svg)
        svg = svg.replace("<svg ", f'<svg role="img" aria-label="{html.escape(graph_id)}" ', 1)
        _SVG_CACHE[key] = svg
    return _SVG_CACHE[key]


def _language(config) -> str:
    lang = str(config["theme"]["language"] if "theme" in config else "en")
    return "zh" if lang.startswith("zh") else "en"


def on_page_markdown(markdown, page, config, files):
    lang = _language(config)

    def render(block: mdblocks.Block) -> str:
        graph_id = block.attrs.get("id")
        if not graph_id:
            raise ValueError(f"{page.file.src_uri}:{block.line}: a graph block needs id=\"...\"")
        svg = render_svg(block.source, graph_id, f"{page.file.src_uri}:{block.line}")
        caption = block.attrs.get("caption", "")
        _COUNTER[0] += 1
        token = f"TGGRAPHPLACEHOLDER{_COUNTER[0]:05d}X"
        figure = (f'<figure class="tg-graph" id="graph-{html.escape(graph_id)}" '
                  f'data-graph="{html.escape(graph_id)}">\n{svg}\n')
        if caption:
            figure += f"<figcaption>{html.escape(caption)}</figcaption>\n"
        figure += "</figure>"
        _PENDING[token] = figure
        code = block.source.rstrip("\n")
        return "\n".join([
            "",
            token,
            "",
            f'??? example "{CODE_TITLE[lang]}"',
            "",
            "    ```python",
            *("    " + line if line else "" for line in code.split("\n")),
            "    ```",
            "",
        ])

    return mdblocks.replace_blocks(markdown, "graph", render)


def on_page_content(html_text, page, config, files):
    def put(m):
        return _PENDING.pop(m.group(1))
    return re.sub(r"<p>(TGGRAPHPLACEHOLDER\d+X)</p>", put, html_text)
