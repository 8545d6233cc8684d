"""``backward`` and ``grad``: check the arguments, then walk the graph backwards.

The walk is torch's: seed each output with its gradient (1 by default); run each node
once, newest first by creation number (every consumer of a node was created after it,
so by then its gradient is complete); each node's ``vjp`` hands one gradient to each
input, summed on arrival; without ``retain_graph`` a node that ran frees what it
saved, and running it again raises; the leaves' totals are added to ``.grad``.

The fast walk below does exactly that, for the common case: no hook, retain_grad,
custom Function or anomaly trace exists, and ``inputs`` (if any) are leaves.  All
else goes to the general walk in ``full_walk.py``, which adds those layers.  Neither
recurses: a graph a million nodes deep is fine.

With ``create_graph=True`` the nodes run on Values instead of floats, with grad mode
on, so the gradients that come out are themselves differentiable.

>>> from engine import Value, grad
>>> x = Value(3.0, requires_grad=True)
>>> dy, = grad(x ** 3, x, create_graph=True)
>>> dy, grad(dy, x)
(Value(27.0, grad_fn=<MulBackward0>), (Value(18.0),))
"""

from __future__ import annotations

import threading
import warnings
from heapq import heapify, heappop, heappush
from collections.abc import Mapping
from typing import Optional, Sequence, Union

from . import full_walk as _full
from . import value as _value
from .anomaly import anomaly_mode
from .full_walk import _constant, _discover, _flush_ready_leaves, _grad_lock, _needed, _walk
from .grad_mode import set_enabled as set_grad_enabled
from .ops import AddBackward0, MulBackward0, TanhBackward0, TanhBackwardBackward0
from .value import FREED_MESSAGE, OutputNr, Value, _FREED, _binary_to_edge, make_value, state_changed

__all__ = ["backward", "grad"]

Values = Union[Value, Sequence[Value]]
Seeds = Union[float, int, Value, Sequence[Union[float, int, Value, None]], None]


_warned_reference_cycle = False

REFERENCE_CYCLE_WARNING = (
    "Using backward() with create_graph=True will create a reference cycle between the "
    "parameter and its gradient which can cause a memory leak. We recommend using "
    "autograd.grad when creating the graph to avoid this. If you have to use this "
    "function, make sure to reset the .grad fields of your parameters to None after use "
    "to break the cycle and avoid the leak."
)


# ---------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------

def backward(tensors: Values, grad_tensors: Seeds = None, retain_graph: Optional[bool] = None,
             create_graph: bool = False, inputs: Optional[Values] = None) -> None:
    """Accumulate the gradients of ``tensors`` into the ``.grad`` of the leaves.

    With several outputs this backpropagates ``sum(g_i * tensors[i])``: the vector-
    Jacobian product with ``grad_tensors`` (1 where ``None``).  ``inputs`` limits
    accumulation to those Values.  The graph is freed unless ``retain_graph``
    (default: ``create_graph``).

    >>> from engine import Value, backward
    >>> xs = [Value(v, requires_grad=True) for v in (2.0, 3.0, 1.0)]
    >>> backward([x ** 2 for x in xs], [1, 3, 2])
    >>> [x.grad.item() for x in xs]
    [4.0, 18.0, 4.0]
    """
    # torch's order of checks: inputs, outputs, seeds, then the outputs' and the inputs' flags
    if inputs is not None:
        inputs = _as_values(_mapping_values(inputs, "backward"), "inputs")
        if not inputs:
            raise RuntimeError("`inputs` argument to `backward()` cannot be empty.")
    outputs = _as_values(tensors, "tensors")
    seeds = _seeds(grad_tensors, outputs)
    if retain_graph is None:
        retain_graph = create_graph
    _check_outputs(outputs)
    targets = None
    if inputs is not None:
        for v in inputs:
            v.retain_grad()  # raises for a Value that does not require grad, as torch does
        targets = {_key(v) for v in inputs}
    if create_graph:
        global _warned_reference_cycle
        if not _warned_reference_cycle:
            _warned_reference_cycle = True
            warnings.warn(REFERENCE_CYCLE_WARNING, UserWarning, stacklevel=3)
    elif targets is None and not _value.holders_of_user_code and not anomaly_mode.enabled \
            and not _full._observers_open and _fast_walk(outputs, seeds, free=not retain_graph) is not None:
        return
    _walk(outputs, seeds, retain_graph, create_graph, targets, accumulate=True)


def grad(outputs: Values, inputs: Union[Values, dict], grad_outputs: Seeds = None,
         retain_graph: Optional[bool] = None, create_graph: bool = False,
         only_inputs: bool = True, allow_unused: Optional[bool] = None,
         materialize_grads: bool = False):
    """Return the gradients of ``outputs`` with respect to ``inputs``, as a tuple (a
    dict with the same keys when ``inputs`` is a dict, as in torch 2.13).

    Unlike ``backward`` it never reads or writes ``.grad``.  ``grad_outputs`` is the
    vector of the vector-Jacobian product, so gradients chain through an
    intermediate: ``grad(y, x, grad_outputs=dz_dy)`` is ``dz/dx``.  An input that
    the outputs do not depend on is an error unless ``allow_unused=True`` (then
    ``None``) or ``materialize_grads=True`` (then 0).

    >>> from engine import Value, grad
    >>> x = Value(2.0, requires_grad=True); y = x ** 2
    >>> dz_dy, = grad(y ** 3, y, retain_graph=True)
    >>> grad(y, x, grad_outputs=dz_dy)
    (Value(192.0),)
    """
    if materialize_grads and allow_unused is False:
        raise ValueError(
            "Expected allow_unused to be True or not passed when materialize_grads=True, "
            "but got: allow_unused=False."
        )
    allow_unused = bool(allow_unused) or materialize_grads
    # torch's order of checks: outputs, inputs, seeds, then the outputs' and the inputs' flags
    outs = _as_values(outputs, "outputs")
    names = list(inputs) if type(inputs) is dict else None
    ins = _as_values(_mapping_values(inputs, "grad"), "inputs")
    if not ins:
        raise RuntimeError("`inputs` argument to `grad()` cannot be empty.")
    if not only_inputs:
        warnings.warn(
            "only_inputs argument is deprecated and is ignored now (defaults to True). To "
            "accumulate gradient for other parts of the graph, please use torch.autograd.backward.",
            FutureWarning, stacklevel=2,
        )
    seeds = _seeds(grad_outputs, outs)
    _check_outputs(outs)
    for v in ins:
        if not v._requires_grad:
            raise RuntimeError("One of the differentiated Values does not require grad")
    if retain_graph is None:
        retain_graph = create_graph
    keys = [_key(v) for v in ins]
    captured = None
    if not _value.holders_of_user_code and not anomaly_mode.enabled and not _full._observers_open \
            and all(k.__class__ is Value for k in keys):
        captured = _fast_walk(outs, seeds, not retain_graph, create_graph, set(keys))
    if captured is None:
        captured = _walk(outs, seeds, retain_graph, create_graph, set(keys), accumulate=False)
    result = []
    for i, k in enumerate(keys):
        g = captured.get(k)
        if g is None:
            if not allow_unused:
                raise RuntimeError(
                    f"The differentiated Value at index {i} appears to not have been used in "
                    "the graph. Set allow_unused=True if this is the desired behavior."
                )
            # torch's zeros_like(input, requires_grad=create_graph): a Hessian loop goes on
            result.append(Value(0.0, requires_grad=create_graph) if materialize_grads else None)
        else:
            result.append(g if g.__class__ is Value and create_graph else _constant(g))
    if names is not None:
        return dict(zip(names, result))
    return tuple(result)


# ---------------------------------------------------------------------------------
# Argument checking
# ---------------------------------------------------------------------------------

def _mapping_values(x, fn: str):
    """``inputs`` given as a dict stands for its values; another mapping is refused."""
    if type(x) is dict:
        return list(x.values())
    if isinstance(x, Mapping):
        raise TypeError(f"`inputs` argument to `{fn}()` must be a dict, not {type(x).__name__}. "
                        "Other Mapping types are not supported.")
    return x


def _as_values(x, what: str) -> list:
    """A Value, or any iterable of Values (list, tuple, set, generator ...), as a list."""
    if x.__class__ is Value:
        return [x]
    try:
        items = list(x)
    except TypeError:
        raise TypeError(f"{what} must be a Value or a sequence of Values, got {type(x).__name__}") from None
    for v in items:
        if v.__class__ is not Value:
            raise TypeError(f"{what} must be Values, but got an element of type {type(v).__name__}")
    return items


def _seeds(given, outputs: list) -> list:
    """One seed per output: a number, or a Value (kept for create_graph); None means 1."""
    if given is None:
        return [1.0] * len(outputs)
    if given.__class__ is Value or not isinstance(given, (list, tuple)):
        given = [given]
    seeds = []
    for s in given[:len(outputs)]:  # torch zips them: extra seeds are ignored
        if s is None:
            seeds.append(1.0)
        elif s.__class__ is Value:
            seeds.append(s)
        else:
            n = _value._number(s)
            if n is NotImplemented:
                raise TypeError(f"gradients can be either Values, numbers or None, but got {type(s).__name__}")
            seeds.append(n)
    if len(seeds) != len(outputs):
        raise RuntimeError(f"got {len(outputs)} values and {len(seeds)} gradients")
    return seeds


def _check_outputs(outputs: list) -> None:
    for i, v in enumerate(outputs):
        if not v._requires_grad:
            raise RuntimeError(f"element {i} of values does not require grad and does not have a grad_fn")


def _key(v: Value):
    """What identifies where ``v``'s gradient arrives: the leaf, its node, or (node, nr)."""
    node = v._node
    if node is None:
        return v
    if node.__class__ is OutputNr:
        return (node.node, node.nr)
    return node


# ---------------------------------------------------------------------------------
# The fast walk: backward() and grad() in a graph without user code
# ---------------------------------------------------------------------------------
#
# When no hook, retain_grad, custom Function or anomaly trace exists anywhere
# (``value.holders_of_user_code`` is empty), no code but the engine's runs during a
# backward, and the order in which leaves complete cannot be observed.  The walk then
# needs no discovery pass.  Every consumer of a node is newer than it, so running the
# nodes that gradient reaches newest first runs each after all its consumers: torch's
# order.  The walk finds them by scanning creation numbers downwards from the
# outputs': a node is entered in ``pending`` under its number when its first gradient
# arrives (always below the number being scanned), and the scan takes it when it gets
# there.  A graph's numbers are mostly consecutive, so the scan meets few numbers
# with nothing pending; after a run of ``_GAP`` of them (other graphs' nodes, made
# in between), the rest of the walk takes the pending nodes from a heap instead, and
# so never costs more than a heap walk.  A node's incoming gradient is summed in its
# ``_grad_in`` slot; ``_fast_lock`` gives those slots to one walk at a time: a walk
# that finds it taken (another thread's, or a backward that a finalizer started
# during one) takes the general walk, whose state is all its own.

_fast_lock = threading.Lock()
_GAP = 64  # numbers with nothing pending, in a row, before the scan gives way to a heap


def _fast_walk(outputs: list, seeds: list, free: bool, graph: bool = False, targets: Optional[set] = None):
    """Run backward in a graph without user code.  ``targets`` None: accumulate into
    every leaf's ``.grad`` (``backward()``).  ``targets`` a set of leaves: return
    ``{leaf: gradient}`` for them (``grad()``).  Returns None when the general walk
    must run instead: the slots are taken, or (for ``grad()``) a node was freed or has
    no double backward (torch raises only if the node is on a path to an input).
    For ``grad()`` frees wait until the end: a node on no path to an input is not
    freed, as in torch."""
    pending = {}  # creation number -> a node whose first gradient has arrived
    pending_pop = pending.pop
    heap = None  # after a long gap: the pending nodes' negated numbers, newest on top
    leaf_total = {}  # leaf -> its summed gradient
    leaf_get = leaf_total.get
    capture = targets is not None
    strays = False  # grad(): a leaf that is not an input was reached
    ran = [] if capture and free else None  # grad(): the nodes to free at the end
    # Compiled nodes whose gradients all go to leaves they close over (a model's
    # parameters) add them to running totals kept in a list, ``open_totals``, from
    # one such node to the next: ``open_leaves`` is the tuple of those leaves.  They go
    # back to ``leaf_total`` (``_close``) before anything else adds to a leaf.
    open_leaves = open_totals = None
    n = None
    if not _fast_lock.acquire(blocking=False):
        return None  # another walk has the slots (another thread's, or one a finalizer started)
    try:
        previous_mode = set_grad_enabled(graph)
        try:
            for v, s in zip(outputs, seeds):
                if graph:
                    if s.__class__ is not Value:
                        s = make_value(s)  # a constant seed, as torch's ones_like
                elif s.__class__ is Value:
                    s = s._data
                n = v._node
                if n is None:
                    if capture and v not in targets:
                        strays = True
                    else:
                        old = leaf_get(v)
                        leaf_total[v] = s if old is None else old + s
                elif n._grad_in is None:
                    n._grad_in = s
                    pending[n._creation_nr] = n
                else:
                    n._grad_in = n._grad_in + s
            n = None
            nr = max(pending, default=0)  # the scan: every pending node is at or below nr
            misses = 0
            while pending:
                if heap is None:
                    n = pending_pop(nr, None)
                    nr -= 1
                    if n is None:  # a number of another graph, or of a node no gradient reaches
                        misses += 1
                        if misses > _GAP:  # a long stretch of them: a heap from here on
                            heap = [-k for k in pending]
                            heapify(heap)
                        continue
                    misses = 0
                else:
                    n = pending_pop(-heappop(heap))
                g = n._grad_in
                n._grad_in = None
                s0 = n._saved0
                if s0 is _FREED:
                    if capture:
                        return None
                    raise RuntimeError(FREED_MESSAGE)
                # The gradients for input 0 and input 1.  Add, Mul and tanh make four
                # nodes in five of a network (and tanh's backward, of a second backward):
                # their float rules are written out here (the same formulas as their
                # ``vjp`` in ops.py, checked bit for bit by tests/test_core_fast_walk.py),
                # which saves a call or three and a tuple per node.
                k = n.__class__
                if k is AddBackward0:  # (on Values too, under create_graph)
                    g0 = g1 = g
                elif graph:
                    # Under create_graph, Mul's and tanh's derivatives are recorded straight
                    # from the saved numbers and the edges: the Values that ``unpack`` would
                    # wrap them in are never built.  The nodes, edges, saved numbers and
                    # creation order are the vjp's (tests/test_core_fast_walk.py).  (``g`` can be
                    # a number: a vjp's constant zero.)
                    if k is MulBackward0 and g.__class__ is Value:  # g * b for input 0, then g * a for input 1
                        gd = g._data
                        e0, e1 = n._input0, n._input1
                        if e0 is None:
                            g0 = None
                        else:
                            b = e1._data if e1.__class__ is Value else n._saved1  # (a leaf: as unpack reads it)
                            g0 = _binary_to_edge(MulBackward0, gd * b, g, e1, gd, b)
                        if e1 is None:
                            g1 = None
                        else:
                            a = e0._data if e0.__class__ is Value else s0
                            g1 = _binary_to_edge(MulBackward0, gd * a, g, e0, gd, a)
                    elif k is TanhBackward0 and g.__class__ is Value:  # tanh_backward(g, z), z: the saved result
                        gd = g._data
                        g0 = _binary_to_edge(TanhBackwardBackward0, gd * (1.0 - s0 * s0), g, n, gd, s0)
                        g1 = None
                    elif n._custom:
                        return None  # a compiled node has no double backward: the general walk says so if it must
                    else:
                        grads = n.vjp(g, *n.unpack(True))
                        g0 = grads[0]
                        g1 = grads[1] if n._input1 is not None else None
                elif k is MulBackward0:
                    g0 = g * n._saved1
                    g1 = g * s0
                elif k is TanhBackward0:
                    g0 = g * (1.0 - s0 * s0)
                    g1 = None
                elif k is TanhBackwardBackward0:  # a second backward through tanh: (g, z) saved
                    z = n._saved1
                    g0 = g * (1.0 - z * z)
                    g1 = g * ((z * -2) * s0)
                elif n._custom:  # a compiled function's node: many edges (engine/compiled.py)
                    leaves = n._leaves
                    if leaves is not open_leaves:
                        if open_leaves is not None and _close(open_leaves, open_totals, leaf_total, targets):
                            strays = True
                        open_leaves = leaves
                        if leaves is not None:
                            open_totals = [leaf_get(e, -0.0) for e in leaves]  # -0.0 + x is x
                    if leaves is not None:
                        n._trace.backward(g, s0, open_totals)  # adds to them in place
                    elif _deliver_many(n, g, s0, pending, heap, leaf_total, targets):
                        strays = True
                    if free:
                        if capture:
                            ran.append(n)
                        else:
                            n._saved0 = _FREED
                    continue
                else:
                    grads = n.vjp(g, s0, n._saved1)
                    g0 = grads[0]
                    g1 = grads[1] if n._input1 is not None else None
                if free and s0 is not None:
                    if capture:
                        ran.append(n)
                    else:
                        n._saved0 = _FREED
                # Deliver to input 0, then to input 1 (a unary node's _input1 is None).
                e = n._input0
                if e is not None:
                    if e.__class__ is Value:
                        if open_leaves is not None:  # the totals go back before this adds to one
                            strays = _close(open_leaves, open_totals, leaf_total, targets) or strays
                            open_leaves = None
                        if capture and e not in targets:
                            strays = True
                        else:
                            old = leaf_get(e)
                            leaf_total[e] = g0 if old is None else old + g0
                    elif e._grad_in is None:
                        e._grad_in = g0
                        pending[e._creation_nr] = e
                        if heap is not None:
                            heappush(heap, -e._creation_nr)
                    else:
                        e._grad_in = e._grad_in + g0
                e = n._input1
                if e is not None:
                    if e.__class__ is Value:
                        if open_leaves is not None:  # the totals go back before this adds to one
                            strays = _close(open_leaves, open_totals, leaf_total, targets) or strays
                            open_leaves = None
                        if capture and e not in targets:
                            strays = True
                        else:
                            old = leaf_get(e)
                            leaf_total[e] = g1 if old is None else old + g1
                    elif e._grad_in is None:
                        e._grad_in = g1
                        pending[e._creation_nr] = e
                        if heap is not None:
                            heappush(heap, -e._creation_nr)
                    else:
                        e._grad_in = e._grad_in + g1
            n = None
        finally:
            set_grad_enabled(previous_mode)
            if open_leaves is not None and _close(open_leaves, open_totals, leaf_total, targets):
                strays = True
            if n is not None:  # stopped at node n: leave no gradient behind in the graph
                waiting = [n] + list(pending.values())
                for m in waiting:
                    m._grad_in = None
                if not capture:  # backward(): torch has accumulated the leaves already complete
                    yet_to_run, _, _ = _discover(waiting)
                    _flush_ready_leaves(yet_to_run, 0, leaf_total, False, None, True, {}, None)
    finally:
        _fast_lock.release()
    if capture:
        if ran:
            needed = _needed(ran, targets, False) if strays else None
            for m in ran:
                if needed is None or m in needed:
                    m._saved0 = _FREED
        return leaf_total
    with _grad_lock:
        added = False
        for leaf, g in leaf_total.items():
            old = leaf._grad
            if old is None:
                leaf._grad = make_value(g)
            else:
                old._data += g  # in place: the same .grad object, as in torch
                added = True
        if added:
            state_changed()  # a compiled function may read that .grad
    return leaf_total


def _deliver_many(n, g, saved, pending: dict, heap: Optional[list], leaf_total: dict,
                  targets: Optional[set]) -> bool:
    """The fast walk's step for a compiled function's node: its generated backward adds
    each contribution to the running total of the edge it goes to (a leaf's total, or
    a node's incoming gradient, -0.0 when none has arrived: -0.0 + x is x), as the
    main loop adds them one at a time.  Returns whether it reached a leaf that
    ``grad()`` did not ask for."""
    t = n._trace
    edges = n._edges
    reached = [edges[k] for k in t.slots]
    totals = []
    for e in reached:
        if e.__class__ is Value:
            totals.append(leaf_total.get(e, -0.0))
        else:
            gi = e._grad_in
            totals.append(-0.0 if gi is None else gi)
    strays = False
    for e, total in zip(reached, t.backward(g, saved, totals)):
        if e.__class__ is Value:
            if targets is not None and e not in targets:
                strays = True
                continue
            leaf_total[e] = total
        elif e._grad_in is None:
            e._grad_in = total
            pending[e._creation_nr] = e
            if heap is not None:
                heappush(heap, -e._creation_nr)
        else:
            e._grad_in = total
    return strays


def _close(leaves: tuple, totals, leaf_total: dict, targets: Optional[set]) -> bool:
    """Put the running totals of ``leaves`` (see ``open_totals`` in ``_fast_walk``) back
    in ``leaf_total``.  Returns whether one of them is a leaf ``grad()`` did not ask for."""
    if targets is None:
        leaf_total.update(zip(leaves, totals))
        return False
    strays = False
    for e, total in zip(leaves, totals):
        if e in targets:
            leaf_total[e] = total
        else:
            strays = True
    return strays
