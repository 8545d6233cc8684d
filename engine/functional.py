"""Functional transforms: derivatives of a whole function (torch.autograd.functional).

Each transform takes a function ``func`` and the point ``inputs`` (a Value or a
tuple of Values) and returns plain numbers-as-Values, detached from any graph
unless ``create_graph=True``:

- ``jacobian(func, inputs)``: d(output)/d(input); a tuple per input, a tuple per output.
- ``hessian(func, inputs)``: second derivatives of a single-output ``func``.
- ``vjp(func, inputs, v)``: ``(func(inputs), v · J)``, one backward pass.
- ``jvp(func, inputs, v)``: ``(func(inputs), J · v)``, by the double-backward trick.
- ``hvp(func, inputs, v)``: ``(func(inputs), H · v)``.

Like torch, the transforms never touch the Values you pass: ``func`` receives fresh
copies that require grad, so ``.grad`` of your inputs is left alone.

>>> from engine import Value
>>> from engine.functional import jacobian, hessian
>>> f = lambda x: x ** 3
>>> jacobian(f, Value(2.0)), hessian(f, Value(2.0))
(Value(12.0), Value(12.0))
"""

from __future__ import annotations

import numbers
from typing import Callable, Optional, Union

from .autograd import grad
from .grad_mode import enable_grad, is_grad_enabled, set_grad_enabled
from .value import Value

__all__ = ["jacobian", "hessian", "vjp", "jvp", "hvp"]

Inputs = Union[Value, tuple]


# ---------------------------------------------------------------------------------
# The transforms
# ---------------------------------------------------------------------------------

def vjp(func: Callable, inputs: Inputs, v=None, create_graph: bool = False):
    """Return ``(func(inputs), v · J)``: the vector-Jacobian product, one backward pass.

    ``v`` has one entry per output of ``func`` (a number or a Value); it may be
    omitted when ``func`` returns a single Value.  The result has the structure of
    ``inputs``.

    >>> from engine import Value
    >>> vjp(lambda a, b: a * a * b, (Value(2.0), Value(3.0)))
    (Value(12.0), (Value(12.0), Value(4.0)))
    """
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "vjp")
        inputs = _grad_preprocess(inputs, create_graph, need_graph=True)
        is_outputs_tuple, outputs = _as_tuple(func(*inputs), "outputs of the user-provided function", "vjp")
        if v is not None:
            v = _grad_preprocess(_as_vector(v, "vjp"), create_graph, need_graph=False)
            _validate_v(v, outputs, is_outputs_tuple)
        elif len(outputs) != 1:
            raise RuntimeError(
                "The vector v can only be None if the user-provided function returns "
                "a single Value with a single element."
            )
    with set_grad_enabled(True if create_graph else is_grad_enabled()):
        result = _fill_in_zeros(_autograd_grad(outputs, inputs, v, create_graph))
    return (_tuple_postprocess(_grad_postprocess(outputs, create_graph), is_outputs_tuple),
            _tuple_postprocess(_grad_postprocess(result, create_graph), is_inputs_tuple))


def jvp(func: Callable, inputs: Inputs, v=None, create_graph: bool = False):
    """Return ``(func(inputs), J · v)``: the Jacobian-vector product.

    Computed without forward mode by the *double-backward trick*: ``g(u) = u · J``
    is linear in a dummy output gradient ``u``, so differentiating ``g`` with
    respect to ``u`` in the direction ``v`` gives ``J · v``.  ``v`` has one entry
    per input; it may be omitted when there is a single input.

    >>> from engine import Value
    >>> jvp(lambda a, b: a * a * b, (Value(2.0), Value(3.0)), (1.0, 0.0))
    (Value(12.0), Value(12.0))
    """
    with enable_grad():
        _, inputs, v = _inputs_and_direction(inputs, v, create_graph, "jvp")
        is_outputs_tuple, outputs = _as_tuple(func(*inputs), "outputs of the user-provided function", "jvp")
        dummy = tuple(Value(0.0, requires_grad=True) for _ in outputs)  # u
        grad_inputs = _autograd_grad(outputs, inputs, dummy, create_graph=True)  # u · J
    with set_grad_enabled(True if create_graph else is_grad_enabled()):
        result = _fill_in_zeros(_autograd_grad(grad_inputs, dummy, v, create_graph))
    return (_tuple_postprocess(_grad_postprocess(outputs, create_graph), is_outputs_tuple),
            _tuple_postprocess(_grad_postprocess(result, create_graph), is_outputs_tuple))


def jacobian(func: Callable, inputs: Inputs, create_graph: bool = False):
    """Return the Jacobian of ``func`` at ``inputs``: d(output i)/d(input j).

    With one input and one output it is a single Value; with a tuple of inputs, a
    tuple over the inputs; with a tuple of outputs, a tuple over the outputs
    (of tuples over the inputs when both are tuples).  An output that does not
    depend on an input gives 0.

    >>> from engine import Value
    >>> jacobian(lambda a, b: a * a * b, (Value(2.0), Value(3.0)))
    (Value(12.0), Value(4.0))
    """
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jacobian")
        inputs = _grad_preprocess(inputs, create_graph, need_graph=True)
        is_outputs_tuple, outputs = _as_tuple(func(*inputs), "outputs of the user-provided function", "jacobian")
        rows = tuple(
            _fill_in_zeros(_autograd_grad((out,), inputs, None, create_graph, retain_graph=True))
            for out in outputs
        )
        rows = tuple(_grad_postprocess(row, create_graph) for row in rows)
        return _tuple_postprocess(rows, (is_outputs_tuple, is_inputs_tuple))


def hessian(func: Callable, inputs: Inputs, create_graph: bool = False):
    """Return the Hessian of a single-output ``func``: d²f/d(input i)d(input j).

    With a tuple of inputs the result is a tuple of tuples, ``H[i][j]``.

    >>> from engine import Value
    >>> hessian(lambda a, b: a * a * b, (Value(2.0), Value(3.0)))
    ((Value(6.0), Value(4.0)), (Value(4.0), Value(0.0)))
    """
    is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "hessian")

    def single_output(*inp):
        out = func(*inp)
        is_out_tuple, _ = _as_tuple(out, "outputs of the user-provided function", "hessian")
        if is_out_tuple:
            raise RuntimeError("The function given to hessian should return a single Value")
        return out

    def jac_func(*inp):
        return jacobian(single_output, inp, create_graph=True)

    result = jacobian(jac_func, inputs, create_graph=create_graph)
    return _tuple_postprocess(result, (is_inputs_tuple, is_inputs_tuple))


def hvp(func: Callable, inputs: Inputs, v=None, create_graph: bool = False):
    """Return ``(func(inputs), H · v)`` for a single-output ``func``: the Hessian-vector product.

    Like torch, computed with the double-backward trick on the gradient.  ``v``
    has one entry per input; it may be omitted when there is a single input.

    >>> from engine import Value
    >>> hvp(lambda a, b: a * a * b, (Value(2.0), Value(3.0)), (1.0, 0.0))
    (Value(12.0), (Value(6.0), Value(4.0)))
    """
    with enable_grad():
        is_inputs_tuple, inputs, v = _inputs_and_direction(inputs, v, create_graph, "hvp")
        is_outputs_tuple, outputs = _as_tuple(func(*inputs), "outputs of the user-provided function", "hvp")
        if is_outputs_tuple:
            raise RuntimeError("The function given to hvp should return a single Value")
        jac = _autograd_grad(outputs, inputs, None, create_graph=True)
        dummy = tuple(Value(0.0, requires_grad=True) for _ in inputs)
        double_back = _autograd_grad(jac, inputs, dummy, create_graph=True)
    with set_grad_enabled(True if create_graph else is_grad_enabled()):
        result = _fill_in_zeros(_autograd_grad(double_back, dummy, v, create_graph))
    return (_tuple_postprocess(_grad_postprocess(outputs, create_graph), is_outputs_tuple),
            _tuple_postprocess(_grad_postprocess(result, create_graph), is_inputs_tuple))


# ---------------------------------------------------------------------------------
# Helpers (torch's, for scalars)
# ---------------------------------------------------------------------------------

def _inputs_and_direction(inputs, v, create_graph: bool, fn_name: str) -> tuple[bool, tuple, Optional[tuple]]:
    """The inputs as differentiable copies, and the direction ``v`` (one entry per
    input; may be omitted only for a single input) checked against them."""
    is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", fn_name)
    inputs = _grad_preprocess(inputs, create_graph, need_graph=True)
    if v is not None:
        v = _grad_preprocess(_as_vector(v, fn_name), create_graph, need_graph=False)
        _validate_v(v, inputs, is_inputs_tuple)
    elif len(inputs) != 1:
        raise RuntimeError(
            "The vector v can only be None if the input to the user-provided function "
            "is a single Value with a single element."
        )
    return is_inputs_tuple, inputs, v


def _as_tuple(x, arg_name: str, fn_name: str) -> tuple[bool, tuple]:
    """``(was_tuple, tuple_of_values)``, or torch's TypeError naming the bad element."""
    is_tuple = isinstance(x, tuple)
    items: tuple = x if is_tuple else (x,)
    for i, el in enumerate(items):
        if el.__class__ is not Value:
            where = f"value at index {i}" if is_tuple else f"given {arg_name}"
            raise TypeError(
                f"The {arg_name} given to {fn_name} must be either a Value or a tuple of Values "
                f"but the {where} has type {type(el)}."
            )
    return is_tuple, items


def _as_vector(v, fn_name: str) -> tuple:
    """``v`` as a tuple of Values: numbers are accepted and wrapped."""
    items = v if isinstance(v, (tuple, list)) else (v,)
    out = []
    for i, el in enumerate(items):
        if el.__class__ is not Value:
            if not isinstance(el, numbers.Real):
                raise TypeError(
                    f"The v given to {fn_name} must be either a Value, a number or a tuple of them "
                    f"but the value at index {i} has type {type(el)}."
                )
            el = Value(float(el))
        out.append(el)
    return tuple(out)


def _validate_v(v: tuple, other: tuple, is_other_tuple: bool) -> None:
    if len(other) != len(v):
        if is_other_tuple:
            raise RuntimeError(f"v is a tuple of invalid length: should be {len(other)} but got {len(v)}.")
        raise RuntimeError("The given v should contain a single Value.")


def _grad_preprocess(inputs: tuple, create_graph: bool, need_graph: bool) -> tuple:
    """Fresh Values for ``func`` to use: a differentiable copy when the caller wants
    gradients to flow back (``create_graph``), a detached one otherwise."""
    res = []
    for x in inputs:
        if create_graph and x.requires_grad:
            res.append(x - 0.0)  # an exact copy, even of -0.0; saves nothing, so is never freed
        else:
            res.append(x.detach().requires_grad_(need_graph))
    return tuple(res)


def _autograd_grad(outputs: tuple, inputs: tuple, grad_outputs: Optional[tuple], create_graph: bool,
                   retain_graph: Optional[bool] = None) -> tuple:
    """``engine.grad`` that skips outputs which are None or need no grad (None results if none is left)."""
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    pairs = [(o, g) for o, g in zip(outputs, grad_outputs) if o is not None and o.requires_grad]
    if not pairs:
        return (None,) * len(inputs)
    return grad([o for o, _ in pairs], list(inputs), [g for _, g in pairs], retain_graph=retain_graph,
                create_graph=create_graph, allow_unused=True)


def _fill_in_zeros(grads: tuple) -> tuple:
    """An input the output does not depend on gets a zero (torch's default, non-strict)."""
    return tuple(Value(0.0) if g is None else g for g in grads)


def _grad_postprocess(values: tuple, create_graph: bool) -> tuple:
    if values and isinstance(values[0], tuple):
        return tuple(_grad_postprocess(v, create_graph) for v in values)
    return values if create_graph else tuple(v.detach() for v in values)


def _tuple_postprocess(res: tuple, to_unpack):
    if isinstance(to_unpack, tuple):
        if not to_unpack[1]:
            res = tuple(el[0] for el in res)
        if not to_unpack[0]:
            res = res[0]
    elif not to_unpack:
        res = res[0]
    return res
