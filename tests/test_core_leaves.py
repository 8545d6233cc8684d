"""Leaves, requires_grad, grad_fn, next_functions, detach, retain_grad."""

import warnings

import pytest

OPS = {
    # name: (program on x, y, c), as written for both libraries
    "x+y": lambda x, y, c: x + y, "x+1": lambda x, y, c: x + 1, "1+x": lambda x, y, c: 1 + x,
    "x+c": lambda x, y, c: x + c, "x-y": lambda x, y, c: x - y, "x-1": lambda x, y, c: x - 1,
    "1-x": lambda x, y, c: 1 - x, "c-x": lambda x, y, c: c - x, "x*y": lambda x, y, c: x * y,
    "x*2": lambda x, y, c: x * 2, "2*x": lambda x, y, c: 2 * x, "c*x": lambda x, y, c: c * x,
    "x*c": lambda x, y, c: x * c, "x/y": lambda x, y, c: x / y, "x/2": lambda x, y, c: x / 2,
    "2/x": lambda x, y, c: 2 / x, "c/x": lambda x, y, c: c / x, "x**y": lambda x, y, c: x ** y,
    "x.pow(y)": lambda x, y, c: x.pow(y), "x**2": lambda x, y, c: x ** 2, "x**2.5": lambda x, y, c: x ** 2.5,
    "x.pow(2)": lambda x, y, c: x.pow(2), "2**x": lambda x, y, c: 2 ** x, "c**x": lambda x, y, c: c ** x,
    "x**c": lambda x, y, c: x ** c, "-x": lambda x, y, c: -x, "x.neg()": lambda x, y, c: x.neg(),
    "x.exp()": lambda x, y, c: x.exp(), "x.log()": lambda x, y, c: x.log(), "x.tanh()": lambda x, y, c: x.tanh(),
    "x.sigmoid()": lambda x, y, c: x.sigmoid(), "x.relu()": lambda x, y, c: x.relu(),
    "x.sin()": lambda x, y, c: x.sin(), "x.cos()": lambda x, y, c: x.cos(), "x.sinh()": lambda x, y, c: x.sinh(),
    "x.cosh()": lambda x, y, c: x.cosh(), "x.sqrt()": lambda x, y, c: x.sqrt(), "x.abs()": lambda x, y, c: x.abs(),
    "abs(x)": lambda x, y, c: abs(x), "x*x": lambda x, y, c: x * x, "y*x": lambda x, y, c: y * x,
}


def test_leaf_and_op_results(differ):
    def prog(B, rec):
        x = B.leaf(2.0)
        c = B.const(3.0)
        y = x * c
        z = c * 2
        for label, t in (("x", x), ("c", c), ("y", y), ("z", z)):
            rec(label, t)
            rec(label + ".retains_grad", t.retains_grad)
        rec("repr", [repr(x), repr(y), repr(c)] if B is differ.E else None)

    t, e = differ.run_both(prog)
    # repr is the one thing torch prints differently by design (tensor(2.) vs Value(2.0))
    assert e[-1][1] == ["Value(2.0, requires_grad=True)", "Value(6.0, grad_fn=<MulBackward0>)", "Value(3.0)"]
    assert differ.same(t[:-1], e[:-1]), differ.describe_diff(t, e)


def test_int_data_cannot_require_grad(differ):
    def setattr_int(B):
        t = B.const(2)
        t.requires_grad = True
        return t

    def prog(B, rec):
        rec.raises("ctor", lambda: B.new(2, requires_grad=True))
        rec.raises("requires_grad_", lambda: B.const(2).requires_grad_())
        rec.raises("setattr", lambda: setattr_int(B))
        rec("float ok", B.new(1.0, requires_grad=True))
        rec("int no grad ok", B.new(1))
        rec("int requires_grad_(False) ok", B.const(2).requires_grad_(False))

    differ.check(prog)


def test_requires_grad_(differ):
    def prog(B, rec):
        a = B.const(1.0)
        rec("returns self", a.requires_grad_() is a)
        rec("a", a)
        a.requires_grad_(False)
        rec("a off", a)
        x = B.leaf(2.0)
        y = x * 2
        rec("non-leaf True is self", y.requires_grad_(True) is y)
        rec("y", y)
        rec.raises("non-leaf False", lambda: y.requires_grad_(False), message=False)

        def assign():
            y.requires_grad = False

        rec.raises("non-leaf setattr False", assign, message=False)
        x.requires_grad = False
        rec("leaf setattr False", x)

    differ.check(prog)


def test_non_leaf_requires_grad_false_message(differ):
    """CONTRACT: Variable/variable -> Value/value in this message too ('leaf values')."""

    def prog(B, rec):
        y = B.leaf(2.0) * 2
        rec.raises("non-leaf False", lambda: y.requires_grad_(False))

    differ.check(prog)


def test_detach(differ):
    def prog(B, rec):
        x = B.leaf(2.0)
        y = x * 3
        d = y.detach()
        rec("d", d)
        rec("d.grad_fn", d.grad_fn)
        rec("x.detach", x.detach())
        rec("y unchanged", y)
        rec("detached is new", d is not y)
        rec("d+x", d * x)

    differ.check(prog)


def test_grad_of_leaf_is_none_without_warning(differ):
    def prog(B, rec):
        x = B.leaf(2.0)
        c = B.const(3.0)
        rec.warns("leaf grads", lambda: (x.grad, c.grad))
        rec("values", [x.grad, c.grad])

    differ.check(prog)


def test_non_leaf_grad_warns_on_every_read(differ):
    def prog(B, rec):
        x = B.leaf(2.0)
        y = x * B.const(3.0)
        rec.warns("non-leaf grad", lambda: [y.grad, y.grad])
        y.retain_grad()
        rec.warns("after retain_grad", lambda: y.grad)
        (y * y).backward()
        rec.warns("retained", lambda: y.grad)

    differ.check(prog)


def test_non_leaf_grad_warning_default_filter_once_per_site(differ):
    """Under Python's default filter the warning shows once per call site (both libraries)."""

    def prog(B, rec):
        y = B.leaf(2.0) * 3
        with warnings.catch_warnings(record=True) as caught:
            warnings.resetwarnings()
            warnings.simplefilter("default")
            for _ in range(3):
                y.grad  # noqa: B018 - the read is the test
        rec("count", len(caught))
        rec("category", [w.category.__name__ for w in caught])

    differ.check(prog)


def test_retain_grad(differ):
    def prog(B, rec):
        x = B.leaf(2.0)
        y = x * 3
        rec("before", [y.retains_grad, x.retains_grad])
        y.retain_grad()
        x.retain_grad()
        rec("after", [y.retains_grad, x.retains_grad])
        y.retain_grad()  # twice is fine
        (y * y).backward()
        rec("grads", [y.grad, x.grad])
        rec.raises("no requires_grad", lambda: B.const(1.0).retain_grad())
        rec.raises("int", lambda: B.const(1).retain_grad())
        z = x * 5
        z.retain_grad()
        (z * 2).backward(retain_graph=True)
        (z * 2).backward()
        rec("z.grad accumulates", z.grad)
        rec("x.grad", x.grad)

    differ.check(prog)


@pytest.mark.parametrize("expr", list(OPS))
def test_grad_fn_names_and_edges(differ, expr):
    def prog(B, rec):
        x = B.leaf(2.0)
        y = B.leaf(3.0)
        c = B.const(4.0)
        t = OPS[expr](x, y, c)
        rec("t", t)
        rec("name()", t.grad_fn.name())
        rec.edges("edges", t)
        for i, (n, _) in enumerate(t.grad_fn.next_functions):
            if n is not None:
                rec.edges(f"edges[{i}]", n)

    differ.check(prog)


@pytest.mark.parametrize("expr", list(OPS))
def test_no_graph_without_requires_grad(differ, expr):
    def prog(B, rec):
        x, y, c = B.const(2.0), B.const(3.0), B.const(4.0)
        rec("t", OPS[expr](x, y, c))

    differ.check(prog)


def test_x_times_x_two_edges_to_same_accumulator(differ):
    def prog(B, rec):
        x = B.leaf(2.0)
        (a, _), (b, _) = (x * x).grad_fn.next_functions
        rec("same object", a is b)

    differ.check(prog)


def test_walking_the_graph(differ):
    def prog(B, rec):
        x = B.leaf(2.0)
        y = B.leaf(3.0)
        c = B.const(4.0)
        z = (x * y + c).exp()
        n0 = z.grad_fn
        n1 = n0.next_functions[0][0]
        n2 = n1.next_functions[0][0]
        acc = n2.next_functions[0][0]
        acc_y = n2.next_functions[1][0]
        rec("names", [n0.name(), n1.name(), n2.name(), type(acc).__name__])
        rec.edges("n1", n1)
        rec("variable is x", acc.variable is x)
        rec("variable y", acc_y.variable is y)
        rec("acc next", acc.next_functions)
        rec("reused", (x * 2).grad_fn.next_functions[0][0] is (x * 3).grad_fn.next_functions[0][0])

    differ.check(prog)


def test_item_and_comparisons(differ):
    def prog(B, rec):
        x = B.leaf(2.0)
        rec("item", x.item())
        rec("item type", type(x.item()).__name__)
        rec("cmp", [bool(x > 1), bool(x < 1), bool(x >= 2), bool(x <= 1.5)])
        rec("float", float(x.detach()))

    differ.check(prog)


def test_accumulate_grad_name(differ):
    def prog(B, rec):
        x = B.leaf(2.0)
        rec("name()", (x * 2).grad_fn.next_functions[0][0].name())

    differ.check(prog)
