"""engine.viz: real SVG drawn by Graphviz's ``dot``, read back and checked.

Each drawing is rendered with ``render_svg`` (so the ``dot`` program must be installed:
scripts/setup.sh installs the Debian package ``graphviz``), parsed as XML, and its nodes
(label lines, fill colour, dashed border) and edges are compared with what torch's
graph for the same program says: the grad_fn names and edges, which values are saved,
which are freed, and the numbers.
"""

from __future__ import annotations

import importlib
import re
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field

import pytest
import torch

import engine
import engine.viz as viz
from engine import Function, Value
from engine.viz import draw_dot, make_dot, render_svg

SVG = "{http://www.w3.org/2000/svg}"

# Fill colours as dot writes them into SVG (X11 names it does not know as SVG names
# come out in hex: darkolivegreen1 is #caff70 in the X11 colour table).
GREEN, BLUE, ORANGE, GREY, WHITE = "#caff70", "lightblue", "orange", "lightgrey", "white"


# ---------------------------------------------------------------------------------
# Reading a drawing back from its SVG
# ---------------------------------------------------------------------------------

@dataclass
class Shape:
    lines: list
    fill: str
    dashed: bool
    ellipse: bool

    @property
    def label(self) -> str:
        return "\n".join(self.lines)


@dataclass
class Drawing:
    nodes: dict = field(default_factory=dict)  # DOT id -> Shape
    edges: list = field(default_factory=list)  # (from id, to id)

    def with_fill(self, fill: str) -> dict:
        return {k: s for k, s in self.nodes.items() if s.fill == fill}

    def labels(self, fill: str) -> Counter:
        return Counter(s.label for s in self.with_fill(fill).values())

    def reachable(self, start: str, goal: str) -> bool:
        out = {}
        for a, b in self.edges:
            out.setdefault(a, []).append(b)
        stack, seen = [start], {start}
        while stack:
            n = stack.pop()
            if n == goal:
                return True
            for m in out.get(n, ()):
                if m not in seen:
                    seen.add(m)
                    stack.append(m)
        return False


def drawn(digraph) -> Drawing:
    """Render with ``dot`` and read nodes and edges back from the SVG."""
    svg = render_svg(digraph)
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    root = ET.fromstring(svg.encode("utf-8"))
    d = Drawing()
    for g in root.iter(SVG + "g"):
        title = g.find(SVG + "title")
        if g.get("class") == "node":
            shape = g.find(SVG + "polygon")
            ellipse = shape is None
            if ellipse:
                shape = g.find(SVG + "ellipse")
            lines = [t.text.strip() for t in g.iter(SVG + "text") if t.text and t.text.strip()]
            d.nodes[title.text] = Shape(lines, shape.get("fill"), shape.get("stroke-dasharray") is not None, ellipse)
        elif g.get("class") == "edge":
            a, b = title.text.split("->")
            d.edges.append((a, b))
    return d


def fn_edges(d: Drawing) -> Counter:
    """Edges between grad_fn boxes (grey, incl. AccumulateGrad) by label, as a multiset."""
    fns = d.with_fill(GREY)
    return Counter((fns[a].label, fns[b].label) for a, b in d.edges if a in fns and b in fns)


# ---------------------------------------------------------------------------------
# torch's graph, the oracle
# ---------------------------------------------------------------------------------

def T(x: float) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float64, requires_grad=True)


def torch_name(fn) -> str:
    return fn.name().rsplit("::", 1)[-1]  # torch::autograd::AccumulateGrad -> AccumulateGrad


def torch_nodes(*outputs):
    """Every grad_fn reachable from outputs, walked with an explicit stack."""
    stack = [t.grad_fn for t in outputs if t.grad_fn is not None]
    seen, order = set(), []
    while stack:
        fn = stack.pop()
        if fn in seen:
            continue
        seen.add(fn)
        order.append(fn)
        stack.extend(c for c, _ in fn.next_functions if c is not None)
    return order


def torch_edges(*outputs) -> Counter:
    return Counter((torch_name(c), torch_name(fn)) for fn in torch_nodes(*outputs)
                   for c, _ in fn.next_functions if c is not None)


def torch_saved(fn) -> dict:
    """name -> saved number, or "freed" when torch refuses to give it back."""
    out = {}
    for attr in dir(fn):
        if attr.startswith("_saved_"):
            try:
                v = getattr(fn, attr)
            except RuntimeError as exc:
                assert "Trying to backward through the graph a second time" in str(exc)
                v = "freed"
            out[attr] = v  # make_dot names them as torch does: _saved_self
    return out


def short(x) -> str:
    """How make_dot prints a number: an int as it is, a float to 4 significant digits."""
    if isinstance(x, torch.Tensor):
        x = x.detach().item()
    return str(x) if isinstance(x, int) else format(float(x), "#.4g")


# ---------------------------------------------------------------------------------
# make_dot: the backward graph
# ---------------------------------------------------------------------------------

EXPRESSIONS = [
    lambda x, y: x * y + x.sin(),
    lambda x, y: (x / y).exp() - 2 / x,
    lambda x, y: (x ** y).log() + 2 ** x + x ** 3,
    lambda x, y: ((x * x).tanh().relu() * y.sigmoid()).abs().sqrt(),
    lambda x, y: (1 - x).cosh() + (x - 1).sinh() / y.cos() - (-y),
    lambda x, y: x * 3.0 + 3.0 * y,
]


@pytest.mark.parametrize("f", EXPRESSIONS)
def test_make_dot_draws_torchs_graph(f):
    x, y = Value(0.7, requires_grad=True), Value(1.3, requires_grad=True)
    tx, ty = T(0.7), T(1.3)
    z, tz = f(x, y), f(tx, ty)
    d = drawn(make_dot(z, params={"x": x, "y": y}))

    assert fn_edges(d) == torch_edges(tz)
    assert d.labels(BLUE) == Counter({f"x\n{short(0.7)}": 1, f"y\n{short(1.3)}": 1})
    (out_id, out), = d.with_fill(GREEN).items()
    assert out.label == short(tz.item())
    # the output hangs under the root grad_fn, each leaf above its AccumulateGrad
    fns = d.with_fill(GREY)
    assert [fns[a].label for a, b in d.edges if b == out_id] == [torch_name(tz.grad_fn)]
    for leaf_id in d.with_fill(BLUE):
        assert [fns[b].label for a, b in d.edges if a == leaf_id] == ["AccumulateGrad"]


def test_make_dot_labels_leaves_by_params_then_name_then_value():
    a = Value(2.0, requires_grad=True, name="alpha")
    b = Value(-0.5, requires_grad=True)
    c = Value(4.0, requires_grad=True, name="ignored")
    z = a * b + c
    d = drawn(make_dot(z, params={"c": c, "z": z}))
    assert d.labels(BLUE) == Counter({"alpha\n2.000": 1, "-0.5000": 1, "c\n4.000": 1})
    assert d.labels(GREEN) == Counter({"z\n3.000": 1})


def torch_split():
    class Split(torch.autograd.Function):  # same class name as the engine's: same node name
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x, x * 3

        @staticmethod
        def backward(ctx, ga, gb):
            x, = ctx.saved_tensors
            return ga * 2 * x + gb * 3

    return Split


def test_make_dot_several_outputs_share_one_graph():
    class Split(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x, x * 3

        @staticmethod
        def backward(ctx, ga, gb):
            x, = ctx.saved_tensors
            return ga * 2 * x + gb * 3

    TSplit = torch_split()
    assert TSplit.__name__ == "Split"

    x, tx = Value(1.5, requires_grad=True), T(1.5)
    a, b = Split.apply(x)
    ta, tb = TSplit.apply(tx)
    p, tp = a * b, ta * tb
    d = drawn(make_dot((p, a, b), params={"x": x}))
    assert fn_edges(d) == torch_edges(tp, ta, tb)
    assert torch_name(ta.grad_fn) == "SplitBackward" == a.grad_fn.name()
    assert sorted(d.labels(GREEN)) == sorted(short(t.item()) for t in (tp, ta, tb))
    assert len(d.with_fill(BLUE)) == 1
    # a Value given twice, or a leaf given as an output, is drawn once
    d2 = drawn(make_dot([a, a, x], params={"x": x}))
    assert len(d2.with_fill(GREEN)) == 1 and d2.labels(BLUE) == Counter({"x\n1.500": 1})


def test_make_dot_create_graph_shows_the_gradient_depends_on_the_parameter():
    w, q = Value(0.8, requires_grad=True), Value(2.0, requires_grad=True)
    tw, tq = T(0.8), T(2.0)
    dl_dw, = engine.grad((w * w * q).sin(), w, create_graph=True)
    tdl_dw, = torch.autograd.grad((tw * tw * tq).sin(), tw, create_graph=True)
    d = drawn(make_dot(dl_dw, params={"w": w, "q": q, "dl_dw": dl_dw}))

    (out_id, out), = d.with_fill(GREEN).items()
    assert out.label == f"dl_dw\n{short(tdl_dw.item())}"
    leaves = {s.lines[0]: k for k, s in d.with_fill(BLUE).items()}
    # torch's gradient graph reaches both leaves; so does the drawing
    reached = {fn.variable for fn in torch_nodes(tdl_dw) if hasattr(fn, "variable")}
    assert {id(t) for t in reached} == {id(tw), id(tq)}
    assert set(leaves) == {"w", "q"}
    for leaf_id in leaves.values():
        assert d.reachable(leaf_id, out_id)
    # it is the derivative's graph: cos appears in it (torch names it CosBackward0 too)
    assert "CosBackward0" in d.labels(GREY)
    assert "CosBackward0" in {torch_name(fn) for fn in torch_nodes(tdl_dw)}


SAVING = [
    lambda x, y: x * y, lambda x, y: x / y, lambda x, y: x * 3.0, lambda x, y: x.exp(),
    lambda x, y: x.log(), lambda x, y: x.tanh(), lambda x, y: x.sigmoid(), lambda x, y: x.relu(),
    lambda x, y: x.sqrt(), lambda x, y: x.abs(), lambda x, y: x.sin(), lambda x, y: x.cos(),
    lambda x, y: x ** 3, lambda x, y: x ** y, lambda x, y: 2 ** x, lambda x, y: 1 / x,
]


@pytest.mark.parametrize("f", SAVING)
@pytest.mark.parametrize("retain", [True, False])
def test_make_dot_show_saved_and_freed(f, retain):
    x, y = Value(0.7, requires_grad=True), Value(1.3, requires_grad=True)
    tx, ty = T(0.7), T(1.3)
    z, tz = f(x, y), f(tx, ty)  # each node name appears once in these graphs
    z.backward(retain_graph=retain)
    tz.backward(retain_graph=retain)
    d = drawn(make_dot(z, show_saved=True))

    saved = {k: s for k, s in d.nodes.items() if s.fill in (ORANGE, WHITE) and not s.ellipse}
    by_fn = {}
    fns = d.with_fill(GREY)
    for a, b in d.edges:
        if a in saved:
            by_fn.setdefault(fns[b].label, {})[saved[a].lines[0]] = saved[a]
    for fn in torch_nodes(tz):
        if torch_name(fn) == "AccumulateGrad":
            continue
        expected = torch_saved(fn)
        got = by_fn.get(torch_name(fn), {})
        # the engine saves what torch saves, except alpha (always 1 here) and pow's result
        assert set(got) <= set(expected) and set(expected) - set(got) <= {"_saved_alpha", "_saved_result"}
        for name, shape in got.items():
            if expected[name] is None:  # torch skips an operand whose partner needs no grad
                assert shape.lines[1] == "freed" if not retain else shape.fill == ORANGE
            elif expected[name] == "freed":
                assert shape.lines[1] == "freed" and shape.fill == WHITE and shape.dashed
            else:  # a saved value before freeing, or a number (pow's exponent): kept, as in torch
                assert shape.lines[1] == short(expected[name]) and shape.fill == ORANGE and not shape.dashed


class Square(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return 2 * x * g


def torch_square():
    class Square(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            return 2 * x * g

    return Square


def test_make_dot_custom_function_saved_tensors_then_freed():
    x, tx = Value(3.0, requires_grad=True), T(3.0)
    y, ty = Square.apply(x), torch_square().apply(tx)
    d = drawn(make_dot(y, show_saved=True))
    assert d.labels(ORANGE) == Counter({f"saved_tensors[0]\n{short(ty.grad_fn.saved_tensors[0].item())}": 1})
    assert fn_edges(d) == torch_edges(ty)  # AccumulateGrad -> SquareBackward, on both

    y.backward()
    ty.backward()
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        _ = ty.grad_fn.saved_tensors
    d = drawn(make_dot(y, show_saved=True))
    (shape,) = [s for s in d.nodes.values() if s.lines[-1] == "freed"]
    assert shape.lines[0] == "saved_tensors" and shape.fill == WHITE and shape.dashed
    assert not d.with_fill(ORANGE)


# ---------------------------------------------------------------------------------
# draw_dot: the forward graph
# ---------------------------------------------------------------------------------

def neuron(x1, x2, w1, w2, b):
    n1 = x1 * w1
    n2 = x2 * w2
    s = n1 + n2
    n = s + b
    return n.tanh(), (n1, n2, s, n)


NEURON = dict(x1=2.0, x2=0.0, w1=-3.0, w2=1.0, b=6.8813735870195432)  # micrograd's demo


def records(d: Drawing, fill: str) -> list:
    return [s for s in d.with_fill(fill).values() if not s.ellipse]


@pytest.mark.parametrize("when", ["before", "retained", "freed"])
def test_draw_dot_micrograd_neuron(when):
    vals = {k: Value(v, requires_grad=True, name=k) for k, v in NEURON.items()}
    tvals = {k: T(v) for k, v in NEURON.items()}
    o, _ = neuron(**vals)
    to, tinter = neuron(**tvals)
    if when != "before":
        o.backward(retain_graph=when == "retained")
        to.backward()
    d = drawn(draw_dot(o, params={"o": o}))

    # leaves: name | data | grad, grads as torch computed them
    leaves = {s.lines[0]: s.lines[1:] for s in records(d, BLUE)}
    for k, t in tvals.items():
        grad = "None" if t.grad is None else f"{t.grad.item():.4f}"
        assert leaves[k] == [f"data {t.item():.4f}", f"grad {grad}"]
    # the output, and every intermediate number torch computed
    (out,) = records(d, GREEN)
    assert out.lines == ["o", f"data {to.item():.4f}", "grad None"]
    inter = Counter(s.lines[0] for s in records(d, WHITE))
    assert inter == Counter(f"data {t.item():.4f}" for t in tinter)
    # one op per torch grad_fn, named without Backward0
    ops = Counter(s.label for s in d.nodes.values() if s.ellipse)
    assert ops == Counter(torch_name(fn).replace("Backward0", "") for fn in torch_nodes(to)
                          if torch_name(fn) != "AccumulateGrad")
    # every op sits between records: operands in, result out
    for k, s in d.nodes.items():
        if s.ellipse:
            assert [b for a, b in d.edges if a == k and not d.nodes[b].ellipse]
            assert all(not d.nodes[a].ellipse for a, b in d.edges if b == k)


def test_draw_dot_constants_and_unknown_numbers():
    x, tx = Value(1.5, requires_grad=True, name="x"), T(1.5)
    z = (x * 2.0 + 3.0) ** 2
    tz = (tx * 2.0 + 3.0) ** 2
    d = drawn(draw_dot(z))
    consts = Counter(s.lines[1] for s in records(d, "lightyellow"))
    # 2.0 and the exponent 2 are saved by their nodes; the 3.0 of an add is not kept
    assert consts == Counter({"data 2.0000": 2, "data ?": 1})
    ops = Counter(s.label for s in d.nodes.values() if s.ellipse)
    assert ops == Counter(torch_name(fn)[: -len("Backward0")] for fn in torch_nodes(tz)
                          if torch_name(fn) != "AccumulateGrad")
    assert records(d, GREEN)[0].lines == [f"data {tz.item():.4f}", "grad None"]  # no name: empty field


def test_draw_dot_custom_function_with_two_outputs():
    class Split(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2, x * 3

        @staticmethod
        def backward(ctx, ga, gb):
            return ga * 2 + gb * 3

    x = Value(1.0, requires_grad=True, name="x")
    a, b = Split.apply(x)
    d = drawn(draw_dot([a, b], params={"a": a, "b": b}))
    (op_id, op), = [(k, s) for k, s in d.nodes.items() if s.ellipse]
    assert op.label == "Split"
    outs = {d.nodes[b_].lines[0] for a_, b_ in d.edges if a_ == op_id}
    assert outs == {"a", "b"}


# ---------------------------------------------------------------------------------
# Big graphs: iterative walk, summarised drawing
# ---------------------------------------------------------------------------------

def test_100k_chain_draws_summarised_without_recursion_error():
    assert sys.getrecursionlimit() <= 10_000  # the default (1000) or close: no help from it
    n = 100_000
    x = Value(0.5, requires_grad=True, name="x")
    y = x
    for _ in range(n):
        y = y * 1.0001 + 0.1
    total = 2 * n + 1  # n Mul + n Add + x's AccumulateGrad
    for draw, count_ops in ((make_dot, lambda d: len(d.with_fill(GREY))),
                            (draw_dot, lambda d: sum(s.ellipse for s in d.nodes.values()))):
        d = drawn(draw(y))
        assert count_ops(d) == viz.MAX_NODES
        (more,) = [s for s in d.nodes.values() if s.label.startswith("...")]
        assert more.label == f"... {total - viz.MAX_NODES} more nodes"


def test_small_graph_is_not_summarised():
    x = Value(0.5, requires_grad=True)
    y = x
    for _ in range(10):
        y = y * 1.0001 + 0.1
    assert "more node" not in make_dot(y).source and "more node" not in draw_dot(y).source
    d = drawn(make_dot(y, max_nodes=5))  # the 5 nodes nearest the output, then a summary
    assert [s.label for s in d.with_fill(GREY).values()] == ["AddBackward0", "MulBackward0"] * 2 + ["AddBackward0"]
    (more_id, more), = [(k, s) for k, s in d.nodes.items() if s.label.startswith("...")]
    assert more.label == f"... {2 * 10 + 1 - 5} more nodes"
    assert [d.nodes[b].label for a, b in d.edges if a == more_id] == ["AddBackward0"]


# ---------------------------------------------------------------------------------
# Labels are escaped
# ---------------------------------------------------------------------------------

NASTY = ['a<b>{c}|d"e', "back\\slash\\", '<b>bold</b>', "x\\ny", 'say "hi" \\"there\\"', "{|}"]


@pytest.mark.parametrize("name", NASTY)
def test_labels_are_escaped(name):
    x = Value(2.0, requires_grad=True, name=name)
    y = Value(3.0, requires_grad=True)
    z = x * y
    d = drawn(make_dot(z, params={name + "!": y}, show_saved=True))
    assert d.labels(BLUE) == Counter({f"{name}\n2.000": 1, f"{name}!\n3.000": 1})
    d = drawn(draw_dot(z, params={name + "?": z}))
    got = {tuple(s.lines) for s in records(d, BLUE)}
    assert (name, "data 2.0000", "grad None") in got
    assert records(d, GREEN)[0].lines == [name + "?", "data 6.0000", "grad None"]


# ---------------------------------------------------------------------------------
# Errors: bad input, and what to install when graphviz or dot is missing
# ---------------------------------------------------------------------------------

@pytest.mark.parametrize("draw", [make_dot, draw_dot])
def test_bad_input(draw):
    x = Value(1.0, requires_grad=True)
    with pytest.raises(TypeError, match="outputs must be a Value or a sequence of Values, got str"):
        draw("x")
    with pytest.raises(TypeError, match="element 1 of outputs must be a Value, got float"):
        draw([x, 1.0])
    with pytest.raises(ValueError, match="outputs is empty"):
        draw([])
    with pytest.raises(TypeError, match=r"params\['w'\] must be a Value, got float"):
        draw(x * 2, params={"w": 1.0})
    with pytest.raises(TypeError, match="params must be a dict of name -> Value, got list"):
        draw(x * 2, params=[x])
    with pytest.raises(ValueError, match="max_nodes must be a positive int, got 0"):
        draw(x * 2, max_nodes=0)


def test_missing_graphviz_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "graphviz", None)  # import graphviz -> ImportError
    importlib.reload(viz)  # importing engine.viz needs no graphviz
    x = Value(1.0, requires_grad=True)
    for call in (lambda: viz.make_dot(x * 2), lambda: viz.draw_dot(x * 2), lambda: viz.render_svg(None)):
        with pytest.raises(ImportError, match=r"^engine.viz needs the graphviz Python package: pip install graphviz$"):
            call()


def test_missing_dot_program(monkeypatch, tmp_path):
    dot = make_dot(Value(1.0, requires_grad=True) * 2)
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no `dot` on PATH
    with pytest.raises(RuntimeError, match=r"`dot` program.*apt-get install graphviz") as info:
        render_svg(dot)
    assert type(info.value.__cause__).__name__ == "ExecutableNotFound"


def test_only_viz_imports_graphviz():
    import subprocess
    code = ("import sys, engine, engine.functional, engine.viz; "
            "print('graphviz' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_make_dot_labels_the_edges_of_named_intermediates():
    x = [Value(v, requires_grad=True) for v in (0.5, 1.0)]
    y = [xi ** 2 for xi in x]
    z = y[0] + y[1]
    src = make_dot(z, params={"x0": x[0], "x1": x[1], "y0": y[0], "y1": y[1]}).source
    labelled = re.findall(r'-> (\w+) \[label=(\w+)', src)
    assert sorted(label for _, label in labelled) == ["y0", "y1"]
    assert make_dot(z).source.count("label=y") == 0
