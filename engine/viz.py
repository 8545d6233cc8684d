"""Pictures of a graph: ``make_dot`` (the backward graph) and ``draw_dot`` (the forward one).

``make_dot`` draws what autograd will walk, as torchviz does for PyTorch: one box per
``grad_fn`` node, named by ``name()``; a blue box for each leaf, above its
``AccumulateGrad``; a green box for each output; with ``show_saved=True`` an orange box
for each value a node saved for its backward (a dashed white one once a backward
without ``retain_graph`` has freed it).  A gradient built with ``create_graph=True`` is
an ordinary output with its own ``grad_fn``, so drawing it shows that it is a function
of the parameters.

``draw_dot`` draws the forward computation micrograd-style: a record
``name | data | grad`` per value with the op that made it in between.  The engine keeps
no forward links, so the picture is read off the backward graph: each non-leaf's op is
its ``grad_fn`` and its inputs are ``next_functions``.

Both walk the graph with an explicit queue (a 100,000-node graph is fine), draw at most
``max_nodes`` nodes and sum up the rest in one "... N more nodes" box, and return a
``graphviz.Digraph``; ``render_svg`` turns one into SVG text.  graphviz is imported on
first use, and its absence (or that of the ``dot`` program) is reported with what to
install.

>>> from engine import Value
>>> x = Value(2.0, requires_grad=True, name="x")
>>> dot = make_dot(x * x + 1)
>>> [n for n in ("AddBackward0", "MulBackward0", "AccumulateGrad", "x") if n in dot.source]
['AddBackward0', 'MulBackward0', 'AccumulateGrad', 'x']
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence, Union

from . import full_walk as _full_walk
from .captions import capped_note as _capped
from .captions import describe as _describe
from .captions import number_text as _num
from . import events as _events
from .value import AccumulateGrad, Value

if TYPE_CHECKING:  # pragma: no cover - only for the type checker
    import graphviz

__all__ = ["make_dot", "draw_dot", "render_svg", "set_renderer", "record_backward", "Trace", "MAX_NODES"]

#: How many graph nodes a drawing shows before it sums up the rest.
MAX_NODES = 300

# Fill colours (Graphviz names), as torchviz uses them; tests look for them in the SVG.
OUTPUT_COLOR = "darkolivegreen1"  # an output Value
LEAF_COLOR = "lightblue"  # a leaf that requires grad
SAVED_COLOR = "orange"  # a value saved for backward
FREED_COLOR = "white"  # a saved value already freed (drawn dashed)
FN_COLOR = "lightgrey"  # a grad_fn node
VALUE_COLOR = "white"  # an intermediate value (draw_dot)
CONST_COLOR = "lightyellow"  # a constant operand (draw_dot)
MORE_COLOR = "gainsboro"  # the "... N more nodes" summary

#: The one font of both drawings: monospace (Graphviz measures it with fontconfig, a
#: browser draws its own monospace), 12 pt, which is 16 px, body-text size, when the
#: SVG is shown at its own size.
FONT = {"fontname": "monospace", "fontsize": "12"}

Outputs = Union[Value, Sequence[Value]]


# ---------------------------------------------------------------------------------
# graphviz, imported on first use
# ---------------------------------------------------------------------------------

def _graphviz():
    try:
        import graphviz
    except ImportError as exc:
        if _renderer is not None:  # in a browser: DOT text is built here, drawn by the renderer
            return _DotText
        raise ImportError("engine.viz needs the graphviz Python package: pip install graphviz") from exc
    return graphviz


def render_svg(digraph: graphviz.Digraph) -> str:
    """The SVG text of ``digraph``, drawn by Graphviz's ``dot`` program.

    Raises ``RuntimeError`` saying what to install when ``dot`` is not on PATH.

    >>> svg = render_svg(make_dot(Value(2.0, requires_grad=True) * 3))
    >>> svg.lstrip().startswith("<?xml") and "MulBackward0" in svg
    True
    """
    if _renderer is not None:
        return _renderer(digraph.source)
    gv = _graphviz()
    try:
        return digraph.pipe(format="svg", encoding="utf-8")
    except gv.ExecutableNotFound as exc:
        raise RuntimeError(
            "engine.viz needs Graphviz's `dot` program to render, and it was not found on PATH: "
            "install the graphviz system package (Debian/Ubuntu: sudo apt-get install graphviz; "
            "macOS: brew install graphviz)"
        ) from exc


# ---------------------------------------------------------------------------------
# Labels: user text cannot break the DOT source
# ---------------------------------------------------------------------------------

def _escape(text: str) -> str:
    """``text`` for a quoted DOT label: backslashes, quotes and newlines are literal."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_field(text: str) -> str:
    """``text`` for one field of a record label, where ``{ } | < >`` are syntax too."""
    text = _escape(text)
    for ch in "{}|<>":
        text = text.replace(ch, "\\" + ch)
    return text


def _label(*lines: str):
    """A plain (never HTML) label of escaped lines."""
    return _graphviz().nohtml("\\n".join(_escape(line) for line in lines if line))


def _short(x) -> str:
    """A number in a make_dot box: ints as they are, floats to 4 significant digits."""
    if x.__class__ is Value:
        x = x.data
    if isinstance(x, int):
        return str(x)
    return format(x, "#.4g") if x == x and abs(x) != float("inf") else str(x)


def _fixed(x) -> str:
    """A number in a draw_dot record, micrograd's ``%.4f`` (scientific when that hides it)."""
    if x.__class__ is Value:
        x = x.data
    x = float(x)
    if x != x or abs(x) == float("inf"):
        return str(x)
    if x != 0 and not 1e-4 <= abs(x) < 1e9:
        return format(x, ".4e")
    return format(x, ".4f")


# ---------------------------------------------------------------------------------
# The walk: iterative, nearest nodes first, at most max_nodes of them drawn
# ---------------------------------------------------------------------------------

def _is_leaf_node(fn) -> bool:
    return fn.__class__ is AccumulateGrad


def _key(fn) -> str:
    # AccumulateGrad views may be rebuilt on each access: key them by their leaf.
    return f"acc{id(fn.variable)}" if _is_leaf_node(fn) else f"fn{id(fn)}"


class _Graph:
    """The nodes reachable from some grad_fns, breadth first (nearest the outputs
    first).  The first ``max_nodes`` are shown, the rest only counted.  It holds every
    node it met, so no id is reused while a drawing is made."""

    def __init__(self, roots, max_nodes: int):
        self.max_nodes = max_nodes
        self.shown = []  # the nodes to draw
        self.inputs = {}  # key of a shown node -> its next_functions
        self._order = {}  # key -> position in breadth-first order
        self._keep = []
        queue = deque()
        for fn in roots:
            self._visit(fn, queue)
        order = self._order
        while queue:
            fn, k = queue.popleft()
            edges = fn.next_functions
            if order[k] < max_nodes:
                self.shown.append(fn)
                self.inputs[k] = edges
            for child, _nr in edges:
                if child is not None:
                    self._visit(child, queue)
        self.hidden = max(0, len(order) - max_nodes)

    def _visit(self, fn, queue) -> None:
        k = _key(fn)
        if k not in self._order:
            self._order[k] = len(self._order)
            self._keep.append(fn)
            queue.append((fn, k))

    def is_shown(self, fn) -> bool:
        return self._order[_key(fn)] < self.max_nodes


def _outputs(outputs, who: str) -> list:
    if isinstance(outputs, Value):
        return [outputs]
    if isinstance(outputs, (list, tuple)):
        if not outputs:
            raise ValueError(f"{who}: outputs is empty; pass a Value or a sequence of Values")
        for i, v in enumerate(outputs):
            if not isinstance(v, Value):
                raise TypeError(f"{who}: element {i} of outputs must be a Value, got {type(v).__name__}")
        return list(outputs)
    raise TypeError(f"{who}: outputs must be a Value or a sequence of Values, got {type(outputs).__name__}")


def _names(params, who: str) -> dict:
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise TypeError(f"{who}: params must be a dict of name -> Value, got {type(params).__name__}")
    for k, v in params.items():
        if not isinstance(v, Value):
            raise TypeError(f"{who}: params[{k!r}] must be a Value, got {type(v).__name__}")
    return {id(v): str(k) for k, v in params.items()}


def _max_nodes(max_nodes) -> int:
    if isinstance(max_nodes, bool) or not isinstance(max_nodes, int) or max_nodes < 1:
        raise ValueError(f"max_nodes must be a positive int, got {max_nodes!r}")
    return max_nodes


class _Freed:
    """Stands for a saved value that a backward without retain_graph freed."""

    def __repr__(self) -> str:
        return "FREED"


FREED = _Freed()


def _saved(fn) -> list:
    """``[(name, value)]`` saved by ``fn`` for backward; value is ``FREED`` once freed."""
    if getattr(type(fn), "saved_tensors", None) is not None:  # a custom Function's ctx
        try:
            return [(f"saved_tensors[{i}]", v) for i, v in enumerate(fn.saved_tensors)]
        except RuntimeError:  # freed: "Trying to backward through the graph a second time"
            return [("saved_tensors", FREED)]
    out = []
    for name in getattr(fn, "_saved_names", ()):  # shown as torch names them: _saved_self ...
        try:
            out.append(("_saved_" + name, getattr(fn, "_saved_" + name)))
        except RuntimeError:
            out.append(("_saved_" + name, FREED))
    return out


def _more(dot, count: int) -> str:
    dot.node("more", _label(f"... {count} more node{'s' if count != 1 else ''}"),
             fillcolor=MORE_COLOR, shape="note", style="filled")
    return "more"


# ---------------------------------------------------------------------------------
# make_dot: the backward graph, as torchviz draws it
# ---------------------------------------------------------------------------------

def make_dot(outputs: Outputs, params: Optional[Mapping[str, Value]] = None, show_saved: bool = False,
             *, max_nodes: int = MAX_NODES) -> graphviz.Digraph:
    """Draw the backward graph behind ``outputs`` (a Value or a sequence of Values).

    Grey boxes are ``grad_fn`` nodes, labelled with ``name()``; as in torchviz, edges
    run from each node's ``next_functions`` to it (from the inputs towards the
    outputs).  A leaf that requires grad is a blue box above its ``AccumulateGrad``,
    labelled with its name from ``params`` (``{name: Value}``), else its ``.name``,
    and its value.  Outputs are green (a leaf output stays blue, with a thick border).
    A non-leaf Value named in ``params`` labels the edges that carry it.
    ``show_saved=True`` adds, per node, an orange box for each value it saved for
    backward, named as torch's attributes are (``_saved_self``); white and dashed,
    labelled "freed", once a backward without ``retain_graph`` has freed it.  Past
    ``max_nodes`` graph nodes the rest is summed up in one "... N more nodes" box.

    >>> from engine import Value, grad
    >>> w = Value(3.0, requires_grad=True)
    >>> loss = (w * w).sin()
    >>> dl_dw, = grad(loss, w, create_graph=True)      # cos(w*w) * 2w: a function of w
    >>> dot = make_dot(dl_dw, params={"w": w})
    >>> "CosBackward0" in dot.source and "w\\\\n3.000" in dot.source
    True
    >>> y = w.exp(); y.backward()                        # frees ExpBackward0's saved result
    >>> "freed" in make_dot(y, show_saved=True).source
    True
    """
    outs = _outputs(outputs, "make_dot")
    names = _names(params, "make_dot")
    max_nodes = _max_nodes(max_nodes)
    gv = _graphviz()
    dot = gv.Digraph(
        node_attr=dict(style="filled", shape="box", align="left", ranksep="0.1",
                       height="0.2", fillcolor=FN_COLOR, **FONT),
        graph_attr=dict(size="12,12"),
    )

    def value_label(v: Value, name: str = "") -> Any:
        return _label(name or names.get(id(v)) or v.name or "", _short(v))

    drawn_values = set()
    roots = [v.grad_fn for v in outs if v.grad_fn is not None]
    graph = _Graph(roots, max_nodes)
    # A non-leaf named in params labels the edges that carry it to the nodes that use it.
    edge_names = {(_key(v.grad_fn), v.output_nr): str(k) for k, v in (params or {}).items()
                  if v.grad_fn is not None and not _is_leaf_node(v.grad_fn)}

    for v in outs:
        vid = f"v{id(v)}"
        if vid in drawn_values:
            continue
        drawn_values.add(vid)
        color = LEAF_COLOR if v.is_leaf and v.requires_grad else OUTPUT_COLOR
        dot.node(vid, value_label(v), fillcolor=color, penwidth="2")
        if v.grad_fn is not None:
            dot.edge(_key(v.grad_fn), vid)

    more = None
    for fn in graph.shown:
        key = _key(fn)
        if _is_leaf_node(fn):
            var = fn.variable
            vid = f"v{id(var)}"
            if vid not in drawn_values:
                drawn_values.add(vid)
                dot.node(vid, value_label(var), fillcolor=LEAF_COLOR)
            dot.edge(vid, key)
            dot.node(key, _label("AccumulateGrad"))
            continue
        dot.node(key, _label(fn.name()))
        for child, _nr in graph.inputs[key]:
            if child is None:
                continue
            if graph.is_shown(child):
                carried = edge_names.get((_key(child), _nr))
                if carried is None:
                    dot.edge(_key(child), key)
                else:
                    dot.edge(_key(child), key, label=_escape(carried), **FONT)
            else:
                if more is None:
                    more = _more(dot, graph.hidden)
                dot.edge(more, key)
        if show_saved:
            for i, (name, value) in enumerate(_saved(fn)):
                if value is None:
                    continue
                sid = f"s{id(fn)}_{i}"
                if value is FREED:
                    dot.node(sid, _label(name, "freed"), fillcolor=FREED_COLOR, style="filled,dashed")
                else:
                    dot.node(sid, _label(name, _short(value)), fillcolor=SAVED_COLOR)
                dot.edge(sid, key, dir="none")
    return dot


# ---------------------------------------------------------------------------------
# draw_dot: the forward graph, as micrograd draws it
# ---------------------------------------------------------------------------------

#: How each op computes its output from its operands, to recover an intermediate's
#: number when nothing saved it (the engine keeps no forward links).
_FORWARD: dict[str, Callable[..., Value]] = {
    "AddBackward0": lambda a, b: a + b,
    "SubBackward0": lambda a, b: a - b,
    "MulBackward0": lambda a, b: a * b,
    "DivBackward0": lambda a, b: a / b,
    "PowBackward0": lambda a, n: a ** n,
    "PowBackward1": lambda a, b: a ** b,
    "PowBackward2": lambda c, a: c ** a,
    "RsubBackward1": lambda c, a: c - a,
    "NegBackward0": lambda a: -a,
    "ReciprocalBackward0": lambda a: 1.0 / a,
    "AbsBackward0": abs,
    "CopyBackwards": lambda a: a,
    **{f"{op.capitalize()}Backward0": (lambda op: lambda a: getattr(a, op)())(op)  # noqa: B023 (op bound by the call)
       for op in ("exp", "log", "tanh", "sigmoid", "relu", "sin", "cos", "sinh", "cosh", "sqrt")},
}

#: Ops that save their operands: which saved name holds operand i (a number when it
#: is a constant, so the picture can show it).
_OPERANDS = {
    "MulBackward0": ("self", "other"),
    "DivBackward0": ("self", "other"),
    "PowBackward1": ("self", "exponent"),
}

_UNKNOWN = object()


def _operands(fn, saved: dict) -> list:
    """``[(node_or_None, nr, number)]``: the op's operands in order, constants included
    (``node`` None, ``number`` their value or ``_UNKNOWN``)."""
    edges = fn.next_functions
    name = fn.name()

    def constant(slot):
        value = saved.get("_saved_" + slot, _UNKNOWN)
        return value if isinstance(value, (int, float)) else _UNKNOWN

    if name == "PowBackward0":  # a ** n
        return [(*edges[0], _UNKNOWN), (None, 0, constant("exponent"))]
    if name == "PowBackward2":  # c ** a
        return [(None, 0, constant("self")), (*edges[0], _UNKNOWN)]
    if name == "RsubBackward1":  # c - a: c is not kept
        return [(None, 0, _UNKNOWN), (*edges[0], _UNKNOWN)]
    slots = _OPERANDS.get(name, ())
    return [(child, nr, constant(slots[i]) if child is None and i < len(slots) else _UNKNOWN)
            for i, (child, nr) in enumerate(edges)]


def draw_dot(outputs: Outputs, params: Optional[Mapping[str, Value]] = None, *,
             max_nodes: int = MAX_NODES, rankdir: str = "LR") -> graphviz.Digraph:
    """Draw the forward computation of ``outputs`` micrograd-style.

    Each value is a record ``name | data 2.0000 | grad 1.0000``, and each op an ellipse
    between its operands and its result.  Names come from ``params`` (``{name: Value}``)
    or ``.name``.  Leaves (blue) and outputs (green) show their ``.grad`` (``None``
    until a backward fills it); an intermediate value shows "grad -" since, as in
    torch, the engine keeps no gradient for it.  The engine keeps no forward links,
    so the picture is read off the backward graph: an op is its ``grad_fn``'s name
    without ``Backward0``, its operands ``next_functions``; an intermediate's number
    comes from a saved value or is recomputed from its operands ("?" when it cannot
    be, e.g. ``x + 3`` after a backward freed the graph: the 3 is not kept).

    >>> from engine import Value
    >>> a, b = Value(2.0, requires_grad=True, name="a"), Value(-3.0, requires_grad=True, name="b")
    >>> c = a * b; c.backward()
    >>> src = draw_dot(c, params={"c": c}).source
    >>> "a | data 2.0000 | grad -3.0000" in src and "c | data -6.0000 | grad None" in src
    True
    """
    outs = _outputs(outputs, "draw_dot")
    names = _names(params, "draw_dot")
    max_nodes = _max_nodes(max_nodes)
    gv = _graphviz()
    dot = gv.Digraph(graph_attr=dict(rankdir=rankdir), node_attr=dict(FONT))

    graph = _Graph([v.grad_fn for v in outs if v.grad_fn is not None], max_nodes)
    ops = [fn for fn in graph.shown if not _is_leaf_node(fn)]
    saved = {_key(fn): dict(_saved(fn)) for fn in ops}
    operands = {_key(fn): _operands(fn, saved[_key(fn)]) for fn in ops}

    # Output nr of a node, as (key, nr): its number, its name, and which nrs are used.
    data, named, used = {}, {}, {}
    for v in outs + list(params.values() if params else ()):
        if v.grad_fn is not None:
            data[(_key(v.grad_fn), v.output_nr)] = v.data
            named.setdefault((_key(v.grad_fn), v.output_nr), names.get(id(v)) or v.name or "")
    for v in outs:
        if v.grad_fn is not None:
            used.setdefault(_key(v.grad_fn), set()).add(v.output_nr)
    for fn in ops:
        for value in saved[_key(fn)].values():
            if isinstance(value, Value) and value.grad_fn is not None:
                data.setdefault((_key(value.grad_fn), value.output_nr), value.data)
        for child, nr, _ in operands[_key(fn)]:
            if child is not None and not _is_leaf_node(child):
                used.setdefault(_key(child), set()).add(nr)
    for fn in sorted(ops, key=lambda n: n._sequence_nr()):  # creation order: operands first
        key = _key(fn)
        formula = _FORWARD.get(fn.name())
        if formula is None or (key, 0) in data:
            continue
        args = []
        for child, nr, number in operands[key]:
            if child is None:
                args.append(number)
            elif _is_leaf_node(child):
                args.append(child.variable.data)
            else:
                args.append(data.get((_key(child), nr), _UNKNOWN))
        if all(a is not _UNKNOWN for a in args):
            data[(key, 0)] = formula(*(Value(a) for a in args)).data

    drawn = set()

    def record(rid: str, name: str, number, grad: str, color: str, **attrs) -> None:
        drawn.add(rid)
        shown = "?" if number is _UNKNOWN else _fixed(number)
        fields = " | ".join(_escape_field(f) for f in (name, f"data {shown}", f"grad {grad}"))
        dot.node(rid, gv.nohtml("{ " + fields + " }"), shape="record", style="filled",
                 fillcolor=color, **attrs)

    def grad_text(v: Value) -> str:
        if not (v.is_leaf or v.retains_grad):
            return "None"  # what .grad gives for a non-leaf (torch warns about it)
        return "None" if v.grad is None else _fixed(v.grad)

    def value_id(fn, nr) -> str:
        return f"v{id(fn.variable)}" if _is_leaf_node(fn) else f"out{id(fn)}_{nr}"

    for v in outs:
        rid = value_id(v.grad_fn, v.output_nr) if v.grad_fn is not None else f"v{id(v)}"
        if rid not in drawn:
            color = LEAF_COLOR if v.is_leaf and v.requires_grad else OUTPUT_COLOR
            record(rid, names.get(id(v)) or v.name or "", v.data, grad_text(v), color, penwidth="2")

    more = None
    for fn in graph.shown:
        if _is_leaf_node(fn):
            var = fn.variable
            if f"v{id(var)}" not in drawn:
                record(f"v{id(var)}", names.get(id(var)) or var.name or "", var.data, grad_text(var), LEAF_COLOR)
            continue
        key = _key(fn)
        op = f"op{id(fn)}"
        dot.node(op, _label(_op_name(fn.name())), shape="ellipse")
        for nr in sorted(used.get(key, {0})):
            rid = value_id(fn, nr)
            if rid not in drawn:
                record(rid, named.get((key, nr), ""), data.get((key, nr), _UNKNOWN), "-", VALUE_COLOR)
            dot.edge(op, rid)
        for i, (child, nr, number) in enumerate(operands[key]):
            if child is None:
                cid = f"c{id(fn)}_{i}"
                record(cid, "constant", number, "-", CONST_COLOR)
                dot.edge(cid, op)
            elif graph.is_shown(child):
                dot.edge(value_id(child, nr), op)
            else:
                if more is None:
                    more = _more(dot, graph.hidden)
                dot.edge(more, op)
    return dot


def _op_name(name: str) -> str:
    """``MulBackward0`` -> ``Mul``, ``CubeBackward`` -> ``Cube``: the op a node undoes."""
    for suffix in ("Backward0", "Backward1", "Backward2", "Backwards", "Backward"):
        if name.endswith(suffix) and name != suffix:
            return name[: -len(suffix)]
    return name


# ---------------------------------------------------------------------------------
# A renderer hook: drawing where there is no Graphviz (the docs' Run buttons, Pyodide)
# ---------------------------------------------------------------------------------

_renderer: Optional[Callable[[str], str]] = None


def set_renderer(render: Optional[Callable[[str], str]]) -> None:
    """Draw with ``render(dot_source) -> svg_text`` instead of Graphviz's ``dot`` program.

    The docs site sets it in the browser, where ``render`` is @viz-js/viz (Graphviz as
    WebAssembly).  While a renderer is set, ``render_svg`` calls it, and ``make_dot`` and
    ``draw_dot`` work without the graphviz Python package too: they then return a small
    stand-in that has the same ``source``, ``node``/``edge`` and ``pipe``.
    ``set_renderer(None)`` goes back to Graphviz.

    >>> set_renderer(lambda source: f"<svg><!-- {len(source)} chars of DOT --></svg>")
    >>> render_svg(make_dot(Value(2.0, requires_grad=True) * 3)).startswith("<svg>")
    True
    >>> set_renderer(None)
    """
    global _renderer
    if render is not None and not callable(render):
        raise TypeError(f"set_renderer: render must be callable or None, got {type(render).__name__}")
    _renderer = render


def _quote(text: str) -> str:
    # Labels are escaped by _label/_escape_field already; every other value is plain.
    return f'"{text}"'


def _attrs(attrs: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={_quote(str(v))}" for k, v in attrs.items() if v is not None)


class _DotDigraph:
    """What make_dot/draw_dot use of ``graphviz.Digraph``, writing the same DOT text."""

    def __init__(self, node_attr: Optional[Mapping[str, Any]] = None,
                 graph_attr: Optional[Mapping[str, Any]] = None,
                 edge_attr: Optional[Mapping[str, Any]] = None):
        self.body = []
        if graph_attr:
            self.body.append(f"\tgraph [{_attrs(graph_attr)}]")
        if node_attr:
            self.body.append(f"\tnode [{_attrs(node_attr)}]")
        if edge_attr:
            self.body.append(f"\tedge [{_attrs(edge_attr)}]")

    def node(self, name: str, label: Optional[str] = None, **attrs: Any) -> None:
        self.body.append(f"\t{_quote(name)} [{_attrs(dict(label=label, **attrs))}]")

    def edge(self, tail: str, head: str, **attrs: Any) -> None:
        extra = f" [{_attrs(attrs)}]" if attrs else ""
        self.body.append(f"\t{_quote(tail)} -> {_quote(head)}{extra}")

    @property
    def source(self) -> str:
        return "digraph {\n" + "".join(line + "\n" for line in self.body) + "}\n"

    def pipe(self, format: str = "svg", encoding: Optional[str] = None):
        if format != "svg" or _renderer is None:
            raise RuntimeError("without Graphviz, only pipe(format='svg') with a renderer set works")
        svg = _renderer(self.source)
        return svg if encoding else svg.encode("utf-8")

    def _repr_image_svg_xml(self) -> str:  # what notebooks (and the docs' runner) display
        return render_svg(self)


class _DotText:
    """Stands for the graphviz module while a renderer is set and graphviz is missing."""

    Digraph = _DotDigraph
    ExecutableNotFound = RuntimeError

    @staticmethod
    def nohtml(text: str) -> str:
        return text


# ---------------------------------------------------------------------------------
# record_backward: the real walk, step by step
# ---------------------------------------------------------------------------------

class Trace(Sequence):
    """The events of the backward walks run inside one ``record_backward`` block, in
    order (``engine.events`` defines them).  A read-only sequence."""

    def __init__(self) -> None:
        self._events: list = []

    def __len__(self) -> int:
        return len(self._events)

    def __getitem__(self, i):
        return self._events[i]

    def __repr__(self) -> str:
        return f"<Trace of {len(self._events)} events>"


@contextmanager
def record_backward() -> Iterator[Trace]:
    """Record what every backward walk run by this thread inside the block does.

    The walk itself reports each step (``engine.events``: a node starts, a gradient
    is delivered or summed, a hook fires, a leaf's ``.grad`` is accumulated, saved
    values are freed, create_graph records a node, a node raises).  Other threads'
    walks are not recorded; outside the block nothing is, and nothing costs more.

    >>> from engine import Value
    >>> x = Value(3.0, requires_grad=True, name="x")
    >>> y = x * x
    >>> with record_backward() as trace:
    ...     y.backward()
    >>> [(type(e).__name__, getattr(e, "grad", None)) for e in trace][:4]
    [('Seed', 1.0), ('NodeStart', 1.0), ('Freed', None), ('Deliver', 3.0)]
    >>> trace[5]
    Sum(target=Value(3.0, requires_grad=True), old=3.0, added=3.0, total=6.0)
    """
    trace = Trace()
    append = trace._events.append
    outer = _full_walk.set_observer(None)
    observer: Callable[[Any], None] = append
    if outer is not None:  # a block inside another: both see the events
        def both(event) -> None:
            outer(event)
            append(event)
        observer = both
    _full_walk.set_observer(observer)
    try:
        yield trace
    finally:
        _full_walk.set_observer(outer)


# ---------------------------------------------------------------------------------
# The player: one picture and one caption (English and Chinese) per step of a trace
# ---------------------------------------------------------------------------------

#: How many steps a player shows before it stops and says how many it left out.
MAX_STEPS = 40

CURRENT_COLOR = "gold"  # the node running in this step
DONE_COLOR = "gainsboro"  # a node that has run
ERROR_COLOR = "salmon"  # a node that raised
NEW_COLOR = "palegreen"  # a node a create_graph backward recorded


class Step:
    """One step of a player: the events it covers and its caption in each language."""

    def __init__(self, events: list, index: int):
        self.events = events
        self.index = index  # how many events came before it
        self.caption = {"en": "", "zh": ""}


def _group(trace) -> list:
    """Cut a trace into steps: the seeds of a call; a node's run with what it sent,
    summed, freed and recorded; a hook; a leaf's accumulation; an error."""
    steps: list = []
    current: list = []
    for i, e in enumerate(trace):
        kind = type(e)
        joins = bool(current) and (
            (kind is _events.Seed and type(current[0]) is _events.Seed)
            or (kind in (_events.Deliver, _events.Sum, _events.Freed, _events.NodeCreated, _events.Raised)
                and type(current[0]) is _events.NodeStart))
        if joins:
            current.append(e)
            continue
        current = [e]
        steps.append(Step(current, i))
    return steps


class _Names:
    """Display names: a leaf's ``.name`` (else leaf1, leaf2 ...); a node's ``name()``,
    numbered (#1 oldest) when several of the picture's nodes share it."""

    def __init__(self, nodes: list, leaves: list):
        self.names: dict = {}
        count: dict = {}
        for n in nodes:
            count[n.name()] = count.get(n.name(), 0) + 1
        seen: dict = {}
        for n in sorted(nodes, key=lambda n: n._creation_nr):
            base = n.name()
            if count[base] > 1:
                seen[base] = seen.get(base, 0) + 1
                base = f"{base} #{seen[base]}"
            self.names[n] = base
        for k, leaf in enumerate(leaves, 1):
            self.names[leaf] = leaf.name or f"leaf{k}"

    def __call__(self, thing) -> str:
        return self.names.get(thing, "?")


class Player:
    """A trace cut into steps, each with a caption (``step.caption["en"]``/``["zh"]``)
    and a picture (``dot(i)``: the backward graph as it stands after step ``i``).

    Past ``max_steps`` steps the rest are left out and ``note`` says how many.

    >>> from engine import Value
    >>> x = Value(3.0, requires_grad=True, name="x"); y = Value(4.0, requires_grad=True, name="y")
    >>> with record_backward() as trace:
    ...     (x * y).backward()
    >>> p = Player(trace)
    >>> p.steps[0].caption["en"]
    'The walk starts: MulBackward0 gets the gradient 1.0.'
    >>> for part in p.steps[1].caption["en"].split("; "):
    ...     print(part)
    MulBackward0 multiplies 1.0 by the saved other = 4.0 and sends 4.0 to x
    it multiplies 1.0 by the saved self = 3.0 and sends 3.0 to y. Its saved values (self, other) are freed.
    """

    def __init__(self, trace, max_steps: int = MAX_STEPS):
        max_steps = _max_nodes(max_steps)
        steps = _group(trace)
        self.total = len(steps)
        self.steps = steps[:max_steps]
        self.note = {"en": "", "zh": ""}
        if self.total > max_steps:
            self.note = _capped(self.total, max_steps)
        events = [e for s in self.steps for e in s.events]
        nodes: dict = {}
        leaves: dict = {}

        def see(thing) -> None:
            if thing.__class__ is Value:
                leaves.setdefault(thing, None)
            elif thing is not None:
                nodes.setdefault(thing, None)

        for e in events:
            for attr in ("node", "target", "leaf"):
                see(getattr(e, attr, None))
        self.created = {e.node: e for e in events if type(e) is _events.NodeCreated}
        self.nodes = list(nodes)
        self.leaves = list(leaves)
        self.name = _Names(self.nodes, self.leaves)
        for s in self.steps:
            s.caption = _describe(s.events, self.name)

    def __len__(self) -> int:
        return len(self.steps)

    def dot(self, upto: int) -> graphviz.Digraph:
        """The picture after step ``upto`` (0-based): the backward graph, gradients
        flowing down its arrows; the current node highlighted."""
        gv = _graphviz()
        ids = {thing: f"n{i}" for i, thing in enumerate(self.nodes + self.leaves)}
        state = self._state(upto)
        dot = gv.Digraph(graph_attr=dict(rankdir="TB", nodesep="0.3", ranksep="0.45"),
                         node_attr=dict(shape="box", style="filled", fillcolor=VALUE_COLOR, **FONT),
                         edge_attr=dict(FONT))
        widths = self._widths()
        for thing in self.nodes + self.leaves:
            lines = self._lines(thing, state)
            attrs = dict(width=f"{widths[thing][0]:.2f}", height=f"{widths[thing][1]:.2f}", fixedsize="true")
            if thing.__class__ is Value:
                attrs["fillcolor"] = LEAF_COLOR
            elif thing in state["raised"]:
                attrs["fillcolor"] = ERROR_COLOR
            elif thing is state["current"]:
                attrs["fillcolor"] = CURRENT_COLOR
            elif thing in state["ran"]:
                attrs["fillcolor"] = DONE_COLOR
            elif thing in self.created:
                attrs["fillcolor"] = NEW_COLOR
            if thing is state["current"]:
                attrs["penwidth"] = "3"
            if thing in state["freed"]:
                attrs["style"] = "filled,dashed"
            if thing in self.created and thing not in state["made"]:
                attrs["style"] = "invis"
            dot.node(ids[thing], _label(*lines), **attrs)
        for n in self.nodes:
            for nr, e in enumerate(n._inputs):
                if e is None:
                    continue
                target = e.node if e.__class__ is _full_walk.OutputNr else e
                if target not in ids:
                    continue
                sent = state["sent"].get((n, nr))
                # every edge has a label of the same width, so the layout does not move
                attrs = {"label": _escape(("" if sent is None else _num(sent)).center(10))}
                if sent is not None:
                    attrs["fontcolor"] = "firebrick"
                    attrs["color"] = "firebrick"
                    attrs["penwidth"] = "2"
                hidden = (n in self.created and n not in state["made"]) or (
                    target in self.created and target not in state["made"])
                if hidden:
                    attrs["style"] = "invis"
                dot.edge(ids[n], ids[target], **attrs)
        return dot

    def export(self, lang: str = "en") -> list:
        """``[{"dot": DOT source, "caption": text}, ...]``, one per step: what a page
        script needs to draw the player itself (with @viz-js/viz, in the browser)."""
        if lang not in ("en", "zh"):
            raise ValueError(f"lang must be 'en' or 'zh', got {lang!r}")
        return [{"dot": self.dot(i).source, "caption": s.caption[lang]} for i, s in enumerate(self.steps)]

    def _state(self, upto: int) -> dict:
        state: dict = {"current": None, "ran": set(), "freed": set(), "raised": set(), "made": set(),
                       "sent": {}, "held": {}, "grad": {}, "hooked": {}}
        for k, s in enumerate(self.steps[: upto + 1]):
            for e in s.events:
                kind = type(e)
                if kind is _events.Seed:
                    if e is s.events[0]:  # a new walk: a fresh picture of gradients in flight
                        for key in ("ran", "sent", "held"):
                            state[key].clear()
                    state["held"][e.target] = e.grad
                elif kind is _events.NodeStart:
                    state["ran"].add(e.node)
                    state["held"][e.node] = e.grad
                    if k == upto:
                        state["current"] = e.node
                    state["freed"].discard(e.node)
                elif kind is _events.Deliver:
                    state["sent"][(e.node, e.input_nr)] = e.grad
                    state["held"].setdefault(e.target, e.grad)  # (a Sum event follows if it held one)
                elif kind is _events.Sum:
                    state["held"][e.target] = e.total
                elif kind is _events.Freed:
                    state["freed"].add(e.node)
                elif kind is _events.NodeCreated:
                    state["made"].add(e.node)
                elif kind is _events.Accumulate:
                    state["grad"][e.leaf] = e.new
                    state["held"].pop(e.leaf, None)
                    if k == upto:
                        state["current"] = e.leaf
                elif kind is _events.HookFired:
                    state["hooked"][e.target] = e
                    if k == upto:
                        state["current"] = e.target
                elif kind is _events.Raised:
                    state["raised"].add(e.node)
        return state

    def _lines(self, thing, state) -> list:
        name = self.name(thing)
        if thing.__class__ is Value:
            lines = [f"{name} = {_num(thing._data)}"]
            if thing in state["held"]:
                lines.append(f"arrived: {_num(state['held'][thing])}")
            grad = state["grad"].get(thing, "unset")
            lines.append(f".grad: {_num(grad) if grad != 'unset' else '...'}")
        else:
            lines = [name]
            if thing in state["held"]:
                lines.append(f"grad in: {_num(state['held'][thing])}")
            if thing in state["freed"]:
                lines.append("saved: FREED")
            elif thing in state["raised"]:
                lines.append("RuntimeError")
            else:
                saved = next((e.saved for s in self.steps for e in s.events
                              if type(e) is _events.NodeStart and e.node is thing and e.saved), ())
                if saved:
                    lines.append("saved " + ", ".join(f"{k}={_num(v)}" for k, v in saved))
        hook = state["hooked"].get(thing)
        if hook is not None:
            lines.append(f"hook ({hook.kind}) fired")
        return lines

    def _widths(self) -> dict:
        """Each box's size, the largest over all steps, so the layout stays put."""
        if not hasattr(self, "_sizes"):
            sizes: dict = {}
            for i in range(len(self.steps)):
                state = self._state(i)
                for thing in self.nodes + self.leaves:
                    lines = self._lines(thing, state)
                    w, h = sizes.get(thing, (0, 0))
                    sizes[thing] = (max(w, max(len(line) for line in lines)), max(h, len(lines)))
            self._sizes = {t: (0.3 + 0.115 * w, 0.15 + 0.24 * h) for t, (w, h) in sizes.items()}
        return self._sizes
