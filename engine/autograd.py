"""The backward pass: order the graph, run each node once, free, accumulate, hook.

``backward`` and ``grad`` both call ``_walk``, which does what torch's engine does:

1. seed each output with its gradient (1 by default);
2. find every node reachable from the outputs (an explicit stack: no recursion, so a
   graph a million nodes deep is fine) and, when the moment a leaf's gradient is
   complete can be observed (a leaf has hooks, or user code runs in the graph),
   count the edges into the leaves;
3. run the nodes newest first (by creation number).  A node's consumers were all
   created after it, so by then its gradient is complete: this is a topological
   order, the same one torch's ready queue produces;
4. each node hands one gradient to each input: summed into a buffer for a node,
   into the leaf's total for a leaf.  When a counted leaf's last edge has delivered,
   its hooks run and the total is added to ``.grad``; the others are added at the end;
5. without ``retain_graph`` each node that ran and saved values is marked freed;
   running it again raises.  A node runs even if only missing gradients (None)
   reached it, as torch's do: its hooks see None and it is freed.

All of a walk's state is its own (the nodes it has seen, the gradients in flight), so
several threads can walk one graph at once.

With ``create_graph=True`` the nodes run on Values instead of floats, with grad mode
on, so the gradients that come out are themselves differentiable.

>>> from engine import Value, grad
>>> x = Value(3.0, requires_grad=True)
>>> dy, = grad(x ** 3, x, create_graph=True)
>>> dy, grad(dy, x)
(Value(27.0, grad_fn=<MulBackward0>), (Value(18.0),))
"""

from __future__ import annotations

import os
import threading
import traceback
import warnings
from heapq import heappop, heappush
from operator import attrgetter
from collections.abc import Callable, Mapping
from typing import Optional, Sequence, Union

from . import events as _trace
from . import value as _value
from .grad_mode import state as _grad_mode
from .value import FREED_MESSAGE, OutputNr, Value, _FREED, make_value

__all__ = ["backward", "grad"]

Values = Union[Value, Sequence[Value]]
Seeds = Union[float, int, Value, Sequence[Union[float, int, Value, None]], None]

_by_newest = attrgetter("_creation_nr")


class _AnomalyMode:
    """Switched by ``engine.detect_anomaly``; read once per backward."""

    enabled = False
    check_nan = True
    running = None  # the node whose backward is running: parent of the nodes it creates


anomaly_mode = _AnomalyMode()
_ENGINE_DIR = os.path.dirname(os.path.abspath(__file__))
_plain_unary, _plain_binary = _value._unary, _value._binary


def record_creation(node) -> None:
    """Anomaly mode: remember where in the user's code ``node`` was created."""
    stack = traceback.extract_stack()
    while stack and os.path.dirname(os.path.abspath(stack[-1].filename)) == _ENGINE_DIR:
        stack.pop()
    meta = _value.extras_of(node)
    meta.trace = stack
    meta.parent = anomaly_mode.running


def _tracing_unary(*args):
    out = _plain_unary(*args)
    if out._node is not None:
        record_creation(out._node)
    return out


def _tracing_binary(*args):
    out = _plain_binary(*args)
    if out._node is not None:
        record_creation(out._node)
    return out


def set_anomaly(enabled: bool, check_nan: bool = True) -> None:
    """Turn anomaly mode on or off.  On, every new node records where it was created
    (the op helpers are swapped for tracing ones, so off costs nothing)."""
    anomaly_mode.enabled = bool(enabled)
    anomaly_mode.check_nan = bool(check_nan)
    _value._unary = _tracing_unary if enabled else _plain_unary
    _value._binary = _tracing_binary if enabled else _plain_binary


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
            and not _observers_open:
        _fast_walk(outputs, seeds, free=not retain_graph)
        return
    _walk(outputs, seeds, retain_graph, create_graph, targets, accumulate=True)


def grad(outputs: Values, inputs: Union[Values, dict], grad_outputs: Seeds = None,
         retain_graph: Optional[bool] = None, create_graph: bool = False,
         only_inputs: bool = True, allow_unused: Optional[bool] = None,
         materialize_grads: bool = False):
    """Return the gradients of ``outputs`` with respect to ``inputs``, as a tuple.

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
    if not _value.holders_of_user_code and not anomaly_mode.enabled and not _observers_open \
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


def _constant(g) -> Value:
    """A gradient as a fresh Value with no history."""
    return make_value(g._data if g.__class__ is Value else g)


def _as_hook_arg(g) -> Optional[Value]:
    return g if g is None or g.__class__ is Value else _constant(g)


def _hook_result(r, g):
    if r is None:
        return g
    if r.__class__ is not Value:
        raise TypeError(f"expected Value, but hook returned '{type(r).__name__}'")
    return r


# ---------------------------------------------------------------------------------
# The walk
# ---------------------------------------------------------------------------------
#
# Everything a walk knows lives in its own locals (``buf``, ``leaf_total``, ``seen``,
# ``needed``): nothing is written on the shared nodes except what torch writes there
# too (freed saved values, retained and accumulated grads), so several threads can
# walk the same graph at once.  Adding to a ``.grad`` takes ``_grad_lock``, as torch's
# AccumulateGrad takes the leaf's mutex.

_grad_lock = threading.Lock()


# ---------------------------------------------------------------------------------
# The observer seam (engine.viz.record_backward)
# ---------------------------------------------------------------------------------
#
# A walk reads ``_observers_open`` once: while it is 0 (no recorder open in any
# thread) nothing else is looked at and every node takes the plain path.  Otherwise
# the walk looks up this thread's observer once; with one, every node takes the
# general path (as in anomaly mode) and the observed helpers below report each step
# as an ``engine.events`` event.  The hot loop itself is untouched.

_observers_open = 0
_observer_of_thread = threading.local()
_observer_lock = threading.Lock()


def set_observer(observer: Optional[Callable[[object], None]]) -> Optional[Callable[[object], None]]:
    """Install ``observer`` (a callable taking one ``engine.events`` event, or None to
    stop) for walks run by this thread; return the one it replaces."""
    global _observers_open
    with _observer_lock:
        previous = getattr(_observer_of_thread, "observer", None)
        _observer_of_thread.observer = observer
        _observers_open += (observer is not None) - (previous is not None)
    return previous


def _walk(outputs: list, seeds: list, keep_graph: bool, graph: bool, targets: Optional[set],
          accumulate: bool) -> dict:
    """Run backward from ``outputs``.  ``targets``: None (every leaf) or the keys to
    deliver to (``_key``).  Returns the gradients that arrived at ``targets``."""
    buf = {}  # node -> summed gradient; multi-output node -> list of them
    leaf_total = {}  # leaf -> summed gradient
    obs = getattr(_observer_of_thread, "observer", None) if _observers_open else None
    for v, s in zip(outputs, seeds):
        if graph:
            if s.__class__ is not Value:
                s = make_value(s)  # a constant seed, as torch's ones_like: formulas then read grad * x
        elif s.__class__ is Value:
            s = s._data
        _deliver(v._node or v, s, buf, leaf_total)
        if obs is not None:
            obs(_trace.Seed(v._node or v, _trace.number(s)))
    nodes, waiting, strays = _discover(list(buf), targets)
    # Only nodes on a path to a target run.  When every leaf reached is a target (and
    # all targets are leaves), that is every node: no need to work it out.
    if targets is None or (not strays and all(t.__class__ is Value for t in targets)):
        needed = None
    else:
        needed = _needed(nodes, targets, accumulate)
    captured = {}
    # One output: torch starts the walk at its node itself (not at a GraphRoot), so that
    # node's tensor hooks run even when it leads to no requested input.
    lone_root = None
    if len(outputs) == 1:
        lone_root = outputs[0]._node or outputs[0]
        if lone_root.__class__ is OutputNr:
            lone_root = lone_root.node
    anomaly = anomaly_mode.enabled
    general = anomaly or obs is not None  # every node on the general path
    free = not keep_graph
    pop, buf_get, leaf_get, waiting_get = buf.pop, buf.get, leaf_total.get, waiting.get
    previous_mode = _grad_mode.enabled
    _grad_mode.enabled = graph
    n = None
    try:
        if lone_root is not None and lone_root.__class__ is Value and targets is not None \
                and lone_root not in targets:
            _run_leaf_hooks(lone_root, leaf_total[lone_root], graph, obs)  # torch runs a lone root anyway
        if leaf_total:  # outputs that are leaves: done now, unless a node also feeds them
            fed = {e for m in nodes for e in m._inputs if e.__class__ is Value}
            for leaf in [leaf for leaf in leaf_total if leaf not in fed]:
                _finish_leaf(leaf, leaf_total.pop(leaf), graph, targets, accumulate, captured, obs)
        for n in nodes:
            g = pop(n, None)
            if n._extras is None and g is not None and not general:
                # The hot path: a built-in node with no hooks (custom nodes always have _extras).
                if targets is not None:
                    if n in targets:
                        captured[n] = g
                    if needed is not None and n not in needed:
                        continue  # not on a path to the requested inputs
                s0 = n._saved0
                if s0 is _FREED:
                    raise RuntimeError(FREED_MESSAGE)
                grads = n.vjp(g, *n.unpack(True)) if graph else n.vjp(g, s0, n._saved1)
                if free and s0 is not None:
                    n._saved0 = _FREED
                edges = (n._input0, n._input1)
            else:
                if obs is not None:
                    _observed_step(n, g, buf, leaf_total, waiting, (graph, targets, accumulate, captured),
                                   keep_graph, anomaly, needed, lone_root, obs)
                    continue
                grads = _run_node(n, g, graph, keep_graph, anomaly, targets, needed, captured, lone_root)
                if grads is None:
                    continue  # not on a path to the requested inputs
                edges = n._inputs
            # Two edge slots, one gradient per input: a unary node returns one gradient and
            # its second slot is None, so zip stops after the first on purpose.  (Not
            # zip(strict=False): keyword arguments make zip measurably slower per node.)
            for e, gi in zip(edges, grads):
                if e is None:
                    continue
                k = e.__class__
                if k is Value:
                    if gi is not None:
                        old = leaf_get(e)
                        leaf_total[e] = gi if old is None else old + gi
                    left = waiting_get(e)
                    if left is not None:  # a leaf whose moment of completion is observable
                        if left == 1:
                            _finish_leaf(e, leaf_total.pop(e, None), graph, targets, accumulate, captured)
                        waiting[e] = left - 1
                elif gi is None:
                    continue  # the node still runs (torch passes it an undefined gradient)
                elif k is OutputNr:
                    _deliver(e, gi, buf, leaf_total)
                else:
                    old = buf_get(e)
                    buf[e] = gi if old is None else old + gi
        n = None
    finally:
        if n is not None:  # a node raised: deliver what torch would have, then re-raise
            _flush_ready_leaves(nodes, nodes.index(n), leaf_total, graph, targets, accumulate, captured, obs)
        _grad_mode.enabled = previous_mode
    for leaf, g in leaf_total.items():
        _finish_leaf(leaf, g, graph, targets, accumulate, captured, obs)
    return captured


# ---------------------------------------------------------------------------------
# The fast walk: backward() on floats, in a graph without user code
# ---------------------------------------------------------------------------------
#
# When no hook, retain_grad, custom Function or anomaly trace exists anywhere
# (``value.holders_of_user_code`` is empty), no code but the engine's runs during a
# backward, and the order in which leaves complete cannot be observed.  The walk then
# needs no discovery pass: a node enters a heap, keyed by its creation number, when
# its first gradient arrives, and the newest node in the heap runs next.  Every
# consumer of a node is newer than it, and a consumer that has yet to run would be
# newer than something in the heap, so a node runs after all its consumers: torch's
# order, found as the walk goes.  A node's incoming gradient is summed in its
# ``_grad_in`` slot; ``_fast_lock`` gives that slot to one walk at a time (a walk
# runs no user code, so it never waits on another).

_fast_lock = threading.Lock()


def _fast_walk(outputs: list, seeds: list, free: bool, graph: bool = False, targets: Optional[set] = None):
    """Run backward in a graph without user code.  ``targets`` None: accumulate into
    every leaf's ``.grad`` (``backward()``).  ``targets`` a set of leaves: return
    ``{leaf: gradient}`` for them (``grad()``), or None when the general walk must
    decide (a node whose saved values were freed: torch raises only if the node is on
    a path to an input).  For ``grad()`` frees wait until the end: a node on no path
    to an input is not freed, as in torch."""
    heap = []  # (-creation number, node): the newest node on top
    leaf_total = {}  # leaf -> its summed gradient
    leaf_get = leaf_total.get
    capture = targets is not None
    strays = False  # grad(): a leaf that is not an input was reached
    ran = [] if capture and free else None  # grad(): the nodes to free at the end
    previous_mode = _grad_mode.enabled
    n = None
    with _fast_lock:
        _grad_mode.enabled = graph
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
                    heappush(heap, (-n._creation_nr, n))
                else:
                    n._grad_in = n._grad_in + s
            n = None
            while heap:
                n = heappop(heap)[1]
                g = n._grad_in
                n._grad_in = None
                s0 = n._saved0
                if s0 is _FREED:
                    if capture:
                        return None
                    raise RuntimeError(FREED_MESSAGE)
                grads = n.vjp(g, *n.unpack(True)) if graph else n.vjp(g, s0, n._saved1)
                if free and s0 is not None:
                    if capture:
                        ran.append(n)
                    else:
                        n._saved0 = _FREED
                # Deliver to input 0, then to input 1 (a unary node's _input1 is None).
                e = n._input0
                if e is not None:
                    gi = grads[0]
                    if e.__class__ is Value:
                        if capture and e not in targets:
                            strays = True
                        else:
                            old = leaf_get(e)
                            leaf_total[e] = gi if old is None else old + gi
                    elif e._grad_in is None:
                        e._grad_in = gi
                        heappush(heap, (-e._creation_nr, e))
                    else:
                        e._grad_in = e._grad_in + gi
                e = n._input1
                if e is not None:
                    gi = grads[1]
                    if e.__class__ is Value:
                        if capture and e not in targets:
                            strays = True
                        else:
                            old = leaf_get(e)
                            leaf_total[e] = gi if old is None else old + gi
                    elif e._grad_in is None:
                        e._grad_in = gi
                        heappush(heap, (-e._creation_nr, e))
                    else:
                        e._grad_in = e._grad_in + gi
            n = None
        finally:
            _grad_mode.enabled = previous_mode
            if n is not None:  # stopped at node n: leave no gradient behind in the graph
                waiting = [n] + [m for _, m in heap]
                for m in waiting:
                    m._grad_in = None
                if not capture:  # backward(): torch has accumulated the leaves already complete
                    pending, _, _ = _discover(waiting)  # every node yet to run
                    _flush_ready_leaves(pending, 0, leaf_total, False, None, True, {}, None)
    if capture:
        if ran:
            needed = _needed(ran, targets, False) if strays else None
            for m in ran:
                if needed is None or m in needed:
                    m._saved0 = _FREED
        return leaf_total
    with _grad_lock:
        for leaf, g in leaf_total.items():
            old = leaf._grad
            if old is None:
                leaf._grad = make_value(g)
            else:
                old._data += g  # in place: the same .grad object, as in torch
    return None


def _discover(roots: list, targets: Optional[set] = None):
    """Every node reachable from ``roots``, newest first; ``waiting``: for the
    leaves whose moment of completion someone can observe, how many edges reach
    them; and whether some leaf reached is not in ``targets`` (when given).

    An explicit stack: a graph a million nodes deep is fine.  The nodes seen are
    kept in a set of this walk's own, never marked on the nodes (another thread may
    be walking them).  When the graph holds user code (hooks on nodes or leaves,
    custom Functions), every leaf's incoming edges are counted, so that it finishes
    (hooks, then ``.grad``) at the moment torch's AccumulateGrad would run: user
    code that runs later sees it.  Otherwise leaves simply accumulate at the end.
    """
    waiting = {}
    strays = []
    seen = set(roots)
    nodes = list(roots)
    stack = list(roots)
    pop, push, keep, add = stack.pop, stack.append, nodes.append, seen.add
    look_at_leaves = targets is not None  # (else only leaves with hooks matter here)

    def visit(e) -> None:  # the general case: any edge of any node
        if e is None:
            return
        if e.__class__ is Value:
            if e._leaf_hooks is not None:
                waiting[e] = 0
            if targets is not None and e not in targets:
                strays.append(e)
            return
        if e.__class__ is OutputNr:
            e = e.node
        if e not in seen:
            add(e)
            push(e)
            keep(e)

    user_code = False
    while stack:
        n = pop()
        meta = n._extras
        if meta is not None:
            if n._runs_user_code or meta.prehooks or meta.posthooks or meta.tensor_hooks:
                user_code = True
            for e in n._inputs:
                visit(e)
            continue
        # A built-in node: its two edge slots, unrolled (this loop is hot).
        e = n._input0
        if e is not None:
            if e.__class__ is Value:
                if e._leaf_hooks is not None or look_at_leaves:
                    visit(e)
            elif e.__class__ is OutputNr:
                visit(e)
            elif e not in seen:
                add(e)
                push(e)
                keep(e)
        e = n._input1
        if e is not None:
            if e.__class__ is Value:
                if e._leaf_hooks is not None or look_at_leaves:
                    visit(e)
            elif e.__class__ is OutputNr:
                visit(e)
            elif e not in seen:
                add(e)
                push(e)
                keep(e)
    if user_code or waiting:
        waiting.clear()
        count = waiting.get
        for n in nodes:
            for e in n._inputs:
                if e.__class__ is Value:
                    waiting[e] = count(e, 0) + 1
    nodes.sort(key=_by_newest, reverse=True)
    return nodes, waiting, bool(strays)


def _flush_ready_leaves(nodes: list, failed_at: int, leaf_total: dict, *finish_args) -> None:
    """After node ``nodes[failed_at]`` raised: finish the leaves whose every edge had
    delivered (torch would already have accumulated them), keep the others out."""
    pending = {e for n in nodes[failed_at:] for e in n._inputs if e.__class__ is Value}
    for leaf in [leaf for leaf in leaf_total if leaf not in pending]:
        _finish_leaf(leaf, leaf_total.pop(leaf), *finish_args)
    leaf_total.clear()


def _run_node(n, g, graph: bool, keep_graph: bool, anomaly: bool, targets, needed, captured: dict,
              lone_root=None, obs=None):
    """Run one node on the general path: hooks, capture for ``grad()``, custom
    Functions, create_graph, anomaly mode, a node that got no gradient, an observer.
    Returns its input gradients, or None if the node is not on a path to the
    requested inputs."""
    runs = needed is None or n in needed
    meta = n._extras
    if not runs:
        # torch does not run it; if grad() asked for its gradient (or it is the lone
        # root), the tensor hooks still see it (not the node's own pre-hooks).
        if meta is not None and (n is lone_root or _is_captured(n, targets)):
            _node_prologue(n, g, False, targets, captured, graph, obs)
        elif targets is not None and n in targets:
            captured[n] = g
        return None
    saved = ()
    if obs is not None:
        saved = _trace.saved_numbers(n)
        obs(_trace.NodeStart(n, _trace.number(g), saved))
    if meta is not None:
        g = _node_prologue(n, g, True, targets, captured, graph, obs)
    elif targets is not None and n in targets:
        captured[n] = g
    if anomaly:
        grads = _run_node_anomalous(n, g, graph, keep_graph)
    else:
        grads = _apply(n, g, graph, keep_graph)
    if saved and not keep_graph and not _trace.saved_numbers(n):  # (only when observed) now freed
        obs(_trace.Freed(n, _trace.freed_names(n)))
    if meta is not None and meta.posthooks:
        if needed is not None:  # torch computes no gradient for an input it will not use
            grads = [gi if _wanted(e, targets, needed) else None for e, gi in zip(n._inputs, grads)]
        grads = _node_posthooks(n, grads, g, graph, obs)
    return grads


def _observed_step(n, g, buf: dict, leaf_total: dict, waiting: dict, finish_args: tuple,
                   keep_graph: bool, anomaly: bool, needed, lone_root, obs) -> None:
    """The walk's step for node ``n`` while an observer watches: what the main loop
    does (``_run_node``, then one delivery per edge), each thing reported as it
    happens.  Under create_graph, the nodes that ``n``'s backward recorded (those
    newer than a sequence number taken first, reachable from the gradients it made)
    are reported too."""
    graph, targets, accumulate, captured = finish_args
    newer_than = _value._next_seq() if graph else None
    try:
        grads = _run_node(n, g, graph, keep_graph, anomaly, targets, needed, captured, lone_root, obs)
    except Exception as exc:
        obs(_trace.Raised(n, type(exc).__name__, str(exc)))
        raise
    if grads is None:
        return
    made = [gi for gi in grads if gi.__class__ is Value]
    number = _trace.number
    for nr, (e, gi) in enumerate(zip(n._inputs, grads)):
        if e is None:
            continue
        k = e.__class__
        if k is Value:
            if gi is not None:
                obs(_trace.Deliver(n, e, nr, number(gi)))
                old = leaf_total.get(e)
                leaf_total[e] = gi if old is None else old + gi
                if old is not None:
                    made.append(leaf_total[e])
                    obs(_trace.Sum(e, number(old), number(gi), number(leaf_total[e])))
            left = waiting.get(e)
            if left is not None:
                if left == 1:
                    _finish_leaf(e, leaf_total.pop(e, None), graph, targets, accumulate, captured, obs)
                waiting[e] = left - 1
        elif gi is not None:
            target = e.node if k is OutputNr else e
            slot = buf.get(target)
            old = slot[e.nr] if k is OutputNr and slot is not None else slot
            obs(_trace.Deliver(n, target, nr, number(gi)))
            _deliver(e, gi, buf, leaf_total)
            if old is not None:
                total = buf[target][e.nr] if k is OutputNr else buf[target]
                made.append(total)
                obs(_trace.Sum(target, number(old), number(gi), number(total)))
    if newer_than is not None:
        for node in _new_nodes(made, newer_than):
            obs(_trace.NodeCreated(node, n))


def _new_nodes(values: list, newer_than: int) -> list:
    """The nodes behind ``values`` created after sequence number ``newer_than``,
    oldest first (an explicit stack: no recursion)."""
    found = {}
    stack = [v._node for v in values if v.__class__ is Value and v._node is not None]
    while stack:
        node = stack.pop()
        if node.__class__ is OutputNr:
            node = node.node
        if node in found or node._creation_nr <= newer_than:
            continue
        found[node] = None
        stack.extend(e for e in node._inputs if e is not None and e.__class__ is not Value)
    return sorted(found, key=_by_newest)


def _wanted(e, targets: set, needed: set) -> bool:
    """Whether the gradient for edge ``e`` is used: torch's ``should_compute_output``."""
    k = e.__class__
    if e is None:
        return False
    if k is Value:
        return e in targets
    if k is OutputNr:
        return e.node in needed or (e.node, e.nr) in targets
    return e in needed or e in targets


def _is_captured(n, targets) -> bool:
    if targets is None:
        return False
    if n in targets:
        return True
    return any((n, nr) in targets for nr in range(getattr(n, "_n_outputs", 1)))


def _apply(n, g, graph: bool, keep_graph: bool):
    """Call node ``n``'s derivative on gradient ``g``; free what it saved unless kept.
    A built-in node that got no gradient (a custom backward returned None) still
    frees, and passes no gradient on, as torch's nodes do."""
    if n._custom:
        return n._run(g, graph, keep_graph)
    s0 = n._saved0
    if s0 is _FREED:
        raise RuntimeError(FREED_MESSAGE)
    if g is None:
        grads = (None,) * len(n._inputs)
    else:
        grads = n.vjp(g, *n.unpack(True)) if graph else n.vjp(g, s0, n._saved1)
    if not keep_graph and s0 is not None:
        n._saved0 = _FREED
    return grads


def _deliver(edge, g, buf: dict, leaf_total: dict) -> None:
    """Add gradient ``g`` to what has arrived at ``edge`` so far."""
    k = edge.__class__
    if k is Value:
        old = leaf_total.get(edge)
        leaf_total[edge] = g if old is None else old + g
    elif k is OutputNr:
        slots = buf.get(edge.node)
        if slots is None:
            slots = buf[edge.node] = [None] * edge.node._n_outputs
        old = slots[edge.nr]
        slots[edge.nr] = g if old is None else old + g
    else:
        old = buf.get(edge)
        buf[edge] = g if old is None else old + g


def _needed(nodes: list, targets: set, accumulate: bool) -> set:
    """The nodes that lead to a target: only they run (and are freed), as in torch.
    For ``backward(inputs=[m])`` with a non-leaf ``m``, ``m``'s own node runs too."""
    needed = set()
    if accumulate:
        for t in targets:
            if t.__class__ is tuple:
                needed.add(t[0])
            elif t.__class__ is not Value:
                needed.add(t)
    for n in reversed(nodes):  # oldest first: a node's inputs are decided before it
        for e in (n._input0, n._input1) if n._extras is None else n._inputs:
            if e is None:
                continue
            k = e.__class__
            if k is Value:
                hit = e in targets
            elif k is OutputNr:
                hit = e.node in needed or (e.node, e.nr) in targets
            else:
                hit = e in needed or e in targets
            if hit:
                needed.add(n)
                break
    return needed


def _node_prologue(n, g, runs: bool, targets, captured: dict, graph: bool, obs=None):
    """Capture, tensor hooks and retain_grad for the outputs of node ``n``; then, if
    it runs, its pre-hooks.

    The tensor hooks of all outputs run in the order they were registered.  A
    gradient asked for by ``grad()`` is taken before the hooks if the node runs
    anyway, after them if not (torch's rule).  ``retain_grad`` stores it after all
    hooks.  A missing gradient (None) is shown to the hooks as None, as torch does.
    """
    meta = n._extras
    multi = g.__class__ is list or (g is None and getattr(n, "_n_outputs", 1) > 1)
    grads = (g if g is not None else [None] * n._n_outputs) if multi else [g]
    wanted = ()
    if targets is not None:
        wanted = [nr for nr in range(len(grads)) if ((n, nr) if multi else n) in targets]
    if runs:
        for nr in wanted:
            captured[(n, nr) if multi else n] = grads[nr]
    for nr, fn in _by_output(meta.tensor_hooks):
        gi = grads[nr]
        r = fn(_as_hook_arg(gi))
        if obs is not None:
            obs(_trace.HookFired("tensor", n, fn, _trace.number(r)))
        gi = _hook_result(r, gi)
        grads[nr] = gi._data if not graph and gi.__class__ is Value else gi
    if not runs:
        for nr in wanted:
            captured[(n, nr) if multi else n] = grads[nr]
    for nr, ref in list(meta.retain.items()):
        v = ref()
        gi = grads[nr]
        if v is not None and gi is not None:
            with _grad_lock:
                if graph:
                    if v._grad is not None:
                        v._grad = v._grad + gi
                    elif gi.__class__ is Value and gi._requires_grad:  # torch stores grad.clone()
                        v._grad = _value._unary(_value.CloneBackward0, gi._data, gi, None)
                    else:
                        v._grad = _as_hook_arg(gi)
                else:
                    total = gi if v._grad is None else v._grad._data + gi
                    v._grad = _constant(total)
    if runs and meta.prehooks:
        outs = tuple(_as_hook_arg(x) for x in grads)
        for fn in list(meta.prehooks.values()):
            r = fn(outs)
            if obs is not None:
                obs(_trace.HookFired("pre", n, fn, _trace.number(r)))
            if r is not None:
                outs = tuple(r)
        grads = [x if graph or x is None else x._data for x in outs]
    return grads if multi else grads[0]


def _by_output(tensor_hooks: dict) -> list:
    """The tensor hooks of a node's outputs in torch's order: output by output, in the
    order each output got its first hook, then each output's hooks as registered."""
    hooks = list(tensor_hooks.values())
    if len({nr for nr, _ in hooks}) > 1:
        first = {}
        for i, (nr, _) in enumerate(hooks):
            first.setdefault(nr, i)
        hooks.sort(key=lambda h: first[h[0]])  # stable: registration order within an output
    return hooks


def _node_posthooks(n, grads, g, graph: bool, obs=None):
    ins = tuple(_as_hook_arg(x) for x in grads)
    outs = tuple(_as_hook_arg(x) for x in (g if g.__class__ is list else [g]))
    for fn in list(n._extras.posthooks.values()):
        r = fn(ins, outs)
        if obs is not None:
            obs(_trace.HookFired("post", n, fn, _trace.number(r)))
        if r is not None:
            ins = tuple(r)
    return [x if graph or x is None else x._data for x in ins]


def _run_leaf_hooks(leaf: Value, g, graph: bool, obs=None):
    """Run ``leaf``'s tensor hooks on its gradient ``g``; return the gradient after them."""
    hooks = leaf._leaf_hooks.get("hooks") if leaf._leaf_hooks is not None else None
    if hooks:
        for fn in list(hooks.values()):
            r = fn(_as_hook_arg(g))
            if obs is not None:
                obs(_trace.HookFired("tensor", leaf, fn, _trace.number(r)))
            g = _hook_result(r, g)
        if not graph and g.__class__ is Value:
            g = g._data
    return g


def _finish_leaf(leaf: Value, g, graph: bool, targets, accumulate: bool, captured: dict, obs=None) -> None:
    """All of ``leaf``'s gradient has arrived (``g``; None if only missing gradients
    did): hooks, then capture or accumulate, then the post-accumulate hooks.  This is
    torch's AccumulateGrad node."""
    if targets is not None and leaf not in targets:
        return
    g = _run_leaf_hooks(leaf, g, graph, obs)
    if not accumulate:
        captured[leaf] = g
        return
    if g is not None:
        with _grad_lock:
            old = leaf._grad
            before = None if old is None or obs is None else old._data  # (an in-place add changes it)
            if not graph:
                if old is None:
                    leaf._grad = _constant(g)
                else:
                    old._data += g  # in place: the same .grad object, as in torch
            elif old is None:
                if g.__class__ is Value and g._requires_grad:
                    leaf._grad = _value._binary(_value.CopyBackwards, g._data, _value._NO_GRAPH, g, None, None)
                else:
                    leaf._grad = _constant(g)
            else:
                new = old + g  # out of place: the old .grad is left as it was
                leaf._grad = new if new.__class__ is Value else _constant(new)
        if obs is not None:
            obs(_trace.Accumulate(leaf, before, leaf._grad._data))
    post = leaf._leaf_hooks.get("post") if leaf._leaf_hooks is not None else None
    if post:
        for fn in list(post.values()):
            r = fn(leaf)
            if obs is not None:
                obs(_trace.HookFired("post_accumulate", leaf, fn, _trace.number(r)))
            if r is not None and r is not leaf:
                if r.__class__ is not Value:
                    raise TypeError(f"expected Value, but hook returned '{type(r).__name__}'")
                raise RuntimeError("Value post accumulate grad hooks should return None.")


def _run_node_anomalous(n, g, graph: bool, keep_graph: bool):
    """Run node ``n`` in anomaly mode: check for nan, and say where the op was made
    (and, for a node made by a create_graph backward, which backward made it)."""
    outer, anomaly_mode.running = anomaly_mode.running, n
    try:
        grads = _apply(n, g, graph, keep_graph)
        if anomaly_mode.check_nan:
            for i, (e, gi) in enumerate(zip(n._inputs, grads)):
                if e is None:
                    continue  # an input that needs no gradient: torch does not compute it
                x = gi._data if gi.__class__ is Value else gi
                if x is not None and x != x:
                    raise RuntimeError(f"Function '{n.name()}' returned nan values in its {i}th output.")
        return grads
    except Exception:
        meta = n._extras
        if meta is not None and meta.trace is not None:
            warnings.warn(f"Error detected in {n.name()}. Traceback of forward call that caused the error:\n"
                          + "".join(traceback.format_list(meta.trace)), UserWarning, stacklevel=2)
            parent = meta.parent
            while parent is not None and parent._extras is not None and parent._extras.trace is not None:
                warnings.warn(
                    f"Previous calculation was induced by {parent.name()}. Traceback of forward call that "
                    "induced the previous calculation:\n" + "".join(traceback.format_list(parent._extras.trace)),
                    UserWarning, stacklevel=2)
                parent = parent._extras.parent
        raise
    finally:
        anomaly_mode.running = outer


_value.install_backward(lambda v, gradient, retain_graph, create_graph, inputs=None: backward(
    v, gradient, retain_graph, create_graph, inputs=inputs))
