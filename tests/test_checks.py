"""gradcheck, gradgradcheck and anomaly detection, differentially against torch.

The programs run on both backends (torch 0-dim float64 tensors, engine Values; see
tests/differential.py for the backends and how results are compared): which checks
pass, which fail, and with which exception and message.  Engine gradcheck
messages print each number as a Python float; the harness renders them the torch way
(a 1x1 float64 tensor) before comparing, so the texts must match exactly.
"""

import inspect
import math
import random
import warnings

import pytest
import torch

import engine
from engine import checks


def gc(B, f, inputs, **kw):
    return B.outcome(lambda: B.gradcheck(f, inputs, **kw))


def ggc(B, f, inputs, grad_outputs=None, **kw):
    return B.outcome(lambda: B.gradgradcheck(f, inputs, grad_outputs, **kw))


# ---------------------------------------------------------------------------------
# Signatures
# ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["gradcheck", "gradgradcheck"])
def test_signature_is_the_start_of_torchs(name):
    ours = inspect.signature(getattr(engine, name)).parameters
    theirs = inspect.signature(getattr(torch.autograd, name)).parameters
    for p in ours.values():
        q = theirs[p.name]
        assert (p.kind, p.default) == (q.kind, q.default), p.name
    # the ones we keep are torch's, in torch's order
    assert [n for n in theirs if n in ours] == list(ours)


def test_gradcheck_error_is_a_runtime_error():
    from torch.autograd.gradcheck import GradcheckError
    assert [c.__name__ for c in engine.GradcheckError.__mro__][:2] == [c.__name__ for c in GradcheckError.__mro__][:2]
    assert issubclass(engine.GradcheckError, RuntimeError)


# ---------------------------------------------------------------------------------
# Examples: a tolerance boundary, wrong, non-differentiable and flaky backwards
# ---------------------------------------------------------------------------------

def _custom(B):
    class Off(B.Function):
        d = 0.0

        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * (2 + Off.d)

    class Wrong(B.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 2

        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            return g * 3 * x

    class NotMul(B.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 0 + 2

    class Flaky(B.Function):
        calls = 0

        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            Flaky.calls += 1
            return g * 2 + (1e-9 if Flaky.calls % 2 else 0.0)

    return Off, Wrong, NotMul, Flaky


def case_gradcheck_examples(B):
    Off, Wrong, NotMul, Flaky = _custom(B)
    x = B.tensor(0.7, requires_grad=True)
    out = [gc(B, lambda a: a.tanh(), x), ggc(B, lambda a: a.tanh(), (x,))]
    for d in (2.009e-3, 2.011e-3):
        Off.d = d
        out.append(gc(B, Off.apply, x, raise_exception=False))
    out += [
        gc(B, Wrong.apply, x),
        gc(B, Wrong.apply, x, raise_exception=False),
        gc(B, NotMul.apply, x),
        gc(B, NotMul.apply, x, raise_exception=False),
        gc(B, lambda a: a.tanh(), B.tensor(0.7)),
        gc(B, lambda a: a.tanh(), B.tensor(0.7), raise_exception=False),  # ValueError is not caught
        gc(B, lambda a: a.detach() * 2, x),
        gc(B, lambda a, b: a * b, (x, B.tensor(1.3))),
        gc(B, lambda a, k: a * k, (x, 3.0)),
        gc(B, lambda a: a.relu(), B.tensor(0.0, requires_grad=True)),
        gc(B, lambda a: a.abs(), B.tensor(0.0, requires_grad=True)),
    ]
    r = gc(B, Flaky.apply, x)  # torch appends a note about its own operators after the first sentence
    out.append(r[:2] + (r[2].split("\n")[0],) if isinstance(r, tuple) else r)
    return out


def test_gradcheck_examples(differ):
    theirs = differ.same_on_both(case_gradcheck_examples)
    assert theirs[:4] == [True, True, True, False]  # the tolerance boundary is exact


# ---------------------------------------------------------------------------------
# Many functions, built-in ops and custom ones: pass/fail and messages
# ---------------------------------------------------------------------------------

UNARY = {
    "exp": lambda a: a.exp(), "log": lambda a: a.log(), "tanh": lambda a: a.tanh(),
    "sigmoid": lambda a: a.sigmoid(), "relu": lambda a: a.relu(), "sin": lambda a: a.sin(),
    "cos": lambda a: a.cos(), "sinh": lambda a: a.sinh(), "cosh": lambda a: a.cosh(),
    "sqrt": lambda a: a.sqrt(), "abs": lambda a: a.abs(), "neg": lambda a: -a,
    "square": lambda a: a ** 2, "cube": lambda a: a ** 3, "pow0": lambda a: a ** 0,
    "pow-half": lambda a: a ** -0.5, "rpow": lambda a: 2 ** a, "recip": lambda a: 2 / a,
    "rsub": lambda a: 1 - a, "div": lambda a: a / 3, "mix": lambda a: (a * a.sin() + 1).exp() / (a.cosh() + 2),
}
POINTS = [-1.5, -0.3, 0.0, 0.4, 2.0]


def case_unary(B, fname, x0):
    f = UNARY[fname]
    return [gc(B, f, B.tensor(x0, requires_grad=True)), ggc(B, f, B.tensor(x0, requires_grad=True), B.tensor(0.75))]


@pytest.mark.parametrize("fname", list(UNARY))
def test_unary_ops(differ, fname):
    for x0 in POINTS:
        differ.same_on_both(lambda B: case_unary(B, fname, x0))


BINARY = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b, "pow": lambda a, b: a ** b, "mix": lambda a, b: (a * b).tanh() + a / (b * b + 1),
}


def case_binary(B, f, a0, b0):
    a, b = B.tensor(a0, requires_grad=True), B.tensor(b0, requires_grad=True)
    v = B.tensor(-0.4, requires_grad=True)
    return [gc(B, f, (a, b)), gc(B, f, (a, B.tensor(b0))), gc(B, f, (B.tensor(a0), b)),
            ggc(B, f, (a, b), v), ggc(B, f, (a, B.tensor(b0)), B.tensor(0.3))]


@pytest.mark.parametrize("fname", list(BINARY))
def test_binary_ops(differ, fname):
    points = [(0.5, 1.5), (2.0, -0.7), (-1.2, 2.0), (1.3, -2.0)]
    if fname != "pow":  # pow at a zero base or exponent: see the next test
        points += [(1.3, 0.0), (0.0, 2.0)]
    for a0, b0 in points:
        differ.same_on_both(lambda B: case_binary(B, BINARY[fname], a0, b0))


@pytest.mark.parametrize("a0,b0", [(1.3, 0.0), (0.0, 2.0)])
def test_pow_at_zero_exponent_or_base(differ, a0, b0):
    differ.same_on_both(lambda B: case_binary(B, BINARY["pow"], a0, b0))


def case_indices(B):
    """Output and input numbers in messages count only the outputs/inputs that require grad."""
    _, Wrong, _, _ = _custom(B)
    x = B.tensor(0.7, requires_grad=True)
    y = B.tensor(-0.4, requires_grad=True)
    c = B.tensor(1.3)
    return [
        gc(B, lambda k, a: k * a ** 2 + a.detach() * a, (c, x)),
        gc(B, lambda a, k, b: (a * b, Wrong.apply(b) * k), (x, 2.0, y)),
        gc(B, lambda a, b: (a.detach() * 3, a * b, Wrong.apply(a) + b), (x, y)),
        gc(B, lambda a, b: [a * b, b.exp()], [x, y]),
        gc(B, lambda a: (a.detach(), a * 2), x),
        gc(B, lambda a: (a * 2, a.detach() * a.detach()), x),
        gc(B, lambda a: a.detach() * 0 + 1, x),
        gc(B, lambda a, b: a * b.sin(), (x, x)),
        gc(B, lambda a, b: Wrong.apply(a) * b, (x, x)),
    ]


def test_indices_and_outputs_that_need_no_grad(differ):
    differ.same_on_both(case_indices)


def case_special_values(B):
    x = B.tensor(0.7, requires_grad=True)
    return [
        gc(B, lambda a: a * float("nan"), x),
        gc(B, lambda a: a * float("inf"), x),
        gc(B, lambda a: 1 / (a - a.detach()), x),
        gc(B, lambda a: a.sqrt(), B.tensor(0.0, requires_grad=True)),
        gc(B, lambda a: a.log(), B.tensor(-1.0, requires_grad=True)),
        gc(B, lambda a: a.detach() * float("nan"), x),
    ]


def test_nan_and_inf(differ):
    differ.same_on_both(case_special_values)


def case_tolerances(B):
    x = B.tensor(0.7, requires_grad=True)
    Off = _custom(B)[0]
    Off.d = 0.05
    f = lambda a: (a * 1e3).sin()  # noqa: E731 - numerical error grows with the curvature
    return [
        gc(B, Off.apply, x, atol=0.06), gc(B, Off.apply, x, rtol=0.03), gc(B, Off.apply, x, rtol=0.02),
        gc(B, f, x), gc(B, f, x, eps=1e-3), gc(B, f, x, eps=1e-3, atol=1.0),
        ggc(B, Off.apply, x, B.tensor(1.0, requires_grad=True), atol=0.06),
    ]


def test_eps_atol_rtol(differ):
    differ.same_on_both(case_tolerances)


def case_undefined_output_grads(B):
    """A backward must cope with outputs that got no gradient (None, with
    set_materialize_grads(False)) and then return zero or None."""
    class Nonzero(B.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.set_materialize_grads(False)
            return a * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2 if g is not None else B.tensor(1.0)

    class Raises(B.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.set_materialize_grads(False)
            return a * 2

        @staticmethod
        def backward(ctx, g):
            if g is None:
                raise RuntimeError("no gradient")
            return g * 2

    class Both(B.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.set_materialize_grads(False)
            return a * 2, a * 3

        @staticmethod
        def backward(ctx, g1, g2):
            if g1 is None and g2 is None:
                raise RuntimeError("no gradient")
            return (0 if g1 is None else g1 * 2) + (0 if g2 is None else g2 * 3)

    class Careful(B.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.set_materialize_grads(False)
            return a * 2, a * 3

        @staticmethod
        def backward(ctx, g1, g2):
            if g1 is None and g2 is None:
                return None
            return (0 if g1 is None else g1 * 2) + (0 if g2 is None else g2 * 3)

    x = B.tensor(0.5, requires_grad=True)
    return [gc(B, f, x) for f in (Nonzero.apply, Raises.apply, Both.apply, Careful.apply)]


def test_undefined_output_grads(differ):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch adds a backwards-compatibility warning
        differ.same_on_both(case_undefined_output_grads)


# ---------------------------------------------------------------------------------
# gradgradcheck
# ---------------------------------------------------------------------------------

def case_gradgradcheck(B):
    class SqOnce(B.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        @B.once_differentiable
        def backward(ctx, g):
            x, = ctx.saved_tensors
            return 2 * x * g

    class Linear(B.Function):  # backward is differentiable only through g
        @staticmethod
        def forward(ctx, x):
            return x * 3

        @staticmethod
        def backward(ctx, g):
            return g * 3

    x = B.tensor(0.6, requires_grad=True)
    y = B.tensor(-1.1, requires_grad=True)
    v = B.tensor(0.8, requires_grad=True)
    w = B.tensor(-0.3, requires_grad=True)
    return [
        ggc(B, lambda a, b: (a * b.sin(), (a - b).exp()), (x, y), (v, w)),
        ggc(B, lambda a, b: (a * b.sin(), (a - b).exp()), (x, y), (v, B.tensor(0.5))),
        ggc(B, lambda a: a ** 3, x, B.tensor(2.0)),
        ggc(B, SqOnce.apply, x, B.tensor(1.0)),
        ggc(B, Linear.apply, x, v),
        ggc(B, lambda a: a * 2, x, v),
        ggc(B, lambda a: a.relu() * a, B.tensor(0.0, requires_grad=True), v),
    ]


def test_gradgradcheck(differ):
    differ.same_on_both(case_gradgradcheck)


def case_gradgradcheck_once_differentiable(B):
    class SqOnce(B.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        @B.once_differentiable
        def backward(ctx, g):
            x, = ctx.saved_tensors
            return 2 * x * g

    x = B.tensor(0.6, requires_grad=True)
    v = B.tensor(0.8, requires_grad=True)
    return [ggc(B, SqOnce.apply, x, v), ggc(B, SqOnce.apply, x, v, raise_exception=False)]


def test_gradgradcheck_once_differentiable(differ):
    differ.same_on_both(case_gradgradcheck_once_differentiable)


def test_gradgradcheck_default_v_comes_from_random():
    f = lambda a, b: (a * a * b, (a * b).sin())  # noqa: E731
    x, y = engine.Value(0.3, requires_grad=True), engine.Value(0.9, requires_grad=True)
    random.seed(7)
    assert engine.gradgradcheck(f, (x, y))
    after = random.random()
    random.seed(7)
    random.uniform(-1, 1), random.uniform(-1, 1)  # one v per output that requires grad
    assert random.random() == after
    # torch passes too, with its own random v
    xt, yt = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (0.3, 0.9))
    assert torch.autograd.gradgradcheck(f, (xt, yt))


# ---------------------------------------------------------------------------------
# Engine-specific promises
# ---------------------------------------------------------------------------------

def test_inputs_are_restored_even_when_func_raises():
    x = engine.Value(0.7, requires_grad=True)
    calls = []

    def f(a):
        calls.append(a.data)
        if len(calls) == 3:
            raise ZeroDivisionError("boom")
        return a * 2

    with pytest.raises(ZeroDivisionError):
        engine.gradcheck(f, x)
    assert x.data == 0.7 and calls[1:] == [0.7 - 1e-6, 0.7 + 1e-6]
    assert engine.gradcheck(lambda a: a.exp(), x) and x.data == 0.7 and x.grad is None


def test_message_shows_full_precision_floats(differ):
    _, Wrong, _, _ = _custom(differ.E)
    with pytest.raises(engine.GradcheckError) as info:
        engine.gradcheck(Wrong.apply, engine.Value(0.7, requires_grad=True))
    head, numerical, analytical, end = str(info.value).split("\n")
    assert head == "Jacobian mismatch for output 0 with respect to input 0,"
    assert float(numerical.removeprefix("numerical:")) == pytest.approx(1.4, abs=1e-8)
    assert analytical == f"analytical:{0.7 * 3 * 1.0!r}" or float(analytical[11:]) == pytest.approx(2.1)
    assert end == ""


def test_grad_outputs_may_be_numbers_or_none():
    f = lambda a, b: (a * b, (a - b).exp())  # noqa: E731
    x, y = engine.Value(0.3, requires_grad=True), engine.Value(-0.2, requires_grad=True)
    assert engine.gradgradcheck(f, (x, y), [0.5, None])
    assert engine.gradgradcheck(f, (x, y), (engine.Value(0.5), 2))
    xt, yt = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (0.3, -0.2))
    assert torch.autograd.gradgradcheck(f, (xt, yt), (torch.tensor(0.5, dtype=torch.float64),
                                                      torch.tensor(2.0, dtype=torch.float64)))


def test_function_must_return_values():
    x = engine.Value(0.7, requires_grad=True)
    with pytest.raises(TypeError, match="float"):
        engine.gradcheck(lambda a: 2.0, x)


# ---------------------------------------------------------------------------------
# Anomaly detection
# ---------------------------------------------------------------------------------

ANOMALY = {"torch": (torch.autograd.detect_anomaly, torch.autograd.set_detect_anomaly,
                       torch.is_anomaly_enabled, torch.is_anomaly_check_nan_enabled),
           "engine": (engine.detect_anomaly, engine.set_detect_anomaly,
                        engine.is_anomaly_enabled, engine.is_anomaly_check_nan_enabled)}


def _warning_text(w):
    text = str(w.message)
    cut = text.find(" (Triggered internally at ")
    return text[:cut] if cut >= 0 else text


def _user_frames(text):
    """The 'File ..., line N, in f' + code pairs of a forward traceback, without torch's or the engine's own."""
    lines = text.split("\n")
    head, body = lines[0], lines[1:]
    frames = []
    for i, line in enumerate(body):
        if line.startswith("  File "):
            code = body[i + 1] if i + 1 < len(body) and not body[i + 1].startswith("  File ") else ""
            frames.append((line, code))
    keep = [f for f in frames if "site-packages/torch/" not in f[0] and "/engine/" not in f[0]]
    return head, keep


def anomaly_program(B):
    """nan out of a backward, with and without anomaly mode, run the same way (same
    call site) on both backends."""
    detect, set_detect, enabled, check_nan = ANOMALY[B.name]

    class NaNBack(B.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1.0

        @staticmethod
        def backward(ctx, g):
            return g * float("nan")

    class Raises(B.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1.0

        @staticmethod
        def backward(ctx, g):
            raise ValueError("bad backward")

    out = [enabled(), check_nan()]
    x = B.tensor(0.0, requires_grad=True)
    (NaNBack.apply(x) * 2).backward()
    out.append(("no anomaly mode", B.observe(x.grad)))
    with detect():
        out.append(enabled())
        x = B.tensor(0.0, requires_grad=True)
        y = NaNBack.apply(x) * 2
        out.append(B.outcome(y.backward))
        z = x.sqrt() * 0.0
        out.append(B.outcome(z.backward))
        y = x * x
        y.backward()
        out.append(B.outcome(y.backward))
        w = B.tensor(-1.0, requires_grad=True)
        lg = w.log()
        out.append(B.observe(lg))
        lg.backward()
        out.append(B.observe(w.grad))
        out.append(B.outcome(lambda: Raises.apply(x).backward()))
        u = (x + 1).sqrt()
        out.append(B.outcome(lambda: B.grad(u * 0.0, x)))
        g = B.outcome(lambda: B.grad(x.sqrt(), x, create_graph=True))  # names in create_graph graphs may differ
        out.append(g if g[0] == "E" else [v[:3] for v in g])
    out.append(enabled())
    with set_detect(True, check_nan=False):
        x = B.tensor(0.0, requires_grad=True)
        (x.sqrt() * 0.0).backward()
        out += [B.observe(x.grad), enabled(), check_nan()]
    out += [enabled(), check_nan()]
    set_detect(True)
    out.append(enabled())
    x = B.tensor(0.0, requires_grad=True)
    out.append(B.outcome((x.sqrt() * 0.0).backward))
    set_detect(False)
    out.append(enabled())
    return out


def test_anomaly_detection_same_as_torch(differ):
    records, warned = [], []
    for B in differ.BACKENDS:  # one call site, so the recorded forward stacks are comparable
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            records.append(anomaly_program(B))
        warned.append([(w.category.__name__, _user_frames(_warning_text(w))) for w in caught])
    assert differ.same(records[1], records[0]), differ.describe_diff(records[0], records[1])
    assert warned[1] == warned[0]
    # and what torch shows is what a user needs: the warning, then their line of code
    texts = [w for w in warned[0] if w[1][0].startswith("Error detected in SqrtBackward0")]
    assert texts and texts[0][1][1][-1][1].strip() == "z = x.sqrt() * 0.0"
    assert warned[0][0] == ("UserWarning", (checks.ANOMALY_WARNING, []))


def anomaly_double_backward_program(B):
    detect = ANOMALY[B.name][0]
    with detect():
        x = B.tensor(0.0, requires_grad=True)
        y = x.sqrt()
        g, = B.grad(y, x, create_graph=True)
        return B.outcome(lambda: B.grad(g * 0.0, x))


def test_anomaly_in_double_backward_names_the_node_that_induced_it(differ):
    """A node made by a create_graph backward is traced to the grad() call, and torch
    adds a second warning: the forward line of the node whose backward made it."""
    records, warned = [], []
    for B in differ.BACKENDS:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            records.append(anomaly_double_backward_program(B))
        warned.append([_user_frames(_warning_text(w))[1] for w in caught[1:]])
    # node names inside create_graph graphs may differ (torch: DivBackward0)
    assert records[1][:2] == records[0][:2] == ("E", "RuntimeError")
    assert records[1][2].endswith("returned nan values in its 1th output.")
    assert warned[1][0] == warned[0][0]
    assert warned[0][0][-1][1].strip() == "g, = B.grad(y, x, create_graph=True)"


def test_anomaly_previous_calculation_warning(differ):
    texts = []
    for B in differ.BACKENDS:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            anomaly_double_backward_program(B)
        texts.append([_warning_text(w).split(". Traceback")[0].split(" by ")[0].strip() for w in caught[1:]])
    assert texts[0] == ["Error detected in DivBackward0", "Previous calculation was induced"]
    assert [t.split(" in ")[0] for t in texts[1]] == ["Error detected", "Previous calculation was induced"]


def test_warning_points_at_the_users_line():
    x = engine.Value(4.0, requires_grad=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with engine.detect_anomaly():
            hidden = (x - 4.0).sqrt()  # the op whose backward makes nan
            loss = hidden * 0.0 + x
            with pytest.raises(RuntimeError, match=r"Function 'SqrtBackward0' returned nan values in its 0th output\."):
                loss.backward()
    assert caught[0].message.args[0] == checks.ANOMALY_WARNING and caught[0].filename == __file__
    text = str(caught[1].message)
    assert text.startswith("Error detected in SqrtBackward0. Traceback of forward call that caused the error:\n")
    last_file, last_code = text.rstrip("\n").split("\n")[-2:]
    line = inspect.getsourcelines(test_warning_points_at_the_users_line)[1] + 5
    assert last_file == f'  File "{__file__}", line {line}, in test_warning_points_at_the_users_line'
    assert last_code.strip() == "hidden = (x - 4.0).sqrt()  # the op whose backward makes nan"
    assert "engine" + "/" not in text.replace(__file__, "")  # no frames from inside the engine


def test_anomaly_mode_is_off_by_default_and_costs_nothing_when_off():
    assert not engine.is_anomaly_enabled() and engine.is_anomaly_check_nan_enabled()
    x = engine.Value(0.0, requires_grad=True)
    y = x.sqrt() * 0.0
    assert getattr(y.grad_fn._extras, "trace", None) is None  # no traceback recorded
    y.backward()
    assert math.isnan(x.grad.item())  # nan propagates silently, as in torch


def test_detect_anomaly_as_decorator():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")

        @engine.detect_anomaly(check_nan=False)
        def inside():
            return engine.is_anomaly_enabled(), engine.is_anomaly_check_nan_enabled()

    assert [str(w.message) for w in caught] == [checks.ANOMALY_WARNING]
    assert inside() == (True, False)
    assert (engine.is_anomaly_enabled(), engine.is_anomaly_check_nan_enabled()) == (False, True)


def test_anomaly_state_restored_after_an_error():
    with pytest.raises(KeyError), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with engine.detect_anomaly(check_nan=False):
            raise KeyError("x")
    assert (engine.is_anomaly_enabled(), engine.is_anomaly_check_nan_enabled()) == (False, True)
