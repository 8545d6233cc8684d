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
The hook inlines the Digraph's SVG in a ``<figure class="tg-graph" data-graph="ID">``,
with a legend (what the colours, boxes and arrows mean) under it, and shows the code in
a collapsed box. The same function, :func:`render_svg`, is what the test suite runs on
every ``graph`` block (docs/conftest.py), and the browser test looks for every
``data-graph`` ID on its page.

Reading on a phone: a left-to-right drawing (``draw_dot``'s default) is also drawn top
to bottom, and the stylesheet shows that one on narrow screens when it is narrower. No
drawing is shrunk below ``MIN_SCALE`` of its size (labels stay at least 12 px): one that
would have to be scrolls sideways inside its figure, never the page.
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

CODE_TITLE = {"en": "Code that drew this graph", "zh": "绘制此图示的代码"}

#: The smallest scale a drawing is shown at: 12 pt labels (16 px) never fall below 12 px.
MIN_SCALE = 0.75

# What the pictures' colours mean: Graphviz's colour names (engine.viz) as CSS colours.
_CSS_COLOR = {"lightblue": "#add8e6", "darkolivegreen1": "#caff70", "lightgrey": "#d3d3d3",
              "orange": "#ffa500", "white": "#ffffff", "lightyellow": "#ffffe0"}

LEGEND_TITLE = {"en": "How to read this picture", "zh": "如何阅读此图示"}
# (colour name, dashed?, ellipse?, text) per entry; arrows last.
LEGEND = {
    ("backward", "en"): [
        ("lightgrey", False, False, "a node of the backward graph (a <code>grad_fn</code>), named by <code>name()</code>"),
        ("lightblue", False, False, "a leaf that requires grad: its name and value; its <code>AccumulateGrad</code> node is below it"),
        ("darkolivegreen1", False, False, "an output: its name and value"),
        ("orange", False, False, "a value a node saved for its backward"),
        ("white", True, False, "a saved value already freed by a backward without <code>retain_graph</code>"),
        (None, False, False, "arrows run from each node's <code>next_functions</code> to it: from the inputs towards the output, the opposite of the way gradients flow"),
    ],
    ("backward", "zh"): [
        ("lightgrey", False, False, "反向计算图的一个节点（<code>grad_fn</code>），以 <code>name()</code> 命名"),
        ("lightblue", False, False, "需要梯度的叶子节点：名字和值；它下面是它的 <code>AccumulateGrad</code> 节点"),
        ("darkolivegreen1", False, False, "输出：名字和值"),
        ("orange", False, False, "节点为反向传播保存的值"),
        ("white", True, False, "已被一次不带 <code>retain_graph</code> 的反向传播释放的保存值"),
        (None, False, False, "箭头从每个节点的 <code>next_functions</code> 指向该节点：从输入指向输出，与梯度流动的方向相反"),
    ],
    ("forward", "en"): [
        ("lightblue", False, False, "a leaf that requires grad: name | data (its value) | grad (its <code>.grad</code>, None before a backward)"),
        ("darkolivegreen1", False, False, "an output, with its value and <code>.grad</code>"),
        ("white", False, False, "an intermediate value; grad \"-\": autograd keeps no gradient for it"),
        ("lightyellow", False, False, "a constant operand, such as the 2 of <code>x * 2</code>"),
        ("white", False, True, "the operation that made the value it points to"),
        (None, False, False, "arrows run forward: operands → operation → result"),
    ],
    ("forward", "zh"): [
        ("lightblue", False, False, "需要梯度的叶子节点：名字 | data（它的值）| grad（它的 <code>.grad</code>，反向传播之前为 None）"),
        ("darkolivegreen1", False, False, "输出，带它的值和 <code>.grad</code>"),
        ("white", False, False, "中间值；grad 为 \"-\"：autograd 不为它保留梯度"),
        ("lightyellow", False, False, "常数操作数，例如 <code>x * 2</code> 中的 2"),
        ("white", False, True, "产生箭头所指的那个值的运算"),
        (None, False, False, "箭头沿前向方向：操作数 → 运算 → 结果"),
    ],
}


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
        _SVG_CACHE[key] = _clean(digraph.pipe(format="svg", encoding="utf-8"), graph_id)
    return _SVG_CACHE[key]


def _clean(svg: str, graph_id: str) -> str:
    """No XML prolog or comments, ids prefixed with ``graph_id``, an accessible name."""
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"<!--.*?-->\n?", "", svg, flags=re.S)
    svg = re.sub(r'\bid="', f'id="{graph_id}-', svg)
    return svg.replace("<svg ", f'<svg role="img" aria-label="{html.escape(graph_id)}" ', 1)


def render_narrow_svg(code: str, graph_id: str = "graph", filename: str = "<graph>") -> str | None:
    """The same drawing top to bottom, for narrow screens, if it is left to right and
    that makes it narrower; else None."""
    key = "narrow\0" + graph_id + "\0" + code
    if key not in _SVG_CACHE:
        digraph = run_graph_code(code, filename)
        narrow = None
        if digraph.graph_attr.get("rankdir") == "LR":
            wide_width = svg_size(render_svg(code, graph_id, filename))[0]
            digraph.graph_attr["rankdir"] = "TB"
            svg = _clean(digraph.pipe(format="svg", encoding="utf-8"), graph_id + "-narrow")
            if svg_size(svg)[0] < wide_width:
                narrow = svg
        _SVG_CACHE[key] = narrow
    return _SVG_CACHE[key]


def svg_size(svg: str) -> tuple[float, float]:
    """Width and height of a Graphviz SVG, in points."""
    m = re.search(r'<svg[^>]*\bwidth="([\d.]+)pt" height="([\d.]+)pt"', svg)
    return float(m.group(1)), float(m.group(2))


def _sized(svg: str) -> str:
    """``svg`` with a minimum width: never shown below MIN_SCALE of its size (1 pt = 4/3 px)."""
    width = svg_size(svg)[0] * 4 / 3 * MIN_SCALE
    return svg.replace("<svg ", f'<svg style="min-width: {width:.0f}px" ', 1)


def legend_html(kind: str, lang: str, saved: bool = True) -> str:
    """A collapsed legend for a ``make_dot`` ("backward") or ``draw_dot`` ("forward")
    picture; the saved-value entries only when the picture can have them (``saved``)."""
    rows = []
    for color, dashed, ellipse, text in LEGEND[(kind, lang)]:
        if kind == "backward" and not saved and (color == "orange" or dashed):
            continue
        if color is None:
            key = '<span class="tg-legend__arrow" aria-hidden="true">→</span>'
        else:
            cls = "tg-legend__key" + (" tg-legend__key--dashed" if dashed else "") + (" tg-legend__key--ellipse" if ellipse else "")
            key = f'<span class="{cls}" style="background: {_CSS_COLOR[color]}" aria-hidden="true"></span>'
        rows.append(f"<li>{key} {text}</li>")
    return (f'<details class="tg-legend" data-legend="{kind}"><summary>{LEGEND_TITLE[lang]}</summary>\n'
            f'<ul>{"".join(rows)}</ul></details>')


def _language(config) -> str:
    lang = str(config["theme"]["language"] if "theme" in config else "en")
    return "zh" if lang.startswith("zh") else "en"


def on_page_markdown(markdown, page, config, files):
    lang = _language(config)

    def render(block: mdblocks.Block) -> str:
        graph_id = block.attrs.get("id")
        if not graph_id:
            raise ValueError(f"{page.file.src_uri}:{block.line}: a graph block needs id=\"...\"")
        where = f"{page.file.src_uri}:{block.line}"
        svg = _sized(render_svg(block.source, graph_id, where))
        narrow = render_narrow_svg(block.source, graph_id, where)
        if narrow is not None:
            svg = (f'<div class="tg-graph__wide">{svg}</div>\n'
                   f'<div class="tg-graph__narrow">{_sized(narrow)}</div>')
        caption = block.attrs.get("caption", "")
        _COUNTER[0] += 1
        token = f"TGGRAPHPLACEHOLDER{_COUNTER[0]:05d}X"
        figure = (f'<figure class="tg-graph" id="graph-{html.escape(graph_id)}" '
                  f'data-graph="{html.escape(graph_id)}">\n<div class="tg-graph__drawing">{svg}</div>\n')
        if caption:
            figure += f"<figcaption>{html.escape(caption)}</figcaption>\n"
        kind = "forward" if "draw_dot(" in block.source else "backward"
        figure += legend_html(kind, lang, saved="show_saved=True" in block.source) + "\n</figure>"
        _PENDING[token] = figure
        return mdblocks.placeholder_then_code(token, CODE_TITLE[lang], block.source)

    return mdblocks.replace_blocks(markdown, "graph", render)


def on_page_content(html_text, page, config, files):
    def put(m):
        return _PENDING.pop(m.group(1))
    return re.sub(r"<p>(TGGRAPHPLACEHOLDER\d+X)</p>", put, html_text)
