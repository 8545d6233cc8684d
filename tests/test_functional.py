"""engine.functional against torch.autograd.functional.

The same programs run on torch (0-dim float64 tensors) and on the engine (see
tests/differential.py for the backends and the comparison).  Results must agree in
structure (tuples and nested tuples), values, ``requires_grad``, and errors.
Under ``create_graph=True`` the grad_fn names are not compared: torch's results
end in a ``ViewBackward0`` (a reshape the engine has no need for).
"""

import inspect
import math

import pytest
import torch
import torch.autograd.functional as TF

import engine
import engine.functional as EF

FUNCTIONAL = {"torch": TF, "engine": EF}


def loose(x):
    """``B.observe``'s picture without the node names (for results built with create_graph=True)."""
    if isinstance(x, tuple) and x and x[0] == "V":
        return x[:4]
    if isinstance(x, (tuple, list)):
        return type(x)(loose(e) for e in x)
    return x


@pytest.mark.parametrize("name", ["jacobian", "hessian", "vjp", "jvp", "hvp"])
def test_signatures_are_the_start_of_torchs(name):
    ours = list(inspect.signature(getattr(EF, name)).parameters.values())
    theirs = list(inspect.signature(getattr(TF, name)).parameters.values())
    assert [(p.name, p.default) for p in ours] == [(p.name, p.default) for p in theirs[:len(ours)]]
    assert [p.name for p in theirs[len(ours):]] in (["strict"], ["strict", "vectorize", "strategy"],
                                                     ["strict", "vectorize", "outer_jacobian_strategy"])


def case_one_and_two_inputs(B):
    """12.1: f(x) = x**3 at 2 and g(a, b) = a*a*b at (2, 3)."""
    F = FUNCTIONAL[B.name]
    t = B.tensor
    f = lambda x: x ** 3  # noqa: E731
    x = t(2.0)
    g = lambda a, b: a * a * b  # noqa: E731
    a, b = t(2.0), t(3.0)
    out = [
        B.outcome(lambda: F.jacobian(f, x)), B.outcome(lambda: F.hessian(f, x)),
        B.outcome(lambda: F.vjp(f, x)), B.outcome(lambda: F.vjp(f, x, t(2.0))),
        B.outcome(lambda: F.jvp(f, x)), B.outcome(lambda: F.jvp(f, x, t(2.0))),
        B.outcome(lambda: F.hvp(f, x)), B.outcome(lambda: F.hvp(f, x, t(2.0))),
        B.outcome(lambda: F.jacobian(g, (a, b))), B.outcome(lambda: F.hessian(g, (a, b))),
        B.outcome(lambda: F.vjp(g, (a, b))), B.outcome(lambda: F.jvp(g, (a, b), (t(1.0), t(0.0)))),
        B.outcome(lambda: F.hvp(g, (a, b), (t(1.0), t(0.0)))),
    ]
    xx = t(2.0, requires_grad=True)
    J = F.jacobian(f, xx)
    out += [B.observe(J), B.observe(xx.grad)]
    J = F.jacobian(f, xx, create_graph=True)
    out += [loose(B.observe(J)), B.observe(B.grad(J, xx)), B.observe(xx.grad)]
    out += [
        B.outcome(lambda: F.jacobian(lambda s: t(5.0), x)),
        B.outcome(lambda: F.jacobian(f, 2.0)),
        B.outcome(lambda: F.jacobian(g, (a, 3.0))),
    ]
    return out


def test_one_and_two_inputs(differ):
    theirs = differ.same_on_both(case_one_and_two_inputs)
    assert theirs[0] == ("V", 12.0, False, True, None)


def case_v_errors(B):
    F = FUNCTIONAL[B.name]
    t = B.tensor
    two = lambda s: (s * 2, s * 3)  # noqa: E731
    g = lambda a, b: a * a * b  # noqa: E731
    x, a, b = t(2.0), t(2.0), t(3.0)
    return [
        B.outcome(lambda: F.vjp(two, x)),
        B.outcome(lambda: F.vjp(two, x, (t(1.0), t(2.0)))),
        B.outcome(lambda: F.vjp(two, x, (t(1.0),))),
        B.outcome(lambda: F.vjp(lambda s: s * 2, x, (t(1.0), t(2.0)))),
        B.outcome(lambda: F.jvp(g, (a, b))),
        B.outcome(lambda: F.jvp(g, (a, b), (t(1.0),))),
        B.outcome(lambda: F.jvp(lambda s: s * 2, x, (t(1.0), t(2.0)))),
        B.outcome(lambda: F.hvp(g, (a, b))),
        B.outcome(lambda: F.hvp(g, (a, b), (t(1.0), t(2.0), t(3.0)))),
        B.outcome(lambda: F.hvp(two, x, t(1.0))),
        B.outcome(lambda: F.hessian(two, x)),
        B.outcome(lambda: F.vjp(g, (a, b), 1.0 if B.name == "engine" else t(1.0))),
    ]


def test_v_and_output_errors(differ):
    differ.same_on_both(case_v_errors)


FUNCS = {
    "poly": (lambda a, b: a ** 3 * b - 2 * a * b * b, (0.7, -1.3)),
    "trig": (lambda a, b: (a * b).sin() + a.cos() * b.sinh(), (0.4, 1.1)),
    "exp_log": (lambda a, b: (a / b).exp() + (a * a + b * b).log(), (1.5, 0.8)),
    "activations": (lambda a, b: a.tanh() * b.sigmoid() + (a - b).relu(), (0.9, -0.2)),
    "roots": (lambda a, b: (a * b).sqrt() + (a ** b) + 2 ** b, (1.7, 0.6)),
    "abs_div": (lambda a, b: (a - b).abs() / (1 + b * b), (-0.5, 0.25)),
    "one_unused": (lambda a, b: a.exp() * 3, (0.3, 9.0)),
    "constant": (lambda a, b: a.detach() * b.detach(), (0.3, 9.0)),
}


def case_transforms(B, fname, create_graph):
    F = FUNCTIONAL[B.name]
    f, (a0, b0) = FUNCS[fname]
    t = B.tensor
    keep = loose if create_graph else (lambda r: r)
    a, b = t(a0, requires_grad=True), t(b0, requires_grad=True)
    out = []
    for inputs, func in (((a, b), f), (a, lambda s: f(s, t(b0)))):
        v = (t(0.5), t(-2.0)) if isinstance(inputs, tuple) else t(0.5)
        for call in (lambda: F.jacobian(func, inputs, create_graph=create_graph),
                     lambda: F.hessian(func, inputs, create_graph=create_graph),
                     lambda: F.vjp(func, inputs, t(1.5), create_graph=create_graph),
                     lambda: F.jvp(func, inputs, v, create_graph=create_graph),
                     lambda: F.hvp(func, inputs, v, create_graph=create_graph)):
            out.append(keep(B.outcome(call)))
    out.append(B.observe((a.grad, b.grad)))  # the inputs' .grad is never touched
    return out


@pytest.mark.parametrize("fname", list(FUNCS))
@pytest.mark.parametrize("create_graph", [False, True])
def test_transforms(differ, fname, create_graph):
    differ.same_on_both(lambda B: case_transforms(B, fname, create_graph))


def case_several_outputs(B):
    F = FUNCTIONAL[B.name]
    t = B.tensor
    f = lambda a, b: (a * b, a.exp(), b * 0 + 1)  # noqa: E731
    a, b = t(0.5), t(2.0)
    v3 = (t(1.0), t(-1.0), t(2.0))
    return [
        B.outcome(lambda: F.jacobian(f, (a, b))),
        B.outcome(lambda: F.jacobian(lambda s: f(s, t(2.0)), a)),
        B.outcome(lambda: F.jacobian(lambda a, b: [a * b, b], (a, b))),
        B.outcome(lambda: F.vjp(f, (a, b), v3)),
        B.outcome(lambda: F.vjp(lambda s: f(s, t(2.0)), a, v3)),
        B.outcome(lambda: F.jvp(f, (a, b), (t(1.0), t(3.0)))),
        B.outcome(lambda: F.jvp(lambda s: f(s, t(2.0)), a)),
    ]


def test_several_outputs(differ):
    differ.same_on_both(case_several_outputs)


def case_create_graph_results_are_differentiable(B):
    F = FUNCTIONAL[B.name]
    t = B.tensor
    a, b = t(0.8, requires_grad=True), t(-0.6, requires_grad=True)
    f = lambda a, b: (a * b).sin() * a  # noqa: E731
    H = F.hessian(f, (a, b), create_graph=True)
    out = [loose(B.observe(H)), B.observe(B.grad(H[0][1], (a, b)))]
    _, hv = F.hvp(f, (a, b), (t(1.0), t(2.0)), create_graph=True)
    out += [loose(B.observe(hv)), B.observe(B.grad(hv[1], (a, b)))]
    _, jv = F.jvp(f, (a, b), (t(1.0), t(2.0)), create_graph=True)
    out += [loose(B.observe(jv)), B.observe(B.grad(jv, (a, b)))]
    # v that requires grad: under create_graph the result depends on it
    v = t(1.5, requires_grad=True)
    _, vj = F.vjp(f, (a, b), v, create_graph=True)
    out += [loose(B.observe(vj)), B.observe(B.grad(vj[0], v))]
    # without create_graph nothing is connected
    _, vj = F.vjp(f, (a, b), v)
    out += [B.observe(vj)]
    return out + [B.observe((a.grad, b.grad, v.grad))]


def test_create_graph_results_are_differentiable(differ):
    differ.same_on_both(case_create_graph_results_are_differentiable)


def case_grad_mode(B):
    F = FUNCTIONAL[B.name]
    t = B.tensor
    f = lambda x: x.sin() * x  # noqa: E731
    x = t(1.2, requires_grad=True)
    with B.no_grad():
        return [B.outcome(lambda: F.jacobian(f, x)), B.outcome(lambda: F.hessian(f, x)),
                B.outcome(lambda: F.vjp(f, x)), B.outcome(lambda: F.jvp(f, x)), B.outcome(lambda: F.hvp(f, x))]


def test_transforms_work_under_no_grad(differ):
    differ.same_on_both(case_grad_mode)


def test_int_inputs(differ):
    def case(B):
        F = FUNCTIONAL[B.name]
        x = torch.tensor(2) if B.name == "torch" else engine.Value(2)
        return [B.outcome(lambda: F.jacobian(lambda s: s * 2, x))]

    differ.same_on_both(case)


def test_values_match_calculus():
    """Independent of torch: the Hessian of a*a*b + sin(b) at (2, 3)."""
    H = EF.hessian(lambda a, b: a * a * b + b.sin(), (engine.Value(2.0), engine.Value(3.0)))
    assert [[h.item() for h in row] for row in H] == [[6.0, 4.0], [4.0, -math.sin(3.0)]]


def test_create_graph_with_inputs_that_need_no_grad(differ):
    """The transforms differentiate their own copies, so create_graph works on constants too."""
    def case(B):
        F = FUNCTIONAL[B.name]
        x = B.tensor(0.7)
        f = lambda s: s.sin() * s  # noqa: E731
        return [loose(B.outcome(lambda: F.hessian(f, x, create_graph=True))),
                loose(B.outcome(lambda: F.jacobian(f, (x,), create_graph=True))),
                loose(B.outcome(lambda: F.hvp(f, x, create_graph=True))),
                loose(B.outcome(lambda: F.jvp(f, x, create_graph=True))),
                loose(B.outcome(lambda: F.vjp(f, x, create_graph=True)))]

    differ.same_on_both(case)
