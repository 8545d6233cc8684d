"""Custom Functions (``engine.Function``), differentially against torch.

Each ``case_*`` below is one program written once against a backend ``B`` of
tests/differential.py: it runs on torch (0-dim float64 tensors, ``torch.autograd.Function``)
and on the engine (``Value``, ``engine.Function``), and returns what it saw, built with
``B.observe`` (values, gradients, ``requires_grad``, ``grad_fn`` names, ``None``s) and
``B.outcome`` (results or exceptions, type and message).  ``differ.same_on_both``
asserts that the two are equal, numbers to a relative 1e-12; the expectations are
torch's, computed at test time.
"""

import math
import random
import re
import warnings

import pytest

import engine
CASES = []


def case(fn):
    CASES.append(fn)
    return fn


# ---------------------------------------------------------------------------------
# Saved values of a custom Function are freed like built-in ones
# ---------------------------------------------------------------------------------

@case
def case_saved_values_are_freed_by_backward(B):
    out = []

    class Sq(B.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            return 2 * x * g

    class Times3(B.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.k = 3.0
            return x * 3

        @staticmethod
        def backward(ctx, g):
            return g * ctx.k

    x = B.tensor(2.0, requires_grad=True)
    z = Sq.apply(x)
    out += [B.observe(z), B.outcome(lambda: z.grad_fn.saved_tensors)]
    z.backward()
    out.append(B.observe(x.grad))
    out.append(B.outcome(z.backward))
    out.append(B.outcome(lambda: z.grad_fn.saved_tensors))
    x.grad = None
    z = Times3.apply(x)
    z.backward()
    z.backward()
    out.append(B.observe(x.grad))
    # retain_graph keeps them for one more backward
    x.grad = None
    z = Sq.apply(x)
    z.backward(retain_graph=True)
    z.backward()
    out += [B.observe(x.grad), B.outcome(z.backward)]
    return out


# ---------------------------------------------------------------------------------
# forward/backward, grad mode, needs_input_grad, non-Value arguments
# ---------------------------------------------------------------------------------

@case
def case_forward_backward_grad_mode_and_needs_input_grad(B):
    rec = {}

    class Mul3(B.Function):
        @staticmethod
        def forward(ctx, a, b, k):
            rec["fwd_grad_mode"] = B.is_grad_enabled()
            t = a * b
            rec["internal_requires_grad"] = t.requires_grad
            rec["nig_fwd"] = ctx.needs_input_grad
            ctx.save_for_backward(a, b)
            ctx.k = k
            return t * k

        @staticmethod
        def backward(ctx, g):
            rec["bwd_grad_mode"] = B.is_grad_enabled()
            rec["nig_bwd"] = ctx.needs_input_grad
            a, b = ctx.saved_tensors
            return (g * b * ctx.k if ctx.needs_input_grad[0] else None,
                    g * a * ctx.k if ctx.needs_input_grad[1] else None,
                    None)

    out = []
    a = B.tensor(2.0, requires_grad=True)
    b = B.tensor(3.0)
    o = Mul3.apply(a, b, 5.0)
    out += [B.observe(o), [B.node_name(n) for n, _ in o.grad_fn.next_functions]]
    o.backward()
    out += [B.observe(a.grad), dict(rec)]
    b.requires_grad_()
    ga, gb = B.grad(Mul3.apply(a, b, 5.0), [a, b], create_graph=True)
    out += [B.observe((ga, gb)), rec["bwd_grad_mode"]]
    out.append(B.observe(B.grad(ga, [a, b], allow_unused=True)))  # d(5b)/da, d(5b)/db
    ga, gb = B.grad(Mul3.apply(a, b, k=5.0), [a, b])
    out += [B.observe((ga, gb)), rec["bwd_grad_mode"]]
    o = Mul3.apply(B.tensor(2.0), B.tensor(3.0), 5.0)
    out += [B.observe(o), o.grad_fn is None]
    with B.no_grad():
        o = Mul3.apply(a, b, 5.0)
    out.append(B.observe(o))
    a.grad = None
    b.grad = None
    Mul3.apply(a, b, 5.0).backward(inputs=[a])
    out += [rec["nig_bwd"], B.observe(a.grad), B.observe(b.grad)]
    return out


def case_needs_input_grad_under_no_grad(B):
    """needs_input_grad says which inputs require grad, whatever the grad mode."""
    rec = []

    class F(B.Function):
        @staticmethod
        def forward(ctx, a, b):
            rec.append(ctx.needs_input_grad)
            return a * b

        @staticmethod
        def backward(ctx, g):
            return g, g

    a, b = B.tensor(2.0, requires_grad=True), B.tensor(3.0)
    with B.no_grad():
        F.apply(a, b)
    F.apply(a, b)
    return rec


def test_needs_input_grad_under_no_grad(differ):
    differ.same_on_both(case_needs_input_grad_under_no_grad)


@case
def case_non_value_arguments_get_no_edge(B):
    class Pass(B.Function):
        @staticmethod
        def forward(ctx, a, k, b):
            return a * k + b

        @staticmethod
        def backward(ctx, g):
            return g * 2, None, g

    a = B.tensor(1.0, requires_grad=True)
    b = B.tensor(4.0, requires_grad=True)
    y = Pass.apply(a, 2.0, b) * 3
    names = [B.node_name(n) for n, _ in y.grad_fn.next_functions]
    inner = y.grad_fn.next_functions[0][0]
    return [B.observe(y), names, B.node_name(inner), [B.node_name(n) for n, _ in inner.next_functions],
            B.outcome(lambda: B.grad(y, [a, b]))]


# ---------------------------------------------------------------------------------
# What backward may return
# ---------------------------------------------------------------------------------

def _fn(B, fwd, bwd):
    return type("F", (B.Function,), {"forward": staticmethod(fwd), "backward": staticmethod(bwd)})


@case
def case_backward_returns_one_gradient_per_input(B):
    out = []
    a = B.tensor(2.0, requires_grad=True)
    b = B.tensor(3.0, requires_grad=True)
    out.append(B.outcome(lambda: _fn(B, lambda ctx, a, b: a * b, lambda ctx, g: g).apply(a, b).backward()))
    out.append(B.outcome(lambda: _fn(B, lambda ctx, a: a * 2, lambda ctx, g: (g, g, g)).apply(a).backward()))
    a.grad = None
    _fn(B, lambda ctx, a: a * 2, lambda ctx, g: (g * 2, None, None)).apply(a).backward()
    out.append(B.observe(a.grad))
    out.append(B.outcome(lambda: _fn(B, lambda ctx, a, k: a * k, lambda ctx, g: (g * 2, g)).apply(a, 2.0).backward()))
    a.grad = None
    _fn(B, lambda ctx, a, c: a * c, lambda ctx, g: (g * 3, g * 2)).apply(a, B.tensor(3.0)).backward()
    out.append(B.observe(a.grad))
    out.append(B.outcome(lambda: _fn(B, lambda ctx, a: a * 2, lambda ctx, g: 2.0).apply(a).backward()))
    out.append(B.outcome(lambda: _fn(B, lambda ctx, a: a * 2, lambda ctx, g: "two").apply(a).backward()))
    out.append(B.outcome(lambda: _fn(B, lambda ctx, a: a * 2, lambda ctx, g: ()).apply(a).backward()))
    return out


@case
def case_none_gradients(B):
    out = []
    a = B.tensor(2.0, requires_grad=True)
    b = B.tensor(3.0, requires_grad=True)
    F = _fn(B, lambda ctx, a, b: a * b, lambda ctx, g: (None, g))
    F.apply(a, b).backward()
    out.append(B.observe((a.grad, b.grad)))
    out.append(B.outcome(lambda: B.grad(F.apply(a, b), [a, b], allow_unused=True)))
    out.append(B.outcome(lambda: B.grad(F.apply(a, b), [a, b], materialize_grads=True)))
    out.append(B.outcome(lambda: B.grad(F.apply(a, b), [a, b])))
    # a None gradient into an intermediate: the nodes behind it get nothing
    c = a * 4
    out.append(B.outcome(lambda: B.grad(F.apply(c, b), [a, b], allow_unused=True)))
    return out


@case
def case_function_without_backward(B):
    class NoBwd(B.Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

    a = B.tensor(2.0, requires_grad=True)
    y = NoBwd.apply(a)
    return [B.observe(y), B.outcome(y.backward)]


# ---------------------------------------------------------------------------------
# Several outputs, materialize_grads, mark_non_differentiable, identity
# ---------------------------------------------------------------------------------

@case
def case_several_outputs(B):
    rec = {}
    out = []

    class Multi(B.Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2, a * 3

        @staticmethod
        def backward(ctx, g1, g2):
            rec["g"] = (g1, g2)
            return g1 * 2 + g2 * 3

    a = B.tensor(2.0, requires_grad=True)
    o1, o2 = Multi.apply(a)
    out += [B.observe((o1, o2)), o1.grad_fn is o2.grad_fn, o1.output_nr, o2.output_nr]
    o1.backward()
    out += [B.observe(rec["g"]), B.observe(a.grad)]
    a.grad = None
    o1, o2 = Multi.apply(a)
    (o1 + o2 * 10).backward()
    out += [B.observe(rec["g"]), B.observe(a.grad)]
    o1, o2 = Multi.apply(a)
    out.append(B.outcome(lambda: B.grad([o1, o2], a, [1.0 if B.name == "engine" else B.tensor(1.0),
                                               2.0 if B.name == "engine" else B.tensor(2.0)])))
    out.append(B.observe(rec["g"]))
    o1, o2 = Multi.apply(a)
    out.append(B.outcome(lambda: B.grad(o2 * o2, a)))
    out.append(B.observe(rec["g"]))
    return out


@case
def case_set_materialize_grads_false(B):
    rec = {}

    class NoMat(B.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.set_materialize_grads(False)
            return a * 2, a * 3

        @staticmethod
        def backward(ctx, g1, g2):
            rec["g"] = (g1, g2)
            return g1 * 2 if g1 is not None else None

    out = []
    a = B.tensor(2.0, requires_grad=True)
    o1, o2 = NoMat.apply(a)
    o1.backward()
    out += [B.observe(rec["g"]), B.observe(a.grad)]
    o1, o2 = NoMat.apply(a)
    out.append(B.outcome(lambda: B.grad(o2, a, allow_unused=True)))
    out.append(B.observe(rec["g"]))
    return out


@case
def case_mark_non_differentiable(B):
    rec = {}

    class Two(B.Function):
        @staticmethod
        def forward(ctx, a):
            s, idx = a * 2, a * 0 + 7
            ctx.mark_non_differentiable(idx)
            return s, idx

        @staticmethod
        def backward(ctx, gs, gidx):
            rec["g"] = (gs, gidx)
            return gs * 2

    out = []
    a = B.tensor(2.0, requires_grad=True)
    s, idx = Two.apply(a)
    out += [B.observe((s, idx)), idx.grad_fn is None]
    s.backward()
    out += [B.observe(rec["g"]), B.observe(a.grad)]
    out.append(B.outcome(idx.backward))
    s, idx = Two.apply(a)
    out.append(B.outcome(lambda: B.grad(s + idx, a)))
    return out


@case
def case_forward_returning_its_input(B):
    class Ident(B.Function):
        @staticmethod
        def forward(ctx, a):
            return a

        @staticmethod
        def backward(ctx, g):
            return g * 10

    a = B.tensor(2.0, requires_grad=True)
    o = Ident.apply(a)
    out = [o is a, B.observe(o)]
    o.backward()
    return out + [B.observe(a.grad)]


# ---------------------------------------------------------------------------------
# save_for_backward
# ---------------------------------------------------------------------------------

@case
def case_save_for_backward(B):
    seen = []

    class SaveNone(B.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a, None)
            return a * 2

        @staticmethod
        def backward(ctx, g):
            x, n = ctx.saved_tensors
            seen.append(B.observe((x, n)))
            return g * 2

    class SaveFloat(B.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a, 3.0)
            return a * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    class SaveOutput(B.Function):
        @staticmethod
        def forward(ctx, a):
            r = a.exp()
            ctx.save_for_backward(r)
            return r

        @staticmethod
        def backward(ctx, g):
            r, = ctx.saved_tensors
            seen.append(B.observe(r))
            return g * r

    a = B.tensor(2.0, requires_grad=True)
    SaveNone.apply(a).backward()
    out = [seen[-1], B.outcome(lambda: SaveFloat.apply(a))]
    y = SaveOutput.apply(a)
    out.append(B.observe(y.grad_fn.saved_tensors))
    g, = B.grad(y, a, create_graph=True)
    out += [seen[-1], B.observe(g), B.observe(B.grad(g, a))]
    return out


# ---------------------------------------------------------------------------------
# once_differentiable
# ---------------------------------------------------------------------------------

@case
def case_once_differentiable(B):
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

    out = []
    x = B.tensor(3.0, requires_grad=True)
    g, = B.grad(SqOnce.apply(x), x, create_graph=True)
    out += [B.observe(g), B.outcome(g.backward)]
    y = SqOnce.apply(x)
    g, = B.grad(y * y, x, create_graph=True)
    out += [B.observe(g), B.outcome(g.backward)]
    g, = B.grad(SqOnce.apply(x), x, grad_outputs=B.tensor(1.0, requires_grad=True), create_graph=True)
    out += [B.observe(g), B.outcome(lambda: B.grad(g, x))]
    # without create_graph it is an ordinary backward
    x.grad = None
    SqOnce.apply(x).backward()
    out.append(B.observe(x.grad))
    return out


def case_once_differentiable_error_node_edges(B):
    """The Error node hangs off fresh leaves, not off the incoming gradient."""
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

    x = B.tensor(3.0, requires_grad=True)
    v = B.tensor(1.0, requires_grad=True)
    g, = B.grad(SqOnce.apply(x), x, grad_outputs=v, create_graph=True)
    leaf = g.grad_fn.next_functions[0][0].variable
    return [B.outcome(lambda: B.grad(g, v)), B.outcome(lambda: B.grad(g, [x, v], allow_unused=True)), B.observe(leaf),
            B.outcome(g.backward)]


def test_once_differentiable_error_node_edges(differ):
    differ.same_on_both(case_once_differentiable_error_node_edges)


def case_custom_node_behind_a_none_gradient(B):
    """torch still runs a custom Function whose only incoming gradient is undefined
    (with zeros when materialize_grads, else None); the built-in nodes pass None on."""
    rec = []

    class Rec(B.Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, g):
            rec.append(B.observe(g))
            return g * 2

    class NoneBack(B.Function):
        @staticmethod
        def forward(ctx, a):
            return a * 3

        @staticmethod
        def backward(ctx, g):
            return None

    a = B.tensor(1.0, requires_grad=True)
    r = B.outcome(lambda: B.grad(NoneBack.apply(Rec.apply(a)), a, allow_unused=True))
    return [r, rec, B.outcome(lambda: B.grad(NoneBack.apply(a * 2), a, allow_unused=True))]


def test_custom_node_behind_a_none_gradient(differ):
    differ.same_on_both(case_custom_node_behind_a_none_gradient)


# ---------------------------------------------------------------------------------
# The "Double Backward with Custom Functions" tutorial
# ---------------------------------------------------------------------------------

def tutorial_functions(B):
    class Square(B.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 2

        @staticmethod
        def backward(ctx, grad_out):
            x, = ctx.saved_tensors
            return grad_out * 2 * x

    class Exp(B.Function):
        @staticmethod
        def forward(ctx, x):
            result = x.exp()
            ctx.save_for_backward(result)
            return result

        @staticmethod
        def backward(ctx, grad_out):
            result, = ctx.saved_tensors
            return result * grad_out

    class Sinh(B.Function):
        @staticmethod
        def forward(ctx, x):
            expx = x.exp()
            expnegx = (-x).exp()
            ctx.save_for_backward(expx, expnegx)
            return (expx - expnegx) / 2, expx, expnegx

        @staticmethod
        def backward(ctx, grad_out, _grad_out_exp, _grad_out_negexp):
            expx, expnegx = ctx.saved_tensors
            grad_input = grad_out * (expx + expnegx) / 2
            grad_input += _grad_out_exp * expx
            grad_input -= _grad_out_negexp * expnegx
            return grad_input

    def sinh(x):
        return Sinh.apply(x)[0]

    class SinhBad(B.Function):
        @staticmethod
        def forward(ctx, x):
            expx = x.exp()
            expnegx = (-x).exp()
            ctx.expx = expx
            ctx.expnegx = expnegx
            return (expx - expnegx) / 2

        @staticmethod
        def backward(ctx, grad_out):
            return grad_out * (ctx.expx + ctx.expnegx) / 2

    class Cube(B.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, grad_out):
            x, = ctx.saved_tensors
            return CubeBackward.apply(grad_out, x)

    class CubeBackward(B.Function):
        @staticmethod
        def forward(ctx, grad_out, x):
            ctx.save_for_backward(x, grad_out)
            return grad_out * 3 * x ** 2

        @staticmethod
        def backward(ctx, grad_out):
            x, sav_grad_out = ctx.saved_tensors
            return grad_out * 3 * x ** 2, grad_out * sav_grad_out * 6 * x

    return {"Square": Square.apply, "Exp": Exp.apply, "Sinh": sinh, "SinhBad": SinhBad.apply,
            "Cube": Cube.apply}


TUTORIAL_POINTS = [("Square", 1.0), ("Exp", 1.0), ("Sinh", 0.5), ("SinhBad", 0.5), ("Cube", 2.0)]


def _tutorial_checks(B, nm, x0):
    f = tutorial_functions(B)[nm]
    x = B.tensor(x0, requires_grad=True)
    gc = B.outcome(lambda: B.gradcheck(f, x))
    v = B.tensor(1.0, requires_grad=True)  # the tutorial's ones_like(f(x)).requires_grad_()
    ggc = B.outcome(lambda: B.gradgradcheck(f, x, v))
    return [gc, ggc]


@pytest.mark.parametrize("nm,x0", TUTORIAL_POINTS)
def test_tutorial_gradcheck_and_gradgradcheck(differ, nm, x0):
    theirs = differ.same_on_both(lambda B: _tutorial_checks(B, nm, x0))
    if nm == "SinhBad":  # passes gradcheck, fails gradgradcheck (numerical sinh(x)*v, analytical 0)
        assert theirs[0] is True and theirs[1][:2] == ("E", "GradcheckError")
        assert "analytical:value([[0.]], dtype=torch.float64)" in theirs[1][2]
    else:
        assert theirs == [True, True]


def test_tutorial_checks_at_random_points(differ):
    """The tutorial checks Square and Sinh at torch.rand(3, 3); here, at nine such scalars."""
    rng = random.Random(0)
    for _ in range(9):
        x0 = rng.random()
        for nm in ("Square", "Sinh", "Exp", "Cube"):
            assert differ.same_on_both(lambda B: _tutorial_checks(B, nm, x0)) == [True, True]


def test_sinhbad_default_grad_outputs_is_random_and_fails(differ):
    """With grad_outputs=None, v = random.uniform(-1, 1): the failure shows sinh(x) * v."""
    f = tutorial_functions(differ.E)["SinhBad"]
    x = engine.Value(0.5, requires_grad=True)
    random.seed(1234)
    v = random.uniform(-1.0, 1.0)
    random.seed(1234)
    with pytest.raises(engine.GradcheckError) as info:
        engine.gradgradcheck(f, x)
    numerical = float(re.search(r"numerical:(\S+)", str(info.value)).group(1))
    assert numerical == pytest.approx(math.sinh(0.5) * v, rel=1e-6)
    assert "analytical:0.0\n" in str(info.value)
    # torch fails the same way with its own random v
    T = differ.T
    with pytest.raises(T.GradcheckError):
        T.gradgradcheck(tutorial_functions(T)["SinhBad"], T.tensor(0.5, requires_grad=True))


@case
def case_tutorial_second_derivatives(B):
    out = []
    x = B.tensor(1.0, requires_grad=True)
    for nm, f in tutorial_functions(B).items():
        y = f(x)
        g, = B.grad(y, x, create_graph=True)
        gg = B.outcome(lambda: B.grad(g, x)) if g.requires_grad else None
        out.append((nm, B.observe(y), B.observe(g), gg))
    return out


@case
def case_tutorial_cube_third_derivative(B):
    x = B.tensor(2.0, requires_grad=True)
    f = tutorial_functions(B)["Cube"]
    g, = B.grad(f(x), x, create_graph=True)
    gg, = B.grad(g, x, create_graph=True)
    return [B.observe(g), B.observe(gg), B.outcome(lambda: B.grad(gg, x))]


# ---------------------------------------------------------------------------------
# Run every case on both sides
# ---------------------------------------------------------------------------------

@pytest.mark.parametrize("case_fn", CASES, ids=[c.__name__.removeprefix("case_") for c in CASES])
def test_custom_function_same_as_torch(differ, case_fn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        differ.same_on_both(case_fn)
