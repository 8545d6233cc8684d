"""Custom differentiable operations: ``Function``, its ``ctx``, ``once_differentiable``.

Subclass ``Function`` with two staticmethods, ``forward(ctx, *args)`` and
``backward(ctx, *grad_outputs)``, and call ``apply``.  ``forward`` runs with grad mode
off, so the engine sees the whole function as one node, named ``<ClassName>Backward``.
``backward`` is called with the gradients of the outputs and returns one gradient per
``forward`` argument.  It runs with grad mode off, except under ``create_graph=True``
where its operations are recorded: then the function supports double backward
exactly when its backward is written with differentiable operations on Values.

>>> from engine import Function, Value, grad
>>> class Cube(Function):
...     @staticmethod
...     def forward(ctx, x):
...         ctx.save_for_backward(x)
...         return x ** 3
...     @staticmethod
...     def backward(ctx, g):
...         x, = ctx.saved_tensors
...         return g * 3 * x ** 2
>>> x = Value(2.0, requires_grad=True)
>>> y = Cube.apply(x); y
Value(8.0, grad_fn=<CubeBackward>)
>>> dy, = grad(y, x, create_graph=True); dy
Value(12.0, grad_fn=<MulBackward0>)
>>> grad(dy, x)
(Value(12.0),)
"""

from __future__ import annotations

import functools
from typing import Any, Callable

from .anomaly import anomaly_mode, record_creation
from .grad_mode import set_enabled as set_grad_enabled, state as _grad_mode
from .value import (FREED_MESSAGE, Node, NodeExtras, OutputNr, Value, make_value, new_node, saved_value,
                    state_changed)

__all__ = ["Function", "once_differentiable", "BackwardFunction"]


class BackwardFunction(Node):
    """The node of one call of a custom Function; it is also the ``ctx`` both
    staticmethods receive, so attributes set on ``ctx`` live as long as the graph."""

    _custom = True
    _function: type  # the Function subclass, set on each generated subclass

    @property
    def _inputs(self) -> tuple:
        return self._edges

    # -- what forward may call ------------------------------------------------------------
    def save_for_backward(self, *values) -> None:
        """Save Values (or None) for backward; freed by a backward without retain_graph."""
        for i, v in enumerate(values):
            if v is not None and v.__class__ is not Value:
                raise TypeError(
                    f"save_for_backward can only save values, but argument {i} is of type {type(v).__name__}"
                )
        self._to_save = values

    def mark_non_differentiable(self, *outputs) -> None:
        """These outputs will not require grad; their gradient arrives as zero.
        (Kept as the objects themselves, only while ``apply`` runs: an ``id`` could be
        reused by another object, and holding outputs longer would make a cycle.)"""
        self._non_differentiable = outputs

    def set_materialize_grads(self, value: bool) -> None:
        """With False, an output that got no gradient is passed to backward as None, not 0."""
        self._materialize = bool(value)

    @property
    def saved_tensors(self) -> tuple:
        """The saved Values (wired into the graph, so double backward flows through them)."""
        if self._freed:
            raise RuntimeError(FREED_MESSAGE)
        return tuple(self._unpack(s) for s in self._saved)

    def _unpack(self, saved):
        """A saved entry is the object itself, or ``(_OUTPUT, nr, data, differentiable)``
        for one of this node's outputs: rebuilt on the node when asked for, because
        holding the output would make a reference cycle (node -> output -> node)."""
        if saved.__class__ is not tuple:
            return saved
        _, nr, data, differentiable = saved
        if not differentiable:
            return make_value(data)
        return saved_value(data, self if self._n_outputs == 1 else OutputNr(self, nr))

    # -- what the walk calls ---------------------------------------------------------------
    def _run(self, g, graph: bool, keep_graph: bool):
        if g is None:  # no gradient reached any output: torch still calls backward
            g = [None] * self._n_outputs if self._n_outputs > 1 else None
        grads = g if self._n_outputs > 1 else [g]
        args = []
        for gi, is_value in zip(grads, self._output_is_value):
            if gi is None:
                # an output that is not a Value has no gradient at all: None, as in torch
                args.append(make_value(0.0) if self._materialize and is_value else None)
            else:
                args.append(gi if gi.__class__ is Value else make_value(gi))
        try:
            result = self._function.backward(self, *args)
        finally:
            if not keep_graph and self._saved:
                self._freed = True
        return self._route(result, graph)

    def _route(self, result, graph: bool) -> list:
        """Check backward's result, one gradient per forward argument; keep the Values'."""
        if not isinstance(result, tuple):
            result = (result,)
        n = len(self.needs_input_grad)
        if len(result) < n or any(r is not None for r in result[n:]):
            raise RuntimeError(
                f"function {self.name()} returned an incorrect number of gradients "
                f"(expected {n}, got {len(result)})"
            )
        out = []
        for i, (r, is_value) in enumerate(zip(result, self._arg_is_value)):
            if r is not None and not is_value:
                raise RuntimeError(
                    f"function {self.name()} returned a gradient different than None at position "
                    f"{i + 1}, but the corresponding forward input was not a Value"
                )
            if r is not None and r.__class__ is not Value:
                raise RuntimeError(f"expected Value or None (got {type(r).__name__})")
            if is_value:
                out.append(r if r is None or graph else r._data)
        return out


class Function:
    """Base class of custom differentiable operations (torch.autograd.Function).

    Override ``forward(ctx, *args, **kwargs)`` and ``backward(ctx, *grad_outputs)``
    as staticmethods, then call ``YourFunction.apply(*args)``.  In ``forward``:
    ``ctx.save_for_backward(*values)``, ``ctx.mark_non_differentiable(*outputs)``,
    ``ctx.set_materialize_grads(False)``, and any attribute you like.  In
    ``backward``: ``ctx.saved_tensors`` and ``ctx.needs_input_grad``.
    """

    _backward_cls: type

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._backward_cls = type(f"{cls.__name__}Backward", (BackwardFunction,), {"_function": cls})

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("You must implement the forward function for custom autograd.Function.")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError(
            "You must implement either the backward or vjp method for your custom "
            "autograd.Function to use it with backward mode AD."
        )

    @classmethod
    def apply(cls, *args, **kwargs) -> Any:
        ctx = new_node(cls._backward_cls, extras=NodeExtras())  # extras: keeps custom nodes off the fast walk
        ctx._edges = ()
        ctx._to_save = ()
        ctx._saved = ()
        ctx._freed = False
        ctx._materialize = True
        ctx._non_differentiable = ()
        ctx._arg_is_value = tuple(a.__class__ is Value for a in args)
        record = _grad_mode.enabled and any(a.__class__ is Value and a._requires_grad for a in args)
        ctx.needs_input_grad = tuple(a.__class__ is Value and a._requires_grad for a in args)

        previous = set_grad_enabled(False)
        try:
            raw = cls.forward(ctx, *args, **kwargs)
        finally:
            set_grad_enabled(previous)

        single = not isinstance(raw, tuple)
        raw_outputs = (raw,) if single else raw
        ctx._n_outputs = len(raw_outputs)
        ctx._output_is_value = tuple(o.__class__ is Value for o in raw_outputs)
        outputs = []
        for i, o in enumerate(raw_outputs):
            if o.__class__ is not Value:
                outputs.append(o)
                continue
            # The Value forward returned is the output itself (whatever forward kept of
            # it), as in torch; an input returned as it is gets a new Value.
            v = make_value(o._data) if any(o is a for a in args) else o
            if record and _differentiable(ctx, o):
                v._node = ctx if ctx._n_outputs == 1 else OutputNr(ctx, i)
                v._requires_grad = True
            else:
                v._node = None
                v._requires_grad = False
            if v is o:
                state_changed()  # o may be a Value that existed before forward
            outputs.append(v)
        if record:
            ctx._edges = tuple((a._node or a) if a._requires_grad else None for a in args if a.__class__ is Value)
            ctx._saved = tuple(_saved_entry(ctx, s, raw_outputs) for s in ctx._to_save)
            if anomaly_mode.enabled:
                record_creation(ctx)
        else:
            ctx._saved = ctx._to_save
        del ctx._to_save
        ctx._non_differentiable = ()
        return outputs[0] if single else tuple(outputs)


def _differentiable(ctx, o) -> bool:
    """Whether output ``o`` gets a gradient: not marked, and not an int (as torch's
    integer outputs never require grad)."""
    return o._data.__class__ is float and not any(o is m for m in ctx._non_differentiable)


_OUTPUT = object()


def _saved_entry(ctx, s, raw_outputs):
    """What ``ctx`` keeps for saved value ``s``: an output is kept as its number and
    output index (see ``BackwardFunction._unpack``), anything else as itself."""
    for i, o in enumerate(raw_outputs):
        if o is s:
            return (_OUTPUT, i, s._data, _differentiable(ctx, o))
    return s


class Error(Node):
    """Stands for the backward of a ``once_differentiable`` function in a graph."""

    __slots__ = ("_edges",)

    def name(self) -> str:
        return "torch::autograd::Error"  # what torch's name() says, word for word

    @property
    def _inputs(self) -> tuple:
        return self._edges

    @staticmethod
    def vjp(g, _a, _b):
        raise RuntimeError("trying to differentiate twice a function that was marked with @once_differentiable")


def once_differentiable(backward: Callable) -> Callable:
    """Decorate a ``backward`` that cannot itself be differentiated.

    It runs under ``no_grad``; if someone later tries to differentiate through its
    results, they get a clear error instead of a silently wrong zero.
    """

    @functools.wraps(backward)
    def wrapper(ctx, *grad_outputs):
        previous = set_grad_enabled(False)
        try:
            result = backward(ctx, *grad_outputs)
        finally:
            set_grad_enabled(previous)
        if not previous:
            return result
        if not any(g is not None and g.__class__ is Value and g._requires_grad for g in grad_outputs):
            return result
        # Wrap each result in an "Error" node whose input is a fresh leaf (torch's
        # fake_requires_grad): differentiating through it raises, and nothing
        # upstream is reachable through it.
        single = not isinstance(result, tuple)
        wrapped = []
        for r in (result,) if single else result:
            if r.__class__ is Value:
                err = new_node(Error, extras=NodeExtras())  # its edges are in _edges: keep it off the fast walk
                err._edges = (Value(float(r._data), requires_grad=True),)
                v = make_value(r._data)
                v._node = err
                v._requires_grad = True
                r = v
            wrapped.append(r)
        return wrapped[0] if single else tuple(wrapped)

    return wrapper
