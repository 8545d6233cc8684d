"""engine.grad — tuples, dict inputs, unused inputs, materialize_grads, chaining."""

import inspect
import warnings


def test_signature(differ):
    t = inspect.signature(differ.torch.autograd.grad).parameters
    e = inspect.signature(differ.engine.grad).parameters
    assert list(e) == [p for p in t if p != "is_grads_batched"]
    for p in e:
        assert e[p].default == t[p].default, p


def test_results(differ):
    def prog(B, rec):
        x = B.leaf(2.0)
        y = B.leaf(3.0)
        rec("single input", B.grad(x * y, x))
        rec("list", B.grad(x * y, [x, y]))
        rec("tuple", B.grad(x * y, (y, x)))
        rec("dict", B.grad(x * y, {"a": x, "b": y}))
        rec("several outputs summed", B.grad([x ** 2, x * 5], x))
        rec("same input twice", B.grad(x * x, [x, x]))
        rec("leaf wrt itself", B.grad(x, x))
        rec("result requires_grad", B.grad(x * 3, x)[0].requires_grad)
        rec("result type", type(B.grad(x * 3, x)).__name__)
        rec.raises("empty inputs", lambda: B.grad(x * x, []))
        rec("x.grad untouched", x.grad)

    differ.check(prog)


def test_unused_inputs(differ):
    def prog(B, rec):
        x = B.leaf(2.0)
        y = B.leaf(3.0)
        u = B.leaf(5.0)
        z = x * y
        rec.raises("index 1", lambda: B.grad(z, [x, u], retain_graph=True))
        rec.raises("index 0", lambda: B.grad(z, [u, x], retain_graph=True))
        rec("allow_unused", B.grad(z, [x, u], retain_graph=True, allow_unused=True))
        m = B.grad(z, [x, u], retain_graph=True, materialize_grads=True)
        rec("materialize_grads", m)
        rec("materialize + allow_unused=True", B.grad(z, [x, u], retain_graph=True, materialize_grads=True,
                                                      allow_unused=True))
        rec.raises("materialize + allow_unused=False",
                   lambda: B.grad(z, [x, u], retain_graph=True, materialize_grads=True, allow_unused=False))
        rec.raises("output that does not depend on input", lambda: B.grad(u * 2, x))
        rec.raises("input without requires_grad even with allow_unused",
                   lambda: B.grad(z, [x, B.const(1.0)], retain_graph=True, allow_unused=True))
        rec.raises("output without requires_grad", lambda: B.grad(B.const(1.0) * 2, x))
        rec.raises("second output without requires_grad", lambda: B.grad([x * 2, B.const(1.0)], x))
        rec("allow_unused=False explicitly, all used", B.grad(z, [x], allow_unused=False))

    differ.check(prog)


def test_grad_outputs_chaining(differ):
    def prog(B, rec):
        x = B.leaf(2.0)
        y = x ** 2
        z = y.sin()
        dz_dy, = B.grad(z, y, retain_graph=True)
        rec("dz/dy", dz_dy)
        rec("dz/dx by chaining", B.grad(y, x, grad_outputs=dz_dy))
        x = B.leaf(2.0)
        h = x * 3
        out = h * h
        rec("wrt non-leaf", B.grad(out, h, retain_graph=True))
        rec("no retains_grad", h.retains_grad)
        rec("x.grad", x.grad)
        rec("[h, x]", B.grad(out, [h, x]))
        x = B.leaf(3.0)
        rec("list grad_outputs", B.grad([x ** 2], [x], grad_outputs=[B.seed(3.0)], retain_graph=True))
        rec("[None]", B.grad([x ** 2], [x], grad_outputs=[None], retain_graph=True))
        rec("several outputs, seeds", B.grad([x ** 2, x.sin(), x * 4], x,
                                             grad_outputs=[B.seed(2.0), B.seed(-1.0), None]))
        rec.raises("count mismatch", lambda: B.grad([x * 2, x * 3], x, grad_outputs=[B.seed(1.0)]))

    differ.check(prog)


def test_only_inputs(differ):
    def prog(B, rec):
        x = B.leaf(2.0)
        rec.warns("only_inputs=False", lambda: B.grad(x * x, x, only_inputs=False))
        rec("x.grad", x.grad)
        rec.warns("only_inputs=True", lambda: B.grad(x * x, x, only_inputs=True))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rec("value", B.grad(x * x, x, only_inputs=False))

    differ.check(prog)


def test_grad_with_retain_graph_then_backward(differ):
    def prog(B, rec):
        a = B.leaf(1.3)
        b = B.leaf(-0.4)
        out = (a * b).tanh() + a.exp() * b
        rec("grad", B.grad(out, [a, b], retain_graph=True))
        out.backward()
        rec("backward", [a.grad, b.grad])
        rec.raises("freed", lambda: B.grad(out, [a]))

    differ.check(prog)
