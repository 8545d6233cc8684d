"""Accumulation into leaves, in place vs out of place, the reference-cycle warning."""

import warnings

import pytest


def quiet(fn):
    """Run ``fn`` with the (process-global, warn-once) create_graph warning silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn()


def test_accumulate_in_place_reset_and_assign(differ):
    def prog(B, rec):
        x = B.leaf(2.0)
        y = B.leaf(3.0)
        z = x * y
        for i in range(3):
            z.backward(retain_graph=True)
            rec(str(i), [x.grad, y.grad])
        g = x.grad
        z.backward(retain_graph=True)
        rec("same object", g is x.grad)
        rec("old object updated in place", g)
        x.grad = None
        z.backward(retain_graph=True)
        rec("after reset", [x.grad, y.grad])
        x.grad = B.const(7.0)
        z.backward(retain_graph=True)
        rec("after assigning 7", x.grad)

        def assign(v):
            x.grad = v

        rec.raises("assign float", lambda: assign(5.0))
        rec("unchanged", x.grad)
        a = B.leaf(2.0)
        (a * a + a * 3).backward()
        rec("two paths summed", a.grad)

    differ.check(prog)


def test_backward_on_a_leaf_accumulates_one(differ):
    def prog(B, rec):
        leaf = B.leaf(3.0)
        leaf.backward()
        leaf.backward()
        rec("leaf.grad", leaf.grad)

    differ.check(prog)


def test_create_graph_accumulates_out_of_place(differ):
    def prog(B, rec):
        x = B.leaf(2.0)
        y = B.leaf(3.0)
        z = x * x * y
        quiet(lambda: z.backward(create_graph=True))
        rec("x.grad", x.grad)
        rec("y.grad", y.grad)
        g1 = x.grad
        quiet(lambda: z.backward(create_graph=True))
        rec("x.grad 2", x.grad)
        rec("new object", g1 is not x.grad)
        rec("old unchanged", g1)
        w = B.leaf(2.0)
        (w ** 3).backward(retain_graph=True)
        g0 = w.grad
        quiet(lambda: (w ** 3).backward(create_graph=True))
        rec("w.grad", w.grad)
        rec("w new object", g0 is not w.grad)
        rec("w old", g0)
        u = B.leaf(2.0)
        quiet(lambda: (u * 2).backward(create_graph=True))
        g0 = u.grad
        rec("u.grad constant", g0)
        quiet(lambda: (u * 2).backward(create_graph=True))
        rec("u.grad", u.grad)
        rec("u new object", g0 is not u.grad)
        v = B.leaf(2.0)
        quiet(lambda: (v ** 3).backward(create_graph=True))
        rec("d/dv v.grad", B.grad(v.grad, v))

    # CONTRACT: nodes recorded by create_graph may be named differently from torch's
    # (CopyBackwards is matched by name where torch has it; AddBackward0 too)
    differ.check(prog)


def test_grad_is_differentiable_and_reset_breaks_it(differ):
    def prog(B, rec):
        x = B.leaf(1.5)
        quiet(lambda: (x.sin() * x).backward(create_graph=True))
        g = x.grad
        rec("g", g, node_names=False)
        g.backward()
        rec("x.grad after backward of its own grad", x.grad, node_names=False)
        x.grad = None
        rec("reset", x.grad)

    differ.check(prog)


REF_CYCLE_PROGRAM = """
import warnings
warnings.simplefilter("always")
log = []
def show(message, category, *a, **k):
    log.append((category.__name__, str(message)))
warnings.showwarning = show
import {lib} as L
{leaf}
x = mk(2.0); y = mk(3.0)
z = x * x * y
L.autograd.grad(z, x, create_graph=True) if hasattr(L, "autograd") else L.grad(z, x, create_graph=True)
log.append(("after grad()", ""))
z.backward(create_graph=True)
log.append(("after first backward", ""))
z.backward(create_graph=True)
(x * y).backward(create_graph=True)
log.append(("after more backwards", ""))
print(repr(log))
"""


def test_reference_cycle_warning_once_per_process(differ):
    import ast

    t = ast.literal_eval(differ.run_python(REF_CYCLE_PROGRAM.format(
        lib="torch", leaf="mk = lambda v: L.tensor(v, dtype=L.float64, requires_grad=True)")).strip())
    e = ast.literal_eval(differ.run_python(REF_CYCLE_PROGRAM.format(
        lib="engine", leaf="mk = lambda v: L.Value(v, requires_grad=True)")).strip())
    t = [(c, differ.as_value_message(m)) for c, m in t]
    assert [c for c, _ in t].count("UserWarning") == 1  # the oracle itself: warn-once
    assert e == t


def test_grad_never_touches_dot_grad(differ):
    def prog(B, rec):
        x = B.leaf(2.0)
        z = x * x
        rec("grad", B.grad(z, x, retain_graph=True))
        rec("x.grad", x.grad)
        z.backward(retain_graph=True)
        rec("grad again", B.grad(z, x))
        rec("x.grad 2", x.grad)

    differ.check(prog)


@pytest.mark.parametrize("n_paths", [1, 2, 5])
def test_paths_summed_before_hooks_and_accumulation(differ, n_paths):
    def prog(B, rec):
        a = B.leaf(0.7)
        seen = []
        a.register_hook(lambda g: seen.append(g.item()))
        out = a * 0
        for k in range(n_paths):
            out = out + (a * (k + 1)).sin()
        out.backward()
        rec("seen", seen)
        rec("grad", a.grad)

    differ.check(prog)
