"""engine.compile and engine.trace (issue 12) against the eager engine, and torch.

The eager engine is the reference for a compiled function: the same program runs
eagerly and compiled, and values and gradients must be equal bit for bit (compared
by ``repr``, which tells -0.0 from 0.0 and keeps nan and inf).  Random programs come
from hypothesis (derandomized), with Python branches on Values so guards and
retracing are exercised, IEEE edge numbers included.  The composition rules (how
the compiled node behaves inside the eager engine's backward) are checked against
the same program run eagerly, and the MLP gradient against torch.
"""

from __future__ import annotations

import dis
import inspect
import math
import random
import warnings

import pytest
import torch
from hypothesis import given, settings, strategies as st

import engine
from engine import Value, compiled, ops as ops_module
from engine.value import Node
from engine.compiled import MAX_TRACES, CompiledFunctionBackward, TracerWarning, _BACKWARD
from engine.nn import MLP

SETTINGS = settings(derandomize=True, max_examples=150, deadline=None)

UNARY = ["neg", "abs", "exp", "log", "tanh", "sigmoid", "relu", "sin", "cos", "sinh", "cosh", "sqrt", "pos"]
BINARY = ["add", "sub", "mul", "div", "pow"]
NUMBERS = st.sampled_from([0.0, -0.0, 1.0, -1.0, 2, 3, 0.5, -0.5, -2, 1.5, 1e-300, 1e300,
                          math.inf, -math.inf, math.nan])
FLOATS = st.one_of(st.floats(-3, 3), NUMBERS, st.floats(allow_nan=True, allow_infinity=True))
# Numbers with all their bits in use, whose sums round: hypothesis's floats shrink to
# short ones (1.5, 0.25 ...) whose sums are exact in any order.
ROUNDING = st.integers(0, 2**32).map(lambda seed: random.Random(seed).uniform(-3, 3))


def apply(op, a, b=None):
    """One op of a program, on Values (eager) or whatever compile passes in."""
    if op == "neg":
        return -a
    if op == "pos":
        return +a
    if op == "abs":
        return abs(a)
    if op in UNARY:
        return getattr(a, op)()
    return {"add": lambda: a + b, "sub": lambda: a - b, "mul": lambda: a * b,
            "div": lambda: a / b, "pow": lambda: a ** b}[op]()


@st.composite
def programs(draw):
    """Arguments, closed-over parameters and instructions.  An instruction reads
    earlier values derived from the arguments (a parameter only as the other operand
    of a binary op, on either side; a trace sees only what meets an argument), or a
    number, on either side.  A "branch" runs one op or another depending on a
    comparison of two values, which compile must guard."""
    n_args = draw(st.integers(1, 3))
    n_params = draw(st.integers(0, 2))
    n_derived, n_values = n_args, n_args + n_params
    derived = lambda: draw(st.integers(0, n_derived - 1)).__index__()  # noqa: E731
    instructions = []
    for _ in range(draw(st.integers(1, 12))):
        kind = draw(st.sampled_from(["unary", "binary", "binary", "number", "branch"]))
        index = lambda i: i if i < n_args else i + n_params  # noqa: E731  (position among all values)
        if kind == "unary":
            instructions.append(("unary", draw(st.sampled_from(UNARY)), index(derived())))
        elif kind == "binary":
            other = draw(st.integers(0, n_values - 1))
            instructions.append(("binary", draw(st.sampled_from(BINARY)), index(derived()), other, draw(st.booleans())))
        elif kind == "number":
            instructions.append(("number", draw(st.sampled_from(BINARY)), index(derived()), draw(NUMBERS),
                                 draw(st.booleans())))
        else:
            instructions.append(("branch", draw(st.sampled_from([">", "<=", "bool"])), index(derived()),
                                 draw(st.integers(0, n_values - 1)), draw(st.sampled_from(UNARY)),
                                 draw(st.sampled_from(UNARY))))
        n_derived += 1
        n_values += 1
    return n_args, n_params, instructions


def run_program(program, params, *args):
    """The program as a plain Python function of its arguments (params closed over)."""
    _, _, instructions = program
    vals = list(args) + list(params)
    for ins in instructions:
        if ins[0] == "unary":
            vals.append(apply(ins[1], vals[ins[2]]))
        elif ins[0] == "binary":
            _, op, i, j, swap = ins
            vals.append(apply(op, vals[j], vals[i]) if swap else apply(op, vals[i], vals[j]))
        elif ins[0] == "number":
            _, op, i, n, number_first = ins
            vals.append(apply(op, n, vals[i]) if number_first else apply(op, vals[i], n))
        else:
            _, test, i, j, op1, op2 = ins
            taken = vals[i] > vals[j] if test == ">" else vals[i] <= vals[j] if test == "<=" else bool(vals[i])
            vals.append(apply(op1 if taken else op2, vals[i]))
    return sum(vals[len(args) + len(params):], vals[-1] * 0.5)  # every result reaches the output


def bits(x):
    """A number or Value as text that is equal exactly when the bits are (nan aside)."""
    if x is None:
        return None
    return repr(x.item() if isinstance(x, Value) else x)


def eager_and_compiled(program, arg_numbers, param_numbers, grad_args, compiled_fn, compiled_params, seed=1.0):
    """Run the program eagerly on fresh Values and through ``compiled_fn`` (whose
    parameters are ``compiled_params``, set to ``param_numbers``); return both
    (value, argument grads, parameter grads) as bit-texts."""
    results = []
    for mode in ("eager", "compiled"):
        args = [Value(float(a), requires_grad=rg) for a, rg in zip(arg_numbers, grad_args)]
        if mode == "eager":
            params = [Value(float(p), requires_grad=True) for p in param_numbers]
            out = run_program(program, params, *args)
        else:
            params = compiled_params
            for p, n in zip(params, param_numbers):
                p.data = float(n)
                p.grad = None
            out = compiled_fn(*args)
        if out.requires_grad:
            out.backward(seed)
        results.append((bits(out), [bits(a.grad) for a in args], [bits(p.grad) for p in params]))
    return results


@SETTINGS
@given(programs(), st.data())
def test_random_programs_match_eager_bit_for_bit(program, data):
    n_args, n_params, _ = program
    params = [Value(1.0, requires_grad=True) for _ in range(n_params)]
    compiled_fn = engine.compile(lambda *args: run_program(program, params, *args))
    grad_args = data.draw(st.lists(st.booleans(), min_size=n_args, max_size=n_args))
    for _ in range(3):  # the first call traces; the others replay (or retrace on a guard)
        arg_numbers = data.draw(st.lists(FLOATS, min_size=n_args, max_size=n_args))
        param_numbers = data.draw(st.lists(FLOATS, min_size=n_params, max_size=n_params))
        seed = data.draw(st.sampled_from([1.0, -2.5, 0.0]))
        eager, compiled = eager_and_compiled(program, arg_numbers, param_numbers, grad_args, compiled_fn, params, seed)
        assert compiled == eager, (program, arg_numbers, param_numbers)


@st.composite
def call_plans(draw, n_args: int, n_params: int):
    """Several calls of one program in one backward: per call, each argument is a
    constant, a fresh leaf, the one leaf all calls share, or one of the parameters the
    function reads anyway (f(w) for an f that reads w), and whether an eager term on a
    parameter is made right after the call (so eager nodes and compiled calls take
    turns adding to the same leaves)."""
    calls = []
    kinds_drawn = ["constant", "constant", "leaf", "shared"] + (["parameter"] if n_params else [])
    for _ in range(draw(st.integers(2, 4))):
        kinds = draw(st.lists(st.sampled_from(kinds_drawn), min_size=n_args, max_size=n_args))
        numbers = draw(st.lists(st.one_of(ROUNDING, FLOATS), min_size=n_args, max_size=n_args))
        calls.append((kinds, numbers, n_params > 0 and draw(st.booleans())))
    return calls


@SETTINGS
@given(programs(), st.data())
def test_several_calls_in_one_backward_match_eager_bit_for_bit(program, data):
    """Calls that add to the same leaves (the parameters, a shared argument), with
    eager terms in between: every leaf's total is the eager one bit for bit, which
    needs each contribution added to it one at a time in the walk's order (floating
    addition is not associative).  backward() and grad() both, on the fast walk and,
    with a hook or retain_grad somewhere, on the general walk."""
    n_args, n_params, _ = program
    calls = data.draw(call_plans(n_args, n_params))
    param_numbers = data.draw(st.lists(st.one_of(ROUNDING, FLOATS), min_size=n_params, max_size=n_params))
    shared_number = data.draw(st.one_of(ROUNDING, FLOATS))
    use_grad = data.draw(st.booleans())
    hook = data.draw(st.sampled_from([None, "leaf hook", "retain_grad on a call"]))

    def reusing(params, *args):
        """The program, plus every parameter times every argument: each leaf is read
        several times per call, so its contributions must be added one at a time."""
        return run_program(program, params, *args) + sum((p * a for p in params for a in args), 0.0)

    compiled_params = [Value(1.0, requires_grad=True) for _ in range(n_params)]
    compiled_fn = engine.compile(lambda *args: reusing(compiled_params, *args))
    results = []
    for mode in ("eager", "compiled"):
        if mode == "eager":
            params = [Value(float(n), requires_grad=True) for n in param_numbers]
            fn = lambda *args: reusing(params, *args)  # noqa: E731
        else:
            params, fn = compiled_params, compiled_fn
            for p, n in zip(params, param_numbers):
                p.data, p.grad = float(n), None
        shared = Value(float(shared_number), requires_grad=True)
        leaves, terms = [shared] + params, []
        for k, (kinds, numbers, eager_term) in enumerate(calls):
            args = [shared if kind == "shared" else params[j % n_params] if kind == "parameter"
                    else Value(float(n), requires_grad=kind == "leaf")
                    for j, (kind, n) in enumerate(zip(kinds, numbers))]
            leaves += [a for a in args if a.requires_grad and a is not shared and all(a is not p for p in params)]
            terms.append(fn(*args))
            if hook == "retain_grad on a call" and terms[-1].requires_grad:
                terms[-1].retain_grad()
            if eager_term:
                terms.append(params[k % n_params] * 0.75)
        out = sum(terms[1:], terms[0])
        if hook == "leaf hook":
            shared.register_hook(lambda g: None)  # only looks: the general walk runs
        if not out.requires_grad:
            results.append(bits(out))
        elif use_grad:
            results.append((bits(out), [bits(g) for g in engine.grad(out, leaves, allow_unused=True)]))
        else:
            out.backward()
            results.append((bits(out), [bits(v.grad) for v in leaves]))
    assert results[1] == results[0], (program, calls, param_numbers)


@SETTINGS
@given(programs(), st.data())
def test_trace_replays_programs_without_branches(program, data):
    """engine.trace on a program without branches: equal to eager on new numbers."""
    n_args, n_params, instructions = program
    program = (n_args, n_params, [("unary", ins[4], ins[2]) if ins[0] == "branch" else ins for ins in instructions])
    params = [Value(1.0, requires_grad=True) for _ in range(n_params)]
    grad_args = [True] * n_args
    example = [Value(0.25, requires_grad=True) for _ in range(n_args)]
    traced = engine.trace(lambda *args: run_program(program, params, *args), *example)
    arg_numbers = data.draw(st.lists(FLOATS, min_size=n_args, max_size=n_args))
    param_numbers = data.draw(st.lists(FLOATS, min_size=n_params, max_size=n_params))
    eager, compiled = eager_and_compiled(program, arg_numbers, param_numbers, grad_args, traced, params)
    assert compiled == eager


def test_every_forward_node_class_has_a_compiled_formula():
    """If ops.py gains an op, compiled mode must learn its derivative (or this fails)."""
    only_in_create_graph = {"CopyBackwards", "SgnBackward0", "WhereBackward0", "TanhBackwardBackward0",
                            "SigmoidBackwardBackward0", "ThresholdBackwardBackward0",
                            "MulBackward1", "AddBackward1", "SubBackward1", "CloneBackward0"}
    node_classes = {name for name, obj in vars(ops_module).items()
                    if inspect.isclass(obj) and issubclass(obj, Node) and obj is not Node}
    assert {cls for cls, _, _ in _BACKWARD.values()} == node_classes - only_in_create_graph


# ---------------------------------------------------------------------------------
# The MLP: eager, compiled and torch
# ---------------------------------------------------------------------------------

def mlp_setup(seed=0):
    random.seed(seed)
    model = MLP(2, [16, 16, 1])
    rnd = random.Random(seed)
    data = [([rnd.uniform(-2, 2), rnd.uniform(-2, 2)], rnd.choice([-1, 1])) for _ in range(12)]
    return model, data


def mlp_step(model, data, sample_loss):
    """micrograd's demo loss (mean hinge + L2) and its gradients."""
    losses = [sample_loss(Value(x0), Value(x1), y) for (x0, x1), y in data]
    loss = sum(losses) * (1.0 / len(losses)) + 1e-4 * sum(p * p for p in model.parameters())
    model.zero_grad()
    loss.backward()
    return loss.item(), [p.grad.item() for p in model.parameters()]


def test_mlp_loss_compiled_equals_eager_bit_for_bit_and_torch():
    model, data = mlp_setup()
    eager_loss = lambda x0, x1, y: (1 + -y * model([x0, x1])).relu()  # noqa: E731
    compiled_loss = engine.compile(eager_loss)
    for _ in range(3):
        eager = mlp_step(model, data, eager_loss)
        compiled = mlp_step(model, data, compiled_loss)
        assert compiled == eager  # floats compared with ==: bit for bit
        for p in model.parameters():  # an SGD step, so the next replay sees new numbers
            p.data -= 0.1 * p.grad.item()
    assert compiled_loss.traces <= 4  # y = -1 and 1, and the guards of the ReLUs' kinks
    # and against torch, on the current weights
    params = [torch.tensor(p.item(), dtype=torch.float64, requires_grad=True) for p in model.parameters()]
    tmodel, k = [], 0
    for layer in model.layers:
        rows = []
        for n in layer.neurons:
            rows.append((params[k:k + len(n.w)], params[k + len(n.w)], n.nonlin))
            k += len(n.w) + 1
        tmodel.append(rows)

    def torch_forward(x):
        for layer in tmodel:
            x = [sum((w * xi for w, xi in zip(ws, x)), b) for ws, b, _ in layer]
            x = [torch.relu(a) if nonlin else a for a, (_, _, nonlin) in zip(x, layer)]
        return x[0]

    def t64(v):
        return torch.tensor(v, dtype=torch.float64)

    tl = sum(torch.relu(1 + -y * torch_forward([t64(x0), t64(x1)]))
             for (x0, x1), y in data) * (1.0 / len(data)) + 1e-4 * sum(p * p for p in params)
    tl.backward()
    loss, grads = mlp_step(model, data, compiled_loss)
    assert loss == pytest.approx(tl.item(), rel=1e-12)
    assert grads == pytest.approx([p.grad.item() for p in params], rel=1e-9, abs=1e-15)


def test_a_batch_written_as_a_loop_compiles():
    model, data = mlp_setup(1)

    def batch_loss(xs, ys):
        return sum((1 + -y * model(x)).relu() for x, y in zip(xs, ys)) * (1.0 / len(ys))

    xs = [[Value(a), Value(b)] for (a, b), _ in data]
    ys = [y for _, y in data]
    compiled = engine.compile(batch_loss)
    out = compiled(xs, ys)
    out.backward()
    got = [p.grad.item() for p in model.parameters()]
    model.zero_grad()
    batch_loss(xs, ys).backward()
    assert got == [p.grad.item() for p in model.parameters()]


# ---------------------------------------------------------------------------------
# Composition with the eager engine
# ---------------------------------------------------------------------------------

def two_programs():
    """The same function, eager and compiled, each with its own parameter w."""
    out = []
    for mode in ("eager", "compiled"):
        w = Value(0.75, requires_grad=True)

        def f(x, y, w=w):
            return (x * w + y).tanh() * x + (w * y).sin()
        out.append((f if mode == "eager" else engine.compile(f), w))
    return out


def test_grad_accumulates_across_calls_and_with_eager_terms():
    results = []
    for f, w in two_programs():
        x, y = Value(0.3, requires_grad=True), Value(-1.2, requires_grad=True)
        f(x, y).backward()
        (f(x * 2, y) * 3).backward()  # a non-leaf argument: the gradient flows on into x
        results.append([bits(v.grad) for v in (x, y, w)])
    assert results[0] == results[1]


def test_leaf_hooks_run_once_with_the_total_and_can_replace_it():
    results = []
    for f, w in two_programs():
        x, y = Value(0.3, requires_grad=True), Value(-1.2, requires_grad=True)
        seen = []
        x.register_hook(lambda g: seen.append(bits(g)) or g * 10)
        w.register_post_accumulate_grad_hook(lambda p: seen.append(("post", bits(p.grad))))
        out = f(x, y)
        out.register_hook(lambda g: seen.append(("out", bits(g))))
        (out + x).backward()
        results.append((seen, bits(x.grad), bits(w.grad)))
    assert results[0] == results[1]


def test_a_second_backward_raises_without_retain_graph():
    messages = []
    for f, _ in two_programs():
        x, y = Value(0.3, requires_grad=True), Value(-1.2, requires_grad=True)
        out = f(x, y)
        out.backward(retain_graph=True)
        out.backward()  # retained once: runs
        with pytest.raises(RuntimeError) as err:
            out.backward()
        messages.append((str(err.value), bits(x.grad)))
    assert messages[0] == messages[1]
    assert "backward through the graph a second time" in messages[0][0]


def test_engine_grad_with_inputs_and_grad_outputs():
    results = []
    for f, w in two_programs():
        x, y = Value(0.3, requires_grad=True), Value(-1.2, requires_grad=True)
        h = x * x  # a non-leaf input: grad() can ask for it
        out = f(h, y)
        r = [bits(g) for g in engine.grad(out, [w, h], grad_outputs=Value(-2.0), retain_graph=True)]
        r += [bits(g) for g in engine.grad([out, out * out], [x], grad_outputs=[1.0, 0.5], retain_graph=True)]
        out.backward(inputs=[y], retain_graph=True)
        r += [bits(y.grad), bits(x.grad), bits(w.grad)]
        unused = Value(1.0, requires_grad=True)
        with pytest.raises(RuntimeError) as err:
            engine.grad(out, [unused])
        r.append(str(err.value))
        results.append(r)
    assert results[0] == results[1]


def test_the_node_is_one_compiled_node_with_an_edge_per_value_read():
    w = Value(0.5, requires_grad=True)
    f = engine.compile(lambda x, c: (x * w + c) * x)
    x, c = Value(2.0, requires_grad=True), Value(1.0)
    out = f(x, c)
    assert type(out.grad_fn) is CompiledFunctionBackward and out.grad_fn.name() == "CompiledFunctionBackward"
    edges = out.grad_fn.next_functions
    assert [type(e[0]).__name__ for e in edges] == ["AccumulateGrad", "NoneType", "AccumulateGrad"]
    assert edges[0][0].variable is x and edges[2][0].variable is w


def test_no_grad_and_inputs_that_do_not_require_grad_give_plain_values():
    f = engine.compile(lambda x: x.exp() * 2)
    x = Value(1.0, requires_grad=True)
    with engine.no_grad():
        y = f(x)
    assert (y.requires_grad, y.grad_fn) == (False, None)
    z = f(Value(1.0))
    assert (z.requires_grad, bits(z)) == (False, bits(Value(1.0).exp() * 2))
    assert f(x).grad_fn is not None


def test_an_argument_passed_twice_is_one_input():
    """f(x, x): one edge to x, and x's contributions summed in the eager order."""
    def f(a, b):
        return a * b + a * a
    x = Value(1.5, requires_grad=True)
    f(x, x).backward()
    eager = bits(x.grad)
    x.grad = None
    out = engine.compile(f)(x, x)
    out.backward()
    assert bits(x.grad) == eager and len(out.grad_fn.next_functions) == 1


# ---------------------------------------------------------------------------------
# Guards, retracing, the cache
# ---------------------------------------------------------------------------------

def test_the_same_value_passed_twice_is_a_case_of_its_own():
    """f(x, x) makes one input where f(x, y) makes two: the cache key tells them apart,
    at any depth, and f(y, y) replays f(x, x)'s trace."""
    f = engine.compile(lambda a, b: a * b + a)
    x, y = Value(2.0, requires_grad=True), Value(3.0, requires_grad=True)
    assert f(x, y).item() == 8.0 and f.traces == 1
    assert f(x, x).item() == 6.0 and f.traces == 2
    assert f(y, y).item() == 12.0 and f(y, x).item() == 9.0 and f.traces == 2
    c = Value(5.0)  # no grad: its own case once more, passed twice or not
    assert f(c, c).item() == 30.0 and f(c, Value(5.0)).item() == 30.0 and f.traces == 4
    g = engine.compile(lambda xs, t: xs[0] * t[0] + xs[1] * t[1])
    assert g([x, y], (x, 1)).item() == 7.0 and g.traces == 1
    assert g([x, y], (y, 1)).item() == 9.0 and g.traces == 2
    assert g([y, x], (y, 1)).item() == 11.0 and g.traces == 2
    assert len(g([x, y], (y, 1)).grad_fn.next_functions) == 2


def test_a_branch_on_a_value_is_guarded_and_the_other_branch_retraced():
    calls = []

    @engine.compile
    def f(x):
        calls.append(1)
        return x * 2 if x > 0 else -x
    assert f(Value(3.0)).item() == 6.0 and f.traces == 1
    assert f(Value(5.0)).item() == 10.0 and f.traces == 1  # replayed
    assert f(Value(-4.0)).item() == 4.0 and f.traces == 2  # the guard failed: traced again
    assert f(Value(-1.0)).item() == 1.0 and f(Value(1.0)).item() == 2.0 and f.traces == 2
    assert len(calls) == 2  # the Python function ran only to trace
    assert "# guard" in f.source


def test_reading_the_number_is_a_guard_too():
    f = engine.compile(lambda x: x * float(x))
    assert f(Value(3.0)).item() == 9.0
    assert f(Value(4.0)).item() == 16.0 and f.traces == 2


def test_the_cache_is_keyed_by_structure():
    f = engine.compile(lambda x, n: x * n)
    a, b = Value(1.0, requires_grad=True), Value(2.0)
    f(a, 3)
    f(Value(5.0, requires_grad=True), 3)
    assert f.traces == 1
    f(b, 3)  # does not require grad
    f(a, 4)  # another constant
    f([a][0], 4.0)  # a float constant is not the int
    assert f.traces == 4


@pytest.mark.parametrize("body", [lambda x, c: x + c, lambda x, c: x * c, lambda x, c: c - x, lambda x, c: x / c])
def test_constants_equal_as_numbers_but_not_as_bits_are_traced_apart(body):
    """0.0 == -0.0, yet x + 0.0 and x + -0.0 differ for x = -0.0: each zero is its own
    trace, written into the code.  NaN != NaN, yet all NaNs share one trace."""
    f = engine.compile(body)
    for x in (-0.0, 0.0, 2.0, -3.0):
        for c in (0.0, -0.0, 0.0, -0.0):
            got, want = f(Value(x), c).item(), body(Value(x), c).item()
            assert math.copysign(1.0, got) == math.copysign(1.0, want) and (got == want or got != got)
    assert f.traces == 2
    f(Value(1.0), math.nan)
    f(Value(1.0), float("nan"))  # another NaN object
    assert f.traces == 3


def test_freezing_a_parameter_retraces():
    w = Value(2.0, requires_grad=True)
    f = engine.compile(lambda x: x * w)
    x = Value(3.0, requires_grad=True)
    f(x).backward()
    assert w.grad.item() == 3.0
    w.requires_grad = False
    w.grad = None
    f(x).backward()
    assert w.grad is None and f.traces == 2


def test_parameters_are_read_on_every_call():
    w = Value(2.0, requires_grad=True)
    f = engine.compile(lambda x: x * w)
    assert f(Value(3.0)).item() == 6.0
    w.data = 5.0
    assert f(Value(3.0)).item() == 15.0


def test_after_too_many_traces_it_runs_eagerly_with_a_warning():
    f = engine.compile(lambda x, n: x * n)
    x = Value(1.0, requires_grad=True)
    for n in range(MAX_TRACES):
        f(x, n)
    with pytest.warns(TracerWarning, match="run eagerly"):
        y = f(x, 100)
    assert y.grad_fn.name() == "MulBackward0" and f.traces == MAX_TRACES


def test_trace_warns_on_a_branch_and_keeps_the_branch_taken():
    with pytest.warns(TracerWarning, match="A comparison of Values while tracing"):
        f = engine.trace(lambda x: x * 2 if x > 0 else -x, Value(3.0))
    assert f(Value(-4.0)).item() == -8.0  # the recorded branch, like torch.jit.trace
    with pytest.warns(TracerWarning, match="float"):
        engine.trace(lambda x: x * float(x), Value(3.0))


def test_trace_takes_the_structure_it_was_traced_with():
    f = engine.trace(lambda x, y: x * y, Value(1.0, requires_grad=True), Value(2.0))
    with pytest.raises(ValueError, match="was traced for other inputs"):
        f(Value(1.0), Value(2.0))
    with pytest.raises(ValueError, match="was traced for other inputs"):
        f(Value(1.0, requires_grad=True))


# ---------------------------------------------------------------------------------
# What it cannot do, it says
# ---------------------------------------------------------------------------------

def test_double_backward_raises_and_names_the_eager_function():
    f = engine.compile(lambda x: x ** 3)
    x = Value(2.0, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"does not support double backward.*__wrapped__"):
        engine.grad(f(x), x, create_graph=True)
    dy, = engine.grad(f.__wrapped__(x), x, create_graph=True)  # the alternative named works
    assert engine.grad(dy, x)[0].item() == 12.0


@pytest.mark.parametrize("body", [lambda t: t.register_hook(lambda g: g), lambda t: t.retain_grad()])
def test_hooks_and_retain_grad_on_intermediates_raise(body):
    def f(x):
        h = x * 2
        body(h)
        return h * h
    with pytest.raises(RuntimeError, match="on an intermediate Value is not supported inside a compiled function"):
        engine.compile(f)(Value(1.0, requires_grad=True))


def test_other_value_methods_inside_raise_clearly():
    with pytest.raises(RuntimeError, match=r"Value.backward is not supported inside a compiled function"):
        engine.compile(lambda x: x.backward())(Value(1.0, requires_grad=True))


def test_anomaly_mode_runs_the_function_eagerly():
    f = engine.compile(lambda x: (x * 0).log() * 0)
    x = Value(1.0, requires_grad=True)
    with warnings.catch_warnings(record=True), engine.detect_anomaly():
        warnings.simplefilter("always")
        y = f(x)
        assert y.grad_fn.name() == "MulBackward0"  # real nodes, which anomaly mode can point at
        with pytest.raises(RuntimeError, match="returned nan values"):
            y.backward()
    assert f.traces == 0


def test_bad_arguments_and_results():
    with pytest.raises(TypeError, match="takes Values, numbers, and lists or tuples of them; got str"):
        engine.compile(lambda x: x)("a")
    with pytest.raises(TypeError, match="positional arguments only"):
        engine.compile(lambda x: x)(x=Value(1.0))
    with pytest.raises(TypeError, match="must return a Value computed from its arguments, got float"):
        engine.compile(lambda x: 1.0)(Value(1.0))
    with pytest.raises(TypeError, match="expects a function, got int"):
        engine.compile(3)
    with pytest.raises(RuntimeError, match="has not been traced yet"):
        _ = engine.compile(lambda x: x).source


def test_values_computed_from_parameters_alone_inside_raise():
    w = Value(2.0, requires_grad=True)
    f = engine.compile(lambda x: x + w * w)  # w * w never meets x: the trace cannot see it
    with pytest.raises(RuntimeError, match="neither its arguments nor derived from them"):
        f(Value(1.0))
    g = engine.compile(lambda x: x + w * (w * x))  # fine when the computation meets an argument
    assert g(Value(1.0)).item() == 5.0


def test_tracing_state_does_not_leak_after_an_exception():
    def f(x):
        if x > 0:
            raise ValueError("boom")
        return x
    c = engine.compile(f)
    with pytest.raises(ValueError, match="boom"):
        c(Value(1.0))
    assert c(Value(-1.0)).item() == -1.0
    assert (Value(2.0) * 3).item() == 6.0  # the engine itself is untouched


# ---------------------------------------------------------------------------------
# The docs page, in both languages
# ---------------------------------------------------------------------------------

def test_the_compiling_page_has_the_same_anchors_and_code_in_both_languages():
    import pathlib
    import re
    docs = pathlib.Path(__file__).resolve().parents[1] / "docs"
    pages = [(docs / name).read_text(encoding="utf-8") for name in ("compiling.md", "compiling.zh.md")]
    anchors = [re.findall(r"^#+ .*\{ #([\w-]+) \}$", page, re.M) for page in pages]
    headings = [re.findall(r"^#+ ", page, re.M) for page in pages]
    assert anchors[0] == anchors[1] and len(anchors[0]) == len(headings[0]) == len(headings[1])
    code = [re.findall(r"^```.*?^```", page, re.M | re.S) for page in pages]
    assert code[0] == code[1] and len(code[0]) >= 5


def test_a_module_compiles_and_errors_name_it():
    random.seed(3)
    model = MLP(2, [3, 1])
    compiled = engine.compile(model)
    with pytest.raises(RuntimeError, match="MLP has not been traced yet"):
        _ = compiled.source
    x = [Value(0.5), Value(-1.0)]
    assert compiled(x).item() == model(x).item()


def test_a_custom_function_inside_raises_instead_of_dropping_its_gradient():
    class Double(engine.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2
    with pytest.raises(RuntimeError, match="custom Function's apply\\(\\) cannot run inside a compiled function"):
        engine.compile(lambda x: Double.apply(x) + x)(Value(1.0, requires_grad=True))
    with engine.no_grad():  # grad mode off by the user is fine: nothing to differentiate
        assert engine.compile(lambda x: x * 3)(Value(1.0, requires_grad=True)).requires_grad is False


def test_no_grad_inside_the_function_stops_the_gradient_as_eagerly():
    results = []
    for f in (lambda x: x * x + engine.no_grad()(lambda: x * 3)(),
              engine.compile(lambda x: x * x + engine.no_grad()(lambda: x * 3)())):
        x = Value(2.0, requires_grad=True)
        f(x).backward()
        results.append(bits(x.grad))
    assert results[0] == results[1] == "4.0"


def test_trace_says_when_a_parameter_changed_requires_grad():
    w = Value(2.0, requires_grad=True)
    f = engine.trace(lambda x: x * w, Value(1.0))
    assert f(Value(3.0)).item() == 6.0
    w.requires_grad = False
    with pytest.raises(RuntimeError, match="changed requires_grad since it was traced"):
        f(Value(3.0))


def test_a_node_hook_after_a_compiled_node_sees_the_leaf_grad_it_completed():
    """A compiled node runs no user code, but a hook elsewhere in the graph still sees
    a leaf's .grad the moment the compiled node completed it, as eagerly (and in torch)."""
    seen = []
    for wrap in (lambda f: f, engine.compile):
        x, c = Value(2.0, requires_grad=True), Value(3.0, requires_grad=True)
        w = c.exp()                      # older than the call: its node runs after it
        y = wrap(lambda a: a * a)(x)     # x's gradient comes from this call alone
        w.grad_fn.register_prehook(lambda grads, x=x: seen.append(None if x.grad is None else x.grad.item()))
        (y * w).backward()
        seen.append(x.grad.item())
    assert seen[:2] == seen[2:] and seen[0] is not None


# ---------------------------------------------------------------------------------
# The generated code: its shape, and what makes it fast
# ---------------------------------------------------------------------------------

@pytest.mark.parametrize("body, line", [
    (lambda a, b, c: c - (a + b), "v1 = i2 - (i0 + i1)"),
    (lambda a, b, c: a - b + c, "v1 = i0 - i1 + i2"),
    (lambda a, b, c: (a + b) * c, "v1 = (i0 + i1) * i2"),
    (lambda a, b, c: a * b + c, "v1 = i0 * i1 + i2"),
    (lambda a, b, c: c * -(a * b), "v2 = i2 * -(i0 * i1)"),
    (lambda a, b, c: -(-a) * (b - c).tanh(), "v4 = -(-i0) * tanh(i1 - i2)"),  # noqa: B002  (the point)
    (lambda a, b, c: 2 - (a * b), "v1 = 2 - i0 * i1"),
])
def test_a_value_used_once_is_written_into_its_use_with_the_parentheses_it_needs(body, line):
    """The forward writes a value read once (and not saved for the backward: here
    nothing requires grad) into the expression that reads it.  Python evaluates that
    expression op by op, left to right, as the separate lines did: the same number."""
    f = engine.compile(body)
    numbers = (0.1, 0.7, -1.3)
    out = f(*[Value(v) for v in numbers])
    assert "    " + line in f.source.split("\n\n")[0].splitlines()
    assert bits(out) == bits(body(*[Value(v) for v in numbers]))


def test_values_the_backward_saves_or_reads_twice_keep_their_own_line():
    def f(a, b):
        p = a * b
        return p.tanh() * p

    read_twice = engine.compile(f)
    read_twice(Value(0.5), Value(2.0))
    assert read_twice.source.split("\n\n")[0].splitlines()[1:3] == ["    v0 = i0 * i1", "    v2 = tanh(v0) * v0"]
    saved = engine.compile(lambda a: a.tanh() * 3)
    saved(Value(0.5, requires_grad=True))
    assert "    v0 = tanh(i0)" in saved.source.split("\n\n")[0].splitlines()  # tanh's backward reads its result


def _extended_args(code) -> int:
    return sum(i.opname == "EXTENDED_ARG" for i in dis.get_instructions(code))


def test_an_mlp_backward_keeps_its_local_names_below_256():
    """CPython spends an extra instruction (EXTENDED_ARG) on every load and store of a
    local numbered above 255.  An MLP's backward reads its 337 running totals from a
    list and its parameters' numbers from p, so its locals stay below 256."""
    model, _ = mlp_setup()
    loss = engine.compile(lambda x0, x1, y: (1 + -y * model([x0, x1])).relu())
    loss(Value(0.5), Value(-0.25), 1)
    for fn in (loss._latest.forward, loss._latest.backward):
        assert fn.__code__.co_nlocals < 256
        assert not [i for i in dis.get_instructions(fn) if i.opname.endswith("_FAST") and i.arg > 255]


def test_a_big_backward_numbers_its_most_used_names_first(monkeypatch):
    """A backward with more than 256 local names (here one per argument) numbers the
    names it reads most often first (here the first two arguments, read in every term),
    so that they need no EXTENDED_ARG."""
    many = engine.compile(lambda *xs: sum(x * (xs[0] * xs[1]).tanh() for x in xs))
    many(*[Value(k / 300, requires_grad=True) for k in range(300)])
    backward = many._latest.backward.__code__
    assert backward.co_nlocals > 256
    body = many.source.split("\n\ndef backward")[1]
    counts = {name: body.count(name + " ") + body.count(name + "\n") + body.count(name + ",")
              for name in backward.co_varnames}
    threshold = sorted(counts.values(), reverse=True)[200]
    late = [n for n in backward.co_varnames[256:] if counts[n] > threshold]
    assert not late, late
    hot = max(counts, key=counts.get)
    assert backward.co_varnames.index(hot) < 256, hot
    monkeypatch.setattr(compiled, "_most_used_first", lambda body, n_args: [])
    without = engine.compile(lambda *xs: sum(x * (xs[0] * xs[1]).tanh() for x in xs))
    without(*[Value(k / 300, requires_grad=True) for k in range(300)])
    monkeypatch.undo()
    assert _extended_args(backward) < _extended_args(without._latest.backward.__code__)
    small = engine.compile(lambda a: a.tanh() * 2)
    small(Value(1.0, requires_grad=True))
    assert "if 0:" not in small.source  # only where there are more than 256 names


def test_calls_with_different_constants_share_one_tuple_of_leaves():
    """Two traces (labels +1 and -1) feed the same parameters: the fast walk keeps
    their running totals from one call to the next only if it can tell, by identity."""
    model, _ = mlp_setup()
    loss = engine.compile(lambda x0, x1, y: (1 + -y * model([x0, x1])).relu())
    a, b = loss(Value(0.5), Value(1.0), 1), loss(Value(0.5), Value(1.0), -1)
    assert loss.traces == 2
    assert a.grad_fn._leaves is b.grad_fn._leaves
    assert sorted(map(id, a.grad_fn._leaves)) == sorted(map(id, model.parameters()))  # each once


@pytest.mark.parametrize("change", ["setter", "requires_grad_"])
def test_the_requires_grad_guard_sees_every_way_to_change_the_flag(change):
    w = Value(2.0, requires_grad=True)
    f = engine.compile(lambda x: x * w)
    assert f(Value(3.0)).requires_grad
    if change == "setter":
        w.requires_grad = False
    else:
        w.requires_grad_(False)
    assert not f(Value(3.0)).requires_grad and f.traces == 2
    w.requires_grad_(True)
    assert f(Value(3.0)).requires_grad and f.traces == 2  # the first trace's guard passes again


def test_every_write_of_requires_grad_on_an_existing_value_moves_the_version():
    """The compiled guard reads each parameter's flag only when this number moved."""
    from engine import value as value_module
    version = value_module.state_version
    w = Value(1.0, requires_grad=True)
    before = version.number
    w.requires_grad = False
    assert version.number != before
    before = version.number
    w.requires_grad_(True)
    assert version.number != before

    class Keep(engine.Function):  # forward returns a Value that existed before it
        @staticmethod
        def forward(ctx, x):
            return w

        @staticmethod
        def backward(ctx, g):
            return g

    before = version.number
    Keep.apply(Value(1.0, requires_grad=True))
    assert version.number != before


def _leaf_with_grad(hook: bool = False):
    leaf = Value(2.0, requires_grad=True)
    (leaf * 1.0).backward()
    if hook:
        leaf.register_hook(lambda g: g)  # a hook: the backward takes the general walk
    return leaf


def _setter_float():
    w = Value(0.75, requires_grad=True)
    return w, lambda: setattr(w, "data", 1.25)


def _setter_value():
    c = Value(3)  # an int, through the setter's checked path
    return c, lambda: setattr(c, "data", Value(4))


def _grad_in_place(hook: bool):
    def make():
        leaf = _leaf_with_grad(hook)
        return leaf.grad, lambda: (leaf * 3.0).backward()  # adds into the same .grad
    return make


def _zero_grad_in_place():
    leaf = _leaf_with_grad()
    return leaf.grad, lambda: engine.nn._zero_grads([leaf], set_to_none=False)  # Module.zero_grad, optimizers


@pytest.mark.parametrize("make", [_setter_float, _setter_value, _grad_in_place(False), _grad_in_place(True),
                                  _zero_grad_in_place],
                         ids=["data-float", "data-checked", "grad-fast-walk", "grad-general-walk", "zero-grad"])
def test_every_write_of_an_existing_values_number_reaches_a_compiled_function(make):
    """The generated forward reads the numbers of the Values it closes over again only
    when ``state_version`` moved: every way of changing an existing Value's number
    must move it, or a compiled function would go on with the old number."""
    from engine import value as value_module
    read, write = make()  # a compiled function may close over any Value, a .grad too
    f = engine.compile(lambda x: x * read + x)
    assert f(Value(3.0)).item() == 3.0 * read.item() + 3.0
    before, number = value_module.state_version.number, read.item()
    write()
    assert read.item() != number
    assert value_module.state_version.number != before
    assert f(Value(3.0)).item() == 3.0 * read.item() + 3.0
    assert f.traces == 1  # the same trace, with the new number


def test_only_known_code_writes_an_existing_values_number_or_flag():
    """A tripwire for the test above: every assignment to ``_data`` or
    ``_requires_grad`` in the engine is either on a Value being built or in a function
    that calls ``state_changed()``.  A new writer must say which it is."""
    import ast
    import pathlib
    builders = {  # (module, function, name assigned to): a Value or Tracer built there
        ("compiled.py", "Tracer.__init__", "self"), ("function.py", "Function.apply", "v"),
        ("function.py", "once_differentiable.wrapper", "v"), ("value.py", "make_value", "v"),
        ("value.py", "Value.__init__", "self"), ("value.py", "Value.__deepcopy__", "new"),
        ("value.py", "_rebuild_value", "v"),
        *((module, fn, "out") for module, fn in [("ops.py", "__add__"), ("ops.py", "__mul__"), ("ops.py", "tanh"),
                                                 ("value.py", "_unary"), ("value.py", "_binary"),
                                                 ("value.py", "_binary_to_edge")]),
    }
    found, unmarked = set(), []
    for path in sorted(pathlib.Path(engine.__file__).parent.glob("*.py")):
        def visit(node, where):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.FunctionDef, ast.ClassDef)):
                    calls = {n.func.id for n in ast.walk(child)
                             if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
                    visit(child, where + [(child.name, "state_changed" in calls)])
                    continue
                targets = child.targets if isinstance(child, ast.Assign) else \
                    [child.target] if isinstance(child, ast.AugAssign) else []
                for t in targets:
                    if isinstance(t, ast.Attribute) and t.attr in ("_data", "_requires_grad"):
                        site = (path.name, ".".join(name for name, _ in where), ast.unparse(t.value))
                        if site in builders:
                            found.add(site)
                        elif not any(marked for _, marked in where):
                            unmarked.append((*site, child.lineno))
                visit(child, where)
        visit(ast.parse(path.read_text()), [])
    assert not unmarked, unmarked
    assert found == builders  # no stale entry


def test_tracing_runs_the_function_once_and_its_code_a_few_times_more():
    """The trace warms its generated code up (CPython specializes a function after its
    first calls); the function itself, user code, runs once."""
    calls = []

    def f(x):
        calls.append(1)
        return x * 3

    compiled = engine.compile(f)
    y = compiled(Value(2.0, requires_grad=True))
    assert len(calls) == 1 and y.item() == 6.0


def test_threads_calling_one_compiled_function_see_each_new_number():
    """Several threads call one compiled function (each refreshes the shared tuple of
    numbers when it finds the version moved); between rounds the main thread changes
    the parameter.  Every call of a round must see that round's number, and the
    threads that all make the first call at once trace the function once between them."""
    import sys
    import threading
    import time
    w = Value(1.0, requires_grad=True)

    def slow_to_trace(x):  # runs only while tracing: the other threads arrive meanwhile
        time.sleep(0.05)
        return (x * w).tanh() + w

    f = engine.compile(slow_to_trace)
    rounds, workers = 30, 4
    barrier = threading.Barrier(workers + 1)
    wrong = []

    def work(k):
        for r in range(rounds):
            barrier.wait()  # the main thread has set this round's number
            for i in range(20):
                x = Value(0.1 * (k + i), requires_grad=True)
                y = f(x)
                want = (x * w).tanh() + w
                if y.item() != want.item():
                    wrong.append((r, k, i))
            barrier.wait()  # done: the main thread may change it

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often
    try:
        threads = [threading.Thread(target=work, args=(k,)) for k in range(workers)]
        for t in threads:
            t.start()
        for r in range(rounds):
            w.data = 0.5 + r / 7
            barrier.wait()
            barrier.wait()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    assert not wrong, wrong[:5]
    assert f.traces == 1


@pytest.mark.parametrize("shape", ["long sum", "nested subtractions", "an intermediate used 5,000 times"])
def test_long_expressions_compile_even_from_deep_in_the_stack(shape):
    """Values used once are written into one expression, and so is the sum of an
    intermediate's gradient contributions, but Python compiles an expression
    recursively (and parses at most 200 nested parentheses): a sum of 5,000 terms,
    ``w - (w - (w - ...))``, or the gradient of a value used 5,000 times, is cut into
    lines of at most 50 ops.  The call is made from near the recursion limit, which
    the compiler counts too."""
    import sys
    ws = [Value(0.001 * k - 1.0, requires_grad=True) for k in range(1000 if shape == "nested subtractions" else 5000)]

    def f(x):
        if shape == "long sum":
            return sum((w * x for w in ws), Value(0.0))
        if shape == "an intermediate used 5,000 times":
            h = (x * 1.5).tanh()
            return sum((w * h for w in ws), Value(0.0))
        acc = x
        for w in ws:
            acc = w - acc
        return acc

    compiled = engine.compile(f)

    def deep(k):
        return deep(k - 1) if k else compiled(x)

    x = Value(1.5, requires_grad=True)
    y = deep(sys.getrecursionlimit() - 150)
    assert max(line.count("(") for line in compiled.source.splitlines()[3:-1]) <= 100
    y.backward()
    got = [x.grad.item()] + [w.grad.item() for w in ws]
    for v in [x, *ws]:
        v.grad = None
    want = f(x)
    want.backward()
    assert y.item() == want.item()
    assert got == [x.grad.item()] + [w.grad.item() for w in ws]


def test_passing_a_value_the_function_reads_anyway_is_one_input():
    """f(w) for an f that reads w: eagerly both reads are the same leaf, and its
    gradient is the sum of both paths.  The cache key does not see identity, so the
    trace made with another argument must not serve this call (it would keep two
    inputs and hand the leaf two separate totals), nor the trace made with w serve
    another argument."""
    w = Value(0.5, requires_grad=True)
    f = engine.compile(lambda x: (x * w).tanh() * w + x)
    for arg in (Value(2.0, requires_grad=True), w, Value(-1.0, requires_grad=True), w):
        y = f(arg)
        y.backward()
        got = (y.item(), arg.grad.item(), w.grad.item())
        arg.grad = w.grad = None
        want = f.__wrapped__(arg)
        want.backward()
        assert got == (want.item(), arg.grad.item(), w.grad.item())
        arg.grad = w.grad = None
    assert f.traces == 2
    traced = engine.trace(f.__wrapped__, Value(2.0, requires_grad=True))
    with pytest.raises(RuntimeError, match="passes it as an argument where the traced call did not"):
        traced(w)


def test_a_post_hook_on_a_compiled_node_sees_one_gradient_per_input_and_can_replace_them():
    """A post-hook on the compiled node wants one gradient per input, so for that node
    the walk hands over each input's sum of the call's contributions (as torch.compile's
    single node does); what the hook returns is what the inputs get."""
    x = Value(0.5, requires_grad=True)
    w = Value(-1.5, requires_grad=True)
    f = engine.compile(lambda x: (x * w).tanh() * x + x * w)
    y = f(x)
    seen = []

    def post(grad_inputs, grad_outputs):
        seen.append([g.item() for g in grad_inputs])
        return tuple(g * 2.0 for g in grad_inputs)

    y.grad_fn.register_hook(post)
    y.backward()
    gx, gw = engine.grad(f.__wrapped__(x), [x, w])
    # the call's sums, one per edge (x is read three times: equal up to the order of the additions)
    assert seen[0] == pytest.approx([gx.item(), gw.item()], rel=1e-14, abs=0.0) and len(seen) == 1
    assert [x.grad.item(), w.grad.item()] == [2.0 * g for g in seen[0]]


def test_a_compiled_function_called_inside_another_is_traced_into_it():
    """Called on the tracers of an outer compiled function, an inner compiled (or
    traced) function runs its Python, so its operations and its guards go into the
    outer trace, as torch.compile inlines a nested compiled function."""
    w = Value(0.5, requires_grad=True)

    def inner_fn(x):
        return (x * w).tanh() if x > 0 else x * w

    def triple(x):
        return x * 3.0

    inner = engine.compile(inner_fn)
    traced = engine.trace(triple, Value(1.0, requires_grad=True))
    outer = engine.compile(lambda x: inner(x) * 2 + traced(x))
    for number in (1.5, -2.0, 0.25):
        x = Value(number, requires_grad=True)
        y = outer(x)
        y.backward()
        got = (y.item(), x.grad.item(), w.grad.item())
        x.grad = w.grad = None
        want = inner_fn(x) * 2 + triple(x)
        want.backward()
        assert got == (want.item(), x.grad.item(), w.grad.item())
        w.grad = None
    assert (outer.traces, inner.traces) == (2, 0)  # the inner branch is a guard of the outer trace
    forward = outer.source.split("\n\n")[0]  # the latest trace: x <= 0, no tanh
    assert "(i0 > 0)" in forward and "tanh" not in forward and "* 3.0" in forward, forward
