"""Bad input gets a clear TypeError/RuntimeError naming the problem (issue 3, item 10),
never a wrong result; numbers that behave like int/float (numpy scalars) are converted.

torch has no scalar-only analogue for most of these (``torch.tensor([1])`` is a vector,
``torch.tensor("a")`` a different message), so the engine's documented behaviour
(CONTRACT.md, "Value") is tested directly; where torch has the same situation on 0-dim
tensors the exception type and message are compared with torch's.
"""

import fractions
import math
import operator

import numpy as np
import pytest

from engine import Value, backward, grad

BAD_DATA = [("a", "str"), (None, "NoneType"), ([1], "list"), ((1.0,), "tuple"), (1 + 2j, "complex"),
            ({"x": 1}, "dict"), (object(), "object"), (b"1", "bytes")]


@pytest.mark.parametrize("bad, tname", BAD_DATA, ids=[t for _, t in BAD_DATA])
def test_value_rejects_non_numbers(bad, tname):
    with pytest.raises(TypeError, match=tname):
        Value(bad)
    with pytest.raises(TypeError, match=tname):
        Value(bad, requires_grad=True)


@pytest.mark.parametrize("bad, tname", BAD_DATA, ids=[t for _, t in BAD_DATA])
def test_data_assignment_rejects_non_numbers(bad, tname):
    v = Value(2.0, requires_grad=True)
    with pytest.raises(TypeError, match=tname):
        v.data = bad
    assert v.data == 2.0  # unchanged


def test_data_assignment_takes_numbers_and_values():
    v = Value(2.0, requires_grad=True)
    v.data = Value(3.5)
    assert v.data == 3.5 and v.requires_grad and v.is_leaf
    v.data = np.float64(4.0)
    assert v.data == 4.0 and type(v.data) is float
    v.data -= 0.5  # micrograd's update loop
    assert v.data == 3.5
    y = v * 2
    y.backward()
    assert v.grad.item() == 2.0


@pytest.mark.parametrize("bad, tname", [(5.0, "float"), (5, "int"), ("g", "str"), ([Value(1.0)], "list")])
def test_grad_assignment(differ, bad, tname):
    v = Value(2.0, requires_grad=True)
    with pytest.raises(TypeError, match=tname):
        v.grad = bad
    assert v.grad is None
    t = differ.torch.tensor(2.0, dtype=differ.torch.float64, requires_grad=True)
    try:
        t.grad = bad
    except TypeError as e:
        if not isinstance(bad, list):
            with pytest.raises(TypeError) as ei:
                v.grad = bad
            assert str(ei.value) == differ.as_value_message(str(e))


def test_grad_assignment_of_value_and_none():
    v = Value(2.0, requires_grad=True)
    v.grad = Value(7.0)
    (v * 3).backward()
    assert v.grad.item() == 10.0
    v.grad = None
    assert v.grad is None


def test_int_data_with_requires_grad(differ):
    def prog(B, rec):
        rec.raises("ctor", lambda: B.new(3, requires_grad=True))
        rec.raises("requires_grad_", lambda: B.new(3).requires_grad_())
        rec.raises("bool ctor", lambda: B.new(True, requires_grad=True))

    differ.check(prog)


OPS = [operator.add, operator.sub, operator.mul, operator.truediv, operator.pow]


@pytest.mark.parametrize("op", OPS, ids=lambda o: o.__name__)
@pytest.mark.parametrize("other", ["a", None, [1.0], 1 + 2j, object()], ids=lambda o: type(o).__name__)
def test_ops_with_non_numbers_raise_type_error(op, other):
    v = Value(2.0, requires_grad=True)
    with pytest.raises(TypeError):
        op(v, other)
    with pytest.raises(TypeError):
        op(other, v)


def test_type_errors_name_both_types():
    v = Value(2.0)
    with pytest.raises(TypeError, match=r"Value.*str"):
        v + "a"
    with pytest.raises(TypeError, match=r"NoneType.*Value"):
        None * v


@pytest.mark.parametrize("seed, tname", [("x", "str"), (1 + 2j, "complex"), (object(), "object")])
def test_bad_seeds(seed, tname):
    v = Value(2.0, requires_grad=True)
    with pytest.raises(TypeError, match=tname):
        (v * 2).backward(seed)
    with pytest.raises(TypeError, match=tname):
        backward([v * 2], [seed])
    with pytest.raises(TypeError, match=tname):
        grad(v * 2, v, grad_outputs=seed)
    with pytest.raises(TypeError, match=tname):
        grad([v * 2], [v], grad_outputs=[seed])
    assert v.grad is None


def test_bad_outputs_and_inputs():
    v = Value(2.0, requires_grad=True)
    with pytest.raises(TypeError, match="str"):
        backward("v")
    with pytest.raises(TypeError, match="float"):
        backward([v * 2, 3.0])
    with pytest.raises(TypeError, match="str"):
        grad(v * 2, "x")
    with pytest.raises(TypeError, match="float"):
        grad(v * 2, [v, 3.0])
    with pytest.raises(TypeError, match="int"):
        (v * 2).backward(inputs=[1])
    assert v.grad is None


def test_set_grad_enabled_needs_a_bool(differ):
    def prog(B, rec):
        rec.raises("str", lambda: B.set_grad_enabled("yes"))
        rec.raises("None", lambda: B.set_grad_enabled(None))

    differ.check(prog)


@pytest.mark.parametrize("flag", ["yes", 1, None], ids=repr)
def test_requires_grad_needs_a_bool(flag):
    """torch's three ways of asking, three messages (the constructor's names torch's
    own ``tensor()``; the engine's says ``Value()``)."""
    import torch

    def message(f):
        with pytest.raises((TypeError, RuntimeError)) as info:
            f()
        return info.type, str(info.value)

    def assign(t):
        t.requires_grad = flag

    t_type, t_msg = message(lambda: torch.tensor(2.0, requires_grad=flag))
    assert message(lambda: Value(2.0, requires_grad=flag)) == (t_type, t_msg.replace("tensor()", "Value()"))
    assert message(lambda: Value(2.0).requires_grad_(flag)) == message(lambda: torch.tensor(2.0).requires_grad_(flag))
    assert message(lambda: assign(Value(2.0))) == message(lambda: assign(torch.tensor(2.0)))


NUMPY = [np.float64(2.5), np.float32(2.5), np.int64(-3), np.int32(4), np.int8(2), np.float16(0.5)]


@pytest.mark.parametrize("n", NUMPY, ids=lambda n: type(n).__name__)
@pytest.mark.parametrize("op", OPS, ids=lambda o: o.__name__)
def test_numpy_scalars_on_either_side_give_values(differ, n, op):
    torch = differ.torch
    for side in ("right", "left"):
        v = Value(1.5, requires_grad=True)
        t = torch.tensor(1.5, dtype=torch.float64, requires_grad=True)
        r, tr = (op(v, n), op(t, n.item())) if side == "right" else (op(n, v), op(n.item(), t))
        assert type(r) is Value
        assert r.requires_grad and r.grad_fn is not None and r.grad_fn.name() == type(tr.grad_fn).__name__
        assert type(r.data) in (int, float)
        assert differ.same_float(r.data, tr.item(), rel=1e-15)
        r.backward()
        tr.backward()
        assert differ.same_float(v.grad.item(), t.grad.item(), rel=1e-15)


@pytest.mark.parametrize("n", NUMPY, ids=lambda n: type(n).__name__)
def test_numpy_scalars_as_data(n):
    v = Value(n)
    assert type(v.data) in (int, float) and v.data == n.item()
    assert type(v.data) is (float if isinstance(n, np.floating) else int)


def test_other_real_numbers_are_converted():
    v = Value(fractions.Fraction(1, 4), requires_grad=True)
    assert v.data == 0.25 and type(v.data) is float
    assert (v * fractions.Fraction(1, 2)).data == 0.125


def test_comparisons_return_bool():
    a, b = Value(1.0, requires_grad=True), Value(2.0)
    assert (a < b) is True and (a >= b) is False and (a <= 1) is True and (a < 2) is True


def test_comparisons_with_numpy_scalars_return_bool():
    a = Value(1.0, requires_grad=True)
    assert type(a < np.float64(3.0)) is bool and type(a >= np.int64(3)) is bool


def test_int_values_never_raise_python_errors():
    """Int data (allowed without requires_grad) follows IEEE too: no ZeroDivisionError."""
    assert math.isinf((Value(1) / 0).data) and math.isinf((1 / Value(0)).data)
    assert math.isnan((Value(0) / Value(0)).data)
    assert math.isinf((Value(0) ** -1).data)
    assert math.isinf((Value(10) ** 400.0).data)
    assert (Value(2) ** -1).data == 0.5
