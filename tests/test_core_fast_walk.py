"""Which walk runs: the fast walk whenever no user code can see the difference, the
general walk (engine/full_walk.py) otherwise, and the same gradients either way.

The routing is checked in a fresh interpreter (the test process holds hooks from
other tests, which rightly send every walk down the general path) by replacing the
general walk with one that records it was called.
"""

import heapq
import subprocess
import sys
import struct
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import engine
from engine import Value, autograd
from engine.value import make_value

ROOT = Path(__file__).resolve().parents[1]

PROGRAM = textwrap.dedent("""
    import engine
    from engine import Value, autograd, full_walk

    calls = []
    general = autograd._walk

    def spy(*args, **kwargs):
        calls.append(1)
        return general(*args, **kwargs)

    autograd._walk = spy

    def walked(fn):
        del calls[:]
        fn()
        return "general" if calls else "fast"

    x = Value(2.0, requires_grad=True)
    w = Value(3.0, requires_grad=True)
    print("backward", walked(lambda: (x * w).tanh().backward()))
    print("grad", walked(lambda: engine.grad(x * w, [x])))
    print("create_graph", walked(lambda: engine.grad(engine.grad(x ** 3, x, create_graph=True)[0], x)))
    f = engine.compile(lambda a, b: (a * b).tanh())
    print("compiled", walked(lambda: f(x, w).backward()))
    m = x * w
    print("non-leaf input", walked(lambda: engine.grad(m * m, [m])))
    h = x.register_hook(lambda g: g)
    print("with a hook", walked(lambda: (x * w).backward()))
    h.remove()
    del h
    print("hook removed", walked(lambda: (x * w).backward()))
    del x, m, f  # (m's node and f's trace hold the leaf too)
    import gc; gc.collect()  # (f's trace is a cycle)
    x = Value(2.0, requires_grad=True)
    print("that leaf gone", walked(lambda: (x * w).backward()))
""")


def test_the_fast_walk_runs_unless_user_code_could_tell():
    out = subprocess.run([sys.executable, "-c", PROGRAM], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == [
        "backward fast",
        "grad fast",
        "create_graph fast",
        "compiled fast",
        "non-leaf input general",
        "with a hook general",
        "hook removed general",  # the leaf keeps its (now empty) hook table while it lives: only costs speed
        "that leaf gone fast",
    ]


def test_a_walk_that_finds_the_fast_slots_taken_takes_the_general_walk():
    x = Value(2.0, requires_grad=True)
    y = (x * x).tanh()
    with autograd._fast_lock:  # as if another thread's walk held the nodes' _grad_in slots
        y.backward(retain_graph=True)
        g_general = x.grad.item()
    x.grad = None
    y.backward()
    assert g_general == x.grad.item() == engine.grad((x * x).tanh(), x)[0].item()


SPECIALS = [0.0, -0.0, 0.7, -2.25, 1e308, -5e-324, float("inf"), float("-inf"), float("nan")]


def _bits(x: float) -> bytes:
    return struct.pack("<d", x)


def test_the_fast_walks_written_out_rules_are_the_op_tables_bit_for_bit():
    # The fast walk writes out the float rules of Add, Mul, tanh and tanh's backward
    # instead of calling their vjp; every gradient must be the vjp's, to the last bit,
    # specials included.
    from engine.ops import AddBackward0, MulBackward0, TanhBackward0, TanhBackwardBackward0, _tanh_backward
    for g in SPECIALS:
        for a in SPECIALS:
            for b in SPECIALS:
                x, y = Value(a, requires_grad=True), Value(b, requires_grad=True)
                for out, rule in ((x + y, AddBackward0.vjp(g, None, None)),
                                  (x * y, MulBackward0.vjp((x * y).grad_fn, g, a, b)),
                                  (x.tanh(), TanhBackward0.vjp(g, x.tanh().data, None)),
                                  (_tanh_backward(x, y), TanhBackwardBackward0.vjp(g, a, b))):
                    got = autograd._fast_walk([out], [g], free=True)
                    assert got is not None, "the fast walk's slots were taken"
                    leaves = [x, y][:len(rule)]
                    assert [_bits(got[v]) for v in leaves] == [_bits(r) for r in rule], (out.grad_fn, g, a, b)


# Under create_graph the fast walk records Mul's and tanh's derivatives straight from
# the saved numbers and edges (value._binary_to_edge), where the general walk calls
# each node's vjp on Values from unpack().  The two derivative graphs must be the same
# graph: node classes, edges, saved numbers, creation order; and so must everything
# a second and a third backward compute through them.

OPS = ["mul", "mul_const", "const_mul", "square", "tanh", "add", "add_const", "pow0", "sub", "div"]


def _program(choices, gaps=()):
    """Values built by ``choices``, a list of (op, i, j) over the Values made so far;
    after op k, ``gaps[k]`` nodes of no graph that is walked (gaps in the creation numbers)."""
    x = Value(0.7, requires_grad=True)
    w = Value(-1.3, requires_grad=True)
    c = Value(0.25)  # a constant
    vals = [x, w, c]
    for k, (op, i, j) in enumerate(choices):
        a, b = vals[i % len(vals)], vals[j % len(vals)]
        vals.append({"mul": lambda: a * b, "mul_const": lambda: a * 0.5, "const_mul": lambda: 3 * a,
                     "square": lambda: a * a, "tanh": lambda: a.tanh(), "add": lambda: a + b,
                     "add_const": lambda: a + 1, "pow0": lambda: a ** 0, "sub": lambda: a - b,
                     "div": lambda: a / (b * b + 1)}[op]())
        for _ in range(gaps[k] if k < len(gaps) else 0):
            x * 2.0  # a node of no graph we walk: its creation number is a gap in ours
    return x, w, vals


def _graph(roots: list) -> list:
    """Every node reachable from ``roots``, newest first, as comparable records."""
    seen, stack, nodes = set(), [v._node for v in roots if v._node is not None], []
    while stack:
        n = stack.pop()
        if n in seen or n.__class__ is Value:
            continue
        seen.add(n)
        nodes.append(n)
        stack.extend(e for e in (n._input0, n._input1) if e is not None)
    nodes.sort(key=lambda n: -n._creation_nr)
    rank = {n: i for i, n in enumerate(nodes)}

    def edge(e):
        return None if e is None else ("leaf", e._data) if e.__class__ is Value else ("node", rank[e])

    def number(s):
        return s if not isinstance(s, float) else _bits(s)

    return [(type(n).__name__, edge(n._input0), edge(n._input1), number(n._saved0), number(n._saved1))
            for n in nodes]


def _derivatives(choices, seed_kind: str, moved: bool, fast: bool):
    x, w, vals = _program(choices)
    out = vals[-1]
    if moved:  # a leaf's data assigned between forward and backward: read as unpack reads it
        x.data = 0.9
    if out._node is None:
        return None
    seed = {"none": None, "const": Value(-2.0), "leaf": Value(1.5, requires_grad=True),
            "nonleaf": x * 1.5}[seed_kind]
    seeds = [make_value(1.0) if seed is None else seed]
    if fast:
        got = autograd._fast_walk([out], seeds, free=False, graph=True, targets={x, w})
        assert got is not None, "the fast walk's slots were taken, or it handed over"
        firsts = [got.get(x), got.get(w)]
    else:
        with autograd._fast_lock:  # the fast walk's slots taken: engine.grad takes the general walk
            firsts = list(engine.grad(out, [x, w], seed, create_graph=True, allow_unused=True))
    firsts = [make_value(f) if isinstance(f, (int, float)) else f for f in firsts]
    live = [f for f in firsts if f is not None and f._requires_grad]
    seconds = [engine.grad(f, [x, w], allow_unused=True, retain_graph=True) for f in live]
    return ([None if f is None else _bits(float(f._data)) for f in firsts], _graph(live),
            [[None if s is None else _bits(float(s._data)) for s in pair] for pair in seconds])


@settings(derandomize=True, database=None, max_examples=300, deadline=None)
@given(choices=st.lists(st.tuples(st.sampled_from(OPS), st.integers(0, 20), st.integers(0, 20)),
                        min_size=1, max_size=8),
       seed_kind=st.sampled_from(["none", "const", "leaf", "nonleaf"]), moved=st.booleans())
def test_create_graph_on_the_fast_walk_records_the_general_walks_graph(choices, seed_kind, moved):
    assert _derivatives(choices, seed_kind, moved, fast=True) == _derivatives(choices, seed_kind, moved, fast=False)


# The fast walk scans creation numbers downwards; after a long run of numbers with no
# pending node (other graphs' nodes, made in between), it takes the rest in heap order.
# Either way the nodes run newest first, and the gradients are the general walk's.

def _gradients_with_gaps(choices, gaps, fast: bool):
    x, w, vals = _program(choices, gaps)
    out = sum(vals[3:], vals[-1])
    if out._node is None:
        return None
    if fast:
        got = autograd._fast_walk([out], [1.0], free=False, targets={x, w})
        assert got is not None
        return [_bits(float(got[v])) if v in got else None for v in (x, w)]
    with autograd._fast_lock:  # taken: engine.grad takes the general walk
        grads = engine.grad(out, [x, w], allow_unused=True)
    return [None if g is None else _bits(float(g._data)) for g in grads]


@settings(derandomize=True, database=None, max_examples=200, deadline=None)
@given(choices=st.lists(st.tuples(st.sampled_from(["mul", "add", "tanh", "sub", "div"]),
                                  st.integers(0, 30), st.integers(0, 30)), min_size=1, max_size=12),
       gaps=st.lists(st.sampled_from([0, 0, 1, 70, 300]), min_size=12, max_size=12))
def test_the_scan_and_its_gap_fallback_give_the_general_walks_gradients(choices, gaps):
    assert _gradients_with_gaps(choices, gaps, fast=True) == _gradients_with_gaps(choices, gaps, fast=False)


def test_a_long_gap_switches_the_scan_to_heap_order(monkeypatch):
    switched = []
    monkeypatch.setattr(autograd, "heapify", lambda h: (switched.append(len(h)), heapq.heapify(h)))
    choices = [("mul", 0, 1), ("tanh", 3, 0), ("add", 4, 3), ("mul", 5, 4)]
    no_gap = _gradients_with_gaps(choices, [0, 0, 0, 0], fast=True)
    assert switched == []
    with_gaps = _gradients_with_gaps(choices, [0, 300, 0, 300], fast=True)
    assert switched and with_gaps == no_gap == _gradients_with_gaps(choices, [0, 300, 0, 300], fast=False)


def test_a_walk_stopped_by_a_freed_node_leaves_the_grads_torch_leaves(differ):
    # z's gradient is complete before the walk reaches the freed tanh; x's and u's are
    # not, and u's node (older than the tanh) still waits.  Run on torch and on the fast
    # walk (called directly: the suite's hooks would send backward() down the general walk).
    import torch

    t = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (2.0, 3.0, 4.0, 0.5)]
    a = t[3] * 7.0
    shared = (t[0] * t[1]).tanh()
    shared.backward()
    t[0].grad = t[1].grad = None
    with pytest.raises(RuntimeError, match="a second time") as torch_error:
        (a + shared * 2.0 + t[2] * 5.0).backward()
    expected = [None if v.grad is None else v.grad.item() for v in t]

    x, w, z, u = (Value(v, requires_grad=True) for v in (2.0, 3.0, 4.0, 0.5))
    a = u * 7.0
    shared = (x * w).tanh()
    autograd._fast_walk([shared], [1.0], free=True)
    x.grad = w.grad = None
    y = a + shared * 2.0 + z * 5.0
    with pytest.raises(RuntimeError) as error:
        autograd._fast_walk([y], [1.0], free=True)
    assert str(error.value) == differ.as_value_message(str(torch_error.value))
    assert [None if v.grad is None else v.grad.item() for v in (x, w, z, u)] == expected
    assert a.grad_fn._grad_in is None and shared.grad_fn._grad_in is None  # no gradient left waiting
