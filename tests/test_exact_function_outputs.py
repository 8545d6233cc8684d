"""Issue 9, rules 12, 14, 15 and 16: custom Function outputs, the Error node, anomaly mode."""

import warnings

import pytest


def function_base(B):
    return B.lib.autograd.Function if B.name == "torch" else B.lib.Function


def once_differentiable(B):
    if B.name == "torch":
        from torch.autograd.function import once_differentiable as od
        return od
    return B.lib.once_differentiable


def detect_anomaly(B):
    return B.lib.autograd.detect_anomaly if B.name == "torch" else B.lib.detect_anomaly


# ---------------------------------------------------------------------------------
# Rule 12: the Value forward returns is the output itself
# ---------------------------------------------------------------------------------

def make_keeps_result(B):
    class KeepsResult(function_base(B)):
        @staticmethod
        def forward(ctx, x):
            r = x.exp()
            ctx.r = r
            return r

        @staticmethod
        def backward(ctx, g):
            return g * ctx.r

    return KeepsResult


def test_12_result_kept_on_ctx_is_the_output(differ):
    def prog(B, rec):
        x = B.leaf(0.5)
        y = make_keeps_result(B).apply(x)
        rec("y", y)
        rec("ctx.r is y", y.grad_fn.r is y)
        g, = B.grad(y, x, create_graph=True)
        rec("first", g)
        rec("second", B.grad(g, x))

    differ.check(prog)


def test_12_result_kept_in_a_tuple_and_several_outputs(differ):
    def prog(B, rec):
        class Two(function_base(B)):
            @staticmethod
            def forward(ctx, x):
                a, b = x.sin(), x.cos()
                ctx.keep = (a, b)
                return a, b

            @staticmethod
            def backward(ctx, ga, gb):
                a, b = ctx.keep
                return ga * b - gb * a

        x = B.leaf(0.3)
        a, b = Two.apply(x)
        rec("outputs", [a, b])
        rec("kept are outputs", [a is a.grad_fn.keep[0], b is a.grad_fn.keep[1]])
        g, = B.grad(a * b, x, create_graph=True)
        rec("first", g)
        rec("second", B.grad(g, x))

    differ.check(prog)


def test_12_returning_an_input_gives_a_new_value(differ):
    def prog(B, rec):
        class Identity(function_base(B)):
            @staticmethod
            def forward(ctx, x):
                return x

            @staticmethod
            def backward(ctx, g):
                return g * 2

        x = B.leaf(1.5)
        y = Identity.apply(x)
        rec("is a new object", y is not x)
        rec("y", y)
        rec("x still a leaf", [x.is_leaf, x.grad_fn])
        y.backward()
        rec("x.grad", x.grad)

    differ.check(prog)


# ---------------------------------------------------------------------------------
# Rule 14: Function outputs
# ---------------------------------------------------------------------------------

@pytest.mark.parametrize("materialize", [True, False])
def test_14_non_value_output_gradient_is_none(differ, materialize):
    def prog(B, rec):
        seen = []

        class Mixed(function_base(B)):
            @staticmethod
            def forward(ctx, x):
                ctx.set_materialize_grads(materialize)
                return x * 2, 7, x * 3

            @staticmethod
            def backward(ctx, g0, g1, g2):
                seen.append([rec.norm(g0), rec.norm(g1), rec.norm(g2)])
                return (g0 if g0 is not None else 0) + (g2 if g2 is not None else 0)

        x = B.leaf(1.0)
        a, n, c = Mixed.apply(x)
        rec("outputs", [a, n, c])
        a.backward(retain_graph=True)
        c.backward()
        rec("seen", seen)
        rec("x.grad", x.grad)

    differ.check(prog)


def test_14_output_hooks_in_registration_order_and_without_gradient(differ):
    def prog(B, rec):
        log = []

        class Two(function_base(B)):
            @staticmethod
            def forward(ctx, x):
                return x * 2, x * 3

            @staticmethod
            def backward(ctx, ga, gb):
                log.append(("backward", rec.norm(ga), rec.norm(gb)))
                return ga + gb

        x = B.leaf(1.0)
        a, b = Two.apply(x)
        b.register_hook(lambda g: log.append(("b first", rec.norm(g))))
        a.register_hook(lambda g: log.append(("a", rec.norm(g))) or g * 10)
        b.register_hook(lambda g: log.append(("b second", rec.norm(g))))
        a.backward(retain_graph=True)  # b gets no gradient
        rec("log a", log)
        log.clear()
        (a * 2 + b * 5).backward()
        rec("log both", log)
        rec("x.grad", x.grad)

    differ.check(prog)


def test_14_int_outputs_never_require_grad(differ):
    def prog(B, rec):
        class Counts(function_base(B)):
            @staticmethod
            def forward(ctx, x):
                return B.new(3), x * 2, B.new(2.5)

            @staticmethod
            def backward(ctx, g0, g1, g2):
                return g1 * 2 + g2

        x = B.leaf(1.0)
        i, y, f = Counts.apply(x)
        rec("outputs", [i, y, f])
        rec("requires_grad", [i.requires_grad, y.requires_grad, f.requires_grad])
        (y + f).backward()
        rec("x.grad", x.grad)

    differ.check(prog)


def test_14_mark_non_differentiable_on_a_non_output_changes_nothing(differ):
    def prog(B, rec):
        class MarksOther(function_base(B)):
            @staticmethod
            def forward(ctx, x):
                other = x * 5
                ctx.mark_non_differentiable(other)
                ctx.save_for_backward(x)
                return x * 2

            @staticmethod
            def backward(ctx, g):
                x, = ctx.saved_tensors
                return g * 2 * x / x

        x = B.leaf(1.5)
        y = MarksOther.apply(x)
        rec("y", y)
        rec("grad", B.grad(y, x))

    differ.check(prog)


def test_14_marks_are_not_fooled_by_recycled_ids(differ):
    """Temporaries die inside forward; their ids may come back for the outputs."""
    def prog(B, rec):
        class Recycles(function_base(B)):
            @staticmethod
            def forward(ctx, x):
                for _ in range(20):
                    t = x * 1.0
                    ctx.mark_non_differentiable(t)
                    del t  # freed at once (reference counting): its id is free again
                return x * 2, x * 3

            @staticmethod
            def backward(ctx, ga, gb):
                return ga * 2 + gb * 3

        x = B.leaf(1.0)
        a, b = Recycles.apply(x)
        rec("requires_grad", [a.requires_grad, b.requires_grad])
        (a + b).backward()
        rec("x.grad", x.grad)

    differ.check(prog)


def test_14_mark_non_differentiable_output(differ):
    def prog(B, rec):
        class Sorted(function_base(B)):
            @staticmethod
            def forward(ctx, x, y):
                lo, hi = (x, y) if x.item() <= y.item() else (y, x)
                idx = B.new(0.0 if x.item() <= y.item() else 1.0)
                ctx.mark_non_differentiable(idx)
                return lo * 1.0, hi * 1.0, idx

            @staticmethod
            def backward(ctx, glo, ghi, gidx):
                rec("gidx", gidx)
                return glo, ghi

        x, y = B.leaf(2.0), B.leaf(1.0)
        lo, hi, idx = Sorted.apply(x, y)
        rec("requires_grad", [lo.requires_grad, hi.requires_grad, idx.requires_grad])
        (lo * 3 + hi).backward()
        rec("grads", [x.grad, y.grad])

    differ.check(prog)


# ---------------------------------------------------------------------------------
# Rule 15: the node once_differentiable creates is named torch::autograd::Error
# ---------------------------------------------------------------------------------

def test_15_error_node_name(differ):
    def prog(B, rec):
        class Cube(function_base(B)):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x ** 3

            @staticmethod
            @once_differentiable(B)
            def backward(ctx, g):
                x, = ctx.saved_tensors
                return g * 3 * x * x

        x = B.leaf(2.0)
        g, = B.grad(Cube.apply(x), x, create_graph=True)  # the seed needs no grad: no Error node
        rec("g plain", g)
        g, = B.grad(Cube.apply(x).sin(), x, create_graph=True)
        rec("g", [g.item(), g.requires_grad])
        err = [n for n, _ in g.grad_fn.next_functions if n is not None and "Error" in n.name()]
        rec("names", [g.grad_fn.name(), [n.name() for n in err]])
        rec.raises("differentiate again", lambda: B.grad(g, x))
        v = B.leaf(1.0)
        g, = B.grad(Cube.apply(x), x, grad_outputs=v, create_graph=True)
        rec("seed needing grad", [g.item(), g.grad_fn.name()])

    differ.check(prog)


# ---------------------------------------------------------------------------------
# Rule 16: anomaly mode checks only the gradients that are needed
# ---------------------------------------------------------------------------------

ANOMALY_PROGRAMS = {
    "constant divisor 0/0": lambda B, x: (x * 0.0) / B.const(0.0),
    "x / const 0": lambda B, x: x / B.const(0.0) * 0.0,
    "const ** x at 0": lambda B, x: B.const(0.0) ** x,
    "x ** const": lambda B, x: x ** B.const(float("nan")),
    "log of const": lambda B, x: x * B.const(-1.0).log(),
    "sqrt at 0": lambda B, x: (x * 0.0).sqrt(),
    "0 * inf": lambda B, x: (x * 0.0) * B.const(float("inf")),
    "mul const nan": lambda B, x: x * B.const(float("nan")),
}


@pytest.mark.parametrize("name", list(ANOMALY_PROGRAMS))
def test_16_anomaly_only_checks_needed_gradients(differ, name):
    def prog(B, rec):
        x = B.leaf(1.0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with detect_anomaly(B)():
                y = ANOMALY_PROGRAMS[name](B, x)
                rec.raises("backward", lambda: y.backward())
                x2 = B.leaf(0.0)
                z = x2.sqrt()
                rec.raises("grad create_graph", lambda: B.grad(B.grad(z, x2, create_graph=True)[0] * 0.0, x2))
        rec("x.grad", x.grad)

    differ.check(prog)
