"""Issue 9, rules 17-21: negative bases, Python protocols (format, index, float, copy,
pickle), numpy bools, and the node names inside derivative graphs."""

import copy
import math
import pickle

import numpy as np
import pytest


# ---------------------------------------------------------------------------------
# Rule 17: a negative base to a fractional power is nan, at any magnitude
# ---------------------------------------------------------------------------------

BASES = [-8.0, -1e300, -1e-300, -2.0, -0.5, -1e200]
EXPONENTS = [0.5, 1.5, -1.5, 1e10 + 0.5, 2.5e15 + 0.5, 3.0, 2.0, 1e300, -1e300, 1e17, 0.1]


@pytest.mark.parametrize("base", BASES)
def test_17_negative_base(differ, base):
    def prog(B, rec):
        for e in EXPONENTS:
            x = B.leaf(base)
            y = B.leaf(e)
            for z in (x ** e, x ** y, base ** y):
                rec(f"value {e}", z, node_names=False)
                gs = B.grad(z, [x, y], create_graph=True, allow_unused=True)
                rec(f"first {e}", [None if g is None else g.item() for g in gs])
                for g in gs:
                    if g is not None and g.requires_grad:
                        rec(f"second {e}", [None if h is None else h.item()
                                            for h in B.grad(g, [x, y], allow_unused=True)])

    differ.check(prog)


# ---------------------------------------------------------------------------------
# Rule 18: format specs, __index__, float()'s warning once per process
# ---------------------------------------------------------------------------------

SPECS = ["", ".3f", ">12.4e", "+.2%", "g", "08.3f", ",.1f", "^10", ".0f", "e", "d", "x", "s"]


@pytest.mark.parametrize("number", [3.14159, -0.0, float("nan"), float("inf"), 1234567.891, 7, -3])
def test_18_format_specs(differ, number):
    def prog(B, rec):
        v = B.new(number) if not isinstance(number, float) else B.leaf(number)
        for spec in SPECS:
            rec.raises(spec, lambda: format(v, spec))
        rec("f-string", f"{v}|{v:6}|{v!r:.0}")
        rec("computed", f"{v * 2:.2f}" if isinstance(number, float) else f"{v * 2:d}")

    differ.check(prog)


def test_18_index(differ):
    def prog(B, rec):
        i = B.new(2)
        rec("list index", [10, 20, 30][i])
        rec("range", list(range(i)))
        rec("hex", hex(B.new(255)))
        rec("operator.index", __import__("operator").index(B.new(-4)))
        rec("slice", "abcdef"[B.new(1):B.new(4)])
        rec.raises("float", lambda: [1, 2][B.new(1.0)])
        rec.raises("requires grad", lambda: [1, 2][B.leaf(1.0)])

    differ.check(prog)


def test_18_float_warns_once_per_process(differ):
    out = differ.run_python("""
        import warnings
        import torch, engine
        warnings.simplefilter("always")
        for lib, make in (("torch", lambda v: torch.tensor(v, dtype=torch.float64, requires_grad=True)),
                          ("engine", lambda v: engine.Value(v, requires_grad=True))):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                a, b = make(1.0), make(2.0)
                float(a); float(a); float(b); float(a * 2)
                float(make(3.0).detach())
            print(lib, len(caught), [str(w.message).split(chr(10))[0].replace("tensor", "value") for w in caught])
    """)
    torch_line, engine_line = out.strip().splitlines()
    assert torch_line.split(" ", 1)[1] == engine_line.split(" ", 1)[1]
    assert torch_line.split(" ", 2)[1] == "1"


# ---------------------------------------------------------------------------------
# Rule 19: numpy bools are operands
# ---------------------------------------------------------------------------------

def test_19_numpy_bools(differ):
    def prog(B, rec):
        x = B.leaf(1.5)
        for b in (np.True_, np.False_):
            rec(f"{b} *", x * b)
            rec(f"* {b}", b * x, node_names=False)
            rec(f"+ {b}", x + b)
            rec(f"{b} -", b - x)
            rec(f"** {b}", x ** b)
            rec(f"/ {b}", x / b if b else "skip")
        y = x * np.True_ + np.False_ * x
        y.backward()
        rec("x.grad", x.grad)

    differ.check(prog)


# ---------------------------------------------------------------------------------
# Rule 20: copy.copy, copy.deepcopy and pickle
# ---------------------------------------------------------------------------------

def hook_that_doubles(g):  # one named function: both libraries print the same repr of it
    return g * 2


def summary(rec, v):
    with __import__("warnings").catch_warnings():
        __import__("warnings").simplefilter("ignore")
        return [rec.norm(v), rec.norm(v.grad)]


def test_20_deepcopy_of_a_leaf(differ):
    def prog(B, rec):
        x = B.leaf(2.0)
        x.grad = B.leaf(5.0, requires_grad=False)
        x.register_hook(hook_that_doubles)
        x.register_post_accumulate_grad_hook(lambda t: rec("post hook of the original", t.grad) and None)
        d = rec.warns("deepcopy", lambda: copy.deepcopy(x))
        rec("copy", summary(rec, d))
        rec("new grad object", d.grad is not x.grad)
        (d * 1).backward()
        rec("copy has no hooks", d.grad)
        (x * 1).backward()
        rec("original keeps its hooks", x.grad)
        c = B.new(3)
        rec("int", copy.deepcopy(c))
        pair = copy.deepcopy([x, x])
        rec("memo", pair[0] is pair[1])

    differ.check(prog)


def test_20_deepcopy_of_a_non_leaf_refuses(differ):
    def prog(B, rec):
        x = B.leaf(2.0)
        y = x * 2
        rec.raises("non-leaf", lambda: copy.deepcopy(y))
        rec.raises("in a list", lambda: copy.deepcopy([x, y]))
        with B.no_grad():
            z = x * 2
        rec("made under no_grad is a leaf", copy.deepcopy(z))

    differ.check(prog)


@pytest.mark.parametrize("how", ["copy", "pickle"])
def test_20_shallow_copy_and_pickle_give_a_leaf(differ, how):
    def prog(B, rec):
        roundtrip = copy.copy if how == "copy" else (lambda v: pickle.loads(pickle.dumps(v)))
        x = B.leaf(2.0)
        x.grad = B.leaf(5.0, requires_grad=False)
        rec("leaf with grad", summary(rec, rec.warns("no hooks", lambda: roundtrip(x))))
        x.register_hook(hook_that_doubles)
        x.register_hook(hook_that_doubles)
        rec("with hooks", summary(rec, rec.warns("two hooks", lambda: roundtrip(x))))
        y = x * 3
        y.register_hook(hook_that_doubles)
        r = rec.warns("non-leaf with a hook", lambda: roundtrip(y))
        rec("non-leaf", summary(rec, r))
        r.backward()
        rec("usable", r.grad)
        rec("constant", roundtrip(B.new(7)))
        rec("int keeps int", type(roundtrip(B.new(7)).item()).__name__)

    differ.check(prog)


# ---------------------------------------------------------------------------------
# Rule 21: node names inside the graphs create_graph builds
# ---------------------------------------------------------------------------------

def graph_names(rec, v):
    """Every node behind ``v``, depth first from the root, as a list of names and Nones
    (the order of ``next_functions``, so operand order shows)."""
    out = []
    seen = set()
    stack = [v.grad_fn]
    while stack:
        n = stack.pop()
        if n is None:
            out.append(None)
            continue
        out.append(n.name())
        if id(n) in seen:
            continue
        seen.add(id(n))
        stack.extend(m for m, _ in n.next_functions)
    return out


OPS = {
    "log": lambda a, b: a.log(), "sqrt": lambda a, b: a.sqrt(), "c / x": lambda a, b: 2.0 / a,
    "x / y": lambda a, b: a / b, "x ** y": lambda a, b: a ** b, "c ** x": lambda a, b: 2.0 ** a,
    "x ** 2.5": lambda a, b: a ** 2.5, "x ** 2": lambda a, b: a ** 2, "x ** -1.5": lambda a, b: a ** -1.5,
    "x ** 0.5": lambda a, b: a ** 0.5, "exp": lambda a, b: a.exp(), "tanh": lambda a, b: a.tanh(),
    "sigmoid": lambda a, b: a.sigmoid(), "sin": lambda a, b: a.sin(), "cos": lambda a, b: a.cos(),
    "sinh": lambda a, b: a.sinh(), "cosh": lambda a, b: a.cosh(), "abs": lambda a, b: a.abs(),
    "relu": lambda a, b: a.relu(), "x * y": lambda a, b: a * b, "x - y": lambda a, b: a - b,
    "c - x": lambda a, b: 3.0 - a, "-x": lambda a, b: -a, "mixed": lambda a, b: (a * b).log() / (b - a).sqrt(),
}


@pytest.mark.parametrize("op", list(OPS))
def test_21_derivative_graph_node_names(differ, op):
    def prog(B, rec):
        a = B.leaf(1.3)
        b = B.leaf(0.7)
        y = OPS[op](a, b)
        gs = B.grad(y, [a, b], create_graph=True, allow_unused=True)
        rec("first", gs)
        rec("graphs", [graph_names(rec, g) if g is not None and g.grad_fn is not None else None for g in gs])
        hs = [B.grad(g, [a, b], create_graph=True, allow_unused=True) for g in gs if g is not None and g.requires_grad]
        rec("second", hs)
        rec("second graphs", [[graph_names(rec, h) if h is not None and h.grad_fn is not None else None for h in row]
                              for row in hs])

    differ.check(prog)


def test_21_seeded_and_backward_graphs(differ):
    def prog(B, rec):
        a = B.leaf(0.4)
        v = B.leaf(2.0)
        g, = B.grad(a.log() * a.sqrt(), a, grad_outputs=v, create_graph=True)
        rec("seed that requires grad", graph_names(rec, g))
        g, = B.grad(a.log(), a, grad_outputs=B.seed(3.0), create_graph=True)
        rec("constant seed", graph_names(rec, g))
        with __import__("warnings").catch_warnings():
            __import__("warnings").simplefilter("ignore")
            (2.0 / a).backward(create_graph=True)
        rec(".grad's graph", graph_names(rec, a.grad))

    differ.check(prog)


def test_21_values_of_the_names_are_right(differ):
    """The same names, and the same numbers down to third order."""
    def prog(B, rec):
        a = B.leaf(0.9)
        for f in (lambda t: t.log(), lambda t: t.sqrt(), lambda t: 2.0 / t, lambda t: t ** t, lambda t: 3.0 ** t):
            g = f(a)
            for order in range(3):
                g, = B.grad(g, a, create_graph=True)
                rec(f"order {order + 1}", g)

    differ.check(prog, rel=1e-12)


def test_21_math_is_unchanged_for_floats():
    """Without create_graph the formulas still compute plain floats (no Values)."""
    from engine import Value, grad
    a = Value(0.9, requires_grad=True)
    for z in (a.log(), a.sqrt(), 2.0 / a, a ** a, 3.0 ** a, a ** 2.5):
        g, = grad(z, a)
        assert g.grad_fn is None and isinstance(g.item(), float) and math.isfinite(g.item())
