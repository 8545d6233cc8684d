"""The op table: each op's forward and its derivative, side by side.

Every op is written as one block:

1. the forward, a Value method: compute the number, then record one node with
   ``_unary`` or ``_binary`` (``value.py``), saving what the derivative needs
   (``+``, ``*`` and ``tanh``, the bulk of every network, write that call out);
2. the node class, named as torch names it (``MulBackward0``), whose ``vjp(g, a, b)``
   is the derivative: given the gradient ``g`` of the output and the two saved slots,
   one gradient per input.  ``_sources`` says where each saved slot comes from (an
   input's index, ``RESULT`` for the output, ``None`` for a number), so that a
   create_graph backward can reattach the saved Values to the graph; ``_saved_names``
   are torch's names for them (``grad_fn._saved_self``);
3. the line that makes the forward a method of Value.

The same ``vjp`` serves both passes: with floats for an ordinary backward, with
Values under ``create_graph=True``, so that the backward is itself recorded.  The
dual helpers (``_div``, ``_cos`` ...) take either.

>>> from engine import Value
>>> a = Value(2.0, requires_grad=True)
>>> z = a * 3
>>> z.grad_fn.vjp(1.0, 2.0, 3)      # dz/da = b; the number 3 needs no gradient
(3.0, None)
"""

from __future__ import annotations

from . import floats as F
from .anomaly import anomaly_mode, record_creation
from .grad_mode import all_threads as _all_threads, state as _grad_mode
from .value import (RESULT, Node, Value, _binary, _FREED, FREED_MESSAGE, _NO_GRAPH, _new_value,
                    _next_seq, _number, _unary, make_value, saved_value)

__all__: list = []  # nothing to import from here: the ops are Value's methods


# ---------------------------------------------------------------------------------
# Dual helpers: the derivative formulas call these with floats (ordinary backward) or
# Values (create_graph); floats get IEEE arithmetic, Values record the op.
# ---------------------------------------------------------------------------------

def _div(a, b):
    if a.__class__ is Value or b.__class__ is Value:
        return a / b
    return F.div(a, b)


def _pow(a, b):
    if a.__class__ is Value or b.__class__ is Value:
        return a ** b
    return F.pow(a, b)


def _pow_scalar(a, n):
    """``a ** n`` for a number ``n``, computed as torch does (sqrt for 0.5, ...)."""
    if a.__class__ is Value:
        return a ** n
    return F.pow_scalar(a, n)


def _math(fname: str):
    f = getattr(F, fname)

    def dual(x):
        return getattr(x, fname)() if x.__class__ is Value else f(x)

    return dual


_exp, _log, _sin, _cos, _sinh, _cosh = map(_math, ("exp", "log", "sin", "cos", "sinh", "cosh"))


def _data(v):
    return v._data if v.__class__ is Value else v


def _sgn(x):
    if x.__class__ is Value:
        return _unary(SgnBackward0, F.sign(x._data), x, x._data)
    return F.sign(x)


def _where(cond: bool, x):
    """torch's ``where(cond, zeros, x)``: 0 where ``cond`` holds, else ``x``.  On a
    Value with a graph it is a ``WhereBackward0`` node either way, as in torch."""
    if x.__class__ is Value:
        if x._requires_grad:
            return _binary(WhereBackward0, 0.0 if cond else x._data, _NO_GRAPH, x, cond, None)
        return make_value(0.0 if cond else x._data)
    return 0.0 if cond else x


def _mul_scalar(x, c):
    """``x * c`` with ``c`` a number, as torch's formulas write it (``mul.Scalar``:
    ``MulBackward1``, where ``Value * number`` is ``MulBackward0`` as ``tensor * 2.0`` is)."""
    if x.__class__ is Value:
        if x._requires_grad:
            return _unary(MulBackward1, x._data * c, x, None, c)
        return make_value(x._data * c)
    return x * c


def _add_scalar(x, c):
    """``x + c`` with ``c`` a number, as torch's formulas write it (``AddBackward1``)."""
    if x.__class__ is Value:
        if x._requires_grad:
            return _unary(AddBackward1, x._data + c, x, None)
        return make_value(x._data + c)
    return x + c


def _sub_scalar(x, c):
    """``x - c`` with ``c`` a number, as torch's formulas write it (``SubBackward1``)."""
    if x.__class__ is Value:
        if x._requires_grad:
            return _unary(SubBackward1, x._data - c, x, None)
        return make_value(x._data - c)
    return x - c


# Three derivatives torch computes as ops of their own (tanh_backward,
# sigmoid_backward, threshold_backward): on floats, just the number; under
# create_graph, one node each, with its own derivative, named as torch names it.

def _fused(cls, f, g, z):
    """``f(g, z)`` as one ``cls`` node (at least one of ``g``, ``z`` is a Value)."""
    gv = g if g.__class__ is Value else make_value(g)
    zv = z if z.__class__ is Value else make_value(z)
    return _binary(cls, f(gv._data, zv._data), gv, zv, gv._data, zv._data)


def _tanh_backward(g, z):
    """torch's ``tanh_backward(g, z) = g * (1 - z * z)``."""
    if g.__class__ is not Value and z.__class__ is not Value:
        return g * (1 - z * z)
    return _fused(TanhBackwardBackward0, _tanh_backward, g, z)


def _sigmoid_backward(g, z):
    """torch's ``sigmoid_backward(g, z) = g * (1 - z) * z``."""
    if g.__class__ is not Value and z.__class__ is not Value:
        return g * (1 - z) * z
    return _fused(SigmoidBackwardBackward0, _sigmoid_backward, g, z)


def _threshold(g, r):
    """torch's ``threshold_backward(g, r, 0)``: ``g`` where ``r > 0``, else 0
    (``r`` = nan passes ``g`` through, as in torch)."""
    if g.__class__ is not Value and r.__class__ is not Value:
        return 0.0 if r <= 0 else g
    return _fused(ThresholdBackwardBackward0, _threshold, g, r)


# ---------------------------------------------------------------------------------
# a + b
# ---------------------------------------------------------------------------------

def __add__(self, other):
    if other.__class__ is Value:
        b = other._data
        requires_grad = self._requires_grad or other._requires_grad
    else:
        b = _number(other)
        if b is NotImplemented:
            return NotImplemented
        other = None
        requires_grad = self._requires_grad
    # What _binary(AddBackward0, self._data + b, self, other, None, None) does, written
    # out: +, * and tanh make almost every node of a network, and the call is a sixth
    # of their cost.  tests/test_core_construction.py checks that every slot is set.
    out = _new_value(Value)
    out._data = self._data + b
    out._grad = None
    out.name = None
    out._leaf_hooks = None
    if requires_grad and (_all_threads.enabled or _grad_mode.enabled):
        node = AddBackward0()
        node._input0 = (self._node or self) if self._requires_grad else None
        node._input1 = (other._node or other) if other is not None and other._requires_grad else None
        node._creation_nr = _next_seq()
        node._saved0 = None
        node._saved1 = None
        node._extras = None
        node._grad_in = None
        if anomaly_mode.enabled:
            record_creation(node)
        out._node = node
        out._requires_grad = True
    else:
        out._node = None
        out._requires_grad = False
    return out


class AddBackward0(Node):
    """z = a + b"""
    __slots__ = ()
    _saved_alpha = 1  # torch saves the alpha of add(a, b, alpha=1)
    _arity = 2
    vjp = staticmethod(lambda g, _a, _b: (g, g))


Value.__add__ = Value.__radd__ = __add__


# ---------------------------------------------------------------------------------
# a - b,  c - a
# ---------------------------------------------------------------------------------

def __sub__(self, other):
    if other.__class__ is Value:
        return _binary(SubBackward0, self._data - other._data, self, other, None, None)
    b = _number(other)
    if b is NotImplemented:
        return NotImplemented
    return _binary(SubBackward0, self._data - b, self, None, None, None)


def __rsub__(self, other):
    c = _number(other)
    if c is NotImplemented:
        return NotImplemented
    return _unary(RsubBackward1, c - self._data, self, None)


class SubBackward0(Node):
    """z = a - b"""
    __slots__ = ()
    _saved_alpha = 1  # torch saves the alpha of add(a, b, alpha=1)
    _arity = 2
    vjp = staticmethod(lambda g, _a, _b: (g, -g))


class RsubBackward1(Node):
    """z = c - a   (c a number)"""
    __slots__ = ()
    _saved_alpha = 1  # torch saves the alpha of add(a, b, alpha=1)
    vjp = staticmethod(lambda g, _a, _b: (-g,))


Value.__sub__, Value.__rsub__ = __sub__, __rsub__


# ---------------------------------------------------------------------------------
# -a
# ---------------------------------------------------------------------------------

def __neg__(self):
    return _unary(NegBackward0, -self._data, self, None)


def __pos__(self):
    return self


class NegBackward0(Node):
    """z = -a"""
    __slots__ = ()
    vjp = staticmethod(lambda g, _a, _b: (-g,))


Value.__neg__ = Value.neg = __neg__
Value.__pos__ = __pos__


# ---------------------------------------------------------------------------------
# a * b
# ---------------------------------------------------------------------------------

def __mul__(self, other):
    a = self._data
    if other.__class__ is Value:
        b = other._data
        requires_grad = self._requires_grad or other._requires_grad
    else:
        b = _number(other)
        if b is NotImplemented:
            return NotImplemented
        other = None
        requires_grad = self._requires_grad
    # _binary(MulBackward0, a * b, self, other, a, b), written out as in __add__
    out = _new_value(Value)
    out._data = a * b
    out._grad = None
    out.name = None
    out._leaf_hooks = None
    if requires_grad and (_all_threads.enabled or _grad_mode.enabled):
        node = MulBackward0()
        node._input0 = (self._node or self) if self._requires_grad else None
        node._input1 = (other._node or other) if other is not None and other._requires_grad else None
        node._creation_nr = _next_seq()
        node._saved0 = a
        node._saved1 = b
        node._extras = None
        node._grad_in = None
        if anomaly_mode.enabled:
            record_creation(node)
        out._node = node
        out._requires_grad = True
    else:
        out._node = None
        out._requires_grad = False
    return out


class MulBackward0(Node):
    """z = a * b"""
    __slots__ = ()
    _arity = 2
    _sources, _saved_names = (0, 1), ("self", "other")

    def vjp(self, g, a, b):
        """dz/da = b, dz/db = a; None for an input that needs no gradient (a number
        or a constant), as torch computes none: under create_graph that is a node fewer."""
        return g * b if self._input0 is not None else None, g * a if self._input1 is not None else None


Value.__mul__ = Value.__rmul__ = __mul__


# ---------------------------------------------------------------------------------
# a / b,  c / a
# ---------------------------------------------------------------------------------

def __truediv__(self, other):
    a = self._data
    if other.__class__ is Value:
        b = other._data
        return _binary(DivBackward0, F.div(a, b), self, other, a, b)
    b = _number(other)
    if b is NotImplemented:
        return NotImplemented
    return _binary(DivBackward0, F.div(a, b), self, None, a, b)


def __rtruediv__(self, other):
    c = _number(other)
    if c is NotImplemented:
        return NotImplemented
    r = F.div(1.0, self._data)
    return _unary(ReciprocalBackward0, r, self, r) * c


class DivBackward0(Node):
    """z = a / b"""
    __slots__ = ()
    _arity = 2
    _sources, _saved_names = (0, 1), ("self", "other")

    def vjp(self, g, a, b):
        """dz/da = 1/b, dz/db = -a/b^2; None for an input that needs no gradient."""
        q = _div(_div(a, b), b) if self._input1 is not None else None  # first: torch's order
        return _div(g, b) if self._input0 is not None else None, None if q is None else -g * q


class ReciprocalBackward0(Node):
    """z = 1 / a   (``c / a`` is built as ``reciprocal(a) * c``, as in torch)"""
    __slots__ = ()
    _sources, _saved_names = (RESULT,), ("result",)
    vjp = staticmethod(lambda g, z, _: (-g * (z * z),))


Value.__truediv__, Value.__rtruediv__ = __truediv__, __rtruediv__


# ---------------------------------------------------------------------------------
# a ** n,  a ** b,  c ** a
# ---------------------------------------------------------------------------------

def __pow__(self, other):
    a = self._data
    if other.__class__ is Value:
        b = other._data
        z = F.pow(a, b)
        return _binary(PowBackward1, z, self, other, a, (b, z))
    n = _number(other)
    if n is NotImplemented:
        return NotImplemented
    return _unary(PowBackward0, F.pow_scalar(a, n), self, a, n)


def __rpow__(self, other):
    c = _number(other)
    if c is NotImplemented:
        return NotImplemented
    z = F.pow(c, self._data)
    return _unary(PowBackward2, z, self, self._data, (c, z))


class PowBackward0(Node):
    """z = a ** n   (n a number)"""
    __slots__ = ()
    _sources, _saved_names = (0, None), ("self", "exponent")
    vjp = staticmethod(lambda g, a, n: (0.0 if n == 0 else g * _mul_scalar(_pow_scalar(a, n - 1), n),))


class PowBackward1(Node):
    """z = a ** b   (both Values).  Saves ``a`` in slot 0, ``(b, z)`` in slot 1: the
    derivative for ``b`` is ``z * log(a)``, with the saved result ``z`` attached to this
    very node, so a double backward runs it again, as torch's does."""
    __slots__ = ()
    _arity = 2
    _sources, _saved_names = (0, 1), ("self", "exponent", "result")

    @staticmethod
    def vjp(g, a, b_z):
        b, z = b_z
        return (_where(_data(b) == 0, g * (b * _pow(a, _sub_scalar(b, 1)))),
                g * _where(_data(a) == 0 and _data(b) >= 0, z * _log(a)))

    def unpack(self, for_graph: bool = False) -> tuple:
        s0 = self._saved0
        if s0 is _FREED:
            raise RuntimeError(FREED_MESSAGE)
        b, z = self._saved1
        return (saved_value(s0, self._input0, for_graph),
                (saved_value(b, self._input1, for_graph), saved_value(z, self)))

    _saved_self = property(lambda self: self.unpack()[0])
    _saved_exponent = property(lambda self: self.unpack()[1][0])
    _saved_result = property(lambda self: self.unpack()[1][1])


class PowBackward2(Node):
    """z = c ** a   (c a number).  Saves ``a`` in slot 0, ``(c, z)`` in slot 1; the
    derivative ``z * log(c)`` reads the saved result, attached to this node (see
    ``PowBackward1``)."""
    __slots__ = ()
    _sources, _saved_names = (0, None), ("exponent", "self", "result")

    @staticmethod
    def vjp(g, a, c_z):
        c, z = c_z
        d = _mul_scalar(z, F.log(c))
        return (g * (_where(_data(a) >= 0, d) if c == 0 else d),)

    def unpack(self, for_graph: bool = False) -> tuple:
        s0 = self._saved0
        if s0 is _FREED:
            raise RuntimeError(FREED_MESSAGE)
        c, z = self._saved1
        return saved_value(s0, self._input0), (c, saved_value(z, self))

    _saved_self = property(lambda self: self._saved1[0])  # a number: outlives a backward
    _saved_exponent = property(lambda self: self.unpack()[0])
    _saved_result = property(lambda self: self.unpack()[1][1])


Value.__pow__ = Value.pow = __pow__
Value.__rpow__ = __rpow__


# ---------------------------------------------------------------------------------
# |a|
# ---------------------------------------------------------------------------------

def __abs__(self):
    a = self._data
    return _unary(AbsBackward0, abs(a), self, a)


class AbsBackward0(Node):
    """z = |a|"""
    __slots__ = ()
    _sources, _saved_names = (0,), ("self",)
    vjp = staticmethod(lambda g, a, _: (g * _sgn(a),))


Value.__abs__ = Value.abs = __abs__


# ---------------------------------------------------------------------------------
# exp(a)
# ---------------------------------------------------------------------------------

def exp(self):
    z = F.exp(self._data)
    return _unary(ExpBackward0, z, self, z)


class ExpBackward0(Node):
    """z = exp(a)"""
    __slots__ = ()
    _sources, _saved_names = (RESULT,), ("result",)
    vjp = staticmethod(lambda g, z, _: (g * z,))


Value.exp = exp


# ---------------------------------------------------------------------------------
# log(a)
# ---------------------------------------------------------------------------------

def log(self):
    a = self._data
    return _unary(LogBackward0, F.log(a), self, a)


class LogBackward0(Node):
    """z = log(a)"""
    __slots__ = ()
    _sources, _saved_names = (0,), ("self",)
    vjp = staticmethod(lambda g, a, _: (_div(g, a),))


Value.log = log


# ---------------------------------------------------------------------------------
# sqrt(a)
# ---------------------------------------------------------------------------------

def sqrt(self):
    z = F.sqrt(self._data)
    return _unary(SqrtBackward0, z, self, z)


class SqrtBackward0(Node):
    """z = sqrt(a)"""
    __slots__ = ()
    _sources, _saved_names = (RESULT,), ("result",)
    vjp = staticmethod(lambda g, z, _: (_div(g, _mul_scalar(z, 2)),))


Value.sqrt = sqrt


# ---------------------------------------------------------------------------------
# tanh(a)
# ---------------------------------------------------------------------------------

def tanh(self):
    z = F.tanh(self._data)
    # _unary(TanhBackward0, z, self, z), written out as in __add__
    out = _new_value(Value)
    out._data = z
    out._grad = None
    out.name = None
    out._leaf_hooks = None
    if self._requires_grad and (_all_threads.enabled or _grad_mode.enabled):
        node = TanhBackward0()
        node._input0 = self._node or self
        node._input1 = None
        node._creation_nr = _next_seq()
        node._saved0 = z
        node._saved1 = None
        node._extras = None
        node._grad_in = None
        if anomaly_mode.enabled:
            record_creation(node)
        out._node = node
        out._requires_grad = True
    else:
        out._node = None
        out._requires_grad = False
    return out


class TanhBackward0(Node):
    """z = tanh(a)"""
    __slots__ = ()
    _sources, _saved_names = (RESULT,), ("result",)
    vjp = staticmethod(lambda g, z, _: (_tanh_backward(g, z),))


Value.tanh = tanh


# ---------------------------------------------------------------------------------
# sigmoid(a)
# ---------------------------------------------------------------------------------

def sigmoid(self):
    z = F.sigmoid(self._data)
    return _unary(SigmoidBackward0, z, self, z)


class SigmoidBackward0(Node):
    """z = sigmoid(a) = 1 / (1 + exp(-a))"""
    __slots__ = ()
    _sources, _saved_names = (RESULT,), ("result",)
    vjp = staticmethod(lambda g, z, _: (_sigmoid_backward(g, z),))


Value.sigmoid = sigmoid


# ---------------------------------------------------------------------------------
# relu(a)
# ---------------------------------------------------------------------------------

def relu(self):
    z = F.relu(self._data)
    return _unary(ReluBackward0, z, self, z)


class ReluBackward0(Node):
    """z = max(a, 0)"""
    __slots__ = ()
    _sources, _saved_names = (RESULT,), ("result",)
    vjp = staticmethod(lambda g, z, _: (_threshold(g, z),))


Value.relu = relu


# ---------------------------------------------------------------------------------
# sin(a)
# ---------------------------------------------------------------------------------

def sin(self):
    a = self._data
    return _unary(SinBackward0, F.sin(a), self, a)


class SinBackward0(Node):
    """z = sin(a)"""
    __slots__ = ()
    _sources, _saved_names = (0,), ("self",)
    vjp = staticmethod(lambda g, a, _: (g * _cos(a),))


Value.sin = sin


# ---------------------------------------------------------------------------------
# cos(a)
# ---------------------------------------------------------------------------------

def cos(self):
    a = self._data
    return _unary(CosBackward0, F.cos(a), self, a)


class CosBackward0(Node):
    """z = cos(a)"""
    __slots__ = ()
    _sources, _saved_names = (0,), ("self",)
    vjp = staticmethod(lambda g, a, _: (g * -_sin(a),))


Value.cos = cos


# ---------------------------------------------------------------------------------
# sinh(a)
# ---------------------------------------------------------------------------------

def sinh(self):
    a = self._data
    return _unary(SinhBackward0, F.sinh(a), self, a)


class SinhBackward0(Node):
    """z = sinh(a)"""
    __slots__ = ()
    _sources, _saved_names = (0,), ("self",)
    vjp = staticmethod(lambda g, a, _: (g * _cosh(a),))


Value.sinh = sinh


# ---------------------------------------------------------------------------------
# cosh(a)
# ---------------------------------------------------------------------------------

def cosh(self):
    a = self._data
    return _unary(CoshBackward0, F.cosh(a), self, a)


class CoshBackward0(Node):
    """z = cosh(a)"""
    __slots__ = ()
    _sources, _saved_names = (0,), ("self",)
    vjp = staticmethod(lambda g, a, _: (g * _sinh(a),))


Value.cosh = cosh


# ---------------------------------------------------------------------------------
# Ops that only derivative graphs record (create_graph=True)
# ---------------------------------------------------------------------------------

# A create_graph backward records these, as torch does: the number-operand forms of
# +, - and * that torch's formulas use, the copies backward stores in .grad, and the
# ops torch computes derivatives with.


class AddBackward1(Node):
    """z = a + c   (c a number; only inside derivative graphs, as torch's ``add.Scalar``)"""
    __slots__ = ()
    vjp = staticmethod(lambda g, _a, _b: (g,))


class SubBackward1(Node):
    """z = a - c   (c a number; only inside derivative graphs, as torch's ``sub.Scalar``)"""
    __slots__ = ()
    vjp = staticmethod(lambda g, _a, _b: (g,))


class MulBackward1(Node):
    """z = a * c   (c a number; only inside derivative graphs, as torch's ``mul.Scalar``)"""
    __slots__ = ()
    _sources, _saved_names = (None,), ("other",)
    vjp = staticmethod(lambda g, _a, c: (_mul_scalar(g, c),))

    def unpack(self, for_graph: bool = False) -> tuple:
        return None, self._saved1


class CopyBackwards(Node):
    """z = a   (the copy stored in .grad by backward(create_graph=True)); as torch's
    ``copy_`` node its edges are the destination (no graph: None) and ``a``"""
    __slots__ = ()
    _arity = 2

    def name(self) -> str:
        return "torch::autograd::CopyBackwards"  # what torch's name() says, word for word
    vjp = staticmethod(lambda g, _a, _b: (None, g))


class CloneBackward0(Node):
    """z = a   (the copy retain_grad stores in .grad under create_graph, as torch's clone)"""
    __slots__ = ()
    vjp = staticmethod(lambda g, _a, _b: (g,))


class SgnBackward0(Node):
    """z = sgn(a)   (appears only in graphs built by create_graph: the slope of |a|)"""
    __slots__ = ()
    _sources, _saved_names = (0,), ("self",)
    vjp = staticmethod(lambda g, _a, _b: (0.0,))


class WhereBackward0(Node):
    """z = where(cond, 0, a)   (in the derivatives of pow); edges: the zeros (None), ``a``"""
    __slots__ = ()
    _arity = 2
    _sources, _saved_names = (), ()  # (saves its condition, like torch: freed, never shown)
    vjp = staticmethod(lambda g, cond, _b: (None, _where(cond, g)))

    def unpack(self, for_graph: bool = False) -> tuple:
        if self._saved0 is _FREED:
            raise RuntimeError(FREED_MESSAGE)
        return self._saved0, None


class TanhBackwardBackward0(Node):
    """y = tanh_backward(g, z) = g * (1 - z*z)   (tanh's backward, under create_graph)"""
    __slots__ = ()
    _arity = 2
    _sources, _saved_names = (0, 1), ("grad_output", "output")
    vjp = staticmethod(lambda gg, g, z: (_tanh_backward(gg, z), gg * (_mul_scalar(z, -2) * g)))


class SigmoidBackwardBackward0(Node):
    """y = sigmoid_backward(g, z) = g * (1 - z) * z   (sigmoid's backward, under create_graph)"""
    __slots__ = ()
    _arity = 2
    _sources, _saved_names = (0, 1), ("grad_output", "output")
    vjp = staticmethod(lambda gg, g, z: (_sigmoid_backward(gg, z), gg * g * _add_scalar(_mul_scalar(z, -2), 1)))


class ThresholdBackwardBackward0(Node):
    """y = threshold_backward(g, r) = g if r > 0 else 0   (relu's backward, under create_graph)"""
    __slots__ = ()
    _arity = 2
    _sources, _saved_names = (0, 1), ("grad_output", "self")
    vjp = staticmethod(lambda gg, _g, r: (_threshold(gg, r), 0.0))
