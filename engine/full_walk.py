"""The general walk: backward with every torch corner.

``autograd.py`` takes its fast walk whenever it can; everything else comes here:
hooks on Values and nodes, ``retain_grad``, ``inputs=`` that are not leaves, custom
Functions, anomaly mode, the recorder of ``engine.viz`` (the observer seam below), and
``backward(create_graph=True)``.  ``_walk`` does what
torch's engine does:

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

>>> from engine import Value
>>> x = Value(3.0, requires_grad=True)
>>> h = x.register_hook(lambda g: g * 10)  # user code in the walk: this one runs here
>>> (x * x).backward(); x.grad
Value(60.0)
>>> h.remove()
"""

from __future__ import annotations

import threading
import traceback
import warnings
from operator import attrgetter
from collections.abc import Callable
from typing import Optional

from . import events as _trace
from . import value as _value
from .anomaly import anomaly_mode
from .grad_mode import set_enabled as set_grad_enabled
from .ops import CloneBackward0, CopyBackwards
from .value import FREED_MESSAGE, OutputNr, Value, _FREED, _NO_GRAPH, make_value, state_changed

__all__ = ["set_observer"]

_by_newest = attrgetter("_creation_nr")


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
    previous_mode = set_grad_enabled(graph)
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
            if n._extras is None and g is not None and not general and not n._custom:
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
                grads = _run_node(n, g, graph, keep_graph, anomaly, targets, needed, captured, lone_root,
                                  totals=_Totals(buf, leaf_total) if n._running_totals else None)
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
        set_grad_enabled(previous_mode)
    for leaf, g in leaf_total.items():
        _finish_leaf(leaf, g, graph, targets, accumulate, captured, obs)
    return captured


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
        if meta is not None or n._custom:
            if n._runs_user_code or (meta is not None and (meta.prehooks or meta.posthooks or meta.tensor_hooks)):
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
              lone_root=None, obs=None, totals=None):
    """Run one node on the general path: hooks, capture for ``grad()``, custom
    Functions, create_graph, anomaly mode, a node that got no gradient, an observer.
    Returns its input gradients, or None if the node is not on a path to the
    requested inputs.  A compiled call given ``totals`` adds its contributions to
    the running totals of its edges itself, as on the fast walk, so that they are
    the eager ones bit for bit, and returns no gradient for any edge; it cannot
    when a post-hook on it wants one gradient per edge."""
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
    elif totals is not None and not graph and not (meta is not None and meta.posthooks):
        n._add_to_totals(g, keep_graph, totals.get, totals.set)
        return (None,) * len(n._inputs)  # the totals are in; the caller counts the leaves down
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


class _Totals:
    """What has arrived at each edge so far, read and replaced by a compiled call
    (``CompiledFunctionBackward._add_to_totals``)."""

    __slots__ = ("buf", "leaf_total")

    def __init__(self, buf: dict, leaf_total: dict):
        self.buf = buf
        self.leaf_total = leaf_total

    def get(self, edge):
        k = edge.__class__
        if k is Value:
            return self.leaf_total.get(edge)
        if k is OutputNr:
            slots = self.buf.get(edge.node)
            return None if slots is None else slots[edge.nr]
        return self.buf.get(edge)

    def set(self, edge, total) -> None:
        k = edge.__class__
        if k is Value:
            self.leaf_total[edge] = total
        elif k is OutputNr:
            slots = self.buf.get(edge.node)
            if slots is None:
                slots = self.buf[edge.node] = [None] * edge.node._n_outputs
            slots[edge.nr] = total
        else:
            self.buf[edge] = total


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
        for e in (n._input0, n._input1) if n._extras is None and not n._custom else n._inputs:
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
                        v._grad = _value._unary(CloneBackward0, gi._data, gi, None)
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
                    state_changed()  # a compiled function may read that .grad
            elif old is None:
                if g.__class__ is Value and g._requires_grad:
                    leaf._grad = _value._binary(CopyBackwards, g._data, _NO_GRAPH, g, None, None)
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
