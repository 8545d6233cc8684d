"""Issue 15: ``engine.viz.record_backward`` records the real walk, in torch's order.

Each program is written once against a backend ``B`` and run twice: on torch, with a
node pre-hook (``grad_fn.register_prehook``) on every node of the graph, which logs the
node's name and the gradient it runs on, in the order torch's engine runs them; and on
the engine inside ``record_backward()``, whose ``NodeStart`` events give the same two
things.  The two logs must be equal: names, order and values (the engine is bit-exact
with torch, so values are compared with ==).  AccumulateGrad is left out of the order
(the engine finishes a leaf without a node object); what reaches each leaf's ``.grad``
is compared through the trace's ``Accumulate`` events instead.
"""
# ruff: noqa: RUF001  (expected Chinese captions, with their full-width punctuation)

from __future__ import annotations

import math
import sys
import threading

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import engine
from engine import Function, Value
from test_exact_random_programs import OPS as RANDOM_PROGRAM_OPS  # tests/, beside this file
from engine.events import Accumulate, Deliver, Freed, NodeCreated, NodeStart, Raised, Seed, Sum
from engine.viz import record_backward

def _floats(grads):
    out = tuple(None if g is None else float(g.detach()) for g in grads)
    return out[0] if len(out) == 1 else out


class TorchBackend:
    """torch, with every node of the graphs it is shown watched by a pre-hook."""

    def __init__(self):
        self.log = []
        self.watched = {}
        self.leaves = []

    def leaf(self, v, name=None):
        t = torch.tensor(float(v), dtype=torch.float64, requires_grad=True)
        self.leaves.append(t)
        return t

    def watch(self, *outputs):
        stack = [o.grad_fn for o in outputs if o.grad_fn is not None]
        while stack:
            fn = stack.pop()
            if fn is None or fn in self.watched or fn.name() == "torch::autograd::AccumulateGrad":
                continue
            self.watched[fn] = fn.register_prehook(
                lambda grads, fn=fn: self.log.append((fn.name(), _floats(grads))))
            stack.extend(child for child, _ in fn.next_functions)

    def backward(self, *args, **kwargs):
        self.log.append(CALL)
        return torch.autograd.backward(*args, **kwargs)

    def grad(self, *args, **kwargs):
        self.log.append(CALL)
        return torch.autograd.grad(*args, **kwargs)

    Function = torch.autograd.Function

    def leaf_grads(self):
        return [None if t.grad is None else float(t.grad.detach()) for t in self.leaves]


CALL = ("a call of backward or grad", None)


class EngineBackend:
    def __init__(self, trace):
        self.leaves = []
        self.trace = trace
        self.calls = []  # where in the trace each backward/grad call starts

    def leaf(self, v, name=None):
        x = Value(float(v), requires_grad=True, name=name)
        self.leaves.append(x)
        return x

    def watch(self, *outputs):
        pass

    def backward(self, *args, **kwargs):
        self.calls.append(len(self.trace))
        return engine.backward(*args, **kwargs)

    def grad(self, *args, **kwargs):
        self.calls.append(len(self.trace))
        return engine.grad(*args, **kwargs)

    Function = Function

    def log(self):
        """NodeStart events as (name, grad), with CALL where a backward/grad call began."""
        out = []
        for i, e in enumerate(self.trace):
            out.extend(CALL for c in self.calls if c == i)
            if isinstance(e, NodeStart):
                out.append((e.node.name(), e.grad))
        return out

    def leaf_grads(self):
        return [None if x.grad is None else float(x.grad) for x in self.leaves]


def _outcome(run, B):
    try:
        run(B)
        return None
    except RuntimeError as exc:
        return str(exc).split("\n")[0][:60]


def close(a, b) -> bool:
    """Equal structure and names; floats equal to the last few bits (torch's tanh, exp
    ... kernels differ from the platform's libm in the last bit: rule 4)."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b or math.isclose(a, b, rel_tol=1e-13, abs_tol=1e-300) or (a != a and b != b)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b))
    return a == b


def _calls(log):
    """A log cut at each CALL marker: one list per backward/grad call."""
    out = []
    for item in log:
        if item == CALL:
            out.append([])
        elif out:
            out[-1].append(item)
    return out


def compare(program, exact_after_create_graph=True):
    """Run ``program`` on both; the engine's NodeStart log must be torch's pre-hook log.

    ``exact_after_create_graph=False``: a walk over nodes that a create_graph backward
    recorded is compared as a multiset (the engine's derivative formulas may record
    their ops in another order than torch's, which changes the order of those nodes'
    sequence numbers and so the order of such a walk; the walks over the graphs the
    program built are compared in order)."""
    T = TorchBackend()
    torch_error = _outcome(program, T)
    with record_backward() as trace:
        E = EngineBackend(trace)
        engine_error = _outcome(program, E)
    engine_calls, torch_calls = _calls(E.log()), _calls(T.log)
    assert len(engine_calls) == len(torch_calls)
    created = {e.node for e in trace if isinstance(e, NodeCreated)}
    walked_created = [any(isinstance(e, NodeStart) and e.node in created for e in trace[start:end])
                      for start, end in zip(E.calls, [*E.calls[1:], len(trace)])]
    for mine, theirs, over_created in zip(engine_calls, torch_calls, walked_created):
        if over_created and not exact_after_create_graph:
            mine, theirs = sorted(mine, key=repr), sorted(theirs, key=repr)
        assert close(mine, theirs), (mine, theirs)
    assert (engine_error is None) == (torch_error is None), (engine_error, torch_error)
    # what each leaf's .grad ended as is what the last Accumulate event says
    last = {}
    for e in trace:
        if isinstance(e, Accumulate):
            last[e.leaf] = e.new
    assert close(E.leaf_grads(), T.leaf_grads())
    for x, g in zip(E.leaves, E.leaf_grads()):
        if x in last:
            assert last[x] == g
    return trace, [item for item in T.log if item != CALL]


# ---------------------------------------------------------------------------------
# Hand-written programs, the ones the pages play
# ---------------------------------------------------------------------------------

def used_twice(B):
    x = B.leaf(3.0, "x")
    y = x * x + x.sin()
    B.watch(y)
    y.backward()


def test_value_used_twice_sums_and_frees():
    trace, log = compare(used_twice)
    assert [name for name, _ in log] == ["AddBackward0", "SinBackward0", "MulBackward0"]
    kinds = [type(e) for e in trace]
    assert kinds.count(Sum) == 2  # three deliveries to x: two sums
    assert {e.node.name() for e in trace if isinstance(e, Freed)} == {"SinBackward0", "MulBackward0"}
    acc = [e for e in trace if isinstance(e, Accumulate)]
    assert len(acc) == 1 and acc[0].old is None


def failing_second_call(B):
    x = B.leaf(2.0)
    y = (x * x).exp()
    B.watch(y)
    y.backward()
    y.backward()


def test_failing_second_call_is_recorded():
    trace, log = compare(failing_second_call)
    raised = [e for e in trace if isinstance(e, Raised)]
    assert len(raised) == 1 and raised[0].node.name() == "ExpBackward0"
    assert "second time" in raised[0].message
    assert log[-1][0] == "ExpBackward0"


def retained(B):
    x = B.leaf(2.0)
    y = (x * x).exp()
    B.watch(y)
    y.backward(retain_graph=True)
    y.backward()


def test_retain_graph_walks_twice_and_accumulates():
    trace, log = compare(retained)
    assert len(log) == 4
    acc = [e for e in trace if isinstance(e, Accumulate)]
    assert acc[1].old == acc[0].new and acc[1].new == 2 * acc[0].new
    frees = [i for i, e in enumerate(trace) if isinstance(e, Freed)]
    second_seed = [i for i, e in enumerate(trace) if isinstance(e, Seed)][1]
    assert frees and min(frees) > second_seed  # only the second walk frees


def chained(B):
    x = B.leaf(2.0)
    y = x * x
    z = y.sin()
    B.watch(z)
    dz_dy, = B.grad(z, y, retain_graph=True)
    dz_dx, = B.grad(y, x, grad_outputs=dz_dy)
    assert float(dz_dx) == float(dz_dy) * 4.0


def test_grad_outputs_chaining():
    trace, log = compare(chained)
    assert [name for name, _ in log] == ["SinBackward0", "MulBackward0"]
    seeds = [e for e in trace if isinstance(e, Seed)]
    assert close(seeds[1].grad, math.cos(4.0))  # dz/dy = cos(y), y = 4: the first call's answer seeds the second


def double_backward(B):
    x = B.leaf(3.0)
    y = x ** 3
    B.watch(y)
    g, = B.grad(y, x, create_graph=True)
    B.watch(g)
    g.backward()


def test_create_graph_records_new_nodes_then_walks_them():
    trace, log = compare(double_backward)
    created = [e for e in trace if isinstance(e, NodeCreated)]
    assert created and all(e.by.name() == "PowBackward0" for e in created)
    second = [i for i, e in enumerate(trace) if isinstance(e, Seed)][1]
    walked = {e.node for e in trace[second:] if isinstance(e, NodeStart)}
    assert walked <= {e.node for e in created}
    assert len(walked) == len(log) - 1


def custom(B):
    class Cube(B.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            return g * 3 * x ** 2

    x = B.leaf(2.0)
    y = Cube.apply(x).sin()
    B.watch(y)
    y.backward()


def test_custom_function_node_runs_in_order():
    trace, log = compare(custom)
    assert [name for name, _ in log] == ["SinBackward0", "CubeBackward"]
    assert any(isinstance(e, Freed) and e.node.name() == "CubeBackward" for e in trace)


def shared_trunk(B, retain=True):
    w = B.leaf(0.5)
    x = B.leaf(1.5)
    h = (w * x).tanh()
    a = h * h
    b = h * 3.0
    B.watch(a, b)
    a.backward(retain_graph=retain)
    b.backward()


def test_two_terms_share_a_trunk():
    _, log = compare(shared_trunk)
    assert [name for name, _ in log].count("TanhBackward0") == 2


def test_two_terms_without_retain_graph_fail_in_the_trunk():
    trace, _ = compare(lambda B: shared_trunk(B, retain=False))
    raised = [e for e in trace if isinstance(e, Raised)]
    assert [e.node.name() for e in raised] == ["TanhBackward0"]


def with_hooks(B):
    x = B.leaf(1.0)
    y = x.exp()
    z = y * 2.0
    y.register_hook(lambda g: None)
    z.grad_fn.register_prehook(lambda gs: None)
    B.watch(z)
    z.backward()


def test_hooks_are_flagged():
    trace, _ = compare(with_hooks)
    kinds = [e.kind for e in trace if type(e).__name__ == "HookFired"]
    assert kinds == ["pre", "tensor"]


# ---------------------------------------------------------------------------------
# Random programs
# ---------------------------------------------------------------------------------

# A subset of the parity tests' random-program ops (tests/test_exact_random_programs.py).
OPS = {name: RANDOM_PROGRAM_OPS[name] for name in ("mul", "add", "sub", "tanh", "sin", "exp", "div", "square")}

programs = st.tuples(
    st.lists(st.floats(-1.5, 1.5, allow_nan=False).map(lambda v: round(v, 3)), min_size=3, max_size=3),
    st.lists(st.tuples(st.sampled_from(sorted(OPS)), st.integers(0, 99), st.integers(0, 99)),
             min_size=1, max_size=8),
    st.integers(0, 99),
    st.sampled_from(["backward", "retain-twice", "twice", "grad", "create-graph"]),
)


def random_program(spec):
    start, ops, out_index, how = spec

    def run(B):
        values = [B.leaf(v) for v in start]
        for op, i, j in ops:
            values.append(OPS[op](values[i % len(values)], values[j % len(values)]))
        out = values[3 + out_index % (len(values) - 3)]
        B.watch(out)
        if how == "backward":
            out.backward()
        elif how in ("retain-twice", "twice"):
            out.backward(retain_graph=how == "retain-twice")
            out.backward()
        elif how == "grad":
            B.grad(out, values[:3], allow_unused=True)
        else:
            gs = B.grad(out, values[:3], create_graph=True, allow_unused=True)
            used = [g for g in gs if g is not None and g.requires_grad]
            if used:
                B.watch(*used)
                B.backward(used)
    return run


@settings(derandomize=True, max_examples=60, deadline=None)
@given(programs)
def test_random_programs_follow_torch(spec):
    compare(random_program(spec), exact_after_create_graph=False)


# ---------------------------------------------------------------------------------
# Big graphs, threads, nesting, and "off"
# ---------------------------------------------------------------------------------

def _chain(n):
    x = Value(0.5, requires_grad=True)
    y = x
    for _ in range(n):
        y = y * 1.0001 + 0.1
    return x, y


def test_ten_thousand_nodes_without_recursion():
    x, y = _chain(5_000)  # 10,000 nodes
    limit = sys.getrecursionlimit()
    depth = 0
    frame = sys._getframe()
    while frame is not None:
        depth, frame = depth + 1, frame.f_back
    sys.setrecursionlimit(depth + 60)  # far less than the graph's depth
    try:
        with record_backward() as trace:
            y.backward()
    finally:
        sys.setrecursionlimit(limit)
    assert sum(isinstance(e, NodeStart) for e in trace) == 10_000
    assert x.grad.item() == trace[-1].new


def test_off_records_nothing_and_other_threads_are_not_recorded():
    _, y = _chain(10)
    y.backward(retain_graph=True)  # before the block: not recorded
    done = threading.Event()

    def other():
        a = Value(1.0, requires_grad=True)
        (a * a).backward()
        done.set()

    with record_backward() as trace:
        t = threading.Thread(target=other)
        t.start()
        t.join()
        assert done.is_set()
        assert len(trace) == 0
        y.backward(retain_graph=True)
    n = len(trace)
    assert n > 0
    y.backward(retain_graph=True)  # after: not recorded
    assert len(trace) == n
    assert engine.full_walk._observers_open == 0


def test_nested_recorders_both_see_the_walk():
    x = Value(2.0, requires_grad=True)
    with record_backward() as outer:
        with record_backward() as inner:
            (x * x).backward()
        (x * 3).backward()
    assert 0 < len(inner) < len(outer)
    assert list(outer)[: len(inner)] == list(inner)


def test_deliveries_follow_edges():
    x = Value(2.0, requires_grad=True)
    w = Value(3.0, requires_grad=True)
    y = x * w
    with record_backward() as trace:
        y.backward()
    delivered = {e.target: e.grad for e in trace if isinstance(e, Deliver)}
    assert delivered == {x: 3.0, w: 2.0}


def test_a_failing_walk_leaves_the_recorder_closed():
    x = Value(2.0, requires_grad=True)
    y = x.exp()
    y.backward()
    with pytest.raises(RuntimeError), record_backward():
        y.backward()
    assert engine.full_walk._observers_open == 0


def test_the_player_caps_a_big_trace_and_says_so():
    from engine.viz import MAX_STEPS, Player, render_svg

    _, y = _chain(5_000)
    with record_backward() as trace:
        y.backward()
    player = Player(trace)
    assert player.total == 1 + 10_000 + 1  # the seed, every node, x's accumulation
    assert len(player.steps) == MAX_STEPS
    assert str(player.total) in player.note["en"] and str(MAX_STEPS) in player.note["en"]
    assert str(player.total) in player.note["zh"]
    assert len(player.nodes) <= MAX_STEPS  # only what the steps shown touch is drawn
    svg = render_svg(player.dot(len(player.steps) - 1))
    assert svg.count('class="node"') == len(player.nodes) + len(player.leaves)
    small = Player(trace, max_steps=3)
    assert len(small.steps) == 3 and small.note["en"]
    with pytest.raises(ValueError):
        Player(trace, max_steps=0)


def test_a_short_trace_has_no_note_and_one_caption_per_language():
    from engine.viz import Player

    x = Value(3.0, requires_grad=True, name="x")
    y = Value(4.0, requires_grad=True, name="y")
    with record_backward() as trace:
        (x * y).backward()
    player = Player(trace)
    assert player.note == {"en": "", "zh": ""}
    captions = [s.caption for s in player.steps]
    # x*y: d/dx = y = 4, d/dy = x = 3, worked out by hand
    assert captions[1]["en"].startswith("MulBackward0 multiplies 1.0 by the saved other = 4.0 and sends 4.0 to x")
    assert "把 1.0 乘以保存的 other = 4.0，把 4.0 传给 x" in captions[1]["zh"]
    assert captions[-1]["en"] == "All of y's gradient has arrived: y.grad was None and is now 3.0."


def test_player_export_gives_dot_and_captions():
    from engine.viz import Player

    x = Value(2.0, requires_grad=True, name="x")
    with record_backward() as trace:
        (x * x).backward()
    steps = Player(trace).export("zh")
    assert len(steps) == 3 and all(s["dot"].startswith("digraph") for s in steps)
    assert steps[-1]["caption"] == "x 的梯度已全部到达：x.grad 原为 None，现在是 4.0。"
    with pytest.raises(ValueError, match="lang"):
        Player(trace).export("fr")
