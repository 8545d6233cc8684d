"""Value, the scalar that records what is done to it, and the graph it records.

An op (``ops.py``) computes its number and, when grad mode is on and an input
requires grad, records one *node* of the backward graph: torch's ``grad_fn``.  This
module holds the three pieces every op uses:

* ``Node``: what a node holds (the table in its docstring) and the read-only views
  torch users know (``next_functions``, ``_saved_<name>``);
* ``_unary`` and ``_binary``: build the output Value and its node, the engine's one
  hot path for making them (``new_node`` and ``make_value`` build the rest);
* ``Value``: the number, ``requires_grad``, ``.grad``, hooks, ``backward()``, and the
  Python protocols (copy, pickle, format, comparisons) as torch's tensors have them.

Nothing holds a reference from a node back to its output, so a graph has no
reference cycles and is freed by reference counting the moment its output is
dropped.

>>> import engine
>>> x = Value(2.0, requires_grad=True)
>>> y = x * x + 1
>>> y
Value(5.0, grad_fn=<AddBackward0>)
>>> y.grad_fn.next_functions
((<MulBackward0 object>, 0), (None, 0))
>>> y.backward(); x.grad
Value(4.0)
"""

from __future__ import annotations

import copy
import functools
import itertools
import numbers
import warnings
import weakref
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

from .anomaly import anomaly_mode, record_creation
from .grad_mode import all_threads as _all_threads, state as _grad_mode

__all__ = ["Value", "Node"]

Number = Union[int, float]

#: Each node gets the next number: the backward runs nodes newest first, like torch.
_next_seq = itertools.count().__next__

class _Version:
    """A number that changes whenever a Value that already exists changes its number
    or its ``requires_grad`` (``state_changed``).  A compiled function's guard reads it
    on every call, and reads the Values it closes over (their flags and numbers) only
    when it has changed."""

    __slots__ = ("number",)

    def __init__(self) -> None:
        self.number = 0


state_version = _Version()
_versions = itertools.count(1).__next__


def state_changed() -> None:
    """Call after changing the number or the ``requires_grad`` of a Value that already
    existed.  The new number is one never used before (even if two threads race), so a
    guard that read the number before the change never mistakes it for the one it saw."""
    state_version.number = _versions()


#: Marks a node whose saved values were freed by a backward without retain_graph.
_FREED = object()

FREED_MESSAGE = (
    "Trying to backward through the graph a second time (or directly access saved "
    "values after they have already been freed). Saved intermediate values of the "
    "graph are freed when you call .backward() or autograd.grad(). Specify "
    "retain_graph=True if you need to backward through the graph a second time or if "
    "you need to access saved values after calling backward."
)


# ---------------------------------------------------------------------------------
# The graph: nodes, edges and the read-only views torch users know
# ---------------------------------------------------------------------------------

class Node:
    """A node of the backward graph, what ``value.grad_fn`` returns.

    ``name()`` is torch's class name for the op (``MulBackward0``);
    ``next_functions`` lists one ``(node, 0)`` edge per input, ``AccumulateGrad``
    for a leaf that requires grad and ``(None, 0)`` for a constant.

    What each slot holds:

    ==================  ==============================================================
    ``_input0/1``       where the gradient of input 0/1 goes: the node that made it,
                        the leaf Value itself, or None (a constant, or no input 1)
    ``_saved0/1``       what the derivative needs (numbers; see ``_sources``).  A
                        backward without retain_graph sets ``_saved0`` to ``_FREED``
    ``_creation_nr``    when it was made: the walk runs nodes newest first
    ``_grad_in``        the gradient summed so far during a fast walk, else None
    ``_extras``         None, or a NodeExtras: hooks, retain_grad, anomaly trace
    ==================  ==============================================================

    >>> Node.__slots__
    ('_input0', '_input1', '_creation_nr', '_saved0', '_saved1', '_extras', '_grad_in')
    """

    __slots__ = ("_input0", "_input1", "_creation_nr", "_saved0", "_saved1", "_extras", "_grad_in")
    _input0: Any
    _input1: Any
    _creation_nr: int
    _saved0: Any
    _saved1: Any
    _extras: Optional[NodeExtras]
    _grad_in: Any

    #: Custom Function and compiled nodes run through ``_run``; built-in ones through ``vjp``.
    _custom = False
    #: Whether running this node, when it takes the general path, may run code that
    #: reads a leaf's ``.grad`` mid-walk (then every leaf must finish exactly when torch's
    #: would).  Hooks on the node count whatever this says; a compiled node's generated
    #: backward is the one node that runs no user code.
    _runs_user_code = True
    #: Whether its backward takes the running totals of its edges and adds each
    #: contribution to them (``_add_to_totals``): a compiled call, exact bit for bit.
    _running_totals = False
    #: How many inputs (edges) a built-in op has: 1 (``_input1`` is None) or 2.
    _arity = 1
    #: Where each saved slot comes from: an input index, RESULT, or None (a number).
    _sources: tuple = ()
    #: torch's names for the saved slots, exposed as ``_saved_<name>``.
    _saved_names: tuple = ()

    def name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        return f"<{self.name()} object>"

    @property
    def _inputs(self) -> tuple:
        """The edges to the inputs: a producer node, a leaf Value, or None (a constant)."""
        return (self._input0,) if self._arity == 1 else (self._input0, self._input1)

    @property
    def next_functions(self) -> tuple:
        return tuple(_edge_view(e) for e in self._inputs)

    def _sequence_nr(self) -> int:
        return self._creation_nr

    # -- saved values -------------------------------------------------------------
    def unpack(self, for_graph: bool = False) -> tuple:
        """The two saved slots as Values wired into the graph (for ``create_graph``):
        a saved input comes back attached to its producer, the saved result to this
        node, a saved number (an exponent) as itself.  A saved input that has no graph
        is a number, or, ``for_graph``, a Value without history (torch's tensor that
        does not require grad, so the formulas record the ops torch records)."""
        s0 = self._saved0
        if s0 is _FREED:
            raise RuntimeError(FREED_MESSAGE)
        sources = self._sources
        if not sources:
            return None, None
        src = sources[0]
        if src is None:
            v0 = s0
        else:
            v0 = saved_value(s0, self if src is RESULT else (self._input0, self._input1)[src], for_graph)
        if len(sources) == 1:
            return v0, None
        src = sources[1]
        s1 = self._saved1
        return v0, s1 if src is None else saved_value(
            s1, self if src is RESULT else (self._input0, self._input1)[src], for_graph)

    def __init_subclass__(cls, **kwargs):
        """Give the class torch's views of what its nodes save, ``_saved_<name>`` for
        each name in ``_saved_names`` that it does not define itself.  (Properties, not a
        ``__getattr__``: CPython reads every attribute of an object whose class has a
        ``__getattr__`` the slow way, and the walk reads a node's slots a dozen times.)"""
        super().__init_subclass__(**kwargs)
        for i, name in enumerate(cls._saved_names):
            if "_saved_" + name not in cls.__dict__:
                setattr(cls, "_saved_" + name, property(functools.partial(_saved_view, i=i)))

    # -- hooks on the node itself -----------------------------------------------------
    def register_prehook(self, fn: Callable) -> RemovableHandle:
        """``fn(grad_outputs) -> tuple or None`` runs before this node's backward."""
        return RemovableHandle(extras_of(self).prehooks, fn)

    def register_hook(self, fn: Callable) -> RemovableHandle:
        """``fn(grad_inputs, grad_outputs) -> tuple or None`` runs after it."""
        return RemovableHandle(extras_of(self).posthooks, fn)


RESULT = -1  # a saved slot holding the node's own output


def _saved_view(node: Node, i: int):
    """``node._saved_<name>`` for the ``i``-th name: torch's view of what the node
    saved.  Saved numbers (an exponent, ``alpha``) outlive a backward; saved values are
    freed by it."""
    if node._sources[i] is None:  # a number (always slot 1, which freeing keeps)
        return node._saved1
    return node.unpack()[i]


#: Every NodeExtras and LeafHooks alive.  While it is empty, no graph anywhere holds a
#: hook, a retain_grad, a custom Function or an anomaly-mode trace, and ``backward`` may
#: take the fast walk (``engine.autograd``).  Holding one somewhere only costs speed.
holders_of_user_code: weakref.WeakSet = weakref.WeakSet()


class NodeExtras:
    """What few nodes need: hooks, retain_grad targets, anomaly-mode traceback."""

    __slots__ = ("tensor_hooks", "retain", "prehooks", "posthooks", "trace", "parent", "__weakref__")

    def __init__(self):
        holders_of_user_code.add(self)
        self.tensor_hooks = {}  # key -> (output_nr, fn): hooks of the output Values
        self.retain = {}  # output_nr -> weakref to the Value that retains its grad
        self.prehooks = {}
        self.posthooks = {}
        self.trace = None  # anomaly mode: where the node was created ...
        self.parent = None  # ... and, if a create_graph backward made it, which node's backward


class LeafHooks(dict):
    """A leaf's hooks: ``"hooks"`` (``register_hook``) and ``"post"``
    (``register_post_accumulate_grad_hook``), each a dict key -> fn."""

    __hash__ = object.__hash__  # by identity: it is counted in holders_of_user_code

    def __init__(self):
        super().__init__()
        holders_of_user_code.add(self)


def extras_of(node) -> NodeExtras:
    if node._extras is None:
        node._extras = NodeExtras()
    return node._extras


class OutputNr:
    """The edge to output ``nr`` of a node with several outputs (custom Functions)."""

    __slots__ = ("node", "nr")

    def __init__(self, node, nr: int):
        self.node = node
        self.nr = nr


class AccumulateGrad:
    """The view of a leaf in ``next_functions``: its ``.variable`` is the leaf.

    The same object is returned for a leaf while anyone holds it, as in torch.
    """

    __slots__ = ("variable", "__weakref__")
    next_functions = ()

    def __init__(self, variable: Value):
        self.variable = variable

    def name(self) -> str:
        return "torch::autograd::AccumulateGrad"  # what torch's name() says, word for word

    def __repr__(self) -> str:
        return "<AccumulateGrad object>"


_accumulators: weakref.WeakValueDictionary[int, AccumulateGrad] = weakref.WeakValueDictionary()


def _edge_view(edge):
    if edge is None:
        return (None, 0)
    if edge.__class__ is Value:
        acc = _accumulators.get(id(edge))
        if acc is None or acc.variable is not edge:
            acc = _accumulators[id(edge)] = AccumulateGrad(edge)
        return (acc, 0)
    if edge.__class__ is OutputNr:
        return (edge.node, edge.nr)
    return (edge, 0)


class RemovableHandle:
    """Returned by ``register_hook``: ``remove()`` it (twice is fine) or use ``with``."""

    __slots__ = ("_hooks", "_key")
    _keys = itertools.count()

    def __init__(self, hooks: dict, fn):
        self._hooks = hooks
        self._key = next(RemovableHandle._keys)
        hooks[self._key] = fn

    def remove(self) -> None:
        self._hooks.pop(self._key, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.remove()


def new_node(cls, input0=None, input1=None, saved0=None, saved1=None, extras: Optional[NodeExtras] = None):
    """A node of class ``cls`` with every slot of ``Node`` set.  The op helpers
    ``_unary`` and ``_binary`` build theirs inline (the hot path); custom Functions and
    compiled functions build theirs here.  ``tests/test_core_construction.py`` builds
    nodes and Values through every path and checks that no slot is left unset."""
    node = cls()
    node._input0 = input0
    node._input1 = input1
    node._creation_nr = _next_seq()
    node._saved0 = saved0
    node._saved1 = saved1
    node._extras = extras
    node._grad_in = None
    return node


def make_value(data, node=None) -> Value:
    """A Value built without ``__init__``'s checks (the engine's own numbers): a
    leaf with no history, or, given ``node``, a non-leaf attached to it."""
    v = _new_value(Value)
    v._data = data
    v._grad = None
    v._node = node
    v._requires_grad = node is not None
    v.name = None
    v._leaf_hooks = None
    return v


def saved_value(data, edge, wrap: bool = False):
    """A saved input or output as a Value attached to ``edge`` (torch's SavedVariable);
    a constant (``edge`` None) as its number, or as a Value with no history if ``wrap``."""
    if edge is None:
        return make_value(data) if wrap else data  # a constant: no graph
    if edge.__class__ is Value:
        return edge  # a leaf is saved as itself
    return make_value(data, edge)


# ---------------------------------------------------------------------------------
# Recording: the two helpers every op calls
# ---------------------------------------------------------------------------------

def _unary(cls, data, x: Value, s0, s1=None) -> Value:
    """Wrap ``data`` in a Value; record node ``cls`` with one edge, to ``x``."""
    out = _new_value(Value)
    out._data = data
    out._grad = None
    out.name = None
    out._leaf_hooks = None
    if x._requires_grad and (_all_threads.enabled or _grad_mode.enabled):
        node = cls()
        node._input0 = x._node or x
        node._input1 = None
        node._creation_nr = _next_seq()
        node._saved0 = s0
        node._saved1 = s1
        node._extras = None
        node._grad_in = None
        if anomaly_mode.enabled:  # anomaly.py: remember where in the user's code it was made
            record_creation(node)
        out._node = node
        out._requires_grad = True
    else:
        out._node = None
        out._requires_grad = False
    return out


def _binary(cls, data, x: Value, y: Optional[Value], s0, s1) -> Value:
    """Like ``_unary`` with a second edge, to ``y`` (``None`` when it is a number)."""
    out = _new_value(Value)
    out._data = data
    out._grad = None
    out.name = None
    out._leaf_hooks = None
    if (x._requires_grad or (y is not None and y._requires_grad)) and (_all_threads.enabled or _grad_mode.enabled):
        node = cls()
        node._input0 = (x._node or x) if x._requires_grad else None
        node._input1 = (y._node or y) if y is not None and y._requires_grad else None
        node._creation_nr = _next_seq()
        node._saved0 = s0
        node._saved1 = s1
        node._extras = None
        node._grad_in = None
        if anomaly_mode.enabled:  # anomaly.py: remember where in the user's code it was made
            record_creation(node)
        out._node = node
        out._requires_grad = True
    else:
        out._node = None
        out._requires_grad = False
    return out


def _binary_to_edge(cls, data, x: Value, edge, s0, s1) -> Value:
    """What ``_binary(cls, data, x, y, s0, s1)`` records when ``y`` is a saved value
    known only by its ``edge`` (its producer node, the leaf itself, or None for a
    constant), without building ``y``.  create_graph's fast walk records Mul's and
    tanh's derivatives this way (engine/autograd.py); it never runs in anomaly mode."""
    out = _new_value(Value)
    out._data = data
    out._grad = None
    out.name = None
    out._leaf_hooks = None
    if x._requires_grad or edge is not None:  # (grad mode is on: the walk records)
        node = cls()
        node._input0 = (x._node or x) if x._requires_grad else None
        node._input1 = edge
        node._creation_nr = _next_seq()
        node._saved0 = s0
        node._saved1 = s1
        node._extras = None
        node._grad_in = None
        out._node = node
        out._requires_grad = True
    else:
        out._node = None
        out._requires_grad = False
    return out


def _number(v):
    """``v`` as an int or float, or NotImplemented if it is not a real number."""
    k = v.__class__
    if k is float or k is int:
        return v
    if isinstance(v, numbers.Integral):  # bool, numpy ints
        return int(v)
    if isinstance(v, numbers.Real):  # numpy floats, Fraction
        return float(v)
    if k.__name__ == "bool" and k.__module__ == "numpy":  # np.True_: not a numbers.Integral
        return int(v)
    return NotImplemented


def _as_number(v, what: str):
    n = _number(v)
    if n is NotImplemented:
        raise TypeError(f"{what} must be a real number (int or float) or a Value, got {type(v).__name__}")
    return n


# ---------------------------------------------------------------------------------
# Value
# ---------------------------------------------------------------------------------

NON_LEAF_GRAD_WARNING = (
    "The .grad attribute of a Value that is not a leaf Value is being accessed. Its "
    ".grad attribute won't be populated during autograd.backward(). If you indeed want "
    "the .grad field to be populated for a non-leaf Value, use .retain_grad() on the "
    "non-leaf Value. If you access the non-leaf Value by mistake, make sure you access "
    "the leaf Value instead. See github.com/pytorch/pytorch/pull/30531 for more "
    "information."
)


SCALAR_CONVERSION_WARNING = (
    "Converting a value with requires_grad=True to a scalar may lead to unexpected behavior.\n"
    "Consider using value.detach() first."
)


class Value:
    """A scalar that records the operations applied to it, like a 0-dim torch tensor.

    ``data`` is an int or a float (float64).  ``requires_grad=True`` makes it a leaf
    whose gradient ``backward()`` accumulates into ``.grad``; results of operations on
    it are non-leaves with a ``grad_fn``.

    >>> a = Value(2.0, requires_grad=True)
    >>> b = (a * 3).tanh()
    >>> b.is_leaf, b.grad_fn.name()
    (False, 'TanhBackward0')
    >>> Value(1) / 0, Value(-1.0).log()
    (Value(inf), Value(nan))

    What each slot holds:

    ===================  =============================================================
    ``_data``            the number (``data``)
    ``_grad``            the accumulated gradient, a Value, or None (``grad``)
    ``_node``            None for a leaf; else the node that made it (its
                         ``grad_fn``), or an ``OutputNr`` for output k of a node
                         with several outputs (custom Functions)
    ``_requires_grad``   ``requires_grad``: True for every non-leaf
    ``name``             a label for drawings (``engine.viz``), or None
    ``_leaf_hooks``      None, or a leaf's LeafHooks (a non-leaf's live on its node)
    ===================  =============================================================
    """

    __slots__ = ("_data", "_grad", "_node", "_requires_grad", "name", "_leaf_hooks", "__weakref__")
    __array_ufunc__ = None  # numpy scalars defer to Value: np.float64(2) * v is a Value

    def __init_subclass__(cls, **kwargs):
        """Refuse subclasses, with the reason: every op and the walk tell a Value apart
        with ``x.__class__ is Value`` (the cheapest test Python has; ``isinstance`` on
        the hot path would cost every user), so a subclass's instances would not be
        taken as Values.  Wrap a Value instead."""
        raise TypeError(
            f"class {cls.__name__}(Value): Value cannot be subclassed. The engine recognizes a Value by "
            "`x.__class__ is Value` on every op, so a subclass's instances would not be taken as Values. "
            "Keep a Value in an attribute of your class instead.")

    def __init__(self, data: Union[Number, Value], requires_grad: bool = False, *, name: Optional[str] = None):
        if data.__class__ is Value:
            data = data._data
        n = _number(data)
        if n is NotImplemented:
            raise TypeError(f"Value() data must be a real number (int or float), got {type(data).__name__}")
        if requires_grad.__class__ is not bool:
            raise TypeError(f"Value(): argument 'requires_grad' must be bool, not {type(requires_grad).__name__}")
        if requires_grad and n.__class__ is not float:
            raise RuntimeError("Only Values of floating point and complex dtype can require gradients")
        self._data = n
        self._grad = None
        self._node = None
        self._requires_grad = bool(requires_grad)
        self.name = name
        self._leaf_hooks = None

    # -- the number ---------------------------------------------------------------------
    @property
    def data(self) -> Number:
        """The number.  Assigning a number or a Value changes it without recording."""
        return self._data

    @data.setter
    def data(self, value) -> None:
        if value.__class__ is float:  # the common case (an optimizer's step): no checks needed
            self._data = value
            state_changed()
            return
        if value.__class__ is Value:
            value = value._data
        n = _as_number(value, "Value.data")
        if self._requires_grad and n.__class__ is not float:
            raise RuntimeError("data set to a value that requires gradients must be floating point or complex dtype")
        self._data = n
        state_changed()

    def item(self) -> Number:
        return self._data

    def __float__(self) -> float:
        global _warned_scalar_conversion
        if self._requires_grad and not _warned_scalar_conversion:
            _warned_scalar_conversion = True  # once per process, as torch's TORCH_WARN_ONCE
            warnings.warn(SCALAR_CONVERSION_WARNING, UserWarning, stacklevel=2)
        return float(self._data)

    def __int__(self) -> int:
        return int(self._data)

    def __index__(self) -> int:
        """An int Value can index a list (``range(Value(3))``), as an integer tensor can."""
        if self._data.__class__ is not int:
            raise TypeError("only integer values of a single element can be converted to an index")
        return self._data

    def __format__(self, spec: str) -> str:
        """Formats the number, as a 0-dim tensor does: ``f"{v:.3f}"``."""
        return self._data.__format__(spec)

    # -- copies and pickles, as torch's ---------------------------------------------------
    def __deepcopy__(self, memo: dict) -> Value:
        """A leaf's deep copy: same number, ``requires_grad`` and name, a deep copy of
        ``.grad``, no hooks.  A non-leaf refuses, as in torch."""
        if self._node is not None:
            raise RuntimeError(
                "Only Values created explicitly by the user (graph leaves) support the deepcopy protocol at "
                "the moment.  If you were attempting to deepcopy a module, this may be because of a "
                "torch.nn.utils.weight_norm usage, see https://github.com/pytorch/pytorch/pull/103001"
            )
        new = make_value(self._data)
        new._requires_grad = self._requires_grad
        new.name = self.name
        memo[id(self)] = new
        if self._grad is not None:
            new._grad = copy.deepcopy(self._grad, memo)
        return new

    def __reduce_ex__(self, protocol):
        """``copy.copy`` and ``pickle``: a new leaf with the number and ``requires_grad``;
        ``.grad`` and hooks are dropped, with torch's warning for each hook."""
        for hook in self._hooks():
            warnings.warn(
                f"backward hook {hook!r} on value will not be serialized.  If this is expected, you can "
                "decorate the function with @torch.utils.hooks.unserializable_hook to suppress this warning",
                UserWarning, stacklevel=3)
        return _rebuild_value, (self._data, self._requires_grad, self.name)

    def _hooks(self) -> list:
        """The functions registered with ``register_hook`` on this Value."""
        if self._node is None:
            return list(self._leaf_hooks.get("hooks", {}).values()) if self._leaf_hooks is not None else []
        base, nr = self._node_and_nr()
        if base._extras is None:
            return []
        return [fn for hook_nr, fn in base._extras.tensor_hooks.values() if hook_nr == nr]

    def __bool__(self) -> bool:
        return bool(self._data)

    def __repr__(self) -> str:
        d = repr(self._data)
        node = self.grad_fn
        if node is not None:
            return f"Value({d}, grad_fn=<{type(node).__name__}>)"
        if self._requires_grad:
            return f"Value({d}, requires_grad=True)"
        return f"Value({d})"

    # -- the graph ----------------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        if flag.__class__ is not bool:
            raise RuntimeError("requires_grad must be a bool")
        self._set_requires_grad(flag, "only Values of floating point and complex dtype can require gradients")

    def requires_grad_(self, requires_grad: bool = True) -> Value:
        """Set ``requires_grad`` in place (leaves only) and return self."""
        if requires_grad.__class__ is not bool:
            raise TypeError("requires_grad_(): argument 'requires_grad' (position 1) must be bool, "
                            f"not {type(requires_grad).__name__}")
        self._set_requires_grad(requires_grad, "only Values of floating point dtype can require gradients")
        return self

    def _set_requires_grad(self, flag, int_message):
        if self._node is not None:
            if not flag:
                raise RuntimeError(
                    "you can only change requires_grad flags of leaf values. If you want to use a "
                    "computed value in a subgraph that doesn't require differentiation use "
                    "var_no_grad = var.detach()."
                )
            return
        if flag and self._data.__class__ is not float:
            raise RuntimeError(int_message)
        self._requires_grad = bool(flag)
        state_changed()

    @property
    def is_leaf(self) -> bool:
        return self._node is None

    @property
    def grad_fn(self) -> Optional[Node]:
        node = self._node
        return node.node if node.__class__ is OutputNr else node

    @property
    def output_nr(self) -> int:
        node = self._node
        return node.nr if node.__class__ is OutputNr else 0

    @property
    def grad(self) -> Optional[Value]:
        """The accumulated gradient: ``None`` or a Value.  Leaves (and retain_grad) only."""
        if self._node is not None and not self.retains_grad:
            warnings.warn(NON_LEAF_GRAD_WARNING, UserWarning, stacklevel=2)
        return self._grad

    @grad.setter
    def grad(self, value: Optional[Value]) -> None:
        if value is not None and value.__class__ is not Value:
            raise TypeError(f"assigned grad expected to be a Value or None but got grad of type {type(value).__name__}")
        if value is self:
            raise RuntimeError("can't assign Value as its own grad")
        self._grad = value

    @property
    def retains_grad(self) -> bool:
        node = self._node
        if node is None:
            return False
        base, nr = (node.node, node.nr) if node.__class__ is OutputNr else (node, 0)
        return base._extras is not None and nr in base._extras.retain

    def retain_grad(self) -> None:
        """Make backward store this non-leaf's gradient in ``.grad`` (no-op on a leaf)."""
        if not self._requires_grad:
            raise RuntimeError("can't retain_grad on Value that has requires_grad=False")
        if self._node is None or self.retains_grad:
            return
        base, nr = self._node_and_nr()
        extras_of(base).retain[nr] = weakref.ref(self)

    def _node_and_nr(self):
        node = self._node
        return (node.node, node.nr) if node.__class__ is OutputNr else (node, 0)

    def register_hook(self, hook: Callable[[Value], Optional[Value]]) -> RemovableHandle:
        """Call ``hook(grad)`` when this Value's gradient is computed; a returned Value replaces it.

        >>> x = Value(2.0, requires_grad=True)
        >>> h = x.register_hook(lambda g: g * 10)
        >>> (x * 3).backward(); x.grad
        Value(30.0)
        >>> h.remove()
        """
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a value that doesn't require gradient")
        if self._node is None:
            hooks = self._leaf_hook_dict("hooks")
            return RemovableHandle(hooks, hook)
        base, nr = self._node_and_nr()
        handle = RemovableHandle(extras_of(base).tensor_hooks, None)
        base._extras.tensor_hooks[handle._key] = (nr, hook)
        return handle

    def register_post_accumulate_grad_hook(self, hook: Callable[[Value], None]) -> RemovableHandle:
        """Call ``hook(self)`` after backward has accumulated into this leaf's ``.grad``."""
        if self._node is not None:
            raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf values")
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a value that doesn't require gradient")
        return RemovableHandle(self._leaf_hook_dict("post"), hook)

    def _leaf_hook_dict(self, kind: str) -> dict:
        if self._leaf_hooks is None:
            self._leaf_hooks = LeafHooks()
        return self._leaf_hooks.setdefault(kind, {})

    def detach(self) -> Value:
        """A new leaf with the same number and no history (``requires_grad=False``)."""
        return Value(self._data)

    def backward(self, gradient=None, retain_graph: Optional[bool] = None, create_graph: bool = False,
                 inputs=None) -> None:
        """Accumulate d(self)/d(leaf) into each leaf's ``.grad``; see ``engine.backward``.

        >>> x = Value(3.0, requires_grad=True)
        >>> (x ** 2).backward(); x.grad
        Value(6.0)
        """
        from .autograd import backward  # the walk lives in autograd.py, which imports this module
        backward(self, gradient, retain_graph, create_graph, inputs=inputs)

    # -- the ops: each is defined in ops.py, beside its derivative ------------------------
    if TYPE_CHECKING:  # (for type checkers and readers: the signatures of what ops.py adds)
        def __add__(self, other: Union[Value, Number]) -> Value: ...
        def __radd__(self, other: Number) -> Value: ...
        def __sub__(self, other: Union[Value, Number]) -> Value: ...
        def __rsub__(self, other: Number) -> Value: ...
        def __mul__(self, other: Union[Value, Number]) -> Value: ...
        def __rmul__(self, other: Number) -> Value: ...
        def __truediv__(self, other: Union[Value, Number]) -> Value: ...
        def __rtruediv__(self, other: Number) -> Value: ...
        def __pow__(self, other: Union[Value, Number]) -> Value: ...
        def __rpow__(self, other: Number) -> Value: ...
        def __neg__(self) -> Value: ...
        def __pos__(self) -> Value: ...
        def __abs__(self) -> Value: ...
        def pow(self, other: Union[Value, Number]) -> Value: ...
        def neg(self) -> Value: ...
        def abs(self) -> Value: ...
        def exp(self) -> Value: ...
        def log(self) -> Value: ...
        def sqrt(self) -> Value: ...
        def tanh(self) -> Value: ...
        def sigmoid(self) -> Value: ...
        def relu(self) -> Value: ...
        def sin(self) -> Value: ...
        def cos(self) -> Value: ...
        def sinh(self) -> Value: ...
        def cosh(self) -> Value: ...

    # -- comparisons compare the numbers ------------------------------------------------
    def __lt__(self, other):
        b = other._data if other.__class__ is Value else _number(other)
        return NotImplemented if b is NotImplemented else self._data < b

    def __le__(self, other):
        b = other._data if other.__class__ is Value else _number(other)
        return NotImplemented if b is NotImplemented else self._data <= b

    def __gt__(self, other):
        b = other._data if other.__class__ is Value else _number(other)
        return NotImplemented if b is NotImplemented else self._data > b

    def __ge__(self, other):
        b = other._data if other.__class__ is Value else _number(other)
        return NotImplemented if b is NotImplemented else self._data >= b

    __hash__ = object.__hash__  # by identity, like tensors

_warned_scalar_conversion = False


def _rebuild_value(data, requires_grad: bool, name) -> Value:
    """What a copied or unpickled Value is rebuilt from (see ``Value.__reduce_ex__``)."""
    v = make_value(data)
    v._requires_grad = requires_grad
    v.name = name
    return v


_new_value = object.__new__  # a Value without __init__'s checks; its slots are set by the caller
# Nodes are made by calling their class, ``cls()``: Node and the op classes define no
# ``__init__``, and the call is the cheapest way to get an empty instance (a quarter
# cheaper than ``object.__new__(cls)``); the caller sets every slot.
_NO_GRAPH = make_value(0.0)  # stands for torch's ``zeros`` operand of ``where``: no graph
