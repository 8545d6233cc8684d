"""Issue 9, rules 7-11: grad mode in generators, materialized zeros, iterables, the order
of argument checks, and assigning a Value as its own grad."""

import itertools
import types

import pytest


# ---------------------------------------------------------------------------------
# Rule 7: grad-mode decorators on generator functions
# ---------------------------------------------------------------------------------

def decorator(B, which: str):
    """Made only when used: ``set_grad_enabled(mode)`` switches the mode at once."""
    return {
        "no_grad()": B.no_grad,
        "enable_grad()": B.enable_grad,
        "set_grad_enabled(False)": lambda: B.set_grad_enabled(False),
        "set_grad_enabled(True)": lambda: B.set_grad_enabled(True),
    }[which]()


@pytest.fixture(autouse=True)
def grad_mode_restored(differ):
    assert differ.torch.is_grad_enabled() and differ.engine.is_grad_enabled()
    yield
    ok = differ.torch.is_grad_enabled() and differ.engine.is_grad_enabled()
    differ.torch.set_grad_enabled(True)
    differ.engine.set_grad_enabled(True)
    assert ok, "a test left grad mode off"


@pytest.mark.parametrize("which", ["no_grad()", "enable_grad()", "set_grad_enabled(False)", "set_grad_enabled(True)"])
@pytest.mark.parametrize("outside", [True, False])
def test_7_decorated_generator_holds_across_yields(differ, which, outside):
    def prog(B, rec):
        x = B.leaf(1.0)
        with B.set_grad_enabled(outside):
            deco = decorator(B, which)
            rec("mode after making the decorator", B.is_grad_enabled())

        @deco
        def gen(n):
            total = 0
            for i in range(n):
                got = yield ("inside", i, B.is_grad_enabled(), (x * 2).requires_grad)
                total += got or 0
            return total

        with B.set_grad_enabled(outside):
            rec("mode after decorating", B.is_grad_enabled())
            g = gen(3)
            rec("first", next(g))
            rec("between yields", B.is_grad_enabled())
            rec("send", g.send(5))
            rec("between yields 2", B.is_grad_enabled())
            rec("send again", g.send(7))
            try:
                g.send(1)
            except StopIteration as stop:
                rec("returned", stop.value)
            rec("after", B.is_grad_enabled())
            rec("list", list(gen(2)))
        rec("after the with", B.is_grad_enabled())
        B.set_grad_enabled(True)  # decorating with set_grad_enabled(...) restores the mode of its making

    differ.check(prog)


def test_7_generator_throw_and_close(differ):
    def prog(B, rec):
        log = []

        @B.no_grad()
        def gen():
            try:
                yield B.is_grad_enabled()
            except ValueError:
                log.append(("caught", B.is_grad_enabled()))
                yield "recovered"
            finally:
                log.append(("finally", B.is_grad_enabled()))

        g = gen()
        rec("first", next(g))
        rec("throw", g.throw(ValueError("boom")))
        g.close()
        rec("log", log)
        rec("mode", B.is_grad_enabled())
        g2 = gen()
        next(g2)
        rec.raises("throw uncaught", lambda: g2.throw(KeyError("x")), message=False)
        rec("mode 2", B.is_grad_enabled())

    differ.check(prog)


def test_7_bare_decorator_and_plain_functions_still_work(differ):
    def prog(B, rec):
        x = B.leaf(2.0)

        @B.no_grad
        def f(v):
            return v * 2

        @B.no_grad()
        def gen():
            yield (x * 2).requires_grad

        rec("plain", f(x).requires_grad)
        rec("gen", list(gen()))
        rec("is a generator", isinstance(gen(), types.GeneratorType))

    differ.check(prog)


# ---------------------------------------------------------------------------------
# Rule 8: materialize_grads with create_graph gives zeros that require grad
# ---------------------------------------------------------------------------------

@pytest.mark.parametrize("create_graph", [False, True])
def test_8_materialized_zeros(differ, create_graph):
    def prog(B, rec):
        x = B.leaf(1.5)
        y = B.leaf(-0.5)
        z = B.leaf(3.0)
        out = x * x * y
        gs = B.grad(out, [x, y, z], create_graph=create_graph, materialize_grads=True)
        rec("first", gs)
        if create_graph:
            # a Hessian loop: every entry is differentiated again, the zeros included
            rows = [B.grad(g, [x, y, z], materialize_grads=True, retain_graph=True) for g in gs]
            rec("hessian", rows)

    differ.check(prog)


def test_8_hessian_loop_of_a_function_linear_in_one_input(differ):
    def prog(B, rec):
        a = B.leaf(0.7)
        b = B.leaf(1.1)
        f = a.sin() + b * 2  # d2f/db2 = 0: the first derivative for b has no graph
        g = B.grad(f, [a, b], create_graph=True, materialize_grads=True)
        rec("g", g)
        for i, gi in enumerate(g):
            rec(f"row {i}", B.grad(gi, [a, b], materialize_grads=True, allow_unused=True) if gi.requires_grad
                else "constant")

    differ.check(prog)


# ---------------------------------------------------------------------------------
# Rule 9: outputs and inputs as any iterable torch accepts
# ---------------------------------------------------------------------------------

def test_9_iterables_for_grad(differ):
    def prog(B, rec):
        x = B.leaf(2.0)
        y = B.leaf(3.0)
        rec("generators", B.grad((v for v in [x * y, x + y]), (v for v in [x, y]), retain_graph=True))
        rec("tuple", B.grad((x * y,), (x, y)))
        rec("set of one", B.grad({x * y * y}, {y}))
        rec("dict inputs", B.grad(x * y, {"a": x, "b": y}))
        rec("map", B.grad(map(lambda v: v * 2, [x]), iter([x])))
        rec("range of seeds", B.grad([x * 1, y * 1], [x, y], grad_outputs=(B.seed(2.0), B.seed(3.0))))

    differ.check(prog)


def test_9_iterables_for_backward(differ):
    def prog(B, rec):
        x = B.leaf(2.0)
        y = B.leaf(3.0)
        B.backward(v for v in [x * y, x * x])
        rec("generator outputs", [x.grad, y.grad])
        B.backward({x * y}, inputs=(v for v in [y]))
        rec("set outputs, generator inputs", [x.grad, y.grad])
        B.backward([x * y], inputs={"first": x})
        rec("dict inputs", [x.grad, y.grad])
        (x * y).backward(inputs={y})
        rec("method, set inputs", [x.grad, y.grad])
        B.backward(x * y, inputs=(x, y))
        rec("tuple inputs", [x.grad, y.grad])

    differ.check(prog)


def test_9_other_mappings_are_refused(differ):
    def prog(B, rec):
        x = B.leaf(2.0)
        mapping = types.MappingProxyType({"x": x})
        rec.raises("grad", lambda: B.grad(x * 2, mapping))
        rec.raises("backward", lambda: B.backward(x * 2, inputs=mapping))
        rec.raises("empty generator", lambda: B.grad(x * 2, (v for v in [])))
        rec.raises("empty dict", lambda: B.backward(x * 2, inputs={}))
        rec("nothing accumulated", x.grad)

    differ.check(prog)


# ---------------------------------------------------------------------------------
# Rule 10: error checks in torch's order; a call that raises changes nothing
# ---------------------------------------------------------------------------------

FAULTS = ["const output", "const input", "empty inputs", "extra seed", "missing seed", "non-leaf input"]


def build(B, faults):
    x = B.leaf(2.0)
    c = B.leaf(5.0, requires_grad=False)
    m = x * 3
    outs = [c if "const output" in faults else m * x, m + x]
    ins = [] if "empty inputs" in faults else [x, c] if "const input" in faults else [x]
    if "non-leaf input" in faults and ins:
        ins = [m] + ins
    seeds = [B.seed(1.0)] * (len(outs) + ("extra seed" in faults) - ("missing seed" in faults))
    return x, m, outs, ins, seeds


COMBOS = [c for r in (1, 2, 3) for c in itertools.combinations(FAULTS, r)]


@pytest.mark.parametrize("faults", COMBOS, ids=["+".join(c) for c in COMBOS])
def test_10_first_error_is_torchs_and_nothing_changes(differ, faults):
    def prog(B, rec):
        x, m, outs, ins, seeds = build(B, faults)
        rec.raises("grad", lambda: B.grad(outs, ins, grad_outputs=seeds, retain_graph=True))
        rec("retains_grad after grad", m.retains_grad)
        rec.raises("backward", lambda: B.backward(outs, seeds, retain_graph=True, inputs=ins or None))
        rec("retains_grad after backward", m.retains_grad)
        rec("x.grad", x.grad)

    differ.check(prog)


def test_10_grad_of_a_constant(differ):
    def prog(B, rec):
        c = B.leaf(1.0, requires_grad=False)
        x = B.leaf(1.0)
        rec.raises("constant output, constant input", lambda: B.grad(c, c))
        rec.raises("constant output, good input", lambda: B.grad(c, x))
        rec.raises("good output, constant input", lambda: B.grad(x * 2, c))
        rec.raises("only_inputs=False and empty", lambda: B.grad(x * 2, [], only_inputs=False))
        rec.raises("materialize and allow_unused=False, constant", lambda: B.grad(
            c, [], materialize_grads=True, allow_unused=False))
        m = x * 2
        rec.raises("backward: bad input after a good one", lambda: B.backward(m * 2, inputs=[m, c]))
        rec("the good one was retained first, as in torch", m.retains_grad)
        m2 = x * 2
        rec.raises("backward: constant output", lambda: B.backward(c, inputs=[m2]))
        rec("not retained", m2.retains_grad)

    differ.check(prog)


# ---------------------------------------------------------------------------------
# Rule 11: a Value cannot be its own grad
# ---------------------------------------------------------------------------------

def test_11_own_grad(differ):
    def prog(B, rec):
        x = B.leaf(1.0)
        rec.raises("x.grad = x", lambda: setattr(x, "grad", x))
        rec("unchanged", x.grad)
        y = x * 2
        rec.raises("y.grad = y", lambda: setattr(y, "grad", y))
        c = B.leaf(3.0, requires_grad=False)
        rec.raises("c.grad = c", lambda: setattr(c, "grad", c))
        rec.raises("x.grad = 3", lambda: setattr(x, "grad", 3), message=False)
        x.grad = B.leaf(4.0, requires_grad=False)
        rec("other Value is fine", x.grad)

    differ.check(prog)


# ---------------------------------------------------------------------------------
# An output that is also an input: its seed and the gradient the graph sends it add up
# ---------------------------------------------------------------------------------

@pytest.mark.parametrize("call", ["grad", "backward", "backward+hook"])
@pytest.mark.parametrize("order", ["leaf first", "leaf last"])
def test_an_output_that_is_a_leaf_gets_its_seed_and_the_graph_s_gradient_once(differ, call, order):
    def prog(B, rec):
        a = B.leaf(2.0)
        b = B.leaf(0.5)
        outs = [a, a * 2 + a * b] if order == "leaf first" else [a * b * 3, a]
        seeds = [B.seed(1.0), B.seed(5.0)]
        if call == "grad":
            rec("grad", B.grad(outs, [a, b], seeds))
            return
        if call == "backward+hook":
            a.register_hook(lambda g: rec("hook on a", g))
        B.backward(outs, seeds)
        rec("a.grad", a.grad)
        rec("b.grad", b.grad)
    differ.check(prog)
