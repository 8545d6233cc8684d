"""No leaks: once the user drops the output (after a backward or without one), the
graph is freed by reference counting alone (issue 3, item 9).

Each test runs with the garbage collector disabled and counts the engine's live
objects (nodes and Values, which are GC-tracked so ``gc.get_objects`` sees them even
while collection is off): after dropping everything the count is back to the
baseline, so no reference cycle kept anything.  One test also checks the memory
itself with ``tracemalloc``.
"""

import gc
import tracemalloc
import warnings

import pytest

import engine
from engine import Function, Value, grad
from engine.value import Node


def live():
    """(nodes, Values) alive right now."""
    nodes = values = 0
    for o in gc.get_objects():
        t = type(o)  # (not isinstance: that reads __class__, and some torch objects warn on it)
        if t is Value:
            values += 1
        elif issubclass(t, Node):
            nodes += 1
    return nodes, values


@pytest.fixture
def no_gc():
    was = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def chain(x, n=200):
    y = x
    for k in range(n):
        y = ((y * 1.0001 + 0.1).tanh() * x).sin() + (y.exp() / (1 + y * y)).sqrt() - k
    return y


def leaves():
    return Value(0.3, requires_grad=True), Value(-0.7, requires_grad=True)


def test_dropped_without_backward(no_gc):
    x, w = leaves()
    base = live()
    y = chain(x) * w
    assert live()[0] > base[0] + 1000
    del y
    assert live() == base


@pytest.mark.parametrize("retain", [False, True])
def test_dropped_after_backward(no_gc, retain):
    x, w = leaves()
    base_nodes = live()[0]
    y = chain(x) * w
    y.backward(retain_graph=retain)
    assert x.grad is not None
    del y
    assert live()[0] == base_nodes


def test_dropped_after_grad_and_hooks_and_retain_grad(no_gc):
    x, w = leaves()
    base_nodes = live()[0]
    h = chain(x, 50)
    h.retain_grad()
    seen = []
    h.register_hook(lambda g: seen.append(g.item()))
    h.grad_fn.register_prehook(lambda go: None)
    y = (h * w).exp()
    grad(y, [x, w], retain_graph=True)
    y.backward()
    _ = [n for n, _ in y.grad_fn.next_functions]  # AccumulateGrad views are created
    del y, h, _
    assert seen and live()[0] == base_nodes


def test_create_graph_results_free_when_dropped(no_gc):
    x, w = leaves()
    base_nodes = live()[0]
    y = chain(x, 50) * w
    g = grad(y, [x, w], create_graph=True)
    gg = grad(g[0], [x, w], create_graph=True, allow_unused=True)
    del y
    assert live()[0] > base_nodes  # the gradient graphs are alive
    del g, gg
    assert live()[0] == base_nodes


def test_backward_create_graph_cycle_is_broken_by_resetting_grad(no_gc):
    """torch warns that backward(create_graph=True) makes a cycle parameter <-> .grad;
    resetting .grad to None (what the warning recommends) must free everything."""
    x, w = leaves()
    base_nodes = live()[0]
    y = chain(x, 50) * w
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y.backward(create_graph=True)
    assert x.grad.grad_fn is not None
    del y
    x.grad = None
    w.grad = None
    assert live()[0] == base_nodes


class SquareSavingInput(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        ctx.note = "plain attributes on ctx are fine"
        return a * a

    @staticmethod
    def backward(ctx, g):
        a, = ctx.saved_tensors
        return g * 2 * a


class SquareSavingOutput(Function):
    @staticmethod
    def forward(ctx, a):
        out = a * a
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, out = ctx.saved_tensors
        return g * 2 * out / a


class Split(Function):
    @staticmethod
    def forward(ctx, a):
        p, q = a * 2, a * 3
        ctx.save_for_backward(p, q)
        ctx.mark_non_differentiable(q)
        return p, q

    @staticmethod
    def backward(ctx, gp, gq):
        _p, _q = ctx.saved_tensors
        return gp * 2


@pytest.mark.parametrize("run", ["none", "backward", "retain", "create_graph"])
def test_custom_functions_saving_their_inputs(no_gc, run):
    x, w = leaves()
    base_nodes = live()[0]
    y = SquareSavingInput.apply(chain(x, 20))
    out = SquareSavingInput.apply(y * w)
    if run == "backward":
        out.backward()
    elif run == "retain":
        out.backward(retain_graph=True)
    elif run == "create_graph":
        g, = grad(out, x, create_graph=True)
        grad(g, x)
        del g
    del y, out
    assert live()[0] == base_nodes


@pytest.mark.parametrize("run", ["none", "backward", "retain", "create_graph"])
def test_custom_functions_saving_their_outputs(no_gc, run):
    x, w = leaves()
    base_nodes = live()[0]
    y = SquareSavingOutput.apply(chain(x, 20))
    p, q = Split.apply(y)
    out = SquareSavingOutput.apply(p * w + q)
    if run == "backward":
        out.backward()
    elif run == "retain":
        out.backward(retain_graph=True)
    elif run == "create_graph":
        g, = grad(out, x, create_graph=True)
        grad(g, x)
        del g
    del y, p, q, out
    assert live()[0] == base_nodes


def test_custom_function_result_is_correct_while_alive():
    """The saved output is rebuilt when read, so it is the same number (and the torch
    answer: d/dx (x^2)^2 = 4 x^3)."""
    x = Value(1.5, requires_grad=True)
    out = SquareSavingOutput.apply(SquareSavingOutput.apply(x))
    out.backward()
    assert x.grad.item() == pytest.approx(4 * 1.5 ** 3, rel=1e-15)


def test_memory_returns_to_baseline(no_gc):
    """40,000 nodes, then a backward, then the output dropped: tracemalloc shows the
    memory back where it started (a small slack for interpreter caches)."""
    x = Value(0.5, requires_grad=True)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        y = x
        for _ in range(20_000):
            y = (y * 1.00001).tanh()
        during = tracemalloc.get_traced_memory()[0]
        y.backward()
        del y
        x.grad = None
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert during - before > 2_000_000  # the graph really was there (~100 bytes a node at least)
    assert after - before < 64 * 1024


def test_anomaly_mode_graphs_free_too(no_gc):
    x, w = leaves()
    base_nodes = live()[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Anomaly Detection has been enabled ..."
        with engine.detect_anomaly():
            y = chain(x, 20) * w
            y.backward()
    del y
    assert live()[0] == base_nodes
