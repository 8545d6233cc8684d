"""Value.backward and engine.backward (several outputs, seeds, inputs=, errors)."""

import inspect

import pytest


def test_signatures(differ):
    torch, engine = differ.torch, differ.engine
    t = list(inspect.signature(torch.Tensor.backward).parameters)
    e = list(inspect.signature(engine.Value.backward).parameters)
    assert e == t
    for p in ("retain_graph", "create_graph", "inputs", "gradient"):
        assert inspect.signature(engine.Value.backward).parameters[p].default == \
            inspect.signature(torch.Tensor.backward).parameters[p].default
    te = inspect.signature(torch.autograd.backward).parameters
    ee = inspect.signature(engine.backward).parameters
    # torch also keeps the deprecated grad_variables; the contract lists the rest
    assert [p for p in te if p != "grad_variables"] == list(ee)
    for p in ee:
        assert ee[p].default == te[p].default


def test_several_outputs_and_seeds(differ):
    def prog(B, rec):
        a = B.leaf(2.0)
        b = B.leaf(3.0)

        def fresh():
            a.grad = None
            b.grad = None
            return a * b, a + b

        o1, o2 = fresh()
        B.backward([o1, o2])
        rec("default seeds", [a.grad, b.grad])
        o1, o2 = fresh()
        B.backward([o1, o2], [B.seed(10.0), B.seed(100.0)])
        rec("seeds", [a.grad, b.grad])
        o1, o2 = fresh()
        B.backward([o1, o2], [B.seed(10.0), None])
        rec("None seed", [a.grad, b.grad])
        o1, o2 = fresh()
        B.backward((o1, o2), (B.seed(2.0), B.seed(-1.0)))
        rec("tuples", [a.grad, b.grad])
        o1, o2 = fresh()
        B.backward([o1, o1])
        rec("same output twice", a.grad)
        o1, o2 = fresh()
        o1.backward(B.seed(2.0))
        rec("gradient=", a.grad)
        o1, o2 = fresh()
        B.backward(o1, B.seed(3.0))
        rec("single Value and seed", a.grad)
        rec("empty list", B.backward([]))
        o1, o2 = fresh()
        rec.raises("count", lambda: B.backward([o1, o2], [B.seed(1.0)]))
        rec("nothing accumulated", [a.grad, b.grad])

    differ.check(prog)


def test_int_seed_tensor_is_accepted(differ):
    """torch accepts an int (and bool) tensor seed and keeps the leaf's dtype."""

    def prog(B, rec):
        x = B.leaf(3.0)
        (x ** 2).backward(B.const(2))
        rec("int seed", x.grad)
        rec("grad is float", type(x.grad.item()).__name__)
        rec("grad()", B.grad(x ** 2, x, B.const(3)))

    differ.check(prog)


def test_engine_accepts_numbers_as_seeds(differ):
    """A documented difference: where torch needs a tensor the engine takes a number,
    a Value, None or a list of those, meaning the same as the tensor would."""
    Value, engine = differ.Value, differ.engine
    torch = differ.torch

    def t_grads(seed):
        a = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
        (a ** 3).backward(torch.tensor(seed, dtype=torch.float64))
        return a.grad.item()

    for seed in (2.0, 3, -1.5, True):
        a = Value(2.0, requires_grad=True)
        (a ** 3).backward(seed)
        assert a.grad.item() == t_grads(float(seed))
        a = Value(2.0, requires_grad=True)
        engine.backward([a ** 3], [seed])
        assert a.grad.item() == t_grads(float(seed))
        a = Value(2.0, requires_grad=True)
        assert engine.grad(a ** 3, a, seed)[0].item() == t_grads(float(seed))
    # torch rejects python numbers (TypeError), the engine does not
    tx = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    with pytest.raises(TypeError):
        (tx * 2).backward(2.0)
    # numpy scalars count as numbers
    import numpy as np

    a = Value(2.0, requires_grad=True)
    engine.backward([a * 3, a * 5], [np.float64(2.0), np.int64(-1)])
    assert a.grad.item() == 3 * 2.0 + 5 * -1


def test_seed_example_vector_as_list(differ):
    def prog(B, rec):
        xs = [B.leaf(v) for v in (2.0, 3.0, 1.0)]
        B.backward([x ** 2 for x in xs], [B.seed(g) for g in (1, 3, 2)])
        rec("grads", [x.grad for x in xs])

    differ.check(prog)
    engine, Value = differ.engine, differ.Value
    xs = [Value(v, requires_grad=True) for v in (2.0, 3.0, 1.0)]
    engine.backward([x ** 2 for x in xs], [1, 3, 2])  # the contract's spelling: plain numbers
    assert [x.grad.item() for x in xs] == [4.0, 18.0, 4.0]


def test_inputs(differ):
    def prog(B, rec):
        a = B.leaf(2.0)
        b = B.leaf(3.0)
        u = B.leaf(1.0)
        (a * b).backward(inputs=[a])
        rec("inputs=[a]", [a.grad, b.grad])
        a.grad = None
        (a * b).backward(inputs=a)
        rec("inputs=a", [a.grad, b.grad])
        a.grad = None
        (a * b).backward(inputs=(a, u))
        rec("unreachable input ignored", [a.grad, u.grad, b.grad])
        a.grad = None
        m = a * b
        rec("m.retains_grad before", m.retains_grad)
        (m * 2).backward(inputs=[m])
        rec("non-leaf input", [m.grad, a.grad])
        rec("retains_grad side effect", m.retains_grad)
        rec.raises("empty", lambda: (a * b).backward(inputs=[]))
        rec.raises("no requires_grad", lambda: (a * b).backward(inputs=[B.const(1.0)]))
        rec.raises("engine.backward empty", lambda: B.backward([a * b], inputs=[]))
        B.backward([a * b, a + b], inputs=[b])
        rec("backward(inputs=) several outputs", [a.grad, b.grad])

    differ.check(prog)


def test_outputs_must_require_grad(differ):
    def prog(B, rec):
        a = B.leaf(2.0)
        rec.raises("constant", lambda: B.const(1.0).backward())
        rec.raises("element 1", lambda: B.backward([a * 2, B.const(1.0) * 2]))
        rec.raises("element 2", lambda: B.backward([a * 2, a * 3, B.const(1.0)]))
        rec("nothing accumulated", a.grad)
        with B.no_grad():
            y = a * 2
        rec.raises("built under no_grad", y.backward)

    differ.check(prog)


def test_error_messages_are_torchs_word_for_word(differ):
    def twice(B):
        x = B.leaf(2.0)
        z = x * x
        z.backward()
        z.backward()

    def prog(B, rec):
        x = B.leaf(2.0)
        rec.raises("second backward", lambda: twice(B))
        rec.raises("no grad_fn", lambda: B.const(1.0).backward())
        rec.raises("unused input", lambda: B.grad(x * 2, [x, B.leaf(1.0)]))
        rec.raises("input without requires_grad", lambda: B.grad(x * 2, [B.const(1.0)]))
        rec.raises("int requires_grad", lambda: B.new(1, requires_grad=True))
        rec.raises("retain_grad without requires_grad", lambda: B.const(1.0).retain_grad())
        rec.raises("hook without requires_grad", lambda: B.const(1.0).register_hook(lambda g: g))
        rec.raises("grad_tensors count", lambda: B.backward([x * 2, x * 3], [B.seed(1.0)]))
        rec.raises("backward inputs=[]", lambda: (x * 2).backward(inputs=[]))
        rec.raises("grad inputs=[]", lambda: B.grad(x * 2, []))

    differ.check(prog)
