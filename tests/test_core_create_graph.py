"""create_graph and higher-order derivatives.

Nodes recorded by create_graph may be named differently from torch's
``...BackwardBackward0`` (CONTRACT), so these tests compare the *presence* of a
grad_fn (``node_names=False``), not its name, for results of a differentiated pass.
"""

import pytest

FUNCS = {
    "t**3": lambda t: t ** 3, "t**2": lambda t: t ** 2, "t*t": lambda t: t * t, "exp": lambda t: t.exp(),
    "sin": lambda t: t.sin(), "cos": lambda t: t.cos(), "tanh": lambda t: t.tanh(),
    "sigmoid": lambda t: t.sigmoid(), "log": lambda t: t.log(), "sqrt": lambda t: t.sqrt(),
    "relu": lambda t: t.relu(), "abs": lambda t: t.abs(), "sinh": lambda t: t.sinh(), "cosh": lambda t: t.cosh(),
    "t**2.5": lambda t: t ** 2.5, "2**t": lambda t: 2 ** t, "t**t": lambda t: t ** t, "1/t": lambda t: 1 / t,
    "3/t": lambda t: 3 / t, "t/(t+1)": lambda t: t / (t + 1), "-t*4": lambda t: -t * 4, "1-t": lambda t: 1 - t,
    "t*2+1": lambda t: t * 2 + 1, "t**0": lambda t: t ** 0, "t**1": lambda t: t ** 1,
    "t**-2": lambda t: t ** -2, "exp(sin)": lambda t: t.sin().exp(),
}


@pytest.mark.parametrize("fname", list(FUNCS))
@pytest.mark.parametrize("x0", [2.0, 0.5])
def test_derivatives_to_order_5(differ, fname, x0):
    """Each derivative's value, whether it has a graph, and when it stops (element 0 ...)."""

    def prog(B, rec):
        x = B.leaf(x0)
        out = FUNCS[fname](x)
        rec("f", out)
        for k in range(5):
            try:
                out, = B.grad(out, x, create_graph=True)
            except RuntimeError as e:
                rec(f"d{k + 1}", e)
                break
            rec(f"d{k + 1}", out, node_names=False)

    differ.check(prog)


@pytest.mark.parametrize("fname", list(FUNCS))
def test_derivatives_with_allow_unused(differ, fname):
    """Higher derivatives with allow_unused: a constant derivative's next derivative."""

    def prog(B, rec):
        x = B.leaf(1.5)
        out = FUNCS[fname](x)
        for k in range(4):
            if not out.requires_grad:
                rec(f"d{k + 1}", "constant")
                break
            out, = B.grad(out, x, create_graph=True, allow_unused=True, materialize_grads=True)
            rec(f"d{k + 1}", out, node_names=False)

    differ.check(prog)


def test_first_derivative_node_names_for_polynomials(differ):
    """Where torch's double-backward nodes are ordinary ops, the names agree too."""

    def prog(B, rec):
        x = B.leaf(2.0)
        rec("x**3'", B.grad(x ** 3, x, create_graph=True)[0])
        rec("x*x'", B.grad(x * x, x, create_graph=True)[0])
        rec("exp'", B.grad(x.exp(), x, create_graph=True)[0])
        rec("sin'", B.grad(x.sin(), x, create_graph=True)[0])

    differ.check(prog)


def test_mixed_partials(differ):
    def prog(B, rec):
        x = B.leaf(2.0)
        y = B.leaf(3.0)
        gx, gy = B.grad(x * y, [x, y], create_graph=True)
        rec("gx, gy", [gx, gy], node_names=False)
        rec("d gx", B.grad(gx, [x, y], allow_unused=True, retain_graph=True), node_names=False)
        rec.raises("unused x", lambda: B.grad(gx, [x, y]))
        x = B.leaf(0.7)
        y = B.leaf(-1.2)
        f = (x * y).sin() * x.exp() + y ** 3 / x
        gx, gy = B.grad(f, [x, y], create_graph=True)
        rec("first", [gx, gy], node_names=False)
        rec("H row x", B.grad(gx, [x, y], retain_graph=True), node_names=False)
        rec("H row y", B.grad(gy, [x, y], retain_graph=True), node_names=False)
        third = B.grad(B.grad(gx, y, create_graph=True)[0], [x, y])
        rec("d3 f / dx dy dx, dx dy dy", third)

    differ.check(prog)


def test_seed_example(differ):
    def prog(B, rec):
        w = B.leaf(2.0)
        q = B.leaf(3.0)
        r = B.grad(w * q, w, create_graph=True)[0]
        rec("r", r, node_names=False)
        r.backward()
        rec("w.grad, q.grad", [w.grad, q.grad])
        w = B.leaf(2.0)
        q = B.leaf(3.0)
        g, = B.grad(w ** 2 * q, w, create_graph=True)
        rec("g", g)
        g.backward()
        rec("w.grad, q.grad 2", [w.grad, q.grad])

    differ.check(prog)


def test_without_create_graph_gradients_are_constants(differ):
    def prog(B, rec):
        w = B.leaf(2.0)
        q = B.leaf(3.0)
        g, = B.grad(w ** 2 * q, w)
        rec("g", g)
        rec.raises("g.backward", g.backward)
        rec.raises("grad(g)", lambda: B.grad(g, w))
        rec("w*2", B.grad(w * 2, w, create_graph=True)[0])
        rec("w+q", B.grad(w + q, w, create_graph=True)[0])
        g4, = B.grad(w * w, w, create_graph=True)
        rec("w*w", g4, node_names=False)
        rec("w*w edges", len(g4.grad_fn.next_functions))

    differ.check(prog)


def test_create_graph_with_grad_outputs_that_require_grad(differ):
    """A seed that requires grad becomes part of the recorded graph."""

    def prog(B, rec):
        x = B.leaf(1.5)
        v = B.leaf(-2.0)
        g, = B.grad(x.sin() * x, x, grad_outputs=v, create_graph=True)
        rec("vjp", g, node_names=False)
        rec("d vjp", B.grad(g, [x, v]))

    differ.check(prog)


def test_backward_create_graph_then_grad_of_grad(differ):
    import warnings

    def prog(B, rec):
        x = B.leaf(0.3)
        y = B.leaf(1.7)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            (x.tanh() * y ** 2).backward(create_graph=True)
        rec("grads", [x.grad, y.grad], node_names=False)
        rec("d x.grad", B.grad(x.grad, [x, y], retain_graph=True))
        rec("d y.grad", B.grad(y.grad, [x, y]))

    differ.check(prog)


def test_create_graph_records_even_under_no_grad(differ):
    def prog(B, rec):
        x = B.leaf(2.0)
        y = x ** 3
        y2 = x * x
        with B.no_grad():
            g, = B.grad(y, x, create_graph=True)
            y2.backward()
            y3 = x * x
            rec("grad mode still off", B.is_grad_enabled())
        rec("g", g, node_names=False)
        rec("x.grad", x.grad)
        rec.raises("no graph", y3.backward)
        rec("d g", B.grad(g, x))

    differ.check(prog)


def test_pow_value_value_zero_exponent_stays_in_graph(differ):
    """d(x**e)/dx at e == 0 is a graph-connected 0 (torch: WhereBackward0), not a constant."""

    def prog(B, rec):
        x = B.leaf(0.5)
        e = B.leaf(0.0)
        gx, ge = B.grad(x ** e, [x, e], create_graph=True)
        rec("first", [gx, ge], node_names=False)
        rec.raises("second", lambda: B.grad(gx, [x, e], allow_unused=True))

    differ.check(prog)


def test_zero_base_pow_stays_in_graph(differ):
    def prog(B, rec):
        x = B.leaf(1.0)
        g, = B.grad(0 ** x, x, create_graph=True)
        rec("first", g, node_names=False)

    differ.check(prog)
