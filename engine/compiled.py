"""Compiled mode: trace a function once, replay it as straight-line Python.

The eager engine pays for bookkeeping on every operation: a Value, a node, a
dispatch.  ``compile`` records the operations of one call instead, writes them out as
two plain Python functions on floats (the forward, and the backward with the same
derivative formulas and the same order of accumulation as the eager engine, so the
gradients are bit for bit the eager ones), and from then on runs those.  To the rest
of the engine a call is ONE node, ``CompiledFunctionBackward``, with an edge to every
Value the function read: its arguments and the parameters it closes over.

>>> import engine
>>> w = engine.Value(3.0, requires_grad=True)
>>> @engine.compile
... def f(x):
...     return (w * x + 1).tanh()
>>> x = engine.Value(0.5, requires_grad=True)
>>> y = f(x); y.grad_fn.name()
'CompiledFunctionBackward'
>>> y.backward()
>>> gx, gw = engine.grad(f.__wrapped__(x), [x, w])   # the eager function, for comparison
>>> (x.grad.item(), w.grad.item()) == (gx.item(), gw.item())
True
>>> print(f.source.splitlines()[0])
def forward(i0):

A comparison or ``bool()`` on a Value while tracing becomes a *guard*: a later call
whose numbers take the other branch is traced again.  ``trace`` records one path and
no guards (like ``torch.jit.trace``) and warns when the function branches on a Value.
"""

from __future__ import annotations

import builtins
import functools
import math
import re
import sys
import threading
import warnings
from typing import Any, Callable, Optional

from . import floats as F
from .anomaly import anomaly_mode
from .grad_mode import all_threads as _all_threads, state as _grad_mode
from .function import Function
from .value import (_FREED, FREED_MESSAGE, Node, OutputNr, Value, _next_seq, _number, make_value, new_node,
                    state_version)

__all__ = ["compile", "trace", "CompiledFunction", "TracedFunction", "CompiledFunctionBackward", "TracerWarning"]

#: A compiled function keeps at most this many traces; beyond it new cases run eagerly.
MAX_TRACES = 8

DOUBLE_BACKWARD_MESSAGE = (
    "a compiled function does not support double backward (create_graph=True): its "
    "backward is straight-line code on floats, not Values. Call the eager function "
    "instead (compiled_fn.__wrapped__), which records a graph that can be differentiated again."
)

HOOK_MESSAGE = (
    "{what} on an intermediate Value is not supported inside a compiled function: the "
    "function is traced once and its intermediates do not exist as Values afterwards. "
    "Register hooks on the inputs or on the compiled function's output, or call the "
    "eager function (compiled_fn.__wrapped__)."
)


class TracerWarning(UserWarning):
    """``trace`` met something a trace cannot replay faithfully (a branch on a Value)."""


# ---------------------------------------------------------------------------------
# The compiled node
# ---------------------------------------------------------------------------------

class CompiledFunctionBackward(Node):
    """One call of a compiled function in the backward graph.

    Its edges go to every Value the call read (arguments, then closed-over Values), in
    ``_edges``; ``_saved0`` holds the floats the forward saved; ``_trace`` is the trace
    whose generated backward runs on them.  No user code runs in it, so it needs no
    extras and the fast walk takes it (``autograd._fast_walk``).  Both walks hand its
    generated backward the running totals of its edges (``_add_to_totals``), except
    when a post-hook on it wants one gradient per edge (``_run``, as for custom
    Functions), and under anomaly mode or the player's observer.  ``_leaves`` is the trace's
    ``leaves``: the leaves that get its gradients, when they are all Values the trace
    closes over (a model's parameters, with the data as constants).
    """

    __slots__ = ("_edges", "_trace", "_leaves")
    _custom = True  # edges in _edges, not in _input0/_input1
    _runs_user_code = False  # generated code: nothing in it can read a .grad mid-walk
    _running_totals = True  # the walks pass the totals of its edges in (_add_to_totals)

    @property
    def _inputs(self) -> tuple:
        return self._edges

    def vjp(self, g, saved, _unused=None) -> list:
        """The generated backward on this call alone: one float gradient (or None) per edge."""
        t = self._trace
        grads = [None] * len(self._edges)
        for k, total in zip(t.slots, t.backward(g, saved, list(t.zeros))):
            grads[k] = total  # -0.0 + x is x, bit for bit: the running totals start at -0.0
        return grads

    def _run(self, g, graph: bool, keep_graph: bool):
        """One gradient per edge: the general walk's view when a hook on this node
        wants one (the sum of the call's contributions to each edge)."""
        saved = self._take_saved(g, graph, keep_graph)
        if g is None:  # no gradient reached the output
            return [None] * len(self._edges)
        return self.vjp(g, saved)

    def _add_to_totals(self, g, keep_graph: bool, total_of: Callable, set_total: Callable) -> None:
        """Add this call's contributions to the running totals of its edges, one at a
        time in the eager walk's order: ``total_of(edge)`` gives an edge's total so far
        (None if nothing has arrived), ``set_total(edge, total)`` stores the new one."""
        saved = self._take_saved(g, False, keep_graph)
        if g is None:
            return
        t = self._trace
        reached = [self._edges[k] for k in t.slots]
        totals = [-0.0 if x is None else x for x in map(total_of, reached)]  # -0.0 + x is x, bit for bit
        for e, total in zip(reached, t.backward(g, saved, totals)):
            set_total(e, total)

    def _take_saved(self, g, graph: bool, keep_graph: bool):
        """The saved numbers, freed unless ``keep_graph`` (kept when no gradient came)."""
        if graph:
            raise RuntimeError(DOUBLE_BACKWARD_MESSAGE)
        saved = self._saved0
        if saved is _FREED:
            raise RuntimeError(FREED_MESSAGE)
        if not keep_graph and g is not None:
            self._saved0 = _FREED
        return saved


def _make_node(edges: tuple, t: _Trace, saved) -> CompiledFunctionBackward:
    node = new_node(CompiledFunctionBackward, saved0=saved)
    node._edges = edges
    node._trace = t
    node._leaves = t.leaves
    return node


# ---------------------------------------------------------------------------------
# Tracing: Tracer stands for a Value and writes one line per operation
# ---------------------------------------------------------------------------------

# Forward expressions, as ops.py computes each op on the numbers.
_FORWARD = {
    "add": "{a} + {b}", "sub": "{a} - {b}", "rsub": "{b} - {a}", "mul": "{a} * {b}",
    "div": "div({a}, {b})", "reciprocal": "div(1.0, {a})", "neg": "-{a}", "abs": "abs({a})",
    "pow": "pow({a}, {b})", "pow_scalar": "pow_scalar({a}, {b})", "rpow": "pow({b}, {a})",
    "exp": "exp({a})", "log": "log({a})", "tanh": "tanh({a})", "sigmoid": "sigmoid({a})",
    "relu": "relu({a})", "sin": "sin({a})", "cos": "cos({a})", "sinh": "sinh({a})",
    "cosh": "cosh({a})", "sqrt": "sqrt({a})",
}

# Backward: for each op, the node class of ops.py it stands for and one expression
# per input, written from that class's ``vjp`` on floats ({g} the output's gradient,
# {a} {b} the inputs' numbers, {z} the result).  tests/test_compile.py checks every
# class of ops.py that a forward op can create is here.
_BACKWARD = {
    "add": ("AddBackward0", "{g}", "{g}"),
    "sub": ("SubBackward0", "{g}", "-{g}"),
    "rsub": ("RsubBackward1", "-{g}", None),
    "mul": ("MulBackward0", "{g} * {b}", "{g} * {a}"),
    "div": ("DivBackward0", "div({g}, {b})", "-{g} * div(div({a}, {b}), {b})"),
    "reciprocal": ("ReciprocalBackward0", "-{g} * ({z} * {z})", None),
    "neg": ("NegBackward0", "-{g}", None),
    "abs": ("AbsBackward0", "{g} * ((0 < {a}) - ({a} < 0))", None),
    "pow": ("PowBackward1", "(0.0 if {b} == 0 else {g} * ({b} * pow({a}, {b} - 1)))",
            "{g} * (0.0 if {a} == 0 and {b} >= 0 else pow({a}, {b}) * log({a}))"),
    "pow_scalar": ("PowBackward0", "(0.0 if {b} == 0 else {g} * ({b} * pow_scalar({a}, {b} - 1)))", None),
    "rpow": ("PowBackward2", "{g} * (0.0 if {b} == 0 and {a} >= 0 else pow({b}, {a}) * log({b}))", None),
    "exp": ("ExpBackward0", "{g} * {z}", None),
    "log": ("LogBackward0", "div({g}, {a})", None),
    "tanh": ("TanhBackward0", "{g} * (1.0 - {z} * {z})", None),
    "sigmoid": ("SigmoidBackward0", "{g} * (1.0 - {z}) * {z}", None),
    "relu": ("ReluBackward0", "(0.0 if {z} <= 0 else {g})", None),
    "sin": ("SinBackward0", "{g} * cos({a})", None),
    "cos": ("CosBackward0", "{g} * -sin({a})", None),
    "sinh": ("SinhBackward0", "{g} * cosh({a})", None),
    "cosh": ("CoshBackward0", "{g} * sinh({a})", None),
    "sqrt": ("SqrtBackward0", "div({g}, 2 * {z})", None),
}

#: The names the generated code calls: engine.floats, the eager engine's own arithmetic.
_GLOBALS = {name: getattr(F, name) for name in (
    "div", "pow", "pow_scalar", "exp", "log", "tanh", "sigmoid", "relu", "sin", "cos", "sinh", "cosh", "sqrt")}
_GLOBALS["abs"] = builtins.abs
_GLOBALS["_version"] = state_version

#: The same expressions as functions, to compute each number while tracing.
_COMPUTE = {kind: eval(f"lambda a, b: {text.format(a='a', b='b')}", dict(_GLOBALS)) for kind, text in _FORWARD.items()}


class _Const:
    """A number met while tracing: its text in the generated code, and its value."""

    __slots__ = ("text", "value")

    def __init__(self, text: str, value):
        self.text = text
        self.value = value


class _Recorder:
    """What one trace has seen: inputs, forward lines, ops for the backward, guards."""

    def __init__(self, guards: bool, start_seq: int):
        self.guards = guards  # False for ``trace``: warn instead of guarding
        self.start_seq = start_seq
        self.inputs = []  # the Values read: one slot each, deduplicated by identity
        self.input_vars = []  # their variables: i0, i1, ... (arguments), p[0], p[1], ... (captured)
        self.slot_of = {}  # id(Value) -> its Tracer
        self.arg_vars = set()  # the variables of the arguments
        self.aliased = {}  # variable -> an argument that the function also reads without receiving it
        self.lines = []  # the forward: (var, kind, a, b) per op, and guards as source lines
        self.ops = []  # (kind, out_var, a_var, b_text, b_is_var, a_rg, b_rg) of ops that require grad
        self.consts = {}  # name -> number for constants without an exact literal
        self.rg = {}  # var -> requires grad
        self.n = 0
        self.warned = False

    # -- variables -----------------------------------------------------------------------
    def input(self, v: Value, rg: bool, var: Optional[str] = None) -> Tracer:
        """An input of the trace: an argument ``i<k>``, or the ``var`` of a captured Value."""
        t = Tracer(self, var or f"i{len(self.inputs)}", v._data, rg)
        self.inputs.append(v)
        self.input_vars.append(t._var)
        self.rg[t._var] = rg
        return t

    def captured(self, v: Value) -> Tracer:
        """A Value the function reached without receiving it: an input of the node too."""
        t = self.slot_of.get(id(v))
        if t is None:
            node = v._node.node if v._node.__class__ is OutputNr else v._node
            if node is not None and node._creation_nr > self.start_seq:
                raise RuntimeError(
                    f"the compiled function computed {v!r} from Values that are neither its "
                    "arguments nor derived from them (for example a term on parameters alone); "
                    "a trace cannot replay that. Compute it outside the compiled function, or "
                    "pass the Values it needs as arguments."
                )
            # its number is read from p, the tuple of the captured Values' numbers
            var = f"p[{len(self.inputs) - len(self.arg_vars)}]"
            t = self.slot_of[id(v)] = self.input(v, v._requires_grad, var)
        elif t._var in self.arg_vars:  # f(w) for an f that reads w anyway: one input, on this condition
            self.aliased[t._var] = v
        return t

    def const(self, n) -> _Const:
        if n.__class__ is int or (n.__class__ is float and math.isfinite(n)):
            text = repr(n)
            return _Const(f"({text})" if text.startswith("-") else text, n)
        name = f"c{len(self.consts)}"
        self.consts[name] = n
        return _Const(name, n)

    def op(self, kind: str, a: Tracer, b=None) -> Tracer:
        """Record ``kind`` on tracer ``a`` and ``b`` (a Tracer, a constant, or None)."""
        b_is_var = b.__class__ is Tracer
        b_text = b._var if b_is_var else b.text if b is not None else None
        a_rg, b_rg = a._requires_grad, (b._requires_grad if b_is_var else False)
        rg = (a_rg or b_rg) and _grad_mode.enabled
        if (a_rg or b_rg) and not rg and _inside_custom_function():
            raise RuntimeError(
                "a custom Function's apply() cannot run inside a compiled function: its backward "
                "is user code the trace cannot write out. Call it outside the compiled function, "
                "or call the eager function (compiled_fn.__wrapped__).")
        var = f"v{self.n}"
        self.n += 1
        self.lines.append((var, kind, a._var, b_text))
        data = _COMPUTE[kind](a._data, b._data if b_is_var else b.value if b is not None else None)
        self.rg[var] = rg
        if rg:
            self.ops.append((kind, var, a._var, b_text, b_is_var, a_rg, b_rg))
        return Tracer(self, var, data, rg)

    # -- data-dependent Python ---------------------------------------------------------------
    def branch(self, condition: str, taken: bool, what: str) -> None:
        """The function branched on ``condition``: guard it, or warn (``trace``)."""
        if self.guards:
            self.lines.append(f"if {'not ' if taken else ''}({condition}): return None  # guard")
        elif not self.warned:
            self.warned = True
            warnings.warn(
                f"{what} while tracing: the trace records the branch taken now and will take it "
                "for every input. Use engine.compile (which guards the condition and traces "
                "again when it changes) if the result can differ.", TracerWarning, stacklevel=4)


_APPLY_CODE = Function.apply.__func__.__code__


def _inside_custom_function() -> bool:
    """Whether ``Function.apply`` is on the stack (it turns grad mode off for forward)."""
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code is _APPLY_CODE:
            return True
        frame = frame.f_back
    return False


def _unwrap(rec: _Recorder, other):
    """``other`` as a Tracer or a constant, or NotImplemented."""
    k = other.__class__
    if k is Tracer:
        if other._rec is not rec:
            raise RuntimeError("a Value from one trace was used in another (a tracer escaped its compiled function)")
        return other
    if k is Value:
        return rec.captured(other)
    n = _number(other)
    return NotImplemented if n is NotImplemented else rec.const(n)


class Tracer:
    """Stands for a Value while a function is traced.  Arithmetic and math write one
    line each; comparisons and ``bool()`` become guards; reading the number does too.
    The number itself is computed alongside, so the function runs as it would eagerly."""

    __slots__ = ("_rec", "_var", "_data", "_requires_grad")
    __array_ufunc__ = None

    def __init__(self, rec: _Recorder, var: str, data, rg: bool):
        self._rec = rec
        self._var = var
        self._data = data
        self._requires_grad = rg

    def __repr__(self) -> str:
        return f"Tracer({self._var}, {self._data!r})"

    # -- arithmetic: the same dispatch as Value's --------------------------------------------
    def _binary(self, kind, other):
        o = _unwrap(self._rec, other)
        if o is NotImplemented:
            return NotImplemented
        return self._rec.op(kind, self, o)

    def _reflected(self, kind_for_value, kind_for_number, other):
        """``other <op> self`` where ``other`` is not a Tracer."""
        o = _unwrap(self._rec, other)
        if o is NotImplemented:
            return NotImplemented
        if o.__class__ is Tracer:  # a Value: Value's own method runs with it first
            return self._rec.op(kind_for_value, o, self)
        return self._rec.op(kind_for_number, self, o)

    def __add__(self, other):
        return self._binary("add", other)

    def __radd__(self, other):
        return self._reflected("add", "add", other)

    def __sub__(self, other):
        return self._binary("sub", other)

    def __rsub__(self, other):
        return self._reflected("sub", "rsub", other)

    def __mul__(self, other):
        return self._binary("mul", other)

    def __rmul__(self, other):
        return self._reflected("mul", "mul", other)

    def __truediv__(self, other):
        return self._binary("div", other)

    def __rtruediv__(self, other):
        o = _unwrap(self._rec, other)
        if o is NotImplemented:
            return NotImplemented
        if o.__class__ is Tracer:
            return self._rec.op("div", o, self)
        return self._rec.op("mul", self._rec.op("reciprocal", self), o)  # as Value: reciprocal, then * c

    def __pow__(self, other):
        o = _unwrap(self._rec, other)
        if o is NotImplemented:
            return NotImplemented
        return self._rec.op("pow" if o.__class__ is Tracer else "pow_scalar", self, o)

    def __rpow__(self, other):
        return self._reflected("pow", "rpow", other)

    def __neg__(self):
        return self._rec.op("neg", self)

    def __pos__(self):
        return self

    def __abs__(self):
        return self._rec.op("abs", self)

    pow = __pow__
    neg = __neg__
    abs = __abs__

    def exp(self):
        return self._rec.op("exp", self)

    def log(self):
        return self._rec.op("log", self)

    def tanh(self):
        return self._rec.op("tanh", self)

    def sigmoid(self):
        return self._rec.op("sigmoid", self)

    def relu(self):
        return self._rec.op("relu", self)

    def sin(self):
        return self._rec.op("sin", self)

    def cos(self):
        return self._rec.op("cos", self)

    def sinh(self):
        return self._rec.op("sinh", self)

    def cosh(self):
        return self._rec.op("cosh", self)

    def sqrt(self):
        return self._rec.op("sqrt", self)

    def detach(self) -> Tracer:
        return Tracer(self._rec, self._var, self._data, False)

    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    # -- what depends on the number: guards -----------------------------------------------------
    def _compare(self, op: str, other):
        o = _unwrap(self._rec, other)
        if o is NotImplemented:
            return NotImplemented
        b_text, b_data = (o._var, o._data) if o.__class__ is Tracer else (o.text, o.value)
        result = {"<": self._data < b_data, "<=": self._data <= b_data,
                  ">": self._data > b_data, ">=": self._data >= b_data}[op]
        self._rec.branch(f"{self._var} {op} {b_text}", result, "A comparison of Values")
        return result

    def __lt__(self, other):
        return self._compare("<", other)

    def __le__(self, other):
        return self._compare("<=", other)

    def __gt__(self, other):
        return self._compare(">", other)

    def __ge__(self, other):
        return self._compare(">=", other)

    __hash__ = object.__hash__  # by identity, like Value (== is identity too)

    def __bool__(self) -> bool:
        result = bool(self._data)
        self._rec.branch(self._var, result, "bool() of a Value")
        return result

    def _number(self, convert, what: str):
        n = convert(self._data)
        rec = self._rec
        if rec.guards:
            rec.lines.append(f"if {convert.__name__}({self._var}) != {rec.const(n).text}: return None  # guard")
        elif not rec.warned:
            rec.warned = True
            warnings.warn(f"{what} while tracing: the trace records this number as a constant.",
                          TracerWarning, stacklevel=3)
        return n

    def item(self):
        return self._number(_identity, "Reading a Value's number (item)")

    @property
    def data(self):
        return self._number(_identity, "Reading a Value's number (.data)")

    def __float__(self) -> float:
        return self._number(float, "float() of a Value")

    def __int__(self) -> int:
        return self._number(int, "int() of a Value")

    # -- what a trace cannot do -------------------------------------------------------------------
    def register_hook(self, hook):
        raise RuntimeError(HOOK_MESSAGE.format(what="register_hook"))

    def retain_grad(self):
        raise RuntimeError(HOOK_MESSAGE.format(what="retain_grad"))

    def __getattr__(self, name: str):
        if hasattr(Value, name):
            raise RuntimeError(
                f"Value.{name} is not supported inside a compiled function (engine.compile traces the "
                "arithmetic only); call the eager function (compiled_fn.__wrapped__) instead.")
        raise AttributeError(f"'Value' object has no attribute '{name}'")


def _identity(x):
    return x


_identity.__name__ = ""  # a guard on the number reads "if (v3) != 2.0"


# ---------------------------------------------------------------------------------
# Code generation
# ---------------------------------------------------------------------------------

class _Captured:
    """The Values a trace closes over (``p0``, ``p1``, ... in the generated code): the
    ``requires_grad`` each had when traced, and ``numbers``, the tuple of their numbers.

    Reading 337 parameters' flags and numbers on every call of an MLP's loss would
    cost a tenth of a training step, and between two optimizer steps they do not
    change.  So the generated forward compares two numbers instead:
    ``state_version.number`` (``_version``), which moves whenever any existing Value's
    number or flag changes, with the one ``seen`` when the flags were last found right
    and the numbers last read; only when they differ does it call ``refresh``, which
    checks the flags (False: trace again) and reads the numbers again.  The backward
    reads the numbers a call saw from the same tuple: ``p`` in its ``saved``."""

    __slots__ = ("values", "flags", "seen", "numbers", "lock")

    def __init__(self, values: list):
        self.values = values
        self.flags = [v._requires_grad for v in values]
        self.seen = -1  # never a version number: the first call refreshes
        self.numbers = ()
        self.lock = threading.Lock()

    def refresh(self) -> bool:
        with self.lock:  # one reader at a time: the last to publish read the newest numbers
            now = state_version.number  # read before the Values: a change after this one moves it on
            for v, flag in zip(self.values, self.flags):
                if v._requires_grad is not flag:
                    return False
            self.numbers = tuple([v._data for v in self.values])
            self.seen = now  # after the numbers: a caller that sees ``seen`` sees them
        return True


#: How many times a trace runs its new code before its first use (see _Trace._warm_up).
_WARM_UP_CALLS = 8


class _Trace:
    """One trace turned into code: ``forward(*numbers) -> (out, saved) or None`` (None:
    a guard failed) and ``backward(g, saved, totals) -> totals``.  The arguments'
    numbers are passed in; those of the captured Values (``p0``, ``p1``, ...) come from
    one tuple, ``p``, after a guard that they still require grad as when traced and
    that ``p`` holds their current numbers (``_Captured``).

    ``backward`` takes the running totals of the inputs in ``slots`` (those that get a
    gradient), as a list, adds the call's contributions to them one at a time, in
    the order the eager walk adds them (``totals[k] = totals[k] + ...``, in place),
    and returns the list.  ``leaves`` is the tuple of those inputs when all of them
    are leaves the function closes over (a model's parameters): the fast walk then
    keeps their totals in one list from one call to the next (``autograd._fast_walk``)."""

    __slots__ = ("n_args", "captured", "captured_edges", "forward", "backward", "source", "out_rg",
                 "slots", "zeros", "leaves", "fixed_edges", "captured_ids", "aliases")

    def __init__(self, rec: _Recorder, out: Tracer, n_args: int):
        self.n_args = n_args
        self.captured = captured = rec.inputs[n_args:]
        # Which Values are one input depends on identity, which the cache key does not
        # see: an argument that is also a Value the function reads by itself (f(w) for
        # an f that reads w) is one input in the trace.  ``_run`` checks that a call
        # passes none of the captured Values, and the aliased arguments again.
        self.captured_ids = frozenset(map(id, captured)) or None
        self.aliases = tuple((int(var[1:]), v) for var, v in rec.aliased.items())
        self.captured_edges = tuple((v._node or v) if v._requires_grad else None for v in captured)
        self.out_rg = out._requires_grad
        if not any(rec.rg[f"i{k}"] for k in range(n_args)):  # (fixed by the cache key)
            self.fixed_edges = (None,) * n_args + self.captured_edges  # every call's edges
        else:
            self.fixed_edges = None
        backward_lines, saved, self.slots = _backward_source(rec, out)
        self.zeros = (-0.0,) * len(self.slots)
        edges = [self.captured_edges[k - n_args] if k >= n_args else None for k in self.slots]
        self.leaves = tuple(edges) if all(e.__class__ is Value for e in edges) else None
        head = [f"def forward({', '.join(f'i{k}' for k in range(n_args))}):"]
        if captured:
            head += ["    if _version.number != _captured.seen and not _captured.refresh(): return None"
                     "  # guard: requires_grad as traced; p up to date",
                     "    p = _captured.numbers  # p[0], p[1], ...: the numbers of p0, p1, ... (read, not passed)"]
        forward_source = "\n".join(head + [f"    {line}" for line in _forward_source(rec.lines, saved, out._var)]
                                   + [f"    return {out._var}, {_tuple(saved)}"])
        body = ([f"{_targets(saved)} = saved"] if saved else []) + backward_lines
        backward_source = "\n".join(["def backward(g, saved, totals):"]
                                    + [f"    {line}" for line in _most_used_first(body, 3) + body]  # 3 arguments
                                    + ["    return totals"])
        self.source = forward_source + "\n\n" + backward_source + "\n"
        namespace = dict(_GLOBALS, **rec.consts)
        namespace.update((f"p{k}", v) for k, v in enumerate(captured))
        namespace["_captured"] = _Captured(captured)
        exec(builtins.compile(self.source, "<engine.compile>", "exec"), namespace)
        self.forward = namespace["forward"]
        self.backward = namespace["backward"]
        self._warm_up([v._data for v in rec.inputs[:n_args]])

    def _warm_up(self, numbers: list) -> None:
        """Run the new code a few times on the traced numbers, as a JIT runs what it
        generates before first use.  CPython 3.11 runs a function's first 8 calls
        unspecialized (generic instructions, 2-3x slower here); those calls happen now,
        inside the trace (under 1 ms for an MLP's loss), not in the first steps of the
        training loop.  The code is pure arithmetic on floats: running it changes
        nothing."""
        for _ in range(_WARM_UP_CALLS):
            result = self.forward(*numbers)
            if result is None:
                return  # (a captured Value's requires_grad changed under us: the call will retrace)
            self.backward(1.0, result[1], list(self.zeros))


# How tightly each op's expression binds (Python's precedence), and how tightly an
# operand in each position must bind to go in without parentheses: Python's + - *
# group from the left, so ``a + b + c`` is ``(a + b) + c`` but ``c - (a + b)`` needs them.
_BINDS = {"add": 1, "sub": 1, "rsub": 1, "mul": 2, "neg": 3}  # every other op is a call: 4
_OPERANDS = {"add": (1, 2), "sub": (1, 2), "rsub": (2, 1), "mul": (2, 3), "neg": (4, 0)}  # (a, b); calls: (0, 0)
_VAR = re.compile(r"\bv\d+\b")


#: The most ops written into one expression.  Python compiles an expression
#: recursively, so a sum of 20,000 terms as one expression exceeds its recursion
#: limit; the limit also counts the frames of the code that calls ``compile``.
_MAX_DEPTH = 50


def _forward_source(lines: list, saved: list, out: str) -> list:
    """The forward's lines: one assignment per value that is saved for the backward,
    returned, checked by a guard or used twice; every other value is written into the
    one expression that uses it (up to ``_MAX_DEPTH`` ops deep).  Python evaluates
    ``a * b + c * d`` as the separate lines would, left to right, each op once: the
    numbers are the same, with fewer loads and stores."""
    uses = dict.fromkeys(saved, 2)
    uses[out] = 2
    for line in lines:
        for name in ((line[2], line[3]) if line.__class__ is tuple else _VAR.findall(line)):
            if name is not None:
                uses[name] = uses.get(name, 0) + (1 if line.__class__ is tuple else 2)
    inline = {}  # var -> (how tightly it binds, its expression, how many ops deep), for a value used once
    result = []
    for line in lines:
        if line.__class__ is not tuple:
            result.append(line)
            continue
        var, kind, a, b = line
        need_a, need_b = _OPERANDS.get(kind, (0, 0))
        operands = {}
        depth = 1
        for key, name, need in (("a", a, need_a), ("b", b, need_b)):
            binds, text, d = inline.pop(name, (4, name, 0)) if name is not None else (4, name, 0)
            operands[key] = f"({text})" if binds < need else text
            depth = max(depth, d + 1)
        expr = _FORWARD[kind].format(**operands)
        if uses.get(var, 0) == 1 and depth < _MAX_DEPTH:
            inline[var] = (_BINDS.get(kind, 4), expr, depth)
        else:
            result.append(f"{var} = {expr}")
    return result


_NAME = re.compile(r"\b(?:[iv]|g_v)\d+\b")  # a number (i<k>, v<k>) or a gradient (g_v<k>)


def _most_used_first(body: list, n_args: int) -> list:
    """A no-op line that makes Python number the most used local names first, for a
    function with more than 256 of them (an MLP's backward has about 700).  CPython
    numbers locals by first appearance and encodes an index above 255 with an extra
    instruction (EXTENDED_ARG) on every load and store: with the few hundred names
    the code reads over and over (activations and their gradients) numbered first,
    the backward runs about 15% faster.  ``if 0:`` is compiled to nothing."""
    counts: dict = {}
    for line in body:
        for name in _NAME.findall(line):
            counts[name] = counts.get(name, 0) + 1
    if len(counts) + n_args <= 256:
        return []
    hot = sorted(counts, key=counts.get, reverse=True)[:256 - n_args]
    return [f"if 0: {' = '.join(hot)} = None  # a no-op: these names are numbered first (_most_used_first)"]


def _tuple(items: list) -> str:
    return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})" if items else "()"


def _targets(names: list) -> str:
    """The left side of ``names = a_tuple``."""
    return f"{', '.join(names)}{',' if len(names) == 1 else ''}"


def _backward_source(rec: _Recorder, out: Tracer):
    """The backward's lines (nodes newest first), the forward variables it reads, and
    the inputs that get a gradient.  An input's gradient is a running total,
    ``totals[k]``, that each contribution is added to as the eager walk adds it to the
    leaf's total (or to the input node's incoming gradient): one at a time, in the
    walk's order.  An intermediate's contributions are summed as its node sums them,
    left to right in the order they arrive, in one expression written when its node's
    turn comes: ``g_v4 = g_v9 * i0 + g_v8 * p[5]`` (up to ``_MAX_DEPTH`` terms per line).

    The totals are items of a list, not local names, and a captured Value's number is
    ``p[j]`` where it is used: an MLP's backward would otherwise have some 700 local
    names, and CPython spends an extra instruction (EXTENDED_ARG) on every load and
    store of a name numbered above 255.  With about 100, every name is below it."""
    lines: list = []  # source lines, and (input number, contribution) for an input
    sums = {}  # intermediate var -> (its gradient so far, as one sum not yet written; how many terms)
    input_number = {var: k for k, var in enumerate(rec.input_vars)}
    reached = set()  # the numbers of the inputs that get a contribution
    used = set()

    def contribute(target: str, expr: str) -> None:
        k = input_number.get(target)
        if k is not None:
            reached.add(k)
            lines.append((k, expr))  # written below, once the totals' order is known
            return
        so_far = sums.get(target)
        if so_far is None:
            sums[target] = (expr, 1)
            return
        text, terms = so_far
        if terms == _MAX_DEPTH:  # a long sum: written out in parts
            lines.append(f"g_{target} = {text}")
            text, terms = f"g_{target}", 1
        sums[target] = (f"{text} + {expr}", terms + 1)

    def gradient(var: str):
        """The name that holds ``var``'s whole gradient: its sum, written out now that
        every contribution is in (a gradient passed on as it is needs no line)."""
        so_far = sums.pop(var, None)
        if so_far is None or so_far[0].isidentifier():
            return so_far and so_far[0]
        lines.append(f"g_{var} = {so_far[0]}")
        return f"g_{var}"

    if out._requires_grad:
        contribute(out._var, "g")
    for kind, var, a, b, b_is_var, a_rg, b_rg in reversed(rec.ops):
        g = gradient(var)
        if g is None:
            continue  # no gradient reaches this op
        cls, da, db = _BACKWARD[kind]
        names = {"g": g, "a": a, "b": b, "z": var}
        lines.append(f"# {cls}")
        for target, template, rg in ((a, da, a_rg), (b, db, b_rg)):
            if not rg or template is None:
                continue
            for placeholder, name in (("{a}", a), ("{b}", b if b_is_var else None), ("{z}", var)):
                if name is not None and placeholder in template:
                    used.add("p" if name.startswith("p[") else name)
            contribute(target, template.format(**names))
    slots = sorted(reached)
    total = {k: f"totals[{s}]" for s, k in enumerate(slots)}
    # ``total + expr`` as ``g += expr`` adds: every template's expression is a product,
    # a call, a negation or parenthesized, so it needs no parentheses after ``+``
    lines = [line if line.__class__ is str else f"{total[line[0]]} = {total[line[0]]} + {line[1]}"
             for line in lines]
    order = ["p"] + [var for var in rec.input_vars if var[0] == "i"] + [f"v{k}" for k in range(rec.n)]
    return lines, [v for v in order if v in used], slots


# ---------------------------------------------------------------------------------
# Calling: the cache, the key, the node
# ---------------------------------------------------------------------------------

def _flatten(args, tracers: bool = True) -> Optional[tuple]:
    """The Values of ``args`` (lists and tuples opened, no recursion), and the cache
    key: the structure of the arguments (which are Values, and which the same Value;
    which require grad; the numbers' values) and whether grad mode is on.  None if an
    argument is a Tracer (and ``tracers``): another compiled function is tracing this call.

    A Value's entry in the key is its ``requires_grad``; when a Value is passed twice
    (rare: one set of ids tells), each entry also says which of the Values it is."""
    flat, key = [], []
    stack = [iter(args)]
    while stack:
        for a in stack[-1]:
            k = a.__class__
            if k is Value:
                flat.append(a)
                key.append(a._requires_grad)
            elif k is list or k is tuple:
                key.append("(" if k is tuple else "[")
                stack.append(iter(a))
                break
            else:
                n = a if k is float or k is int else _number(a)
                if n is NotImplemented:
                    if k is Tracer and tracers:
                        return None
                    raise TypeError(
                        "a compiled function takes Values, numbers, and lists or tuples of them; "
                        f"got {type(a).__name__}")
                # 0.0 == -0.0, and nan != nan: keyed by repr, the two zeros are two
                # traces (each written into the code) and every NaN one
                key.append((n.__class__, n) if n.__class__ is int or (n and n == n) else (float, repr(n)))
        else:
            stack.pop()
            key.append(")")
    if len(flat) > 1 and len(set(map(id, flat))) < len(flat):
        flat, key = _same_value_twice(flat, key)
    return flat, (tuple(key), _all_threads.enabled or _grad_mode.enabled)


def _same_value_twice(flat: list, key: list):
    """``_flatten``'s result when a Value is passed more than once: each Value once, in
    the order first met, and each Value's entry in the key ``(its number among them,
    requires_grad)`` (a tuple, never equal to a bool or to a number's entry)."""
    slots: dict = {}
    values = iter(flat)
    numbered = [(slots.setdefault(id(next(values)), len(slots)), entry) if entry.__class__ is bool else entry
                for entry in key]
    return list({id(v): v for v in flat}.values()), numbered


class CompiledFunction:
    """What ``engine.compile`` returns: call it like the function.

    ``source`` is the generated code of the latest trace; ``__wrapped__`` the eager
    function; ``reset()`` forgets every trace.
    """

    _guards = True

    def __init__(self, fn: Callable):
        functools.update_wrapper(self, fn)
        self.__wrapped__ = fn
        self._name = getattr(fn, "__name__", type(fn).__name__)
        self._cache = {}  # key -> list of _Trace (several when guards split the cases)
        self._latest: Optional[_Trace] = None
        self._count = 0
        self._lock = threading.RLock()
        self._gave_up = False
        self._leaf_sets = {}  # ids of a trace's leaves -> the one tuple of them its traces share

    @property
    def source(self) -> str:
        """The generated forward and backward of the latest trace, as Python source."""
        if self._latest is None:
            raise RuntimeError(f"{self._name} has not been traced yet: call it once first")
        return self._latest.source

    @property
    def traces(self) -> int:
        """How many times the function has been traced."""
        return self._count

    def reset(self) -> None:
        """Forget every trace (after replacing, not updating, a Value the function reads)."""
        with self._lock:
            self._cache.clear()
            self._latest = None
            self._count = 0
            self._gave_up = False
            self._leaf_sets.clear()

    def __call__(self, *args, **kwargs):
        if kwargs:
            raise TypeError(f"compiled function {self._name} takes positional arguments only")
        if anomaly_mode.enabled:
            return self.__wrapped__(*args)  # anomaly mode wants real nodes to point at
        flat = _flatten(args)
        if flat is None:  # inside another compiled function's trace: its ops go into that trace
            return self.__wrapped__(*args)
        values, key = flat
        grad_on = key[1]
        for t in self._cache.get(key, ()):
            result = _run(t, values, grad_on)
            if result is not None:
                return result
        with self._lock:
            for t in self._cache.get(key, ()):  # another thread may have traced this case meanwhile
                result = _run(t, values, grad_on)
                if result is not None:
                    return result
            if self._count >= MAX_TRACES and self._guards:
                if not self._gave_up:
                    self._gave_up = True
                    warnings.warn(f"{self._name} was traced {MAX_TRACES} times; new cases now run eagerly. "
                                  "Pass changing numbers as Values, not Python numbers.", TracerWarning, stacklevel=2)
                return self.__wrapped__(*args)
            t = self._trace(args, values)
            self._cache.setdefault(key, []).append(t)
        result = _run(t, values, grad_on)
        assert result is not None, "a fresh trace failed its own guards"
        return result

    def _trace(self, args, values):
        rec = _Recorder(self._guards, _next_seq())
        tracers = {id(v): rec.input(v, v._requires_grad) for v in values}
        rec.slot_of.update(tracers)
        rec.arg_vars = {t._var for t in tracers.values()}
        traced_args = _rebuild(args, tracers)
        out = self.__wrapped__(*traced_args)
        if out.__class__ is not Tracer or out._rec is not rec:
            what = ("a Value that does not depend on the arguments" if out.__class__ is Value else
                    "a Value from another trace" if out.__class__ is Tracer else type(out).__name__)
            raise TypeError(f"a compiled function must return a Value computed from its arguments, got {what}")
        t = _Trace(rec, out, len(values))
        if t.leaves is not None:  # one tuple per set of leaves: the fast walk compares them by identity
            t.leaves = self._leaf_sets.setdefault(tuple(map(id, t.leaves)), t.leaves)
        self._latest = t
        self._count += 1
        return t


def _rebuild(args, tracers: dict) -> list:
    """``args`` with each Value replaced by its Tracer (lists and tuples rebuilt, no recursion)."""
    result = []
    stack = [(iter(args), result, None)]
    while stack:
        items, out, kind = stack[-1]
        for a in items:
            k = a.__class__
            if k is Value:
                out.append(tracers[id(a)])
            elif k is list or k is tuple:
                inner = []
                stack.append((iter(a), inner, k))
                out.append(inner)
                break
            else:
                out.append(a)
        else:
            stack.pop()
            if kind is tuple:  # turn the finished inner list into a tuple in its parent
                parent = stack[-1][1]
                parent[-1] = tuple(out)
    return result


def _same_inputs(t: _Trace, values: list) -> bool:
    """Whether the arguments make the inputs ``t`` was traced with: none of them is a
    Value ``t`` reads as a captured one (a separate input there), and those that were
    also read as captured Values when tracing are the same Values again."""
    ids = t.captured_ids
    if ids is not None:
        for v in values:
            if id(v) in ids:
                return False
    aliases = t.aliases
    return not aliases or all(values[k] is v for k, v in aliases)


def _run(t: _Trace, values: list, grad_on: bool):
    """Run trace ``t`` on the arguments' Values: None if a guard fails, else the output."""
    if not _same_inputs(t, values):
        return None
    result = t.forward(*[v._data for v in values])
    if result is None:
        return None
    out, saved = result
    if not (t.out_rg and grad_on):
        return make_value(out)
    edges = t.fixed_edges
    if edges is None:  # an argument requires grad: its edge is this call's
        edges = tuple([(v._node or v) if v._requires_grad else None for v in values]) + t.captured_edges
    return make_value(out, _make_node(edges, t, saved))


class TracedFunction(CompiledFunction):
    """What ``engine.trace`` returns: one trace, no guards, fixed input structure."""

    _guards = False

    def __call__(self, *args, **kwargs):
        if kwargs:
            raise TypeError(f"traced function {self._name} takes positional arguments only")
        flat = _flatten(args)
        if flat is None:  # inside a compiled function's trace: its ops go into that trace
            return self.__wrapped__(*args)
        values, key = flat
        grad_on = key[1]
        if key != self._key:
            raise ValueError(
                f"{self._name} was traced for other inputs (how many Values, which require grad, "
                "which numbers, or grad mode differ); trace it again, or use engine.compile, which traces "
                "each new structure")
        if not _same_inputs(self._latest, values):
            raise RuntimeError(
                f"{self._name} reads a Value without receiving it, and this call passes it as an argument where "
                "the traced call did not (or the other way round): the trace made them two inputs (or one). "
                "Trace it again with these arguments, or use engine.compile, which traces each case")
        result = _run(self._latest, values, grad_on)
        if result is None:
            raise RuntimeError(f"a Value {self._name} reads (not an argument) changed requires_grad since it "
                               "was traced; trace it again, or use engine.compile, which traces again by itself")
        return result


def compile(fn: Callable) -> CompiledFunction:
    """Compile ``fn``: trace it on its first call, then run generated straight-line code.

    ``fn`` takes Values (and numbers, or lists and tuples of them) and returns a Value.
    Values it reaches without receiving them (a model's parameters) are inputs too:
    their current numbers are read on each call and their gradients flow.  Traces are
    cached by the structure of the arguments; a comparison or ``bool()`` on a Value
    becomes a guard, and a call that takes the other branch is traced again.

    >>> import engine
    >>> @engine.compile
    ... def hinge(s):
    ...     return s if s > 0 else -s
    >>> hinge(engine.Value(2.0)).item(), hinge(engine.Value(-3.0)).item(), hinge.traces
    (2.0, 3.0, 2)
    """
    if not callable(fn):
        raise TypeError(f"engine.compile expects a function, got {type(fn).__name__}")
    return CompiledFunction(fn)


def trace(fn: Callable, *example_inputs: Any) -> TracedFunction:
    """Trace ``fn`` once on ``example_inputs``, like ``torch.jit.trace``: no guards.

    A branch on a Value while tracing warns (``TracerWarning``): the trace keeps the
    branch taken on the example for every later input.

    >>> import engine
    >>> double = engine.trace(lambda x: x * 2, engine.Value(1.0))
    >>> double(engine.Value(21.0))
    Value(42.0)
    """
    if not callable(fn):
        raise TypeError(f"engine.trace expects a function, got {type(fn).__name__}")
    traced = TracedFunction(fn)
    flat = _flatten(example_inputs, tracers=False)
    assert flat is not None  # (with tracers=False a Tracer is a TypeError)
    values, traced._key = flat
    traced._trace(example_inputs, values)
    return traced
